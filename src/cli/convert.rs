//! `tfevents convert`: logdirs to Parquet tables, or scalars to CSV / JSON lines.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use tfevents::convert::{convert, ConvertOptions};
use tfevents::json::{push_f64, JsonObject};
use tfevents::logdir::Discovery;
use tfevents::run::read_run;
use tfevents::table::Table;
use tfevents::value::{dtype, Value};

use super::inspect::progress;
use super::output::{count, warn_damage};
use super::CliError;

/// Output formats of `convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One Parquet table per kind in the output directory.
    Parquet,
    /// Scalars only, as CSV (to stdout, or to the `--out` file).
    Csv,
    /// Scalars only, as JSON lines (to stdout, or to the `--out` file).
    Jsonl,
}

/// Parses `--kinds` into value tables; empty means all.
pub fn parse_tables(names: &[String]) -> Result<Vec<Table>, CliError> {
    if names.is_empty() {
        return Ok(Table::VALUES.to_vec());
    }
    names
        .iter()
        .map(|n| {
            Table::parse(n)
                .filter(|t| Table::VALUES.contains(t))
                .ok_or_else(|| {
                    let all: Vec<&str> = Table::VALUES.iter().map(|t| t.name()).collect();
                    CliError::Usage(format!(
                        "unknown kind {n:?} in --kinds (expected some of: {})",
                        all.join(", ")
                    ))
                })
        })
        .collect()
}

fn total_bytes(discovery: &Discovery) -> u64 {
    discovery
        .runs
        .iter()
        .flat_map(|r| r.files.iter())
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// Converts to Parquet tables in `out`.
pub fn to_parquet(
    discovery: &Discovery,
    out: &Path,
    opts: &ConvertOptions,
) -> Result<(), CliError> {
    let start = Instant::now();
    let bar = progress(total_bytes(discovery));
    let result = convert(discovery, out, opts, &|bytes| bar.inc(bytes));
    bar.finish_and_clear();
    let summary = result?;
    for r in &summary.reports {
        warn_damage(r.run.as_str(), &r.files);
    }
    if let Some(why) = &summary.full_because {
        eprintln!("tfevents: warning: {}: {why}", out.display());
    }
    if summary.rows.is_empty() {
        eprintln!(
            "tfevents: {}: nothing new since the last convert ({} runs unchanged)",
            out.display(),
            count(summary.kept_runs as u64)
        );
        return Ok(());
    }
    let parts: Vec<String> = summary
        .rows
        .iter()
        .map(|(t, n)| format!("{} {}", t.name(), count(*n)))
        .collect();
    let kept = if summary.kept_runs > 0 {
        format!(" ({} unchanged runs kept)", count(summary.kept_runs as u64))
    } else {
        String::new()
    };
    eprintln!(
        "tfevents: converted {} runs{kept} into {} in {:.2} s: {}",
        count(summary.reports.len() as u64),
        out.display(),
        start.elapsed().as_secs_f64(),
        parts.join(", ")
    );
    Ok(())
}

struct ScalarRow {
    tag: String,
    step: i64,
    wall_time: f64,
    value: f64,
    dtype: i32,
    superseded: bool,
}

/// Writes scalars as CSV or JSON lines, sorted by run, tag and step.
pub fn scalars_text(
    discovery: &Discovery,
    out: Option<&PathBuf>,
    opts: &ConvertOptions,
    format: Format,
) -> Result<(), CliError> {
    let (mut writer, tmp): (Box<dyn Write>, Option<PathBuf>) = match out {
        None => (Box::new(BufWriter::new(io::stdout().lock())), None),
        Some(path) => {
            if path.is_dir() {
                return Err(CliError::Usage(format!(
                    "--out {} is a directory; --format csv and jsonl write one file",
                    path.display()
                )));
            }
            let tmp = path.with_file_name(format!(
                ".tmp-{}-{}",
                std::process::id(),
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
            let file = File::create(&tmp).map_err(|e| CliError::Path {
                path: tmp.clone(),
                source: e,
            })?;
            (Box::new(BufWriter::new(file)), Some(tmp))
        }
    };
    let result = write_scalars(&mut *writer, discovery, opts, format).and_then(|()| {
        writer.flush()?;
        Ok(())
    });
    drop(writer);
    match (result, tmp, out) {
        (Ok(()), Some(tmp), Some(path)) => std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            CliError::Path {
                path: path.clone(),
                source: e,
            }
        }),
        (Err(e), Some(tmp), _) => {
            let _ = std::fs::remove_file(tmp);
            Err(e)
        }
        (r, _, _) => r,
    }
}

fn write_scalars(
    w: &mut dyn Write,
    discovery: &Discovery,
    opts: &ConvertOptions,
    format: Format,
) -> Result<(), CliError> {
    if format == Format::Csv {
        writeln!(w, "run,tag,step,wall_time,value,dtype,superseded")?;
    }
    let runs: Vec<_> = discovery
        .runs
        .iter()
        .filter(|r| opts.runs.as_ref().is_none_or(|g| g.matches(r.run.as_str())))
        .collect();
    let batch = rayon::current_num_threads().max(1) * 2;
    let mut obj = JsonObject::default();
    let mut line = String::new();
    for chunk in runs.chunks(batch) {
        let read: Vec<_> = chunk
            .par_iter()
            .map(|run| {
                let mut rows = Vec::new();
                let report = read_run(run, |p| {
                    if let Value::Scalar(s) = &p.value {
                        if (opts.purge && p.superseded)
                            || !opts.tags.as_ref().is_none_or(|g| g.matches(p.tag))
                        {
                            return;
                        }
                        rows.push(ScalarRow {
                            tag: p.tag.to_owned(),
                            step: p.step.0,
                            wall_time: p.wall_time.0,
                            value: s.value,
                            dtype: s.dtype,
                            superseded: p.superseded,
                        });
                    }
                });
                rows.sort_by(|a, b| a.tag.cmp(&b.tag).then(a.step.cmp(&b.step)));
                (rows, report)
            })
            .collect();
        for (run, (rows, report)) in chunk.iter().zip(read) {
            warn_damage(run.run.as_str(), &report.files);
            for r in rows {
                match format {
                    Format::Csv => {
                        line.clear();
                        csv_field(&mut line, run.run.as_str());
                        line.push(',');
                        csv_field(&mut line, &r.tag);
                        line.push_str(&format!(",{},", r.step));
                        push_f64(&mut line, r.wall_time);
                        line.push(',');
                        let mut v = String::new();
                        push_f64(&mut v, r.value);
                        line.push_str(v.trim_matches('"'));
                        line.push(',');
                        line.push_str(&dtype::name(r.dtype));
                        line.push_str(if r.superseded { ",true\n" } else { ",false\n" });
                        w.write_all(line.as_bytes())?;
                    }
                    Format::Jsonl | Format::Parquet => {
                        obj.begin();
                        obj.str("run", run.run.as_str());
                        obj.str("tag", &r.tag);
                        obj.int("step", r.step);
                        obj.num("wall_time", r.wall_time);
                        obj.num("value", r.value);
                        obj.str("dtype", &dtype::name(r.dtype));
                        obj.bool("superseded", r.superseded);
                        w.write_all(obj.finish().as_bytes())?;
                        w.write_all(b"\n")?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Appends a CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}
