//! Seeded generation of histories, for the checker's tests and benchmarks.
//!
//! [`generate_history`] produces histories that are linearizable by
//! construction: it runs random puts and gets sequentially against a map,
//! giving each operation a distinct linearization point in time, then widens
//! each operation's interval around its point without overlapping the same
//! client's previous and next operations. [`corrupt_one_read`] then breaks
//! exactly one read in a way that certainly is not linearizable, to test
//! that the checker notices.

use std::collections::HashMap;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt, SeedableRng};

use super::history::{EventType, HistoryEvent, OpKind};

/// The shape of a generated history.
///
/// Exists so tests and benches can describe workloads (many keys and few
/// conflicts, or one hot key and many overlapping clients) in one place.
#[derive(Clone, Debug)]
pub struct GeneratorConfig {
    /// Number of operations (invokes).
    pub operations: usize,
    /// Number of keys, named `k0`, `k1`, ...
    pub keys: usize,
    /// Number of client processes, numbered from 0.
    pub processes: usize,
    /// Probability that an operation is a put (otherwise a get).
    pub put_ratio: f64,
    /// Probability that a put has an unknown outcome (`info`, or no completion
    /// at the end of the history); such a put takes effect with probability 2/3.
    pub info_ratio: f64,
    /// Probability that an operation fails (`fail`, no effect).
    pub fail_ratio: f64,
    /// How far intervals are widened around their linearization points, from
    /// 0.0 (intervals are points: no concurrency) to 1.0 (as wide as the
    /// client's neighbouring operations allow: maximal concurrency).
    pub overlap: f64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            operations: 200,
            keys: 3,
            processes: 5,
            put_ratio: 0.5,
            info_ratio: 0.05,
            fail_ratio: 0.02,
            overlap: 1.0,
        }
    }
}

/// One generated operation before it becomes events.
struct Planned {
    process: usize,
    key: String,
    f: OpKind,
    /// The value written, or read.
    value: Option<String>,
    /// Linearization point.
    point: u64,
    outcome: EventType,
}

/// Generates a linearizable history of `config.operations` operations.
///
/// The same `seed` and config always give the same history. Put values are
/// unique (`v<n>`), events are sorted by time, and at most one operation per
/// process is in flight at a time.
pub fn generate_history(config: &GeneratorConfig, seed: u64) -> Vec<HistoryEvent> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let processes = config.processes.max(1);
    let (plan, end) = plan_operations(config, processes, &mut rng);

    let mut by_process: Vec<Vec<usize>> = vec![Vec::new(); processes];
    for (i, p) in plan.iter().enumerate() {
        by_process[p.process].push(i);
    }
    let overlap = config.overlap.clamp(0.0, 1.0);
    let mut events: Vec<HistoryEvent> = Vec::with_capacity(2 * plan.len());
    for ops in &by_process {
        push_process_events(&plan, ops, end, overlap, &mut rng, &mut events);
    }
    // A stable sort keeps each process's invoke before its completion at equal times.
    events.sort_by_key(|e| e.time);
    events
}

/// Runs random operations one after another against a map, each at its own
/// linearization point; returns them and a time after the last point that
/// leaves room for the last intervals.
fn plan_operations(
    config: &GeneratorConfig,
    processes: usize,
    rng: &mut Xoshiro256PlusPlus,
) -> (Vec<Planned>, u64) {
    let keys = config.keys.max(1);
    let mut store: HashMap<String, String> = HashMap::new();
    let mut plan: Vec<Planned> = Vec::with_capacity(config.operations);
    let mut now = 1_000u64;
    for n in 0..config.operations {
        now += rng.random_range(100..1_000u64);
        let key = format!("k{}", rng.random_range(0..keys));
        let process = rng.random_range(0..processes);
        let is_put = rng.random_bool(config.put_ratio.clamp(0.0, 1.0));
        let outcome = if rng.random_bool(config.fail_ratio.clamp(0.0, 1.0)) {
            EventType::Fail
        } else if is_put && rng.random_bool(config.info_ratio.clamp(0.0, 1.0)) {
            EventType::Info
        } else {
            EventType::Ok
        };
        let (f, value) = if is_put {
            let value = format!("v{n}");
            let applies = match outcome {
                EventType::Ok => true,
                EventType::Info => rng.random_bool(2.0 / 3.0),
                _ => false,
            };
            if applies {
                store.insert(key.clone(), value.clone());
            }
            (OpKind::Put, Some(value))
        } else {
            (OpKind::Get, store.get(&key).cloned())
        };
        plan.push(Planned { process, key, f, value, point: now, outcome });
    }
    (plan, now + 1_000 * processes as u64)
}

/// Pushes the events of one process's operations (`ops`, indices into
/// `plan` in time order), each interval widened around its point by up to
/// `overlap` of the room left between the process's neighbouring operations
/// (`end` bounds the last one).
fn push_process_events(
    plan: &[Planned],
    ops: &[usize],
    end: u64,
    overlap: f64,
    rng: &mut Xoshiro256PlusPlus,
    events: &mut Vec<HistoryEvent>,
) {
    let mut free_from = 0u64; // the next invoke must come strictly after this
    for (j, &i) in ops.iter().enumerate() {
        let op = &plan[i];
        let next_point = ops.get(j + 1).map_or(end, |&n| plan[n].point);
        let widen =
            |rng: &mut Xoshiro256PlusPlus, room: u64| (rng.random_range(0..=room) as f64 * overlap) as u64;
        let call = op.point - widen(rng, op.point - free_from - 1);
        // An unknown outcome may be reported before the operation takes effect.
        let earliest_ret = if op.outcome == EventType::Info { call } else { op.point };
        let ret = earliest_ret + widen(rng, next_point - 1 - earliest_ret);
        free_from = ret;
        let node = Some(rng.random_range(1..=3u64));
        let invoke_value = match op.f {
            OpKind::Put => op.value.as_deref(),
            OpKind::Get => None,
        };
        events.push(HistoryEvent {
            node,
            ..HistoryEvent::invoke(op.process as u64, op.f, &op.key, invoke_value, call)
        });
        let last = j + 1 == ops.len();
        if op.outcome == EventType::Info && last && rng.random_bool(0.5) {
            continue; // never completed: the history ends with it in flight
        }
        let value = match (op.f, op.outcome) {
            (OpKind::Get, EventType::Ok) | (OpKind::Put, _) => op.value.as_deref(),
            _ => None,
        };
        let mut done = HistoryEvent::complete(op.outcome, op.process as u64, op.f, &op.key, value, ret);
        done.node = node;
        done.error = match op.outcome {
            EventType::Fail => Some("not leader".to_string()),
            EventType::Info => Some("timeout".to_string()),
            _ => None,
        };
        events.push(done);
    }
}

/// How [`corrupt_one_read`] broke a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorruptionKind {
    /// The get now returns a value no put ever wrote.
    NeverWritten,
    /// The get now returns the value of a put that was invoked after the get returned.
    FromTheFuture,
    /// The get now returns the value of a put that failed.
    FailedWrite,
    /// The get now returns null although a put had completed before it was invoked.
    NullAfterWrite,
    /// The get now returns a value that a later completed put overwrote before the get was invoked.
    Overwritten,
}

/// What [`corrupt_one_read`] changed, so a test can report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// Index of the changed `ok` event of the get.
    pub index: usize,
    /// The value it read before.
    pub before: Option<String>,
    /// The value it reads now.
    pub after: Option<String>,
    /// Which kind of impossible read it is.
    pub kind: CorruptionKind,
}

/// A put as seen by [`corrupt_one_read`].
struct PutInfo {
    call: u64,
    ret: Option<u64>,
    outcome: EventType,
    value: String,
}

/// The puts and `ok` gets of a history, as [`corrupt_one_read`] sees them.
struct Reads<'h> {
    /// The puts of each key.
    puts: HashMap<&'h str, Vec<PutInfo>>,
    /// Each `ok` get: the index of its `ok` event, its call and its return.
    gets: Vec<(usize, u64, u64)>,
    /// How many puts invoked each (key, value).
    value_count: HashMap<(&'h str, &'h str), usize>,
}

/// Changes the value read by one randomly chosen `ok` get so that the history
/// is certainly not linearizable; returns `None` if there is no `ok` get.
///
/// Every kind of change is impossible in any order, whatever the other
/// operations did: provided put values are unique per key (as
/// [`generate_history`] makes them), the new value was never written, or only
/// by a put invoked after the get returned, or only by a failed put; or null
/// is read after a completed put; or a value is read whose only put completed
/// before another completed put started, which itself completed before the get.
pub fn corrupt_one_read<R: Rng + ?Sized>(history: &mut [HistoryEvent], rng: &mut R) -> Option<Corruption> {
    let reads = collect_reads(history);
    if reads.gets.is_empty() {
        return None;
    }
    let (index, call, ret) = reads.gets[rng.random_range(0..reads.gets.len())];
    let before = history[index].value.clone();
    let (kind, after) = choose_corruption(&reads, &history[index].key, call, ret, &before, rng);
    history[index].value = after.clone();
    Some(Corruption { index, before, after, kind })
}

/// Pairs invokes with completions (histories from [`generate_history`] are
/// well formed) to find the puts and the `ok` gets.
fn collect_reads(history: &[HistoryEvent]) -> Reads<'_> {
    let mut pending: HashMap<u64, usize> = HashMap::new();
    let mut puts: HashMap<&str, Vec<PutInfo>> = HashMap::new();
    let mut gets: Vec<(usize, u64, u64)> = Vec::new(); // (ok event index, call, ret)
    let mut value_count: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, e) in history.iter().enumerate() {
        if e.kind == EventType::Invoke {
            pending.insert(e.process, i);
            if e.f == OpKind::Put
                && let Some(v) = &e.value
            {
                *value_count.entry((&e.key, v)).or_default() += 1;
            }
            continue;
        }
        let Some(start) = pending.remove(&e.process) else {
            continue;
        };
        let call = history[start].time;
        match e.f {
            OpKind::Get if e.kind == EventType::Ok => gets.push((i, call, e.time)),
            OpKind::Put => {
                if let Some(v) = &history[start].value {
                    puts.entry(&e.key).or_default().push(PutInfo {
                        call,
                        ret: (e.kind != EventType::Info).then_some(e.time),
                        outcome: e.kind,
                        value: v.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    for (_, start) in pending {
        let e = &history[start];
        if e.f == OpKind::Put
            && let Some(v) = &e.value
        {
            puts.entry(&e.key).or_default().push(PutInfo {
                call: e.time,
                ret: None,
                outcome: EventType::Info,
                value: v.clone(),
            });
        }
    }
    Reads { puts, gets, value_count }
}

/// Picks at random one impossible value for the get of `key` invoked at
/// `call` that returned at `ret` having read `before`, among the kinds of
/// [`CorruptionKind`] that this history allows.
fn choose_corruption<R: Rng + ?Sized>(
    reads: &Reads<'_>,
    key: &str,
    call: u64,
    ret: u64,
    before: &Option<String>,
    rng: &mut R,
) -> (CorruptionKind, Option<String>) {
    let none = Vec::new();
    let key_puts = reads.puts.get(key).unwrap_or(&none);
    let unique = |v: &str| reads.value_count.get(&(key, v)).copied() == Some(1);

    let mut options: Vec<(CorruptionKind, Option<String>)> = Vec::new();
    let pick = |rng: &mut R, list: Vec<&PutInfo>| -> Option<String> {
        (!list.is_empty()).then(|| list[rng.random_range(0..list.len())].value.clone())
    };
    let future: Vec<&PutInfo> = key_puts.iter().filter(|p| p.call > ret && unique(&p.value)).collect();
    if let Some(v) = pick(rng, future) {
        options.push((CorruptionKind::FromTheFuture, Some(v)));
    }
    let failed: Vec<&PutInfo> =
        key_puts.iter().filter(|p| p.outcome == EventType::Fail && unique(&p.value)).collect();
    if let Some(v) = pick(rng, failed) {
        options.push((CorruptionKind::FailedWrite, Some(v)));
    }
    let completed_before = |p: &&PutInfo| p.outcome == EventType::Ok && p.ret.is_some_and(|r| r < call);
    if before.is_some() && key_puts.iter().any(|p| completed_before(&p)) {
        options.push((CorruptionKind::NullAfterWrite, None));
    }
    let overwritten: Vec<&PutInfo> = key_puts
        .iter()
        .filter(|w| {
            w.outcome == EventType::Ok
                && unique(&w.value)
                && Some(&w.value) != before.as_ref()
                && key_puts.iter().any(|y| completed_before(&y) && w.ret.is_some_and(|wr| y.call > wr))
        })
        .collect();
    if let Some(v) = pick(rng, overwritten) {
        options.push((CorruptionKind::Overwritten, Some(v)));
    }
    options.push((
        CorruptionKind::NeverWritten,
        Some(format!("never-written-{}", rng.random_range(0..1_000_000u32))),
    ));
    options.swap_remove(rng.random_range(0..options.len()))
}
