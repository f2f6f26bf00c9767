//! Messages and time by hand: holding the network (`m`), delivering the oldest held message
//! (`.`), choosing any message in the in-flight panel (`i`) to deliver, drop or duplicate, and,
//! while frozen, moving time a tick (`a`) or to the next timer (`w`).
//!
//! Freeze plus hold is the step-by-step mode: nothing happens unless the user delivers a
//! message or moves time. For the core a held message is only a slow one (paper §5.1: Raft's
//! safety does not depend on timing), so nothing done here can break it.

use super::App;
use crate::control::RunState;
use crate::network::HeldAction;
use crate::tui::action::{Action, Command};
use crate::tui::screen::Mode;

impl App {
    /// The dashboard's keys for messages and time.
    pub(super) fn flight_main(&mut self, action: Action) {
        match action {
            Action::Hold => {
                let hold = !self.screen.network.holds();
                self.screen.network.set_hold(hold);
                self.send(Command::Hold(hold));
                self.expected_hold = Some((self.sent, hold));
                if hold {
                    self.info("holding messages: each waits in flight (. delivers the oldest, i chooses)");
                } else {
                    self.screen.held.clear();
                    self.info("messages flow again: everything held was delivered");
                }
            }
            // The oldest when the engine gets to it: quick presses deliver one message each,
            // in order, whatever the screen showed.
            Action::DeliverOldest if self.screen.network.holds() => {
                if !self.screen.held.is_empty() {
                    self.screen.held.remove(0);
                }
                self.send(Command::Held(None, HeldAction::Deliver));
            }
            Action::DeliverOldest => {
                self.error("nothing is held: m holds the network, then . delivers one message")
            }
            Action::FlightPanel => {
                self.screen.show_flight = true;
                let chosen = self
                    .screen
                    .held
                    .first()
                    .map(|h| h.id)
                    .or_else(|| self.screen.flight.iter().next().map(|m| m.id));
                self.screen.mode = Mode::Flight { chosen, error: None };
            }
            Action::Tick | Action::NextTimer if !self.screen.frozen => {
                self.error("time moves by hand only while frozen: space freezes");
            }
            Action::Tick => {
                self.send(Command::AdvanceTicks(1));
                self.info("time moved one tick on every running node");
            }
            Action::NextTimer => {
                let next = self
                    .screen
                    .nodes
                    .iter()
                    .filter(|n| n.run == RunState::Running && n.role.is_some())
                    .min_by_key(|n| n.next_timer);
                match next {
                    Some(n) => {
                        let (id, ticks) = (n.id, n.next_timer.max(1));
                        self.send(Command::AdvanceTicks(ticks));
                        self.info(format!("time moved {ticks} tick(s): {id}'s timer fires now"));
                    }
                    None => self.error("no node is running: no timer can fire"),
                }
            }
            _ => {}
        }
    }

    /// The keys of the in-flight panel.
    pub(super) fn flight_action(&mut self, action: Action) {
        let Mode::Flight { chosen, .. } = &self.screen.mode else { return };
        let chosen = chosen.filter(|&id| self.screen.flight.get(id).is_some() || self.screen.is_held(id));
        let set = |app: &mut App, chosen: Option<u64>, error: Option<String>| {
            app.screen.mode = Mode::Flight { chosen, error };
        };
        match action {
            Action::FlightMove(step) => {
                let ids: Vec<u64> = self.flight_ids();
                let at = chosen.and_then(|c| ids.iter().position(|&i| i == c));
                let next = match at {
                    Some(i) => ids.get((i as i64 + i64::from(step)).clamp(0, ids.len() as i64 - 1) as usize),
                    None => ids.first(),
                };
                set(self, next.copied(), None);
            }
            Action::DeliverChosen | Action::DropChosen | Action::DuplicateChosen => {
                let what = match action {
                    Action::DeliverChosen => HeldAction::Deliver,
                    Action::DropChosen => HeldAction::Drop,
                    _ => HeldAction::Duplicate,
                };
                match chosen {
                    Some(id) if self.screen.is_held(id) => {
                        if what != HeldAction::Duplicate
                            && let Some(i) = self.screen.held.iter().position(|h| h.id == id)
                        {
                            self.screen.held.remove(i);
                        }
                        self.send(Command::Held(Some(id), what));
                        let next =
                            if what == HeldAction::Duplicate { Some(id) } else { self.next_chosen(id) };
                        set(self, next, None);
                    }
                    Some(id) => set(
                        self,
                        Some(id),
                        Some(format!("m{id} is not held: only held messages are acted on by hand (m holds)")),
                    ),
                    None => set(self, None, Some("nothing is chosen: nothing is in flight".into())),
                }
            }
            Action::ReleaseAll => {
                self.screen.held.clear();
                self.send(Command::ReleaseHeld);
                set(self, None, None);
                self.info("every held message was delivered");
            }
            Action::Cancel => {
                self.screen.mode = Mode::Normal;
                self.screen.show_flight = false;
            }
            Action::Quit => self.quit = true,
            _ => {}
        }
    }

    /// The ids the panel lists, oldest first: every message in flight, and held copies the
    /// event stream has not shown yet.
    fn flight_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.screen.flight.iter().map(|m| m.id).collect();
        ids.extend(self.screen.held.iter().map(|h| h.id));
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// After `id` is delivered or dropped: the next held message after it, or before it.
    fn next_chosen(&self, id: u64) -> Option<u64> {
        let held: Vec<u64> = self.screen.held.iter().map(|h| h.id).collect();
        held.iter().copied().find(|&h| h > id).or_else(|| held.last().copied())
    }
}

impl App {
    /// The switchable bugs (simulator only): 1 local reads, 2 committing by counting old-term
    /// replicas (only one hazard at a time), 3 PreVote, 4 CheckQuorum. Each flip is carried out
    /// at once on every node, and the header says what is switched.
    pub(super) fn switches_action(&mut self, action: Action) {
        use crate::raft::{Hazard, Switches};
        let mut sw = self.screen.switches.unwrap_or(Switches::CORRECT);
        match action {
            Action::Toggle(d) => {
                let flip = |h: Hazard, now: Option<Hazard>| if now == Some(h) { None } else { Some(h) };
                match d {
                    1 => sw.hazard = flip(Hazard::LocalReads, sw.hazard),
                    2 => sw.hazard = flip(Hazard::CommitOldTerm, sw.hazard),
                    3 => sw.pre_vote = !sw.pre_vote,
                    4 => sw.check_quorum = !sw.check_quorum,
                    _ => {
                        self.screen.mode =
                            Mode::Switches { error: Some(format!("there is no switch {d}: 1 to 4")) };
                        return;
                    }
                }
                self.screen.switches = Some(sw);
                self.send(Command::SetSwitches(sw));
                self.screen.mode = Mode::Switches { error: None };
            }
            Action::Cancel => self.screen.mode = Mode::Normal,
            Action::Quit => self.quit = true,
            _ => {}
        }
    }
}
