//! The cheap tests run on a key before any search: reads of values that no
//! put could have written in time, and, with an unknown initial value, reads
//! that cannot all have read it.

use std::collections::HashMap;

use super::explain::{name, shown};
use super::{KeyResult, MAX_EXCERPT, Model};
use crate::check::hash::FxBuild;
use crate::check::history::{Initial, OpStatus, Operation, OperationKind};

/// Catches reads of values that no put could have written in time.
///
/// With an unknown initial value such a read may have read the initial
/// value, so only reads that cannot all have done so are caught (see
/// [`initial_conflict`]).
pub(super) fn precheck(model: &Model) -> Option<KeyResult> {
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
