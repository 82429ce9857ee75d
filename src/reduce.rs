//! Aggregating runs (seeds) step by step: per tag and step, the mean, standard deviation,
//! extremes, median or count of the runs' values, with an explicit policy for runs that do
//! not log the same tags and steps.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use crate::series::Series;

/// An aggregate over runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// Arithmetic mean (NaN if any value is NaN).
    Mean,
    /// Population standard deviation (`ddof = 0`, as numpy's `std`).
    Std,
    /// Smallest value (NaN if any value is NaN).
    Min,
    /// Largest value (NaN if any value is NaN).
    Max,
    /// Median (the mean of the middle two for an even count; NaN if any value is NaN).
    Median,
    /// Number of runs with a value.
    Count,
}

impl Op {
    /// Every op.
    pub const ALL: [Op; 6] = [Op::Mean, Op::Std, Op::Min, Op::Max, Op::Median, Op::Count];

    /// The op's name: `mean`, `std`, `min`, `max`, `median`, `count`.
    pub fn name(self) -> &'static str {
        match self {
            Op::Mean => "mean",
            Op::Std => "std",
            Op::Min => "min",
            Op::Max => "max",
            Op::Median => "median",
            Op::Count => "count",
        }
    }

    /// The op named `name`.
    pub fn parse(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.name() == name)
    }

    /// Applies the op to `values` (not empty).
    pub fn apply(self, values: &[f64]) -> f64 {
        let n = values.len() as f64;
        let nan = values.iter().any(|v| v.is_nan());
        match self {
            Op::Count => n,
            _ if nan => f64::NAN,
            Op::Mean => values.iter().sum::<f64>() / n,
            Op::Std => {
                let mean = values.iter().sum::<f64>() / n;
                (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt()
            }
            Op::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            Op::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Op::Median => {
                let mut v = values.to_vec();
                v.sort_by(f64::total_cmp);
                let m = v.len() / 2;
                if v.len() % 2 == 1 {
                    v[m]
                } else {
                    (v[m - 1] + v[m]) / 2.0
                }
            }
        }
    }
}

/// What to do when runs do not all have the same tags and steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Missing {
    /// Refuse, describing the differences.
    #[default]
    Error,
    /// Keep only the tags and steps every run has.
    Intersect,
    /// Aggregate whatever runs have each point (see [`Op::Count`]).
    Tolerate,
}

/// Runs that do not line up, described for the user.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the runs do not log the same tags and steps:\n{}\nuse --missing intersect (only the tags and steps every run has) or --missing tolerate (aggregate the runs that have each point)", .details.join("\n"))]
pub struct Mismatch {
    /// One line per tag that differs.
    pub details: Vec<String>,
}

/// Aggregated values of one tag.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reduced {
    /// The tag.
    pub tag: String,
    /// Steps, ascending.
    pub steps: Vec<i64>,
    /// Mean wall time of the runs' values at each step.
    pub wall_times: Vec<f64>,
    /// Runs with a value at each step.
    pub counts: Vec<u64>,
    /// Per op (in the order asked), its value at each step.
    pub values: Vec<(Op, Vec<f64>)>,
}

/// One run's points of one tag: step -> (wall time, value).
type Points = BTreeMap<i64, (f64, f64)>;

/// Aggregates `runs` (each a run's series; a run's last value at a step counts when it logged
/// several) step by step with `ops`. Tags are those of any run (`Tolerate`), of every run
/// (`Intersect`), or must agree (`Error`).
pub fn reduce(
    runs: &[Vec<Series>],
    ops: &[Op],
    missing: Missing,
) -> Result<Vec<Reduced>, Mismatch> {
    let mut tags: BTreeMap<&str, Vec<Points>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        for s in run {
            let per_run = tags
                .entry(s.tag.as_str())
                .or_insert_with(|| vec![BTreeMap::new(); runs.len()]);
            for k in 0..s.len() {
                per_run[i].insert(s.steps[k], (s.wall_times[k], s.values[k]));
            }
        }
    }
    let mut details = Vec::new();
    let mut out = Vec::new();
    for (tag, per_run) in &tags {
        let have: Vec<usize> = (0..runs.len())
            .filter(|&i| !per_run[i].is_empty())
            .collect();
        let all_steps: BTreeSet<i64> = per_run.iter().flat_map(|m| m.keys().copied()).collect();
        let common: Vec<i64> = all_steps
            .iter()
            .copied()
            .filter(|s| per_run.iter().all(|m| m.contains_key(s)))
            .collect();
        if have.len() < runs.len() {
            let lacking: Vec<String> = (0..runs.len())
                .filter(|i| !have.contains(i))
                .map(|i| format!("#{}", i + 1))
                .collect();
            details.push(format!(
                "  tag {tag}: not logged by run {} ({} of {} runs have it)",
                lacking.join(", "),
                have.len(),
                runs.len()
            ));
        } else if common.len() < all_steps.len() {
            let example = all_steps
                .iter()
                .find(|s| !common.contains(s))
                .and_then(|s| {
                    let lacking = per_run.iter().position(|m| !m.contains_key(s))?;
                    Some(format!(
                        "e.g. step {s} is missing from run #{}",
                        lacking + 1
                    ))
                })
                .unwrap_or_default();
            details.push(format!(
                "  tag {tag}: {} of {} steps are not in every run ({example})",
                all_steps.len() - common.len(),
                all_steps.len()
            ));
        }
        let steps: Vec<i64> = match missing {
            Missing::Tolerate => all_steps.into_iter().collect(),
            Missing::Intersect | Missing::Error => common,
        };
        if steps.is_empty() {
            continue;
        }
        let mut r = Reduced {
            tag: (*tag).to_owned(),
            values: ops
                .iter()
                .map(|&o| (o, Vec::with_capacity(steps.len())))
                .collect(),
            ..Default::default()
        };
        let mut vals = Vec::with_capacity(runs.len());
        for &step in &steps {
            vals.clear();
            let mut wall = 0.0;
            for m in per_run {
                if let Some(&(w, v)) = m.get(&step) {
                    vals.push(v);
                    wall += w;
                }
            }
            r.steps.push(step);
            r.wall_times.push(wall / vals.len() as f64);
            r.counts.push(vals.len() as u64);
            for (op, column) in &mut r.values {
                column.push(op.apply(&vals));
            }
        }
        out.push(r);
    }
    if missing == Missing::Error && !details.is_empty() {
        return Err(Mismatch { details });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(tag: &str, points: &[(i64, f64)]) -> Series {
        Series {
            run: "r".into(),
            tag: tag.into(),
            steps: points.iter().map(|p| p.0).collect(),
            wall_times: points.iter().map(|p| 100.0 + p.0 as f64).collect(),
            values: points.iter().map(|p| p.1).collect(),
        }
    }

    #[test]
    fn ops_on_known_values() {
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(Op::Mean.apply(&v), 5.0);
        assert_eq!(Op::Std.apply(&v), 2.0);
        assert_eq!(Op::Min.apply(&v), 2.0);
        assert_eq!(Op::Max.apply(&v), 9.0);
        assert_eq!(Op::Median.apply(&v), 4.5);
        assert_eq!(Op::Median.apply(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(Op::Count.apply(&v), 8.0);
        assert!(Op::Mean.apply(&[1.0, f64::NAN]).is_nan());
        assert_eq!(Op::Count.apply(&[1.0, f64::NAN]), 2.0);
        assert_eq!(Op::Std.apply(&[3.0]), 0.0);
        assert_eq!(Op::parse("std"), Some(Op::Std));
        assert_eq!(Op::parse("avg"), None);
    }

    #[test]
    fn aligned_runs_reduce_step_by_step() {
        let runs = vec![
            vec![
                series("loss", &[(0, 1.0), (10, 0.5)]),
                series("acc", &[(10, 0.6)]),
            ],
            vec![
                series("loss", &[(0, 3.0), (10, 0.25), (10, 0.75)]),
                series("acc", &[(10, 0.8)]),
            ],
        ];
        let r = reduce(&runs, &[Op::Mean, Op::Std, Op::Max], Missing::Error).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].tag, "acc");
        let loss = &r[1];
        assert_eq!(loss.steps, vec![0, 10]);
        assert_eq!(loss.counts, vec![2, 2]);
        assert_eq!(loss.wall_times, vec![100.0, 110.0]);
        // The last value at a step counts: 0.75 for run 2 at step 10.
        assert_eq!(loss.values[0], (Op::Mean, vec![2.0, 0.625]));
        assert_eq!(loss.values[1], (Op::Std, vec![1.0, 0.125]));
        assert_eq!(loss.values[2], (Op::Max, vec![3.0, 0.75]));
    }

    #[test]
    fn mismatched_runs_need_a_policy() {
        let runs = vec![
            vec![
                series("loss", &[(0, 1.0), (1, 2.0), (2, 3.0)]),
                series("extra", &[(0, 9.0)]),
            ],
            vec![series("loss", &[(0, 3.0), (2, 5.0)])],
        ];
        let e = reduce(&runs, &[Op::Mean], Missing::Error).unwrap_err();
        assert_eq!(e.details.len(), 2, "{e}");
        assert!(
            e.details[0].contains("tag extra: not logged by run #2 (1 of 2 runs have it)"),
            "{e}"
        );
        assert!(
            e.details[1].contains(
                "tag loss: 1 of 3 steps are not in every run (e.g. step 1 is missing from run #2)"
            ),
            "{e}"
        );
        assert!(e.to_string().contains("--missing intersect"));

        let r = reduce(&runs, &[Op::Mean], Missing::Intersect).unwrap();
        assert_eq!(r.len(), 1, "extra is not in every run");
        assert_eq!(r[0].steps, vec![0, 2]);
        assert_eq!(r[0].values[0].1, vec![2.0, 4.0]);

        let r = reduce(&runs, &[Op::Mean, Op::Count], Missing::Tolerate).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].steps, vec![0, 1, 2]);
        assert_eq!(r[1].values[0].1, vec![2.0, 2.0, 4.0]);
        assert_eq!(r[1].values[1].1, vec![2.0, 1.0, 2.0]);
        assert_eq!(r[0].values[0].1, vec![9.0]);
    }
}
