//! The simulator's former checks, from the event stream and the nodes' state, kept while the
//! event-fed checks (`crate::safety`) are compared with them; to be removed.
//!
//! The checks are incremental so they cost little per step: they look only at what the
//! step's events say changed.

use super::Cluster;
use crate::events::{Event, EventKind, NodeEventKind};
use crate::kv::RequestId;
use crate::raft::{EntryId, LogIndex, NodeId, Role, Term};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::safety::Violation;

/// The checker's memory of the run so far.
#[derive(Default)]
pub struct ClusterInvariants {
    /// Election Safety: the leader of each term ever seen.
    leaders: BTreeMap<Term, NodeId>,
    /// Log Matching: for each entry identity seen in any log, its command digest and the term of
    /// the entry before it. Two logs holding the same `index@term` must agree on both, which by
    /// induction makes the logs identical up to there.
    entries: HashMap<EntryId, (u64, Term)>,
    /// Committed entries (by index), cluster-wide: the entry's term and the term in which it
    /// became committed (the committing leader's term); and the request ids they carry.
    committed: BTreeMap<LogIndex, (Term, Term, u64)>,
    committed_ids: HashSet<RequestId>,
    /// State Machine Safety: the entry applied at each index (term and command digest),
    /// cluster-wide.
    applied: BTreeMap<LogIndex, (Term, u64)>,
    /// Per node: highest term seen (durable: never decreases), and per incarnation the commit.
    terms: BTreeMap<NodeId, Term>,
    commits: BTreeMap<NodeId, LogIndex>,
    /// The role of each node as the event stream goes (for Leader Append-Only).
    roles: BTreeMap<NodeId, Role>,
    /// Per node incarnation: the index up to which its committed prefix has been checked.
    checked: BTreeMap<NodeId, LogIndex>,
}

fn digest(command: Option<&crate::kv::Command>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    if let Some(c) = command {
        c.hash(&mut h);
    }
    h.finish()
}

/// What a step changed, for the checks that read the logs.
#[derive(Default)]
struct Touched {
    /// Nodes whose log grew or was truncated.
    appended: BTreeSet<NodeId>,
    /// Nodes whose commit index moved, with their term.
    committed: BTreeMap<NodeId, Term>,
    /// Nodes that became leader, with their term.
    new_leaders: BTreeMap<NodeId, Term>,
}

impl ClusterInvariants {
    /// Checks everything the step's `events` may have changed, against the cluster's state.
    pub fn check_step(&mut self, cluster: &Cluster, events: &[Event]) -> Result<(), Violation> {
        let mut touched = Touched::default();
        for event in events {
            if let Some(node) = event.node {
                self.observe(event, node, &mut touched)?;
            }
        }
        for node in touched.appended {
            self.check_log_matching(cluster, node)?;
        }
        for (node, term) in touched.committed {
            self.record_commits(cluster, node, term)?;
        }
        for (node, term) in touched.new_leaders {
            self.check_leader_completeness(cluster, node, term)?;
        }
        Ok(())
    }

    /// Checks what one event of `node` says on its own (terms, election safety, a leader that
    /// truncates, commit indexes, what was applied at each index), and notes what the step
    /// changed for the checks against the logs.
    fn observe(&mut self, event: &Event, node: NodeId, touched: &mut Touched) -> Result<(), Violation> {
        if let Some(term) = event.term {
            let seen = self.terms.entry(node).or_default();
            if term < *seen {
                return Err(Violation::new(
                    "terms never decrease",
                    format!("{node} went from term {seen} back to {term}"),
                ));
            }
            *seen = term;
        }
        match &event.kind {
            EventKind::Node(NodeEventKind::Role { role: Role::Leader, .. }) => {
                let term = event.term.unwrap_or_default();
                if let Some(&other) = self.leaders.get(&term)
                    && other != node
                {
                    return Err(Violation::new(
                        "election safety",
                        format!("two leaders in term {term}: {other} and {node}"),
                    ));
                }
                self.leaders.insert(term, node);
                self.roles.insert(node, Role::Leader);
                touched.new_leaders.insert(node, term);
            }
            EventKind::Node(NodeEventKind::Role { role, .. }) if *role != Role::Leader => {
                self.roles.insert(node, *role);
            }
            EventKind::Node(NodeEventKind::Truncate { first, last }) => {
                if self.roles.get(&node) == Some(&Role::Leader) {
                    return Err(Violation::new(
                        "leader append-only",
                        format!("leader {node} removed entries {first}..{last} from its log"),
                    ));
                }
                touched.appended.insert(node);
            }
            EventKind::Node(NodeEventKind::Append { .. }) => {
                touched.appended.insert(node);
            }
            EventKind::Node(NodeEventKind::Commit { entry }) => {
                let before = self.commits.insert(node, entry.index).unwrap_or_default();
                if entry.index < before {
                    return Err(Violation::new(
                        "commit index never decreases",
                        format!("{node} commit went from {before} back to {}", entry.index),
                    ));
                }
                touched.committed.insert(node, event.term.unwrap_or_default());
            }
            EventKind::Crash | EventKind::Restart => {
                self.roles.remove(&node);
                self.commits.remove(&node);
                self.checked.remove(&node);
            }
            EventKind::Node(NodeEventKind::Apply { entry, command }) => {
                let d = digest(command.as_ref());
                if let Some(&(term, seen)) = self.applied.get(&entry.index) {
                    if term != entry.term || seen != d {
                        return Err(Violation::new(
                            "state machine safety",
                            format!(
                                "{node} applied {entry} but {}@{term} was applied elsewhere",
                                entry.index
                            ),
                        ));
                    }
                } else {
                    self.applied.insert(entry.index, (entry.term, d));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Log Matching (paper §5.3): same index and term means same command and same history.
    fn check_log_matching(&mut self, cluster: &Cluster, node: NodeId) -> Result<(), Violation> {
        let Some(n) = cluster.node(node) else { return Ok(()) };
        let log = n.log();
        // Only the tail can have changed in this step; check back to the commit index, where
        // the log is stable (a violation below it is caught by the commit checks).
        let from = n.commit_index().max(log.first_index());
        let mut prev_term = log.term(from.prev()).unwrap_or_default();
        for entry in log.slice(from, usize::MAX) {
            let d = digest(entry.command.as_deref());
            match self.entries.get(&entry.id()) {
                Some(&(digest_seen, prev_seen)) => {
                    if digest_seen != d || prev_seen != prev_term {
                        return Err(Violation::new(
                            "log matching",
                            format!(
                                "{node} holds {} with a different command or predecessor than another log",
                                entry.id()
                            ),
                        ));
                    }
                }
                None => {
                    self.entries.insert(entry.id(), (d, prev_term));
                }
            }
            prev_term = entry.term;
        }
        Ok(())
    }

    /// Records newly committed entries; a committed index must never hold two different terms.
    /// `commit_term` is the node's term when it learned of the commit; the first node to learn
    /// is the committing leader, so the first record gives the term the entry was committed in.
    fn record_commits(
        &mut self,
        cluster: &Cluster,
        node: NodeId,
        commit_term: Term,
    ) -> Result<(), Violation> {
        let Some(n) = cluster.node(node) else { return Ok(()) };
        let log = n.log();
        let commit = n.commit_index();
        // Committed entries never change, so only the newly committed range needs a look.
        let mut index = self.checked.get(&node).map_or(log.first_index(), |i| i.next());
        while index <= commit {
            let Some(entry) = log.get(index) else { break };
            match self.committed.get(&index) {
                Some(&(term, _, d)) if term != entry.term || d != digest(entry.command.as_deref()) => {
                    return Err(Violation::new(
                        "state machine safety",
                        format!(
                            "{node} committed {} but a different {index}@{term} was committed before",
                            entry.id()
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    self.committed.insert(index, (entry.term, commit_term, digest(entry.command.as_deref())));
                    if let Some(c) = &entry.command {
                        self.committed_ids.insert(c.id());
                    }
                    // Leader Completeness for entries committed now: every current leader of
                    // a later term than the commit's must hold them.
                    for other in cluster.ids() {
                        if let Some(l) = cluster.node(other)
                            && l.role() == Role::Leader
                            && l.term() > commit_term
                            && l.log().term(index) != Some(entry.term)
                        {
                            return Err(Violation::new(
                                "leader completeness",
                                format!("leader {other}@{} lacks committed entry {}", l.term(), entry.id()),
                            ));
                        }
                    }
                }
            }
            self.checked.insert(node, index);
            index = index.next();
        }
        Ok(())
    }

    /// Leader Completeness (paper §5.4): a new leader holds every entry committed in an
    /// earlier term. (A leader of an old term can still be elected late, from delayed votes;
    /// it need not hold what later terms committed, and it cannot commit anything over them.)
    /// Checked at the end of the step that elected it, if it is still that term's leader.
    fn check_leader_completeness(
        &self,
        cluster: &Cluster,
        node: NodeId,
        term: Term,
    ) -> Result<(), Violation> {
        let Some(n) = cluster.node(node) else { return Ok(()) };
        if n.role() != Role::Leader || n.term() != term {
            return Ok(());
        }
        for (&index, &(term, commit_term, _)) in &self.committed {
            if commit_term < n.term() && n.log().term(index) != Some(term) {
                return Err(Violation::new(
                    "leader completeness",
                    format!("new leader {node}@{} lacks committed entry {index}@{term}", n.term()),
                ));
            }
        }
        Ok(())
    }

    /// An acknowledged put must be in the committed log.
    pub fn check_acknowledged_put(&self, id: RequestId) -> Result<(), Violation> {
        if self.committed_ids.contains(&id) {
            Ok(())
        } else {
            Err(Violation::new(
                "acknowledged writes are committed",
                format!("put {id} was acknowledged but is not in the committed log"),
            ))
        }
    }
}
