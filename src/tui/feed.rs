//! The event feed: a bounded buffer of recent events, sorted into categories for filtering and
//! colouring, that can be frozen and scrolled while the cluster goes on; and the per-link
//! message rates computed from send events.
//!
//! Heartbeats (and their answers and drops) are several per second per follower and would drown
//! everything else, so they have a small buffer of their own: the "heartbeats" filter shows it,
//! and the network panel counts them in the message rates.

use crate::events::{Event, EventKind, NodeEventKind};
use crate::raft::{Body, Message, NodeId};
use std::collections::{BTreeMap, VecDeque};

/// Events kept for the feed (heartbeats excluded).
pub const FEED_CAPACITY: usize = 2000;
/// Heartbeat events kept.
pub const HEARTBEAT_CAPACITY: usize = 300;
/// The window over which message rates are computed, in nanoseconds.
pub const RATE_WINDOW: u64 = 2_000_000_000;

/// What an event is about, for filters and colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Timeouts, role changes, votes, pre-votes.
    Election,
    /// Appends, commits, applies, AppendEntries traffic.
    Replication,
    /// Client requests and replies, reads, the console's own client lines.
    Client,
    /// Faults injected, crashes, restarts, dropped messages.
    Fault,
    /// Heartbeats and their answers (and their drops).
    Heartbeat,
}

fn message_category(message: &Message) -> Category {
    match message.body {
        Body::PreVote { .. }
        | Body::PreVoteResponse { .. }
        | Body::RequestVote { .. }
        | Body::RequestVoteResponse { .. }
        | Body::TimeoutNow => Category::Election,
        Body::AppendEntries { .. }
        | Body::AppendEntriesResponse { .. }
        | Body::InstallSnapshot { .. }
        | Body::InstallSnapshotResponse { .. } => Category::Replication,
        Body::Heartbeat { .. } | Body::HeartbeatResponse { .. } => Category::Heartbeat,
        Body::ClientRequest { .. } | Body::ClientResponse { .. } => Category::Client,
    }
}

/// The category of an event.
pub fn category(event: &Event) -> Category {
    match &event.kind {
        EventKind::Send { message, .. }
        | EventKind::Deliver { message, .. }
        | EventKind::Duplicate { message, .. }
        | EventKind::Node(NodeEventKind::Ignore { message, .. }) => message_category(message),
        EventKind::Drop { message, .. } => match message_category(message) {
            Category::Heartbeat => Category::Heartbeat,
            _ => Category::Fault,
        },
        EventKind::Node(NodeEventKind::Timeout)
        | EventKind::Node(NodeEventKind::Role { .. })
        | EventKind::Node(NodeEventKind::Vote { .. })
        | EventKind::Node(NodeEventKind::TransferStarted { .. })
        | EventKind::Node(NodeEventKind::TransferFinished { .. })
        | EventKind::Node(NodeEventKind::TransferAbandoned { .. }) => Category::Election,
        EventKind::Node(NodeEventKind::Append { .. })
        | EventKind::Node(NodeEventKind::Truncate { .. })
        | EventKind::Node(NodeEventKind::SnapshotTaken { .. })
        | EventKind::Node(NodeEventKind::SnapshotSend { .. })
        | EventKind::Node(NodeEventKind::SnapshotInstalled { .. })
        | EventKind::Node(NodeEventKind::Commit { .. })
        | EventKind::Node(NodeEventKind::Apply { .. }) => Category::Replication,
        EventKind::Node(NodeEventKind::ClientRequest { .. })
        | EventKind::Node(NodeEventKind::ClientReply { .. })
        | EventKind::Node(NodeEventKind::ReadIndex { .. }) => Category::Client,
        EventKind::Client { .. } => Category::Client,
        EventKind::Crash | EventKind::Restart { .. } | EventKind::Fault { .. } | EventKind::Start(_) => {
            Category::Fault
        }
    }
}

/// Whether an event concerns node `id`: it happened there, or is a message from or to it.
/// Events of no node (faults injected from the console) concern everyone.
pub fn involves(event: &Event, id: NodeId) -> bool {
    match &event.kind {
        EventKind::Send { message, .. }
        | EventKind::Deliver { message, .. }
        | EventKind::Drop { message, .. }
        | EventKind::Duplicate { message, .. }
        | EventKind::Node(NodeEventKind::Ignore { message, .. }) => {
            message.from == id || message.to == id || event.node == Some(id)
        }
        _ => event.node.is_none_or(|n| n == id),
    }
}

/// The text of a feed line (without the time): the event's narration.
pub fn narrate(event: &Event) -> String {
    event.to_string()
}

/// Which kinds of events the feed shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KindFilter {
    /// Everything except heartbeats.
    #[default]
    All,
    /// Elections only.
    Elections,
    /// Replication only.
    Replication,
    /// Clients only.
    Clients,
    /// Faults only.
    Faults,
    /// Heartbeats only.
    Heartbeats,
}

impl KindFilter {
    /// The next filter in the cycle.
    pub fn next(self) -> KindFilter {
        match self {
            KindFilter::All => KindFilter::Elections,
            KindFilter::Elections => KindFilter::Replication,
            KindFilter::Replication => KindFilter::Clients,
            KindFilter::Clients => KindFilter::Faults,
            KindFilter::Faults => KindFilter::Heartbeats,
            KindFilter::Heartbeats => KindFilter::All,
        }
    }

    /// Its name in the feed's title.
    pub fn name(self) -> &'static str {
        match self {
            KindFilter::All => "all kinds",
            KindFilter::Elections => "elections",
            KindFilter::Replication => "replication",
            KindFilter::Clients => "clients",
            KindFilter::Faults => "faults",
            KindFilter::Heartbeats => "heartbeats",
        }
    }

    fn admits(self, c: Category) -> bool {
        match self {
            KindFilter::All => c != Category::Heartbeat,
            KindFilter::Elections => c == Category::Election,
            KindFilter::Replication => c == Category::Replication,
            KindFilter::Clients => c == Category::Client,
            KindFilter::Faults => c == Category::Fault,
            KindFilter::Heartbeats => c == Category::Heartbeat,
        }
    }
}

/// The feed's buffers and view settings.
#[derive(Clone, Debug, Default)]
pub struct Feed {
    /// Recent events without heartbeats, oldest first; at most [`FEED_CAPACITY`].
    pub events: VecDeque<Event>,
    /// Recent heartbeat events; at most [`HEARTBEAT_CAPACITY`].
    pub heartbeats: VecDeque<Event>,
    /// Events that arrived while the feed was frozen, shown when it follows again.
    pub pending: VecDeque<Event>,
    /// Events that arrived while frozen but no longer fit in `pending` (still in the export).
    pub missed: u64,
    /// The kind filter.
    pub kind: KindFilter,
    /// Only this node's events, or every node's.
    pub node: Option<NodeId>,
    /// While frozen, new events wait in `pending` and the view stands still.
    pub frozen: bool,
    /// How many lines the view is scrolled back from the newest.
    pub scroll: usize,
    /// The event shown highlighted whatever the filters (the history view's cursor), by its
    /// sequence number.
    pub highlight: Option<u64>,
}

fn push_bounded(buffer: &mut VecDeque<Event>, event: Event, capacity: usize) -> bool {
    let full = buffer.len() >= capacity;
    if full {
        buffer.pop_front();
    }
    buffer.push_back(event);
    full
}

impl Feed {
    /// Adds an event (to `pending` while frozen). Deliveries are left out: each send line
    /// already narrates the message, and a drop has its own line; they stay in the export.
    pub fn push(&mut self, event: Event) {
        if matches!(event.kind, EventKind::Deliver { .. }) {
            return;
        }
        if self.frozen {
            if push_bounded(&mut self.pending, event, FEED_CAPACITY) {
                self.missed += 1;
            }
        } else if category(&event) == Category::Heartbeat {
            push_bounded(&mut self.heartbeats, event, HEARTBEAT_CAPACITY);
        } else {
            push_bounded(&mut self.events, event, FEED_CAPACITY);
        }
    }

    /// Forgets every event (the stream went back to another branch); filters stay.
    pub fn clear(&mut self) {
        self.events.clear();
        self.heartbeats.clear();
        self.pending.clear();
        self.missed = 0;
        self.scroll = 0;
    }

    /// Freezes the view where it is.
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// Follows the newest events again: what waited is added and the scroll is reset.
    pub fn follow(&mut self) {
        self.frozen = false;
        self.scroll = 0;
        self.missed = 0;
        for event in std::mem::take(&mut self.pending) {
            self.push(event);
        }
    }

    /// The events the filters let through, oldest first.
    pub fn visible(&self) -> Vec<&Event> {
        let source = if self.kind == KindFilter::Heartbeats { &self.heartbeats } else { &self.events };
        source
            .iter()
            .filter(|e| {
                Some(e.seq) == self.highlight
                    || (self.kind.admits(category(e)) && self.node.is_none_or(|n| involves(e, n)))
            })
            .collect()
    }
}

/// Counts send events per link over a sliding window to give messages per second.
#[derive(Clone, Debug, Default)]
pub struct Rates {
    sends: VecDeque<(u64, NodeId, NodeId)>,
}

impl Rates {
    /// Most sends remembered (a burst beyond this only lowers the shown rate).
    const CAPACITY: usize = 100_000;

    /// Notes a send event.
    pub fn observe(&mut self, event: &Event) {
        if let EventKind::Send { message, .. } = &event.kind {
            if self.sends.len() >= Self::CAPACITY {
                self.sends.pop_front();
            }
            self.sends.push_back((event.time, message.from, message.to));
        }
    }

    /// Messages per second on each link over the window ending at `now` (cluster nanoseconds).
    pub fn per_link(&mut self, now: u64) -> BTreeMap<(NodeId, NodeId), f64> {
        let start = now.saturating_sub(RATE_WINDOW);
        while self.sends.front().is_some_and(|&(t, _, _)| t < start) {
            self.sends.pop_front();
        }
        let seconds = (now.min(RATE_WINDOW) as f64 / 1e9).max(0.5);
        let mut counts: BTreeMap<(NodeId, NodeId), f64> = BTreeMap::new();
        for &(_, from, to) in &self.sends {
            *counts.entry((from, to)).or_default() += 1.0;
        }
        counts.values_mut().for_each(|c| *c /= seconds);
        counts
    }
}
