//! `tfevents log`: scalars from the command line or stdin into a run directory, for shell
//! loops and programs in other languages.

use std::fs;
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

use tfevents::logdir::is_event_file_name;
use tfevents::record::SliceRecords;
use tfevents::summary;
use tfevents::writer::{encode_scalar_event, now, EventWriter, FlushPolicy};

use super::CliError;

/// Suffix of the event files this command writes, so that later calls find and extend them.
const SUFFIX: &str = ".cli";

/// A file written by this command is extended only while it is smaller than this; then a
/// new one is started (checking that a file ends on a record boundary means reading it).
const MAX_APPEND_SIZE: u64 = 64 << 20;

/// What to log.
pub struct LogRequest<'a> {
    /// The run directory.
    pub dir: &'a Path,
    /// Step of the command-line values.
    pub step: Option<i64>,
    /// Wall time of the values (default now).
    pub wall_time: Option<f64>,
    /// Write DT_DOUBLE tensors instead of f32 simple values.
    pub double: bool,
    /// `TAG=VALUE` pairs.
    pub pairs: &'a [String],
    /// Also read `STEP TAG=VALUE...` lines from stdin.
    pub stdin: bool,
}

/// Parses `TAG=VALUE` (split at the last `=`; the value may be `nan`, `inf`, `-inf`).
fn parse_pair(pair: &str) -> Result<(&str, f64), String> {
    let (tag, value) = pair
        .rsplit_once('=')
        .ok_or_else(|| format!("{pair:?}: expected TAG=VALUE"))?;
    if tag.is_empty() {
        return Err(format!("{pair:?}: empty tag"));
    }
    let value = value
        .trim()
        .parse::<f64>()
        .map_err(|_| format!("{pair:?}: {value:?} is not a number"))?;
    Ok((tag, value))
}

/// The newest event file of `dir` if this command wrote it and it ends with a complete
/// record, so that appending to it keeps it valid and in order.
fn appendable(dir: &Path) -> Option<PathBuf> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| is_event_file_name(&e.file_name()))
        .map(|e| e.path())
        .collect();
    names.sort();
    let last = names.pop()?;
    if !last.to_string_lossy().ends_with(SUFFIX) {
        return None;
    }
    if fs::metadata(&last).ok()?.len() >= MAX_APPEND_SIZE {
        return None;
    }
    let bytes = fs::read(&last).ok()?;
    let mut records = SliceRecords::new(&bytes);
    while records.next_record().is_some() {}
    records.finish().is_clean().then_some(last)
}

fn scalar_value(tag: &str, value: f64, double: bool, wall_time: f64, step: i64) -> Vec<u8> {
    let mut bytes = Vec::new();
    if double {
        use prost::Message;
        let event = tfevents::proto::tensorboard::Event {
            wall_time,
            step,
            what: Some(tfevents::proto::tensorboard::event::What::Summary(
                tfevents::proto::tensorboard::Summary {
                    value: vec![summary::scalar_f64(tag, value)],
                },
            )),
            ..Default::default()
        };
        event.encode(&mut bytes).unwrap_or_default();
    } else {
        encode_scalar_event(wall_time, step, tag, value as f32, &mut bytes);
    }
    bytes
}

/// Appends the values to the run's newest `tfevents log` file, or to a new one.
pub fn log(req: &LogRequest<'_>) -> Result<(), CliError> {
    let mut lines: Vec<(i64, Vec<(String, f64)>)> = Vec::new();
    if !req.pairs.is_empty() {
        let step = req
            .step
            .ok_or_else(|| CliError::Usage("log needs --step N for TAG=VALUE arguments".into()))?;
        let values = req
            .pairs
            .iter()
            .map(|p| parse_pair(p).map(|(t, v)| (t.to_owned(), v)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(CliError::Usage)?;
        lines.push((step, values));
    } else if !req.stdin {
        return Err(CliError::Usage(
            "log needs TAG=VALUE arguments (with --step N), or --stdin".into(),
        ));
    }
    if req.dir.exists() && !req.dir.is_dir() {
        return Err(CliError::Usage(format!(
            "--logdir {} is a file, not a run directory",
            req.dir.display()
        )));
    }
    let path_err = |path: &Path| {
        let path = path.to_owned();
        move |source| CliError::Path { path, source }
    };
    let writer = match appendable(req.dir) {
        Some(path) => {
            EventWriter::append(&path, FlushPolicy::default()).map_err(path_err(&path))?
        }
        None => EventWriter::create_with_suffix(req.dir, FlushPolicy::default(), SUFFIX)
            .map_err(path_err(req.dir))?,
    };
    let write = |step: i64, values: &[(String, f64)]| -> Result<(), CliError> {
        let t = req.wall_time.unwrap_or_else(now);
        for (tag, v) in values {
            writer
                .write_encoded(&scalar_value(tag, *v, req.double, t, step))
                .map_err(path_err(writer.path()))?;
        }
        Ok(())
    };
    for (step, values) in &lines {
        write(*step, values)?;
    }
    if req.stdin {
        for (n, line) in io::stdin().lock().lines().enumerate() {
            let line = line.map_err(|e| CliError::Usage(format!("stdin line {}: {e}", n + 1)))?;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: String| CliError::Usage(format!("stdin line {}: {why}", n + 1));
            let mut words = line.split_whitespace();
            let step = words
                .next()
                .and_then(|w| w.parse::<i64>().ok())
                .ok_or_else(|| bad(format!("{line:?}: expected STEP TAG=VALUE...")))?;
            let values = words
                .map(|w| parse_pair(w).map(|(t, v)| (t.to_owned(), v)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad)?;
            write(step, &values)?;
        }
    }
    writer.sync().map_err(path_err(writer.path()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_split_at_the_last_equals_sign() {
        assert_eq!(parse_pair("loss=0.5"), Ok(("loss", 0.5)));
        assert_eq!(parse_pair("lr=1e-3/loss=2"), Ok(("lr=1e-3/loss", 2.0)));
        assert!(parse_pair("x=nan").unwrap().1.is_nan());
        assert_eq!(parse_pair("x=-inf"), Ok(("x", f64::NEG_INFINITY)));
        assert!(parse_pair("loss").is_err());
        assert!(parse_pair("=1").is_err());
        assert!(parse_pair("loss=abc").is_err());
    }
}
