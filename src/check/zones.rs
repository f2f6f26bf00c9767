//! The zone check: deciding one key in O(n log n) when its puts write distinct values.
//!
//! Gibbons and Korach ("Testing shared memories", SIAM J. Computing 26(4),
//! 1997) show that checking a register is NP-complete in general but easy
//! with a *read-mapping*: when every read names the write it saw. Quorum's
//! clients write a different value with every put, so a get's value names its
//! put, and this module decides such keys without a search. DESIGN.md
//! section 9 ("Distinct values: the zone check") states the rule and proves
//! it; in short:
//!
//! - A put and the gets that read its value form a *cluster*. In any valid
//!   order a cluster is one block: its put, then its gets, before any other
//!   put (values are distinct, so no other put can be between). The gets that
//!   read the key's initial value (absent, or with an unknown initial value a
//!   value no put wrote) form the *initial cluster*, which has no put and must
//!   come before every put.
//! - A block may come before another unless some operation of the other
//!   returned strictly before some operation of it was invoked (intervals
//!   that touch are concurrent, as in the search). So a cluster `C` is
//!   summed up by two times: `first_ret(C)`, its earliest return, and
//!   `last_call(C)`, its latest invoke; `A` must precede `B` iff
//!   `first_ret(A) < last_call(B)`.
//! - The key is linearizable iff (a) no get returned before its put was
//!   invoked, (b) no operation of any put's cluster returned before a get of
//!   the initial cluster was invoked, and (c) no two clusters must each
//!   precede the other. Any cycle of "must precede" contains such a pair, and
//!   (c) is tested for all pairs at once by sorting the clusters on
//!   `first_ret`: the zone `[first_ret, last_call]` of the paper.
//!
//! A put with an unknown outcome (`info`) is in a cluster only if some `ok`
//! get read its value (otherwise it can be left out); it has no return, so
//! it only ever adds its invoke to its cluster. With an unknown initial value
//! that no get pins down (every get read a value some put wrote), the initial
//! value may still equal a written value `x`, so that some gets of `x` read
//! the initial value and not the put. Only the one or two clusters of the
//! first conflict found can be helped by that, and for each the best split is
//! known (the gets of `x` invoked early enough all read the initial value), so
//! at most two more checks decide.
//!
//! The check applies when every value some `ok` get read is written by at
//! most one put that may have taken effect, and every completed operation
//! returned no earlier than it was invoked; [`decide`] says
//! [`Decision::NotApplicable`] otherwise, and the key goes to the search.

use super::history::{Initial, Operation, OperationKind};
use super::key::name;
use super::search::{SearchOp, Step, ValueId};

/// Index of an operation in the slice given to [`decide`].
pub(crate) type OpIndex = usize;

/// What the zone check found for one key.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Some order works.
    Linearizable,
    /// No order works.
    NotLinearizable(Failure),
    /// Some value read was written by two puts (or an operation returned
    /// before it was invoked): the zones do not decide this key.
    NotApplicable,
}

/// Why no order works.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The first conflict found, with the key starting as [`Failure::start`] says.
    pub conflict: Conflict,
    /// How the key's initial value was settled.
    pub start: Start,
}

/// How the key's initial value was settled for [`Failure::conflict`].
#[derive(Debug)]
pub(crate) enum Start {
    /// The key started absent ([`Initial::Empty`]).
    Absent,
    /// The initial value is unknown, and this get fixes it: it read absent,
    /// or a value no put wrote, which only the initial value can explain.
    FixedBy(OpIndex),
    /// The initial value is unknown and no get fixes it: the conflict takes it
    /// to be a value no get read. These are the values some get read that
    /// could be the initial value and could change the verdict, each with
    /// what still goes wrong then; any other initial value leaves the
    /// conflict as it is.
    Open(Vec<Alternative>),
}

/// The key taken to start at the value of a put, with what goes wrong then.
#[derive(Debug)]
pub(crate) struct Alternative {
    /// The put whose value is taken to be the initial value as well.
    pub put: OpIndex,
    /// The gets of that value invoked early enough to have read the initial
    /// value; they are taken to have read it.
    pub early: Vec<OpIndex>,
    /// Why the other gets of that value cannot have read it: an operation of
    /// another cluster, with that cluster's put, had returned before each was
    /// invoked; `None` when it is the put itself that had completed.
    pub pin: Option<(OpIndex, OpIndex)>,
    /// What still goes wrong.
    pub conflict: Conflict,
}

/// One reason that no order works.
///
/// Each names the operations that show it; those, with the puts of the
/// values their gets read, are themselves not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Conflict {
    /// The key started absent, and a get read a value that no put wrote.
    Unwritten {
        /// The get.
        get: OpIndex,
    },
    /// Two gets that can only have read the initial value read different values.
    TwoInitials {
        /// The earlier one (by invoke).
        first: OpIndex,
        /// The other.
        second: OpIndex,
    },
    /// A get read the value of a put that was invoked only after the get returned.
    BeforePut {
        /// The get.
        get: OpIndex,
        /// The only put of its value.
        put: OpIndex,
    },
    /// A get that read the initial value was invoked after an operation of a
    /// put's cluster had returned, so after the put had taken effect.
    InitialAfter {
        /// The get of the initial value.
        get: OpIndex,
        /// The operation that returned before it was invoked: `put`, or a get of its value.
        op: OpIndex,
        /// The put.
        put: OpIndex,
    },
    /// Two clusters each of which must come before the other: `a_ret` (of
    /// the cluster of put `a`) returned before `b_call` (of `b`'s) was
    /// invoked, and `b_ret` (of `b`'s) returned before `a_call` (of `a`'s)
    /// was invoked.
    Cycle {
        /// The put of the first cluster.
        a: OpIndex,
        /// The put of the second cluster.
        b: OpIndex,
        /// The operation of `a`'s cluster that returned first.
        a_ret: OpIndex,
        /// The operation of `b`'s cluster that was invoked last.
        b_call: OpIndex,
        /// The operation of `b`'s cluster that returned first.
        b_ret: OpIndex,
        /// The operation of `a`'s cluster that was invoked last.
        a_call: OpIndex,
    },
}

impl Conflict {
    /// The operations that show the conflict, puts of the clusters included.
    fn ops(&self) -> Vec<OpIndex> {
        match *self {
            Conflict::Unwritten { get } => vec![get],
            Conflict::TwoInitials { first, second } => vec![first, second],
            Conflict::BeforePut { get, put } => vec![get, put],
            Conflict::InitialAfter { get, op, put } => vec![get, op, put],
            Conflict::Cycle { a, b, a_ret, b_call, b_ret, a_call } => {
                vec![a, b, a_ret, b_call, b_ret, a_call]
            }
        }
    }

    /// The puts of the clusters involved.
    fn puts(&self) -> Vec<OpIndex> {
        match *self {
            Conflict::Unwritten { .. } | Conflict::TwoInitials { .. } => Vec::new(),
            Conflict::BeforePut { put, .. } | Conflict::InitialAfter { put, .. } => vec![put],
            Conflict::Cycle { a, b, .. } => vec![a, b],
        }
    }
}

impl Failure {
    /// A set of operations that is not linearizable by itself, in ascending
    /// order: the conflict's operations, the get that fixes the initial
    /// value, and for an open initial value what goes wrong for each
    /// alternative (with the operations that keep the later gets of its value
    /// from reading the initial value).
    pub(crate) fn witness(&self) -> Vec<OpIndex> {
        let mut all = self.conflict.ops();
        match &self.start {
            Start::Absent => {}
            Start::FixedBy(get) => all.push(*get),
            Start::Open(alternatives) => {
                for alt in alternatives {
                    all.extend(alt.conflict.ops());
                    all.push(alt.put);
                    if let Some((op, put)) = alt.pin {
                        all.extend([op, put]);
                    }
                }
            }
        }
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// A put and the gets that read its value.
#[derive(Clone, Debug)]
struct Cluster {
    put: OpIndex,
    gets: Vec<OpIndex>,
}

/// The two times that sum a cluster up, each with the operation it comes from.
#[derive(Clone, Copy, Debug)]
struct Zone {
    /// The cluster's put.
    put: OpIndex,
    /// The earliest return among its operations.
    first_ret: (u64, OpIndex),
    /// The latest invoke among its operations.
    last_call: (u64, OpIndex),
}

/// The value a get read (`Some(None)`: absent); `None` for a put or a get
/// with an unknown outcome (which constrains nothing).
fn read_by(op: &SearchOp) -> Option<Option<ValueId>> {
    match (op.step, op.ret) {
        (Step::Get(v), Some(_)) => Some(v),
        _ => None,
    }
}

/// Decides the operations of one key, the key holding `initial` before the
/// first of them.
///
/// `ops` are the search's view of them (any order): values interned below
/// `values`, and `ret: None` for an unknown outcome, which for a get means
/// it is ignored. Operation indices in the answer are indices into `ops`.
pub(crate) fn decide(ops: &[SearchOp], values: usize, initial: Initial) -> Decision {
    let mut read = vec![false; values];
    for op in ops {
        if op.ret.is_some_and(|ret| ret < op.call) {
            return Decision::NotApplicable;
        }
        if let Some(Some(v)) = read_by(op) {
            read[v] = true;
        }
    }
    // One cluster per put that may matter; an `info` put nobody read is left
    // out (leaving it out never hurts, see DESIGN.md section 9).
    let mut clusters: Vec<Cluster> = Vec::new();
    let mut cluster_of: Vec<Option<usize>> = vec![None; values];
    for (i, op) in ops.iter().enumerate() {
        let Step::Put(v) = op.step else {
            continue;
        };
        if op.ret.is_none() && !read[v] {
            continue;
        }
        if read[v] {
            if cluster_of[v].is_some() {
                return Decision::NotApplicable; // two puts of a value some get read
            }
            cluster_of[v] = Some(clusters.len());
        }
        clusters.push(Cluster { put: i, gets: Vec::new() });
    }
    let mut initial_gets: Vec<OpIndex> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let Some(seen) = read_by(op) else {
            continue;
        };
        match seen.and_then(|v| cluster_of[v]) {
            Some(c) => clusters[c].gets.push(i),
            None => initial_gets.push(i),
        }
    }
    initial_gets.sort_by_key(|&g| (ops[g].call, g));

    let first_initial = initial_gets.first().copied();
    let start = match (initial, first_initial) {
        (Initial::Empty, _) => {
            if let Some(&get) = initial_gets.iter().find(|&&g| read_by(&ops[g]).flatten().is_some()) {
                return not_linearizable(Conflict::Unwritten { get }, Start::Absent);
            }
            Start::Absent
        }
        (Initial::Unknown, Some(first)) => {
            let value = read_by(&ops[first]);
            if let Some(&second) = initial_gets.iter().find(|&&g| read_by(&ops[g]) != value) {
                return not_linearizable(Conflict::TwoInitials { first, second }, Start::FixedBy(first));
            }
            Start::FixedBy(first)
        }
        (Initial::Unknown, None) => return decide_open(ops, clusters),
    };
    match check(ops, &clusters, &initial_gets) {
        Ok(()) => Decision::Linearizable,
        Err(conflict) => not_linearizable(conflict, start),
    }
}

fn not_linearizable(conflict: Conflict, start: Start) -> Decision {
    Decision::NotLinearizable(Failure { conflict, start })
}

/// An unknown initial value that no get fixes: first try a value no get read
/// (no initial cluster), then each value of the first conflict's clusters.
fn decide_open(ops: &[SearchOp], clusters: Vec<Cluster>) -> Decision {
    let conflict = match check(ops, &clusters, &[]) {
        Ok(()) => return Decision::Linearizable,
        Err(conflict) => conflict,
    };
    let zones: Vec<Option<Zone>> = clusters.iter().map(|c| zone(ops, c)).collect();
    let mut alternatives = Vec::new();
    for put in conflict.puts() {
        let Some(x) = clusters.iter().position(|c| c.put == put) else {
            continue;
        };
        // The earliest return of another cluster: a get of x invoked after it
        // cannot come before that cluster, so cannot read the initial value.
        let other = zones
            .iter()
            .enumerate()
            .filter(|&(c, _)| c != x)
            .filter_map(|(_, z)| *z)
            .min_by_key(|z| (z.first_ret.0, z.first_ret.1));
        let own = ops[put].ret;
        let until = match (other.map(|z| z.first_ret.0), own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let pin =
            other.filter(|z| own.is_none_or(|own| z.first_ret.0 <= own)).map(|z| (z.first_ret.1, z.put));
        let (early, late): (Vec<OpIndex>, Vec<OpIndex>) =
            clusters[x].gets.iter().copied().partition(|&g| until.is_none_or(|until| ops[g].call <= until));
        let mut changed = clusters.clone();
        if own.is_none() && late.is_empty() {
            changed.remove(x); // an unknown put that no get still reads: left out
        } else {
            changed[x].gets = late;
        }
        match check(ops, &changed, &early) {
            Ok(()) => return Decision::Linearizable,
            Err(conflict) => alternatives.push(Alternative { put, early, pin, conflict }),
        }
    }
    not_linearizable(conflict, Start::Open(alternatives))
}

/// A cluster's zone; `None` if no operation of it has a return (an unknown
/// put that no get read: it constrains nothing).
fn zone(ops: &[SearchOp], cluster: &Cluster) -> Option<Zone> {
    let members = || std::iter::once(cluster.put).chain(cluster.gets.iter().copied());
    let first_ret = members().filter_map(|i| ops[i].ret.map(|r| (r, i))).min()?;
    let last_call = members().map(|i| (ops[i].call, i)).max()?;
    Some(Zone { put: cluster.put, first_ret, last_call })
}

/// Checks the clusters and the initial cluster `initial_gets` (the gets that
/// read the initial value), all of one key: the three conditions (a), (b), (c).
fn check(ops: &[SearchOp], clusters: &[Cluster], initial_gets: &[OpIndex]) -> Result<(), Conflict> {
    // (a) No get returned before its put was invoked.
    for cluster in clusters {
        let put_call = ops[cluster.put].call;
        for &get in &cluster.gets {
            if ops[get].ret.is_some_and(|ret| ret < put_call) {
                return Err(Conflict::BeforePut { get, put: cluster.put });
            }
        }
    }
    let mut zones: Vec<Zone> = clusters.iter().filter_map(|c| zone(ops, c)).collect();
    zones.sort_by_key(|z| (z.first_ret, z.put));

    // (b) The initial cluster can come first: nothing of a put's cluster
    // returned before one of its gets was invoked.
    if let Some((last, get)) = initial_gets.iter().map(|&g| (ops[g].call, g)).max()
        && let Some(z) = zones.first()
        && z.first_ret.0 < last
    {
        return Err(Conflict::InitialAfter { get, op: z.first_ret.1, put: z.put });
    }

    // (c) No two clusters must each precede the other: no B and A != B with
    // first_ret(A) < last_call(B) and first_ret(B) < last_call(A). The A with
    // first_ret(A) < last_call(B) are a prefix of the zones by first_ret; the
    // one of them with the latest last_call (other than B) is the one to try.
    let mut best: Vec<[Option<usize>; 2]> = Vec::with_capacity(zones.len() + 1);
    let mut top: [Option<usize>; 2] = [None, None];
    best.push(top);
    for (k, z) in zones.iter().enumerate() {
        let later = |slot: Option<usize>| slot.is_none_or(|s| z.last_call > zones[s].last_call);
        if later(top[0]) {
            top = [Some(k), top[0]];
        } else if later(top[1]) {
            top[1] = Some(k);
        }
        best.push(top);
    }
    for (k, b) in zones.iter().enumerate() {
        let prefix = zones.partition_point(|z| z.first_ret.0 < b.last_call.0);
        let Some(a) = best[prefix].into_iter().flatten().find(|&a| a != k) else {
            continue;
        };
        let a = &zones[a];
        if b.first_ret.0 < a.last_call.0 {
            return Err(Conflict::Cycle {
                a: a.put,
                b: b.put,
                a_ret: a.first_ret.1,
                b_call: b.last_call.1,
                b_ret: b.first_ret.1,
                a_call: a.last_call.1,
            });
        }
    }
    Ok(())
}

// ---- explaining ----

/// The value an operation wrote or read, as shown (`null` for absent).
fn value(op: &Operation) -> &str {
    match &op.kind {
        OperationKind::Put(v) => v,
        OperationKind::Get(v) => v.as_deref().unwrap_or("null"),
    }
}

/// Names an operation of a cluster: a put as usual, a get with the value it read.
fn member(op: &Operation) -> String {
    match op.kind {
        OperationKind::Put(_) => name(op),
        OperationKind::Get(_) => format!("{} that read {}", name(op), value(op)),
    }
}

/// Why a get of the initial value could only have read the initial value.
fn only_initial(op: &Operation) -> String {
    match &op.kind {
        OperationKind::Get(Some(v)) => {
            format!(
                "{} returned {v}, which no put of {} wrote, so only the key's initial value explains it",
                name(op),
                op.key
            )
        }
        _ => format!(
            "{} returned null (key absent), which only the key's initial value explains (no put removes a key)",
            name(op)
        ),
    }
}

/// The plain-English reason for a failure; `ops` are the operations of the
/// slice given to [`decide`], in the same order.
pub(crate) fn reason(ops: &[&Operation], failure: &Failure) -> String {
    let mut text = conflict_reason(ops, &failure.conflict, &failure.start);
    if let Start::Open(alternatives) = &failure.start {
        if alternatives.is_empty() {
            return text;
        }
        text.push_str("; the key's initial value is unknown, and any value no get read leaves this as it is");
        for alt in alternatives {
            let x = value(ops[alt.put]);
            let late = match alt.pin {
                Some((op, _)) => format!("{} had returned", name(ops[op])),
                None => format!("{} had completed", name(ops[alt.put])),
            };
            if alt.early.is_empty() {
                text.push_str(&format!(
                    "; had the key started at {x}, no get of {x} could have read that, as each was \
                     invoked after {late}"
                ));
            } else {
                let n = alt.early.len();
                text.push_str(&format!(
                    "; had the key started at {x}, {} of {x} invoked before {late} could have read \
                     that, but then {}",
                    if n == 1 { "the get".to_string() } else { format!("the {n} gets") },
                    conflict_reason(ops, &alt.conflict, &Start::Open(Vec::new()))
                ));
            }
        }
    }
    text
}

/// The reason for one conflict.
fn conflict_reason(ops: &[&Operation], conflict: &Conflict, start: &Start) -> String {
    match *conflict {
        Conflict::Unwritten { get } => {
            let (op, v) = (ops[get], value(ops[get]));
            format!(
                "{} returned {v}, but no put of {} that could have taken effect wrote {v} (failed \
                 puts have no effect), and the key started absent (a history recorded on existing \
                 data says so in its start line)",
                name(op),
                op.key
            )
        }
        Conflict::TwoInitials { first, second } => format!(
            "{}, but {} returned {}, which only the initial value can explain too, and a key has one \
             initial value",
            only_initial(ops[second]),
            name(ops[first]),
            value(ops[first])
        ),
        Conflict::BeforePut { get, put } => {
            let v = value(ops[get]);
            let mut text = format!(
                "{} returned {v}, but {}, the only put of {v}, was invoked only at {}, after the get \
                 had returned",
                name(ops[get]),
                name(ops[put]),
                ops[put].call
            );
            if let Start::FixedBy(fixed) = *start {
                text.push_str(&format!(
                    ", and {v} was not the key's initial value either: {} read {}, which only the \
                     initial value explains",
                    name(ops[fixed]),
                    value(ops[fixed])
                ));
            }
            text
        }
        Conflict::InitialAfter { get, op, put } => {
            let head = match start {
                Start::Absent => format!("{} returned null (key absent)", name(ops[get])),
                _ => only_initial(ops[get]),
            };
            let tail = match start {
                Start::Absent => "and nothing removes a key",
                _ => "so the initial value had been overwritten",
            };
            if op == put {
                format!("{head}, but {} had completed before the get was invoked, {tail}", name(ops[put]))
            } else {
                format!(
                    "{head}, but {} had already returned {} before the get was invoked, so {} had \
                     taken effect, {tail}",
                    name(ops[op]),
                    value(ops[op]),
                    name(ops[put])
                )
            }
        }
        Conflict::Cycle { a, b, a_ret, b_call, b_ret, a_call } => {
            let (x, y) = (value(ops[a]), value(ops[b]));
            format!(
                "every put writes a different value, so in any order the put of {x} is followed by \
                 the gets that read {x} before any other put, and likewise for {y}; but {} returned \
                 before {} was invoked, so the put of {x} and its gets come before those of {y}, and \
                 {} returned before {} was invoked, so they come after them",
                member(ops[a_ret]),
                member(ops[b_call]),
                member(ops[b_ret]),
                member(ops[a_call])
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::history::test_op as op;

    fn put(v: &str, call: u64, ret: u64) -> Operation {
        op(1, OperationKind::Put(v.to_string()), call, Some(ret))
    }

    fn info_put(v: &str, call: u64) -> Operation {
        op(1, OperationKind::Put(v.to_string()), call, None)
    }

    fn get(v: Option<&str>, call: u64, ret: u64) -> Operation {
        op(2, OperationKind::Get(v.map(str::to_string)), call, Some(ret))
    }

    /// Interns the values and decides.
    fn run(ops: &[Operation], initial: Initial) -> Decision {
        let mut values: Vec<String> = Vec::new();
        let mut intern = |v: &str| match values.iter().position(|w| w == v) {
            Some(id) => id,
            None => {
                values.push(v.to_string());
                values.len() - 1
            }
        };
        let steps: Vec<SearchOp> = ops
            .iter()
            .map(|op| SearchOp {
                call: op.call,
                ret: op.ret,
                step: match &op.kind {
                    OperationKind::Put(v) => Step::Put(intern(v)),
                    OperationKind::Get(v) => Step::Get(v.as_deref().map(&mut intern)),
                },
            })
            .collect();
        let n = ops.len() * 2;
        decide(&steps, n, initial)
    }

    fn conflict(ops: &[Operation], initial: Initial) -> Conflict {
        match run(ops, initial) {
            Decision::NotLinearizable(failure) => failure.conflict,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stale_read_is_a_cycle() {
        let ops = [put("a", 0, 10), put("b", 20, 30), get(Some("a"), 40, 50)];
        assert_eq!(
            conflict(&ops, Initial::Empty),
            Conflict::Cycle { a: 1, b: 0, a_ret: 1, b_call: 2, b_ret: 0, a_call: 1 }
        );
    }

    #[test]
    fn touching_intervals_are_concurrent() {
        // b's put returns at 30 exactly when the get of a is invoked.
        let ops = [put("a", 0, 10), put("b", 20, 30), get(Some("a"), 30, 50)];
        assert!(matches!(run(&ops, Initial::Empty), Decision::Linearizable));
        // A get returning at the very time its put is invoked.
        let ops = [get(Some("a"), 0, 5), put("a", 5, 9)];
        assert!(matches!(run(&ops, Initial::Empty), Decision::Linearizable));
    }

    #[test]
    fn edge_times() {
        for t in [0, u64::MAX] {
            let ops = [put("a", t, t), get(Some("a"), t, t), get(None, t, t)];
            assert!(matches!(run(&ops, Initial::Empty), Decision::Linearizable), "{t}");
        }
        let ops = [put("a", 0, 0), get(Some("a"), u64::MAX, u64::MAX), get(None, u64::MAX, u64::MAX)];
        assert!(matches!(conflict(&ops, Initial::Empty), Conflict::InitialAfter { get: 2, op: 0, put: 0 }));
    }

    #[test]
    fn initial_cluster_comes_first() {
        let ops = [put("a", 0, 3), get(Some("a"), 0, 1), get(None, 2, 4)];
        assert_eq!(conflict(&ops, Initial::Empty), Conflict::InitialAfter { get: 2, op: 1, put: 0 });
        assert!(matches!(conflict(&[get(Some("z"), 0, 1)], Initial::Empty), Conflict::Unwritten { get: 0 }));
    }

    #[test]
    fn info_puts() {
        // Unread: left out, even though it would have to precede the read of null.
        let ops = [info_put("a", 0), get(None, 5, 6)];
        assert!(matches!(run(&ops, Initial::Empty), Decision::Linearizable));
        // Read: must have taken effect before the read returned.
        let ops = [get(Some("a"), 0, 4), info_put("a", 5)];
        assert_eq!(conflict(&ops, Initial::Empty), Conflict::BeforePut { get: 0, put: 1 });
        // Seen, then the older value again.
        let ops = [put("a", 0, 10), info_put("b", 20), get(Some("b"), 40, 50), get(Some("a"), 60, 70)];
        assert!(matches!(conflict(&ops, Initial::Empty), Conflict::Cycle { .. }));
    }

    #[test]
    fn duplicate_read_values_are_not_decided() {
        let ops = [put("a", 0, 1), put("a", 2, 3), get(Some("a"), 4, 5)];
        assert!(matches!(run(&ops, Initial::Empty), Decision::NotApplicable));
        // Unread duplicates are fine.
        let ops = [put("a", 0, 1), put("a", 2, 3), get(None, 4, 5)];
        assert!(matches!(conflict(&ops, Initial::Empty), Conflict::InitialAfter { .. }));
    }

    #[test]
    fn unknown_initial_value() {
        // Fixed by a read of a value nobody wrote.
        let ops = [get(Some("old"), 0, 1), put("new", 2, 3), get(Some("old"), 4, 5)];
        assert!(matches!(conflict(&ops, Initial::Unknown), Conflict::InitialAfter { .. }));
        // Open: the initial value may be a written one, read before its put.
        let ops = [get(Some("a"), 0, 1), put("a", 2, 3), get(Some("a"), 4, 5)];
        assert!(matches!(run(&ops, Initial::Unknown), Decision::Linearizable));
        // ...but not once another put has overwritten it.
        let ops = [get(Some("a"), 0, 1), put("b", 2, 3), get(Some("a"), 4, 5), put("a", 6, 7)];
        match run(&ops, Initial::Unknown) {
            Decision::NotLinearizable(Failure { start: Start::Open(alternatives), .. }) => {
                assert_eq!(alternatives.len(), 1, "{alternatives:?}");
                assert_eq!(alternatives[0].early, vec![0]);
            }
            other => panic!("{other:?}"),
        }
    }
}
