//! Lessons: narrated scenarios that play the same every time, on the deterministic simulator.
//!
//! A lesson is a text file ([`format`]): a title, a cluster set-up and numbered steps, each
//! with narration and the actions and conditions of the console. [`play::Player`] plays it on
//! a simulator engine through the control interface only: the console (`quorum lesson NAME`,
//! with `n` and `b`) and the headless check (`quorum lesson NAME --check`) are the same player.
//! [`script`] turns a golden script of the core into a lesson skeleton.
//!
//! The shipped lessons are compiled in (`assets/lessons/`), so `quorum lesson NAME` works from
//! any directory; a path plays any lesson file without rebuilding.

pub mod format;
pub mod play;
pub mod script;

pub use format::{Lesson, ParseError, parse};
pub use play::{Player, StepError};

/// The shipped lessons, in teaching order: (name, text).
pub const SHIPPED: &[(&str, &str)] = &[
    ("leader-election", include_str!("../../assets/lessons/leader-election.lesson")),
    ("split-vote", include_str!("../../assets/lessons/split-vote.lesson")),
    ("log-replication", include_str!("../../assets/lessons/log-replication.lesson")),
    ("leader-crash", include_str!("../../assets/lessons/leader-crash.lesson")),
    ("repair-conflicts", include_str!("../../assets/lessons/repair-conflicts.lesson")),
    ("partitioned-leader", include_str!("../../assets/lessons/partitioned-leader.lesson")),
    ("prevote", include_str!("../../assets/lessons/prevote.lesson")),
    ("figure8", include_str!("../../assets/lessons/figure8.lesson")),
    ("figure8-hazard", include_str!("../../assets/lessons/figure8-hazard.lesson")),
    ("read-index", include_str!("../../assets/lessons/read-index.lesson")),
    ("retried-put", include_str!("../../assets/lessons/retried-put.lesson")),
    ("leadership-transfer", include_str!("../../assets/lessons/leadership-transfer.lesson")),
    ("snapshots", include_str!("../../assets/lessons/snapshots.lesson")),
    ("demo", include_str!("../../assets/lessons/demo.lesson")),
    ("example", include_str!("../../assets/lessons/example.lesson")),
];

/// The shipped lessons, read. A shipped lesson that does not read is a bug (a test reads them).
pub fn shipped() -> Vec<Result<Lesson, ParseError>> {
    SHIPPED.iter().map(|(name, text)| parse(name, &format!("assets/lessons/{name}.lesson"), text)).collect()
}

/// The lesson `name_or_path` names: a shipped lesson's name, or the path of a lesson file.
pub fn find(name_or_path: &str) -> Result<Lesson, String> {
    if let Some((name, text)) = SHIPPED.iter().find(|(name, _)| *name == name_or_path) {
        return parse(name, &format!("assets/lessons/{name}.lesson"), text).map_err(|e| e.to_string());
    }
    let path = std::path::Path::new(name_or_path);
    if path.exists() || name_or_path.contains('/') || name_or_path.ends_with(".lesson") {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {name_or_path}: {e}"))?;
        let name =
            path.file_stem().map_or_else(|| name_or_path.to_string(), |s| s.to_string_lossy().into_owned());
        return parse(&name, name_or_path, &text).map_err(|e| e.to_string());
    }
    let names: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
    Err(format!(
        "no lesson {name_or_path:?}: the lessons are {} (or give a lesson file's path)",
        names.join(", ")
    ))
}
