//! The safety line: every property ✓ on a clean run, and a broken one named with the event
//! that broke it, fed through the same checker the console's poller feeds.

use crate::events::{Event, EventKind, NodeEventKind};
use crate::raft::{ClientId, Command, EntryId, LogIndex, NodeId, RequestId, Term};
use crate::safety::{Checker, STATE_MACHINE};
use crate::tui::fixture::demo;
use crate::tui::screen::ScreenState;
use crate::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn draw(state: &ScreenState, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal.draw(|f| view::render(f, state)).expect("drawn");
    terminal
}

fn rows(t: &Terminal<TestBackend>) -> Vec<String> {
    let buf = t.backend().buffer();
    (0..buf.area.height).map(|y| (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect()).collect()
}

/// Two nodes applying different puts at 7@4: events #1233 and #1234.
fn diverging() -> [Event; 2] {
    let apply = |seq, node, value: &str, request| {
        let id = RequestId { client: ClientId(1), seq: request };
        let command = Command::Put { id, ack: request, key: "x".into(), value: value.into(), time: 0 };
        let entry = EntryId { index: LogIndex(7), term: Term(4) };
        let kind = EventKind::Node(NodeEventKind::Apply { entry, command: Some(command) });
        Event { seq, time: 0, node: Some(NodeId(node)), term: Some(Term(4)), kind }
    };
    [apply(1233, 1, "1", 1), apply(1234, 3, "2", 2)]
}

/// The demo screen after [`diverging`].
fn broken() -> ScreenState {
    let mut state = demo(5);
    let mut checker = Checker::new();
    let [first, second] = diverging();
    assert!(checker.observe(&first).is_empty());
    let found = checker.observe(&second);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].property, STATE_MACHINE);
    state.safety.broken = checker.report().broken.clone();
    state
}

#[test]
fn a_clean_run_shows_every_property_holding() {
    let state = demo(5);
    assert!(state.safety.broken.is_empty(), "{:?}", state.safety.broken);
    assert!(state.safety.events > 100);
    let screen = rows(&draw(&state, 120, 40));
    let line = screen.iter().find(|r| r.starts_with(" safety ")).expect("the safety line");
    for mark in ["election ✓", "log matching ✓", "completeness ✓", "state machine ✓", "linearizable ✓"]
    {
        assert!(line.contains(mark), "{mark}: {line}");
    }
}

#[test]
fn a_broken_property_is_shown_with_the_event_that_broke_it() {
    let state = broken();
    let t = draw(&state, 120, 40);
    insta::assert_snapshot!("safety_broken_120x40", t.backend());
    let screen = rows(&t);
    let line = screen.iter().find(|r| r.starts_with(" safety ")).expect("the safety line");
    assert!(
        line.contains("✗ state machine: #1234 n3@4 apply 7@4 c1#2 put x=2 (n1 applied c1#1 put x=1)"),
        "{line}"
    );
    assert!(line.contains("· election ✓ log matching ✓"), "the other marks follow: {line}");
    assert!(screen[0].contains("SAFETY ✗ state machine"), "the header says so too: {}", screen[0]);
}

#[test]
fn without_room_for_the_line_the_header_still_says_what_broke() {
    let screen = rows(&draw(&broken(), 80, 24));
    assert!(!screen.iter().any(|r| r.starts_with(" safety ")), "80×24 has no room for five nodes' line");
    assert!(screen[0].contains("SAFETY ✗ state machine"), "{}", screen[0]);
    // Three nodes leave a line for it, cut to the width.
    let mut three = broken();
    three.nodes.truncate(3);
    let screen = rows(&draw(&three, 80, 24));
    let line = screen.iter().find(|r| r.starts_with(" safety ")).expect("the safety line");
    assert!(line.contains("✗ state machine: #1234 n3@4 apply 7@4"), "{line}");
}

/// The poller's findings reach the screen, and a property broken for the first time is said
/// whole in the status line, once.
#[test]
fn a_new_breach_is_said_whole_in_the_status_line() {
    use crate::network::{LinkRule, Network};
    use crate::tui::app::App;
    use crate::tui::engine::{Poll, Update};
    let members: Vec<NodeId> = (1..=5).map(NodeId).collect();
    let mut app = App::new(members.clone(), "in memory");
    let poll = |events: Vec<Event>| {
        Update::Poll(Poll {
            nodes: demo(5).nodes,
            network: Network::new(LinkRule::default()),
            speed: 1.0,
            now: 1,
            applied: u64::MAX,
            events,
            ..Poll::default()
        })
    };
    // The console checks the events it receives (its timeline's checks).
    app.on_update(poll(diverging().to_vec()));
    assert_eq!(app.screen().safety.broken, broken().safety.broken);
    let notice = app.screen().notice.clone().expect("a notice");
    assert!(notice.error);
    assert_eq!(
        notice.text,
        "safety: state machine safety broken: #1234 n3@4 apply 7@4 c1#2 put x=2 (n1 applied c1#1 put x=1)"
    );
    app.on_update(Update::Notice(crate::tui::screen::Notice { text: "later".into(), error: false }));
    app.on_update(poll(Vec::new()));
    assert_eq!(app.screen().notice.as_ref().map(|n| n.text.as_str()), Some("later"), "said once");
}
