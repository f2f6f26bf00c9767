//! One small widget per area of the screen. Each draws from a [`Snapshot`] only.

mod clients;
mod events;
mod header;
mod logs;
mod maps;
mod network;
mod nodes;
mod overlays;
mod status;

pub use clients::{Clients, latency};
pub use events::{Events, category_style, page};
pub use header::Header;
pub use logs::Logs;
pub use maps::Maps;
pub use network::NetworkPanel;
pub use nodes::Nodes;
pub use overlays::{EditorOverlay, HelpOverlay, TooSmall, editor_groups};
pub use status::{KeyBar, StatusLine, context as context_of};

use super::snapshot::VerdictView;
use super::theme;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};

#[cfg(doc)]
use super::snapshot::Snapshot;

/// A bordered panel with a title.
pub fn panel<'a>(title: impl Into<Line<'a>>) -> Block<'a> {
    Block::default().borders(Borders::ALL).border_style(theme::border()).title(title)
}

/// A panel title: its name in bold, then dim details.
pub fn title<'a>(name: &'a str, details: &str) -> Line<'a> {
    let mut spans = vec![Span::styled(format!(" {name} "), theme::title())];
    if !details.is_empty() {
        spans.push(Span::styled(format!("{details} "), theme::dim()));
    }
    Line::from(spans)
}

/// Cuts `s` to `width` characters, ending with `…` when cut.
pub fn fit(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// `1×`, `2×`, `1/20×`: the speed as people say it.
pub fn speed_label(speed: f64) -> String {
    if speed >= 1.0 || speed <= 0.0 {
        let s = format!("{speed:.1}");
        format!("{}×", s.trim_end_matches('0').trim_end_matches('.'))
    } else {
        let inverse = 1.0 / speed;
        if (inverse - inverse.round()).abs() < 0.01 {
            format!("1/{:.0}×", inverse.round())
        } else {
            format!("{speed:.2}×")
        }
    }
}

/// The verdict in a few words, with its style; `short` leaves out the "history:" label.
pub fn verdict_span(verdict: &VerdictView, short: bool) -> Span<'static> {
    let label = if short { "" } else { "history: " };
    match verdict {
        VerdictView::Empty => Span::styled(format!("{label}no operations yet"), theme::dim()),
        VerdictView::Linearizable { ops } => Span::styled(
            format!("{label}linearizable ✓ ({ops} op{})", if *ops == 1 { "" } else { "s" }),
            theme::good(),
        ),
        VerdictView::NotLinearizable { key, .. } => Span::styled(
            format!("{label}NOT linearizable ✗ (key {key})"),
            theme::bad().add_modifier(Modifier::BOLD),
        ),
        VerdictView::Unknown { .. } => Span::styled(format!("{label}unknown (time limit)"), theme::warn()),
    }
}
