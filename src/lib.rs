//! TensorBoard event files (`events.out.tfevents.*`): read from every writer, losslessly, fast
//! and through damage; convert to Parquet and back; compare runs; write them from Rust.
//!
//! The layers, bottom to top, each using only the ones below it:
//!
//! | module | job |
//! |---|---|
//! | [`masked_crc`] | TFRecord's masked CRC-32C |
//! | [`record`] | record framing: resumable reading, resync after damage, damage counts |
//! | [`wire`], [`event`] | zero-copy decoding of `Event`, `Summary` and `Summary.Value` |
//! | [`value`] | one value model for TF1 protos and TF2 plugin tensors |
//! | [`logdir`] | finding runs and their event files |
//! | [`run`] | reading a run: file order, restarts, superseded values, file reports |
//! | [`stats`], [`json`] | sinks: per-tag summaries, JSON lines |
//! | [`table`], [`convert`], [`glob`] | Arrow tables of a run, Parquet tables of a logdir |
//! | [`tables`] | reading the Parquet tables back (single files or Hive partitions) |
//! | [`series`], [`overview`], [`query`] | scalar series and per-run summaries of a logdir or of tables; MLflow-style filters and orderings |
//! | [`reduce`], [`plot`] | aggregates across runs (seeds); line charts (PNG, SVG) with TensorBoard's smoothing |
//! | [`export`] | tables back to event files |
//!
//! The writer mirrors them downward: [`summary`] builds summary values, [`writer`] frames
//! events into files with a flush policy, and [`tracker`] is the run handle for trainers
//! (re-exported as [`Run`]), with [`environment`] and [`artifact`] beside it.
//!
//! ```
//! use tfevents::logdir::discover;
//! use tfevents::run::read_run;
//! use tfevents::value::Value;
//!
//! let found = discover(&["fixtures/logdir"])?;
//! for run in &found.runs {
//!     let report = read_run(run, |point| {
//!         if let Value::Scalar(s) = &point.value {
//!             println!("{} {} {} {}", run.run, point.tag, point.step.0, s.value);
//!         }
//!     });
//!     for file in report.files.iter().filter(|f| !f.is_clean()) {
//!         eprintln!("{}: {:?}", file.path.display(), file.damage);
//!     }
//! }
//! # Ok::<(), tfevents::logdir::DiscoverError>(())
//! ```
#![warn(missing_docs)]

pub mod artifact;
mod bytes_eq;
pub mod convert;
pub mod environment;
pub mod event;
pub mod export;
pub mod glob;
pub mod json;
pub mod logdir;
pub mod masked_crc;
pub mod overview;
pub mod plot;
pub mod proto;
pub mod query;
pub mod record;
pub mod reduce;
pub mod run;
pub mod series;
pub mod stats;
pub mod summary;
pub mod table;
pub mod tables;
pub mod tracker;
pub mod types;
pub mod value;
pub mod wire;
pub mod writer;

pub use tracker::Run;
