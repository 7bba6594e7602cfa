//! Findings in the AWS Security Finding Format, as `aws securityhub batch-import-findings
//! --findings file://FILE` takes them: a JSON array of findings with every required field.
//!
//! A finding's `Id` is derived from its check, account, region and events, so importing the
//! same findings again updates them in Security Hub instead of adding copies.

use anyhow::{Result, bail};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::checks::{Finding, Severity};
use crate::time;

/// The ASFF schema version Security Hub accepts.
const SCHEMA_VERSION: &str = "2018-10-08";

/// Longest `Description` Security Hub accepts.
const MAX_DESCRIPTION: usize = 1024;
/// Longest remediation text Security Hub accepts.
const MAX_RECOMMENDATION: usize = 512;
/// Longest value of a `ProductFields` entry.
const MAX_PRODUCT_FIELD: usize = 2048;

/// Where the findings are filed and when they were made.
pub struct Target<'a> {
    /// `ProductArn`; `None` for the account's default product in the finding's region
    /// (`arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`).
    pub product_arn: Option<&'a str>,
    /// `UpdatedAt`, ms since the epoch: when this run judged the findings.
    pub generated_at: i64,
}

/// The findings as an ASFF JSON array, and why any finding was left out of it (one without an
/// account or a region cannot be filed; the others still are).
pub fn findings(findings: &[Finding], target: &Target<'_>) -> (Value, Vec<String>) {
    let mut filed = Vec::new();
    let mut left_out = Vec::new();
    for f in findings {
        match finding(f, target) {
            Ok(v) => filed.push(v),
            Err(e) => left_out.push(format!("{e:#}")),
        }
    }
    (Value::Array(filed), left_out)
}

fn finding(f: &Finding, target: &Target<'_>) -> Result<Value> {
    let check = f.check;
    let Some(account) = f.account_id.as_deref().filter(|a| is_account_id(a)) else {
        bail!(
            "a finding of check '{}' (events {}) has no 12-digit account, which ASFF requires",
            check.name,
            f.event_ids.join(",")
        );
    };
    let region = f.region.as_deref();
    let product_arn = match (target.product_arn, region) {
        (Some(arn), _) => arn.to_owned(),
        (None, Some(region)) => format!(
            "arn:{}:securityhub:{region}:{account}:product/{account}/default",
            partition(region)
        ),
        (None, None) => bail!(
            "a finding of check '{}' (events {}) has no region for its ProductArn: give --asff-product-arn",
            check.name,
            f.event_ids.join(",")
        ),
    };
    let observed = time::render_millis(f.event_time);
    let resource = match f.resource.as_deref() {
        Some(id) => json!({"Type": "Other", "Id": id}),
        None => json!({"Type": "AwsAccount", "Id": format!("AWS::::Account:{account}")}),
    };
    let mut resource = resource;
    if let Some(region) = region {
        resource["Region"] = json!(region);
        resource["Partition"] = json!(partition(region));
    }
    let mut product_fields = serde_json::Map::new();
    let mut field = |key: &str, value: &str| {
        if !value.is_empty() {
            product_fields.insert(
                format!("hsmtrail/{key}"),
                json!(truncate(value, MAX_PRODUCT_FIELD)),
            );
        }
    };
    field("Check", &check.name);
    field("EventIds", &f.event_ids.join(","));
    field("Principal", f.principal.as_deref().unwrap_or_default());
    field("MitreTechniques", &check.mitre.join(","));
    field("Why", &check.why);
    let mut finding = json!({
        "SchemaVersion": SCHEMA_VERSION,
        "Id": id(f, account),
        "ProductArn": product_arn,
        "GeneratorId": format!("hsmtrail/{}", check.name),
        "AwsAccountId": account,
        "Types": [format!("{}/{}", check.finding_type, check.title)],
        "FirstObservedAt": observed,
        "LastObservedAt": observed,
        "CreatedAt": observed,
        "UpdatedAt": time::render_millis(target.generated_at.max(f.event_time)),
        "Severity": {"Label": label(check.severity), "Original": check.severity.name()},
        "Title": truncate(&check.title, 256),
        "Description": truncate(&f.detail_or_title(), MAX_DESCRIPTION),
        "Remediation": {"Recommendation": {"Text": truncate(&check.action, MAX_RECOMMENDATION)}},
        "Resources": [resource],
        "ProductFields": product_fields,
        "RecordState": "ACTIVE",
        "Workflow": {"Status": "NEW"},
    });
    if let Some(region) = region {
        finding["Region"] = json!(region);
    }
    Ok(finding)
}

impl Finding {
    fn detail_or_title(&self) -> String {
        if self.detail.is_empty() {
            self.check.title.clone()
        } else {
            self.detail.clone()
        }
    }
}

/// `hsmtrail/CHECK/ACCOUNT/REGION/HASH`: the same events give the same ID on every run.
fn id(f: &Finding, account: &str) -> String {
    let mut hash = Sha256::new();
    for event in &f.event_ids {
        hash.update(event.as_bytes());
        hash.update(b"\n");
    }
    // Events without an eventID leave the list empty: then what the finding says tells them
    // apart (otherwise not, so that a detail that grows on a later run keeps the Id).
    let detail = if f.event_ids.is_empty() {
        f.detail.as_str()
    } else {
        ""
    };
    for part in [
        f.resource.as_deref().unwrap_or_default(),
        f.principal.as_deref().unwrap_or_default(),
        detail,
    ] {
        hash.update(part.as_bytes());
        hash.update(b"\n");
    }
    hash.update(f.event_time.to_le_bytes());
    let digest = hash.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "hsmtrail/{}/{account}/{}/{hex}",
        f.check.name,
        f.region.as_deref().unwrap_or("global")
    )
}

/// Severity.Label values.
fn label(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "INFORMATIONAL",
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

/// The partition of a region: `aws-cn` for China, `aws-us-gov` for GovCloud, else `aws`.
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// At most `max` characters, ending in `…` when cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_and_truncation() {
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("eu-west-1"), "aws");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert!(is_account_id("111122223333") && !is_account_id("1111"));
    }
}
