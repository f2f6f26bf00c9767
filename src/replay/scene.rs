//! The cluster as the event log tells it: every node's role, term, vote, leader, log (index,
//! term and command), commit and applied index, key-value map and run state, the network's
//! rules, the messages in flight, the client operations so far and the safety checks, after
//! any prefix of the events. A pure fold over events ([`Scene::observe`]), so the console's
//! history view, `quorum replay` and the tests all rebuild the same state the same way.
//!
//! What the events do not tell is left out rather than guessed: election timers and a
//! leader's replication progress are not events, so a rebuilt status has none; a log
//! recovered from a data directory older than the event log has entries of unknown command.

use crate::control::{NodeStatus, RunState};
use crate::events::{Change, ClientRecord, Event, EventKind, InFlight, NodeEventKind, Recovery, Start};
use crate::kv::{Kv, SessionLimits};
use crate::network::Network;
use crate::raft::{Command, Entry, EntryId, LogIndex, NodeId, Role, Switches, Term};
use crate::safety::{Checker, Report};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Log entries a rebuilt status carries (as many as a live status's tail).
const STATUS_LOG_TAIL: usize = 64;

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
    /// Its log: entry `i` is at index `i + 1`.
    pub log: Vec<SceneEntry>,
    /// Its commit index.
    pub commit: LogIndex,
    /// Its state machine, fed the entries it applied, in order.
    pub kv: Kv,
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
            log: Vec::new(),
            commit: LogIndex(0),
            kv: Kv::with_limits(sessions),
        }
    }

    /// The last entry's `index@term` (0@0 for an empty log).
    pub fn last(&self) -> EntryId {
        let index = LogIndex(self.log.len() as u64);
        EntryId { index, term: self.log.last().map_or(Term(0), |e| e.term) }
    }

    /// The applied index.
    pub fn applied(&self) -> LogIndex {
        self.kv.applied()
    }

    /// The node as a status, for the console's panels (no timers, no replication progress:
    /// the events do not tell them).
    pub fn status(&self) -> NodeStatus {
        let first = self.log.len().saturating_sub(STATUS_LOG_TAIL);
        let log_tail = self.log[first..]
            .iter()
            .enumerate()
            .map(|(i, e)| Entry {
                index: LogIndex((first + i + 1) as u64),
                term: e.term,
                command: e.command.clone(),
            })
            .collect();
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
            kv: self.kv.data(),
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
        self.log.truncate((from - 1) as usize);
        while (self.log.len() as u64) < from - 1 {
            self.log.push(SceneEntry { term: Term(0), command: None, known: false });
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
            let command = if known { commands[k].clone() } else { None };
            self.log.push(SceneEntry { term, command, known });
        }
    }

    /// What a restart recovered: term, vote and a log that ends at `last` (entries appended
    /// but not yet written when it stopped are gone; entries from before the event log are of
    /// unknown command).
    fn recover(&mut self, r: &Recovery) {
        self.term = r.term;
        self.vote = r.vote;
        let len = r.last.index.0 as usize;
        self.log.truncate(len);
        while self.log.len() < len {
            self.log.push(SceneEntry { term: Term(0), command: None, known: false });
        }
        if let Some(e) = self.log.last_mut()
            && e.term != r.last.term
        {
            *e = SceneEntry { term: r.last.term, command: None, known: false };
        }
    }

    fn apply(&mut self, entry: EntryId, command: Option<&Command>) {
        // A stream with events missing must not stop the rebuild: an entry out of order is
        // left unapplied.
        if entry.index == self.kv.applied().next() {
            let command = command.map(|c| Arc::new(c.clone()));
            self.kv.apply(entry.index, command.as_ref());
        }
    }

    fn node_event(&mut self, kind: &NodeEventKind) {
        match kind {
            NodeEventKind::Role { role, leader, .. } => {
                self.role = *role;
                self.leader = if *role == Role::Leader { Some(self.id) } else { *leader };
            }
            NodeEventKind::Vote { candidate } => self.vote = Some(*candidate),
            NodeEventKind::Append { first, last, term_starts, commands } => {
                self.append(*first, *last, term_starts, commands)
            }
            NodeEventKind::Truncate { first, .. } => {
                self.log.truncate(first.index.0.saturating_sub(1) as usize)
            }
            NodeEventKind::Commit { entry } => self.commit = self.commit.max(entry.index),
            NodeEventKind::Apply { entry, command } => self.apply(*entry, command.as_ref()),
            NodeEventKind::Ignore { .. }
            | NodeEventKind::Timeout
            | NodeEventKind::ClientRequest { .. }
            | NodeEventKind::ClientReply { .. }
            | NodeEventKind::ReadIndex { .. } => {}
            // TODO(snapshots): the scene's log base and state machine.
            NodeEventKind::SnapshotTaken { .. }
            | NodeEventKind::SnapshotSend { .. }
            | NodeEventKind::SnapshotInstalled { .. }
            | NodeEventKind::TransferStarted { .. }
            | NodeEventKind::TransferFinished { .. }
            | NodeEventKind::TransferAbandoned { .. } => {}
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
    /// The client operations that returned so far, in order.
    pub clients: Vec<ClientOp>,
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
                }
            }
            EventKind::Restart { recovered } => {
                if let Some(id) = event.node {
                    let sessions = self.sessions();
                    let node = self.node(id);
                    node.run = RunState::Running;
                    node.role = Role::Follower;
                    node.leader = None;
                    node.commit = LogIndex(0);
                    node.kv = Kv::with_limits(sessions);
                    if let Some(r) = recovered {
                        node.recover(r);
                    }
                }
            }
            EventKind::Node(kind) => {
                if let Some(id) = event.node {
                    let node = self.node(id);
                    if let Some(term) = event.term {
                        node.enter_term(term);
                    }
                    node.node_event(kind);
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
