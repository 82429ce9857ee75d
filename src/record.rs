//! Resumable, damage-tolerant reading and writing of TFRecord framing.
//!
//! A record is `u64 LE length | u32 LE masked_crc(length bytes) | data | u32 LE masked_crc(data)`
//! (TensorFlow's `record_writer.cc`). The reader never trusts a length it has not checked, never
//! allocates more than the bytes it has actually read (at most twice that), skips what it cannot
//! read, and counts every byte it skips.

use std::io::{self, Read, Write};

use serde::Serialize;

use crate::masked_crc::MaskedCrc;

/// Bytes before the data of a record: the length and its masked CRC.
pub const HEADER_LEN: usize = 12;
/// Bytes after the data of a record: the masked CRC of the data.
pub const FOOTER_LEN: usize = 4;
/// Largest record accepted. Protocol buffers cannot exceed 2 GiB and no writer comes near this;
/// a longer length whose CRC happens to match is treated as corrupt.
pub const MAX_RECORD_LEN: u64 = 1 << 30;
/// Initial buffer size; the buffer grows (by doubling) only to hold a record longer than this.
const INITIAL_BUFFER: usize = 1 << 20;

/// What went wrong while reading one stream of records, and how much was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Damage {
    /// Records whose length and data checksums were both valid.
    pub records_read: u64,
    /// Bytes of those valid records, framing included.
    pub bytes_read: u64,
    /// Records skipped because their data failed its checksum (their length was valid).
    pub bad_data_crc: u64,
    /// Places where a record header failed its checksum; each starts a resync.
    pub bad_length_crc: u64,
    /// Bytes skipped while scanning forward for the next valid record after a bad header.
    pub resync_bytes: u64,
    /// Bytes of an incomplete record at the end of the stream (counted by
    /// [`RecordReader::finish`]).
    pub truncated_bytes: u64,
}

impl Damage {
    /// True when nothing was skipped or cut off.
    pub fn is_clean(&self) -> bool {
        self.bad_data_crc == 0
            && self.bad_length_crc == 0
            && self.resync_bytes == 0
            && self.truncated_bytes == 0
    }

    /// Adds the counts of `other` to these.
    pub fn add(&mut self, other: &Damage) {
        self.records_read += other.records_read;
        self.bytes_read += other.bytes_read;
        self.bad_data_crc += other.bad_data_crc;
        self.bad_length_crc += other.bad_length_crc;
        self.resync_bytes += other.resync_bytes;
        self.truncated_bytes += other.truncated_bytes;
    }
}

/// Reads records from any [`Read`], resumably.
///
/// [`RecordReader::next_record`] returns `Ok(None)` when no complete record is available: at the
/// end of the stream, or in the middle of a record that is still being written. Calling it again
/// later continues from the same place, so a growing file can be tailed. Damage is skipped and
/// counted in [`RecordReader::damage`]; only I/O errors are returned as errors.
pub struct RecordReader<R> {
    inner: R,
    /// Bytes read from `inner`; `buf[start..end]` are not consumed yet. Its length only grows,
    /// and only when a record does not fit, by doubling while data keeps arriving.
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    start: usize,
    /// End of the valid bytes in `buf`.
    end: usize,
    /// Offset in the stream of `buf[start]`.
    offset: u64,
    /// True from a bad header checksum until the next valid record.
    resyncing: bool,
    /// When false, data checksums are checked only while resyncing (see
    /// [`RecordReader::skip_data_checks`]).
    check_data: bool,
    /// `buf` range of the data of the last record returned, followed by its 4-byte footer.
    last: (usize, usize),
    /// Counts so far (without the pending tail).
    damage: Damage,
}

impl<R: Read> RecordReader<R> {
    /// Creates a reader at the start of `inner`.
    pub fn new(inner: R) -> Self {
        RecordReader {
            inner,
            buf: Vec::new(),
            start: 0,
            end: 0,
            offset: 0,
            resyncing: false,
            check_data: true,
            last: (0, 0),
            damage: Damage::default(),
        }
    }

    /// Stops checking data checksums of records whose header is valid, for a quick scan that
    /// only looks at a few records and checks those with [`RecordReader::last_data_ok`].
    /// Framing and resyncing behave exactly as with checks, so the same records are returned
    /// (plus those whose data is corrupt), in the same order.
    pub fn skip_data_checks(mut self) -> Self {
        self.check_data = false;
        self
    }

    /// Whether the data checksum of the record last returned by
    /// [`RecordReader::next_record`] holds.
    pub fn last_data_ok(&self) -> bool {
        data_ok(&self.buf, self.last)
    }

    /// Returns the data of the next valid record, or `None` when no complete record is available
    /// yet. Records with a bad checksum are skipped and counted; after a bad header the reader
    /// scans forward byte by byte for the next record whose header and data checksums both hold.
    pub fn next_record(&mut self) -> io::Result<Option<&[u8]>> {
        loop {
            match self.next_framed()? {
                None => return Ok(None),
                Some((_, false)) => {}
                Some((range, true)) => return Ok(Some(&self.buf[range.0..range.1])),
            }
        }
    }

    /// Like [`RecordReader::next_record`], but also returns the records it skips for a bad
    /// data checksum (their header is valid), flagged `false`; the counts are the same.
    pub fn next_record_or_corrupt(&mut self) -> io::Result<Option<(&[u8], bool)>> {
        Ok(self
            .next_framed()?
            .map(|((start, end), ok)| (&self.buf[start..end], ok)))
    }

    /// The `buf` range of the next record with a valid header, and whether its data is valid.
    #[inline]
    fn next_framed(&mut self) -> io::Result<Option<((usize, usize), bool)>> {
        loop {
            let window = &self.buf[self.start..self.end];
            match frame(
                window,
                &mut self.resyncing,
                self.check_data,
                &mut self.damage,
            ) {
                Frame::NeedMore(n) => {
                    if !self.fill(n)? {
                        return Ok(None);
                    }
                }
                Frame::Skip(n) => self.consume(n),
                Frame::Record { len, total } => {
                    let data_start = self.start + HEADER_LEN;
                    self.consume(total);
                    self.last = (data_start, data_start + len);
                    return Ok(Some((self.last, true)));
                }
                Frame::Corrupt { len, total } => {
                    let data_start = self.start + HEADER_LEN;
                    self.consume(total);
                    return Ok(Some(((data_start, data_start + len), false)));
                }
            }
        }
    }

    /// Counts so far, not counting bytes still pending at the end.
    pub fn damage(&self) -> Damage {
        self.damage
    }

    /// Bytes read from the stream but not yet part of a complete record.
    pub fn pending_bytes(&self) -> u64 {
        (self.end - self.start) as u64
    }

    /// Offset in the stream of the first byte not yet consumed.
    pub fn position(&self) -> u64 {
        self.offset
    }

    /// The final counts, treating the stream as complete: pending bytes count as a truncated
    /// record, or as resync bytes when the reader was scanning after a bad header.
    pub fn finish(&self) -> Damage {
        let mut damage = self.damage;
        let pending = self.pending_bytes();
        if self.resyncing {
            damage.resync_bytes += pending;
        } else {
            damage.truncated_bytes += pending;
        }
        damage
    }

    /// The underlying reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Reads until at least `need` unconsumed bytes are buffered. Returns `false` if the stream
    /// has no more bytes for now.
    fn fill(&mut self, need: usize) -> io::Result<bool> {
        loop {
            let avail = self.end - self.start;
            if avail >= need {
                return Ok(true);
            }
            if self.buf.is_empty() {
                self.buf.resize(INITIAL_BUFFER, 0);
            }
            if self.end == self.buf.len() {
                if self.start > 0 {
                    self.buf.copy_within(self.start..self.end, 0);
                    self.start = 0;
                    self.end = avail;
                } else {
                    // Full of one incomplete record: grow, but never past what is needed.
                    let grown = (self.buf.len() * 2).min(need.max(self.buf.len() + 1));
                    self.buf.resize(grown, 0);
                }
            }
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether `bytes[start..end]`, followed by its 4-byte footer, has a valid data checksum.
fn data_ok(bytes: &[u8], (start, end): (usize, usize)) -> bool {
    match (bytes.get(start..end), bytes.get(end..end + FOOTER_LEN)) {
        (Some(data), Some(footer)) => {
            let footer: [u8; 4] = footer.try_into().expect("4 bytes");
            MaskedCrc::compute(data) == MaskedCrc::from_le_bytes(footer)
        }
        _ => false,
    }
}

/// One framing decision about the unconsumed bytes at the front of a stream.
enum Frame {
    /// At least this many bytes are needed to decide.
    NeedMore(usize),
    /// Skip this many bytes (damage, already counted).
    Skip(usize),
    /// A valid record: `len` data bytes after the header, `total` bytes with framing.
    Record { len: usize, total: usize },
    /// A record whose header is valid but whose data fails its checksum (already counted):
    /// skip `total` bytes; its `len` data bytes follow the header.
    Corrupt { len: usize, total: usize },
}

/// Decides what the bytes at the front of `window` are, counting damage. Shared by the streaming
/// and the in-memory readers so both frame, skip and resync identically.
#[inline(always)]
fn frame(window: &[u8], resyncing: &mut bool, check_data: bool, damage: &mut Damage) -> Frame {
    if window.len() < HEADER_LEN {
        return Frame::NeedMore(HEADER_LEN);
    }
    if !*resyncing {
        // The usual case, decided with fewer steps; anything else is decided below.
        if let Some((len, total)) = crc::valid_record(window, check_data) {
            damage.records_read += 1;
            damage.bytes_read += total as u64;
            return Frame::Record { len, total };
        }
    }
    let len_bytes: [u8; 8] = window[..8].try_into().expect("8 bytes");
    let crc_bytes: [u8; 4] = window[8..12].try_into().expect("4 bytes");
    let len = u64::from_le_bytes(len_bytes);
    let sse42 = crc::has_sse42();
    if len > MAX_RECORD_LEN || crc::length(len, sse42) != MaskedCrc::from_le_bytes(crc_bytes) {
        if !*resyncing {
            *resyncing = true;
            damage.bad_length_crc += 1;
        }
        damage.resync_bytes += 1;
        return Frame::Skip(1);
    }
    // `len <= MAX_RECORD_LEN`, so this fits in usize on 64- and 32-bit targets alike.
    let len = len as usize;
    let total = HEADER_LEN + len + FOOTER_LEN;
    if window.len() < total {
        return Frame::NeedMore(total);
    }
    let data = &window[HEADER_LEN..HEADER_LEN + len];
    let footer: [u8; 4] = window[HEADER_LEN + len..total].try_into().expect("4 bytes");
    if (check_data || *resyncing) && crc::data(data, sse42) != MaskedCrc::from_le_bytes(footer) {
        if *resyncing {
            // A header that only looked valid: keep scanning.
            damage.resync_bytes += 1;
            return Frame::Skip(1);
        }
        damage.bad_data_crc += 1;
        return Frame::Corrupt { len, total };
    }
    *resyncing = false;
    damage.records_read += 1;
    damage.bytes_read += total as u64;
    Frame::Record { len, total }
}

/// Masked CRC-32C of framing, with the CPU's `crc32` instruction where it has one (checked once
/// per record), for the short inputs of most records; the same values as
/// [`MaskedCrc::compute`], which takes everything else.
mod crc {
    use super::{FOOTER_LEN, HEADER_LEN, MAX_RECORD_LEN};
    use crate::masked_crc::MaskedCrc;

    /// Data at least this long goes to [`MaskedCrc::compute`].
    const SHORT: usize = 128;

    #[inline(always)]
    pub fn has_sse42() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("sse4.2")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Of the 8 length bytes of a header, `len` in little-endian order.
    #[inline(always)]
    pub fn length(len: u64, sse42: bool) -> MaskedCrc {
        #[cfg(target_arch = "x86_64")]
        if sse42 {
            // SAFETY: the CPU supports SSE4.2.
            return MaskedCrc::from_crc(unsafe { word(len) });
        }
        let _ = sse42;
        MaskedCrc::compute(&len.to_le_bytes())
    }

    /// Of a record's data.
    #[inline(always)]
    pub fn data(data: &[u8], sse42: bool) -> MaskedCrc {
        #[cfg(target_arch = "x86_64")]
        if sse42 && data.len() < SHORT {
            // SAFETY: the CPU supports SSE4.2.
            return MaskedCrc::from_crc(unsafe { short(data) });
        }
        let _ = sse42;
        MaskedCrc::compute(data)
    }

    /// `(len, total)` of the record at the front of `window` when the CPU has SSE4.2, the whole
    /// record is there, its length is at most [`MAX_RECORD_LEN`] and its checksums hold (the data
    /// checksum only with `check_data`); `None` otherwise, and for anything else.
    #[inline(always)]
    pub fn valid_record(window: &[u8], check_data: bool) -> Option<(usize, usize)> {
        #[cfg(target_arch = "x86_64")]
        if has_sse42() {
            // SAFETY: the CPU supports SSE4.2.
            return unsafe { valid_record_sse42(window, check_data) };
        }
        let _ = (window, check_data);
        None
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "sse4.2")]
    fn valid_record_sse42(window: &[u8], check_data: bool) -> Option<(usize, usize)> {
        let (header, rest) = window.split_first_chunk::<HEADER_LEN>()?;
        let (len, crc) = header.split_first_chunk::<8>()?;
        let len = u64::from_le_bytes(*len);
        let crc = MaskedCrc(u32::from_le_bytes(crc.try_into().ok()?));
        if len > MAX_RECORD_LEN || MaskedCrc::from_crc(word(len)) != crc {
            return None;
        }
        // `len <= MAX_RECORD_LEN`, so this fits in usize on 64- and 32-bit targets alike.
        let len = len as usize;
        if rest.len() < len + FOOTER_LEN {
            return None;
        }
        let (data, rest) = rest.split_at(len);
        if check_data {
            let footer = MaskedCrc(u32::from_le_bytes(*rest.first_chunk::<4>()?));
            let crc = if len < SHORT {
                MaskedCrc::from_crc(short(data))
            } else {
                MaskedCrc::compute(data)
            };
            if crc != footer {
                return None;
            }
        }
        Some((len, HEADER_LEN + len + FOOTER_LEN))
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "sse4.2")]
    #[inline]
    fn word(w: u64) -> u32 {
        use std::arch::x86_64::_mm_crc32_u64;
        !(_mm_crc32_u64(u64::from(!0u32), w) as u32)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "sse4.2")]
    #[inline]
    fn short(data: &[u8]) -> u32 {
        use std::arch::x86_64::{_mm_crc32_u16, _mm_crc32_u32, _mm_crc32_u64, _mm_crc32_u8};
        let mut crc = u64::from(!0u32);
        let mut rest = data;
        while let Some((w, tail)) = rest.split_first_chunk::<8>() {
            crc = _mm_crc32_u64(crc, u64::from_le_bytes(*w));
            rest = tail;
        }
        let mut crc = crc as u32;
        if let Some((w, tail)) = rest.split_first_chunk::<4>() {
            crc = _mm_crc32_u32(crc, u32::from_le_bytes(*w));
            rest = tail;
        }
        if let Some((w, tail)) = rest.split_first_chunk::<2>() {
            crc = _mm_crc32_u16(crc, u16::from_le_bytes(*w));
            rest = tail;
        }
        if let Some(&b) = rest.first() {
            crc = _mm_crc32_u8(crc, b);
        }
        !crc
    }
}

/// Reads records from bytes already in memory, without copying them: the same framing, skips
/// and counts as [`RecordReader`], with records borrowed from the input.
pub struct SliceRecords<'a> {
    data: &'a [u8],
    /// Offset of the first unconsumed byte.
    pos: usize,
    resyncing: bool,
    check_data: bool,
    /// Range of the data of the last record returned.
    last: (usize, usize),
    damage: Damage,
}

impl<'a> SliceRecords<'a> {
    /// A reader over `data`, which is treated as a complete stream.
    pub fn new(data: &'a [u8]) -> Self {
        SliceRecords {
            data,
            pos: 0,
            resyncing: false,
            check_data: true,
            last: (0, 0),
            damage: Damage::default(),
        }
    }

    /// See [`RecordReader::skip_data_checks`].
    pub fn skip_data_checks(mut self) -> Self {
        self.check_data = false;
        self
    }

    /// The data of the next valid record, or `None` at the end (a partial record there is
    /// counted by [`SliceRecords::finish`]).
    pub fn next_record(&mut self) -> Option<&'a [u8]> {
        loop {
            match self.next_record_or_corrupt()? {
                (_, false) => {}
                (data, true) => return Some(data),
            }
        }
    }

    /// See [`RecordReader::next_record_or_corrupt`].
    #[inline]
    pub fn next_record_or_corrupt(&mut self) -> Option<(&'a [u8], bool)> {
        loop {
            let window = &self.data[self.pos..];
            match frame(
                window,
                &mut self.resyncing,
                self.check_data,
                &mut self.damage,
            ) {
                Frame::NeedMore(_) => return None,
                Frame::Skip(n) => self.pos += n,
                Frame::Record { len, total } => {
                    let start = self.pos + HEADER_LEN;
                    self.pos += total;
                    self.last = (start, start + len);
                    return Some((&self.data[start..start + len], true));
                }
                Frame::Corrupt { len, total } => {
                    let start = self.pos + HEADER_LEN;
                    self.pos += total;
                    return Some((&self.data[start..start + len], false));
                }
            }
        }
    }

    /// See [`RecordReader::last_data_ok`].
    pub fn last_data_ok(&self) -> bool {
        data_ok(self.data, self.last)
    }

    /// See [`RecordReader::finish`].
    pub fn finish(&self) -> Damage {
        let mut damage = self.damage;
        let pending = (self.data.len() - self.pos) as u64;
        if self.resyncing {
            damage.resync_bytes += pending;
        } else {
            damage.truncated_bytes += pending;
        }
        damage
    }
}

/// A source of records: a streaming [`RecordReader`] or an in-memory [`SliceRecords`].
pub trait Records {
    /// The next valid record, `None` when no complete record is available.
    fn next(&mut self) -> io::Result<Option<&[u8]>>;
    /// The next record with a valid header, and whether its data checksum holds (see
    /// [`RecordReader::next_record_or_corrupt`]).
    fn next_or_corrupt(&mut self) -> io::Result<Option<(&[u8], bool)>>;
    /// Whether the data checksum of the last record returned holds.
    fn last_ok(&self) -> bool;
    /// Final counts, pending bytes included.
    fn final_damage(&self) -> Damage;
}

impl<R: Read> Records for RecordReader<R> {
    fn next(&mut self) -> io::Result<Option<&[u8]>> {
        self.next_record()
    }
    fn next_or_corrupt(&mut self) -> io::Result<Option<(&[u8], bool)>> {
        self.next_record_or_corrupt()
    }
    fn last_ok(&self) -> bool {
        self.last_data_ok()
    }
    fn final_damage(&self) -> Damage {
        self.finish()
    }
}

impl Records for SliceRecords<'_> {
    fn next(&mut self) -> io::Result<Option<&[u8]>> {
        Ok(self.next_record())
    }
    fn next_or_corrupt(&mut self) -> io::Result<Option<(&[u8], bool)>> {
        Ok(self.next_record_or_corrupt())
    }
    fn last_ok(&self) -> bool {
        self.last_data_ok()
    }
    fn final_damage(&self) -> Damage {
        self.finish()
    }
}

/// Writes records with TFRecord framing.
pub struct RecordWriter<W> {
    inner: W,
}

impl<W: Write> RecordWriter<W> {
    /// Wraps a writer.
    pub fn new(inner: W) -> Self {
        RecordWriter { inner }
    }

    /// Writes one record. The record is complete in `inner` when this returns (modulo buffering
    /// in `inner` itself).
    pub fn write_record(&mut self, data: &[u8]) -> io::Result<()> {
        self.inner.write_all(&encode_header(data.len() as u64))?;
        self.inner.write_all(data)?;
        self.inner
            .write_all(&MaskedCrc::compute(data).0.to_le_bytes())
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// The underlying writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Returns the underlying writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// The 12 header bytes of a record of `len` data bytes.
pub fn encode_header(len: u64) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&len.to_le_bytes());
    let crc = MaskedCrc::compute(&header[..8]);
    header[8..].copy_from_slice(&crc.0.to_le_bytes());
    header
}

/// Appends one framed record holding `data` to `out`.
pub fn encode_record(data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&encode_header(data.len() as u64));
    out.extend_from_slice(data);
    out.extend_from_slice(&MaskedCrc::compute(data).0.to_le_bytes());
}

#[cfg(test)]
pub(crate) mod testing {
    use std::collections::VecDeque;
    use std::io::{self, Read};

    /// A `Read` that hands out scripted chunks; an empty chunk is a (fake) end of file.
    pub struct ScriptedReader {
        pub chunks: VecDeque<Vec<u8>>,
    }

    impl ScriptedReader {
        pub fn new(chunks: Vec<Vec<u8>>) -> Self {
            ScriptedReader {
                chunks: chunks.into(),
            }
        }
    }

    impl Read for ScriptedReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(chunk) = self.chunks.front_mut() else {
                return Ok(0);
            };
            if chunk.is_empty() {
                self.chunks.pop_front();
                return Ok(0);
            }
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            chunk.drain(..n);
            if chunk.is_empty() {
                self.chunks.pop_front();
            }
            Ok(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::ScriptedReader;
    use super::*;

    fn records(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            encode_record(p, &mut out);
        }
        out
    }

    fn read_all<R: Read>(reader: &mut RecordReader<R>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(r) = reader.next_record().unwrap() {
            out.push(r.to_vec());
        }
        out
    }

    #[test]
    fn header_test_vector() {
        let h = encode_header(24);
        assert_eq!(&h[8..], &[0xa3, 0x7f, 0x4b, 0x22]);
    }

    #[test]
    fn reads_clean_stream() {
        let bytes = records(&[b"one", b"", b"three"]);
        let mut r = RecordReader::new(&bytes[..]);
        assert_eq!(
            read_all(&mut r),
            vec![b"one".to_vec(), vec![], b"three".to_vec()]
        );
        let d = r.finish();
        assert!(d.is_clean());
        assert_eq!(d.records_read, 3);
        assert_eq!(d.bytes_read, bytes.len() as u64);
    }

    #[test]
    fn resumes_at_every_split_point() {
        let payloads: Vec<Vec<u8>> = (0..5).map(|i| vec![i as u8; i * 7]).collect();
        let refs: Vec<&[u8]> = payloads.iter().map(|p| &p[..]).collect();
        let bytes = records(&refs);
        for split in 0..=bytes.len() {
            // An empty chunk is a fake end of file; only non-empty halves are scripted.
            let mut chunks = Vec::new();
            if split > 0 {
                chunks.push(bytes[..split].to_vec());
            }
            chunks.push(vec![]);
            if split < bytes.len() {
                chunks.push(bytes[split..].to_vec());
            }
            let reader = ScriptedReader::new(chunks);
            let mut r = RecordReader::new(reader);
            let mut got = read_all(&mut r);
            // A fake end of file in the middle of a record leaves it pending, not damaged.
            assert!(r.damage().is_clean());
            got.extend(read_all(&mut r));
            assert_eq!(got, payloads, "split at {split}");
            assert!(r.finish().is_clean());
        }
    }

    #[test]
    fn resumes_with_one_byte_chunks_and_eofs_between() {
        let bytes = records(&[b"alpha", b"beta"]);
        let mut chunks = Vec::new();
        for b in &bytes {
            chunks.push(vec![*b]);
            chunks.push(vec![]);
        }
        let mut r = RecordReader::new(ScriptedReader::new(chunks));
        let mut got = Vec::new();
        for _ in 0..bytes.len() + 2 {
            got.extend(read_all(&mut r));
        }
        assert_eq!(got, vec![b"alpha".to_vec(), b"beta".to_vec()]);
    }

    #[test]
    fn truncated_tail_is_counted() {
        let bytes = records(&[b"first", b"second"]);
        let cut = bytes.len() - 3;
        let mut r = RecordReader::new(&bytes[..cut]);
        assert_eq!(read_all(&mut r), vec![b"first".to_vec()]);
        assert_eq!(r.pending_bytes(), (HEADER_LEN + 6 + FOOTER_LEN - 3) as u64);
        let d = r.finish();
        assert_eq!(d.truncated_bytes, (HEADER_LEN + 6 + FOOTER_LEN - 3) as u64);
        assert_eq!(d.records_read, 1);
    }

    #[test]
    fn bad_data_crc_skips_one_record() {
        let mut bytes = records(&[b"aaaa", b"bbbb", b"cccc"]);
        let second_data = (HEADER_LEN + 4 + FOOTER_LEN) + HEADER_LEN;
        bytes[second_data + 1] ^= 0x40;
        let mut r = RecordReader::new(&bytes[..]);
        assert_eq!(read_all(&mut r), vec![b"aaaa".to_vec(), b"cccc".to_vec()]);
        let d = r.finish();
        assert_eq!(d.bad_data_crc, 1);
        assert_eq!(d.records_read, 2);
        assert_eq!(d.resync_bytes, 0);
    }

    #[test]
    fn bad_length_resyncs_to_next_record() {
        let mut bytes = records(&[b"aaaa", b"bbbbbbbb", b"cccc"]);
        let second = HEADER_LEN + 4 + FOOTER_LEN;
        bytes[second + 2] ^= 0x01;
        let mut r = RecordReader::new(&bytes[..]);
        assert_eq!(read_all(&mut r), vec![b"aaaa".to_vec(), b"cccc".to_vec()]);
        let d = r.finish();
        assert_eq!(d.bad_length_crc, 1);
        assert_eq!(d.resync_bytes, (HEADER_LEN + 8 + FOOTER_LEN) as u64);
        assert_eq!(d.truncated_bytes, 0);
    }

    #[test]
    fn garbage_between_records_is_skipped() {
        let a = records(&[b"aaaa"]);
        let b = records(&[b"bbbb"]);
        let garbage: Vec<u8> = (0..100u32).map(|i| (i * 37 + 11) as u8).collect();
        let bytes = [a, garbage, b].concat();
        let mut r = RecordReader::new(&bytes[..]);
        assert_eq!(read_all(&mut r), vec![b"aaaa".to_vec(), b"bbbb".to_vec()]);
        let d = r.finish();
        assert_eq!(d.resync_bytes, 100);
        assert_eq!(d.bad_length_crc, 1);
    }

    #[test]
    fn zero_tail_is_skipped_not_truncated() {
        let mut bytes = records(&[b"aaaa"]);
        bytes.extend(std::iter::repeat_n(0u8, 4096));
        let mut r = RecordReader::new(&bytes[..]);
        assert_eq!(read_all(&mut r), vec![b"aaaa".to_vec()]);
        let d = r.finish();
        assert_eq!(d.resync_bytes, 4096);
        assert_eq!(d.truncated_bytes, 0);
    }

    #[test]
    fn huge_length_with_valid_crc_is_rejected() {
        let mut bytes = encode_header(MAX_RECORD_LEN + 1).to_vec();
        bytes.extend(records(&[b"ok"]));
        let mut r = RecordReader::new(&bytes[..]);
        assert_eq!(read_all(&mut r), vec![b"ok".to_vec()]);
        assert_eq!(r.finish().resync_bytes, HEADER_LEN as u64);
    }

    #[test]
    fn large_claimed_length_does_not_allocate_it() {
        // A valid header claiming 512 MiB followed by a few bytes: the buffer stays small.
        let mut bytes = encode_header(512 << 20).to_vec();
        bytes.extend_from_slice(&[1, 2, 3]);
        let mut r = RecordReader::new(&bytes[..]);
        assert!(r.next_record().unwrap().is_none());
        assert!(r.buf.len() <= 2 * INITIAL_BUFFER);
        assert_eq!(r.finish().truncated_bytes, 15);
    }

    #[test]
    fn record_larger_than_buffer() {
        let big = vec![7u8; INITIAL_BUFFER * 3 + 5];
        let bytes = records(&[b"x", &big, b"y"]);
        let mut r = RecordReader::new(&bytes[..]);
        let got = read_all(&mut r);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], big);
    }

    #[test]
    fn slice_reader_frames_like_the_streaming_reader() {
        let mut bytes = records(&[b"aaaa", b"bbbbbbbb", b"cccc", b"dd"]);
        bytes[HEADER_LEN + 4 + FOOTER_LEN + 2] ^= 1; // bad header of the second record
        let n = bytes.len();
        bytes[n - 3] ^= 1; // bad data of the last record
        bytes.extend_from_slice(&[0u8; 20]);
        bytes.extend(records(&[b"eeee"]));
        bytes.truncate(bytes.len() - 2);
        let mut stream = RecordReader::new(&bytes[..]);
        let mut slice = SliceRecords::new(&bytes);
        let a = read_all(&mut stream);
        let mut b = Vec::new();
        while let Some(r) = slice.next_record() {
            b.push(r.to_vec());
        }
        assert_eq!(a, b);
        assert_eq!(stream.finish(), slice.finish());
        assert!(slice.finish().resync_bytes > 0 && slice.finish().bad_data_crc == 1);
    }

    #[test]
    fn writer_round_trips() {
        let mut w = RecordWriter::new(Vec::new());
        w.write_record(b"hello").unwrap();
        w.write_record(b"").unwrap();
        let bytes = w.into_inner();
        let mut r = RecordReader::new(&bytes[..]);
        assert_eq!(read_all(&mut r), vec![b"hello".to_vec(), vec![]]);
    }

    #[test]
    fn framing_checksums_match_masked_crc() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for sse42 in [false, crc::has_sse42()] {
            for n in 0..data.len() {
                assert_eq!(
                    crc::data(&data[..n], sse42),
                    MaskedCrc::compute(&data[..n]),
                    "{n}"
                );
            }
            for len in [0u64, 1, 24, 0x1234_5678_9abc_def0, u64::MAX] {
                assert_eq!(
                    crc::length(len, sse42),
                    MaskedCrc::compute(&len.to_le_bytes())
                );
            }
        }
    }

    #[test]
    fn corrupt_records_are_given_flagged_and_counted_the_same() {
        let mut bytes = records(&[b"one", b"two", b"three"]);
        bytes[HEADER_LEN + 3 + FOOTER_LEN + HEADER_LEN] ^= 1; // a data byte of "two"
        let mut plain = SliceRecords::new(&bytes);
        let mut flagged = SliceRecords::new(&bytes);
        let mut got = Vec::new();
        while let Some((r, ok)) = flagged.next_record_or_corrupt() {
            got.push((r.to_vec(), ok));
        }
        assert_eq!(
            got,
            vec![
                (b"one".to_vec(), true),
                (b"uwo".to_vec(), false),
                (b"three".to_vec(), true)
            ]
        );
        while plain.next_record().is_some() {}
        assert_eq!(plain.finish(), flagged.finish());
        assert_eq!(flagged.finish().bad_data_crc, 1);
        let mut streamed = RecordReader::new(ScriptedReader::new(vec![bytes.clone()]));
        let mut n = 0;
        while let Some((_, ok)) = streamed.next_record_or_corrupt().unwrap() {
            n += usize::from(ok);
        }
        assert_eq!(n, 2);
        assert_eq!(streamed.finish(), flagged.finish());
    }
}
