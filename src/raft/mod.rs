//! The consensus core: a pure, deterministic Raft node with its key-value state machine.
//!
//! Nothing here touches threads, clocks, channels, files or the terminal. Time advances only by
//! [`RaftNode::tick`]; the only randomness is the election-timeout jitter, drawn from an RNG
//! seeded by the caller ([`Config::seed`]). The same inputs in the same order give the same
//! outputs, which is what lets the simulator replay a seed exactly, and what lets the threaded
//! runtime and the console drive the very same code.
//!
//! # The driver contract
//!
//! A driver owns a [`RaftNode`] and a store of its durable state (a [`Storage`]). It loops:
//!
//! 1. **Feed input.** Any number of calls to [`RaftNode::tick`] (time passed),
//!    [`RaftNode::step`] (a message arrived), [`RaftNode::client_request`] (a client asked
//!    something), [`RaftNode::campaign`] (force an election timeout) or
//!    [`RaftNode::transfer_leadership`].
//! 2. **Take the output.** If [`RaftNode::has_ready`], call [`RaftNode::ready`] to get one
//!    [`Ready`] batch holding everything the inputs produced.
//! 3. **Send what need not wait.** `Ready::messages` (a leader's AppendEntries and heartbeats)
//!    may be sent right away, in parallel with the write of step 4 (thesis §10.2.1).
//! 4. **Persist.** Write `Ready::snapshot` first if there is one, then `Ready::hard_state`
//!    (term and vote) and `Ready::entries` (drop stored entries from the given index on, then
//!    append), and make them durable (fsync). Several
//!    nodes or several batches may share one sync (group commit), as long as step 5 waits.
//! 5. **Send what waited.** Only now send `Ready::persisted_messages`: vote answers, append
//!    answers, forwarded requests, anything whose meaning depends on the write of step 4.
//! 6. **Deliver the rest.** Give `Ready::replies` to the local clients they answer, and record
//!    `Ready::events` (stamping each with a sequence number and a time).
//! 7. **Acknowledge.** Call [`RaftNode::advance`]: the node learns that its log is durable, so
//!    a leader may count itself towards commitment, and entries may be applied. Advancing can
//!    produce more output, so go back to step 2 while `has_ready()` holds; no other input may
//!    be fed between `ready()` and `advance()`.
//!
//! A restarted node is rebuilt with [`RaftNode::new`] from what
//! its store's recovery returns ([`Recovered`]): term, vote, the newest snapshot and the log
//! after it survive; role, commit index, applied state and leader state are volatile and are
//! rebuilt (the state machine from the snapshot, then by re-applying the log).
//!
//! # What is implemented, and where the rules come from
//!
//! - Leader election with randomized timeouts, one durable vote per term and the up-to-date
//!   check (paper §5.2, §5.4.1, Figure 2).
//! - PreVote (thesis §9.6) and CheckQuorum with the leader lease on votes (thesis §6.2, §4.2.3).
//! - Log replication with the consistency check, truncation only at real conflicts, a back-off
//!   hint of one step per term, batching and pipelining (paper §5.3).
//! - Commitment only by counting replicas of a current-term entry, after a no-op at the start
//!   of each term (paper §5.4.2, Figure 8, §8).
//! - Linearizable reads by ReadIndex with a heartbeat round, from any node (followers forward
//!   to the leader) (thesis §6.4).
//! - Client sessions for exactly-once puts (thesis §6.3): the protocol here ([`Request`],
//!   [`Command`]), the session table in the state machine (the `kv` module's `Kv`).
//! - Snapshots and log compaction, and InstallSnapshot in chunks for a follower that needs
//!   compacted entries (paper §7, Figure 13).
//! - Leadership transfer with TimeoutNow (thesis §3.10).
//!
//! The node's state and its driver-facing methods are in `node.rs`; the rules above are in
//! `election.rs` (election, PreVote, CheckQuorum and the lease), `replication.rs` (replication,
//! commitment, applying), `requests.rs` (client requests, forwarding, ReadIndex reads),
//! `snapshot.rs` (taking, sending and installing snapshots) and `transfer.rs` (leadership
//! transfer).
//!
//! Left out for now: membership changes, lease-based reads.

mod client;
mod config;
mod election;
mod event;
mod log;
mod message;
mod node;
mod progress;
pub mod quorum;
mod replication;
mod requests;
mod snapshot;
mod state;
mod transfer;
mod types;

pub use client::{ClientError, ClientId, Command, Op, Reply, Request, RequestId, Response};
pub use config::{Config, DEFAULT_SNAPSHOT_CHUNK, DEFAULT_SNAPSHOT_EVERY, Hazard, SnapshotPolicy, Switches};
pub use event::{NodeEvent, NodeEventKind};
pub use log::Log;
pub use message::{Body, Entry, Message, RejectHint};
pub use node::{RaftNode, Ready, Role};
pub use progress::{Progress, ReplicationState, SnapshotSend};
pub use state::{HardState, Recovered, Snapshot, StateMachine, Storage};
pub use types::{EntryId, LogIndex, NodeId, Term};
