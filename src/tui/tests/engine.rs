//! The engine against a fake cluster: commands reach the right operations, client operations
//! are recorded in the history and checked, exports copy complete lines, sessions carry on.

use crate::check::history::Initial;
use crate::check::history::{EventType, HistoryEvent, OpKind, parse_history};
use crate::control::{
    Attempt, Client, ClientOptions, Control, ControlError, NodeStatus, RunState, Transport,
};
use crate::events::{Event, EventKind};
use crate::kv::{ClientId, Op, Reply, Request};
use crate::network::{Held, HeldAction, LinkRule, Network};
use crate::raft::{NodeId, Switches};
use crate::tui::action::Command;
use crate::tui::engine::{Engine, Update, Worker};
use crate::tui::screen::VerdictView;
use crate::tui::session::{Origin, Session};
use crossbeam_channel::{Receiver, unbounded};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A cluster that only writes down what it is asked, with a key-value map for clients.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
    net: Mutex<Network>,
    speed: Mutex<f64>,
    kv: Arc<Mutex<BTreeMap<String, String>>>,
    fail_restart: bool,
}

impl Fake {
    fn call(&self, s: String) {
        self.calls.lock().expect("lock").push(s);
    }
    fn calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().expect("lock"))
    }
}

/// Nodes that answer at once from one map; n5 is down. The session registers as c3.
struct FakeNodes {
    kv: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Transport for FakeNodes {
    fn members(&self) -> Vec<NodeId> {
        (1..=5).map(NodeId).collect()
    }
    fn is_up(&self, node: NodeId) -> bool {
        node != NodeId(5)
    }
    fn nonce(&self) -> u64 {
        1
    }
    fn attempt(&self, node: NodeId, request: &Request, _timeout: Duration) -> Attempt {
        if !self.is_up(node) {
            return Attempt::Down;
        }
        let mut kv = self.kv.lock().expect("lock");
        let reply = match &request.op {
            Op::Register => Reply::Registered { client: ClientId(3) },
            Op::Put { key, value } => {
                kv.insert(key.clone(), value.clone());
                Reply::Put
            }
            Op::Get { key } => Reply::Get { value: kv.get(key).cloned() },
        };
        Attempt::Answered(Ok(reply), Some(node))
    }
    fn wait(&self, _pause: Duration) {}
}

impl Control for Fake {
    fn members(&self) -> Vec<NodeId> {
        (1..=5).map(NodeId).collect()
    }
    fn now_nanos(&self) -> u64 {
        static CLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        CLOCK.fetch_add(1000, std::sync::atomic::Ordering::SeqCst)
    }
    fn status(&self) -> Vec<NodeStatus> {
        self.members().into_iter().map(|id| NodeStatus::unknown(id, RunState::Running)).collect()
    }
    fn network(&self) -> Network {
        self.net.lock().expect("lock").clone()
    }
    fn change_network(&self, change: &mut dyn FnMut(&mut Network)) {
        change(&mut self.net.lock().expect("lock"));
        self.call("network changed".into());
    }
    fn speed(&self) -> f64 {
        *self.speed.lock().expect("lock")
    }
    fn set_speed(&self, speed: f64) {
        *self.speed.lock().expect("lock") = speed;
        self.call(format!("speed {speed}"));
    }
    fn kill(&self, id: NodeId) {
        self.call(format!("kill {id}"));
    }
    fn restart(&self, id: NodeId) -> Result<(), ControlError> {
        self.call(format!("restart {id}"));
        if self.fail_restart { Err(std::io::Error::other("disk on fire").into()) } else { Ok(()) }
    }
    fn pause(&self, id: NodeId) {
        self.call(format!("pause {id}"));
    }
    fn resume(&self, id: NodeId) {
        self.call(format!("resume {id}"));
    }
    fn campaign(&self, id: NodeId) {
        self.call(format!("campaign {id}"));
    }
    /// n1 leads; a transfer to it is refused.
    fn transfer_leadership(&self, target: NodeId) -> Result<NodeId, ControlError> {
        self.call(format!("transfer to {target}"));
        if target == NodeId(1) { Err(ControlError::AlreadyLeads(target)) } else { Ok(NodeId(1)) }
    }
    fn freeze(&self) {
        self.call("freeze".into());
    }
    fn thaw(&self) {
        self.call("thaw".into());
    }
    fn advance_ticks(&self, ticks: u32) {
        self.call(format!("advance {ticks} ticks"));
    }
    fn switches(&self) -> Option<Switches> {
        None
    }
    fn set_switches(&self, s: Switches) -> Result<(), ControlError> {
        self.call(format!("switches {s:?}"));
        Ok(())
    }
    fn held(&self) -> Vec<Held> {
        Vec::new()
    }
    fn act_on_held(&self, id: Option<u64>, action: HeldAction) -> bool {
        self.call(format!("{action:?} {id:?}"));
        true
    }
    fn release_held(&self) {
        self.call("release held".into());
    }
    fn record(&self, node: Option<NodeId>, kind: EventKind) {
        let (what, description) = match kind {
            EventKind::Client { description, .. } => ("client", description),
            EventKind::Fault { description, .. } => ("record", description),
            other => ("other", other.name().to_string()),
        };
        match node {
            Some(n) => self.call(format!("{what} {n}: {description}")),
            None => self.call(format!("{what}: {description}")),
        }
    }
    fn client(&self, options: ClientOptions) -> Client {
        Client::new(Arc::new(FakeNodes { kv: Arc::clone(&self.kv) }), options, 0)
    }
    fn subscribe(&self) -> Option<Receiver<Event>> {
        None
    }
    fn recent_events(&self, _max: usize) -> Vec<Event> {
        Vec::new()
    }
    fn flush_events(&self) -> bool {
        true
    }
    fn finish(&self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::ops::Deref for TempDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("quorum-tui-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    TempDir(dir)
}

fn worker(fake: Arc<Fake>, dir: &Path) -> (Worker, Receiver<Update>, Receiver<()>) {
    let (session, warnings) = Session::open(dir, &Origin::default()).expect("session");
    assert!(warnings.is_empty());
    let (updates, updates_rx) = unbounded();
    let (check, check_rx) = unbounded();
    let client = Arc::new(Mutex::new(Arc::new(
        fake.client(ClientOptions { attempts: 1, ..ClientOptions::default() }),
    )));
    let (client_ops, ops) = unbounded();
    let worker = Worker {
        backend: fake,
        client,
        client_ops,
        session: Arc::new(session),
        updates,
        check,
        applied: Arc::default(),
        branch_histories: Arc::default(),
        lesson: None,
    };
    let w = worker.clone();
    std::thread::spawn(move || {
        ops.iter().for_each(|(op, via, request, client)| w.client(op, via, request, &client))
    });
    (worker, updates_rx, check_rx)
}

/// A simulator of 3 nodes running correct Raft, its time moved by the test only.
fn manual_sim(events_file: Option<std::path::PathBuf>, ring: usize) -> Arc<crate::sim::SimEngine> {
    use crate::sim::{Clock, EngineOptions, SimEngine, WorldSpec};
    let options = EngineOptions { clock: Clock::Manual, events_file, ring };
    Arc::new(SimEngine::start_from(WorldSpec::correct(1, 3).factory(), options).expect("engine"))
}

fn n(i: u64) -> NodeId {
    NodeId(i)
}

#[test]
fn commands_reach_the_cluster() {
    let fake = Arc::new(Fake { net: Mutex::new(Network::new(LinkRule::default())), ..Fake::default() });
    let dir = temp_dir("commands");
    let (w, updates, _) = worker(Arc::clone(&fake), &dir);
    w.apply(Command::Kill(n(2)));
    w.apply(Command::Restart(n(2)));
    w.apply(Command::Campaign(n(3)));
    w.apply(Command::Freeze);
    w.apply(Command::Thaw);
    w.apply(Command::SetSpeed(0.05));
    assert_eq!(
        fake.calls(),
        [
            "record: kill n2",
            "kill n2",
            "record: restart n2",
            "restart n2",
            "campaign n3",
            "record: force n3 to time out",
            "record: freeze: time stops (no timer runs, client timeouts stop counting)",
            "freeze",
            "record: unfreeze: time runs again",
            "thaw",
            "speed 0.05",
            "record: speed 0.05x",
        ]
    );
    w.apply(Command::Partition(vec![vec![n(1), n(2), n(3)], vec![n(4), n(5)]]));
    assert_eq!(fake.calls(), ["network changed", "record: partition {n1 n2 n3} ╳ {n4 n5}"]);
    assert!(fake.network().reachable(n(1), n(4)).is_err());
    w.apply(Command::Cut(n(1), n(2)));
    assert!(fake.network().reachable(n(1), n(2)).is_err() && fake.network().reachable(n(2), n(1)).is_ok());
    w.apply(Command::Restore(n(1), n(2)));
    assert!(fake.network().reachable(n(1), n(2)).is_ok());
    w.apply(Command::SetLoss(0.05));
    w.apply(Command::SetDelay(2, 10));
    let rule = fake.network().default_rule();
    assert_eq!((rule.loss, rule.delay), (0.05, (2_000_000, 10_000_000)));
    w.apply(Command::Heal);
    assert!(fake.network().is_healthy() && fake.network().default_rule().delay == (0, 0));
    assert!(updates.try_recv().is_err(), "no news for commands that worked");
    let failing = Arc::new(Fake { fail_restart: true, ..Fake::default() });
    let (w, updates, _) = worker(failing, &dir);
    w.apply(Command::Restart(n(1)));
    match updates.try_recv() {
        Ok(Update::Notice(n)) => assert!(n.error && n.text.contains("disk on fire"), "{n:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_operations_are_recorded_narrated_and_reported() {
    let fake = Arc::new(Fake::default());
    let dir = temp_dir("clients");
    let (w, updates, check) = worker(Arc::clone(&fake), &dir);
    let put = Op::Put { key: "x".into(), value: "1".into() };
    w.apply(Command::Client { op: 7, via: n(2), request: put });
    let outcome = match updates.recv_timeout(Duration::from_secs(10)) {
        Ok(Update::Client { op: 7, outcome }) => outcome,
        other => panic!("{other:?}"),
    };
    assert_eq!(outcome.result, Ok(None));
    check.recv_timeout(Duration::from_secs(10)).expect("the checker is nudged");
    w.apply(Command::Client { op: 8, via: n(5), request: Op::Get { key: "x".into() } });
    let outcome = match updates.recv_timeout(Duration::from_secs(10)) {
        Ok(Update::Client { op: 8, outcome }) => outcome,
        other => panic!("{other:?}"),
    };
    assert_eq!((outcome.result, outcome.definite), (Err("n5 is down".into()), true));
    let calls = fake.calls();
    assert!(calls.iter().any(|c| c.starts_with("client n2: c3#1 put x=1 via n2 → ok")), "{calls:?}");
    assert!(calls.iter().any(|c| c.starts_with("client n5: c3#2 get x")), "one session numbers them all");
    assert!(calls.iter().any(|c| c.contains("get x via n5 → error: n5 is down")), "{calls:?}");
    // The history file holds invoke and completion of both, with the node contacted.
    let file = std::fs::read(w.session.history_path()).expect("history");
    let history = parse_history(&file[..]).expect("a valid history");
    let kinds: Vec<(EventType, OpKind, Option<u64>)> =
        history.iter().map(|e| (e.kind, e.f, e.node)).collect();
    assert_eq!(
        kinds,
        [
            (EventType::Invoke, OpKind::Put, None),
            (EventType::Ok, OpKind::Put, Some(2)),
            (EventType::Invoke, OpKind::Get, None),
            (EventType::Fail, OpKind::Get, Some(5)),
        ]
    );
}

#[test]
fn the_engine_polls_runs_clients_and_checks_the_history() {
    let fake: Arc<dyn Control> = Arc::new(Fake::default());
    let dir = temp_dir("engine");
    let (session, _) = Session::open(&dir, &Origin::default()).expect("session");
    let engine = Engine::start(fake, Arc::new(session), None).expect("engine");
    engine.send(Command::Client {
        op: 1,
        via: n(1),
        request: Op::Put { key: "k".into(), value: "v".into() },
    });
    engine.send(Command::Client { op: 2, via: n(1), request: Op::Get { key: "nothing".into() } });
    let (mut polls, mut clients, mut verdict) = (0, 0, None);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline && (polls < 2 || clients < 2 || verdict.is_none()) {
        match engine.updates().recv_timeout(Duration::from_secs(1)) {
            Ok(Update::Poll(p)) => {
                polls += 1;
                assert_eq!(p.nodes.len(), 5);
            }
            Ok(Update::Client { .. }) => clients += 1,
            Ok(Update::Verdict(v @ VerdictView::Linearizable { ops: 2, .. })) => verdict = Some(v),
            _ => {}
        }
    }
    assert!(polls >= 2 && clients == 2, "polls {polls}, clients {clients}");
    assert_eq!(verdict, Some(VerdictView::Linearizable { ops: 2, failed: 0 }));
    engine.stop();
}

#[test]
fn export_copies_complete_lines_only() {
    let fake = Arc::new(Fake::default());
    let dir = temp_dir("export");
    let (w, updates, _) = worker(fake, &dir);
    let event = r#"{"seq":0,"time":1,"kind":"timeout"}"#;
    std::fs::write(w.session.events_path(), format!("{event}\n{event}\n{{\"seq\":2,\"ti")).expect("write");
    w.session.record(HistoryEvent::invoke(1, OpKind::Put, "a", Some("1"), 5));
    w.apply(Command::Export);
    let text = match updates.recv_timeout(Duration::from_secs(10)) {
        Ok(Update::Notice(n)) if !n.error => n.text,
        other => panic!("{other:?}"),
    };
    let events = dir.join("export-1-events.jsonl");
    let history = dir.join("export-1-history.jsonl");
    let both = dir.join("export-1-{events,history}.jsonl");
    assert!(text.contains("2 events") && text.contains(&both.display().to_string()), "{text}");
    let copied = std::fs::read_to_string(&events).expect("events copy");
    assert_eq!(copied.lines().count(), 2);
    for line in copied.lines() {
        serde_json::from_str::<Event>(line).expect("an event");
    }
    let h = std::fs::read(&history).expect("history copy");
    assert_eq!(parse_history(&h[..]).expect("history").len(), 1);
    w.apply(Command::Export);
    assert!(dir.join("export-2-events.jsonl").exists(), "a second export does not overwrite the first");
}

#[test]
fn a_session_on_disk_carries_its_history_on() {
    let dir = temp_dir("carry");
    let ours = Origin { cluster: Some("00000000000000aa".into()), held_data: false, opens: Some(1) };
    let again = Origin { held_data: true, opens: Some(2), ..ours.clone() };
    {
        let (s, _) = Session::open(&dir, &ours).expect("first");
        assert_eq!(s.initial(), Initial::Empty);
        s.record(HistoryEvent::invoke(s.process(1), OpKind::Put, "a", Some("1"), s.time(100)));
        let mut ok =
            HistoryEvent::complete(EventType::Ok, s.process(1), OpKind::Put, "a", Some("1"), s.time(200));
        ok.node = Some(1);
        s.record(ok);
        s.record(HistoryEvent::invoke(s.process(2), OpKind::Get, "a", None, s.time(300)));
    }
    // A torn last line, as a crash mid-write would leave.
    let path = dir.join(crate::tui::session::HISTORY_FILE);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes.extend_from_slice(b"{\"type\":\"ok\",\"pro");
    std::fs::write(&path, bytes).expect("write");
    let (s, warnings) = Session::open(&dir, &again).expect("second");
    assert!(warnings.iter().any(|w| w.contains("incomplete")), "{warnings:?}");
    assert_eq!(s.history().len(), 3);
    assert_eq!((s.process(1), s.time(0)), (3, 301), "processes and times continue after the old ones");
    assert_eq!(s.initial(), Initial::Empty, "the carried history saw every value written");
    drop(s);
    // The same cluster, but another process (a `quorum run`) opened the directory in between:
    // the old history did not see its writes, so it is moved aside and the new one starts from
    // unknown values.
    let skipped = Origin { opens: Some(4), ..again.clone() };
    let (s, warnings) = Session::open(&dir, &skipped).expect("after a run");
    assert!(warnings.iter().any(|w| w.contains("another process opened")), "{warnings:?}");
    assert!(s.history().is_empty());
    assert_eq!(s.initial(), Initial::Unknown);
    s.record(HistoryEvent::invoke(s.process(1), OpKind::Get, "a", None, s.time(10)));
    drop(s);
    // Another cluster's history (a directory emptied and reused) is moved aside, never mixed in;
    // the new history starts on data it did not see written, so its initial values are unknown.
    let other = Origin { cluster: Some("00000000000000bb".into()), held_data: true, opens: Some(9) };
    let (s, warnings) = Session::open(&dir, &other).expect("third");
    assert!(warnings.iter().any(|w| w.contains("not this cluster's")), "{warnings:?}");
    assert!(dir.join("console-history.previous-2.jsonl").exists());
    assert!(s.history().is_empty());
    assert_eq!(s.initial(), Initial::Unknown);
    let text = std::fs::read_to_string(s.history_path()).expect("read");
    assert!(
        text.starts_with(r#"{"type":"start","initial":"unknown","cluster":"00000000000000bb"}"#),
        "{text}"
    );
    drop(s);
    // Without a cluster (memory storage), every session starts empty.
    let (s, _) = Session::open(&dir, &Origin::default()).expect("fourth");
    assert!(s.history().is_empty());
    assert_eq!(s.initial(), Initial::Empty);
}

/// Waits for the lesson's view that `done` accepts, for ten seconds at most.
fn lesson_view(
    updates: &Receiver<Update>,
    done: impl Fn(&crate::tui::screen::LessonView) -> bool,
) -> crate::tui::screen::LessonView {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match updates.recv_timeout(left) {
            Ok(Update::Lesson(view)) if done(&view) => return view,
            Ok(_) => {}
            Err(e) => panic!("no such lesson view: {e}"),
        }
    }
}

/// A transfer is carried out and recorded as a fault with its change; one the engine refuses
/// is recorded nowhere, and the status line says why.
#[test]
fn a_transfer_is_recorded_after_the_engine_accepts_it() {
    let fake = Arc::new(Fake::default());
    let dir = temp_dir("transfer-fake");
    let (w, updates, _) = worker(Arc::clone(&fake), &dir);
    w.apply(Command::Transfer(n(3)));
    assert_eq!(fake.calls(), ["transfer to n3", "record: transfer leadership to n3"]);
    w.apply(Command::Transfer(n(1)));
    assert_eq!(fake.calls(), ["transfer to n1"]);
    let said = updates.try_iter().find_map(|u| match u {
        Update::Notice(n) => Some((n.text, n.error)),
        _ => None,
    });
    assert_eq!(said, Some(("no leadership transfer to n1: n1 is the leader already".into(), true)));
}

/// `T` on the simulator: the console, fed by its own poller, asks the leader to hand over to the
/// selected node; the event log records it, and after a second the target leads.
#[test]
fn t_on_the_simulator_makes_the_selected_node_the_leader() {
    use crate::events::Change;
    use crate::tui::app::App;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let dir = temp_dir("transfer-sim");
    std::fs::create_dir_all(&dir.0).expect("dir");
    let engine = manual_sim(None, 100_000);
    engine.advance(Duration::from_secs(1));
    let old = engine.leader().expect("a leader");
    let target = engine.members().into_iter().rev().find(|&m| m != old).expect("a follower");
    let (session, _) = Session::open(&dir.0, &Origin::default()).expect("session");
    let console = Engine::start(engine.clone(), Arc::new(session), None).expect("console engine");
    let mut app = App::new(engine.members(), "in memory");
    // Folds the console's news into the app until it shows `leader`.
    let follow = |app: &mut App, leader: NodeId| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while app.screen().leader().map(|l| l.id) != Some(leader) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            app.on_update(console.updates().recv_timeout(left).expect("the console shows the leader"));
        }
    };
    follow(&mut app, old);
    let digit = char::from_digit(target.0 as u32, 10).expect("a digit");
    app.on_key(KeyEvent::new(KeyCode::Char(digit), KeyModifiers::NONE));
    app.on_key(KeyEvent::new(KeyCode::Char('T'), KeyModifiers::SHIFT));
    let commands = app.take_commands();
    assert_eq!(commands, vec![Command::Transfer(target)]);
    for c in commands {
        console.send(c);
    }
    let recorded = |e: &Event| matches!(&e.kind, EventKind::Fault { change: Some(Change::Transfer(t)), .. } if *t == target);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !engine.recent_events(usize::MAX).iter().any(recorded) {
        assert!(std::time::Instant::now() < deadline, "the transfer was not recorded");
        std::thread::sleep(Duration::from_millis(10));
    }
    engine.advance(Duration::from_secs(1));
    assert_eq!(engine.leader(), Some(target));
    follow(&mut app, target);
    let names: Vec<String> =
        engine.recent_events(usize::MAX).iter().map(|e| e.kind.name().to_string()).collect();
    assert!(names.iter().any(|n| n == "transfer_started"), "{names:?}");
    assert!(names.iter().any(|n| n == "transfer_finished"), "{names:?}");
    console.stop();
    let _ = engine.finish();
}

/// Going back in a lesson while an operation of the console's own waits: that operation
/// belongs to the run undone, and enters the run that replaces it neither with a retry nor with
/// its end, so the lesson is exactly where it was (no take-over shown).
#[test]
fn going_back_a_lesson_leaves_nothing_of_the_consoles_waiting_operation() {
    use crate::sim::{Clock, EngineOptions, SimEngine, WorldSpec};
    let dir = temp_dir("lesson-back");
    std::fs::create_dir_all(&dir.0).expect("dir");
    let text =
        "title T\ncluster nodes=3 delay=10\nstep Elect\ncampaign n1\nuntil leader n1 within 100 ticks\n";
    let lesson = crate::lesson::parse("t", "t.lesson", text).expect("reads");
    let spec = WorldSpec::correct(1, 3);
    let options =
        EngineOptions { clock: Clock::Manual, events_file: Some(dir.0.join("events.jsonl")), ring: 4096 };
    let engine = Arc::new(SimEngine::start_from(spec.frozen_factory(), options).expect("engine"));
    let (session, _) = Session::open(&dir.0, &Origin::default()).expect("session");
    let console = Engine::start(engine.clone(), Arc::new(session), Some(lesson)).expect("console engine");
    lesson_view(console.updates(), |v| v.position == 0);
    console.send(Command::LessonNext);
    lesson_view(console.updates(), |v| v.position == 1 && !v.playing);
    // Take over: cut n2 off and put through it; frozen, nothing answers, its registration waits.
    console.send(Command::Partition(vec![vec![n(2)], vec![n(1), n(3)]]));
    console.send(Command::Client {
        op: 1,
        via: n(2),
        request: Op::Put { key: "x".into(), value: "1".into() },
    });
    let view = lesson_view(console.updates(), |v| v.diverged);
    assert_eq!(view.position, 1);
    console.send(Command::LessonBack);
    lesson_view(console.updates(), |v| v.position == 1 && !v.diverged);
    std::thread::sleep(Duration::from_millis(300));
    // A remark changes nothing, and makes the console look again.
    console.send(Command::SetSpeed(0.5));
    let view = lesson_view(console.updates(), |_| true);
    let recent: Vec<String> = engine.recent_events(12).iter().map(ToString::to_string).collect();
    assert!(!view.diverged, "after going back the lesson is where it was: {view:?}\n{}", recent.join("\n"));
    console.stop();
    let _ = engine.finish();
}

/// The console's observer of external clients (the Redis-protocol server's): an operation sent
/// gets a line with its connection and an invoke in the history, its return a completion, the
/// answer the client got, and a nudge to the checker; the server's notices reach the status
/// line. It records no event of its own (the server records the `client` event).
#[test]
fn the_external_host_records_invoke_and_completion_into_the_history() {
    use crate::control::{Answer, OpError, OpFailure};
    use crate::kv::RequestId;
    use crate::raft::ClientError;
    use crate::resp::{Conn, ExternalOp, Observer};
    use crate::tui::engine::{EXTERNAL_OPS, ExternalHost};
    let dir = temp_dir("external-host");
    let (session, _) = Session::open(&dir, &Origin::default()).expect("session");
    let session = Arc::new(session);
    let (updates, updates_rx) = unbounded();
    let (check, check_rx) = unbounded();
    let host = ExternalHost::new(Arc::clone(&session), updates, check);
    let conn = Conn { id: 3, peer: "127.0.0.1:53412".parse().expect("an address"), node: n(2) };
    let put = ExternalOp {
        number: 1,
        conn: conn.clone(),
        op: Op::Put { key: "color".into(), value: "red".into() },
        invoked: 1_000,
    };
    host.sent(&put);
    match updates_rx.try_recv() {
        Ok(Update::ClientSent { op, via, request, conn }) => {
            assert_eq!(
                (op, via, &request, conn.as_deref()),
                (EXTERNAL_OPS + 1, n(2), &put.op, Some("tcp 127.0.0.1:53412"))
            );
        }
        other => panic!("{other:?}"),
    }
    let id = RequestId { client: ClientId(4), seq: 1 };
    host.returned(&put, &Ok(Answer { reply: Reply::Put, node: n(2), id }), 3_101_000);
    match updates_rx.try_recv() {
        Ok(Update::Client { op, outcome }) => {
            assert_eq!(op, EXTERNAL_OPS + 1);
            assert_eq!(
                (outcome.reply.as_deref(), outcome.id, outcome.latency),
                (Some("OK"), Some(id), Duration::from_micros(3100))
            );
        }
        other => panic!("{other:?}"),
    }
    check_rx.try_recv().expect("the checker is nudged");
    // A get through a node that reaches no leader: the client's words for it.
    let get = ExternalOp { number: 2, conn, op: Op::Get { key: "color".into() }, invoked: 4_000_000 };
    host.sent(&get);
    let refused = OpError {
        failure: OpFailure::Refused(ClientError::NoLeader),
        definite: true,
        node: n(2),
        id: Some(RequestId { client: ClientId(4), seq: 2 }),
    };
    host.returned(&get, &Err(refused), 5_000_000);
    let reply = updates_rx.try_iter().find_map(|u| match u {
        Update::Client { op, outcome } if op == EXTERNAL_OPS + 2 => outcome.reply,
        _ => None,
    });
    assert_eq!(reply.as_deref(), Some("(error) TRYAGAIN no leader reachable from n2"));
    host.notice("n2 is down: 127.0.0.1:7002 refuses connections, 1 closed", false);
    assert!(
        matches!(updates_rx.try_recv(), Ok(Update::Notice(n)) if n.text.starts_with("n2 is down") && !n.error)
    );
    // The history: each operation its own process, numbered apart from the console's own.
    let history = session.history();
    let p = |k: u64| session.process(EXTERNAL_OPS + k);
    let got: Vec<_> =
        history.iter().map(|e| (e.kind, e.process, e.f, e.value.as_deref(), e.time, e.node)).collect();
    assert_eq!(
        got,
        [
            (EventType::Invoke, p(1), OpKind::Put, Some("red"), session.time(1_000), None),
            (EventType::Ok, p(1), OpKind::Put, Some("red"), session.time(3_101_000), Some(2)),
            (EventType::Invoke, p(2), OpKind::Get, None, session.time(4_000_000), None),
            (EventType::Fail, p(2), OpKind::Get, None, session.time(5_000_000), Some(2)),
        ]
    );
    let file = std::fs::read(session.history_path()).expect("history");
    assert_eq!(parse_history(&file[..]).expect("a valid history"), history, "written as it goes");
}

/// Listens for the Redis protocol from a free port on (node nK on PORT+K), retrying
/// elsewhere if a port is taken.
fn listening(backend: Arc<dyn Control>, session: Arc<Session>) -> (Engine, u16) {
    let mut last = None;
    for _ in 0..20 {
        let free =
            std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("its address");
        let base = free.port() - 1;
        let options = crate::resp::ServerOptions { base_port: base, ..Default::default() };
        match Engine::start_listening(Arc::clone(&backend), Arc::clone(&session), None, Some(options)) {
            Ok(engine) => return (engine, base),
            Err(e) => last = Some(e),
        }
    }
    panic!("no port to listen on: {last:?}");
}

/// Sends `command` (words) on `stream`, as RESP, and reads one line of answer.
fn ask(stream: &mut std::net::TcpStream, command: &[&str]) -> String {
    use std::io::{BufRead, Write};
    let mut out = format!("*{}\r\n", command.len());
    for word in command {
        out.push_str(&format!("${}\r\n{word}\r\n", word.len()));
    }
    stream.write_all(out.as_bytes()).expect("sent");
    let mut reader = std::io::BufReader::new(stream.try_clone().expect("a clone"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("an answer");
    if line.starts_with('$') && line != "$-1\r\n" {
        reader.read_line(&mut line).expect("the value");
    }
    line
}

/// The console serving the Redis protocol on a fake cluster: a SET over a real connection is
/// answered, recorded once in the event log (by the server) with its connection, written to the
/// history as the console's external operation, shown with its connection and checked.
#[test]
fn a_set_over_tcp_reaches_the_console_history_and_panel() {
    use crate::tui::engine::EXTERNAL_OPS;
    let fake = Arc::new(Fake::default());
    let dir = temp_dir("listen-fake");
    let (session, _) = Session::open(&dir, &Origin::default()).expect("session");
    let session = Arc::new(session);
    let (engine, base) = listening(fake.clone(), Arc::clone(&session));
    let describe = engine.listening().expect("it listens");
    assert_eq!(describe, format!("127.0.0.1:{}-{} (n1-n5)", base + 1, base + 5));
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", base + 2)).expect("n2 listens");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("a timeout");
    let local = stream.local_addr().expect("an address");
    assert_eq!(ask(&mut stream, &["SET", "color", "red"]), "+OK\r\n");
    assert_eq!(ask(&mut stream, &["GET", "color"]), "$3\r\nred\r\n");
    let (mut sent, mut returned, mut verdict) = (Vec::new(), Vec::new(), None);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline && (returned.len() < 2 || verdict.is_none()) {
        match engine.updates().recv_timeout(Duration::from_secs(1)) {
            Ok(Update::ClientSent { op, via, conn, .. }) => sent.push((op, via, conn)),
            Ok(Update::Client { op, outcome }) => returned.push((op, outcome.reply)),
            Ok(Update::Verdict(v @ VerdictView::Linearizable { ops: 2, .. })) => verdict = Some(v),
            _ => {}
        }
    }
    let conn = Some(format!("tcp {local}"));
    assert_eq!(sent, [(EXTERNAL_OPS + 1, n(2), conn.clone()), (EXTERNAL_OPS + 2, n(2), conn.clone())]);
    assert_eq!(returned, [(EXTERNAL_OPS + 1, Some("OK".into())), (EXTERNAL_OPS + 2, Some("\"red\"".into()))]);
    assert_eq!(
        verdict,
        Some(VerdictView::Linearizable { ops: 2, failed: 0 }),
        "the live verdict covers them"
    );
    let kinds: Vec<(EventType, u64)> = session.history().iter().map(|e| (e.kind, e.process)).collect();
    let p = |k| session.process(EXTERNAL_OPS + k);
    assert_eq!(
        kinds,
        [(EventType::Invoke, p(1)), (EventType::Ok, p(1)), (EventType::Invoke, p(2)), (EventType::Ok, p(2))]
    );
    let clients: Vec<String> = fake.calls().into_iter().filter(|c| c.starts_with("client")).collect();
    assert_eq!(clients.len(), 2, "one client event per operation: {clients:?}");
    assert!(
        clients[0].starts_with(&format!("client n2: tcp {local} c3#1 put color=red via n2 → ok")),
        "{clients:?}"
    );
    drop(stream);
    engine.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", base + 2)).is_err(), "stopped, it listens no more");
}

/// The same port twice: the second console cannot listen, and says which node and address.
#[test]
fn a_port_in_use_is_an_error_before_anything_starts() {
    let fake: Arc<dyn Control> = Arc::new(Fake::default());
    let dir = temp_dir("listen-twice");
    let (session, _) = Session::open(&dir, &Origin::default()).expect("session");
    let session = Arc::new(session);
    let (first, base) = listening(Arc::clone(&fake), Arc::clone(&session));
    let options = crate::resp::ServerOptions { base_port: base, ..Default::default() };
    let second = Engine::start_listening(fake, session, None, Some(options));
    let error = format!("{:#}", second.err().expect("refused"));
    assert!(error.contains(&format!("n1 cannot listen on 127.0.0.1:{}", base + 1)), "{error}");
    first.stop();
}

/// On the simulator (its time moved by the test): a SET through n1's port waits for the
/// cluster's virtual time, then is answered and enters the console's history.
#[test]
fn a_set_over_tcp_on_the_simulator_enters_the_history() {
    use crate::tui::engine::EXTERNAL_OPS;
    use std::io::{Read, Write};
    let dir = temp_dir("listen-sim");
    std::fs::create_dir_all(&dir.0).expect("dir");
    let sim = manual_sim(None, 100_000);
    sim.advance(Duration::from_secs(1));
    let (session, _) = Session::open(&dir.0, &Origin::default()).expect("session");
    let session = Arc::new(session);
    let (engine, base) = listening(sim.clone(), Arc::clone(&session));
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", base + 1)).expect("n1 listens");
    stream.set_read_timeout(Some(Duration::from_millis(20))).expect("a timeout");
    stream.write_all(b"*3\r\n$3\r\nSET\r\n$5\r\ncolor\r\n$3\r\nred\r\n").expect("sent");
    let mut answer = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !answer.ends_with(b"\r\n") {
        assert!(std::time::Instant::now() < deadline, "no answer: {answer:?}");
        sim.advance(Duration::from_millis(10));
        let mut buf = [0u8; 64];
        if let Ok(k) = stream.read(&mut buf) {
            answer.extend_from_slice(&buf[..k]);
        }
    }
    assert_eq!(answer, b"+OK\r\n");
    let history = session.history();
    let ok = history.iter().find(|e| e.kind == EventType::Ok).expect("a completion");
    assert_eq!(
        (ok.process, ok.f, ok.value.as_deref()),
        (session.process(EXTERNAL_OPS + 1), OpKind::Put, Some("red"))
    );
    // Events reach the engine's recent ones through its hub, a moment later.
    let recorded = || {
        sim.recent_events(usize::MAX).into_iter().find_map(|e| match e.kind {
            EventKind::Client { op: Some(record), .. } => record.conn,
            _ => None,
        })
    };
    while recorded().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(recorded(), Some(format!("tcp {}", stream.local_addr().expect("an address"))));
    // n1 killed: the server closes its connections and says so in the status line.
    sim.pause(n(2));
    sim.kill(n(1));
    assert_eq!(sim.nodes_up(), [n(2), n(3)], "a paused node is up, a dead one is not");
    let said = loop {
        match engine.updates().recv_timeout(Duration::from_secs(10)) {
            Ok(Update::Notice(notice)) if notice.text.starts_with("n1 is down") => break notice.text,
            Ok(_) => {}
            Err(e) => panic!("no notice: {e}"),
        }
    };
    assert_eq!(said, format!("n1 is down: 127.0.0.1:{} refuses connections, 1 closed", base + 1));
    stream.set_read_timeout(Some(Duration::from_secs(5))).expect("a timeout");
    assert_eq!(stream.read(&mut [0u8; 8]).expect("the end of the stream"), 0, "closed");
    drop(stream);
    engine.stop();
    let _ = sim.finish();
}
