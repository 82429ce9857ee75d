//! Comparing runs from the command line: `runs`, `diff`, `reduce` and `export`, on runs
//! written here with known values, on the fixtures, and on converted tables.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::fixture;
use tfevents::Run;

fn tfevents(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tfevents"))
        .args(args)
        .output()
        .expect("run tfevents")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).expect("UTF-8 output")
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(o)).expect("JSON output")
}

#[derive(serde::Serialize)]
struct Opt {
    name: &'static str,
}

#[derive(serde::Serialize)]
struct Cfg {
    lr: f64,
    batch_size: u32,
    optimizer: Opt,
}

/// Three runs with known values: (name, lr, optimizer, final mAP, peak mAP, fails).
const SWEEP: [(&str, f64, &str, f32, f32, bool); 3] = [
    ("a", 0.001, "adam", 0.875, 0.9375, false),
    ("b", 0.01, "sgd", 0.75, 0.8125, true),
    ("c", 0.1, "adam", 0.5, 0.5, false),
];

fn write_sweep(dir: &Path) {
    for (name, lr, opt, last, peak, fails) in SWEEP {
        let run = Run::create(dir.join(name))
            .unwrap()
            .config(&Cfg {
                lr,
                batch_size: 32,
                optimizer: Opt { name: opt },
            })
            .unwrap();
        run.log(0, &[("val/mAP", 0.25f32)]).unwrap();
        run.log(5, &[("val/mAP", peak)]).unwrap();
        run.log(10, &[("val/mAP", last), ("train/loss", 1.0 - last)])
            .unwrap();
        if fails {
            run.fail().unwrap();
        } else {
            run.close().unwrap();
        }
    }
}

/// Asserts two run tables are equal, naming the first differing cell.
fn same_rows(got: &serde_json::Value, want: &serde_json::Value, what: &str) {
    let (g, w) = (got.as_array().unwrap(), want.as_array().unwrap());
    assert_eq!(names(got), names(want), "{what}: runs");
    for (a, b) in g.iter().zip(w) {
        let (a, b) = (a.as_object().unwrap(), b.as_object().unwrap());
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for k in keys {
            assert_eq!(a.get(k), b.get(k), "{what}: run {} column {k}", b["run"]);
        }
    }
}

fn names(rows: &serde_json::Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn runs_table_filters_orders_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    write_sweep(dir.path());
    let d = dir.path().to_str().unwrap();

    let all = json(&tfevents(&["runs", d, "--format", "json"]));
    assert_eq!(names(&all), vec!["a", "b", "c"]);
    let a = &all[0];
    assert_eq!(a["params.lr"], 0.001);
    assert_eq!(a["params.batch_size"], 32.0);
    assert_eq!(a["params.optimizer.name"], "adam");
    assert_eq!(a["status"], "SUCCESS");
    assert_eq!(a["last_step"], 10.0);
    assert_eq!(a["metrics.val/mAP"], 0.875);
    assert_eq!(a["max(metrics.val/mAP)"], 0.9375);
    assert_eq!(a["min(metrics.val/mAP)"], 0.25);
    assert_eq!(a["metrics.train/loss"], 0.125);
    assert!(a["params.env.hostname"].is_string());
    assert!(a["duration"].as_f64().unwrap() >= 0.0);
    assert_eq!(all[1]["status"], "FAILURE");

    // The issue's example, on these runs.
    let rows = json(&tfevents(&[
        "runs",
        d,
        "--filter",
        "metrics.`val/mAP` > 0.7 and params.lr < 0.05 and attributes.status = 'SUCCESS'",
        "--format",
        "json",
    ]));
    assert_eq!(names(&rows), vec!["a"]);
    let rows = json(&tfevents(&[
        "runs",
        d,
        "--filter",
        "max(metrics.`val/mAP`) > 0.8",
        "--order-by",
        "params.lr DESC",
        "--format",
        "json",
    ]));
    assert_eq!(names(&rows), vec!["b", "a"]);
    let rows = json(&tfevents(&[
        "runs",
        d,
        "--filter",
        "params.optimizer.name = 'adam' or attributes.status = 'FAILED'",
        "--order-by",
        "params.optimizer.name DESC, metrics.`val/mAP`",
        "--format",
        "json",
    ]));
    assert_eq!(names(&rows), vec!["b", "c", "a"]);

    // CSV with chosen columns, in full precision.
    let csv = ok(&tfevents(&[
        "runs",
        d,
        "--columns",
        "run,params.lr,metrics.`val/mAP`,max(metrics.val/mAP),status",
        "--order-by",
        "metrics.`val/mAP` ASC",
        "--format",
        "csv",
    ]));
    assert_eq!(
        csv,
        "run,params.lr,metrics.val/mAP,max(metrics.val/mAP),status\n\
         c,0.1,0.5,0.5,SUCCESS\nb,0.01,0.75,0.8125,FAILURE\na,0.001,0.875,0.9375,SUCCESS\n"
    );
    let md = ok(&tfevents(&[
        "runs",
        d,
        "--columns",
        "run,params.*",
        "--format",
        "markdown",
    ]));
    let header = md.lines().next().unwrap();
    assert!(
        header.starts_with("| run | params.batch_size | params.lr |"),
        "{header}"
    );
    assert_eq!(md.lines().count(), 5);

    // The text table shows the parameters that differ, not the constant batch size.
    let table = ok(&tfevents(&["runs", d]));
    let header = table.lines().next().unwrap();
    assert!(header.contains("params.lr") && header.contains("params.optimizer.name"));
    assert!(
        !header.contains("batch_size") && !header.contains("env."),
        "{header}"
    );
    assert_eq!(table.lines().count(), 4);
}

#[derive(serde::Serialize)]
struct NoteCfg {
    note: String,
    bs: String,
}

#[test]
fn runs_output_for_awkward_values() {
    let dir = tempfile::tempdir().unwrap();
    for (name, acc, note, bs) in [
        ("p", 0.914f32, "two\nlines", "64"),
        ("q", 0.9f32, "plain", "128"),
        ("宽", 0.5f32, "wide name", "8"),
    ] {
        let run = Run::create(dir.path().join(name))
            .unwrap()
            .config(&NoteCfg {
                note: note.into(),
                bs: bs.into(),
            })
            .unwrap();
        run.log(10, &[("acc", acc)]).unwrap();
        run.close().unwrap();
    }
    let d = dir.path().to_str().unwrap();
    let select = |filter: &str| {
        names(&json(&tfevents(&[
            "runs", d, "--filter", filter, "--format", "json",
        ])))
    };
    // Float32 metrics compare as the value shown; text parameters as numbers when both are.
    assert_eq!(select("metrics.acc = 0.914"), vec!["p"]);
    assert_eq!(select("metrics.acc >= 0.9"), vec!["p", "q"]);
    assert_eq!(select("params.bs > '100'"), vec!["q"]);
    assert_eq!(select("params.bs < 100"), vec!["p", "宽"]);

    // No run matches: the chosen columns are still known, and the header is printed.
    let csv = ok(&tfevents(&[
        "runs",
        d,
        "--filter",
        "metrics.acc > 0.99",
        "--columns",
        "run,params.bs,metrics.acc",
        "--format",
        "csv",
    ]));
    assert_eq!(csv, "run,params.bs,metrics.acc\n");

    // JSON keys in column order, integers as integers.
    let out = ok(&tfevents(&[
        "runs",
        d,
        "--columns",
        "run,last_step,metrics.acc,params.bs",
        "--format",
        "json",
    ]));
    let first = out.lines().nth(1).unwrap();
    assert!(
        first.starts_with(r#"  {"run":"p","last_step":10,"metrics.acc":0.9139999"#),
        "{first}"
    );

    // The text table keeps one line per run, escapes the newline, and fits COLUMNS counting
    // a wide character as two columns.
    let o = Command::new(env!("CARGO_BIN_EXE_tfevents"))
        .args([
            "runs",
            d,
            "--columns",
            "run,params.note,params.bs,metrics.acc",
        ])
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    let table = ok(&o);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[1].starts_with('p') && lines[1].contains(r"two\nlines"),
        "{table}"
    );
    // Display columns before `value` in `line`.
    let offset = |line: &str, value: &str| {
        let at = line
            .find(value)
            .unwrap_or_else(|| panic!("{value:?} in {line:?}"));
        unicode_width::UnicodeWidthStr::width(&line[..at])
    };
    let bs = offset(lines[0], "params.bs");
    assert_eq!(offset(lines[1], "64 "), bs, "{table}");
    assert_eq!(offset(lines[2], "128 "), bs, "{table}");
    assert_eq!(offset(lines[3], "8 "), bs, "{table}");
    let o = Command::new(env!("CARGO_BIN_EXE_tfevents"))
        .args([
            "runs",
            d,
            "--columns",
            "run,params.note,params.bs,metrics.acc",
        ])
        .env("COLUMNS", "24")
        .output()
        .unwrap();
    let narrow = ok(&o);
    for line in narrow.lines() {
        assert!(
            unicode_width::UnicodeWidthStr::width(line) <= 24,
            "{narrow}"
        );
    }
    assert!(String::from_utf8_lossy(&o.stderr).contains("do not fit"));
}

#[test]
fn runs_reports_bad_filters_at_the_token() {
    let dir = tempfile::tempdir().unwrap();
    write_sweep(dir.path());
    let d = dir.path().to_str().unwrap();
    let o = tfevents(&["runs", d, "--filter", "metrics.`val/mAP` >> 0.5"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("invalid --filter: expected a number"), "{err}");
    assert!(
        err.contains("  metrics.`val/mAP` >> 0.5\n                     ^"),
        "{err}"
    );
    let o = tfevents(&["runs", d, "--order-by", "params.lr UP"]);
    assert_eq!(o.status.code(), Some(2));
    let o = tfevents(&["runs", d, "--columns", "params.nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no column \"params.nope\""));
}

#[test]
fn runs_join_add_hparams_children_and_agree_on_converted_tables() {
    let logdir = fixture("logdir");
    let l = logdir.to_str().unwrap();
    let rows = json(&tfevents(&["runs", l, "--format", "json"]));
    let tbx = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"] == "tbx")
        .unwrap();
    // tensorboardX's add_hparams wrote these into tbx/<timestamp>.
    assert_eq!(tbx["params.lr"], 0.01);
    assert_eq!(tbx["params.optimizer"], "adam");
    assert_eq!(tbx["params.nesterov"], true);
    assert_eq!(tbx["metrics.hparam/accuracy"], 0.875);
    assert!(!names(&rows).iter().any(|r| r.starts_with("tbx/17")));
    let restart = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"] == "tbx_restart")
        .unwrap();
    assert_eq!(restart["last_step"], 12.0);

    let out = tempfile::tempdir().unwrap();
    let tables = out.path().join("tables");
    let t = tables.to_str().unwrap();
    ok(&tfevents(&["convert", l, "--out", t]));
    let from_tables = json(&tfevents(&["runs", t, "--format", "json"]));
    same_rows(&from_tables, &rows, "converted tables");
    let part = out.path().join("parts");
    let p = part.to_str().unwrap();
    ok(&tfevents(&[
        "convert",
        l,
        "--out",
        p,
        "--partition-by",
        "run",
    ]));
    let from_parts = json(&tfevents(&["runs", p, "--format", "json"]));
    same_rows(&from_parts, &rows, "partitioned tables");
}

#[test]
fn diff_shows_config_environment_and_metric_changes() {
    let dir = tempfile::tempdir().unwrap();
    write_sweep(dir.path());
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let doc = json(&tfevents(&[
        "diff",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert_eq!(doc["config"]["lr"]["a"], 0.001);
    assert_eq!(doc["config"]["lr"]["b"], 0.01);
    assert_eq!(doc["config"]["optimizer.name"]["b"], "sgd");
    assert!(
        doc["config"].get("batch_size").is_none(),
        "equal fields left out"
    );
    assert_eq!(doc["metrics"]["val/mAP"]["a"], 0.875);
    assert_eq!(doc["metrics"]["val/mAP"]["b"], 0.75);
    assert_eq!(doc["metrics"]["val/mAP"]["delta"], -0.125);
    assert_eq!(doc["status"]["b"], "FAILURE");
    // Start times differ between the two processes' runs; hosts do not.
    assert!(doc["environment"].get("env.start_time").is_some());
    assert!(doc["environment"].get("env.hostname").is_none());

    let text = ok(&tfevents(&[
        "diff",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--all",
    ]));
    assert!(text.contains("  batch_size"), "{text}");
    assert!(text.contains("≠ lr"), "{text}");
    let line = text.lines().find(|l| l.contains("val/mAP")).unwrap();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells, vec!["val/mAP", "0.875", "0.75", "-0.125", "-14.3%"]);
    // A run that stopped early: the table says at which steps the last values are.
    let short = dir.path().join("short");
    {
        let run = Run::create(&short).unwrap();
        run.log(5, &[("val/mAP", 0.5f32)]).unwrap();
        run.close().unwrap();
    }
    let text = ok(&tfevents(&[
        "diff",
        a.to_str().unwrap(),
        short.to_str().unwrap(),
    ]));
    let header = text.lines().find(|l| l.contains("B - A")).unwrap();
    assert!(
        header.contains("A step") && header.contains("B step"),
        "{text}"
    );
    let line = text.lines().find(|l| l.contains("val/mAP")).unwrap();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        cells,
        vec!["val/mAP", "0.875", "0.5", "-0.375", "-42.9%", "10", "5"]
    );
    std::fs::remove_dir_all(&short).unwrap();
    // A logdir of several runs is not one run.
    let o = tfevents(&["diff", dir.path().to_str().unwrap(), a.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds 3 runs"));
}

/// Seeds with known values: loss at steps 0..3 is `seed + step`, acc only in some.
fn write_seeds(dir: &Path, with_extra: bool) {
    for seed in 0..3 {
        let run = Run::create(dir.join(format!("seed-{seed}"))).unwrap();
        for step in 0..3i64 {
            run.log_at(
                step,
                1000.0 + (step * 10 + seed) as f64,
                &[("loss", (seed + step) as f64)],
            )
            .unwrap();
        }
        if with_extra && seed == 0 {
            run.log(7, &[("extra", 1.0)]).unwrap();
        }
        run.close().unwrap();
    }
}

fn seed_paths(dir: &Path) -> Vec<String> {
    (0..3)
        .map(|s| dir.join(format!("seed-{s}")).to_str().unwrap().to_owned())
        .collect()
}

#[test]
fn reduce_writes_one_run_per_op_that_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    write_seeds(dir.path(), false);
    let out = dir.path().join("reduced");
    let mut args: Vec<String> = vec!["reduce".into()];
    args.extend(seed_paths(dir.path()));
    args.extend(["--out".into(), out.to_str().unwrap().into()]);
    args.extend(["--ops".into(), "mean,std,min,max,median,count".into()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&tfevents(&argv));

    let logdir = common::load_logdir(&out);
    let names: Vec<&String> = logdir.keys().collect();
    assert_eq!(names, vec!["count", "max", "mean", "median", "min", "std"]);
    let values = |run: &str| -> Vec<(i64, f64, f64)> {
        logdir[run]
            .0
            .iter()
            .filter_map(|p| match &p.value {
                tfevents::value::Value::Scalar(s) if p.tag == "loss" => {
                    Some((p.step.0, p.wall_time.0, s.value))
                }
                _ => None,
            })
            .collect()
    };
    // loss = seed + step over seeds 0, 1, 2: mean step + 1, population std sqrt(2/3).
    let std = (2.0f64 / 3.0).sqrt();
    assert_eq!(
        values("mean"),
        vec![(0, 1001.0, 1.0), (1, 1011.0, 2.0), (2, 1021.0, 3.0)]
    );
    assert_eq!(
        values("std").iter().map(|v| v.2).collect::<Vec<_>>(),
        vec![std; 3]
    );
    assert_eq!(
        values("min").iter().map(|v| v.2).collect::<Vec<_>>(),
        vec![0.0, 1.0, 2.0]
    );
    assert_eq!(
        values("max").iter().map(|v| v.2).collect::<Vec<_>>(),
        vec![2.0, 3.0, 4.0]
    );
    assert_eq!(
        values("median").iter().map(|v| v.2).collect::<Vec<_>>(),
        vec![1.0, 2.0, 3.0]
    );
    assert_eq!(
        values("count").iter().map(|v| v.2).collect::<Vec<_>>(),
        vec![3.0; 3]
    );
    // A second reduce into the same place is refused rather than mixed in.
    let o = tfevents(&argv);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("would be overwritten"));

    // Refused before anything is written: a new op beside a taken one is not left behind.
    let seeds = seed_paths(dir.path());
    let again = dir.path().join("again");
    let reduce = |out: &Path, ops: &str, format: &str| {
        let mut a: Vec<&str> = vec!["reduce"];
        a.extend(seeds.iter().map(String::as_str));
        a.extend([
            "--out",
            out.to_str().unwrap(),
            "--ops",
            ops,
            "--format",
            format,
        ]);
        tfevents(&a)
    };
    ok(&reduce(&again, "mean", "tfevents"));
    let o = reduce(&again, "std,mean", "tfevents");
    assert_eq!(o.status.code(), Some(2));
    let listing = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(listing(&again), vec!["mean"]);
    // An op named twice is written once.
    let twice = dir.path().join("twice");
    ok(&reduce(&twice, "mean,std,mean", "tfevents"));
    assert_eq!(listing(&twice), vec!["mean", "std"]);
    let table = dir.path().join("table");
    ok(&reduce(&table, "mean,mean", "parquet"));
    let file = std::fs::File::open(table.join("reduced.parquet")).unwrap();
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let fields: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(fields, vec!["tag", "step", "wall_time", "runs", "mean"]);
    // And the table is not overwritten either.
    let o = reduce(&table, "max", "parquet");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("reduced.parquet"));
}

#[test]
fn reduce_explains_mismatches_and_offers_policies() {
    let dir = tempfile::tempdir().unwrap();
    write_seeds(dir.path(), true);
    let out = dir.path().join("r");
    let run = |extra: &[&str]| {
        let mut args: Vec<String> = vec!["reduce".into()];
        args.extend(seed_paths(dir.path()));
        args.extend([
            "--out".into(),
            out.to_str().unwrap().into(),
            "--format".into(),
            "parquet".into(),
        ]);
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        tfevents(&argv)
    };
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("tag extra: not logged by run #2, #3 (1 of 3 runs have it)"),
        "{err}"
    );
    assert!(err.contains("--missing intersect"), "{err}");
    assert!(err.contains("#1: ") && err.contains("seed-0"), "{err}");
    assert!(
        !out.join("reduced.parquet").exists(),
        "nothing written on error"
    );

    ok(&run(&["--missing", "tolerate", "--ops", "mean,count"]));
    let file = std::fs::File::open(out.join("reduced.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};
    let mut rows = Vec::new();
    let mut names = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        names = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let tag = batch.column(0).as_string::<i32>();
        let step = batch.column(1).as_primitive::<Int64Type>();
        let runs = batch.column(3).as_primitive::<Int64Type>();
        let mean = batch.column(4).as_primitive::<Float64Type>();
        for i in 0..batch.num_rows() {
            rows.push((
                tag.value(i).to_owned(),
                step.value(i),
                runs.value(i),
                mean.value(i),
            ));
        }
    }
    assert_eq!(
        names,
        vec!["tag", "step", "wall_time", "runs", "mean", "count"]
    );
    let row = |t: &str, s: i64, n: i64, m: f64| (t.to_owned(), s, n, m);
    assert_eq!(
        rows,
        vec![
            row("extra", 7, 1, 1.0),
            row("loss", 0, 3, 1.0),
            row("loss", 1, 3, 2.0),
            row("loss", 2, 3, 3.0),
        ]
    );
}

/// Every row of a Parquet file, printed (NaN prints equal to NaN).
fn table_rows(path: &Path) -> Vec<String> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
    reader
        .get_row_iter(None)
        .unwrap()
        .map(|r| r.unwrap().to_string())
        .collect()
}

const VALUE_TABLES: [&str; 7] = [
    "scalars",
    "histograms",
    "images",
    "audio",
    "text",
    "tensors",
    "hparams",
];

/// convert -> export -> convert gives the same value tables as the first convert.
fn assert_round_trip(logdir: &Path, partitioned: bool) {
    let work = tempfile::tempdir().unwrap();
    let first = work.path().join("first");
    let exported = work.path().join("exported");
    let second = work.path().join("second");
    let mut args = vec![
        "convert",
        logdir.to_str().unwrap(),
        "--out",
        first.to_str().unwrap(),
    ];
    if partitioned {
        args.extend(["--partition-by", "run"]);
    }
    ok(&tfevents(&args));
    let o = tfevents(&[
        "export",
        first.to_str().unwrap(),
        "--out",
        exported.to_str().unwrap(),
    ]);
    ok(&o);
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("warning"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    ok(&tfevents(&[
        "convert",
        exported.to_str().unwrap(),
        "--out",
        second.to_str().unwrap(),
    ]));
    let reference = work.path().join("reference");
    let tables = if partitioned {
        ok(&tfevents(&[
            "convert",
            logdir.to_str().unwrap(),
            "--out",
            reference.to_str().unwrap(),
        ]));
        &reference
    } else {
        &first
    };
    let mut compared = 0;
    for t in VALUE_TABLES {
        let (a, b) = (
            table_rows(&tables.join(format!("{t}.parquet"))),
            table_rows(&second.join(format!("{t}.parquet"))),
        );
        assert_eq!(a.len(), b.len(), "{}: {t} row count", logdir.display());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "{}: {t}", logdir.display());
        }
        compared += a.len();
    }
    assert!(compared > 0, "{}: nothing compared", logdir.display());

    // The restarts too: as many, at the same steps, in the same files (runs without values,
    // such as an empty file, have no rows to export).
    let restarts = |dir: &Path| -> Vec<(String, Vec<(u64, i64)>)> {
        let v = json(&tfevents(&["inspect", "--json", dir.to_str().unwrap()]));
        v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let starts = r["restarts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| (s["file"].as_u64().unwrap(), s["step"].as_i64().unwrap()))
                    .collect();
                (r["run"].as_str().unwrap().to_owned(), starts)
            })
            .filter(|(_, starts): &(String, Vec<(u64, i64)>)| !starts.is_empty())
            .collect()
    };
    assert_eq!(
        restarts(&exported),
        restarts(logdir),
        "{}",
        logdir.display()
    );
}

#[test]
fn export_round_trips_every_fixture() {
    assert_round_trip(&fixture("logdir"), false);
    assert_round_trip(&fixture("logdir"), true);
    // Damaged files: what could be read comes back whole.
    assert_round_trip(&fixture("damaged"), false);
}

#[test]
fn export_round_trips_every_kind_the_writer_writes() {
    let dir = tempfile::tempdir().unwrap();
    let run = Run::create(dir.path().join("all")).unwrap();
    run.log(0, &[("s32", 0.1f32)]).unwrap();
    run.log_f64(1, &[("s64", 0.1)]).unwrap();
    run.histogram(2, "h", &[1.0, 2.0, 3.0]).unwrap();
    let tf2 = tfevents::value::Histogram {
        left: vec![0.0],
        right: vec![1.0],
        count: vec![4.0],
        ..Default::default()
    };
    run.histogram_buckets(2, "h2", &tf2).unwrap();
    run.image(3, "img", 2, 1, 3, &[1, 2, 3, 4, 5, 6]).unwrap();
    run.audio(4, "a", &[0.0, 0.5, -0.5, 1.0], 16000, 1).unwrap();
    run.text(5, "t", "hello").unwrap();
    run.pr_curve(6, "pr", &[true, false], &[0.7, 0.2], 5)
        .unwrap();
    run.tensor(
        7,
        "x",
        "custom",
        tfevents::value::dtype::INT64,
        &[2],
        tfevents::value::TensorData::Bytes(
            [5i64, -6].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
    )
    .unwrap();
    run.close().unwrap();
    // And a restarted run.
    let r = Run::create(dir.path().join("restarted")).unwrap();
    for s in 0..6 {
        r.log(s, &[("loss", s as f64)]).unwrap();
    }
    r.close().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = Run::resume(dir.path().join("restarted"), 3).unwrap();
    for s in 3..5 {
        r.log(s, &[("loss", 10.0 + s as f64)]).unwrap();
    }
    r.close().unwrap();
    assert_round_trip(dir.path(), false);
}

#[test]
fn export_refuses_to_overwrite_and_needs_tables() {
    let dir = tempfile::tempdir().unwrap();
    let tables = dir.path().join("t");
    common::convert_fixtures(&tables, &[]);
    let busy = dir.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("keep.txt"), b"mine").unwrap();
    let o = tfevents(&[
        "export",
        tables.to_str().unwrap(),
        "--out",
        busy.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not empty"));
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);
    let o = tfevents(&[
        "export",
        fixture("logdir").to_str().unwrap(),
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not a directory written by tfevents convert")
    );
    // Selected runs only.
    let out = dir.path().join("only");
    ok(&tfevents(&[
        "export",
        tables.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--runs",
        "tf*",
    ]));
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["tf1", "tf2"]);
    // A pattern that matches no run, or an output that is a file, is an error that says so.
    let o = tfevents(&[
        "export",
        tables.to_str().unwrap(),
        "--out",
        dir.path().join("none").to_str().unwrap(),
        "--runs",
        "nomatch*",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("matches \"nomatch*\""),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!dir.path().join("none").exists());
    let o = tfevents(&[
        "export",
        tables.to_str().unwrap(),
        "--out",
        busy.join("keep.txt").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a directory;"));
}

/// Tables edited so that one histogram's counts no longer match its edges: that row is left
/// out of the export and named, the rest is exported.
#[test]
fn export_names_the_rows_it_cannot_write() {
    use arrow_array::builder::{Float64Builder, ListBuilder};
    use arrow_array::cast::AsArray;
    use arrow_array::{Array, ArrayRef, RecordBatch};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let tables = dir.path().join("t");
    common::convert_fixtures(&tables, &["--kinds", "histograms"]);
    let path = tables.join("histograms.parquet");
    let file = std::fs::File::open(&path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert!(total > 1);
    let schema = batches[0].schema();
    let edited: Vec<RecordBatch> = batches
        .iter()
        .enumerate()
        .map(|(k, b)| {
            let idx = schema.index_of("bucket_count").unwrap();
            let counts = b.column(idx).as_list::<i32>();
            let mut builder = ListBuilder::new(Float64Builder::new()).with_field(
                match schema.field(idx).data_type() {
                    arrow_schema::DataType::List(f) => f.clone(),
                    other => panic!("{other:?}"),
                },
            );
            for i in 0..counts.len() {
                let values = counts.value(i);
                let values = values.as_primitive::<arrow_array::types::Float64Type>();
                // The first row of the first batch loses its last count.
                let n = values.len() - usize::from(k == 0 && i == 0);
                for j in 0..n {
                    builder.values().append_value(values.value(j));
                }
                builder.append(true);
            }
            let mut columns: Vec<ArrayRef> = b.columns().to_vec();
            columns[idx] = Arc::new(builder.finish());
            RecordBatch::try_new(schema.clone(), columns).unwrap()
        })
        .collect();
    let first_tag = {
        let tags = batches[0].column(schema.index_of("tag").unwrap());
        let tags = tags.as_dictionary::<arrow_array::types::Int32Type>();
        let key = tags.keys().value(0) as usize;
        tags.values().as_string::<i32>().value(key).to_owned()
    };
    let file = std::fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None).unwrap();
    for b in &edited {
        w.write(b).unwrap();
    }
    w.close().unwrap();

    let out = dir.path().join("e");
    let o = tfevents(&[
        "export",
        tables.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let warned: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("row not exported"))
        .collect();
    assert_eq!(warned.len(), 1, "{err}");
    assert!(warned[0].contains(&format!("tag {first_tag:?}")), "{err}");
    assert!(warned[0].contains("counts"), "{err}");
    assert!(err.contains(&format!("{} values", total - 1)), "{err}");
}
