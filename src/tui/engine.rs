//! The console's worker threads, so the interface thread never waits on the cluster:
//!
//! - the **poller** asks for every node's status and the network ten times a second and passes
//!   them on with the events that arrived meanwhile (the interface thread folds them into its
//!   timeline, whose safety checks, `crate::safety`, the simulator's own, the screen shows);
//! - the **control** thread carries out [`Command`]s in order (kills, restarts, network changes,
//!   exports), through the engine's [`Control`] interface, whichever engine it is;
//! - a pool of **client** threads runs client operations, several at a time, all under the
//!   console's one client session, each pinned to the chosen node; each writes its invoke and
//!   completion to the history;
//! - the **checker** re-checks the history whenever an operation completes, on a copy of it and
//!   with a time limit (nudges that come while it checks make one check, not many);
//! - with `--listen`, the **Redis-protocol server** ([`crate::resp`]) runs its own threads, a
//!   connection each: [`ExternalHost`] gives their operations lines in the clients panel and
//!   puts them in the history, and passes the server's notices on.
//!
//! Everything comes back to the interface thread as [`Update`]s on one channel.

use super::action::Command;
use super::feed::FEED_CAPACITY;
use super::netview;
use super::screen::{ClientOutcome, LessonView, Notice, VerdictView};
use super::session::Session;
use super::widgets::redis_cli;
use crate::check::history::{EventType, HistoryEvent};
use crate::check::{CheckOptions, Verdict, check_history};
use crate::control::{Answer, Client, ClientOptions, Control, NodeStatus, OpError};
use crate::events::{Change, Event, EventKind};
use crate::kv::Op;
use crate::lesson::Player;
use crate::lesson::play::{LessonOp, completion, invocation};
use crate::network::{Held, HeldAction, LinkRule, Network};
use crate::raft::{NodeId, Switches};
use crate::resp::{ExternalOp, RespServer, ServerOptions};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, bounded, unbounded};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the poller asks for statuses.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long one client attempt may wait at normal speed (the client scales it with the speed).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
/// The checker's time limit per check.
pub const CHECK_LIMIT: Duration = Duration::from_secs(5);
/// Client operations that may run at once (more wait for a free client thread).
pub const CLIENT_THREADS: usize = 16;
/// How long leaving the console waits for the worker threads.
pub const STOP_WAIT: Duration = Duration::from_secs(5);

/// What the poller saw.
#[derive(Clone, Debug, Default)]
pub struct Poll {
    /// Every node's status.
    pub nodes: Vec<NodeStatus>,
    /// The network's fault settings.
    pub network: Network,
    /// The time scale.
    pub speed: f64,
    /// The cluster's clock, in nanoseconds.
    pub now: u64,
    /// Events since the previous poll, in order.
    pub events: Vec<Event>,
    /// How many commands the engine had carried out before it read these statuses.
    pub applied: u64,
    /// What the held network keeps, oldest first (empty unless it is held).
    pub held: Vec<Held>,
    /// The protocol's switchable parts, if the engine can switch them.
    pub switches: Option<Switches>,
    /// The event stream went back: the simulator forked its past or switched branches, and
    /// `events` begin the new branch's stream (its latest events) rather than follow the last
    /// poll's. Whatever was kept of the old stream must be dropped.
    pub rebased: Option<Box<crate::control::Branch>>,
}

/// News for the interface thread.
#[derive(Clone, Debug)]
pub enum Update {
    /// Statuses, network and new events.
    Poll(Poll),
    /// A client operation ended.
    Client {
        /// The console's number for it.
        op: u64,
        /// How it ended.
        outcome: ClientOutcome,
    },
    /// The checker's new verdict.
    Verdict(VerdictView),
    /// Something to say in the status line.
    Notice(Notice),
    /// A client operation that the console did not send began (a lesson's, or an external
    /// client's): a line for it.
    ClientSent {
        /// The console's number for it.
        op: u64,
        /// The node it goes through.
        via: NodeId,
        /// What it asks.
        request: Op,
        /// An external client's connection (`tcp 127.0.0.1:53412`).
        conn: Option<String>,
    },
    /// Where the lesson is: the narration panel.
    Lesson(LessonView),
}

/// The console's client session: one attempt per operation, pinned (the console shows what the
/// chosen node does).
pub fn client_options() -> ClientOptions {
    ClientOptions { attempts: 1, timeout: CLIENT_TIMEOUT, ..ClientOptions::default() }
}

/// The console's numbers of a lesson's operations start here (the console's own count from 1).
pub const LESSON_OPS: u64 = 1 << 40;

/// Where a lesson's operations show in the console: the clients panel and the session's
/// client history (so the checker's verdict covers them).
struct LessonHost {
    session: Arc<Session>,
    updates: Sender<Update>,
    check: Sender<()>,
}

impl crate::lesson::play::Host for LessonHost {
    fn sent(&self, op: &LessonOp) {
        let number = LESSON_OPS + op.number;
        if let Some(e) = op.invoke_event(self.session.process(number), self.session.time(op.invoked)) {
            self.session.record(e);
        }
        let update = Update::ClientSent { op: number, via: op.via, request: op.op.clone(), conn: None };
        let _ = self.updates.send(update);
    }

    fn returned(&self, op: &LessonOp) {
        let number = LESSON_OPS + op.number;
        let Some((result, at)) = &op.done else { return };
        if let Some(e) = op.complete_event(self.session.process(number), self.session.time(*at)) {
            self.session.record(e);
        }
        let outcome = ClientOutcome::of(result, Duration::from_nanos(at.saturating_sub(op.invoked)));
        let _ = self.updates.send(Update::Client { op: number, outcome });
        let _ = self.check.send(());
    }
}

/// The console's numbers of external clients' operations (over the Redis protocol,
/// [`crate::resp`]) start here, apart from the console's own and a lesson's ([`LESSON_OPS`]).
pub const EXTERNAL_OPS: u64 = 1 << 41;

/// Where external clients' operations show in the console: the clients panel, with their
/// connection, and the session's client history (so the checker's verdict covers them). The
/// server records their `client` events itself; the server's notices go to the status line.
pub struct ExternalHost {
    session: Arc<Session>,
    updates: Sender<Update>,
    check: Sender<()>,
    /// Whether a failure to write the history was said already (once is enough: operations
    /// may come by the thousand).
    said_write_error: AtomicBool,
}

impl ExternalHost {
    /// A host recording into `session`, with news to `updates` and nudges to the checker.
    pub fn new(session: Arc<Session>, updates: Sender<Update>, check: Sender<()>) -> Self {
        ExternalHost { session, updates, check, said_write_error: AtomicBool::new(false) }
    }
}

impl crate::resp::Observer for ExternalHost {
    fn sent(&self, op: &ExternalOp) {
        let number = EXTERNAL_OPS + op.number;
        if let Some(e) = invocation(self.session.process(number), &op.op, self.session.time(op.invoked)) {
            self.session.record(e);
        }
        let conn = Some(op.conn.label());
        let _ = self.updates.send(Update::ClientSent {
            op: number,
            via: op.conn.node,
            request: op.op.clone(),
            conn,
        });
    }

    fn returned(&self, op: &ExternalOp, result: &Result<Answer, OpError>, at: u64) {
        let number = EXTERNAL_OPS + op.number;
        if let Some(e) = completion(self.session.process(number), &op.op, result, self.session.time(at)) {
            self.session.record(e);
        }
        if let Some(e) = self.session.write_error()
            && !self.said_write_error.swap(true, Ordering::SeqCst)
        {
            let _ = self.updates.send(Update::Notice(Notice { text: e, error: true }));
        }
        let mut outcome = ClientOutcome::of(result, Duration::from_nanos(at.saturating_sub(op.invoked)));
        outcome.reply = Some(redis_cli(&op.reply(result)));
        let _ = self.updates.send(Update::Client { op: number, outcome });
        let _ = self.check.send(());
    }

    fn notice(&self, text: &str, error: bool) {
        let _ = self.updates.send(Update::Notice(Notice { text: text.into(), error }));
    }
}

/// The running worker threads.
pub struct Engine {
    /// Set to finish the lesson's step playing now at once.
    hurry: Option<Arc<AtomicBool>>,
    commands: Option<Sender<Command>>,
    updates: Receiver<Update>,
    stop: Option<Sender<()>>,
    threads: Vec<JoinHandle<()>>,
    /// The Redis-protocol endpoints, if the console serves them (`--listen`).
    server: Option<RespServer>,
}

/// What a worker needs to carry out commands.
#[derive(Clone)]
pub struct Worker {
    /// The cluster, on either engine.
    pub backend: Arc<dyn Control>,
    /// The console's one client session, shared by every operation (a lesson going back
    /// replaces it: [`Worker::lesson_back`]).
    pub client: Arc<std::sync::Mutex<Arc<Client>>>,
    /// Client operations waiting for a client thread.
    /// (with the session current when the command was carried out: an operation sent before a
    /// lesson went back belongs to the run undone, whenever its thread starts).
    pub client_ops: Sender<(u64, NodeId, Op, Arc<Client>)>,
    /// The session's files.
    pub session: Arc<Session>,
    /// Where news goes.
    pub updates: Sender<Update>,
    /// Tells the checker the history grew.
    pub check: Sender<()>,
    /// Commands carried out so far (the poller reports it with each status it reads).
    pub applied: Arc<AtomicU64>,
    /// The client history of each branch of the simulated past not running now.
    pub branch_histories: Arc<std::sync::Mutex<std::collections::BTreeMap<u32, Vec<HistoryEvent>>>>,
    /// The lesson being played, if any.
    pub lesson: Option<Arc<std::sync::Mutex<Player>>>,
}

impl Engine {
    /// Starts the poller, the control thread and the checker; with a lesson, sets the cluster
    /// up for it (frozen, at the start).
    pub fn start(
        backend: Arc<dyn Control>,
        session: Arc<Session>,
        lesson: Option<crate::lesson::Lesson>,
    ) -> anyhow::Result<Engine> {
        Engine::start_listening(backend, session, lesson, None)
    }

    /// [`Engine::start`], and with `listen` the Redis-protocol endpoints first (every node's
    /// listener bound, or an error before anything else starts): external clients'
    /// operations then show in the clients panel and go into the history ([`ExternalHost`]).
    pub fn start_listening(
        backend: Arc<dyn Control>,
        session: Arc<Session>,
        lesson: Option<crate::lesson::Lesson>,
        listen: Option<ServerOptions>,
    ) -> anyhow::Result<Engine> {
        let (updates_tx, updates) = unbounded();
        let (commands, commands_rx) = unbounded::<Command>();
        let (stop, stop_rx) = bounded::<()>(0);
        let (check_tx, check_rx) = unbounded::<()>();
        let server = match listen {
            Some(options) => {
                let host = ExternalHost::new(Arc::clone(&session), updates_tx.clone(), check_tx.clone());
                let first = u32::from(options.base_port) + 1;
                let server = RespServer::start(Arc::clone(&backend), options, Arc::new(host))?;
                let text = format!(
                    "the nodes serve the Redis protocol on {}: try redis-cli -p {first}",
                    server.describe()
                );
                let _ = updates_tx.send(Update::Notice(Notice { text, error: false }));
                Some(server)
            }
            None => None,
        };
        let (client_ops, client_ops_rx) = unbounded();
        let client = Arc::new(std::sync::Mutex::new(Arc::new(backend.client(client_options()))));
        let applied = Arc::new(AtomicU64::new(0));
        let branch_histories = Arc::default();
        let player = match lesson {
            Some(lesson) => {
                let host = LessonHost {
                    session: Arc::clone(&session),
                    updates: updates_tx.clone(),
                    check: check_tx.clone(),
                };
                let player = Player::start(lesson, Arc::clone(&backend), Arc::new(host), true)
                    .map_err(anyhow::Error::msg)?;
                Some(Arc::new(std::sync::Mutex::new(player)))
            }
            None => None,
        };
        let hurry = player.as_ref().map(|p| lock(p).hurry());
        let worker = Worker {
            backend,
            client,
            client_ops,
            session,
            updates: updates_tx,
            check: check_tx,
            applied,
            branch_histories,
            lesson: player,
        };
        worker.show_lesson(false);
        let mut threads = Vec::new();
        for _ in 0..CLIENT_THREADS {
            let (w, ops) = (worker.clone(), client_ops_rx.clone());
            // Not joined: an operation in progress ends on its own, by its timeout.
            spawn("console-client", move || {
                ops.iter().for_each(|(op, via, request, client)| w.client(op, via, request, &client))
            })?;
        }
        {
            let w = worker.clone();
            threads.push(spawn("console-poller", move || poll_loop(&w, &stop_rx))?);
        }
        {
            let w = worker.clone();
            threads.push(spawn("console-control", move || {
                for command in commands_rx {
                    w.apply(command);
                    w.applied.fetch_add(1, Ordering::SeqCst);
                }
            })?);
        }
        {
            let session = Arc::clone(&worker.session);
            let updates = worker.updates.clone();
            // Not joined: a check in progress ends on its own within its time limit.
            spawn("console-checker", move || check_loop(&session, &check_rx, &updates))?;
        }
        if !worker.session.history().is_empty() {
            let _ = worker.check.send(());
        }
        Ok(Engine { hurry, commands: Some(commands), updates, stop: Some(stop), threads, server })
    }

    /// Where the nodes listen for the Redis protocol (`127.0.0.1:7001-7005 (n1-n5)`), if they
    /// do.
    pub fn listening(&self) -> Option<String> {
        self.server.as_ref().map(RespServer::describe)
    }

    /// Queues a command (a lesson's hurry takes effect at once: the step playing is what the
    /// queue waits for).
    pub fn send(&self, command: Command) {
        if command == Command::LessonHurry {
            if let Some(h) = &self.hurry {
                h.store(true, Ordering::SeqCst);
            }
            return;
        }
        if let Some(tx) = &self.commands {
            let _ = tx.send(command);
        }
    }

    /// The channel of news.
    pub fn updates(&self) -> &Receiver<Update> {
        &self.updates
    }

    /// Stops the poller and the control thread (after the commands already queued) and waits
    /// for them, for [`STOP_WAIT`] at most: a cluster operation that hangs must not keep the
    /// console from leaving. Client operations still running end by their timeout.
    pub fn stop(mut self) {
        // No external client's operation starts after this; one in flight ends by its timeout.
        if let Some(server) = self.server.take() {
            server.stop();
        }
        self.commands = None;
        self.stop = None;
        let deadline = Instant::now() + STOP_WAIT;
        while self.threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        for t in self.threads.drain(..) {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(f)
}

fn poll_loop(w: &Worker, stop: &Receiver<()>) {
    let mut events = w.backend.subscribe();
    let mut first = w.backend.recent_events(FEED_CAPACITY);
    let mut seen = first.last().map(|e| e.seq);
    let mut rebased = None;
    loop {
        let mut batch = std::mem::take(&mut first);
        if let Some(rx) = &events {
            for _ in 0..100_000 {
                match rx.try_recv() {
                    Ok(e) if seen.is_none_or(|s| e.seq > s) => {
                        seen = Some(e.seq);
                        batch.push(e);
                    }
                    Ok(_) => {}
                    Err(TryRecvError::Empty) => break,
                    // A fork or a switch of branches ends every subscription: subscribe again,
                    // then read the new branch's latest events (the subscription sees what
                    // follows them), and start over.
                    Err(TryRecvError::Disconnected) => {
                        events = w.backend.subscribe();
                        batch = w.backend.recent_events(FEED_CAPACITY);
                        seen = batch.last().map(|e| e.seq);
                        rebased = w.backend.branches().into_iter().find(|b| b.current).map(Box::new);
                        break;
                    }
                }
            }
        }
        // Read before the statuses: they reflect at least these commands.
        let applied = w.applied.load(Ordering::SeqCst);
        let network = w.backend.network();
        let poll = Poll {
            held: if network.holds() { w.backend.held() } else { Vec::new() },
            switches: w.backend.switches(),
            applied,
            nodes: w.backend.status(),
            network,
            speed: w.backend.speed(),
            now: w.backend.now_nanos(),
            events: batch,
            rebased: std::mem::take(&mut rebased),
        };
        if w.updates.send(Update::Poll(poll)).is_err() {
            return;
        }
        match stop.recv_timeout(POLL_INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}

fn check_loop(session: &Session, wake: &Receiver<()>, updates: &Sender<Update>) {
    let mut checked = usize::MAX;
    while wake.recv().is_ok() {
        // Several completions at once need one check.
        while wake.try_recv().is_ok() {}
        let history = session.history();
        if history.len() == checked {
            continue;
        }
        checked = history.len();
        let verdict = match check_history(
            &history,
            &CheckOptions { time_limit: Some(CHECK_LIMIT), initial: session.initial() },
        ) {
            Ok(Verdict::Linearizable { operations, .. }) => {
                let failed = history.iter().filter(|e| e.kind == EventType::Fail).count();
                VerdictView::Linearizable { ops: operations, failed }
            }
            Ok(Verdict::NotLinearizable { key, reason, .. }) => VerdictView::NotLinearizable { key, reason },
            Ok(Verdict::Unknown { reason }) => VerdictView::Unknown { reason },
            Err(e) => VerdictView::Unknown { reason: format!("the history cannot be read: {e}") },
        };
        if updates.send(Update::Verdict(verdict)).is_err() {
            return;
        }
    }
}

impl Worker {
    fn notice(&self, text: String, error: bool) {
        let _ = self.updates.send(Update::Notice(Notice { text, error }));
    }

    /// Writes a line to the event log, as a fault event: what the console did, in words, and
    /// what it changed, structured (for a reader rebuilding the state).
    fn record(&self, description: String, change: Option<Change>) {
        self.backend.record(None, EventKind::fault(description, change));
    }

    fn network(&self, description: &str, mut change: impl FnMut(&mut Network)) {
        self.backend.change_network(&mut change);
        self.record(description.to_string(), Some(Change::Network(self.backend.network())));
    }

    /// Carries out one command (a client operation starts its own thread).
    pub fn apply(&self, command: Command) {
        let b = &self.backend;
        match command {
            Command::Client { op, via, request } => {
                let client = Arc::clone(&*lock(&self.client));
                let _ = self.client_ops.send((op, via, request, client));
            }
            Command::Kill(id) => {
                self.record(format!("kill {id}"), Some(Change::Kill(id)));
                b.kill(id);
            }
            Command::Restart(node) => {
                self.record(format!("restart {node}"), Some(Change::Restart(node)));
                if let Err(e) = b.restart(node) {
                    self.notice(format!("restart {node} failed: {e}"), true);
                }
            }
            Command::Pause(id) => {
                b.pause(id);
                self.record(format!("pause {id}"), Some(Change::Pause(id)));
            }
            Command::Resume(id) => {
                b.resume(id);
                self.record(format!("resume {id}"), Some(Change::Resume(id)));
            }
            Command::Campaign(id) => {
                b.campaign(id);
                self.record(format!("force {id} to time out"), Some(Change::Campaign(id)));
            }
            Command::Transfer(target) => match b.transfer_leadership(target) {
                Ok(_) => {
                    self.record(format!("transfer leadership to {target}"), Some(Change::Transfer(target)))
                }
                Err(e) => self.notice(format!("no leadership transfer to {target}: {e}"), true),
            },
            Command::Partition(groups) if groups.is_empty() => {
                self.network("partition removed", |n| n.partition(&[]));
            }
            Command::Partition(groups) => {
                self.network(&format!("partition {}", netview::describe_groups(&groups)), |n| {
                    n.partition(&groups)
                });
            }
            Command::Cut(a, c) => self.network(&format!("cut {a} -> {c} (one way)"), |n| n.cut(a, c)),
            Command::Restore(a, c) => self.network(&format!("restore {a} -> {c}"), |n| n.restore(a, c)),
            Command::Heal => {
                self.network("heal: no partition, no cuts, no loss, no delay", |n| n.heal(LinkRule::INSTANT))
            }
            Command::SetLoss(p) => self.network(&format!("loss {}", netview::percent(p)), |n| {
                let mut rule = n.default_rule();
                rule.loss = p;
                n.set_default_rule(rule);
            }),
            Command::SetDelay(lo, hi) => {
                let range = (lo * 1_000_000, hi * 1_000_000);
                self.network(&format!("delay {}", netview::delay(range)), |n| {
                    let mut rule = n.default_rule();
                    rule.delay = range;
                    n.set_default_rule(rule);
                });
            }
            Command::SetSpeed(s) => {
                b.set_speed(s);
                self.record(format!("speed {}x", b.speed()), Some(Change::Speed(b.speed())));
            }
            Command::Freeze => {
                let text = "freeze: time stops (no timer runs, client timeouts stop counting)";
                self.record(text.into(), Some(Change::Freeze));
                b.freeze();
            }
            Command::Thaw => {
                self.record("unfreeze: time runs again".into(), Some(Change::Thaw));
                b.thaw();
            }
            Command::Hold(_)
            | Command::Held(..)
            | Command::ReleaseHeld
            | Command::SetSwitches(_)
            | Command::AdvanceTicks(_) => self.apply_by_hand(command),
            Command::Export => self.export(),
            Command::Fork(seq) => self.fork(seq),
            Command::SwitchBranch(n) => self.switch_branch(n),
            Command::LessonNext => self.lesson_next(),
            Command::LessonBack => self.lesson_back(),
            Command::LessonHurry => {}
        }
        // Whether the user changed the cluster since the lesson's step shows in its panel.
        self.show_lesson(false);
    }

    /// Tells the interface where the lesson is (`playing`: the next step is being played).
    fn show_lesson(&self, playing: bool) {
        let Some(player) = &self.lesson else { return };
        let player = lock(player);
        let error = player.failed().filter(|_| !playing).map(|e| format!("line {}: {}", e.line, e.reason));
        let lesson = player.lesson();
        let shown = player.position() + usize::from(playing);
        let step = shown.checked_sub(1).and_then(|i| lesson.steps.get(i));
        let view = LessonView {
            title: lesson.title.clone(),
            position: shown,
            total: lesson.steps.len(),
            step: step.map(|s| s.title.clone()),
            narration: step.map_or_else(|| lesson.intro.clone(), |s| s.narration.clone()),
            next: lesson.steps.get(shown).map(|s| s.title.clone()),
            playing,
            error,
            diverged: !playing && player.diverged(),
        };
        let _ = self.updates.send(Update::Lesson(view));
    }

    /// Plays the lesson's next step (paced at the console's speed; `n` again hurries it).
    fn lesson_next(&self) {
        let Some(player) = &self.lesson else {
            return self.notice("no lesson is playing: quorum lesson lists them".into(), true);
        };
        self.show_lesson(true);
        let result = lock(player).play_next();
        if let Err(e) = result {
            self.notice(format!("lesson: {e}"), true);
        }
    }

    /// Goes back a step of the lesson by re-execution (or to its state at this step, if the user
    /// changed the cluster since): the client history goes back with it.
    fn lesson_back(&self) {
        let Some(player) = &self.lesson else { return };
        // The console's own operations still waiting belong to the run undone too: their
        // session is cancelled (no retry enters the run that replaces it; their ends are not
        // recorded) and a new one serves what comes next.
        let undone =
            std::mem::replace(&mut *lock(&self.client), Arc::new(self.backend.client(client_options())));
        undone.cancel();
        let result = {
            let mut player = lock(player);
            player.back().map(|position| (position, player.ops().len() as u64))
        };
        match result {
            Ok((position, kept)) => {
                // What happened after the bookmark goes: by its time, and the lesson's own
                // operations after the ones kept (a step's first one starts at the bookmark's
                // time). Nothing is recorded: the lesson plays on as the first time.
                let until = self.session.time(self.backend.now_nanos());
                let first_gone = self.session.process(LESSON_OPS + kept + 1);
                let lesson_op = |p: u64| p >= self.session.process(LESSON_OPS);
                let history: Vec<HistoryEvent> = self
                    .session
                    .history()
                    .into_iter()
                    .filter(|e| e.time <= until && !(lesson_op(e.process) && e.process >= first_gone))
                    .collect();
                if let Err(e) = self.session.replace(history) {
                    self.notice(format!("the client history cannot be rewritten: {e}"), true);
                }
                let at = if position == 0 {
                    "the start".to_string()
                } else {
                    format!("the end of step {position}")
                };
                self.notice(format!("lesson: back at {at} (re-executed from the seed)"), false);
                let _ = self.check.send(());
            }
            Err(e) => self.notice(format!("lesson: {e}"), true),
        }
    }

    /// The commands of stepping by hand: holding, held messages, time, switches.
    fn apply_by_hand(&self, command: Command) {
        let b = &self.backend;
        match command {
            Command::Hold(hold) => {
                let text = if hold {
                    "hold: every message waits in flight for the user"
                } else {
                    "release: messages flow again (what was held is delivered)"
                };
                self.network(text, |n| n.set_hold(hold));
            }
            Command::Held(id, action) => {
                let what = match action {
                    HeldAction::Deliver => "deliver",
                    HeldAction::Drop => "drop",
                    HeldAction::Duplicate => "duplicate",
                };
                let which = id.map_or("the oldest held message".to_string(), |id| format!("m{id}"));
                if b.act_on_held(id, action) {
                    let change = Change::Held { id, action: what.into() };
                    self.record(format!("{what} {which} by hand"), Some(change));
                } else {
                    self.notice(format!("{which} is not held (any more): nothing to {what}"), true);
                }
            }
            Command::ReleaseHeld => {
                self.record("deliver every held message".into(), Some(Change::ReleaseHeld));
                b.release_held();
            }
            Command::SetSwitches(switches) => match b.set_switches(switches) {
                Ok(()) => {
                    let bugs = switches.describe();
                    let now = if bugs.is_empty() { "correct Raft".to_string() } else { bugs.join(", ") };
                    self.record(format!("switches: {now}"), Some(Change::Switches(switches)));
                }
                Err(e) => self.notice(e.to_string(), true),
            },
            Command::AdvanceTicks(ticks) => {
                self.record(format!("time moves {ticks} tick(s) by hand"), Some(Change::Ticks(ticks)));
                b.advance_ticks(ticks);
            }
            _ => {}
        }
    }

    fn export(&self) {
        self.record("export the event log and the client history".into(), None);
        // Everything recorded so far, the line above included, is in the file before the copy.
        self.backend.flush_events();
        // After a fork the current branch has an event file of its own.
        let current = self.backend.branches().into_iter().find(|b| b.current).and_then(|b| b.events_file);
        let events = current.unwrap_or_else(|| self.session.events_path().to_path_buf());
        match self.session.export(&events) {
            Ok(x) => {
                let both = x.events.with_file_name(x.events.file_name().map_or_else(String::new, |n| {
                    n.to_string_lossy().replace("-events.jsonl", "-{events,history}.jsonl")
                }));
                let text = format!(
                    "exported {} events and {} history lines to {}",
                    x.event_lines,
                    x.history_lines,
                    both.display()
                );
                self.record(text.clone(), None);
                self.notice(text, false);
            }
            Err(e) => self.notice(format!("export failed: {e}"), true),
        }
    }

    /// Forks the simulated past just after event `seq`: the new branch re-executes the seed and
    /// the inputs up to there, then goes on live; the client history keeps what it shares.
    fn fork(&self, seq: u64) {
        match self.backend.fork(seq) {
            Ok(fork) => self.rebased(&fork, &format!("forked at event {}", fork.after_event)),
            Err(e) => self.notice(format!("cannot fork: {e}"), true),
        }
    }

    /// Goes back to branch `n` (the next after the current one if `None`) where it was left.
    fn switch_branch(&self, n: Option<u32>) {
        let branches = self.backend.branches();
        let Some(current) = branches.iter().position(|b| b.current) else {
            return self.notice("one branch only: fork the past first (v, then F at an event)".into(), true);
        };
        let number = n.unwrap_or(branches[(current + 1) % branches.len()].number);
        match self.backend.switch_branch(number) {
            Ok(fork) => self.rebased(&fork, "switched"),
            Err(e) => self.notice(format!("cannot switch branches: {e}"), true),
        }
    }

    /// After a fork or a switch: the client history becomes the branch's (a new branch's is its
    /// parent's up to the fork: an operation invoked by then and answered later stays in flight
    /// there, its answer unknown, as the checker takes any operation without an answer), and
    /// the user is told where they are.
    fn rebased(&self, fork: &crate::control::Fork, what: &str) {
        let history = {
            let mut kept = self.branch_histories.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let left = self.session.history();
            let until = self.session.time(fork.branch.now);
            let new = kept
                .remove(&fork.branch.number)
                .unwrap_or_else(|| left.iter().filter(|e| e.time <= until).cloned().collect());
            kept.insert(fork.left, left);
            new
        };
        if let Err(e) = self.session.replace(history) {
            self.notice(format!("the client history cannot be rewritten: {e}"), true);
        }
        let branches: Vec<String> = self
            .backend
            .branches()
            .iter()
            .map(|b| format!("{}{}", b.number, if b.current { "*" } else { "" }))
            .collect();
        let text = format!(
            "{what}: branch {} goes on live from event {} (branch {} is kept; B switches; branches {})",
            fork.branch.number,
            fork.after_event + 1,
            fork.left,
            branches.join(" ")
        );
        self.record(text.clone(), None);
        self.notice(text, false);
        let _ = self.check.send(());
    }

    /// One client operation, start to end: history invoke, the request, history completion,
    /// a line in the event log, the outcome to the interface, a nudge to the checker. Each
    /// operation is its own process in the history (several may be in flight at once), all
    /// under the console's one session.
    pub(crate) fn client(&self, op: u64, via: NodeId, request: Op, client: &Client) {
        let process = self.session.process(op);
        let now = |w: &Worker| w.session.time(w.backend.now_nanos());
        // The console's one session registers itself: a register is never one of its operations.
        let Some(invoked) = invocation(process, &request, now(self)) else {
            self.notice(format!("{request} is not a console operation: not sent"), true);
            return;
        };
        self.session.record(invoked);
        // Measured on the engine's clock: virtual time on the simulator, real time on the live
        // cluster.
        let began = self.backend.now_nanos();
        let result = client.call(request.clone(), Some(via));
        let took = Duration::from_nanos(self.backend.now_nanos().saturating_sub(began));
        if let Some(done) = completion(process, &request, &result, now(self)) {
            self.session.record(done);
        }
        let outcome = ClientOutcome::of(&result, took);
        // An operation of a run a lesson undid (its session was cancelled) leaves no event in
        // the run that replaced it.
        if !client.is_cancelled() {
            let event = crate::control::client::client_event(request, via, began, took, &result);
            self.backend.record(Some(via), event);
        }
        if let Some(e) = self.session.write_error() {
            self.notice(e, true);
        }
        let _ = self.updates.send(Update::Client { op, outcome });
        let _ = self.check.send(());
    }
}
