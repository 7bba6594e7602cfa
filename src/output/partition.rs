//! Hive-style partition layouts and the escaping that keeps every value inside its directory.

use std::fmt;

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
    /// The partition column's name, as engines see it.
    pub fn column(self) -> &'static str {
        match self {
            PartitionField::Account => "account",
            PartitionField::Region => "region",
            PartitionField::Date => "event_date",
            PartitionField::Month => "event_month",
        }
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

    /// The relative directory of a record's partition (empty for `none`).
    pub fn path(&self, account: Option<&str>, region: Option<&str>, date: &str) -> String {
        let mut out = String::new();
        for field in &self.fields {
            let value = match field {
                PartitionField::Account => escape(account.unwrap_or("")),
                PartitionField::Region => escape(region.unwrap_or("")),
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    }

    proptest! {
        #[test]
        fn escaped_values_are_one_plain_component(value in ".*") {
            let e = escape(&value);
            prop_assert!(!e.is_empty());
            prop_assert!(!e.contains('/') && !e.contains('\\') && !e.contains('='));
            prop_assert!(!e.starts_with('.'));
            prop_assert!(!e.chars().any(char::is_control));
        }
    }
}
