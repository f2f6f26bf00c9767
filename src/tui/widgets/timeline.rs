//! The client timeline: one row per client operation, oldest invoke at the top, each a bar on a
//! time axis (in seconds) from its invoke to its return, with the operation and the node it
//! went through on the left (`put x=1 via n2`) and its outcome after the bar: `✓ ok` (green),
//! `✗ error` (red, certainly not applied), `? error` (yellow, dashed bar: may or may not have
//! taken effect). It stands at a cursor time: operations invoked after it are not drawn yet, one
//! invoked before it that returns after it is drawn pending up to the cursor (`…`), and a
//! vertical line marks the cursor. The rows are the latest operations invoked by the cursor that
//! fit; the window runs from the first of them to a little after the cursor.

use super::super::theme;
use super::{fit, panel, title, width_of};
use crate::events::Outcome;
use crate::kv::Op;
use crate::replay::ClientOp;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::Widget;

/// The narrowest window, so that a few quick operations do not fill the whole width (ns).
const MIN_SPAN: u64 = 10_000_000;
/// The widest label column.
const MAX_LABEL: usize = 28;
/// Columns between two tick labels at least.
const TICK_GAP: usize = 10;

/// The client timeline (see the module documentation).
pub struct ClientTimeline<'a> {
    /// The client operations that returned, in any order (a scene's `clients`, usually the
    /// latest scene's, so that operations pending at the cursor are known).
    pub ops: &'a [ClientOp],
    /// The time the view stands at (ns on the run's clock).
    pub cursor: u64,
    /// The run's latest time (ns): a cursor there or later is `live` in the title.
    pub now: u64,
}

/// Where the bars go: the window of time and the columns it maps to.
struct Axis {
    start: u64,
    span: u64,
    x: u16,
    width: usize,
}

impl Axis {
    /// The column of time `t`, clamped into the window.
    fn col(&self, t: u64) -> usize {
        let off = t.saturating_sub(self.start).min(self.span);
        let col = (u128::from(off) * self.width as u128 / u128::from(self.span.max(1))) as usize;
        col.min(self.width.saturating_sub(1))
    }
}

/// `put x=1 via n2`.
fn label(op: &ClientOp) -> String {
    format!("{} via {}", op.record.op, op.record.via)
}

/// What follows the bar, and its style.
fn outcome_text(op: &ClientOp, pending: bool) -> (String, Style) {
    let r = &op.record;
    if pending {
        return ("pending".into(), theme::warn());
    }
    match r.outcome {
        Outcome::Ok => match (&r.op, &r.value) {
            (Op::Get { .. }, Some(v)) => (format!("✓ {v}"), theme::good()),
            (Op::Get { .. }, None) => ("✓ not found".into(), theme::good()),
            _ => ("✓ ok".into(), theme::good()),
        },
        Outcome::Failed => (format!("✗ {}", r.error.as_deref().unwrap_or("failed")), theme::bad()),
        Outcome::Unknown => (format!("? {}", r.error.as_deref().unwrap_or("unknown")), theme::warn()),
    }
}

/// A nice tick step (1, 2 or 5 times a power of ten, ns) of at least `min`.
fn tick_step(min: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for k in [1, 2, 5] {
            if step.saturating_mul(k) >= min {
                return step.saturating_mul(k);
            }
        }
        if step > u64::MAX / 10 {
            return u64::MAX;
        }
        step *= 10;
    }
}

/// Seconds with as many decimals as the step needs: `12`, `12.5`, `12.25`, `12.125`.
pub fn seconds(t: u64, step: u64) -> String {
    let decimals = match step {
        s if s >= 1_000_000_000 => 0,
        s if s >= 100_000_000 => 1,
        s if s >= 10_000_000 => 2,
        s if s >= 1_000_000 => 3,
        _ => 4,
    };
    format!("{:.*}", decimals, t as f64 / 1e9)
}

impl ClientTimeline<'_> {
    /// The panel's title: how many operations there are by the cursor, and where it stands.
    pub fn title(&self) -> Line<'static> {
        let by = self.ops.iter().filter(|o| o.record.invoked <= self.cursor).count();
        let at = if self.cursor >= self.now {
            "live".to_string()
        } else {
            format!("at {} s", seconds(self.cursor, 1_000_000))
        };
        let plural = if by == 1 { "" } else { "s" };
        title("client timeline", &format!("{by} op{plural} · {at}"))
    }

    /// The latest `room` operations invoked by the cursor, oldest invoke first.
    fn rows(&self, room: usize) -> Vec<&ClientOp> {
        let mut rows: Vec<&ClientOp> = self.ops.iter().filter(|o| o.record.invoked <= self.cursor).collect();
        let key = |o: &&ClientOp| (o.record.invoked, o.seq);
        if rows.len() > room {
            let cut = rows.len() - room;
            rows.select_nth_unstable_by_key(cut, key);
            rows.drain(..cut);
        }
        rows.sort_unstable_by_key(key);
        rows
    }

    /// The window: from the first row's invoke to a quarter more than that after the cursor.
    fn axis(&self, rows: &[&ClientOp], x: u16, width: usize) -> Axis {
        let first = rows.first().map_or(self.cursor.saturating_sub(MIN_SPAN), |o| o.record.invoked);
        let core = self.cursor.saturating_sub(first).max(MIN_SPAN);
        let start = first.saturating_sub(core / 20);
        let end = self.cursor.saturating_add(core / 4);
        Axis { start, span: end.saturating_sub(start).max(1), x, width }
    }
}

/// Writes `s` at column `x` of row `y`, cut at `max` columns.
fn put(buf: &mut Buffer, x: u16, y: u16, s: &str, max: usize, style: Style) {
    if max > 0 {
        buf.set_stringn(x, y, fit(s, max), max, style);
    }
}

/// The tick labels and the axis rule, on two rows from `y`.
fn draw_axis(buf: &mut Buffer, axis: &Axis, y: u16, cursor: u64) {
    let step = tick_step((u128::from(axis.span) * TICK_GAP as u128 / axis.width.max(1) as u128) as u64);
    let rule = "─".repeat(axis.width);
    buf.set_stringn(axis.x, y + 1, &rule, axis.width, theme::dim());
    let mut tick = axis.start.div_ceil(step.max(1)).saturating_mul(step);
    let end = axis.start.saturating_add(axis.span);
    let mut free = 0;
    while tick <= end && step > 0 {
        let col = axis.col(tick);
        buf.set_stringn(axis.x + col as u16, y + 1, "┬", 1, theme::dim());
        let text = seconds(tick, step);
        if col >= free && col + width_of(&text) <= axis.width {
            buf.set_stringn(axis.x + col as u16, y, &text, axis.width - col, theme::dim());
            free = col + width_of(&text) + 1;
        }
        match tick.checked_add(step) {
            Some(t) => tick = t,
            None => break,
        }
    }
    let c = axis.col(cursor) as u16;
    buf.set_stringn(axis.x + c, y + 1, "▼", 1, theme::selected_border());
}

/// One operation's bar on row `y`.
fn draw_bar(buf: &mut Buffer, axis: &Axis, y: u16, op: &ClientOp, cursor: u64) {
    let r = &op.record;
    let pending = op.returned > cursor;
    let (a, b) = (axis.col(r.invoked), axis.col(op.returned.min(cursor)));
    let (body, style) = match (pending, r.outcome) {
        (true, _) => ("─", theme::warn()),
        (false, Outcome::Ok) => ("━", theme::good()),
        (false, Outcome::Failed) => ("━", theme::bad()),
        (false, Outcome::Unknown) => ("╍", theme::warn()),
    };
    let len = b.saturating_sub(a) + 1;
    buf.set_stringn(axis.x + a as u16, y, body.repeat(len), len, style);
    let mut after = b + 1;
    if pending && after < axis.width {
        buf.set_stringn(axis.x + after as u16, y, "…", 1, theme::warn().add_modifier(Modifier::BOLD));
        after += 1;
    }
    // The outcome after the bar if it fits there, else before it, else cut after it.
    let (text, tstyle) = outcome_text(op, pending);
    let tw = width_of(&text);
    let room = axis.width.saturating_sub(after + 1);
    if room >= tw || (a <= tw + 1 && room >= 3) {
        put(buf, axis.x + after as u16 + 1, y, &text, room, tstyle);
    } else if a > tw + 1 {
        put(buf, axis.x + (a - tw - 1) as u16, y, &text, tw, tstyle);
    }
}

impl Widget for ClientTimeline<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let block = panel(self.title());
        let inner = block.inner(area);
        block.render(area, buf);
        let (w, h) = (inner.width as usize, inner.height as usize);
        if h == 0 || w < 4 {
            return;
        }
        if h < 3 || w < 24 {
            put(buf, inner.x, inner.y, "too small for the timeline", w, theme::dim());
            return;
        }
        let rows = self.rows(h - 2);
        let labels = rows.iter().map(|o| width_of(&label(o))).max().unwrap_or(9).max(9);
        let lw = labels.min(MAX_LABEL).min(w * 2 / 5);
        let axis = self.axis(&rows, inner.x + lw as u16 + 1, w - lw - 1);
        put(buf, inner.x, inner.y, "time (s) →", lw, theme::dim());
        put(buf, inner.x, inner.y + 1, "operation", lw, theme::dim());
        draw_axis(buf, &axis, inner.y, self.cursor);
        if rows.is_empty() {
            let hint = "no client operation by the cursor";
            put(buf, axis.x, inner.y + 2, hint, axis.width, theme::dim());
        }
        let cursor_col = axis.x + axis.col(self.cursor) as u16;
        for (i, op) in rows.iter().enumerate() {
            let y = inner.y + 2 + i as u16;
            put(buf, inner.x, y, &label(op), lw, theme::text());
            draw_bar(buf, &axis, y, op, self.cursor);
        }
        for y in inner.y + 2..inner.y + inner.height {
            if let Some(cell) = buf.cell_mut((cursor_col, y))
                && cell.symbol() == " "
            {
                cell.set_symbol("│").set_style(theme::selected_border());
            }
        }
    }
}
