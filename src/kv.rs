//! The deterministic key-value state machine and its client protocol.
//!
//! Keys and values are strings; the operations are `put` and `get`. Puts go through the Raft
//! log and are applied here in log order on every replica, so every replica holds the same map
//! at the same applied index (State Machine Safety, paper §5.4.3). Gets never touch the log:
//! the leader answers them from this map after a ReadIndex round (thesis §6.4).
//!
//! **Client sessions** (thesis §6.3): every request carries a client id and a sequence number
//! that the client increases for each new operation and keeps when it retries. The state machine
//! remembers, per client, the highest sequence number applied and its result, so a retried put
//! is applied at most once and the retry is answered from the session table. A put whose
//! sequence number is lower than one already applied for that client is never applied, so an
//! old retry can never overwrite a newer value.

use crate::raft::{LogIndex, NodeId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// Identifies a client session. Printed as `c4`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(pub u64);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// One client operation's identity: the session and its sequence number. Retries reuse it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId {
    /// The client session.
    pub client: ClientId,
    /// Increases by one for each new operation of the client; the same for a retry.
    pub seq: u64,
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.client, self.seq)
    }
}

/// What a client asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Set `key` to `value`.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Read `key`.
    Get {
        /// The key.
        key: String,
    },
}

impl Op {
    /// The key this operation touches.
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Get { key } => key,
        }
    }
    /// True for a put: the one kind of operation with an effect.
    pub fn is_put(&self) -> bool {
        matches!(self, Op::Put { .. })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Put { key, value } => write!(f, "put {key}={value}"),
            Op::Get { key } => write!(f, "get {key}"),
        }
    }
}

/// A client request as it reaches a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Session and sequence number.
    pub id: RequestId,
    /// The operation.
    pub op: Op,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id, self.op)
    }
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The put was applied (exactly once).
    Put,
    /// The value read; `None` when the key is absent.
    Get {
        /// The value, if the key exists.
        value: Option<String>,
    },
}

/// Why a request did not succeed. [`ClientError::is_definite`] says whether the operation
/// certainly had no effect (a history `fail`) or may still take effect (a history `info`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum ClientError {
    /// This node is not the leader and knows who is: try that node. Nothing was proposed.
    #[error("not leader, try {leader}")]
    NotLeader {
        /// The leader this node believes in.
        leader: NodeId,
    },
    /// This node knows no leader (an election is under way, or it is cut off from the
    /// majority). Nothing was proposed.
    #[error("no leader")]
    NoLeader,
    /// The node that accepted the request lost its leadership before the request's fate was
    /// known; it may or may not take effect.
    #[error("leadership lost before the outcome was known")]
    LeadershipLost,
    /// A forwarded request was abandoned because the leader changed while it was in flight; a
    /// put may or may not take effect.
    #[error("leader changed while the request was forwarded")]
    Abandoned,
    /// The client already moved on to a newer sequence number; this old request was ignored.
    #[error("stale request: the session has already applied seq {applied}")]
    Stale {
        /// The highest sequence number applied for the session.
        applied: u64,
    },
}

impl ClientError {
    /// True when the operation certainly had no effect and never will.
    pub fn is_definite(&self) -> bool {
        matches!(self, ClientError::NotLeader { .. } | ClientError::NoLeader | ClientError::Stale { .. })
    }
}

/// The answer to a request: the id it answers and the result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The request answered.
    pub id: RequestId,
    /// Its result.
    pub result: Result<Reply, ClientError>,
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(Reply::Put) => write!(f, "{} ok", self.id),
            Ok(Reply::Get { value: Some(v) }) => write!(f, "{} ok {v}", self.id),
            Ok(Reply::Get { value: None }) => write!(f, "{} ok (absent)", self.id),
            Err(e) => write!(f, "{} error: {e}", self.id),
        }
    }
}

/// A command in the log: a put with its session identity. (Gets never enter the log.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// Session and sequence number, for exactly-once application.
    pub id: RequestId,
    /// The key written.
    pub key: String,
    /// The value written.
    pub value: String,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} put {}={}", self.id, self.key, self.value)
    }
}

/// The per-client memory of the last applied operation.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Session {
    /// Highest sequence number applied for this client.
    seq: u64,
}

/// The replicated map. It is a hash map for speed (a put is a lookup on the hot path of every
/// replica); everything that shows or compares it goes through [`Kv::data`], which is sorted,
/// so outputs stay deterministic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kv {
    data: HashMap<String, String>,
    sessions: BTreeMap<ClientId, Session>,
    /// The index of the last log entry applied. Invariant: only grows, one entry at a time.
    applied: LogIndex,
}

impl Kv {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the log entry at `index` (`None` for a leader's no-op). Entries must arrive in
    /// order with no gap; that is asserted, since a gap would mean replicas diverge.
    pub fn apply(&mut self, index: LogIndex, command: Option<&Command>) -> Option<Response> {
        assert_eq!(index, self.applied.next(), "entries must be applied in order without gaps");
        self.applied = index;
        let command = command?;
        let session = self.sessions.entry(command.id.client).or_insert(Session { seq: 0 });
        let result = if command.id.seq > session.seq {
            session.seq = command.id.seq;
            match self.data.get_mut(&command.key) {
                Some(value) => value.clone_from(&command.value),
                None => {
                    self.data.insert(command.key.clone(), command.value.clone());
                }
            }
            Ok(Reply::Put)
        } else if command.id.seq == session.seq {
            // A retry of the operation applied last: answer it again, change nothing.
            Ok(Reply::Put)
        } else {
            Err(ClientError::Stale { applied: session.seq })
        };
        Some(Response { id: command.id, result })
    }

    /// Reads a key from the applied state. Callers must have proved it is fresh enough.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.data.get(key)
    }

    /// The whole map, sorted by key, for views and tests.
    pub fn data(&self) -> BTreeMap<String, String> {
        self.data.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if no key is set.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The index of the last applied entry.
    pub fn applied(&self) -> LogIndex {
        self.applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(client: u64, seq: u64, key: &str, value: &str) -> Command {
        Command { id: RequestId { client: ClientId(client), seq }, key: key.into(), value: value.into() }
    }

    /// Pitfall 10: a retried put lands once, and an old retry never overwrites a newer write.
    #[test]
    fn retried_put_applied_once_and_never_overwrites_newer() {
        let mut kv = Kv::new();
        kv.apply(LogIndex(1), Some(&put(1, 1, "k", "a")));
        kv.apply(LogIndex(2), Some(&put(2, 1, "k", "b")));
        // Client 1's retry of seq 1 arrives after client 2's newer write.
        let r = kv.apply(LogIndex(3), Some(&put(1, 1, "k", "a"))).unwrap();
        assert_eq!(r.result, Ok(Reply::Put));
        assert_eq!(kv.get("k").map(String::as_str), Some("b"));
        kv.apply(LogIndex(4), Some(&put(1, 2, "k", "c")));
        let r = kv.apply(LogIndex(5), Some(&put(1, 1, "k", "a"))).unwrap();
        assert_eq!(r.result, Err(ClientError::Stale { applied: 2 }));
        assert_eq!(kv.get("k").map(String::as_str), Some("c"));
    }

    #[test]
    #[should_panic(expected = "in order")]
    fn gap_in_apply_is_an_invariant_violation() {
        let mut kv = Kv::new();
        kv.apply(LogIndex(2), None);
    }
}
