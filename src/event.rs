//! Decoding of `Event` records and their summary values, borrowing from the record bytes.
//!
//! Field numbers are those of TensorFlow's `event.proto` and `summary.proto`.

use std::borrow::Cow;

use thiserror::Error;

use crate::wire::{Cursor, Field, Fields, WireError};

/// An event that could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The bytes are not a valid protocol buffer message.
    #[error("malformed protocol buffer: {0}")]
    Wire(#[from] WireError),
    /// A field has the wrong wire type for its number.
    #[error("field {0} has the wrong wire type")]
    WrongType(u32),
}

/// What an event carries (the `what` oneof of `Event`); payloads are undecoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum What<'a> {
    /// No payload (an event with only a time and step).
    #[default]
    Nothing,
    /// `file_version` (3), e.g. `brain.Event:2`.
    FileVersion(&'a [u8]),
    /// `graph_def` (4): a serialized GraphDef.
    GraphDef(&'a [u8]),
    /// `summary` (5): a serialized Summary.
    Summary(&'a [u8]),
    /// `log_message` (6): a serialized LogMessage.
    LogMessage(&'a [u8]),
    /// `session_log` (7): a serialized SessionLog.
    SessionLog(&'a [u8]),
    /// `tagged_run_metadata` (8): a serialized TaggedRunMetadata.
    TaggedRunMetadata(&'a [u8]),
    /// `meta_graph_def` (9): a serialized MetaGraphDef.
    MetaGraphDef(&'a [u8]),
}

/// An event, decoded at the top level only.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EventRef<'a> {
    /// `wall_time` (1): seconds since the Unix epoch.
    pub wall_time: f64,
    /// `step` (2).
    pub step: i64,
    /// The payload; when a damaged record sets several, the last one wins (proto3 rules).
    pub what: What<'a>,
}

fn bytes(number: u32, field: Field<'_>) -> Result<&[u8], DecodeError> {
    match field {
        Field::Bytes(b) => Ok(b),
        _ => Err(DecodeError::WrongType(number)),
    }
}

/// Decodes the top level of an `Event`. Unknown fields are ignored, as protobuf requires.
#[inline(always)]
pub fn decode_event(data: &[u8]) -> Result<EventRef<'_>, DecodeError> {
    let mut event = EventRef::default();
    // Writers put wall_time and step first: read them without the general loop, which then
    // goes on from there exactly as if it had read them itself.
    let mut rest = data;
    if let [0x09, a, b, c, d, e, f, g, h, ref tail @ ..] = *rest {
        event.wall_time = f64::from_le_bytes([a, b, c, d, e, f, g, h]);
        rest = tail;
    }
    if let [0x10, ref tail @ ..] = *rest {
        let mut t = tail;
        if let Ok(step) = crate::wire::read_varint(&mut t) {
            event.step = step as i64;
            rest = t;
        }
    }
    if let [0x2a, ref tail @ ..] = *rest {
        let mut t = tail;
        if let Ok(len) = crate::wire::read_varint(&mut t) {
            if let Some(summary) = usize::try_from(len).ok().and_then(|n| t.get(..n)) {
                event.what = What::Summary(summary);
                rest = &t[summary.len()..];
                if rest.is_empty() {
                    return Ok(event);
                }
            }
        }
    }
    decode_event_fields(event, rest)
}

/// The general loop of [`decode_event`], from `rest` on, with what was read before it.
#[inline(never)]
fn decode_event_fields<'a>(
    mut event: EventRef<'a>,
    rest: &'a [u8],
) -> Result<EventRef<'a>, DecodeError> {
    let mut c = Cursor::new(rest);
    while !c.is_empty() {
        let key = c.key()?;
        // Keys are (field number << 3) | wire type.
        match key {
            0x09 => event.wall_time = f64::from_bits(c.fixed64()?),
            0x10 => event.step = c.varint()? as i64,
            0x1a => event.what = What::FileVersion(c.bytes()?),
            0x22 => event.what = What::GraphDef(c.bytes()?),
            0x2a => event.what = What::Summary(c.bytes()?),
            0x32 => event.what = What::LogMessage(c.bytes()?),
            0x3a => event.what = What::SessionLog(c.bytes()?),
            0x42 => event.what = What::TaggedRunMetadata(c.bytes()?),
            0x4a => event.what = What::MetaGraphDef(c.bytes()?),
            _ => {
                let number = (key >> 3) as u32;
                if (1..=9).contains(&number) {
                    return Err(DecodeError::WrongType(number));
                }
                c.skip(key)?;
            }
        }
    }
    Ok(event)
}

/// The value of a `Summary.Value` (its `value` oneof); payloads are undecoded bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ValueRef<'a> {
    /// No value set.
    #[default]
    Nothing,
    /// `simple_value` (2): a TF1 scalar.
    Simple(f32),
    /// `obsolete_old_style_histogram` (3).
    OldHistogram(&'a [u8]),
    /// `image` (4): a serialized Summary.Image.
    Image(&'a [u8]),
    /// `histo` (5): a serialized HistogramProto.
    Histo(&'a [u8]),
    /// `audio` (6): a serialized Summary.Audio.
    Audio(&'a [u8]),
    /// `tensor` (8): a serialized TensorProto.
    Tensor(&'a [u8]),
}

/// One `Summary.Value`, decoded at the top level.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SummaryValueRef<'a> {
    /// `tag` (1), as raw bytes (normally UTF-8).
    pub tag: &'a [u8],
    /// `node_name` (7): the tag of very old TF1 files that left `tag` empty.
    pub node_name: &'a [u8],
    /// `metadata` (9): a serialized SummaryMetadata, if present.
    pub metadata: Option<&'a [u8]>,
    /// The value.
    pub value: ValueRef<'a>,
}

impl<'a> SummaryValueRef<'a> {
    /// The tag, falling back to `node_name` when `tag` is empty.
    pub fn tag_bytes(&self) -> &'a [u8] {
        if self.tag.is_empty() {
            self.node_name
        } else {
            self.tag
        }
    }
}

/// Iterator over the values of a serialized `Summary`.
pub struct SummaryValues<'a> {
    cursor: Cursor<'a>,
}

/// Iterates over the `value` (1) entries of a serialized `Summary`.
pub fn summary_values(summary: &[u8]) -> SummaryValues<'_> {
    SummaryValues {
        cursor: Cursor::new(summary),
    }
}

impl<'a> Iterator for SummaryValues<'a> {
    type Item = Result<SummaryValueRef<'a>, DecodeError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.cursor.is_empty() {
                return None;
            }
            // A value of up to 127 bytes: its key and one-byte length.
            if let Some((value, rest)) = self.cursor.short_field(0x0a) {
                match decode_summary_value(value) {
                    Ok(v) => {
                        self.cursor = Cursor::new(rest);
                        return Some(Ok(v));
                    }
                    Err(e) => {
                        self.cursor = Cursor::new(&[]);
                        return Some(Err(e));
                    }
                }
            }
            match self.next_general() {
                Some(item) => return Some(item),
                None => continue,
            }
        }
    }
}

impl<'a> SummaryValues<'a> {
    /// One step of the general loop of [`SummaryValues::next`]: the next value or error, or
    /// `None` after skipping another field.
    #[inline(never)]
    fn next_general(&mut self) -> Option<Result<SummaryValueRef<'a>, DecodeError>> {
        {
            let item = (|| {
                let key = self.cursor.key()?;
                match key {
                    0x0a => decode_summary_value(self.cursor.bytes()?).map(Some),
                    k if k >> 3 == 1 => Err(DecodeError::WrongType(1)),
                    k => {
                        self.cursor.skip(k)?;
                        Ok(None)
                    }
                }
            })();
            match item {
                Ok(Some(v)) => Some(Ok(v)),
                Ok(None) => None,
                Err(e) => {
                    self.cursor = Cursor::new(&[]);
                    Some(Err(e))
                }
            }
        }
    }
}

#[inline(always)]
fn decode_summary_value(data: &[u8]) -> Result<SummaryValueRef<'_>, DecodeError> {
    let mut v = SummaryValueRef::default();
    // The usual layout, tag then simple_value, without the general loop (which goes on from
    // there exactly as if it had read them itself).
    let mut rest = data;
    if let [0x0a, len, ref tail @ ..] = *rest {
        if let Some(tag) = tail.get(..usize::from(len)).filter(|_| len < 0x80) {
            v.tag = tag;
            rest = &tail[tag.len()..];
            if let [0x15, a, b, c, d, ref tail @ ..] = *rest {
                v.value = ValueRef::Simple(f32::from_le_bytes([a, b, c, d]));
                rest = tail;
                if rest.is_empty() {
                    return Ok(v);
                }
            }
        }
    }
    decode_summary_value_fields(v, rest)
}

/// The general loop of [`decode_summary_value`], from `rest` on, with what was read before it.
#[inline(never)]
fn decode_summary_value_fields<'a>(
    mut v: SummaryValueRef<'a>,
    rest: &'a [u8],
) -> Result<SummaryValueRef<'a>, DecodeError> {
    let mut c = Cursor::new(rest);
    while !c.is_empty() {
        let key = c.key()?;
        match key {
            0x0a => v.tag = c.bytes()?,
            0x15 => v.value = ValueRef::Simple(f32::from_bits(c.fixed32()?)),
            0x1a => v.value = ValueRef::OldHistogram(c.bytes()?),
            0x22 => v.value = ValueRef::Image(c.bytes()?),
            0x2a => v.value = ValueRef::Histo(c.bytes()?),
            0x32 => v.value = ValueRef::Audio(c.bytes()?),
            0x3a => v.node_name = c.bytes()?,
            0x42 => v.value = ValueRef::Tensor(c.bytes()?),
            0x4a => v.metadata = Some(c.bytes()?),
            _ => {
                let number = (key >> 3) as u32;
                if (1..=9).contains(&number) {
                    return Err(DecodeError::WrongType(number));
                }
                c.skip(key)?;
            }
        }
    }
    Ok(v)
}

/// The most common event of all, decoded in one go: a TF1 scalar as PyTorch and TF1 write it,
/// `wall_time`, `step` and a summary of one value that holds only a tag and a `simple_value`.
/// Returns `(wall_time, step, tag, simple_value)`, or `None` for any other layout; for these
/// bytes, [`decode_event`] and [`summary_values`] give the same event and value.
#[inline(always)]
pub fn simple_scalar_event(data: &[u8]) -> Option<(f64, i64, &[u8], f32)> {
    let mut rest = data;
    let mut wall_time = 0.0;
    let mut step = 0;
    // Fields at their default value (step 0) are left out by writers.
    if let [0x09, a, b, c, d, e, f, g, h, ref tail @ ..] = *rest {
        wall_time = f64::from_le_bytes([a, b, c, d, e, f, g, h]);
        rest = tail;
    }
    if let [0x10, ref tail @ ..] = *rest {
        let mut t = tail;
        step = crate::wire::read_varint(&mut t).ok()? as i64;
        rest = t;
    }
    // summary (5) { value (1) { tag (1), simple_value (2) } }, all lengths one byte.
    match *rest {
        [0x2a, len, 0x0a, value_len, 0x0a, tag_len, ref tail @ ..]
            if usize::from(len) == rest.len() - 2
                && usize::from(value_len) == rest.len() - 4
                && usize::from(tag_len) + 5 == tail.len()
                && len < 0x80 =>
        {
            let (tag, value) = tail.split_at(usize::from(tag_len));
            match *value {
                [0x15, a, b, c, d] => {
                    Some((wall_time, step, tag, f32::from_le_bytes([a, b, c, d])))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// `SummaryMetadata`, decoded with its strings as raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MetadataRef<'a> {
    /// `plugin_data.plugin_name` (1.1).
    pub plugin_name: &'a [u8],
    /// `plugin_data.content` (1.2).
    pub content: &'a [u8],
    /// `display_name` (2).
    pub display_name: &'a [u8],
    /// `summary_description` (3).
    pub description: &'a [u8],
    /// `data_class` (4).
    pub data_class: i32,
}

/// Decodes a serialized `SummaryMetadata`.
pub fn decode_metadata(data: &[u8]) -> Result<MetadataRef<'_>, DecodeError> {
    let mut m = MetadataRef::default();
    for field in Fields::new(data) {
        let (number, field) = field?;
        match number {
            1 => {
                for inner in Fields::new(bytes(1, field)?) {
                    let (n, f) = inner?;
                    match n {
                        1 => m.plugin_name = bytes(1, f)?,
                        2 => m.content = bytes(2, f)?,
                        _ => {}
                    }
                }
            }
            2 => m.display_name = bytes(2, field)?,
            3 => m.description = bytes(3, field)?,
            4 => match field {
                Field::Varint(v) => m.data_class = v as i32,
                _ => return Err(DecodeError::WrongType(4)),
            },
            _ => {}
        }
    }
    Ok(m)
}

/// `SessionLog`, decoded with its strings as raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SessionLogRef<'a> {
    /// `status` (1): 0 unspecified, 1 START, 2 STOP, 3 CHECKPOINT.
    pub status: i32,
    /// `checkpoint_path` (2).
    pub checkpoint_path: &'a [u8],
    /// `msg` (3).
    pub msg: &'a [u8],
}

/// `SessionLog.status` value of a (re)start: the value that supersedes earlier data.
pub const SESSION_START: i32 = 1;

/// Decodes a serialized `SessionLog`.
pub fn decode_session_log(data: &[u8]) -> Result<SessionLogRef<'_>, DecodeError> {
    let mut s = SessionLogRef::default();
    for field in Fields::new(data) {
        let (number, field) = field?;
        match number {
            1 => match field {
                Field::Varint(v) => s.status = v as i32,
                _ => return Err(DecodeError::WrongType(1)),
            },
            2 => s.checkpoint_path = bytes(2, field)?,
            3 => s.msg = bytes(3, field)?,
            _ => {}
        }
    }
    Ok(s)
}

/// Decodes bytes as UTF-8, replacing invalid sequences with U+FFFD.
///
/// Returns the text and whether anything had to be replaced.
#[inline]
pub fn lossy_utf8(bytes: &[u8]) -> (Cow<'_, str>, bool) {
    // Tags are nearly always ASCII, which a word-at-a-time check confirms faster than full
    // UTF-8 validation of a short string.
    if bytes.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        return (
            Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(bytes) }),
            false,
        );
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => (Cow::Borrowed(s), false),
        Err(_) => (String::from_utf8_lossy(bytes), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::tensorboard as pb;
    use prost::Message;

    #[test]
    fn decodes_scalar_event() {
        let event = pb::Event {
            wall_time: 1.5,
            step: -3,
            what: Some(pb::event::What::Summary(pb::Summary {
                value: vec![pb::summary::Value {
                    tag: "loss".into(),
                    value: Some(pb::summary::value::Value::SimpleValue(0.25)),
                    ..Default::default()
                }],
            })),
            ..Default::default()
        };
        let bytes = event.encode_to_vec();
        let e = decode_event(&bytes).unwrap();
        assert_eq!(e.wall_time, 1.5);
        assert_eq!(e.step, -3);
        let What::Summary(s) = e.what else {
            panic!("not a summary")
        };
        let values: Vec<_> = summary_values(s).collect::<Result<_, _>>().unwrap();
        assert_eq!(values.len(), 1);
        assert_eq!(values[0].tag, b"loss");
        assert_eq!(values[0].value, ValueRef::Simple(0.25));
    }

    #[test]
    fn invalid_utf8_tag_still_decodes() {
        // Summary.Value{tag: b"\xff\xfe", simple_value: 1.0}, hand-encoded.
        let value = [0x0a, 0x02, 0xff, 0xfe, 0x15, 0, 0, 0x80, 0x3f];
        let mut summary = vec![0x0a, value.len() as u8];
        summary.extend_from_slice(&value);
        let values: Vec<_> = summary_values(&summary).collect::<Result<_, _>>().unwrap();
        let (tag, lossy) = lossy_utf8(values[0].tag);
        assert!(lossy);
        assert_eq!(tag, "\u{fffd}\u{fffd}");
        assert_eq!(values[0].value, ValueRef::Simple(1.0));
    }

    #[test]
    fn metadata_and_session_log() {
        let md = pb::SummaryMetadata {
            plugin_data: Some(pb::summary_metadata::PluginData {
                plugin_name: "scalars".into(),
                content: vec![8, 1],
            }),
            display_name: "Loss".into(),
            summary_description: "desc".into(),
            data_class: 1,
        };
        let bytes = md.encode_to_vec();
        let m = decode_metadata(&bytes).unwrap();
        assert_eq!(m.plugin_name, b"scalars");
        assert_eq!(m.content, &[8, 1]);
        assert_eq!(m.display_name, b"Loss");
        assert_eq!(m.description, b"desc");
        assert_eq!(m.data_class, 1);

        let log = pb::SessionLog {
            status: 1,
            checkpoint_path: "ckpt".into(),
            msg: "m".into(),
        };
        let bytes = log.encode_to_vec();
        let s = decode_session_log(&bytes).unwrap();
        assert_eq!(s.status, SESSION_START);
        assert_eq!(s.checkpoint_path, b"ckpt");
    }

    #[test]
    fn wrong_wire_type_is_an_error() {
        // field 1 (wall_time) as a varint
        assert_eq!(decode_event(&[0x08, 0x01]), Err(DecodeError::WrongType(1)));
    }

    #[test]
    fn fast_paths_decode_as_the_general_loops_do() {
        // Every prefix and a byte changed anywhere in typical events and values.
        let event = pb::Event {
            wall_time: 1.5,
            step: 300,
            what: Some(pb::event::What::Summary(pb::Summary {
                value: vec![pb::summary::Value {
                    tag: "loss".into(),
                    value: Some(pb::summary::value::Value::SimpleValue(0.25)),
                    ..Default::default()
                }],
            })),
            ..Default::default()
        };
        let bytes = event.encode_to_vec();
        let value = match decode_event(&bytes).unwrap().what {
            What::Summary(s) => s[2..].to_vec(),
            _ => unreachable!(),
        };
        let mut inputs = Vec::new();
        for base in [&bytes, &value] {
            for n in 0..=base.len() {
                inputs.push(base[..n].to_vec());
            }
            for i in 0..base.len() {
                for x in [0u8, 0x09, 0x10, 0x15, 0x2a, 0x7f, 0x80, 0xff] {
                    let mut b = base.clone();
                    b[i] = x;
                    inputs.push(b);
                }
            }
        }
        // Debug forms, so that NaN equals NaN.
        let same = |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| {
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
        };
        for input in &inputs {
            if let Some((wall_time, step, tag, x)) = simple_scalar_event(input) {
                let event = decode_event(input).unwrap();
                same(&(event.wall_time, event.step), &(wall_time, step));
                let What::Summary(summary) = event.what else {
                    panic!("not a summary: {input:?}")
                };
                let values: Vec<_> = summary_values(summary).collect();
                let want = SummaryValueRef {
                    tag,
                    value: ValueRef::Simple(x),
                    ..Default::default()
                };
                same(&values, &vec![Ok::<_, DecodeError>(want)]);
            }
            same(
                &decode_event(input),
                &decode_event_fields(EventRef::default(), input),
            );
            same(
                &decode_summary_value(input),
                &decode_summary_value_fields(SummaryValueRef::default(), input),
            );
            let fast: Vec<_> = summary_values(input).collect();
            let mut general = Vec::new();
            let mut it = summary_values(input);
            while !it.cursor.is_empty() {
                if let Some(item) = it.next_general() {
                    general.push(item);
                }
            }
            same(&fast, &general);
        }
    }
}
