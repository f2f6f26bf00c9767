//! One Raft node: its state, construction and observers, the methods of the driver contract
//! (in the module docs of [`super`]), term checking (paper Figure 2, "All Servers") and
//! sending. The rules live in sibling modules, each adding an `impl` block to [`RaftNode`] and
//! citing the rules at each handler: `election` (election timer, pre-vote, votes, role
//! transitions, CheckQuorum and the leader lease), `replication` (appends, heartbeats,
//! commitment, applying) and `requests` (client requests, forwarding, ReadIndex reads, replies).

use super::client::{Request, RequestId, Response};
use super::config::Config;
use super::event::{NodeEvent, NodeEventKind};
use super::log::Log;
use super::message::{Body, Entry, Message, RejectHint};
use super::progress::Progress;
use super::requests::{Origin, PendingRead, PendingWrite};
use super::snapshot::Incoming;
use super::state::{HardState, Recovered, Snapshot, StateMachine};
use super::transfer::Transfer;
use super::{EntryId, LogIndex, NodeId, Term};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;

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
    /// A snapshot to make durable before the entries below (paper §7): one the node took, or
    /// one a leader sent it. Storage then drops its entries up to the snapshot's last one.
    pub snapshot: Option<Snapshot>,
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
    pub(super) persisted: LogIndex,
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
    /// The newest snapshot this node holds (taken, installed or recovered): what a leader sends a
    /// follower that needs compacted entries. Present exactly when the log's base is not 0@0.
    pub(super) snapshot: Option<Snapshot>,
    /// A snapshot to hand over for persistence in the next `Ready`.
    pub(super) snapshot_unstable: Option<Snapshot>,
    /// A snapshot being received from the leader, chunk by chunk.
    pub(super) incoming: Option<Incoming>,
    /// A leadership transfer under way (thesis §3.10).
    pub(super) transfer: Option<Transfer>,
    /// This node campaigns because a leader told it to (thesis §3.10): its pre-votes and votes
    /// say so.
    pub(super) campaign_transfer: bool,
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
        let mut state = state;
        if let Some(snapshot) = &recovered.snapshot {
            assert_eq!(snapshot.last, recovered.base, "the recovered log must start at its snapshot");
            if let Err(e) = state.restore(snapshot.last.index, &snapshot.data) {
                panic!(
                    "the recovered snapshot {} does not decode ({e}); storage must check it",
                    snapshot.last
                );
            }
        } else {
            assert_eq!(recovered.base, EntryId::default(), "a compacted log needs its snapshot");
        }
        let log = Log::recover(recovered.base, recovered.entries);
        // Times never decrease along the log: the last command holds the highest (or the
        // snapshot, if the log holds none).
        let clock =
            log.entries().iter().rev().find_map(|e| e.command.as_ref()).map_or(state.clock(), |c| c.time());
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
            snapshot: recovered.snapshot,
            snapshot_unstable: None,
            incoming: None,
            transfer: None,
            campaign_transfer: false,
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
    /// Switches a hazard, PreVote or CheckQuorum at run time (the teacher's switchable bugs);
    /// the next tick or message follows the new rules.
    pub fn set_switches(&mut self, switches: crate::raft::Switches) {
        self.config.set_switches(switches);
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
    /// Ticks until this node's next timer fires: its election timeout, or for a leader its
    /// next heartbeat or CheckQuorum round (paper §5.2; thesis §6.2). At least 1.
    pub fn ticks_to_timer(&self) -> u32 {
        let election = self.election_timer();
        let mut left = election.1.saturating_sub(election.0);
        if self.role == Role::Leader {
            left = left.min(self.config.heartbeat_interval.saturating_sub(self.heartbeat_elapsed));
        }
        left.max(1)
    }
    /// The last entry of the newest snapshot this node holds (the log's base), if any.
    pub fn snapshot_index(&self) -> Option<EntryId> {
        self.snapshot.as_ref().map(|s| s.last)
    }
    /// How many bytes its snapshot's state-machine data take (0 without a snapshot).
    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.data.len() as u64)
    }
    /// The target of the leadership transfer this leader is making, if any.
    pub fn transferring_to(&self) -> Option<NodeId> {
        self.transfer.as_ref().map(|t| t.target)
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
            self.tick_transfer();
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
            && matches!(
                msg.body,
                Body::AppendEntries { .. } | Body::Heartbeat { .. } | Body::InstallSnapshot { .. }
            )
        {
            // Two leaders in one term would break Election Safety (paper §5.2); never follow.
            self.ignore(&msg, "a second leader in this term: election safety violated");
            return;
        }
        let from = msg.from;
        match msg.body {
            Body::PreVote { last, transfer } => self.handle_pre_vote(from, msg.term, last, transfer),
            Body::PreVoteResponse { granted, .. } => {
                if self.role == Role::PreCandidate && msg.term == self.term.next() {
                    self.record_vote(from, granted);
                }
            }
            Body::RequestVote { last, .. } => self.handle_request_vote(from, last),
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
            Body::InstallSnapshot { last, size, offset, chunk, .. } => {
                self.follow(from);
                self.handle_install_snapshot(from, last, size, offset, chunk);
            }
            Body::InstallSnapshotResponse { last, received, matched } => {
                if self.role == Role::Leader {
                    self.handle_snapshot_response(from, last, received, matched);
                }
            }
            Body::TimeoutNow => self.handle_timeout_now(from),
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
            || self.snapshot_unstable.is_some()
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
        ready.snapshot = self.snapshot_unstable.take();
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

    pub(super) fn assert_not_persisting(&self) {
        assert!(self.persisting.is_none(), "input fed between ready() and advance()");
    }

    // ---------------------------------------------------------------- terms

    /// Paper Figure 2, "All Servers": a message with a higher term makes the receiver adopt it
    /// and become follower; a message with a lower term is answered with our term (so a stale
    /// leader or candidate learns it is stale) or ignored. Exceptions: PreVote messages never
    /// change terms (thesis §9.6), and a vote request is ignored while a leader is known to be
    /// alive (thesis §6.2, "leader lease" for disruptive servers, §4.2.3). Returns false if the
    /// message must not be processed further.
    fn check_term(&mut self, msg: &Message) -> bool {
        if msg.term > self.term {
            match &msg.body {
                Body::PreVote { .. } | Body::PreVoteResponse { granted: true, .. } => {}
                Body::RequestVote { transfer: false, .. } if self.in_lease() => {
                    self.ignore(msg, "leader lease: heard from the leader within the election timeout");
                    return false;
                }
                Body::AppendEntries { .. } | Body::Heartbeat { .. } | Body::InstallSnapshot { .. } => {
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
                Body::InstallSnapshot { last, .. } => self.send(
                    msg.from,
                    Body::InstallSnapshotResponse { last: *last, received: 0, matched: None },
                ),
                Body::PreVote { .. } => {
                    self.send(msg.from, Body::PreVoteResponse { granted: false, voter_term: self.term })
                }
                Body::RequestVote { .. } => self.send(msg.from, Body::RequestVoteResponse { granted: false }),
                _ => self.ignore(msg, "stale term"),
            }
            false
        } else {
            true
        }
    }

    // ---------------------------------------------------------------- plumbing

    pub(super) fn send(&mut self, to: NodeId, body: Body) {
        self.send_with_term(to, self.term, body);
    }

    pub(super) fn send_with_term(&mut self, to: NodeId, term: Term, body: Body) {
        let immediate = self.role == Role::Leader
            && !self.hard_state_dirty
            && matches!(
                body,
                Body::AppendEntries { .. } | Body::Heartbeat { .. } | Body::InstallSnapshot { .. }
            );
        let message = Message { from: self.id(), to, term, body };
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
