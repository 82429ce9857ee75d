//! Artifacts of a run (checkpoints, exported models, plots): name, kind, size and SHA-256,
//! copied into the run directory or referenced where they are, listed in a manifest.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Name of the manifest file in the run directory.
pub const MANIFEST: &str = "artifacts.json";

/// Directory in the run directory that copies go into, one sub-directory per step.
pub const ARTIFACT_DIR: &str = "artifacts";

/// Whether an artifact is copied into the run or referenced in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactMode {
    /// Copied to `<run>/artifacts/<step>/<name>`: the run keeps it whatever happens to the
    /// original.
    Copy,
    /// Recorded where it is; the hash tells whether the file there is still the one logged.
    Reference,
}

/// One artifact in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    /// The file name.
    pub name: String,
    /// What it is, as the caller says (`checkpoint`, `model`, `dataset`, ...).
    pub kind: String,
    /// Step it was logged at.
    pub step: i64,
    /// When it was logged, seconds since the Unix epoch.
    pub wall_time: f64,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the contents, lowercase hex.
    pub sha256: String,
    /// Copied or referenced.
    pub mode: ArtifactMode,
    /// For a copy, its path relative to the run directory; for a reference, the original
    /// path made absolute.
    pub path: String,
    /// The path it was logged from.
    pub source: String,
}

impl Artifact {
    /// Markdown for TensorBoard's Text tab.
    pub fn markdown(&self) -> String {
        format!(
            "| field | value |\n|---|---|\n| name | {} |\n| kind | {} |\n| step | {} |\n\
             | size | {} bytes |\n| sha256 | `{}` |\n| {} | `{}` |\n",
            self.name.replace('|', "\\|"),
            self.kind.replace('|', "\\|"),
            self.step,
            self.size,
            self.sha256,
            match self.mode {
                ArtifactMode::Copy => "copy",
                ArtifactMode::Reference => "reference",
            },
            self.path.replace('|', "\\|"),
        )
    }
}

/// Why an artifact could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The source is not a readable regular file.
    #[error("{}: {source}", path.display())]
    Source {
        /// The source path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Writing the copy or the manifest failed.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The source has no file name (`..`, `/`).
    #[error("{}: not a file name", .0.display())]
    NoName(PathBuf),
}

/// Hashes `reader` into SHA-256 while copying it into `out` (if any); returns size and hash.
fn hash_copy(mut reader: impl Read, mut out: Option<&mut File>) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        if let Some(f) = out.as_deref_mut() {
            f.write_all(&buf[..n])?;
        }
        size += n as u64;
    }
    let hash = hasher.finalize();
    Ok((size, hash.iter().map(|b| format!("{b:02x}")).collect()))
}

/// Records `source` for the run in `run_dir`: hashes it and, with [`ArtifactMode::Copy`],
/// copies it to `run_dir/artifacts/<step>/<name>` (under a temporary name, renamed when
/// complete). Does not touch the manifest (see [`write_manifest`]).
pub fn record(
    run_dir: &Path,
    source: &Path,
    kind: &str,
    step: i64,
    wall_time: f64,
    mode: ArtifactMode,
) -> Result<Artifact, ArtifactError> {
    let src_err = |e| ArtifactError::Source {
        path: source.to_owned(),
        source: e,
    };
    let name = source
        .file_name()
        .ok_or_else(|| ArtifactError::NoName(source.to_owned()))?
        .to_string_lossy()
        .into_owned();
    let file = File::open(source).map_err(src_err)?;
    if !file.metadata().map_err(src_err)?.is_file() {
        return Err(src_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let (size, sha256, path) = match mode {
        ArtifactMode::Reference => {
            let (size, sha) = hash_copy(file, None).map_err(src_err)?;
            let abs = fs::canonicalize(source).unwrap_or_else(|_| source.to_owned());
            (size, sha, abs.to_string_lossy().into_owned())
        }
        ArtifactMode::Copy => {
            let rel = Path::new(ARTIFACT_DIR).join(step.to_string()).join(&name);
            let dest = run_dir.join(&rel);
            let tmp = dest.with_file_name(format!(".{name}.partial"));
            let write_err = |path: &Path| {
                let path = path.to_owned();
                move |e| ArtifactError::Write { path, source: e }
            };
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent).map_err(write_err(parent))?;
            }
            let mut out = File::create(&tmp).map_err(write_err(&tmp))?;
            let copied = hash_copy(file, Some(&mut out)).and_then(|r| {
                out.sync_all()?;
                Ok(r)
            });
            let (size, sha) = match copied {
                Ok(r) => r,
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(ArtifactError::Write {
                        path: tmp,
                        source: e,
                    });
                }
            };
            fs::rename(&tmp, &dest).map_err(write_err(&dest))?;
            (size, sha, rel.to_string_lossy().replace('\\', "/"))
        }
    };
    Ok(Artifact {
        name,
        kind: kind.to_owned(),
        step,
        wall_time,
        size,
        sha256,
        mode,
        path,
        source: source.to_string_lossy().into_owned(),
    })
}

/// Writes `contents` to `path` through a temporary file and a rename, so readers see the old
/// file or the new one, never half of one.
pub fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.partial"));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Rewrites the manifest `run_dir/artifacts.json` with `artifacts` (a JSON list).
pub fn write_manifest(run_dir: &Path, artifacts: &[Artifact]) -> Result<(), ArtifactError> {
    let path = run_dir.join(MANIFEST);
    let mut json = serde_json::to_vec_pretty(artifacts).unwrap_or_default();
    json.push(b'\n');
    write_atomically(&path, &json).map_err(|source| ArtifactError::Write { path, source })
}

/// Reads the manifest of `run_dir`; an absent manifest is an empty list, an unreadable one
/// an error.
pub fn read_manifest(run_dir: &Path) -> Result<Vec<Artifact>, ArtifactError> {
    let path = run_dir.join(MANIFEST);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ArtifactError::Source {
            path,
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(ArtifactError::Source { path, source }),
    }
}
