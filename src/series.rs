//! Scalar series of runs, read from a logdir or from tables written by `tfevents convert`:
//! the input of plots, reductions and comparisons.

use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;
use thiserror::Error;

use crate::glob::Glob;
use crate::logdir::{discover, DiscoverError};
use crate::run::{read_run, FileReport};
use crate::table::Table;
use crate::tables::{is_table_dir, scan, TablesError};
use crate::value::Value;

/// One scalar tag of one run, in step order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// The run.
    pub run: String,
    /// The tag.
    pub tag: String,
    /// Steps, ascending (values at one step keep the order they were written in).
    pub steps: Vec<i64>,
    /// Wall times, seconds since the epoch.
    pub wall_times: Vec<f64>,
    /// Values (NaN and infinities kept).
    pub values: Vec<f64>,
}

impl Series {
    fn push(&mut self, step: i64, wall_time: f64, value: f64) {
        self.steps.push(step);
        self.wall_times.push(wall_time);
        self.values.push(value);
    }

    /// Sorts the points by step, keeping the written order of points at the same step.
    fn sort(&mut self) {
        if self.steps.windows(2).all(|w| w[0] <= w[1]) {
            return;
        }
        let mut idx: Vec<usize> = (0..self.steps.len()).collect();
        idx.sort_by_key(|&i| self.steps[i]);
        self.steps = idx.iter().map(|&i| self.steps[i]).collect();
        self.wall_times = idx.iter().map(|&i| self.wall_times[i]).collect();
        self.values = idx.iter().map(|&i| self.values[i]).collect();
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when the series has no points.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Why series could not be read.
#[derive(Debug, Error)]
pub enum SeriesError {
    /// The path is not a readable logdir or event file.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// The tables could not be read.
    #[error(transparent)]
    Tables(#[from] TablesError),
}

/// What was read, with what could not be.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Series sorted by run, then tag.
    pub series: Vec<Series>,
    /// Problems met on the way (unreadable directories, damaged files), one line each.
    pub warnings: Vec<String>,
}

/// Warning lines for the damaged files of a run.
pub fn damage_warnings(run: &str, files: &[FileReport]) -> Vec<String> {
    files
        .iter()
        .filter(|f| !f.is_clean())
        .map(|f| {
            let d = &f.damage;
            let mut parts = Vec::new();
            if d.bad_data_crc > 0 {
                parts.push(format!(
                    "{} records with a bad checksum skipped",
                    d.bad_data_crc
                ));
            }
            if d.resync_bytes > 0 {
                parts.push(format!(
                    "{} bytes skipped after bad headers",
                    d.resync_bytes
                ));
            }
            if d.truncated_bytes > 0 {
                parts.push(format!(
                    "{} bytes of a cut-off last record",
                    d.truncated_bytes
                ));
            }
            if !f.issues.is_clean() {
                parts.push(format!(
                    "{} undecodable events, {} undecodable values",
                    f.issues.undecodable_events, f.issues.undecodable_values
                ));
            }
            if let Some(e) = &f.error {
                parts.push(e.clone());
            }
            format!("run {run}: {}: {}", f.path.display(), parts.join(", "))
        })
        .collect()
}

/// Reads the scalar series of `path`: a logdir (or event file), or a directory written by
/// `tfevents convert`. Superseded values are left out (as TensorBoard shows runs). Only
/// runs and tags matching the patterns are read. Damaged files are read as far as they go
/// and reported in [`Loaded::warnings`].
pub fn load_scalars(
    path: &Path,
    runs: Option<&Glob>,
    tags: Option<&Glob>,
) -> Result<Loaded, SeriesError> {
    let keep_run = |r: &str| runs.is_none_or(|g| g.matches(r));
    let keep_tag = |t: &str| tags.is_none_or(|g| g.matches(t));
    let mut out = Loaded::default();
    let mut map: BTreeMap<(String, String), Series> = BTreeMap::new();
    if is_table_dir(path) {
        scan(
            path,
            Table::Scalars,
            Some(&["run", "tag", "step", "wall_time", "value", "superseded"]),
            |b| {
                let (run, tag) = (b.runs()?, b.strings("tag")?);
                let (step, wall, value) = (b.i64s("step")?, b.f64s("wall_time")?, b.f64s("value")?);
                let superseded = b.bools("superseded")?;
                for i in 0..b.len() {
                    let (Some(r), Some(t)) = (run.get(i), tag.get(i)) else {
                        continue;
                    };
                    if superseded.value(i) || !keep_run(r) || !keep_tag(t) {
                        continue;
                    }
                    map.entry((r.to_owned(), t.to_owned()))
                        .or_insert_with(|| Series {
                            run: r.to_owned(),
                            tag: t.to_owned(),
                            ..Default::default()
                        })
                        .push(step.value(i), wall.value(i), value.value(i));
                }
                Ok(())
            },
        )?;
    } else {
        let found = discover(&[path])?;
        out.warnings
            .extend(found.warnings.iter().map(ToString::to_string));
        let per_run: Vec<(Vec<Series>, Vec<String>)> = found
            .runs
            .par_iter()
            .filter(|r| keep_run(r.run.as_str()))
            .map(|r| {
                let mut tags: BTreeMap<String, Series> = BTreeMap::new();
                let report = read_run(r, |p| {
                    if let Value::Scalar(s) = &p.value {
                        if !p.superseded && keep_tag(p.tag) {
                            let series = match tags.get_mut(p.tag) {
                                Some(s) => s,
                                None => tags.entry(p.tag.to_owned()).or_insert_with(|| Series {
                                    run: r.run.0.clone(),
                                    tag: p.tag.to_owned(),
                                    ..Default::default()
                                }),
                            };
                            series.push(p.step.0, p.wall_time.0, s.value);
                        }
                    }
                });
                (
                    tags.into_values().collect(),
                    damage_warnings(r.run.as_str(), &report.files),
                )
            })
            .collect();
        for (series, warnings) in per_run {
            out.warnings.extend(warnings);
            for s in series {
                map.insert((s.run.clone(), s.tag.clone()), s);
            }
        }
    }
    out.series = map
        .into_values()
        .map(|mut s| {
            s.sort();
            s
        })
        .collect();
    Ok(out)
}
