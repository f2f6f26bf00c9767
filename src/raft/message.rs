//! The message set between nodes. Every message carries the sender's term; the handlers check
//! it first (paper Figure 2, "Rules for Servers": a higher term converts the receiver to
//! follower, a lower term is rejected or ignored).

use super::{Command, Request, Response};
use super::{EntryId, LogIndex, NodeId, Term};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// One entry of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the log.
    pub index: LogIndex,
    /// Term of the leader that created it.
    pub term: Term,
    /// The client command, or `None` for the no-op a leader appends at the start of its term
    /// (paper §8: it lets the leader commit, and so learn, everything committed before it).
    /// Shared, so that copying an entry into messages and storage copies no strings.
    pub command: Option<Arc<Command>>,
}

impl Entry {
    /// The entry's `index@term` identity.
    pub fn id(&self) -> EntryId {
        EntryId { index: self.index, term: self.term }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.command {
            None => write!(f, "{}@{} noop", self.index, self.term),
            Some(c) => write!(f, "{}@{} {c}", self.index, self.term),
        }
    }
}

/// A message on the wire: sender, receiver, the sender's term and the body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// The sender's current term, except for the pre-vote messages (thesis §9.6): a `PreVote`
    /// carries the term the sender would campaign in (its own term + 1, which it has not
    /// taken), and a granted `PreVoteResponse` that proposed term. [`Message::sender_term`] is
    /// the sender's own term in every case.
    pub term: Term,
    /// What the message says.
    pub body: Body,
}

/// Why an AppendEntries was rejected, with the hint that lets the leader skip back a whole term
/// at a time instead of one entry per round trip (paper §5.3, the optimization at the end of
/// the section; etcd's `findConflictByTerm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectHint {
    /// The follower's last log index (its log may be shorter than the probe).
    pub last_index: LogIndex,
    /// The term of the follower's entry at the probed index, if it has one, and the first index
    /// the follower holds of that term.
    pub conflict: Option<EntryId>,
}

/// The body of a message. Field comments say why each field exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Body {
    /// Thesis §9.6: "would you vote for me?" asked before bumping the term, so a node that
    /// cannot win (for example one rejoining after isolation) never disrupts the cluster.
    PreVote {
        /// The candidate's last entry, for the up-to-date check (paper §5.4.1).
        last: EntryId,
        /// The leader asked for this election (leadership transfer, thesis §3.10): a voter
        /// that has just heard from the leader grants it all the same, if the log is up to date.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        transfer: bool,
    },
    /// The answer to a PreVote. Its term is the proposed term when granted, the responder's own
    /// when refused (so a pre-candidate behind the times learns the higher term).
    PreVoteResponse {
        /// Whether the vote would be granted.
        granted: bool,
        /// The responder's own term, which answering a pre-vote never changes (thesis §9.6).
        /// Only for narration (`n1@9 -> n2 PreVote granted for term 10`): the term check
        /// reads the message's term.
        #[serde(default)]
        voter_term: Term,
    },
    /// Paper §5.2: a candidate asks for a vote in its (new) term.
    RequestVote {
        /// The candidate's last entry, for the up-to-date check (paper §5.4.1).
        last: EntryId,
        /// The candidate campaigns because the leader told it to (leadership transfer, thesis
        /// §3.10), so a voter that has just heard from that leader must not ignore it under the
        /// leader lease (thesis §6.2).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        transfer: bool,
    },
    /// The answer to a RequestVote; sent only after the vote is durable.
    RequestVoteResponse {
        /// Whether the vote was granted.
        granted: bool,
    },
    /// Paper §5.3: the leader replicates entries after `prev`, which the follower must hold.
    AppendEntries {
        /// The entry just before `entries`: the consistency check.
        prev: EntryId,
        /// New entries (possibly none, for a probe).
        entries: Vec<Entry>,
        /// The leader's commit index, so followers can apply.
        commit: LogIndex,
    },
    /// The answer to an AppendEntries.
    AppendEntriesResponse {
        /// On success: the index up to which the follower's log now matches the leader's.
        /// On rejection: the `prev` index that failed the check (to spot stale rejections).
        index: LogIndex,
        /// `None` on success; the back-off hint on rejection.
        reject: Option<RejectHint>,
    },
    /// The leader's periodic heartbeat (paper §5.2), also used for ReadIndex rounds (thesis
    /// §6.4): it carries a read round number that followers echo.
    Heartbeat {
        /// `min(leader commit, follower match)`: never beyond what the follower is known to hold.
        commit: LogIndex,
        /// The leader's latest read round; echoed back to confirm leadership for reads.
        read_round: u64,
    },
    /// The answer to a Heartbeat.
    HeartbeatResponse {
        /// The read round being acknowledged.
        read_round: u64,
    },
    /// Paper §7 and Figure 13: the leader sends a follower that needs entries it has compacted
    /// away its snapshot instead, one chunk at a time (the next chunk when this one is answered).
    InstallSnapshot {
        /// The snapshot's last entry: identifies the snapshot (every replica's state machine at
        /// one committed index is the same, so two leaders' snapshots of one entry are too).
        last: EntryId,
        /// The whole snapshot's size in bytes.
        size: u64,
        /// Where this chunk starts in the snapshot.
        offset: u64,
        /// The chunk's length (said apart from the bytes, which the event log leaves out).
        len: u64,
        /// The chunk's bytes. Not written to the event log: a reader learns the contents from
        /// the state machine's own events (the replay module keeps the snapshots it saw taken).
        #[serde(skip)]
        chunk: Vec<u8>,
    },
    /// The answer to an InstallSnapshot.
    InstallSnapshotResponse {
        /// The snapshot answered.
        last: EntryId,
        /// The bytes received so far, in order: the offset of the chunk wanted next.
        received: u64,
        /// Set once the follower holds everything up to this index (the snapshot was
        /// installed, or the follower had already committed past it): the leader's new match
        /// point.
        matched: Option<LogIndex>,
    },
    /// Thesis §3.10: the leader tells the target of a leadership transfer, whose log it has
    /// brought up to date, to start an election at once.
    TimeoutNow,
    /// A client request forwarded by a follower to the leader, so a client may contact any node.
    ClientRequest {
        /// The request.
        request: Request,
    },
    /// The leader's answer to a forwarded client request.
    ClientResponse {
        /// The response.
        response: Response,
    },
}

impl Body {
    /// The message's kind as a short name (for event filters and counters).
    pub fn kind(&self) -> &'static str {
        match self {
            Body::PreVote { .. } => "PreVote",
            Body::PreVoteResponse { .. } => "PreVoteResponse",
            Body::RequestVote { .. } => "RequestVote",
            Body::RequestVoteResponse { .. } => "RequestVoteResponse",
            Body::AppendEntries { .. } => "AppendEntries",
            Body::AppendEntriesResponse { .. } => "AppendEntriesResponse",
            Body::Heartbeat { .. } => "Heartbeat",
            Body::HeartbeatResponse { .. } => "HeartbeatResponse",
            Body::InstallSnapshot { .. } => "InstallSnapshot",
            Body::InstallSnapshotResponse { .. } => "InstallSnapshotResponse",
            Body::TimeoutNow => "TimeoutNow",
            Body::ClientRequest { .. } => "ClientRequest",
            Body::ClientResponse { .. } => "ClientResponse",
        }
    }
}

impl Message {
    /// The sender's own term when it sent the message. It is the message's term except for the
    /// pre-vote messages (thesis §9.6): a pre-candidate asks for the term after its own without
    /// taking it, and a peer answers without changing its own term either.
    pub fn sender_term(&self) -> Term {
        match self.body {
            Body::PreVote { .. } => Term(self.term.0.saturating_sub(1)),
            Body::PreVoteResponse { voter_term, .. } => voter_term,
            _ => self.term,
        }
    }
}

/// `from@term -> to Body fields`, where `term` is the sender's own term. A pre-vote says the
/// term it is about apart from it, so that it never reads as a term the sender has taken:
/// `n2@9 -> n1 PreVote for term 10 last=7@2`, `n1@9 -> n2 PreVote granted for term 10`.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{} -> {} ", self.from, self.sender_term(), self.to)?;
        match &self.body {
            Body::PreVote { last, transfer } => {
                write!(f, "PreVote for term {} last={last}", self.term)?;
                if *transfer { write!(f, " (transfer)") } else { Ok(()) }
            }
            Body::PreVoteResponse { granted: true, .. } => {
                write!(f, "PreVote granted for term {}", self.term)
            }
            Body::PreVoteResponse { granted: false, .. } => write!(f, "PreVote rejected"),
            body => write!(f, "{body}"),
        }
    }
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind();
        match self {
            Body::PreVote { last, transfer: false } | Body::RequestVote { last, transfer: false } => {
                write!(f, "{kind} last={last}")
            }
            Body::PreVote { last, transfer: true } | Body::RequestVote { last, transfer: true } => {
                write!(f, "{kind} last={last} (transfer)")
            }
            Body::PreVoteResponse { granted, .. } | Body::RequestVoteResponse { granted } => {
                write!(f, "{kind} {}", if *granted { "granted" } else { "rejected" })
            }
            Body::AppendEntries { prev, entries, commit } => {
                let ids: Vec<String> = match entries.as_slice() {
                    [] => Vec::new(),
                    [one] => vec![one.id().to_string()],
                    [first, .., last] if entries.len() > 3 => {
                        vec![format!("{}..{}", first.id(), last.id())]
                    }
                    many => many.iter().map(|e| e.id().to_string()).collect(),
                };
                write!(f, "{kind} prev={prev} entries=[{}] commit={commit}", ids.join(" "))
            }
            Body::AppendEntriesResponse { index, reject: None } => write!(f, "{kind} ok match={index}"),
            Body::AppendEntriesResponse { index, reject: Some(hint) } => {
                write!(f, "{kind} reject prev={index} last={}", hint.last_index)?;
                if let Some(c) = hint.conflict {
                    write!(f, " conflict={c}")?;
                }
                Ok(())
            }
            Body::Heartbeat { commit, read_round } => write!(f, "{kind} commit={commit} read={read_round}"),
            Body::HeartbeatResponse { read_round } => write!(f, "{kind} read={read_round}"),
            Body::InstallSnapshot { last, size, offset, len, .. } => {
                write!(f, "{kind} {last} bytes {offset}..{} of {size}", offset + len)
            }
            Body::InstallSnapshotResponse { last, matched: Some(m), .. } => {
                write!(f, "{kind} {last} ok match={m}")
            }
            Body::InstallSnapshotResponse { last, received, matched: None } => {
                write!(f, "{kind} {last} received {received}")
            }
            Body::TimeoutNow => write!(f, "{kind}"),
            Body::ClientRequest { request } => write!(f, "{kind} {request}"),
            Body::ClientResponse { response } => write!(f, "{kind} {response}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(term: u64, body: Body) -> Message {
        Message { from: NodeId(2), to: NodeId(1), term: Term(term), body }
    }

    /// Thesis §9.6: a pre-vote is about the next term, but no one takes it; the narration says
    /// the sender's own term and the proposed one apart.
    #[test]
    fn a_pre_vote_never_reads_as_a_term_taken() {
        let last = EntryId { index: LogIndex(7), term: Term(9) };
        let ask = message(10, Body::PreVote { last, transfer: false });
        assert_eq!(ask.sender_term(), Term(9));
        assert_eq!(ask.to_string(), "n2@9 -> n1 PreVote for term 10 last=7@9");
        let granted = message(10, Body::PreVoteResponse { granted: true, voter_term: Term(8) });
        assert_eq!(granted.to_string(), "n2@8 -> n1 PreVote granted for term 10");
        let rejected = message(12, Body::PreVoteResponse { granted: false, voter_term: Term(12) });
        assert_eq!(rejected.to_string(), "n2@12 -> n1 PreVote rejected");
        let vote = message(10, Body::RequestVote { last, transfer: false });
        assert_eq!(
            (vote.sender_term(), vote.to_string()),
            (Term(10), "n2@10 -> n1 RequestVote last=7@9".into())
        );
    }
}
