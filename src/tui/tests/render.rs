//! Rendering: snapshots of whole screens drawn from a seeded simulation, at the sizes people
//! use (80x24, 120x40) and below the minimum, plus a few checks of colours a text snapshot
//! cannot show.

use crate::raft::NodeId;
use crate::tui::fixture::demo;
use crate::tui::layout;
use crate::tui::screen::{Mode, Notice, PromptKind, ScreenState};
use crate::tui::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

fn draw(state: &ScreenState, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal.draw(|f| view::render(f, state)).expect("drawn");
    terminal
}

fn text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        for x in 0..area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn five_nodes_at_120x40() {
    let t = draw(&demo(5), 120, 40);
    insta::assert_snapshot!("five_nodes_120x40", t.backend());
}

#[test]
fn five_nodes_at_80x24() {
    let t = draw(&demo(5), 80, 24);
    insta::assert_snapshot!("five_nodes_80x24", t.backend());
}

#[test]
fn three_nodes_at_80x24_get_cards() {
    let t = draw(&demo(3), 80, 24);
    insta::assert_snapshot!("three_nodes_80x24", t.backend());
}

#[test]
fn nine_nodes_at_120x40_get_a_table() {
    let t = draw(&demo(9), 120, 40);
    insta::assert_snapshot!("nine_nodes_120x40", t.backend());
}

#[test]
fn help_at_80x24_and_120x40() {
    let mut state = demo(5);
    state.mode = Mode::Help;
    insta::assert_snapshot!("help_80x24", draw(&state, 80, 24).backend());
    insta::assert_snapshot!("help_120x40", draw(&state, 120, 40).backend());
}

#[test]
fn partition_editor() {
    let mut state = demo(5);
    let groups = state.members().into_iter().map(|id| (id, if id.0 >= 4 { 1 } else { 0 })).collect();
    state.mode = Mode::Editor { groups, error: None };
    insta::assert_snapshot!("partition_editor_120x40", draw(&state, 120, 40).backend());
}

#[test]
fn a_refused_prompt_says_why() {
    let mut state = demo(5);
    state.mode = Mode::Prompt {
        kind: PromptKind::Put,
        input: "colorblue".into(),
        error: crate::tui::app::parse_put("colorblue").err(),
    };
    let t = draw(&state, 80, 24);
    insta::assert_snapshot!("prompt_error_80x24", t.backend());
}

#[test]
fn frozen_cluster_and_filtered_feed() {
    let mut state = demo(5);
    state.frozen = true;
    state.speed = 0.05;
    state.feed.node = Some(NodeId(2));
    state.feed.kind = crate::tui::feed::KindFilter::Elections;
    state.feed.freeze();
    state.notice =
        Some(Notice { text: "cluster frozen: every node paused (space resumes)".into(), error: false });
    insta::assert_snapshot!("frozen_filtered_120x40", draw(&state, 120, 40).backend());
}

#[test]
fn crashed_and_campaigning_nodes_and_a_failed_check() {
    use crate::control::RunState;
    use crate::raft::Role;
    use crate::tui::screen::VerdictView;
    let mut state = demo(5);
    state.nodes[0].role = Some(Role::PreCandidate);
    state.nodes[1].role = Some(Role::Candidate);
    state.nodes[2].run = RunState::Crashed(
        "stopped on a storage error: /tmp/quorum-demo/n3.wal: No space left on device (os error 28)".into(),
    );
    state.verdict = VerdictView::NotLinearizable {
        key: "color".into(),
        reason: "get returned blue, but red had been written and acknowledged before it began".into(),
    };
    insta::assert_snapshot!("crashed_candidates_not_linearizable_120x40", draw(&state, 120, 40).backend());
}

#[test]
fn a_long_notice_borrows_the_key_bar() {
    let mut state = demo(5);
    state.notice = Some(Notice {
        text: "exported 887 events and 2 history lines to /tmp/quorum-13914/export-1-{events,history}.jsonl"
            .into(),
        error: false,
    });
    let t = draw(&state, 80, 24);
    let screen = text(t.backend().buffer());
    let bottom: Vec<&str> = screen.lines().rev().take(2).collect();
    assert!(bottom[0].contains("history}.jsonl") && bottom[1].contains("exported 887"), "{screen}");
}

#[test]
fn too_small_says_how_large_it_must_be() {
    let t = draw(&demo(5), 70, 20);
    insta::assert_snapshot!("too_small_70x20", t.backend());
    let t = draw(&demo(9), 100, 30);
    assert!(text(t.backend().buffer()).contains("80×32 for 9 nodes"));
}

#[test]
fn every_size_draws_without_panicking() {
    use crate::tui::fixture::compacted;
    let states = [demo(3), demo(5), demo(9), compacted(3), compacted(5), compacted(9)];
    for state in &states {
        for (w, h) in [(1, 1), (20, 5), (79, 24), (80, 24), (80, 32), (100, 30), (120, 40), (200, 60)] {
            let _ = draw(state, w, h);
        }
    }
    // The log cursor on every index of a compacted screen, at two sizes.
    let mut state = compacted(5);
    for index in 0..=40 {
        state.mode = Mode::Log { index: crate::raft::LogIndex(index) };
        for (w, h) in [(80, 24), (120, 40), (200, 60)] {
            let _ = draw(&state, w, h);
        }
    }
    let mut state = demo(5);
    for mode in [
        Mode::Help,
        Mode::Pick { from: Some(NodeId(1)), error: Some("pick two different nodes".into()) },
        Mode::Prompt { kind: PromptKind::Delay, input: "x".repeat(300), error: None },
    ] {
        state.mode = mode;
        for (w, h) in [(80, 24), (120, 40)] {
            let _ = draw(&state, w, h);
        }
    }
}

#[test]
fn committed_entries_are_solid_and_uncommitted_ones_are_not() {
    let state = demo(5);
    let leader = state.leader().expect("a leader").clone();
    assert!(leader.last.index > leader.commit, "the fixture leaves the leader's last entry uncommitted");
    let t = draw(&state, 120, 40);
    let buf = t.backend().buffer();
    let areas = layout::areas(buf.area, 5).expect("fits");
    // The leader's row in the logs panel: header row, then one row per node.
    let row = areas.logs.y + 2 + (leader.id.0 as u16 - 1);
    let cells: Vec<(String, Color)> = (areas.logs.x + 5..areas.logs.right() - 1)
        .map(|x| (buf[(x, row)].symbol().to_string(), buf[(x, row)].bg))
        .filter(|(s, _)| s.trim() != "")
        .collect();
    let (last, last_bg) = cells.last().expect("entries").clone();
    assert_eq!(last, leader.last.term.0.to_string().chars().last().expect("digit").to_string());
    assert_eq!(last_bg, Color::Reset, "the uncommitted last entry has no background");
    assert!(cells.iter().any(|(_, bg)| *bg != Color::Reset), "committed entries are solid blocks");
}

#[test]
fn the_selected_card_and_dead_nodes_stand_out() {
    let state = demo(5);
    let t = draw(&state, 120, 40);
    let screen = text(t.backend().buffer());
    assert!(screen.contains("DEAD") && screen.contains("PAUSED") && screen.contains("LEADER"));
    assert!(screen.contains('┏'), "the selected card has a thick border");
    assert!(screen.contains("linearizable ✓"));
}

/// The rows of a drawn screen, as a terminal shows them (a wide character's second cell is not
/// a space of its own).
fn rows(t: &Terminal<TestBackend>) -> Vec<String> {
    let buf = t.backend().buffer();
    let area = buf.area;
    (0..area.height)
        .map(|y| {
            let mut row = String::new();
            let mut x = 0;
            while x < area.width {
                let symbol = buf[(x, y)].symbol();
                row.push_str(symbol);
                x += crate::tui::widgets::width_of(symbol).max(1) as u16;
            }
            row
        })
        .collect()
}

/// Nine cards side by side at 200×60: each shows its whole vote (`vote n5`, not `vote  n`), and
/// the cards are only as tall as their content needs (the leader's followers, two a line).
#[test]
fn nine_cards_at_200x60_show_every_vote_and_no_empty_rows() {
    let state = demo(9);
    let t = draw(&state, 200, 60);
    let screen = rows(&t);
    let votes = screen[2].matches("vote n").count() + screen[2].matches("vote  n").count();
    assert_eq!(votes, 9, "every card's vote is there: {}", screen[2]);
    for id in 1..=9 {
        let whole = screen[2].contains(&format!("vote n{id}")) || screen[2].contains(&format!("vote  n{id}"));
        assert!(whole || !screen[2].contains("vote  n "), "a vote is cut: {}", screen[2]);
    }
    assert!(
        !screen[2].contains("vote  n┃") && !screen[2].contains("vote  n│"),
        "a vote is cut: {}",
        screen[2]
    );
    // The cards end where their content does: the fifth line below the cards is no card.
    let card_rows = screen
        .iter()
        .skip(1)
        .take_while(|r| r.starts_with('┃') || r.starts_with('│') || r.starts_with('┏') || r.starts_with('┌'))
        .count();
    assert!(card_rows <= 9, "cards {card_rows} rows tall, mostly empty");
}

/// Seven nodes in three groups at 120×40: the partition wraps between groups instead of being
/// cut at `{n5 n`.
#[test]
fn a_long_partition_wraps_in_the_network_panel() {
    let mut state = demo(7);
    let ids = state.members();
    state.network.partition(&[ids[0..2].to_vec(), ids[2..4].to_vec(), ids[4..7].to_vec()]);
    let screen = rows(&draw(&state, 120, 40)).join("\n");
    assert!(screen.contains("{n5 n6 n7}"), "the third group is cut:\n{screen}");
}

/// A feed line longer than the panel wraps at a word, never cut mid-word.
#[test]
fn long_feed_lines_wrap_at_words() {
    let mut state = demo(5);
    let long = "a message that is far longer than the event feed is wide, so it must wrap at a word and end with the word FINALWORD";
    state.feed.follow();
    state.feed.push(crate::events::Event {
        seq: 1_000_000,
        time: 2_000_000_000,
        node: None,
        term: None,
        kind: crate::events::EventKind::fault(long, None),
    });
    let screen = rows(&draw(&state, 120, 40));
    let end = screen.iter().find(|r| r.contains("FINALWORD")).expect("the end of a long line is lost");
    assert!(end.contains("│        wrap at a word and end"), "continued under its time, at a word: {end}");
}

/// Wide characters take two columns: the maps measure display width, so a value of them is
/// cut to its column (with `…`) instead of spilling into the next node's; an empty value shows
/// as `""`, not as a blank that reads as absent.
#[test]
fn wide_characters_and_empty_values_in_the_maps() {
    let mut state = demo(5);
    for node in &mut state.nodes {
        node.kv.insert("🔑".into(), "日本語日本語".into());
        node.kv.insert("empty".into(), String::new());
    }
    let screen = rows(&draw(&state, 120, 40));
    let wide = screen.iter().find(|r| r.contains("🔑")).expect("the key's row");
    assert_eq!(wide.matches("日本語").count(), 5, "every node's value in its own column: {wide}");
    assert_eq!(wide.matches('…').count(), 5, "each cut to its column: {wide}");
    let empty = screen.iter().find(|r| r.contains("empty")).expect("the empty value's row");
    assert_eq!(empty.matches("\"\"").count(), 5, "{empty}");
}

/// The verdict's operation count says what it leaves out.
#[test]
fn the_verdict_says_failed_operations_are_left_out() {
    let screen = rows(&draw(&demo(5), 120, 40));
    assert!(screen[0].contains("(6 ops; 1 failed left out)"), "{}", screen[0]);
}

/// Messages held for the user: the in-flight panel beside the feed (above it on a narrow
/// screen), the chosen one marked, the held ones said, the matrix counting what waits on each
/// link, and the header saying the network is held.
#[test]
fn held_messages_in_the_in_flight_panel() {
    let mut state = demo(5);
    assert!(state.flight.len() >= 3, "the demo ends with messages on their way");
    state.network.set_hold(true);
    state.frozen = true;
    state.held = state
        .flight
        .iter()
        .skip(1)
        .map(|m| crate::network::Held { id: m.id, message: m.message.clone(), since: m.sent })
        .collect();
    let chosen = state.held.first().map(|h| h.id);
    state.mode = Mode::Flight { chosen, error: None };
    let wide = text(draw(&state, 120, 40).backend().buffer());
    assert!(wide.contains("in flight") && wide.contains("HOLDING") && wide.contains(" held"), "{wide}");
    insta::assert_snapshot!("held_in_flight_120x40", wide);
    insta::assert_snapshot!("held_in_flight_80x24", draw(&state, 80, 24).backend());
}

fn lesson_screen(nodes: usize) -> ScreenState {
    let mut state = demo(nodes);
    state.frozen = true;
    state.lesson = Some(crate::tui::screen::LessonView {
        title: "Log replication: append, replicate, commit on a majority, apply".into(),
        position: 2,
        total: 5,
        step: Some("One write, one message at a time".into()),
        narration: vec![
            "The client's put reaches the leader, which appends it and sends AppendEntries".into(),
            "to each follower (§5.3). Nothing is committed yet.".into(),
            String::new(),
            "We deliver the messages by hand.".into(),
        ],
        next: Some("A majority is enough".into()),
        playing: false,
        error: None,
        diverged: false,
    });
    state
}

#[test]
fn the_narration_panel_at_120x40_and_80x24() {
    let state = lesson_screen(5);
    let wide = draw(&state, 120, 40);
    let screen = text(wide.backend().buffer());
    assert!(
        screen.contains("step 2/5 · Log replication")
            && screen.contains("2. One write, one message at a time"),
        "{screen}"
    );
    assert!(screen.contains(" n  step 3: A majority is enough"), "{screen}");
    assert!(screen.contains("n  next step"), "the key bar offers the lesson's keys first:\n{screen}");
    insta::assert_snapshot!("lesson_120x40", wide.backend());
    let small = draw(&state, 80, 24);
    assert!(text(small.backend().buffer()).contains("step 2/5"), "the step is visible at 80x24");
    insta::assert_snapshot!("lesson_80x24", small.backend());
}

#[test]
fn snapshots_on_the_cards_and_in_the_logs_at_120x40_and_80x24() {
    let state = crate::tui::fixture::compacted(5);
    insta::assert_snapshot!("compacted_120x40", draw(&state, 120, 40).backend());
    insta::assert_snapshot!("compacted_80x24", draw(&state, 80, 24).backend());
    insta::assert_snapshot!(
        "compacted_three_80x24",
        draw(&crate::tui::fixture::compacted(3), 80, 24).backend()
    );
}

/// A map a rebuilt screen cannot know (its node started from a snapshot older than the event
/// log) is `?` in its column, counts for no `≠`, and the title says why.
#[test]
fn a_map_the_events_do_not_show_is_a_question_mark() {
    let mut state = crate::tui::fixture::compacted(5);
    let snapshot = state.nodes[2].snapshot.expect("compacted");
    state.nodes[2].kv.clear();
    state.nodes[2].kv_unknown = Some(snapshot);
    let t = draw(&state, 120, 40);
    let lines = rows(&t);
    let maps: Vec<&str> =
        lines[8..16].iter().map(|r| r.split_at(r.char_indices().nth(66).unwrap().0).1).collect();
    assert!(maps[0].contains("? not in the events"), "{maps:#?}");
    let color = maps.iter().find(|r| r.contains("color")).expect("a row for color");
    let cells: Vec<&str> = color.split_whitespace().collect();
    assert_eq!(cells[2..7], ["v27", "v18", "≠", "?", "v27"], "{color}");
    // With no key known elsewhere, the panel says whose map is not known and why.
    for n in &mut state.nodes {
        n.kv.clear();
    }
    let t = draw(&state, 120, 40);
    let text = rows(&t).join("\n");
    assert!(text.contains(&format!("n3's map: from snapshot {snapshot}, older than the log")), "{text}");
}

/// The snapshot boundary shortens to what fits before its bar: in full, without the term,
/// the index alone, an ellipsis; just left of the window, the bar alone in the margin; further
/// left, nothing (every column shown holds an entry).
#[test]
fn the_snapshot_boundary_shortens_to_fit() {
    use crate::raft::{EntryId, LogIndex, Term};
    let row = |base: u64| {
        let mut state = crate::tui::fixture::compacted(5);
        let n1 = &mut state.nodes[0];
        n1.snapshot = Some(EntryId { index: LogIndex(base), term: Term(1) });
        let all: Vec<_> = (base + 1..=n1.last.index.0)
            .map(|i| crate::raft::Entry { index: LogIndex(i), term: Term(1), command: None })
            .collect();
        n1.log_tail = all;
        let lines = rows(&draw(&state, 120, 40));
        // The logs panel's header and n1's row (the panel starts on row 8).
        assert!(lines[9].starts_with("│idx  19 20 21"), "{}", lines[9]);
        lines[10].chars().take(66).collect::<String>()
    };
    assert!(row(30).contains("…snap 30@1 |  1  1"), "{}", row(30));
    assert!(row(22).starts_with("│n1  …snap 22@1 |  1  1"), "just room for it: {}", row(22));
    assert!(row(21).starts_with("│n1      …21 |  1  1"), "{}", row(21));
    assert!(row(19).starts_with("│n1  … |  1  1"), "{}", row(19));
    assert!(row(18).starts_with("│n1 |  1  1  1"), "{}", row(18));
    assert!(row(17).starts_with("│n1    1  1  1"), "{}", row(17));
}

/// How an operation ended: its result, whether an error is definite, and what its client was
/// answered (if the console heard it).
type Ended<'a> = (Result<Option<String>, String>, bool, Option<&'a str>);

/// An external client's operation (one line of a Redis-protocol connection), waiting or ended
/// as `outcome`.
fn external(
    op: u64,
    request: crate::kv::Op,
    via: u64,
    outcome: Option<Ended<'_>>,
) -> crate::tui::screen::ClientLine {
    crate::tui::screen::ClientLine {
        op: crate::tui::engine::EXTERNAL_OPS + op,
        via: NodeId(via),
        request,
        outcome: outcome.map(|(result, definite, reply)| crate::tui::screen::ClientOutcome {
            id: Some(crate::kv::RequestId { client: crate::kv::ClientId(7), seq: op }),
            result,
            definite,
            latency: std::time::Duration::from_micros(3100 * op),
            reply: reply.map(str::to_string),
        }),
        conn: Some(format!("tcp 127.0.0.1:{}", 53411 + op)),
    }
}

fn line_text(line: &ratatui::text::Line<'_>) -> String {
    line.spans.iter().map(|s| s.content.as_ref()).collect()
}

/// An external client's line says its connection, the command as it wrote it, the node it
/// reached and the answer as `redis-cli` prints it; a line rebuilt from the event log (no
/// answer heard) says the same from its outcome, with the cluster's error.
#[test]
fn external_client_lines_speak_the_protocol() {
    use crate::kv::Op;
    use crate::tui::widgets::client_line;
    let set = || Op::Put { key: "color".into(), value: "red".into() };
    let get = || Op::Get { key: "color".into() };
    let cases = [
        (external(1, set(), 2, None), "tcp 127.0.0.1:53412 SET color red via n2 → … waiting"),
        (
            external(1, set(), 2, Some((Ok(None), false, Some("OK")))),
            "tcp 127.0.0.1:53412 SET color red via n2 → OK · 3.1 ms",
        ),
        (
            external(2, get(), 1, Some((Ok(Some("red".into())), false, Some("\"red\"")))),
            "tcp 127.0.0.1:53413 GET color via n1 → \"red\" · 6.2 ms",
        ),
        (
            external(
                3,
                set(),
                2,
                Some((Err("no leader".into()), true, Some("(error) TRYAGAIN no leader reachable from n2"))),
            ),
            "tcp 127.0.0.1:53414 SET color red via n2 → (error) TRYAGAIN no leader reachable from n2 · 9.3 ms",
        ),
        // Rebuilt from the event log: the words from the outcome.
        (
            external(1, set(), 2, Some((Ok(None), false, None))),
            "tcp 127.0.0.1:53412 SET color red via n2 → OK · 3.1 ms",
        ),
        (
            external(2, get(), 3, Some((Ok(Some("say \"hi\"".into())), false, None))),
            "tcp 127.0.0.1:53413 GET color via n3 → \"say \\\"hi\\\"\" · 6.2 ms",
        ),
        (
            external(2, get(), 3, Some((Ok(None), false, None))),
            "tcp 127.0.0.1:53413 GET color via n3 → (nil) · 6.2 ms",
        ),
        (
            external(4, set(), 3, Some((Err("timeout waiting for n3".into()), false, None))),
            "tcp 127.0.0.1:53415 SET color red via n3 → (error) timeout waiting for n3 (may still take effect) · 12.4 ms",
        ),
    ];
    for (line, want) in cases {
        assert_eq!(line_text(&client_line(&line)), want);
    }
    // The answers as redis-cli prints them.
    use crate::resp::Reply;
    use crate::tui::widgets::redis_cli;
    assert_eq!(redis_cli(&Reply::ok()), "OK");
    assert_eq!(redis_cli(&Reply::Bulk(Some(b"red".to_vec()))), "\"red\"");
    assert_eq!(redis_cli(&Reply::Bulk(None)), "(nil)");
    assert_eq!(redis_cli(&Reply::Int(3)), "(integer) 3");
    assert_eq!(
        redis_cli(&Reply::Error("TIMEOUT the write may still take effect".into())),
        "(error) TIMEOUT the write may still take effect"
    );
}

/// The clients panel with external clients' lines among the console's: their title says how
/// both kinds are sent.
#[test]
fn external_clients_in_the_clients_panel_at_120x40() {
    use crate::kv::Op;
    let mut state = demo(5);
    let set = |v: &str| Op::Put { key: "color".into(), value: v.into() };
    state.clients.truncate(2);
    state.clients.push_back(external(1, set("red"), 2, Some((Ok(None), false, Some("OK")))));
    state.clients.push_back(external(
        2,
        Op::Get { key: "color".into() },
        2,
        Some((Ok(Some("red".into())), false, Some("\"red\""))),
    ));
    state.clients.push_back(external(
        3,
        set("blue"),
        2,
        Some((Err("no leader".into()), true, Some("(error) TRYAGAIN no leader reachable from n2"))),
    ));
    state.clients.push_back(external(4, set("green"), 3, None));
    let screen = text(draw(&state, 120, 40).backend().buffer());
    assert!(screen.contains("clients (pinned to their node; one attempt, over tcp up to 6)"), "{screen}");
    insta::assert_snapshot!("external_clients_120x40", screen);
}

/// The maps panel with more keys than rows (a load generator's): the first keys of every
/// node's map together, in order and once each, then how many more there are in all.
#[test]
fn many_keys_show_the_first_in_order_and_count_the_rest() {
    let mut state = demo(3);
    for (i, node) in state.nodes.iter_mut().enumerate() {
        node.kv.clear();
        // n1 holds k00000 to k29999, n2 the even ones and k30000, n3 the odd ones.
        for k in 0..30_000usize {
            if i == 0 || (i == 1 && k % 2 == 0) || (i == 2 && k % 2 == 1) {
                node.kv.insert(format!("k{k:05}"), "v".into());
            }
        }
        if i == 1 {
            node.kv.insert("k30000".into(), "v".into());
        }
    }
    let started = std::time::Instant::now();
    let lines = rows(&draw(&state, 120, 40));
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?} to draw", started.elapsed());
    // The maps panel is the right one of the second row of panels.
    let maps: Vec<String> =
        lines.iter().skip(8).take(10).map(|r| r.split('│').nth(3).unwrap_or("").to_string()).collect();
    let keys: Vec<&str> = maps.iter().filter_map(|r| r.split_whitespace().next()).collect();
    let shown = keys.iter().filter(|k| k.starts_with("k0")).count();
    assert!(shown >= 3, "{maps:#?}");
    let expected: Vec<String> = (0..shown).map(|k| format!("k{k:05}")).collect();
    assert_eq!(
        keys.iter().filter(|k| k.starts_with("k0")).copied().collect::<Vec<_>>(),
        expected,
        "{maps:#?}"
    );
    let more = format!("… {} more keys", 30_001 - shown);
    assert!(maps.iter().any(|r| r.contains(&more)), "{more}: {maps:#?}");
}
