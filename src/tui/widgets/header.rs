//! The header line: cluster size, leader and term, speed (or `lecture pace`), running or frozen, and the
//! checker's verdict on the right.

use super::super::lecture;
use super::super::screen::{HistoryView, ScreenState};
use super::super::theme;
use super::{header_alarm, speed_label, verdict_span};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// The header line.
pub struct Header<'a> {
    /// What to show.
    pub screen: &'a ScreenState,
}

impl Widget for Header<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.screen;
        let bold_good = theme::good().add_modifier(Modifier::BOLD);
        // (spans, optional): optional parts are left out, last first, when the line is too long.
        let mut parts: Vec<(Vec<Span>, bool)> = vec![
            (vec![Span::styled("quorum", theme::title())], true),
            (
                vec![Span::raw(format!(
                    "{} node{}",
                    s.nodes.len(),
                    if s.nodes.len() == 1 { "" } else { "s" }
                ))],
                true,
            ),
        ];
        let term = s.nodes.iter().map(|n| n.term).max().unwrap_or_default();
        match s.leader() {
            Some(l) => {
                let mut spans = vec![Span::raw("leader "), Span::styled(l.id.to_string(), bold_good)];
                if l.run == crate::control::RunState::Paused {
                    spans.push(Span::styled(" (paused)", theme::warn()));
                }
                parts.push((spans, false));
            }
            None => parts
                .push((vec![Span::styled("no leader", theme::bad().add_modifier(Modifier::BOLD))], false)),
        }
        parts.push((vec![Span::raw(format!("term {}", s.leader().map_or(term, |l| l.term)))], false));
        let speed_style = if (s.speed - 1.0).abs() < 1e-9 { theme::text() } else { theme::warn() };
        let speed = if lecture::is_on(s.speed, &s.network) {
            format!("lecture pace {}", speed_label(s.speed))
        } else {
            format!("speed {}", speed_label(s.speed))
        };
        parts.push((vec![Span::styled(speed, speed_style)], false));
        let state = state_chips(s);
        parts.push((state, false));
        parts.push((vec![Span::styled(s.storage.clone(), theme::dim())], true));
        let line = |parts: &[(Vec<Span<'static>>, bool)]| {
            let mut spans = vec![Span::raw(" ")];
            for (i, (p, _)) in parts.iter().enumerate() {
                if i > 0 {
                    spans.push(Span::styled(" · ", theme::dim()));
                }
                spans.extend(p.iter().cloned());
            }
            Line::from(spans)
        };
        let width = area.width as usize;
        if let Some(view) = &s.history {
            // The past: the chip that says so comes first, the figures of that moment after it.
            let mut keep: Vec<(Vec<Span<'static>>, bool)> = parts.into_iter().skip(2).collect();
            keep.pop();
            // Leader and term stay; the speed and the state chips go first when it is narrow.
            let short = history_chip(view, true).width() + 2;
            while keep.len() > 2 && line(&keep).width() + short > width {
                keep.pop();
            }
            return render_history(&line(&keep), view, area, buf);
        }
        // A broken safety property takes the verdict's place: it is the graver news.
        let verdict = |short| header_alarm(s).unwrap_or_else(|| verdict_span(&s.verdict, short));
        let mut right = Line::from(vec![verdict(false), Span::raw(" ")]);
        let mut left = line(&parts);
        // Drop the node count, then the name, then shorten the verdict, then drop the engine
        // and storage (they stay as long as the line can hold them: they say what runs).
        for drop in [1usize, 0] {
            if left.width() + right.width() < width {
                break;
            }
            if parts.get(drop).is_some_and(|p| p.1) {
                parts.remove(drop);
                left = line(&parts);
            }
        }
        if left.width() + right.width() + 1 > width {
            right = Line::from(vec![verdict(true), Span::raw(" ")]);
        }
        if left.width() + right.width() >= width && parts.last().is_some_and(|p| p.1) {
            parts.pop();
            left = line(&parts);
        }
        buf.set_line(area.x, area.y, &left, area.width);
        let rw = right.width() as u16;
        if left.width() + right.width() < width {
            buf.set_line(area.right() - rw, area.y, &right, rw);
        }
    }
}

/// The history view's header: `REWOUND to event 1234 of 5678 · t=12.345 s` (or `REPLAY of
/// FILE · …`) on the right, whole if it fits and shorter if not, never left out; the figures of
/// that moment on the left, cut if they must be.
fn render_history(left: &Line<'static>, view: &HistoryView, area: Rect, buf: &mut Buffer) {
    let width = area.width as usize;
    let mut chip = Line::from(vec![history_chip(view, false), Span::raw(" ")]);
    if left.width() + chip.width() >= width {
        chip = Line::from(vec![history_chip(view, true), Span::raw(" ")]);
    }
    let cw = (chip.width() as u16).min(area.width);
    buf.set_line(area.x, area.y, left, area.width.saturating_sub(cw + 1));
    buf.set_line(area.right() - cw, area.y, &chip, cw);
}

/// Where the history view stands, in words, by the numbers events carry (the safety line's
/// `#N`): `REWOUND to event 1234 of 5677 · t=12.345 s`; `short` for a narrow screen.
pub fn history_chip(view: &HistoryView, short: bool) -> Span<'static> {
    let t = view.time as f64 / 1e9;
    let play = if view.playing { format!(" ▶ {}", speed_label(view.play_speed)) } else { String::new() };
    let newest = view.newest.map_or_else(|| "none".to_string(), |n| n.to_string());
    let at = match (view.seq, short) {
        (Some(seq), false) => format!("event {seq} of {newest} · t={t:.3} s"),
        (Some(seq), true) => format!("{seq}/{newest} · {t:.3} s"),
        (None, false) => format!("the start, before event 0 of {newest}"),
        (None, true) => format!("start/{newest}"),
    };
    let text = match (&view.replay, short) {
        (None, false) => format!(" REWOUND to {at}{play} "),
        (None, true) => format!(" REWOUND {at}{play} "),
        (Some(name), false) => format!(" REPLAY of {name} · {at}{play} "),
        (Some(name), true) => {
            let file = name.rsplit('/').next().unwrap_or(name);
            format!(" REPLAY {} · {at}{play} ", super::fit(file, 16))
        }
    };
    Span::styled(text, Style::default().fg(Color::Black).bg(Color::Magenta).add_modifier(Modifier::BOLD))
}

/// Running or FROZEN, then HOLDING and the switched bugs when they apply.
fn state_chips(s: &ScreenState) -> Vec<Span<'static>> {
    let state = if s.frozen {
        Span::styled(
            " FROZEN ",
            Style::default().fg(Color::White).bg(Color::Blue).add_modifier(Modifier::BOLD),
        )
    } else {
        Span::styled("running", theme::good())
    };
    let mut state = vec![state];
    if s.network.holds() {
        state.push(Span::raw(" "));
        state.push(Span::styled(
            format!(" HOLDING {} ", s.held.len()),
            Style::default().fg(Color::Black).bg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(bugs) = s.switches.map(|sw| sw.describe()).filter(|b| !b.is_empty()) {
        state.push(Span::raw(" "));
        state.push(Span::styled(
            format!(" {} ", bugs.join(", ").to_uppercase()),
            Style::default().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    state
}
