//! The lecture pace (`quorum --lecture`, `L`), measured through the simulator engine as the
//! console drives it, without a terminal: with the console's own lecture settings applied, an
//! election and a put go through, and every step a room watches on the cards and the logs
//! lasts at least a second of real time at that speed (a virtual duration divided by the speed).
//!
//! The steps, each from the event that starts it to the one that ends it:
//! - an election (paper §5.2, thesis §9.6): pre-candidate until candidate, candidate until
//!   leader, the leader alone until a follower names it;
//! - a put (§5.3): appended on the leader only until a follower appends it, on followers but
//!   not committed until the leader commits it, committed and applied on the leader (the
//!   client has its answer) until a follower learns it is committed; and on each follower,
//!   appended until committed.
//!
//! Commit and apply are one step on each node (the core applies in the step that commits), so
//! they are measured together. Seeds 1 to 8 each run the whole session (some elections take
//! more than one round: at this pace a vote's round trip is two thirds of the shortest election
//! timeout, so split votes happen, and the randomized timeouts resolve them, paper §5.2).
//! `cargo test --test lecture_pace -- --nocapture` prints the table.

use quorum::control::{ClientOptions, Control};
use quorum::events::{Event, EventKind, NodeEventKind};
use quorum::kv::{Op, SessionLimits};
use quorum::raft::{Command, EntryId, NodeId, Role};
use quorum::sim::{self, Clock, EngineOptions, SimEngine};
use quorum::tui::lecture;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(10);

fn engine(seed: u64) -> SimEngine {
    let world = sim::world(seed, 5, None, SessionLimits::default());
    let options = EngineOptions { clock: Clock::Manual, events_file: None, ring: 1_000_000 };
    SimEngine::start(world, options).expect("engine")
}

/// Moves virtual time a tick at a time until `done` holds; fails after `limit` of virtual time.
fn advance_until(engine: &SimEngine, limit: Duration, what: &str, done: impl Fn(&SimEngine) -> bool) {
    let mut waited = Duration::ZERO;
    while !done(engine) {
        assert!(waited < limit, "no {what} within {limit:?} of virtual time at the lecture pace");
        engine.advance(TICK);
        waited += TICK;
    }
}

fn events(engine: &SimEngine) -> Vec<Event> {
    assert!(engine.flush_events());
    engine.recent_events(usize::MAX)
}

fn role(e: &Event) -> Option<(Role, Option<NodeId>)> {
    match &e.kind {
        EventKind::Node(NodeEventKind::Role { role, leader, .. }) => Some((*role, *leader)),
        _ => None,
    }
}

/// The time of the first event at or after `from` that `pick` accepts.
fn first(events: &[Event], from: u64, what: &str, pick: impl Fn(&Event) -> bool) -> u64 {
    events.iter().find(|e| e.time >= from && pick(e)).map(|e| e.time).unwrap_or_else(|| panic!("no {what}"))
}

/// The time of the last event before `until` that `pick` accepts.
fn last_before(events: &[Event], until: u64, what: &str, pick: impl Fn(&Event) -> bool) -> u64 {
    events
        .iter()
        .rev()
        .find(|e| e.time <= until && pick(e))
        .map(|e| e.time)
        .unwrap_or_else(|| panic!("no {what}"))
}

/// A step of the demonstration: what kind of step, its name, and its start and end, in virtual
/// nanoseconds.
struct Stage(&'static str, String, u64, u64);

/// The election that made `leader` leader, in `events` (after `since`).
fn election(events: &[Event], leader: NodeId, since: u64) -> Vec<Stage> {
    let on = |e: &Event, r: Role| e.node == Some(leader) && role(e).is_some_and(|(x, _)| x == r);
    let led = first(events, since, "leader event", |e| on(e, Role::Leader));
    let candidate = last_before(events, led, "candidate event", |e| on(e, Role::Candidate));
    let pre = last_before(events, candidate, "pre-candidate event", |e| on(e, Role::PreCandidate));
    let followed = first(events, led, "follower naming the leader", |e| {
        e.node != Some(leader) && role(e).is_some_and(|(r, l)| r == Role::Follower && l == Some(leader))
    });
    vec![
        Stage("pre-candidate", format!("{leader} pre-candidate"), pre, candidate),
        Stage("candidate", format!("{leader} candidate"), candidate, led),
        Stage(
            "leader, no follower knows it",
            format!("{leader} leader, no follower knows it yet"),
            led,
            followed,
        ),
    ]
}

fn holds(e: &Event, entry: EntryId) -> bool {
    matches!(e.kind, EventKind::Node(NodeEventKind::Append { first, last, .. })
        if first.index <= entry.index && entry.index <= last.index && last.term == entry.term)
}

fn commits(e: &Event, entry: EntryId) -> bool {
    matches!(e.kind, EventKind::Node(NodeEventKind::Commit { entry: c }) if c.index >= entry.index)
}

/// The put of `key` led by `leader`, from its append on the leader to its commitment on the
/// followers.
fn replication(events: &[Event], leader: NodeId, key: &str, members: &[NodeId]) -> Vec<Stage> {
    let entry = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Node(NodeEventKind::Apply { entry, command: Some(Command::Put { key: k, .. }) })
                if e.node == Some(leader) && k == key =>
            {
                Some(*entry)
            }
            _ => None,
        })
        .expect("the leader applied the put");
    let at = |node: NodeId| move |e: &Event| e.node == Some(node);
    let appended = first(events, 0, "the leader's append", |e| at(leader)(e) && holds(e, entry));
    let followers: Vec<NodeId> = members.iter().copied().filter(|&n| n != leader).collect();
    let on_followers = |pick: &dyn Fn(&Event) -> bool| {
        first(events, appended, "a follower's event", |e| {
            e.node.is_some_and(|n| followers.contains(&n)) && pick(e)
        })
    };
    let replicated = on_followers(&|e| holds(e, entry));
    let committed = first(events, appended, "the leader's commit", |e| at(leader)(e) && commits(e, entry));
    let applied = first(events, appended, "the leader's apply", |e| {
        at(leader)(e)
            && matches!(e.kind, EventKind::Node(NodeEventKind::Apply { entry: a, .. }) if a == entry)
    });
    assert_eq!(applied, committed, "commit and apply are one step on the leader");
    let learned = on_followers(&|e| commits(e, entry));
    let mut stages = vec![
        Stage(
            "appended on the leader only",
            format!("{entry} appended on the leader only"),
            appended,
            replicated,
        ),
        Stage(
            "on followers, not committed",
            format!("{entry} on followers, not committed"),
            replicated,
            committed,
        ),
        Stage(
            "committed + applied on the leader only",
            format!("{entry} committed + applied on the leader only"),
            committed,
            learned,
        ),
    ];
    for f in followers {
        let (a, c) = (
            first(events, appended, "append", |e| at(f)(e) && holds(e, entry)),
            first(events, appended, "commit", |e| at(f)(e) && commits(e, entry)),
        );
        stages.push(Stage(
            "appended on a follower, not committed",
            format!("{entry} appended on {f}, not committed"),
            a,
            c,
        ));
    }
    stages
}

/// A put through `via`, on a client thread, while virtual time moves (as in
/// `tests/sim_engine.rs`: time moves only while the client waits in the world).
fn put(engine: &SimEngine, client: &Arc<quorum::control::Client>, via: NodeId, key: &str) {
    let thread = {
        let (client, key) = (Arc::clone(client), key.to_string());
        std::thread::spawn(move || client.call(Op::Put { key, value: "red".into() }, Some(via)))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while engine.waiting_clients() == 0 && !thread.is_finished() {
        assert!(Instant::now() < deadline, "the client never sent its request");
        std::thread::yield_now();
    }
    for step in 0.. {
        assert!(step < 1000, "the put did not end within 10 s of virtual time");
        engine.advance(TICK);
        if engine.waiting_clients() == 0 {
            break;
        }
    }
    thread.join().expect("client thread").expect("the put succeeds at the lecture pace");
}

/// One session at the lecture pace: the first election, a put through the leader (its
/// session registers first), the leader killed and the next election; the steps measured.
fn session(seed: u64) -> Vec<Stage> {
    let engine = engine(seed);
    lecture::apply(&engine);
    assert!(lecture::is_on(engine.speed(), &engine.network()));
    let members = engine.members();
    advance_until(&engine, Duration::from_secs(3), "leader", |e| e.leader().is_some());
    let leader = engine.leader().expect("a leader");
    let client = Arc::new(engine.client(ClientOptions::default()));
    put(&engine, &client, leader, "color");
    // Everyone learns the commit with the next heartbeat.
    engine.advance(Duration::from_millis(200));
    engine.kill(leader);
    let killed = engine.now_nanos();
    advance_until(&engine, Duration::from_secs(5), "new leader", |e| e.leader().is_some_and(|l| l != leader));
    let next = engine.leader().expect("a new leader");
    engine.advance(Duration::from_millis(200));
    let events = events(&engine);
    engine.finish().expect("finish");
    let mut stages = election(&events, leader, 0);
    stages.extend(replication(&events, leader, "color", &members));
    stages.extend(election(&events, next, killed));
    stages
}

fn real_seconds(virtual_ns: u64) -> f64 {
    virtual_ns as f64 / 1e9 / lecture::SPEED
}

#[test]
fn at_the_lecture_pace_every_step_of_an_election_and_a_put_shows_for_a_second() {
    println!("lecture pace: speed {}, {} ms a message", lecture::SPEED, lecture::DELAY_MS);
    let mut shortest: Vec<(&'static str, f64)> = Vec::new();
    for seed in 1..=8 {
        for Stage(kind, name, from, to) in session(seed) {
            let real = real_seconds(to - from);
            if seed == 1 {
                println!("{name:<48} {:>6.3} s virtual → {real:>5.2} s real", (to - from) as f64 / 1e9);
            }
            assert!(real >= 1.0, "seed {seed}: {name} lasts {real:.2} s at the lecture pace");
            match shortest.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, s)) => *s = s.min(real),
                None => shortest.push((kind, real)),
            }
        }
    }
    println!("shortest over seeds 1 to 8:");
    for (kind, real) in shortest {
        println!("  {kind:<46} {real:>5.2} s real");
    }
}
