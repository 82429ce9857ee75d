//! `tfevents diff`: two runs side by side: config and environment differences, and each
//! shared metric's last value with the change.

use std::collections::BTreeSet;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use tfevents::overview::{summarize, RunSummary};
use tfevents::query::{format_number, Cell};

use super::grid::{self, Grid};
use super::CliError;

/// Output formats of a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned sections for people.
    Table,
    /// One JSON document.
    Json,
}

/// Reads the run at `path`: the directory's own run (`add_hparams` children joined in), or
/// the only run below it.
fn one_run(path: &Path) -> Result<RunSummary, CliError> {
    let overview = summarize(path, None)?;
    for w in &overview.warnings {
        eprintln!("tfevents: warning: {w}");
    }
    let mut runs = overview.runs;
    // A run directory may hold other runs below it (tbx/compare/cos): the directory's own
    // run is the one meant.
    if let Some(i) = runs.iter().position(|r| r.run == ".") {
        runs = vec![runs.swap_remove(i)];
    }
    match runs.len() {
        1 => {
            let mut r = runs.remove(0);
            r.run = path.display().to_string();
            Ok(r)
        }
        0 => Err(CliError::Usage(format!(
            "{}: no event files in this directory",
            path.display()
        ))),
        n => {
            let names: Vec<&str> = runs.iter().take(5).map(|r| r.run.as_str()).collect();
            Err(CliError::Usage(format!(
                "{}: holds {n} runs ({}{}); give one run's directory",
                path.display(),
                names.join(", "),
                if n > 5 { ", ..." } else { "" }
            )))
        }
    }
}

fn text(c: Option<&Cell>) -> String {
    match c {
        None => "-".into(),
        Some(Cell::Number(x)) => format_number(*x),
        Some(Cell::Text(t)) => t.clone(),
        Some(Cell::Bool(b)) => b.to_string(),
    }
}

fn json_cell(c: Option<&Cell>) -> serde_json::Value {
    match c {
        None => serde_json::Value::Null,
        Some(Cell::Number(x)) if x.is_finite() => serde_json::json!(x),
        Some(Cell::Number(x)) => serde_json::Value::String(format_number(*x)),
        Some(Cell::Text(t)) => serde_json::Value::String(t.clone()),
        Some(Cell::Bool(b)) => serde_json::Value::Bool(*b),
    }
}

fn json_num(x: f64) -> serde_json::Value {
    if x.is_finite() {
        serde_json::json!(x)
    } else {
        serde_json::Value::String(format_number(x))
    }
}

/// A parameter's name and its values in runs A and B.
type ParamRow = (String, Option<Cell>, Option<Cell>);

/// Prints the differences between the runs at `a` and `b`.
pub fn diff(a: &Path, b: &Path, all: bool, format: Format) -> Result<(), CliError> {
    let (ra, rb) = (one_run(a)?, one_run(b)?);
    let names: BTreeSet<&String> = ra.params.keys().chain(rb.params.keys()).collect();
    let (env, config): (Vec<&String>, Vec<&String>) =
        names.into_iter().partition(|n| n.starts_with("env."));
    let rows = |keys: &[&String]| -> (Vec<ParamRow>, usize) {
        let mut same = 0;
        let mut out = Vec::new();
        for k in keys {
            let (x, y) = (ra.params.get(*k).cloned(), rb.params.get(*k).cloned());
            if x == y && !all {
                same += 1;
                continue;
            }
            out.push(((*k).clone(), x, y));
        }
        (out, same)
    };
    let (config_rows, config_same) = rows(&config);
    let (env_rows, env_same) = rows(&env);
    let tags: BTreeSet<&String> = ra.metrics.keys().chain(rb.metrics.keys()).collect();
    let shared: Vec<&String> = tags
        .iter()
        .copied()
        .filter(|t| ra.metrics.contains_key(*t) && rb.metrics.contains_key(*t))
        .collect();
    let only = |r: &RunSummary, other: &RunSummary| -> Vec<String> {
        r.metrics
            .keys()
            .filter(|t| !other.metrics.contains_key(*t))
            .cloned()
            .collect()
    };
    let (only_a, only_b) = (only(&ra, &rb), only(&rb, &ra));

    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if format == Format::Json {
        let params = |rows: &[ParamRow]| -> serde_json::Value {
            rows.iter()
                .map(|(k, x, y)| {
                    (
                        k.clone(),
                        serde_json::json!({"a": json_cell(x.as_ref()), "b": json_cell(y.as_ref())}),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let metrics: serde_json::Map<String, serde_json::Value> = shared
            .iter()
            .map(|t| {
                let (x, y) = (ra.metrics[*t], rb.metrics[*t]);
                (
                    (*t).clone(),
                    serde_json::json!({
                        "a": json_num(x.last), "b": json_num(y.last),
                        "a_step": x.last_step, "b_step": y.last_step,
                        "delta": json_num(y.last - x.last),
                    }),
                )
            })
            .collect();
        let doc = serde_json::json!({
            "a": ra.run, "b": rb.run,
            "status": {"a": ra.status, "b": rb.status},
            "config": params(&config_rows),
            "environment": params(&env_rows),
            "metrics": metrics,
            "only_in_a": only_a,
            "only_in_b": only_b,
        });
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        )?;
        out.flush()?;
        return Ok(());
    }

    writeln!(
        out,
        "A: {}  ({})",
        ra.run,
        ra.status.as_deref().unwrap_or("no status")
    )?;
    writeln!(
        out,
        "B: {}  ({})",
        rb.run,
        rb.status.as_deref().unwrap_or("no status")
    )?;
    let width = grid::terminal_width();
    let section =
        |title: &str, rows: &[ParamRow], same: usize, out: &mut dyn Write| -> io::Result<()> {
            writeln!(out)?;
            let note = if same > 0 {
                format!(" ({same} equal not shown; --all shows them)")
            } else {
                String::new()
            };
            if rows.is_empty() {
                return writeln!(out, "{title}: no differences{note}");
            }
            writeln!(out, "{title}{note}")?;
            let cell = |s: String| grid::Cell {
                display: s.clone(),
                value: grid::Value::Text(s),
            };
            let g = Grid {
                header: vec!["  name".into(), "A".into(), "B".into()],
                rows: rows
                    .iter()
                    .map(|(k, x, y)| {
                        let mark = if x == y { "  " } else { "≠ " };
                        vec![
                            cell(format!("{mark}{k}")),
                            cell(text(x.as_ref())),
                            cell(text(y.as_ref())),
                        ]
                    })
                    .collect(),
                right: vec![false, false, false],
            };
            g.write_text(out, width).map(|_| ())
        };
    section("config", &config_rows, config_same, &mut out)?;
    section("environment", &env_rows, env_same, &mut out)?;
    writeln!(out)?;
    if shared.is_empty() {
        writeln!(out, "metrics: none shared")?;
    } else {
        writeln!(out, "metrics (last value)")?;
        let num = |x: f64| grid::Cell {
            display: grid::short_number(x),
            value: grid::Value::Number(x),
        };
        // The steps of the last values, when the runs did not end at the same step for
        // every metric (a run that crashed early is compared at its own last step).
        let steps_differ = shared
            .iter()
            .any(|t| ra.metrics[*t].last_step != rb.metrics[*t].last_step);
        let step = |s: i64| grid::Cell {
            display: s.to_string(),
            value: grid::Value::Number(s as f64),
        };
        let mut header: Vec<String> = vec![
            "  tag".into(),
            "A".into(),
            "B".into(),
            "B - A".into(),
            "change".into(),
        ];
        let mut right = vec![false, true, true, true, true];
        if steps_differ {
            header.extend(["A step".into(), "B step".into()]);
            right.extend([true, true]);
        }
        let g = Grid {
            header,
            rows: shared
                .iter()
                .map(|t| {
                    let (x, y) = (ra.metrics[*t].last, rb.metrics[*t].last);
                    let change = if x != 0.0 && x.is_finite() && y.is_finite() {
                        format!("{:+.1}%", (y - x) / x.abs() * 100.0)
                    } else {
                        String::new()
                    };
                    let mut row = vec![
                        grid::Cell {
                            display: format!("  {t}"),
                            value: grid::Value::Text((*t).clone()),
                        },
                        num(x),
                        num(y),
                        num(y - x),
                        grid::Cell {
                            display: change.clone(),
                            value: grid::Value::Text(change),
                        },
                    ];
                    if steps_differ {
                        row.push(step(ra.metrics[*t].last_step));
                        row.push(step(rb.metrics[*t].last_step));
                    }
                    row
                })
                .collect(),
            right,
        };
        g.write_text(&mut out, width)?;
    }
    if !only_a.is_empty() {
        writeln!(out, "only in A: {}", only_a.join(", "))?;
    }
    if !only_b.is_empty() {
        writeln!(out, "only in B: {}", only_b.join(", "))?;
    }
    out.flush()?;
    Ok(())
}
