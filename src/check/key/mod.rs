//! Checking the operations of one key, and explaining a failure.
//!
//! Linearizability is compositional (Herlihy & Wing): a history is
//! linearizable iff each key's sub-history is, so each key is checked alone.
//! First, cheap tests catch the plainest violations (a read of a value no put
//! wrote before the read returned). Then a key whose puts write distinct
//! values goes to the zone check ([`super::zones`]), which decides it in
//! O(n log n); any other key goes to the search. Either way the failing
//! operations are shrunk to a small set that still fails, so the report shows
//! a handful of operations instead of a thousand.
//!
//! With [`Initial::Unknown`] the key starts in the search's wildcard state
//! (see [`super::search`]). A read of a value no put wrote in time is then
//! not a violation by itself: it can only have read the initial value, so the
//! prechecks instead catch two such reads that disagree, or one made after a
//! put had already overwritten the initial value.
//!
//! Every reduction below (leaving out unread info puts, shrinking) relies on
//! one fact about the register: if the initial value is fixed to some `v0`,
//! a get never changes the state, and a put's effect is seen only by the gets
//! that read its value. The wildcard is exactly "for some `v0`", so an
//! argument that holds for every fixed `v0` holds for the wildcard too: take
//! the `v0` of the order that works, and the same `v0` works after the
//! reduction.

use std::collections::HashMap;
use std::time::Instant;

use super::Algorithm;
use super::hash::FxBuild;
use super::history::{Initial, OpStatus, Operation, OperationKind};
use super::search::{Outcome, SearchOp, State, Step, Trace, ValueId, search};
use super::zones::{self, Decision};

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
    /// The zone check alone was asked for, and it does not apply to this key.
    ZonesDoNotApply,
}

/// How many searches the shrinking of a failing history may run.
const SHRINK_BUDGET: usize = 4000;
/// How many zone checks the shrinking of a zone witness may run (it starts
/// from a handful of operations, so this is never reached in practice).
const ZONE_SHRINK_BUDGET: usize = 1000;
/// Longest excerpt shown when shrinking could not finish.
const MAX_EXCERPT: usize = 40;

/// Checks the operations of one key (all of them must have that key), the
/// key holding `initial` before the first of them, with the zone check when
/// `algorithm` allows and it applies, else the search.
pub(crate) fn check_key(
    ops: &[&Operation],
    initial: Initial,
    deadline: Option<Instant>,
    algorithm: Algorithm,
) -> KeyResult {
    // An info get constrains nothing: it may have read anything, or nothing.
    let mut ops: Vec<&Operation> = ops
        .iter()
        .copied()
        .filter(|o| o.status == OpStatus::Ok || matches!(o.kind, OperationKind::Put(_)))
        .collect();
    ops.sort_by_key(|o| (o.call, o.invoke_index));
    let model = Model::new(&ops, initial);

    if let Some(result) = precheck(&model) {
        return result;
    }

    // A put with an unknown outcome whose value nobody read can always be
    // left out: the reads between it and the next put would have seen it.
    // This holds with an unknown initial value too. Take any order that
    // works, with the initial value it resolved to, and delete the put: only
    // the gets between it and the next put saw its value, and as nobody read
    // that value there are none; every other get sees the same state as
    // before, from the same initial value. So the history is linearizable
    // iff it is without the put.
    let mut read = vec![false; model.values.len()];
    for (op, v) in ops.iter().zip(&model.value_of) {
        if op.status == OpStatus::Ok
            && matches!(op.kind, OperationKind::Get(_))
            && let Some(v) = v
        {
            read[*v] = true;
        }
    }
    let is_read = |i: usize| model.value_of[i].is_some_and(|v| read[v]);
    let active: Vec<usize> =
        (0..ops.len()).filter(|&i| model.is_get(i) || ops[i].status == OpStatus::Ok || is_read(i)).collect();

    // Puts of distinct values: the zone check decides in O(n log n).
    if algorithm != Algorithm::Search {
        match zones::decide(&model.search_ops(&active), model.values.len(), initial) {
            Decision::Linearizable => return KeyResult::Linearizable,
            Decision::NotLinearizable(failure) => {
                let witness: Vec<usize> = failure.witness().into_iter().map(|w| active[w]).collect();
                return explain_zones(&model, &active, witness);
            }
            Decision::NotApplicable if algorithm == Algorithm::Zones => return KeyResult::ZonesDoNotApply,
            Decision::NotApplicable => {}
        }
    }

    match search(&model.search_ops(&active), model.start, deadline, false) {
        Outcome::Linearizable => KeyResult::Linearizable,
        Outcome::TimedOut => KeyResult::TimedOut,
        Outcome::NotLinearizable(trace) => {
            let stuck = trace.stuck.map(|s| active[s]);
            let fails =
                |subset: &[usize]| match search(&model.search_ops(subset), model.start, deadline, false) {
                    Outcome::NotLinearizable(_) => Some(true),
                    Outcome::Linearizable => Some(false),
                    Outcome::TimedOut => None,
                };
            let core = shrink(&model, active, stuck, SHRINK_BUDGET, fails);
            explain(&model, &ops, &core)
        }
    }
}

/// Whether the zone check finds the operations `subset` (indices into the
/// model, ascending) not linearizable; `None` if it does not apply.
fn zones_fail(model: &Model, subset: &[usize]) -> Option<bool> {
    match zones::decide(&model.search_ops(subset), model.values.len(), model.initial) {
        Decision::NotLinearizable(_) => Some(true),
        Decision::Linearizable => Some(false),
        Decision::NotApplicable => None,
    }
}

/// Shrinks the zone check's witness (indices into the model) and explains
/// the failure it shows; `active` are the operations checked.
///
/// The witness is not linearizable by itself (see [`zones::Failure::witness`]);
/// that is checked again here, and should it ever not hold, shrinking starts
/// from all of `active` instead, which certainly fails. Either way every set
/// kept fails the zone check, which is exact, so the excerpt is a genuine
/// counterexample; and no search runs, so nothing can time out.
fn explain_zones(model: &Model, active: &[usize], witness: Vec<usize>) -> KeyResult {
    let start = if zones_fail(model, &witness) == Some(true) {
        witness
    } else {
        debug_assert!(false, "the zone witness {witness:?} is linearizable");
        active.to_vec()
    };
    let core = shrink(model, start, None, ZONE_SHRINK_BUDGET, |subset| zones_fail(model, subset));
    let ops = model.ops;
    let core_ops: Vec<&Operation> = core.iter().map(|&i| ops[i]).collect();
    let mut excerpt: Vec<String> = core_ops.iter().take(MAX_EXCERPT).map(|o| o.to_string()).collect();
    if core_ops.len() > MAX_EXCERPT {
        excerpt.push(format!("... and {} more operations not shown", core_ops.len() - MAX_EXCERPT));
    }
    let reason = core_ops
        .iter()
        .find_map(|get| simple_reason(&core_ops, get, model.initial))
        .or_else(|| match zones::decide(&model.search_ops(&core), model.values.len(), model.initial) {
            Decision::NotLinearizable(failure) => Some(zones::reason(&core_ops, &failure)),
            _ => None,
        })
        .unwrap_or_else(|| search_reason(model, ops, &core, &Trace::default()));
    KeyResult::NotLinearizable { excerpt, reason }
}

/// The key's values interned to small ids, the search's input.
struct Model<'a> {
    /// Interned value per operation: the value written, or read (`None`: a
    /// read of absent).
    value_of: Vec<Option<ValueId>>,
    /// The value behind each id.
    values: Vec<&'a str>,
    /// The search's view of each operation.
    steps: Vec<SearchOp>,
    ops: &'a [&'a Operation],
    /// What the key held before the first operation.
    initial: Initial,
    /// The search's initial state: absent, or the wildcard.
    start: State,
}

impl<'a> Model<'a> {
    fn new(ops: &'a [&'a Operation], initial: Initial) -> Self {
        let mut ids: HashMap<&str, ValueId, FxBuild> = HashMap::default();
        let mut values = Vec::new();
        let mut intern = |v: &'a str| {
            *ids.entry(v).or_insert_with(|| {
                values.push(v);
                values.len() - 1
            })
        };
        let mut value_of: Vec<Option<ValueId>> = Vec::with_capacity(ops.len());
        let mut steps: Vec<SearchOp> = Vec::with_capacity(ops.len());
        for op in ops {
            let (value, step) = match &op.kind {
                OperationKind::Put(v) => {
                    let id = intern(v);
                    (Some(id), Step::Put(id))
                }
                OperationKind::Get(v) => {
                    let id = v.as_deref().map(&mut intern);
                    (id, Step::Get(id))
                }
            };
            let ret = match op.status {
                OpStatus::Ok => op.ret,
                OpStatus::Info => None,
            };
            value_of.push(value);
            steps.push(SearchOp { call: op.call, ret, step });
        }
        let start = match initial {
            Initial::Empty => State::Absent,
            Initial::Unknown => State::Unknown,
        };
        Model { value_of, values, steps, ops, initial, start }
    }

    /// The search input for a subset of the operations (indices, ascending).
    fn search_ops(&self, subset: &[usize]) -> Vec<SearchOp> {
        subset.iter().map(|&i| self.steps[i]).collect()
    }

    fn is_get(&self, i: usize) -> bool {
        matches!(self.ops[i].kind, OperationKind::Get(_))
    }

    /// The state as it completes "leaving the key ...".
    fn show(&self, state: State) -> String {
        match state {
            State::Absent => "absent".to_string(),
            State::Unknown => "at its unknown initial value, not yet read".to_string(),
            State::Value(id) => self.values.get(id).copied().unwrap_or("?").to_string(),
        }
    }
}

/// Names an operation in prose: `the put of v7 by p3 [120, 184]`, `the get by p4 [130, 190]`.
pub(super) fn name(op: &Operation) -> String {
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
///
/// With an unknown initial value such a read may have read the initial
/// value, so only reads that cannot all have done so are caught (see
/// [`initial_conflict`]).
fn precheck(model: &Model) -> Option<KeyResult> {
    let ops = model.ops;
    if model.initial == Initial::Unknown {
        return initial_conflict(ops).map(|(excerpt, reason)| KeyResult::NotLinearizable { excerpt, reason });
    }
    // Earliest invoke of a put of each value, if any.
    let mut first_put: Vec<Option<u64>> = vec![None; model.values.len()];
    for (i, op) in ops.iter().enumerate() {
        if !model.is_get(i)
            && let Some(v) = model.value_of[i]
        {
            first_put[v] = Some(first_put[v].map_or(op.call, |t| t.min(op.call)));
        }
    }
    for (i, get) in ops.iter().enumerate() {
        let (OperationKind::Get(Some(v)), OpStatus::Ok, Some(ret), Some(id)) =
            (&get.kind, get.status, get.ret, model.value_of[i])
        else {
            continue;
        };
        let key = &get.key;
        let Some(first) = first_put[id] else {
            return Some(KeyResult::NotLinearizable {
                excerpt: vec![get.to_string()],
                reason: format!(
                    "{} returned {v}, but no put of {key} that could have taken effect \
                     wrote {v} (failed puts have no effect), and the key started absent (a \
                     history recorded on existing data says so in its start line)",
                    name(get)
                ),
            });
        };
        if first > ret {
            let writers: Vec<&Operation> = (0..ops.len())
                .filter(|&w| !model.is_get(w) && model.value_of[w] == Some(id))
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

/// With an unknown initial value, finds gets that could only have read the
/// key's initial value but cannot all have; returns the excerpt and reason.
///
/// A get can only have read the initial value when no put of the value it
/// read was invoked by the time it returned (a `null` read always: no put
/// removes a key). Such a get must come before every put an order places,
/// since after a put the key holds that put's value or a later put's, never
/// the get's. So two of them that read different values cannot both be placed
/// (a key has one initial value), nor can one invoked after some put had
/// completed. `ops` must be in invoke order; any subset of a key's
/// operations that keeps the puts of every value its gets read will do.
fn initial_conflict(ops: &[&Operation]) -> Option<(Vec<String>, String)> {
    // Earliest invoke of a put of each value, and the completed put that returned first.
    let mut first_put: HashMap<&str, u64, FxBuild> = HashMap::default();
    let mut first_done: Option<(&Operation, u64)> = None;
    for op in ops {
        if let OperationKind::Put(v) = &op.kind {
            first_put.entry(v.as_str()).and_modify(|t| *t = (*t).min(op.call)).or_insert(op.call);
            if op.status == OpStatus::Ok
                && let Some(ret) = op.ret
                && first_done.is_none_or(|(_, r)| ret < r)
            {
                first_done = Some((op, ret));
            }
        }
    }
    let mut first_initial: Option<(&Operation, &Option<String>, u64)> = None;
    for get in ops {
        let (OperationKind::Get(value), OpStatus::Ok, Some(ret)) = (&get.kind, get.status, get.ret) else {
            continue;
        };
        let writer = value.as_deref().and_then(|v| first_put.get(v).copied());
        if writer.is_some_and(|call| call <= ret) {
            continue; // a put may have written what it read
        }
        let why = only_initial(get, value, writer);
        if let Some((put, put_ret)) = first_done
            && put_ret < get.call
        {
            return Some((
                vec![put.to_string(), get.to_string()],
                format!(
                    "{why}, but {} had completed before the get was invoked, so the initial value \
                     had already been overwritten",
                    name(put)
                ),
            ));
        }
        match first_initial {
            None => first_initial = Some((get, value, ret)),
            Some((earlier, seen, earlier_ret)) if seen != value => {
                let when = if earlier_ret < get.call { "had already read" } else { "read" };
                return Some((
                    vec![earlier.to_string(), get.to_string()],
                    format!(
                        "{why}, but {} {when} {}, which could only be the initial value too, and a \
                         key has one initial value",
                        name(earlier),
                        shown(seen)
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// Why `get`, which read `value`, can only have read the key's initial value;
/// `writer` is the earliest invoke of a put of that value, if any.
fn only_initial(get: &Operation, value: &Option<String>, writer: Option<u64>) -> String {
    let key = &get.key;
    match (value, writer) {
        (None, _) => format!(
            "{} returned null (key absent), which could only be the key's initial value (no put \
             removes a key)",
            name(get)
        ),
        (Some(v), None) => format!(
            "{} returned {v}, which no put of {key} that could have taken effect wrote (failed puts \
             have no effect), so it could only be the key's initial value",
            name(get)
        ),
        (Some(v), Some(call)) => format!(
            "{} returned {v}, but the first put of {v} was invoked only at {call}, after the get \
             had returned, so {v} could only be the key's initial value",
            name(get)
        ),
    }
}

/// Shrinks a failing set of operations (indices into the model) to a small
/// set that still fails, in the manner of delta debugging.
///
/// Only removals that cannot create a violation are tried: dropping a get
/// only removes constraints, and dropping a put that no remaining get read
/// cannot make any remaining get unjustifiable. So every set this keeps is a
/// genuine witness that the whole history is not linearizable.
///
/// Both hold with an unknown initial value as well. Take an order of the
/// larger set that works, with the initial value `v0` it resolved to (any
/// value if no get read it). Delete the dropped operations from it: a get
/// never changes the state, so deleting one changes what no other get sees;
/// a dropped put changes only what the gets after it and before the next put
/// see, and those read its value, which no remaining get did. The rest of the
/// order still works from the same `v0`, and real time only loses
/// constraints. So the smaller set would be linearizable too; contrapositively
/// a smaller set that fails shows the larger one fails.
///
/// `oracle` says whether a subset fails (`None`: it cannot tell, and
/// shrinking stops there), at most `budget` times. `stuck` is the operation
/// the first search could not place: nothing invoked after it returned is
/// needed to show the failure, so that suffix is tried first.
fn shrink(
    model: &Model,
    mut core: Vec<usize>,
    stuck: Option<usize>,
    mut budget: usize,
    mut oracle: impl FnMut(&[usize]) -> Option<bool>,
) -> Vec<usize> {
    let mut fails = |subset: &[usize]| -> Option<bool> {
        if budget == 0 {
            return None;
        }
        budget -= 1;
        oracle(subset)
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
    let kept_reads: std::collections::HashSet<Option<ValueId>, FxBuild> = core
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
        match search(&model.search_ops(core), model.start, None, true) {
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
        .find_map(|get| simple_reason(&core_ops, get, model.initial))
        // No need to try `initial_conflict` on the core: shrinking keeps the
        // puts of every value a remaining get read, so a conflict in the core
        // is one in the whole history, which the precheck already reported.
        .unwrap_or_else(|| search_reason(model, ops, core, &trace));
    KeyResult::NotLinearizable { excerpt, reason }
}

/// A one-line reason when a get of the core is plainly stale.
///
/// Only operations of the core are named, so the reason can be read off the
/// excerpt. Judging "every put of v" on the core alone is sound because
/// shrinking never drops a put whose value a remaining get read.
///
/// Both reasons hold with an unknown initial value too: a `null` read after a
/// completed put, or after a read of a value, is impossible whatever the key
/// started with; and when every put of `v` was overwritten before the get,
/// the overwriting put also overwrote the initial value.
fn simple_reason(core: &[&Operation], get: &Operation, initial: Initial) -> Option<String> {
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
            let so = match initial {
                Initial::Empty => "so a put had taken effect",
                Initial::Unknown => "so the key held a value (initial or written)",
            };
            Some(format!(
                "{} returned null (key absent), but {} had already returned {} before the get \
                 was invoked, {so}, and nothing removes a key",
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
                 before the get was invoked, so {v} had been overwritten{}{}",
                name(get),
                name(w),
                name(y),
                if writers.len() > 1 { " (and likewise for every other put of that value)" } else { "" },
                match initial {
                    Initial::Empty => "",
                    Initial::Unknown => ", and so had the key's initial value",
                }
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
         read the value of the latest put before it ({})",
        core.len(),
        match model.initial {
            Initial::Empty => "or null if none",
            Initial::Unknown => {
                "or, if none, the key's initial value, which is unknown but the same for every such get"
            }
        }
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
        let model = Model::new(&refs, Initial::Empty);
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
        match check_key(&refs, Initial::Empty, None, Algorithm::Auto) {
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
        assert!(matches!(check_key(&refs, Initial::Empty, None, Algorithm::Auto), KeyResult::Linearizable));
    }
}
