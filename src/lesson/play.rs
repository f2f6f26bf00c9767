//! Playing a lesson on a simulator engine, through the [`Control`] interface only, so the
//! console (`quorum lesson NAME`) and the headless check (`--check`) play it the same way.
//!
//! Every step plays on a frozen cluster: time moves only when the step moves it, a tick at a
//! time (`until`, `ticks`), and a client operation enters the world at the moment the step
//! sends it ([`Client::reserve`]). So a step does the same thing every time it is played from
//! the same state, whatever the wall clock and the threads do; the console only paces it (it
//! sleeps between ticks at the console's speed), which changes nothing in the run.
//!
//! After every step the player takes a [`Bookmark`] and saves what lives outside the world:
//! its client session, its safety checker, its operations. Going back a step ([`Player::back`])
//! rewinds the engine to the bookmark by deterministic re-execution and puts those back, so the
//! next step plays exactly as it did before. If the user changed the cluster since the last
//! step (every key of the console works between steps), going back first returns to the
//! lesson's own state at that step; going on plays the next step from the changed state.

use super::format::{Action, Condition, Filter, Instruction, Kind, Lesson, Outcome, Step};
use crate::check::history::HistoryEvent;
use crate::check::{CheckOptions, Verdict, check_history};
use crate::control::client::client_event;
use crate::control::{
    Answer, Bookmark, Client, ClientOptions, Control, NodeStatus, OpError, RunState, SessionState,
};
use crate::events::{Change, Event, EventKind};
use crate::kv::{Op, Reply};
use crate::network::HeldAction;
use crate::raft::{NodeId, Role};
use crate::safety::Checker;
use crossbeam_channel::Receiver;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long one attempt of a lesson's client operation waits for its answer (virtual time).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
/// How many recent events [`Player::diverged`] reads to tell remarks from changes.
const DIVERGED_LOOKBACK: usize = 256;
/// How long the checker may take over a lesson's history (a few operations: milliseconds).
const CHECK_LIMIT: Duration = Duration::from_secs(10);
/// Rounds of `stabilize` before it gives up (a livelock in the lesson).
const STABILIZE_ROUNDS: usize = 1_000;
/// Wall time of one tick at speed 1 when the console paces a step.
const TICK_WALL: Duration = Duration::from_millis(10);
/// The console's pause after each action, in ticks of wall time (a second at 1/20 speed).
const ACTION_PAUSE_TICKS: u32 = 5;

/// Why a step failed: where, and what did not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: step {step} ({title}): `{text}`: {reason}")]
pub struct StepError {
    /// The lesson's file.
    pub file: String,
    /// The step's number (1 for the first).
    pub step: usize,
    /// The step's title.
    pub title: String,
    /// The line of the instruction that failed.
    pub line: usize,
    /// The instruction as written.
    pub text: String,
    /// What did not hold, and the cluster's state then.
    pub reason: String,
    /// The linearizability checker could not decide (exit code 3, as for `quorum sim`).
    pub undecided: bool,
}

/// One client operation of the lesson.
#[derive(Clone, Debug)]
pub struct LessonOp {
    /// Its number in the lesson (1 for the first).
    pub number: u64,
    /// The step that sent it.
    pub step: usize,
    /// The node it went through.
    pub via: NodeId,
    /// What it asked.
    pub op: Op,
    /// When it was sent and when it returned (engine ns).
    pub invoked: u64,
    /// How it returned, and when.
    pub done: Option<(Result<Answer, OpError>, u64)>,
}

impl LessonOp {
    /// Its invocation in a client history, as `process`, at `time` (the history's clock).
    pub fn invoke_event(&self, process: u64, time: u64) -> Option<HistoryEvent> {
        invocation(process, &self.op, time)
    }

    /// Its completion in a client history, once it has returned, at `time`.
    pub fn complete_event(&self, process: u64, time: u64) -> Option<HistoryEvent> {
        completion(process, &self.op, &self.done.as_ref()?.0, time)
    }
}

pub use crate::control::client::{completion, invocation};

/// Where the console shows a lesson's operations (the headless check shows none).
pub trait Host: Send + Sync {
    /// An operation was sent.
    fn sent(&self, op: &LessonOp) {
        let _ = op;
    }
    /// An operation returned (`op.done` is set).
    fn returned(&self, op: &LessonOp) {
        let _ = op;
    }
}

/// The lesson's client session: one attempt through the node named, [`CLIENT_TIMEOUT`] each.
fn client_options() -> ClientOptions {
    ClientOptions { attempts: 1, timeout: CLIENT_TIMEOUT, ..ClientOptions::default() }
}

/// The headless host: shows nothing.
pub struct Quiet;
impl Host for Quiet {}

/// What lives outside the world, as it was after a step.
#[derive(Clone)]
struct Mark {
    bookmark: Bookmark,
    client: SessionState,
    safety: Checker,
    ops: usize,
}

/// A lesson being played on an engine (see the module documentation).
pub struct Player {
    lesson: Lesson,
    control: Arc<dyn Control>,
    client: Arc<Client>,
    host: Arc<dyn Host>,
    /// How many steps have been played.
    position: usize,
    /// The state after each step played so far (`marks[0]`: the start).
    marks: Vec<Mark>,
    ops: Arc<Mutex<Vec<LessonOp>>>,
    threads: Vec<JoinHandle<()>>,
    safety: Checker,
    events: Option<Receiver<Event>>,
    /// Sleep between ticks at the engine's speed (the console), or not (the check).
    paced: bool,
    /// Set to finish the step playing now without pacing it.
    hurry: Arc<AtomicBool>,
    /// How the last step played failed, if it did.
    failed: Option<StepError>,
    /// The checker could not decide a condition of the step playing.
    undecided: bool,
    /// How many times the lesson went back: an operation sent before the last time ends
    /// without a word (its run was undone; what it would record belongs to no run).
    epoch: Arc<std::sync::atomic::AtomicU64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Player {
    /// Sets `control` (a simulator of the lesson's set-up, at its start) up for the lesson:
    /// freezes it, sets the lesson's delay and speed, and marks the start. `paced`: sleep
    /// between ticks, at the engine's speed, so that a step can be watched.
    pub fn start(
        lesson: Lesson,
        control: Arc<dyn Control>,
        host: Arc<dyn Host>,
        paced: bool,
    ) -> Result<Player, String> {
        let client = Arc::new(control.client(client_options()));
        let events = control.subscribe();
        let mut player = Player {
            lesson,
            control,
            client,
            host,
            position: 0,
            marks: Vec::new(),
            ops: Arc::default(),
            threads: Vec::new(),
            safety: Checker::new(),
            events,
            paced,
            hurry: Arc::default(),
            failed: None,
            undecided: false,
            epoch: Arc::default(),
        };
        let c = &player.control;
        c.freeze();
        let title = &player.lesson.title;
        c.record(
            None,
            EventKind::fault(format!("lesson: {title} (frozen: each step moves time)"), Some(Change::Freeze)),
        );
        c.set_speed(player.lesson.setup.speed);
        if let Some((lo, hi)) = player.lesson.setup.delay {
            player.network(&format!("delay {lo}-{hi} ms"), &mut |n| {
                let mut rule = n.default_rule();
                rule.delay = (lo * 1_000_000, hi * 1_000_000);
                n.set_default_rule(rule);
            });
        }
        let mark = player.mark().map_err(|e| format!("cannot play a lesson on this engine: {e}"))?;
        player.marks.push(mark);
        Ok(player)
    }

    /// The lesson.
    pub fn lesson(&self) -> &Lesson {
        &self.lesson
    }

    /// How many steps have been played (0 before the first).
    pub fn position(&self) -> usize {
        self.position
    }

    /// The operations the lesson sent, in order.
    pub fn ops(&self) -> Vec<LessonOp> {
        lock(&self.ops).clone()
    }

    /// How the last step played failed, if it did (until the next step or going back).
    pub fn failed(&self) -> Option<&StepError> {
        self.failed.as_ref()
    }

    /// A flag that, set, makes the step playing now finish at once (without pacing).
    pub fn hurry(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.hurry)
    }

    /// True if the cluster changed since the lesson's last step (the user took over).
    /// Remarks (an export's note, a change of speed, a freeze) change nothing in the cluster;
    /// anything else since the step does, and so does time moving.
    pub fn diverged(&self) -> bool {
        let Some(m) = self.marks.last() else { return false };
        if self.control.now_nanos() != m.bookmark.now {
            return true;
        }
        self.control.flush_events();
        let recent = self.control.recent_events(DIVERGED_LOOKBACK);
        let count = recent.last().map_or(0, |e| e.seq + 1);
        let since: Vec<&Event> = recent.iter().filter(|e| e.seq >= m.bookmark.events).collect();
        count != m.bookmark.events
            && (since.len() as u64 != count.saturating_sub(m.bookmark.events)
                || !since.iter().all(|e| remark(e)))
    }

    /// Plays the next step; returns its number. The step is played even if it fails (the
    /// cluster is where it stopped, and [`Player::back`] undoes it).
    pub fn play_next(&mut self) -> Result<usize, StepError> {
        let Some(step) = self.lesson.steps.get(self.position).cloned() else {
            return Err(self.error(self.position, None, "the lesson is over: b goes back a step".into()));
        };
        self.position += 1;
        self.undecided = false;
        let number = self.position;
        let total = self.lesson.steps.len();
        self.control.freeze();
        let text = format!("lesson step {number}/{total}: {}", step.title);
        self.control.record(None, EventKind::fault(text, Some(Change::Freeze)));
        let result = self.play(number, &step);
        self.hurry.store(false, Ordering::SeqCst);
        self.failed = result.as_ref().err().cloned();
        let mark =
            self.mark().map_err(|e| self.error(number, None, format!("cannot bookmark the step: {e}")))?;
        self.marks.push(mark);
        result.map(|()| number)
    }

    /// Goes back: to the lesson's own state after the last step if the user changed the
    /// cluster since, else to the state before the last step. Returns the position now.
    pub fn back(&mut self) -> Result<usize, String> {
        let to = if self.diverged() {
            self.position
        } else {
            self.position.checked_sub(1).ok_or("already at the start")?
        };
        let mark = self.marks[to].clone();
        // The operations still waiting belong to the run undone: their handle is cancelled (no
        // more attempts), going back answers what they wait for, and they end without a word.
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.client.cancel();
        let rewound = self.control.rewind(&mark.bookmark).map_err(|e| format!("cannot go back: {e}"));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.client = Arc::new(self.control.client(client_options()));
        rewound?;
        self.client.restore(&mark.client);
        self.safety = mark.safety;
        lock(&self.ops).truncate(mark.ops);
        self.events = self.control.subscribe();
        self.marks.truncate(to + 1);
        self.position = to;
        self.failed = None;
        Ok(to)
    }

    /// Plays every step to the end, stopping at the first that fails.
    pub fn play_all(&mut self) -> Result<(), StepError> {
        while self.position < self.lesson.steps.len() {
            self.play_next()?;
        }
        Ok(())
    }

    fn mark(&mut self) -> Result<Mark, crate::control::ControlError> {
        self.drain_events();
        Ok(Mark {
            bookmark: self.control.bookmark()?,
            client: self.client.save(),
            safety: self.safety.clone(),
            ops: lock(&self.ops).len(),
        })
    }

    fn error(&self, step: usize, instruction: Option<&Instruction>, reason: String) -> StepError {
        let s = step.checked_sub(1).and_then(|i| self.lesson.steps.get(i));
        StepError {
            file: self.lesson.source.clone(),
            step,
            title: s.map_or_else(String::new, |s| s.title.clone()),
            line: instruction.map_or_else(|| s.map_or(0, |s| s.line), |i| i.line),
            text: instruction.map_or_else(
                || s.map_or_else(String::new, |s| format!("step {}", s.title)),
                |i| i.text.clone(),
            ),
            reason,
            undecided: self.undecided,
        }
    }

    fn play(&mut self, number: usize, step: &Step) -> Result<(), StepError> {
        let first_op = lock(&self.ops).len();
        for instruction in &step.instructions {
            let fail = |p: &Player, reason: String| p.error(number, Some(instruction), reason);
            match &instruction.kind {
                Kind::Do(action) => {
                    self.act(number, action).map_err(|r| fail(self, r))?;
                    // What a client does about what the action caused comes first, every time.
                    self.control.settle();
                    if !matches!(action, Action::Ticks(_)) {
                        self.pause();
                    }
                }
                Kind::Expect(condition) => match self.judge(condition, first_op) {
                    Judged::Holds => {}
                    Judged::NotYet(why) | Judged::Never(why) | Judged::Error(why) => {
                        return Err(fail(self, format!("{why}; {}", self.describe())));
                    }
                },
                Kind::Until(condition, within) => {
                    self.wait(condition, *within, first_op).map_err(|r| fail(self, r))?
                }
            }
        }
        let pending: Vec<String> = lock(&self.ops)[first_op..]
            .iter()
            .filter(|o| o.done.is_none())
            .map(|o| format!("{} via {}", o.op, o.via))
            .collect();
        if !pending.is_empty() {
            let reason = format!(
                "the step ends with {} unanswered: wait for it (`until returned`), so that going back and forth plays it the same",
                pending.join(", ")
            );
            return Err(self.error(number, None, reason));
        }
        Ok(())
    }

    /// Sleeps `ticks` ticks of wall time at the engine's speed, when paced and not hurried.
    fn sleep(&self, ticks: u32) {
        if self.paced && !self.hurry.load(Ordering::SeqCst) {
            let speed = self.control.speed().max(0.05);
            std::thread::sleep((TICK_WALL * ticks).div_f64(speed));
        }
    }

    /// After an action in the console, a pause to see what it did (a message delivered by
    /// hand, a kill) before the next one.
    fn pause(&self) {
        self.sleep(ACTION_PAUSE_TICKS);
    }

    /// Moves time one tick (paced in the console).
    fn tick(&self) {
        self.sleep(1);
        self.control.advance_ticks(1);
        self.control.settle();
    }

    fn wait(&mut self, condition: &Condition, within: u32, first_op: usize) -> Result<(), String> {
        for waited in 0..=within {
            match self.judge(condition, first_op) {
                Judged::Holds => return Ok(()),
                Judged::Never(why) | Judged::Error(why) => return Err(format!("{why}; {}", self.describe())),
                Judged::NotYet(why) if waited == within => {
                    return Err(format!("{why} after {within} ticks; {}", self.describe()));
                }
                Judged::NotYet(_) => self.tick(),
            }
        }
        Ok(())
    }

    /// The nodes in a line, for a failure message.
    fn describe(&self) -> String {
        let nodes: Vec<String> = self.control.status().iter().map(describe_node).collect();
        format!("the nodes: {}", nodes.join(", "))
    }

    fn record(&self, text: String, change: Option<Change>) {
        self.control.record(None, EventKind::fault(format!("lesson: {text}"), change));
    }

    fn network(&self, text: &str, change: &mut dyn FnMut(&mut crate::network::Network)) {
        self.control.change_network(change);
        self.record(text.to_string(), Some(Change::Network(self.control.network())));
    }

    fn act(&mut self, step: usize, action: &Action) -> Result<(), String> {
        let c = Arc::clone(&self.control);
        match action {
            Action::Client { via, op, attempts } => self.send(step, *via, op.clone(), *attempts),
            Action::Kill(n) => {
                self.record(format!("kill {n}"), Some(Change::Kill(*n)));
                c.kill(*n);
            }
            Action::Restart(n) => {
                self.record(format!("restart {n}"), Some(Change::Restart(*n)));
                c.restart(*n).map_err(|e| format!("restart {n} failed: {e}"))?;
            }
            Action::Pause(n) => {
                c.pause(*n);
                self.record(format!("pause {n}"), Some(Change::Pause(*n)));
            }
            Action::Resume(n) => {
                c.resume(*n);
                self.record(format!("resume {n}"), Some(Change::Resume(*n)));
            }
            Action::Campaign(n) => {
                c.campaign(*n);
                self.record(format!("force {n} to time out"), Some(Change::Campaign(*n)));
            }
            Action::Transfer(n) => {
                c.transfer_leadership(*n).map_err(|e| format!("no leadership transfer to {n}: {e}"))?;
                self.record(format!("transfer leadership to {n}"), Some(Change::Transfer(*n)));
            }
            Action::Partition(groups) => {
                let text: Vec<String> = groups
                    .iter()
                    .map(|g| g.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))
                    .collect();
                self.network(&format!("partition {}", text.join(" | ")), &mut |n| n.partition(groups));
            }
            Action::Cut(a, b) => self.network(&format!("cut {a} -> {b} (one way)"), &mut |n| n.cut(*a, *b)),
            Action::Restore(a, b) => self.network(&format!("restore {a} -> {b}"), &mut |n| n.restore(*a, *b)),
            Action::Heal => self.network("heal: no partition, no cut", &mut |n| {
                let rule = n.default_rule();
                n.heal(rule);
            }),
            Action::Loss(p) => self.network(&format!("loss {:.0}%", p * 100.0), &mut |n| {
                let mut rule = n.default_rule();
                rule.loss = *p;
                n.set_default_rule(rule);
            }),
            Action::Delay(lo, hi) => self.network(&format!("delay {lo}-{hi} ms"), &mut |n| {
                let mut rule = n.default_rule();
                rule.delay = (lo * 1_000_000, hi * 1_000_000);
                n.set_default_rule(rule);
            }),
            Action::Hold => {
                self.network("hold: every message waits for the lesson", &mut |n| n.set_hold(true))
            }
            Action::Release => {
                self.network("release: messages flow again (what was held is delivered)", &mut |n| {
                    n.set_hold(false)
                });
            }
            Action::Stabilize => {
                for _ in 0..STABILIZE_ROUNDS {
                    if c.held().is_empty() {
                        return Ok(());
                    }
                    self.record("deliver every held message".into(), Some(Change::ReleaseHeld));
                    c.release_held();
                    c.settle();
                }
                return Err(format!("messages still held after {STABILIZE_ROUNDS} rounds"));
            }
            Action::Held(action, filter) => self.act_on_held(*action, filter)?,
            Action::Ticks(n) => {
                for _ in 0..*n {
                    self.tick();
                }
            }
            Action::Set(change) => {
                let switches = &change.apply(c.switches().ok_or("this engine has no switches")?);
                c.set_switches(*switches).map_err(|e| e.to_string())?;
                let bugs = switches.describe();
                let now = if bugs.is_empty() { "correct Raft".to_string() } else { bugs.join(", ") };
                self.record(format!("switches: {now}"), Some(Change::Switches(*switches)));
            }
        }
        Ok(())
    }

    fn act_on_held(&self, action: HeldAction, filter: &Filter) -> Result<(), String> {
        let held = self.control.held();
        let chosen: Vec<u64> = held.iter().filter(|h| matches(filter, h)).map(|h| h.id).collect();
        if chosen.is_empty() {
            let all: Vec<String> = held
                .iter()
                .map(|h| format!("m{} {}->{} {}", h.id, h.message.from, h.message.to, h.message.body.kind()))
                .collect();
            let all = if all.is_empty() {
                "nothing is held (is the network held? `hold`)".to_string()
            } else {
                format!("held: {}", all.join(", "))
            };
            return Err(format!("no held message matches {filter}; {all}"));
        }
        let what = match action {
            HeldAction::Deliver => "deliver",
            HeldAction::Drop => "drop",
            HeldAction::Duplicate => "duplicate",
        };
        for id in chosen {
            self.record(format!("{what} m{id}"), Some(Change::Held { id: Some(id), action: what.into() }));
            self.control.act_on_held(Some(id), action);
            self.control.settle();
        }
        Ok(())
    }

    /// Sends a client operation on its own thread; it enters the world now.
    fn send(&mut self, step: usize, via: NodeId, op: Op, attempts: u32) {
        let reserved = self.client.reserve();
        let record = {
            let mut ops = lock(&self.ops);
            let number = ops.len() as u64 + 1;
            let record =
                LessonOp { number, step, via, op: op.clone(), invoked: self.control.now_nanos(), done: None };
            ops.push(record.clone());
            record
        };
        self.host.sent(&record);
        let (client, control, ops, host, epoch) = (
            Arc::clone(&self.client),
            Arc::clone(&self.control),
            Arc::clone(&self.ops),
            Arc::clone(&self.host),
            Arc::clone(&self.epoch),
        );
        let sent_in = epoch.load(Ordering::SeqCst);
        let spawned = std::thread::Builder::new().name("lesson-client".into()).spawn(move || {
            let (result, still) = client.call_reserved(op.clone(), Some(via), attempts, reserved);
            if epoch.load(Ordering::SeqCst) != sent_in {
                return;
            }
            let now = control.now_nanos();
            let took = Duration::from_nanos(now.saturating_sub(record.invoked));
            control.record(Some(via), client_event(op, via, record.invoked, took, &result));
            let done = {
                let mut ops = lock(&ops);
                let Some(slot) = ops.iter_mut().find(|o| o.number == record.number) else { return };
                slot.done = Some((result, now));
                slot.clone()
            };
            drop(still);
            host.returned(&done);
        });
        match spawned {
            Ok(t) => self.threads.push(t),
            Err(e) => {
                // No thread: the operation returns at once, unknown, and says why.
                let mut ops = lock(&self.ops);
                if let Some(slot) = ops.last_mut() {
                    let error = OpError {
                        failure: crate::control::OpFailure::NoAttempt,
                        definite: true,
                        node: via,
                        id: None,
                    };
                    slot.done = Some((Err(error), self.control.now_nanos()));
                }
                drop(ops);
                self.record(format!("cannot start a client thread: {e}"), None);
            }
        }
        self.threads.retain(|t| !t.is_finished());
    }

    /// Reads the events so far into the safety checker.
    fn drain_events(&mut self) {
        self.control.flush_events();
        if let Some(rx) = &self.events {
            for event in rx.try_iter() {
                self.safety.observe(&event);
            }
        }
    }

    fn judge(&mut self, condition: &Condition, first_op: usize) -> Judged {
        let nodes = self.control.status();
        let node = |id: NodeId| nodes.iter().find(|s| s.id == id);
        match condition {
            Condition::Leader(want) => {
                let running: Vec<&NodeStatus> = nodes.iter().filter(|s| s.run == RunState::Running).collect();
                let top = running.iter().map(|s| s.term).max();
                let leader = running.iter().find(|s| s.role == Some(Role::Leader) && Some(s.term) == top);
                match (leader, want) {
                    (Some(l), Some(w)) if l.id != *w => Judged::NotYet(format!("{} leads, not {w}", l.id)),
                    (Some(_), _) => Judged::Holds,
                    (None, Some(w)) => Judged::NotYet(format!("{w} does not lead")),
                    (None, None) => Judged::NotYet("no leader".into()),
                }
            }
            Condition::Role(id, role) => match node(*id).and_then(|s| s.role) {
                Some(r) if r == *role => Judged::Holds,
                r => Judged::NotYet(format!(
                    "{id} is {}, not {role}",
                    r.map_or("not started".into(), |r| r.to_string())
                )),
            },
            Condition::Term(id, term) => match node(*id) {
                Some(s) if s.term == *term => Judged::Holds,
                s => Judged::NotYet(format!("{id} is in term {}, not {term}", s.map_or(0, |s| s.term.0))),
            },
            Condition::Committed(index, on) => {
                if on.is_empty() {
                    let count = nodes.iter().filter(|s| s.commit >= *index).count();
                    let majority = nodes.len() / 2 + 1;
                    if count >= majority {
                        Judged::Holds
                    } else {
                        Judged::NotYet(format!(
                            "index {index} is committed on {count} nodes, not a majority ({majority})"
                        ))
                    }
                } else {
                    let behind: Vec<String> = on
                        .iter()
                        .filter(|&&id| node(id).is_none_or(|s| s.commit < *index))
                        .map(ToString::to_string)
                        .collect();
                    if behind.is_empty() {
                        Judged::Holds
                    } else {
                        Judged::NotYet(format!("index {index} is not committed on {}", behind.join(" ")))
                    }
                }
            }
            Condition::Value(id, key, want) => {
                let have = node(*id).and_then(|s| s.kv.get(key));
                if have == want.as_ref() {
                    Judged::Holds
                } else {
                    let have = have.map_or_else(|| "nothing".to_string(), |v| format!("{key}={v}"));
                    Judged::NotYet(format!("{id} has {have} for {key}"))
                }
            }
            Condition::Returned(outcome, value) => self.returned(*outcome, value.as_ref(), first_op),
            Condition::Last(id, index) => match node(*id) {
                Some(s) if s.last.index == *index => Judged::Holds,
                s => Judged::NotYet(format!(
                    "{id}'s last entry is {}, not index {index}",
                    s.map_or_else(|| "unknown".into(), |s| s.last.to_string())
                )),
            },
            Condition::Snapshot(id, index) => match node(*id) {
                Some(s) if s.snapshot.is_some_and(|snap| snap.index >= *index) => Judged::Holds,
                s => Judged::NotYet(format!(
                    "{id}'s snapshot is {}, not one through index {index}",
                    s.and_then(|s| s.snapshot).map_or_else(|| "none".into(), |snap| snap.to_string())
                )),
            },
            Condition::Not(inner) => match self.judge(inner, first_op) {
                Judged::Holds => Judged::NotYet(format!("`{}` holds", describe_condition(inner))),
                Judged::NotYet(_) | Judged::Never(_) => Judged::Holds,
                Judged::Error(why) => Judged::Error(why),
            },
            Condition::Held(filter) => {
                if self.control.held().iter().any(|h| matches(filter, h)) {
                    Judged::Holds
                } else {
                    Judged::NotYet(format!("no held message matches {filter}"))
                }
            }
            Condition::Safety(ok) => {
                self.drain_events();
                let broken = &self.safety.report().broken;
                match (ok, broken.first()) {
                    (true, None) | (false, Some(_)) => Judged::Holds,
                    (true, Some(v)) => Judged::Never(format!("safety: {} broken: {v}", v.property)),
                    (false, None) => Judged::NotYet("every safety property holds".into()),
                }
            }
            Condition::Linearizable => {
                let history = self.history();
                let options = CheckOptions { time_limit: Some(CHECK_LIMIT), ..CheckOptions::default() };
                match check_history(&history, &options) {
                    Ok(Verdict::Linearizable { .. }) => Judged::Holds,
                    Ok(Verdict::NotLinearizable { key, reason, .. }) => Judged::NotYet(format!(
                        "the lesson's operations are not linearizable (key {key}: {reason})"
                    )),
                    Ok(Verdict::Unknown { reason }) => {
                        self.undecided = true;
                        Judged::Error(format!("the checker could not decide: {reason}"))
                    }
                    Err(e) => Judged::Error(format!("the lesson's history cannot be read: {e}")),
                }
            }
        }
    }

    fn returned(&self, outcome: Option<Outcome>, value: Option<&Option<String>>, first_op: usize) -> Judged {
        let ops = lock(&self.ops);
        let Some(last) = ops[first_op.min(ops.len())..].last() else {
            return Judged::Error("this step sent no client operation".into());
        };
        let Some((result, _)) = &last.done else {
            return Judged::NotYet(format!("{} via {} has not returned", last.op, last.via));
        };
        let got = match result {
            Ok(_) => Outcome::Ok,
            Err(e) if e.definite => Outcome::Failed,
            Err(_) => Outcome::Unknown,
        };
        let said = match result {
            Ok(Answer { reply: Reply::Get { value }, .. }) => {
                format!("ok {}", value.as_deref().unwrap_or("(not found)"))
            }
            Ok(_) => "ok".to_string(),
            Err(e) => format!("{}: {e}", if e.definite { "failed" } else { "unknown" }),
        };
        if outcome.is_some_and(|o| o != got) {
            return Judged::Never(format!("{} via {} returned {said}", last.op, last.via));
        }
        if let Some(want) = value {
            let read = match result {
                Ok(Answer { reply: Reply::Get { value }, .. }) => value.as_ref(),
                _ => None,
            };
            if read != want.as_ref() {
                return Judged::Never(format!("{} via {} returned {said}", last.op, last.via));
            }
        }
        Judged::Holds
    }

    /// The lesson's operations as a client history (each its own process), for the checker.
    pub fn history(&self) -> Vec<HistoryEvent> {
        let ops = lock(&self.ops);
        let mut history: Vec<HistoryEvent> = ops
            .iter()
            .flat_map(|o| {
                let done = o.done.as_ref().and_then(|(_, at)| o.complete_event(o.number, *at));
                o.invoke_event(o.number, o.invoked).into_iter().chain(done)
            })
            .collect();
        history.sort_by_key(|e| e.time);
        history
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.hurry.store(true, Ordering::SeqCst);
    }
}

/// What a condition came to.
enum Judged {
    Holds,
    /// Not yet: time may make it hold.
    NotYet(String),
    /// It cannot hold any more (an operation returned otherwise).
    Never(String),
    /// It cannot be judged (the checker could not decide): neither it nor its negation holds.
    Error(String),
}

/// An event that changes nothing in the cluster: a note of the console's, a change of speed, a
/// freeze or a thaw (until time moves).
fn remark(event: &Event) -> bool {
    matches!(
        &event.kind,
        EventKind::Fault { change: None | Some(Change::Speed(_) | Change::Freeze | Change::Thaw), .. }
    )
}

fn matches(filter: &Filter, held: &crate::network::Held) -> bool {
    filter.kind.as_deref().is_none_or(|k| held.message.body.kind() == k)
        && filter.from.is_none_or(|n| held.message.from == n)
        && filter.to.is_none_or(|n| held.message.to == n)
}

/// A condition in the lesson's words, for a failure message.
fn describe_condition(c: &Condition) -> String {
    match c {
        Condition::Leader(None) => "leader".into(),
        Condition::Leader(Some(n)) => format!("leader {n}"),
        Condition::Role(n, r) => format!("role {n} {r}"),
        Condition::Term(n, t) => format!("term {n} {t}"),
        Condition::Committed(i, on) if on.is_empty() => format!("committed {i}"),
        Condition::Committed(i, on) => {
            format!("committed {i} on {}", on.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "))
        }
        Condition::Value(n, k, Some(v)) => format!("value {n} {k}={v}"),
        Condition::Value(n, k, None) => format!("missing {n} {k}"),
        Condition::Returned(..) => "returned".into(),
        Condition::Held(f) => format!("held {f}"),
        Condition::Safety(ok) => format!("safety {}", if *ok { "ok" } else { "broken" }),
        Condition::Linearizable => "linearizable".into(),
        Condition::Last(n, i) => format!("last {n} {i}"),
        Condition::Snapshot(n, i) => format!("snapshot {n} {i}"),
        Condition::Not(inner) => format!("not {}", describe_condition(inner)),
    }
}

fn describe_node(s: &NodeStatus) -> String {
    let role = match (&s.run, s.role) {
        (RunState::Dead, _) => "down".to_string(),
        (RunState::Paused, r) => format!("paused {}", r.map_or("-".into(), |r| r.to_string())),
        (RunState::Crashed(_), _) => "crashed".to_string(),
        (_, r) => r.map_or("-".into(), |r| r.to_string()),
    };
    format!("{} {role} t{} last {} commit {}", s.id, s.term.0, s.last, s.commit)
}
