//! One summary per run, to compare runs side by side: hyperparameters, status, times, last
//! step, and per scalar tag the last, smallest and largest value. Read from a logdir or from
//! tables written by `tfevents convert`.

use std::collections::BTreeMap;
use std::path::Path;

use arrow_array::Array;
use rayon::prelude::*;

use crate::glob::Glob;
use crate::json::hparams_status_name;
use crate::logdir::discover;
use crate::query::{Agg, Cell, Key, Lookup, Source};
use crate::run::read_run;
use crate::series::{damage_warnings, SeriesError};
use crate::table::Table;
use crate::tables::{has_table, is_table_dir, scan};
use crate::value::{Hparams, Value};

/// Summary of one scalar tag of a run (superseded values left out).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricSummary {
    /// The value at the largest step (the last written among values at that step).
    pub last: f64,
    /// The largest step.
    pub last_step: i64,
    /// The smallest value, NaN left out (NaN when every value is NaN).
    pub min: f64,
    /// The largest value, NaN left out.
    pub max: f64,
    /// Number of values.
    pub count: u64,
}

impl MetricSummary {
    fn new(step: i64, value: f64) -> Self {
        MetricSummary {
            last: value,
            last_step: step,
            min: value,
            max: value,
            count: 1,
        }
    }

    fn add(&mut self, step: i64, value: f64) {
        if step >= self.last_step {
            self.last_step = step;
            self.last = value;
        }
        if !value.is_nan() {
            self.min = if self.min.is_nan() {
                value
            } else {
                self.min.min(value)
            };
            self.max = if self.max.is_nan() {
                value
            } else {
                self.max.max(value)
            };
        }
        self.count += 1;
    }

    fn merge(&mut self, other: &MetricSummary) {
        let count = self.count + other.count;
        self.add(other.last_step, other.last);
        for v in [other.min, other.max] {
            if !v.is_nan() {
                self.min = if self.min.is_nan() {
                    v
                } else {
                    self.min.min(v)
                };
                self.max = if self.max.is_nan() {
                    v
                } else {
                    self.max.max(v)
                };
            }
        }
        self.count = count;
    }
}

/// One run, summarised.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunSummary {
    /// The run's name.
    pub run: String,
    /// Hyperparameters from the run's hparams session starts, the first value of each name
    /// (config fields, `env.*`).
    pub params: BTreeMap<String, Cell>,
    /// `SUCCESS`, `FAILURE`, `RUNNING` or `UNKNOWN` from the last session end (or, for runs
    /// written by `tfevents::Run`, from `run.json`); `None` when the run records none.
    pub status: Option<String>,
    /// Earliest wall time of a scalar (superseded ones left out); for a run without
    /// scalars, of any value (as in `runs.parquet`).
    pub start_time: Option<f64>,
    /// Latest wall time, likewise.
    pub end_time: Option<f64>,
    /// Largest step, likewise.
    pub last_step: Option<i64>,
    /// Scalar tags.
    pub metrics: BTreeMap<String, MetricSummary>,
    /// Child runs joined into this one (PyTorch's `add_hparams` writes `<run>/<time>`).
    pub joined: Vec<String>,
}

impl RunSummary {
    fn touch(&mut self, step: i64, wall_time: f64) {
        if wall_time.is_finite() {
            self.start_time = Some(self.start_time.map_or(wall_time, |t| t.min(wall_time)));
            self.end_time = Some(self.end_time.map_or(wall_time, |t| t.max(wall_time)));
        }
        self.last_step = Some(self.last_step.map_or(step, |s| s.max(step)));
    }

    fn metric(&mut self, tag: &str, step: i64, wall_time: f64, value: f64) {
        self.touch(step, wall_time);
        match self.metrics.get_mut(tag) {
            Some(m) => m.add(step, value),
            None => {
                self.metrics
                    .insert(tag.to_owned(), MetricSummary::new(step, value));
            }
        }
    }

    /// Seconds from the first to the last value.
    pub fn duration(&self) -> Option<f64> {
        Some(self.end_time? - self.start_time?)
    }
}

impl Lookup for RunSummary {
    fn get(&self, key: &Key) -> Option<Cell> {
        match key.source {
            Source::Metric(agg) => {
                let m = self.metrics.get(&key.name)?;
                Some(Cell::Number(match agg {
                    Agg::Last => m.last,
                    Agg::Min => m.min,
                    Agg::Max => m.max,
                }))
            }
            Source::Param => self.params.get(&key.name).cloned(),
            Source::Attribute => match key.name.as_str() {
                "run" => Some(Cell::Text(self.run.clone())),
                "status" => self.status.clone().map(Cell::Text),
                "start_time" => self.start_time.map(Cell::Number),
                "end_time" => self.end_time.map(Cell::Number),
                "duration" => self.duration().map(Cell::Number),
                "last_step" => self.last_step.map(|s| Cell::Number(s as f64)),
                _ => None,
            },
        }
    }
}

/// Runs summarised, with what could not be read.
#[derive(Debug, Clone, Default)]
pub struct Overview {
    /// Runs sorted by name.
    pub runs: Vec<RunSummary>,
    /// Problems met on the way (unreadable directories, damaged files), one line each.
    pub warnings: Vec<String>,
}

fn proto_cell(v: &prost_types::Value) -> Cell {
    use prost_types::value::Kind as K;
    match &v.kind {
        Some(K::NumberValue(n)) => Cell::Number(*n),
        Some(K::StringValue(s)) => Cell::Text(s.clone()),
        Some(K::BoolValue(b)) => Cell::Bool(*b),
        _ => Cell::Text(crate::json::proto_value_json(v)),
    }
}

/// The status `run.json` (written by `tfevents::Run`) gives, if the directory has one.
fn sidecar_status(dir: &Path) -> Option<String> {
    let text = std::fs::read(dir.join(crate::tracker::SIDECAR)).ok()?;
    let json: serde_json::Value = serde_json::from_slice(&text).ok()?;
    json.get("status")?.as_str().map(str::to_owned)
}

/// True for the last path segment PyTorch's `add_hparams` gives its child run:
/// `str(time.time())`, e.g. `1700000000.123456`.
fn is_timestamp_child(name: &str) -> Option<&str> {
    let (parent, last) = name.rsplit_once('/').unwrap_or((".", name));
    let (secs, frac) = last.split_once('.')?;
    (secs.len() >= 9
        && secs.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit()))
    .then_some(parent)
}

/// Joins child runs that hold only `add_hparams` data into their parents: the parent gets
/// the child's hyperparameters (its own win), the metrics it lacks, and the status if it has
/// none. A child whose parent is not a run becomes the parent. A parent with several such
/// children (`add_hparams` called once per trial on one writer) is not joined: each child
/// stays a run of its own, with its own hyperparameters and metrics, and a warning says so.
fn join_children(runs: Vec<RunSummary>, warnings: &mut Vec<String>) -> Vec<RunSummary> {
    let mut by_name: BTreeMap<String, RunSummary> =
        runs.into_iter().map(|r| (r.run.clone(), r)).collect();
    let mut by_parent: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, r) in &by_name {
        if r.params.is_empty() {
            continue;
        }
        if let Some(parent) = is_timestamp_child(name) {
            by_parent.entry(parent).or_default().push(name.clone());
        }
    }
    let mut children = Vec::new();
    for (parent, names) in by_parent {
        if names.len() == 1 {
            children.extend(names);
        } else {
            warnings.push(format!(
                "run {parent}: {} add_hparams trials ({} .. {}); each is listed as a run of its \
                 own, not joined to {parent}",
                names.len(),
                names[0],
                names[names.len() - 1]
            ));
        }
    }
    for name in children {
        let Some(parent_name) = is_timestamp_child(&name).map(str::to_owned) else {
            continue;
        };
        let Some(child) = by_name.remove(&name) else {
            continue;
        };
        let parent = by_name
            .entry(parent_name.clone())
            .or_insert_with(|| RunSummary {
                run: parent_name,
                ..Default::default()
            });
        for (k, v) in child.params {
            parent.params.entry(k).or_insert(v);
        }
        for (tag, m) in child.metrics {
            match parent.metrics.get_mut(&tag) {
                Some(pm) => pm.merge(&m),
                None => {
                    parent.metrics.insert(tag, m);
                }
            }
        }
        if parent.status.is_none() {
            parent.status = child.status;
        }
        if let (Some(s), Some(e)) = (child.start_time, child.end_time) {
            parent.start_time = Some(parent.start_time.map_or(s, |t| t.min(s)));
            parent.end_time = Some(parent.end_time.map_or(e, |t| t.max(e)));
        }
        if let Some(step) = child.last_step {
            parent.last_step = Some(parent.last_step.map_or(step, |s| s.max(step)));
        }
        parent.joined.push(name);
    }
    by_name.into_values().collect()
}

/// Summarises the runs of `path`: a logdir (or event file), or a directory written by
/// `tfevents convert`. Runs not matching `runs` are left out. Damaged files are read as far
/// as they go and reported in [`Overview::warnings`].
///
/// ```
/// use tfevents::overview::summarize;
/// use tfevents::query::{order, parse_order_by, Filter};
///
/// let overview = summarize("fixtures/logdir".as_ref(), None)?;
/// let filter = Filter::parse("metrics.`hparam/accuracy` > 0.8 and params.lr < 0.1")?;
/// let keys = parse_order_by("params.lr ASC")?;
/// let mut good: Vec<_> = overview.runs.iter().filter(|r| filter.matches(*r)).collect();
/// good.sort_by(|a, b| order(*a, *b, &keys));
/// assert_eq!(good.iter().map(|r| r.run.as_str()).collect::<Vec<_>>(), ["tbx"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn summarize(path: &Path, runs: Option<&Glob>) -> Result<Overview, SeriesError> {
    let keep = |r: &str| runs.is_none_or(|g| g.matches(r));
    let mut out = Overview::default();
    let summaries = if is_table_dir(path) {
        from_tables(path)?
    } else {
        let found = discover(&[path])?;
        out.warnings
            .extend(found.warnings.iter().map(ToString::to_string));
        let per_run: Vec<(RunSummary, Vec<String>)> = found
            .runs
            .par_iter()
            .map(|r| {
                let mut s = RunSummary {
                    run: r.run.0.clone(),
                    ..Default::default()
                };
                // Runs without scalars get their times and last step from their other values.
                let mut other = RunSummary::default();
                let report = read_run(r, |p| match &p.value {
                    Value::Scalar(x) if !p.superseded => {
                        s.metric(p.tag, p.step.0, p.wall_time.0, x.value);
                    }
                    Value::Hparams(h) => match &**h {
                        Hparams::SessionStart(start) => {
                            other.touch(p.step.0, p.wall_time.0);
                            if !p.superseded {
                                // The first value of each name, as from the tables.
                                for (k, v) in &start.hparams {
                                    s.params.entry(k.clone()).or_insert_with(|| proto_cell(v));
                                }
                            }
                        }
                        Hparams::SessionEnd(end) => {
                            s.status = Some(hparams_status_name(end.status).to_owned());
                        }
                        Hparams::Experiment(_) => {}
                    },
                    Value::Blob(_) | Value::SessionLog(_) | Value::LogMessage(_) => {}
                    _ => other.touch(p.step.0, p.wall_time.0),
                });
                if s.start_time.is_none() && s.last_step.is_none() {
                    s.start_time = other.start_time;
                    s.end_time = other.end_time;
                    s.last_step = other.last_step;
                }
                if s.status.is_none() {
                    s.status = sidecar_status(&r.dir);
                }
                (s, damage_warnings(r.run.as_str(), &report.files))
            })
            .collect();
        per_run
            .into_iter()
            .map(|(s, w)| {
                out.warnings.extend(w);
                s
            })
            .collect()
    };
    out.runs = join_children(summaries, &mut out.warnings)
        .into_iter()
        .filter(|r| keep(&r.run))
        .collect();
    Ok(out)
}

fn from_tables(dir: &Path) -> Result<Vec<RunSummary>, SeriesError> {
    let mut runs: BTreeMap<String, RunSummary> = BTreeMap::new();
    // Times and last steps of the runs table, for runs without scalars.
    let mut fallback: BTreeMap<String, RunSummary> = BTreeMap::new();
    scan(
        dir,
        Table::Runs,
        Some(&[
            "run",
            "first_wall_time",
            "last_wall_time",
            "last_step",
            "status",
        ]),
        |b| {
            let names = b.runs()?;
            let (first, last) = (b.f64s("first_wall_time")?, b.f64s("last_wall_time")?);
            let step = b.i64s("last_step")?;
            let status = b.strings("status")?;
            for i in 0..b.len() {
                let Some(run) = names.get(i) else { continue };
                let opt = |a: &arrow_array::Float64Array| (!a.is_null(i)).then(|| a.value(i));
                runs.insert(
                    run.to_owned(),
                    RunSummary {
                        run: run.to_owned(),
                        status: status.get(i).map(str::to_owned),
                        ..Default::default()
                    },
                );
                fallback.insert(
                    run.to_owned(),
                    RunSummary {
                        start_time: opt(first),
                        end_time: opt(last),
                        last_step: (!step.is_null(i)).then(|| step.value(i)),
                        ..Default::default()
                    },
                );
            }
            Ok(())
        },
    )?;
    if has_table(dir, Table::Hparams) {
        scan(dir, Table::Hparams, None, |b| {
            let (names, keys) = (b.runs()?, b.strings("name")?);
            let (numbers, strings, bools) =
                (b.f64s("number")?, b.strings("string")?, b.bools("bool")?);
            let (values, superseded) = (b.strings("value")?, b.bools("superseded")?);
            for i in 0..b.len() {
                let (Some(run), Some(name)) = (names.get(i), keys.get(i)) else {
                    continue;
                };
                if superseded.value(i) {
                    continue;
                }
                let cell = if !numbers.is_null(i) {
                    Cell::Number(numbers.value(i))
                } else if !bools.is_null(i) {
                    Cell::Bool(bools.value(i))
                } else if let Some(s) = strings.get(i) {
                    Cell::Text(s.to_owned())
                } else {
                    Cell::Text(values.get(i).unwrap_or("").to_owned())
                };
                let r = runs.entry(run.to_owned()).or_insert_with(|| RunSummary {
                    run: run.to_owned(),
                    ..Default::default()
                });
                r.params.entry(name.to_owned()).or_insert(cell);
            }
            Ok(())
        })?;
    }
    if has_table(dir, Table::Scalars) {
        scan(
            dir,
            Table::Scalars,
            Some(&["run", "tag", "step", "wall_time", "value", "superseded"]),
            |b| {
                let (names, tags) = (b.runs()?, b.strings("tag")?);
                let (steps, values) = (b.i64s("step")?, b.f64s("value")?);
                let (walls, superseded) = (b.f64s("wall_time")?, b.bools("superseded")?);
                for i in 0..b.len() {
                    let (Some(run), Some(tag)) = (names.get(i), tags.get(i)) else {
                        continue;
                    };
                    if superseded.value(i) {
                        continue;
                    }
                    let r = runs.entry(run.to_owned()).or_insert_with(|| RunSummary {
                        run: run.to_owned(),
                        ..Default::default()
                    });
                    r.metric(tag, steps.value(i), walls.value(i), values.value(i));
                }
                Ok(())
            },
        )?;
    }
    for (name, r) in runs.iter_mut() {
        if r.start_time.is_none() && r.last_step.is_none() {
            if let Some(f) = fallback.remove(name) {
                r.start_time = f.start_time;
                r.end_time = f.end_time;
                r.last_step = f.last_step;
            }
        }
    }
    Ok(runs.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_summary_takes_the_last_step_and_skips_nan_extremes() {
        let mut m = MetricSummary::new(3, 0.5);
        m.add(1, 0.9);
        m.add(5, f64::NAN);
        m.add(5, 0.2);
        m.add(4, -1.0);
        assert_eq!((m.last, m.last_step), (0.2, 5));
        assert_eq!((m.min, m.max, m.count), (-1.0, 0.9, 5));
        let mut n = MetricSummary::new(0, f64::NAN);
        assert!(n.min.is_nan());
        n.add(1, 2.0);
        assert_eq!((n.min, n.max), (2.0, 2.0));
    }

    #[test]
    fn children_of_add_hparams_join_their_parent() {
        assert_eq!(is_timestamp_child("tbx/1796325831.1439502"), Some("tbx"));
        assert_eq!(is_timestamp_child("a/b/1700000000.5"), Some("a/b"));
        assert_eq!(is_timestamp_child("lr=0.1"), None);
        assert_eq!(is_timestamp_child("runs/0.1"), None);
        // A run directory given itself: its child is named relative to it.
        assert_eq!(is_timestamp_child("1796325831.1439502"), Some("."));
        let mut parent = RunSummary {
            run: "exp".into(),
            ..Default::default()
        };
        parent.metric("loss", 10, 100.0, 0.5);
        parent.params.insert("lr".into(), Cell::Number(0.1));
        let mut child = RunSummary {
            run: "exp/1700000000.25".into(),
            status: Some("SUCCESS".into()),
            ..Default::default()
        };
        child.params.insert("lr".into(), Cell::Number(0.2));
        child.params.insert("bs".into(), Cell::Number(32.0));
        child.metric("hparam/acc", 0, 50.0, 0.75);
        let orphan = RunSummary {
            run: "lonely/1700000001.5".into(),
            params: [("x".to_owned(), Cell::Bool(true))].into_iter().collect(),
            ..Default::default()
        };
        let mut warnings = Vec::new();
        let joined = join_children(vec![parent, child, orphan], &mut warnings);
        assert!(warnings.is_empty());
        let names: Vec<&str> = joined.iter().map(|r| r.run.as_str()).collect();
        assert_eq!(names, vec!["exp", "lonely"]);
        let exp = &joined[0];
        assert_eq!(
            exp.params["lr"],
            Cell::Number(0.1),
            "the parent's own value wins"
        );
        assert_eq!(exp.params["bs"], Cell::Number(32.0));
        assert_eq!(exp.metrics["hparam/acc"].last, 0.75);
        assert_eq!(exp.status.as_deref(), Some("SUCCESS"));
        assert_eq!(exp.joined, vec!["exp/1700000000.25".to_owned()]);
        assert_eq!(joined[1].params["x"], Cell::Bool(true));
    }

    #[test]
    fn several_add_hparams_trials_of_one_parent_stay_runs_of_their_own() {
        let mut parent = RunSummary {
            run: "x".into(),
            ..Default::default()
        };
        parent.metric("loss", 3, 10.0, 0.5);
        let trial = |name: &str, lr: f64, acc: f64| {
            let mut t = RunSummary {
                run: name.into(),
                ..Default::default()
            };
            t.params.insert("lr".into(), Cell::Number(lr));
            t.metric("hparam/acc", 0, 20.0, acc);
            t
        };
        let runs = vec![
            parent,
            trial("x/1700000001.5", 0.1, 0.8),
            trial("x/1700000002.5", 0.2, 0.6),
        ];
        let mut warnings = Vec::new();
        let out = join_children(runs, &mut warnings);
        let rows: Vec<(&str, Option<&Cell>, Option<f64>)> = out
            .iter()
            .map(|r| {
                (
                    r.run.as_str(),
                    r.params.get("lr"),
                    r.metrics.get("hparam/acc").map(|m| m.last),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                ("x", None, None),
                ("x/1700000001.5", Some(&Cell::Number(0.1)), Some(0.8)),
                ("x/1700000002.5", Some(&Cell::Number(0.2)), Some(0.6)),
            ]
        );
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("run x: 2 add_hparams trials"),
            "{}",
            warnings[0]
        );
    }
}
