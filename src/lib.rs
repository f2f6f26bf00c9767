//! quorum: a whole Raft-replicated key-value cluster in one process.
//!
//! Module map:
//! - [`raft`]: the pure, deterministic consensus core (no threads, clocks, channels, files).
//! - [`kv`]: the deterministic key-value state machine with client sessions.
//! - [`storage`]: the durable-state trait and its in-memory implementation.
//! - [`events`]: the one closed event type, shared by every driver and the JSON export.
//! - [`safety`]: Raft's safety properties (paper Figure 3), checked from the event stream alone;
//!   the simulator's checks and the console's.
//! - [`network`]: the network's fault model (partitions, cuts, loss, delay, duplication), shared
//!   by both engines.
//! - [`nemesis`]: the fault injector, driving either engine through [`control::Control`].
//! - [`sim`]: the deterministic simulator that drives the core under seeded faults.
//! - [`control`]: the one control interface both engines implement, and what they share
//!   (node status, client sessions, the event hub).
//! - [`cluster`]: the live cluster: a thread per node, channels as the network, files on disk.
//! - [`tui`]: the console: a ratatui dashboard to watch, drive and break the live cluster.
//! - [`check`]: the linearizability checker for recorded client histories.
//! - [`resp`]: every node speaks the Redis protocol, for real clients (`redis-cli`, libraries).
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod check;
pub mod cluster;
pub mod control;
pub mod events;
pub mod kv;
pub mod lesson;
pub mod nemesis;
pub mod network;
pub mod raft;
pub mod replay;
pub mod resp;
pub mod safety;
pub mod sim;
pub mod storage;
pub mod tui;
