//! Forking a simulated past (issue 12, item 4): the simulator re-executes its seed and recorded
//! inputs up to an event and goes on from there as a new branch; the old branch is kept and can
//! be returned to. Every engine here moves time by hand (`Clock::Manual`), so each test is
//! deterministic.

mod common;

use quorum::cluster::{ClusterOptions, LiveCluster};
use quorum::control::{Client, ClientOptions, Control, ControlError, NodeStatus};
use quorum::events::{Change, Event, EventKind};
use quorum::kv::{Op, SessionLimits};
use quorum::network::HeldAction;
use quorum::raft::{NodeId, Switches};
use quorum::sim::{self, Clock, EngineOptions, SimEngine, WorldSpec};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn engine(seed: u64, events_file: Option<PathBuf>) -> SimEngine {
    let spec = WorldSpec::correct(seed, 5);
    let options = EngineOptions { clock: Clock::Manual, events_file, ring: 1_000_000 };
    SimEngine::start_from(spec.factory(), options).expect("engine")
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quorum-fork-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join("events.jsonl")
}

/// Runs `op` and moves time until it is answered (`common::operate`); with `by_hand`, every
/// held message is delivered by hand.
fn operate(engine: &SimEngine, client: &Arc<Client>, op: Op, by_hand: bool) {
    common::operate(engine, client, op, None, by_hand).expect("the operation succeeds");
}

fn put(key: &str, value: &str) -> Op {
    Op::Put { key: key.into(), value: value.into() }
}

/// Writes a marker event (an input that emits exactly one event) and returns its `seq`: a fork
/// there stops right after it, with the world exactly as it is now.
fn mark(engine: &SimEngine, name: &str) -> u64 {
    engine.record(None, EventKind::fault(name, None));
    assert!(engine.flush_events());
    engine.recent_events(1).last().expect("an event").seq
}

/// What a branch looks like at one moment: every node's status and every event, as JSON.
#[derive(Debug, PartialEq)]
struct Snapshot {
    status: Vec<NodeStatus>,
    events: Vec<String>,
}

fn snapshot(engine: &SimEngine) -> Snapshot {
    assert!(engine.flush_events());
    Snapshot { status: engine.status(), events: json(&engine.recent_events(usize::MAX)) }
}

fn json(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| serde_json::to_string(e).expect("json")).collect()
}

fn file_lines(path: &PathBuf) -> Vec<String> {
    std::fs::read_to_string(path).expect("event file").lines().map(String::from).collect()
}

fn leader(engine: &SimEngine) -> NodeId {
    engine.leader().expect("a leader")
}

#[test]
fn reexecution_gives_back_the_recorded_state_at_every_fork_point() {
    let engine = engine(11, None);
    let client = Arc::new(engine.client(ClientOptions::default()));
    let mut points = Vec::new();
    engine.advance(SECOND);
    operate(&engine, &client, put("x", "1"), false);
    points.push((mark(&engine, "a"), snapshot(&engine)));
    let old = leader(&engine);
    engine.kill(old);
    engine.advance(2 * SECOND);
    let next = leader(&engine);
    operate(&engine, &client, put("y", "2"), false);
    points.push((mark(&engine, "b"), snapshot(&engine)));
    let buddy = engine.members().into_iter().find(|&n| n != next && n != old).expect("a follower");
    engine.change_network(&mut |net| net.partition(&[vec![next, buddy]]));
    engine.restart(old).expect("restart");
    engine.advance(2 * SECOND);
    points.push((mark(&engine, "c"), snapshot(&engine)));
    engine.change_network(&mut |net| net.heal(Default::default()));
    engine.set_switches(Switches { pre_vote: false, ..Switches::CORRECT }).expect("switches");
    engine.advance(SECOND);
    engine.change_network(&mut |net| net.set_hold(true));
    operate(&engine, &client, put("z", "3"), true);
    engine.pause(buddy);
    engine.act_on_held(None, HeldAction::Duplicate);
    engine.release_held();
    engine.resume(buddy);
    points.push((mark(&engine, "d"), snapshot(&engine)));
    let end = snapshot(&engine);
    // Latest first: each fork re-executes the branch made by the one before.
    for (seq, recorded) in points.iter().rev() {
        let fork = engine.fork(*seq).expect("fork");
        assert_eq!(fork.after_event, *seq, "a marker is a step of its own");
        let again = snapshot(&engine);
        assert_eq!(again.events, recorded.events, "the events re-executed up to {seq}");
        assert_eq!(again.status, recorded.status, "the nodes re-executed up to {seq}");
    }
    engine.switch_branch(1).expect("back to the original run");
    assert_eq!(snapshot(&engine), end, "the original run, re-executed to where it was left");
    assert_eq!(engine.stalls(), 0);
    engine.finish().expect("finish");
}

#[test]
fn a_fork_takes_another_way_and_the_old_branch_is_still_there() {
    let file = temp_file("another-way");
    let engine = engine(5, Some(file.clone()));
    let client = Arc::new(engine.client(ClientOptions::default()));
    engine.advance(SECOND);
    operate(&engine, &client, put("x", "1"), false);
    let at = mark(&engine, "the fork point");
    operate(&engine, &client, put("x", "2"), false);
    engine.advance(SECOND);
    let old = snapshot(&engine);
    let subscription = engine.subscribe().expect("events are recorded");

    let fork = engine.fork(at).expect("fork");
    assert_eq!((fork.branch.number, fork.left, fork.after_event), (2, 1, at));
    assert_eq!(fork.branch.parent, Some((1, at)));
    // The old stream ends (its events are all the old branch's); the new one starts over.
    let seen: Vec<Event> = subscription.iter().collect();
    assert!(seen.iter().all(|e| e.seq < old.events.len() as u64));
    let prefix = &old.events[..=at as usize];
    assert_eq!(snapshot(&engine).events, prefix, "the new branch starts with the old one's events");

    // Another way: the leader dies instead of taking the second put.
    let leader = leader(&engine);
    engine.kill(leader);
    engine.advance(2 * SECOND);
    let new = snapshot(&engine);
    assert_ne!(new.status, old.status);
    assert_eq!(&new.events[..=at as usize], prefix);
    assert_ne!(new.events[at as usize + 1..], old.events[at as usize + 1..]);
    let branch_file = fork.branch.events_file.clone().expect("a branch file");
    assert_eq!(branch_file, file.with_file_name("events-branch2.jsonl"));
    assert_eq!(file_lines(&branch_file), new.events, "the branch's file is its whole run");

    let numbers: Vec<(u32, bool)> = engine.branches().iter().map(|b| (b.number, b.current)).collect();
    assert_eq!(numbers, [(1, false), (2, true)]);
    let back = engine.switch_branch(1).expect("switch back");
    assert_eq!((back.branch.number, back.left), (1, 2));
    assert_eq!(snapshot(&engine), old, "the old branch, exactly as it was left");
    assert_eq!(file_lines(&file), old.events);
    // And forward again to the new one, as it was left.
    engine.switch_branch(2).expect("switch to the new branch");
    assert_eq!(snapshot(&engine), new);
    engine.finish().expect("finish");
    let _ = std::fs::remove_dir_all(file.parent().expect("dir"));
}

#[test]
fn a_client_waiting_in_the_old_branch_times_out_and_goes_on_in_the_new_one() {
    let engine = engine(3, None);
    let client = Arc::new(engine.client(ClientOptions::default()));
    engine.advance(SECOND);
    operate(&engine, &client, put("x", "1"), false);
    let at = mark(&engine, "before the hold");
    engine.change_network(&mut |net| net.set_hold(true));
    let waiting = engine.waiting_clients();
    let thread = {
        let client = Arc::clone(&client);
        std::thread::spawn(move || client.call(put("y", "2"), None))
    };
    while engine.waiting_clients() == waiting {
        std::thread::yield_now();
    }
    engine.fork(at).expect("fork");
    for _ in 0..300 {
        if thread.is_finished() {
            break;
        }
        engine.advance(Duration::from_millis(100));
    }
    assert!(thread.is_finished(), "the client was left waiting");
    thread.join().expect("client thread").expect("the put goes through in the new branch");
    engine.finish().expect("finish");
}

/// How many of the engine's recent events are of this kind.
fn count(engine: &SimEngine, name: &str) -> usize {
    assert!(engine.flush_events());
    engine.recent_events(usize::MAX).iter().filter(|e| e.kind.name() == name).count()
}

/// A leadership transfer is an input of its own (`Input::Transfer`): a fork after it re-executes
/// it exactly (the same events, the target leading), a fork before it is a run where the old
/// leader stays, and the original run, switched back to, is where it was left.
#[test]
fn a_leadership_transfer_is_re_executed_by_forks() {
    let engine = engine(4, None);
    let client = Arc::new(engine.client(ClientOptions::default()));
    engine.advance(SECOND);
    operate(&engine, &client, put("x", "1"), false);
    let old = leader(&engine);
    let target = engine.members().into_iter().rev().find(|&n| n != old).expect("a follower");
    assert!(matches!(engine.transfer_leadership(old), Err(ControlError::AlreadyLeads(n)) if n == old));
    assert!(matches!(engine.transfer_leadership(NodeId(9)), Err(ControlError::NoSuchNode(_))));
    let before = mark(&engine, "before the transfer");
    assert_eq!(engine.transfer_leadership(target).expect("the leader hands over"), old);
    let change = Some(Change::Transfer(target));
    engine.record(None, EventKind::fault(format!("transfer leadership to {target}"), change));
    engine.advance(SECOND);
    assert_eq!(leader(&engine), target, "the target took over");
    assert_eq!(count(&engine, "transfer_started"), 1);
    assert_eq!(count(&engine, "transfer_finished"), 1);
    operate(&engine, &client, put("y", "2"), false);
    let after = mark(&engine, "after the transfer");
    let recorded = snapshot(&engine);
    engine.advance(SECOND);
    let end = snapshot(&engine);

    engine.fork(after).expect("fork after the transfer");
    assert_eq!(snapshot(&engine), recorded, "the transfer re-executed as it happened");
    engine.fork(before).expect("fork before the transfer");
    engine.advance(2 * SECOND);
    assert_eq!(leader(&engine), old, "without the transfer the old leader stays");
    assert_eq!(count(&engine, "transfer_started"), 0);
    engine.switch_branch(1).expect("back to the original run");
    assert_eq!(snapshot(&engine), end);
    assert_eq!(leader(&engine), target);
    engine.finish().expect("finish");
}

#[test]
fn a_recording_that_does_not_match_is_a_divergence_and_changes_nothing() {
    let engine = engine(9, None);
    let client = Arc::new(engine.client(ClientOptions::default()));
    engine.advance(SECOND);
    operate(&engine, &client, put("x", "1"), false);
    let at = mark(&engine, "here");
    let before = snapshot(&engine);
    {
        let mut world = engine.world();
        let inputs = world.inputs_mut();
        let n = inputs.len();
        inputs[n / 2].events += 1;
    }
    let err = engine.fork(at).expect_err("a tampered log");
    assert!(matches!(err, ControlError::Diverged(_)), "{err}");
    assert!(err.to_string().contains("events"), "{err}");
    assert_eq!(engine.branches().len(), 1, "no branch was made");
    assert_eq!(snapshot(&engine), before);

    // A change that bypasses the input log is caught too.
    let engine = self::engine(9, None);
    engine.advance(SECOND);
    let follower = engine.members().into_iter().find(|&n| n != leader(&engine)).expect("a follower");
    engine.world().cluster.campaign(follower);
    engine.advance(SECOND);
    let at = mark(&engine, "after an unrecorded campaign");
    let err = engine.fork(at).expect_err("an unrecorded input");
    assert!(matches!(err, ControlError::Diverged(_)), "{err}");
}

#[test]
fn only_a_simulator_started_from_a_seed_forks() {
    let engine = engine(1, None);
    engine.advance(SECOND);
    assert!(matches!(engine.fork(u64::MAX), Err(ControlError::NoSuchEvent { .. })));
    assert!(matches!(engine.switch_branch(7), Err(ControlError::NoSuchBranch(7))));

    let world = sim::world(1, 3, None, SessionLimits::default());
    let options = EngineOptions { clock: Clock::Manual, events_file: None, ring: 100 };
    let plain = SimEngine::start(world, options).expect("engine");
    assert!(matches!(plain.fork(0), Err(ControlError::Unsupported(_))));
    assert!(plain.branches().is_empty());

    let live = LiveCluster::start(ClusterOptions { nodes: 3, ..ClusterOptions::default() }).expect("live");
    assert!(matches!(live.fork(0), Err(ControlError::Unsupported(_))));
    assert!(matches!(live.switch_branch(1), Err(ControlError::Unsupported(_))));
    assert!(live.branches().is_empty());
    live.finish().expect("finish");
}
