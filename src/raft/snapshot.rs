//! Snapshots and log compaction (paper §7, Figure 13): taking a snapshot of the state machine
//! and dropping the log it replaces, sending it to a follower that needs entries the leader no
//! longer holds, and installing it on that follower.
//!
//! Rules implemented here:
//! - **Taking.** Once the log holds more than `snapshots.every` applied entries, the node
//!   snapshots its state machine at the applied index and drops the log through it. Only applied
//!   entries go, and applied entries are committed and durable, so nothing a node may still need
//!   to send as an entry, or to apply, is lost; the snapshot is persisted before the store drops
//!   its entries (the driver writes `Ready::snapshot` first).
//! - **Sending.** A leader whose follower needs an entry at or before its log's base sends its
//!   newest snapshot instead, in chunks of `snapshots.chunk` bytes, one at a time: the next chunk
//!   leaves when the follower says how much it holds, and a chunk unanswered for two heartbeat
//!   intervals is sent again. The transfer keeps the snapshot it began with.
//! - **Installing** (Figure 13, receiver steps 6-8). A snapshot no newer than the follower's
//!   commit index changes nothing: the follower answers that it matches up to its commit index
//!   (committed entries are the leader's too, by Leader Completeness). Otherwise, if the log
//!   holds the snapshot's last entry, the entries after it are kept (they agree with the leader
//!   up to there, by Log Matching); if not, the whole log is discarded. Either way the state
//!   machine is replaced and the commit index moves to the snapshot. The answer waits until the
//!   snapshot is durable.
//! - **Races.** Chunks are taken only in order (`offset` equal to what is held); a duplicate or
//!   a chunk from the future is answered with what is held, so the leader resends from there,
//!   except that an answer holding exactly the start of the chunk outstanding is not about that
//!   chunk (it answers a copy of an earlier one) and is ignored; a chunk of another snapshot
//!   restarts the buffer only at offset 0. AppendEntries that arrive
//!   after the snapshot and reach back before the log's base are answered with the commit index
//!   (they carry nothing the follower lacks, and it must not reject what it has compacted).

use super::client::{ClientError, Response};
use super::event::NodeEventKind;
use super::message::Body;
use super::node::RaftNode;
use super::progress::{ReplicationState, SnapshotSend};
use super::state::{Snapshot, StateMachine};
use super::{EntryId, LogIndex, NodeId};
use std::sync::Arc;

/// A snapshot being received, chunk by chunk.
#[derive(Clone, Debug)]
pub(super) struct Incoming {
    last: EntryId,
    size: u64,
    data: Vec<u8>,
}

impl<S: StateMachine> RaftNode<S> {
    /// Paper §7: once the log holds more than `snapshots.every` applied entries, snapshot the
    /// state machine at the applied index and drop the log through it.
    pub(super) fn maybe_snapshot(&mut self) {
        let every = self.config.snapshots.every;
        let applied = self.state.applied();
        if every == 0 || applied.0.saturating_sub(self.log.base().index.0) <= every {
            return;
        }
        let Some(term) = self.log.term(applied) else { return };
        let last = EntryId { index: applied, term };
        let data = Arc::new(self.state.snapshot());
        let bytes = data.len() as u64;
        let snapshot = Snapshot { last, data };
        self.log.compact(last);
        self.snapshot = Some(snapshot.clone());
        self.snapshot_unstable = Some(snapshot);
        self.emit(NodeEventKind::SnapshotTaken { snapshot: last, bytes });
    }

    /// Sends `to` the next chunk of the snapshot it is receiving, starting with this leader's
    /// newest snapshot if no transfer is under way. At most one chunk is outstanding.
    pub(super) fn send_snapshot_chunk(&mut self, to: NodeId) {
        let ticks = self.ticks;
        let newest = self.snapshot.clone();
        let Some(pr) = self.progress.get_mut(&to) else { return };
        if pr.snapshot.is_none() {
            let Some(snapshot) = newest else {
                panic!("leader lacks entries before its log's start but holds no snapshot");
            };
            let (last, bytes) = (snapshot.last, snapshot.data.len() as u64);
            pr.state = ReplicationState::Snapshot;
            pr.probe_sent = false;
            pr.inflight.clear();
            pr.snapshot = Some(SnapshotSend { snapshot, offset: 0, sent_at: ticks });
            self.emit(NodeEventKind::SnapshotSend { to, snapshot: last, bytes });
        }
        let chunk_size = self.config.snapshots.chunk;
        let Some(pr) = self.progress.get_mut(&to) else { return };
        let Some(send) = pr.snapshot.as_mut() else { return };
        if pr.probe_sent {
            return;
        }
        pr.probe_sent = true;
        send.sent_at = ticks;
        let data = &send.snapshot.data;
        let start = usize::try_from(send.offset).unwrap_or(usize::MAX).min(data.len());
        let end = start.saturating_add(chunk_size).min(data.len());
        let body = Body::InstallSnapshot {
            last: send.snapshot.last,
            size: data.len() as u64,
            offset: start as u64,
            len: (end - start) as u64,
            chunk: data[start..end].to_vec(),
        };
        self.send(to, body);
    }

    /// Paper Figure 13, InstallSnapshot receiver (term already checked, leader followed).
    pub(super) fn handle_install_snapshot(
        &mut self,
        from: NodeId,
        last: EntryId,
        size: u64,
        offset: u64,
        chunk: Vec<u8>,
    ) {
        if last.index <= self.commit {
            // Older than what is committed here: nothing to install, and a newer snapshot
            // being received stays (this may be a late copy from an earlier transfer).
            if self.incoming.as_ref().is_some_and(|i| i.last.index <= self.commit) {
                self.incoming = None;
            }
            let matched = Some(self.commit);
            self.send(from, Body::InstallSnapshotResponse { last, received: size, matched });
            return;
        }
        if offset == 0 && self.incoming.as_ref().is_none_or(|i| i.last != last || i.size != size) {
            self.incoming = Some(Incoming { last, size, data: Vec::new() });
        }
        let received = match &mut self.incoming {
            Some(i) if i.last == last && i.size == size => {
                if i.data.len() as u64 == offset && offset + chunk.len() as u64 <= size {
                    i.data.extend_from_slice(&chunk);
                }
                i.data.len() as u64
            }
            // A chunk of another snapshot, not its start: ask for the start.
            _ => 0,
        };
        if received < size {
            self.send(from, Body::InstallSnapshotResponse { last, received, matched: None });
            return;
        }
        let Some(incoming) = self.incoming.take() else { return };
        self.install_snapshot(from, Snapshot { last, data: Arc::new(incoming.data) });
    }

    fn install_snapshot(&mut self, from: NodeId, snapshot: Snapshot) {
        let last = snapshot.last;
        if let Err(e) = self.state.restore(last.index, &snapshot.data) {
            panic!("the snapshot {last} from {from} does not decode: {e}");
        }
        let kept_log = self.log.matches(last);
        if kept_log {
            self.log.compact(last);
        } else {
            self.log.reset(last);
            self.persisted = self.persisted.min(last.index);
        }
        self.clock = self.clock.max(self.state.clock());
        // Writes this node proposed as a leader at indexes the snapshot covers: whether the
        // entry there is theirs the snapshot does not say, so their outcome is unknown.
        let covered: Vec<LogIndex> = self.pending_writes.range(..=last.index).map(|(&i, _)| i).collect();
        for index in covered {
            if let Some(pending) = self.pending_writes.remove(&index) {
                let response = Response { id: pending.id, result: Err(ClientError::LeadershipLost) };
                self.reply(pending.origin, response);
            }
        }
        let size = snapshot.data.len() as u64;
        self.snapshot = Some(snapshot.clone());
        self.snapshot_unstable = Some(snapshot);
        self.emit(NodeEventKind::SnapshotInstalled { snapshot: last, from, kept_log });
        self.commit_to(last.index);
        self.send(from, Body::InstallSnapshotResponse { last, received: size, matched: Some(last.index) });
    }

    /// The leader's side: a follower says how much of a snapshot it holds, or that it now
    /// matches up to an index.
    pub(super) fn handle_snapshot_response(
        &mut self,
        from: NodeId,
        last: EntryId,
        received: u64,
        matched: Option<LogIndex>,
    ) {
        let Some(pr) = self.progress.get_mut(&from) else { return };
        pr.recent_active = true;
        match matched {
            Some(index) => {
                // True whichever snapshot it answers: the follower matches up to there. The
                // transfer under way ends only if that covers its snapshot: a late answer about
                // an older snapshot leaves it going (the follower keeps its chunks too).
                let covered = pr.snapshot.as_ref().is_none_or(|s| index >= s.snapshot.last.index);
                if pr.state == ReplicationState::Snapshot && covered {
                    pr.become_probe(index.next());
                }
                if pr.record_match(index) {
                    self.maybe_commit();
                }
                self.maybe_timeout_now();
            }
            None => {
                let current = pr.snapshot.as_mut().filter(|s| s.snapshot.last == last);
                let Some(send) = current else { return };
                if pr.probe_sent && received == send.offset {
                    // The chunk outstanding starts at `offset`: had it arrived, the follower
                    // would hold more. This answers a copy of an earlier chunk; sending again
                    // now would put a second copy of the outstanding chunk on the wire, each
                    // of whose answers would do the same, doubling the rest of the transfer.
                    // A lost chunk is resent after two heartbeat intervals.
                    return;
                }
                send.offset = received;
                pr.probe_sent = false;
            }
        }
        self.send_appends(from);
    }
}
