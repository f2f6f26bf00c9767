//! The simulator's checks after every step: Raft's safety properties (paper Figure 3), by the
//! event-fed checker of [`crate::safety`], the console's own, fed the step's events; and one
//! check the events cannot make alone, since it needs the clients' answers: every acknowledged
//! put is committed.

use crate::events::{Event, EventKind, NodeEventKind};
use crate::kv::RequestId;
use crate::safety::Checker;
use std::collections::HashSet;

pub use crate::safety::Violation;

/// The checks' memory of the run so far.
#[derive(Default)]
pub struct Invariants {
    checker: Checker,
    /// The request ids of every command applied somewhere (so committed there).
    applied: HashSet<RequestId>,
}

impl Invariants {
    /// Checks that have seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one step's events; the first violation they show, if any.
    pub fn check_step(&mut self, events: &[Event]) -> Result<(), Violation> {
        for event in events {
            if let EventKind::Node(NodeEventKind::Apply { command: Some(c), .. }) = &event.kind {
                self.applied.insert(c.id());
            }
            if let Some(v) = self.checker.observe(event).into_iter().next() {
                return Err(v);
            }
        }
        Ok(())
    }

    /// An acknowledged put must be committed: some node applied it.
    pub fn check_acknowledged_put(&self, id: RequestId) -> Result<(), Violation> {
        if self.applied.contains(&id) {
            Ok(())
        } else {
            Err(Violation::new(
                "acknowledged writes are committed",
                format!("put {id} was acknowledged but no node applied it"),
            ))
        }
    }

    /// The event-fed checker, for what it saw of each node.
    pub fn checker(&self) -> &Checker {
        &self.checker
    }

    /// Number of distinct terms that had a leader.
    pub fn elections(&self) -> usize {
        self.checker.elections()
    }
}
