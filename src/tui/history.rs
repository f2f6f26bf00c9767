//! The history view's state: where it stands in the session's [`Timeline`] (or a replayed
//! file's), the [`Scene`] the events rebuild there, and the [`ScreenState`] drawn from that
//! scene with the console's own widgets, so the past looks like the present did.
//!
//! The scene and the screen are rebuilt only when the cursor moves, never per frame: a step
//! forward reads the events in between from the scene at hand, a step back (or a long jump)
//! starts from the timeline's nearest checkpoint. What the events do not tell (election timers,
//! a leader's replication progress, which copies a held network keeps, the checker's verdict)
//! is not shown as if it were known: the screen says it is not in the events.

use super::feed::{Category, FEED_CAPACITY, Feed, HEARTBEAT_CAPACITY, Rates, category};
use super::screen::{ClientLine, ClientOutcome, HistoryView, Lower, Mark, Mode, ScreenState, VerdictView};
use super::{FRAME, app::CLIENT_LINES};
use crate::control::{NodeStatus, RunState};
use crate::events::{Event, EventKind, Outcome};
use crate::raft::NodeId;
use crate::replay::ClientOp;
use crate::replay::{Scene, Timeline};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A move forward of at most this many events reads them from the scene at hand; a longer one
/// (or any move back) starts from a checkpoint.
const FORWARD: usize = 4096;
/// Events read back from the cursor to fill the feed.
const FEED_SCAN: usize = 50_000;
/// Events read back from the cursor to count the messages per second per link.
const RATE_SCAN: usize = 100_000;
/// The play speeds `+` and `-` step through: seconds of the run per second.
pub const PLAY_SPEEDS: [f64; 10] = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];

/// The history view: a cursor in a timeline and the screen at it.
#[derive(Clone, Debug)]
pub struct History {
    at: usize,
    scene: Scene,
    view: HistoryView,
    screen: ScreenState,
    members: Vec<NodeId>,
    /// While playing: when play started (or its speed last changed) and the run's time then.
    play: Option<(Instant, u64)>,
}

impl History {
    /// The view at position `at` of `timeline` (the state after its first `at` events).
    /// `template` gives what is not rebuilt (the selected node, the feed's filters, the
    /// storage's words); `replay` names the file replayed, if it is a replay.
    pub fn open(timeline: &Timeline, at: usize, template: &ScreenState, replay: Option<String>) -> History {
        let at = at.min(timeline.len());
        let mut screen = template.clone();
        screen.mode = Mode::History;
        screen.notice = None;
        screen.show_flight = true;
        screen.clients_scroll = 0;
        screen.feed = Feed { kind: template.feed.kind, node: template.feed.node, ..Feed::default() };
        let view = HistoryView {
            at,
            total: timeline.len(),
            time: 0,
            seq: None,
            newest: None,
            mark: Mark::Election,
            lower: Lower::Feed,
            replay,
            playing: false,
            play_speed: 1.0,
            window: Arc::default(),
            ops: Arc::default(),
        };
        let members = template.members();
        let mut h = History { at, scene: timeline.scene_at(at), view, screen, members, play: None };
        h.refresh(timeline);
        h
    }

    /// Where it stands: the number of events applied.
    pub fn at(&self) -> usize {
        self.at
    }

    /// What it shows.
    pub fn view(&self) -> &HistoryView {
        &self.view
    }

    /// The scene at the cursor.
    pub fn scene(&self) -> &Scene {
        &self.scene
    }

    /// The screen at the cursor.
    pub fn screen(&self) -> &ScreenState {
        &self.screen
    }

    /// The screen at the cursor, to change what is not rebuilt (mode, notice, selection).
    pub fn screen_mut(&mut self) -> &mut ScreenState {
        &mut self.screen
    }

    /// Moves the cursor to position `at` (capped at the newest event). Returns whether it moved.
    pub fn move_to(&mut self, timeline: &Timeline, at: usize) -> bool {
        let at = at.min(timeline.len());
        if at == self.at {
            return false;
        }
        if at > self.at && at - self.at <= FORWARD {
            for e in &timeline.events()[self.at..at] {
                self.scene.observe(e);
            }
        } else {
            self.scene = timeline.scene_at(at);
        }
        self.at = at;
        self.refresh(timeline);
        true
    }

    /// The timeline grew (the cluster runs on behind the view): only the total changes.
    pub fn grown(&mut self, timeline: &Timeline) {
        self.view.total = timeline.len();
        self.view.newest = timeline.events().last().map(|e| e.seq);
        self.screen.history = Some(self.view.clone());
    }

    /// Changes the kind of event `n` and `N` jump to, or the lower panel.
    pub fn set(&mut self, timeline: &Timeline, mark: Mark, lower: Lower) {
        self.view.mark = mark;
        self.view.lower = lower;
        self.refresh(timeline);
    }

    /// Whether it is playing.
    pub fn playing(&self) -> bool {
        self.play.is_some()
    }

    /// Plays from the cursor, or pauses. Returns false if there is nothing left to play.
    pub fn toggle_play(&mut self, timeline: &Timeline, now: Instant) -> bool {
        if self.play.take().is_none() {
            if self.at >= timeline.len() {
                return false;
            }
            self.play = Some((now, self.run_time(timeline, now)));
        }
        self.view.playing = self.play.is_some();
        self.screen.history = Some(self.view.clone());
        true
    }

    /// Sets the play speed (playing on from where it is).
    pub fn set_speed(&mut self, timeline: &Timeline, speed: f64, now: Instant) {
        if self.play.is_some() {
            self.play = Some((now, self.run_time(timeline, now)));
        }
        self.view.play_speed = speed;
        self.screen.history = Some(self.view.clone());
    }

    /// The run's time that play has reached at `now` (the cursor's event's, when not playing).
    fn run_time(&self, timeline: &Timeline, now: Instant) -> u64 {
        match self.play {
            Some((wall, from)) => {
                let elapsed = now.saturating_duration_since(wall).as_secs_f64();
                from.saturating_add((elapsed * self.view.play_speed * 1e9) as u64)
            }
            None => last_time(timeline.events(), self.at),
        }
    }

    /// While playing, moves the cursor over the events whose time has come; returns when to
    /// look again. Play stops at the newest event.
    pub fn tick(&mut self, timeline: &Timeline, now: Instant) -> Option<Instant> {
        self.play?;
        let target = self.run_time(timeline, now);
        let events = timeline.events();
        let mut at = self.at;
        while at < events.len() && events[at].time <= target {
            at += 1;
        }
        self.move_to(timeline, at);
        if self.at >= events.len() {
            self.play = None;
            self.view.playing = false;
            self.screen.history = Some(self.view.clone());
            return None;
        }
        // The next event's time, if it comes before the next frame's.
        let wait = (events[self.at].time - target) as f64 / (self.view.play_speed * 1e9);
        Some(now + Duration::from_secs_f64(wait.min(1.0)).max(FRAME))
    }

    /// Draws the screen from the scene at the cursor.
    fn refresh(&mut self, timeline: &Timeline) {
        let events = timeline.events();
        self.view.at = self.at;
        self.view.total = timeline.len();
        self.view.newest = events.last().map(|e| e.seq);
        self.view.time = last_time(events, self.at);
        self.view.seq = self.at.checked_sub(1).and_then(|i| events.get(i)).map(|e| e.seq);
        let s = &mut self.screen;
        let scene = &self.scene;
        s.nodes = statuses(scene, &self.members);
        s.network = scene.network.clone();
        s.rates = rates_at(events, self.at, scene.now);
        s.feed = feed_at(events, self.at, &s.feed);
        s.clients = client_lines(scene);
        s.verdict =
            VerdictView::Unknown { reason: "the checker's verdict is not rebuilt from the events".into() };
        s.safety = scene.safety().clone();
        s.speed = scene.speed.unwrap_or(1.0);
        s.frozen = scene.frozen;
        s.flight = scene.in_flight.clone();
        s.held = Vec::new();
        s.now = scene.now;
        s.switches = scene.switches;
        let (window, ops) = match self.view.lower {
            Lower::Feed => (Vec::new(), Vec::new()),
            _ => drawn(timeline, self.at, self.view.time),
        };
        self.view.window = Arc::new(window);
        self.view.ops = Arc::new(ops);
        s.history = Some(self.view.clone());
    }
}

/// Events the space-time diagram may draw (the last ones up to the cursor).
const WINDOW: usize = 2_000;
/// Client operations the timeline may draw (the latest invoked by the cursor's time).
const OPS: usize = 500;

/// What the space-time diagram and the client timeline draw at position `at` (time `time`).
fn drawn(timeline: &Timeline, at: usize, time: u64) -> (Vec<Event>, Vec<ClientOp>) {
    let events = timeline.events();
    let window = events[at.saturating_sub(WINDOW)..at.min(events.len())].to_vec();
    let invoked: Vec<&ClientOp> =
        timeline.head().clients.iter().filter(|op| op.record.invoked <= time).collect();
    let ops = invoked[invoked.len().saturating_sub(OPS)..].iter().map(|&op| op.clone()).collect();
    (window, ops)
}

/// The members a log's events speak of: its start event's, else every node seen.
pub fn members_of(timeline: &Timeline) -> Vec<NodeId> {
    match &timeline.head().start {
        Some(start) => start.nodes.clone(),
        None => timeline.head().nodes.keys().copied().collect(),
    }
}

/// The time of the last of the first `at` events (0 before any).
fn last_time(events: &[Event], at: usize) -> u64 {
    at.checked_sub(1).and_then(|i| events.get(i)).map_or(0, |e| e.time)
}

/// Every member's status at the scene: a node the events have not told of yet is starting.
fn statuses(scene: &Scene, members: &[NodeId]) -> Vec<NodeStatus> {
    let mut ids: Vec<NodeId> = members.to_vec();
    ids.extend(scene.nodes.keys().filter(|id| !members.contains(id)));
    ids.sort();
    ids.into_iter()
        .map(|id| match scene.nodes.get(&id) {
            Some(node) => node.status(),
            None => NodeStatus::unknown(id, RunState::Running),
        })
        .collect()
}

/// The feed up to position `at`, its last event highlighted (shown whatever the filters, a
/// delivery or a heartbeat included); the filters are `template`'s.
fn feed_at(events: &[Event], at: usize, template: &Feed) -> Feed {
    let mut feed = Feed { kind: template.kind, node: template.node, ..Feed::default() };
    let start = at.saturating_sub(FEED_SCAN);
    let cursor = at.checked_sub(1).and_then(|i| events.get(i));
    feed.highlight = cursor.map(|e| e.seq);
    for e in events[start..at].iter().rev() {
        let heartbeat = category(e) == Category::Heartbeat;
        let mine = Some(e.seq) == feed.highlight;
        if heartbeat && feed.heartbeats.len() < HEARTBEAT_CAPACITY {
            feed.heartbeats.push_front(e.clone());
        }
        let shown = mine || (!heartbeat && !matches!(e.kind, EventKind::Deliver { .. }));
        if shown && feed.events.len() < FEED_CAPACITY {
            feed.events.push_front(e.clone());
        }
        if feed.events.len() >= FEED_CAPACITY && feed.heartbeats.len() >= HEARTBEAT_CAPACITY {
            break;
        }
    }
    feed
}

/// Messages per second per link over the rate window ending at `now`, from the sends before
/// position `at`.
fn rates_at(events: &[Event], at: usize, now: u64) -> std::collections::BTreeMap<(NodeId, NodeId), f64> {
    let from = now.saturating_sub(super::feed::RATE_WINDOW);
    let start = at.saturating_sub(RATE_SCAN);
    let first = start + events[start..at].partition_point(|e| e.time < from);
    let mut rates = Rates::default();
    for e in &events[first..at] {
        rates.observe(e);
    }
    rates.per_link(now)
}

/// The clients panel's lines: the operations that returned, as their `client` events tell.
pub(crate) fn client_lines(scene: &Scene) -> VecDeque<ClientLine> {
    let skip = scene.clients.len().saturating_sub(CLIENT_LINES);
    scene
        .clients
        .from(skip)
        .enumerate()
        .map(|(i, c)| {
            let r = &c.record;
            let result = match r.outcome {
                Outcome::Ok => Ok(r.value.clone()),
                Outcome::Failed | Outcome::Unknown => Err(r.error.clone().unwrap_or_else(|| "failed".into())),
            };
            let outcome = ClientOutcome {
                id: r.id,
                result,
                definite: r.outcome != Outcome::Unknown,
                latency: Duration::from_nanos(c.returned.saturating_sub(r.invoked)),
                // What an external client was answered, as the live panel showed it.
                reply: r.answered.as_ref().map(|a| format!("(error) {a}")),
            };
            ClientLine {
                op: (skip + i + 1) as u64,
                via: r.via,
                request: r.op.clone(),
                outcome: Some(outcome),
                conn: r.conn.clone(),
            }
        })
        .collect()
}
