//! Golden scenario scripts for the consensus core: one behaviour per file under
//! `tests/scripts/`, expected output = the event narration. Regenerate with
//! `UPDATE_GOLDENFILES=1 cargo test --test scripts` and read the diff before committing.
//!
//! Commands (nodes are written `n1`, `n2`, ...; "nodes" means a list, empty = all):
//! - `cluster nodes=N [prevote=BOOL] [checkquorum=BOOL] [hazard=local_reads|commit_old_term]
//!   [maxappend=N] [maxinflight=N] [sessiontimeout=T] [maxsessions=N] [snapshot=N] [chunk=B]
//!   [seed=S]`: a fresh cluster; election timeouts are 15-30 ticks, heartbeats every 5; at most
//!   `maxappend` entries per AppendEntries (default 64) and `maxinflight` AppendEntries in flight
//!   per follower (default 16); client sessions expire after `sessiontimeout` ticks of the
//!   leader's clock without a put, and at most `maxsessions` are kept (defaults: one hour,
//!   4,096); a node snapshots once its log holds more than `snapshot` applied entries, and sends
//!   snapshots in InstallSnapshot chunks of `chunk` bytes (paper §7; defaults: the core's,
//!   1,000 entries and 32 KiB, far beyond what a script reaches; `snapshot=0`: never).
//! - `tick [nodes] [count=N] [deliver=BOOL]`: advance time on the nodes; with `deliver=true`,
//!   deliver every message until nothing is in flight after each tick (a healthy network).
//! - `campaign NODE`: make the node time out now.
//! - `deliver [nodes]`: deliver every message in flight to the nodes (one round).
//! - `stabilize [max=N]`: deliver rounds until nothing is in flight.
//! - `drop [from=NODE] [to=NODE] [type=KIND]`: drop matching messages in flight.
//! - `partition nodes`: cut the nodes off from the others; `cut A B`: one-way A->B;
//!   `heal`: restore the network (this also resets every `link` delay).
//! - `link A B delay=MS [duplicate=BOOL]`: messages sent from now on from A to B take exactly
//!   MS milliseconds (the default is 1-3), and with `duplicate=true` each arrives twice (both
//!   copies after MS). `deliver` and `stabilize` ignore delays, except for the order within a
//!   round (earliest arrival first); use `wait` to leave slow messages in flight.
//! - `wait MS`: advance virtual time by MS milliseconds and deliver the messages due by then
//!   (one round: what they provoke arrives at least 1 ms later).
//! - `crash NODE`, `restart NODE`, `pause NODE`, `resume NODE`.
//! - `register NODE`: a client registers a session through the node (thesis §6.3); the answer
//!   names the session, `cI`, I the index of its register entry.
//! - `put NODE KEY=VALUE [client=K] [seq=S] [ack=A]`, `get NODE KEY [client=K] [seq=S]`: a
//!   client request through the node by the K-th session registered in the script (default:
//!   the first); the sequence number counts up per client unless given, and `ack` (the lowest
//!   sequence number still in flight) is the sequence number unless given.
//! - `transfer NODE TARGET`: ask NODE to hand its leadership to TARGET (thesis §3.10); the
//!   events say whether the transfer started and how it ends.
//! - `setlog NODE TERM... [term=T]`: crash the node, replace its stored log by no-op entries of
//!   those terms (and its term by T), restart it. For the paper's Figure 7 and 8 shapes.
//! - `status [nodes]`, `log [nodes]`, `kv [nodes]`, `sessions [nodes]`: print state. A node
//!   that holds a snapshot shows it: `snap=21@2` in `status` (before `last`), `snap 21@2 |`
//!   before the entries after it in `log`; a leader transferring its leadership shows
//!   `transfer=n2` in `status`.

use goldenscript::{Argument, Command, Context};
use quorum::events::EventKind;
use quorum::kv::{ClientId, Op, Reply, Request, RequestId, SessionLimits};
use quorum::network::LinkRule;
use quorum::raft::{Config, Entry, Hazard, LogIndex, NodeId, Term};
use quorum::sim::Cluster;
use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;

#[derive(Default)]
struct Runner {
    cluster: Option<Cluster>,
    seqs: BTreeMap<u64, u64>,
    /// Sessions granted so far, in order.
    sessions: Vec<ClientId>,
    /// Register requests sent so far (their nonces).
    registrations: u64,
}

fn node_id(s: &str) -> Result<NodeId, Box<dyn Error>> {
    let n = s.strip_prefix('n').ok_or_else(|| format!("bad node {s:?}: expected n1, n2, ..."))?;
    Ok(NodeId(n.parse().map_err(|_| format!("bad node {s:?}"))?))
}

fn bool_arg(v: &str) -> Result<bool, Box<dyn Error>> {
    v.parse().map_err(|_| format!("expected true or false, got {v:?}").into())
}

impl Runner {
    fn cluster(&mut self) -> Result<&mut Cluster, Box<dyn Error>> {
        self.cluster.as_mut().ok_or_else(|| "no cluster: start with `cluster nodes=N`".into())
    }

    /// The positional node arguments; empty means every node.
    fn nodes(&mut self, command: &Command) -> Result<Vec<NodeId>, Box<dyn Error>> {
        let mut nodes = Vec::new();
        for arg in &command.args {
            if let Argument::Positional(v) = arg {
                nodes.push(node_id(v)?);
            }
        }
        if nodes.is_empty() {
            nodes = self.cluster()?.ids();
        }
        Ok(nodes)
    }

    fn key(command: &Command, key: &str) -> Option<String> {
        command.args.iter().find_map(|a| match a {
            Argument::KeyValue(k, v) if k == key => Some(v.clone()),
            _ => None,
        })
    }

    fn positionals(command: &Command) -> Vec<String> {
        command
            .args
            .iter()
            .filter_map(|a| match a {
                Argument::Positional(v) => Some(v.clone()),
                _ => None,
            })
            .collect()
    }

    fn request(&mut self, command: &Command, op_is_put: bool) -> Result<(NodeId, Request), Box<dyn Error>> {
        let args = Self::positionals(command);
        let node = node_id(args.first().ok_or("missing node")?)?;
        let k: usize = Self::key(command, "client").map_or(Ok(1), |c| c.parse())?;
        let client = self
            .sessions
            .get(k.wrapping_sub(1))
            .ok_or_else(|| format!("no session number {k}: `register NODE` it first"))?
            .0;
        let seq = match Self::key(command, "seq") {
            Some(s) => s.parse()?,
            None => {
                let s = self.seqs.entry(client).or_insert(0);
                *s += 1;
                *s
            }
        };
        let op = if op_is_put {
            let kv = command
                .args
                .iter()
                .find_map(|a| match a {
                    Argument::KeyValue(k, v) if !["client", "seq", "ack"].contains(&k.as_str()) => {
                        Some((k.clone(), v.clone()))
                    }
                    _ => None,
                })
                .ok_or("put needs KEY=VALUE")?;
            Op::Put { key: kv.0, value: kv.1 }
        } else {
            Op::Get { key: args.get(1).ok_or("get needs a key")?.clone() }
        };
        let ack = Self::key(command, "ack").map_or(Ok(seq), |a| a.parse())?;
        Ok((node, Request { id: RequestId { client: ClientId(client), seq }, op, ack }))
    }

    /// Delivers rounds of messages until nothing is in flight, at most `max` rounds.
    fn deliver_until_quiet(cluster: &mut Cluster, max: u32) -> Result<(), Box<dyn Error>> {
        let mut rounds = 0;
        while cluster.in_flight_len() > 0 {
            rounds += 1;
            if rounds > max {
                return Err(format!("not stable after {max} rounds").into());
            }
            cluster.deliver_all(&[]);
        }
        Ok(())
    }

    fn narrate(&mut self, out: &mut String) -> Result<(), Box<dyn Error>> {
        for (_, reply) in self.cluster()?.take_replies() {
            if let Ok(Reply::Registered { client }) = reply.result {
                self.sessions.push(client);
            }
        }
        for event in self.cluster()?.take_events() {
            if !matches!(event.kind, EventKind::Deliver { .. }) {
                writeln!(out, "{event}")?;
            }
        }
        Ok(())
    }
}

impl goldenscript::Runner for Runner {
    type Command = Command;

    fn run(&mut self, command: &Command, _context: &Context) -> Result<String, Box<dyn Error>> {
        let mut out = String::new();
        match command.name.as_str() {
            "cluster" => self.start_cluster(command)?,
            "tick" => self.tick(command)?,
            "campaign" => self.campaign(command)?,
            "transfer" => self.transfer(command)?,
            "deliver" => self.deliver(command)?,
            "stabilize" => self.stabilize(command)?,
            "drop" => self.drop_messages(command)?,
            "partition" => self.partition(command)?,
            "cut" => self.cut(command)?,
            "link" => self.link(command)?,
            "wait" => self.wait(command)?,
            "heal" => self.heal()?,
            "crash" | "restart" | "pause" | "resume" => self.lifecycle(command)?,
            "register" => self.register(command, &mut out)?,
            "put" | "get" => self.client_request(command, &mut out)?,
            "setlog" => self.setlog(command)?,
            "status" => self.status(command, &mut out)?,
            "log" | "kv" | "sessions" => self.print_state(command, &mut out)?,
            name => return Err(format!("unknown command {name:?}").into()),
        }
        self.narrate(&mut out)?;
        Ok(out)
    }
}

/// The commands, one method each (or one per group of alike commands); see the
/// module documentation for what each does.
impl Runner {
    /// `cluster nodes=N ...`: a fresh cluster, forgetting every session.
    fn start_cluster(&mut self, command: &Command) -> Result<(), Box<dyn Error>> {
        let n: u64 = Self::key(command, "nodes").ok_or("cluster needs nodes=N")?.parse()?;
        let seed: u64 = Self::key(command, "seed").map_or(Ok(1), |s| s.parse())?;
        let members: Vec<NodeId> = (1..=n).map(NodeId).collect();
        let configs = members
            .iter()
            .map(|&id| Self::node_config(command, id, &members, seed))
            .collect::<Result<Vec<_>, _>>()?;
        let mut limits = SessionLimits::default();
        if let Some(v) = Self::key(command, "sessiontimeout") {
            limits.timeout = v.parse()?;
        }
        if let Some(v) = Self::key(command, "maxsessions") {
            limits.max_sessions = v.parse()?;
        }
        self.cluster = Some(Cluster::with_sessions(configs, LinkRule::default(), seed, limits));
        self.seqs.clear();
        self.sessions.clear();
        self.registrations = 0;
        Ok(())
    }

    /// The configuration of node `id` of a `cluster` command.
    fn node_config(
        command: &Command,
        id: NodeId,
        members: &[NodeId],
        seed: u64,
    ) -> Result<Config, Box<dyn Error>> {
        let mut c = Config::new(id, members.to_vec());
        c.seed = seed.wrapping_mul(1000).wrapping_add(id.0);
        if let Some(v) = Self::key(command, "prevote") {
            c.pre_vote = bool_arg(&v)?;
        }
        if let Some(v) = Self::key(command, "checkquorum") {
            c.check_quorum = bool_arg(&v)?;
        }
        if let Some(v) = Self::key(command, "maxappend") {
            c.max_entries_per_append = v.parse()?;
        }
        if let Some(v) = Self::key(command, "maxinflight") {
            c.max_inflight = v.parse()?;
        }
        if let Some(v) = Self::key(command, "snapshot") {
            c.snapshots.every = v.parse()?;
        }
        if let Some(v) = Self::key(command, "chunk") {
            c.snapshots.chunk = v.parse()?;
        }
        c.hazard = match Self::key(command, "hazard").as_deref() {
            None => None,
            Some("local_reads") => Some(Hazard::LocalReads),
            Some("commit_old_term") => Some(Hazard::CommitOldTerm),
            Some(h) => return Err(format!("unknown hazard {h}").into()),
        };
        Ok(c)
    }

    /// `tick [nodes] [count=N] [deliver=BOOL]`.
    fn tick(&mut self, command: &Command) -> Result<(), Box<dyn Error>> {
        let count: u32 = Self::key(command, "count").map_or(Ok(1), |c| c.parse())?;
        let deliver = Self::key(command, "deliver").map_or(Ok(false), |v| bool_arg(&v))?;
        let nodes = self.nodes(command)?;
        let cluster = self.cluster()?;
        for _ in 0..count {
            for &id in &nodes {
                cluster.tick(id);
            }
            if deliver {
                Self::deliver_until_quiet(cluster, 100)?;
            }
        }
        Ok(())
    }

    /// `campaign NODE`.
    fn campaign(&mut self, command: &Command) -> Result<(), Box<dyn Error>> {
        let nodes = self.nodes(command)?;
        for id in nodes {
            self.cluster()?.campaign(id);
        }
        Ok(())
    }

    /// `transfer NODE TARGET`.
    fn transfer(&mut self, command: &Command) -> Result<(), Box<dyn Error>> {
        let args = Self::positionals(command);
        let [leader, target] = args.as_slice() else { return Err("expected transfer NODE TARGET".into()) };
        let (leader, target) = (node_id(leader)?, node_id(target)?);
        self.cluster()?.transfer_leadership(leader, target);
        Ok(())
    }

    /// `deliver [nodes]`: one round.
    fn deliver(&mut self, command: &Command) -> Result<(), Box<dyn Error>> {
        let args = Self::positionals(command);
        let nodes = if args.is_empty() { Vec::new() } else { self.nodes(command)? };
        self.cluster()?.deliver_all(&nodes);
        Ok(())
    }

    /// `stabilize [max=N]`.
    fn stabilize(&mut self, command: &Command) -> Result<(), Box<dyn Error>> {
        let max: u32 = Self::key(command, "max").map_or(Ok(100), |c| c.parse())?;
        Self::deliver_until_quiet(self.cluster()?, max)
    }

    /// `drop [from=NODE] [to=NODE] [type=KIND]`.
    fn drop_messages(&mut self, command: &Command) -> Result<(), Box<dyn Error>> {
        let from = Self::key(command, "from").map(|s| node_id(&s)).transpose()?;
        let to = Self::key(command, "to").map(|s| node_id(&s)).transpose()?;
        let kind = Self::key(command, "type");
        self.cluster()?.drop_in_flight(
            |m| {
                from.is_none_or(|f| m.from == f)
                    && to.is_none_or(|t| m.to == t)
                    && kind.as_deref().is_none_or(|k| m.body.kind() == k)
            },
            "dropped by script",
        );
        Ok(())
    }

    /// `partition nodes`.
    fn partition(&mut self, command: &Command) -> Result<(), Box<dyn Error>> {
        let group = self.nodes(command)?;
        let cluster = self.cluster()?;
        let rest: Vec<NodeId> = cluster.ids().into_iter().filter(|n| !group.contains(n)).collect();
        cluster.network.partition(&[group, rest]);
        let description = format!("partition {}", cluster.network);
        cluster.record(None, EventKind::fault(description, None));
        Ok(())
    }

    /// `cut A B`.
    fn cut(&mut self, command: &Command) -> Result<(), Box<dyn Error>> {
        let args = Self::positionals(command);
        let (a, b) = match args.as_slice() {
            [a, b] => (node_id(a)?, node_id(b)?),
            _ => return Err("cut needs two nodes: cut n1 n2".into()),
        };
        let cluster = self.cluster()?;
        cluster.network.cut(a, b);
        cluster.record(None, EventKind::fault(format!("cut {a} -> {b}"), None));
        Ok(())
    }

    /// `link A B delay=MS [duplicate=BOOL]`.
    fn link(&mut self, command: &Command) -> Result<(), Box<dyn Error>> {
        let args = Self::positionals(command);
        let (a, b) = match args.as_slice() {
            [a, b] => (node_id(a)?, node_id(b)?),
            _ => return Err("link needs two nodes: link n1 n2 delay=MS".into()),
        };
        let ms: u64 = Self::key(command, "delay").ok_or("link needs delay=MS")?.parse()?;
        let duplicate = Self::key(command, "duplicate").map_or(Ok(false), |v| bool_arg(&v))?;
        let delay = (ms * 1_000_000, ms * 1_000_000);
        let rule = LinkRule { delay, duplicate: if duplicate { 1.0 } else { 0.0 }, ..LinkRule::default() };
        let cluster = self.cluster()?;
        cluster.network.set_rule(a, b, rule);
        let twice = if duplicate { ", every message twice" } else { "" };
        cluster.record(None, EventKind::fault(format!("link {a} -> {b} delay {ms}ms{twice}"), None));
        Ok(())
    }

    /// `wait MS`.
    fn wait(&mut self, command: &Command) -> Result<(), Box<dyn Error>> {
        let args = Self::positionals(command);
        let ms: u64 = args.first().ok_or("wait needs a duration: wait MS")?.parse()?;
        let cluster = self.cluster()?;
        let now = cluster.now();
        cluster.set_now(now + ms * 1_000_000);
        cluster.deliver_due();
        Ok(())
    }

    /// `heal`.
    fn heal(&mut self) -> Result<(), Box<dyn Error>> {
        let cluster = self.cluster()?;
        cluster.network.heal(LinkRule::default());
        cluster.record(None, EventKind::fault("heal", None));
        Ok(())
    }

    /// `crash NODE`, `restart NODE`, `pause NODE`, `resume NODE`.
    fn lifecycle(&mut self, command: &Command) -> Result<(), Box<dyn Error>> {
        let nodes = self.nodes(command)?;
        let cluster = self.cluster()?;
        for id in nodes {
            match command.name.as_str() {
                "crash" => cluster.crash(id),
                "restart" => cluster.restart(id),
                "pause" => cluster.pause(id),
                _ => cluster.resume(id),
            }
        }
        Ok(())
    }

    /// `register NODE`.
    fn register(&mut self, command: &Command, out: &mut String) -> Result<(), Box<dyn Error>> {
        let args = Self::positionals(command);
        let node = node_id(args.first().ok_or("register needs a node")?)?;
        self.registrations += 1;
        let request = Request::new(RequestId::register(self.registrations), Op::Register);
        if !self.cluster()?.client_request(node, request) {
            writeln!(out, "{node} is down: no answer")?;
        }
        Ok(())
    }

    /// `put NODE KEY=VALUE ...`, `get NODE KEY ...`.
    fn client_request(&mut self, command: &Command, out: &mut String) -> Result<(), Box<dyn Error>> {
        let (node, request) = self.request(command, command.name == "put")?;
        if !self.cluster()?.client_request(node, request) {
            writeln!(out, "{node} is down: no answer")?;
        }
        Ok(())
    }

    /// `setlog NODE TERM... [term=T]`.
    fn setlog(&mut self, command: &Command) -> Result<(), Box<dyn Error>> {
        let args = Self::positionals(command);
        let node = node_id(args.first().ok_or("setlog needs a node")?)?;
        let terms: Vec<u64> = args[1..].iter().map(|t| t.parse()).collect::<Result<_, _>>()?;
        let last = terms.last().copied().unwrap_or(0);
        let term: u64 = Self::key(command, "term").map_or(Ok(last), |t| t.parse())?;
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, &t)| Entry { index: LogIndex(i as u64 + 1), term: Term(t), command: None })
            .collect();
        let cluster = self.cluster()?;
        cluster.crash(node);
        cluster.set_stored_log(node, entries, Term(term));
        cluster.restart(node);
        cluster.take_events();
        Ok(())
    }

    /// `status [nodes]`: one line per node.
    fn status(&mut self, command: &Command, out: &mut String) -> Result<(), Box<dyn Error>> {
        let nodes = self.nodes(command)?;
        let cluster = self.cluster()?;
        for id in nodes {
            match cluster.node(id) {
                None => writeln!(out, "{id} down")?,
                Some(n) => {
                    write!(out, "{id}@{} {}", n.term(), n.role())?;
                    if let Some(l) = n.leader().filter(|&l| l != id) {
                        write!(out, " leader={l}")?;
                    }
                    if let Some(v) = n.vote() {
                        write!(out, " vote={v}")?;
                    }
                    if let Some(t) = n.transferring_to() {
                        write!(out, " transfer={t}")?;
                    }
                    if let Some(s) = n.snapshot_index() {
                        write!(out, " snap={s}")?;
                    }
                    write!(
                        out,
                        " last={} commit={} applied={}",
                        n.log().last(),
                        n.commit_index(),
                        n.applied_index()
                    )?;
                    for (peer, m, next) in n.replication() {
                        write!(out, " {peer}:{m}/{next}")?;
                    }
                    writeln!(out)?;
                }
            }
        }
        Ok(())
    }

    /// `log [nodes]`, `kv [nodes]`, `sessions [nodes]`: one line per node.
    fn print_state(&mut self, command: &Command, out: &mut String) -> Result<(), Box<dyn Error>> {
        let nodes = self.nodes(command)?;
        let cluster = self.cluster()?;
        match command.name.as_str() {
            "log" => {
                for &id in &nodes {
                    let Some(n) = cluster.node(id) else {
                        writeln!(out, "{id} down")?;
                        continue;
                    };
                    let entries: Vec<String> = n.log().entries().iter().map(|e| e.to_string()).collect();
                    let entries = entries.join(", ");
                    match (n.snapshot_index(), entries.is_empty()) {
                        (Some(s), true) => writeln!(out, "{id}: snap {s}")?,
                        (Some(s), false) => writeln!(out, "{id}: snap {s} | {entries}")?,
                        (None, true) => writeln!(out, "{id}: empty")?,
                        (None, false) => writeln!(out, "{id}: {entries}")?,
                    }
                }
                Ok(())
            }
            "kv" => list(
                out,
                cluster,
                &nodes,
                |n| n.state_machine().data().iter().map(|(k, v)| format!("{k}={v}")).collect(),
                " ",
            ),
            _ => list(
                out,
                cluster,
                &nodes,
                |n| n.state_machine().sessions().iter().map(|c| c.to_string()).collect(),
                " ",
            ),
        }
    }
}

/// Prints one line per node: its items joined, "empty" if none, "down" if it is not running.
fn list(
    out: &mut String,
    cluster: &Cluster,
    nodes: &[NodeId],
    items: impl Fn(&quorum::kv::KvNode) -> Vec<String>,
    separator: &str,
) -> Result<(), Box<dyn Error>> {
    for &id in nodes {
        match cluster.node(id) {
            None => writeln!(out, "{id} down")?,
            Some(n) => {
                let items = items(n);
                let text = if items.is_empty() { "empty".to_string() } else { items.join(separator) };
                writeln!(out, "{id}: {text}")?;
            }
        }
    }
    Ok(())
}

macro_rules! scripts {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() -> std::io::Result<()> {
            goldenscript::run(&mut Runner::default(), concat!("tests/scripts/", stringify!($name)))
        }
    )*};
}

scripts!(
    first_election,
    concurrent_puts_converge,
    figure7_followers,
    figure8_commit_rule,
    figure8_hazard,
    follower_repaired_after_conflicts,
    forwarded_refusal_is_not_definite,
    forwarded_retry_not_answered_by_old_leader,
    leader_crash_reelection,
    leader_lease_ignores_vote_request,
    noop_at_term_start,
    one_way_cut,
    partitioned_leader_refuses_stale_read,
    partitioned_leader_steps_down,
    paused_node_catches_up,
    pipelining_and_batching,
    prevote_refused_while_leader_alive,
    prevote_rejoin_does_not_disrupt,
    read_index_on_leader,
    read_through_follower,
    read_through_isolated_node_fails,
    read_waits_for_noop,
    rejoin_without_prevote_disrupts,
    reordered_append_no_truncate,
    restart_keeps_term_vote_log,
    restart_from_own_snapshot,
    snapshot_catch_up_in_chunks,
    snapshot_chunk_duplicated,
    snapshot_chunk_from_the_future,
    snapshot_chunk_lost_resent,
    snapshot_keeps_longer_log,
    snapshot_late_append_before_base,
    snapshot_older_than_commit_ignored,
    snapshot_stale_chunk_during_transfer,
    transfer_abandoned_target_down,
    transfer_late_timeout_now_ignored,
    transfer_leadership,
    transfer_refused_requests,
    transfer_refuses_writes,
    retried_put_applied_once,
    sessions_registered_refused_and_expired,
    reused_index_answers_old_write,
    single_node_cluster,
    split_vote_resolves,
    stale_candidate_refused,
    stale_read_hazard,
    stale_term_responses_ignored,
    vote_durable_across_restart,
    write_lost_leadership_not_acknowledged,
    write_through_isolated_node_fails,
);
