//! One Raft node: roles, elections, replication, commitment, reads and client requests.
//! The rules implemented are cited at each handler; the driver contract is in the module docs
//! of [`super`].

use super::client::{ClientError, Command, Request, RequestId, Response};
use super::config::{Config, Hazard};
use super::event::{NodeEvent, NodeEventKind};
use super::log::Log;
use super::message::{Body, Entry, Message, RejectHint};
use super::progress::{Progress, ReplicationState};
use super::quorum;
use super::requests::{Origin, PendingRead, PendingWrite};
use super::state::{HardState, Recovered, StateMachine};
use super::{EntryId, LogIndex, NodeId, Term};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;

/// A node's role (paper §5.1, plus the pre-candidate of thesis §9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking for pre-votes before bumping its term.
    PreCandidate,
    /// Campaigning for leadership in its term.
    Candidate,
    /// The leader of its term.
    Leader,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Follower => "follower",
            Role::PreCandidate => "pre-candidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        })
    }
}

/// Everything a driver must act on after feeding the node some input. See the contract in
/// [`super`]: persist `hard_state` and `entries`, send `messages` (at once) and
/// `persisted_messages` (only after persisting), hand `replies` to local clients, record
/// `events`, then call [`RaftNode::advance`].
#[derive(Clone, Debug, Default)]
pub struct Ready {
    /// New term and vote to make durable, if they changed.
    pub hard_state: Option<HardState>,
    /// Log entries to make durable: drop stored entries from this index on, then write these.
    pub entries: Option<(LogIndex, Vec<Entry>)>,
    /// Messages that may go out before the writes above are durable (a leader's appends and
    /// heartbeats: the leader may write its own log in parallel, thesis §10.2.1).
    pub messages: Vec<Message>,
    /// Messages that must wait until the writes above are durable (votes, append answers, ...).
    pub persisted_messages: Vec<Message>,
    /// Answers to clients connected to this node.
    pub replies: Vec<Response>,
    /// What happened, in order (the driver wraps each in the crate's `events::Event` and stamps
    /// it with a sequence number and a time).
    pub events: Vec<NodeEvent>,
}

/// One Raft node with its state machine `S`. Pure and deterministic: time advances only
/// through [`RaftNode::tick`], randomness comes from the seeded RNG of its [`Config`].
pub struct RaftNode<S> {
    pub(super) config: Config,
    /// The other members, sorted (for deterministic output).
    pub(super) peers: Vec<NodeId>,
    // Durable state (paper Figure 2).
    pub(super) term: Term,
    pub(super) vote: Option<NodeId>,
    pub(super) log: Log,
    // Volatile state.
    pub(super) role: Role,
    pub(super) leader: Option<NodeId>,
    /// Highest index known committed. Invariant: never decreases; never beyond the log's end.
    pub(super) commit: LogIndex,
    /// Highest index known durable in local storage. Invariant: applied <= min(commit, persisted).
    persisted: LogIndex,
    /// The replicated state machine. Invariant: applied <= min(commit, persisted).
    pub(super) state: S,
    pub(super) election_elapsed: u32,
    pub(super) heartbeat_elapsed: u32,
    pub(super) randomized_timeout: u32,
    /// Logical clock in ticks since start (for in-flight ages only).
    pub(super) ticks: u64,
    /// The session clock (thesis §6.3), in ticks: at least the time of every command in the
    /// log, and one more at every tick. A leader stamps each command it appends with it, so
    /// times never decrease along the log and the state machine expires sessions by them.
    pub(super) clock: u64,
    pub(super) votes: BTreeMap<NodeId, bool>,
    // Leader state.
    pub(super) progress: BTreeMap<NodeId, Progress>,
    /// Index of this leader's no-op: reads must wait until it is committed (thesis §6.4 step 1).
    pub(super) term_start: LogIndex,
    pub(super) read_round: u64,
    pub(super) read_round_wanted: bool,
    pub(super) reads: VecDeque<PendingRead>,
    pub(super) append_wanted: bool,
    pub(super) pending_writes: BTreeMap<LogIndex, PendingWrite>,
    /// Requests this node forwarded, by id: the node forwarded to (only its answer counts, so a
    /// late answer from an earlier leader is never taken for the answer to a retry) and the
    /// tick it left at (a lost forward is abandoned after a while).
    pub(super) forwarded: BTreeMap<RequestId, (NodeId, u64)>,
    pub(super) rng: Xoshiro256PlusPlus,
    // Output accumulated until the next `ready()`.
    pub(super) hard_state_dirty: bool,
    pub(super) out: Ready,
    /// Set between `ready()` and `advance()`: the log end that is being persisted.
    persisting: Option<LogIndex>,
}

impl<S: StateMachine> RaftNode<S> {
    /// Starts a node from its durable state (empty for a brand-new node) and a fresh state
    /// machine. Everything volatile starts afresh: follower, no leader known, commit 0, the state
    /// machine empty (it is rebuilt by re-applying the log once the commit index is learned
    /// again).
    pub fn new(config: Config, recovered: Recovered, state: S) -> Self {
        if let Err(e) = config.validate() {
            panic!("invalid config: {e}");
        }
        let mut peers: Vec<NodeId> = config.members.iter().copied().filter(|&m| m != config.id).collect();
        peers.sort();
        peers.dedup();
        let log = Log::recover(recovered.base, recovered.entries);
        // Times never decrease along the log: the last command holds the highest.
        let clock = log.entries().iter().rev().find_map(|e| e.command.as_ref()).map_or(0, |c| c.time());
        let mut node = RaftNode {
            rng: Xoshiro256PlusPlus::seed_from_u64(config.seed),
            peers,
            term: recovered.hard_state.term,
            vote: recovered.hard_state.vote,
            persisted: log.last_index(),
            commit: recovered.base.index,
            log,
            role: Role::Follower,
            leader: None,
            state,
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_timeout: 0,
            ticks: 0,
            clock,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            term_start: LogIndex(0),
            read_round: 0,
            read_round_wanted: false,
            reads: VecDeque::new(),
            append_wanted: false,
            pending_writes: BTreeMap::new(),
            forwarded: BTreeMap::new(),
            hard_state_dirty: false,
            out: Ready::default(),
            persisting: None,
            config,
        };
        node.reset_election_timer();
        node
    }

    // ---------------------------------------------------------------- observers

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.config.id
    }
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// Current term.
    pub fn term(&self) -> Term {
        self.term
    }
    /// The vote cast in the current term.
    pub fn vote(&self) -> Option<NodeId> {
        self.vote
    }
    /// Current role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// The leader this node follows (itself when leader).
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    /// Highest committed index known here.
    pub fn commit_index(&self) -> LogIndex {
        self.commit
    }
    /// Highest applied index.
    pub fn applied_index(&self) -> LogIndex {
        self.state.applied()
    }
    /// The log.
    pub fn log(&self) -> &Log {
        &self.log
    }
    /// The state machine.
    pub fn state_machine(&self) -> &S {
        &self.state
    }
    /// Ticks since the election timer was last reset, and the timeout it counts to.
    pub fn election_timer(&self) -> (u32, u32) {
        match self.role {
            Role::Leader => (self.election_elapsed, self.config.election_timeout_min),
            _ => (self.election_elapsed, self.randomized_timeout),
        }
    }
    /// The leader's view of each follower: (follower, match index, next index).
    pub fn replication(&self) -> Vec<(NodeId, LogIndex, LogIndex)> {
        self.progress.iter().map(|(&id, p)| (id, p.match_index, p.next_index)).collect()
    }

    // ---------------------------------------------------------------- inputs

    /// Advances time by one tick: followers and candidates count towards an election timeout;
    /// a leader sends heartbeats and runs CheckQuorum.
    pub fn tick(&mut self) {
        self.assert_not_persisting();
        self.ticks += 1;
        self.clock += 1;
        self.election_elapsed += 1;
        if self.role == Role::Leader {
            self.heartbeat_elapsed += 1;
            if self.election_elapsed >= self.config.election_timeout_min {
                self.election_elapsed = 0;
                if self.config.check_quorum && !self.check_quorum() {
                    return;
                }
            }
            if self.heartbeat_elapsed >= self.config.heartbeat_interval {
                self.heartbeat_elapsed = 0;
                self.broadcast_heartbeat();
            }
        } else if self.election_elapsed >= self.randomized_timeout {
            self.emit(NodeEventKind::Timeout);
            self.start_election();
        }
        self.expire_forwarded();
        self.maybe_apply();
    }

    /// Makes this node time out now and campaign (the console's "time out" key). A leader
    /// ignores it. Other nodes still apply PreVote and the leader lease, so a forced timeout
    /// does not depose a healthy leader.
    pub fn campaign(&mut self) {
        self.assert_not_persisting();
        if self.role != Role::Leader {
            self.emit(NodeEventKind::Timeout);
            self.start_election();
        }
    }

    /// Feeds a message from another node.
    pub fn step(&mut self, msg: Message) {
        self.assert_not_persisting();
        if msg.to != self.id() {
            return;
        }
        // Client traffic is independent of terms: handle it whatever the sender's term.
        match msg.body {
            Body::ClientRequest { request } => {
                self.handle_client_request(request, Origin::Node(msg.from));
                self.maybe_apply();
                return;
            }
            Body::ClientResponse { response } => {
                self.handle_client_response(msg.from, response);
                return;
            }
            _ => {}
        }
        if !self.check_term(&msg) {
            return;
        }
        if self.role == Role::Leader
            && matches!(msg.body, Body::AppendEntries { .. } | Body::Heartbeat { .. })
        {
            // Two leaders in one term would break Election Safety (paper §5.2); never follow.
            self.ignore(&msg, "a second leader in this term: election safety violated");
            return;
        }
        let from = msg.from;
        match msg.body {
            Body::PreVote { last } => self.handle_pre_vote(from, msg.term, last),
            Body::PreVoteResponse { granted } => {
                if self.role == Role::PreCandidate && msg.term == self.term.next() {
                    self.record_vote(from, granted);
                }
            }
            Body::RequestVote { last } => self.handle_request_vote(from, last),
            Body::RequestVoteResponse { granted } => {
                if self.role == Role::Candidate {
                    self.record_vote(from, granted);
                }
            }
            Body::AppendEntries { prev, entries, commit } => {
                self.follow(from);
                self.handle_append_entries(from, prev, entries, commit);
            }
            Body::AppendEntriesResponse { index, reject } => {
                if self.role == Role::Leader {
                    self.handle_append_response(from, index, reject);
                }
            }
            Body::Heartbeat { commit, read_round } => {
                self.follow(from);
                self.handle_heartbeat(from, commit, read_round);
            }
            Body::HeartbeatResponse { read_round } => {
                if self.role == Role::Leader {
                    self.handle_heartbeat_response(from, read_round);
                }
            }
            Body::ClientRequest { .. } | Body::ClientResponse { .. } => unreachable!("handled above"),
        }
        self.maybe_apply();
    }

    /// A client request arriving at this node (from a client connected to it).
    pub fn client_request(&mut self, request: Request) {
        self.assert_not_persisting();
        self.handle_client_request(request, Origin::Local);
        self.maybe_apply();
    }

    // ---------------------------------------------------------------- output

    /// True if [`RaftNode::ready`] has anything to hand over.
    pub fn has_ready(&self) -> bool {
        self.hard_state_dirty
            || self.append_wanted
            || self.read_round_wanted
            || self.log_unstable()
            || !self.out.messages.is_empty()
            || !self.out.persisted_messages.is_empty()
            || !self.out.replies.is_empty()
            || !self.out.events.is_empty()
    }

    fn log_unstable(&self) -> bool {
        self.log.has_unstable()
    }

    /// Takes the accumulated output. The caller must act on it (see [`Ready`]) and then call
    /// [`RaftNode::advance`] before feeding any other input.
    pub fn ready(&mut self) -> Ready {
        self.assert_not_persisting();
        self.flush();
        let mut ready = std::mem::take(&mut self.out);
        if self.hard_state_dirty {
            ready.hard_state = Some(HardState { term: self.term, vote: self.vote });
            self.hard_state_dirty = false;
        }
        ready.entries = self.log.take_unstable();
        self.persisting = Some(self.log.last_index());
        ready
    }

    /// Tells the node that everything in the last [`Ready`] is durable and sent. The leader may
    /// now count its own log towards commitment (pitfall 6: never before it is durable), and
    /// entries up to the commit index can be applied.
    pub fn advance(&mut self) {
        let Some(last) = self.persisting.take() else {
            panic!("advance() without a preceding ready()");
        };
        debug_assert_eq!(last, self.log.last_index(), "the log changed between ready() and advance()");
        self.persisted = last;
        if self.role == Role::Leader {
            self.maybe_commit();
        }
        self.maybe_apply();
    }

    fn assert_not_persisting(&self) {
        assert!(self.persisting.is_none(), "input fed between ready() and advance()");
    }

    // ---------------------------------------------------------------- terms and roles

    /// Paper Figure 2, "All Servers": a message with a higher term makes the receiver adopt it
    /// and become follower; a message with a lower term is answered with our term (so a stale
    /// leader or candidate learns it is stale) or ignored. Exceptions: PreVote messages never
    /// change terms (thesis §9.6), and a vote request is ignored while a leader is known to be
    /// alive (thesis §6.2, "leader lease" for disruptive servers, §4.2.3). Returns false if the
    /// message must not be processed further.
    fn check_term(&mut self, msg: &Message) -> bool {
        if msg.term > self.term {
            match &msg.body {
                Body::PreVote { .. } | Body::PreVoteResponse { granted: true } => {}
                Body::RequestVote { .. } if self.in_lease() => {
                    self.ignore(msg, "leader lease: heard from the leader within the election timeout");
                    return false;
                }
                Body::AppendEntries { .. } | Body::Heartbeat { .. } => {
                    self.become_follower(msg.term, Some(msg.from), None);
                }
                _ => self.become_follower(msg.term, None, None),
            }
            true
        } else if msg.term < self.term {
            match &msg.body {
                Body::AppendEntries { prev, .. } => {
                    let hint = RejectHint { last_index: self.log.last_index(), conflict: None };
                    self.send(
                        msg.from,
                        Body::AppendEntriesResponse { index: prev.index, reject: Some(hint) },
                    );
                }
                Body::Heartbeat { .. } => self.send(msg.from, Body::HeartbeatResponse { read_round: 0 }),
                Body::PreVote { .. } => self.send(msg.from, Body::PreVoteResponse { granted: false }),
                Body::RequestVote { .. } => self.send(msg.from, Body::RequestVoteResponse { granted: false }),
                _ => self.ignore(msg, "stale term"),
            }
            false
        } else {
            true
        }
    }

    // ---------------------------------------------------------------- replication (follower)

    /// Paper Figure 2, AppendEntries receiver: reject unless the log holds `prev` (the
    /// consistency check); truncate only at a real conflict (same index, different term;
    /// pitfall 4: never because a message is stale or reordered); append what is new; advance
    /// the commit index to min(leader commit, index of the last new entry).
    fn handle_append_entries(&mut self, from: NodeId, prev: EntryId, entries: Vec<Entry>, commit: LogIndex) {
        if !self.log.matches(prev) {
            let last_index = self.log.last_index();
            let conflict = self
                .log
                .term(prev.index)
                .map(|term| EntryId { index: self.log.first_index_of_term(term, prev.index), term });
            let reject = RejectHint { last_index, conflict };
            self.send(from, Body::AppendEntriesResponse { index: prev.index, reject: Some(reject) });
            return;
        }
        let last_new = LogIndex(prev.index.0 + entries.len() as u64);
        let mut appended: Option<(EntryId, EntryId)> = None;
        for entry in entries {
            match self.log.term(entry.index) {
                Some(t) if t == entry.term => continue,
                Some(_) => {
                    assert!(
                        entry.index > self.commit,
                        "a conflict below the commit index: committed entries differ"
                    );
                    let removed = self.log.truncate(entry.index);
                    if let (Some(first), Some(last)) = (removed.first(), removed.last()) {
                        self.emit(NodeEventKind::Truncate { first: first.id(), last: last.id() });
                    }
                    self.persisted = self.persisted.min(entry.index.prev());
                }
                None => {}
            }
            let id = entry.id();
            if let Some(c) = &entry.command {
                self.clock = self.clock.max(c.time());
            }
            self.log.append(entry);
            appended = Some((appended.map_or(id, |(f, _)| f), id));
        }
        if let Some((first, last)) = appended {
            self.emit(NodeEventKind::Append { first, last });
        }
        let new_commit = commit.min(last_new);
        if new_commit > self.commit {
            self.commit_to(new_commit);
        }
        self.send(from, Body::AppendEntriesResponse { index: last_new, reject: None });
    }

    /// A heartbeat: the leader is alive; its commit index is capped at what we are known to
    /// hold, so it is safe to adopt (up to our log's end). Echo the read round (thesis §6.4).
    fn handle_heartbeat(&mut self, from: NodeId, commit: LogIndex, read_round: u64) {
        let new_commit = commit.min(self.log.last_index());
        if new_commit > self.commit {
            self.commit_to(new_commit);
        }
        self.send(from, Body::HeartbeatResponse { read_round });
    }

    // ---------------------------------------------------------------- replication (leader)

    /// Appends a new entry of the current term to the leader's log and schedules replication.
    pub(super) fn append_entry(&mut self, command: Option<Arc<Command>>) -> LogIndex {
        let index = self.log.last_index().next();
        let entry = Entry { index, term: self.term, command };
        let id = entry.id();
        self.log.append(entry);
        self.emit(NodeEventKind::Append { first: id, last: id });
        self.append_wanted = true;
        index
    }

    /// Sends to `to` as many AppendEntries as flow control allows (paper §5.3; pipelining and
    /// batching as in etcd's and raft-rs's progress tracking).
    fn send_appends(&mut self, to: NodeId) {
        loop {
            let Some(pr) = self.progress.get(&to) else { return };
            let last_index = self.log.last_index();
            match pr.state {
                ReplicationState::Probe if pr.probe_sent => return,
                ReplicationState::Replicate
                    if pr.inflight.len() >= self.config.max_inflight || pr.next_index > last_index =>
                {
                    return;
                }
                _ => {}
            }
            let next = pr.next_index;
            let prev_index = next.prev();
            let Some(prev_term) = self.log.term(prev_index) else {
                panic!("leader lacks entry {prev_index} that it needs to replicate (no snapshots yet)");
            };
            let entries = self.log.slice(next, self.config.max_entries_per_append);
            let ticks = self.ticks;
            let Some(pr) = self.progress.get_mut(&to) else { return };
            let probing = pr.state == ReplicationState::Probe;
            if probing {
                pr.probe_sent = true;
            } else if let Some(last) = entries.last() {
                pr.next_index = last.index.next();
                pr.inflight.push_back((last.index, ticks));
            }
            let prev = EntryId { index: prev_index, term: prev_term };
            self.send(to, Body::AppendEntries { prev, entries, commit: self.commit });
            if probing {
                return;
            }
        }
    }

    /// Handles a follower's answer. On success, the match point advances and the commit index
    /// may follow. On rejection, back off using the follower's hint: to the end of its log if it
    /// is short, else past every entry of the conflicting term in one step (paper §5.3).
    fn handle_append_response(&mut self, from: NodeId, index: LogIndex, reject: Option<RejectHint>) {
        let last_index = self.log.last_index();
        let Some(pr) = self.progress.get_mut(&from) else { return };
        pr.recent_active = true;
        match reject {
            None => {
                if pr.record_match(index) {
                    self.maybe_commit();
                }
            }
            Some(hint) => {
                // Stale: an answer to something older than what we already know matches, or a
                // probe other than the one outstanding.
                if index <= pr.match_index
                    || (pr.state == ReplicationState::Probe && index != pr.next_index.prev())
                {
                    return;
                }
                let next = if hint.last_index < index {
                    hint.last_index.next()
                } else if let Some(conflict) = hint.conflict {
                    let candidate = self.log.last_index_with_term_at_most(conflict.term, index);
                    if self.log.term(candidate) == Some(conflict.term) {
                        candidate.next()
                    } else {
                        conflict.index
                    }
                } else {
                    index
                };
                let next = next.min(index).min(last_index.next()).max(self.log.first_index());
                if let Some(pr) = self.progress.get_mut(&from) {
                    pr.become_probe(next);
                }
            }
        }
        self.send_appends(from);
    }

    fn handle_heartbeat_response(&mut self, from: NodeId, read_round: u64) {
        let last_index = self.log.last_index();
        let ticks = self.ticks;
        let stall = u64::from(self.config.heartbeat_interval) * 2;
        let Some(pr) = self.progress.get_mut(&from) else { return };
        pr.recent_active = true;
        pr.read_round = pr.read_round.max(read_round);
        if pr.match_index < last_index {
            match pr.state {
                ReplicationState::Probe => pr.probe_sent = false,
                ReplicationState::Replicate => {
                    // An append in flight for two heartbeat intervals was probably lost.
                    if pr.inflight.front().is_some_and(|&(_, sent)| ticks.saturating_sub(sent) >= stall) {
                        let next = pr.match_index.next();
                        pr.become_probe(next);
                    }
                }
            }
            self.send_appends(from);
        }
        self.serve_reads();
    }

    fn broadcast_heartbeat(&mut self) {
        for peer in self.peers.clone() {
            let match_index = self.progress.get(&peer).map_or(LogIndex(0), |p| p.match_index);
            let commit = self.commit.min(match_index);
            self.send(peer, Body::Heartbeat { commit, read_round: self.read_round });
        }
    }

    /// Paper §5.3-5.4.2 and Figure 8: the commit index moves to the highest index stored on a
    /// majority (the leader counts itself only for what is durable locally), and only if that
    /// entry is from the current term (pitfall 2). Earlier entries commit indirectly with it.
    fn maybe_commit(&mut self) {
        let mut matches: Vec<LogIndex> = self.progress.values().map(|p| p.match_index).collect();
        matches.push(self.persisted);
        let index = quorum::quorum_value(&matches);
        if index <= self.commit {
            return;
        }
        let own_term = self.log.term(index) == Some(self.term);
        if own_term || self.config.hazard == Some(Hazard::CommitOldTerm) {
            self.commit_to(index);
        }
    }

    fn commit_to(&mut self, index: LogIndex) {
        assert!(index >= self.commit, "the commit index never decreases");
        self.commit = index;
        let term = self.log.term(index).unwrap_or_default();
        self.emit(NodeEventKind::Commit { entry: EntryId { index, term } });
    }

    /// Applies committed entries that are also durable locally, in order, and answers the
    /// clients waiting for them. A waiting put is answered only if the applied entry at its
    /// index is the one it proposed (same term); otherwise it was overwritten (pitfall 12).
    fn maybe_apply(&mut self) {
        let upto = self.commit.min(self.persisted);
        while self.state.applied() < upto {
            let index = self.state.applied().next();
            let Some(entry) = self.log.get(index).cloned() else {
                panic!("committed entry {index} missing from the log");
            };
            let response = self.state.apply(index, entry.command.as_ref());
            if self.config.trace {
                self.emit(NodeEventKind::Apply {
                    entry: entry.id(),
                    command: entry.command.as_deref().cloned(),
                });
            }
            if let Some(pending) = self.pending_writes.remove(&index) {
                let response = match response {
                    Some(r) if pending.term == entry.term && r.id == pending.id => r,
                    _ => Response { id: pending.id, result: Err(ClientError::LeadershipLost) },
                };
                self.reply(pending.origin, response);
            }
        }
        self.serve_reads();
    }

    /// Sends what the leader has batched up during this round of input: appends for new
    /// entries, and one heartbeat round for all reads registered since the last one.
    fn flush(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        if self.append_wanted {
            self.append_wanted = false;
            for peer in self.peers.clone() {
                self.send_appends(peer);
            }
            // A single-node cluster commits on its own durable log alone.
        }
        if self.read_round_wanted {
            self.read_round_wanted = false;
            self.read_round += 1;
            self.broadcast_heartbeat();
            self.serve_reads();
        }
    }

    // ---------------------------------------------------------------- plumbing

    pub(super) fn send(&mut self, to: NodeId, body: Body) {
        self.send_with_term(to, self.term, body);
    }

    pub(super) fn send_with_term(&mut self, to: NodeId, term: Term, body: Body) {
        let immediate = self.role == Role::Leader
            && !self.hard_state_dirty
            && matches!(body, Body::AppendEntries { .. } | Body::Heartbeat { .. });
        let message = Message { from: self.id(), to, term, body };
        if self.config.trace {
            self.emit(NodeEventKind::Send { message: message.clone() });
        }
        if immediate {
            self.out.messages.push(message);
        } else {
            self.out.persisted_messages.push(message);
        }
    }

    fn ignore(&mut self, msg: &Message, reason: &str) {
        self.emit(NodeEventKind::Ignore { message: msg.clone(), reason: reason.to_string() });
    }

    pub(super) fn emit(&mut self, kind: NodeEventKind) {
        if !self.config.trace {
            return;
        }
        self.out.events.push(NodeEvent { node: self.id(), term: self.term, kind });
    }
}
