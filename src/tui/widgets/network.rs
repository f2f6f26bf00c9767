//! The network: the partition, the one-way cuts, loss and delay, and a matrix of messages per
//! second per link (rows send, columns receive) in which a blocked link shows `╳`. A one-way
//! cut is a `╳` on one side of the diagonal only. While the network is held, the matrix counts
//! the messages in flight on each link instead (what is waiting for the user, and where).

use super::super::netview::{self, NetView};
use super::super::screen::ScreenState;
use super::super::theme;
use super::{panel, title};
use crate::raft::NodeId;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// The network panel.
pub struct NetworkPanel<'a> {
    /// What to show.
    pub screen: &'a ScreenState,
}

/// Width of one matrix cell.
const CELL: usize = 4;

/// `label` then `pieces` separated by spaces, wrapped to `width` between pieces; the lines
/// after the first are indented under the first piece.
fn wrapped(
    label: &'static str,
    pieces: &[String],
    width: usize,
    style: ratatui::style::Style,
) -> Vec<Line<'static>> {
    let indent = label.chars().count();
    let mut lines = Vec::new();
    let mut current = String::new();
    for piece in pieces {
        let room = width.saturating_sub(indent);
        if !current.is_empty() && current.chars().count() + 1 + piece.chars().count() > room {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(piece);
    }
    lines.push(current);
    lines
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let head = if i == 0 { label.to_string() } else { " ".repeat(indent) };
            Line::from(vec![Span::styled(head, theme::dim()), Span::styled(text, style)])
        })
        .collect()
}

impl Widget for NetworkPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.screen;
        let members = s.members();
        let view: NetView = netview::analyse(&s.network, &members);
        let block = panel(title("network", ""));
        let inner = block.inner(area);
        block.render(area, buf);
        let inner = Rect { x: inner.x + 1, width: inner.width.saturating_sub(1), ..inner };
        let mut lines = faults(&view, inner.width as usize);
        let matrix_fits = inner.height as usize >= lines.len() + 1 + members.len();
        if matrix_fits {
            lines.extend(matrix(s, &members));
        } else if s.network.holds() {
            // Folded: what waits for the user comes first.
            lines.insert(0, summary(s));
        } else {
            lines.push(summary(s));
        }
        for (i, line) in lines.iter().take(inner.height as usize).enumerate() {
            buf.set_line(inner.x, inner.y + i as u16, line, inner.width);
        }
    }
}

/// The faults, `width` wide: the partition's groups, the one-way cuts, loss and delay.
fn faults(view: &NetView, width: usize) -> Vec<Line<'static>> {
    let label = theme::dim();
    let mut lines = Vec::new();
    if view.groups.is_empty() {
        lines.push(Line::from(vec![Span::styled("partition ", label), Span::styled("none", theme::good())]));
    } else {
        // One group per piece, wrapped between groups: seven nodes in three groups do not
        // fit one line of this panel.
        let mut pieces: Vec<String> = Vec::new();
        for (i, g) in view.groups.iter().enumerate() {
            let names: Vec<String> = g.iter().map(ToString::to_string).collect();
            let sep = if i == 0 { "" } else { "╳ " };
            pieces.push(format!("{sep}{{{}}}", names.join(" ")));
        }
        lines.extend(wrapped("partition ", &pieces, width, theme::bad()));
    }
    if view.cuts.is_empty() {
        lines.push(Line::from(vec![
            Span::styled("one-way cuts ", label),
            Span::styled("none", theme::good()),
        ]));
    } else {
        let cuts: Vec<String> = view.cuts.iter().map(|(a, b)| format!("{a}→{b}")).collect();
        lines.extend(wrapped("one-way cuts ", &cuts, width, theme::bad()));
    }
    lines.extend([Line::from(vec![
        Span::styled("loss ", label),
        Span::styled(
            netview::percent(view.rule.loss),
            if view.rule.loss > 0.0 { theme::warn() } else { theme::text() },
        ),
        Span::styled(" · delay ", label),
        Span::styled(
            netview::delay(view.rule.delay),
            if view.rule.delay.1 > 0 { theme::warn() } else { theme::text() },
        ),
    ])]);
    lines
}

/// The matrix of messages per second per link (rows send, columns receive; `╳` blocked), with
/// its heading and legend.
fn matrix(s: &ScreenState, members: &[NodeId]) -> Vec<Line<'static>> {
    let label = theme::dim();
    let mut lines = Vec::new();
    let held = s.network.holds();
    let flying = s.flight.per_link();
    let mut head = vec![Span::styled(if held { "wait " } else { "msg/s" }, label)];
    for id in members {
        head.push(Span::styled(format!("{:>CELL$}", id.to_string()), label));
    }
    lines.push(Line::from(head));
    for &from in members {
        let mut row = vec![Span::styled(format!("{:<5}", from.to_string()), label)];
        for &to in members {
            let span = if from == to {
                Span::styled(format!("{:>CELL$}", "·"), theme::dim())
            } else if s.network.reachable(from, to).is_err() {
                Span::styled(format!("{:>CELL$}", "╳"), theme::bad())
            } else if held {
                let n = flying.get(&(from, to)).copied().unwrap_or(0);
                let style = if n == 0 { theme::dim() } else { theme::warn() };
                Span::styled(format!("{n:>CELL$}"), style)
            } else {
                let rate = s.rates.get(&(from, to)).copied().unwrap_or(0.0);
                let style = if rate < 0.5 { theme::dim() } else { theme::text() };
                Span::styled(format!("{:>CELL$.0}", rate), style)
            };
            row.push(span);
        }
        lines.push(Line::from(row));
    }
    let legend = if held {
        "held: messages waiting per link · ╳ blocked"
    } else {
        "row sends to column · ╳ blocked"
    };
    lines.push(Line::styled(legend, theme::dim()));
    lines
}

/// Instead of the matrix where it does not fit: the total rate and the busiest link.
fn summary(s: &ScreenState) -> Line<'static> {
    let label = theme::dim();
    let total: f64 = s.rates.values().sum();
    let busiest = s.rates.iter().max_by(|a, b| a.1.total_cmp(b.1));
    if s.network.holds() {
        return Line::from(vec![
            Span::styled("in flight ", label),
            Span::raw(s.flight.len().to_string()),
            Span::styled(" · held ", label),
            Span::styled(s.held.len().to_string(), theme::warn()),
        ]);
    }
    let mut spans = vec![Span::styled("msgs/s ", label), Span::raw(format!("{total:.0}"))];
    if let Some(((a, b), r)) = busiest {
        spans.push(Span::styled(format!(" · busiest {a}→{b} {r:.0}"), label));
    }
    Line::from(spans)
}
