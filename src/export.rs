//! Tables written by `tfevents convert` back to event files, one directory per run and one
//! file per original event file, so that converting the export gives the same value tables.
//!
//! Each value is written in the encoding its row describes: TF1 `simple_value` for float32
//! scalars and a scalar tensor of the stored dtype otherwise; TF1 `HistogramProto` when the
//! row has min/max/num/sum/sum_squares, a TF2 `[k, 3]` tensor otherwise; TF1 images and audio
//! when the row has a colorspace or content type, TF2 plugin tensors (one per tag and step,
//! images in `index` order) otherwise; text, PR curves and other tensors as plugin tensors;
//! hparams session starts rebuilt from their rows (into the run's first file) and a session
//! end from `runs.parquet`'s status (into its last file).
//!
//! Superseded values are kept and flagged again: in each file the superseded values come
//! first, then (where needed) a SessionLog START at one more than the largest step of the
//! values written before it that are not superseded, then the others; a START that hides a
//! file's superseded values goes at the head of the next file when it can, as a restarted
//! writer puts it. Values whose flag this
//! cannot reproduce are counted in [`ExportSummary::flags_changed`].

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use prost::Message;
use thiserror::Error;

use crate::glob::Glob;
use crate::proto::tensorboard as pb;
use crate::proto::tensorboard::hparams as hp;
use crate::summary;
use crate::table::Table;
use crate::tables::{f64_list, has_table, i64_list, is_table_dir, scan, string_list, TablesError};
use crate::value::{dtype, Histogram};
use crate::writer::{EventWriter, FlushPolicy, FILE_VERSION};

/// Why an export failed. Nothing is left at the output path.
#[derive(Debug, Error)]
pub enum ExportError {
    /// The input is not a directory written by `tfevents convert`.
    #[error("{}: not a directory written by tfevents convert (no .tfe-tables marker)", .0.display())]
    NotTables(PathBuf),
    /// The output exists and is not an empty directory.
    #[error("{}: already exists and is not empty; choose a new output directory", .0.display())]
    OutputExists(PathBuf),
    /// The output exists and is not a directory.
    #[error("{}: already exists and is not a directory; choose a new output directory", .0.display())]
    OutputNotDir(PathBuf),
    /// `--runs` matched none of the tables' runs.
    #[error("no run in {} matches {pattern:?}", dir.display())]
    NoRunMatches {
        /// The tables.
        dir: PathBuf,
        /// The pattern.
        pattern: String,
    },
    /// Reading the tables failed.
    #[error(transparent)]
    Tables(#[from] TablesError),
    /// Writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportSummary {
    /// Runs written.
    pub runs: usize,
    /// Event files written.
    pub files: usize,
    /// Values written.
    pub values: u64,
    /// SessionLog START events written to keep superseded values flagged.
    pub restarts: usize,
    /// Values whose superseded flag differs in the export from the table's.
    pub flags_changed: u64,
    /// Run names or file names changed to be safe paths (original, used).
    pub renamed: Vec<(String, String)>,
    /// Rows that could not be written, with why (a histogram whose bucket lists differ in
    /// length, as an edit of the tables can leave), one line each.
    pub skipped: Vec<String>,
}

/// One value to write.
struct Row {
    tag: String,
    step: i64,
    wall_time: f64,
    superseded: bool,
    value: Payload,
}

enum Payload {
    /// A complete summary value.
    Value(Box<pb::summary::Value>),
    /// A TF2 image, to be grouped with the others of its tag and step.
    Image {
        index: i32,
        width: i64,
        height: i64,
        data: Vec<u8>,
    },
    /// A TF2 audio clip, likewise.
    Audio {
        index: i32,
        data: Vec<u8>,
        label: Vec<u8>,
    },
    /// One hyperparameter of a session start, to be grouped by session.
    Hparam {
        name: String,
        value: prost_types::Value,
        group: String,
    },
}

fn boxed(v: pb::summary::Value) -> Payload {
    Payload::Value(Box::new(v))
}

/// Rows of one run: per event file name, in table order.
#[derive(Default)]
struct RunRows {
    files: BTreeMap<String, Vec<Row>>,
    /// Hyperparameter rows (the table does not say which file held them).
    hparams: Vec<Row>,
    status: Option<i32>,
}

fn dtype_number(name: &str) -> Option<i32> {
    if let Some(n) = name.strip_prefix("dtype_") {
        return n.parse().ok();
    }
    (1..=30).find(|&d| dtype::name(d) == name)
}

/// IEEE half-precision bits of `x` (round to nearest even).
fn f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x7f_ffff;
    if exp == 255 {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 31 {
        return sign | 0x7c00;
    }
    let round =
        |v: u32, rem: u32, half: u32| v + u32::from(rem > half || (rem == half && v & 1 == 1));
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let h = round(m >> shift, m & ((1 << shift) - 1), 1 << (shift - 1));
        return sign | h as u16;
    }
    let h = round(((e as u32) << 10) | (man >> 13), man & 0x1fff, 0x1000);
    sign | h as u16
}

/// The little-endian bytes of `v` as one element of `dt`, or `None` for a dtype a scalar
/// cannot be written back in.
fn scalar_bytes(dt: i32, v: f64) -> Option<Vec<u8>> {
    let base = if dt > 100 { dt - 100 } else { dt };
    Some(match base {
        dtype::FLOAT => (v as f32).to_le_bytes().to_vec(),
        dtype::DOUBLE => v.to_le_bytes().to_vec(),
        dtype::HALF => f16_bits(v as f32).to_le_bytes().to_vec(),
        dtype::BFLOAT16 => (((v as f32).to_bits() >> 16) as u16).to_le_bytes().to_vec(),
        dtype::INT8 => (v as i8).to_le_bytes().to_vec(),
        dtype::INT16 => (v as i16).to_le_bytes().to_vec(),
        dtype::INT32 => (v as i32).to_le_bytes().to_vec(),
        dtype::INT64 => (v as i64).to_le_bytes().to_vec(),
        dtype::UINT8 => (v as u8).to_le_bytes().to_vec(),
        dtype::UINT16 => (v as u16).to_le_bytes().to_vec(),
        dtype::UINT32 => (v as u32).to_le_bytes().to_vec(),
        dtype::UINT64 => (v as u64).to_le_bytes().to_vec(),
        dtype::BOOL => vec![u8::from(v != 0.0)],
        _ => return None,
    })
}

fn plugin_value(
    tag: &str,
    plugin: &str,
    content: Vec<u8>,
    tensor: pb::TensorProto,
) -> pb::summary::Value {
    pb::summary::Value {
        tag: tag.to_owned(),
        metadata: (!plugin.is_empty()).then(|| summary::metadata(plugin, content)),
        value: Some(pb::summary::value::Value::Tensor(tensor)),
        ..Default::default()
    }
}

fn json_to_proto(v: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.iter().map(json_to_proto).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(prost_types::Struct {
            fields: o
                .iter()
                .map(|(k, v)| (k.clone(), json_to_proto(v)))
                .collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

/// Reads every value table of `dir` into rows per run.
fn read_rows(
    dir: &Path,
    runs: Option<&Glob>,
    skipped: &mut Vec<String>,
) -> Result<BTreeMap<String, RunRows>, ExportError> {
    let keep = |r: &str| runs.is_none_or(|g| g.matches(r));
    let mut out: BTreeMap<String, RunRows> = BTreeMap::new();
    for table in Table::VALUES {
        if !has_table(dir, table) {
            continue;
        }
        scan(dir, table, None, |b| {
            let run_names = b.runs()?;
            let (steps, walls) = (b.i64s("step")?, b.f64s("wall_time")?);
            let superseded = b.bools("superseded")?;
            let tags = if table == Table::Hparams {
                None
            } else {
                Some((b.strings("tag")?, b.strings("file")?))
            };
            for i in 0..b.len() {
                let Some(run) = run_names.get(i) else {
                    continue;
                };
                if !keep(run) {
                    continue;
                }
                let (tag, file) = match &tags {
                    Some((t, f)) => (t.get(i).unwrap_or(""), f.get(i).unwrap_or("")),
                    None => (summary::hparams_tags::SESSION_START, ""),
                };
                let value = match table {
                    Table::Scalars => {
                        let v = b.f64s("value")?.value(i);
                        let dt = dtype_number(b.strings("dtype")?.get(i).unwrap_or("float32"))
                            .unwrap_or(dtype::FLOAT);
                        if dt == dtype::FLOAT {
                            boxed(summary::scalar(tag, v as f32))
                        } else {
                            let (dt, content) = match scalar_bytes(dt, v) {
                                Some(bytes) => (dt, bytes),
                                None => (dtype::DOUBLE, v.to_le_bytes().to_vec()),
                            };
                            boxed(plugin_value(
                                tag,
                                "scalars",
                                Vec::new(),
                                pb::TensorProto {
                                    dtype: dt,
                                    tensor_shape: summary::shape(&[]),
                                    tensor_content: content,
                                    ..Default::default()
                                },
                            ))
                        }
                    }
                    Table::Histograms => {
                        let opt = |name: &str| -> Result<Option<f64>, TablesError> {
                            let a = b.f64s(name)?;
                            Ok((!arrow_array::Array::is_null(a, i)).then(|| a.value(i)))
                        };
                        let h = Histogram {
                            left: f64_list(b.lists("bucket_left")?, i),
                            right: f64_list(b.lists("bucket_right")?, i),
                            count: f64_list(b.lists("bucket_count")?, i),
                            min: opt("min")?,
                            max: opt("max")?,
                            num: opt("num")?,
                            sum: opt("sum")?,
                            sum_squares: opt("sum_squares")?,
                        };
                        match summary::histogram_buckets(tag, &h) {
                            Ok(v) => boxed(v),
                            Err(e) => {
                                skipped.push(format!(
                                    "run {run:?}, tag {tag:?}, step {}: {e}",
                                    steps.value(i)
                                ));
                                continue;
                            }
                        }
                    }
                    Table::Images => {
                        let cs = b.i32s("colorspace")?;
                        let (w, h) = (b.i64s("width")?.value(i), b.i64s("height")?.value(i));
                        let data = b.binaries("data")?.value(i).to_vec();
                        if arrow_array::Array::is_null(cs, i) {
                            Payload::Image {
                                index: b.i32s("index")?.value(i),
                                width: w,
                                height: h,
                                data,
                            }
                        } else {
                            boxed(summary::encoded_image(
                                tag,
                                w as u32,
                                h as u32,
                                cs.value(i),
                                data,
                            ))
                        }
                    }
                    Table::Audio => {
                        let ct = b.strings("content_type")?;
                        let data = b.binaries("data")?.value(i).to_vec();
                        match ct.get(i) {
                            Some(content_type) => {
                                let (rate, ch, fr) = (
                                    b.f64s("sample_rate")?,
                                    b.i64s("channels")?,
                                    b.i64s("frames")?,
                                );
                                boxed(pb::summary::Value {
                                    tag: tag.to_owned(),
                                    value: Some(pb::summary::value::Value::Audio(
                                        pb::summary::Audio {
                                            sample_rate: rate.value(i) as f32,
                                            num_channels: ch.value(i),
                                            length_frames: fr.value(i),
                                            encoded_audio_string: data,
                                            content_type: content_type.to_owned(),
                                        },
                                    )),
                                    ..Default::default()
                                })
                            }
                            None => Payload::Audio {
                                index: b.i32s("index")?.value(i),
                                data,
                                label: b.strings("label")?.get(i).unwrap_or("").as_bytes().to_vec(),
                            },
                        }
                    }
                    Table::Text => {
                        let dims = i64_list(b.lists("shape")?, i);
                        let texts = string_list(b.lists("texts")?, i);
                        boxed(plugin_value(
                            tag,
                            "text",
                            Vec::new(),
                            pb::TensorProto {
                                dtype: dtype::STRING,
                                tensor_shape: summary::shape(&dims),
                                string_val: texts,
                                ..Default::default()
                            },
                        ))
                    }
                    Table::Tensors => {
                        let plugin = b.strings("plugin")?.get(i).unwrap_or("").to_owned();
                        let dt = dtype_number(b.strings("dtype")?.get(i).unwrap_or("float32"))
                            .unwrap_or(dtype::FLOAT);
                        let dims = i64_list(b.lists("shape")?, i);
                        let data = b.binaries("data")?;
                        let mut tensor = pb::TensorProto {
                            dtype: dt,
                            tensor_shape: summary::shape(&dims),
                            ..Default::default()
                        };
                        if arrow_array::Array::is_null(data, i) {
                            tensor.string_val = string_list(b.lists("strings")?, i);
                        } else {
                            tensor.tensor_content = data.value(i).to_vec();
                        }
                        let content = if plugin == "pr_curves" {
                            pb::PrCurvePluginData {
                                version: 0,
                                num_thresholds: dims.get(1).map_or(0, |&n| n.max(0) as u32),
                            }
                            .encode_to_vec()
                        } else {
                            Vec::new()
                        };
                        boxed(plugin_value(tag, &plugin, content, tensor))
                    }
                    Table::Hparams => {
                        let (numbers, strings, bools) =
                            (b.f64s("number")?, b.strings("string")?, b.bools("bool")?);
                        use prost_types::value::Kind;
                        let kind = if !arrow_array::Array::is_null(numbers, i) {
                            Kind::NumberValue(numbers.value(i))
                        } else if !arrow_array::Array::is_null(bools, i) {
                            Kind::BoolValue(bools.value(i))
                        } else if let Some(s) = strings.get(i) {
                            Kind::StringValue(s.to_owned())
                        } else {
                            let text = b.strings("value")?.get(i).unwrap_or("null").to_owned();
                            match serde_json::from_str::<serde_json::Value>(&text) {
                                Ok(j) => json_to_proto(&j).kind.unwrap_or(Kind::NullValue(0)),
                                Err(_) => Kind::StringValue(text),
                            }
                        };
                        Payload::Hparam {
                            name: b.strings("name")?.get(i).unwrap_or("").to_owned(),
                            value: prost_types::Value { kind: Some(kind) },
                            group: b.strings("group_name")?.get(i).unwrap_or("").to_owned(),
                        }
                    }
                    Table::Runs | Table::Files => continue,
                };
                let row = Row {
                    tag: tag.to_owned(),
                    step: steps.value(i),
                    wall_time: walls.value(i),
                    superseded: superseded.value(i),
                    value,
                };
                let r = out.entry(run.to_owned()).or_default();
                if table == Table::Hparams {
                    r.hparams.push(row);
                } else {
                    r.files.entry(file.to_owned()).or_default().push(row);
                }
            }
            Ok(())
        })?;
    }
    if has_table(dir, Table::Runs) {
        scan(dir, Table::Runs, Some(&["run", "status"]), |b| {
            let (names, status) = (b.runs()?, b.strings("status")?);
            for i in 0..b.len() {
                if let (Some(run), Some(s)) = (names.get(i), status.get(i)) {
                    if let Some(r) = out.get_mut(run) {
                        r.status = match s {
                            "SUCCESS" => Some(1),
                            "FAILURE" => Some(2),
                            "RUNNING" => Some(3),
                            "UNKNOWN" => Some(0),
                            _ => None,
                        };
                    }
                }
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// Groups TF2 images and audio of one tag and step into one plugin tensor, and hparams rows
/// of one session into one session start; other rows stay as they are.
fn assemble(rows: Vec<Row>) -> Vec<(Row, pb::summary::Value)> {
    type Key = (String, i64, u64, bool, u8, String);
    let mut out: Vec<(Row, pb::summary::Value)> = Vec::new();
    let mut groups: HashMap<Key, usize> = HashMap::new();
    let mut pending: Vec<(Row, Vec<Payload>)> = Vec::new();
    for row in rows {
        let (kind, extra) = match &row.value {
            Payload::Value(_) => (0, String::new()),
            Payload::Image { .. } => (1, String::new()),
            Payload::Audio { .. } => (2, String::new()),
            Payload::Hparam { group, .. } => (3, group.clone()),
        };
        if kind == 0 {
            if let Payload::Value(v) = row.value {
                let head = Row {
                    value: Payload::Value(Box::default()),
                    ..row
                };
                out.push((head, *v));
            }
            continue;
        }
        let key = (
            row.tag.clone(),
            row.step,
            row.wall_time.to_bits(),
            row.superseded,
            kind,
            extra,
        );
        let i = *groups.entry(key).or_insert_with(|| {
            pending.push((
                Row {
                    tag: row.tag.clone(),
                    step: row.step,
                    wall_time: row.wall_time,
                    superseded: row.superseded,
                    value: Payload::Value(Box::default()),
                },
                Vec::new(),
            ));
            pending.len() - 1
        });
        pending[i].1.push(row.value);
    }
    for (head, mut parts) in pending {
        let value = match parts.first() {
            Some(Payload::Image { .. }) => {
                parts.sort_by_key(|p| match p {
                    Payload::Image { index, .. } => *index,
                    _ => 0,
                });
                let (w, h) = match &parts[0] {
                    Payload::Image { width, height, .. } => (*width, *height),
                    _ => (0, 0),
                };
                let mut strings = vec![w.to_string().into_bytes(), h.to_string().into_bytes()];
                strings.extend(parts.into_iter().filter_map(|p| match p {
                    Payload::Image { data, .. } => Some(data),
                    _ => None,
                }));
                let n = strings.len() as i64;
                plugin_value(
                    &head.tag,
                    "images",
                    Vec::new(),
                    pb::TensorProto {
                        dtype: dtype::STRING,
                        tensor_shape: summary::shape(&[n]),
                        string_val: strings,
                        ..Default::default()
                    },
                )
            }
            Some(Payload::Audio { .. }) => {
                parts.sort_by_key(|p| match p {
                    Payload::Audio { index, .. } => *index,
                    _ => 0,
                });
                let k = parts.len() as i64;
                let strings = parts
                    .into_iter()
                    .flat_map(|p| match p {
                        Payload::Audio { data, label, .. } => vec![data, label],
                        _ => Vec::new(),
                    })
                    .collect();
                let content = pb::AudioPluginData {
                    version: 0,
                    encoding: pb::audio_plugin_data::Encoding::Wav as i32,
                }
                .encode_to_vec();
                plugin_value(
                    &head.tag,
                    "audio",
                    content,
                    pb::TensorProto {
                        dtype: dtype::STRING,
                        tensor_shape: summary::shape(&[k, 2]),
                        string_val: strings,
                        ..Default::default()
                    },
                )
            }
            Some(Payload::Hparam { group, .. }) => {
                let group = group.clone();
                let hparams: BTreeMap<String, prost_types::Value> = parts
                    .into_iter()
                    .filter_map(|p| match p {
                        Payload::Hparam { name, value, .. } => Some((name, value)),
                        _ => None,
                    })
                    .collect();
                let mut v = summary::hparams_session_start(&hparams, head.wall_time);
                if !group.is_empty() {
                    let content = hp::HParamsPluginData {
                        version: 0,
                        data: Some(hp::h_params_plugin_data::Data::SessionStartInfo(
                            hp::SessionStartInfo {
                                hparams: hparams.into_iter().collect(),
                                group_name: group,
                                start_time_secs: head.wall_time,
                                ..Default::default()
                            },
                        )),
                    }
                    .encode_to_vec();
                    if let Some(md) = v.metadata.as_mut().and_then(|m| m.plugin_data.as_mut()) {
                        md.content = content;
                    }
                }
                v
            }
            _ => continue,
        };
        out.push((head, value));
    }
    out
}

/// A run name as a relative directory: `.` for the logdir itself; components that could
/// leave the output (`..`, empty, absolute) are escaped.
fn run_dir(name: &str) -> PathBuf {
    if name == "." {
        return PathBuf::new();
    }
    let mut p = PathBuf::new();
    for part in name.split('/') {
        let safe = !part.is_empty()
            && part != "."
            && part != ".."
            && !part.contains(['\\', '\0'])
            && part.len() <= 200;
        if safe {
            p.push(part);
        } else {
            p.push(crate::convert::escape_partition_value(part));
        }
    }
    p
}

/// A file name that is one safe path component holding `tfevents`.
fn file_name(name: &str) -> String {
    let safe = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && name.contains("tfevents")
        && name.len() <= 200;
    if safe {
        name.to_owned()
    } else {
        format!(
            "events.out.tfevents.{}",
            crate::convert::escape_partition_value(name)
        )
    }
}

/// Writes the tables in `tables` as event files under `out`, which must not exist or be an
/// empty directory. Everything is written into a temporary directory beside `out` and renamed
/// into place when complete.
pub fn export(
    tables: &Path,
    out: &Path,
    runs: Option<&Glob>,
) -> Result<ExportSummary, ExportError> {
    if !is_table_dir(tables) {
        return Err(ExportError::NotTables(tables.to_owned()));
    }
    if out.exists() {
        if !out.is_dir() {
            return Err(ExportError::OutputNotDir(out.to_owned()));
        }
        let empty = fs::read_dir(out)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return Err(ExportError::OutputExists(out.to_owned()));
        }
    }
    let mut skipped = Vec::new();
    let rows = read_rows(tables, runs, &mut skipped)?;
    if let (Some(g), true) = (runs, rows.is_empty()) {
        return Err(ExportError::NoRunMatches {
            dir: tables.to_owned(),
            pattern: g.as_str().to_owned(),
        });
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let tmp = out.with_file_name(format!(".{name}.partial"));
    let _ = fs::remove_dir_all(&tmp);
    let result = write_all(&tmp, rows);
    let summary = match result {
        Ok(s) => ExportSummary { skipped, ..s },
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ExportError::Io { path, source }
    };
    if out.exists() {
        fs::remove_dir(out).map_err(io(out))?;
    }
    fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    fs::rename(&tmp, out).map_err(io(out))?;
    Ok(summary)
}

fn write_all(root: &Path, runs: BTreeMap<String, RunRows>) -> Result<ExportSummary, ExportError> {
    let mut summary = ExportSummary::default();
    for (run, mut rows) in runs {
        let dir = root.join(run_dir(&run));
        let shown = run_dir(&run).to_string_lossy().replace('\\', "/");
        if shown != run && !(run == "." && shown.is_empty()) {
            summary.renamed.push((run.clone(), shown));
        }
        if rows.files.is_empty() {
            rows.files.insert(String::new(), Vec::new());
        }
        let first = rows.files.keys().next().cloned().unwrap_or_default();
        let hparams = std::mem::take(&mut rows.hparams);
        if let Some(f) = rows.files.get_mut(&first) {
            f.extend(hparams);
        }
        let n_files = rows.files.len();
        // Each file's rows, assembled into values: superseded first, then the others.
        let mut files: Vec<(String, Vec<(Row, pb::summary::Value)>)> = Vec::new();
        for (fname, file_rows) in rows.files {
            let mut values = assemble(file_rows);
            values.sort_by_key(|(r, _)| !r.superseded);
            files.push((fname, values));
        }
        // Restart steps. A file's superseded values need a START only where no later START
        // covers them; it goes at one more than the largest step not superseded before it
        // (the lowest step that hides none of those), or at the smallest step it must hide
        // when nothing is kept before it. Working from the last file back keeps the STARTs as
        // few as the original run had.
        let mut kept_before: Vec<Option<i64>> = Vec::with_capacity(files.len());
        let mut max_kept: Option<i64> = None;
        for (_, values) in &files {
            kept_before.push(max_kept);
            for (r, _) in values.iter().filter(|(r, _)| !r.superseded) {
                max_kept = Some(max_kept.map_or(r.step, |m| m.max(r.step)));
            }
        }
        let mut starts: Vec<Option<i64>> = vec![None; files.len()];
        let mut later_start = i64::MAX;
        for (k, (_, values)) in files.iter().enumerate().rev() {
            let uncovered = values
                .iter()
                .filter(|(r, _)| r.superseded && r.step < later_start)
                .map(|(r, _)| r.step)
                .min();
            if let Some(lowest) = uncovered {
                // At the head of the next file, where a restarted writer put it, when a START
                // there hides nothing kept; else in this file, after its superseded values.
                let next = kept_before
                    .get(k + 1)
                    .map(|m| m.map_or(lowest, |m| m.saturating_add(1)))
                    .filter(|&s| s <= lowest && starts[k + 1].is_none());
                let (at, s) = match (next, kept_before[k]) {
                    (Some(s), _) => (k + 1, s),
                    (None, Some(m)) => (k, m.saturating_add(1)),
                    (None, None) => (k, lowest),
                };
                starts[at] = Some(s);
                later_start = later_start.min(s);
            }
        }
        // Check the flags the layout gives: a value is superseded when a later START has a
        // step at or below its own.
        let mut min_start = i64::MAX;
        for (k, (_, values)) in files.iter().enumerate().rev() {
            for (r, _) in values.iter().rev() {
                let after_start = !r.superseded;
                // Values after this file's START (the kept ones) see only later starts.
                let flagged = r.step
                    >= min_start.min(if after_start {
                        i64::MAX
                    } else {
                        starts[k].unwrap_or(i64::MAX)
                    });
                if flagged != r.superseded {
                    summary.flags_changed += 1;
                }
            }
            if let Some(s) = starts[k] {
                min_start = min_start.min(s);
            }
        }
        for (k, (fname, values)) in files.into_iter().enumerate() {
            let path_name = if fname.is_empty() {
                crate::writer::event_file_name(crate::writer::now(), "")
            } else {
                file_name(&fname)
            };
            if !fname.is_empty() && path_name != fname {
                summary.renamed.push((fname.clone(), path_name.clone()));
            }
            fs::create_dir_all(&dir).map_err(|source| ExportError::Io {
                path: dir.clone(),
                source,
            })?;
            let path = dir.join(&path_name);
            let io = |source| ExportError::Io {
                path: path.clone(),
                source,
            };
            let file = fs::OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)
                .map_err(io)?;
            drop(file);
            let writer = EventWriter::append(&path, FlushPolicy::default()).map_err(io)?;
            let first_time = values.first().map_or(0.0, |(r, _)| r.wall_time);
            writer
                .write(&pb::Event {
                    wall_time: first_time,
                    what: Some(pb::event::What::FileVersion(FILE_VERSION.into())),
                    ..Default::default()
                })
                .map_err(io)?;
            let mut start_written = false;
            for (r, v) in values {
                if !r.superseded && !start_written {
                    start_written = true;
                    if let Some(s) = starts[k] {
                        writer
                            .write(&session_start_event(s, r.wall_time))
                            .map_err(io)?;
                        summary.restarts += 1;
                    }
                }
                writer
                    .write(&pb::Event {
                        wall_time: r.wall_time,
                        step: r.step,
                        what: Some(pb::event::What::Summary(pb::Summary { value: vec![v] })),
                        ..Default::default()
                    })
                    .map_err(io)?;
                summary.values += 1;
            }
            if !start_written {
                if let Some(s) = starts[k] {
                    writer
                        .write(&session_start_event(s, first_time))
                        .map_err(io)?;
                    summary.restarts += 1;
                }
            }
            if k + 1 == n_files {
                if let Some(status) = rows.status {
                    let t = first_time;
                    writer
                        .write(&pb::Event {
                            wall_time: t,
                            what: Some(pb::event::What::Summary(pb::Summary {
                                value: vec![summary::hparams_session_end(status, t)],
                            })),
                            ..Default::default()
                        })
                        .map_err(io)?;
                }
            }
            writer.sync().map_err(io)?;
            summary.files += 1;
        }
        summary.runs += 1;
    }
    Ok(summary)
}

fn session_start_event(step: i64, wall_time: f64) -> pb::Event {
    pb::Event {
        wall_time,
        step,
        what: Some(pb::event::What::SessionLog(pb::SessionLog {
            status: pb::session_log::SessionStatus::Start as i32,
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_bits() {
        assert_eq!(f16_bits(1.0), 0x3c00);
        assert_eq!(f16_bits(-2.0), 0xc000);
        assert_eq!(f16_bits(65504.0), 0x7bff);
        assert_eq!(f16_bits(1e6), 0x7c00);
        assert_eq!(f16_bits(f32::NAN) & 0x7e00, 0x7e00);
        assert_eq!(f16_bits(5.960_464_5e-8), 0x0001, "smallest subnormal");
        assert_eq!(f16_bits(0.000_061_035_156), 0x0400, "smallest normal");
        assert_eq!(f16_bits(0.333_251_95), 0x3555);
    }

    #[test]
    fn names_stay_inside_the_output() {
        assert_eq!(run_dir("."), PathBuf::new());
        assert_eq!(run_dir("a/b"), PathBuf::from("a/b"));
        assert_eq!(run_dir("../x"), PathBuf::from("%2E%2E/x"));
        assert_eq!(run_dir("/abs"), PathBuf::from("%00/abs"));
        assert_eq!(
            file_name("events.out.tfevents.1.h"),
            "events.out.tfevents.1.h"
        );
        assert_eq!(file_name("../evil"), "events.out.tfevents...%2Fevil");
        assert_eq!(dtype_number("float64"), Some(dtype::DOUBLE));
        assert_eq!(dtype_number("bfloat16"), Some(dtype::BFLOAT16));
        assert_eq!(dtype_number("dtype_99"), Some(99));
    }
}
