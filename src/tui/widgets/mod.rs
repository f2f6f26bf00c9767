//! One small widget per area of the screen. Each draws from a [`ScreenState`] only.

mod clients;
mod entry;
mod events;
mod flight;
mod header;
mod lesson;
mod logs;
mod maps;
mod network;
mod nodes;
mod overlays;
mod safety;
mod spacetime;
mod status;
mod timeline;

pub use clients::{Clients, client_line, latency, redis_cli};
pub use entry::EntryPanel;
pub use events::{Events, category_style, page};
pub use flight::FlightPanel;
pub use header::{Header, history_chip};
pub use lesson::Narration;
pub use logs::{Logs, index_at as log_index_at};
pub use maps::Maps;
pub use network::NetworkPanel;
pub use nodes::Nodes;
pub use overlays::{EditorOverlay, HelpOverlay, TooSmall, editor_groups};
pub use safety::{SafetyLine, header_alarm};
pub use spacetime::{SpaceTime, short_kind};
pub use status::{KeyBar, StatusLine, context as context_of};
pub use timeline::ClientTimeline;

use super::screen::VerdictView;
use super::theme;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};

#[cfg(doc)]
use super::screen::ScreenState;

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

/// The columns `s` takes on a terminal (a `🔑` or a `日` takes two, a combining mark none):
/// what layout must measure, not the number of characters.
pub fn width_of(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// Cuts `s` to at most `width` columns, ending with `…` when cut.
pub fn fit(s: &str, width: usize) -> String {
    if width_of(s) <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// `s` cut to `width` columns (see [`fit`]) and padded with spaces to exactly `width` columns.
pub fn pad(s: &str, width: usize) -> String {
    let mut out = fit(s, width);
    let used = width_of(&out);
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(used)));
    out
}

/// `text` broken into lines of at most `width` columns, at spaces where it can (a word longer
/// than a line is cut where it must be).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let sep = usize::from(!line.is_empty());
        if !line.is_empty() && width_of(&line) + sep + width_of(word) > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        // A word longer than a whole line: cut it into pieces.
        let mut rest = word;
        while width_of(&line) + width_of(rest) > width && !rest.is_empty() {
            let mut used = width_of(&line);
            let mut cut = 0;
            for (i, c) in rest.char_indices() {
                let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                if used + w > width {
                    break;
                }
                used += w;
                cut = i + c.len_utf8();
            }
            if cut == 0 && line.is_empty() {
                // Not even one character fits (a wide one in a one-column line): take it anyway.
                cut = rest.chars().next().map_or(0, char::len_utf8);
            }
            line.push_str(&rest[..cut]);
            rest = &rest[cut..];
            lines.push(std::mem::take(&mut line));
        }
        line.push_str(rest);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
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
        VerdictView::Linearizable { ops, failed } => {
            let plural = if *ops == 1 { "" } else { "s" };
            let failed = match failed {
                0 => String::new(),
                f => format!("; {f} failed left out"),
            };
            Span::styled(format!("{label}linearizable ✓ ({ops} op{plural}{failed})"), theme::good())
        }
        VerdictView::NotLinearizable { key, .. } => Span::styled(
            format!("{label}NOT linearizable ✗ (key {key})"),
            theme::bad().add_modifier(Modifier::BOLD),
        ),
        VerdictView::Unknown { .. } => Span::styled(format!("{label}unknown (time limit)"), theme::warn()),
    }
}
