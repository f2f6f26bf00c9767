//! The live cluster's network: the send path every node thread calls, the router thread that
//! holds delayed messages, and the [`Transport`] that carries client requests.
//!
//! Messages normally go straight from the sender's thread into the receiver's inbox, after the
//! sender has asked the shared fault model whether the link is up and whether to lose or
//! duplicate the message. A message that must be delayed goes to the router thread, which holds
//! it until its time and then judges it again against the fault model as it is *at delivery*
//! (a partition made meanwhile drops it), exactly as the simulator does.

use super::node::StatusProbe;
use crate::control::hub::HubMsg;
use crate::control::{Attempt, Transport};
use crate::events::{Event, EventKind};
use crate::kv::{Request, Response};
use crate::network::{Fate, Held, HeldAction, HeldMessages, Network};
use crate::raft::{Message, NodeEvent, NodeId, Term};
use crossbeam_channel::{Receiver, Sender, unbounded};
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// What reaches a node's inbox.
pub(crate) enum Input {
    /// A message from another node, with its id.
    Peer(u64, Message),
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

pub(crate) enum RouterMsg {
    Delay(Instant, u64, u64, Message),
    Stop,
}

/// State shared by every thread of the cluster.
pub(crate) struct Shared {
    pub(super) start: Instant,
    pub(super) net: RwLock<Network>,
    /// Each node's inbox, absent while it is down (messages to it are dropped).
    pub(super) routes: RwLock<BTreeMap<NodeId, Sender<Input>>>,
    /// The member ids.
    pub(super) members: Vec<NodeId>,
    pub(super) events: Option<Sender<HubMsg>>,
    pub(super) router: Sender<RouterMsg>,
    pub(super) delayed_seq: AtomicU64,
    /// The id of the next message sent (ids are given only while events are recorded or the
    /// network is held; otherwise every message is 0).
    pub(super) next_message_id: AtomicU64,
    /// Messages the user holds (the network is held).
    pub(super) hand: Mutex<HeldMessages>,
    /// Nonces of register requests: unique among the requests of this process.
    pub(super) next_nonce: AtomicU64,
    /// Time scale as f64 bits: 1.0 is normal, 0.05 is 1/20 speed.
    pub(super) speed: AtomicU64,
    /// Time the cluster has spent frozen, in nanoseconds, and since when it is frozen now.
    pub(super) frozen: Mutex<(u64, Option<Instant>)>,
    /// Tests only: counts each node's events and takes the nodes' records.
    pub(super) probe: Option<Arc<StatusProbe>>,
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

    /// Whether the cluster is frozen: nodes do not tick, client timeouts do not count.
    pub(crate) fn is_frozen(&self) -> bool {
        self.frozen.lock().unwrap_or_else(PoisonError::into_inner).1.is_some()
    }

    pub(crate) fn speed(&self) -> f64 {
        f64::from_bits(self.speed.load(Ordering::Relaxed))
    }

    pub(crate) fn emit(&self, node: Option<NodeId>, term: Option<Term>, kind: EventKind) {
        if let Some(tx) = &self.events {
            if let (Some(probe), Some(node)) = (&self.probe, node)
                && !matches!(kind, EventKind::Client { .. })
            {
                probe.count(node, 1);
            }
            let _ = tx.send(HubMsg::Event(Event { seq: 0, time: self.now_nanos(), node, term, kind }));
        }
    }

    /// Records a node's events, all stamped with one time.
    pub(crate) fn emit_batch(&self, events: Vec<NodeEvent>) {
        if let Some(tx) = &self.events {
            let time = self.now_nanos();
            if let (Some(probe), Some(first)) = (&self.probe, events.first()) {
                // A batch is one node's.
                probe.count(first.node, events.len() as u64);
            }
            for e in events {
                let mut e = Event::from(e);
                e.time = time;
                let _ = tx.send(HubMsg::Event(e));
            }
        }
    }

    /// A sender's view of an inbox (`None` while the node is down).
    pub(crate) fn route(&self, node: NodeId) -> Option<Sender<Input>> {
        self.routes.read().unwrap_or_else(PoisonError::into_inner).get(&node).cloned()
    }

    pub(super) fn drop_message(&self, id: u64, message: Message, reason: &str) {
        if self.events.is_some() {
            self.emit(None, None, EventKind::Drop { id, message, reason: reason.to_string() });
        }
    }

    /// Sends a message from a node in term `term`: it gets its id and its `send` event, then
    /// goes through the fault model (dropped, delivered now, or handed to the router to be
    /// delivered later, delays scaled by the time scale), or waits for the user if the network
    /// is held.
    pub(crate) fn send(&self, message: Message, term: Term, rng: &mut rand::rngs::Xoshiro256PlusPlus) {
        let fate = {
            let net = self.net.read().unwrap_or_else(PoisonError::into_inner);
            if net.holds() { None } else { Some(net.route(message.from, message.to, rng)) }
        };
        let id = if self.events.is_some() || fate.is_none() {
            self.next_message_id.fetch_add(1, Ordering::Relaxed)
        } else {
            0
        };
        if self.events.is_some() {
            self.emit(Some(message.from), Some(term), EventKind::Send { id, message: message.clone() });
        }
        let Some(fate) = fate else {
            let since = self.now_nanos();
            self.hand.lock().unwrap_or_else(PoisonError::into_inner).hold(Held { id, message, since });
            return;
        };
        match fate {
            Fate::Drop(reason) => self.drop_message(id, message, reason),
            Fate::Deliver(delays) => {
                if delays.len() > 1 && self.events.is_some() {
                    self.emit(None, None, EventKind::Duplicate { id, message: message.clone() });
                }
                let speed = self.speed();
                let last = delays.len() - 1;
                let mut message = Some(message);
                for (i, delay) in delays.into_iter().enumerate() {
                    let m = if i == last { message.take() } else { message.clone() };
                    let Some(m) = m else { break };
                    if delay == 0 {
                        self.deliver(id, m);
                    } else {
                        let at = Instant::now() + Duration::from_nanos((delay as f64 / speed) as u64);
                        let seq = self.delayed_seq.fetch_add(1, Ordering::Relaxed);
                        let _ = self.router.send(RouterMsg::Delay(at, seq, id, m));
                    }
                }
            }
        }
    }

    /// Puts a message in its receiver's inbox now, or drops it if the receiver is down.
    fn deliver(&self, id: u64, message: Message) {
        let to = message.to;
        match self.route(to) {
            Some(tx) => {
                if let Err(e) = tx.send(Input::Peer(id, message))
                    && let Input::Peer(id, m) = e.into_inner()
                {
                    self.drop_message(id, m, "crashed");
                }
            }
            None => self.drop_message(id, message, "crashed"),
        }
    }

    /// Delivers a message now if its link is up (as the fault model is now), else drops it
    /// with the reason.
    pub(super) fn deliver_if_reachable(&self, id: u64, message: Message) {
        let reachable =
            self.net.read().unwrap_or_else(PoisonError::into_inner).reachable(message.from, message.to);
        match reachable {
            Ok(()) => self.deliver(id, message),
            Err(reason) => self.drop_message(id, message, reason),
        }
    }

    /// Delivers, drops or duplicates the oldest held copy of message `id` (the oldest of all
    /// if `None`). False if there is none.
    pub(super) fn act_on_held(&self, id: Option<u64>, action: HeldAction) -> bool {
        let mut hand = self.hand.lock().unwrap_or_else(PoisonError::into_inner);
        if action == HeldAction::Duplicate {
            let Some(id) = id.or_else(|| hand.list().first().map(|h| h.id)) else { return false };
            let Some(copy) = hand.duplicate(id, self.now_nanos()) else { return false };
            drop(hand);
            self.emit(None, None, EventKind::Duplicate { id, message: copy.message });
            return true;
        }
        let Some(held) = hand.take(id) else { return false };
        drop(hand);
        match action {
            HeldAction::Deliver => self.deliver_if_reachable(held.id, held.message),
            _ => self.drop_message(held.id, held.message, "dropped by hand"),
        }
        true
    }

    /// Delivers every held message, oldest first.
    pub(super) fn release_held(&self) {
        let all = self.hand.lock().unwrap_or_else(PoisonError::into_inner).take_all();
        for held in all {
            self.deliver_if_reachable(held.id, held.message);
        }
    }
}

/// The router thread: holds delayed messages until due, then re-judges and delivers them.
pub(super) fn router(shared: Arc<Shared>, rx: Receiver<RouterMsg>) {
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
    let mut delayed: BTreeMap<u64, (u64, Message)> = BTreeMap::new();
    loop {
        let msg = match heap.peek() {
            Some(Due(at, _)) => rx.recv_deadline(*at),
            None => rx.recv().map_err(|_| crossbeam_channel::RecvTimeoutError::Disconnected),
        };
        match msg {
            Ok(RouterMsg::Delay(at, seq, id, m)) => {
                heap.push(Due(at, seq));
                delayed.insert(seq, (id, m));
            }
            Ok(RouterMsg::Stop) | Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        while heap.peek().is_some_and(|Due(at, _)| *at <= now) {
            let Some(Due(_, seq)) = heap.pop() else { break };
            let Some((id, m)) = delayed.remove(&seq) else { continue };
            shared.deliver_if_reachable(id, m);
        }
    }
}

/// Client requests go straight into the chosen node's inbox, with a channel for the answer.
/// Timeouts count real time in which the cluster runs (not frozen), scaled by the time scale.
impl Transport for Shared {
    fn members(&self) -> Vec<NodeId> {
        self.members.clone()
    }

    fn is_up(&self, node: NodeId) -> bool {
        self.routes.read().unwrap_or_else(PoisonError::into_inner).contains_key(&node)
    }

    fn nonce(&self) -> u64 {
        self.next_nonce.fetch_add(1, Ordering::Relaxed)
    }

    fn attempt(&self, node: NodeId, request: &Request, timeout: Duration) -> Attempt {
        let (reply_to, replies) = unbounded::<Answered>();
        let sent =
            self.route(node).is_some_and(|tx| tx.send(Input::Client(request.clone(), reply_to)).is_ok());
        if !sent {
            return Attempt::Down;
        }
        // The timeout counts only time in which the cluster runs: a frozen cluster's clients
        // wait for it, they do not give up.
        let budget = timeout.div_f64(self.speed()).as_nanos() as u64;
        let start = self.run_nanos();
        loop {
            let used = self.run_nanos().saturating_sub(start);
            if used >= budget {
                return Attempt::Timeout;
            }
            match replies.recv_timeout(Duration::from_nanos(budget - used)) {
                Ok(a) if a.response.id != request.id => continue,
                Ok(a) => return Attempt::Answered(a.response.result, a.leader),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Attempt::Timeout,
            }
        }
    }

    fn wait(&self, pause: Duration) {
        std::thread::sleep(pause.div_f64(self.speed()));
    }
}
