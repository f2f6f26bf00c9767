//! One simulated run: N real cores, C clients, a nemesis, virtual time, one seed. After every
//! step the safety properties are checked; at the end the history is checked for
//! linearizability. The same seed and options give a byte-identical run.

use super::engine::{SimEngine, World, WorldFactory};
use super::invariants::{Invariants, Violation};
use super::workload::{Action, Completion, SimClient};
use super::{Cluster, TICK_NANOS};
use crate::check::history::{EventType, HistoryEvent, HistoryWriter, OpKind};
use crate::check::{CheckOptions, Verdict, check_history};
use crate::events::{ClientRecord, Event, EventKind, Outcome};
use crate::kv::SessionLimits;
use crate::nemesis::{FaultSet, Nemesis};
use crate::network::LinkRule;
use crate::raft::{Config, Hazard, NodeId, SnapshotPolicy, Switches, Term};
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
    /// When nodes snapshot and compact their logs (paper §7).
    pub snapshots: SnapshotPolicy,
}

/// `quorum sim`'s defaults: the flags a command line may leave out.
pub const DEFAULT_NODES: usize = 5;
/// The default number of clients.
pub const DEFAULT_CLIENTS: usize = 5;
/// The default number of operations.
pub const DEFAULT_OPS: usize = 200;
/// The default size of the key space.
pub const DEFAULT_KEYS: usize = 5;
/// The default faults (every one).
pub const DEFAULT_NEMESIS: &str = "all";

impl SimOptions {
    /// The command that opens this run in the console at event `at` (`quorum replay`, which
    /// takes `quorum sim`'s flags): the seed, the event, and every flag that is not a default.
    pub fn open_command(&self, at: u64) -> String {
        let mut cmd = format!("quorum replay --seed {} --at {at}", self.seed);
        let counts = [
            ("nodes", self.nodes, DEFAULT_NODES),
            ("clients", self.clients, DEFAULT_CLIENTS),
            ("ops", self.ops, DEFAULT_OPS),
            ("keys", self.keys, DEFAULT_KEYS),
        ];
        for (flag, value, default) in counts {
            if value != default {
                cmd.push_str(&format!(" --{flag} {value}"));
            }
        }
        if self.nemesis.to_string() != DEFAULT_NEMESIS {
            cmd.push_str(&format!(" --nemesis {}", self.nemesis));
        }
        cmd.push_str(hazard_flag(self.hazard));
        cmd.push_str(&snapshot_flags(self.snapshots));
        cmd
    }

    /// The command line that replays this run exactly.
    pub fn replay_command(&self) -> String {
        let mut cmd = format!(
            "quorum sim --seed {} --nodes {} --clients {} --ops {} --keys {} --nemesis {}",
            self.seed, self.nodes, self.clients, self.ops, self.keys, self.nemesis
        );
        cmd.push_str(hazard_flag(self.hazard));
        cmd.push_str(&snapshot_flags(self.snapshots));
        cmd
    }
}

/// The snapshot flags that differ from the defaults (empty for the defaults).
fn snapshot_flags(snapshots: SnapshotPolicy) -> String {
    let default = SnapshotPolicy::default();
    let mut flags = String::new();
    if snapshots.every != default.every {
        flags.push_str(&format!(" --snapshot-every {}", snapshots.every));
    }
    if snapshots.chunk != default.chunk {
        flags.push_str(&format!(" --snapshot-chunk {}", snapshots.chunk));
    }
    flags
}

/// The `--unsafe` flag of a hazard (empty for a correct core).
fn hazard_flag(hazard: Option<Hazard>) -> &'static str {
    match hazard {
        Some(Hazard::LocalReads) => " --unsafe local-reads",
        Some(Hazard::CommitOldTerm) => " --unsafe commit-old-term",
        None => "",
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
    /// Where the console should open a failed run ([`SimReport::open_at`]).
    pub open_at: Option<u64>,
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
                f.violation
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
        if let Some(at) = self.open_at {
            s.push_str(&format!("  open in the console: {}\n", o.open_command(at)));
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
    /// Called after every step with the step's events and the world as the step left it
    /// (tests: `tests/rebuild.rs` compares the state the events tell with the real one). The
    /// real state can only be seen between steps: a step runs several deliveries and ticks,
    /// each emitting events, under one lock of the world.
    pub probe: Option<&'a mut Probe<'a>>,
}

/// A probe of [`Sinks::probe`]: a step's events, and the world after the step.
pub type Probe<'a> = dyn FnMut(&[Event], &World) + 'a;

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

/// Most entries in one AppendEntries in the simulator. A simulated run commits about a hundred
/// entries, so the core's 64 are never reached: a new leader's no-op always travels with the
/// older entries it sends, and catch-up across several messages, with a follower acknowledging
/// an older entry before the no-op (paper Figure 8, pitfall 2), never happens.
pub const MAX_ENTRIES_PER_APPEND: usize = 4;

/// The nodes' configurations and first tick phases for a world of `nodes` nodes from `seed`:
/// the same for a headless run and a console session on the simulator (correct Raft but for
/// `hazard`; [`WorldSpec`] sets every switch).
pub fn world(seed: u64, nodes: usize, hazard: Option<Hazard>, sessions: SessionLimits) -> World {
    let switches = Switches { hazard, ..Switches::CORRECT };
    WorldSpec { seed, nodes, switches, sessions, snapshots: SnapshotPolicy::default() }.build()
}

/// Everything a simulated world is built from: the same spec always builds the same world,
/// which is what lets an engine re-execute a run ([`SimEngine::start_from`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorldSpec {
    /// The seed: the network's randomness, every node's timeouts, the tick phases.
    pub seed: u64,
    /// How many nodes (`n1` to `nN`).
    pub nodes: usize,
    /// The protocol's switchable parts on every node from the start (the `start` event says
    /// them).
    pub switches: Switches,
    /// The session table's bounds.
    pub sessions: SessionLimits,
    /// When nodes snapshot and compact their logs (paper §7).
    pub snapshots: SnapshotPolicy,
}

impl WorldSpec {
    /// A world of `nodes` running correct Raft, with the default session limits and snapshot
    /// policy.
    pub fn correct(seed: u64, nodes: usize) -> WorldSpec {
        WorldSpec {
            seed,
            nodes,
            switches: Switches::CORRECT,
            sessions: SessionLimits::default(),
            snapshots: SnapshotPolicy::default(),
        }
    }

    /// The world of this spec, at time 0.
    pub fn build(&self) -> World {
        let members: Vec<NodeId> = (1..=self.nodes as u64).map(NodeId).collect();
        let mut seeds = stream(self.seed, 1);
        let configs: Vec<Config> = members
            .iter()
            .map(|&id| {
                let mut c = Config::new(id, members.clone());
                c.seed = seeds.random();
                c.set_switches(self.switches);
                c.max_entries_per_append = MAX_ENTRIES_PER_APPEND;
                c.snapshots = self.snapshots;
                c
            })
            .collect();
        let cluster = Cluster::with_sessions(configs, LinkRule::default(), self.seed, self.sessions);
        // Nodes tick every 10 ms, each with its own phase, so ticks interleave.
        let mut phase_rng = stream(self.seed, 4);
        let phases = members.iter().map(|_| phase_rng.random_range(0..TICK_NANOS)).collect();
        World::new(cluster, phases)
    }

    /// A factory of this spec's world, for [`SimEngine::start_from`].
    pub fn factory(self) -> WorldFactory {
        std::sync::Arc::new(move || self.build())
    }

    /// A factory of this spec's world frozen at time 0 ([`World::freeze`]): an engine around it
    /// moves time only by hand until it is thawed (a lesson's engine).
    pub fn frozen_factory(self) -> WorldFactory {
        std::sync::Arc::new(move || {
            let mut world = self.build();
            world.freeze();
            world
        })
    }
}

/// One run in progress: the engine (the world behind the control interface the nemesis
/// drives), the clients, the checks, and what has been recorded.
struct Run<'o, 's> {
    options: &'o SimOptions,
    engine: &'o SimEngine,
    nemesis: Nemesis,
    workload_rng: Xoshiro256PlusPlus,
    clients: Vec<SimClient>,
    members: Vec<NodeId>,
    invariants: Invariants,
    history: Vec<HistoryEvent>,
    history_writer: Option<HistoryWriter<&'s mut dyn Write>>,
    sinks: Sinks<'s>,
    recent: VecDeque<Event>,
    fault_phase_ops: usize,
    healed_at: Option<u64>,
    completed: usize,
    step: u64,
    /// The last event's sequence number.
    last_seq: u64,
    /// Each completed operation's process, invoke time and `client` event.
    client_events: Vec<(u64, u64, u64)>,
}

/// Runs one simulation.
pub fn run(options: &SimOptions, sinks: Sinks<'_>) -> std::io::Result<SimReport> {
    let wall = Instant::now();
    let engine = engine(options);
    let mut run = Run::new(options, &engine, sinks);
    let mut failure = None;
    while !run.clients.iter().all(SimClient::done) {
        if let Err(f) = run.step()? {
            failure = Some(f);
            break;
        }
    }
    Ok(run.report(failure, wall))
}

/// The headless engine of a run: the world of its seed, with short sessions for one seed in four.
fn engine(options: &SimOptions) -> SimEngine {
    let mut sessions = SessionLimits::default();
    if short_sessions(options.seed) {
        sessions.timeout = SHORT_SESSIONS;
    }
    let switches = Switches { hazard: options.hazard, ..Switches::CORRECT };
    let spec = WorldSpec {
        seed: options.seed,
        nodes: options.nodes,
        switches,
        sessions,
        snapshots: options.snapshots,
    };
    SimEngine::headless(spec.build())
}

impl<'o, 's> Run<'o, 's> {
    /// A run that has done nothing yet: the nemesis, the clients and the checks, on `engine`.
    fn new(options: &'o SimOptions, engine: &'o SimEngine, mut sinks: Sinks<'s>) -> Self {
        let members = engine.world().cluster.ids();
        let clients_n = options.clients.max(1);
        let history_writer = sinks.history.take().map(HistoryWriter::new);
        Run {
            options,
            engine,
            nemesis: Nemesis::new(&options.nemesis, stream(options.seed, 2), LinkRule::default()),
            workload_rng: stream(options.seed, 3),
            clients: (0..clients_n)
                .map(|i| {
                    SimClient::new(
                        i as u64 + 1,
                        options.ops / clients_n + usize::from(i < options.ops % clients_n),
                    )
                })
                .collect(),
            members,
            invariants: Invariants::new(),
            history: Vec::new(),
            history_writer,
            sinks,
            recent: VecDeque::new(),
            fault_phase_ops: options.ops * 7 / 10,
            healed_at: if options.nemesis.0.is_empty() { Some(0) } else { None },
            completed: 0,
            step: 0,
            last_seq: 0,
            client_events: Vec::new(),
        }
    }
}

impl Run<'_, '_> {
    /// One moment of the run: time moves to the next thing that happens, messages and ticks
    /// due run, the nemesis acts, the clients act, and every property is checked. `Ok(Err(_))`
    /// is a broken property.
    fn step(&mut self) -> std::io::Result<Result<(), Failure>> {
        self.step += 1;
        let now = self.advance();
        if self.healed_at.is_none() {
            if self.completed >= self.fault_phase_ops {
                self.nemesis.heal_all(self.engine);
                self.healed_at = Some(now);
            } else {
                self.nemesis.poll(self.engine, now);
            }
        }
        // One lock of the world for the clients' turn and the step's events: a step is short,
        // and locking is a good part of its cost. The checks read the events only.
        let engine = self.engine;
        let mut world = engine.world();
        let completions = self.clients_act(&mut world, now)?;
        let events = world.cluster.take_events();
        drop(world);
        self.note_client_events(&events, &completions);
        if let Some(probe) = self.sinks.probe.as_mut() {
            probe(&events, &engine.world());
        }
        let mut verdict = self.invariants.check_step(&events);
        write_events(events, &mut self.sinks, &mut self.recent)?;
        for c in completions {
            self.completed += 1;
            if verdict.is_ok() {
                verdict = self.check_completion(&c);
            }
            if let Some(w) = self.history_writer.as_mut() {
                w.write_event(&c.event)?;
            }
            self.history.push(c.event);
        }
        if verdict.is_ok() && now > max_virtual(self.options) {
            verdict = Err(Violation::new(
                "liveness",
                format!(
                    "the run did not finish within {} s of virtual time",
                    max_virtual(self.options) / 1_000_000_000
                ),
            ));
        }
        Ok(verdict.map_err(|violation| Failure {
            violation,
            step: self.step,
            time: now,
            last_events: self.recent.iter().map(narrate).collect(),
        }))
    }

    /// Moves the world to the next moment anything happens (a tick, a delivery, a client's or
    /// the nemesis's next action) and runs what is due. Returns the new time.
    fn advance(&mut self) -> u64 {
        let mut world = self.engine.world();
        let mut now = world.next_time();
        for c in &self.clients {
            if let Some(t) = c.next_time() {
                now = now.min(t);
            }
        }
        if self.healed_at.is_none()
            && let Some(t) = self.nemesis.next_time()
        {
            now = now.min(t);
        }
        world.step(now);
        world.cluster.now()
    }

    /// Lets every client act at `now` (send, retry, give up) and hands them their answers; the
    /// invokes go to the history at once, before any answer they may get in this same step.
    fn clients_act(&mut self, world: &mut World, now: u64) -> std::io::Result<Vec<Completion>> {
        let mut completions = Vec::new();
        let mut invokes = Vec::new();
        for client in self.clients.iter_mut() {
            let (action, done, inv) =
                client.poll(now, &self.members, self.options.keys, &mut self.workload_rng);
            completions.extend(done);
            invokes.extend(inv);
            if let Some(Action::Send(node, request)) = action {
                world.cluster.client_request(node, request);
            }
        }
        for e in invokes {
            if let Some(w) = self.history_writer.as_mut() {
                w.write_event(&e)?;
            }
            self.history.push(e);
        }
        for (_, response) in world.cluster.take_replies() {
            if let Some(c) = self
                .clients
                .iter_mut()
                .find(|c| c.owns(response.id))
                .and_then(|c| c.on_response(now, response, &mut self.workload_rng))
            {
                completions.push(c);
            }
        }
        for c in &completions {
            world.cluster.record(Some(c.via), client_event(c, now));
        }
        Ok(completions)
    }

    /// Remembers the step's last event, and which `client` event each completed operation got
    /// (they are the step's `client` events, in the order of the completions).
    fn note_client_events(&mut self, events: &[Event], completions: &[Completion]) {
        if let Some(e) = events.last() {
            self.last_seq = e.seq;
        }
        let seqs = events.iter().filter(|e| matches!(e.kind, EventKind::Client { .. })).map(|e| e.seq);
        for (c, seq) in completions.iter().zip(seqs) {
            self.client_events.push((c.event.process, c.invoked_at, seq));
        }
    }

    /// The event a failed run opens at in the console: the one that broke a safety property
    /// (the last event for a violation no single event shows); for a history that is not
    /// linearizable, the `client` event of the first operation the checker's excerpt names
    /// (the one invoked first: from there the console steps through the whole anomaly), or the
    /// last event if the excerpt names none this run recorded.
    fn open_at(&self, failure: Option<&Failure>, verdict: Option<&Verdict>) -> Option<u64> {
        if let Some(f) = failure {
            return Some(f.violation.event.as_ref().map_or(self.last_seq, |e| e.seq));
        }
        let Some(Verdict::NotLinearizable { excerpt, .. }) = verdict else { return None };
        let first = excerpt.first().and_then(|line| excerpt_operation(line));
        let seq = first.and_then(|op| self.client_events.iter().find(|&&(p, i, _)| (p, i) == op));
        Some(seq.map_or(self.last_seq, |&(_, _, seq)| seq))
    }

    /// An acknowledged put must be in every later leader's log; after healing (and a settling
    /// time), every operation must succeed unless its session expired.
    fn check_completion(&self, c: &Completion) -> Result<(), Violation> {
        if c.event.kind == EventType::Ok && c.event.f == OpKind::Put {
            self.invariants.check_acknowledged_put(c.request.id)?;
        }
        if let Some(h) = self.healed_at
            && c.invoked_at > h + SETTLE
            && c.event.kind != EventType::Ok
            && !c.session_expired
        {
            return Err(Violation::new(
                "liveness after healing",
                format!(
                    "operation of client {} invoked {:.3} s after healing ended {:?}: {}",
                    c.event.process,
                    (c.invoked_at - h) as f64 / 1e9,
                    c.event.kind,
                    c.event.error.clone().unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }

    /// The report: counts, the network's counters, and the history's verdict (not checked if
    /// the run stopped on a violation).
    fn report(self, failure: Option<Failure>, wall: Instant) -> SimReport {
        let verdict = failure.is_none().then(|| {
            let check = CheckOptions { time_limit: Some(Duration::from_secs(30)), ..Default::default() };
            check_history(&self.history, &check)
                .unwrap_or_else(|e| Verdict::Unknown { reason: format!("history could not be paired: {e}") })
        });
        let open_at = self.open_at(failure.as_ref(), verdict.as_ref());
        let world = self.engine.world();
        let cluster = &world.cluster;
        let max_term =
            cluster.slots().values().map(|s| s.storage.hard_state().term).max().unwrap_or_default();
        SimReport {
            options: self.options.clone(),
            ok: self.clients.iter().map(|c| c.ok).sum(),
            fail: self.clients.iter().map(|c| c.fail).sum(),
            info: self.clients.iter().map(|c| c.info).sum(),
            elections: self.invariants.elections(),
            max_term,
            messages_sent: cluster.stats.sent,
            messages_dropped: cluster.stats.dropped,
            messages_delivered: cluster.stats.delivered,
            faults: self.nemesis.injected,
            virtual_time: cluster.now(),
            wall_time: wall.elapsed(),
            open_at,
            failure,
            verdict,
        }
    }
}

/// The process and invoke time of an operation as the checker's excerpt renders it
/// (`p5 put k0=5.16 [4747454056, ?] ...`).
fn excerpt_operation(line: &str) -> Option<(u64, u64)> {
    let process = line.trim_start().strip_prefix('p')?.split(' ').next()?.parse().ok()?;
    let (_, times) = line.split_once('[')?;
    let invoked = times.split(',').next()?.trim().parse().ok()?;
    Some((process, invoked))
}

/// The `client` event of a completed operation, in the console's words, returned at `now`.
fn client_event(c: &Completion, now: u64) -> EventKind {
    let outcome = match c.event.kind {
        EventType::Ok => Outcome::Ok,
        EventType::Fail => Outcome::Failed,
        EventType::Info | EventType::Invoke => Outcome::Unknown,
    };
    let read = c.event.kind == EventType::Ok && c.event.f == OpKind::Get;
    let record = ClientRecord {
        op: c.request.op.clone(),
        via: c.via,
        invoked: c.invoked_at,
        outcome,
        id: Some(c.request.id),
        value: if read { c.event.value.clone() } else { None },
        error: c.event.error.clone(),
        conn: None,
        answered: None,
    };
    record.event(now.saturating_sub(c.invoked_at))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::FaultSet;

    /// The events tell the checks each node's log and commit index: after steps of runs under
    /// every fault, what the checker followed from the events alone is what the nodes hold.
    #[test]
    fn the_events_alone_tell_every_nodes_log_and_commit_index() {
        let nemesis: FaultSet = "all".parse().expect("a fault set");
        for seed in 1..=60 {
            let options = SimOptions {
                seed,
                nodes: [3, 5, 7][seed as usize % 3],
                clients: 5,
                ops: 120,
                keys: 5,
                nemesis: nemesis.clone(),
                hazard: None,
                snapshots: Default::default(),
            };
            let engine = engine(&options);
            let mut run = Run::new(&options, &engine, Sinks::default());
            let mut compared = 0;
            while !run.clients.iter().all(SimClient::done) {
                if let Err(f) = run.step().expect("in memory") {
                    panic!("seed {seed}: {}: {}", f.violation.property, f.violation);
                }
                if !run.step.is_multiple_of(8) {
                    continue;
                }
                let world = engine.world();
                let checker = run.invariants.checker();
                for id in world.cluster.ids() {
                    let Some(node) = world.cluster.node(id) else { continue };
                    let real: Vec<Option<Term>> = node.log().entries().iter().map(|e| Some(e.term)).collect();
                    let seen = checker.log(id).unwrap_or_default();
                    assert_eq!(seen, &real[..], "seed {seed}, step {}: the log of {id}", run.step);
                    let commit = checker.commit_index(id);
                    assert_eq!(commit, node.commit_index(), "seed {seed}, step {}: {id}", run.step);
                    compared += 1;
                }
            }
            assert!(compared > 100, "seed {seed}: compared {compared} times");
        }
    }
}
