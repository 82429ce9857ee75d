//! Property tests: arbitrary bytes never panic any layer, reads resume at any chunk boundary,
//! and random valid events round trip through framing, decoding and normalisation.

mod common;

use std::collections::VecDeque;
use std::io::{self, Read};

use proptest::prelude::*;
use prost::Message;

use tfevents::event::decode_event;
use tfevents::proto::tensorboard as pb;
use tfevents::record::{encode_record, RecordReader};
use tfevents::value::{Normalizer, Value, ValueIssues};

/// Runs bytes through every layer, counting values; must never panic.
fn read_everything(bytes: &[u8]) -> (u64, tfevents::record::Damage) {
    let mut reader = RecordReader::new(bytes);
    let mut normalizer = Normalizer::new();
    let mut issues = ValueIssues::default();
    let mut values = 0u64;
    while let Some(record) = reader.next_record().expect("reading memory cannot fail") {
        if let Ok(event) = decode_event(record) {
            normalizer.event(&event, &mut issues, |_, _| values += 1);
        }
    }
    (values, reader.finish())
}

/// A `Read` that hands out the given chunks, with a fake end of file after each.
struct Chunked {
    chunks: VecDeque<Vec<u8>>,
    eof_next: bool,
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.eof_next {
            self.eof_next = false;
            return Ok(0);
        }
        let Some(chunk) = self.chunks.front_mut() else {
            return Ok(0);
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            self.chunks.pop_front();
            self.eof_next = true;
        }
        Ok(n)
    }
}

fn fixture_bytes() -> Vec<u8> {
    let dir = common::fixture("logdir/tbx");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    std::fs::read(&files[0]).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let (_, damage) = read_everything(&bytes);
        // Every byte is accounted for: read, skipped, or truncated.
        let skipped = damage.resync_bytes + damage.truncated_bytes;
        prop_assert!(damage.bytes_read + skipped <= bytes.len() as u64);
    }

    #[test]
    fn in_memory_and_streaming_readers_agree(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        // Valid records with arbitrary bytes spliced in somewhere.
        let mut stream = Vec::new();
        for p in &payloads {
            encode_record(p, &mut stream);
        }
        let at = cut.index(stream.len() + 1);
        stream.splice(at..at, bytes.iter().copied());
        let mut a = RecordReader::new(&stream[..]);
        let mut b = tfevents::record::SliceRecords::new(&stream);
        loop {
            let x = a.next_record().unwrap().map(<[u8]>::to_vec);
            let y = b.next_record().map(<[u8]>::to_vec);
            prop_assert_eq!(&x, &y);
            if x.is_none() {
                break;
            }
        }
        prop_assert_eq!(a.finish(), b.finish());
    }

    #[test]
    fn arbitrary_record_payloads_never_panic(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)
    ) {
        let mut bytes = Vec::new();
        for p in &payloads {
            encode_record(p, &mut bytes);
        }
        let (_, damage) = read_everything(&bytes);
        prop_assert_eq!(damage.records_read, payloads.len() as u64);
        prop_assert!(damage.is_clean());
    }

    #[test]
    fn mutated_real_files_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..8)
    ) {
        let mut bytes = fixture_bytes();
        let clean = read_everything(&bytes).0;
        for (i, x) in flips {
            let i = i.index(bytes.len());
            bytes[i] ^= x;
        }
        let (values, _) = read_everything(&bytes);
        // A flipped byte costs at most the values of the records it touched (a few each).
        prop_assert!(values <= clean + 8);
    }

    #[test]
    fn reads_resume_across_arbitrary_chunks(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..10),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut bytes = Vec::new();
        for p in &payloads {
            encode_record(p, &mut bytes);
        }
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        points.dedup();
        let chunks: VecDeque<Vec<u8>> =
            points.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect();
        let mut reader = RecordReader::new(Chunked { chunks, eof_next: false });
        let mut got = Vec::new();
        // Each fake end of file makes next_record return None once; keep polling like a tailer.
        for _ in 0..points.len() + 2 {
            while let Some(r) = reader.next_record().unwrap() {
                got.push(r.to_vec());
            }
            prop_assert!(reader.damage().is_clean());
        }
        prop_assert_eq!(got, payloads);
        prop_assert!(reader.finish().is_clean());
    }
}

#[derive(Debug, Clone)]
enum Gen {
    Simple(f32),
    Double(f64),
    Text(String),
    Histo(Vec<f64>),
}

fn gen_value() -> impl Strategy<Value = Gen> {
    prop_oneof![
        any::<f32>().prop_map(Gen::Simple),
        any::<f64>().prop_map(Gen::Double),
        ".{0,40}".prop_map(Gen::Text),
        proptest::collection::vec(-1e6f64..1e6, 1..20).prop_map(Gen::Histo),
    ]
}

fn metadata(plugin: &str) -> Option<pb::SummaryMetadata> {
    Some(pb::SummaryMetadata {
        plugin_data: Some(pb::summary_metadata::PluginData {
            plugin_name: plugin.into(),
            content: vec![],
        }),
        ..Default::default()
    })
}

fn to_summary_value(tag: &str, g: &Gen) -> pb::summary::Value {
    use pb::summary::value::Value as V;
    let (value, metadata) = match g {
        Gen::Simple(x) => (V::SimpleValue(*x), None),
        Gen::Double(x) => (
            V::Tensor(pb::TensorProto {
                dtype: pb::DataType::DtDouble as i32,
                double_val: vec![*x],
                ..Default::default()
            }),
            metadata("scalars"),
        ),
        Gen::Text(s) => (
            V::Tensor(pb::TensorProto {
                dtype: pb::DataType::DtString as i32,
                string_val: vec![s.clone().into_bytes()],
                ..Default::default()
            }),
            metadata("text"),
        ),
        Gen::Histo(v) => {
            let mut limits: Vec<f64> = v.clone();
            limits.sort_by(|a, b| a.total_cmp(b));
            (
                V::Histo(pb::HistogramProto {
                    min: limits[0],
                    max: limits[limits.len() - 1],
                    num: limits.len() as f64,
                    sum: limits.iter().sum(),
                    sum_squares: limits.iter().map(|x| x * x).sum(),
                    bucket: vec![1.0; limits.len()],
                    bucket_limit: limits,
                }),
                None,
            )
        }
    };
    pb::summary::Value {
        tag: tag.into(),
        metadata,
        value: Some(value),
        ..Default::default()
    }
}

fn check(g: &Gen, v: &Value) -> bool {
    match (g, v) {
        (Gen::Simple(x), Value::Scalar(s)) => {
            s.value.to_bits() == f64::from(*x).to_bits() || (x.is_nan() && s.value.is_nan())
        }
        (Gen::Double(x), Value::Scalar(s)) => s.value.to_bits() == x.to_bits(),
        (Gen::Text(t), Value::Text(got)) => got.strings == vec![t.clone()],
        (Gen::Histo(_), Value::Histogram(h)) => h.count.iter().sum::<f64>() == h.count.len() as f64,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_valid_events_round_trip(
        events in proptest::collection::vec(
            (any::<i64>(), 0.0f64..2e9, "[a-z/λ_]{1,12}", gen_value()), 1..30)
    ) {
        let mut bytes = Vec::new();
        for (i, (step, wall_time, tag, g)) in events.iter().enumerate() {
            // A distinct tag per event keeps first-metadata-wins out of the way.
            let tag = format!("{tag}{i}");
            let e = pb::Event {
                wall_time: *wall_time,
                step: *step,
                what: Some(pb::event::What::Summary(pb::Summary {
                    value: vec![to_summary_value(&tag, g)],
                })),
                ..Default::default()
            };
            encode_record(&e.encode_to_vec(), &mut bytes);
        }
        let mut reader = RecordReader::new(&bytes[..]);
        let mut normalizer = Normalizer::new();
        let mut issues = ValueIssues::default();
        let mut i = 0;
        while let Some(record) = reader.next_record().unwrap() {
            let event = decode_event(record).unwrap();
            let (step, wall_time, tag, g) = &events[i];
            prop_assert_eq!(event.step, *step);
            prop_assert_eq!(event.wall_time.to_bits(), wall_time.to_bits());
            let mut got = Vec::new();
            normalizer.event(&event, &mut issues, |t, v| got.push((t.to_owned(), v)));
            prop_assert_eq!(got.len(), 1);
            prop_assert_eq!(&got[0].0, &format!("{tag}{i}"));
            prop_assert!(check(g, &got[0].1), "{:?} read as {:?}", g, got[0].1);
            i += 1;
        }
        prop_assert_eq!(i, events.len());
        prop_assert!(issues.is_clean());
    }
}
