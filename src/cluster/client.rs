//! Client sessions on the live cluster. A [`Client`] is one session (one client id): it sends
//! one operation at a time, retries with the same sequence number after a timeout or an error,
//! follows "not leader, try nX" hints, and can be pinned to one node to show what that replica
//! does. It is `Send + Sync`; concurrent calls on one handle take turns.

use super::{Input, Shared};
use crate::kv::{ClientError, ClientId, Op, Reply, Request, RequestId, Response};
use crate::raft::NodeId;
use crossbeam_channel::{Receiver, Sender, unbounded};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How a client behaves.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// How long to wait for one attempt's answer, at normal speed (scaled by the time scale).
    pub timeout: Duration,
    /// Attempts per operation (the first included).
    pub attempts: u32,
    /// Send every attempt through this node only (no redirects), to see what it does.
    pub via: Option<NodeId>,
    /// Pause before retrying after "no leader" or a lost leadership, at normal speed.
    pub backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_millis(1000),
            attempts: 8,
            via: None,
            backoff: Duration::from_millis(50),
        }
    }
}

/// Why an operation did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct OpError {
    /// What went wrong last, in words (for example "no leader" or "timeout").
    pub message: String,
    /// True if the operation certainly had no effect (every attempt was refused before being
    /// proposed); false if it may still take effect.
    pub definite: bool,
    /// The node contacted last.
    pub node: NodeId,
}

struct Session {
    seq: u64,
    hint: Option<NodeId>,
    next: usize,
    replies: Receiver<Response>,
    reply_to: Sender<Response>,
}

/// A client session on the live cluster.
pub struct Client {
    shared: Arc<Shared>,
    members: Vec<NodeId>,
    id: ClientId,
    options: ClientOptions,
    session: Mutex<Session>,
}

impl Client {
    pub(crate) fn new(shared: Arc<Shared>, members: Vec<NodeId>, id: u64, options: ClientOptions) -> Self {
        let (reply_to, replies) = unbounded();
        let next = (id as usize) % members.len().max(1);
        Client {
            shared,
            members,
            id: ClientId(id),
            options,
            session: Mutex::new(Session { seq: 0, hint: None, next, replies, reply_to }),
        }
    }

    /// This session's client id.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// Writes `value` to `key`. Returns the node that answered.
    pub fn put(&self, key: &str, value: &str) -> Result<NodeId, OpError> {
        self.execute(Op::Put { key: key.into(), value: value.into() }).map(|(_, node)| node)
    }

    /// Reads `key` (`None` if absent), linearizably. Returns the value and the node that answered.
    pub fn get(&self, key: &str) -> Result<(Option<String>, NodeId), OpError> {
        match self.execute(Op::Get { key: key.into() })? {
            (Reply::Get { value }, node) => Ok((value, node)),
            (Reply::Put, node) => Err(OpError { message: "wrong reply kind".into(), definite: true, node }),
        }
    }

    /// Runs one operation with retries. The sequence number is the same for every attempt, so
    /// the state machine applies a put at most once.
    pub fn execute(&self, op: Op) -> Result<(Reply, NodeId), OpError> {
        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        session.seq += 1;
        let request = Request { id: RequestId { client: self.id, seq: session.seq }, op };
        let mut uncertain = false;
        let mut last = OpError { message: "no attempt".into(), definite: true, node: NodeId(0) };
        for attempt in 0..self.options.attempts.max(1) {
            let node = self.options.via.or(session.hint.take()).unwrap_or_else(|| {
                let n = self.members[session.next % self.members.len()];
                session.next += 1;
                n
            });
            last.node = node;
            let speed = self.shared.speed();
            if attempt > 0 && !last.message.starts_with("not leader") {
                std::thread::sleep(self.options.backoff.div_f64(speed));
            }
            let route = self.shared.routes.read().unwrap_or_else(PoisonError::into_inner).get(&node).cloned();
            let sent = route
                .is_some_and(|tx| tx.send(Input::Client(request.clone(), session.reply_to.clone())).is_ok());
            if !sent {
                last.message = format!("{node} is down");
                continue;
            }
            let deadline = Instant::now() + self.options.timeout.div_f64(speed);
            let answer = loop {
                match session.replies.recv_deadline(deadline) {
                    // Answers to earlier operations of this session are stale: skip them.
                    Ok(r) if r.id != request.id => continue,
                    Ok(r) => break Some(r),
                    Err(_) => break None,
                }
            };
            match answer {
                None => {
                    uncertain = true;
                    last.message = format!("timeout waiting for {node}");
                }
                Some(Response { result: Ok(reply), .. }) => return Ok((reply, node)),
                Some(Response { result: Err(error), .. }) => {
                    if !error.is_definite() {
                        uncertain = true;
                    }
                    last.message = error.to_string();
                    if let ClientError::NotLeader { leader } = error {
                        session.hint = Some(leader);
                    }
                }
            }
        }
        last.definite = !uncertain;
        Err(last)
    }
}
