//! What a run ran on: git state of the working directory, host, OS, CPUs, command line,
//! versions and start time, captured when a run is created.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::writer::{hostname, now};

/// The environment of a run, as captured by [`Environment::capture`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environment {
    /// `git rev-parse HEAD` of the working directory, if it is in a git repository.
    pub git_commit: Option<String>,
    /// The checked-out branch (`HEAD` when detached).
    pub git_branch: Option<String>,
    /// True when tracked files have uncommitted changes.
    pub git_dirty: Option<bool>,
    /// The host name.
    pub hostname: String,
    /// Operating system and architecture, e.g. `linux x86_64 (Debian GNU/Linux 12 (bookworm))`.
    pub os: String,
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// The process's command line, program first.
    pub command_line: Vec<String>,
    /// The working directory.
    pub working_dir: Option<String>,
    /// The user running the process (`USER` or `USERNAME`).
    pub user: Option<String>,
    /// Version of the tfevents crate that wrote the run.
    pub tfevents_version: String,
    /// Start time, seconds since the Unix epoch.
    pub start_time: f64,
}

/// Runs `git -C dir args...` and returns its trimmed output when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `PRETTY_NAME` from `/etc/os-release`, where there is one.
fn os_release() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
}

impl Environment {
    /// Captures the environment now. Git fields are `None` outside a repository or without
    /// `git`; nothing here fails.
    pub fn capture() -> Environment {
        let cwd = std::env::current_dir().ok();
        let (git_commit, git_branch, git_dirty) = match &cwd {
            Some(dir) => {
                let commit = git(dir, &["rev-parse", "HEAD"]);
                let branch = commit
                    .as_ref()
                    .and_then(|_| git(dir, &["rev-parse", "--abbrev-ref", "HEAD"]));
                let dirty = commit.as_ref().and_then(|_| {
                    git(dir, &["status", "--porcelain", "--untracked-files=no"])
                        .map(|s| !s.is_empty())
                });
                (commit, branch, dirty)
            }
            None => (None, None, None),
        };
        let mut os = format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
        if let Some(pretty) = os_release() {
            os = format!("{os} ({pretty})");
        }
        Environment {
            git_commit,
            git_branch,
            git_dirty,
            hostname: hostname(),
            os,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            command_line: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            working_dir: cwd.map(|d| d.to_string_lossy().into_owned()),
            user: std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .ok(),
            tfevents_version: env!("CARGO_PKG_VERSION").to_owned(),
            start_time: now(),
        }
    }

    /// The fields as hyperparameters named `env.<field>` (git_dirty a bool, cpus and
    /// start_time numbers, the rest strings; missing fields left out).
    pub fn hparams(&self) -> BTreeMap<String, prost_types::Value> {
        use prost_types::value::Kind;
        let mut out = BTreeMap::new();
        let mut put = |name: &str, kind: Kind| {
            out.insert(
                format!("env.{name}"),
                prost_types::Value { kind: Some(kind) },
            );
        };
        if let Some(c) = &self.git_commit {
            put("git_commit", Kind::StringValue(c.clone()));
        }
        if let Some(b) = &self.git_branch {
            put("git_branch", Kind::StringValue(b.clone()));
        }
        if let Some(d) = self.git_dirty {
            put("git_dirty", Kind::BoolValue(d));
        }
        put("hostname", Kind::StringValue(self.hostname.clone()));
        put("os", Kind::StringValue(self.os.clone()));
        put("cpus", Kind::NumberValue(self.cpus as f64));
        put(
            "command_line",
            Kind::StringValue(self.command_line.join(" ")),
        );
        put(
            "tfevents_version",
            Kind::StringValue(self.tfevents_version.clone()),
        );
        put("start_time", Kind::NumberValue(self.start_time));
        out
    }

    /// A markdown table of the fields, for TensorBoard's Text tab.
    pub fn markdown(&self) -> String {
        let mut rows: Vec<(&str, String)> = Vec::new();
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        rows.push(("git commit", opt(&self.git_commit)));
        rows.push(("git branch", opt(&self.git_branch)));
        rows.push((
            "git dirty",
            self.git_dirty.map_or("-".into(), |d| d.to_string()),
        ));
        rows.push(("host", self.hostname.clone()));
        rows.push(("os", self.os.clone()));
        rows.push(("cpus", self.cpus.to_string()));
        rows.push(("command line", format!("`{}`", self.command_line.join(" "))));
        rows.push(("working dir", opt(&self.working_dir)));
        rows.push(("user", opt(&self.user)));
        rows.push(("tfevents", self.tfevents_version.clone()));
        rows.push(("start time", format!("{:.3}", self.start_time)));
        let mut md = String::from("| field | value |\n|---|---|\n");
        for (k, v) in rows {
            // A `|` inside a cell would end it.
            md.push_str(&format!("| {k} | {} |\n", v.replace('|', "\\|")));
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_this_process() {
        let env = Environment::capture();
        assert!(env.cpus >= 1);
        assert!(!env.hostname.is_empty());
        assert!(env.os.starts_with(std::env::consts::OS));
        assert_eq!(env.tfevents_version, env!("CARGO_PKG_VERSION"));
        assert!(env.command_line[0].contains("tfevents"));
        assert!((now() - env.start_time).abs() < 60.0);
        let h = env.hparams();
        assert_eq!(
            h["env.cpus"].kind,
            Some(prost_types::value::Kind::NumberValue(env.cpus as f64))
        );
        assert_eq!(h.contains_key("env.git_commit"), env.git_commit.is_some());
        assert!(env.markdown().contains(&format!("| cpus | {} |", env.cpus)));
    }
}
