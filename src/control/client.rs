//! Client sessions, on either engine. A [`Client`] is one registered session (thesis §6.3):
//! on its first operation it registers through the cluster and gets the index of its register
//! entry as its id, unique for the life of the data. Each operation gets the next sequence
//! number, and every attempt of it carries the same one, so a retried put is applied at most
//! once. Several operations may be in flight on one handle at once (the console sends them from
//! several threads); each request carries the lowest sequence number still in flight, so the
//! state machine keeps the answers the client may still ask for, and forgets the rest.
//!
//! Routing: a client sends to the leader that its last answer named (a node hands back, with
//! each answer, the leader it knows), follows "not leader, try nX" at once, and on any other
//! failure moves to the next node in turn, skipping nodes known to be down (they have no
//! inbox). So one dead node costs nothing once a leader is known. A client can also be pinned
//! to one node, to show what that replica does.
//!
//! The session logic is the same on both engines; how a request reaches a node, and how long
//! waiting takes, is the engine's [`Transport`]: channels and real time in the live cluster,
//! the simulated world and virtual time in the simulator.

use crate::check::history::{EventType, HistoryEvent, OpKind};
use crate::events::{ClientRecord, EventKind, Outcome};
use crate::kv::{ClientError, ClientId, Op, Reply, Request, RequestId};
use crate::raft::NodeId;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The node is down (killed or crashed): nothing was sent.
    Down,
    /// No answer in time: the request may still take effect.
    Timeout,
    /// The node answered; with the leader it knows (itself, or the one it forwarded to).
    Answered(Result<Reply, ClientError>, Option<NodeId>),
}

/// How an engine carries a client's requests to its nodes, and how it keeps time for them.
pub trait Transport: Send + Sync {
    /// The node ids.
    fn members(&self) -> Vec<NodeId>;
    /// Whether a request sent to `node` now would reach a running node.
    fn is_up(&self, node: NodeId) -> bool;
    /// A number never handed out before in this engine (a register request's nonce).
    fn nonce(&self) -> u64;
    /// Sends `request` to `node` and waits for its answer, `timeout` at most (engine time at
    /// normal speed; a frozen cluster's clock does not count).
    fn attempt(&self, node: NodeId, request: &Request, timeout: Duration) -> Attempt;
    /// Waits `pause` of engine time at normal speed (a back-off).
    fn wait(&self, pause: Duration);
    /// An operation of this session starts (the simulator holds virtual time still while a
    /// client decides what to do next, so a session plays the same at the same virtual times).
    fn enter(&self) {}
    /// The operation ended.
    fn leave(&self) {}
}

/// How a client behaves.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// How long to wait for one attempt's answer, at normal speed (scaled by the time scale).
    pub timeout: Duration,
    /// Attempts per operation (the first included).
    pub attempts: u32,
    /// Send every attempt through this node only (no redirects), to see what it does.
    /// Registration is not pinned unless `pin_register` says so.
    pub via: Option<NodeId>,
    /// Register through `via` too: a client that reaches one node only (a connection to it)
    /// registers there or not at all. Otherwise a session is registered through any node.
    pub pin_register: bool,
    /// Pause before retrying after "no leader" or a lost leadership, at normal speed.
    pub backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_millis(1000),
            attempts: 8,
            via: None,
            pin_register: false,
            backoff: Duration::from_millis(50),
        }
    }
}

/// What went wrong last in an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpFailure {
    /// The node contacted was down.
    Down,
    /// The node contacted did not answer in time.
    Timeout,
    /// The node or the state machine refused.
    Refused(ClientError),
    /// An answer of the wrong kind (a bug if it ever happens).
    Unexpected(Reply),
    /// No session could be registered, for this reason.
    CannotRegister(Box<OpFailure>),
    /// Nothing was tried.
    NoAttempt,
}

/// Why an operation did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpError {
    /// What went wrong last.
    pub failure: OpFailure,
    /// True if the operation certainly had no effect (every attempt was refused before being
    /// proposed, or refused by the state machine); false if it may still take effect.
    pub definite: bool,
    /// The node contacted last.
    pub node: NodeId,
    /// The request's identity, once it had a session.
    pub id: Option<RequestId>,
}

impl OpFailure {
    fn describe(&self, node: NodeId, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpFailure::Down => write!(f, "{node} is down"),
            OpFailure::Timeout => write!(f, "timeout waiting for {node}"),
            OpFailure::Refused(e) => write!(f, "{e}"),
            OpFailure::Unexpected(reply) => write!(f, "unexpected answer {reply:?}"),
            OpFailure::CannotRegister(why) => {
                write!(f, "cannot register a client session: ")?;
                why.describe(node, f)
            }
            OpFailure::NoAttempt => write!(f, "no attempt"),
        }
    }
}

/// In words, for example "no leader" or "timeout waiting for n2".
impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.failure.describe(self.node, f)
    }
}

impl std::error::Error for OpError {}

/// A successful operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The state machine's reply.
    pub reply: Reply,
    /// The node that answered.
    pub node: NodeId,
    /// The request's identity (`c7#3`).
    pub id: RequestId,
}

struct State {
    /// The registered session, once there is one.
    session: Option<ClientId>,
    /// The next operation's sequence number.
    next_seq: u64,
    /// Operations in flight, by session and sequence number (for the ack floor).
    in_flight: BTreeSet<(ClientId, u64)>,
    /// The node that answered last, or that a redirect named: tried first.
    preferred: Option<NodeId>,
    /// Where the rotation goes next.
    next: usize,
}

/// A client session. `Send + Sync`: operations may run on several threads at once.
pub struct Client {
    transport: Arc<dyn Transport>,
    members: Vec<NodeId>,
    options: ClientOptions,
    state: Mutex<State>,
    /// One registration at a time.
    registering: Mutex<()>,
    /// Set by [`Client::cancel`]: no more attempts.
    cancelled: std::sync::atomic::AtomicBool,
}

impl Client {
    /// A session over `transport`; it starts its rotation of nodes at `start` (spread clients).
    pub fn new(transport: Arc<dyn Transport>, options: ClientOptions, start: usize) -> Self {
        let members = transport.members();
        let next = start % members.len().max(1);
        let state = State { session: None, next_seq: 1, in_flight: BTreeSet::new(), preferred: None, next };
        Client {
            transport,
            members,
            options,
            state: Mutex::new(state),
            registering: Mutex::new(()),
            cancelled: Default::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends every operation of this handle at its next attempt or back-off, which it no longer
    /// makes (it fails with nothing tried since): a lesson going back drops the handle whose
    /// operations belong to a run undone, so that none of them enters the run that replaces it.
    pub fn cancel(&self) {
        self.cancelled.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether [`Client::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// One attempt through the transport, unless the handle is cancelled (then a timeout,
    /// without sending: the operation's loop ends at its next turn).
    fn attempt(&self, node: NodeId, request: &Request) -> Attempt {
        if self.is_cancelled() {
            return Attempt::Timeout;
        }
        self.transport.attempt(node, request, self.options.timeout)
    }

    /// This session's client id, once it has registered.
    pub fn id(&self) -> Option<ClientId> {
        self.state().session
    }

    /// Registers the session now if it has none yet (operations do it on their own).
    pub fn register(&self) -> Result<ClientId, OpError> {
        let _op = Operation::enter(&*self.transport);
        self.session(None)
    }

    /// Writes `value` to `key`. Returns the node that answered.
    pub fn put(&self, key: &str, value: &str) -> Result<NodeId, OpError> {
        self.execute(Op::Put { key: key.into(), value: value.into() }).map(|(_, node)| node)
    }

    /// Reads `key` (`None` if absent), linearizably. Returns the value and the node that answered.
    pub fn get(&self, key: &str) -> Result<(Option<String>, NodeId), OpError> {
        match self.execute(Op::Get { key: key.into() })? {
            (Reply::Get { value }, node) => Ok((value, node)),
            (reply, node) => {
                Err(OpError { failure: OpFailure::Unexpected(reply), definite: true, node, id: None })
            }
        }
    }

    /// Runs one operation with the client's options. See [`Client::call`].
    pub fn execute(&self, op: Op) -> Result<(Reply, NodeId), OpError> {
        self.call(op, self.options.via).map(|a| (a.reply, a.node))
    }

    /// Runs one operation, pinned to `via` if given, registering the session first if needed.
    /// Every attempt carries the same sequence number, so the state machine applies a put at
    /// most once. If the session turns out to have expired and no attempt can have taken effect,
    /// the client registers again and carries on under the new session.
    pub fn call(&self, op: Op, via: Option<NodeId>) -> Result<Answer, OpError> {
        self.call_reserved(op, via, self.options.attempts, self.reserve()).0
    }

    /// Marks an operation of this session as begun before the thread that runs it does, so
    /// the simulator holds time still from now until that thread waits for its answer: what
    /// a lesson sends enters the world at the moment it was sent, whatever the threads'
    /// scheduling. Hand it to [`Client::call_reserved`] on the operation's thread.
    pub fn reserve(&self) -> Reserved {
        self.transport.enter();
        Reserved(Arc::clone(&self.transport))
    }

    /// [`Client::call`] with `attempts` attempts, inside the stay `reserved` began. The stay
    /// is handed back with the result: the simulator holds time still until the caller drops
    /// it, so what the caller records of the answer comes at the moment the answer came.
    pub fn call_reserved(
        &self,
        op: Op,
        via: Option<NodeId>,
        attempts: u32,
        reserved: Reserved,
    ) -> (Result<Answer, OpError>, Reserved) {
        (self.attempts(op, via, attempts), reserved)
    }

    fn attempts(&self, op: Op, via: Option<NodeId>, attempts: u32) -> Result<Answer, OpError> {
        let mut session = self.session(None)?;
        let mut renewed = false;
        let mut seq = self.begin(session);
        let mut uncertain = false;
        let mut last = OpError { failure: OpFailure::NoAttempt, definite: true, node: NodeId(0), id: None };
        let mut attempt = 0;
        let result = loop {
            if attempt >= attempts.max(1) || (attempt > 0 && self.is_cancelled()) {
                last.definite = !uncertain;
                break Err(last);
            }
            attempt += 1;
            let id = RequestId { client: session, seq };
            let request = Request { id, op: op.clone(), ack: self.ack(session, seq) };
            let node = self.pick(via);
            last.node = node;
            last.id = Some(id);
            // Back-offs are for the attempts to come: the last one returns at once.
            let more = attempt < attempts.max(1);
            match self.attempt(node, &request) {
                Attempt::Down => {
                    last.failure = OpFailure::Down;
                    self.state().preferred = None;
                    if more {
                        self.pause_if_all_down();
                    }
                }
                Attempt::Timeout => {
                    uncertain = true;
                    last.failure = OpFailure::Timeout;
                    self.state().preferred = None;
                }
                Attempt::Answered(Ok(reply), leader) => {
                    // Next time, straight to the leader the answering node knows.
                    self.state().preferred = leader.or(Some(node));
                    break Ok(Answer { reply, node, id });
                }
                Attempt::Answered(Err(ClientError::UnknownSession { .. }), _) if !uncertain && !renewed => {
                    // The leader's own answer, and no earlier attempt can have been applied: a
                    // new session may carry the operation.
                    self.end(session, seq);
                    session = self.session(Some(session))?;
                    renewed = true;
                    seq = self.begin(session);
                    attempt -= 1;
                }
                Attempt::Answered(Err(error), _) => {
                    uncertain |= !error.is_definite();
                    last.failure = OpFailure::Refused(error.clone());
                    match error.inner() {
                        ClientError::NotLeader { leader } => self.state().preferred = Some(*leader),
                        ClientError::UnknownSession { .. } => {
                            // An earlier attempt (or another copy of a forwarded one) may have
                            // been applied before the session expired: re-sending it under a new
                            // session could apply it twice. The operation ends here, unknown;
                            // the next one registers anew.
                            self.forget(session);
                            last.definite = !uncertain;
                            break Err(last);
                        }
                        ClientError::Stale { .. } | ClientError::SeqReused { .. } => {
                            last.definite = !uncertain;
                            break Err(last);
                        }
                        _ => {
                            self.state().preferred = None;
                            if more {
                                self.backoff();
                            }
                        }
                    }
                }
            }
        };
        self.end(session, seq);
        result
    }

    /// The session, registering one if there is none or if `expired` is the current one.
    fn session(&self, expired: Option<ClientId>) -> Result<ClientId, OpError> {
        // Waiting for another operation's registration is waiting, not deciding: the engine
        // may move time meanwhile (the simulator would otherwise wait for this thread).
        let _one = match self.registering.try_lock() {
            Ok(one) => one,
            Err(_) => {
                self.transport.leave();
                let one = self.registering.lock().unwrap_or_else(PoisonError::into_inner);
                self.transport.enter();
                one
            }
        };
        {
            let mut state = self.state();
            match state.session {
                Some(s) if Some(s) != expired => return Ok(s),
                Some(_) => state.session = None,
                None => {}
            }
        }
        let nonce = self.transport.nonce();
        let request = Request::new(RequestId::register(nonce), Op::Register);
        let mut last = OpFailure::NoAttempt;
        let mut node = NodeId(0);
        let attempts = self.options.attempts.max(self.members.len() as u32);
        for attempt in 1..=attempts {
            if attempt > 1 && self.is_cancelled() {
                break;
            }
            node = self.pick(self.options.via.filter(|_| self.options.pin_register));
            match self.attempt(node, &request) {
                Attempt::Answered(Ok(Reply::Registered { client }), leader) => {
                    let mut state = self.state();
                    state.session = Some(client);
                    state.preferred = leader.or(Some(node));
                    return Ok(client);
                }
                Attempt::Answered(Ok(other), _) => last = OpFailure::Unexpected(other),
                Attempt::Answered(Err(e @ ClientError::NotLeader { leader }), _) => {
                    last = OpFailure::Refused(e);
                    self.state().preferred = Some(leader);
                    continue;
                }
                Attempt::Answered(Err(e), _) => last = OpFailure::Refused(e),
                Attempt::Timeout => last = OpFailure::Timeout,
                Attempt::Down => {
                    last = OpFailure::Down;
                    self.state().preferred = None;
                    if attempt < attempts {
                        self.pause_if_all_down();
                    }
                    continue;
                }
            }
            self.state().preferred = None;
            if attempt < attempts {
                self.backoff();
            }
        }
        // Registering changes no key: whatever happened, the operation itself had no effect.
        Err(OpError { failure: OpFailure::CannotRegister(Box::new(last)), definite: true, node, id: None })
    }

    /// Drops `session` if it is still the current one, so the next operation registers anew.
    fn forget(&self, session: ClientId) {
        let mut state = self.state();
        if state.session == Some(session) {
            state.session = None;
        }
    }

    /// Takes the next sequence number of `session` and marks it in flight.
    fn begin(&self, session: ClientId) -> u64 {
        let mut state = self.state();
        let seq = state.next_seq;
        state.next_seq += 1;
        state.in_flight.insert((session, seq));
        seq
    }

    fn end(&self, session: ClientId, seq: u64) {
        self.state().in_flight.remove(&(session, seq));
    }

    /// The lowest sequence number of `session` still in flight (at most `seq`).
    fn ack(&self, session: ClientId, seq: u64) -> u64 {
        let state = self.state();
        state.in_flight.range((session, 0)..=(session, seq)).next().map_or(seq, |&(_, s)| s)
    }

    /// A down node costs nothing (the next one is tried at once), but with every node down the
    /// client waits a back-off before trying again, rather than spin.
    fn pause_if_all_down(&self) {
        if !self.members.iter().any(|&m| self.is_up(m)) {
            self.backoff();
        }
    }

    /// Waits the back-off (engine time at normal speed).
    fn backoff(&self) {
        if self.is_cancelled() {
            return;
        }
        self.transport.wait(self.options.backoff);
    }

    fn is_up(&self, node: NodeId) -> bool {
        self.transport.is_up(node)
    }

    /// The node for the next attempt: the pinned one, else the preferred one, else the next
    /// one in turn that is up.
    fn pick(&self, via: Option<NodeId>) -> NodeId {
        if let Some(v) = via {
            return v;
        }
        let mut state = self.state();
        if let Some(p) = state.preferred.filter(|&p| self.is_up(p)) {
            return p;
        }
        let n = self.members.len().max(1);
        let mut chosen = self.members[state.next % n];
        for k in 0..n {
            let candidate = self.members[(state.next + k) % n];
            if self.is_up(candidate) {
                chosen = candidate;
                state.next += k;
                break;
            }
        }
        state.next += 1;
        chosen
    }
}

/// An operation's stay in its session, begun on one thread for another ([`Client::reserve`]):
/// left when dropped.
pub struct Reserved(Arc<dyn Transport>);

impl Drop for Reserved {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// What a session remembers between operations: its id, its next sequence number and where it
/// sends next. A lesson saves it with each step and puts it back when it goes back a step, so
/// the step plays again with the same requests ([`Client::save`], [`Client::restore`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionState {
    session: Option<ClientId>,
    next_seq: u64,
    preferred: Option<NodeId>,
    next: usize,
}

impl Client {
    /// The session's state now (operations in flight are not part of it).
    pub fn save(&self) -> SessionState {
        let s = self.state();
        SessionState { session: s.session, next_seq: s.next_seq, preferred: s.preferred, next: s.next }
    }

    /// Puts back a state [`Client::save`] returned; forgets the operations in flight.
    pub fn restore(&self, saved: &SessionState) {
        let mut s = self.state();
        s.session = saved.session;
        s.next_seq = saved.next_seq;
        s.preferred = saved.preferred;
        s.next = saved.next;
        s.in_flight.clear();
    }
}

/// One operation's stay in the session: entered on creation, left when dropped (even when the
/// operation's thread unwinds).
struct Operation<'a>(&'a dyn Transport);

impl<'a> Operation<'a> {
    fn enter(transport: &'a dyn Transport) -> Self {
        transport.enter();
        Operation(transport)
    }
}

impl Drop for Operation<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// A duration as the console shows latencies: `3.1 ms`, `1.25 s`.
pub fn latency(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1000.0 { format!("{ms:.1} ms") } else { format!("{:.2} s", ms / 1e3) }
}

/// What a client saw of an operation sent through `via` at `invoked` (engine ns), for its
/// `client` event.
pub fn client_record(op: Op, via: NodeId, invoked: u64, result: &Result<Answer, OpError>) -> ClientRecord {
    ClientRecord {
        op,
        via,
        invoked,
        outcome: match result {
            Ok(_) => Outcome::Ok,
            Err(e) if e.definite => Outcome::Failed,
            Err(_) => Outcome::Unknown,
        },
        id: match result {
            Ok(a) => Some(a.id),
            Err(e) => e.id,
        },
        value: match result {
            Ok(Answer { reply: Reply::Get { value }, .. }) => value.clone(),
            _ => None,
        },
        error: result.as_ref().err().map(ToString::to_string),
        conn: None,
        answered: None,
    }
}

/// The `client` event of an operation sent through `via` at `invoked` (engine ns) that took
/// `took`: in words (`c2#1 put x=1 via n1 → ok (3.1 ms)`) and structured, for a reader.
pub fn client_event(
    request: Op,
    via: NodeId,
    invoked: u64,
    took: Duration,
    result: &Result<Answer, OpError>,
) -> EventKind {
    client_record(request, via, invoked, result).event(took.as_nanos() as u64)
}

/// A client operation's invocation in a client history (`None` for a register, which is no
/// operation of a history); the console's, the lessons' and external clients' operations all go through here.
pub fn invocation(process: u64, op: &Op, time: u64) -> Option<HistoryEvent> {
    let (f, key, value) = parts(op)?;
    Some(HistoryEvent::invoke(process, f, key, value, time))
}

/// Its completion, with `result`: ok with the value read or written, failed (certainly no
/// effect) or info (unknown), with the node that answered and the error.
pub fn completion(
    process: u64,
    op: &Op,
    result: &Result<Answer, OpError>,
    time: u64,
) -> Option<HistoryEvent> {
    let (f, key, value) = parts(op)?;
    let (kind, shown) = match result {
        Ok(Answer { reply: Reply::Get { value: read }, .. }) => (EventType::Ok, read.as_deref()),
        Ok(_) => (EventType::Ok, value),
        Err(e) if e.definite => (EventType::Fail, value),
        Err(_) => (EventType::Info, value),
    };
    let mut e = HistoryEvent::complete(kind, process, f, key, shown, time);
    match result {
        Ok(answer) => e.node = Some(answer.node.0),
        Err(error) => {
            e.node = Some(error.node.0);
            e.error = Some(error.to_string());
        }
    }
    Some(e)
}

fn parts(op: &Op) -> Option<(OpKind, &str, Option<&str>)> {
    match op {
        Op::Put { key, value } => Some((OpKind::Put, key, Some(value))),
        Op::Get { key } => Some((OpKind::Get, key, None)),
        Op::Register => None,
    }
}
