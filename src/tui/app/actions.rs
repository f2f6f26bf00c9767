//! The dashboard's actions (normal mode), one method per group: selection, node control, the
//! network, the whole cluster, and the feed and clients panels.

use super::{App, SPEEDS};
use crate::control::RunState;
use crate::raft::{NodeId, Role};
use crate::tui::action::{Action, Command};
use crate::tui::netview;
use crate::tui::screen::{Mode, PromptKind};
use crate::tui::widgets;
use std::collections::BTreeMap;

impl App {
    /// Carries out an action of the dashboard.
    pub(super) fn main_action(&mut self, action: Action) {
        match action {
            Action::Move(_) | Action::SelectNode(_) | Action::SelectLeader => self.select_action(action),
            Action::Put => self.open_prompt(PromptKind::Put),
            Action::Get => self.open_prompt(PromptKind::Get),
            Action::Loss => self.open_prompt(PromptKind::Loss),
            Action::Delay => self.open_prompt(PromptKind::Delay),
            Action::Kill | Action::Restart | Action::TogglePause | Action::Campaign | Action::Transfer => {
                self.node_action(action)
            }
            Action::PartitionEditor | Action::Cut | Action::Heal => self.network_action(action),
            Action::Faster | Action::Slower | Action::Freeze | Action::Export => self.cluster_action(action),
            Action::FeedKind
            | Action::FeedNode
            | Action::FeedFreeze
            | Action::Scroll(_)
            | Action::Page(_)
            | Action::Follow
            | Action::ClientsScroll(_) => self.panel_action(action),
            Action::Bugs => match self.screen.switches {
                Some(_) => self.screen.mode = Mode::Switches { error: None },
                None => self.error("switchable bugs run on the simulator only: quorum --engine sim"),
            },
            Action::Hold | Action::DeliverOldest | Action::FlightPanel | Action::Tick | Action::NextTimer => {
                self.flight_main(action)
            }
            Action::LogCursor => self.open_log_cursor(),
            Action::History => self.open_history(),
            Action::SwitchBranch => self.send(Command::SwitchBranch(None)),
            Action::Lecture => self.toggle_lecture(),
            Action::LessonNext | Action::LessonBack => self.lesson_action(action),
            Action::Help => self.screen.mode = Mode::Help,
            Action::Quit => self.quit = true,
            // Prompt and editor actions mean nothing here.
            Action::Type(_)
            | Action::Backspace
            | Action::ClearInput
            | Action::Submit
            | Action::Cancel
            | Action::CycleGroup(_)
            | Action::PickNode(_)
            | Action::FlightMove(_)
            | Action::DeliverChosen
            | Action::DropChosen
            | Action::DuplicateChosen
            | Action::ReleaseAll
            | Action::Toggle(_) => {}
            Action::LogStep(_) | Action::LogFirst | Action::LogLast => {}
            Action::HistoryStep(_)
            | Action::HistoryStart
            | Action::HistoryEnd
            | Action::HistoryMark(_)
            | Action::HistoryKind
            | Action::HistoryPlay
            | Action::HistorySpeed(_)
            | Action::HistoryLower
            | Action::HistoryFork => {}
        }
    }

    /// `n` and `b` in a lesson: the next step (or hurry the one playing), back a step.
    fn lesson_action(&mut self, action: Action) {
        let Some(lesson) = &mut self.screen.lesson else {
            return self.error("no lesson is playing: quorum lesson lists them");
        };
        match action {
            Action::LessonNext if lesson.playing => self.send(Command::LessonHurry),
            Action::LessonNext if lesson.next.is_none() => {
                self.info("the end of the lesson: b goes back a step, and every key works");
            }
            Action::LessonNext => {
                // Shown at once; the engine's news confirms it.
                lesson.playing = true;
                self.screen.frozen = true;
                self.send(Command::LessonNext);
            }
            Action::LessonBack if lesson.playing => {
                self.error("a step is playing: wait for it (n finishes it at once), then b");
            }
            Action::LessonBack if lesson.position == 0 && !lesson.diverged => {
                self.error("the lesson is at its start: n plays the first step");
            }
            _ => {
                self.info("going back: re-executing the lesson from its seed…");
                self.send(Command::LessonBack);
            }
        }
    }

    /// Moves the selection: to the previous or next node, to node `nD`, or to the leader.
    fn select_action(&mut self, action: Action) {
        let sel = self.selected();
        match action {
            Action::Move(step) => {
                let n = self.members.len() as i64;
                let i = self.members.iter().position(|&m| m == sel).unwrap_or(0) as i64;
                self.screen.selected = self.members[(i + step as i64).rem_euclid(n) as usize];
            }
            Action::SelectNode(d) => match self.node_from_digit(d) {
                Ok(id) => self.screen.selected = id,
                Err(e) => self.error(e),
            },
            Action::SelectLeader => match self.screen.leader().map(|l| l.id) {
                Some(id) => self.screen.selected = id,
                None => self.error("there is no leader right now"),
            },
            // Other actions are routed elsewhere by `main_action`.
            _ => {}
        }
    }

    /// Kills, restarts, pauses or resumes the selected node, or makes it campaign; refuses what
    /// its run state does not allow.
    fn node_action(&mut self, action: Action) {
        let sel = self.selected();
        match action {
            Action::Kill => match self.run_state(sel) {
                RunState::Dead => self.error(format!("{sel} is already dead: r restarts it")),
                RunState::Crashed(_) => self.error(format!("{sel} has crashed already: r restarts it")),
                _ => {
                    self.user_paused.remove(&sel);
                    self.send_expecting(Command::Kill(sel), sel, RunState::Dead);
                    self.info(format!(
                        "killing {sel}: its volatile state is lost, its log and vote are kept"
                    ));
                }
            },
            Action::Restart => match self.run_state(sel) {
                RunState::Dead | RunState::Crashed(_) => {
                    self.send_expecting(Command::Restart(sel), sel, RunState::Running);
                    self.info(format!("restarting {sel} from its durable state"));
                }
                _ => self.error(format!("{sel} is running: k kills it first")),
            },
            Action::TogglePause => self.toggle_pause(sel),
            Action::Campaign => {
                let run = self.run_state(sel);
                if matches!(run, RunState::Dead | RunState::Crashed(_)) {
                    self.error(format!("{sel} is down: r restarts it"));
                } else if self.is_paused(sel) {
                    self.error(format!("{sel} is paused: it cannot time out until resumed (z)"));
                } else if self.screen.node(sel).and_then(|n| n.role) == Some(Role::Leader) {
                    self.error(format!("{sel} is the leader already"));
                } else {
                    self.send(Command::Campaign(sel));
                    self.info(format!("{sel} times out now and campaigns"));
                }
            }
            Action::Transfer => self.transfer(sel),
            // Other actions are routed elsewhere by `main_action`.
            _ => {}
        }
    }

    /// Asks the leader to hand its leadership over to `target` (thesis §3.10); refuses when
    /// nobody leads, when `target` leads already, or when either cannot take part (down,
    /// paused). The leader's events tell how it ends: finished, or abandoned after an
    /// election timeout.
    fn transfer(&mut self, target: NodeId) {
        let Some(leader) = self.screen.leader().map(|l| l.id) else {
            return self.error("there is no leader to transfer leadership from");
        };
        if leader == target {
            return self.error(format!("{target} is the leader already: select the node to hand over to"));
        }
        if matches!(self.run_state(target), RunState::Dead | RunState::Crashed(_)) {
            return self.error(format!("{target} is down: it cannot take over (r restarts it)"));
        }
        if self.is_paused(target) {
            return self.error(format!("{target} is paused: it cannot take over until resumed (z)"));
        }
        if self.is_paused(leader) {
            return self
                .error(format!("the leader {leader} is paused: it cannot hand over until resumed (z)"));
        }
        self.send(Command::Transfer(target));
        self.info(format!("{leader} transfers leadership to {target} (it refuses writes meanwhile)"));
    }

    /// Opens the partition editor (with the current groups) or the link picker, or heals the
    /// network.
    fn network_action(&mut self, action: Action) {
        match action {
            Action::PartitionEditor => {
                let view = netview::analyse(&self.screen.network, &self.members);
                let mut groups: BTreeMap<NodeId, u8> = self.members.iter().map(|&m| (m, 0)).collect();
                for (g, members) in view.groups.iter().enumerate() {
                    for m in members {
                        groups.insert(*m, g.min(2) as u8);
                    }
                }
                self.screen.mode = Mode::Editor { groups, error: None };
            }
            Action::Cut => self.screen.mode = Mode::Pick { from: None, error: None },
            Action::Heal => self.heal(),
            // Other actions are routed elsewhere by `main_action`.
            _ => {}
        }
    }

    /// Changes the speed, freezes or resumes every node, or exports the session's files.
    fn cluster_action(&mut self, action: Action) {
        match action {
            Action::Faster | Action::Slower => self.change_speed(action == Action::Faster),
            Action::Freeze => self.toggle_freeze(),
            Action::Export => {
                self.send(Command::Export);
                self.info("exporting the event log and the client history…");
            }
            // Other actions are routed elsewhere by `main_action`.
            _ => {}
        }
    }

    /// Filters, freezes and scrolls the event feed, and scrolls the clients panel.
    fn panel_action(&mut self, action: Action) {
        let sel = self.selected();
        match action {
            Action::FeedKind => self.screen.feed.kind = self.screen.feed.kind.next(),
            Action::FeedNode => {
                self.screen.feed.node = if self.screen.feed.node == Some(sel) { None } else { Some(sel) };
            }
            Action::FeedFreeze => {
                if self.screen.feed.frozen {
                    self.screen.feed.follow();
                } else {
                    self.screen.feed.freeze();
                }
            }
            Action::Scroll(lines) => self.scroll(lines as i64),
            Action::Page(pages) => {
                let page = self.areas().map_or(10, |a| widgets::page(a.events));
                self.scroll(pages as i64 * page as i64);
            }
            Action::Follow => self.screen.feed.follow(),
            Action::ClientsScroll(lines) => {
                let max = self.screen.clients.len().saturating_sub(1);
                self.screen.clients_scroll =
                    (self.screen.clients_scroll as i64 + lines as i64).clamp(0, max as i64) as usize;
            }
            // Other actions are routed elsewhere by `main_action`.
            _ => {}
        }
    }

    fn scroll(&mut self, lines: i64) {
        let feed = &mut self.screen.feed;
        let max = feed.visible().len();
        let next = (feed.scroll as i64 + lines).clamp(0, max as i64) as usize;
        if next > 0 && !feed.frozen {
            feed.freeze();
        }
        feed.scroll = next;
    }

    fn toggle_pause(&mut self, sel: NodeId) {
        if matches!(self.run_state(sel), RunState::Dead | RunState::Crashed(_)) {
            self.error(format!("{sel} is down: it cannot be paused (r restarts it)"));
            return;
        }
        if self.user_paused.remove(&sel) {
            self.send_expecting(Command::Resume(sel), sel, RunState::Running);
            self.info(format!("resuming {sel}"));
        } else {
            self.user_paused.insert(sel);
            self.send_expecting(Command::Pause(sel), sel, RunState::Paused);
            self.info(format!("pausing {sel}: it neither ticks nor receives (z resumes)"));
        }
    }

    /// Freezing stops time, not message handling: no timer runs and no client times out, but a
    /// message delivered by hand or a client's request is handled at once.
    fn toggle_freeze(&mut self) {
        if self.screen.frozen {
            self.screen.frozen = false;
            self.send(Command::Thaw);
            self.info("time runs again");
        } else {
            self.screen.frozen = true;
            self.send(Command::Freeze);
            self.info("frozen: no timer runs (a ticks, w to the next timer; space resumes)");
        }
    }

    fn change_speed(&mut self, faster: bool) {
        let now = self.screen.speed;
        let next = if faster {
            SPEEDS.iter().copied().find(|&s| s > now + 1e-9)
        } else {
            SPEEDS.iter().rev().copied().find(|&s| s < now - 1e-9)
        };
        match next {
            Some(s) => {
                self.screen.speed = s;
                self.send(Command::SetSpeed(s));
                self.info(format!("speed {}", widgets::speed_label(s)));
            }
            None if faster => {
                self.error(format!("already at the highest speed, {}", widgets::speed_label(now)))
            }
            None => self.error(format!("already at the lowest speed, {}", widgets::speed_label(now))),
        }
    }
}
