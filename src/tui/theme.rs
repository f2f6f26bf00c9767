//! Colours and styles, in one place. The palette sticks to the 16 basic terminal colours so the
//! console reads the same on any terminal and on a projector; every state that matters is also
//! spelled out in words (`LEADER`, `DEAD`, `╳`), so nothing depends on colour alone.

use crate::control::RunState;
use crate::raft::{Role, Term};
use ratatui::style::{Color, Modifier, Style};

/// Plain text.
pub fn text() -> Style {
    Style::default()
}

/// Secondary text: labels, legends, placeholders.
pub fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

/// Panel titles.
pub fn title() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

/// The border of an ordinary panel.
pub fn border() -> Style {
    Style::default().fg(Color::Gray)
}

/// The border of the selected node's card.
pub fn selected_border() -> Style {
    Style::default().fg(Color::White).add_modifier(Modifier::BOLD)
}

/// Good news: ok results, a linearizable history, a healthy network.
pub fn good() -> Style {
    Style::default().fg(Color::Green)
}

/// Something to notice: lagging followers, settings that are not the default.
pub fn warn() -> Style {
    Style::default().fg(Color::Yellow)
}

/// Bad news: errors, blocked links, a history that is not linearizable.
pub fn bad() -> Style {
    Style::default().fg(Color::LightRed)
}

/// A key as shown in the status bar and the help overlay.
pub fn key() -> Style {
    Style::default().fg(Color::Black).bg(Color::Gray).add_modifier(Modifier::BOLD)
}

/// The badge of a node: its role when it runs, or its run state when it does not.
pub fn badge(run: &RunState, role: Option<Role>) -> (String, Style) {
    let chip = |fg: Color, bg: Color| Style::default().fg(fg).bg(bg).add_modifier(Modifier::BOLD);
    match run {
        RunState::Dead => (" DEAD ".into(), chip(Color::White, Color::Red)),
        RunState::Crashed(_) => (" CRASHED ".into(), chip(Color::White, Color::Magenta)),
        RunState::Paused => (" PAUSED ".into(), chip(Color::Black, Color::LightBlue)),
        RunState::Running => match role {
            Some(Role::Leader) => (" LEADER ".into(), chip(Color::Black, Color::Green)),
            Some(Role::Candidate) => (" CANDIDATE ".into(), chip(Color::Black, Color::Yellow)),
            Some(Role::PreCandidate) => {
                ("pre-candidate".into(), Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD))
            }
            Some(Role::Follower) => ("follower".into(), Style::default().fg(Color::Cyan)),
            None => ("starting".into(), dim()),
        },
    }
}

/// The colour of a node's name wherever it labels a row: its role, or grey when it is down.
pub fn node_name(run: &RunState, role: Option<Role>) -> Style {
    let base = Style::default().add_modifier(Modifier::BOLD);
    match (run, role) {
        (RunState::Dead | RunState::Crashed(_), _) => base.fg(Color::Red),
        (RunState::Paused, _) => base.fg(Color::LightBlue),
        (_, Some(Role::Leader)) => base.fg(Color::Green),
        (_, Some(Role::Candidate | Role::PreCandidate)) => base.fg(Color::Yellow),
        _ => base.fg(Color::Cyan),
    }
}

/// Terms cycle through these colours in the logs panel, so a new term stands out.
const TERM_COLOURS: [Color; 6] =
    [Color::Cyan, Color::Magenta, Color::Yellow, Color::Blue, Color::Green, Color::LightRed];

/// The colour of entries written in `term`.
pub fn term_colour(term: Term) -> Color {
    TERM_COLOURS[(term.0 as usize) % TERM_COLOURS.len()]
}

/// A committed log entry: a solid block in its term's colour.
pub fn committed(term: Term) -> Style {
    Style::default().fg(Color::Black).bg(term_colour(term))
}

/// An uncommitted log entry: its term's colour as text on the plain background, underlined.
pub fn uncommitted(term: Term) -> Style {
    Style::default().fg(term_colour(term)).add_modifier(Modifier::UNDERLINED)
}

/// The colour of each partition group in the editor (A, B, C).
pub fn group(g: u8) -> Style {
    let colour = match g {
        0 => Color::Green,
        1 => Color::Magenta,
        _ => Color::Cyan,
    };
    Style::default().fg(Color::Black).bg(colour).add_modifier(Modifier::BOLD)
}

/// A node's name where it labels a row or column, reversed when it is the selected node.
pub fn label(run: &RunState, role: Option<Role>, selected: bool) -> Style {
    let style = node_name(run, role);
    if selected { style.add_modifier(Modifier::REVERSED) } else { style }
}
