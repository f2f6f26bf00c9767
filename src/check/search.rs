//! The linearizability search for the operations of one key.
//!
//! This is the algorithm of Wing & Gong as improved by Lowe ("Testing for
//! linearizability", 2017) and used by porcupine: the call and return events
//! of all operations sit in one time-ordered doubly linked list; the search
//! repeatedly takes a call that comes before the first remaining return,
//! applies the operation to the model state, and if that is legal *lifts* the
//! operation (unlinks its call and return) and starts over from the head.
//! Reaching a return means the operation it belongs to can no longer be placed
//! in this branch, so the last lifted operation is *unlifted* and the search
//! goes on with the entry after its call. A cache of every (set of linearized
//! operations, state) already visited prunes branches that differ only in the
//! order of operations that commute.
//!
//! The model here is one register: the state is a [`State`], the interned
//! value of the key or absent. A put always succeeds; a get succeeds only if
//! it read the current state.
//!
//! When the key's initial value is unknown, the search starts in the
//! wildcard state [`State::Unknown`]. A get linearized in it succeeds whatever
//! it read (a value or absent) and sets the state to what it read; a put
//! replaces it as usual. This is exactly "there is one initial value, fixed
//! before the first operation": the first operation placed either reads it
//! (and from then on the state is that value) or overwrites it (and then its
//! value never mattered). Since every operation resolves the wildcard,
//! `Unknown` is only ever the state of the empty order; it is its own variant,
//! never equal to a value, so a (linearized set, state) pair in the cache
//! always means one register state.
//!
//! No value of the input doubles as a marker: times are compared as they
//! are (0 and `u64::MAX` included), an unknown outcome is `ret: None`, and
//! the list's head and "no return" are variants of their own.

use std::time::Instant;

use super::hash::mix64;

/// Interned id of a value of the key: an index into the key's value table.
pub(crate) type ValueId = usize;

/// The register's state during the search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// The key's initial value, unknown and not yet read (the wildcard).
    Unknown,
    /// The key is absent.
    Absent,
    /// The key holds this value.
    Value(ValueId),
}

impl State {
    /// The state a get that read `read` (`None`: absent) leaves.
    pub(crate) fn read(read: Option<ValueId>) -> State {
        read.map_or(State::Absent, State::Value)
    }

    /// A hash input for the state. Only for hashing: two states may share a
    /// code in theory, and the cache compares the states themselves.
    fn code(self) -> u64 {
        match self {
            State::Unknown => 1,
            State::Absent => 2,
            State::Value(v) => mix64(v as u64) ^ 3,
        }
    }
}

/// What an operation does to the register, values interned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Sets the state to this value.
    Put(ValueId),
    /// Requires the state to be what was read (`None`: absent), or the
    /// wildcard, which it then fixes to what was read.
    Get(Option<ValueId>),
}

/// One operation as the search sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SearchOp {
    /// Invoke time.
    pub call: u64,
    /// Return time; `None` for an unknown outcome: the operation may be placed
    /// anywhere after its call, and need not be placed at all.
    pub ret: Option<u64>,
    /// Its effect.
    pub step: Step,
}

/// Where the search got furthest, to explain a failure.
#[derive(Clone, Debug)]
pub(crate) struct Trace {
    /// How many operations the longest order the search could build has.
    pub depth: usize,
    /// That order (indices), when tracking was asked for.
    pub order: Vec<usize>,
    /// The operation whose return was reached right after that order, if any:
    /// it could not be placed next.
    pub stuck: Option<usize>,
    /// The register state after `order`.
    pub state: State,
}

impl Default for Trace {
    fn default() -> Self {
        Trace { depth: 0, order: Vec::new(), stuck: None, state: State::Absent }
    }
}

/// The result of one search.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// An order exists.
    Linearizable,
    /// No order exists; `order` in the trace is filled only when asked for.
    NotLinearizable(Trace),
    /// The deadline passed first.
    TimedOut,
}

/// How many loop iterations between two looks at the clock.
const CLOCK_EVERY: u32 = 1 << 12;

/// Searches for a linearization of `ops` from the register state `initial`
/// (`State::Absent`, or the wildcard `State::Unknown`).
///
/// Every operation with a return time must be placed; operations without
/// one (unknown outcome) may be left out. A failure tells where the search got
/// stuck; with `track` it also carries the order that got there (this costs a
/// copy of the order at each new depth).
pub(crate) fn search(ops: &[SearchOp], initial: State, deadline: Option<Instant>, track: bool) -> Outcome {
    let remaining_ok = ops.iter().filter(|o| o.ret.is_some()).count();
    if remaining_ok == 0 {
        return Outcome::Linearizable;
    }
    Search::new(ops, initial, remaining_ok, track).run(deadline)
}

/// The state of one [`search`]: the event list with the lifted operations
/// unlinked, the stack of placements, the cache of visited pairs and the
/// deepest point reached.
struct Search<'a> {
    ops: &'a [SearchOp],
    list: EventList,
    linearized: LinearizedSet,
    cache: StateCache,
    /// The register state after the operations on the stack.
    state: State,
    /// The lifted operations in order, each with the state before it.
    stack: Vec<(u32, State)>,
    /// Operations with a return time not yet lifted.
    remaining_ok: usize,
    trace: Trace,
    track: bool,
}

/// What [`Search::lift`] did with an operation.
enum Lift {
    /// The operation is illegal in the current state, or the (set, state)
    /// pair it leads to was already visited.
    Refused,
    /// It is placed next.
    Lifted,
    /// It was the last operation that had to be placed.
    Done,
}

impl<'a> Search<'a> {
    fn new(ops: &'a [SearchOp], initial: State, remaining_ok: usize, track: bool) -> Self {
        let n = ops.len();
        Search {
            ops,
            list: EventList::new(ops),
            linearized: LinearizedSet::new(n),
            cache: StateCache::new(n),
            state: initial,
            stack: Vec::with_capacity(n),
            remaining_ok,
            trace: Trace { state: initial, ..Trace::default() },
            track,
        }
    }

    /// Walks the event list from its head: lifts a call when it can and
    /// starts over, and at a return undoes the last placement.
    fn run(mut self, deadline: Option<Instant>) -> Outcome {
        let mut iterations = 0u32;
        let mut node = self.list.first();
        loop {
            iterations = iterations.wrapping_add(1);
            if iterations.is_multiple_of(CLOCK_EVERY)
                && let Some(deadline) = deadline
                && Instant::now() >= deadline
            {
                return Outcome::TimedOut;
            }
            match self.list.kind[node as usize] {
                Node::Call(op) => match self.lift(op as usize) {
                    Lift::Done => return Outcome::Linearizable,
                    Lift::Lifted => node = self.list.first(),
                    Lift::Refused => node = self.list.after(node),
                },
                kind @ (Node::Return(_) | Node::Head) => {
                    // A return (or the end of the list): the operations before it
                    // cannot all be placed from here. Undo the last placement.
                    if let Node::Return(op) = kind {
                        self.note_stuck(op as usize);
                    }
                    let Some(op) = self.unlift() else {
                        return Outcome::NotLinearizable(self.trace);
                    };
                    node = self.list.after(self.list.call_node[op]);
                }
            }
        }
    }

    /// Places `op` next if it is legal in the current state and leads to a
    /// (linearized set, state) pair not visited before.
    fn lift(&mut self, op: usize) -> Lift {
        let new_state = match self.ops[op].step {
            Step::Put(v) => State::Value(v),
            // The wildcard accepts any read and becomes what was read.
            Step::Get(read) => {
                let seen = State::read(read);
                if seen != self.state && self.state != State::Unknown {
                    return Lift::Refused;
                }
                seen
            }
        };
        self.linearized.add(op);
        let (lo, words) = self.linearized.key();
        if !self.cache.insert(self.linearized.hash ^ mix64(new_state.code()), lo, words, new_state) {
            self.linearized.remove(op);
            return Lift::Refused;
        }
        self.stack.push((op as u32, self.state));
        self.state = new_state;
        if self.list.lift(op) {
            self.remaining_ok -= 1;
            if self.remaining_ok == 0 {
                return Lift::Done;
            }
        }
        self.note_depth();
        Lift::Lifted
    }

    /// Undoes the last placement; returns its operation, or `None` if nothing
    /// is placed (then no order exists).
    fn unlift(&mut self) -> Option<usize> {
        let (op, old_state) = self.stack.pop()?;
        let op = op as usize;
        self.state = old_state;
        self.linearized.remove(op);
        if self.list.unlift(op) {
            self.remaining_ok += 1;
        }
        Some(op)
    }

    /// Records the current order if it is the longest yet.
    fn note_depth(&mut self) {
        if self.stack.len() > self.trace.depth {
            self.trace.depth = self.stack.len();
            self.trace.stuck = None;
            self.trace.state = self.state;
            if self.track {
                self.trace.order = self.stack.iter().map(|&(o, _)| o as usize).collect();
            }
        }
    }

    /// Records that `op`'s return was reached, if right after the longest order.
    fn note_stuck(&mut self, op: usize) {
        if self.stack.len() == self.trace.depth && self.trace.stuck.is_none() {
            self.trace.stuck = Some(op);
        }
    }
}

/// The calls and returns of the operations in one time-ordered, circular,
/// doubly linked list, from which lifted operations are unlinked.
///
/// Node 0 is the head; node k + 1 is the k-th event in time order. At equal
/// times calls come first, so that operations whose intervals touch count as
/// concurrent (the lenient reading).
struct EventList {
    next: Vec<u32>,
    prev: Vec<u32>,
    kind: Vec<Node>,
    /// Each operation's call node.
    call_node: Vec<u32>,
    /// Each operation's return node; `None` for an unknown outcome.
    ret_node: Vec<Option<u32>>,
}

impl EventList {
    fn new(ops: &[SearchOp]) -> Self {
        let n = ops.len();
        let mut entries: Vec<(u64, bool, u32)> = Vec::with_capacity(2 * n);
        for (i, op) in ops.iter().enumerate() {
            entries.push((op.call, false, i as u32));
            if let Some(ret) = op.ret {
                entries.push((ret, true, i as u32));
            }
        }
        entries.sort_unstable();

        let m = entries.len();
        let next: Vec<u32> = (0..=m).map(|k| ((k + 1) % (m + 1)) as u32).collect();
        let prev: Vec<u32> = (0..=m).map(|k| ((k + m) % (m + 1)) as u32).collect();
        let mut kind = vec![Node::Head; m + 1];
        let mut call_node = vec![0u32; n];
        let mut ret_node: Vec<Option<u32>> = vec![None; n];
        for (k, &(_, is_ret, op)) in entries.iter().enumerate() {
            let node = (k + 1) as u32;
            if is_ret {
                kind[k + 1] = Node::Return(op);
                ret_node[op as usize] = Some(node);
            } else {
                kind[k + 1] = Node::Call(op);
                call_node[op as usize] = node;
            }
        }
        EventList { next, prev, kind, call_node, ret_node }
    }

    /// The first node after the head (the head itself if the list is empty).
    fn first(&self) -> u32 {
        self.next[0]
    }

    /// The node after `node`.
    fn after(&self, node: u32) -> u32 {
        self.next[node as usize]
    }

    /// Unlinks `op`'s call and return; whether it has a return.
    fn lift(&mut self, op: usize) -> bool {
        self.unlink(self.call_node[op]);
        match self.ret_node[op] {
            Some(ret) => {
                self.unlink(ret);
                true
            }
            None => false,
        }
    }

    /// Links `op`'s return and call back in, undoing [`EventList::lift`]
    /// (the last lift not yet undone); whether it has a return.
    fn unlift(&mut self, op: usize) -> bool {
        let has_ret = match self.ret_node[op] {
            Some(ret) => {
                self.relink(ret);
                true
            }
            None => false,
        };
        self.relink(self.call_node[op]);
        has_ret
    }

    fn unlink(&mut self, x: u32) {
        let (p, nx) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = nx;
        self.prev[nx as usize] = p;
    }

    fn relink(&mut self, x: u32) {
        let (p, nx) = (self.prev[x as usize], self.next[x as usize]);
        self.next[p as usize] = x;
        self.prev[nx as usize] = x;
    }
}

/// What a node of the search's event list is.
#[derive(Clone, Copy, Debug)]
enum Node {
    /// The head of the circular list: reaching it ends a scan like a return.
    Head,
    /// The call of this operation.
    Call(u32),
    /// The return of this operation.
    Return(u32),
}

/// The set of operations linearized so far, as a bitset kept in a form that
/// is cheap to hash and to store.
///
/// Operations are numbered in invoke order and the search linearizes them
/// roughly in that order, so the set is nearly always "everything below some
/// point, plus a few operations just above it". Only the words from the
/// lowest one not full (`lo`) to the highest one not empty are stored in the
/// cache, which makes an entry a word or two instead of n/64 words.
struct LinearizedSet {
    bits: Vec<u64>,
    /// Lowest word that is not all ones (every word below it is full).
    lo: usize,
    /// One past the highest word that is not zero (every word from it on is empty).
    hi_end: usize,
    /// Zobrist hash of the set: the XOR of the random keys of its members.
    hash: u64,
    keys: Vec<u64>,
}

impl LinearizedSet {
    fn new(n: usize) -> Self {
        LinearizedSet {
            bits: vec![0; n.div_ceil(64)],
            lo: 0,
            hi_end: 0,
            hash: 0,
            keys: (0..n as u64).map(|i| mix64(i ^ 0x5eed_0f0b_5e00)).collect(),
        }
    }

    fn add(&mut self, op: usize) {
        let w = op / 64;
        self.bits[w] |= 1u64 << (op % 64);
        self.hash ^= self.keys[op];
        self.hi_end = self.hi_end.max(w + 1);
        while self.lo < self.bits.len() && self.bits[self.lo] == u64::MAX {
            self.lo += 1;
        }
    }

    fn remove(&mut self, op: usize) {
        let w = op / 64;
        self.bits[w] &= !(1u64 << (op % 64));
        self.hash ^= self.keys[op];
        self.lo = self.lo.min(w);
        while self.hi_end > 0 && self.bits[self.hi_end - 1] == 0 {
            self.hi_end -= 1;
        }
    }

    /// A description that identifies the set: `lo` and the words from it to the last non-empty one.
    fn key(&self) -> (usize, &[u64]) {
        (self.lo, &self.bits[self.lo..self.hi_end.max(self.lo)])
    }
}

/// The set of visited (linearized set, state) pairs.
///
/// An open-addressing table over an arena: each entry's words live in one
/// flat `Vec<u64>`, so an insert costs a copy of a word or two and no
/// allocation, and hashes are computed incrementally by the caller.
struct StateCache {
    /// 0: empty; otherwise entry index + 1.
    slots: Vec<u32>,
    entries: Vec<CacheEntry>,
    words: Vec<u64>,
}

/// One visited pair; its words are `words[start..start + len]`.
struct CacheEntry {
    hash: u64,
    start: usize,
    len: u32,
    lo: u32,
    state: State,
}

impl StateCache {
    /// An empty cache sized for about `expected` entries.
    fn new(expected: usize) -> Self {
        StateCache {
            slots: vec![0; (2 * expected).next_power_of_two().max(64)],
            entries: Vec::with_capacity(expected),
            words: Vec::with_capacity(expected),
        }
    }

    /// Inserts the pair (set given as by [`LinearizedSet::key`]); false if it was already there.
    fn insert(&mut self, hash: u64, lo: usize, words: &[u64], state: State) -> bool {
        if (self.entries.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                break;
            }
            let e = &self.entries[(slot - 1) as usize];
            if e.hash == hash
                && e.state == state
                && e.lo as usize == lo
                && e.len as usize == words.len()
                && self.words[e.start..e.start + words.len()] == *words
            {
                return false;
            }
            i = (i + 1) & mask;
        }
        self.slots[i] = self.entries.len() as u32 + 1;
        self.entries.push(CacheEntry {
            hash,
            start: self.words.len(),
            len: words.len() as u32,
            lo: lo as u32,
            state,
        });
        self.words.extend_from_slice(words);
        true
    }

    fn grow(&mut self) {
        let size = self.slots.len() * 2;
        let mask = size - 1;
        let mut slots = vec![0u32; size];
        for (e, entry) in self.entries.iter().enumerate() {
            let mut i = entry.hash as usize & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = e as u32 + 1;
        }
        self.slots = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(call: u64, ret: u64, step: Step) -> SearchOp {
        SearchOp { call, ret: Some(ret), step }
    }

    #[test]
    fn sequential_register() {
        let ops = [ok(0, 1, Step::Get(None)), ok(2, 3, Step::Put(1)), ok(4, 5, Step::Get(Some(1)))];
        assert!(matches!(search(&ops, State::Absent, None, false), Outcome::Linearizable));
    }

    #[test]
    fn concurrent_puts_either_order() {
        for read in [1, 2] {
            let ops = [ok(0, 10, Step::Put(1)), ok(0, 10, Step::Put(2)), ok(11, 12, Step::Get(Some(read)))];
            assert!(matches!(search(&ops, State::Absent, None, false), Outcome::Linearizable));
        }
    }

    #[test]
    fn stale_read_has_trace() {
        let ops = [ok(0, 1, Step::Put(1)), ok(2, 3, Step::Put(2)), ok(4, 5, Step::Get(Some(1)))];
        match search(&ops, State::Absent, None, true) {
            Outcome::NotLinearizable(trace) => {
                assert_eq!(trace.order, vec![0, 1]);
                assert_eq!(trace.stuck, Some(2));
                assert_eq!(trace.state, State::Value(2));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_outcome_optional() {
        let info = SearchOp { call: 0, ret: None, step: Step::Put(7) };
        let seen = [info, ok(5, 6, Step::Get(Some(7)))];
        assert!(matches!(search(&seen, State::Absent, None, false), Outcome::Linearizable));
        let unseen = [info, ok(5, 6, Step::Get(None))];
        assert!(matches!(search(&unseen, State::Absent, None, false), Outcome::Linearizable));
        let before = [SearchOp { call: 10, ..info }, ok(5, 6, Step::Get(Some(7)))];
        assert!(matches!(search(&before, State::Absent, None, false), Outcome::NotLinearizable(_)));
    }

    #[test]
    fn wildcard_initial_state() {
        let run = |ops: &[SearchOp]| search(ops, State::Unknown, None, true);
        // A read of a value nobody wrote is the initial value.
        assert!(matches!(run(&[ok(0, 1, Step::Get(Some(5)))]), Outcome::Linearizable));
        assert!(matches!(
            run(&[ok(0, 1, Step::Get(None)), ok(2, 3, Step::Get(None))]),
            Outcome::Linearizable
        ));
        // The initial value is one value.
        for (a, b) in [(Some(5), Some(6)), (None, Some(5)), (Some(5), None)] {
            assert!(matches!(
                run(&[ok(0, 1, Step::Get(a)), ok(2, 3, Step::Get(b))]),
                Outcome::NotLinearizable(_)
            ));
        }
        // Concurrent reads of two values: one is initial, the other written.
        let ops = [ok(0, 10, Step::Get(Some(5))), ok(0, 10, Step::Put(6)), ok(0, 10, Step::Get(Some(6)))];
        assert!(matches!(run(&ops), Outcome::Linearizable));
        // A put overwrites the initial value for good.
        let ops = [ok(0, 1, Step::Get(Some(5))), ok(2, 3, Step::Put(6)), ok(4, 5, Step::Get(Some(5)))];
        match run(&ops) {
            Outcome::NotLinearizable(trace) => {
                assert_eq!(trace.order, vec![0, 1]);
                assert_eq!(trace.stuck, Some(2));
                assert_eq!(trace.state, State::Value(6));
            }
            other => panic!("{other:?}"),
        }
        // From absent, the same read of an unwritten value fails.
        assert!(matches!(
            search(&[ok(0, 1, Step::Get(Some(5)))], State::Absent, None, false),
            Outcome::NotLinearizable(_)
        ));
    }

    #[test]
    fn cache_grows() {
        let mut c = StateCache::new(10);
        let zero = State::Value(0);
        for i in 0..5000u64 {
            assert!(c.insert(mix64(i), 0, &[i], zero));
        }
        for i in 0..5000u64 {
            assert!(!c.insert(mix64(i), 0, &[i], zero));
        }
        assert!(c.insert(mix64(1), 0, &[1], State::Value(1)));
        assert!(c.insert(mix64(1), 0, &[1], State::Absent));
        assert!(c.insert(mix64(1), 0, &[1], State::Unknown));
        assert!(c.insert(mix64(1), 1, &[1], zero));
        assert!(c.insert(mix64(1), 0, &[1, 0], zero));
    }

    #[test]
    fn linearized_set_key_tracks_the_window() {
        let mut s = LinearizedSet::new(200);
        assert_eq!(s.key(), (0, &[][..]));
        for op in 0..64 {
            s.add(op);
        }
        assert_eq!(s.key(), (1, &[][..]));
        s.add(130);
        assert_eq!(s.key(), (1, &[0, 1 << 2][..]));
        s.remove(5);
        assert_eq!(s.key(), (0, &[!(1 << 5), 0, 1 << 2][..]));
        s.remove(130);
        s.add(5);
        assert_eq!(s.key(), (1, &[][..]));
        let empty = LinearizedSet::new(200);
        for op in 0..64 {
            s.remove(op);
        }
        assert_eq!(s.key(), empty.key());
        assert_eq!(s.hash, empty.hash);
    }
}
