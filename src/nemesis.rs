//! The nemesis: from the seed, it injects and repairs faults during a run (partitions of many
//! shapes, crashes and restarts, pauses, loss, duplication and reordering bursts, the
//! leadership sequence of the paper's Figure 8, leadership transfers), then heals everything so
//! the run can check that the cluster recovers. It acts through [`Control`]
//! alone, so the same nemesis breaks the simulated cluster (`quorum sim`) and the live one
//! (`quorum run`).

use crate::control::{Control, RunState};
use crate::events::{Change, EventKind};
use crate::network::LinkRule;
use crate::raft::{LogIndex, NodeId};
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// A kind of fault the nemesis may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Network partitions: an isolated node, majority/minority, the leader cut off, bridges,
    /// three-way splits, one-way cuts.
    Partition,
    /// Crash a node (volatile state lost) and later restart it; now and then crash a majority
    /// or every node at once (an outage: the whole cluster restarts from its storage).
    Crash,
    /// Pause a node (it neither ticks nor receives) and later resume it.
    Pause,
    /// Drop a fraction of all messages.
    Loss,
    /// Deliver a fraction of all messages twice.
    Duplicate,
    /// Widen delivery delays so messages overtake each other.
    Reorder,
    /// The leadership sequence of the paper's Figure 8 (§5.4.2), run as one fault: the leader
    /// cut off with a minority, a rival elected on the other side and cut off at once, a leader
    /// of the old group elected again and cut off with its group right after its first commit,
    /// and the rival's side left to elect.
    Figure8,
    /// Leadership transfer (thesis §3.10): the leader is asked to hand over to another running
    /// node, chosen at random; meanwhile it refuses writes.
    Transfer,
}

impl Fault {
    /// Every fault kind.
    pub const ALL: [Fault; 8] = [
        Fault::Partition,
        Fault::Crash,
        Fault::Pause,
        Fault::Loss,
        Fault::Duplicate,
        Fault::Reorder,
        Fault::Figure8,
        Fault::Transfer,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::Partition => "partition",
            Fault::Crash => "crash",
            Fault::Pause => "pause",
            Fault::Loss => "loss",
            Fault::Duplicate => "duplicate",
            Fault::Reorder => "reorder",
            Fault::Figure8 => "figure8",
            Fault::Transfer => "transfer",
        }
    }
}

/// The set of faults enabled for a run, parsed from `partition,crash,...`, `all` or `none`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultSet(pub BTreeSet<Fault>);

impl FromStr for FaultSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "all" {
            return Ok(FaultSet(Fault::ALL.into_iter().collect()));
        }
        if s == "none" || s.is_empty() {
            return Ok(FaultSet::default());
        }
        let mut set = BTreeSet::new();
        for part in s.split(',') {
            let part = part.trim();
            let fault = Fault::ALL.into_iter().find(|f| f.name() == part).ok_or_else(|| {
                format!(
                    "unknown fault {part:?}: expected a comma list of partition, crash, pause, loss, duplicate, reorder, figure8, transfer, or all, or none"
                )
            })?;
            set.insert(fault);
        }
        Ok(FaultSet(set))
    }
}

impl fmt::Display for FaultSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "none");
        }
        if self.0.len() == Fault::ALL.len() {
            return write!(f, "all");
        }
        let names: Vec<&str> = self.0.iter().map(|f| f.name()).collect();
        write!(f, "{}", names.join(","))
    }
}

/// How long a stage of the Figure 8 schedule waits for the election it needs before the nemesis
/// gives the schedule up: a few election timeouts, with PreVote and the followers' lease.
const FIGURE8_STAGE: u64 = 2_000_000_000;

/// Where the Figure 8 schedule is: the election it waits for (the letters are the pictures of
/// the paper's Figure 8).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    /// (b): the old leader's group is cut off; waiting for the other side to elect a rival.
    Rival,
    /// (c): the rival is alone; waiting for a leader on the side of the old group.
    Return { rival: NodeId },
    /// (c): `leader` leads there; waiting for its commit index to move past `commit`.
    FirstCommit { rival: NodeId, leader: NodeId, commit: LogIndex },
    /// (d): that leader is cut off with `group`; waiting for the rest, the rival's side, to elect.
    Overwrite { group: Vec<NodeId> },
}

/// The Figure 8 schedule in progress.
#[derive(Clone, Debug)]
struct Figure8 {
    /// The old leader's group: the leader and (minority - 1) of its followers.
    group: Vec<NodeId>,
    stage: Stage,
    /// When the stage gives up.
    deadline: u64,
}

/// The nemesis's state: what it has broken, so it can repair it.
pub struct Nemesis {
    faults: Vec<Fault>,
    rng: Xoshiro256PlusPlus,
    next_at: u64,
    crashed: BTreeSet<NodeId>,
    paused: BTreeSet<NodeId>,
    partitioned: bool,
    link: LinkRule,
    base_link: LinkRule,
    /// The Figure 8 schedule, while it runs (it owns the nemesis until it ends).
    figure8: Option<Figure8>,
    /// Faults injected so far (only those that changed something).
    pub injected: usize,
}

impl Nemesis {
    /// A nemesis choosing among `faults`, with its own RNG.
    pub fn new(faults: &FaultSet, rng: Xoshiro256PlusPlus, base_link: LinkRule) -> Self {
        Nemesis {
            faults: faults.0.iter().copied().collect(),
            rng,
            next_at: 200_000_000,
            crashed: BTreeSet::new(),
            paused: BTreeSet::new(),
            partitioned: false,
            link: base_link,
            base_link,
            figure8: None,
            injected: 0,
        }
    }

    /// When the nemesis next wants to act (None if it has nothing to do). While the Figure 8
    /// schedule runs, it looks at the cluster at every poll; this is when its stage gives up.
    pub fn next_time(&self) -> Option<u64> {
        if self.faults.is_empty() {
            return None;
        }
        Some(self.figure8.as_ref().map_or(self.next_at, |f| f.deadline))
    }

    /// Acts if it is time: repairs something it broke, or breaks something new. While the
    /// Figure 8 schedule runs, it follows that schedule at every poll instead.
    pub fn poll(&mut self, ctl: &dyn Control, now: u64) {
        if self.faults.is_empty() {
            return;
        }
        if self.figure8.is_some() {
            return self.follow_figure8(ctl, now);
        }
        if now < self.next_at {
            return;
        }
        self.next_at = now + self.rng.random_range(30_000_000..300_000_000);
        let broken = self.crashed.len() + self.paused.len() + usize::from(self.partitioned);
        let degraded = self.link != self.base_link;
        if (broken > 0 || degraded) && self.rng.random_bool(0.5) {
            self.repair_one(ctl);
        } else {
            let fault = self.faults[self.rng.random_range(0..self.faults.len())];
            self.inject(ctl, fault);
        }
    }

    fn fault_event(ctl: &dyn Control, description: String, change: Option<Change>) {
        ctl.record(None, EventKind::fault(description, change));
    }

    /// A fault event for a change of the network: the network as it is now.
    fn network_event(ctl: &dyn Control, description: String) {
        Self::fault_event(ctl, description, Some(Change::Network(ctl.network())));
    }

    fn restart(ctl: &dyn Control, id: NodeId) {
        if let Err(e) = ctl.restart(id) {
            Self::fault_event(ctl, format!("restart {id} failed: {e}"), None);
        }
    }

    /// Injects one fault of kind `fault`, or repairs something when the fault is not possible
    /// now (every node already down). Counts only what really happened.
    fn inject(&mut self, ctl: &dyn Control, fault: Fault) {
        let ids = ctl.members();
        let n = ids.len();
        let minority = (n - 1) / 2;
        match fault {
            Fault::Partition => self.partition(ctl, ids, n, minority),
            Fault::Crash if self.rng.random_bool(0.2) => self.outage(ctl, &ids),
            Fault::Crash | Fault::Pause => self.stop_one(ctl, fault, &ids, minority),
            Fault::Loss => {
                let loss = [0.05, 0.2, 0.5][self.rng.random_range(0..3)];
                self.set_link(ctl, LinkRule { loss, ..self.link }, format!("loss {:.0}%", loss * 100.0));
            }
            Fault::Duplicate => {
                let duplicate = [0.1, 0.3][self.rng.random_range(0..2)];
                let what = format!("duplicate {:.0}%", duplicate * 100.0);
                self.set_link(ctl, LinkRule { duplicate, ..self.link }, what);
            }
            Fault::Reorder => {
                let delay = (1_000_000, [20_000_000, 80_000_000][self.rng.random_range(0..2)]);
                let what = format!("reorder: delay {}-{} ms", 1, delay.1 / 1_000_000);
                self.set_link(ctl, LinkRule { delay, ..self.link }, what);
            }
            Fault::Figure8 if n < 3 => self.partition(ctl, ids, n, minority),
            Fault::Figure8 => self.start_figure8(ctl, &ids, minority),
            Fault::Transfer => self.transfer(ctl),
        }
    }

    /// Asks the leader to transfer its leadership to another running node, at random (thesis
    /// §3.10). The target may be cut off from the leader, or may lose: the leader then abandons
    /// the transfer after an election timeout, which is part of what is tested. Repairs
    /// something instead when no node leads (or the leader is paused) or no other node runs.
    fn transfer(&mut self, ctl: &dyn Control) {
        let nodes = ctl.status();
        let leader = ctl.leader().filter(|l| !self.paused.contains(l));
        let Some(leader) = leader else { return self.repair_one(ctl) };
        let others: Vec<NodeId> = nodes
            .iter()
            .filter(|s| s.id != leader && s.run == RunState::Running && !self.paused.contains(&s.id))
            .map(|s| s.id)
            .collect();
        if others.is_empty() {
            return self.repair_one(ctl);
        }
        let target = others[self.rng.random_range(0..others.len())];
        match ctl.transfer_leadership(target) {
            Ok(_) => {
                self.injected += 1;
                let description = format!("transfer leadership to {target}");
                Self::fault_event(ctl, description, Some(Change::Transfer(target)));
            }
            Err(e) => Self::fault_event(ctl, format!("no leadership transfer to {target}: {e}"), None),
        }
    }

    /// A partition of one of six shapes (an isolated node, the leader cut off, a bridge, three
    /// ways, a one-way cut, majority/minority), counted only if it blocks other links than
    /// before.
    fn partition(&mut self, ctl: &dyn Control, mut ids: Vec<NodeId>, n: usize, minority: usize) {
        let before = Self::blocked(ctl, &ids);
        ids.shuffle(&mut self.rng);
        let leader = ctl.leader();
        let shape = self.rng.random_range(0..6);
        let link = self.link;
        ctl.change_network(&mut |net| net.heal(link));
        let description = match shape {
            0 => {
                let lone = ids[0];
                ctl.change_network(&mut |net| net.partition(&[vec![lone]]));
                format!("partition: isolate {lone}")
            }
            1 if leader.is_some() => {
                let leader = leader.unwrap_or(ids[0]);
                let mut group = vec![leader];
                group.extend(ids.iter().copied().filter(|&i| i != leader).take(minority.saturating_sub(1)));
                ctl.change_network(&mut |net| net.partition(std::slice::from_ref(&group)));
                format!("partition: leader {leader} cut off ({})", ctl.network())
            }
            2 if n >= 3 => {
                // A bridge: two sides that cannot talk, and one node that talks to both.
                let bridge = ids[0];
                let (a, b) = ids[1..].split_at((n - 1) / 2);
                ctl.change_network(&mut |net| {
                    for &x in a {
                        for &y in b {
                            net.cut(x, y);
                            net.cut(y, x);
                        }
                    }
                });
                format!("partition: bridge {bridge} between {a:?} and {b:?}")
            }
            3 if n >= 5 => {
                let (a, rest) = ids.split_at(n / 3);
                let (b, _) = rest.split_at(rest.len() / 2);
                let groups = [a.to_vec(), b.to_vec()];
                ctl.change_network(&mut |net| net.partition(&groups));
                format!("partition: three ways ({})", ctl.network())
            }
            4 => {
                let (from, to) = (ids[0], ids[1 % n]);
                ctl.change_network(&mut |net| net.cut(from, to));
                format!("one-way cut {from} -> {to}")
            }
            _ => {
                let size = self.rng.random_range(1..=minority.max(1));
                let group = ids[..size].to_vec();
                ctl.change_network(&mut |net| net.partition(std::slice::from_ref(&group)));
                format!("partition: majority/minority ({})", ctl.network())
            }
        };
        let after = Self::blocked(ctl, &ids);
        self.partitioned = !after.is_empty();
        // The same links blocked as before (or none: a single node) is no new fault, but the
        // network's settings may still have changed: the event log says so, for a reader
        // rebuilding them.
        if after != before {
            self.injected += 1;
            Self::network_event(ctl, description);
        } else {
            Self::network_event(ctl, format!("no new fault: {description} blocks the links blocked before"));
        }
    }

    /// Crashes or pauses one node that is up, keeping a majority up; repairs something instead
    /// when that is not possible.
    fn stop_one(&mut self, ctl: &dyn Control, fault: Fault, ids: &[NodeId], minority: usize) {
        // Keep a majority up (but with one or two nodes, one may still go down), so
        // most of the run has a leader; outages take the rest.
        if self.crashed.len() + self.paused.len() >= minority.max(1) {
            return self.repair_one(ctl);
        }
        let up: Vec<NodeId> =
            ids.iter().copied().filter(|i| !self.crashed.contains(i) && !self.paused.contains(i)).collect();
        if up.is_empty() {
            return self.repair_one(ctl);
        }
        self.injected += 1;
        let victim = up[self.rng.random_range(0..up.len())];
        if fault == Fault::Crash {
            self.crashed.insert(victim);
            Self::fault_event(ctl, format!("crash {victim}"), Some(Change::Kill(victim)));
            ctl.kill(victim);
        } else {
            self.paused.insert(victim);
            ctl.pause(victim);
            Self::fault_event(ctl, format!("pause {victim}"), Some(Change::Pause(victim)));
        }
    }

    /// The links the network blocks now (partitions and cuts), as (from, to) pairs.
    fn blocked(ctl: &dyn Control, ids: &[NodeId]) -> BTreeSet<(NodeId, NodeId)> {
        let net = ctl.network();
        let mut blocked = BTreeSet::new();
        for &a in ids {
            for &b in ids {
                if a != b && net.reachable(a, b).is_err() {
                    blocked.insert((a, b));
                }
            }
        }
        blocked
    }

    /// Changes every link's rule, if that is a change (a fault that changes nothing is none).
    fn set_link(&mut self, ctl: &dyn Control, link: LinkRule, description: String) {
        if link == self.link {
            return;
        }
        self.link = link;
        self.injected += 1;
        ctl.change_network(&mut |net| net.set_default_rule(link));
        Self::network_event(ctl, description);
    }

    /// Crashes a majority of the nodes, or every node, at once: the cluster is unavailable until
    /// enough of them restart from their storage (they come back one at a time as repairs, or
    /// all at the final heal). Safety must hold throughout, and the cluster must recover.
    fn outage(&mut self, ctl: &dyn Control, ids: &[NodeId]) {
        let mut up: Vec<NodeId> = ids.iter().copied().filter(|i| !self.crashed.contains(i)).collect();
        if up.is_empty() {
            return self.repair_one(ctl);
        }
        up.shuffle(&mut self.rng);
        let everyone = self.rng.random_bool(0.5);
        let majority = ids.len() / 2 + 1;
        let already = ids.len() - up.len();
        let count = if everyone { up.len() } else { majority.saturating_sub(already).clamp(1, up.len()) };
        let mut victims: Vec<NodeId> = up[..count].to_vec();
        victims.sort();
        self.injected += 1;
        let scope = if victims.len() + already == ids.len() { "every node" } else { "a majority" };
        let names: Vec<String> = victims.iter().map(ToString::to_string).collect();
        Self::fault_event(ctl, format!("outage: crash {} ({scope} down)", names.join(" ")), None);
        for v in victims {
            // A paused victim is crashed instead: the crash takes its volatile state.
            self.paused.remove(&v);
            self.crashed.insert(v);
            ctl.kill(v);
        }
    }

    /// Starts the Figure 8 schedule: the leadership sequence of the paper's Figure 8 (§5.4.2),
    /// which shows why a leader must not commit an entry of an earlier term by counting its
    /// replicas (pitfall 2). (a) The leader is cut off with (minority - 1) followers, so what it
    /// appends from now on reaches only a minority. The stages that follow
    /// ([`Nemesis::follow_figure8`]) each wait for an election and act the moment they see it:
    /// (b) the rival the majority side elects is cut off alone before the first entry of its
    /// term spreads, leaving it with the highest last term; (c) the side of the old group, with
    /// the rival gone, elects (usually one of the old group, whose logs are longer), and that leader
    /// is cut off with its group right after its first commit, before its followers learn of it
    /// or receive the rest of its term's entries; (d) the rival's side elects. A correct leader's
    /// first commit is of an entry of its own term, which the next leader must then hold; a
    /// leader that counted replicas of an older entry may have committed one the rival never had.
    /// Needs every node up and a leader; repairs something instead.
    fn start_figure8(&mut self, ctl: &dyn Control, ids: &[NodeId], minority: usize) {
        let leader = ctl.leader().filter(|_| self.crashed.is_empty() && self.paused.is_empty());
        let Some(leader) = leader else { return self.repair_one(ctl) };
        let mut followers: Vec<NodeId> = ids.iter().copied().filter(|&i| i != leader).collect();
        followers.shuffle(&mut self.rng);
        let mut group = vec![leader];
        group.extend(followers.into_iter().take(minority.saturating_sub(1)));
        group.sort();
        let link = self.link;
        ctl.change_network(&mut |net| {
            net.heal(link);
            net.partition(std::slice::from_ref(&group));
        });
        self.partitioned = true;
        self.injected += 1;
        Self::network_event(ctl, format!("figure8 (a): leader {leader} cut off ({})", ctl.network()));
        self.figure8 =
            Some(Figure8 { group, stage: Stage::Rival, deadline: ctl.now_nanos() + FIGURE8_STAGE });
    }

    /// One poll of the Figure 8 schedule (see [`Nemesis::start_figure8`]): who leads now, and
    /// the next stage if the election the current one waits for has happened. A stage that waited
    /// [`FIGURE8_STAGE`] gives the schedule up; the partition stays, to be repaired as any other.
    fn follow_figure8(&mut self, ctl: &dyn Control, now: u64) {
        let Some(mut f8) = self.figure8.take() else { return };
        if now >= f8.deadline {
            Self::fault_event(ctl, "figure8: no election in time, given up".into(), None);
            self.next_at = now + self.rng.random_range(30_000_000..300_000_000);
            return;
        }
        let leader = ctl.leader();
        let next = match (&f8.stage, leader) {
            (Stage::Rival, Some(rival)) if !f8.group.contains(&rival) => {
                ctl.change_network(&mut |net| net.partition(&[vec![rival]]));
                Self::network_event(ctl, format!("figure8 (b): {rival} elected, cut off alone at once"));
                Some(Stage::Return { rival })
            }
            (&Stage::Return { rival }, Some(leader)) if leader != rival => {
                let commit = Self::status_of(ctl, leader).map_or(LogIndex(0), |s| s.commit);
                Some(Stage::FirstCommit { rival, leader, commit })
            }
            (&Stage::FirstCommit { rival, leader, .. }, now_leading) if now_leading != Some(leader) => {
                Some(Stage::Return { rival })
            }
            (&Stage::FirstCommit { leader, commit, .. }, _) => {
                self.cut_off_after_commit(ctl, &f8, leader, commit)
            }
            (Stage::Overwrite { group }, Some(winner)) if !group.contains(&winner) => {
                Self::fault_event(ctl, format!("figure8 (d): {winner} elected on the other side"), None);
                self.next_at = now + self.rng.random_range(30_000_000..300_000_000);
                return;
            }
            _ => None,
        };
        if let Some(stage) = next {
            f8.stage = stage;
            f8.deadline = now + FIGURE8_STAGE;
        }
        self.figure8 = Some(f8);
    }

    /// Stage (c) of the Figure 8 schedule: once `leader`'s commit index has moved past `commit`,
    /// cuts it off with the rest of the old group (or, if it is not of that group, with as many
    /// of the group as the group had followers) before its followers hear more from it.
    fn cut_off_after_commit(
        &mut self,
        ctl: &dyn Control,
        f8: &Figure8,
        leader: NodeId,
        commit: LogIndex,
    ) -> Option<Stage> {
        let status = Self::status_of(ctl, leader)?;
        if status.commit <= commit {
            return None;
        }
        let mut group = vec![leader];
        group
            .extend(f8.group.iter().copied().filter(|&i| i != leader).take(f8.group.len().saturating_sub(1)));
        group.sort();
        ctl.change_network(&mut |net| net.partition(std::slice::from_ref(&group)));
        let entry = status.log_tail.iter().find(|e| e.index == status.commit);
        let committed = entry.map_or(status.commit.to_string(), ToString::to_string);
        Self::network_event(
            ctl,
            format!(
                "figure8 (c): {leader}@{} committed {committed}, cut off at once ({})",
                status.term,
                ctl.network()
            ),
        );
        Some(Stage::Overwrite { group })
    }

    /// One node's status.
    fn status_of(ctl: &dyn Control, id: NodeId) -> Option<crate::control::NodeStatus> {
        ctl.status().into_iter().find(|s| s.id == id)
    }

    fn repair_one(&mut self, ctl: &dyn Control) {
        let mut options: Vec<u8> = Vec::new();
        if self.partitioned {
            options.push(0);
        }
        if !self.crashed.is_empty() {
            options.push(1);
        }
        if !self.paused.is_empty() {
            options.push(2);
        }
        if self.link != self.base_link {
            options.push(3);
        }
        let Some(&choice) = options.get(self.rng.random_range(0..options.len().max(1))) else { return };
        match choice {
            0 => {
                self.partitioned = false;
                let link = self.link;
                ctl.change_network(&mut |net| net.heal(link));
                Self::network_event(ctl, "heal partitions".into());
            }
            1 => {
                let Some(&id) = self.crashed.iter().next() else { return };
                self.crashed.remove(&id);
                Self::fault_event(ctl, format!("restart {id}"), Some(Change::Restart(id)));
                Self::restart(ctl, id);
            }
            2 => {
                let Some(&id) = self.paused.iter().next() else { return };
                self.paused.remove(&id);
                ctl.resume(id);
                Self::fault_event(ctl, format!("resume {id}"), Some(Change::Resume(id)));
            }
            _ => {
                self.link = self.base_link;
                let link = self.link;
                ctl.change_network(&mut |net| net.set_default_rule(link));
                Self::network_event(ctl, "links back to normal".into());
            }
        }
    }

    /// Repairs everything and stops injecting.
    pub fn heal_all(&mut self, ctl: &dyn Control) {
        self.faults.clear();
        self.figure8 = None;
        self.link = self.base_link;
        self.partitioned = false;
        let base = self.base_link;
        ctl.change_network(&mut |net| net.heal(base));
        for id in std::mem::take(&mut self.crashed) {
            Self::restart(ctl, id);
        }
        for id in std::mem::take(&mut self.paused) {
            ctl.resume(id);
            Self::fault_event(ctl, format!("resume {id}"), Some(Change::Resume(id)));
        }
        Self::network_event(ctl, "heal everything".into());
    }
}
