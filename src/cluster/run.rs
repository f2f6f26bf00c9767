//! `quorum run`: a headless real-time run. Client threads put and get over a small key space
//! (every put writes a value never written before), the nemesis breaks the live
//! cluster, and at the end the history is checked for linearizability. The history and the
//! event log are written a line at a time as the run goes.

use super::{ClusterOptions, LiveCluster, NodeFailure, StorageOptions};
use crate::check::history::{EventType, HistoryEvent, HistoryHeader, HistoryWriter, Initial, OpKind};
use crate::check::{CheckOptions, Verdict, check_history};
use crate::control::{Answer, Client, ClientOptions, Control, OpError};
use crate::events::{ClientRecord, EventKind, NodeEventKind, Outcome};
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
    /// Latencies of successful operations, sorted.
    pub latencies: Vec<Duration>,
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

impl RunReport {
    fn percentile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies[((self.latencies.len() as f64 * q) as usize).min(self.latencies.len() - 1)]
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
            ms(self.latencies.last().copied().unwrap_or_default())
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
type ClientTally = (usize, usize, usize, Vec<Duration>);

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
    let (mut ok, mut fail, mut info, mut lat) = (0, 0, 0, Vec::new());
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
        let client_event = client_record(op, invoked, &result).event(began.elapsed().as_nanos() as u64);
        cluster.record(Some(client_event_via(&result)), client_event);
        let event = match result {
            Ok(answer) => {
                ok += 1;
                lat.push(began.elapsed());
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

/// What the client saw of an operation invoked at `invoked`, for its `client` event.
fn client_record(op: Op, invoked: u64, result: &Result<Answer, OpError>) -> ClientRecord {
    let via = client_event_via(result);
    match result {
        Ok(answer) => ClientRecord {
            op,
            via,
            invoked,
            outcome: Outcome::Ok,
            id: Some(answer.id),
            value: match &answer.reply {
                Reply::Get { value } => value.clone(),
                Reply::Put | Reply::Registered { .. } => None,
            },
            error: None,
        },
        Err(error) => ClientRecord {
            op,
            via,
            invoked,
            outcome: if error.definite { Outcome::Failed } else { Outcome::Unknown },
            id: error.id,
            value: None,
            error: Some(error.to_string()),
        },
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
    let mut history = history.map(HistoryWriter::new);
    if let Some(w) = history.as_mut() {
        w.write_header(&HistoryHeader { initial, cluster: cluster_id })?;
    }
    let writer = Arc::new(Mutex::new((history, Vec::<HistoryEvent>::new())));
    let record = |e: HistoryEvent| -> std::io::Result<()> {
        let mut guard = writer.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = guard.0.as_mut() {
            w.write_event(&e)?;
        }
        guard.1.push(e);
        Ok(())
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
    let (mut ok, mut fail, mut info, mut latencies) = (0, 0, 0, Vec::new());
    for r in results {
        let (o, f, i, l) = r?;
        ok += o;
        fail += f;
        info += i;
        latencies.extend(l);
    }
    latencies.sort_unstable();
    let events = std::mem::take(&mut writer.lock().unwrap_or_else(PoisonError::into_inner).1);
    let verdict =
        check_history(&events, &CheckOptions { time_limit: Some(Duration::from_secs(60)), initial })
            .unwrap_or_else(|e| Verdict::Unknown { reason: format!("history could not be paired: {e}") });
    Ok(RunReport { ok, fail, info, elapsed, latencies, failovers, faults, verdict, initial, failures })
}
