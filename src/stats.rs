//! Per-run summaries: tags grouped by kind with counts, step ranges and time spans.

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::bytes_eq::same;
use crate::logdir::RunFiles;
use crate::run::{read_run, read_run_once, Point, RunReport};
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
    tag: Box<str>,
    kind: Kind,
    count: u64,
    superseded: u64,
    min_step: i64,
    max_step: i64,
    first_wall_time: f64,
    last_wall_time: f64,
    /// The accumulator used after this one the last time (a guess for the next time).
    next: usize,
}

/// Per (tag, kind) accumulators of a run.
///
/// Writers usually log the same tags in the same order step after step, so the accumulator
/// that followed this one last time is checked first, and the hash map is only asked when that
/// guess is wrong.
#[derive(Default)]
struct Accs {
    accs: Vec<Acc>,
    /// Indices into `accs` by tag, one per kind.
    by_tag: FxHashMap<Box<str>, Vec<usize>>,
    /// The accumulator of the last value.
    last: usize,
}

impl Accs {
    #[inline(always)]
    fn add(&mut self, p: &Point<'_>) {
        let kind = p.value.kind();
        let guess = match self.accs.get(self.last) {
            Some(a) => a.next,
            None => usize::MAX,
        };
        let i = match self.accs.get(guess) {
            Some(a) if a.kind == kind && same(a.tag.as_bytes(), p.tag.as_bytes()) => guess,
            _ => self.find(p.tag, kind),
        };
        self.last = i;
        let a = &mut self.accs[i];
        a.count += 1;
        a.superseded += u64::from(p.superseded);
        a.min_step = a.min_step.min(p.step.0);
        a.max_step = a.max_step.max(p.step.0);
        a.first_wall_time = a.first_wall_time.min(p.wall_time.0);
        a.last_wall_time = a.last_wall_time.max(p.wall_time.0);
    }

    /// The accumulator of (`tag`, `kind`), made if new; noted as the one after the last.
    #[inline(never)]
    fn find(&mut self, tag: &str, kind: Kind) -> usize {
        let accs = &mut self.accs;
        let indices = match self.by_tag.get_mut(tag) {
            Some(v) => v,
            None => self.by_tag.entry(tag.into()).or_default(),
        };
        let i = match indices.iter().find(|&&i| accs[i].kind == kind) {
            Some(&i) => i,
            None => {
                indices.push(accs.len());
                accs.push(Acc {
                    tag: tag.into(),
                    kind,
                    count: 0,
                    superseded: 0,
                    min_step: i64::MAX,
                    max_step: i64::MIN,
                    first_wall_time: f64::INFINITY,
                    last_wall_time: f64::NEG_INFINITY,
                    next: usize::MAX,
                });
                accs.len() - 1
            }
        };
        if let Some(a) = accs.get_mut(self.last) {
            a.next = i;
        }
        i
    }
}

/// Reads a run and summarises it. See [`read_run`] for how damage is handled.
pub fn run_stats(run: &RunFiles) -> RunStats {
    // One pass over the files when the run has no restart, else two.
    let mut accs = Accs::default();
    let report = match read_run_once(run, |p| accs.add(p)) {
        Some(report) => report,
        None => {
            accs = Accs::default();
            read_run(run, |p| accs.add(p))
        }
    };
    let mut tags: Vec<TagStats> = Vec::with_capacity(accs.accs.len());
    for a in accs.accs {
        let plugin = report
            .metadata
            .binary_search_by(|(t, _)| t.as_str().cmp(&a.tag))
            .map(|i| report.metadata[i].1.plugin.clone())
            .unwrap_or_default();
        tags.push(TagStats {
            tag: a.tag.into_string(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Step, WallTime};
    use crate::value::{Scalar, Text, Value};

    /// Points whose tag order changes, with one tag holding two kinds: the guessed accumulator
    /// is often wrong and must never take a value that is not its own.
    #[test]
    fn accumulators_count_each_tag_and_kind_whatever_the_order() {
        let tags = [
            "loss",
            "accuracy/train",
            "accuracy/valid",
            "a_rather_long_tag/name",
        ];
        let mut accs = Accs::default();
        let mut expect: std::collections::BTreeMap<(String, Kind), (u64, i64, i64)> =
            Default::default();
        for step in 0..50i64 {
            // Rotate the order every 7 steps and skip one tag every 3 steps.
            for k in 0..tags.len() {
                let tag = tags[(k + (step / 7) as usize) % tags.len()];
                if step % 3 == 0 && k == 1 {
                    continue;
                }
                let value = if tag == "loss" && step % 5 == 0 {
                    Value::from(Text {
                        shape: vec![],
                        strings: vec!["note".into()],
                    })
                } else {
                    Value::Scalar(Scalar {
                        value: step as f64,
                        dtype: 1,
                    })
                };
                let kind = value.kind();
                let p = Point {
                    tag,
                    step: Step(step),
                    wall_time: WallTime(1000.0 + step as f64),
                    value,
                    superseded: step < 10,
                    file: 0,
                };
                accs.add(&p);
                let e = expect
                    .entry((tag.to_string(), kind))
                    .or_insert((0, i64::MAX, i64::MIN));
                e.0 += 1;
                e.1 = e.1.min(step);
                e.2 = e.2.max(step);
            }
        }
        let got: std::collections::BTreeMap<(String, Kind), (u64, i64, i64)> = accs
            .accs
            .iter()
            .map(|a| {
                (
                    (a.tag.to_string(), a.kind),
                    (a.count, a.min_step, a.max_step),
                )
            })
            .collect();
        assert_eq!(got, expect);
        assert_eq!(accs.accs.len(), 5);
        let loss_text = accs
            .accs
            .iter()
            .find(|a| &*a.tag == "loss" && a.kind == Kind::Text)
            .expect("loss as text");
        assert_eq!(
            (loss_text.count, loss_text.min_step, loss_text.max_step),
            (10, 0, 45)
        );
        assert_eq!(loss_text.superseded, 2);
        assert_eq!(loss_text.first_wall_time, 1000.0);
        assert_eq!(loss_text.last_wall_time, 1045.0);
    }
}
