//! `tfevents runs`: one row per run, with hyperparameters, status, times and metric
//! summaries; filtered, ordered and printed as a table, CSV, JSON or Markdown.

use std::collections::BTreeSet;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use tfevents::glob::Glob;
use tfevents::overview::{summarize, RunSummary};
use tfevents::query::{self, Agg, Filter, Key, Lookup, OrderKey, Source};

use super::grid::{self, Grid};
use super::output::{duration, utc};
use super::CliError;

/// Output formats of the run table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, cut to the terminal's width.
    Table,
    /// Comma-separated values, every column in full precision.
    Csv,
    /// A JSON array of objects.
    Json,
    /// A GitHub Markdown table.
    Markdown,
}

/// What to show.
pub struct RunsRequest<'a> {
    /// A logdir or a directory written by convert.
    pub path: &'a Path,
    /// Only runs whose name matches.
    pub runs: Option<&'a Glob>,
    /// MLflow-style filter.
    pub filter: Option<&'a str>,
    /// Order-by clauses (each may hold several keys).
    pub order_by: &'a [String],
    /// Column patterns, comma-separated.
    pub columns: Option<&'a str>,
    /// Output format.
    pub format: Format,
}

fn attr(name: &str) -> Key {
    Key {
        source: Source::Attribute,
        name: name.to_owned(),
    }
}

/// Every column, in order: attributes, parameters (config first, then `env.*`), then per tag
/// its last, min and max.
fn all_columns(runs: &[RunSummary]) -> Vec<Key> {
    let mut cols: Vec<Key> = [
        "run",
        "status",
        "start_time",
        "end_time",
        "duration",
        "last_step",
    ]
    .into_iter()
    .map(attr)
    .collect();
    let params: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
    let (env, config): (Vec<&String>, Vec<&String>) =
        params.into_iter().partition(|p| p.starts_with("env."));
    for p in config.into_iter().chain(env) {
        cols.push(Key {
            source: Source::Param,
            name: p.clone(),
        });
    }
    let tags: BTreeSet<&String> = runs.iter().flat_map(|r| r.metrics.keys()).collect();
    for t in tags {
        for agg in [Agg::Last, Agg::Min, Agg::Max] {
            cols.push(Key {
                source: Source::Metric(agg),
                name: t.clone(),
            });
        }
    }
    cols
}

/// The columns a text table shows by default: the run's attributes but the end time, the
/// config parameters that differ between runs (all of them for one run), and each metric's
/// last value.
fn default_columns(all: &[Key], runs: &[RunSummary]) -> Vec<Key> {
    all.iter()
        .filter(|k| match k.source {
            Source::Attribute => k.name != "end_time",
            Source::Param => {
                if k.name.starts_with("env.") {
                    return false;
                }
                let values: Vec<String> = runs.iter().map(|r| format!("{:?}", r.get(k))).collect();
                runs.len() == 1 || values.iter().any(|v| *v != values[0])
            }
            Source::Metric(agg) => agg == Agg::Last,
        })
        .cloned()
        .collect()
}

/// Columns chosen by `--columns`: comma-separated names (`run`, `params.lr`,
/// `metrics.val/mAP`, `max(metrics.val/mAP)`, also with backticks) or patterns (`params.*`).
fn choose_columns(spec: &str, all: &[Key]) -> Result<Vec<Key>, CliError> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        // Bare attribute names are accepted as they are printed.
        let name = if matches!(
            item,
            "run" | "status" | "start_time" | "end_time" | "duration" | "last_step"
        ) {
            item.to_owned()
        } else if item.contains(['*', '?', '[']) {
            let g = Glob::new(item).map_err(CliError::Usage)?;
            let matched: Vec<&Key> = all.iter().filter(|k| g.matches(&k.to_string())).collect();
            if matched.is_empty() {
                return Err(CliError::Usage(format!(
                    "--columns: no column matches {item:?}"
                )));
            }
            out.extend(matched.into_iter().cloned());
            continue;
        } else {
            let keys = query::parse_order_by(item)
                .map_err(|e| CliError::Usage(format!("--columns: {e}")))?;
            match keys.as_slice() {
                [OrderKey {
                    key,
                    descending: false,
                }] => key.to_string(),
                _ => {
                    return Err(CliError::Usage(format!(
                        "--columns: {item:?} is not a column"
                    )))
                }
            }
        };
        match all.iter().find(|k| k.to_string() == name) {
            Some(k) => out.push(k.clone()),
            None => {
                let known: Vec<String> = all.iter().take(30).map(|k| k.to_string()).collect();
                return Err(CliError::Usage(format!(
                    "--columns: no column {name:?} (columns include: {}{})",
                    known.join(", "),
                    if all.len() > 30 { ", ..." } else { "" }
                )));
            }
        }
    }
    Ok(out)
}

fn cell(run: &RunSummary, key: &Key) -> grid::Cell {
    use grid::Value as V;
    let v = run.get(key);
    let (display, value) = match (&v, key.source, key.name.as_str()) {
        (None, ..) => (String::new(), V::Empty),
        (Some(query::Cell::Number(t)), Source::Attribute, "start_time" | "end_time") => {
            (utc(*t), V::Number(*t))
        }
        (Some(query::Cell::Number(d)), Source::Attribute, "duration") => {
            (duration(*d), V::Number(*d))
        }
        (Some(query::Cell::Number(x)), Source::Attribute, _) => {
            (query::format_number(*x), V::Number(*x))
        }
        (Some(query::Cell::Number(x)), ..) => (grid::short_number(*x), V::Number(*x)),
        (Some(query::Cell::Text(t)), ..) => (t.clone(), V::Text(t.clone())),
        (Some(query::Cell::Bool(b)), ..) => (b.to_string(), V::Bool(*b)),
    };
    grid::Cell { display, value }
}

/// Prints the run table.
pub fn runs(req: &RunsRequest<'_>) -> Result<(), CliError> {
    let filter = req
        .filter
        .map(Filter::parse)
        .transpose()
        .map_err(|e| CliError::Usage(format!("invalid --filter: {e}")))?;
    let mut order: Vec<OrderKey> = Vec::new();
    for o in req.order_by {
        order.extend(
            query::parse_order_by(o)
                .map_err(|e| CliError::Usage(format!("invalid --order-by: {e}")))?,
        );
    }
    let overview = summarize(req.path, req.runs)?;
    for w in &overview.warnings {
        eprintln!("tfevents: warning: {w}");
    }
    let total = overview.runs.len();
    // Columns from every run, so that a filter changes the rows but not the columns.
    let all = all_columns(&overview.runs);
    let mut runs: Vec<RunSummary> = overview
        .runs
        .into_iter()
        .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
        .collect();
    runs.sort_by(|a, b| query::order(a, b, &order).then_with(|| a.run.cmp(&b.run)));

    let columns = match req.columns {
        Some(spec) => choose_columns(spec, &all)?,
        None if matches!(req.format, Format::Table | Format::Markdown) => {
            default_columns(&all, &runs)
        }
        None => all.clone(),
    };
    let grid = Grid {
        header: columns.iter().map(|k| k.to_string()).collect(),
        // Numbers to the right: metrics, the last step, and parameters with only numbers.
        right: columns
            .iter()
            .map(|k| match k.source {
                Source::Attribute => k.name == "last_step",
                Source::Metric(_) => true,
                Source::Param => runs
                    .iter()
                    .all(|r| matches!(r.get(k), None | Some(query::Cell::Number(_)))),
            })
            .collect(),
        rows: runs
            .iter()
            .map(|r| columns.iter().map(|k| cell(r, k)).collect())
            .collect(),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match req.format {
        Format::Table => {
            let hidden = grid.write_text(&mut out, grid::terminal_width())?;
            out.flush()?;
            let mut notes = vec![format!(
                "{} of {} runs{}",
                runs.len(),
                total,
                if filter.is_some() {
                    " match the filter"
                } else {
                    ""
                }
            )];
            if hidden > 0 {
                notes.push(format!(
                    "{hidden} columns do not fit the terminal (choose with --columns, or use --format csv)"
                ));
            }
            if req.columns.is_none() && columns.len() < all.len() {
                notes.push(format!(
                    "{} more columns with --columns (constant and env.* params, min/max of metrics)",
                    all.len() - columns.len()
                ));
            }
            eprintln!("{}", notes.join("; "));
        }
        Format::Csv => grid.write_csv(&mut out)?,
        Format::Json => grid.write_json(&mut out)?,
        Format::Markdown => grid.write_markdown(&mut out)?,
    }
    out.flush()?;
    Ok(())
}
