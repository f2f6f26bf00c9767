//! The console: a terminal dashboard to watch, drive and break a cluster, on either engine.
//!
//! `quorum` with no subcommand starts an engine (the live cluster, or with `--engine sim` the
//! deterministic simulator) and opens the console on it, through the engine's [`Control`]
//! interface alone: the console does not know which engine it drives. The screen shows every node (role, term, vote, leader, commit and
//! applied indexes, last entry, election timer, the leader's view of its followers), the logs
//! aligned by index, the committed maps side by side, the network (partitions, one-way cuts,
//! loss, delay, messages per second per link), the event feed, the client operations and the
//! linearizability checker's verdict on the session's history. Keys put and get through any
//! node, kill, restart, pause and force elections, partition and cut the network, change its
//! loss and delay and the speed of time, freeze everything, and export the logs.
//!
//! How it is built:
//! - [`cells`]: one log index on every node, for the log cursor; [`lecture`]: the lecture pace.
//! - [`keymap`]: every key, as data; the status bar and the help are generated from it.
//! - [`app`]: the state and its reaction to keys and clicks, without I/O: it produces
//!   [`action::Command`]s and draws from a [`screen::ScreenState`].
//! - [`engine`]: worker threads that run the commands, poll the cluster, run client operations
//!   and the checker, and send news back; the interface thread never waits on the cluster.
//!   They reach the cluster through [`Control`] only, as does the Redis-protocol server
//!   (`--listen`, [`crate::resp`]) whose clients' operations the console shows and checks.
//! - [`session`]: the session's files (event log, client history) and their export.
//! - [`view`], [`widgets`], [`layout`], [`theme`]: drawing, one small widget per area.
//! - [`terminal`]: entering and always leaving the terminal's console mode.

pub mod action;
pub mod app;
pub mod cells;
pub mod engine;
pub mod feed;
pub mod history;
pub mod keymap;
pub mod layout;
pub mod lecture;
pub mod netview;
pub mod screen;
pub mod session;
pub mod terminal;
pub mod theme;
pub mod view;
pub mod widgets;

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod tests;

use crate::control::Control;
use crate::events::EventKind;
use crate::storage::DataDir;
use crossbeam_channel::{Receiver, select};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How to start the console.
#[derive(Clone, Debug)]
pub struct ConsoleOptions {
    /// Number of nodes, 1 to 9.
    pub nodes: usize,
    /// Seed of election jitter and network draws.
    pub seed: u64,
    /// Where the session's files (and, on disk, the nodes' logs) go; a fresh temporary
    /// directory if `None`.
    pub data_dir: Option<PathBuf>,
    /// Keep the nodes' durable state on disk (in `data_dir`) rather than in memory.
    pub disk: bool,
    /// Initial time scale, 0.05 to 10.
    pub speed: f64,
    /// A delay on every link from the start, in milliseconds at normal speed (`lo`, `hi`), so
    /// each message of the first election takes visible time.
    pub delay: Option<(u64, u64)>,
    /// Start at the lecture pace ([`lecture`]), instead of `speed` and `delay`.
    pub lecture: bool,
    /// A lesson to play (on the simulator): the narration panel, `n` and `b`.
    pub lesson: Option<crate::lesson::Lesson>,
    /// Serve the Redis protocol: node nK listens on `127.0.0.1:PORT+K` ([`crate::resp`]), and
    /// external clients' operations show in the clients panel and go into the history. Not
    /// with a lesson (its operations are its own).
    pub listen: Option<u16>,
}

/// The shortest gap between two frames (about 30 frames a second at most).
pub const FRAME: Duration = Duration::from_millis(33);

/// What the console hands to whoever starts the engine (`main`, which knows the engines).
pub struct EngineSetup {
    /// Number of nodes.
    pub nodes: usize,
    /// The seed.
    pub seed: u64,
    /// The session's directory, locked; with disk storage, opened for this cluster.
    pub data_dir: Arc<DataDir>,
    /// Keep the nodes' durable state on disk in `data_dir`.
    pub disk: bool,
    /// Where the engine streams its events.
    pub events_file: PathBuf,
    /// How many recent events the engine keeps for the screen.
    pub ring: usize,
}

/// A started engine, and how the console describes it in its header (for example
/// "live · on disk" or "simulated · virtual time").
pub struct Started {
    /// The engine, behind the one control interface.
    pub engine: Arc<dyn Control>,
    /// The header's words for it.
    pub label: String,
}

/// Runs the console until the user quits, on the engine `start` starts. Returns a few lines to
/// print once the terminal is back to normal (where the session's files are, and the final
/// verdict).
pub fn run(
    options: ConsoleOptions,
    start: impl FnOnce(EngineSetup) -> anyhow::Result<Started>,
) -> anyhow::Result<String> {
    use anyhow::{Context, bail};
    if !(1..=9).contains(&options.nodes) {
        bail!("--nodes must be between 1 and 9");
    }
    if !(0.05..=10.0).contains(&options.speed) {
        bail!("--speed must be between 0.05 and 10");
    }
    if let Some(port) = options.listen {
        if options.lesson.is_some() {
            bail!("--listen does not go with a lesson: a lesson's clients are its own");
        }
        crate::resp::check_base_port(port, options.nodes).map_err(anyhow::Error::msg)?;
    }
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        bail!(
            "the console needs a terminal; for headless use see `quorum run`, `quorum sim` and `quorum check`"
        );
    }
    let (data_dir, session, warnings) = open_session(&options)?;
    let setup = EngineSetup {
        nodes: options.nodes,
        seed: options.seed,
        data_dir,
        disk: options.disk,
        events_file: session.events_path().to_path_buf(),
        ring: feed::FEED_CAPACITY,
    };
    let Started { engine: backend, label } = start(setup).context("cannot start the cluster")?;
    prepare(backend.as_ref(), &options, warnings);
    let listen =
        options.listen.map(|base_port| crate::resp::ServerOptions { base_port, ..Default::default() });
    let engine = match engine::Engine::start_listening(
        Arc::clone(&backend),
        Arc::clone(&session),
        options.lesson.clone(),
        listen,
    ) {
        Ok(engine) => engine,
        Err(e) => {
            // The console does not open: the cluster stops cleanly, its files complete.
            let _ = backend.finish();
            let e = match options.listen {
                Some(port) => e.context(format!("cannot serve the Redis protocol (--listen {port})")),
                None => e,
            };
            return Err(e);
        }
    };
    let listening = engine.listening();
    let label = match &listening {
        Some(at) => {
            let said = format!("serving the Redis protocol (RESP2) on {at}");
            backend.record(None, EventKind::fault(said, None));
            // Short, for the header: `RESP 127.0.0.1:7001-7005` (node nK on PORT+K).
            let base = options.listen.map_or(0, u32::from);
            let ports = match options.nodes as u32 {
                1 => format!("{}", base + 1),
                n => format!("{}-{}", base + 1, base + n),
            };
            format!("{label} · RESP 127.0.0.1:{ports}")
        }
        None => label,
    };
    let app = app::App::new(backend.members(), &label);
    let result = interface(app, engine.updates(), &|command| engine.send(command));
    let signalled = result.as_ref().ok().copied().flatten();
    let result = result.map(|_| ());
    engine.stop();
    let finished = backend.finish();
    result?;
    finished.context("stopping the cluster")?;
    Ok(farewell(&session, signalled, listening.as_deref()))
}

/// Before the console opens: the session's warnings go to the event log, and the speed and the
/// delay asked for on the command line (or the lecture pace) are set.
fn prepare(backend: &dyn Control, options: &ConsoleOptions, warnings: Vec<String>) {
    let record = |description: String| backend.record(None, EventKind::fault(description, None));
    for w in warnings {
        record(format!("warning: {w}"));
    }
    // A lesson sets its own pace and network (`crate::lesson::Player::start`).
    if options.lesson.is_some() {
        return;
    }
    if options.lecture {
        lecture::apply(backend);
        record(format!("lecture pace: speed {}x, delay {} ms", backend.speed(), lecture::DELAY_MS));
        return;
    }
    if (options.speed - 1.0).abs() > 1e-9 {
        backend.set_speed(options.speed);
        record(format!("speed {}x", backend.speed()));
    }
    if let Some((lo, hi)) = options.delay {
        let range = (lo * 1_000_000, hi * 1_000_000);
        backend.change_network(&mut |n| {
            let mut rule = n.default_rule();
            rule.delay = range;
            n.set_default_rule(rule);
        });
        record(format!("delay {}", netview::delay(range)));
    }
}

/// Locks the session's directory (and, on disk, checks the cluster's size) before any file is
/// touched and before the terminal is taken over, then opens the session's files.
fn open_session(
    options: &ConsoleOptions,
) -> anyhow::Result<(Arc<DataDir>, Arc<session::Session>, Vec<String>)> {
    use anyhow::Context;
    let dir = match &options.data_dir {
        Some(d) => d.clone(),
        None => fresh_dir(),
    };
    let data_dir = if options.disk { DataDir::open(&dir, options.nodes) } else { DataDir::lock(&dir) }
        .map_err(anyhow::Error::new)?;
    let origin = session::Origin {
        cluster: data_dir.meta().map(|m| m.cluster.clone()),
        held_data: data_dir.held_data(),
        opens: data_dir.opens(),
    };
    let (session, warnings) =
        session::Session::open(&dir, &origin).with_context(|| format!("cannot use {}", dir.display()))?;
    Ok((Arc::new(data_dir), Arc::new(session), warnings))
}

/// What the console prints when it is gone: where the files are, and the history's verdict.
fn farewell(session: &session::Session, signalled: Option<&str>, listened: Option<&str>) -> String {
    let history = session.history();
    let options =
        crate::check::CheckOptions { time_limit: Some(engine::CHECK_LIMIT), initial: session.initial() };
    let verdict = match crate::check::check_history(&history, &options) {
        _ if history.is_empty() => "no client operations".to_string(),
        Ok(v) => v.to_string(),
        Err(e) => format!("the history cannot be read: {e}"),
    };
    let why = signalled.map_or_else(String::new, |s| format!(" (on {s})"));
    let served =
        listened.map_or_else(String::new, |at| format!("  served:  the Redis protocol on {at} (closed)\n"));
    format!(
        "quorum: every node stopped{why}.\n{served}  files:   {} (event log, client history, exports)\n  \
         verdict: {}\n",
        session.dir().display(),
        verdict.lines().next().unwrap_or_default()
    )
}

/// A new directory in the temporary directory, with a short name (`quorum-PID`, then
/// `quorum-PID-2`, … if taken), since its paths are shown on screen.
fn fresh_dir() -> PathBuf {
    let base = std::env::temp_dir().join(format!("quorum-{}", std::process::id()));
    let mut dir = base.clone();
    let mut k = 2;
    while dir.exists() {
        dir = PathBuf::from(format!("{}-{k}", base.display()));
        k += 1;
    }
    dir
}

type Input = Receiver<std::io::Result<crossterm::event::Event>>;

/// Reads terminal events on a thread of its own, until told to stop.
fn input_thread(stop: Arc<AtomicBool>) -> std::io::Result<(Input, std::thread::JoinHandle<()>)> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let handle = std::thread::Builder::new().name("console-input".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match crossterm::event::poll(Duration::from_millis(100)) {
                Ok(false) => {}
                Ok(true) => {
                    let event = crossterm::event::read();
                    let failed = event.is_err();
                    if tx.send(event).is_err() || failed {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    })?;
    Ok((rx, handle))
}

/// Watches for SIGTERM, SIGHUP and SIGINT on a thread of its own: each ends the console the way
/// `q` does (the terminal restored, every node stopped, the session files complete), instead of
/// killing the process with the terminal still in console mode.
fn signal_thread() -> std::io::Result<(Receiver<&'static str>, signal_hook::iterator::Handle)> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT])?;
    let handle = signals.handle();
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new().name("console-signals".into()).spawn(move || {
        for signal in signals.forever() {
            let name = match signal {
                SIGTERM => "SIGTERM",
                SIGHUP => "SIGHUP",
                _ => "SIGINT",
            };
            if tx.send(name).is_err() {
                return;
            }
        }
    })?;
    Ok((rx, handle))
}

/// How to open a replay ([`replay`]).
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// What the header calls the log (its file, or the seed it was re-run from).
    pub name: String,
    /// The position to open at: the state after this many events.
    pub at: usize,
    /// The play speed: seconds of the run per second (0.01 to 10).
    pub speed: f64,
    /// What was odd but readable in the log (a torn last line), for the status line.
    pub warnings: Vec<String>,
}

/// Opens the console's history view on a replayed log, read-only: no engine runs, space
/// plays it, `q` quits. Fails before the terminal is touched if there is no terminal.
pub fn replay(timeline: crate::replay::Timeline, options: ReplayOptions) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!("quorum replay needs a terminal (for a picture of the run, see --svg)");
    }
    let app = app::App::replay(timeline, &options.name, options.at, options.speed, &options.warnings);
    interface(app, &crossbeam_channel::never(), &|_| {}).map(|_| ())
}

/// The console's interface, for [`run`] and [`replay`]: takes the terminal over, runs the
/// loop on `app` with news from `updates` and commands to `send`, and gives the terminal
/// back. Returns the signal that ended it, if one did.
fn interface(
    mut app: app::App,
    updates: &Receiver<engine::Update>,
    send: &dyn Fn(action::Command),
) -> anyhow::Result<Option<&'static str>> {
    let (signals, signal_handle) = signal_thread()?;
    let mut guard = terminal::enter()?;
    let stop = Arc::new(AtomicBool::new(false));
    let (input, input_handle) = input_thread(Arc::clone(&stop))?;
    let mut signalled = None;
    let size = guard.terminal.size()?;
    app.resize(size.width, size.height);
    let channels = Channels { input: &input, updates, signals: &signals };
    let result = event_loop(&mut app, &mut guard, &channels, send, &mut signalled);
    stop.store(true, Ordering::Relaxed);
    drop(guard);
    let _ = input_handle.join();
    // A hang-up takes the terminal away: reading or drawing may fail just before the signal is
    // seen. The signal is what happened, and it ends the console cleanly.
    let result = match result {
        Err(_) if signalled.is_none() => match signals.recv_timeout(Duration::from_millis(200)) {
            Ok(name) => {
                signalled = Some(name);
                Ok(())
            }
            Err(_) => result,
        },
        other => other,
    };
    signal_handle.close();
    result.map(|()| signalled)
}

/// What the interface loop listens to.
struct Channels<'a> {
    input: &'a Input,
    updates: &'a Receiver<engine::Update>,
    signals: &'a Receiver<&'static str>,
}

/// The interface loop: draws at most about 30 times a second and only when something changed,
/// and sleeps in between until a key, a click or news from the engine arrives. Ends when the
/// user quits or a signal comes (`signalled` then names it).
fn event_loop(
    app: &mut app::App,
    guard: &mut terminal::Guard,
    channels: &Channels<'_>,
    send: &dyn Fn(action::Command),
    signalled: &mut Option<&'static str>,
) -> anyhow::Result<()> {
    let Channels { input, updates, signals } = *channels;
    let mut pending = true;
    let mut last_draw = Instant::now() - FRAME;
    loop {
        if let Ok(name) = signals.try_recv() {
            *signalled = Some(name);
            return Ok(());
        }
        let now = Instant::now();
        let expiry = app.tick(now);
        pending |= app.take_dirty();
        if pending && now >= last_draw + FRAME {
            guard.terminal.draw(|f| view::render(f, app.screen()))?;
            last_draw = now;
            pending = false;
        }
        let wake = if pending { last_draw + FRAME } else { expiry.unwrap_or(now + Duration::from_secs(1)) };
        let timeout = wake.saturating_duration_since(Instant::now());
        select! {
            recv(input) -> event => match event {
                Ok(Ok(event)) => {
                    app.on_terminal(event);
                    for more in input.try_iter() {
                        app.on_terminal(more?);
                    }
                }
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => anyhow::bail!("the terminal input stopped"),
            },
            recv(updates) -> update => {
                if let Ok(update) = update {
                    app.on_update(update);
                }
                for more in updates.try_iter() {
                    app.on_update(more);
                }
            }
            recv(signals) -> name => {
                *signalled = name.ok();
                return Ok(());
            }
            default(timeout) => {}
        }
        for command in app.take_commands() {
            send(command);
        }
        if app.should_quit() {
            return Ok(());
        }
    }
}
