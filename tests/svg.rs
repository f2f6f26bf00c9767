//! The SVG space-time diagram: well-formed XML (parsed back), one message line per copy of each
//! message sent in the range (counted here from the events on their own), text escaped, and
//! fast on a long log.

use quorum::events::{Event, EventKind};
use quorum::kv::{Op, Request, RequestId};
use quorum::raft::{Body, LogIndex, Message, NodeId, Term};
use quorum::replay::svg::write_svg;
use quorum::sim::{self, SimOptions, Sinks};
use std::collections::HashSet;
use std::ops::Range;

/// A recorded run under every fault (duplicates included).
fn recorded(seed: u64) -> Vec<Event> {
    let options = SimOptions {
        seed,
        nodes: 5,
        clients: 5,
        ops: 120,
        keys: 3,
        nemesis: "all".parse().expect("a fault set"),
        hazard: None,
        snapshots: Default::default(),
    };
    let mut bytes = Vec::new();
    sim::run(&options, Sinks { events: Some(&mut bytes), history: None, probe: None }).expect("in memory");
    let text = String::from_utf8(bytes).expect("UTF-8");
    text.lines().map(|l| serde_json::from_str(l).expect("an event")).collect()
}

fn svg(events: &[Event], range: Range<usize>) -> String {
    let mut out = Vec::new();
    write_svg(events, range, &mut out).expect("in memory");
    String::from_utf8(out).expect("UTF-8")
}

/// The message lines of an SVG document: (their class, their title).
fn message_lines(text: &str) -> Vec<(String, String)> {
    let doc = roxmltree::Document::parse(text).expect("well-formed XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("line"))
        .filter(|n| n.attribute("class").is_some_and(|c| c.split(' ').any(|c| c == "msg")))
        .map(|n| {
            let title = n.children().find(|c| c.has_tag_name("title")).and_then(|t| t.text()).unwrap_or("");
            (n.attribute("class").unwrap_or("").to_string(), title.to_string())
        })
        .collect()
}

/// Copies of messages sent in the range: a send is one, each duplicate of a message sent in the
/// range one more. Also how many of those copies were dropped in the range.
fn expected(events: &[Event]) -> (usize, usize) {
    let mut sent = HashSet::new();
    let (mut copies, mut dropped) = (0, 0);
    for e in events {
        match &e.kind {
            EventKind::Send { id, .. } => {
                sent.insert(*id);
                copies += 1;
            }
            EventKind::Duplicate { id, .. } if sent.contains(id) => copies += 1,
            EventKind::Drop { id, .. } if sent.contains(id) => dropped += 1,
            _ => {}
        }
    }
    (copies, dropped)
}

#[test]
fn one_line_per_copy_of_each_message_sent_in_the_range() {
    let events = recorded(21);
    assert!(events.iter().any(|e| matches!(e.kind, EventKind::Duplicate { .. })), "the run duplicates");
    let n = events.len();
    for range in [0..n, n / 3..n / 2, n / 2..n / 2 + 40, 0..0, n..n + 10] {
        let text = svg(&events, range.clone());
        let lines = message_lines(&text);
        let slice = &events[range.start.min(n)..range.end.min(n)];
        let (copies, dropped) = expected(slice);
        assert_eq!(lines.len(), copies, "range {range:?}");
        let drawn_dropped = lines.iter().filter(|(c, _)| c.split(' ').any(|c| c == "dropped")).count();
        assert_eq!(drawn_dropped, dropped, "range {range:?}");
        assert!(
            lines.iter().all(|(c, t)| c.split(' ').count() >= 2 && t.starts_with('m')),
            "a kind, a title"
        );
    }
    let whole = svg(&events, 0..n);
    assert!(whole.contains(r#"<g class="leader">"#), "new leaders are marked");
    let crashes = events.iter().filter(|e| matches!(e.kind, EventKind::Crash)).count();
    assert_eq!(whole.matches(r#"<g class="crash">"#).count(), crashes, "crashes are marked");
    assert!(whole.contains(">n1</text>") && whole.contains(" s</text>"), "node names, the time axis");
}

fn message(from: u64, to: u64, body: Body) -> Message {
    Message { from: NodeId(from), to: NodeId(to), term: Term(1), body }
}

fn event(seq: u64, node: u64, kind: EventKind) -> Event {
    Event { seq, time: seq * 1_000_000, node: Some(NodeId(node)), term: Some(Term(1)), kind }
}

#[test]
fn text_is_escaped() {
    let key = r#"<&>"'"#;
    let request = Request::new(RequestId::register(1), Op::Put { key: key.into(), value: "1".into() });
    let m = message(1, 2, Body::ClientRequest { request });
    let events = vec![
        event(0, 1, EventKind::Send { id: 1, message: m.clone() }),
        event(1, 1, EventKind::fault(format!("note on {key}"), Some(quorum::events::Change::Freeze))),
        event(2, 2, EventKind::Drop { id: 1, message: m, reason: format!("lost {key}") }),
    ];
    let text = svg(&events, 0..3);
    let lines = message_lines(&text);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].1.contains(key) && lines[0].1.contains(&format!("lost {key}")), "{lines:?}");
    let doc = roxmltree::Document::parse(&text).expect("well-formed");
    let texts: Vec<&str> = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(texts.iter().any(|t| *t == format!("note on {key}")), "the fault's description");
}

/// A million events (half a million messages sent and delivered) write in one pass, without
/// pairing sends with fates by search. A measurement, not a check (timings are not asserted):
/// `cargo test --release --test svg -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: run with --ignored"]
fn a_long_log_writes_fast() {
    let beat = Body::Heartbeat { commit: LogIndex(0), read_round: 0 };
    let n: u64 = 1_000_000;
    let events: Vec<Event> = (0..n)
        .map(|i| {
            let id = i / 2;
            let m = message(1 + id % 3, 1 + (id + 1) % 3, beat.clone());
            let kind = if i % 2 == 0 {
                EventKind::Send { id, message: m }
            } else {
                EventKind::Deliver { id, message: m }
            };
            event(i, 1, kind)
        })
        .collect();
    let started = std::time::Instant::now();
    let mut sink = std::io::sink();
    write_svg(&events, 0..events.len(), &mut sink).expect("a sink");
    eprintln!("{n} events: {:?}", started.elapsed());
}
