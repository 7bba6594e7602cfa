//! The borrowed CloudTrail record model.
//!
//! A record is kept as its top-level keys, each paired with the raw JSON text of its value,
//! borrowed from the decoded input. Nothing is copied or converted until a column asks for it, so
//! a record that a filter drops costs one scan of its bytes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// One CloudTrail record: its top-level keys in input order with their raw JSON values.
#[derive(Debug)]
pub struct RawRecord<'a> {
    pub fields: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawRecord<'a> {
    /// Parses one record from its JSON text. Fails when the text is not a JSON object.
    pub fn parse(text: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The raw value of a top-level key (the first, if the key repeats).
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.fields
            .iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| *v)
    }

    /// A top-level value that must be a JSON string; `Err(())` when it has another type,
    /// `Ok(None)` when it is absent or null.
    pub fn get_str(&self, key: &str) -> Result<Option<Cow<'a, str>>, TypeMismatch> {
        match self.get(key) {
            None => Ok(None),
            Some(raw) => raw_str(raw),
        }
    }
}

/// How deep JSON may nest inside a record: serde_json's own recursion limit, so that every
/// value hsmtrail keeps can also be parsed back by it (and by the rebuild).
pub const MAX_NESTING: usize = 128;

/// Whether arrays and objects in `text` (valid JSON) nest deeper than `limit`. A byte scan that
/// skips strings; it never recurses, so hostile input cannot overflow the stack.
pub fn nesting_exceeds(text: &str, limit: usize) -> bool {
    let bytes = text.as_bytes();
    // Depth cannot exceed the number of `[` and `{` (one bit apart, hence the fold), which
    // one vectorised count finds; almost every record has fewer than the limit.
    // Counted in byte-sized sums of at most 255 bytes, which the compiler vectorises.
    let openers: usize = bytes
        .chunks(255)
        .map(|chunk| {
            let n = chunk
                .iter()
                .fold(0u8, |n, &b| n + u8::from(b | 0x20 == b'{'));
            usize::from(n)
        })
        .sum();
    if openers <= limit {
        return false;
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() {
                    match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                        Some(j) if bytes[i + j] == b'\\' => i += j + 2,
                        Some(j) => {
                            i += j;
                            break;
                        }
                        None => return false,
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

/// A value that was present but had a JSON type the column does not accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeMismatch;

/// Reads a raw JSON value as a string, borrowing when it holds no escapes.
pub fn raw_str(raw: &RawValue) -> Result<Option<Cow<'_, str>>, TypeMismatch> {
    let text = raw.get();
    if text == "null" {
        return Ok(None);
    }
    if !text.starts_with('"') {
        return Err(TypeMismatch);
    }
    let inner = &text[1..text.len() - 1];
    if !inner.contains('\\') {
        return Ok(Some(Cow::Borrowed(inner)));
    }
    serde_json::from_str::<String>(text)
        .map(|s| Some(Cow::Owned(s)))
        .map_err(|_| TypeMismatch)
}

impl<'de: 'a, 'a> Deserialize<'de> for RawRecord<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = RawRecord<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CloudTrail record (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(24));
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            fields.push((key.0, value));
        }
        Ok(RawRecord { fields })
    }
}

/// A map key that borrows from the input when it has no escapes.
pub(crate) struct CowStr<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// The JSON text of an object with these keys and raw values, in this order.
pub fn object_text<'v>(fields: impl IntoIterator<Item = (&'v str, &'v RawValue)>) -> String {
    let mut out = String::from("{");
    for (i, (key, raw)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).expect("a string serialises"));
        out.push(':');
        out.push_str(raw.get());
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_keys_in_order_and_borrows_values() {
        let text = r#"{"eventTime":"2024-01-01T00:00:00Z","a\u0062":{"x":[1,2]},"n":null}"#;
        let rec = RawRecord::parse(text).unwrap();
        let keys: Vec<_> = rec.fields.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["eventTime", "ab", "n"]);
        assert_eq!(rec.get("ab").unwrap().get(), r#"{"x":[1,2]}"#);
        assert_eq!(
            rec.get_str("eventTime").unwrap().as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
        assert_eq!(rec.get_str("n"), Ok(None));
        assert_eq!(rec.get_str("ab"), Err(TypeMismatch));
        assert_eq!(rec.get_str("missing"), Ok(None));
    }

    #[test]
    fn unescapes_strings() {
        let rec = RawRecord::parse(r#"{"k":"a\"b\u00e9"}"#).unwrap();
        assert_eq!(rec.get_str("k").unwrap().as_deref(), Some("a\"bé"));
    }

    #[test]
    fn measures_nesting_outside_strings() {
        assert!(!nesting_exceeds(r#"{"a":[{"b":"[[[[[[\"{{{{"}]}"#, 3));
        assert!(nesting_exceeds(r#"{"a":[{"b":[1]}]}"#, 3));
        assert!(!nesting_exceeds(&"[".repeat(128).to_string(), MAX_NESTING));
        assert!(nesting_exceeds(&"[".repeat(129).to_string(), MAX_NESTING));
        // More openers than the limit, but side by side: measured, not just counted.
        let wide = format!("[{}{{}}]", "[],{},".repeat(200));
        assert!(!nesting_exceeds(&wide, MAX_NESTING));
        assert!(nesting_exceeds(
            &format!("[{wide},{}", "[".repeat(128)),
            MAX_NESTING
        ));
    }

    #[test]
    fn rejects_non_objects() {
        assert!(RawRecord::parse("[1]").is_err());
        assert!(RawRecord::parse("\"x\"").is_err());
    }
}
