//! Helpers shared by the test files that drive the simulator engine by hand.

use quorum::control::{Client, Control};
use quorum::kv::{Op, Reply};
use quorum::network::HeldAction;
use quorum::raft::NodeId;
use quorum::sim::SimEngine;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `op` through `via` on a client thread, lets it enter the world, moves time until it is
/// answered, and returns what it read (`Ok(None)` for a put). With `by_hand`, every held
/// message is delivered by hand before each move of time (the network is held).
pub fn operate(
    engine: &SimEngine,
    client: &Arc<Client>,
    op: Op,
    via: Option<NodeId>,
    by_hand: bool,
) -> Result<Option<String>, String> {
    let waiting = engine.waiting_clients();
    let thread = {
        let client = Arc::clone(client);
        std::thread::spawn(move || client.call(op, via))
    };
    // The request is in the world (time does not move while the client is between requests,
    // but the test must not move it before the client has sent anything).
    let deadline = Instant::now() + Duration::from_secs(20);
    while engine.waiting_clients() == waiting && !thread.is_finished() {
        assert!(Instant::now() < deadline, "the client never sent its request");
        std::thread::yield_now();
    }
    // Time never moves while the client is between requests, so once an advance returns the
    // client is either waiting in the world again or done: the operation ends at a fixed
    // virtual time, whatever the threads' scheduling.
    for step in 0.. {
        assert!(step < 300, "the operation did not end within 30 s of virtual time");
        if by_hand {
            while engine.act_on_held(None, HeldAction::Deliver) {}
        }
        engine.advance(Duration::from_millis(100));
        if engine.waiting_clients() == waiting {
            break;
        }
    }
    let answer = thread.join().expect("client thread").map_err(|e| e.to_string())?;
    Ok(match answer.reply {
        Reply::Get { value } => value,
        Reply::Put | Reply::Registered { .. } => None,
    })
}
