//! Forking a simulated run: the input log, re-execution and branches.
//!
//! Everything done to a [`World`] from outside its own stepping is an [`Input`] (a client
//! request, a kill, a network change, a held message delivered by hand, an event the console
//! writes, ...). [`World::apply`] performs it and logs it ([`Logged`]) with the virtual time,
//! the number of steps that had run something (the world's *moments*) and the number of
//! events emitted before it. The world is deterministic, so the same seed and the same inputs
//! at the same moments give the same run: [`reexecute`] rebuilds the world from its factory and
//! replays the log, running the world's own steps between inputs, and checks at every input
//! that the event count is the one recorded (and, for a fork, that every event the hub still
//! holds is equal). A mismatch is [`ControlError::Diverged`]: a fork never silently starts
//! from a different past.
//!
//! [`Forks`] keeps the branches of one engine: each is its input log and where it ended; only
//! the current branch has a world. A fork re-executes the current branch up to an event and
//! goes live from there as a new branch; a switch re-executes a kept branch to where it was
//! left.

use super::engine::{SimEngine, World, WorldFactory};
use crate::control::hub;
use crate::control::{Bookmark, Branch, Control, ControlError, Fork};
use crate::events::{Event, EventKind};
use crate::kv::Request;
use crate::network::{HeldAction, Network};
use crate::raft::{NodeId, Switches};
use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Why an engine cannot fork.
pub(crate) const NOT_FORKABLE: &str = "this simulator was not started from a seed it can re-execute";
/// How many branches an engine keeps (the first, the original run, is never forgotten).
pub const MAX_BRANCHES: usize = 16;

/// One change to the world from outside its own stepping.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A client request handed to a node (every client's traffic, whatever its thread).
    Submit {
        /// The node.
        node: NodeId,
        /// The request.
        request: Request,
    },
    /// A node killed.
    Kill(NodeId),
    /// A node restarted.
    Restart(NodeId),
    /// A node paused.
    Pause(NodeId),
    /// A node resumed.
    Resume(NodeId),
    /// A node made to campaign.
    Campaign(NodeId),
    /// The leader asked to transfer its leadership (thesis §3.10).
    Transfer {
        /// The leader asked (as the engine judged it when the input came).
        leader: NodeId,
        /// The node it should hand over to.
        target: NodeId,
    },
    /// The network's fault settings, as they became.
    Network(Network),
    /// A held message delivered, dropped or duplicated by hand.
    Held {
        /// The message (the oldest held if `None`).
        id: Option<u64>,
        /// What was done.
        action: HeldAction,
    },
    /// Every held message delivered.
    ReleaseHeld,
    /// The protocol's switches changed.
    Switches(Switches),
    /// An event written by whoever gives orders (the console, the nemesis): it takes a `seq`.
    Record {
        /// Its node, if any.
        node: Option<NodeId>,
        /// The event.
        kind: EventKind,
    },
}

impl Input {
    /// The input's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Input::Submit { .. } => "client request",
            Input::Kill(_) => "kill",
            Input::Restart(_) => "restart",
            Input::Pause(_) => "pause",
            Input::Resume(_) => "resume",
            Input::Campaign(_) => "campaign",
            Input::Transfer { .. } => "leadership transfer",
            Input::Network(_) => "network change",
            Input::Held { .. } => "held message",
            Input::ReleaseHeld => "release of held messages",
            Input::Switches(_) => "switches",
            Input::Record { .. } => "recorded event",
        }
    }
}

/// An input as it was applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Logged {
    /// The virtual time (ns).
    pub at: u64,
    /// How many steps had run something before it ([`World::moments`]).
    pub moment: u64,
    /// How many events had been emitted before it.
    pub events: u64,
    /// The input.
    pub input: Input,
}

/// Where a re-execution ends: a branch's end, as recorded, and for a fork the event after
/// which to stop.
pub(crate) struct Until {
    /// The branch's moments at its end.
    pub moments: u64,
    /// The branch's virtual time at its end.
    pub now: u64,
    /// The branch's event count at its end.
    pub events: u64,
    /// Stop at the end of the step or input that emits this event (`None`: at the branch's end).
    pub after_event: Option<u64>,
}

/// Rebuilds the world with `factory` and replays `log` until `until`, handing every event to
/// `sink` in order. An error says where the re-execution parted from the recording.
pub(crate) fn reexecute(
    factory: &WorldFactory,
    log: &[Logged],
    until: &Until,
    sink: &mut dyn FnMut(Vec<Event>) -> Result<(), String>,
) -> Result<World, String> {
    let mut world = factory();
    let mut next = 0;
    loop {
        sink(world.cluster.take_events())?;
        // Nobody waits for answers in a re-execution: the clients' next requests are inputs.
        world.cluster.take_replies();
        if until.after_event.is_some_and(|k| world.cluster.event_count() > k) {
            return Ok(world);
        }
        match log.get(next) {
            Some(logged) if world.moments() >= logged.moment => {
                replay(&mut world, next, logged)?;
                next += 1;
            }
            None if world.moments() >= until.moments => break,
            pending => step(&mut world, pending)?,
        }
    }
    if let Some(k) = until.after_event {
        return Err(format!(
            "the branch ended after {} events, before event {k}",
            world.cluster.event_count()
        ));
    }
    world.cluster.set_now(until.now);
    if world.cluster.event_count() != until.events {
        return Err(format!(
            "the branch had {} events when it was left, its re-execution {}",
            until.events,
            world.cluster.event_count()
        ));
    }
    Ok(world)
}

/// Runs the world's next step, which came before the `pending` input, if any.
fn step(world: &mut World, pending: Option<&Logged>) -> Result<(), String> {
    let t = world.next_time();
    if let Some(logged) = pending
        && t > logged.at
    {
        return Err(format!(
            "the world's next step is at {t} ns, after the {} recorded at {} ns",
            logged.input.name(),
            logged.at
        ));
    }
    let before = world.moments();
    world.step(t);
    if world.moments() == before {
        return Err(format!("the step at {t} ns ran nothing"));
    }
    Ok(())
}

/// Applies input `i` of the log after checking that the world is where it was then.
fn replay(world: &mut World, i: usize, logged: &Logged) -> Result<(), String> {
    let name = logged.input.name();
    if world.moments() != logged.moment || world.cluster.now() > logged.at {
        return Err(format!(
            "input {i} ({name}) came after {} steps at {} ns; the re-execution is at {} steps, {} ns",
            logged.moment,
            logged.at,
            world.moments(),
            world.cluster.now()
        ));
    }
    world.cluster.set_now(logged.at);
    let events = world.cluster.event_count();
    if events != logged.events {
        return Err(format!(
            "input {i} ({name} at {} ns) came after {} events; the re-execution had {events}",
            logged.at, logged.events
        ));
    }
    world.apply(logged.input.clone());
    Ok(())
}

/// Where re-executed events go: the branch's event file (written aside, then put in place),
/// its latest events for the hub's ring, and a comparison with the events recorded before.
struct Sink {
    file: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
    recent: VecDeque<Event>,
    ring: usize,
    /// Events recorded before (by `seq`); each re-executed event of the same `seq` must equal it.
    expected: VecDeque<Event>,
}

impl Sink {
    fn new(file: Option<&Path>, ring: usize, expected: Vec<Event>) -> std::io::Result<Sink> {
        let file = match file {
            Some(path) => {
                let partial = partial(path);
                let f = std::fs::File::create(&partial)?;
                Some((partial, std::io::BufWriter::new(f)))
            }
            None => None,
        };
        Ok(Sink { file, recent: VecDeque::new(), ring, expected: expected.into() })
    }

    fn take(&mut self, events: Vec<Event>) -> Result<(), String> {
        for event in events {
            while self.expected.front().is_some_and(|e| e.seq < event.seq) {
                self.expected.pop_front();
            }
            if let Some(recorded) = self.expected.front()
                && recorded.seq == event.seq
                && *recorded != event
            {
                return Err(format!("event {} was `{recorded}`, re-executed `{event}`", event.seq));
            }
            if let Some((_, w)) = self.file.as_mut() {
                hub::write_line(w, &event).map_err(|e| format!("writing the branch's events: {e}"))?;
            }
            if self.recent.len() >= self.ring {
                self.recent.pop_front();
            }
            self.recent.push_back(event);
        }
        Ok(())
    }

    /// Puts the branch's event file in place at `path`; returns the latest events.
    fn finish(self, path: Option<&Path>) -> std::io::Result<Vec<Event>> {
        if let (Some((partial, mut w)), Some(path)) = (self.file, path) {
            w.flush()?;
            std::fs::rename(partial, path)?;
        }
        Ok(self.recent.into())
    }

    /// Removes the file written aside (the re-execution failed).
    fn abandon(self) {
        if let Some((partial, w)) = self.file {
            drop(w);
            let _ = std::fs::remove_file(partial);
        }
    }
}

fn partial(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// A branch not running now: its inputs and where it was left.
struct Kept {
    number: u32,
    parent: Option<(u32, u64)>,
    log: Vec<Logged>,
    moments: u64,
    now: u64,
    events: u64,
}

/// The branches of an engine.
struct Branches {
    /// The number and parent of the branch running now.
    current: (u32, Option<(u32, u64)>),
    next: u32,
    /// The others, oldest first.
    kept: Vec<Kept>,
}

/// How many bookmarks an engine keeps (the oldest go first).
pub const MAX_BOOKMARKS: usize = 1024;

/// A place to come back to ([`Control::bookmark`]): the branch's inputs so far and where it
/// was, and the nonce counter (what re-execution does not rebuild).
struct Saved {
    id: u64,
    branch: u32,
    log: Vec<Logged>,
    moments: u64,
    now: u64,
    events: u64,
    nonce: u64,
}

/// What an engine needs to fork: how to rebuild its world, where its events go, and its
/// branches (see the module documentation).
pub(crate) struct Forks {
    factory: WorldFactory,
    events_file: Option<PathBuf>,
    ring: usize,
    /// Also keeps two forks or switches from running at once.
    branches: Mutex<Branches>,
    /// The bookmarks, oldest first, and the next one's id.
    bookmarks: Mutex<(VecDeque<Saved>, u64)>,
}

impl Forks {
    /// The branches of an engine whose world `factory` builds; branch 1 is running.
    pub(crate) fn new(factory: WorldFactory, events_file: Option<PathBuf>, ring: usize) -> Forks {
        let branches = Branches { current: (1, None), next: 2, kept: Vec::new() };
        Forks { factory, events_file, ring, branches: Mutex::new(branches), bookmarks: Mutex::default() }
    }

    /// [`Control::bookmark`] on `engine`.
    pub(crate) fn bookmark(&self, engine: &SimEngine) -> Bookmark {
        let branch = self.branches.lock().unwrap_or_else(PoisonError::into_inner).current.0;
        let mut marks = self.bookmarks.lock().unwrap_or_else(PoisonError::into_inner);
        let world = engine.world();
        let id = marks.1;
        marks.1 += 1;
        let saved = Saved {
            id,
            branch,
            log: world.inputs().to_vec(),
            moments: world.moments(),
            now: world.cluster.now(),
            events: world.cluster.event_count(),
            nonce: world.nonce(),
        };
        let bookmark = Bookmark { id, branch, events: saved.events, now: saved.now };
        if marks.0.len() >= MAX_BOOKMARKS {
            marks.0.pop_front();
        }
        marks.0.push_back(saved);
        bookmark
    }

    /// [`Control::rewind`] on `engine`: re-executes the bookmark's inputs to where it was and
    /// installs that world as the current branch, keeping nothing of the one it replaces.
    pub(crate) fn rewind(&self, engine: &SimEngine, bookmark: &Bookmark) -> Result<Fork, ControlError> {
        let branches = self.branches.lock().unwrap_or_else(PoisonError::into_inner);
        let number = branches.current.0;
        let (log, until, nonce) = {
            let marks = self.bookmarks.lock().unwrap_or_else(PoisonError::into_inner);
            let saved =
                marks.0.iter().find(|m| m.id == bookmark.id).ok_or(ControlError::Unsupported(
                    "that bookmark is forgotten (only the latest are kept)",
                ))?;
            if saved.branch != number {
                return Err(ControlError::NoSuchBranch(saved.branch));
            }
            let until =
                Until { moments: saved.moments, now: saved.now, events: saved.events, after_event: None };
            (saved.log.clone(), until, saved.nonce)
        };
        let world = self.run(&log, &until, number, Vec::new())?;
        engine.install(world.0, world.1, self.file(number))?;
        engine.world().set_nonce(nonce);
        let branch = self.current(engine, &branches);
        Ok(Fork { after_event: branch.events.saturating_sub(1), branch, left: number })
    }

    /// Branch `number`'s event file: the engine's for branch 1, else `<stem>-branch<n>.<ext>`
    /// beside it.
    fn file(&self, number: u32) -> Option<PathBuf> {
        let path = self.events_file.as_ref()?;
        if number == 1 {
            return Some(path.clone());
        }
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let name = match path.extension() {
            Some(ext) => format!("{stem}-branch{number}.{}", ext.to_string_lossy()),
            None => format!("{stem}-branch{number}"),
        };
        Some(path.with_file_name(name))
    }

    /// [`Control::fork`] on `engine`.
    pub(crate) fn fork(&self, engine: &SimEngine, after_event: u64) -> Result<Fork, ControlError> {
        let mut branches = self.branches.lock().unwrap_or_else(PoisonError::into_inner);
        let (log, until) = {
            let world = engine.world();
            let until = Until {
                moments: world.moments(),
                now: world.cluster.now(),
                events: world.cluster.event_count(),
                after_event: Some(after_event),
            };
            (world.inputs().to_vec(), until)
        };
        if after_event >= until.events {
            return Err(ControlError::NoSuchEvent { asked: after_event, events: until.events });
        }
        let number = branches.next;
        let expected = engine.recent_events(self.ring);
        let world = self.run(&log, &until, number, expected)?;
        let after = world.0.cluster.event_count() - 1;
        let parent = Some((branches.current.0, after));
        let left = self.install(engine, &mut branches, world, (number, parent))?;
        branches.next += 1;
        Ok(Fork { branch: self.current(engine, &branches), left, after_event: after })
    }

    /// [`Control::switch_branch`] on `engine`.
    pub(crate) fn switch(&self, engine: &SimEngine, number: u32) -> Result<Fork, ControlError> {
        let mut branches = self.branches.lock().unwrap_or_else(PoisonError::into_inner);
        if branches.current.0 == number {
            let branch = self.current(engine, &branches);
            let after = branch.events.saturating_sub(1);
            return Ok(Fork { branch, left: number, after_event: after });
        }
        let i = branches
            .kept
            .iter()
            .position(|k| k.number == number)
            .ok_or(ControlError::NoSuchBranch(number))?;
        let kept = &branches.kept[i];
        let until = Until { moments: kept.moments, now: kept.now, events: kept.events, after_event: None };
        let parent = kept.parent;
        let world = self.run(&kept.log, &until, number, Vec::new())?;
        branches.kept.remove(i);
        let left = self.install(engine, &mut branches, world, (number, parent))?;
        let branch = self.current(engine, &branches);
        Ok(Fork { after_event: branch.events.saturating_sub(1), branch, left })
    }

    /// Re-executes `log` until `until` for branch `number`, writing its event file; returns
    /// the world and its latest events (for the hub's ring). Each re-executed event must equal
    /// the event of the same `seq` in `expected`.
    fn run(
        &self,
        log: &[Logged],
        until: &Until,
        number: u32,
        expected: Vec<Event>,
    ) -> Result<(World, Vec<Event>), ControlError> {
        let file = self.file(number);
        let mut sink = Sink::new(file.as_deref(), self.ring, expected)?;
        match reexecute(&self.factory, log, until, &mut |events| sink.take(events)) {
            Ok(world) => {
                let recent = sink.finish(file.as_deref())?;
                Ok((world, recent))
            }
            Err(e) => {
                sink.abandon();
                Err(ControlError::Diverged(e))
            }
        }
    }

    /// Installs `world` (carrying its latest events) as branch `current` and keeps the branch
    /// it replaces; returns that branch's number.
    fn install(
        &self,
        engine: &SimEngine,
        branches: &mut Branches,
        world: (World, Vec<Event>),
        current: (u32, Option<(u32, u64)>),
    ) -> Result<u32, ControlError> {
        let (world, recent) = world;
        let mut old = engine.install(world, recent, self.file(current.0))?;
        let (left, parent) = std::mem::replace(&mut branches.current, current);
        branches.kept.push(Kept {
            number: left,
            parent,
            log: std::mem::take(old.inputs_mut()),
            moments: old.moments(),
            now: old.cluster.now(),
            events: old.cluster.event_count(),
        });
        while branches.kept.len() >= MAX_BRANCHES {
            // The oldest, but never the original run.
            let Some(i) = branches.kept.iter().position(|k| k.number != 1) else { break };
            branches.kept.remove(i);
        }
        Ok(left)
    }

    /// [`Control::branches`] on `engine`.
    pub(crate) fn list(&self, engine: &SimEngine) -> Vec<Branch> {
        let branches = self.branches.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<Branch> = branches
            .kept
            .iter()
            .map(|k| Branch {
                number: k.number,
                parent: k.parent,
                events: k.events,
                now: k.now,
                current: false,
                events_file: self.file(k.number),
            })
            .collect();
        all.push(self.current(engine, &branches));
        all.sort_by_key(|b| b.number);
        all
    }

    fn current(&self, engine: &SimEngine, branches: &Branches) -> Branch {
        let (number, parent) = branches.current;
        let world = engine.world();
        Branch {
            number,
            parent,
            events: world.cluster.event_count(),
            now: world.cluster.now(),
            current: true,
            events_file: self.file(number),
        }
    }
}
