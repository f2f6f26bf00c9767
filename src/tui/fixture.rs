//! A deterministic screen for tests: a seeded simulation (the real core on `sim::Cluster`, in
//! virtual time) driven through an election, a few puts and gets, a crash, a pause, a one-way
//! cut and a put still in flight, turned into a [`ScreenState`] the way the console builds one
//! ([`demo`]); and one with snapshots every ten entries, a follower brought back by one and a
//! leadership transfer under way ([`compacted`]).

use super::feed::{Feed, Rates};
use super::screen::{ClientLine, ClientOutcome, Mode, ScreenState, VerdictView};
use crate::check::history::{EventType, HistoryEvent, OpKind};
use crate::check::{CheckOptions, Verdict, check_history};
use crate::control::{NodeStatus, RunState};
use crate::kv::{ClientId, Op, Reply, Request, RequestId};
use crate::network::LinkRule;
use crate::raft::{Config, NodeId, Role, SnapshotPolicy};
use crate::safety::Checker;
use crate::sim::{Cluster, TICK_NANOS};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

const MS: u64 = 1_000_000;

struct Driver {
    cluster: Cluster,
    feed: Feed,
    rates: Rates,
    flight: crate::events::InFlight,
    /// The safety checks, fed every event as the console's poller feeds them.
    checks: Checker,
    dead: BTreeMap<NodeId, NodeStatus>,
    history: Vec<HistoryEvent>,
    clients: VecDeque<ClientLine>,
    /// Requests waiting for an answer: their line and when they were sent.
    pending: BTreeMap<RequestId, (usize, u64)>,
    /// The one session, as the console has.
    session: ClientId,
    next_seq: u64,
}

impl Driver {
    fn new(nodes: usize, seed: u64, snapshots: SnapshotPolicy) -> Driver {
        let members: Vec<NodeId> = (1..=nodes as u64).map(NodeId).collect();
        let configs = members
            .iter()
            .map(|&id| {
                let mut c = Config::new(id, members.clone());
                c.seed = seed * 1000 + id.0;
                c.snapshots = snapshots;
                c
            })
            .collect();
        let link = LinkRule { loss: 0.0, delay: (MS, 3 * MS), duplicate: 0.0 };
        Driver {
            cluster: Cluster::new(configs, link, seed),
            feed: Feed::default(),
            rates: Rates::default(),
            flight: crate::events::InFlight::default(),
            checks: Checker::new(),
            dead: BTreeMap::new(),
            history: Vec::new(),
            clients: VecDeque::new(),
            pending: BTreeMap::new(),
            session: ClientId::UNREGISTERED,
            next_seq: 1,
        }
    }

    /// Registers the console's session through `via` (thesis §6.3).
    fn register(&mut self, via: NodeId) {
        let request = Request::new(RequestId::register(1), Op::Register);
        assert!(self.cluster.client_request(via, request), "{via} is up");
        for _ in 0..200 {
            self.run_ms(1);
            if self.session != ClientId::UNREGISTERED {
                return;
            }
        }
        panic!("the fixture's session did not register");
    }

    fn collect(&mut self) {
        for e in self.cluster.take_events() {
            self.checks.observe(&e);
            self.rates.observe(&e);
            self.flight.observe(&e);
            self.feed.push(e);
        }
        let now = self.cluster.now();
        for (node, reply) in self.cluster.take_replies() {
            if let Ok(Reply::Registered { client }) = reply.result {
                self.session = client;
                continue;
            }
            let Some((line, began)) = self.pending.remove(&reply.id) else { continue };
            let l = &mut self.clients[line];
            let (f, value) = history_op(&l.request);
            let key = l.request.key().to_string();
            let (result, kind, read) = match reply.result {
                Ok(Reply::Put | Reply::Registered { .. }) => (Ok(None), EventType::Ok, value),
                Ok(Reply::Get { value }) => (Ok(value.clone()), EventType::Ok, value),
                Err(e) => {
                    let kind = if e.is_definite() { EventType::Fail } else { EventType::Info };
                    (Err(e.to_string()), kind, value)
                }
            };
            let mut done = HistoryEvent::complete(kind, line as u64 + 1, f, &key, read.as_deref(), now);
            done.node = Some(node.0);
            self.history.push(done);
            let definite = result.is_err() && kind == EventType::Fail;
            l.outcome = Some(ClientOutcome {
                id: Some(reply.id),
                result,
                definite,
                latency: Duration::from_nanos(now - began),
                reply: None,
            });
        }
    }

    fn run_ms(&mut self, ms: u64) {
        for _ in 0..ms {
            let now = self.cluster.now() + MS;
            self.cluster.set_now(now);
            self.cluster.deliver_due();
            if now.is_multiple_of(TICK_NANOS) {
                for id in self.cluster.ids() {
                    self.cluster.tick(id);
                }
            }
            self.collect();
        }
    }

    fn leader(&self) -> NodeId {
        self.cluster
            .ids()
            .into_iter()
            .filter_map(|id| self.cluster.node(id).map(|n| (id, n)))
            .filter(|(_, n)| n.role() == Role::Leader)
            .max_by_key(|(_, n)| n.term())
            .map(|(id, _)| id)
            .expect("the fixture's seed elects a leader")
    }

    fn request(&mut self, via: NodeId, request: Op) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let op = request.clone();
        let (f, value) = history_op(&op);
        let key = op.key().to_string();
        let now = self.cluster.now();
        let line = self.clients.len();
        let process = line as u64 + 1;
        self.history.push(HistoryEvent::invoke(process, f, &key, value.as_deref(), now));
        self.clients.push_back(ClientLine { op: process, via, request, outcome: None, conn: None });
        let id = RequestId { client: self.session, seq };
        if self.cluster.client_request(via, Request::new(id, op)) {
            self.pending.insert(id, (line, now));
        } else {
            // A down node never answers; the console's client says so at once.
            let message = format!("{via} is down");
            let mut done = HistoryEvent::complete(EventType::Fail, process, f, &key, value.as_deref(), now);
            done.error = Some(message.clone());
            self.history.push(done);
            self.clients[line].outcome = Some(ClientOutcome {
                id: Some(id),
                result: Err(message),
                definite: true,
                latency: Duration::ZERO,
                reply: None,
            });
        }
        self.collect();
    }

    fn status(&self, id: NodeId) -> NodeStatus {
        if let Some(s) = self.dead.get(&id) {
            return s.clone();
        }
        let slot = self.cluster.slot(id).expect("a member");
        let run = if slot.paused { RunState::Paused } else { RunState::Running };
        match &slot.node {
            Some(node) => NodeStatus::of(node, run),
            None => NodeStatus::unknown(id, RunState::Dead),
        }
    }
}

fn put(key: &str, value: &str) -> Op {
    Op::Put { key: key.into(), value: value.into() }
}

fn get(key: &str) -> Op {
    Op::Get { key: key.into() }
}

/// The history's kind of a console operation, and the value a put writes.
fn history_op(op: &Op) -> (OpKind, Option<String>) {
    match op {
        Op::Put { value, .. } => (OpKind::Put, Some(value.clone())),
        Op::Get { .. } => (OpKind::Get, None),
        Op::Register => unreachable!("the console never sends a register"),
    }
}

/// The demonstration screen for `nodes` nodes (at least 3), always the same for the same input.
pub fn demo(nodes: usize) -> ScreenState {
    let mut d = Driver::new(nodes, 7, SnapshotPolicy::default());
    d.run_ms(600);
    let leader = d.leader();
    let followers: Vec<NodeId> = d.cluster.ids().into_iter().filter(|&id| id != leader).collect();
    let (f1, f2) = (followers[0], followers[1]);
    d.register(leader);
    d.request(leader, put("color", "blue"));
    d.run_ms(30);
    d.request(f1, put("size", "XL"));
    d.run_ms(30);
    d.request(f2, put("user", "ana"));
    d.run_ms(60);
    let crashed = (followers.len() >= 4).then(|| followers[followers.len() - 1]);
    if let Some(c) = crashed {
        let mut last = d.status(c);
        last.run = RunState::Dead;
        d.cluster.crash(c);
        d.dead.insert(c, last);
        d.run_ms(20);
    }
    d.request(leader, put("color", "red"));
    d.run_ms(60);
    d.request(f1, get("color"));
    d.run_ms(60);
    if let Some(c) = crashed {
        d.request(c, get("color"));
        let p = followers[followers.len() - 2];
        d.cluster.pause(p);
        d.cluster.record(None, crate::events::EventKind::fault(format!("pause {p}"), None));
    }
    d.cluster.network.cut(f1, f2);
    d.cluster.network.set_default_rule(LinkRule { loss: 0.05, delay: (2 * MS, 10 * MS), duplicate: 0.0 });
    d.cluster.record(None, crate::events::EventKind::fault(format!("cut {f1} -> {f2} (one way)"), None));
    d.request(leader, put("user", "bob"));
    d.run_ms(1);
    d.screen(leader)
}

/// A screen after snapshots (paper §7), always the same for the same input: every node
/// snapshots every ten entries; a follower killed early misses some thirty puts, and restarted
/// it gets the leader's snapshot; with four nodes or more, another is paused after twenty puts,
/// so its snapshot is an older one; the leader then hands its leadership to a third follower
/// (thesis §3.10), a transfer still under way.
pub fn compacted(nodes: usize) -> ScreenState {
    let mut d = Driver::new(nodes, 7, SnapshotPolicy { every: 10, chunk: 64 });
    d.run_ms(600);
    let leader = d.leader();
    let followers: Vec<NodeId> = d.cluster.ids().into_iter().filter(|&id| id != leader).collect();
    let (lagging, target) = (followers[followers.len() - 1], followers[0]);
    let slow = (followers.len() >= 3).then(|| followers[1]);
    d.register(leader);
    d.request(leader, put("color", "blue"));
    d.run_ms(30);
    d.cluster.crash(lagging);
    d.run_ms(10);
    for i in 0..30 {
        if i == 20
            && let Some(p) = slow
        {
            d.cluster.pause(p);
            d.cluster.record(None, crate::events::EventKind::fault(format!("pause {p}"), None));
        }
        let key = ["color", "size", "user"][i % 3];
        d.request(leader, put(key, &format!("v{i}")));
        d.run_ms(15);
    }
    d.cluster.restart(lagging);
    d.run_ms(120);
    for i in 30..34 {
        d.request(leader, put("size", &format!("v{i}")));
        d.run_ms(15);
    }
    d.request(leader, put("user", "eve"));
    d.run_ms(2);
    d.cluster.transfer_leadership(leader, target);
    d.collect();
    d.screen(leader)
}

impl Driver {
    /// The screen as the console builds it, `selected` selected.
    fn screen(self, selected: NodeId) -> ScreenState {
        let mut d = self;
        d.collect();
        let leader = selected;
        let verdict = match check_history(&d.history, &CheckOptions::default()) {
            Ok(Verdict::Linearizable { operations, .. }) => {
                let failed = d.history.iter().filter(|e| e.kind == EventType::Fail).count();
                VerdictView::Linearizable { ops: operations, failed }
            }
            other => panic!("the fixture's history must check: {other:?}"),
        };
        let now = d.cluster.now();
        let rates = d.rates.per_link(now);
        let ids = d.cluster.ids();
        ScreenState {
            nodes: ids.iter().map(|&id| d.status(id)).collect(),
            network: d.cluster.network.clone(),
            rates,
            feed: d.feed,
            clients: d.clients,
            clients_scroll: 0,
            verdict,
            safety: d.checks.report().clone(),
            speed: 1.0,
            frozen: false,
            selected: leader,
            mode: Mode::Normal,
            notice: None,
            storage: "in memory".into(),
            flight: d.flight,
            held: Vec::new(),
            now,
            show_flight: false,
            switches: None,
            history: None,
            lesson: None,
        }
    }
}
