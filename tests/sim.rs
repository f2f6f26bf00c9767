//! Seeded simulation of the real core under faults: every safety property checked after every
//! step, every history checked for linearizability. A failing seed prints the one command that
//! replays it. `QUORUM_SEED=S cargo test --test sim replay` replays one seed under the test's
//! defaults.

use quorum::events::{Event, EventKind};
use quorum::nemesis::FaultSet;
use quorum::raft::{Hazard, NodeEventKind, SnapshotPolicy};
use quorum::sim::{self, SimOptions, SimReport, Sinks};

fn options(seed: u64, nodes: usize, nemesis: &str) -> SimOptions {
    SimOptions {
        seed,
        nodes,
        clients: 5,
        ops: 200,
        keys: 5,
        nemesis: nemesis.parse().expect("valid nemesis list"),
        hazard: None,
        snapshots: Default::default(),
    }
}

fn run(options: &SimOptions) -> SimReport {
    sim::run(options, Sinks::default()).expect("in-memory sinks cannot fail")
}

/// Runs the seeds and fails with the summary and replay command of every failing one.
fn run_seeds(seeds: std::ops::Range<u64>, nodes: usize, nemesis: &str) {
    run_seeds_with(seeds, |seed| options(seed, nodes, nemesis));
}

/// The same, with the options of each seed built by `options`.
fn run_seeds_with(seeds: std::ops::Range<u64>, options: impl Fn(u64) -> SimOptions) {
    let mut failures = Vec::new();
    for seed in seeds {
        let report = run(&options(seed));
        assert!(report.ok + report.fail + report.info == 200, "seed {seed}: not every operation completed");
        if !report.passed() {
            failures.push(report.summary());
        }
    }
    assert!(failures.is_empty(), "{} failing seeds:\n{}", failures.len(), failures.join("\n"));
}

// 330 seeds in all, 200 operations each, across N in {3, 5, 7} and nemesis mixes.

#[test]
fn three_nodes_all_faults() {
    run_seeds(1000..1080, 3, "all");
}

#[test]
fn five_nodes_all_faults() {
    run_seeds(2000..2080, 5, "all");
}

#[test]
fn seven_nodes_all_faults() {
    run_seeds(3000..3050, 7, "all");
}

#[test]
fn five_nodes_partitions_only() {
    run_seeds(4000..4030, 5, "partition");
}

#[test]
fn three_nodes_crashes_and_pauses() {
    run_seeds(5000..5030, 3, "crash,pause");
}

#[test]
fn seven_nodes_message_faults() {
    run_seeds(6000..6030, 7, "loss,duplicate,reorder");
}

/// Paper §7 under every fault: a snapshot every 20 entries, sent in 64-byte chunks, so nodes
/// compact, followers that fall behind (crashed, cut off, paused) catch up by InstallSnapshot,
/// and restarted nodes recover from their snapshots. A CI subset of `quorum sim --seeds 1..1000
/// --nemesis all --snapshot-every 20` at N = 3, 5 and 7.
fn with_snapshots(seed: u64, nodes: usize) -> SimOptions {
    SimOptions { snapshots: SnapshotPolicy { every: 20, chunk: 64 }, ..options(seed, nodes, "all") }
}

#[test]
fn three_nodes_all_faults_with_snapshots() {
    run_seeds_with(8000..8060, |seed| with_snapshots(seed, 3));
}

#[test]
fn five_nodes_all_faults_with_snapshots() {
    run_seeds_with(8100..8160, |seed| with_snapshots(seed, 5));
}

#[test]
fn seven_nodes_all_faults_with_snapshots() {
    run_seeds_with(8200..8240, |seed| with_snapshots(seed, 7));
}

/// The sweeps above would pass vacuously if no snapshot were ever taken, sent or installed:
/// count what their first seeds did.
#[test]
fn snapshots_are_taken_sent_in_chunks_installed_and_recovered_under_faults() {
    let (mut taken, mut installed, mut kept, mut chunks, mut recovered) = (0, 0, 0, 0, 0);
    for seed in 8000..8020 {
        let mut bytes = Vec::new();
        let options = with_snapshots(seed, [3, 5, 7][seed as usize % 3]);
        sim::run(&options, Sinks { events: Some(&mut bytes), history: None, probe: None })
            .expect("in memory");
        for line in std::str::from_utf8(&bytes).expect("UTF-8").lines() {
            let event: Event = serde_json::from_str(line).expect("an event");
            match event.kind {
                EventKind::Node(NodeEventKind::SnapshotTaken { .. }) => taken += 1,
                EventKind::Node(NodeEventKind::SnapshotInstalled { kept_log, .. }) => {
                    installed += 1;
                    kept += usize::from(kept_log);
                }
                EventKind::Send { message, .. } if message.body.kind() == "InstallSnapshot" => chunks += 1,
                EventKind::Restart { recovered: Some(r) } if r.snapshot.is_some() => recovered += 1,
                _ => {}
            }
        }
    }
    assert!(taken >= 100, "{taken} snapshots taken");
    assert!(installed >= 10, "{installed} snapshots installed");
    assert!(
        chunks > 2 * installed,
        "{chunks} chunks for {installed} installs: snapshots span several chunks"
    );
    assert!(recovered >= 5, "{recovered} restarts from a snapshot");
    eprintln!(
        "{taken} taken, {installed} installed ({kept} kept the log), {chunks} chunks, {recovered} recoveries"
    );
}

#[test]
fn five_nodes_no_faults_all_succeed() {
    for seed in 7000..7030 {
        let report = run(&options(seed, 5, "none"));
        assert!(report.passed(), "{}", report.summary());
        if sim::run::short_sessions(seed) {
            // An expired session may leave an operation's outcome unknown, never failed.
            assert_eq!(report.fail, 0, "{}", report.summary());
        } else {
            assert_eq!(report.ok, 200, "without faults every operation succeeds:\n{}", report.summary());
        }
    }
}

/// The fault descriptions of one run, in order.
fn faults_of(options: &SimOptions) -> (SimReport, Vec<String>) {
    let mut events = Vec::new();
    let report = sim::run(options, Sinks { events: Some(&mut events), ..Sinks::default() }).expect("sinks");
    let faults = String::from_utf8(events)
        .expect("utf-8")
        .lines()
        .filter(|l| l.contains(r#""kind":"fault""#))
        .filter_map(|l| serde_json::from_str::<quorum::events::Event>(l).ok())
        .filter_map(|e| match e.kind {
            quorum::events::EventKind::Fault { description, .. } => Some(description),
            _ => None,
        })
        .collect();
    (report, faults)
}

/// The nemesis sometimes takes a majority or every node down at once: the whole cluster then
/// restarts from its storage. Safety holds throughout, and after the last repair the cluster
/// serves every operation again (the liveness check of `sim::run`).
#[test]
fn outages_take_the_whole_cluster_down_and_it_recovers() {
    let (mut every, mut majority) = (0, 0);
    for seed in 8000..8060 {
        let (report, faults) = faults_of(&options(seed, 3, "crash"));
        assert!(report.passed(), "{}", report.summary());
        every += faults.iter().filter(|f| f.starts_with("outage") && f.contains("every node")).count();
        majority += faults.iter().filter(|f| f.starts_with("outage") && f.contains("a majority")).count();
    }
    assert!(every > 0 && majority > 0, "outages of every node: {every}, of a majority: {majority}");
}

/// One seed in four runs with sessions that expire after 300 ms of leader time without a put:
/// clients then meet "unknown session" under faults, register again and carry on, and every run
/// still passes (safety, liveness after healing, linearizability).
#[test]
fn short_sessions_expire_under_faults_and_clients_register_again() {
    let mut expired = 0;
    for seed in (8200..8300).filter(|&s| sim::run::short_sessions(s)) {
        let mut events = Vec::new();
        let report =
            sim::run(&options(seed, 3, "all"), Sinks { events: Some(&mut events), ..Sinks::default() })
                .expect("sinks");
        assert!(report.passed(), "{}", report.summary());
        expired += String::from_utf8(events).expect("utf-8").matches("unknown_session").count();
    }
    assert!(expired > 0, "no session expired in 25 runs with short sessions");
}

/// With one or two nodes the nemesis still crashes and pauses them, and the summary counts only
/// the faults that happened (repairs and no-ops are not faults).
#[test]
fn small_clusters_are_broken_too_and_faults_count_what_happened() {
    for nodes in [1, 2] {
        let mut injected = 0;
        for seed in 8100..8120 {
            let (report, faults) = faults_of(&options(seed, nodes, "crash,pause,partition"));
            assert!(report.passed(), "{}", report.summary());
            // Partitions of one node block nothing, so they are not faults; of two, they are.
            let kinds = ["crash ", "pause ", "outage", "partition:", "one-way cut"];
            let happened = faults.iter().filter(|f| kinds.iter().any(|p| f.starts_with(p))).count();
            assert_eq!(report.faults, happened, "seed {seed}, {nodes} nodes: {faults:?}");
            injected += happened;
        }
        assert!(injected > 0, "the nemesis did nothing to {nodes} nodes");
    }
}

/// The Figure 8 schedule (paper §5.4.2) runs through its four stages on 3, 5 and 7 nodes: the
/// leader cut off with a minority (a), the rival elected on the other side cut off at once (b), a
/// leader of the old side elected again and cut off right after its first commit (c), the
/// rival's side electing (d). The correct core's first commit is of its own term, and every run
/// passes.
#[test]
fn the_figure8_schedule_runs_its_stages_and_the_core_holds() {
    for nodes in [3, 5, 7] {
        let mut stages = [0; 4];
        for seed in 8400..8410 {
            let (report, faults) = faults_of(&options(seed, nodes, "figure8"));
            assert!(report.passed(), "{}", report.summary());
            for (stage, name) in ["(a)", "(b)", "(c)", "(d)"].iter().enumerate() {
                stages[stage] += faults.iter().filter(|f| f.starts_with(&format!("figure8 {name}"))).count();
            }
            for f in faults.iter().filter(|f| f.starts_with("figure8 (c)")) {
                // "figure8 (c): n5@3 committed 4@3, ...": the leader's term, then the entry's.
                let term =
                    |s: &str| s.split('@').nth(1).and_then(|t| t.split([' ', ',']).next()).map(String::from);
                let (leader, entry) = f.split_once(" committed ").expect("a commit");
                assert_eq!(term(leader), term(entry), "seed {seed}: {f}");
            }
        }
        assert!(stages.iter().all(|&n| n > 0), "{nodes} nodes: stages (a) to (d) seen {stages:?} times");
    }
}

/// The nemesis's leadership transfers (thesis §3.10) happen and most finish: the target wins
/// the next term. Some are abandoned (the target lost, or a crash or partition came first),
/// and every run passes: writes refused meanwhile are definite failures the clients retry.
#[test]
fn the_nemesis_transfers_leadership_and_most_transfers_finish() {
    for nodes in [3, 5, 7] {
        let (mut asked, mut finished, mut abandoned) = (0, 0, 0);
        for seed in 8500..8510 {
            for nemesis in ["transfer", "all"] {
                let mut events = Vec::new();
                let sinks = Sinks { events: Some(&mut events), ..Sinks::default() };
                let report = sim::run(&options(seed, nodes, nemesis), sinks).expect("sinks");
                assert!(report.passed(), "{}", report.summary());
                let text = String::from_utf8(events).expect("utf-8");
                asked += text.matches(r#""change":{"transfer":"#).count();
                finished += text.matches(r#""kind":"transfer_finished""#).count();
                abandoned += text.matches(r#""kind":"transfer_abandoned""#).count();
            }
        }
        assert!(asked >= 20, "{nodes} nodes: {asked} transfers asked");
        let ends = format!("{finished} finished, {abandoned} abandoned of {asked} asked");
        assert!(finished * 2 > asked && finished <= asked, "{nodes} nodes: {ends}");
    }
}

/// The same seed twice gives byte-identical event logs and histories.
#[test]
fn same_seed_same_run() {
    let go = || {
        let (mut events, mut history) = (Vec::new(), Vec::new());
        let sinks = Sinks { events: Some(&mut events), history: Some(&mut history), probe: None };
        let report = sim::run(&options(42, 5, "all"), sinks).expect("in-memory sinks cannot fail");
        (
            events,
            history,
            report.summary().lines().filter(|l| !l.contains("wall")).collect::<Vec<_>>().join("\n"),
        )
    };
    let (e1, h1, s1) = go();
    let (e2, h2, s2) = go();
    assert!(!e1.is_empty() && !h1.is_empty());
    assert!(e1 == e2, "event logs differ between two runs of one seed");
    assert!(h1 == h2, "histories differ between two runs of one seed");
    assert_eq!(s1, s2);
    // A different seed gives a different run.
    let (mut e3, mut h3) = (Vec::new(), Vec::new());
    sim::run(&options(43, 5, "all"), Sinks { events: Some(&mut e3), history: Some(&mut h3), probe: None })
        .expect("sinks");
    assert!(e1 != e3);
}

/// The exported event log parses line by line and round-trips into the event type.
#[test]
fn event_log_round_trips() {
    let mut events = Vec::new();
    sim::run(&options(7, 3, "all"), Sinks { events: Some(&mut events), ..Sinks::default() }).expect("sinks");
    let text = String::from_utf8(events).expect("utf-8");
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let event: quorum::events::Event =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}: {line}", i + 1));
        assert_eq!(event.seq, i as u64, "sequence numbers run without gaps");
        assert_eq!(serde_json::to_string(&event).expect("serialize"), line);
        n += 1;
    }
    assert!(n > 100);
}

/// Proof it bites: with reads answered from local state (pitfall 1), the simulator's history
/// check reports a violation within a few seeds.
#[test]
fn unsafe_local_reads_are_caught() {
    let caught = (1..=20).find(|&seed| {
        let mut o = options(seed, 5, "partition");
        o.hazard = Some(Hazard::LocalReads);
        !run(&o).passed()
    });
    assert!(caught.is_some(), "stale local reads were not detected in 20 seeds");
}

/// Proof it bites: with commitment by counting replicas of an earlier term's entry (pitfall 2,
/// the Figure 8 bug), the nemesis's `figure8` schedule under every fault ends with a committed
/// entry missing from a new leader or applied differently, or a history that cannot be ordered,
/// within a few dozen seeds (the first is seed 26; 56 of seeds 1 to 1,000).
#[test]
fn unsafe_commit_of_old_terms_is_caught() {
    let caught = (1..=1000).find(|&seed| {
        let mut o = options(seed, 5, "all");
        o.hazard = Some(Hazard::CommitOldTerm);
        let report = run(&o);
        let safety = ["state machine safety", "leader completeness"];
        report.failure.as_ref().is_some_and(|f| safety.contains(&f.violation.property))
            || matches!(report.verdict, Some(quorum::check::Verdict::NotLinearizable { .. }))
    });
    assert!(caught.is_some(), "committing old terms' entries was not detected in 1,000 seeds");
}

/// The nemesis names parse, and bad ones give a clear error.
#[test]
fn nemesis_lists_parse() {
    assert_eq!("all".parse::<FaultSet>().map(|s| s.0.len()), Ok(8));
    assert_eq!("figure8".parse::<FaultSet>().map(|s| s.to_string()), Ok("figure8".into()));
    assert_eq!("transfer,crash".parse::<FaultSet>().map(|s| s.to_string()), Ok("crash,transfer".into()));
    assert_eq!("none".parse::<FaultSet>().map(|s| s.0.len()), Ok(0));
    assert_eq!("crash,loss".parse::<FaultSet>().map(|s| s.to_string()), Ok("crash,loss".into()));
    let err = "crash,typo".parse::<FaultSet>().unwrap_err();
    assert!(err.contains("typo"), "{err}");
}

/// Replays one seed: `QUORUM_SEED=S [QUORUM_NODES=N] [QUORUM_NEMESIS=LIST] cargo test --test sim replay`.
#[test]
fn replay() {
    let Ok(seed) = std::env::var("QUORUM_SEED") else { return };
    let seed: u64 = seed.parse().expect("QUORUM_SEED must be a number");
    let nodes = std::env::var("QUORUM_NODES").ok().and_then(|n| n.parse().ok()).unwrap_or(5);
    let nemesis = std::env::var("QUORUM_NEMESIS").unwrap_or_else(|_| "all".into());
    let report = run(&options(seed, nodes, &nemesis));
    println!("{}", report.summary());
    assert!(report.passed());
}

/// The per-step checks are the event-fed checks of `quorum::safety` (whose unit tests break each
/// property with a fabricated stream), plus acknowledged writes: a put is acknowledged only once
/// some node applied it.
#[test]
fn the_step_checks_are_the_event_checks_and_acknowledged_writes() {
    use quorum::events::{Event, EventKind, NodeEventKind};
    use quorum::kv::{ClientId, Command, RequestId};
    use quorum::raft::{EntryId, LogIndex, NodeId, Role, Term};
    use quorum::sim::invariants::Invariants;
    let event = |node: u64, term: u64, kind: NodeEventKind| {
        Event::new(Some(NodeId(node)), Some(Term(term)), EventKind::Node(kind))
    };
    let leader =
        |node| event(node, 1, NodeEventKind::Role { role: Role::Leader, leader: None, reason: None });
    let err = Invariants::new().check_step(&[leader(1), leader(2)]).expect_err("two leaders in term 1");
    assert_eq!(err.property, quorum::safety::ELECTION);
    let id = RequestId { client: ClientId(1), seq: 1 };
    let put = Command::Put { id, ack: 1, key: "k".into(), value: "v".into(), time: 0 };
    let apply = event(
        1,
        1,
        NodeEventKind::Apply { entry: EntryId { index: LogIndex(1), term: Term(1) }, command: Some(put) },
    );
    let mut invariants = Invariants::new();
    let err = invariants.check_acknowledged_put(id).expect_err("nothing applied yet");
    assert_eq!(err.property, "acknowledged writes are committed");
    invariants.check_step(&[leader(1), apply]).expect("one leader, one apply");
    invariants.check_acknowledged_put(id).expect("applied, so committed");
}

/// A real run's event log, read back from its JSON Lines into a fresh checker, breaks nothing:
/// the exported events alone carry what the checks need.
#[test]
fn a_real_runs_exported_events_pass_every_check() {
    for (seed, nodes) in [(11, 3), (12, 5), (13, 7)] {
        let mut events = Vec::new();
        let report =
            sim::run(&options(seed, nodes, "all"), Sinks { events: Some(&mut events), ..Sinks::default() })
                .expect("sinks");
        assert!(report.passed(), "{}", report.summary());
        let mut checker = quorum::safety::Checker::new();
        let text = String::from_utf8(events).expect("utf-8");
        for line in text.lines() {
            let event: quorum::events::Event = serde_json::from_str(line).expect("an event");
            let found = checker.observe(&event);
            assert!(found.is_empty(), "seed {seed}: {found:?}");
        }
        assert_eq!(checker.report().events, text.lines().count() as u64);
        assert!(checker.report().broken.is_empty());
        assert_eq!(checker.elections(), report.elections);
    }
}

/// The liveness cap follows the work asked for: one client doing 10,000 operations one after
/// another under every fault needs more than the 1,200 s of virtual time that once capped every
/// run, and that is no liveness failure.
#[test]
fn a_long_run_gets_the_virtual_time_it_needs() {
    let mut o = options(2, 3, "all");
    o.clients = 1;
    o.ops = 10_000;
    let report = run(&o);
    assert!(report.passed(), "{}", report.summary());
    assert!(
        report.virtual_time > 1_200_000_000_000,
        "the run must need more than the old cap: {}",
        report.summary()
    );
}
