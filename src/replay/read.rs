//! Reading an event log back: any file quorum writes (the console's session log and its
//! exports, `quorum run --events`, `quorum sim --events`). Every problem names the line and what
//! is wrong with it; nothing here panics on any input.

use crate::events::{Event, EventKind, SCHEMA};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Why a file cannot be read as an event log.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file cannot be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not an event of this schema.
    #[error("{path}, line {line}: {what}")]
    Line {
        /// The file.
        path: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        what: String,
    },
    /// The file holds no event.
    #[error("{path}: the file is empty, it holds no event")]
    Empty {
        /// The file.
        path: String,
    },
}

/// An event log read back, with what was odd but readable.
#[derive(Debug, Default)]
pub struct Log {
    /// The events, in order.
    pub events: Vec<Event>,
    /// Warnings (a torn last line skipped, no `start` event), in words.
    pub warnings: Vec<String>,
}

/// Reads the event log at `path` (see the module documentation).
pub fn read_file(path: &Path) -> Result<Log, ReadError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ReadError::Io { path: name.clone(), source })?;
    read(BufReader::with_capacity(1 << 20, file), &name)
}

/// Reads an event log from `input`; `name` is how messages call it.
pub fn read(mut input: impl BufRead, name: &str) -> Result<Log, ReadError> {
    let mut log = Log::default();
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        let n = input.by_ref().take(64 << 20).read_until(b'\n', &mut line);
        match n {
            Ok(0) => break,
            Ok(_) => {}
            Err(source) => return Err(ReadError::Io { path: name.into(), source }),
        }
        number += 1;
        let torn = line.last() != Some(&b'\n');
        let text = trim(&line);
        if text.is_empty() {
            continue;
        }
        match parse(text, log.events.len(), number) {
            Ok(event) => log.events.push(event),
            // A run killed mid-write leaves a partial last line: skipped, said. (A whole line
            // that is wrong is wrong, last or not.)
            Err(what) if torn && what.starts_with("not JSON") => {
                log.warnings
                    .push(format!("{name}, line {number}: the last line is cut short ({what}); skipped"));
                break;
            }
            Err(what) => return Err(ReadError::Line { path: name.into(), line: number, what }),
        }
    }
    if log.events.is_empty() {
        return Err(ReadError::Empty { path: name.into() });
    }
    if !matches!(log.events[0].kind, EventKind::Start(_)) {
        log.warnings.push(format!(
            "{name}: no start event (a log of schema 1): the nodes are taken from the events, entries' commands may be unknown"
        ));
    }
    Ok(log)
}

fn trim(line: &[u8]) -> &[u8] {
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    &line[..end]
}

/// One line as the event at position `expected`.
fn parse(text: &[u8], expected: usize, number: usize) -> Result<Event, String> {
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| match std::str::from_utf8(text) {
            Ok(_) => format!("not JSON ({e})"),
            Err(_) => "not text (invalid UTF-8)".to_string(),
        })?;
    if let Some(schema) = value.get("schema").and_then(serde_json::Value::as_u64)
        && value.get("kind").and_then(serde_json::Value::as_str) == Some("start")
        && schema > u64::from(SCHEMA)
    {
        return Err(format!(
            "written by a newer quorum (event log schema {schema}; this one reads up to {SCHEMA}): upgrade quorum to read it"
        ));
    }
    let kind = value.get("kind").and_then(serde_json::Value::as_str).map(str::to_string);
    let event: Event = serde_json::from_value(value).map_err(|e| match kind {
        Some(k) => format!("not a valid `{k}` event ({e})"),
        None => format!("not an event of quorum's event log ({e})"),
    })?;
    if event.seq != expected as u64 {
        let what = if number == 1 {
            "the log does not begin at event 0"
        } else {
            "events are missing or out of order"
        };
        return Err(format!("event number {} where {expected} was due: {what}", event.seq));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Result<Log, ReadError> {
        read(text.as_bytes(), "run.jsonl")
    }

    const START: &str = r#"{"seq":0,"time":0,"kind":"start","schema":2,"engine":"sim","nodes":[1,2,3],"seed":1,"switches":{"hazard":null,"pre_vote":true,"check_quorum":true},"network":{"link":{"loss":0.0,"delay":[0,0],"duplicate":0.0}},"storage":"memory"}"#;

    #[test]
    fn a_log_reads_back_and_a_torn_last_line_is_skipped_with_a_warning() {
        let text =
            format!("{START}\n{{\"seq\":1,\"time\":5,\"node\":1,\"kind\":\"crash\"}}\n{{\"seq\":2,\"ti");
        let log = lines(&text).expect("readable");
        assert_eq!(log.events.len(), 2);
        assert_eq!(log.warnings.len(), 1, "{:?}", log.warnings);
        assert!(
            log.warnings[0].contains("line 3") && log.warnings[0].contains("cut short"),
            "{:?}",
            log.warnings
        );
    }

    #[test]
    fn bad_files_name_the_line_and_what_is_wrong() {
        let cases = [
            ("hello world\n", "line 1: not JSON"),
            ("{\"a\":1}\n", "line 1: not an event of quorum's event log"),
            (
                &*format!(
                    "{START}\n{{\"seq\":1,\"time\":0,\"kind\":\"crash\"}}\n{{\"seq\":5,\"time\":0,\"kind\":\"crash\"}}\n"
                ),
                "line 3: event number 5 where 2 was due",
            ),
            (
                &*START.replace("\"schema\":2", "\"schema\":99"),
                "line 1: written by a newer quorum (event log schema 99",
            ),
            (
                &*format!("{START}\n{{\"seq\":1,\"time\":0,\"kind\":\"append\",\"first\":7}}\n"),
                "line 2: not a valid `append` event",
            ),
            ("", "the file is empty"),
            ("\u{0}\u{1}\n", "line 1: not JSON"),
        ];
        for (text, want) in cases {
            let e = lines(text).expect_err(text);
            assert!(e.to_string().contains(want), "{text:?}: {e} (wanted {want:?})");
        }
        let bytes: &[u8] = b"\xff\xfe\n";
        let e = read(bytes, "x").expect_err("binary");
        assert!(e.to_string().contains("not text"), "{e}");
    }

    #[test]
    fn a_log_of_schema_1_is_read_with_a_warning() {
        let log = lines("{\"seq\":0,\"time\":0,\"node\":1,\"kind\":\"crash\"}\n").expect("readable");
        assert!(log.warnings[0].contains("no start event"), "{:?}", log.warnings);
    }
}
