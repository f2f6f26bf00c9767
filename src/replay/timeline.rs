//! A run's events with the means to stand at any of them: [`Timeline::scene_at`] rebuilds the
//! [`Scene`] after event `k` by starting from the nearest checkpoint before it and reading the
//! events in between. Checkpoints are taken as events arrive, every `spacing` events; when there
//! are more than [`MAX_CHECKPOINTS`], every other one is dropped and the spacing doubles, so
//! memory stays bounded (a few dozen scenes) and a jump anywhere reads at most `spacing` events.

use super::scene::Scene;
use crate::events::{Event, EventKind, NodeEventKind};
use crate::raft::Role;

/// Most checkpoints kept.
pub const MAX_CHECKPOINTS: usize = 64;
/// The first spacing between checkpoints, in events.
const FIRST_SPACING: usize = 1024;

/// Kinds of event the history view can jump to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// A node became leader.
    Election,
    /// A node's commit index advanced.
    Commit,
    /// A fault or repair, a crash or a restart.
    Fault,
    /// A client operation returned.
    Client,
}

impl Mark {
    /// Every kind, in the order a key cycles through them.
    pub const ALL: [Mark; 4] = [Mark::Election, Mark::Commit, Mark::Fault, Mark::Client];

    /// Its name, for the header.
    pub fn name(self) -> &'static str {
        match self {
            Mark::Election => "election",
            Mark::Commit => "commit",
            Mark::Fault => "fault",
            Mark::Client => "client operation",
        }
    }

    /// Whether `event` is of this kind.
    pub fn matches(self, event: &Event) -> bool {
        match (self, &event.kind) {
            (Mark::Election, EventKind::Node(NodeEventKind::Role { role, .. })) => *role == Role::Leader,
            (Mark::Commit, EventKind::Node(NodeEventKind::Commit { .. })) => true,
            (Mark::Fault, EventKind::Fault { change, .. }) => change.is_some(),
            (Mark::Fault, EventKind::Crash | EventKind::Restart { .. }) => true,
            (Mark::Client, EventKind::Client { .. }) => true,
            _ => false,
        }
    }
}

/// The events of one run, and checkpoints to stand anywhere in them.
#[derive(Clone, Debug)]
pub struct Timeline {
    events: Vec<Event>,
    /// `(n, scene after the first n events)`, n ascending, the first at 0.
    checkpoints: Vec<(usize, Scene)>,
    /// The scene after every event so far.
    head: Scene,
    spacing: usize,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new()
    }
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Self {
        Timeline {
            events: Vec::new(),
            checkpoints: vec![(0, Scene::new())],
            head: Scene::new(),
            spacing: FIRST_SPACING,
        }
    }

    /// A timeline of these events.
    pub fn of(events: Vec<Event>) -> Self {
        let mut t = Timeline::new();
        t.events.reserve(events.len());
        for e in events {
            t.push(e);
        }
        t
    }

    /// Adds the next event.
    pub fn push(&mut self, event: Event) {
        self.head.observe(&event);
        self.events.push(event);
        let n = self.events.len();
        if n.is_multiple_of(self.spacing) {
            self.checkpoints.push((n, self.head.clone()));
            if self.checkpoints.len() > MAX_CHECKPOINTS {
                self.spacing *= 2;
                let spacing = self.spacing;
                self.checkpoints.retain(|(at, _)| at.is_multiple_of(spacing));
            }
        }
    }

    /// Keeps only the first `n` events (a branch forked from this run shares them).
    pub fn truncate(&mut self, n: usize) {
        if n >= self.events.len() {
            return;
        }
        self.head = self.scene_at(n);
        self.events.truncate(n);
        self.checkpoints.retain(|(at, _)| *at <= n);
    }

    /// How many events it holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Every event, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The scene after every event.
    pub fn head(&self) -> &Scene {
        &self.head
    }

    /// The scene after the first `n` events (`n` is capped at the length).
    pub fn scene_at(&self, n: usize) -> Scene {
        let n = n.min(self.events.len());
        if n == self.events.len() {
            return self.head.clone();
        }
        let i = self.checkpoints.partition_point(|(at, _)| *at <= n).saturating_sub(1);
        let (at, scene) = &self.checkpoints[i];
        let mut scene = scene.clone();
        for e in &self.events[*at..n] {
            scene.observe(e);
        }
        scene
    }

    /// The position just after the next event of kind `mark` after position `n` (the scene
    /// then shows that event's effect), if there is one.
    pub fn next_mark(&self, n: usize, mark: Mark) -> Option<usize> {
        self.events.get(n..)?.iter().position(|e| mark.matches(e)).map(|i| n + i + 1)
    }

    /// The position just after the previous event of kind `mark` before position `n`.
    pub fn previous_mark(&self, n: usize, mark: Mark) -> Option<usize> {
        let before = n.saturating_sub(1).min(self.events.len());
        self.events[..before].iter().rposition(|e| mark.matches(e)).map(|i| i + 1)
    }

    /// How many checkpoints it keeps.
    pub fn checkpoints(&self) -> usize {
        self.checkpoints.len()
    }
}
