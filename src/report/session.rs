//! The embedded DataFusion engine: one session whose table `events` is the converter's output
//! (a listing table over the Parquet, Hive partition columns typed) or rows converted in memory,
//! with the `--since`/`--until`/`--account`/`--region` scope applied as a view so that a time
//! filter skips whole partitions.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::{Expr, SessionConfig, SessionContext, coalesce, col, lit};

use crate::output::partition::PartitionField;
use crate::schema;
use crate::time::{self, Bound};

/// Where the events come from.
pub enum Data {
    /// The converter's output: a directory tree, or one Parquet file.
    Parquet(PathBuf),
    /// Rows converted in memory (`report --input`).
    Rows(Vec<RecordBatch>),
}

/// Which events a query sees.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub since: Option<Bound>,
    pub until: Option<Bound>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
}

/// A DataFusion session with `events` registered.
pub struct Engine {
    ctx: SessionContext,
    runtime: tokio::runtime::Runtime,
    partitions: Vec<PartitionField>,
}

/// The name of the unscoped table behind the `events` view.
const SOURCE_TABLE: &str = "events_unscoped";

impl Engine {
    /// Opens a session over `data` with `scope` applied.
    pub fn open(data: Data, scope: &Scope) -> Result<Engine> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .build()
            .context("starting the query runtime")?;
        let config = SessionConfig::new()
            .with_information_schema(true)
            .set_str("datafusion.execution.time_zone", "UTC");
        let mut ctx = SessionContext::new_with_config(config);
        datafusion_functions_json::register_all(&mut ctx)?;
        let partitions = match data {
            Data::Parquet(path) => {
                let (table, partitions) = listing_table(&path)?;
                ctx.register_table(SOURCE_TABLE, table)?;
                partitions
            }
            Data::Rows(batches) => {
                let table = MemTable::try_new(schema::arrow_schema(), vec![batches])?;
                ctx.register_table(SOURCE_TABLE, Arc::new(table))?;
                Vec::new()
            }
        };
        let engine = Engine {
            ctx,
            runtime,
            partitions,
        };
        engine.register_scoped_view(scope)?;
        Ok(engine)
    }

    /// The Hive partition columns found in the data, outermost first.
    pub fn partitions(&self) -> &[PartitionField] {
        &self.partitions
    }

    /// Plans and starts one SQL statement; the results stream.
    pub fn stream(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        self.runtime
            .block_on(async { self.ctx.sql(sql).await?.execute_stream().await })
            .map_err(query_error)
    }

    /// Runs a blocking consumer of a stream on the session's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn register_scoped_view(&self, scope: &Scope) -> Result<()> {
        let mut df = self.block_on(self.ctx.table(SOURCE_TABLE))?;
        for filter in self.scope_filters(scope) {
            df = df.filter(filter)?;
        }
        self.ctx.register_table("events", df.into_view())?;
        Ok(())
    }

    /// The scope as filters on file columns, plus the same bounds on the partition columns so
    /// that DataFusion prunes whole directories.
    fn scope_filters(&self, scope: &Scope) -> Vec<Expr> {
        let has = |p: PartitionField| self.partitions.contains(&p);
        let ts = |ms: i64| {
            lit(ScalarValue::TimestampMillisecond(
                Some(ms),
                Some("UTC".into()),
            ))
        };
        let mut filters = Vec::new();
        if let Some(since) = scope.since {
            filters.push(col("event_time").gt_eq(ts(since.start)));
            filters.extend(self.period_filter(since.start, Expr::gt_eq));
        }
        if let Some(until) = scope.until {
            filters.push(col("event_time").lt_eq(ts(until.last_ms())));
            filters.extend(self.period_filter(until.last_ms(), Expr::lt_eq));
        }
        if !scope.accounts.is_empty() {
            let target = if has(PartitionField::Account) {
                col("account")
            } else {
                coalesce(vec![
                    col("recipient_account_id"),
                    col("identity_account_id"),
                ])
            };
            filters.push(target.in_list(scope.accounts.iter().map(lit).collect(), false));
        }
        if !scope.regions.is_empty() {
            let target = if has(PartitionField::Region) {
                col("region")
            } else {
                col("aws_region")
            };
            filters.push(target.in_list(scope.regions.iter().map(lit).collect(), false));
        }
        filters
    }

    /// `event_date` or `event_month` compared with the period of `ms`.
    fn period_filter(&self, ms: i64, cmp: fn(Expr, Expr) -> Expr) -> Option<Expr> {
        let date = time::date_of(ms);
        if self.partitions.contains(&PartitionField::Date) {
            let days = (ms.div_euclid(86_400_000)) as i32;
            Some(cmp(col("event_date"), lit(ScalarValue::Date32(Some(days)))))
        } else if self.partitions.contains(&PartitionField::Month) {
            Some(cmp(col("event_month"), lit(date[..7].to_owned())))
        } else {
            None
        }
    }
}

/// DataFusion errors repeat their causes in their own text; the innermost one says it all.
pub fn query_error(e: datafusion::error::DataFusionError) -> anyhow::Error {
    anyhow::anyhow!("the query failed: {}", e.find_root())
}

/// A listing table over the Parquet under `path`, with the partition columns its directory
/// names show.
fn listing_table(path: &Path) -> Result<(Arc<ListingTable>, Vec<PartitionField>)> {
    let (first, partitions) = first_parquet(path)?;
    let url = if path.is_dir() {
        let dir = path.canonicalize()?;
        ListingTableUrl::parse(format!("{}/", dir.display()))?
    } else {
        ListingTableUrl::parse(first.canonicalize()?.display().to_string())?
    };
    let columns = partitions
        .iter()
        .map(|p| {
            let data_type = match p {
                PartitionField::Date => DataType::Date32,
                _ => DataType::Utf8,
            };
            (p.column().to_owned(), data_type)
        })
        .collect();
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(columns);
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(schema::arrow_schema());
    Ok((Arc::new(ListingTable::try_new(config)?), partitions))
}

/// The first Parquet file under `path` and the partition columns its directory names show.
fn first_parquet(path: &Path) -> Result<(PathBuf, Vec<PartitionField>)> {
    let how = "create it with `hsmtrail convert TRAIL... --out DIR`, or give --data";
    if !path.exists() {
        bail!("no data at {}: {how}", path.display());
    }
    if path.is_file() {
        return Ok((path.to_path_buf(), Vec::new()));
    }
    let first = walkdir::WalkDir::new(path)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !crate::output::is_skipped_name(e.file_name()))
        .filter_map(Result::ok)
        .find(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "parquet"))
        .with_context(|| format!("no Parquet files under {}: {how}", path.display()))?
        .into_path();
    let relative = first
        .parent()
        .unwrap_or(path)
        .strip_prefix(path)
        .unwrap_or(Path::new(""));
    let mut partitions = Vec::new();
    for component in relative.components() {
        let name = component.as_os_str().to_string_lossy();
        let key = name.split_once('=').map(|(k, _)| k).unwrap_or(&name);
        let field = [
            PartitionField::Account,
            PartitionField::Region,
            PartitionField::Date,
            PartitionField::Month,
        ]
        .into_iter()
        .find(|f| f.column() == key)
        .with_context(|| {
            format!(
                "{} is not an hsmtrail partition directory (expected account=, region=, event_date= or event_month=)",
                first.display()
            )
        })?;
        partitions.push(field);
    }
    Ok((first, partitions))
}
