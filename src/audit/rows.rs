//! Audit entries to Arrow columns of the `hsm_audit` table, column by column as
//! [`super::columns::COLUMNS`] declares them.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder, TimestampMillisecondBuilder,
};
use arrow::record_batch::RecordBatch;
use sha2::{Digest, Sha256};

use super::columns::{COLUMNS, Context, Kind, RESPONSE, Source};
use super::entry::{self, Entry};
use crate::output::table::Table;
use crate::schema::list_item_field;

/// What the delivery around an entry says about it: its CloudWatch Logs event and group, and
/// what the file's path names when the content does not.
#[derive(Debug, Default, Clone)]
pub struct Delivery<'a> {
    pub log_group: Option<Cow<'a, str>>,
    pub log_stream: Option<Cow<'a, str>>,
    pub account: Option<Cow<'a, str>>,
    pub cloudwatch_ms: Option<i64>,
    pub ingestion_ms: Option<i64>,
    pub event_id: Option<Cow<'a, str>>,
}

/// The cluster and HSM an entry belongs to, and its stream: from the log group and stream when
/// the input names them, else from `cluster-...`/`hsm-...` folder or file names in its path
/// (an export task puts the stream in the path; a saved `get-log-events` output has neither).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Origin {
    pub cluster_id: Option<String>,
    pub hsm_id: Option<String>,
    pub log_stream: Option<String>,
}

impl Origin {
    pub fn of(delivery: &Delivery<'_>, path: &str) -> Origin {
        // Nearest first: the file's name (without extensions), then its folders.
        let parts: Vec<&str> = path
            .rsplit(['/', '\\'])
            .enumerate()
            .map(|(i, part)| match i {
                0 => part.split('.').next().unwrap_or(part),
                _ => part,
            })
            .collect();
        // In a path only what has the shape of an ID (`hsm-` and 11 to 16 letters or digits) is
        // taken for one: `hsm-backups/` is a folder of the user's.
        let id_in_path = |part: &str, prefix: &str| {
            is_id(part, prefix) && (11..=16).contains(&(part.len() - prefix.len()))
        };
        let any = |prefix: &str| {
            parts
                .iter()
                .find(|p| id_in_path(p, prefix))
                .map(|p| p.to_string())
        };
        let stream = match delivery.log_stream.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(s.to_owned()),
            // An export names the stream by the folder its objects are in; a saved
            // `get-log-events` output may be named after it. An HSM folder further up counts too.
            None => parts
                .iter()
                .take(2)
                .find(|p| id_in_path(p, "hsm-") || id_in_path(p, "cluster-"))
                .map(|p| p.to_string())
                .or_else(|| any("hsm-")),
        };
        let cluster = delivery
            .log_group
            .as_deref()
            .and_then(|g| g.strip_prefix("/aws/cloudhsm/"))
            .map(|c| c.trim_matches('/'))
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .or_else(|| stream.clone().filter(|s| is_id(s, "cluster-")))
            .or_else(|| any("cluster-"));
        Origin {
            cluster_id: cluster,
            hsm_id: stream.clone().filter(|s| is_id(s, "hsm-")),
            log_stream: stream,
        }
    }
}

/// `cluster-...`/`hsm-...`: the prefix, then letters and digits only.
fn is_id(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() >= 6 && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// What makes an entry unique, so that overlapping exports and subscriptions, and the same
/// entry delivered with and without its stream, never double it: the SHA-256 of its text (its
/// lines without trailing white space). An HSM's entry text holds its time to the microsecond,
/// reboot counter and sequence number, so two entries' texts differ whenever their HSM, counter
/// and sequence do, and two HSMs logging the same counter and sequence (as in AWS's own
/// examples) differ in time or command. Two copies of one entry are the same text however they
/// were delivered.
pub fn entry_id(message: &str) -> String {
    let text: Vec<&str> = message
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    let digest = Sha256::digest(text.join("\n").as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

enum Builder {
    Text(StringBuilder),
    Integer(Int64Builder),
    Bool(BooleanBuilder),
    Micros(TimestampMicrosecondBuilder),
    Millis(TimestampMillisecondBuilder),
    TextList(ListBuilder<StringBuilder>),
}

impl Builder {
    fn new(kind: Kind) -> Builder {
        match kind {
            Kind::Text | Kind::Json => Builder::Text(StringBuilder::new()),
            Kind::Integer => Builder::Integer(Int64Builder::new()),
            Kind::Bool => Builder::Bool(BooleanBuilder::new()),
            Kind::Micros => {
                Builder::Micros(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            Kind::Millis => {
                Builder::Millis(TimestampMillisecondBuilder::new().with_timezone("UTC"))
            }
            Kind::TextList => Builder::TextList(
                ListBuilder::new(StringBuilder::new()).with_field(Arc::new(list_item_field())),
            ),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Integer(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Micros(b) => Arc::new(b.finish()),
            Builder::Millis(b) => Arc::new(b.finish()),
            Builder::TextList(b) => Arc::new(b.finish()),
        }
    }
}

/// One cell's value before it goes into its builder.
enum Cell<'v> {
    Null,
    Text(Cow<'v, str>),
    Integer(i64),
    Bool(bool),
    List(Vec<String>),
}

/// Audit rows being built, one builder a column.
pub struct AuditRows {
    builders: Vec<Builder>,
    rows: usize,
}

impl Default for AuditRows {
    fn default() -> Self {
        AuditRows {
            builders: COLUMNS.iter().map(|c| Builder::new(c.kind)).collect(),
            rows: 0,
        }
    }
}

/// One entry with everything known about it.
pub struct Located<'e, 'a> {
    pub entry: &'e Entry<'a>,
    pub message: &'e str,
    pub delivery: &'e Delivery<'a>,
    pub origin: &'e Origin,
    pub source_file: &'e str,
    pub entry_id: &'e str,
}

impl AuditRows {
    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn push(&mut self, e: &Located<'_, '_>) {
        let mut notes = e.entry.notes.clone();
        let mut cells: Vec<Cell<'_>> = COLUMNS
            .iter()
            .map(|c| cell(c.from, e, &mut notes))
            .collect();
        let notes_at = COLUMNS
            .iter()
            .position(|c| c.from == Source::Notes)
            .expect("a notes column");
        cells[notes_at] = Cell::List(notes);
        for ((builder, cell), column) in self.builders.iter_mut().zip(cells).zip(COLUMNS) {
            match (builder, cell) {
                (Builder::Text(b), Cell::Text(t)) => b.append_value(t),
                (Builder::Text(b), Cell::Null) => b.append_null(),
                (Builder::Integer(b), Cell::Integer(n)) => b.append_value(n),
                (Builder::Integer(b), Cell::Null) => b.append_null(),
                (Builder::Micros(b), Cell::Integer(n)) => b.append_value(n),
                (Builder::Micros(b), Cell::Null) => b.append_null(),
                (Builder::Millis(b), Cell::Integer(n)) => b.append_value(n),
                (Builder::Millis(b), Cell::Null) => b.append_null(),
                (Builder::Bool(b), Cell::Bool(v)) => b.append_value(v),
                (Builder::Bool(b), Cell::Null) => b.append_null(),
                (Builder::TextList(b), Cell::List(items)) => {
                    for item in items {
                        b.values().append_value(item);
                    }
                    b.append(true);
                }
                (Builder::TextList(b), Cell::Null) => b.append(false),
                _ => unreachable!("column {} gets a value of its kind", column.name),
            }
        }
        self.rows += 1;
    }

    pub fn finish(&mut self) -> RecordBatch {
        let columns = self.builders.iter_mut().map(Builder::finish).collect();
        self.rows = 0;
        RecordBatch::try_new(Table::HsmAudit.arrow_schema(), columns)
            .expect("builders follow the schema")
    }
}

/// The value of one column for one entry; values that are there but unreadable add a note.
fn cell<'v>(from: Source, e: &'v Located<'_, '_>, notes: &mut Vec<String>) -> Cell<'v> {
    let entry = e.entry;
    let text = |v: Option<&'v str>| v.map_or(Cell::Null, |t| Cell::Text(Cow::Borrowed(t)));
    let cow = |v: &'v Option<Cow<'_, str>>| text(v.as_deref());
    let owned = |v: &'v Option<String>| text(v.as_deref());
    let int = |v: Option<i64>| v.map_or(Cell::Null, Cell::Integer);
    let response = || entry.get(RESPONSE).map(entry::response);
    match from {
        Source::Time => Cell::Integer(entry.time_us),
        Source::Context(c) => match c {
            Context::ClusterId => owned(&e.origin.cluster_id),
            Context::HsmId => owned(&e.origin.hsm_id),
            Context::Account => cow(&e.delivery.account),
            Context::LogGroup => cow(&e.delivery.log_group),
            Context::LogStream => owned(&e.origin.log_stream),
            Context::CloudwatchTime => millis(e.delivery.cloudwatch_ms, "timestamp", notes),
            Context::IngestionTime => millis(e.delivery.ingestion_ms, "ingestionTime", notes),
            Context::CloudwatchEventId => cow(&e.delivery.event_id),
            Context::SourceFile => Cell::Text(Cow::Borrowed(e.source_file)),
            Context::EntryId => Cell::Text(Cow::Borrowed(e.entry_id)),
        },
        Source::Written(keys) => text(entry.get(keys)),
        Source::Number(keys) => match entry.get(keys) {
            None | Some("null") => Cell::Null,
            Some(v) => match entry::number(v) {
                Some(n) => Cell::Integer(n),
                None => {
                    notes.push(format!("{} '{v}' is not a number", field_key(entry, keys)));
                    Cell::Null
                }
            },
        },
        Source::Name(keys) => text(entry.get(keys).map(|v| entry::coded(v).0)),
        Source::Code(keys) => int(entry.get(keys).and_then(|v| entry::coded(v).1)),
        Source::ResponseCode => int(response().and_then(|r| r.0)),
        Source::ResponseText => text(response().map(|r| r.1)),
        Source::Success => response().map_or(Cell::Null, |r| Cell::Bool(r.2)),
        Source::List(keys) => match entry.get(keys) {
            None | Some("null") => Cell::Null,
            Some(v) => match serde_json::from_str::<Vec<String>>(v) {
                Ok(items) => Cell::List(items),
                Err(_) => {
                    notes.push(format!(
                        "{} '{v}' is not a list of strings",
                        field_key(entry, keys)
                    ));
                    Cell::Null
                }
            },
        },
        Source::Format => Cell::Text(Cow::Borrowed(entry.format.name())),
        Source::Fields => {
            let mut map = serde_json::Map::new();
            for (k, v) in &entry.fields {
                if map.contains_key(k.as_ref()) {
                    notes.push(format!("the key '{k}' repeats; `fields` keeps the first"));
                } else {
                    map.insert(k.to_string(), serde_json::Value::String(v.to_string()));
                }
            }
            Cell::Text(Cow::Owned(serde_json::Value::Object(map).to_string()))
        }
        // Filled by `push` once every other column has added its notes.
        Source::Notes => Cell::Null,
        Source::Message => Cell::Text(Cow::Borrowed(e.message)),
    }
}

/// A CloudWatch time, unless it is outside the years engines read (then null, with a note).
fn millis<'v>(ms: Option<i64>, what: &str, notes: &mut Vec<String>) -> Cell<'v> {
    match ms {
        Some(ms) if crate::time::in_engine_years(ms) => Cell::Integer(ms),
        Some(ms) => {
            notes.push(format!(
                "CloudWatch's {what} {ms} is not in the years 0000 to 9999"
            ));
            Cell::Null
        }
        None => Cell::Null,
    }
}

/// The key as the entry spells it, for notes.
fn field_key(entry: &Entry<'_>, keys: &[&str]) -> String {
    entry
        .fields
        .iter()
        .find(|(k, _)| keys.contains(&entry::key_name(k).as_str()))
        .map(|(k, _)| k.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, TimestampMicrosecondType};

    #[test]
    fn the_origin_comes_from_the_delivery_else_the_path() {
        let delivery = Delivery {
            log_group: Some("/aws/cloudhsm/cluster-jd3b5xkz7pq".into()),
            log_stream: Some("hsm-q3vb7ydxm2k".into()),
            ..Delivery::default()
        };
        let o = Origin::of(&delivery, "x/hsm-other123/y.json");
        assert_eq!(o.cluster_id.as_deref(), Some("cluster-jd3b5xkz7pq"));
        assert_eq!(o.hsm_id.as_deref(), Some("hsm-q3vb7ydxm2k"));

        let export = Origin::of(
            &Delivery::default(),
            "s3://b/exportedlogs/cluster-jd3b5xkz7pq/7a1b/hsm-q3vb7ydxm2k/000000.gz",
        );
        assert_eq!(export.cluster_id.as_deref(), Some("cluster-jd3b5xkz7pq"));
        assert_eq!(export.hsm_id.as_deref(), Some("hsm-q3vb7ydxm2k"));
        assert_eq!(export.log_stream.as_deref(), Some("hsm-q3vb7ydxm2k"));

        let saved = Origin::of(&Delivery::default(), "out/hsm-q3vb7ydxm2k.json");
        assert_eq!(saved.hsm_id.as_deref(), Some("hsm-q3vb7ydxm2k"));
        let cert_export = Origin::of(
            &Delivery::default(),
            "exportedlogs/7a1b/cluster-jd3b5xkz7pq/000000.gz",
        );
        assert_eq!(
            cert_export.log_stream.as_deref(),
            Some("cluster-jd3b5xkz7pq")
        );
        assert_eq!(cert_export.hsm_id, None);
        let deep = Origin::of(&Delivery::default(), "hsm-q3vb7ydxm2k/2024/03/05/x.txt");
        assert_eq!(deep.log_stream.as_deref(), Some("hsm-q3vb7ydxm2k"));
        assert_eq!(
            Origin::of(&Delivery::default(), "messages.txt"),
            Origin::default()
        );

        // The certificate-storage stream is named after the cluster: no HSM.
        let cert = Origin::of(
            &Delivery {
                log_stream: Some("cluster-jd3b5xkz7pq".into()),
                ..Delivery::default()
            },
            "f",
        );
        assert_eq!(cert.cluster_id.as_deref(), Some("cluster-jd3b5xkz7pq"));
        assert_eq!(cert.hsm_id, None);
        assert_eq!(cert.log_stream.as_deref(), Some("cluster-jd3b5xkz7pq"));
    }

    #[test]
    fn rows_follow_the_columns_and_bad_values_leave_notes() {
        let message = "Time: 03/05/24 14:21:10.051386, usecs:1709648470051386\nSequence No : 0x20\nReboot counter : 0x4\nOpcode : CN_GENERATE_KEY_PAIR (0x19)\nResponse : 0:HSM Return: SUCCESS\nLog type : MGMT_KEY_DETAILS_LOG (1)\nPriv/Secret Key Handle : 524301\nPublic Key Handle : 0xzz";
        let entry = Entry::parse(message).unwrap();
        let delivery = Delivery {
            log_stream: Some("hsm-q3vb7ydxm2k".into()),
            ..Delivery::default()
        };
        let origin = Origin::of(&delivery, "f");
        let id = entry_id(message);
        assert!(id.starts_with("sha256:") && id.len() == 39, "{id}");
        let mut rows = AuditRows::default();
        rows.push(&Located {
            entry: &entry,
            message,
            delivery: &delivery,
            origin: &origin,
            source_file: "f",
            entry_id: &id,
        });
        let batch = rows.finish();
        let col = |name| batch.column_by_name(name).unwrap();
        assert_eq!(
            col("event_time")
                .as_primitive::<TimestampMicrosecondType>()
                .value(0),
            1709648470051386
        );
        assert_eq!(
            col("priv_secret_key_handle")
                .as_primitive::<Int64Type>()
                .value(0),
            524301
        );
        assert!(col("public_key_handle").is_null(0));
        assert!(col("success").as_boolean().value(0));
        assert_eq!(
            col("opcode").as_string::<i32>().value(0),
            "CN_GENERATE_KEY_PAIR"
        );
        assert_eq!(
            col("opcode_code").as_primitive::<Int64Type>().value(0),
            0x19
        );
        let notes = col("parse_notes").as_list::<i32>().value(0);
        assert_eq!(
            notes.as_string::<i32>().value(0),
            "Public Key Handle '0xzz' is not a number"
        );
        assert_eq!(col("message").as_string::<i32>().value(0), message);
    }

    #[test]
    fn an_entry_is_known_by_its_text_however_it_was_delivered() {
        let message = "Time: 03/05/24 14:21:10.051386, usecs:1709648470051386\nSequence No: 0x2\nReboot counter: 0x107";
        let id = entry_id(message);
        // The same entry with other line ends, or trailing spaces: the same.
        assert_eq!(entry_id(&(message.replace('\n', "\r\n") + "\r\n")), id);
        assert_eq!(entry_id(&message.replace("0x2\n", "0x2  \n")), id);
        // Another counter (another HSM's entry at the same time): another entry.
        assert_ne!(entry_id(&message.replace("0x107", "0x108")), id);
        // A folder of the user's is no HSM.
        assert_eq!(
            Origin::of(&Delivery::default(), "hsm-backups/a.txt"),
            Origin::default()
        );
    }
}
