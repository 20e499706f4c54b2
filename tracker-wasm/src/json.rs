//! A JSON writer for the few shapes the tracker sends: objects of strings and numbers.
//!
//! The tracker never parses JSON (the API checks every event anyway), and writing it by hand
//! keeps `serde_json` and its formatting machinery out of the download.

use alloc::string::String;
/// Appends `text` as a JSON string literal.
pub fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push(hex_digit(c as u32 >> 4));
                out.push(hex_digit(c as u32 & 0xf));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends an unsigned integer.
pub fn uint(out: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (value % 10) as u8;
        n += 1;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for d in digits[..n].iter().rev() {
        out.push(*d as char);
    }
}

/// Appends a non-negative number with three decimals at most (seconds, fractions), without
/// the float formatter: `12.5`, `0.333`, `3`.
pub fn decimal(out: &mut String, value: f64) {
    let thousandths = if value.is_finite() && value > 0.0 {
        (value * 1000.0 + 0.5) as u64
    } else {
        0
    };
    uint(out, thousandths / 1000);
    let mut fraction = thousandths % 1000;
    if fraction > 0 {
        out.push('.');
        let mut scale = 100;
        while fraction > 0 {
            out.push((b'0' + (fraction / scale) as u8) as char);
            fraction %= scale;
            scale /= 10;
        }
    }
}

pub fn hex_digit(nibble: u32) -> char {
    (if nibble < 10 {
        b'0' + nibble as u8
    } else {
        b'a' + nibble as u8 - 10
    }) as char
}

/// An object written field by field: `{"a":"x","b":1}`.
pub struct Object {
    out: String,
}

impl Default for Object {
    fn default() -> Object {
        Object {
            out: String::from("{"),
        }
    }
}

impl Object {
    pub fn new() -> Object {
        Object::default()
    }

    fn key(&mut self, key: &str) {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        string(&mut self.out, key);
        self.out.push(':');
    }

    pub fn str(&mut self, key: &str, value: &str) -> &mut Object {
        self.key(key);
        string(&mut self.out, value);
        self
    }

    /// A string field, left out when empty (the API's optional labels must not be blank).
    pub fn opt_str(&mut self, key: &str, value: &str) -> &mut Object {
        if !value.is_empty() {
            self.str(key, value);
        }
        self
    }

    pub fn uint(&mut self, key: &str, value: u64) -> &mut Object {
        self.key(key);
        uint(&mut self.out, value);
        self
    }

    pub fn decimal(&mut self, key: &str, value: f64) -> &mut Object {
        self.key(key);
        decimal(&mut self.out, value);
        self
    }

    /// A value that is JSON already (the page's own `extra_data`, encoded by its `JSON`).
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Object {
        self.key(key);
        self.out.push_str(json);
        self
    }

    pub fn finish(&mut self) -> String {
        self.out.push('}');
        core::mem::take(&mut self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_numbers_and_objects_are_valid_json() {
        let text = Object::new()
            .str("a", "quote \" slash \\ line\n tab\t bell\u{7} é ☃")
            .opt_str("empty", "")
            .uint("n", 18_446_744_073_709_551_615)
            .uint("zero", 0)
            .decimal("d", 12.5)
            .decimal("third", 1.0 / 3.0)
            .decimal("whole", 3.0)
            .decimal("negative", -2.0)
            .raw("raw", r#"{"x":[1,2]}"#)
            .finish();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "a": "quote \" slash \\ line\n tab\t bell\u{7} é ☃",
                "n": 18_446_744_073_709_551_615u64,
                "zero": 0,
                "d": 12.5,
                "third": 0.333,
                "whole": 3,
                "negative": 0,
                "raw": {"x": [1, 2]},
            })
        );
    }
}
