//! Small newtypes that keep steps, times, tags and run names apart.

use std::fmt;

/// A training step, as written by the writer (any `i64`, negative steps included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(transparent)]
pub struct Step(pub i64);

/// Seconds since the Unix epoch, as written by the writer.
///
/// Writers always store a finite number; a damaged or hand-made file may not, so the value is
/// kept as written and [`WallTime::is_finite`] tells which case applies.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct WallTime(pub f64);

impl WallTime {
    /// True when the stored time is a finite number.
    pub fn is_finite(self) -> bool {
        self.0.is_finite()
    }
}

/// The tag of a summary value, e.g. `train/loss`.
///
/// Always valid UTF-8: tags that are not are decoded lossily (U+FFFD) and counted by the reader.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Tag(pub String);

impl Tag {
    /// The tag as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Tag {
    fn from(s: &str) -> Self {
        Tag(s.to_owned())
    }
}

/// The name of a run: the path of its directory relative to the logdir, with `/` separators,
/// `.` for the logdir itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Run(pub String);

impl Run {
    /// The run name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
