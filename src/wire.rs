//! Zero-copy iteration over the fields of a protocol buffer message.
//!
//! The event layer decodes the outer messages (Event, Summary, Summary.Value) with this instead
//! of generated code, so that tags are borrowed from the record without allocation and a tag
//! that is not valid UTF-8 does not make the whole record undecodable.

use thiserror::Error;

/// A message that does not follow the protocol buffer wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WireError {
    /// A varint ran past the end of the message or past 10 bytes.
    #[error("malformed varint")]
    Varint,
    /// A field's payload runs past the end of the message.
    #[error("field runs past the end of the message")]
    Truncated,
    /// A wire type that is invalid, or a group (deprecated and never used by event writers).
    #[error("unsupported wire type {0}")]
    WireType(u8),
    /// Field number zero.
    #[error("field number 0")]
    FieldZero,
}

/// The payload of one field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1: a double, fixed64 or sfixed64.
    Fixed64(u64),
    /// Wire type 2: bytes, a string, a sub-message or a packed repeated field.
    Bytes(&'a [u8]),
    /// Wire type 5: a float, fixed32 or sfixed32.
    Fixed32(u32),
}

/// Iterator over `(field number, payload)` pairs of a message.
///
/// On malformed input it yields one error and then stops.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    /// Iterates over the fields of `message`.
    pub fn new(message: &'a [u8]) -> Self {
        Fields { buf: message }
    }
}

/// Reads a varint from the front of `buf`, advancing it.
#[inline]
pub fn read_varint(buf: &mut &[u8]) -> Result<u64, WireError> {
    // Most keys and lengths fit in one byte, most steps in two or three.
    let b: &[u8] = buf;
    match *b {
        [b0, ref rest @ ..] if b0 < 0x80 => {
            *buf = rest;
            Ok(u64::from(b0))
        }
        [b0, b1, ref rest @ ..] if b1 < 0x80 => {
            *buf = rest;
            Ok(u64::from(b0 & 0x7f) | u64::from(b1) << 7)
        }
        [b0, b1, b2, ref rest @ ..] if b2 < 0x80 => {
            *buf = rest;
            Ok(u64::from(b0 & 0x7f) | u64::from(b1 & 0x7f) << 7 | u64::from(b2) << 14)
        }
        _ => read_varint_slow(buf),
    }
}

#[cold]
fn read_varint_slow(buf: &mut &[u8]) -> Result<u64, WireError> {
    let mut value = 0u64;
    for i in 0..10 {
        let Some((&byte, rest)) = buf.split_first() else {
            return Err(WireError::Varint);
        };
        *buf = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(WireError::Varint)
}

#[inline]
fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], WireError> {
    if buf.len() < n {
        return Err(WireError::Truncated);
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Field<'a>), WireError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let result = self.next_field();
        if result.is_err() {
            self.buf = &[];
        }
        Some(result)
    }
}

impl<'a> Fields<'a> {
    #[inline]
    fn next_field(&mut self) -> Result<(u32, Field<'a>), WireError> {
        let key = read_varint(&mut self.buf)?;
        let number = (key >> 3) as u32;
        if number == 0 {
            return Err(WireError::FieldZero);
        }
        let field = match (key & 7) as u8 {
            0 => Field::Varint(read_varint(&mut self.buf)?),
            1 => {
                let b = take(&mut self.buf, 8)?;
                Field::Fixed64(u64::from_le_bytes(
                    b.try_into().map_err(|_| WireError::Truncated)?,
                ))
            }
            2 => {
                let len = read_varint(&mut self.buf)?;
                let len = usize::try_from(len).map_err(|_| WireError::Truncated)?;
                Field::Bytes(take(&mut self.buf, len)?)
            }
            5 => {
                let b = take(&mut self.buf, 4)?;
                Field::Fixed32(u32::from_le_bytes(
                    b.try_into().map_err(|_| WireError::Truncated)?,
                ))
            }
            other => return Err(WireError::WireType(other)),
        };
        Ok((number, field))
    }
}

/// A cursor over a message for hand-written decoders of hot messages: read a key, then the
/// payload its wire type calls for. Every method fails cleanly on truncated input.
#[derive(Debug, Clone, Copy)]
pub struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `message`.
    #[inline]
    pub fn new(message: &'a [u8]) -> Self {
        Cursor { buf: message }
    }

    /// True when the whole message has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Reads a field key: `(field number << 3) | wire type`.
    #[inline]
    pub fn key(&mut self) -> Result<u64, WireError> {
        let key = read_varint(&mut self.buf)?;
        if key >> 3 == 0 {
            return Err(WireError::FieldZero);
        }
        Ok(key)
    }

    /// Reads a varint payload.
    #[inline]
    pub fn varint(&mut self) -> Result<u64, WireError> {
        read_varint(&mut self.buf)
    }

    /// Reads a fixed64 payload.
    #[inline]
    pub fn fixed64(&mut self) -> Result<u64, WireError> {
        let b = take(&mut self.buf, 8)?;
        Ok(u64::from_le_bytes(
            b.try_into().map_err(|_| WireError::Truncated)?,
        ))
    }

    /// Reads a fixed32 payload.
    #[inline]
    pub fn fixed32(&mut self) -> Result<u32, WireError> {
        let b = take(&mut self.buf, 4)?;
        Ok(u32::from_le_bytes(
            b.try_into().map_err(|_| WireError::Truncated)?,
        ))
    }

    /// Reads a length-delimited payload.
    #[inline]
    pub fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let len = read_varint(&mut self.buf)?;
        let len = usize::try_from(len).map_err(|_| WireError::Truncated)?;
        take(&mut self.buf, len)
    }

    /// When the message goes on with a length-delimited field of one-byte key `key` whose
    /// length fits in one byte: that field's payload and the bytes after it.
    #[inline]
    pub fn short_field(&self, key: u8) -> Option<(&'a [u8], &'a [u8])> {
        match *self.buf {
            [k, len, ref rest @ ..] if k == key && len < 0x80 && rest.len() >= len as usize => {
                Some(rest.split_at(len as usize))
            }
            _ => None,
        }
    }

    /// Skips the payload of a field with the given key.
    #[inline]
    pub fn skip(&mut self, key: u64) -> Result<(), WireError> {
        match (key & 7) as u8 {
            0 => self.varint().map(drop),
            1 => self.fixed64().map(drop),
            2 => self.bytes().map(drop),
            5 => self.fixed32().map(drop),
            other => Err(WireError::WireType(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut b: &[u8] = &[0x96, 0x01, 0x00];
        assert_eq!(read_varint(&mut b), Ok(150));
        assert_eq!(read_varint(&mut b), Ok(0));
        assert_eq!(read_varint(&mut b), Err(WireError::Varint));
        let mut long: &[u8] = &[0xff; 11];
        assert_eq!(read_varint(&mut long), Err(WireError::Varint));
    }

    #[test]
    fn fields() {
        // field 1 varint 3, field 2 bytes "hi", field 3 fixed32, field 4 fixed64
        let msg = [
            0x08, 0x03, 0x12, 0x02, b'h', b'i', 0x1d, 1, 0, 0, 0, 0x21, 2, 0, 0, 0, 0, 0, 0, 0,
        ];
        let got: Vec<_> = Fields::new(&msg).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            vec![
                (1, Field::Varint(3)),
                (2, Field::Bytes(b"hi")),
                (3, Field::Fixed32(1)),
                (4, Field::Fixed64(2)),
            ]
        );
    }

    #[test]
    fn truncated_bytes_field_errors_once() {
        let msg = [0x12, 0x05, b'h'];
        let got: Vec<_> = Fields::new(&msg).collect();
        assert_eq!(got, vec![Err(WireError::Truncated)]);
    }

    #[test]
    fn short_varints_read_as_the_general_loop_does() {
        let mut cases: Vec<Vec<u8>> = vec![vec![], vec![0x80], vec![0x80, 0x80], vec![0xff; 3]];
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            let mut x = v;
            while x >= 0x80 {
                b.push(x as u8 | 0x80);
                x >>= 7;
            }
            b.push(x as u8);
            b.push(0x42);
            cases.push(b);
        }
        for c in cases {
            let (mut fast, mut slow): (&[u8], &[u8]) = (&c, &c);
            assert_eq!(read_varint(&mut fast), read_varint_slow(&mut slow), "{c:?}");
            assert_eq!(fast, slow, "{c:?}");
        }
    }
}
