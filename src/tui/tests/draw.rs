//! The drawings of a run: the client timeline and the space-time diagram, drawn from a real
//! recorded simulator run (five nodes, five clients, crashes, partitions and loss), whose event
//! log carries a `client` event per operation.

use crate::events::{ClientRecord, Event, EventKind, Outcome};
use crate::kv::Op;
use crate::raft::NodeId;
use crate::replay::{ClientOp, Timeline};
use crate::sim::{self, SimOptions, Sinks};
use crate::tui::widgets::{ClientTimeline, SpaceTime};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::widgets::Widget;

/// A recorded run: its events (with `client` events) and its members.
struct Run {
    events: Vec<Event>,
    members: Vec<NodeId>,
}

fn read_lines<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Vec<T> {
    let text = std::str::from_utf8(bytes).expect("UTF-8");
    text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

/// The run of `seed`, recorded.
fn run(seed: u64) -> Run {
    let options = SimOptions {
        seed,
        nodes: 5,
        clients: 5,
        ops: 200,
        keys: 3,
        nemesis: "crash,partition,loss".parse().expect("a fault set"),
        hazard: None,
        snapshots: Default::default(),
    };
    let mut events = Vec::new();
    sim::run(&options, Sinks { events: Some(&mut events), history: None, probe: None }).expect("in memory");
    let events: Vec<Event> = read_lines(&events);
    assert!(events.iter().any(|e| matches!(e.kind, EventKind::Client { op: Some(_), .. })), "client events");
    Run { events, members: (1..=5).map(NodeId).collect() }
}

fn draw(widget: impl Widget, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal.draw(|f| f.render_widget(widget, f.area())).expect("drawn");
    format!("{}", terminal.backend())
}

/// Draws into a bare buffer placed off the origin (a terminal cannot be 0 columns wide).
fn render(widget: impl Widget, width: u16, height: u16) {
    let mut buf = ratatui::buffer::Buffer::empty(ratatui::layout::Rect::new(0, 0, width + 3, height + 2));
    widget.render(ratatui::layout::Rect::new(3, 2, width, height), &mut buf);
}

/// The client operations of the whole run, as the latest scene has them.
fn ops(run: &Run) -> Vec<ClientOp> {
    Timeline::of(run.events.clone()).head().clients.iter().cloned().collect()
}

/// The index of the first event that `matches`, plus `after`.
fn at(run: &Run, after: usize, matches: impl Fn(&Event) -> bool) -> usize {
    run.events.iter().position(matches).expect("the run has such an event") + after
}

fn spacetime(run: &Run, cursor: usize, width: u16, height: u16) -> String {
    draw(SpaceTime { events: &run.events, members: &run.members, cursor }, width, height)
}

/// The moment the leader is cut off with one follower: what it sends is dropped (`✗`).
#[test]
fn spacetime_of_a_partition_at_120x40() {
    let r = run(11);
    let k = at(&r, 26, |e| e.to_string().contains("leader n1 cut off"));
    insta::assert_snapshot!("spacetime_partition_120x40", spacetime(&r, k, 120, 40));
}

/// The majority elects a new leader (`★`) while the old one is cut off.
#[test]
fn spacetime_of_an_election_at_120x40() {
    let r = run(11);
    let k = at(
        &r,
        2,
        |e| matches!(&e.kind, EventKind::Node(crate::raft::NodeEventKind::Role { role: crate::raft::Role::Leader, .. }) if e.node == Some(NodeId(2))),
    );
    insta::assert_snapshot!("spacetime_election_120x40", spacetime(&r, k, 120, 40));
}

/// A crashed node's lifeline is dashed until it restarts (`↻`); messages to it are dropped.
#[test]
fn spacetime_of_a_restart_at_80x24() {
    let r = run(11);
    let k = at(&r, 8, |e| matches!(e.kind, EventKind::Restart { .. }));
    insta::assert_snapshot!("spacetime_restart_80x24", spacetime(&r, k, 80, 24));
}

/// Concurrent operations, ones of unknown outcome, and ones pending at the cursor.
#[test]
fn client_timeline_at_120x40_and_80x24() {
    let r = run(11);
    let ops = ops(&r);
    let now = r.events.last().map_or(0, |e| e.time);
    let cursor = ops[ops.len() / 2].returned;
    insta::assert_snapshot!("timeline_120x40", draw(ClientTimeline { ops: &ops, cursor, now }, 120, 40));
    insta::assert_snapshot!("timeline_80x24", draw(ClientTimeline { ops: &ops, cursor, now }, 80, 24));
}

fn op(seq: u64, invoked: u64, returned: u64, outcome: Outcome) -> ClientOp {
    let record = ClientRecord {
        op: Op::Put { key: format!("k{seq}"), value: "v".into() },
        via: NodeId(2),
        invoked,
        outcome,
        id: None,
        value: None,
        error: (outcome != Outcome::Ok).then(|| "timed out".to_string()),
        conn: None,
        answered: None,
    };
    ClientOp { seq, returned, record }
}

/// Only what was invoked by the cursor is drawn; what returns after it is pending up to it.
#[test]
fn the_timeline_stands_at_its_cursor() {
    const MS: u64 = 1_000_000;
    let ops = [
        op(1, 100 * MS, 140 * MS, Outcome::Ok),
        op(2, 120 * MS, 220 * MS, Outcome::Unknown),
        op(3, 250 * MS, 260 * MS, Outcome::Failed),
    ];
    let text = draw(ClientTimeline { ops: &ops, cursor: 200 * MS, now: 300 * MS }, 80, 10);
    assert!(text.contains("put k1=v via n2") && text.contains("✓ ok"), "{text}");
    assert!(text.contains("put k2=v via n2") && text.contains("… pending"), "{text}");
    assert!(!text.contains("timed out"), "the unknown outcome is not known at the cursor: {text}");
    assert!(!text.contains("k3"), "invoked after the cursor: {text}");
    assert!(text.contains("at 0.200 s"), "{text}");
    let live = draw(ClientTimeline { ops: &ops, cursor: 300 * MS, now: 300 * MS }, 80, 10);
    assert!(live.contains("? timed out") && live.contains("✗ timed out") && live.contains("live"), "{live}");
}

/// No events, no nodes, odd events (fates without sends, self-sends, unknown nodes, a cursor
/// past the end) and tiny areas draw without panicking.
#[test]
fn odd_input_and_tiny_areas_never_panic() {
    use crate::raft::{Body, LogIndex, Message, Term};
    let m = |from, to| Message {
        from: NodeId(from),
        to: NodeId(to),
        term: Term(1),
        body: Body::Heartbeat { commit: LogIndex(0), read_round: 0 },
    };
    let ev = |kind| Event::new(Some(NodeId(1)), None, kind);
    let odd = vec![
        ev(EventKind::Deliver { id: 9, message: m(1, 2) }),
        ev(EventKind::Drop { id: 8, message: m(2, 1), reason: "loss".into() }),
        ev(EventKind::Duplicate { id: 7, message: m(1, 3) }),
        ev(EventKind::Send { id: 1, message: m(1, 1) }),
        ev(EventKind::Send { id: 2, message: m(1, 42) }),
        ev(EventKind::Send { id: 3, message: m(1, 2) }),
        ev(EventKind::Send { id: 3, message: m(1, 2) }),
        ev(EventKind::Duplicate { id: 3, message: m(1, 2) }),
        ev(EventKind::Restart { recovered: None }),
        ev(EventKind::Crash),
        ev(EventKind::Crash),
    ];
    let members: Vec<NodeId> = (1..=3).map(NodeId).collect();
    let r = run(11);
    let ops = ops(&r);
    for (w, h) in [(0, 0), (1, 1), (2, 5), (5, 2), (12, 3), (20, 4), (30, 6), (120, 40)] {
        for events in [&[][..], &odd[..], &r.events[..]] {
            for cursor in [0, 5, usize::MAX] {
                render(SpaceTime { events, members: &members, cursor }, w, h);
                render(SpaceTime { events, members: &[], cursor }, w, h);
            }
        }
        for cursor in [0, 1, u64::MAX] {
            render(ClientTimeline { ops: &ops, cursor, now: cursor }, w, h);
            render(ClientTimeline { ops: &[], cursor, now: 0 }, w, h);
        }
    }
}
