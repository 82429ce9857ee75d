//! Reading one run: its files in order, restarts and superseded values, and a report per file.
//!
//! Restart rule (TensorBoard's, for `brain.Event:2` files): a `SessionLog` START at step `s`
//! marks every earlier summary value of the run with step `>= s` as superseded. TensorBoard hides
//! such values; here they are kept and flagged. Graphs, run metadata and session logs are never
//! superseded.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use serde::Serialize;

use crate::event::{decode_event, decode_session_log, simple_scalar_event, What, SESSION_START};
use crate::logdir::RunFiles;
use crate::record::{Damage, RecordReader, Records, SliceRecords};
use crate::types::{Run, Step, WallTime};
use crate::value::{Normalizer, TagMetadata, Value, ValueIssues};

/// One value read from a run, borrowed for the duration of a callback.
#[derive(Debug, Clone, PartialEq)]
pub struct Point<'a> {
    /// The tag (lossily decoded if it was not UTF-8).
    pub tag: &'a str,
    /// The event's step.
    pub step: Step,
    /// The event's wall time.
    pub wall_time: WallTime,
    /// The value.
    pub value: Value,
    /// True when a later restart of the run at a step `<=` this one hides it.
    pub superseded: bool,
    /// Index of the file it came from in [`RunReport::files`].
    pub file: usize,
}

/// What reading one event file found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes when reading started; bytes appended later are not read.
    pub size: u64,
    /// Records that decoded as events.
    pub events: u64,
    /// The `file_version` of its first version event, e.g. `brain.Event:2`.
    pub file_version: Option<String>,
    /// Framing damage: skipped and truncated records and bytes.
    pub damage: Damage,
    /// Decoding problems: undecodable events and values, invalid UTF-8.
    pub issues: ValueIssues,
    /// An I/O error that stopped reading the file early (opening it included).
    pub error: Option<String>,
}

impl FileReport {
    /// True when the whole file was read without any skip or problem.
    pub fn is_clean(&self) -> bool {
        self.damage.is_clean() && self.issues.is_clean() && self.error.is_none()
    }
}

/// A restart of a run that supersedes earlier values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Restart {
    /// Index of the file holding the SessionLog START.
    pub file: usize,
    /// Values written before it with a step at least this are superseded.
    pub step: Step,
    /// Wall time of the START event.
    pub wall_time: f64,
}

/// What reading a run found.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The run.
    pub run: Run,
    /// One report per event file, in reading order.
    pub files: Vec<FileReport>,
    /// Restarts that supersede earlier values (a START before any value is not listed).
    pub restarts: Vec<Restart>,
    /// The first metadata of each tag that carried one, sorted by tag.
    pub metadata: Vec<(String, TagMetadata)>,
}

impl RunReport {
    /// Framing damage of all files added up.
    pub fn damage(&self) -> Damage {
        let mut d = Damage::default();
        for f in &self.files {
            d.add(&f.damage);
        }
        d
    }

    /// Decoding problems of all files added up.
    pub fn issues(&self) -> ValueIssues {
        let mut v = ValueIssues::default();
        for f in &self.files {
            v.add(&f.issues);
        }
        v
    }
}

/// Position of a record in a run: (file index, record index).
type Position = (usize, u64);

/// A restart found by the first pass.
struct Mark {
    position: Position,
    restart: Restart,
}

/// True for values that a restart can supersede (summary data, not run-level blobs or logs).
fn supersedable(value: &Value) -> bool {
    !matches!(
        value,
        Value::Blob(_) | Value::SessionLog(_) | Value::LogMessage(_)
    )
}

fn open(path: &PathBuf) -> io::Result<(File, u64)> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    Ok((file, size))
}

/// Pass 1: finds restarts that supersede something.
#[derive(Default)]
struct RestartScan {
    /// Restarts found, in reading order.
    marks: Vec<Mark>,
    /// Largest step of any summary event so far.
    max_step: Option<i64>,
}

impl RestartScan {
    fn file(&mut self, i: usize, reader: &mut impl Records) -> io::Result<()> {
        let mut index = 0u64;
        while let Some(record) = reader.next()? {
            index += 1;
            if let Some((_, step, _, _)) = simple_scalar_event(record) {
                self.summary(step);
                continue;
            }
            let Ok(event) = decode_event(record) else {
                continue;
            };
            let (step, wall_time) = (event.step, event.wall_time);
            // Data checksums are skipped in this pass; check the few records that count.
            if self.record(&event) && reader.last_ok() {
                self.marks.push(Mark {
                    position: (i, index - 1),
                    restart: Restart {
                        file: i,
                        step: Step(step),
                        wall_time,
                    },
                });
            }
        }
        Ok(())
    }

    /// Notes a summary event at `step`.
    #[inline(always)]
    fn summary(&mut self, step: i64) {
        self.max_step = Some(self.max_step.map_or(step, |m| m.max(step)));
    }

    /// Notes one event; true when it is a restart that supersedes an earlier value, provided
    /// that its data checksum holds.
    #[inline]
    fn record(&mut self, event: &crate::event::EventRef<'_>) -> bool {
        let step = event.step;
        let is_start = match event.what {
            What::Summary(_) => {
                self.summary(step);
                false
            }
            What::SessionLog(b) => decode_session_log(b).is_ok_and(|s| s.status == SESSION_START),
            _ => false,
        };
        is_start && self.max_step.is_some_and(|m| m >= step)
    }
}

/// Pass 2: values with their superseded flag.
struct ValuePass<'m> {
    normalizer: Normalizer,
    marks: &'m [Mark],
    /// `suffix_min[k]`: smallest restart step among `marks[k..]`.
    suffix_min: &'m [i64],
    /// First mark after the current record.
    next_mark: usize,
}

/// Why a single-pass read stopped early (see [`read_run_once`]).
enum Stop {
    /// A restart supersedes an earlier value.
    Restart,
    /// Reading failed.
    Io,
}

impl ValuePass<'_> {
    /// The smallest step of the restarts after the record at `position`: values at this step
    /// or later are superseded. `i64::MAX` when there is none (a restart at step `i64::MAX`
    /// itself is taken as none).
    #[inline(always)]
    fn threshold(&mut self, position: Position) -> i64 {
        while self.next_mark < self.marks.len() && self.marks[self.next_mark].position <= position {
            self.next_mark += 1;
        }
        self.suffix_min[self.next_mark]
    }

    /// Reads one file's values. With `scan`, the file is read in one pass that also does what
    /// [`RestartScan`] does, and stops as soon as it finds a restart that supersedes something
    /// (the values given so far were all flagged as not superseded).
    fn file<F: FnMut(&Point<'_>)>(
        &mut self,
        i: usize,
        reader: &mut impl Records,
        report: &mut FileReport,
        f: &mut F,
        mut scan: Option<&mut RestartScan>,
    ) -> Result<(), Stop> {
        let mut index = 0u64;
        let mut issues = ValueIssues::default();
        let mut stop = Ok(());
        loop {
            let (record, ok) = match reader.next_or_corrupt() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    report.error = Some(e.to_string());
                    if scan.is_some() {
                        stop = Err(Stop::Io);
                    }
                    break;
                }
            };
            if let Some((wall_time, step, tag, x)) = simple_scalar_event(record) {
                // The usual scalar event, as below without building the general structures.
                if let Some(scan) = scan.as_deref_mut() {
                    scan.summary(step);
                }
                if !ok {
                    continue;
                }
                let threshold = self.threshold((i, index));
                index += 1;
                report.events += 1;
                let emit = |tag: &str, value: Value| {
                    let superseded =
                        step >= threshold && threshold != i64::MAX && supersedable(&value);
                    f(&Point {
                        tag,
                        step: Step(step),
                        wall_time: WallTime(wall_time),
                        value,
                        superseded,
                        file: i,
                    });
                };
                self.normalizer
                    .simple_scalar_event(tag, x, &mut issues, emit);
                continue;
            }
            let decoded = decode_event(record);
            if let Some(scan) = scan.as_deref_mut() {
                // What pass 1 does, which sees the records with a bad data checksum too.
                if let Ok(event) = &decoded {
                    if scan.record(event) && ok {
                        stop = Err(Stop::Restart);
                        break;
                    }
                }
            }
            if !ok {
                continue;
            }
            let threshold = self.threshold((i, index));
            index += 1;
            let event = match decoded {
                Ok(e) => e,
                Err(_) => {
                    issues.undecodable_events += 1;
                    continue;
                }
            };
            report.events += 1;
            if let What::FileVersion(v) = event.what {
                if report.file_version.is_none() {
                    report.file_version = Some(String::from_utf8_lossy(v).into_owned());
                }
                continue;
            }
            let step = Step(event.step);
            let wall_time = WallTime(event.wall_time);
            self.normalizer.event(&event, &mut issues, |tag, value| {
                let superseded =
                    event.step >= threshold && threshold != i64::MAX && supersedable(&value);
                f(&Point {
                    tag,
                    step,
                    wall_time,
                    value,
                    superseded,
                    file: i,
                });
            });
        }
        report.damage = reader.final_damage();
        report.issues = issues;
        stop
    }
}

/// Reads every file of `run` in order and calls `f` with each value.
///
/// Never fails: a file that cannot be opened or read is reported in its [`FileReport::error`],
/// damaged records are skipped and counted, and the rest of the run is still read. Files are read
/// twice: once to find restarts, then to give values with their `superseded` flag. Bytes appended
/// to a file after the first pass started are not read.
pub fn read_run<F: FnMut(&Point<'_>)>(run: &RunFiles, f: F) -> RunReport {
    match read(run, f, false) {
        Ok(report) => report,
        // Only single-pass reads stop early.
        Err(_) => unreachable!("a two-pass read does not stop"),
    }
}

/// Reads `run` like [`read_run`], but each file only once, for runs without restarts (the
/// usual case): values are given with `superseded` false. Returns `None`, having stopped early,
/// when the run has a restart that supersedes an earlier value, or when reading a file failed;
/// the values given so far must then be discarded and the run read with [`read_run`], which
/// gives the same values and report as this does when it returns `Some`.
pub fn read_run_once<F: FnMut(&Point<'_>)>(run: &RunFiles, f: F) -> Option<RunReport> {
    read(run, f, true).ok()
}

fn read<F: FnMut(&Point<'_>)>(run: &RunFiles, mut f: F, once: bool) -> Result<RunReport, Stop> {
    let mut reports: Vec<FileReport> = run
        .files
        .iter()
        .map(|path| FileReport {
            path: path.clone(),
            size: 0,
            events: 0,
            file_version: None,
            damage: Damage::default(),
            issues: ValueIssues::default(),
            error: None,
        })
        .collect();

    // A run of one file that is not too large is read into memory once, into a buffer this
    // thread keeps (its pages are already mapped), and both passes run on it without copying.
    // Otherwise files are streamed twice: reading again from the page cache costs less than
    // holding many files in memory.
    if reports.len() == 1 {
        let mut finished: Option<Result<(Vec<Mark>, Normalizer), Stop>> = None;
        let done = IN_MEMORY.with(|cell| {
            let Ok(mut buf) = cell.try_borrow_mut() else {
                return false; // a callback reading another run: stream that one
            };
            match read_whole(&reports[0].path, &mut buf) {
                Ok(Some(size)) => {
                    let report = &mut reports[0];
                    report.size = size;
                    let mut scan = RestartScan::default();
                    if !once {
                        let mut records = SliceRecords::new(&buf).skip_data_checks();
                        // Reading memory cannot fail.
                        let _ = scan.file(0, &mut records);
                    }
                    let marks = std::mem::take(&mut scan.marks);
                    let suffix_min = suffix_minimum(&marks);
                    let mut pass = ValuePass {
                        normalizer: Normalizer::new(),
                        marks: &marks,
                        suffix_min: &suffix_min,
                        next_mark: 0,
                    };
                    let records = &mut SliceRecords::new(&buf);
                    let result = pass.file(0, records, report, &mut f, once.then_some(&mut scan));
                    let normalizer = pass.normalizer;
                    finished = Some(result.map(|()| (marks, normalizer)));
                    true
                }
                Ok(None) => false,
                Err(e) => {
                    reports[0].error = Some(e.to_string());
                    true
                }
            }
        });
        if done {
            let (marks, normalizer) = finished.take().unwrap_or(Ok(Default::default()))?;
            return Ok(finish_report(run, reports, marks, normalizer));
        }
    }

    // Pass 1: sizes and restarts (a single-pass read finds them in pass 2).
    let mut scan = RestartScan::default();
    for (i, report) in reports.iter_mut().enumerate() {
        let (file, size) = match open(&report.path) {
            Ok(x) => x,
            Err(e) => {
                report.error = Some(e.to_string());
                continue;
            }
        };
        report.size = size;
        if once {
            continue;
        }
        let mut reader = RecordReader::new(file.take(size)).skip_data_checks();
        if let Err(e) = scan.file(i, &mut reader) {
            report.error = Some(e.to_string());
        }
    }
    let marks = std::mem::take(&mut scan.marks);
    let suffix_min = suffix_minimum(&marks);

    // Pass 2: values.
    let mut pass = ValuePass {
        normalizer: Normalizer::new(),
        marks: &marks,
        suffix_min: &suffix_min,
        next_mark: 0,
    };
    for (i, report) in reports.iter_mut().enumerate() {
        if report.error.is_some() {
            continue;
        }
        match File::open(&report.path) {
            Ok(file) => {
                let mut reader = RecordReader::new(file.take(report.size));
                pass.file(i, &mut reader, report, &mut f, once.then_some(&mut scan))?;
            }
            Err(e) => {
                if once {
                    return Err(Stop::Io);
                }
                report.error = Some(e.to_string())
            }
        }
    }
    let normalizer = pass.normalizer;
    Ok(finish_report(run, reports, marks, normalizer))
}

/// `suffix_min[k]`: the smallest restart step among `marks[k..]` (`i64::MAX` past the end).
fn suffix_minimum(marks: &[Mark]) -> Vec<i64> {
    let mut suffix_min = vec![i64::MAX; marks.len() + 1];
    for k in (0..marks.len()).rev() {
        suffix_min[k] = suffix_min[k + 1].min(marks[k].restart.step.0);
    }
    suffix_min
}

/// Files up to this size are read into memory once when they are a run's only file.
const IN_MEMORY_MAX: u64 = 32 << 20;

thread_local! {
    /// Buffer for [`IN_MEMORY_MAX`]-sized files, kept per thread so its pages stay mapped.
    static IN_MEMORY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads a whole file into `buf` if it is at most [`IN_MEMORY_MAX`] bytes; `None` if larger.
fn read_whole(path: &PathBuf, buf: &mut Vec<u8>) -> io::Result<Option<u64>> {
    let (file, size) = open(path)?;
    if size > IN_MEMORY_MAX {
        return Ok(None);
    }
    buf.clear();
    file.take(size).read_to_end(buf)?;
    Ok(Some(buf.len() as u64))
}

fn finish_report(
    run: &RunFiles,
    reports: Vec<FileReport>,
    marks: Vec<Mark>,
    normalizer: Normalizer,
) -> RunReport {
    let mut metadata: Vec<(String, TagMetadata)> = normalizer
        .all_metadata()
        .map(|(t, m)| (t.to_owned(), m.clone()))
        .collect();
    metadata.sort_by(|a, b| a.0.cmp(&b.0));
    RunReport {
        run: run.run.clone(),
        files: reports,
        restarts: marks.into_iter().map(|m| m.restart).collect(),
        metadata,
    }
}

/// Reads a run into memory: every value with its tag, step, time and flag.
///
/// Convenience over [`read_run`] for small runs and tests; see it for damage handling.
pub fn load_run(run: &RunFiles) -> (Vec<OwnedPoint>, RunReport) {
    let mut points = Vec::new();
    let report = read_run(run, |p| points.push(OwnedPoint::from(p)));
    (points, report)
}

/// A [`Point`] that owns its tag.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedPoint {
    /// The tag.
    pub tag: String,
    /// The step.
    pub step: Step,
    /// The wall time.
    pub wall_time: WallTime,
    /// The value.
    pub value: Value,
    /// See [`Point::superseded`].
    pub superseded: bool,
    /// See [`Point::file`].
    pub file: usize,
}

impl From<&Point<'_>> for OwnedPoint {
    fn from(p: &Point<'_>) -> Self {
        OwnedPoint {
            tag: p.tag.to_owned(),
            step: p.step,
            wall_time: p.wall_time,
            value: p.value.clone(),
            superseded: p.superseded,
            file: p.file,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logdir::discover;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(name)
    }

    #[test]
    fn one_pass_reads_as_two_passes_or_declines() {
        let mut runs = discover(&[fixture("logdir")]).unwrap().runs;
        runs.extend(discover(&[fixture("damaged")]).unwrap().runs);
        let mut declined = Vec::new();
        for run in &runs {
            let (two, two_report) = load_run(run);
            let mut one = Vec::new();
            match read_run_once(run, |p| one.push(OwnedPoint::from(p))) {
                Some(report) => {
                    // Equal, or with the same Debug form (NaN values).
                    let name = run.run.as_str();
                    assert_eq!(one.len(), two.len(), "{name}");
                    for (a, b) in one.iter().zip(&two) {
                        assert!(a == b || format!("{a:?}") == format!("{b:?}"), "{name}");
                    }
                    assert_eq!(report, two_report, "{name}");
                }
                None => declined.push(run.run.as_str().to_owned()),
            }
        }
        // Only the run with a restart needs the two passes.
        assert_eq!(declined, ["tbx_restart"]);
    }
}
