//! The live cluster: the same core, driven in real time by one OS thread per node, with
//! crossbeam channels as the network, real files for durable state, the shared fault model
//! changed while it runs, and one stream of events. It implements [`Control`], as the
//! simulator does, so the console and the nemesis drive either without knowing which.
//!
//! - [`net`]: the send path, the router thread for delayed messages, the clients' transport.
//! - [`lifecycle`]: starting, killing, restarting and reaping node threads.
//! - [`node`]: one node's thread (the driver contract of [`crate::raft`], in real time).
//! - [`run`], [`serve`] and [`bench`]: `quorum run`, `quorum serve` and `quorum bench`.

mod bench;
mod lifecycle;
mod net;
mod node;
mod run;
mod serve;

pub use bench::{BenchResult, bench};
pub use node::{NodeFailure, ProbeRecord, StatusProbe, StopReason};
pub use run::{RunOptions, RunReport, run};
pub use serve::{ServeOptions, ServeReport, serve};

use crate::control::hub::{self, Hub};
use crate::control::{Client, ClientOptions, Control, ControlError, NodeStatus};
use crate::events::{Event, EventKind};
use crate::network::{Held, HeldAction, HeldMessages, LinkRule, Network};
use crate::raft::{Config, Hazard, NodeId, Switches};
use crate::storage::{DataDir, FsyncPolicy};
use crossbeam_channel::{Receiver, unbounded};
use lifecycle::Slot;
use net::{RouterMsg, Shared};
use node::Order;
use std::collections::BTreeMap;
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
    /// When nodes snapshot and compact their logs (paper §7).
    pub snapshots: crate::raft::SnapshotPolicy,
    /// Tests only: every node records its real state after each batch it handles (off by
    /// default; `tests/rebuild.rs` compares it with the state the event log tells).
    pub probe: Option<Arc<StatusProbe>>,
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
            snapshots: crate::raft::SnapshotPolicy::default(),
            probe: None,
        }
    }
}

/// A running cluster. All methods take `&self`; it can be shared between threads.
pub struct LiveCluster {
    shared: Arc<Shared>,
    options: ClusterOptions,
    members: Vec<NodeId>,
    slots: Mutex<Vec<Slot>>,
    hub: Mutex<Option<Hub>>,
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
            let (hub, tx) = hub::open(options.events_file.as_deref(), options.ring)?;
            (Some(hub), Some(tx))
        } else {
            (None, None)
        };
        let members: Vec<NodeId> = (1..=options.nodes as u64).map(NodeId).collect();
        let (router_tx, router_rx) = unbounded();
        let shared = Arc::new(Shared {
            start: Instant::now(),
            net: RwLock::new(Network::new(LinkRule::INSTANT)),
            routes: RwLock::new(BTreeMap::new()),
            members: members.clone(),
            events,
            router: router_tx,
            delayed_seq: AtomicU64::new(0),
            next_message_id: AtomicU64::new(1),
            hand: Mutex::new(HeldMessages::default()),
            next_nonce: AtomicU64::new(1),
            speed: AtomicU64::new(1.0f64.to_bits()),
            frozen: Mutex::new((0, None)),
            probe: options.probe.clone(),
        });
        let router = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new().name("router".into()).spawn(move || net::router(shared, router_rx))?
        };
        let cluster = LiveCluster {
            shared,
            options,
            members: members.clone(),
            slots: Mutex::new(members.iter().map(|&id| Slot::new(id)).collect()),
            hub: Mutex::new(hub),
            router: Mutex::new(Some(router)),
            failures: Mutex::new(Vec::new()),
            lifecycle: Mutex::new(()),
        };
        cluster.shared.emit(None, None, EventKind::Start(Box::new(cluster.start_event())));
        for id in members {
            cluster.spawn(id)?;
        }
        Ok(cluster)
    }

    /// The run's first event: what this cluster is.
    fn start_event(&self) -> crate::events::Start {
        let mut config = Config::new(NodeId(1), self.members.clone());
        config.hazard = self.options.hazard;
        config.snapshots = self.options.snapshots;
        (self.options.tune)(&mut config);
        crate::events::Start {
            schema: crate::events::SCHEMA,
            engine: "live".into(),
            nodes: self.members.clone(),
            seed: self.options.seed,
            switches: config.switches(),
            network: self.shared.net.read().unwrap_or_else(PoisonError::into_inner).clone(),
            storage: match self.options.storage {
                StorageOptions::Memory => "memory".into(),
                StorageOptions::Disk { .. } => "disk".into(),
            },
            sessions: self.sessions(),
            snapshots: config.snapshots,
        }
    }

    /// The state machines' session limits: on disk the data directory's own (they decide what
    /// its log expires), else the options'.
    fn sessions(&self) -> crate::kv::SessionLimits {
        match &self.options.storage {
            StorageOptions::Disk { dir, .. } => dir.meta().map_or(self.options.sessions, |m| m.sessions),
            StorageOptions::Memory => self.options.sessions,
        }
    }

    fn tick_interval(&self) -> Duration {
        self.options.tick.div_f64(self.shared.speed())
    }

    /// Makes a node's thread panic, to show (and test) that a panicking node becomes a crashed
    /// node that can be restarted while the rest keeps running.
    pub fn inject_panic(&self, id: NodeId) {
        if self.order(id, Order::Panic) {
            self.shared.emit(None, None, EventKind::fault(format!("inject a panic into {id}"), None));
        }
    }

    /// Stops every thread and waits for them; flushes the event file.
    pub fn shutdown(&self) -> std::io::Result<()> {
        let _serial = lock(&self.lifecycle);
        for &id in &self.members {
            let (order, thread) = {
                let mut slots = lock(&self.slots);
                let Some(slot) = slots.iter_mut().find(|s| s.id == id) else { continue };
                (slot.orders.take(), slot.thread.take())
            };
            self.stop_thread(id, order, thread);
        }
        let _ = self.shared.router.send(RouterMsg::Stop);
        if let Some(t) = lock(&self.router).take() {
            let _ = t.join();
        }
        Ok(())
    }
}

impl Drop for LiveCluster {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

impl Control for LiveCluster {
    fn members(&self) -> Vec<NodeId> {
        self.members.clone()
    }

    fn now_nanos(&self) -> u64 {
        self.shared.now_nanos()
    }

    fn status(&self) -> Vec<NodeStatus> {
        self.poll_status()
    }

    fn nodes_up(&self) -> Vec<NodeId> {
        self.shared.routes.read().unwrap_or_else(PoisonError::into_inner).keys().copied().collect()
    }

    fn network(&self) -> Network {
        self.shared.net.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn change_network(&self, change: &mut dyn FnMut(&mut Network)) {
        let held = {
            let mut net = self.shared.net.write().unwrap_or_else(PoisonError::into_inner);
            change(&mut net);
            net.holds()
        };
        if !held {
            self.shared.release_held();
        }
    }

    fn speed(&self) -> f64 {
        self.shared.speed()
    }

    fn set_speed(&self, speed: f64) {
        let speed = speed.clamp(0.05, 10.0);
        self.shared.speed.store(speed.to_bits(), Ordering::Relaxed);
        let tick = self.tick_interval();
        for &id in &self.members {
            self.order(id, Order::SetTick(tick));
        }
    }

    fn kill(&self, id: NodeId) {
        self.kill_node(id);
    }

    fn restart(&self, id: NodeId) -> Result<(), ControlError> {
        self.restart_node(id)
    }

    fn pause(&self, id: NodeId) {
        self.set_paused(id, true);
    }

    fn resume(&self, id: NodeId) {
        self.set_paused(id, false);
    }

    fn campaign(&self, id: NodeId) {
        self.order(id, Order::Campaign);
    }

    /// The leader is judged from the nodes' statuses now; if it steps down before its thread
    /// reads the order, its `transfer_abandoned` says so ("this node is not the leader").
    fn transfer_leadership(&self, target: NodeId) -> Result<NodeId, ControlError> {
        let leader = crate::control::transfer_source(&self.poll_status(), target)?;
        if !self.order(leader, Order::Transfer(target)) {
            // Its thread ended meanwhile (killed, crashed): nobody leads that can hand over.
            return Err(ControlError::NoLeader);
        }
        Ok(leader)
    }

    fn freeze(&self) {
        let mut f = lock(&self.shared.frozen);
        if f.1.is_none() {
            f.1 = Some(Instant::now());
        }
    }

    fn thaw(&self) {
        let mut f = lock(&self.shared.frozen);
        if let Some(since) = f.1.take() {
            f.0 += since.elapsed().as_nanos() as u64;
        }
    }

    fn advance_ticks(&self, ticks: u32) {
        if ticks == 0 {
            return;
        }
        for &id in &self.members {
            self.order(id, Order::Tick(ticks));
        }
    }

    fn switches(&self) -> Option<Switches> {
        None
    }

    fn set_switches(&self, _: Switches) -> Result<(), ControlError> {
        Err(ControlError::Unsupported(
            "the live cluster runs correct Raft only: switchable bugs are for the simulator (--engine sim)",
        ))
    }

    fn held(&self) -> Vec<Held> {
        lock(&self.shared.hand).list()
    }

    fn act_on_held(&self, id: Option<u64>, action: HeldAction) -> bool {
        self.shared.act_on_held(id, action)
    }

    fn release_held(&self) {
        self.shared.release_held();
    }

    fn record(&self, node: Option<NodeId>, kind: EventKind) {
        self.shared.emit(node, None, kind);
    }

    fn client(&self, options: ClientOptions) -> Client {
        let start = self.shared.next_nonce.load(Ordering::Relaxed) as usize;
        Client::new(Arc::clone(&self.shared) as Arc<dyn crate::control::Transport>, options, start)
    }

    fn subscribe(&self) -> Option<Receiver<Event>> {
        lock(&self.hub).as_ref().map(Hub::subscribe)
    }

    fn recent_events(&self, max: usize) -> Vec<Event> {
        lock(&self.hub).as_ref().map(|h| h.recent(max)).unwrap_or_default()
    }

    fn flush_events(&self) -> bool {
        self.shared.events.as_ref().is_none_or(|tx| hub::flush(tx, Duration::from_secs(5)))
    }

    fn finish(&self) -> std::io::Result<()> {
        self.shutdown()?;
        match lock(&self.hub).take() {
            Some(mut h) => h.finish(),
            None => Ok(()),
        }
    }
}
