//! Parquet column chunks of `dictionary<int32, utf8>` columns, written from the Arrow keys.
//!
//! The Arrow writer interns every row's string again (hash, compare, min/max compare per row),
//! which for the few distinct runs, tags and file names of a table costs more than encoding
//! every other column together. The keys already say which rows share a value, so here each
//! batch's dictionary is merged once, rows are only renumbered, and the column chunk is written
//! directly: a PLAIN dictionary page with the values in order of first use (as the Arrow writer
//! interns them) and RLE_DICTIONARY data pages, with the same statistics, column index and
//! offset index. The pages are stored uncompressed: they hold a few distinct strings and run
//! lengths, which compression would not make meaningfully smaller.

use std::io;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, DictionaryArray};
use arrow_schema::{DataType, Field};
use parquet::basic::{Compression, Encoding, EncodingMask, PageType, Type};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::column::writer::ColumnCloseResult;
use parquet::data_type::ByteArray;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use parquet::file::reader::ChunkReader;
use parquet::file::statistics::Statistics;
use parquet::file::writer::{SerializedPageWriter, SerializedRowGroupWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;
use rustc_hash::FxHashMap;

use super::page_index::PageIndex;

/// Rows per data page, as the Arrow writer's default page row limit.
pub(super) const PAGE_ROWS: usize = 20_000;

/// A column chunk encoded here, ready to be appended to its row group.
pub struct RawChunk {
    bytes: Vec<u8>,
    close: ColumnCloseResult,
}

impl RawChunk {
    /// A chunk of `bytes` (its pages, offsets relative to their start) described by `close`.
    pub(super) fn new(bytes: Vec<u8>, close: ColumnCloseResult) -> Self {
        RawChunk { bytes, close }
    }

    /// Appends the chunk as the row group's next column.
    pub fn append_to_row_group<W: io::Write + Send>(
        self,
        rg: &mut SerializedRowGroupWriter<'_, W>,
    ) -> Result<()> {
        rg.append_column(&chunk_reader(self.bytes), self.close)
    }
}

/// The chunk's bytes as the `Bytes` that [`SerializedRowGroupWriter::append_column`] reads
/// from (a page buffer has that type; the `bytes` crate is not a dependency of its own).
pub(super) fn chunk_reader(bytes: Vec<u8>) -> impl ChunkReader {
    Page::DictionaryPage {
        buf: bytes.into(),
        num_values: 0,
        encoding: Encoding::PLAIN,
        is_sorted: false,
    }
    .buffer()
    .clone()
}

/// Whether a column is one this module encodes: a non-null `dictionary<int32, utf8>`.
pub fn handles(field: &Field) -> bool {
    !field.is_nullable()
        && matches!(field.data_type(), DataType::Dictionary(k, v)
            if **k == DataType::Int32 && **v == DataType::Utf8)
}

/// Encodes the rows of `arrays` (one row group's batches of one column, in order) into a
/// column chunk described by `descr` (a required BYTE_ARRAY UTF8 leaf).
pub fn encode(descr: ColumnDescPtr, arrays: &[&dyn Array]) -> Result<RawChunk> {
    // Merge the batches' dictionaries, numbering values in order of first use, and turn the
    // rows into runs of equal values (few: rows are sorted by run and tag).
    let mut values: Vec<&str> = Vec::new();
    let mut ids_of: FxHashMap<&str, u32> = FxHashMap::default();
    let mut runs: Vec<(u32, usize)> = Vec::new();
    let mut rows = 0usize;
    for array in arrays {
        let dict: &DictionaryArray<Int32Type> = array
            .as_dictionary_opt::<Int32Type>()
            .ok_or_else(|| ParquetError::General("expected a dictionary<int32> column".into()))?;
        let strings = dict.values().as_string::<i32>();
        // Batch key -> chunk id, assigned when the key is first used.
        let mut map = vec![u32::MAX; strings.len()];
        let keys = dict.keys().values();
        rows += keys.len();
        let mut i = 0;
        while i < keys.len() {
            let k = keys[i];
            let mut j = i + 1;
            while j < keys.len() && keys[j] == k {
                j += 1;
            }
            let slot = map
                .get_mut(k as usize)
                .ok_or_else(|| ParquetError::General("dictionary key out of range".into()))?;
            if *slot == u32::MAX {
                let s = strings.value(k as usize);
                *slot = *ids_of.entry(s).or_insert_with(|| {
                    values.push(s);
                    values.len() as u32 - 1
                });
            }
            match runs.last_mut() {
                Some((id, n)) if *id == *slot => *n += j - i,
                _ => runs.push((*slot, j - i)),
            }
            i = j;
        }
    }

    // Order of the values, for statistics.
    let mut by_value: Vec<u32> = (0..values.len() as u32).collect();
    by_value.sort_unstable_by(|&a, &b| values[a as usize].cmp(values[b as usize]));
    let mut rank = vec![0u32; values.len()];
    for (r, &id) in by_value.iter().enumerate() {
        rank[id as usize] = r as u32;
    }
    let value_of = |r: u32| values[by_value[r as usize] as usize].as_bytes();

    let mut sink = TrackedWrite::new(Vec::new());
    let mut index = PageIndex::new(Type::BYTE_ARRAY);
    let (mut chunk_min, mut chunk_max) = (u32::MAX, 0u32);
    let mut total_bytes = 0i64;
    let dictionary_len;
    {
        let mut pages = SerializedPageWriter::new(&mut sink);
        // Dictionary page: PLAIN, each value as a 4-byte length and its bytes.
        let mut dict = Vec::with_capacity(values.iter().map(|v| v.len() + 4).sum());
        for v in &values {
            dict.extend_from_slice(&(v.len() as u32).to_le_bytes());
            dict.extend_from_slice(v.as_bytes());
        }
        let size = dict.len();
        let spec = pages.write_page(CompressedPage::new(
            Page::DictionaryPage {
                buf: dict.into(),
                num_values: values.len() as u32,
                encoding: Encoding::PLAIN,
                is_sorted: false,
            },
            size,
        ))?;
        dictionary_len = spec.compressed_size as i64;
        index.uncompressed += spec.uncompressed_size as i64;

        let bit_width = bits_for(values.len().saturating_sub(1) as u32);
        let mut next = 0usize; // next run
        let mut taken = 0usize; // rows of runs[next] already in earlier pages
        while next < runs.len() {
            // The runs of this page, the first and last possibly cut at page boundaries.
            let mut page: Vec<(u32, usize)> = Vec::new();
            let mut page_rows = 0usize;
            while page_rows < PAGE_ROWS && next < runs.len() {
                let (id, n) = runs[next];
                let k = (n - taken).min(PAGE_ROWS - page_rows);
                page.push((id, k));
                page_rows += k;
                taken += k;
                if taken == n {
                    next += 1;
                    taken = 0;
                }
            }
            let mut buf = Vec::with_capacity(16 + page.len() * 8);
            buf.push(bit_width);
            rle_hybrid(&page, bit_width, &mut buf);
            let (mut min, mut max) = (u32::MAX, 0u32);
            let mut bytes = 0i64;
            for &(id, n) in &page {
                let r = rank[id as usize];
                min = min.min(r);
                max = max.max(r);
                bytes += (values[id as usize].len() * n) as i64;
            }
            total_bytes += bytes;
            chunk_min = chunk_min.min(min);
            chunk_max = chunk_max.max(max);
            index.write_data_page(
                &mut pages,
                buf,
                page_rows,
                Encoding::RLE_DICTIONARY,
                (value_of(min), value_of(max)),
                (value_of(min).to_vec(), value_of(max).to_vec()),
            )?;
            index
                .offset
                .append_unencoded_byte_array_data_bytes(Some(bytes));
        }
        pages.close()?;
    }
    let bytes = sink
        .into_inner()
        .map_err(|e| ParquetError::External(Box::new(e)))?;
    let (uncompressed, data_pages) = (index.uncompressed, index.data_pages);
    let (offset_index, column_index) = index.finish();

    let stat = |r: u32| ByteArray::from(value_of(r).to_vec());
    let statistics = if rows > 0 {
        Statistics::byte_array(
            Some(stat(chunk_min)),
            Some(stat(chunk_max)),
            None,
            Some(0),
            false,
        )
    } else {
        Statistics::byte_array(None, None, None, Some(0), false)
    };
    let encodings = [Encoding::PLAIN, Encoding::RLE, Encoding::RLE_DICTIONARY];
    let mut encoding_stats = vec![PageEncodingStats {
        page_type: PageType::DICTIONARY_PAGE,
        encoding: Encoding::PLAIN,
        count: 1,
    }];
    if data_pages > 0 {
        encoding_stats.push(PageEncodingStats {
            page_type: PageType::DATA_PAGE,
            encoding: Encoding::RLE_DICTIONARY,
            count: data_pages,
        });
    }
    let metadata = ColumnChunkMetaData::builder(descr)
        .set_compression(Compression::UNCOMPRESSED)
        .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
        .set_page_encoding_stats(encoding_stats)
        .set_total_compressed_size(bytes.len() as i64)
        .set_total_uncompressed_size(uncompressed)
        .set_num_values(rows as i64)
        .set_data_page_offset(dictionary_len)
        .set_dictionary_page_offset(Some(0))
        .set_statistics(statistics)
        .set_unencoded_byte_array_data_bytes(Some(total_bytes))
        .build()?;
    let column_index = if column_index.valid() && data_pages > 0 {
        Some(column_index.build()?)
    } else {
        None
    };
    Ok(RawChunk {
        close: ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: rows as u64,
            metadata,
            bloom_filter: None,
            column_index,
            offset_index: Some(offset_index.build()),
        },
        bytes,
    })
}

/// Bits needed for values up to `max`.
fn bits_for(max: u32) -> u8 {
    (32 - max.leading_zeros()) as u8
}

/// Appends the values given as `(value, count)` runs in Parquet's RLE / bit-packing hybrid
/// encoding at `bit_width` bits (without a length prefix, as in dictionary-index data pages).
/// Runs of 8 or more become RLE runs; shorter ones are bit-packed in groups of 8, the last
/// group padded with zeros.
fn rle_hybrid(runs: &[(u32, usize)], bit_width: u8, out: &mut Vec<u8>) {
    let value_bytes = (bit_width as usize).div_ceil(8);
    let mut literals: Vec<u32> = Vec::new();
    for &(v, n) in runs {
        if n >= 8 {
            let mut n = n;
            if !literals.is_empty() {
                // Complete the literals' last group with values of this run.
                let fill = (8 - literals.len() % 8) % 8;
                literals.extend(std::iter::repeat_n(v, fill));
                bit_pack(&literals, bit_width, out);
                literals.clear();
                n -= fill;
            }
            put_varint(out, (n as u64) << 1);
            out.extend_from_slice(&v.to_le_bytes()[..value_bytes]);
        } else {
            literals.extend(std::iter::repeat_n(v, n));
        }
    }
    if !literals.is_empty() {
        bit_pack(&literals, bit_width, out);
    }
}
/// One bit-packed run of `values` (padded with zeros to a multiple of 8).
fn bit_pack(values: &[u32], bit_width: u8, out: &mut Vec<u8>) {
    let groups = values.len().div_ceil(8);
    put_varint(out, ((groups as u64) << 1) | 1);
    let mut acc = 0u64;
    let mut bits = 0u32;
    let bw = u32::from(bit_width);
    for k in 0..groups * 8 {
        let v = values.get(k).copied().unwrap_or(0);
        acc |= u64::from(v) << bits;
        bits += bw;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    // groups * 8 * bw is a multiple of 8 bits: nothing is left over.
    debug_assert_eq!(bits, 0);
}

pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use arrow_schema::Schema;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::arrow_writer::{compute_leaves, ArrowWriter};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;

    fn dict(keys: Vec<i32>, values: &[&str]) -> ArrayRef {
        let values: ArrayRef = Arc::new(StringArray::from(values.to_vec()));
        Arc::new(DictionaryArray::<Int32Type>::try_new(keys.into(), values).unwrap())
    }

    /// Writes the batches as one row group (the dictionary column through `encode`, the other
    /// with the Arrow writer) and reads the file back.
    fn round_trip(batches: &[RecordBatch]) -> (Vec<RecordBatch>, Vec<u8>) {
        let schema = batches[0].schema();
        let mut out = Vec::new();
        let w = ArrowWriter::try_new(&mut out, schema.clone(), None).unwrap();
        let (mut writer, factory) = w.into_serialized_writer().unwrap();
        let leaves = writer.schema_descr().columns().to_vec();
        let mut writers = factory.create_column_writers(0).unwrap();
        let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(0).as_ref()).collect();
        let chunk = encode(leaves[0].clone(), &arrays).unwrap();
        for b in batches {
            for leaf in compute_leaves(schema.field(1), b.column(1)).unwrap() {
                writers[1].write(&leaf).unwrap();
            }
        }
        let other = writers.pop().unwrap().close().unwrap();
        let mut rg = writer.next_row_group().unwrap();
        chunk.append_to_row_group(&mut rg).unwrap();
        other.append_to_row_group(&mut rg).unwrap();
        rg.close().unwrap();
        writer.close().unwrap();
        let read = ParquetRecordBatchReaderBuilder::try_new(parquet_bytes(&out))
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
        (read, out)
    }

    fn parquet_bytes(out: &[u8]) -> impl ChunkReader + 'static {
        chunk_reader(out.to_vec())
    }

    fn strings(batches: &[RecordBatch]) -> Vec<String> {
        let mut v = Vec::new();
        for b in batches {
            let d = b.column(0).as_dictionary::<Int32Type>();
            let values = d.values().as_string::<i32>();
            v.extend(
                d.keys()
                    .values()
                    .iter()
                    .map(|&k| values.value(k as usize).to_owned()),
            );
        }
        v
    }

    fn batch(keys: Vec<i32>, values: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "s",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                false,
            ),
            Field::new("n", DataType::Int64, false),
        ]));
        let n = keys.len() as i64;
        RecordBatch::try_new(
            schema,
            vec![
                dict(keys, values),
                Arc::new(Int64Array::from_iter_values(0..n)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn values_round_trip_in_every_pattern() {
        let names: Vec<String> = (0..300).map(|i| format!("tag/{i:03}")).collect();
        let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        let patterns: Vec<(Vec<i32>, &[&str])> = vec![
            (vec![0; 5], &names[..1]),
            (vec![0; 45_000], &names[..1]),
            ((0..1000).map(|i| i % 2).collect(), &names[..2]),
            ((0..1000).map(|i| (i / 7) % 3).collect(), &names[..3]),
            ((0..1000).map(|i| (i / 8) % 3).collect(), &names[..3]),
            ((0..1000).map(|i| (i / 9) % 3).collect(), &names[..3]),
            ((0..50_000).map(|i| (i * 7919) % 300).collect(), &names),
            ((0..41_000).map(|i| i / 1000).collect(), &names[..41]),
            // A value the rows never use.
            (vec![2, 2, 0, 2], &names[..3]),
        ];
        for (keys, values) in patterns {
            let b = batch(keys, values);
            let (read, _) = round_trip(std::slice::from_ref(&b));
            assert_eq!(strings(&read), strings(&[b]));
        }
    }

    #[test]
    fn batches_with_their_own_dictionaries_merge() {
        let a = batch(vec![1, 1, 0], &["b", "a", "unused"]);
        let b = batch(vec![0, 2, 2, 1], &["c", "z", "a"]);
        let (read, out) = round_trip(&[a.clone(), b.clone()]);
        assert_eq!(strings(&read), strings(&[a, b]));
        // Values in order of first use, unused ones left out, as the Arrow writer does.
        let d = read[0].column(0).as_dictionary::<Int32Type>();
        let values: Vec<&str> = d.values().as_string::<i32>().iter().flatten().collect();
        assert_eq!(values, ["a", "b", "c", "z"]);
        let reader = SerializedFileReader::new(parquet_bytes(&out)).unwrap();
        let column = reader.metadata().row_group(0).column(0);
        let stats = column.statistics().unwrap();
        assert_eq!(stats.min_bytes_opt(), Some(&b"a"[..]));
        assert_eq!(stats.max_bytes_opt(), Some(&b"z"[..]));
        assert_eq!(stats.null_count_opt(), Some(0));
        assert_eq!(column.num_values(), 7);
    }

    #[test]
    fn rle_hybrid_decodes() {
        // Decodes the hybrid encoding back, for the cases the writer produces.
        fn decode(buf: &[u8], bit_width: u8, n: usize) -> Vec<u32> {
            let mut out = Vec::new();
            let mut pos = 0;
            let bytes = (bit_width as usize).div_ceil(8);
            while out.len() < n {
                let mut header = 0u64;
                let mut shift = 0;
                loop {
                    let b = buf[pos];
                    pos += 1;
                    header |= u64::from(b & 0x7f) << shift;
                    shift += 7;
                    if b < 0x80 {
                        break;
                    }
                }
                if header & 1 == 0 {
                    let mut v = [0u8; 4];
                    v[..bytes].copy_from_slice(&buf[pos..pos + bytes]);
                    pos += bytes;
                    out.extend(std::iter::repeat_n(
                        u32::from_le_bytes(v),
                        (header >> 1) as usize,
                    ));
                } else {
                    let count = (header >> 1) as usize * 8;
                    let mut acc = 0u64;
                    let mut bits = 0;
                    for _ in 0..count {
                        while bits < bit_width as u32 {
                            acc |= u64::from(buf[pos]) << bits;
                            pos += 1;
                            bits += 8;
                        }
                        out.push((acc & ((1u64 << bit_width) - 1)) as u32);
                        acc >>= bit_width;
                        bits -= bit_width as u32;
                    }
                }
            }
            assert_eq!(pos, buf.len());
            out.truncate(n);
            out
        }
        let cases: Vec<Vec<(u32, usize)>> = vec![
            vec![(3, 1)],
            vec![(1, 8)],
            vec![(1, 3), (2, 9), (0, 1)],
            vec![(5, 7), (6, 7), (7, 20), (1, 1), (2, 2)],
            (0..100).map(|i| (i % 5, 1 + (i as usize % 11))).collect(),
        ];
        for runs in cases {
            for bit_width in [3u8, 8, 9, 17] {
                let mut buf = Vec::new();
                rle_hybrid(&runs, bit_width, &mut buf);
                let want: Vec<u32> = runs
                    .iter()
                    .flat_map(|&(v, n)| std::iter::repeat_n(v, n))
                    .collect();
                assert_eq!(decode(&buf, bit_width, want.len()), want);
            }
        }
    }
}
