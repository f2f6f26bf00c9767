//! The `quorum` command line: thin wrappers around the library.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use quorum::cluster::{ClusterOptions, StorageOptions};
use quorum::nemesis::FaultSet;
use quorum::raft::{Hazard, SnapshotPolicy, Switches};
use quorum::sim::{self, SimOptions, Sinks};
use quorum::storage::{DataDir, FsyncPolicy};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// A Raft-replicated key-value cluster in one terminal: watch it, break it, check it.
#[derive(Parser)]
#[command(
    name = "quorum",
    version,
    about,
    args_conflicts_with_subcommands = true,
    after_help = "With no subcommand, quorum opens the console on a live cluster; press ? in it for every key."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    console: ConsoleArgs,
}

/// With no subcommand, `quorum` opens the console on a live cluster.
#[derive(clap::Args)]
struct ConsoleArgs {
    /// Console: cluster size (1 to 9).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=9))]
    nodes: u64,
    /// Console: seed of election jitter and network draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Console: directory for the session's event log and history, and with disk storage the
    /// nodes' logs (the next start with the same directory brings the cluster back).
    /// Default: a fresh temporary directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Console: where the nodes keep durable state, mem or disk. Default: disk with --data-dir,
    /// mem without.
    #[arg(long)]
    storage: Option<StorageKind>,
    /// Console: initial time scale, from 0.05 (1/20) to 10.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true, value_parser = parse_speed)]
    speed: f64,
    /// Console: a delay on every message from the start, in milliseconds at normal speed, `LO-HI`
    /// or one number (0 to 10,000), so that each step of an election or a write takes visible
    /// time (`d` changes it later).
    #[arg(long, value_parser = parse_console_delay)]
    delay: Option<(u64, u64)>,
    /// Console: the lecture pace, for a room: 1/20 speed and 50 ms on every message (a second
    /// each), so each step of an election and a write shows for a second at least (`L` in the
    /// console toggles it).
    #[arg(long, conflicts_with_all = ["speed", "delay"])]
    lecture: bool,
    /// Console: the engine, live (a thread per node, real time) or sim (the deterministic
    /// simulator in virtual time: the same seed and the same keys at the same moments replay the
    /// same session).
    #[arg(long, value_enum, default_value_t = EngineKind::Live)]
    engine: EngineKind,
    /// Console, with --engine sim: break safety on purpose, local-reads or commit-old-term
    /// (`b` switches it later), to watch the checks catch it.
    #[arg(long = "unsafe", value_parser = parse_hazard)]
    hazard: Option<Hazard>,
    /// Console, with --engine sim: turn PreVote off (thesis §9.6).
    #[arg(long)]
    no_prevote: bool,
    /// Console, with --engine sim: turn CheckQuorum and the leader lease off (thesis §6.2).
    #[arg(long)]
    no_check_quorum: bool,
    /// Console: serve the Redis protocol (RESP2) too: node nK listens on 127.0.0.1:PORT+K
    /// (redis-cli -p PORT+1 reaches n1), and external clients' operations show in the clients
    /// panel, go into the history and are checked with the console's own.
    #[arg(long, value_name = "PORT")]
    listen: Option<u16>,
    #[command(flatten)]
    snapshots: SnapshotArgs,
}

/// When nodes snapshot and compact their logs, and the size of a snapshot's chunks (paper §7).
#[derive(clap::Args, Clone, Copy)]
struct SnapshotArgs {
    /// Snapshot a node's state machine and drop its log once the log holds more than this many
    /// applied entries (0: never).
    #[arg(long, default_value_t = quorum::raft::DEFAULT_SNAPSHOT_EVERY)]
    snapshot_every: u64,
    /// Most bytes of a snapshot in one InstallSnapshot message (1 to 16,777,216).
    #[arg(long, default_value_t = quorum::raft::DEFAULT_SNAPSHOT_CHUNK as u64,
          value_parser = clap::value_parser!(u64).range(1..=16 * 1024 * 1024))]
    snapshot_chunk: u64,
}

impl SnapshotArgs {
    fn policy(self) -> SnapshotPolicy {
        SnapshotPolicy { every: self.snapshot_every, chunk: self.snapshot_chunk as usize }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum EngineKind {
    Live,
    Sim,
}

/// Starts the engine the console drives: the live cluster, or the simulator following the wall
/// clock. This is the one place that knows both.
fn start_engine(
    kind: EngineKind,
    switches: Switches,
    snapshots: SnapshotPolicy,
    setup: quorum::tui::EngineSetup,
) -> Result<quorum::tui::Started> {
    use quorum::tui::Started;
    use std::sync::Arc;
    match kind {
        EngineKind::Live => {
            let storage = if setup.disk {
                StorageOptions::Disk { dir: Arc::clone(&setup.data_dir), fsync: FsyncPolicy::Always }
            } else {
                StorageOptions::Memory
            };
            let cluster = quorum::cluster::LiveCluster::start(ClusterOptions {
                nodes: setup.nodes,
                seed: setup.seed,
                storage,
                events_file: Some(setup.events_file),
                ring: setup.ring,
                snapshots,
                ..ClusterOptions::default()
            })?;
            let label = if setup.disk { "live · on disk" } else { "live · in memory" };
            Ok(Started { engine: Arc::new(cluster), label: label.into() })
        }
        EngineKind::Sim => {
            // The switches are the world's from the start (its `start` event says them), so a
            // fork's re-execution starts from them too.
            let spec = sim::WorldSpec {
                seed: setup.seed,
                nodes: setup.nodes,
                switches,
                sessions: Default::default(),
                snapshots,
            };
            let options = sim::EngineOptions {
                clock: sim::Clock::Wall,
                events_file: Some(setup.events_file),
                ring: setup.ring,
            };
            let engine = sim::SimEngine::start_from(spec.factory(), options)?;
            Ok(Started { engine: Arc::new(engine), label: format!("simulated · seed {}", setup.seed) })
        }
    }
}

/// `--delay`: the console's own parser of delays, so the flag and the `d` prompt agree.
fn parse_console_delay(s: &str) -> Result<(u64, u64), String> {
    quorum::tui::app::parse_delay(s)
}

fn run_console(args: ConsoleArgs) -> Result<u8> {
    let disk = match (args.storage, args.engine) {
        (Some(StorageKind::Disk), EngineKind::Sim) => bail!(
            "--engine sim keeps the nodes' state in the simulator's memory: --storage disk needs --engine live"
        ),
        (Some(StorageKind::Disk), _) => true,
        (Some(StorageKind::Mem), _) | (None, EngineKind::Sim) => false,
        (None, EngineKind::Live) => args.data_dir.is_some(),
    };
    let engine = args.engine;
    let switches =
        Switches { hazard: args.hazard, pre_vote: !args.no_prevote, check_quorum: !args.no_check_quorum };
    if engine == EngineKind::Live && switches != Switches::CORRECT {
        bail!(
            "--unsafe, --no-prevote and --no-check-quorum switch bugs on in the simulator only: add --engine sim"
        );
    }
    let farewell = quorum::tui::run(
        quorum::tui::ConsoleOptions {
            nodes: args.nodes as usize,
            seed: args.seed,
            data_dir: args.data_dir,
            disk,
            speed: args.speed,
            delay: args.delay,
            lecture: args.lecture,
            lesson: None,
            listen: args.listen,
        },
        |setup| start_engine(engine, switches, args.snapshots.policy(), setup),
    )?;
    // After a hang-up there may be no terminal to print to: that must not turn a clean stop
    // into a panic.
    let _ = write!(std::io::stdout(), "{farewell}");
    Ok(0)
}

#[derive(Subcommand)]
enum Command {
    /// Run the real core under a seeded, simulated fault schedule and check every property.
    Sim(SimArgs),
    /// A headless real-time run of the live cluster under faults, with its history checked.
    Run(RunArgs),
    /// The live cluster, headless, serving the Redis protocol on every node (n1 on PORT+1, ...)
    /// until Ctrl-C or SIGTERM: for redis-cli, redis-benchmark and test harnesses.
    Serve(ServeArgs),
    /// Closed-loop puts against the live cluster: ops/s and latency per client count.
    Bench(BenchArgs),
    /// Open the console's history view on an event log, read-only (space plays it), or on a
    /// simulator seed re-run headless; or draw a picture of it (--svg).
    Replay(ReplayArgs),
    /// Play a narrated lesson on the simulator: list them, open one in the console (n plays
    /// the next step, b goes back), check it headless, or make one from a golden script.
    Lesson(LessonArgs),
    /// Check a history file (JSON Lines, Jepsen's format) for linearizability.
    Check {
        /// The history file.
        file: PathBuf,
    },
}

#[derive(clap::Args)]
struct LessonArgs {
    /// A shipped lesson's name (`quorum lesson` lists them) or the path of a lesson file.
    lesson: Option<String>,
    /// Play it headless and exit 0 only if every step's conditions hold: 1 if one does not, 3
    /// if the checker could not decide one, 2 if the lesson cannot be read (as `quorum sim`).
    #[arg(long, requires = "lesson")]
    check: bool,
    /// Print a lesson skeleton made from a golden script (tests/scripts/NAME): its commands
    /// as steps, its comments as narration.
    #[arg(long, conflicts_with_all = ["lesson", "check"], value_name = "SCRIPT")]
    from_script: Option<PathBuf>,
    /// With --check: write the run's event log here (JSON Lines), to read or `quorum replay`.
    #[arg(long, requires = "check")]
    events: Option<PathBuf>,
    /// Console: directory for the session's event log and history (default: a fresh one).
    #[arg(long, conflicts_with = "check")]
    data_dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct SimArgs {
    /// The seed of one run.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// A range of seeds, `A..B` (both included), run one after another.
    #[arg(long)]
    seeds: Option<String>,
    #[command(flatten)]
    shape: SimShape,
    /// Write the client history (JSON Lines) here (one run only).
    #[arg(long)]
    history: Option<PathBuf>,
    /// Write the event log (JSON Lines) here (one run only).
    #[arg(long)]
    events: Option<PathBuf>,
}

/// What a simulator run is made of besides its seed: `quorum sim` and `quorum replay --seed`
/// take the same flags, so the command `quorum sim` prints for a failing seed replays it.
#[derive(clap::Args)]
struct SimShape {
    /// Cluster size (1 to 9).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=9))]
    nodes: u64,
    /// Concurrent clients (1 to 1,000).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    clients: u64,
    /// Client operations in total (1 to 10,000,000).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=MAX_OPS))]
    ops: u64,
    /// Keys in the key space (1 to 1,000,000).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=MAX_KEYS))]
    keys: u64,
    /// Faults to inject: a comma list of partition,crash,pause,loss,duplicate,reorder,figure8,
    /// transfer; or all; or none.
    #[arg(long, default_value = "all")]
    nemesis: FaultSet,
    /// Break safety on purpose to see the checks catch it: local-reads or commit-old-term.
    #[arg(long = "unsafe", value_parser = parse_hazard)]
    hazard: Option<Hazard>,
    #[command(flatten)]
    snapshots: SnapshotArgs,
}

impl SimShape {
    /// The simulator's options for `seed`.
    fn options(&self, seed: u64) -> SimOptions {
        SimOptions {
            seed,
            nodes: self.nodes as usize,
            clients: self.clients as usize,
            ops: self.ops as usize,
            keys: self.keys as usize,
            nemesis: self.nemesis.clone(),
            hazard: self.hazard,
            snapshots: self.snapshots.policy(),
        }
    }
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The event log: the console's export or session log, `quorum run --events`, or
    /// `quorum sim --events`.
    #[arg(required_unless_present = "seed", conflicts_with = "seed")]
    file: Option<PathBuf>,
    /// Instead of a file: re-run this simulator seed headless (with the flags of `quorum sim`)
    /// and replay its events.
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    shape: SimShape,
    /// Open at this event: its number, as the safety line and the feed show it (`#N`); the
    /// screen is the state just after it. Default: the start, before any event.
    #[arg(long)]
    at: Option<u64>,
    /// Play speed (space plays): seconds of the run per second of the wall clock, 0.01 to 10.
    #[arg(long, default_value_t = 1.0, value_parser = parse_play_speed)]
    speed: f64,
    /// Write a picture of the run (SVG) here instead of opening the console.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// With --svg: the first event drawn (its number; default 0).
    #[arg(long, requires = "svg")]
    from: Option<u64>,
    /// With --svg: the event after the last one drawn (default: the end).
    #[arg(long, requires = "svg")]
    to: Option<u64>,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Cluster size (1 to 9).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=9))]
    nodes: u64,
    /// Concurrent client threads (1 to 256).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=256))]
    clients: u64,
    /// Seconds the clients run (0.001 to 86,400, a day).
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true, value_parser = parse_duration)]
    duration: f64,
    /// Faults to inject: a comma list of partition,crash,pause,loss,duplicate,reorder,figure8,
    /// transfer; or all; or none.
    #[arg(long, default_value = "none")]
    nemesis: FaultSet,
    /// Keys in the key space (1 to 1,000,000).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=MAX_KEYS))]
    keys: u64,
    #[command(flatten)]
    live: LiveArgs,
}

/// What `quorum run` and `quorum serve` share: the files they write and the cluster's storage,
/// seed and snapshots.
#[derive(clap::Args)]
struct LiveArgs {
    /// Write the client history (JSON Lines) here, a line at a time (for `quorum serve`, every
    /// external operation, each connection one process).
    #[arg(long)]
    history: Option<PathBuf>,
    /// Write the event log (JSON Lines) here, as it goes.
    #[arg(long)]
    events: Option<PathBuf>,
    /// Data directory for disk storage (default: a fresh temporary directory, printed).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where durable state goes: disk or mem.
    #[arg(long, default_value = "disk")]
    storage: StorageKind,
    /// fsync policy for disk storage: always, or never (for speed experiments only).
    #[arg(long, default_value = "always")]
    fsync: FsyncArg,
    /// Seed of election jitter, network draws, the nemesis and (`quorum run`) client choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[command(flatten)]
    snapshots: SnapshotArgs,
}

impl LiveArgs {
    /// The cluster of `nodes` these flags describe (on disk, its data directory opened and
    /// locked) and the history file, before anything runs.
    fn open(&self, nodes: usize) -> Result<(ClusterOptions, Option<Box<dyn Write + Send>>)> {
        let storage = storage_options(self.storage, self.data_dir.clone(), self.fsync, nodes)?;
        warn_fsync(self.storage, self.fsync);
        let history: Option<Box<dyn Write + Send>> = match &self.history {
            Some(p) => Some(Box::new(create(p)?)),
            None => None,
        };
        let cluster = ClusterOptions {
            nodes,
            storage,
            seed: self.seed,
            events_file: self.events.clone(),
            snapshots: self.snapshots.policy(),
            ..ClusterOptions::default()
        };
        Ok((cluster, history))
    }
}

fn run_live(args: RunArgs) -> Result<u8> {
    // The data directory first: a locked or mismatched one stops here, before any file is touched.
    let (cluster, history) = args.live.open(args.nodes as usize)?;
    let options = quorum::cluster::RunOptions {
        cluster,
        clients: args.clients as usize,
        duration: std::time::Duration::from_secs_f64(args.duration),
        nemesis: args.nemesis.clone(),
        keys: args.keys as usize,
    };
    println!(
        "quorum run · {} nodes · {} clients · {} s · nemesis {}",
        args.nodes, args.clients, args.duration, args.nemesis
    );
    let report = quorum::cluster::run(&options, history)?;
    print!("{}", report.summary());
    Ok(report.exit_code() as u8)
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Cluster size (1 to 9).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=9))]
    nodes: u64,
    /// Node nK listens on 127.0.0.1:PORT+K for the Redis protocol (RESP2).
    #[arg(long, value_name = "PORT", default_value_t = 6379)]
    listen: u16,
    /// Faults to inject until stopped: a comma list of partition,crash,pause,loss,duplicate,
    /// reorder,figure8,transfer; or all; or none.
    #[arg(long, default_value = "none")]
    nemesis: FaultSet,
    #[command(flatten)]
    live: LiveArgs,
}

fn run_serve(args: ServeArgs) -> Result<u8> {
    quorum::resp::check_base_port(args.listen, args.nodes as usize).map_err(anyhow::Error::msg)?;
    let (cluster, history) = args.live.open(args.nodes as usize)?;
    let options = quorum::cluster::ServeOptions {
        // Events are recorded only when they go somewhere.
        cluster: ClusterOptions { trace: args.live.events.is_some(), ..cluster },
        nemesis: args.nemesis.clone(),
        server: quorum::resp::ServerOptions { base_port: args.listen, ..Default::default() },
    };
    // SIGINT and SIGTERM end the serve cleanly: every file complete.
    let (stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
    let mut signals =
        signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])?;
    let signal_handle = signals.handle();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = stop_tx.send(());
        }
    });
    println!(
        "quorum serve · {} nodes · storage {} · nemesis {}",
        args.nodes,
        if args.live.storage == StorageKind::Disk { "disk" } else { "mem" },
        args.nemesis
    );
    let report = quorum::cluster::serve(
        &options,
        history,
        |server| {
            for (node, address) in server.addresses() {
                println!("{node} listens on {address}");
            }
            println!(
                "try: redis-cli -p {} · Ctrl-C or SIGTERM stops the cluster and completes its files",
                args.listen as u32 + 1
            );
        },
        &stop,
    )?;
    signal_handle.close();
    print!("{}", report.summary());
    if let (Some(path), Some(lines)) = (&args.live.history, report.history_lines) {
        println!("history: {lines} lines in {} (quorum check {})", path.display(), path.display());
    }
    if let Some(path) = &args.live.events {
        println!("events: {}", path.display());
    }
    Ok(report.exit_code() as u8)
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Cluster size.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
    nodes: u64,
    /// Comma list of concurrent client counts (each 1 to 4,096).
    #[arg(long, default_value = "1,16,64,256")]
    clients: String,
    /// Seconds per client count (0.001 to 86,400, a day).
    #[arg(long, default_value_t = 5.0, allow_negative_numbers = true, value_parser = parse_duration)]
    duration: f64,
    /// Where durable state goes: mem or disk.
    #[arg(long, default_value = "mem")]
    storage: StorageKind,
    /// Data directory for disk storage (default: a fresh temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// fsync policy for disk storage: always, or never (for speed experiments only).
    #[arg(long, default_value = "always")]
    fsync: FsyncArg,
    #[command(flatten)]
    snapshots: SnapshotArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum StorageKind {
    Mem,
    Disk,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum FsyncArg {
    Always,
    Never,
}

/// Where a run's durable state goes. On disk this opens (and locks) the data directory for a
/// cluster of `nodes`, so every check on it happens before anything else.
fn storage_options(
    kind: StorageKind,
    dir: Option<PathBuf>,
    fsync: FsyncArg,
    nodes: usize,
) -> Result<StorageOptions> {
    Ok(match kind {
        StorageKind::Mem => StorageOptions::Memory,
        StorageKind::Disk => {
            let dir = match dir {
                Some(d) => d,
                None => {
                    let d =
                        std::env::temp_dir().join(format!("quorum-{}-{}", std::process::id(), now_stamp()));
                    println!("data directory: {}", d.display());
                    d
                }
            };
            let dir = std::sync::Arc::new(DataDir::open(&dir, nodes)?);
            let fsync = match fsync {
                FsyncArg::Always => FsyncPolicy::Always,
                FsyncArg::Never => FsyncPolicy::Never,
            };
            StorageOptions::Disk { dir, fsync }
        }
    })
}

/// The warning `--fsync never` deserves, once per command.
fn warn_fsync(kind: StorageKind, fsync: FsyncArg) {
    if kind == StorageKind::Disk && fsync == FsyncArg::Never {
        println!("fsync: never (writes are not durable; for speed experiments only)");
    }
}

fn now_stamp() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

fn run_bench(args: BenchArgs) -> Result<u8> {
    let counts: Vec<usize> = args
        .clients
        .split(',')
        .map(|c| c.trim().parse::<usize>().ok().filter(|&n| (1..=MAX_BENCH_CLIENTS).contains(&n)))
        .collect::<Option<_>>()
        .with_context(|| {
            format!(
                "bad --clients {:?}: expected a comma list of client counts from 1 to {MAX_BENCH_CLIENTS}",
                args.clients
            )
        })?;
    let base = match args.storage {
        StorageKind::Mem => None,
        StorageKind::Disk => Some(args.data_dir.clone().unwrap_or_else(|| {
            let d = std::env::temp_dir().join(format!("quorum-{}-{}", std::process::id(), now_stamp()));
            println!("data directory: {}", d.display());
            d
        })),
    };
    warn_fsync(args.storage, args.fsync);
    println!(
        "quorum bench · {} nodes · storage {:?} · {} s per point",
        args.nodes, args.storage, args.duration
    );
    println!("{:>8} {:>12} {:>10} {:>10}", "clients", "ops/s", "p50", "p99");
    for (i, clients) in counts.into_iter().enumerate() {
        let dir = base.as_ref().map(|b| b.join(format!("point{i}")));
        let storage = storage_options(args.storage, dir, args.fsync, args.nodes as usize)?;
        let options = ClusterOptions {
            nodes: args.nodes as usize,
            storage,
            snapshots: args.snapshots.policy(),
            ..ClusterOptions::default()
        };
        let r = quorum::cluster::bench(&options, clients, std::time::Duration::from_secs_f64(args.duration))?;
        println!(
            "{:>8} {:>12.0} {:>8.2}ms {:>8.2}ms",
            r.clients,
            r.ops_per_sec,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3
        );
    }
    Ok(0)
}

/// The most operations `quorum sim` runs.
const MAX_OPS: u64 = 10_000_000;
/// The largest key space.
const MAX_KEYS: u64 = 1_000_000;
/// The longest `--duration`, in seconds (a day).
const MAX_SECONDS: f64 = 86_400.0;
/// The most clients one bench point has.
const MAX_BENCH_CLIENTS: usize = 4096;

/// A number of seconds for `--duration`: 0.001 to a day.
fn parse_duration(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(d) if (0.001..=MAX_SECONDS).contains(&d) => Ok(d),
        Ok(d) => Err(format!("{d} s is out of range: give 0.001 to {MAX_SECONDS} seconds (a day)")),
        Err(_) => Err(format!("{s:?} is not a number of seconds (for example 10 or 0.5)")),
    }
}

/// A time scale for `--speed`: 0.05 to 10.
fn parse_speed(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.05..=10.0).contains(&x) => Ok(x),
        Ok(x) => Err(format!("{x} is out of range: the speed goes from 0.05 (1/20) to 10")),
        Err(_) => Err(format!("{s:?} is not a number (for example 0.2 for a fifth of normal speed)")),
    }
}

fn parse_hazard(s: &str) -> Result<Hazard, String> {
    match s {
        "local-reads" => Ok(Hazard::LocalReads),
        "commit-old-term" => Ok(Hazard::CommitOldTerm),
        _ => Err(format!("unknown unsafe mode {s:?}: expected local-reads or commit-old-term")),
    }
}

fn parse_seeds(s: &str) -> Result<std::ops::RangeInclusive<u64>> {
    let (a, b) =
        s.split_once("..").with_context(|| format!("bad --seeds {s:?}: expected A..B, e.g. 1..100"))?;
    let a: u64 = a.trim().parse().with_context(|| format!("bad start of --seeds {s:?}"))?;
    let b: u64 = b.trim().parse().with_context(|| format!("bad end of --seeds {s:?}"))?;
    if b < a {
        bail!("empty --seeds range {s:?}: the end must not be below the start");
    }
    Ok(a..=b)
}

fn create(path: &PathBuf) -> Result<BufWriter<File>> {
    Ok(BufWriter::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?))
}

fn run_sim(args: SimArgs) -> Result<u8> {
    let options = |seed| args.shape.options(seed);
    if let Some(range) = &args.seeds {
        let range = parse_seeds(range)?;
        if args.history.is_some() || args.events.is_some() {
            bail!("--history and --events apply to one run: use --seed");
        }
        let start = std::time::Instant::now();
        let (mut runs, mut failed, mut messages) = (0u64, 0u64, 0u64);
        for seed in range {
            let report = sim::run(&options(seed), Sinks::default())?;
            runs += 1;
            messages += report.messages_delivered;
            if !report.passed() {
                failed += 1;
                print!("{}", report.summary());
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{runs} seeds, {failed} failed · {:.1} s wall · {:.0} seeds/min · {:.0} simulated messages/s",
            secs,
            runs as f64 * 60.0 / secs,
            messages as f64 / secs
        );
        return Ok(if failed > 0 { 1 } else { 0 });
    }
    let seed = args.seed.unwrap_or(1);
    let mut history = args.history.as_ref().map(create).transpose()?;
    let mut events = args.events.as_ref().map(create).transpose()?;
    let sinks = Sinks {
        events: events.as_mut().map(|w| w as &mut dyn Write),
        history: history.as_mut().map(|w| w as &mut dyn Write),
        probe: None,
    };
    let report = sim::run(&options(seed), sinks)?;
    if let Some(mut w) = history {
        w.flush()?;
    }
    if let Some(mut w) = events {
        w.flush()?;
    }
    print!("{}", report.summary());
    Ok(report.exit_code() as u8)
}

/// A play speed for `quorum replay --speed`: 0.01 to 10.
fn parse_play_speed(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.01..=10.0).contains(&x) => Ok(x),
        Ok(x) => Err(format!(
            "{x} is out of range: the play speed goes from 0.01 to 10 (seconds of the run per second)"
        )),
        Err(_) => {
            Err(format!("{s:?} is not a number (for example 0.1 to play at a tenth of the run's pace)"))
        }
    }
}

/// `quorum replay`: reads the log (or re-runs the seed) and every flag before the terminal is
/// touched, then opens the history view on it, or writes the picture.
fn run_replay(args: ReplayArgs) -> Result<u8> {
    let (log, name) = match (&args.file, args.seed) {
        (Some(file), _) => (quorum::replay::read_file(file)?, file.display().to_string()),
        (None, Some(seed)) => (rerun(&args.shape.options(seed))?, format!("seed {seed}")),
        (None, None) => bail!("give an event log, or --seed to re-run a simulator seed"),
    };
    let quorum::replay::Log { events, warnings } = log;
    let last = events.len() as u64 - 1;
    let position = |n: u64, flag: &str| -> Result<usize> {
        if n > last + 1 || (flag == "--at" && n > last) {
            bail!("{flag} {n}: the log's events are numbered 0 to {last}");
        }
        Ok(n as usize)
    };
    if let Some(out) = &args.svg {
        let from = position(args.from.unwrap_or(0), "--from")?;
        let to = position(args.to.unwrap_or(last + 1), "--to")?;
        if to <= from {
            bail!("--from {from} --to {to}: nothing to draw (--to is the event after the last one drawn)");
        }
        let mut file = create(out)?;
        quorum::replay::svg::write_svg(&events, from..to, &mut file)
            .with_context(|| format!("cannot write {}", out.display()))?;
        file.flush()?;
        return Ok(0);
    }
    let at = match args.at {
        Some(n) => position(n, "--at")? + 1,
        None => 0,
    };
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let timeline = quorum::replay::Timeline::of(events);
    quorum::tui::replay(timeline, quorum::tui::ReplayOptions { name, at, speed: args.speed, warnings })?;
    Ok(0)
}

/// The simulator a lesson plays on: its set-up's world, forkable (a lesson goes back by
/// re-execution), its time moved by the lesson only (`Manual`) or, in the console, by the wall
/// clock once the user lets it run.
fn lesson_engine(
    setup: &quorum::lesson::format::Setup,
    clock: sim::Clock,
    events_file: Option<PathBuf>,
    ring: usize,
) -> Result<sim::SimEngine> {
    let spec = sim::WorldSpec {
        seed: setup.seed,
        nodes: setup.nodes,
        switches: setup.switches,
        sessions: Default::default(),
        snapshots: setup.snapshots,
    };
    let options = sim::EngineOptions { clock, events_file, ring };
    // Frozen from time 0: the wall clock never runs before the lesson's first step.
    Ok(sim::SimEngine::start_from(spec.frozen_factory(), options)?)
}

/// `quorum lesson`: lists the lessons, checks one headless, opens one in the console, or makes
/// a skeleton from a golden script.
fn run_lesson(args: LessonArgs) -> Result<u8> {
    use quorum::lesson;
    if let Some(script) = &args.from_script {
        let text =
            std::fs::read_to_string(script).with_context(|| format!("cannot read {}", script.display()))?;
        let name = script.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        print!("{}", lesson::script::skeleton(&name, &text));
        return Ok(0);
    }
    let Some(name) = args.lesson else {
        println!("Lessons (quorum lesson NAME opens one; n plays the next step, b goes back):");
        for read in lesson::shipped() {
            match read {
                Ok(l) => println!("  {:<28} {} ({} steps)", l.name, l.title, l.steps.len()),
                Err(e) => println!("  {e}"),
            }
        }
        return Ok(0);
    };
    let lesson = lesson::find(&name).map_err(anyhow::Error::msg)?;
    if args.check {
        let engine =
            std::sync::Arc::new(lesson_engine(&lesson.setup, sim::Clock::Manual, args.events.clone(), 64)?);
        let steps = lesson.steps.len();
        let title = lesson.title.clone();
        let mut player =
            lesson::Player::start(lesson, engine.clone(), std::sync::Arc::new(lesson::play::Quiet), false)
                .map_err(anyhow::Error::msg)?;
        let result = player.play_all();
        drop(player);
        quorum::control::Control::finish(engine.as_ref()).context("writing the event log")?;
        return Ok(match result {
            Ok(()) => {
                println!("{name}: {title}: {steps} steps, every condition held");
                0
            }
            Err(e) => {
                println!("FAILED {e}");
                if e.undecided { 3 } else { 1 }
            }
        });
    }
    let setup = lesson.setup.clone();
    let farewell = quorum::tui::run(
        quorum::tui::ConsoleOptions {
            nodes: setup.nodes,
            seed: setup.seed,
            data_dir: args.data_dir,
            disk: false,
            speed: setup.speed,
            delay: None,
            lecture: false,
            lesson: Some(lesson),
            listen: None,
        },
        |s| {
            let engine = lesson_engine(&setup, sim::Clock::Wall, Some(s.events_file), s.ring)?;
            let label = format!("lesson · simulated · seed {}", setup.seed);
            Ok(quorum::tui::Started { engine: std::sync::Arc::new(engine), label })
        },
    )?;
    let _ = write!(std::io::stdout(), "{farewell}");
    Ok(0)
}

/// Re-runs a simulator seed headless, its events into memory, and reads them back.
fn rerun(options: &SimOptions) -> Result<quorum::replay::Log> {
    let mut events = Vec::new();
    let sinks = Sinks { events: Some(&mut events), history: None, probe: None };
    let report = sim::run(options, sinks)?;
    eprintln!("re-ran {}: {}", options.replay_command(), if report.passed() { "passed" } else { "FAILED" });
    Ok(quorum::replay::read::read(&events[..], &format!("seed {}", options.seed))?)
}

/// The commands `quorum` knows.
const COMMANDS: [&str; 7] = ["sim", "run", "serve", "bench", "replay", "lesson", "check"];

/// What is wrong, in the user's words, when console flags are followed by a word: clap's "the
/// subcommand 'extra' cannot be used with '--nodes'" says neither that `extra` is no command
/// nor where the flags should go. Every console flag takes a value but the switches.
fn misplaced_command(mut args: impl Iterator<Item = String>) -> Option<String> {
    /// The console flags that take no value.
    const SWITCHES: [&str; 1] = ["lecture"];
    let mut flags = Vec::new();
    while let Some(a) = args.next() {
        if let Some(flag) = a.strip_prefix("--") {
            let value = if flag.contains('=') || SWITCHES.contains(&flag) { None } else { args.next() };
            flags.push(value.map_or_else(|| a.clone(), |v| format!("{a} {v}")));
            continue;
        }
        let given = flags.join(" ");
        return Some(if COMMANDS.contains(&a.as_str()) {
            format!(
                "`{given}` goes after the command: `quorum {a} {given}` (before any command, flags are the console's)"
            )
        } else {
            format!(
                "{a:?} is not a command: the commands are {}; with no command, quorum opens the console, which takes only flags",
                COMMANDS.join(", ")
            )
        });
    }
    None
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if e.kind() == clap::error::ErrorKind::ArgumentConflict
                && let Some(message) = misplaced_command(std::env::args().skip(1))
            {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        None => run_console(cli.console),
        Some(Command::Sim(args)) => run_sim(args),
        Some(Command::Bench(args)) => run_bench(args),
        Some(Command::Run(args)) => run_live(args),
        Some(Command::Serve(args)) => run_serve(args),
        Some(Command::Replay(args)) => run_replay(args),
        Some(Command::Lesson(args)) => run_lesson(args),
        Some(Command::Check { file }) => {
            let mut out = std::io::stdout().lock();
            let code = quorum::check::check_file_command(&file, &mut out);
            Ok(code as u8)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
