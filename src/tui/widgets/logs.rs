//! The logs side by side: a row per node, a column per log index, aligned across nodes. Each
//! cell shows the entry's term in that term's colour: a solid block when the node knows it is
//! committed, underlined text when it is not (yet). Gaps and diverging terms stand out at once.

use super::super::screen::ScreenState;
use super::super::theme;
use super::panel;
use crate::control::RunState;
use crate::raft::{LogIndex, Term};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
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
        let end = s.nodes.iter().map(|n| n.last.index).max().unwrap_or_default();
        if end == LogIndex(0) {
            buf.set_string(inner.x + 1, inner.y, "every log is empty", theme::dim());
            return;
        }
        let max_term = s.nodes.iter().map(|n| n.last.term.0).max().unwrap_or(0);
        let cell = digits(end.0).max(digits(max_term)) + 1;
        let cell = cell.max(3) as u16;
        let columns = (((inner.width.saturating_sub(LABEL)) / cell) as usize).clamp(1, MAX_COLUMNS) as u64;
        let first = end.0.saturating_sub(columns - 1).max(1);
        // Header: the indexes.
        let y0 = inner.y;
        buf.set_string(inner.x, y0, "idx", theme::dim());
        for (c, index) in (first..=end.0).enumerate() {
            let x = inner.x + LABEL + c as u16 * cell;
            buf.set_string(x, y0, format!("{index:>w$}", w = cell as usize), theme::dim());
        }
        for (row, node) in s.nodes.iter().enumerate() {
            let y = y0 + 1 + row as u16;
            if y >= inner.bottom() {
                break;
            }
            let selected = node.id == s.selected;
            buf.set_string(inner.x, y, node.id.to_string(), theme::label(&node.run, node.role, selected));
            let terms: BTreeMap<LogIndex, Term> = node.log_tail.iter().map(|e| (e.index, e.term)).collect();
            let down = matches!(node.run, RunState::Dead | RunState::Crashed(_));
            for (c, index) in (first..=end.0).enumerate() {
                let Some(&term) = terms.get(&LogIndex(index)) else { continue };
                let x = inner.x + LABEL + c as u16 * cell;
                let text = format!("{:>w$}", term.0, w = cell as usize - 1);
                let mut style = if LogIndex(index) <= node.commit {
                    theme::committed(term)
                } else {
                    theme::uncommitted(term)
                };
                if down {
                    style = style.add_modifier(ratatui::style::Modifier::DIM);
                }
                buf.set_string(x + 1, y, text, style);
            }
        }
    }
}
