//! The deterministic key-value state machine and its client protocol.
//!
//! Keys and values are strings; the operations are `put` and `get`. Puts go through the Raft
//! log and are applied here in log order on every replica, so every replica holds the same map
//! at the same applied index (State Machine Safety, paper §5.4.3). Gets never touch the log:
//! the leader answers them from this map after a ReadIndex round (thesis §6.4).
//!
//! **Client sessions** (thesis §6.3). A client first *registers*: it proposes a register
//! command, and the index of the log entry that holds it becomes its client id. Log indexes of
//! committed entries are unique for the whole life of the data (across processes, restarts and
//! leaders), so no two sessions can ever share an id; ids chosen by the client (a counter from
//! 1, as quorum once had) collide as soon as a second process opens the same data.
//!
//! Every put then carries the session's id, a sequence number that the client increases for
//! each new operation and keeps when it retries, and `ack`: the lowest sequence number the
//! client has not yet seen answered (the thesis's generalisation to several requests in flight
//! per session). The state machine remembers, per session, the puts applied at or above that
//! floor (by a fingerprint of key and value), so:
//! - a put whose `(client, seq)` is new is applied once;
//! - a retry of a put already applied is answered `ok` again and changes nothing;
//! - a request that reuses an applied `(client, seq)` with a *different* command is refused
//!   ([`ClientError::SeqReused`]), never answered `ok` for a write that did not happen;
//! - a put below the floor (the client has already seen its answer: only a late duplicate can
//!   carry it) is refused as stale and never applied, so an old copy can never overwrite a newer
//!   value;
//! - a put of an unknown session (never registered, or expired) is refused
//!   ([`ClientError::UnknownSession`]); the client registers again.
//!
//! **Expiry** (thesis §6.3). The leader stamps every command with its clock (in ticks; see
//! `RaftNode`), and the state machine's clock is the highest stamp applied so far. A session
//! that has sent no put for [`SessionLimits::timeout`] ticks of that clock is removed when an
//! entry is applied; when a register would exceed [`SessionLimits::max_sessions`], the least
//! recently active session is removed first. Both depend only on the log, so every replica
//! expires the same sessions at the same index.

pub use crate::raft::{ClientError, ClientId, Command, Op, Reply, Request, RequestId, Response};
use crate::raft::{LogIndex, StateMachine};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

/// The bounds of the session table. Every replica must use the same values (they decide which
/// sessions the log's entries expire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLimits {
    /// Ticks of the state machine's clock without a put after which a session expires.
    pub timeout: u64,
    /// Most sessions kept; registering one more removes the least recently active.
    pub max_sessions: usize,
    /// Most answers one session keeps above its floor (requests in flight at once); beyond it
    /// the oldest is forgotten and the floor moves past it.
    pub max_in_flight: usize,
}

impl Default for SessionLimits {
    /// One hour at the default 10 ms tick, 4,096 sessions, 256 requests in flight per session.
    fn default() -> Self {
        SessionLimits { timeout: 360_000, max_sessions: 4096, max_in_flight: 256 }
    }
}

/// The core driving the key-value state machine: the node every driver runs.
pub type KvNode = crate::raft::RaftNode<Kv>;

impl StateMachine for Kv {
    fn apply(&mut self, index: LogIndex, command: Option<&Arc<Command>>) -> Option<Response> {
        Kv::apply(self, index, command)
    }
    fn read(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
    fn applied(&self) -> LogIndex {
        Kv::applied(self)
    }
    fn snapshot(&self) -> Vec<u8> {
        Kv::snapshot(self)
    }
    fn restore(&mut self, applied: LogIndex, data: &[u8]) -> Result<(), String> {
        let kv = Kv::from_snapshot(self.limits, data)?;
        if kv.applied != applied {
            return Err(format!("the snapshot holds the state at {}, not at {applied}", kv.applied));
        }
        *self = kv;
        Ok(())
    }
    fn clock(&self) -> u64 {
        Kv::clock(self)
    }
}

/// The version of the snapshot layout ([`Kv::snapshot`]).
const SNAPSHOT_FORMAT: u8 = 1;

/// Little-endian encoding helpers shared by the snapshot layout here and the disk store's
/// records: numbers are fixed-width little-endian, strings a u32 length then UTF-8.
pub(crate) mod codec {
    /// Appends a u64.
    pub(crate) fn put_u64(out: &mut Vec<u8>, n: u64) {
        out.extend_from_slice(&n.to_le_bytes());
    }

    /// Appends a string: its length as a u32, then its bytes.
    pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    /// A cursor over bytes that fails cleanly on short or bad data.
    pub(crate) struct Reader<'a> {
        bytes: &'a [u8],
        pos: usize,
    }

    impl<'a> Reader<'a> {
        /// A reader at the start of `bytes`.
        pub(crate) fn new(bytes: &'a [u8]) -> Self {
            Reader { bytes, pos: 0 }
        }
        /// Where the cursor is.
        pub(crate) fn pos(&self) -> usize {
            self.pos
        }
        pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
            let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("ends too early")?;
            let slice = &self.bytes[self.pos..end];
            self.pos = end;
            Ok(slice)
        }
        pub(crate) fn u64(&mut self) -> Result<u64, String> {
            let b = self.take(8)?;
            Ok(u64::from_le_bytes(b.try_into().map_err(|_| "short u64")?))
        }
        pub(crate) fn u32(&mut self) -> Result<u32, String> {
            let b = self.take(4)?;
            Ok(u32::from_le_bytes(b.try_into().map_err(|_| "short u32")?))
        }
        pub(crate) fn u8(&mut self) -> Result<u8, String> {
            Ok(self.take(1)?[0])
        }
        pub(crate) fn string(&mut self) -> Result<String, String> {
            let len = self.u32()? as usize;
            String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "string is not UTF-8".to_string())
        }
        /// A count of items that each take at least `min_item` bytes: refused when the bytes
        /// left cannot hold that many (so a damaged count never allocates wildly).
        pub(crate) fn count(&mut self, min_item: usize) -> Result<usize, String> {
            let n = self.u64()?;
            let left = (self.bytes.len() - self.pos) as u64;
            if n.saturating_mul(min_item.max(1) as u64) > left {
                return Err(format!("a count of {n} that the {left} bytes left cannot hold"));
            }
            Ok(n as usize)
        }
        pub(crate) fn done(&self) -> bool {
            self.pos == self.bytes.len()
        }
    }
}

/// A 64-bit fingerprint of a put's key and value (FNV-1a, a fixed and simple function, so every
/// replica and every build computes the same): two commands under one `(client, seq)` are told
/// apart by it. Two different commands collide with probability about 2^-64.
fn fingerprint(key: &str, value: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    // Lengths first, so ("ab", "c") and ("a", "bc") differ.
    for b in (key.len() as u64).to_le_bytes().into_iter().chain(key.bytes()).chain(value.bytes()) {
        eat(b);
    }
    h
}

/// The per-client memory (thesis §6.3).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Session {
    /// Answers below this sequence number have been seen by the client and are forgotten.
    floor: u64,
    /// The puts applied at or above the floor, sorted by sequence number, each with a
    /// fingerprint of its key and value: a retry is answered from here, and a reuse of the
    /// number with another command is recognised. Usually one entry (a client with one request
    /// in flight), so a sorted deque beats a tree. (A fingerprint rather than the command: the
    /// command's `Arc` is shared with every node thread, and counting references to it from
    /// each replica's state machine cost 10% of the throughput at 256 clients.)
    applied: VecDeque<(u64, u64)>,
    /// The state machine's clock at the session's last put (or its registration).
    active: u64,
}

/// The replicated map. It is a hash map for speed (a put is a lookup on the hot path of every
/// replica); everything that shows or compares it goes through [`Kv::data`], which is sorted,
/// so outputs stay deterministic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kv {
    data: HashMap<String, String>,
    sessions: HashMap<ClientId, Session>,
    /// The sessions by last activity, oldest first: expiry and eviction take from the front.
    /// Invariant: holds exactly `(session.active, id)` for every session.
    by_activity: BTreeSet<(u64, ClientId)>,
    /// The highest command time applied. Invariant: never decreases.
    clock: u64,
    limits: SessionLimits,
    /// The index of the last log entry applied. Invariant: only grows, one entry at a time.
    applied: LogIndex,
}

impl Kv {
    /// An empty map with the default session limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with these session limits.
    pub fn with_limits(limits: SessionLimits) -> Self {
        Kv { limits, ..Kv::default() }
    }

    /// Applies the log entry at `index` (`None` for a leader's no-op). Entries must arrive in
    /// order with no gap; that is asserted, since a gap would mean replicas diverge. Returns
    /// the answer for the request the command came from.
    pub fn apply(&mut self, index: LogIndex, command: Option<&Arc<Command>>) -> Option<Response> {
        assert_eq!(index, self.applied.next(), "entries must be applied in order without gaps");
        self.applied = index;
        let command = command?;
        self.clock = self.clock.max(command.time());
        self.expire();
        let result = match &**command {
            Command::Register { .. } => {
                while self.sessions.len() >= self.limits.max_sessions.max(1) {
                    let Some(&(_, oldest)) = self.by_activity.first() else { break };
                    self.remove_session(oldest);
                }
                let client = ClientId(index.0);
                self.sessions
                    .insert(client, Session { floor: 0, applied: VecDeque::new(), active: self.clock });
                self.by_activity.insert((self.clock, client));
                Ok(Reply::Registered { client })
            }
            Command::Put { id, ack, key, value, .. } => self.apply_put(*id, *ack, key, value),
        };
        Some(Response { id: command.id(), result })
    }

    fn apply_put(&mut self, id: RequestId, ack: u64, key: &str, value: &str) -> Result<Reply, ClientError> {
        let clock = self.clock;
        let Some(session) = self.sessions.get_mut(&id.client) else {
            return Err(ClientError::UnknownSession { client: id.client });
        };
        // Any put proves the client is alive.
        if session.active != clock {
            self.by_activity.remove(&(session.active, id.client));
            session.active = clock;
            self.by_activity.insert((clock, id.client));
        }
        let result = if id.seq < session.floor {
            Err(ClientError::Stale { floor: session.floor })
        } else if let Ok(at) = session.applied.binary_search_by_key(&id.seq, |(s, _)| *s) {
            let applied = session.applied[at].1;
            // A retry of a put applied before: answer it again, change nothing, unless the
            // number is reused for something else.
            if applied == fingerprint(key, value) {
                Ok(Reply::Put)
            } else {
                Err(ClientError::SeqReused { id })
            }
        } else {
            match self.data.get_mut(key) {
                Some(old) => value.clone_into(old),
                None => {
                    self.data.insert(key.to_string(), value.to_string());
                }
            }
            let at = session.applied.partition_point(|(s, _)| *s < id.seq);
            session.applied.insert(at, (id.seq, fingerprint(key, value)));
            Ok(Reply::Put)
        };
        // The client has seen every answer below `ack` (never above its own request); a client
        // with more than the bound in flight loses the oldest answers.
        let mut floor = session.floor.max(ack.min(id.seq));
        while session.applied.len() > self.limits.max_in_flight.max(1) {
            if let Some((s, _)) = session.applied.pop_front() {
                floor = floor.max(s + 1);
            }
        }
        while session.applied.front().is_some_and(|(s, _)| *s < floor) {
            session.applied.pop_front();
        }
        session.floor = floor;
        result
    }

    /// Removes the sessions that sent no put for longer than the timeout.
    fn expire(&mut self) {
        while let Some(&(active, client)) = self.by_activity.first() {
            if self.clock.saturating_sub(active) <= self.limits.timeout {
                break;
            }
            self.remove_session(client);
        }
    }

    fn remove_session(&mut self, client: ClientId) {
        if let Some(s) = self.sessions.remove(&client) {
            self.by_activity.remove(&(s.active, client));
        }
    }

    /// The whole state as bytes, for a snapshot (paper §7): the applied index, the clock, the
    /// map sorted by key, and the sessions sorted by id, so two replicas at one index give the
    /// same bytes. The session limits are configuration, not state: they are not included.
    pub fn snapshot(&self) -> Vec<u8> {
        use codec::{put_str, put_u64};
        let mut out = vec![SNAPSHOT_FORMAT];
        put_u64(&mut out, self.applied.0);
        put_u64(&mut out, self.clock);
        let mut keys: Vec<(&String, &String)> = self.data.iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        put_u64(&mut out, keys.len() as u64);
        for (k, v) in keys {
            put_str(&mut out, k);
            put_str(&mut out, v);
        }
        let mut sessions: Vec<(&ClientId, &Session)> = self.sessions.iter().collect();
        sessions.sort_by_key(|(id, _)| **id);
        put_u64(&mut out, sessions.len() as u64);
        for (id, s) in sessions {
            for n in [id.0, s.floor, s.active, s.applied.len() as u64] {
                put_u64(&mut out, n);
            }
            for &(seq, fp) in &s.applied {
                put_u64(&mut out, seq);
                put_u64(&mut out, fp);
            }
        }
        out
    }

    /// The state a snapshot holds ([`Kv::snapshot`]), under these limits; an error names what
    /// in the bytes is wrong (with its offset).
    pub fn from_snapshot(limits: SessionLimits, data: &[u8]) -> Result<Kv, String> {
        let mut r = codec::Reader::new(data);
        Kv::decode(limits, &mut r).map_err(|e| format!("snapshot byte {}: {e}", r.pos()))
    }

    fn decode(limits: SessionLimits, r: &mut codec::Reader<'_>) -> Result<Kv, String> {
        let format = r.u8()?;
        if format != SNAPSHOT_FORMAT {
            return Err(format!("snapshot format {format}, but this quorum reads {SNAPSHOT_FORMAT}"));
        }
        let mut kv = Kv::with_limits(limits);
        kv.applied = LogIndex(r.u64()?);
        kv.clock = r.u64()?;
        for _ in 0..r.count(8)? {
            let (k, v) = (r.string()?, r.string()?);
            if kv.data.insert(k.clone(), v).is_some() {
                return Err(format!("key {k:?} twice"));
            }
        }
        for _ in 0..r.count(32)? {
            let (id, floor, active) = (ClientId(r.u64()?), r.u64()?, r.u64()?);
            let mut applied = VecDeque::new();
            for _ in 0..r.count(16)? {
                applied.push_back((r.u64()?, r.u64()?));
            }
            if kv.sessions.insert(id, Session { floor, applied, active }).is_some() {
                return Err(format!("session {id} twice"));
            }
            kv.by_activity.insert((active, id));
        }
        if !r.done() {
            return Err("trailing bytes".into());
        }
        Ok(kv)
    }

    /// Reads a key from the applied state. Callers must have proved it is fresh enough.
    pub fn get(&self, key: &str) -> Option<&String> {
        self.data.get(key)
    }

    /// The whole map, sorted by key, for views and tests.
    pub fn data(&self) -> BTreeMap<String, String> {
        self.data.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True if no key is set.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The index of the last applied entry.
    pub fn applied(&self) -> LogIndex {
        self.applied
    }

    /// The state machine's clock: the highest command time applied, in ticks.
    pub fn clock(&self) -> u64 {
        self.clock
    }

    /// The live sessions, sorted (for views and tests).
    pub fn sessions(&self) -> Vec<ClientId> {
        let mut ids: Vec<ClientId> = self.sessions.keys().copied().collect();
        ids.sort();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(client: u64, seq: u64, key: &str, value: &str) -> Arc<Command> {
        put_at(client, seq, seq, key, value, 0)
    }

    fn put_at(client: u64, seq: u64, ack: u64, key: &str, value: &str, time: u64) -> Arc<Command> {
        let id = RequestId { client: ClientId(client), seq };
        Arc::new(Command::Put { id, ack, key: key.into(), value: value.into(), time })
    }

    fn register(nonce: u64, time: u64) -> Arc<Command> {
        Arc::new(Command::Register { nonce, time })
    }

    /// Applies `command` at the next index and returns its result.
    fn step(kv: &mut Kv, command: &Arc<Command>) -> Result<Reply, ClientError> {
        let index = kv.applied().next();
        kv.apply(index, Some(command)).expect("a command has an answer").result
    }

    /// Thesis §6.3: the session id is the index of the register entry, so ids never repeat.
    #[test]
    fn a_session_is_named_by_the_index_of_its_register_entry() {
        let mut kv = Kv::new();
        kv.apply(LogIndex(1), None);
        let r = kv.apply(LogIndex(2), Some(&register(77, 0))).expect("answer");
        assert_eq!(r.id, RequestId::register(77));
        assert_eq!(r.result, Ok(Reply::Registered { client: ClientId(2) }));
        assert_eq!(step(&mut kv, &register(78, 0)), Ok(Reply::Registered { client: ClientId(3) }));
        assert_eq!(kv.sessions(), [ClientId(2), ClientId(3)]);
    }

    /// Pitfall 10: a retried put lands once, and an old retry never overwrites a newer write.
    #[test]
    fn retried_put_applied_once_and_never_overwrites_newer() {
        let mut kv = Kv::new();
        step(&mut kv, &register(1, 0)).expect("c1");
        step(&mut kv, &register(2, 0)).expect("c2");
        assert_eq!(step(&mut kv, &put(1, 1, "k", "a")), Ok(Reply::Put));
        step(&mut kv, &put(2, 1, "k", "b")).expect("c2#1");
        // Client 1's retry of seq 1 arrives after client 2's newer write.
        assert_eq!(step(&mut kv, &put(1, 1, "k", "a")), Ok(Reply::Put));
        assert_eq!(kv.get("k").map(String::as_str), Some("b"));
        step(&mut kv, &put(1, 2, "k", "c")).expect("c1#2");
        assert_eq!(step(&mut kv, &put(1, 1, "k", "a")), Err(ClientError::Stale { floor: 2 }));
        assert_eq!(kv.get("k").map(String::as_str), Some("c"));
    }

    /// Pitfall 13: a `(client, seq)` applied with one command is never answered `ok` for another.
    #[test]
    fn a_reused_sequence_number_with_another_command_is_refused() {
        let mut kv = Kv::new();
        step(&mut kv, &register(1, 0)).expect("c1");
        step(&mut kv, &put(1, 1, "color", "blue")).expect("c1#1");
        let again = step(&mut kv, &put(1, 1, "color", "red"));
        assert_eq!(again, Err(ClientError::SeqReused { id: RequestId { client: ClientId(1), seq: 1 } }));
        assert_eq!(kv.get("color").map(String::as_str), Some("blue"));
    }

    /// A put of a session nobody registered is refused, never applied.
    #[test]
    fn an_unknown_session_is_refused() {
        let mut kv = Kv::new();
        let r = step(&mut kv, &put(9, 1, "k", "v"));
        assert_eq!(r, Err(ClientError::UnknownSession { client: ClientId(9) }));
        assert!(kv.is_empty());
        assert!(r.expect_err("refused").is_definite());
    }

    /// Several requests in flight in one session (the console's case): each applies once, in
    /// log order, and the floor forgets only what the client has acknowledged.
    #[test]
    fn concurrent_requests_of_one_session_apply_once_each() {
        let mut kv = Kv::new();
        step(&mut kv, &register(1, 0)).expect("c1");
        // seq 2 overtakes seq 1; both in flight (ack 1).
        assert_eq!(step(&mut kv, &put_at(1, 2, 1, "b", "2", 0)), Ok(Reply::Put));
        assert_eq!(step(&mut kv, &put_at(1, 1, 1, "a", "1", 0)), Ok(Reply::Put));
        // Duplicates of both are answered from the table.
        assert_eq!(step(&mut kv, &put_at(1, 2, 1, "b", "2", 0)), Ok(Reply::Put));
        assert_eq!(step(&mut kv, &put_at(1, 1, 1, "a", "1", 0)), Ok(Reply::Put));
        // The client has seen both answers: seq 3 carries ack 3; old copies are stale now.
        step(&mut kv, &put_at(1, 3, 3, "a", "3", 0)).expect("c1#3");
        assert_eq!(step(&mut kv, &put_at(1, 1, 1, "a", "1", 0)), Err(ClientError::Stale { floor: 3 }));
        assert_eq!(kv.get("a").map(String::as_str), Some("3"));
    }

    /// Thesis §6.3: sessions expire by the clock in the log, so every replica expires the same
    /// session at the same index; an expired session's put is refused.
    #[test]
    fn sessions_expire_by_the_leader_time_in_the_log() {
        let limits = SessionLimits { timeout: 100, ..SessionLimits::default() };
        let mut kv = Kv::with_limits(limits);
        step(&mut kv, &register(1, 10)).expect("c1");
        step(&mut kv, &register(2, 10)).expect("c2");
        step(&mut kv, &put_at(1, 1, 1, "k", "a", 60)).expect("c1 is active at 60");
        // At 150, c2 (last active 10) has been idle for 140 > 100; c1 (60) for 90.
        step(&mut kv, &put_at(1, 2, 2, "k", "b", 150)).expect("c1 still alive");
        assert_eq!(kv.sessions(), [ClientId(1)]);
        let r = step(&mut kv, &put_at(2, 1, 1, "k", "c", 151));
        assert_eq!(r, Err(ClientError::UnknownSession { client: ClientId(2) }));
        // An older stamp (a new leader's clock behind) never moves the clock back.
        step(&mut kv, &put_at(1, 3, 3, "k", "d", 20)).expect("c1");
        assert_eq!(kv.clock(), 151);
        // Another replica applying the same entries ends in the same state.
        let mut other = Kv::with_limits(limits);
        for (i, c) in [
            register(1, 10),
            register(2, 10),
            put_at(1, 1, 1, "k", "a", 60),
            put_at(1, 2, 2, "k", "b", 150),
            put_at(2, 1, 1, "k", "c", 151),
            put_at(1, 3, 3, "k", "d", 20),
        ]
        .iter()
        .enumerate()
        {
            other.apply(LogIndex(i as u64 + 1), Some(c));
        }
        assert_eq!(other, kv);
    }

    /// The table is bounded: registering past the bound evicts the least recently active.
    #[test]
    fn the_session_table_is_bounded_least_recently_active_first() {
        let limits = SessionLimits { max_sessions: 2, ..SessionLimits::default() };
        let mut kv = Kv::with_limits(limits);
        step(&mut kv, &register(1, 1)).expect("c1");
        step(&mut kv, &register(2, 2)).expect("c2");
        step(&mut kv, &put_at(1, 1, 1, "k", "a", 3)).expect("c1 active again");
        step(&mut kv, &register(3, 4)).expect("c4");
        assert_eq!(kv.sessions(), [ClientId(1), ClientId(4)], "c2 was the least recently active");
    }

    /// Paper §7: a snapshot restores exactly the state it was taken of, sessions included, and
    /// the replica goes on from it as the original does.
    #[test]
    fn a_snapshot_restores_the_whole_state_and_refuses_damage() {
        let limits = SessionLimits { timeout: 100, ..SessionLimits::default() };
        let mut kv = Kv::with_limits(limits);
        step(&mut kv, &register(1, 10)).expect("c1");
        step(&mut kv, &put_at(1, 1, 1, "k", "a", 20)).expect("c1#1");
        step(&mut kv, &put_at(1, 2, 1, "é", "b", 30)).expect("c1#2");
        let bytes = kv.snapshot();
        let mut copy = Kv::with_limits(limits);
        StateMachine::restore(&mut copy, kv.applied(), &bytes).expect("restore");
        assert_eq!(copy, kv);
        for c in [put_at(1, 1, 1, "k", "a", 40), put_at(1, 3, 3, "k", "c", 200)] {
            assert_eq!(step(&mut copy, &c), step(&mut kv, &c), "a restored replica answers as the original");
        }
        assert_eq!(copy, kv);
        // At the wrong index, or damaged: refused, the state unchanged.
        let err = StateMachine::restore(&mut copy, LogIndex(9), &bytes);
        assert!(err.expect_err("wrong index").contains("not at 9"));
        assert_eq!(copy, kv, "a refused snapshot changes nothing");
        let mut cut = bytes.clone();
        cut.truncate(bytes.len() - 3);
        let err = Kv::from_snapshot(limits, &cut).expect_err("cut");
        assert!(err.starts_with("snapshot byte "), "{err}");
        let mut huge = bytes.clone();
        huge[17..25].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Kv::from_snapshot(limits, &huge).expect_err("count").contains("cannot hold"));
    }

    #[test]
    #[should_panic(expected = "in order")]
    fn gap_in_apply_is_an_invariant_violation() {
        let mut kv = Kv::new();
        kv.apply(LogIndex(2), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use std::collections::HashMap;

        /// One entry of a random log: a register, or a put by session `client % live` (or an
        /// unknown id), with a sequence number near the session's and random duplicates.
        #[derive(Clone, Debug)]
        enum Gen {
            Register,
            Put { client: u8, seq: u8, ack_back: u8, key: u8, value: u8 },
            Idle(u16),
        }

        fn entry() -> impl Strategy<Value = Gen> {
            prop_oneof![
                1 => Just(Gen::Register),
                6 => (any::<u8>(), 0u8..6, 0u8..3, 0u8..3, 0u8..4).prop_map(|(client, seq, ack_back, key, value)| {
                    Gen::Put { client, seq, ack_back, key, value }
                }),
                1 => (0u16..80).prop_map(Gen::Idle),
            ]
        }

        proptest! {
            /// Whatever the log (duplicates, reordered sequence numbers, reused numbers,
            /// unknown sessions, expiry and eviction), a `(session, seq)` changes the map at
            /// most once, an `ok` always names a command that really was applied with exactly
            /// that key and value, and two replicas of the same log are equal.
            #[test]
            fn a_request_takes_effect_at_most_once_and_ok_means_applied(
                log in proptest::collection::vec(entry(), 1..120),
                timeout in 20u64..200,
                max_sessions in 1usize..4,
            ) {
                let limits = SessionLimits { timeout, max_sessions, max_in_flight: 4 };
                let mut kv = Kv::with_limits(limits);
                let mut registered: Vec<ClientId> = Vec::new();
                let mut time = 0u64;
                let mut commands = Vec::new();
                // (session, seq) -> the (key, value) applied under it.
                let mut applied: HashMap<RequestId, (String, String)> = HashMap::new();
                for g in log {
                    let command = match g {
                        Gen::Idle(t) => { time += u64::from(t); continue; }
                        Gen::Register => register(registered.len() as u64, time),
                        Gen::Put { client, seq, ack_back, key, value } => {
                            let c = registered.get(client as usize % (registered.len() + 1)).copied()
                                .unwrap_or(ClientId(10_000));
                            let seq = u64::from(seq);
                            put_at(c.0, seq, seq.saturating_sub(u64::from(ack_back)),
                                &format!("k{key}"), &format!("v{value}"), time)
                        }
                    };
                    let before = kv.data();
                    let index = kv.applied().next();
                    let result = kv.apply(index, Some(&command)).expect("answer").result;
                    commands.push(command.clone());
                    match (&*command, &result) {
                        (Command::Register { .. }, Ok(Reply::Registered { client })) => {
                            prop_assert_eq!(*client, ClientId(index.0));
                            registered.push(*client);
                        }
                        (Command::Put { id, key, value, .. }, Ok(Reply::Put)) => {
                            match applied.get(id) {
                                // Answered from the table: the map is untouched.
                                Some((k, v)) => {
                                    prop_assert_eq!((k, v), (key, value));
                                    prop_assert_eq!(&before, &kv.data());
                                }
                                None => {
                                    prop_assert_eq!(kv.get(key), Some(value));
                                    applied.insert(*id, (key.clone(), value.clone()));
                                }
                            }
                        }
                        (Command::Put { .. }, Err(e)) => {
                            prop_assert!(e.is_definite(), "{e}");
                            prop_assert_eq!(&before, &kv.data(), "a refused put changed the map");
                        }
                        (c, r) => prop_assert!(false, "{c} answered {r:?}"),
                    }
                }
                let mut replica = Kv::with_limits(limits);
                for (i, c) in commands.iter().enumerate() {
                    replica.apply(LogIndex(i as u64 + 1), Some(c));
                }
                prop_assert_eq!(replica, kv);
            }
        }
    }
}
