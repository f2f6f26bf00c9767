//! The single-threaded deterministic driver: real cores, virtual time, a seeded network.

pub mod cluster;
pub mod network;

pub use cluster::{Cluster, NetStats, Slot, TICK_NANOS};
pub use network::{Fate, LinkRule, Network};
