//! The console's state and its reaction to keys, clicks and news from the cluster. The app does
//! no I/O: it turns input into state changes and [`Command`]s, which the run loop hands to the
//! engine, and it folds the engine's [`Update`]s into the [`ScreenState`] the screen is drawn from.
//! So every key sequence can be tested without a terminal or a cluster.
//!
//! This file holds the state, the news from the engine and the dispatch of an action by mode;
//! the rest is split by concern: `app/input.rs` (keys, paste and mouse), `app/actions.rs` (the
//! dashboard's actions), `app/prompts.rs` (prompts, the partition editor and link picking),
//! `app/cursor.rs` (the log cursor), `app/pace.rs` (the lecture pace) and `app/parse.rs`
//! (reading what is typed into a prompt).

use super::action::{Action, Command};
use super::engine::{Poll, Update};
use super::feed::Rates;
use super::history::History;
use super::layout;
use super::screen::{ClientLine, Mode, Notice, ScreenState};
use crate::control::RunState;
use crate::raft::NodeId;
use ratatui::layout::Rect;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

mod actions;
mod cursor;
mod flight;
mod history;
mod input;
mod pace;
mod parse;
mod prompts;

pub use parse::{ELECTION_TIMEOUT_MS, MAX_DELAY_MS, parse_delay, parse_key, parse_loss, parse_put};

/// How long a notice stays in the status line.
pub const NOTICE_TTL: Duration = Duration::from_secs(10);
/// Client operations allowed in flight at once.
pub const MAX_IN_FLIGHT: usize = 16;
/// Client operations kept in the clients panel.
pub const CLIENT_LINES: usize = 50;
/// Longest prompt input.
const MAX_INPUT: usize = 200;
/// The speeds `+` and `-` step through.
pub const SPEEDS: [f64; 8] = [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];

/// The console's state.
pub struct App {
    screen: ScreenState,
    members: Vec<NodeId>,
    /// Nodes the user paused with `z`: they stay paused when the cluster is unfrozen.
    user_paused: BTreeSet<NodeId>,
    outbox: Vec<Command>,
    /// Commands produced so far (the engine carries them out in this order).
    sent: u64,
    /// Run states that commands not yet carried out will bring (the command's number, the node,
    /// the state). Keys are judged on these before the polled status, which can be 100 ms old:
    /// `k r` typed fast is a kill then a restart, not a kill and a refusal.
    expected: Vec<(u64, NodeId, RunState)>,
    /// The hold a command not yet carried out will bring (its number, held or not), for the
    /// same reason: `m m` typed fast holds and lets go.
    expected_hold: Option<(u64, bool)>,
    quit: bool,
    next_op: u64,
    rates: Rates,
    size: (u16, u16),
    notice_at: Option<Instant>,
    dirty: bool,
    /// The speed and delay (ms) the lecture pace replaced, to go back to (`L`).
    before_lecture: Option<(f64, (u64, u64))>,
    /// Every event of the session, to stand at any of them (the history view).
    timeline: crate::replay::Timeline,
    /// The history view, while it is open.
    history: Option<History>,
    /// The simulated past's branch running now (1 until a fork).
    branch: u32,
    /// The timelines of the other branches, to come back to.
    branches: std::collections::BTreeMap<u32, crate::replay::Timeline>,
    /// For `quorum replay`: what is replayed (no cluster runs; the view cannot be left).
    replay: Option<String>,
}

impl App {
    /// A console for a cluster of `members`; `storage` says where durable state lives.
    pub fn new(members: Vec<NodeId>, storage: &str) -> App {
        App {
            screen: ScreenState::new(&members, storage),
            members,
            user_paused: BTreeSet::new(),
            outbox: Vec::new(),
            sent: 0,
            expected: Vec::new(),
            expected_hold: None,
            quit: false,
            next_op: 1,
            rates: Rates::default(),
            size: (layout::MIN_WIDTH, layout::MIN_HEIGHT),
            notice_at: None,
            dirty: true,
            before_lecture: None,
            timeline: crate::replay::Timeline::new(),
            history: None,
            branch: 1,
            branches: std::collections::BTreeMap::new(),
            replay: None,
        }
    }

    /// What the screen shows: the history view's past while it is open, else the present.
    pub fn screen(&self) -> &ScreenState {
        self.history.as_ref().map_or(&self.screen, History::screen)
    }

    /// The screen shown, to change its mode or notice.
    fn shown_mut(&mut self) -> &mut ScreenState {
        match &mut self.history {
            Some(h) => h.screen_mut(),
            None => &mut self.screen,
        }
    }

    /// Queues a command for the engine.
    fn send(&mut self, command: Command) {
        self.sent += 1;
        self.outbox.push(command);
    }

    /// Queues a command that will bring `node` to `run`, and remembers that it will.
    fn send_expecting(&mut self, command: Command, node: NodeId, run: RunState) {
        self.send(command);
        self.expected.push((self.sent, node, run));
    }

    /// The commands produced since the last call, in order.
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.outbox)
    }

    /// True once the user asked to leave.
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// True if the screen changed since the last call.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The terminal's size changed (or is first known).
    pub fn resize(&mut self, width: u16, height: u16) {
        self.size = (width, height);
        self.dirty = true;
    }

    /// Clears an expired notice and moves a playing history view on; returns when to look
    /// again, if anything waits.
    pub fn tick(&mut self, now: Instant) -> Option<Instant> {
        let play = self.tick_history(now);
        let at = self.notice_at?;
        if now >= at + NOTICE_TTL {
            self.screen.notice = None;
            if let Some(h) = &mut self.history {
                h.screen_mut().notice = None;
            }
            self.notice_at = None;
            self.dirty = true;
            return play;
        }
        Some(play.map_or(at + NOTICE_TTL, |p| p.min(at + NOTICE_TTL)))
    }

    fn notice(&mut self, text: impl Into<String>, error: bool) {
        self.shown_mut().notice = Some(Notice { text: text.into(), error });
        self.notice_at = Some(Instant::now());
    }

    fn info(&mut self, text: impl Into<String>) {
        self.notice(text, false);
    }

    fn error(&mut self, text: impl Into<String>) {
        self.notice(text, true);
    }

    /// Folds news from the engine into the screen.
    pub fn on_update(&mut self, update: Update) {
        match update {
            Update::Poll(poll) => self.on_poll(poll),
            Update::Client { op, outcome } => {
                let mut external = false;
                if let Some(line) = self.screen.clients.iter_mut().find(|l| l.op == op) {
                    line.outcome = Some(outcome);
                    external = line.conn.is_some();
                }
                // The result replaces a passing notice (such as "sent") in the status line; an
                // external client's (they may come by the thousand) leaves it be.
                if !external && self.screen.notice.as_ref().is_some_and(|n| !n.error) {
                    self.screen.notice = None;
                    self.notice_at = None;
                }
                self.dirty = true;
            }
            Update::Verdict(v) => {
                if v != self.screen.verdict {
                    self.screen.verdict = v;
                    self.dirty = true;
                }
            }
            Update::Notice(n) => {
                self.notice(n.text, n.error);
                self.dirty = true;
            }
            Update::ClientSent { op, via, request, conn } => {
                self.add_client_line(ClientLine { op, via, request, outcome: None, conn });
                self.dirty = true;
            }
            Update::Lesson(view) => {
                // A lesson's step plays on a frozen cluster; going back leaves it frozen too.
                if view.playing || !view.diverged {
                    self.screen.frozen = true;
                }
                self.screen.lesson = Some(view);
                self.dirty = true;
            }
        }
    }

    fn on_poll(&mut self, poll: Poll) {
        let Poll { nodes, network, speed, now, events, applied, held, switches, rebased } = poll;
        let rebased = rebased.map(|branch| {
            let first = events.first().map_or(0, |e| e.seq);
            self.on_branch(&branch, first);
        });
        if switches != self.screen.switches {
            self.screen.switches = switches;
            self.dirty = true;
        }
        // These statuses were read after the engine had carried out `applied` commands.
        self.expected.retain(|&(seq, _, _)| seq > applied);
        // A node that could not start or stopped on an error says why, loudly: the card has
        // room for little of it, the status line for all.
        for node in &nodes {
            if let RunState::Crashed(reason) = &node.run
                && !self.screen.nodes.iter().any(|old| old.id == node.id && old.run == node.run)
            {
                self.error(format!("{} {reason}", node.id));
            }
        }
        if nodes.len() != self.screen.nodes.len() || nodes.iter().zip(&self.screen.nodes).any(|(a, b)| a != b)
        {
            self.screen.nodes = nodes;
            self.dirty = true;
        }
        if held != self.screen.held {
            self.screen.held = held;
            self.dirty = true;
        }
        // Ages in the in-flight panel move with the clock.
        if self.screen.flight_shown() && now != self.screen.now {
            self.dirty = true;
        }
        self.screen.now = now;
        let mut network = network;
        match self.expected_hold {
            Some((seq, hold)) if seq > applied => network.set_hold(hold),
            _ => self.expected_hold = None,
        }
        if network.to_string() != self.screen.network.to_string()
            || network.default_rule() != self.screen.network.default_rule()
            || network.holds() != self.screen.network.holds()
        {
            self.screen.network = network;
            self.dirty = true;
        }
        if speed != self.screen.speed {
            self.screen.speed = speed;
            self.dirty = true;
        }
        if !events.is_empty() {
            self.dirty = true;
        }
        for event in events {
            // After a fork or going back, the new stream begins with events the timeline (and
            // the messages in flight and the rates, taken from it) hold already.
            if event.seq >= self.timeline.len() as u64 {
                self.rates.observe(&event);
                self.screen.flight.observe(&event);
                self.timeline.push(event.clone());
            }
            self.screen.feed.push(event);
        }
        if rebased.is_some() {
            self.clients_from_timeline();
        }
        if let Some(h) = &mut self.history
            && h.view().total != self.timeline.len()
        {
            h.grown(&self.timeline);
            self.dirty = true;
        }
        self.show_safety();
        let rates = self.rates.per_link(now);
        if rates != self.screen.rates {
            self.screen.rates = rates;
            self.dirty = true;
        }
    }

    /// The safety checks of every event the timeline holds (the branch's, after a fork).
    fn show_safety(&mut self) {
        let safety = self.timeline.head().safety();
        if *safety != self.screen.safety {
            let safety = safety.clone();
            // A property broken for the first time is said whole in the status line too.
            for v in safety.broken.iter().skip(self.screen.safety.broken.len()) {
                self.error(format!("safety: {} broken: {v}", v.property));
            }
            self.screen.safety = safety;
            self.dirty = true;
        }
    }

    /// The simulator went to another branch of its past (a fork, or a switch back): the
    /// timeline becomes the branch's (a new branch's is its parent's up to the fork), and
    /// what the screen kept of the old stream goes.
    fn on_branch(&mut self, branch: &crate::control::Branch, first: u64) {
        if branch.number == self.branch {
            // The same branch, taken back (a lesson's `b`): the events before the first of the
            // new stream are the same as before (re-executed), the rest go.
            self.timeline.truncate(first as usize);
        } else {
            let timeline = std::mem::take(&mut self.timeline);
            let left = std::mem::replace(&mut self.branch, branch.number);
            self.timeline = match (self.branches.remove(&branch.number), branch.parent) {
                (Some(kept), _) => kept,
                (None, Some((_, shared))) => {
                    let mut t = timeline.clone();
                    t.truncate(shared as usize + 1);
                    t
                }
                (None, None) => crate::replay::Timeline::new(),
            };
            self.branches.insert(left, timeline);
        }
        self.history = None;
        self.screen.mode = Mode::Normal;
        self.screen.history = None;
        self.screen.feed.clear();
        self.screen.flight = self.timeline.head().in_flight.clone();
        self.screen.safety = crate::safety::Report::default();
        self.dirty = true;
    }

    /// After a fork or going back, once the new stream's first events are in: the operations
    /// that returned in the branch's past (numbered 0: no answer is due for them), then the
    /// ones still waiting for theirs.
    fn clients_from_timeline(&mut self) {
        let mut clients = crate::tui::history::client_lines(self.timeline.head());
        clients.iter_mut().for_each(|line| line.op = 0);
        clients.extend(self.screen.clients.iter().filter(|line| line.outcome.is_none()).cloned());
        self.screen.clients = clients;
    }

    fn selected(&self) -> NodeId {
        self.screen.selected
    }

    fn run_state(&self, id: NodeId) -> RunState {
        if let Some((_, _, run)) = self.expected.iter().rev().find(|(_, n, _)| *n == id) {
            return run.clone();
        }
        self.screen.node(id).map_or(RunState::Running, |n| n.run.clone())
    }

    fn is_paused(&self, id: NodeId) -> bool {
        self.run_state(id) == RunState::Paused || self.user_paused.contains(&id)
    }

    fn node_from_digit(&self, d: u8) -> Result<NodeId, String> {
        let id = NodeId(d as u64);
        if self.members.contains(&id) {
            Ok(id)
        } else {
            let last = self.members.last().copied().unwrap_or(NodeId(1));
            Err(format!("there is no {id}: this cluster has n1 to {last}"))
        }
    }

    /// Carries out an action in the current mode.
    fn perform(&mut self, action: Action) {
        if self.history.is_some() {
            return self.history_action(action);
        }
        match &self.screen.mode {
            Mode::Normal => self.main_action(action),
            Mode::Help => {
                if action == Action::Quit {
                    self.quit = true;
                }
                self.screen.mode = Mode::Normal;
            }
            Mode::Prompt { .. } => self.prompt_action(action),
            Mode::Editor { .. } => self.editor_action(action),
            Mode::Pick { .. } => self.pick_action(action),
            Mode::Flight { .. } => self.flight_action(action),
            Mode::Switches { .. } => self.switches_action(action),
            Mode::Log { .. } => self.log_action(action),
            Mode::History => {}
        }
    }

    /// The screen's areas at the terminal's size; `None` while it is too small.
    fn areas(&self) -> Option<layout::Areas> {
        layout::areas(Rect::new(0, 0, self.size.0, self.size.1), self.members.len())
    }
}
