//! Tests of the console without a terminal: key handling, the engine against a fake cluster,
//! and rendering snapshots of a seeded simulation.

mod app;
mod cells;
mod draw;
mod engine;
mod history;
mod render;
mod safety;
