//! The masked CRC-32C checksums that guard TFRecord lengths and payloads.

/// Added after rotating, as TFRecord's `MaskedCrc` does (from TensorFlow's `crc32c.h`).
const MASK_DELTA: u32 = 0xa282_ead8;

/// A CRC-32C (Castagnoli) checksum in TFRecord's masked form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaskedCrc(pub u32);

impl MaskedCrc {
    /// Computes the masked CRC-32C of `data` (hardware accelerated where the CPU has it).
    #[inline]
    pub fn compute(data: &[u8]) -> MaskedCrc {
        MaskedCrc::from_crc(crc32c(data))
    }

    /// Masks a raw CRC-32C value.
    #[inline]
    pub fn from_crc(crc: u32) -> MaskedCrc {
        MaskedCrc(crc.rotate_right(15).wrapping_add(MASK_DELTA))
    }

    /// Recovers the raw CRC-32C value.
    #[inline]
    pub fn unmask(self) -> u32 {
        self.0.wrapping_sub(MASK_DELTA).rotate_left(15)
    }

    /// Reads a masked CRC stored as 4 little-endian bytes.
    #[inline]
    pub fn from_le_bytes(bytes: [u8; 4]) -> MaskedCrc {
        MaskedCrc(u32::from_le_bytes(bytes))
    }
}

/// Inputs shorter than this (record headers, most scalar events) take the short path below;
/// longer ones go to the `crc32c` crate, whose setup pays off only on longer inputs.
const SHORT_INPUT: usize = 128;

/// CRC-32C of `data`.
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if data.len() < SHORT_INPUT && std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU supports SSE4.2, checked just above.
            return unsafe { crc32c_short_sse42(data) };
        }
    }
    crc32c::crc32c(data)
}

/// CRC-32C with the SSE4.2 `crc32` instruction, 8 bytes at a time; for short inputs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn crc32c_short_sse42(data: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let mut crc = u64::from(!0u32);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let word = u64::from_le_bytes(w.try_into().expect("chunks of 8"));
        crc = _mm_crc32_u64(crc, word);
    }
    let mut crc = crc as u32;
    for &b in words.remainder() {
        crc = _mm_crc32_u8(crc, b);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn masked_length_field() {
        assert_eq!(
            MaskedCrc::compute(&24u64.to_le_bytes()),
            MaskedCrc(0x224b_7fa3)
        );
    }

    #[test]
    fn masked_data() {
        assert_eq!(
            MaskedCrc::compute(b"\x1a\x11CRC test, one two"),
            MaskedCrc(0x5794_d08a)
        );
    }

    #[test]
    fn zeros_raw_and_masked() {
        let zeros = [0u8; 32];
        assert_eq!(crc32c::crc32c(&zeros), 0x8a91_36aa);
        assert_eq!(MaskedCrc::compute(&zeros), MaskedCrc(0x0fd7_fffa));
    }

    #[test]
    fn short_path_agrees_with_crate_at_every_length() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 131 + 7) as u8).collect();
        for len in 0..data.len() {
            for start in 0..3 {
                let d = &data[start..start + len.min(data.len() - start)];
                assert_eq!(crc32c(d), crc32c::crc32c(d), "len {len} start {start}");
            }
        }
    }

    #[test]
    fn unmask_inverts_mask() {
        for crc in [0u32, 1, 0xdead_beef, u32::MAX, 0x8a91_36aa] {
            assert_eq!(MaskedCrc::from_crc(crc).unmask(), crc);
        }
    }
}
