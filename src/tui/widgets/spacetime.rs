//! The space-time diagram: the nodes as columns, time downwards, one row per drawn event up to
//! the cursor (the cursor's event is the last row). Drawn events are the network's (send,
//! deliver, drop, duplicate), crashes, restarts, new leaders and faults; the cursor's event is
//! drawn whatever it is. Each message leaves its sender's lifeline at its send row on a track of
//! its own beside that lifeline, runs down the track, and at its delivery row turns towards the
//! receiver as a horizontal arrow with its kind (`└─Append─▶`); a dropped one ends in `✗` before
//! the receiver (the reason is in the row's narration), one still in flight at the cursor runs
//! dashed to the bottom (`┆`, `↓`). A crash is `╳` on the node's lifeline, which is dashed until
//! its restart `↻`; a new leader is `★`; a fault is a dotted rule across the row. Each row ends
//! with the event's narration, and starts with its time in seconds when it changed.

use super::super::theme;
use super::{fit, panel, title, width_of};
use crate::events::{Event, EventKind, NodeEventKind};
use crate::raft::{Body, Message, NodeId, Role};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::Widget;
use std::collections::{HashMap, HashSet};

/// The time gutter: a cursor mark, the time, a space.
const GUTTER: usize = 9;
/// The narrowest and widest node column.
const MIN_COL: usize = 5;
const MAX_COL: usize = 14;
/// Columns the narration gets before the node columns widen.
const NARRATION: usize = 28;
/// Most events looked at before the cursor (a window of rows is far fewer drawn events).
const SCAN: usize = 200_000;

/// The space-time diagram (see the module documentation).
pub struct SpaceTime<'a> {
    /// A run's events, in order.
    pub events: &'a [Event],
    /// The nodes, in column order.
    pub members: &'a [NodeId],
    /// The index in `events` of the event the view stands at (capped at the last).
    pub cursor: usize,
}

/// A message's short name on its arrow.
pub fn short_kind(body: &Body) -> String {
    let yes = |b: bool| if b { "✓" } else { "✗" };
    match body {
        Body::PreVote { .. } => "PreVote".into(),
        Body::PreVoteResponse { granted, .. } => format!("PreVote{}", yes(*granted)),
        Body::RequestVote { .. } => "Vote?".into(),
        Body::RequestVoteResponse { granted } => format!("Vote{}", yes(*granted)),
        Body::AppendEntries { entries, .. } if entries.is_empty() => "Append".into(),
        Body::AppendEntries { entries, .. } => format!("Append+{}", entries.len()),
        Body::AppendEntriesResponse { reject, .. } => format!("Append{}", yes(reject.is_none())),
        Body::Heartbeat { .. } => "Heartbeat".into(),
        Body::HeartbeatResponse { .. } => "Heartbeat✓".into(),
        Body::ClientRequest { .. } => "Request".into(),
        Body::ClientResponse { .. } => "Response".into(),
        Body::InstallSnapshot { offset, len, size, .. } if offset + len >= *size => "Snap.".into(),
        Body::InstallSnapshot { .. } => "Snap".into(),
        Body::InstallSnapshotResponse { matched, .. } => format!("Snap{}", yes(matched.is_some())),
        Body::TimeoutNow => "TimeoutNow".into(),
    }
}

/// A message kind's colour (the kind is also written on its arrow).
fn kind_style(body: &Body) -> Style {
    let colour = match body {
        Body::PreVote { .. } | Body::PreVoteResponse { .. } => Color::Magenta,
        Body::RequestVote { .. } | Body::RequestVoteResponse { .. } | Body::TimeoutNow => Color::Yellow,
        Body::AppendEntries { .. }
        | Body::AppendEntriesResponse { .. }
        | Body::InstallSnapshot { .. }
        | Body::InstallSnapshotResponse { .. } => Color::Cyan,
        Body::Heartbeat { .. } | Body::HeartbeatResponse { .. } => Color::Blue,
        Body::ClientRequest { .. } | Body::ClientResponse { .. } => Color::Green,
    };
    Style::default().fg(colour)
}

/// A grid of one-column characters, drawn into and then copied to the buffer.
struct Grid {
    w: usize,
    h: usize,
    cells: Vec<(char, Style)>,
}

impl Grid {
    fn new(w: usize, h: usize) -> Grid {
        Grid { w, h, cells: vec![(' ', Style::default()); w * h] }
    }

    fn get(&self, x: usize, y: usize) -> char {
        if x < self.w && y < self.h { self.cells[y * self.w + x].0 } else { ' ' }
    }

    fn put(&mut self, x: usize, y: usize, c: char, style: Style) {
        if x < self.w && y < self.h {
            self.cells[y * self.w + x] = (c, style);
        }
    }

    /// A vertical line; crossing a horizontal one makes a `┼`.
    fn vline(&mut self, x: usize, rows: std::ops::Range<usize>, c: char, style: Style) {
        for y in rows {
            let c = if matches!(self.get(x, y), '─' | '╌' | '┈') { '┼' } else { c };
            self.put(x, y, c, style);
        }
    }

    /// A horizontal line; crossing a vertical one makes a `┼`.
    fn hline(&mut self, xs: std::ops::Range<usize>, y: usize, c: char, style: Style) {
        for x in xs {
            let c = if matches!(self.get(x, y), '│' | '┆') { '┼' } else { c };
            self.put(x, y, c, style);
        }
    }

    /// `s` from column `x`, where every cell it takes is blank (or only when `over` is true).
    fn text(&mut self, x: usize, y: usize, s: &str, max: usize, style: Style, over: bool) {
        let s = fit(s, max);
        let n = s.chars().count();
        if n == 0 || (!over && (x..x + n).any(|x| self.get(x, y) != ' ')) {
            return;
        }
        for (i, c) in s.chars().enumerate() {
            self.put(x + i, y, c, style);
        }
    }
}

/// The columns: where each node's lifeline is, and how many tracks each side of it has.
struct Columns {
    lifelines: HashMap<NodeId, usize>,
    index: HashMap<NodeId, usize>,
    width: usize,
    tracks: usize,
}

impl Columns {
    fn new(members: &[NodeId], width: usize) -> Columns {
        let lifelines = members.iter().enumerate().map(|(i, &n)| (n, i * width + width / 2)).collect();
        let index = members.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        Columns { lifelines, index, width, tracks: width.saturating_sub(1) / 2 }
    }

    fn x(&self, n: NodeId) -> Option<usize> {
        self.lifelines.get(&n).copied()
    }

    /// Whether a message between these two nodes can be drawn.
    fn both(&self, m: &Message) -> bool {
        m.from != m.to && self.x(m.from).is_some() && self.x(m.to).is_some()
    }
}

/// Whether an event gets a row of its own.
fn drawn(e: &Event, cols: &Columns) -> bool {
    let on_node = || e.node.is_some_and(|n| cols.x(n).is_some());
    match &e.kind {
        EventKind::Send { message, .. }
        | EventKind::Deliver { message, .. }
        | EventKind::Drop { message, .. }
        | EventKind::Duplicate { message, .. } => cols.both(message),
        EventKind::Crash | EventKind::Restart { .. } => on_node(),
        EventKind::Node(NodeEventKind::Role { role: Role::Leader, .. }) => on_node(),
        EventKind::Fault { change, .. } => change.is_some(),
        _ => false,
    }
}

/// A message's track: its column, the row its vertical resumes at, its copies still on their way.
struct Track {
    x: usize,
    slot: (NodeId, bool, usize),
    from_row: usize,
    copies: u32,
    style: Style,
}

/// Lays the messages of the rows out on the grid.
struct Layout<'c> {
    cols: &'c Columns,
    tracks: HashMap<u64, Track>,
    busy: HashSet<(NodeId, bool, usize)>,
    /// The arrows' labels: row, the arrow's columns, text, style (written last, where free).
    labels: Vec<(usize, std::ops::Range<usize>, String, Style)>,
}

impl Layout<'_> {
    /// A free track on the side of `m`'s sender towards its receiver (the outermost if all are taken).
    fn open(&mut self, id: u64, m: &Message, from_row: usize, copies: u32) {
        let (Some(fx), Some(tx)) = (self.cols.x(m.from), self.cols.x(m.to)) else { return };
        if let Some(old) = self.tracks.remove(&id) {
            self.busy.remove(&old.slot);
        }
        let right = tx > fx;
        let n = self.cols.tracks.max(1);
        let k = (0..n).find(|k| !self.busy.contains(&(m.from, right, *k))).unwrap_or(n - 1);
        let off = (k + 1).min(self.cols.tracks);
        let x = if right { fx + off } else { fx.saturating_sub(off) };
        self.busy.insert((m.from, right, k));
        let style = kind_style(&m.body);
        self.tracks.insert(id, Track { x, slot: (m.from, right, k), from_row, copies, style });
    }

    /// The branch off the sender's lifeline at a send row.
    fn send(&mut self, grid: &mut Grid, id: u64, m: &Message, y: usize) {
        self.open(id, m, y + 1, 1);
        let (Some(t), Some(fx)) = (self.tracks.get(&id), self.cols.x(m.from)) else { return };
        let (lo, hi, corner, tee) =
            if t.x > fx { (fx + 1, t.x, '┐', '├') } else { (t.x + 1, fx, '┌', '┤') };
        grid.hline(lo..hi, y, '─', t.style);
        grid.put(t.x, y, corner, t.style);
        grid.put(fx, y, tee, t.style);
    }

    /// A copy's fate at row `y`: an arrow to the receiver, or a cross short of it.
    fn fate(&mut self, grid: &mut Grid, id: u64, m: &Message, y: usize, dropped: bool) {
        let Some(tx) = self.cols.x(m.to) else { return };
        let Some(t) = self.tracks.get_mut(&id) else { return };
        grid.vline(t.x, t.from_row..y, '│', t.style);
        t.copies = t.copies.saturating_sub(1);
        t.from_row = y + 1;
        let right = tx > t.x;
        let turn = match (right, t.copies > 0) {
            (true, false) => '└',
            (false, false) => '┘',
            (true, true) => '├',
            (false, true) => '┤',
        };
        let (line, head, style) = if dropped {
            ('╌', '✗', theme::bad())
        } else {
            ('─', if right { '▶' } else { '◀' }, t.style)
        };
        let (lo, hi, hx) = if right { (t.x + 1, tx - 1, tx - 1) } else { (tx + 2, t.x, tx + 1) };
        grid.hline(lo..hi, y, line, style);
        grid.put(t.x, y, turn, t.style);
        grid.put(hx, y, head, style);
        self.labels.push((y, lo..hi, short_kind(&m.body), style));
        if t.copies == 0 {
            let slot = t.slot;
            self.busy.remove(&slot);
            self.tracks.remove(&id);
        }
    }

    /// A duplicate at row `y`: one more copy on its way.
    fn duplicate(&mut self, grid: &mut Grid, id: u64, y: usize) {
        if let Some(t) = self.tracks.get_mut(&id) {
            t.copies += 1;
            grid.vline(t.x, t.from_row..y, '│', t.style);
            grid.put(t.x, y, '╪', theme::warn());
            t.from_row = y + 1;
        }
    }

    /// The messages still on their way at the cursor: dashed to the bottom, with an arrow; then
    /// each arrow's label in the longest stretch of its line that crosses nothing.
    fn close(self, grid: &mut Grid) {
        let bottom = grid.h;
        for (y, xs, label, style) in &self.labels {
            let (mut best, mut run) = ((0, 0), (xs.start, 0));
            for x in xs.clone() {
                if matches!(grid.get(x, *y), '─' | '╌') {
                    run.1 += 1;
                    if run.1 > best.1 {
                        best = run;
                    }
                } else {
                    run = (x + 1, 0);
                }
            }
            // One line cell either side of the label, so the arrow still reads as one.
            if best.1 >= 4 {
                grid.text(best.0 + 1, *y, label, best.1 - 2, *style, true);
            }
        }
        for t in self.tracks.values().filter(|t| t.from_row < bottom) {
            grid.vline(t.x, t.from_row..bottom - 1, '┆', t.style);
            grid.put(t.x, bottom - 1, '↓', t.style);
        }
    }
}

impl SpaceTime<'_> {
    /// The rows: the drawn events up to the cursor (and the cursor's own), at most `room`, in order.
    fn rows(&self, cols: &Columns, room: usize) -> Vec<usize> {
        let Some(cursor) = self.events.len().checked_sub(1).map(|last| self.cursor.min(last)) else {
            return Vec::new();
        };
        let mut rows = vec![cursor];
        let from = cursor.saturating_sub(SCAN);
        for i in (from..cursor).rev() {
            if rows.len() >= room {
                break;
            }
            if drawn(&self.events[i], cols) {
                rows.push(i);
            }
        }
        rows.reverse();
        rows
    }

    /// The panel's title: where the cursor is, and what the window holds.
    pub fn title(&self) -> Line<'static> {
        let n = self.events.len();
        let details = match self.events.get(self.cursor.min(n.saturating_sub(1))) {
            None => "no events".to_string(),
            Some(e) => format!("up to event {} · time ↓", e.seq),
        };
        title("space-time", &details)
    }
}

/// Messages sent before the window with a fate in it: tracks from the top row.
fn open_earlier(layout: &mut Layout<'_>, events: &[Event], rows: &[usize]) {
    let mut sent = HashSet::new();
    for &i in rows {
        match &events[i].kind {
            EventKind::Send { id, .. } => {
                sent.insert(*id);
            }
            EventKind::Deliver { id, message } | EventKind::Drop { id, message, .. }
                if !sent.contains(id) && layout.cols.both(message) =>
            {
                sent.insert(*id);
                layout.open(*id, message, 0, 1);
            }
            _ => {}
        }
    }
}

/// Whether each node was down before the window (its first crash or restart in it is a restart).
fn down_before(events: &[Event], rows: &[usize]) -> HashSet<NodeId> {
    let mut seen = HashSet::new();
    let mut down = HashSet::new();
    for &i in rows {
        let e = &events[i];
        if let (Some(n), EventKind::Crash | EventKind::Restart { .. }) = (e.node, &e.kind)
            && seen.insert(n)
            && matches!(e.kind, EventKind::Restart { .. })
        {
            down.insert(n);
        }
    }
    down
}

/// The lifelines, dashed where a node is down, and the crash, restart, leader and fault marks.
fn draw_nodes(grid: &mut Grid, cols: &Columns, events: &[Event], rows: &[usize]) {
    let mut down = down_before(events, rows);
    let right = grid.w;
    for (y, &i) in rows.iter().enumerate() {
        let e = &events[i];
        let here = e.node.and_then(|n| cols.x(n).map(|x| (n, x)));
        match (&e.kind, here) {
            (EventKind::Crash, Some((n, _))) => {
                down.insert(n);
            }
            (EventKind::Restart { .. }, Some((n, _))) => {
                down.remove(&n);
            }
            _ => {}
        }
        for (&n, &x) in &cols.lifelines {
            let (c, style) = if down.contains(&n) { ('┆', theme::bad()) } else { ('│', theme::dim()) };
            grid.put(x, y, c, style);
        }
        if let EventKind::Fault { change: Some(_), .. } = &e.kind {
            grid.hline(0..right, y, '┈', theme::warn());
        }
    }
}

/// The marks on the lifelines, over the messages (labels only where the cells are blank).
fn draw_marks(grid: &mut Grid, cols: &Columns, events: &[Event], rows: &[usize]) {
    for (y, &i) in rows.iter().enumerate() {
        let e = &events[i];
        let Some(x) = e.node.and_then(|n| cols.x(n)) else { continue };
        let bold = Modifier::BOLD;
        let (mark, label, style) = match &e.kind {
            EventKind::Crash => ('╳', "crash".to_string(), theme::bad().add_modifier(bold)),
            EventKind::Restart { .. } => ('↻', "restart".to_string(), theme::good().add_modifier(bold)),
            EventKind::Node(NodeEventKind::Role { role: Role::Leader, .. }) => {
                let term = e.term.map_or(String::new(), |t| format!(" t{}", t.0));
                ('★', format!("leader{term}"), theme::good().add_modifier(bold))
            }
            EventKind::Node(_) if y + 1 == rows.len() => ('•', String::new(), theme::text()),
            _ => continue,
        };
        grid.put(x, y, mark, style);
        grid.text(x + 1, y, &label, cols.width.saturating_sub(1), style, false);
    }
}

/// The narration's style for an event.
fn narration_style(e: &Event) -> Style {
    match &e.kind {
        EventKind::Drop { .. } | EventKind::Crash => theme::bad(),
        EventKind::Restart { .. } | EventKind::Node(NodeEventKind::Role { role: Role::Leader, .. }) => {
            theme::good()
        }
        EventKind::Fault { .. } => theme::warn(),
        EventKind::Send { .. } => theme::text(),
        _ => theme::dim(),
    }
}

impl Widget for SpaceTime<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let legend = " ─▶ delivered  ╌✗ dropped  ┆↓ in flight  ★ leader  ╳ crash  ↻ restart ";
        let block = panel(self.title()).title_bottom(Line::styled(legend, theme::dim()).right_aligned());
        let inner = block.inner(area);
        block.render(area, buf);
        let (w, h) = (inner.width as usize, inner.height as usize);
        let n = self.members.len();
        if h < 2 || w < GUTTER + 4 || n == 0 {
            if h > 0 && w > 0 {
                let text = if n == 0 { "no nodes" } else { "too small for the diagram" };
                buf.set_stringn(inner.x, inner.y, fit(text, w), w, theme::dim());
            }
            return;
        }
        let avail = w - GUTTER;
        let mut col = (avail.saturating_sub(NARRATION) / n).clamp(MIN_COL, MAX_COL);
        if col * n > avail {
            col = (avail / n).max(1);
        }
        let cols = Columns::new(self.members, col);
        let rows = self.rows(&cols, h - 1);
        let mut grid = Grid::new(col * n, rows.len());
        draw_nodes(&mut grid, &cols, self.events, &rows);
        let mut layout =
            Layout { cols: &cols, tracks: HashMap::new(), busy: HashSet::new(), labels: Vec::new() };
        open_earlier(&mut layout, self.events, &rows);
        for (y, &i) in rows.iter().enumerate() {
            match &self.events[i].kind {
                EventKind::Send { id, message } if cols.both(message) => {
                    layout.send(&mut grid, *id, message, y)
                }
                EventKind::Deliver { id, message } => layout.fate(&mut grid, *id, message, y, false),
                EventKind::Drop { id, message, .. } => layout.fate(&mut grid, *id, message, y, true),
                EventKind::Duplicate { id, .. } => layout.duplicate(&mut grid, *id, y),
                _ => {}
            }
        }
        if !rows.is_empty() {
            layout.close(&mut grid);
        }
        draw_marks(&mut grid, &cols, self.events, &rows);
        self.draw_header(buf, inner, &cols);
        let narration = (GUTTER + col * n + 1, w.saturating_sub(GUTTER + col * n + 1));
        self.draw_rows(buf, inner, &grid, &rows, narration);
    }
}

impl SpaceTime<'_> {
    /// The node names over their lifelines, and the narration's heading.
    fn draw_header(&self, buf: &mut Buffer, inner: Rect, cols: &Columns) {
        let y = inner.y;
        buf.set_stringn(inner.x, y, fit("time (s)", GUTTER - 1), GUTTER - 1, theme::dim());
        for &n in self.members {
            let (Some(x), Some(&i)) = (cols.x(n), cols.index.get(&n)) else { continue };
            let name = fit(&n.to_string(), cols.width.saturating_sub(1).max(1));
            let left = (GUTTER + x).saturating_sub(width_of(&name) / 2).max(GUTTER + i * cols.width);
            buf.set_stringn(inner.x + left as u16, y, &name, cols.width, theme::title());
        }
        let x = GUTTER + cols.width * self.members.len() + 1;
        if x + 8 <= inner.width as usize {
            buf.set_stringn(inner.x + x as u16, y, "event", 5, theme::dim());
        }
    }

    /// Each row: the cursor mark and the time, the grid's cells, the narration.
    fn draw_rows(
        &self,
        buf: &mut Buffer,
        inner: Rect,
        grid: &Grid,
        rows: &[usize],
        narration: (usize, usize),
    ) {
        let mut last_time = None;
        for (y, &i) in rows.iter().enumerate() {
            let e = &self.events[i];
            let sy = inner.y + 1 + y as u16;
            let cursor = y + 1 == rows.len();
            if cursor {
                buf.set_stringn(inner.x, sy, "▸", 1, theme::selected_border());
            }
            if last_time != Some(e.time) {
                let t = format!("{:>7.3}", e.time as f64 / 1e9);
                buf.set_stringn(inner.x + 1, sy, fit(&t, GUTTER - 2), GUTTER - 2, theme::dim());
                last_time = Some(e.time);
            }
            for x in 0..grid.w {
                let (c, style) = grid.cells[y * grid.w + x];
                if c != ' '
                    && let Some(cell) = buf.cell_mut((inner.x + (GUTTER + x) as u16, sy))
                {
                    cell.set_char(c).set_style(style);
                }
            }
            let (nx, nw) = narration;
            if nw >= 8 {
                let mut style = narration_style(e);
                if cursor {
                    style = style.add_modifier(Modifier::REVERSED);
                }
                buf.set_stringn(inner.x + nx as u16, sy, fit(&e.to_string(), nw), nw, style);
            }
        }
    }
}
