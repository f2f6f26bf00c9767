//! One node's thread: it owns its core and (a handle to) its storage, and loops over its inbox,
//! a ticker and a control channel with `select!`. Each iteration drains what is queued (so a
//! burst of client requests becomes one batch), then runs the driver contract once: send what
//! need not wait, write and fsync once (group commit), send what waited, answer clients.

use super::net::{Answered, Input, Shared};
use crate::control::{NodeStatus, RunState};
use crate::events::EventKind;
use crate::kv::RequestId;
use crate::kv::{Kv, KvNode, SessionLimits};
use crate::raft::{Config, NodeId};
use crate::storage::{BoxedStorage, Recovered, StorageError};
use crossbeam_channel::{Receiver, Sender, select};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Orders from the cluster to one node thread.
pub(crate) enum Order {
    /// End the thread (a crash: volatile state is lost, storage stays).
    Kill,
    /// Stop ticking and receiving until resumed; messages wait in the inbox.
    Pause,
    /// Carry on after a pause.
    Resume,
    /// Time out now and campaign.
    Campaign,
    /// Transfer leadership to this node (thesis §3.10), if this node leads.
    Transfer(NodeId),
    /// Tick this many times now, handling what each tick causes (time moved by hand).
    Tick(u32),
    /// Change the tick length (the time scale changed).
    SetTick(Duration),
    /// Report a snapshot of the node's state.
    Status(Sender<NodeStatus>),
    /// Panic on purpose (to exercise the crash path).
    Panic,
}

/// The shared storage handle: it outlives a node thread (a killed in-memory node keeps it).
pub(crate) type SharedStorage = Arc<Mutex<BoxedStorage>>;

/// Everything a node thread needs.
pub(crate) struct NodeContext {
    pub shared: Arc<Shared>,
    pub config: Config,
    pub recovered: Recovered,
    pub storage: SharedStorage,
    pub inbox: Receiver<Input>,
    pub orders: Receiver<Order>,
    pub tick: Duration,
    pub sessions: SessionLimits,
    pub rng_seed: u64,
}

/// Tests only ([`super::ClusterOptions::probe`]): every node's real state after each batch it
/// handled, with how many events of that node's the log held then. A node's events, here, are
/// those that name it, but for `client` events: its own thread's (what it did, sent and
/// received) and its life's (restart, crash, a failure), which come while its thread does not
/// run. So they reach the log in the order they are counted, and a reader of the log finds the
/// moment of each record: right after that node's `events`-th event.
#[derive(Debug, Default)]
pub struct StatusProbe {
    counts: Mutex<HashMap<NodeId, u64>>,
    records: Mutex<Vec<ProbeRecord>>,
}

/// One node's real state after one batch.
#[derive(Clone, Debug)]
pub struct ProbeRecord {
    /// The node.
    pub node: NodeId,
    /// How many of its events the log held then (see [`StatusProbe`]).
    pub events: u64,
    /// Its state.
    pub status: NodeStatus,
}

impl StatusProbe {
    /// Counts `n` more events of `node`'s.
    pub(crate) fn count(&self, node: NodeId, n: u64) {
        *self.counts.lock().unwrap_or_else(PoisonError::into_inner).entry(node).or_default() += n;
    }

    fn record(&self, node: &KvNode) {
        let id = node.id();
        let events = self.counts.lock().unwrap_or_else(PoisonError::into_inner).get(&id).copied();
        let status = NodeStatus::of(node, RunState::Running);
        let record = ProbeRecord { node: id, events: events.unwrap_or(0), status };
        self.records.lock().unwrap_or_else(PoisonError::into_inner).push(record);
    }

    /// The records so far, in the order each node made them.
    pub fn records(&self) -> Vec<ProbeRecord> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Inputs drained per loop iteration at most, so control and ticks are never starved.
const BATCH: usize = 8192;
/// Times a node yields, waiting for more input, before it blocks.
const SPIN: usize = 16;

/// Why a node thread stopped on its own, or could not start.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StopReason {
    /// Its storage could not be opened or read (a damaged or unreadable log).
    #[error("cannot start: {0}")]
    CannotStart(Arc<StorageError>),
    /// A write or sync failed (a full disk, an I/O error): the node stopped cleanly, its
    /// unsynced writes discarded.
    #[error("stopped on a storage error: {0}")]
    Storage(Arc<StorageError>),
}

/// A node that could not start, or stopped on an error, and why (for `quorum run`'s report and
/// the console's card).
#[derive(Clone, Debug)]
pub struct NodeFailure {
    /// The node.
    pub node: NodeId,
    /// Why, naming the file and offset for storage errors.
    pub reason: StopReason,
}

impl NodeFailure {
    pub(super) fn cannot_start(node: NodeId, error: StorageError) -> Self {
        NodeFailure { node, reason: StopReason::CannotStart(Arc::new(error)) }
    }
}

/// The thread's body. Returns `Ok` when killed or when the cluster shuts down, and the reason
/// when it stops on a storage error (a full disk, an I/O error): the node stops cleanly, its
/// unsynced writes are discarded, and it can be restarted once the cause is gone.
pub(crate) fn run(ctx: NodeContext) -> Result<(), StopReason> {
    let NodeContext { shared, config, sessions, recovered, storage, inbox, orders, tick, rng_seed } = ctx;
    let id = config.id;
    let trace = config.trace;
    let mut node = KvNode::new(config, recovered, Kv::with_limits(sessions));
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(rng_seed);
    let mut waiting: HashMap<RequestId, Sender<Answered>> = HashMap::new();
    let mut ticker = crossbeam_channel::tick(tick);
    let mut paused = false;
    loop {
        if paused {
            match orders.recv() {
                Ok(Order::Resume) => paused = false,
                Ok(Order::Kill) | Err(_) => {
                    lose_inbox(&shared, &inbox);
                    return Ok(());
                }
                Ok(Order::SetTick(d)) => ticker = crossbeam_channel::tick(d),
                Ok(Order::Status(tx)) => {
                    let _ = tx.send(NodeStatus::of(&node, RunState::Paused));
                }
                // A paused leader cannot hand over (the engine refuses it; an order that
                // crossed the pause is dropped as a campaign is).
                Ok(Order::Pause | Order::Campaign | Order::Transfer(_) | Order::Tick(_)) => {}
                Ok(Order::Panic) => panic!("{id} panicked on request"),
            }
            continue;
        }
        select! {
            recv(inbox) -> input => match input {
                Ok(input) => handle(&shared, trace, &mut node, &mut waiting, input),
                Err(_) => return Ok(()),
            },
            // A frozen cluster's time stands still: its timers do not run.
            recv(ticker) -> _ => if !shared.is_frozen() { node.tick() },
            recv(orders) -> order => match order {
                Ok(Order::Kill) | Err(_) => {
                    lose_inbox(&shared, &inbox);
                    return Ok(());
                }
                Ok(Order::Pause) => paused = true,
                Ok(Order::Resume) => {}
                Ok(Order::Campaign) => node.campaign(),
                Ok(Order::Transfer(target)) => node.transfer_leadership(target),
                Ok(Order::Tick(n)) => {
                    for _ in 1..n {
                        node.tick();
                        drive(&shared, &mut node, &storage, &mut waiting, &mut rng)
                            .map_err(|e| StopReason::Storage(Arc::new(e)))?;
                    }
                    node.tick();
                }
                Ok(Order::SetTick(d)) => ticker = crossbeam_channel::tick(d),
                Ok(Order::Status(tx)) => {
                    let _ = tx.send(NodeStatus::of(&node, RunState::Running));
                }
                Ok(Order::Panic) => panic!("{id} panicked on request"),
            },
        }
        if paused {
            continue;
        }
        for input in inbox.try_iter().take(BATCH) {
            handle(&shared, trace, &mut node, &mut waiting, input);
        }
        if let Err(e) = drive(&shared, &mut node, &storage, &mut waiting, &mut rng) {
            // Nothing of the failed batch was acknowledged: its messages and replies wait for
            // the write, and `advance()` was not called.
            return Err(StopReason::Storage(Arc::new(e)));
        }
        if let Some(probe) = &shared.probe {
            probe.record(&node);
        }
        // The answer to what was just sent usually comes back within microseconds: yield the
        // core a few times before going to sleep, which saves a wake-up per round trip.
        for _ in 0..SPIN {
            if !inbox.is_empty() {
                break;
            }
            std::thread::yield_now();
        }
    }
}

fn handle(
    shared: &Shared,
    trace: bool,
    node: &mut KvNode,
    waiting: &mut HashMap<RequestId, Sender<Answered>>,
    input: Input,
) {
    match input {
        Input::Peer(id, message) => {
            if trace {
                shared.emit(
                    Some(node.id()),
                    Some(node.term()),
                    EventKind::Deliver { id, message: message.clone() },
                );
            }
            node.step(message)
        }
        Input::Client(request, reply) => {
            waiting.insert(request.id, reply);
            node.client_request(request);
        }
    }
}

/// The driver contract of [`crate::raft`], once per loop iteration: several `Ready`s may come
/// out (advancing can produce more), and each waits for its own durable write; the writes of
/// all client requests drained in this iteration share the first sync.
fn drive(
    shared: &Shared,
    node: &mut KvNode,
    storage: &SharedStorage,
    waiting: &mut HashMap<RequestId, Sender<Answered>>,
    rng: &mut Xoshiro256PlusPlus,
) -> Result<(), StorageError> {
    while node.has_ready() {
        let mut ready = node.ready();
        // Events first: what a node did is recorded before anyone can react to its messages.
        shared.emit_batch(std::mem::take(&mut ready.events));
        let term = node.term();
        for message in std::mem::take(&mut ready.messages) {
            shared.send(message, term, rng);
        }
        if ready.snapshot.is_some() || ready.hard_state.is_some() || ready.entries.is_some() {
            let mut storage = storage.lock().unwrap_or_else(PoisonError::into_inner);
            storage.write_ready(&ready)?;
            storage.sync()?;
        }
        for message in ready.persisted_messages {
            shared.send(message, term, rng);
        }
        for response in ready.replies {
            if let Some(tx) = waiting.remove(&response.id) {
                let _ = tx.send(Answered { response, leader: node.leader() });
            }
        }
        node.advance();
    }
    Ok(())
}

/// A killed node's inbox is lost with it: the messages that waited there are dropped, and say
/// so in the event log (their clients' answer channels close, which their clients see).
fn lose_inbox(shared: &Shared, inbox: &Receiver<Input>) {
    for input in inbox.try_iter() {
        if let Input::Peer(id, message) = input {
            shared.drop_message(id, message, "crashed");
        }
    }
}
