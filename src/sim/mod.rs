//! The single-threaded deterministic driver: real cores, virtual time, a seeded network, a
//! nemesis that injects faults, simulated clients that record a history, and safety checks
//! after every step. `quorum sim` runs it.

pub mod branch;
pub mod cluster;
pub mod engine;
pub mod invariants;
pub mod run;
pub mod workload;

pub use branch::{Input, Logged};
pub use cluster::{Cluster, NetStats, Slot, TICK_NANOS};
pub use engine::{Clock, EngineOptions, SimEngine, World, WorldFactory};
pub use run::{SimOptions, SimReport, Sinks, WorldSpec, run, world};
