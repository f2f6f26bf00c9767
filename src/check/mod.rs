//! The linearizability checker (being written).
