//! Record to columns: one [`Flattener`] turns records into an Arrow batch of the one schema.
//!
//! Every column is filled according to its [`Source`] in [`crate::schema::COLUMNS`]; nothing
//! here names a column except the derived ones. A value of an unexpected JSON type leaves its
//! typed column null, stays in the raw JSON, and is named in `type_mismatches`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, ListBuilder, StringArray, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow::record_batch::RecordBatch;
use serde_json::value::RawValue;

use crate::record::{CowStr, RawRecord, TypeMismatch, raw_str};
use crate::related::{self, Relation, SharedWith};
use crate::schema::{
    self, BoolForm, CLOUDHSM_SOURCE, COLUMNS, Column, Derived, Kind, ResourceKind, Source,
};
use crate::time;

/// Where a record came from: the input's name, and with `convert --verify` whether a digest
/// proven by its signature lists that input with its exact hash.
#[derive(Debug, Clone, Copy)]
pub struct Provenance<'a> {
    pub file: &'a str,
    pub verified: Option<bool>,
}

#[cfg(test)]
impl<'a> Provenance<'a> {
    /// An input that was not verified.
    pub fn unverified(file: &'a str) -> Self {
        Provenance {
            file,
            verified: None,
        }
    }
}

/// A record that passed the filters, with the fields the pipeline already parsed.
#[derive(Debug)]
pub struct Prepared<'a> {
    pub record: RawRecord<'a>,
    /// eventTime in milliseconds since the epoch, UTC.
    pub event_time: i64,
    /// Whether `time::render(event_time)` gives back eventTime's exact text.
    pub event_time_canonical: bool,
    pub event_source: Option<Cow<'a, str>>,
}

impl Prepared<'_> {
    fn is_cloudhsm(&self) -> bool {
        self.event_source.as_deref() == Some(CLOUDHSM_SOURCE)
    }
}

enum Builder {
    Text(StringBuilder),
    Bool(BooleanBuilder),
    Timestamp(TimestampMillisecondBuilder),
    TextList(ListBuilder<StringBuilder>),
}

/// Room for a batch's values in one column: rows, and for text the bytes (and list items).
#[derive(Clone, Copy, Default)]
struct Room {
    rows: usize,
    items: usize,
    bytes: usize,
}

impl Room {
    /// What a finished column held, with an eighth more for the next batch's variation.
    fn after(array: &ArrayRef) -> Self {
        let text = |a: &StringArray| (a.len(), a.value_data().len());
        let (items, bytes) = if let Some(a) = array.as_string_opt::<i32>() {
            text(a)
        } else if let Some(list) = array.as_list_opt::<i32>() {
            text(list.values().as_string::<i32>())
        } else {
            (0, 0)
        };
        let more = |n: usize| n + n / 8;
        Room {
            rows: more(array.len()),
            items: more(items),
            bytes: more(bytes),
        }
    }
}

impl Builder {
    /// A builder with `room`: sized by the batch before it, a batch's builders are not grown
    /// by doubling, which copied every value about twice and touched up to twice the memory
    /// (fresh memory is a large part of a dense run's time: benches/RESULTS.md).
    fn new(kind: Kind, room: Room) -> Self {
        let text = || StringBuilder::with_capacity(room.items.max(room.rows), room.bytes);
        match kind {
            Kind::Text | Kind::Json => Builder::Text(text()),
            Kind::Bool => Builder::Bool(BooleanBuilder::with_capacity(room.rows)),
            Kind::Timestamp => Builder::Timestamp(
                TimestampMillisecondBuilder::with_capacity(room.rows).with_timezone("UTC"),
            ),
            Kind::TextList => Builder::TextList(
                ListBuilder::with_capacity(text(), room.rows)
                    .with_field(Arc::new(schema::list_item_field())),
            ),
        }
    }

    fn append(&mut self, cell: Cell<'_>) {
        match (self, cell) {
            (Builder::Text(b), Cell::Text(s)) => b.append_value(s),
            (Builder::Text(b), _) => b.append_null(),
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(v),
            (Builder::Bool(b), _) => b.append_null(),
            (Builder::Timestamp(b), Cell::Timestamp(v)) => b.append_value(v),
            (Builder::Timestamp(b), _) => b.append_null(),
            (Builder::TextList(b), Cell::TextList(items)) => {
                for item in items {
                    b.values().append_value(&item);
                }
                b.append(true);
            }
            (Builder::TextList(b), _) => b.append(false),
        }
    }

    /// The column so far, in buffers trimmed to its size: a file's few rows are held until
    /// the run ends, and the builders' spare capacity would otherwise be held with them
    /// (about 6 KiB a column, more than the rows themselves for a sparse file).
    fn finish(&mut self) -> ArrayRef {
        fn trimmed(mut array: impl arrow::array::Array + 'static) -> ArrayRef {
            array.shrink_to_fit();
            Arc::new(array)
        }
        match self {
            Builder::Text(b) => trimmed(b.finish()),
            Builder::Bool(b) => trimmed(b.finish()),
            Builder::Timestamp(b) => trimmed(b.finish()),
            Builder::TextList(b) => trimmed(b.finish()),
        }
    }
}

/// Every top-level key a column or a derived value reads, numbered, with whether a column
/// reproduces it (typed or raw); every other key goes to `extra`. Keys are looked up once per
/// field and again for every column, so the map uses a fast non-cryptographic hash.
struct TopKeys {
    index: HashMap<&'static str, usize, foldhash::fast::FixedState>,
    claimed: Vec<bool>,
}

static TOP_KEYS: LazyLock<TopKeys> = LazyLock::new(|| {
    let mut keys = TopKeys {
        index: HashMap::default(),
        claimed: Vec::new(),
    };
    let read = COLUMNS
        .iter()
        .flat_map(|c| match c.source {
            Source::Top(k, _) | Source::Raw(k) => vec![(k, true)],
            Source::Path { paths, .. } => paths.iter().map(|p| (p[0], false)).collect(),
            _ => Vec::new(),
        })
        .chain(DERIVED_ROOTS.iter().map(|k| (*k, false)));
    for (key, claimed) in read {
        let next = keys.claimed.len();
        let i = *keys.index.entry(key).or_insert(next);
        if i == next {
            keys.claimed.push(claimed);
        }
        keys.claimed[i] |= claimed;
    }
    keys
});

/// Top-level keys the derived columns read beyond those the columns name.
const DERIVED_ROOTS: [&str; 5] = [
    "userIdentity",
    "requestParameters",
    "responseElements",
    "serviceEventDetails",
    "resources",
];

fn top_key_index(key: &str) -> Option<usize> {
    TOP_KEYS.index.get(key).copied()
}

/// Per column, the [`TOP_KEYS`] index of the top-level key it reads (of each path's first key
/// for paths), so that a row's columns do not hash the same few names again and again.
static COLUMN_KEYS: LazyLock<Vec<Vec<usize>>> = LazyLock::new(|| {
    let index = |key| top_key_index(key).expect("every key a column reads is a top key");
    COLUMNS
        .iter()
        .map(|c| match c.source {
            Source::Top(key, _) | Source::Raw(key) => vec![index(key)],
            Source::Path { paths, .. } => paths.iter().map(|p| index(p[0])).collect(),
            Source::Derived(_) => Vec::new(),
        })
        .collect()
});

/// One column's value for one row.
enum Cell<'a> {
    Null,
    Text(Cow<'a, str>),
    Bool(bool),
    Timestamp(i64),
    TextList(Vec<Cow<'a, str>>),
}

/// Builds batches of the one schema from prepared records.
pub struct Flattener {
    builders: Vec<Builder>,
    rows: usize,
    /// Per column, how many values had an unexpected type.
    mismatches: Vec<u64>,
}

impl Default for Flattener {
    fn default() -> Self {
        Self::new()
    }
}

impl Flattener {
    pub fn new() -> Self {
        Flattener {
            builders: COLUMNS
                .iter()
                .map(|c| Builder::new(c.kind, Room::default()))
                .collect(),
            rows: 0,
            mismatches: vec![0; COLUMNS.len()],
        }
    }

    /// Rows appended since the last [`Flattener::finish`].
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one record as a row.
    pub fn push(&mut self, rec: &Prepared<'_>, source: &Provenance<'_>) {
        let mut row = Row::new(rec);
        let mut deferred = Vec::new();
        for (i, column) in COLUMNS.iter().enumerate() {
            let cell = match column.source {
                Source::Derived(Derived::Extra) | Source::Derived(Derived::TypeMismatches) => {
                    deferred.push(i);
                    continue;
                }
                Source::Derived(Derived::SourceFile) => Cell::Text(Cow::Borrowed(source.file)),
                Source::Derived(Derived::SourceVerified) => {
                    source.verified.map_or(Cell::Null, Cell::Bool)
                }
                _ => row.cell(i, column),
            };
            self.builders[i].append(cell);
        }
        for i in &row.mismatched {
            self.mismatches[*i] += 1;
        }
        for i in deferred {
            let cell = match COLUMNS[i].source {
                Source::Derived(Derived::Extra) => row.extra_json(),
                _ => row.mismatch_list(),
            };
            self.builders[i].append(cell);
        }
        self.rows += 1;
    }

    /// The rows so far as one batch; the flattener starts over empty.
    pub fn finish(&mut self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .zip(COLUMNS)
            .map(|(builder, column)| {
                let array = builder.finish();
                *builder = Builder::new(column.kind, Room::after(&array));
                array
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(schema::arrow_schema(), arrays).expect("builders follow the schema")
    }

    /// Per column name, how many values had an unexpected JSON type since the last call
    /// (non-zero only).
    pub fn take_mismatch_counts(&mut self) -> Vec<(&'static str, u64)> {
        COLUMNS
            .iter()
            .zip(&mut self.mismatches)
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (c.name, std::mem::take(n)))
            .collect()
    }
}

/// The state of one row while its columns are computed. Values stay borrowed raw JSON: nested
/// objects are split into their keys when a path first goes through them, and strings are
/// copied only when they hold escapes.
struct Row<'p, 'a> {
    rec: &'p Prepared<'a>,
    /// Per key of [`TOP_KEYS`], the record's value (the first, if the key repeats).
    top_fields: Vec<Option<(&'p Cow<'a, str>, &'a RawValue)>>,
    /// Nested objects split on first use, by the address of their text; `None` when the value
    /// is not an object.
    objects: Vec<(*const u8, Option<RawRecord<'a>>)>,
    /// Top-level keys the columns cannot reproduce exactly, with their raw values.
    extra: Vec<(&'p Cow<'a, str>, &'a RawValue)>,
    mismatched: Vec<usize>,
    /// [`Row::relation`], once found.
    relation: Option<Option<Relation>>,
}

impl<'p, 'a> Row<'p, 'a> {
    /// Indexes the record's top-level keys in one pass; keys no column reproduces (and repeats
    /// of keys that one does) go straight to `extra`.
    fn new(rec: &'p Prepared<'a>) -> Self {
        let mut top_fields = vec![None; TOP_KEYS.claimed.len()];
        let mut extra = Vec::new();
        for (key, raw) in &rec.record.fields {
            match top_key_index(key) {
                Some(i) if top_fields[i].is_none() => {
                    top_fields[i] = Some((key, *raw));
                    if !TOP_KEYS.claimed[i] {
                        extra.push((key, *raw));
                    }
                }
                _ => extra.push((key, *raw)),
            }
        }
        Row {
            rec,
            top_fields,
            objects: Vec::new(),
            extra,
            mismatched: Vec::new(),
            relation: None,
        }
    }

    fn cell(&mut self, i: usize, column: &Column) -> Cell<'a> {
        match column.source {
            Source::Top(_, form) => self.top(i, column.kind, form),
            Source::Raw(_) => match self.top_fields[COLUMN_KEYS[i][0]] {
                Some((_, raw)) => Cell::Text(Cow::Borrowed(raw.get())),
                None => Cell::Null,
            },
            Source::Path { paths, source } => {
                if source.is_some_and(|s| self.rec.event_source.as_deref() != Some(s)) {
                    return Cell::Null;
                }
                let found = paths
                    .iter()
                    .zip(&COLUMN_KEYS[i])
                    .find_map(|(p, root)| self.lookup_from(*root, &p[1..]));
                match found {
                    Some(Ok(value)) => self.typed(i, column.kind, value),
                    Some(Err(TypeMismatch)) => {
                        self.mismatched.push(i);
                        Cell::Null
                    }
                    None => Cell::Null,
                }
            }
            Source::Derived(Derived::Actor) => self.actor().map_or(Cell::Null, Cell::Text),
            Source::Derived(Derived::ResourceId(kind)) => {
                let id = if self.rec.is_cloudhsm() {
                    self.resource_id(kind)
                } else {
                    self.related_resource_id(kind)
                };
                id.map_or(Cell::Null, Cell::Text)
            }
            Source::Derived(Derived::Relation) => self
                .relation()
                .map_or(Cell::Null, |r| Cell::Text(Cow::Borrowed(r.name()))),
            Source::Derived(Derived::SharedWith) => self.shared_with().map_or(Cell::Null, |who| {
                Cell::TextList(who.into_iter().map(Cow::Owned).collect())
            }),
            Source::Derived(Derived::TagKeys) => {
                if !self.rec.is_cloudhsm() {
                    return Cell::Null;
                }
                self.tag_keys().map_or(Cell::Null, Cell::TextList)
            }
            Source::Derived(Derived::Certificate(key, part)) => {
                if !self.rec.is_cloudhsm() {
                    return Cell::Null;
                }
                let value = self
                    .text_at(&["requestParameters", key])
                    .and_then(|pem| crate::cert::part(&pem, part));
                match value {
                    Some(crate::cert::Value::Text(text)) => Cell::Text(Cow::Owned(text)),
                    Some(crate::cert::Value::Millis(ms)) => Cell::Timestamp(ms),
                    None => Cell::Null,
                }
            }
            Source::Derived(Derived::SourceBackupAccount) => {
                if !self.rec.is_cloudhsm() {
                    return Cell::Null;
                }
                self.text_at(&["requestParameters", "sourceBackupId"])
                    .and_then(|arn| arn_account(&arn).map(|a| Cell::Text(Cow::Owned(a.to_owned()))))
                    .unwrap_or(Cell::Null)
            }
            Source::Derived(_) => unreachable!("handled by Flattener::push"),
        }
    }

    /// A typed top-level key; anything the column cannot give back exactly goes to `extra`.
    fn top(&mut self, i: usize, kind: Kind, form: BoolForm) -> Cell<'a> {
        let Some((name, raw)) = self.top_fields[COLUMN_KEYS[i][0]] else {
            return Cell::Null;
        };
        if raw.get() == "null" {
            self.extra.push((name, raw));
            return Cell::Null;
        }
        let (cell, exact) = match kind {
            Kind::Timestamp => (
                Cell::Timestamp(self.rec.event_time),
                self.rec.event_time_canonical,
            ),
            Kind::Bool => match (raw.get(), form) {
                ("true", BoolForm::Native) => (Cell::Bool(true), true),
                ("false", BoolForm::Native) => (Cell::Bool(false), true),
                ("\"true\"", BoolForm::String) => (Cell::Bool(true), true),
                ("\"false\"", BoolForm::String) => (Cell::Bool(false), true),
                ("true" | "\"true\"", _) => (Cell::Bool(true), false),
                ("false" | "\"false\"", _) => (Cell::Bool(false), false),
                _ => (Cell::Null, false),
            },
            _ => match raw_str(raw) {
                Ok(Some(s)) => (Cell::Text(s), true),
                _ => (Cell::Null, false),
            },
        };
        if !exact {
            if matches!(cell, Cell::Null) {
                self.mismatched.push(i);
            }
            self.extra.push((name, raw));
        }
        cell
    }

    fn typed(&mut self, i: usize, kind: Kind, raw: &'a RawValue) -> Cell<'a> {
        let text = raw.get();
        let cell = match kind {
            Kind::Bool => match text {
                "true" => Cell::Bool(true),
                "false" => Cell::Bool(false),
                _ => match raw_str(raw) {
                    Ok(Some(s)) if s.eq_ignore_ascii_case("true") => Cell::Bool(true),
                    Ok(Some(s)) if s.eq_ignore_ascii_case("false") => Cell::Bool(false),
                    _ => Cell::Null,
                },
            },
            Kind::Timestamp => match raw_str(raw) {
                Ok(Some(s)) => time::parse_api_time(&s).map_or(Cell::Null, Cell::Timestamp),
                // A number: seconds since the epoch, as JSON-protocol APIs send times.
                _ if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
                    time::parse_api_time(text).map_or(Cell::Null, Cell::Timestamp)
                }
                _ => Cell::Null,
            },
            Kind::TextList => string_list(raw).map_or(Cell::Null, Cell::TextList),
            Kind::Text => match raw_str(raw) {
                Ok(Some(s)) => Cell::Text(s),
                _ => Cell::Null,
            },
            Kind::Json => Cell::Text(Cow::Borrowed(text)),
        };
        if matches!(cell, Cell::Null) {
            self.mismatched.push(i);
        }
        cell
    }

    /// A nested object split into its keys, once per row; `None` when `raw` is not an object.
    fn object(&mut self, raw: &'a RawValue) -> Option<&RawRecord<'a>> {
        let address = raw.get().as_ptr();
        let pos = match self.objects.iter().position(|(a, _)| *a == address) {
            Some(pos) => pos,
            None => {
                self.objects
                    .push((address, RawRecord::parse(raw.get()).ok()));
                self.objects.len() - 1
            }
        };
        self.objects[pos].1.as_ref()
    }

    /// The value along `path`: `None` when absent or null, `Err` when something on the way has
    /// the wrong type.
    fn lookup(&mut self, path: &[&'static str]) -> Option<Result<&'a RawValue, TypeMismatch>> {
        self.lookup_from(top_key_index(path[0])?, &path[1..])
    }

    /// [`Row::lookup`] from the top-level key with this [`TOP_KEYS`] index.
    fn lookup_from(
        &mut self,
        root: usize,
        rest: &[&'static str],
    ) -> Option<Result<&'a RawValue, TypeMismatch>> {
        let (_, mut current) = self.top_fields[root]?;
        for key in rest {
            if current.get() == "null" {
                return None;
            }
            current = match self.object(current) {
                Some(object) => object.get(key)?,
                None => return Some(Err(TypeMismatch)),
            };
        }
        (current.get() != "null").then_some(Ok(current))
    }

    /// A non-empty string along `path`.
    fn text_at(&mut self, path: &[&'static str]) -> Option<Cow<'a, str>> {
        match self.lookup(path)? {
            Ok(raw) => raw_str(raw).ok().flatten().filter(|s| !s.is_empty()),
            Err(TypeMismatch) => None,
        }
    }

    /// The most readable name of who acted.
    fn actor(&mut self) -> Option<Cow<'a, str>> {
        let identity_type = self.text_at(&["userIdentity", "type"]);
        let arn = self.text_at(&["userIdentity", "arn"]);
        let after = |marker: &str| {
            arn.as_deref()
                .and_then(|a| a.split_once(marker))
                .map(|(_, rest)| Cow::Owned(rest.to_owned()))
        };
        let specific = match identity_type.as_deref() {
            Some("Root") => Some(Cow::Borrowed("root")),
            Some("AssumedRole") => after(":assumed-role/").or_else(|| {
                self.text_at(&[
                    "userIdentity",
                    "sessionContext",
                    "sessionIssuer",
                    "userName",
                ])
            }),
            Some("IAMUser") => self
                .text_at(&["userIdentity", "userName"])
                .or_else(|| after(":user/")),
            Some("FederatedUser") => after(":federated-user/"),
            Some("Role") => after(":role/"),
            Some("AWSService") => self.text_at(&["userIdentity", "invokedBy"]),
            Some("AWSAccount") => self.text_at(&["userIdentity", "accountId"]),
            Some("IdentityCenterUser") => self
                .text_at(&["userIdentity", "userName"])
                .or_else(|| self.text_at(&["userIdentity", "onBehalfOf", "userId"])),
            _ => None,
        };
        specific
            .or_else(|| self.text_at(&["userIdentity", "userName"]))
            .or_else(|| self.text_at(&["userIdentity", "invokedBy"]))
            .or(arn)
            .or_else(|| self.text_at(&["userIdentity", "principalId"]))
            .or_else(|| self.text_at(&["userIdentity", "accountId"]))
    }

    /// The CloudHSM resource of `kind` this event touched: named in the request, returned in the
    /// response, named by a service event, or found in an ARN.
    fn resource_id(&mut self, kind: ResourceKind) -> Option<Cow<'a, str>> {
        let direct: &[&[&'static str]] = match kind {
            ResourceKind::Cluster => &[
                &["requestParameters", "clusterId"],
                &["responseElements", "cluster", "clusterId"],
                &["responseElements", "hsm", "clusterId"],
                &["responseElements", "backup", "clusterId"],
                &["serviceEventDetails", "clusterId"],
            ],
            ResourceKind::Hsm => &[
                &["requestParameters", "hsmId"],
                &["responseElements", "hsm", "hsmId"],
                &["responseElements", "hsmId"],
                &["serviceEventDetails", "hsmId"],
            ],
            ResourceKind::Backup => &[
                &["requestParameters", "backupId"],
                &["responseElements", "backup", "backupId"],
                &["serviceEventDetails", "backupId"],
                &["requestParameters", "sourceBackupId"],
            ],
        };
        if let Some(id) = direct.iter().find_map(|p| self.text_at(p)) {
            return Some(id);
        }
        let prefix = kind.prefix();
        if let Some(id) = self
            .text_at(&["requestParameters", "resourceId"])
            .filter(|id| id.starts_with(prefix) && id[prefix.len()..].starts_with('-'))
        {
            return Some(id);
        }
        let mut arns: Vec<Cow<'a, str>> = [
            &["requestParameters", "resourceArn"][..],
            &["responseElements", "resourceArn"],
            &["responseElements", "backup", "backupArn"],
        ]
        .iter()
        .filter_map(|p| self.text_at(p))
        .collect();
        if let Some(Ok(resources)) = self.lookup(&["resources"]) {
            let items = serde_json::from_str::<Vec<&RawValue>>(resources.get()).unwrap_or_default();
            for item in items {
                let arn = RawRecord::parse(item.get()).ok().and_then(|r| {
                    let raw = r.get("ARN").or_else(|| r.get("arn"))?;
                    raw_str(raw).ok().flatten()
                });
                arns.extend(arn);
            }
        }
        arns.iter()
            .find_map(|arn| id_from_arn(arn, prefix))
            .map(Cow::Owned)
    }

    /// How this event of another service concerns CloudHSM, found once per row.
    fn relation(&mut self) -> Option<Relation> {
        *self
            .relation
            .get_or_insert_with(|| Relation::of(&self.rec.record, self.rec.event_source.as_deref()))
    }

    /// The CloudHSM resource of `kind` a related event of another service names: the cluster
    /// behind a KMS key store or an audit log group, the backup a RAM share shares.
    fn related_resource_id(&mut self, kind: ResourceKind) -> Option<Cow<'a, str>> {
        let relation = self.relation()?;
        let request = related::request_parameters(&self.rec.record);
        match (relation, kind) {
            // CloudTrail's documented CreateCustomKeyStore names it `clusterId` (the API
            // `CloudHsmClusterId`); the other key store calls carry it in additionalEventData.
            (Relation::KmsCustomKeyStore, ResourceKind::Cluster) => [
                &["requestParameters", "cloudHsmClusterId"][..],
                &["requestParameters", "clusterId"],
                &["additionalEventData", "clusterId"],
            ]
            .iter()
            .find_map(|p| self.text_at(p)),
            (Relation::AuditLogGroup, ResourceKind::Cluster) => {
                let group = related::log_group(&request?)?;
                related::cluster_of_log_group(&group).map(|c| Cow::Owned(c.to_owned()))
            }
            (Relation::RamBackupShare, ResourceKind::Backup) => related::backup_arns(&request?)
                .iter()
                .find_map(|arn| id_from_arn(arn, ResourceKind::Backup.prefix()))
                .map(Cow::Owned),
            _ => None,
        }
    }

    /// Who a backup is shared with: a CloudHSM resource policy's principals or a RAM share's.
    fn shared_with(&mut self) -> Option<Vec<String>> {
        if self.rec.is_cloudhsm() {
            let policy = self.text_at(&["requestParameters", "policy"])?;
            return Some(related::shared_with(SharedWith::Policy(&policy)));
        }
        if self.relation()? != Relation::RamBackupShare {
            return None;
        }
        let principals = self.lookup(&["requestParameters", "principals"])?.ok()?;
        Some(related::shared_with(SharedWith::RamPrincipals(
            principals.get(),
        )))
    }

    fn tag_keys(&mut self) -> Option<Vec<Cow<'a, str>>> {
        if let Some(Ok(keys)) = self.lookup(&["requestParameters", "tagKeyList"]) {
            return string_list(keys);
        }
        if let Some(Ok(tags)) = self.lookup(&["requestParameters", "tagList"]) {
            let tags = serde_json::from_str::<Vec<&RawValue>>(tags.get()).ok()?;
            return tags
                .iter()
                .map(|t| {
                    let tag = RawRecord::parse(t.get()).ok()?;
                    raw_str(tag.get("key")?).ok().flatten()
                })
                .collect();
        }
        None
    }

    fn extra_json(&self) -> Cell<'a> {
        if self.extra.is_empty() {
            return Cell::Null;
        }
        let fields = self.extra.iter().map(|(key, raw)| (key.as_ref(), *raw));
        Cell::Text(Cow::Owned(crate::record::object_text(fields)))
    }

    fn mismatch_list(&self) -> Cell<'a> {
        if self.mismatched.is_empty() {
            return Cell::Null;
        }
        Cell::TextList(
            self.mismatched
                .iter()
                .map(|i| Cow::Borrowed(COLUMNS[*i].name))
                .collect(),
        )
    }
}

/// A JSON array of strings (`None` when it is not one), borrowing the strings without escapes.
fn string_list(raw: &RawValue) -> Option<Vec<Cow<'_, str>>> {
    serde_json::from_str::<Vec<CowStr<'_>>>(raw.get())
        .ok()
        .map(|items| items.into_iter().map(|s| s.0).collect())
}

/// `cluster-abc` from `arn:aws:cloudhsm:us-east-1:111122223333:cluster/cluster-abc`.
fn id_from_arn(arn: &str, prefix: &str) -> Option<String> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let (kind, id) = resource.split_once('/')?;
    (kind == prefix && !id.is_empty()).then(|| id.to_owned())
}

/// One row per (eventTime, eventID) pair, for tests of what comes after flattening.
/// The account field of an ARN (`arn:partition:service:region:account:resource`); `None`
/// for anything else, or an ARN without one.
fn arn_account(arn: &str) -> Option<&str> {
    let mut fields = arn.splitn(6, ':');
    (fields.next() == Some("arn") && fields.clone().count() == 5)
        .then(|| fields.nth(3))
        .flatten()
        .filter(|account| !account.is_empty())
}

#[cfg(test)]
pub(crate) fn batch_of_events(events: &[(&str, Option<&str>)]) -> RecordBatch {
    let mut f = Flattener::new();
    for (time, id) in events {
        let text = match id {
            Some(id) => format!(r#"{{"eventTime":"{time}","eventID":"{id}"}}"#),
            None => format!(r#"{{"eventTime":"{time}"}}"#),
        };
        let prepared = Prepared {
            event_time: time::parse_event_time(time).expect("a test time"),
            event_time_canonical: true,
            event_source: None,
            record: RawRecord::parse(&text).expect("a test record"),
        };
        f.push(&prepared, &Provenance::unverified("t"));
    }
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampMillisecondType;
    use serde_json::Value;

    fn flatten(text: &str) -> RecordBatch {
        let record = RawRecord::parse(text).unwrap();
        let event_source = record.get_str("eventSource").unwrap();
        let raw_time = record.get_str("eventTime").unwrap().unwrap();
        let event_time = time::parse_event_time(&raw_time).unwrap();
        let prepared = Prepared {
            event_time_canonical: time::renders_as(event_time, &raw_time),
            event_time,
            event_source,
            record,
        };
        let mut f = Flattener::new();
        f.push(&prepared, &Provenance::unverified("test.json"));
        f.finish()
    }

    fn text(batch: &RecordBatch, name: &str) -> Option<String> {
        let col = batch.column(schema::index_of(name)).as_string::<i32>();
        col.is_valid(0).then(|| col.value(0).to_owned())
    }

    fn list(batch: &RecordBatch, name: &str) -> Option<Vec<String>> {
        let col = batch.column(schema::index_of(name)).as_list::<i32>();
        col.is_valid(0).then(|| {
            let v = col.value(0);
            let s = v.as_string::<i32>();
            (0..s.len()).map(|i| s.value(i).to_owned()).collect()
        })
    }

    /// A flattener's builders are sized by its previous batch; that is a hint, not a limit:
    /// batches with more rows, longer strings and longer lists than the one before come out as
    /// a new flattener makes them.
    #[test]
    fn builders_sized_by_the_last_batch_hold_any_next_batch() {
        let record = |i: usize, width: usize| {
            format!(
                r#"{{"eventTime":"2024-01-01T00:00:{:02}Z","eventID":"{i}","eventSource":"cloudhsm.amazonaws.com","eventName":"TagResource","userAgent":"{}","requestParameters":{{"resourceId":"cluster-{i}","tagList":[{}]}}}}"#,
                i % 60,
                "a".repeat(width),
                vec![r#"{"key":"k","value":"v"}"#; width % 7].join(","),
            )
        };
        let batch_of = |f: &mut Flattener, texts: &[String]| {
            for text in texts {
                let record = RawRecord::parse(text).unwrap();
                let raw_time = record.get_str("eventTime").unwrap().unwrap();
                let prepared = Prepared {
                    event_time: time::parse_event_time(&raw_time).unwrap(),
                    event_time_canonical: true,
                    event_source: record.get_str("eventSource").unwrap(),
                    record,
                };
                f.push(&prepared, &Provenance::unverified("sized.json"));
            }
            f.finish()
        };
        let small: Vec<String> = (0..3).map(|i| record(i, 2)).collect();
        let large: Vec<String> = (0..50).map(|i| record(i, 40 + i)).collect();
        let mut reused = Flattener::new();
        batch_of(&mut reused, &small);
        let again = batch_of(&mut reused, &large);
        assert_eq!(again, batch_of(&mut Flattener::new(), &large));
        assert_eq!(again.num_rows(), 50);
        assert_eq!(text(&again, "user_agent"), Some("a".repeat(40)));
        assert_eq!(
            batch_of(&mut reused, &small),
            batch_of(&mut Flattener::new(), &small)
        );
    }

    #[test]
    fn the_documented_create_hsm_record() {
        let b = flatten(
            r#"{ "eventVersion": "1.05", "userIdentity": { "type": "AssumedRole", "principalId": "AROAJZVM5NEGZSTCITAMM:ExampleSession", "arn": "arn:aws:sts::111122223333:assumed-role/AdminRole/ExampleSession", "accountId": "111122223333", "accessKeyId": "ASIAIY22AX6VRYNBGJSA", "sessionContext": { "attributes": { "mfaAuthenticated": "false", "creationDate": "2017-07-11T03:48:44Z" }, "sessionIssuer": { "type": "Role", "principalId": "AROAJZVM5NEGZSTCITAMM", "arn": "arn:aws:iam::111122223333:role/AdminRole", "accountId": "111122223333", "userName": "AdminRole" } } }, "eventTime": "2017-07-11T03:50:45Z", "eventSource": "cloudhsm.amazonaws.com", "eventName": "CreateHsm", "awsRegion": "us-west-2", "sourceIPAddress": "205.251.233.179", "userAgent": "aws-internal/3", "requestParameters": { "availabilityZone": "us-west-2b", "clusterId": "cluster-fw7mh6mayb5" }, "responseElements": { "hsm": { "eniId": "eni-65338b5a", "clusterId": "cluster-fw7mh6mayb5", "state": "CREATE_IN_PROGRESS", "eniIp": "10.0.2.7", "hsmId": "hsm-6lz2hfmnzbx", "subnetId": "subnet-02c28c4b", "availabilityZone": "us-west-2b" } }, "requestID": "1dae0370-65ec-11e7-a770-6578d63de907", "eventID": "b73a5617-8508-4c3d-900d-aa8ac9b31d08", "eventType": "AwsApiCall", "recipientAccountId": "111122223333" }"#,
        );
        assert_eq!(
            text(&b, "actor").as_deref(),
            Some("AdminRole/ExampleSession")
        );
        assert_eq!(
            text(&b, "request_cluster_id").as_deref(),
            Some("cluster-fw7mh6mayb5")
        );
        assert_eq!(
            text(&b, "response_hsm_id").as_deref(),
            Some("hsm-6lz2hfmnzbx")
        );
        assert_eq!(text(&b, "response_hsm_eni_ip").as_deref(), Some("10.0.2.7"));
        assert_eq!(
            text(&b, "cluster_id").as_deref(),
            Some("cluster-fw7mh6mayb5")
        );
        assert_eq!(text(&b, "hsm_id").as_deref(), Some("hsm-6lz2hfmnzbx"));
        assert_eq!(text(&b, "backup_id"), None);
        assert_eq!(
            text(&b, "identity_session_issuer_user_name").as_deref(),
            Some("AdminRole")
        );
        assert_eq!(text(&b, "extra"), None);
        let mfa = b
            .column(schema::index_of("identity_session_mfa_authenticated"))
            .as_boolean();
        assert!(!mfa.value(0) && mfa.is_valid(0));
        let created = b
            .column(schema::index_of("identity_session_created"))
            .as_primitive::<TimestampMillisecondType>();
        assert_eq!(created.value(0), 1_499_744_924_000);
        assert_eq!(list(&b, "type_mismatches"), None);
    }

    #[test]
    fn repeated_keys_are_kept_in_extra() {
        let b = flatten(
            r#"{"eventTime":"2024-01-02T03:04:05Z","eventName":"A","userIdentity":{"type":"Root"},"eventName":"B","userIdentity":{"type":"IAMUser","userName":"u"}}"#,
        );
        assert_eq!(text(&b, "event_name").as_deref(), Some("A"));
        assert_eq!(text(&b, "identity_type").as_deref(), Some("Root"));
        let extra: Value = serde_json::from_str(&text(&b, "extra").unwrap()).unwrap();
        assert_eq!(
            extra,
            serde_json::json!({"eventName":"B","userIdentity":{"type":"IAMUser","userName":"u"}})
        );
    }

    #[test]
    fn nested_values_are_read_through_escapes_and_nulls() {
        let b = flatten(
            r#"{"eventTime":"2024-01-02T03:04:05Z","eventSource":"cloudhsm.amazonaws.com","userIdentity":{"type":"IAMUser","userName":"a\u00e9\"b","sessionContext":null},"requestParameters":{"clusterId":"cluster-1","subnetIds":["s-1","s\u002d2"],"neverExpires":"TRUE"},"responseElements":"not an object"}"#,
        );
        assert_eq!(
            text(&b, "identity_user_name").as_deref(),
            Some("a\u{e9}\"b")
        );
        assert_eq!(text(&b, "actor").as_deref(), Some("a\u{e9}\"b"));
        assert_eq!(text(&b, "identity_session_issuer_arn"), None);
        assert_eq!(list(&b, "request_subnet_ids").unwrap(), ["s-1", "s-2"]);
        let never = b
            .column(schema::index_of("request_never_expires"))
            .as_boolean();
        assert!(never.is_valid(0) && never.value(0));
        assert_eq!(text(&b, "response_hsm_id"), None);
        // Every typed response column looked into the string and found no object.
        let response_columns: Vec<&str> = schema::COLUMNS
            .iter()
            .filter(|c| c.group == schema::Group::Response)
            .map(|c| c.name)
            .collect();
        assert!(response_columns.len() > 30);
        assert_eq!(list(&b, "type_mismatches").unwrap(), response_columns);
    }

    #[test]
    fn migration_and_compliance_fields_are_typed() {
        let b = flatten(
            r#"{"eventTime":"2025-03-01T12:00:00Z","eventSource":"cloudhsm.amazonaws.com","eventName":"ModifyCluster","responseElements":{"cluster":{"clusterId":"cluster-1","hsmType":"hsm2m.medium","hsmTypeRollbackExpiration":1741435200,"mode":"FIPS","networkType":"DUALSTACK","backupRetentionPolicy":{"type":"DAYS","value":"7"},"vpcId":"vpc-1","securityGroup":"sg-1","state":"MODIFY_IN_PROGRESS","stateMessage":"migrating"}}}"#,
        );
        for (column, value) in [
            ("response_cluster_hsm_type", "hsm2m.medium"),
            ("response_cluster_mode", "FIPS"),
            ("response_cluster_network_type", "DUALSTACK"),
            ("response_cluster_backup_retention_type", "DAYS"),
            ("response_cluster_backup_retention_value", "7"),
            ("response_cluster_vpc_id", "vpc-1"),
            ("response_cluster_security_group", "sg-1"),
            ("response_cluster_state_message", "migrating"),
        ] {
            assert_eq!(text(&b, column).as_deref(), Some(value), "{column}");
        }
        let deadline = b
            .column(schema::index_of(
                "response_cluster_hsm_type_rollback_expiration",
            ))
            .as_primitive::<TimestampMillisecondType>();
        assert_eq!(deadline.value(0), 1_741_435_200_000);
        assert_eq!(list(&b, "type_mismatches"), None);

        let restore = |source: &str| {
            flatten(&format!(
                r#"{{"eventTime":"2025-03-01T12:00:00Z","eventSource":"cloudhsm.amazonaws.com","eventName":"CreateCluster","requestParameters":{{"sourceBackupId":"{source}"}}}}"#
            ))
        };
        let b = restore("arn:aws:cloudhsm:eu-west-1:444455556666:backup/backup-1");
        assert_eq!(
            text(&b, "request_source_backup_account").as_deref(),
            Some("444455556666")
        );
        for source in [
            "backup-1",
            "arn:aws:cloudhsm:eu-west-1::backup/backup-1",
            "arn:x",
        ] {
            assert_eq!(
                text(&restore(source), "request_source_backup_account"),
                None
            );
        }

        let pem = include_str!("../fixtures/certs/example-root-ca.pem");
        let initialize = serde_json::json!({
            "eventTime": "2025-03-01T12:00:00Z",
            "eventSource": "cloudhsm.amazonaws.com",
            "eventName": "InitializeCluster",
            "requestParameters": {"clusterId": "cluster-1", "signedCert": "HIDDEN_DUE_TO_SECURITY_REASONS", "trustAnchor": pem},
        });
        let b = flatten(&initialize.to_string());
        assert_eq!(
            text(&b, "request_trust_anchor_sha256").as_deref(),
            Some("48c57edc9eff8a1bd966052de221215303ff8e68ef377e77de4426981da3df58")
        );
        assert_eq!(
            text(&b, "request_trust_anchor_subject").as_deref(),
            Some("CN=Example Root CA,O=Example Corp,C=US")
        );
        assert_eq!(text(&b, "request_signed_cert_sha256"), None);
        assert_eq!(list(&b, "type_mismatches"), None);

        let b = flatten(
            r#"{"eventTime":"2025-03-01T12:00:00Z","eventSource":"cloudhsm.amazonaws.com","eventName":"CopyBackupToRegion","responseElements":{"destinationBackup":{"createTimestamp":"Mar 1, 2025, 12:00:00 PM","sourceRegion":"eu-west-1","sourceBackup":"backup-1","sourceCluster":"cluster-1"}}}"#,
        );
        assert_eq!(
            text(&b, "response_backup_source_region").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            text(&b, "response_backup_source_backup").as_deref(),
            Some("backup-1")
        );
        assert_eq!(
            text(&b, "response_backup_source_cluster").as_deref(),
            Some("cluster-1")
        );

        let b = flatten(
            r#"{"eventTime":"2025-03-01T12:00:00Z","eventSource":"cloudhsm.amazonaws.com","eventName":"DeleteBackup","responseElements":{"backup":{"backupId":"backup-2","hsmType":"hsm1.medium","mode":"NON_FIPS","neverExpires":false,"deleteTimestamp":"Mar 8, 2025 12:00:00 PM","copyTimestamp":"2025-02-01T00:00:00Z"},"hsm":{"hsmType":"hsm1.medium","eniIpV6":"2001:db8::1"}}}"#,
        );
        assert_eq!(
            text(&b, "response_backup_hsm_type").as_deref(),
            Some("hsm1.medium")
        );
        assert_eq!(
            text(&b, "response_backup_mode").as_deref(),
            Some("NON_FIPS")
        );
        assert_eq!(
            text(&b, "response_hsm_eni_ipv6").as_deref(),
            Some("2001:db8::1")
        );
        let never = b
            .column(schema::index_of("response_backup_never_expires"))
            .as_boolean();
        assert!(never.is_valid(0) && !never.value(0));
        let times = |column| {
            b.column(schema::index_of(column))
                .as_primitive::<TimestampMillisecondType>()
                .value(0)
        };
        assert_eq!(
            times("response_backup_delete_timestamp"),
            time::parse_event_time("2025-03-08T12:00:00Z").unwrap()
        );
        assert_eq!(
            times("response_backup_copy_timestamp"),
            time::parse_event_time("2025-02-01T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn odd_types_are_nulled_counted_and_kept() {
        let b = flatten(
            r#"{"eventTime":"2024-01-02T03:04:05.678Z","eventSource":"cloudhsm.amazonaws.com","eventName":{"x":1},"readOnly":"true","errorCode":null,"userIdentity":{"type":"Root","sessionContext":{"attributes":{"mfaAuthenticated":7}}},"requestParameters":{"subnetIds":["subnet-1",2],"tagKeyList":["a","b"],"resourceId":"backup-abc"},"novel":[1]}"#,
        );
        assert_eq!(text(&b, "event_name"), None);
        assert_eq!(text(&b, "actor").as_deref(), Some("root"));
        assert_eq!(
            list(&b, "type_mismatches").unwrap(),
            [
                "event_name",
                "identity_session_mfa_authenticated",
                "request_subnet_ids"
            ]
        );
        let extra: Value = serde_json::from_str(&text(&b, "extra").unwrap()).unwrap();
        assert_eq!(
            extra,
            serde_json::json!({"eventName":{"x":1},"readOnly":"true","errorCode":null,"novel":[1]})
        );
        assert_eq!(list(&b, "request_tag_keys").unwrap(), ["a", "b"]);
        assert_eq!(text(&b, "backup_id").as_deref(), Some("backup-abc"));
        let ro = b.column(schema::index_of("read_only")).as_boolean();
        assert!(ro.value(0));
    }

    #[test]
    fn cloudhsm_columns_stay_empty_for_other_services() {
        let b = flatten(
            r#"{"eventTime":"2024-01-02T03:04:05Z","eventSource":"kms.amazonaws.com","requestParameters":{"clusterId":"cluster-x"},"userIdentity":{"type":"AWSService","invokedBy":"cloudhsm.amazonaws.com"}}"#,
        );
        assert_eq!(text(&b, "request_cluster_id"), None);
        assert_eq!(text(&b, "cluster_id"), None);
        assert_eq!(text(&b, "actor").as_deref(), Some("cloudhsm.amazonaws.com"));
    }

    #[test]
    fn related_events_name_their_cloudhsm_resources_and_why_they_are_kept() {
        let b = flatten(
            r#"{"eventTime":"2024-03-03T11:00:00Z","eventSource":"kms.amazonaws.com","eventName":"CreateCustomKeyStore","requestParameters":{"customKeyStoreName":"s","clusterId":"cluster-a"},"responseElements":{"customKeyStoreId":"cks-1"}}"#,
        );
        assert_eq!(text(&b, "cluster_id").as_deref(), Some("cluster-a"));
        assert_eq!(
            text(&b, "cloudhsm_relation").as_deref(),
            Some("kms-custom-key-store")
        );
        assert_eq!(
            text(&b, "request_custom_key_store_id").as_deref(),
            Some("cks-1")
        );
        let b = flatten(
            r#"{"eventTime":"2024-03-03T11:00:00Z","eventSource":"kms.amazonaws.com","eventName":"DisconnectCustomKeyStore","requestParameters":{"customKeyStoreId":"cks-1"},"additionalEventData":{"clusterId":"cluster-a"}}"#,
        );
        assert_eq!(text(&b, "cluster_id").as_deref(), Some("cluster-a"));
        let b = flatten(
            r#"{"eventTime":"2024-03-03T11:00:00Z","eventSource":"ram.amazonaws.com","eventName":"CreateResourceShare","requestParameters":{"name":"n","resourceArns":["arn:aws:cloudhsm:us-east-1:1:backup/backup-b"],"principals":["arn:aws:iam::777788889999:root"]}}"#,
        );
        assert_eq!(text(&b, "backup_id").as_deref(), Some("backup-b"));
        assert_eq!(
            list(&b, "request_shared_with"),
            Some(vec!["777788889999".to_owned()])
        );
        // RAM's `name` is the share's, not a trail's.
        assert_eq!(text(&b, "request_trail_name"), None);
        let b = flatten(
            r#"{"eventTime":"2024-03-03T11:00:00Z","eventSource":"logs.amazonaws.com","eventName":"DeleteLogGroup","requestParameters":{"logGroupName":"/aws/cloudhsm/cluster-a"}}"#,
        );
        assert_eq!(text(&b, "cluster_id").as_deref(), Some("cluster-a"));
        assert_eq!(
            text(&b, "request_log_group_name").as_deref(),
            Some("/aws/cloudhsm/cluster-a")
        );
        let b = flatten(
            r#"{"eventTime":"2024-03-03T11:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","requestParameters":{"trailName":"t"}}"#,
        );
        assert_eq!(text(&b, "request_trail_name").as_deref(), Some("t"));
        assert_eq!(
            text(&b, "cloudhsm_relation").as_deref(),
            Some("trail-change")
        );
        let b = flatten(
            r#"{"eventTime":"2024-03-03T11:00:00Z","eventSource":"cloudhsm.amazonaws.com","eventName":"PutResourcePolicy","requestParameters":{"resourceArn":"arn:aws:cloudhsm:us-east-1:1:backup/backup-b","policy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"444455556666\"}}]}"}}"#,
        );
        assert_eq!(
            list(&b, "request_shared_with"),
            Some(vec!["444455556666".to_owned()])
        );
        assert_eq!(text(&b, "cloudhsm_relation"), None);
    }

    #[test]
    fn ids_from_arns() {
        assert_eq!(
            id_from_arn(
                "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abc",
                "backup"
            )
            .as_deref(),
            Some("backup-abc")
        );
        assert_eq!(
            id_from_arn("arn:aws:cloudhsm:us-east-1:1:cluster/c", "backup"),
            None
        );
        assert_eq!(id_from_arn("nonsense", "backup"), None);
    }
}
