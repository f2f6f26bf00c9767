//! The nodes: a card each when they fit side by side, a table row each otherwise. Both show the
//! role (or DEAD / PAUSED / CRASHED) as a coloured badge, term and vote, the known leader (for a
//! pre-candidate, the term it asks for instead: its own term does not change, thesis §9.6),
//! commit and applied indexes, the last entry (and the snapshot's index once the log is
//! compacted, paper §7), the election timer as a bar, and for the leader each follower's
//! match/next index, and `→ n2` while it hands its leadership to n2 (thesis §3.10).

use super::super::layout::{Areas, NodesStyle};
use super::super::screen::ScreenState;
use super::super::theme;
use super::{fit, panel, title};
use crate::control::{NodeStatus, RunState};
use crate::raft::{NodeId, Role};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Widget};

/// All the nodes, as cards or as a table (the layout decides).
pub struct Nodes<'a> {
    /// What to show.
    pub screen: &'a ScreenState,
    /// Where everything goes.
    pub areas: &'a Areas,
}

impl Widget for Nodes<'_> {
    fn render(self, _area: Rect, buf: &mut Buffer) {
        match self.areas.style {
            NodesStyle::Cards => {
                for (node, &rect) in self.screen.nodes.iter().zip(&self.areas.node_rects) {
                    card(self.screen, node, rect, buf);
                }
            }
            NodesStyle::Table => table(self.screen, self.areas.nodes, buf),
        }
    }
}

fn is_down(run: &RunState) -> bool {
    matches!(run, RunState::Dead | RunState::Crashed(_))
}

fn opt(n: Option<NodeId>) -> String {
    n.map_or_else(|| "—".to_string(), |n| n.to_string())
}

/// The election timer as a bar of `width` cells, coloured by how close it is to firing, ending
/// with the ticks left when there is room (so "this timer runs out in 3 ticks" can be read
/// while time is moved by hand).
fn timer_bar(timer: (u32, u32), width: usize, run: &RunState) -> Span<'static> {
    let (elapsed, timeout) = timer;
    let frac = if timeout == 0 { 0.0 } else { (elapsed as f64 / timeout as f64).clamp(0.0, 1.0) };
    let left = if width >= 8 && timeout > 0 {
        format!("{:>3}", timeout.saturating_sub(elapsed))
    } else {
        String::new()
    };
    let cells = width - left.len();
    let filled = (frac * cells as f64).round() as usize;
    let bar = format!("{}{}{left}", "▓".repeat(filled), "░".repeat(cells.saturating_sub(filled)));
    let style = if *run != RunState::Running {
        theme::dim()
    } else if frac < 0.5 {
        theme::good()
    } else if frac < 0.8 {
        theme::warn()
    } else {
        theme::bad()
    };
    Span::styled(bar, style)
}

/// The timer bar, or on a screen rebuilt from events (which do not carry timers) a word
/// saying so.
fn timer(screen: &ScreenState, timer: (u32, u32), width: usize, run: &RunState) -> Span<'static> {
    if screen.rebuilt() {
        return Span::styled(fit("not in events", width.max(4)), theme::dim());
    }
    timer_bar(timer, width, run)
}

/// Each follower's `match/next`, coloured: caught up (green), lagging (yellow), down (red).
/// Within `width` columns: in full (`n1 41/42`) if they fit, else shorter: `n1✓` for a
/// follower that holds the leader's whole log, `n1 41` (the match only) for the others.
fn followers(screen: &ScreenState, leader: &NodeStatus, width: usize) -> Vec<Span<'static>> {
    let items: Vec<(String, String, Style)> = leader
        .replication
        .iter()
        .filter(|(id, _, _)| *id != leader.id)
        .map(|&(id, matched, next)| {
            let down = screen.node(id).is_some_and(|n| is_down(&n.run));
            let caught_up = matched >= leader.last.index;
            let style = if down {
                theme::bad()
            } else if caught_up {
                theme::good()
            } else {
                theme::warn()
            };
            let full = format!("{id} {matched}/{next}");
            let short = if caught_up && !down { format!("{id}✓") } else { format!("{id} {matched}") };
            (full, short, style)
        })
        .collect();
    let full_width: usize = items.iter().map(|(f, _, _)| f.chars().count() + 1).sum();
    let compact = full_width > width.saturating_add(1);
    items.into_iter().map(|(f, s, style)| Span::styled(if compact { s } else { f }, style)).collect()
}

/// The target of the leadership transfer a running leader is making (thesis §3.10).
fn transfer(node: &NodeStatus) -> Option<NodeId> {
    node.transfer.filter(|_| node.role == Some(Role::Leader) && !is_down(&node.run))
}

/// One node's card: its frame, its figures (term, vote, indexes, last entry), then what its
/// run state and role add.
fn card(screen: &ScreenState, node: &NodeStatus, rect: Rect, buf: &mut Buffer) {
    let selected = node.id == screen.selected;
    let down = is_down(&node.run);
    let block = card_block(node, selected, down);
    let inner = block.inner(rect);
    block.render(rect, buf);
    let inner = Rect { x: inner.x + 1, width: inner.width.saturating_sub(1), ..inner };
    let w = inner.width as usize;
    let value = if down || node.role.is_none() { theme::dim() } else { theme::text() };
    let label = theme::dim();
    // Two aligned columns: labels of 7 and 6, values of 5; on a card too narrow for that (nine
    // nodes side by side, or long indexes), one space between each; narrower still, the second
    // label is cut (`ap 1205`), so a value is never cut.
    let pair = |l1: &str, v1: String, l2: &str, v2: String| {
        let (n1, n2) = (v1.chars().count(), v2.chars().count());
        let aligned = 7 + (n1 + 1).max(5) + 6 + n2 <= w;
        let (p1, p2) = if aligned { (7, (n1 + 1).max(5)) } else { (l1.len() + 1, n1 + 1) };
        let l2 = if aligned {
            format!("{l2:<6}")
        } else {
            let room = w.saturating_sub(p1 + p2 + n2 + 1).clamp(1, l2.len());
            format!("{} ", &l2[..room])
        };
        Line::from(vec![
            Span::styled(format!("{l1:<p1$}"), label),
            Span::styled(format!("{v1:<p2$}"), value),
            Span::styled(l2, label),
            Span::styled(v2, value),
        ])
    };
    // The last entry, and the snapshot's index once the log is compacted (paper §7).
    let last = match node.snapshot {
        Some(s) => pair("last", node.last.to_string(), "snap", s.index.to_string()),
        None => Line::from(vec![Span::styled("last   ", label), Span::styled(node.last.to_string(), value)]),
    };
    let mut lines: Vec<Line> = vec![
        pair("term", node.term.to_string(), "vote", opt(node.vote)),
        pair("commit", node.commit.to_string(), "apply", node.applied.to_string()),
        last,
    ];
    lines.extend(card_state(screen, node, w, value));
    for (i, line) in lines.iter().take(inner.height as usize).enumerate() {
        buf.set_line(inner.x, inner.y + i as u16, line, inner.width);
    }
}

/// A card's frame: the name and badge in the title, a thick border and a marker when selected,
/// a red border when down.
fn card_block(node: &NodeStatus, selected: bool, down: bool) -> Block<'static> {
    let (badge, badge_style) = theme::badge(&node.run, node.role);
    let mut head = vec![Span::raw(" ")];
    if selected {
        head.push(Span::styled("▶ ", theme::selected_border()));
    }
    head.push(Span::styled(node.id.to_string(), theme::node_name(&node.run, node.role)));
    head.push(Span::raw(" "));
    head.push(Span::styled(badge, badge_style));
    head.push(Span::raw(" "));
    if let Some(target) = transfer(node) {
        head.push(Span::styled(format!("→ {target} "), theme::warn()));
    }
    let border = match (selected, down) {
        (true, _) => theme::selected_border(),
        (false, true) => theme::bad(),
        (false, false) => theme::border(),
    };
    Block::default()
        .borders(Borders::ALL)
        .border_type(if selected { BorderType::Thick } else { BorderType::Plain })
        .border_style(border)
        .title(Line::from(head))
}

/// The card's lines under its figures, `w` wide: for a dead node, that its state is the last
/// known; for a crashed one, why; for the leader, its followers; for the others, the leader
/// they know and their election timer.
fn card_state(screen: &ScreenState, node: &NodeStatus, w: usize, value: Style) -> Vec<Line<'static>> {
    let label = theme::dim();
    let mut lines = Vec::new();
    match (&node.run, node.role) {
        (RunState::Dead, _) => {
            lines.push(Line::styled("last known state", theme::dim()));
            let hint = if screen.rebuilt() { "(killed)" } else { "r restarts it" };
            lines.push(Line::styled(hint, theme::bad()));
        }
        (RunState::Crashed(reason), _) => {
            // The reason over the two lines left (the badge already says CRASHED; r restarts),
            // with file names instead of whole paths (the status line has the whole reason).
            let reason = short_paths(reason);
            let chars: Vec<char> = reason.chars().collect();
            let first: String = chars.iter().take(w).collect();
            let rest: String = chars.iter().skip(w).collect();
            lines.push(Line::styled(first, theme::bad()));
            lines.push(Line::styled(fit(&rest, w), theme::bad()));
        }
        (_, None) => lines.push(Line::styled("starting…", theme::dim())),
        (_, Some(Role::Leader)) if screen.rebuilt() => {
            lines.push(Line::styled(fit("followers' progress:", w), theme::dim()));
            lines.push(Line::styled(fit("not in the events", w), theme::dim()));
        }
        (_, Some(Role::Leader)) => {
            let items = followers(screen, node, usize::MAX);
            let per_line = ((w + 1) / 10).max(1);
            for chunk in items.chunks(per_line) {
                let mut spans = Vec::new();
                for (i, s) in chunk.iter().enumerate() {
                    if i > 0 {
                        spans.push(Span::raw(" "));
                    }
                    spans.push(s.clone());
                }
                lines.push(Line::from(spans));
            }
        }
        (run, Some(role)) => {
            lines.push(if role == Role::PreCandidate {
                pre_vote_line(node)
            } else {
                Line::from(vec![Span::styled("leader ", label), Span::styled(opt(node.leader), value)])
            });
            let bar_w = w.saturating_sub(7).min(16);
            lines.push(Line::from(vec![
                Span::styled("timer  ", label),
                timer(screen, node.timer, bar_w, run),
            ]));
        }
    }
    lines
}

/// What a pre-candidate asks for: the next term, which it has not taken (thesis §9.6). Its
/// card's term line still shows its own term, unchanged.
fn pre_vote_line(node: &NodeStatus) -> Line<'static> {
    Line::styled(format!("asking for term {}", node.term.next()), theme::warn())
}

/// `reason` with every path shortened to its file name (`/tmp/d/n2.wal:` becomes `n2.wal:`).
fn short_paths(reason: &str) -> String {
    reason
        .split(' ')
        .map(|w| if w.contains('/') { w.rsplit('/').next().unwrap_or(w) } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Column widths of the table, after the node name: role, term, vote, leader, commit, apply, last.
const COLUMNS: [(&str, usize); 7] =
    [("role", 14), ("term", 5), ("vote", 5), ("leader", 7), ("commit", 7), ("apply", 6), ("last", 9)];
/// The snapshot's column, after `last`, once some node has compacted its log (paper §7).
const SNAP_COLUMN: (&str, usize) = ("snap", 5);

fn table(screen: &ScreenState, area: Rect, buf: &mut Buffer) {
    let block = panel(title("nodes", "click or 1-9 to select"));
    let inner = block.inner(area);
    block.render(area, buf);
    let inner = Rect { x: inner.x + 1, width: inner.width.saturating_sub(1), ..inner };
    let mut columns = COLUMNS.to_vec();
    let snapshots = screen.nodes.iter().any(|n| n.snapshot.is_some());
    if snapshots {
        columns.push(SNAP_COLUMN);
    }
    let fixed: usize = 4 + columns.iter().map(|c| c.1).sum::<usize>();
    let rest = (inner.width as usize).saturating_sub(fixed);
    let mut header = vec![Span::raw("    ")];
    for &(name, w) in &columns {
        header.push(Span::styled(format!("{name:<w$}"), theme::dim()));
    }
    let last = match rest {
        40.. => "election timer · leader: match/next per follower",
        18.. => "timer · match/next",
        _ => "timer · match",
    };
    header.push(Span::styled(last, theme::dim()));
    buf.set_line(inner.x, inner.y, &Line::from(header), inner.width);
    for (i, node) in screen.nodes.iter().enumerate() {
        let y = inner.y + 1 + i as u16;
        if y >= inner.bottom() {
            break;
        }
        let selected = node.id == screen.selected;
        let down = is_down(&node.run);
        let value = if down || node.role.is_none() { theme::dim() } else { theme::text() };
        let (badge, badge_style) = theme::badge(&node.run, node.role);
        let cell = |s: String, w: usize, style: Style| Span::styled(format!("{:<w$}", fit(&s, w - 1)), style);
        let handing = transfer(node).map(|t| format!(" → {t}")).unwrap_or_default();
        let role_w = badge.chars().count() + handing.chars().count();
        let mut spans = vec![
            Span::styled(if selected { "▶" } else { " " }, theme::selected_border()),
            cell(node.id.to_string(), 3, theme::node_name(&node.run, node.role)),
            Span::styled(badge.clone(), badge_style),
            Span::styled(handing, theme::warn()),
            Span::raw(" ".repeat(COLUMNS[0].1.saturating_sub(role_w))),
            cell(node.term.to_string(), COLUMNS[1].1, value),
            cell(opt(node.vote), COLUMNS[2].1, value),
            cell(opt(node.leader), COLUMNS[3].1, value),
            cell(node.commit.to_string(), COLUMNS[4].1, value),
            cell(node.applied.to_string(), COLUMNS[5].1, value),
            cell(node.last.to_string(), COLUMNS[6].1, value),
        ];
        if snapshots {
            let snap = node.snapshot.map_or_else(|| "—".to_string(), |s| s.index.to_string());
            spans.push(cell(snap, SNAP_COLUMN.1, value));
        }
        match (&node.run, node.role) {
            (RunState::Dead, _) => {
                spans.push(Span::styled(fit("last known state · r restarts it", rest), theme::bad()));
            }
            (RunState::Crashed(reason), _) => {
                spans.push(Span::styled(
                    fit(&format!("crashed: {}", short_paths(reason)), rest),
                    theme::bad(),
                ));
            }
            (_, Some(Role::Leader)) if screen.rebuilt() => {
                spans.push(Span::styled(fit("followers' progress: not in the events", rest), theme::dim()));
            }
            (_, Some(Role::Leader)) => {
                for (j, s) in followers(screen, node, rest).into_iter().enumerate() {
                    if j > 0 {
                        spans.push(Span::raw(" "));
                    }
                    spans.push(s);
                }
            }
            (run, Some(Role::PreCandidate)) => {
                let asks = format!("asking for {} ", node.term.next());
                let bar = rest.saturating_sub(asks.len()).min(16);
                spans.push(Span::styled(asks, theme::warn()));
                spans.push(timer(screen, node.timer, bar, run));
            }
            (run, Some(_)) => spans.push(timer(screen, node.timer, rest.min(16), run)),
            (_, None) => spans.push(Span::styled("starting…", theme::dim())),
        }
        buf.set_line(inner.x, y, &Line::from(spans), inner.width);
    }
}
