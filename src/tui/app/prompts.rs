//! The modes that take input: the one-line prompts (put, get, loss, delay), the partition editor
//! and picking a one-way link to cut or restore.

use super::parse::{ELECTION_TIMEOUT_MS, parse_delay, parse_key, parse_loss, parse_put};
use super::{App, CLIENT_LINES, MAX_IN_FLIGHT, MAX_INPUT};
use crate::kv::Op;
use crate::raft::NodeId;
use crate::tui::action::{Action, Command};
use crate::tui::netview;
use crate::tui::screen::{ClientLine, Mode, PromptKind};
use crate::tui::widgets;

impl App {
    /// Opens an empty prompt.
    pub(super) fn open_prompt(&mut self, kind: PromptKind) {
        self.screen.mode = Mode::Prompt { kind, input: String::new(), error: None };
    }

    /// A key in a prompt: edit the input, submit it (a refusal stays in the prompt), or leave.
    pub(super) fn prompt_action(&mut self, action: Action) {
        let Mode::Prompt { kind, input, error } = &mut self.screen.mode else { return };
        let kind = *kind;
        match action {
            Action::Type(c) => {
                if input.chars().count() < MAX_INPUT {
                    input.push(c);
                    *error = None;
                } else {
                    *error = Some(format!("a prompt holds {MAX_INPUT} characters at most"));
                }
            }
            Action::Backspace => {
                input.pop();
                *error = None;
            }
            Action::ClearInput => {
                input.clear();
                *error = None;
            }
            Action::Cancel => self.screen.mode = Mode::Normal,
            Action::Quit => self.quit = true,
            Action::Submit => {
                let text = input.clone();
                match self.submit(kind, &text) {
                    Ok(()) => self.screen.mode = Mode::Normal,
                    Err(e) => {
                        if let Mode::Prompt { error, .. } = &mut self.screen.mode {
                            *error = Some(e);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn submit(&mut self, kind: PromptKind, input: &str) -> Result<(), String> {
        let via = self.selected();
        match kind {
            PromptKind::Put => {
                let (key, value) = parse_put(input)?;
                self.client(via, Op::Put { key, value })
            }
            PromptKind::Get => {
                let key = parse_key(input)?;
                self.client(via, Op::Get { key })
            }
            PromptKind::Loss => {
                let p = parse_loss(input)?;
                self.send(Command::SetLoss(p));
                self.info(format!("loss {} on every link", netview::percent(p)));
                Ok(())
            }
            PromptKind::Delay => {
                let (lo, hi) = parse_delay(input)?;
                self.send(Command::SetDelay(lo, hi));
                let set = format!("delay {} on every link", netview::delay((lo * 1_000_000, hi * 1_000_000)));
                // A vote needs a round trip within the election timeout; heartbeats need to
                // arrive within it. Delays and timeouts scale alike with the speed, so compare
                // at 1×.
                let timeout = ELECTION_TIMEOUT_MS;
                if lo >= timeout {
                    self.error(format!(
                        "{set}: every message now takes longer than the {timeout} ms election timeout: \
                         followers time out before any heartbeat arrives, and no election can succeed"
                    ));
                } else if 2 * hi >= timeout {
                    self.error(format!(
                        "{set}: a vote's round trip can take {} ms, at or above the {timeout} ms election \
                         timeout: elections may keep failing",
                        2 * hi
                    ));
                } else {
                    self.info(set);
                }
                Ok(())
            }
        }
    }

    fn client(&mut self, via: NodeId, request: Op) -> Result<(), String> {
        // External clients' operations wait in their own sessions: they take no room here.
        let pending = self.screen.clients.iter().filter(|l| l.outcome.is_none() && l.conn.is_none()).count();
        if pending >= MAX_IN_FLIGHT {
            return Err(format!("{pending} requests are still waiting: let some finish first"));
        }
        let op = self.next_op;
        self.next_op += 1;
        self.add_client_line(ClientLine { op, via, request: request.clone(), outcome: None, conn: None });
        self.send(Command::Client { op, via, request: request.clone() });
        self.info(format!("{request} sent via {via}"));
        Ok(())
    }

    /// A line in the clients panel for an operation just sent (the oldest finished one goes
    /// when the panel is full).
    pub(super) fn add_client_line(&mut self, line: ClientLine) {
        if self.screen.clients.len() >= CLIENT_LINES
            && let Some(i) = self.screen.clients.iter().position(|l| l.outcome.is_some())
        {
            self.screen.clients.remove(i);
        }
        self.screen.clients.push_back(line);
    }

    /// A key in the partition editor: move a node to the next group, apply, or leave.
    pub(super) fn editor_action(&mut self, action: Action) {
        match action {
            Action::CycleGroup(d) => {
                let picked = self.node_from_digit(d);
                let Mode::Editor { groups, error } = &mut self.screen.mode else { return };
                match picked {
                    Ok(id) => {
                        if let Some(g) = groups.get_mut(&id) {
                            *g = (*g + 1) % 3;
                        }
                        *error = None;
                    }
                    Err(e) => *error = Some(e),
                }
            }
            Action::Submit => {
                let Mode::Editor { groups, .. } = &self.screen.mode else { return };
                let result = widgets::editor_groups(groups);
                self.screen.mode = Mode::Normal;
                if result.len() <= 1 {
                    self.send(Command::Partition(Vec::new()));
                    self.info("partition removed: every node can reach every other (cuts stay)");
                } else {
                    self.info(format!("partition {}", netview::describe_groups(&result)));
                    self.send(Command::Partition(result));
                }
            }
            Action::Cancel => self.screen.mode = Mode::Normal,
            Action::Quit => self.quit = true,
            _ => {}
        }
    }

    /// A key while picking a link: the sender, then the receiver (which cuts or restores it).
    pub(super) fn pick_action(&mut self, action: Action) {
        match action {
            Action::PickNode(d) => {
                let picked = self.node_from_digit(d);
                let Mode::Pick { from, error } = &mut self.screen.mode else { return };
                match (picked, *from) {
                    (Err(e), _) => *error = Some(e),
                    (Ok(a), None) => {
                        *from = Some(a);
                        *error = None;
                    }
                    (Ok(b), Some(a)) if a == b => *error = Some("pick two different nodes".into()),
                    (Ok(b), Some(a)) => {
                        self.screen.mode = Mode::Normal;
                        // Is the link cut now (leaving partitions aside)?
                        let mut net = self.screen.network.clone();
                        net.partition(&[]);
                        if net.reachable(a, b).is_err() {
                            self.send(Command::Restore(a, b));
                            self.info(format!("restoring the link {a} → {b}"));
                        } else {
                            self.send(Command::Cut(a, b));
                            self.info(format!("cutting the link {a} → {b} (one way: {b} → {a} still works)"));
                        }
                    }
                }
            }
            Action::Cancel => self.screen.mode = Mode::Normal,
            Action::Quit => self.quit = true,
            _ => {}
        }
    }
}
