//! Reading tables written by [`crate::convert`] back: single Parquet files or Hive-partitioned
//! datasets, as Arrow batches with typed column access.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use thiserror::Error;

use crate::convert::{escape_partition_value, LEGACY_NAMES, MARKER};
use crate::table::Table;

/// Why tables could not be read.
#[derive(Debug, Error)]
pub enum TablesError {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A Parquet file could not be decoded.
    #[error("{}: {source}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ParquetError,
    },
    /// A column is missing or of an unexpected type.
    #[error("{}: column {column:?} is missing or not {expected}", path.display())]
    Column {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The type expected.
        expected: &'static str,
    },
    /// The directory holds no table of this kind.
    #[error("{}: no {table} table (neither {table}.parquet nor a {table}/ dataset)", dir.display())]
    Missing {
        /// The directory.
        dir: PathBuf,
        /// The table.
        table: &'static str,
    },
}

/// True when `dir` was written by `tfevents convert` (it holds the marker file).
pub fn is_table_dir(dir: &Path) -> bool {
    dir.join(MARKER).is_file() || dir.join(LEGACY_NAMES[0].0).is_file()
}

/// True when `dir` holds `table`, as one file or partitioned by run.
pub fn has_table(dir: &Path, table: Table) -> bool {
    dir.join(format!("{}.parquet", table.name())).is_file() || dir.join(table.name()).is_dir()
}

/// One batch of a table, with the run it belongs to when the table is partitioned (the
/// partition files hold no `run` column).
#[derive(Debug, Clone)]
pub struct TableBatch {
    /// The rows.
    pub batch: RecordBatch,
    /// The run of every row, for a partition file; `None` when the batch has a `run` column.
    pub partition_run: Option<String>,
    /// The file the batch came from.
    pub path: PathBuf,
}

/// String values of a column (utf8, large utf8 or dictionary of utf8), by row.
pub enum Strings<'a> {
    /// A plain string column.
    Plain(&'a arrow_array::StringArray),
    /// A dictionary-encoded column: keys and their values.
    Dict(
        &'a arrow_array::Int32DictionaryArray,
        &'a arrow_array::StringArray,
    ),
    /// The same value on every row (a partition's run).
    Constant(&'a str),
}

impl<'a> Strings<'a> {
    /// The value at `row`, or `None` when null.
    pub fn get(&self, row: usize) -> Option<&'a str> {
        match self {
            Strings::Plain(a) => (!a.is_null(row)).then(|| a.value(row)),
            Strings::Dict(d, values) => {
                if d.is_null(row) {
                    return None;
                }
                let key = d.keys().value(row);
                usize::try_from(key)
                    .ok()
                    .filter(|&k| k < values.len())
                    .map(|k| values.value(k))
            }
            Strings::Constant(s) => Some(s),
        }
    }
}

impl TableBatch {
    fn column(&self, name: &str) -> Option<&ArrayRef> {
        self.batch.column_by_name(name)
    }

    fn bad(&self, column: &str, expected: &'static str) -> TablesError {
        TablesError::Column {
            path: self.path.clone(),
            column: column.to_owned(),
            expected,
        }
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// True when the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.batch.num_rows() == 0
    }

    /// The `run` of each row (from the column, or the partition).
    pub fn runs(&self) -> Result<Strings<'_>, TablesError> {
        match &self.partition_run {
            Some(run) => Ok(Strings::Constant(run)),
            None => self.strings("run"),
        }
    }

    /// A string column.
    pub fn strings(&self, name: &str) -> Result<Strings<'_>, TablesError> {
        let col = self.column(name).ok_or_else(|| self.bad(name, "text"))?;
        match col.data_type() {
            DataType::Utf8 => Ok(Strings::Plain(col.as_string::<i32>())),
            DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
                let d = col.as_dictionary::<Int32Type>();
                let values = d
                    .values()
                    .as_any()
                    .downcast_ref::<arrow_array::StringArray>()
                    .ok_or_else(|| self.bad(name, "text"))?;
                Ok(Strings::Dict(d, values))
            }
            _ => Err(self.bad(name, "text")),
        }
    }

    /// An int64 column.
    pub fn i64s(&self, name: &str) -> Result<&arrow_array::Int64Array, TablesError> {
        self.column(name)
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or_else(|| self.bad(name, "int64"))
    }

    /// A float64 column.
    pub fn f64s(&self, name: &str) -> Result<&arrow_array::Float64Array, TablesError> {
        self.column(name)
            .and_then(|c| c.as_primitive_opt::<Float64Type>())
            .ok_or_else(|| self.bad(name, "float64"))
    }

    /// An int32 column.
    pub fn i32s(&self, name: &str) -> Result<&arrow_array::Int32Array, TablesError> {
        self.column(name)
            .and_then(|c| c.as_primitive_opt::<Int32Type>())
            .ok_or_else(|| self.bad(name, "int32"))
    }

    /// A boolean column.
    pub fn bools(&self, name: &str) -> Result<&arrow_array::BooleanArray, TablesError> {
        self.column(name)
            .and_then(|c| c.as_boolean_opt())
            .ok_or_else(|| self.bad(name, "bool"))
    }

    /// A binary column.
    pub fn binaries(&self, name: &str) -> Result<&arrow_array::BinaryArray, TablesError> {
        self.column(name)
            .and_then(|c| c.as_binary_opt::<i32>())
            .ok_or_else(|| self.bad(name, "binary"))
    }

    /// A list column (of any item type).
    pub fn lists(&self, name: &str) -> Result<&arrow_array::ListArray, TablesError> {
        self.column(name)
            .and_then(|c| c.as_list_opt::<i32>())
            .ok_or_else(|| self.bad(name, "list"))
    }
}

/// The float64 items of row `row` of a list column.
pub fn f64_list(list: &arrow_array::ListArray, row: usize) -> Vec<f64> {
    let v = list.value(row);
    v.as_primitive_opt::<Float64Type>()
        .map(|a| a.iter().map(|x| x.unwrap_or(f64::NAN)).collect())
        .unwrap_or_default()
}

/// The int64 items of row `row` of a list column.
pub fn i64_list(list: &arrow_array::ListArray, row: usize) -> Vec<i64> {
    let v = list.value(row);
    v.as_primitive_opt::<Int64Type>()
        .map(|a| a.iter().map(|x| x.unwrap_or(0)).collect())
        .unwrap_or_default()
}

/// The string items of row `row` of a list column (utf8 or binary items, lossily decoded).
pub fn string_list(list: &arrow_array::ListArray, row: usize) -> Vec<Vec<u8>> {
    let v = list.value(row);
    if let Some(a) = v.as_string_opt::<i32>() {
        return a
            .iter()
            .map(|s| s.unwrap_or("").as_bytes().to_vec())
            .collect();
    }
    if let Some(a) = v.as_binary_opt::<i32>() {
        return a.iter().map(|s| s.unwrap_or(b"").to_vec()).collect();
    }
    Vec::new()
}

fn read_file(
    path: &Path,
    columns: Option<&[&str]>,
    partition_run: Option<&str>,
    f: &mut dyn FnMut(TableBatch) -> Result<(), TablesError>,
) -> Result<(), TablesError> {
    let pq = |source| TablesError::Parquet {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(|source| TablesError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
    if let Some(cols) = columns {
        let schema = builder.parquet_schema();
        let wanted: Vec<usize> = (0..schema.num_columns())
            .filter(|&i| {
                let top = schema.column(i).path().parts()[0].clone();
                cols.contains(&top.as_str())
            })
            .collect();
        let mask = ProjectionMask::leaves(schema, wanted);
        builder = builder.with_projection(mask);
    }
    let reader = builder.with_batch_size(64 * 1024).build().map_err(pq)?;
    for batch in reader {
        let batch = batch.map_err(|e| pq(ParquetError::ArrowError(e.to_string())))?;
        f(TableBatch {
            batch,
            partition_run: partition_run.map(str::to_owned),
            path: path.to_owned(),
        })?;
    }
    Ok(())
}

/// Calls `f` with every batch of `table` in the directory `dir` written by convert, reading
/// only `columns` (all when `None`; `run` is supplied from the partition for partitioned
/// tables). Partitions whose run is not in `runs.parquet` are named by their unescaped
/// directory name.
pub fn scan(
    dir: &Path,
    table: Table,
    columns: Option<&[&str]>,
    mut f: impl FnMut(TableBatch) -> Result<(), TablesError>,
) -> Result<(), TablesError> {
    scan_dyn(dir, table, columns, &mut f)
}

fn scan_dyn(
    dir: &Path,
    table: Table,
    columns: Option<&[&str]>,
    f: &mut dyn FnMut(TableBatch) -> Result<(), TablesError>,
) -> Result<(), TablesError> {
    let single = dir.join(format!("{}.parquet", table.name()));
    if single.is_file() {
        return read_file(&single, columns, None, f);
    }
    let dataset = dir.join(table.name());
    if !dataset.is_dir() {
        return Err(TablesError::Missing {
            dir: dir.to_owned(),
            table: table.name(),
        });
    }
    // Partition directory names back to run names.
    let mut names: HashMap<String, String> = HashMap::new();
    if table != Table::Runs && dir.join("runs.parquet").is_file() {
        scan_dyn(dir, Table::Runs, Some(&["run"]), &mut |b| {
            let runs = b.runs()?;
            for i in 0..b.len() {
                if let Some(r) = runs.get(i) {
                    names.insert(escape_partition_value(r), r.to_owned());
                }
            }
            Ok(())
        })?;
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TablesError::Io { path, source }
    };
    let mut parts: Vec<(String, PathBuf)> = Vec::new();
    for entry in fs::read_dir(&dataset).map_err(io(&dataset))? {
        let entry = entry.map_err(io(&dataset))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(escaped) = name.strip_prefix("run=") else {
            continue;
        };
        let run = names
            .get(escaped)
            .cloned()
            .unwrap_or_else(|| unescape(escaped));
        let mut files: Vec<PathBuf> = fs::read_dir(entry.path())
            .map_err(io(&entry.path()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .collect();
        files.sort();
        parts.extend(files.into_iter().map(|p| (run.clone(), p)));
    }
    parts.sort();
    for (run, path) in parts {
        read_file(&path, columns, Some(&run), f)?;
    }
    Ok(())
}

/// Undoes `%XX` escapes (invalid sequences are kept as they are).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_reverses_partition_escapes() {
        for name in ["lr=0.1/seed_1", "a b", "λ", "..", "x%y"] {
            assert_eq!(unescape(&escape_partition_value(name)), name);
        }
        assert_eq!(unescape("%zz%4"), "%zz%4");
    }
}
