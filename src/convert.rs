//! Converting logdirs into Parquet tables: runs read in parallel, rows sorted by run, tag and
//! step, written under temporary names and renamed into place only when complete.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::ArrowError;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;
use thiserror::Error;

use crate::glob::Glob;
use crate::logdir::{Discovery, RunFiles};
use crate::run::{read_run, RunReport};
use crate::table::{RunRows, Table};

/// Name of the marker file that identifies a directory written by [`convert`].
pub const MARKER: &str = ".tfevents-tables";

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
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            tables: Table::VALUES.to_vec(),
            runs: None,
            tags: None,
            purge: false,
            partition_by_run: false,
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
    /// Rows per table, in [`Table::ALL`] order (only the tables written).
    pub rows: Vec<(Table, u64)>,
    /// Read reports of the converted runs, in run order.
    pub reports: Vec<RunReport>,
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

fn properties() -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Page);
    // Measurements rarely repeat: a dictionary for them costs time and is then abandoned.
    for column in ["wall_time", "value"] {
        b = b.set_column_dictionary_enabled(ColumnPath::from(column), false);
    }
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

/// Runs are read and encoded a chunk at a time; a chunk holds runs whose event files add up to
/// about this many bytes, which bounds memory whatever the size of the logdir.
const CHUNK_BYTES: u64 = 32 << 20;

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
}

/// Encoding work for one row group of one table, done on the thread pool.
struct Unit {
    sink: usize,
    batches: Vec<RecordBatch>,
    /// Single file: column writers of the row group. Partitioned: the file to write.
    target: Target,
}

enum Target {
    Columns(Vec<ArrowColumnWriter>),
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
        let (file, dest) = if partitioned {
            fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
            (None, out.join(table.name()))
        } else {
            let f = File::create(&tmp).map_err(io_err(&tmp))?;
            let w = ArrowWriter::try_new(BufWriter::new(f), table.schema(), Some(properties()))
                .map_err(parquet_err(table))?;
            let parts = w.into_serialized_writer().map_err(parquet_err(table))?;
            (Some(parts), out.join(format!("{}.parquet", table.name())))
        };
        Ok(Sink {
            table,
            file,
            row_groups: 0,
            tmp,
            dest,
            rows: 0,
            partitioned,
        })
    }

    /// Splits one chunk's batches of this table into encoding units.
    fn units(
        &mut self,
        index: usize,
        batches: Vec<(String, RecordBatch)>,
    ) -> Result<Vec<Unit>, ConvertError> {
        let mut units = Vec::new();
        if self.partitioned {
            for (run, batch) in batches {
                self.rows += batch.num_rows() as u64;
                // Hive layout: the run comes from the directory name, not a column.
                let batch = batch
                    .project(&(1..batch.num_columns()).collect::<Vec<_>>())
                    .map_err(arrow_err(self.table))?;
                let dir = self
                    .tmp
                    .join(format!("run={}", escape_partition_value(&run)));
                fs::create_dir_all(&dir).map_err(io_err(&dir))?;
                units.push(Unit {
                    sink: index,
                    batches: vec![batch],
                    target: Target::File(dir.join("part-0.parquet")),
                });
            }
            return Ok(units);
        }
        let Some((_, factory)) = self.file.as_ref() else {
            return Ok(units);
        };
        let mut group: Vec<RecordBatch> = Vec::new();
        let mut rows = 0usize;
        let total = batches.len();
        for (i, (_, batch)) in batches.into_iter().enumerate() {
            rows += batch.num_rows();
            self.rows += batch.num_rows() as u64;
            group.push(batch);
            if rows >= ROW_GROUP_ROWS || i + 1 == total {
                let writers = factory
                    .create_column_writers(self.row_groups)
                    .map_err(parquet_err(self.table))?;
                self.row_groups += 1;
                units.push(Unit {
                    sink: index,
                    batches: std::mem::take(&mut group),
                    target: Target::Columns(writers),
                });
                rows = 0;
            }
        }
        Ok(units)
    }

    /// Appends encoded row groups, in order.
    fn append(&mut self, chunks: Vec<ArrowColumnChunk>) -> Result<(), ConvertError> {
        let table = self.table;
        let Some((writer, _)) = self.file.as_mut() else {
            return Ok(());
        };
        let mut rg = writer.next_row_group().map_err(parquet_err(table))?;
        for c in chunks {
            c.append_to_row_group(&mut rg).map_err(parquet_err(table))?;
        }
        rg.close().map_err(parquet_err(table))?;
        Ok(())
    }

    /// Finishes the file and moves it to its final name, replacing a previous one.
    fn commit(mut self) -> Result<(Table, u64), ConvertError> {
        if let Some((writer, _)) = self.file.take() {
            let file = writer.into_inner().map_err(parquet_err(self.table))?;
            let file = file
                .into_inner()
                .map_err(|e| io_err(&self.tmp)(e.into_error()))?;
            file.sync_all().map_err(io_err(&self.tmp))?;
        }
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

    fn abandon(self) {
        drop(self.file);
        if self.partitioned {
            let _ = fs::remove_dir_all(&self.tmp);
        } else {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// What encoding a unit gives: the column chunks of a row group, or nothing when the unit was
/// a whole (partition) file, already written.
type Encoded = Result<Option<Vec<ArrowColumnChunk>>, ConvertError>;

/// Encodes one unit: its column chunks, or (partitioned) its whole file.
fn encode(unit: Unit, table: Table) -> Encoded {
    match unit.target {
        Target::Columns(mut writers) => {
            for batch in &unit.batches {
                let schema = batch.schema();
                let mut w = writers.iter_mut();
                for (field, column) in schema.fields().iter().zip(batch.columns()) {
                    for leaf in compute_leaves(field, column).map_err(parquet_err(table))? {
                        match w.next() {
                            Some(writer) => writer.write(&leaf).map_err(parquet_err(table))?,
                            None => {
                                return Err(ConvertError::Parquet {
                                    table: table.name(),
                                    source: ParquetError::General("schema mismatch".into()),
                                })
                            }
                        }
                    }
                }
            }
            let chunks = writers
                .into_iter()
                .map(|w| w.close())
                .collect::<Result<Vec<_>, _>>()
                .map_err(parquet_err(table))?;
            Ok(Some(chunks))
        }
        Target::File(path) => {
            let Some(first) = unit.batches.first() else {
                return Ok(None);
            };
            let file = File::create(&path).map_err(io_err(&path))?;
            let mut w =
                ArrowWriter::try_new(BufWriter::new(file), first.schema(), Some(properties()))
                    .map_err(parquet_err(table))?;
            for b in &unit.batches {
                w.write(b).map_err(parquet_err(table))?;
            }
            w.close().map_err(parquet_err(table))?;
            Ok(None)
        }
    }
}

/// Groups runs into chunks of about [`CHUNK_BYTES`] of event files (at least one run each).
fn chunks<'a>(runs: &[&'a RunFiles]) -> Vec<Vec<&'a RunFiles>> {
    let mut out: Vec<Vec<&RunFiles>> = Vec::new();
    let mut bytes = 0u64;
    for r in runs {
        let size: u64 = r
            .files
            .iter()
            .filter_map(|f| fs::metadata(f).ok())
            .map(|m| m.len())
            .sum();
        if out.is_empty() || bytes >= CHUNK_BYTES {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        if let Some(last) = out.last_mut() {
            last.push(r);
        }
    }
    out
}

/// Reads one run into rows, applying the tag filter.
pub fn run_rows(run: &RunFiles, opts: &ConvertOptions) -> (RunRows, RunReport) {
    let mut rows = RunRows::new(&opts.tables, opts.purge);
    let report = read_run(run, |p| {
        if opts.tags.as_ref().is_none_or(|g| g.matches(p.tag)) {
            rows.push(p);
        }
    });
    (rows, report)
}

/// Converts the runs of `discovery` into Parquet tables in `out`.
///
/// Runs are read in parallel (on rayon's pool, a few runs at a time so memory stays bounded by
/// the largest runs, not the logdir) and written in name order, each run's rows sorted by tag
/// then step. Every table is written under a temporary name and renamed over the previous one
/// only once all tables are complete: a failed or interrupted conversion leaves the previous
/// tables intact. Damage in event files does not fail the conversion; it is in the `files`
/// table and in the returned reports. `progress` is called with the bytes of each run read.
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
    let tag = std::process::id().to_string();
    let mut tables: Vec<Table> = opts.tables.clone();
    tables.push(Table::Runs);
    tables.push(Table::Files);
    tables.sort();
    tables.dedup();
    let mut sinks = Vec::new();
    for t in &tables {
        match Sink::open(*t, out, &tag, opts.partition_by_run) {
            Ok(s) => sinks.push(s),
            Err(e) => {
                sinks.into_iter().for_each(Sink::abandon);
                return Err(e);
            }
        }
    }
    let runs: Vec<&RunFiles> = discovery
        .runs
        .iter()
        .filter(|r| opts.runs.as_ref().is_none_or(|g| g.matches(r.run.as_str())))
        .collect();
    let mut reports = Vec::with_capacity(runs.len());
    let result = (|| {
        for chunk in chunks(&runs) {
            // Read the chunk's runs and build their batches in parallel.
            let tables: Vec<Table> = sinks.iter().map(|s| s.table).collect();
            let read: Vec<(Vec<Option<RecordBatch>>, RunReport)> = chunk
                .par_iter()
                .map(|files| {
                    let (mut rows, report) = run_rows(files, opts);
                    progress(report.files.iter().map(|f| f.size).sum());
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
                        .collect::<Result<Vec<_>, _>>();
                    batches.map(|b| (b, report))
                })
                .collect::<Result<_, _>>()?;
            let mut read = read;
            let mut units = Vec::new();
            for (index, sink) in sinks.iter_mut().enumerate() {
                let batches: Vec<(String, RecordBatch)> = chunk
                    .iter()
                    .zip(read.iter_mut())
                    .filter_map(|(files, (b, _))| b[index].take().map(|b| (files.run.0.clone(), b)))
                    .collect();
                units.extend(sink.units(index, batches)?);
            }
            reports.extend(read.into_iter().map(|(_, r)| r));
            // Encode in parallel, then append row groups in order.
            let encoded: Vec<(usize, Encoded)> = units
                .into_par_iter()
                .map(|u| {
                    let sink = u.sink;
                    (sink, encode(u, tables[sink]))
                })
                .collect();
            for (sink, result) in encoded {
                if let Some(chunks) = result? {
                    sinks[sink].append(chunks)?;
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
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
    Ok(ConvertSummary { rows, reports })
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
}
