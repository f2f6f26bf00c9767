//! The lessons: every shipped lesson plays to its end with every condition holding (so a
//! lesson that drifts from the code fails here), each file of `assets/lessons/` is shipped,
//! and going back a step and playing it again gives exactly the same run.

use quorum::control::Control;
use quorum::events::Event;
use quorum::lesson::{self, Lesson, Player};
use quorum::sim::{Clock, EngineOptions, SimEngine, WorldSpec};
use std::sync::Arc;

/// Keeps every event of a lesson in the engine's ring, to compare runs.
const RING: usize = 1 << 20;

fn engine(lesson: &Lesson) -> Arc<SimEngine> {
    let s = &lesson.setup;
    let spec = WorldSpec {
        seed: s.seed,
        nodes: s.nodes,
        switches: s.switches,
        sessions: Default::default(),
        snapshots: s.snapshots,
    };
    let options = EngineOptions { clock: Clock::Manual, events_file: None, ring: RING };
    Arc::new(SimEngine::start_from(spec.frozen_factory(), options).expect("engine"))
}

fn player(lesson: &Lesson) -> (Arc<SimEngine>, Player) {
    let engine = engine(lesson);
    let player = Player::start(lesson.clone(), engine.clone(), Arc::new(lesson::play::Quiet), false)
        .expect("the lesson starts");
    (engine, player)
}

fn shipped() -> Vec<Lesson> {
    lesson::shipped().into_iter().map(|l| l.unwrap_or_else(|e| panic!("{e}"))).collect()
}

/// Every event so far.
fn events(engine: &SimEngine) -> Vec<Event> {
    engine.flush_events();
    engine.recent_events(RING)
}

#[test]
fn every_shipped_lesson_plays_to_its_end_with_every_condition_holding() {
    let mut failed = Vec::new();
    for lesson in shipped() {
        let (engine, mut player) = player(&lesson);
        if let Err(e) = player.play_all() {
            failed.push(format!("{e}\n  replay: quorum lesson {} --check", lesson.name));
        }
        drop(player);
        let _ = engine.finish();
    }
    assert!(failed.is_empty(), "lessons that fail:\n{}", failed.join("\n"));
}

#[test]
fn every_lesson_file_is_shipped_and_there_are_ten_at_least() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/lessons");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("assets/lessons")
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".lesson").map(str::to_string))
        .collect();
    files.sort();
    let mut shipped: Vec<String> = lesson::SHIPPED.iter().map(|(n, _)| n.to_string()).collect();
    shipped.sort();
    assert_eq!(files, shipped, "every file of assets/lessons must be in lesson::SHIPPED, and only those");
    assert!(shipped.len() > 10, "ten lessons and the example at least: {shipped:?}");
}

/// Going back a step and playing it again gives the same events, the same statuses and the
/// same clock, for every step of every lesson; and going back to the start and playing on
/// gives the whole lesson again.
#[test]
fn going_back_a_step_and_playing_it_again_gives_the_same_run() {
    for lesson in shipped() {
        let (engine, mut player) = player(&lesson);
        for step in 1..=lesson.steps.len() {
            let first = player.play_next().map(|_| ()).map_err(|e| e.to_string());
            let (events_first, status_first, now_first) =
                (events(&engine), engine.status(), engine.now_nanos());
            assert_eq!(player.back(), Ok(step - 1), "{}: back from step {step}", lesson.name);
            let again = player.play_next().map(|_| ()).map_err(|e| e.to_string());
            assert_eq!(again, first, "{}: step {step} played twice", lesson.name);
            let events_again = events(&engine);
            assert_eq!(events_again.len(), events_first.len(), "{}: step {step}: event count", lesson.name);
            if let Some(i) = events_first.iter().zip(&events_again).position(|(a, b)| a != b) {
                panic!(
                    "{}: step {step} played again differs at event {i}:\n  first: {}\n  again: {}",
                    lesson.name, events_first[i], events_again[i]
                );
            }
            assert_eq!(engine.status(), status_first, "{}: step {step}: statuses", lesson.name);
            assert_eq!(engine.now_nanos(), now_first, "{}: step {step}: clock", lesson.name);
        }
        drop(player);
        let _ = engine.finish();
    }
}

/// After the user changes the cluster between steps, `b` first returns to the lesson's own
/// state at that step, then goes back a step as usual.
#[test]
fn back_after_a_take_over_returns_to_the_lesson_first() {
    let lesson = lesson::find("example").expect("example");
    let (engine, mut player) = player(&lesson);
    player.play_next().expect("step 1");
    let after_step = (engine.status(), engine.now_nanos());
    assert!(!player.diverged());
    engine.kill(quorum::raft::NodeId(2));
    engine.advance_ticks(50);
    assert!(player.diverged());
    assert_eq!(player.back(), Ok(1), "back to the lesson at step 1");
    assert_eq!((engine.status(), engine.now_nanos()), after_step);
    assert!(!player.diverged());
    assert_eq!(player.back(), Ok(0), "then back a step");
    drop(player);
    let _ = engine.finish();
}

/// Every golden script of the core becomes a skeleton that reads as a lesson.
#[test]
fn every_golden_script_becomes_a_lesson_that_reads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/scripts") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("a name").to_string();
        let text = std::fs::read_to_string(&path).expect("the script");
        let skeleton = lesson::script::skeleton(&name, &text);
        let read = lesson::parse(&name, &name, &skeleton);
        assert!(read.as_ref().is_ok_and(|l| !l.steps.is_empty()), "{name}: {read:?}\n{skeleton}");
        count += 1;
    }
    assert!(count > 30, "{count} scripts");
}

/// A remark (a change of speed, an export's note) is no take-over; time moving is. And a step
/// that failed with an operation still waiting goes back cleanly: the operation's end, which
/// comes when going back answers it, is recorded nowhere.
#[test]
fn remarks_are_no_take_over_and_a_failed_step_goes_back_cleanly() {
    let text = "title T\ncluster nodes=3 delay=10\nstep Elect\ncampaign n1\nuntil leader n1 within 100 ticks\n\
                step Stuck\npartition n1 | n2 n3\nput n1 x=1\nuntil returned within 5 ticks\n";
    let lesson = lesson::parse("t", "t.lesson", text).expect("reads");
    let (engine, mut player) = player(&lesson);
    player.play_next().expect("step 1");
    let after_step = (engine.status(), engine.now_nanos());
    engine.set_speed(0.1);
    engine.record(
        None,
        quorum::events::EventKind::fault("speed 0.1x", Some(quorum::events::Change::Speed(0.1))),
    );
    assert!(!player.diverged(), "a change of speed changes nothing in the cluster");
    let failed = player.play_next().expect_err("the put cannot return in 5 ticks");
    assert!(failed.reason.contains("has not returned after 5 ticks"), "{failed}");
    assert_eq!(player.back(), Ok(1));
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(!player.diverged(), "nothing was recorded after going back");
    assert_eq!((engine.status(), engine.now_nanos()), after_step);
    drop(player);
    let _ = engine.finish();
}

/// `transfer NODE` asks whoever leads: at time 0 nobody does, and the step fails saying so; to
/// the leader itself it fails too. Nothing is recorded for a transfer refused.
#[test]
fn a_transfer_nobody_can_make_fails_its_step_and_says_why() {
    let text = "title T\ncluster nodes=3 delay=10\nstep Nobody leads\ntransfer n2\n\
                step Elect\ncampaign n1\nuntil leader n1 within 100 ticks\nstep To itself\ntransfer n1\n";
    let lesson = lesson::parse("t", "t.lesson", text).expect("reads");
    let (engine, mut player) = player(&lesson);
    let failed = player.play_next().expect_err("nobody leads at time 0");
    assert!(failed.reason.contains("there is no leader to transfer leadership from"), "{failed}");
    player.play_next().expect("n1 is elected");
    let failed = player.play_next().expect_err("n1 leads already");
    assert!(failed.reason.contains("n1 is the leader already"), "{failed}");
    let recorded = events(&engine).iter().any(|e| {
        matches!(
            &e.kind,
            quorum::events::EventKind::Fault { change: Some(quorum::events::Change::Transfer(_)), .. }
        )
    });
    assert!(!recorded, "a refused transfer is recorded nowhere");
    drop(player);
    let _ = engine.finish();
}
