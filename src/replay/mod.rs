//! Going back in time: the state of every panel at any past event, rebuilt from the event log
//! alone. [`scene`] folds events into the cluster's state, [`timeline`] stands at any event of
//! a run (with checkpoints), [`read`] reads an exported log back with clear errors.

pub mod chunks;
pub mod read;
pub mod scene;
pub mod svg;
pub mod timeline;

pub use chunks::Chunks;
pub use read::{Log, ReadError, read_file};
pub use scene::{ClientOp, Machine, NodeScene, Scene, SceneEntry};
pub use timeline::{Mark, Timeline};
