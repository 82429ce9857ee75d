//! Per-run summaries: tags grouped by kind with counts, step ranges and time spans.

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::logdir::RunFiles;
use crate::run::{read_run, RunReport};
use crate::value::Kind;

/// What one tag of one kind holds in a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagStats {
    /// The tag.
    pub tag: String,
    /// The kind of its values.
    pub kind: &'static str,
    /// The plugin named by the tag's first metadata (empty if none).
    pub plugin: String,
    /// Values (each image and audio clip counts once).
    pub count: u64,
    /// Values superseded by a restart.
    pub superseded: u64,
    /// Smallest step.
    pub min_step: i64,
    /// Largest step.
    pub max_step: i64,
    /// Earliest wall time.
    pub first_wall_time: f64,
    /// Latest wall time.
    pub last_wall_time: f64,
}

/// Summary of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStats {
    /// Files, restarts, damage and metadata.
    pub report: RunReport,
    /// Tags, sorted by kind (in [`Kind::ALL`] order) then tag.
    pub tags: Vec<TagStats>,
}

impl RunStats {
    /// Total number of values.
    pub fn values(&self) -> u64 {
        self.tags.iter().map(|t| t.count).sum()
    }

    /// Earliest and latest wall time of any value, if there is one.
    pub fn wall_time_span(&self) -> Option<(f64, f64)> {
        self.tags.iter().fold(None, |acc, t| match acc {
            None => Some((t.first_wall_time, t.last_wall_time)),
            Some((a, b)) => Some((a.min(t.first_wall_time), b.max(t.last_wall_time))),
        })
    }
}

struct Acc {
    kind: Kind,
    count: u64,
    superseded: u64,
    min_step: i64,
    max_step: i64,
    first_wall_time: f64,
    last_wall_time: f64,
}

/// Reads a run and summarises it. See [`read_run`] for how damage is handled.
pub fn run_stats(run: &RunFiles) -> RunStats {
    let mut map: FxHashMap<Box<str>, Vec<Acc>> = FxHashMap::default();
    let report = read_run(run, |p| {
        let kind = p.value.kind();
        let accs = match map.get_mut(p.tag) {
            Some(a) => a,
            None => map.entry(p.tag.into()).or_default(),
        };
        let acc = match accs.iter().position(|a| a.kind == kind) {
            Some(i) => &mut accs[i],
            None => {
                accs.push(Acc {
                    kind,
                    count: 0,
                    superseded: 0,
                    min_step: i64::MAX,
                    max_step: i64::MIN,
                    first_wall_time: f64::INFINITY,
                    last_wall_time: f64::NEG_INFINITY,
                });
                accs.last_mut().expect("just pushed")
            }
        };
        acc.count += 1;
        acc.superseded += u64::from(p.superseded);
        acc.min_step = acc.min_step.min(p.step.0);
        acc.max_step = acc.max_step.max(p.step.0);
        acc.first_wall_time = acc.first_wall_time.min(p.wall_time.0);
        acc.last_wall_time = acc.last_wall_time.max(p.wall_time.0);
    });
    let mut tags: Vec<TagStats> = Vec::new();
    for (tag, accs) in map {
        for a in accs {
            let plugin = report
                .metadata
                .binary_search_by(|(t, _)| t.as_str().cmp(&tag))
                .map(|i| report.metadata[i].1.plugin.clone())
                .unwrap_or_default();
            tags.push(TagStats {
                tag: tag.to_string(),
                kind: a.kind.as_str(),
                plugin,
                count: a.count,
                superseded: a.superseded,
                min_step: a.min_step,
                max_step: a.max_step,
                first_wall_time: a.first_wall_time,
                last_wall_time: a.last_wall_time,
            });
        }
    }
    let order = |k: &str| {
        Kind::ALL
            .iter()
            .position(|x| x.as_str() == k)
            .unwrap_or(usize::MAX)
    };
    tags.sort_by(|a, b| {
        order(a.kind)
            .cmp(&order(b.kind))
            .then_with(|| a.tag.cmp(&b.tag))
    });
    RunStats { report, tags }
}
