//! Shrinking a failing set of a key's operations to a small one that still
//! fails, so that a report shows a handful of operations.

use std::collections::HashSet;

use super::Model;
use crate::check::hash::FxBuild;
use crate::check::search::ValueId;

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
pub(super) fn shrink(
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
pub(super) fn without(model: &Model, core: &[usize], remove: impl Fn(usize) -> bool) -> Vec<usize> {
    let kept_reads: HashSet<Option<ValueId>, FxBuild> = core
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
