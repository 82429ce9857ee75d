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
        MaskedCrc::from_crc(crc32c::crc32c(data))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
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
    fn unmask_inverts_mask() {
        for crc in [0u32, 1, 0xdead_beef, u32::MAX, 0x8a91_36aa] {
            assert_eq!(MaskedCrc::from_crc(crc).unmask(), crc);
        }
    }
}
