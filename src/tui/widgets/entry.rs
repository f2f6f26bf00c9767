//! The log cursor's panel (`o`), drawn where the committed maps are while the cursor is on: the
//! selected index on every node. The first line names the entry (its term and command, paper
//! §5.3: one index and term, one entry); then a line per node says whether that node holds it,
//! knows it committed and has applied it, or does not have it. Where nodes disagree on the term
//! at that index, the panel says so, and the rows holding another term than the one that counts
//! (a committed copy, else the leader's) are marked `≠` with their own term and command.

use super::super::cells::{self, Cell, Column, Held};
use super::super::screen::ScreenState;
use super::super::theme;
use super::panel;
use crate::raft::{LogIndex, Term};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// The selected index on every node.
pub struct EntryPanel<'a> {
    /// What to show.
    pub screen: &'a ScreenState,
    /// The selected index.
    pub index: LogIndex,
}

fn term_style(term: Term) -> Style {
    Style::default().fg(theme::term_colour(term)).add_modifier(Modifier::BOLD)
}

/// The panel's title: the index, and a conflict if there is one (the keys are in the key bar).
fn title(column: &Column) -> Line<'static> {
    let mut spans = vec![Span::styled(format!(" entry {} ", column.index), theme::title())];
    if column.conflict() {
        spans.push(Span::styled("≠ terms differ ", theme::bad().add_modifier(Modifier::BOLD)));
    }
    Line::from(spans)
}

/// The first line: the entry that counts at this index, or why none can be named.
fn summary(column: &Column) -> Line<'static> {
    match &column.reference {
        Some((term, command)) => Line::from(vec![
            Span::styled(format!("term {term}"), term_style(*term)),
            Span::styled(" · ", theme::dim()),
            Span::styled(cells::command_words(command.as_deref(), column.index), theme::text()),
        ]),
        None if column.terms.is_empty() => Line::styled("no node reports an entry here", theme::dim()),
        None => {
            let held: Vec<String> = column
                .terms
                .iter()
                .map(|(t, ns)| {
                    format!("{t} on {}", ns.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))
                })
                .collect();
            Line::styled(format!("terms {}: none committed yet", held.join(", ")), theme::bad())
        }
    }
}

/// One node's line: where its copy stands, and its own term and command where it differs.
fn row(screen: &ScreenState, column: &Column, cell: &Cell) -> Line<'static> {
    let (run, role) = screen.node(cell.node).map_or((None, None), |n| (Some(n.run.clone()), n.role));
    let name = match &run {
        Some(run) => theme::label(run, role, cell.node == screen.selected),
        None => theme::dim(),
    };
    let mut spans = vec![Span::styled(format!("{:<4}", cell.node.to_string()), name)];
    let state = match &cell.held {
        Held::Entry { applied: true, .. } | Held::Entry { committed: true, .. } => theme::good(),
        Held::Entry { .. } => theme::warn(),
        Held::Absent { .. } | Held::NotReported => theme::dim(),
        Held::Compacted { .. } => theme::good(),
    };
    if let Held::Entry { term, .. } = &cell.held
        && cell.differs
    {
        spans.push(Span::styled("≠ ", theme::bad().add_modifier(Modifier::BOLD)));
        spans.push(Span::styled(format!("term {term}"), term_style(*term)));
        spans.push(Span::styled(" · ", theme::dim()));
    }
    spans.push(Span::styled(cells::state_words(&cell.held), state));
    if let Held::Entry { command, .. } = &cell.held
        && cell.differs
    {
        spans.push(Span::styled(" · ", theme::dim()));
        spans.push(Span::raw(cells::command_words(command.as_deref(), column.index)));
    }
    if cell.down {
        spans.push(Span::styled(" · last known", theme::dim()));
    }
    Line::from(spans)
}

impl Widget for EntryPanel<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let column = cells::column(self.screen, self.index);
        let block = panel(title(&column));
        let inner = block.inner(area);
        block.render(area, buf);
        let inner = Rect { x: inner.x + 1, width: inner.width.saturating_sub(1), ..inner };
        let mut lines = vec![summary(&column)];
        lines.extend(column.cells.iter().map(|c| row(self.screen, &column, c)));
        for (i, line) in lines.iter().take(inner.height as usize).enumerate() {
            let y = inner.y + i as u16;
            buf.set_line(inner.x, y, line, inner.width);
            // A line longer than the panel ends with an ellipsis where it is cut.
            if line.width() > inner.width as usize && inner.width > 0 {
                buf.set_string(inner.right() - 1, y, "…", theme::dim());
            }
        }
    }
}
