//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tfevents::logdir::discover;
use tfevents::run::{load_run, OwnedPoint, RunReport};

/// Path of a file under `fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// Converts `fixtures/logdir` into tables in `out` with the `tfevents` binary and the extra
/// arguments `extra`; panics with its stderr if that fails.
pub fn convert_fixtures(out: &Path, extra: &[&str]) {
    let logdir = fixture("logdir");
    let mut args = vec![
        "convert",
        logdir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tfevents"))
        .args(&args)
        .output()
        .expect("run tfevents");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Every run under a logdir, loaded into memory, by run name.
pub fn load_logdir(dir: &Path) -> BTreeMap<String, (Vec<OwnedPoint>, RunReport)> {
    let d = discover(&[dir]).expect("discover");
    d.runs
        .iter()
        .map(|r| (r.run.0.clone(), load_run(r)))
        .collect()
}

/// Parses `fixtures/expected.jsonl`.
pub fn expected_rows() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(fixture("expected.jsonl")).expect("expected.jsonl");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("valid JSON line"))
        .collect()
}

/// A JSON number, or one of the strings "nan", "inf", "-inf".
pub fn json_f64(v: &serde_json::Value) -> f64 {
    match v {
        serde_json::Value::String(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("not a number: {other}"),
        },
        other => other
            .as_f64()
            .unwrap_or_else(|| panic!("not a number: {other}")),
    }
}

/// Equality that treats NaN as equal to NaN.
pub fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}
