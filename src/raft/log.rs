//! The in-memory replicated log of one node, with the bookkeeping of which suffix still has to
//! reach durable storage.
//!
//! The log starts after `base`: 0@0 for a log that was never compacted, else the last entry of
//! the node's snapshot (paper §7). The first index is a variable, never the constant 1, and it
//! moves forward at every snapshot.

use super::{Entry, EntryId, LogIndex, Term};

/// A node's log. Invariant: `entries[i].index == base.index + 1 + i`, and terms never decrease
/// along the log (a leader only appends entries of its own, current term).
#[derive(Clone, Debug, Default)]
pub struct Log {
    /// The entry just before the first held entry: 0@0, or the snapshot's last entry.
    base: EntryId,
    entries: Vec<Entry>,
    /// The lowest index changed since the last hand-over to storage: everything from here on
    /// must be written (and anything stored at or beyond it replaced).
    unstable_from: Option<LogIndex>,
}

impl Log {
    /// A log recovered from storage: `entries` follow `base` and are all durable.
    pub fn recover(base: EntryId, entries: Vec<Entry>) -> Self {
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e.index.0, base.index.0 + 1 + i as u64, "recovered log has a gap");
        }
        Log { base, entries, unstable_from: None }
    }

    /// The entry just before the first held entry (0@0, or the snapshot's last entry).
    pub fn base(&self) -> EntryId {
        self.base
    }

    /// The index of the first entry held (one past the base).
    pub fn first_index(&self) -> LogIndex {
        self.base.index.next()
    }

    /// The last entry's identity (the base when empty).
    pub fn last(&self) -> EntryId {
        self.entries.last().map(Entry::id).unwrap_or(self.base)
    }

    /// The last index.
    pub fn last_index(&self) -> LogIndex {
        self.last().index
    }

    /// The term of the entry at `index`, if the log holds it (or it is the base).
    pub fn term(&self, index: LogIndex) -> Option<Term> {
        if index == self.base.index {
            return Some(self.base.term);
        }
        self.get(index).map(|e| e.term)
    }

    /// The entry at `index`.
    pub fn get(&self, index: LogIndex) -> Option<&Entry> {
        let offset = index.0.checked_sub(self.first_index().0)?;
        self.entries.get(usize::try_from(offset).ok()?)
    }

    /// Up to `max` entries starting at `from`.
    pub fn slice(&self, from: LogIndex, max: usize) -> Vec<Entry> {
        let Some(offset) = from.0.checked_sub(self.first_index().0) else { return Vec::new() };
        let start = offset as usize;
        if start >= self.entries.len() {
            return Vec::new();
        }
        let end = start.saturating_add(max).min(self.entries.len());
        self.entries[start..end].to_vec()
    }

    /// All entries held, in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// True if the log holds an entry with this identity (or it is the base).
    pub fn matches(&self, id: EntryId) -> bool {
        self.term(id.index) == Some(id.term)
    }

    /// The first index the log holds of `term`, scanning back from `from` (for reject hints).
    pub fn first_index_of_term(&self, term: Term, from: LogIndex) -> LogIndex {
        let mut index = from;
        while index > self.first_index() && self.term(index.prev()) == Some(term) {
            index = index.prev();
        }
        index
    }

    /// The last index at or before `from` whose term is at most `term` (leader side of the
    /// back-off: the follower can match there at best).
    pub fn last_index_with_term_at_most(&self, term: Term, from: LogIndex) -> LogIndex {
        let mut index = from.min(self.last_index());
        while index > self.base.index {
            match self.term(index) {
                Some(t) if t <= term => return index,
                _ => index = index.prev(),
            }
        }
        index
    }

    /// Appends an entry at the end. Its index must be the next one.
    pub fn append(&mut self, entry: Entry) {
        assert_eq!(entry.index, self.last_index().next(), "append must extend the log by one");
        assert!(entry.term >= self.last().term, "terms never decrease along the log");
        self.mark_unstable(entry.index);
        self.entries.push(entry);
    }

    /// Removes every entry at `index` and beyond. Callers must never cut committed entries.
    pub fn truncate(&mut self, index: LogIndex) -> Vec<Entry> {
        assert!(index >= self.first_index(), "cannot truncate into the base");
        let keep = (index.0 - self.first_index().0) as usize;
        let removed = self.entries.split_off(keep.min(self.entries.len()));
        self.mark_unstable(index);
        removed
    }

    /// Paper §7: drops every entry up to and including `upto`, which the log must hold (or be
    /// its base); `upto` becomes the base. Entries after it stay, and so does what of them is
    /// still to be written.
    pub fn compact(&mut self, upto: EntryId) {
        assert!(self.matches(upto), "compacting to {upto}, which the log does not hold");
        if upto.index <= self.base.index {
            return;
        }
        let drop = (upto.index.0 - self.base.index.0) as usize;
        self.entries.drain(..drop);
        self.base = upto;
        self.unstable_from = self.unstable_from.map(|u| u.max(upto.index.next()));
    }

    /// Paper §7, a snapshot that does not match the log: every entry goes and `base` becomes the
    /// log's start. Storage must drop every entry it holds after the base too.
    pub fn reset(&mut self, base: EntryId) {
        self.entries.clear();
        self.base = base;
        self.unstable_from = Some(base.index.next());
    }

    fn mark_unstable(&mut self, index: LogIndex) {
        self.unstable_from = Some(self.unstable_from.map_or(index, |u| u.min(index)));
    }

    /// True if some entries changed since the last hand-over to storage.
    pub fn has_unstable(&self) -> bool {
        self.unstable_from.is_some()
    }

    /// Hands the unstable suffix to the caller for persistence and marks it handed over.
    /// Returns the entries from the lowest changed index to the end: storage must drop what it
    /// holds at those indexes and beyond, then write them.
    pub fn take_unstable(&mut self) -> Option<(LogIndex, Vec<Entry>)> {
        let from = self.unstable_from.take()?;
        Some((from, self.slice(from, usize::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(terms: &[u64]) -> Log {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, t)| Entry { index: LogIndex(i as u64 + 1), term: Term(*t), command: None })
            .collect();
        Log::recover(EntryId::default(), entries)
    }

    #[test]
    fn term_lookup_and_bounds() {
        let log = log_of(&[1, 1, 2]);
        assert_eq!(log.term(LogIndex(0)), Some(Term(0)));
        assert_eq!(log.term(LogIndex(3)), Some(Term(2)));
        assert_eq!(log.term(LogIndex(4)), None);
        assert_eq!(log.first_index_of_term(Term(1), LogIndex(2)), LogIndex(1));
        assert_eq!(log.last_index_with_term_at_most(Term(1), LogIndex(3)), LogIndex(2));
        assert_eq!(log.last_index_with_term_at_most(Term(0), LogIndex(3)), LogIndex(0));
    }

    #[test]
    fn compacting_keeps_the_suffix_and_resetting_drops_everything() {
        let mut log = log_of(&[1, 1, 2, 2]);
        log.compact(EntryId { index: LogIndex(2), term: Term(1) });
        assert_eq!((log.first_index(), log.last_index()), (LogIndex(3), LogIndex(4)));
        assert_eq!(log.term(LogIndex(2)), Some(Term(1)), "the base answers for its term");
        assert_eq!(log.term(LogIndex(1)), None, "compacted away");
        assert_eq!(log.slice(LogIndex(1), 10), Vec::new());
        log.append(Entry { index: LogIndex(5), term: Term(3), command: None });
        log.compact(EntryId { index: LogIndex(4), term: Term(2) });
        let (from, entries) = log.take_unstable().unwrap();
        assert_eq!((from, entries.len()), (LogIndex(5), 1), "what was unstable after the base stays so");
        log.reset(EntryId { index: LogIndex(9), term: Term(4) });
        assert_eq!(
            (log.first_index(), log.last_index(), log.entries().len()),
            (LogIndex(10), LogIndex(9), 0)
        );
        assert_eq!(
            log.take_unstable(),
            Some((LogIndex(10), Vec::new())),
            "storage drops what follows the base"
        );
    }

    #[test]
    #[should_panic(expected = "does not hold")]
    fn compacting_to_an_entry_the_log_lacks_is_a_bug() {
        log_of(&[1, 1]).compact(EntryId { index: LogIndex(2), term: Term(5) });
    }

    #[test]
    fn truncate_marks_unstable_from_the_cut() {
        let mut log = log_of(&[1, 1, 2]);
        log.truncate(LogIndex(2));
        log.append(Entry { index: LogIndex(2), term: Term(3), command: None });
        let (from, entries) = log.take_unstable().unwrap();
        assert_eq!(from, LogIndex(2));
        assert_eq!(entries.len(), 1);
        assert!(log.take_unstable().is_none());
    }
}
