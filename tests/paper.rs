//! Tests named after the Raft paper's claims (Figure 3) and the pitfalls in
//! `shared/notes/raft-pitfalls.md`, driving the core directly. Each cites its section.

use quorum::kv::{ClientId, Op, Reply, Request, RequestId};
use quorum::kv::{Kv, KvNode};
use quorum::network::LinkRule;
use quorum::raft::{Body, Config, EntryId, LogIndex, Message, NodeId, Ready, Role, Term};
use quorum::sim::Cluster;
use quorum::storage::{HardState, MemStorage, Recovered, Storage};
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;

fn members(n: u64) -> Vec<NodeId> {
    (1..=n).map(NodeId).collect()
}

fn cluster(n: u64, seed: u64, pre_vote: bool) -> Cluster {
    let configs = members(n)
        .iter()
        .map(|&id| {
            let mut c = Config::new(id, members(n));
            c.seed = seed * 100 + id.0;
            c.pre_vote = pre_vote;
            c
        })
        .collect();
    Cluster::new(configs, LinkRule::default(), seed)
}

fn put(client: ClientId, seq: u64, key: &str, value: &str) -> Request {
    Request::new(RequestId { client, seq }, Op::Put { key: key.into(), value: value.into() })
}

/// Drives a cluster with a random schedule: random ticks, random delivery of messages in
/// flight, random drops, random crashes and restarts, and puts to random nodes. Calls `check`
/// after every step.
fn random_schedule(seed: u64, n: u64, steps: usize, mut check: impl FnMut(&Cluster)) {
    let mut c = cluster(n, seed, seed.is_multiple_of(2));
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let ids = c.ids();
    let mut seq = 0;
    // The schedule's client registers first (thesis §6.3), through random nodes, until a
    // session is granted; its puts then apply, so the maps compared below are not empty.
    let mut session: Option<ClientId> = None;
    for _ in 0..steps {
        let id = ids[rng.random_range(0..ids.len())];
        match rng.random_range(0..100) {
            0..45 => c.tick(id),
            45..80 => {
                let mut targets = ids.clone();
                targets.shuffle(&mut rng);
                c.deliver_all(&targets[..rng.random_range(1..=targets.len())]);
            }
            80..83 => {
                let victim = ids[rng.random_range(0..ids.len())];
                c.drop_in_flight(|m| m.to == victim, "random drop");
            }
            83..84 => c.crash(id),
            84..90 => c.restart(id),
            _ => match session {
                None => {
                    c.client_request(id, Request::new(RequestId::register(1), Op::Register));
                }
                Some(client) => {
                    seq += 1;
                    c.client_request(id, put(client, seq, "k", &format!("v{seq}")));
                }
            },
        }
        c.take_events();
        for (_, reply) in c.take_replies() {
            if let Ok(Reply::Registered { client }) = reply.result {
                session.get_or_insert(client);
            }
        }
        check(&c);
    }
}

/// Figure 3, Election Safety (§5.2): at most one leader can be elected in a given term.
#[test]
fn election_safety() {
    for seed in 0..60 {
        let mut leaders: BTreeMap<Term, NodeId> = BTreeMap::new();
        random_schedule(seed, 5, 3000, |c| {
            for id in c.ids() {
                if let Some(n) = c.node(id).filter(|n| n.role() == Role::Leader) {
                    let other = *leaders.entry(n.term()).or_insert(id);
                    assert_eq!(other, id, "seed {seed}: two leaders in term {}", n.term());
                }
            }
        });
        assert!(!leaders.is_empty(), "seed {seed}: no leader was ever elected");
    }
}

/// Figure 3, Leader Append-Only (§5.3): a leader never overwrites or deletes entries in its
/// log; it only appends.
#[test]
fn leader_append_only() {
    for seed in 0..60 {
        let mut seen: BTreeMap<(NodeId, Term), Vec<EntryId>> = BTreeMap::new();
        random_schedule(seed, 3, 3000, |c| {
            for id in c.ids() {
                let Some(n) = c.node(id).filter(|n| n.role() == Role::Leader) else { continue };
                let now: Vec<EntryId> = n.log().entries().iter().map(|e| e.id()).collect();
                let before = seen.entry((id, n.term())).or_default();
                assert!(now.starts_with(before), "seed {seed}: leader {id} changed its log");
                *before = now;
            }
        });
    }
}

/// Figure 3, Log Matching (§5.3): if two logs contain an entry with the same index and term,
/// the logs are identical in all entries up through that index.
#[test]
fn log_matching() {
    for seed in 0..60 {
        random_schedule(seed, 5, 3000, |c| {
            let logs: Vec<_> =
                c.ids().into_iter().filter_map(|id| c.node(id)).map(|n| n.log().entries()).collect();
            for a in &logs {
                for b in &logs {
                    // The highest index where both hold the same index@term.
                    let common = a.iter().zip(b.iter()).rposition(|(x, y)| x.id() == y.id());
                    if let Some(i) = common {
                        assert_eq!(
                            a[..=i],
                            b[..=i],
                            "seed {seed}: logs agree at {} but differ before",
                            a[i].id()
                        );
                    }
                }
            }
        });
    }
}

/// Figure 3, Leader Completeness (§5.4): if an entry is committed in a term, it is present in
/// the logs of the leaders of all higher terms.
#[test]
fn leader_completeness() {
    for seed in 0..60 {
        let mut committed: BTreeMap<LogIndex, (Term, Term)> = BTreeMap::new();
        random_schedule(seed, 5, 3000, |c| {
            for id in c.ids() {
                let Some(n) = c.node(id) else { continue };
                for e in n.log().entries().iter().take_while(|e| e.index <= n.commit_index()) {
                    committed.entry(e.index).or_insert((e.term, n.term()));
                }
            }
            for id in c.ids() {
                let Some(n) = c.node(id).filter(|n| n.role() == Role::Leader) else { continue };
                for (&index, &(term, in_term)) in &committed {
                    if in_term < n.term() {
                        assert_eq!(
                            n.log().term(index),
                            Some(term),
                            "seed {seed}: leader {id} lacks {index}@{term}"
                        );
                    }
                }
            }
        });
    }
}

/// Figure 3, State Machine Safety (§5.4.3): if a server has applied a log entry at a given
/// index, no other server ever applies a different log entry for the same index; so every
/// replica's map is the same function of the applied index.
#[test]
fn state_machine_safety() {
    for seed in 0..60 {
        let mut applied: BTreeMap<LogIndex, EntryId> = BTreeMap::new();
        let mut maps: BTreeMap<LogIndex, BTreeMap<String, String>> = BTreeMap::new();
        random_schedule(seed, 5, 3000, |c| {
            for id in c.ids() {
                let Some(n) = c.node(id) else { continue };
                for e in n.log().entries().iter().take_while(|e| e.index <= n.applied_index()) {
                    let first = *applied.entry(e.index).or_insert(e.id());
                    assert_eq!(first, e.id(), "seed {seed}: two entries applied at {}", e.index);
                }
                let map = maps.entry(n.applied_index()).or_insert_with(|| n.state_machine().data());
                assert_eq!(
                    map,
                    &n.state_machine().data(),
                    "seed {seed}: replicas differ at applied {}",
                    n.applied_index()
                );
            }
        });
        assert!(applied.len() >= 10, "seed {seed}: the schedule applied only {} entries", applied.len());
    }
}

// ------------------------------------------------------------------ the driver contract

/// A single node driven by hand, with its storage, so tests can look inside each `Ready`.
struct Solo {
    node: KvNode,
    storage: MemStorage,
}

impl Solo {
    fn new(n: u64) -> Self {
        let config = Config::new(NodeId(1), members(n));
        Solo { node: KvNode::new(config, Recovered::default(), Kv::new()), storage: MemStorage::new() }
    }

    /// Takes one Ready without persisting or advancing.
    fn ready(&mut self) -> Ready {
        self.node.ready()
    }

    fn persist_and_advance(&mut self, ready: &Ready) {
        self.storage.write_ready(ready).expect("memory");
        self.node.advance();
    }
}

/// The one vote answer a `Ready` holds (it must wait for persistence), if it is the only message.
fn vote_answer(ready: &Ready) -> Option<bool> {
    match ready.persisted_messages[..] {
        [Message { body: Body::RequestVoteResponse { granted }, .. }] if ready.messages.is_empty() => {
            Some(granted)
        }
        _ => None,
    }
}

/// Pitfall 3 (§5.2, Figure 2): the vote is handed to storage in the same batch as the vote
/// answer, and the answer waits for persistence; after a restart from storage, the node
/// refuses a second candidate in the same term.
#[test]
fn vote_is_durable_before_the_answer_and_survives_restart() {
    let mut solo = Solo::new(3);
    let ask = |from: u64| Message {
        from: NodeId(from),
        to: NodeId(1),
        term: Term(1),
        body: Body::RequestVote { last: EntryId::default(), transfer: false },
    };
    solo.node.step(ask(2));
    let ready = solo.ready();
    assert_eq!(ready.hard_state, Some(HardState { term: Term(1), vote: Some(NodeId(2)) }));
    assert!(ready.messages.is_empty(), "a vote answer must not leave before the vote is durable");
    assert_eq!(vote_answer(&ready), Some(true));
    solo.persist_and_advance(&ready);
    // Restart from storage and ask on behalf of another candidate in the same term.
    let recovered = solo.storage.recover().expect("memory");
    solo.node = KvNode::new(Config::new(NodeId(1), members(3)), recovered, Kv::new());
    solo.node.step(ask(3));
    let ready = solo.ready();
    assert_eq!(vote_answer(&ready), Some(false));
    assert_eq!(solo.node.vote(), Some(NodeId(2)));
}

/// Pitfall 6: a single-node cluster must not acknowledge a write before it is durable. The
/// leader counts its own log only after `advance()` says the write is done.
#[test]
fn write_acknowledged_only_after_it_is_durable() {
    let mut solo = Solo::new(1);
    solo.node.campaign();
    let ready = solo.ready();
    solo.persist_and_advance(&ready);
    while solo.node.has_ready() {
        let ready = solo.ready();
        solo.persist_and_advance(&ready);
    }
    assert_eq!(solo.node.role(), Role::Leader);
    solo.node.client_request(Request::new(RequestId::register(1), Op::Register));
    while solo.node.has_ready() {
        let ready = solo.ready();
        solo.persist_and_advance(&ready);
    }
    solo.node.client_request(put(ClientId(2), 1, "k", "v"));
    let ready = solo.ready();
    assert!(ready.entries.is_some(), "the put must be handed to storage");
    assert!(ready.replies.is_empty(), "no acknowledgement before the entry is durable");
    assert_eq!(solo.node.commit_index(), LogIndex(2), "only the no-op and the session are committed yet");
    solo.persist_and_advance(&ready);
    let ready = solo.ready();
    assert_eq!(ready.replies.len(), 1);
    assert_eq!(ready.replies[0].result, Ok(Reply::Put));
    assert_eq!(solo.storage.entries().len(), 3, "the acknowledged entry is in storage");
}

/// Pitfall 9 (§5.4.1): the up-to-date check compares the last term first. A candidate whose
/// log is longer but ends in an older term is refused.
#[test]
fn up_to_date_check_compares_term_before_index() {
    let mut solo = Solo::new(3);
    // Give node 1 a log ending in term 3 at index 2.
    let entries: Vec<_> = [1, 3]
        .iter()
        .enumerate()
        .map(|(i, &t)| quorum::raft::Entry { index: LogIndex(i as u64 + 1), term: Term(t), command: None })
        .collect();
    let recovered = Recovered {
        hard_state: HardState { term: Term(3), vote: None },
        base: EntryId::default(),
        snapshot: None,
        entries,
    };
    solo.node = KvNode::new(Config::new(NodeId(1), members(3)), recovered, Kv::new());
    let ask = |from: u64, index: u64, term: u64| Message {
        from: NodeId(from),
        to: NodeId(1),
        term: Term(4),
        body: Body::RequestVote {
            last: EntryId { index: LogIndex(index), term: Term(term) },
            transfer: false,
        },
    };
    // Longer log (index 9) but older last term (2): refused.
    solo.node.step(ask(2, 9, 2));
    let ready = solo.ready();
    assert_eq!(vote_answer(&ready), Some(false));
    solo.persist_and_advance(&ready);
    // Same last term, shorter log: refused; same last term and index: granted.
    solo.node.step(ask(3, 1, 3));
    let ready = solo.ready();
    assert_eq!(vote_answer(&ready), Some(false));
    solo.persist_and_advance(&ready);
    solo.node.step(ask(3, 2, 3));
    let ready = solo.ready();
    assert_eq!(vote_answer(&ready), Some(true));
}

/// Pitfall 11: a vote answer from an earlier term is never counted in the current one.
#[test]
fn responses_from_an_old_term_are_ignored() {
    let config = Config { pre_vote: false, ..Config::new(NodeId(1), members(3)) };
    let mut node = KvNode::new(config, Recovered::default(), Kv::new());
    for _ in 0..2 {
        node.campaign(); // terms 1 and 2; every vote request is lost
        node.ready();
        node.advance();
    }
    assert_eq!((node.term(), node.role()), (Term(2), Role::Candidate));
    // Both peers "grant" their votes, but in term 1: stale, must not elect n1 in term 2.
    for from in [2, 3] {
        node.step(Message {
            from: NodeId(from),
            to: NodeId(1),
            term: Term(1),
            body: Body::RequestVoteResponse { granted: true },
        });
    }
    assert_eq!(node.role(), Role::Candidate, "stale votes elected a leader");
    // The same answers in the current term do elect it.
    for from in [2, 3] {
        node.step(Message {
            from: NodeId(from),
            to: NodeId(1),
            term: Term(2),
            body: Body::RequestVoteResponse { granted: true },
        });
    }
    assert_eq!(node.role(), Role::Leader);
}

/// Runs the cluster for `ms` milliseconds of virtual time (ticks every 10 ms), collecting the
/// client answers.
fn run_ms(c: &mut Cluster, ms: u64, replies: &mut Vec<quorum::kv::Response>) {
    for _ in 0..ms {
        let now = c.now() + 1_000_000;
        c.set_now(now);
        c.deliver_due();
        if (now / 1_000_000).is_multiple_of(10) {
            for id in c.ids() {
                c.tick(id);
            }
        }
        c.take_events();
        replies.extend(c.take_replies().into_iter().map(|(_, r)| r));
    }
}

/// Thesis §6.3 with a network that duplicates (found in review): n3 forwards a put to n1, which
/// is no longer leader and refuses it, while a duplicate of the forward is still on its way and
/// reaches n1 once it leads again, where it is applied. So a refusal relayed through a forward
/// must never be definite: the client would record a failure for a put that took effect (or,
/// with an expired session, send it again under a new one). Over 300 seeds, whenever the
/// scenario arises, the first answer the client gets is an unknown outcome.
#[test]
fn a_refusal_of_a_duplicated_forward_is_never_definite() {
    let mut reached = 0;
    for seed in 0..300 {
        let members: Vec<NodeId> = (1..=5).map(NodeId).collect();
        let configs: Vec<Config> = members
            .iter()
            .map(|&id| {
                let mut c = Config::new(id, members.clone());
                c.seed = seed * 10 + id.0;
                c
            })
            .collect();
        let mut c = Cluster::new(configs, LinkRule::default(), seed);
        let mut replies = Vec::new();
        c.campaign(NodeId(1));
        run_ms(&mut c, 100, &mut replies);
        c.client_request(NodeId(1), Request::new(RequestId::register(1), Op::Register));
        run_ms(&mut c, 50, &mut replies);
        let Some(client) = replies.iter().find_map(|r| match r.result {
            Ok(Reply::Registered { client }) => Some(client),
            _ => None,
        }) else {
            continue;
        };
        // {n1 n3} | {n2 n4 n5}: n1 steps down (CheckQuorum) while n3 still follows it.
        c.network.partition(&[vec![NodeId(1), NodeId(3)], vec![NodeId(2), NodeId(4), NodeId(5)]]);
        let mut waited = 0;
        while c.node(NodeId(1)).is_some_and(|n| n.role() == Role::Leader) && waited < 2000 {
            run_ms(&mut c, 1, &mut replies);
            waited += 1;
        }
        if c.node(NodeId(3)).and_then(|n| n.leader()) != Some(NodeId(1)) {
            continue;
        }
        // Every forward n3 -> n1 is duplicated, the copies 1 ms to 3 s apart.
        let dup = LinkRule { loss: 0.0, delay: (1_000_000, 3_000_000_000), duplicate: 1.0 };
        c.network.set_rule(NodeId(3), NodeId(1), dup);
        let id = RequestId { client, seq: 1 };
        replies.clear();
        c.client_request(NodeId(3), put(client, 1, "k", "v"));
        let mut first = None;
        for _ in 0..300 {
            run_ms(&mut c, 1, &mut replies);
            if let Some(r) = replies.iter().find(|r| r.id == id) {
                first = Some(r.result.clone());
                break;
            }
        }
        let Some(Err(refusal)) = first else { continue };
        reached += 1;
        assert!(!refusal.is_definite(), "seed {seed}: a relayed refusal was definite: {refusal}");
    }
    assert!(reached > 0, "the scenario never arose in 300 seeds");
}
