//! The boundary order of a column index: whether the pages of a column chunk, written one after
//! another, have ascending or descending (min, max) pairs.

use parquet::basic::BoundaryOrder;

/// Follows the (min, max) of each page as pages are written.
pub(super) struct PageOrder<T> {
    last: Option<(T, T)>,
    ascending: bool,
    descending: bool,
}

impl<T: PartialOrd + Copy> PageOrder<T> {
    /// No pages yet.
    pub(super) fn new() -> Self {
        PageOrder {
            last: None,
            ascending: true,
            descending: true,
        }
    }

    /// The next page has these smallest and largest values.
    pub(super) fn push(&mut self, min: T, max: T) {
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
    pub(super) fn boundary(&self) -> BoundaryOrder {
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
