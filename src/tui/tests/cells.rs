//! The log cursor (`o`), the lecture pace (`L`) and the pre-candidate's card: key sequences into
//! state and commands, what one index reads on every node, and snapshots of the screens.

use crate::control::{NodeStatus, RunState};
use crate::kv::{ClientId, RequestId};
use crate::network::{LinkRule, Network};
use crate::raft::{Command, Entry, EntryId, LogIndex, NodeId, Role, Term};
use crate::tui::action::Command as Order;
use crate::tui::app::App;
use crate::tui::cells::{self, Held};
use crate::tui::engine::{Poll, Update};
use crate::tui::fixture::demo;
use crate::tui::keymap::{self, BINDINGS, Context, Keys};
use crate::tui::layout;
use crate::tui::lecture;
use crate::tui::screen::{Mode, ScreenState};
use crate::tui::view;
use crossterm::event::MouseEventKind;
use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use std::sync::Arc;

fn n(i: u64) -> NodeId {
    NodeId(i)
}

fn put(index: u64, term: u64, seq: u64, key: &str, value: &str) -> Entry {
    let id = RequestId { client: ClientId(2), seq };
    let command = Command::Put { id, ack: 0, key: key.into(), value: value.into(), time: 0 };
    Entry { index: LogIndex(index), term: Term(term), command: Some(Arc::new(command)) }
}

fn noop(index: u64, term: u64) -> Entry {
    Entry { index: LogIndex(index), term: Term(term), command: None }
}

/// Three nodes: n1 leads term 2 with `1@1 2@2 3@2` (3 not committed), n2 holds `1@1 2@1` (2 of
/// an old term, in conflict), n3 only `1@1`.
fn statuses() -> Vec<NodeStatus> {
    let logs = [
        vec![noop(1, 1), noop(2, 2), put(3, 2, 1, "color", "red")],
        vec![noop(1, 1), put(2, 1, 7, "color", "green")],
        vec![noop(1, 1)],
    ];
    logs.into_iter()
        .enumerate()
        .map(|(i, log)| {
            let mut s = NodeStatus::unknown(n(i as u64 + 1), RunState::Running);
            s.role = Some(if i == 0 { Role::Leader } else { Role::Follower });
            s.term = Term(2);
            s.leader = Some(n(1));
            s.last = log.last().map_or(EntryId::default(), Entry::id);
            s.commit = LogIndex(if i == 0 { 2 } else { 1 });
            s.applied = s.commit;
            s.log_tail = log;
            s
        })
        .collect()
}

fn poll(app: &mut App, nodes: Vec<NodeStatus>, speed: f64, network: Network) {
    app.on_update(Update::Poll(Poll { nodes, network, speed, now: 1, applied: u64::MAX, ..Poll::default() }));
}

fn app() -> App {
    let mut app = App::new(vec![n(1), n(2), n(3)], "in memory");
    app.resize(120, 40);
    poll(&mut app, statuses(), 1.0, Network::new(LinkRule::INSTANT));
    app
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(app: &mut App, codes: &[KeyCode]) {
    for &c in codes {
        app.on_key(key(c));
    }
}

fn cursor(app: &App) -> Option<u64> {
    match app.screen().mode {
        Mode::Log { index } => Some(index.0),
        _ => None,
    }
}

#[test]
fn o_opens_the_cursor_at_the_newest_index_and_the_arrows_home_and_end_move_it() {
    let mut a = app();
    press(&mut a, &[KeyCode::Char('o')]);
    assert_eq!(cursor(&a), Some(3));
    press(&mut a, &[KeyCode::Right]);
    assert_eq!(cursor(&a), Some(3), "no further than the last index");
    press(&mut a, &[KeyCode::Left, KeyCode::Left, KeyCode::Left, KeyCode::Left]);
    assert_eq!(cursor(&a), Some(1), "no further back than the first");
    press(&mut a, &[KeyCode::End]);
    assert_eq!(cursor(&a), Some(3));
    press(&mut a, &[KeyCode::Home]);
    assert_eq!(cursor(&a), Some(1));
    // Keys of the dashboard do nothing here, and say how to leave.
    press(&mut a, &[KeyCode::Char('k')]);
    assert!(a.take_commands().is_empty());
    let notice = a.screen().notice.clone().expect("a notice");
    assert!(notice.error && notice.text.contains("Esc leaves"), "{notice:?}");
    press(&mut a, &[KeyCode::Esc]);
    assert_eq!(a.screen().mode, Mode::Normal);
    // Ctrl-C quits from the cursor too.
    press(&mut a, &[KeyCode::Char('o')]);
    a.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(a.should_quit());
}

#[test]
fn with_every_log_empty_o_says_there_is_nothing_to_select() {
    let mut a = App::new(vec![n(1), n(2), n(3)], "in memory");
    a.resize(120, 40);
    press(&mut a, &[KeyCode::Char('o')]);
    assert_eq!(a.screen().mode, Mode::Normal);
    assert!(a.screen().notice.as_ref().is_some_and(|n| n.error && n.text.contains("empty")));
}

#[test]
fn a_click_on_a_log_cell_selects_its_index() {
    let mut a = app();
    let areas = layout::areas(Rect::new(0, 0, 120, 40), 3).expect("fits");
    let inner = Rect { x: areas.logs.x + 1, y: areas.logs.y + 1, ..areas.logs };
    let click = |a: &mut App, column: u16| {
        a.on_mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row: inner.y + 1,
            modifiers: KeyModifiers::NONE,
        })
    };
    // Columns of three cells after a four-column label: index 2 is the second.
    click(&mut a, inner.x + 4 + 3 + 2);
    assert_eq!(cursor(&a), Some(2));
    click(&mut a, inner.x + 4 + 2);
    assert_eq!(cursor(&a), Some(1), "a click moves the cursor too");
    click(&mut a, inner.x + 1);
    assert_eq!(cursor(&a), Some(1), "the label column selects nothing");
    click(&mut a, inner.x + 60);
    assert_eq!(cursor(&a), Some(1), "past the last index selects nothing");
}

#[test]
fn an_index_reads_the_same_on_every_node_or_shows_the_conflict() {
    let mut a = app();
    press(&mut a, &[KeyCode::Char('o'), KeyCode::Left]);
    let column = cells::column(a.screen(), LogIndex(2));
    assert!(column.conflict(), "n1 holds 2@2, n2 holds 2@1");
    let (term, command) = column.reference.clone().expect("a copy counts");
    assert_eq!((term, command), (Term(2), None), "the committed copy, the leader's no-op");
    let differs: Vec<NodeId> = column.cells.iter().filter(|c| c.differs).map(|c| c.node).collect();
    assert_eq!(differs, vec![n(2)]);
    assert_eq!(column.cells[2].held, Held::Absent { last: LogIndex(1) });
    let put = cells::column(a.screen(), LogIndex(3));
    assert!(matches!(put.cells[0].held, Held::Entry { committed: false, applied: false, .. }));
    let words = cells::command_words(put.reference.as_ref().and_then(|r| r.1.as_deref()), LogIndex(3));
    assert_eq!(words, "put color=red by c2#1");
    assert_eq!(cells::state_words(&put.cells[0].held), "not committed");
    assert_eq!(cells::state_words(&put.cells[2].held), "absent (log ends at 1)");
}

#[test]
fn l_turns_the_lecture_pace_on_and_back_to_the_pace_before() {
    let mut a = app();
    let mut rule = LinkRule::INSTANT;
    rule.delay = (40_000_000, 60_000_000);
    poll(&mut a, statuses(), 0.2, Network::new(rule));
    press(&mut a, &[KeyCode::Char('L')]);
    assert_eq!(
        a.take_commands(),
        vec![Order::SetSpeed(lecture::SPEED), Order::SetDelay(lecture::DELAY_MS, lecture::DELAY_MS)]
    );
    let mut on = LinkRule::INSTANT;
    on.delay = lecture::DELAY_NANOS;
    poll(&mut a, statuses(), lecture::SPEED, Network::new(on));
    assert!(lecture::is_on(a.screen().speed, &a.screen().network));
    // Healing at the lecture pace keeps its delay.
    press(&mut a, &[KeyCode::Char('h')]);
    assert_eq!(a.take_commands(), vec![Order::Heal, Order::SetDelay(lecture::DELAY_MS, lecture::DELAY_MS)]);
    press(&mut a, &[KeyCode::Char('L')]);
    assert_eq!(a.take_commands(), vec![Order::SetSpeed(0.2), Order::SetDelay(40, 60)]);
    assert!(!lecture::is_on(a.screen().speed, &a.screen().network));
    // Off the lecture pace, healing removes every delay as before.
    press(&mut a, &[KeyCode::Char('h')]);
    assert_eq!(a.take_commands(), vec![Order::Heal]);
}

#[test]
fn the_log_cursors_keys_do_not_clash_and_show_in_the_bar_and_the_help() {
    let mut seen = std::collections::BTreeSet::new();
    for b in BINDINGS.iter().filter(|b| b.context == Context::Log) {
        assert!(seen.insert(format!("{:?}", b.keys)), "{:?} bound twice in the log cursor", b.keys);
    }
    let words: Vec<&str> = keymap::bar(Context::Log).iter().map(|e| e.1).collect();
    assert!(words.contains(&"leave") && words.contains(&"index"), "{words:?}");
    let help = keymap::help_lines();
    assert!(help.main.iter().any(|(k, _)| *k == "o") && help.main.iter().any(|(k, _)| *k == "L"));
    assert!(help.others.iter().any(|(name, keys)| name.contains("log cursor") && keys.contains("Home")));
    assert!(BINDINGS.iter().all(|b| b.context != Context::Log || !matches!(b.keys, Keys::Printable)));
}

/// Any sequence of keys, clicks, pastes and resizes, in and out of the cursor, never panics.
#[test]
fn no_sequence_of_input_panics() {
    use rand::rngs::Xoshiro256PlusPlus;
    use rand::{RngExt, SeedableRng};
    let codes = [
        KeyCode::Char('o'),
        KeyCode::Char('L'),
        KeyCode::Char('h'),
        KeyCode::Char('p'),
        KeyCode::Char('?'),
        KeyCode::Char('x'),
        KeyCode::Char('2'),
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::Esc,
        KeyCode::Enter,
        KeyCode::Up,
    ];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    for _ in 0..50 {
        let mut a = app();
        for _ in 0..60 {
            match rng.random_range(0..10) {
                0 => a.resize(rng.random_range(60..140), rng.random_range(18..50)),
                1 => a.on_mouse(MouseEvent {
                    kind: MouseEventKind::Down(MouseButton::Left),
                    column: rng.random_range(0..140),
                    row: rng.random_range(0..50),
                    modifiers: KeyModifiers::NONE,
                }),
                2 => a.on_terminal(TermEvent::Paste("a=1".into())),
                3 => {
                    // The logs shrink under the cursor (nodes restarted with an empty log).
                    let mut nodes = statuses();
                    nodes.iter_mut().for_each(|s| {
                        s.log_tail.truncate(rng.random_range(0..2));
                        s.last = s.log_tail.last().map_or(EntryId::default(), Entry::id);
                    });
                    poll(&mut a, nodes, 1.0, Network::default());
                }
                _ => a.on_key(key(codes[rng.random_range(0..codes.len())])),
            }
            let _ = a.take_commands();
            let (w, h) = (rng.random_range(60..140), rng.random_range(18..50));
            let mut t = Terminal::new(TestBackend::new(w, h)).expect("a test terminal");
            t.draw(|f| view::render(f, a.screen())).expect("drawn");
        }
    }
}

/// The demonstration screen with the log cursor on index 7, where n1 holds a put of an old
/// term (7@1) while the leader n5, now in term 2, holds its own (7@2), and n4 is dead without
/// the index.
fn cursor_screen() -> ScreenState {
    let mut s = demo(5);
    let leader = s.nodes.iter_mut().find(|x| x.id == n(5)).expect("n5 leads the demo");
    leader.term = Term(2);
    if let Some(e) = leader.log_tail.last_mut() {
        e.term = Term(2);
        leader.last = e.id();
    }
    let n1 = &mut s.nodes[0];
    n1.log_tail.push(put(7, 1, 9, "color", "green"));
    n1.last = EntryId { index: LogIndex(7), term: Term(1) };
    s.mode = Mode::Log { index: LogIndex(7) };
    s
}

fn draw(state: &ScreenState, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal.draw(|f| view::render(f, state)).expect("drawn");
    terminal
}

#[test]
fn the_log_cursor_at_120x40() {
    insta::assert_snapshot!("log_cursor_conflict_120x40", draw(&cursor_screen(), 120, 40).backend());
}

#[test]
fn the_log_cursor_on_a_committed_index_at_120x40() {
    let mut s = demo(5);
    s.mode = Mode::Log { index: LogIndex(4) };
    insta::assert_snapshot!("log_cursor_committed_120x40", draw(&s, 120, 40).backend());
}

/// At 80×24 with the lecture pace on and a pre-candidate in the table.
#[test]
fn the_log_cursor_the_lecture_pace_and_a_pre_candidate_at_80x24() {
    let mut s = cursor_screen();
    s.speed = lecture::SPEED;
    let mut rule = s.network.default_rule();
    rule.delay = lecture::DELAY_NANOS;
    s.network.set_default_rule(rule);
    s.nodes[1].role = Some(Role::PreCandidate);
    s.nodes[1].leader = None;
    insta::assert_snapshot!("log_cursor_lecture_80x24", draw(&s, 80, 24).backend());
}

/// The cursor on an index the nodes compacted (paper §7): each says it is in its snapshot, the
/// paused node (an older snapshot) holds it as an entry, and the logs panel's columns follow
/// the cursor back across the boundaries.
#[test]
fn the_log_cursor_on_a_compacted_index_at_120x40() {
    let mut s = crate::tui::fixture::compacted(5);
    s.mode = Mode::Log { index: LogIndex(23) };
    let column = cells::column(&s, LogIndex(23));
    let paused = s.nodes.iter().find(|n| n.run == RunState::Paused).map(|n| n.id).expect("a paused node");
    for c in &column.cells {
        if c.node == paused {
            assert!(matches!(c.held, Held::Entry { committed: false, .. }), "{:?}", c.held);
        } else {
            let snapshot = s.node(c.node).and_then(|n| n.snapshot).expect("compacted");
            assert_eq!(c.held, Held::Compacted { snapshot });
            assert_eq!(cells::state_words(&c.held), format!("compacted into snapshot {snapshot}"));
        }
    }
    insta::assert_snapshot!("log_cursor_compacted_120x40", draw(&s, 120, 40).backend());
}
