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
