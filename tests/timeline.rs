//! Standing anywhere in a run: the timeline's scene after the first n events is the fold of
//! those n events, whichever checkpoint it starts from, after its checkpoints were thinned, and
//! after it was cut back and grown again (a fork's branch). The run snapshots every hundred
//! entries, so the checkpoints hold compacted logs and maps restored from snapshots.

use quorum::control::NodeStatus;
use quorum::events::Event;
use quorum::raft::SnapshotPolicy;
use quorum::replay::{Scene, Timeline, read};
use quorum::sim::{SimOptions, Sinks, run};

/// A run long enough for the checkpoints to be thinned (more than 64 of 1,024 events).
fn events() -> Vec<Event> {
    let options = SimOptions {
        seed: 5,
        nodes: 5,
        clients: 10,
        ops: 2_000,
        keys: 5,
        nemesis: "all".parse().expect("faults"),
        hazard: None,
        snapshots: SnapshotPolicy { every: 100, chunk: 256 },
    };
    let mut out = Vec::new();
    run(&options, Sinks { events: Some(&mut out), history: None, probe: None }).expect("the run");
    read::read(&out[..], "seed 5").expect("readable").events
}

fn fold(events: &[Event]) -> Scene {
    let mut scene = Scene::new();
    events.iter().for_each(|e| scene.observe(e));
    scene
}

fn same(a: &Scene, b: &Scene) -> bool {
    let key = |s: &Scene| -> Vec<NodeStatus> { s.statuses() };
    key(a) == key(b)
        && a.network == b.network
        && a.in_flight == b.in_flight
        && a.clients == b.clients
        && a.safety() == b.safety()
        && a.events == b.events
}

#[test]
fn the_scene_at_any_event_is_the_fold_of_the_events_before_it() {
    let events = events();
    let n = events.len();
    assert!(n > 66 * 1024, "{n} events: too few to thin the checkpoints");
    let timeline = Timeline::of(events.clone());
    assert!(
        timeline.checkpoints() <= 64 && timeline.checkpoints() > 16,
        "{} checkpoints",
        timeline.checkpoints()
    );
    for at in [0, 1, 1023, 1024, 1025, 2047, 2048, n / 3, n / 2 + 7, n - 1, n] {
        assert!(same(&timeline.scene_at(at), &fold(&events[..at])), "the scene after {at} of {n} events");
    }
    let compacted = timeline.scene_at(n / 3).statuses().iter().filter(|s| s.snapshot.is_some()).count();
    assert!(compacted > 0, "by a third of the run some node has compacted its log");
    // Compaction really drops entries: what the checkpoints clone stays small however long the
    // run (a log of about a hundred entries a node, a handful of snapshots).
    let head = timeline.head();
    let longest = head.nodes.values().map(|node| node.log.len()).max().unwrap_or(0);
    assert!(longest < 400, "a rebuilt log of {longest} entries");
    assert!(head.snapshots_kept() <= 5 + 16, "{} snapshots kept", head.snapshots_kept());
    // A branch shares a prefix: cut back, then grown with the same events, it is the same.
    let mut cut = timeline.clone();
    cut.truncate(n / 2);
    assert_eq!(cut.len(), n / 2);
    assert!(same(cut.head(), &fold(&events[..n / 2])));
    for e in &events[n / 2..] {
        cut.push(e.clone());
    }
    assert!(same(cut.head(), timeline.head()));
    assert!(same(&cut.scene_at(n / 4), &fold(&events[..n / 4])));
}
