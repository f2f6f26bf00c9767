//! Explaining a key that is not linearizable: the excerpt of operations that
//! cannot be ordered, and the plainest reason why, in plain English.

use super::shrink::shrink;
use super::{KeyResult, MAX_EXCERPT, Model, ZONE_SHRINK_BUDGET};
use crate::check::history::{Initial, OpStatus, Operation, OperationKind};
use crate::check::search::{Outcome, Trace, search};
use crate::check::zones::{self, Decision};

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
pub(super) fn explain_zones(model: &Model, active: &[usize], witness: Vec<usize>) -> KeyResult {
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

/// Renders the failing core and finds the plainest reason it fails.
pub(super) fn explain(model: &Model, ops: &[&Operation], core: &[usize]) -> KeyResult {
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

/// Names an operation in prose: `the put of v7 by p3 [120, 184]`, `the get by p4 [130, 190]`.
pub(in crate::check) fn name(op: &Operation) -> String {
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

pub(super) fn shown(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("null")
}
