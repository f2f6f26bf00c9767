//! `quorum run`: a headless real-time run. Client threads put and get over a small key space
//! (every put writes a value never written before), the nemesis breaks the live
//! cluster, and at the end the history is checked for linearizability. The history and the
//! event log are written a line at a time as the run goes.

use super::{ClusterOptions, LiveCluster, NodeFailure, StorageOptions};
use crate::check::history::{EventType, HistoryEvent, HistoryHeader, HistoryWriter, Initial, OpKind};
use crate::check::{CheckOptions, Verdict, check_history};
use crate::control::client::client_record;
use crate::control::{Answer, Client, ClientOptions, Control, OpError};
use crate::events::{EventKind, NodeEventKind};
use crate::kv::{Op, Reply};
use crate::nemesis::{FaultSet, Nemesis};
use crate::network::LinkRule;
use crate::raft::{Body, NodeId, Role};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The cluster.
    pub cluster: ClusterOptions,
    /// Concurrent client threads.
    pub clients: usize,
    /// How long the clients run.
    pub duration: Duration,
    /// Faults to inject (healed at 70% of the duration).
    pub nemesis: FaultSet,
    /// Keys in the key space.
    pub keys: usize,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// Operations ok.
    pub ok: usize,
    /// Operations that certainly failed.
    pub fail: usize,
    /// Operations with unknown outcome.
    pub info: usize,
    /// Wall time of the client phase.
    pub elapsed: Duration,
    /// Latencies of successful operations.
    pub latencies: Latencies,
    /// Each leader change: (new leader, term, how long the cluster had no working leader).
    pub failovers: Vec<(NodeId, u64, Duration)>,
    /// Faults injected.
    pub faults: usize,
    /// The checker's verdict.
    pub verdict: Verdict,
    /// What every key held when the run began: unknown when the data directory already held
    /// this cluster's data.
    pub initial: Initial,
    /// Every time a node could not start or stopped on a storage error.
    pub failures: Vec<NodeFailure>,
}

/// Latencies kept in a fixed number of buckets of three significant digits of microseconds, so
/// a run of any length keeps the same few kilobytes (a run of ten minutes has millions of
/// operations).
#[derive(Clone, Debug)]
pub struct Latencies {
    counts: Vec<u64>,
    total: u64,
    max: Duration,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies { counts: vec![0; Latencies::BUCKETS], total: 0, max: Duration::ZERO }
    }
}

impl Latencies {
    /// Below 1,000 µs one bucket per µs; then 900 per decade up to 10^16 µs.
    const BUCKETS: usize = 1000 + 900 * 14;

    fn bucket(us: u64) -> usize {
        if us < 1000 {
            return us as usize;
        }
        let digits = us.ilog10() as usize; // 3 or more
        let mantissa = (us / 10u64.pow(digits as u32 - 2)) as usize; // 100..=999
        (1000 + (digits - 3) * 900 + (mantissa - 100)).min(Self::BUCKETS - 1)
    }

    fn lower_bound(bucket: usize) -> u64 {
        if bucket < 1000 {
            return bucket as u64;
        }
        let (decade, m) = ((bucket - 1000) / 900, (bucket - 1000) % 900);
        (m as u64 + 100) * 10u64.pow(decade as u32 + 1)
    }

    /// Records one latency.
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.counts[Self::bucket(us)] += 1;
        self.total += 1;
        self.max = self.max.max(d);
    }

    /// Adds another set.
    pub fn merge(&mut self, other: &Latencies) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// The latency at quantile `q` (0 to 1), to three significant digits; zero if none.
    pub fn percentile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((self.total as f64 * q) as u64).min(self.total - 1);
        if rank == self.total - 1 {
            return self.max;
        }
        let mut seen = 0;
        for (bucket, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen > rank {
                return Duration::from_micros(Self::lower_bound(bucket)).min(self.max);
            }
        }
        self.max
    }

    /// The largest latency recorded.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// How many were recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// True if none was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

impl RunReport {
    fn percentile(&self, q: f64) -> Duration {
        self.latencies.percentile(q)
    }

    /// Exit code: 2 if a node could not start or stopped on an error, whatever the verdict
    /// (a run that lost a node to its storage is not a clean run); else as `quorum sim`: 0
    /// linearizable, 1 not, 3 unknown.
    pub fn exit_code(&self) -> i32 {
        if self.failures.is_empty() { self.verdict.exit_code() } else { 2 }
    }

    /// A human-readable summary.
    pub fn summary(&self) -> String {
        let total = self.ok + self.fail + self.info;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mut s = format!(
            "ops: {} ok, {} fail, {} info ({total} in {:.1} s, {:.0} ok/s) · faults {}\n",
            self.ok,
            self.fail,
            self.info,
            self.elapsed.as_secs_f64(),
            self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9),
            self.faults
        );
        s.push_str(&format!(
            "latency: p50 {:.2} ms · p99 {:.2} ms · max {:.2} ms\n",
            ms(self.percentile(0.5)),
            ms(self.percentile(0.99)),
            ms(self.latencies.max())
        ));
        s.push_str(&format!("leader changes: {}\n", self.failovers.len()));
        for (node, term, gap) in &self.failovers {
            s.push_str(&format!("  {node} leads term {term} after {:.0} ms without a leader\n", ms(*gap)));
        }
        s.push_str(&format!("history: {}\n", self.verdict));
        if self.initial == Initial::Unknown {
            s.push_str("  (the data directory held data: the history starts on values it does not know)\n");
        }
        for f in &self.failures {
            s.push_str(&format!("error: {} {}\n", f.node, f.reason));
        }
        s
    }
}

/// One client thread's counts: ok, fail, info, and the latencies of its successes.
type ClientTally = (usize, usize, usize, Latencies);

/// Watches the event stream for leader changes and measures each gap: from the old leader's
/// last heartbeat or append sent to the new leader's election.
fn watch_leaders(events: crossbeam_channel::Receiver<crate::events::Event>) -> Vec<(NodeId, u64, Duration)> {
    let mut current: Option<(NodeId, u64)> = None;
    let mut last_sent = 0u64;
    let mut out = Vec::new();
    for e in events {
        match &e.kind {
            EventKind::Node(NodeEventKind::Role { role: Role::Leader, .. }) => {
                let (Some(node), Some(term)) = (e.node, e.term) else { continue };
                if current.is_some_and(|(_, t)| t >= term.0) {
                    continue;
                }
                let gap = if current.is_some() { e.time.saturating_sub(last_sent) } else { e.time };
                out.push((node, term.0, Duration::from_nanos(gap)));
                current = Some((node, term.0));
                last_sent = e.time;
            }
            EventKind::Send { message, .. }
                if current.is_some_and(|(n, t)| n == message.from && t == message.term.0)
                    && matches!(message.body, Body::AppendEntries { .. } | Body::Heartbeat { .. }) =>
            {
                last_sent = e.time;
            }
            _ => {}
        }
    }
    out
}

/// A temporary file removed when dropped, however the run ends.
struct SpillFile(std::path::PathBuf);

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Nanoseconds of the wall clock, to tell two runs of one process apart.
fn start_stamp() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// The history's process number of client thread `c`.
fn process_of(c: usize) -> u64 {
    c as u64 + 1
}

/// One client thread: registers, then puts and gets at random until `deadline`, recording each
/// operation's invoke and completion in the history. Returns its counts.
fn client_loop(
    client: &Client,
    cluster: &LiveCluster,
    process: u64,
    seed: u64,
    keys: usize,
    deadline: Instant,
    record: &(dyn Fn(HistoryEvent) -> std::io::Result<()> + Sync),
) -> std::io::Result<ClientTally> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (mut ok, mut fail, mut info, mut lat) = (0, 0, 0, Latencies::default());
    // Values are `<session>.<n>`: the session's id is unique for the life of the data, so no
    // value of this run repeats one of an earlier run on the same data.
    let tag = loop {
        match client.register() {
            Ok(id) => break id.0,
            Err(_) if Instant::now() < deadline => continue,
            Err(_) => return Ok((ok, fail, info, lat)),
        }
    };
    let mut puts = 0u64;
    while Instant::now() < deadline {
        let key = format!("k{}", rng.random_range(0..keys));
        let (op, f, value) = if rng.random_bool(0.5) {
            puts += 1;
            let v = format!("{tag}.{puts}");
            (Op::Put { key: key.clone(), value: v.clone() }, OpKind::Put, Some(v))
        } else {
            (Op::Get { key: key.clone() }, OpKind::Get, None)
        };
        let began = Instant::now();
        let invoked = cluster.now_nanos();
        record(HistoryEvent::invoke(process, f, &key, value.as_deref(), invoked))?;
        let result = client.call(op.clone(), None);
        let now = cluster.now_nanos();
        let client_event = client_record(op, client_event_via(&result), invoked, &result)
            .event(began.elapsed().as_nanos() as u64);
        cluster.record(Some(client_event_via(&result)), client_event);
        let event = match result {
            Ok(answer) => {
                ok += 1;
                lat.record(began.elapsed());
                let node = answer.node;
                let read = match answer.reply {
                    Reply::Get { value } => value,
                    _ => value.clone(),
                };
                let mut e = HistoryEvent::complete(EventType::Ok, process, f, &key, read.as_deref(), now);
                e.node = Some(node.0);
                e
            }
            Err(error) => {
                let kind = if error.definite {
                    fail += 1;
                    EventType::Fail
                } else {
                    info += 1;
                    EventType::Info
                };
                let mut e = HistoryEvent::complete(kind, process, f, &key, value.as_deref(), now);
                e.error = Some(error.to_string());
                e.node = Some(error.node.0);
                e
            }
        };
        record(event)?;
    }
    Ok((ok, fail, info, lat))
}

/// The node an operation went through last.
fn client_event_via(result: &Result<Answer, OpError>) -> NodeId {
    match result {
        Ok(answer) => answer.node,
        Err(error) => error.node,
    }
}

/// Runs the cluster with clients and the nemesis; writes the history to `history` as it goes.
pub fn run(options: &RunOptions, history: Option<Box<dyn Write + Send>>) -> std::io::Result<RunReport> {
    let cluster = LiveCluster::start(ClusterOptions { trace: true, ..options.cluster.clone() })?;
    let leader_watch = cluster.subscribe().map(|rx| std::thread::spawn(move || watch_leaders(rx)));
    // A run on a directory that already holds the cluster starts on values the history does not
    // know: the checker takes each key's initial value as unknown (but one value, fixed before
    // the first operation), so old values are no false alarm and lost or stale ones still are.
    let (initial, cluster_id) = match &options.cluster.storage {
        StorageOptions::Disk { dir, .. } => (
            if dir.held_data() { Initial::Unknown } else { Initial::Empty },
            dir.meta().map(|m| m.cluster.clone()),
        ),
        StorageOptions::Memory => (Initial::Empty, None),
    };
    let header = HistoryHeader { initial, cluster: cluster_id };
    let mut history = history.map(HistoryWriter::new);
    if let Some(w) = history.as_mut() {
        w.write_header(&header)?;
    }
    // The history waits for the check in a file of its own, not in memory: a run of ten
    // minutes has millions of operations, and the run's memory must not grow with them.
    let spill_path =
        std::env::temp_dir().join(format!("quorum-run-{}-{}.jsonl", std::process::id(), start_stamp()));
    let spill = SpillFile(spill_path);
    let mut spill_writer = HistoryWriter::new(std::io::BufWriter::new(std::fs::File::create(&spill.0)?));
    spill_writer.write_header(&header)?;
    let writer = Arc::new(Mutex::new((history, spill_writer)));
    let record = |e: HistoryEvent| -> std::io::Result<()> {
        let mut guard = writer.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = guard.0.as_mut() {
            w.write_event(&e)?;
        }
        guard.1.write_event(&e)
    };
    let start = Instant::now();
    let deadline = start + options.duration;
    let heal_at = start + options.duration.mul_f64(0.7);
    let mut faults = 0;
    let results: Vec<std::io::Result<ClientTally>> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for c in 0..options.clients {
            let client = cluster.client(ClientOptions::default());
            let record = &record;
            let cluster = &cluster;
            let keys = options.keys.max(1);
            let seed = options.cluster.seed.wrapping_mul(31).wrapping_add(c as u64);
            handles.push(
                s.spawn(move || client_loop(&client, cluster, process_of(c), seed, keys, deadline, record)),
            );
        }
        // The nemesis, on this thread, until it is time to heal.
        let mut nemesis = Nemesis::new(
            &options.nemesis,
            Xoshiro256PlusPlus::seed_from_u64(options.cluster.seed ^ 0xfa17),
            LinkRule::INSTANT,
        );
        while Instant::now() < heal_at {
            nemesis.poll(&cluster, cluster.now_nanos());
            std::thread::sleep(Duration::from_millis(5));
        }
        nemesis.heal_all(&cluster);
        faults = nemesis.injected;
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(std::io::Error::other("client panicked"))))
            .collect()
    });
    let elapsed = start.elapsed();
    cluster.finish()?;
    // After the shutdown: a node that stopped on an error while being stopped counts too.
    let failures = cluster.failures();
    let failovers = leader_watch.and_then(|h| h.join().ok()).unwrap_or_default();
    let (mut ok, mut fail, mut info, mut latencies) = (0, 0, 0, Latencies::default());
    for r in results {
        let (o, f, i, l) = r?;
        ok += o;
        fail += f;
        info += i;
        latencies.merge(&l);
    }
    drop(writer);
    let events =
        crate::check::history::parse_history(std::io::BufReader::new(std::fs::File::open(&spill.0)?))
            .map_err(|e| std::io::Error::other(format!("{}: {e}", spill.0.display())))?;
    let verdict =
        check_history(&events, &CheckOptions { time_limit: Some(Duration::from_secs(60)), initial })
            .unwrap_or_else(|e| Verdict::Unknown { reason: format!("history could not be paired: {e}") });
    Ok(RunReport { ok, fail, info, elapsed, latencies, failovers, faults, verdict, initial, failures })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The buckets keep three significant digits, the median and the tail come out right, and
    /// the maximum is exact.
    #[test]
    fn latencies_keep_three_significant_digits_in_fixed_memory() {
        let mut l = Latencies::default();
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us * 10));
        }
        l.record(Duration::from_nanos(1_412_860_123));
        assert_eq!(l.len(), 1001);
        assert_eq!(l.percentile(0.5), Duration::from_micros(5010));
        assert_eq!(l.percentile(0.99), Duration::from_micros(9910));
        assert_eq!(l.max(), Duration::from_nanos(1_412_860_123));
        assert_eq!(l.percentile(1.0), l.max(), "the top quantile is the maximum, never above it");
        for us in [0u64, 7, 999, 1000, 1234, 98_765, 10u64.pow(15) + 1] {
            let b = Latencies::bucket(us);
            let low = Latencies::lower_bound(b);
            assert!(low <= us && us - low <= us / 100, "{us} µs in bucket {b} from {low}");
        }
        let mut merged = Latencies::default();
        merged.merge(&l);
        merged.merge(&l);
        assert_eq!((merged.len(), merged.percentile(0.5)), (2002, Duration::from_micros(5010)));
        assert_eq!(Latencies::default().percentile(0.5), Duration::ZERO);
    }
}
