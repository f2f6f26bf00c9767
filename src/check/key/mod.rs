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
//! Every reduction (leaving out unread info puts, below; shrinking, in
//! [`shrink`]) relies on
//! one fact about the register: if the initial value is fixed to some `v0`,
//! a get never changes the state, and a put's effect is seen only by the gets
//! that read its value. The wildcard is exactly "for some `v0`", so an
//! argument that holds for every fixed `v0` holds for the wildcard too: take
//! the `v0` of the order that works, and the same `v0` works after the
//! reduction.
//!
//! The parts: [`precheck`] catches the plainest violations, [`shrink`] cuts
//! a failing set of operations down, and [`explain`] renders the excerpt and
//! finds the reason.

mod explain;
mod precheck;
mod shrink;

use std::collections::HashMap;
use std::time::Instant;

use super::Algorithm;
use super::hash::FxBuild;
use super::history::{Initial, OpStatus, Operation, OperationKind};
use super::search::{Outcome, SearchOp, State, Step, ValueId, search};
use super::zones::{self, Decision};
use explain::{explain, explain_zones};
use precheck::precheck;
use shrink::shrink;

pub(super) use explain::name;

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

#[cfg(test)]
mod tests {
    use super::shrink::without;
    use super::*;
    use crate::check::history::test_op as op;

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
