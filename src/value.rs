//! One value model for every writer: TF1 protos and TF2 plugin tensors normalised to [`Value`].
//!
//! How each writer stores each kind is described in the README ("What is read"). Plugin names
//! are TensorBoard's (`scalars`, `histograms`, `images`, `audio`, `text`, `pr_curves`, `hparams`).

use prost::Message;
use rustc_hash::FxHashMap;
use thiserror::Error;

use crate::event::{
    decode_metadata, decode_session_log, lossy_utf8, summary_values, DecodeError, EventRef,
    SummaryValueRef, ValueRef, What,
};
use crate::proto::tensorboard as pb;
use crate::proto::tensorboard::hparams as hp;

/// TensorFlow `DataType` numbers used here (from `types.proto`).
pub mod dtype {
    use std::borrow::Cow;

    /// 32-bit float.
    pub const FLOAT: i32 = 1;
    /// 64-bit float.
    pub const DOUBLE: i32 = 2;
    /// 32-bit signed integer.
    pub const INT32: i32 = 3;
    /// 8-bit unsigned integer.
    pub const UINT8: i32 = 4;
    /// 16-bit signed integer.
    pub const INT16: i32 = 5;
    /// 8-bit signed integer.
    pub const INT8: i32 = 6;
    /// Byte string.
    pub const STRING: i32 = 7;
    /// Pair of 32-bit floats.
    pub const COMPLEX64: i32 = 8;
    /// 64-bit signed integer.
    pub const INT64: i32 = 9;
    /// Boolean.
    pub const BOOL: i32 = 10;
    /// Quantized 8-bit signed integer.
    pub const QINT8: i32 = 11;
    /// Quantized 8-bit unsigned integer.
    pub const QUINT8: i32 = 12;
    /// Quantized 32-bit signed integer.
    pub const QINT32: i32 = 13;
    /// bfloat16.
    pub const BFLOAT16: i32 = 14;
    /// Quantized 16-bit signed integer.
    pub const QINT16: i32 = 15;
    /// Quantized 16-bit unsigned integer.
    pub const QUINT16: i32 = 16;
    /// 16-bit unsigned integer.
    pub const UINT16: i32 = 17;
    /// Pair of 64-bit floats.
    pub const COMPLEX128: i32 = 18;
    /// IEEE half precision float.
    pub const HALF: i32 = 19;
    /// 32-bit unsigned integer.
    pub const UINT32: i32 = 22;
    /// 64-bit unsigned integer.
    pub const UINT64: i32 = 23;

    /// A short lowercase name (`float32`, `float64`, `int64`, `string`, ...), numpy-style.
    /// Reference types (`+100`) are named as their base type.
    pub fn name(dtype: i32) -> Cow<'static, str> {
        let base = if dtype > 100 { dtype - 100 } else { dtype };
        Cow::Borrowed(match base {
            FLOAT => "float32",
            DOUBLE => "float64",
            INT32 => "int32",
            UINT8 => "uint8",
            INT16 => "int16",
            INT8 => "int8",
            STRING => "string",
            COMPLEX64 => "complex64",
            INT64 => "int64",
            BOOL => "bool",
            QINT8 => "qint8",
            QUINT8 => "quint8",
            QINT32 => "qint32",
            BFLOAT16 => "bfloat16",
            QINT16 => "qint16",
            QUINT16 => "quint16",
            UINT16 => "uint16",
            COMPLEX128 => "complex128",
            HALF => "float16",
            UINT32 => "uint32",
            UINT64 => "uint64",
            _ => return Cow::Owned(format!("dtype_{dtype}")),
        })
    }

    /// Bytes per element, or `None` for strings and unknown types.
    pub fn size(dtype: i32) -> Option<usize> {
        let base = if dtype > 100 { dtype - 100 } else { dtype };
        Some(match base {
            UINT8 | INT8 | BOOL | QINT8 | QUINT8 => 1,
            INT16 | UINT16 | HALF | BFLOAT16 | QINT16 | QUINT16 => 2,
            FLOAT | INT32 | UINT32 | QINT32 => 4,
            DOUBLE | INT64 | UINT64 | COMPLEX64 => 8,
            COMPLEX128 => 16,
            _ => return None,
        })
    }
}

/// The kind of a value, as named in JSON output and table names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A number.
    Scalar,
    /// A bucketed distribution.
    Histogram,
    /// An encoded image.
    Image,
    /// An encoded audio clip.
    Audio,
    /// Text (markdown).
    Text,
    /// A precision-recall curve.
    PrCurve,
    /// Hyperparameters: an experiment, a session start or a session end.
    Hparams,
    /// Any other tensor, kept as written.
    Tensor,
    /// A serialized graph, meta graph or run metadata.
    Blob,
    /// A session start, stop or checkpoint marker.
    SessionLog,
    /// A log line (old TF1 files).
    LogMessage,
}

impl Kind {
    /// Every kind, in display order.
    pub const ALL: [Kind; 11] = [
        Kind::Scalar,
        Kind::Histogram,
        Kind::Image,
        Kind::Audio,
        Kind::Text,
        Kind::PrCurve,
        Kind::Hparams,
        Kind::Tensor,
        Kind::Blob,
        Kind::SessionLog,
        Kind::LogMessage,
    ];

    /// The lowercase name: `scalar`, `histogram`, `image`, `audio`, `text`, `pr_curve`,
    /// `hparams`, `tensor`, `blob`, `session_log`, `log_message`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Scalar => "scalar",
            Kind::Histogram => "histogram",
            Kind::Image => "image",
            Kind::Audio => "audio",
            Kind::Text => "text",
            Kind::PrCurve => "pr_curve",
            Kind::Hparams => "hparams",
            Kind::Tensor => "tensor",
            Kind::Blob => "blob",
            Kind::SessionLog => "session_log",
            Kind::LogMessage => "log_message",
        }
    }
}

/// A scalar, widened to `f64` without loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scalar {
    /// The value; NaN and infinities are kept.
    pub value: f64,
    /// The dtype it was stored as (see [`dtype`]); TF1 `simple_value` is [`dtype::FLOAT`].
    pub dtype: i32,
}

/// A histogram as buckets. Bucket `i` covers `(left[i], right[i]]` and holds `count[i]` values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Left edges. For TF1 histograms `left[i] = bucket_limit[i-1]` and `left[0]` is the smaller
    /// of `min` and `bucket_limit[0]`.
    pub left: Vec<f64>,
    /// Right edges. For TF1 histograms these are exactly the stored `bucket_limit`.
    pub right: Vec<f64>,
    /// Counts (doubles, as stored).
    pub count: Vec<f64>,
    /// Smallest value (TF1 only).
    pub min: Option<f64>,
    /// Largest value (TF1 only).
    pub max: Option<f64>,
    /// Number of values (TF1 only).
    pub num: Option<f64>,
    /// Sum of values (TF1 only).
    pub sum: Option<f64>,
    /// Sum of squared values (TF1 only).
    pub sum_squares: Option<f64>,
}

/// An encoded image, bytes as written (PNG, JPEG or GIF), never decoded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Image {
    /// Position among the images of this tag and step (TF2 writes several per value).
    pub index: u32,
    /// Width in pixels, as stored by the writer.
    pub width: i64,
    /// Height in pixels, as stored by the writer.
    pub height: i64,
    /// TF1 colorspace: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA, 5 YUV, 6 BGRA; `None` for TF2.
    pub colorspace: Option<i32>,
    /// The encoded image.
    pub data: Vec<u8>,
}

/// An encoded audio clip, bytes as written (normally WAV).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Audio {
    /// Position among the clips of this tag and step.
    pub index: u32,
    /// Samples per second (TF1: stored; TF2: read from the WAV header).
    pub sample_rate: Option<f64>,
    /// Channels (TF1: stored; TF2: read from the WAV header).
    pub channels: Option<i64>,
    /// Frames (TF1: stored; TF2: read from the WAV header).
    pub frames: Option<i64>,
    /// MIME type, e.g. `audio/wav` (TF1 only).
    pub content_type: Option<String>,
    /// Label text (TF2 only).
    pub label: Option<String>,
    /// The encoded clip.
    pub data: Vec<u8>,
}

/// Text summary: a string tensor of any shape (markdown).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Text {
    /// Shape of the string tensor (`[]` for one string).
    pub shape: Vec<i64>,
    /// Elements in row-major order.
    pub strings: Vec<String>,
}

/// A precision-recall curve: six rows of `num_thresholds` values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrCurve {
    /// The dtype the curve was stored as (normally [`dtype::FLOAT`]).
    pub dtype: i32,
    /// True positive counts per threshold.
    pub tp: Vec<f64>,
    /// False positive counts.
    pub fp: Vec<f64>,
    /// True negative counts.
    pub tn: Vec<f64>,
    /// False negative counts.
    pub fn_: Vec<f64>,
    /// Precision.
    pub precision: Vec<f64>,
    /// Recall.
    pub recall: Vec<f64>,
}

/// A value of the hparams plugin.
#[derive(Debug, Clone, PartialEq)]
pub enum Hparams {
    /// The experiment: declared hyperparameters and metrics.
    Experiment(hp::Experiment),
    /// A session (run) started with these hyperparameter values.
    SessionStart(hp::SessionStartInfo),
    /// A session ended.
    SessionEnd(hp::SessionEndInfo),
}

/// Values of a tensor, normalised from any of the protobuf encodings.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// Numeric elements as raw little-endian bytes in row-major order.
    Bytes(Vec<u8>),
    /// String elements in row-major order.
    Strings(Vec<Vec<u8>>),
}

/// Any other tensor, kept as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// The plugin that wrote it (empty when the value has no metadata).
    pub plugin: String,
    /// Element type (see [`dtype`]).
    pub dtype: i32,
    /// Shape, outermost first.
    pub shape: Vec<i64>,
    /// Elements. `*_val` fields shorter than the shape are expanded by repeating their last
    /// element, as TensorFlow does.
    pub data: TensorData,
}

/// What a [`Blob`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    /// A serialized GraphDef (`Event.graph_def`).
    GraphDef,
    /// A serialized MetaGraphDef (`Event.meta_graph_def`).
    MetaGraphDef,
    /// A serialized RunMetadata (`Event.tagged_run_metadata`).
    RunMetadata,
    /// An `obsolete_old_style_histogram` payload.
    OldHistogram,
}

impl BlobKind {
    /// Lowercase name: `graph_def`, `meta_graph_def`, `run_metadata`, `old_histogram`.
    pub fn as_str(self) -> &'static str {
        match self {
            BlobKind::GraphDef => "graph_def",
            BlobKind::MetaGraphDef => "meta_graph_def",
            BlobKind::RunMetadata => "run_metadata",
            BlobKind::OldHistogram => "old_histogram",
        }
    }
}

/// Opaque serialized data attached to a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    /// What the bytes are.
    pub kind: BlobKind,
    /// The bytes.
    pub data: Vec<u8>,
}

/// A session lifecycle marker.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionLog {
    /// 0 unspecified, 1 START, 2 STOP, 3 CHECKPOINT.
    pub status: i32,
    /// Checkpoint path (CHECKPOINT only).
    pub checkpoint_path: String,
    /// Free-form message.
    pub msg: String,
}

/// A log line from an old TF1 file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogMessage {
    /// 0 unknown, 10 debug, 20 info, 30 warn, 40 error, 50 fatal.
    pub level: i32,
    /// The message.
    pub message: String,
}

/// One value of any kind.
///
/// Everything but scalars is boxed, so that a value is small to move: most values in most logs
/// are scalars.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// See [`Scalar`].
    Scalar(Scalar),
    /// See [`Histogram`].
    Histogram(Box<Histogram>),
    /// See [`Image`].
    Image(Box<Image>),
    /// See [`Audio`].
    Audio(Box<Audio>),
    /// See [`Text`].
    Text(Box<Text>),
    /// See [`PrCurve`].
    PrCurve(Box<PrCurve>),
    /// See [`Hparams`].
    Hparams(Box<Hparams>),
    /// See [`Tensor`].
    Tensor(Box<Tensor>),
    /// See [`Blob`].
    Blob(Box<Blob>),
    /// See [`SessionLog`].
    SessionLog(Box<SessionLog>),
    /// See [`LogMessage`].
    LogMessage(Box<LogMessage>),
}

macro_rules! boxed_from {
    ($($kind:ident),*) => {$(
        impl From<$kind> for Value {
            fn from(v: $kind) -> Value {
                Value::$kind(Box::new(v))
            }
        }
    )*};
}

boxed_from!(Histogram, Image, Audio, Text, PrCurve, Hparams, Tensor, Blob, SessionLog, LogMessage);

impl Value {
    /// The kind of this value.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Scalar(_) => Kind::Scalar,
            Value::Histogram(_) => Kind::Histogram,
            Value::Image(_) => Kind::Image,
            Value::Audio(_) => Kind::Audio,
            Value::Text(_) => Kind::Text,
            Value::PrCurve(_) => Kind::PrCurve,
            Value::Hparams(_) => Kind::Hparams,
            Value::Tensor(_) => Kind::Tensor,
            Value::Blob(_) => Kind::Blob,
            Value::SessionLog(_) => Kind::SessionLog,
            Value::LogMessage(_) => Kind::LogMessage,
        }
    }
}

/// Tags given to values that events carry outside summaries.
pub mod special_tags {
    /// `Event.graph_def`.
    pub const GRAPH: &str = "__run_graph__";
    /// `Event.meta_graph_def`.
    pub const META_GRAPH: &str = "__run_meta_graph__";
    /// `Event.session_log`.
    pub const SESSION_LOG: &str = "__session_log__";
    /// `Event.log_message`.
    pub const LOG_MESSAGE: &str = "__log_message__";
}

/// A summary value whose payload could not be interpreted.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ValueError {
    /// The summary, or a value in it, is not a valid message.
    #[error("undecodable summary value: {0}")]
    Event(#[from] DecodeError),
    /// An inner message (tensor, histogram, image, plugin content) is not valid.
    #[error("undecodable {what}: {source}")]
    Proto {
        /// Which message.
        what: &'static str,
        /// The protobuf error.
        source: prost::DecodeError,
    },
    /// A tensor whose shape and contents do not agree.
    #[error("invalid tensor: {0}")]
    Tensor(&'static str),
}

/// Counts of problems met while normalising, reported per file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ValueIssues {
    /// Records that are not a valid `Event`.
    pub undecodable_events: u64,
    /// Summary values that could not be interpreted (skipped).
    pub undecodable_values: u64,
    /// Tags and strings that were not valid UTF-8 (decoded with U+FFFD).
    pub invalid_utf8: u64,
}

impl ValueIssues {
    /// Adds the counts of `other`.
    pub fn add(&mut self, other: &ValueIssues) {
        self.undecodable_events += other.undecodable_events;
        self.undecodable_values += other.undecodable_values;
        self.invalid_utf8 += other.invalid_utf8;
    }

    /// True when nothing went wrong.
    pub fn is_clean(&self) -> bool {
        *self == ValueIssues::default()
    }
}

/// The first metadata seen for a tag.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TagMetadata {
    /// Plugin name (empty when the writer set none).
    pub plugin: String,
    /// Plugin content bytes.
    pub content: Vec<u8>,
    /// Display name.
    pub display_name: String,
    /// Description (markdown).
    pub description: String,
    /// Data class (0 unknown, 1 scalar, 2 tensor, 3 blob sequence).
    pub data_class: i32,
}

/// Turns events into values, remembering the first metadata of each tag (TF1 writers send it
/// only with the first value of a tag). Use one per run, fed the run's files in order.
#[derive(Debug, Default)]
pub struct Normalizer {
    /// First metadata per tag; never replaced once set.
    tags: FxHashMap<Box<str>, TagMetadata>,
    /// Whether any tag's metadata is of the hparams plugin (most runs have none, and then
    /// values need no lookup to tell).
    any_hparams: bool,
}

impl Normalizer {
    /// A normaliser that has seen no tags.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first metadata seen for `tag`.
    pub fn metadata(&self, tag: &str) -> Option<&TagMetadata> {
        self.tags.get(tag)
    }

    #[inline(always)]
    fn is_hparams(&self, tag: &str) -> bool {
        self.any_hparams && self.tags.get(tag).is_some_and(|m| m.plugin == "hparams")
    }

    /// All tags that carried metadata, with it.
    pub fn all_metadata(&self) -> impl Iterator<Item = (&str, &TagMetadata)> {
        self.tags.iter().map(|(k, v)| (&**k, v))
    }

    /// Calls `f(tag, value)` for each value of `event`. File-version events give no value.
    ///
    /// Damaged input never stops the caller: a summary value that cannot be interpreted is
    /// skipped and counted in `issues`, the other values of the event are still given.
    #[inline(always)]
    pub fn event<F: FnMut(&str, Value)>(
        &mut self,
        event: &EventRef<'_>,
        issues: &mut ValueIssues,
        mut f: F,
    ) {
        match event.what {
            What::Summary(summary) => {
                for value in summary_values(summary) {
                    match value {
                        Ok(v) => self.summary_value(&v, issues, &mut f),
                        Err(_) => issues.undecodable_values += 1,
                    }
                }
            }
            _ => self.other_event(event, issues, f),
        }
    }

    /// [`Normalizer::event`] for events that are not summaries.
    #[inline(never)]
    fn other_event<F: FnMut(&str, Value)>(
        &mut self,
        event: &EventRef<'_>,
        issues: &mut ValueIssues,
        mut f: F,
    ) {
        match event.what {
            What::Summary(_) => {}
            What::GraphDef(b) => f(special_tags::GRAPH, blob(BlobKind::GraphDef, b)),
            What::MetaGraphDef(b) => f(special_tags::META_GRAPH, blob(BlobKind::MetaGraphDef, b)),
            What::TaggedRunMetadata(b) => match pb::TaggedRunMetadata::decode(b) {
                Ok(m) => f(
                    &m.tag,
                    Value::from(Blob {
                        kind: BlobKind::RunMetadata,
                        data: m.run_metadata,
                    }),
                ),
                Err(_) => issues.undecodable_values += 1,
            },
            What::SessionLog(b) => match decode_session_log(b) {
                Ok(s) => {
                    let checkpoint_path = text(s.checkpoint_path, issues);
                    let msg = text(s.msg, issues);
                    f(
                        special_tags::SESSION_LOG,
                        Value::from(SessionLog {
                            status: s.status,
                            checkpoint_path,
                            msg,
                        }),
                    )
                }
                Err(_) => issues.undecodable_values += 1,
            },
            What::LogMessage(b) => match pb::LogMessage::decode(b) {
                Ok(m) => f(
                    special_tags::LOG_MESSAGE,
                    Value::from(LogMessage {
                        level: m.level,
                        message: m.message,
                    }),
                ),
                Err(_) => issues.undecodable_values += 1,
            },
            What::FileVersion(_) | What::Nothing => {}
        }
    }

    #[inline(always)]
    fn summary_value<F: FnMut(&str, Value)>(
        &mut self,
        v: &SummaryValueRef<'_>,
        issues: &mut ValueIssues,
        f: &mut F,
    ) {
        // The common case, what the general path below does for a TF1 scalar without metadata.
        if let (ValueRef::Simple(x), None) = (v.value, v.metadata) {
            if self.simple_scalar(v.tag_bytes(), x, issues, f) {
                return;
            }
        }
        self.summary_value_general(v, issues, f);
    }

    /// Gives a summary value that holds only `tag` and a `simple_value`, as
    /// [`Normalizer::event`] does; false when it must take the general path instead (an hparams
    /// tag).
    #[inline(always)]
    fn simple_scalar<F: FnMut(&str, Value)>(
        &mut self,
        tag: &[u8],
        x: f32,
        issues: &mut ValueIssues,
        f: &mut F,
    ) -> bool {
        let (tag, lossy) = lossy_utf8(tag);
        if self.is_hparams(&tag) {
            return false;
        }
        if lossy {
            issues.invalid_utf8 += 1;
        }
        f(
            &tag,
            Value::Scalar(Scalar {
                value: f64::from(x),
                dtype: dtype::FLOAT,
            }),
        );
        true
    }

    /// [`Normalizer::event`] for an event of one summary value that holds only `tag` and a
    /// `simple_value` (see [`crate::event::simple_scalar_event`]).
    #[inline(always)]
    pub fn simple_scalar_event<F: FnMut(&str, Value)>(
        &mut self,
        tag: &[u8],
        x: f32,
        issues: &mut ValueIssues,
        mut f: F,
    ) {
        if !self.simple_scalar(tag, x, issues, &mut f) {
            let v = SummaryValueRef {
                tag,
                value: ValueRef::Simple(x),
                ..Default::default()
            };
            self.summary_value_general(&v, issues, &mut f);
        }
    }

    #[inline(never)]
    fn summary_value_general<F: FnMut(&str, Value)>(
        &mut self,
        v: &SummaryValueRef<'_>,
        issues: &mut ValueIssues,
        f: &mut F,
    ) {
        let (tag, lossy) = lossy_utf8(v.tag_bytes());
        if lossy {
            issues.invalid_utf8 += 1;
        }
        // This value's own metadata, if any (hparams writers give each value its own content).
        let own = v.metadata.and_then(|md| decode_metadata(md).ok());
        if v.metadata.is_some() && own.is_none() {
            issues.undecodable_values += 1;
        }
        let own_plugin = own.map(|m| m.plugin_name);
        if own_plugin == Some(b"hparams") || (own.is_none() && self.is_hparams(&tag)) {
            let content = match own {
                Some(m) => m.content,
                None => self.tags.get(&*tag).map(|m| &m.content[..]).unwrap_or(&[]),
            };
            match hparams_value(content) {
                Ok(value) => f(&tag, value),
                Err(_) => issues.undecodable_values += 1,
            }
            return;
        }
        if let Some(m) = own {
            if !self.tags.contains_key(&*tag) {
                let meta = TagMetadata {
                    plugin: text(m.plugin_name, issues),
                    content: m.content.to_vec(),
                    display_name: text(m.display_name, issues),
                    description: text(m.description, issues),
                    data_class: m.data_class,
                };
                self.any_hparams |= meta.plugin == "hparams";
                self.tags
                    .insert(tag.clone().into_owned().into_boxed_str(), meta);
            }
        }
        let result = match v.value {
            ValueRef::Simple(x) => {
                f(
                    &tag,
                    Value::Scalar(Scalar {
                        value: f64::from(x),
                        dtype: dtype::FLOAT,
                    }),
                );
                Ok(())
            }
            ValueRef::Nothing => Ok(()),
            ValueRef::Histo(b) => pb::HistogramProto::decode(b)
                .map_err(|source| ValueError::Proto {
                    what: "HistogramProto",
                    source,
                })
                .map(|h| f(&tag, Value::from(tf1_histogram(&h)))),
            ValueRef::Image(b) => pb::summary::Image::decode(b)
                .map_err(|source| ValueError::Proto {
                    what: "Summary.Image",
                    source,
                })
                .map(|im| {
                    f(
                        &tag,
                        Value::from(Image {
                            index: 0,
                            width: i64::from(im.width),
                            height: i64::from(im.height),
                            colorspace: Some(im.colorspace),
                            data: im.encoded_image_string,
                        }),
                    )
                }),
            ValueRef::Audio(b) => pb::summary::Audio::decode(b)
                .map_err(|source| ValueError::Proto {
                    what: "Summary.Audio",
                    source,
                })
                .map(|a| {
                    f(
                        &tag,
                        Value::from(Audio {
                            index: 0,
                            sample_rate: Some(f64::from(a.sample_rate)),
                            channels: Some(a.num_channels),
                            frames: Some(a.length_frames),
                            content_type: Some(a.content_type),
                            label: None,
                            data: a.encoded_audio_string,
                        }),
                    )
                }),
            ValueRef::OldHistogram(b) => {
                f(&tag, blob(BlobKind::OldHistogram, b));
                Ok(())
            }
            ValueRef::Tensor(b) => {
                let meta = self.tags.get(&*tag);
                let plugin = meta.map(|m| m.plugin.as_str()).unwrap_or("");
                tensor_values(plugin, b, issues, |value| f(&tag, value))
            }
        };
        if result.is_err() {
            issues.undecodable_values += 1;
        }
    }
}

fn blob(kind: BlobKind, data: &[u8]) -> Value {
    Value::from(Blob {
        kind,
        data: data.to_vec(),
    })
}

fn text(bytes: &[u8], issues: &mut ValueIssues) -> String {
    let (s, lossy) = lossy_utf8(bytes);
    if lossy {
        issues.invalid_utf8 += 1;
    }
    s.into_owned()
}

/// Converts a TF1 `HistogramProto` (see [`Histogram`] for the edge convention).
pub fn tf1_histogram(h: &pb::HistogramProto) -> Histogram {
    let n = h.bucket.len().min(h.bucket_limit.len());
    let right = h.bucket_limit[..n].to_vec();
    let mut left = Vec::with_capacity(n);
    if n > 0 {
        left.push(h.min.min(right[0]));
        left.extend_from_slice(&right[..n - 1]);
    }
    Histogram {
        left,
        right,
        count: h.bucket[..n].to_vec(),
        min: Some(h.min),
        max: Some(h.max),
        num: Some(h.num),
        sum: Some(h.sum),
        sum_squares: Some(h.sum_squares),
    }
}

/// Number of elements of a shape, or an error for negative or overflowing dimensions.
fn element_count(shape: &[i64]) -> Result<usize, ValueError> {
    shape.iter().try_fold(1usize, |acc, &d| {
        let d = usize::try_from(d).map_err(|_| ValueError::Tensor("negative dimension"))?;
        acc.checked_mul(d)
            .ok_or(ValueError::Tensor("too many elements"))
    })
}

/// Largest tensor expansion allowed from short `*_val` fields: a damaged shape must not make a
/// tiny record allocate gigabytes.
const MAX_EXPANDED_BYTES: usize = 1 << 30;

/// Normalises a `TensorProto` to its shape and row-major elements.
pub fn tensor_data(t: &pb::TensorProto) -> Result<(Vec<i64>, TensorData), ValueError> {
    let shape: Vec<i64> = t
        .tensor_shape
        .as_ref()
        .map(|s| s.dim.iter().map(|d| d.size).collect())
        .unwrap_or_default();
    let n = element_count(&shape)?;
    let base = if t.dtype > 100 {
        t.dtype - 100
    } else {
        t.dtype
    };
    if base == dtype::STRING {
        let short = n.saturating_sub(t.string_val.len());
        if short > 0 {
            let fill = t.string_val.last().map_or(0, Vec::len);
            let bytes = short.checked_mul(fill + std::mem::size_of::<Vec<u8>>());
            if bytes.is_none_or(|b| b > MAX_EXPANDED_BYTES) {
                return Err(ValueError::Tensor("tensor too large"));
            }
        }
        let mut strings = t.string_val.clone();
        expand(&mut strings, n, Vec::new());
        return Ok((shape, TensorData::Strings(strings)));
    }
    let size = dtype::size(base).ok_or(ValueError::Tensor("unsupported dtype"))?;
    if !t.tensor_content.is_empty() {
        if t.tensor_content.len() != n * size {
            return Err(ValueError::Tensor(
                "tensor_content size does not match shape",
            ));
        }
        return Ok((shape, TensorData::Bytes(t.tensor_content.clone())));
    }
    if n.checked_mul(size).is_none_or(|b| b > MAX_EXPANDED_BYTES) {
        return Err(ValueError::Tensor("tensor too large"));
    }
    let mut out = Vec::with_capacity(n * size);
    macro_rules! put {
        ($vals:expr, $conv:expr) => {{
            let vals = &$vals;
            for i in 0..n {
                // Short fields repeat their last element; empty fields mean zeros.
                match vals.get(i).or(vals.last()) {
                    Some(v) => out.extend_from_slice(&$conv(*v)),
                    None => out.extend(std::iter::repeat_n(0u8, size)),
                }
            }
        }};
    }
    match base {
        dtype::FLOAT => put!(t.float_val, |v: f32| v.to_le_bytes()),
        dtype::DOUBLE => put!(t.double_val, |v: f64| v.to_le_bytes()),
        dtype::INT32 | dtype::QINT32 => put!(t.int_val, |v: i32| v.to_le_bytes()),
        dtype::INT16 | dtype::QINT16 => put!(t.int_val, |v: i32| (v as i16).to_le_bytes()),
        dtype::UINT16 | dtype::QUINT16 => put!(t.int_val, |v: i32| (v as u16).to_le_bytes()),
        dtype::INT8 | dtype::QINT8 => put!(t.int_val, |v: i32| (v as i8).to_le_bytes()),
        dtype::UINT8 | dtype::QUINT8 => put!(t.int_val, |v: i32| (v as u8).to_le_bytes()),
        dtype::INT64 => put!(t.int64_val, |v: i64| v.to_le_bytes()),
        dtype::UINT32 => put!(t.uint32_val, |v: u32| v.to_le_bytes()),
        dtype::UINT64 => put!(t.uint64_val, |v: u64| v.to_le_bytes()),
        dtype::BOOL => put!(t.bool_val, |v: bool| [u8::from(v)]),
        dtype::HALF | dtype::BFLOAT16 => put!(t.half_val, |v: i32| (v as u16).to_le_bytes()),
        dtype::COMPLEX64 => {
            let pairs: Vec<[f32; 2]> = t
                .scomplex_val
                .chunks_exact(2)
                .map(|c| [c[0], c[1]])
                .collect();
            put!(pairs, |v: [f32; 2]| {
                let mut b = [0u8; 8];
                b[..4].copy_from_slice(&v[0].to_le_bytes());
                b[4..].copy_from_slice(&v[1].to_le_bytes());
                b
            })
        }
        dtype::COMPLEX128 => {
            let pairs: Vec<[f64; 2]> = t
                .dcomplex_val
                .chunks_exact(2)
                .map(|c| [c[0], c[1]])
                .collect();
            put!(pairs, |v: [f64; 2]| {
                let mut b = [0u8; 16];
                b[..8].copy_from_slice(&v[0].to_le_bytes());
                b[8..].copy_from_slice(&v[1].to_le_bytes());
                b
            })
        }
        _ => return Err(ValueError::Tensor("unsupported dtype")),
    }
    Ok((shape, TensorData::Bytes(out)))
}

fn expand<T: Clone>(v: &mut Vec<T>, n: usize, zero: T) {
    if v.len() > n {
        v.truncate(n);
    }
    if v.len() < n {
        let fill = v.last().cloned().unwrap_or(zero);
        v.resize(n, fill);
    }
}

/// Element `i` of little-endian numeric data of type `dtype`, as `f64` (complex: real part).
/// Returns `None` for strings, unknown types or an out-of-range index.
pub fn element_f64(dtype: i32, bytes: &[u8], i: usize) -> Option<f64> {
    let base = if dtype > 100 { dtype - 100 } else { dtype };
    let size = dtype::size(base)?;
    let b = bytes.get(i * size..(i + 1) * size)?;
    Some(match base {
        dtype::FLOAT => f64::from(f32::from_le_bytes(b.try_into().ok()?)),
        dtype::DOUBLE => f64::from_le_bytes(b.try_into().ok()?),
        dtype::INT32 | dtype::QINT32 => f64::from(i32::from_le_bytes(b.try_into().ok()?)),
        dtype::INT16 | dtype::QINT16 => f64::from(i16::from_le_bytes(b.try_into().ok()?)),
        dtype::UINT16 | dtype::QUINT16 => f64::from(u16::from_le_bytes(b.try_into().ok()?)),
        dtype::INT8 | dtype::QINT8 => f64::from(b[0] as i8),
        dtype::UINT8 | dtype::QUINT8 => f64::from(b[0]),
        dtype::BOOL => f64::from(u8::from(b[0] != 0)),
        dtype::INT64 => i64::from_le_bytes(b.try_into().ok()?) as f64,
        dtype::UINT32 => f64::from(u32::from_le_bytes(b.try_into().ok()?)),
        dtype::UINT64 => u64::from_le_bytes(b.try_into().ok()?) as f64,
        dtype::HALF => half_to_f64(u16::from_le_bytes(b.try_into().ok()?)),
        dtype::BFLOAT16 => f64::from(f32::from_bits(
            u32::from(u16::from_le_bytes(b.try_into().ok()?)) << 16,
        )),
        dtype::COMPLEX64 => f64::from(f32::from_le_bytes(b[..4].try_into().ok()?)),
        dtype::COMPLEX128 => f64::from_le_bytes(b[..8].try_into().ok()?),
        _ => return None,
    })
}

/// IEEE 754 binary16 to f64.
fn half_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

fn all_f64(dtype: i32, bytes: &[u8], n: usize) -> Option<Vec<f64>> {
    (0..n).map(|i| element_f64(dtype, bytes, i)).collect()
}

/// Interprets a TF2 plugin tensor and calls `f` for each value it holds (several for images and
/// audio). Tensors of unknown plugins, or of known plugins in an unexpected form, are given as
/// generic [`Tensor`] values, never dropped.
fn tensor_values<F: FnMut(Value)>(
    plugin: &str,
    bytes: &[u8],
    issues: &mut ValueIssues,
    mut f: F,
) -> Result<(), ValueError> {
    let t = pb::TensorProto::decode(bytes).map_err(|source| ValueError::Proto {
        what: "TensorProto",
        source,
    })?;
    let dtype = t.dtype;
    let (shape, data) = tensor_data(&t)?;
    let n = element_count(&shape)?;
    match (plugin, &data) {
        ("scalars", TensorData::Bytes(b)) if n == 1 => {
            if let Some(value) = element_f64(dtype, b, 0) {
                f(Value::Scalar(Scalar { value, dtype }));
                return Ok(());
            }
        }
        ("histograms", TensorData::Bytes(b)) if shape.len() == 2 && shape[1] == 3 => {
            if let Some(v) = all_f64(dtype, b, n) {
                let rows = v.chunks_exact(3);
                let mut h = Histogram::default();
                for r in rows {
                    h.left.push(r[0]);
                    h.right.push(r[1]);
                    h.count.push(r[2]);
                }
                f(Value::from(h));
                return Ok(());
            }
        }
        ("histograms", TensorData::Bytes(_)) if shape == [0] => {
            f(Value::from(Histogram::default()));
            return Ok(());
        }
        ("images", TensorData::Strings(s)) if shape.len() == 1 && s.len() >= 2 => {
            let width = parse_ascii_int(&s[0]);
            let height = parse_ascii_int(&s[1]);
            if let (Some(width), Some(height)) = (width, height) {
                for (i, img) in s[2..].iter().enumerate() {
                    f(Value::from(Image {
                        index: i as u32,
                        width,
                        height,
                        colorspace: None,
                        data: img.clone(),
                    }));
                }
                return Ok(());
            }
        }
        ("audio", TensorData::Strings(s)) if shape.len() == 2 || shape.len() == 1 => {
            let cols = if shape.len() == 2 {
                shape[1] as usize
            } else {
                1
            };
            if cols >= 1 {
                for (i, row) in s.chunks(cols).enumerate() {
                    let wav = parse_wav(&row[0]);
                    let label = row.get(1).map(|l| text(l, issues));
                    f(Value::from(Audio {
                        index: i as u32,
                        sample_rate: wav.map(|w| w.sample_rate),
                        channels: wav.map(|w| w.channels),
                        frames: wav.map(|w| w.frames),
                        content_type: None,
                        label,
                        data: row[0].clone(),
                    }));
                }
                return Ok(());
            }
        }
        ("text", TensorData::Strings(s)) => {
            let strings = s.iter().map(|b| text(b, issues)).collect();
            f(Value::from(Text { shape, strings }));
            return Ok(());
        }
        ("pr_curves", TensorData::Bytes(b)) if shape.len() == 2 && shape[0] == 6 => {
            let k = shape[1] as usize;
            if let Some(v) = all_f64(dtype, b, n) {
                let row = |r: usize| v[r * k..(r + 1) * k].to_vec();
                f(Value::from(PrCurve {
                    dtype,
                    tp: row(0),
                    fp: row(1),
                    tn: row(2),
                    fn_: row(3),
                    precision: row(4),
                    recall: row(5),
                }));
                return Ok(());
            }
        }
        _ => {}
    }
    f(Value::from(Tensor {
        plugin: plugin.to_owned(),
        dtype,
        shape,
        data,
    }));
    Ok(())
}

/// Decodes the plugin content of an hparams value (its tensor, if any, is empty).
fn hparams_value(content: &[u8]) -> Result<Value, ValueError> {
    let data = hp::HParamsPluginData::decode(content).map_err(|source| ValueError::Proto {
        what: "HParamsPluginData",
        source,
    })?;
    let value = match data.data {
        Some(hp::h_params_plugin_data::Data::Experiment(e)) => Hparams::Experiment(e),
        Some(hp::h_params_plugin_data::Data::SessionStartInfo(s)) => Hparams::SessionStart(s),
        Some(hp::h_params_plugin_data::Data::SessionEndInfo(s)) => Hparams::SessionEnd(s),
        None => return Err(ValueError::Tensor("hparams value without data")),
    };
    Ok(Value::from(value))
}

fn parse_ascii_int(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.trim().parse().ok()
}

/// Format facts read from a WAV header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WavInfo {
    /// Samples per second.
    pub sample_rate: f64,
    /// Channels.
    pub channels: i64,
    /// Frames (samples per channel).
    pub frames: i64,
}

/// Reads the `fmt ` and `data` chunks of a RIFF/WAVE file. Returns `None` if it is not one.
pub fn parse_wav(b: &[u8]) -> Option<WavInfo> {
    if b.len() < 12 || &b[..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return None;
    }
    let mut pos = 12;
    let mut fmt: Option<(u16, u32, u16)> = None;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let len = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body = pos + 8;
        if id == b"fmt " && body + 16 <= b.len() {
            let channels = u16::from_le_bytes(b[body + 2..body + 4].try_into().ok()?);
            let rate = u32::from_le_bytes(b[body + 4..body + 8].try_into().ok()?);
            let align = u16::from_le_bytes(b[body + 12..body + 14].try_into().ok()?);
            fmt = Some((channels, rate, align));
        } else if id == b"data" {
            let (channels, rate, align) = fmt?;
            let available = len.min(b.len().saturating_sub(body));
            let frames = if align == 0 {
                0
            } else {
                available / usize::from(align)
            };
            return Some(WavInfo {
                sample_rate: f64::from(rate),
                channels: i64::from(channels),
                frames: frames as i64,
            });
        }
        pos = body.checked_add(len)?.checked_add(len & 1)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(dtype: i32, shape: &[i64]) -> pb::TensorProto {
        pb::TensorProto {
            dtype,
            tensor_shape: Some(pb::TensorShapeProto {
                dim: shape
                    .iter()
                    .map(|&size| pb::tensor_shape_proto::Dim {
                        size,
                        name: String::new(),
                    })
                    .collect(),
                unknown_rank: false,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn short_val_fields_repeat_last_element() {
        let mut t = tensor(dtype::FLOAT, &[2, 2]);
        t.float_val = vec![1.0, 2.5];
        let (shape, data) = tensor_data(&t).unwrap();
        assert_eq!(shape, vec![2, 2]);
        let TensorData::Bytes(b) = data else { panic!() };
        let v: Vec<f64> = (0..4)
            .map(|i| element_f64(dtype::FLOAT, &b, i).unwrap())
            .collect();
        assert_eq!(v, vec![1.0, 2.5, 2.5, 2.5]);
    }

    #[test]
    fn empty_val_means_zeros_and_content_must_match_shape() {
        let t = tensor(dtype::INT64, &[3]);
        let (_, data) = tensor_data(&t).unwrap();
        assert_eq!(data, TensorData::Bytes(vec![0; 24]));
        let mut t = tensor(dtype::DOUBLE, &[2]);
        t.tensor_content = vec![0; 8];
        assert!(tensor_data(&t).is_err());
    }

    #[test]
    fn huge_shape_from_short_record_is_refused() {
        let mut t = tensor(dtype::DOUBLE, &[1 << 40]);
        t.double_val = vec![1.0];
        assert!(tensor_data(&t).is_err());
        let t = tensor(dtype::FLOAT, &[-1]);
        assert!(tensor_data(&t).is_err());
        // Strings too: no string at all, or one long string, repeated to a huge shape.
        let t = tensor(dtype::STRING, &[1 << 40]);
        assert_eq!(
            tensor_data(&t).unwrap_err(),
            ValueError::Tensor("tensor too large")
        );
        let mut t = tensor(dtype::STRING, &[1 << 20]);
        t.string_val = vec![vec![b'x'; 4096]];
        assert_eq!(
            tensor_data(&t).unwrap_err(),
            ValueError::Tensor("tensor too large")
        );
        // A short list repeated to a modest shape is still expanded.
        let mut t = tensor(dtype::STRING, &[3]);
        t.string_val = vec![b"a".to_vec(), b"b".to_vec()];
        let (_, data) = tensor_data(&t).unwrap();
        assert_eq!(
            data,
            TensorData::Strings(vec![b"a".to_vec(), b"b".to_vec(), b"b".to_vec()])
        );
    }

    #[test]
    fn half_and_bfloat16() {
        assert_eq!(
            element_f64(dtype::HALF, &0x3c00u16.to_le_bytes(), 0),
            Some(1.0)
        );
        assert_eq!(
            element_f64(dtype::HALF, &0xc000u16.to_le_bytes(), 0),
            Some(-2.0)
        );
        assert_eq!(
            element_f64(dtype::HALF, &0x7c00u16.to_le_bytes(), 0),
            Some(f64::INFINITY)
        );
        assert_eq!(
            element_f64(dtype::BFLOAT16, &0x3fc0u16.to_le_bytes(), 0),
            Some(1.5)
        );
    }

    #[test]
    fn tf1_histogram_edges() {
        let h = pb::HistogramProto {
            min: -1.0,
            max: 2.0,
            num: 3.0,
            sum: 1.0,
            sum_squares: 6.0,
            bucket_limit: vec![-0.5, 1.0, 2.5],
            bucket: vec![1.0, 1.0, 1.0],
        };
        let g = tf1_histogram(&h);
        assert_eq!(g.left, vec![-1.0, -0.5, 1.0]);
        assert_eq!(g.right, vec![-0.5, 1.0, 2.5]);
        assert_eq!(g.count, vec![1.0, 1.0, 1.0]);
        assert_eq!(g.sum_squares, Some(6.0));
    }

    #[test]
    fn wav_header() {
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF");
        w.extend_from_slice(&(36u32 + 8).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt ");
        w.extend_from_slice(&16u32.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes()); // PCM
        w.extend_from_slice(&2u16.to_le_bytes()); // channels
        w.extend_from_slice(&8000u32.to_le_bytes());
        w.extend_from_slice(&32000u32.to_le_bytes());
        w.extend_from_slice(&4u16.to_le_bytes()); // block align
        w.extend_from_slice(&16u16.to_le_bytes());
        w.extend_from_slice(b"data");
        w.extend_from_slice(&8u32.to_le_bytes());
        w.extend_from_slice(&[0; 8]);
        assert_eq!(
            parse_wav(&w),
            Some(WavInfo {
                sample_rate: 8000.0,
                channels: 2,
                frames: 2
            })
        );
        assert_eq!(parse_wav(b"RIFF"), None);
    }
}
