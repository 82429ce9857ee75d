//! Finding runs and their event files under a logdir.
//!
//! A run is a directory holding at least one file whose basename contains `tfevents`, named by
//! its path relative to the logdir (`.` for the logdir itself). Symbolic links to directories are
//! followed once; loops and unreadable entries are reported, never fatal.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

use crate::types::Run;

/// The files of one run, in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFiles {
    /// The run's name.
    pub run: Run,
    /// The run's directory.
    pub dir: PathBuf,
    /// Event files, sorted by file name (the zero-padded timestamp in the name makes this
    /// creation order).
    pub files: Vec<PathBuf>,
}

/// Something discovery could not look at; the rest of the logdir is still read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscoveryWarning {
    /// The path concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub problem: String,
}

impl std::fmt::Display for DiscoveryWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

/// A path given by the user that cannot be read at all.
#[derive(Debug, Error)]
pub enum DiscoverError {
    /// The path does not exist or cannot be examined.
    #[error("{}: {source}", path.display())]
    Path {
        /// The path as given.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The path is a file whose name does not contain `tfevents`.
    #[error("{}: not an event file (its name does not contain \"tfevents\")", .0.display())]
    NotEventFile(PathBuf),
}

/// Runs found under the given paths.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// Runs, sorted by name.
    pub runs: Vec<RunFiles>,
    /// Entries that could not be read, and symlink loops.
    pub warnings: Vec<DiscoveryWarning>,
}

/// True if a file name marks an event file.
pub fn is_event_file_name(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().windows(8).any(|w| w == b"tfevents")
}

/// Finds runs under `paths`: logdirs, or event files.
///
/// With a single logdir, runs are named relative to it (`.` for the logdir itself). Otherwise
/// (several paths, or files) a run is named by its directory as given on the command line, so
/// names from different logdirs cannot collide. Errors only for a path that does not exist or a
/// file that is not an event file; problems below a logdir become warnings.
pub fn discover<P: AsRef<Path>>(paths: &[P]) -> Result<Discovery, DiscoverError> {
    let mut runs: BTreeMap<String, RunFiles> = BTreeMap::new();
    let mut warnings = Vec::new();
    let single_dir = paths.len() == 1 && paths[0].as_ref().is_dir();
    for path in paths {
        let path = path.as_ref();
        let meta = fs::metadata(path).map_err(|source| DiscoverError::Path {
            path: path.to_owned(),
            source,
        })?;
        if meta.is_file() {
            let name = path.file_name().unwrap_or_default();
            if !is_event_file_name(name) {
                return Err(DiscoverError::NotEventFile(path.to_owned()));
            }
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
                _ => PathBuf::from("."),
            };
            let name = display_path(&dir);
            let entry = runs.entry(name.clone()).or_insert_with(|| RunFiles {
                run: Run(name),
                dir,
                files: Vec::new(),
            });
            if !entry.files.iter().any(|f| f == path) {
                entry.files.push(path.to_owned());
            }
        } else {
            let mut found = Vec::new();
            let mut visited = HashSet::new();
            walk(path, Path::new(""), &mut visited, &mut found, &mut warnings);
            for (rel, dir, files) in found {
                let name = if single_dir {
                    if rel.as_os_str().is_empty() {
                        ".".to_owned()
                    } else {
                        display_path(&rel)
                    }
                } else {
                    display_path(&dir)
                };
                let entry = runs.entry(name.clone()).or_insert_with(|| RunFiles {
                    run: Run(name),
                    dir,
                    files: Vec::new(),
                });
                for f in files {
                    if !entry.files.contains(&f) {
                        entry.files.push(f);
                    }
                }
            }
        }
    }
    let mut runs: Vec<RunFiles> = runs.into_values().collect();
    for r in &mut runs {
        r.files
            .sort_by(|a, b| a.file_name().cmp(&b.file_name()).then(a.cmp(b)));
    }
    Ok(Discovery { runs, warnings })
}

/// `/`-separated text of a path; bytes that are not UTF-8 are written as `\xNN`, so that
/// directories whose names differ only there stay different runs.
fn display_path(p: &Path) -> String {
    let mut s = String::new();
    for chunk in p.as_os_str().as_encoded_bytes().utf8_chunks() {
        s.push_str(chunk.valid());
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    if std::path::MAIN_SEPARATOR == '/' {
        s
    } else {
        s.replace(std::path::MAIN_SEPARATOR, "/")
    }
}

type Found = (PathBuf, PathBuf, Vec<PathBuf>);

fn walk(
    dir: &Path,
    rel: &Path,
    visited: &mut HashSet<PathBuf>,
    found: &mut Vec<Found>,
    warnings: &mut Vec<DiscoveryWarning>,
) {
    match fs::canonicalize(dir) {
        Ok(canon) => {
            if !visited.insert(canon) {
                warnings.push(DiscoveryWarning {
                    path: dir.to_owned(),
                    problem: "symbolic link loop (directory already visited), not followed again"
                        .into(),
                });
                return;
            }
        }
        Err(e) => {
            warnings.push(DiscoveryWarning {
                path: dir.to_owned(),
                problem: format!("cannot resolve: {e}"),
            });
            return;
        }
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            warnings.push(DiscoveryWarning {
                path: dir.to_owned(),
                problem: format!("cannot list directory: {e}"),
            });
            return;
        }
    };
    let mut files = Vec::new();
    let mut subdirs = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                warnings.push(DiscoveryWarning {
                    path: dir.to_owned(),
                    problem: format!("cannot read directory entry: {e}"),
                });
                continue;
            }
        };
        let path = entry.path();
        // Follows symbolic links, so linked run directories and files are found.
        match fs::metadata(&path) {
            Ok(m) if m.is_dir() => subdirs.push(entry.file_name()),
            Ok(m) if m.is_file() => {
                if is_event_file_name(&entry.file_name()) {
                    files.push(path);
                }
            }
            Ok(_) => {}
            Err(e) => warnings.push(DiscoveryWarning {
                path,
                problem: format!("cannot examine: {e}"),
            }),
        }
    }
    if !files.is_empty() {
        found.push((rel.to_owned(), dir.to_owned(), files));
    }
    subdirs.sort();
    for name in subdirs {
        walk(&dir.join(&name), &rel.join(&name), visited, found, warnings);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"").unwrap();
    }

    #[test]
    fn finds_runs_sorted_with_relative_names() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        touch(&root.join("events.out.tfevents.1.host"));
        touch(&root.join("b/events.out.tfevents.2.host"));
        touch(&root.join("b/events.out.tfevents.1.host"));
        touch(&root.join("a/x/events.out.tfevents.1.host.v2"));
        touch(&root.join("a/notes.txt"));
        let d = discover(&[root]).unwrap();
        let names: Vec<_> = d.runs.iter().map(|r| r.run.0.as_str()).collect();
        assert_eq!(names, vec![".", "a/x", "b"]);
        let b: Vec<_> = d.runs[2]
            .files
            .iter()
            .map(|f| f.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            b,
            vec!["events.out.tfevents.1.host", "events.out.tfevents.2.host"]
        );
        assert!(d.warnings.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_stay_apart() {
        use std::os::unix::ffi::OsStrExt;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for name in [&b"bad\xff"[..], b"bad\xfe", "bad\u{fffd}".as_bytes()] {
            let dir = root.join(std::ffi::OsStr::from_bytes(name));
            touch(&dir.join("events.out.tfevents.1.host"));
        }
        let d = discover(&[root]).unwrap();
        let names: Vec<_> = d.runs.iter().map(|r| r.run.0.as_str()).collect();
        assert_eq!(names, vec!["bad\\xfe", "bad\\xff", "bad\u{fffd}"]);
    }

    #[test]
    fn missing_path_is_an_error() {
        let err = discover(&[Path::new("/nonexistent/logdir")]).unwrap_err();
        assert!(matches!(err, DiscoverError::Path { .. }));
    }

    #[test]
    fn non_event_file_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("notes.txt");
        touch(&p);
        assert!(matches!(
            discover(&[&p]).unwrap_err(),
            DiscoverError::NotEventFile(_)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loop_is_reported_not_fatal() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        touch(&root.join("run/events.out.tfevents.1.host"));
        std::os::unix::fs::symlink(root, root.join("run/loop")).unwrap();
        let d = discover(&[root]).unwrap();
        assert_eq!(d.runs.len(), 1);
        assert_eq!(d.warnings.len(), 1);
        assert!(d.warnings[0].problem.contains("loop"));
    }

    #[test]
    fn files_are_grouped_by_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("r/events.out.tfevents.2.h");
        let b = tmp.path().join("r/events.out.tfevents.1.h");
        touch(&a);
        touch(&b);
        let d = discover(&[&a, &b]).unwrap();
        assert_eq!(d.runs.len(), 1);
        assert_eq!(d.runs[0].files, vec![b, a]);
    }
}
