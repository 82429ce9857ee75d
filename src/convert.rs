//! Converting logdirs into Parquet tables: runs read in parallel, rows sorted by run, tag and
//! step, written under temporary names and renamed into place only when complete.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, SchemaRef};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnDescPtr, ColumnPath};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

mod delta;
mod dict;
mod page_index;

use crate::glob::Glob;
use crate::logdir::{Discovery, RunFiles};
use crate::run::{read_run, read_run_once, Point, RunReport};
use crate::table::{value_bytes, RunRows, Table};
use rustc_hash::{FxHashMap, FxHashSet};

/// Name of the marker file that identifies a directory written by [`convert`].
///
/// Neither it nor [`STATE`] contains `tfevents`, so that a directory of tables inside a logdir is
/// never taken for a run (TensorBoard and [`crate::logdir`] read every file whose name does).
pub const MARKER: &str = ".tfe-tables";

/// Names of [`MARKER`] and [`STATE`] in tables written by earlier versions, still recognised;
/// the next `convert` into such a directory renames them.
pub const LEGACY_NAMES: [(&str, &str); 2] = [
    (".tfevents-tables", MARKER),
    (".tfevents-state.json", STATE),
];

/// What to convert and how.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Value tables to write (`runs` and `files` are always written).
    pub tables: Vec<Table>,
    /// Only runs whose name matches.
    pub runs: Option<Glob>,
    /// Only tags that match.
    pub tags: Option<Glob>,
    /// Drop superseded values instead of flagging them.
    pub purge: bool,
    /// Write value tables as Hive-partitioned datasets, `TABLE/run=<escaped>/part-0.parquet`.
    pub partition_by_run: bool,
    /// Convert only runs that are new or changed since the last conversion into the same
    /// directory (with the same options); rows of other runs are kept from the previous tables.
    pub append: bool,
    /// Memory bound: the runs being read, encoded or written at any time hold about this many
    /// bytes of event files at most; a run larger than this is read in groups of tags of about
    /// this size.
    pub chunk_bytes: u64,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            tables: Table::VALUES.to_vec(),
            runs: None,
            tags: None,
            purge: false,
            partition_by_run: false,
            append: false,
            chunk_bytes: CHUNK_BYTES,
        }
    }
}

/// Why a conversion failed. Previous tables in the output directory are left as they were.
#[derive(Debug, Error)]
pub enum ConvertError {
    /// The output directory holds files that are not tables written by tfevents.
    #[error(
        "{}: refusing to write tables into a directory that holds other files \
         (it has no {MARKER} marker); choose an empty or new directory",
        .0.display()
    )]
    NotTableDir(PathBuf),
    /// Creating, writing or renaming an output file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `--append` was asked with options other than those of the previous conversion.
    #[error(
        "{}: the previous conversion used other options ({previous}); \
         convert without --append to rewrite the tables",
        dir.display()
    )]
    OptionsChanged {
        /// The output directory.
        dir: PathBuf,
        /// The options recorded by the previous conversion.
        previous: String,
    },
    /// Reading a previous table back failed.
    #[error("reading the previous {table} table: {source}")]
    Previous {
        /// The table.
        table: &'static str,
        /// Why.
        source: ParquetError,
    },
    /// Encoding Parquet failed.
    #[error("writing {table}: {source}")]
    Parquet {
        /// The table.
        table: &'static str,
        /// Why.
        source: ParquetError,
    },
}

/// What a conversion wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConvertSummary {
    /// Rows per table, in [`Table::ALL`] order (only the tables written; empty when an
    /// incremental conversion found nothing new and left the tables untouched).
    pub rows: Vec<(Table, u64)>,
    /// Read reports of the runs read, in run order.
    pub reports: Vec<RunReport>,
    /// Runs whose rows were kept from the previous tables without reading them.
    pub kept_runs: usize,
    /// Why an incremental conversion read everything again, if it did (a table of the
    /// previous conversion is missing, so its rows could not be carried over).
    pub full_because: Option<String>,
}

/// Name of the file in the output directory that records what was converted, for `--append`.
pub const STATE: &str = ".tfe-state.json";

/// What the previous conversion read, recorded in [`STATE`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    /// Format version of this record.
    version: u32,
    /// The options that shape the tables (must match for `--append`).
    options: String,
    /// Files of each converted run.
    runs: BTreeMap<String, Vec<FileState>>,
}

/// Identity of an event file as last converted: a change to any of these means the run is
/// read again from the start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileState {
    path: String,
    size: u64,
    modified_ns: u128,
    /// SHA-256 of the first 4 KiB, to notice a file replaced by one of the same size.
    head: String,
}

fn file_state(path: &Path) -> Option<FileState> {
    let meta = fs::metadata(path).ok()?;
    let modified_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut head = vec![0u8; 4096];
    let mut f = File::open(path).ok()?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    Some(FileState {
        path: path.to_string_lossy().into_owned(),
        size: meta.len(),
        modified_ns,
        head: crate::json::sha256_hex(&head[..n]),
    })
}

fn options_key(opts: &ConvertOptions) -> String {
    // The set of kinds, whatever order or repetition they were given in.
    let mut kinds = opts.tables.clone();
    kinds.sort();
    kinds.dedup();
    let tables: Vec<&str> = kinds.iter().map(|t| t.name()).collect();
    format!(
        "kinds={} runs={} tags={} purge={} partition_by_run={}",
        tables.join(","),
        opts.runs.as_ref().map_or("*", |g| g.as_str()),
        opts.tags.as_ref().map_or("*", |g| g.as_str()),
        opts.purge,
        opts.partition_by_run
    )
}

fn load_state(out: &Path) -> Option<State> {
    let text = fs::read_to_string(out.join(STATE)).ok()?;
    serde_json::from_str(&text).ok()
}

fn save_state(out: &Path, state: &State) -> Result<(), ConvertError> {
    let tmp = out.join(format!(".tmp-{}-state", std::process::id()));
    let text = serde_json::to_string_pretty(state).map_err(|e| io_err(&tmp)(e.into()))?;
    fs::write(&tmp, text).map_err(io_err(&tmp))?;
    fs::rename(&tmp, out.join(STATE)).map_err(io_err(out))
}

/// One run of the output, in order: read from its files, or kept from the previous tables.
enum Item<'a> {
    Read(&'a RunFiles),
    Keep(String),
}

/// Rows of a previous single-file table, handed out run by run in table order.
struct OldRows {
    table: Table,
    reader: Option<ParquetRecordBatchReader>,
    pending: Option<RecordBatch>,
}

/// The run name of row `i` of a batch whose first column is the run (dictionary or string).
fn run_at(batch: &RecordBatch, i: usize) -> &str {
    let col = batch.column(0);
    if let Some(d) = col.as_dictionary_opt::<Int32Type>() {
        let values = d.values().as_string::<i32>();
        return values.value(d.keys().value(i) as usize);
    }
    col.as_string::<i32>().value(i)
}

impl OldRows {
    fn open(table: Table, path: &Path) -> Result<OldRows, ConvertError> {
        let reader = match File::open(path) {
            Ok(f) => Some(
                ParquetRecordBatchReaderBuilder::try_new(f)
                    .and_then(|b| b.with_batch_size(64 * 1024).build())
                    .map_err(|source| ConvertError::Previous {
                        table: table.name(),
                        source,
                    })?,
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(path)(e)),
        };
        Ok(OldRows {
            table,
            reader,
            pending: None,
        })
    }

    /// The rows of `run`, skipping rows of runs before it (runs that are read again).
    fn take(&mut self, run: &str) -> Result<Vec<RecordBatch>, ConvertError> {
        let mut out = Vec::new();
        loop {
            let batch = match self.pending.take() {
                Some(b) => b,
                None => match self.reader.as_mut().and_then(|r| r.next()) {
                    None => return Ok(out),
                    Some(b) => b.map_err(|e| ConvertError::Previous {
                        table: self.table.name(),
                        source: ParquetError::ArrowError(e.to_string()),
                    })?,
                },
            };
            let n = batch.num_rows();
            let start = (0..n).find(|&i| run_at(&batch, i) >= run).unwrap_or(n);
            if start == n {
                continue;
            }
            if run_at(&batch, start) > run {
                self.pending = Some(batch.slice(start, n - start));
                return Ok(out);
            }
            let end = (start..n).find(|&i| run_at(&batch, i) != run).unwrap_or(n);
            out.push(batch.slice(start, end - start));
            if end < n {
                self.pending = Some(batch.slice(end, n - end));
                return Ok(out);
            }
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ConvertError + '_ {
    move |source| ConvertError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Escapes a run name into one safe path segment for Hive partitioning: bytes other than ASCII
/// letters, digits, `-`, `_` and `.` become `%XX`, so `/`, `..` as a whole segment, NUL and
/// control characters cannot escape the table directory; names longer than 150 bytes are cut
/// and given a hash suffix so they stay unique and within file-name limits.
pub fn escape_partition_value(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out == "." || out == ".." || out.is_empty() {
        out = out.bytes().map(|b| format!("%{b:02X}")).collect();
        if out.is_empty() {
            out.push_str("%00");
        }
    }
    const MAX: usize = 150;
    if out.len() > MAX {
        let mut cut = MAX - 17;
        // Do not cut inside a %XX escape.
        let b = out.as_bytes();
        if b[cut - 1] == b'%' {
            cut -= 1;
        } else if b[cut - 2] == b'%' {
            cut -= 2;
        }
        let hash = crate::json::sha256_hex(name.as_bytes());
        out = format!("{}~{}", &out[..cut], &hash[..16]);
    }
    out
}

fn properties(table: Table) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Page);
    // Measurements rarely repeat: a dictionary for them costs time and is then abandoned.
    // Their bytes split into streams (signs and exponents, then mantissa bytes from high to
    // low) compress far better and faster than whole values: most streams barely change, and
    // float32 values widened to float64 leave the low ones all zero.
    let mut floats = vec!["wall_time"];
    if table == Table::Scalars {
        floats.push("value");
    }
    for column in floats {
        b = b
            .set_column_dictionary_enabled(ColumnPath::from(column), false)
            .set_column_encoding(ColumnPath::from(column), Encoding::BYTE_STREAM_SPLIT);
    }
    if table == Table::Hparams {
        b = b.set_column_dictionary_enabled(ColumnPath::from("value"), false);
    }
    // Steps are sorted within a tag: deltas take a few bits each, a dictionary of all steps
    // takes more room and a hash per row.
    b = b
        .set_column_dictionary_enabled(ColumnPath::from("step"), false)
        .set_column_encoding(ColumnPath::from("step"), Encoding::DELTA_BINARY_PACKED);
    b.set_created_by(format!("tfevents {}", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Checks that `out` is absent, empty, or a directory written by a previous conversion.
fn prepare_out_dir(out: &Path) -> Result<(), ConvertError> {
    match fs::read_dir(out) {
        Ok(entries) => {
            let mut empty = true;
            for e in entries {
                let e = e.map_err(io_err(out))?;
                let name = e.file_name();
                if name == MARKER {
                    return Ok(());
                }
                if name == LEGACY_NAMES[0].0 {
                    for (old, new) in LEGACY_NAMES {
                        match fs::rename(out.join(old), out.join(new)) {
                            Ok(()) => {}
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                            Err(e) => return Err(io_err(out)(e)),
                        }
                    }
                    return Ok(());
                }
                empty = false;
            }
            if !empty {
                return Err(ConvertError::NotTableDir(out.to_owned()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(out).map_err(io_err(out))?;
        }
        Err(e) => return Err(io_err(out)(e)),
    }
    fs::write(
        out.join(MARKER),
        b"Parquet tables written by tfevents convert.\n",
    )
    .map_err(io_err(out))
}

/// Single-file tables get a row group per run, or per several consecutive runs until it holds
/// at least this many rows.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// A table file is synced to disk in the background each time this much more was written.
const SYNC_EARLY_BYTES: u64 = 1 << 20;

/// Default of [`ConvertOptions::chunk_bytes`]: the runs in the works at any time hold event
/// files that add up to about this many bytes, which bounds memory whatever the size of the
/// logdir.
pub const CHUNK_BYTES: u64 = 32 << 20;

/// A table being written under a temporary name.
struct Sink {
    table: Table,
    /// Single file: the file writer and the factory of column writers for its row groups.
    /// Partitioned: `None` (one file per run).
    file: Option<(
        SerializedFileWriter<BufWriter<File>>,
        ArrowRowGroupWriterFactory,
    )>,
    /// Row groups written so far.
    row_groups: usize,
    /// Temporary path (file, or directory when partitioned).
    tmp: PathBuf,
    /// Final path.
    dest: PathBuf,
    rows: u64,
    partitioned: bool,
    /// Descriptors of the file's leaf columns (single file).
    leaves: Vec<ColumnDescPtr>,
    /// Batches of the row group being gathered (single file), with the items they come from.
    group: Vec<RecordBatch>,
    group_rows: usize,
    group_items: Vec<usize>,
    /// The temporary file, for syncing it early; the bytes written when that last started,
    /// and the thread doing it.
    sync_handle: Option<File>,
    synced: u64,
    syncing: Option<std::thread::JoinHandle<()>>,
    /// Partitioned: files written so far per partition directory (a run read tag group by tag
    /// group gets one file per group: `part-0.parquet`, `part-1.parquet`, ...).
    parts: FxHashMap<String, usize>,
}

/// Encoding work for one row group of one table, done on the thread pool.
struct Unit {
    sink: usize,
    batches: Vec<RecordBatch>,
    /// Single file: column writers of the row group. Partitioned: the file to write.
    target: Target,
    /// The item (index into the conversion's items) of each of its batches.
    items: Vec<usize>,
}

enum Target {
    /// The row group's column writers, and the descriptors of the file's leaf columns.
    Columns(Vec<ArrowColumnWriter>, Vec<ColumnDescPtr>),
    File(PathBuf),
}

fn parquet_err(table: Table) -> impl FnOnce(ParquetError) -> ConvertError {
    move |source| ConvertError::Parquet {
        table: table.name(),
        source,
    }
}

fn arrow_err(table: Table) -> impl FnOnce(ArrowError) -> ConvertError {
    move |e| ConvertError::Parquet {
        table: table.name(),
        source: ParquetError::ArrowError(e.to_string()),
    }
}

impl Sink {
    fn open(table: Table, out: &Path, tag: &str, partitioned: bool) -> Result<Sink, ConvertError> {
        let tmp = out.join(format!(".tmp-{tag}-{}", table.name()));
        let partitioned = partitioned && Table::VALUES.contains(&table);
        let mut sync_handle = None;
        let (file, dest) = if partitioned {
            fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
            (None, out.join(table.name()))
        } else {
            let f = File::create(&tmp).map_err(io_err(&tmp))?;
            sync_handle = f.try_clone().ok();
            let w =
                ArrowWriter::try_new(BufWriter::new(f), table.schema(), Some(properties(table)))
                    .map_err(parquet_err(table))?;
            let parts = w.into_serialized_writer().map_err(parquet_err(table))?;
            (Some(parts), out.join(format!("{}.parquet", table.name())))
        };
        let leaves = file
            .as_ref()
            .map(|(w, _)| w.schema_descr().columns().to_vec())
            .unwrap_or_default();
        Ok(Sink {
            table,
            file,
            row_groups: 0,
            tmp,
            dest,
            rows: 0,
            partitioned,
            leaves,
            group: Vec::new(),
            group_rows: 0,
            group_items: Vec::new(),
            sync_handle,
            synced: 0,
            syncing: None,
            parts: FxHashMap::default(),
        })
    }

    /// Splits batches of this table (in run order) into encoding units, the last one
    /// possibly smaller than a row group.
    fn units(
        &mut self,
        index: usize,
        batches: Vec<(String, RecordBatch)>,
    ) -> Result<Vec<Unit>, ConvertError> {
        let mut units = Vec::new();
        for (run, batch) in batches {
            units.extend(self.add(index, &run, batch, usize::MAX)?);
        }
        units.extend(self.flush(index)?);
        Ok(units)
    }

    /// Adds a batch of `run` (from item `item`): a unit when it completes one (a row group of
    /// at least [`ROW_GROUP_ROWS`] rows, or a partition file).
    fn add(
        &mut self,
        index: usize,
        run: &str,
        batch: RecordBatch,
        item: usize,
    ) -> Result<Option<Unit>, ConvertError> {
        self.rows += batch.num_rows() as u64;
        if self.partitioned {
            // Hive layout: the run comes from the directory name, not a column.
            let batch = batch
                .project(&(1..batch.num_columns()).collect::<Vec<_>>())
                .map_err(arrow_err(self.table))?;
            let name = format!("run={}", escape_partition_value(run));
            let dir = self.tmp.join(&name);
            let part = self.parts.entry(name).or_insert(0);
            if *part == 0 {
                fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            }
            let file = dir.join(format!("part-{part}.parquet"));
            *part += 1;
            return Ok(Some(Unit {
                sink: index,
                batches: vec![batch],
                target: Target::File(file),
                items: vec![item],
            }));
        }
        if self.file.is_none() {
            return Ok(None);
        }
        self.group_rows += batch.num_rows();
        self.group.push(batch);
        self.group_items.push(item);
        if self.group_rows >= ROW_GROUP_ROWS {
            return self.flush(index);
        }
        Ok(None)
    }

    /// The row group gathered so far, if any, as a unit.
    fn flush(&mut self, index: usize) -> Result<Option<Unit>, ConvertError> {
        let Some((_, factory)) = self.file.as_ref() else {
            return Ok(None);
        };
        if self.group.is_empty() {
            return Ok(None);
        }
        let writers = factory
            .create_column_writers(self.row_groups)
            .map_err(parquet_err(self.table))?;
        self.row_groups += 1;
        self.group_rows = 0;
        Ok(Some(Unit {
            sink: index,
            batches: std::mem::take(&mut self.group),
            target: Target::Columns(writers, self.leaves.clone()),
            items: std::mem::take(&mut self.group_items),
        }))
    }

    /// Carries a run's partition over from the previous dataset (hard links, or copies where
    /// links are not possible).
    fn keep_partition(&mut self, run: &str) -> Result<(), ConvertError> {
        let name = format!("run={}", escape_partition_value(run));
        let src = self.dest.join(&name);
        let Ok(entries) = fs::read_dir(&src) else {
            return Ok(());
        };
        let dst = self.tmp.join(&name);
        fs::create_dir_all(&dst).map_err(io_err(&dst))?;
        for e in entries {
            let e = e.map_err(io_err(&src))?;
            let to = dst.join(e.file_name());
            if fs::hard_link(e.path(), &to).is_err() {
                fs::copy(e.path(), &to).map_err(io_err(&to))?;
            }
        }
        Ok(())
    }

    /// Appends an encoded row group.
    fn append(&mut self, chunks: Vec<Chunk>) -> Result<(), ConvertError> {
        let table = self.table;
        let Some((writer, _)) = self.file.as_mut() else {
            return Ok(());
        };
        append_row_group(writer, chunks).map_err(parquet_err(table))?;
        self.sync_early();
        Ok(())
    }

    /// Starts writing what the file holds so far to disk in the background (unless that is
    /// still going on from last time), so that the final `fsync` has little left to wait for.
    fn sync_early(&mut self) {
        let Some((writer, _)) = self.file.as_ref() else {
            return;
        };
        let written = writer.bytes_written() as u64;
        if written < self.synced + SYNC_EARLY_BYTES
            || self.syncing.as_ref().is_some_and(|h| !h.is_finished())
        {
            return;
        }
        if let Some(h) = self.syncing.take() {
            let _ = h.join();
        }
        if let Some(f) = self.sync_handle.as_ref().and_then(|f| f.try_clone().ok()) {
            self.synced = written;
            // Errors are left to the final sync, which reports them.
            self.syncing = Some(std::thread::spawn(move || {
                let _ = f.sync_data();
            }));
        }
    }

    /// Writes the footer and syncs the file to disk.
    fn finish(&mut self) -> Result<(), ConvertError> {
        if let Some(h) = self.syncing.take() {
            let _ = h.join();
        }
        if let Some((writer, _)) = self.file.take() {
            let file = writer.into_inner().map_err(parquet_err(self.table))?;
            let file = file
                .into_inner()
                .map_err(|e| io_err(&self.tmp)(e.into_error()))?;
            file.sync_all().map_err(io_err(&self.tmp))?;
        }
        Ok(())
    }

    /// Moves the finished file to its final name, replacing a previous one.
    fn commit(self) -> Result<(Table, u64), ConvertError> {
        if self.partitioned {
            // Swap directories: the old dataset is moved aside first, then removed.
            let old = self.dest.with_extension("old");
            if self.dest.exists() {
                let _ = fs::remove_dir_all(&old);
                fs::rename(&self.dest, &old).map_err(io_err(&self.dest))?;
            }
            fs::rename(&self.tmp, &self.dest).map_err(io_err(&self.dest))?;
            let _ = fs::remove_dir_all(&old);
        } else {
            fs::rename(&self.tmp, &self.dest).map_err(io_err(&self.dest))?;
        }
        Ok((self.table, self.rows))
    }

    fn abandon(mut self) {
        if let Some(h) = self.syncing.take() {
            let _ = h.join();
        }
        drop(self.file);
        if self.partitioned {
            let _ = fs::remove_dir_all(&self.tmp);
        } else {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// One encoded column chunk of a row group.
enum Chunk {
    Arrow(ArrowColumnChunk),
    Raw(dict::RawChunk),
}

/// Appends a row group of encoded column chunks to a file.
fn append_row_group<W: io::Write + Send>(
    writer: &mut SerializedFileWriter<W>,
    chunks: Vec<Chunk>,
) -> Result<(), ParquetError> {
    let mut rg = writer.next_row_group()?;
    for c in chunks {
        match c {
            Chunk::Arrow(c) => c.append_to_row_group(&mut rg)?,
            Chunk::Raw(c) => c.append_to_row_group(&mut rg)?,
        }
    }
    rg.close()?;
    Ok(())
}

/// What encoding a unit gives: the column chunks of a row group, or nothing when the unit was
/// a whole (partition) file, already written.
type Encoded = Result<Option<Vec<Chunk>>, ConvertError>;

/// How a column of a row group is encoded.
#[derive(Clone, Copy, PartialEq)]
enum Encoder {
    /// With its Arrow column writer(s).
    Arrow,
    /// `dictionary<int32, utf8>`, from the keys ([`dict`]).
    Dict,
    /// `step`, DELTA_BINARY_PACKED ([`delta`]).
    Delta,
}

/// Encodes `batches` as one row group: `dictionary<int32, utf8>` columns from their keys (see
/// [`dict`]), steps with [`delta`], the others with the Arrow column writers. `leaves`
/// describes the file's leaf columns, in the order of `writers`.
fn encode_row_group(
    writers: Vec<ArrowColumnWriter>,
    leaves: &[ColumnDescPtr],
    batches: &[RecordBatch],
    schema: &SchemaRef,
    table: Table,
) -> Result<Vec<Chunk>, ConvertError> {
    let fields = schema.fields();
    let mismatch = || ConvertError::Parquet {
        table: table.name(),
        source: ParquetError::General("schema mismatch".into()),
    };
    let mut writers: Vec<Option<ArrowColumnWriter>> = writers.into_iter().map(Some).collect();
    // Per field: its first leaf, its number of leaves, and (dictionary fields) its arrays.
    let mut first_leaf = vec![0usize; fields.len()];
    let mut leaf_count = vec![0usize; fields.len()];
    let mut own_arrays: Vec<Vec<&dyn arrow_array::Array>> = vec![Vec::new(); fields.len()];
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let encoders: Vec<Encoder> = fields
        .iter()
        .map(|f| match () {
            // Without rows, every column goes through its writer.
            _ if rows == 0 => Encoder::Arrow,
            _ if dict::handles(f) => Encoder::Dict,
            _ if delta::handles(f) => Encoder::Delta,
            _ => Encoder::Arrow,
        })
        .collect();
    for (b, batch) in batches.iter().enumerate() {
        if batch.num_columns() != fields.len() {
            return Err(mismatch());
        }
        let mut leaf = 0usize;
        for (i, (field, column)) in fields.iter().zip(batch.columns()).enumerate() {
            let start = leaf;
            if encoders[i] != Encoder::Arrow {
                own_arrays[i].push(column.as_ref());
                leaf += 1;
            } else {
                for l in compute_leaves(field, column).map_err(parquet_err(table))? {
                    let w = writers
                        .get_mut(leaf)
                        .and_then(Option::as_mut)
                        .ok_or_else(mismatch)?;
                    w.write(&l).map_err(parquet_err(table))?;
                    leaf += 1;
                }
            }
            if b == 0 {
                first_leaf[i] = start;
                leaf_count[i] = leaf - start;
            } else if first_leaf[i] != start || leaf_count[i] != leaf - start {
                return Err(mismatch());
            }
        }
    }
    if batches.is_empty() {
        // No rows: every column through its writer.
        return writers
            .into_iter()
            .flatten()
            .map(|w| w.close().map(Chunk::Arrow).map_err(parquet_err(table)))
            .collect();
    }
    let mut chunks = Vec::with_capacity(writers.len());
    for i in 0..fields.len() {
        let first = first_leaf[i];
        if encoders[i] != Encoder::Arrow {
            let descr = leaves.get(first).ok_or_else(mismatch)?.clone();
            let arrays = &own_arrays[i];
            let chunk = match encoders[i] {
                Encoder::Dict => dict::encode(descr, arrays),
                _ => delta::encode(descr, arrays),
            };
            chunks.push(Chunk::Raw(chunk.map_err(parquet_err(table))?));
        } else {
            for leaf in first..first + leaf_count[i] {
                let w = writers
                    .get_mut(leaf)
                    .and_then(Option::take)
                    .ok_or_else(mismatch)?;
                chunks.push(Chunk::Arrow(w.close().map_err(parquet_err(table))?));
            }
        }
    }
    Ok(chunks)
}

/// Most rows in a row group of a partition file (the Arrow writer's default).
const PARTITION_ROW_GROUP_ROWS: usize = 1024 * 1024;

/// Encodes one unit: its column chunks, or (partitioned) its whole file.
fn encode(unit: Unit, table: Table) -> Encoded {
    match unit.target {
        Target::Columns(writers, leaves) => {
            encode_row_group(writers, &leaves, &unit.batches, &table.schema(), table).map(Some)
        }
        Target::File(path) => {
            let Some(first) = unit.batches.first() else {
                return Ok(None);
            };
            // Without the run column, which the partition's directory gives.
            let schema = first.schema();
            let file = File::create(&path).map_err(io_err(&path))?;
            let w = ArrowWriter::try_new(
                BufWriter::new(file),
                schema.clone(),
                Some(properties(table)),
            )
            .map_err(parquet_err(table))?;
            let (mut writer, factory) = w.into_serialized_writer().map_err(parquet_err(table))?;
            let leaves = writer.schema_descr().columns().to_vec();
            // Row groups of at most PARTITION_ROW_GROUP_ROWS rows, as the Arrow writer makes.
            let mut groups: Vec<Vec<RecordBatch>> = vec![Vec::new()];
            let mut rows = 0usize;
            for batch in &unit.batches {
                let mut offset = 0;
                while offset < batch.num_rows() {
                    if rows == PARTITION_ROW_GROUP_ROWS {
                        groups.push(Vec::new());
                        rows = 0;
                    }
                    let n = (batch.num_rows() - offset).min(PARTITION_ROW_GROUP_ROWS - rows);
                    if let Some(g) = groups.last_mut() {
                        g.push(batch.slice(offset, n));
                    }
                    offset += n;
                    rows += n;
                }
            }
            for (i, group) in groups.iter().enumerate() {
                if group.is_empty() {
                    continue;
                }
                let writers = factory
                    .create_column_writers(i)
                    .map_err(parquet_err(table))?;
                let chunks = encode_row_group(writers, &leaves, group, &schema, table)?;
                append_row_group(&mut writer, chunks).map_err(parquet_err(table))?;
            }
            writer.close().map_err(parquet_err(table))?;
            Ok(None)
        }
    }
}

/// Turns each sink's batches (in run order) into row groups, encodes them in parallel and
/// appends them in order.
fn write_batches(
    sinks: &mut [Sink],
    per_sink: Vec<Vec<(String, RecordBatch)>>,
) -> Result<(), ConvertError> {
    let units = make_units(sinks, per_sink)?;
    let tables: Vec<Table> = sinks.iter().map(|s| s.table).collect();
    append_encoded(sinks, encode_units(units, &tables))
}

/// Splits each sink's batches into encoding units (row groups, or partition files).
fn make_units(
    sinks: &mut [Sink],
    per_sink: Vec<Vec<(String, RecordBatch)>>,
) -> Result<Vec<Unit>, ConvertError> {
    let mut units = Vec::new();
    for (index, batches) in per_sink.into_iter().enumerate() {
        units.extend(sinks[index].units(index, batches)?);
    }
    Ok(units)
}

/// Encodes units on the thread pool; results stay in unit order.
fn encode_units(units: Vec<Unit>, tables: &[Table]) -> Vec<(usize, Encoded)> {
    units
        .into_par_iter()
        .map(|u| {
            let sink = u.sink;
            (sink, encode(u, tables[sink]))
        })
        .collect()
}

/// Appends encoded row groups to their files, in order.
fn append_encoded(sinks: &mut [Sink], encoded: Vec<(usize, Encoded)>) -> Result<(), ConvertError> {
    for (sink, result) in encoded {
        if let Some(chunks) = result? {
            sinks[sink].append(chunks)?;
        }
    }
    Ok(())
}

fn run_bytes(run: &RunFiles) -> u64 {
    run.files
        .iter()
        .filter_map(|f| fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// Converts a run too large to hold in memory at once: a first pass weighs each tag, then the
/// run is read again once per group of consecutive tags (in sorted order) small enough to
/// collect, groups read in parallel. Rows come out in the same order as for a small run.
fn write_big_run(
    files: &RunFiles,
    opts: &ConvertOptions,
    sinks: &mut [Sink],
    olds: &mut [Option<OldRows>],
) -> Result<RunReport, ConvertError> {
    type Weights = (FxHashMap<Box<str>, u64>, RunRows);
    let new = || -> Weights { (FxHashMap::default(), RunRows::new(&[], opts.purge)) };
    let ((weights, mut counter), report) = read_rows(files, new, |(weights, counter), p| {
        if opts.tags.as_ref().is_none_or(|g| g.matches(p.tag)) {
            let w = value_bytes(&p.value);
            match weights.get_mut(p.tag) {
                Some(x) => *x += w,
                None => {
                    weights.insert(p.tag.into(), w);
                }
            }
            counter.push(p);
        }
    });
    let mut tags: Vec<(Box<str>, u64)> = weights.into_iter().collect();
    tags.sort();
    // Groups are read in parallel, so together they hold about what one chunk of small runs
    // holds.
    let threads = rayon::current_num_threads().max(1);
    let budget = (opts.chunk_bytes / threads as u64).max(1);
    let mut groups: Vec<Vec<Box<str>>> = Vec::new();
    let mut size = 0u64;
    for (tag, w) in tags {
        if groups.is_empty() || size + w > budget {
            groups.push(Vec::new());
            size = 0;
        }
        size += w;
        if let Some(g) = groups.last_mut() {
            g.push(tag);
        }
    }
    // Skip the run's previous rows, if any.
    for old in olds.iter_mut().flatten() {
        old.take(files.run.as_str())?;
    }
    let dir = files.dir.to_string_lossy();
    let tables: Vec<Table> = sinks.iter().map(|s| s.table).collect();
    for group_chunk in groups.chunks(threads) {
        let read: Vec<Vec<Option<RecordBatch>>> = group_chunk
            .par_iter()
            .map(|group| {
                let wanted: FxHashSet<&str> = group.iter().map(|t| &**t).collect();
                let new = || RunRows::new(&opts.tables, opts.purge);
                let (mut rows, report) = read_rows(files, new, |rows, p| {
                    if wanted.contains(p.tag) {
                        rows.push(p);
                    }
                });
                tables
                    .iter()
                    .map(|&t| {
                        if !Table::VALUES.contains(&t) || rows.len(t) == 0 {
                            return Ok(None);
                        }
                        rows.batch(t, files.run.as_str(), &dir, &report)
                            .map(Some)
                            .map_err(arrow_err(t))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?;
        let mut per_sink: Vec<Vec<(String, RecordBatch)>> = vec![Vec::new(); sinks.len()];
        for batches in read {
            for (i, b) in batches.into_iter().enumerate() {
                if let Some(b) = b {
                    per_sink[i].push((files.run.0.clone(), b));
                }
            }
        }
        write_batches(sinks, per_sink)?;
    }
    // The run's row in `runs` and its files, from the first pass.
    let mut per_sink: Vec<Vec<(String, RecordBatch)>> = vec![Vec::new(); sinks.len()];
    for (i, t) in tables.iter().enumerate() {
        if matches!(t, Table::Runs | Table::Files) {
            let b = counter
                .batch(*t, files.run.as_str(), &dir, &report)
                .map_err(arrow_err(*t))?;
            per_sink[i].push((files.run.0.clone(), b));
        }
    }
    write_batches(sinks, per_sink)?;
    Ok(report)
}

/// Reads one run into rows, applying the tag filter.
pub fn run_rows(run: &RunFiles, opts: &ConvertOptions) -> (RunRows, RunReport) {
    read_rows(
        run,
        || RunRows::new(&opts.tables, opts.purge),
        |rows, p| {
            if opts.tags.as_ref().is_none_or(|g| g.matches(p.tag)) {
                rows.push(p);
            }
        },
    )
}

/// Reads a run into a collector made by `new`, `add` taking each value: in one pass over the
/// files when the run has no restart (see [`read_run_once`]), else in two with a fresh
/// collector.
fn read_rows<T>(
    run: &RunFiles,
    new: impl Fn() -> T,
    mut add: impl FnMut(&mut T, &Point<'_>),
) -> (T, RunReport) {
    let mut rows = new();
    if let Some(report) = read_run_once(run, |p| add(&mut rows, p)) {
        return (rows, report);
    }
    let mut rows = new();
    let report = read_run(run, |p| add(&mut rows, p));
    (rows, report)
}

/// A run read into record batches (one per table, `None` when it has no rows there).
type ReadRun = (Vec<Option<RecordBatch>>, RunReport);

/// What a task of the pipeline reports back.
enum Msg {
    /// Item `.0` was read.
    Read(usize, std::thread::Result<Result<ReadRun, ConvertError>>),
    /// Unit `.0` was encoded.
    Encoded(usize, std::thread::Result<Encoded>),
}

/// Reads a run and builds its batches for `tables`.
fn read_item(
    files: &RunFiles,
    opts: &ConvertOptions,
    tables: &[Table],
) -> Result<ReadRun, ConvertError> {
    let (mut rows, report) = run_rows(files, opts);
    let dir = files.dir.to_string_lossy();
    let batches = tables
        .iter()
        .map(|&table| {
            if rows.len(table) == 0 {
                return Ok(None);
            }
            rows.batch(table, files.run.as_str(), &dir, &report)
                .map(Some)
                .map_err(arrow_err(table))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((batches, report))
}

/// The next message of the pipeline's tasks. On a thread of the pool itself (a caller inside
/// `ThreadPool::install`), waiting would hold back the tasks it waits for, so it runs them
/// meanwhile.
fn receive(rx: &std::sync::mpsc::Receiver<Msg>) -> Result<Msg, std::sync::mpsc::RecvError> {
    if rayon::current_thread_index().is_none() {
        return rx.recv();
    }
    loop {
        match rx.try_recv() {
            Ok(m) => return Ok(m),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                return Err(std::sync::mpsc::RecvError)
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// Reads, encodes and writes every item, in parallel but without waiting between steps: runs are
/// read while earlier ones are encoded, as long as the runs read and not yet written hold at
/// most [`ConvertOptions::chunk_bytes`] of event files (a run larger than that is converted on
/// its own with [`write_big_run`]). Results are taken in item order: rows go to the tables, and
/// row groups are appended, in run order.
fn pipeline(
    items: &[Item<'_>],
    opts: &ConvertOptions,
    sinks: &mut [Sink],
    olds: &mut [Option<OldRows>],
    progress: &(dyn Fn(u64) + Sync),
    reports: &mut Vec<RunReport>,
) -> Result<(), ConvertError> {
    let tables: Vec<Table> = sinks.iter().map(|s| s.table).collect();
    let n = items.len();
    let budget = opts.chunk_bytes.max(1);
    // Event-file bytes of each item while it is held (read and not yet written).
    let mut bytes = vec![0u64; n];
    let mut held = 0u64;
    // Value-table batches of each item not yet written, and whether it was taken in order.
    let mut unwritten = vec![0usize; n];
    let mut taken = vec![false; n];
    let mut next_start = 0usize;
    let mut next_take = 0usize;
    let mut read: FxHashMap<usize, Option<ReadRun>> = FxHashMap::default();
    // Units by id, per sink in creation (= file) order, and those encoded.
    let mut next_unit = 0usize;
    let mut queues: Vec<std::collections::VecDeque<(usize, Vec<usize>)>> =
        vec![Default::default(); sinks.len()];
    let mut encoded: FxHashMap<usize, Encoded> = FxHashMap::default();
    let mut in_flight = 0usize;
    let mut flushed = false;
    let (tx, rx) = std::sync::mpsc::channel::<Msg>();

    rayon::in_place_scope(|scope| {
        let tables = &tables;
        let spawn_units =
            |units: Vec<Unit>,
             next_unit: &mut usize,
             in_flight: &mut usize,
             queues: &mut Vec<std::collections::VecDeque<(usize, Vec<usize>)>>| {
                for unit in units {
                    let id = *next_unit;
                    *next_unit += 1;
                    *in_flight += 1;
                    let value_table = Table::VALUES.contains(&tables[unit.sink]);
                    queues[unit.sink].push_back((
                        id,
                        if value_table {
                            unit.items.clone()
                        } else {
                            Vec::new()
                        },
                    ));
                    let tx = tx.clone();
                    scope.spawn(move |_| {
                        let table = tables[unit.sink];
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            encode(unit, table)
                        }));
                        let _ = tx.send(Msg::Encoded(id, r));
                    });
                }
            };
        loop {
            // Start reading items while the budget allows (at least one at a time).
            while next_start < n {
                let size = match &items[next_start] {
                    Item::Read(files) => run_bytes(files),
                    Item::Keep(_) => 0,
                };
                if size > opts.chunk_bytes || (held > 0 && held + size > budget) {
                    break;
                }
                let i = next_start;
                next_start += 1;
                bytes[i] = size;
                held += size;
                match &items[i] {
                    Item::Read(files) => {
                        in_flight += 1;
                        let tx = tx.clone();
                        scope.spawn(move |_| {
                            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                read_item(files, opts, tables)
                            }));
                            let _ = tx.send(Msg::Read(i, r));
                        });
                    }
                    Item::Keep(_) => {
                        read.insert(i, None);
                    }
                }
            }

            // Take what was read, in item order.
            while let Some(r) = read.remove(&next_take) {
                let i = next_take;
                next_take += 1;
                taken[i] = true;
                let mut units = Vec::new();
                match (&items[i], r) {
                    (Item::Read(files), Some((mut batches, report))) => {
                        let run = files.run.as_str();
                        for (index, sink) in sinks.iter_mut().enumerate() {
                            // Skip the run's previous rows, if any.
                            if let Some(old) = olds[index].as_mut() {
                                old.take(run)?;
                            }
                            if let Some(batch) = batches[index].take() {
                                if Table::VALUES.contains(&sink.table) {
                                    unwritten[i] += 1;
                                }
                                units.extend(sink.add(index, run, batch, i)?);
                            }
                        }
                        reports.push(report);
                    }
                    (Item::Keep(name), _) => {
                        for (index, sink) in sinks.iter_mut().enumerate() {
                            if sink.partitioned {
                                sink.keep_partition(name)?;
                            } else if let Some(old) = olds[index].as_mut() {
                                for batch in old.take(name)? {
                                    if Table::VALUES.contains(&sink.table) {
                                        unwritten[i] += 1;
                                    }
                                    units.extend(sink.add(index, name, batch, i)?);
                                }
                            }
                        }
                    }
                    (Item::Read(_), None) => {}
                }
                if unwritten[i] == 0 {
                    held -= std::mem::take(&mut bytes[i]);
                }
                spawn_units(units, &mut next_unit, &mut in_flight, &mut queues);
            }

            // Append encoded row groups, in order, releasing what they held.
            for (index, queue) in queues.iter_mut().enumerate() {
                while let Some(result) = queue.front().and_then(|(id, _)| encoded.remove(id)) {
                    let Some((_, unit_items)) = queue.pop_front() else {
                        break;
                    };
                    if let Some(chunks) = result? {
                        sinks[index].append(chunks)?;
                    }
                    for i in unit_items {
                        if i < n {
                            unwritten[i] -= 1;
                            if unwritten[i] == 0 && taken[i] {
                                held -= std::mem::take(&mut bytes[i]);
                            }
                        }
                    }
                }
            }

            if in_flight == 0 {
                let gathered = sinks.iter().any(|s| !s.group.is_empty());
                if next_take == n {
                    // Everything taken: write the last row groups, then stop.
                    if !flushed || gathered {
                        flushed = true;
                        let mut units = Vec::new();
                        for (index, sink) in sinks.iter_mut().enumerate() {
                            units.extend(sink.flush(index)?);
                        }
                        spawn_units(units, &mut next_unit, &mut in_flight, &mut queues);
                        continue;
                    }
                    return Ok(());
                }
                if next_take == next_start {
                    // Nothing is running and the next item cannot start: row groups still
                    // being gathered hold the budget, or the next run is too large for it.
                    if gathered {
                        let mut units = Vec::new();
                        for (index, sink) in sinks.iter_mut().enumerate() {
                            units.extend(sink.flush(index)?);
                        }
                        spawn_units(units, &mut next_unit, &mut in_flight, &mut queues);
                        continue;
                    }
                    if let Item::Read(files) = &items[next_take] {
                        if held == 0 {
                            // Everything before it is written: convert it on its own.
                            let report = write_big_run(files, opts, sinks, olds)?;
                            progress(report.files.iter().map(|f| f.size).sum());
                            reports.push(report);
                            taken[next_take] = true;
                            next_take += 1;
                            next_start += 1;
                            continue;
                        }
                    }
                    return Err(ConvertError::Io {
                        path: PathBuf::new(),
                        source: io::Error::other("conversion pipeline stalled"),
                    });
                }
                continue;
            }

            match receive(&rx) {
                Ok(Msg::Read(i, r)) => {
                    in_flight -= 1;
                    let r = r.unwrap_or_else(|p| std::panic::resume_unwind(p))?;
                    progress(r.1.files.iter().map(|f| f.size).sum());
                    read.insert(i, Some(r));
                }
                Ok(Msg::Encoded(id, r)) => {
                    in_flight -= 1;
                    encoded.insert(id, r.unwrap_or_else(|p| std::panic::resume_unwind(p)));
                }
                Err(_) => unreachable!("the pipeline holds a sender"),
            }
        }
    })
}

/// Converts the runs of `discovery` into Parquet tables in `out`.
///
/// Runs are read and encoded in parallel (as many at a time as
/// [`ConvertOptions::chunk_bytes`] allows, so memory is bounded by it, not the logdir), and
/// written in name order, each run's rows sorted by tag then step. Every table is written under a temporary name and renamed over the previous one
/// only once all tables are complete: a failed or interrupted conversion leaves the previous
/// tables intact. Damage in event files does not fail the conversion; it is in the `files`
/// table and in the returned reports. With [`ConvertOptions::append`], only runs that are new or
/// whose files changed are read; when nothing changed, nothing is read or written. `progress`
/// is called with the bytes of each run read.
pub fn convert(
    discovery: &Discovery,
    out: &Path,
    opts: &ConvertOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ConvertSummary, ConvertError> {
    prepare_out_dir(out)?;
    // Leftovers of an interrupted earlier conversion.
    if let Ok(entries) = fs::read_dir(out) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                let p = e.path();
                let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
            }
        }
    }
    let key = options_key(opts);
    let mut previous = if opts.append { load_state(out) } else { None };
    // Rows are carried over from the previous tables: all of them must be there.
    let mut full_because = None;
    if previous.is_some() {
        let missing: Vec<String> = opts
            .tables
            .iter()
            .chain([&Table::Runs, &Table::Files])
            .filter(|t| {
                if opts.partition_by_run && Table::VALUES.contains(t) {
                    !out.join(t.name()).is_dir()
                } else {
                    !out.join(format!("{}.parquet", t.name())).is_file()
                }
            })
            .map(|t| t.name().to_owned())
            .collect();
        if !missing.is_empty() {
            full_because = Some(format!(
                "the previous {} missing, so every run was read again",
                if missing.len() == 1 {
                    format!("{} table is", missing[0])
                } else {
                    format!("{} tables are", missing.join(", "))
                }
            ));
            previous = None;
        }
    }
    if let Some(prev) = &previous {
        if prev.options != key {
            return Err(ConvertError::OptionsChanged {
                dir: out.to_owned(),
                previous: prev.options.clone(),
            });
        }
    }

    // What to read, what to keep.
    let selected: Vec<&RunFiles> = discovery
        .runs
        .iter()
        .filter(|r| opts.runs.as_ref().is_none_or(|g| g.matches(r.run.as_str())))
        .collect();
    let mut state = State {
        version: 1,
        options: key,
        runs: BTreeMap::new(),
    };
    let mut items: BTreeMap<String, Item<'_>> = BTreeMap::new();
    let mut changed = 0usize;
    for r in &selected {
        let files: Vec<FileState> = r.files.iter().filter_map(|f| file_state(f)).collect();
        let unchanged = previous
            .as_ref()
            .and_then(|p| p.runs.get(r.run.as_str()))
            .is_some_and(|old| *old == files && files.len() == r.files.len());
        if unchanged {
            items.insert(r.run.0.clone(), Item::Keep(r.run.0.clone()));
        } else {
            changed += 1;
            items.insert(r.run.0.clone(), Item::Read(r));
        }
        state.runs.insert(r.run.0.clone(), files);
    }
    if let Some(prev) = &previous {
        // Runs that are no longer in the logdir keep their rows (the event files may have been
        // deleted to save space; the tables are the record).
        for (name, files) in &prev.runs {
            if !items.contains_key(name) {
                items.insert(name.clone(), Item::Keep(name.clone()));
                state.runs.insert(name.clone(), files.clone());
            }
        }
        if changed == 0 {
            return Ok(ConvertSummary {
                rows: Vec::new(),
                reports: Vec::new(),
                kept_runs: items.len(),
                full_because: None,
            });
        }
    }
    let items: Vec<Item<'_>> = items.into_values().collect();
    let kept_runs = items.iter().filter(|i| matches!(i, Item::Keep(_))).count();

    let tag = std::process::id().to_string();
    let mut tables: Vec<Table> = opts.tables.clone();
    tables.push(Table::Runs);
    tables.push(Table::Files);
    tables.sort();
    tables.dedup();
    let mut sinks = Vec::new();
    let mut olds = Vec::new();
    for t in &tables {
        let sink = Sink::open(*t, out, &tag, opts.partition_by_run);
        let old = match (&sink, previous.is_some()) {
            (Ok(s), true) if !s.partitioned => OldRows::open(*t, &s.dest).map(Some),
            _ => Ok(None),
        };
        match (sink, old) {
            (Ok(s), Ok(o)) => {
                sinks.push(s);
                olds.push(o);
            }
            (s, o) => {
                if let Ok(s) = s {
                    s.abandon();
                }
                sinks.into_iter().for_each(Sink::abandon);
                return Err(o.err().unwrap_or_else(|| ConvertError::Io {
                    path: out.to_owned(),
                    source: io::Error::other("cannot open output table"),
                }));
            }
        }
    }

    let mut reports = Vec::with_capacity(items.len());
    let result = pipeline(&items, opts, &mut sinks, &mut olds, progress, &mut reports);
    drop(olds);
    if let Err(e) = result {
        sinks.into_iter().for_each(Sink::abandon);
        return Err(e);
    }
    // Finish every table (footer, fsync) before any replaces a previous one; the syncs wait
    // for the disk, so they run side by side.
    let finished: Vec<Result<(), ConvertError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sinks
            .iter_mut()
            .map(|s| scope.spawn(move || s.finish()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    if let Some(e) = finished.into_iter().find_map(Result::err) {
        sinks.into_iter().for_each(Sink::abandon);
        return Err(e);
    }
    let mut rows = Vec::new();
    let mut pending = sinks.into_iter();
    while let Some(s) = pending.next() {
        match s.commit() {
            Ok(r) => rows.push(r),
            Err(e) => {
                pending.for_each(Sink::abandon);
                return Err(e);
            }
        }
    }
    // Value tables left from an earlier conversion with other --kinds would now disagree with
    // `runs` and `files`: remove them.
    for t in Table::VALUES {
        if !tables.contains(&t) {
            let _ = fs::remove_file(out.join(format!("{}.parquet", t.name())));
            let _ = fs::remove_dir_all(out.join(t.name()));
        }
    }
    save_state(out, &state)?;
    Ok(ConvertSummary {
        rows,
        reports,
        kept_runs,
        full_because,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_are_one_safe_segment() {
        assert_eq!(escape_partition_value("lr=0.1/seed_1"), "lr%3D0.1%2Fseed_1");
        assert_eq!(escape_partition_value(".."), "%2E%2E");
        assert_eq!(escape_partition_value("."), "%2E");
        assert_eq!(escape_partition_value(""), "%00");
        assert_eq!(escape_partition_value("a\0b"), "a%00b");
        assert_eq!(escape_partition_value("λ"), "%CE%BB");
        let long = "x/".repeat(300);
        let e = escape_partition_value(&long);
        assert!(e.len() <= 150, "{}", e.len());
        assert!(!e.contains('/'));
        assert_ne!(e, escape_partition_value(&"x/".repeat(301)));
    }

    #[test]
    fn partitioned_runs_read_by_tag_group_keep_every_row() {
        let logdir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/logdir");
        let d = crate::logdir::discover(&[logdir]).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let count = |dir: &Path| -> u64 {
            let mut rows = 0;
            let mut stack = vec![dir.to_owned()];
            while let Some(d) = stack.pop() {
                for e in fs::read_dir(&d).unwrap().flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|x| x == "parquet") {
                        let r = ParquetRecordBatchReaderBuilder::try_new(File::open(&p).unwrap())
                            .unwrap();
                        rows += r.metadata().file_metadata().num_rows() as u64;
                    }
                }
            }
            rows
        };
        let mut totals = Vec::new();
        for chunk_bytes in [CHUNK_BYTES, 2000] {
            let out = tmp.path().join(chunk_bytes.to_string());
            let opts = ConvertOptions {
                partition_by_run: true,
                chunk_bytes,
                ..Default::default()
            };
            let summary = convert(&d, &out, &opts, &|_| {}).unwrap();
            let scalars = summary
                .rows
                .iter()
                .find(|(t, _)| *t == Table::Scalars)
                .unwrap()
                .1;
            assert_eq!(count(&out.join("scalars")), scalars);
            totals.push(scalars);
        }
        assert_eq!(totals[0], totals[1]);
    }

    #[test]
    fn converts_from_inside_a_one_thread_pool() {
        let logdir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/logdir");
        let d = crate::logdir::discover(&[logdir]).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let summary = pool
            .install(|| convert(&d, &tmp.path().join("out"), &Default::default(), &|_| {}))
            .unwrap();
        assert!(summary
            .rows
            .iter()
            .any(|(t, n)| *t == Table::Scalars && *n > 0));
    }
}
