//! The tables of one output: CloudTrail's events at its top (in the layout's partition folders)
//! and the HSMs' audit entries below `hsm_audit/` (always by `event_date`). Writing, merging,
//! de-duplication and spills work the same for both; what differs is declared here.

use std::sync::LazyLock;

use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};

use crate::audit;
use crate::schema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Table {
    /// CloudTrail events (the `events` table).
    Events,
    /// CloudHSM audit log entries (the `hsm_audit` table).
    HsmAudit,
}

impl Table {
    pub const ALL: [Table; 2] = [Table::Events, Table::HsmAudit];

    /// What orders two rows of equal time and ID (two copies of one event or entry), after
    /// [`Table::context_columns`]: the file each came from, so that which copy is kept does not
    /// depend on which worker was first.
    pub const TIE_COLUMN: &'static str = "source_file";

    /// Of two copies of one row, the one with these columns set (the first one first) is
    /// kept: an audit entry whose HSM is known over the same entry from a bare message, one
    /// whose cluster is known (from its log group, or its path) over one without, and one whose
    /// delivery names the log group (a subscription's, with the account) over one whose path
    /// named the cluster. At most 8.
    pub fn context_columns(self) -> &'static [&'static str] {
        match self {
            Table::Events => &[],
            Table::HsmAudit => &["hsm_id", "cluster_id", "log_group"],
        }
    }

    /// The name reports and table definitions give it.
    pub fn name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::HsmAudit => "hsm_audit",
        }
    }

    /// The table a partition folder (relative to the output) belongs to.
    pub fn of_partition(partition: &str) -> Table {
        match partition.split('/').next() {
            Some(audit::TABLE_FOLDER) => Table::HsmAudit,
            _ => Table::Events,
        }
    }

    /// The table a batch of rows belongs to, from its columns.
    pub fn of_schema(schema: &Schema) -> Table {
        if schema.field_with_name(Table::HsmAudit.id_column()).is_ok() {
            Table::HsmAudit
        } else {
            Table::Events
        }
    }

    pub fn arrow_schema(self) -> SchemaRef {
        static AUDIT: LazyLock<SchemaRef> = LazyLock::new(|| schema::schema_of(Table::HsmAudit));
        match self {
            Table::Events => schema::arrow_schema(),
            Table::HsmAudit => AUDIT.clone(),
        }
    }

    /// The column rows are sorted by, and files declare themselves sorted by.
    pub fn time_column(self) -> &'static str {
        "event_time"
    }

    pub fn time_type(self) -> DataType {
        let unit = match self {
            Table::Events => TimeUnit::Millisecond,
            Table::HsmAudit => TimeUnit::Microsecond,
        };
        DataType::Timestamp(unit, Some("UTC".into()))
    }

    /// The column whose value makes a row unique: a second row with the same value is not
    /// written.
    pub fn id_column(self) -> &'static str {
        match self {
            Table::Events => "event_id",
            Table::HsmAudit => "entry_id",
        }
    }

    /// Columns whose values are unique a row, so that a dictionary only costs time and memory.
    pub fn unique_columns(self) -> Vec<&'static str> {
        match self {
            Table::Events => schema::COLUMNS
                .iter()
                .filter(|c| !c.values_repeat())
                .map(|c| c.name)
                .collect(),
            Table::HsmAudit => audit::columns::COLUMNS
                .iter()
                .filter(|c| !c.values_repeat())
                .map(|c| c.name)
                .collect(),
        }
    }

    /// Where the table's folders are, relative to the output: its top, or `hsm_audit/`.
    pub fn folder(self) -> Option<&'static str> {
        match self {
            Table::Events => None,
            Table::HsmAudit => Some(audit::TABLE_FOLDER),
        }
    }
}
