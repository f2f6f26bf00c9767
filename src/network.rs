//! The fault model of the network, as plain data: partitions into groups, one-way link cuts,
//! and per-link loss, delay and duplication. Both engines route every message through it (the
//! simulator in virtual time, the live cluster's threads and router in real time): each asks
//! it what to do with a message when it is sent, and again whether the link is up when it is
//! due. Randomness comes from the caller's seeded RNG.
//!
//! The network can also be *held* ([`Network::hold`]): every message sent then waits in flight,
//! in [`HeldMessages`], until the user delivers, drops or duplicates it by hand. For the core a
//! held message is only a slow one: Raft assumes an asynchronous network where messages may be
//! delayed without bound, reordered, duplicated or lost (paper §5.1, "Raft does not depend on
//! timing for safety"), so nothing a user does with held messages can break its safety.

use crate::raft::{Message, NodeId};
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(into = "NetworkSpec", from = "NetworkSpec")]
pub struct Network {
    /// Partition group of each node; nodes in different groups cannot talk. Empty: no partition.
    groups: BTreeMap<NodeId, usize>,
    /// One-way cuts: (from, to) pairs whose messages are dropped.
    cuts: BTreeSet<(NodeId, NodeId)>,
    /// The rule for links without their own.
    default_rule: LinkRule,
    /// Per-link overrides.
    rules: BTreeMap<(NodeId, NodeId), LinkRule>,
    /// Whether every message sent waits in flight for the user (see [`HeldMessages`]).
    hold: bool,
}

/// The network's settings as the event log writes them (JSON has no tuple keys).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct NetworkSpec {
    /// The partition's groups, each sorted (empty: no partition).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    groups: Vec<Vec<NodeId>>,
    /// One-way cuts, `[from, to]`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    cuts: Vec<(NodeId, NodeId)>,
    /// The rule of links without their own.
    link: LinkRule,
    /// Per-link overrides, `[from, to, rule]`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    rules: Vec<(NodeId, NodeId, LinkRule)>,
    /// Whether the network is held.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    hold: bool,
}

impl From<Network> for NetworkSpec {
    fn from(n: Network) -> NetworkSpec {
        let mut groups: BTreeMap<usize, Vec<NodeId>> = BTreeMap::new();
        for (&node, &g) in &n.groups {
            groups.entry(g).or_default().push(node);
        }
        NetworkSpec {
            groups: groups.into_values().collect(),
            cuts: n.cuts.into_iter().collect(),
            link: n.default_rule,
            rules: n.rules.into_iter().map(|((a, b), r)| (a, b, r)).collect(),
            hold: n.hold,
        }
    }
}

impl From<NetworkSpec> for Network {
    fn from(spec: NetworkSpec) -> Network {
        let mut n = Network::new(spec.link);
        n.partition(&spec.groups);
        n.cuts = spec.cuts.into_iter().collect();
        n.rules = spec.rules.into_iter().map(|(a, b, r)| ((a, b), r)).collect();
        n.hold = spec.hold;
        n
    }
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

    /// Removes every partition, cut and per-link rule, and resets the default rule. A hold
    /// stays: it is the user's way of stepping, not a fault.
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

    /// Holds the network (every message sent from now on waits for the user), or lets it go.
    /// Letting go does not deliver what is held: the engine does, at once.
    pub fn set_hold(&mut self, hold: bool) {
        self.hold = hold;
    }

    /// Whether the network is held.
    pub fn holds(&self) -> bool {
        self.hold
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

/// What the user can do with a held message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeldAction {
    /// Deliver it now (judged against partitions and cuts, and dropped with the reason if its
    /// link is down, or if its receiver is).
    Deliver,
    /// Drop it.
    Drop,
    /// Make a second copy, held too.
    Duplicate,
}

/// One copy of a message waiting in a held network.
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    /// The message's id (its `send` event's).
    pub id: u64,
    /// The message.
    pub message: Message,
    /// When it began to wait (the engine's clock, nanoseconds).
    pub since: u64,
}

/// The messages a held network keeps for the user, oldest first (by id, then by copy). Both
/// engines keep theirs in one of these.
#[derive(Clone, Debug, Default)]
pub struct HeldMessages {
    copies: BTreeMap<(u64, u64), Held>,
    next_copy: u64,
}

impl HeldMessages {
    /// Keeps a message until the user acts on it.
    pub fn hold(&mut self, held: Held) {
        self.copies.insert((held.id, self.next_copy), held);
        self.next_copy += 1;
    }

    /// Takes the oldest copy of message `id` out, or the oldest of all if `id` is `None`.
    pub fn take(&mut self, id: Option<u64>) -> Option<Held> {
        let key = match id {
            Some(id) => *self.copies.range((id, 0)..=(id, u64::MAX)).next()?.0,
            None => *self.copies.keys().next()?,
        };
        self.copies.remove(&key)
    }

    /// A second copy of message `id` (held from `now`), if it is held.
    pub fn duplicate(&mut self, id: u64, now: u64) -> Option<Held> {
        let (_, held) = self.copies.range((id, 0)..=(id, u64::MAX)).next()?;
        let copy = Held { since: now, ..held.clone() };
        self.hold(copy.clone());
        Some(copy)
    }

    /// Takes every held message out, oldest first.
    pub fn take_all(&mut self) -> Vec<Held> {
        std::mem::take(&mut self.copies).into_values().collect()
    }

    /// The held messages, oldest first.
    pub fn list(&self) -> Vec<Held> {
        self.copies.values().cloned().collect()
    }
}
