//! Simulated clients: each registers a session first (thesis §6.3), then has at most one
//! operation in flight, contacts any node (not only the leader), retries with the same session
//! sequence number after an error or a timeout, registers again if its session expired before
//! anything of the operation took effect, and records the history in Jepsen's format.

use crate::check::history::{EventType, HistoryEvent, OpKind};
use crate::kv::{ClientError, ClientId, Op, Reply, Request, RequestId, Response};
use crate::raft::NodeId;
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;

/// How long a client waits for an answer before retrying elsewhere (virtual ns).
pub const REQUEST_TIMEOUT: u64 = 500_000_000;
/// Pause before retrying after "no leader" (virtual ns).
pub const RETRY_BACKOFF: u64 = 50_000_000;
/// Attempts per operation before giving up.
pub const MAX_ATTEMPTS: u32 = 6;

/// One operation in flight.
#[derive(Clone, Debug)]
struct InFlightOp {
    request: Request,
    attempt: u32,
    node: NodeId,
    /// When to give up on the current attempt.
    deadline: u64,
    /// When to send the next attempt (after a backoff), if one is scheduled.
    retry_at: Option<u64>,
    /// Where to send the next attempt, if a redirect named the leader.
    hint: Option<NodeId>,
    /// Some attempt may have taken effect (timeout or indeterminate error).
    uncertain: bool,
    /// The session expired before any attempt could take effect: the operation waits for a new
    /// session, then carries on under it with a new sequence number.
    needs_session: bool,
    /// It has carried on under a new session once already (it never does twice).
    renewed: bool,
    /// The last answer said its session had expired.
    session_expired: bool,
    last_error: String,
    invoked_at: u64,
}

/// A register request in flight (thesis §6.3): the client has no session yet.
#[derive(Clone, Debug)]
struct Registering {
    request: Request,
    /// When to send it (again) to another node.
    resend_at: u64,
}

/// What a client wants the driver to do now.
#[derive(Clone, Debug)]
pub enum Action {
    /// Send this request to this node.
    Send(NodeId, Request),
}

/// A simulated client.
pub struct SimClient {
    /// Its number in the history (`process`), stable across sessions.
    process: u64,
    /// The registered session, once there is one.
    session: Option<ClientId>,
    registering: Option<Registering>,
    /// Register requests sent so far (their nonces are unique in the run).
    registrations: u64,
    seq: u64,
    op: Option<InFlightOp>,
    next_start: u64,
    /// Operations this client still has to start.
    pub remaining: usize,
    /// Operations completed with `ok`.
    pub ok: usize,
    /// Operations completed with `fail`.
    pub fail: usize,
    /// Operations completed with `info`.
    pub info: usize,
    puts: u64,
}

/// How an operation ended, for the driver's bookkeeping.
#[derive(Clone, Debug)]
pub struct Completion {
    /// The history event written.
    pub event: HistoryEvent,
    /// The request, for checks on acknowledged puts.
    pub request: Request,
    /// When the operation was invoked.
    pub invoked_at: u64,
    /// The node its last attempt went to.
    pub via: NodeId,
    /// It ended because its session had expired (and carrying it on under a new session could
    /// have applied it twice): an unknown outcome by design, not a lack of progress.
    pub session_expired: bool,
}

impl SimClient {
    /// Client number `process` (1, 2, ...) that will run `ops` operations.
    pub fn new(process: u64, ops: usize) -> Self {
        SimClient {
            process,
            session: None,
            registering: None,
            registrations: 0,
            seq: 0,
            op: None,
            next_start: 0,
            remaining: ops,
            ok: 0,
            fail: 0,
            info: 0,
            puts: 0,
        }
    }

    /// The client's number in the history.
    pub fn process(&self) -> u64 {
        self.process
    }

    /// The registered session, if any.
    pub fn session(&self) -> Option<ClientId> {
        self.session
    }

    /// True if `id` is addressed to this client: its register request, or its session.
    pub fn owns(&self, id: RequestId) -> bool {
        self.registering.as_ref().is_some_and(|r| r.request.id == id)
            || (id.client != ClientId::UNREGISTERED && Some(id.client) == self.session)
    }

    /// True when every operation has finished.
    pub fn done(&self) -> bool {
        self.remaining == 0 && self.op.is_none()
    }

    /// The next time this client wants to act.
    pub fn next_time(&self) -> Option<u64> {
        if let Some(r) = &self.registering {
            return Some(r.resend_at);
        }
        match &self.op {
            Some(op) if op.needs_session => Some(op.deadline),
            Some(op) => Some(op.retry_at.unwrap_or(op.deadline).min(op.deadline)),
            None if self.remaining > 0 => Some(self.next_start),
            None => None,
        }
    }

    /// Acts if it is time: registers a session, starts a new operation, retries, or gives up
    /// on a timed-out attempt. Returns what to send and the history events produced.
    pub fn poll(
        &mut self,
        now: u64,
        nodes: &[NodeId],
        keys: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> (Option<Action>, Vec<Completion>, Vec<HistoryEvent>) {
        let mut invokes = Vec::new();
        let mut done = Vec::new();
        if self.session.is_none() {
            // Registration comes first; it is not part of the history (it touches no key).
            if self.remaining == 0 && self.op.is_none() {
                return (None, done, invokes);
            }
            return (self.register(now, nodes, rng), done, invokes);
        }
        let Some(op) = self.op.as_mut() else {
            if self.remaining == 0 || now < self.next_start {
                return (None, done, invokes);
            }
            self.remaining -= 1;
            self.seq += 1;
            let key = format!("k{}", rng.random_range(0..keys.max(1)));
            let (op, f, value) = if rng.random_bool(0.5) {
                self.puts += 1;
                let value = format!("{}.{}", self.process, self.puts);
                (Op::Put { key: key.clone(), value: value.clone() }, OpKind::Put, Some(value))
            } else {
                (Op::Get { key: key.clone() }, OpKind::Get, None)
            };
            let node = nodes[rng.random_range(0..nodes.len())];
            let Some(session) = self.session else { unreachable!("checked above") };
            let request = Request::new(RequestId { client: session, seq: self.seq }, op);
            let mut invoke = HistoryEvent::invoke(self.process, f, &key, value.as_deref(), now);
            invoke.node = Some(node.0);
            invokes.push(invoke);
            self.op = Some(InFlightOp {
                request: request.clone(),
                attempt: 1,
                node,
                deadline: now + REQUEST_TIMEOUT,
                retry_at: None,
                hint: None,
                uncertain: false,
                needs_session: false,
                renewed: false,
                session_expired: false,
                last_error: String::new(),
                invoked_at: now,
            });
            return (Some(Action::Send(node, request)), done, invokes);
        };
        if op.needs_session {
            // A new session arrived: the operation carries on under it.
            op.needs_session = false;
            self.seq += 1;
            let Some(session) = self.session else { unreachable!("checked above") };
            op.request = Request::new(RequestId { client: session, seq: self.seq }, op.request.op.clone());
            return (self.retry(now, nodes, rng), done, invokes);
        }
        if op.retry_at.is_some_and(|t| now >= t) {
            op.retry_at = None;
            return (self.retry(now, nodes, rng), done, invokes);
        }
        if now >= op.deadline {
            // No answer: the attempt may or may not take effect.
            op.uncertain = true;
            op.last_error = "timeout".into();
            if op.attempt >= MAX_ATTEMPTS {
                done.push(self.finish(now, None, rng));
                return (None, done, invokes);
            }
            return (self.retry(now, nodes, rng), done, invokes);
        }
        (None, done, invokes)
    }

    /// Sends (or resends, to another node) the register request when it is due.
    fn register(&mut self, now: u64, nodes: &[NodeId], rng: &mut Xoshiro256PlusPlus) -> Option<Action> {
        if self.registering.as_ref().is_some_and(|r| now < r.resend_at) {
            return None;
        }
        let request = match &self.registering {
            Some(r) => r.request.clone(),
            None => {
                self.registrations += 1;
                // Unique in the run: the client's number in the high bits.
                let nonce = (self.process << 32) | self.registrations;
                Request::new(RequestId::register(nonce), Op::Register)
            }
        };
        self.registering = Some(Registering { request: request.clone(), resend_at: now + REQUEST_TIMEOUT });
        Some(Action::Send(nodes[rng.random_range(0..nodes.len())], request))
    }

    fn retry(&mut self, now: u64, nodes: &[NodeId], rng: &mut Xoshiro256PlusPlus) -> Option<Action> {
        let op = self.op.as_mut()?;
        op.attempt += 1;
        op.node = op.hint.take().unwrap_or_else(|| nodes[rng.random_range(0..nodes.len())]);
        op.deadline = now + REQUEST_TIMEOUT;
        Some(Action::Send(op.node, op.request.clone()))
    }

    /// Handles an answer for this client. Answers to an old operation are ignored; an answer to
    /// any attempt of the current operation counts (they share the session sequence number).
    pub fn on_response(
        &mut self,
        now: u64,
        response: Response,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Option<Completion> {
        if let Some(r) = &mut self.registering
            && r.request.id == response.id
        {
            match response.result {
                Ok(Reply::Registered { client }) => {
                    self.registering = None;
                    self.session = Some(client);
                    if let Some(op) = self.op.as_mut().filter(|op| op.needs_session) {
                        // Carry on at once (see `poll`).
                        op.deadline = now;
                    }
                }
                // Try another node after a while (at once after a redirect).
                Err(ClientError::NotLeader { .. }) => r.resend_at = now,
                _ => r.resend_at = now + RETRY_BACKOFF,
            }
            return None;
        }
        let op = self.op.as_mut()?;
        if response.id != op.request.id {
            return None;
        }
        match response.result {
            Ok(reply) => Some(self.finish(now, Some(reply), rng)),
            Err(error) => {
                if !error.is_definite() {
                    op.uncertain = true;
                }
                op.last_error = error.to_string();
                op.session_expired = matches!(error.inner(), ClientError::UnknownSession { .. });
                if op.session_expired {
                    // The session is gone: whatever happens to this operation, the next one
                    // needs a new session.
                    self.session = None;
                    if !op.uncertain && !op.renewed {
                        // The leader's own answer, and no earlier attempt can have taken effect:
                        // register again and carry the operation on under the new session.
                        op.needs_session = true;
                        op.renewed = true;
                        op.deadline = now;
                        return None;
                    }
                    // An earlier attempt (or a copy of a forwarded one) may have been applied:
                    // re-sending under a new session could apply it twice. Unknown outcome.
                    return Some(self.finish(now, None, rng));
                }
                if op.attempt >= MAX_ATTEMPTS
                    || matches!(error.inner(), ClientError::Stale { .. } | ClientError::SeqReused { .. })
                {
                    return Some(self.finish(now, None, rng));
                }
                match error.inner() {
                    ClientError::NotLeader { leader } => {
                        op.hint = Some(*leader);
                        op.retry_at = Some(now);
                    }
                    _ => op.retry_at = Some(now + RETRY_BACKOFF),
                }
                None
            }
        }
    }

    /// Ends the current operation: `ok` with the reply, else `fail` if no attempt can have taken
    /// effect, `info` if one might.
    fn finish(&mut self, now: u64, reply: Option<Reply>, rng: &mut Xoshiro256PlusPlus) -> Completion {
        let Some(op) = self.op.take() else { unreachable!("finish without an operation") };
        let session_expired = reply.is_none() && op.session_expired;
        self.next_start = now + rng.random_range(0..100_000_000);
        let (f, key, value) = match &op.request.op {
            Op::Put { key, value } => (OpKind::Put, key.clone(), Some(value.clone())),
            Op::Get { key } => (OpKind::Get, key.clone(), None),
            Op::Register => unreachable!("registration is not an operation of the history"),
        };
        let mut event = match reply {
            Some(Reply::Get { value }) => {
                self.ok += 1;
                HistoryEvent::complete(EventType::Ok, self.process, f, &key, value.as_deref(), now)
            }
            Some(Reply::Put | Reply::Registered { .. }) => {
                self.ok += 1;
                HistoryEvent::complete(EventType::Ok, self.process, f, &key, value.as_deref(), now)
            }
            None => {
                let kind = if op.uncertain {
                    self.info += 1;
                    EventType::Info
                } else {
                    self.fail += 1;
                    EventType::Fail
                };
                let mut e = HistoryEvent::complete(kind, self.process, f, &key, value.as_deref(), now);
                e.error = Some(op.last_error.clone());
                e
            }
        };
        event.node = Some(op.node.0);
        Completion { event, request: op.request, invoked_at: op.invoked_at, via: op.node, session_expired }
    }
}
