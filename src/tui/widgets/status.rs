//! The two bottom lines: the message line (a prompt while one is open, the editor's or picker's
//! instructions, an error or notice, or else the latest client result) and the key bar, which
//! is generated from the keymap for the current context.

use super::super::keymap::{self, Context};
use super::super::screen::{Mode, PromptKind, ScreenState};
use super::super::theme;
use super::clients::client_line;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

/// The message line.
pub struct StatusLine<'a> {
    /// What to show.
    pub screen: &'a ScreenState,
    /// Whether the clients panel is on screen (then the last result need not be repeated).
    pub clients_shown: bool,
}

/// What a prompt says before the input.
pub fn prompt_label(kind: PromptKind, screen: &ScreenState) -> String {
    match kind {
        PromptKind::Put => format!("put via {}", screen.selected),
        PromptKind::Get => format!("get via {}", screen.selected),
        PromptKind::Loss => "message loss".to_string(),
        PromptKind::Delay => "message delay".to_string(),
    }
}

/// What to type, shown while the prompt is empty.
pub fn prompt_hint(kind: PromptKind) -> &'static str {
    match kind {
        PromptKind::Put => "key=value, e.g. color=blue",
        PromptKind::Get => "a key, e.g. color",
        PromptKind::Loss => "percent from 0 to 100, e.g. 5",
        PromptKind::Delay => "milliseconds lo-hi, e.g. 2-10 (0 for none)",
    }
}

fn error_span(error: &Option<String>) -> Vec<Span<'static>> {
    match error {
        Some(e) => {
            vec![Span::raw("  "), Span::styled(format!("✗ {e}"), theme::bad().add_modifier(Modifier::BOLD))]
        }
        None => Vec::new(),
    }
}

impl Widget for StatusLine<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.screen;
        let line = match &s.mode {
            Mode::Prompt { kind, input, error } => {
                let mut spans = vec![
                    Span::styled(format!(" {} › ", prompt_label(*kind, s)), theme::title()),
                    Span::raw(input.clone()),
                    Span::styled("█", theme::text()),
                ];
                if input.is_empty() && error.is_none() {
                    spans.push(Span::styled(format!(" {}", prompt_hint(*kind)), theme::dim()));
                }
                spans.extend(error_span(error));
                Line::from(spans)
            }
            Mode::Editor { error, .. } => {
                let mut spans = vec![Span::styled(
                    " partition editor: give each side of the split its group",
                    theme::title(),
                )];
                spans.extend(error_span(error));
                Line::from(spans)
            }
            Mode::Pick { from, error } => {
                let ask = match from {
                    None => " cut or restore a one-way link: press the SENDING node's number".to_string(),
                    Some(a) => format!(" {a} → ?  press the RECEIVING node's number"),
                };
                let mut spans = vec![Span::styled(ask, theme::title())];
                spans.extend(error_span(error));
                Line::from(spans)
            }
            Mode::Switches { error } => {
                let sw = s.switches.unwrap_or(crate::raft::Switches::CORRECT);
                let mark = |on: bool| if on { "[on]" } else { "[off]" };
                let text = format!(
                    " bugs: 1 local-reads {} · 2 commit-old-term {} · 3 PreVote {} · 4 CheckQuorum {}",
                    mark(sw.hazard == Some(crate::raft::Hazard::LocalReads)),
                    mark(sw.hazard == Some(crate::raft::Hazard::CommitOldTerm)),
                    mark(sw.pre_vote),
                    mark(sw.check_quorum),
                );
                let mut spans = vec![Span::styled(text, theme::title())];
                spans.extend(error_span(error));
                Line::from(spans)
            }
            Mode::Flight { chosen, error } => {
                let what = match chosen.and_then(|id| s.flight.get(id)) {
                    Some(m) if s.is_held(m.id) => format!(" m{} {} (held)", m.id, m.message),
                    Some(m) => format!(" m{} {} (on its way: m holds the network)", m.id, m.message),
                    None => " nothing in flight".to_string(),
                };
                let mut spans = vec![Span::styled(what, theme::title())];
                spans.extend(error_span(error));
                Line::from(spans)
            }
            Mode::Help => Line::styled(" help: every key of the console", theme::title()),
            Mode::Log { index } => Line::styled(
                format!(" log cursor at index {index}: its entry on every node, where the maps were"),
                theme::title(),
            ),
            Mode::History => history_line(s),
            Mode::Normal => match (&s.notice, s.clients.iter().rev().find(|c| c.outcome.is_some())) {
                (Some(n), _) if n.error => {
                    Line::styled(format!(" ✗ {}", n.text), theme::bad().add_modifier(Modifier::BOLD))
                }
                (Some(n), _) => Line::styled(format!(" {}", n.text), theme::text()),
                (None, Some(c)) if !self.clients_shown => {
                    let mut l = client_line(c);
                    l.spans.insert(0, Span::raw(" last client result: "));
                    l
                }
                (None, _) => Line::styled(" press ? for every key", theme::dim()),
            },
        };
        if area.height > 1 {
            Paragraph::new(line).wrap(Wrap { trim: false }).render(area, buf);
        } else {
            buf.set_line(area.x, area.y, &line, area.width);
        }
    }
}

/// The history view's message line: a notice, else the event at the cursor, whole.
fn history_line(s: &ScreenState) -> Line<'static> {
    match &s.notice {
        Some(n) if n.error => {
            Line::styled(format!(" ✗ {}", n.text), theme::bad().add_modifier(Modifier::BOLD))
        }
        Some(n) => Line::styled(format!(" {}", n.text), theme::text()),
        None => {
            let seq = s.history.as_ref().and_then(|h| h.seq);
            match seq.and_then(|seq| s.feed.events.iter().rev().find(|e| e.seq == seq)) {
                Some(e) => Line::from(vec![
                    Span::styled(format!(" #{} ", e.seq), theme::title()),
                    Span::raw(super::super::feed::narrate(e)),
                ]),
                None => Line::styled(" before the first event · → steps forward", theme::dim()),
            }
        }
    }
}

/// The key bar for the current mode.
pub struct KeyBar<'a> {
    /// What to show.
    pub screen: &'a ScreenState,
}

/// The keymap context of a mode.
pub fn context(mode: &Mode) -> Context {
    match mode {
        Mode::Normal => Context::Main,
        Mode::Help => Context::Help,
        Mode::Prompt { .. } => Context::Prompt,
        Mode::Editor { .. } => Context::Editor,
        Mode::Pick { .. } => Context::Pick,
        Mode::Flight { .. } => Context::Flight,
        Mode::Switches { .. } => Context::Bugs,
        Mode::Log { .. } => Context::Log,
        Mode::History => Context::History,
    }
}

/// Lays chips of the given widths out in lines of `width`, in order; `None` if they need more
/// than `lines` lines.
fn flow(widths: &[usize], width: usize, lines: usize) -> Option<Vec<Vec<usize>>> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = 1;
    for (i, &w) in widths.iter().enumerate() {
        if used + w > width {
            out.push(Vec::new());
            used = 1;
        }
        if out.len() > lines || used + w > width {
            return None;
        }
        used += w;
        if let Some(line) = out.last_mut() {
            line.push(i);
        }
    }
    Some(out)
}

impl Widget for KeyBar<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let replay = self.screen.history.as_ref().is_some_and(|h| h.replay.is_some());
        // A replay cannot be left for a present, nor forked: no engine runs.
        use crate::tui::action::Action;
        let skip: &[Action] = if replay { &[Action::Cancel, Action::HistoryFork] } else { &[] };
        let mut entries = keymap::bar_without(context(&self.screen.mode), skip);
        if self.screen.lesson.is_some() && self.screen.mode == crate::tui::screen::Mode::Normal {
            // A lesson's keys first; `n` and `b` are theirs, so the dashboard's go.
            let lesson = keymap::bar(Context::Lesson);
            entries.retain(|e| !lesson.iter().any(|l| l.0 == e.0));
            entries.splice(0..0, lesson);
        }
        let chip = |&(k, w, _): &(&str, &str, u8)| {
            vec![Span::styled(format!(" {k} "), theme::key()), Span::raw(format!(" {w}  "))]
        };
        let chip_width = |e: &(&str, &str, u8)| chip(e).iter().map(Span::width).sum::<usize>();
        // The most important keys first, as long as they fit; then shown in table order.
        let mut chosen: Vec<usize> = Vec::new();
        let top = entries.iter().map(|e| e.2).max().unwrap_or(0);
        for priority in 0..=top {
            for (i, _) in entries.iter().enumerate().filter(|(_, e)| e.2 == priority) {
                let mut trial = chosen.clone();
                trial.push(i);
                trial.sort_unstable();
                let widths: Vec<usize> = trial.iter().map(|&j| chip_width(&entries[j])).collect();
                if flow(&widths, area.width as usize, area.height as usize).is_some() {
                    chosen = trial;
                }
            }
        }
        let widths: Vec<usize> = chosen.iter().map(|&j| chip_width(&entries[j])).collect();
        let Some(lines) = flow(&widths, area.width as usize, area.height as usize) else { return };
        for (row, line) in lines.iter().enumerate() {
            let mut spans = vec![Span::raw(" ")];
            for &k in line {
                spans.extend(chip(&entries[chosen[k]]));
            }
            buf.set_line(area.x, area.y + row as u16, &Line::from(spans), area.width);
        }
    }
}
