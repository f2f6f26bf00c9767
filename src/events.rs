//! The one closed event type. The core emits node events ([`NodeEventKind`], its own type);
//! the drivers (simulator, threaded runtime, console) wrap them and add network, fault and
//! client events, and stamp each with a sequence number and a time. `Display` is the compact
//! narration shared by golden scripts, the event feed and the console; serde gives the JSON
//! Lines export (schema in DESIGN.md): a node event's fields sit at the top level of its line,
//! as every other kind's do.

use crate::network::Network;
use crate::raft::{EntryId, Message, NodeEvent, NodeId, Op, RequestId, Switches, Term};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The version of the event log's schema this build writes (in the first, `start`, event) and
/// the newest it reads. 1 was the schema before the `start` event existed.
pub const SCHEMA: u32 = 2;

pub use crate::raft::NodeEventKind;

/// One event, stamped by the driver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the run's event stream, from 0, without gaps.
    pub seq: u64,
    /// Nanoseconds since the run started (virtual in the simulator, monotonic in real runs).
    pub time: u64,
    /// The node the event happened on, if any (network and fault events may have none).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub node: Option<NodeId>,
    /// The node's term when it happened, for node events.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub term: Option<Term>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// An unstamped event (the driver sets `seq` and `time`).
    pub fn new(node: Option<NodeId>, term: Option<Term>, kind: EventKind) -> Event {
        Event { seq: 0, time: 0, node, term, kind }
    }
}

impl From<NodeEvent> for Event {
    fn from(e: NodeEvent) -> Event {
        Event::new(Some(e.node), Some(e.term), EventKind::Node(e.kind))
    }
}

/// What happened. Tagged `kind` in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The first event of every run: what the cluster is, so that a reader can rebuild every
    /// node's state from the events that follow (the replay module).
    Start(Box<Start>),
    /// A node sent a message; the network gave it `id`, unique in the run, which its fate
    /// (`deliver`, `drop`, `duplicate`) carries too.
    Send {
        /// The message's id.
        id: u64,
        /// The message.
        message: Message,
    },
    /// The network delivered a message to its receiver.
    Deliver {
        /// The message's id (its `send`'s).
        id: u64,
        /// The message.
        message: Message,
    },
    /// The network dropped a message (one copy of it, if it was duplicated).
    Drop {
        /// The message's id (its `send`'s).
        id: u64,
        /// The message.
        message: Message,
        /// Why: `partition`, `loss`, `crashed`, ...
        reason: String,
    },
    /// The network made a second copy of a message in flight (by chance, or by hand); each copy
    /// is delivered or dropped on its own, with the same id.
    Duplicate {
        /// The message's id (its `send`'s).
        id: u64,
        /// The message.
        message: Message,
    },
    /// A node crashed (volatile state lost, durable state kept).
    Crash,
    /// A node restarted from its durable state: what it recovered (left out by schema 1). Also
    /// written when a node first starts on a data directory that already holds a state.
    Restart {
        /// What the node recovered.
        #[serde(flatten, default)]
        recovered: Option<Recovery>,
    },
    /// What a client saw of one operation (the console's and the headless runs' view): the
    /// request, the node contacted, the answer or error, the latency, in words.
    Client {
        /// For example `c4#2 put color=red via n2 → ok (0.6 ms)`.
        description: String,
        /// The same, structured (left out by schema 1).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        op: Option<Box<ClientRecord>>,
    },
    /// A fault or repair was injected (partition, heal, loss, pause, ...), described in words.
    Fault {
        /// What was done, for example `partition n1 n2 | n3 n4 n5`.
        description: String,
        /// What it changed, for a reader rebuilding the state (none for a remark, such as a
        /// warning or an export).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        change: Option<Change>,
    },
    /// What a node did, in the core's own words (its JSON carries its own `kind` tag).
    #[serde(untagged)]
    Node(NodeEventKind),
}

impl EventKind {
    /// A short name of the kind, for filters and counters (equals the JSON `kind` tag).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Send { .. } => "send",
            EventKind::Deliver { .. } => "deliver",
            EventKind::Drop { .. } => "drop",
            EventKind::Duplicate { .. } => "duplicate",
            EventKind::Start(_) => "start",
            EventKind::Crash => "crash",
            EventKind::Restart { .. } => "restart",
            EventKind::Client { .. } => "client",
            EventKind::Fault { .. } => "fault",
            EventKind::Node(k) => k.name(),
        }
    }

    /// The message and its id, for the network's events (send, deliver, drop, duplicate).
    pub fn message(&self) -> Option<(u64, &Message)> {
        match self {
            EventKind::Send { id, message }
            | EventKind::Deliver { id, message }
            | EventKind::Drop { id, message, .. }
            | EventKind::Duplicate { id, message } => Some((*id, message)),
            _ => None,
        }
    }

    /// The node event, if this is one.
    pub fn node(&self) -> Option<&NodeEventKind> {
        match self {
            EventKind::Node(k) => Some(k),
            _ => None,
        }
    }
}

impl From<NodeEventKind> for EventKind {
    fn from(k: NodeEventKind) -> EventKind {
        EventKind::Node(k)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages carry their own `nX@T ->` prefix, after their id; everything else is
        // prefixed by its node.
        match &self.kind {
            EventKind::Send { id, message } => return write!(f, "m{id} {message}"),
            EventKind::Deliver { id, message } => return write!(f, "deliver m{id} {message}"),
            EventKind::Drop { id, message, reason } => return write!(f, "drop m{id} {message} ({reason})"),
            EventKind::Duplicate { id, message } => return write!(f, "duplicate m{id} {message}"),
            EventKind::Fault { description, .. } => return write!(f, "fault: {description}"),
            EventKind::Client { description, .. } => return write!(f, "client {description}"),
            EventKind::Start(start) => return write!(f, "{start}"),
            _ => {}
        }
        match (self.node, self.term) {
            (Some(n), Some(t)) => write!(f, "{n}@{t} ")?,
            (Some(n), None) => write!(f, "{n} ")?,
            _ => {}
        }
        match &self.kind {
            EventKind::Node(k) => write!(f, "{k}"),
            EventKind::Crash => write!(f, "crashed"),
            EventKind::Restart { recovered: None } => write!(f, "restarted"),
            EventKind::Restart { recovered: Some(r) } => {
                write!(f, "restarted at term {}, log to {}", r.term, r.last)?;
                match r.snapshot {
                    Some(s) => write!(f, " after snapshot {s}"),
                    None => Ok(()),
                }
            }
            EventKind::Start(_)
            | EventKind::Send { .. }
            | EventKind::Deliver { .. }
            | EventKind::Drop { .. }
            | EventKind::Duplicate { .. }
            | EventKind::Fault { .. }
            | EventKind::Client { .. } => {
                unreachable!("handled above")
            }
        }
    }
}

impl EventKind {
    /// A fault event: `description` in words, `change` structured.
    pub fn fault(description: impl Into<String>, change: Option<Change>) -> EventKind {
        EventKind::Fault { description: description.into(), change }
    }
}

/// The run's set-up, in its first event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Start {
    /// The schema version ([`SCHEMA`] when written by this build).
    pub schema: u32,
    /// `sim` or `live`.
    pub engine: String,
    /// The voting members, sorted.
    pub nodes: Vec<NodeId>,
    /// The seed of the run (the simulator's network and every node's timeouts).
    pub seed: u64,
    /// The protocol's switchable parts on every node at the start.
    pub switches: Switches,
    /// The network's fault settings at the start.
    pub network: Network,
    /// `memory` or `disk`.
    pub storage: String,
    /// The state machines' session limits (they decide which sessions the log's entries
    /// expire, so what each node's map holds). Left out by the first logs of schema 2, which
    /// read as the defaults.
    #[serde(default)]
    pub sessions: crate::kv::SessionLimits,
    /// When the nodes snapshot (paper §7). Left out by logs written before snapshots existed,
    /// which read as never.
    #[serde(default = "crate::raft::SnapshotPolicy::off")]
    pub snapshots: crate::raft::SnapshotPolicy,
}

impl fmt::Display for Start {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes: Vec<String> = self.nodes.iter().map(ToString::to_string).collect();
        write!(
            f,
            "start: {} nodes ({}) on the {} engine, seed {}",
            self.nodes.len(),
            nodes.join(" "),
            self.engine,
            self.seed
        )?;
        let bugs = self.switches.describe();
        if !bugs.is_empty() {
            write!(f, ", {}", bugs.join(", "))?;
        }
        Ok(())
    }
}

/// What a restarted node recovered from its durable state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    /// Its term.
    #[serde(rename = "recovered_term")]
    pub term: Term,
    /// Its vote in that term.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vote: Option<NodeId>,
    /// Its last log entry (0@0 for an empty log; the snapshot's last entry if it holds no
    /// entry after its snapshot).
    pub last: EntryId,
    /// The last entry of the snapshot it recovered, if any (paper §7): its state machine starts
    /// from there, and its log after it. Left out when there is none.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub snapshot: Option<EntryId>,
}

impl Recovery {
    /// What a node recovered, if there was anything (a fresh node recovers nothing).
    pub fn of(r: &crate::raft::Recovered) -> Option<Recovery> {
        let last = r.entries.last().map_or(r.base, crate::raft::Entry::id);
        let fresh = r.hard_state.term == Term(0) && r.hard_state.vote.is_none() && last.index.0 == 0;
        let snapshot = r.snapshot.as_ref().map(|s| s.last);
        (!fresh).then_some(Recovery { term: r.hard_state.term, vote: r.hard_state.vote, last, snapshot })
    }
}

/// What a fault event changed, structured (the description says it in words).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A node was killed (its `crash` event follows).
    Kill(NodeId),
    /// A node was told to restart (its `restart` event follows, unless it could not).
    Restart(NodeId),
    /// A node was paused: it neither ticks nor receives.
    Pause(NodeId),
    /// A paused node was resumed.
    Resume(NodeId),
    /// A node's election timer was made to run out.
    Campaign(NodeId),
    /// The leader was asked to transfer its leadership to this node (thesis §3.10); the
    /// leader's `transfer_started` or `transfer_abandoned` tells what it did.
    Transfer(NodeId),
    /// The network's fault settings, whole, after the change.
    Network(Network),
    /// The time scale.
    Speed(f64),
    /// Time stopped.
    Freeze,
    /// Time runs again.
    Thaw,
    /// Time moved this many ticks by hand.
    Ticks(u32),
    /// A held message was delivered, dropped or duplicated by hand (`None`: the oldest).
    Held {
        /// The message's id.
        id: Option<u64>,
        /// `deliver`, `drop` or `duplicate`.
        action: String,
    },
    /// Every held message was delivered.
    ReleaseHeld,
    /// The protocol's switchable parts, on every node.
    Switches(Switches),
    /// A node could not start, or stopped on an error (its storage), and is down.
    Failed(NodeId),
}

/// How a client operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It took effect, and the client knows it.
    Ok,
    /// It certainly did not take effect.
    Failed,
    /// It may or may not have taken effect (a timeout, a lost answer).
    Unknown,
}

/// One client operation as its client saw it, in a `client` event written when it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// The operation.
    pub op: Op,
    /// The node it went through.
    pub via: NodeId,
    /// When it was invoked (ns on the run's clock; the event's time is when it returned).
    pub invoked: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Its session and sequence number, once registered.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<RequestId>,
    /// What a get read (`None`: not found, or not a get).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<String>,
    /// The error, if it failed or is unknown.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// For an operation of an external client (a Redis-protocol connection): the connection,
    /// `tcp 127.0.0.1:53412`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub conn: Option<String>,
    /// For an external client's operation that failed: the error reply it was answered, in its
    /// protocol's words (`TRYAGAIN no leader reachable from n2`), where `error` says why.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub answered: Option<String>,
}

impl ClientRecord {
    /// The `client` event of this operation, which took `latency` ns: its description in the
    /// console's words (`c4#2 put color=red via n2 → ok (0.6 ms)`), and the record.
    pub fn event(self, latency: u64) -> EventKind {
        let said = match (self.outcome, &self.op, &self.value, &self.error) {
            (Outcome::Ok, Op::Get { .. }, Some(v), _) => format!("ok {v}"),
            (Outcome::Ok, Op::Get { .. }, None, _) => "ok, not found".to_string(),
            (Outcome::Ok, _, _, _) => "ok".to_string(),
            (_, _, _, error) => format!("error: {}", error.as_deref().unwrap_or("unknown")),
        };
        let who = self.id.map_or_else(|| "unregistered".to_string(), |id| id.to_string());
        let ms = latency as f64 / 1e6;
        let took = if ms < 1000.0 { format!("{ms:.1} ms") } else { format!("{:.2} s", ms / 1e3) };
        let conn = self.conn.as_ref().map_or_else(String::new, |c| format!("{c} "));
        let description = format!("{conn}{who} {} via {} → {said} ({took})", self.op, self.via);
        EventKind::Client { description, op: Some(Box::new(self)) }
    }
}

/// One message in flight, as the event stream tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flying {
    /// Its id.
    pub id: u64,
    /// The message.
    pub message: Message,
    /// When it was sent (the event's time).
    pub sent: u64,
    /// Copies still on their way (a duplicate makes two).
    pub copies: u32,
}

/// The messages in flight (sent, and not yet delivered or dropped), kept from the event stream
/// alone: a `send` puts a message in, a `duplicate` adds a copy, a `deliver` or a `drop` takes
/// a copy out. Fates of messages sent before the stream was first seen are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InFlight {
    messages: BTreeMap<u64, Flying>,
}

impl InFlight {
    /// Most messages kept: beyond this the oldest are forgotten (a stream that lost events
    /// must not grow the console without bound).
    pub const CAPACITY: usize = 100_000;

    /// Takes one event into account.
    pub fn observe(&mut self, event: &Event) {
        match &event.kind {
            EventKind::Send { id, message } => {
                let flying = Flying { id: *id, message: message.clone(), sent: event.time, copies: 1 };
                self.messages.insert(*id, flying);
                if self.messages.len() > Self::CAPACITY {
                    self.messages.pop_first();
                }
            }
            EventKind::Duplicate { id, .. } => {
                if let Some(m) = self.messages.get_mut(id) {
                    m.copies += 1;
                }
            }
            EventKind::Deliver { id, .. } | EventKind::Drop { id, .. } => {
                if let Some(m) = self.messages.get_mut(id) {
                    m.copies = m.copies.saturating_sub(1);
                    if m.copies == 0 {
                        self.messages.remove(id);
                    }
                }
            }
            _ => {}
        }
    }

    /// Copies in flight in all.
    pub fn len(&self) -> usize {
        self.messages.values().map(|m| m.copies as usize).sum()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The messages in flight, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Flying> {
        self.messages.values()
    }

    /// The message with this id, if it is in flight.
    pub fn get(&self, id: u64) -> Option<&Flying> {
        self.messages.get(&id)
    }

    /// Copies in flight on each link (from, to).
    pub fn per_link(&self) -> BTreeMap<(NodeId, NodeId), usize> {
        let mut links = BTreeMap::new();
        for m in self.messages.values() {
            *links.entry((m.message.from, m.message.to)).or_insert(0) += m.copies as usize;
        }
        links
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{Body, Term};

    fn message(from: u64, to: u64) -> Message {
        Message {
            from: NodeId(from),
            to: NodeId(to),
            term: Term(1),
            body: Body::Heartbeat { commit: crate::raft::LogIndex(0), read_round: 0 },
        }
    }

    fn event(time: u64, kind: EventKind) -> Event {
        Event { seq: time, time, node: None, term: None, kind }
    }

    #[test]
    fn sends_pair_with_their_fates_by_id_and_duplicates_count_twice() {
        let mut book = InFlight::default();
        book.observe(&event(1, EventKind::Send { id: 7, message: message(1, 2) }));
        book.observe(&event(2, EventKind::Send { id: 8, message: message(1, 3) }));
        book.observe(&event(3, EventKind::Duplicate { id: 7, message: message(1, 2) }));
        assert_eq!(book.len(), 3);
        assert_eq!(book.per_link()[&(NodeId(1), NodeId(2))], 2);
        book.observe(&event(4, EventKind::Deliver { id: 7, message: message(1, 2) }));
        assert_eq!(book.get(7).map(|m| m.copies), Some(1), "one copy of m7 still on its way");
        book.observe(&event(5, EventKind::Drop { id: 7, message: message(1, 2), reason: "loss".into() }));
        assert!(book.get(7).is_none());
        assert_eq!(book.iter().map(|m| (m.id, m.sent)).collect::<Vec<_>>(), vec![(8, 2)]);
        // A fate without its send (sent before the stream was first seen) changes nothing.
        book.observe(&event(6, EventKind::Deliver { id: 3, message: message(2, 1) }));
        assert_eq!(book.len(), 1);
    }

    /// Messages to a node that crashes are dropped `crashed` by the engines (at delivery in the
    /// simulator, from the inbox the live node leaves behind), and leave the book with that.
    #[test]
    fn drops_at_a_crash_empty_the_book_and_the_capacity_holds() {
        let mut book = InFlight::default();
        book.observe(&event(1, EventKind::Send { id: 1, message: message(1, 2) }));
        book.observe(&event(2, EventKind::Crash));
        assert_eq!(book.len(), 1, "a crash alone does not decide the fate of what is on its way");
        book.observe(&event(3, EventKind::Drop { id: 1, message: message(1, 2), reason: "crashed".into() }));
        assert!(book.is_empty());
        for id in 0..(InFlight::CAPACITY as u64 + 10) {
            book.observe(&event(id, EventKind::Send { id, message: message(1, 2) }));
        }
        assert_eq!(book.len(), InFlight::CAPACITY);
        assert_eq!(book.iter().next().map(|m| m.id), Some(10), "the oldest were forgotten");
    }
}
