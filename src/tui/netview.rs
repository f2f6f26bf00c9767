//! Reads the network's fault settings back for display: the partition groups, the one-way cuts
//! and the link rule, found through the network's own reachability rules (so the console shows
//! exactly what the routers apply).

use crate::network::{LinkRule, Network};
use crate::raft::NodeId;

/// The network, as the console shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct NetView {
    /// The partition groups, or empty when there is no partition.
    pub groups: Vec<Vec<NodeId>>,
    /// One-way cuts (from, to), sorted.
    pub cuts: Vec<(NodeId, NodeId)>,
    /// The rule of every link.
    pub rule: LinkRule,
}

/// Works out groups and cuts by asking the network about every pair of nodes.
pub fn analyse(network: &Network, members: &[NodeId]) -> NetView {
    // Without cuts, unreachable means partitioned; without a partition, unreachable means cut.
    let mut uncut = network.clone();
    let mut unpartitioned = network.clone();
    unpartitioned.partition(&[]);
    let mut cuts = Vec::new();
    for &a in members {
        for &b in members {
            if a != b && unpartitioned.reachable(a, b).is_err() {
                cuts.push((a, b));
                uncut.restore(a, b);
            }
        }
    }
    let mut groups: Vec<Vec<NodeId>> = Vec::new();
    for &n in members {
        match groups.iter_mut().find(|g| uncut.reachable(g[0], n).is_ok()) {
            Some(g) => g.push(n),
            None => groups.push(vec![n]),
        }
    }
    if groups.len() <= 1 {
        groups.clear();
    }
    NetView { groups, cuts, rule: network.default_rule() }
}

/// `{n1 n2 n3} ╳ {n4 n5}`, or `none` without a partition.
pub fn describe_groups(groups: &[Vec<NodeId>]) -> String {
    if groups.is_empty() {
        return "none".into();
    }
    groups
        .iter()
        .map(|g| format!("{{{}}}", g.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(" ")))
        .collect::<Vec<_>>()
        .join(" ╳ ")
}

/// `5%`, `12.5%`: a loss probability as a percentage.
pub fn percent(p: f64) -> String {
    let v = p * 100.0;
    if (v - v.round()).abs() < 1e-9 { format!("{v:.0}%") } else { format!("{v:.1}%") }
}

/// `0 ms`, `2-10 ms`: a delay range in nanoseconds, in milliseconds.
pub fn delay(range: (u64, u64)) -> String {
    let ms = |ns: u64| {
        let v = ns as f64 / 1e6;
        if (v - v.round()).abs() < 1e-9 { format!("{v:.0}") } else { format!("{v:.1}") }
    };
    if range.0 == range.1 {
        format!("{} ms", ms(range.0))
    } else {
        format!("{}-{} ms", ms(range.0), ms(range.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u64]) -> Vec<NodeId> {
        v.iter().copied().map(NodeId).collect()
    }

    #[test]
    fn groups_and_cuts_are_read_back() {
        let members = ids(&[1, 2, 3, 4, 5]);
        let mut net = Network::new(LinkRule::default());
        assert_eq!(analyse(&net, &members).groups, Vec::<Vec<NodeId>>::new());
        net.partition(&[ids(&[1, 2, 3]), ids(&[4, 5])]);
        net.cut(NodeId(1), NodeId(2));
        net.cut(NodeId(5), NodeId(1));
        let view = analyse(&net, &members);
        assert_eq!(view.groups, vec![ids(&[1, 2, 3]), ids(&[4, 5])]);
        assert_eq!(view.cuts, vec![(NodeId(1), NodeId(2)), (NodeId(5), NodeId(1))]);
        assert_eq!(describe_groups(&view.groups), "{n1 n2 n3} ╳ {n4 n5}");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(percent(0.05), "5%");
        assert_eq!(percent(0.125), "12.5%");
        assert_eq!(delay((0, 0)), "0 ms");
        assert_eq!(delay((2_000_000, 10_000_000)), "2-10 ms");
    }
}
