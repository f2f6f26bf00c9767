//! The lesson file format: plain text, one instruction per line, easy to write and to diff.
//! `assets/lessons/example.lesson` is the commented example; DESIGN.md §10.1 describes it whole.
//!
//! ```text
//! # A comment.
//! title Leader election
//! cluster nodes=5 seed=1 delay=20
//! > Narration before the first step: shown when the lesson opens.
//!
//! step Somebody times out
//! > A few sentences the panel shows while the step is the current one.
//! campaign n1
//! until leader n1 within 100 ticks
//! ```
//!
//! A step's lines run in order: actions (what the console can do), `until CONDITION [within N
//! ticks]` (time moves a tick at a time until the condition holds, and the step fails if it
//! has not after N ticks, 300 by default), and `expect CONDITION` (the condition must hold now,
//! without time moving).

use crate::kv::Op;
use crate::network::HeldAction;
use crate::raft::{Hazard, LogIndex, NodeId, Role, SnapshotPolicy, Switches, Term};
use std::fmt;

/// The longest a `until` may wait, in ticks (a minute of virtual time).
pub const MAX_WAIT_TICKS: u32 = 6_000;
/// How long `until` waits when the lesson does not say: 300 ticks, three seconds.
pub const DEFAULT_WAIT_TICKS: u32 = 300;

/// A lesson, read from its file.
#[derive(Clone, Debug, PartialEq)]
pub struct Lesson {
    /// Its name: the file's name without `.lesson`.
    pub name: String,
    /// Where it was read from (for messages).
    pub source: String,
    /// Its title.
    pub title: String,
    /// The narration shown before the first step.
    pub intro: Vec<String>,
    /// The cluster it plays on.
    pub setup: Setup,
    /// Its steps, in order (step 1 first).
    pub steps: Vec<Step>,
}

/// The cluster a lesson plays on (its `cluster` line).
#[derive(Clone, Debug, PartialEq)]
pub struct Setup {
    /// How many nodes (1 to 9).
    pub nodes: usize,
    /// The simulator's seed.
    pub seed: u64,
    /// Hazards, PreVote, CheckQuorum from the start.
    pub switches: Switches,
    /// The delay of every message, in ms (`None`: the simulator's own 1-3 ms).
    pub delay: Option<(u64, u64)>,
    /// The console's time scale while a step plays (the steps are the same at any speed).
    pub speed: f64,
    /// When nodes snapshot and compact their logs (paper §7): `snapshot=N chunk=B`.
    pub snapshots: SnapshotPolicy,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            nodes: 3,
            seed: 1,
            switches: Switches::CORRECT,
            delay: None,
            speed: 0.25,
            snapshots: SnapshotPolicy::default(),
        }
    }
}

/// One step of a lesson.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Its title (after `step`).
    pub title: String,
    /// The line of its `step` line.
    pub line: usize,
    /// What the panel says while it is the current step; an empty string is a paragraph break.
    pub narration: Vec<String>,
    /// What it does, in order.
    pub instructions: Vec<Instruction>,
}

/// One line of a step that does something.
#[derive(Clone, Debug, PartialEq)]
pub struct Instruction {
    /// Its line in the file.
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// What it does.
    pub kind: Kind,
}

/// What an instruction does.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// Something the console can do.
    Do(Action),
    /// Let time run, a tick at a time, until the condition holds (at most this many ticks).
    Until(Condition, u32),
    /// The condition must hold now.
    Expect(Condition),
}

/// Which held messages an action or a condition means: every one that matches all that is
/// given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// The message's kind, as the feed names it (`RequestVote`, `AppendEntries`, ...).
    pub kind: Option<String>,
    /// Its sender.
    pub from: Option<NodeId>,
    /// Its receiver.
    pub to: Option<NodeId>,
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(k) = &self.kind {
            parts.push(format!("type={k}"));
        }
        if let Some(n) = self.from {
            parts.push(format!("from={n}"));
        }
        if let Some(n) = self.to {
            parts.push(format!("to={n}"));
        }
        if parts.is_empty() { write!(f, "any message") } else { write!(f, "{}", parts.join(" ")) }
    }
}

/// Something a lesson does to the cluster: what the console's keys do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A client operation through a node (a put or a get), with this many attempts (each
    /// through the same node, with the same sequence number).
    Client {
        /// The node.
        via: NodeId,
        /// The operation.
        op: Op,
        /// Attempts (1 unless `attempts=N`).
        attempts: u32,
    },
    /// Kill a node.
    Kill(NodeId),
    /// Restart a node from its storage.
    Restart(NodeId),
    /// Pause a node.
    Pause(NodeId),
    /// Resume a node.
    Resume(NodeId),
    /// Make a node time out now.
    Campaign(NodeId),
    /// Ask whoever leads to transfer its leadership to this node (thesis §3.10).
    Transfer(NodeId),
    /// Split the nodes into groups (the nodes not named form one more group).
    Partition(Vec<Vec<NodeId>>),
    /// Cut the one-way link from the first node to the second.
    Cut(NodeId, NodeId),
    /// Restore that link.
    Restore(NodeId, NodeId),
    /// No partition, no cut (the delay and the loss stay).
    Heal,
    /// Lose this fraction of messages.
    Loss(f64),
    /// Delay every message by this range, in ms.
    Delay(u64, u64),
    /// Hold every message for the lesson to deliver.
    Hold,
    /// Stop holding: deliver what is held, let messages flow.
    Release,
    /// Deliver held messages, and what they cause, until nothing is held (the network stays
    /// held).
    Stabilize,
    /// Deliver, drop or duplicate every held message that matches.
    Held(HeldAction, Filter),
    /// Let time run this many ticks.
    Ticks(u32),
    /// Switch hazards, PreVote or CheckQuorum: the ones named, the others stay.
    Set(SwitchChange),
}

/// The switches a `set` line names (`None`: left as they are).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SwitchChange {
    /// The hazard (`Some(None)`: no hazard).
    pub hazard: Option<Option<Hazard>>,
    /// PreVote.
    pub pre_vote: Option<bool>,
    /// CheckQuorum.
    pub check_quorum: Option<bool>,
}

impl SwitchChange {
    /// `switches` with this change.
    pub fn apply(&self, mut switches: Switches) -> Switches {
        if let Some(h) = self.hazard {
            switches.hazard = h;
        }
        if let Some(p) = self.pre_vote {
            switches.pre_vote = p;
        }
        if let Some(c) = self.check_quorum {
            switches.check_quorum = c;
        }
        switches
    }
}

/// A condition a step waits for or expects.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// A node leads in the highest term any running node has (that node, if given).
    Leader(Option<NodeId>),
    /// The node's role.
    Role(NodeId, Role),
    /// The node's term.
    Term(NodeId, Term),
    /// The index is committed on a majority of the nodes (or on each node listed).
    Committed(LogIndex, Vec<NodeId>),
    /// The node has applied `key` = `value` (`None`: the key is absent).
    Value(NodeId, String, Option<String>),
    /// The step's last client operation has returned; how, if given; with this value, if given
    /// (`Some(None)`: not found).
    Returned(Option<Outcome>, Option<Option<String>>),
    /// A held message matches.
    Held(Filter),
    /// The safety checks: all hold (`true`) or one is broken (`false`).
    Safety(bool),
    /// The lesson's client history is linearizable.
    Linearizable,
    /// The node's last log entry has this index.
    Last(NodeId, LogIndex),
    /// The node holds a snapshot that includes this index (paper §7).
    Snapshot(NodeId, LogIndex),
    /// The condition does not hold (`not committed 4`, `not linearizable`).
    Not(Box<Condition>),
}

/// How a client operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded.
    Ok,
    /// It certainly had no effect.
    Failed,
    /// It may or may not take effect (a timeout).
    Unknown,
}

/// A malformed lesson: the file, the line and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    /// The file.
    pub file: String,
    /// The line (1-based; 0 for the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Reads a lesson; `name` is its name, `source` where it came from (for messages).
pub fn parse(name: &str, source: &str, text: &str) -> Result<Lesson, ParseError> {
    let fail = |line: usize, message: String| ParseError { file: source.to_string(), line, message };
    let mut title = None;
    let mut setup: Option<Setup> = None;
    let mut intro = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(said) = line.strip_prefix('>') {
            let said = said.strip_prefix(' ').unwrap_or(said).trim_end().to_string();
            match steps.last_mut() {
                Some(step) => step.narration.push(said),
                None if title.is_some() => intro.push(said),
                None => return Err(fail(n, "narration before the `title` line".into())),
            }
            continue;
        }
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        match word {
            "title" if title.is_some() => return Err(fail(n, "a second `title` line".into())),
            "title" if rest.is_empty() => return Err(fail(n, "`title` needs the lesson's title".into())),
            "title" => title = Some(rest.to_string()),
            _ if title.is_none() => {
                return Err(fail(n, format!("expected `title …` first, found `{line}`")));
            }
            "cluster" if setup.is_some() => return Err(fail(n, "a second `cluster` line".into())),
            "cluster" if !steps.is_empty() => {
                return Err(fail(n, "the `cluster` line goes before the first step".into()));
            }
            "cluster" => setup = Some(parse_setup(rest).map_err(|m| fail(n, m))?),
            "step" if setup.is_none() => {
                return Err(fail(n, "expected the `cluster nodes=N …` line before the first step".into()));
            }
            "step" if rest.is_empty() => return Err(fail(n, "`step` needs a title".into())),
            "step" => steps.push(Step {
                title: rest.to_string(),
                line: n,
                narration: Vec::new(),
                instructions: Vec::new(),
            }),
            _ => {
                let (Some(step), Some(setup)) = (steps.last_mut(), setup.as_ref()) else {
                    return Err(fail(n, format!("`{line}` comes before the first `step` line")));
                };
                let kind = parse_instruction(word, rest, setup.nodes).map_err(|m| fail(n, m))?;
                step.instructions.push(Instruction { line: n, text: line.to_string(), kind });
            }
        }
    }
    let title = title.ok_or_else(|| fail(0, "empty: a lesson starts with a `title …` line".into()))?;
    let setup = setup.ok_or_else(|| fail(0, "no `cluster nodes=N …` line".into()))?;
    if steps.is_empty() {
        return Err(fail(0, "no steps: add `step TITLE` lines".into()));
    }
    for step in &mut steps {
        trim_blank(&mut step.narration);
    }
    trim_blank(&mut intro);
    Ok(Lesson { name: name.to_string(), source: source.to_string(), title, intro, setup, steps })
}

/// Drops the paragraph breaks at the ends.
fn trim_blank(lines: &mut Vec<String>) {
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    while lines.first().is_some_and(String::is_empty) {
        lines.remove(0);
    }
}

/// `key=value` pairs.
fn pairs(rest: &str) -> Result<Vec<(&str, &str)>, String> {
    rest.split_whitespace()
        .map(|w| w.split_once('=').ok_or_else(|| format!("expected key=value, found `{w}`")))
        .collect()
}

fn on_off(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        _ => Err(format!("{key}={v}: expected on or off")),
    }
}

fn hazard(v: &str) -> Result<Option<Hazard>, String> {
    match v {
        "none" => Ok(None),
        "local-reads" => Ok(Some(Hazard::LocalReads)),
        "commit-old-term" => Ok(Some(Hazard::CommitOldTerm)),
        _ => Err(format!("hazard={v}: expected none, local-reads or commit-old-term")),
    }
}

fn number<T: std::str::FromStr>(what: &str, v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{what}: `{v}` is not a number"))
}

/// `MS` or `LO-HI`, at most 10 s.
fn delay(v: &str) -> Result<(u64, u64), String> {
    let (lo, hi) = match v.split_once('-') {
        Some((lo, hi)) => (number("delay", lo)?, number("delay", hi)?),
        None => {
            let ms = number("delay", v)?;
            (ms, ms)
        }
    };
    if lo > hi || hi > 10_000 {
        return Err(format!("delay {v}: expected MS or LO-HI, from 0 to 10000 ms"));
    }
    Ok((lo, hi))
}

fn parse_setup(rest: &str) -> Result<Setup, String> {
    let mut setup = Setup::default();
    for (k, v) in pairs(rest)? {
        match k {
            "nodes" => {
                setup.nodes = number("nodes", v)?;
                if !(1..=9).contains(&setup.nodes) {
                    return Err(format!("nodes={v}: a cluster has 1 to 9 nodes"));
                }
            }
            "seed" => setup.seed = number("seed", v)?,
            "prevote" => setup.switches.pre_vote = on_off(k, v)?,
            "checkquorum" => setup.switches.check_quorum = on_off(k, v)?,
            "hazard" => setup.switches.hazard = hazard(v)?,
            "delay" => setup.delay = Some(delay(v)?),
            "snapshot" => setup.snapshots.every = number("snapshot", v)?,
            "chunk" => {
                setup.snapshots.chunk = number("chunk", v)?;
                if setup.snapshots.chunk == 0 {
                    return Err(format!("chunk={v}: a chunk holds at least one byte"));
                }
            }
            "speed" => {
                setup.speed = number("speed", v)?;
                if !(0.05..=10.0).contains(&setup.speed) {
                    return Err(format!("speed={v}: from 0.05 to 10"));
                }
            }
            _ => {
                return Err(format!(
                    "unknown cluster setting `{k}`: expected nodes, seed, prevote, checkquorum, hazard, delay, \
                     snapshot, chunk or speed"
                ));
            }
        }
    }
    Ok(setup)
}

/// A node `nK` of a cluster of `nodes`.
fn node(word: &str, nodes: usize) -> Result<NodeId, String> {
    let k: u64 = word
        .strip_prefix('n')
        .and_then(|k| k.parse().ok())
        .ok_or_else(|| format!("`{word}` is not a node: nodes are written n1, n2, …"))?;
    if k == 0 || k > nodes as u64 {
        return Err(format!("there is no {word}: this cluster has n1 to n{nodes}"));
    }
    Ok(NodeId(k))
}

/// Exactly `count` words.
fn words(rest: &str, count: usize, usage: &str) -> Result<Vec<String>, String> {
    let w: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
    if w.len() != count {
        return Err(format!("expected `{usage}`"));
    }
    Ok(w)
}

fn filter(rest: &str, nodes: usize) -> Result<Filter, String> {
    let mut f = Filter::default();
    for (k, v) in pairs(rest)? {
        match k {
            "type" => f.kind = Some(v.to_string()),
            "from" => f.from = Some(node(v, nodes)?),
            "to" => f.to = Some(node(v, nodes)?),
            _ => return Err(format!("unknown `{k}=`: a message is chosen by type=, from= and to=")),
        }
    }
    if let Some(kind) = &f.kind
        && !MESSAGE_KINDS.contains(&kind.as_str())
    {
        return Err(format!("type={kind}: the kinds are {}", MESSAGE_KINDS.join(", ")));
    }
    Ok(f)
}

/// The message kinds a filter may name.
const MESSAGE_KINDS: [&str; 11] = [
    "PreVote",
    "PreVoteResponse",
    "RequestVote",
    "RequestVoteResponse",
    "AppendEntries",
    "AppendEntriesResponse",
    "Heartbeat",
    "HeartbeatResponse",
    "TimeoutNow",
    "ClientRequest",
    "ClientResponse",
];

fn parse_instruction(word: &str, rest: &str, nodes: usize) -> Result<Kind, String> {
    match word {
        "until" => {
            let (condition, within) = match rest.split_once(" within ") {
                Some((c, w)) => {
                    let w = w.trim();
                    let count =
                        w.strip_suffix("ticks").or_else(|| w.strip_suffix("tick")).unwrap_or(w).trim();
                    let ticks: u32 = number("within", count)?;
                    if ticks == 0 || ticks > MAX_WAIT_TICKS {
                        return Err(format!("within {w}: from 1 to {MAX_WAIT_TICKS} ticks"));
                    }
                    (c, ticks)
                }
                None => (rest, DEFAULT_WAIT_TICKS),
            };
            Ok(Kind::Until(parse_condition(condition.trim(), nodes)?, within))
        }
        "expect" => Ok(Kind::Expect(parse_condition(rest, nodes)?)),
        _ => Ok(Kind::Do(parse_action(word, rest, nodes)?)),
    }
}

fn parse_action(word: &str, rest: &str, nodes: usize) -> Result<Action, String> {
    let one = |usage: &str| -> Result<NodeId, String> { node(&words(rest, 1, usage)?[0], nodes) };
    let two = |usage: &str| -> Result<(NodeId, NodeId), String> {
        let w = words(rest, 2, usage)?;
        Ok((node(&w[0], nodes)?, node(&w[1], nodes)?))
    };
    Ok(match word {
        "put" | "get" => return client_action(word, rest, nodes),
        "kill" => Action::Kill(one("kill NODE")?),
        "restart" => Action::Restart(one("restart NODE")?),
        "pause" => Action::Pause(one("pause NODE")?),
        "resume" => Action::Resume(one("resume NODE")?),
        "campaign" => Action::Campaign(one("campaign NODE")?),
        "transfer" => Action::Transfer(one("transfer NODE")?),
        "partition" => {
            let mut groups = Vec::new();
            for group in rest.split('|') {
                let group: Vec<NodeId> =
                    group.split_whitespace().map(|w| node(w, nodes)).collect::<Result<_, _>>()?;
                if group.is_empty() {
                    return Err("expected `partition n1 n2 | n3 …` (groups split by |)".into());
                }
                groups.push(group);
            }
            let named: Vec<NodeId> = groups.iter().flatten().copied().collect();
            let mut seen = std::collections::BTreeSet::new();
            if let Some(twice) = named.iter().find(|n| !seen.insert(**n)) {
                return Err(format!("{twice} is in two groups"));
            }
            let others: Vec<NodeId> = (1..=nodes as u64).map(NodeId).filter(|n| !named.contains(n)).collect();
            if !others.is_empty() {
                groups.push(others);
            }
            Action::Partition(groups)
        }
        "cut" => {
            let (a, b) = two("cut FROM TO")?;
            Action::Cut(a, b)
        }
        "restore" => {
            let (a, b) = two("restore FROM TO")?;
            Action::Restore(a, b)
        }
        "heal" => {
            words(rest, 0, "heal")?;
            Action::Heal
        }
        "loss" => {
            let w = words(rest, 1, "loss PERCENT")?;
            let p: f64 = number("loss", w[0].trim_end_matches('%'))?;
            if !(0.0..=100.0).contains(&p) {
                return Err(format!("loss {}: from 0 to 100 percent", w[0]));
            }
            Action::Loss(p / 100.0)
        }
        "delay" => {
            let (lo, hi) = delay(&words(rest, 1, "delay MS or delay LO-HI")?[0])?;
            Action::Delay(lo, hi)
        }
        "hold" | "release" | "stabilize" => {
            words(rest, 0, word)?;
            match word {
                "hold" => Action::Hold,
                "release" => Action::Release,
                _ => Action::Stabilize,
            }
        }
        "deliver" => Action::Held(HeldAction::Deliver, filter(rest, nodes)?),
        "drop" => Action::Held(HeldAction::Drop, filter(rest, nodes)?),
        "duplicate" => Action::Held(HeldAction::Duplicate, filter(rest, nodes)?),
        "ticks" => {
            let ticks: u32 = number("ticks", &words(rest, 1, "ticks N")?[0])?;
            if ticks == 0 || ticks > MAX_WAIT_TICKS {
                return Err(format!("ticks {ticks}: from 1 to {MAX_WAIT_TICKS}"));
            }
            Action::Ticks(ticks)
        }
        "set" => {
            let mut s = SwitchChange::default();
            let mut given = false;
            for (k, v) in pairs(rest)? {
                given = true;
                match k {
                    "prevote" => s.pre_vote = Some(on_off(k, v)?),
                    "checkquorum" => s.check_quorum = Some(on_off(k, v)?),
                    "hazard" => s.hazard = Some(hazard(v)?),
                    _ => {
                        return Err(format!("unknown switch `{k}`: expected hazard, prevote or checkquorum"));
                    }
                }
            }
            if !given {
                return Err("expected `set hazard=… prevote=on|off checkquorum=on|off`".into());
            }
            Action::Set(s)
        }
        _ => {
            return Err(format!(
                "unknown instruction `{word}`: expected an action (put, get, kill, restart, pause, resume, \
                 campaign, transfer, partition, cut, restore, heal, loss, delay, hold, release, stabilize, \
                 deliver, drop, duplicate, ticks, set), until or expect"
            ));
        }
    })
}

fn client_action(word: &str, rest: &str, nodes: usize) -> Result<Action, String> {
    let usage = if word == "put" { "put NODE KEY=VALUE [attempts=N]" } else { "get NODE KEY [attempts=N]" };
    let w: Vec<&str> = rest.split_whitespace().collect();
    let (via, what, options) = match w.as_slice() {
        [via, what, options @ ..] => (node(via, nodes)?, *what, options),
        _ => return Err(format!("expected `{usage}`")),
    };
    let mut attempts = 1;
    for option in options {
        match option.split_once('=') {
            Some(("attempts", n)) => {
                attempts = number("attempts", n)?;
                if !(1..=10).contains(&attempts) {
                    return Err(format!("attempts={n}: from 1 to 10"));
                }
            }
            _ => return Err(format!("unexpected `{option}`: expected `{usage}`")),
        }
    }
    let op = if word == "put" {
        let (key, value) = what.split_once('=').ok_or_else(|| format!("expected `{usage}`"))?;
        if key.is_empty() {
            return Err(format!("expected `{usage}`: the key is empty"));
        }
        Op::Put { key: key.into(), value: value.into() }
    } else {
        Op::Get { key: what.into() }
    };
    Ok(Action::Client { via, op, attempts })
}

fn parse_condition(text: &str, nodes: usize) -> Result<Condition, String> {
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let w: Vec<&str> = rest.split_whitespace().collect();
    Ok(match (word, w.as_slice()) {
        ("leader", []) => Condition::Leader(None),
        ("leader", [n]) => Condition::Leader(Some(node(n, nodes)?)),
        ("role", [n, role]) => Condition::Role(node(n, nodes)?, parse_role(role)?),
        ("term", [n, t]) => Condition::Term(node(n, nodes)?, Term(number("term", t)?)),
        ("committed", [index]) => Condition::Committed(LogIndex(number("committed", index)?), Vec::new()),
        ("committed", [index, "on", list @ ..]) if !list.is_empty() => Condition::Committed(
            LogIndex(number("committed", index)?),
            list.iter().map(|n| node(n, nodes)).collect::<Result<_, _>>()?,
        ),
        ("value", [n, kv]) => {
            let (k, v) = kv.split_once('=').ok_or("expected `value NODE KEY=VALUE`")?;
            Condition::Value(node(n, nodes)?, k.into(), Some(v.into()))
        }
        ("missing", [n, k]) => Condition::Value(node(n, nodes)?, (*k).into(), None),
        ("returned", options) => {
            let mut outcome = None;
            let mut value = None;
            for o in options {
                match *o {
                    "ok" => outcome = Some(Outcome::Ok),
                    "failed" => outcome = Some(Outcome::Failed),
                    "unknown" => outcome = Some(Outcome::Unknown),
                    "value=none" => value = Some(None),
                    _ => match o.strip_prefix("value=") {
                        Some(v) => value = Some(Some(v.to_string())),
                        None => {
                            return Err(format!(
                                "`returned {o}`: expected returned [ok|failed|unknown] [value=V|value=none]"
                            ));
                        }
                    },
                }
            }
            Condition::Returned(outcome, value)
        }
        ("held", _) => Condition::Held(filter(rest, nodes)?),
        ("last", [n, index]) => Condition::Last(node(n, nodes)?, LogIndex(number("last", index)?)),
        ("snapshot", [n, index]) => {
            Condition::Snapshot(node(n, nodes)?, LogIndex(number("snapshot", index)?))
        }
        ("not", [_, ..]) => Condition::Not(Box::new(parse_condition(rest, nodes)?)),
        ("safety", ["ok"]) => Condition::Safety(true),
        ("safety", ["broken"]) => Condition::Safety(false),
        ("linearizable", []) => Condition::Linearizable,
        _ => {
            return Err(format!(
                "unknown condition `{text}`: expected leader [NODE], role NODE ROLE, term NODE T, committed \
                 INDEX [on NODE…], value NODE KEY=VALUE, missing NODE KEY, returned [ok|failed|unknown] \
                 [value=V], held [type=T from=A to=B], last NODE INDEX, snapshot NODE INDEX, safety ok|broken, \
                 linearizable, or \
                 not CONDITION"
            ));
        }
    })
}

fn parse_role(word: &str) -> Result<Role, String> {
    match word {
        "follower" => Ok(Role::Follower),
        "precandidate" | "pre-candidate" => Ok(Role::PreCandidate),
        "candidate" => Ok(Role::Candidate),
        "leader" => Ok(Role::Leader),
        _ => Err(format!("role {word}: expected follower, precandidate, candidate or leader")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse("t", "t.lesson", text).expect_err(text).to_string()
    }

    const GOOD: &str = "# comment\ntitle T\ncluster nodes=3 seed=7 prevote=off delay=20-40\n> intro\n\nstep One\n> said\n>\n> more\ncampaign n1\nuntil leader n1 within 50 ticks\nput n1 x=1 attempts=2\nexpect returned ok\n";

    #[test]
    fn a_lesson_reads_whole() {
        let l = parse("t", "t.lesson", GOOD).expect("parses");
        assert_eq!(l.title, "T");
        assert_eq!(l.intro, vec!["intro"]);
        assert_eq!(l.setup.nodes, 3);
        assert_eq!(l.setup.seed, 7);
        assert!(!l.setup.switches.pre_vote);
        assert_eq!(l.setup.delay, Some((20, 40)));
        assert_eq!(l.steps.len(), 1);
        let s = &l.steps[0];
        assert_eq!(s.narration, vec!["said", "", "more"]);
        assert_eq!(s.instructions.len(), 4);
        assert_eq!(s.instructions[1].kind, Kind::Until(Condition::Leader(Some(NodeId(1))), 50));
        assert_eq!(s.instructions[1].line, 11);
        assert!(matches!(s.instructions[2].kind, Kind::Do(Action::Client { attempts: 2, .. })));
    }

    #[test]
    fn a_malformed_lesson_names_the_file_the_line_and_the_fault() {
        assert_eq!(err(""), "t.lesson:0: empty: a lesson starts with a `title …` line");
        assert_eq!(err("cluster nodes=3"), "t.lesson:1: expected `title …` first, found `cluster nodes=3`");
        assert_eq!(
            err("title T\nstep S"),
            "t.lesson:2: expected the `cluster nodes=N …` line before the first step"
        );
        assert_eq!(err("title T\ncluster nodes=10"), "t.lesson:2: nodes=10: a cluster has 1 to 9 nodes");
        assert_eq!(
            err("title T\ncluster nodes=3\nkill n1"),
            "t.lesson:3: `kill n1` comes before the first `step` line"
        );
        assert_eq!(
            err("title T\ncluster nodes=3\nstep S\nkill n4"),
            "t.lesson:4: there is no n4: this cluster has n1 to n3"
        );
        assert_eq!(err("title T\ncluster nodes=3\nstep S\nkil n1").lines().count(), 1);
        assert!(
            err("title T\ncluster nodes=3\nstep S\nkil n1")
                .starts_with("t.lesson:4: unknown instruction `kil`")
        );
        assert!(
            err("title T\ncluster nodes=3\nstep S\nuntil leader within 0 ticks").contains(":4: within 0")
        );
        assert!(
            err("title T\ncluster nodes=3\nstep S\ndeliver type=Vote")
                .contains(":4: type=Vote: the kinds are")
        );
        assert!(
            err("title T\ncluster nodes=3\nstep S\nexpect leeder").contains(":4: unknown condition `leeder`")
        );
        assert!(
            err("title T\ncluster nodes=3\nstep S\npartition n1 | n1 n2").contains("n1 is in two groups")
        );
        assert_eq!(err("title T\ncluster nodes=3"), "t.lesson:0: no steps: add `step TITLE` lines");
        assert!(err("title T\ncluster nodes=3 colour=red").contains(":2: unknown cluster setting `colour`"));
    }

    #[test]
    fn not_negates_any_condition_and_set_changes_only_what_it_names() {
        let text = "title T\ncluster nodes=3\nstep S\nexpect not committed 4\nexpect not linearizable\nset prevote=off\n";
        let l = parse("t", "t", text).expect("parses");
        let kinds: Vec<&Kind> = l.steps[0].instructions.iter().map(|i| &i.kind).collect();
        let not = |c| Kind::Expect(Condition::Not(Box::new(c)));
        assert_eq!(kinds[0], &not(Condition::Committed(LogIndex(4), Vec::new())));
        assert_eq!(kinds[1], &not(Condition::Linearizable));
        let Kind::Do(Action::Set(change)) = kinds[2] else { panic!("{:?}", kinds[2]) };
        let before = Switches { hazard: Some(Hazard::LocalReads), pre_vote: true, check_quorum: false };
        let after = change.apply(before);
        assert_eq!(after, Switches { pre_vote: false, ..before });
    }

    #[test]
    fn the_snapshot_policy_is_a_cluster_setting_and_a_snapshot_a_condition() {
        let text = "title T\ncluster nodes=3 snapshot=6 chunk=48\nstep S\nuntil snapshot n2 7\n";
        let l = parse("t", "t", text).expect("parses");
        assert_eq!(l.setup.snapshots, SnapshotPolicy { every: 6, chunk: 48 });
        let Kind::Until(condition, _) = &l.steps[0].instructions[0].kind else { panic!("until") };
        assert_eq!(condition, &Condition::Snapshot(NodeId(2), LogIndex(7)));
        assert_eq!(
            parse("t", "t", "title T\ncluster nodes=3\nstep S\nticks 1\n").expect("p").setup.snapshots,
            SnapshotPolicy::default()
        );
        assert_eq!(
            err("title T\ncluster nodes=3 chunk=0\nstep S\nticks 1"),
            "t.lesson:2: chunk=0: a chunk holds at least one byte"
        );
        assert!(err("title T\ncluster nodes=3\nstep S\nexpect snapshot n2").contains("unknown condition"));
    }

    #[test]
    fn transfer_names_the_node_to_hand_over_to_and_time_out_now_can_be_held() {
        let text = "title T\ncluster nodes=3\nstep S\nhold\ntransfer n3\nexpect held type=TimeoutNow to=n3\n";
        let l = parse("t", "t", text).expect("parses");
        let kinds: Vec<&Kind> = l.steps[0].instructions.iter().map(|i| &i.kind).collect();
        assert_eq!(kinds[1], &Kind::Do(Action::Transfer(NodeId(3))));
        let held = Filter { kind: Some("TimeoutNow".into()), from: None, to: Some(NodeId(3)) };
        assert_eq!(kinds[2], &Kind::Expect(Condition::Held(held)));
        assert_eq!(err("title T\ncluster nodes=3\nstep S\ntransfer"), "t.lesson:4: expected `transfer NODE`");
        assert_eq!(
            err("title T\ncluster nodes=3\nstep S\ntransfer n1 n2"),
            "t.lesson:4: expected `transfer NODE`"
        );
        assert_eq!(
            err("title T\ncluster nodes=3\nstep S\ntransfer n4"),
            "t.lesson:4: there is no n4: this cluster has n1 to n3"
        );
    }

    #[test]
    fn a_partition_puts_the_nodes_not_named_in_a_group_of_their_own() {
        let l = parse("t", "t", "title T\ncluster nodes=5\nstep S\npartition n1 | n2 n3\n").expect("parses");
        let groups = vec![vec![NodeId(1)], vec![NodeId(2), NodeId(3)], vec![NodeId(4), NodeId(5)]];
        assert_eq!(l.steps[0].instructions[0].kind, Kind::Do(Action::Partition(groups)));
    }
}
