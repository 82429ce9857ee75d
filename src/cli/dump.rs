//! `tfevents dump`: every value as one JSON object per line.

use std::io::{self, BufWriter, Write};

use tfevents::json::{point_json, JsonObject};
use tfevents::logdir::Discovery;
use tfevents::run::read_run;
use tfevents::value::Kind;

use super::output::warn_damage;
use super::CliError;

/// Parses `--kinds`; empty means all.
pub fn parse_kinds(names: &[String]) -> Result<Vec<Kind>, CliError> {
    names
        .iter()
        .map(|n| {
            Kind::ALL
                .iter()
                .copied()
                .find(|k| k.as_str() == n.trim())
                .ok_or_else(|| {
                    let all: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                    CliError::Usage(format!(
                        "unknown kind {n:?} in --kinds (expected one of: {})",
                        all.join(", ")
                    ))
                })
        })
        .collect()
}

/// Writes every value of every run to stdout, runs in name order, values in file order.
pub fn dump(discovery: &Discovery, kinds: &[Kind]) -> Result<(), CliError> {
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut obj = JsonObject::default();
    for run in &discovery.runs {
        let name = run.run.as_str();
        let mut result: io::Result<()> = Ok(());
        let report = read_run(run, |p| {
            if result.is_err() || (!kinds.is_empty() && !kinds.contains(&p.value.kind())) {
                return;
            }
            let line = point_json(&mut obj, name, p);
            result = out
                .write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"));
        });
        result?;
        warn_damage(name, &report.files);
    }
    out.flush()?;
    Ok(())
}
