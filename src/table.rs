//! Arrow tables of a run's values: one schema per kind, rows sorted by tag and step.
//!
//! Rows are collected per run ([`RunRows`]) and turned into Arrow record batches that the
//! Parquet sink writes. `run`, `tag` and other repeated strings are dictionary-encoded.

use std::sync::{Arc, OnceLock};

use arrow_array::builder::{
    BinaryBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use rustc_hash::FxHashMap;

use crate::bytes_eq::same;
use crate::json::{hparams_status_name, image_format, proto_value_json};
use crate::run::{Point, RunReport};
use crate::value::{dtype, Hparams, TensorData, Value};

/// The tables a conversion writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// `scalars`: one row per scalar.
    Scalars,
    /// `histograms`: one row per histogram, buckets as lists.
    Histograms,
    /// `images`: one row per image, encoded bytes as written.
    Images,
    /// `audio`: one row per clip, encoded bytes as written.
    Audio,
    /// `text`: one row per text value.
    Text,
    /// `tensors`: PR curves and every other plugin's tensors.
    Tensors,
    /// `hparams`: one row per hyperparameter of a session start.
    Hparams,
    /// `runs`: one row per run.
    Runs,
    /// `files`: one row per event file, with its damage report.
    Files,
}

impl Table {
    /// Every table, in output order.
    pub const ALL: [Table; 9] = [
        Table::Scalars,
        Table::Histograms,
        Table::Images,
        Table::Audio,
        Table::Text,
        Table::Tensors,
        Table::Hparams,
        Table::Runs,
        Table::Files,
    ];

    /// Tables of values (the ones `--kinds` chooses among).
    pub const VALUES: [Table; 7] = [
        Table::Scalars,
        Table::Histograms,
        Table::Images,
        Table::Audio,
        Table::Text,
        Table::Tensors,
        Table::Hparams,
    ];

    /// The table's name, also its file name without `.parquet`.
    pub fn name(self) -> &'static str {
        match self {
            Table::Scalars => "scalars",
            Table::Histograms => "histograms",
            Table::Images => "images",
            Table::Audio => "audio",
            Table::Text => "text",
            Table::Tensors => "tensors",
            Table::Hparams => "hparams",
            Table::Runs => "runs",
            Table::Files => "files",
        }
    }

    /// Parses a table name (singular kind names are accepted too: `scalar`, `image`, ...).
    pub fn parse(name: &str) -> Option<Table> {
        let name = name.trim();
        Table::ALL.into_iter().find(|t| {
            t.name() == name
                || t.name().strip_suffix('s') == Some(name)
                || (*t == Table::Tensors && name == "pr_curve")
        })
    }

    /// The Arrow schema of the table.
    pub fn schema(self) -> SchemaRef {
        static SCHEMAS: OnceLock<Vec<SchemaRef>> = OnceLock::new();
        let all = SCHEMAS.get_or_init(|| {
            Table::ALL
                .iter()
                .map(|t| Arc::new(t.build_schema()))
                .collect()
        });
        all[Table::ALL.iter().position(|t| *t == self).unwrap_or(0)].clone()
    }

    fn build_schema(self) -> Schema {
        let dict = || DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let f64_list = || DataType::List(Arc::new(Field::new("item", DataType::Float64, true)));
        let i64_list = || DataType::List(Arc::new(Field::new("item", DataType::Int64, true)));
        let head = || {
            vec![
                Field::new("run", dict(), false),
                Field::new("tag", dict(), false),
                Field::new("step", DataType::Int64, false),
                Field::new("wall_time", DataType::Float64, false),
            ]
        };
        let tail = || {
            vec![
                Field::new("superseded", DataType::Boolean, false),
                Field::new("file", dict(), false),
            ]
        };
        let with = |middle: Vec<Field>| {
            let mut f = head();
            f.extend(middle);
            f.extend(tail());
            Schema::new(f)
        };
        match self {
            Table::Scalars => with(vec![
                Field::new("value", DataType::Float64, false),
                Field::new("dtype", dict(), false),
            ]),
            Table::Histograms => with(vec![
                Field::new("min", DataType::Float64, true),
                Field::new("max", DataType::Float64, true),
                Field::new("num", DataType::Float64, true),
                Field::new("sum", DataType::Float64, true),
                Field::new("sum_squares", DataType::Float64, true),
                Field::new("bucket_left", f64_list(), false),
                Field::new("bucket_right", f64_list(), false),
                Field::new("bucket_count", f64_list(), false),
            ]),
            Table::Images => with(vec![
                Field::new("index", DataType::Int32, false),
                Field::new("width", DataType::Int64, false),
                Field::new("height", DataType::Int64, false),
                Field::new("colorspace", DataType::Int32, true),
                Field::new("format", dict(), false),
                Field::new("data", DataType::Binary, false),
            ]),
            Table::Audio => with(vec![
                Field::new("index", DataType::Int32, false),
                Field::new("sample_rate", DataType::Float64, true),
                Field::new("channels", DataType::Int64, true),
                Field::new("frames", DataType::Int64, true),
                Field::new("content_type", DataType::Utf8, true),
                Field::new("label", DataType::Utf8, true),
                Field::new("data", DataType::Binary, false),
            ]),
            Table::Text => with(vec![
                Field::new("text", DataType::Utf8, false),
                Field::new("shape", i64_list(), false),
                Field::new(
                    "texts",
                    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                    false,
                ),
            ]),
            Table::Tensors => with(vec![
                Field::new("plugin", dict(), false),
                Field::new("dtype", dict(), false),
                Field::new("shape", i64_list(), false),
                Field::new("data", DataType::Binary, true),
                Field::new(
                    "strings",
                    DataType::List(Arc::new(Field::new("item", DataType::Binary, true))),
                    true,
                ),
            ]),
            Table::Hparams => Schema::new(vec![
                Field::new("run", dict(), false),
                Field::new("name", DataType::Utf8, false),
                Field::new("value", DataType::Utf8, false),
                Field::new("number", DataType::Float64, true),
                Field::new("string", DataType::Utf8, true),
                Field::new("bool", DataType::Boolean, true),
                Field::new("group_name", DataType::Utf8, false),
                Field::new("step", DataType::Int64, false),
                Field::new("wall_time", DataType::Float64, false),
                Field::new("superseded", DataType::Boolean, false),
            ]),
            Table::Runs => Schema::new(vec![
                Field::new("run", DataType::Utf8, false),
                Field::new("path", DataType::Utf8, false),
                Field::new("files", DataType::Int64, false),
                Field::new("events", DataType::Int64, false),
                Field::new("scalars", DataType::Int64, false),
                Field::new("histograms", DataType::Int64, false),
                Field::new("images", DataType::Int64, false),
                Field::new("audio", DataType::Int64, false),
                Field::new("text", DataType::Int64, false),
                Field::new("tensors", DataType::Int64, false),
                Field::new("hparams", DataType::Int64, false),
                Field::new("superseded", DataType::Int64, false),
                Field::new("first_step", DataType::Int64, true),
                Field::new("last_step", DataType::Int64, true),
                Field::new("first_wall_time", DataType::Float64, true),
                Field::new("last_wall_time", DataType::Float64, true),
                Field::new("restarts", DataType::Int64, false),
                Field::new("status", DataType::Utf8, true),
                Field::new("damaged_files", DataType::Int64, false),
            ]),
            Table::Files => Schema::new(vec![
                Field::new("run", DataType::Utf8, false),
                Field::new("path", DataType::Utf8, false),
                Field::new("size", DataType::Int64, false),
                Field::new("events", DataType::Int64, false),
                Field::new("file_version", DataType::Utf8, true),
                Field::new("clean", DataType::Boolean, false),
                Field::new("records_read", DataType::Int64, false),
                Field::new("bad_data_crc", DataType::Int64, false),
                Field::new("bad_length_crc", DataType::Int64, false),
                Field::new("resync_bytes", DataType::Int64, false),
                Field::new("truncated_bytes", DataType::Int64, false),
                Field::new("undecodable_events", DataType::Int64, false),
                Field::new("undecodable_values", DataType::Int64, false),
                Field::new("invalid_utf8", DataType::Int64, false),
                Field::new("error", DataType::Utf8, true),
            ]),
        }
    }
}

/// What every value row has.
#[derive(Debug, Clone, Copy)]
struct Key {
    /// Index into [`RunRows::tags`].
    tag: u32,
    step: i64,
    wall_time: f64,
    superseded: bool,
    file: u32,
}

/// One scalar row, in reading order.
#[derive(Debug, Clone, Copy)]
struct ScalarRow {
    step: i64,
    wall_time: f64,
    value: f64,
    /// Index into [`RunRows::tags`].
    tag: u32,
    file: u32,
    dtype: i32,
    superseded: bool,
}

/// No tag id.
const NO_TAG: u32 = u32::MAX;

/// Rows of one run, collected from its values; see [`RunRows::push`].
#[derive(Debug, Default)]
pub struct RunRows {
    /// Tag names, by id.
    tags: Vec<String>,
    tag_ids: FxHashMap<Box<str>, u32>,
    /// For each tag id, the id of the tag that came after it last time: writers log the same
    /// tags in the same order step after step, so this usually names the next tag without a
    /// hash lookup.
    next_tag: Vec<u32>,
    /// The id of the last tag looked up, or [`NO_TAG`].
    last_tag: u32,
    /// Which value tables to fill.
    enabled: [bool; 7],
    scalars: Vec<ScalarRow>,
    histograms: Vec<(Key, crate::value::Histogram)>,
    images: Vec<(Key, crate::value::Image)>,
    audio: Vec<(Key, crate::value::Audio)>,
    text: Vec<(Key, crate::value::Text)>,
    tensors: Vec<(Key, String, i32, Vec<i64>, TensorData)>,
    hparams: Vec<(Key, crate::proto::tensorboard::hparams::SessionStartInfo)>,
    /// Status of the last session end, if any.
    status: Option<&'static str>,
    /// Drop superseded values instead of keeping them flagged.
    purge: bool,
    /// Superseded values seen (kept or dropped).
    superseded: u64,
    /// Values of each kind (in [`Table::VALUES`] order) that pass the filters, whether or not
    /// their table is written; for the `runs` table.
    counts: [u64; 7],
    /// Estimated memory held by the collected rows, in bytes.
    bytes: u64,
    steps: Option<(i64, i64)>,
    wall_times: Option<(f64, f64)>,
}

impl RunRows {
    /// Empty rows that will keep the value tables in `tables` (others are ignored). With
    /// `purge`, superseded values are dropped.
    pub fn new(tables: &[Table], purge: bool) -> Self {
        let mut enabled = [false; 7];
        for t in tables {
            if let Some(i) = Table::VALUES.iter().position(|v| v == t) {
                enabled[i] = true;
            }
        }
        RunRows {
            enabled,
            purge,
            last_tag: NO_TAG,
            ..Default::default()
        }
    }

    fn on(&self, t: Table) -> bool {
        Table::VALUES
            .iter()
            .position(|v| *v == t)
            .is_some_and(|i| self.enabled[i])
    }

    #[inline(always)]
    fn tag_id(&mut self, tag: &str) -> u32 {
        let last = self.last_tag;
        if let Some(&guess) = self.next_tag.get(last as usize) {
            if self
                .tags
                .get(guess as usize)
                .is_some_and(|t| same(t.as_bytes(), tag.as_bytes()))
            {
                self.last_tag = guess;
                return guess;
            }
        }
        let id = self.lookup_tag(tag);
        if let Some(next) = self.next_tag.get_mut(last as usize) {
            *next = id;
        }
        self.last_tag = id;
        id
    }

    #[inline(never)]
    fn lookup_tag(&mut self, tag: &str) -> u32 {
        if let Some(&id) = self.tag_ids.get(tag) {
            return id;
        }
        let id = self.tags.len() as u32;
        self.tags.push(tag.to_owned());
        self.tag_ids.insert(tag.into(), id);
        self.next_tag.push(NO_TAG);
        id
    }

    /// The run's step and time range so far, with a value at `step` and `wall_time`.
    #[inline]
    fn note_range(&mut self, step: i64, w: f64) {
        self.steps = Some(match self.steps {
            None => (step, step),
            Some((a, b)) => (a.min(step), b.max(step)),
        });
        self.wall_times = Some(match self.wall_times {
            None => (w, w),
            Some((a, b)) => (a.min(w), b.max(w)),
        });
    }

    /// Adds one value. Session ends set the run's status; graphs and session logs are not
    /// tabulated.
    pub fn push(&mut self, p: &Point<'_>) {
        if let Value::Scalar(s) = &p.value {
            // The common case, as below without the other kinds.
            self.note_range(p.step.0, p.wall_time.0);
            if p.superseded {
                self.superseded += 1;
                if self.purge {
                    return;
                }
            }
            self.counts[0] += 1;
            if !self.enabled[0] {
                return;
            }
            self.bytes += value_bytes(&p.value);
            let tag = self.tag_id(p.tag);
            self.scalars.push(ScalarRow {
                step: p.step.0,
                wall_time: p.wall_time.0,
                value: s.value,
                tag,
                file: p.file as u32,
                dtype: s.dtype,
                superseded: p.superseded,
            });
            return;
        }
        if let Value::Hparams(h) = &p.value {
            if let Hparams::SessionEnd(e) = &**h {
                self.status = Some(hparams_status_name(e.status));
            }
        }
        let table = match &p.value {
            Value::Scalar(_) => Table::Scalars,
            Value::Histogram(_) => Table::Histograms,
            Value::Image(_) => Table::Images,
            Value::Audio(_) => Table::Audio,
            Value::Text(_) => Table::Text,
            Value::PrCurve(_) | Value::Tensor(_) => Table::Tensors,
            Value::Hparams(h) if matches!(**h, Hparams::SessionStart(_)) => Table::Hparams,
            _ => return,
        };
        let w = p.wall_time.0;
        self.note_range(p.step.0, w);
        if p.superseded {
            self.superseded += 1;
            if self.purge {
                return;
            }
        }
        let slot = Table::VALUES.iter().position(|v| *v == table).unwrap_or(0);
        self.counts[slot] += match &p.value {
            Value::Hparams(h) => match &**h {
                Hparams::SessionStart(s) => s.hparams.len() as u64,
                _ => 1,
            },
            _ => 1,
        };
        if !self.on(table) {
            return;
        }
        self.bytes += value_bytes(&p.value);
        let key = Key {
            tag: self.tag_id(p.tag),
            step: p.step.0,
            wall_time: w,
            superseded: p.superseded,
            file: p.file as u32,
        };
        match &p.value {
            Value::Histogram(h) => self.histograms.push((key, (**h).clone())),
            Value::Image(i) => self.images.push((key, (**i).clone())),
            Value::Audio(a) => self.audio.push((key, (**a).clone())),
            Value::Text(t) => self.text.push((key, (**t).clone())),
            Value::PrCurve(c) => {
                let n = c.tp.len();
                let mut data = Vec::with_capacity(6 * n * 8);
                for row in [&c.tp, &c.fp, &c.tn, &c.fn_, &c.precision, &c.recall] {
                    for &v in row {
                        if c.dtype == dtype::DOUBLE {
                            data.extend_from_slice(&v.to_le_bytes());
                        } else {
                            data.extend_from_slice(&(v as f32).to_le_bytes());
                        }
                    }
                }
                let dt = if c.dtype == dtype::DOUBLE {
                    dtype::DOUBLE
                } else {
                    dtype::FLOAT
                };
                self.tensors.push((
                    key,
                    "pr_curves".to_owned(),
                    dt,
                    vec![6, n as i64],
                    TensorData::Bytes(data),
                ));
            }
            Value::Tensor(t) => self.tensors.push((
                key,
                t.plugin.clone(),
                t.dtype,
                t.shape.clone(),
                t.data.clone(),
            )),
            Value::Hparams(h) => {
                if let Hparams::SessionStart(s) = &**h {
                    self.hparams.push((key, s.clone()));
                }
            }
            _ => {}
        }
    }

    /// Estimated memory held by the rows collected so far, in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Number of rows collected for a value table.
    pub fn len(&self, table: Table) -> usize {
        match table {
            Table::Scalars => self.scalars.len(),
            Table::Histograms => self.histograms.len(),
            Table::Images => self.images.len(),
            Table::Audio => self.audio.len(),
            Table::Text => self.text.len(),
            Table::Tensors => self.tensors.len(),
            Table::Hparams => self.hparams.iter().map(|(_, s)| s.hparams.len()).sum(),
            Table::Runs | Table::Files => 1,
        }
    }

    /// Builds the record batch of `table` for this run (rows sorted by tag, then step, then
    /// reading order). `run` names the run, `dir` is its directory, `report` its read report.
    pub fn batch(
        &mut self,
        table: Table,
        run: &str,
        dir: &str,
        report: &RunReport,
    ) -> Result<RecordBatch, ArrowError> {
        // Rank of each tag id in sorted tag order.
        let mut order: Vec<u32> = (0..self.tags.len() as u32).collect();
        order.sort_by(|&a, &b| self.tags[a as usize].cmp(&self.tags[b as usize]));
        let mut rank = vec![0u32; self.tags.len()];
        for (r, &id) in order.iter().enumerate() {
            rank[id as usize] = r as u32;
        }
        let sorted_tags: Vec<&str> = order
            .iter()
            .map(|&id| self.tags[id as usize].as_str())
            .collect();
        let files: Vec<String> = report
            .files
            .iter()
            .map(|f| {
                f.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let schema = table.schema();
        let cols: Vec<ArrayRef> = match table {
            Table::Scalars => {
                let rows = &self.scalars;
                let n = rows.len();
                // Rows grouped by tag rank with a counting sort, in reading order within a
                // tag, written straight into the columns.
                let mut start = vec![0usize; rank.len() + 1];
                for r in rows {
                    start[rank[r.tag as usize] as usize + 1] += 1;
                }
                for g in 1..start.len() {
                    start[g] += start[g - 1];
                }
                let mut next = start.clone();
                let mut tag_keys = vec![0i32; n];
                let mut steps = vec![0i64; n];
                let mut wall_times = vec![0f64; n];
                let mut values = vec![0f64; n];
                let mut dtype_of = vec![0i32; n];
                let mut superseded = vec![false; n];
                let mut file_keys = vec![0i32; n];
                for r in rows {
                    let g = rank[r.tag as usize] as usize;
                    let i = next[g];
                    next[g] += 1;
                    tag_keys[i] = g as i32;
                    steps[i] = r.step;
                    wall_times[i] = r.wall_time;
                    values[i] = r.value;
                    dtype_of[i] = r.dtype;
                    superseded[i] = r.superseded;
                    file_keys[i] = r.file as i32;
                }
                // Each tag's rows by step, keeping reading order among equal steps; they
                // nearly always are in step order already.
                for w in start.windows(2) {
                    let (a, b) = (w[0], w[1]);
                    if steps[a..b].is_sorted() {
                        continue;
                    }
                    let mut perm: Vec<usize> = (a..b).collect();
                    perm.sort_by_key(|&i| steps[i]);
                    fn permute<T: Copy>(v: &mut [T], perm: &[usize], a: usize) {
                        let sorted: Vec<T> = perm.iter().map(|&i| v[i]).collect();
                        v[a..a + sorted.len()].copy_from_slice(&sorted);
                    }
                    permute(&mut steps, &perm, a);
                    permute(&mut wall_times, &perm, a);
                    permute(&mut values, &perm, a);
                    permute(&mut dtype_of, &perm, a);
                    permute(&mut superseded, &perm, a);
                    permute(&mut file_keys, &perm, a);
                }
                let tag_values: ArrayRef = Arc::new(StringArray::from(sorted_tags.to_vec()));
                let file_values: ArrayRef = Arc::new(StringArray::from(files.to_vec()));
                vec![
                    run_column(run, n)?,
                    dictionary(tag_keys, tag_values)?,
                    Arc::new(Int64Array::from(steps)),
                    Arc::new(Float64Array::from(wall_times)),
                    Arc::new(Float64Array::from(values)),
                    dict_column(dtype_of.into_iter(), |d| dtype::name(d).into_owned())?,
                    Arc::new(BooleanArray::from(superseded)),
                    dictionary(file_keys, file_values)?,
                ]
            }
            Table::Histograms => {
                let rows = sorted(&self.histograms, |r| &r.0, &rank);
                let mut c = key_columns(rows.iter().map(|r| &r.0), run, &rank, &sorted_tags)?;
                type Get = fn(&crate::value::Histogram) -> Option<f64>;
                let getters: [Get; 5] = [
                    |h| h.min,
                    |h| h.max,
                    |h| h.num,
                    |h| h.sum,
                    |h| h.sum_squares,
                ];
                for g in getters {
                    c.push(Arc::new(
                        rows.iter().map(|r| g(&r.1)).collect::<Float64Array>(),
                    ));
                }
                type List = fn(&crate::value::Histogram) -> &Vec<f64>;
                let lists: [List; 3] = [|h| &h.left, |h| &h.right, |h| &h.count];
                for l in lists {
                    let mut b = ListBuilder::new(Float64Builder::new());
                    for r in &rows {
                        b.values().append_slice(l(&r.1));
                        b.append(true);
                    }
                    c.push(Arc::new(b.finish()));
                }
                c.extend(tail_columns(rows.iter().map(|r| &r.0), &files)?);
                c
            }
            Table::Images => {
                let rows = sorted(&self.images, |r| &r.0, &rank);
                let mut c = key_columns(rows.iter().map(|r| &r.0), run, &rank, &sorted_tags)?;
                c.push(Arc::new(Int32Array::from_iter_values(
                    rows.iter().map(|r| r.1.index as i32),
                )));
                c.push(Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.1.width),
                )));
                c.push(Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.1.height),
                )));
                c.push(Arc::new(
                    rows.iter().map(|r| r.1.colorspace).collect::<Int32Array>(),
                ));
                c.push(dict_column(
                    rows.iter().map(|r| image_format(&r.1.data)),
                    str::to_owned,
                )?);
                c.push(Arc::new(BinaryArray::from_iter_values(
                    rows.iter().map(|r| &r.1.data),
                )));
                c.extend(tail_columns(rows.iter().map(|r| &r.0), &files)?);
                c
            }
            Table::Audio => {
                let rows = sorted(&self.audio, |r| &r.0, &rank);
                let mut c = key_columns(rows.iter().map(|r| &r.0), run, &rank, &sorted_tags)?;
                c.push(Arc::new(Int32Array::from_iter_values(
                    rows.iter().map(|r| r.1.index as i32),
                )));
                c.push(Arc::new(
                    rows.iter()
                        .map(|r| r.1.sample_rate)
                        .collect::<Float64Array>(),
                ));
                c.push(Arc::new(
                    rows.iter().map(|r| r.1.channels).collect::<Int64Array>(),
                ));
                c.push(Arc::new(
                    rows.iter().map(|r| r.1.frames).collect::<Int64Array>(),
                ));
                c.push(Arc::new(
                    rows.iter()
                        .map(|r| r.1.content_type.as_deref())
                        .collect::<StringArray>(),
                ));
                c.push(Arc::new(
                    rows.iter()
                        .map(|r| r.1.label.as_deref())
                        .collect::<StringArray>(),
                ));
                c.push(Arc::new(BinaryArray::from_iter_values(
                    rows.iter().map(|r| &r.1.data),
                )));
                c.extend(tail_columns(rows.iter().map(|r| &r.0), &files)?);
                c
            }
            Table::Text => {
                let rows = sorted(&self.text, |r| &r.0, &rank);
                let mut c = key_columns(rows.iter().map(|r| &r.0), run, &rank, &sorted_tags)?;
                c.push(Arc::new(
                    rows.iter()
                        .map(|r| Some(r.1.strings.join("\n")))
                        .collect::<StringArray>(),
                ));
                c.push(shape_column(rows.iter().map(|r| &r.1.shape)));
                let mut b = ListBuilder::new(StringBuilder::new());
                for r in &rows {
                    for s in &r.1.strings {
                        b.values().append_value(s);
                    }
                    b.append(true);
                }
                c.push(Arc::new(b.finish()));
                c.extend(tail_columns(rows.iter().map(|r| &r.0), &files)?);
                c
            }
            Table::Tensors => {
                let rows = sorted(&self.tensors, |r| &r.0, &rank);
                let mut c = key_columns(rows.iter().map(|r| &r.0), run, &rank, &sorted_tags)?;
                c.push(dict_column(
                    rows.iter().map(|r| r.1.as_str()),
                    str::to_owned,
                )?);
                c.push(dict_column(rows.iter().map(|r| r.2), |d| {
                    dtype::name(d).into_owned()
                })?);
                c.push(shape_column(rows.iter().map(|r| &r.3)));
                let mut data = BinaryBuilder::new();
                let mut strings = ListBuilder::new(BinaryBuilder::new());
                for r in &rows {
                    match &r.4 {
                        TensorData::Bytes(b) => {
                            data.append_value(b);
                            strings.append(false);
                        }
                        TensorData::Strings(s) => {
                            data.append_null();
                            for x in s {
                                strings.values().append_value(x);
                            }
                            strings.append(true);
                        }
                    }
                }
                c.push(Arc::new(data.finish()));
                c.push(Arc::new(strings.finish()));
                c.extend(tail_columns(rows.iter().map(|r| &r.0), &files)?);
                c
            }
            Table::Hparams => {
                let mut names = Vec::new();
                let mut values = Vec::new();
                let mut numbers = Vec::new();
                let mut strings = Vec::new();
                let mut bools = Vec::new();
                let mut groups = Vec::new();
                let mut steps = Vec::new();
                let mut walls = Vec::new();
                let mut sup = Vec::new();
                for (key, s) in &self.hparams {
                    let mut keys: Vec<&String> = s.hparams.keys().collect();
                    keys.sort();
                    for k in keys {
                        use prost_types::value::Kind as K;
                        let v = &s.hparams[k];
                        names.push(k.clone());
                        let text = match &v.kind {
                            Some(K::StringValue(t)) => t.clone(),
                            // Integral numbers read best without a fraction: 32, not 32.0.
                            Some(K::NumberValue(n)) if n.fract() == 0.0 && n.abs() < 1e15 => {
                                format!("{}", *n as i64)
                            }
                            _ => proto_value_json(v),
                        };
                        values.push(text);
                        numbers.push(match v.kind {
                            Some(K::NumberValue(n)) => Some(n),
                            _ => None,
                        });
                        strings.push(match &v.kind {
                            Some(K::StringValue(t)) => Some(t.clone()),
                            _ => None,
                        });
                        bools.push(match v.kind {
                            Some(K::BoolValue(b)) => Some(b),
                            _ => None,
                        });
                        groups.push(s.group_name.clone());
                        steps.push(key.step);
                        walls.push(key.wall_time);
                        sup.push(key.superseded);
                    }
                }
                let n = names.len();
                vec![
                    run_column(run, n)?,
                    Arc::new(StringArray::from(names)),
                    Arc::new(StringArray::from(values)),
                    Arc::new(Float64Array::from(numbers)),
                    Arc::new(StringArray::from(strings)),
                    Arc::new(BooleanArray::from(bools)),
                    Arc::new(StringArray::from(groups)),
                    Arc::new(Int64Array::from(steps)),
                    Arc::new(Float64Array::from(walls)),
                    Arc::new(BooleanArray::from(sup)),
                ]
            }
            Table::Runs => {
                let i = |v: usize| Arc::new(Int64Array::from(vec![v as i64])) as ArrayRef;
                let events: u64 = report.files.iter().map(|f| f.events).sum();
                let damaged = report.files.iter().filter(|f| !f.is_clean()).count();
                vec![
                    Arc::new(StringArray::from(vec![run])),
                    Arc::new(StringArray::from(vec![dir])),
                    i(report.files.len()),
                    i(events as usize),
                    i(self.counts[0] as usize),
                    i(self.counts[1] as usize),
                    i(self.counts[2] as usize),
                    i(self.counts[3] as usize),
                    i(self.counts[4] as usize),
                    i(self.counts[5] as usize),
                    i(self.counts[6] as usize),
                    i(self.superseded as usize),
                    Arc::new(Int64Array::from(vec![self.steps.map(|s| s.0)])),
                    Arc::new(Int64Array::from(vec![self.steps.map(|s| s.1)])),
                    Arc::new(Float64Array::from(vec![self.wall_times.map(|s| s.0)])),
                    Arc::new(Float64Array::from(vec![self.wall_times.map(|s| s.1)])),
                    i(report.restarts.len()),
                    Arc::new(StringArray::from(vec![self.status])),
                    i(damaged),
                ]
            }
            Table::Files => {
                let f = &report.files;
                let int = |g: &dyn Fn(&crate::run::FileReport) -> u64| {
                    Arc::new(Int64Array::from_iter_values(f.iter().map(|x| g(x) as i64)))
                        as ArrayRef
                };
                vec![
                    Arc::new(StringArray::from_iter_values(f.iter().map(|_| run))),
                    Arc::new(StringArray::from_iter_values(
                        f.iter().map(|x| x.path.to_string_lossy().into_owned()),
                    )),
                    int(&|x| x.size),
                    int(&|x| x.events),
                    Arc::new(
                        f.iter()
                            .map(|x| x.file_version.as_deref())
                            .collect::<StringArray>(),
                    ),
                    Arc::new(BooleanArray::from(
                        f.iter().map(|x| x.is_clean()).collect::<Vec<_>>(),
                    )),
                    int(&|x| x.damage.records_read),
                    int(&|x| x.damage.bad_data_crc),
                    int(&|x| x.damage.bad_length_crc),
                    int(&|x| x.damage.resync_bytes),
                    int(&|x| x.damage.truncated_bytes),
                    int(&|x| x.issues.undecodable_events),
                    int(&|x| x.issues.undecodable_values),
                    int(&|x| x.issues.invalid_utf8),
                    Arc::new(
                        f.iter()
                            .map(|x| x.error.as_deref())
                            .collect::<StringArray>(),
                    ),
                ]
            }
        };
        RecordBatch::try_new(schema, cols)
    }
}

/// Rough memory a value takes once collected as a row (for bounding memory, not exact).
pub fn value_bytes(v: &Value) -> u64 {
    const ROW: u64 = 48;
    ROW + match v {
        Value::Histogram(h) => 24 * h.count.len() as u64,
        Value::Image(i) => i.data.len() as u64,
        Value::Audio(a) => a.data.len() as u64,
        Value::Text(t) => t.strings.iter().map(|s| s.len() as u64 + 24).sum(),
        Value::PrCurve(c) => 48 * c.tp.len() as u64,
        Value::Tensor(t) => match &t.data {
            TensorData::Bytes(b) => b.len() as u64,
            TensorData::Strings(s) => s.iter().map(|x| x.len() as u64 + 24).sum(),
        },
        _ => 0,
    }
}

/// The rows in table order: by tag rank, then step, keeping reading order among equal keys
/// (so several images of one step stay in index order). Rows are grouped by tag with a counting
/// sort of their indices; each group is then sorted by step only if it is not already in order,
/// the usual case. Rows themselves are not moved.
fn sorted<'r, T>(rows: &'r [T], key: impl Fn(&T) -> &Key, rank: &[u32]) -> Vec<&'r T> {
    let mut next = vec![0usize; rank.len() + 1];
    for r in rows {
        next[rank[key(r).tag as usize] as usize + 1] += 1;
    }
    for g in 1..next.len() {
        next[g] += next[g - 1];
    }
    let bounds = next.clone();
    let mut order = vec![0u32; rows.len()];
    for (i, r) in rows.iter().enumerate() {
        let g = rank[key(r).tag as usize] as usize;
        order[next[g]] = i as u32;
        next[g] += 1;
    }
    let step = |i: &u32| key(&rows[*i as usize]).step;
    for w in bounds.windows(2) {
        let group = &mut order[w[0]..w[1]];
        if !group.is_sorted_by_key(step) {
            group.sort_by_key(step);
        }
    }
    order.iter().map(|&i| &rows[i as usize]).collect()
}

/// A dictionary array of `values` indexed by `keys`, with one quick check that every key is in
/// range (the one `DictionaryArray::try_new` makes takes several times longer).
fn dictionary(keys: Vec<i32>, values: ArrayRef) -> Result<ArrayRef, ArrowError> {
    // Negative keys become large as u32.
    let max = keys.iter().fold(0u32, |m, &k| m.max(k as u32));
    if !keys.is_empty() && max as usize >= values.len() {
        return Err(ArrowError::InvalidArgumentError(format!(
            "dictionary key {max} out of range for {} values",
            values.len()
        )));
    }
    // SAFETY: every key indexes `values`, checked just above; the keys have no nulls.
    let array =
        unsafe { DictionaryArray::<Int32Type>::new_unchecked(Int32Array::from(keys), values) };
    Ok(Arc::new(array))
}

/// A dictionary column holding `run` in all `n` rows.
fn run_column(run: &str, n: usize) -> Result<ArrayRef, ArrowError> {
    let values: ArrayRef = Arc::new(StringArray::from(vec![run]));
    dictionary(vec![0; n], values)
}

/// A dictionary column from per-row keys, each distinct key named once by `name`.
fn dict_column<K: std::hash::Hash + Eq + Copy>(
    items: impl Iterator<Item = K>,
    name: impl Fn(K) -> String,
) -> Result<ArrayRef, ArrowError> {
    let mut ids: FxHashMap<K, i32> = FxHashMap::default();
    let mut values: Vec<String> = Vec::new();
    let mut keys = Vec::new();
    let mut last: Option<(K, i32)> = None;
    for k in items {
        let id = match last {
            Some((lk, id)) if lk == k => id,
            _ => *ids.entry(k).or_insert_with(|| {
                values.push(name(k));
                values.len() as i32 - 1
            }),
        };
        last = Some((k, id));
        keys.push(id);
    }
    let values: ArrayRef = Arc::new(StringArray::from(values));
    dictionary(keys, values)
}

fn key_columns<'a>(
    keys: impl Iterator<Item = &'a Key> + Clone,
    run: &str,
    rank: &[u32],
    sorted_tags: &[&str],
) -> Result<Vec<ArrayRef>, ArrowError> {
    let n = keys.clone().count();
    let tag_keys: Vec<i32> = keys.clone().map(|k| rank[k.tag as usize] as i32).collect();
    let tag_values: ArrayRef = Arc::new(StringArray::from(sorted_tags.to_vec()));
    Ok(vec![
        run_column(run, n)?,
        dictionary(tag_keys, tag_values)?,
        Arc::new(Int64Array::from_iter_values(keys.clone().map(|k| k.step))),
        Arc::new(Float64Array::from_iter_values(keys.map(|k| k.wall_time))),
    ])
}

fn tail_columns<'a>(
    keys: impl Iterator<Item = &'a Key> + Clone,
    files: &[String],
) -> Result<Vec<ArrayRef>, ArrowError> {
    let file_keys: Vec<i32> = keys.clone().map(|k| k.file as i32).collect();
    let file_values: ArrayRef = Arc::new(StringArray::from(files.to_vec()));
    Ok(vec![
        Arc::new(BooleanArray::from(
            keys.map(|k| k.superseded).collect::<Vec<_>>(),
        )),
        dictionary(file_keys, file_values)?,
    ])
}

fn shape_column<'a>(shapes: impl Iterator<Item = &'a Vec<i64>>) -> ArrayRef {
    let mut b = ListBuilder::new(Int64Builder::new());
    for s in shapes {
        b.values().append_slice(s);
        b.append(true);
    }
    Arc::new(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_ids_follow_the_usual_order_and_any_other() {
        let mut rows = RunRows::new(&[], false);
        let seq = ["a", "b", "c", "a", "b", "c", "c", "a", "d", "b", "a", "a"];
        let ids: Vec<u32> = seq.iter().map(|t| rows.tag_id(t)).collect();
        assert_eq!(ids, [0, 1, 2, 0, 1, 2, 2, 0, 3, 1, 0, 0]);
        assert_eq!(rows.tags, ["a", "b", "c", "d"]);
    }
}
