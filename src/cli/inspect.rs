//! `tfevents inspect`: per run, its files, tags grouped by kind, restarts and damage.

use std::io::{self, BufWriter, IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use tfevents::logdir::{Discovery, DiscoveryWarning};
use tfevents::record::Damage;
use tfevents::run::{FileReport, Restart};
use tfevents::stats::{run_stats, RunStats, TagStats};
use tfevents::value::ValueIssues;

use super::output::{bytes, count, duration, problems, utc, warn_damage};
use super::CliError;

/// A progress bar over bytes on a terminal; hidden when stderr is not one.
pub fn progress(total_bytes: u64) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {bar:30} {binary_bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Reads all runs in parallel and prints them in name order.
pub fn inspect(discovery: &Discovery, json: bool) -> Result<(), CliError> {
    let total: u64 = discovery
        .runs
        .iter()
        .flat_map(|r| r.files.iter())
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let bar = progress(total);
    let stats: Vec<RunStats> = discovery
        .runs
        .par_iter()
        .map(|run| {
            let s = run_stats(run);
            bar.inc(s.report.files.iter().map(|f| f.size).sum());
            s
        })
        .collect();
    bar.finish_and_clear();

    for s in &stats {
        warn_damage(s.report.run.as_str(), &s.report.files);
    }
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if json {
        write_json(&mut out, &stats, &discovery.warnings)?;
    } else {
        for s in &stats {
            write_text(&mut out, s)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn write_text(out: &mut impl Write, s: &RunStats) -> io::Result<()> {
    let r = &s.report;
    let events: u64 = r.files.iter().map(|f| f.events).sum();
    writeln!(
        out,
        "run {}  ({} {}, {} events, {} values)",
        r.run,
        r.files.len(),
        if r.files.len() == 1 { "file" } else { "files" },
        count(events),
        count(s.values())
    )?;
    if let Some((a, b)) = s.wall_time_span() {
        writeln!(
            out,
            "  time     {} .. {} UTC ({})",
            utc(a),
            utc(b),
            duration(b - a)
        )?;
    }
    writeln!(out, "  files")?;
    for f in &r.files {
        let name = file_name(&f.path);
        writeln!(
            out,
            "    {name}  {}  {} records  {}",
            bytes(f.size),
            count(f.damage.records_read),
            f.file_version.as_deref().unwrap_or("(no version event)")
        )?;
    }
    let width = s
        .tags
        .iter()
        .map(|t| t.tag.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    let mut kind = "";
    for t in &s.tags {
        if t.kind != kind {
            kind = t.kind;
            let n = s.tags.iter().filter(|x| x.kind == kind).count();
            writeln!(
                out,
                "  {kind} ({n} {})",
                if n == 1 { "tag" } else { "tags" }
            )?;
        }
        write_tag(out, t, width)?;
    }
    if !r.restarts.is_empty() {
        writeln!(out, "  restarts")?;
        for x in &r.restarts {
            let file = file_name(&r.files[x.file].path);
            writeln!(
                out,
                "    at step {} ({} UTC, {file}): earlier values with step >= {} superseded",
                x.step.0,
                utc(x.wall_time),
                x.step.0
            )?;
        }
    }
    let damaged: Vec<&FileReport> = r.files.iter().filter(|f| !f.is_clean()).collect();
    if !damaged.is_empty() {
        writeln!(out, "  damage")?;
        for f in damaged {
            let name = file_name(&f.path);
            let p = problems(&f.damage, &f.issues, f.error.as_deref());
            writeln!(out, "    {name}: {}", p.join("; "))?;
        }
    }
    writeln!(out)
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn write_tag(out: &mut impl Write, t: &TagStats, width: usize) -> io::Result<()> {
    let steps = if t.min_step == t.max_step {
        format!("step {}", t.min_step)
    } else {
        format!("steps {}..{}", t.min_step, t.max_step)
    };
    let superseded = if t.superseded > 0 {
        format!("  {} superseded", count(t.superseded))
    } else {
        String::new()
    };
    writeln!(
        out,
        "    {:<width$} {:>9} {}  {}  {}{}",
        t.tag,
        count(t.count),
        if t.count == 1 { "value " } else { "values" },
        steps,
        duration(t.last_wall_time - t.first_wall_time),
        superseded
    )
}

#[derive(Serialize)]
struct JsonFile<'a> {
    path: String,
    size: u64,
    events: u64,
    file_version: Option<&'a str>,
    clean: bool,
    damage: &'a Damage,
    issues: &'a ValueIssues,
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonRun<'a> {
    run: &'a str,
    files: Vec<JsonFile<'a>>,
    values: u64,
    first_wall_time: Option<f64>,
    last_wall_time: Option<f64>,
    tags: &'a [TagStats],
    restarts: &'a [Restart],
    damage: Damage,
    issues: ValueIssues,
}

#[derive(Serialize)]
struct JsonInspect<'a> {
    runs: Vec<JsonRun<'a>>,
    warnings: &'a [DiscoveryWarning],
}

fn write_json(
    out: &mut impl Write,
    stats: &[RunStats],
    warnings: &[DiscoveryWarning],
) -> Result<(), CliError> {
    let runs = stats
        .iter()
        .map(|s| {
            let span = s.wall_time_span();
            JsonRun {
                run: s.report.run.as_str(),
                files: s
                    .report
                    .files
                    .iter()
                    .map(|f| JsonFile {
                        path: f.path.to_string_lossy().into_owned(),
                        size: f.size,
                        events: f.events,
                        file_version: f.file_version.as_deref(),
                        clean: f.is_clean(),
                        damage: &f.damage,
                        issues: &f.issues,
                        error: f.error.as_deref(),
                    })
                    .collect(),
                values: s.values(),
                first_wall_time: span.map(|x| x.0),
                last_wall_time: span.map(|x| x.1),
                tags: &s.tags,
                restarts: &s.report.restarts,
                damage: s.report.damage(),
                issues: s.report.issues(),
            }
        })
        .collect();
    let doc = JsonInspect { runs, warnings };
    serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::from)?;
    writeln!(out)?;
    Ok(())
}
