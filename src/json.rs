//! JSON lines for values (`tfevents dump`): one object per value, bytes summarised by size and
//! SHA-256.
//!
//! Non-finite numbers, which JSON cannot hold, are written as the strings `"nan"`, `"inf"` and
//! `"-inf"`.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::proto::tensorboard::hparams as hp;
use crate::run::Point;
use crate::value::{dtype, element_f64, Hparams, TensorData, Value};

/// Builds one JSON object in a reusable buffer.
#[derive(Debug, Default)]
pub struct JsonObject {
    buf: String,
    empty: bool,
}

impl JsonObject {
    /// Starts a new object, clearing the buffer.
    pub fn begin(&mut self) {
        self.buf.clear();
        self.buf.push('{');
        self.empty = true;
    }

    /// Closes the object and returns its text (without newline).
    pub fn finish(&mut self) -> &str {
        self.buf.push('}');
        &self.buf
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        push_str(&mut self.buf, key);
        self.buf.push(':');
    }

    /// Adds a string member.
    pub fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        push_str(&mut self.buf, value);
    }

    /// Adds an integer member.
    pub fn int(&mut self, key: &str, value: i64) {
        self.key(key);
        let _ = write!(self.buf, "{value}");
    }

    /// Adds a number member (`"nan"`, `"inf"`, `"-inf"` for non-finite values).
    pub fn num(&mut self, key: &str, value: f64) {
        self.key(key);
        push_f64(&mut self.buf, value);
    }

    /// Adds a number member, or `null`.
    pub fn opt_num(&mut self, key: &str, value: Option<f64>) {
        match value {
            Some(v) => self.num(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// Adds an integer member, or `null`.
    pub fn opt_int(&mut self, key: &str, value: Option<i64>) {
        match value {
            Some(v) => self.int(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// Adds a boolean member.
    pub fn bool(&mut self, key: &str, value: bool) {
        self.raw(key, if value { "true" } else { "false" });
    }

    /// Adds a member whose value is already JSON text.
    pub fn raw(&mut self, key: &str, json: &str) {
        self.key(key);
        self.buf.push_str(json);
    }

    /// Adds an array of numbers.
    pub fn nums(&mut self, key: &str, values: impl IntoIterator<Item = f64>) {
        self.key(key);
        self.buf.push('[');
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            push_f64(&mut self.buf, v);
        }
        self.buf.push(']');
    }

    /// Adds `bytes` (a count) and `sha256` (hex) members describing `data`.
    pub fn digest(&mut self, data: &[u8]) {
        self.int("bytes", data.len() as i64);
        self.str("sha256", &sha256_hex(data));
    }
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut s = String::with_capacity(64);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn push_str(buf: &mut String, s: &str) {
    // serde_json escapes exactly as JSON requires; writing to a String cannot fail.
    buf.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()));
}

/// Appends a number as JSON (shortest text that reads back to the same `f64`).
pub fn push_f64(buf: &mut String, v: f64) {
    if v.is_nan() {
        buf.push_str("\"nan\"");
    } else if v == f64::INFINITY {
        buf.push_str("\"inf\"");
    } else if v == f64::NEG_INFINITY {
        buf.push_str("\"-inf\"");
    } else if v == v.trunc() && v.abs() < 1e15 {
        let _ = write!(buf, "{v:.1}");
    } else {
        let _ = write!(buf, "{v:?}");
    }
}

/// Detects the format of encoded image bytes from their signature.
pub fn image_format(data: &[u8]) -> &'static str {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        "png"
    } else if data.starts_with(&[0xff, 0xd8, 0xff]) {
        "jpeg"
    } else if data.starts_with(b"GIF8") {
        "gif"
    } else {
        "unknown"
    }
}

/// Name of a `SessionLog.status`.
pub fn session_status_name(status: i32) -> &'static str {
    match status {
        1 => "START",
        2 => "STOP",
        3 => "CHECKPOINT",
        _ => "UNSPECIFIED",
    }
}

/// Name of an hparams session `Status`.
pub fn hparams_status_name(status: i32) -> &'static str {
    match status {
        1 => "SUCCESS",
        2 => "FAILURE",
        3 => "RUNNING",
        _ => "UNKNOWN",
    }
}

/// A `google.protobuf.Value` as JSON text (non-finite numbers as strings).
pub fn proto_value_json(v: &prost_types::Value) -> String {
    use prost_types::value::Kind as K;
    let mut s = String::new();
    match &v.kind {
        None | Some(K::NullValue(_)) => s.push_str("null"),
        Some(K::NumberValue(n)) => push_f64(&mut s, *n),
        Some(K::StringValue(t)) => push_str(&mut s, t),
        Some(K::BoolValue(b)) => s.push_str(if *b { "true" } else { "false" }),
        Some(K::StructValue(st)) => {
            s.push('{');
            let mut fields: Vec<_> = st.fields.iter().collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            for (i, (k, v)) in fields.into_iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                push_str(&mut s, k);
                s.push(':');
                s.push_str(&proto_value_json(v));
            }
            s.push('}');
        }
        Some(K::ListValue(l)) => {
            s.push('[');
            for (i, v) in l.values.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(&proto_value_json(v));
            }
            s.push(']');
        }
    }
    s
}

fn str_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut s = String::from("[");
    for (i, t) in items.into_iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        push_str(&mut s, t);
    }
    s.push(']');
    s
}

fn int_array(items: &[i64]) -> String {
    let parts: Vec<String> = items.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(","))
}

/// Writes the JSON object for one value of run `run` into `obj` (which is reset first).
pub fn point_json<'o>(obj: &'o mut JsonObject, run: &str, p: &Point<'_>) -> &'o str {
    obj.begin();
    obj.str("run", run);
    obj.str("tag", p.tag);
    obj.int("step", p.step.0);
    obj.num("wall_time", p.wall_time.0);
    obj.str("kind", p.value.kind().as_str());
    obj.bool("superseded", p.superseded);
    match &p.value {
        Value::Scalar(s) => {
            obj.num("value", s.value);
            obj.str("dtype", &dtype::name(s.dtype));
        }
        Value::Histogram(h) => {
            obj.opt_num("min", h.min);
            obj.opt_num("max", h.max);
            obj.opt_num("num", h.num);
            obj.opt_num("sum", h.sum);
            obj.opt_num("sum_squares", h.sum_squares);
            obj.nums("bucket_left", h.left.iter().copied());
            obj.nums("bucket_right", h.right.iter().copied());
            obj.nums("bucket_count", h.count.iter().copied());
        }
        Value::Image(im) => {
            obj.int("index", i64::from(im.index));
            obj.int("width", im.width);
            obj.int("height", im.height);
            match im.colorspace {
                Some(c) => obj.int("colorspace", i64::from(c)),
                None => obj.raw("colorspace", "null"),
            }
            obj.str("format", image_format(&im.data));
            obj.digest(&im.data);
        }
        Value::Audio(a) => {
            obj.int("index", i64::from(a.index));
            obj.opt_num("sample_rate", a.sample_rate);
            obj.opt_int("channels", a.channels);
            obj.opt_int("frames", a.frames);
            match &a.content_type {
                Some(c) => obj.str("content_type", c),
                None => obj.raw("content_type", "null"),
            }
            match &a.label {
                Some(l) => obj.str("label", l),
                None => obj.raw("label", "null"),
            }
            obj.digest(&a.data);
        }
        Value::Text(t) => {
            obj.raw("shape", &int_array(&t.shape));
            if t.strings.len() == 1 {
                obj.str("text", &t.strings[0]);
            } else {
                obj.raw("text", &str_array(t.strings.iter().map(|s| s.as_str())));
            }
        }
        Value::PrCurve(c) => {
            obj.int("num_thresholds", c.tp.len() as i64);
            obj.nums("tp", c.tp.iter().copied());
            obj.nums("fp", c.fp.iter().copied());
            obj.nums("tn", c.tn.iter().copied());
            obj.nums("fn", c.fn_.iter().copied());
            obj.nums("precision", c.precision.iter().copied());
            obj.nums("recall", c.recall.iter().copied());
        }
        Value::Hparams(h) => hparams_json(obj, h),
        Value::Tensor(t) => {
            obj.str("plugin", &t.plugin);
            obj.str("dtype", &dtype::name(t.dtype));
            obj.raw("shape", &int_array(&t.shape));
            match &t.data {
                TensorData::Bytes(b) => obj.raw("values", &tensor_values_json(t.dtype, b)),
                TensorData::Strings(s) => {
                    let texts: Vec<String> = s
                        .iter()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect();
                    obj.raw("values", &str_array(texts.iter().map(|s| s.as_str())));
                }
            }
        }
        Value::Blob(b) => {
            obj.str("blob", b.kind.as_str());
            obj.digest(&b.data);
        }
        Value::SessionLog(s) => {
            obj.str("status", session_status_name(s.status));
            obj.str("checkpoint_path", &s.checkpoint_path);
            obj.str("msg", &s.msg);
        }
        Value::LogMessage(m) => {
            obj.int("level", i64::from(m.level));
            obj.str("message", &m.message);
        }
    }
    obj.finish()
}

/// Numeric tensor elements as a JSON array: integers for integer and bool types (exact, also
/// for 64-bit values), numbers for floats, `[re, im]` pairs for complex types.
pub fn tensor_values_json(dt: i32, b: &[u8]) -> String {
    let base = if dt > 100 { dt - 100 } else { dt };
    let size = dtype::size(base).unwrap_or(1).max(1);
    let n = b.len() / size;
    let mut s = String::from("[");
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        let e = &b[i * size..(i + 1) * size];
        match base {
            dtype::INT64 => {
                let _ = write!(s, "{}", i64::from_le_bytes(e.try_into().unwrap_or([0; 8])));
            }
            dtype::UINT64 => {
                let _ = write!(s, "{}", u64::from_le_bytes(e.try_into().unwrap_or([0; 8])));
            }
            dtype::INT32
            | dtype::INT16
            | dtype::INT8
            | dtype::UINT8
            | dtype::UINT16
            | dtype::UINT32
            | dtype::BOOL
            | dtype::QINT8
            | dtype::QUINT8
            | dtype::QINT16
            | dtype::QUINT16
            | dtype::QINT32 => {
                let v = element_f64(base, b, i).unwrap_or(0.0);
                let _ = write!(s, "{}", v as i64);
            }
            dtype::COMPLEX64 | dtype::COMPLEX128 => {
                let half = size / 2;
                let (re, im) = if half == 4 {
                    (
                        f64::from(f32::from_le_bytes(e[..4].try_into().unwrap_or([0; 4]))),
                        f64::from(f32::from_le_bytes(e[4..].try_into().unwrap_or([0; 4]))),
                    )
                } else {
                    (
                        f64::from_le_bytes(e[..8].try_into().unwrap_or([0; 8])),
                        f64::from_le_bytes(e[8..].try_into().unwrap_or([0; 8])),
                    )
                };
                s.push('[');
                push_f64(&mut s, re);
                s.push(',');
                push_f64(&mut s, im);
                s.push(']');
            }
            _ => push_f64(&mut s, element_f64(base, b, i).unwrap_or(f64::NAN)),
        }
    }
    s.push(']');
    s
}

fn hparams_json(obj: &mut JsonObject, h: &Hparams) {
    match h {
        Hparams::Experiment(e) => {
            obj.str("hparams_kind", "experiment");
            obj.str("name", &e.name);
            obj.str("description", &e.description);
            obj.num("time_created_secs", e.time_created_secs);
            let mut infos = String::from("[");
            for (i, info) in e.hparam_infos.iter().enumerate() {
                if i > 0 {
                    infos.push(',');
                }
                let mut o = JsonObject::default();
                o.begin();
                o.str("name", &info.name);
                o.str("display_name", &info.display_name);
                o.str(
                    "type",
                    hp::DataType::try_from(info.r#type)
                        .map(|t| t.as_str_name())
                        .unwrap_or("DATA_TYPE_UNSET"),
                );
                match &info.domain {
                    Some(hp::h_param_info::Domain::DomainDiscrete(l)) => {
                        let vals: Vec<String> = l.values.iter().map(proto_value_json).collect();
                        o.raw("domain", &format!("[{}]", vals.join(",")));
                    }
                    Some(hp::h_param_info::Domain::DomainInterval(iv)) => {
                        let mut s = String::from("{\"min\":");
                        push_f64(&mut s, iv.min_value);
                        s.push_str(",\"max\":");
                        push_f64(&mut s, iv.max_value);
                        s.push('}');
                        o.raw("domain", &s);
                    }
                    None => o.raw("domain", "null"),
                }
                infos.push_str(o.finish());
            }
            infos.push(']');
            obj.raw("hparams", &infos);
            let mut metrics = String::from("[");
            for (i, m) in e.metric_infos.iter().enumerate() {
                if i > 0 {
                    metrics.push(',');
                }
                let name = m.name.clone().unwrap_or_default();
                let mut o = JsonObject::default();
                o.begin();
                o.str("group", &name.group);
                o.str("tag", &name.tag);
                o.str("display_name", &m.display_name);
                metrics.push_str(o.finish());
            }
            metrics.push(']');
            obj.raw("metrics", &metrics);
        }
        Hparams::SessionStart(s) => {
            obj.str("hparams_kind", "session_start");
            let mut names: Vec<&String> = s.hparams.keys().collect();
            names.sort();
            let mut o = String::from("{");
            for (i, k) in names.into_iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                push_str(&mut o, k);
                o.push(':');
                o.push_str(&proto_value_json(&s.hparams[k]));
            }
            o.push('}');
            obj.raw("hparams", &o);
            obj.str("group_name", &s.group_name);
            obj.num("start_time_secs", s.start_time_secs);
        }
        Hparams::SessionEnd(s) => {
            obj.str("hparams_kind", "session_end");
            obj.str("status", hparams_status_name(s.status));
            obj.num("end_time_secs", s.end_time_secs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let mut s = String::new();
        for v in [
            0.25,
            2.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
            0.1f32 as f64,
        ] {
            push_f64(&mut s, v);
            s.push(' ');
        }
        assert_eq!(
            s,
            "0.25 2.0 \"nan\" \"inf\" \"-inf\" 1e300 0.10000000149011612 "
        );
    }

    #[test]
    fn digest_of_empty() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
