//! Terminal events: keys (through the keymap), bracketed paste into a prompt, and the mouse.

use super::{App, MAX_INPUT};
use crate::tui::action::Action;
use crate::tui::keymap::{self, Context};
use crate::tui::screen::Mode;
use crate::tui::widgets;
use crossterm::event::{Event as TermEvent, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

impl App {
    /// Handles one terminal event.
    pub fn on_terminal(&mut self, event: TermEvent) {
        match event {
            TermEvent::Key(key) => self.on_key(key),
            TermEvent::Mouse(mouse) => self.on_mouse(mouse),
            TermEvent::Resize(w, h) => self.resize(w, h),
            TermEvent::Paste(text) => self.on_paste(&text),
            _ => {}
        }
    }

    /// Handles pasted text (the terminal's bracketed paste): it is text for an open prompt and
    /// never keys. A line break ends the prompt as Enter would; what follows it is dropped, so a
    /// pasted `x=1⏎k` puts x=1 and kills nothing. A paste longer than the prompt holds is cut,
    /// said, and not sent. Outside a prompt a paste does nothing, and says so.
    pub fn on_paste(&mut self, text: &str) {
        self.dirty = true;
        if self.too_small() {
            return;
        }
        let Mode::Prompt { input, error, .. } = &mut self.screen.mode else {
            self.error("a paste goes into a prompt (p put, g get, l loss, d delay): nothing was done");
            return;
        };
        let (line, rest) = match text.find(['\n', '\r']) {
            Some(i) => (&text[..i], Some(&text[i..])),
            None => (text, None),
        };
        let pasted: Vec<char> = line.chars().filter(|c| !c.is_control()).collect();
        let room = MAX_INPUT.saturating_sub(input.chars().count());
        input.extend(pasted.iter().take(room));
        if pasted.len() > room {
            *error = Some(format!(
                "the paste was cut to the first {room} of its {} characters: a prompt holds {MAX_INPUT}",
                pasted.len()
            ));
            return;
        }
        *error = None;
        if let Some(rest) = rest {
            self.prompt_action(Action::Submit);
            if !rest.trim().is_empty() && self.screen.mode == Mode::Normal {
                self.info("sent the paste's first line; the rest was ignored");
            }
        }
    }

    /// Handles a key press.
    pub fn on_key(&mut self, key: KeyEvent) {
        let context = widgets::context_of(&self.screen().mode);
        // Behind the "terminal too small" screen nothing is visible, so nothing may act but
        // leaving (resizing comes as its own event).
        if self.too_small() {
            if keymap::lookup(context, &key) == Some(Action::Quit) {
                self.quit = true;
            }
            return;
        }
        let lesson = self.screen.lesson.is_some() && context == Context::Main;
        let contexts: &[Context] = if lesson { &[Context::Lesson, Context::Main] } else { &[context] };
        match keymap::lookup_in(contexts, &key) {
            Some(action) => {
                self.dirty = true;
                self.perform(action);
            }
            None if context == Context::History
                && key.kind != crossterm::event::KeyEventKind::Release
                && !matches!(key.code, crossterm::event::KeyCode::Modifier(_)) =>
            {
                self.dirty = true;
                self.refuse_in_history(&key);
            }
            None if matches!(context, Context::Main | Context::Log)
                && key.kind != crossterm::event::KeyEventKind::Release
                && !matches!(key.code, crossterm::event::KeyCode::Modifier(_)) =>
            {
                self.dirty = true;
                let key = keymap::describe(&key);
                self.error(if context == Context::Log {
                    format!("no action on {key} in the log cursor: ← → Home End move it, Esc leaves")
                } else {
                    format!("no action on {key}: press ? to see every key")
                });
            }
            None => {}
        }
    }

    /// True while the terminal is too small to show the console.
    fn too_small(&self) -> bool {
        self.areas().is_none()
    }

    /// Handles a mouse event: a click on a node selects it, a click on a log cell selects its index
    /// (the log cursor); the wheel over the feed scrolls it.
    pub fn on_mouse(&mut self, mouse: MouseEvent) {
        let Some(areas) = self.areas() else {
            return;
        };
        let at = Position::new(mouse.column, mouse.row);
        if self.history.is_some() {
            // The past: a click selects a node, nothing else acts.
            if let (MouseEventKind::Down(MouseButton::Left), Some(i)) =
                (mouse.kind, areas.node_rects.iter().position(|r| r.contains(at)))
                && let Some(&id) = self.members.get(i)
            {
                self.screen.selected = id;
                if let Some(h) = &mut self.history {
                    h.screen_mut().selected = id;
                }
                self.dirty = true;
            }
            return;
        }
        let browsing = matches!(self.screen.mode, Mode::Normal | Mode::Log { .. });
        match mouse.kind {
            MouseEventKind::Down(MouseButton::Left) if browsing && areas.logs.contains(at) => {
                self.click_log(areas.logs, at.x)
            }
            MouseEventKind::Down(MouseButton::Left) if self.screen.mode == Mode::Normal => {
                if let Some(i) = areas.node_rects.iter().position(|r| r.contains(at)) {
                    self.screen.selected = self.members[i];
                    self.dirty = true;
                }
            }
            MouseEventKind::ScrollUp if areas.events.contains(at) => self.perform(Action::Scroll(3)),
            MouseEventKind::ScrollDown if areas.events.contains(at) => self.perform(Action::Scroll(-3)),
            _ => {}
        }
    }
}
