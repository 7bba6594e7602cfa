//! The properties the fuzz targets hold hsmtrail's parsers to, each as a function of arbitrary
//! bytes that panics when a property fails.
//!
//! One file serves two builds: the fuzz crate's library (the targets in `fuzz_targets/` call
//! these on nightly, under libFuzzer) and `tests/it/fuzz_regressions.rs`, which runs every input a
//! target ever failed on, and the fixtures, through the same functions on stable in `cargo
//! test`. So a fix stays fixed without nightly, and the oracle is written once.

use std::io::Write as _;
use std::ops::Range;

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use flate2::{Compression, write::GzEncoder};
use hsmtrail::convert::{self, PendingRows};
use hsmtrail::input::container::{self, ContainerError};
use hsmtrail::input::decode::{DecodeError, decode};
use hsmtrail::input::structural::{RECORDS_PREFIX, split_records};
use hsmtrail::output::partition::{
    self, DEFAULT_PARTITION, Layout, MAX_ESCAPED_VALUE, PartitionField,
};
use hsmtrail::output::table::Table;
use hsmtrail::time;
use serde_json::value::RawValue;

/// A property of arbitrary bytes: returns if it holds, panics if not.
pub type Check = fn(&[u8]);

/// Every target, by the name `cargo fuzz` knows it by (and its folder in `regressions/`).
pub const TARGETS: &[(&str, Check)] = &[
    ("structural", structural),
    ("records", records),
    ("gzip", gzip),
    ("event_time", event_time),
    ("hive_escape", hive_escape),
];

/// Decompressed bytes the targets allow a file, far below the CLI's default so that a bomb
/// shows as a refusal quickly, and far above any input libFuzzer makes.
const LIMIT: u64 = 4 << 20;

/// The structural record splitter agrees with serde_json: the same elements at the same
/// bytes, or the same refusal, on the text as given, wrapped as a delivery file's records,
/// and cut around every 64-byte block edge (where the scan carries state between blocks) of
/// its first 4 KiB.
pub fn structural(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let wrapped = format!("{{\"Records\":[{text}]}}");
    for text in [text, wrapped.as_str()] {
        splitter_agrees(text);
        // (The first 64 edges: a cut costs a parse of the whole prefix, and long seeds would
        // otherwise make each run quadratic.)
        for edge in (64..text.len()).step_by(64).take(64) {
            for cut in [edge - 1, edge, edge + 1] {
                if let Some(prefix) = text.get(..cut) {
                    splitter_agrees(prefix);
                }
            }
        }
    }
}

/// A delivery file as serde_json reads it: one key, `Records`, an array (no other key, no
/// second `Records`), its elements kept as the exact text they occupy.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryFile<'a> {
    #[serde(borrow, rename = "Records")]
    records: Vec<&'a RawValue>,
}

fn splitter_agrees(text: &str) {
    let got = split_records(text.as_bytes());
    let oracle = text
        .as_bytes()
        .starts_with(RECORDS_PREFIX)
        .then(|| serde_json::from_str::<DeliveryFile>(text).ok())
        .flatten()
        // The scan takes objects and arrays only; anything else goes the careful way.
        .filter(|file| {
            file.records
                .iter()
                .all(|r| matches!(r.get().as_bytes()[0], b'{' | b'['))
        })
        .map(|file| {
            file.records
                .iter()
                .map(|r| span_in(text, r.get()))
                .collect::<Vec<_>>()
        });
    let Some(elements) = got else {
        assert!(
            oracle.is_none(),
            "the scan refused a delivery file serde_json reads: {text:?}"
        );
        return;
    };
    let spans: Vec<Range<usize>> = elements.iter().map(|e| e.span.clone()).collect();
    for (e, span) in elements.iter().zip(&spans) {
        let element = &text[span.clone()];
        assert!(
            e.unicode_escape || !element.contains("\\u"),
            "an element with a \\u escape was not flagged: {element:?}"
        );
    }
    match oracle {
        Some(expected) => assert_eq!(spans, expected, "different elements in {text:?}"),
        None => {
            // The scan finds boundaries without validating what is between them, so it may
            // split a file serde_json refuses, but only for an element that is not valid on
            // its own (it is then rejected alone, as damage).
            let mut end = 0;
            for span in &spans {
                assert!(span.start >= end && span.end > span.start, "{spans:?}");
                end = span.end;
            }
            assert!(
                spans.iter().any(|s| {
                    serde_json::from_str::<serde::de::IgnoredAny>(&text[s.clone()]).is_err()
                }),
                "the scan split a file serde_json refuses, with every element valid: {text:?}"
            );
        }
    }
}

/// Where `part`, a slice of `whole`, lies in it.
fn span_in(whole: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    start..start + part.len()
}

/// Format detection and record extraction over arbitrary bytes, all the way to columns: never
/// a panic or a hang, every item read accounted for exactly once, every kept record a row, and
/// every rejected record a line of the rejected-records file that names its reason.
pub fn records(data: &[u8]) {
    let decoded = decode(data, LIMIT);
    let opts = keep_everything();
    let mut pending = PendingRows::default();
    let mut rows = 0u64;
    let mut count = |flushed: convert::Flushed| {
        for (partition, batch) in flushed.parts {
            let table = Table::of_partition(&partition);
            let levels: Vec<&str> = match table.folder() {
                Some(folder) => partition
                    .strip_prefix(folder)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .expect("the table's folder first")
                    .split('/')
                    .collect(),
                None => partition.split('/').collect(),
            };
            let depth = match table {
                Table::Events => 3,
                Table::HsmAudit => 1,
            };
            assert_eq!(levels.len(), depth, "{partition:?}");
            assert!(
                levels
                    .iter()
                    .all(|l| PartitionField::of_folder_name(l).is_some())
            );
            assert_eq!(batch.schema(), table.arrow_schema());
            rows += batch.num_rows() as u64;
        }
    };
    let conversion = convert::convert_text(&decoded.text, "fuzz", &opts, &mut pending, &mut count);
    count(pending.finish());
    let counts = conversion.records;
    assert_eq!(rows, counts.kept, "kept records that made no row");
    assert_eq!(counts.read, counts.kept + counts.filtered + counts.rejected);
    let mut rejected = 0;
    for line in conversion
        .rejected
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
    {
        let line: serde_json::Value = serde_json::from_slice(line).expect("a JSON line");
        assert!(line["reason"].as_str().is_some_and(|r| !r.is_empty()));
        rejected += 1;
    }
    assert_eq!(rejected, counts.rejected);
    // The same text through the container alone: the same items; and in a damaged file that
    // holds records, every item before the damage delivered (kept, filtered or rejected).
    let (mut delivered, mut record_items) = (0u64, 0u64);
    let content = container::read_items(&decoded.text, &mut |item, _| {
        delivered += 1;
        record_items += u64::from(matches!(
            item,
            container::Item::Record { .. } | container::Item::AuditEntry { .. }
        ));
    });
    assert_eq!(delivered, counts.read);
    if let Err(ContainerError::Damaged { items, .. } | ContainerError::WrongShape { items, .. }) =
        content
        && record_items > 0
    {
        assert_eq!(
            items as u64, delivered,
            "items before the damage went missing"
        );
    }
}

/// Options that keep every record, so that every record reaches the flattener.
fn keep_everything() -> convert::Options {
    convert::Options {
        filter: hsmtrail::filter::EventFilter::every_source(),
        write: convert::WriteSettings {
            layout: Layout::parse(&["account,region,date".into()]).expect("a layout"),
            ..Default::default()
        },
        limits: convert::Limits {
            max_file_bytes: LIMIT,
            ..Default::default()
        },
        ..convert::Options::new(Vec::new(), std::path::PathBuf::new())
    }
}

/// gzip decoding of arbitrary bytes, and of a real two-member gzip of them cut anywhere:
/// whole members give back exactly their text, a cut gives a prefix of it and says so, and
/// nothing ever passes the decompressed-size limit.
pub fn gzip(data: &[u8]) {
    let [split, cut, small, payload @ ..] = data else {
        return;
    };
    // Half of the inputs get a limit that some payloads pass.
    let limit = if small & 1 == 1 {
        u64::from(*small) * 16
    } else {
        LIMIT
    };
    let plain = decode(data, limit);
    assert!(plain.text.len() as u64 <= limit);

    let at = usize::from(*split) * payload.len() / 256;
    let first = member(&payload[..at]);
    let gz = [first.as_slice(), &member(&payload[at..])].concat();
    let whole = decode(gz.as_slice(), limit);
    let expected = std::str::from_utf8(payload);
    // The limit bounds the stored bytes too (gzip of a few bytes is larger than they are).
    if payload.len().max(gz.len()) as u64 > limit {
        assert_eq!(whole.damage, Some(DecodeError::TooLarge { limit }));
        assert!(
            whole.text.is_empty(),
            "part of a file over the limit was kept"
        );
    } else if let Ok(expected) = expected {
        assert_eq!(whole.damage, None);
        assert_eq!(whole.text, expected);
    }

    // A cut inside the magic number leaves bytes that are not gzip at all.
    let cut = 2 + usize::from(*cut) * (gz.len() - 2) / 256;
    let truncated = decode(&gz[..cut], limit);
    assert!(payload.starts_with(truncated.text.as_bytes()));
    if cut != first.len() {
        assert!(
            truncated.damage.is_some(),
            "a gzip cut at byte {cut} of {} decoded without damage",
            gz.len()
        );
    }
}

fn member(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// Event times against chrono: the hand-written renderer (used for every kept record and
/// every partition's date) writes what chrono writes, parsing what it writes gives the same
/// instant, and `--since`/`--until` bounds parse without panicking into sane ranges.
pub fn event_time(data: &[u8]) {
    if let Some(bytes) = data.get(..8) {
        renders_as_chrono_does(i64::from_le_bytes(bytes.try_into().expect("8 bytes")));
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(ms) = time::parse_event_time(text) {
        renders_as_chrono_does(ms);
        assert_eq!(
            time::renders_as(ms, text),
            time::render(ms) == text,
            "{text:?}"
        );
    }
    if let Ok(bound) = time::Bound::parse(text) {
        assert!(bound.last_ms() >= bound.start);
    }
}

fn renders_as_chrono_does(ms: i64) {
    let rendered = time::render(ms);
    assert!(time::renders_as(ms, &rendered));
    let Some(t) = DateTime::<Utc>::from_timestamp_millis(ms) else {
        assert_eq!(rendered, ms.to_string());
        return;
    };
    let format = if ms.rem_euclid(1000) == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Millis
    };
    assert_eq!(rendered, t.to_rfc3339_opts(format, true), "{ms}");
    // RFC 3339 has four-digit years, the only ones a record's eventTime can hold; chrono
    // writes others with a sign, which no RFC 3339 parser reads.
    if (0..=9999).contains(&t.year()) {
        assert_eq!(time::parse_event_time(&rendered), Some(ms), "{rendered}");
    }
    assert_eq!(time::date_of(ms), t.format("%Y-%m-%d").to_string(), "{ms}");
}

/// Hive escaping: every value becomes one plain folder-name component that reads back as that
/// value and as no other, and long values stay within a file name's length.
pub fn hive_escape(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Two values from one input, so that distinct values can be compared.
    let (a, b) = text.split_once('\u{1f}').unwrap_or((text, ""));
    for value in [a, b] {
        let escaped = partition::escape(value);
        assert!(
            !escaped.is_empty() && escaped != "." && escaped != "..",
            "{value:?}"
        );
        assert!(!escaped.starts_with('.'), "{value:?} -> {escaped:?}");
        assert!(
            !escaped.contains(['/', '\\', '=']) && !escaped.chars().any(char::is_control),
            "{value:?} -> {escaped:?}"
        );
        assert_eq!(partition::unescape(&escaped).as_deref(), Some(value));
        let bounded = partition::escape_bounded(value);
        assert!(
            bounded.len() <= MAX_ESCAPED_VALUE,
            "{value:?} -> {bounded:?}"
        );
        assert!(!bounded.starts_with('.') && !bounded.contains('/'));
        if escaped.len() <= MAX_ESCAPED_VALUE {
            assert_eq!(bounded, escaped);
        }
        let folder = format!("account={bounded}");
        assert_eq!(
            PartitionField::of_folder_name(&folder),
            Some(PartitionField::Account)
        );
    }
    if a != b {
        assert_ne!(partition::escape(a), partition::escape(b), "{a:?} {b:?}");
    }
    assert_eq!(partition::unescape(DEFAULT_PARTITION).as_deref(), Some(""));
}
