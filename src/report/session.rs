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

use crate::filter::EventFilter;
use crate::output::partition::PartitionField;
use crate::schema;
use crate::time;

/// Where the events come from.
pub enum Data {
    /// The converter's output: a directory tree, or one Parquet file.
    Parquet(PathBuf),
    /// Rows converted in memory (`report --input`).
    Rows(Vec<RecordBatch>),
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
    pub fn open(data: Data, scope: &EventFilter) -> Result<Engine> {
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
    ///
    /// Planning reads the files' footers, where DataFusion decodes the Arrow schema embedded
    /// in each; a damaged one panics in arrow-ipc. That is reported as an error with what to
    /// do (compaction rewrites files from their Parquet schema), not as a crash.
    pub fn stream(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        let planned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.runtime
                .block_on(async { self.ctx.sql(sql).await?.execute_stream().await })
        }));
        match planned {
            Ok(stream) => stream.map_err(query_error),
            Err(_) => anyhow::bail!(
                "the query failed: reading the data's file footers failed (a damaged embedded \
                 schema?): `hsmtrail compact` on the data folder rewrites its files from their \
                 Parquet schema"
            ),
        }
    }

    /// When the scoped `events` holds no row: the span of the whole data (`the data spans A to
    /// B`, or `there is no data`); `None` when it holds rows.
    pub fn span_if_window_empty(&self) -> Result<Option<String>> {
        let count = self.scalar_rows("SELECT count(*) AS n FROM events")?;
        if count.first().is_some_and(|c| c != "0") {
            return Ok(None);
        }
        let span = self.scalar_rows(&format!(
            "SELECT CAST(min(event_time) AS VARCHAR), CAST(max(event_time) AS VARCHAR) FROM {SOURCE_TABLE}"
        ))?;
        Ok(Some(match span.as_slice() {
            [first, last] if !first.is_empty() => format!("the data spans {first} to {last}"),
            _ => "there is no data at all".to_owned(),
        }))
    }

    /// The first row of a query's answer, each value as text (empty for null).
    fn scalar_rows(&self, sql: &str) -> Result<Vec<String>> {
        let batches = self
            .runtime
            .block_on(async { self.ctx.sql(sql).await?.collect().await })
            .map_err(query_error)?;
        let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
            return Ok(Vec::new());
        };
        let options = arrow::util::display::FormatOptions::default();
        batch
            .columns()
            .iter()
            .map(|c| {
                let formatter =
                    arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &options)?;
                Ok(formatter.value(0).to_string())
            })
            .collect()
    }

    /// Runs a blocking consumer of a stream on the session's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn register_scoped_view(&self, scope: &EventFilter) -> Result<()> {
        let mut df = self.block_on(self.ctx.table(SOURCE_TABLE))?;
        for filter in self.scope_filters(scope) {
            df = df.filter(filter)?;
        }
        self.ctx.register_table("events", df.into_view())?;
        Ok(())
    }

    /// The scope as filters on file columns, plus the same bounds on the partition columns so
    /// that DataFusion prunes whole directories.
    fn scope_filters(&self, scope: &EventFilter) -> Vec<Expr> {
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
        // A value the folder name spells otherwise (escaped, or shortened when too long) is
        // filtered on the record's own column instead.
        let fits_a_folder = |values: &[String]| {
            values
                .iter()
                .all(|v| crate::output::partition::escape_bounded(v) == *v)
        };
        if !scope.accounts.is_empty() {
            let target = if has(PartitionField::Account) && fits_a_folder(&scope.accounts) {
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
            let target = if has(PartitionField::Region) && fits_a_folder(&scope.regions) {
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

/// What a file's first bytes say it is.
enum Sniffed {
    Parquet,
    /// JSON or gzip: trail files.
    Trail,
    Other,
}

/// Up to the first 64 bytes of a file.
fn first_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(64);
    std::fs::File::open(path)?
        .take(64)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn sniff(bytes: &[u8]) -> Sniffed {
    let text = bytes.trim_ascii_start();
    if bytes.starts_with(b"PAR1") {
        Sniffed::Parquet
    } else if bytes.starts_with(&[0x1f, 0x8b]) || text.starts_with(b"{") || text.starts_with(b"[") {
        Sniffed::Trail
    } else {
        Sniffed::Other
    }
}

/// Checks that a Parquet file is hsmtrail's output (it has the event columns), so that a query
/// over another tool's files fails with a message rather than odd answers.
fn check_hsmtrail_parquet(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new_with_options(
            file,
            crate::output::reader_options(),
        )
        .with_context(|| format!("{} is not readable Parquet", path.display()))?;
    let schema = reader.schema();
    if ["event_id", "event_time", "event_name"]
        .iter()
        .any(|c| schema.field_with_name(c).is_err())
    {
        bail!(
            "{} is not hsmtrail output (it has no event_id, event_time and event_name columns): \
             --data takes the folder `hsmtrail convert` wrote",
            path.display()
        );
    }
    Ok(())
}

/// A DataFusion error for people: the innermost cause (the outer ones repeat it), a syntax
/// error with its position but without the parser's debug formatting, an unknown table or
/// column with the nearest names instead of every column.
pub fn query_error(e: datafusion::error::DataFusionError) -> anyhow::Error {
    use datafusion::common::SchemaError;
    use datafusion::error::DataFusionError;
    use datafusion::sql::sqlparser::parser::ParserError;
    let message = match e.find_root() {
        DataFusionError::SQL(parser, _) => match parser.as_ref() {
            ParserError::TokenizerError(m) | ParserError::ParserError(m) => {
                format!("SQL syntax error: {m}")
            }
            other => format!("SQL syntax error: {other}"),
        },
        DataFusionError::SchemaError(error, _) => match error.as_ref() {
            SchemaError::FieldNotFound {
                field,
                valid_fields,
            } => {
                let near =
                    super::nearest(field.name(), valid_fields.iter().map(|c| c.name.as_str()));
                let hint = super::did_you_mean(&near).unwrap_or_else(|| {
                    "`hsmtrail schema` lists the columns of `events`".to_owned()
                });
                format!("there is no column '{}': {hint}", field.name())
            }
            other => other.to_string(),
        },
        DataFusionError::Plan(message) => match message
            .strip_prefix("table '")
            .and_then(|m| m.strip_suffix("' not found"))
        {
            Some(table) => format!(
                "there is no table '{}': the table is `events` (`hsmtrail schema` lists its columns)",
                table.rsplit('.').next().unwrap_or(table)
            ),
            None => message.clone(),
        },
        other => other.to_string(),
    };
    anyhow::anyhow!("the query failed: {message}")
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
/// Anything else (no data, trail files, a file that is not hsmtrail's Parquet) is an error
/// that says what `--data` wants.
fn first_parquet(path: &Path) -> Result<(PathBuf, Vec<PartitionField>)> {
    let how = "--data takes the folder `hsmtrail convert TRAIL... --output DIR` wrote";
    let trail_files = |what: &str| {
        anyhow::anyhow!(
            "{what} holds trail files, not converted Parquet: use --input {} to report on trail \
             files directly, or convert them with `hsmtrail convert {} --output DIR` and give \
             --data DIR",
            path.display(),
            path.display()
        )
    };
    if !path.exists() {
        bail!("no data at {}: {how}", path.display());
    }
    if path.is_file() {
        return match first_bytes(path).map(|bytes| sniff(&bytes)) {
            Ok(Sniffed::Parquet) => {
                check_hsmtrail_parquet(path)?;
                Ok((path.to_path_buf(), Vec::new()))
            }
            Ok(Sniffed::Trail) => Err(trail_files(&path.display().to_string())),
            Ok(Sniffed::Other) => bail!("{} is not Parquet: {how}", path.display()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        };
    }
    let data_files = || {
        walkdir::WalkDir::new(path)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !crate::output::is_skipped_name(e.file_name()))
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
    };
    let Some(first) = data_files()
        .find(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        .map(|e| e.into_path())
    else {
        let trail = data_files().any(|e| {
            let name = e.file_name().to_string_lossy();
            [".json", ".json.gz", ".jsonl", ".jsonl.gz"]
                .iter()
                .any(|x| name.ends_with(x))
        });
        if trail {
            return Err(trail_files(&path.display().to_string()));
        }
        bail!("no Parquet files under {}: {how}", path.display());
    };
    check_hsmtrail_parquet(&first)?;
    let relative = first
        .parent()
        .unwrap_or(path)
        .strip_prefix(path)
        .unwrap_or(Path::new(""));
    let mut partitions = Vec::new();
    for component in relative.components() {
        let name = component.as_os_str().to_string_lossy();
        let field = PartitionField::of_folder_name(&name).with_context(|| {
            format!(
                "{} is not an hsmtrail partition directory (expected account=, region=, event_date= or event_month=)",
                first.display()
            )
        })?;
        partitions.push(field);
    }
    Ok((first, partitions))
}
