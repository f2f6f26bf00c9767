//! The cluster operations the console uses, as a trait, so the console's engine can be tested
//! against a fake and run against the live cluster ([`LiveCluster`] implements it here).

use crate::cluster::{Client, ClientOptions, LiveCluster, NodeStatus, OpError};
use crate::events::{Event, EventKind};
use crate::kv::{Op, Reply, RequestId};
use crate::raft::NodeId;
use crate::sim::Network;
use crossbeam_channel::Receiver;
use std::sync::Arc;
use std::time::Duration;

/// The console's one client session (thesis §6.3): registered once, it runs every operation
/// of the console, several at a time, each pinned to the node the user chose.
pub trait ConsoleClient: Send + Sync {
    /// Runs one operation through `via` (one attempt); for a get, the value read. Returns the
    /// node that answered and the request's identity (`c7#3`).
    fn execute(&self, op: &Op, via: NodeId) -> Result<(Option<String>, NodeId, RequestId), OpError>;
}

/// What the console needs from a cluster. Every method may block briefly; the console calls
/// them from its own threads, never from the interface thread.
pub trait Backend: Send + Sync {
    /// The node ids.
    fn members(&self) -> Vec<NodeId>;
    /// Nanoseconds since the cluster started (the clock of events and history).
    fn now_nanos(&self) -> u64;
    /// A status per node.
    fn status(&self) -> Vec<NodeStatus>;
    /// The network's fault settings.
    fn network(&self) -> Network;
    /// The time scale.
    fn speed(&self) -> f64;
    /// Sets the time scale.
    fn set_speed(&self, speed: f64);
    /// Kills a node.
    fn kill(&self, id: NodeId);
    /// Restarts a node from its durable state.
    fn restart(&self, id: NodeId) -> Result<(), String>;
    /// Pauses a node.
    fn pause(&self, id: NodeId);
    /// Resumes a node.
    fn resume(&self, id: NodeId);
    /// Makes a node time out and campaign.
    fn campaign(&self, id: NodeId);
    /// Freezes the cluster: pauses these nodes, and client timeouts stop counting.
    fn freeze(&self, nodes: &[NodeId]) {
        nodes.iter().for_each(|&n| self.pause(n));
    }
    /// Ends a freeze: resumes these nodes, and client timeouts count again.
    fn thaw(&self, nodes: &[NodeId]) {
        nodes.iter().for_each(|&n| self.resume(n));
    }
    /// Changes the network; `description` goes to the event log.
    fn change_network(&self, description: &str, change: &mut dyn FnMut(&mut Network));
    /// Writes a line to the event log, as a fault event.
    fn record(&self, node: Option<NodeId>, description: String);
    /// Writes what a client saw of one operation to the event log, as a client event.
    fn record_client(&self, node: Option<NodeId>, description: String) {
        self.record(node, description);
    }
    /// The console's client session: one attempt per operation, each waiting `timeout` at most.
    fn client(&self, timeout: Duration) -> Arc<dyn ConsoleClient>;
    /// Every event from now on.
    fn subscribe(&self) -> Option<Receiver<Event>>;
    /// The most recent events, oldest first.
    fn recent_events(&self, max: usize) -> Vec<Event>;
    /// Waits until every event recorded so far is in the event file.
    fn flush_events(&self) {}
}

impl ConsoleClient for Client {
    fn execute(&self, op: &Op, via: NodeId) -> Result<(Option<String>, NodeId, RequestId), OpError> {
        let answer = Client::call(self, op.clone(), Some(via))?;
        let read = match answer.reply {
            Reply::Get { value } => value,
            Reply::Put | Reply::Registered { .. } => None,
        };
        Ok((read, answer.node, answer.id))
    }
}

impl Backend for LiveCluster {
    fn members(&self) -> Vec<NodeId> {
        LiveCluster::members(self).to_vec()
    }
    fn now_nanos(&self) -> u64 {
        LiveCluster::now_nanos(self)
    }
    fn status(&self) -> Vec<NodeStatus> {
        LiveCluster::status(self)
    }
    fn network(&self) -> Network {
        LiveCluster::network(self)
    }
    fn speed(&self) -> f64 {
        LiveCluster::speed(self)
    }
    fn set_speed(&self, speed: f64) {
        LiveCluster::set_speed(self, speed)
    }
    fn kill(&self, id: NodeId) {
        LiveCluster::kill(self, id)
    }
    fn restart(&self, id: NodeId) -> Result<(), String> {
        LiveCluster::restart(self, id).map_err(|e| e.to_string())
    }
    fn pause(&self, id: NodeId) {
        LiveCluster::pause(self, id)
    }
    fn resume(&self, id: NodeId) {
        LiveCluster::resume(self, id)
    }
    fn campaign(&self, id: NodeId) {
        LiveCluster::campaign(self, id)
    }
    fn freeze(&self, nodes: &[NodeId]) {
        LiveCluster::freeze(self, nodes)
    }
    fn thaw(&self, nodes: &[NodeId]) {
        LiveCluster::thaw(self, nodes)
    }
    fn change_network(&self, description: &str, change: &mut dyn FnMut(&mut Network)) {
        LiveCluster::change_network(self, description, change)
    }
    fn record(&self, node: Option<NodeId>, description: String) {
        LiveCluster::record(self, node, EventKind::Fault { description })
    }
    fn record_client(&self, node: Option<NodeId>, description: String) {
        LiveCluster::record(self, node, EventKind::Client { description })
    }
    fn client(&self, timeout: Duration) -> Arc<dyn ConsoleClient> {
        let options = ClientOptions { attempts: 1, timeout, ..ClientOptions::default() };
        Arc::new(LiveCluster::client(self, options))
    }
    fn subscribe(&self) -> Option<Receiver<Event>> {
        LiveCluster::subscribe(self)
    }
    fn recent_events(&self, max: usize) -> Vec<Event> {
        LiveCluster::recent_events(self, max)
    }
    fn flush_events(&self) {
        LiveCluster::flush_events(self, Duration::from_secs(5));
    }
}
