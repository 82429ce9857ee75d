//! `tfevents reduce`: aggregate runs (seeds) per tag and step into event files TensorBoard
//! loads (one run per op) or a Parquet table.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use prost::Message;

use tfevents::glob::Glob;
use tfevents::proto::tensorboard as pb;
use tfevents::reduce::{reduce, Missing, Op, Reduced};
use tfevents::series::{load_scalars, Series};
use tfevents::summary;
use tfevents::writer::{EventWriter, FlushPolicy};

use super::CliError;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Event files, one run directory per op (`OUT/mean`, `OUT/std`, ...).
    Tfevents,
    /// One table `OUT/reduced.parquet`: tag, step, wall_time, runs (how many had a value),
    /// then one float64 column per op.
    Parquet,
}

/// How to treat runs that do not line up (see `tfevents::reduce::Missing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MissingArg {
    /// Refuse, saying which tags and steps differ.
    Error,
    /// Keep only the tags and steps every run has.
    Intersect,
    /// Aggregate the runs that have each point.
    Tolerate,
}

/// What to reduce.
pub struct ReduceRequest<'a> {
    /// Run directories.
    pub runs: &'a [PathBuf],
    /// Output directory.
    pub out: &'a Path,
    /// Op names.
    pub ops: &'a [String],
    /// Mismatch policy.
    pub missing: MissingArg,
    /// Output format.
    pub format: Format,
    /// Only tags matching.
    pub tags: Option<&'a Glob>,
}

fn path_err(path: &Path) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |source| CliError::Path {
        path: path.to_owned(),
        source,
    }
}

/// The series of the run at `path` (the directory's own run, or the only one below it).
fn run_series(path: &Path, tags: Option<&Glob>) -> Result<Vec<Series>, CliError> {
    let loaded = load_scalars(path, None, tags)?;
    for w in &loaded.warnings {
        eprintln!("tfevents: warning: {w}");
    }
    let names: std::collections::BTreeSet<&str> =
        loaded.series.iter().map(|s| s.run.as_str()).collect();
    let chosen = if names.contains(".") {
        "."
    } else if names.len() == 1 {
        names.iter().next().copied().unwrap_or(".")
    } else if names.is_empty() {
        return Err(CliError::Usage(format!(
            "{}: no scalars{}",
            path.display(),
            if tags.is_some() {
                " matching --tags"
            } else {
                ""
            }
        )));
    } else {
        let some: Vec<&str> = names.iter().take(5).copied().collect();
        return Err(CliError::Usage(format!(
            "{}: holds {} runs ({}); give each run's directory",
            path.display(),
            names.len(),
            some.join(", ")
        )));
    };
    let chosen = chosen.to_owned();
    Ok(loaded
        .series
        .into_iter()
        .filter(|s| s.run == chosen)
        .collect())
}

/// Where the result goes: an op directory per op, or one table.
fn destinations(out: &Path, ops: &[Op], format: Format) -> Vec<PathBuf> {
    match format {
        Format::Tfevents => ops.iter().map(|op| out.join(op.name())).collect(),
        Format::Parquet => vec![out.join("reduced.parquet")],
    }
}

/// Refuses, before anything is written, when any destination already holds something.
fn check_destinations(dests: &[PathBuf]) -> Result<(), CliError> {
    let taken: Vec<String> = dests
        .iter()
        .filter(|d| match fs::read_dir(d) {
            Ok(mut entries) => entries.next().is_some(),
            Err(_) => d.exists(),
        })
        .map(|d| d.display().to_string())
        .collect();
    if taken.is_empty() {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "{} already {} and would be overwritten; choose a new --out",
        taken.join(", "),
        if taken.len() == 1 { "exists" } else { "exist" }
    )))
}

/// Writes one run per op, each under a temporary name first; the op directories are renamed
/// into place only when every one is complete.
fn write_tfevents(out: &Path, reduced: &[Reduced], ops: &[Op]) -> Result<(), CliError> {
    fs::create_dir_all(out).map_err(path_err(out))?;
    let tmps: Vec<PathBuf> = ops
        .iter()
        .map(|op| out.join(format!(".{}.partial", op.name())))
        .collect();
    let result = (|| -> Result<(), CliError> {
        for (k, tmp) in tmps.iter().enumerate() {
            let _ = fs::remove_dir_all(tmp);
            let writer = EventWriter::create(tmp, FlushPolicy::default()).map_err(path_err(tmp))?;
            for r in reduced {
                let column = &r.values[k].1;
                for ((&step, &wall_time), &value) in r.steps.iter().zip(&r.wall_times).zip(column) {
                    let event = pb::Event {
                        wall_time,
                        step,
                        what: Some(pb::event::What::Summary(pb::Summary {
                            value: vec![summary::scalar_f64(&r.tag, value)],
                        })),
                        ..Default::default()
                    };
                    writer
                        .write_encoded(&event.encode_to_vec())
                        .map_err(path_err(writer.path()))?;
                }
            }
            writer.sync().map_err(path_err(writer.path()))?;
        }
        for (op, tmp) in ops.iter().zip(&tmps) {
            let dest = out.join(op.name());
            // An empty directory of that name may stand there.
            let _ = fs::remove_dir(&dest);
            fs::rename(tmp, &dest).map_err(path_err(&dest))?;
        }
        Ok(())
    })();
    if result.is_err() {
        for tmp in &tmps {
            let _ = fs::remove_dir_all(tmp);
        }
    }
    result
}

fn write_parquet(out: &Path, reduced: &[Reduced], ops: &[Op]) -> Result<(), CliError> {
    fs::create_dir_all(out).map_err(path_err(out))?;
    let mut fields = vec![
        Field::new("tag", DataType::Utf8, false),
        Field::new("step", DataType::Int64, false),
        Field::new("wall_time", DataType::Float64, false),
        Field::new("runs", DataType::Int64, false),
    ];
    fields.extend(
        ops.iter()
            .map(|o| Field::new(o.name(), DataType::Float64, false)),
    );
    let schema = Arc::new(Schema::new(fields));
    let mut tags = Vec::new();
    let (mut steps, mut walls, mut counts) = (Vec::new(), Vec::new(), Vec::new());
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); ops.len()];
    for r in reduced {
        tags.extend(std::iter::repeat_n(r.tag.as_str(), r.steps.len()));
        steps.extend_from_slice(&r.steps);
        walls.extend_from_slice(&r.wall_times);
        counts.extend(r.counts.iter().map(|&c| c as i64));
        for (k, (_, v)) in r.values.iter().enumerate() {
            columns[k].extend_from_slice(v);
        }
    }
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(tags)),
        Arc::new(Int64Array::from(steps)),
        Arc::new(Float64Array::from(walls)),
        Arc::new(Int64Array::from(counts)),
    ];
    arrays.extend(
        columns
            .into_iter()
            .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef),
    );
    let batch = RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| CliError::Usage(format!("building the table: {e}")))?;
    let dest = out.join("reduced.parquet");
    let tmp = out.join(".reduced.parquet.partial");
    let result = (|| -> Result<(), CliError> {
        let file = File::create(&tmp).map_err(path_err(&tmp))?;
        let mut w = ArrowWriter::try_new(file, schema, None)
            .map_err(|e| CliError::Usage(format!("writing {}: {e}", tmp.display())))?;
        w.write(&batch)
            .and_then(|_| w.close().map(|_| ()))
            .map_err(|e| CliError::Usage(format!("writing {}: {e}", tmp.display())))?;
        fs::rename(&tmp, &dest).map_err(path_err(&dest))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reduces the runs and writes the result.
pub fn run(req: &ReduceRequest<'_>) -> Result<(), CliError> {
    if req.runs.len() < 2 {
        return Err(CliError::Usage("reduce needs at least two runs".into()));
    }
    let names: Vec<&str> = if req.ops.is_empty() {
        vec!["mean", "std", "min", "max"]
    } else {
        req.ops.iter().map(|s| s.trim()).collect()
    };
    let ops = names
        .iter()
        .map(|n| {
            Op::parse(n).ok_or_else(|| {
                let all: Vec<&str> = Op::ALL.iter().map(|o| o.name()).collect();
                CliError::Usage(format!(
                    "unknown op {n:?} in --ops (expected: {})",
                    all.join(", ")
                ))
            })
        })
        .collect::<Result<Vec<Op>, _>>()?;
    // An op named twice is computed once.
    let mut ops_once: Vec<Op> = Vec::with_capacity(ops.len());
    for op in ops {
        if !ops_once.contains(&op) {
            ops_once.push(op);
        }
    }
    let ops = ops_once;
    let names: Vec<&str> = ops.iter().map(|o| o.name()).collect();
    check_destinations(&destinations(req.out, &ops, req.format))?;
    let runs = req
        .runs
        .iter()
        .map(|p| run_series(p, req.tags))
        .collect::<Result<Vec<_>, _>>()?;
    let missing = match req.missing {
        MissingArg::Error => Missing::Error,
        MissingArg::Intersect => Missing::Intersect,
        MissingArg::Tolerate => Missing::Tolerate,
    };
    let reduced = reduce(&runs, &ops, missing).map_err(|e| {
        let legend: Vec<String> = req
            .runs
            .iter()
            .enumerate()
            .map(|(i, p)| format!("  #{}: {}", i + 1, p.display()))
            .collect();
        CliError::Usage(format!("{e}\nruns:\n{}", legend.join("\n")))
    })?;
    if reduced.is_empty() {
        return Err(CliError::Usage(
            "no tag and step is shared by the runs".into(),
        ));
    }
    match req.format {
        Format::Tfevents => write_tfevents(req.out, &reduced, &ops)?,
        Format::Parquet => write_parquet(req.out, &reduced, &ops)?,
    }
    let points: usize = reduced.iter().map(|r| r.steps.len()).sum();
    eprintln!(
        "tfevents: {} runs reduced: {} tags, {} steps, ops {} -> {}",
        req.runs.len(),
        reduced.len(),
        points,
        names.join(","),
        req.out.display()
    );
    Ok(())
}
