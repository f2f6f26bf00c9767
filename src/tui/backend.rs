//! The cluster operations the console uses, as a trait, so the console's engine can be tested
//! against a fake and run against the live cluster ([`LiveCluster`] implements it here).

use super::action::ClientOp;
use crate::cluster::{Client, ClientOptions, LiveCluster, NodeStatus, OpError};
use crate::events::{Event, EventKind};
use crate::kv::{Op, Reply};
use crate::raft::NodeId;
use crate::sim::Network;
use crossbeam_channel::Receiver;
use std::time::Duration;

/// One client session, pinned to one node.
pub trait ConsoleClient: Send {
    /// The session's client id (`c7` is 7).
    fn id(&self) -> u64;
    /// Runs one operation; for a get, the value read. Returns the node that answered.
    fn execute(&self, op: &ClientOp) -> Result<(Option<String>, NodeId), OpError>;
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
    /// Changes the network; `description` goes to the event log.
    fn change_network(&self, description: &str, change: &mut dyn FnMut(&mut Network));
    /// Writes a line to the event log, as a fault event.
    fn record(&self, node: Option<NodeId>, description: String);
    /// Writes what a client saw of one operation to the event log, as a client event.
    fn record_client(&self, node: Option<NodeId>, description: String) {
        self.record(node, description);
    }
    /// A new client session pinned to `via`, one attempt per operation.
    fn client(&self, via: NodeId, timeout: Duration) -> Box<dyn ConsoleClient>;
    /// Every event from now on.
    fn subscribe(&self) -> Option<Receiver<Event>>;
    /// The most recent events, oldest first.
    fn recent_events(&self, max: usize) -> Vec<Event>;
    /// Waits until every event recorded so far is in the event file.
    fn flush_events(&self) {}
}

impl ConsoleClient for Client {
    fn id(&self) -> u64 {
        Client::id(self).0
    }

    fn execute(&self, op: &ClientOp) -> Result<(Option<String>, NodeId), OpError> {
        let op = match op {
            ClientOp::Put { key, value } => Op::Put { key: key.clone(), value: value.clone() },
            ClientOp::Get { key } => Op::Get { key: key.clone() },
        };
        match Client::execute(self, op)? {
            (Reply::Get { value }, node) => Ok((value, node)),
            (Reply::Put, node) => Ok((None, node)),
        }
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
    fn change_network(&self, description: &str, change: &mut dyn FnMut(&mut Network)) {
        LiveCluster::change_network(self, description, change)
    }
    fn record(&self, node: Option<NodeId>, description: String) {
        LiveCluster::record(self, node, EventKind::Fault { description })
    }
    fn record_client(&self, node: Option<NodeId>, description: String) {
        LiveCluster::record(self, node, EventKind::Client { description })
    }
    fn client(&self, via: NodeId, timeout: Duration) -> Box<dyn ConsoleClient> {
        let options = ClientOptions { via: Some(via), attempts: 1, timeout, ..ClientOptions::default() };
        Box::new(LiveCluster::client(self, options))
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
