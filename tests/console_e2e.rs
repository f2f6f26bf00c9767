//! The console end to end, in a real pseudo-terminal: the `quorum` binary runs inside a
//! detached tmux session (120x40) on a fresh data directory, on either engine, and the test
//! types keys and reads the screen like a person would: wait for a leader, put a key and read it back, kill the
//! leader and see another elected, partition a node away and see its requests fail, export,
//! check the exported files, quit, and see the shell again.
//!
//! Needs tmux (CI installs it). Deadlines are generous; nothing is timed.

use quorum::check::history::parse_history;
use quorum::check::{CheckOptions, check_history};
use quorum::events::Event;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// A tmux server of our own (its own socket), with one session running the console.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// A tmux server named `name` (tests in one process need distinct names) running `command`.
    fn start(name: &str, command: &str) -> Tmux {
        let installed = Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success());
        assert!(
            installed,
            "this test needs tmux, to run the console in a real pseudo-terminal: \
             install it (for example `apt-get install -y tmux`)"
        );
        let tmux =
            Tmux { socket: format!("quorum-e2e-{name}-{}", std::process::id()), session: "console".into() };
        let out = tmux.run(&["new-session", "-d", "-s", &tmux.session, "-x", "120", "-y", "40", command]);
        assert!(out.status.success(), "tmux new-session failed: {}", String::from_utf8_lossy(&out.stderr));
        tmux
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", &self.session]).stdout).into_owned()
    }

    /// Sends tmux key names (`Enter`, `Tab`, `p`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Types text literally.
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", &self.session, "-l", text]);
    }

    /// Polls the screen until `done` holds, and returns it; fails with the last screen.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// The leader named in the header line (`· leader n3 ·`), if any.
fn leader(screen: &str) -> Option<u64> {
    let header = screen.lines().next()?;
    let rest = header.split("leader n").nth(1)?;
    rest.chars().next()?.to_digit(10).map(u64::from)
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("quorum-console-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The console on `engine` in a fresh directory, in a shell that says DONE when it ends.
fn console_on(name: &str, engine: &str) -> (PathBuf, Tmux) {
    let dir = fresh_dir(&format!("{name}-{engine}"));
    let bin = env!("CARGO_BIN_EXE_quorum");
    let command =
        format!("sh -c '\"{bin}\" --engine {engine} --data-dir \"{}\"; echo DONE; sleep 600'", dir.display());
    let tmux = Tmux::start(&format!("{name}-{engine}"), &command);
    (dir, tmux)
}

fn check_exports(dir: &Path) {
    let events = std::fs::read_to_string(dir.join("export-1-events.jsonl")).expect("the exported event log");
    assert!(events.lines().count() > 10, "the event log has the run's events");
    for (i, line) in events.lines().enumerate() {
        serde_json::from_str::<Event>(line).unwrap_or_else(|e| panic!("event line {}: {e}: {line}", i + 1));
    }
    assert!(events.contains("\"kind\":\"crash\""), "the kill is in the event log");
    assert!(events.contains("partition"), "the partition is in the event log");
    let history = std::fs::read(dir.join("export-1-history.jsonl")).expect("the exported history");
    let history = parse_history(&history[..]).expect("a valid history");
    assert!(history.len() >= 4, "put and get, each invoked and completed");
    let verdict = check_history(&history, &CheckOptions::default()).expect("pairs");
    assert!(verdict.is_linearizable(), "{verdict}");
}

#[test]
fn drive_the_console_on_the_live_cluster() {
    drive("live");
}

#[test]
fn drive_the_console_on_the_simulator() {
    drive("sim");
}

/// One session on `engine`: an election, a put and a get, a kill, a partition, an export.
fn drive(engine: &str) {
    let (dir, tmux) = console_on("drive", engine);

    let screen = tmux.wait_for("a leader", |s| leader(s).is_some() && s.contains("LEADER"));
    assert!(screen.contains("n1") && screen.contains("n5"), "five nodes are shown");
    let label = if engine == "sim" { "simulated" } else { "live" };
    assert!(
        screen.lines().next().is_some_and(|h| h.contains(label)),
        "the header names the engine:\n{screen}"
    );

    // Write through n1 and read it back through n2.
    tmux.keys(&["1", "p"]);
    tmux.type_text("color=blue");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the put's result", |s| s.contains("put color=blue via n1 → ok"));
    tmux.keys(&["2", "g"]);
    tmux.type_text("color");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the get's result", |s| s.contains("get color via n2 → blue"));

    // Kill the leader: another is elected.
    let old = leader(&tmux.screen()).expect("a leader");
    tmux.keys(&["Tab", "k"]);
    let screen = tmux.wait_for("a new leader", |s| s.contains("DEAD") && leader(s).is_some_and(|l| l != old));
    let new = leader(&screen).expect("a leader");

    // Partition one follower away: its requests fail, the others go on.
    let away = (1..=5).find(|&n| n != old && n != new).expect("a follower");
    tmux.keys(&["x", &away.to_string()]);
    tmux.wait_for("the partition editor", |s| s.contains("partition editor"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the partition", |s| s.contains(&format!("{{n{away}}}")) && s.contains('╳'));
    tmux.keys(&[&away.to_string(), "p"]);
    tmux.type_text("size=XL");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the cut-off node to refuse", |s| s.contains(&format!("put size=XL via n{away} → error")));

    // Export, then quit: the terminal comes back and the files are complete.
    tmux.keys(&["e"]);
    tmux.wait_for("the export", |s| s.contains("exported"));
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the shell again", |s| s.contains("DONE"));
    assert!(screen.contains("every node stopped"), "the farewell is printed on the normal screen:\n{screen}");
    let alternate = tmux.run(&["display-message", "-p", "-t", &tmux.session, "#{alternate_on}"]);
    assert_eq!(String::from_utf8_lossy(&alternate.stdout).trim(), "0", "the alternate screen was left");
    check_exports(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The console in a shell of its own, on `dir`: each command line runs the console once, then
/// prints a marker with its exit code.
fn console_in_a_shell(name: &str, dir: &Path, runs: &[&str]) -> Tmux {
    let bin = env!("CARGO_BIN_EXE_quorum");
    let mut script = String::new();
    for (i, flags) in runs.iter().enumerate() {
        script.push_str(&format!(
            "\"{bin}\" --data-dir \"{}\" {flags}; echo EXIT{i}=$?; read x; ",
            dir.display()
        ));
    }
    Tmux::start(name, &format!("sh -c '{script} sleep 600'"))
}

/// Issue: a data directory used a second time lost acknowledged writes: the second console's
/// put answered ok but every map kept the old value, a get read it, and the verdict turned
/// NOT linearizable. Now the second session's writes apply, its history carries on the first
/// one's (same cluster), and the verdict over both sessions is linearizable. Opening the
/// directory with another size, or while a console holds it, is refused before the terminal is
/// taken over.
#[test]
fn a_data_directory_opened_twice_keeps_every_acknowledged_write() {
    let dir = fresh_dir("twice");
    let tmux = console_in_a_shell("twice", &dir, &["--nodes 3", "--nodes 3", "--nodes 5"]);
    let put = |value: &str| {
        tmux.wait_for("a leader", |s| leader(s).is_some() && s.contains("LEADER"));
        tmux.keys(&["1", "p"]);
        tmux.type_text(&format!("color={value}"));
        tmux.keys(&["Enter"]);
        tmux.wait_for("the put's result", |s| s.contains(&format!("put color={value} via n1 → ok")));
    };
    put("blue");
    tmux.keys(&["q"]);
    tmux.wait_for("the first console to end", |s| s.contains("EXIT0=0"));
    tmux.keys(&["Enter"]);
    put("red");
    // While this console holds the directory, a second process is refused.
    let other = Command::new(env!("CARGO_BIN_EXE_quorum"))
        .args(["run", "--data-dir", dir.to_str().expect("utf-8"), "--nodes", "3", "--duration", "1"])
        .output()
        .expect("quorum runs");
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("in use by another quorum process"));
    tmux.keys(&["2", "g"]);
    tmux.type_text("color");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the get of the second session's value", |s| s.contains("get color via n2 → red"));
    let screen = tmux.wait_for("every map to show red", |s| {
        s.lines().any(|l| l.contains("color") && l.matches("red").count() == 3)
    });
    assert!(!screen.contains("NOT linearizable"), "{screen}");
    tmux.wait_for("the verdict over both sessions", |s| s.contains("linearizable ✓ (3 ops)"));
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the second console to end", |s| s.contains("EXIT1=0"));
    assert!(screen.contains("verdict: linearizable (3 operations over 1 key)"), "{screen}");
    tmux.keys(&["Enter"]);
    // Another size: refused with what the directory holds, and the terminal never taken over.
    let screen = tmux.wait_for("the third console to refuse", |s| s.contains("EXIT2=2"));
    assert!(screen.contains("of 3 nodes, not 5") && screen.contains("--nodes 3"), "{screen}");
    let history = std::fs::read(dir.join("console-history.jsonl")).expect("the history");
    let history = parse_history(&history[..]).expect("a valid history");
    assert_eq!(history.len(), 6, "both sessions' operations, invoked and completed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_terminal_or_with_bad_flags_the_console_explains_itself() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_quorum"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("quorum runs");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = run(&[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("needs a terminal") && err.contains("quorum run"), "{err}");
    for bad in
        [&["--nodes", "12"][..], &["--speed", "0.01"], &["--storage", "tape"], &["--nodes", "3", "sim"]]
    {
        let (code, err) = run(bad);
        assert_eq!(code, Some(2), "{bad:?}: {err}");
        assert!(!err.trim().is_empty(), "{bad:?} says why");
    }
    let (code, err) = run(&["--unsafe", "local-reads"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--engine sim"), "bugs are for the simulator: {err}");
}

/// The pid of the console running under the pane's shell.
fn console_pid(tmux: &Tmux) -> u32 {
    let shell = tmux.run(&["display-message", "-p", "-t", &tmux.session, "#{pane_pid}"]);
    let shell = String::from_utf8_lossy(&shell.stdout).trim().to_string();
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).expect("children");
    children.split_whitespace().next().and_then(|p| p.parse().ok()).expect("the console runs under the shell")
}

/// SIGTERM and SIGHUP end the console as `q` does: the terminal is restored, every node stops
/// cleanly, and the session files are complete; the farewell names the signal.
#[test]
fn sigterm_and_sighup_stop_the_console_cleanly() {
    let dir = fresh_dir("signals");
    let tmux = console_in_a_shell("signals", &dir, &["--nodes 3", "--nodes 3"]);
    for (i, signal) in ["TERM", "HUP"].into_iter().enumerate() {
        tmux.wait_for("a leader", |s| leader(s).is_some() && s.contains("LEADER"));
        let value = format!("v{i}");
        tmux.keys(&["1", "p"]);
        tmux.type_text(&format!("k={value}"));
        tmux.keys(&["Enter"]);
        tmux.wait_for("the put's result", |s| s.contains(&format!("put k={value} via n1 → ok")));
        let pid = console_pid(&tmux);
        let killed =
            Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().expect("kill");
        assert!(killed.success());
        let screen = tmux.wait_for("the console to end", |s| s.contains(&format!("EXIT{i}=0")));
        assert!(screen.contains(&format!("every node stopped (on SIG{signal})")), "{screen}");
        let alternate = tmux.run(&["display-message", "-p", "-t", &tmux.session, "#{alternate_on}"]);
        assert_eq!(String::from_utf8_lossy(&alternate.stdout).trim(), "0", "the alternate screen was left");
        let history = std::fs::read(dir.join("console-history.jsonl")).expect("the history");
        let history = parse_history(&history[..]).expect("a complete history");
        assert_eq!(history.len(), 2 * (i + 1), "every operation so far, invoked and completed");
        let events = std::fs::read_to_string(dir.join("console-events.jsonl")).expect("the event log");
        assert!(events.contains(&format!("put k={value} via n1")), "the event log was flushed");
        tmux.keys(&["Enter"]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bracketed paste in a real terminal (tmux's `paste-buffer -p`): a pasted `x=1⏎k` in the put
/// prompt puts x=1 and kills nobody; a pasted `k` outside a prompt does nothing but say so.
#[test]
fn a_paste_is_text_never_keys() {
    let dir = fresh_dir("paste");
    let tmux = console_in_a_shell("paste", &dir, &["--nodes 3"]);
    tmux.wait_for("a leader", |s| leader(s).is_some() && s.contains("LEADER"));
    let paste = |text: &str| {
        tmux.run(&["set-buffer", text]);
        tmux.run(&["paste-buffer", "-p", "-t", &tmux.session]);
    };
    tmux.keys(&["1", "p"]);
    paste("x=1\nk");
    let screen = tmux.wait_for("the pasted put", |s| s.contains("put x=1 via n1 → ok"));
    assert!(!screen.contains("DEAD"), "the paste's k killed a node:\n{screen}");
    paste("k");
    let screen = tmux.wait_for("the refusal", |s| s.contains("a paste goes into a prompt"));
    assert!(!screen.contains("DEAD"), "a paste outside a prompt acted:\n{screen}");
    tmux.keys(&["q"]);
    tmux.wait_for("the console to end", |s| s.contains("EXIT0=0"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn step_a_put_by_hand_on_the_live_cluster() {
    step_by_hand("live");
}

#[test]
fn step_a_put_by_hand_on_the_simulator() {
    step_by_hand("sim");
}

/// Freeze and hold, put through the leader, see its AppendEntries wait in flight and the put
/// not answered, deliver the held messages one `.` at a time until it is answered `ok`; then
/// drop a chosen message and see the drop in the feed; release; unfreeze.
fn step_by_hand(engine: &str) {
    let (_dir, tmux) = console_on("step", engine);
    let screen = tmux.wait_for("a leader", |s| leader(s).is_some() && s.contains("LEADER"));
    let l = leader(&screen).expect("a leader");
    tmux.keys(&["Tab", "Space", "m"]);
    tmux.wait_for("the hold", |s| s.contains("FROZEN") && s.contains("HOLDING"));
    tmux.keys(&["p"]);
    tmux.type_text("k=v");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the put waiting, its first message held", |s| {
        s.contains(&format!("put k=v via n{l} → … waiting")) && s.contains(" held")
    });
    // Deliver one message at a time (the session's registration first, then the put): the
    // put's AppendEntries wait in flight while it is not answered.
    let (mut presses, mut saw_appends) = (0, false);
    loop {
        let screen = tmux.screen();
        if screen.contains(&format!("put k=v via n{l} → ok")) {
            break;
        }
        let held_appends =
            screen.lines().filter(|l| l.contains("AppendEntries") && l.contains(" held")).count();
        if held_appends >= 2 && screen.contains(&format!("put k=v via n{l} → … waiting")) {
            saw_appends = true;
        }
        assert!(presses < 40, "the put was not answered after 40 deliveries by hand:\n{screen}");
        tmux.keys(&["."]);
        presses += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(saw_appends, "the put's AppendEntries were seen held before it was answered");
    assert!(presses >= 3, "AppendEntries to a majority, and their answers, took {presses} presses");
    // A second put's messages: choose one and drop it.
    tmux.keys(&["p"]);
    tmux.type_text("k=w");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the second put's messages held", |s| {
        s.lines().filter(|l| l.contains("AppendEntries") && l.contains(" held")).count() >= 2
    });
    tmux.keys(&["i"]);
    tmux.wait_for("the in-flight cursor", |s| s.contains("▸m"));
    tmux.keys(&["x"]);
    tmux.wait_for("the drop in the feed", |s| s.contains("by hand") && s.contains("drop m"));
    // Apart: an Escape followed at once by a key reads as Alt and that key.
    tmux.keys(&["Escape"]);
    tmux.wait_for("the dashboard again", |s| s.contains("press ? for every key") || s.contains("m  hold"));
    tmux.keys(&["m"]);
    tmux.wait_for("the release", |s| !s.contains("HOLDING"));
    tmux.keys(&["Space"]);
    tmux.wait_for("time running and the second put answered", |s| {
        !s.contains("FROZEN") && s.contains(&format!("put k=w via n{l} → ok"))
    });
    tmux.keys(&["q"]);
    tmux.wait_for("the shell again", |s| s.contains("DONE"));
}

/// The event the history view's header says it stands at (`REWOUND to event 1234 of 5678`).
fn header_event(screen: &str) -> Option<u64> {
    let header = screen.lines().next()?;
    header.split("REWOUND to event ").nth(1)?.split_whitespace().next()?.parse().ok()
}

/// The figures of every card (term, vote, commit, apply, last), without the selection's
/// thicker border: what two screens at one event must agree on.
fn card_figures(screen: &str) -> Vec<String> {
    screen
        .lines()
        .skip(1)
        .take(7)
        .filter(|l| l.contains("term") || l.contains("commit") || l.contains("last"))
        .map(|l| l.replace('┃', "│"))
        .collect()
}

/// Node `n`'s commit index on a screen of five cards, 24 columns each.
fn commit_of(screen: &str, n: u64) -> Option<u64> {
    let line = screen.lines().find(|l| l.contains("commit") && l.contains("apply"))?;
    let card: String = line.chars().skip(24 * (n as usize - 1)).take(24).collect();
    card.split("commit").nth(1)?.split_whitespace().next()?.parse().ok()
}

/// The status line's event in the history view: `#1234 n3@2 commit 5@2` gives 1234 and, for an
/// event of a node, the node (3).
fn cursor_event(screen: &str) -> Option<(u64, Option<u64>)> {
    let line = screen.lines().rev().find(|l| l.trim_start().starts_with('#'))?;
    let mut words = line.split_whitespace();
    let seq = words.next()?.trim_start_matches('#').parse().ok()?;
    let node = words.next().and_then(|w| w.strip_prefix('n')?.split('@').next()?.parse().ok());
    Some((seq, node))
}

/// Issue 12: a session with an election, puts, a kill and a partition; `v` goes back to the
/// start (no leader, empty maps) and the newest event (the current state), a step back over a
/// commit takes that node's commit index back, Esc returns; `quorum replay` on the exported
/// log shows the same at the same event.
#[test]
fn rewind_the_session_and_replay_its_export_on_the_simulator() {
    rewind("sim");
}

#[test]
fn rewind_the_session_and_replay_its_export_on_the_live_cluster() {
    rewind("live");
}

fn rewind(engine: &str) {
    let (dir, tmux) = console_on("rewind", engine);
    tmux.wait_for("a leader", |s| leader(s).is_some() && s.contains("LEADER"));
    for put in ["a=1", "b=2"] {
        tmux.keys(&["1", "p"]);
        tmux.type_text(put);
        tmux.keys(&["Enter"]);
        tmux.wait_for("the put", |s| s.contains(&format!("put {put} via n1 → ok")));
    }
    let old = leader(&tmux.screen()).expect("a leader");
    tmux.keys(&["Tab", "k"]);
    let screen = tmux.wait_for("a new leader", |s| s.contains("DEAD") && leader(s).is_some_and(|l| l != old));
    let new = leader(&screen).expect("a leader");
    let away = (1..=5).find(|&n| n != old && n != new).expect("a follower");
    tmux.keys(&["x", &away.to_string(), "Enter"]);
    tmux.wait_for("the partition", |s| s.contains(&format!("{{n{away}}}")));

    tmux.keys(&["v"]);
    let past = tmux.wait_for("the past", |s| header_event(s).is_some());
    let opened = header_event(&past).expect("the event");
    tmux.keys(&["k"]);
    tmux.wait_for("the kill refused", |s| s.contains("read-only past: 'k' (kill it)"));
    tmux.keys(&["Home"]);
    let start = tmux.wait_for("the start", |s| s.contains("the start, before event 0"));
    assert!(start.lines().next().is_some_and(|h| h.contains("no leader")), "{start}");
    assert!(start.contains("no keys yet") && start.contains("every log is empty"), "{start}");
    // The cluster runs on behind the view: the newest event is at least the one `v` opened at.
    tmux.keys(&["End"]);
    let end = tmux.wait_for("the newest event", |s| header_event(s).is_some_and(|e| e >= opened));
    assert!(
        end.contains("DEAD") && end.contains(&format!("{{n{away}}}")),
        "the kill and the partition:\n{end}"
    );
    assert!(end.lines().any(|l| l.contains(" a ") && l.contains(" 1 ")), "the maps hold a=1:\n{end}");
    // Back to the last commit, then one event before it.
    tmux.keys(&["Tab", "N"]);
    let is_commit = |s: &str| {
        s.lines().rev().find(|l| l.trim_start().starts_with('#')).is_some_and(|l| l.contains(" commit "))
    };
    let at_commit =
        tmux.wait_for("a commit", |s| is_commit(s) && cursor_event(s).is_some_and(|(_, n)| n.is_some()));
    let (seq, node) = cursor_event(&at_commit).expect("the cursor's event");
    let node = node.expect("a commit is a node's");
    assert!(
        at_commit
            .lines()
            .rev()
            .find(|l| l.contains(&format!("#{seq} ")))
            .is_some_and(|l| l.contains("commit"))
    );
    let before = commit_of(&at_commit, node).expect("its commit index");
    tmux.keys(&["Left"]);
    let after_step = tmux.wait_for("one event back", |s| cursor_event(s).is_some_and(|(q, _)| q + 1 == seq));
    let after = commit_of(&after_step, node).expect("its commit index");
    assert!(after < before, "n{node}'s commit index goes back ({before} → {after})");
    tmux.keys(&["Right"]);
    let session = tmux.wait_for("the commit again", |s| cursor_event(s).is_some_and(|(q, _)| q == seq));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the present", |s| s.lines().next().is_some_and(|h| !h.contains("REWOUND")));
    tmux.keys(&["e"]);
    tmux.wait_for("the export", |s| s.contains("exported"));
    tmux.keys(&["q"]);
    tmux.wait_for("the shell again", |s| s.contains("DONE"));

    let log = dir.join("export-1-events.jsonl");
    let bin = env!("CARGO_BIN_EXE_quorum");
    let command = format!("sh -c '\"{bin}\" replay \"{}\" --at {seq}; echo DONE; sleep 600'", log.display());
    let replay = Tmux::start(&format!("rewind-replay-{engine}"), &command);
    // A long path gets the header's short form: `REPLAY export-1-events… · 384/577 · …`.
    let shown = replay.wait_for("the replay", |s| s.lines().next().is_some_and(|h| h.contains("REPLAY")));
    let header = shown.lines().next().unwrap_or_default();
    assert!(header.contains(&format!("event {seq} of")) || header.contains(&format!(" {seq}/")), "{shown}");
    assert_eq!(card_figures(&shown), card_figures(&session), "the replay shows what the session showed");
    replay.keys(&["Home"]);
    replay.wait_for("the replay's start", |s| s.contains("no leader") && s.contains("every log is empty"));
    replay.keys(&["Escape"]);
    replay.wait_for("Esc refused", |s| s.contains("a replay has no present"));
    replay.keys(&["q"]);
    replay.wait_for("the shell again", |s| s.contains("DONE"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A lesson in the console: `n` plays every step to the end, `b` goes back a step (the
/// cluster is as it was: the leader back up), a kill takes the lesson over, and `n` plays on
/// from the changed cluster.
#[test]
fn play_a_lesson_go_back_take_over_and_continue() {
    let dir = fresh_dir("lesson");
    let bin = env!("CARGO_BIN_EXE_quorum");
    let command =
        format!("sh -c '\"{bin}\" lesson example --data-dir \"{}\"; echo DONE; sleep 600'", dir.display());
    let tmux = Tmux::start("lesson", &command);
    tmux.wait_for("the lesson's introduction", |s| s.contains("before step 1 of 3") && s.contains("FROZEN"));
    // Each step, to its end: the panel names the step and offers the next.
    // (The cards follow the panel within a poll, a tenth of a second: wait for both.)
    let steps = [("step 1/3", "n  step 2"), ("step 2/3", "n  step 3"), ("step 3/3", "the end of the lesson")];
    for (shown, offered) in steps {
        tmux.keys(&["n"]);
        tmux.wait_for(shown, |s| s.contains(shown) && s.contains(offered) && leader(s).is_some());
    }
    tmux.wait_for("another leader than n1, which step 3 killed", |s| matches!(leader(s), Some(2 | 3)));
    // Back a step: n1 leads again.
    tmux.keys(&["b"]);
    let back = tmux.wait_for("back at step 2, n1 leading as it did", |s| {
        s.contains("step 2/3") && s.contains("n  step 3") && leader(s) == Some(1)
    });
    assert!(back.contains("back at the end of step 2"), "{back}");
    // Take over: kill the leader by hand.
    tmux.keys(&["1", "k"]);
    tmux.wait_for("the take-over noticed", |s| s.contains("you changed the cluster"));
    // And play on from there: step 3 elects a leader among the others.
    tmux.keys(&["n"]);
    tmux.wait_for("step 3 from the changed cluster: n2 or n3 leads", |s| {
        s.contains("step 3/3") && s.contains("the end of the lesson") && matches!(leader(s), Some(2 | 3))
    });
    tmux.keys(&["q"]);
    tmux.wait_for("the shell again", |s| s.contains("DONE"));
}

#[test]
fn serve_the_redis_protocol_from_the_live_console() {
    listen("live");
}

#[test]
fn serve_the_redis_protocol_from_the_simulator_console() {
    listen("sim");
}

/// A base port whose next three ports are free now (node nK listens on base + K).
fn free_base() -> u16 {
    loop {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("bound").port();
        let free = (port..port + 3).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free && port < u16::MAX - 3 {
            return port - 1;
        }
    }
}

/// Sends one command (its words, as RESP) and reads the first line of the answer.
fn ask(address: (&str, u16), command: &[&str]) -> std::io::Result<String> {
    use std::io::{BufRead, Write};
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut out = format!("*{}\r\n", command.len());
    for word in command {
        out.push_str(&format!("${}\r\n{word}\r\n", word.len()));
    }
    stream.write_all(out.as_bytes())?;
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line)?;
    Ok(line.trim_end().to_string())
}

/// `--listen`: the header says where the nodes listen; a SET over a real connection shows in
/// the clients panel with its connection; a partitioned node answers TRYAGAIN, a killed one
/// refuses connections until it is restarted; the export carries the connection; a second
/// console on the same ports says why it cannot and does not open.
fn listen(engine: &str) {
    let dir = fresh_dir(&format!("listen-{engine}"));
    let base = free_base();
    // Held all along: the second console's n1 cannot listen there.
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let taken = blocker.local_addr().expect("bound").port();
    let bin = env!("CARGO_BIN_EXE_quorum");
    let flags = format!("--engine {engine} --nodes 3");
    let command = format!(
        "sh -c '\"{bin}\" {flags} --listen {base} --data-dir \"{}\"; echo DONE; \
         \"{bin}\" {flags} --listen {} --data-dir \"{}-2\"; echo EXIT=$?; sleep 600'",
        dir.display(),
        taken - 1,
        dir.display()
    );
    let tmux = Tmux::start(&format!("listen-{engine}"), &command);
    let at = format!("RESP 127.0.0.1:{}-{}", base + 1, base + 3);
    let screen = tmux.wait_for("a leader", |s| leader(s).is_some() && s.contains("LEADER"));
    assert!(screen.lines().next().is_some_and(|h| h.contains(&at)), "the header says where:\n{screen}");
    let n2 = ("127.0.0.1", base + 2);
    assert_eq!(ask(n2, &["SET", "color", "red"]).expect("n2 answers"), "+OK");
    tmux.wait_for("the SET's line", |s| {
        s.contains("SET color red via n2 → OK") && s.contains("tcp 127.0.0.1:")
    });
    tmux.wait_for("the verdict on it", |s| s.contains("linearizable ✓ (1 op"));

    // n2 partitioned away: no leader reachable from it.
    tmux.keys(&["x", "2"]);
    tmux.wait_for("the partition editor", |s| s.contains("partition editor"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the partition", |s| s.contains("{n2}") && s.contains('╳'));
    let leader_now = leader(&tmux.screen()).expect("a leader");
    if leader_now != 2 {
        assert_eq!(
            ask(n2, &["SET", "color", "blue"]).expect("n2 answers"),
            "-TRYAGAIN no leader reachable from n2"
        );
        tmux.wait_for("the refusal's line", |s| s.contains("SET color blue via n2 → (error) TRYAGAIN"));
    }
    tmux.keys(&["h"]);

    // n2 killed: its port refuses; restarted, it answers again.
    tmux.keys(&["2", "k"]);
    tmux.wait_for("n2 down", |s| s.contains("DEAD") && s.contains("refuses connections"));
    assert!(ask(n2, &["PING"]).is_err(), "a dead node's port refuses connections");
    tmux.keys(&["r"]);
    tmux.wait_for("n2 up", |s| s.contains(&format!("n2 is up: it listens on 127.0.0.1:{}", base + 2)));
    let start = Instant::now();
    while ask(n2, &["GET", "color"]).ok().as_deref() != Some("$3") {
        assert!(start.elapsed() < DEADLINE, "n2 does not read color again");
        std::thread::sleep(Duration::from_millis(200));
    }

    // Export and quit: the connections are in the event log; the next console cannot listen.
    tmux.keys(&["e"]);
    tmux.wait_for("the export", |s| s.contains("exported"));
    let events = std::fs::read_to_string(dir.join("export-1-events.jsonl")).expect("the exported event log");
    assert!(events.contains("\"conn\":\"tcp 127.0.0.1:"), "the client events carry their connection");
    assert!(events.contains(&format!("serving the Redis protocol (RESP2) on 127.0.0.1:{}", base + 1)));
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the shell again", |s| s.contains("DONE"));
    assert!(screen.contains(&format!("served:  the Redis protocol on 127.0.0.1:{}", base + 1)), "{screen}");
    let screen = tmux.wait_for("the second console to refuse", |s| s.contains("EXIT=2"));
    assert!(
        screen.contains(&format!("n1 cannot listen on 127.0.0.1:{taken}")),
        "it says which node and port:\n{screen}"
    );
    assert!(ask(n2, &["PING"]).is_err(), "the first console's ports are closed");
    drop(blocker);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(format!("{}-2", dir.display()));
}
