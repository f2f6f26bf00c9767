//! Draws a whole [`ScreenState`]: every panel in its place, the overlay of the current mode, or
//! the "too small" screen.

use super::layout;
use super::screen::{Lower, Mode, ScreenState};
use super::widgets::{
    ClientTimeline, Clients, EditorOverlay, EntryPanel, Events, FlightPanel, Header, HelpOverlay, KeyBar,
    Logs, Maps, Narration, NetworkPanel, Nodes, SafetyLine, SpaceTime, StatusLine, TooSmall,
};
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;

/// Below this height the lower row is too short to share with a lesson's narration.
const SHORT_LOWER: u16 = 8;

/// Draws the screen state on a frame.
pub fn render(frame: &mut Frame<'_>, screen: &ScreenState) {
    let area = frame.area();
    draw(screen, area, frame.buffer_mut());
}

/// Draws the screen state into a buffer region.
pub fn draw(screen: &ScreenState, area: Rect, buf: &mut Buffer) {
    let Some(areas) = layout::areas(area, screen.nodes.len()) else {
        TooSmall { need: layout::required(screen.nodes.len()), nodes: screen.nodes.len() }.render(area, buf);
        return;
    };
    Header { screen }.render(areas.header, buf);
    Nodes { screen, areas: &areas }.render(areas.nodes, buf);
    Logs { screen }.render(areas.logs, buf);
    match screen.mode {
        // The log cursor shows its index on every node where the maps are.
        Mode::Log { index } => EntryPanel { screen, index }.render(areas.maps, buf),
        _ => Maps { screen }.render(areas.maps, buf),
    }
    match &screen.lesson {
        // On a short screen a lesson's narration takes the network panel's place too.
        Some(lesson) if screen.history.is_none() && areas.events.height < SHORT_LOWER => {
            Narration { lesson }.render(areas.network.union(areas.events), buf);
        }
        _ => {
            NetworkPanel { screen }.render(areas.network, buf);
            draw_lower(screen, areas.events, buf);
        }
    }
    if let Some(rect) = areas.clients {
        Clients { screen }.render(rect, buf);
    }
    if let Some(rect) = areas.safety {
        SafetyLine { screen }.render(rect, buf);
    }
    // A notice too long for its line (an export's paths on a narrow screen) borrows the key
    // bar's lines while it lasts.
    let long = screen.mode == Mode::Normal
        && screen
            .notice
            .as_ref()
            .is_some_and(|n| super::widgets::width_of(&n.text) + 3 > areas.message.width as usize);
    let status = StatusLine { screen, clients_shown: areas.clients.is_some() };
    if long {
        status.render(areas.message.union(areas.keys), buf);
    } else {
        status.render(areas.message, buf);
        KeyBar { screen }.render(areas.keys, buf);
    }
    match screen.mode {
        Mode::Help => HelpOverlay.render(area, buf),
        Mode::Editor { .. } => EditorOverlay { screen }.render(area, buf),
        _ => {}
    }
}

/// The panel beside the network: the feed, with the messages in flight beside or above it when
/// they are shown; in the history view, what its lower panel (`v`) shows: the feed, the
/// space-time diagram of the events up to the cursor, or the client timeline at the cursor.
pub fn draw_lower(screen: &ScreenState, area: Rect, buf: &mut Buffer) {
    let history = screen.history.as_ref();
    match history.map(|h| (h, h.lower)) {
        Some((h, Lower::SpaceTime)) => {
            let cursor = h.window.len().saturating_sub(1);
            SpaceTime { events: &h.window, members: &screen.members(), cursor }.render(area, buf)
        }
        Some((h, Lower::ClientTimeline)) => {
            // At the newest event the timeline is live; before it, it stands at the cursor.
            let now = if h.at == h.total { h.time } else { h.time.saturating_add(1) };
            ClientTimeline { ops: &h.ops, cursor: h.time, now }.render(area, buf)
        }
        None if screen.lesson.is_some() => {
            let (narration, rest) = layout::split_for_lesson(area);
            if let Some(lesson) = &screen.lesson {
                Narration { lesson }.render(narration, buf);
            }
            if let Some(rest) = rest {
                draw_feed(screen, rest, buf);
            }
        }
        Some((_, Lower::Feed)) | None => draw_feed(screen, area, buf),
    }
}

/// The feed, with the messages in flight beside or above it when they are shown.
fn draw_feed(screen: &ScreenState, area: Rect, buf: &mut Buffer) {
    match layout::split_for_flight(area).filter(|_| screen.flight_shown()) {
        Some((flight, events)) => {
            FlightPanel { screen }.render(flight, buf);
            Events { screen }.render(events, buf);
        }
        None => Events { screen }.render(area, buf),
    }
}
