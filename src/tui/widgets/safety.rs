//! The safety line: Raft's safety properties and the history's linearizability, each ✓ or ✗,
//! re-evaluated as events arrive. The checks are the simulator's own (`crate::safety`), fed by
//! the console's event stream (no second copy); the linearizability verdict is the checker
//! thread's. On a ✗ the line leads with the first broken property and the event that broke it:
//!
//! ```text
//!  safety ✗ state machine: #1234 n3@4 apply 7@4 c1#2 put x=2 (n1 applied c1#1 put x=1) · election ✓ …
//! ```

use super::super::screen::{ScreenState, VerdictView};
use super::super::theme;
use super::{fit, width_of};
use crate::safety::{self, Report};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// The properties always on the line, with their short names; the others (terms, commit
/// indexes, leader append-only) appear only once broken, under their full names.
const SHOWN: [(&str, &str); 4] = [
    (safety::ELECTION, "election"),
    (safety::LOG_MATCHING, "log matching"),
    (safety::COMPLETENESS, "completeness"),
    (safety::STATE_MACHINE, "state machine"),
];

/// The safety line.
pub struct SafetyLine<'a> {
    /// What to show.
    pub screen: &'a ScreenState,
}

fn short_name(property: &str) -> &str {
    SHOWN.iter().find(|(p, _)| *p == property).map_or(property, |(_, short)| short)
}

fn bad() -> Style {
    theme::bad().add_modifier(Modifier::BOLD)
}

/// How a property stands.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mark {
    Broken,
    Unknown,
    Holds,
}

/// The first breach, in words (`✗ state machine: #1234 n3@4 apply … (n1 applied …)`, or the
/// history's if it is the only thing broken), with the name of the property it is about.
fn breach(report: &Report, verdict: &VerdictView) -> Option<(&'static str, String)> {
    if let Some(v) = report.broken.first() {
        let name = short_name(v.property);
        return Some((name, format!("✗ {name}: {v}")));
    }
    match verdict {
        VerdictView::NotLinearizable { key, reason } => {
            Some(("linearizable", format!("✗ linearizable: key {key}: {reason}")))
        }
        _ => None,
    }
}

/// Every property's mark: the four always shown, any other that broke, and the history's; the
/// broken first, then the undecided, each group in its order.
fn marks(report: &Report, verdict: &VerdictView) -> Vec<(&'static str, Mark)> {
    let state = |broken: bool| if broken { Mark::Broken } else { Mark::Holds };
    let mut marks: Vec<(&'static str, Mark)> =
        SHOWN.iter().map(|&(property, short)| (short, state(report.first(property).is_some()))).collect();
    for v in report.broken.iter().filter(|v| SHOWN.iter().all(|(p, _)| *p != v.property)) {
        marks.push((v.property, Mark::Broken));
    }
    let history = match verdict {
        VerdictView::Empty | VerdictView::Linearizable { .. } => Mark::Holds,
        VerdictView::NotLinearizable { .. } => Mark::Broken,
        VerdictView::Unknown { .. } => Mark::Unknown,
    };
    marks.push(("linearizable", history));
    marks.sort_by_key(|&(_, mark)| mark);
    marks
}

fn mark_spans(name: &str, mark: Mark) -> [Span<'static>; 2] {
    let symbol = match mark {
        Mark::Holds => Span::styled(" ✓", theme::good()),
        Mark::Broken => Span::styled(" ✗", bad()),
        Mark::Unknown => Span::styled(" ?", theme::warn()),
    };
    [Span::styled(name.to_string(), theme::text()), symbol]
}

impl Widget for SafetyLine<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let (report, verdict) = (&self.screen.safety, &self.screen.verdict);
        let width = area.width as usize;
        let mut spans = vec![Span::styled(" safety", theme::title())];
        let mut used = width_of(" safety");
        let mut marks = marks(report, verdict);
        let mut first_gap = None;
        if let Some((name, text)) = breach(report, verdict) {
            // The breach names its property: its mark would say it twice. It takes two thirds
            // of the line at most, so the other marks keep some room (the status line says it
            // whole).
            marks.retain(|&(n, _)| n != name);
            let text = fit(&text, (width * 2 / 3).max(40).min(width.saturating_sub(used + 2)));
            used += 1 + width_of(&text);
            spans.push(Span::raw(" "));
            spans.push(Span::styled(text, bad()));
            first_gap = Some(" · ");
        }
        // Two spaces apart where they all fit, one where that makes them fit; whole marks only.
        let all: usize = marks.iter().map(|(n, _)| width_of(n) + 4).sum();
        let gap = if used + all <= width { "  " } else { " " };
        for (i, &(name, mark)) in marks.iter().enumerate() {
            let sep = match first_gap {
                Some(first) if i == 0 => first,
                _ => gap,
            };
            let w = width_of(sep) + width_of(name) + 2;
            if used + w > width {
                break;
            }
            used += w;
            spans.push(Span::styled(sep, theme::dim()));
            spans.extend(mark_spans(name, mark));
        }
        let count = format!("   {} events checked", thousands(report.events));
        if used + width_of(&count) < width {
            spans.push(Span::styled(count, theme::dim()));
        }
        buf.set_line(area.x, area.y, &Line::from(spans), area.width);
    }
}

/// `12,345`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The header's words for the checks when a safety property broke (`SAFETY ✗ state machine`),
/// at every size, since the safety line has no room on the smallest screens; `None` while every
/// property holds.
pub fn header_alarm(screen: &ScreenState) -> Option<Span<'static>> {
    let v = screen.safety.broken.first()?;
    Some(Span::styled(format!("SAFETY ✗ {}", short_name(v.property)), bad()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_in_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
