//! Real clients: every node speaks the Redis protocol (RESP2) on loopback, so `redis-cli`,
//! `redis-benchmark` and a Redis client library in any language can talk to the cluster.
//!
//! Node nK listens on `127.0.0.1:PORT+K`. Each connection is one registered client session
//! (thesis §6.3) pinned to the node it reached: its `SET` is a put through Raft, answered `OK`
//! once committed and applied, and every retry of it carries the same sequence number, so it is
//! applied at most once; its `GET` is a linearizable read by ReadIndex (thesis §6.4) through
//! that node. What the node cannot do, the client is told: `-TRYAGAIN` when the node reaches
//! no leader, `-TIMEOUT` when a write's outcome is unknown. Network faults apply to the
//! cluster's own messages, never to the loopback connection: the client reaches the node it
//! chose, and what that node can reach is the experiment.
//!
//! The server is engine-agnostic: it drives the cluster through [`Control`] only (the live
//! cluster in `quorum serve` and the console, or the simulator in the console), and tells an
//! [`Observer`] about every operation (the console's clients panel and history, or the history
//! file of `quorum serve`). It records each operation's `client` event itself, with its
//! connection, so the event log has them whoever observes.
//!
//! Threads: one supervisor binds each node's listener, accepts connections (polling, so it can
//! close a listener at once), and closes a node's listener and connections when the node goes
//! down, reopening the listener when it comes back; one thread per connection reads commands,
//! runs them in order and writes the answers (pipelined commands are answered in order). Every
//! resource a client can make the server hold is bounded ([`Limits`], DESIGN §15).
//!
//! - [`proto`]: the protocol's parser and replies.
//! - `commands`: what each command does.

mod commands;
pub mod proto;

pub use proto::{Limits, Reply};

use crate::control::{Answer, ClientOptions, Control, OpError};
use crate::kv::Op;
use crate::raft::NodeId;
use proto::Parsed;
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Node nK listens on `127.0.0.1:base_port+K`.
    pub base_port: u16,
    /// What a connection may send.
    pub limits: Limits,
    /// How each connection's session behaves (it is pinned to the connection's node).
    pub client: ClientOptions,
    /// A connection whose waiting answers (64 KiB at most, or one longer answer) are not all
    /// taken within this long (its client does not read) is closed.
    pub write_timeout: Duration,
    /// A connection that sent part of a command and nothing more for this long is closed.
    pub stall: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            base_port: 6379,
            limits: Limits::default(),
            client: session_options(),
            write_timeout: Duration::from_secs(10),
            stall: Duration::from_secs(10),
        }
    }
}

/// A connection's session: six attempts of at most a second each, 150 ms apart after a
/// refusal, so a node without a leader answers `-TRYAGAIN` after about 0.75 s (an election
/// usually ends sooner) and a node that never answers `-TIMEOUT` after 6 s at most. Times are
/// at normal speed: the console's slower time scales stretch them.
pub fn session_options() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(1),
        attempts: 6,
        via: None,
        pin_register: true,
        backoff: Duration::from_millis(150),
    }
}

/// The most a port number can be; node nK listens on `base + K`.
pub fn check_base_port(base: u16, nodes: usize) -> Result<(), String> {
    if base == 0 || base as usize + nodes > u16::MAX as usize {
        return Err(format!(
            "--listen {base}: node nK listens on PORT+K, so PORT must be 1 to {} for {nodes} nodes",
            u16::MAX as usize - nodes
        ));
    }
    Ok(())
}

/// One client connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conn {
    /// The server's number for it, from 1 (also the history's process of its operations in
    /// `quorum serve`: a connection runs one command at a time).
    pub id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// The node it reached.
    pub node: NodeId,
}

impl Conn {
    /// `tcp 127.0.0.1:53412`, as the console and the event log name the connection.
    pub fn label(&self) -> String {
        format!("tcp {}", self.peer)
    }
}

/// One operation an external client asked for.
#[derive(Clone, Debug)]
pub struct ExternalOp {
    /// The server's number for it, from 1.
    pub number: u64,
    /// Its connection.
    pub conn: Conn,
    /// The put or the get.
    pub op: Op,
    /// When it was sent (engine ns).
    pub invoked: u64,
}

/// An operation as the protocol's command that asks it: `SET color red`, `GET color`.
pub fn command_words(op: &Op) -> String {
    match op {
        Op::Put { key, value } => format!("SET {key} {value}"),
        Op::Get { key } => format!("GET {key}"),
        Op::Register => "REGISTER".into(),
    }
}

impl ExternalOp {
    /// What its client is answered when it comes back as `result`: `+OK`, the value read (or
    /// nil), or the error (`-TRYAGAIN no leader reachable from n2`), as `SET` and `GET` answer.
    pub fn reply(&self, result: &Result<Answer, OpError>) -> Reply {
        let get = matches!(self.op, Op::Get { .. });
        match result {
            Ok(Answer { reply: crate::kv::Reply::Get { value }, .. }) if get => {
                Reply::Bulk(value.clone().map(String::into_bytes))
            }
            Ok(other) if get => Reply::err(format!("unexpected answer {:?}", other.reply)),
            Ok(_) => Reply::ok(),
            Err(e) => commands::Session::failure(e, !get, self.conn.node),
        }
    }
}

/// Who hears of the server's operations and happenings.
pub trait Observer: Send + Sync {
    /// An operation is about to be sent.
    fn sent(&self, op: &ExternalOp) {
        let _ = op;
    }
    /// It came back, at `at` (engine ns).
    fn returned(&self, op: &ExternalOp, result: &Result<Answer, OpError>, at: u64) {
        let _ = (op, result, at);
    }
    /// Something worth saying: a listener closed or reopened, or could not be.
    fn notice(&self, text: &str, error: bool) {
        let _ = (text, error);
    }
}

/// An observer that hears nothing.
pub struct Nobody;

impl Observer for Nobody {}

/// What the supervisor and every connection share.
struct Shared {
    control: Arc<dyn Control>,
    options: ServerOptions,
    observer: Arc<dyn Observer>,
    stop: AtomicBool,
    /// Open connections: their node and a handle to shut them down with.
    /// (The stream is shared with its thread, not duplicated: a connection costs one file
    /// descriptor.)
    conns: Mutex<BTreeMap<u64, (NodeId, Arc<TcpStream>)>>,
    next_conn: AtomicU64,
    next_op: AtomicU64,
}

impl Shared {
    fn conns(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, (NodeId, Arc<TcpStream>)>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes every connection of `node` (all if `None`): their threads see the end of the
    /// stream and finish.
    fn close(&self, node: Option<NodeId>) -> usize {
        let conns = self.conns();
        let mut n = 0;
        for (_, (at, stream)) in conns.iter() {
            if node.is_none_or(|x| x == *at) {
                let _ = stream.shutdown(Shutdown::Both);
                n += 1;
            }
        }
        n
    }

    fn address(&self, node: NodeId) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.options.base_port + node.0 as u16))
    }
}

/// A running server.
pub struct RespServer {
    shared: Arc<Shared>,
    supervisor: Option<JoinHandle<()>>,
}

/// How often the supervisor looks for new connections and for nodes gone down or come back.
const POLL: Duration = Duration::from_millis(5);

impl RespServer {
    /// Binds every running node's listener now (an address in use is an error, before anything
    /// is served) and starts serving. A node that is down gets its listener when it comes back.
    pub fn start(
        control: Arc<dyn Control>,
        mut options: ServerOptions,
        observer: Arc<dyn Observer>,
    ) -> std::io::Result<RespServer> {
        let members = control.members();
        check_base_port(options.base_port, members.len()).map_err(std::io::Error::other)?;
        let asked = options.limits.max_connections;
        let allowed = connections_allowed(asked, members.len(), open_file_limit());
        if allowed < asked {
            options.limits.max_connections = allowed;
            observer.notice(
                &format!(
                    "the open-file limit allows {allowed} connections per node, not {asked} (`ulimit -n` raises it)"
                ),
                false,
            );
        }
        let shared = Arc::new(Shared {
            control,
            options,
            observer,
            stop: AtomicBool::new(false),
            conns: Mutex::new(BTreeMap::new()),
            next_conn: AtomicU64::new(1),
            next_op: AtomicU64::new(1),
        });
        let up = shared.control.nodes_up();
        let mut listeners = BTreeMap::new();
        for &id in &members {
            if up.contains(&id) {
                let address = shared.address(id);
                let listener = bind(address).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{id} cannot listen on {address}: {e}"))
                })?;
                listeners.insert(id, listener);
            }
        }
        let supervisor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("resp-supervisor".into())
                .spawn(move || supervise(&shared, members, listeners))?
        };
        Ok(RespServer { shared, supervisor: Some(supervisor) })
    }

    /// Each node's address.
    pub fn addresses(&self) -> Vec<(NodeId, SocketAddr)> {
        self.shared.control.members().into_iter().map(|id| (id, self.shared.address(id))).collect()
    }

    /// `127.0.0.1:6380-6384 (n1-n5)`: where the nodes listen, in one line.
    pub fn describe(&self) -> String {
        describe(self.shared.options.base_port, self.shared.control.members().len())
    }

    /// Connections one node accepts at once: the limit asked, or fewer if the process's
    /// open-file limit would not hold them all.
    pub fn max_connections(&self) -> usize {
        self.shared.options.limits.max_connections
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.shared.conns().len()
    }

    /// Stops accepting, closes every connection and waits (a few seconds at most) for their
    /// threads: an operation in flight ends by its own timeout, its outcome unknown.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.supervisor.take() {
            let _ = t.join();
        }
        self.shared.close(None);
        let deadline = Instant::now() + Duration::from_secs(8);
        // A connection's thread takes it out of the registry as it ends.
        while !self.shared.conns().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for RespServer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// File descriptors left for the cluster itself (its logs and snapshots, the event and history
/// files, the listeners, the terminal) whatever the connections take.
const FD_RESERVE: usize = 256;

/// This process's open-file limit (the soft one), where the system says it (Linux).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// Connections per node the open-file limit `fd_limit` leaves room for, `asked` at most: each
/// connection takes a file descriptor, and a cluster that could not open its own files when
/// clients took them all would be disturbed by its clients. At least one.
pub fn connections_allowed(asked: usize, nodes: usize, fd_limit: Option<usize>) -> usize {
    match fd_limit {
        Some(limit) => asked.min(limit.saturating_sub(FD_RESERVE) / nodes.max(1)).max(1),
        None => asked,
    }
}

/// `127.0.0.1:6380-6384 (n1-n5)`.
pub fn describe(base: u16, nodes: usize) -> String {
    let (first, last) = (base as usize + 1, base as usize + nodes);
    if nodes == 1 {
        format!("127.0.0.1:{first} (n1)")
    } else {
        format!("127.0.0.1:{first}-{last} (n1-n{nodes})")
    }
}

fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(address)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// The supervisor: accepts connections; closes a node's listener and connections when it goes
/// down (a killed node's clients see their connection closed, and new ones refused), and binds
/// the listener again when it is back.
fn supervise(shared: &Arc<Shared>, members: Vec<NodeId>, mut listeners: BTreeMap<NodeId, TcpListener>) {
    let mut failed: BTreeMap<NodeId, String> = BTreeMap::new();
    while !shared.stop.load(Ordering::SeqCst) {
        let up = shared.control.nodes_up();
        for &id in &members {
            let running = up.contains(&id);
            match (running, listeners.contains_key(&id)) {
                (false, true) => {
                    listeners.remove(&id);
                    let closed = shared.close(Some(id));
                    shared.observer.notice(
                        &format!("{id} is down: {} refuses connections, {closed} closed", shared.address(id)),
                        false,
                    );
                }
                (true, false) => match bind(shared.address(id)) {
                    Ok(l) => {
                        listeners.insert(id, l);
                        failed.remove(&id);
                        shared
                            .observer
                            .notice(&format!("{id} is up: it listens on {}", shared.address(id)), false);
                    }
                    Err(e) => {
                        let text = format!("{id} cannot listen on {}: {e}", shared.address(id));
                        if failed.insert(id, text.clone()).as_ref() != Some(&text) {
                            shared.observer.notice(&text, true);
                        }
                    }
                },
                _ => {}
            }
        }
        for (&id, listener) in &listeners {
            loop {
                match listener.accept() {
                    Ok((stream, peer)) => admit(shared, id, stream, peer),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    // A connection reset before it was accepted, or no file descriptor left: the
                    // others go on; the next poll tries again.
                    Err(_) => break,
                }
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Takes a new connection: refused with an error past the limit, else served on its thread.
fn admit(shared: &Arc<Shared>, node: NodeId, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(shared.options.write_timeout));
    let open = shared.conns().values().filter(|(n, _)| *n == node).count();
    if open >= shared.options.limits.max_connections {
        let mut out = Vec::new();
        Reply::err(format!(
            "max number of clients reached ({} per node)",
            shared.options.limits.max_connections
        ))
        .encode(&mut out);
        let mut stream = stream;
        let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
        let _ = stream.write_all(&out);
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    let stream = Arc::new(stream);
    let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
    shared.conns().insert(id, (node, Arc::clone(&stream)));
    let conn = Conn { id, peer, node };
    let s = Arc::clone(shared);
    let spawned = std::thread::Builder::new().name(format!("resp-{node}-{id}")).stack_size(256 * 1024).spawn(
        move || {
            serve(&s, &conn, stream);
            s.conns().remove(&conn.id);
        },
    );
    if spawned.is_err() {
        // No thread to serve it: close it rather than leave it open unserved.
        if let Some((_, s)) = shared.conns().remove(&id) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;
/// Answers are written once this many bytes wait (and whenever no whole command is left).
const WRITE_AT: usize = 64 * 1024;
/// How often a connection blocked on reading checks that the server still runs.
const READ_WAKE: Duration = Duration::from_millis(200);

/// One connection: reads commands, runs them in order, writes the answers, until the client
/// closes, breaks the protocol, stalls mid-command, stops reading, says QUIT, or its node goes.
fn serve(shared: &Arc<Shared>, conn: &Conn, stream: Arc<TcpStream>) {
    let mut stream: &TcpStream = &stream;
    let _ = stream.set_read_timeout(Some(READ_WAKE));
    let mut session = commands::Session::new(shared, conn.clone());
    let limits = shared.options.limits;
    let mut input: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut last_byte = Instant::now();
    loop {
        let mut taken = 0;
        let mut answered = 0;
        let mut close = false;
        while answered < limits.max_pending {
            match proto::parse(&input[taken..], &limits) {
                Parsed::Command(args, used) => {
                    taken += used;
                    if args.is_empty() {
                        continue;
                    }
                    session.execute(args).encode(&mut out);
                    answered += 1;
                    if session.quit {
                        close = true;
                        break;
                    }
                    if out.len() >= WRITE_AT && write(stream, &mut out, shared.options.write_timeout).is_err()
                    {
                        return;
                    }
                }
                Parsed::Incomplete => break,
                Parsed::Error(e) => {
                    Reply::err(e).encode(&mut out);
                    close = true;
                    break;
                }
            }
        }
        input.drain(..taken);
        if write(stream, &mut out, shared.options.write_timeout).is_err() || close {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        if answered == limits.max_pending {
            // More may wait in the buffer: answer them before reading on.
            continue;
        }
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                input.extend_from_slice(&chunk[..n]);
                last_byte = Instant::now();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if !input.is_empty() && last_byte.elapsed() >= shared.options.stall {
                    let mut out = Vec::new();
                    Reply::err(format!(
                        "incomplete command: no more bytes for {} s, connection closed",
                        shared.options.stall.as_secs_f64()
                    ))
                    .encode(&mut out);
                    let _ = write(stream, &mut out, Duration::from_millis(100));
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Writes what waits in `out` within `limit` in all, and empties it. The deadline is over the
/// whole write, not each part of it: a socket's own send timeout restarts whenever the kernel
/// takes a few more bytes, so a client that reads a trickle would hold its connection forever.
fn write(mut stream: &TcpStream, out: &mut Vec<u8>, limit: Duration) -> std::io::Result<()> {
    let deadline = Instant::now() + limit;
    let mut done = 0;
    let result = loop {
        if done == out.len() {
            break Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(std::io::Error::new(ErrorKind::TimedOut, "the client takes no answers"));
        }
        if let Err(e) = stream.set_write_timeout(Some(left)) {
            break Err(e);
        }
        match stream.write(&out[done..]) {
            Ok(0) => break Err(ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    out.clear();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the common soft limit of 1,024 open files, five nodes get 153 connections each, not
    /// 256; a generous limit leaves the asked number; no limit known changes nothing.
    #[test]
    fn connections_are_capped_by_the_open_file_limit() {
        assert_eq!(connections_allowed(256, 5, Some(1024)), 153);
        assert_eq!(connections_allowed(256, 5, Some(20_000)), 256);
        assert_eq!(connections_allowed(256, 9, Some(100)), 1);
        assert_eq!(connections_allowed(256, 3, None), 256);
        assert!(open_file_limit().is_some_and(|l| l > 0), "Linux says its limit");
    }
}
