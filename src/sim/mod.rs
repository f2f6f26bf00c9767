//! The single-threaded deterministic driver: real cores, virtual time, a seeded network, a
//! nemesis that injects faults, simulated clients that record a history, and safety checks
//! after every step. `quorum sim` runs it.

pub mod cluster;
pub mod invariants;
pub mod nemesis;
pub mod run;
pub mod workload;

pub use cluster::{Cluster, NetStats, Slot, TICK_NANOS};
pub use nemesis::{Fault, FaultSet};
pub use crate::network::{Fate, LinkRule, Network};
pub use run::{SimOptions, SimReport, Sinks, run};
