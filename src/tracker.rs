//! A run handle for trainers: config as hparams, environment, metrics, histograms, images,
//! audio, text, PR curves, tensors and artifacts, in files TensorBoard loads.
//!
//! ```no_run
//! # fn main() -> Result<(), tfevents::tracker::WriteError> {
//! #[derive(serde::Serialize)]
//! struct Config { lr: f64, batch_size: u32 }
//! let run = tfevents::Run::create("runs/resnet50-lr1e-3")?
//!     .config(&Config { lr: 1e-3, batch_size: 64 })?;
//! for step in 0..100 {
//!     run.log(step, &[("train/loss", 1.0 / (step + 1) as f64), ("val/mAP", 0.5)])?;
//! }
//! run.close()?;
//! # Ok(()) }
//! ```
//!
//! What lands in the run directory:
//!
//! - `events.out.tfevents.<secs>.<host>.<pid>.<n>`: the values, plus the hparams plugin's
//!   session start (config fields flattened to `a.b.c`, environment as `env.*`), experiment
//!   (when metrics are declared) and session end (status), and text summaries `config` and
//!   `environment`, all written before the first value.
//! - `run.json`: environment, config, declared metrics, status and end time (rewritten
//!   whole at each change).
//! - `artifacts.json` and `artifacts/<step>/<name>`: see [`Run::log_artifact`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use thiserror::Error;

use crate::artifact::{self, Artifact, ArtifactError, ArtifactMode};
use crate::environment::Environment;
use crate::proto::tensorboard as pb;
use crate::summary::{self, SummaryError};
use crate::value::{Histogram, TensorData};
use crate::writer::{now, EventWriter, FlushPolicy};

/// Why writing failed.
#[derive(Debug, Error)]
pub enum WriteError {
    /// Creating or writing the event file or the sidecar failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A value could not be turned into a summary.
    #[error(transparent)]
    Summary(#[from] SummaryError),
    /// An artifact could not be recorded.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// `config` or `metrics` after the first value: the run's hparams are already written.
    #[error("{what} must be given before the first value is logged (the run's hparams are written then)")]
    TooLate {
        /// `config` or `metrics`.
        what: &'static str,
    },
}

/// Status of a session end, as TensorBoard's hparams plugin names it (`api.proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The run finished.
    Success,
    /// The run failed.
    Failure,
}

impl Status {
    fn code(self) -> i32 {
        match self {
            Status::Success => 1,
            Status::Failure => 2,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Status::Success => "SUCCESS",
            Status::Failure => "FAILURE",
        }
    }
}

/// The `run.json` sidecar.
#[derive(Debug, Clone, Serialize)]
struct Sidecar<'a> {
    run: String,
    event_file: String,
    status: &'static str,
    start_time: f64,
    end_time: Option<f64>,
    resumed_at_step: Option<i64>,
    metrics: &'a [String],
    config: Option<&'a serde_json::Value>,
    environment: &'a Environment,
}

/// Name of the sidecar file in the run directory.
pub const SIDECAR: &str = "run.json";

#[derive(Debug, Default)]
struct State {
    /// Metric tags declared for the HParams tab.
    metrics: Vec<String>,
    /// The config, flattened, and as given (for the sidecar and the `config` text).
    config: Option<(BTreeMap<String, prost_types::Value>, serde_json::Value)>,
    /// True once the hparams and texts that open the run are written.
    header_written: bool,
    /// Artifacts logged so far (the manifest's contents).
    artifacts: Vec<Artifact>,
    /// Set by the session end.
    end: Option<(Status, f64)>,
}

struct Inner {
    dir: PathBuf,
    writer: EventWriter,
    env: Environment,
    resumed_at: Option<i64>,
    /// True when the run's earlier files already hold an hparams session start. TensorBoard
    /// reads only the first session start of a run, so a resumed run does not write another.
    earlier_session: bool,
    /// Mirrors `State::header_written`, so logging checks it without a lock.
    header_written: AtomicBool,
    state: Mutex<State>,
}

impl Inner {
    fn io(&self, path: &Path, source: std::io::Error) -> WriteError {
        WriteError::Io {
            path: path.to_owned(),
            source,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write_event(&self, event: &pb::Event) -> Result<(), WriteError> {
        self.writer
            .write(event)
            .map_err(|e| self.io(self.writer.path(), e))
    }

    fn write_values(
        &self,
        step: i64,
        wall_time: f64,
        values: Vec<pb::summary::Value>,
    ) -> Result<(), WriteError> {
        for v in values {
            self.write_event(&pb::Event {
                wall_time,
                step,
                what: Some(pb::event::What::Summary(pb::Summary { value: vec![v] })),
                ..Default::default()
            })?;
        }
        Ok(())
    }

    fn write_sidecar(&self, state: &State) -> Result<(), WriteError> {
        let sidecar = Sidecar {
            run: self
                .dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            event_file: self
                .writer
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            status: state.end.map_or("RUNNING", |(s, _)| s.name()),
            start_time: self.env.start_time,
            end_time: state.end.map(|(_, t)| t),
            resumed_at_step: self.resumed_at,
            metrics: &state.metrics,
            config: state.config.as_ref().map(|(_, json)| json),
            environment: &self.env,
        };
        let path = self.dir.join(SIDECAR);
        let mut json = serde_json::to_vec_pretty(&sidecar).unwrap_or_default();
        json.push(b'\n');
        artifact::write_atomically(&path, &json).map_err(|e| self.io(&path, e))
    }

    /// Writes the hparams and texts that open the run, once, before any other value.
    fn ensure_header(&self) -> Result<(), WriteError> {
        if self.header_written.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut state = self.state();
        if state.header_written {
            return Ok(());
        }
        let mut hparams = self.env.hparams();
        if let Some((config, _)) = &state.config {
            hparams.extend(config.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let t = self.env.start_time;
        // A resumed run's texts are at the resume step, beside the values they explain.
        let step = self.resumed_at.unwrap_or(0);
        let mut values = Vec::new();
        if !self.earlier_session {
            if !state.metrics.is_empty() {
                // Config fields are what a sweep varies; the environment rarely is.
                let differs = |name: &str| !name.starts_with("env.");
                values.push(summary::hparams_experiment(
                    &hparams,
                    differs,
                    &state.metrics,
                    t,
                ));
            }
            values.push(summary::hparams_session_start(&hparams, t));
        }
        if let Some((_, json)) = &state.config {
            let pretty = serde_json::to_string_pretty(json).unwrap_or_default();
            values.push(summary::text("config", &format!("```json\n{pretty}\n```")));
        }
        values.push(summary::text("environment", &self.env.markdown()));
        // Every value is buffered even when writing to the file fails (the next flush that
        // succeeds writes it), so the header counts as written and is never queued twice.
        state.header_written = true;
        self.header_written.store(true, Ordering::Release);
        let mut first_error = None;
        for v in values {
            if let Err(e) = self.write_values(step, t, vec![v]) {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        self.writer
            .flush()
            .map_err(|e| self.io(self.writer.path(), e))?;
        self.write_sidecar(&state)
    }

    fn end(&self, status: Status) -> Result<(), WriteError> {
        self.ensure_header()?;
        let mut state = self.state();
        if state.end.is_some() {
            return Ok(());
        }
        let t = now();
        state.end = Some((status, t));
        self.write_values(0, t, vec![summary::hparams_session_end(status.code(), t)])?;
        self.writer
            .sync()
            .map_err(|e| self.io(self.writer.path(), e))?;
        self.write_sidecar(&state)
    }
}

/// Merges `new` into `old` field by field, nested objects included, as the flattened config
/// merges: a later `config()` adds fields and replaces values, and keeps the rest.
fn merge_json(old: &mut serde_json::Value, new: serde_json::Value) {
    match (old, new) {
        (serde_json::Value::Object(old), serde_json::Value::Object(new)) => {
            for (k, v) in new {
                match old.get_mut(&k) {
                    Some(slot) => merge_json(slot, v),
                    None => {
                        old.insert(k, v);
                    }
                }
            }
        }
        (old, new) => *old = new,
    }
}

/// True when an event file in `dir` holds an hparams session start.
fn has_session_start(dir: &Path) -> bool {
    let Ok(found) = crate::logdir::discover(&[dir]) else {
        return false;
    };
    let mut seen = false;
    for run in found.runs.iter().filter(|r| r.run.as_str() == ".") {
        crate::run::read_run(run, |p| {
            seen |= matches!(&p.value, crate::value::Value::Hparams(h)
                if matches!(**h, crate::value::Hparams::SessionStart(_)));
        });
    }
    seen
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A run dropped while unwinding from a panic failed; otherwise it ended normally.
        let status = if std::thread::panicking() {
            Status::Failure
        } else {
            Status::Success
        };
        let _ = self.end(status);
    }
}

/// A training run being recorded: one event file in the run's directory, plus the sidecar
/// and artifact manifest (see the [module docs](self)).
///
/// Cheap to clone and safe to share: clones write to the same file, from any thread. Values
/// are buffered and flushed every 2 seconds by a background thread (see [`FlushPolicy`]), on
/// [`Run::flush`], and when the last clone is dropped, which also records the end of the
/// session (a failure if the thread is panicking). [`Run::close`] does the same and returns
/// any error. Nothing here panics: every failure is a [`WriteError`].
#[derive(Clone)]
pub struct Run {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run").field("dir", &self.inner.dir).finish()
    }
}

impl Run {
    /// Starts recording into `dir` (created if needed) with the default flush policy, and
    /// captures the environment.
    pub fn create(dir: impl AsRef<Path>) -> Result<Run, WriteError> {
        Run::open(dir.as_ref(), FlushPolicy::default(), None)
    }

    /// Starts recording into `dir` with the given flush policy.
    pub fn create_with(dir: impl AsRef<Path>, policy: FlushPolicy) -> Result<Run, WriteError> {
        Run::open(dir.as_ref(), policy, None)
    }

    /// Resumes a run after a crash or a restart from a checkpoint at `step`: a new file in
    /// the same directory that begins with a SessionLog START at `step`, so readers mark the
    /// earlier values with step >= `step` as superseded (what PyTorch's `purge_step` does).
    ///
    /// TensorBoard reads only the first hparams session start and end of a run, so when the
    /// earlier files hold a session start, no second one is written (the `config` and
    /// `environment` texts of the new session are, at `step`); the session end is written
    /// as usual, and is the one TensorBoard shows when the earlier session crashed before
    /// writing its own. When the earlier session did end with a status (a panic writes
    /// `FAILURE`), TensorBoard's HParams tab keeps showing that first one; `tfevents runs` and
    /// `run.json` show the last. Artifacts the earlier session logged stay in the manifest.
    pub fn resume(dir: impl AsRef<Path>, step: i64) -> Result<Run, WriteError> {
        Run::open(dir.as_ref(), FlushPolicy::default(), Some(step))
    }

    /// [`Run::resume`] with the given flush policy.
    pub fn resume_with(
        dir: impl AsRef<Path>,
        step: i64,
        policy: FlushPolicy,
    ) -> Result<Run, WriteError> {
        Run::open(dir.as_ref(), policy, Some(step))
    }

    fn open(dir: &Path, policy: FlushPolicy, resume: Option<i64>) -> Result<Run, WriteError> {
        if dir.as_os_str().is_empty() {
            return Err(WriteError::Io {
                path: dir.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "a run needs a directory (an empty path was given)",
                ),
            });
        }
        let writer = EventWriter::create(dir, policy).map_err(|source| WriteError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let inner = Inner {
            dir: dir.to_owned(),
            writer,
            env: Environment::capture(),
            resumed_at: resume,
            earlier_session: resume.is_some() && has_session_start(dir),
            header_written: AtomicBool::new(false),
            // Artifacts an earlier session of the run logged stay in its manifest.
            state: Mutex::new(State {
                artifacts: artifact::read_manifest(dir)?,
                ..State::default()
            }),
        };
        if let Some(step) = resume {
            inner.write_event(&pb::Event {
                wall_time: inner.env.start_time,
                step,
                what: Some(pb::event::What::SessionLog(pb::SessionLog {
                    status: pb::session_log::SessionStatus::Start as i32,
                    ..Default::default()
                })),
                ..Default::default()
            })?;
            inner
                .writer
                .flush()
                .map_err(|e| inner.io(inner.writer.path(), e))?;
        }
        inner.write_sidecar(&inner.state())?;
        Ok(Run {
            inner: Arc::new(inner),
        })
    }

    /// Declares the metric tags TensorBoard's HParams tab shows next to the config, written
    /// as the hparams experiment. Must come before the first value.
    ///
    /// Without it, TensorBoard offers every scalar tag as a metric and finds the
    /// hyperparameter columns in all runs' session starts. With it, TensorBoard takes one
    /// run's experiment for the whole logdir, so the runs of one logdir should declare the same
    /// metrics and config fields (as the runs of a sweep do).
    pub fn metrics(self, tags: &[&str]) -> Result<Run, WriteError> {
        {
            let mut state = self.inner.state();
            if state.header_written {
                return Err(WriteError::TooLate { what: "metrics" });
            }
            state.metrics.extend(tags.iter().map(|t| (*t).to_owned()));
        }
        Ok(self)
    }

    /// Records a configuration (any `serde::Serialize` struct or map; nested fields become
    /// `a.b.c`, lists their JSON text) as the run's hyperparameters, through TensorBoard's
    /// hparams plugin, and as a `config` text. Must come before the first value; calling it
    /// again merges the fields.
    pub fn config<C: Serialize>(self, config: &C) -> Result<Run, WriteError> {
        let flat = summary::flatten_config(config)?;
        let json = serde_json::to_value(config)
            .map_err(|e| WriteError::Summary(SummaryError::Config(e.to_string())))?;
        {
            let mut state = self.inner.state();
            if state.header_written {
                return Err(WriteError::TooLate { what: "config" });
            }
            match &mut state.config {
                Some((f, j)) => {
                    f.extend(flat);
                    merge_json(j, json);
                }
                None => state.config = Some((flat, json)),
            }
        }
        Ok(self)
    }

    /// The run's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The event file being written.
    pub fn path(&self) -> &Path {
        self.inner.writer.path()
    }

    /// The environment captured when the run was created.
    pub fn environment(&self) -> &Environment {
        &self.inner.env
    }

    /// Writes summary values at `step` and `wall_time` (seconds since the epoch), one event
    /// per value as PyTorch does. Every other method goes through here; use it with the
    /// builders in [`crate::summary`] for anything they do not cover.
    pub fn write_values(
        &self,
        step: i64,
        wall_time: f64,
        values: Vec<pb::summary::Value>,
    ) -> Result<(), WriteError> {
        self.inner.ensure_header()?;
        self.inner.write_values(step, wall_time, values)
    }

    /// Logs scalars at `step`, now, as f32 `simple_value`s (what PyTorch writes and every
    /// reader expects). Values may be `f32` or `f64`.
    pub fn log<V: Into<f64> + Copy>(
        &self,
        step: i64,
        scalars: &[(&str, V)],
    ) -> Result<(), WriteError> {
        self.log_at(step, now(), scalars)
    }

    /// Logs scalars at `step` with an explicit wall time.
    pub fn log_at<V: Into<f64> + Copy>(
        &self,
        step: i64,
        wall_time: f64,
        scalars: &[(&str, V)],
    ) -> Result<(), WriteError> {
        self.inner.ensure_header()?;
        let mut event = Vec::with_capacity(64);
        for (tag, v) in scalars {
            event.clear();
            crate::writer::encode_scalar_event(
                wall_time,
                step,
                tag,
                (*v).into() as f32,
                &mut event,
            );
            self.inner
                .writer
                .write_encoded(&event)
                .map_err(|e| self.inner.io(self.inner.writer.path(), e))?;
        }
        Ok(())
    }

    /// Logs scalars at `step` in full f64 precision (DT_DOUBLE tensors of plugin `scalars`,
    /// as PyTorch's `double_precision=True` writes them).
    pub fn log_f64(&self, step: i64, scalars: &[(&str, f64)]) -> Result<(), WriteError> {
        let values = scalars
            .iter()
            .map(|(tag, v)| summary::scalar_f64(tag, *v))
            .collect();
        self.write_values(step, now(), values)
    }

    /// Logs a histogram of `values` in TensorBoard's default buckets (NaNs skipped).
    pub fn histogram(&self, step: i64, tag: &str, values: &[f64]) -> Result<(), WriteError> {
        self.write_values(step, now(), vec![summary::histogram(tag, values)])
    }

    /// Logs a histogram of f32 values (weights, activations) in the default buckets.
    pub fn histogram_f32(&self, step: i64, tag: &str, values: &[f32]) -> Result<(), WriteError> {
        let v: Vec<f64> = values.iter().map(|&x| f64::from(x)).collect();
        self.histogram(step, tag, &v)
    }

    /// Logs a histogram of `values` in buckets with the given right edges (ascending).
    pub fn histogram_with_edges(
        &self,
        step: i64,
        tag: &str,
        values: &[f64],
        edges: &[f64],
    ) -> Result<(), WriteError> {
        let v = summary::histogram_with_limits(tag, values, edges)?;
        self.write_values(step, now(), vec![v])
    }

    /// Logs a histogram already in buckets (see [`summary::histogram_buckets`]).
    pub fn histogram_buckets(
        &self,
        step: i64,
        tag: &str,
        histogram: &Histogram,
    ) -> Result<(), WriteError> {
        let v = summary::histogram_buckets(tag, histogram)?;
        self.write_values(step, now(), vec![v])
    }

    /// Logs an image from raw 8-bit pixels (row-major, channels interleaved: 1 gray, 2 gray +
    /// alpha, 3 RGB, 4 RGBA), encoded as PNG.
    pub fn image(
        &self,
        step: i64,
        tag: &str,
        width: u32,
        height: u32,
        channels: u8,
        pixels: &[u8],
    ) -> Result<(), WriteError> {
        let v = summary::image(tag, width, height, channels, pixels)?;
        self.write_values(step, now(), vec![v])
    }

    /// Logs an already-encoded PNG, JPEG or GIF as it is (its size and colorspace are read
    /// from its header).
    pub fn image_encoded(&self, step: i64, tag: &str, encoded: Vec<u8>) -> Result<(), WriteError> {
        let v = summary::encoded_image_auto(tag, encoded)?;
        self.write_values(step, now(), vec![v])
    }

    /// Logs markdown text.
    pub fn text(&self, step: i64, tag: &str, markdown: &str) -> Result<(), WriteError> {
        self.write_values(step, now(), vec![summary::text(tag, markdown)])
    }

    /// Logs audio from samples in `[-1, 1]` (interleaved by channel) as a 16-bit WAV.
    pub fn audio(
        &self,
        step: i64,
        tag: &str,
        samples: &[f32],
        sample_rate: u32,
        channels: u16,
    ) -> Result<(), WriteError> {
        let v = summary::audio(tag, samples, sample_rate, channels)?;
        self.write_values(step, now(), vec![v])
    }

    /// Logs a PR curve of binary labels against predicted probabilities, with
    /// `num_thresholds` thresholds (TensorBoard's default is 127).
    pub fn pr_curve(
        &self,
        step: i64,
        tag: &str,
        labels: &[bool],
        predictions: &[f32],
        num_thresholds: u32,
    ) -> Result<(), WriteError> {
        let v = summary::pr_curve(tag, labels, predictions, num_thresholds)?;
        self.write_values(step, now(), vec![v])
    }

    /// Logs a generic tensor under a plugin name (see [`summary::tensor`]).
    pub fn tensor(
        &self,
        step: i64,
        tag: &str,
        plugin: &str,
        dtype: i32,
        shape: &[i64],
        data: TensorData,
    ) -> Result<(), WriteError> {
        let v = summary::tensor(tag, plugin, Vec::new(), dtype, shape, data)?;
        self.write_values(step, now(), vec![v])
    }

    /// Records an artifact (a checkpoint, an exported model) made at `step`: its name,
    /// `kind`, size and SHA-256 go into `artifacts.json` in the run directory and into a text
    /// summary `artifacts/<name>`. With [`ArtifactMode::Copy`] the file is copied to
    /// `artifacts/<step>/<name>` in the run directory; with [`ArtifactMode::Reference`] it
    /// stays where it is. Returns the manifest entry.
    pub fn log_artifact(
        &self,
        step: i64,
        path: impl AsRef<Path>,
        kind: &str,
        mode: ArtifactMode,
    ) -> Result<Artifact, WriteError> {
        let t = now();
        let a = artifact::record(&self.inner.dir, path.as_ref(), kind, step, t, mode)?;
        {
            let mut state = self.inner.state();
            state.artifacts.push(a.clone());
            artifact::write_manifest(&self.inner.dir, &state.artifacts)?;
        }
        let tag = format!("artifacts/{}", a.name);
        self.write_values(step, t, vec![summary::text(&tag, &a.markdown())])?;
        Ok(a)
    }

    /// Writes buffered values to the file.
    pub fn flush(&self) -> Result<(), WriteError> {
        self.inner.ensure_header()?;
        self.inner
            .writer
            .flush()
            .map_err(|e| self.inner.io(self.inner.writer.path(), e))
    }

    /// Records a successful end of the session and puts the file on disk. Other clones may
    /// still write; the end is recorded once.
    pub fn close(self) -> Result<(), WriteError> {
        self.inner.end(Status::Success)
    }

    /// Records a failed end of the session (the HParams tab shows the status).
    pub fn fail(self) -> Result<(), WriteError> {
        self.inner.end(Status::Failure)
    }
}
