//! The history view and replays: keys, the cursor, what is refused, play, and snapshots of
//! the past at 120x40 and 80x24. The events are a seeded simulator run's, read back the way
//! `quorum replay` reads a file.

use crate::events::{Event, EventKind, NodeEventKind};
use crate::nemesis::FaultSet;
use crate::raft::{Role, SnapshotPolicy};
use crate::replay::{Mark, Timeline};
use crate::sim::{self, SimOptions, Sinks};
use crate::tui::app::App;
use crate::tui::engine::{Poll, Update};
use crate::tui::screen::{Lower, Mode};
use crate::tui::view;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::{Duration, Instant};

/// A small seeded run's events: elections, puts and gets, and faults.
fn run_events() -> Vec<Event> {
    events_of(Default::default())
}

/// The same run with a snapshot every ten entries (paper §7).
fn compacted_events() -> Vec<Event> {
    events_of(SnapshotPolicy { every: 10, chunk: 64 })
}

fn events_of(snapshots: SnapshotPolicy) -> Vec<Event> {
    let options = SimOptions {
        seed: 3,
        nodes: 5,
        clients: 3,
        ops: 30,
        keys: 3,
        nemesis: "partition,crash".parse::<FaultSet>().expect("a fault set"),
        hazard: None,
        snapshots,
    };
    let mut out = Vec::new();
    sim::run(&options, Sinks { events: Some(&mut out), history: None, probe: None }).expect("the run");
    crate::replay::read::read(&out[..], "seed 3").expect("readable").events
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(app: &mut App, codes: &[KeyCode]) {
    for &c in codes {
        app.on_key(key(c));
    }
}

fn chr(c: char) -> KeyCode {
    KeyCode::Char(c)
}

/// A console that has seen `events` come in with one poll, as the poller sends them.
fn live(events: Vec<Event>) -> App {
    let timeline = Timeline::of(events.clone());
    let nodes = timeline.head().statuses();
    let mut app = App::new(nodes.iter().map(|n| n.id).collect(), "in memory");
    app.resize(120, 40);
    app.on_update(Update::Poll(Poll { nodes, events, speed: 1.0, applied: u64::MAX, ..Poll::default() }));
    app
}

fn at(app: &App) -> usize {
    app.screen().history.as_ref().map_or(usize::MAX, |h| h.at)
}

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal.draw(|f| view::render(f, app.screen())).expect("drawn");
    terminal
}

#[test]
fn v_opens_the_past_at_the_newest_event_home_and_end_go_to_either_end_and_esc_returns() {
    let events = run_events();
    let total = events.len();
    let mut app = live(events);
    assert!(app.timeline().len() == total, "every polled event is kept");
    press(&mut app, &[chr('v')]);
    assert!(app.in_history());
    assert_eq!(at(&app), total);
    assert_eq!(app.screen().mode, Mode::History);
    press(&mut app, &[KeyCode::Home]);
    assert_eq!(at(&app), 0);
    let s = app.screen();
    assert!(s.leader().is_none() && s.nodes.iter().all(|n| n.kv.is_empty() && n.commit.0 == 0));
    press(&mut app, &[KeyCode::Right, KeyCode::Right, KeyCode::PageDown]);
    assert_eq!(at(&app), 102);
    press(&mut app, &[KeyCode::PageUp, KeyCode::Left]);
    assert_eq!(at(&app), 1);
    press(&mut app, &[KeyCode::End]);
    assert_eq!(at(&app), total);
    let head = app.timeline().head().statuses();
    assert_eq!(app.screen().nodes, head, "the newest event shows the current state");
    press(&mut app, &[KeyCode::Esc]);
    assert!(!app.in_history() && app.screen().history.is_none());
    assert!(app.take_commands().is_empty(), "looking at the past sends nothing");
}

#[test]
fn a_step_back_over_a_commit_takes_the_commit_index_back() {
    let mut app = live(run_events());
    press(&mut app, &[chr('v'), KeyCode::Home, KeyCode::Tab]);
    assert_eq!(app.screen().history.as_ref().map(|h| h.mark), Some(Mark::Commit));
    // The second commit of some node: it moves that node's commit index from one value to the next.
    press(&mut app, &[chr('n'), chr('n')]);
    let i = at(&app) - 1;
    let e = app.timeline().events()[i].clone();
    let (node, EventKind::Node(NodeEventKind::Commit { entry })) = (e.node.expect("a node"), &e.kind) else {
        panic!("n stops just after a commit: {e}");
    };
    let commit = |app: &App| app.screen().node(node).map(|n| n.commit).expect("the node");
    assert_eq!(commit(&app), entry.index);
    assert_eq!(app.screen().history.as_ref().and_then(|h| h.seq), Some(e.seq), "the cursor's event");
    press(&mut app, &[KeyCode::Left]);
    assert!(commit(&app) < entry.index, "one step back, before the commit");
    press(&mut app, &[chr('N')]);
    assert!(at(&app) <= i, "N goes to the previous commit");
}

#[test]
fn n_finds_the_first_election_and_says_when_there_is_none_of_a_kind() {
    let mut app = live(run_events());
    press(&mut app, &[chr('v'), KeyCode::Home, chr('n')]);
    let s = app.screen();
    assert!(s.leader().is_some_and(|l| l.role == Some(Role::Leader)), "just after the first election");
    press(&mut app, &[KeyCode::Home, chr('N')]);
    assert_eq!(at(&app), 0);
    let notice = app.screen().notice.as_ref().map(|n| n.text.clone()).unwrap_or_default();
    assert!(notice.contains("no election before"), "{notice}");
}

#[test]
fn keys_that_act_on_the_cluster_are_refused_in_the_past() {
    let mut app = live(run_events());
    press(&mut app, &[chr('v')]);
    for c in ['k', 'p', 'x', 'h', 'm', 'e'] {
        press(&mut app, &[chr(c)]);
        let notice = app.screen().notice.clone().expect("a notice");
        assert!(notice.error && notice.text.contains("read-only past"), "{c}: {}", notice.text);
        assert_eq!(app.screen().mode, Mode::History, "{c} opened nothing");
    }
    press(&mut app, &[chr('w'), chr('j')]);
    let notice = app.screen().notice.clone().expect("a notice");
    assert!(notice.text.contains("no action on 'j' in the history view"), "{}", notice.text);
    assert!(app.take_commands().is_empty());
    press(&mut app, &[chr('v')]);
    assert_eq!(app.screen().history.as_ref().map(|h| h.lower), Some(Lower::SpaceTime));
    press(&mut app, &[chr('?')]);
    assert_eq!(app.screen().mode, Mode::Help);
    press(&mut app, &[chr('x')]);
    assert_eq!(app.screen().mode, Mode::History, "any key closes the help");
}

#[test]
fn the_cluster_runs_on_behind_the_view() {
    let mut events = run_events();
    let later = events.split_off(events.len() / 2);
    let mut app = live(events);
    press(&mut app, &[chr('v')]);
    let before = at(&app);
    app.on_update(Update::Poll(Poll { events: later, speed: 1.0, applied: u64::MAX, ..Poll::default() }));
    let h = app.screen().history.clone().expect("still the past");
    assert_eq!((h.at, h.total), (before, app.timeline().len()), "the cursor stays, the total grows");
    press(&mut app, &[KeyCode::End]);
    assert_eq!(at(&app), app.timeline().len());
}

#[test]
fn a_replay_plays_at_its_speed_and_cannot_be_left_for_a_present() {
    let events = run_events();
    let total = events.len();
    let mut app = App::replay(Timeline::of(events), "run.jsonl", 0, 1.0, &["run.jsonl, line 9: cut".into()]);
    app.resize(120, 40);
    assert!(app.screen().notice.as_ref().is_some_and(|n| n.text.contains("line 9")), "the warning is shown");
    press(&mut app, &[KeyCode::Esc]);
    assert!(app.in_history());
    assert!(app.screen().notice.as_ref().is_some_and(|n| n.text.contains("q quits")));
    press(&mut app, &[chr('k')]);
    assert!(app.screen().notice.as_ref().is_some_and(|n| n.text.contains("a replay is read-only")));
    press(&mut app, &[chr('+'), chr(' ')]);
    let h = app.screen().history.clone().expect("the view");
    assert!(h.playing && (h.play_speed - 2.0).abs() < 1e-9);
    // Half a second of the wall clock at 2×: one second of the run.
    let wake = app.tick(Instant::now() + Duration::from_millis(500));
    assert!(wake.is_some());
    let h = app.screen().history.clone().expect("the view");
    assert!(h.at > 0 && h.at < total && h.time <= 1_000_000_000, "{} of {total} at {}", h.at, h.time);
    app.tick(Instant::now() + Duration::from_secs(3600));
    let h = app.screen().history.clone().expect("the view");
    assert!(h.at == total && !h.playing, "play stops at the end");
    press(&mut app, &[chr('q')]);
    assert!(app.should_quit());
}

#[test]
fn the_past_at_120x40_and_80x24() {
    let mut app = live(run_events());
    // Just after the first commit on the leader, then a few events on.
    press(&mut app, &[chr('v'), KeyCode::Home, KeyCode::Tab, chr('n')]);
    press(&mut app, &[KeyCode::Right, KeyCode::Right, KeyCode::Right]);
    let big = draw(&app, 120, 40);
    let header = format!(
        "{:?}",
        big.backend().buffer().content()[..120].iter().map(|c| c.symbol()).collect::<String>()
    );
    assert!(header.contains("REWOUND to event"), "{header}");
    insta::assert_snapshot!("history_120x40", big.backend());
    app.resize(80, 24);
    insta::assert_snapshot!("history_80x24", draw(&app, 80, 24).backend());
}

#[test]
fn a_replay_at_80x24_names_its_file() {
    let mut app = App::replay(Timeline::of(run_events()), "/tmp/run.jsonl", 500, 1.0, &[]);
    app.resize(80, 24);
    insta::assert_snapshot!("replay_80x24", draw(&app, 80, 24).backend());
}

/// `F` in the history view forks the past at the cursor's event (the engine decides whether
/// it can); a replay has no engine and refuses. When the poller says the stream went to the new
/// branch, the timeline becomes the parent's up to the fork, the view closes, and `B` asks for
/// the next branch; coming back to a branch gives back its whole timeline.
#[test]
fn f_forks_at_the_cursor_and_the_timeline_follows_the_branch() {
    use crate::control::Branch;
    use crate::tui::action::Command;
    let events = run_events();
    let total = events.len();
    let mut app = live(events.clone());
    press(&mut app, &[chr('v'), KeyCode::Home, KeyCode::Right, KeyCode::Right, KeyCode::Right]);
    press(&mut app, &[chr('F')]);
    assert_eq!(app.take_commands(), vec![Command::Fork(2)], "the cursor stands after event #2");
    // The engine forked just after event 5 (the end of that step): the poller starts over.
    let branch =
        Branch { number: 2, parent: Some((1, 5)), events: 6, now: 0, current: true, events_file: None };
    let mut next = events[..6].to_vec();
    next.push(Event { seq: 6, ..events[6].clone() });
    let rebased = Poll {
        events: next,
        speed: 1.0,
        applied: u64::MAX,
        rebased: Some(Box::new(branch)),
        ..Poll::default()
    };
    app.on_update(Update::Poll(rebased));
    assert!(!app.in_history(), "the new branch goes on live");
    assert_eq!(app.timeline().len(), 7, "the shared six events, then the new branch's own");
    press(&mut app, &[chr('B')]);
    assert_eq!(app.take_commands(), vec![Command::SwitchBranch(None)]);
    let back =
        Branch { number: 1, parent: None, events: total as u64, now: 0, current: true, events_file: None };
    let poll = Poll { speed: 1.0, applied: u64::MAX, rebased: Some(Box::new(back)), ..Poll::default() };
    app.on_update(Update::Poll(poll));
    assert_eq!(app.timeline().len(), total, "branch 1's timeline, whole, as it was left");

    let mut replay = App::replay(Timeline::of(events), "run.jsonl", 3, 1.0, &[]);
    press(&mut replay, &[chr('F')]);
    assert!(replay.take_commands().is_empty(), "a replay forks nothing");
    assert!(replay.screen().notice.as_ref().is_some_and(|n| n.error && n.text.contains("no simulator")));
}

/// The past after a snapshot was installed: the rebuilt screen shows every node's snapshot on
/// its card (or table row) and its boundary in the logs panel, as the live screen does, and
/// equals the scene the events give there.
#[test]
fn the_past_after_an_installed_snapshot_at_120x40_and_80x24() {
    let events = compacted_events();
    let installed = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::Node(NodeEventKind::SnapshotInstalled { .. })))
        .expect("the run installs a snapshot on some follower");
    // Just after the install and the commit that follows it.
    let at = installed + 2;
    let node = events[installed].node.expect("a node");
    let timeline = Timeline::of(events);
    let mut app = App::replay(timeline.clone(), "/tmp/compacted.jsonl", at, 1.0, &[]);
    app.resize(120, 40);
    let scene = timeline.scene_at(at);
    assert_eq!(app.screen().nodes, scene.statuses(), "the screen is the scene's");
    let status = app.screen().node(node).expect("the node").clone();
    let snapshot = status.snapshot.expect("the installed snapshot");
    assert_eq!((status.commit, status.applied), (snapshot.index, snapshot.index));
    let big = draw(&app, 120, 40);
    let text: String = big.backend().buffer().content().iter().map(|c| c.symbol()).collect();
    assert!(text.contains(&format!("…snap {snapshot} |")), "the boundary in the logs panel");
    insta::assert_snapshot!("history_compacted_120x40", big.backend());
    app.resize(80, 24);
    insta::assert_snapshot!("history_compacted_80x24", draw(&app, 80, 24).backend());
}

/// The history view's clients panel rebuilds an external client's line from its `client`
/// event: the connection, the command as it wrote it, the answer in its protocol's words with
/// the error reply its client got (or, from an older log without it, the error recorded).
#[test]
fn the_history_views_client_lines_show_external_connections() {
    use crate::events::{ClientRecord, Outcome};
    use crate::kv::Op;
    use crate::raft::NodeId;
    use crate::tui::widgets::client_line;
    let event = |seq: u64, record: ClientRecord| Event {
        seq,
        time: record.invoked + 2_500_000,
        node: Some(record.via),
        term: None,
        kind: record.event(2_500_000),
    };
    let record = |op: Op, outcome: Outcome, value: Option<&str>, error: Option<&str>, conn: Option<&str>| {
        let answered =
            error.filter(|_| conn.is_some()).map(|_| "TRYAGAIN no leader reachable from n2".to_string());
        ClientRecord {
            op,
            via: NodeId(2),
            invoked: 1_000_000,
            outcome,
            id: None,
            value: value.map(str::to_string),
            error: error.map(str::to_string),
            conn: conn.map(str::to_string),
            answered,
        }
    };
    let set = Op::Put { key: "color".into(), value: "red".into() };
    let get = Op::Get { key: "color".into() };
    let tcp = Some("tcp 127.0.0.1:53412");
    let timeline = Timeline::of(vec![
        event(0, record(set.clone(), Outcome::Ok, None, None, tcp)),
        event(1, record(get.clone(), Outcome::Ok, Some("red"), None, tcp)),
        event(2, record(set.clone(), Outcome::Failed, None, Some("no leader"), tcp)),
        event(3, {
            let mut older = record(set.clone(), Outcome::Failed, None, Some("no leader"), tcp);
            older.answered = None;
            older
        }),
        event(4, record(get, Outcome::Ok, None, None, None)),
    ]);
    let lines: Vec<String> = crate::tui::history::client_lines(timeline.head())
        .iter()
        .map(|l| client_line(l).spans.iter().map(|s| s.content.to_string()).collect())
        .collect();
    assert_eq!(
        lines,
        [
            "tcp 127.0.0.1:53412 SET color red via n2 → OK · 2.5 ms",
            "tcp 127.0.0.1:53412 GET color via n2 → \"red\" · 2.5 ms",
            "tcp 127.0.0.1:53412 SET color red via n2 → (error) TRYAGAIN no leader reachable from n2 · 2.5 ms",
            "tcp 127.0.0.1:53412 SET color red via n2 → (error) no leader · 2.5 ms",
            "get color via n2 → not found · 2.5 ms",
        ]
    );
}
