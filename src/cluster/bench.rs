//! `quorum bench`: closed-loop clients doing puts against the live cluster. Each logical client
//! keeps exactly one request outstanding; one driver thread multiplexes all of them (it sends
//! the next request of a client as soon as that client's answer arrives), so 256 clients do not
//! need 256 threads on a 2-core machine. One driver measured faster than two here: fewer
//! threads compete with the node threads for the two cores.

use super::net::{Answered, Input};
use super::run::Latencies;
use super::{ClusterOptions, LiveCluster};
use crate::control::{Control, RunState};
use crate::kv::{ClientError, ClientId, Op, Reply, Request, RequestId};
use crate::raft::{NodeId, Role};
use crossbeam_channel::unbounded;
use std::time::{Duration, Instant};

/// The result of one bench point.
#[derive(Clone, Debug)]
pub struct BenchResult {
    /// Concurrent logical clients.
    pub clients: usize,
    /// Completed puts per second.
    pub ops_per_sec: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Puts completed.
    pub ops: usize,
}

/// Runs closed-loop puts with `clients` logical clients for `duration` against a fresh cluster.
pub fn bench(options: &ClusterOptions, clients: usize, duration: Duration) -> std::io::Result<BenchResult> {
    let cluster = LiveCluster::start(ClusterOptions { trace: false, events_file: None, ..options.clone() })?;
    let leader = wait_for_leader(&cluster)?;
    let (leader, sessions) = register(&cluster, leader, clients)?;
    let start = Instant::now();
    let deadline = start + duration;
    let latencies = drive(&cluster, leader, &sessions, deadline);
    let elapsed = start.elapsed();
    cluster.finish()?;
    Ok(BenchResult {
        clients,
        ops_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: latencies.percentile(0.5),
        p99: latencies.percentile(0.99),
        ops: latencies.len() as usize,
    })
}

fn wait_for_leader(cluster: &LiveCluster) -> std::io::Result<NodeId> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let status = cluster.status();
        if let Some(l) = status.iter().find(|s| s.run == RunState::Running && s.role == Some(Role::Leader)) {
            let term = l.term;
            if status.iter().filter(|s| s.term == term && s.leader == Some(l.id)).count() * 2 > status.len() {
                return Ok(l.id);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(std::io::Error::other("no leader elected within 20 s"))
}

fn route(cluster: &LiveCluster, node: NodeId) -> Option<crossbeam_channel::Sender<Input>> {
    cluster.shared.route(node)
}

/// Registers one session per logical client (thesis §6.3), through the leader. Returns the
/// leader as last known and the sessions.
fn register(
    cluster: &LiveCluster,
    mut leader: NodeId,
    clients: usize,
) -> std::io::Result<(NodeId, Vec<ClientId>)> {
    let (reply_to, replies) = unbounded::<Answered>();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sessions: Vec<Option<ClientId>> = vec![None; clients];
    let send = |leader: NodeId, i: usize| {
        if let Some(tx) = route(cluster, leader) {
            let request = Request::new(RequestId::register(i as u64 + 1), Op::Register);
            let _ = tx.send(Input::Client(request, reply_to.clone()));
        }
    };
    (0..clients).for_each(|i| send(leader, i));
    while sessions.iter().any(Option::is_none) {
        let Ok(Answered { response, .. }) = replies.recv_deadline(deadline) else {
            return Err(std::io::Error::other("could not register the clients within 20 s"));
        };
        let i = (response.id.seq - 1) as usize;
        match response.result {
            Ok(Reply::Registered { client }) => sessions[i] = Some(client),
            Err(ClientError::NotLeader { leader: l }) => {
                leader = l;
                send(leader, i);
            }
            _ => {
                std::thread::sleep(Duration::from_millis(10));
                send(leader, i);
            }
        }
    }
    Ok((leader, sessions.into_iter().flatten().collect()))
}

/// One driver thread: keeps one put outstanding for each of its logical clients until the
/// deadline, and returns the latencies of the completed puts (in fixed buckets: a point of
/// 30 s at 256 clients completes over ten million puts, and a list of them was most of the
/// bench's memory).
fn drive(cluster: &LiveCluster, mut leader: NodeId, clients: &[ClientId], deadline: Instant) -> Latencies {
    let (reply_to, replies) = unbounded::<Answered>();
    let mut sent_at: std::collections::HashMap<ClientId, (u64, Instant)> = std::collections::HashMap::new();
    let mut latencies = Latencies::default();
    let mut inbox = route(cluster, leader);
    let send = |inbox: &Option<crossbeam_channel::Sender<Input>>, client: ClientId, seq: u64| {
        let request = Request::new(
            RequestId { client, seq },
            Op::Put { key: format!("k{}", (client.0 * 7919 + seq) % 1024), value: format!("{client}.{seq}") },
        );
        if let Some(tx) = inbox {
            let _ = tx.send(Input::Client(request, reply_to.clone()));
        }
    };
    for &c in clients {
        sent_at.insert(c, (1, Instant::now()));
        send(&inbox, c, 1);
    }
    while Instant::now() < deadline {
        let Ok(Answered { response, .. }) = replies.recv_deadline(deadline) else { break };
        let client = response.id.client;
        let Some(&(seq, at)) = sent_at.get(&client) else { continue };
        if response.id.seq != seq {
            continue;
        }
        match response.result {
            Ok(_) => {
                latencies.record(at.elapsed());
                sent_at.insert(client, (seq + 1, Instant::now()));
                send(&inbox, client, seq + 1);
            }
            Err(e) => {
                if let ClientError::NotLeader { leader: l } = e {
                    leader = l;
                    inbox = route(cluster, leader);
                }
                sent_at.insert(client, (seq, Instant::now()));
                send(&inbox, client, seq);
            }
        }
    }
    latencies
}
