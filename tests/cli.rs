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
