//! The messages in flight: sent, not yet delivered or dropped, oldest first, each with its id,
//! its link, its type and key fields in the compact notation, and its age; `held` marks those a
//! held network keeps for the user. With more than fit, the oldest are listed and the rest
//! counted. In the in-flight mode (`i`) a cursor chooses one.

use super::super::screen::{Mode, ScreenState};
use super::super::theme;
use super::{fit, panel, title};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// The in-flight panel.
pub struct FlightPanel<'a> {
    /// What to show.
    pub screen: &'a ScreenState,
}

/// One row: the message, when it was sent, and whether it is held. Only the rows on screen are
/// formatted: a held network can gather thousands of messages, and this runs every frame.
struct Row<'a> {
    id: u64,
    message: &'a crate::raft::Message,
    sent: u64,
    held: bool,
}

impl Row<'_> {
    fn text(&self) -> String {
        format!("m{} {}→{} {}", self.id, self.message.from, self.message.to, self.message.body)
    }
}

fn age(nanos: u64) -> String {
    let ms = nanos / 1_000_000;
    if ms >= 10_000 { format!("{} s", ms / 1000) } else { format!("{ms} ms") }
}

impl FlightPanel<'_> {
    /// Every message in flight, oldest first, and the held copies whose send the feed has not
    /// shown yet (the poll reads both at once).
    fn rows(&self) -> Vec<Row<'_>> {
        let s = self.screen;
        let held: std::collections::HashSet<u64> = s.held.iter().map(|h| h.id).collect();
        let mut rows: Vec<Row<'_>> = s
            .flight
            .iter()
            .map(|m| Row { id: m.id, message: &m.message, sent: m.sent, held: held.contains(&m.id) })
            .collect();
        let mut extra: std::collections::BTreeMap<u64, Row<'_>> = std::collections::BTreeMap::new();
        for h in s.held.iter().filter(|h| s.flight.get(h.id).is_none()) {
            extra.entry(h.id).or_insert(Row { id: h.id, message: &h.message, sent: h.since, held: true });
        }
        if !extra.is_empty() {
            rows.extend(extra.into_values());
            rows.sort_by_key(|r| r.id);
        }
        rows
    }
}

impl Widget for FlightPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.screen;
        let rows = self.rows();
        let held = s.held.len();
        let details = if s.network.holds() {
            format!("{} · {held} held", rows.len())
        } else {
            format!("{}", rows.len())
        };
        let block = panel(title("in flight", &details));
        let inner = block.inner(area);
        block.render(area, buf);
        let chosen = match &s.mode {
            Mode::Flight { chosen, .. } => *chosen,
            _ => None,
        };
        let height = inner.height as usize;
        if height == 0 {
            return;
        }
        let width = inner.width as usize;
        if rows.is_empty() {
            let hint = if s.network.holds() {
                " nothing yet: what the nodes send will wait here"
            } else {
                " nothing"
            };
            buf.set_line(inner.x, inner.y, &Line::styled(hint, theme::dim()), inner.width);
            return;
        }
        // The oldest that fit, keeping the chosen one in view, and a count of the rest.
        let room = if rows.len() > height { height - 1 } else { height };
        let at = chosen.and_then(|c| rows.iter().position(|r| r.id == c)).unwrap_or(0);
        let first = at.saturating_sub(room.saturating_sub(1));
        for (line, row) in rows.iter().skip(first).take(room).enumerate() {
            let mark = if Some(row.id) == chosen { "▸" } else { " " };
            let tail =
                format!(" {}{}", age(s.now.saturating_sub(row.sent)), if row.held { " held" } else { "" });
            let body = fit(&row.text(), width.saturating_sub(tail.chars().count() + 1));
            let mut style = if row.held { theme::warn() } else { theme::text() };
            if Some(row.id) == chosen {
                style = style.add_modifier(Modifier::REVERSED);
            }
            let pad = width.saturating_sub(1 + super::width_of(&body) + tail.chars().count());
            let spans = vec![
                Span::styled(mark, theme::key()),
                Span::styled(body, style),
                Span::raw(" ".repeat(pad)),
                Span::styled(tail, theme::dim()),
            ];
            buf.set_line(inner.x, inner.y + line as u16, &Line::from(spans), inner.width);
        }
        let rest = rows.len() - first.min(rows.len()) - room.min(rows.len() - first);
        let before = first;
        if rows.len() > height {
            let text = format!(" … {} more ({before} older, {rest} newer)", before + rest);
            buf.set_line(inner.x, inner.y + room as u16, &Line::styled(text, theme::dim()), inner.width);
        }
    }
}
