//! Generated histories: linearizable by construction, and caught once a read is corrupted.

use std::collections::HashSet;

use proptest::prelude::*;
use quorum::check::generate::{CorruptionKind, GeneratorConfig, corrupt_one_read, generate_history};
use quorum::check::{
    CheckOptions, EventType, HistoryEvent, HistoryWriter, Initial, OpKind, Verdict, check_history,
    pair_operations, parse_history,
};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

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
        Verdict::NotLinearizable { excerpt, .. } => assert!(
            (1..=8).contains(&excerpt.len()),
            "seed {seed}, {config:?}: {corruption:?}: excerpt not shrunk: {verdict}"
        ),
        _ => panic!("seed {seed}, {config:?}: {corruption:?} not caught: {verdict}"),
    }
    Some(corruption.kind)
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
                op.call + 3,
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
    fn agrees_with_brute_force(ops in proptest::collection::vec(tiny_op(), 1..8)) {
        let verdict = check(&tiny_events(&ops));
        prop_assert_eq!(verdict.is_linearizable(), brute_force(&ops), "{:?}\n{}", ops, verdict);
    }

    /// With unknown initial values, the search agrees with exhaustive
    /// enumeration of every order and every initial value that matters.
    #[test]
    fn unknown_initial_agrees_with_brute_force(ops in proptest::collection::vec(tiny_op(), 1..8)) {
        let verdict = check_in(&tiny_events(&ops), Initial::Unknown);
        prop_assert_eq!(verdict.is_linearizable(), brute_force_unknown(&ops), "{:?}\n{}", ops, verdict);
    }

    /// An absent key is one possible unknown initial value, so declaring the
    /// initial values unknown never turns a pass into a failure.
    #[test]
    fn linearizable_from_empty_is_linearizable_from_unknown(ops in proptest::collection::vec(tiny_op(), 1..8)) {
        let events = tiny_events(&ops);
        if check(&events).is_linearizable() {
            let verdict = check_in(&events, Initial::Unknown);
            prop_assert!(verdict.is_linearizable(), "{:?}\n{}", ops, verdict);
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
