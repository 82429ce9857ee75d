//! Records whose checksums hold but whose events are damaged (a writer bug, memory corruption
//! before the checksum was taken): every reading layer must take them without a panic or a huge
//! allocation, and a damaged event costs at most itself.

mod common;

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use tfevents::convert::{run_rows, ConvertOptions};
use tfevents::json::{point_json, JsonObject};
use tfevents::logdir::discover;
use tfevents::record::{encode_record, RecordReader};
use tfevents::run::read_run;
use tfevents::stats::run_stats;

/// Every undamaged fixture file, as the list of its records' payloads.
fn fixture_records() -> Vec<(PathBuf, Vec<Vec<u8>>)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("fixture dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.to_string_lossy().contains("tfevents") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&common::fixture("logdir"), &mut files);
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("fixture file");
            let mut reader = RecordReader::new(bytes.as_slice());
            let mut records = Vec::new();
            while let Some(r) = reader.next_record().expect("reading memory") {
                records.push(r.to_vec());
            }
            assert!(reader.finish().is_clean(), "{} is damaged", p.display());
            (p, records)
        })
        .collect()
}

/// What every layer sees in the run of `dir`.
struct Seen {
    /// Values read.
    points: u64,
    /// JSON lines `dump` would print.
    lines: u64,
    /// Values counted by the run summary (`inspect`).
    counted: u64,
    /// Records read, events decoded and records that were not events.
    records: u64,
    events: u64,
    undecodable: u64,
}

fn read_all_layers(dir: &Path) -> Seen {
    let found = discover(&[dir]).expect("discover");
    assert_eq!(found.runs.len(), 1);
    let run = &found.runs[0];
    let mut points = 0u64;
    let mut lines = 0u64;
    let mut obj = JsonObject::default();
    read_run(run, |p| {
        points += 1;
        let line = point_json(&mut obj, "run", p);
        let parsed: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
        assert!(parsed.get("tag").is_some());
        lines += 1;
    });
    // The table builder of `convert` must take whatever the reader gives.
    let _ = run_rows(run, &ConvertOptions::default());
    let stats = run_stats(run);
    let file = &stats.report.files[0];
    Seen {
        points,
        lines,
        counted: stats.values(),
        records: file.damage.records_read,
        events: file.events,
        undecodable: file.issues.undecodable_events,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn events_damaged_under_valid_checksums_never_panic(
        file in any::<prop::sample::Index>(),
        edits in proptest::collection::vec(
            (any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0u8..4, any::<u8>()),
            1..6,
        ),
    ) {
        let files = fixture_records();
        let (path, records) = &files[file.index(files.len())];
        let clean_dir = tempfile::tempdir().expect("tempdir");
        let name = path.file_name().expect("file name");
        let mut clean_bytes = Vec::new();
        for r in records {
            encode_record(r, &mut clean_bytes);
        }
        std::fs::write(clean_dir.path().join(name), &clean_bytes).expect("write");
        let clean = read_all_layers(clean_dir.path());

        let mut records = records.clone();
        let mut touched = std::collections::BTreeSet::new();
        for (rec, pos, op, byte) in edits {
            let i = rec.index(records.len());
            let r = &mut records[i];
            if r.is_empty() {
                continue;
            }
            touched.insert(i);
            let at = pos.index(r.len());
            match op {
                0 => r[at] ^= byte | 1,
                1 => r[at] = byte,
                2 => r.truncate(at),
                _ => r.insert(at, byte),
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mut bytes = Vec::new();
        for r in &records {
            encode_record(r, &mut bytes);
        }
        std::fs::write(dir.path().join(name), &bytes).expect("write");
        let seen = read_all_layers(dir.path());
        // Checksums hold, so framing loses nothing; every record is an event or is counted.
        prop_assert_eq!(seen.records, records.len() as u64);
        prop_assert_eq!(seen.events + seen.undecodable, records.len() as u64);
        prop_assert!(seen.events >= (records.len() - touched.len()) as u64);
        // `dump`, `inspect` and the reader agree on what there is.
        prop_assert_eq!(seen.points, seen.lines);
        prop_assert_eq!(seen.points, seen.counted);
        if touched.is_empty() {
            prop_assert_eq!(seen.points, clean.points);
        }
    }
}
