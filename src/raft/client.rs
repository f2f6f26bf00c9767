//! The client protocol of the core (thesis chapter 6): who a request comes from, what it asks,
//! what goes into the log for it, and how it is answered. Sessions (thesis §6.3) identify a
//! client by the log index of its register entry; the state machine that keeps them implements
//! [`super::StateMachine`].

use super::NodeId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Identifies a client session: the index of the log entry that registered it. Printed as
/// `c4`. `ClientId(0)` is never a session: register requests use it, with a nonce as their seq.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(pub u64);

impl ClientId {
    /// The id register requests carry before they have a session.
    pub const UNREGISTERED: ClientId = ClientId(0);
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// One client operation's identity: the session and its sequence number. Retries reuse it.
/// For a register request, the client is [`ClientId::UNREGISTERED`] and `seq` is a nonce that
/// only routes the answer back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId {
    /// The client session.
    pub client: ClientId,
    /// Increases by one for each new operation of the client; the same for a retry.
    pub seq: u64,
}

impl RequestId {
    /// The identity of a register request with this nonce.
    pub fn register(nonce: u64) -> RequestId {
        RequestId { client: ClientId::UNREGISTERED, seq: nonce }
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.client == ClientId::UNREGISTERED {
            write!(f, "r{}", self.seq)
        } else {
            write!(f, "{}#{}", self.client, self.seq)
        }
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
    /// Open a new session (thesis §6.3); the answer carries its id.
    Register,
}

impl Op {
    /// The key this operation touches (empty for a register).
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Get { key } => key,
            Op::Register => "",
        }
    }
    /// True for a put: the one kind of operation with an effect on the map.
    pub fn is_put(&self) -> bool {
        matches!(self, Op::Put { .. })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Put { key, value } => write!(f, "put {key}={value}"),
            Op::Get { key } => write!(f, "get {key}"),
            Op::Register => write!(f, "register"),
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
    /// The lowest sequence number of this session whose answer the client has not yet seen
    /// (its own `seq` when it has one operation in flight). The state machine forgets the
    /// answers below it (thesis §6.3).
    #[serde(default)]
    pub ack: u64,
}

impl Request {
    /// A request of a client with one operation in flight (`ack` is its own `seq`).
    pub fn new(id: RequestId, op: Op) -> Request {
        Request { id, op, ack: id.seq }
    }
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
    /// The session is registered under this id.
    Registered {
        /// The new session's id: the index of its register entry.
        client: ClientId,
    },
}

/// Why a request did not succeed. [`ClientError::is_definite`] says whether this attempt
/// certainly had no effect (a history `fail`, if no other attempt may have had one) or may still
/// take effect (a history `info`).
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
    /// A forwarded request was given up: the leader changed while it was in flight, or did not
    /// answer within two election timeouts; a put may or may not take effect.
    #[error("forward given up: no answer from the leader")]
    Abandoned,
    /// The client had already seen the answers below this sequence number; this old copy of a
    /// request was not applied.
    #[error("stale request: the session had already been answered below seq {floor}")]
    Stale {
        /// The session's floor: answers below it are forgotten.
        floor: u64,
    },
    /// The leader is handing its leadership to another node (thesis §3.10) and accepts no new
    /// writes meanwhile, for at most an election timeout. Nothing was proposed.
    #[error("leadership is being transferred to {target}: nothing was proposed, retry shortly")]
    Transferring {
        /// The node that should become leader.
        target: NodeId,
    },
    /// The session is not in the table: it expired, was evicted, or never existed. This request
    /// was not applied; register a new session.
    #[error("unknown session {client}: it expired or was never registered")]
    UnknownSession {
        /// The session named by the request.
        client: ClientId,
    },
    /// This `(client, seq)` was applied with a different command; this request was not applied.
    #[error("{id} was already applied with a different command")]
    SeqReused {
        /// The request identity that was reused.
        id: RequestId,
    },
    /// A refusal of a request this node forwarded, relayed from the node it was forwarded to.
    /// The forward crossed the network, which may duplicate messages: another copy may still
    /// take effect (or already have), so the outcome is unknown.
    #[error("{refusal} (the answer to a forwarded copy)")]
    Relayed {
        /// What the node forwarded to answered.
        refusal: Box<ClientError>,
    },
}

impl ClientError {
    /// The refusal itself, for a relayed one (what the state machine or the leader said).
    pub fn inner(&self) -> &ClientError {
        match self {
            ClientError::Relayed { refusal } => refusal.inner(),
            e => e,
        }
    }

    /// True when this attempt certainly had no effect and never will.
    pub fn is_definite(&self) -> bool {
        matches!(
            self,
            ClientError::NotLeader { .. }
                | ClientError::NoLeader
                | ClientError::Transferring { .. }
                | ClientError::Stale { .. }
                | ClientError::UnknownSession { .. }
                | ClientError::SeqReused { .. }
        )
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
            Ok(Reply::Registered { client }) => write!(f, "{} registered {client}", self.id),
            Err(e) => write!(f, "{} error: {e}", self.id),
        }
    }
}

/// A command in the log. (Gets never enter the log.) Every command carries the time of the
/// leader that appended it, in ticks, which drives session expiry (thesis §6.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Opens a session whose id is this entry's index.
    Register {
        /// The register request's nonce, to route the answer back.
        nonce: u64,
        /// The leader's clock when it appended the entry.
        time: u64,
    },
    /// A put with its session identity, for exactly-once application.
    Put {
        /// Session and sequence number.
        id: RequestId,
        /// The client's floor when it sent the request (see [`Request::ack`]).
        ack: u64,
        /// The key written.
        key: String,
        /// The value written.
        value: String,
        /// The leader's clock when it appended the entry.
        time: u64,
    },
}

impl Command {
    /// The identity of the request this command came from (the answer goes to it).
    pub fn id(&self) -> RequestId {
        match self {
            Command::Register { nonce, .. } => RequestId::register(*nonce),
            Command::Put { id, .. } => *id,
        }
    }

    /// The leader's clock when the command was appended.
    pub fn time(&self) -> u64 {
        match self {
            Command::Register { time, .. } | Command::Put { time, .. } => *time,
        }
    }

    /// The command a request becomes when a leader appends it at `time` (`None` for a get).
    pub fn from_request(request: Request, time: u64) -> Option<Command> {
        match request.op {
            Op::Put { key, value } => {
                Some(Command::Put { id: request.id, ack: request.ack, key, value, time })
            }
            Op::Register => Some(Command::Register { nonce: request.id.seq, time }),
            Op::Get { .. } => None,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Register { nonce, .. } => write!(f, "{} register", RequestId::register(*nonce)),
            Command::Put { id, key, value, .. } => write!(f, "{id} put {key}={value}"),
        }
    }
}
