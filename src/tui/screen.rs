//! The plain data the screen is drawn from. Rendering reads only a [`ScreenState`], so it can be
//! tested without a terminal or a live cluster (the tests build one from a seeded simulation).

use super::feed::Feed;
use crate::control::NodeStatus;
use crate::events::InFlight;
use crate::kv::Op;
use crate::network::{Held, Network};
use crate::raft::{LogIndex, NodeId, Role, Switches};
pub use crate::replay::Mark;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Everything on the screen.
#[derive(Clone, Debug)]
pub struct ScreenState {
    /// One status per node, in id order.
    pub nodes: Vec<NodeStatus>,
    /// The network's fault settings.
    pub network: Network,
    /// Messages sent per second on each link (from, to), over the last two seconds.
    pub rates: BTreeMap<(NodeId, NodeId), f64>,
    /// The event feed: buffered events, filters, freeze and scroll.
    pub feed: Feed,
    /// Recent client operations, oldest first, pending ones included.
    pub clients: VecDeque<ClientLine>,
    /// How many of the newest client lines the clients panel is scrolled back past (0: the
    /// newest are shown).
    pub clients_scroll: usize,
    /// The checker's latest verdict on the session's history.
    pub verdict: VerdictView,
    /// The safety checks' findings on the event stream so far (`crate::safety`).
    pub safety: crate::safety::Report,
    /// The time scale (1.0 is real time).
    pub speed: f64,
    /// True while the whole cluster is frozen (space).
    pub frozen: bool,
    /// The selected node.
    pub selected: NodeId,
    /// What the keyboard is doing: the dashboard, a prompt, an editor or the help.
    pub mode: Mode,
    /// A message for the status line, if any.
    pub notice: Option<Notice>,
    /// Where durable state lives, in words ("in memory", "on disk").
    pub storage: String,
    /// The messages in flight, kept from the event stream.
    pub flight: InFlight,
    /// The copies a held network keeps for the user, oldest first (empty unless it is held).
    pub held: Vec<Held>,
    /// The engine's clock at the last poll, in nanoseconds (for the ages of messages).
    pub now: u64,
    /// The protocol's switchable parts, if the engine can switch them (the simulator).
    pub switches: Option<Switches>,
    /// Whether the user asked for the in-flight panel (`i`); it shows anyway while the network
    /// is held.
    pub show_flight: bool,
    /// In the history view, where in the past this screen stands (`None`: the present).
    pub history: Option<HistoryView>,
    /// The lesson being played, if any: the narration panel.
    pub lesson: Option<LessonView>,
}

/// What the narration panel shows of the lesson being played (`quorum lesson NAME`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LessonView {
    /// The lesson's title.
    pub title: String,
    /// Steps played (0: before the first).
    pub position: usize,
    /// Steps in all.
    pub total: usize,
    /// The title of the step shown (the one played last, or playing); `None` before the first.
    pub step: Option<String>,
    /// The narration shown: the step's, or the introduction before the first step.
    pub narration: Vec<String>,
    /// The next step's title, if there is one.
    pub next: Option<String>,
    /// The step is playing now.
    pub playing: bool,
    /// Why the last step failed, if it did.
    pub error: Option<String>,
    /// The user changed the cluster since the step (`b` returns to the lesson's state).
    pub diverged: bool,
}

impl ScreenState {
    /// An empty screen for `nodes` nodes that have not reported yet.
    pub fn new(members: &[NodeId], storage: &str) -> Self {
        use crate::control::RunState;
        ScreenState {
            nodes: members.iter().map(|&id| NodeStatus::unknown(id, RunState::Running)).collect(),
            network: Network::default(),
            rates: BTreeMap::new(),
            feed: Feed::default(),
            clients: VecDeque::new(),
            clients_scroll: 0,
            verdict: VerdictView::Empty,
            safety: crate::safety::Report::default(),
            speed: 1.0,
            frozen: false,
            selected: members.first().copied().unwrap_or(NodeId(1)),
            mode: Mode::Normal,
            notice: None,
            storage: storage.to_string(),
            flight: InFlight::default(),
            held: Vec::new(),
            now: 0,
            show_flight: false,
            switches: None,
            history: None,
            lesson: None,
        }
    }

    /// Whether the in-flight panel is on screen (if there is room for it).
    pub fn flight_shown(&self) -> bool {
        self.show_flight || self.network.holds() || matches!(self.mode, Mode::Flight { .. })
    }

    /// Whether this screen is rebuilt from the event log (the history view, a replay): what
    /// the events do not tell (timers, a leader's replication progress) is not on it.
    pub fn rebuilt(&self) -> bool {
        self.history.is_some()
    }

    /// Whether a copy of message `id` is held.
    pub fn is_held(&self, id: u64) -> bool {
        self.held.iter().any(|h| h.id == id)
    }

    /// The node ids, in order.
    pub fn members(&self) -> Vec<NodeId> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// The status of node `id`.
    pub fn node(&self, id: NodeId) -> Option<&NodeStatus> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The leader with the highest term among nodes that are up (running or paused), if any.
    pub fn leader(&self) -> Option<&NodeStatus> {
        use crate::control::RunState;
        self.nodes
            .iter()
            .filter(|n| matches!(n.run, RunState::Running | RunState::Paused) && n.role == Some(Role::Leader))
            .max_by_key(|n| n.term)
    }
}

/// What the keyboard is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The dashboard.
    Normal,
    /// The help overlay.
    Help,
    /// A one-line prompt.
    Prompt {
        /// What it asks for.
        kind: PromptKind,
        /// What was typed so far.
        input: String,
        /// Why the last attempt was refused, if it was.
        error: Option<String>,
    },
    /// The partition editor: each node's group (0, 1 or 2: A, B, C).
    Editor {
        /// Group of each node.
        groups: BTreeMap<NodeId, u8>,
        /// Why the last key was refused, if it was.
        error: Option<String>,
    },
    /// The switchable bugs: digits flip them.
    Switches {
        /// Why the last key was refused, if it was.
        error: Option<String>,
    },
    /// Choosing a message in the in-flight panel, to deliver, drop or duplicate it by hand.
    Flight {
        /// The chosen message's id (`None` while nothing is in flight).
        chosen: Option<u64>,
        /// Why the last key was refused, if it was.
        error: Option<String>,
    },
    /// The log cursor (`o`): one index selected, its entry shown on every node.
    Log {
        /// The selected index.
        index: LogIndex,
    },
    /// The history view (`v`, `quorum replay`): the screen stands at a past event, read-only.
    History,
    /// Picking a one-way link to cut or restore: the sender once picked.
    Pick {
        /// The sending node, once picked.
        from: Option<NodeId>,
        /// Why the last key was refused, if it was.
        error: Option<String>,
    },
}

/// Where the history view stands and what it shows, for the header, the feed and the layout.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryView {
    /// Events applied: the screen is the state after the first `at` events (0: before any).
    pub at: usize,
    /// Events in the session (or the file) so far.
    pub total: usize,
    /// The time of the last event applied (ns on the run's clock).
    pub time: u64,
    /// The number of the last event applied (the feed's highlighted line, `#N` in the safety
    /// line and in `quorum replay --at N`); `None` before the first.
    pub seq: Option<u64>,
    /// The number of the newest event.
    pub newest: Option<u64>,
    /// The kind of event `n` and `N` jump to.
    pub mark: Mark,
    /// What the panel beside the network shows.
    pub lower: Lower,
    /// For `quorum replay`: the file (or seed) replayed; `None` for the session's own past.
    pub replay: Option<String>,
    /// Whether it is playing (space).
    pub playing: bool,
    /// The play speed: seconds of the run per second of the wall clock.
    pub play_speed: f64,
    /// What the space-time diagram draws: the events up to the cursor (the last of them is
    /// the cursor's), as many as a screen can show.
    pub window: std::sync::Arc<Vec<crate::events::Event>>,
    /// What the client timeline draws: the operations invoked by the cursor's time (those that
    /// return later are drawn pending).
    pub ops: std::sync::Arc<Vec<crate::replay::ClientOp>>,
}

/// What the history view's lower panel (beside the network) shows; `v` cycles it. The
/// space-time diagram and the client timeline are drawn by widgets of their own
/// (`view::draw_lower`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lower {
    /// The event feed up to the cursor, its event highlighted (with the messages in flight).
    #[default]
    Feed,
    /// A space-time diagram of the messages around the cursor.
    SpaceTime,
    /// The client operations as bars on a time axis, following the cursor.
    ClientTimeline,
}

impl Lower {
    /// The next one in the cycle.
    pub fn next(self) -> Lower {
        match self {
            Lower::Feed => Lower::SpaceTime,
            Lower::SpaceTime => Lower::ClientTimeline,
            Lower::ClientTimeline => Lower::Feed,
        }
    }

    /// Its name, for notices.
    pub fn name(self) -> &'static str {
        match self {
            Lower::Feed => "the event feed",
            Lower::SpaceTime => "the space-time diagram",
            Lower::ClientTimeline => "the client timeline",
        }
    }
}

/// What a prompt asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptKind {
    /// `key=value` to put.
    Put,
    /// A key to get.
    Get,
    /// A loss percentage.
    Loss,
    /// A delay range in milliseconds.
    Delay,
}

/// A message in the status line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The words.
    pub text: String,
    /// True for an error (shown in red).
    pub error: bool,
}

/// One client operation in the clients panel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientLine {
    /// The console's number for it.
    pub op: u64,
    /// The node it was sent through.
    pub via: NodeId,
    /// What was asked: a put or a get.
    pub request: Op,
    /// How it ended, once it has.
    pub outcome: Option<ClientOutcome>,
    /// For an operation of an external client (a Redis-protocol connection): the connection,
    /// `tcp 127.0.0.1:53412`; `None` for the console's own and a lesson's.
    pub conn: Option<String>,
}

/// How a client operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientOutcome {
    /// The request's identity: the console's session and the operation's number (`c7#3`);
    /// `None` if no session could be registered.
    pub id: Option<crate::kv::RequestId>,
    /// For a get, the value read (`None`: absent); for a put, `None`. Or the error.
    pub result: Result<Option<String>, String>,
    /// For an error: true if it certainly had no effect, false if it may still take effect.
    pub definite: bool,
    /// From the request to the answer.
    pub latency: Duration,
    /// What an external client was answered, as `redis-cli` shows it (`OK`, `"red"`, `(nil)`,
    /// `(error) TRYAGAIN no leader reachable from n2`); `None` if not known here (the
    /// console's own operations, and lines rebuilt from the event log).
    pub reply: Option<String>,
}

impl ClientOutcome {
    /// The outcome of an operation that came to `result` after `latency`.
    pub fn of(result: &Result<crate::control::Answer, crate::control::OpError>, latency: Duration) -> Self {
        ClientOutcome {
            id: result.as_ref().map_or_else(|e| e.id, |a| Some(a.id)),
            result: result
                .as_ref()
                .map(|a| match &a.reply {
                    crate::kv::Reply::Get { value } => value.clone(),
                    _ => None,
                })
                .map_err(ToString::to_string),
            definite: result.as_ref().err().is_some_and(|e| e.definite),
            latency,
            reply: None,
        }
    }
}

/// The checker's verdict, for display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerdictView {
    /// No operation has completed yet.
    Empty,
    /// Linearizable, with the number of operations checked.
    Linearizable {
        /// Operations checked.
        ops: usize,
        /// Operations that failed with no effect, which the check leaves out (said on screen, so
        /// the count is not mistaken for every operation).
        failed: usize,
    },
    /// Not linearizable.
    NotLinearizable {
        /// The key where no order works.
        key: String,
        /// Why, in words.
        reason: String,
    },
    /// The checker hit its time limit, or the history could not be read.
    Unknown {
        /// Why.
        reason: String,
    },
}
