//! Finding the CloudTrail records inside a decoded file, whatever wrapper they come in.
//!
//! The format is detected from the content, never from the file name: a delivery file
//! `{"Records":[...]}`, JSON Lines, a JSON array, one bare record, `aws cloudtrail lookup-events`
//! output (and its items as JSON Lines), EventBridge envelopes and CloudWatch Logs subscription
//! payloads. A single top-level object is parsed in one streaming pass, so the records that
//! parsed before a point of damage (a truncated download, a bad byte) are still delivered.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::structural;
use crate::record::{CowStr, RawRecord};

/// Where a record sits in its file, for error messages and the rejected-records file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// 0-based position among the items of the file.
    pub index: usize,
    /// 1-based line, for line-oriented files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}"),
            None => write!(f, "record index {}", self.index),
        }
    }
}

/// One item found in a file: a record's JSON text, or something in a record's place that could
/// not be read as one.
#[derive(Debug)]
pub enum Item<'a> {
    Record {
        text: &'a str,
        /// False only when the reader saw that `text` holds no `\u` escape (the delivery-file
        /// scan does), so that the source pre-filter need not look for one.
        unicode_escape: bool,
    },
    Invalid {
        raw: &'a str,
        reason: String,
    },
}

/// The wrapper a file's records came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Wrapping {
    /// `{"Records":[...]}`, the S3 delivery format.
    Records,
    /// One JSON value a line.
    JsonLines,
    /// A JSON array of records or wrappers.
    Array,
    /// One bare record.
    Record,
    /// `aws cloudtrail lookup-events` output or one of its items.
    Lookup,
    /// An EventBridge "AWS API Call via CloudTrail" envelope.
    EventBridge,
    /// A CloudWatch Logs subscription payload.
    CloudwatchLogs,
}

impl Wrapping {
    pub fn name(self) -> &'static str {
        match self {
            Wrapping::Records => "records",
            Wrapping::JsonLines => "json-lines",
            Wrapping::Array => "array",
            Wrapping::Record => "record",
            Wrapping::Lookup => "lookup",
            Wrapping::EventBridge => "eventbridge",
            Wrapping::CloudwatchLogs => "cloudwatch-logs",
        }
    }
}

/// What a file turned out to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// CloudTrail records in this wrapper.
    Trail(Wrapping),
    /// A CloudTrail digest file: no records, skipped.
    Digest,
    /// Nothing but white space.
    Empty,
    /// Not JSON at all (the first byte is not `{` or `[`).
    NotJson,
}

/// Why a file could not be read (completely).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerError {
    #[error("invalid JSON at line {line} column {column}: {message} (after {items} items)")]
    Damaged {
        line: usize,
        column: usize,
        message: String,
        items: usize,
    },
    #[error("wrong shape at line {line} column {column}: {message} (after {items} items)")]
    WrongShape {
        line: usize,
        column: usize,
        message: String,
        items: usize,
    },
    #[error("unrecognised JSON: {0}")]
    Unrecognised(String),
}

/// Streams every item of `text` to `sink` and says what the file held. Items delivered before
/// an error are valid and should be kept.
pub fn read_items(
    text: &str,
    sink: &mut dyn FnMut(Item<'_>, Location),
) -> Result<Content, ContainerError> {
    let trimmed = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    let offset = text.len() - trimmed.len();
    match trimmed.as_bytes().first() {
        None => return Ok(Content::Empty),
        Some(b'{') | Some(b'[') => {}
        Some(_) => return Ok(Content::NotJson),
    }
    let mut walker = Walker::new(sink);
    if let Some(elements) = structural::split_records(trimmed.as_bytes()) {
        for element in elements {
            walker.emit(Item::Record {
                text: &trimmed[element.span],
                unicode_escape: element.unicode_escape,
            });
        }
        return walker.finish(ValueKind::Trail(Wrapping::Records));
    }
    let mut de = serde_json::Deserializer::from_str(trimmed);
    let first = TopSeed {
        walker: &mut walker,
    }
    .deserialize(&mut de);
    let kind = match first {
        Ok(kind) => kind,
        Err(e) => return Err(walker.damaged(&e, text, offset)),
    };
    if de.end().is_ok() {
        return walker.finish(kind);
    }
    // More than one top-level value: JSON Lines (or concatenated JSON).
    walker.read_more_values(trimmed, text, offset)?;
    walker.finish(ValueKind::Trail(Wrapping::JsonLines))
}

/// What one top-level value was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    Trail(Wrapping),
    Digest,
    Unrecognised,
}

struct Walker<'s> {
    sink: &'s mut dyn FnMut(Item<'_>, Location),
    items: usize,
    records: usize,
    digests: usize,
    /// Values that are neither records nor wrappers, held until we know whether the file has
    /// any records at all (then they are invalid items) or none (then the file is unrecognised).
    unrecognised: Vec<(String, Location)>,
    unrecognised_keys: Option<String>,
    line: Option<usize>,
}

impl<'s> Walker<'s> {
    fn new(sink: &'s mut dyn FnMut(Item<'_>, Location)) -> Self {
        Walker {
            sink,
            items: 0,
            records: 0,
            digests: 0,
            unrecognised: Vec::new(),
            unrecognised_keys: None,
            line: None,
        }
    }

    fn location(&self) -> Location {
        Location {
            index: self.items,
            line: self.line,
        }
    }

    fn emit(&mut self, item: Item<'_>) {
        let loc = self.location();
        if matches!(item, Item::Record { .. }) {
            self.records += 1;
        }
        (self.sink)(item, loc);
        self.items += 1;
    }

    fn emit_record_text(&mut self, raw: &str) {
        self.emit(Item::Record {
            text: raw,
            unicode_escape: true,
        });
    }

    /// A JSON string that holds a record (lookup-events, CloudWatch Logs).
    fn emit_embedded(&mut self, raw: &RawValue, what: &str) {
        match serde_json::from_str::<String>(raw.get()) {
            Ok(inner) => self.emit(Item::Record {
                text: &inner,
                unicode_escape: true,
            }),
            Err(_) => self.emit(Item::Invalid {
                raw: raw.get(),
                reason: format!("{what} is not a JSON string"),
            }),
        }
    }

    fn hold_unrecognised(&mut self, raw: &str, keys: String) {
        let loc = self.location();
        self.unrecognised.push((raw.to_owned(), loc));
        self.unrecognised_keys.get_or_insert(keys);
        self.items += 1;
    }

    /// Classifies one value already split into its top-level keys, streaming what it holds.
    fn object(&mut self, obj: &RawRecord<'_>, raw: Option<&str>) -> ValueKind {
        if let Some(records) = obj.get("Records") {
            return self.array_of(records, Wrapping::Records, |w, item| {
                w.emit_record_text(item.get())
            });
        }
        if let Some(events) = obj.get("Events") {
            return self.array_of(events, Wrapping::Lookup, |w, item| w.lookup_item(item));
        }
        if let Some(log_events) = obj.get("logEvents") {
            return self.array_of(log_events, Wrapping::CloudwatchLogs, |w, item| {
                w.log_event(item)
            });
        }
        self.single_object(obj, raw)
    }

    /// An object that is not a list wrapper: a record, an envelope, a lookup item or a digest.
    fn single_object(&mut self, obj: &RawRecord<'_>, raw: Option<&str>) -> ValueKind {
        if obj.get("digestStartTime").is_some() || obj.get("logFiles").is_some() {
            self.digests += 1;
            return ValueKind::Digest;
        }
        if let (Some(_), Some(detail)) = (obj.get("detail-type"), obj.get("detail")) {
            self.emit_record_text(detail.get());
            return ValueKind::Trail(Wrapping::EventBridge);
        }
        if let Some(inner) = obj.get("CloudTrailEvent") {
            self.emit_embedded(inner, "CloudTrailEvent");
            return ValueKind::Trail(Wrapping::Lookup);
        }
        const RECORD_KEYS: [&str; 6] = [
            "eventTime",
            "eventVersion",
            "eventSource",
            "eventName",
            "eventID",
            "userIdentity",
        ];
        if RECORD_KEYS.iter().any(|k| obj.get(k).is_some()) {
            match raw {
                Some(raw) => self.emit_record_text(raw),
                // The top-level object was split while streaming; rebuild its text.
                None => {
                    let text = rebuild_object(obj);
                    self.emit_record_text(&text);
                }
            }
            return ValueKind::Trail(Wrapping::Record);
        }
        let keys: Vec<&str> = obj.fields.iter().map(|(k, _)| k.as_ref()).take(8).collect();
        let text = raw
            .map(str::to_owned)
            .unwrap_or_else(|| rebuild_object(obj));
        self.hold_unrecognised(
            &text,
            format!("an object with keys {keys:?} is not a CloudTrail record or a known wrapper"),
        );
        ValueKind::Unrecognised
    }

    fn array_of(
        &mut self,
        raw: &RawValue,
        format: Wrapping,
        mut each: impl FnMut(&mut Self, &RawValue),
    ) -> ValueKind {
        match serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
            Ok(items) => {
                for item in items {
                    each(self, item);
                }
                ValueKind::Trail(format)
            }
            Err(_) => {
                self.hold_unrecognised(
                    raw.get(),
                    format!("the {} wrapper does not hold an array", format.name()),
                );
                ValueKind::Unrecognised
            }
        }
    }

    fn lookup_item(&mut self, item: &RawValue) {
        self.embedded_in(
            item,
            ("CloudTrailEvent", "CloudTrailEvent"),
            "lookup-events item without a CloudTrailEvent string",
        );
    }

    fn log_event(&mut self, item: &RawValue) {
        self.embedded_in(
            item,
            ("message", "logEvents message"),
            "CloudWatch Logs event without a message string",
        );
    }

    /// The record held as a JSON string in the field `field` (named `what` in messages) of
    /// the object `item`.
    fn embedded_in(&mut self, item: &RawValue, (field, what): (&str, &str), missing: &str) {
        match RawRecord::parse(item.get()).ok().and_then(|o| o.get(field)) {
            Some(inner) => self.emit_embedded(inner, what),
            None => self.emit(Item::Invalid {
                raw: item.get(),
                reason: missing.into(),
            }),
        }
    }

    /// One value of an array or a line: classify it from its text.
    fn value(&mut self, raw: &str) -> ValueKind {
        match RawRecord::parse(raw) {
            Ok(obj) => self.object(&obj, Some(raw)),
            Err(_) => {
                self.emit(Item::Invalid {
                    raw,
                    reason: "not a JSON object".into(),
                });
                ValueKind::Trail(Wrapping::Array)
            }
        }
    }

    /// Values after the first in a multi-value file.
    fn read_more_values(
        &mut self,
        trimmed: &str,
        text: &str,
        offset: usize,
    ) -> Result<(), ContainerError> {
        let first_line_end = trimmed.find('\n').unwrap_or(trimmed.len());
        let one_per_line = serde_json::from_str::<&RawValue>(&trimmed[..first_line_end]).is_ok();
        if one_per_line {
            let base_line = line_of(text, offset);
            for (n, line) in trimmed.split('\n').enumerate().skip(1) {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                self.line = Some(base_line + n);
                match serde_json::from_str::<&RawValue>(line) {
                    Ok(raw) => {
                        self.value(raw.get());
                    }
                    Err(e) => self.emit(Item::Invalid {
                        raw: line,
                        reason: format!("invalid JSON: {e}"),
                    }),
                }
            }
            return Ok(());
        }
        // Pretty-printed values one after another: stream them; stop at the first damage.
        let mut stream = serde_json::Deserializer::from_str(trimmed).into_iter::<&RawValue>();
        stream.next();
        for value in stream {
            match value {
                Ok(raw) => {
                    self.value(raw.get());
                }
                Err(e) => return Err(self.damaged(&e, text, offset)),
            }
        }
        Ok(())
    }

    /// Values held as not being records are invalid items of a file that holds records: they
    /// go to the sink (and so to the rejected records) before the file ends, or is damaged.
    fn release_unrecognised(&mut self) {
        if self.records == 0 {
            return;
        }
        for (raw, loc) in std::mem::take(&mut self.unrecognised) {
            (self.sink)(
                Item::Invalid {
                    raw: &raw,
                    reason: "not a CloudTrail record".into(),
                },
                loc,
            );
        }
    }

    /// The error for damage at `e`, after releasing what was read before it: the items
    /// before the damage are kept or rejected like those of an undamaged file.
    fn damaged(&mut self, e: &serde_json::Error, text: &str, offset: usize) -> ContainerError {
        self.release_unrecognised();
        let line = e.line() + line_of(text, offset) - 1;
        let column = e.column();
        let message = strip_position(&e.to_string());
        let items = self.items;
        if e.is_data() {
            ContainerError::WrongShape {
                line,
                column,
                message,
                items,
            }
        } else {
            ContainerError::Damaged {
                line,
                column,
                message,
                items,
            }
        }
    }

    fn finish(mut self, kind: ValueKind) -> Result<Content, ContainerError> {
        if self.records == 0 && !self.unrecognised.is_empty() {
            return Err(ContainerError::Unrecognised(
                self.unrecognised_keys.unwrap_or_default(),
            ));
        }
        self.release_unrecognised();
        Ok(match kind {
            ValueKind::Digest if self.records == 0 => Content::Digest,
            ValueKind::Trail(format) => Content::Trail(format),
            _ => Content::Trail(Wrapping::JsonLines),
        })
    }
}

/// 1-based line number of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    memchr::memchr_iter(b'\n', &text.as_bytes()[..offset]).count() + 1
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Text of an object whose keys were captured one by one (used only for the rare bare record or
/// envelope at the top of a file).
fn rebuild_object(obj: &RawRecord<'_>) -> String {
    crate::record::object_text(obj.fields.iter().map(|(k, v)| (k.as_ref(), *v)))
}

/// The first top-level value: objects are split key by key, and the big arrays (`Records`,
/// `Events`, `logEvents`) are streamed element by element instead of being captured whole.
struct TopSeed<'w, 's> {
    walker: &'w mut Walker<'s>,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = ValueKind;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ValueKind, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = ValueKind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object or array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ValueKind, A::Error> {
        let mut fields = Vec::new();
        let mut streamed = None;
        while let Some(CowStr(key)) = map.next_key::<CowStr<'de>>()? {
            let format = match key.as_ref() {
                "Records" => Some(Wrapping::Records),
                "Events" => Some(Wrapping::Lookup),
                "logEvents" => Some(Wrapping::CloudwatchLogs),
                _ => None,
            };
            match format {
                Some(format) if streamed.is_none() => {
                    map.next_value_seed(StreamSeed {
                        walker: self.walker,
                        format,
                    })?;
                    streamed = Some(format);
                }
                _ => fields.push((key, map.next_value::<&'de RawValue>()?)),
            }
        }
        match streamed {
            Some(format) => Ok(ValueKind::Trail(format)),
            None => Ok(self.walker.single_object(&RawRecord { fields }, None)),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ValueKind, A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            self.walker.value(raw.get());
        }
        Ok(ValueKind::Trail(Wrapping::Array))
    }
}

/// Streams the elements of a wrapper's array to the walker as they are parsed.
struct StreamSeed<'w, 's> {
    walker: &'w mut Walker<'s>,
    format: Wrapping,
}

impl<'de> DeserializeSeed<'de> for StreamSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for StreamSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON array of {} items", self.format.name())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            match self.format {
                Wrapping::Lookup => self.walker.lookup_item(raw),
                Wrapping::CloudwatchLogs => self.walker.log_event(raw),
                _ => self.walker.emit_record_text(raw.get()),
            }
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(format!(
            "wrong top-level shape: the {} wrapper is null",
            self.format.name()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str) -> (Result<Content, ContainerError>, Vec<String>) {
        let mut items = Vec::new();
        let result = read_items(text, &mut |item, loc| {
            items.push(match item {
                Item::Record { text, .. } => format!("R{}:{}", loc.index, text),
                Item::Invalid { reason, .. } => format!("I{loc}:{reason}"),
            })
        });
        (result, items)
    }

    /// Found by the `records` fuzz target: a value that is not a record, read before the
    /// damage in a file that holds records, was dropped instead of rejected.
    #[test]
    fn values_before_damage_are_rejected_not_dropped() {
        let (r, items) = collect(r#"[{"eventTime":"a"},{"foo":1},{"eventTime":"b"},{"x"#);
        assert!(
            matches!(r, Err(ContainerError::Damaged { items: 3, .. })),
            "{r:?}"
        );
        assert_eq!(
            items,
            [
                r#"R0:{"eventTime":"a"}"#,
                r#"R2:{"eventTime":"b"}"#,
                "Irecord index 1:not a CloudTrail record",
            ]
        );
    }

    #[test]
    fn delivery_file() {
        let (r, items) = collect(r#"{"Records":[{"eventTime":"t"},{"eventTime":"u"}]}"#);
        assert_eq!(r, Ok(Content::Trail(Wrapping::Records)));
        assert_eq!(
            items,
            [r#"R0:{"eventTime":"t"}"#, r#"R1:{"eventTime":"u"}"#]
        );
    }

    #[test]
    fn truncated_delivery_keeps_complete_records() {
        let (r, items) = collect(r#"{"Records":[{"eventTime":"t"},{"eventTime":"u"#);
        assert_eq!(items, [r#"R0:{"eventTime":"t"}"#]);
        match r {
            Err(ContainerError::Damaged { items, line, .. }) => {
                assert_eq!(items, 1);
                assert_eq!(line, 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_lines_of_records_and_wrappers() {
        let text = "{\"eventTime\":\"a\"}\n\n{\"detail-type\":\"AWS API Call via CloudTrail\",\"detail\":{\"eventTime\":\"b\"}}\nnot json\n{\"EventId\":\"x\",\"CloudTrailEvent\":\"{\\\"eventTime\\\":\\\"c\\\"}\"}\n";
        let (r, items) = collect(text);
        assert_eq!(r, Ok(Content::Trail(Wrapping::JsonLines)));
        assert_eq!(items.len(), 4);
        assert_eq!(items[0], r#"R0:{"eventTime":"a"}"#);
        assert_eq!(items[1], r#"R1:{"eventTime":"b"}"#);
        assert!(items[2].starts_with("Iline 4:invalid JSON"), "{}", items[2]);
        assert_eq!(items[3], r#"R3:{"eventTime":"c"}"#);
    }

    #[test]
    fn lookup_and_cloudwatch_and_array() {
        let (r, items) =
            collect(r#"{"Events":[{"CloudTrailEvent":"{\"eventName\":\"X\"}"}],"NextToken":"n"}"#);
        assert_eq!(r, Ok(Content::Trail(Wrapping::Lookup)));
        assert_eq!(items, [r#"R0:{"eventName":"X"}"#]);
        let (r, items) = collect(
            r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","message":"{\"eventName\":\"Y\"}"}]}"#,
        );
        assert_eq!(r, Ok(Content::Trail(Wrapping::CloudwatchLogs)));
        assert_eq!(items, [r#"R0:{"eventName":"Y"}"#]);
        let (r, items) = collect(r#"[{"eventName":"Z"}, 5]"#);
        assert_eq!(r, Ok(Content::Trail(Wrapping::Array)));
        assert_eq!(items[0], r#"R0:{"eventName":"Z"}"#);
        assert!(items[1].starts_with("Irecord index 1:not a JSON object"));
    }

    #[test]
    fn skips_and_refusals() {
        assert_eq!(collect("  \n").0, Ok(Content::Empty));
        assert_eq!(collect("PAR1....").0, Ok(Content::NotJson));
        assert_eq!(
            collect(r#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[]}"#).0,
            Ok(Content::Digest)
        );
        assert!(matches!(
            collect(r#"{"Type":"Notification","Message":"x"}"#).0,
            Err(ContainerError::Unrecognised(_))
        ));
        assert!(matches!(
            collect(r#"[{"data":{"Records":[]}}]"#).0,
            Err(ContainerError::Unrecognised(_))
        ));
        assert!(matches!(
            collect(r#"{"Records":5}"#).0,
            Err(ContainerError::WrongShape { .. })
        ));
    }

    #[test]
    fn bare_record_is_delivered_whole() {
        let (r, items) = collect(r#"{"eventVersion":"1.08","eventTime":"t","x":{"y":1}}"#);
        assert_eq!(r, Ok(Content::Trail(Wrapping::Record)));
        assert_eq!(
            items,
            [r#"R0:{"eventVersion":"1.08","eventTime":"t","x":{"y":1}}"#]
        );
    }

    #[test]
    fn delivery_file_with_a_bad_record_keeps_the_others() {
        // Balanced but invalid: the fast split hands it on, and the record alone is refused
        // later; the records after it are not lost.
        let (r, items) = collect(r#"{"Records":[{"a":1},{"b":tru},{"c":3}]}"#);
        assert_eq!(r, Ok(Content::Trail(Wrapping::Records)));
        assert_eq!(items, [r#"R0:{"a":1}"#, r#"R1:{"b":tru}"#, r#"R2:{"c":3}"#]);
        // A string in the array is not a record: the careful parse names it.
        let (r, items) = collect(r#"{"Records":[{"a":1},"x"]}"#);
        assert_eq!(r, Ok(Content::Trail(Wrapping::Records)));
        assert_eq!(items, [r#"R0:{"a":1}"#, r#"R1:"x""#]);
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        // serde_json skips nested values iteratively; the element is handed on (and later
        // rejected as "not an object") instead of recursing 100,000 levels deep.
        let text = format!(
            "{{\"Records\":[{}{}]}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let (r, items) = collect(&text);
        assert_eq!(r, Ok(Content::Trail(Wrapping::Records)));
        assert_eq!(items.len(), 1);
    }
}
