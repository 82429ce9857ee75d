//! Command-line arguments (defined once, with their help) and dispatch to the commands.

mod convert;
mod diff;
mod dump;
mod grid;
mod inspect;
mod log;
mod output;
mod plot;
mod reduce;
mod runs;

use std::io;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use thiserror::Error;

use tfevents::logdir::{discover, DiscoverError, Discovery};

/// Read TensorBoard event files: every value, every writer, damaged files included.
#[derive(Debug, Parser)]
#[command(name = "tfevents", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Summarise runs: files, tags by kind with counts, step ranges and time spans, restarts
    /// and damage.
    Inspect(InspectArgs),
    /// Print every value as one JSON object per line (images, audio and blobs as size and
    /// SHA-256).
    Dump(DumpArgs),
    /// Convert logdirs into Parquet tables (one per kind), or scalars into CSV / JSON lines.
    Convert(ConvertArgs),
    /// Log scalars into a run directory from the command line or stdin (for shell loops and
    /// programs in other languages). Values go to the run's newest file written by this
    /// command, or to a new one.
    Log(LogArgs),
    /// Compare runs: one row per run with its hparams, status, times, last step and metric
    /// summaries; filter and order them with MLflow's search syntax.
    Runs(RunsArgs),
    /// Two runs side by side: config and environment differences, and each shared metric's
    /// last value with the change.
    Diff(DiffArgs),
    /// Aggregate runs (seeds) per tag and step: mean, std, min, max, median, count; written
    /// as event files (one run per op) or a Parquet table.
    Reduce(ReduceArgs),
    /// Write tables made by `convert` back as event files, one directory per run, to edit,
    /// filter or merge runs with SQL and view them in TensorBoard again.
    Export(ExportArgs),
    /// Plot scalar tags as a PNG or SVG chart: one panel per tag, one coloured curve per run,
    /// smoothed as TensorBoard does with the raw curve faint behind it.
    Plot(PlotArgs),
}

#[derive(Debug, Args)]
struct PlotArgs {
    /// A logdir (or event file), or a directory written by `tfevents convert`.
    #[arg(value_name = "PATH")]
    path: PathBuf,

    /// Scalar tag to plot (exact name); repeat for one panel per tag.
    #[arg(long, required = true, value_name = "TAG")]
    tag: Vec<String>,

    /// Only runs whose name matches this pattern.
    #[arg(long, value_name = "GLOB")]
    runs: Option<String>,

    /// TensorBoard's smoothing weight: 0 (none) up to, not including, 1.
    #[arg(long, default_value_t = tfevents::plot::DEFAULT_SMOOTHING, value_name = "W")]
    smoothing: f64,

    /// Logarithmic y axis (values <= 0 are left out, with a warning).
    #[arg(long)]
    log_y: bool,

    /// The x axis: step, time since each run's first point, or wall-clock time (UTC).
    #[arg(long, value_enum, default_value = "step")]
    x: plot::XKind,

    /// Image width in pixels.
    #[arg(long, default_value_t = tfevents::plot::DEFAULT_WIDTH, value_name = "PX")]
    width: u32,

    /// Height of each panel in pixels (panels are stacked).
    #[arg(long, default_value_t = tfevents::plot::DEFAULT_PANEL_HEIGHT, value_name = "PX")]
    height: u32,

    /// The image file: its name ends in .png or .svg.
    #[arg(long, short = 'o', value_name = "FILE")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// A directory written by `tfevents convert`.
    #[arg(value_name = "DIR")]
    dir: PathBuf,

    /// The logdir to write (must not exist, or be empty).
    #[arg(long, short = 'o', value_name = "LOGDIR")]
    out: PathBuf,

    /// Only runs whose name matches this pattern.
    #[arg(long, value_name = "GLOB")]
    runs: Option<String>,
}

#[derive(Debug, Args)]
struct ReduceArgs {
    /// Run directories (at least two), e.g. runs/seed-*.
    #[arg(required = true, num_args = 2.., value_name = "RUN")]
    runs: Vec<PathBuf>,

    /// Output directory: OUT/<op>/ event files, or OUT/reduced.parquet.
    #[arg(long, short = 'o', value_name = "OUT")]
    out: PathBuf,

    /// Aggregates, comma-separated: mean, std (population), min, max, median, count.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "OPS",
        default_value = "mean,std,min,max"
    )]
    ops: Vec<String>,

    /// Runs that do not log the same tags and steps: error (say which), intersect (keep what
    /// every run has), or tolerate (aggregate the runs that have each point).
    #[arg(long, value_enum, default_value = "error")]
    missing: reduce::MissingArg,

    /// Output format.
    #[arg(long, value_enum, default_value = "tfevents")]
    format: reduce::Format,

    /// Only tags matching this pattern.
    #[arg(long, value_name = "GLOB")]
    tags: Option<String>,
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// The first run's directory.
    #[arg(value_name = "RUN_A")]
    a: PathBuf,

    /// The second run's directory.
    #[arg(value_name = "RUN_B")]
    b: PathBuf,

    /// Also list the config and environment fields that are equal.
    #[arg(long)]
    all: bool,

    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: diff::Format,
}

#[derive(Debug, Args)]
struct RunsArgs {
    /// A logdir, or a directory written by `tfevents convert`.
    #[arg(value_name = "PATH")]
    path: PathBuf,

    /// Keep runs matching this MLflow-style filter, e.g.
    /// "metrics.`val/mAP` > 0.85 and params.lr < 0.01 and attributes.status = 'SUCCESS'".
    /// Metrics mean the last value; max(metrics.x) and min(metrics.x) the extremes.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,

    /// Order by keys, e.g. "params.lr ASC, metrics.loss DESC" (repeatable; runs without the
    /// key come last).
    #[arg(long, value_name = "KEYS")]
    order_by: Vec<String>,

    /// Columns to show, comma-separated names or patterns: run, status, start_time,
    /// end_time, duration, last_step, params.NAME, metrics.TAG, min(metrics.TAG),
    /// max(metrics.TAG), params.*, ... (default: a text table shows the parameters that
    /// differ and each metric's last value; CSV and JSON show every column).
    #[arg(long, value_name = "COLUMNS")]
    columns: Option<String>,

    /// Only runs whose name matches this pattern.
    #[arg(long, value_name = "GLOB")]
    runs: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: runs::Format,
}

#[derive(Debug, Args)]
struct LogArgs {
    /// The run directory (created if missing).
    #[arg(long, value_name = "DIR")]
    logdir: PathBuf,

    /// Step of the TAG=VALUE arguments.
    #[arg(long, allow_negative_numbers = true)]
    step: Option<i64>,

    /// Wall time, seconds since the Unix epoch (default: now).
    #[arg(long, value_name = "SECS")]
    wall_time: Option<f64>,

    /// Write full-precision DT_DOUBLE scalars instead of f32 simple values.
    #[arg(long)]
    double: bool,

    /// Also read lines `STEP TAG=VALUE...` from stdin (blank lines and `#` comments skipped).
    #[arg(long)]
    stdin: bool,

    /// Scalars as TAG=VALUE (split at the last `=`; `nan`, `inf`, `-inf` accepted).
    #[arg(value_name = "TAG=VALUE", allow_hyphen_values = true)]
    values: Vec<String>,
}

#[derive(Debug, Args)]
struct ConvertArgs {
    #[command(flatten)]
    read: ReadArgs,

    /// Output directory for Parquet tables (created if missing; must be empty or hold tables
    /// from an earlier convert). With --format csv or jsonl: the output file (default: stdout).
    #[arg(long, short = 'o', value_name = "DIR")]
    out: Option<PathBuf>,

    /// Only runs whose name matches this pattern (`*`, `?`, `[a-z]`; `*` also matches `/`).
    #[arg(long, value_name = "GLOB")]
    runs: Option<String>,

    /// Only tags that match this pattern.
    #[arg(long, value_name = "GLOB")]
    tags: Option<String>,

    /// Only these tables (comma-separated): scalars, histograms, images, audio, text,
    /// tensors, hparams. The runs and files tables are always written.
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    kinds: Vec<String>,

    /// Drop values superseded by a restart instead of flagging them.
    #[arg(long)]
    purge: bool,

    /// Write each value table as a Hive-partitioned dataset: TABLE/run=<escaped>/part-0.parquet.
    #[arg(long, value_name = "COLUMN", value_parser = ["run"])]
    partition_by: Option<String>,

    /// Convert only runs that are new or whose files changed since the last convert into
    /// DIR (same options); other runs' rows are kept. An unchanged logdir costs no decoding.
    #[arg(long)]
    append: bool,

    /// Output format.
    #[arg(long, value_enum, default_value = "parquet")]
    format: convert::Format,

    /// Threads to read runs with (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
}

/// Options shared by commands that read logdirs.
#[derive(Debug, Args)]
struct ReadArgs {
    /// Logdirs or event files. With one logdir, runs are named relative to it (`.` for the
    /// logdir itself); otherwise by their directory as given.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct InspectArgs {
    #[command(flatten)]
    read: ReadArgs,

    /// Threads to read runs with (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,

    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct DumpArgs {
    #[command(flatten)]
    read: ReadArgs,

    /// Only these kinds (comma-separated): scalar, histogram, image, audio, text, pr_curve,
    /// hparams, tensor, blob, session_log, log_message.
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    kinds: Vec<String>,
}

/// Why a command failed.
#[derive(Debug, Error)]
pub enum CliError {
    /// A path given on the command line cannot be read.
    #[error(transparent)]
    Discover(#[from] DiscoverError),
    /// Writing output failed.
    #[error("writing output: {0}")]
    Io(#[from] io::Error),
    /// A file could not be created or renamed.
    #[error("{}: {source}", path.display())]
    Path {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Conversion failed.
    #[error(transparent)]
    Convert(#[from] tfevents::convert::ConvertError),
    /// Runs or tables could not be read.
    #[error(transparent)]
    Series(#[from] tfevents::series::SeriesError),
    /// Exporting tables failed.
    #[error(transparent)]
    Export(#[from] tfevents::export::ExportError),
    /// An option has a value that is not accepted.
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// True when output went to a closed pipe (e.g. `| head`): not an error for the user.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Io(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Runs the command.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Inspect(args) => {
            set_jobs(args.jobs)?;
            let discovery = prepare(&args.read)?;
            inspect::inspect(&discovery, args.json)
        }
        Command::Convert(args) => {
            set_jobs(args.jobs)?;
            let opts = tfevents::convert::ConvertOptions {
                tables: convert::parse_tables(&args.kinds)?,
                runs: parse_glob(&args.runs)?,
                tags: parse_glob(&args.tags)?,
                purge: args.purge,
                partition_by_run: args.partition_by.is_some(),
                append: args.append,
                chunk_bytes: tfevents::convert::CHUNK_BYTES,
            };
            let discovery = prepare(&args.read)?;
            match args.format {
                convert::Format::Parquet => {
                    let out = args.out.ok_or_else(|| {
                        CliError::Usage("convert needs --out DIR for Parquet tables".into())
                    })?;
                    convert::to_parquet(&discovery, &out, &opts)
                }
                format => convert::scalars_text(&discovery, args.out.as_ref(), &opts, format),
            }
        }
        Command::Log(args) => log::log(&log::LogRequest {
            dir: &args.logdir,
            step: args.step,
            wall_time: args.wall_time,
            double: args.double,
            pairs: &args.values,
            stdin: args.stdin,
        }),
        Command::Export(args) => {
            let glob = parse_glob(&args.runs)?;
            let s = tfevents::export::export(&args.dir, &args.out, glob.as_ref())?;
            for (from, to) in &s.renamed {
                eprintln!("tfevents: warning: {from:?} written as {to:?} (not a safe path)");
            }
            for why in &s.skipped {
                eprintln!("tfevents: warning: row not exported: {why}");
            }
            if s.flags_changed > 0 {
                eprintln!(
                    "tfevents: warning: {} values could not keep their superseded flag",
                    s.flags_changed
                );
            }
            eprintln!(
                "tfevents: exported {} runs, {} files, {} values{} -> {}",
                s.runs,
                s.files,
                s.values,
                if s.restarts > 0 {
                    format!(" ({} restarts kept)", s.restarts)
                } else {
                    String::new()
                },
                args.out.display()
            );
            Ok(())
        }
        Command::Reduce(args) => {
            let tags = parse_glob(&args.tags)?;
            reduce::run(&reduce::ReduceRequest {
                runs: &args.runs,
                out: &args.out,
                ops: &args.ops,
                missing: args.missing,
                format: args.format,
                tags: tags.as_ref(),
            })
        }
        Command::Diff(args) => diff::diff(&args.a, &args.b, args.all, args.format),
        Command::Runs(args) => {
            let glob = parse_glob(&args.runs)?;
            runs::runs(&runs::RunsRequest {
                path: &args.path,
                runs: glob.as_ref(),
                filter: args.filter.as_deref(),
                order_by: &args.order_by,
                columns: args.columns.as_deref(),
                format: args.format,
            })
        }
        Command::Plot(args) => {
            let glob = parse_glob(&args.runs)?;
            plot::plot(&plot::PlotRequest {
                path: &args.path,
                tags: &args.tag,
                runs: glob.as_ref(),
                smoothing: args.smoothing,
                log_y: args.log_y,
                x: args.x,
                width: args.width,
                height: args.height,
                out: &args.out,
            })
        }
        Command::Dump(args) => {
            let kinds = dump::parse_kinds(&args.kinds)?;
            let discovery = prepare(&args.read)?;
            dump::dump(&discovery, &kinds)
        }
    }
}

/// A `--runs`/`--tags` pattern, if given.
fn parse_glob(pattern: &Option<String>) -> Result<Option<tfevents::glob::Glob>, CliError> {
    pattern
        .as_deref()
        .map(tfevents::glob::Glob::new)
        .transpose()
        .map_err(CliError::Usage)
}

fn set_jobs(jobs: Option<usize>) -> Result<(), CliError> {
    if let Some(jobs) = jobs {
        /// More threads than this only cost memory and time, whatever the machine.
        const MAX_JOBS: usize = 256;
        if jobs == 0 || jobs > MAX_JOBS {
            return Err(CliError::Usage(format!(
                "--jobs must be from 1 to {MAX_JOBS} (this machine has {} cores)",
                std::thread::available_parallelism().map_or(1, |n| n.get())
            )));
        }
        // Fails only if the global pool was already built, which cannot happen here.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(jobs)
            .build_global();
    }
    Ok(())
}

fn prepare(read: &ReadArgs) -> Result<Discovery, CliError> {
    let discovery = discover(&read.paths)?;
    for w in &discovery.warnings {
        eprintln!("tfevents: warning: {w}");
    }
    for p in &read.paths {
        if tfevents::tables::is_table_dir(p) {
            eprintln!(
                "tfevents: warning: {} holds tables written by `tfevents convert`, not event \
                 files: `tfevents runs` and `plot` read it as it is, and `tfevents export {} \
                 --out LOGDIR` turns it back into event files",
                p.display(),
                p.display()
            );
        }
    }
    if discovery.runs.is_empty() {
        eprintln!("tfevents: warning: no event files found");
    }
    Ok(discovery)
}
