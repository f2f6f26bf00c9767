//! Entering and leaving the terminal's console mode (raw input, the alternate screen, mouse
//! reports, bracketed paste), with a guarantee that it is left on every path: normal exit, error (the guard's
//! `Drop`), and a panic on the interface thread (the panic hook). A panic on another thread
//! (a node's storage failing) must not tear the screen down: that node shows as crashed, and
//! its message is kept off the screen, which it would garble.

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{self, Stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// True while the console owns the terminal.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

thread_local! {
    static IS_UI: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Restores the terminal if the console owns it. Safe to call more than once.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(
            io::stdout(),
            DisableBracketedPaste,
            DisableMouseCapture,
            LeaveAlternateScreen,
            cursor::Show
        );
    }
}

fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IS_UI.with(std::cell::Cell::get) {
                restore();
                previous(info);
            } else if !ACTIVE.load(Ordering::SeqCst) {
                previous(info);
            }
        }));
    });
}

/// The terminal in console mode; leaving it (dropping the guard) restores the terminal.
pub struct Guard {
    /// The ratatui terminal to draw on.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal in console mode. Call from the interface thread.
pub fn enter() -> io::Result<Guard> {
    install_hook();
    IS_UI.with(|c| c.set(true));
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut stdout = io::stdout();
    // Bracketed paste: a paste arrives as one text event, never as keys (a pasted `k` must not
    // kill a node).
    if let Err(e) =
        execute!(stdout, EnterAlternateScreen, EnableMouseCapture, EnableBracketedPaste, cursor::Hide)
    {
        restore();
        return Err(e);
    }
    match Terminal::new(CrosstermBackend::new(stdout)) {
        Ok(terminal) => Ok(Guard { terminal }),
        Err(e) => {
            restore();
            Err(e)
        }
    }
}
