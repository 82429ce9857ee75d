//! Building summary values as TensorBoard's own writers do: scalars, histograms with
//! TensorBoard's default buckets, PNG images, markdown text and hparams plugin data.

use std::collections::BTreeMap;

use image::{ExtendedColorType, ImageEncoder};
use prost::Message;
use thiserror::Error;

use crate::proto::tensorboard as pb;
use crate::proto::tensorboard::hparams as hp;
use crate::value::{Histogram, TensorData};

/// A value that cannot be turned into a summary.
#[derive(Debug, Error)]
pub enum SummaryError {
    /// Pixel data does not match the given size and channel count.
    #[error("image of {width}x{height}x{channels} needs {expected} bytes, got {got}")]
    ImageSize {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Channels per pixel.
        channels: u8,
        /// Bytes expected.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// A channel count other than 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).
    #[error("images have 1, 2, 3 or 4 channels, not {0}")]
    Channels(u8),
    /// PNG encoding failed.
    #[error("encoding PNG: {0}")]
    Png(String),
    /// A config that does not serialize to a JSON object.
    #[error("config must serialize to a map of fields: {0}")]
    Config(String),
    /// Encoded image bytes that are not a PNG, JPEG or GIF with a readable size.
    #[error("not a PNG, JPEG or GIF image (its size could not be read)")]
    ImageFormat,
    /// Audio with no channels, a sample count that is not a multiple of the channel count, or
    /// a sample rate that is not a positive whole number.
    #[error("audio of {samples} samples in {channels} channels at {sample_rate} Hz")]
    Audio {
        /// Samples given (all channels).
        samples: usize,
        /// Channels.
        channels: u16,
        /// Samples per second.
        sample_rate: u32,
    },
    /// PR curve inputs of different lengths, or fewer than 2 thresholds.
    #[error("PR curve needs as many labels as predictions and at least 2 thresholds (got {labels} labels, {predictions} predictions, {thresholds} thresholds)")]
    PrCurve {
        /// Labels given.
        labels: usize,
        /// Predictions given.
        predictions: usize,
        /// Thresholds asked for.
        thresholds: u32,
    },
    /// Tensor data that does not fill its shape, or a dtype without a fixed size.
    #[error("tensor of dtype {dtype} and shape {shape:?} needs {expected} elements' bytes, got {got} bytes")]
    TensorSize {
        /// The dtype number.
        dtype: i32,
        /// The shape.
        shape: Vec<i64>,
        /// Elements the shape holds.
        expected: u64,
        /// Bytes (or strings) given.
        got: usize,
    },
    /// Histogram edges that are empty, not strictly ascending, or NaN.
    #[error("histogram edges must be one or more strictly ascending numbers (got {0} edges that are not)")]
    HistogramEdges(usize),
    /// An image whose size in bytes does not fit in memory.
    #[error("image of {width}x{height}x{channels} is too large")]
    ImageTooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Channels per pixel.
        channels: u8,
    },
    /// A histogram whose edge and count lists differ in length.
    #[error("histogram with {left} left edges, {right} right edges and {count} counts")]
    HistogramShape {
        /// Left edges.
        left: usize,
        /// Right edges.
        right: usize,
        /// Counts.
        count: usize,
    },
}

/// Metadata naming `plugin`, with its plugin-specific `content`.
pub(crate) fn metadata(plugin: &str, content: Vec<u8>) -> pb::SummaryMetadata {
    pb::SummaryMetadata {
        plugin_data: Some(pb::summary_metadata::PluginData {
            plugin_name: plugin.to_owned(),
            content,
        }),
        ..Default::default()
    }
}

/// A tensor shape of known rank with these dimension sizes.
pub(crate) fn shape(dims: &[i64]) -> Option<pb::TensorShapeProto> {
    Some(pb::TensorShapeProto {
        dim: dims
            .iter()
            .map(|&size| pb::tensor_shape_proto::Dim {
                size,
                name: String::new(),
            })
            .collect(),
        unknown_rank: false,
    })
}

/// A TF1-style scalar (`simple_value`, stored as f32), as PyTorch and tensorboardX write it.
pub fn scalar(tag: &str, value: f32) -> pb::summary::Value {
    pb::summary::Value {
        tag: tag.to_owned(),
        value: Some(pb::summary::value::Value::SimpleValue(value)),
        ..Default::default()
    }
}

/// A full-precision scalar: a DT_DOUBLE rank-0 tensor of plugin `scalars`.
pub fn scalar_f64(tag: &str, value: f64) -> pb::summary::Value {
    pb::summary::Value {
        tag: tag.to_owned(),
        metadata: Some(metadata("scalars", Vec::new())),
        value: Some(pb::summary::value::Value::Tensor(pb::TensorProto {
            dtype: pb::DataType::DtDouble as i32,
            tensor_shape: shape(&[]),
            double_val: vec![value],
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// TensorBoard's default histogram bucket limits: `1e-12 * 1.1^k` below `1e20`, mirrored
/// negatives, zero, and `±f64::MAX` at the ends (TensorFlow's `histogram.cc`).
pub fn default_bucket_limits() -> &'static [f64] {
    static LIMITS: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    LIMITS.get_or_init(|| {
        let mut pos = Vec::new();
        let mut v = 1e-12;
        while v < 1e20 {
            pos.push(v);
            v *= 1.1;
        }
        let mut limits: Vec<f64> = pos.iter().rev().map(|x| -x).collect();
        limits.insert(0, -f64::MAX);
        limits.push(0.0);
        limits.extend_from_slice(&pos);
        limits.push(f64::MAX);
        limits
    })
}

/// A histogram of `values` in TensorBoard's default buckets, empty buckets collapsed as
/// TensorFlow does (a run of empty buckets keeps only its last limit). NaNs are skipped.
pub fn histogram(tag: &str, values: &[f64]) -> pb::summary::Value {
    histogram_in(tag, values, default_bucket_limits())
}

/// A histogram of `values` in buckets with the given right edges (at least one, finite and
/// strictly ascending; values above the last edge go into the last bucket).
pub fn histogram_with_limits(
    tag: &str,
    values: &[f64],
    limits: &[f64],
) -> Result<pb::summary::Value, SummaryError> {
    let ascending = limits.windows(2).all(|w| w[0] < w[1]);
    if limits.is_empty() || !ascending || limits.iter().any(|l| l.is_nan()) {
        return Err(SummaryError::HistogramEdges(limits.len()));
    }
    Ok(histogram_in(tag, values, limits))
}

/// [`histogram_with_limits`] for edges known to be valid.
fn histogram_in(tag: &str, values: &[f64], limits: &[f64]) -> pb::summary::Value {
    let mut counts = vec![0f64; limits.len()];
    let (mut min, mut max, mut sum, mut sum_squares, mut num) =
        (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0.0, 0.0);
    for &v in values.iter().filter(|v| !v.is_nan()) {
        // Bucket i covers (limits[i-1], limits[i]].
        let i = limits
            .partition_point(|&l| l < v)
            .min(limits.len().saturating_sub(1));
        if let Some(c) = counts.get_mut(i) {
            *c += 1.0;
        }
        min = min.min(v);
        max = max.max(v);
        sum += v;
        sum_squares += v * v;
        num += 1.0;
    }
    let mut bucket_limit = Vec::new();
    let mut bucket = Vec::new();
    if num > 0.0 {
        let first = counts.iter().position(|&c| c > 0.0).unwrap_or(0);
        let last = counts.iter().rposition(|&c| c > 0.0).unwrap_or(0);
        // One empty bucket before the first occupied one marks where the data starts.
        let start = first.saturating_sub(1);
        for i in start..=last {
            let empty = counts[i] == 0.0;
            let next_empty = i < last && counts[i + 1] == 0.0;
            if empty && next_empty && i != start {
                continue; // collapsed into the last empty bucket of the run
            }
            bucket_limit.push(limits[i]);
            bucket.push(counts[i]);
        }
    } else {
        min = 0.0;
        max = 0.0;
    }
    pb::summary::Value {
        tag: tag.to_owned(),
        value: Some(pb::summary::value::Value::Histo(pb::HistogramProto {
            min,
            max,
            num,
            sum,
            sum_squares,
            bucket_limit,
            bucket,
        })),
        ..Default::default()
    }
}

/// An image from raw 8-bit pixels, row-major, `channels` interleaved (HWC): 1 gray,
/// 2 gray + alpha, 3 RGB, 4 RGBA. Encoded as PNG.
pub fn image(
    tag: &str,
    width: u32,
    height: u32,
    channels: u8,
    pixels: &[u8],
) -> Result<pb::summary::Value, SummaryError> {
    let color = match channels {
        1 => ExtendedColorType::L8,
        2 => ExtendedColorType::La8,
        3 => ExtendedColorType::Rgb8,
        4 => ExtendedColorType::Rgba8,
        c => return Err(SummaryError::Channels(c)),
    };
    let Some(expected) = (width as usize)
        .checked_mul(height as usize)
        .and_then(|n| n.checked_mul(usize::from(channels)))
    else {
        return Err(SummaryError::ImageTooLarge {
            width,
            height,
            channels,
        });
    };
    if pixels.len() != expected {
        return Err(SummaryError::ImageSize {
            width,
            height,
            channels,
            expected,
            got: pixels.len(),
        });
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(pixels, width, height, color)
        .map_err(|e| SummaryError::Png(e.to_string()))?;
    Ok(encoded_image(tag, width, height, i32::from(channels), png))
}

/// An already-encoded image (PNG, JPEG or GIF bytes).
pub fn encoded_image(
    tag: &str,
    width: u32,
    height: u32,
    colorspace: i32,
    encoded: Vec<u8>,
) -> pb::summary::Value {
    pb::summary::Value {
        tag: tag.to_owned(),
        value: Some(pb::summary::value::Value::Image(pb::summary::Image {
            height: height as i32,
            width: width as i32,
            colorspace,
            encoded_image_string: encoded,
        })),
        ..Default::default()
    }
}

/// Markdown text: a DT_STRING rank-0 tensor of plugin `text`.
pub fn text(tag: &str, markdown: &str) -> pb::summary::Value {
    pb::summary::Value {
        tag: tag.to_owned(),
        metadata: Some(metadata("text", Vec::new())),
        value: Some(pb::summary::value::Value::Tensor(pb::TensorProto {
            dtype: pb::DataType::DtString as i32,
            tensor_shape: shape(&[]),
            string_val: vec![markdown.as_bytes().to_vec()],
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Width and height read from the header of a PNG, JPEG or GIF, or `None` when the bytes are
/// none of these (or the header is cut short).
pub fn image_dimensions(data: &[u8]) -> Option<(u32, u32)> {
    let be16 = |b: &[u8], i: usize| Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]));
    let be32 = |b: &[u8], i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        // The IHDR chunk comes first: length, "IHDR", width, height (big-endian).
        if data.get(12..16)? != b"IHDR" {
            return None;
        }
        return Some((be32(data, 16)?, be32(data, 20)?));
    }
    if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        let w = u16::from_le_bytes([*data.get(6)?, *data.get(7)?]);
        let h = u16::from_le_bytes([*data.get(8)?, *data.get(9)?]);
        return Some((u32::from(w), u32::from(h)));
    }
    if data.starts_with(&[0xFF, 0xD8]) {
        // Walk the JPEG segments to the first start-of-frame marker (SOF0..SOF15 but DHT,
        // JPG and DAC), which holds height then width.
        let mut i = 2;
        while i + 4 <= data.len() {
            if data[i] != 0xFF {
                return None;
            }
            let marker = data[i + 1];
            if marker == 0xFF {
                i += 1; // fill byte
                continue;
            }
            if marker == 0xD8 || (0xD0..=0xD7).contains(&marker) || marker == 0x01 {
                i += 2; // markers without a length
                continue;
            }
            let len = usize::from(be16(data, i + 2)?);
            let is_sof = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
            if is_sof {
                let h = be16(data, i + 5)?;
                let w = be16(data, i + 7)?;
                return Some((u32::from(w), u32::from(h)));
            }
            i += 2 + len;
        }
        return None;
    }
    None
}

/// TensorBoard's colorspace code (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA) of a PNG or JPEG,
/// read from its header; `None` when the header does not say (GIF, palette PNG: RGB).
pub fn image_colorspace(data: &[u8]) -> Option<i32> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        // IHDR: width, height, bit depth, then the colour type.
        return match *data.get(25)? {
            0 => Some(1),
            4 => Some(2),
            2 | 3 => Some(3),
            6 => Some(4),
            _ => None,
        };
    }
    if data.starts_with(&[0xFF, 0xD8]) {
        let mut i = 2;
        while i + 9 < data.len() && data[i] == 0xFF {
            let marker = data[i + 1];
            let len = usize::from(u16::from_be_bytes([data[i + 2], data[i + 3]]));
            if (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
                // SOF: precision, height, width, then the number of components.
                return match data[i + 9] {
                    1 => Some(1),
                    3 => Some(3),
                    _ => None,
                };
            }
            i += 2 + len;
        }
    }
    None
}

/// An already-encoded PNG, JPEG or GIF, as written; its size and colorspace are read from
/// its header (RGB when the header does not say).
pub fn encoded_image_auto(tag: &str, encoded: Vec<u8>) -> Result<pb::summary::Value, SummaryError> {
    let (width, height) = image_dimensions(&encoded).ok_or(SummaryError::ImageFormat)?;
    let colorspace = image_colorspace(&encoded).unwrap_or(3);
    Ok(encoded_image(tag, width, height, colorspace, encoded))
}

/// Encodes samples in `[-1, 1]` (interleaved when `channels > 1`) as a 16-bit PCM WAV file,
/// as TensorFlow's `encode_wav` and tensorboardX do. Samples outside the range are clipped,
/// NaN becomes 0.
pub fn encode_wav(
    samples: &[f32],
    sample_rate: u32,
    channels: u16,
) -> Result<Vec<u8>, SummaryError> {
    // 16-bit samples: a frame is `2 * channels` bytes and a second `2 * channels * rate`,
    // both stored in the header (u16 and u32), as is the data length (u32).
    let sizes = (|| {
        if channels == 0 || sample_rate == 0 || samples.len() % usize::from(channels) != 0 {
            return None;
        }
        let block_align = channels.checked_mul(2)?;
        let byte_rate = sample_rate.checked_mul(u32::from(block_align))?;
        let data_len = samples
            .len()
            .checked_mul(2)
            .filter(|&n| n <= u32::MAX as usize - 36)?;
        Some((block_align, byte_rate, data_len))
    })();
    let Some((block_align, byte_rate, data_len)) = sizes else {
        return Err(SummaryError::Audio {
            samples: samples.len(),
            channels,
            sample_rate,
        });
    };
    let mut wav = Vec::with_capacity(44 + data_len);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&channels.to_le_bytes());
    wav.extend_from_slice(&sample_rate.to_le_bytes());
    wav.extend_from_slice(&byte_rate.to_le_bytes());
    wav.extend_from_slice(&block_align.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data_len as u32).to_le_bytes());
    for &s in samples {
        let s = if s.is_nan() { 0.0 } else { s.clamp(-1.0, 1.0) };
        wav.extend_from_slice(&((s * 32767.0).round() as i16).to_le_bytes());
    }
    Ok(wav)
}

/// An audio clip from samples in `[-1, 1]`, interleaved by channel, as a TF1 `Summary.Audio`
/// holding a 16-bit WAV (what TensorBoard's audio dashboard plays).
pub fn audio(
    tag: &str,
    samples: &[f32],
    sample_rate: u32,
    channels: u16,
) -> Result<pb::summary::Value, SummaryError> {
    let wav = encode_wav(samples, sample_rate, channels)?;
    Ok(pb::summary::Value {
        tag: tag.to_owned(),
        value: Some(pb::summary::value::Value::Audio(pb::summary::Audio {
            sample_rate: sample_rate as f32,
            num_channels: i64::from(channels),
            length_frames: (samples.len() / usize::from(channels)) as i64,
            encoded_audio_string: wav,
            content_type: "audio/wav".to_owned(),
        })),
        ..Default::default()
    })
}

/// TensorBoard's floor for the denominators of precision and recall (`pr_curve/summary.py`).
const PR_MINIMUM_COUNT: f64 = 1e-7;

/// The six rows of a PR curve computed as TensorBoard's `pr_curve` summary does: predictions
/// (clipped to `[0, 1]`) fall into `num_thresholds` buckets, `floor(p * (n - 1))`; row `i` of
/// TP/FP counts the examples with a prediction at or above threshold `i / (n - 1)`; TN and FN
/// are the complements; precision and recall divide by at least 1e-7.
pub fn pr_curve_rows(
    labels: &[bool],
    predictions: &[f32],
    num_thresholds: u32,
) -> Result<[Vec<f64>; 6], SummaryError> {
    if labels.len() != predictions.len() || num_thresholds < 2 {
        return Err(SummaryError::PrCurve {
            labels: labels.len(),
            predictions: predictions.len(),
            thresholds: num_thresholds,
        });
    }
    let n = num_thresholds as usize;
    let (mut tp_b, mut fp_b) = (vec![0f64; n], vec![0f64; n]);
    for (&label, &p) in labels.iter().zip(predictions) {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        // In float32, as TensorBoard's op and tensorboardX compute it: 0.9 * 10 is 9 there.
        let i = ((p * (n - 1) as f32).floor() as usize).min(n - 1);
        if label {
            tp_b[i] += 1.0;
        } else {
            fp_b[i] += 1.0;
        }
    }
    // Counts at or above each threshold: reversed cumulative sums.
    for i in (0..n - 1).rev() {
        tp_b[i] += tp_b[i + 1];
        fp_b[i] += fp_b[i + 1];
    }
    let (tp, fp) = (tp_b, fp_b);
    let tn: Vec<f64> = fp.iter().map(|&x| fp[0] - x).collect();
    let fn_: Vec<f64> = tp.iter().map(|&x| tp[0] - x).collect();
    let precision = (0..n)
        .map(|i| tp[i] / (tp[i] + fp[i]).max(PR_MINIMUM_COUNT))
        .collect();
    let recall = (0..n)
        .map(|i| tp[i] / (tp[i] + fn_[i]).max(PR_MINIMUM_COUNT))
        .collect();
    Ok([tp, fp, tn, fn_, precision, recall])
}

/// A PR curve of binary `labels` against `predictions` (probabilities of the positive class),
/// as plugin `pr_curves`: a DT_FLOAT `[6, num_thresholds]` tensor (see [`pr_curve_rows`]).
/// TensorBoard's default is 127 thresholds.
pub fn pr_curve(
    tag: &str,
    labels: &[bool],
    predictions: &[f32],
    num_thresholds: u32,
) -> Result<pb::summary::Value, SummaryError> {
    let rows = pr_curve_rows(labels, predictions, num_thresholds)?;
    let mut bytes = Vec::with_capacity(6 * 4 * num_thresholds as usize);
    for row in &rows {
        for &x in row {
            bytes.extend_from_slice(&(x as f32).to_le_bytes());
        }
    }
    let content = pb::PrCurvePluginData {
        version: 0,
        num_thresholds,
    }
    .encode_to_vec();
    Ok(pb::summary::Value {
        tag: tag.to_owned(),
        metadata: Some(metadata("pr_curves", content)),
        value: Some(pb::summary::value::Value::Tensor(pb::TensorProto {
            dtype: pb::DataType::DtFloat as i32,
            tensor_shape: shape(&[6, i64::from(num_thresholds)]),
            tensor_content: bytes,
            ..Default::default()
        })),
        ..Default::default()
    })
}

/// A generic tensor for `plugin` (any name; TensorBoard shows only plugins it knows, every
/// reader keeps the rest): `data` holds the elements row-major, numbers as little-endian
/// bytes of `dtype` (see [`crate::value::dtype`]), strings one per element.
pub fn tensor(
    tag: &str,
    plugin: &str,
    content: Vec<u8>,
    dtype: i32,
    dims: &[i64],
    data: TensorData,
) -> Result<pb::summary::Value, SummaryError> {
    let elements = dims.iter().try_fold(1u64, |n, &d| {
        u64::try_from(d).ok().and_then(|d| n.checked_mul(d))
    });
    let size_error = |got| SummaryError::TensorSize {
        dtype,
        shape: dims.to_vec(),
        expected: elements.unwrap_or(0),
        got,
    };
    let mut proto = pb::TensorProto {
        dtype,
        tensor_shape: shape(dims),
        ..Default::default()
    };
    match data {
        TensorData::Bytes(bytes) => {
            let size = crate::value::dtype::size(dtype).ok_or_else(|| size_error(bytes.len()))?;
            let expected = elements.and_then(|e| e.checked_mul(size as u64));
            if expected != Some(bytes.len() as u64) {
                return Err(size_error(bytes.len()));
            }
            proto.tensor_content = bytes;
        }
        TensorData::Strings(strings) => {
            if dtype != pb::DataType::DtString as i32 || elements != Some(strings.len() as u64) {
                return Err(size_error(strings.len()));
            }
            proto.string_val = strings;
        }
    }
    Ok(pb::summary::Value {
        tag: tag.to_owned(),
        metadata: Some(metadata(plugin, content)),
        value: Some(pb::summary::value::Value::Tensor(proto)),
        ..Default::default()
    })
}

/// A histogram given as buckets. With all of `min`, `max`, `num`, `sum` and `sum_squares`
/// it is written as a TF1 `HistogramProto` (right edges as `bucket_limit`, which reads back
/// exactly); otherwise as a TF2 `[k, 3]` tensor of (left, right, count) rows.
pub fn histogram_buckets(tag: &str, h: &Histogram) -> Result<pb::summary::Value, SummaryError> {
    if h.left.len() != h.right.len() || h.right.len() != h.count.len() {
        return Err(SummaryError::HistogramShape {
            left: h.left.len(),
            right: h.right.len(),
            count: h.count.len(),
        });
    }
    if let (Some(min), Some(max), Some(num), Some(sum), Some(sum_squares)) =
        (h.min, h.max, h.num, h.sum, h.sum_squares)
    {
        return Ok(pb::summary::Value {
            tag: tag.to_owned(),
            value: Some(pb::summary::value::Value::Histo(pb::HistogramProto {
                min,
                max,
                num,
                sum,
                sum_squares,
                bucket_limit: h.right.clone(),
                bucket: h.count.clone(),
            })),
            ..Default::default()
        });
    }
    let k = h.count.len();
    let mut bytes = Vec::with_capacity(k * 24);
    for i in 0..k {
        for x in [h.left[i], h.right[i], h.count[i]] {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
    }
    tensor(
        tag,
        "histograms",
        Vec::new(),
        pb::DataType::DtDouble as i32,
        &[k as i64, 3],
        TensorData::Bytes(bytes),
    )
}

/// Tags of the hparams plugin's three values (TensorBoard's `plugins/hparams/metadata.py`).
pub mod hparams_tags {
    /// The experiment: declared hyperparameters and metrics.
    pub const EXPERIMENT: &str = "_hparams_/experiment";
    /// A session's start and its hyperparameter values.
    pub const SESSION_START: &str = "_hparams_/session_start_info";
    /// A session's end and status.
    pub const SESSION_END: &str = "_hparams_/session_end_info";
}

fn hparams_value(tag: &str, data: hp::h_params_plugin_data::Data) -> pb::summary::Value {
    let content = hp::HParamsPluginData {
        version: 0,
        data: Some(data),
    }
    .encode_to_vec();
    pb::summary::Value {
        tag: tag.to_owned(),
        metadata: Some(metadata("hparams", content)),
        // As TensorFlow writes them: an empty float tensor.
        value: Some(pb::summary::value::Value::Tensor(pb::TensorProto {
            dtype: pb::DataType::DtFloat as i32,
            tensor_shape: shape(&[0]),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Flattens a serializable config into `a.b.c` names with scalar values (lists and nulls are
/// kept as their JSON text).
pub fn flatten_config<C: serde::Serialize>(
    config: &C,
) -> Result<BTreeMap<String, prost_types::Value>, SummaryError> {
    let json = serde_json::to_value(config).map_err(|e| SummaryError::Config(e.to_string()))?;
    let serde_json::Value::Object(map) = json else {
        return Err(SummaryError::Config(format!("got {json}")));
    };
    let mut out = BTreeMap::new();
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, prost_types::Value>) {
        use prost_types::value::Kind;
        let kind = match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&name, x, out);
                }
                return;
            }
            serde_json::Value::Bool(b) => Kind::BoolValue(*b),
            serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Kind::StringValue(s.clone()),
            other => Kind::StringValue(other.to_string()),
        };
        out.insert(prefix.to_owned(), prost_types::Value { kind: Some(kind) });
    }
    for (k, v) in &map {
        walk(k, v, &mut out);
    }
    Ok(out)
}

/// The hparams experiment: declares `hparams` (with their types) and the metric tags the
/// HParams tab shows. TensorBoard takes the experiment of one run as the whole logdir's and
/// shows first the hyperparameters marked as differing between runs: `differs(name)` says
/// which to mark.
pub fn hparams_experiment(
    hparams: &BTreeMap<String, prost_types::Value>,
    differs: impl Fn(&str) -> bool,
    metrics: &[String],
    time_created_secs: f64,
) -> pb::summary::Value {
    use prost_types::value::Kind;
    let hparam_infos = hparams
        .iter()
        .map(|(name, v)| hp::HParamInfo {
            name: name.clone(),
            r#type: match v.kind {
                Some(Kind::NumberValue(_)) => hp::DataType::Float64 as i32,
                Some(Kind::BoolValue(_)) => hp::DataType::Bool as i32,
                _ => hp::DataType::String as i32,
            },
            differs: differs(name),
            ..Default::default()
        })
        .collect();
    let metric_infos = metrics
        .iter()
        .map(|tag| hp::MetricInfo {
            name: Some(hp::MetricName {
                group: String::new(),
                tag: tag.clone(),
            }),
            ..Default::default()
        })
        .collect();
    hparams_value(
        hparams_tags::EXPERIMENT,
        hp::h_params_plugin_data::Data::Experiment(hp::Experiment {
            time_created_secs,
            hparam_infos,
            metric_infos,
            ..Default::default()
        }),
    )
}

/// A session start with hyperparameter values.
pub fn hparams_session_start(
    hparams: &BTreeMap<String, prost_types::Value>,
    start_time_secs: f64,
) -> pb::summary::Value {
    hparams_value(
        hparams_tags::SESSION_START,
        hp::h_params_plugin_data::Data::SessionStartInfo(hp::SessionStartInfo {
            hparams: hparams.clone().into_iter().collect(),
            start_time_secs,
            ..Default::default()
        }),
    )
}

/// A session end; `status` is 1 success, 2 failure, 3 running.
pub fn hparams_session_end(status: i32, end_time_secs: f64) -> pb::summary::Value {
    hparams_value(
        hparams_tags::SESSION_END,
        hp::h_params_plugin_data::Data::SessionEndInfo(hp::SessionEndInfo {
            status,
            end_time_secs,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pr_curve_buckets_are_computed_in_float32() {
        // 0.9f32 * 10 rounds to 9 in float32 (bucket 9), to 8.99... in float64.
        let rows = pr_curve_rows(&[true, false, true, false], &[0.9, 0.1, 0.6, 0.4], 11).unwrap();
        assert_eq!(
            rows[0],
            vec![2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 0.0]
        );
        assert_eq!(
            rows[1],
            vec![2.0, 2.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
    }

    #[test]
    fn default_limits_match_tensorflow() {
        let l = default_bucket_limits();
        assert_eq!(l.len(), 1551);
        assert_eq!(l[0], -f64::MAX);
        assert_eq!(l[l.len() - 1], f64::MAX);
        assert_eq!(l[775], 0.0);
        assert!(l.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn histogram_counts_every_value_once() {
        let values: Vec<f64> = (0..1000).map(|i| (i as f64 - 500.0) / 37.0).collect();
        let v = histogram("h", &values);
        let Some(pb::summary::value::Value::Histo(h)) = v.value else {
            panic!()
        };
        assert_eq!(h.num, 1000.0);
        assert_eq!(h.bucket.iter().sum::<f64>(), 1000.0);
        assert_eq!(h.min, -500.0 / 37.0);
        assert_eq!(h.max, 499.0 / 37.0);
        // Every value lies in its bucket: (limit[i-1], limit[i]].
        let mut expected = vec![0.0; h.bucket.len()];
        for &x in &values {
            let i = h.bucket_limit.partition_point(|&l| l < x);
            expected[i] += 1.0;
        }
        assert_eq!(expected, h.bucket);
        assert!(h.bucket_limit.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn empty_and_constant_histograms() {
        let Some(pb::summary::value::Value::Histo(h)) = histogram("h", &[]).value else {
            panic!()
        };
        assert_eq!((h.num, h.bucket.len()), (0.0, 0));
        let Some(pb::summary::value::Value::Histo(h)) = histogram("h", &[2.5; 7]).value else {
            panic!()
        };
        assert_eq!(h.bucket.iter().sum::<f64>(), 7.0);
        assert_eq!((h.min, h.max), (2.5, 2.5));
    }

    #[test]
    fn encoded_images_give_size_and_colorspace() {
        for (channels, cs) in [(1u8, 1), (2, 2), (3, 3), (4, 4)] {
            let v = image("i", 5, 3, channels, &vec![7; 15 * channels as usize]).unwrap();
            let Some(pb::summary::value::Value::Image(im)) = v.value else {
                panic!()
            };
            assert_eq!(image_dimensions(&im.encoded_image_string), Some((5, 3)));
            assert_eq!(image_colorspace(&im.encoded_image_string), Some(cs));
        }
        // A minimal JPEG header: SOI, APP0 (length 4), SOF0 of 6x9 pixels, 3 components.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00,
            0x09, 0x00, 0x06, 0x03, 0x01, 0x22, 0x00,
        ];
        assert_eq!(image_dimensions(&jpeg), Some((6, 9)));
        assert_eq!(image_colorspace(&jpeg), Some(3));
        let gif = b"GIF89a\x0a\x00\x14\x00rest";
        assert_eq!(image_dimensions(gif), Some((10, 20)));
        assert_eq!(image_dimensions(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(image_dimensions(&[0xFF, 0xD8, 0xFF]), None);
        assert!(encoded_image_auto("t", b"BM not supported".to_vec()).is_err());
    }

    #[test]
    fn image_checks_size_and_encodes_png() {
        assert!(image("i", 2, 2, 3, &[0; 11]).is_err());
        assert!(image("i", 2, 2, 5, &[0; 20]).is_err());
        let v = image("i", 2, 1, 3, &[255, 0, 0, 0, 0, 255]).unwrap();
        let Some(pb::summary::value::Value::Image(im)) = v.value else {
            panic!()
        };
        assert!(im.encoded_image_string.starts_with(b"\x89PNG"));
        assert_eq!((im.width, im.height, im.colorspace), (2, 1, 3));
    }

    #[test]
    fn config_flattens_nested_fields() {
        #[derive(serde::Serialize)]
        struct Opt {
            lr: f64,
            betas: (f64, f64),
        }
        #[derive(serde::Serialize)]
        struct Cfg {
            model: &'static str,
            optimizer: Opt,
            amp: bool,
        }
        let m = flatten_config(&Cfg {
            model: "resnet50",
            optimizer: Opt {
                lr: 1e-3,
                betas: (0.9, 0.999),
            },
            amp: true,
        })
        .unwrap();
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            vec!["amp", "model", "optimizer.betas", "optimizer.lr"]
        );
        assert_eq!(
            m["optimizer.lr"].kind,
            Some(prost_types::value::Kind::NumberValue(1e-3))
        );
        assert_eq!(
            m["optimizer.betas"].kind,
            Some(prost_types::value::Kind::StringValue("[0.9,0.999]".into()))
        );
        assert!(flatten_config(&3).is_err());
    }
}
