//! The nemesis: from the seed, it injects and repairs faults during a run (partitions of many
//! shapes, crashes and restarts, pauses, loss, duplication and reordering bursts), then heals
//! everything so the run can check that the cluster recovers. It acts through [`Control`]
//! alone, so the same nemesis breaks the simulated cluster (`quorum sim`) and the live one
//! (`quorum run`).

use crate::control::Control;
use crate::events::EventKind;
use crate::network::LinkRule;
use crate::raft::NodeId;
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
}

impl Fault {
    /// Every fault kind.
    pub const ALL: [Fault; 6] =
        [Fault::Partition, Fault::Crash, Fault::Pause, Fault::Loss, Fault::Duplicate, Fault::Reorder];

    fn name(self) -> &'static str {
        match self {
            Fault::Partition => "partition",
            Fault::Crash => "crash",
            Fault::Pause => "pause",
            Fault::Loss => "loss",
            Fault::Duplicate => "duplicate",
            Fault::Reorder => "reorder",
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
                    "unknown fault {part:?}: expected a comma list of partition, crash, pause, loss, duplicate, reorder, or all, or none"
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
            injected: 0,
        }
    }

    /// When the nemesis next wants to act (None if it has nothing to do).
    pub fn next_time(&self) -> Option<u64> {
        (!self.faults.is_empty()).then_some(self.next_at)
    }

    /// Acts if it is time: repairs something it broke, or breaks something new.
    pub fn poll(&mut self, ctl: &dyn Control, now: u64) {
        if self.faults.is_empty() || now < self.next_at {
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

    fn fault_event(ctl: &dyn Control, description: String) {
        ctl.record(None, EventKind::Fault { description });
    }

    fn restart(ctl: &dyn Control, id: NodeId) {
        if let Err(e) = ctl.restart(id) {
            Self::fault_event(ctl, format!("restart {id} failed: {e}"));
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
        // The same links blocked as before (or none: a single node) is no new fault.
        if after != before {
            self.injected += 1;
            Self::fault_event(ctl, description);
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
            Self::fault_event(ctl, format!("crash {victim}"));
            ctl.kill(victim);
        } else {
            self.paused.insert(victim);
            Self::fault_event(ctl, format!("pause {victim}"));
            ctl.pause(victim);
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
        Self::fault_event(ctl, description);
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
        Self::fault_event(ctl, format!("outage: crash {} ({scope} down)", names.join(" ")));
        for v in victims {
            // A paused victim is crashed instead: the crash takes its volatile state.
            self.paused.remove(&v);
            self.crashed.insert(v);
            ctl.kill(v);
        }
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
                Self::fault_event(ctl, "heal partitions".into());
            }
            1 => {
                let Some(&id) = self.crashed.iter().next() else { return };
                self.crashed.remove(&id);
                Self::fault_event(ctl, format!("restart {id}"));
                Self::restart(ctl, id);
            }
            2 => {
                let Some(&id) = self.paused.iter().next() else { return };
                self.paused.remove(&id);
                Self::fault_event(ctl, format!("resume {id}"));
                ctl.resume(id);
            }
            _ => {
                self.link = self.base_link;
                let link = self.link;
                ctl.change_network(&mut |net| net.set_default_rule(link));
                Self::fault_event(ctl, "links back to normal".into());
            }
        }
    }

    /// Repairs everything and stops injecting.
    pub fn heal_all(&mut self, ctl: &dyn Control) {
        self.faults.clear();
        self.link = self.base_link;
        self.partitioned = false;
        let base = self.base_link;
        ctl.change_network(&mut |net| net.heal(base));
        for id in std::mem::take(&mut self.crashed) {
            Self::restart(ctl, id);
        }
        for id in std::mem::take(&mut self.paused) {
            ctl.resume(id);
        }
        Self::fault_event(ctl, "heal everything".into());
    }
}
