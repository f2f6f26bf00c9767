//! Generated histories: linearizable by construction, and caught once a read is corrupted.

use std::collections::HashSet;
use std::time::Duration;

use proptest::prelude::*;
use quorum::check::generate::{CorruptionKind, GeneratorConfig, corrupt_one_read, generate_history};
use quorum::check::{
    Algorithm, CheckOptions, EventType, HistoryEvent, HistoryWriter, Initial, OpKind, OpStatus, Operation,
    OperationKind, Verdict, check_history, check_operations_using, pair_operations, parse_history,
};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

fn check(events: &[HistoryEvent]) -> Verdict {
    check_in(events, Initial::Empty)
}

fn check_in(events: &[HistoryEvent], initial: Initial) -> Verdict {
    check_history(events, &CheckOptions { initial, ..Default::default() })
        .expect("generated histories are well formed")
}

/// Generates, checks, corrupts one read, checks again; returns the corruption kind.
fn round(config: &GeneratorConfig, seed: u64) -> Option<CorruptionKind> {
    let mut history = generate_history(config, seed);
    let verdict = check(&history);
    assert!(verdict.is_linearizable(), "seed {seed}, {config:?}: generated history judged\n{verdict}");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xc0ffee);
    let corruption = corrupt_one_read(&mut history, &mut rng)?;
    let verdict = check(&history);
    match &verdict {
        Verdict::NotLinearizable { excerpt, .. } => {
            assert!(
                (1..=8).contains(&excerpt.len()),
                "seed {seed}, {config:?}: {corruption:?}: excerpt not shrunk: {verdict}"
            );
            assert_excerpt_fails(excerpt, Initial::Empty);
        }
        _ => panic!("seed {seed}, {config:?}: {corruption:?} not caught: {verdict}"),
    }
    Some(corruption.kind)
}

/// Reads back one excerpt line, `p3 put k1=v7 [120, 184]`, `p3 put k1=v7 [120, ?] (info: ...)`
/// or `p4 get k1 -> null [130, 190]`.
fn parse_excerpt_line(line: &str) -> Operation {
    fn bad<T>(line: &str) -> T {
        panic!("unexpected excerpt line {line:?}")
    }
    let (head, times) = line.split_once(" [").unwrap_or_else(|| bad(line));
    let (call, rest) = times.split_once(", ").unwrap_or_else(|| bad(line));
    let ret = rest.split(']').next().unwrap_or_else(|| bad(line));
    let ret: Option<u64> = (ret != "?").then(|| ret.parse().unwrap_or_else(|_| bad(line)));
    let mut words = head.split(' ');
    let process: u64 =
        words.next().and_then(|p| p.strip_prefix('p')?.parse().ok()).unwrap_or_else(|| bad(line));
    let (key, kind) = match (words.next(), words.next(), words.next(), words.next()) {
        (Some("put"), Some(assignment), None, None) => {
            let (key, value) = assignment.split_once('=').unwrap_or_else(|| bad(line));
            (key, OperationKind::Put(value.to_string()))
        }
        (Some("get"), Some(key), Some("->"), Some(value)) => {
            (key, OperationKind::Get((value != "null").then(|| value.to_string())))
        }
        _ => bad(line),
    };
    Operation {
        process,
        key: key.to_string(),
        kind,
        call: call.parse().unwrap_or_else(|_| bad(line)),
        ret,
        status: if ret.is_some() { OpStatus::Ok } else { OpStatus::Info },
        invoke_index: 0,
        complete_index: None,
    }
}

/// Asserts that a failure's excerpt is itself not linearizable, by the search
/// (so independently of the zone check that may have produced it).
fn assert_excerpt_fails(excerpt: &[String], initial: Initial) {
    let ops: Vec<Operation> = excerpt.iter().map(|line| parse_excerpt_line(line)).collect();
    let options = CheckOptions { initial, ..Default::default() };
    let verdict = check_operations_using(&ops, &options, Algorithm::Search);
    assert!(
        matches!(verdict, Verdict::NotLinearizable { .. }),
        "the excerpt alone is not a counterexample ({initial:?}):\n{}\n{verdict}",
        excerpt.join("\n")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_then_corrupted(
        seed in any::<u64>(),
        operations in 1usize..400,
        keys in 1usize..4,
        processes in 1usize..8,
        overlap in 0.0f64..=1.0,
        info_ratio in 0.0f64..0.3,
        fail_ratio in 0.0f64..0.2,
    ) {
        let config = GeneratorConfig {
            operations,
            keys,
            processes,
            put_ratio: 0.5,
            info_ratio,
            fail_ratio,
            overlap,
        };
        round(&config, seed);
    }
}

#[test]
fn every_corruption_kind_is_caught() {
    let config = GeneratorConfig {
        operations: 120,
        keys: 2,
        processes: 5,
        info_ratio: 0.1,
        fail_ratio: 0.1,
        ..GeneratorConfig::default()
    };
    let mut seen = HashSet::new();
    for seed in 0..150 {
        if let Some(kind) = round(&config, seed) {
            seen.insert(format!("{kind:?}"));
        }
    }
    assert_eq!(seen.len(), 5, "kinds exercised: {seen:?}");
}

#[test]
fn one_hot_key_with_many_clients() {
    let config = GeneratorConfig {
        operations: 400,
        keys: 1,
        processes: 10,
        info_ratio: 0.02,
        ..GeneratorConfig::default()
    };
    for seed in 0..5 {
        round(&config, seed);
    }
}

#[test]
fn generated_history_survives_the_file_format() {
    let config = GeneratorConfig::default();
    let history = generate_history(&config, 7);
    let mut writer = HistoryWriter::new(Vec::new());
    for event in &history {
        writer.write_event(event).expect("write to memory");
    }
    let bytes = writer.into_inner();
    let parsed = parse_history(bytes.as_slice()).expect("parse back");
    assert_eq!(parsed, history);
    let ops = pair_operations(&parsed).expect("pairs");
    assert!(ops.len() <= config.operations);
    assert!(check(&parsed).is_linearizable());
}

#[test]
fn generation_is_deterministic() {
    let config = GeneratorConfig::default();
    assert_eq!(generate_history(&config, 42), generate_history(&config, 42));
    assert_ne!(generate_history(&config, 42), generate_history(&config, 43));
}

/// A tiny operation for the brute-force oracle: `value` is written (put) or read (get).
#[derive(Clone, Debug)]
struct Tiny {
    put: bool,
    value: Option<&'static str>,
    call: u64,
    /// `None`: unknown outcome.
    ret: Option<u64>,
}

/// Decides linearizability from an absent key by trying every order of every allowed subset.
fn brute_force(ops: &[Tiny]) -> bool {
    brute_force_from(ops, None)
}

/// Decides linearizability with an unknown initial value: some initial value
/// works. Only absent and the values some get read need trying: an initial
/// value no get reads is read by no get in the order, so any other does as well.
fn brute_force_unknown(ops: &[Tiny]) -> bool {
    let mut initials: Vec<Option<&str>> = vec![None];
    initials.extend(ops.iter().filter(|o| !o.put && o.ret.is_some()).map(|o| o.value));
    initials.into_iter().any(|initial| brute_force_from(ops, initial))
}

/// Decides linearizability from the key holding `initial`, by trying every
/// order of every allowed subset.
fn brute_force_from(ops: &[Tiny], initial: Option<&str>) -> bool {
    let unknown: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].ret.is_none()).collect();
    (0u32..1 << unknown.len()).any(|mask| {
        let chosen: Vec<usize> = (0..ops.len())
            .filter(|i| match unknown.iter().position(|u| u == i) {
                Some(bit) => mask & (1 << bit) != 0 && ops[*i].put,
                None => true,
            })
            .collect();
        permutations_ok(ops, initial, &chosen, &mut Vec::new())
    })
}

fn permutations_ok(ops: &[Tiny], initial: Option<&str>, left: &[usize], order: &mut Vec<usize>) -> bool {
    if left.is_empty() {
        let mut state: Option<&str> = initial;
        for &i in order.iter() {
            if ops[i].put {
                state = ops[i].value;
            } else if state != ops[i].value {
                return false;
            }
        }
        return true;
    }
    for (k, &i) in left.iter().enumerate() {
        // i may come next only if no remaining op returned before i was invoked.
        if left.iter().any(|&j| j != i && ops[j].ret.is_some_and(|r| r < ops[i].call)) {
            continue;
        }
        let rest: Vec<usize> = left.iter().enumerate().filter(|&(x, _)| x != k).map(|(_, &j)| j).collect();
        order.push(i);
        let found = permutations_ok(ops, initial, &rest, order);
        order.pop();
        if found {
            return true;
        }
    }
    false
}

/// A tiny operation on a small grid of times (0 to 16).
fn tiny_op() -> impl Strategy<Value = Tiny> {
    (
        any::<bool>(),
        prop_oneof![Just(None), Just(Some("a")), Just(Some("b")), Just(Some("c"))],
        0u64..12,
        0u64..6,
        0u8..8,
    )
        .prop_map(|(put, value, call, len, status)| Tiny {
            put,
            value: if put { value.or(Some("a")) } else { value },
            call,
            ret: (status != 0).then_some(call + len),
        })
}

/// Moves a grid time (0 to 16) by one of three order-keeping maps: as it is
/// (from 0), to the very end of time (16 becomes `u64::MAX`), or squashed
/// onto both edges (0 to 3 become 0, 9 and up `u64::MAX`, so that many
/// events share a time). The checker compares times only, so any such map
/// keeps the verdict, and the brute force sees the mapped times too.
fn edge_time(map: u8, t: u64) -> u64 {
    match map {
        0 => t,
        1 => u64::MAX - 16 + t,
        _ if t <= 3 => 0,
        _ if t >= 9 => u64::MAX,
        _ => t,
    }
}

/// Up to 7 tiny operations, their times moved by [`edge_time`].
fn tiny_history() -> impl Strategy<Value = Vec<Tiny>> {
    (proptest::collection::vec(tiny_op(), 1..8), 0u8..3).prop_map(|(ops, map)| {
        ops.into_iter()
            .map(|op| Tiny { call: edge_time(map, op.call), ret: op.ret.map(|r| edge_time(map, r)), ..op })
            .collect()
    })
}

/// Like [`tiny_history`], but every put writes its own value; a get reads
/// absent, one of the puts' values, or a value nobody wrote.
fn tiny_distinct_history() -> impl Strategy<Value = Vec<Tiny>> {
    const VALUES: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];
    (tiny_history(), proptest::collection::vec(0usize..10, 8)).prop_map(|(mut ops, picks)| {
        let puts = ops.iter().filter(|o| o.put).count();
        let mut next = 0;
        for (op, pick) in ops.iter_mut().zip(picks) {
            if op.put {
                op.value = Some(VALUES[next]);
                next += 1;
            } else {
                op.value = match pick {
                    0 => None,
                    1 => Some("never-written"),
                    _ if puts == 0 => None,
                    p => Some(VALUES[p % puts]),
                };
            }
        }
        ops
    })
}

/// A tiny history as events, one process per operation; an unknown outcome
/// is an `info` completion for even processes and no completion for odd ones.
fn tiny_events(ops: &[Tiny]) -> Vec<HistoryEvent> {
    let mut events = Vec::new();
    for (p, op) in ops.iter().enumerate() {
        let f = if op.put { OpKind::Put } else { OpKind::Get };
        let invoke_value = if op.put { op.value } else { None };
        events.push(HistoryEvent::invoke(p as u64, f, "k", invoke_value, op.call));
        match op.ret {
            Some(ret) => events.push(HistoryEvent::complete(EventType::Ok, p as u64, f, "k", op.value, ret)),
            None if p % 2 == 0 => events.push(HistoryEvent::complete(
                EventType::Info,
                p as u64,
                f,
                "k",
                invoke_value,
                op.call.saturating_add(3),
            )),
            None => {}
        }
    }
    events.sort_by_key(|e| e.time);
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The search agrees with exhaustive enumeration on small arbitrary histories.
    #[test]
    fn agrees_with_brute_force(ops in tiny_history()) {
        let verdict = check(&tiny_events(&ops));
        prop_assert_eq!(verdict.is_linearizable(), brute_force(&ops), "{:?}\n{}", ops, verdict);
    }

    /// With unknown initial values, the search agrees with exhaustive
    /// enumeration of every order and every initial value that matters.
    #[test]
    fn unknown_initial_agrees_with_brute_force(ops in tiny_history()) {
        let verdict = check_in(&tiny_events(&ops), Initial::Unknown);
        prop_assert_eq!(verdict.is_linearizable(), brute_force_unknown(&ops), "{:?}\n{}", ops, verdict);
    }

    /// An absent key is one possible unknown initial value, so declaring the
    /// initial values unknown never turns a pass into a failure.
    #[test]
    fn linearizable_from_empty_is_linearizable_from_unknown(ops in tiny_history()) {
        let events = tiny_events(&ops);
        if check(&events).is_linearizable() {
            let verdict = check_in(&events, Initial::Unknown);
            prop_assert!(verdict.is_linearizable(), "{:?}\n{}", ops, verdict);
        }
    }

    /// With distinct put values the zone check decides every tiny history,
    /// and agrees with exhaustive enumeration from an absent key and from an
    /// unknown initial value; a failure's excerpt fails by itself.
    #[test]
    fn zones_agree_with_brute_force(ops in tiny_distinct_history()) {
        let paired = pair_operations(&tiny_events(&ops)).expect("tiny histories are well formed");
        for (initial, expected) in [(Initial::Empty, brute_force(&ops)), (Initial::Unknown, brute_force_unknown(&ops))] {
            let options = CheckOptions { initial, ..Default::default() };
            let verdict = check_operations_using(&paired, &options, Algorithm::Zones);
            prop_assert!(!matches!(verdict, Verdict::Unknown { .. }), "{:?}\n{}", ops, verdict);
            prop_assert_eq!(verdict.is_linearizable(), expected, "{:?} {:?}\n{}", initial, ops, verdict);
            if let Verdict::NotLinearizable { excerpt, .. } = &verdict {
                assert_excerpt_fails(excerpt, initial);
            }
        }
    }
}

/// `history` preceded by a completed put of `value` to `key` that ends before
/// anything else starts (every other time moves one nanosecond later).
fn with_initial_put(history: &[HistoryEvent], key: &str, value: &str) -> Vec<HistoryEvent> {
    let process = history.iter().map(|e| e.process).max().unwrap_or(0) + 1;
    let mut events = vec![
        HistoryEvent::invoke(process, OpKind::Put, key, Some(value), 0),
        HistoryEvent::complete(EventType::Ok, process, OpKind::Put, key, Some(value), 0),
    ];
    events.extend(history.iter().map(|e| HistoryEvent { time: e.time + 1, ..e.clone() }));
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// On longer generated one-key histories, intact or with one read
    /// corrupted: unknown initial values mean "linearizable from absent, or
    /// from some value a get read", each checked as an ordinary history that
    /// begins with a put of that value.
    #[test]
    fn unknown_initial_is_some_initial_put(
        seed in any::<u64>(),
        operations in 1usize..60,
        processes in 1usize..6,
        overlap in 0.0f64..=1.0,
        info_ratio in 0.0f64..0.3,
        corrupt in any::<bool>(),
    ) {
        let config = GeneratorConfig {
            operations,
            keys: 1,
            processes,
            put_ratio: 0.5,
            info_ratio,
            fail_ratio: 0.05,
            overlap,
        };
        let mut history = generate_history(&config, seed);
        if corrupt {
            corrupt_one_read(&mut history, &mut Xoshiro256PlusPlus::seed_from_u64(seed))
                .map(|_| ())
                .unwrap_or_default();
        }
        let mut reads: Vec<&str> = history
            .iter()
            .filter(|e| e.kind == EventType::Ok && e.f == OpKind::Get)
            .filter_map(|e| e.value.as_deref())
            .collect();
        reads.sort_unstable();
        reads.dedup();
        let expected = check(&history).is_linearizable()
            || reads.iter().any(|v| check(&with_initial_put(&history, "k0", v)).is_linearizable());
        let verdict = check_in(&history, Initial::Unknown);
        prop_assert_eq!(verdict.is_linearizable(), expected, "seed {} {:?} corrupt {}\n{}", seed, config, corrupt, verdict);
        if check(&history).is_linearizable() {
            prop_assert!(verdict.is_linearizable());
        }
    }
}

/// Breaks a generated history in ways that may or may not keep it
/// linearizable: `changes` gets read another value (absent, some put's value,
/// a value nobody wrote), and some `ok` gets become `info` gets.
fn perturb(history: &mut [HistoryEvent], seed: u64, changes: usize, info_gets: f64) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let written: Vec<String> = history
        .iter()
        .filter(|e| e.kind == EventType::Invoke && e.f == OpKind::Put)
        .filter_map(|e| e.value.clone())
        .collect();
    let gets: Vec<usize> = (0..history.len())
        .filter(|&i| history[i].kind == EventType::Ok && history[i].f == OpKind::Get)
        .collect();
    if gets.is_empty() {
        return;
    }
    for _ in 0..changes {
        let get = gets[rng.random_range(0..gets.len())];
        history[get].value = match rng.random_range(0..6u32) {
            0 => None,
            1 => Some("never-written".to_string()),
            _ if written.is_empty() => None,
            _ => Some(written[rng.random_range(0..written.len())].clone()),
        };
    }
    for &get in &gets {
        if rng.random_bool(info_gets) {
            history[get].kind = EventType::Info;
            history[get].value = None;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// On generated histories with distinct put values, `info` puts and gets,
    /// failed operations, a few reads changed and either initial value, the
    /// zone check agrees with the search wherever the search decides.
    #[test]
    fn zones_agree_with_the_search(
        seed in any::<u64>(),
        operations in 1usize..150,
        keys in 1usize..3,
        processes in 1usize..8,
        overlap in 0.0f64..=1.0,
        info_ratio in 0.0f64..0.3,
        fail_ratio in 0.0f64..0.2,
        changes in 0usize..3,
        info_gets in 0.0f64..0.2,
    ) {
        let config = GeneratorConfig { operations, keys, processes, put_ratio: 0.5, info_ratio, fail_ratio, overlap };
        let mut history = generate_history(&config, seed);
        perturb(&mut history, seed, changes, info_gets);
        let ops = pair_operations(&history).expect("generated histories are well formed");
        for initial in [Initial::Empty, Initial::Unknown] {
            let zones = check_operations_using(&ops, &CheckOptions { initial, time_limit: None }, Algorithm::Zones);
            prop_assert!(!matches!(zones, Verdict::Unknown { .. }), "{}", zones);
            let limited = CheckOptions { initial, time_limit: Some(Duration::from_secs(5)) };
            let search = check_operations_using(&ops, &limited, Algorithm::Search);
            if !matches!(search, Verdict::Unknown { .. }) {
                prop_assert_eq!(
                    zones.is_linearizable(),
                    search.is_linearizable(),
                    "seed {} {:?} changes {} {:?}\nzones: {}\nsearch: {}", seed, config, changes, initial, zones, search
                );
            }
            if let Verdict::NotLinearizable { excerpt, .. } = &zones {
                prop_assert!(excerpt.len() <= 8, "{}", zones);
                assert_excerpt_fails(excerpt, initial);
            }
        }
    }
}

/// One hot key, 256 clients all overlapping, 20,000 operations: far beyond
/// the search, decided by the zone check, intact and with one read corrupted.
#[test]
fn one_key_256_clients_is_decided() {
    let config = GeneratorConfig {
        operations: 20_000,
        keys: 1,
        processes: 256,
        put_ratio: 0.5,
        info_ratio: 0.05,
        fail_ratio: 0.02,
        overlap: 1.0,
    };
    let limited = |initial| CheckOptions { initial, time_limit: Some(Duration::from_secs(30)) };
    for seed in 0..3 {
        let mut history = generate_history(&config, seed);
        for initial in [Initial::Empty, Initial::Unknown] {
            let verdict = check_history(&history, &limited(initial)).expect("well formed");
            assert!(verdict.is_linearizable(), "seed {seed} {initial:?}: {verdict}");
        }
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let corruption = corrupt_one_read(&mut history, &mut rng).expect("the history has gets");
        let verdict = check_history(&history, &limited(Initial::Empty)).expect("well formed");
        match &verdict {
            Verdict::NotLinearizable { excerpt, .. } => {
                assert!(excerpt.len() <= 8, "seed {seed} {corruption:?}: {verdict}");
                assert_excerpt_fails(excerpt, Initial::Empty);
            }
            other => panic!("seed {seed} {corruption:?}: {other}"),
        }
    }
}
