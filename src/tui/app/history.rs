//! The history view (`v`) and `quorum replay`: the screen stands at a past event of the
//! session's timeline, read-only. ← → step an event, PgUp PgDn a hundred, Home End go to the
//! start and the newest, `n` `N` jump to the next and previous event of a kind (Tab chooses
//! it), space plays at a speed (`+` `-`), `v` changes the lower panel, Esc returns to the live
//! view. The cluster runs on behind it (or stays frozen); keys that act on it are refused.

use super::App;
use crate::replay::{Mark, Timeline};
use crate::tui::action::{Action, Command};
use crate::tui::history::{History, PLAY_SPEEDS, members_of};
use crate::tui::keymap::{self, Context};
use crate::tui::screen::Mode;
use crossterm::event::KeyEvent;
use std::time::Instant;

impl App {
    /// A console on a replayed event log: no cluster runs, and the history view, open at
    /// position `at` and playing at `speed` when asked, cannot be left. `name` is what the
    /// header calls the log; `warnings` (a torn last line skipped) go to the status line.
    pub fn replay(timeline: Timeline, name: &str, at: usize, speed: f64, warnings: &[String]) -> App {
        let storage = match &timeline.head().start {
            Some(s) => format!("{} engine · {}", s.engine, s.storage),
            None => "event log".to_string(),
        };
        let mut app = App::new(members_of(&timeline), &storage);
        app.replay = Some(name.to_string());
        let mut history = History::open(&timeline, at, &app.screen, Some(name.to_string()));
        history.set_speed(&timeline, speed, Instant::now());
        app.timeline = timeline;
        app.history = Some(history);
        if !warnings.is_empty() {
            app.error(warnings.join("; "));
        }
        app
    }

    /// Whether the history view is open.
    pub fn in_history(&self) -> bool {
        self.history.is_some()
    }

    /// Every event the console has seen (the session's, or the replayed file's).
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// Opens the history view at the newest event (`v`).
    pub(super) fn open_history(&mut self) {
        if self.timeline.is_empty() {
            self.error("no event yet: there is no past to go back to");
            return;
        }
        let history = History::open(&self.timeline, self.timeline.len(), &self.screen, None);
        self.history = Some(history);
        let behind = if self.screen.frozen { "stays frozen" } else { "runs on" };
        self.info(format!(
            "the past, read-only: ← → step, n N jump, Home End, space plays; Esc is the present (the cluster {behind})"
        ));
    }

    /// A key in the history view.
    pub(super) fn history_action(&mut self, action: Action) {
        let Some(h) = &mut self.history else { return };
        if h.screen().mode == Mode::Help {
            h.screen_mut().mode = Mode::History;
            self.quit |= action == Action::Quit;
            return;
        }
        let (at, total) = (h.at(), self.timeline.len());
        match action {
            Action::HistoryStep(d) => self.history_move(at.saturating_add_signed(d as isize)),
            Action::HistoryStart => self.history_move(0),
            Action::HistoryEnd => self.history_move(total),
            Action::HistoryMark(d) => self.history_jump(d),
            Action::HistoryKind => {
                let view = h.view();
                let i = Mark::ALL.iter().position(|m| *m == view.mark).unwrap_or(0);
                let mark = Mark::ALL[(i + 1) % Mark::ALL.len()];
                h.set(&self.timeline, mark, view.lower);
                self.info(format!("n and N jump to the next and previous {}", mark.name()));
            }
            Action::HistoryFork if self.replay.is_some() => {
                self.error(
                    "a replay has no simulator to fork: fork in a console session (quorum --engine sim)",
                );
            }
            Action::HistoryFork => {
                let seq = h.view().seq.unwrap_or(0);
                self.info(format!("forking the past at event {seq}: re-executing the seed and every input…"));
                self.send(Command::Fork(seq));
            }
            Action::SwitchBranch if self.replay.is_some() => self.error("a replay has one branch only"),
            Action::SwitchBranch => self.send(Command::SwitchBranch(None)),
            Action::HistoryLower => {
                let view = h.view();
                let lower = view.lower.next();
                h.set(&self.timeline, view.mark, lower);
                self.info(format!("the lower panel shows {}", lower.name()));
            }
            Action::HistoryPlay if !h.toggle_play(&self.timeline, Instant::now()) => {
                self.error("at the newest event: nothing to play (Home goes back to the start)");
            }
            Action::HistoryPlay => {}
            Action::HistorySpeed(d) => self.history_speed(d),
            Action::SelectNode(d) => match self.node_from_digit(d) {
                Ok(id) => {
                    self.screen.selected = id;
                    if let Some(h) = &mut self.history {
                        h.screen_mut().selected = id;
                    }
                }
                Err(e) => self.error(e),
            },
            Action::FeedKind => {
                let feed = &mut h.screen_mut().feed;
                feed.kind = feed.kind.next();
            }
            Action::Help => h.screen_mut().mode = Mode::Help,
            Action::Cancel => self.leave_history(),
            Action::Quit => self.quit = true,
            _ => {}
        }
    }

    /// Leaves the history view for the live one (a replay has none: it says so).
    fn leave_history(&mut self) {
        if self.replay.is_some() {
            self.error("a replay has no present to go back to: q quits");
            return;
        }
        self.history = None;
        self.info("back to the present");
    }

    /// Moves the cursor by hand (which pauses play). A move clears the notice, so the status
    /// line shows the event the cursor is at.
    fn history_move(&mut self, to: usize) {
        let Some(h) = &mut self.history else { return };
        if h.playing() {
            h.toggle_play(&self.timeline, Instant::now());
        }
        if h.move_to(&self.timeline, to) {
            h.screen_mut().notice = None;
        }
    }

    /// Jumps to the next (`d` > 0) or previous event of the chosen kind, or says there is none.
    fn history_jump(&mut self, d: i8) {
        let Some(h) = &self.history else { return };
        let mark = h.view().mark;
        let found = if d > 0 {
            self.timeline.next_mark(h.at(), mark)
        } else {
            self.timeline.previous_mark(h.at(), mark)
        };
        match found {
            Some(to) => self.history_move(to),
            None => {
                let way = if d > 0 { "after" } else { "before" };
                self.error(format!("no {} {way} this event (Tab chooses another kind)", mark.name()));
            }
        }
    }

    /// The next play speed up (`d` > 0) or down.
    fn history_speed(&mut self, d: i8) {
        let Some(h) = &mut self.history else { return };
        let now = h.view().play_speed;
        let speed = if d > 0 {
            PLAY_SPEEDS.iter().copied().find(|&s| s > now + 1e-9).unwrap_or(now)
        } else {
            PLAY_SPEEDS.iter().rev().copied().find(|&s| s < now - 1e-9).unwrap_or(now)
        };
        h.set_speed(&self.timeline, speed, Instant::now());
        let label = crate::tui::widgets::speed_label(speed);
        self.info(format!("plays at {label}: a second of the run every {} s", fmt_secs(1.0 / speed)));
    }

    /// While playing, moves the cursor on; returns when to look again.
    pub(super) fn tick_history(&mut self, now: Instant) -> Option<Instant> {
        let h = self.history.as_mut()?;
        let (at, playing) = (h.at(), h.playing());
        let wake = h.tick(&self.timeline, now);
        if h.at() != at || h.playing() != playing {
            self.dirty = true;
        }
        wake
    }

    /// A key the history view has no use for: one that acts on the cluster is refused with the
    /// reason (the past is read-only), any other is said to do nothing here.
    pub(super) fn refuse_in_history(&mut self, key: &KeyEvent) {
        let name = keymap::describe(key);
        let acts = keymap::lookup(Context::Main, key).filter(|a| a.acts_on_cluster());
        let help =
            acts.and_then(|a| keymap::BINDINGS.iter().find(|b| b.context == Context::Main && b.action == a));
        let text = match (help, &self.replay) {
            (Some(b), Some(_)) => {
                format!("a replay is read-only: {name} ({}) acts on a cluster, and none runs", b.help)
            }
            (Some(b), None) => {
                format!(
                    "read-only past: {name} ({}) acts on the cluster; Esc returns to the live view",
                    b.help
                )
            }
            (None, _) => {
                format!("no action on {name} in the history view: ← → step, n N jump, ? for every key")
            }
        };
        self.error(text);
    }
}

/// Seconds in few digits: `20`, `0.5`, `0.1`.
fn fmt_secs(s: f64) -> String {
    let text = format!("{s:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
