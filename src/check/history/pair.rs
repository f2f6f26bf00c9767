//! Pairing each invoke with its completion into an [`Operation`], the unit
//! the checker reasons about, with the checks that a history is well formed
//! (time order per process, one operation in flight per process, completions
//! that match their invokes).

use std::collections::HashMap;
use std::fmt;

use super::{EventType, HistoryError, HistoryEvent, OpKind};
use crate::check::hash::FxBuild;

/// What a completed (or possibly completed) operation did.
///
/// Only the information the checker needs: the value a put wrote, or the value
/// an `ok` get observed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OperationKind {
    /// A put of this value.
    Put(String),
    /// A get; the value it read (`None`: key absent). Meaningless unless the status is `Ok`.
    Get(Option<String>),
}

/// How an operation ended, among the endings the checker keeps (`fail` is dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpStatus {
    /// It took effect between its call and its return.
    Ok,
    /// It may take effect at any time after its call, or never.
    Info,
}

/// One operation: an invoke matched with its completion.
///
/// This is the unit of linearizability: the checker looks for one order of
/// these that respects their real-time intervals and the key-value semantics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The client.
    pub process: u64,
    /// The key.
    pub key: String,
    /// What the operation did.
    pub kind: OperationKind,
    /// When it was invoked (ns).
    pub call: u64,
    /// When it returned (ns); `None` when the outcome is unknown, i.e. infinitely late.
    pub ret: Option<u64>,
    /// How it ended.
    pub status: OpStatus,
    /// Index of its invoke in the event slice it was paired from.
    pub invoke_index: usize,
    /// Index of its completion in that slice, if it has one.
    pub complete_index: Option<usize>,
}

impl fmt::Display for Operation {
    /// Renders like `p3 put k1=v7 [120000, 184000]` or `p4 get k1 -> null [130000, 190000]`;
    /// an unknown outcome shows `?` as its return.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            OperationKind::Put(v) => write!(f, "p{} put {}={}", self.process, self.key, v)?,
            OperationKind::Get(v) => {
                let shown = v.as_deref().unwrap_or("null");
                match self.status {
                    OpStatus::Ok => write!(f, "p{} get {} -> {}", self.process, self.key, shown)?,
                    OpStatus::Info => write!(f, "p{} get {} -> ?", self.process, self.key)?,
                }
            }
        }
        match self.ret {
            Some(ret) => write!(f, " [{}, {}]", self.call, ret),
            None => write!(f, " [{}, ?] (info: may or may not have taken effect)", self.call),
        }
    }
}

/// Matches each invoke with its process's next completion.
///
/// Failed operations are dropped (they had no effect); an invoke never
/// completed, or completed with `info`, becomes an [`OpStatus::Info`]
/// operation with no return time. Operations come out in invoke order.
pub fn pair_operations(events: &[HistoryEvent]) -> Result<Vec<Operation>, HistoryError> {
    pair_numbered(events, &|i| i + 1)
}

/// [`pair_operations`], naming lines with `line_of(event index)`.
pub(crate) fn pair_numbered(
    events: &[HistoryEvent],
    line_of: &dyn Fn(usize) -> usize,
) -> Result<Vec<Operation>, HistoryError> {
    let mut pairing = Pairing {
        events,
        line_of,
        processes: HashMap::default(),
        slots: Vec::with_capacity(events.len() / 2 + 1),
        failed: Vec::with_capacity(events.len() / 2 + 1),
    };
    for (index, event) in events.iter().enumerate() {
        let line = line_of(index);
        let state = pairing.processes.get(&event.process).copied();
        if let Some(state) = state {
            pairing.check_time(line, event, state)?;
        }
        match event.kind {
            EventType::Invoke => pairing.invoke(index, line, event, state)?,
            EventType::Ok | EventType::Fail | EventType::Info => {
                pairing.complete(index, line, event, state)?
            }
        }
    }
    let Pairing { mut slots, failed, .. } = pairing;
    let mut failed = failed.into_iter();
    slots.retain(|_| !failed.next().unwrap_or(false));
    Ok(slots)
}

/// Where a process is in [`pair_numbered`].
#[derive(Clone, Copy)]
struct ProcessState {
    /// The invoke in flight, if any: its event index and its slot.
    pending: Option<(usize, usize)>,
    /// Index of the process's latest event (for time order).
    last: usize,
}

/// The pairing done so far by [`pair_numbered`].
struct Pairing<'a> {
    events: &'a [HistoryEvent],
    line_of: &'a dyn Fn(usize) -> usize,
    processes: HashMap<u64, ProcessState, FxBuild>,
    /// One slot per invoke, in invoke order; failed ones are removed at the end.
    slots: Vec<Operation>,
    failed: Vec<bool>,
}

impl Pairing<'_> {
    /// Fails if `event` (on line `line`) is earlier than its process's previous event.
    fn check_time(&self, line: usize, event: &HistoryEvent, state: ProcessState) -> Result<(), HistoryError> {
        let previous = &self.events[state.last];
        if event.time < previous.time {
            return Err(HistoryError::TimeWentBackwards {
                line,
                process: event.process,
                time: event.time,
                previous: previous.time,
                previous_line: (self.line_of)(state.last),
            });
        }
        Ok(())
    }

    /// Opens a slot for the invoke `event`, the `index`-th event, on line `line`.
    fn invoke(
        &mut self,
        index: usize,
        line: usize,
        event: &HistoryEvent,
        state: Option<ProcessState>,
    ) -> Result<(), HistoryError> {
        if let Some(ProcessState { pending: Some((pending, _)), .. }) = state {
            return Err(HistoryError::InvokeWhileInFlight {
                line,
                process: event.process,
                pending_line: (self.line_of)(pending),
            });
        }
        let kind = match event.f {
            OpKind::Put => match &event.value {
                Some(v) => OperationKind::Put(v.clone()),
                None => {
                    return Err(HistoryError::Malformed {
                        line,
                        message: "a put invoke needs a string value".to_string(),
                    });
                }
            },
            OpKind::Get => OperationKind::Get(None),
        };
        let slot = self.slots.len();
        self.failed.push(false);
        self.slots.push(Operation {
            process: event.process,
            key: event.key.clone(),
            kind,
            call: event.time,
            ret: None,
            status: OpStatus::Info,
            invoke_index: index,
            complete_index: None,
        });
        self.processes.insert(event.process, ProcessState { pending: Some((index, slot)), last: index });
        Ok(())
    }

    /// Fills the slot of the invoke that the completion `event`, the
    /// `index`-th event, on line `line`, completes.
    fn complete(
        &mut self,
        index: usize,
        line: usize,
        event: &HistoryEvent,
        state: Option<ProcessState>,
    ) -> Result<(), HistoryError> {
        let Some(ProcessState { pending: Some((pending, slot_index)), .. }) = state else {
            return Err(HistoryError::CompletionWithoutInvoke {
                line,
                process: event.process,
                kind: event.kind,
            });
        };
        if let Some(detail) = mismatch(&self.events[pending], event) {
            return Err(HistoryError::MismatchedCompletion {
                line,
                process: event.process,
                invoke_line: (self.line_of)(pending),
                detail,
            });
        }
        match event.kind {
            EventType::Fail => self.failed[slot_index] = true,
            EventType::Ok => {
                let op = &mut self.slots[slot_index];
                op.ret = Some(event.time);
                op.status = OpStatus::Ok;
                op.complete_index = Some(index);
                if let OperationKind::Get(observed) = &mut op.kind {
                    observed.clone_from(&event.value);
                }
            }
            _ => self.slots[slot_index].complete_index = Some(index),
        }
        self.processes.insert(event.process, ProcessState { pending: None, last: index });
        Ok(())
    }
}

/// How the completion `event` disagrees with its `invoke`, if it does.
fn mismatch(invoke: &HistoryEvent, event: &HistoryEvent) -> Option<String> {
    if invoke.f != event.f {
        return Some(format!("invoked {} but completed {}", invoke.f, event.f));
    }
    if invoke.key != event.key {
        return Some(format!("invoked on key {:?} but completed on key {:?}", invoke.key, event.key));
    }
    if event.f == OpKind::Put && event.value.is_some() && event.value != invoke.value {
        return Some(format!(
            "put of {:?} completed with value {:?}",
            invoke.value.as_deref().unwrap_or(""),
            event.value.as_deref().unwrap_or("")
        ));
    }
    None
}
