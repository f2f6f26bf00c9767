//! Draws a whole [`Snapshot`]: every panel in its place, the overlay of the current mode, or
//! the "too small" screen.

use super::layout;
use super::snapshot::{Mode, Snapshot};
use super::widgets::{
    Clients, EditorOverlay, Events, Header, HelpOverlay, KeyBar, Logs, Maps, NetworkPanel, Nodes, StatusLine,
    TooSmall,
};
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

/// Draws the snapshot on a frame.
pub fn render(frame: &mut Frame<'_>, snap: &Snapshot) {
    let area = frame.area();
    draw(snap, area, frame.buffer_mut());
}

/// Draws the snapshot into a buffer region.
pub fn draw(snap: &Snapshot, area: Rect, buf: &mut Buffer) {
    let Some(areas) = layout::areas(area, snap.nodes.len()) else {
        TooSmall { need: layout::required(snap.nodes.len()), nodes: snap.nodes.len() }.render(area, buf);
        return;
    };
    Header { snap }.render(areas.header, buf);
    Nodes { snap, areas: &areas }.render(areas.nodes, buf);
    Logs { snap }.render(areas.logs, buf);
    Maps { snap }.render(areas.maps, buf);
    NetworkPanel { snap }.render(areas.network, buf);
    Events { snap }.render(areas.events, buf);
    if let Some(rect) = areas.clients {
        Clients { snap }.render(rect, buf);
    }
    // A notice too long for its line (an export's paths on a narrow screen) borrows the key
    // bar's lines while it lasts.
    let long = snap.mode == Mode::Normal
        && snap
            .notice
            .as_ref()
            .is_some_and(|n| super::widgets::width_of(&n.text) + 3 > areas.message.width as usize);
    let status = StatusLine { snap, clients_shown: areas.clients.is_some() };
    if long {
        status.render(areas.message.union(areas.keys), buf);
    } else {
        status.render(areas.message, buf);
        KeyBar { snap }.render(areas.keys, buf);
    }
    match snap.mode {
        Mode::Help => HelpOverlay.render(area, buf),
        Mode::Editor { .. } => EditorOverlay { snap }.render(area, buf),
        _ => {}
    }
}
