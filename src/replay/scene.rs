//! The cluster as the event log tells it: every node's role, term, vote, leader, log (index,
//! term and command), commit and applied index, key-value map and run state, the network's
//! rules, the messages in flight, the client operations so far and the safety checks, after
//! any prefix of the events. A pure fold over events ([`Scene::observe`]), so the console's
//! history view, `quorum replay` and the tests all rebuild the same state the same way.
//!
//! What the events do not tell is left out rather than guessed: election timers and a
//! leader's replication progress are not events, so a rebuilt status has none; a log
//! recovered from a data directory older than the event log has entries of unknown command.
//!
//! Snapshots (paper §7). Each node's log starts after a base, its snapshot's last entry:
//! `snapshot_taken` drops the entries up to it, `snapshot_installed` drops them too (all of
//! them unless `kept_log`), and a `restart` that recovered a snapshot starts from it. The
//! snapshot's bytes are not in the events (an `InstallSnapshot` carries only their offset and
//! length), so the scene keeps its own: whenever a node takes a snapshot, the scene encodes
//! that node's rebuilt state machine, and a node that installs or recovers that snapshot
//! (found by its last entry: every replica's state machine at one committed index is the same)
//! is restored from it. A snapshot the scene never saw taken (one recovered from a data
//! directory older than the log) leaves that node's map unknown ([`Machine::Unknown`]) rather
//! than guessed. The scene keeps only the snapshots that may still be installed or recovered
//! (see [`Scene::snapshots_kept`]), so a long run's checkpoints stay small.

use super::chunks::Chunks;
use crate::control::{NodeStatus, RunState};
use crate::events::{Change, ClientRecord, Event, EventKind, InFlight, NodeEventKind, Recovery, Start};
use crate::kv::{Kv, SessionLimits};
use crate::network::Network;
use crate::raft::{Body, Command, Entry, EntryId, LogIndex, NodeId, Role, Switches, Term};
use crate::safety::{Checker, Report};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Log entries a rebuilt status carries (as many as a live status's tail).
const STATUS_LOG_TAIL: usize = 64;
/// Snapshots kept beyond those still needed (each node's own, those on their way): the most
/// recently taken, for an install or a recovery the scene could not foresee (a chunk delivered
/// whose install comes after other nodes' events, on the live cluster).
const RECENT_SNAPSHOTS: usize = 16;

/// One log entry as the events told it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SceneEntry {
    /// The term it was created in.
    pub term: Term,
    /// Its command (`None`: a no-op, or unknown when `known` is false).
    pub command: Option<Arc<Command>>,
    /// Whether the events told its command (false for entries recovered from before the log).
    pub known: bool,
}

impl SceneEntry {
    /// An entry whose command the events did not tell.
    fn unknown(term: Term) -> Self {
        SceneEntry { term, command: None, known: false }
    }
}

/// One node as the events told it.
#[derive(Clone, Debug)]
pub struct NodeScene {
    /// The node.
    pub id: NodeId,
    /// Running, paused, dead, or stopped on an error.
    pub run: RunState,
    /// Its role.
    pub role: Role,
    /// Its current term.
    pub term: Term,
    /// Its vote in that term.
    pub vote: Option<NodeId>,
    /// The leader it follows (itself when it leads).
    pub leader: Option<NodeId>,
    /// The entry before the first one its log holds: 0@0, or its snapshot's last entry.
    pub base: EntryId,
    /// Its log after the base: entry `i` is at index `base.index + 1 + i`.
    pub log: Vec<SceneEntry>,
    /// Its commit index.
    pub commit: LogIndex,
    /// Its state machine, fed the entries it applied, in order.
    pub machine: Machine,
    /// The follower it is handing its leadership to (thesis §3.10), while it leads.
    pub transfer: Option<NodeId>,
}

/// A node's state machine as the events tell it.
#[derive(Clone, Debug)]
pub enum Machine {
    /// Fed every entry it applied since it started empty, or since a snapshot the scene
    /// encoded itself.
    Known(Kv),
    /// Started from a snapshot the events do not show (recovered from a data directory older
    /// than the log): what it holds is not known, only how far it has applied.
    Unknown {
        /// The snapshot it started from.
        snapshot: EntryId,
        /// The last entry applied.
        applied: LogIndex,
    },
}

impl Machine {
    /// The last entry applied.
    pub fn applied(&self) -> LogIndex {
        match self {
            Machine::Known(kv) => kv.applied(),
            Machine::Unknown { applied, .. } => *applied,
        }
    }

    /// The state machine, if it is known.
    pub fn kv(&self) -> Option<&Kv> {
        match self {
            Machine::Known(kv) => Some(kv),
            Machine::Unknown { .. } => None,
        }
    }
}

impl NodeScene {
    fn new(id: NodeId, sessions: SessionLimits) -> Self {
        NodeScene {
            id,
            run: RunState::Running,
            role: Role::Follower,
            term: Term(0),
            vote: None,
            leader: None,
            base: EntryId::default(),
            log: Vec::new(),
            commit: LogIndex(0),
            machine: Machine::Known(Kv::with_limits(sessions)),
            transfer: None,
        }
    }

    /// The last entry's `index@term` (the base for an empty log: 0@0 before any snapshot).
    pub fn last(&self) -> EntryId {
        match self.log.last() {
            Some(e) => EntryId { index: LogIndex(self.base.index.0 + self.log.len() as u64), term: e.term },
            None => self.base,
        }
    }

    /// The applied index.
    pub fn applied(&self) -> LogIndex {
        self.machine.applied()
    }

    /// Its snapshot's last entry, if it has one (the log's base).
    pub fn snapshot(&self) -> Option<EntryId> {
        (self.base != EntryId::default()).then_some(self.base)
    }

    /// The entry at `index`, if the log holds it (not compacted, not beyond its end).
    pub fn entry(&self, index: LogIndex) -> Option<&SceneEntry> {
        let offset = index.0.checked_sub(self.base.index.0 + 1)?;
        self.log.get(usize::try_from(offset).ok()?)
    }

    /// The node as a status, for the console's panels (no timers, no replication progress:
    /// the events do not tell them).
    pub fn status(&self) -> NodeStatus {
        let first = self.log.len().saturating_sub(STATUS_LOG_TAIL);
        let base = self.base.index.0;
        let log_tail = self.log[first..]
            .iter()
            .enumerate()
            .map(|(i, e)| Entry {
                index: LogIndex(base + (first + i + 1) as u64),
                term: e.term,
                command: e.command.clone(),
            })
            .collect();
        let (kv, kv_unknown) = match &self.machine {
            Machine::Known(kv) => (kv.data(), None),
            Machine::Unknown { snapshot, .. } => (BTreeMap::new(), Some(*snapshot)),
        };
        NodeStatus {
            id: self.id,
            run: self.run.clone(),
            role: Some(self.role),
            term: self.term,
            vote: self.vote,
            leader: self.leader,
            commit: self.commit,
            applied: self.applied(),
            last: self.last(),
            timer: (0, 0),
            next_timer: 0,
            replication: Vec::new(),
            log_tail,
            kv,
            snapshot: self.snapshot(),
            snapshot_bytes: 0,
            transfer: self.transfer,
            kv_unknown,
        }
    }

    /// A node event's term: a higher one starts a new term, with no vote yet and no leader known.
    fn enter_term(&mut self, term: Term) {
        if term > self.term {
            self.term = term;
            self.vote = None;
            self.leader = None;
        }
    }

    fn append(
        &mut self,
        first: EntryId,
        last: EntryId,
        term_starts: &[EntryId],
        commands: &[Option<Arc<Command>>],
    ) {
        let (from, to) = (first.index.0, last.index.0);
        if from == 0 || to < from {
            return;
        }
        // Appends come at the log's end, after any truncate; a gap (events missing) is filled
        // with entries of unknown term and command rather than misnumbering what follows.
        let base = self.base.index.0;
        self.log.truncate((from - 1).saturating_sub(base) as usize);
        while base + (self.log.len() as u64) < from - 1 {
            self.log.push(SceneEntry::unknown(Term(0)));
        }
        let known = commands.len() as u64 == to - from + 1;
        let mut term = first.term;
        let mut starts = term_starts.iter().peekable();
        for (k, index) in (from..=to).enumerate() {
            if let Some(s) = starts.next_if(|s| s.index.0 == index) {
                term = s.term;
            }
            if index == to {
                term = last.term;
            }
            if index <= base {
                // Compacted here already (not sent by the core, but a log with events missing
                // must not misnumber what follows).
                continue;
            }
            let command = if known { commands[k].clone() } else { None };
            self.log.push(SceneEntry { term, command, known });
        }
    }

    /// Paper §7: drops the entries up to and including `upto`, which becomes the base.
    fn compact(&mut self, upto: EntryId) {
        if upto.index <= self.base.index {
            return;
        }
        let drop = (upto.index.0 - self.base.index.0).min(self.log.len() as u64) as usize;
        self.log.drain(..drop);
        self.base = upto;
    }

    /// What a restart recovered: term, vote, its snapshot (the base) and a log that ends at
    /// `last` (entries appended but not yet written when it stopped are gone; entries from
    /// before the event log, or compacted here and not in the recovered snapshot, are of
    /// unknown command). Volatile state starts afresh: the commit index at the base.
    fn recover(&mut self, r: &Recovery) {
        self.term = r.term;
        self.vote = r.vote;
        let base = r.snapshot.unwrap_or_default();
        if base != self.base {
            let log: Vec<SceneEntry> = (base.index.0 + 1..=r.last.index.0.max(base.index.0))
                .map(|i| self.entry(LogIndex(i)).cloned().unwrap_or(SceneEntry::unknown(Term(0))))
                .collect();
            self.log = log;
            self.base = base;
        }
        let len = r.last.index.0.saturating_sub(base.index.0) as usize;
        self.log.truncate(len);
        while self.log.len() < len {
            self.log.push(SceneEntry::unknown(Term(0)));
        }
        if let Some(e) = self.log.last_mut()
            && e.term != r.last.term
        {
            *e = SceneEntry::unknown(r.last.term);
        }
        self.commit = base.index;
    }

    fn apply(&mut self, entry: EntryId, command: Option<&Command>) {
        // A stream with events missing must not stop the rebuild: an entry out of order is
        // left unapplied.
        if entry.index != self.machine.applied().next() {
            return;
        }
        match &mut self.machine {
            Machine::Known(kv) => {
                let command = command.map(|c| Arc::new(c.clone()));
                kv.apply(entry.index, command.as_ref());
            }
            Machine::Unknown { applied, .. } => *applied = entry.index,
        }
    }

    fn node_event(&mut self, kind: &NodeEventKind) {
        match kind {
            NodeEventKind::Role { role, leader, .. } => {
                self.role = *role;
                self.leader = if *role == Role::Leader { Some(self.id) } else { *leader };
                // A transfer ends when its leader steps down (its own event says how), and a
                // new leader has none.
                self.transfer = None;
            }
            NodeEventKind::Vote { candidate } => self.vote = Some(*candidate),
            NodeEventKind::Append { first, last, term_starts, commands } => {
                self.append(*first, *last, term_starts, commands)
            }
            NodeEventKind::Truncate { first, .. } => {
                let keep = first.index.0.saturating_sub(1).saturating_sub(self.base.index.0);
                self.log.truncate(keep as usize)
            }
            NodeEventKind::Commit { entry } => self.commit = self.commit.max(entry.index),
            NodeEventKind::Apply { entry, command } => self.apply(*entry, command.as_ref()),
            NodeEventKind::TransferStarted { target } => self.transfer = Some(*target),
            NodeEventKind::TransferFinished { target } | NodeEventKind::TransferAbandoned { target, .. } => {
                if self.transfer == Some(*target) {
                    self.transfer = None;
                }
            }
            // The scene's own: they need the snapshots it keeps (`Scene::observe`).
            NodeEventKind::SnapshotTaken { .. }
            | NodeEventKind::SnapshotSend { .. }
            | NodeEventKind::SnapshotInstalled { .. } => {}
            NodeEventKind::Ignore { .. }
            | NodeEventKind::Timeout
            | NodeEventKind::ClientRequest { .. }
            | NodeEventKind::ClientReply { .. }
            | NodeEventKind::ReadIndex { .. } => {}
        }
    }
}

/// A client operation as the events told it: its record, and when it returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOp {
    /// The `client` event's sequence number.
    pub seq: u64,
    /// When it returned (the event's time, ns).
    pub returned: u64,
    /// What the client saw.
    pub record: ClientRecord,
}

/// The whole cluster after a prefix of the events (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct Scene {
    /// The run's `start` event, if the log has one (schema 2 and later).
    pub start: Option<Start>,
    /// Every node, by id.
    pub nodes: BTreeMap<NodeId, NodeScene>,
    /// The network's fault settings.
    pub network: Network,
    /// The messages in flight.
    pub in_flight: InFlight,
    /// The client operations that returned so far, in order (shared by chunks with the
    /// timeline's checkpoints).
    pub clients: Chunks<ClientOp>,
    /// The protocol's switchable parts.
    pub switches: Option<Switches>,
    /// Whether time is frozen.
    pub frozen: bool,
    /// The time scale, if it was changed.
    pub speed: Option<f64>,
    /// The time of the last event read (ns).
    pub now: u64,
    /// How many events it has read.
    pub events: u64,
    checker: CheckerBox,
    /// The snapshots seen taken that may still be installed or recovered, by last entry: the
    /// taker's rebuilt state machine, encoded as the node encodes its own ([`Kv::snapshot`]).
    snapshots: BTreeMap<EntryId, Arc<Vec<u8>>>,
    /// The snapshots taken most recently, newest last (kept whatever else needs them).
    recent: VecDeque<EntryId>,
    /// The snapshot each leader is sending each follower (leader, follower), from its
    /// `snapshot_send` until the follower installs one from it or the leader stops leading.
    sending: BTreeMap<(NodeId, NodeId), EntryId>,
}

/// The safety checks, boxed so a `Scene` stays small to move (it is cloned for checkpoints).
#[derive(Clone, Default)]
struct CheckerBox(Box<Checker>);

impl std::fmt::Debug for CheckerBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0.report())
    }
}

impl Scene {
    /// The state before any event.
    pub fn new() -> Self {
        Self::default()
    }

    /// What the safety checks found in the events read.
    pub fn safety(&self) -> &Report {
        self.checker.0.report()
    }

    /// Every node as a status, by id.
    pub fn statuses(&self) -> Vec<NodeStatus> {
        self.nodes.values().map(NodeScene::status).collect()
    }

    /// The node that leads with the highest term, among the nodes that run.
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .values()
            .filter(|n| n.role == Role::Leader && n.run == RunState::Running)
            .max_by_key(|n| n.term)
            .map(|n| n.id)
    }

    fn node(&mut self, id: NodeId) -> &mut NodeScene {
        let sessions = self.sessions();
        self.nodes.entry(id).or_insert_with(|| NodeScene::new(id, sessions))
    }

    /// The state machines' session limits, as the `start` event tells them.
    fn sessions(&self) -> SessionLimits {
        self.start.as_ref().map_or_else(SessionLimits::default, |s| s.sessions)
    }

    /// Reads one more event.
    pub fn observe(&mut self, event: &Event) {
        self.events += 1;
        self.now = self.now.max(event.time);
        self.checker.0.observe(event);
        self.in_flight.observe(event);
        match &event.kind {
            EventKind::Start(start) => {
                self.start = Some((**start).clone());
                for &id in &start.nodes {
                    self.node(id);
                }
                self.network = start.network.clone();
                self.switches = Some(start.switches);
            }
            EventKind::Fault { description, change: Some(change) } => self.change(change, description),
            EventKind::Client { op: Some(op), .. } => {
                self.clients.push(ClientOp { seq: event.seq, returned: event.time, record: (**op).clone() })
            }
            EventKind::Crash => {
                if let Some(id) = event.node {
                    let node = self.node(id);
                    node.run = RunState::Dead;
                    node.transfer = None;
                    self.sending.retain(|&(leader, _), _| leader != id);
                }
            }
            EventKind::Restart { recovered } => {
                if let Some(id) = event.node {
                    self.restart(id, recovered.as_ref());
                }
            }
            EventKind::Node(kind) => {
                if let Some(id) = event.node {
                    let node = self.node(id);
                    if let Some(term) = event.term {
                        node.enter_term(term);
                    }
                    self.node_event(id, kind);
                }
            }
            EventKind::Fault { change: None, .. }
            | EventKind::Client { op: None, .. }
            | EventKind::Send { .. }
            | EventKind::Deliver { .. }
            | EventKind::Drop { .. }
            | EventKind::Duplicate { .. } => {}
        }
    }

    /// A node event, with what the scene keeps beyond each node (the snapshots).
    fn node_event(&mut self, id: NodeId, kind: &NodeEventKind) {
        match kind {
            NodeEventKind::SnapshotTaken { snapshot, bytes } => self.snapshot_taken(id, *snapshot, *bytes),
            NodeEventKind::SnapshotInstalled { snapshot, from, kept_log } => {
                self.snapshot_installed(id, *snapshot, *from, *kept_log)
            }
            NodeEventKind::SnapshotSend { to, snapshot, .. } => {
                self.sending.insert((id, *to), *snapshot);
            }
            NodeEventKind::Role { role, .. } => {
                if *role != Role::Leader {
                    self.sending.retain(|&(leader, _), _| leader != id);
                }
                self.node(id).node_event(kind);
            }
            _ => self.node(id).node_event(kind),
        }
    }

    /// Paper §7: the node snapshotted its state machine and dropped its log through
    /// `snapshot`. The scene encodes its rebuilt state machine there, for the nodes that will
    /// install or recover this snapshot, if it stands at that entry and encodes to as many
    /// bytes as the node's did (else the rebuild went wrong, and a wrong state is not passed on).
    fn snapshot_taken(&mut self, id: NodeId, snapshot: EntryId, bytes: u64) {
        let node = self.node(id);
        node.compact(snapshot);
        node.commit = node.commit.max(snapshot.index);
        let encoded = match &node.machine {
            Machine::Known(kv) if kv.applied() == snapshot.index => Some(kv.snapshot()),
            _ => None,
        };
        if node.machine.applied() < snapshot.index {
            // Applies missing from the stream: the state at the snapshot, if known.
            let machine = self.restored(snapshot);
            self.node(id).machine = machine;
        }
        if let Some(data) = encoded.filter(|d| d.len() as u64 == bytes) {
            self.keep_snapshot(snapshot, data);
        }
    }

    /// Paper Figure 13: the node replaced its state machine by `from`'s snapshot, kept the log
    /// after it or discarded the whole log, and its commit index moved to it.
    fn snapshot_installed(&mut self, id: NodeId, snapshot: EntryId, from: NodeId, kept_log: bool) {
        let machine = self.restored(snapshot);
        let node = self.node(id);
        if kept_log {
            node.compact(snapshot);
        } else {
            node.log.clear();
            node.base = snapshot;
        }
        node.machine = machine;
        node.commit = node.commit.max(snapshot.index);
        self.sending.remove(&(from, id));
    }

    /// A node started again from what it recovered (nothing, for a fresh node).
    fn restart(&mut self, id: NodeId, recovered: Option<&Recovery>) {
        let machine = match recovered.and_then(|r| r.snapshot) {
            Some(snapshot) => self.restored(snapshot),
            None => Machine::Known(Kv::with_limits(self.sessions())),
        };
        let node = self.node(id);
        node.run = RunState::Running;
        node.role = Role::Follower;
        node.leader = None;
        node.transfer = None;
        node.commit = LogIndex(0);
        node.machine = machine;
        match recovered {
            Some(r) => node.recover(r),
            None => {
                node.base = EntryId::default();
                node.log.clear();
            }
        }
        self.sending.retain(|&(leader, _), _| leader != id);
    }

    /// The state machine at `snapshot`: decoded from the snapshot the scene kept, else copied
    /// from a node whose state machine stands at that very entry (every replica's state machine
    /// at one committed index is the same), else unknown.
    fn restored(&self, snapshot: EntryId) -> Machine {
        if let Some(data) = self.snapshots.get(&snapshot)
            && let Ok(kv) = Kv::from_snapshot(self.sessions(), data)
        {
            return Machine::Known(kv);
        }
        let at = |n: &NodeScene| {
            n.base == snapshot || n.entry(snapshot.index).is_some_and(|e| e.term == snapshot.term)
        };
        let copy = self.nodes.values().find_map(|n| match &n.machine {
            Machine::Known(kv) if kv.applied() == snapshot.index && at(n) => Some(kv.clone()),
            _ => None,
        });
        copy.map_or(Machine::Unknown { snapshot, applied: snapshot.index }, Machine::Known)
    }

    /// Keeps a snapshot taken, and forgets those no longer needed (see [`Scene::snapshots_kept`]).
    fn keep_snapshot(&mut self, snapshot: EntryId, data: Vec<u8>) {
        self.snapshots.entry(snapshot).or_insert_with(|| Arc::new(data));
        self.recent.retain(|&s| s != snapshot);
        self.recent.push_back(snapshot);
        if self.recent.len() > RECENT_SNAPSHOTS {
            self.recent.pop_front();
        }
        let mut needed: BTreeSet<EntryId> = self.nodes.values().map(|n| n.base).collect();
        needed.extend(self.sending.values().copied());
        needed.extend(self.recent.iter().copied());
        for m in self.in_flight.iter() {
            if let Body::InstallSnapshot { last, .. } = &m.message.body {
                needed.insert(*last);
            }
        }
        self.snapshots.retain(|s, _| needed.contains(s));
    }

    /// How many snapshots the scene keeps: each node's own (it may restart from it, or send
    /// it), those leaders are sending and those whose chunks are in flight, and the
    /// sixteen taken last. So however long the run, a handful.
    pub fn snapshots_kept(&self) -> usize {
        self.snapshots.len()
    }

    fn change(&mut self, change: &Change, description: &str) {
        match change {
            Change::Pause(id) => self.set_run(*id, RunState::Paused),
            Change::Resume(id) => self.set_run(*id, RunState::Running),
            Change::Failed(id) => {
                let reason = description.strip_prefix(&format!("{id} ")).unwrap_or(description);
                self.set_run(*id, RunState::Crashed(reason.to_string()))
            }
            Change::Network(network) => self.network = network.clone(),
            Change::Switches(s) => self.switches = Some(*s),
            Change::Freeze => self.frozen = true,
            Change::Thaw => self.frozen = false,
            Change::Speed(s) => self.speed = Some(*s),
            // Their effects are events of their own (crash, restart, deliver, ...).
            Change::Kill(_)
            | Change::Restart(_)
            | Change::Campaign(_)
            | Change::Transfer(_)
            | Change::Ticks(_)
            | Change::Held { .. }
            | Change::ReleaseHeld => {}
        }
    }

    /// A pause or resume changes only a node that is up; a failure any node.
    fn set_run(&mut self, id: NodeId, run: RunState) {
        let node = self.node(id);
        let up = matches!(node.run, RunState::Running | RunState::Paused);
        if up || matches!(run, RunState::Crashed(_)) {
            node.run = run;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{ClientId, RequestId};

    const N1: NodeId = NodeId(1);
    const N2: NodeId = NodeId(2);

    fn id(index: u64, term: u64) -> EntryId {
        EntryId { index: LogIndex(index), term: Term(term) }
    }

    fn node_event(node: NodeId, kind: NodeEventKind) -> Event {
        Event::new(Some(node), Some(Term(1)), EventKind::Node(kind))
    }

    /// Entry 1 registers session 1; entry `i` > 1 puts `k{i % 3}=v{i}` in it.
    fn command(i: u64) -> Command {
        if i == 1 {
            return Command::Register { nonce: 1, time: 1 };
        }
        let id = RequestId { client: ClientId(1), seq: i };
        Command::Put { id, ack: i, key: format!("k{}", i % 3), value: format!("v{i}"), time: i }
    }

    /// `node` appends, commits and applies entries `from..=to` of term 1.
    fn grow(scene: &mut Scene, node: NodeId, from: u64, to: u64) {
        let commands = (from..=to).map(|i| Some(Arc::new(command(i)))).collect();
        let append =
            NodeEventKind::Append { first: id(from, 1), last: id(to, 1), term_starts: vec![], commands };
        scene.observe(&node_event(node, append));
        scene.observe(&node_event(node, NodeEventKind::Commit { entry: id(to, 1) }));
        for i in from..=to {
            let apply = NodeEventKind::Apply { entry: id(i, 1), command: Some(command(i)) };
            scene.observe(&node_event(node, apply));
        }
    }

    /// `node` snapshots at `at`, with the size its own state machine's snapshot has.
    fn take(scene: &mut Scene, node: NodeId, at: u64) {
        let bytes = scene.nodes[&node].machine.kv().expect("known").snapshot().len() as u64;
        scene.observe(&node_event(node, NodeEventKind::SnapshotTaken { snapshot: id(at, 1), bytes }));
    }

    #[test]
    fn a_snapshot_compacts_the_log_and_an_install_restores_the_takers_map() {
        let mut scene = Scene::new();
        grow(&mut scene, N1, 1, 11);
        grow(&mut scene, N2, 1, 3);
        take(&mut scene, N1, 11);
        grow(&mut scene, N1, 12, 12);
        let n1 = &scene.nodes[&N1];
        assert_eq!((n1.base, n1.log.len(), n1.last()), (id(11, 1), 1, id(12, 1)), "entries up to 11 dropped");
        let status = n1.status();
        assert_eq!(status.snapshot, Some(id(11, 1)));
        assert_eq!(
            status.log_tail.iter().map(|e| e.index.0).collect::<Vec<_>>(),
            [12],
            "the tail follows the base"
        );
        // n2 holds 1..3 only: the install discards its log and restores the map at 11.
        let install = NodeEventKind::SnapshotInstalled { snapshot: id(11, 1), from: N1, kept_log: false };
        scene.observe(&node_event(N2, install));
        let n2 = &scene.nodes[&N2];
        assert_eq!(
            (n2.base, n2.log.len(), n2.commit, n2.applied()),
            (id(11, 1), 0, LogIndex(11), LogIndex(11))
        );
        let at_11 = n2.status().kv;
        assert_eq!(at_11.get("k2").map(String::as_str), Some("v11"));
        assert_eq!(at_11.get("k0").map(String::as_str), Some("v9"));
        // It goes on from there as n1 did.
        grow(&mut scene, N2, 12, 12);
        assert_eq!(scene.nodes[&N2].status().kv, scene.nodes[&N1].status().kv);
    }

    #[test]
    fn an_install_that_keeps_the_log_drops_only_what_the_snapshot_covers() {
        let mut scene = Scene::new();
        grow(&mut scene, N1, 1, 12);
        take(&mut scene, N1, 12);
        grow(&mut scene, N1, 13, 14);
        // n2 holds 1..14 but has applied only 1..5.
        let commands = (1..=14).map(|i| Some(Arc::new(command(i)))).collect();
        let append =
            NodeEventKind::Append { first: id(1, 1), last: id(14, 1), term_starts: vec![], commands };
        scene.observe(&node_event(N2, append));
        for i in 1..=5 {
            scene.observe(&node_event(
                N2,
                NodeEventKind::Apply { entry: id(i, 1), command: Some(command(i)) },
            ));
        }
        let install = NodeEventKind::SnapshotInstalled { snapshot: id(12, 1), from: N1, kept_log: true };
        scene.observe(&node_event(N2, install));
        let n2 = scene.nodes[&N2].status();
        assert_eq!(n2.log_tail.iter().map(|e| e.index.0).collect::<Vec<_>>(), [13, 14]);
        assert_eq!((n2.last, n2.applied, n2.commit), (id(14, 1), LogIndex(12), LogIndex(12)));
        assert!(n2.log_tail.iter().all(|e| e.command.is_some()), "the kept entries keep their commands");
        assert_eq!(n2.kv.get("k0").map(String::as_str), Some("v12"), "the map at 12");
        assert_ne!(n2.kv, scene.nodes[&N1].status().kv, "n1 applied 13 and 14 too");
    }

    #[test]
    fn a_restart_from_a_snapshot_the_log_never_showed_leaves_the_map_unknown() {
        let mut scene = Scene::new();
        let recovered =
            Recovery { term: Term(3), vote: None, last: id(1205, 3), snapshot: Some(id(1200, 3)) };
        scene.observe(&Event::new(Some(N1), None, EventKind::Restart { recovered: Some(recovered) }));
        let n1 = &scene.nodes[&N1];
        let status = n1.status();
        assert_eq!(
            (status.snapshot, status.last, status.commit, status.applied),
            (Some(id(1200, 3)), id(1205, 3), LogIndex(1200), LogIndex(1200))
        );
        assert_eq!(status.kv_unknown, Some(id(1200, 3)), "not guessed: said to be unknown");
        assert!(status.kv.is_empty());
        assert_eq!(n1.log.len(), 5, "the entries after the snapshot, of unknown command");
        assert!(n1.log.iter().all(|e| !e.known));
        // Applies go on counting; the map stays unknown.
        let apply = NodeEventKind::Apply { entry: id(1201, 3), command: None };
        scene.observe(&node_event(N1, apply));
        assert_eq!(scene.nodes[&N1].applied(), LogIndex(1201));
        assert_eq!(scene.nodes[&N1].status().kv_unknown, Some(id(1200, 3)));
    }

    #[test]
    fn a_restart_from_its_own_snapshot_restores_the_map_and_the_log_after_it() {
        let mut scene = Scene::new();
        grow(&mut scene, N1, 1, 12);
        take(&mut scene, N1, 12);
        grow(&mut scene, N1, 13, 14);
        let before = scene.nodes[&N1].status();
        scene.observe(&Event::new(Some(N1), None, EventKind::Crash));
        let recovered = Recovery { term: Term(1), vote: None, last: id(14, 1), snapshot: Some(id(12, 1)) };
        scene.observe(&Event::new(Some(N1), None, EventKind::Restart { recovered: Some(recovered) }));
        let after = scene.nodes[&N1].status();
        assert_eq!(
            (after.commit, after.applied, after.snapshot),
            (LogIndex(12), LogIndex(12), Some(id(12, 1)))
        );
        assert_eq!(after.log_tail, before.log_tail, "13 and 14 with their commands");
        let mut at_12 = Kv::default();
        for i in 1..=12 {
            at_12.apply(LogIndex(i), Some(&Arc::new(command(i))));
        }
        assert_eq!((after.kv, after.kv_unknown), (at_12.data(), None));
    }

    #[test]
    fn the_scene_keeps_a_handful_of_snapshots_however_many_are_taken() {
        let mut scene = Scene::new();
        grow(&mut scene, N1, 1, 1);
        for round in 0..100 {
            let from = 2 + round * 10;
            grow(&mut scene, N1, from, from + 9);
            take(&mut scene, N1, from + 9);
        }
        assert_eq!(scene.nodes[&N1].log.len(), 0, "compacted: the log holds nothing");
        assert!(scene.snapshots_kept() <= RECENT_SNAPSHOTS + 1, "{} kept", scene.snapshots_kept());
        assert!(scene.snapshots.contains_key(&id(1001, 1)), "the node's own is kept");
    }
}
