//! The narration panel of a lesson (`quorum lesson NAME`): the lesson's title, the step number
//! and title, the step's narration, wrapped, and what `n` does next.

use super::{panel, theme, title};
use crate::tui::screen::LessonView;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

/// The narration panel.
pub struct Narration<'a> {
    /// The lesson.
    pub lesson: &'a LessonView,
}

impl Narration<'_> {
    /// Where the lesson is: `step 2/7`, or `before step 1 of 7`.
    pub fn position(&self) -> String {
        let l = self.lesson;
        match &l.step {
            Some(_) => format!("step {}/{}", l.position, l.total),
            None => format!("before step 1 of {}", l.total),
        }
    }
}

impl Widget for Narration<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let l = self.lesson;
        // The position first, so that it shows however narrow the panel; the lesson's title
        // after it, as far as it fits; the step's title in bold inside, wrapped.
        let block = panel(title("Lesson", &format!("{} · {}", self.position(), l.title)));
        let mut lines: Vec<Line> = Vec::new();
        if let Some(step) = &l.step {
            lines.push(Line::styled(format!("{}. {step}", l.position), theme::title()));
        }
        // The author's lines make paragraphs (an empty one breaks them), wrapped to the panel.
        for (i, paragraph) in l.narration.split(String::is_empty).enumerate() {
            if i > 0 {
                lines.push(Line::raw(""));
            }
            lines.push(Line::raw(paragraph.join(" ")));
        }
        let state = if l.playing {
            Line::styled("▶ playing… (n: finish it at once)", theme::warn())
        } else if let Some(e) = &l.error {
            Line::styled(format!("✗ the step did not go as written: {e}"), theme::bad())
        } else if l.diverged {
            Line::styled(
                "you changed the cluster: n plays on from here, b returns to the lesson",
                theme::warn(),
            )
        } else {
            match &l.next {
                Some(next) => Line::from(vec![
                    Span::styled(" n ", theme::key()),
                    Span::raw(format!(" step {}: {next}", l.position + 1)),
                    Span::styled(if l.position > 0 { "   b back" } else { "" }, theme::dim()),
                ]),
                None => Line::styled("the end of the lesson · b goes back a step", theme::dim()),
            }
        };
        // The state is pinned to the bottom, so that a long narration never hides what `n`
        // does next or why a step failed; the narration gets the rows above it.
        let inner = block.inner(area);
        block.render(area, buf);
        let state_w: usize = state.spans.iter().map(|s| super::width_of(&s.content)).sum();
        let state_h =
            (state_w.div_ceil(inner.width.max(1) as usize) as u16).clamp(1, inner.height.div_ceil(2).max(1));
        let gap = u16::from(inner.height >= 6);
        let text_h = inner.height.saturating_sub(state_h + gap);
        let text = Rect { height: text_h, ..inner };
        let pinned =
            Rect { y: inner.bottom().saturating_sub(state_h), height: state_h.min(inner.height), ..inner };
        Paragraph::new(lines).wrap(Wrap { trim: false }).render(text, buf);
        Paragraph::new(state).wrap(Wrap { trim: false }).render(pinned, buf);
    }
}
