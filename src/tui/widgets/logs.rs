//! The logs side by side: a row per node, a column per log index, aligned across nodes. Each
//! cell shows the entry's term in that term's colour: a solid block when the node knows it is
//! committed, underlined text when it is not (yet). Gaps and diverging terms stand out at once.
//! While the log cursor is on (`o`), the columns follow the selected index, marked `▸` on every
//! row, with `·` where a node does not have the entry. Where a node has compacted its log (paper
//! §7), the columns up to its snapshot's last entry say so, `…snap 1200@7 |`, and its entries
//! follow the bar.

use super::super::screen::{Mode, ScreenState};
use super::super::theme;
use super::panel;
use crate::control::{NodeStatus, RunState};
use crate::raft::{LogIndex, Term};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;
use std::collections::BTreeMap;

/// The logs panel.
pub struct Logs<'a> {
    /// What to show.
    pub screen: &'a ScreenState,
}

/// Entries a node reports at most (the status carries its log's tail).
const MAX_COLUMNS: usize = 64;
/// Width of the node-name column.
const LABEL: u16 = 4;

fn digits(n: u64) -> usize {
    n.max(1).ilog10() as usize + 1
}

/// The indexes a logs panel shows, and where their columns are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The first index shown.
    pub first: u64,
    /// The last index shown.
    pub last: u64,
    /// Each column's width (a gap, then the term).
    pub cell: u16,
    /// The screen column where the first index's column starts.
    pub x: u16,
}

/// The log cursor's index, while it is on.
fn cursor(screen: &ScreenState) -> Option<u64> {
    match screen.mode {
        Mode::Log { index } => Some(index.0),
        _ => None,
    }
}

/// The columns of a logs panel whose inside is `inner`: the newest indexes that fit, or, while
/// the log cursor is on, the indexes around the selected one. `None` while every log is empty.
pub fn window(screen: &ScreenState, inner: Rect) -> Option<Window> {
    let end = screen.nodes.iter().map(|n| n.last.index).max().unwrap_or_default().0;
    if end == 0 {
        return None;
    }
    let max_term = screen.nodes.iter().map(|n| n.last.term.0).max().unwrap_or(0);
    let cell = (digits(end).max(digits(max_term)) + 1).max(3) as u16;
    let columns = (((inner.width.saturating_sub(LABEL)) / cell) as usize).clamp(1, MAX_COLUMNS) as u64;
    let newest = end.saturating_sub(columns - 1).max(1);
    let first = match cursor(screen) {
        Some(c) => c.saturating_sub(columns / 2).clamp(1, newest),
        None => newest,
    };
    Some(Window { first, last: (first + columns - 1).min(end), cell, x: inner.x + LABEL })
}

/// The index whose column holds screen column `x` in a logs panel drawn in `area`, if any.
pub fn index_at(screen: &ScreenState, area: Rect, x: u16) -> Option<LogIndex> {
    let w = window(screen, panel("").inner(area))?;
    let offset = x.checked_sub(w.x)? / w.cell;
    let index = w.first + offset as u64;
    (index <= w.last).then_some(LogIndex(index))
}

impl Widget for Logs<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.screen;
        let sample = Term(2);
        let title = Line::from(vec![
            Span::styled(" logs ", theme::title()),
            Span::styled("· ", theme::dim()),
            Span::styled(" 2 ", theme::committed(sample)),
            Span::styled(" committed · ", theme::dim()),
            Span::styled("2", theme::uncommitted(sample)),
            Span::styled(" not yet ", theme::dim()),
        ]);
        let block = panel(title);
        let inner = block.inner(area);
        block.render(area, buf);
        let Some(w) = window(s, inner) else {
            buf.set_string(inner.x + 1, inner.y, "every log is empty", theme::dim());
            return;
        };
        let selected = cursor(s);
        // Header: the indexes, the selected one marked and reversed.
        let y0 = inner.y;
        buf.set_string(inner.x, y0, "idx", theme::dim());
        for (c, index) in (w.first..=w.last).enumerate() {
            let x = w.x + c as u16 * w.cell;
            let number = format!("{index:>n$}", n = w.cell as usize - 1);
            if selected == Some(index) {
                buf.set_string(x + 1, y0, number, theme::selected_border().add_modifier(Modifier::REVERSED));
                mark(x, y0, w, &index.to_string(), buf);
            } else {
                buf.set_string(x + 1, y0, number, theme::dim());
            }
        }
        for (row, node) in s.nodes.iter().enumerate() {
            let y = y0 + 1 + row as u16;
            if y >= inner.bottom() {
                break;
            }
            buf.set_string(
                inner.x,
                y,
                node.id.to_string(),
                theme::label(&node.run, node.role, node.id == s.selected),
            );
            log_row(node, w, selected, y, buf);
            boundary(node, w, inner.right(), y, buf);
        }
    }
}

/// A node's snapshot boundary (paper §7): the bar in its snapshot's last index's column and,
/// over the compacted columns before it, `…snap 1200@7`, shortened to what fits (`…snap 1200`,
/// `…1200`, `…`). Nothing when the boundary is left of the window (every column shown holds
/// an entry); only the words when it is right of it (every column shown is compacted).
fn boundary(node: &NodeStatus, w: Window, right: u16, y: u16, buf: &mut Buffer) {
    let Some(snapshot) = node.snapshot else { return };
    let base = snapshot.index.0;
    if base + 1 < w.first {
        return;
    }
    let columns = w.last - w.first + 1;
    let end = w.x + columns as u16 * w.cell;
    // The bar sits in the base's own column, at its last character (just left of the gap
    // before the first entry held); for a base just left of the window, in the label's margin.
    let bar = (base + 1 - w.first).checked_mul(w.cell as u64).map(|d| w.x as u64 + d).unwrap_or(u64::MAX);
    let bar = (bar <= end as u64).then(|| bar as u16 - 1).filter(|&x| x < right);
    let room = bar.unwrap_or(end).saturating_sub(w.x) as usize;
    let words = [
        format!("…snap {snapshot} "),
        format!("…snap {} ", snapshot.index),
        format!("…{} ", snapshot.index),
        "… ".to_string(),
    ];
    if let Some(text) = words.iter().find(|t| t.chars().count() <= room) {
        let x = w.x + (room - text.chars().count()) as u16;
        let (head, tail) = text.split_at(text.find(|c: char| c.is_ascii_digit()).unwrap_or(text.len()));
        buf.set_string(x, y, head, theme::dim());
        let style = Style::default().fg(theme::term_colour(snapshot.term));
        buf.set_string(x + head.chars().count() as u16, y, tail, style);
    }
    if let Some(x) = bar {
        buf.set_string(x, y, "|", theme::selected_border());
    }
}

/// The selected column's marker, just left of `text` right-aligned in the cell at `x`.
fn mark(x: u16, y: u16, w: Window, text: &str, buf: &mut Buffer) {
    let pad = (w.cell as usize).saturating_sub(1 + text.chars().count()) as u16;
    buf.set_string(x + pad, y, "▸", theme::selected_border());
}

/// One node's row: a cell per index it holds; at the selected index a marker, and `·` where
/// the node does not have the entry.
fn log_row(node: &NodeStatus, w: Window, selected: Option<u64>, y: u16, buf: &mut Buffer) {
    let terms: BTreeMap<LogIndex, Term> = node.log_tail.iter().map(|e| (e.index, e.term)).collect();
    let down = matches!(node.run, RunState::Dead | RunState::Crashed(_));
    let width = w.cell as usize - 1;
    for (c, index) in (w.first..=w.last).enumerate() {
        let x = w.x + c as u16 * w.cell;
        let here = selected == Some(index);
        let Some(&term) = terms.get(&LogIndex(index)) else {
            if here && LogIndex(index) > node.last.index {
                buf.set_string(x + 1, y, format!("{:>width$}", "·"), theme::dim());
                mark(x, y, w, "·", buf);
            }
            continue;
        };
        let mut style =
            if LogIndex(index) <= node.commit { theme::committed(term) } else { theme::uncommitted(term) };
        if down {
            style = style.add_modifier(Modifier::DIM);
        }
        if here {
            style = style.add_modifier(Modifier::BOLD);
        }
        buf.set_string(x + 1, y, format!("{:>width$}", term.0), style);
        if here {
            mark(x, y, w, &term.0.to_string(), buf);
        }
    }
}
