//! What each command does. `SET`, `GET`, `MGET` and `EXISTS` go through the connection's
//! session to its node, and through Raft; the rest answer from the connection or the node's
//! status, as far as `redis-cli`, `redis-benchmark` and client libraries need to start.

use super::proto::Reply;
use super::{Conn, ExternalOp, Shared};
use crate::control::client::client_record;
use crate::control::{Answer, Client, OpError, OpFailure, RunState};
use crate::kv::{ClientError, Op, Reply as KvReply};
use crate::raft::NodeId;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// One connection's state.
pub(super) struct Session {
    shared: Arc<Shared>,
    conn: Conn,
    /// Its client session, registered on its first operation, pinned to its node.
    client: Client,
    /// `CLIENT SETNAME`'s name.
    name: Option<String>,
    /// `QUIT` was asked: close after answering.
    pub(super) quit: bool,
}

/// The commands, for `COMMAND COUNT` and the unknown-command error.
const COMMANDS: [&str; 15] = [
    "PING", "ECHO", "SET", "GET", "MGET", "EXISTS", "DBSIZE", "HELLO", "COMMAND", "CLIENT", "INFO", "SELECT",
    "CONFIG", "QUIT", "RESET",
];

impl Session {
    pub(super) fn new(shared: &Arc<Shared>, conn: Conn) -> Session {
        let mut options = shared.options.client.clone();
        options.via = Some(conn.node);
        options.pin_register = true;
        let client = shared.control.client(options);
        Session { shared: Arc::clone(shared), conn, client, name: None, quit: false }
    }

    /// Runs one command (its name first; never empty) and gives its answer.
    pub(super) fn execute(&mut self, args: Vec<Vec<u8>>) -> Reply {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        let rest = &args[1..];
        let arity = |ok: bool| {
            if ok {
                None
            } else {
                Some(Reply::err(format!("wrong number of arguments for '{}' command", name.to_lowercase())))
            }
        };
        match name.as_str() {
            "PING" => arity(rest.len() <= 1).unwrap_or_else(|| match rest.first() {
                None => Reply::Simple("PONG".into()),
                Some(m) => Reply::Bulk(Some(m.clone())),
            }),
            "ECHO" => arity(rest.len() == 1).unwrap_or_else(|| Reply::Bulk(Some(rest[0].clone()))),
            "SET" => {
                if rest.len() > 2 {
                    return Reply::err("syntax error: quorum's SET takes a key and a value, no options");
                }
                arity(rest.len() == 2).unwrap_or_else(|| self.set(&rest[0], &rest[1]))
            }
            "GET" => arity(rest.len() == 1).unwrap_or_else(|| match self.get(&rest[0]) {
                Ok(value) => Reply::Bulk(value.map(String::into_bytes)),
                Err(reply) => reply,
            }),
            "MGET" => arity(!rest.is_empty()).unwrap_or_else(|| self.mget(rest)),
            "EXISTS" => arity(!rest.is_empty()).unwrap_or_else(|| self.exists(rest)),
            "DBSIZE" => arity(rest.is_empty()).unwrap_or_else(|| self.dbsize()),
            "HELLO" => self.hello(rest),
            "COMMAND" => command(rest),
            "CLIENT" => self.client_command(rest),
            "INFO" => arity(rest.len() <= 1).unwrap_or_else(|| self.info(rest.first())),
            "SELECT" => arity(rest.len() == 1).unwrap_or_else(|| match rest[0].as_slice() {
                b"0" => Reply::ok(),
                _ => Reply::err("DB index is out of range: quorum has database 0 only"),
            }),
            "CONFIG" => config(rest),
            "QUIT" => {
                self.quit = true;
                Reply::ok()
            }
            "RESET" => {
                self.name = None;
                Reply::Simple("RESET".into())
            }
            _ => unknown(&args),
        }
    }

    /// Sends one put or get through the session, telling the observer and the event log.
    fn call(&self, op: Op) -> Result<Answer, OpError> {
        let shared = &self.shared;
        let number = shared.next_op.fetch_add(1, Ordering::SeqCst);
        let invoked = shared.control.now_nanos();
        let external = ExternalOp { number, conn: self.conn.clone(), op: op.clone(), invoked };
        shared.observer.sent(&external);
        let result = self.client.call(op.clone(), Some(self.conn.node));
        let at = shared.control.now_nanos();
        let mut record = client_record(op, self.conn.node, invoked, &result);
        record.conn = Some(self.conn.label());
        if let Reply::Error(text) = external.reply(&result) {
            record.answered = Some(text);
        }
        shared.control.record(Some(self.conn.node), record.event(at.saturating_sub(invoked)));
        shared.observer.returned(&external, &result, at);
        result
    }

    fn set(&self, key: &[u8], value: &[u8]) -> Reply {
        let limits = &self.shared.options.limits;
        let key = match text("key", key, limits.max_key) {
            Ok(k) => k,
            Err(e) => return e,
        };
        let value = match text("value", value, limits.max_value) {
            Ok(v) => v,
            Err(e) => return e,
        };
        match self.call(Op::Put { key, value }) {
            Ok(_) => Reply::ok(),
            Err(e) => Self::failure(&e, true, self.conn.node),
        }
    }

    /// A linearizable read of `key` through the node: its value, or the error to answer.
    fn get(&self, key: &[u8]) -> Result<Option<String>, Reply> {
        let key = text("key", key, self.shared.options.limits.max_key)?;
        match self.call(Op::Get { key }) {
            Ok(Answer { reply: KvReply::Get { value }, .. }) => Ok(value),
            Ok(other) => Err(Reply::err(format!("unexpected answer {:?}", other.reply))),
            Err(e) => Err(Self::failure(&e, false, self.conn.node)),
        }
    }

    /// One linearizable read per key, in order; the first that fails answers for the command
    /// (a nil would say the key is absent, which nobody knows). An answer longer than a request
    /// may be is refused, so one command cannot make the server hold more than that.
    fn mget(&self, keys: &[Vec<u8>]) -> Reply {
        let max = self.shared.options.limits.max_request;
        let mut values = Vec::with_capacity(keys.len());
        let mut bytes = 0;
        for key in keys {
            match self.get(key) {
                Ok(v) => {
                    bytes += v.as_ref().map_or(0, String::len);
                    if bytes > max {
                        return Reply::err(format!(
                            "the answer would exceed {max} bytes: ask for fewer keys"
                        ));
                    }
                    values.push(Reply::Bulk(v.map(String::into_bytes)));
                }
                Err(e) => return e,
            }
        }
        Reply::Array(values)
    }

    /// How many of the keys hold a value, each by a linearizable read (a key named twice counts
    /// twice, as in Redis).
    fn exists(&self, keys: &[Vec<u8>]) -> Reply {
        let mut n = 0;
        for key in keys {
            match self.get(key) {
                Ok(v) => n += i64::from(v.is_some()),
                Err(e) => return e,
            }
        }
        Reply::Int(n)
    }

    /// The number of keys in the node's map, read after a linearizable read through it: the
    /// node has then applied at least everything committed when the command arrived, so the
    /// count is of a state between the command's arrival and its answer.
    fn dbsize(&self) -> Reply {
        // The barrier's key is never written (keys are text without control characters).
        if let Err(e) = self.client.call(Op::Get { key: "\u{0}dbsize".into() }, Some(self.conn.node)) {
            return Self::failure(&e, false, self.conn.node);
        }
        match self.shared.control.status().into_iter().find(|s| s.id == self.conn.node) {
            Some(s) if matches!(s.run, RunState::Running | RunState::Paused) => Reply::Int(s.kv.len() as i64),
            _ => Reply::Error(format!("TRYAGAIN {} is down", self.conn.node)),
        }
    }

    /// What a failed operation answers: `-TIMEOUT` if it may still take effect (or a read got
    /// no answer), `-TRYAGAIN` if `node` reaches no leader, else the error in words.
    pub(super) fn failure(e: &OpError, put: bool, node: NodeId) -> Reply {
        if !e.definite {
            return Reply::Error(if put {
                "TIMEOUT the write may still take effect".into()
            } else {
                "TIMEOUT the read got no answer in time".into()
            });
        }
        let root = match &e.failure {
            OpFailure::CannotRegister(why) => why.as_ref(),
            other => other,
        };
        match root {
            OpFailure::Refused(refusal) => match refusal.inner() {
                ClientError::NoLeader | ClientError::NotLeader { .. } => {
                    Reply::Error(format!("TRYAGAIN no leader reachable from {node}"))
                }
                // Definite only for a registration (an operation's attempt that ends so is
                // uncertain, answered above): nothing was written.
                ClientError::Abandoned | ClientError::LeadershipLost => {
                    Reply::Error(format!("TRYAGAIN no leader reachable from {node} (no answer in time)"))
                }
                ClientError::Transferring { target } => {
                    Reply::Error(format!("TRYAGAIN leadership is moving to {target}: try again in a moment"))
                }
                _ => Reply::err(e),
            },
            OpFailure::Down => Reply::Error(format!("TRYAGAIN {node} is down")),
            // Only a registration ends definite on a timeout: nothing was written.
            OpFailure::Timeout => {
                Reply::Error(format!("TRYAGAIN no leader reachable from {node} (no answer in time)"))
            }
            _ => Reply::err(e),
        }
    }

    /// `HELLO [protover [SETNAME name]]`: RESP2 only.
    fn hello(&mut self, rest: &[Vec<u8>]) -> Reply {
        if let Some(v) = rest.first() {
            match v.as_slice() {
                b"2" => {}
                b"3" => return Reply::Error("NOPROTO this server speaks RESP2 only (HELLO 2)".into()),
                _ => return Reply::Error("NOPROTO unsupported protocol version".into()),
            }
        }
        let mut i = 1;
        while i < rest.len() {
            match String::from_utf8_lossy(&rest[i]).to_ascii_uppercase().as_str() {
                "SETNAME" if i + 1 < rest.len() => {
                    self.name = Some(String::from_utf8_lossy(&rest[i + 1]).into_owned());
                    i += 2;
                }
                // There is no password to check.
                "AUTH" if i + 2 < rest.len() => i += 3,
                _ => return Reply::err("syntax error in HELLO"),
            }
        }
        let role = match self.status().and_then(|s| s.role) {
            Some(crate::raft::Role::Leader) => "master",
            _ => "replica",
        };
        Reply::Array(vec![
            Reply::text("server"),
            Reply::text("quorum"),
            Reply::text("version"),
            Reply::text(env!("CARGO_PKG_VERSION")),
            Reply::text("proto"),
            Reply::Int(2),
            Reply::text("id"),
            Reply::Int(self.conn.id as i64),
            Reply::text("mode"),
            Reply::text("standalone"),
            Reply::text("role"),
            Reply::text(role),
            Reply::text("modules"),
            Reply::Array(Vec::new()),
        ])
    }

    /// `CLIENT SETNAME | GETNAME | ID | INFO | LIST | SETINFO`.
    fn client_command(&mut self, rest: &[Vec<u8>]) -> Reply {
        let Some(sub) = rest.first() else {
            return Reply::err("wrong number of arguments for 'client' command");
        };
        match String::from_utf8_lossy(sub).to_ascii_uppercase().as_str() {
            "SETNAME" if rest.len() == 2 => {
                let name = String::from_utf8_lossy(&rest[1]).into_owned();
                if name.contains(' ') {
                    return Reply::err("Client names cannot contain spaces, newlines or special characters.");
                }
                self.name = (!name.is_empty()).then_some(name);
                Reply::ok()
            }
            "GETNAME" => Reply::Bulk(self.name.clone().map(String::into_bytes)),
            "ID" => Reply::Int(self.conn.id as i64),
            "INFO" => Reply::text(self.client_info()),
            "LIST" => Reply::text(self.client_info()),
            // Client libraries announce themselves (redis-py, go-redis): nothing to keep.
            "SETINFO" => Reply::ok(),
            _ => Reply::err(format!(
                "unknown subcommand '{}': quorum knows CLIENT SETNAME, GETNAME, ID, INFO, LIST, SETINFO",
                String::from_utf8_lossy(sub)
            )),
        }
    }

    fn client_info(&self) -> String {
        let session = self.client.id().map_or_else(|| "none".to_string(), |c| c.to_string());
        format!(
            "id={} addr={} laddr={} name={} db=0 node={} session={}\n",
            self.conn.id,
            self.conn.peer,
            self.shared.address(self.conn.node),
            self.name.as_deref().unwrap_or(""),
            self.conn.node,
            session
        )
    }

    fn status(&self) -> Option<crate::control::NodeStatus> {
        self.shared.control.status().into_iter().find(|s| s.id == self.conn.node)
    }

    /// `INFO [section]`: server, clients, raft (the node's role, term, leader, indexes, log and
    /// snapshot sizes) and keyspace.
    fn info(&self, section: Option<&Vec<u8>>) -> Reply {
        let want = section.map(|s| String::from_utf8_lossy(s).to_ascii_lowercase());
        let shows = |name: &str| {
            want.as_deref().is_none_or(|w| w == name || w == "all" || w == "everything" || w == "default")
        };
        let node = self.conn.node;
        let status = self.status();
        let mut out = String::new();
        if shows("server") {
            out.push_str(&format!(
                "# Server\r\nredis_version:7.0.0\r\nquorum_version:{}\r\nredis_mode:standalone\r\nprocess_id:{}\r\ntcp_port:{}\r\n\r\n",
                env!("CARGO_PKG_VERSION"),
                std::process::id(),
                self.shared.address(node).port()
            ));
        }
        if shows("clients") {
            let here = self.shared.conns().values().filter(|(n, _)| *n == node).count();
            out.push_str(&format!(
                "# Clients\r\nconnected_clients:{here}\r\nmaxclients:{}\r\n\r\n",
                self.shared.options.limits.max_connections
            ));
        }
        if shows("raft") {
            out.push_str("# Raft\r\n");
            out.push_str(&format!("node:{node}\r\n"));
            match &status {
                Some(s) if s.role.is_some() && matches!(s.run, RunState::Running | RunState::Paused) => {
                    let held = s.last.index.0 - s.snapshot.map_or(0, |x| x.index.0);
                    let role = s.role.map_or_else(String::new, |r| r.to_string());
                    out.push_str(&format!(
                        "role:{role}\r\nrun:{}\r\nterm:{}\r\nleader:{}\r\ncommit_index:{}\r\napplied_index:{}\r\n\
                         last_log_index:{}\r\nlast_log_term:{}\r\nlog_entries:{held}\r\n\
                         snapshot_index:{}\r\nsnapshot_term:{}\r\nsnapshot_bytes:{}\r\n",
                        if s.run == RunState::Paused { "paused" } else { "running" },
                        s.term.0,
                        s.leader.map_or_else(|| "none".to_string(), |l| l.to_string()),
                        s.commit.0,
                        s.applied.0,
                        s.last.index.0,
                        s.last.term.0,
                        s.snapshot.map_or(0, |x| x.index.0),
                        s.snapshot.map_or(0, |x| x.term.0),
                        s.snapshot_bytes,
                    ));
                }
                _ => out.push_str("run:down\r\n"),
            }
            let members: Vec<String> =
                self.shared.control.members().iter().map(ToString::to_string).collect();
            out.push_str(&format!("cluster_nodes:{}\r\n\r\n", members.join(",")));
        }
        if shows("keyspace") {
            // The node's applied map as it is now: not a linearizable count (DBSIZE is).
            let keys = status.as_ref().map_or(0, |s| s.kv.len());
            out.push_str(&format!("# Keyspace\r\ndb0:keys={keys},expires=0,avg_ttl=0\r\n"));
        }
        Reply::text(out.trim_end().to_string() + "\r\n")
    }
}

/// A key or a value as the store keeps them: UTF-8 text without control characters, at most
/// `max` bytes.
fn text(what: &str, bytes: &[u8], max: usize) -> Result<String, Reply> {
    if bytes.len() > max {
        return Err(Reply::err(format!("{what} is {} bytes: quorum takes {max} at most", bytes.len())));
    }
    let s = std::str::from_utf8(bytes)
        .map_err(|_| Reply::err(format!("{what} is not UTF-8 text: quorum keeps text only")))?;
    if s.chars().any(char::is_control) {
        return Err(Reply::err(format!(
            "{what} holds a control character: quorum keeps printable text only"
        )));
    }
    Ok(s.to_string())
}

/// `COMMAND`, `COMMAND COUNT`, `COMMAND DOCS`, `COMMAND INFO`: enough for `redis-cli` to
/// start (it asks for the docs to give hints, and does without).
fn command(rest: &[Vec<u8>]) -> Reply {
    match rest.first().map(|s| String::from_utf8_lossy(s).to_ascii_uppercase()).as_deref() {
        Some("COUNT") => Reply::Int(COMMANDS.len() as i64),
        Some("INFO") => Reply::Array(rest[1..].iter().map(|_| Reply::Bulk(None)).collect()),
        _ => Reply::Array(Vec::new()),
    }
}

/// `CONFIG GET name`: what `redis-benchmark` asks before it starts (`save`, `appendonly`)
/// with the closest answers (quorum persists through its log, not RDB or AOF); nothing else is
/// configurable over the protocol, so other names answer empty and `CONFIG SET` is refused.
fn config(rest: &[Vec<u8>]) -> Reply {
    match rest.first().map(|s| String::from_utf8_lossy(s).to_ascii_uppercase()).as_deref() {
        Some("GET") if rest.len() == 2 => {
            let name = String::from_utf8_lossy(&rest[1]).to_ascii_lowercase();
            match name.as_str() {
                "save" => Reply::Array(vec![Reply::text("save"), Reply::text("")]),
                "appendonly" => Reply::Array(vec![Reply::text("appendonly"), Reply::text("no")]),
                _ => Reply::Array(Vec::new()),
            }
        }
        _ => Reply::err("quorum has no settings to change over the protocol: CONFIG GET answers empty"),
    }
}

/// Redis's words for a command it does not know, so tools recognize them.
fn unknown(args: &[Vec<u8>]) -> Reply {
    let cut = |a: &[u8]| String::from_utf8_lossy(&a[..a.len().min(64)]).into_owned();
    let name = cut(&args[0]);
    let shown: Vec<String> = args[1..].iter().take(4).map(|a| format!("'{}'", cut(a))).collect();
    Reply::err(format!(
        "unknown command '{name}', with args beginning with: {} (quorum knows {})",
        shown.join(" "),
        COMMANDS.join(" ")
    ))
}
