//! The event hub: every thread of an engine sends its events here; one collector thread
//! numbers them in arrival order and hands them to the consumers: a bounded ring for on-screen
//! views, an optional JSON Lines file written as the run goes, and any subscribers.
//!
//! A simulator that forks its run ([`crate::control::Control::fork`]) *rebases* the hub: the
//! stream goes back to an earlier event and continues as another branch. The collector then
//! goes on in that branch's own file, numbers on from where the branch is, replaces its ring
//! with the branch's latest events and ends every subscription (see [`Hub::subscribe`]).

use crate::events::Event;
use crossbeam_channel::{Receiver, Sender, unbounded};
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// What producers send to the collector.
pub(crate) enum HubMsg {
    /// An event to number and hand on.
    Event(Event),
    /// A barrier: answered once everything sent before it is written and flushed.
    Flush(Sender<()>),
    /// The stream goes on as another branch of the run (see the module documentation).
    Rebase(Box<Rebase>),
}

/// A rebase of the hub onto another branch of the run.
pub(crate) struct Rebase {
    /// The branch's event file, already holding its events so far (appended to from now on).
    file: Option<PathBuf>,
    /// The `seq` of the branch's next event.
    next_seq: u64,
    /// The branch's latest events, for the ring.
    recent: Vec<Event>,
    /// Answered once done, or with why the file could not be opened (then nothing changed).
    done: Sender<std::io::Result<()>>,
}

/// The consumers' side of the hub.
pub struct Hub {
    ring: Arc<Mutex<VecDeque<Event>>>,
    subscribers: Arc<Mutex<Vec<Sender<Event>>>>,
    stop: Sender<()>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

/// Starts the collector with the event file at `path` (created, or truncated), if any.
pub(crate) fn open(
    path: Option<&std::path::Path>,
    ring_size: usize,
) -> std::io::Result<(Hub, Sender<HubMsg>)> {
    let file: Option<Box<dyn Write + Send>> = match path {
        Some(path) => Some(Box::new(std::io::BufWriter::new(std::fs::File::create(path)?))),
        None => None,
    };
    Ok(start(file, ring_size))
}

/// Waits until every event sent to `events` before this call is written and flushed, for
/// `timeout` at most. False on timeout.
pub(crate) fn flush(events: &Sender<HubMsg>, timeout: std::time::Duration) -> bool {
    let (done, wait) = crossbeam_channel::bounded(1);
    events.send(HubMsg::Flush(done)).is_ok() && wait.recv_timeout(timeout).is_ok()
}

/// Rebases the hub (see the module documentation) once everything sent before is written,
/// and waits for it, for `timeout` at most.
pub(crate) fn rebase(
    events: &Sender<HubMsg>,
    file: Option<PathBuf>,
    next_seq: u64,
    recent: Vec<Event>,
    timeout: std::time::Duration,
) -> std::io::Result<()> {
    let (done, wait) = crossbeam_channel::bounded(1);
    let msg = HubMsg::Rebase(Box::new(Rebase { file, next_seq, recent, done }));
    events.send(msg).map_err(|_| std::io::Error::other("the event collector has stopped"))?;
    wait.recv_timeout(timeout).map_err(|_| std::io::Error::other("the event collector did not answer"))?
}

/// Writes one event as a line of JSON.
pub(crate) fn write_line(w: &mut dyn Write, event: &Event) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, event).map_err(std::io::Error::other).and_then(|()| w.write_all(b"\n"))
}

/// Starts the collector. `file` receives every event as JSON Lines; `ring_size` bounds the
/// in-memory history. Returns the hub and the sender every producer clones.
pub(crate) fn start(file: Option<Box<dyn Write + Send>>, ring_size: usize) -> (Hub, Sender<HubMsg>) {
    let (tx, rx) = unbounded::<HubMsg>();
    let (stop, stop_rx) = crossbeam_channel::bounded::<()>(1);
    let ring = Arc::new(Mutex::new(VecDeque::with_capacity(ring_size.min(1 << 16))));
    let subscribers: Arc<Mutex<Vec<Sender<Event>>>> = Arc::new(Mutex::new(Vec::new()));
    let thread = {
        let ring = Arc::clone(&ring);
        let subscribers = Arc::clone(&subscribers);
        std::thread::Builder::new()
            .name("events".into())
            .spawn(move || collect(rx, stop_rx, file, ring, ring_size, subscribers))
            .ok()
    };
    (Hub { ring, subscribers, stop, thread }, tx)
}

fn collect(
    rx: Receiver<HubMsg>,
    stop: Receiver<()>,
    mut file: Option<Box<dyn Write + Send>>,
    ring: Arc<Mutex<VecDeque<Event>>>,
    ring_size: usize,
    subscribers: Arc<Mutex<Vec<Sender<Event>>>>,
) -> std::io::Result<()> {
    let mut seq = 0u64;
    let mut result = Ok(());
    let mut stopping = false;
    while !stopping {
        let mut batch = Vec::new();
        crossbeam_channel::select! {
            recv(rx) -> first => match first {
                Ok(first) => batch.push(first),
                Err(_) => stopping = true,
            },
            // Whatever was sent before the stop is still written.
            recv(stop) -> _ => stopping = true,
        }
        batch.extend(rx.try_iter().take(if stopping { usize::MAX } else { 4095 }));
        let mut barriers = Vec::new();
        for msg in batch {
            let mut event = match msg {
                HubMsg::Event(event) => event,
                HubMsg::Flush(done) => {
                    barriers.push(done);
                    continue;
                }
                HubMsg::Rebase(rebase) => {
                    let opened = open_branch(rebase.file.as_deref(), &mut file, &mut result);
                    if opened.is_ok() {
                        seq = rebase.next_seq;
                        rebase_views(&ring, ring_size, &subscribers, rebase.recent);
                    }
                    let _ = rebase.done.send(opened);
                    continue;
                }
            };
            event.seq = seq;
            seq += 1;
            if let Some(w) = file.as_mut()
                && result.is_ok()
            {
                result = write_line(w, &event);
            }
            hand_on(event, &ring, ring_size, &subscribers);
        }
        // Flushed whenever the queue runs dry: a killed run leaves everything up to then.
        if let Some(w) = file.as_mut()
            && result.is_ok()
        {
            result = w.flush();
        }
        for done in barriers {
            let _ = done.send(());
        }
    }
    result
}

/// Hands a numbered event to every subscriber and to the ring.
fn hand_on(
    event: Event,
    ring: &Mutex<VecDeque<Event>>,
    ring_size: usize,
    subscribers: &Mutex<Vec<Sender<Event>>>,
) {
    {
        let mut subs = subscribers.lock().unwrap_or_else(PoisonError::into_inner);
        subs.retain(|s| s.send(event.clone()).is_ok());
    }
    let mut ring = ring.lock().unwrap_or_else(PoisonError::into_inner);
    if ring.len() >= ring_size {
        ring.pop_front();
    }
    ring.push_back(event);
}

/// Flushes the current event file and opens the branch's, to append to, in its place; nothing
/// changes if it cannot be opened.
fn open_branch(
    path: Option<&std::path::Path>,
    file: &mut Option<Box<dyn Write + Send>>,
    result: &mut std::io::Result<()>,
) -> std::io::Result<()> {
    let next: Option<Box<dyn Write + Send>> = match path {
        Some(path) => {
            let f = std::fs::OpenOptions::new().append(true).create(true).open(path)?;
            Some(Box::new(std::io::BufWriter::new(f)))
        }
        None => None,
    };
    if let Some(w) = file.as_mut()
        && result.is_ok()
    {
        *result = w.flush();
    }
    *file = next;
    Ok(())
}

/// The ring holds the branch's latest events, and every subscription ends (a subscriber
/// subscribes again: [`Hub::subscribe`]).
fn rebase_views(
    ring: &Mutex<VecDeque<Event>>,
    ring_size: usize,
    subscribers: &Mutex<Vec<Sender<Event>>>,
    recent: Vec<Event>,
) {
    subscribers.lock().unwrap_or_else(PoisonError::into_inner).clear();
    let mut ring = ring.lock().unwrap_or_else(PoisonError::into_inner);
    ring.clear();
    let skip = recent.len().saturating_sub(ring_size);
    ring.extend(recent.into_iter().skip(skip));
}

impl Hub {
    /// The most recent events, oldest first.
    pub fn recent(&self, max: usize) -> Vec<Event> {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.iter().skip(ring.len().saturating_sub(max)).cloned().collect()
    }

    /// A channel that receives every event from now on. It disconnects when the hub stops, and
    /// when it is rebased onto another branch of the run (a fork): the subscriber then
    /// subscribes again and reads [`Hub::recent`] for the branch's latest events.
    pub fn subscribe(&self) -> Receiver<Event> {
        let (tx, rx) = unbounded();
        self.subscribers.lock().unwrap_or_else(PoisonError::into_inner).push(tx);
        rx
    }

    /// Stops the collector once it has written everything sent so far, waits for it, and
    /// reports a write error.
    pub fn finish(&mut self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("the event collector panicked")),
            None => Ok(()),
        }
    }
}
