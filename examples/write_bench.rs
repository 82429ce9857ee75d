//! Times `Run::log` writing scalars with the default flush policy, for benches/write_bench.py.
//!
//! ```text
//! cargo run --release --example write_bench -- DIR [--events 2000000] [--tags 8]
//! ```
//!
//! Creates the run `DIR` (which must not hold event files yet), logs `--events` scalars, one
//! `run.log(step, &[(tag, value)])` call each, cycling through `--tags` tags per step, and
//! closes the run. Prints one JSON object: events, seconds from creating the run to the end of
//! `close` (the file synced to disk), events per second, and file bytes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const TAGS: [&str; 8] = [
    "train/loss",
    "train/accuracy",
    "train/lr",
    "val/loss",
    "val/mAP",
    "val/accuracy",
    "train/grad_norm",
    "perf/samples_per_sec",
];

fn main() -> ExitCode {
    let mut dir = None;
    let mut events = 2_000_000u64;
    let mut tags = 8usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let parsed = match a.as_str() {
            "--events" => args.next().and_then(|v| v.parse().ok()).map(|v| events = v),
            "--tags" => args
                .next()
                .and_then(|v| v.parse().ok())
                .filter(|&t: &usize| (1..=TAGS.len()).contains(&t))
                .map(|v| tags = v),
            _ if dir.is_none() && !a.starts_with('-') => {
                dir = Some(PathBuf::from(a));
                Some(())
            }
            _ => None,
        };
        if parsed.is_none() {
            eprintln!("usage: write_bench DIR [--events N] [--tags 1..8]");
            return ExitCode::from(2);
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: write_bench DIR [--events N] [--tags 1..8]");
        return ExitCode::from(2);
    };
    let start = Instant::now();
    let result = (|| -> Result<PathBuf, tfevents::tracker::WriteError> {
        let run = tfevents::Run::create(&dir)?;
        let path = run.path().to_owned();
        let mut value = 1.0f64;
        for i in 0..events {
            let step = (i / tags as u64) as i64;
            let tag = TAGS[(i % tags as u64) as usize];
            value = value * 0.999_999 + 1e-7;
            run.log(step, &[(tag, value)])?;
        }
        run.close()?;
        Ok(path)
    })();
    let secs = start.elapsed().as_secs_f64();
    match result {
        Ok(path) => {
            let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
            println!(
                "{{\"events\": {events}, \"seconds\": {secs:.6}, \"events_per_sec\": {:.1}, \"bytes\": {bytes}}}",
                events as f64 / secs
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("write_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
