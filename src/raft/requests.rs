//! Client requests: puts proposed by the leader, forwarding from a node that is not the leader,
//! linearizable reads by ReadIndex, and the answers to clients.
//!
//! Rules implemented here: client sessions for exactly-once puts (thesis §6.3: the leader stamps
//! each command with the session clock; the session table itself lives in the state machine); a
//! node that is not the leader forwards a request to the leader it knows, or refuses it, and
//! never answers from its own state; reads by ReadIndex, waiting for this term's no-op, a
//! heartbeat round acknowledged by a majority, and the applied index (thesis §6.4).

use super::client::{ClientError, Command, Op, Reply, Request, RequestId, Response};
use super::config::Hazard;
use super::event::NodeEventKind;
use super::message::Body;
use super::node::{RaftNode, Role};
use super::quorum;
use super::state::StateMachine;
use super::{LogIndex, NodeId, Term};
use std::sync::Arc;

/// Where a client request came from, so its answer goes back there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    /// A client connected to this node.
    Local,
    /// A follower forwarded it.
    Node(NodeId),
}

/// A put proposed by this node as leader, awaiting application.
#[derive(Clone, Debug)]
pub(super) struct PendingWrite {
    pub(super) term: Term,
    pub(super) id: RequestId,
    pub(super) origin: Origin,
}

/// A get waiting for its ReadIndex round and for the applied index to catch up.
#[derive(Clone, Debug)]
pub(super) struct PendingRead {
    pub(super) request: Request,
    pub(super) origin: Origin,
    pub(super) index: LogIndex,
    pub(super) round: u64,
}

impl<S: StateMachine> RaftNode<S> {
    /// A client's request, from a client connected here or forwarded by a follower. A leader
    /// proposes a put (or a session's registration) as a new entry and queues a get for
    /// ReadIndex; any other node forwards the request or refuses it.
    pub(super) fn handle_client_request(&mut self, request: Request, origin: Origin) {
        if origin == Origin::Local && self.config.trace {
            self.emit(NodeEventKind::ClientRequest { request: request.clone() });
        }
        if self.config.hazard == Some(Hazard::LocalReads)
            && let Op::Get { key } = &request.op
        {
            let value = self.state.read(key);
            self.reply(origin, Response { id: request.id, result: Ok(Reply::Get { value }) });
            return;
        }
        if self.role != Role::Leader {
            self.forward_or_refuse(request, origin);
            return;
        }
        if let Some(target) = self.transferring_to()
            && !matches!(request.op, Op::Get { .. })
        {
            // Thesis §3.10: no new writes while leadership is handed over.
            self.reply(
                origin,
                Response { id: request.id, result: Err(ClientError::Transferring { target }) },
            );
            return;
        }
        match request.op {
            Op::Put { .. } | Op::Register => {
                let id = request.id;
                let command = Command::from_request(request, self.clock);
                let index = self.append_entry(command.map(Arc::new));
                let pending = PendingWrite { term: self.term, id, origin };
                if let Some(old) = self.pending_writes.insert(index, pending) {
                    // An earlier term's write at this index was overwritten before this node
                    // applied it; it may still be committed elsewhere (a retry), so: unknown.
                    self.reply(old.origin, Response { id: old.id, result: Err(ClientError::LeadershipLost) });
                }
            }
            Op::Get { .. } => {
                // Thesis §6.4: read index = commit index, but not before this term's no-op is
                // committed; then confirm leadership with a heartbeat round acknowledged by a
                // majority; answer once applied up to the read index.
                let index = self.commit.max(self.term_start);
                let round = self.read_round + 1;
                self.read_round_wanted = true;
                if self.config.trace {
                    self.emit(NodeEventKind::ReadIndex { request: request.clone(), index, round });
                }
                self.reads.push_back(PendingRead { request, origin, index, round });
            }
        }
    }

    /// A node that is not the leader forwards a client's request to the leader it knows, or
    /// refuses it with a clear error. It never answers from its own state.
    fn forward_or_refuse(&mut self, request: Request, origin: Origin) {
        let error = match (self.leader, origin) {
            (Some(leader), Origin::Local) if leader != self.id() => {
                self.forwarded.insert(request.id, (leader, self.ticks));
                self.send(leader, Body::ClientRequest { request });
                return;
            }
            (Some(leader), _) if leader != self.id() => ClientError::NotLeader { leader },
            _ => ClientError::NoLeader,
        };
        self.reply(origin, Response { id: request.id, result: Err(error) });
    }

    /// The answer to a request this node forwarded. Only the node it was forwarded to is
    /// listened to, so a late answer from an earlier leader is never taken for the answer to a
    /// retry.
    pub(super) fn handle_client_response(&mut self, from: NodeId, mut response: Response) {
        if self.forwarded.get(&response.id).is_some_and(|&(to, _)| to == from) {
            self.forwarded.remove(&response.id);
            // The network may have duplicated the forward: a refusal of one copy says
            // nothing of the others, one of which may still be (or have been) applied.
            if let Err(e) = &response.result
                && e.is_definite()
            {
                response.result = Err(ClientError::Relayed { refusal: Box::new(e.clone()) });
            }
            self.reply(Origin::Local, response);
        }
    }

    /// A forwarded request unanswered for two maximum election timeouts was probably lost:
    /// answer it (indeterminate) so the table does not grow without bound.
    pub(super) fn expire_forwarded(&mut self) {
        let limit = 2 * u64::from(self.config.election_timeout_max);
        let now = self.ticks;
        let expired: Vec<RequestId> =
            self.forwarded.iter().filter(|(_, (_, at))| now - at >= limit).map(|(id, _)| *id).collect();
        for id in expired {
            self.forwarded.remove(&id);
            self.reply(Origin::Local, Response { id, result: Err(ClientError::Abandoned) });
        }
    }

    /// The leader we forwarded to is no longer ours: answer those requests now. A forwarded put
    /// may still be committed, so the answer is indeterminate.
    pub(super) fn abandon_forwarded(&mut self) {
        for (id, _) in std::mem::take(&mut self.forwarded) {
            self.reply(Origin::Local, Response { id, result: Err(ClientError::Abandoned) });
        }
    }

    /// Answers confirmed reads whose read index has been applied (thesis §6.4 steps 3-4).
    pub(super) fn serve_reads(&mut self) {
        if self.role != Role::Leader || self.reads.is_empty() {
            return;
        }
        let mut rounds: Vec<u64> = self.progress.values().map(|p| p.read_round).collect();
        rounds.push(self.read_round);
        let confirmed = quorum::quorum_value(&rounds);
        while let Some(read) = self.reads.front() {
            if read.round > confirmed || read.index > self.state.applied() {
                break;
            }
            let Some(read) = self.reads.pop_front() else { break };
            let value = self.state.read(read.request.op.key());
            self.reply(read.origin, Response { id: read.request.id, result: Ok(Reply::Get { value }) });
        }
    }

    pub(super) fn reply(&mut self, origin: Origin, response: Response) {
        match origin {
            Origin::Local => {
                if self.config.trace {
                    self.emit(NodeEventKind::ClientReply { response: response.clone() });
                }
                self.out.replies.push(response);
            }
            Origin::Node(node) => self.send(node, Body::ClientResponse { response }),
        }
    }
}
