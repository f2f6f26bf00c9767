//! The command line as a user meets it: exit codes, files written, errors for bad input.

use std::process::Command;

fn quorum(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_quorum")).args(args).output().expect("run quorum");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("quorum-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir.join(name)
}

#[test]
fn sim_writes_history_and_events_that_check_clean() {
    let (h, e) = (temp("h.jsonl"), temp("e.jsonl"));
    let (code, out, err) = quorum(&[
        "sim",
        "--seed",
        "5",
        "--nodes",
        "3",
        "--history",
        h.to_str().expect("utf-8"),
        "--events",
        e.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("linearizable"), "{out}");
    let (code, out, _) = quorum(&["check", h.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{out}");
    assert!(std::fs::read_to_string(&e).expect("events").lines().count() > 100);
}

#[test]
fn unsafe_reads_exit_1_with_a_replay_command() {
    let mut caught = None;
    for seed in 1..=20 {
        let s = seed.to_string();
        let (code, out, _) =
            quorum(&["sim", "--seed", &s, "--nemesis", "partition", "--unsafe", "local-reads"]);
        if code == 1 {
            caught = Some(out);
            break;
        }
    }
    let out = caught.expect("local reads must be caught within 20 seeds");
    assert!(out.contains("NOT linearizable"), "{out}");
    assert!(out.contains("replay: quorum sim --seed"), "{out}");
}

/// A failed run says how to open it in the console at the breaking event: `quorum replay` with
/// the seed, the event, and exactly the flags that are not defaults; for a history that is not
/// linearizable, the event is the `client` event of the first operation the excerpt names.
#[test]
fn a_failed_run_prints_the_command_that_opens_it_in_the_console_at_the_violation() {
    let events = temp("open.jsonl");
    let path = events.to_str().expect("utf-8");
    for (flags, shown) in
        [(&[][..], ""), (&["--nodes", "3", "--nemesis", "partition"][..], " --nodes 3 --nemesis partition")]
    {
        let mut caught = None;
        for seed in 1..=20 {
            let s = seed.to_string();
            let mut args = vec!["sim", "--seed", &s, "--events", path, "--unsafe", "local-reads"];
            args.extend_from_slice(flags);
            let (code, out, _) = quorum(&args);
            if code == 1 {
                caught = Some((seed, out));
                break;
            }
        }
        let (seed, out) = caught.expect("local reads must be caught within 20 seeds");
        assert!(out.contains("NOT linearizable"), "{out}");
        let prefix = format!("  open in the console: quorum replay --seed {seed} --at ");
        let line =
            out.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no open line:\n{out}"));
        let (at, rest) = line[prefix.len()..].split_once(' ').expect("more flags");
        assert_eq!(format!(" {rest}"), format!("{shown} --unsafe local-reads"), "{line}");
        let at: usize = at.parse().expect("an event number");
        let log = std::fs::read_to_string(&events).expect("events");
        let event = log.lines().nth(at).expect("the event is in the log");
        assert!(event.contains(&format!("\"seq\":{at},")), "{event}");
        // The first operation of the excerpt, by invoke time: `p5 put k0=5.16 [4747454056, ?]`.
        let first = out.lines().skip_while(|l| !l.contains("cannot be ordered")).nth(1).expect("an excerpt");
        let invoked = first.split('[').nth(1).and_then(|t| t.split(',').next()).expect("an invoke time");
        assert!(
            event.contains("\"kind\":\"client\"") && event.contains(&format!("\"invoked\":{invoked}")),
            "{first}\n{event}"
        );
    }
}

#[test]
fn bad_arguments_exit_2_with_a_clear_message() {
    for args in [
        &["sim", "--nemesis", "partition,typo"][..],
        &["sim", "--seeds", "5..2"],
        &["sim", "--nodes", "12"],
        &["run", "--duration", "-1"],
        &["bench", "--clients", "1,x"],
        &["frobnicate"],
    ] {
        let (code, out, err) = quorum(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(!err.trim().is_empty(), "{args:?} printed no error");
    }
}

#[test]
fn check_reports_bad_files_with_exit_2_and_line_numbers() {
    let bad = temp("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"type\":\"invoke\",\"process\":1,\"f\":\"put\",\"key\":\"k\",\"value\":\"v\",\"time\":1}\nnot json\n",
    )
    .expect("write");
    let (code, out, err) = quorum(&["check", bad.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(format!("{out}{err}").contains("line 2"), "{out}{err}");
    let (code, _, _) = quorum(&["check", "/nonexistent/history.jsonl"]);
    assert_eq!(code, 2);
    let stale = temp("stale.jsonl");
    std::fs::write(
        &stale,
        [
            r#"{"type":"invoke","process":1,"f":"put","key":"k","value":"a","time":1}"#,
            r#"{"type":"ok","process":1,"f":"put","key":"k","value":"a","time":2}"#,
            r#"{"type":"invoke","process":1,"f":"put","key":"k","value":"b","time":3}"#,
            r#"{"type":"ok","process":1,"f":"put","key":"k","value":"b","time":4}"#,
            r#"{"type":"invoke","process":2,"f":"get","key":"k","value":null,"time":5}"#,
            r#"{"type":"ok","process":2,"f":"get","key":"k","value":"a","time":6}"#,
        ]
        .join("\n"),
    )
    .expect("write");
    let (code, out, _) = quorum(&["check", stale.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{out}");
}

/// A fresh data directory path for one test (not created).
fn data_dir(name: &str) -> std::path::PathBuf {
    let dir = temp(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run_on(dir: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["run", "--data-dir", dir.to_str().expect("utf-8"), "--nodes", "3", "--duration", "1"];
    args.extend_from_slice(extra);
    quorum(&args)
}

/// The "ops: N ok, F fail, I info" counts of a run's summary.
fn counts(out: &str) -> (u64, u64, u64) {
    let line = out.lines().find(|l| l.starts_with("ops: ")).unwrap_or_else(|| panic!("no ops line: {out}"));
    let n: Vec<u64> = line
        .split([' ', ','])
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| ["ok", "fail", "info"].contains(&w[1]))
        .filter_map(|w| w[0].parse().ok())
        .collect();
    (n[0], n[1], n[2])
}

/// Issue: a data directory used a second time lost acknowledged writes (client ids restarted
/// from 1 and the recovered session table took new requests for retries of old ones). Now the
/// second run's puts are applied, none is refused as stale, and the history, which starts on
/// values it did not see written, is judged with unknown initial values: linearizable.
#[test]
fn a_data_directory_used_twice_keeps_every_write() {
    let dir = data_dir("twice");
    let (h1, h2) = (temp("twice-h1.jsonl"), temp("twice-h2.jsonl"));
    let (code, out, err) = run_on(&dir, &["--history", h1.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_on(&dir, &["--history", h2.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "second run: {out}{err}");
    let (ok, fail, _) = counts(&out);
    assert!(ok > 100 && fail == 0, "the second run's operations all succeed: {out}");
    assert!(!out.contains("stale request"), "{out}");
    assert!(out.contains("the data directory held data"), "{out}");
    let history = std::fs::read_to_string(&h2).expect("history");
    assert!(history.starts_with(r#"{"type":"start","initial":"unknown","cluster":""#), "{history:.200}");
    let (code, out, _) = quorum(&["check", h2.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("initial values unknown"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue: two processes on one directory interleaved their logs and destroyed the data. The
/// second one now stops before touching any file, names the directory and the holder.
#[test]
fn a_second_process_on_one_directory_is_refused() {
    let dir = data_dir("locked");
    let first = Command::new(env!("CARGO_BIN_EXE_quorum"))
        .args(["run", "--data-dir", dir.to_str().expect("utf-8"), "--nodes", "3", "--duration", "4"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("first run");
    let lock = dir.join(quorum::storage::LOCK_FILE);
    let start = std::time::Instant::now();
    // The first run takes the lock, then creates its three logs: wait for both.
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("pid")) || wal_sizes(&dir).len() < 3 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "the first run never locked the directory and created its logs"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let before: Vec<(String, u64)> = wal_sizes(&dir);
    let (code, out, err) = run_on(&dir, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(&dir.display().to_string()), "{err}");
    assert!(err.contains(&format!("in use by another quorum process (pid {})", first.id())), "{err}");
    let after = first.wait_with_output().expect("first run ends");
    assert_eq!(after.status.code(), Some(0), "{}", String::from_utf8_lossy(&after.stdout));
    let names = |v: Vec<(String, u64)>| v.into_iter().map(|(name, _)| name).collect::<Vec<_>>();
    assert_eq!(names(wal_sizes(&dir)), names(before), "the second process created no log");
    let _ = std::fs::remove_dir_all(&dir);
}

fn wal_sizes(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".wal"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().map(|m| m.len()).unwrap_or(0)))
        .collect();
    v.sort();
    v
}

/// Issue: a directory written by 5 nodes opened silently as 3. Now it says what it holds.
#[test]
fn a_directory_of_another_size_is_refused() {
    let dir = data_dir("size");
    let (code, out, err) = run_on(&dir, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) =
        quorum(&["run", "--data-dir", dir.to_str().expect("utf-8"), "--nodes", "5", "--duration", "1"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("of 3 nodes, not 5") && err.contains("--nodes 3"), "{err}");
    let (code, _, err) = quorum(&["run", "--data-dir", "/dev/null", "--duration", "1"]);
    assert_eq!(code, 2);
    assert!(err.contains("/dev/null: not a directory"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue: a node that could not start was hidden, and the run exited 0. Here n2's log has a
/// run of 0xFF over a record header in the middle: n2 refuses to start (naming the file and
/// the offset), the file is left as it was, the others serve, and the run exits 2.
#[test]
fn a_node_that_cannot_start_is_reported_and_the_run_exits_2() {
    let dir = data_dir("damaged");
    let (code, out, err) = run_on(&dir, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let wal = dir.join("n2.wal");
    let mut bytes = std::fs::read(&wal).expect("n2.wal");
    let starts: Vec<usize> =
        (0..bytes.len().saturating_sub(4)).filter(|&i| &bytes[i..i + 4] == b"QWAL").collect();
    assert!(starts.len() > 10, "n2 wrote records");
    let at = starts[starts.len() / 2];
    bytes[at..at + 20].fill(0xff);
    std::fs::write(&wal, &bytes).expect("damage");
    let (code, out, err) = run_on(&dir, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains(&format!("error: n2 cannot start: {}: corrupt record at offset {at}", wal.display())),
        "{out}"
    );
    assert!(out.contains("history: linearizable"), "the others served and were checked: {out}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(std::fs::read(&wal).expect("n2.wal"), bytes, "a damaged log is never rewritten");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue: on a full disk node threads printed panic backtraces and the run exited 0. On a
/// 400 kB tmpfs (mounted in a private mount namespace, so no root is needed), the nodes stop
/// cleanly with "No space left on device", the run exits 2, and once there is room again the
/// same directory starts and serves (the torn tails the full disk left are cut off).
#[test]
fn a_full_disk_stops_nodes_cleanly_and_they_start_again_with_room() {
    let mount = temp("full");
    let _ = std::fs::create_dir_all(&mount);
    let bin = env!("CARGO_BIN_EXE_quorum");
    let script = format!(
        "set -e; mount -t tmpfs -o size=400k tmpfs '{m}'; \
         '{bin}' run --data-dir '{m}/d' --nodes 3 --duration 3 --snapshot-every 0 && echo FIRST=0 || echo FIRST=$?; \
         mount -o remount,size=64m tmpfs '{m}'; \
         '{bin}' run --data-dir '{m}/d' --nodes 3 --duration 1 && echo SECOND=0 || echo SECOND=$?",
        m = mount.display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--map-root-user", "sh", "-c", &script])
        .output()
        .expect("this test needs unshare (util-linux) to mount a small tmpfs in a private namespace");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("FIRST=2"), "a full disk must make the run exit 2:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("stopped on a storage error") && stdout.contains("No space left on device"),
        "{stdout}"
    );
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    assert!(stdout.contains("SECOND=0"), "with room again the nodes start and serve:\n{stdout}\n{stderr}");
}

/// Every number a flag takes has a range, and a value outside it is a clear error (exit 2),
/// never a panic, a wrap-around or a run without end; words in the wrong place say what is wrong.
#[test]
fn numbers_out_of_range_and_misplaced_words_are_explained() {
    let cases: [(&[&str], &str); 10] = [
        (&["--delay", "60-40"], "60 is above 40: type the low end first"),
        (&["run", "--duration", "1e20"], "give 0.001 to 86400 seconds"),
        (&["run", "--duration", "-1"], "out of range"),
        (&["bench", "--duration", "1e20"], "give 0.001 to 86400 seconds"),
        (&["bench", "--clients", "1,100000"], "from 1 to 4096"),
        (&["sim", "--ops", "18446744073709551615"], "not in 1..=10000000"),
        (&["sim", "--keys", "0"], "not in 1..=1000000"),
        (&["--speed", "-1"], "the speed goes from 0.05 (1/20) to 10"),
        (
            &["--nodes", "3", "extra"],
            "\"extra\" is not a command: the commands are sim, run, serve, bench, replay, lesson, check",
        ),
        (&["--nodes", "3", "sim"], "`--nodes 3` goes after the command: `quorum sim --nodes 3`"),
    ];
    for (args, says) in cases {
        let (code, out, err) = quorum(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?} should say {says:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let file = temp("a-file");
    std::fs::write(&file, b"x").expect("write");
    let inside = file.join("data");
    let (code, _, err) = quorum(&["run", "--duration", "1", "--data-dir", inside.to_str().expect("utf-8")]);
    assert_eq!(code, 2);
    assert!(err.contains("a part of this path is a file, not a directory"), "{err}");
    assert_eq!(err.matches("directory").count(), 1, "said once, not twice: {err}");
}

/// A simulator run's event log, written by `quorum sim --events`.
fn sim_events(name: &str) -> (std::path::PathBuf, String) {
    let path = temp(name);
    let (code, out, err) = quorum(&[
        "sim",
        "--seed",
        "3",
        "--nodes",
        "3",
        "--ops",
        "20",
        "--events",
        path.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&path).expect("the event log");
    (path, text)
}

#[test]
fn replay_refuses_what_is_not_a_whole_event_log_with_the_line_and_exit_2() {
    let (_, log) = sim_events("replay-source.jsonl");
    let lines: Vec<&str> = log.lines().collect();
    let write = |name: &str, text: &str| {
        let p = temp(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    // Not an event log at all; a line cut in the middle of the file; a newer schema; no file.
    let cut = format!("{}\n{}\n{}\n", lines[0], &lines[1][..lines[1].len() / 2], lines[2]);
    let newer = log.replacen("\"schema\":2", "\"schema\":9", 1);
    let cases = [
        (write("replay-notes.txt", "shopping list\nmilk\n"), "line 1: not JSON"),
        (write("replay-cut.jsonl", &cut), "line 2: not JSON"),
        (write("replay-newer.jsonl", &newer), "line 1: written by a newer quorum (event log schema 9"),
        (temp("replay-missing.jsonl"), "No such file"),
    ];
    for (path, want) in cases {
        let (code, out, err) = quorum(&["replay", path.to_str().expect("utf-8")]);
        assert_eq!(code, 2, "{}: {out}{err}", path.display());
        assert!(
            err.contains(want) && err.starts_with("error: "),
            "{}: {err} (wanted {want:?})",
            path.display()
        );
        assert!(!err.contains("panicked") && out.is_empty(), "{err}{out}");
    }
}

#[test]
fn replay_skips_a_torn_last_line_with_a_warning_and_checks_its_flags() {
    let (path, log) = sim_events("replay-torn.jsonl");
    let torn = format!("{}{{\"seq\":99999,\"ti", log);
    let torn_path = temp("replay-torn-2.jsonl");
    std::fs::write(&torn_path, torn).expect("write");
    // Read whole, with a warning; then (no terminal here) the console cannot open.
    let (code, _, err) = quorum(&["replay", torn_path.to_str().expect("utf-8")]);
    assert!(err.contains("warning: ") && err.contains("cut short"), "{err}");
    assert!(err.contains("needs a terminal") && code == 2, "{code}: {err}");
    let n = log.lines().count();
    let file = path.to_str().expect("utf-8");
    let (code, _, err) = quorum(&["replay", file, "--at", &n.to_string()]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("the log's events are numbered 0 to {}", n - 1)), "{err}");
    let (code, _, err) = quorum(&["replay", file, "--speed", "50"]);
    assert!(code == 2 && err.contains("play speed goes from 0.01 to 10"), "{err}");
    let (code, _, err) = quorum(&["replay"]);
    assert!(code == 2 && err.contains("<FILE>"), "{err}");
    // A seed re-run with quorum sim's flags reads back like a file.
    let (code, _, err) = quorum(&["replay", "--seed", "3", "--nodes", "3", "--ops", "20", "--at", "5"]);
    assert!(
        code == 2 && err.contains("re-ran quorum sim --seed 3 --nodes 3") && err.contains("needs a terminal"),
        "{err}"
    );
    let svg = temp("replay.svg");
    let (code, _, err) =
        quorum(&["replay", file, "--svg", svg.to_str().expect("utf-8"), "--from", "5", "--to", "3"]);
    assert!(code == 2 && err.contains("nothing to draw"), "{err}");
}

#[test]
fn lesson_lists_checks_and_explains_bad_lessons() {
    let (code, out, _) = quorum(&["lesson"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("leader-election") && out.contains("figure8-hazard") && out.contains("steps)"),
        "{out}"
    );
    let (code, out, err) = quorum(&["lesson", "example", "--check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("every condition held"), "{out}");
    // A lesson that drifts from what the cluster does fails its check, naming the line.
    let drifted = temp("drifted.lesson");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/lessons/example.lesson"))
        .expect("the example")
        .replace("until leader n1 within 100 ticks", "until leader n2 within 100 ticks");
    std::fs::write(&drifted, text).expect("write");
    let (code, out, _) = quorum(&["lesson", drifted.to_str().expect("utf-8"), "--check"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("drifted.lesson:") && out.contains("step 1") && out.contains("n1 leads, not n2"),
        "{out}"
    );
    // A malformed lesson: the file, the line and what is wrong; exit 2.
    let bad = temp("bad.lesson");
    std::fs::write(&bad, "title T\ncluster nodes=3\nstep S\nkil n1\n").expect("write");
    let (code, _, err) = quorum(&["lesson", bad.to_str().expect("utf-8"), "--check"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.lesson:4: unknown instruction `kil`"), "{err}");
    let (code, _, err) = quorum(&["lesson", "no-such-lesson"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no lesson \"no-such-lesson\"") && err.contains("leader-election"), "{err}");
    // --check --events writes the run, which replay reads.
    let events = temp("lesson-events.jsonl");
    let (code, out, err) =
        quorum(&["lesson", "example", "--check", "--events", events.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{out}{err}");
    let log = std::fs::read_to_string(&events).expect("the event log");
    assert!(log.contains("lesson step 3/3"), "the steps are marked in the log");
}

#[test]
fn a_golden_script_becomes_a_lesson_skeleton_that_reads() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scripts/split_vote_resolves");
    let (code, out, err) = quorum(&["lesson", "--from-script", script]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("title Split vote resolves") && out.contains("campaign n1"), "{out}");
    let skeleton = temp("skeleton.lesson");
    std::fs::write(&skeleton, &out).expect("write");
    let (code, out, err) = quorum(&["lesson", skeleton.to_str().expect("utf-8"), "--check"]);
    assert_ne!(code, 2, "the skeleton reads as a lesson: {out}{err}");
}

/// `quorum serve` refuses a port range that does not fit, and an address in use, before it
/// serves anything: exit 2, and the node and address named.
#[test]
fn serve_refuses_ports_it_cannot_have() {
    let (code, _, err) = quorum(&["serve", "--nodes", "3", "--storage", "mem", "--listen", "65534"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--listen 65534") && err.contains("PORT must be 1 to 65532"), "{err}");
    let (code, _, err) = quorum(&["serve", "--storage", "mem", "--listen", "0"]);
    assert_eq!(code, 2, "{err}");
    // Hold n2's port: the serve must say so and stop, not serve without n2.
    let (taken, base) = (0..200)
        .find_map(|k| {
            let base = 42_000 + k * 10;
            std::net::TcpListener::bind(("127.0.0.1", base + 2)).ok().map(|l| (l, base))
        })
        .expect("a free port");
    let listen = base.to_string();
    let (code, out, err) = quorum(&["serve", "--nodes", "3", "--storage", "mem", "--listen", &listen]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains(&format!("n2 cannot listen on 127.0.0.1:{}", base + 2)), "{err}");
    drop(taken);
}
