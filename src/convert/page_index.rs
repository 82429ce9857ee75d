//! The page indexes of a column chunk written page by page: where each data page is and how
//! many rows it holds (offset index), its smallest and largest value (column index), and
//! whether those come in ascending or descending order (the column index's boundary order).

use parquet::basic::{BoundaryOrder, Encoding, Type};
use parquet::column::page::{CompressedPage, Page, PageWriter};
use parquet::errors::Result;
use parquet::file::metadata::{ColumnIndexBuilder, OffsetIndexBuilder};

/// The indexes of a column chunk and its page counts, filled as data pages are written.
pub(super) struct PageIndex<T> {
    /// Offset index: each page's place, size and rows.
    pub offset: OffsetIndexBuilder,
    column: ColumnIndexBuilder,
    order: PageOrder<T>,
    /// Uncompressed bytes of every page written so far (a dictionary page is added by hand).
    pub uncompressed: i64,
    /// Data pages written.
    pub data_pages: i32,
}

impl<T: PartialOrd + Copy> PageIndex<T> {
    /// No pages yet, for a column of physical type `ty`.
    pub(super) fn new(ty: Type) -> Self {
        PageIndex {
            offset: OffsetIndexBuilder::new(),
            column: ColumnIndexBuilder::new(ty),
            order: PageOrder::new(),
            uncompressed: 0,
            data_pages: 0,
        }
    }

    /// Writes one uncompressed data page of `rows` rows in `encoding` and records it: its
    /// place and rows, and its smallest and largest value both as stored (`min_max_bytes`)
    /// and as ordered (`min_max`).
    pub(super) fn write_data_page(
        &mut self,
        pages: &mut impl PageWriter,
        buf: Vec<u8>,
        rows: usize,
        encoding: Encoding,
        min_max: (T, T),
        min_max_bytes: (Vec<u8>, Vec<u8>),
    ) -> Result<()> {
        let size = buf.len();
        let spec = pages.write_page(CompressedPage::new(
            Page::DataPage {
                buf: buf.into(),
                num_values: rows as u32,
                encoding,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            },
            size,
        ))?;
        self.uncompressed += spec.uncompressed_size as i64;
        self.data_pages += 1;
        self.offset
            .append_offset_and_size(spec.offset as i64, spec.compressed_size as i32);
        self.offset.append_row_count(rows as i64);
        self.column
            .append(false, min_max_bytes.0, min_max_bytes.1, 0, None);
        self.order.push(min_max.0, min_max.1);
        Ok(())
    }

    /// The offset index, and the column index with the boundary order of the pages written.
    pub(super) fn finish(mut self) -> (OffsetIndexBuilder, ColumnIndexBuilder) {
        self.column.set_boundary_order(self.order.boundary());
        (self.offset, self.column)
    }
}

/// Follows the (min, max) of each page as pages are written.
struct PageOrder<T> {
    last: Option<(T, T)>,
    ascending: bool,
    descending: bool,
}

impl<T: PartialOrd + Copy> PageOrder<T> {
    /// No pages yet.
    fn new() -> Self {
        PageOrder {
            last: None,
            ascending: true,
            descending: true,
        }
    }

    /// The next page has these smallest and largest values.
    fn push(&mut self, min: T, max: T) {
        if let Some((last_min, last_max)) = self.last {
            if last_min > min || last_max > max {
                self.ascending = false;
            }
            if min > last_min || max > last_max {
                self.descending = false;
            }
        }
        self.last = Some((min, max));
    }

    /// The order of the pages so far (ascending when there are fewer than two, or all are equal).
    fn boundary(&self) -> BoundaryOrder {
        match (self.ascending, self.descending) {
            (true, _) => BoundaryOrder::ASCENDING,
            (false, true) => BoundaryOrder::DESCENDING,
            (false, false) => BoundaryOrder::UNORDERED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(pages: &[(i64, i64)]) -> BoundaryOrder {
        let mut o = PageOrder::new();
        for &(min, max) in pages {
            o.push(min, max);
        }
        o.boundary()
    }

    #[test]
    fn orders_of_pages() {
        assert_eq!(order(&[]), BoundaryOrder::ASCENDING);
        assert_eq!(order(&[(5, 9)]), BoundaryOrder::ASCENDING);
        assert_eq!(order(&[(1, 4), (4, 8), (4, 9)]), BoundaryOrder::ASCENDING);
        assert_eq!(order(&[(7, 9), (3, 8), (1, 2)]), BoundaryOrder::DESCENDING);
        // The minimum rises while the maximum falls: neither.
        assert_eq!(order(&[(1, 9), (2, 8)]), BoundaryOrder::UNORDERED);
        assert_eq!(order(&[(1, 2), (5, 6), (3, 4)]), BoundaryOrder::UNORDERED);
        let mut bytes = PageOrder::new();
        bytes.push(&b"loss"[..], &b"val"[..]);
        bytes.push(&b"val"[..], &b"zeta"[..]);
        assert_eq!(bytes.boundary(), BoundaryOrder::ASCENDING);
    }
}
