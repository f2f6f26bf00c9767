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

use super::branch::{self, Forks, Input, Logged};
use super::cluster::{Cluster, TICK_NANOS};
use crate::control::hub::{self, Hub, HubMsg};
use crate::control::{
    Attempt, Bookmark, Branch, Client, ClientOptions, Control, ControlError, Fork, NodeStatus, RunState,
    Transport,
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

/// Builds the same world every time it is called (from one seed): what lets an engine
/// re-execute its run to fork it ([`SimEngine::start_from`], [`super::WorldSpec::factory`]).
pub type WorldFactory = Arc<dyn Fn() -> World + Send + Sync>;

/// The simulated world with its clock's schedule: the cluster, when each node ticks next, and
/// the clients waiting on it; and the log of its inputs, everything done to it from outside.
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
    /// Each killed node's status when it was killed, shown while it is down.
    last_status: BTreeMap<NodeId, NodeStatus>,
    /// Every input applied, in order ([`World::apply`]).
    inputs: Vec<Logged>,
    /// How many steps ran something (a delivery or a tick was due): the world's own clock of
    /// moments, by which re-execution knows where each input came.
    moments: u64,
    /// Which world this is in its engine: a fork or a switch of branch installs the next one,
    /// and an advance begun for the one before stops.
    generation: u64,
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
            inputs: Vec::new(),
            moments: 0,
            generation: 0,
            next_nonce: 1,
            frozen: false,
            closed: false,
            speed: 1.0,
            anchor: (Instant::now(), 0),
        }
    }

    /// Stops time before the engine starts: a wall-clock engine around this world waits for
    /// [`Control::thaw`] or time by hand (a lesson starts so, at time 0 exactly).
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// The next virtual time at which anything happens: a tick, a delivery, a client's deadline.
    pub fn next_time(&self) -> u64 {
        let tick = self.next_tick.iter().copied().min().unwrap_or(u64::MAX);
        let delivery = self.cluster.next_delivery().unwrap_or(u64::MAX);
        let deadline = self.waiters.iter().map(|w| w.deadline).min().unwrap_or(u64::MAX);
        tick.min(delivery).min(deadline)
    }

    /// Moves virtual time to `now` (never back) and runs what is due then: messages whose
    /// delay has passed, in order, then the ticks of the nodes whose turn it is. Called at
    /// [`World::next_time`] (a later `now` runs each node's tick once), as the engine does.
    pub fn step(&mut self, now: u64) {
        self.cluster.set_now(now);
        let now = self.cluster.now();
        let due = self.cluster.next_delivery().is_some_and(|t| t <= now)
            || self.next_tick.iter().any(|&t| t <= now);
        if due {
            self.moments += 1;
        }
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

    /// Performs `input` and appends it to the input log, stamped with the time, the moments
    /// and the number of events so far (what re-execution checks). Every change to the world
    /// that does not come from its own stepping goes through here. True unless the input was
    /// an action on a held message that is not there.
    pub fn apply(&mut self, input: Input) -> bool {
        let events = self.cluster.event_count();
        self.inputs.push(Logged {
            at: self.cluster.now(),
            moment: self.moments,
            events,
            input: input.clone(),
        });
        match input {
            Input::Submit { node, request } => self.submit(node, request),
            Input::Kill(id) => self.kill(id),
            Input::Restart(id) => self.cluster.restart(id),
            Input::Pause(id) => self.cluster.pause(id),
            Input::Resume(id) => self.resume(id),
            Input::Campaign(id) => self.cluster.campaign(id),
            Input::Transfer { leader, target } => self.cluster.transfer_leadership(leader, target),
            Input::Network(network) => {
                self.cluster.network = network;
                if !self.cluster.network.holds() {
                    self.cluster.release_held();
                }
            }
            Input::Held { id, action } => return self.cluster.act_on_held(id, action),
            Input::ReleaseHeld => {
                self.cluster.release_held();
            }
            Input::Switches(switches) => self.cluster.set_switches(switches),
            Input::Record { node, kind } => self.cluster.record(node, kind),
        }
        true
    }

    /// The inputs applied so far, in order.
    pub fn inputs(&self) -> &[Logged] {
        &self.inputs
    }

    /// The input log itself, to test that re-execution notices a log that does not match.
    pub fn inputs_mut(&mut self) -> &mut Vec<Logged> {
        &mut self.inputs
    }

    /// The next nonce a client's registration will get.
    pub(super) fn nonce(&self) -> u64 {
        self.next_nonce
    }

    /// Puts the nonce counter back where a bookmark found it ([`Control::rewind`]).
    pub(super) fn set_nonce(&mut self, nonce: u64) {
        self.next_nonce = nonce;
    }

    /// How many steps have run something (a delivery or a tick).
    pub fn moments(&self) -> u64 {
        self.moments
    }

    /// Takes over from `old` as its engine's world (a fork or a switch of branch): the
    /// engine's settings (frozen, speed, finished), its client threads (the busy ones, and
    /// the waiting ones, answered now with a timeout), the nonce counter (so that no register
    /// request id is used twice), and a new generation, which ends an advance begun on `old`.
    pub(super) fn take_over(&mut self, old: &mut World) {
        self.busy = old.busy;
        for waiter in old.waiters.drain(..) {
            self.busy += 1;
            if waiter.answer.send(Attempt::Timeout).is_err() {
                self.busy -= 1;
            }
        }
        self.stalls = old.stalls;
        self.next_nonce = self.next_nonce.max(old.next_nonce);
        self.frozen = old.frozen;
        self.closed = old.closed;
        self.speed = old.speed;
        self.generation = old.generation + 1;
        self.reanchor();
    }

    /// Hands a client request to a node (held in its inbox while it is paused).
    fn submit(&mut self, node: NodeId, request: Request) {
        if self.cluster.slot(node).is_some_and(|s| s.paused) {
            self.inbox.entry(node).or_default().push(request);
        } else {
            self.cluster.client_request(node, request);
        }
    }

    /// Kills a node; its status at that moment is what it shows while down.
    fn kill(&mut self, id: NodeId) {
        self.inbox.remove(&id);
        if let Some(node) = self.cluster.node(id) {
            self.last_status.insert(id, NodeStatus::of(node, RunState::Dead));
        }
        self.cluster.crash(id);
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

    /// Every node's state ([`Control::status`]): a node that is down shows its state when it
    /// went down.
    pub fn statuses(&self) -> Vec<NodeStatus> {
        self.members
            .iter()
            .map(|&id| {
                let run = self.run_state(id);
                match self.cluster.node(id) {
                    Some(node) => NodeStatus::of(node, run),
                    None => {
                        let last = self.last_status.get(&id).cloned();
                        let mut status = last.unwrap_or_else(|| NodeStatus::unknown(id, run.clone()));
                        status.run = run;
                        status
                    }
                }
            })
            .collect()
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
    /// The branches of the run, if the engine can rebuild its world ([`SimEngine::start_from`]).
    forks: Option<Forks>,
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
        let generation = world.generation;
        loop {
            let waited = Instant::now();
            while world.busy > 0 && waited.elapsed() < CLIENT_WAIT {
                world =
                    self.parked.wait_timeout(world, CLIENT_WAIT).unwrap_or_else(PoisonError::into_inner).0;
            }
            if world.generation != generation {
                // A fork installed another world: `target` was this one's.
                return;
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
                    world.apply(Input::Submit { node, request });
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
    /// An engine around `world`. With [`Clock::Wall`], a driver thread starts moving time. It
    /// cannot fork ([`SimEngine::start_from`] can).
    pub fn start(world: World, options: EngineOptions) -> std::io::Result<SimEngine> {
        SimEngine::start_with(world, None, options)
    }

    /// An engine around the world `factory` builds, which can fork its run
    /// ([`Control::fork`]): it rebuilds the world with `factory` and re-executes the inputs.
    pub fn start_from(factory: WorldFactory, options: EngineOptions) -> std::io::Result<SimEngine> {
        let forks = Forks::new(Arc::clone(&factory), options.events_file.clone(), options.ring);
        SimEngine::start_with(factory(), Some(forks), options)
    }

    fn start_with(world: World, forks: Option<Forks>, options: EngineOptions) -> std::io::Result<SimEngine> {
        let (hub, events) = hub::open(options.events_file.as_deref(), options.ring)?;
        let mut engine = SimEngine::new(world, Some(events), Some(hub));
        engine.forks = forks;
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
            forks: None,
        }
    }

    /// Installs `world` (re-executed for a fork or a switch of branch) in place of the current
    /// one and returns the one it replaced. First the hub is told: it starts the branch's event
    /// file `file` (already holding the re-executed events; appended to from now on), numbers
    /// on from the new world's event count, replaces its ring with `recent` and ends every
    /// subscription. Then the new world takes over the old one's clients and settings.
    pub(super) fn install(
        &self,
        mut world: World,
        recent: Vec<Event>,
        file: Option<PathBuf>,
    ) -> Result<World, ControlError> {
        let mut current = lock(&self.inner.world);
        if current.closed {
            return Err(ControlError::Unsupported("the engine has finished"));
        }
        self.inner.pump(&mut current);
        if let Some(tx) = &self.inner.events {
            let next_seq = world.cluster.event_count();
            hub::rebase(tx, file, next_seq, recent, Duration::from_secs(5))?;
        }
        world.take_over(&mut current);
        let old = std::mem::replace(&mut *current, world);
        self.inner.pump(&mut current);
        drop(current);
        self.inner.parked.notify_all();
        Ok(old)
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
        self.world().statuses()
    }

    /// The run states alone, not the statuses (each holds a node's whole map): the
    /// Redis-protocol server asks every few milliseconds.
    fn nodes_up(&self) -> Vec<NodeId> {
        let world = self.world();
        let up = |id: &NodeId| matches!(world.run_state(*id), RunState::Running | RunState::Paused);
        world.members.iter().copied().filter(up).collect()
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
            let mut network = w.cluster.network.clone();
            change(&mut network);
            w.apply(Input::Network(network));
            if !w.cluster.network.holds() {
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
            w.apply(Input::Kill(id));
        });
    }

    fn restart(&self, id: NodeId) -> Result<(), ControlError> {
        self.inner.with(|w| {
            if w.cluster.slot(id).is_none() {
                return Err(ControlError::NoSuchNode(id));
            }
            w.apply(Input::Restart(id));
            Ok(())
        })
    }

    fn pause(&self, id: NodeId) {
        self.inner.with(|w| {
            w.apply(Input::Pause(id));
        });
    }

    fn resume(&self, id: NodeId) {
        self.inner.with(|w| {
            w.apply(Input::Resume(id));
        });
    }

    fn campaign(&self, id: NodeId) {
        self.inner.with(|w| {
            w.apply(Input::Campaign(id));
        });
    }

    fn transfer_leadership(&self, target: NodeId) -> Result<NodeId, ControlError> {
        self.inner.with(|w| {
            let leader = crate::control::transfer_source(&w.statuses(), target)?;
            w.apply(Input::Transfer { leader, target });
            Ok(leader)
        })
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

    /// Not an input: the steps it runs are the world's own, and re-execution counts them.
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
        self.inner.with(|w| {
            w.apply(Input::Switches(switches));
        });
        Ok(())
    }

    fn held(&self) -> Vec<Held> {
        self.world().cluster.held()
    }

    fn act_on_held(&self, id: Option<u64>, action: HeldAction) -> bool {
        self.inner.with(|w| {
            let done = w.apply(Input::Held { id, action });
            w.wake_clients();
            done
        })
    }

    fn release_held(&self) {
        self.inner.with(|w| {
            w.apply(Input::ReleaseHeld);
            w.wake_clients();
        });
    }

    fn record(&self, node: Option<NodeId>, kind: EventKind) {
        self.inner.with(|w| {
            w.apply(Input::Record { node, kind });
        });
    }

    fn client(&self, options: ClientOptions) -> Client {
        let start = self.world().next_nonce as usize;
        Client::new(Arc::clone(&self.inner) as Arc<dyn Transport>, options, start)
    }

    fn fork(&self, after_event: u64) -> Result<Fork, ControlError> {
        let forks = self.forks.as_ref().ok_or(ControlError::Unsupported(branch::NOT_FORKABLE))?;
        forks.fork(self, after_event)
    }

    fn branches(&self) -> Vec<Branch> {
        self.forks.as_ref().map(|f| f.list(self)).unwrap_or_default()
    }

    fn switch_branch(&self, number: u32) -> Result<Fork, ControlError> {
        let forks = self.forks.as_ref().ok_or(ControlError::Unsupported(branch::NOT_FORKABLE))?;
        forks.switch(self, number)
    }

    fn settle(&self) {
        let mut world = self.world();
        let waited = Instant::now();
        while world.busy > 0 && waited.elapsed() < CLIENT_WAIT {
            world =
                self.inner.parked.wait_timeout(world, CLIENT_WAIT).unwrap_or_else(PoisonError::into_inner).0;
        }
        drop(world);
        // What the woken clients did (their `client` events) goes to the hub.
        self.inner.with(|_| {});
    }

    fn bookmark(&self) -> Result<Bookmark, ControlError> {
        let forks = self.forks.as_ref().ok_or(ControlError::Unsupported(branch::NOT_FORKABLE))?;
        Ok(forks.bookmark(self))
    }

    fn rewind(&self, bookmark: &Bookmark) -> Result<Fork, ControlError> {
        let forks = self.forks.as_ref().ok_or(ControlError::Unsupported(branch::NOT_FORKABLE))?;
        forks.rewind(self, bookmark)
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
