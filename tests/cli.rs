//! The `tfevents` binary as a user runs it.

mod common;

use std::process::{Command, Output};

use common::fixture;

fn tfevents(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tfevents"))
        .args(args)
        .output()
        .expect("run tfevents")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 output")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn missing_path_fails_with_a_clear_error() {
    let o = tfevents(&["inspect", "/no/such/logdir"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("/no/such/logdir"), "{err}");
    assert!(err.contains("No such file"), "{err}");
    let o = tfevents(&["dump", "/no/such/logdir"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_directory_of_tables_given_for_event_files_says_what_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tables");
    let o = tfevents(&["convert", "fixtures/logdir", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for cmd in ["inspect", "dump"] {
        let o = tfevents(&[cmd, out.to_str().unwrap()]);
        assert!(o.status.success(), "{cmd}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("holds tables written by `tfevents convert`"),
            "{cmd}: {err}"
        );
        assert!(
            err.contains(&format!("tfevents export {}", out.display())),
            "{err}"
        );
        assert!(err.contains("no event files found"), "{cmd}: {err}");
    }
}

#[test]
fn the_largest_step_is_not_superseded_without_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    for (step, v) in [("9223372036854775807", "a=1"), ("0", "a=2")] {
        let o = tfevents(&["log", "--logdir", d, "--step", step, v]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let out = stdout(&tfevents(&["dump", d]));
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["step"], i64::MAX);
    assert!(rows.iter().all(|r| r["superseded"] == false), "{out}");
}

#[test]
fn unknown_kind_is_a_usage_error() {
    let o = tfevents(&["dump", "--kinds", "scalar,bogus", "fixtures/logdir"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bogus"));
}

#[test]
fn dump_prints_one_json_object_per_value() {
    let logdir = fixture("logdir");
    let o = tfevents(&["dump", logdir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).is_empty(),
        "no warnings on clean fixtures: {}",
        stderr(&o)
    );
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert!(lines.len() > 150);
    for l in &lines {
        for key in ["run", "tag", "step", "wall_time", "kind", "superseded"] {
            assert!(l.get(key).is_some(), "{key} missing in {l}");
        }
    }
    let weird: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["run"] == "pt_writer" && l["tag"] == "weird/values")
        .map(|l| &l["value"])
        .collect();
    assert_eq!(
        weird,
        vec![
            &serde_json::json!(0.25),
            &serde_json::json!("nan"),
            &serde_json::json!("inf"),
            &serde_json::json!("-inf"),
            &serde_json::json!(-0.0),
        ]
    );
    let image = lines
        .iter()
        .find(|l| l["kind"] == "image" && l["run"] == "tbx" && l["tag"] == "images/rgb")
        .expect("an image");
    assert_eq!(image["format"], "png");
    assert_eq!(image["sha256"].as_str().unwrap().len(), 64);
    assert!(image["bytes"].as_u64().unwrap() > 50);
    assert!(image.get("data").is_none(), "no image bytes in dump");
    let restart: Vec<(i64, bool)> = lines
        .iter()
        .filter(|l| l["run"] == "tbx_restart" && l["kind"] == "scalar")
        .map(|l| {
            (
                l["step"].as_i64().unwrap(),
                l["superseded"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(restart.iter().filter(|(_, s)| *s).count(), 5);
    assert!(restart.contains(&(7, true)) && restart.contains(&(7, false)));
}

#[test]
fn dump_filters_kinds() {
    let o = tfevents(&[
        "dump",
        "--kinds",
        "text",
        fixture("logdir/tf2").to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["text"], "plain text");
    assert_eq!(lines[2]["text"], serde_json::json!(["a", "b", "c", "ünï"]));
    assert_eq!(lines[2]["shape"], serde_json::json!([2, 2]));
}

#[test]
fn damage_is_reported_but_does_not_fail() {
    let damaged = fixture("damaged");
    let o = tfevents(&["dump", damaged.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(err.contains("bad data checksum"), "{err}");
    assert!(err.contains("resyncing"), "{err}");
    assert!(err.contains("truncated"), "{err}");
    assert!(
        stdout(&o).lines().count() > 100,
        "the rest of the files is read"
    );

    let o = tfevents(&["inspect", "--json", damaged.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON document");
    let runs = doc["runs"].as_array().unwrap();
    let names: Vec<&str> = runs.iter().map(|r| r["run"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        vec![
            "empty",
            "flipped",
            "flipped_length",
            "garbage",
            "truncated",
            "version_only",
            "zero_tail"
        ]
    );
    let flipped = &runs[1];
    assert_eq!(flipped["files"][0]["clean"], false);
    assert_eq!(flipped["files"][0]["damage"]["bad_data_crc"], 1);
    let garbage = &runs[3];
    assert_eq!(garbage["damage"]["resync_bytes"], 100);
    assert_eq!(runs[0]["files"][0]["clean"], true);
    assert_eq!(runs[0]["values"], 0);
}

#[test]
fn inspect_text_lists_kinds_restarts_and_damage() {
    let o = tfevents(&["inspect", fixture("logdir").to_str().unwrap()]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("run tbx_restart  (2 files"), "{out}");
    assert!(out.contains("5 superseded"), "{out}");
    assert!(out.contains("at step 5"), "{out}");
    assert!(out.contains("pr_curve (1 tag)"), "{out}");
    assert!(out.contains("hparams (3 tags)"), "{out}");

    let o = tfevents(&["inspect", fixture("damaged/flipped").to_str().unwrap()]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("damage"), "{out}");
    assert!(
        out.contains("1 record skipped (bad data checksum)"),
        "{out}"
    );
}

#[test]
fn inspect_json_counts_tags_and_steps() {
    let o = tfevents(&["inspect", "--json", fixture("logdir").to_str().unwrap()]);
    assert!(o.status.success());
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let run = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"] == "tbx_restart")
        .unwrap();
    let loss = &run["tags"][0];
    assert_eq!(loss["tag"], "loss");
    assert_eq!(loss["kind"], "scalar");
    assert_eq!(loss["count"], 18);
    assert_eq!(loss["superseded"], 5);
    assert_eq!(loss["min_step"], 0);
    assert_eq!(loss["max_step"], 12);
    assert_eq!(run["restarts"][0]["step"], 5);
}

#[test]
fn single_files_can_be_given() {
    let dir = fixture("logdir/tbx_restart");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let o = tfevents(&["inspect", "--json", files[1].to_str().unwrap()]);
    assert!(o.status.success());
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["runs"].as_array().unwrap().len(), 1);
    assert_eq!(doc["runs"][0]["tags"][0]["count"], 8);
}

fn tfevents_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tfevents"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run tfevents");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn log_appends_scalars_from_arguments_and_stdin_to_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("shell-run");
    let run_s = run.to_str().unwrap();
    for step in 0..3 {
        let loss = format!("train/loss={}", 1.0 / (step as f64 + 1.0));
        let o = tfevents(&[
            "log",
            "--logdir",
            run_s,
            "--step",
            &step.to_string(),
            &loss,
            "acc=0.5",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = tfevents(&[
        "log",
        "--logdir",
        run_s,
        "--step",
        "-1",
        "--wall-time",
        "1700000000.5",
        "--double",
        "x=0.1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = tfevents_stdin(
        &["log", "--logdir", run_s, "--stdin"],
        "# step values\n3 train/loss=0.2 acc=nan\n\n4 train/loss=inf\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let files: Vec<_> = std::fs::read_dir(&run).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "one file for all calls");
    let o = tfevents(&["dump", run_s]);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    let rows: Vec<(String, i64, String)> = stdout(&o)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["tag"].as_str().unwrap().to_owned(),
                v["step"].as_i64().unwrap(),
                v["value"].to_string(),
            )
        })
        .collect();
    let expect = |tag: &str, step: i64, value: &str| (tag.to_owned(), step, value.to_owned());
    assert_eq!(
        rows,
        vec![
            expect("train/loss", 0, "1.0"),
            expect("acc", 0, "0.5"),
            expect("train/loss", 1, "0.5"),
            expect("acc", 1, "0.5"),
            expect("train/loss", 2, &f64::from(1.0f32 / 3.0).to_string()),
            expect("acc", 2, "0.5"),
            expect("x", -1, "0.1"),
            expect("train/loss", 3, &f64::from(0.2f32).to_string()),
            expect("acc", 3, "\"nan\""),
            expect("train/loss", 4, "\"inf\""),
        ]
    );
    let x = stdout(&o)
        .lines()
        .find(|l| l.contains("\"x\""))
        .unwrap()
        .to_owned();
    assert!(
        x.contains("\"wall_time\":1700000000.5") && x.contains("float64"),
        "{x}"
    );
}

#[test]
fn log_rejects_bad_values_with_the_offending_token() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r");
    let run_s = run.to_str().unwrap();
    let o = tfevents(&["log", "--logdir", run_s, "loss=1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--step"), "{}", stderr(&o));
    let o = tfevents(&["log", "--logdir", run_s, "--step", "1", "loss=abc"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("\"abc\" is not a number"),
        "{}",
        stderr(&o)
    );
    let o = tfevents_stdin(&["log", "--logdir", run_s, "--stdin"], "1 a=1\nbad line\n");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("stdin line 2"), "{}", stderr(&o));
    // The good line before the bad one was kept, and the file is intact.
    let o = tfevents(&["dump", run_s]);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1);
    // A line that is not UTF-8 is named as a line of stdin.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tfevents"))
        .args(["log", "--logdir", run_s, "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(b"2 a=1\n3 b\xff=1\n").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("stdin line 2"), "{}", stderr(&o));
    // A --logdir that is a file.
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let o = tfevents(&[
        "log",
        "--logdir",
        file.to_str().unwrap(),
        "--step",
        "1",
        "a=1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("is a file, not a run directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn log_starts_a_new_file_after_another_writer_or_a_cut_off_record() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r");
    let run_s = run.to_str().unwrap();
    assert!(tfevents(&["log", "--logdir", run_s, "--step", "0", "a=1"])
        .status
        .success());
    // Cut the last record short, as a crash would.
    let file = std::fs::read_dir(&run)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(tfevents(&["log", "--logdir", run_s, "--step", "1", "a=2"])
        .status
        .success());
    assert_eq!(std::fs::read_dir(&run).unwrap().count(), 2);
    // Another writer's newer file: the next call starts a new file after it, keeping order.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let other = tfevents::writer::EventWriter::create(&run, Default::default()).unwrap();
    drop(other);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(tfevents(&["log", "--logdir", run_s, "--step", "2", "a=3"])
        .status
        .success());
    let mut names: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 4);
    assert!(
        names[3].ends_with(".cli") && !names[2].ends_with(".cli"),
        "{names:?}"
    );
    let o = tfevents(&["dump", run_s]);
    let steps: Vec<i64> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        steps,
        vec![1, 2],
        "the cut-off value is lost, the new ones kept"
    );
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));
}
