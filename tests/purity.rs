//! The consensus core and the state machine must stay pure: no threads, clocks, channels, files,
//! environment, network or terminal. This test reads their sources and fails on any such use.

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
    let mut files = vec![root.join("kv.rs"), root.join("events.rs")];
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
