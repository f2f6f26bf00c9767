//! Key sequences → commands and state, without a terminal or a cluster.

use crate::control::{NodeStatus, RunState};
use crate::events::{Event, EventKind};
use crate::kv::{ClientId, Op, RequestId};
use crate::network::{LinkRule, Network};
use crate::raft::{NodeId, Role, Term};
use crate::tui::action::Command;
use crate::tui::app::{App, MAX_IN_FLIGHT, parse_delay, parse_loss, parse_put};
use crate::tui::engine::{Poll, Update};
use crate::tui::feed::KindFilter;
use crate::tui::keymap::{self, BINDINGS, Context, Keys};
use crate::tui::layout;
use crate::tui::screen::{ClientOutcome, Mode, PromptKind};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use std::time::Duration;

fn n(i: u64) -> NodeId {
    NodeId(i)
}

fn ids(v: &[u64]) -> Vec<NodeId> {
    v.iter().copied().map(NodeId).collect()
}

/// Five running nodes; n1 leads term 3.
fn statuses() -> Vec<NodeStatus> {
    (1..=5)
        .map(|i| {
            let mut s = NodeStatus::unknown(n(i), RunState::Running);
            s.role = Some(if i == 1 { Role::Leader } else { Role::Follower });
            s.term = Term(3);
            s.leader = Some(n(1));
            s
        })
        .collect()
}

fn poll(app: &mut App, nodes: Vec<NodeStatus>, network: Network, events: Vec<Event>) {
    app.on_update(Update::Poll(Poll {
        nodes,
        network,
        speed: app.screen().speed,
        now: 1_000_000_000,
        events,
        applied: u64::MAX,
        ..Poll::default()
    }));
}

/// A poll read before the engine carried out any command: it shows the cluster as it was.
fn stale_poll(app: &mut App) {
    app.on_update(Update::Poll(Poll {
        nodes: statuses(),
        network: Network::new(LinkRule::default()),
        speed: 1.0,
        now: 1,
        applied: 0,
        ..Poll::default()
    }));
}

fn app() -> App {
    let mut app = App::new(ids(&[1, 2, 3, 4, 5]), "in memory");
    poll(&mut app, statuses(), Network::new(LinkRule::default()), Vec::new());
    app
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// Types each character as a key press.
fn type_str(app: &mut App, text: &str) {
    for c in text.chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
}

fn enter(app: &mut App) {
    app.on_key(key(KeyCode::Enter));
}

fn esc(app: &mut App) {
    app.on_key(key(KeyCode::Esc));
}

fn notice(app: &App) -> (String, bool) {
    let n = app.screen().notice.clone().expect("a notice");
    (n.text, n.error)
}

fn prompt_error(app: &App) -> Option<String> {
    match &app.screen().mode {
        Mode::Prompt { error, .. } | Mode::Editor { error, .. } | Mode::Pick { error, .. } => error.clone(),
        other => panic!("not in a prompt: {other:?}"),
    }
}

#[test]
fn put_goes_through_the_selected_node() {
    let mut a = app();
    type_str(&mut a, "3p");
    assert!(matches!(a.screen().mode, Mode::Prompt { kind: PromptKind::Put, .. }));
    type_str(&mut a, "color=blue");
    enter(&mut a);
    assert_eq!(a.screen().mode, Mode::Normal);
    let put = Op::Put { key: "color".into(), value: "blue".into() };
    assert_eq!(a.take_commands(), vec![Command::Client { op: 1, via: n(3), request: put.clone() }]);
    let line = a.screen().clients.back().expect("a pending line");
    assert_eq!((line.via, &line.request, line.outcome.is_none()), (n(3), &put, true));
    // The result comes back and fills the line.
    let outcome = ClientOutcome {
        id: Some(RequestId { client: ClientId(9), seq: 1 }),
        result: Ok(None),
        definite: false,
        latency: Duration::from_millis(3),
        reply: None,
    };
    a.on_update(Update::Client { op: 1, outcome: outcome.clone() });
    assert_eq!(a.screen().clients.back().and_then(|l| l.outcome.clone()), Some(outcome));
}

#[test]
fn get_goes_through_the_selected_node() {
    let mut a = app();
    a.on_key(key(KeyCode::Right));
    type_str(&mut a, "g color ");
    enter(&mut a);
    assert_eq!(
        a.take_commands(),
        vec![Command::Client { op: 1, via: n(2), request: Op::Get { key: "color".into() } }]
    );
}

#[test]
fn bad_put_and_get_input_is_explained_and_can_be_fixed() {
    let mut a = app();
    type_str(&mut a, "p");
    enter(&mut a);
    assert!(prompt_error(&a).is_some_and(|e| e.contains("key=value")));
    type_str(&mut a, "colorblue");
    enter(&mut a);
    assert!(prompt_error(&a).is_some_and(|e| e.contains("missing '='")));
    a.on_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    type_str(&mut a, " =blue");
    enter(&mut a);
    assert!(prompt_error(&a).is_some_and(|e| e.contains("key is empty")));
    // Typing clears the error; Esc leaves without sending anything.
    type_str(&mut a, "x");
    assert_eq!(prompt_error(&a), None);
    esc(&mut a);
    assert_eq!(a.screen().mode, Mode::Normal);
    type_str(&mut a, "g");
    enter(&mut a);
    assert!(prompt_error(&a).is_some_and(|e| e.contains("type the key")));
    esc(&mut a);
    assert!(a.take_commands().is_empty());
}

#[test]
fn unknown_keys_and_missing_nodes_give_clear_errors() {
    let mut a = app();
    type_str(&mut a, "j");
    let (text, error) = notice(&a);
    assert!(error && text.contains("no action on 'j'") && text.contains('?'), "{text}");
    type_str(&mut a, "7");
    let (text, error) = notice(&a);
    assert!(error && text.contains("there is no n7") && text.contains("n1 to n5"), "{text}");
    assert_eq!(a.screen().selected, n(1));
    a.on_key(key(KeyCode::F(5)));
    assert!(notice(&a).0.contains("F5"));
    assert!(a.take_commands().is_empty());
}

#[test]
fn selection_wraps_and_tab_finds_the_leader() {
    let mut a = app();
    a.on_key(key(KeyCode::Left));
    assert_eq!(a.screen().selected, n(5));
    a.on_key(key(KeyCode::Right));
    assert_eq!(a.screen().selected, n(1));
    type_str(&mut a, "4");
    a.on_key(key(KeyCode::Tab));
    assert_eq!(a.screen().selected, n(1));
}

#[test]
fn kill_and_restart_check_the_node_state() {
    let mut a = app();
    type_str(&mut a, "r");
    assert!(notice(&a).1, "restarting a running node is refused");
    type_str(&mut a, "2k");
    assert_eq!(a.take_commands(), vec![Command::Kill(n(2))]);
    type_str(&mut a, "k");
    assert!(notice(&a).0.contains("already dead"), "the kill on its way counts");
    let mut nodes = statuses();
    nodes[1].run = RunState::Dead;
    poll(&mut a, nodes, Network::default(), Vec::new());
    type_str(&mut a, "k");
    assert!(notice(&a).0.contains("already dead"));
    type_str(&mut a, "z");
    assert!(notice(&a).0.contains("cannot be paused"));
    type_str(&mut a, "t");
    assert!(notice(&a).0.contains("is down"));
    assert!(a.take_commands().is_empty());
    type_str(&mut a, "r");
    assert_eq!(a.take_commands(), vec![Command::Restart(n(2))]);
}

#[test]
fn pause_resume_and_campaign() {
    let mut a = app();
    type_str(&mut a, "3zz");
    assert_eq!(a.take_commands(), vec![Command::Pause(n(3)), Command::Resume(n(3))]);
    type_str(&mut a, "t");
    assert_eq!(a.take_commands(), vec![Command::Campaign(n(3))]);
    type_str(&mut a, "1t");
    assert!(notice(&a).0.contains("leader already"));
    type_str(&mut a, "2zt");
    assert!(notice(&a).0.contains("paused"));
    assert_eq!(a.take_commands(), vec![Command::Pause(n(2))]);
}

/// `T` asks the leader to hand over to the selected node, and says why not when it cannot.
#[test]
fn t_transfers_leadership_to_the_selected_node_or_says_why_not() {
    let mut a = app();
    let shift_t = KeyEvent::new(KeyCode::Char('T'), KeyModifiers::SHIFT);
    type_str(&mut a, "3");
    a.on_key(shift_t);
    assert_eq!(a.take_commands(), vec![Command::Transfer(n(3))]);
    assert_eq!(notice(&a), ("n1 transfers leadership to n3 (it refuses writes meanwhile)".into(), false));
    type_str(&mut a, "1T");
    assert_eq!(notice(&a), ("n1 is the leader already: select the node to hand over to".into(), true));
    type_str(&mut a, "2zT");
    assert_eq!(notice(&a).0, "n2 is paused: it cannot take over until resumed (z)");
    assert_eq!(a.take_commands(), vec![Command::Pause(n(2))]);
    let mut nodes = statuses();
    nodes[3].run = RunState::Dead;
    poll(&mut a, nodes.clone(), Network::default(), Vec::new());
    type_str(&mut a, "4T");
    assert_eq!(notice(&a), ("n4 is down: it cannot take over (r restarts it)".into(), true));
    for s in &mut nodes {
        s.role = Some(Role::Follower);
        s.leader = None;
    }
    poll(&mut a, nodes, Network::default(), Vec::new());
    type_str(&mut a, "5T");
    assert_eq!(notice(&a), ("there is no leader to transfer leadership from".into(), true));
    assert!(a.take_commands().is_empty());
}

#[test]
fn the_partition_editor_cycles_groups_and_applies_or_cancels() {
    let mut a = app();
    type_str(&mut a, "x45");
    enter(&mut a);
    assert_eq!(a.take_commands(), vec![Command::Partition(vec![ids(&[1, 2, 3]), ids(&[4, 5])])]);
    // Esc leaves without a command; a bad number is explained inside the editor.
    type_str(&mut a, "x9");
    assert!(prompt_error(&a).is_some_and(|e| e.contains("no n9")));
    esc(&mut a);
    assert!(a.take_commands().is_empty());
    // The editor starts from the current partition; putting everyone back in one group removes it.
    let mut net = Network::default();
    net.partition(&[ids(&[1, 2, 3]), ids(&[4, 5])]);
    poll(&mut a, statuses(), net, Vec::new());
    type_str(&mut a, "x4455");
    match &a.screen().mode {
        Mode::Editor { groups, .. } => assert!(groups.values().all(|&g| g == 0), "{groups:?}"),
        other => panic!("{other:?}"),
    }
    enter(&mut a);
    assert_eq!(a.take_commands(), vec![Command::Partition(Vec::new())]);
}

#[test]
fn cut_picks_two_nodes_and_toggles_the_link() {
    let mut a = app();
    type_str(&mut a, "c1");
    assert!(matches!(a.screen().mode, Mode::Pick { from: Some(NodeId(1)), .. }));
    type_str(&mut a, "1");
    assert!(prompt_error(&a).is_some_and(|e| e.contains("different")));
    type_str(&mut a, "2");
    assert_eq!(a.take_commands(), vec![Command::Cut(n(1), n(2))]);
    let mut net = Network::default();
    net.cut(n(1), n(2));
    poll(&mut a, statuses(), net, Vec::new());
    type_str(&mut a, "c12");
    assert_eq!(a.take_commands(), vec![Command::Restore(n(1), n(2))]);
    type_str(&mut a, "c");
    esc(&mut a);
    assert_eq!(a.screen().mode, Mode::Normal);
}

/// Bracketed paste: pasted text is text, never keys. Outside a prompt it does nothing (and
/// says so); in a prompt a line break ends it like Enter, and what follows is dropped.
#[test]
fn pasted_text_goes_into_an_open_prompt_only_and_never_acts_as_keys() {
    use crossterm::event::Event as TermEvent;
    let mut a = app();
    a.on_terminal(TermEvent::Paste("kq".into()));
    assert_eq!(a.screen().mode, Mode::Normal);
    assert!(a.take_commands().is_empty() && !a.should_quit(), "a paste outside a prompt acted");
    assert!(
        a.screen().notice.as_ref().is_some_and(|n| n.error && n.text.contains("a paste goes into a prompt"))
    );
    // The issue's case: `x=1⏎k` pasted into the put prompt puts x=1 and kills nobody.
    type_str(&mut a, "p");
    a.on_terminal(TermEvent::Paste("x=1\nk".into()));
    let put = Op::Put { key: "x".into(), value: "1".into() };
    assert_eq!(a.take_commands(), vec![Command::Client { op: 1, via: n(1), request: put }]);
    assert_eq!(a.screen().mode, Mode::Normal);
    assert!(a.screen().notice.as_ref().is_some_and(|n| n.text.contains("the rest was ignored")));
    // Without a line break the text waits in the prompt for Enter.
    type_str(&mut a, "p");
    a.on_terminal(TermEvent::Paste("color=red".into()));
    enter(&mut a);
    let put = Op::Put { key: "color".into(), value: "red".into() };
    assert_eq!(a.take_commands(), vec![Command::Client { op: 2, via: n(1), request: put }]);
}

/// A paste longer than a prompt holds is cut, said, and not sent, even with a line break;
/// typing past the limit says so too.
#[test]
fn a_paste_over_the_limit_is_cut_and_said_and_not_sent() {
    use crossterm::event::Event as TermEvent;
    let mut a = app();
    type_str(&mut a, "p");
    let long = format!("big={}\n", "v".repeat(10_000));
    a.on_terminal(TermEvent::Paste(long));
    assert!(a.take_commands().is_empty(), "a cut paste must not be sent");
    match &a.screen().mode {
        Mode::Prompt { input, error: Some(e), .. } => {
            assert_eq!(input.chars().count(), 200);
            assert!(e.contains("cut to the first 200 of its 10004 characters"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    type_str(&mut a, "x");
    match &a.screen().mode {
        Mode::Prompt { error: Some(e), .. } => assert!(e.contains("holds 200 characters"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn heal_loss_and_delay() {
    let mut a = app();
    type_str(&mut a, "h");
    type_str(&mut a, "l5%");
    enter(&mut a);
    type_str(&mut a, "d2-10");
    enter(&mut a);
    type_str(&mut a, "d 7 ");
    enter(&mut a);
    assert_eq!(
        a.take_commands(),
        vec![Command::Heal, Command::SetLoss(0.05), Command::SetDelay(2, 10), Command::SetDelay(7, 7)]
    );
    for bad in ["abc", "150", "-3"] {
        type_str(&mut a, "l");
        type_str(&mut a, bad);
        enter(&mut a);
        assert!(prompt_error(&a).is_some(), "loss {bad:?} accepted");
        esc(&mut a);
    }
    for bad in ["10-2", "x", "1-99999", ""] {
        type_str(&mut a, "d");
        type_str(&mut a, bad);
        enter(&mut a);
        assert!(prompt_error(&a).is_some(), "delay {bad:?} accepted");
        esc(&mut a);
    }
    assert!(a.take_commands().is_empty());
}

#[test]
fn speed_steps_down_to_one_twentieth_and_up_to_ten() {
    let mut a = app();
    type_str(&mut a, "-----");
    let speeds: Vec<Command> = a.take_commands();
    assert_eq!(
        speeds,
        [0.5, 0.2, 0.1, 0.05].iter().map(|&s| Command::SetSpeed(s)).collect::<Vec<_>>(),
        "four steps down, then refused"
    );
    assert!(notice(&a).0.contains("lowest") && notice(&a).0.contains("1/20×"));
    type_str(&mut a, "++++++++");
    assert_eq!(a.take_commands().last(), Some(&Command::SetSpeed(10.0)));
    assert!(notice(&a).0.contains("highest"));
}

#[test]
fn freeze_stops_time_and_leaves_pauses_to_z() {
    let mut a = app();
    type_str(&mut a, "3z");
    assert_eq!(a.take_commands(), vec![Command::Pause(n(3))]);
    type_str(&mut a, " ");
    assert!(a.screen().frozen);
    assert_eq!(a.take_commands(), vec![Command::Freeze]);
    // While frozen, z still pauses and resumes at once: a freeze is of time, not of nodes.
    type_str(&mut a, "3z4z");
    assert_eq!(a.take_commands(), vec![Command::Resume(n(3)), Command::Pause(n(4))]);
    type_str(&mut a, " ");
    assert!(!a.screen().frozen);
    assert_eq!(a.take_commands(), vec![Command::Thaw]);
}

#[test]
fn export_help_and_quit() {
    let mut a = app();
    type_str(&mut a, "e");
    assert_eq!(a.take_commands(), vec![Command::Export]);
    type_str(&mut a, "?");
    assert_eq!(a.screen().mode, Mode::Help);
    type_str(&mut a, "k");
    assert_eq!(a.screen().mode, Mode::Normal, "any key closes the help and does nothing else");
    assert!(a.take_commands().is_empty());
    type_str(&mut a, "p");
    a.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(a.should_quit(), "Ctrl-C quits even from a prompt");
    let mut b = app();
    type_str(&mut b, "q");
    assert!(b.should_quit());
}

#[test]
fn too_many_requests_in_flight_are_refused() {
    let mut a = app();
    for i in 0..MAX_IN_FLIGHT {
        type_str(&mut a, &format!("pk{i}=v"));
        enter(&mut a);
    }
    assert_eq!(a.take_commands().len(), MAX_IN_FLIGHT);
    type_str(&mut a, "pmore=v");
    enter(&mut a);
    assert!(prompt_error(&a).is_some_and(|e| e.contains("still waiting")));
}

fn fault(seq: u64, node: Option<u64>, text: &str) -> Event {
    Event {
        seq,
        time: seq * 1_000_000,
        node: node.map(NodeId),
        term: None,
        kind: EventKind::fault(text, None),
    }
}

#[test]
fn the_feed_filters_freezes_and_scrolls() {
    let mut a = app();
    let events: Vec<Event> = (0..30).map(|i| fault(i, Some(1 + i % 2), &format!("e{i}"))).collect();
    poll(&mut a, statuses(), Network::default(), events);
    assert_eq!(a.screen().feed.visible().len(), 30);
    type_str(&mut a, "2n");
    assert_eq!(a.screen().feed.node, Some(n(2)));
    assert_eq!(a.screen().feed.visible().len(), 15);
    type_str(&mut a, "n");
    assert_eq!(a.screen().feed.node, None);
    type_str(&mut a, "f");
    assert_eq!(a.screen().feed.kind, KindFilter::Elections);
    type_str(&mut a, "fffff");
    assert_eq!(a.screen().feed.kind, KindFilter::All);
    // Freezing keeps new events aside until the feed follows again.
    type_str(&mut a, "s");
    poll(&mut a, statuses(), Network::default(), vec![fault(30, None, "late")]);
    assert_eq!(a.screen().feed.visible().len(), 30);
    assert_eq!(a.screen().feed.pending.len(), 1);
    type_str(&mut a, "s");
    assert_eq!(a.screen().feed.visible().len(), 31);
    // Scrolling back freezes; End follows again.
    a.on_key(key(KeyCode::Up));
    a.on_key(key(KeyCode::PageUp));
    assert!(a.screen().feed.frozen && a.screen().feed.scroll > 1);
    a.on_key(key(KeyCode::End));
    assert!(!a.screen().feed.frozen && a.screen().feed.scroll == 0);
}

#[test]
fn a_click_on_a_card_selects_its_node() {
    let mut a = app();
    a.resize(120, 40);
    let areas = layout::areas(Rect::new(0, 0, 120, 40), 5).expect("fits");
    let r = areas.node_rects[3];
    a.on_mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: r.x + 2,
        row: r.y + 2,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(a.screen().selected, n(4));
    // In the table layout (80x24), a click on a row selects too.
    a.resize(80, 24);
    let areas = layout::areas(Rect::new(0, 0, 80, 24), 5).expect("fits");
    let r = areas.node_rects[1];
    a.on_mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: r.x + 10,
        row: r.y,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(a.screen().selected, n(2));
}

#[test]
fn nothing_changes_nothing_redraws() {
    let mut a = app();
    let _ = a.take_dirty();
    poll(&mut a, statuses(), Network::new(LinkRule::default()), Vec::new());
    assert!(!a.take_dirty(), "the same poll again needs no redraw");
    let mut nodes = statuses();
    nodes[0].commit = crate::raft::LogIndex(4);
    poll(&mut a, nodes, Network::new(LinkRule::default()), Vec::new());
    assert!(a.take_dirty());
}

#[test]
fn parsers_accept_what_people_type() {
    assert_eq!(parse_put(" color = blue "), Ok(("color".into(), "blue".into())));
    assert_eq!(parse_put("a=b=c"), Ok(("a".into(), "b=c".into())));
    assert_eq!(parse_put("empty="), Ok(("empty".into(), String::new())));
    assert_eq!(parse_loss("12.5"), Ok(0.125));
    assert_eq!(parse_loss("0"), Ok(0.0));
    assert_eq!(parse_delay("2 - 10 ms"), Ok((2, 10)));
    assert_eq!(parse_delay("0"), Ok((0, 0)));
}

#[test]
fn the_keymap_has_no_clashes_and_feeds_the_bar_and_the_help() {
    for ctx in [Context::Main, Context::Prompt, Context::Editor, Context::Pick] {
        let mut seen = std::collections::BTreeSet::new();
        for b in BINDINGS.iter().filter(|b| b.context == ctx) {
            let keys: Vec<String> = match b.keys {
                Keys::Char(c) => vec![c.to_string()],
                Keys::Chars(cs) => cs.iter().map(|c| c.to_string()).collect(),
                Keys::Digits => (1..=9).map(|d| d.to_string()).collect(),
                other => vec![format!("{other:?}")],
            };
            for k in keys {
                assert!(seen.insert(k.clone()), "{k} bound twice in {ctx:?}");
            }
        }
    }
    let bar = keymap::bar(Context::Main);
    let words: Vec<&str> = bar.iter().map(|e| e.1).collect();
    assert!(words.contains(&"put") && words.contains(&"help") && words.contains(&"quit"));
    assert!(bar.iter().filter(|e| e.2 == 0).count() == 2, "help and quit always show");
    let help = keymap::help_lines();
    assert_eq!(help.main.len(), BINDINGS.iter().filter(|b| b.context == Context::Main).count());
    assert!(help.others.iter().any(|(_, keys)| keys.contains("Enter")));
}

/// A node that cannot start, or stops on a storage error, says why: its card shows CRASHED
/// with the start of the reason, and the status line the whole of it, as an error.
#[test]
fn a_node_that_cannot_start_says_why_in_the_status_line() {
    let mut app = app();
    let mut nodes = statuses();
    let reason = "cannot start: /tmp/d/n2.wal: corrupt record at offset 754592: bad magic";
    nodes[1].run = RunState::Crashed(reason.into());
    poll(&mut app, nodes, Network::new(LinkRule::default()), Vec::new());
    let notice = app.screen().notice.clone().expect("a notice");
    assert!(notice.error, "{notice:?}");
    assert_eq!(notice.text, format!("n2 {reason}"));
}

/// Behind the "terminal too small" screen nothing acts but quitting: `k` at 70×20 kills
/// nobody, and the keys work again once the terminal is large enough.
#[test]
fn keys_do_nothing_behind_the_too_small_screen_but_quit() {
    let mut a = app();
    a.resize(70, 20);
    type_str(&mut a, "kpx");
    a.on_terminal(crossterm::event::Event::Paste("k".into()));
    assert!(a.take_commands().is_empty(), "a key acted behind the too-small screen");
    assert_eq!(a.screen().mode, Mode::Normal);
    a.resize(120, 40);
    type_str(&mut a, "k");
    assert_eq!(a.take_commands(), vec![Command::Kill(n(1))]);
    a.resize(70, 20);
    type_str(&mut a, "q");
    assert!(a.should_quit());
}

/// A key's effect follows the order of the keys: `2 k r k r k r k r` typed faster than the
/// cluster is polled is four kills and four restarts, judged on what the earlier keys will do,
/// not on a status read before them; a poll taken before the engine carried them out changes
/// nothing, and one taken after them is believed again.
#[test]
fn fast_keys_are_judged_on_the_keys_before_them_not_on_a_stale_status() {
    let mut a = app();
    type_str(&mut a, "2krkr");
    // A poll read before the engine carried out any of them: n2 still looks running.
    stale_poll(&mut a);
    type_str(&mut a, "krkr");
    let kill_restart = [Command::Kill(n(2)), Command::Restart(n(2))];
    assert_eq!(a.take_commands(), kill_restart.iter().cycle().take(8).cloned().collect::<Vec<_>>());
    // Once the engine has carried them out, the polled status is what counts: n2 is dead.
    let mut dead = statuses();
    dead[1].run = RunState::Dead;
    poll(&mut a, dead, Network::new(LinkRule::default()), Vec::new());
    type_str(&mut a, "k");
    assert!(a.take_commands().is_empty(), "n2 is dead: k does nothing");
}

/// The clients panel scrolls: `[` goes back to older operations, `]` forward, within bounds.
#[test]
fn the_clients_panel_scrolls_back_and_forward() {
    let mut a = app();
    for v in 1..=3 {
        type_str(&mut a, &format!("px={v}"));
        enter(&mut a);
    }
    type_str(&mut a, "[[[[[");
    assert_eq!(a.screen().clients_scroll, 2, "back to the oldest, no further");
    type_str(&mut a, "]");
    assert_eq!(a.screen().clients_scroll, 1);
    type_str(&mut a, "]]]");
    assert_eq!(a.screen().clients_scroll, 0);
}

/// A delay close to or above the election timeout keeps elections from succeeding: setting one
/// says so, loudly; a small one does not.
#[test]
fn a_delay_near_the_election_timeout_is_warned_about() {
    let mut a = app();
    type_str(&mut a, "d5-10");
    enter(&mut a);
    assert!(!notice(&a).1, "a small delay is no warning: {:?}", notice(&a));
    type_str(&mut a, "d60-90");
    enter(&mut a);
    assert!(notice(&a).1 && notice(&a).0.contains("elections may keep failing"), "{:?}", notice(&a));
    type_str(&mut a, "d200");
    enter(&mut a);
    assert!(notice(&a).1 && notice(&a).0.contains("no election can succeed"), "{:?}", notice(&a));
    assert_eq!(a.take_commands().len(), 3, "the delays are set all the same");
}

fn heartbeat(id: u64, to: u64) -> (Event, crate::network::Held) {
    let message = crate::raft::Message {
        from: n(1),
        to: n(to),
        term: Term(3),
        body: crate::raft::Body::Heartbeat { commit: crate::raft::LogIndex(0), read_round: 0 },
    };
    let event = Event {
        seq: id,
        time: 1,
        node: Some(n(1)),
        term: Some(Term(3)),
        kind: EventKind::Send { id, message: message.clone() },
    };
    (event, crate::network::Held { id, message, since: 1 })
}

/// `m` holds, `.` delivers the oldest held message (whichever it is when the engine gets to it,
/// so quick presses follow each other), `i` chooses any message, and what is not held is not
/// acted on by hand.
#[test]
fn hold_deliver_and_choose_messages_by_hand() {
    use crate::network::HeldAction;
    let mut a = app();
    type_str(&mut a, ".");
    assert!(a.take_commands().is_empty() && notice(&a).1, "nothing held: refused");
    type_str(&mut a, "m");
    assert_eq!(a.take_commands(), vec![Command::Hold(true)]);
    let (e5, h5) = heartbeat(5, 2);
    let (e6, h6) = heartbeat(6, 3);
    let (e7, _) = heartbeat(7, 4);
    let mut network = Network::new(LinkRule::default());
    network.set_hold(true);
    a.on_update(Update::Poll(Poll {
        nodes: statuses(),
        network,
        speed: 1.0,
        now: 2_000_000,
        events: vec![e5, e6, e7],
        applied: u64::MAX,
        held: vec![h5, h6],
        ..Poll::default()
    }));
    assert!(a.screen().flight_shown(), "the in-flight panel shows while the network is held");
    type_str(&mut a, "..");
    assert_eq!(a.take_commands(), vec![Command::Held(None, HeldAction::Deliver); 2]);
    // m7 was sent before the hold reached the engine: it is on its way, not held.
    let mut network = Network::new(LinkRule::default());
    network.set_hold(true);
    a.on_update(Update::Poll(Poll {
        nodes: statuses(),
        network,
        speed: 1.0,
        now: 3_000_000,
        applied: u64::MAX,
        held: vec![heartbeat(6, 3).1],
        ..Poll::default()
    }));
    type_str(&mut a, "i");
    assert_eq!(a.screen().mode, Mode::Flight { chosen: Some(6), error: None });
    a.on_key(key(KeyCode::Down));
    type_str(&mut a, "x");
    assert!(a.take_commands().is_empty(), "m7 is not held");
    assert!(
        matches!(&a.screen().mode, Mode::Flight { chosen: Some(7), error: Some(e) } if e.contains("not held"))
    );
    a.on_key(key(KeyCode::Up));
    type_str(&mut a, "u");
    a.on_key(key(KeyCode::Enter));
    type_str(&mut a, "A");
    assert_eq!(
        a.take_commands(),
        vec![
            Command::Held(Some(6), HeldAction::Duplicate),
            Command::Held(Some(6), HeldAction::Deliver),
            Command::ReleaseHeld
        ]
    );
    esc(&mut a);
    assert_eq!(a.screen().mode, Mode::Normal);
    type_str(&mut a, "m");
    assert_eq!(a.take_commands(), vec![Command::Hold(false)]);
}

/// Time moves by hand only while frozen: a tick, or up to the node whose timer fires first.
#[test]
fn time_by_hand_needs_a_freeze_and_goes_to_the_next_timer() {
    let mut a = app();
    type_str(&mut a, "a");
    assert!(a.take_commands().is_empty() && notice(&a).0.contains("space freezes"));
    let mut nodes = statuses();
    for (i, s) in nodes.iter_mut().enumerate() {
        s.next_timer = 9 - i as u32;
    }
    nodes[4].run = RunState::Paused;
    poll(&mut a, nodes, Network::new(LinkRule::default()), Vec::new());
    type_str(&mut a, " aw");
    assert_eq!(a.take_commands(), vec![Command::Freeze, Command::AdvanceTicks(1), Command::AdvanceTicks(6)]);
    assert!(notice(&a).0.contains("n4"), "n4's timer is the next to fire (n5 is paused)");
}

/// The switchable bugs: only on an engine that can switch them; digits flip one at a time (one
/// hazard at most), each flip carried out at once.
#[test]
fn bugs_are_switched_by_digit_on_the_simulator_only() {
    use crate::raft::{Hazard, Switches};
    let mut a = app();
    type_str(&mut a, "b");
    assert!(notice(&a).1 && notice(&a).0.contains("--engine sim"), "not on this engine");
    a.on_update(Update::Poll(Poll {
        nodes: statuses(),
        network: Network::new(LinkRule::default()),
        speed: 1.0,
        now: 1,
        applied: u64::MAX,
        switches: Some(Switches::CORRECT),
        ..Poll::default()
    }));
    type_str(&mut a, "b1239");
    let sw =
        |hazard, pre_vote, check_quorum| Command::SetSwitches(Switches { hazard, pre_vote, check_quorum });
    assert_eq!(
        a.take_commands(),
        vec![
            sw(Some(Hazard::LocalReads), true, true),
            sw(Some(Hazard::CommitOldTerm), true, true),
            sw(Some(Hazard::CommitOldTerm), false, true),
        ]
    );
    assert!(matches!(&a.screen().mode, Mode::Switches { error: Some(e) } if e.contains("no switch 9")));
    esc(&mut a);
    assert_eq!(a.screen().mode, Mode::Normal);
}

/// `m m` typed faster than the poll: a hold, then letting go, not two holds (the poll read
/// before the engine carried out the first `m` still shows the network free).
#[test]
fn fast_hold_keys_follow_the_keys_not_a_stale_poll() {
    let mut a = app();
    type_str(&mut a, "m");
    stale_poll(&mut a);
    assert!(a.screen().network.holds(), "the hold asked for, not the stale poll");
    type_str(&mut a, "m");
    assert_eq!(a.take_commands(), vec![Command::Hold(true), Command::Hold(false)]);
}

fn lesson_view(position: usize, playing: bool) -> crate::tui::screen::LessonView {
    crate::tui::screen::LessonView {
        title: "Leader election".into(),
        position,
        total: 3,
        step: (position > 0).then(|| format!("step title {position}")),
        narration: vec!["Said.".into()],
        next: (position < 3).then(|| format!("step title {}", position + 1)),
        playing,
        error: None,
        diverged: false,
    }
}

#[test]
fn in_a_lesson_n_plays_the_next_step_b_goes_back_and_the_dashboard_keys_move() {
    let mut app = app();
    // Outside a lesson, n filters the feed and b opens the bugs (or says why not).
    app.on_key(key(KeyCode::Char('n')));
    assert!(app.take_commands().is_empty());
    app.on_update(Update::Lesson(lesson_view(0, false)));
    assert!(app.screen().frozen, "a lesson plays on a frozen cluster");
    app.on_key(key(KeyCode::Char('b')));
    assert_eq!(notice(&app), ("the lesson is at its start: n plays the first step".into(), true));
    app.on_key(key(KeyCode::Char('n')));
    assert_eq!(app.take_commands(), vec![Command::LessonNext]);
    assert!(app.screen().lesson.as_ref().is_some_and(|l| l.playing), "shown playing at once");
    // A second n while it plays hurries it; b waits for it.
    app.on_key(key(KeyCode::Char('n')));
    assert_eq!(app.take_commands(), vec![Command::LessonHurry]);
    app.on_key(key(KeyCode::Char('b')));
    assert!(notice(&app).0.contains("a step is playing"), "{:?}", notice(&app));
    assert!(app.take_commands().is_empty());
    app.on_update(Update::Lesson(lesson_view(1, false)));
    app.on_key(key(KeyCode::Char('b')));
    assert_eq!(app.take_commands(), vec![Command::LessonBack]);
    // At the end, n says so.
    app.on_update(Update::Lesson(lesson_view(3, false)));
    app.on_key(key(KeyCode::Char('n')));
    assert!(app.take_commands().is_empty());
    assert!(notice(&app).0.contains("the end of the lesson"));
    // The dashboard's n and b are N and ! in a lesson.
    app.on_key(key(KeyCode::Char('!')));
    assert!(notice(&app).0.contains("simulator only"), "{:?}", notice(&app));
}

#[test]
fn a_lessons_operations_get_lines_in_the_clients_panel() {
    let mut app = app();
    let op = crate::tui::engine::LESSON_OPS + 1;
    let request = Op::Put { key: "x".into(), value: "1".into() };
    app.on_update(Update::ClientSent { op, via: n(2), request: request.clone(), conn: None });
    assert_eq!(
        app.screen().clients.back().map(|l| (l.op, l.via, l.request.clone())),
        Some((op, n(2), request))
    );
}

/// Going back (a lesson's `b`) re-sends the same branch's latest events: the clients panel is
/// rebuilt from them, once they are in the timeline.
#[test]
fn going_back_rebuilds_the_clients_panel_from_the_resent_events() {
    let mut app = app();
    let record = crate::events::ClientRecord {
        op: Op::Put { key: "x".into(), value: "1".into() },
        via: n(1),
        invoked: 10,
        outcome: crate::events::Outcome::Ok,
        id: Some(RequestId { client: ClientId(2), seq: 1 }),
        value: None,
        error: None,
        conn: None,
        answered: None,
    };
    let client = |seq: u64| Event {
        seq,
        time: 20,
        node: Some(n(1)),
        term: None,
        kind: EventKind::Client {
            description: "c2#1 put x=1 via n1 → ok".into(),
            op: Some(Box::new(record.clone())),
        },
    };
    let fault =
        |seq: u64| Event { seq, time: 30, node: None, term: None, kind: EventKind::fault("later", None) };
    poll(&mut app, statuses(), Network::new(LinkRule::default()), vec![client(0), fault(1), fault(2)]);
    let branch = crate::control::Branch {
        number: 1,
        parent: None,
        events: 2,
        now: 30,
        current: true,
        events_file: None,
    };
    app.on_update(Update::Poll(Poll {
        nodes: statuses(),
        network: Network::new(LinkRule::default()),
        events: vec![client(0), fault(1)],
        applied: u64::MAX,
        rebased: Some(Box::new(branch)),
        ..Poll::default()
    }));
    let lines: Vec<String> = app.screen().clients.iter().map(|l| l.request.to_string()).collect();
    assert_eq!(lines, vec!["put x=1"], "the operation of the branch's past is listed");
}

/// An external client's operation (a Redis-protocol connection's) gets a line with its
/// connection when it is sent, filled when it returns; its result leaves the status line's
/// notice be, and its waiting takes no room from the console's own operations.
#[test]
fn an_external_clients_operation_gets_a_line_with_its_connection() {
    use crate::tui::engine::EXTERNAL_OPS;
    use crate::tui::screen::Notice;
    use crate::tui::widgets::client_line;
    let mut a = app();
    let request = Op::Put { key: "color".into(), value: "red".into() };
    let conn = Some("tcp 127.0.0.1:53412".to_string());
    a.on_update(Update::ClientSent { op: EXTERNAL_OPS + 1, via: n(2), request, conn: conn.clone() });
    let text = |a: &App| {
        let line = a.screen().clients.back().expect("a line");
        client_line(line).spans.iter().map(|s| s.content.to_string()).collect::<String>()
    };
    assert_eq!(text(&a), "tcp 127.0.0.1:53412 SET color red via n2 → … waiting");
    a.on_update(Update::Notice(Notice {
        text: "n3 is up: it listens on 127.0.0.1:7003".into(),
        error: false,
    }));
    let outcome = ClientOutcome {
        id: Some(RequestId { client: ClientId(4), seq: 1 }),
        result: Ok(None),
        definite: false,
        latency: Duration::from_micros(3100),
        reply: Some("OK".into()),
    };
    a.on_update(Update::Client { op: EXTERNAL_OPS + 1, outcome });
    assert_eq!(text(&a), "tcp 127.0.0.1:53412 SET color red via n2 → OK · 3.1 ms");
    assert_eq!(notice(&a).0, "n3 is up: it listens on 127.0.0.1:7003", "the notice stays");
    // Many external operations waiting at once (one per connection): the console still sends.
    for i in 0..2 * MAX_IN_FLIGHT as u64 {
        let request = Op::Get { key: format!("k{i}") };
        a.on_update(Update::ClientSent { op: EXTERNAL_OPS + 2 + i, via: n(1), request, conn: conn.clone() });
    }
    type_str(&mut a, "pk=v");
    enter(&mut a);
    assert_eq!(a.take_commands().len(), 1, "{:?}", a.screen().mode);
}

/// A flood of external operations (a load generator on the console): the panel keeps its
/// most recent lines and every one that waits, and no more.
#[test]
fn a_flood_of_external_operations_keeps_the_panel_bounded() {
    use crate::tui::app::CLIENT_LINES;
    use crate::tui::engine::EXTERNAL_OPS;
    let mut a = app();
    let outcome = ClientOutcome {
        id: None,
        result: Ok(None),
        definite: false,
        latency: Duration::from_micros(10),
        reply: Some("OK".into()),
    };
    let started = std::time::Instant::now();
    for i in 0..100_000u64 {
        let conn = Some(format!("tcp 127.0.0.1:{}", 50_000 + i % 50));
        let request = Op::Put { key: "key:__rand_int__".into(), value: "xxx".into() };
        a.on_update(Update::ClientSent { op: EXTERNAL_OPS + i, via: n(1 + i % 5), request, conn });
        // Fifty connections, each with one operation waiting.
        if i >= 50 {
            a.on_update(Update::Client { op: EXTERNAL_OPS + i - 50, outcome: outcome.clone() });
        }
    }
    let took = started.elapsed();
    let clients = &a.screen().clients;
    assert_eq!(clients.iter().filter(|l| l.outcome.is_none()).count(), 50);
    assert!(clients.len() <= CLIENT_LINES + 50, "{} lines", clients.len());
    assert_eq!(clients.back().map(|l| l.op), Some(EXTERNAL_OPS + 99_999));
    // Tens of thousands a second must not keep the interface thread busy (debug build).
    assert!(took < Duration::from_secs(5), "{took:?} for 200,000 updates");
}
