//! Where each panel goes for a given terminal size and cluster size. Rendering and mouse
//! handling both use [`areas`], so a click lands on the card that is drawn there.
//!
//! Top to bottom: a header line; the nodes (a card each when they fit side by side, otherwise a
//! table with a row each); the logs beside the committed maps; the network beside the event
//! feed; the clients panel when there is room; the safety line when there is room; a message
//! line and the key bar. Space beyond the minimum goes first to the clients panel, then some
//! to the logs and maps, some more to the clients panel, the rest to the feed; the safety line
//! takes one line of the clients panel's more, or else of the feed's.

use ratatui::layout::Rect;

/// The smallest width the console draws in.
pub const MIN_WIDTH: u16 = 80;
/// The smallest height the console draws in (for up to five nodes; more need more).
pub const MIN_HEIGHT: u16 = 24;
/// A node card's smallest width.
const CARD_MIN_WIDTH: u16 = 22;
/// Height of the clients panel when shown (four lines).
const CLIENTS_HEIGHT: u16 = 6;
/// The network and feed row's smallest height (three lines inside).
const BOTTOM_MIN: u16 = 5;
/// From this height on, the key bar gets two lines (so every key fits).
const TALL: u16 = 34;

/// How the nodes are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodesStyle {
    /// A card per node, side by side.
    Cards,
    /// A table with a row per node.
    Table,
}

/// The rectangle of every panel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Areas {
    /// The header line.
    pub header: Rect,
    /// The nodes area (all cards, or the table with its border).
    pub nodes: Rect,
    /// Cards or table.
    pub style: NodesStyle,
    /// Each node's card or table row, in node order (for clicks).
    pub node_rects: Vec<Rect>,
    /// The logs panel.
    pub logs: Rect,
    /// The committed maps panel.
    pub maps: Rect,
    /// The network panel.
    pub network: Rect,
    /// The event feed.
    pub events: Rect,
    /// The clients panel, when there is room for it.
    pub clients: Option<Rect>,
    /// The safety checks' line, when there is room for it.
    pub safety: Option<Rect>,
    /// The message or prompt line.
    pub message: Rect,
    /// The key bar.
    pub keys: Rect,
}

/// The size needed to draw `nodes` nodes: (width, height).
pub fn required(nodes: usize) -> (u16, u16) {
    let n = nodes as u16;
    (MIN_WIDTH, MIN_HEIGHT.max(table_height(n) + middle_min(n) + BOTTOM_MIN + 3))
}

fn table_height(n: u16) -> u16 {
    n + 3
}

fn middle_min(n: u16) -> u16 {
    n + 3
}

/// Lines inside a card for `n` nodes at card width `w`: term/vote, commit/apply, last, and at
/// least two more (leader and timer, or the leader's followers, as many per line as the card
/// draws them: its width less the borders and one column of padding).
pub fn card_lines(n: u16, w: u16) -> u16 {
    let inner = w.saturating_sub(3);
    let per_line = ((inner + 1) / 10).max(1);
    let followers = n.saturating_sub(1);
    3 + followers.div_ceil(per_line).max(2)
}

/// The panels for a terminal of size `area`, or `None` when it is too small.
pub fn areas(area: Rect, nodes: usize) -> Option<Areas> {
    let n = nodes.max(1) as u16;
    let (min_w, min_h) = required(nodes);
    if area.width < min_w || area.height < min_h {
        return None;
    }
    let (w, h) = (area.width, area.height);
    let card_w = w / n;
    let card_h = card_lines(n, card_w) + 2;
    let fixed = 3 + middle_min(n) + BOTTOM_MIN;
    let (style, nodes_h) = if card_w >= CARD_MIN_WIDTH && fixed + card_h <= h {
        (NodesStyle::Cards, card_h)
    } else {
        (NodesStyle::Table, table_height(n))
    };
    let mut spare = h - fixed - nodes_h;
    let keys_h = if h >= TALL && spare > 0 { 2 } else { 1 };
    spare -= keys_h - 1;
    let mut clients_h = if spare > CLIENTS_HEIGHT { CLIENTS_HEIGHT } else { 0 };
    spare -= clients_h;
    let middle_extra = (spare / 4).min(4);
    spare -= middle_extra;
    // A tall terminal shows more client operations too: a third of what is left, six at most.
    let clients_extra = if clients_h > 0 { (spare / 3).min(6) } else { 0 };
    clients_h += clients_extra;
    spare -= clients_extra;
    // The safety line: a line of the clients panel's extra, else of what the feed would get.
    let safety_h = u16::from(clients_extra > 0 || spare > 0);
    if clients_extra > 0 {
        clients_h -= 1;
    } else {
        spare -= safety_h;
    }
    let middle_h = middle_min(n) + middle_extra;
    let bottom_h = BOTTOM_MIN + spare;

    let (x, mut y) = (area.x, area.y);
    let mut take = |height: u16| {
        let r = Rect::new(x, y, w, height);
        y += height;
        r
    };
    let header = take(1);
    let nodes_area = take(nodes_h);
    let middle = take(middle_h);
    let bottom = take(bottom_h);
    let clients = (clients_h > 0).then(|| take(clients_h));
    let safety = (safety_h > 0).then(|| take(1));
    let message = take(1);
    let keys = take(keys_h);

    let node_rects = match style {
        NodesStyle::Cards => (0..n)
            .map(|i| {
                // The last card takes the leftover columns.
                let cw = if i == n - 1 { w - card_w * (n - 1) } else { card_w };
                Rect::new(x + i * card_w, nodes_area.y, cw, nodes_h)
            })
            .collect(),
        NodesStyle::Table => (0..n).map(|i| Rect::new(x + 1, nodes_area.y + 2 + i, w - 2, 1)).collect(),
    };
    let logs_w = w * 11 / 20;
    let logs = Rect::new(x, middle.y, logs_w, middle_h);
    let maps = Rect::new(x + logs_w, middle.y, w - logs_w, middle_h);
    let net_w = (10 + 4 * n).max(34).min(w / 2);
    let network = Rect::new(x, bottom.y, net_w, bottom_h);
    let events = Rect::new(x + net_w, bottom.y, w - net_w, bottom_h);
    Some(Areas {
        header,
        nodes: nodes_area,
        style,
        node_rects,
        logs,
        maps,
        network,
        events,
        clients,
        safety,
        message,
        keys,
    })
}

/// The in-flight panel's place when it is shown: beside the feed where the feed is wide, above
/// it where it is tall enough, nowhere on a small terminal (the network panel then says how many
/// messages are in flight). Returns the panel and what is left of the feed.
pub fn split_for_flight(events: Rect) -> Option<(Rect, Rect)> {
    if events.width >= 80 {
        let w = (events.width / 2).max(36);
        let flight = Rect { width: w, ..events };
        Some((flight, Rect { x: events.x + w, width: events.width - w, ..events }))
    } else if events.height >= 8 {
        let h = events.height / 2;
        let flight = Rect { height: h, ..events };
        Some((flight, Rect { y: events.y + h, height: events.height - h, ..events }))
    } else {
        None
    }
}

/// The narration panel's place during a lesson: the left part of the feed's area where it is
/// wide (from 100 columns: a terminal of 135), the top part where it is tall, else all of it
/// (the feed then shows in `v`; at 120x40 the narration has the feed's whole place). Returns the
/// panel and what is left for the feed, if anything.
pub fn split_for_lesson(events: Rect) -> (Rect, Option<Rect>) {
    if events.width >= 100 {
        let w = events.width * 3 / 5;
        (Rect { width: w, ..events }, Some(Rect { x: events.x + w, width: events.width - w, ..events }))
    } else if events.height >= 12 {
        let h = events.height * 3 / 5;
        (Rect { height: h, ..events }, Some(Rect { y: events.y + h, height: events.height - h, ..events }))
    } else {
        (events, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_nodes_fit_80x24_and_get_cards_at_120x40() {
        let small = areas(Rect::new(0, 0, 80, 24), 5).expect("80x24 fits five nodes");
        assert_eq!(small.style, NodesStyle::Table);
        assert_eq!(small.keys.bottom(), 24);
        let large = areas(Rect::new(0, 0, 120, 40), 5).expect("120x40 fits");
        assert_eq!(large.style, NodesStyle::Cards);
        assert!(large.clients.is_some() && large.safety.is_some());
        assert_eq!(large.safety.map(|r| r.bottom()), Some(large.message.y), "just above the message line");
        assert_eq!(large.keys.bottom(), 40);
        assert!(areas(Rect::new(0, 0, 79, 24), 5).is_none());
        assert!(areas(Rect::new(0, 0, 80, 23), 5).is_none());
    }

    #[test]
    fn every_size_from_the_minimum_up_lays_out_inside_the_screen() {
        for nodes in 1..=9 {
            let (min_w, min_h) = required(nodes);
            for w in [min_w, 100, 120, 200] {
                for h in [min_h, min_h + 1, 40, 60] {
                    let screen = Rect::new(0, 0, w, h);
                    let a = areas(screen, nodes).expect("fits");
                    let all = [a.header, a.nodes, a.logs, a.maps, a.network, a.events, a.message, a.keys];
                    for r in all.into_iter().chain(a.clients).chain(a.safety) {
                        assert!(screen.contains(r.as_position()) && r.right() <= w && r.bottom() <= h);
                    }
                    assert_eq!(a.node_rects.len(), nodes);
                }
            }
        }
    }
}
