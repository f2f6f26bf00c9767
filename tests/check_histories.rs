//! Hand-made histories with known verdicts, and the `quorum check` entry point.

use std::path::PathBuf;

use quorum::check::{
    Algorithm, CheckOptions, EventType, HistoryEvent, Initial, OpKind, Verdict, check_file_command,
    check_file_with, check_history, check_operations_using, pair_operations,
};

/// One operation of a hand-made history: `(process, f, key, value, call, end)`.
/// For a put `value` is written; for a get it is what was read.
type Op<'a> = (u64, OpKind, &'a str, Option<&'a str>, u64, End);

#[derive(Clone, Copy)]
enum End {
    Ok(u64),
    Fail(u64),
    Info(u64),
    Never,
}

use End::*;
use OpKind::{Get, Put};

fn events(ops: &[Op]) -> Vec<HistoryEvent> {
    let mut events = Vec::new();
    for &(process, f, key, value, call, end) in ops {
        let invoke_value = if f == Put { value } else { None };
        events.push(HistoryEvent::invoke(process, f, key, invoke_value, call));
        let (kind, time) = match end {
            Ok(t) => (EventType::Ok, t),
            Fail(t) => (EventType::Fail, t),
            Info(t) => (EventType::Info, t),
            Never => continue,
        };
        let value = if f == Put || kind == EventType::Ok { value } else { None };
        events.push(HistoryEvent::complete(kind, process, f, key, value, time));
    }
    events.sort_by_key(|e| e.time);
    events
}

fn verdict(ops: &[Op]) -> Verdict {
    check_history(&events(ops), &CheckOptions::default()).expect("well-formed history")
}

/// The verdict when every key's initial value is unknown.
fn verdict_unknown(ops: &[Op]) -> Verdict {
    check_history(&events(ops), &CheckOptions { initial: Initial::Unknown, ..Default::default() })
        .expect("well-formed history")
}

/// Asserts a failure with unknown initial values; returns its reason and excerpt.
fn assert_unknown_not_linearizable(ops: &[Op]) -> (String, Vec<String>) {
    match verdict_unknown(ops) {
        Verdict::NotLinearizable { key, excerpt, reason } => {
            assert_eq!(key, "k1");
            (reason, excerpt)
        }
        other => panic!("expected not linearizable, got:\n{other}"),
    }
}

fn assert_unknown_linearizable(ops: &[Op]) {
    let v = verdict_unknown(ops);
    assert!(v.is_linearizable(), "expected linearizable with unknown initial values, got:\n{v}");
}

fn assert_linearizable(ops: &[Op]) {
    let v = verdict(ops);
    assert!(v.is_linearizable(), "expected linearizable, got:\n{v}");
    assert_eq!(v.exit_code(), 0);
}

/// Asserts a failure and returns its reason and excerpt for further checks.
fn assert_not_linearizable(ops: &[Op]) -> (String, Vec<String>) {
    match verdict(ops) {
        Verdict::NotLinearizable { key, excerpt, reason } => {
            assert_eq!(key, "k1");
            (reason, excerpt)
        }
        other => panic!("expected not linearizable, got:\n{other}"),
    }
}

#[test]
fn stale_read() {
    let (reason, excerpt) = assert_not_linearizable(&[
        (1, Put, "k1", Some("v1"), 0, Ok(10)),
        (2, Put, "k1", Some("v2"), 20, Ok(30)),
        (3, Get, "k1", Some("v1"), 40, Ok(50)),
    ]);
    assert!(reason.contains("overwritten"), "{reason}");
    assert_eq!(excerpt, vec!["p1 put k1=v1 [0, 10]", "p2 put k1=v2 [20, 30]", "p3 get k1 -> v1 [40, 50]"]);
}

#[test]
fn lost_write() {
    // The put of v2 was acknowledged, then a read saw the older v1.
    let (reason, excerpt) = assert_not_linearizable(&[
        (1, Put, "k1", Some("v1"), 0, Ok(10)),
        (2, Get, "k1", Some("v1"), 12, Ok(14)),
        (1, Put, "k1", Some("v2"), 20, Ok(30)),
        (3, Get, "k1", Some("v2"), 31, Ok(33)),
        (2, Get, "k1", Some("v1"), 40, Ok(50)),
    ]);
    assert!(reason.contains("p2"), "{reason}");
    assert_eq!(excerpt.len(), 3, "{excerpt:?}");
}

#[test]
fn read_of_failed_write() {
    let (reason, excerpt) = assert_not_linearizable(&[
        (1, Put, "k1", Some("v1"), 0, Ok(10)),
        (2, Put, "k1", Some("x"), 20, Fail(30)),
        (3, Get, "k1", Some("x"), 25, Ok(50)),
    ]);
    assert!(reason.contains("no put of k1"), "{reason}");
    assert_eq!(excerpt, vec!["p3 get k1 -> x [25, 50]"]);
}

#[test]
fn overlapping_writes_read_in_either_order() {
    for (first, second) in [("a", "b"), ("b", "a")] {
        assert_linearizable(&[
            (1, Put, "k1", Some("a"), 0, Ok(100)),
            (2, Put, "k1", Some("b"), 10, Ok(90)),
            (3, Get, "k1", Some(first), 20, Ok(40)),
            (4, Get, "k1", Some(second), 50, Ok(60)),
            (3, Get, "k1", Some(second), 110, Ok(120)),
        ]);
    }
}

#[test]
fn reads_disagreeing_on_the_order_of_overlapping_writes() {
    // Once p4 saw b after p3 saw a (both after the writes), a cannot come back.
    let (reason, _) = assert_not_linearizable(&[
        (1, Put, "k1", Some("a"), 0, Ok(100)),
        (2, Put, "k1", Some("b"), 10, Ok(90)),
        (3, Get, "k1", Some("b"), 110, Ok(120)),
        (4, Get, "k1", Some("a"), 130, Ok(140)),
    ]);
    assert!(!reason.is_empty());
}

#[test]
fn info_put_seen_later() {
    assert_linearizable(&[
        (1, Put, "k1", Some("v1"), 0, Ok(10)),
        (2, Put, "k1", Some("v2"), 20, Info(30)),
        (3, Get, "k1", Some("v1"), 40, Ok(50)),
        (3, Get, "k1", Some("v2"), 1_000, Ok(1_010)),
        (4, Get, "k1", Some("v2"), 1_020, Ok(1_030)),
    ]);
}

#[test]
fn info_put_never_seen() {
    assert_linearizable(&[
        (1, Put, "k1", Some("v1"), 0, Ok(10)),
        (2, Put, "k1", Some("v2"), 20, Info(30)),
        (3, Get, "k1", Some("v1"), 40, Ok(50)),
        (4, Put, "k1", Some("v3"), 60, Never),
        (3, Get, "k1", Some("v1"), 1_000, Ok(1_010)),
    ]);
}

#[test]
fn info_put_cannot_take_effect_before_its_invoke() {
    assert_not_linearizable(&[
        (3, Get, "k1", Some("v2"), 0, Ok(10)),
        (2, Put, "k1", Some("v2"), 20, Info(30)),
    ]);
}

#[test]
fn info_put_seen_then_unseen() {
    // Once an unknown put has been observed it has taken effect for good.
    assert_not_linearizable(&[
        (1, Put, "k1", Some("v1"), 0, Ok(10)),
        (2, Put, "k1", Some("v2"), 20, Info(30)),
        (3, Get, "k1", Some("v2"), 40, Ok(50)),
        (4, Get, "k1", Some("v1"), 60, Ok(70)),
    ]);
}

#[test]
fn info_get_constrains_nothing() {
    assert_linearizable(&[
        (1, Put, "k1", Some("v1"), 0, Ok(10)),
        (2, Get, "k1", Some("zzz"), 20, Info(30)),
        (3, Get, "k1", None, 40, Never),
    ]);
}

#[test]
fn null_before_any_write() {
    assert_linearizable(&[
        (1, Get, "k1", None, 0, Ok(10)),
        (2, Put, "k1", Some("v1"), 5, Ok(30)),
        (3, Get, "k1", None, 20, Ok(25)),
        (1, Get, "k1", Some("v1"), 40, Ok(50)),
    ]);
}

#[test]
fn null_after_completed_write() {
    let (reason, excerpt) =
        assert_not_linearizable(&[(1, Put, "k1", Some("v1"), 0, Ok(10)), (2, Get, "k1", None, 20, Ok(30))]);
    assert!(reason.contains("null"), "{reason}");
    assert_eq!(excerpt.len(), 2);
}

#[test]
fn keys_are_independent() {
    let v = verdict(&[
        (1, Put, "k1", Some("v1"), 0, Ok(10)),
        (2, Put, "k2", Some("v2"), 0, Ok(10)),
        (3, Get, "k2", Some("v2"), 20, Ok(30)),
        (3, Get, "k3", None, 40, Ok(50)),
        (1, Get, "k1", Some("v1"), 20, Ok(30)),
    ]);
    assert_eq!(v, Verdict::Linearizable { operations: 5, keys: 3 });
    assert_eq!(v.to_string(), "linearizable (5 operations over 3 keys)");
}

#[test]
fn failure_display_is_readable() {
    let v = verdict(&[
        (1, Put, "k1", Some("v1"), 0, Ok(10)),
        (2, Put, "k1", Some("v2"), 20, Ok(30)),
        (3, Get, "k1", Some("v1"), 40, Ok(50)),
    ]);
    let text = v.to_string();
    assert!(text.starts_with("NOT linearizable: key k1\n"), "{text}");
    assert!(text.contains("\n    p3 get k1 -> v1 [40, 50]"), "{text}");
    assert_eq!(v.exit_code(), 1);
}

// ---- unknown initial values (a history that starts on existing data) ----

/// A read of a value written before the session, then the session's own writes.
const PRE_SESSION_READ: &[Op] = &[
    (1, Get, "k1", Some("old"), 0, Ok(10)),
    (2, Put, "k1", Some("new"), 20, Ok(30)),
    (3, Get, "k1", Some("new"), 40, Ok(50)),
];

#[test]
fn unknown_initial_pre_session_value_read_is_fine() {
    assert_unknown_linearizable(PRE_SESSION_READ);
    // Concurrent with the first put, the read may come before it.
    assert_unknown_linearizable(&[
        (2, Put, "k1", Some("new"), 0, Ok(30)),
        (1, Get, "k1", Some("old"), 10, Ok(20)),
        (3, Get, "k1", Some("old"), 12, Ok(25)),
        (3, Get, "k1", Some("new"), 40, Ok(50)),
    ]);
    // An absent initial value is one too, read as often as needed before a put.
    assert_unknown_linearizable(&[
        (1, Get, "k1", None, 0, Ok(10)),
        (2, Get, "k1", None, 20, Ok(30)),
        (1, Put, "k1", Some("a"), 40, Ok(50)),
        (2, Get, "k1", Some("a"), 60, Ok(70)),
    ]);
}

#[test]
fn unknown_initial_changes_the_verdict_on_a_pre_session_read() {
    let (reason, excerpt) = assert_not_linearizable(PRE_SESSION_READ);
    assert!(reason.contains("no put of k1") && reason.contains("started absent"), "{reason}");
    assert_eq!(excerpt, vec!["p1 get k1 -> old [0, 10]"]);
    assert_eq!(verdict_unknown(PRE_SESSION_READ), Verdict::Linearizable { operations: 3, keys: 1 });
}

#[test]
fn unknown_initial_stale_read_after_put_is_caught() {
    // old can only be the initial value, and the put of new overwrote it.
    let (reason, excerpt) = assert_unknown_not_linearizable(&[
        (1, Get, "k1", Some("old"), 0, Ok(10)),
        (2, Put, "k1", Some("new"), 20, Ok(30)),
        (3, Get, "k1", Some("old"), 40, Ok(50)),
    ]);
    assert!(reason.contains("could only be the key's initial value"), "{reason}");
    assert!(reason.contains("the put of new by p2 [20, 30] had completed"), "{reason}");
    assert_eq!(excerpt, vec!["p2 put k1=new [20, 30]", "p3 get k1 -> old [40, 50]"]);
}

#[test]
fn unknown_initial_stale_read_of_a_written_value_is_caught() {
    // The puts make every read explainable one by one; only the order fails
    // (x must be initial for p2's first read, yet read again after y).
    let (reason, _) = assert_unknown_not_linearizable(&[
        (1, Put, "k1", Some("x"), 5, Ok(50)),
        (2, Get, "k1", Some("x"), 0, Ok(10)),
        (3, Put, "k1", Some("y"), 20, Ok(30)),
        (2, Get, "k1", Some("x"), 40, Ok(45)),
        (2, Get, "k1", Some("y"), 60, Ok(70)),
    ]);
    assert!(reason.contains("initial value"), "{reason}");
}

#[test]
fn unknown_initial_two_different_initial_reads_are_caught() {
    let (reason, excerpt) = assert_unknown_not_linearizable(&[
        (1, Get, "k1", Some("a"), 0, Ok(10)),
        (2, Get, "k1", Some("b"), 20, Ok(30)),
        (1, Put, "k1", Some("c"), 40, Ok(50)),
    ]);
    assert!(reason.contains("the get by p1 [0, 10] had already read a"), "{reason}");
    assert!(reason.contains("one initial value"), "{reason}");
    assert_eq!(excerpt, vec!["p1 get k1 -> a [0, 10]", "p2 get k1 -> b [20, 30]"]);
    // Overlapping reads too: whichever comes first fixes the initial value.
    let (reason, _) = assert_unknown_not_linearizable(&[
        (1, Get, "k1", Some("a"), 0, Ok(10)),
        (2, Get, "k1", Some("b"), 5, Ok(15)),
    ]);
    assert!(reason.contains("one initial value"), "{reason}");
    // A put of b invoked only after the read returned does not explain it.
    assert_unknown_not_linearizable(&[
        (1, Get, "k1", Some("a"), 0, Ok(10)),
        (2, Get, "k1", Some("b"), 20, Ok(30)),
        (3, Put, "k1", Some("b"), 31, Ok(40)),
    ]);
}

#[test]
fn unknown_initial_absent_then_a_value_without_put_is_caught() {
    let (reason, excerpt) = assert_unknown_not_linearizable(&[
        (1, Get, "k1", None, 0, Ok(10)),
        (2, Get, "k1", Some("v"), 20, Ok(30)),
    ]);
    assert!(reason.contains("had already read null"), "{reason}");
    assert_eq!(excerpt.len(), 2);
    // And the other way round: a value, then absent.
    let (reason, _) = assert_unknown_not_linearizable(&[
        (1, Get, "k1", Some("v"), 0, Ok(10)),
        (2, Get, "k1", None, 20, Ok(30)),
    ]);
    assert!(reason.contains("initial value"), "{reason}");
}

#[test]
fn unknown_initial_keeps_the_info_put_rules() {
    // An info put may explain a read after it...
    assert_unknown_linearizable(&[
        (1, Get, "k1", Some("a"), 0, Ok(10)),
        (2, Put, "k1", Some("b"), 20, Info(30)),
        (3, Get, "k1", Some("a"), 40, Ok(50)),
        (3, Get, "k1", Some("b"), 60, Ok(70)),
    ]);
    // ...but once seen, the initial value cannot come back.
    assert_unknown_not_linearizable(&[
        (1, Get, "k1", Some("a"), 0, Ok(10)),
        (2, Put, "k1", Some("b"), 20, Info(30)),
        (3, Get, "k1", Some("b"), 40, Ok(50)),
        (3, Get, "k1", Some("a"), 60, Ok(70)),
    ]);
}

// ---- edge times: 0, u64::MAX, equal times ----

const MAX: u64 = u64::MAX;

#[test]
fn edge_time_max_put_then_get() {
    // Everything at the last nanosecond there is: the put and the get touch,
    // so they are concurrent, and put-then-get is a valid order.
    for (put_process, get_process) in [(1, 2), (1, 1)] {
        let ops = [
            (put_process, Put, "k1", Some("x"), MAX, Ok(MAX)),
            (get_process, Get, "k1", Some("x"), MAX, Ok(MAX)),
        ];
        assert_linearizable(&ops);
        assert_unknown_linearizable(&ops);
    }
    // Equal times at 0 too, and a read of absent concurrent with them.
    for t in [0, MAX] {
        assert_linearizable(&[
            (1, Put, "k1", Some("x"), t, Ok(t)),
            (2, Get, "k1", Some("x"), t, Ok(t)),
            (3, Get, "k1", None, t, Ok(t)),
        ]);
    }
    // An info put invoked at the very end, read then.
    assert_linearizable(&[(1, Put, "k1", Some("x"), MAX, Never), (2, Get, "k1", Some("x"), MAX, Ok(MAX))]);
}

#[test]
fn edge_time_violations_are_still_caught() {
    // From the first nanosecond to the last: a put at 0 is overwritten long before the read.
    let (reason, _) = assert_not_linearizable(&[
        (1, Put, "k1", Some("x"), 0, Ok(0)),
        (2, Put, "k1", Some("y"), 1, Ok(1)),
        (3, Get, "k1", Some("x"), MAX, Ok(MAX)),
    ]);
    assert!(reason.contains("overwritten"), "{reason}");
    let (reason, _) =
        assert_not_linearizable(&[(1, Put, "k1", Some("x"), 0, Ok(0)), (2, Get, "k1", None, MAX, Ok(MAX))]);
    assert!(reason.contains("null"), "{reason}");
    // A read that returned at 0 of a put invoked at the last nanosecond.
    let (reason, _) = assert_not_linearizable(&[
        (2, Get, "k1", Some("x"), 0, Ok(0)),
        (1, Put, "k1", Some("x"), MAX, Ok(MAX)),
    ]);
    assert!(reason.contains("invoked only at 18446744073709551615"), "{reason}");
}

#[test]
fn edge_time_max_file() {
    // The file of the bug report: every event at u64::MAX.
    let text = r#"{"type":"invoke","process":1,"f":"put","key":"x","value":"a","time":18446744073709551615}
{"type":"ok","process":1,"f":"put","key":"x","value":"a","time":18446744073709551615}
{"type":"invoke","process":2,"f":"get","key":"x","time":18446744073709551615}
{"type":"ok","process":2,"f":"get","key":"x","value":"a","time":18446744073709551615}
"#;
    for (name, text) in
        [("max", text.to_string()), ("max-same", text.replace(r#""process":2"#, r#""process":1"#))]
    {
        let (code, out) = run(name, &text);
        assert_eq!(code, 0, "{name}: {out}");
        assert_eq!(out, "linearizable (2 operations over 1 key)\n", "{name}");
    }
}

// ---- distinct values: the zone check and the search agree ----

/// The verdict of each algorithm, asserting that they agree.
fn both_algorithms(ops: &[Op], initial: Initial) -> Verdict {
    let paired = pair_operations(&events(ops)).expect("well-formed history");
    let options = CheckOptions { initial, ..Default::default() };
    let zones = check_operations_using(&paired, &options, Algorithm::Zones);
    let search = check_operations_using(&paired, &options, Algorithm::Search);
    assert!(!matches!(zones, Verdict::Unknown { .. }), "{zones}");
    assert_eq!(zones.is_linearizable(), search.is_linearizable(), "zones: {zones}\nsearch: {search}");
    zones
}

#[test]
fn zones_cycle_between_concurrent_writes() {
    // a and b overlap; p3 sees b, then p4 sees a, then p3 sees b again: the
    // blocks of a and b must each come before the other.
    let ops = [
        (1, Put, "k1", Some("a"), 0, Ok(100)),
        (2, Put, "k1", Some("b"), 10, Ok(90)),
        (3, Get, "k1", Some("b"), 20, Ok(30)),
        (4, Get, "k1", Some("a"), 40, Ok(50)),
        (3, Get, "k1", Some("b"), 60, Ok(70)),
    ];
    match both_algorithms(&ops, Initial::Empty) {
        Verdict::NotLinearizable { excerpt, reason, .. } => {
            assert!(reason.contains("every put writes a different value"), "{reason}");
            assert!(reason.contains("the get by p4 [40, 50] that read a"), "{reason}");
            assert_eq!(excerpt.len(), 5, "{excerpt:?}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn zones_info_put_rules() {
    // Read by a get concurrent with it: fine; read before its invoke: not.
    both_algorithms(
        &[(1, Put, "k1", Some("a"), 10, Info(20)), (2, Get, "k1", Some("a"), 0, Ok(10))],
        Initial::Empty,
    );
    let v = both_algorithms(
        &[(1, Put, "k1", Some("a"), 11, Info(20)), (2, Get, "k1", Some("a"), 0, Ok(10))],
        Initial::Empty,
    );
    assert!(!v.is_linearizable());
    // Unread: left out, though it would have to come before the read of null.
    let v = both_algorithms(
        &[(1, Put, "k1", Some("a"), 0, Info(1)), (2, Get, "k1", None, 5, Ok(6))],
        Initial::Empty,
    );
    assert!(v.is_linearizable());
    // A read of a after a read of b after the info put of b completed... of a.
    let v = both_algorithms(
        &[
            (1, Put, "k1", Some("a"), 0, Ok(5)),
            (2, Put, "k1", Some("b"), 6, Never),
            (3, Get, "k1", Some("b"), 10, Ok(20)),
            (3, Get, "k1", Some("a"), 30, Ok(40)),
        ],
        Initial::Empty,
    );
    assert!(!v.is_linearizable());
}

#[test]
fn zones_initial_value_may_equal_a_written_value() {
    // With an unknown initial value, the first get of a may have read an
    // initial a (it returned before the put of b started); the second get of
    // a then reads the put of a, which comes after b.
    let ops = [
        (1, Get, "k1", Some("a"), 0, Ok(10)),
        (3, Put, "k1", Some("a"), 5, Ok(60)),
        (4, Put, "k1", Some("b"), 20, Ok(30)),
        (2, Get, "k1", Some("a"), 35, Ok(40)),
    ];
    assert!(both_algorithms(&ops, Initial::Unknown).is_linearizable());
    assert!(!both_algorithms(&ops, Initial::Empty).is_linearizable());
    // A get of b after that second get of a: b's put and its gets must come
    // both before and after a's, whatever the initial value.
    let mut more = ops.to_vec();
    more.push((2, Get, "k1", Some("b"), 45, Ok(50)));
    match both_algorithms(&more, Initial::Unknown) {
        Verdict::NotLinearizable { reason, excerpt, .. } => {
            assert!(reason.contains("the key's initial value is unknown"), "{reason}");
            assert!(reason.contains("had the key started at a"), "{reason}");
            assert!(excerpt.len() <= 5, "{excerpt:?}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn zones_read_of_absent_after_a_read_of_a_value() {
    // The put is still running, but p2 saw its value before p3 read absent.
    let (reason, excerpt) = assert_not_linearizable(&[
        (1, Put, "k1", Some("a"), 0, Ok(100)),
        (2, Get, "k1", Some("a"), 10, Ok(20)),
        (3, Get, "k1", None, 30, Ok(40)),
    ]);
    assert!(reason.contains("had already returned a before the get was invoked"), "{reason}");
    assert_eq!(excerpt.len(), 3, "{excerpt:?}");
    both_algorithms(
        &[(1, Put, "k1", Some("a"), 0, Ok(100)), (2, Get, "k1", Some("a"), 10, Ok(20))],
        Initial::Empty,
    );
}

#[test]
fn zones_do_not_apply_to_a_value_written_twice() {
    let ops = [
        (1, Put, "k1", Some("a"), 0, Ok(10)),
        (2, Put, "k1", Some("a"), 20, Ok(30)),
        (3, Get, "k1", Some("a"), 40, Ok(50)),
    ];
    let paired = pair_operations(&events(&ops)).expect("well-formed history");
    match check_operations_using(&paired, &CheckOptions::default(), Algorithm::Zones) {
        Verdict::Unknown { reason } => assert!(reason.contains("more than one put"), "{reason}"),
        other => panic!("{other}"),
    }
    // Auto falls back to the search.
    assert_linearizable(&ops);
}

// ---- the file entry point ----

struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let path = std::env::temp_dir().join(format!("quorum-check-{}-{name}.jsonl", std::process::id()));
        std::fs::write(&path, text).expect("write temp file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn run(name: &str, text: &str) -> (i32, String) {
    let file = TempFile::new(name, text);
    let mut out = Vec::new();
    let code = check_file_command(&file.0, &mut out);
    (code, String::from_utf8(out).expect("utf-8 output"))
}

const GOOD: &str = r#"{"type":"invoke","process":3,"f":"put","key":"k1","value":"v7","time":120000}
{"type":"invoke","process":4,"f":"get","key":"k1","value":null,"time":130000}
{"type":"ok","process":3,"f":"put","key":"k1","value":"v7","time":184000,"node":2}
{"type":"ok","process":4,"f":"get","key":"k1","value":"v7","time":190000}

{"type":"invoke","process":5,"f":"put","key":"k2","value":"x","time":195000}
{"type":"fail","process":5,"f":"put","key":"k2","value":"x","time":200000,"error":"not leader"}
{"type":"invoke","process":6,"f":"put","key":"k2","value":"y","time":210000,"future_field":[1]}
{"type":"info","process":6,"f":"put","key":"k2","value":"y","time":900000,"error":"timeout"}
{"type":"invoke","process":7,"f":"get","key":"k2","time":950000}
"#;

#[test]
fn file_linearizable() {
    let (code, out) = run("good", GOOD);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "linearizable (4 operations over 2 keys)\n");
}

#[test]
fn file_not_linearizable() {
    let text = GOOD.replace(r#""value":"v7","time":190000"#, r#""value":"v3","time":190000"#);
    let (code, out) = run("bad", &text);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NOT linearizable: key k1"), "{out}");
    assert!(out.contains("p4 get k1 -> v3 [130000, 190000]"), "{out}");
}

#[test]
fn file_malformed_line() {
    let text = GOOD.replace(r#""time":195000}"#, r#""time":"soon"}"#);
    let (code, out) = run("malformed", &text);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("line 6"), "{out}");
}

#[test]
fn file_completion_without_invoke() {
    let text =
        GOOD.replace(r#"{"type":"invoke","process":5,"f":"put","key":"k2","value":"x","time":195000}"#, "");
    let (code, out) = run("orphan", &text);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("line 7"), "{out}");
    assert!(out.contains("process 5"), "{out}");
}

#[test]
fn file_time_backwards() {
    let text = GOOD.replace(r#""time":200000"#, r#""time":100"#);
    let (code, out) = run("backwards", &text);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("line 7") && out.contains("backwards"), "{out}");
}

#[test]
fn file_missing() {
    let mut out = Vec::new();
    let code = check_file_command(std::path::Path::new("/nonexistent/quorum/history.jsonl"), &mut out);
    assert_eq!(code, 2);
    assert!(String::from_utf8_lossy(&out).starts_with("error: cannot open"));
}

/// A history reading a value written before the session (see [`PRE_SESSION_READ`]).
const ON_EXISTING_DATA: &str = r#"{"type":"invoke","process":1,"f":"get","key":"k1","time":0}
{"type":"ok","process":1,"f":"get","key":"k1","value":"old","time":10}
{"type":"invoke","process":2,"f":"put","key":"k1","value":"new","time":20}
{"type":"ok","process":2,"f":"put","key":"k1","value":"new","time":30}
{"type":"invoke","process":3,"f":"get","key":"k1","time":40}
{"type":"ok","process":3,"f":"get","key":"k1","value":"new","time":50}
"#;

#[test]
fn file_start_line_says_initial_values_unknown() {
    let text = format!("{{\"type\":\"start\",\"initial\":\"unknown\"}}\n{ON_EXISTING_DATA}");
    let (code, out) = run("unknown", &text);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "linearizable (3 operations over 1 key)\n  (initial values unknown: the history starts on existing data)\n"
    );
    // With the cluster named, the note names it.
    let text =
        format!("{{\"type\":\"start\",\"initial\":\"unknown\",\"cluster\":\"3f9a\"}}\n{ON_EXISTING_DATA}");
    let (code, out) = run("unknown-cluster", &text);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with("existing data of cluster 3f9a)\n"), "{out}");
    // Without the start line, or with one that says empty, the read of old is a violation.
    for (name, text) in [
        ("headerless", ON_EXISTING_DATA.to_string()),
        ("empty", format!("{{\"type\":\"start\",\"initial\":\"empty\"}}\n{ON_EXISTING_DATA}")),
    ] {
        let (code, out) = run(name, &text);
        assert_eq!(code, 1, "{name}: {out}");
        assert!(!out.contains("initial values unknown"), "{name}: {out}");
    }
    // A stale read is still caught, and the line numbers count the start line.
    let stale = text_with_start(
        &ON_EXISTING_DATA.replace(r#""value":"new","time":50"#, r#""value":"old","time":50"#),
    );
    let (code, out) = run("unknown-stale", &stale);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("initial value") && out.contains("initial values unknown"), "{out}");
    let bad = text_with_start(&ON_EXISTING_DATA.replace(r#""time":40"#, r#""time":"late""#));
    let (code, out) = run("unknown-malformed", &bad);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("line 6"), "{out}");
}

fn text_with_start(events: &str) -> String {
    format!("{{\"type\":\"start\",\"initial\":\"unknown\"}}\n{events}")
}

#[test]
fn file_options_can_ask_for_unknown_initial_values() {
    let file = TempFile::new("options-unknown", ON_EXISTING_DATA);
    let mut out = Vec::new();
    let options = CheckOptions { initial: Initial::Unknown, ..Default::default() };
    let code = check_file_with(&file.0, &options, &mut out);
    let out = String::from_utf8(out).expect("utf-8 output");
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("linearizable (3 operations over 1 key)\n"), "{out}");
    assert!(out.contains("initial values unknown: as asked"), "{out}");
}

#[test]
fn file_start_line_must_come_first() {
    let text = format!("{ON_EXISTING_DATA}{{\"type\":\"start\",\"initial\":\"unknown\"}}\n");
    let (code, out) = run("late-start", &text);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("line 7") && out.contains("a start line must come first"), "{out}");
    let (code, out) =
        run("bad-start", &format!("{{\"type\":\"start\",\"initial\":\"perhaps\"}}\n{ON_EXISTING_DATA}"));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("line 1") && out.contains("start line"), "{out}");
}

#[test]
fn time_limit_gives_unknown() {
    // A zero time limit decides nothing.
    let ev = events(&[(1, Put, "k1", Some("v1"), 0, Ok(10))]);
    let v = check_history(
        &ev,
        &CheckOptions { time_limit: Some(std::time::Duration::ZERO), ..Default::default() },
    )
    .expect("well-formed");
    assert_eq!(v.exit_code(), 3, "{v}");
    assert!(v.to_string().starts_with("unknown: "));
}
