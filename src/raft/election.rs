//! Elections and leadership: the election timer, the pre-candidate, candidate and leader
//! transitions, vote handling, and CheckQuorum with the leader lease.
//!
//! Rules implemented here: randomized election timeouts, one vote per term made durable before
//! it is announced, and a majority to win (paper §5.2, Figure 2 RequestVote); the up-to-date
//! check on the candidate's log (paper §5.4.1); a no-op at the start of each term (paper §8);
//! PreVote (thesis §9.6); CheckQuorum and the leader lease that ignores vote requests while a
//! leader is known to be alive (thesis §6.2, §4.2.3).

use super::client::{ClientError, Response};
use super::event::NodeEventKind;
use super::message::Body;
use super::node::{RaftNode, Role};
use super::progress::Progress;
use super::quorum;
use super::state::StateMachine;
use super::{EntryId, NodeId, Term};
use rand::RngExt;

impl<S: StateMachine> RaftNode<S> {
    /// True while this node has heard from a live leader within the minimum election timeout
    /// (or is that leader). Thesis §9.6: a pre-vote is refused then.
    fn heard_from_leader(&self) -> bool {
        self.leader.is_some() && self.election_elapsed < self.config.election_timeout_min
    }

    /// With CheckQuorum, the same condition is a lease: real vote requests are ignored too
    /// (thesis §6.2 / §4.2.3), so a disruptive server cannot depose a healthy leader.
    pub(super) fn in_lease(&self) -> bool {
        self.config.check_quorum && self.heard_from_leader()
    }

    /// An AppendEntries or Heartbeat in our term comes from that term's one leader: follow it.
    pub(super) fn follow(&mut self, from: NodeId) {
        if self.role != Role::Follower || self.leader != Some(from) {
            self.become_follower(self.term, Some(from), None);
        }
        self.election_elapsed = 0;
    }

    pub(super) fn become_follower(&mut self, term: Term, leader: Option<NodeId>, reason: Option<String>) {
        let higher_term = term > self.term;
        if higher_term {
            self.term = term;
            self.vote = None;
            self.hard_state_dirty = true;
        }
        let was_leader = self.role == Role::Leader;
        let leader_changed = self.leader != leader;
        self.role = Role::Follower;
        self.leader = leader;
        self.reset_election_timer();
        if was_leader {
            self.abandon_leadership();
        }
        if leader_changed {
            self.abandon_forwarded();
        }
        self.emit(NodeEventKind::Role { role: Role::Follower, leader, reason });
        self.end_transfer(higher_term);
    }

    pub(super) fn start_election(&mut self) {
        if self.config.pre_vote {
            self.become_pre_candidate(false);
        } else {
            self.become_candidate(false);
        }
    }

    /// Thesis §9.6: ask for pre-votes for term+1 without changing any durable state.
    /// `transfer`: the leader asked for this election (thesis §3.10).
    pub(super) fn become_pre_candidate(&mut self, transfer: bool) {
        let was_leader = self.role == Role::Leader;
        self.role = Role::PreCandidate;
        self.leader = None;
        self.abandon_forwarded();
        if was_leader {
            self.abandon_leadership();
        }
        self.reset_election_timer();
        self.votes.clear();
        self.votes.insert(self.id(), true);
        self.emit(NodeEventKind::Role { role: Role::PreCandidate, leader: None, reason: None });
        self.end_transfer(false);
        self.campaign_transfer = transfer;
        let last = self.log.last();
        let term = self.term.next();
        for peer in self.peers.clone() {
            self.send_with_term(peer, term, Body::PreVote { last, transfer });
        }
        self.poll_votes();
    }

    /// Paper §5.2: increment the term, vote for yourself, ask everyone for votes. `transfer`:
    /// the leader asked for this election (thesis §3.10), which the vote requests say.
    pub(super) fn become_candidate(&mut self, transfer: bool) {
        self.term = self.term.next();
        self.vote = Some(self.id());
        self.hard_state_dirty = true;
        self.role = Role::Candidate;
        self.leader = None;
        self.abandon_forwarded();
        self.reset_election_timer();
        self.votes.clear();
        self.votes.insert(self.id(), true);
        self.emit(NodeEventKind::Role { role: Role::Candidate, leader: None, reason: None });
        self.emit(NodeEventKind::Vote { candidate: self.id() });
        let last = self.log.last();
        for peer in self.peers.clone() {
            self.send(peer, Body::RequestVote { last, transfer });
        }
        self.poll_votes();
    }

    /// Paper §5.2 and §8: the new leader resets its view of followers and appends a no-op of its
    /// own term, whose commitment tells it (and its reads) what is committed.
    fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.id());
        self.heartbeat_elapsed = 0;
        self.election_elapsed = 0;
        let next = self.log.last_index().next();
        self.progress = self.peers.iter().map(|&p| (p, Progress::new(next))).collect();
        self.read_round = 0;
        self.reads.clear();
        self.emit(NodeEventKind::Role { role: Role::Leader, leader: Some(self.id()), reason: None });
        self.term_start = next;
        self.append_entry(None);
        // Thesis §6.2: every follower counts as heard-from at the start of the term.
        for p in self.progress.values_mut() {
            p.recent_active = true;
        }
    }

    /// Counts a (pre-)vote and acts on a majority either way (paper §5.2).
    pub(super) fn record_vote(&mut self, from: NodeId, granted: bool) {
        self.votes.entry(from).or_insert(granted);
        self.poll_votes();
    }

    fn poll_votes(&mut self) {
        let voters = self.peers.len() + 1;
        let granted = self.votes.values().filter(|&&g| g).count();
        let rejected = self.votes.len() - granted;
        if quorum::has_majority(granted, voters) {
            match self.role {
                Role::PreCandidate => self.become_candidate(self.campaign_transfer),
                Role::Candidate => self.become_leader(),
                _ => {}
            }
        } else if quorum::has_majority(rejected, voters) {
            self.become_follower(self.term, None, Some("lost the election".into()));
        }
    }

    /// Paper §5.4.1: a candidate's log is at least as up to date as ours if its last term is
    /// higher, or the last terms are equal and its last index is at least ours (pitfall 9:
    /// compare the term first).
    fn log_up_to_date(&self, last: EntryId) -> bool {
        let mine = self.log.last();
        last.term > mine.term || (last.term == mine.term && last.index >= mine.index)
    }

    /// Thesis §9.6: grant a pre-vote for a higher term if the candidate's log is up to date
    /// and we have not heard from a live leader recently (or that leader asked for this
    /// election: a transfer, thesis §3.10). Nothing durable changes.
    pub(super) fn handle_pre_vote(&mut self, from: NodeId, term: Term, last: EntryId, transfer: bool) {
        let granted =
            term > self.term && self.log_up_to_date(last) && (transfer || !self.heard_from_leader());
        let reply_term = if granted { term } else { self.term };
        self.send_with_term(from, reply_term, Body::PreVoteResponse { granted, voter_term: self.term });
    }

    /// Paper Figure 2, RequestVote: grant if we have not voted for someone else in this term
    /// and the candidate's log is up to date. The vote is made durable before the answer leaves
    /// (the answer goes in `persisted_messages`; pitfall 3).
    pub(super) fn handle_request_vote(&mut self, from: NodeId, last: EntryId) {
        let can_vote = self.vote == Some(from) || (self.vote.is_none() && self.leader.is_none());
        let granted = can_vote && self.log_up_to_date(last);
        if granted && self.vote != Some(from) {
            self.vote = Some(from);
            self.hard_state_dirty = true;
            self.election_elapsed = 0;
            self.emit(NodeEventKind::Vote { candidate: from });
        }
        self.send(from, Body::RequestVoteResponse { granted });
    }

    /// Thesis §6.2, CheckQuorum: a leader that has not heard from a majority during the last
    /// election timeout steps down, so a leader cut off from the majority stops serving.
    pub(super) fn check_quorum(&mut self) -> bool {
        let active = 1 + self.progress.values().filter(|p| p.recent_active).count();
        for p in self.progress.values_mut() {
            p.recent_active = false;
        }
        if quorum::has_majority(active, self.peers.len() + 1) {
            return true;
        }
        self.become_follower(self.term, None, Some("check quorum: no contact with a majority".into()));
        false
    }

    pub(super) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        self.randomized_timeout =
            self.rng.random_range(self.config.election_timeout_min..self.config.election_timeout_max);
    }

    /// Leadership is over: unanswered reads fail (a deposed leader never answers them, pitfall
    /// 1). Pending writes stay: their fate is decided when their index is applied (pitfall 12).
    fn abandon_leadership(&mut self) {
        self.progress.clear();
        self.append_wanted = false;
        self.read_round_wanted = false;
        for read in std::mem::take(&mut self.reads) {
            let response = Response { id: read.request.id, result: Err(ClientError::LeadershipLost) };
            self.reply(read.origin, response);
        }
    }
}
