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

/// Lines parsed together, on every core: parsing is most of the cost of opening a long log.
const BLOCK_LINES: usize = 65_536;

/// Reads an event log from `input`; `name` is how messages call it.
pub fn read(mut input: impl BufRead, name: &str) -> Result<Log, ReadError> {
    let mut log = Log::default();
    let mut number = 0;
    loop {
        let block = read_block(&mut input, name, &mut number)?;
        if block.is_empty() {
            break;
        }
        let parsed = parse_block(&block);
        for (line, result) in block.iter().zip(parsed) {
            let event = match result.and_then(|e| numbered(e, log.events.len(), line.number)) {
                Ok(event) => event,
                // A run killed mid-write leaves a partial last line: skipped, said. (A whole
                // line that is wrong is wrong, last or not.)
                Err(what) if line.torn && what.starts_with("not JSON") => {
                    let number = line.number;
                    log.warnings
                        .push(format!("{name}, line {number}: the last line is cut short ({what}); skipped"));
                    break;
                }
                Err(what) => return Err(ReadError::Line { path: name.into(), line: line.number, what }),
            };
            log.events.push(event);
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

/// One line of the file: its number from 1, its text, whether it lacks its line break.
struct Line {
    number: usize,
    text: Vec<u8>,
    torn: bool,
}

/// The next [`BLOCK_LINES`] non-blank lines (fewer at the end; none when it is over).
fn read_block(input: &mut impl BufRead, name: &str, number: &mut usize) -> Result<Vec<Line>, ReadError> {
    let mut block = Vec::new();
    while block.len() < BLOCK_LINES {
        let mut text = Vec::new();
        match input.by_ref().take(64 << 20).read_until(b'\n', &mut text) {
            Ok(0) => break,
            Ok(_) => {}
            Err(source) => return Err(ReadError::Io { path: name.into(), source }),
        }
        *number += 1;
        let torn = text.last() != Some(&b'\n');
        let len = trim(&text).len();
        if len > 0 {
            text.truncate(len);
            block.push(Line { number: *number, text, torn });
        }
    }
    Ok(block)
}

/// Parses a block's lines, split across the machine's cores, in order.
fn parse_block(block: &[Line]) -> Vec<Result<Event, String>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let chunk = block.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = block
            .chunks(chunk)
            .map(|lines| scope.spawn(move || lines.iter().map(|l| parse(&l.text)).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().unwrap_or_else(|_| vec![Err("the parser failed".to_string())]))
            .collect()
    })
}
fn trim(line: &[u8]) -> &[u8] {
    let end = line.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
    &line[..end]
}

/// One line as an event.
fn parse(text: &[u8]) -> Result<Event, String> {
    match serde_json::from_slice::<Event>(text) {
        Ok(Event { kind: EventKind::Start(start), .. }) if start.schema > SCHEMA => {
            Err(newer(start.schema.into()))
        }
        Ok(event) => Ok(event),
        Err(e) => Err(explain(text, &e)),
    }
}

/// Why a line is not an event, in words (the slow path: only for a line that failed).
fn explain(text: &[u8], error: &serde_json::Error) -> String {
    let value: serde_json::Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) if std::str::from_utf8(text).is_err() => return format!("not text (invalid UTF-8; {e})"),
        Err(e) => return format!("not JSON ({e})"),
    };
    let kind = value.get("kind").and_then(serde_json::Value::as_str);
    let schema = value.get("schema").and_then(serde_json::Value::as_u64);
    match (kind, schema) {
        (Some("start"), Some(schema)) if schema > u64::from(SCHEMA) => newer(schema),
        (Some(k), _) => format!("not a valid `{k}` event ({error})"),
        (None, _) => format!("not an event of quorum's event log ({error})"),
    }
}

fn newer(schema: u64) -> String {
    format!(
        "written by a newer quorum (event log schema {schema}; this one reads up to {SCHEMA}): upgrade quorum to read it"
    )
}

/// The event, if it is the one due at position `expected` (on line `number`).
fn numbered(event: Event, expected: usize, number: usize) -> Result<Event, String> {
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
