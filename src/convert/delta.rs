//! Parquet column chunks of the `step` columns, DELTA_BINARY_PACKED, written from the Arrow
//! values.
//!
//! Steps are sorted within a tag and usually advance by a constant, so their deltas take no bits
//! at all once the block's smallest delta is stored: the pages are a few bytes per 128 values
//! and are stored uncompressed. Encoding them here takes a fraction of what the general writer
//! spends per value (its statistics, its delta encoder and the compressor); the statistics,
//! column index and offset index are the same.

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::Array;
use arrow_schema::{DataType, Field};
use parquet::basic::{Compression, Encoding, EncodingMask, PageType, Type};
use parquet::column::page::PageWriter;
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ColumnChunkMetaData, PageEncodingStats};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::ColumnDescPtr;

use super::dict::{put_varint, RawChunk, PAGE_ROWS};
use super::page_index::PageIndex;

/// Values per block and miniblocks per block (the Arrow writer's layout).
const BLOCK: usize = 128;
const MINIBLOCKS: usize = 4;
const MINIBLOCK: usize = BLOCK / MINIBLOCKS;

/// Whether a column is one this module encodes: a non-null int64 `step`.
pub fn handles(field: &Field) -> bool {
    !field.is_nullable() && field.name() == "step" && field.data_type() == &DataType::Int64
}

/// Encodes the rows of `arrays` (one row group's batches of one column, in order) into a
/// column chunk described by `descr` (a required INT64 leaf). There must be at least one row.
pub fn encode(descr: ColumnDescPtr, arrays: &[&dyn Array]) -> Result<RawChunk> {
    let mut parts = Vec::with_capacity(arrays.len());
    for a in arrays {
        let a = a
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| ParquetError::General("expected an int64 column".into()))?;
        parts.push(a.values().as_ref());
    }
    let values: Cow<[i64]> = match parts.as_slice() {
        [one] => Cow::Borrowed(one),
        _ => Cow::Owned(parts.concat()),
    };
    if values.is_empty() {
        return Err(ParquetError::General("no rows to encode".into()));
    }

    let mut sink = TrackedWrite::new(Vec::new());
    let mut index = PageIndex::new(Type::INT64);
    let (mut chunk_min, mut chunk_max) = (i64::MAX, i64::MIN);
    {
        let mut pages = SerializedPageWriter::new(&mut sink);
        for page in values.chunks(PAGE_ROWS) {
            let (min, max) = page
                .iter()
                .fold((i64::MAX, i64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            chunk_min = chunk_min.min(min);
            chunk_max = chunk_max.max(max);
            let mut buf = Vec::with_capacity(16 + page.len() / 16);
            delta_binary_packed(page, &mut buf);
            index.write_data_page(
                &mut pages,
                buf,
                page.len(),
                Encoding::DELTA_BINARY_PACKED,
                (min, max),
                (min.to_le_bytes().to_vec(), max.to_le_bytes().to_vec()),
            )?;
        }
        pages.close()?;
    }
    let bytes = sink
        .into_inner()
        .map_err(|e| ParquetError::External(Box::new(e)))?;
    let (uncompressed, data_pages) = (index.uncompressed, index.data_pages);
    let (offset_index, column_index) = index.finish();
    // As the Arrow writer does for a signed type: the deprecated min/max fields too.
    let statistics = Statistics::Int64(
        ValueStatistics::new(Some(chunk_min), Some(chunk_max), None, Some(0), false)
            .with_backwards_compatible_min_max(true),
    );
    let encodings = [Encoding::RLE, Encoding::DELTA_BINARY_PACKED];
    let metadata = ColumnChunkMetaData::builder(descr)
        .set_compression(Compression::UNCOMPRESSED)
        .set_encodings_mask(EncodingMask::new_from_encodings(encodings.iter()))
        .set_page_encoding_stats(vec![PageEncodingStats {
            page_type: PageType::DATA_PAGE,
            encoding: Encoding::DELTA_BINARY_PACKED,
            count: data_pages,
        }])
        .set_total_compressed_size(bytes.len() as i64)
        .set_total_uncompressed_size(uncompressed)
        .set_num_values(values.len() as i64)
        .set_data_page_offset(0)
        .set_statistics(statistics)
        .build()?;
    let close = ColumnCloseResult {
        bytes_written: bytes.len() as u64,
        rows_written: values.len() as u64,
        metadata,
        bloom_filter: None,
        column_index: Some(column_index.build()?),
        offset_index: Some(offset_index.build()),
    };
    Ok(RawChunk::new(bytes, close))
}

fn put_zigzag(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends `values` (at least one) in the DELTA_BINARY_PACKED encoding: a header (block size,
/// miniblocks per block, value count, first value), then per block of deltas its smallest
/// delta, the bit width of each miniblock, and the miniblocks of deltas minus that smallest one,
/// bit-packed (the last miniblock padded with zeros; unused miniblocks of the last block have
/// width 0 and no bytes).
fn delta_binary_packed(values: &[i64], out: &mut Vec<u8>) {
    put_varint(out, BLOCK as u64);
    put_varint(out, MINIBLOCKS as u64);
    put_varint(out, values.len() as u64);
    put_zigzag(out, values[0]);
    let mut deltas = [0i64; BLOCK];
    let mut start = 1;
    while start < values.len() {
        // Deltas of values[start..start + n] from the value before each.
        let n = (values.len() - start).min(BLOCK);
        for (k, d) in deltas[..n].iter_mut().enumerate() {
            *d = values[start + k].wrapping_sub(values[start + k - 1]);
        }
        start += n;
        let min = deltas[..n].iter().copied().min().unwrap_or(0);
        put_zigzag(out, min);
        let mut widths = [0u8; MINIBLOCKS];
        for (m, width) in widths.iter_mut().enumerate() {
            let mini = &deltas[(m * MINIBLOCK).min(n)..((m + 1) * MINIBLOCK).min(n)];
            let max = mini
                .iter()
                .map(|&d| d.wrapping_sub(min) as u64)
                .max()
                .unwrap_or(0);
            *width = (64 - max.leading_zeros()) as u8;
        }
        out.extend_from_slice(&widths);
        for (m, &width) in widths.iter().enumerate() {
            let start = m * MINIBLOCK;
            if start >= n {
                break;
            }
            if width == 0 {
                continue;
            }
            let mut acc = 0u128;
            let mut bits = 0u32;
            // The miniblock, padded with zeros past the last delta.
            let mini = deltas[start..start + MINIBLOCK]
                .iter()
                .enumerate()
                .map(|(k, &d)| {
                    if start + k < n {
                        d.wrapping_sub(min) as u64
                    } else {
                        0
                    }
                });
            for v in mini {
                acc |= u128::from(v) << bits;
                bits += u32::from(width);
                while bits >= 8 {
                    out.push(acc as u8);
                    acc >>= 8;
                    bits -= 8;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch};
    use arrow_schema::Schema;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ArrowWriter;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    use super::super::dict::chunk_reader;
    use super::*;

    fn round_trip(batches: &[Vec<i64>]) -> (Vec<i64>, Statistics) {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "step",
            DataType::Int64,
            false,
        )]));
        let mut out = Vec::new();
        let w = ArrowWriter::try_new(&mut out, schema.clone(), None).unwrap();
        let (mut writer, _) = w.into_serialized_writer().unwrap();
        let leaves = writer.schema_descr().columns().to_vec();
        let arrays: Vec<ArrayRef> = batches
            .iter()
            .map(|b| Arc::new(Int64Array::from(b.clone())) as ArrayRef)
            .collect();
        let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
        let chunk = encode(leaves[0].clone(), &refs).unwrap();
        let mut rg = writer.next_row_group().unwrap();
        chunk.append_to_row_group(&mut rg).unwrap();
        rg.close().unwrap();
        writer.close().unwrap();
        let read: Vec<i64> = ParquetRecordBatchReaderBuilder::try_new(chunk_reader(out.clone()))
            .unwrap()
            .build()
            .unwrap()
            .flat_map(|b| {
                let b: RecordBatch = b.unwrap();
                b.column(0).as_primitive::<Int64Type>().values().to_vec()
            })
            .collect();
        let reader = SerializedFileReader::new(chunk_reader(out)).unwrap();
        let stats = reader
            .metadata()
            .row_group(0)
            .column(0)
            .statistics()
            .cloned();
        (read, stats.unwrap())
    }

    #[test]
    fn steps_round_trip() {
        let mut cases: Vec<Vec<Vec<i64>>> = vec![
            vec![vec![7]],
            vec![vec![0, 1]],
            vec![(0..20_000).collect(), (0..20_000).collect()],
            vec![(0..50_001).map(|i| i * 10).collect()],
            vec![(0..1000).map(|i| (i * 7919) % 1013 - 500).collect()],
            vec![vec![i64::MIN, i64::MAX, 0, -1, i64::MAX, i64::MIN]],
            vec![(0..300)
                .map(|i| if i % 2 == 0 { i } else { -i << 40 })
                .collect()],
        ];
        // Lengths around block and miniblock boundaries.
        for n in [31, 32, 33, 127, 128, 129, 130, 161, 256, 257] {
            cases.push(vec![(0..n).map(|i| i * i).collect()]);
        }
        for case in cases {
            let want: Vec<i64> = case.concat();
            let (got, stats) = round_trip(&case);
            assert_eq!(got, want);
            let Statistics::Int64(s) = stats else {
                panic!("int64 statistics expected")
            };
            assert_eq!(s.min_opt(), want.iter().min());
            assert_eq!(s.max_opt(), want.iter().max());
        }
    }
}
