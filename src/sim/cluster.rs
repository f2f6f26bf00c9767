//! A cluster of real cores on one thread, with virtual time and a seeded network. Both the
//! golden-script runner (which delivers messages by hand) and the randomized simulator (which
//! delivers them when their delay has passed) drive nodes through it, so the driver contract of
//! [`crate::raft`] is implemented exactly once for single-threaded use.

use crate::events::{Event, EventKind};
use crate::kv::{Kv, KvNode, SessionLimits};
use crate::kv::{Request, Response};
use crate::network::{Fate, Held, HeldAction, HeldMessages, LinkRule, Network};
use crate::raft::{Config, Entry, Message, NodeId};
use crate::storage::{MemStorage, Storage};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use std::collections::{BTreeMap, BinaryHeap};

/// Nanoseconds of virtual time per tick (10 ms, the default the timeouts assume).
pub const TICK_NANOS: u64 = 10_000_000;

/// One node's slot: the core (absent while crashed), its durable store, and its fault state.
pub struct Slot {
    /// The running core, or `None` while crashed.
    pub node: Option<KvNode>,
    /// Durable state; survives crashes.
    pub storage: MemStorage,
    /// The configuration used to (re)start the node.
    pub config: Config,
    /// A paused node neither ticks nor receives; messages to it wait until it resumes.
    pub paused: bool,
    /// How many times it has restarted: each incarnation draws its own election timeouts
    /// from it (not from anything an observer can add to, such as the events recorded: the
    /// console's speed change must not change a lesson's run).
    pub restarts: u64,
}

/// A message on its way, ordered by delivery time, then by send order (deterministic).
#[derive(Debug, PartialEq, Eq)]
struct InFlight {
    at: u64,
    seq: u64,
    id: u64,
    message: Message,
}

impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // BinaryHeap is a max-heap: reverse for earliest first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Counters of what the network did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages sent by nodes.
    pub sent: u64,
    /// Messages delivered to nodes.
    pub delivered: u64,
    /// Messages dropped (partition, cut, loss, crashed receiver).
    pub dropped: u64,
}

/// N nodes, their storage, the network and the event stream.
pub struct Cluster {
    slots: BTreeMap<NodeId, Slot>,
    /// The fault model; change it at will.
    pub network: Network,
    in_flight: BinaryHeap<InFlight>,
    /// Messages the user holds (the network is held), until delivered, dropped or duplicated.
    hand: HeldMessages,
    /// Messages that arrived at paused nodes, with their ids, in arrival order.
    paused_inbox: BTreeMap<NodeId, Vec<(u64, Message)>>,
    rng: Xoshiro256PlusPlus,
    now: u64,
    next_msg_seq: u64,
    next_msg_id: u64,
    next_event_seq: u64,
    events: Vec<Event>,
    replies: Vec<(NodeId, Response)>,
    /// Network counters.
    pub stats: NetStats,
    /// The session limits of every node's state machine.
    limits: SessionLimits,
}

impl Cluster {
    /// A cluster of `configs.len()` fresh nodes; `seed` drives the network's randomness.
    pub fn new(configs: Vec<Config>, link: LinkRule, seed: u64) -> Self {
        Self::with_sessions(configs, link, seed, SessionLimits::default())
    }

    /// The same, with these session limits in every node's state machine.
    pub fn with_sessions(configs: Vec<Config>, link: LinkRule, seed: u64, limits: SessionLimits) -> Self {
        let mut slots = BTreeMap::new();
        let switches = configs.first().map_or(crate::raft::Switches::CORRECT, Config::switches);
        let snapshots = configs.first().map_or_else(Default::default, |c| c.snapshots);
        for config in configs {
            let mut storage = MemStorage::new();
            let recovered = storage.recover().unwrap_or_default();
            let node = KvNode::new(config.clone(), recovered, Kv::with_limits(limits));
            slots.insert(config.id, Slot { node: Some(node), storage, config, paused: false, restarts: 0 });
        }
        let mut cluster = Cluster {
            slots,
            network: Network::new(link),
            in_flight: BinaryHeap::new(),
            hand: HeldMessages::default(),
            paused_inbox: BTreeMap::new(),
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            now: 0,
            next_msg_seq: 0,
            next_msg_id: 1,
            next_event_seq: 0,
            events: Vec::new(),
            replies: Vec::new(),
            stats: NetStats::default(),
            limits,
        };
        let start = crate::events::Start {
            schema: crate::events::SCHEMA,
            engine: "sim".into(),
            nodes: cluster.ids(),
            seed,
            switches,
            network: cluster.network.clone(),
            storage: "memory".into(),
            sessions: limits,
            snapshots,
        };
        cluster.record(None, EventKind::Start(Box::new(start)));
        cluster
    }

    /// The node ids, sorted.
    pub fn ids(&self) -> Vec<NodeId> {
        self.slots.keys().copied().collect()
    }

    /// The running core of `id`, if it is up.
    pub fn node(&self, id: NodeId) -> Option<&KvNode> {
        self.slots.get(&id).and_then(|s| s.node.as_ref())
    }

    /// The slot of `id`.
    pub fn slot(&self, id: NodeId) -> Option<&Slot> {
        self.slots.get(&id)
    }

    /// All slots, by id.
    pub fn slots(&self) -> &BTreeMap<NodeId, Slot> {
        &self.slots
    }

    /// Virtual time in nanoseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Moves virtual time forward (never back).
    pub fn set_now(&mut self, now: u64) {
        self.now = self.now.max(now);
    }

    /// The delivery time of the next message in flight.
    pub fn next_delivery(&self) -> Option<u64> {
        self.in_flight.peek().map(|m| m.at)
    }

    /// Number of messages in flight.
    pub fn in_flight_len(&self) -> usize {
        self.in_flight.len()
    }

    /// How many events the cluster has recorded since it started (the next event's `seq`).
    pub fn event_count(&self) -> u64 {
        self.next_event_seq
    }

    /// Copies of each message not yet delivered or dropped, by id: on their way, held by the
    /// user, or waiting for a paused receiver (the event log's messages in flight).
    pub fn in_flight_copies(&self) -> BTreeMap<u64, u32> {
        let mut copies = BTreeMap::new();
        let waiting = self.paused_inbox.values().flatten().map(|(id, _)| *id);
        let held = self.hand.list().into_iter().map(|h| h.id);
        for id in self.in_flight.iter().map(|m| m.id).chain(waiting).chain(held) {
            *copies.entry(id).or_insert(0) += 1;
        }
        copies
    }

    /// The events recorded since the last call, stamped.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Client answers produced since the last call, with the node that gave each.
    pub fn take_replies(&mut self) -> Vec<(NodeId, Response)> {
        std::mem::take(&mut self.replies)
    }

    /// Records an event of the driver's own (faults, drops), stamped now.
    pub fn record(&mut self, node: Option<NodeId>, kind: EventKind) {
        let term = node.and_then(|n| self.node(n)).map(|n| n.term());
        self.push_event(Event { seq: 0, time: 0, node, term, kind });
    }

    fn push_event(&mut self, mut event: Event) {
        event.seq = self.next_event_seq;
        event.time = self.now;
        self.next_event_seq += 1;
        self.events.push(event);
    }

    /// Runs the driver contract for one node until it has nothing more to hand over:
    /// persist, then route messages, collect replies and events, advance.
    fn process(&mut self, id: NodeId) {
        loop {
            let Some(slot) = self.slots.get_mut(&id) else { return };
            let Some(node) = slot.node.as_mut() else { return };
            if !node.has_ready() {
                return;
            }
            let ready = node.ready();
            // In memory, a write is durable at once; the on-disk store syncs here.
            if let Err(e) = slot.storage.write_ready(&ready).and_then(|()| slot.storage.sync()) {
                panic!("in-memory storage failed: {e}");
            }
            node.advance();
            let term = node.term();
            for event in ready.events {
                self.push_event(event.into());
            }
            for message in ready.messages.into_iter().chain(ready.persisted_messages) {
                self.route(message, term);
            }
            for reply in ready.replies {
                self.replies.push((id, reply));
            }
        }
    }

    /// Sends a message: it gets its id and its `send` event, then the network decides its fate
    /// (or, if the network is held, it waits for the user). `term` is the sender's.
    fn route(&mut self, message: Message, term: crate::raft::Term) {
        self.stats.sent += 1;
        let id = self.next_msg_id;
        self.next_msg_id += 1;
        let from = message.from;
        self.push_event(Event::new(Some(from), Some(term), EventKind::Send { id, message: message.clone() }));
        if self.network.holds() {
            self.hand.hold(Held { id, message, since: self.now });
            return;
        }
        match self.network.route(message.from, message.to, &mut self.rng) {
            Fate::Drop(reason) => self.drop_message(id, message, reason),
            Fate::Deliver(delays) => {
                if delays.len() > 1 {
                    self.push_event(Event::new(
                        None,
                        None,
                        EventKind::Duplicate { id, message: message.clone() },
                    ));
                }
                for delay in delays {
                    let seq = self.next_msg_seq;
                    self.next_msg_seq += 1;
                    self.in_flight.push(InFlight { at: self.now + delay, seq, id, message: message.clone() });
                }
            }
        }
    }

    fn drop_message(&mut self, id: u64, message: Message, reason: &str) {
        self.stats.dropped += 1;
        self.push_event(Event::new(None, None, EventKind::Drop { id, message, reason: reason.to_string() }));
    }

    /// Delivers one message now: judged again against the network (a partition made while it
    /// was in flight drops it), dropped if the receiver is down, kept if it is paused.
    fn deliver(&mut self, id: u64, message: Message) {
        if let Err(reason) = self.network.reachable(message.from, message.to) {
            return self.drop_message(id, message, reason);
        }
        let to = message.to;
        let Some(slot) = self.slots.get_mut(&to) else {
            return self.drop_message(id, message, "no such node");
        };
        if slot.paused {
            self.paused_inbox.entry(to).or_default().push((id, message));
            return;
        }
        let Some(node) = slot.node.as_mut() else { return self.drop_message(id, message, "crashed") };
        self.stats.delivered += 1;
        let term = Some(node.term());
        self.push_event(Event::new(Some(to), term, EventKind::Deliver { id, message: message.clone() }));
        if let Some(node) = self.slots.get_mut(&to).and_then(|s| s.node.as_mut()) {
            node.step(message);
        }
        self.process(to);
    }

    /// The messages the user holds, oldest first.
    pub fn held(&self) -> Vec<Held> {
        self.hand.list()
    }

    /// Delivers, drops or duplicates the oldest held copy of message `id` (the oldest of all
    /// if `None`). False if there is no such message.
    pub fn act_on_held(&mut self, id: Option<u64>, action: HeldAction) -> bool {
        match action {
            HeldAction::Duplicate => {
                let Some(id) = id.or_else(|| self.hand.list().first().map(|h| h.id)) else { return false };
                let Some(copy) = self.hand.duplicate(id, self.now) else { return false };
                self.push_event(Event::new(None, None, EventKind::Duplicate { id, message: copy.message }));
                true
            }
            HeldAction::Deliver | HeldAction::Drop => {
                let Some(held) = self.hand.take(id) else { return false };
                if action == HeldAction::Deliver {
                    self.deliver(held.id, held.message);
                } else {
                    self.drop_message(held.id, held.message, "dropped by hand");
                }
                true
            }
        }
    }

    /// Delivers every held message now, oldest first; what they cause follows the network's
    /// mode (held again if it is still held). Returns how many.
    pub fn release_held(&mut self) -> usize {
        let all = self.hand.take_all();
        let n = all.len();
        for held in all {
            self.deliver(held.id, held.message);
        }
        n
    }

    /// Delivers every message due at or before the current time, in order.
    pub fn deliver_due(&mut self) {
        while self.in_flight.peek().is_some_and(|m| m.at <= self.now) {
            let Some(m) = self.in_flight.pop() else { break };
            self.deliver(m.id, m.message);
        }
    }

    /// Delivers every message in flight now, whatever its delay, addressed to one of `to` (all
    /// nodes if empty). Messages sent while delivering wait for the next call.
    pub fn deliver_all(&mut self, to: &[NodeId]) -> usize {
        let mut batch = Vec::new();
        let mut keep = Vec::new();
        while let Some(m) = self.in_flight.pop() {
            if to.is_empty() || to.contains(&m.message.to) {
                batch.push(m);
            } else {
                keep.push(m);
            }
        }
        self.in_flight.extend(keep);
        let n = batch.len();
        for m in batch {
            self.deliver(m.id, m.message);
        }
        n
    }

    /// Drops the messages in flight that `filter` selects, recording why.
    pub fn drop_in_flight(&mut self, filter: impl Fn(&Message) -> bool, reason: &str) -> usize {
        let all: Vec<InFlight> = std::mem::take(&mut self.in_flight).into_vec();
        let mut sorted = all;
        sorted.sort_by_key(|m| (m.at, m.seq));
        let mut n = 0;
        for m in sorted {
            if filter(&m.message) {
                n += 1;
                self.drop_message(m.id, m.message, reason);
            } else {
                self.in_flight.push(m);
            }
        }
        n
    }

    /// Ticks one node (no-op if it is down or paused).
    pub fn tick(&mut self, id: NodeId) {
        let Some(slot) = self.slots.get_mut(&id) else { return };
        if slot.paused {
            return;
        }
        let Some(node) = slot.node.as_mut() else { return };
        node.tick();
        self.process(id);
    }

    /// Forces node `id` to time out and campaign.
    pub fn campaign(&mut self, id: NodeId) {
        if let Some(node) = self.slots.get_mut(&id).and_then(|s| s.node.as_mut()) {
            node.campaign();
            self.process(id);
        }
    }

    /// Asks node `id` to transfer its leadership to `target` (thesis §3.10); the events say
    /// whether it started, and how it ends.
    pub fn transfer_leadership(&mut self, id: NodeId, target: NodeId) {
        if let Some(node) = self.slots.get_mut(&id).and_then(|s| s.node.as_mut()) {
            node.transfer_leadership(target);
            self.process(id);
        }
    }

    /// A client request arriving at node `id`. Returns false if the node is down or paused
    /// (the client gets no answer, as with a dead server).
    pub fn client_request(&mut self, id: NodeId, request: Request) -> bool {
        let Some(slot) = self.slots.get_mut(&id) else { return false };
        if slot.paused {
            return false;
        }
        let Some(node) = slot.node.as_mut() else { return false };
        node.client_request(request);
        self.process(id);
        true
    }

    /// Crashes node `id`: its volatile state is gone, its storage stays.
    pub fn crash(&mut self, id: NodeId) {
        if let Some(slot) = self.slots.get_mut(&id)
            && slot.node.take().is_some()
        {
            slot.paused = false;
            let lost = self.paused_inbox.remove(&id).unwrap_or_default();
            self.record(Some(id), EventKind::Crash);
            // What waited in a paused node's buffers is gone with it.
            for (m, message) in lost {
                self.drop_message(m, message, "crashed");
            }
        }
    }

    /// Restarts node `id` from its storage (no-op if it is running).
    pub fn restart(&mut self, id: NodeId) {
        let Some(slot) = self.slots.get_mut(&id) else { return };
        if slot.node.is_some() {
            return;
        }
        let recovered = match slot.storage.recover() {
            Ok(r) => r,
            Err(e) => panic!("in-memory storage failed: {e}"),
        };
        let recovery = crate::events::Recovery::of(&recovered);
        // A new incarnation draws new election timeouts, deterministically.
        slot.restarts += 1;
        let mut config = slot.config.clone();
        config.seed = config.seed.wrapping_add(slot.restarts.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        slot.node = Some(KvNode::new(config, recovered, Kv::with_limits(self.limits)));
        self.record(Some(id), EventKind::Restart { recovered: recovery });
    }

    /// Replaces a crashed node's stored log and term (for scripted scenarios such as the
    /// paper's Figure 7 and 8 shapes).
    pub fn set_stored_log(&mut self, id: NodeId, entries: Vec<Entry>, term: crate::raft::Term) {
        if let Some(slot) = self.slots.get_mut(&id) {
            let hs = crate::storage::HardState { term, vote: None };
            let ok = slot
                .storage
                .save_hard_state(hs)
                .and_then(|()| slot.storage.write_entries(crate::raft::LogIndex(1), &entries));
            if let Err(e) = ok {
                panic!("in-memory storage failed: {e}");
            }
        }
    }

    /// Switches a hazard, PreVote or CheckQuorum on every node (running ones at once, crashed
    /// ones when they restart).
    pub fn set_switches(&mut self, switches: crate::raft::Switches) {
        for slot in self.slots.values_mut() {
            slot.config.set_switches(switches);
            if let Some(node) = slot.node.as_mut() {
                node.set_switches(switches);
            }
        }
    }

    /// Pauses node `id`: it neither ticks nor receives until resumed.
    pub fn pause(&mut self, id: NodeId) {
        if let Some(slot) = self.slots.get_mut(&id)
            && slot.node.is_some()
        {
            slot.paused = true;
        }
    }

    /// Resumes node `id` and delivers what it missed while paused, in order (a paused process
    /// finds its socket buffers full when it wakes up).
    pub fn resume(&mut self, id: NodeId) {
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.paused = false;
        }
        for (m, message) in self.paused_inbox.remove(&id).unwrap_or_default() {
            self.deliver(m, message);
        }
    }
}
