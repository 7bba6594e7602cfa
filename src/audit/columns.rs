//! The `hsm_audit` table: every column declared once, with its type, where its value comes from
//! and a one-line description. The row builder, the Parquet writer, `hsmtrail schema --table
//! hsm_audit`, the table definitions and the README's table all derive from [`COLUMNS`].

use std::sync::Arc;

use arrow::datatypes::{DataType, TimeUnit};

use crate::schema::list_item_field;

/// The logical type of an audit column; each maps to exactly one Arrow type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    /// A signed 64-bit integer (engines read no unsigned types; values beyond it are null,
    /// with a note, and stay in `message`).
    Integer,
    Bool,
    /// Microseconds since the epoch, UTC: the HSM's own clock resolution.
    Micros,
    /// Milliseconds since the epoch, UTC: CloudWatch Logs' resolution.
    Millis,
    TextList,
    /// JSON text.
    Json,
}

impl Kind {
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Text | Kind::Json => DataType::Utf8,
            Kind::Integer => DataType::Int64,
            Kind::Bool => DataType::Boolean,
            Kind::Micros => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::Millis => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            Kind::TextList => DataType::List(Arc::new(list_item_field())),
        }
    }

    pub fn doc_name(self) -> &'static str {
        match self {
            Kind::Text => "string",
            Kind::Integer => "bigint",
            Kind::Bool => "boolean",
            Kind::Micros => "timestamp(us, UTC)",
            Kind::Millis => "timestamp(ms, UTC)",
            Kind::TextList => "list<string>",
            Kind::Json => "string (JSON)",
        }
    }

    pub fn hive_type(self) -> &'static str {
        match self {
            Kind::Text | Kind::Json => "string",
            Kind::Integer => "bigint",
            Kind::Bool => "boolean",
            Kind::Micros | Kind::Millis => "timestamp",
            Kind::TextList => "array<string>",
        }
    }
}

/// What the delivery around an entry says about it (its CloudWatch Logs event, the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    ClusterId,
    HsmId,
    Account,
    LogGroup,
    LogStream,
    CloudwatchTime,
    IngestionTime,
    CloudwatchEventId,
    SourceFile,
    EntryId,
}

/// Where a column's value comes from. Keys are compared as [`super::entry::key_name`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The entry's time.
    Time,
    Context(Context),
    /// The value as written.
    Written(&'static [&'static str]),
    /// A hex (`0x..`) or decimal number.
    Number(&'static [&'static str]),
    /// The name of a `NAME (code)` value.
    Name(&'static [&'static str]),
    /// The code of a `NAME (code)` value.
    Code(&'static [&'static str]),
    ResponseCode,
    ResponseText,
    Success,
    /// A JSON list of strings (certificate-storage `attributes`).
    List(&'static [&'static str]),
    Format,
    /// Every field of the entry as a JSON object.
    Fields,
    Notes,
    Message,
}

/// The keys of the `Response` field.
pub const RESPONSE: &[&str] = &["response"];

#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub from: Source,
    pub group: &'static str,
    pub description: &'static str,
}

impl Column {
    /// Whether values repeat across entries, so that Parquet's dictionary encoding pays: not
    /// for the entry's own text and identity.
    pub fn values_repeat(&self) -> bool {
        !matches!(
            self.from,
            Source::Message
                | Source::Fields
                | Source::Context(Context::EntryId | Context::CloudwatchEventId)
        )
    }
}

const fn col(
    name: &'static str,
    kind: Kind,
    from: Source,
    group: &'static str,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        from,
        group,
        description,
    }
}

const ENTRY: &str = "Entry";
const USER: &str = "Users";
const KEY: &str = "Keys";
const OTHER: &str = "Further fields (UNCONFIRMED: seen in AWS's sample parser, not in the guide)";
const CLOUDWATCH: &str = "CloudWatch Logs";
const PROVENANCE: &str = "Provenance";

use Kind::*;
use Source::*;

/// Every column, in file order. (A table of declarations: neighbouring entries share their
/// shape by design.)
pub static COLUMNS: &[Column] = &[
    col(
        "event_time",
        Micros,
        Time,
        ENTRY,
        "When the HSM wrote the entry: `usecs` of its `Time` line (else the printed time), UTC, microseconds",
    ),
    col(
        "cluster_id",
        Text,
        Source::Context(Context::ClusterId),
        ENTRY,
        "Cluster: from the log group `/aws/cloudhsm/<cluster-id>`, else a `cluster-...` folder or file name of the input",
    ),
    col(
        "hsm_id",
        Text,
        Source::Context(Context::HsmId),
        ENTRY,
        "HSM: the log stream's name (`hsm-...`), else an `hsm-...` folder or file name of the input; null when unknown",
    ),
    col(
        "sequence_number",
        Integer,
        Number(&["sequenceno"]),
        ENTRY,
        "`Sequence No`: 0 at the stream's start, +1 an entry; a gap means lost or deleted entries",
    ),
    col(
        "reboot_counter",
        Integer,
        Number(&["rebootcounter"]),
        ENTRY,
        "`Reboot counter`: +1 at each hardware reboot",
    ),
    col(
        "opcode",
        Text,
        Name(&["opcode"]),
        ENTRY,
        "The command (`CN_LOGIN`, `CN_CREATE_USER`, ...; `op_code` of certificate-storage entries)",
    ),
    col(
        "opcode_code",
        Integer,
        Code(&["opcode"]),
        ENTRY,
        "The command's code (`0xd` is 13), when the entry gives it",
    ),
    col(
        "command_type",
        Text,
        Name(&["commandtypehex", "commandtype"]),
        ENTRY,
        "`Command Type(hex)`: `CN_MGMT_CMD`, `CN_CERT_AUTH_CMD`",
    ),
    col(
        "command_type_code",
        Integer,
        Code(&["commandtypehex", "commandtype"]),
        ENTRY,
        "The command type's code",
    ),
    col(
        "session_handle",
        Integer,
        Number(&["sessionhandle"]),
        ENTRY,
        "`Session Handle` (it changes within one login: it cannot tie actions to a login)",
    ),
    col(
        "success",
        Bool,
        Success,
        ENTRY,
        "Whether the command succeeded: response code 0 (`HSM Return: SUCCESS`), or `OK` for certificate storage",
    ),
    col(
        "response_code",
        Integer,
        ResponseCode,
        ENTRY,
        "The response's code (163 `RET_USER_LOGIN_FAILURE`, ...)",
    ),
    col(
        "response_text",
        Text,
        ResponseText,
        ENTRY,
        "The response's text without its code (`SUCCESS`, `RET_USER_LOGIN_FAILURE`, `MaxObjectsReached`, ...)",
    ),
    col(
        "log_type",
        Text,
        Name(&["logtype"]),
        ENTRY,
        "`Log type`: `MINIMAL_LOG_ENTRY`, `MGMT_KEY_DETAILS_LOG`, `MGMT_USER_DETAILS_LOG`, `UNKNOWN_LOG_TYPE`, ...",
    ),
    col(
        "log_type_code",
        Integer,
        Code(&["logtype"]),
        ENTRY,
        "The log type's number, when the entry gives it",
    ),
    col(
        "user_name",
        Text,
        Written(&["username"]),
        USER,
        "`User Name`: who logged in or out, or the user acted on (the actor when a target user is given)",
    ),
    col(
        "user_type",
        Text,
        Name(&["usertype"]),
        USER,
        "`User Type`: `CN_CRYPTO_USER`, `CN_CRYPTO_OFFICER`, `CN_APPLIANCE_USER`, `CN_CRYPTO_PRE_OFFICER`",
    ),
    col(
        "user_type_code",
        Integer,
        Code(&["usertype"]),
        USER,
        "The user type's number",
    ),
    col(
        "priv_secret_key_handle",
        Integer,
        Number(&["privsecretkeyhandle"]),
        KEY,
        "`Priv/Secret Key Handle` (0 = none; a destroy puts the deleted handle here)",
    ),
    col(
        "public_key_handle",
        Integer,
        Number(&["publickeyhandle"]),
        KEY,
        "`Public Key Handle` (0 = none)",
    ),
    col(
        "object_handle",
        Integer,
        Number(&["objecthandle"]),
        KEY,
        "`object_handle` of a certificate-storage entry",
    ),
    col(
        "attributes",
        TextList,
        List(&["attributes"]),
        KEY,
        "`attributes` of a certificate-storage entry",
    ),
    col("user_id", Text, Written(&["userid"]), OTHER, "`User id`"),
    col(
        "target_user_name",
        Text,
        Written(&["targetusername"]),
        OTHER,
        "`Target User Name`: the user acted on (then `user_name` is the actor)",
    ),
    col(
        "target_user_type",
        Text,
        Name(&["targetusertype"]),
        OTHER,
        "`Target User Type`",
    ),
    col(
        "target_user_id",
        Text,
        Written(&["targetuserid"]),
        OTHER,
        "`Target User id`",
    ),
    col(
        "key_handle",
        Integer,
        Number(&["keyhandle"]),
        OTHER,
        "`Key Handle`",
    ),
    col(
        "mechanism",
        Text,
        Written(&["mechanism"]),
        OTHER,
        "`Mechanism`",
    ),
    col(
        "mfa_enabled",
        Text,
        Written(&["mfaenabled"]),
        OTHER,
        "`Mfa enabled`, as written",
    ),
    col(
        "operation",
        Text,
        Written(&["operation"]),
        OTHER,
        "`Operation` (quorum)",
    ),
    col(
        "number_of_users",
        Integer,
        Number(&["numberofusers"]),
        OTHER,
        "`Number of Users` (quorum)",
    ),
    col(
        "user_ids",
        Text,
        Written(&["userids"]),
        OTHER,
        "`UserIDs` (quorum), as written",
    ),
    col(
        "version_number",
        Text,
        Written(&["versionno"]),
        OTHER,
        "`Version No`, as written",
    ),
    col(
        "local_time",
        Text,
        Written(&["localtime"]),
        OTHER,
        "`local time` of a `TIME_INFO_LOG` entry, as written",
    ),
    col(
        "host_time",
        Text,
        Written(&["hosttime"]),
        OTHER,
        "`host time` of a `TIME_INFO_LOG` entry, as written",
    ),
    col(
        "propagation_delay",
        Text,
        Written(&["propagationdelay"]),
        OTHER,
        "`propagation delay` of a `TIME_INFO_LOG` entry, as written",
    ),
    col(
        "account_id",
        Text,
        Source::Context(Context::Account),
        CLOUDWATCH,
        "The account that owns the log group (`owner` of a subscription delivery); null when the input does not say",
    ),
    col(
        "log_group",
        Text,
        Source::Context(Context::LogGroup),
        CLOUDWATCH,
        "The CloudWatch Logs group, when the input names it",
    ),
    col(
        "log_stream",
        Text,
        Source::Context(Context::LogStream),
        CLOUDWATCH,
        "The log stream (one per HSM, and one named after the cluster for certificate storage), when known",
    ),
    col(
        "cloudwatch_time",
        Millis,
        Source::Context(Context::CloudwatchTime),
        CLOUDWATCH,
        "The CloudWatch Logs event's `timestamp` (an export's line time), ms",
    ),
    col(
        "ingestion_time",
        Millis,
        Source::Context(Context::IngestionTime),
        CLOUDWATCH,
        "When CloudWatch Logs received the event (`ingestionTime`), when the input gives it",
    ),
    col(
        "cloudwatch_event_id",
        Text,
        Source::Context(Context::CloudwatchEventId),
        CLOUDWATCH,
        "The CloudWatch Logs event ID (`id`/`eventId`), when the input gives it",
    ),
    col(
        "entry_format",
        Text,
        Format,
        PROVENANCE,
        "`hsm` (a `Time:` entry) or `certificate-storage` (a JSON entry)",
    ),
    col(
        "fields",
        Json,
        Fields,
        PROVENANCE,
        "Every `key: value` of the entry as a JSON object, unknown keys included",
    ),
    col(
        "parse_notes",
        TextList,
        Notes,
        PROVENANCE,
        "What could not be read (a value that is not a number, a line without a key); the entry is kept",
    ),
    col(
        "message",
        Text,
        Message,
        PROVENANCE,
        "The entry exactly as logged: nothing is lost",
    ),
    col(
        "source_file",
        Text,
        Source::Context(Context::SourceFile),
        PROVENANCE,
        "The input file the entry was read from",
    ),
    col(
        "entry_id",
        Text,
        Source::Context(Context::EntryId),
        PROVENANCE,
        "What makes the entry unique: the SHA-256 of its text (see the README); a second copy is not written",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_keys_read_once() {
        let mut names = HashSet::new();
        let mut numbers = HashSet::new();
        for c in COLUMNS {
            assert!(names.insert(c.name), "duplicate column {}", c.name);
            if let Number(keys) | Written(keys) = c.from {
                for k in keys {
                    assert!(numbers.insert(*k), "{k} read by two columns");
                    assert_eq!(*k, super::super::entry::key_name(k));
                }
            }
        }
        assert!(
            !crate::schema::COLUMNS
                .iter()
                .any(|c| c.name == "event_date")
        );
    }
}
