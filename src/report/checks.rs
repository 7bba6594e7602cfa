//! `hsmtrail check`: detections as SQL files in `queries/checks/`, each a finding per row with
//! a severity, so that cron and CI can act on an exit code.
//!
//! A check file has a report's header plus what a security team needs to act:
//!
//! ```sql
//! -- name: trail-stopped-or-deleted
//! -- title: A CloudTrail trail was stopped or deleted
//! -- severity: critical
//! -- type: TTPs/Defense Evasion
//! -- mitre: T1562.008
//! -- why: Why it matters, in a sentence.
//! -- action: What to do about it.
//! SELECT event_time, account_id, region, principal, resource, event_ids, detail FROM ...
//! ```
//!
//! `type` is the AWS Security Finding Format type (namespace/category) the finding is filed
//! under; `mitre` lists MITRE ATT&CK technique IDs (`-` for none). Every check returns the
//! columns of [`FINDING_COLUMNS`], one row a finding.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use anyhow::{Context, Result, bail};
use arrow::array::{Array, AsArray, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit, TimestampMillisecondType};

use super::catalogue::{QueryFile, Template};
use super::session::Engine;
use crate::filter::EventFilter;

/// How serious a finding is; ordered from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    fn parse(text: &str) -> Result<Severity> {
        <Severity as clap::ValueEnum>::from_str(text, false).map_err(|_| {
            anyhow::anyhow!("severity '{text}' is not one of info, low, medium, high, critical")
        })
    }
}

/// The columns every check returns, in order.
pub const FINDING_COLUMNS: [&str; 7] = [
    "event_time",
    "account_id",
    "region",
    "principal",
    "resource",
    "event_ids",
    "detail",
];

/// The ASFF type namespaces a check's `type` may start with.
const FINDING_TYPE_NAMESPACES: [&str; 5] = [
    "Software and Configuration Checks",
    "TTPs",
    "Effects",
    "Unusual Behaviors",
    "Sensitive Data Identifications",
];

/// One bundled check.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub title: String,
    pub severity: Severity,
    /// ASFF `namespace/category`.
    pub finding_type: String,
    /// MITRE ATT&CK technique IDs.
    pub mitre: Vec<String>,
    pub why: String,
    pub action: String,
    pub template: Template,
}

/// `(file name, text)` of `queries/checks/NAME.sql`.
macro_rules! bundled {
    ($name:literal) => {
        (
            concat!($name, ".sql"),
            include_str!(concat!("../../queries/checks/", $name, ".sql")),
        )
    };
}

/// The check files, by name. A test checks that every file in `queries/checks/` is listed.
const BUNDLED: &[(&str, &str)] = &[
    bundled!("root-activity"),
    bundled!("cluster-deleted"),
    bundled!("backup-deleted-by-person"),
    bundled!("backup-shared-outside-trusted"),
    bundled!("backup-copied-to-unapproved-region"),
    bundled!("cluster-below-two-hsms"),
    bundled!("changes-without-mfa"),
    bundled!("access-denied-burst"),
    bundled!("new-principal-change"),
    bundled!("new-source-address-change"),
    bundled!("trail-stopped-or-deleted"),
    bundled!("trail-changed"),
    bundled!("audit-log-group-tampering"),
    bundled!("non-fips-cluster"),
    bundled!("migration-rolled-back"),
    bundled!("migration-unfinished"),
    bundled!("backup-retention-shortened"),
    bundled!("kms-key-store-disconnected-or-deleted"),
    bundled!("cross-account-restore"),
    bundled!("hsm-audit-entries-missing"),
    bundled!("hsm-login-failure-burst"),
    bundled!("hsm-zeroized"),
    bundled!("hsm-crypto-officer-created"),
];

static CHECKS: LazyLock<Vec<Check>> = LazyLock::new(|| {
    BUNDLED
        .iter()
        .map(|(file, text)| {
            Check::parse(text).unwrap_or_else(|e| panic!("queries/checks/{file}: {e:#}"))
        })
        .collect()
});

/// Every bundled check, most severe first.
pub fn checks() -> Vec<&'static Check> {
    let mut all: Vec<&Check> = CHECKS.iter().collect();
    all.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.name.cmp(&b.name)));
    all
}

/// The file names of the bundled checks.
pub fn bundled_files() -> impl Iterator<Item = &'static str> {
    BUNDLED.iter().map(|(f, _)| *f)
}

/// The check of this name; the error lists near names.
pub fn find(name: &str) -> Result<&'static Check> {
    if let Some(check) = CHECKS.iter().find(|c| c.name == name) {
        return Ok(check);
    }
    let near = super::nearest(name, CHECKS.iter().map(|c| c.name.as_str()));
    let hint = match super::did_you_mean(&near) {
        Some(hint) => format!("{hint} (`hsmtrail check --list` lists them all)"),
        None => "`hsmtrail check --list` lists them".to_owned(),
    };
    Err(crate::error::UsageError(format!("there is no check named '{name}': {hint}")).into())
}

impl Check {
    /// Parses a check file: its header, then the SQL.
    pub fn parse(text: &str) -> Result<Check> {
        let file = QueryFile::parse("check", text)?;
        let finding_type = file.field("type")?;
        if !FINDING_TYPE_NAMESPACES
            .iter()
            .any(|ns| finding_type.starts_with(&format!("{ns}/")))
            || finding_type.matches('/').count() != 1
        {
            bail!(
                "type '{finding_type}' is not an ASFF namespace/category (namespaces: {})",
                FINDING_TYPE_NAMESPACES.join(", ")
            );
        }
        let mitre = file.field("mitre")?;
        let mitre: Vec<String> = match mitre.as_str() {
            "-" => Vec::new(),
            list => list.split(',').map(|t| t.trim().to_owned()).collect(),
        };
        if let Some(bad) = mitre.iter().find(|t| !is_technique_id(t)) {
            bail!("'{bad}' is not a MITRE ATT&CK technique ID (T1234 or T1234.001)");
        }
        Ok(Check {
            name: file.field("name")?,
            title: file.field("title")?,
            severity: Severity::parse(&file.field("severity")?)?,
            finding_type,
            mitre,
            why: file.field("why")?,
            action: file.field("action")?,
            template: file.template,
        })
    }

    /// The SQL with the parameters it takes from `given` (the others are for other checks).
    pub fn render(&self, given: &BTreeMap<String, String>) -> Result<String> {
        let mine: BTreeMap<String, String> = given
            .iter()
            .filter(|(k, _)| self.template.takes(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.template.render(&mine)
    }
}

/// `T` and four digits, then optionally `.` and three digits.
fn is_technique_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix('T') else {
        return false;
    };
    let (main, sub) = rest.split_once('.').unwrap_or((rest, "000"));
    main.len() == 4 && sub.len() == 3 && main.chars().chain(sub.chars()).all(|c| c.is_ascii_digit())
}

/// One finding: a row of a check.
#[derive(Debug, Clone)]
pub struct Finding {
    pub check: &'static Check,
    /// When (the latest event behind it), ms since the epoch.
    pub event_time: i64,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub principal: Option<String>,
    pub resource: Option<String>,
    pub event_ids: Vec<String>,
    pub detail: String,
}

/// What a run of checks is asked for.
pub struct Run<'a> {
    pub checks: Vec<&'static Check>,
    /// `--param`s and the values of `--trusted-account` and `--allowed-region`.
    pub params: &'a BTreeMap<String, String>,
    /// Only findings in this window are reported; the checks see every event (a "first seen"
    /// or "shortened" judgement needs what came before).
    pub window: &'a EventFilter,
}

/// Refuses a `--param` that none of `checks` takes.
pub fn refuse_unknown_params(checks: &[&Check], params: &BTreeMap<String, String>) -> Result<()> {
    for name in params.keys() {
        if !checks.iter().any(|c| c.template.takes(name)) {
            let mut known: Vec<&str> = checks
                .iter()
                .flat_map(|c| c.template.params.iter().map(|p| p.name.as_str()))
                .collect();
            known.sort_unstable();
            known.dedup();
            return Err(crate::error::UsageError(format!(
                "no check takes the parameter '{name}' (they take: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ))
            .into());
        }
    }
    Ok(())
}

impl Run<'_> {
    /// Runs every check; findings most severe first, then by time.
    pub fn findings(&self, engine: &Engine) -> Result<Vec<Finding>> {
        let mut findings = Vec::new();
        for check in &self.checks {
            let sql = check.render(self.params)?;
            let batches = engine
                .collect(&sql)
                .with_context(|| format!("check '{}' failed", check.name))?;
            for batch in &batches {
                findings.extend(
                    read_findings(check, batch)
                        .with_context(|| format!("check '{}'", check.name))?
                        .into_iter()
                        .filter(|f| self.window.admits_time(f.event_time)),
                );
            }
        }
        fill_accounts(engine, &mut findings)?;
        findings.sort_by(|a, b| {
            (b.check.severity, a.event_time, &a.check.name, &a.event_ids).cmp(&(
                a.check.severity,
                b.event_time,
                &b.check.name,
                &b.event_ids,
            ))
        });
        Ok(findings)
    }
}

/// A finding without an account (its events have no recipientAccountId, which the oldest
/// records lack) takes the caller's account from its events, as `convert` does for partitions.
fn fill_accounts(engine: &Engine, findings: &mut [Finding]) -> Result<()> {
    for f in findings.iter_mut().filter(|f| f.account_id.is_none()) {
        let ids: Vec<String> = f
            .event_ids
            .iter()
            .map(|id| format!("'{}'", id.replace('\'', "''")))
            .collect();
        if ids.is_empty() {
            continue;
        }
        let sql = format!(
            "SELECT min(COALESCE(recipient_account_id, identity_account_id)) AS account FROM events WHERE event_id IN ({})",
            ids.join(", ")
        );
        let batches = engine.collect(&sql)?;
        f.account_id = batches.iter().find(|b| b.num_rows() > 0).and_then(|b| {
            let column = arrow::compute::cast(b.column(0), &DataType::Utf8).ok()?;
            let column = column.as_string::<i32>();
            column.is_valid(0).then(|| column.value(0).to_owned())
        });
    }
    Ok(())
}

/// The findings in one batch of a check's answer.
fn read_findings(check: &'static Check, batch: &RecordBatch) -> Result<Vec<Finding>> {
    let names: Vec<&str> = batch
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    if names != FINDING_COLUMNS {
        bail!(
            "it returns the columns {} where a check must return {}",
            names.join(", "),
            FINDING_COLUMNS.join(", ")
        );
    }
    let times = arrow::compute::cast(
        batch.column(0),
        &DataType::Timestamp(TimeUnit::Millisecond, None),
    )?;
    let times = times.as_primitive::<TimestampMillisecondType>();
    let texts: Vec<Arc<dyn Array>> = (1..FINDING_COLUMNS.len())
        .map(|i| arrow::compute::cast(batch.column(i), &DataType::Utf8))
        .collect::<Result<_, _>>()?;
    let text = |column: usize, row: usize| {
        let array = texts[column - 1].as_string::<i32>();
        array
            .is_valid(row)
            .then(|| array.value(row).to_owned())
            .filter(|s| !s.is_empty())
    };
    (0..batch.num_rows())
        .map(|row| {
            if !times.is_valid(row) {
                bail!("a finding without an event_time (row {})", row + 1);
            }
            Ok(Finding {
                check,
                event_time: times.value(row),
                account_id: text(1, row),
                region: text(2, row),
                principal: text(3, row),
                resource: text(4, row),
                event_ids: text(5, row)
                    .map(|ids| ids.split(',').map(str::to_owned).collect())
                    .unwrap_or_default(),
                detail: text(6, row).unwrap_or_default(),
            })
        })
        .collect()
}

/// The findings as one batch, for the result formats reports use.
pub fn findings_batch(findings: &[Finding]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&Finding) -> Option<String>| -> Arc<dyn Array> {
        Arc::new(findings.iter().map(f).collect::<StringArray>())
    };
    let schema = Schema::new(vec![
        Field::new("severity", DataType::Utf8, false),
        Field::new("check", DataType::Utf8, false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new("account_id", DataType::Utf8, true),
        Field::new("region", DataType::Utf8, true),
        Field::new("principal", DataType::Utf8, true),
        Field::new("resource", DataType::Utf8, true),
        Field::new("detail", DataType::Utf8, false),
        Field::new("event_ids", DataType::Utf8, false),
    ]);
    let columns: Vec<Arc<dyn Array>> = vec![
        text(&|f| Some(f.check.severity.name().to_owned())),
        text(&|f| Some(f.check.name.clone())),
        Arc::new(
            TimestampMillisecondArray::from_iter_values(findings.iter().map(|f| f.event_time))
                .with_timezone("UTC"),
        ),
        text(&|f| f.account_id.clone()),
        text(&|f| f.region.clone()),
        text(&|f| f.principal.clone()),
        text(&|f| f.resource.clone()),
        text(&|f| Some(f.detail.clone())),
        text(&|f| Some(f.event_ids.join(","))),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_check_parses_and_renders_with_defaults() {
        let mut names = std::collections::HashSet::new();
        for (file, check) in BUNDLED.iter().zip(CHECKS.iter()) {
            assert_eq!(format!("{}.sql", check.name), file.0);
            assert!(names.insert(check.name.clone()));
            assert!(!check.render(&BTreeMap::new()).unwrap().contains("{{"));
        }
        assert!(CHECKS.len() >= 15);
    }

    #[test]
    fn headers_are_checked() {
        let check = |severity: &str, kind: &str, mitre: &str| {
            Check::parse(&format!(
                "-- name: x\n-- title: X\n-- severity: {severity}\n-- type: {kind}\n-- mitre: {mitre}\n-- why: w\n-- action: a\nSELECT 1"
            ))
        };
        let ok = check("high", "TTPs/Defense Evasion", "T1562.008, T1070").unwrap();
        assert_eq!(ok.severity, Severity::High);
        assert_eq!(ok.mitre, ["T1562.008", "T1070"]);
        assert!(
            check("high", "TTPs/Defense Evasion", "-")
                .unwrap()
                .mitre
                .is_empty()
        );
        assert!(check("severe", "TTPs/Defense Evasion", "-").is_err());
        assert!(check("high", "Bad/Category", "-").is_err());
        assert!(check("high", "TTPs", "-").is_err());
        assert!(check("high", "TTPs/Defense Evasion", "T15").is_err());
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
    }

    #[test]
    fn every_check_names_what_to_do() {
        for check in checks() {
            assert!(
                check.why.len() > 20 && check.action.len() > 20,
                "{}",
                check.name
            );
        }
    }
}
