//! The space-time diagram of a run, or of a range of its events, as an SVG file a browser opens
//! (like Maelstrom's `messages.svg`): the nodes as columns with their names on top, time
//! downwards on an axis in seconds, and **one `<line>` per copy of each message sent in the
//! range**: a message sent once has one copy, each `duplicate` of it while it is in flight adds
//! one; a copy's line runs from its send to its fate, a delivery (an arrow to the receiver), a
//! drop (dashed, ending short of the receiver in a `✗` whose `<title>` gives the reason), or,
//! still in flight at the range's end, dashed to the end. Fates of messages sent before the
//! range are left out. Each message line has the class `msg` and its kind (`msg
//! AppendEntries`), a colour per kind, and a `<title>` with the send's narration and its fate.
//! Crashes, restarts (the lifeline dashed red between them), new leaders and faults are marked.
//!
//! It streams: one pass to find the nodes and the time span, one to write, with the messages in
//! flight in a map from id to their send (removed at their last fate), so a log of a million
//! events writes in about a second.

use crate::events::{Event, EventKind, NodeEventKind};
use crate::raft::{NodeId, Role};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::ops::Range;

/// Pixels between node columns.
const COL: f64 = 170.0;
/// The left margin (the time axis) and the top one (the node names).
const LEFT: f64 = 90.0;
const TOP: f64 = 50.0;
/// Room on the right for faults' descriptions.
const RIGHT: f64 = 360.0;
/// Pixels per millisecond at least, and the smallest and largest height of the time span.
const PX_PER_MS: f64 = 2.0;
const MIN_HEIGHT: f64 = 800.0;
const MAX_HEIGHT: f64 = 400_000.0;
/// Pixels between time ticks at least.
const TICK_GAP: f64 = 60.0;

/// Each kind's colour.
const KINDS: [(&str, &str); 10] = [
    ("PreVote", "#9c27b0"),
    ("PreVoteResponse", "#ce93d8"),
    ("RequestVote", "#f57c00"),
    ("RequestVoteResponse", "#ffb74d"),
    ("AppendEntries", "#1565c0"),
    ("AppendEntriesResponse", "#64b5f6"),
    ("Heartbeat", "#9e9e9e"),
    ("HeartbeatResponse", "#cfcfcf"),
    ("ClientRequest", "#2e7d32"),
    ("ClientResponse", "#81c784"),
];

/// `s` with XML's special characters escaped, for text and attribute values alike.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab and newlines are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Where things go: the columns, the time span and its scale.
struct Frame {
    nodes: Vec<NodeId>,
    t0: u64,
    t1: u64,
    scale: f64,
}

impl Frame {
    /// The nodes of the run's `start` event and every node the range names, and its time span.
    fn of(all: &[Event], range: &[Event]) -> Frame {
        let mut nodes = BTreeSet::new();
        if let Some(EventKind::Start(start)) = all.first().map(|e| &e.kind) {
            nodes.extend(start.nodes.iter().copied());
        }
        let (mut t0, mut t1) = (u64::MAX, 0);
        for e in range {
            t0 = t0.min(e.time);
            t1 = t1.max(e.time);
            nodes.extend(e.node);
            if let Some((_, m)) = e.kind.message() {
                nodes.extend([m.from, m.to]);
            }
        }
        if t0 > t1 {
            (t0, t1) = (0, 0);
        }
        let span = (t1 - t0).max(1) as f64;
        let scale = (PX_PER_MS / 1e6).max(MIN_HEIGHT / span).min(MAX_HEIGHT / span);
        Frame { nodes: nodes.into_iter().collect(), t0, t1, scale }
    }

    fn y(&self, t: u64) -> f64 {
        TOP + t.saturating_sub(self.t0) as f64 * self.scale
    }

    fn x(&self, n: NodeId) -> f64 {
        let i = self.nodes.binary_search(&n).unwrap_or(self.nodes.len());
        LEFT + COL / 2.0 + i as f64 * COL
    }

    fn width(&self) -> f64 {
        LEFT + self.nodes.len() as f64 * COL + RIGHT
    }

    fn height(&self) -> f64 {
        self.y(self.t1) + 40.0
    }
}

/// A message in flight: where its lines start, and what they say.
struct Sent {
    x: f64,
    y: f64,
    to: NodeId,
    kind: &'static str,
    narration: String,
    copies: u32,
}

/// Writes the diagram of `events[range]` (see the module documentation) to `out`. A range
/// beyond the events is cut to them; an empty one gives an empty diagram.
pub fn write_svg(events: &[Event], range: Range<usize>, out: &mut dyn Write) -> io::Result<()> {
    let end = range.end.min(events.len());
    let slice = &events[range.start.min(end)..end];
    let frame = Frame::of(events, slice);
    let mut w = BufWriter::new(out);
    header(&mut w, &frame)?;
    let mut flying: HashMap<u64, Sent> = HashMap::new();
    let mut down: HashMap<NodeId, f64> = HashMap::new();
    for e in slice {
        let y = frame.y(e.time);
        match &e.kind {
            EventKind::Send { id, message } => {
                let narration = e.to_string();
                let kind = message.body.kind();
                let (x, to) = (frame.x(message.from), message.to);
                flying.insert(*id, Sent { x, y, to, kind, narration, copies: 1 });
            }
            EventKind::Duplicate { id, .. } => {
                if let Some(s) = flying.get_mut(id) {
                    s.copies += 1;
                }
            }
            EventKind::Deliver { id, .. } => fate(&mut w, &frame, &mut flying, *id, y, e.time, None)?,
            EventKind::Drop { id, reason, .. } => {
                fate(&mut w, &frame, &mut flying, *id, y, e.time, Some(reason))?
            }
            _ => node_mark(&mut w, &frame, e, y, &mut down)?,
        }
    }
    let end_y = frame.y(frame.t1);
    let mut left: Vec<(u64, Sent)> = flying.into_iter().collect();
    left.sort_unstable_by_key(|(id, _)| *id);
    for (_, s) in &left {
        let title = format!("{} — still in flight at {:.3} s (the end)", s.narration, frame.t1 as f64 / 1e9);
        for _ in 0..s.copies {
            line(&mut w, s, frame.x(s.to), end_y, "inflight", &title)?;
        }
    }
    let mut still: Vec<(NodeId, f64)> = down.into_iter().collect();
    still.sort_unstable_by_key(|(n, _)| *n);
    for (n, from) in still {
        writeln!(
            w,
            r#"<line class="down" x1="{x:.1}" y1="{from:.1}" x2="{x:.1}" y2="{end_y:.1}"/>"#,
            x = frame.x(n)
        )?;
    }
    writeln!(w, "</svg>")?;
    w.flush()
}

/// One message line.
fn line(w: &mut dyn Write, s: &Sent, x2: f64, y2: f64, class: &str, title: &str) -> io::Result<()> {
    let arrow = if class.is_empty() { format!(r#" marker-end="url(#a-{})""#, s.kind) } else { String::new() };
    let class = if class.is_empty() { String::new() } else { format!(" {class}") };
    writeln!(
        w,
        r#"<line class="msg {kind}{class}" x1="{:.1}" y1="{:.1}" x2="{x2:.1}" y2="{y2:.1}"{arrow}><title>{}</title></line>"#,
        s.x,
        s.y,
        escape(title),
        kind = s.kind,
    )
}

/// A copy's fate: its line, and a cross with the reason for a drop.
fn fate(
    w: &mut dyn Write,
    frame: &Frame,
    flying: &mut HashMap<u64, Sent>,
    id: u64,
    y: f64,
    time: u64,
    dropped: Option<&str>,
) -> io::Result<()> {
    let Some(s) = flying.get_mut(&id) else { return Ok(()) };
    let to = frame.x(s.to);
    let at = time as f64 / 1e9;
    match dropped {
        None => line(w, s, to, y, "", &format!("{} — delivered at {at:.3} s", s.narration))?,
        Some(reason) => {
            // Three quarters of the way: it never arrived.
            let x = s.x + (to - s.x) * 0.75;
            line(w, s, x, y, "dropped", &format!("{} — dropped at {at:.3} s ({reason})", s.narration))?;
            writeln!(
                w,
                r#"<path class="drop" d="M{:.1} {:.1}l8 8m0 -8l-8 8"><title>dropped ({})</title></path>"#,
                x - 4.0,
                y - 4.0,
                escape(reason)
            )?;
        }
    }
    s.copies = s.copies.saturating_sub(1);
    if s.copies == 0 {
        flying.remove(&id);
    }
    Ok(())
}

/// Crashes, restarts, new leaders and faults.
fn node_mark(
    w: &mut dyn Write,
    frame: &Frame,
    e: &Event,
    y: f64,
    down: &mut HashMap<NodeId, f64>,
) -> io::Result<()> {
    let title = escape(&e.to_string());
    let node = e.node.map(|n| (n, frame.x(n)));
    match (&e.kind, node) {
        (EventKind::Crash, Some((n, x))) => {
            down.entry(n).or_insert(y);
            mark(w, "crash", x, y, "crash", &title)
        }
        (EventKind::Restart { .. }, Some((n, x))) => {
            if let Some(from) = down.remove(&n) {
                writeln!(w, r#"<line class="down" x1="{x:.1}" y1="{from:.1}" x2="{x:.1}" y2="{y:.1}"/>"#)?;
            }
            mark(w, "restart", x, y, "restart", &title)
        }
        (EventKind::Node(NodeEventKind::Role { role: Role::Leader, .. }), Some((_, x))) => {
            let term = e.term.map_or(String::new(), |t| format!(" t{}", t.0));
            mark(w, "leader", x, y, &format!("leader{term}"), &title)
        }
        (EventKind::Fault { change: Some(_), description }, _) => {
            let right = frame.width() - RIGHT;
            writeln!(
                w,
                r#"<g class="fault"><title>{title}</title><line x1="{LEFT:.1}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
                right + 6.0,
                y + 4.0,
                escape(description)
            )
        }
        _ => Ok(()),
    }
}

/// A mark on a lifeline: a dot of its class and a label beside it.
fn mark(w: &mut dyn Write, class: &str, x: f64, y: f64, label: &str, title: &str) -> io::Result<()> {
    writeln!(
        w,
        r#"<g class="{class}"><title>{title}</title><circle cx="{x:.1}" cy="{y:.1}" r="5"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
        x + 8.0,
        y + 4.0,
        escape(label)
    )
}

/// The document's start: size, styles, arrow heads, node names and lifelines, the time axis.
fn header(w: &mut dyn Write, frame: &Frame) -> io::Result<()> {
    let (width, height) = (frame.width(), frame.height());
    writeln!(w, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        w,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
    )?;
    let mut style = String::from(
        ".lifeline{stroke:#ccc}.down{stroke:#e53935;stroke-width:3;stroke-dasharray:4 4}\
         .tick{stroke:#eee}.time{fill:#777;text-anchor:end}.node{font-weight:bold;text-anchor:middle}\
         .msg{stroke-width:1.5}.msg:hover{stroke-width:4}.dropped,.inflight{stroke-dasharray:5 3}\
         .drop{stroke:#e53935;stroke-width:2;fill:none}.crash circle{fill:#e53935}\
         .restart circle{fill:#43a047}.leader circle{fill:#fdd835;stroke:#000}\
         .fault line{stroke:#fb8c00;stroke-dasharray:2 4}.fault text{fill:#e65100}",
    );
    for (kind, colour) in KINDS {
        let _ = write!(style, ".{kind}{{stroke:{colour}}}");
    }
    writeln!(w, "<style>{style}</style>\n<defs>")?;
    for (kind, colour) in KINDS {
        writeln!(
            w,
            r#"<marker id="a-{kind}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0L10 5L0 10z" fill="{colour}"/></marker>"#
        )?;
    }
    writeln!(w, "</defs>")?;
    let bottom = frame.y(frame.t1);
    for &n in &frame.nodes {
        let x = frame.x(n);
        writeln!(
            w,
            r#"<text class="node" x="{x:.1}" y="{:.1}">{}</text>"#,
            TOP - 20.0,
            escape(&n.to_string())
        )?;
        writeln!(w, r#"<line class="lifeline" x1="{x:.1}" y1="{TOP:.1}" x2="{x:.1}" y2="{bottom:.1}"/>"#)?;
    }
    axis(w, frame)
}

/// Ticks down the left, at a round number of seconds at least [`TICK_GAP`] pixels apart.
fn axis(w: &mut dyn Write, frame: &Frame) -> io::Result<()> {
    let step = nice_step((TICK_GAP / frame.scale).max(1.0) as u64);
    let decimals = (9 - step.ilog10().min(9)) as usize;
    let right = frame.width() - RIGHT;
    let mut t = frame.t0.div_ceil(step).saturating_mul(step);
    while t <= frame.t1 {
        let y = frame.y(t);
        writeln!(w, r#"<line class="tick" x1="{LEFT:.1}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}"/>"#)?;
        let label = format!("{:.*} s", decimals, t as f64 / 1e9);
        writeln!(w, r#"<text class="time" x="{:.1}" y="{:.1}">{label}</text>"#, LEFT - 8.0, y + 4.0)?;
        t = match t.checked_add(step) {
            Some(t) => t,
            None => break,
        };
    }
    Ok(())
}

/// The smallest of 1, 2 or 5 times a power of ten (ns) that is at least `min`.
fn nice_step(min: u64) -> u64 {
    let mut step = 1u64;
    while step < u64::MAX / 10 {
        if let Some(k) = [1, 2, 5].into_iter().find(|k| step * k >= min) {
            return step * k;
        }
        step *= 10;
    }
    step
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{Body, LogIndex};

    #[test]
    fn escapes_the_five_and_control_characters() {
        assert_eq!(escape(r#"a<&>"'b"#), "a&lt;&amp;&gt;&quot;&apos;b");
        assert_eq!(escape("x\u{1}y\tz"), "x y\tz");
    }

    #[test]
    fn every_kind_has_a_colour_and_steps_are_round() {
        assert_eq!((nice_step(0), nice_step(3), nice_step(7), nice_step(1_000_001)), (1, 5, 10, 2_000_000));
        let bodies = [
            Body::Heartbeat { commit: LogIndex(0), read_round: 0 },
            Body::RequestVoteResponse { granted: true },
            Body::HeartbeatResponse { read_round: 0 },
        ];
        for b in bodies {
            assert!(KINDS.iter().any(|(k, _)| *k == b.kind()), "{}", b.kind());
        }
    }
}
