//! `--baseline`: what `aws cloudhsmv2 describe-clusters` and `describe-backups` said at a
//! known time, as the tables `baseline_clusters` and `baseline_backups`, so that counts the
//! reports and checks derive from events (HSMs per cluster) are absolute rather than relative
//! to the first event in the data.
//!
//! Both tables exist in every session, empty without a baseline, so the SQL that uses them
//! runs the same either way (and in DuckDB, where `tests/duckdb_report.py` makes them).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::array::{
    ArrayRef, BooleanBuilder, Int64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;

use crate::time;

/// The table of clusters.
pub const CLUSTERS_TABLE: &str = "baseline_clusters";
/// The table of backups.
pub const BACKUPS_TABLE: &str = "baseline_backups";

/// Clusters and backups as AWS described them, each with the time it was described.
#[derive(Debug, Default)]
pub struct Baseline {
    clusters: Vec<(DescribedCluster, i64)>,
    backups: Vec<(DescribedBackup, i64)>,
}

/// One file given with `--baseline`, and when it was taken.
#[derive(Debug, Clone)]
pub struct BaselineFile {
    pub path: PathBuf,
    /// ms since the epoch; `None` for the file's modification time.
    pub taken_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeOutput {
    clusters: Option<Vec<DescribedCluster>>,
    backups: Option<Vec<DescribedBackup>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribedCluster {
    cluster_id: String,
    /// Absent: the output did not say (a `--query` that left it out), so the count is unknown.
    hsms: Option<Vec<serde_json::Value>>,
    state: Option<String>,
    hsm_type: Option<String>,
    mode: Option<String>,
    backup_retention_policy: Option<RetentionPolicy>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RetentionPolicy {
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribedBackup {
    backup_id: String,
    cluster_id: Option<String>,
    backup_state: Option<String>,
    never_expires: Option<bool>,
    create_timestamp: Option<serde_json::Value>,
}

impl Baseline {
    /// Reads the files: each the JSON output of `describe-clusters` or `describe-backups`.
    pub fn read(files: &[BaselineFile]) -> Result<Baseline> {
        let mut baseline = Baseline::default();
        for file in files {
            baseline
                .add(file)
                .with_context(|| format!("reading the baseline {}", file.path.display()))?;
        }
        baseline.refuse_conflicts(files)?;
        Ok(baseline)
    }

    /// Two descriptions of one cluster at one time that disagree cannot both be right, and
    /// which one a report used would depend on the order the files were given in.
    fn refuse_conflicts(&self, files: &[BaselineFile]) -> Result<()> {
        let mut seen: std::collections::HashMap<(&str, i64), Option<usize>> =
            std::collections::HashMap::new();
        for (c, at) in &self.clusters {
            let hsms = c.hsms.as_ref().map(Vec::len);
            if let Some(other) = seen.insert((&c.cluster_id, *at), hsms)
                && other != hsms
            {
                let names: Vec<String> =
                    files.iter().map(|f| f.path.display().to_string()).collect();
                bail!(
                    "the baseline ({}) describes cluster {} twice at {} with different HSM counts: \
                     give each file its own time (files taken at different times can be given \
                     in separate runs, or with the time in their modification time)",
                    names.join(", "),
                    c.cluster_id,
                    time::render_millis(*at)
                );
            }
        }
        Ok(())
    }

    fn add(&mut self, file: &BaselineFile) -> Result<()> {
        let text = std::fs::read_to_string(&file.path)?;
        let output: DescribeOutput = serde_json::from_str(&text).context(
            "not the JSON output of `aws cloudhsmv2 describe-clusters` or `describe-backups`",
        )?;
        let taken_at = match file.taken_at {
            Some(ms) => ms,
            None => modified(&file.path)?,
        };
        match (output.clusters, output.backups) {
            (None, None) => bail!(
                "it has neither Clusters nor Backups: give the JSON output of \
                 `aws cloudhsmv2 describe-clusters` or `describe-backups`"
            ),
            (clusters, backups) => {
                self.clusters
                    .extend(clusters.into_iter().flatten().map(|c| (c, taken_at)));
                self.backups
                    .extend(backups.into_iter().flatten().map(|b| (b, taken_at)));
            }
        }
        Ok(())
    }

    /// The schema of `baseline_clusters`.
    pub fn clusters_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("cluster_id", DataType::Utf8, false),
            Field::new("hsms", DataType::Int64, true),
            Field::new("state", DataType::Utf8, true),
            Field::new("hsm_type", DataType::Utf8, true),
            Field::new("mode", DataType::Utf8, true),
            Field::new("backup_retention_days", DataType::Utf8, true),
            Field::new("taken_at", timestamp(), false),
        ]))
    }

    /// The schema of `baseline_backups`.
    pub fn backups_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("backup_id", DataType::Utf8, false),
            Field::new("cluster_id", DataType::Utf8, true),
            Field::new("state", DataType::Utf8, true),
            Field::new("never_expires", DataType::Boolean, true),
            Field::new("created", timestamp(), true),
            Field::new("taken_at", timestamp(), false),
        ]))
    }

    /// `baseline_clusters` as one batch.
    pub fn clusters(&self) -> Result<RecordBatch> {
        let mut id = StringBuilder::new();
        let mut hsms = Int64Builder::new();
        let (mut state, mut hsm_type, mut mode, mut retention) = (
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
        );
        let mut taken = TimestampMillisecondBuilder::new().with_timezone("UTC");
        for (c, at) in &self.clusters {
            id.append_value(&c.cluster_id);
            hsms.append_option(c.hsms.as_ref().map(|h| h.len() as i64));
            state.append_option(c.state.as_deref());
            hsm_type.append_option(c.hsm_type.as_deref());
            mode.append_option(c.mode.as_deref());
            retention.append_option(
                c.backup_retention_policy
                    .as_ref()
                    .and_then(|p| p.value.as_deref()),
            );
            taken.append_value(*at);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(id.finish()),
            Arc::new(hsms.finish()),
            Arc::new(state.finish()),
            Arc::new(hsm_type.finish()),
            Arc::new(mode.finish()),
            Arc::new(retention.finish()),
            Arc::new(taken.finish()),
        ];
        Ok(RecordBatch::try_new(Self::clusters_schema(), columns)?)
    }

    /// `baseline_backups` as one batch.
    pub fn backups(&self) -> Result<RecordBatch> {
        let (mut id, mut cluster, mut state) = (
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
        );
        let mut never = BooleanBuilder::new();
        let mut created = TimestampMillisecondBuilder::new().with_timezone("UTC");
        let mut taken = TimestampMillisecondBuilder::new().with_timezone("UTC");
        for (b, at) in &self.backups {
            id.append_value(&b.backup_id);
            cluster.append_option(b.cluster_id.as_deref());
            state.append_option(b.backup_state.as_deref());
            never.append_option(b.never_expires);
            created.append_option(b.create_timestamp.as_ref().and_then(api_time));
            taken.append_value(*at);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(id.finish()),
            Arc::new(cluster.finish()),
            Arc::new(state.finish()),
            Arc::new(never.finish()),
            Arc::new(created.finish()),
            Arc::new(taken.finish()),
        ];
        Ok(RecordBatch::try_new(Self::backups_schema(), columns)?)
    }
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// A time as the CLI prints it: epoch seconds (a number) or ISO 8601 text.
fn api_time(value: &serde_json::Value) -> Option<i64> {
    match value {
        serde_json::Value::Number(n) => time::parse_api_time(&n.to_string()),
        serde_json::Value::String(s) => time::parse_api_time(s),
        _ => None,
    }
}

fn modified(path: &Path) -> Result<i64> {
    let at = std::fs::metadata(path)?.modified()?;
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;

    #[test]
    fn describe_outputs_become_tables() {
        let dir = tempfile::tempdir().unwrap();
        let clusters = dir.path().join("clusters.json");
        std::fs::write(
            &clusters,
            r#"{"Clusters":[{"ClusterId":"cluster-a","State":"ACTIVE","HsmType":"hsm2m.medium","Mode":"FIPS","BackupRetentionPolicy":{"Type":"DAYS","Value":"90"},"Hsms":[{"HsmId":"hsm-1"},{"HsmId":"hsm-2"}]}]}"#,
        )
        .unwrap();
        let backups = dir.path().join("backups.json");
        std::fs::write(
            &backups,
            r#"{"Backups":[{"BackupId":"backup-a","ClusterId":"cluster-a","BackupState":"READY","NeverExpires":true,"CreateTimestamp":1709283600.5}]}"#,
        )
        .unwrap();
        let at = time::parse_event_time("2024-03-04T00:00:00Z").unwrap();
        let b = Baseline::read(&[
            BaselineFile {
                path: clusters,
                taken_at: Some(at),
            },
            BaselineFile {
                path: backups,
                taken_at: None,
            },
        ])
        .unwrap();
        let c = b.clusters().unwrap();
        assert_eq!(c.num_rows(), 1);
        assert_eq!(c.column(1).as_primitive::<Int64Type>().value(0), 2);
        assert_eq!(c.column(5).as_string::<i32>().value(0), "90");
        let k = b.backups().unwrap();
        assert!(k.column(3).as_boolean().value(0));
        let wrong = dir.path().join("wrong.json");
        std::fs::write(&wrong, r#"{"Hsms":[]}"#).unwrap();
        let err = Baseline::read(&[BaselineFile {
            path: wrong.clone(),
            taken_at: None,
        }])
        .unwrap_err();
        assert!(format!("{err:#}").contains("wrong.json"), "{err:#}");
        assert!(format!("{err:#}").contains("describe-clusters"), "{err:#}");
    }
}
