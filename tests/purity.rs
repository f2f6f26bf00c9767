//! The consensus core and the state machine (and the event log and the safety checks beside them)
//! must stay pure: no threads, clocks, channels, files, environment, network or terminal. This
//! test reads their sources and fails on any such use.

const FORBIDDEN: &[&str] = &[
    "std::thread",
    "std::time",
    "Instant",
    "SystemTime",
    "crossbeam",
    "std::sync::mpsc",
    "Mutex",
    "RwLock",
    "std::fs",
    "std::io",
    "std::net",
    "std::env",
    "std::process",
    "ratatui",
    "crossterm",
    "thread_rng",
    "rand::rng(",
    "println!",
    "eprintln!",
];

fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_core_and_the_state_machine_do_no_io() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![root.join("kv.rs"), root.join("events.rs"), root.join("safety.rs")];
    sources(&root.join("raft"), &mut files);
    assert!(files.len() >= 8, "expected the core's files, found {files:?}");
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            for word in FORBIDDEN {
                if line.contains(word) {
                    found.push(format!("{}:{}: {word}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(found.is_empty(), "the pure core uses I/O or concurrency:\n{}", found.join("\n"));
}

/// The modules the crate's layers may name (`crate::x`), bottom up: the core names nothing
/// outside itself; the state machine, the event log, the fault model and storage name the core
/// (storage and the event log also the state machine's session limits they record); the safety
/// checks name the core,
/// the state machine and the event log (they read events only); the control interface names
/// those; the nemesis only the control interface and what it speaks in; the two engines name
/// the layers below them but not each other; the console names neither engine (`main` wires
/// one to it). The checker is a library of its own and names nothing else.
const LAYERS: &[(&str, &[&str])] = &[
    ("raft", &["raft"]),
    ("kv.rs", &["raft"]),
    ("events.rs", &["raft", "network", "kv"]),
    ("network.rs", &["raft"]),
    ("safety.rs", &["raft", "kv", "events"]),
    ("storage", &["storage", "raft", "kv"]),
    ("control", &["control", "raft", "kv", "events", "network", "check"]),
    ("resp", &["resp", "control", "raft", "kv", "events", "check"]),
    ("nemesis.rs", &["control", "events", "network", "raft"]),
    ("lesson", &["lesson", "control", "events", "network", "raft", "kv", "check", "safety"]),
    ("replay", &["replay", "control", "raft", "kv", "events", "network", "safety"]),
    ("sim", &["sim", "raft", "kv", "events", "network", "storage", "control", "nemesis", "check", "safety"]),
    (
        "cluster",
        &["cluster", "raft", "kv", "events", "network", "storage", "control", "nemesis", "check", "resp"],
    ),
    (
        "tui",
        &[
            "tui", "raft", "kv", "events", "network", "storage", "control", "check", "safety", "replay",
            "lesson", "resp",
        ],
    ),
    ("check", &["check"]),
];

/// Files that only tests compile, exempt from the layer rules: the console's tests drive its
/// widgets with statuses from a real simulated cluster.
const TEST_ONLY: &[&str] = &["tui/tests", "tui/fixture.rs"];

/// Every `crate::x` a source text names (code, comments and doc links alike). Paths between
/// layers are written from `crate::` in this code base, never climbed to with `super::`.
fn named_modules(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let name: String = after.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        out.push(name);
        rest = after;
    }
    out
}

#[test]
fn the_layers_depend_one_way() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for (layer, allowed) in LAYERS {
        let path = root.join(layer);
        let mut files = Vec::new();
        if path.is_dir() {
            sources(&path, &mut files);
        } else {
            files.push(path.clone());
        }
        assert!(!files.is_empty() && files.iter().all(|f| f.exists()), "layer {layer} has no sources");
        for file in files {
            let relative = file.strip_prefix(&root).expect("under src").to_string_lossy().replace('\\', "/");
            if TEST_ONLY.iter().any(|t| relative.starts_with(t)) {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("read source");
            for name in named_modules(&text) {
                if !allowed.contains(&name.as_str()) {
                    found
                        .push(format!("{relative} names crate::{name} (layer {layer} may name {allowed:?})"));
                }
            }
        }
    }
    assert!(found.is_empty(), "a layer names what it must not:\n{}", found.join("\n"));
}

/// The rule above must bite: a core file naming the state machine, and a console file naming an
/// engine, are both found.
#[test]
fn the_layer_rules_catch_a_forbidden_name() {
    let core = LAYERS.iter().find(|(l, _)| *l == "raft").expect("core layer").1;
    let console = LAYERS.iter().find(|(l, _)| *l == "tui").expect("console layer").1;
    let bad_core = named_modules("/// see [`crate::kv::Kv`]\nuse crate::raft::Term;");
    assert!(bad_core.iter().any(|n| !core.contains(&n.as_str())), "{bad_core:?}");
    for engine in ["use crate::sim::SimEngine;", "let c = crate::cluster::LiveCluster::start(o);"] {
        let names = named_modules(engine);
        assert!(names.iter().any(|n| !console.contains(&n.as_str())), "{engine}: {names:?}");
    }
}
