//! `quorum serve`: the live cluster, headless, serving the Redis protocol on every node until
//! told to stop, for load generators and test harnesses that quorum did not write. The nemesis
//! breaks the cluster meanwhile if asked; every external operation goes to the event log and,
//! if asked, to a client history for `quorum check`.

use super::{ClusterOptions, LiveCluster, NodeFailure, StorageOptions};
use crate::check::history::{HistoryEvent, HistoryHeader, HistoryWriter, Initial};
use crate::control::client::{completion, invocation};
use crate::control::{Answer, Control, OpError};
use crate::nemesis::{FaultSet, Nemesis};
use crate::network::LinkRule;
use crate::resp::{ExternalOp, Observer, RespServer, ServerOptions};
use crossbeam_channel::Receiver;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The cluster.
    pub cluster: ClusterOptions,
    /// Faults to inject until the server stops (healed then).
    pub nemesis: FaultSet,
    /// The protocol endpoints.
    pub server: ServerOptions,
}

/// What a serve did.
#[derive(Clone, Debug)]
pub struct ServeReport {
    /// Operations ok.
    pub ok: usize,
    /// Operations that certainly failed.
    pub fail: usize,
    /// Operations whose outcome is unknown.
    pub info: usize,
    /// Faults injected.
    pub faults: usize,
    /// How long it served.
    pub elapsed: Duration,
    /// Every time a node could not start or stopped on a storage error.
    pub failures: Vec<NodeFailure>,
    /// History lines written, if a history was asked for.
    pub history_lines: Option<usize>,
}

impl ServeReport {
    /// 2 if a node could not start or stopped on an error, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.failures.is_empty() { 0 } else { 2 }
    }

    /// A few lines for the end.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "served {:.1} s: {} ok, {} fail, {} info · faults {}\n",
            self.elapsed.as_secs_f64(),
            self.ok,
            self.fail,
            self.info,
            self.faults
        );
        for f in &self.failures {
            s.push_str(&format!("error: {} {}\n", f.node, f.reason));
        }
        s
    }
}

/// Counts the operations and writes them to the history: each connection is one process (it
/// runs one command at a time).
struct Recorder {
    history: Mutex<Option<HistoryWriter<Box<dyn Write + Send>>>>,
    lines: AtomicUsize,
    error: Mutex<Option<String>>,
    counts: [AtomicUsize; 3],
}

impl Recorder {
    fn write(&self, e: HistoryEvent) {
        let mut h = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = h.as_mut() {
            match w.write_event(&e) {
                Ok(()) => {
                    self.lines.fetch_add(1, Ordering::Relaxed);
                }
                Err(err) => {
                    *self.error.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(format!("cannot write the history: {err}"));
                    *h = None;
                }
            }
        }
    }
}

impl Observer for Recorder {
    fn sent(&self, op: &ExternalOp) {
        if let Some(e) = invocation(op.conn.id, &op.op, op.invoked) {
            self.write(e);
        }
    }

    fn returned(&self, op: &ExternalOp, result: &Result<Answer, OpError>, at: u64) {
        let slot = match result {
            Ok(_) => 0,
            Err(e) if e.definite => 1,
            Err(_) => 2,
        };
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        if let Some(e) = completion(op.conn.id, &op.op, result, at) {
            self.write(e);
        }
    }

    fn notice(&self, text: &str, error: bool) {
        if error {
            eprintln!("error: {text}");
        } else {
            println!("{text}");
        }
    }
}

/// Serves until `stop` receives (or disconnects). `ready` is called once every node listens,
/// with the server (to print where).
pub fn serve(
    options: &ServeOptions,
    history: Option<Box<dyn Write + Send>>,
    ready: impl FnOnce(&RespServer),
    stop: &Receiver<()>,
) -> std::io::Result<ServeReport> {
    let cluster = Arc::new(LiveCluster::start(options.cluster.clone())?);
    let (initial, cluster_id) = match &options.cluster.storage {
        StorageOptions::Disk { dir, .. } => (
            if dir.held_data() { Initial::Unknown } else { Initial::Empty },
            dir.meta().map(|m| m.cluster.clone()),
        ),
        StorageOptions::Memory => (Initial::Empty, None),
    };
    let history = match history {
        Some(w) => {
            let mut w = HistoryWriter::new(w);
            w.write_header(&HistoryHeader { initial, cluster: cluster_id })?;
            Some(w)
        }
        None => None,
    };
    let asked_history = history.is_some();
    let recorder = Arc::new(Recorder {
        history: Mutex::new(history),
        lines: AtomicUsize::new(0),
        error: Mutex::new(None),
        counts: Default::default(),
    });
    let server = RespServer::start(
        Arc::clone(&cluster) as Arc<dyn Control>,
        options.server.clone(),
        Arc::clone(&recorder) as Arc<dyn Observer>,
    )?;
    ready(&server);
    let start = Instant::now();
    let mut nemesis = Nemesis::new(
        &options.nemesis,
        Xoshiro256PlusPlus::seed_from_u64(options.cluster.seed ^ 0xfa17),
        LinkRule::INSTANT,
    );
    let mut reported = 0;
    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_millis(5))
    {
        nemesis.poll(cluster.as_ref(), cluster.now_nanos());
        // Loud at once: a node that cannot start or stops on an error says why as it happens.
        let failures = cluster.failures();
        for f in &failures[reported..] {
            eprintln!("error: {} {}", f.node, f.reason);
        }
        reported = failures.len();
        if let Some(e) = recorder.error.lock().unwrap_or_else(PoisonError::into_inner).take() {
            eprintln!("error: {e}");
        }
    }
    nemesis.heal_all(cluster.as_ref());
    let elapsed = start.elapsed();
    server.stop();
    cluster.finish()?;
    let history_lines = asked_history.then(|| recorder.lines.load(Ordering::Relaxed));
    // Every connection is closed: nothing writes to the history any more.
    recorder.history.lock().unwrap_or_else(PoisonError::into_inner).take();
    let count = |i: usize| recorder.counts[i].load(Ordering::Relaxed);
    Ok(ServeReport {
        ok: count(0),
        fail: count(1),
        info: count(2),
        faults: nemesis.injected,
        elapsed,
        failures: cluster.failures(),
        history_lines,
    })
}
