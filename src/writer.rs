//! Writing event files: TensorBoard's file naming, the version event, whole records, and a
//! flush policy kept by a background thread. Safe to share between threads.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;

use crate::proto::tensorboard as pb;
use crate::record::encode_record;

/// Seconds since the Unix epoch, now.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// This machine's host name (from the kernel on Linux, `HOSTNAME` elsewhere), or `localhost`.
pub fn hostname() -> String {
    let from_kernel = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned());
    from_kernel
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The file version TensorBoard expects in the first event of a file (`event.proto`).
pub const FILE_VERSION: &str = "brain.Event:2";

/// Distinguishes files created by one process in the same second.
static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new event file name as TensorBoard's writers make them:
/// `events.out.tfevents.<10-digit seconds>.<host>.<pid>.<n>` followed by `suffix`.
pub fn event_file_name(wall_time: f64, suffix: &str) -> String {
    // Host names may hold characters that do not belong in a file name.
    let host: String = hostname()
        .chars()
        .map(|c| match c {
            '/' | '\\' | '\0' => '_',
            c => c,
        })
        .collect();
    format!(
        "events.out.tfevents.{:010}.{}.{}.{}{}",
        wall_time.max(0.0) as u64,
        host,
        std::process::id(),
        FILE_COUNTER.fetch_add(1, Ordering::Relaxed),
        suffix
    )
}

/// How often buffered events reach the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// Flush when the oldest unflushed event is this old. A background thread checks, so
    /// values reach the file even when the trainer stops writing (during validation, say).
    pub every: Duration,
    /// Flush when this many bytes are buffered.
    pub max_buffered: usize,
}

impl Default for FlushPolicy {
    /// Every 2 seconds or 1 MiB, whichever comes first.
    fn default() -> Self {
        FlushPolicy {
            every: Duration::from_secs(2),
            max_buffered: 1 << 20,
        }
    }
}

struct Buffer {
    /// The open file; records are appended whole at each flush.
    file: File,
    /// Complete framed records not yet written to the file.
    bytes: Vec<u8>,
    /// When the oldest record in `bytes` was added; `None` when `bytes` is empty.
    oldest: Option<Instant>,
    /// The first error met by the background flush, returned by the next call.
    background_error: Option<io::Error>,
    /// True once the writer is dropped: the background thread stops.
    closed: bool,
}

struct Shared {
    path: PathBuf,
    policy: FlushPolicy,
    buffer: Mutex<Buffer>,
    /// Wakes the background thread early when the writer is dropped.
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Buffer> {
        // A panic while holding the lock leaves whole records in the buffer: still usable.
        self.buffer.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An open event file. Records are buffered and written whole, so a process killed at any
/// moment leaves a file that reads completely up to the last flush (at worst with a cut-off
/// last record, which readers report as a truncated tail).
pub struct EventWriter {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EventWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventWriter")
            .field("path", &self.shared.path)
            .finish()
    }
}

impl EventWriter {
    /// Creates `dir` if needed and a new file in it named by [`event_file_name`], beginning
    /// with the `brain.Event:2` version event (on disk before this returns).
    pub fn create(dir: &Path, policy: FlushPolicy) -> io::Result<EventWriter> {
        EventWriter::create_with_suffix(dir, policy, "")
    }

    /// Like [`EventWriter::create`], with `suffix` after the file name (TF2 uses `.v2`).
    pub fn create_with_suffix(
        dir: &Path,
        policy: FlushPolicy,
        suffix: &str,
    ) -> io::Result<EventWriter> {
        fs::create_dir_all(dir)?;
        let wall_time = now();
        let path = dir.join(event_file_name(wall_time, suffix));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        let writer = EventWriter::start(path, file, policy);
        writer.write(&pb::Event {
            wall_time,
            what: Some(pb::event::What::FileVersion(FILE_VERSION.into())),
            ..Default::default()
        })?;
        writer.flush()?;
        Ok(writer)
    }

    /// Opens an existing event file to append records to it. The caller makes sure the file
    /// ends with a complete record and that no other writer appends to it.
    pub fn append(path: &Path, policy: FlushPolicy) -> io::Result<EventWriter> {
        let file = OpenOptions::new().append(true).open(path)?;
        Ok(EventWriter::start(path.to_owned(), file, policy))
    }

    fn start(path: PathBuf, file: File, policy: FlushPolicy) -> EventWriter {
        let shared = Arc::new(Shared {
            path,
            policy,
            buffer: Mutex::new(Buffer {
                file,
                bytes: Vec::new(),
                oldest: None,
                background_error: None,
                closed: false,
            }),
            wake: Condvar::new(),
        });
        let background = Arc::clone(&shared);
        // Without a thread (the system refused one) flushing still happens on writes.
        let flusher = std::thread::Builder::new()
            .name("tfevents-flush".into())
            .spawn(move || flush_in_background(&background))
            .ok();
        EventWriter { shared, flusher }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Buffers one event; flushes when the policy says so.
    pub fn write(&self, event: &pb::Event) -> io::Result<()> {
        self.write_encoded(&event.encode_to_vec())
    }

    /// Buffers one already-serialized `Event`; flushes when the policy says so.
    ///
    /// The event is buffered even when this returns an error: the error is that of writing
    /// to the file (now, or in the background since the last call), and the buffered records
    /// are written by the next flush that succeeds.
    pub fn write_encoded(&self, event: &[u8]) -> io::Result<()> {
        let mut buffer = self.shared.lock();
        encode_record(event, &mut buffer.bytes);
        if let Some(e) = buffer.background_error.take() {
            return Err(e);
        }
        let oldest = *buffer.oldest.get_or_insert_with(Instant::now);
        let policy = self.shared.policy;
        if buffer.bytes.len() >= policy.max_buffered || oldest.elapsed() >= policy.every {
            flush_buffer(&mut buffer)?;
        }
        Ok(())
    }

    /// Writes buffered records to the file (whole records only) and hands them to the OS.
    /// Returns an error a background flush met since the last call, if any.
    pub fn flush(&self) -> io::Result<()> {
        let mut buffer = self.shared.lock();
        if let Some(e) = buffer.background_error.take() {
            return Err(e);
        }
        flush_buffer(&mut buffer)
    }

    /// Flushes and asks the OS to put the file on disk.
    pub fn sync(&self) -> io::Result<()> {
        let mut buffer = self.shared.lock();
        if let Some(e) = buffer.background_error.take() {
            return Err(e);
        }
        flush_buffer(&mut buffer)?;
        buffer.file.sync_data()
    }
}

fn flush_buffer(buffer: &mut Buffer) -> io::Result<()> {
    let result = write_out(&mut buffer.file, &mut buffer.bytes);
    if result.is_ok() {
        buffer.oldest = None;
    }
    result
}

/// Appends `bytes` (whole records, in order) to `out` and removes what was written.
///
/// A crash cannot leave half a record behind except at the very end, which readers report
/// as a truncated tail. What reached the file is never written again: after a failure (a
/// full disk) the rest stays in `bytes`, and the next call goes on where this one stopped,
/// completing a record the failure cut off, so the file holds each record once and whole.
fn write_out(out: &mut impl Write, bytes: &mut Vec<u8>) -> io::Result<()> {
    let mut done = 0;
    let result = loop {
        if done == bytes.len() {
            break Ok(());
        }
        match out.write(&bytes[done..]) {
            Ok(0) => {
                break Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the file took none of the buffered records",
                ))
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    bytes.drain(..done);
    result
}

/// The background thread: flushes whenever the oldest buffered record is `policy.every` old,
/// until the writer is dropped.
fn flush_in_background(shared: &Shared) {
    let every = shared.policy.every;
    let mut buffer = shared.lock();
    loop {
        if buffer.closed {
            return;
        }
        let wait = match buffer.oldest {
            Some(t) if t.elapsed() >= every => {
                if let Err(e) = flush_buffer(&mut buffer) {
                    buffer.background_error.get_or_insert(e);
                }
                every
            }
            Some(t) => every.saturating_sub(t.elapsed()),
            None => every,
        };
        buffer = match shared
            .wake
            .wait_timeout(buffer, wait.max(Duration::from_millis(1)))
        {
            Ok((b, _)) => b,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        {
            let mut buffer = self.shared.lock();
            buffer.closed = true;
            // Errors cannot be reported from here; `flush` returns them to callers who ask.
            let _ = flush_buffer(&mut buffer);
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.flusher.take() {
            let _ = t.join();
        }
    }
}

fn push_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Serializes `Event { wall_time, step, summary { value { tag, simple_value } } }` into
/// `out`, byte for byte as prost encodes it, without building the message: the hot path of
/// scalar logging.
pub fn encode_scalar_event(wall_time: f64, step: i64, tag: &str, value: f32, out: &mut Vec<u8>) {
    // Summary.Value: tag = 1 (length-delimited), simple_value = 2 (fixed32).
    let tag_len = tag.len();
    let value_len = if tag_len == 0 {
        0
    } else {
        1 + varint_len(tag_len as u64) + tag_len
    } + 5;
    // Summary: value = 1.
    let summary_len = 1 + varint_len(value_len as u64) + value_len;
    if wall_time != 0.0 {
        out.push(0x09); // Event.wall_time = 1, fixed64
        out.extend_from_slice(&wall_time.to_le_bytes());
    }
    if step != 0 {
        out.push(0x10); // Event.step = 2, varint
        push_varint(step as u64, out);
    }
    out.push(0x2a); // Event.summary = 5
    push_varint(summary_len as u64, out);
    out.push(0x0a); // Summary.value = 1
    push_varint(value_len as u64, out);
    if tag_len != 0 {
        out.push(0x0a); // Value.tag = 1
        push_varint(tag_len as u64, out);
        out.extend_from_slice(tag.as_bytes());
    }
    out.push(0x15); // Value.simple_value = 2, fixed32
    out.extend_from_slice(&value.to_le_bytes());
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_events_encode_as_prost_does() {
        let long_tag = "t".repeat(300);
        for (wall_time, step, tag, value) in [
            (1.7e9, 42i64, "train/loss", 0.25f32),
            (0.0, 0, "", 0.0),
            (-1.5, -3, "x", f32::NAN),
            (1e300, i64::MAX, long_tag.as_str(), f32::INFINITY),
            (123.0, i64::MIN, "é/ü", -0.0),
        ] {
            let event = pb::Event {
                wall_time,
                step,
                what: Some(pb::event::What::Summary(pb::Summary {
                    value: vec![pb::summary::Value {
                        tag: tag.to_owned(),
                        value: Some(pb::summary::value::Value::SimpleValue(value)),
                        ..Default::default()
                    }],
                })),
                ..Default::default()
            };
            let mut ours = Vec::new();
            encode_scalar_event(wall_time, step, tag, value, &mut ours);
            assert_eq!(
                ours,
                event.encode_to_vec(),
                "{wall_time} {step} {tag} {value}"
            );
        }
    }

    /// A file that takes `room` more bytes, a few at a time, then fails as a full disk does.
    struct Filling {
        data: Vec<u8>,
        room: usize,
    }

    impl Write for Filling {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::other("no space left on device"));
            }
            let n = buf.len().min(self.room).min(7);
            self.data.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_is_continued_not_repeated() {
        let mut records = Vec::new();
        for i in 0..5u8 {
            crate::record::encode_record(&[i; 10], &mut records);
        }
        let mut buffered = records.clone();
        // Room for one and a half records: the second is cut off.
        let mut file = Filling {
            data: Vec::new(),
            room: 33,
        };
        assert!(write_out(&mut file, &mut buffered).is_err());
        assert_eq!(file.data, records[..33]);
        assert_eq!(buffered, records[33..]);
        // Space again: the file ends up with every record exactly once.
        file.room = usize::MAX;
        write_out(&mut file, &mut buffered).unwrap();
        assert!(buffered.is_empty());
        assert_eq!(file.data, records);
        let mut reader = crate::record::RecordReader::new(file.data.as_slice());
        let mut n = 0;
        while let Some(r) = reader.next_record().unwrap() {
            assert_eq!(r, [n; 10]);
            n += 1;
        }
        assert_eq!(n, 5);
        assert!(reader.finish().is_clean());
    }

    #[test]
    fn file_names_follow_tensorboard() {
        let name = event_file_name(1_700_000_000.5, ".v2");
        let parts: Vec<&str> = name.split('.').collect();
        assert_eq!(&parts[..4], ["events", "out", "tfevents", "1700000000"]);
        assert!(name.ends_with(".v2"));
        assert!(name.contains(&format!(".{}.", std::process::id())));
    }

    #[test]
    fn background_thread_flushes_without_further_writes() {
        let dir = tempfile::tempdir().unwrap();
        let policy = FlushPolicy {
            every: Duration::from_millis(50),
            max_buffered: usize::MAX,
        };
        let w = EventWriter::create(dir.path(), policy).unwrap();
        let before = fs::metadata(w.path()).unwrap().len();
        let mut bytes = Vec::new();
        encode_scalar_event(1.0, 1, "a", 1.0, &mut bytes);
        w.write_encoded(&bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while fs::metadata(w.path()).unwrap().len() == before {
            assert!(Instant::now() < deadline, "not flushed in the background");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            fs::metadata(w.path()).unwrap().len(),
            before + (bytes.len() + 16) as u64
        );
    }
}
