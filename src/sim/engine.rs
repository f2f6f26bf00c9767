//! The simulator as an engine: the deterministic world of [`Cluster`] behind the [`Control`]
//! interface, so the console and the nemesis drive it exactly as they drive the live cluster.
//!
//! Virtual time moves only when the engine advances it: by a driver thread that follows the
//! wall clock at the chosen speed (the console's `--engine sim`), or by [`SimEngine::advance`]
//! (tests, and the headless runs, which step it themselves). Client sessions run on their own
//! threads as on the live cluster, but every wait of theirs is in virtual time, and time never
//! moves while a client is deciding what to do next: a client's requests enter the world at
//! fixed virtual times, so the same seed and the same inputs at the same virtual times give the
//! same events, whatever the threads' scheduling.

use super::cluster::{Cluster, TICK_NANOS};
use crate::control::hub::{self, Hub, HubMsg};
use crate::control::{
    Attempt, Client, ClientOptions, Control, ControlError, NodeStatus, RunState, Transport,
};
use crate::events::{Event, EventKind};
use crate::kv::{Request, RequestId};
use crate::network::{Held, HeldAction, Network};
use crate::raft::{NodeId, Switches};
use crossbeam_channel::{Receiver, Sender};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the engine waits for a client thread to park before moving time anyway (a client
/// thread never takes this long unless the machine is badly overloaded).
const CLIENT_WAIT: Duration = Duration::from_secs(2);
/// How often the wall-clock driver moves virtual time.
const DRIVE_INTERVAL: Duration = Duration::from_millis(2);

/// A client waiting in virtual time: for an answer to a request, or for a back-off to pass.
struct Waiter {
    /// The request it waits for the answer to (`None`: a back-off).
    request: Option<RequestId>,
    /// When it gives up (virtual ns).
    deadline: u64,
    answer: Sender<Attempt>,
}

/// The simulated world with its clock's schedule: the cluster, when each node ticks next, and
/// the clients waiting on it.
pub struct World {
    /// The cluster of real cores.
    pub cluster: Cluster,
    members: Vec<NodeId>,
    /// When each node (in `members` order) ticks next: every 10 ms, each with its own phase.
    next_tick: Vec<u64>,
    waiters: Vec<Waiter>,
    /// Client requests sent to paused nodes, handed over when they resume (their inbox).
    inbox: BTreeMap<NodeId, Vec<Request>>,
    /// Client threads that are running (between their requests); time waits for them.
    busy: usize,
    /// Times time moved on although a client thread was still busy (after [`CLIENT_WAIT`]).
    stalls: u64,
    /// The last status of each node, shown while it is down.
    last_status: BTreeMap<NodeId, NodeStatus>,
    next_nonce: u64,
    frozen: bool,
    /// The engine has finished: nothing waits any more.
    closed: bool,
    speed: f64,
    /// The wall-clock driver's anchor: virtual time `.1` at wall time `.0`.
    anchor: (Instant, u64),
}

impl World {
    /// A world around `cluster`, whose nodes tick first at these phases (ns, in id order).
    pub fn new(cluster: Cluster, phases: Vec<u64>) -> Self {
        let members = cluster.ids();
        World {
            cluster,
            members,
            next_tick: phases,
            waiters: Vec::new(),
            inbox: BTreeMap::new(),
            busy: 0,
            stalls: 0,
            last_status: BTreeMap::new(),
            next_nonce: 1,
            frozen: false,
            closed: false,
            speed: 1.0,
            anchor: (Instant::now(), 0),
        }
    }

    /// The next virtual time at which anything happens: a tick, a delivery, a client's deadline.
    pub fn next_time(&self) -> u64 {
        let tick = self.next_tick.iter().copied().min().unwrap_or(u64::MAX);
        let delivery = self.cluster.next_delivery().unwrap_or(u64::MAX);
        let deadline = self.waiters.iter().map(|w| w.deadline).min().unwrap_or(u64::MAX);
        tick.min(delivery).min(deadline)
    }

    /// Moves virtual time to `now` (never back) and runs what is due then: messages whose
    /// delay has passed, in order, then the ticks of the nodes whose turn it is.
    pub fn step(&mut self, now: u64) {
        self.cluster.set_now(now);
        let now = self.cluster.now();
        self.cluster.deliver_due();
        for (i, &id) in self.members.iter().enumerate() {
            if self.next_tick[i] <= now {
                self.next_tick[i] += TICK_NANOS;
                self.cluster.tick(id);
            }
        }
    }

    /// Hands answers to the clients waiting for them, and ends the waits that are due. Each
    /// client woken counts as busy until it parks again or leaves.
    fn wake_clients(&mut self) {
        for (node, response) in self.cluster.take_replies() {
            let Some(i) = self.waiters.iter().position(|w| w.request == Some(response.id)) else { continue };
            let waiter = self.waiters.remove(i);
            let leader = self.cluster.node(node).and_then(|n| n.leader());
            self.busy += 1;
            if waiter.answer.send(Attempt::Answered(response.result, leader)).is_err() {
                self.busy -= 1;
            }
        }
        let now = self.cluster.now();
        let (due, waiting): (Vec<Waiter>, Vec<Waiter>) =
            std::mem::take(&mut self.waiters).into_iter().partition(|w| w.deadline <= now);
        self.waiters = waiting;
        for waiter in due {
            self.busy += 1;
            if waiter.answer.send(Attempt::Timeout).is_err() {
                self.busy -= 1;
            }
        }
    }

    /// Hands a client request to a node (held in its inbox while it is paused).
    fn submit(&mut self, node: NodeId, request: Request) {
        if self.cluster.slot(node).is_some_and(|s| s.paused) {
            self.inbox.entry(node).or_default().push(request);
        } else {
            self.cluster.client_request(node, request);
        }
    }

    fn resume(&mut self, id: NodeId) {
        self.cluster.resume(id);
        for request in self.inbox.remove(&id).unwrap_or_default() {
            self.cluster.client_request(id, request);
        }
    }

    /// Whether node `id` runs, is paused, or is down.
    pub fn run_state(&self, id: NodeId) -> RunState {
        match self.cluster.slot(id) {
            Some(slot) if slot.node.is_none() => RunState::Dead,
            Some(slot) if slot.paused => RunState::Paused,
            _ => RunState::Running,
        }
    }

    /// Moves the wall-clock anchor to now (after a change of speed or a freeze).
    fn reanchor(&mut self) {
        self.anchor = (Instant::now(), self.cluster.now());
    }
}

/// How the engine's virtual time moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// A driver thread follows the wall clock at the engine's speed (the console).
    Wall,
    /// Only [`SimEngine::advance`] moves it (tests, scripted sessions).
    Manual,
}

/// How to build a simulator engine.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How virtual time moves.
    pub clock: Clock,
    /// Where to stream every event as JSON Lines, if anywhere.
    pub events_file: Option<PathBuf>,
    /// How many recent events to keep for views.
    pub ring: usize,
}

struct Inner {
    world: Mutex<World>,
    /// Signalled whenever a client thread parks or leaves.
    parked: Condvar,
    /// Where events go; `None` leaves them in the cluster for the owner to take.
    events: Option<Sender<HubMsg>>,
    members: Vec<NodeId>,
}

/// The simulated cluster as an engine (see the module documentation).
pub struct SimEngine {
    inner: Arc<Inner>,
    hub: Mutex<Option<Hub>>,
    stop: Arc<AtomicBool>,
    driver: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    /// Locks the world and runs `f` on it; then hands the events it produced to the hub.
    fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let mut world = lock(&self.world);
        let result = f(&mut world);
        self.pump(&mut world);
        result
    }

    fn pump(&self, world: &mut World) {
        if let Some(tx) = &self.events {
            for event in world.cluster.take_events() {
                let _ = tx.send(HubMsg::Event(event));
            }
        }
    }

    /// Moves virtual time to `target`, one moment at a time; before each, waits until no client
    /// thread is busy, so that what a woken client does next enters the world at the moment it
    /// was woken.
    fn advance_to(&self, target: u64) {
        self.advance_to_even_frozen(target, false);
    }

    /// [`Inner::advance_to`], which with `by_hand` moves time although the world is frozen (the
    /// user moves it).
    fn advance_to_even_frozen(&self, target: u64, by_hand: bool) {
        let mut world = lock(&self.world);
        loop {
            let waited = Instant::now();
            while world.busy > 0 && waited.elapsed() < CLIENT_WAIT {
                world =
                    self.parked.wait_timeout(world, CLIENT_WAIT).unwrap_or_else(PoisonError::into_inner).0;
            }
            if world.busy > 0 {
                world.stalls += 1;
            }
            let stopped = world.frozen && !by_hand;
            let next = world.next_time();
            if next > target || stopped {
                if !stopped {
                    world.cluster.set_now(target);
                }
                break;
            }
            world.step(next);
            world.wake_clients();
            self.pump(&mut world);
        }
        if by_hand {
            world.reanchor();
        }
        self.pump(&mut world);
    }

    /// A client thread stops being busy (it parks or leaves).
    fn unbusy(&self, world: &mut World) {
        world.busy = world.busy.saturating_sub(1);
        self.parked.notify_all();
    }

    /// Parks the calling client thread until its answer, its deadline, or the engine's end.
    fn park(&self, request: Option<(NodeId, Request)>, wait: Duration) -> Attempt {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.with(|world| {
            // After the engine's end nothing answers: the sender is dropped, the wait ends.
            if !world.closed {
                let deadline = world.cluster.now().saturating_add(wait.as_nanos() as u64);
                let id = request.as_ref().map(|(_, r)| r.id);
                world.waiters.push(Waiter { request: id, deadline, answer: tx });
                if let Some((node, request)) = request {
                    world.submit(node, request);
                    // An answer given at once (a refusal) wakes the client before time moves.
                    world.wake_clients();
                }
            }
            self.unbusy(world);
        });
        rx.recv().unwrap_or(Attempt::Timeout)
    }
}

impl Transport for Inner {
    fn members(&self) -> Vec<NodeId> {
        self.members.clone()
    }

    fn is_up(&self, node: NodeId) -> bool {
        lock(&self.world).cluster.node(node).is_some()
    }

    fn nonce(&self) -> u64 {
        let mut world = lock(&self.world);
        world.next_nonce += 1;
        world.next_nonce - 1
    }

    fn attempt(&self, node: NodeId, request: &Request, timeout: Duration) -> Attempt {
        if !self.is_up(node) {
            return Attempt::Down;
        }
        self.park(Some((node, request.clone())), timeout)
    }

    fn wait(&self, pause: Duration) {
        self.park(None, pause);
    }

    fn enter(&self) {
        lock(&self.world).busy += 1;
    }

    fn leave(&self) {
        let mut world = lock(&self.world);
        self.unbusy(&mut world);
    }
}

impl SimEngine {
    /// An engine around `world`. With [`Clock::Wall`], a driver thread starts moving time.
    pub fn start(world: World, options: EngineOptions) -> std::io::Result<SimEngine> {
        let (hub, events) = hub::open(options.events_file.as_deref(), options.ring)?;
        let engine = SimEngine::new(world, Some(events), Some(hub));
        if options.clock == Clock::Wall {
            let inner = Arc::clone(&engine.inner);
            let stop = Arc::clone(&engine.stop);
            let driver =
                std::thread::Builder::new().name("sim-driver".into()).spawn(move || drive(&inner, &stop))?;
            *lock(&engine.driver) = Some(driver);
        }
        Ok(engine)
    }

    /// An engine without an event hub or a driver: the owner steps the world and takes its
    /// events itself (the headless simulator).
    pub fn headless(world: World) -> SimEngine {
        SimEngine::new(world, None, None)
    }

    fn new(world: World, events: Option<Sender<HubMsg>>, hub: Option<Hub>) -> SimEngine {
        let members = world.members.clone();
        let inner = Inner { world: Mutex::new(world), parked: Condvar::new(), events, members };
        SimEngine {
            inner: Arc::new(inner),
            hub: Mutex::new(hub),
            stop: Arc::new(AtomicBool::new(false)),
            driver: Mutex::new(None),
        }
    }

    /// The world, locked (for the owner of a headless engine, and for views in tests).
    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.inner.world)
    }

    /// Moves virtual time forward by `by` (see the module documentation on client threads).
    pub fn advance(&self, by: Duration) {
        let target = self.world().cluster.now().saturating_add(by.as_nanos() as u64);
        self.inner.advance_to(target);
    }

    /// How many times time moved on without waiting for a busy client thread (it took longer
    /// than two seconds of real time to decide what to do next): 0 unless something is wrong.
    pub fn stalls(&self) -> u64 {
        self.world().stalls
    }

    /// How many client requests and back-offs wait in virtual time now.
    pub fn waiting_clients(&self) -> usize {
        self.world().waiters.len()
    }
}

impl Drop for SimEngine {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The wall-clock driver: virtual time follows the wall clock at the engine's speed.
fn drive(inner: &Inner, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(DRIVE_INTERVAL);
        let target = {
            let world = lock(&inner.world);
            if world.frozen {
                continue;
            }
            let (wall, virtual_at) = world.anchor;
            virtual_at + (wall.elapsed().as_nanos() as f64 * world.speed) as u64
        };
        inner.advance_to(target);
    }
}

impl Control for SimEngine {
    fn members(&self) -> Vec<NodeId> {
        self.inner.members.clone()
    }

    fn now_nanos(&self) -> u64 {
        self.world().cluster.now()
    }

    fn status(&self) -> Vec<NodeStatus> {
        let mut world = self.world();
        let members = world.members.clone();
        members
            .into_iter()
            .map(|id| {
                let run = world.run_state(id);
                match world.cluster.node(id) {
                    Some(node) => {
                        let status = NodeStatus::of(node, run);
                        world.last_status.insert(id, status.clone());
                        status
                    }
                    None => {
                        let last = world.last_status.get(&id).cloned();
                        let mut status = last.unwrap_or_else(|| NodeStatus::unknown(id, run.clone()));
                        status.run = run;
                        status
                    }
                }
            })
            .collect()
    }

    /// The same choice the simulator has always made: the highest (term, id) among the nodes
    /// that are up and believe they lead, paused ones included.
    fn leader(&self) -> Option<NodeId> {
        let world = self.world();
        let cluster = &world.cluster;
        cluster
            .ids()
            .into_iter()
            .filter_map(|id| {
                cluster.node(id).filter(|n| n.role() == crate::raft::Role::Leader).map(|n| (n.term(), id))
            })
            .max()
            .map(|(_, id)| id)
    }

    fn network(&self) -> Network {
        self.world().cluster.network.clone()
    }

    fn change_network(&self, change: &mut dyn FnMut(&mut Network)) {
        self.inner.with(|w| {
            change(&mut w.cluster.network);
            if !w.cluster.network.holds() {
                w.cluster.release_held();
                w.wake_clients();
            }
        });
    }

    fn speed(&self) -> f64 {
        self.world().speed
    }

    fn set_speed(&self, speed: f64) {
        self.inner.with(|w| {
            w.reanchor();
            w.speed = speed.clamp(0.05, 10.0);
        });
    }

    fn kill(&self, id: NodeId) {
        self.inner.with(|w| {
            w.inbox.remove(&id);
            w.cluster.crash(id);
        });
    }

    fn restart(&self, id: NodeId) -> Result<(), ControlError> {
        self.inner.with(|w| {
            if w.cluster.slot(id).is_none() {
                return Err(ControlError::NoSuchNode(id));
            }
            w.cluster.restart(id);
            Ok(())
        })
    }

    fn pause(&self, id: NodeId) {
        self.inner.with(|w| w.cluster.pause(id));
    }

    fn resume(&self, id: NodeId) {
        self.inner.with(|w| w.resume(id));
    }

    fn campaign(&self, id: NodeId) {
        self.inner.with(|w| w.cluster.campaign(id));
    }

    fn freeze(&self) {
        self.inner.with(|w| w.frozen = true);
    }

    fn thaw(&self) {
        self.inner.with(|w| {
            w.frozen = false;
            w.reanchor();
        });
    }

    fn advance_ticks(&self, ticks: u32) {
        let target = self.world().cluster.now() + u64::from(ticks) * TICK_NANOS;
        self.inner.advance_to_even_frozen(target, true);
    }

    fn switches(&self) -> Option<Switches> {
        let world = self.world();
        let first = world.members.first().copied();
        first.and_then(|id| world.cluster.slot(id)).map(|s| s.config.switches())
    }

    fn set_switches(&self, switches: Switches) -> Result<(), ControlError> {
        self.inner.with(|w| w.cluster.set_switches(switches));
        Ok(())
    }

    fn held(&self) -> Vec<Held> {
        self.world().cluster.held()
    }

    fn act_on_held(&self, id: Option<u64>, action: HeldAction) -> bool {
        self.inner.with(|w| {
            let done = w.cluster.act_on_held(id, action);
            w.wake_clients();
            done
        })
    }

    fn release_held(&self) {
        self.inner.with(|w| {
            w.cluster.release_held();
            w.wake_clients();
        });
    }

    fn record(&self, node: Option<NodeId>, kind: EventKind) {
        self.inner.with(|w| w.cluster.record(node, kind));
    }

    fn client(&self, options: ClientOptions) -> Client {
        let start = self.world().next_nonce as usize;
        Client::new(Arc::clone(&self.inner) as Arc<dyn Transport>, options, start)
    }

    fn subscribe(&self) -> Option<Receiver<Event>> {
        lock(&self.hub).as_ref().map(Hub::subscribe)
    }

    fn recent_events(&self, max: usize) -> Vec<Event> {
        lock(&self.hub).as_ref().map(|h| h.recent(max)).unwrap_or_default()
    }

    fn flush_events(&self) -> bool {
        self.inner.events.as_ref().is_none_or(|tx| hub::flush(tx, Duration::from_secs(5)))
    }

    /// Stops the driver and waits until every event is in the event file.
    fn finish(&self) -> std::io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(driver) = lock(&self.driver).take() {
            let _ = driver.join();
        }
        // Clients still waiting get no answer: their threads end with a timeout.
        let mut world = lock(&self.inner.world);
        world.closed = true;
        world.waiters.clear();
        drop(world);
        match lock(&self.hub).take() {
            Some(mut hub) => hub.finish(),
            None => Ok(()),
        }
    }
}
