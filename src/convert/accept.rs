//! The fate of one record: kept (with its partition), left out by the filter, or rejected.

use super::options::Options;
use super::prefilter::FilePrefilter;
use crate::audit;
use crate::audit::entry::Entry;
use crate::audit::rows::{Delivery, Origin};
use crate::flatten::Prepared;
use crate::output::partition::PartitionField;
use crate::record::{MAX_NESTING, RawRecord, nesting_exceeds, raw_str};
use crate::time;

pub(super) enum Verdict<'a> {
    Keep(Prepared<'a>, String),
    /// Kept already (an audit entry, whose row is built where it is parsed).
    Kept,
    Filter,
    Reject(std::borrow::Cow<'a, str>, String),
}

/// Decides a record's fate: kept (with its partition), filtered out, or rejected.
pub(super) fn accept<'a>(
    text: &'a str,
    unicode_escape: bool,
    opts: &Options,
    prefilter: &FilePrefilter,
) -> Verdict<'a> {
    if text.starts_with('{') && !prefilter.may_admit(text, unicode_escape) {
        return Verdict::Filter;
    }
    let record = match RawRecord::parse(text) {
        Ok(r) => r,
        Err(e) => {
            return Verdict::Reject(text.into(), format!("not a JSON object: {e}"));
        }
    };
    let event_source = record.get_str("eventSource").unwrap_or(None);
    let filter = &opts.filter;
    if !filter.sources.admits(&record, event_source.as_deref()) {
        return Verdict::Filter;
    }
    let raw_time = match record.get_str("eventTime") {
        Ok(Some(t)) => t,
        Ok(None) => return Verdict::Reject(text.into(), "no eventTime".into()),
        Err(_) => return Verdict::Reject(text.into(), "eventTime is not a string".into()),
    };
    let Some(event_time) = time::parse_event_time(&raw_time) else {
        return Verdict::Reject(text.into(), format!("eventTime '{raw_time}' is not a time"));
    };
    if !filter.admits_time(event_time) {
        return Verdict::Filter;
    }
    let region = record.get_str("awsRegion").unwrap_or(None);
    if !filter.admits_region(region.as_deref()) {
        return Verdict::Filter;
    }
    let account = account_of(&record);
    if !filter.admits_account(account.as_deref()) {
        return Verdict::Filter;
    }
    if nesting_exceeds(text, MAX_NESTING) {
        return Verdict::Reject(
            text.into(),
            format!("JSON nested deeper than {MAX_NESTING} levels"),
        );
    }
    let partition = opts.write.layout.path(
        account.as_deref(),
        region.as_deref(),
        &time::date_of(event_time),
    );
    let prepared = Prepared {
        event_time_canonical: time::renders_as(event_time, &raw_time),
        event_time,
        event_source,
        record,
    };
    Verdict::Keep(prepared, partition)
}

/// An audit entry ready for its row: parsed, placed, and given its identity.
pub(super) struct AuditKeep<'a> {
    pub(super) entry: Entry<'a>,
    pub(super) origin: Origin,
    pub(super) entry_id: String,
    pub(super) partition: String,
}

pub(super) enum AuditVerdict<'a> {
    Keep(AuditKeep<'a>),
    Filter,
    Reject(String),
}

/// Decides an HSM audit entry's fate. Audit entries are kept whatever `--source` says (they
/// are CloudHSM's by definition); `--since`/`--until` apply to their time, `--account` when the
/// delivery names the account, `--region` never (nothing in the delivery says it).
pub(super) fn accept_audit<'a>(
    message: &'a str,
    delivery: &Delivery<'_>,
    file: &str,
    opts: &Options,
) -> AuditVerdict<'a> {
    if opts.write.layout.fields().is_empty() {
        return AuditVerdict::Reject(
            "an HSM audit entry cannot go into an output with --partition-by none: engines read \
             that output's top folder, audit table included, as the CloudTrail table; convert audit \
             logs into a partitioned output"
                .into(),
        );
    }
    let entry = match Entry::parse(message) {
        Ok(e) => e,
        Err(e) => return AuditVerdict::Reject(e.to_string()),
    };
    let ms = entry.time_us.div_euclid(1000);
    let date = time::date_of(ms);
    // An HSM with a wild clock, or a hostile usecs, must not make a partition no query reads.
    if !time::in_engine_years(ms) {
        return AuditVerdict::Reject(format!(
            "the entry's time ({} µs since 1970) is not in the years 0000 to 9999",
            entry.time_us
        ));
    }
    if !opts.filter.admits_time(ms)
        || delivery
            .account
            .as_deref()
            .is_some_and(|a| !opts.filter.admits_account(Some(a)))
    {
        return AuditVerdict::Filter;
    }
    let origin = Origin::of(delivery, file);
    let entry_id = audit::rows::entry_id(message);
    let partition = format!(
        "{}/{}={date}",
        audit::TABLE_FOLDER,
        PartitionField::Date.column(),
    );
    AuditVerdict::Keep(AuditKeep {
        entry,
        origin,
        entry_id,
        partition,
    })
}

/// The account an event belongs to: the recipient account, or for the oldest records (before
/// eventVersion 1.02 added recipientAccountId) the caller's account.
pub(super) fn account_of(record: &RawRecord<'_>) -> Option<String> {
    if let Ok(Some(a)) = record.get_str("recipientAccountId") {
        return Some(a.into_owned());
    }
    let identity = RawRecord::parse(record.get("userIdentity")?.get()).ok()?;
    raw_str(identity.get("accountId")?)
        .ok()?
        .map(|a| a.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_fall_back_to_the_caller() {
        let r = RawRecord::parse(r#"{"userIdentity":{"accountId":"123"}}"#).unwrap();
        assert_eq!(account_of(&r).as_deref(), Some("123"));
        let r = RawRecord::parse(r#"{"recipientAccountId":"9","userIdentity":{"accountId":"1"}}"#)
            .unwrap();
        assert_eq!(account_of(&r).as_deref(), Some("9"));
        assert_eq!(account_of(&RawRecord::parse("{}").unwrap()), None);
    }
}
