//! What the user asked for ([`Action`], produced by the keymap) and what the console asks of the
//! cluster ([`Command`], produced by the app and carried out off the interface thread).

use crate::kv::Op;
use crate::network::HeldAction;
use crate::raft::{NodeId, Switches};

/// A user intent, after the keymap has interpreted a key. Digit actions carry the digit (1-9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Select the previous (-1) or next (+1) node.
    Move(i8),
    /// Select node `nD`.
    SelectNode(u8),
    /// Select the current leader.
    SelectLeader,
    /// Open the put prompt.
    Put,
    /// Open the get prompt.
    Get,
    /// Kill the selected node.
    Kill,
    /// Restart the selected node.
    Restart,
    /// Pause or resume the selected node.
    TogglePause,
    /// Make the selected node time out and campaign.
    Campaign,
    /// Ask the leader to transfer its leadership to the selected node.
    Transfer,
    /// Open the partition editor.
    PartitionEditor,
    /// Start picking a one-way link to cut or restore.
    Cut,
    /// Remove every partition, cut, loss and delay.
    Heal,
    /// Open the loss prompt.
    Loss,
    /// Open the delay prompt.
    Delay,
    /// Double the speed (or the next step up).
    Faster,
    /// Halve the speed (or the next step down).
    Slower,
    /// Pause every node, or resume those the user did not pause.
    Freeze,
    /// Export the event log and the client history.
    Export,
    /// Hold the network (every message waits for the user), or release it.
    Hold,
    /// Deliver the oldest held message.
    DeliverOldest,
    /// Show the in-flight panel and choose among its messages.
    FlightPanel,
    /// While frozen: advance time by one tick.
    Tick,
    /// While frozen: advance time until the next timer fires.
    NextTimer,
    /// In the in-flight panel: choose an older (negative) or newer (positive) message.
    FlightMove(i8),
    /// In the in-flight panel: deliver the chosen message.
    DeliverChosen,
    /// In the in-flight panel: drop the chosen message.
    DropChosen,
    /// In the in-flight panel: duplicate the chosen message.
    DuplicateChosen,
    /// Deliver every held message at once.
    ReleaseAll,
    /// Open the switchable bugs (simulator only).
    Bugs,
    /// Among the switchable bugs: flip switch `D`.
    Toggle(u8),
    /// Cycle the event feed's kind filter.
    FeedKind,
    /// Show only the selected node's events, or all nodes'.
    FeedNode,
    /// Freeze or unfreeze the event feed.
    FeedFreeze,
    /// Scroll the feed back (positive) or forward (negative) by lines.
    Scroll(i8),
    /// Scroll the feed back (positive) or forward (negative) by pages.
    Page(i8),
    /// Unfreeze the feed and follow the newest events.
    Follow,
    /// Scroll the clients panel back (positive: older lines) or forward by lines.
    ClientsScroll(i8),
    /// Enter the log cursor, at the newest index.
    LogCursor,
    /// In the log cursor: the previous (-1) or next (+1) index.
    LogStep(i8),
    /// In the log cursor: the first index any node reports.
    LogFirst,
    /// In the log cursor: the last index any node holds.
    LogLast,
    /// Turn the lecture pace on (slow time, a delay on every message) or back off.
    Lecture,
    /// Open the history view of the session, at the newest event.
    History,
    /// In the history view: move this many events back (negative) or forward.
    HistoryStep(i16),
    /// In the history view: back to before the first event.
    HistoryStart,
    /// In the history view: to the newest event.
    HistoryEnd,
    /// In the history view: to the next (+1) or previous (-1) event of the chosen kind.
    HistoryMark(i8),
    /// In the history view: the next kind of event to jump to.
    HistoryKind,
    /// In the history view: play or pause.
    HistoryPlay,
    /// In the history view: play faster (+1) or slower (-1).
    HistorySpeed(i8),
    /// In the history view: the next lower panel (feed, space-time, client timeline).
    HistoryLower,
    /// Go on from the history view's event as a new branch of the simulated past (`F`).
    HistoryFork,
    /// Go back to the next branch of the simulated past, where it was left (`B`).
    SwitchBranch,
    /// In a lesson: play the next step (`n`); while a step plays, finish it at once.
    LessonNext,
    /// In a lesson: go back a step, or to the lesson's state if the user changed the cluster.
    LessonBack,
    /// Show the help overlay.
    Help,
    /// Leave the console.
    Quit,
    /// In a prompt: type a character.
    Type(char),
    /// In a prompt: delete the last character.
    Backspace,
    /// In a prompt: clear the input.
    ClearInput,
    /// In a prompt or editor: carry it out.
    Submit,
    /// In a prompt, editor or overlay: close it without doing anything.
    Cancel,
    /// In the partition editor: move node `nD` to the next group.
    CycleGroup(u8),
    /// While picking a link: pick node `nD`.
    PickNode(u8),
}

impl Action {
    /// Whether the action changes the cluster (or asks it something): refused in the history
    /// view, which shows the past read-only.
    pub fn acts_on_cluster(self) -> bool {
        !matches!(
            self,
            Action::Move(_)
                | Action::SelectNode(_)
                | Action::SelectLeader
                | Action::FeedKind
                | Action::FeedNode
                | Action::FeedFreeze
                | Action::Scroll(_)
                | Action::Page(_)
                | Action::Follow
                | Action::ClientsScroll(_)
                | Action::LogCursor
                | Action::History
                | Action::Help
                | Action::Quit
        )
    }

    /// The same action for digit `d` (digit bindings are written with 0 in the keymap).
    pub fn with_digit(self, d: u8) -> Action {
        match self {
            Action::SelectNode(_) => Action::SelectNode(d),
            Action::CycleGroup(_) => Action::CycleGroup(d),
            Action::PickNode(_) => Action::PickNode(d),
            Action::Toggle(_) => Action::Toggle(d),
            other => other,
        }
    }
}

/// Something to do to the cluster. Commands run in order on the console's control thread (client
/// operations each on a thread of their own), never on the interface thread.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Run a client operation through node `via`; `op` numbers it for the clients panel.
    Client {
        /// The console's number for this operation.
        op: u64,
        /// The node to contact (the client is pinned to it).
        via: NodeId,
        /// What to do: a put or a get (the console never sends a register).
        request: Op,
    },
    /// Kill a node.
    Kill(NodeId),
    /// Restart a node.
    Restart(NodeId),
    /// Pause a node.
    Pause(NodeId),
    /// Resume a node.
    Resume(NodeId),
    /// Make a node time out and campaign.
    Campaign(NodeId),
    /// Ask the leader, whoever it is when the command is carried out, to transfer its
    /// leadership to this node.
    Transfer(NodeId),
    /// Split the nodes into groups that cannot reach each other; empty removes the partition.
    Partition(Vec<Vec<NodeId>>),
    /// Cut the one-way link from the first node to the second.
    Cut(NodeId, NodeId),
    /// Restore the one-way link from the first node to the second.
    Restore(NodeId, NodeId),
    /// Remove every partition and cut, and reset loss and delay to none.
    Heal,
    /// Set the probability of losing a message, in [0, 1].
    SetLoss(f64),
    /// Set the delivery delay range, in milliseconds.
    SetDelay(u64, u64),
    /// Set the time scale.
    SetSpeed(f64),
    /// Hold the network, or let it go (which delivers what it held).
    Hold(bool),
    /// Deliver, drop or duplicate one held message (the oldest if `None`).
    Held(Option<u64>, HeldAction),
    /// Deliver every held message.
    ReleaseHeld,
    /// Switch hazards, PreVote and CheckQuorum on every node.
    SetSwitches(Switches),
    /// Move time on by this many ticks (frozen or not).
    AdvanceTicks(u32),
    /// Freeze the cluster's time (nodes do not tick; messages are still handled).
    Freeze,
    /// Let time run again.
    Thaw,
    /// Export the event log and the client history.
    Export,
    /// Go on from just after event `seq` of the past as a new branch (the simulator).
    Fork(u64),
    /// Go back to another branch where it was left: the next one after the current if `None`.
    SwitchBranch(Option<u32>),
    /// Play the lesson's next step.
    LessonNext,
    /// Go back a step of the lesson (or to its state, if the user changed the cluster).
    LessonBack,
    /// Finish the step playing now at once (carried out at once, ahead of the queue).
    LessonHurry,
}
