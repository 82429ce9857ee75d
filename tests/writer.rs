//! The writer, tested through the reader: every kind written by `tfevents::Run` reads back
//! with the values given; restarts, crashes, threads, artifacts and errors.

mod common;

use std::path::Path;
use std::time::Duration;

use common::load_logdir;
use sha2::{Digest, Sha256};
use tfevents::artifact::{read_manifest, ArtifactMode};
use tfevents::proto::tensorboard::hparams as hp;
use tfevents::run::OwnedPoint;
use tfevents::tracker::WriteError;
use tfevents::value::{dtype, Histogram, Hparams, TensorData, Value};
use tfevents::writer::FlushPolicy;
use tfevents::Run;

/// Where a test writes its runs: a temporary directory, or `$TFEVENTS_WRITER_OUT/<name>`
/// (emptied first) so that the interop check can load them in Python TensorBoard.
struct OutDir {
    path: std::path::PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl OutDir {
    fn new(name: &str) -> OutDir {
        match std::env::var_os("TFEVENTS_WRITER_OUT") {
            Some(root) => {
                let path = Path::new(&root).join(name);
                let _ = std::fs::remove_dir_all(&path);
                std::fs::create_dir_all(&path).unwrap();
                OutDir { path, _temp: None }
            }
            None => {
                let t = tempfile::tempdir().unwrap();
                OutDir {
                    path: t.path().to_owned(),
                    _temp: Some(t),
                }
            }
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

fn values<'a>(points: &'a [OwnedPoint], tag: &str) -> Vec<&'a OwnedPoint> {
    points.iter().filter(|p| p.tag == tag).collect()
}

fn scalar(p: &OwnedPoint) -> (f64, i32) {
    match &p.value {
        Value::Scalar(s) => (s.value, s.dtype),
        other => panic!("{}: not a scalar: {other:?}", p.tag),
    }
}

fn hparam_number(v: &prost_types::Value) -> f64 {
    match v.kind {
        Some(prost_types::value::Kind::NumberValue(x)) => x,
        ref other => panic!("not a number: {other:?}"),
    }
}

#[derive(serde::Serialize)]
struct Optimizer {
    name: &'static str,
    lr: f64,
    betas: [f64; 2],
}

#[derive(serde::Serialize)]
struct Config {
    model: &'static str,
    batch_size: u32,
    amp: bool,
    optimizer: Optimizer,
}

fn config() -> Config {
    Config {
        model: "resnet50",
        batch_size: 64,
        amp: true,
        optimizer: Optimizer {
            name: "adamw",
            lr: 3e-4,
            betas: [0.9, 0.999],
        },
    }
}

#[test]
fn every_kind_reads_back_with_the_values_written() {
    let dir = OutDir::new("every_kind");
    let run_dir = dir.path().join("resnet50-lr3e-4");
    let run = Run::create(&run_dir)
        .unwrap()
        .metrics(&["val/mAP"])
        .unwrap()
        .config(&config())
        .unwrap();
    for step in 0..5i64 {
        let loss = 1.0f32 / (step as f32 + 1.0);
        run.log(step, &[("train/loss", loss)]).unwrap();
        run.log_at(
            step,
            1_700_000_000.25 + step as f64,
            &[("val/mAP", 0.1 * step as f64)],
        )
        .unwrap();
    }
    run.log_f64(7, &[("precise", std::f64::consts::PI)])
        .unwrap();
    run.log(8, &[("special", f64::NAN), ("special", f64::INFINITY)])
        .unwrap();

    let weights: Vec<f64> = (0..1000).map(|i| (i as f64 - 500.0) / 100.0).collect();
    run.histogram(1, "weights", &weights).unwrap();
    run.histogram_with_edges(1, "edges", &[0.5, 1.5, 1.5, 2.5, 9.0], &[1.0, 2.0, 3.0])
        .unwrap();
    let tf2 = Histogram {
        left: vec![0.0, 1.0],
        right: vec![1.0, 2.0],
        count: vec![3.0, 4.0],
        ..Default::default()
    };
    run.histogram_buckets(2, "buckets_tf2", &tf2).unwrap();
    let tf1 = Histogram {
        left: vec![-1.0, 0.0],
        right: vec![0.0, 1.0],
        count: vec![1.0, 2.0],
        min: Some(-1.0),
        max: Some(0.75),
        num: Some(3.0),
        sum: Some(0.5),
        sum_squares: Some(1.625),
    };
    run.histogram_buckets(2, "buckets_tf1", &tf1).unwrap();

    let pixels: Vec<u8> = (0..3 * 2 * 3).map(|i| (i * 13) as u8).collect();
    run.image(3, "prediction", 3, 2, 3, &pixels).unwrap();
    let gray = image::GrayImage::from_raw(4, 5, (0..20).map(|i| i as u8 * 10).collect()).unwrap();
    let mut png = Vec::new();
    gray.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    run.image_encoded(3, "encoded", png.clone()).unwrap();
    run.text(4, "notes", "**bold** and `code`").unwrap();
    let samples: Vec<f32> = (0..800).map(|i| ((i as f32) / 20.0).sin() * 0.5).collect();
    run.audio(5, "tone", &samples, 8000, 2).unwrap();
    run.pr_curve(
        6,
        "pr",
        &[true, false, true, false],
        &[0.9, 0.8, 0.3, 0.1],
        3,
    )
    .unwrap();
    let ints: Vec<u8> = [1i32, -2, 3, -4, 5, -6]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    run.tensor(
        6,
        "custom",
        "my_plugin",
        dtype::INT32,
        &[2, 3],
        TensorData::Bytes(ints.clone()),
    )
    .unwrap();
    run.close().unwrap();

    let logdir = load_logdir(dir.path());
    let (points, report) = &logdir["resnet50-lr3e-4"];
    assert_eq!(report.files.len(), 1);
    assert!(report.files[0].is_clean(), "{:?}", report.files[0]);
    assert_eq!(
        report.files[0].file_version.as_deref(),
        Some("brain.Event:2")
    );

    // Scalars: f32 simple values widen exactly; explicit wall times kept.
    let loss = values(points, "train/loss");
    assert_eq!(loss.len(), 5);
    for (i, p) in loss.iter().enumerate() {
        assert_eq!(p.step.0, i as i64);
        assert_eq!(
            scalar(p),
            (f64::from(1.0f32 / (i as f32 + 1.0)), dtype::FLOAT)
        );
    }
    let map = values(points, "val/mAP");
    assert_eq!(map[3].wall_time.0, 1_700_000_003.25);
    assert_eq!(scalar(map[3]).0, f64::from((0.1f64 * 3.0) as f32));
    assert_eq!(
        scalar(values(points, "precise")[0]),
        (std::f64::consts::PI, dtype::DOUBLE)
    );
    let special = values(points, "special");
    assert!(scalar(special[0]).0.is_nan());
    assert_eq!(scalar(special[1]).0, f64::INFINITY);

    // Histograms.
    let Value::Histogram(h) = &values(points, "weights")[0].value else {
        panic!("weights is not a histogram")
    };
    assert_eq!(h.num, Some(1000.0));
    assert_eq!(h.count.iter().sum::<f64>(), 1000.0);
    assert_eq!((h.min, h.max), (Some(-5.0), Some(4.99)));
    assert_eq!(h.sum, Some(weights.iter().sum::<f64>()));
    let Value::Histogram(e) = &values(points, "edges")[0].value else {
        panic!("edges is not a histogram")
    };
    // (-inf, 1]: 0.5; (1, 2]: 1.5 1.5; (2, 3]: 2.5 and 9.0 (above the last edge).
    assert_eq!(e.right, vec![1.0, 2.0, 3.0]);
    assert_eq!(e.count, vec![1.0, 2.0, 2.0]);
    let Value::Histogram(b2) = &values(points, "buckets_tf2")[0].value else {
        panic!("buckets_tf2 is not a histogram")
    };
    assert_eq!(**b2, tf2);
    let Value::Histogram(b1) = &values(points, "buckets_tf1")[0].value else {
        panic!("buckets_tf1 is not a histogram")
    };
    assert_eq!(**b1, tf1);

    // Images: PNG decodes to the pixels given.
    let Value::Image(im) = &values(points, "prediction")[0].value else {
        panic!("prediction is not an image")
    };
    assert_eq!((im.width, im.height, im.colorspace), (3, 2, Some(3)));
    let decoded = image::load_from_memory(&im.data).unwrap().to_rgb8();
    assert_eq!(decoded.into_raw(), pixels);
    let Value::Image(enc) = &values(points, "encoded")[0].value else {
        panic!("encoded is not an image")
    };
    assert_eq!((enc.width, enc.height), (4, 5));
    assert_eq!(enc.data, png);

    // Text.
    let Value::Text(t) = &values(points, "notes")[0].value else {
        panic!("notes is not text")
    };
    assert_eq!(t.strings, vec!["**bold** and `code`".to_owned()]);

    // Audio: a 16-bit WAV of the samples.
    let Value::Audio(a) = &values(points, "tone")[0].value else {
        panic!("tone is not audio")
    };
    assert_eq!(
        (a.sample_rate, a.channels, a.frames),
        (Some(8000.0), Some(2), Some(400))
    );
    assert_eq!(a.content_type.as_deref(), Some("audio/wav"));
    let pcm: Vec<i16> = a.data[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let expected: Vec<i16> = samples
        .iter()
        .map(|s| (s * 32767.0).round() as i16)
        .collect();
    assert_eq!(pcm, expected);

    // PR curve, worked by hand: thresholds 0, 0.5, 1.
    let Value::PrCurve(pr) = &values(points, "pr")[0].value else {
        panic!("pr is not a PR curve")
    };
    assert_eq!(pr.tp, vec![2.0, 1.0, 0.0]);
    assert_eq!(pr.fp, vec![2.0, 1.0, 0.0]);
    assert_eq!(pr.tn, vec![0.0, 1.0, 2.0]);
    assert_eq!(pr.fn_, vec![0.0, 1.0, 2.0]);
    assert_eq!(pr.precision, vec![0.5, 0.5, 0.0]);
    assert_eq!(pr.recall, vec![1.0, 0.5, 0.0]);

    // Generic tensor.
    let Value::Tensor(tensor) = &values(points, "custom")[0].value else {
        panic!("custom is not a tensor")
    };
    assert_eq!(tensor.plugin, "my_plugin");
    assert_eq!(
        (tensor.dtype, tensor.shape.clone()),
        (dtype::INT32, vec![2, 3])
    );
    assert_eq!(tensor.data, TensorData::Bytes(ints));

    // hparams: experiment with the declared metric, session start with config and
    // environment, session end with success.
    let hparams: Vec<&Hparams> = points
        .iter()
        .filter_map(|p| match &p.value {
            Value::Hparams(h) => Some(&**h),
            _ => None,
        })
        .collect();
    assert_eq!(hparams.len(), 3);
    let Hparams::Experiment(exp) = hparams[0] else {
        panic!("first hparams value is not the experiment")
    };
    let metric_tags: Vec<&str> = exp
        .metric_infos
        .iter()
        .filter_map(|m| m.name.as_ref().map(|n| n.tag.as_str()))
        .collect();
    assert_eq!(metric_tags, vec!["val/mAP"]);
    let lr_info = exp
        .hparam_infos
        .iter()
        .find(|i| i.name == "optimizer.lr")
        .unwrap();
    assert_eq!(lr_info.r#type, hp::DataType::Float64 as i32);
    assert!(lr_info.differs, "config fields are marked as varying");
    let host_info = exp
        .hparam_infos
        .iter()
        .find(|i| i.name == "env.hostname")
        .unwrap();
    assert!(!host_info.differs);
    let Hparams::SessionStart(start) = hparams[1] else {
        panic!("second hparams value is not the session start")
    };
    assert_eq!(hparam_number(&start.hparams["optimizer.lr"]), 3e-4);
    assert_eq!(hparam_number(&start.hparams["batch_size"]), 64.0);
    assert_eq!(
        start.hparams["optimizer.name"].kind,
        Some(prost_types::value::Kind::StringValue("adamw".into()))
    );
    assert_eq!(
        start.hparams["optimizer.betas"].kind,
        Some(prost_types::value::Kind::StringValue("[0.9,0.999]".into()))
    );
    assert_eq!(
        start.hparams["amp"].kind,
        Some(prost_types::value::Kind::BoolValue(true))
    );
    assert!(start.hparams.contains_key("env.hostname"));
    assert!(start.hparams.contains_key("env.command_line"));
    let Hparams::SessionEnd(end) = hparams[2] else {
        panic!("last hparams value is not the session end")
    };
    assert_eq!(end.status, 1);

    // Config and environment as texts, at step 0 before the values.
    let config_text = values(points, "config");
    let Value::Text(ct) = &config_text[0].value else {
        panic!("config is not text")
    };
    assert!(ct.strings[0].contains("\"lr\": 0.0003"));
    assert_eq!(values(points, "environment").len(), 1);

    // The sidecar.
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(sidecar["status"], "SUCCESS");
    assert_eq!(sidecar["config"]["optimizer"]["lr"], 3e-4);
    assert_eq!(sidecar["metrics"][0], "val/mAP");
    assert!(sidecar["end_time"].as_f64().unwrap() >= sidecar["start_time"].as_f64().unwrap());
    assert_eq!(
        sidecar["environment"]["cpus"].as_u64().unwrap() as usize,
        std::thread::available_parallelism().unwrap().get()
    );
}

#[test]
fn dropping_a_run_ends_the_session_and_a_panic_marks_it_failed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let run = Run::create(dir.path().join("ok")).unwrap();
        run.log(1, &[("x", 1.0)]).unwrap();
    }
    let failed = dir.path().join("failed");
    let handle = std::thread::spawn(move || {
        let run = Run::create(&failed).unwrap();
        run.log(1, &[("x", 1.0)]).unwrap();
        panic!("training diverged");
    });
    assert!(handle.join().is_err());
    // A run with nothing logged still records its start and end.
    drop(Run::create(dir.path().join("empty")).unwrap());

    let logdir = load_logdir(dir.path());
    let status = |run: &str| -> Vec<i32> {
        logdir[run]
            .0
            .iter()
            .filter_map(|p| match &p.value {
                Value::Hparams(h) => match &**h {
                    Hparams::SessionEnd(e) => Some(e.status),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    };
    assert_eq!(status("ok"), vec![1]);
    assert_eq!(status("failed"), vec![2]);
    assert_eq!(status("empty"), vec![1]);
    let sidecar = std::fs::read_to_string(dir.path().join("failed/run.json")).unwrap();
    assert!(sidecar.contains("\"status\": \"FAILURE\""));
}

#[test]
fn resume_supersedes_values_from_the_restart_step() {
    let dir = OutDir::new("resume");
    let run_dir = dir.path().join("r");
    {
        let run = Run::create(&run_dir).unwrap();
        for step in 0..10 {
            run.log(step, &[("loss", step as f64)]).unwrap();
        }
        // A crash after the last flush: no session end is written.
        run.flush().unwrap();
        std::mem::forget(run);
    }
    // A later second in the name, so the files sort in creation order whatever the counter.
    std::thread::sleep(Duration::from_millis(1100));
    {
        let run = Run::resume(&run_dir, 5).unwrap();
        for step in 5..8 {
            run.log(step, &[("loss", 100.0 + step as f64)]).unwrap();
        }
    }
    let logdir = load_logdir(dir.path());
    let (points, report) = &logdir["r"];
    assert_eq!(report.files.len(), 2);
    assert_eq!(report.restarts.len(), 1);
    assert_eq!(report.restarts[0].step.0, 5);
    let loss: Vec<(i64, f64, bool)> = values(points, "loss")
        .iter()
        .map(|p| (p.step.0, scalar(p).0, p.superseded))
        .collect();
    let mut expected: Vec<(i64, f64, bool)> = (0..10).map(|s| (s, s as f64, s >= 5)).collect();
    expected.extend((5..8).map(|s| (s, 100.0 + s as f64, false)));
    assert_eq!(loss, expected);
    let sidecar = std::fs::read_to_string(run_dir.join("run.json")).unwrap();
    assert!(sidecar.contains("\"resumed_at_step\": 5"));
    // One session start (the first session's), one end (the resumed session's), and the new
    // environment at the resume step.
    let hparams: Vec<(usize, &str)> = points
        .iter()
        .filter_map(|p| match &p.value {
            Value::Hparams(h) => Some((
                p.file,
                match **h {
                    Hparams::SessionStart(_) => "start",
                    Hparams::SessionEnd(_) => "end",
                    Hparams::Experiment(_) => "experiment",
                },
            )),
            _ => None,
        })
        .collect();
    assert_eq!(hparams, vec![(0, "start"), (1, "end")]);
    let env_steps: Vec<(usize, i64)> = values(points, "environment")
        .iter()
        .map(|p| (p.file, p.step.0))
        .collect();
    assert_eq!(env_steps, vec![(0, 0), (1, 5)]);
}

#[test]
fn clones_log_from_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let run = Run::create(dir.path().join("t")).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let run = run.clone();
            std::thread::spawn(move || {
                let tag = format!("worker{t}/loss");
                for step in 0..1000 {
                    run.log(step, &[(tag.as_str(), (t * 1000 + step) as f64)])
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    run.close().unwrap();
    let logdir = load_logdir(dir.path());
    let (points, report) = &logdir["t"];
    assert!(report.files[0].is_clean());
    for t in 0..4i64 {
        let got: Vec<(i64, f64)> = values(points, &format!("worker{t}/loss"))
            .iter()
            .map(|p| (p.step.0, scalar(p).0))
            .collect();
        let expected: Vec<(i64, f64)> = (0..1000).map(|s| (s, (t * 1000 + s) as f64)).collect();
        assert_eq!(got, expected);
    }
}

#[test]
fn flushed_values_are_on_disk_while_the_run_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let policy = FlushPolicy {
        every: Duration::from_secs(3600),
        max_buffered: usize::MAX,
    };
    let run = Run::create_with(dir.path().join("f"), policy).unwrap();
    run.log(1, &[("a", 1.5)]).unwrap();
    let count = || {
        let logdir = load_logdir(dir.path());
        values(&logdir["f"].0, "a").len()
    };
    assert_eq!(count(), 0, "buffered, not yet written");
    run.flush().unwrap();
    assert_eq!(count(), 1);
    run.close().unwrap();
}

/// Child half of `a_killed_writer_leaves_a_readable_file`: logs until killed.
#[test]
fn killed_writer_child() {
    let Ok(dir) = std::env::var("TFEVENTS_KILLED_WRITER_DIR") else {
        return; // only runs as the child process
    };
    let policy = FlushPolicy {
        every: Duration::from_millis(1),
        max_buffered: 4096,
    };
    let run = Run::create_with(&dir, policy).unwrap();
    let blob = "x".repeat(1000);
    for step in 0.. {
        run.log(step, &[("loss", step as f64 * 0.5)]).unwrap();
        if step % 50 == 0 {
            run.text(step, "note", &blob).unwrap();
        }
    }
}

#[test]
fn a_killed_writer_leaves_a_readable_file() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("killed");
    for _attempt in 0..3 {
        let _ = std::fs::remove_dir_all(&run_dir);
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["killed_writer_child", "--exact", "--nocapture"])
            .env("TFEVENTS_KILLED_WRITER_DIR", &run_dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let big_enough = |p: &Path| {
            std::fs::read_dir(p)
                .ok()
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    e.file_name().to_string_lossy().contains("tfevents")
                        && e.metadata().map(|m| m.len() > 200_000).unwrap_or(false)
                })
        };
        while !big_enough(&run_dir) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL: no destructor runs
        child.wait().unwrap();

        let logdir = load_logdir(dir.path());
        let (points, report) = &logdir["killed"];
        let damage = &report.files[0].damage;
        assert_eq!(
            (
                damage.bad_data_crc,
                damage.bad_length_crc,
                damage.resync_bytes
            ),
            (0, 0, 0),
            "{damage:?}"
        );
        assert!(report.files[0].issues.is_clean());
        let loss: Vec<(i64, f64)> = values(points, "loss")
            .iter()
            .map(|p| (p.step.0, scalar(p).0))
            .collect();
        assert!(loss.len() > 1000, "only {} values", loss.len());
        let expected: Vec<(i64, f64)> = (0..loss.len() as i64)
            .map(|s| (s, s as f64 * 0.5))
            .collect();
        assert_eq!(loss, expected, "values are not the consecutive steps");
        if damage.truncated_bytes > 0 {
            return; // killed in the middle of a write, and still read up to it
        }
    }
}

#[test]
fn artifacts_are_hashed_copied_or_referenced_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("model.ckpt");
    let contents: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&ckpt, &contents).unwrap();
    let sha: String = Sha256::digest(&contents)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let run_dir = dir.path().join("logs/run");
    let run = Run::create(&run_dir).unwrap();
    let copied = run
        .log_artifact(10, &ckpt, "checkpoint", ArtifactMode::Copy)
        .unwrap();
    let referenced = run
        .log_artifact(20, &ckpt, "checkpoint", ArtifactMode::Reference)
        .unwrap();
    run.close().unwrap();

    assert_eq!(
        (copied.size, copied.sha256.as_str()),
        (3_000_000, sha.as_str())
    );
    assert_eq!(copied.path, "artifacts/10/model.ckpt");
    assert_eq!(std::fs::read(run_dir.join(&copied.path)).unwrap(), contents);
    assert_eq!(referenced.sha256, sha);
    assert_eq!(
        Path::new(&referenced.path),
        std::fs::canonicalize(&ckpt).unwrap()
    );
    let manifest = read_manifest(&run_dir).unwrap();
    assert_eq!(manifest, vec![copied.clone(), referenced]);
    // No temporary file is left behind.
    let leftovers: Vec<_> = walk(&run_dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let logdir = load_logdir(&dir.path().join("logs"));
    let texts = values(&logdir["run"].0, "artifacts/model.ckpt");
    assert_eq!(
        texts.iter().map(|p| p.step.0).collect::<Vec<_>>(),
        vec![10, 20]
    );
    let Value::Text(t) = &texts[0].value else {
        panic!("artifact summary is not text")
    };
    assert!(t.strings[0].contains(&sha));
    assert!(t.strings[0].contains("checkpoint"));

    // A resumed run keeps the artifacts of its earlier session in the manifest.
    let run = Run::resume(&run_dir, 15).unwrap();
    let later = run
        .log_artifact(30, &ckpt, "checkpoint", ArtifactMode::Reference)
        .unwrap();
    run.close().unwrap();
    let manifest = read_manifest(&run_dir).unwrap();
    assert_eq!(manifest.len(), 3);
    assert_eq!(manifest[0], copied);
    assert_eq!(manifest[2], later);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let run = Run::create(dir.path().join("e")).unwrap();
    run.log(0, &[("x", 1.0)]).unwrap();
    assert!(matches!(
        run.clone().config(&config()),
        Err(WriteError::TooLate { what: "config" })
    ));
    assert!(matches!(
        run.clone().metrics(&["x"]),
        Err(WriteError::TooLate { what: "metrics" })
    ));
    assert!(run.image(0, "i", 2, 2, 3, &[0; 5]).is_err());
    assert!(run.image(0, "i", 1, 1, 7, &[0; 7]).is_err());
    assert!(run.image_encoded(0, "i", b"not an image".to_vec()).is_err());
    assert!(run.audio(0, "a", &[0.0; 3], 8000, 2).is_err());
    assert!(run.audio(0, "a", &[0.0; 4], 0, 2).is_err());
    assert!(run.pr_curve(0, "p", &[true], &[0.5, 0.2], 10).is_err());
    assert!(run.pr_curve(0, "p", &[true], &[0.5], 1).is_err());
    // Sizes that overflow, and edges that are no edges.
    assert!(run.image(0, "i", 1 << 31, 1 << 31, 4, &[]).is_err());
    assert!(run.image(0, "i", u32::MAX, u32::MAX, 4, &[]).is_err());
    assert!(run.audio(0, "a", &[0.0, 0.5], u32::MAX, 1).is_err());
    assert!(run.audio(0, "a", &[0.0; 40_000], 8000, 40_000).is_err());
    assert!(run.histogram_with_edges(0, "h", &[1.0], &[]).is_err());
    assert!(run
        .histogram_with_edges(0, "h", &[1.0], &[3.0, 1.0, 2.0])
        .is_err());
    assert!(run
        .histogram_with_edges(0, "h", &[1.0], &[0.0, f64::NAN])
        .is_err());
    assert!(run
        .tensor(
            0,
            "t",
            "p",
            dtype::FLOAT,
            &[3],
            TensorData::Bytes(vec![0; 8])
        )
        .is_err());
    assert!(run
        .tensor(
            0,
            "t",
            "p",
            dtype::STRING,
            &[2],
            TensorData::Bytes(vec![0; 8])
        )
        .is_err());
    assert!(run
        .log_artifact(0, dir.path().join("missing"), "model", ArtifactMode::Copy)
        .is_err());
    assert!(run
        .log_artifact(0, dir.path(), "model", ArtifactMode::Reference)
        .is_err());
    assert!(config_is_not_a_map(&run));
    run.close().unwrap();
    // No directory at all.
    let err = Run::create("").unwrap_err();
    assert!(err.to_string().contains("empty path"), "{err}");
    // A run directory that cannot be created.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let err = Run::create(file.join("run")).unwrap_err();
    assert!(err.to_string().contains("plain-file"), "{err}");
    // Nothing bad was written to the run.
    let logdir = load_logdir(dir.path());
    assert!(logdir["e"].1.files[0].is_clean());
}

#[test]
fn config_given_twice_merges_nested_fields_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let run = Run::create(dir.path().join("r"))
        .unwrap()
        .config(&serde_json::json!({"opt": {"lr": 0.1}, "x": 1}))
        .unwrap()
        .config(&serde_json::json!({"opt": {"momentum": 0.9}, "x": 2}))
        .unwrap();
    run.log(0, &[("loss", 1.0)]).unwrap();
    run.close().unwrap();
    let sidecar: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r/run.json")).unwrap()).unwrap();
    assert_eq!(
        sidecar["config"],
        serde_json::json!({"opt": {"lr": 0.1, "momentum": 0.9}, "x": 2})
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tfevents"))
        .args(["runs", dir.path().to_str().unwrap(), "--format", "json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows[0]["params.opt.lr"], 0.1);
    assert_eq!(rows[0]["params.opt.momentum"], 0.9);
    assert_eq!(rows[0]["params.x"], 2);
}

fn config_is_not_a_map(_run: &Run) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let r = Run::create(dir.path()).unwrap();
    matches!(r.config(&[1, 2, 3]), Err(WriteError::Summary(_)))
}
