//! Log replication and commitment: the follower's side of AppendEntries and heartbeats, the
//! leader's appends, heartbeats and flow control, its handling of the answers, the commit rule,
//! and applying committed entries.
//!
//! Rules implemented here: the consistency check, truncation only at a real conflict, and the
//! leader's back-off past a conflicting term in one step (paper §5.3, Figure 2 AppendEntries);
//! commitment only by counting replicas of an entry of the current term, earlier entries
//! committing with it (paper §5.4.2, Figure 8); the leader's appends leave while it writes its
//! own log, which counts towards a majority only once durable (thesis §10.2.1); applying in
//! log order, only what is both committed and durable.

use super::client::{ClientError, Command, Response};
use super::config::Hazard;
use super::event::NodeEventKind;
use super::message::{Body, Entry, RejectHint};
use super::node::{RaftNode, Role};
use super::progress::ReplicationState;
use super::quorum;
use super::state::StateMachine;
use super::{EntryId, LogIndex, NodeId};
use std::sync::Arc;

impl<S: StateMachine> RaftNode<S> {
    // ---------------------------------------------------------------- follower

    /// Paper Figure 2, AppendEntries receiver: reject unless the log holds `prev` (the
    /// consistency check); truncate only at a real conflict (same index, different term;
    /// pitfall 4: never because a message is stale or reordered); append what is new; advance
    /// the commit index to min(leader commit, index of the last new entry).
    pub(super) fn handle_append_entries(
        &mut self,
        from: NodeId,
        prev: EntryId,
        entries: Vec<Entry>,
        commit: LogIndex,
    ) {
        if prev.index < self.log.base().index {
            // Paper §7: this reaches back before the snapshot (a late or duplicated append).
            // Everything up to the commit index is committed, so it is the leader's too.
            self.send(from, Body::AppendEntriesResponse { index: self.commit, reject: None });
            return;
        }
        if !self.log.matches(prev) {
            let last_index = self.log.last_index();
            let conflict = self
                .log
                .term(prev.index)
                .map(|term| EntryId { index: self.log.first_index_of_term(term, prev.index), term });
            let reject = RejectHint { last_index, conflict };
            self.send(from, Body::AppendEntriesResponse { index: prev.index, reject: Some(reject) });
            return;
        }
        let last_new = LogIndex(prev.index.0 + entries.len() as u64);
        let mut appended: Option<(EntryId, EntryId)> = None;
        let mut term_starts = Vec::new();
        let mut commands = Vec::new();
        for entry in entries {
            match self.log.term(entry.index) {
                Some(t) if t == entry.term => continue,
                Some(_) => {
                    assert!(
                        entry.index > self.commit,
                        "a conflict below the commit index: committed entries differ"
                    );
                    let removed = self.log.truncate(entry.index);
                    if let (Some(first), Some(last)) = (removed.first(), removed.last()) {
                        self.emit(NodeEventKind::Truncate { first: first.id(), last: last.id() });
                    }
                    self.persisted = self.persisted.min(entry.index.prev());
                }
                None => {}
            }
            let id = entry.id();
            if let Some(c) = &entry.command {
                self.clock = self.clock.max(c.time());
            }
            commands.push(entry.command.clone());
            self.log.append(entry);
            if let Some((_, last)) = appended
                && last.term != id.term
            {
                term_starts.push(id);
            }
            appended = Some((appended.map_or(id, |(f, _)| f), id));
        }
        if let Some((first, last)) = appended {
            self.emit(NodeEventKind::Append { first, last, term_starts, commands });
        }
        let new_commit = commit.min(last_new);
        if new_commit > self.commit {
            self.commit_to(new_commit);
        }
        self.send(from, Body::AppendEntriesResponse { index: last_new, reject: None });
    }

    /// A heartbeat: the leader is alive; its commit index is capped at what we are known to
    /// hold, so it is safe to adopt (up to our log's end). Echo the read round (thesis §6.4).
    pub(super) fn handle_heartbeat(&mut self, from: NodeId, commit: LogIndex, read_round: u64) {
        let new_commit = commit.min(self.log.last_index());
        if new_commit > self.commit {
            self.commit_to(new_commit);
        }
        self.send(from, Body::HeartbeatResponse { read_round });
    }

    // ---------------------------------------------------------------- leader

    /// Appends a new entry of the current term to the leader's log and schedules replication.
    pub(super) fn append_entry(&mut self, command: Option<Arc<Command>>) -> LogIndex {
        let index = self.log.last_index().next();
        let entry = Entry { index, term: self.term, command: command.clone() };
        let id = entry.id();
        self.log.append(entry);
        self.emit(NodeEventKind::Append {
            first: id,
            last: id,
            term_starts: Vec::new(),
            commands: vec![command],
        });
        self.append_wanted = true;
        index
    }

    /// Sends what the leader has batched up during this round of input: appends for new
    /// entries, and one heartbeat round for all reads registered since the last one.
    pub(super) fn flush(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        if self.append_wanted {
            self.append_wanted = false;
            for peer in self.peers.clone() {
                self.send_appends(peer);
            }
            // A single-node cluster commits on its own durable log alone.
        }
        if self.read_round_wanted {
            self.read_round_wanted = false;
            self.read_round += 1;
            self.broadcast_heartbeat();
            self.serve_reads();
        }
    }

    /// Sends to `to` as many AppendEntries as flow control allows (paper §5.3; pipelining and
    /// batching as in etcd's and raft-rs's progress tracking).
    pub(super) fn send_appends(&mut self, to: NodeId) {
        loop {
            let Some(pr) = self.progress.get(&to) else { return };
            let last_index = self.log.last_index();
            if pr.state == ReplicationState::Snapshot {
                if pr.match_index < self.log.base().index {
                    self.send_snapshot_chunk(to);
                    return;
                }
                // Appends answered meanwhile reached the log: the snapshot is not needed.
                let next = pr.match_index.next();
                if let Some(pr) = self.progress.get_mut(&to) {
                    pr.become_probe(next);
                }
                continue;
            }
            match pr.state {
                ReplicationState::Probe if pr.probe_sent => return,
                ReplicationState::Replicate
                    if pr.inflight.len() >= self.config.max_inflight || pr.next_index > last_index =>
                {
                    return;
                }
                _ => {}
            }
            let next = pr.next_index;
            let prev_index = next.prev();
            let Some(prev_term) = self.log.term(prev_index) else {
                // Paper §7: compacted away; the snapshot goes instead.
                self.send_snapshot_chunk(to);
                return;
            };
            let entries = self.log.slice(next, self.config.max_entries_per_append);
            let ticks = self.ticks;
            let Some(pr) = self.progress.get_mut(&to) else { return };
            let probing = pr.state == ReplicationState::Probe;
            if probing {
                pr.probe_sent = true;
            } else if let Some(last) = entries.last() {
                pr.next_index = last.index.next();
                pr.inflight.push_back((last.index, ticks));
            }
            let prev = EntryId { index: prev_index, term: prev_term };
            self.send(to, Body::AppendEntries { prev, entries, commit: self.commit });
            if probing {
                return;
            }
        }
    }

    /// Handles a follower's answer. On success, the match point advances and the commit index
    /// may follow. On rejection, back off using the follower's hint: to the end of its log if it
    /// is short, else past every entry of the conflicting term in one step (paper §5.3).
    pub(super) fn handle_append_response(
        &mut self,
        from: NodeId,
        index: LogIndex,
        reject: Option<RejectHint>,
    ) {
        let last_index = self.log.last_index();
        let Some(pr) = self.progress.get_mut(&from) else { return };
        pr.recent_active = true;
        match reject {
            None => {
                if pr.record_match(index) {
                    self.maybe_commit();
                }
                self.maybe_timeout_now();
            }
            Some(_) if pr.state == ReplicationState::Snapshot => return,
            Some(hint) => {
                // Stale: an answer to something older than what we already know matches, or a
                // probe other than the one outstanding.
                if index <= pr.match_index
                    || (pr.state == ReplicationState::Probe && index != pr.next_index.prev())
                {
                    return;
                }
                let next = if hint.last_index < index {
                    hint.last_index.next()
                } else if let Some(conflict) = hint.conflict {
                    let candidate = self.log.last_index_with_term_at_most(conflict.term, index);
                    if self.log.term(candidate) == Some(conflict.term) {
                        candidate.next()
                    } else {
                        conflict.index
                    }
                } else {
                    index
                };
                // May reach back before the log's base: then the snapshot goes.
                let next = next.min(index).min(last_index.next()).max(LogIndex(1));
                if let Some(pr) = self.progress.get_mut(&from) {
                    pr.become_probe(next);
                }
            }
        }
        self.send_appends(from);
    }

    /// A follower's answer to a heartbeat: it is alive (for CheckQuorum), it has seen read
    /// round `read_round` (thesis §6.4 step 2), and if it lags it is sent appends again (the
    /// probe is re-armed, or an append in flight too long is taken as lost).
    pub(super) fn handle_heartbeat_response(&mut self, from: NodeId, read_round: u64) {
        let last_index = self.log.last_index();
        let ticks = self.ticks;
        let stall = u64::from(self.config.heartbeat_interval) * 2;
        let Some(pr) = self.progress.get_mut(&from) else { return };
        pr.recent_active = true;
        pr.read_round = pr.read_round.max(read_round);
        if pr.match_index < last_index {
            match pr.state {
                ReplicationState::Probe => pr.probe_sent = false,
                ReplicationState::Snapshot => {
                    // A chunk unanswered for two heartbeat intervals was probably lost.
                    if pr.snapshot.as_ref().is_some_and(|s| ticks.saturating_sub(s.sent_at) >= stall) {
                        pr.probe_sent = false;
                    }
                }
                ReplicationState::Replicate => {
                    // An append in flight for two heartbeat intervals was probably lost.
                    if pr.inflight.front().is_some_and(|&(_, sent)| ticks.saturating_sub(sent) >= stall) {
                        let next = pr.match_index.next();
                        pr.become_probe(next);
                    }
                }
            }
            self.send_appends(from);
        }
        self.serve_reads();
    }

    /// Sends every follower a heartbeat with this leader's read round and its commit index,
    /// capped at what that follower is known to hold.
    pub(super) fn broadcast_heartbeat(&mut self) {
        for peer in self.peers.clone() {
            let match_index = self.progress.get(&peer).map_or(LogIndex(0), |p| p.match_index);
            let commit = self.commit.min(match_index);
            self.send(peer, Body::Heartbeat { commit, read_round: self.read_round });
        }
    }

    // ---------------------------------------------------------------- commitment and applying

    /// Paper §5.3-5.4.2 and Figure 8: the commit index moves to the highest index stored on a
    /// majority (the leader counts itself only for what is durable locally), and only if that
    /// entry is from the current term (pitfall 2). Earlier entries commit indirectly with it.
    pub(super) fn maybe_commit(&mut self) {
        let mut matches: Vec<LogIndex> = self.progress.values().map(|p| p.match_index).collect();
        matches.push(self.persisted);
        let index = quorum::quorum_value(&matches);
        if index <= self.commit {
            return;
        }
        let own_term = self.log.term(index) == Some(self.term);
        if own_term || self.config.hazard == Some(Hazard::CommitOldTerm) {
            self.commit_to(index);
        }
    }

    pub(super) fn commit_to(&mut self, index: LogIndex) {
        assert!(index >= self.commit, "the commit index never decreases");
        self.commit = index;
        let term = self.log.term(index).unwrap_or_default();
        self.emit(NodeEventKind::Commit { entry: EntryId { index, term } });
    }

    /// Applies committed entries that are also durable locally, in order, and answers the
    /// clients waiting for them. A waiting put is answered only if the applied entry at its
    /// index is the one it proposed (same term); otherwise it was overwritten (pitfall 12).
    pub(super) fn maybe_apply(&mut self) {
        let upto = self.commit.min(self.persisted);
        while self.state.applied() < upto {
            let index = self.state.applied().next();
            let Some(entry) = self.log.get(index).cloned() else {
                panic!("committed entry {index} missing from the log");
            };
            let response = self.state.apply(index, entry.command.as_ref());
            if self.config.trace {
                self.emit(NodeEventKind::Apply {
                    entry: entry.id(),
                    command: entry.command.as_deref().cloned(),
                });
            }
            if let Some(pending) = self.pending_writes.remove(&index) {
                let response = match response {
                    Some(r) if pending.term == entry.term && r.id == pending.id => r,
                    _ => Response { id: pending.id, result: Err(ClientError::LeadershipLost) },
                };
                self.reply(pending.origin, response);
            }
        }
        self.maybe_snapshot();
        self.serve_reads();
    }
}
