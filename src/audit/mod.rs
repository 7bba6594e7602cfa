//! CloudHSM audit logs: the entries the HSMs write to CloudWatch Logs (`/aws/cloudhsm/<cluster>`,
//! one stream per HSM), parsed into the `hsm_audit` table beside the CloudTrail events.
//!
//! [`entry`] parses one entry's text, [`columns`] declares the table once, [`rows`] builds its
//! Arrow columns. Finding entries in their deliveries (subscriptions, exports, CLI output) is
//! [`crate::input::container`]'s, like every other input format.

pub mod columns;
pub mod entry;
pub mod rows;

/// The folder of the `hsm_audit` table in an output. Not `_`-prefixed: Athena reads no table
/// from such a location. The CloudTrail table's definitions read only its own partition
/// folders, so this folder beside them is never taken for trail data.
pub const TABLE_FOLDER: &str = "hsm_audit";
