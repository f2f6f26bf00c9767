//! One simulated run: N real cores, C clients, a nemesis, virtual time, one seed. After every
//! step the safety properties are checked; at the end the history is checked for
//! linearizability. The same seed and options give a byte-identical run.

use super::invariants::{Invariants, Violation};
use super::nemesis::{FaultSet, Nemesis};
use super::workload::{Action, Completion, SimClient};
use super::{Cluster, TICK_NANOS};
use crate::network::LinkRule;
use crate::check::history::{EventType, HistoryEvent, HistoryWriter, OpKind};
use crate::check::{CheckOptions, Verdict, check_history};
use crate::events::Event;
use crate::raft::{Config, Hazard, NodeId, Term};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, Instant};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// The seed: everything random in the run derives from it.
    pub seed: u64,
    /// Cluster size.
    pub nodes: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Total client operations.
    pub ops: usize,
    /// Size of the key space.
    pub keys: usize,
    /// Faults the nemesis may inject.
    pub nemesis: FaultSet,
    /// A deliberately unsafe core, to prove the checks bite.
    pub hazard: Option<Hazard>,
}

impl SimOptions {
    /// The command line that replays this run exactly.
    pub fn replay_command(&self) -> String {
        let mut cmd = format!(
            "quorum sim --seed {} --nodes {} --clients {} --ops {} --keys {} --nemesis {}",
            self.seed, self.nodes, self.clients, self.ops, self.keys, self.nemesis
        );
        match self.hazard {
            Some(Hazard::LocalReads) => cmd.push_str(" --unsafe local-reads"),
            Some(Hazard::CommitOldTerm) => cmd.push_str(" --unsafe commit-old-term"),
            None => {}
        }
        cmd
    }
}

/// A safety or liveness violation, with where it happened and what led to it.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The broken property.
    pub violation: Violation,
    /// The step (loop iteration) it was found at.
    pub step: u64,
    /// Virtual time (ns) it was found at.
    pub time: u64,
    /// The last events before it, narrated.
    pub last_events: Vec<String>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct SimReport {
    /// The options, for the replay command.
    pub options: SimOptions,
    /// Operations that completed ok / fail / info.
    pub ok: usize,
    /// Failed operations.
    pub fail: usize,
    /// Operations with unknown outcome.
    pub info: usize,
    /// Terms that had a leader.
    pub elections: usize,
    /// Highest term any node reached.
    pub max_term: Term,
    /// Messages sent by nodes.
    pub messages_sent: u64,
    /// Messages dropped by the network.
    pub messages_dropped: u64,
    /// Messages delivered.
    pub messages_delivered: u64,
    /// Faults the nemesis injected.
    pub faults: usize,
    /// Virtual time at the end (ns).
    pub virtual_time: u64,
    /// Wall-clock time of the run.
    pub wall_time: Duration,
    /// A broken property, if any (the run stopped there).
    pub failure: Option<Failure>,
    /// The linearizability verdict (`None` if the run stopped on a violation first).
    pub verdict: Option<Verdict>,
}

impl SimReport {
    /// True if every property held and the history is linearizable.
    pub fn passed(&self) -> bool {
        self.failure.is_none() && self.verdict.as_ref().is_some_and(Verdict::is_linearizable)
    }

    /// Exit code of `quorum sim`: 0 passed, 1 a violation or a non-linearizable history,
    /// 3 when the checker could not decide.
    pub fn exit_code(&self) -> i32 {
        match (&self.failure, &self.verdict) {
            (None, Some(v)) => v.exit_code(),
            _ => 1,
        }
    }

    /// A human-readable summary, several lines.
    pub fn summary(&self) -> String {
        let o = &self.options;
        let mut s = format!(
            "seed {} · {} nodes · {} clients · nemesis {}\n  ops: {} ok, {} fail, {} info · elections {} · highest term {} · faults {}\n  messages: {} sent, {} delivered, {} dropped · virtual {:.2} s · wall {:.3} s\n",
            o.seed,
            o.nodes,
            o.clients,
            o.nemesis,
            self.ok,
            self.fail,
            self.info,
            self.elections,
            self.max_term,
            self.faults,
            self.messages_sent,
            self.messages_delivered,
            self.messages_dropped,
            self.virtual_time as f64 / 1e9,
            self.wall_time.as_secs_f64(),
        );
        if let Some(f) = &self.failure {
            s.push_str(&format!(
                "  VIOLATION of {} at step {} (t={:.3} s): {}\n  last events:\n",
                f.violation.property,
                f.step,
                f.time as f64 / 1e9,
                f.violation.detail
            ));
            for line in &f.last_events {
                s.push_str(&format!("    {line}\n"));
            }
        }
        match &self.verdict {
            Some(v) => s.push_str(&format!("  history: {v}\n")),
            None => s.push_str("  history: not checked (the run stopped on a violation)\n"),
        }
        if !self.passed() {
            s.push_str(&format!("  replay: {}\n", o.replay_command()));
        }
        s
    }
}

/// Where the run's event log and history go, as they are produced.
#[derive(Default)]
pub struct Sinks<'a> {
    /// JSON Lines of every event.
    pub events: Option<&'a mut dyn Write>,
    /// JSON Lines of the client history.
    pub history: Option<&'a mut dyn Write>,
}

/// How long after healing the cluster gets to settle before every operation must succeed.
const SETTLE: u64 = 2_000_000_000;
/// Virtual time after which an unfinished run of the default size (40 operations per client)
/// is a liveness failure.
const MAX_VIRTUAL: u64 = 1_200_000_000_000;

/// The virtual time a run may take before it is a liveness failure: [`MAX_VIRTUAL`] for the
/// default 40 operations per client, and proportionally more for more (a client's operations run
/// one after another, so the time a healthy run needs grows with them).
pub fn max_virtual(options: &SimOptions) -> u64 {
    let per_client = options.ops.div_ceil(options.clients.max(1)) as u64;
    MAX_VIRTUAL.saturating_mul(per_client.div_ceil(40).max(1))
}
/// How many recent events a violation report shows.
const LAST_EVENTS: usize = 40;

/// Derives an independent stream's seed from the run seed.
fn stream(seed: u64, n: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The session timeout (ticks) of the runs with short sessions: a client that reads for 300 ms
/// of leader time without a put loses its session.
pub const SHORT_SESSIONS: u64 = 30;

/// True for the seeds whose sessions expire after [`SHORT_SESSIONS`] ticks (one in four), so
/// that expiry and re-registration happen under faults too.
pub fn short_sessions(seed: u64) -> bool {
    seed % 4 == 3
}

/// Runs one simulation.
pub fn run(options: &SimOptions, mut sinks: Sinks<'_>) -> std::io::Result<SimReport> {
    let wall = Instant::now();
    let members: Vec<NodeId> = (1..=options.nodes as u64).map(NodeId).collect();
    let mut seeds = stream(options.seed, 1);
    let configs: Vec<Config> = members
        .iter()
        .map(|&id| {
            let mut c = Config::new(id, members.clone());
            c.seed = seeds.random();
            c.hazard = options.hazard;
            c
        })
        .collect();
    let base_link = LinkRule::default();
    let mut sessions = crate::kv::SessionLimits::default();
    if short_sessions(options.seed) {
        sessions.timeout = SHORT_SESSIONS;
    }
    let mut cluster = Cluster::with_sessions(configs, base_link, options.seed, sessions);
    let mut nemesis = Nemesis::new(&options.nemesis, stream(options.seed, 2), base_link);
    let mut workload_rng = stream(options.seed, 3);
    let mut phase_rng = stream(options.seed, 4);
    let clients_n = options.clients.max(1);
    let mut clients: Vec<SimClient> = (0..clients_n)
        .map(|i| {
            SimClient::new(i as u64 + 1, options.ops / clients_n + usize::from(i < options.ops % clients_n))
        })
        .collect();
    // Nodes tick every 10 ms, each with its own phase, so ticks interleave.
    let mut next_tick: Vec<u64> = members.iter().map(|_| phase_rng.random_range(0..TICK_NANOS)).collect();
    let mut invariants = Invariants::new();
    let mut history: Vec<HistoryEvent> = Vec::new();
    let mut recent: VecDeque<Event> = VecDeque::new();
    let fault_phase_ops = options.ops * 7 / 10;
    let mut healed_at: Option<u64> = if options.nemesis.0.is_empty() { Some(0) } else { None };
    let mut completed = 0usize;
    let mut failure: Option<Failure> = None;
    let mut step: u64 = 0;
    let mut history_writer = sinks.history.take().map(HistoryWriter::new);

    'run: loop {
        step += 1;
        // The next moment anything happens.
        let mut now = next_tick.iter().copied().min().unwrap_or(u64::MAX);
        if let Some(t) = cluster.next_delivery() {
            now = now.min(t);
        }
        for c in &clients {
            if let Some(t) = c.next_time() {
                now = now.min(t);
            }
        }
        if healed_at.is_none()
            && let Some(t) = nemesis.next_time()
        {
            now = now.min(t);
        }
        cluster.set_now(now);
        let now = cluster.now();

        cluster.deliver_due();
        for (i, &id) in members.iter().enumerate() {
            if next_tick[i] <= now {
                next_tick[i] += TICK_NANOS;
                cluster.tick(id);
            }
        }
        if healed_at.is_none() {
            if completed >= fault_phase_ops {
                nemesis.heal_all(&mut cluster);
                healed_at = Some(now);
            } else {
                nemesis.poll(&mut cluster, now);
            }
        }
        let mut completions: Vec<Completion> = Vec::new();
        let mut invokes: Vec<HistoryEvent> = Vec::new();
        for client in clients.iter_mut() {
            let (action, done, inv) = client.poll(now, &members, options.keys, &mut workload_rng);
            completions.extend(done);
            invokes.extend(inv);
            if let Some(Action::Send(node, request)) = action {
                cluster.client_request(node, request);
            }
        }
        // Invokes are recorded before any answer they may get in this same step.
        for e in invokes {
            if let Some(w) = history_writer.as_mut() {
                w.write_event(&e)?;
            }
            history.push(e);
        }
        for (_, response) in cluster.take_replies() {
            if let Some(c) = clients
                .iter_mut()
                .find(|c| c.owns(response.id))
                .and_then(|c| c.on_response(now, response, &mut workload_rng))
            {
                completions.push(c);
            }
        }

        let events = cluster.take_events();
        let mut verdict = invariants.check_step(&cluster, &events);
        write_events(events, &mut sinks, &mut recent)?;
        for c in completions {
            completed += 1;
            if verdict.is_ok() && c.event.kind == EventType::Ok && c.event.f == OpKind::Put {
                verdict = invariants.check_acknowledged_put(c.request.id);
            }
            if verdict.is_ok()
                && let Some(h) = healed_at
                && c.invoked_at > h + SETTLE
                && c.event.kind != EventType::Ok
                && !c.session_expired
            {
                verdict = Err(Violation {
                    property: "liveness after healing",
                    detail: format!(
                        "operation of client {} invoked {:.3} s after healing ended {:?}: {}",
                        c.event.process,
                        (c.invoked_at - h) as f64 / 1e9,
                        c.event.kind,
                        c.event.error.clone().unwrap_or_default()
                    ),
                });
            }
            if let Some(w) = history_writer.as_mut() {
                w.write_event(&c.event)?;
            }
            history.push(c.event);
        }
        if verdict.is_ok() && now > max_virtual(options) {
            verdict = Err(Violation {
                property: "liveness",
                detail: format!(
                    "the run did not finish within {} s of virtual time",
                    max_virtual(options) / 1_000_000_000
                ),
            });
        }
        if let Err(violation) = verdict {
            failure = Some(Failure {
                violation,
                step,
                time: now,
                last_events: recent.iter().map(narrate).collect(),
            });
            break 'run;
        }
        if clients.iter().all(SimClient::done) {
            break;
        }
    }

    let verdict = if failure.is_none() {
        let check = CheckOptions { time_limit: Some(Duration::from_secs(30)), ..Default::default() };
        match check_history(&history, &check) {
            Ok(v) => Some(v),
            Err(e) => Some(Verdict::Unknown { reason: format!("history could not be paired: {e}") }),
        }
    } else {
        None
    };
    let max_term = cluster.slots().values().map(|s| s.storage.hard_state().term).max().unwrap_or_default();
    Ok(SimReport {
        options: options.clone(),
        ok: clients.iter().map(|c| c.ok).sum(),
        fail: clients.iter().map(|c| c.fail).sum(),
        info: clients.iter().map(|c| c.info).sum(),
        elections: invariants.elections(),
        max_term,
        messages_sent: cluster.stats.sent,
        messages_dropped: cluster.stats.dropped,
        messages_delivered: cluster.stats.delivered,
        faults: nemesis.injected,
        virtual_time: cluster.now(),
        wall_time: wall.elapsed(),
        failure,
        verdict,
    })
}

/// A recent event as the violation report shows it.
fn narrate(event: &Event) -> String {
    format!("{:>10.3} {event}", event.time as f64 / 1e9)
}

/// Streams the step's events to the event file and keeps the last few for a violation report
/// (formatted only if there is one).
fn write_events(
    events: Vec<Event>,
    sinks: &mut Sinks<'_>,
    recent: &mut VecDeque<Event>,
) -> std::io::Result<()> {
    for event in events {
        if let Some(w) = sinks.events.as_mut() {
            serde_json::to_writer(&mut **w, &event)?;
            w.write_all(b"\n")?;
        }
        if recent.len() == LAST_EVENTS {
            recent.pop_front();
        }
        recent.push_back(event);
    }
    Ok(())
}
