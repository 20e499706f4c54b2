//! `RowBinary`, the input format inserts use: values in column order, little-endian, strings
//! as a LEB128 length and their bytes.
//!
//! Why binary and not `JSONEachRow`: parsing JSON was most of the server's work in an insert
//! (`bench/sink`), and `clickhouse-client` does the same — it parses its input itself and
//! sends the server binary blocks. Every release since 18.x reads this format.
//!
//! A row type says which columns it fills ([`RowBinary::COLUMNS`]) and writes them in that
//! order; the insert names the columns, so a table may have more (they take their defaults)
//! and the order of the table's definition does not matter.

/// A row that can be written as `RowBinary`.
pub trait RowBinary {
    /// The columns `write` fills, in the order it writes them.
    const COLUMNS: &'static [&'static str];

    fn write(&self, out: &mut RowBinaryWriter);
}

/// The body of one insert.
#[derive(Debug, Default)]
pub struct RowBinaryWriter {
    bytes: Vec<u8>,
}

impl RowBinaryWriter {
    pub fn with_capacity(bytes: usize) -> Self {
        RowBinaryWriter {
            bytes: Vec::with_capacity(bytes),
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// `String`: LEB128 length, then the bytes.
    pub fn string(&mut self, value: &str) {
        let mut len = value.len() as u64;
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                self.bytes.push(byte);
                break;
            }
            self.bytes.push(byte | 0x80);
        }
        self.bytes.extend_from_slice(value.as_bytes());
    }

    /// `Enum8`: the value's number.
    pub fn enum8(&mut self, value: i8) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn i32(&mut self, value: i32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn i64(&mut self, value: i64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn u32(&mut self, value: u32) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn u64(&mut self, value: u64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    pub fn f64(&mut self, value: f64) {
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    /// `DateTime`: seconds since the epoch as `UInt32` (the column's time zone only affects
    /// how it is shown).
    pub fn datetime(&mut self, unix_seconds: u32) {
        self.u32(unix_seconds);
    }

    /// `Nullable(T)`: a flag byte (1 = NULL), then the value when there is one.
    pub fn nullable<T>(&mut self, value: Option<T>, write: impl FnOnce(&mut Self, T)) {
        match value {
            None => self.bytes.push(1),
            Some(value) => {
                self.bytes.push(0);
                write(self, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_carry_a_leb128_length() {
        let mut w = RowBinaryWriter::default();
        w.string("ab");
        w.string(&"x".repeat(300));
        let bytes = w.into_bytes();
        assert_eq!(&bytes[..3], &[2, b'a', b'b']);
        // 300 = 0b10_0101100 → 0xAC 0x02
        assert_eq!(&bytes[3..5], &[0xac, 0x02]);
        assert_eq!(bytes.len(), 3 + 2 + 300);
    }

    #[test]
    fn numbers_are_little_endian_and_nulls_are_flagged() {
        let mut w = RowBinaryWriter::default();
        w.u32(1);
        w.nullable(None::<u32>, RowBinaryWriter::u32);
        w.nullable(Some(2u32), RowBinaryWriter::u32);
        w.enum8(7);
        assert_eq!(w.into_bytes(), vec![1, 0, 0, 0, 1, 0, 2, 0, 0, 0, 7]);
    }
}
