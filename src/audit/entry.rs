//! One HSM audit log entry, parsed from the text of its CloudWatch Logs event.
//!
//! The format is documented by example only (README, "HSM audit logs"), so the parser is
//! lenient where AWS's own examples vary: the first line is `Time: MM/DD/YY HH:MM:SS.ffffff,
//! usecs:<µs>`, every other line is split at its first colon and trimmed (`Key : value`,
//! `Key: value`, `Key\t\t: value` all occur), keys are matched by name rather than position,
//! and keys hsmtrail does not know are kept. A value that does not parse leaves its typed
//! column null and a note in `parse_notes`; only an entry without a readable time is rejected,
//! since its time is what places it. Certificate-storage entries are JSON objects instead.

use std::borrow::Cow;

use chrono::NaiveDateTime;

use crate::record::{RawRecord, raw_str};

/// Which of the two documented entry shapes a message has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryFormat {
    /// The HSM's `Time: ...` entry with `Key: value` lines.
    Hsm,
    /// A PKCS #11 certificate-storage entry: a JSON object with `op_code`, `response`, ...
    CertificateStorage,
}

impl EntryFormat {
    pub fn name(self) -> &'static str {
        match self {
            EntryFormat::Hsm => "hsm",
            EntryFormat::CertificateStorage => "certificate-storage",
        }
    }
}

/// One parsed entry: its time, its `key: value` fields in order, and what could not be read.
#[derive(Debug)]
pub struct Entry<'a> {
    pub format: EntryFormat,
    /// Microseconds since the epoch, UTC.
    pub time_us: i64,
    /// Every field as written (key and value trimmed), the time line excepted.
    pub fields: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// Values that were there but could not be read, and lines that were not `key: value`.
    pub notes: Vec<String>,
}

/// Why a message is not an audit entry at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("not a CloudHSM audit entry: it does not start with a `Time:` line")]
    NoTimeLine,
    #[error("the time line '{0}' holds no readable time")]
    BadTime(String),
    #[error("a certificate-storage entry without a numeric `timestamp`")]
    CertificateWithoutTime,
}

/// Whether `message` looks like an audit entry at all (for telling audit log events from
/// CloudTrail records in the same CloudWatch Logs wrapper).
pub fn looks_like_entry(message: &str) -> bool {
    let m = message.trim_start();
    m.starts_with("Time") && m[4..].trim_start().starts_with(':') || is_certificate_json(m)
}

/// Whether `line` is an entry's first line with a readable time: what makes a text file (that
/// is not an export) a file of audit entries, so that notes that merely start with "Time:" are
/// not taken for one.
pub fn starts_entry(line: &str) -> bool {
    line.trim_start()
        .split_once(':')
        .is_some_and(|(key, rest)| {
            key.trim() == "Time" && entry_time(rest.trim(), &mut Vec::new()).is_some()
        })
}

/// A JSON object with a top-level `op_code` and none of a CloudTrail record's keys (a record
/// may well hold the string "op_code" somewhere, a tag key say).
fn is_certificate_json(message: &str) -> bool {
    message.starts_with('{')
        && message.contains("\"op_code\"")
        && RawRecord::parse(message).is_ok_and(|object| {
            object.get("op_code").is_some()
                && !["eventTime", "eventSource", "eventName", "eventID"]
                    .iter()
                    .any(|k| object.get(k).is_some())
        })
}

impl<'a> Entry<'a> {
    pub fn parse(message: &'a str) -> Result<Entry<'a>, EntryError> {
        let trimmed = message.trim();
        if is_certificate_json(trimmed) {
            return Self::certificate(trimmed);
        }
        let mut lines = trimmed.split('\n').map(|l| l.trim_end_matches('\r'));
        let first = lines.next().unwrap_or("");
        let Some((key, rest)) = first.split_once(':') else {
            return Err(EntryError::NoTimeLine);
        };
        if key.trim() != "Time" {
            return Err(EntryError::NoTimeLine);
        }
        let mut notes = Vec::new();
        let time_us = entry_time(rest.trim(), &mut notes)
            .ok_or_else(|| EntryError::BadTime(first.trim().to_owned()))?;
        let mut fields = Vec::new();
        for line in lines {
            if line.trim().is_empty() {
                continue;
            }
            match line.split_once(':') {
                Some((k, v)) => fields.push((Cow::Borrowed(k.trim()), Cow::Borrowed(v.trim()))),
                None => notes.push(format!("a line without a key: '{}'", line.trim())),
            }
        }
        Ok(Entry {
            format: EntryFormat::Hsm,
            time_us,
            fields,
            notes,
        })
    }

    /// A certificate-storage entry: `{"object_handle", "op_code", "response", "attributes",
    /// "timestamp"}` (UNCONFIRMED beyond AWS's one page of examples). Values are kept as their
    /// JSON text, so that a handle above 2^53 keeps every digit.
    fn certificate(text: &'a str) -> Result<Entry<'a>, EntryError> {
        let record = RawRecord::parse(text).map_err(|_| EntryError::NoTimeLine)?;
        let time_us = record
            .get("timestamp")
            .and_then(|t| t.get().parse::<i64>().ok())
            .and_then(|ms| ms.checked_mul(1000))
            .ok_or(EntryError::CertificateWithoutTime)?;
        let fields = record
            .fields
            .iter()
            .filter(|(k, _)| k != "timestamp")
            .map(|(k, v)| {
                let value = match raw_str(v) {
                    Ok(Some(s)) => Cow::Owned(s.into_owned()),
                    _ => Cow::Owned(v.get().to_owned()),
                };
                (Cow::Owned(k.to_string()), value)
            })
            .collect();
        Ok(Entry {
            format: EntryFormat::CertificateStorage,
            time_us,
            fields,
            notes: Vec::new(),
        })
    }

    /// The value of the first field whose key is one of `keys` (compared as [`key_name`]s).
    pub fn get(&self, keys: &[&str]) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| keys.contains(&key_name(k).as_str()))
            .map(|(_, v)| v.as_ref())
    }
}

/// A key as the column table names it: lower case, letters and digits only, so that
/// `Command Type(hex)`, `Sequence No` and `object_handle` become `commandtypehex`,
/// `sequenceno` and `objecthandle` whatever spacing and case an HSM version writes.
pub fn key_name(key: &str) -> String {
    key.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The entry time: `usecs:` when it is there (exact), else the printed time (which has
/// microseconds too). When both are there and disagree the note says so; `usecs` wins.
fn entry_time(text: &str, notes: &mut Vec<String>) -> Option<i64> {
    let (printed, usecs) = match text.split_once(',') {
        Some((printed, rest)) => {
            let usecs = rest
                .trim()
                .strip_prefix("usecs")
                .and_then(|r| r.trim_start().strip_prefix(':'))
                .map(str::trim);
            (printed.trim(), usecs)
        }
        None => (text.trim(), None),
    };
    let printed_us = NaiveDateTime::parse_from_str(printed, "%m/%d/%y %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_micros());
    let usecs_us = usecs.and_then(|u| u.parse::<i64>().ok());
    match (printed_us, usecs_us) {
        (Some(p), Some(u)) if p != u => {
            notes.push(format!(
                "the printed time '{printed}' and usecs {u} differ; usecs is used"
            ));
            Some(u)
        }
        (_, Some(u)) => Some(u),
        (Some(p), None) => {
            if let Some(bad) = usecs {
                notes.push(format!(
                    "usecs '{bad}' is not a number; the printed time is used"
                ));
            }
            Some(p)
        }
        (None, None) => None,
    }
}

/// `NAME (0xN)`, `NAME (N)` or a bare `NAME`: the name and, when given, the code (hex with
/// `0x`, decimal without).
pub fn coded(value: &str) -> (&str, Option<i64>) {
    let value = value.trim();
    if let Some(open) = value.rfind('(')
        && value.ends_with(')')
    {
        let code = number(&value[open + 1..value.len() - 1]);
        let name = value[..open].trim();
        if code.is_some() {
            return (name, code);
        }
    }
    (value, None)
}

/// A number as the HSM prints it: `0x1c` (hex) or `524301` (decimal). `None` for anything
/// else, and for values beyond a signed 64-bit integer (engines read no unsigned types).
pub fn number(text: &str) -> Option<i64> {
    let text = text.trim();
    let unsigned = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => text.parse::<u64>().ok()?,
    };
    i64::try_from(unsigned).ok()
}

/// A `Response` value: `0:HSM Return: SUCCESS`, `163:HSM Error: RET_USER_LOGIN_FAILURE`
/// (also with a space after the code's colon), or a certificate-storage word (`OK`,
/// `MaxObjectsReached`, ...). Returns the code (when numeric), the text and whether the
/// command succeeded (code 0, or `OK`/`SUCCESS` without a code).
pub fn response(value: &str) -> (Option<i64>, &str, bool) {
    let value = value.trim();
    if let Some((code, rest)) = value.split_once(':')
        && let Ok(code) = code.trim().parse::<i64>()
    {
        let rest = rest.trim();
        let text = ["HSM Return:", "HSM Error:"]
            .iter()
            .find_map(|p| rest.strip_prefix(p))
            .unwrap_or(rest)
            .trim();
        return (Some(code), text, code == 0);
    }
    (None, value, matches!(value, "OK" | "SUCCESS"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const E4: &str = "Time: 03/05/24 14:21:02.310478, usecs:1709648462310478\nSequence No: 0x1e\nReboot counter: 0x4\nCommand Type(hex): CN_MGMT_CMD (0x0)\nOpcode: CN_LOGIN (0xd)\nSession Handle: 0x3018006\nResponse: 163:HSM Error: RET_USER_LOGIN_FAILURE\nLog type: MGMT_USER_DETAILS_LOG (2)\nUser Name: app_cu\nUser Type: CN_CRYPTO_USER (1)\n";

    #[test]
    fn the_reference_example_parses_field_by_field() {
        let e = Entry::parse(E4).unwrap();
        assert_eq!(e.format, EntryFormat::Hsm);
        assert_eq!(e.time_us, 1709648462310478);
        assert!(e.notes.is_empty(), "{:?}", e.notes);
        assert_eq!(e.get(&["sequenceno"]).and_then(number), Some(0x1e));
        assert_eq!(e.get(&["opcode"]).map(coded), Some(("CN_LOGIN", Some(0xd))));
        assert_eq!(
            e.get(&["logtype"]).map(coded),
            Some(("MGMT_USER_DETAILS_LOG", Some(2)))
        );
        assert_eq!(
            e.get(&["response"]).map(response),
            Some((Some(163), "RET_USER_LOGIN_FAILURE", false))
        );
        assert_eq!(e.get(&["username"]), Some("app_cu"));
        assert_eq!(e.fields.len(), 9);
    }

    #[test]
    fn separators_and_spacing_vary() {
        let text = "Time\t: 12/13/17 11:13:27.471713, usecs:1513163607471713\nSequence No\t\t: 0xd\nOpcode\t\t\t: CN_TOMBSTONE_OBJECT\nResponse : 0: HSM Return: SUCCESS\nsomething odd";
        let e = Entry::parse(text).unwrap();
        assert_eq!(e.get(&["sequenceno"]).and_then(number), Some(0xd));
        assert_eq!(
            e.get(&["opcode"]).map(coded),
            Some(("CN_TOMBSTONE_OBJECT", None))
        );
        assert_eq!(
            e.get(&["response"]).map(response),
            Some((Some(0), "SUCCESS", true))
        );
        assert_eq!(e.notes, ["a line without a key: 'something odd'"]);
    }

    #[test]
    fn the_time_comes_from_usecs_or_the_printed_time() {
        let only_printed = Entry::parse("Time: 03/05/24 09:12:40.118342").unwrap();
        assert_eq!(only_printed.time_us, 1709629960118342);
        let differ =
            Entry::parse("Time: 03/05/24 09:12:40.118342, usecs:1709629960000000").unwrap();
        assert_eq!(differ.time_us, 1709629960000000);
        assert_eq!(differ.notes.len(), 1);
        let bad_usecs = Entry::parse("Time: 03/05/24 09:12:40.118342, usecs:abc").unwrap();
        assert_eq!(bad_usecs.time_us, 1709629960118342);
        assert!(bad_usecs.notes[0].contains("usecs 'abc'"));
        assert_eq!(
            Entry::parse("Time: 13/45/24 99:99:99.000000, usecs:abc").unwrap_err(),
            EntryError::BadTime("Time: 13/45/24 99:99:99.000000, usecs:abc".into())
        );
        assert_eq!(Entry::parse("garbage").unwrap_err(), EntryError::NoTimeLine);
        assert_eq!(
            Entry::parse("Timeout: 5").unwrap_err(),
            EntryError::NoTimeLine
        );
    }

    #[test]
    fn certificate_storage_entries_keep_big_handles_exactly() {
        let text = r#"{"object_handle":2305843009213693953,"op_code":"CreateObject","response":"OK","attributes":null,"timestamp":1709648471002}"#;
        let e = Entry::parse(text).unwrap();
        assert_eq!(e.format, EntryFormat::CertificateStorage);
        assert_eq!(e.time_us, 1709648471002000);
        assert_eq!(e.get(&["objecthandle"]), Some("2305843009213693953"));
        assert_eq!(e.get(&["opcode"]), Some("CreateObject"));
        assert_eq!(e.get(&["attributes"]), Some("null"));
        assert_eq!(e.get(&["response"]).map(response), Some((None, "OK", true)));
        assert!(looks_like_entry(text) && looks_like_entry(E4));
        assert!(!looks_like_entry(r#"{"eventTime":"x"}"#));
    }

    #[test]
    fn numbers_beyond_i64_are_not_numbers() {
        assert_eq!(number("0xffffffffffffffff"), None);
        assert_eq!(number("0x7fffffffffffffff"), Some(i64::MAX));
        assert_eq!(number("-1"), None);
        assert_eq!(coded("GENERIC_LOG"), ("GENERIC_LOG", None));
        assert_eq!(coded("TIME_INFO_LOG (16)"), ("TIME_INFO_LOG", Some(16)));
        assert_eq!(coded("odd (thing)"), ("odd (thing)", None));
    }
}
