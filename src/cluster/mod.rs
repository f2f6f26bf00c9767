//! The live cluster: the same core, driven in real time by one OS thread per node, with
//! crossbeam channels as the network, real files for durable state, a fault model that can be
//! changed while it runs, and one stream of events.
//!
//! Messages normally go straight from the sender's thread into the receiver's inbox, after the
//! sender has asked the shared fault model whether the link is up and whether to lose or
//! duplicate the message. A message that must be delayed goes to the router thread, which holds
//! it until its time and then judges it again against the fault model as it is *at delivery*
//! (a partition made meanwhile drops it), exactly as the simulator does.

mod bench;
mod client;
mod hub;
mod node;
mod run;

pub use bench::{BenchResult, bench};
pub use client::{Client, ClientOptions, OpError};
pub use run::{RunOptions, RunReport, run};

use crate::events::{Event, EventKind};
use crate::kv::{Request, Response};
use crate::raft::{Config, EntryId, Hazard, LogIndex, Message, NodeId, Role, Term};
use crate::sim::nemesis::FaultTarget;
use crate::network::{Fate, LinkRule, Network};
use crate::storage::{BoxedStorage, DataDir, DiskStorage, FsyncPolicy, MemStorage, StorageError};
use crossbeam_channel::{Receiver, Sender, unbounded};
pub use node::NodeFailure;
use node::{Control, NodeContext, SharedStorage};
use std::collections::{BTreeMap, BinaryHeap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where the nodes keep their durable state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageOptions {
    /// In memory: survives a killed node, not the process.
    Memory,
    /// One write-ahead log file per node in a locked data directory.
    Disk {
        /// The data directory, opened (and locked) by [`DataDir::open`] for this many nodes.
        dir: Arc<DataDir>,
        /// Whether to fsync.
        fsync: FsyncPolicy,
    },
}

/// How to build the cluster.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Number of nodes, `n1` to `nN`.
    pub nodes: usize,
    /// Real length of one tick at normal speed.
    pub tick: Duration,
    /// Durable state.
    pub storage: StorageOptions,
    /// Seed of the nodes' election jitter and of the network's loss and delay draws.
    pub seed: u64,
    /// Record events (off for benchmarks).
    pub trace: bool,
    /// Where to stream every event as JSON Lines, if anywhere.
    pub events_file: Option<PathBuf>,
    /// How many recent events to keep in memory for views.
    pub ring: usize,
    /// A deliberately unsafe core, for demonstrations.
    pub hazard: Option<Hazard>,
    /// Adjusts each node's Raft configuration (timeouts, batching) before start.
    pub tune: fn(&mut Config),
    /// The state machines' session limits (on disk, the data directory's own win).
    pub sessions: crate::kv::SessionLimits,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            nodes: 3,
            tick: Duration::from_millis(10),
            storage: StorageOptions::Memory,
            seed: 1,
            trace: true,
            events_file: None,
            ring: 10_000,
            hazard: None,
            tune: |_| {},
            sessions: crate::kv::SessionLimits::default(),
        }
    }
}

/// Whether a node's thread runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Running.
    Running,
    /// Paused: neither ticks nor receives.
    Paused,
    /// Killed on purpose; can be restarted.
    Dead,
    /// Its thread stopped on its own (a storage error, or a panic), or it could not start (its
    /// log is damaged or unreadable); the reason says which. Can be restarted.
    Crashed(String),
}

/// A snapshot of one node, for views.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node.
    pub id: NodeId,
    /// Running, paused, dead or crashed.
    pub run: RunState,
    /// Its role (`None` if it never ran).
    pub role: Option<Role>,
    /// Current term.
    pub term: Term,
    /// Vote in the current term.
    pub vote: Option<NodeId>,
    /// The leader it follows.
    pub leader: Option<NodeId>,
    /// Commit index.
    pub commit: LogIndex,
    /// Applied index.
    pub applied: LogIndex,
    /// Last log entry.
    pub last: EntryId,
    /// Election timer: ticks elapsed and the timeout.
    pub timer: (u32, u32),
    /// For a leader: each follower's match and next index.
    pub replication: Vec<(NodeId, LogIndex, LogIndex)>,
    /// The last entries of its log.
    pub log_tail: Vec<EntryId>,
    /// Its applied key-value map.
    pub kv: BTreeMap<String, String>,
}

impl NodeStatus {
    /// A snapshot of a core (any driver's: the simulator's too, for views and tests).
    pub fn of(node: &crate::kv::KvNode, run: RunState) -> Self {
        node::status(node, run)
    }

    /// A node whose state is unknown (never ran, or its storage could not be read).
    pub fn unknown(id: NodeId, run: RunState) -> Self {
        NodeStatus {
            id,
            run,
            role: None,
            term: Term(0),
            vote: None,
            leader: None,
            commit: LogIndex(0),
            applied: LogIndex(0),
            last: EntryId::default(),
            timer: (0, 0),
            replication: Vec::new(),
            log_tail: Vec::new(),
            kv: BTreeMap::new(),
        }
    }
}

/// What reaches a node's inbox.
pub(crate) enum Input {
    /// A message from another node.
    Peer(Message),
    /// A client request and where to answer it.
    Client(Request, Sender<Answered>),
}

/// A client's answer as a node thread hands it back: the response, and the leader the node
/// knows (itself, or the one it forwarded to), so a client learns where to go next.
pub(crate) struct Answered {
    /// The state machine's or the node's answer.
    pub response: Response,
    /// The leader the answering node knows, if any.
    pub leader: Option<NodeId>,
}

enum RouterMsg {
    Delay(Instant, u64, Message),
    Stop,
}

/// State shared by every thread of the cluster.
pub(crate) struct Shared {
    start: Instant,
    net: RwLock<Network>,
    /// Each node's inbox, `None` while it is down (messages to it are dropped).
    routes: RwLock<BTreeMap<NodeId, Sender<Input>>>,
    events: Option<Sender<hub::HubMsg>>,
    router: Sender<RouterMsg>,
    delayed_seq: AtomicU64,
    /// Nonces of register requests: unique among the requests of this process.
    next_nonce: AtomicU64,
    /// Time scale as f64 bits: 1.0 is normal, 0.05 is 1/20 speed.
    speed: AtomicU64,
    /// Time the cluster has spent frozen, in nanoseconds, and since when it is frozen now.
    frozen: Mutex<(u64, Option<Instant>)>,
}

impl Shared {
    /// Nanoseconds since the cluster started.
    pub(crate) fn now_nanos(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Nanoseconds in which the cluster ran (not frozen) since it started: client timeouts count
    /// these, so a teacher can freeze in mid-operation and talk.
    pub(crate) fn run_nanos(&self) -> u64 {
        let now = self.now_nanos();
        let (total, since) = *self.frozen.lock().unwrap_or_else(PoisonError::into_inner);
        let current = since.map_or(0, |t| t.elapsed().as_nanos() as u64);
        now.saturating_sub(total + current)
    }

    pub(crate) fn speed(&self) -> f64 {
        f64::from_bits(self.speed.load(Ordering::Relaxed))
    }

    pub(crate) fn emit(&self, node: Option<NodeId>, term: Option<Term>, kind: EventKind) {
        if let Some(tx) = &self.events {
            let _ = tx.send(hub::HubMsg::Event(Event { seq: 0, time: self.now_nanos(), node, term, kind }));
        }
    }

    /// Records a node's events, all stamped with one time.
    pub(crate) fn emit_batch(&self, events: Vec<crate::raft::NodeEvent>) {
        if let Some(tx) = &self.events {
            let time = self.now_nanos();
            for e in events {
                let mut e = Event::from(e);
                e.time = time;
                let _ = tx.send(hub::HubMsg::Event(e));
            }
        }
    }

    fn drop_message(&self, message: Message, reason: &str) {
        if self.events.is_some() {
            self.emit(None, None, EventKind::Drop { message, reason: reason.to_string() });
        }
    }

    /// Sends a message through the fault model: dropped, delivered now, or handed to the
    /// router to be delivered later (delays scale with the time scale).
    pub(crate) fn send(&self, message: Message, rng: &mut rand::rngs::Xoshiro256PlusPlus) {
        let fate =
            self.net.read().unwrap_or_else(PoisonError::into_inner).route(message.from, message.to, rng);
        match fate {
            Fate::Drop(reason) => self.drop_message(message, reason),
            Fate::Deliver(delays) => {
                let speed = self.speed();
                let last = delays.len() - 1;
                let mut message = Some(message);
                for (i, delay) in delays.into_iter().enumerate() {
                    let m = if i == last { message.take() } else { message.clone() };
                    let Some(m) = m else { break };
                    if delay == 0 {
                        self.deliver(m);
                    } else {
                        let at = Instant::now() + Duration::from_nanos((delay as f64 / speed) as u64);
                        let seq = self.delayed_seq.fetch_add(1, Ordering::Relaxed);
                        let _ = self.router.send(RouterMsg::Delay(at, seq, m));
                    }
                }
            }
        }
    }

    /// Puts a message in its receiver's inbox now, or drops it if the receiver is down.
    fn deliver(&self, message: Message) {
        let to = message.to;
        let sender = self.routes.read().unwrap_or_else(PoisonError::into_inner).get(&to).cloned();
        match sender {
            Some(tx) => {
                if let Err(e) = tx.send(Input::Peer(message))
                    && let Input::Peer(m) = e.into_inner()
                {
                    self.drop_message(m, "crashed");
                }
            }
            None => self.drop_message(message, "crashed"),
        }
    }
}

/// The router thread: holds delayed messages until due, then re-judges and delivers them.
fn router(shared: Arc<Shared>, rx: Receiver<RouterMsg>) {
    #[derive(PartialEq, Eq)]
    struct Due(Instant, u64);
    impl Ord for Due {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            (other.0, other.1).cmp(&(self.0, self.1))
        }
    }
    impl PartialOrd for Due {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    let mut heap: BinaryHeap<Due> = BinaryHeap::new();
    let mut held: BTreeMap<u64, Message> = BTreeMap::new();
    loop {
        let msg = match heap.peek() {
            Some(Due(at, _)) => rx.recv_deadline(*at),
            None => rx.recv().map_err(|_| crossbeam_channel::RecvTimeoutError::Disconnected),
        };
        match msg {
            Ok(RouterMsg::Delay(at, seq, m)) => {
                heap.push(Due(at, seq));
                held.insert(seq, m);
            }
            Ok(RouterMsg::Stop) | Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        while heap.peek().is_some_and(|Due(at, _)| *at <= now) {
            let Some(Due(_, seq)) = heap.pop() else { break };
            let Some(m) = held.remove(&seq) else { continue };
            let reachable = shared.net.read().unwrap_or_else(PoisonError::into_inner).reachable(m.from, m.to);
            match reachable {
                Ok(()) => shared.deliver(m),
                Err(reason) => shared.drop_message(m, reason),
            }
        }
    }
}

/// The control side of one node.
struct Slot {
    id: NodeId,
    run: RunState,
    control: Option<Sender<Control>>,
    thread: Option<JoinHandle<Result<(), String>>>,
    storage: Option<SharedStorage>,
    incarnation: u64,
    last_status: Option<NodeStatus>,
}

/// A running cluster. All methods take `&self`; it can be shared between threads.
pub struct LiveCluster {
    shared: Arc<Shared>,
    options: ClusterOptions,
    members: Vec<NodeId>,
    slots: Mutex<Vec<Slot>>,
    hub: Mutex<Option<hub::Hub>>,
    router: Mutex<Option<JoinHandle<()>>>,
    /// Every time a node could not start or stopped on a storage error, in order.
    failures: Mutex<Vec<NodeFailure>>,
    /// Serializes kill, restart and shutdown, so a restart never races a kill of the same node
    /// (held while a thread is joined; nothing a node thread does takes it).
    lifecycle: Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LiveCluster {
    /// Starts every node. A node whose storage cannot be read (corruption) is reported as
    /// crashed with the error (see [`LiveCluster::failures`]), and the others start; other
    /// failures are errors.
    pub fn start(options: ClusterOptions) -> std::io::Result<LiveCluster> {
        if options.nodes == 0 {
            return Err(std::io::Error::other("a cluster needs at least one node"));
        }
        if let StorageOptions::Disk { dir, .. } = &options.storage {
            let holds = dir.meta().map(|m| m.nodes);
            if holds != Some(options.nodes) {
                return Err(std::io::Error::other(format!(
                    "{} holds a cluster of {} nodes, not {}",
                    dir.path().display(),
                    holds.map_or_else(|| "unknown".to_string(), |n| n.to_string()),
                    options.nodes
                )));
            }
        }
        let (hub, events) = if options.trace {
            let file: Option<Box<dyn Write + Send>> = match &options.events_file {
                Some(path) => Some(Box::new(std::io::BufWriter::new(std::fs::File::create(path)?))),
                None => None,
            };
            let (hub, tx) = hub::start(file, options.ring);
            (Some(hub), Some(tx))
        } else {
            (None, None)
        };
        let (router_tx, router_rx) = unbounded();
        let shared = Arc::new(Shared {
            start: Instant::now(),
            net: RwLock::new(Network::new(LinkRule { loss: 0.0, delay: (0, 0), duplicate: 0.0 })),
            routes: RwLock::new(BTreeMap::new()),
            events,
            router: router_tx,
            delayed_seq: AtomicU64::new(0),
            next_nonce: AtomicU64::new(1),
            speed: AtomicU64::new(1.0f64.to_bits()),
            frozen: Mutex::new((0, None)),
        });
        let router = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new().name("router".into()).spawn(move || router(shared, router_rx))?
        };
        let members: Vec<NodeId> = (1..=options.nodes as u64).map(NodeId).collect();
        let slots = members
            .iter()
            .map(|&id| Slot {
                id,
                run: RunState::Dead,
                control: None,
                thread: None,
                storage: None,
                incarnation: 0,
                last_status: None,
            })
            .collect();
        let cluster = LiveCluster {
            shared,
            options,
            members: members.clone(),
            slots: Mutex::new(slots),
            hub: Mutex::new(hub),
            router: Mutex::new(Some(router)),
            failures: Mutex::new(Vec::new()),
            lifecycle: Mutex::new(()),
        };
        for id in members {
            cluster.spawn(id)?;
        }
        Ok(cluster)
    }

    /// The node ids.
    pub fn members(&self) -> &[NodeId] {
        &self.members
    }

    /// Nanoseconds since start.
    pub fn now_nanos(&self) -> u64 {
        self.shared.now_nanos()
    }

    fn open_storage(&self, id: NodeId) -> Result<(BoxedStorage, Vec<String>), StorageError> {
        match &self.options.storage {
            StorageOptions::Memory => Ok((Box::new(MemStorage::new()), Vec::new())),
            StorageOptions::Disk { dir, fsync } => {
                let s = DiskStorage::open(dir.path(), id, dir.cluster_id().unwrap_or_default(), *fsync)?;
                let warnings = s.warnings().to_vec();
                Ok((Box::new(s), warnings))
            }
        }
    }

    /// Starts (or restarts) the thread of node `id` from its storage.
    fn spawn(&self, id: NodeId) -> std::io::Result<()> {
        let mut slots = lock(&self.slots);
        let Some(slot) = slots.iter_mut().find(|s| s.id == id) else {
            return Err(std::io::Error::other(format!("no node {id}")));
        };
        if slot.thread.is_some() {
            return Ok(());
        }
        // In memory, a restarted node finds the store it had; on disk it reopens its file, and
        // the old handle (if a crashed thread left one) is closed first, so nothing it still
        // buffers can land behind the new replay.
        let old = slot.storage.take();
        let kept = match (&self.options.storage, old) {
            (StorageOptions::Memory, Some(s)) => Some(s),
            (_, old) => {
                drop(old);
                None
            }
        };
        let storage = match kept {
            Some(s) => s,
            None => match self.open_storage(id) {
                Ok((s, warnings)) => {
                    for w in warnings {
                        self.shared.emit(
                            Some(id),
                            None,
                            EventKind::Fault { description: format!("warning: {w}") },
                        );
                    }
                    Arc::new(Mutex::new(s))
                }
                Err(e) => {
                    slot.run = RunState::Crashed(self.fail(id, format!("cannot start: {e}")));
                    return Ok(());
                }
            },
        };
        let recovered = match lock(&storage).recover() {
            Ok(r) => r,
            Err(e) => {
                slot.run = RunState::Crashed(self.fail(id, format!("cannot start: {e}")));
                return Ok(());
            }
        };
        let mut config = Config::new(id, self.members.clone());
        config.seed = self.options.seed.wrapping_mul(1_000_003).wrapping_add(id.0 * 7919 + slot.incarnation);
        config.hazard = self.options.hazard;
        config.trace = self.options.trace;
        (self.options.tune)(&mut config);
        // On disk the session limits come with the data (they decide what the log expires).
        let sessions = match &self.options.storage {
            StorageOptions::Disk { dir, .. } => dir.meta().map_or(self.options.sessions, |m| m.sessions),
            StorageOptions::Memory => self.options.sessions,
        };
        let (inbox_tx, inbox_rx) = unbounded();
        let (control_tx, control_rx) = unbounded();
        let ctx = NodeContext {
            shared: Arc::clone(&self.shared),
            rng_seed: config.seed ^ 0x5eed,
            config,
            sessions,
            recovered,
            storage: Arc::clone(&storage),
            inbox: inbox_rx,
            control: control_rx,
            tick: self.tick_interval(),
        };
        let thread = std::thread::Builder::new().name(format!("{id}")).spawn(move || node::run(ctx))?;
        self.shared.routes.write().unwrap_or_else(PoisonError::into_inner).insert(id, inbox_tx);
        slot.thread = Some(thread);
        slot.control = Some(control_tx);
        slot.storage = Some(storage);
        slot.run = RunState::Running;
        slot.incarnation += 1;
        Ok(())
    }

    fn tick_interval(&self) -> Duration {
        self.options.tick.div_f64(self.shared.speed())
    }

    fn control(&self, id: NodeId, order: Control) -> bool {
        let slots = lock(&self.slots);
        match slots.iter().find(|s| s.id == id).and_then(|s| s.control.as_ref()) {
            Some(tx) => tx.send(order).is_ok(),
            None => false,
        }
    }

    /// Records that a node could not start or stopped on an error: an event, and an entry in
    /// [`LiveCluster::failures`]. Returns the reason, for the node's run state.
    fn fail(&self, id: NodeId, reason: String) -> String {
        self.shared.emit(Some(id), None, EventKind::Fault { description: format!("{id} {reason}") });
        lock(&self.failures).push(NodeFailure { node: id, reason: reason.clone() });
        reason
    }

    /// Every time a node could not start or stopped on a storage error since the cluster
    /// started, in order (a node restarted since is still listed).
    pub fn failures(&self) -> Vec<NodeFailure> {
        self.reap();
        lock(&self.failures).clone()
    }

    /// Notices node threads that ended on their own (a storage error or a panic) and marks
    /// them crashed.
    fn reap(&self) {
        let mut slots = lock(&self.slots);
        for slot in slots.iter_mut() {
            if slot.thread.as_ref().is_some_and(JoinHandle::is_finished) {
                let reason = match slot.thread.take().map(JoinHandle::join) {
                    Some(Ok(Err(stopped))) => self.fail(slot.id, stopped),
                    Some(Err(panic)) => panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .map_or_else(|| "panicked".to_string(), |m| format!("panicked: {m}")),
                    Some(Ok(Ok(()))) | None => "thread ended".into(),
                };
                self.shared.routes.write().unwrap_or_else(PoisonError::into_inner).remove(&slot.id);
                slot.control = None;
                // On disk, a restart reopens the file: the old handle must be gone first.
                if !matches!(self.options.storage, StorageOptions::Memory) {
                    slot.storage = None;
                }
                if !matches!(slot.run, RunState::Dead) {
                    self.shared.emit(Some(slot.id), None, EventKind::Crash);
                    slot.run = RunState::Crashed(reason);
                }
            }
        }
    }

    /// Kills node `id`: its thread ends, volatile state is lost, durable state stays.
    pub fn kill(&self, id: NodeId) {
        let _serial = lock(&self.lifecycle);
        self.reap();
        let (control, thread) = {
            let mut slots = lock(&self.slots);
            let Some(slot) = slots.iter_mut().find(|s| s.id == id) else { return };
            if slot.thread.is_none() {
                return;
            }
            slot.run = RunState::Dead;
            if !matches!(self.options.storage, StorageOptions::Memory) {
                slot.storage = None;
            }
            (slot.control.take(), slot.thread.take())
        };
        self.stop_thread(id, control, thread);
        self.shared.emit(Some(id), None, EventKind::Crash);
    }

    /// Takes a node off the network, tells its thread to end and waits for it.
    fn stop_thread(
        &self,
        id: NodeId,
        control: Option<Sender<Control>>,
        thread: Option<JoinHandle<Result<(), String>>>,
    ) {
        self.shared.routes.write().unwrap_or_else(PoisonError::into_inner).remove(&id);
        if let Some(tx) = control {
            let _ = tx.send(Control::Kill);
        }
        if let Some(t) = thread
            && let Ok(Err(stopped)) = t.join()
        {
            // It stopped on an error just before it was told to.
            self.fail(id, stopped);
        }
    }

    /// Restarts a dead or crashed node from its durable state.
    pub fn restart(&self, id: NodeId) -> std::io::Result<()> {
        let _serial = lock(&self.lifecycle);
        self.reap();
        let running = lock(&self.slots).iter().any(|s| s.id == id && s.thread.is_some());
        if running {
            return Ok(());
        }
        self.spawn(id)?;
        // A node whose storage could not be read stays crashed (spawn reported why).
        if lock(&self.slots).iter().any(|s| s.id == id && s.thread.is_some()) {
            self.shared.emit(Some(id), None, EventKind::Restart);
        }
        Ok(())
    }

    /// Pauses a node: it neither ticks nor receives; messages wait in its inbox.
    pub fn pause(&self, id: NodeId) {
        if self.set_paused(id, true) {
            self.fault(format!("pause {id}"));
        }
    }

    /// Freezes the cluster: pauses these nodes and stops the clock client timeouts count, until
    /// [`LiveCluster::thaw`].
    pub fn freeze(&self, nodes: &[NodeId]) {
        {
            let mut f = lock(&self.shared.frozen);
            if f.1.is_none() {
                f.1 = Some(Instant::now());
            }
        }
        for &id in nodes {
            self.set_paused(id, true);
        }
    }

    /// Ends a freeze: resumes these nodes and lets the clients' clock run again.
    pub fn thaw(&self, nodes: &[NodeId]) {
        for &id in nodes {
            self.set_paused(id, false);
        }
        let mut f = lock(&self.shared.frozen);
        if let Some(since) = f.1.take() {
            f.0 += since.elapsed().as_nanos() as u64;
        }
    }

    /// Resumes a paused node.
    pub fn resume(&self, id: NodeId) {
        if self.set_paused(id, false) {
            self.fault(format!("resume {id}"));
        }
    }

    /// Pauses or resumes without recording an event (for callers that record their own).
    fn set_paused(&self, id: NodeId, paused: bool) -> bool {
        let order = if paused { Control::Pause } else { Control::Resume };
        if !self.control(id, order) {
            return false;
        }
        if let Some(s) = lock(&self.slots).iter_mut().find(|s| s.id == id) {
            s.run = if paused { RunState::Paused } else { RunState::Running };
        }
        true
    }

    /// Makes a node time out now and campaign.
    pub fn campaign(&self, id: NodeId) {
        if self.control(id, Control::Campaign) {
            self.fault(format!("force {id} to time out"));
        }
    }

    /// Makes a node's thread panic, to show (and test) that a panicking node becomes a crashed
    /// node that can be restarted while the rest keeps running.
    pub fn inject_panic(&self, id: NodeId) {
        if self.control(id, Control::Panic) {
            self.fault(format!("inject a panic into {id}"));
        }
    }

    /// Changes the fault model (partitions, cuts, loss, delay, duplication); takes effect at
    /// once. `description` goes to the event log.
    pub fn change_network(&self, description: &str, change: impl FnOnce(&mut Network)) {
        change(&mut self.shared.net.write().unwrap_or_else(PoisonError::into_inner));
        self.fault(description.to_string());
    }

    /// The network as it is now.
    pub fn network(&self) -> Network {
        self.shared.net.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Sets the time scale: 1.0 normal, down to 0.05 (1/20) for demonstrations, up to 10.
    pub fn set_speed(&self, speed: f64) {
        let speed = speed.clamp(0.05, 10.0);
        self.shared.speed.store(speed.to_bits(), Ordering::Relaxed);
        let tick = self.tick_interval();
        for &id in &self.members {
            self.control(id, Control::SetTick(tick));
        }
        self.fault(format!("speed {speed}x"));
    }

    /// The current time scale.
    pub fn speed(&self) -> f64 {
        self.shared.speed()
    }

    fn fault(&self, description: String) {
        self.shared.emit(None, None, EventKind::Fault { description });
    }

    /// Records a fault or client event described in words (for the console and the nemesis).
    pub fn record(&self, node: Option<NodeId>, kind: EventKind) {
        self.shared.emit(node, None, kind);
    }

    /// Snapshots of every node (waits briefly for each running node to answer).
    pub fn status(&self) -> Vec<NodeStatus> {
        self.reap();
        let mut out = Vec::new();
        let asks: Vec<(NodeId, RunState, Option<Receiver<NodeStatus>>)> = {
            let slots = lock(&self.slots);
            slots
                .iter()
                .map(|s| {
                    let rx = s.control.as_ref().and_then(|tx| {
                        let (stx, srx) = crossbeam_channel::bounded(1);
                        tx.send(Control::Status(stx)).ok().map(|()| srx)
                    });
                    (s.id, s.run.clone(), rx)
                })
                .collect()
        };
        for (id, run, rx) in asks {
            let fresh = rx.and_then(|rx| rx.recv_timeout(Duration::from_millis(200)).ok());
            let mut slots = lock(&self.slots);
            let slot = slots.iter_mut().find(|s| s.id == id);
            let status = match (fresh, slot) {
                (Some(st), Some(slot)) => {
                    slot.last_status = Some(st.clone());
                    st
                }
                (None, Some(slot)) => {
                    let mut st =
                        slot.last_status.clone().unwrap_or_else(|| NodeStatus::unknown(id, run.clone()));
                    st.run = run;
                    st
                }
                (_, None) => NodeStatus::unknown(id, run),
            };
            out.push(status);
        }
        out
    }

    /// The run state of each node, without asking the threads.
    pub fn run_states(&self) -> Vec<(NodeId, RunState)> {
        self.reap();
        lock(&self.slots).iter().map(|s| (s.id, s.run.clone())).collect()
    }

    /// A new client session; it registers on its first operation.
    pub fn client(&self, options: ClientOptions) -> Client {
        Client::new(Arc::clone(&self.shared), self.members.clone(), options)
    }

    /// The most recent events (up to `max`), oldest first.
    pub fn recent_events(&self, max: usize) -> Vec<Event> {
        lock(&self.hub).as_ref().map(|h| h.recent(max)).unwrap_or_default()
    }

    /// Waits until every event recorded before this call is in the event file (and the ring),
    /// or `timeout` passes. Returns false on timeout.
    pub fn flush_events(&self, timeout: Duration) -> bool {
        let Some(tx) = &self.shared.events else { return true };
        let (done, wait) = crossbeam_channel::bounded(1);
        tx.send(hub::HubMsg::Flush(done)).is_ok() && wait.recv_timeout(timeout).is_ok()
    }

    /// A channel receiving every event from now on.
    pub fn subscribe(&self) -> Option<Receiver<Event>> {
        lock(&self.hub).as_ref().map(hub::Hub::subscribe)
    }

    /// Stops every thread and waits for them; flushes the event file.
    pub fn shutdown(&self) -> std::io::Result<()> {
        let _serial = lock(&self.lifecycle);
        for &id in &self.members {
            let (control, thread) = {
                let mut slots = lock(&self.slots);
                let Some(slot) = slots.iter_mut().find(|s| s.id == id) else { continue };
                (slot.control.take(), slot.thread.take())
            };
            self.stop_thread(id, control, thread);
        }
        let _ = self.shared.router.send(RouterMsg::Stop);
        if let Some(t) = lock(&self.router).take() {
            let _ = t.join();
        }
        Ok(())
    }

    /// Shuts down and waits for the event file to be complete.
    pub fn finish(&self) -> std::io::Result<()> {
        self.shutdown()?;
        match lock(&self.hub).take() {
            Some(mut h) => h.finish(),
            None => Ok(()),
        }
    }
}

impl Drop for LiveCluster {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

impl FaultTarget for &LiveCluster {
    fn node_ids(&self) -> Vec<NodeId> {
        self.members.clone()
    }
    fn current_leader(&self) -> Option<NodeId> {
        self.status()
            .into_iter()
            .filter(|s| s.run == RunState::Running && s.role == Some(Role::Leader))
            .max_by_key(|s| s.term)
            .map(|s| s.id)
    }
    fn change_network(&mut self, change: &mut dyn FnMut(&mut Network)) {
        change(&mut self.shared.net.write().unwrap_or_else(PoisonError::into_inner));
    }
    fn describe_network(&self) -> String {
        self.network().to_string()
    }
    fn crash_node(&mut self, id: NodeId) {
        self.kill(id);
    }
    fn restart_node(&mut self, id: NodeId) {
        if let Err(e) = self.restart(id) {
            self.fault(format!("restart {id} failed: {e}"));
        }
    }
    fn pause_node(&mut self, id: NodeId) {
        self.set_paused(id, true);
    }
    fn resume_node(&mut self, id: NodeId) {
        self.set_paused(id, false);
    }
    fn record_fault(&mut self, description: String) {
        self.fault(description);
    }
}
