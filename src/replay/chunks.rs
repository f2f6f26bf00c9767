//! An append-only list whose clones share all but its last, unfinished chunk: a timeline's
//! checkpoints (`super::timeline`) each hold a scene, and a scene's list of client operations
//! grows with the whole run. Copied whole into every checkpoint, a run of 160,000 operations
//! took gigabytes; shared by chunks, a copy costs a pointer per 256 operations and at most 255
//! operations of its own.

use std::sync::Arc;

/// Operations per shared chunk.
const CHUNK: usize = 256;

/// The list. Clones are cheap; pushing never changes what another clone sees.
#[derive(Clone, Debug)]
pub struct Chunks<T> {
    full: Vec<Arc<[T]>>,
    tail: Vec<T>,
}

impl<T> Default for Chunks<T> {
    fn default() -> Self {
        Chunks { full: Vec::new(), tail: Vec::new() }
    }
}

impl<T: PartialEq> PartialEq for Chunks<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<T> Chunks<T> {
    /// Adds an item at the end.
    pub fn push(&mut self, item: T) {
        self.tail.push(item);
        if self.tail.len() == CHUNK {
            self.full.push(Arc::from(std::mem::take(&mut self.tail)));
        }
    }

    /// How many items it holds.
    pub fn len(&self) -> usize {
        self.full.len() * CHUNK + self.tail.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every item, in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + '_ {
        self.full.iter().flat_map(|c| c.iter()).chain(self.tail.iter())
    }

    /// The items from `start` on, in order (reached without walking the ones before).
    pub fn from(&self, start: usize) -> impl Iterator<Item = &T> + '_ {
        let (chunk, offset) = (start / CHUNK, start % CHUNK);
        let full = self.full.get(chunk..).unwrap_or_default().iter().flat_map(|c| c.iter());
        let skip = if chunk <= self.full.len() { offset } else { start - self.full.len() * CHUNK };
        full.chain(self.tail.iter()).skip(skip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain vector: pushes, clones that diverge, lengths, and reading from any point.
    #[test]
    fn a_chunked_list_behaves_as_a_vector_whose_clones_do_not_see_later_pushes() {
        let mut list = Chunks::default();
        let mut model = Vec::new();
        let mut clones = Vec::new();
        for i in 0..1000u32 {
            list.push(i);
            model.push(i);
            if i % 97 == 0 {
                clones.push((list.clone(), model.clone()));
            }
        }
        for (c, m) in clones.iter().chain([(list.clone(), model.clone())].iter()) {
            assert_eq!(c.len(), m.len());
            assert_eq!(c.iter().copied().collect::<Vec<_>>(), *m);
            for start in [0, 1, 255, 256, 257, 511, 512, m.len().saturating_sub(1), m.len(), m.len() + 3] {
                let got: Vec<u32> = c.from(start).copied().collect();
                assert_eq!(got, m.get(start..).unwrap_or_default(), "from {start} of {}", m.len());
            }
        }
        assert!(list == list.clone() && Chunks::<u32>::default().is_empty());
    }
}
