//! `tfevents plot`: scalar tags of runs drawn as a PNG or SVG chart, one panel per tag and
//! one colour per run.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use tfevents::glob::Glob;
use tfevents::plot::{self, Curve, Format, Options, Panel, XAxis};
use tfevents::series::{load_scalars, Series};

use super::CliError;

/// What the x axis shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum XKind {
    /// The step.
    Step,
    /// Time since the run's first point (seconds, minutes or hours, by the longest run).
    Relative,
    /// Wall-clock time, UTC.
    Wall,
}

/// What to plot, and where.
pub struct PlotRequest<'a> {
    /// A logdir, an event file, or a directory written by convert.
    pub path: &'a Path,
    /// Tags, one panel each, in this order (exact names; repeats are dropped).
    pub tags: &'a [String],
    /// Only runs whose name matches.
    pub runs: Option<&'a Glob>,
    /// Smoothing weight in `[0, 1)`.
    pub smoothing: f64,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// What the x axis shows.
    pub x: XKind,
    /// Image width.
    pub width: u32,
    /// Height of one panel.
    pub height: u32,
    /// The image file; its extension picks the format.
    pub out: &'a Path,
}

fn usage(e: impl ToString) -> CliError {
    CliError::Usage(e.to_string())
}

/// Draws the chart and writes it to `req.out` (under a temporary name, renamed when
/// complete). Warnings (damaged files, values not drawn) go to stderr.
pub fn plot(req: &PlotRequest) -> Result<(), CliError> {
    // Options first, so a mistyped command fails before anything is read.
    let format = Format::from_path(req.out).map_err(usage)?;
    if !(0.0..1.0).contains(&req.smoothing) {
        return Err(usage(format!(
            "--smoothing {} is out of range: it must be at least 0 and less than 1",
            req.smoothing
        )));
    }
    let mut tags: Vec<&str> = Vec::new();
    for t in req.tags {
        if !tags.contains(&t.as_str()) {
            tags.push(t);
        }
    }
    if tags.is_empty() {
        return Err(usage("plot needs at least one --tag"));
    }
    let opts = Options {
        width: req.width,
        panel_height: req.height,
        smoothing: req.smoothing,
    };
    opts.image_size(tags.len()).map_err(usage)?;

    // One tag: read only that tag. Several: read all (each read would be a pass anyway).
    let only = match tags.as_slice() {
        [tag] => Some(Glob::new(&exact_pattern(tag)).map_err(usage)?),
        _ => None,
    };
    let mut loaded = load_scalars(req.path, req.runs, only.as_ref())?;
    for w in &loaded.warnings {
        eprintln!("tfevents: warning: {w}");
    }
    let missing: Vec<&str> = tags
        .iter()
        .copied()
        .filter(|t| !loaded.series.iter().any(|s| s.tag == *t))
        .collect();
    if !missing.is_empty() {
        if only.is_some() {
            // To say which tags there are.
            loaded = load_scalars(req.path, req.runs, None)?;
        }
        return Err(usage(missing_message(&missing, &loaded.series, req.runs)));
    }

    let panels = panels(&loaded.series, &tags, req.x, req.log_y);
    for (panel, tag) in panels.iter().zip(&tags) {
        let mut dropped = plot::Undrawable::default();
        for c in &panel.curves {
            let d = plot::undrawable(&c.points, panel.log_y);
            dropped.non_finite += d.non_finite;
            dropped.non_positive += d.non_positive;
        }
        if dropped.non_finite > 0 {
            eprintln!(
                "tfevents: warning: {tag}: {} NaN or infinite {} not drawn",
                dropped.non_finite,
                values(dropped.non_finite)
            );
        }
        if dropped.non_positive > 0 {
            eprintln!(
                "tfevents: warning: {tag}: {} {} <= 0 not drawn on the log axis",
                dropped.non_positive,
                values(dropped.non_positive)
            );
        }
    }
    let bytes = plot::render(&panels, &opts, format).map_err(usage)?;
    write_new(req.out, &bytes)?;
    let runs: BTreeSet<&str> = panels
        .iter()
        .flat_map(|p| p.curves.iter().map(|c| c.label.as_str()))
        .collect();
    eprintln!(
        "tfevents: wrote {} ({} x {} px, {} {}, {} {})",
        req.out.display(),
        opts.width,
        opts.panel_height as usize * panels.len(),
        panels.len(),
        if panels.len() == 1 { "panel" } else { "panels" },
        runs.len(),
        if runs.len() == 1 { "run" } else { "runs" },
    );
    Ok(())
}

fn values(n: usize) -> &'static str {
    if n == 1 {
        "value"
    } else {
        "values"
    }
}

/// A glob pattern that matches `text` and nothing else.
fn exact_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// "no scalar values for tag X; the scalar tags are: ..." (at most 30 listed).
fn missing_message(missing: &[&str], series: &[Series], runs: Option<&Glob>) -> String {
    let quoted: Vec<String> = missing.iter().map(|t| format!("{t:?}")).collect();
    let what = if missing.len() == 1 { "tag" } else { "tags" };
    let scope = runs.map_or(String::new(), |_| " in the runs selected by --runs".into());
    let known: BTreeSet<&str> = series.iter().map(|s| s.tag.as_str()).collect();
    if known.is_empty() {
        let runs_note = if series.is_empty() && runs.is_some() {
            "no scalar values in the runs selected by --runs"
        } else {
            "no scalar values at all"
        };
        return format!(
            "no scalar values for {what} {}: {runs_note}",
            quoted.join(", ")
        );
    }
    const LIST: usize = 30;
    let list: Vec<&str> = known.iter().copied().take(LIST).collect();
    let more = known.len().saturating_sub(LIST);
    let more = if more > 0 {
        format!(" (and {more} more)")
    } else {
        String::new()
    };
    format!(
        "no scalar values for {what} {}{scope}; the scalar tags are: {}{more}",
        quoted.join(", "),
        list.join(", ")
    )
}

/// One panel per tag, one curve per run; a run has the same colour in every panel.
fn panels(series: &[Series], tags: &[&str], x: XKind, log_y: bool) -> Vec<Panel> {
    let colors: BTreeMap<&str, usize> = series
        .iter()
        .filter(|s| tags.contains(&s.tag.as_str()))
        .map(|s| s.run.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, run)| (run, i))
        .collect();
    // Relative time is in one unit for all panels, chosen by the longest run.
    let longest = series
        .iter()
        .filter(|s| tags.contains(&s.tag.as_str()))
        .map(|s| {
            let (lo, hi) = finite_range(&s.wall_times);
            hi - lo
        })
        .fold(0.0, f64::max);
    let (unit, unit_name) = if longest >= 2.0 * 3600.0 {
        (3600.0, "hours")
    } else if longest >= 120.0 {
        (60.0, "minutes")
    } else {
        (1.0, "seconds")
    };
    let x_label = match x {
        XKind::Step => "step".to_string(),
        XKind::Relative => format!("{unit_name} since the run's first point"),
        XKind::Wall => "wall time (UTC)".to_string(),
    };
    tags.iter()
        .map(|&tag| Panel {
            title: tag.to_string(),
            x_label: x_label.clone(),
            y_label: tag.to_string(),
            x_axis: if x == XKind::Wall {
                XAxis::UnixTime
            } else {
                XAxis::Linear
            },
            log_y,
            curves: series
                .iter()
                .filter(|s| s.tag == tag)
                .map(|s| Curve {
                    label: s.run.clone(),
                    color: colors.get(s.run.as_str()).copied().unwrap_or(0),
                    points: points(s, x, unit),
                })
                .collect(),
        })
        .collect()
}

fn finite_range(values: &[f64]) -> (f64, f64) {
    let (lo, hi) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        (0.0, 0.0)
    } else {
        (lo, hi)
    }
}

fn points(s: &Series, x: XKind, unit: f64) -> Vec<(f64, f64)> {
    let start = finite_range(&s.wall_times).0;
    s.steps
        .iter()
        .zip(&s.wall_times)
        .zip(&s.values)
        .map(|((&step, &wall), &value)| {
            let x = match x {
                XKind::Step => step as f64,
                XKind::Relative => (wall - start) / unit,
                XKind::Wall => wall,
            };
            (x, value)
        })
        .collect()
}

/// Writes `bytes` to `path` through a temporary file beside it, so that `path` is either
/// its old self or the whole new image.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let name = path
        .file_name()
        .ok_or_else(|| usage(format!("{}: not a file name", path.display())))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp: PathBuf = path.with_file_name(tmp_name);
    let failed = |source| CliError::Path {
        path: tmp.clone(),
        source,
    };
    if let Err(e) = fs::write(&tmp, bytes) {
        let _ = fs::remove_file(&tmp);
        return Err(failed(e));
    }
    if let Err(source) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(CliError::Path {
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_patterns_match_only_their_text() {
        for tag in ["loss", "val/acc[0]", "a*b?c\\d"] {
            let g = Glob::new(&exact_pattern(tag)).unwrap();
            assert!(g.matches(tag), "{tag}");
            assert!(!g.matches(&format!("{tag}x")), "{tag}");
        }
        assert!(!Glob::new(&exact_pattern("a*")).unwrap().matches("ab"));
    }
}
