//! Leadership transfer (thesis §3.10): a leader hands its leadership to a chosen follower
//! without a crash, as an operator does before taking a server down, and as a teacher does to
//! show an election on demand.
//!
//! The protocol:
//! 1. The leader stops accepting new writes (they are refused at once, nothing proposed), so
//!    its log stops growing and the target can catch up.
//! 2. It replicates to the target as usual until the target's match index is its last index.
//! 3. It sends the target `TimeoutNow`. The target starts an election at once, marking its
//!    pre-votes and vote requests as a transfer so that voters that have just heard from the
//!    leader do not refuse them for that (PreVote, thesis §9.6) or ignore them under the
//!    leader lease (thesis §6.2). Its log is as up to date as any, so it can win; its higher
//!    term makes the old leader step down, which ends the transfer. The pre-vote round (when
//!    PreVote is on) still checks the log: a `TimeoutNow` that arrives late, after the leader
//!    abandoned the transfer and committed more, finds no majority and changes no term, so it
//!    cannot depose the healthy leader (script `transfer_late_timeout_now_ignored`).
//! 4. If the transfer does not end within an election timeout (the target is down, cut off, or
//!    lost the election), the leader abandons it and accepts writes again.

use super::NodeId;
use super::event::NodeEventKind;
use super::message::Body;
use super::node::{RaftNode, Role};
use super::progress::ReplicationState;
use super::state::StateMachine;

/// A transfer under way.
#[derive(Clone, Debug)]
pub(super) struct Transfer {
    /// The node that should become leader.
    pub(super) target: NodeId,
    /// Ticks since it started.
    elapsed: u32,
    /// `TimeoutNow` has been sent.
    told: bool,
}

impl<S: StateMachine> RaftNode<S> {
    /// Asks this node, if it leads, to transfer its leadership to `target` (thesis §3.10).
    /// What happens is told by events: the transfer started, or why it was not (this node
    /// does not lead, the target is itself or no member), and later finished or abandoned.
    pub fn transfer_leadership(&mut self, target: NodeId) {
        self.assert_not_persisting();
        let refusal = if self.role != Role::Leader {
            Some("this node is not the leader")
        } else if target == self.id() {
            Some("the target already leads")
        } else if !self.peers.contains(&target) {
            Some("the target is not a member")
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.emit(NodeEventKind::TransferAbandoned { target, reason: reason.into() });
            return;
        }
        match self.transfer.take() {
            Some(t) if t.target == target => {
                self.transfer = Some(t);
                return;
            }
            Some(t) => {
                let reason = format!("superseded by a transfer to {target}");
                self.emit(NodeEventKind::TransferAbandoned { target: t.target, reason });
            }
            None => {}
        }
        self.transfer = Some(Transfer { target, elapsed: 0, told: false });
        self.emit(NodeEventKind::TransferStarted { target });
        self.maybe_timeout_now();
        // Step 2 starts now: a probe the target has not answered is sent again at once rather
        // than at the next heartbeat answer, since the transfer has an election timeout only.
        if let Some(pr) = self.progress.get_mut(&target)
            && pr.state == ReplicationState::Probe
        {
            pr.probe_sent = false;
        }
        self.append_wanted = true;
    }

    /// Step 3: once the target's log matches the leader's last entry, tell it to campaign.
    pub(super) fn maybe_timeout_now(&mut self) {
        let last = self.log.last_index();
        let Some(t) = self.transfer.as_mut() else { return };
        let caught_up = self.progress.get(&t.target).is_some_and(|p| p.match_index == last);
        if t.told || !caught_up {
            return;
        }
        t.told = true;
        let target = t.target;
        self.send(target, Body::TimeoutNow);
    }

    /// Step 4: a transfer not done within an election timeout is abandoned.
    pub(super) fn tick_transfer(&mut self) {
        let limit = self.config.election_timeout_min;
        let Some(t) = self.transfer.as_mut() else { return };
        t.elapsed += 1;
        if t.elapsed >= limit {
            let target = t.target;
            self.transfer = None;
            let reason = "not done within an election timeout; accepting writes again".to_string();
            self.emit(NodeEventKind::TransferAbandoned { target, reason });
        }
    }

    /// The leader steps down: a transfer under way ends, done if a higher term deposed it.
    pub(super) fn end_transfer(&mut self, higher_term: bool) {
        let Some(t) = self.transfer.take() else { return };
        if higher_term {
            self.emit(NodeEventKind::TransferFinished { target: t.target });
        } else {
            let reason = "the leader stepped down".to_string();
            self.emit(NodeEventKind::TransferAbandoned { target: t.target, reason });
        }
    }

    /// The target's side: the leader of this term says to campaign now.
    pub(super) fn handle_timeout_now(&mut self, from: NodeId) {
        if self.role == Role::Leader {
            return;
        }
        let _ = from;
        self.emit(NodeEventKind::Timeout);
        if self.config.pre_vote {
            self.become_pre_candidate(true);
        } else {
            self.become_candidate(true);
        }
    }
}
