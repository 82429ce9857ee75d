//! `tfevents convert`: tables that hold every value, in order, written safely.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use common::{convert_fixtures, fixture, load_logdir, same};
use tfevents::table::Table;
use tfevents::value::Value;

fn tfevents(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tfevents"))
        .args(args)
        .output()
        .expect("run tfevents")
}

fn read_table(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

fn strings(batch: &RecordBatch, col: &str) -> Vec<String> {
    let c = batch.column_by_name(col).unwrap();
    if let Some(d) = c.as_dictionary_opt::<Int32Type>() {
        let values = d.values().as_string::<i32>();
        d.keys()
            .iter()
            .map(|k| values.value(k.unwrap() as usize).to_owned())
            .collect()
    } else {
        c.as_string::<i32>()
            .iter()
            .map(|s| s.unwrap_or("").to_owned())
            .collect()
    }
}

type ScalarKey = (String, String, i64, bool);

#[test]
fn scalars_table_holds_every_scalar_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tables");
    convert_fixtures(&out, &[]);
    let batches = read_table(&out.join("scalars.parquet"));
    let mut got: Vec<(ScalarKey, f64, f64)> = Vec::new();
    for b in &batches {
        let runs = strings(b, "run");
        let tags = strings(b, "tag");
        let steps = b
            .column_by_name("step")
            .unwrap()
            .as_primitive::<Int64Type>();
        let walls = b
            .column_by_name("wall_time")
            .unwrap()
            .as_primitive::<Float64Type>();
        let values = b
            .column_by_name("value")
            .unwrap()
            .as_primitive::<Float64Type>();
        let sup = b.column_by_name("superseded").unwrap().as_boolean();
        for i in 0..b.num_rows() {
            got.push((
                (
                    runs[i].clone(),
                    tags[i].clone(),
                    steps.value(i),
                    sup.value(i),
                ),
                walls.value(i),
                values.value(i),
            ));
        }
    }
    // Sorted by run, tag, step.
    for w in got.windows(2) {
        let (a, b) = (&w[0].0, &w[1].0);
        assert!((&a.0, &a.1, a.2) <= (&b.0, &b.1, b.2), "{a:?} before {b:?}");
    }
    // The same values the reader gives, no more, no fewer.
    let mut want: BTreeMap<ScalarKey, Vec<(f64, f64)>> = BTreeMap::new();
    for (run, (points, _)) in load_logdir(&fixture("logdir")) {
        for p in points {
            if let Value::Scalar(s) = p.value {
                want.entry((run.clone(), p.tag.clone(), p.step.0, p.superseded))
                    .or_default()
                    .push((p.wall_time.0, s.value));
            }
        }
    }
    let total: usize = want.values().map(Vec::len).sum();
    assert_eq!(got.len(), total);
    for (key, wall, value) in &got {
        let candidates = &want[key];
        assert!(
            candidates
                .iter()
                .any(|(w, v)| w == wall && same(*v, *value)),
            "{key:?}: {value} at {wall} not among {candidates:?}"
        );
    }
    // Dictionary-encoded run and tag, as the schema says.
    let schema = batches[0].schema();
    assert!(matches!(
        schema.field_with_name("tag").unwrap().data_type(),
        arrow_schema::DataType::Dictionary(_, _)
    ));
}

#[test]
fn every_table_is_written_with_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tables");
    convert_fixtures(&out, &[]);
    let rows = |t: &str| -> usize {
        read_table(&out.join(format!("{t}.parquet")))
            .iter()
            .map(|b| b.num_rows())
            .sum()
    };
    assert_eq!(rows("histograms"), 20);
    assert_eq!(rows("images"), 27);
    assert_eq!(rows("audio"), 10);
    assert_eq!(rows("text"), 10);
    assert_eq!(rows("tensors"), 6);
    assert_eq!(rows("hparams"), 8);
    assert_eq!(rows("runs"), 10);
    assert_eq!(rows("files"), 11);

    // Image bytes are the encoded PNG as written.
    let images = read_table(&out.join("images.parquet"));
    let data = images[0].column_by_name("data").unwrap().as_binary::<i32>();
    assert!(data.value(0).starts_with(b"\x89PNG"));

    // PR curves are tensors with their shape and float32 bytes.
    let tensors = read_table(&out.join("tensors.parquet"));
    let t = &tensors[0];
    let plugins = strings(t, "plugin");
    let i = plugins.iter().position(|p| p == "pr_curves").unwrap();
    let shape = t.column_by_name("shape").unwrap().as_list::<i32>().value(i);
    assert_eq!(
        shape.as_primitive::<Int64Type>().values().to_vec(),
        vec![6, 11]
    );
    let data = t
        .column_by_name("data")
        .unwrap()
        .as_binary::<i32>()
        .value(i);
    assert_eq!(data.len(), 6 * 11 * 4);

    // The restart run's superseded count and status columns.
    let runs = read_table(&out.join("runs.parquet"));
    let names = strings(&runs[0], "run");
    let r = names.iter().position(|n| n == "tbx_restart").unwrap();
    let sup = runs[0]
        .column_by_name("superseded")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(sup.value(r), 5);
    let status = strings(&runs[0], "status");
    let tf2 = names.iter().position(|n| n == "tf2").unwrap();
    assert_eq!(status[tf2], "SUCCESS");
}

#[test]
fn purge_drops_superseded_and_filters_select() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t");
    convert_fixtures(
        &out,
        &[
            "--purge", "--runs", "tbx*", "--tags", "*loss*", "--kinds", "scalars",
        ],
    );
    let b = &read_table(&out.join("scalars.parquet"))[0];
    let runs = strings(b, "run");
    let tags = strings(b, "tag");
    assert!(runs.iter().all(|r| r.starts_with("tbx")));
    assert!(tags.iter().all(|t| t.contains("loss")));
    assert!(!b
        .column_by_name("superseded")
        .unwrap()
        .as_boolean()
        .iter()
        .any(|s| s == Some(true)));
    let restart = runs.iter().filter(|r| *r == "tbx_restart").count();
    assert_eq!(restart, 13);
    assert!(
        !out.join("images.parquet").exists(),
        "only the chosen kinds"
    );
    assert!(out.join("runs.parquet").exists() && out.join("files.parquet").exists());
}

#[test]
fn refuses_a_directory_of_other_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.tex"), b"keep me").unwrap();
    let o = tfevents(&[
        "convert",
        fixture("logdir").to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing"));
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "nothing written");
}

#[test]
fn interrupted_convert_leaves_previous_tables_intact() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t");
    convert_fixtures(&out, &[]);
    let before = std::fs::read(out.join("scalars.parquet")).unwrap();
    // A second conversion, of other data, that dies midway (a panic stands in for a kill).
    let d = tfevents::logdir::discover(&[fixture("damaged")]).unwrap();
    let result = std::panic::catch_unwind(|| {
        tfevents::convert::convert(
            &d,
            &out,
            &tfevents::convert::ConvertOptions::default(),
            &|_| panic!("interrupted"),
        )
    });
    assert!(result.is_err());
    assert_eq!(std::fs::read(out.join("scalars.parquet")).unwrap(), before);
    // Only complete tables carry final names; leftovers are hidden and cleaned next time.
    for e in std::fs::read_dir(&out).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            name.ends_with(".parquet") || name.starts_with('.'),
            "{name}"
        );
    }
    convert_fixtures(&out, &[]);
    let leftovers = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".tmp-")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn partitioned_layout_escapes_run_names() {
    let tmp = tempfile::tempdir().unwrap();
    // A logdir whose run names need escaping.
    let logdir = tmp.path().join("logs");
    for (name, src) in [("lr=0.1 seed/1", "tbx_restart"), ("..x", "pt_writer")] {
        let dst = logdir.join(name);
        std::fs::create_dir_all(&dst).unwrap();
        for f in std::fs::read_dir(fixture("logdir").join(src)).unwrap() {
            let f = f.unwrap().path();
            if f.is_file() {
                std::fs::copy(&f, dst.join(f.file_name().unwrap())).unwrap();
            }
        }
    }
    let out = tmp.path().join("t");
    let o = tfevents(&[
        "convert",
        logdir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--partition-by",
        "run",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut parts: Vec<String> = std::fs::read_dir(out.join("scalars"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    parts.sort();
    assert_eq!(parts, vec!["run=..x", "run=lr%3D0.1%20seed%2F1"]);
    let b = read_table(&out.join("scalars/run=lr%3D0.1%20seed%2F1/part-0.parquet"));
    assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 18);
    assert!(
        b[0].schema().field_with_name("run").is_err(),
        "run comes from the path"
    );
    assert!(out.join("runs.parquet").exists());
}

#[test]
fn csv_and_jsonl_scalars() {
    let logdir = fixture("logdir/pt_writer");
    // A directory for --out is refused before anything is read, and nothing is left behind.
    let tmp = tempfile::tempdir().unwrap();
    let o = tfevents(&[
        "convert",
        logdir.to_str().unwrap(),
        "--format",
        "csv",
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is a directory"));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    // --jobs beyond any use is refused.
    let o = tfevents(&["inspect", "-j", "100000", logdir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--jobs must be from 1 to 256"));
    let o = tfevents(&["convert", logdir.to_str().unwrap(), "--format", "csv"]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "run,tag,step,wall_time,value,dtype,superseded");
    assert_eq!(lines.len(), 1 + 23);
    assert!(lines[1].starts_with(".,accuracy,0,"), "{}", lines[1]);
    assert!(text.contains(",nan,float32,false"));
    assert!(text.contains(",-inf,float32,false"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.jsonl");
    let o = tfevents(&[
        "convert",
        logdir.to_str().unwrap(),
        "--format",
        "jsonl",
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 23);
    assert_eq!(rows[0]["tag"], "accuracy");
    assert_eq!(rows.last().unwrap()["tag"], "weird/values");
}

/// Every row of every table in `dir`, as text, in file order.
fn table_rows(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for t in tfevents::table::Table::ALL {
        let path = dir.join(format!("{}.parquet", t.name()));
        let mut rows = Vec::new();
        for b in read_table(&path) {
            for i in 0..b.num_rows() {
                let cells: Vec<String> = b
                    .columns()
                    .iter()
                    .map(|c| {
                        // A dictionary cell is compared by its value, not its key.
                        let c = match c.as_dictionary_opt::<Int32Type>() {
                            Some(d) => {
                                let k = d.keys().value(i) as usize;
                                return format!("{:?}", d.values().slice(k, 1));
                            }
                            None => c,
                        };
                        format!("{:?}", c.slice(i, 1))
                    })
                    .collect();
                rows.push(cells.join("|"));
            }
        }
        out.insert(t.name().to_owned(), rows);
    }
    out
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let to = dst.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &to);
        } else {
            std::fs::copy(&p, &to).unwrap();
        }
    }
}

fn library_convert(logdir: &Path, out: &Path, append: bool) -> tfevents::convert::ConvertSummary {
    let d = tfevents::logdir::discover(&[logdir]).unwrap();
    let opts = tfevents::convert::ConvertOptions {
        append,
        ..Default::default()
    };
    tfevents::convert::convert(&d, out, &opts, &|_| {}).unwrap()
}

#[test]
fn append_converts_only_what_changed_and_matches_a_full_convert() {
    let tmp = tempfile::tempdir().unwrap();
    let logdir = tmp.path().join("logs");
    copy_dir(&fixture("logdir"), &logdir);
    let out = tmp.path().join("tables");
    let first = library_convert(&logdir, &out, true);
    assert_eq!(first.reports.len(), 10);

    // Unchanged: nothing is read or written.
    let mtime = std::fs::metadata(out.join("scalars.parquet"))
        .unwrap()
        .modified()
        .unwrap();
    let again = library_convert(&logdir, &out, true);
    assert!(again.reports.is_empty() && again.rows.is_empty());
    assert_eq!(again.kept_runs, 10);
    let mtime2 = std::fs::metadata(out.join("scalars.parquet"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(mtime, mtime2);

    // A file grows (a live run), a new run appears, another file shrinks.
    let restart_dir = logdir.join("tbx_restart");
    let mut files: Vec<_> = std::fs::read_dir(&restart_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let grown = std::fs::read(&files[1]).unwrap();
    let mut more = grown.clone();
    // Append the file's own last record again: a valid record, one more value.
    let mut reader = tfevents::record::RecordReader::new(&grown[..]);
    let mut last = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        last = r.to_vec();
    }
    tfevents::record::encode_record(&last, &mut more);
    std::fs::write(&files[1], &more).unwrap();
    copy_dir(&fixture("logdir/pt_writer"), &logdir.join("new_run"));
    let tbx = logdir.join("tbx");
    let tbx_file = std::fs::read_dir(&tbx)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file())
        .unwrap();
    let bytes = std::fs::read(&tbx_file).unwrap();
    std::fs::write(&tbx_file, &bytes[..bytes.len() / 2]).unwrap();

    let third = library_convert(&logdir, &out, true);
    let read: Vec<&str> = third.reports.iter().map(|r| r.run.as_str()).collect();
    assert_eq!(read, vec!["new_run", "tbx", "tbx_restart"]);
    assert_eq!(third.kept_runs, 8);

    let full = tmp.path().join("full");
    library_convert(&logdir, &full, false);
    let (a, b) = (table_rows(&out), table_rows(&full));
    for (table, rows) in &b {
        assert_eq!(
            &a[table], rows,
            "table {table} differs from a full conversion"
        );
    }
    // The grown file's extra value and the new run are there; the cut file is reported.
    assert!(a["scalars"].len() >= 93 + 1 + 23 - 20);
    let restart_rows = a["scalars"]
        .iter()
        .filter(|r| r.contains("tbx_restart"))
        .count();
    assert_eq!(restart_rows, 19);
    let tbx = third
        .reports
        .iter()
        .find(|r| r.run.as_str() == "tbx")
        .unwrap();
    assert!(tbx.files[0].damage.truncated_bytes > 0);
}

#[test]
fn append_with_other_options_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("t");
    convert_fixtures(&out, &["--append"]);
    let o = tfevents(&[
        "convert",
        fixture("logdir").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--append",
        "--kinds",
        "scalars",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("other options"));
}

#[test]
fn append_keeps_unchanged_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let logdir = tmp.path().join("logs");
    copy_dir(&fixture("logdir/tbx_restart"), &logdir.join("a"));
    let out = tmp.path().join("t");
    let args = |l: &Path| {
        vec![
            "convert".to_owned(),
            l.to_str().unwrap().to_owned(),
            "--out".into(),
            out.to_str().unwrap().to_owned(),
            "--partition-by".into(),
            "run".into(),
            "--append".into(),
        ]
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = tfevents(&a);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(args(&logdir));
    copy_dir(&fixture("logdir/pt_writer"), &logdir.join("b"));
    run(args(&logdir));
    let mut parts: Vec<String> = std::fs::read_dir(out.join("scalars"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    parts.sort();
    assert_eq!(parts, vec!["run=a", "run=b"]);
    let a = read_table(&out.join("scalars/run=a/part-0.parquet"));
    assert_eq!(a.iter().map(|b| b.num_rows()).sum::<usize>(), 18);
}

#[test]
fn runs_larger_than_the_memory_bound_convert_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tfevents::logdir::discover(&[fixture("logdir")]).unwrap();
    let normal = tmp.path().join("normal");
    tfevents::convert::convert(&d, &normal, &Default::default(), &|_| {}).unwrap();
    // A tiny bound: every run is read tag group by tag group, one run per chunk.
    let small = tmp.path().join("small");
    let opts = tfevents::convert::ConvertOptions {
        chunk_bytes: 2000,
        ..Default::default()
    };
    tfevents::convert::convert(&d, &small, &opts, &|_| {}).unwrap();
    let (a, b) = (table_rows(&normal), table_rows(&small));
    for (table, rows) in &a {
        assert_eq!(&b[table], rows, "table {table}");
    }
}

#[test]
fn tables_inside_the_logdir_are_not_read_as_a_run() {
    let tmp = tempfile::tempdir().unwrap();
    let logdir = tmp.path().join("logs");
    copy_dir(&fixture("logdir"), &logdir);
    let out = logdir.join("tables");
    let first = library_convert(&logdir, &out, true);
    assert_eq!(first.reports.len(), 10);
    // Neither the marker nor the state file looks like an event file to discovery.
    let d = tfevents::logdir::discover(&[&logdir]).unwrap();
    assert_eq!(d.runs.len(), 10);
    assert!(d.runs.iter().all(|r| !r.run.0.starts_with("tables")));
    // So a second convert of the same logdir finds nothing new, and says nothing of damage.
    let o = tfevents(&[
        "convert",
        logdir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--append",
    ]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("nothing new since the last convert (10 runs unchanged)"),
        "{err}"
    );
    assert!(!err.contains("warning"), "{err}");
}

#[test]
fn tables_with_the_older_marker_names_are_recognised_and_renamed() {
    let tmp = tempfile::tempdir().unwrap();
    let logdir = tmp.path().join("logs");
    copy_dir(&fixture("logdir"), &logdir);
    let out = tmp.path().join("tables");
    library_convert(&logdir, &out, true);
    for (old, new) in tfevents::convert::LEGACY_NAMES {
        std::fs::rename(out.join(new), out.join(old)).unwrap();
    }
    assert!(tfevents::tables::is_table_dir(&out));
    // `runs` reads them as tables; an incremental convert finds the old state and renames it.
    let o = tfevents(&["runs", out.to_str().unwrap(), "--format", "csv"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1 + 9);
    let again = library_convert(&logdir, &out, true);
    assert!(again.reports.is_empty() && again.rows.is_empty());
    for (old, new) in tfevents::convert::LEGACY_NAMES {
        assert!(!out.join(old).exists(), "{old}");
        assert!(out.join(new).is_file(), "{new}");
    }
}

#[test]
fn append_reads_everything_again_when_a_previous_table_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let logdir = tmp.path().join("logs");
    copy_dir(&fixture("logdir"), &logdir);
    let out = tmp.path().join("tables");
    let full = library_convert(&logdir, &out, true);
    let rows = |s: &tfevents::convert::ConvertSummary, t: Table| {
        s.rows.iter().find(|(x, _)| *x == t).map(|(_, n)| *n)
    };
    let scalars = rows(&full, Table::Scalars).unwrap();
    std::fs::remove_file(out.join("scalars.parquet")).unwrap();
    // Nothing changed in the logdir, yet the rows cannot be carried over: all are read.
    let again = library_convert(&logdir, &out, true);
    assert_eq!(rows(&again, Table::Scalars), Some(scalars));
    assert_eq!(again.kept_runs, 0);
    let why = again.full_because.expect("a reason");
    assert!(why.contains("scalars table is missing"), "{why}");
    assert_eq!(
        read_table(&out.join("scalars.parquet"))
            .iter()
            .map(|b| b.num_rows() as u64)
            .sum::<u64>(),
        scalars
    );
}

#[test]
fn append_takes_kinds_in_any_order() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tables");
    convert_fixtures(&out, &["--kinds", "scalars,histograms", "--append"]);
    convert_fixtures(&out, &["--kinds", "histograms,scalars,scalars", "--append"]);
}
