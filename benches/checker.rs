//! Speed of the linearizability checker on generated histories of three
//! shapes: many keys with little contention per key, one hot key with every
//! client overlapping (the reference point is porcupine on these two), and
//! one hot key with 256 clients overlapping, which only the zone check
//! decides (the search gives up on it).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use quorum::check::generate::{GeneratorConfig, generate_history};
use quorum::check::{CheckOptions, HistoryEvent, check_history};

fn linearizable(events: &[HistoryEvent]) -> bool {
    check_history(events, &CheckOptions::default()).is_ok_and(|v| v.is_linearizable())
}

fn bench(c: &mut Criterion, name: &str, config: &GeneratorConfig) {
    let history = generate_history(config, 1);
    assert!(linearizable(&history), "{name}: generated history must be linearizable");
    c.bench_function(name, |b| b.iter(|| linearizable(black_box(&history))));
}

fn checker(c: &mut Criterion) {
    // (a) 100,000 operations over 100 keys, 10 clients, 2% of operations are
    // puts with unknown outcome (half the operations are puts, 4% of those info).
    bench(
        c,
        "100k_ops_100_keys_10_clients_2pct_info",
        &GeneratorConfig {
            operations: 100_000,
            keys: 100,
            processes: 10,
            put_ratio: 0.5,
            info_ratio: 0.04,
            fail_ratio: 0.0,
            overlap: 1.0,
        },
    );
    // (b) 1,000 operations on one key, 10 clients, intervals as wide as possible.
    bench(
        c,
        "1k_ops_1_key_10_clients",
        &GeneratorConfig {
            operations: 1_000,
            keys: 1,
            processes: 10,
            put_ratio: 0.5,
            info_ratio: 0.0,
            fail_ratio: 0.0,
            overlap: 1.0,
        },
    );
    // (c) 100,000 operations on one key, 256 clients, intervals as wide as
    // possible, 2% of operations puts with unknown outcome, 1% failed.
    bench(
        c,
        "100k_ops_1_key_256_clients",
        &GeneratorConfig {
            operations: 100_000,
            keys: 1,
            processes: 256,
            put_ratio: 0.5,
            info_ratio: 0.04,
            fail_ratio: 0.01,
            overlap: 1.0,
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = checker
}
criterion_main!(benches);
