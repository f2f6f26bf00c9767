//! The console's state and its reaction to keys, clicks and news from the cluster. The app does
//! no I/O: it turns input into state changes and [`Command`]s, which the run loop hands to the
//! engine, and it folds the engine's [`Update`]s into the [`ScreenState`] the screen is drawn from.
//! So every key sequence can be tested without a terminal or a cluster.

use super::action::{Action, Command};
use super::engine::{Poll, Update};
use super::feed::Rates;
use super::keymap::{self, Context};
use super::layout;
use super::netview;
use super::screen::{ClientLine, Mode, Notice, PromptKind, ScreenState};
use super::widgets;
use crate::cluster::RunState;
use crate::kv::Op;
use crate::raft::{NodeId, Role};
use crossterm::event::{Event as TermEvent, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

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
    /// Nodes the freeze paused: unfreezing resumes exactly these.
    frozen_nodes: BTreeSet<NodeId>,
    outbox: Vec<Command>,
    /// Commands produced so far (the engine carries them out in this order).
    sent: u64,
    /// Run states that commands not yet carried out will bring (the command's number, the node,
    /// the state). Keys are judged on these before the polled status, which can be 100 ms old:
    /// `k r` typed fast is a kill then a restart, not a kill and a refusal.
    expected: Vec<(u64, NodeId, RunState)>,
    quit: bool,
    next_op: u64,
    rates: Rates,
    size: (u16, u16),
    notice_at: Option<Instant>,
    dirty: bool,
}

impl App {
    /// A console for a cluster of `members`; `storage` says where durable state lives.
    pub fn new(members: Vec<NodeId>, storage: &str) -> App {
        App {
            screen: ScreenState::new(&members, storage),
            members,
            user_paused: BTreeSet::new(),
            frozen_nodes: BTreeSet::new(),
            outbox: Vec::new(),
            sent: 0,
            expected: Vec::new(),
            quit: false,
            next_op: 1,
            rates: Rates::default(),
            size: (layout::MIN_WIDTH, layout::MIN_HEIGHT),
            notice_at: None,
            dirty: true,
        }
    }

    /// What the screen shows.
    pub fn screen(&self) -> &ScreenState {
        &self.screen
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

    /// Clears an expired notice; returns when the next one expires, if any.
    pub fn tick(&mut self, now: Instant) -> Option<Instant> {
        let at = self.notice_at?;
        if now >= at + NOTICE_TTL {
            self.screen.notice = None;
            self.notice_at = None;
            self.dirty = true;
            return None;
        }
        Some(at + NOTICE_TTL)
    }

    fn notice(&mut self, text: impl Into<String>, error: bool) {
        self.screen.notice = Some(Notice { text: text.into(), error });
        self.notice_at = Some(Instant::now());
    }

    fn info(&mut self, text: impl Into<String>) {
        self.notice(text, false);
    }

    fn error(&mut self, text: impl Into<String>) {
        self.notice(text, true);
    }

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
        let context = widgets::context_of(&self.screen.mode);
        // Behind the "terminal too small" screen nothing is visible, so nothing may act but
        // leaving (resizing comes as its own event).
        if self.too_small() {
            if keymap::lookup(context, &key) == Some(Action::Quit) {
                self.quit = true;
            }
            return;
        }
        match keymap::lookup(context, &key) {
            Some(action) => {
                self.dirty = true;
                self.perform(action);
            }
            None if context == Context::Main
                && key.kind != crossterm::event::KeyEventKind::Release
                && !matches!(key.code, crossterm::event::KeyCode::Modifier(_)) =>
            {
                self.dirty = true;
                self.error(format!("no action on {}: press ? to see every key", keymap::describe(&key)));
            }
            None => {}
        }
    }

    /// True while the terminal is too small to show the console.
    fn too_small(&self) -> bool {
        layout::areas(Rect::new(0, 0, self.size.0, self.size.1), self.members.len()).is_none()
    }

    /// Handles a mouse event: a click on a node selects it; the wheel over the feed scrolls it.
    pub fn on_mouse(&mut self, mouse: MouseEvent) {
        let Some(areas) = layout::areas(Rect::new(0, 0, self.size.0, self.size.1), self.members.len()) else {
            return;
        };
        let at = Position::new(mouse.column, mouse.row);
        match mouse.kind {
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

    /// Folds news from the engine into the screen.
    pub fn on_update(&mut self, update: Update) {
        match update {
            Update::Poll(poll) => self.on_poll(poll),
            Update::Client { op, outcome } => {
                if let Some(line) = self.screen.clients.iter_mut().find(|l| l.op == op) {
                    line.outcome = Some(outcome);
                }
                // The result replaces a passing notice (such as "sent") in the status line.
                if self.screen.notice.as_ref().is_some_and(|n| !n.error) {
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
        }
    }

    fn on_poll(&mut self, poll: Poll) {
        let Poll { nodes, network, speed, now, events, applied } = poll;
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
        if network.to_string() != self.screen.network.to_string()
            || network.default_rule() != self.screen.network.default_rule()
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
            self.rates.observe(&event);
            self.screen.feed.push(event);
        }
        let rates = self.rates.per_link(now);
        if rates != self.screen.rates {
            self.screen.rates = rates;
            self.dirty = true;
        }
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
        self.run_state(id) == RunState::Paused
            || self.user_paused.contains(&id)
            || self.frozen_nodes.contains(&id)
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

    fn perform(&mut self, action: Action) {
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
        }
    }

    fn open_prompt(&mut self, kind: PromptKind) {
        self.screen.mode = Mode::Prompt { kind, input: String::new(), error: None };
    }

    fn main_action(&mut self, action: Action) {
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
            Action::Put => self.open_prompt(PromptKind::Put),
            Action::Get => self.open_prompt(PromptKind::Get),
            Action::Loss => self.open_prompt(PromptKind::Loss),
            Action::Delay => self.open_prompt(PromptKind::Delay),
            Action::Kill => match self.run_state(sel) {
                RunState::Dead => self.error(format!("{sel} is already dead: r restarts it")),
                RunState::Crashed(_) => self.error(format!("{sel} has crashed already: r restarts it")),
                _ => {
                    self.user_paused.remove(&sel);
                    self.frozen_nodes.remove(&sel);
                    self.send_expecting(Command::Kill(sel), sel, RunState::Dead);
                    self.info(format!(
                        "killing {sel}: its volatile state is lost, its log and vote are kept"
                    ));
                }
            },
            Action::Restart => match self.run_state(sel) {
                RunState::Dead | RunState::Crashed(_) => {
                    let pause = self.screen.frozen;
                    if pause {
                        self.frozen_nodes.insert(sel);
                    }
                    let run = if pause { RunState::Paused } else { RunState::Running };
                    self.send_expecting(Command::Restart { node: sel, pause }, sel, run);
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
            Action::Heal => {
                self.send(Command::Heal);
                self.info("healing the network: no partition, no cuts, no loss, no delay");
            }
            Action::Faster | Action::Slower => self.change_speed(action == Action::Faster),
            Action::Freeze => self.toggle_freeze(),
            Action::Export => {
                self.send(Command::Export);
                self.info("exporting the event log and the client history…");
            }
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
                let page = layout::areas(Rect::new(0, 0, self.size.0, self.size.1), self.members.len())
                    .map_or(10, |a| widgets::page(a.events));
                self.scroll(pages as i64 * page as i64);
            }
            Action::Follow => self.screen.feed.follow(),
            Action::ClientsScroll(lines) => {
                let max = self.screen.clients.len().saturating_sub(1);
                self.screen.clients_scroll =
                    (self.screen.clients_scroll as i64 + lines as i64).clamp(0, max as i64) as usize;
            }
            Action::Help => self.screen.mode = Mode::Help,
            Action::Quit => self.quit = true,
            // Prompt and editor actions mean nothing here.
            Action::Type(_)
            | Action::Backspace
            | Action::ClearInput
            | Action::Submit
            | Action::Cancel
            | Action::CycleGroup(_)
            | Action::PickNode(_) => {}
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
        let frozen = self.screen.frozen;
        if self.user_paused.remove(&sel) {
            if frozen {
                self.frozen_nodes.insert(sel);
                self.info(format!("{sel} will resume with the cluster (space)"));
            } else {
                self.send_expecting(Command::Resume(sel), sel, RunState::Running);
                self.info(format!("resuming {sel}"));
            }
        } else {
            self.user_paused.insert(sel);
            if frozen {
                self.frozen_nodes.remove(&sel);
                self.info(format!("{sel} will stay paused when the cluster resumes"));
            } else {
                self.send_expecting(Command::Pause(sel), sel, RunState::Paused);
                self.info(format!("pausing {sel}: it neither ticks nor receives (z resumes)"));
            }
        }
    }

    fn toggle_freeze(&mut self) {
        if self.screen.frozen {
            let nodes: Vec<NodeId> = std::mem::take(&mut self.frozen_nodes).into_iter().collect();
            self.screen.frozen = false;
            self.send(Command::Thaw(nodes.clone()));
            self.expected.extend(nodes.into_iter().map(|n| (self.sent, n, RunState::Running)));
            self.info("cluster resumed");
        } else {
            let nodes: Vec<NodeId> = self
                .members
                .iter()
                .copied()
                .filter(|&id| {
                    !self.user_paused.contains(&id)
                        && matches!(self.run_state(id), RunState::Running | RunState::Paused)
                })
                .collect();
            self.frozen_nodes = nodes.iter().copied().collect();
            self.screen.frozen = true;
            self.send(Command::Freeze(nodes.clone()));
            self.expected.extend(nodes.into_iter().map(|n| (self.sent, n, RunState::Paused)));
            self.info("cluster frozen: every node paused (space resumes)");
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

    fn prompt_action(&mut self, action: Action) {
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
        let pending = self.screen.clients.iter().filter(|l| l.outcome.is_none()).count();
        if pending >= MAX_IN_FLIGHT {
            return Err(format!("{pending} requests are still waiting: let some finish first"));
        }
        let op = self.next_op;
        self.next_op += 1;
        if self.screen.clients.len() >= CLIENT_LINES
            && let Some(i) = self.screen.clients.iter().position(|l| l.outcome.is_some())
        {
            self.screen.clients.remove(i);
        }
        self.screen.clients.push_back(ClientLine { op, via, request: request.clone(), outcome: None });
        self.send(Command::Client { op, via, request: request.clone() });
        self.info(format!("{request} sent via {via}"));
        Ok(())
    }

    fn editor_action(&mut self, action: Action) {
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

    fn pick_action(&mut self, action: Action) {
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

/// Parses `key=value` (spaces around the key are ignored; the value is taken as typed).
pub fn parse_put(input: &str) -> Result<(String, String), String> {
    if input.trim().is_empty() {
        return Err("type key=value, e.g. color=blue".into());
    }
    let Some((key, value)) = input.split_once('=') else {
        return Err("missing '=': type key=value, e.g. color=blue".into());
    };
    let key = key.trim();
    if key.is_empty() {
        return Err("the key is empty: type key=value".into());
    }
    Ok((key.to_string(), value.trim().to_string()))
}

/// Parses a key to get.
pub fn parse_key(input: &str) -> Result<String, String> {
    let key = input.trim();
    if key.is_empty() {
        return Err("type the key to read, e.g. color".into());
    }
    Ok(key.to_string())
}

/// Parses a loss percentage (`5`, `12.5`, `5%`) into a probability.
pub fn parse_loss(input: &str) -> Result<f64, String> {
    let text = input.trim().trim_end_matches('%').trim();
    match text.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p / 100.0),
        Ok(_) => Err(format!("{} is not between 0 and 100", input.trim())),
        Err(_) => Err("not a number: type a percentage from 0 to 100, e.g. 5".into()),
    }
}

/// The shortest election timeout at normal speed, in milliseconds (the default configuration:
/// 15 ticks of 10 ms), against which a delay is judged.
pub const ELECTION_TIMEOUT_MS: u64 = 150;

/// The longest delay the console sets, in milliseconds.
pub const MAX_DELAY_MS: u64 = 10_000;

/// Parses a delay in milliseconds: `lo-hi` or a single number.
pub fn parse_delay(input: &str) -> Result<(u64, u64), String> {
    let text = input.trim().trim_end_matches("ms").trim();
    let bad = || "not a delay: type milliseconds as lo-hi (e.g. 2-10) or one number".to_string();
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let (lo, hi) = match text.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => {
            let v = number(text)?;
            (v, v)
        }
    };
    if lo > hi {
        return Err(format!("{lo} is above {hi}: type the low end first"));
    }
    if hi > MAX_DELAY_MS {
        return Err(format!("{hi} ms is too long: {MAX_DELAY_MS} ms at most"));
    }
    Ok((lo, hi))
}
