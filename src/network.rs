//! The fault model of the network, as plain data: partitions into groups, one-way link cuts,
//! and per-link loss, delay and duplication. Both engines route every message through it (the
//! simulator in virtual time, the live cluster's threads and router in real time): each asks
//! it what to do with a message when it is sent, and again whether the link is up when it is
//! due. Randomness comes from the caller's seeded RNG.

use crate::raft::NodeId;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How one direction of a link treats messages.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkRule {
    /// Probability in [0, 1] that a message is lost.
    pub loss: f64,
    /// Delivery delay range in nanoseconds, inclusive. A wide range reorders messages.
    pub delay: (u64, u64),
    /// Probability in [0, 1] that a message is delivered twice.
    pub duplicate: f64,
}

impl LinkRule {
    /// No loss, no delay, no duplication: a healed live network.
    pub const INSTANT: LinkRule = LinkRule { loss: 0.0, delay: (0, 0), duplicate: 0.0 };
}

impl Default for LinkRule {
    fn default() -> Self {
        LinkRule { loss: 0.0, delay: (1_000_000, 3_000_000), duplicate: 0.0 }
    }
}

/// What the network does with one message.
#[derive(Clone, Debug, PartialEq)]
pub enum Fate {
    /// Deliver after each of these delays (two entries for a duplicate).
    Deliver(Vec<u64>),
    /// Drop it, for this reason (`partition`, `cut`, `loss`).
    Drop(&'static str),
}

/// The network's current fault settings. Changing them takes effect at once; messages already
/// in flight are judged again by the reachability rules when they arrive.
#[derive(Clone, Debug, Default)]
pub struct Network {
    /// Partition group of each node; nodes in different groups cannot talk. Empty: no partition.
    groups: BTreeMap<NodeId, usize>,
    /// One-way cuts: (from, to) pairs whose messages are dropped.
    cuts: BTreeSet<(NodeId, NodeId)>,
    /// The rule for links without their own.
    default_rule: LinkRule,
    /// Per-link overrides.
    rules: BTreeMap<(NodeId, NodeId), LinkRule>,
}

impl Network {
    /// A healthy network with the given default link rule.
    pub fn new(default_rule: LinkRule) -> Self {
        Network { default_rule, ..Default::default() }
    }

    /// Splits the nodes into groups that cannot reach each other. Nodes not named form one more
    /// group together.
    pub fn partition(&mut self, groups: &[Vec<NodeId>]) {
        self.groups.clear();
        for (i, group) in groups.iter().enumerate() {
            for &node in group {
                self.groups.insert(node, i + 1);
            }
        }
    }

    /// Cuts the one-way link from `from` to `to`.
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.cuts.insert((from, to));
    }

    /// Restores the one-way link from `from` to `to`.
    pub fn restore(&mut self, from: NodeId, to: NodeId) {
        self.cuts.remove(&(from, to));
    }

    /// Removes every partition, cut and per-link rule, and resets the default rule.
    pub fn heal(&mut self, default_rule: LinkRule) {
        self.groups.clear();
        self.cuts.clear();
        self.rules.clear();
        self.default_rule = default_rule;
    }

    /// Sets the rule of every link without an override.
    pub fn set_default_rule(&mut self, rule: LinkRule) {
        self.default_rule = rule;
    }

    /// The rule of every link without an override.
    pub fn default_rule(&self) -> LinkRule {
        self.default_rule
    }

    /// Overrides the rule of one direction of one link.
    pub fn set_rule(&mut self, from: NodeId, to: NodeId, rule: LinkRule) {
        self.rules.insert((from, to), rule);
    }

    /// Whether a message from `from` can currently reach `to`, and if not, why.
    pub fn reachable(&self, from: NodeId, to: NodeId) -> Result<(), &'static str> {
        let group = |n: NodeId| self.groups.get(&n).copied().unwrap_or(0);
        if !self.groups.is_empty() && group(from) != group(to) {
            return Err("partition");
        }
        if self.cuts.contains(&(from, to)) {
            return Err("cut");
        }
        Ok(())
    }

    /// Decides the fate of a message sent now from `from` to `to`.
    pub fn route<R: rand::Rng>(&self, from: NodeId, to: NodeId, rng: &mut R) -> Fate {
        if let Err(reason) = self.reachable(from, to) {
            return Fate::Drop(reason);
        }
        let rule = self.rules.get(&(from, to)).copied().unwrap_or(self.default_rule);
        if rule.loss > 0.0 && rng.random_bool(rule.loss.min(1.0)) {
            return Fate::Drop("loss");
        }
        let delay = |rng: &mut R| {
            let (lo, hi) = rule.delay;
            if hi > lo { rng.random_range(lo..=hi) } else { lo }
        };
        let mut delays = vec![delay(rng)];
        if rule.duplicate > 0.0 && rng.random_bool(rule.duplicate.min(1.0)) {
            delays.push(delay(rng));
        }
        Fate::Deliver(delays)
    }

    /// True if nothing is cut, partitioned, lossy or duplicated.
    pub fn is_healthy(&self) -> bool {
        self.groups.is_empty()
            && self.cuts.is_empty()
            && self.rules.is_empty()
            && self.default_rule.loss == 0.0
            && self.default_rule.duplicate == 0.0
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.groups.is_empty() && self.cuts.is_empty() {
            return write!(f, "fully connected");
        }
        let mut by_group: BTreeMap<usize, Vec<NodeId>> = BTreeMap::new();
        for (&n, &g) in &self.groups {
            by_group.entry(g).or_default().push(n);
        }
        let groups: Vec<String> = by_group
            .values()
            .map(|ns| ns.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(" "))
            .collect();
        let mut parts = Vec::new();
        if !groups.is_empty() {
            parts.push(groups.join(" | "));
        }
        for (a, b) in &self.cuts {
            parts.push(format!("{a}-x->{b}"));
        }
        write!(f, "{}", parts.join(", "))
    }
}
