//! Checking the operations of one key, and explaining a failure.
//!
//! Linearizability is compositional (Herlihy & Wing): a history is
//! linearizable iff each key's sub-history is, so each key is checked alone.
//! Before the search, cheap tests catch the plainest violations (a read of a
//! value no put wrote before the read returned); after a failed search, the
//! failing operations are shrunk to a small set that still fails, so the
//! report shows a handful of operations instead of a thousand.

use std::collections::HashMap;
use std::time::Instant;

use super::hash::FxBuild;
use super::history::{OpStatus, Operation, OperationKind};
use super::search::{ABSENT, Outcome, SearchOp, Step, Trace, search};

/// The result for one key.
#[derive(Debug)]
pub(crate) enum KeyResult {
    /// Some order works.
    Linearizable,
    /// No order works.
    NotLinearizable {
        /// The operations that cannot be ordered, rendered, by invoke time.
        excerpt: Vec<String>,
        /// Why, in plain English.
        reason: String,
    },
    /// The deadline passed first.
    TimedOut,
}

/// How many searches the shrinking of a failing history may run.
const SHRINK_BUDGET: usize = 4000;
/// Longest excerpt shown when shrinking could not finish.
const MAX_EXCERPT: usize = 40;

/// Checks the operations of one key (all of them must have that key).
pub(crate) fn check_key(ops: &[&Operation], deadline: Option<Instant>) -> KeyResult {
    // An info get constrains nothing: it may have read anything, or nothing.
    let mut ops: Vec<&Operation> = ops
        .iter()
        .copied()
        .filter(|o| o.status == OpStatus::Ok || matches!(o.kind, OperationKind::Put(_)))
        .collect();
    ops.sort_by_key(|o| (o.call, o.invoke_index));
    let model = Model::new(&ops);

    if let Some(result) = precheck(&model) {
        return result;
    }

    // A put with an unknown outcome whose value nobody read can always be
    // left out: the reads between it and the next put would have seen it.
    let mut read = vec![false; model.values.len()];
    for (op, &v) in ops.iter().zip(&model.value_of) {
        if op.status == OpStatus::Ok && matches!(op.kind, OperationKind::Get(_)) {
            read[v as usize] = true;
        }
    }
    let active: Vec<usize> = (0..ops.len())
        .filter(|&i| model.is_get(i) || ops[i].status == OpStatus::Ok || read[model.value_of[i] as usize])
        .collect();

    match search(&model.search_ops(&active), deadline, false) {
        Outcome::Linearizable => KeyResult::Linearizable,
        Outcome::TimedOut => KeyResult::TimedOut,
        Outcome::NotLinearizable(trace) => {
            let stuck = trace.stuck.map(|s| active[s]);
            let core = shrink(&model, active, stuck, deadline);
            explain(&model, &ops, &core)
        }
    }
}

/// The key's values interned to small ids, the search's input.
struct Model<'a> {
    /// Interned value per operation (the value written, or read).
    value_of: Vec<u32>,
    /// The value behind each id (`values[0]` is unused: `ABSENT`).
    values: Vec<&'a str>,
    /// The search's view of each operation.
    steps: Vec<SearchOp>,
    ops: &'a [&'a Operation],
}

impl<'a> Model<'a> {
    fn new(ops: &'a [&'a Operation]) -> Self {
        let mut ids: HashMap<&str, u32, FxBuild> = HashMap::default();
        let mut values = vec![""];
        let mut intern = |v: &'a str| {
            *ids.entry(v).or_insert_with(|| {
                values.push(v);
                (values.len() - 1) as u32
            })
        };
        let value_of: Vec<u32> = ops
            .iter()
            .map(|o| match &o.kind {
                OperationKind::Put(v) | OperationKind::Get(Some(v)) => intern(v),
                OperationKind::Get(None) => ABSENT,
            })
            .collect();
        let steps = ops
            .iter()
            .zip(&value_of)
            .map(|(op, &v)| SearchOp {
                call: op.call,
                ret: match op.status {
                    OpStatus::Ok => op.ret,
                    OpStatus::Info => None,
                },
                step: match op.kind {
                    OperationKind::Put(_) => Step::Put(v),
                    OperationKind::Get(_) => Step::Get(v),
                },
            })
            .collect();
        Model { value_of, values, steps, ops }
    }

    /// The search input for a subset of the operations (indices, ascending).
    fn search_ops(&self, subset: &[usize]) -> Vec<SearchOp> {
        subset.iter().map(|&i| self.steps[i]).collect()
    }

    fn is_get(&self, i: usize) -> bool {
        matches!(self.ops[i].kind, OperationKind::Get(_))
    }

    fn show(&self, id: u32) -> String {
        if id == ABSENT { "absent".to_string() } else { self.values[id as usize].to_string() }
    }
}

/// Names an operation in prose: `the put of v7 by p3 [120, 184]`, `the get by p4 [130, 190]`.
fn name(op: &Operation) -> String {
    let what = match &op.kind {
        OperationKind::Put(v) => format!("put of {v}"),
        OperationKind::Get(_) => "get".to_string(),
    };
    match op.ret {
        Some(ret) if op.status == OpStatus::Ok => {
            format!("the {what} by p{} [{}, {}]", op.process, op.call, ret)
        }
        _ => format!("the {what} by p{} [{}, ?]", op.process, op.call),
    }
}

fn shown(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("null")
}

/// Catches reads of values that no put could have written in time.
fn precheck(model: &Model) -> Option<KeyResult> {
    let ops = model.ops;
    // Earliest invoke of a put of each value (u64::MAX: none).
    let mut first_put = vec![u64::MAX; model.values.len()];
    for (i, op) in ops.iter().enumerate() {
        if !model.is_get(i) {
            let v = model.value_of[i] as usize;
            first_put[v] = first_put[v].min(op.call);
        }
    }
    for (i, get) in ops.iter().enumerate() {
        let (OperationKind::Get(Some(v)), OpStatus::Ok, Some(ret)) = (&get.kind, get.status, get.ret) else {
            continue;
        };
        let id = model.value_of[i];
        let key = &get.key;
        let first = first_put[id as usize];
        if first == u64::MAX {
            return Some(KeyResult::NotLinearizable {
                excerpt: vec![get.to_string()],
                reason: format!(
                    "{} returned {v}, but no put of {key} that could have taken effect \
                     wrote {v} (failed puts have no effect)",
                    name(get)
                ),
            });
        }
        if first > ret {
            let writers: Vec<&Operation> = (0..ops.len())
                .filter(|&w| !model.is_get(w) && model.value_of[w] == id)
                .map(|w| ops[w])
                .collect();
            let mut excerpt = vec![get.to_string()];
            excerpt.extend(writers.iter().take(MAX_EXCERPT).map(|w| w.to_string()));
            return Some(KeyResult::NotLinearizable {
                excerpt,
                reason: format!(
                    "{} returned {v}, but {} of {v} was invoked only at {first}, after the get \
                     had returned",
                    name(get),
                    if writers.len() == 1 { "the only put" } else { "every put" },
                ),
            });
        }
    }
    None
}

/// Shrinks a failing set of operations (indices into the model) to a small
/// set that still fails, in the manner of delta debugging.
///
/// Only removals that cannot create a violation are tried: dropping a get
/// only removes constraints, and dropping a put that no remaining get read
/// cannot make any remaining get unjustifiable. So every set this keeps is a
/// genuine witness that the whole history is not linearizable.
///
/// `stuck` is the operation the first search could not place: nothing invoked
/// after it returned is needed to show the failure, so that suffix is tried
/// first.
fn shrink(
    model: &Model,
    mut core: Vec<usize>,
    stuck: Option<usize>,
    deadline: Option<Instant>,
) -> Vec<usize> {
    let mut budget = SHRINK_BUDGET;
    let mut fails = |subset: &[usize]| -> Option<bool> {
        if budget == 0 {
            return None;
        }
        budget -= 1;
        match search(&model.search_ops(subset), deadline, false) {
            Outcome::NotLinearizable(_) => Some(true),
            Outcome::Linearizable => Some(false),
            Outcome::TimedOut => None,
        }
    };
    if let Some(stuck) = stuck
        && let Some(limit) = model.ops[stuck].ret
        && let Some(at) = core.iter().position(|&i| i == stuck)
    {
        // Nothing invoked after the stuck operation returned is needed, and
        // the cause is usually close before it: try a growing window of
        // operations before it, then everything before it.
        let cut = core.partition_point(|&i| model.ops[i].call <= limit);
        let mut window = 16;
        loop {
            let start = at.saturating_sub(window);
            let trial = without(model, &core, |pos| pos < start || pos >= cut);
            if trial.len() < core.len() && fails(&trial) == Some(true) {
                core = trial;
                break;
            }
            if start == 0 {
                break;
            }
            window *= 4;
        }
    }
    let mut chunk = core.len().div_ceil(2).max(1);
    loop {
        let mut changed = false;
        let mut i = 0;
        while i < core.len() {
            let end = (i + chunk).min(core.len());
            let trial = without(model, &core, |pos| (i..end).contains(&pos));
            if trial.len() < core.len() {
                match fails(&trial) {
                    Some(true) => {
                        core = trial;
                        changed = true;
                        continue;
                    }
                    Some(false) => {}
                    None => return core,
                }
            }
            i = end;
        }
        if chunk == 1 {
            if !changed {
                return core;
            }
        } else {
            chunk = chunk.div_ceil(2);
        }
    }
}

/// `core` minus the positions for which `remove` holds, except puts read by a remaining get.
fn without(model: &Model, core: &[usize], remove: impl Fn(usize) -> bool) -> Vec<usize> {
    let kept_reads: std::collections::HashSet<u32, FxBuild> = core
        .iter()
        .enumerate()
        .filter(|&(pos, &i)| !remove(pos) && model.is_get(i))
        .map(|(_, &i)| model.value_of[i])
        .collect();
    core.iter()
        .enumerate()
        .filter(|&(pos, &i)| !remove(pos) || (!model.is_get(i) && kept_reads.contains(&model.value_of[i])))
        .map(|(_, &i)| i)
        .collect()
}

/// Renders the failing core and finds the plainest reason it fails.
fn explain(model: &Model, ops: &[&Operation], core: &[usize]) -> KeyResult {
    // Trace the (small) core to say where the search got stuck; a core left
    // large by an interrupted shrink is not searched again.
    let trace = if core.len() <= 4 * MAX_EXCERPT {
        match search(&model.search_ops(core), None, true) {
            Outcome::NotLinearizable(trace) => trace,
            _ => Trace::default(),
        }
    } else {
        Trace::default()
    };
    let stuck = trace.stuck.map(|s| core[s]);

    let mut shown_ops: Vec<usize> = core.to_vec();
    let mut omitted = 0;
    if shown_ops.len() > MAX_EXCERPT {
        // Shrinking was cut short: show the operations nearest the one that got stuck.
        let centre =
            stuck.and_then(|s| shown_ops.iter().position(|&i| i == s)).unwrap_or(shown_ops.len() - 1);
        let start = centre.saturating_sub(MAX_EXCERPT - 1).min(shown_ops.len() - MAX_EXCERPT);
        omitted = shown_ops.len() - MAX_EXCERPT;
        shown_ops = shown_ops[start..start + MAX_EXCERPT].to_vec();
    }
    let mut excerpt: Vec<String> = shown_ops.iter().map(|&i| ops[i].to_string()).collect();
    if omitted > 0 {
        excerpt.push(format!("... and {omitted} more operations not shown"));
    }

    let core_ops: Vec<&Operation> = core.iter().map(|&i| ops[i]).collect();
    let reason = core_ops
        .iter()
        .find_map(|get| simple_reason(&core_ops, get))
        .unwrap_or_else(|| search_reason(model, ops, core, &trace));
    KeyResult::NotLinearizable { excerpt, reason }
}

/// A one-line reason when a get of the core is plainly stale.
///
/// Only operations of the core are named, so the reason can be read off the
/// excerpt. Judging "every put of v" on the core alone is sound because
/// shrinking never drops a put whose value a remaining get read.
fn simple_reason(core: &[&Operation], get: &Operation) -> Option<String> {
    let (OperationKind::Get(value), OpStatus::Ok) = (&get.kind, get.status) else {
        return None;
    };
    let done_before_get = |o: &&&Operation| o.status == OpStatus::Ok && o.ret.is_some_and(|r| r < get.call);
    let is_put = |o: &&&Operation| matches!(o.kind, OperationKind::Put(_));
    match value {
        None => {
            if let Some(put) = core.iter().filter(done_before_get).find(is_put) {
                return Some(format!(
                    "{} returned null (key absent), but {} had already completed before the get \
                     was invoked, and nothing removes a key",
                    name(get),
                    name(put)
                ));
            }
            let seen = core
                .iter()
                .filter(done_before_get)
                .find(|o| matches!(o.kind, OperationKind::Get(Some(_))))?;
            Some(format!(
                "{} returned null (key absent), but {} had already returned {} before the get \
                 was invoked, so a put had taken effect, and nothing removes a key",
                name(get),
                name(seen),
                put_value(seen)
            ))
        }
        Some(v) => {
            let writers: Vec<&Operation> =
                core.iter().filter(|o| matches!(&o.kind, OperationKind::Put(w) if w == v)).copied().collect();
            let mut witness = None;
            for w in &writers {
                let w_ret = match (w.status, w.ret) {
                    (OpStatus::Ok, Some(r)) => r,
                    _ => return None,
                };
                // A put of another value that ran entirely after w and before the get.
                let overwrite = core
                    .iter()
                    .filter(done_before_get)
                    .filter(is_put)
                    .find(|y| y.call > w_ret && !matches!(&y.kind, OperationKind::Put(x) if x == v))?;
                witness.get_or_insert((*w, *overwrite));
            }
            let (w, y) = witness?;
            Some(format!(
                "{} returned {v}, but {} completed, then {} started after it and completed \
                 before the get was invoked, so {v} had been overwritten{}",
                name(get),
                name(w),
                name(y),
                if writers.len() > 1 { " (and likewise for every other put of that value)" } else { "" }
            ))
        }
    }
}

fn put_value(op: &Operation) -> &str {
    match &op.kind {
        OperationKind::Put(v) => v,
        OperationKind::Get(v) => shown(v),
    }
}

/// The general reason, from the deepest point the search reached.
fn search_reason(model: &Model, ops: &[&Operation], core: &[usize], trace: &Trace) -> String {
    let mut reason = format!(
        "no order of these {} operations respects their real-time order and has every get \
         read the value of the latest put before it (or null if none)",
        core.len()
    );
    if trace.order.is_empty() && trace.stuck.is_none() {
        return reason;
    }
    let placed: Vec<String> = trace
        .order
        .iter()
        .map(|&s| {
            let op = ops[core[s]];
            format!("p{} {}", op.process, short(op))
        })
        .collect();
    if placed.len() <= 8 {
        reason.push_str(&format!(
            "; the longest valid order found is [{}], leaving the key {}",
            placed.join(", "),
            model.show(trace.state)
        ));
    } else {
        reason.push_str(&format!(
            "; the longest valid order found places {} of them, leaving the key {}",
            placed.len(),
            model.show(trace.state)
        ));
    }
    if let Some(s) = trace.stuck {
        let op = ops[core[s]];
        reason.push_str(&format!(
            ", and then {} ({}) cannot be placed before it returns",
            name(op),
            short(op)
        ));
    }
    reason
}

fn short(op: &Operation) -> String {
    match &op.kind {
        OperationKind::Put(v) => format!("put {v}"),
        OperationKind::Get(v) => format!("get -> {}", shown(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(process: u64, kind: OperationKind, call: u64, ret: Option<u64>) -> Operation {
        Operation {
            process,
            key: "k".to_string(),
            kind,
            call,
            ret,
            status: if ret.is_some() { OpStatus::Ok } else { OpStatus::Info },
            invoke_index: 0,
            complete_index: None,
        }
    }

    fn put(p: u64, v: &str, call: u64, ret: u64) -> Operation {
        op(p, OperationKind::Put(v.to_string()), call, Some(ret))
    }

    fn get(p: u64, v: Option<&str>, call: u64, ret: u64) -> Operation {
        op(p, OperationKind::Get(v.map(str::to_string)), call, Some(ret))
    }

    #[test]
    fn removal_keeps_puts_that_remaining_gets_read() {
        let ops = [put(1, "a", 0, 1), put(2, "b", 2, 3), get(3, Some("a"), 4, 5)];
        let refs: Vec<&Operation> = ops.iter().collect();
        let model = Model::new(&refs);
        // Dropping both puts keeps the one the get still reads.
        assert_eq!(without(&model, &[0, 1, 2], |pos| pos < 2), vec![0, 2]);
        // Dropping the get frees both puts.
        assert_eq!(without(&model, &[0, 1, 2], |pos| pos >= 1), vec![0]);
    }

    #[test]
    fn long_history_shrinks_to_the_stale_read() {
        // A long sequential history, then a read of a value overwritten long ago.
        let mut ops = Vec::new();
        for i in 0..200u64 {
            let t = 10 * i;
            if i % 2 == 0 {
                ops.push(put(i % 7, &format!("v{i}"), t, t + 5));
            } else {
                ops.push(get(i % 7, Some(&format!("v{}", i - 1)), t, t + 5));
            }
        }
        ops.push(get(9, Some("v100"), 5_000, 5_001));
        let refs: Vec<&Operation> = ops.iter().collect();
        match check_key(&refs, None) {
            KeyResult::NotLinearizable { excerpt, reason } => {
                assert_eq!(excerpt.len(), 3, "{excerpt:?}");
                assert_eq!(excerpt[0], "p2 put k=v100 [1000, 1005]");
                assert_eq!(excerpt[2], "p9 get k -> v100 [5000, 5001]");
                assert!(reason.contains("overwritten"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unread_unknown_puts_are_ignored() {
        let ops = [
            put(1, "a", 0, 1),
            op(2, OperationKind::Put("lost".into()), 2, None),
            get(3, Some("a"), 4, 5),
            op(4, OperationKind::Get(Some("anything".into())), 6, None),
        ];
        let refs: Vec<&Operation> = ops.iter().collect();
        assert!(matches!(check_key(&refs, None), KeyResult::Linearizable));
    }
}
