//! The one control interface both engines implement: the deterministic simulator
//! (`sim::SimEngine`, virtual time) and the live cluster (`cluster::LiveCluster`, one thread per
//! node, real time). Whatever drives a cluster (the console, the nemesis, the headless runs)
//! drives it through [`Control`] and never needs to know which engine runs it.
//!
//! Also here, because both engines need them: what a node looks like from outside
//! ([`NodeStatus`]), client sessions over either engine's way of reaching a node
//! ([`client::Client`] over a [`client::Transport`]), and the event hub that numbers events and
//! hands them to the event file, the screen and subscribers ([`hub`]).

pub mod client;
pub mod hub;
mod status;

pub use client::{
    Answer, Attempt, Client, ClientOptions, OpError, OpFailure, Reserved, SessionState, Transport,
};
pub use status::{NodeStatus, RunState};

use crate::events::{Event, EventKind};
use crate::network::{Held, HeldAction, Network};
use crate::raft::{NodeId, Switches};
use crossbeam_channel::Receiver;

/// Why an engine could not carry out an order.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// There is no such node.
    #[error("there is no node {0}")]
    NoSuchNode(NodeId),
    /// This engine cannot do that (for example switch bugs on the live cluster).
    #[error("{0}")]
    Unsupported(&'static str),
    /// The operating system refused (a thread could not be started, a file opened).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A fork was asked at an event that has not happened.
    #[error("there is no event {asked} yet (the run has {events})")]
    NoSuchEvent {
        /// The event asked for.
        asked: u64,
        /// How many events the run has.
        events: u64,
    },
    /// There is no branch of that number (or it was forgotten: only a few are kept).
    #[error("there is no branch {0}")]
    NoSuchBranch(u32),
    /// A leadership transfer was asked, and no node leads.
    #[error("there is no leader to transfer leadership from")]
    NoLeader,
    /// A leadership transfer was asked to the node that leads already.
    #[error("{0} is the leader already")]
    AlreadyLeads(NodeId),
    /// A leadership transfer was asked while the leader is paused (it can send nothing).
    #[error("the leader {0} is paused: it cannot hand over until resumed")]
    LeaderPaused(NodeId),
    /// Re-executing the run did not give what was recorded: the run is not deterministic, or
    /// an input was not recorded. Nothing changed; this is a bug of the simulator.
    #[error("re-execution diverged: {0}")]
    Diverged(String),
}

/// The leader a leadership transfer to `target` goes through, judged from every node's status
/// ([`Control::transfer_leadership`]): the node that believes it leads with the highest term
/// (then the highest id) among the nodes that are up, paused ones included, which refuse.
pub fn transfer_source(nodes: &[NodeStatus], target: NodeId) -> Result<NodeId, ControlError> {
    if !nodes.iter().any(|s| s.id == target) {
        return Err(ControlError::NoSuchNode(target));
    }
    let leader = nodes
        .iter()
        .filter(|s| matches!(s.run, RunState::Running | RunState::Paused))
        .filter(|s| s.role == Some(crate::raft::Role::Leader))
        .max_by_key(|s| (s.term, s.id))
        .ok_or(ControlError::NoLeader)?;
    if leader.id == target {
        return Err(ControlError::AlreadyLeads(target));
    }
    if leader.run == RunState::Paused {
        return Err(ControlError::LeaderPaused(leader.id));
    }
    Ok(leader.id)
}

/// One branch of a simulated run ([`Control::branches`]). The original run is branch 1; a fork
/// starts a new branch from a past event of the current one and keeps the one it leaves. Each
/// branch is a complete, linear run from the seed, with its own event file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Branch {
    /// 1 for the original run, then 2, 3, ... in the order the branches were made.
    pub number: u32,
    /// The branch it was forked from, and the last event the two share (`None` for branch 1).
    pub parent: Option<(u32, u64)>,
    /// How many events it has (the current branch: so far).
    pub events: u64,
    /// The virtual time it has reached, in ns (the current branch: now).
    pub now: u64,
    /// It is the branch running now.
    pub current: bool,
    /// Its event file, from its event 0, if events go to a file.
    pub events_file: Option<std::path::PathBuf>,
}

/// What a fork or a switch of branch did ([`Control::fork`], [`Control::switch_branch`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fork {
    /// The branch running now.
    pub branch: Branch,
    /// The branch left; it is kept, and [`Control::switch_branch`] returns to it.
    pub left: u32,
    /// The last event of the branch now running: it continues with event `after_event + 1`.
    /// For a fork at event k this is k, or a later event of the same step: a step (one moment's
    /// deliveries and ticks) or an input (a request, a kill, ...) emits several events, and
    /// re-execution never stops inside one.
    pub after_event: u64,
}

/// A place in a simulated run to come back to ([`Control::bookmark`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bookmark {
    /// The engine's number for it.
    pub id: u64,
    /// The branch it is on.
    pub branch: u32,
    /// How many events the run had.
    pub events: u64,
    /// The virtual time, in ns.
    pub now: u64,
}

/// What can be done to a running cluster, by the console or the nemesis, on either engine.
///
/// Every method takes `&self` (an engine is shared between the console's threads) and may block
/// briefly. Orders are silent: the engine records only what the cluster itself does (a node
/// crashed, restarted, sent or received a message); who gives an order records why with
/// [`Control::record`], in its own words.
pub trait Control: Send + Sync {
    /// The node ids, sorted.
    fn members(&self) -> Vec<NodeId>;
    /// The engine's clock: nanoseconds since the cluster started (virtual in the simulator).
    /// Events and client histories are stamped with it.
    fn now_nanos(&self) -> u64;
    /// Every node's state.
    fn status(&self) -> Vec<NodeStatus>;
    /// The node that believes it leads with the highest term, among the nodes that are up.
    fn leader(&self) -> Option<NodeId> {
        self.status()
            .into_iter()
            .filter(|s| s.run == RunState::Running && s.role == Some(crate::raft::Role::Leader))
            .max_by_key(|s| s.term)
            .map(|s| s.id)
    }
    /// The nodes that run now, paused ones included: the ones a request can reach. The
    /// default asks every status; an engine may know it more cheaply.
    fn nodes_up(&self) -> Vec<NodeId> {
        self.status()
            .into_iter()
            .filter(|s| matches!(s.run, RunState::Running | RunState::Paused))
            .map(|s| s.id)
            .collect()
    }
    /// The network's fault settings now.
    fn network(&self) -> Network;
    /// Changes the network's fault settings; takes effect at once (messages already on their
    /// way are judged again when they are due). A change that ends a hold delivers every held
    /// message at once.
    fn change_network(&self, change: &mut dyn FnMut(&mut Network));
    /// The time scale: 1.0 is normal, 0.05 is 1/20.
    fn speed(&self) -> f64;
    /// Sets the time scale (clamped to 0.05 to 10).
    fn set_speed(&self, speed: f64);
    /// Kills a node: its volatile state is lost, its durable state stays.
    fn kill(&self, id: NodeId);
    /// Restarts a killed or crashed node from its durable state (nothing if it runs). A node
    /// whose storage cannot be read stays crashed, with the reason in its status.
    fn restart(&self, id: NodeId) -> Result<(), ControlError>;
    /// Pauses a node: it neither ticks nor receives; messages to it wait.
    fn pause(&self, id: NodeId);
    /// Resumes a paused node; it receives what waited, in order.
    fn resume(&self, id: NodeId);
    /// Makes a node's election timer expire now.
    fn campaign(&self, id: NodeId);
    /// Asks the leader to transfer its leadership to `target` (thesis §3.10), and returns the
    /// leader asked: the node that leads with the highest term among the nodes that are up, as
    /// the engine sees it now. The leader's events tell the rest: the transfer started, then
    /// finished (the target won an election) or was abandoned (the target is down or lost;
    /// writes are refused until then). A down target is allowed: the leader abandons the
    /// transfer after an election timeout. Refused when no node leads, when `target` leads
    /// already, or when the leader is paused.
    fn transfer_leadership(&self, target: NodeId) -> Result<NodeId, ControlError>;
    /// Freezes the cluster's time: no node ticks (no timer runs out, no heartbeat is due) and
    /// client timeouts stop counting. Messages are still handled: a message delivered by hand,
    /// or a client request, is handled at once.
    fn freeze(&self);
    /// Ends a freeze: timers and client timeouts run again.
    fn thaw(&self);
    /// Moves time on by `ticks` ticks on every running node, frozen or not (time by hand).
    fn advance_ticks(&self, ticks: u32);
    /// The messages a held network keeps for the user ([`Network::set_hold`]), oldest first.
    fn held(&self) -> Vec<Held>;
    /// Delivers, drops or duplicates the oldest held copy of message `id` (the oldest held
    /// message if `None`). False if there is no such message.
    fn act_on_held(&self, id: Option<u64>, action: HeldAction) -> bool;
    /// Delivers every held message now, oldest first. What they cause follows the network's
    /// mode: held again while it is held.
    fn release_held(&self);
    /// The protocol's switchable parts now, if this engine can switch them (the simulator).
    fn switches(&self) -> Option<Switches>;
    /// Switches a hazard, PreVote or CheckQuorum on every node, now and after restarts.
    fn set_switches(&self, switches: Switches) -> Result<(), ControlError>;
    /// Writes an event of the caller's own (a fault, a client's view of an operation) to the
    /// event log, stamped now.
    fn record(&self, node: Option<NodeId>, kind: EventKind);
    /// A new client session (thesis §6.3); it registers on its first operation.
    fn client(&self, options: ClientOptions) -> Client;
    /// Continues the run from a past event of the current branch, as a new branch (the
    /// simulator only): it rebuilds the world from the seed, re-executes the recorded inputs
    /// up to the end of the step that emits event `after_event`, checks that every event is
    /// the same as before, and goes live from there. The branch left is kept
    /// ([`Control::branches`]). Client operations waiting in the old branch end with a timeout
    /// (and retry in the new one); subscriptions end ([`Control::subscribe`]).
    fn fork(&self, after_event: u64) -> Result<Fork, ControlError> {
        let _ = after_event;
        Err(ControlError::Unsupported("only the simulator forks a run"))
    }
    /// The branches kept, oldest first, the current one among them (empty if this engine
    /// does not fork).
    fn branches(&self) -> Vec<Branch> {
        Vec::new()
    }
    /// Goes back to branch `number` where it was left, by re-executing it from the seed, as
    /// [`Control::fork`] does (the branch left is kept in turn).
    fn switch_branch(&self, number: u32) -> Result<Fork, ControlError> {
        let _ = number;
        Err(ControlError::Unsupported("only the simulator forks a run"))
    }
    /// Waits until no client thread is deciding what to do next: every one the engine woke (an
    /// answer came, a back-off ended) has sent its next request, parked or left (the
    /// simulator; a few seconds at most). A lesson calls it after each action, so that what a
    /// client does about an answer comes before whatever the lesson does next, every time.
    fn settle(&self) {}
    /// Remembers where the run is now, to come back to exactly with [`Control::rewind`] (the
    /// simulator only). A lesson takes one after every step.
    fn bookmark(&self) -> Result<Bookmark, ControlError> {
        Err(ControlError::Unsupported("only the simulator goes back to a bookmark"))
    }
    /// Takes the current branch back to `bookmark`, by re-executing it from the seed as
    /// [`Control::fork`] does, but keeps no branch of what is left: the steps after the
    /// bookmark are undone, not put aside (a lesson's `b`). The world is as it was then, to its
    /// clock and its counters, so what is done next plays as it did the first time. Client
    /// operations waiting end with a timeout; subscriptions end.
    fn rewind(&self, bookmark: &Bookmark) -> Result<Fork, ControlError> {
        let _ = bookmark;
        Err(ControlError::Unsupported("only the simulator goes back to a bookmark"))
    }
    /// A channel that receives every event from now on (`None` if events are not recorded).
    ///
    /// The channel disconnects when the engine finishes, and when the stream goes back (a fork
    /// or a switch of branch): the events numbered from then on are another branch's, and
    /// `seq` starts again below what was seen. A subscriber that sees its channel disconnect
    /// subscribes again (`None`: the engine has finished), forgets the highest `seq` it saw
    /// and whatever it built from the events, and reads [`Control::recent_events`], which now
    /// holds the new branch's latest events up to where it goes live.
    fn subscribe(&self) -> Option<Receiver<Event>>;
    /// The most recent events, oldest first, `max` at most.
    fn recent_events(&self, max: usize) -> Vec<Event>;
    /// Waits (a few seconds at most) until every event recorded so far is in the event file.
    /// False if it timed out.
    fn flush_events(&self) -> bool;
    /// Stops every node and waits until the event file is complete. The engine does nothing
    /// more afterwards.
    fn finish(&self) -> std::io::Result<()>;
}
