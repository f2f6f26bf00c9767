//! The Redis-protocol endpoint (RESP2), end to end: a real Redis client library (the `redis`
//! crate) and raw sockets against [`RespServer`] over the live cluster, in this process, and
//! `quorum serve` as a separate process.
//!
//! - Every node serves: a `SET` through one node is read by `GET` through every other; nil for
//!   an absent key, `MGET`, `EXISTS`, `DBSIZE`, `PING`, `ECHO`, `INFO`'s `# Raft` section,
//!   `HELLO 2`; an unknown command is an error and the same connection goes on working.
//! - A partitioned minority (the old leader and a follower of five) answers `-TRYAGAIN`, naming
//!   itself, for writes and reads, while the majority serves; healed, it serves again.
//! - A pipeline of mixed commands (an unknown one among them) is answered in order, and one
//!   deeper than `max_pending` too.
//! - A retried `SET` is applied once: its attempts time out (the follower's link to the leader
//!   is slowed), the retries carry the same request id (seen in the event stream), it answers
//!   `OK`, and copies that reach the leader after a later `SET` of another session change nothing.
//! - A node whose forwards go unanswered (cut off from the leader one way) answers `-TRYAGAIN`
//!   to a session that cannot register, and `-TIMEOUT` to a registered session's write and read.
//! - A killed node closes its connections and refuses new ones; restarted, it serves again.
//! - Bad clients (malformed RESP, a 2^40 bulk length, a 10 MB line, a client that never reads,
//!   a crowd of 1,000 connections, a disconnect or a stall mid-command) get an error or a closed
//!   connection within a bound, hold no memory, write nothing, and never disturb a good
//!   connection that keeps working meanwhile.
//! - `quorum serve` under partitions and crashes, driven by four reconnecting clients: it stops
//!   cleanly on SIGTERM, and both its own history and the clients' are linearizable.
//!
//! Ports: each test tries random bases in 20000..32000 until every node's port is free (tests
//! run in parallel); that range is below Linux's ephemeral ports (32768..60999), so a client's
//! own port never takes a listener's while a node is down. Every socket has a timeout, so no
//! test can hang. A failing test prints its ports (and, for `quorum serve`, its seed and files).

use quorum::check::history::{EventType, HistoryEvent, HistoryHeader, HistoryWriter, Initial, OpKind};
use quorum::cluster::{ClusterOptions, LiveCluster};
use quorum::control::{ClientOptions, Control, RunState};
use quorum::events::{EventKind, NodeEventKind};
use quorum::kv::{Command, Op, RequestId};
use quorum::network::LinkRule;
use quorum::raft::{Config, NodeId, Role};
use quorum::resp::{Nobody, RespServer, ServerOptions};
use redis::{RedisError, Value};
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A random number (std's hasher keys are random per process and per call).
fn random() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(Instant::now())
}

/// A base port in 20000..32000.
fn random_base() -> u16 {
    20_000 + (random() % 12_000) as u16
}

/// The leader with the highest term among running nodes, once a majority follows it.
fn leader(cluster: &LiveCluster) -> Option<NodeId> {
    let status = cluster.status();
    let (id, term) = status
        .iter()
        .filter(|s| s.run == RunState::Running && s.role == Some(Role::Leader))
        .map(|s| (s.id, s.term))
        .max_by_key(|&(_, t)| t)?;
    let followers = status.iter().filter(|s| s.term == term && s.leader == Some(id)).count();
    (followers * 2 > status.len()).then_some(id)
}

/// A live cluster with its RESP server; stops both when dropped (the server first).
struct Served {
    cluster: Arc<LiveCluster>,
    server: Option<RespServer>,
    base: u16,
}

impl Served {
    fn start(nodes: usize, tune: fn(&mut Config), options: ServerOptions) -> Served {
        let cluster = Arc::new(
            LiveCluster::start(ClusterOptions { nodes, tune, ..ClusterOptions::default() }).expect("cluster"),
        );
        for _ in 0..100 {
            let base = random_base();
            let options = ServerOptions { base_port: base, ..options.clone() };
            match RespServer::start(Arc::clone(&cluster) as Arc<dyn Control>, options, Arc::new(Nobody)) {
                Ok(server) => {
                    eprintln!("RESP server on {}", server.describe());
                    return Served { cluster, server: Some(server), base };
                }
                Err(e) if e.kind() == ErrorKind::AddrInUse => continue,
                Err(e) => panic!("RespServer::start on base {base}: {e}"),
            }
        }
        panic!("no free base port found in 100 tries");
    }

    fn server(&self) -> &RespServer {
        self.server.as_ref().expect("server")
    }

    fn addr(&self, node: u64) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.base + node as u16))
    }

    /// A redis connection to node `node`, with timeouts.
    fn connect(&self, node: u64) -> redis::Connection {
        connect(self.addr(node)).unwrap_or_else(|e| panic!("connect to n{node} at {}: {e}", self.addr(node)))
    }

    fn wait_leader(&self) -> NodeId {
        wait_for("a leader", || leader(&self.cluster))
    }

    /// Waits until the server holds `n` connections.
    fn wait_connections(&self, what: &str, n: usize, within: Duration) {
        let start = Instant::now();
        while self.server().connections() != n {
            assert!(
                start.elapsed() < within,
                "{what}: the server holds {} connections after {:?}, expected {n}",
                self.server().connections(),
                within
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
        let _ = self.cluster.finish();
    }
}

fn connect(addr: SocketAddr) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    let con = client.get_connection_with_timeout(Duration::from_secs(3))?;
    con.set_read_timeout(Some(Duration::from_secs(15)))?;
    con.set_write_timeout(Some(Duration::from_secs(15)))?;
    Ok(con)
}

fn set(con: &mut redis::Connection, key: &str, value: &str) -> redis::RedisResult<String> {
    redis::cmd("SET").arg(key).arg(value).query(con)
}

fn get(con: &mut redis::Connection, key: &str) -> redis::RedisResult<Option<String>> {
    redis::cmd("GET").arg(key).query(con)
}

/// Retries an operation while the node answers TRYAGAIN (it may know no leader yet).
fn until_served<T>(what: &str, mut f: impl FnMut() -> redis::RedisResult<T>) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if e.code() == Some("TRYAGAIN") && start.elapsed() < DEADLINE => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':'))).map(str::trim)
}

#[test]
fn every_node_serves_sets_and_gets_and_the_basic_commands() {
    let s = Served::start(3, |_| {}, ServerOptions::default());
    let l = s.wait_leader();
    let mut cons: Vec<redis::Connection> = (1..=3).map(|n| s.connect(n)).collect();

    // A write through n1 is read through n2 and n3.
    assert_eq!(set(&mut cons[0], "color", "red").expect("SET via n1"), "OK");
    for (i, con) in cons.iter_mut().enumerate().skip(1) {
        assert_eq!(get(con, "color").expect("GET").as_deref(), Some("red"), "GET color via n{}", i + 1);
    }
    // Every node writes, every node reads every write (linearizable reads: no waiting).
    for i in 0..3 {
        assert_eq!(
            set(&mut cons[i], &format!("from-n{}", i + 1), &format!("v{}", i + 1)).expect("SET"),
            "OK"
        );
        for (j, con) in cons.iter_mut().enumerate() {
            let v = get(con, &format!("from-n{}", i + 1)).expect("GET");
            assert_eq!(v, Some(format!("v{}", i + 1)), "n{} reads the write through n{}", j + 1, i + 1);
        }
    }
    // Overwrite through n3, read through n1.
    assert_eq!(set(&mut cons[2], "color", "blue").expect("SET"), "OK");
    assert_eq!(get(&mut cons[0], "color").expect("GET").as_deref(), Some("blue"));

    let c = &mut cons[1];
    assert_eq!(get(c, "absent").expect("GET absent"), None, "an absent key is nil");
    let values: Vec<Option<String>> =
        redis::cmd("MGET").arg("color").arg("absent").arg("from-n2").query(c).expect("MGET");
    assert_eq!(values, vec![Some("blue".into()), None, Some("v2".into())]);
    let n: i64 = redis::cmd("EXISTS").arg("color").arg("absent").arg("color").query(c).expect("EXISTS");
    assert_eq!(n, 2, "EXISTS counts a key named twice twice, and not the absent one");
    for (i, con) in cons.iter_mut().enumerate() {
        let n: i64 = redis::cmd("DBSIZE").query(con).expect("DBSIZE");
        assert_eq!(n, 4, "DBSIZE via n{}: color and from-n1..3", i + 1);
    }

    let c = &mut cons[2];
    let pong: String = redis::cmd("PING").query(c).expect("PING");
    assert_eq!(pong, "PONG");
    let m: String = redis::cmd("PING").arg("hi there").query(c).expect("PING msg");
    assert_eq!(m, "hi there");
    let e: Vec<u8> = redis::cmd("ECHO").arg(&b"bytes\r\n\x00\xff"[..]).query(c).expect("ECHO");
    assert_eq!(e, b"bytes\r\n\x00\xff", "ECHO returns any bytes as they were");

    // INFO: the Raft section on every node, all naming the same leader and a commit index
    // that covers the five writes.
    for (i, con) in cons.iter_mut().enumerate() {
        let info: String = redis::cmd("INFO").query(con).expect("INFO");
        assert!(info.contains("# Raft"), "INFO via n{} has no # Raft section:\n{info}", i + 1);
        let role = info_field(&info, "role").unwrap_or_else(|| panic!("no role:\n{info}"));
        let want = if NodeId(i as u64 + 1) == l { "leader" } else { "follower" };
        assert_eq!(role, want, "n{} role in INFO:\n{info}", i + 1);
        assert!(
            info_field(&info, "term").and_then(|t| t.parse::<u64>().ok()).is_some_and(|t| t >= 1),
            "{info}"
        );
        assert_eq!(info_field(&info, "leader"), Some(l.to_string().as_str()), "{info}");
        let commit: u64 =
            info_field(&info, "commit_index").and_then(|c| c.parse().ok()).expect("commit_index");
        assert!(commit >= 5, "commit_index {commit} does not cover the five writes:\n{info}");
        let raft: String = redis::cmd("INFO").arg("raft").query(con).expect("INFO raft");
        assert!(
            raft.contains("# Raft") && !raft.contains("# Server"),
            "INFO raft is the section alone:\n{raft}"
        );
    }

    // HELLO 2: the server's map as an array; HELLO 3 is refused (RESP2 only).
    let c = &mut cons[2];
    let hello: Vec<Value> = redis::cmd("HELLO").arg(2).query(c).expect("HELLO 2");
    let pairs: BTreeMap<String, Value> = hello
        .chunks(2)
        .map(|kv| match &kv[0] {
            Value::BulkString(k) => (String::from_utf8_lossy(k).into_owned(), kv[1].clone()),
            other => panic!("HELLO key {other:?}"),
        })
        .collect();
    assert_eq!(pairs.get("server"), Some(&Value::BulkString(b"quorum".to_vec())), "{hello:?}");
    assert_eq!(pairs.get("proto"), Some(&Value::Int(2)), "{hello:?}");
    let e = redis::cmd("HELLO").arg(3).query::<Value>(c).expect_err("HELLO 3");
    assert_eq!(e.code(), Some("NOPROTO"), "{e}");

    // An unknown command is an error in Redis's words, and the same connection goes on.
    let e: RedisError =
        redis::cmd("FROBNICATE").arg("a").arg("b").query::<Value>(c).expect_err("unknown command");
    assert_eq!(e.code(), Some("ERR"), "{e}");
    let text = e.to_string();
    assert!(text.contains("unknown command 'FROBNICATE', with args beginning with: 'a' 'b'"), "{text}");
    assert_eq!(get(c, "color").expect("GET after the unknown command").as_deref(), Some("blue"));
    // So do a wrong arity, a SET with options, and a key with a control character.
    let e = redis::cmd("GET").query::<Value>(c).expect_err("GET without a key");
    assert!(e.to_string().contains("wrong number of arguments for 'get' command"), "{e}");
    let e = redis::cmd("SET").arg("k").arg("v").arg("EX").arg(10).query::<Value>(c).expect_err("SET EX");
    assert_eq!(e.code(), Some("ERR"), "{e}");
    let e = set(c, "bad\u{7}key", "v").expect_err("a key with a control character");
    assert!(e.to_string().contains("control character"), "{e}");
    assert_eq!(get(c, "bad\u{7}key").expect_err("nor read").code(), Some("ERR"));
    let ok: String = redis::cmd("SELECT").arg(0).query(c).expect("SELECT 0");
    assert_eq!(ok, "OK");
    assert!(redis::cmd("SELECT").arg(1).query::<Value>(c).is_err(), "SELECT 1 is refused");
    let _: () = redis::cmd("CLIENT").arg("SETNAME").arg("tester").query(c).expect("CLIENT SETNAME");
    let name: Option<String> = redis::cmd("CLIENT").arg("GETNAME").query(c).expect("CLIENT GETNAME");
    assert_eq!(name.as_deref(), Some("tester"));
    assert_eq!(set(c, "color", "green").expect("SET at the end"), "OK", "the connection still serves");
    assert_eq!(get(&mut cons[0], "color").expect("GET").as_deref(), Some("green"));
    assert_eq!(s.server().connections(), 3);
}

#[test]
fn a_partitioned_minority_answers_tryagain_while_the_majority_serves() {
    let s = Served::start(5, |_| {}, ServerOptions::default());
    let old = s.wait_leader();
    let buddy = NodeId(if old.0 == 1 { 2 } else { 1 });
    let minority = [old, buddy];
    let majority: Vec<NodeId> = s.cluster.members().into_iter().filter(|n| !minority.contains(n)).collect();
    eprintln!("leader {old}; minority {old} {buddy}; majority {majority:?}");
    // Connections opened (and sessions registered) before the partition.
    let mut before: Vec<redis::Connection> = minority.iter().map(|n| s.connect(n.0)).collect();
    for (i, con) in before.iter_mut().enumerate() {
        assert_eq!(set(con, &format!("before{i}"), "1").expect("SET before the partition"), "OK");
    }
    s.cluster.change_network(&mut |net| net.partition(&[minority.to_vec(), majority.clone()]));
    // The majority elects a leader and serves.
    let new = wait_for("a leader in the majority", || leader(&s.cluster).filter(|l| !minority.contains(l)));
    let mut m1 = s.connect(majority[0].0);
    let mut m2 = s.connect(majority[1].0);
    assert_eq!(until_served("SET via the majority", || set(&mut m1, "x", "majority")), "OK");
    assert_eq!(get(&mut m2, "x").expect("GET via the majority").as_deref(), Some("majority"));
    // Once the minority's election timeouts pass (the leader steps down by CheckQuorum, the
    // follower hears no heartbeat), neither knows a leader.
    wait_for("the minority to know no leader", || {
        let st = s.cluster.status();
        minority.iter().all(|n| st.iter().any(|x| x.id == *n && x.leader.is_none())).then_some(())
    });
    // Each minority node, on its old connection and on a new one (whose session cannot even
    // register), refuses writes and reads with TRYAGAIN naming itself; the checks of the two
    // nodes run at once (each takes the session's six attempts).
    let checks: Vec<_> = minority
        .iter()
        .zip(before.drain(..))
        .map(|(&node, mut con)| {
            let addr = s.addr(node.0);
            std::thread::spawn(move || {
                let named = format!("no leader reachable from {node}");
                let mut fresh = connect(addr).expect("a new connection to the minority");
                let info: String = redis::cmd("INFO").arg("raft").query(&mut fresh).expect("INFO");
                assert_eq!(info_field(&info, "leader"), Some("none"), "{node}:\n{info}");
                let results = [
                    ("SET (old connection)", set(&mut con, "x", "minority").map(|_| ())),
                    ("GET (old connection)", get(&mut con, "x").map(|_| ())),
                    ("SET (new connection)", set(&mut fresh, "x", "minority").map(|_| ())),
                    ("GET (new connection)", get(&mut fresh, "x").map(|_| ())),
                ];
                for (what, r) in results {
                    let e = r.expect_err(&format!("{what} through {node} in the minority must fail"));
                    assert_eq!(e.code(), Some("TRYAGAIN"), "{what} through {node}: {e}");
                    assert!(e.to_string().contains(&named), "{what} through {node}: {e}");
                }
                (con, fresh)
            })
        })
        .collect();
    let mut kept: Vec<(redis::Connection, redis::Connection)> =
        checks.into_iter().map(|t| t.join().expect("minority checks")).collect();
    // The majority went on serving meanwhile.
    assert_eq!(set(&mut m2, "x", "still majority").expect("SET via the majority"), "OK");
    assert_eq!(get(&mut m1, "x").expect("GET").as_deref(), Some("still majority"));
    assert_eq!(leader(&s.cluster), Some(new), "the majority's leader held");

    // Healed, the minority serves again, on the same connections.
    s.cluster.change_network(&mut |net| net.heal(LinkRule::INSTANT));
    let (old_con, fresh) = &mut kept[0];
    assert_eq!(
        until_served("GET via the healed old leader", || get(old_con, "x")).as_deref(),
        Some("still majority")
    );
    assert_eq!(until_served("SET via the healed old leader", || set(fresh, "x", "healed")), "OK");
    let (old_con, _) = &mut kept[1];
    assert_eq!(until_served("GET via the healed follower", || get(old_con, "x")).as_deref(), Some("healed"));
    assert_eq!(get(&mut m1, "x").expect("GET via the majority").as_deref(), Some("healed"));
}

#[test]
fn a_pipeline_is_answered_in_order() {
    let s = Served::start(3, |_| {}, ServerOptions::default());
    s.wait_leader();
    let mut con = s.connect(2);
    until_served("a first SET", || set(&mut con, "p0", "start"));
    // 200 mixed SETs and GETs of seven keys, an unknown command in the middle.
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    let mut model: BTreeMap<String, String> = BTreeMap::from([("p0".into(), "start".into())]);
    let mut expected: Vec<Result<Value, &str>> = Vec::new();
    for i in 0..200 {
        if i == 100 {
            pipe.cmd("NOSUCHCMD").arg(i);
            expected.push(Err("unknown command 'NOSUCHCMD'"));
        }
        let key = format!("p{}", i % 7);
        if i % 3 == 0 {
            let value = format!("v{i}");
            pipe.cmd("SET").arg(&key).arg(&value);
            model.insert(key, value);
            expected.push(Ok(Value::Okay));
        } else {
            pipe.cmd("GET").arg(&key);
            expected
                .push(Ok(model.get(&key).map_or(Value::Nil, |v| Value::BulkString(v.clone().into_bytes()))));
        }
    }
    let replies: Vec<Value> = pipe.query(&mut con).expect("the pipeline");
    assert_eq!(replies.len(), expected.len());
    for (i, (got, want)) in replies.iter().zip(&expected).enumerate() {
        match (got, want) {
            (Value::ServerError(e), Err(text)) => {
                assert!(format!("{e:?} {}", e.details().unwrap_or("")).contains(text), "reply {i}: {e:?}")
            }
            (got, Ok(want)) => assert_eq!(got, want, "reply {i} of the pipeline"),
            (got, Err(text)) => panic!("reply {i}: {got:?}, expected the error {text}"),
        }
    }
    // A pipeline deeper than max_pending (1,024 commands read ahead): 2,500 ECHOs in order.
    let mut pipe = redis::pipe();
    for i in 0..2500 {
        pipe.cmd("ECHO").arg(format!("e{i}"));
    }
    let echoes: Vec<String> = pipe.query(&mut con).expect("2,500 ECHOs");
    assert!(echoes.iter().enumerate().all(|(i, e)| *e == format!("e{i}")), "ECHOs out of order");
    // And the same connection serves on.
    assert_eq!(get(&mut con, "p0").expect("GET").as_deref(), model.get("p0").map(String::as_str));
}

#[test]
fn a_node_whose_forwards_go_unanswered_says_tryagain_for_a_new_session_and_timeout_for_an_old_one() {
    // Two attempts a session (three to register, one per node).
    let client = ClientOptions { attempts: 2, ..quorum::resp::session_options() };
    let s = Served::start(3, |_| {}, ServerOptions { client, ..ServerOptions::default() });
    let l = s.wait_leader();
    let f = NodeId(if l.0 == 1 { 2 } else { 1 });
    let mut old = s.connect(f.0);
    assert_eq!(until_served("SET before the cut", || set(&mut old, "k", "before")), "OK");
    // The follower hears the leader (it keeps following it) but nothing it sends arrives: its
    // forwards go unanswered and are given up after two election timeouts.
    s.cluster.change_network(&mut |net| net.cut(f, l));
    let mut fresh = s.connect(f.0);
    let e = set(&mut fresh, "k", "fresh").expect_err("a new session cannot register");
    assert_eq!(e.code(), Some("TRYAGAIN"), "nothing was written, and the node reaches no leader: {e}");
    assert!(e.to_string().contains(&format!("no leader reachable from {f}")), "{e}");
    let e = get(&mut fresh, "k").expect_err("nor read");
    assert_eq!(e.code(), Some("TRYAGAIN"), "{e}");
    let e = set(&mut old, "k", "old").expect_err("a forward given up");
    assert_eq!(e.code(), Some("TIMEOUT"), "the registered session's write may still take effect: {e}");
    let e = get(&mut old, "k").expect_err("a read given up");
    assert_eq!(e.code(), Some("TIMEOUT"), "{e}");
    s.cluster.change_network(&mut |net| net.heal(LinkRule::INSTANT));
    assert_eq!(until_served("SET after the heal", || set(&mut fresh, "k", "after")), "OK");
    assert_eq!(get(&mut old, "k").expect("GET after the heal").as_deref(), Some("after"));
}

/// Long election timeouts (0.6-1.2 s), so a slow link never starts an election and a
/// follower's forwarded request is abandoned only after 2.4 s.
fn slow_elections(c: &mut Config) {
    c.election_timeout_min = 60;
    c.election_timeout_max = 120;
}

#[test]
fn a_retried_set_carries_one_request_id_and_is_applied_once() {
    // Attempts of 300 ms, six of them.
    let client = ClientOptions { timeout: Duration::from_millis(300), ..quorum::resp::session_options() };
    let s = Served::start(3, slow_elections, ServerOptions { client, ..ServerOptions::default() });
    let l = s.wait_leader();
    let followers: Vec<NodeId> = s.cluster.members().into_iter().filter(|&n| n != l).collect();
    let (f, other) = (followers[0], followers[1]);
    eprintln!("leader {l}, SET through {f}, second session through {other}");
    let mut a = s.connect(f.0);
    let mut b = s.connect(other.0);
    // Register both sessions first.
    assert_eq!(until_served("warm-up SET", || set(&mut a, "warm", "1")), "OK");
    assert_eq!(until_served("warm-up SET", || set(&mut b, "warm", "2")), "OK");
    let events = s.cluster.subscribe().expect("events");
    // Everything the follower sends the leader now takes 1.05 s: its forwarded copy of the SET
    // reaches the leader during the fourth attempt, and the answer comes back to that attempt
    // (the node answers a request id, whichever copy it was).
    let slow = LinkRule { loss: 0.0, delay: (1_050_000_000, 1_050_000_000), duplicate: 0.0 };
    s.cluster.change_network(&mut |net| net.set_rule(f, l, slow));
    let start = Instant::now();
    let answer = set(&mut a, "k", "a");
    let took = start.elapsed();
    s.cluster.change_network(&mut |net| net.heal(LinkRule::INSTANT));
    eprintln!("SET k a answered {answer:?} after {took:?}");
    // Another session overwrites k at once, before the retries' copies (still on the slow link)
    // reach the leader.
    assert_eq!(set(&mut b, "k", "b").expect("SET k b"), "OK");
    // The last copy left at about 0.9 s and arrives 1.05 s later: wait until every node has
    // applied everything, then some.
    std::thread::sleep(Duration::from_millis(1500));
    let mut con = s.connect(l.0);
    assert_eq!(set(&mut con, "done", "1").expect("a last SET"), "OK");
    wait_for("every node to apply the last SET", || {
        s.cluster.status().iter().all(|n| n.kv.contains_key("done")).then_some(())
    });
    // The event stream: the follower received several copies of the SET, all with one request
    // id; the leader appended and applied more than one of them (the late ones after `SET k b`),
    // all with that id, and the state machine applied the put once (k is b).
    let put_a = |op: &Op| matches!(op, Op::Put { key, value } if key == "k" && value == "a");
    let mut received: Vec<RequestId> = Vec::new();
    let mut applied: Vec<RequestId> = Vec::new();
    for e in events.try_iter() {
        match &e.kind {
            EventKind::Node(NodeEventKind::ClientRequest { request })
                if e.node == Some(f) && put_a(&request.op) =>
            {
                received.push(request.id)
            }
            EventKind::Node(NodeEventKind::Apply {
                command: Some(Command::Put { id, key, value, .. }),
                ..
            }) if e.node == Some(l) && key == "k" && value == "a" => applied.push(*id),
            _ => {}
        }
    }
    assert!(received.len() >= 2, "{f} received {} copies of SET k a: no retry happened", received.len());
    assert!(
        received.iter().all(|id| *id == received[0]),
        "the retries carry different request ids: {received:?}"
    );
    assert!(
        applied.len() >= 2,
        "the leader applied {} entries of SET k a, expected a late copy too",
        applied.len()
    );
    assert!(applied.iter().all(|id| *id == received[0]), "applied ids {applied:?}, sent {:?}", received[0]);
    for n in 1..=3 {
        assert_eq!(get(&mut s.connect(n), "k").expect("GET k").as_deref(), Some("b"), "k read through n{n}");
    }
    for st in s.cluster.status() {
        assert_eq!(st.kv.get("k").map(String::as_str), Some("b"), "{} holds k", st.id);
    }
    assert_eq!(answer.expect("the retried SET"), "OK", "after {took:?}");
    assert!(took >= Duration::from_millis(900), "the SET took {took:?}: no attempt timed out");
}

/// Reads until the end of the stream, a reset or `within`: the bytes, and how it ended.
fn read_to_end(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, &'static str) {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (got, "timeout");
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut buf) {
            Ok(0) => return (got, "eof"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {
                return (got, "reset");
            }
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).expect("raw connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s.set_write_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s
}

#[test]
fn a_killed_node_closes_its_connections_and_serves_again_after_restart() {
    let s = Served::start(3, |_| {}, ServerOptions::default());
    let l = s.wait_leader();
    let victim = NodeId(if l.0 == 3 { 2 } else { 3 });
    let mut con = s.connect(victim.0);
    assert_eq!(until_served("SET", || set(&mut con, "k", "1")), "OK");
    let mut socket = raw(s.addr(victim.0));
    socket.write_all(b"PING\r\n").expect("write");
    let mut pong = [0u8; 7];
    socket.read_exact(&mut pong).expect("+PONG");
    assert_eq!(&pong, b"+PONG\r\n");
    let mut survivor = s.connect(l.0);
    s.wait_connections("before the kill", 3, Duration::from_secs(2));

    s.cluster.kill(victim);
    let (rest, end) = read_to_end(&mut socket, Duration::from_secs(3));
    assert!(rest.is_empty() && end != "timeout", "the raw socket to killed {victim}: {rest:?}, {end}");
    let e = redis::cmd("PING").query::<String>(&mut con).expect_err("PING on a killed node's connection");
    assert!(e.is_io_error() || e.is_connection_dropped(), "the redis connection errs: {e}");
    let refused = TcpStream::connect_timeout(&s.addr(victim.0), Duration::from_secs(2));
    assert!(refused.is_err(), "killed {victim} accepted a new connection");
    s.wait_connections("the killed node's connections closed", 1, Duration::from_secs(2));
    // The others serve meanwhile.
    assert_eq!(until_served("SET via the leader", || set(&mut survivor, "k", "2")), "OK");

    s.cluster.restart(victim).expect("restart");
    let mut back = wait_for("the restarted node to accept connections", || connect(s.addr(victim.0)).ok());
    assert_eq!(until_served("GET via the restarted node", || get(&mut back, "k")).as_deref(), Some("2"));
    assert_eq!(until_served("SET via the restarted node", || set(&mut back, "k", "3")), "OK");
    assert_eq!(get(&mut survivor, "k").expect("GET").as_deref(), Some("3"));
}

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A connection that keeps doing SET and GET on its own thread, and says what went wrong.
struct GoodClient {
    done: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GoodClient {
    fn start(addr: SocketAddr) -> GoodClient {
        let done = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut con = connect(addr).expect("the good client's connection");
        let thread = {
            let (done, errors, stop) = (Arc::clone(&done), Arc::clone(&errors), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let value = format!("g{i}");
                    let started = Instant::now();
                    let r = set(&mut con, "good", &value).and_then(|_| get(&mut con, "good"));
                    match r {
                        Ok(Some(v)) if v == value => {}
                        other => errors.lock().unwrap().push(format!("op {i}: {other:?}")),
                    }
                    if started.elapsed() > Duration::from_secs(2) {
                        errors.lock().unwrap().push(format!("op {i} took {:?}", started.elapsed()));
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        GoodClient { done, errors, stop, thread: Some(thread) }
    }

    /// Fails if it went wrong, or does not get on past `since` (a count of its operations)
    /// within two seconds.
    fn check(&self, what: &str, since: u64) -> u64 {
        let start = Instant::now();
        let now = loop {
            let now = self.done.load(Ordering::SeqCst);
            if now > since || start.elapsed() > Duration::from_secs(2) {
                break now;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let errors = self.errors.lock().unwrap().clone();
        assert!(errors.is_empty(), "the good client was disturbed during {what}: {errors:?}");
        assert!(now > since, "the good client made no progress during {what}");
        now
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("good client");
        }
    }
}

#[test]
fn bad_clients_get_an_error_or_a_closed_connection_and_disturb_nobody() {
    let options = ServerOptions {
        write_timeout: Duration::from_secs(1),
        stall: Duration::from_secs(1),
        ..ServerOptions::default()
    };
    let s = Served::start(3, |_| {}, options);
    // The limit asked, unless the open-file limit leaves room for fewer.
    let max = s.server().max_connections();
    s.wait_leader();
    let n1 = s.addr(1);
    let mut admin = s.connect(3);
    until_served("a first SET", || set(&mut admin, "first", "1"));
    let good = GoodClient::start(n1);
    let mut progress = wait_for("the good client to start", || {
        let n = good.done.load(Ordering::SeqCst);
        (n > 0).then_some(n)
    });
    let baseline = 2; // admin, good
    s.wait_connections("baseline", baseline, Duration::from_secs(2));
    let protocol_error = |got: &[u8], what: &str| {
        let text = String::from_utf8_lossy(got);
        assert!(text.starts_with("-ERR Protocol error"), "{what}: {text:?}");
    };

    // Malformed RESP: an array element that is not a bulk string.
    let mut c = raw(n1);
    c.write_all(b"*2\r\n+x\r\n").expect("write");
    let (got, end) = read_to_end(&mut c, Duration::from_secs(3));
    protocol_error(&got, "malformed RESP");
    assert!(String::from_utf8_lossy(&got).contains("expected '$', got '+'"), "{got:?}");
    assert_eq!(end, "eof", "malformed RESP: then the connection closes");

    // A bulk length of 2^40: refused at the header, at once (well before the 1 s stall).
    let mut c = raw(n1);
    let start = Instant::now();
    c.write_all(b"*1\r\n$1099511627776\r\n").expect("write");
    let (got, end) = read_to_end(&mut c, Duration::from_secs(3));
    protocol_error(&got, "a 2^40 bulk");
    assert!(String::from_utf8_lossy(&got).contains("invalid bulk length"), "{got:?}");
    assert_eq!(end, "eof");
    assert!(start.elapsed() < Duration::from_millis(500), "a 2^40 bulk refused after {:?}", start.elapsed());
    progress = good.check("malformed requests", progress);

    // A 10 MB line without a newline: refused once past the inline limit (not by the stall
    // timer), and the server holds none of it. The line is written from one 64 KiB buffer.
    let before = rss_kb();
    let mut c = raw(n1);
    let chunk = vec![b'a'; 64 * 1024];
    let mut sent = 0usize;
    let start = Instant::now();
    while sent < 10 * 1024 * 1024 {
        match c.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("the server neither read nor closed the 10 MB line ({sent} bytes sent)")
            }
            Err(_) => break, // closed by the server: a reset or a broken pipe
        }
    }
    let (got, end) = read_to_end(&mut c, Duration::from_secs(3));
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("-ERR Protocol error: too big inline request"),
        "10 MB line ({sent} sent): {text:?}"
    );
    assert!(end == "eof" || end == "reset", "10 MB line: {end}");
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "the 10 MB line was refused after {:?}",
        start.elapsed()
    );
    let grown = rss_kb().saturating_sub(before);
    assert!(grown < 64 * 1024, "RSS grew by {grown} kB for a 10 MB line");
    drop(c);
    progress = good.check("the 10 MB line", progress);

    // A client that pipelines GETs of a 60 KiB value and never reads: closed once a write has
    // been blocked for write_timeout (1 s).
    assert_eq!(set(&mut admin, "big", &"x".repeat(60 * 1024)).expect("SET big"), "OK");
    s.wait_connections("before the non-reader", baseline, Duration::from_secs(2));
    let c = raw(n1);
    wait_for("the non-reader to be counted", || (s.server().connections() == baseline + 1).then_some(()));
    c.set_nonblocking(true).expect("nonblocking");
    let gets = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(3000);
    let mut written = 0;
    let start = Instant::now();
    let mut closed_after = None;
    while closed_after.is_none() && start.elapsed() < Duration::from_secs(8) {
        if written < gets.len() {
            match (&c).write(&gets[written..]) {
                Ok(n) => {
                    written += n;
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => {}
            }
        }
        if s.server().connections() == baseline {
            closed_after = Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let closed_after = closed_after.expect("the server never closed a client that does not read");
    eprintln!(
        "the non-reader was closed {closed_after:?} after it began sending ({written} bytes of GETs sent)"
    );
    // The answers fill the socket buffers within milliseconds; the write that finds them full
    // has write_timeout in all (not per partial write, which the kernel would let a trickle
    // restart), so the close comes one timeout later.
    assert!(
        closed_after >= Duration::from_millis(950) && closed_after < Duration::from_millis(2500),
        "a client that does not read was closed after {closed_after:?} (write_timeout 1 s)"
    );
    drop(c);
    progress = good.check("the non-reader", progress);

    // A disconnect mid-command: half a SET, then gone. The connection goes, nothing is written.
    let mut c = raw(n1);
    c.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$5\r\nva").expect("write");
    wait_for("the half SET's connection to be counted", || {
        (s.server().connections() == baseline + 1).then_some(())
    });
    c.shutdown(Shutdown::Both).expect("shutdown");
    drop(c);
    s.wait_connections("after a disconnect mid-command", baseline, Duration::from_secs(2));
    assert_eq!(get(&mut admin, "half").expect("GET half"), None, "half a SET wrote nothing");

    // A stall mid-command: closed after `stall` (1 s), not before, with an error.
    let mut c = raw(n1);
    let start = Instant::now();
    c.write_all(b"*3\r\n$3\r\nSET\r\n$5\r\nstall\r\n$5\r\nva").expect("write");
    let (got, end) = read_to_end(&mut c, Duration::from_secs(5));
    let took = start.elapsed();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("-ERR incomplete command"), "a stalled client: {text:?} ({end} after {took:?})");
    assert!(end == "eof" || end == "reset", "a stalled client: {end}");
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(4),
        "stall closed after {took:?}"
    );
    assert_eq!(get(&mut admin, "stall").expect("GET stall"), None);
    progress = good.check("the disconnect and the stall", progress);

    // A crowd of 1,000 connections at once to n2: at most max_connections are served, the rest
    // are told so and closed; other nodes, and n2 once the crowd leaves, serve as before.
    let n2 = s.addr(2);
    let crowd: Vec<Option<TcpStream>> = std::thread::scope(|scope| {
        let parts: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(move || {
                    (0..250)
                        .map(|_| TcpStream::connect_timeout(&n2, Duration::from_secs(3)).ok())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts.into_iter().flat_map(|p| p.join().expect("connector")).collect()
    });
    let connected = crowd.iter().filter(|c| c.is_some()).count();
    wait_for("the crowd to be admitted", || (s.server().connections() >= baseline + max).then_some(()));
    // Let the supervisor drain its accept queue and write its refusals.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(s.server().connections(), baseline + max, "the server holds more than max_connections");
    let (mut open, mut refused, mut closed) = (Vec::new(), 0, 0);
    for c in crowd.into_iter().flatten() {
        c.set_nonblocking(true).expect("nonblocking");
        let mut buf = [0u8; 256];
        match (&c).read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => open.push(c),
            Ok(0) => closed += 1,
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                assert!(
                    text.starts_with("-ERR max number of clients reached"),
                    "a refused connection: {text:?}"
                );
                refused += 1;
            }
            Err(_) => closed += 1,
        }
    }
    eprintln!("crowd: {connected} connected, {} open, {refused} refused, {closed} closed", open.len());
    assert_eq!(open.len(), max, "open connections of the crowd");
    assert!(refused > 0, "no connection was told the limit");
    assert_eq!(open.len() + refused + closed, connected);
    // The served ones are served.
    for c in open.iter_mut().take(3) {
        c.set_nonblocking(false).expect("blocking");
        c.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        c.write_all(b"PING\r\n").expect("PING");
        let mut pong = [0u8; 7];
        c.read_exact(&mut pong).expect("PONG");
        assert_eq!(&pong, b"+PONG\r\n");
    }
    // Another node serves a new connection meanwhile.
    let mut n3 = s.connect(3);
    assert_eq!(set(&mut n3, "crowd", "1").expect("SET via n3 during the crowd"), "OK");
    progress = good.check("the crowd", progress);
    drop(open);
    s.wait_connections("after the crowd left", baseline + 1, Duration::from_secs(5));
    let mut again = s.connect(2);
    assert_eq!(until_served("SET via n2 after the crowd", || set(&mut again, "crowd", "2")), "OK");
    assert_eq!(get(&mut n3, "crowd").expect("GET").as_deref(), Some("2"));

    good.check("the end", progress);
    good.finish();
    // The cluster is unharmed: a leader, and every node reads the good client's last value.
    s.wait_leader();
    let last = get(&mut admin, "good").expect("GET good").expect("the good client's value");
    for n in 1..=3 {
        assert_eq!(get(&mut s.connect(n), "good").expect("GET good"), Some(last.clone()), "via n{n}");
    }
}

// ---- quorum serve, end to end ----

/// The clients' own history, one line per event, and what they saw.
#[derive(Default)]
struct Recorded {
    events: Vec<HistoryEvent>,
    ok: u64,
    tryagain: u64,
    timeout: u64,
    broken: u64,
    other: Vec<String>,
}

struct History {
    start: Instant,
    recorded: Mutex<Recorded>,
}

impl History {
    /// Records an event, timed now (under the lock, so the file is in time order).
    fn record(&self, kind: EventType, process: u64, f: OpKind, key: &str, value: Option<&str>, node: u64) {
        let mut r = self.recorded.lock().unwrap();
        let time = self.start.elapsed().as_nanos() as u64;
        let mut e = HistoryEvent::complete(kind, process, f, key, value, time);
        e.node = Some(node);
        r.events.push(e);
    }
}

/// One client: its own connection to node `node`, reconnecting whenever it breaks, until
/// `until`. A new process after every unknown outcome (it may still be in flight).
fn drive(history: &History, base: u16, client: u64, node: u64, until: Instant) {
    let addr = SocketAddr::from(([127, 0, 0, 1], base + node as u16));
    let mut process = client;
    let mut con: Option<redis::Connection> = None;
    let mut rng = random() | 1;
    let mut n = 0u64;
    while Instant::now() < until {
        let Some(c) = con.as_mut() else {
            match connect(addr) {
                Ok(c) => con = Some(c),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
            continue;
        };
        n += 1;
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let key = format!("k{}", rng % 4);
        let put = !rng.is_multiple_of(3);
        let value = format!("c{client}-{n}");
        let (f, sent) = if put { (OpKind::Put, Some(value.as_str())) } else { (OpKind::Get, None) };
        history.record(EventType::Invoke, process, f, &key, sent, node);
        let result = if put { set(c, &key, &value).map(|_| None) } else { get(c, &key) };
        let (kind, read) = match &result {
            Ok(read) => (EventType::Ok, if put { sent } else { read.as_deref() }),
            Err(e) if e.code() == Some("TRYAGAIN") => (EventType::Fail, sent),
            Err(_) => (EventType::Info, sent),
        };
        history.record(kind, process, f, &key, read, node);
        let mut r = history.recorded.lock().unwrap();
        match result {
            Ok(_) => r.ok += 1,
            Err(e) if e.code() == Some("TRYAGAIN") => r.tryagain += 1,
            Err(e) if e.code() == Some("TIMEOUT") => r.timeout += 1,
            Err(e) if e.code().is_some() => r.other.push(e.to_string()),
            Err(_) => {
                r.broken += 1;
                con = None;
            }
        }
        if kind == EventType::Info {
            process += 1000;
        }
    }
}

/// `quorum serve` on a free base port: the child, the base, and its stdout lines so far.
fn spawn_serve(args: &[String]) -> (Child, u16, crossbeam_channel::Receiver<String>, Arc<Mutex<String>>) {
    for _ in 0..20 {
        let base = random_base();
        let mut child = Process::new(env!("CARGO_BIN_EXE_quorum"))
            .arg("serve")
            .args(["--listen", &base.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn quorum serve");
        let (tx, lines) = crossbeam_channel::unbounded();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stderr_text = Arc::new(Mutex::new(String::new()));
        {
            let stderr = child.stderr.take().expect("stderr");
            let text = Arc::clone(&stderr_text);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut t = text.lock().unwrap();
                    t.push_str(&line);
                    t.push('\n');
                }
            });
        }
        let mut listening = 0;
        let deadline = Instant::now() + DEADLINE;
        while listening < 3 && Instant::now() < deadline {
            match lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if line.contains(" listens on 127.0.0.1:") {
                        listening += 1;
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            }
        }
        if listening == 3 {
            return (child, base, lines, stderr_text);
        }
        let _ = child.kill();
        let status = child.wait().expect("wait");
        std::thread::sleep(Duration::from_millis(100));
        let err = stderr_text.lock().unwrap().clone();
        assert!(
            err.contains("cannot listen") || err.contains("in use"),
            "quorum serve did not start ({status}):\n{err}"
        );
    }
    panic!("no free base port for quorum serve in 20 tries");
}

/// A child process that is killed if the test ends before it does (a failed assertion).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn check(path: &Path) -> (i32, String) {
    let out =
        Process::new(env!("CARGO_BIN_EXE_quorum")).arg("check").arg(path).output().expect("quorum check");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn quorum_serve_under_partitions_and_crashes_is_linearizable_from_both_sides() {
    let seed = random() % 1_000_000;
    let dir = std::env::temp_dir().join(format!("quorum-resp-serve-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (server_history, events_file, client_history) =
        (dir.join("server.jsonl"), dir.join("events.jsonl"), dir.join("clients.jsonl"));
    let args: Vec<String> = [
        "--nodes",
        "3",
        "--storage",
        "mem",
        "--nemesis",
        "partition,crash",
        "--history",
        &server_history.display().to_string(),
        "--events",
        &events_file.display().to_string(),
        "--seed",
        &seed.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (child, base, lines, stderr) = spawn_serve(&args);
    let mut child = KillOnDrop(child);
    let repro = format!("quorum serve --listen {base} {} (files in {})", args.join(" "), dir.display());
    eprintln!("reproduce: {repro}");

    let history = History { start: Instant::now(), recorded: Mutex::new(Recorded::default()) };
    let until = Instant::now() + Duration::from_secs(20);
    std::thread::scope(|scope| {
        for i in 0..4u64 {
            let history = &history;
            scope.spawn(move || drive(history, base, i, i % 3 + 1, until));
        }
    });
    let recorded = history.recorded.into_inner().unwrap();
    {
        let file = std::fs::File::create(&client_history).expect("client history");
        let mut w = HistoryWriter::new(std::io::BufWriter::new(file));
        w.write_header(&HistoryHeader { initial: Initial::Empty, cluster: None }).expect("header");
        for e in &recorded.events {
            w.write_event(e).expect("write the client history");
        }
    }
    let saw = format!(
        "clients: {} ok, {} TRYAGAIN, {} TIMEOUT, {} broken connections, other errors {:?}",
        recorded.ok, recorded.tryagain, recorded.timeout, recorded.broken, recorded.other
    );
    eprintln!("{saw}");

    let killed =
        Process::new("kill").args(["-TERM", &child.0.id().to_string()]).status().expect("kill -TERM");
    assert!(killed.success(), "kill -TERM failed");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "quorum serve did not stop within 30 s of SIGTERM; {repro}");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(100));
    let out: Vec<String> = lines.try_iter().collect();
    let out = out.join("\n");
    let err = stderr.lock().unwrap().clone();
    assert_eq!(status.code(), Some(0), "quorum serve exit status; {repro}\n{out}\n{err}");
    let summary = out
        .lines()
        .find(|l| l.starts_with("served "))
        .unwrap_or_else(|| panic!("no summary; {repro}\n{out}"));
    let faults: usize = summary.rsplit("faults ").next().and_then(|n| n.trim().parse().ok()).expect("faults");
    let history_line =
        format!("lines in {} (quorum check {})", server_history.display(), server_history.display());
    assert!(out.contains("history: ") && out.contains(&history_line), "no history line; {repro}\n{out}");
    eprintln!("{summary}");

    // Not vacuous: operations succeeded, the nemesis broke things, and the clients saw it.
    assert!(recorded.ok >= 50, "only {} operations succeeded; {saw}; {repro}", recorded.ok);
    assert!(recorded.other.is_empty(), "unexpected errors; {saw}; {repro}");
    let fault_events = std::fs::read_to_string(&events_file)
        .expect("events file")
        .lines()
        .filter(|l| l.contains("\"kind\":\"fault\""))
        .count();
    assert!(
        faults > 0 && fault_events > 0,
        "the nemesis did nothing ({faults} faults, {fault_events} events); {repro}"
    );
    assert!(
        recorded.broken + recorded.tryagain + recorded.timeout > 0,
        "the clients never noticed a fault; {saw}; {repro}"
    );

    for (what, path) in [("the server's history", &server_history), ("the clients' history", &client_history)]
    {
        let (code, text) = check(path);
        assert_eq!(code, 0, "quorum check {}: {what} is not linearizable; {repro}\n{text}", path.display());
        assert!(text.contains("linearizable"), "{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
