//! Speed of going back in time on a long run: opening a 1,000,000-event log (reading and
//! parsing every line, then folding every event into the state with checkpoints) and standing
//! at its end and in its middle (from the nearest checkpoint). The log is a real simulated run
//! (seed 1, 5 nodes, 20 clients, every fault), written once to the target directory.

use criterion::{Criterion, criterion_group, criterion_main};
use quorum::replay::{Timeline, read_file};
use quorum::sim::{SimOptions, Sinks, run};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

/// A simulated run of at least a million events, written once.
fn log() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("replay-bench-1m.jsonl");
    if !path.exists() {
        let options = SimOptions {
            seed: 1,
            nodes: 5,
            clients: 20,
            ops: 22_000,
            keys: 5,
            nemesis: "all".parse().expect("faults"),
            hazard: None,
            snapshots: Default::default(),
        };
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create the log"));
        run(&options, Sinks { events: Some(&mut file), history: None, probe: None }).expect("run");
    }
    path
}

fn replay(c: &mut Criterion) {
    let path = log();
    let events = read_file(&path).expect("read").events;
    let n = events.len();
    assert!(n >= 1_000_000, "the log has {n} events");
    let mut group = c.benchmark_group("replay_1m_events");
    group.sample_size(10).measurement_time(Duration::from_secs(40));
    group.bench_function("open", |b| {
        b.iter(|| Timeline::of(read_file(black_box(&path)).expect("read").events).len())
    });
    let timeline = Timeline::of(events);
    group.bench_function("stand_at_the_last_event_but_one", |b| {
        b.iter(|| timeline.scene_at(black_box(n - 1)).events)
    });
    group.bench_function("stand_in_the_middle", |b| {
        b.iter(|| timeline.scene_at(black_box(n / 2 + 17)).events)
    });
    group.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
