//! Tailing a live event file: a reader stopped at a partial record continues when the writer
//! appends the rest.

use std::fs::OpenOptions;
use std::io::Write;

use prost::Message;
use tfevents::event::{decode_event, summary_values, ValueRef, What};
use tfevents::proto::tensorboard as pb;
use tfevents::record::{encode_record, RecordReader};

fn scalar_event(step: i64, value: f32) -> Vec<u8> {
    pb::Event {
        wall_time: 1.0 + step as f64,
        step,
        what: Some(pb::event::What::Summary(pb::Summary {
            value: vec![pb::summary::Value {
                tag: "loss".into(),
                value: Some(pb::summary::value::Value::SimpleValue(value)),
                ..Default::default()
            }],
        })),
        ..Default::default()
    }
    .encode_to_vec()
}

fn value_of(record: &[u8]) -> (i64, f32) {
    let e = decode_event(record).unwrap();
    let What::Summary(s) = e.what else {
        panic!("summary expected")
    };
    let v = summary_values(s).next().unwrap().unwrap();
    let ValueRef::Simple(x) = v.value else {
        panic!("scalar expected")
    };
    (e.step, x)
}

#[test]
fn reader_resumes_when_a_growing_file_is_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.out.tfevents.1.host");
    let mut bytes = Vec::new();
    for step in 0..3 {
        encode_record(&scalar_event(step, step as f32 * 0.5), &mut bytes);
    }
    let cut = bytes.len() - 7; // the writer has written part of the third record
    let mut writer = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    writer.write_all(&bytes[..cut]).unwrap();
    writer.flush().unwrap();

    let mut reader = RecordReader::new(std::fs::File::open(&path).unwrap());
    let mut got = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        got.push(value_of(r));
    }
    assert_eq!(got, vec![(0, 0.0), (1, 0.5)]);
    assert!(reader.pending_bytes() > 0, "the partial record waits");
    assert!(reader.damage().is_clean(), "a partial record is not damage");

    writer.write_all(&bytes[cut..]).unwrap();
    let mut more = Vec::new();
    encode_record(&scalar_event(3, 1.5), &mut more);
    writer.write_all(&more).unwrap();
    writer.flush().unwrap();

    while let Some(r) = reader.next_record().unwrap() {
        got.push(value_of(r));
    }
    assert_eq!(got, vec![(0, 0.0), (1, 0.5), (2, 1.0), (3, 1.5)]);
    let d = reader.finish();
    assert!(d.is_clean());
    assert_eq!(d.records_read, 4);
}
