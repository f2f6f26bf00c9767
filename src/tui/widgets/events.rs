//! The event feed: the cluster's narration, newest at the bottom, coloured by kind, filtered by
//! node and kind, frozen or scrolled on demand while the cluster goes on.

use super::super::action::Action;
use super::super::feed::{self, Category, Feed};
use super::super::keymap;
use super::super::screen::ScreenState;
use super::super::theme;
use super::panel;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Widget};

/// The event feed panel.
pub struct Events<'a> {
    /// What to show.
    pub screen: &'a ScreenState,
}

/// The colour of each kind of event.
pub fn category_style(c: Category) -> Style {
    match c {
        Category::Election => Style::default().fg(Color::Yellow),
        Category::Replication => Style::default().fg(Color::Cyan),
        Category::Client => Style::default().fg(Color::Green),
        Category::Fault => Style::default().fg(Color::LightRed),
        Category::Heartbeat => Style::default().fg(Color::Gray),
    }
}

/// Columns of the time in front of each event (`  1.234 `).
const TIME_WIDTH: usize = 8;

/// Lines the feed moves by for a page, given its area.
pub fn page(area: Rect) -> usize {
    area.height.saturating_sub(3).max(1) as usize
}

impl Widget for Events<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let f = &self.screen.feed;
        let block = feed_block(f, self.screen.rebuilt(), self.screen.lesson.is_some());
        let inner = block.inner(area);
        block.render(area, buf);
        let lines = feed_lines(f, inner.width as usize, inner.height as usize);
        if lines.is_empty() {
            let why = if f.kind == feed::KindFilter::All && f.node.is_none() {
                "nothing yet"
            } else {
                "nothing matches the filters (f, n)"
            };
            buf.set_string(inner.x + 1, inner.y, why, theme::dim());
            return;
        }
        Paragraph::new(lines).render(inner, buf);
    }
}

/// The panel's frame: the filters, freeze and scroll in the title, the feed's keys at the bottom.
fn feed_block(f: &Feed, past: bool, lesson: bool) -> Block<'static> {
    let mut details = vec![
        f.node.map_or_else(|| "all nodes".to_string(), |n| format!("{n} only")),
        f.kind.name().to_string(),
    ];
    if f.frozen {
        let new = f.pending.len() as u64 + f.missed;
        details.push(format!("FROZEN, {new} new"));
    }
    if f.scroll > 0 {
        details.push(format!("↑{}", f.scroll));
    }
    let frozen_style = Style::default().fg(Color::White).bg(Color::Blue).add_modifier(Modifier::BOLD);
    let mut title = vec![Span::styled(" events ", theme::title())];
    for (i, d) in details.iter().enumerate() {
        let style = if d.starts_with("FROZEN") { frozen_style } else { theme::dim() };
        if i > 0 {
            title.push(Span::styled(" · ", theme::dim()));
        }
        title.push(Span::styled(d.clone(), style));
    }
    title.push(Span::raw(" "));
    if past {
        let hint = " up to the cursor · f kind ";
        return panel(Line::from(title)).title_bottom(Line::styled(hint, theme::dim()).right_aligned());
    }
    // A lesson's keys come first (its `n` is the next step; the feed's is `N` then).
    let label = |a: Action| {
        let lesson = lesson.then(|| keymap::label_of(keymap::Context::Lesson, a)).flatten();
        lesson.or_else(|| keymap::label_of(keymap::Context::Main, a)).unwrap_or("?")
    };
    let hint = format!(
        "{} freeze · {} kind · {} node · {}{} scroll",
        label(Action::FeedFreeze),
        label(Action::FeedKind),
        label(Action::FeedNode),
        label(Action::Scroll(1)),
        label(Action::Scroll(-1)),
    );
    panel(Line::from(title)).title_bottom(Line::styled(format!(" {hint} "), theme::dim()).right_aligned())
}

/// The lines of the feed that fit `width` by `height`, oldest first, ending at the scroll position.
fn feed_lines(f: &Feed, width: usize, height: usize) -> Vec<Line<'static>> {
    let visible = f.visible();
    let scroll = f.scroll.min(visible.len().saturating_sub(1));
    let end = visible.len() - scroll;
    // Newest at the bottom: take events back from `end` until the panel is full. A line
    // longer than the panel wraps at a word (never cut mid-word), under its time.
    let text_width = width.saturating_sub(TIME_WIDTH).max(1);
    let mut lines: Vec<Line> = Vec::new();
    for e in visible[..end].iter().rev() {
        if lines.len() >= height {
            break;
        }
        let mut style = category_style(feed::category(e));
        let mut time_style = theme::dim();
        if Some(e.seq) == f.highlight {
            style = style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
            time_style = style;
        }
        let mut event_lines: Vec<Line> = super::wrap(&feed::narrate(e), text_width)
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                let time =
                    if i == 0 { format!("{:>7.3} ", e.time as f64 / 1e9) } else { " ".repeat(TIME_WIDTH) };
                Line::from(vec![Span::styled(time, time_style), Span::styled(part, style)])
            })
            .collect();
        // The oldest event shown may not fit whole: keep its last lines.
        let room = height - lines.len();
        if event_lines.len() > room {
            event_lines.drain(..event_lines.len() - room);
        }
        for l in event_lines.into_iter().rev() {
            lines.push(l);
        }
    }
    lines.reverse();
    lines
}
