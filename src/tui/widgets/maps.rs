//! The committed key-value maps side by side: a row per key, a column per node. A value that
//! differs from the leader's (or, without a leader, from most nodes') is marked `≠` in red, so
//! a lagging or cut-off replica is visible at a glance. A map the events do not show (on a
//! screen rebuilt from a log whose node started from a snapshot older than it) is `?`.

use super::super::screen::ScreenState;
use super::super::theme;
use super::{fit, panel, title, width_of};
use crate::control::{NodeStatus, RunState};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use std::collections::BTreeMap;

/// The maps panel.
pub struct Maps<'a> {
    /// What to show.
    pub screen: &'a ScreenState,
}

/// The value most replicas agree on: the leader's, or else the most common among running nodes
/// (absent counts as a value). A map the events do not show counts for nothing.
fn reference<'a>(screen: &'a ScreenState, key: &str) -> Option<&'a String> {
    if let Some(leader) = screen.leader().filter(|l| l.kv_unknown.is_none()) {
        return leader.kv.get(key);
    }
    let mut counts: BTreeMap<Option<&String>, usize> = BTreeMap::new();
    let known = |n: &&NodeStatus| n.run == RunState::Running && n.role.is_some() && n.kv_unknown.is_none();
    for n in screen.nodes.iter().filter(known) {
        *counts.entry(n.kv.get(key)).or_default() += 1;
    }
    counts.into_iter().max_by_key(|&(_, c)| c).and_then(|(v, _)| v)
}

impl Widget for Maps<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let s = self.screen;
        // A map rebuilt from events that do not show it (its node started from a snapshot
        // older than the log) is `?`, not guessed.
        let unknown = s.nodes.iter().find_map(|n| n.kv_unknown.map(|snap| (n.id, snap)));
        let details =
            if unknown.is_some() { "· ≠ differs · ? not in the events" } else { "· ≠ differs" };
        let block = panel(title("committed maps", details));
        let inner = block.inner(area);
        block.render(area, buf);
        let rows = inner.height.saturating_sub(1) as usize;
        // The first rows' keys, and how many more there are.
        let mut union = Union::of(&s.nodes);
        let first: Vec<&String> = union.by_ref().take(rows).collect();
        let total = first.len() + union.count();
        if total == 0 {
            let none = match unknown {
                Some((id, snap)) => format!("{id}'s map: from snapshot {snap}, older than the log"),
                None if self.screen.rebuilt() => "no keys yet".into(),
                None => "no keys yet: p puts one".into(),
            };
            buf.set_string(
                inner.x + 1,
                inner.y,
                fit(&none, inner.width.saturating_sub(1) as usize),
                theme::dim(),
            );
            return;
        }
        let shown = if total > rows { rows.saturating_sub(1) } else { total };
        let keys = &first[..shown];
        let n = s.nodes.len().max(1) as u16;
        let longest = keys.iter().map(|k| width_of(k)).max().unwrap_or(3) as u16;
        let key_w = longest.clamp(3, 12) + 1;
        let col = ((inner.width.saturating_sub(key_w + 1)) / n).max(3);
        let x0 = inner.x + 1;
        buf.set_string(x0, inner.y, "key", theme::dim());
        for (i, node) in s.nodes.iter().enumerate() {
            let x = x0 + key_w + i as u16 * col;
            let selected = node.id == s.selected;
            buf.set_string(x, inner.y, node.id.to_string(), theme::label(&node.run, node.role, selected));
        }
        for (r, key) in keys.iter().enumerate() {
            let y = inner.y + 1 + r as u16;
            buf.set_string(x0, y, fit(key, key_w as usize - 1), theme::text());
            let want = reference(s, key);
            for (i, node) in s.nodes.iter().enumerate() {
                let x = x0 + key_w + i as u16 * col;
                let room = col as usize - 1;
                if node.kv_unknown.is_some() {
                    buf.set_string(x, y, fit("?", room), theme::dim());
                    continue;
                }
                let value = node.kv.get(*key);
                let down = matches!(node.run, RunState::Dead | RunState::Crashed(_));
                let differs = value != want && node.role.is_some();
                // Absent is a dash; an empty value is "" (a blank would look like absent).
                let shown = match value {
                    None => "—",
                    Some(v) if v.is_empty() => "\"\"",
                    Some(v) => v.as_str(),
                };
                let (text, style) = if differs && width_of(shown) + 2 <= room {
                    (format!("{shown} ≠"), theme::bad())
                } else if differs {
                    (format!("{}≠", fit(shown, room.saturating_sub(1))), theme::bad())
                } else if down {
                    (fit(shown, room), theme::dim())
                } else {
                    (fit(shown, room), theme::text())
                };
                buf.set_string(x, y, text, style);
            }
        }
        if shown < total {
            let y = inner.y + 1 + shown as u16;
            buf.set_string(x0, y, format!("… {} more keys", total - shown), theme::dim());
        }
    }
}

/// Every node's keys, once each, in order: a merge of their maps (each is sorted), with no set
/// to build: a load generator on the console (`--listen`) can leave tens of thousands of keys,
/// and the panel is drawn ten times a second.
struct Union<'a> {
    heads: Vec<std::iter::Peekable<std::collections::btree_map::Keys<'a, String, String>>>,
}

impl<'a> Union<'a> {
    fn of(nodes: &'a [NodeStatus]) -> Self {
        Union { heads: nodes.iter().map(|n| n.kv.keys().peekable()).collect() }
    }
}

impl<'a> Iterator for Union<'a> {
    type Item = &'a String;

    fn next(&mut self) -> Option<&'a String> {
        let least = self.heads.iter_mut().filter_map(|h| h.peek().copied()).min()?;
        for h in &mut self.heads {
            h.next_if(|k| *k == least);
        }
        Some(least)
    }
}
