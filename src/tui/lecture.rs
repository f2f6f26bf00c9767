//! The lecture pace (`quorum --lecture`, the `L` key): slow enough for a room to follow an
//! election and a write step by step, without holding a single message by hand.
//!
//! Chosen from the timing constants (`raft::Config::new`; a tick is 10 ms at normal speed):
//! election timeouts of 15 to 30 ticks (150-300 ms, paper §5.6) and a heartbeat every 5 ticks
//! (50 ms). Every visible step of an election or a write waits for a message: a pre-candidate
//! becomes candidate when its PreVote answers are back (thesis §9.6), a candidate leader when
//! its votes are (paper §5.2); an entry the leader appended reaches the followers one message
//! later, commits on the leader when their answers are back, and commits on the followers with
//! the leader's next heartbeat (§5.3). So each step shows for at least one message's time. The
//! lecture pace makes that a second: the slowest speed there is, 1/20, and every message
//! [`DELAY_MS`] = 50 ms on its way (at normal speed; one second at 1/20).
//!
//! Elections still succeed at that pace: a vote's round trip, 100 ms, stays below the shortest
//! election timeout, 150 ms, and heartbeats still reach every follower every 50 ms. A round
//! trip that long against timeouts spread over 150 ms makes split votes likelier, which the
//! randomized timeouts resolve (paper §5.2): over seeds 1 to 200 of the simulator, a first
//! election took 1.2 rounds on average (81% one round) and an election after the leader's
//! crash 1.5 (at 30 ms a message it would be 1.0 and 1.2, but a message would show for 0.6 s
//! only). At 1/20 a tick is 200 ms of real time, an election timeout 3 to 6 s, a heartbeat 1 s.
//!
//! On each node, commit and apply are one step (the core applies what is committed and durable
//! in the step that commits it), so "committed" and "applied" change together on a card; what
//! the room sees one after the other is the entry appended on the leader, then on the
//! followers, then committed and applied on the leader (the client's answer), then on the
//! followers. `tests/lecture_pace.rs` measures each of these steps through the simulator.

use super::app::ELECTION_TIMEOUT_MS;
use crate::control::Control;
use crate::network::Network;

/// How many times slower than normal time runs: 20, the slowest the engines allow.
pub const SLOWDOWN: u64 = 20;
/// The lecture pace's time scale, 1/20.
pub const SPEED: f64 = 1.0 / SLOWDOWN as f64;
/// The delay of every message, in milliseconds at normal speed.
pub const DELAY_MS: u64 = 50;
/// How long one message takes in real time at the lecture pace, in milliseconds: 1 s.
pub const MESSAGE_MS: u64 = DELAY_MS * SLOWDOWN;
/// A tick at normal speed, in milliseconds (both engines).
const TICK_MS: u64 = 10;
/// A leader's heartbeat interval at normal speed, in milliseconds (5 ticks).
const HEARTBEAT_MS: u64 = 5 * TICK_MS;

// Each step shows for a second at least.
const _: () = assert!(MESSAGE_MS >= 1000);
// A vote's round trip fits in the shortest election timeout, with a heartbeat to spare.
const _: () = assert!(2 * DELAY_MS + HEARTBEAT_MS <= ELECTION_TIMEOUT_MS);

/// The delay range of the lecture pace, in nanoseconds, as a link rule holds it.
pub const DELAY_NANOS: (u64, u64) = (DELAY_MS * 1_000_000, DELAY_MS * 1_000_000);

/// True if `speed` and the network's default link are the lecture pace's.
pub fn is_on(speed: f64, network: &Network) -> bool {
    (speed - SPEED).abs() < 1e-9 && network.default_rule().delay == DELAY_NANOS
}

/// Sets the lecture pace on a cluster, on either engine: the speed and the delay of every link.
pub fn apply(control: &dyn Control) {
    control.set_speed(SPEED);
    control.change_network(&mut |n| {
        let mut rule = n.default_rule();
        rule.delay = DELAY_NANOS;
        n.set_default_rule(rule);
    });
}
