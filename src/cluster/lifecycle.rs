//! Node threads' lives: start (from storage), kill, restart, pause, and noticing a thread that
//! ended on its own. A thread that stops on a storage error returns the reason; one that panics
//! is joined and shown as crashed with the panic's message; either can be restarted.

use super::node::{self, NodeContext, Order, SharedStorage};
use super::{LiveCluster, NodeFailure, StopReason, StorageOptions, lock};
use crate::control::{ControlError, NodeStatus, RunState};
use crate::events::EventKind;
use crate::raft::{Config, NodeId};
use crate::storage::{BoxedStorage, DiskStorage, MemStorage, StorageError};
use crossbeam_channel::{Sender, unbounded};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// The cluster's side of one node.
pub(super) struct Slot {
    pub(super) id: NodeId,
    pub(super) run: RunState,
    /// Orders to the thread, while it runs.
    pub(super) orders: Option<Sender<Order>>,
    pub(super) thread: Option<JoinHandle<Result<(), StopReason>>>,
    storage: Option<SharedStorage>,
    incarnation: u64,
    /// The last status the thread reported (shown while it does not answer).
    pub(super) last_status: Option<NodeStatus>,
}

impl Slot {
    pub(super) fn new(id: NodeId) -> Self {
        Slot {
            id,
            run: RunState::Dead,
            orders: None,
            thread: None,
            storage: None,
            incarnation: 0,
            last_status: None,
        }
    }
}

impl LiveCluster {
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

    /// The store node `id` starts from: in memory, the one it had; on disk, its file reopened
    /// (the old handle, if a crashed thread left one, closed first, so nothing it still buffers
    /// can land behind the new replay). `None` if it cannot be opened (the node is crashed).
    fn storage_for(&self, slot: &mut Slot) -> Option<SharedStorage> {
        let old = slot.storage.take();
        if let (StorageOptions::Memory, Some(s)) = (&self.options.storage, &old) {
            return Some(Arc::clone(s));
        }
        drop(old);
        match self.open_storage(slot.id) {
            Ok((s, warnings)) => {
                for w in warnings {
                    let description = format!("warning: {w}");
                    self.shared.emit(Some(slot.id), None, EventKind::fault(description, None));
                }
                Some(Arc::new(Mutex::new(s)))
            }
            Err(e) => {
                slot.run = RunState::Crashed(self.fail(NodeFailure::cannot_start(slot.id, e)));
                None
            }
        }
    }

    /// Starts (or restarts) the thread of node `id` from its storage.
    pub(super) fn spawn(&self, id: NodeId) -> std::io::Result<()> {
        let mut slots = lock(&self.slots);
        let Some(slot) = slots.iter_mut().find(|s| s.id == id) else {
            return Err(std::io::Error::other(format!("no node {id}")));
        };
        if slot.thread.is_some() {
            return Ok(());
        }
        let Some(storage) = self.storage_for(slot) else { return Ok(()) };
        let recovered = match lock(&storage).recover() {
            Ok(r) => r,
            Err(e) => {
                slot.run = RunState::Crashed(self.fail(NodeFailure::cannot_start(id, e)));
                return Ok(());
            }
        };
        // A restart, or a first start on a data directory that holds a state, says what the
        // node recovered before the node's thread says anything (the reader's log starts there).
        let recovery = crate::events::Recovery::of(&recovered);
        if slot.incarnation > 0 || recovery.is_some() {
            self.shared.emit(Some(id), None, EventKind::Restart { recovered: recovery });
        }
        let mut config = Config::new(id, self.members.clone());
        config.seed = self.options.seed.wrapping_mul(1_000_003).wrapping_add(id.0 * 7919 + slot.incarnation);
        config.hazard = self.options.hazard;
        config.trace = self.options.trace;
        config.snapshots = self.options.snapshots;
        (self.options.tune)(&mut config);
        // On disk the session limits come with the data (they decide what the log expires).
        let sessions = self.sessions();
        let (inbox_tx, inbox_rx) = unbounded();
        let (orders_tx, orders_rx) = unbounded();
        let ctx = NodeContext {
            shared: Arc::clone(&self.shared),
            rng_seed: config.seed ^ 0x5eed,
            config,
            sessions,
            recovered,
            storage: Arc::clone(&storage),
            inbox: inbox_rx,
            orders: orders_rx,
            tick: self.tick_interval(),
        };
        let thread = std::thread::Builder::new().name(format!("{id}")).spawn(move || node::run(ctx))?;
        self.shared.routes.write().unwrap_or_else(PoisonError::into_inner).insert(id, inbox_tx);
        slot.thread = Some(thread);
        slot.orders = Some(orders_tx);
        slot.storage = Some(storage);
        slot.run = RunState::Running;
        slot.incarnation += 1;
        Ok(())
    }

    /// Sends an order to a running node's thread; false if it does not run.
    pub(super) fn order(&self, id: NodeId, order: Order) -> bool {
        let slots = lock(&self.slots);
        match slots.iter().find(|s| s.id == id).and_then(|s| s.orders.as_ref()) {
            Some(tx) => tx.send(order).is_ok(),
            None => false,
        }
    }

    /// Records that a node could not start or stopped on an error: an event, and an entry in
    /// [`LiveCluster::failures`]. Returns the reason in words, for the node's run state.
    fn fail(&self, failure: NodeFailure) -> String {
        let reason = failure.reason.to_string();
        let id = failure.node;
        let change = Some(crate::events::Change::Failed(id));
        self.shared.emit(Some(id), None, EventKind::fault(format!("{id} {reason}"), change));
        lock(&self.failures).push(failure);
        reason
    }

    /// Every time a node could not start or stopped on a storage error since the cluster
    /// started, in order (a node restarted since is still listed).
    pub fn failures(&self) -> Vec<NodeFailure> {
        self.reap();
        lock(&self.failures).clone()
    }

    /// The run state of each node, without asking the threads.
    pub fn run_states(&self) -> Vec<(NodeId, RunState)> {
        self.reap();
        lock(&self.slots).iter().map(|s| (s.id, s.run.clone())).collect()
    }

    /// Notices node threads that ended on their own (a storage error or a panic) and marks
    /// them crashed.
    pub(super) fn reap(&self) {
        let mut slots = lock(&self.slots);
        for slot in slots.iter_mut() {
            if slot.thread.as_ref().is_some_and(JoinHandle::is_finished) {
                let reason = match slot.thread.take().map(JoinHandle::join) {
                    Some(Ok(Err(stopped))) => self.fail(NodeFailure { node: slot.id, reason: stopped }),
                    Some(Err(panic)) => panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .map_or_else(|| "panicked".to_string(), |m| format!("panicked: {m}")),
                    Some(Ok(Ok(()))) | None => "thread ended".into(),
                };
                self.shared.routes.write().unwrap_or_else(PoisonError::into_inner).remove(&slot.id);
                slot.orders = None;
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
    pub(super) fn kill_node(&self, id: NodeId) {
        let _serial = lock(&self.lifecycle);
        self.reap();
        let (orders, thread) = {
            let mut slots = lock(&self.slots);
            let Some(slot) = slots.iter_mut().find(|s| s.id == id) else { return };
            if slot.thread.is_none() {
                return;
            }
            slot.run = RunState::Dead;
            if !matches!(self.options.storage, StorageOptions::Memory) {
                slot.storage = None;
            }
            (slot.orders.take(), slot.thread.take())
        };
        self.stop_thread(id, orders, thread);
        self.shared.emit(Some(id), None, EventKind::Crash);
    }

    /// Takes a node off the network, tells its thread to end and waits for it.
    pub(super) fn stop_thread(
        &self,
        id: NodeId,
        orders: Option<Sender<Order>>,
        thread: Option<JoinHandle<Result<(), StopReason>>>,
    ) {
        self.shared.routes.write().unwrap_or_else(PoisonError::into_inner).remove(&id);
        if let Some(tx) = orders {
            let _ = tx.send(Order::Kill);
        }
        if let Some(t) = thread
            && let Ok(Err(stopped)) = t.join()
        {
            // It stopped on an error just before it was told to.
            self.fail(NodeFailure { node: id, reason: stopped });
        }
    }

    /// Restarts a dead or crashed node from its durable state.
    pub(super) fn restart_node(&self, id: NodeId) -> Result<(), ControlError> {
        let _serial = lock(&self.lifecycle);
        self.reap();
        if !self.members.contains(&id) {
            return Err(ControlError::NoSuchNode(id));
        }
        let running = lock(&self.slots).iter().any(|s| s.id == id && s.thread.is_some());
        if running {
            return Ok(());
        }
        // A node whose storage cannot be read stays crashed (spawn reports why); one that
        // starts says so, with what it recovered, before it does anything else.
        Ok(self.spawn(id)?)
    }

    /// Pauses or resumes a running node (silently: whoever asked records why). False if it
    /// does not run.
    pub(super) fn set_paused(&self, id: NodeId, paused: bool) -> bool {
        let order = if paused { Order::Pause } else { Order::Resume };
        if !self.order(id, order) {
            return false;
        }
        if let Some(s) = lock(&self.slots).iter_mut().find(|s| s.id == id) {
            s.run = if paused { RunState::Paused } else { RunState::Running };
        }
        true
    }

    /// Every node's status (waits briefly for each running node to answer; a node that does not
    /// answer in time shows its last known state).
    pub(super) fn poll_status(&self) -> Vec<NodeStatus> {
        self.reap();
        let asks: Vec<_> = {
            let slots = lock(&self.slots);
            slots
                .iter()
                .map(|s| {
                    let rx = s.orders.as_ref().and_then(|tx| {
                        let (stx, srx) = crossbeam_channel::bounded(1);
                        tx.send(Order::Status(stx)).ok().map(|()| srx)
                    });
                    (s.id, s.run.clone(), rx)
                })
                .collect()
        };
        let mut out = Vec::new();
        for (id, run, rx) in asks {
            let fresh = rx.and_then(|rx| rx.recv_timeout(std::time::Duration::from_millis(200)).ok());
            let mut slots = lock(&self.slots);
            let status = match (fresh, slots.iter_mut().find(|s| s.id == id)) {
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
}
