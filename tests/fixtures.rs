//! The reader against real files from real writers: every value the fixture script logged
//! (`fixtures/expected.jsonl`) is read back with the right value, and damaged copies lose only
//! the damaged records.

mod common;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use tfevents::record::RecordReader;
use tfevents::run::OwnedPoint;
use tfevents::value::{dtype, element_f64, Hparams, TensorData, Value};

use common::{expected_rows, fixture, json_f64, load_logdir, same};

fn f64_list(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(json_f64).collect()
}

fn pixels_sha256(png: &[u8]) -> (String, u8) {
    let img = image::load_from_memory(png).expect("decodable image");
    let channels = img.color().channel_count();
    let hex = Sha256::digest(img.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    (hex, channels)
}

fn find<'a>(points: &'a [OwnedPoint], row: &serde_json::Value) -> &'a OwnedPoint {
    let tag = row["tag"].as_str().unwrap();
    let step = row["step"].as_i64().unwrap();
    let kind = row["kind"].as_str().unwrap();
    let index = row.get("index").and_then(|i| i.as_u64());
    let superseded = row.get("superseded").and_then(|s| s.as_bool());
    let matches: Vec<&OwnedPoint> = points
        .iter()
        .filter(|p| p.tag == tag && p.step.0 == step && p.value.kind().as_str() == kind)
        .filter(|p| match (&p.value, index) {
            (Value::Image(im), Some(i)) => u64::from(im.index) == i,
            (Value::Audio(a), Some(i)) => u64::from(a.index) == i,
            _ => true,
        })
        .filter(|p| superseded.is_none_or(|s| p.superseded == s))
        .collect();
    assert_eq!(matches.len(), 1, "exactly one value for {row}");
    matches[0]
}

#[test]
fn every_logged_value_reads_back_exactly() {
    let runs = load_logdir(&fixture("logdir"));
    let rows = expected_rows();
    assert!(rows.len() > 100, "expected file has {} rows", rows.len());
    let mut checked = BTreeMap::<String, usize>::new();
    for row in &rows {
        let run = row["run"].as_str().unwrap();
        let (points, _) = runs
            .get(run)
            .unwrap_or_else(|| panic!("run {run} not found"));
        let p = find(points, row);
        let kind = row["kind"].as_str().unwrap();
        *checked.entry(kind.to_owned()).or_default() += 1;
        match (&p.value, kind) {
            (Value::Scalar(s), "scalar") => {
                let want = json_f64(&row["value"]);
                let want = if row["dtype"] == "float32" {
                    f64::from(want as f32)
                } else {
                    want
                };
                assert!(same(s.value, want), "{row}: got {}", s.value);
                assert_eq!(
                    dtype::name(s.dtype),
                    row["dtype"].as_str().unwrap(),
                    "{row}"
                );
            }
            (Value::Histogram(h), "histogram") => {
                for (key, got) in [
                    ("num", h.num),
                    ("min", h.min),
                    ("max", h.max),
                    ("sum", h.sum),
                    ("sum_squares", h.sum_squares),
                ] {
                    match row[key].as_f64() {
                        None => assert_eq!(got, None, "{key} of {row}"),
                        Some(want) => {
                            let got = got.unwrap_or_else(|| panic!("{key} missing: {row}"));
                            assert!(
                                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                                "{key}: got {got}, want {want} for {}",
                                row["tag"]
                            );
                        }
                    }
                }
                let total: f64 = h.count.iter().sum();
                assert_eq!(total, row["bucket_counts_total"].as_f64().unwrap());
                if let Some(limits) = row.get("bucket_limit") {
                    assert_eq!(h.right, f64_list(limits), "{}", row["tag"]);
                    assert_eq!(h.count, f64_list(&row["bucket"]), "{}", row["tag"]);
                }
                if let Some(buckets) = row.get("buckets") {
                    let b = buckets.as_array().unwrap();
                    assert_eq!(h.left.len(), b.len());
                    for (i, r) in b.iter().enumerate() {
                        let r = f64_list(r);
                        assert_eq!((h.left[i], h.right[i], h.count[i]), (r[0], r[1], r[2]));
                    }
                }
            }
            (Value::Image(im), "image") => {
                assert_eq!(im.width, row["width"].as_i64().unwrap(), "{row}");
                assert_eq!(im.height, row["height"].as_i64().unwrap(), "{row}");
                let (sha, channels) = pixels_sha256(&im.data);
                assert_eq!(
                    u64::from(channels),
                    row["channels"].as_u64().unwrap(),
                    "{row}"
                );
                assert_eq!(
                    sha,
                    row["pixels_sha256"].as_str().unwrap(),
                    "pixels of {row}"
                );
            }
            (Value::Audio(a), "audio") => {
                assert_eq!(a.sample_rate, row["sample_rate"].as_f64(), "{row}");
                assert_eq!(a.frames, row["frames"].as_i64(), "{row}");
                assert_eq!(a.channels, row["channels"].as_i64(), "{row}");
                assert!(a.data.starts_with(b"RIFF"), "WAV bytes kept");
            }
            (Value::Text(t), "text") => {
                if let Some(text) = row.get("text") {
                    assert_eq!(t.strings, vec![text.as_str().unwrap().to_owned()], "{row}");
                } else {
                    let want: Vec<String> = row["texts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap().to_owned())
                        .collect();
                    assert_eq!(t.strings, want);
                    let shape: Vec<i64> = row["shape"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_i64().unwrap())
                        .collect();
                    assert_eq!(t.shape, shape);
                }
            }
            (Value::PrCurve(c), "pr_curve") => {
                let data: Vec<Vec<f64>> = row["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        f64_list(r)
                            .into_iter()
                            .map(|v| f64::from(v as f32))
                            .collect()
                    })
                    .collect();
                assert_eq!(
                    vec![&c.tp, &c.fp, &c.tn, &c.fn_, &c.precision, &c.recall],
                    data.iter().collect::<Vec<_>>()
                );
                assert_eq!(c.tp.len() as u64, row["num_thresholds"].as_u64().unwrap());
            }
            (Value::Hparams(h), "hparams") => match (&**h, row["hparams_kind"].as_str().unwrap()) {
                (Hparams::Experiment(e), "experiment") => {
                    let names: Vec<&str> = e.hparam_infos.iter().map(|i| i.name.as_str()).collect();
                    let want: Vec<&str> = row["hparam_names"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap())
                        .collect();
                    assert_eq!(names, want);
                    let metrics: Vec<&str> = e
                        .metric_infos
                        .iter()
                        .map(|m| m.name.as_ref().map(|n| n.tag.as_str()).unwrap_or(""))
                        .collect();
                    let want: Vec<&str> = row["metric_tags"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap())
                        .collect();
                    assert_eq!(metrics, want);
                }
                (Hparams::SessionStart(s), "session_start") => {
                    let want = row["hparams"].as_object().unwrap();
                    assert_eq!(s.hparams.len(), want.len(), "{row}");
                    for (k, v) in want {
                        let got = tfevents::json::proto_value_json(&s.hparams[k]);
                        let got: serde_json::Value = serde_json::from_str(&got).unwrap();
                        match (got.as_f64(), v.as_f64()) {
                            (Some(a), Some(b)) => assert_eq!(a, b, "hparam {k}"),
                            _ => assert_eq!(&got, v, "hparam {k}"),
                        }
                    }
                }
                (Hparams::SessionEnd(s), "session_end") => {
                    let status = tfevents::json::hparams_status_name(s.status);
                    assert_eq!(status, row["status"].as_str().unwrap());
                }
                (h, k) => panic!("hparams kind {k} but read {h:?}"),
            },
            (Value::Tensor(t), "tensor") => {
                assert_eq!(t.plugin, row["plugin"].as_str().unwrap());
                assert_eq!(dtype::name(t.dtype), row["dtype"].as_str().unwrap());
                let shape: Vec<i64> = row["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_i64().unwrap())
                    .collect();
                assert_eq!(t.shape, shape);
                let TensorData::Bytes(b) = &t.data else {
                    panic!("numeric tensor expected")
                };
                let want = f64_list(&row["values"]);
                let got: Vec<f64> = (0..want.len())
                    .map(|i| element_f64(t.dtype, b, i).unwrap())
                    .collect();
                assert_eq!(got, want);
            }
            (v, k) => panic!("{row}: expected kind {k}, read {v:?}"),
        }
    }
    for kind in [
        "scalar",
        "histogram",
        "image",
        "audio",
        "text",
        "pr_curve",
        "hparams",
        "tensor",
    ] {
        assert!(
            checked.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} checked"
        );
    }
}

#[test]
fn no_unexpected_scalars() {
    // Every scalar in the runs the script fully describes is one it logged.
    let runs = load_logdir(&fixture("logdir"));
    let rows = expected_rows();
    for (run, (points, _)) in &runs {
        if run.starts_with("keras") {
            continue;
        }
        let want = rows
            .iter()
            .filter(|r| r["run"] == run.as_str() && r["kind"] == "scalar")
            .count();
        let got = points
            .iter()
            .filter(|p| matches!(p.value, Value::Scalar(_)))
            .count();
        assert_eq!(got, want, "scalars in run {run}");
    }
}

#[test]
fn restart_supersedes_exactly_the_hidden_steps() {
    let runs = load_logdir(&fixture("logdir"));
    let (points, report) = &runs["tbx_restart"];
    assert_eq!(report.restarts.len(), 1);
    assert_eq!(report.restarts[0].step.0, 5);
    assert_eq!(report.restarts[0].file, 1);
    let superseded: Vec<i64> = points
        .iter()
        .filter(|p| p.superseded)
        .map(|p| p.step.0)
        .collect();
    assert_eq!(superseded, vec![5, 6, 7, 8, 9]);
    assert!(points.iter().filter(|p| p.file == 1).all(|p| !p.superseded));
}

#[test]
fn tf1_start_before_values_supersedes_nothing() {
    let runs = load_logdir(&fixture("logdir"));
    let (points, report) = &runs["tf1"];
    assert!(report.restarts.is_empty());
    assert!(points.iter().all(|p| !p.superseded));
    let graphs = points
        .iter()
        .filter(|p| matches!(p.value, Value::Blob(_)))
        .count();
    assert_eq!(
        graphs, 3,
        "graph_def, meta_graph_def and run metadata are kept"
    );
}

#[test]
fn undamaged_fixtures_are_clean() {
    for (run, (_, report)) in load_logdir(&fixture("logdir")) {
        for f in &report.files {
            assert!(f.is_clean(), "{run}: {f:?}");
            assert_eq!(f.file_version.as_deref(), Some("brain.Event:2"), "{run}");
            assert_eq!(f.damage.bytes_read, f.size, "{run}: every byte read");
        }
    }
}

/// Sizes of the records of a clean file, framing included.
fn record_sizes(path: &std::path::Path) -> Vec<u64> {
    let bytes = std::fs::read(path).unwrap();
    let mut r = RecordReader::new(&bytes[..]);
    let mut sizes = Vec::new();
    let mut last = 0;
    while r.next_record().unwrap().is_some() {
        sizes.push(r.position() - last);
        last = r.position();
    }
    sizes
}

fn values_of(path: &std::path::Path) -> Vec<OwnedPoint> {
    let d = tfevents::logdir::discover(&[path]).unwrap();
    assert_eq!(d.runs.len(), 1);
    tfevents::run::load_run(&d.runs[0]).0
}

#[test]
fn damaged_copies_lose_only_the_damaged_record() {
    let text = std::fs::read_to_string(fixture("damaged.json")).unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(cases.len(), 7);
    for case in &cases {
        let file = fixture(case["file"].as_str().unwrap());
        let source = fixture(case["source"].as_str().unwrap());
        let sizes = record_sizes(&source);
        assert_eq!(sizes.len() as u64, case["source_records"].as_u64().unwrap());
        let d = tfevents::logdir::discover(&[&file]).unwrap();
        let (points, report) = tfevents::run::load_run(&d.runs[0]);
        let damage = report.files[0].damage;
        let op = case["op"].as_str().unwrap();
        let index = case["record_index"].as_u64().map(|i| i as usize);
        let n = sizes.len() as u64;
        match op {
            "truncate" => {
                let i = index.unwrap();
                assert_eq!(damage.records_read, i as u64);
                assert_eq!(
                    damage.truncated_bytes,
                    sizes[i] - case["bytes"].as_u64().unwrap()
                );
                assert_eq!(damage.resync_bytes + damage.bad_data_crc, 0);
            }
            "flip_data" => {
                assert_eq!(damage.records_read, n - 1);
                assert_eq!(damage.bad_data_crc, 1);
                assert_eq!(damage.resync_bytes + damage.truncated_bytes, 0);
            }
            "flip_length" => {
                assert_eq!(damage.records_read, n - 1);
                assert_eq!(damage.bad_length_crc, 1);
                assert_eq!(damage.resync_bytes, sizes[index.unwrap()]);
                assert_eq!(damage.truncated_bytes, 0);
            }
            "zero_tail" => {
                assert_eq!(damage.records_read, n);
                assert_eq!(damage.resync_bytes, case["bytes"].as_u64().unwrap());
                assert_eq!(damage.truncated_bytes, 0);
            }
            "insert_garbage" => {
                assert_eq!(damage.records_read, n);
                assert_eq!(damage.bad_length_crc, 1);
                assert_eq!(damage.resync_bytes, case["bytes"].as_u64().unwrap());
            }
            "empty" => {
                assert_eq!(damage.records_read, 0);
                assert!(damage.is_clean());
                assert!(points.is_empty());
            }
            "version_only" => {
                assert_eq!(damage.records_read, 1);
                assert!(damage.is_clean());
                assert!(points.is_empty());
                assert_eq!(
                    report.files[0].file_version.as_deref(),
                    Some("brain.Event:2")
                );
            }
            other => panic!("unknown op {other}"),
        }
        if matches!(op, "empty" | "version_only") {
            continue;
        }
        // Every value read is one of the source's, in order, and only the damaged record's
        // values are missing.
        let all = values_of(&source);
        let mut it = all.iter();
        for p in &points {
            // Debug text compares NaN equal to NaN.
            let text = format!("{p:?}");
            assert!(
                it.any(|q| format!("{q:?}") == text),
                "{op}: value not in source: {p:?}"
            );
        }
        let lost = all.len() - points.len();
        match op {
            "zero_tail" | "insert_garbage" => assert_eq!(lost, 0, "{op}"),
            _ => assert!((1..=4).contains(&lost), "{op}: lost {lost} values"),
        }
    }
}
