//! Events of other services that act on CloudHSM resources, which the default filter keeps
//! beside CloudHSM's own: a KMS key store backed by a cluster, a RAM share of a backup, a change
//! to an HSM audit log group, a change to a trail (whichever trail it is: the one recording
//! CloudHSM cannot be told from the event, and stopping it is the tampering that matters).
//!
//! Declared once: the filter keeps what [`Relation::of`] names, the byte pre-filter searches
//! for [`NEEDLES`], and the `cloudhsm_relation` column says which relation kept an event.

use std::borrow::Cow;

use crate::record::{RawRecord, raw_str};

/// Why an event of another service concerns CloudHSM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// A KMS custom key store backed by a CloudHSM cluster.
    KmsCustomKeyStore,
    /// An AWS RAM share of a CloudHSM backup.
    RamBackupShare,
    /// A CloudWatch Logs change to an HSM audit log group `/aws/cloudhsm/...`.
    AuditLogGroup,
    /// A change to a CloudTrail trail: stopped, deleted, or what it records changed.
    TrailChange,
}

pub const KMS_SOURCE: &str = "kms.amazonaws.com";
pub const RAM_SOURCE: &str = "ram.amazonaws.com";
pub const LOGS_SOURCE: &str = "logs.amazonaws.com";
pub const CLOUDTRAIL_SOURCE: &str = "cloudtrail.amazonaws.com";

/// KMS calls on custom key stores. Only CreateCustomKeyStore says which kind of store it is;
/// the others name the store by ID, so they are kept unless they carry an external key
/// store's settings (an `xks...` parameter).
const KEY_STORE_EVENTS: &[&str] = &[
    "CreateCustomKeyStore",
    "UpdateCustomKeyStore",
    "ConnectCustomKeyStore",
    "DisconnectCustomKeyStore",
    "DeleteCustomKeyStore",
];

/// RAM calls that name the resources shared.
const SHARE_EVENTS: &[&str] = &[
    "CreateResourceShare",
    "AssociateResourceShare",
    "DisassociateResourceShare",
];

/// CloudWatch Logs calls that delete audit entries, shorten how long they are kept, change
/// where they are streamed or how they are encrypted.
const LOG_GROUP_EVENTS: &[&str] = &[
    "DeleteLogGroup",
    "DeleteLogStream",
    "PutRetentionPolicy",
    "DeleteRetentionPolicy",
    "PutSubscriptionFilter",
    "DeleteSubscriptionFilter",
    "AssociateKmsKey",
    "DisassociateKmsKey",
    "PutDataProtectionPolicy",
    "DeleteDataProtectionPolicy",
];

/// CloudTrail calls that stop, delete or narrow a trail, and StartLogging, which shows when a
/// stopped trail came back.
const TRAIL_EVENTS: &[&str] = &[
    "StopLogging",
    "StartLogging",
    "DeleteTrail",
    "UpdateTrail",
    "PutEventSelectors",
    "PutInsightSelectors",
];

/// The HSM audit log groups: `/aws/cloudhsm/<cluster-id>`.
pub const AUDIT_LOG_GROUP_PREFIX: &str = "/aws/cloudhsm/";

/// Byte strings one of which every CloudHSM or related event holds: `cloudhsm` (the event
/// source, a backup ARN, an audit log group), the KMS key store event names, and CloudTrail's
/// event source. The pre-filter skips records holding none of them unparsed.
pub const NEEDLES: &[&str] = &["cloudhsm", "CustomKeyStore", CLOUDTRAIL_SOURCE];

impl Relation {
    /// The value of the `cloudhsm_relation` column.
    pub fn name(self) -> &'static str {
        match self {
            Relation::KmsCustomKeyStore => "kms-custom-key-store",
            Relation::RamBackupShare => "ram-backup-share",
            Relation::AuditLogGroup => "audit-log-group",
            Relation::TrailChange => "trail-change",
        }
    }

    /// How `record`, an event of `source`, concerns CloudHSM; `None` when it does not (and
    /// for CloudHSM's own events).
    pub fn of(record: &RawRecord<'_>, source: Option<&str>) -> Option<Relation> {
        let name = record.get_str("eventName").ok().flatten()?;
        let name = name.as_ref();
        let request = || request_parameters(record);
        match source? {
            KMS_SOURCE if KEY_STORE_EVENTS.contains(&name) => {
                let request = request();
                let external = request.as_ref().is_some_and(|r| {
                    r.fields.iter().any(|(k, _)| k.starts_with("xks"))
                        || text(r, "customKeyStoreType")
                            .is_some_and(|t| t.as_ref() == "EXTERNAL_KEY_STORE")
                });
                (!external).then_some(Relation::KmsCustomKeyStore)
            }
            RAM_SOURCE if SHARE_EVENTS.contains(&name) => {
                let request = request()?;
                (!backup_arns(&request).is_empty()).then_some(Relation::RamBackupShare)
            }
            LOGS_SOURCE if LOG_GROUP_EVENTS.contains(&name) => {
                let request = request()?;
                log_group(&request)
                    .is_some_and(|g| g.starts_with(AUDIT_LOG_GROUP_PREFIX))
                    .then_some(Relation::AuditLogGroup)
            }
            CLOUDTRAIL_SOURCE if TRAIL_EVENTS.contains(&name) => Some(Relation::TrailChange),
            _ => None,
        }
    }
}

/// `requestParameters` split into its keys; `None` when it is absent or not an object.
pub fn request_parameters<'a>(record: &RawRecord<'a>) -> Option<RawRecord<'a>> {
    RawRecord::parse(record.get("requestParameters")?.get()).ok()
}

/// A string value of `object`; `None` when absent, null, empty or not a string.
fn text<'a>(object: &RawRecord<'a>, key: &str) -> Option<Cow<'a, str>> {
    object.get_str(key).ok().flatten().filter(|s| !s.is_empty())
}

/// The log group a CloudWatch Logs call names: `logGroupName`, or `logGroupIdentifier` or
/// `resourceIdentifier` (AssociateKmsKey, DisassociateKmsKey): a name or an ARN
/// `arn:aws:logs:region:account:log-group:NAME[:*]`.
pub fn log_group<'a>(request: &RawRecord<'a>) -> Option<Cow<'a, str>> {
    if let Some(name) = text(request, "logGroupName") {
        return Some(name);
    }
    let id = text(request, "logGroupIdentifier").or_else(|| text(request, "resourceIdentifier"))?;
    match id.split_once(":log-group:") {
        Some((_, rest)) => {
            let name = rest.strip_suffix(":*").unwrap_or(rest);
            Some(Cow::Owned(name.to_owned()))
        }
        None => Some(id),
    }
}

/// The cluster whose audit log group this is (`/aws/cloudhsm/cluster-...`).
pub fn cluster_of_log_group(group: &str) -> Option<&str> {
    let rest = group.strip_prefix(AUDIT_LOG_GROUP_PREFIX)?;
    let id = rest.split('/').next()?;
    id.starts_with("cluster-").then_some(id)
}

/// The CloudHSM backup ARNs among a RAM call's `resourceArns`.
pub fn backup_arns<'a>(request: &RawRecord<'a>) -> Vec<Cow<'a, str>> {
    let Some(raw) = request.get("resourceArns") else {
        return Vec::new();
    };
    serde_json::from_str::<Vec<&serde_json::value::RawValue>>(raw.get())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| raw_str(item).ok().flatten())
        .filter(|arn| is_backup_arn(arn))
        .collect()
}

/// `arn:PARTITION:cloudhsm:REGION:ACCOUNT:backup/backup-...`.
fn is_backup_arn(arn: &str) -> bool {
    let fields: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(fields.as_slice(), ["arn", _, "cloudhsm", _, _, resource] if resource.starts_with("backup/"))
}

/// The accounts (or organisations, OUs, principals not in an account) a backup is shared
/// with: RAM's `principals`, or the principals of the policy CloudHSM's PutResourcePolicy
/// attaches. Principal ARNs are reduced to their account; `*` stays `*`.
pub fn shared_with(policy_or_principals: SharedWith<'_>) -> Vec<String> {
    let mut out: Vec<String> = match policy_or_principals {
        SharedWith::RamPrincipals(raw) => serde_json::from_str::<Vec<String>>(raw)
            .unwrap_or_default()
            .iter()
            .map(|p| principal_account(p))
            .collect(),
        SharedWith::Policy(text) => policy_principals(text),
    };
    out.sort();
    out.dedup();
    out
}

/// Where the principals of a share are found.
pub enum SharedWith<'a> {
    /// RAM's `principals`: raw JSON, an array of account IDs, ARNs of organisations, OUs,
    /// roles or users.
    RamPrincipals(&'a str),
    /// An IAM policy document's text (CloudHSM PutResourcePolicy's `policy`).
    Policy(&'a str),
}

/// The AWS principals of the policy's `Allow` statements.
fn policy_principals(text: &str) -> Vec<String> {
    let Ok(policy) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let statements = match &policy["Statement"] {
        serde_json::Value::Array(items) => items.clone(),
        single @ serde_json::Value::Object(_) => vec![single.clone()],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for statement in statements {
        if statement["Effect"].as_str() == Some("Deny") {
            continue;
        }
        let principal = &statement["Principal"];
        let aws = match principal {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Object(_) => match &principal["AWS"] {
                serde_json::Value::String(s) => vec![s.clone()],
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        out.extend(aws.iter().map(|p| principal_account(p)));
    }
    out
}

/// The account of an IAM or STS principal ARN (`arn:aws:iam::123456789012:root`); anything
/// else (an account ID, `*`, an organisation or OU ARN, which shares with every account in
/// it) as it is.
fn principal_account(principal: &str) -> String {
    let fields: Vec<&str> = principal.splitn(6, ':').collect();
    match fields.as_slice() {
        ["arn", _, "iam" | "sts", _, account, _] if !account.is_empty() => (*account).to_owned(),
        _ => principal.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relation(json: &str) -> Option<Relation> {
        let record = RawRecord::parse(json).unwrap();
        let source = record.get_str("eventSource").unwrap();
        Relation::of(&record, source.as_deref())
    }

    #[test]
    fn related_events_are_recognised_and_others_not() {
        let kms = r#"{"eventSource":"kms.amazonaws.com","eventName":"CreateCustomKeyStore","requestParameters":{"clusterId":"cluster-a"}}"#;
        assert_eq!(relation(kms), Some(Relation::KmsCustomKeyStore));
        let xks = r#"{"eventSource":"kms.amazonaws.com","eventName":"CreateCustomKeyStore","requestParameters":{"customKeyStoreType":"EXTERNAL_KEY_STORE"}}"#;
        assert_eq!(relation(xks), None);
        let xks_update = r#"{"eventSource":"kms.amazonaws.com","eventName":"UpdateCustomKeyStore","requestParameters":{"customKeyStoreId":"cks-1","xksProxyUriPath":"/p"}}"#;
        assert_eq!(relation(xks_update), None);
        let disconnect = r#"{"eventSource":"kms.amazonaws.com","eventName":"DisconnectCustomKeyStore","requestParameters":{"customKeyStoreId":"cks-1"}}"#;
        assert_eq!(relation(disconnect), Some(Relation::KmsCustomKeyStore));
        let encrypt = r#"{"eventSource":"kms.amazonaws.com","eventName":"Encrypt"}"#;
        assert_eq!(relation(encrypt), None);
        let share = r#"{"eventSource":"ram.amazonaws.com","eventName":"CreateResourceShare","requestParameters":{"resourceArns":["arn:aws:ec2:us-east-1:1:subnet/s","arn:aws:cloudhsm:us-east-1:1:backup/backup-a"]}}"#;
        assert_eq!(relation(share), Some(Relation::RamBackupShare));
        let subnet = r#"{"eventSource":"ram.amazonaws.com","eventName":"CreateResourceShare","requestParameters":{"resourceArns":["arn:aws:ec2:us-east-1:1:subnet/s"]}}"#;
        assert_eq!(relation(subnet), None);
        let logs = r#"{"eventSource":"logs.amazonaws.com","eventName":"PutRetentionPolicy","requestParameters":{"logGroupName":"/aws/cloudhsm/cluster-a","retentionInDays":1}}"#;
        assert_eq!(relation(logs), Some(Relation::AuditLogGroup));
        let by_arn = r#"{"eventSource":"logs.amazonaws.com","eventName":"DeleteLogGroup","requestParameters":{"logGroupIdentifier":"arn:aws:logs:us-east-1:1:log-group:/aws/cloudhsm/cluster-a:*"}}"#;
        assert_eq!(relation(by_arn), Some(Relation::AuditLogGroup));
        let kms = r#"{"eventSource":"logs.amazonaws.com","eventName":"DisassociateKmsKey","requestParameters":{"resourceIdentifier":"arn:aws:logs:us-east-1:1:log-group:/aws/cloudhsm/cluster-a"}}"#;
        assert_eq!(relation(kms), Some(Relation::AuditLogGroup));
        let lambda = r#"{"eventSource":"logs.amazonaws.com","eventName":"DeleteLogGroup","requestParameters":{"logGroupName":"/aws/lambda/f"}}"#;
        assert_eq!(relation(lambda), None);
        let stop = r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","requestParameters":{"name":"t"}}"#;
        assert_eq!(relation(stop), Some(Relation::TrailChange));
        let lookup = r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"LookupEvents"}"#;
        assert_eq!(relation(lookup), None);
        let own = r#"{"eventSource":"cloudhsm.amazonaws.com","eventName":"DeleteCluster"}"#;
        assert_eq!(relation(own), None);
    }

    #[test]
    fn every_related_event_holds_a_needle() {
        for json in [
            r#"{"eventSource":"kms.amazonaws.com","eventName":"DeleteCustomKeyStore"}"#,
            r#"{"eventSource":"cloudtrail.amazonaws.com","eventName":"DeleteTrail"}"#,
            r#"{"requestParameters":{"resourceArns":["arn:aws:cloudhsm:r:1:backup/b"]}}"#,
            r#"{"requestParameters":{"logGroupName":"/aws/cloudhsm/c"}}"#,
        ] {
            assert!(NEEDLES.iter().any(|n| json.contains(n)), "{json}");
        }
    }

    #[test]
    fn log_groups_and_their_clusters() {
        assert_eq!(
            cluster_of_log_group("/aws/cloudhsm/cluster-abc"),
            Some("cluster-abc")
        );
        assert_eq!(cluster_of_log_group("/aws/cloudhsm/other"), None);
        assert_eq!(cluster_of_log_group("/aws/lambda/cluster-a"), None);
    }

    #[test]
    fn shares_name_accounts() {
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::777788889999:root","444455556666"]},"Action":"cloudhsm:CreateCluster"},{"Effect":"Deny","Principal":"*","Action":"*"}]}"#;
        assert_eq!(
            shared_with(SharedWith::Policy(policy)),
            ["444455556666", "777788889999"]
        );
        let single = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"}}}"#;
        assert_eq!(shared_with(SharedWith::Policy(single)), ["*"]);
        assert!(shared_with(SharedWith::Policy("not json")).is_empty());
        let ram = r#"["777788889999","arn:aws:organizations::111122223333:organization/o-abc"]"#;
        assert_eq!(
            shared_with(SharedWith::RamPrincipals(ram)),
            [
                "777788889999",
                "arn:aws:organizations::111122223333:organization/o-abc"
            ]
        );
    }
}
