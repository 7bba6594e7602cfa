//! Hive-style partition layouts and the escaping that keeps every value inside its directory;
//! the one layout an output has, recorded at its first write.

use std::collections::BTreeSet;
use std::fmt;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::error::UsageError;
use crate::filter::EventFilter;
use crate::output::destination::Destination;

/// One level of partitioning a user can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PartitionField {
    /// `account=<recipientAccountId>` (the caller's account when the record has none).
    Account,
    /// `region=<awsRegion>`.
    Region,
    /// `event_date=YYYY-MM-DD` of the event time in UTC.
    Date,
    /// `event_month=YYYY-MM` of the event time in UTC.
    Month,
}

impl PartitionField {
    pub const ALL: [PartitionField; 4] = [
        PartitionField::Account,
        PartitionField::Region,
        PartitionField::Date,
        PartitionField::Month,
    ];

    /// The partition column's name, as engines see it.
    pub fn column(self) -> &'static str {
        match self {
            PartitionField::Account => "account",
            PartitionField::Region => "region",
            PartitionField::Date => "event_date",
            PartitionField::Month => "event_month",
        }
    }

    /// The partition column's type, as the schema listing names types.
    pub fn doc_type(self) -> &'static str {
        match self {
            PartitionField::Date => "date",
            _ => "string",
        }
    }

    /// What the partition column holds, for the schema listing.
    pub fn description(self) -> &'static str {
        match self {
            PartitionField::Account => {
                "Partition column (--partition-by account): recipientAccountId, else the caller's account; in the folder name account=..."
            }
            PartitionField::Region => {
                "Partition column (--partition-by region): awsRegion; in the folder name region=..."
            }
            PartitionField::Date => {
                "Partition column (--partition-by date, the default): UTC day of event_time; in the folder name event_date=YYYY-MM-DD"
            }
            PartitionField::Month => {
                "Partition column (--partition-by month): UTC month of event_time; in the folder name event_month=YYYY-MM"
            }
        }
    }

    /// The level a partition folder's name (`event_date=2024-03-01`) belongs to; `None` for
    /// any other name.
    pub fn of_folder_name(name: &str) -> Option<PartitionField> {
        let (column, _) = name.split_once('=')?;
        Self::ALL.into_iter().find(|f| f.column() == column)
    }

    fn parse(word: &str) -> Result<Option<Self>, String> {
        Ok(Some(match word {
            "account" => PartitionField::Account,
            "region" => PartitionField::Region,
            "date" => PartitionField::Date,
            "month" => PartitionField::Month,
            "none" => return Ok(None),
            other => {
                return Err(format!(
                    "unknown partition '{other}': use account, region, date, month or none"
                ));
            }
        }))
    }
}

/// Whether the partition folder `name` (`event_date=2024-03-01`, `account=1234...`) can hold
/// events `filter` keeps: false only when its value lies outside the filter's days, months,
/// accounts or regions. A name it cannot judge (not a partition folder, a value that is
/// escaped or shortened, a date of a year beyond 9999) may hold anything, so that pruning by
/// folder names never loses a row the filter on the columns would keep.
pub fn folder_may_hold(name: &str, filter: &EventFilter) -> bool {
    let Some((field, value)) = PartitionField::of_folder_name(name).zip(name.split_once('='))
    else {
        return true;
    };
    let value = value.1;
    // Values spelled in folder names as they are (no escaping, not shortened).
    let plain = |wanted: &[String]| wanted.iter().all(|v| escape_bounded(v) == *v);
    let within = |width: usize| {
        let shaped = |v: &str| {
            v.len() == width
                && v.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                })
        };
        let bound = |ms: Option<i64>| ms.map(|ms| crate::time::date_of(ms)[..width].to_owned());
        let (first, last) = (bound(filter.since_ms()), bound(filter.until_ms()));
        !shaped(value)
            || first.as_deref().is_some_and(|f| !shaped(f))
            || last.as_deref().is_some_and(|l| !shaped(l))
            || first.is_none_or(|f| value >= f.as_str()) && last.is_none_or(|l| value <= l.as_str())
    };
    match field {
        PartitionField::Account => {
            filter.accounts.is_empty()
                || !plain(&filter.accounts)
                || filter.accounts.iter().any(|a| a == value)
        }
        PartitionField::Region => {
            filter.regions.is_empty()
                || !plain(&filter.regions)
                || filter.regions.iter().any(|r| r == value)
        }
        PartitionField::Date => within(10),
        PartitionField::Month => within(7),
    }
}

/// The partition directories of an output, outermost first. Levels are always ordered account,
/// region, then date or month, whatever order they were given in, so that one output directory
/// has one shape and listing by account or region prunes the most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    fields: Vec<PartitionField>,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            fields: vec![PartitionField::Date],
        }
    }
}

impl Layout {
    /// Parses words such as `account`, `region,date` or `none` (each word may hold a
    /// comma-separated list).
    pub fn parse(words: &[String]) -> Result<Layout, String> {
        let mut fields = Vec::new();
        let mut none = false;
        for word in words.iter().flat_map(|w| w.split(',')).map(str::trim) {
            match PartitionField::parse(word)? {
                Some(f) if !fields.contains(&f) => fields.push(f),
                Some(_) => {}
                None => none = true,
            }
        }
        if none && !fields.is_empty() {
            return Err("'none' cannot be combined with other partitions".into());
        }
        if fields.contains(&PartitionField::Date) && fields.contains(&PartitionField::Month) {
            return Err("choose one of 'date' and 'month'".into());
        }
        fields.sort();
        Ok(Layout { fields })
    }

    pub fn fields(&self) -> &[PartitionField] {
        &self.fields
    }

    /// The layout as `--partition-by` spells it: `account,region,date`, or `none`.
    pub fn words(&self) -> String {
        if self.fields.is_empty() {
            return "none".into();
        }
        let words: Vec<&str> = self
            .fields
            .iter()
            .map(|f| match f {
                PartitionField::Account => "account",
                PartitionField::Region => "region",
                PartitionField::Date => "date",
                PartitionField::Month => "month",
            })
            .collect();
        words.join(",")
    }

    /// The layout a partition folder (`account=1/event_date=2024-01-02`, `""` for none) was
    /// written with; `None` when a level is not one of ours.
    fn of_folder(folder: &str) -> Option<Layout> {
        let mut fields = Vec::new();
        for level in folder.split('/').filter(|l| !l.is_empty()) {
            fields.push(PartitionField::of_folder_name(level)?);
        }
        Some(Layout { fields })
    }

    /// The relative directory of a record's partition (empty for `none`).
    pub fn path(&self, account: Option<&str>, region: Option<&str>, date: &str) -> String {
        let mut out = String::new();
        for field in &self.fields {
            let value = match field {
                PartitionField::Account => escape_bounded(account.unwrap_or("")),
                PartitionField::Region => escape_bounded(region.unwrap_or("")),
                PartitionField::Date => escape(date),
                PartitionField::Month => escape(date.get(..7).unwrap_or(date)),
            };
            if !out.is_empty() {
                out.push('/');
            }
            out.push_str(field.column());
            out.push('=');
            out.push_str(&value);
        }
        out
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.fields.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<_> = self.fields.iter().map(|p| p.column()).collect();
        f.write_str(&names.join("/"))
    }
}

/// Where an output records its layout, written before its first data file.
pub const LAYOUT_RECORD: &str = "_hsmtrail/layout.json";

#[derive(Serialize, Deserialize)]
struct LayoutRecord {
    partition_by: String,
}

/// The layout of the output at `dest`: as recorded, else as its data files' folders show (an
/// output of an older version); `None` for an output without data.
pub fn existing_layout(dest: &Destination) -> Result<Option<Layout>> {
    if let Some(bytes) = dest.read_small(LAYOUT_RECORD)? {
        let record: LayoutRecord = serde_json::from_slice(&bytes)
            .with_context(|| format!("reading {}", dest.name_of(LAYOUT_RECORD)))?;
        let layout = Layout::parse(&[record.partition_by])
            .map_err(|e| anyhow::anyhow!("{}: {e}", dest.name_of(LAYOUT_RECORD)))?;
        return Ok(Some(layout));
    }
    let mut seen = BTreeSet::new();
    for file in dest.all_data_files()? {
        if let Some(layout) = Layout::of_folder(&dest.partition_of(&file)) {
            seen.insert(layout.words());
        }
    }
    match seen.len() {
        0 => Ok(None),
        1 => Ok(Some(
            Layout::parse(&seen.into_iter().collect::<Vec<_>>()).expect("words of a layout"),
        )),
        _ => Err(UsageError(format!(
            "{} holds data of several layouts (--partition-by {}): an output has one layout; \
             convert into a new folder, or move one layout's files out",
            dest.display(),
            seen.into_iter()
                .collect::<Vec<_>>()
                .join(" and --partition-by ")
        ))
        .into()),
    }
}

/// Checks that `layout` is the output's layout; with `record`, records it if the output has
/// none yet (call it under the output lock, before the first data file is written).
pub fn claim_layout(dest: &Destination, layout: &Layout, record: bool) -> Result<()> {
    match existing_layout(dest)? {
        Some(existing) if existing != *layout => Err(UsageError(format!(
            "{} was written with --partition-by {}, not --partition-by {}: an output has one \
             layout (compaction, de-duplication and table definitions rely on it); convert into \
             a new folder, or pass --partition-by {}",
            dest.display(),
            existing.words(),
            layout.words(),
            existing.words()
        ))
        .into()),
        Some(_) => Ok(()),
        None if record => {
            let record = LayoutRecord {
                partition_by: layout.words(),
            };
            let mut bytes = serde_json::to_vec_pretty(&record).expect("serialisable");
            bytes.push(b'\n');
            dest.write_small(LAYOUT_RECORD, &bytes)
        }
        None => Ok(()),
    }
}

/// Hive's name for a partition whose value is missing.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Escapes a partition value the way Hive does (`%XX` for path separators, `=`, `%`, control
/// characters and the other characters Hive escapes), so that no value can leave its directory
/// or be read back as another partition. An empty value becomes Hive's default partition.
pub fn escape(value: &str) -> String {
    if value.is_empty() {
        return DEFAULT_PARTITION.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        let needs = ch.is_control()
            || matches!(
                ch,
                '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '{' | '[' | ']' | '^'
            );
        if needs {
            let mut buf = [0u8; 4];
            for b in ch.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(ch);
        }
    }
    // A value made only of dots would be a special directory name on its own; the `key=` prefix
    // already prevents that, but escape the leading dot too so no component ever starts hidden.
    if out.starts_with('.') {
        out.replace_range(..1, "%2E");
    }
    // A value that is literally Hive's name for a missing one would read back as missing.
    if out == DEFAULT_PARTITION {
        out.replace_range(..1, "%5F");
    }
    out
}

/// The value a partition folder's escaped value stands for, as Hive, Spark and Athena read it
/// back: `%XX` decoded, Hive's default partition empty. [`escape`] is its inverse, which the
/// tests and the fuzz target `hive_escape` hold it to; `None` for bytes that are not UTF-8.
pub fn unescape(escaped: &str) -> Option<String> {
    if escaped == DEFAULT_PARTITION {
        return Some(String::new());
    }
    percent_encoding::percent_decode_str(escaped)
        .decode_utf8()
        .ok()
        .map(|v| v.into_owned())
}

/// Longest escaped value kept whole in a folder name: far above any real account ID (12
/// digits) or region, far below the 255 bytes file systems allow a name.
pub const MAX_ESCAPED_VALUE: usize = 128;

/// [`escape`], with a value too long for a folder name (a damaged or hostile record) shortened
/// to a stable name: its first escaped characters, `~`, and 16 hex digits of a hash of the
/// whole value, so that the record is kept, every run puts it in the same partition, and two
/// long values sharing a beginning stay apart. The record's own column keeps the full value.
pub fn escape_bounded(value: &str) -> String {
    let escaped = escape(value);
    if escaped.len() <= MAX_ESCAPED_VALUE {
        return escaped;
    }
    let mut cut = MAX_ESCAPED_VALUE - 17;
    // Never inside a character or a %XX escape.
    let bytes = escaped.as_bytes();
    while !escaped.is_char_boundary(cut) || bytes[cut - 1] == b'%' || bytes[cut - 2] == b'%' {
        cut -= 1;
    }
    format!("{}~{:016x}", &escaped[..cut], stable_hash(value.as_bytes()))
}

/// A hash that is the same on every machine and in every version (FNV-1a, 64 bits): for
/// names that runs must agree on, never for security.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folders_outside_the_filter_are_pruned_and_folders_it_cannot_judge_are_not() {
        let filter = EventFilter {
            since: Some(crate::time::Bound::parse("2024-03-01").unwrap()),
            until: Some(crate::time::Bound::parse("2024-03-02").unwrap()),
            accounts: vec!["111122223333".into()],
            regions: vec!["eu-west-1".into()],
            ..EventFilter::default()
        };
        for (name, kept) in [
            ("event_date=2024-02-29", false),
            ("event_date=2024-03-01", true),
            ("event_date=2024-03-02", true),
            ("event_date=2024-03-03", false),
            ("event_date=__HIVE_DEFAULT_PARTITION__", true),
            ("event_month=2024-02", false),
            ("event_month=2024-03", true),
            ("event_month=2024-04", false),
            ("account=111122223333", true),
            ("account=444455556666", false),
            ("region=eu-west-1", true),
            ("region=us-east-1", false),
            ("somebody=else", true),
            ("plain-folder", true),
        ] {
            assert_eq!(folder_may_hold(name, &filter), kept, "{name}");
        }
        // A value a folder name cannot spell as it is prunes nothing of its level.
        let odd = EventFilter {
            accounts: vec!["a/b".into()],
            ..EventFilter::default()
        };
        assert!(folder_may_hold("account=444455556666", &odd));
        let open = EventFilter::default();
        assert!(folder_may_hold("event_date=1999-01-01", &open));
    }

    #[test]
    fn layouts() {
        let l = Layout::parse(&["date,account".into()]).unwrap();
        assert_eq!(
            l.path(Some("111"), None, "2024-01-02"),
            "account=111/event_date=2024-01-02"
        );
        let m = Layout::parse(&["month".into(), "region".into()]).unwrap();
        assert_eq!(
            m.path(None, Some("eu-west-1"), "2024-01-02"),
            "region=eu-west-1/event_month=2024-01"
        );
        assert_eq!(
            Layout::parse(&["none".into()])
                .unwrap()
                .path(None, None, "x"),
            ""
        );
        assert!(Layout::parse(&["date".into(), "month".into()]).is_err());
        assert!(Layout::parse(&["none,date".into()]).is_err());
        assert!(Layout::parse(&["year".into()]).is_err());
        assert_eq!(Layout::default().to_string(), "event_date");
    }

    #[test]
    fn hostile_values_stay_inside() {
        assert_eq!(escape("../../x"), "%2E.%2F..%2Fx");
        assert_eq!(escape("a/b"), "a%2Fb");
        assert_eq!(escape(""), DEFAULT_PARTITION);
        assert_eq!(escape("k=v"), "k%3Dv");
        assert_eq!(escape("111122223333"), "111122223333");
        assert_eq!(escape("us-east-1"), "us-east-1");
        assert_eq!(escape(DEFAULT_PARTITION), "%5F_HIVE_DEFAULT_PARTITION__");
        for value in ["", DEFAULT_PARTITION, "../../x", "a%2Fb", "%"] {
            assert_eq!(unescape(&escape(value)).as_deref(), Some(value));
        }
    }

    #[test]
    fn values_too_long_for_a_name_are_shortened_stably() {
        let long = "a/".repeat(150);
        let name = escape_bounded(&long);
        assert!(name.len() <= MAX_ESCAPED_VALUE, "{}", name.len());
        assert_eq!(name, escape_bounded(&long));
        assert!(name.starts_with("a%2Fa%2F") && name.contains('~'));
        let other = format!("{long}b");
        assert_ne!(escape_bounded(&other), name);
        assert_eq!(escape_bounded("111122223333"), "111122223333");
    }

    proptest! {
        #[test]
        fn bounded_names_are_short_plain_components(value in ".{0,400}") {
            let e = escape_bounded(&value);
            prop_assert!(e.len() <= MAX_ESCAPED_VALUE);
            prop_assert!(!e.is_empty() && !e.contains('/') && !e.starts_with('.'));
            if escape(&value).len() <= MAX_ESCAPED_VALUE {
                prop_assert_eq!(e, escape(&value));
            }
        }

        #[test]
        fn escaped_values_are_one_plain_component(value in ".*") {
            let e = escape(&value);
            prop_assert!(!e.is_empty());
            prop_assert!(!e.contains('/') && !e.contains('\\') && !e.contains('='));
            prop_assert!(!e.starts_with('.'));
            prop_assert!(!e.chars().any(char::is_control));
            prop_assert_eq!(unescape(&e), Some(value));
        }
    }
}
