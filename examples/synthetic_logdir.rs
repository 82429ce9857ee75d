//! Writes a fixed, deterministic synthetic logdir of scalar event files, for benchmarks.
//!
//! ```text
//! cargo run --release --example synthetic_logdir -- DIR [--runs 16] [--tags 8] [--steps 20000]
//! ```
//!
//! `DIR/run_00 .. run_NN` each get one file `events.out.tfevents.1700000000.synthetic.<run>.0`
//! holding a `brain.Event:2` file-version event and then, for every step and every tag, one event
//! with a single `simple_value`: one event per scalar, the way PyTorch's
//! `SummaryWriter.add_scalar` writes them. Values use only `+ - * /`, so the bytes are the same on
//! every platform and every run.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use prost::Message;
use tfevents::proto::tensorboard::{event, summary, Event, Summary};
use tfevents::record::{RecordWriter, FOOTER_LEN, HEADER_LEN};

const BASE_WALL_TIME: f64 = 1_700_000_000.0;
const TAG_NAMES: [&str; 8] = [
    "train/loss",
    "train/accuracy",
    "train/lr",
    "val/loss",
    "val/mAP",
    "val/accuracy",
    "train/grad_norm",
    "perf/samples_per_sec",
];

struct Args {
    dir: PathBuf,
    runs: u32,
    tags: u32,
    steps: u64,
}

const USAGE: &str =
    "usage: synthetic_logdir DIR [--runs N (16)] [--tags N (8)] [--steps N (20000)]";

fn parse_args() -> Result<Args, String> {
    let mut dir = None;
    let mut runs = 16u32;
    let mut tags = 8u32;
    let mut steps = 20_000u64;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match name.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--runs" | "--tags" | "--steps" => {
                let value = match inline {
                    Some(v) => v,
                    None => it.next().ok_or_else(|| format!("{name} needs a value"))?,
                };
                let n: u64 = value
                    .parse()
                    .map_err(|_| format!("{name}: not a non-negative integer: {value:?}"))?;
                match name.as_str() {
                    "--runs" => runs = u32::try_from(n).map_err(|_| "--runs too large")?,
                    "--tags" => tags = u32::try_from(n).map_err(|_| "--tags too large")?,
                    _ => steps = n,
                }
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    let dir = dir.ok_or("missing DIR")?;
    Ok(Args {
        dir,
        runs,
        tags,
        steps,
    })
}

fn tag_name(tag: u32) -> String {
    match TAG_NAMES.get(tag as usize) {
        Some(name) => (*name).to_string(),
        None => format!("extra/metric_{tag:03}"),
    }
}

/// A fixed pseudo-random number in [-1, 1) for (run, tag, step) (SplitMix64 finaliser).
fn noise(run: u32, tag: u32, step: u64) -> f64 {
    let mut z =
        (u64::from(run) << 48 ^ u64::from(tag) << 32 ^ step).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

/// The scalar of `tag` at `step` in `run`: curves shaped like a training run, with noise.
fn value(run: u32, tag: u32, step: u64, steps: u64) -> f32 {
    let s = step as f64;
    let progress = s / steps.max(1) as f64;
    let speed = 1.0 + f64::from(run) * 0.05;
    let n = noise(run, tag, step);
    let v = match tag % 8 {
        0 => 2.5 / (1.0 + s * speed / 500.0) + 0.05 + 0.03 * n,
        1 => 0.95 - 0.85 / (1.0 + s * speed / 1500.0) + 0.01 * n,
        2 => {
            // Linear warm-up over 5% of the steps, then linear decay to zero.
            let peak = 1e-3 / (1.0 + f64::from(run % 4));
            if progress < 0.05 {
                peak * progress / 0.05
            } else {
                peak * (1.0 - progress) / 0.95
            }
        }
        3 => 2.6 / (1.0 + s * speed / 600.0) + 0.12 + 0.04 * n + 0.1 * progress * progress,
        4 => 0.7 - 0.65 / (1.0 + s * speed / 2500.0) + 0.015 * n,
        5 => 0.92 - 0.85 / (1.0 + s * speed / 1800.0) + 0.012 * n,
        6 => 4.0 / (1.0 + s / 800.0) + 0.5 + 0.3 * n * n,
        _ => 1200.0 + 40.0 * n + f64::from(tag) * 10.0,
    };
    v as f32
}

/// Writes one run's event file; returns (events, bytes).
fn write_run(path: &Path, run: u32, tags: &[String], steps: u64) -> std::io::Result<(u64, u64)> {
    let mut writer = RecordWriter::new(BufWriter::with_capacity(1 << 20, File::create(path)?));
    let mut buf = Vec::with_capacity(256);
    let mut events = 0u64;
    let mut bytes = 0u64;
    let mut put = |writer: &mut RecordWriter<_>, event: &Event, buf: &mut Vec<u8>| {
        buf.clear();
        event.encode(buf).expect("a Vec grows as needed");
        events += 1;
        bytes += (HEADER_LEN + buf.len() + FOOTER_LEN) as u64;
        writer.write_record(buf)
    };

    let header = Event {
        wall_time: BASE_WALL_TIME,
        step: 0,
        source_metadata: None,
        what: Some(event::What::FileVersion("brain.Event:2".to_string())),
    };
    put(&mut writer, &header, &mut buf)?;

    for step in 0..steps {
        for (t, tag) in tags.iter().enumerate() {
            let t = t as u32;
            let event = Event {
                wall_time: BASE_WALL_TIME + step as f64 * 0.1 + f64::from(t) * 0.001,
                step: step as i64,
                source_metadata: None,
                what: Some(event::What::Summary(Summary {
                    value: vec![summary::Value {
                        tag: tag.clone(),
                        value: Some(summary::value::Value::SimpleValue(value(
                            run, t, step, steps,
                        ))),
                        ..Default::default()
                    }],
                })),
            };
            put(&mut writer, &event, &mut buf)?;
        }
    }
    writer
        .into_inner()
        .into_inner()
        .map_err(|e| e.into_error())?
        .sync_all()?;
    Ok((events, bytes))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("synthetic_logdir: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let tags: Vec<String> = (0..args.tags).map(tag_name).collect();
    let width = args.runs.saturating_sub(1).to_string().len().max(2);
    let mut total_events = 0u64;
    let mut total_bytes = 0u64;
    for run in 0..args.runs {
        let run_dir = args.dir.join(format!("run_{run:0width$}"));
        let file = run_dir.join(format!("events.out.tfevents.1700000000.synthetic.{run}.0"));
        let result =
            fs::create_dir_all(&run_dir).and_then(|()| write_run(&file, run, &tags, args.steps));
        match result {
            Ok((events, bytes)) => {
                total_events += events;
                total_bytes += bytes;
            }
            Err(e) => {
                eprintln!("synthetic_logdir: {}: {e}", file.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let scalars = u64::from(args.runs) * u64::from(args.tags) * args.steps;
    println!(
        "wrote {} runs to {}: {total_events} events ({scalars} scalars + {} file_version), \
         {total_bytes} bytes ({:.1} MB)",
        args.runs,
        args.dir.display(),
        args.runs,
        total_bytes as f64 / 1e6
    );
    let _ = std::io::stdout().flush();
    ExitCode::SUCCESS
}
