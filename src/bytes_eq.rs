//! Equality of short byte strings (tags), without a call to `memcmp` on the hot paths that
//! compare a tag with the one seen last time.

/// `a == b`, compared a machine word at a time.
#[inline(always)]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a == b;
    }
    let word = |s: &[u8], i: usize| {
        s.get(i..i + 8)
            .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
    };
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    // The last word, overlapping the one before when `n` is not a multiple of 8.
    word(a, n - 8) == word(b, n - 8)
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn agrees_with_eq_for_every_length_and_position() {
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            assert!(same(&a, &a.clone()), "n={n}");
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x40;
                assert!(!same(&a, &b), "n={n} differing at {i}");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!same(&a, &longer), "n={n} vs n+1");
        }
    }

    #[test]
    fn agrees_with_eq_on_tags() {
        let words = [
            "",
            "a",
            "ab",
            "abcdefg",
            "abcdefgh",
            "abcdefgi",
            "train/loss",
            "train/lost",
            "perf/samples_per_sec",
            "perf/samples_per_seb",
            "xerf/samples_per_sec",
            "perf/samples_per_secs",
            "val/mAP",
            "val/map",
        ];
        for a in words {
            for b in words {
                assert_eq!(same(a.as_bytes(), b.as_bytes()), a == b, "{a:?} {b:?}");
            }
        }
    }
}
