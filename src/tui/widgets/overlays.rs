//! What is drawn over the dashboard: the help (every key, from the keymap), the partition
//! editor, and the screen shown instead of the dashboard when the terminal is too small.

use super::super::keymap;
use super::super::netview::describe_groups;
use super::super::screen::{Mode, ScreenState};
use super::super::theme;
use super::{fit, panel, title};
use crate::raft::NodeId;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Widget, Wrap};

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(area.x + (area.width - w) / 2, area.y + (area.height - h) / 2, w, h)
}

/// The help overlay: every key of the keymap.
pub struct HelpOverlay;

/// How to read the screen, shown under the keys when there is room.
const LEGEND: [&str; 3] = [
    "it = the selected node (▶) · the leader's card: match/next index of each follower",
    "logs: a column per index, showing its term · solid = committed · underlined = not yet",
    "maps: ≠ differs from the leader · network: ╳ = row's messages to column are dropped",
];

impl Widget for HelpOverlay {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let keymap::HelpText { main, others } = keymap::help_lines();
        let per_col = main.len().div_ceil(2);
        let col_w = (area.width.saturating_sub(6) / 2).min(56) as usize;
        let width = (col_w * 2 + 4) as u16;
        let inner_w = (width as usize).saturating_sub(3).max(1);
        let wrapped = |s: &str| s.chars().count().div_ceil(inner_w);
        let other_rows: usize = others.iter().map(|(n, k)| wrapped(&format!("{n}: {k}"))).sum();
        let legend_rows: usize = LEGEND.iter().map(|l| wrapped(l)).sum();
        let height = (per_col + 1 + other_rows + 1 + legend_rows + 2) as u16;
        let rect = centered(area, width, height);
        Clear.render(rect, buf);
        let block = panel(title("keys", "any key closes this"));
        let inner = block.inner(rect);
        block.render(rect, buf);
        let inner = Rect { x: inner.x + 1, width: inner.width.saturating_sub(1), ..inner };
        let entry = |(k, d): (&str, &str)| {
            vec![
                Span::styled(format!(" {k:^5} "), theme::key()),
                Span::raw(format!(" {:<w$}", fit(d, col_w - 9), w = col_w - 8)),
            ]
        };
        for row in 0..per_col {
            let mut spans = Vec::new();
            spans.extend(entry(main[row]));
            if let Some(&right) = main.get(row + per_col) {
                spans.extend(entry(right));
            }
            buf.set_line(inner.x, inner.y + row as u16, &Line::from(spans), inner.width);
        }
        let mut lines: Vec<Line> = others
            .iter()
            .map(|(name, keys)| {
                Line::from(vec![
                    Span::styled(format!("{name}: "), theme::title()),
                    Span::styled(keys.clone(), theme::dim()),
                ])
            })
            .collect();
        lines.push(Line::raw(""));
        lines.extend(LEGEND.iter().map(|l| Line::styled(*l, theme::text())));
        let y = inner.y + per_col as u16 + 1;
        if y < inner.bottom() {
            let rest = Rect { y, height: inner.bottom() - y, ..inner };
            Paragraph::new(lines).wrap(Wrap { trim: true }).render(rest, buf);
        }
    }
}

/// The partition editor: each node's group, and what applying would do.
pub struct EditorOverlay<'a> {
    /// What to show (the mode holds the groups).
    pub screen: &'a ScreenState,
}

/// The groups the editor would apply, nodes sorted, empty groups left out.
pub fn editor_groups(groups: &std::collections::BTreeMap<NodeId, u8>) -> Vec<Vec<NodeId>> {
    let mut out: Vec<Vec<NodeId>> = vec![Vec::new(); 3];
    for (&id, &g) in groups {
        out[(g as usize).min(2)].push(id);
    }
    out.retain(|g| !g.is_empty());
    out
}

impl Widget for EditorOverlay<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let Mode::Editor { groups, .. } = &self.screen.mode else { return };
        let rect = centered(area, 64, 9);
        Clear.render(rect, buf);
        let block = panel(title("partition editor", ""));
        let inner = block.inner(rect);
        block.render(rect, buf);
        let inner = Rect { x: inner.x + 1, width: inner.width.saturating_sub(1), ..inner };
        let mut chips = Vec::new();
        for (&id, &g) in groups {
            chips.push(Span::styled(format!(" {id} {} ", (b'A' + g) as char), theme::group(g)));
            chips.push(Span::raw("  "));
        }
        let result = editor_groups(groups);
        let outcome = if result.len() <= 1 {
            Span::styled("no partition (every node in one group)", theme::good())
        } else {
            Span::styled(describe_groups(&result), theme::bad())
        };
        let lines = [
            Line::styled("a node's number moves it to the next group: A → B → C → A", theme::text()),
            Line::raw(""),
            Line::from(chips),
            Line::raw(""),
            Line::from(vec![Span::styled("applying gives: ", theme::dim()), outcome]),
            Line::styled("Enter applies · Esc cancels", theme::dim()),
        ];
        for (i, line) in lines.iter().take(inner.height as usize).enumerate() {
            buf.set_line(inner.x, inner.y + i as u16, line, inner.width);
        }
    }
}

/// Shown instead of the dashboard when the terminal is smaller than needed.
pub struct TooSmall {
    /// The size needed.
    pub need: (u16, u16),
    /// The number of nodes (the size needed depends on it).
    pub nodes: usize,
}

impl Widget for TooSmall {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (w, h) = self.need;
        let text = vec![
            Line::styled("quorum: the terminal is too small", theme::bad()),
            Line::raw(""),
            Line::raw(format!("The console needs at least {w}×{h} for {} nodes;", self.nodes)),
            Line::raw(format!("this terminal is {}×{}.", area.width, area.height)),
            Line::raw("Enlarge the window or make the font smaller."),
            Line::raw(""),
            Line::styled("q quits · the cluster keeps running meanwhile", theme::dim()),
        ];
        Paragraph::new(text).wrap(Wrap { trim: true }).render(area, buf);
    }
}
