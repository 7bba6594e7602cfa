//! The embedded DataFusion engine: one session whose table `events` is the converter's output
//! (a listing table over the Parquet in a folder or in S3, Hive partition columns typed) or rows
//! converted in memory, with the `--since`/`--until`/`--account`/`--region` scope applied as a
//! view. The output is read through the same store `convert` wrote it with, wrapped so that
//! listing it skips the partition folders the scope rules out (`pruned_store.rs`): a one-day
//! report lists and reads one day.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{Expr, SessionConfig, SessionContext, coalesce, col, lit};

use super::baseline::{self, Baseline};
use super::pruned_store::PrunedStore;
use crate::convert::TableRows;
use crate::filter::EventFilter;
use crate::output::destination::{Destination, OutputLocation, url_of};
use crate::output::partition::{LAYOUT_RECORD, PartitionField};
use crate::output::table::Table;
use crate::remote::S3Options;
use crate::schema;
use crate::time;

/// Where the events come from.
pub enum Data {
    /// The converter's output: a folder or `s3://bucket/prefix/` (reached with these S3
    /// options), or one local Parquet file.
    Parquet(OutputLocation, S3Options),
    /// Rows converted in memory (`report --input`).
    Rows(TableRows),
}

/// A DataFusion session with `events` registered.
pub struct Engine {
    ctx: SessionContext,
    partitions: Vec<PartitionField>,
}

/// The name of the whole data, unscoped (for the span of the data).
const SOURCE_TABLE: &str = "events_unscoped";

/// The name of the data as listed for the scope, behind the `events` view: partition folders
/// the scope rules out are not even listed.
const PRUNED_TABLE: &str = "events_listed";

impl Engine {
    /// Opens a session over `data` with `scope` applied, and the `baseline` tables.
    pub fn open(data: Data, scope: &EventFilter, baseline: &Baseline) -> Result<Engine> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .set_str("datafusion.execution.time_zone", "UTC");
        // No cache of listings: DataFusion would list the whole table into it and then look
        // up a partition folder by its own percent-encoded spelling of the name (`account=~`
        // as `account=%7E`), missing folders whose Hive escaping leaves the character as it is.
        // Each query lists once anyway, through `pruned_store.rs`.
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .build_arc()?;
        let mut ctx = SessionContext::new_with_config_rt(config, runtime);
        datafusion_functions_json::register_all(&mut ctx)?;
        let partitions = match data {
            Data::Parquet(location, s3) => {
                let tables = listing_tables(&ctx, &location, &s3, scope)?;
                ctx.register_table(SOURCE_TABLE, tables.whole)?;
                ctx.register_table(PRUNED_TABLE, tables.pruned)?;
                ctx.register_table(AUDIT_TABLE, tables.audit)?;
                tables.partitions
            }
            Data::Rows(mut rows) => {
                let mut memory = |table: Table| -> Result<Arc<MemTable>> {
                    let batches = rows.remove(&table).unwrap_or_default();
                    Ok(Arc::new(MemTable::try_new(
                        table.arrow_schema(),
                        vec![batches],
                    )?))
                };
                let events = memory(Table::Events)?;
                ctx.register_table(SOURCE_TABLE, events.clone())?;
                ctx.register_table(PRUNED_TABLE, events)?;
                ctx.register_table(AUDIT_TABLE, memory(Table::HsmAudit)?)?;
                Vec::new()
            }
        };
        let engine = Engine { ctx, partitions };
        engine.register_scoped_view(scope)?;
        engine.register_audit_view(scope)?;
        for (name, batch) in [
            (baseline::CLUSTERS_TABLE, baseline.clusters()?),
            (baseline::BACKUPS_TABLE, baseline.backups()?),
        ] {
            let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
            engine.ctx.register_table(name, Arc::new(table))?;
        }
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
            crate::runtime::block_on(async { self.ctx.sql(sql).await?.execute_stream().await })
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

    /// Runs one SQL statement to its end.
    pub fn collect(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        use futures::TryStreamExt;
        let stream = self.stream(sql)?;
        self.block_on(stream.try_collect()).map_err(query_error)
    }

    /// When the scoped `events` holds no row: the span of the whole data (`the data spans A to
    /// B`, or `there is no data`); `None` when it holds rows.
    pub fn span_if_window_empty(&self) -> Result<Option<String>> {
        let count = self.scalar_rows(
            "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM hsm_audit) AS n",
        )?;
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
        let batches = crate::runtime::block_on(async { self.ctx.sql(sql).await?.collect().await })
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
        crate::runtime::block_on(future)
    }

    fn register_scoped_view(&self, scope: &EventFilter) -> Result<()> {
        let mut df = self.block_on(self.ctx.table(PRUNED_TABLE))?;
        for filter in self.scope_filters(scope) {
            df = df.filter(filter)?;
        }
        self.ctx.register_table("events", df.into_view())?;
        Ok(())
    }

    /// `hsm_audit`: the audit entries within the scope's time window and accounts (an entry
    /// whose delivery did not say its account is kept, as `convert --account` keeps it; no entry
    /// says its region, so regions do not apply).
    fn register_audit_view(&self, scope: &EventFilter) -> Result<()> {
        let mut df = self.block_on(self.ctx.table(AUDIT_TABLE))?;
        let us = |ms: i64| {
            lit(ScalarValue::TimestampMicrosecond(
                Some(ms.saturating_mul(1000)),
                Some("UTC".into()),
            ))
        };
        if let Some(since) = scope.since {
            df = df.filter(col("event_time").gt_eq(us(since.start)))?;
        }
        if let Some(until) = scope.until {
            // The whole last millisecond.
            df = df.filter(col("event_time").lt(us(until.last_ms() + 1)))?;
        }
        if !scope.accounts.is_empty() {
            let accounts = scope.accounts.iter().map(lit).collect();
            df = df.filter(
                col("account_id")
                    .is_null()
                    .or(col("account_id").in_list(accounts, false)),
            )?;
        }
        self.ctx
            .register_table(Table::HsmAudit.name(), df.into_view())?;
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

/// The converted output as tables: whole, and as listed for a scope; and its audit entries.
struct Tables {
    whole: Arc<dyn TableProvider>,
    pruned: Arc<dyn TableProvider>,
    partitions: Vec<PartitionField>,
    audit: Arc<dyn TableProvider>,
}

/// The name of every audit entry in the data, behind the `hsm_audit` view.
const AUDIT_TABLE: &str = "hsm_audit_unscoped";

/// Where the audit table is registered: the output's store as it is (its folders are all
/// `event_date=`; the events' pruning does not apply).
const AUDIT_SCHEME: &str = "hsmtrail-audit";

fn empty_audit() -> Result<Arc<dyn TableProvider>> {
    Ok(Arc::new(MemTable::try_new(
        Table::HsmAudit.arrow_schema(),
        vec![vec![]],
    )?))
}

/// The output's `hsm_audit/` table, or an empty one when `holds_entries` is false.
fn audit_table(
    ctx: &SessionContext,
    dest: &Destination,
    holds_entries: bool,
) -> Result<Arc<dyn TableProvider>> {
    let folder = crate::audit::TABLE_FOLDER;
    if !holds_entries {
        return empty_audit();
    }
    let (store, root) = dest.store();
    let url = ListingTableUrl::parse(url_of(
        &format!("{AUDIT_SCHEME}://data"),
        &format!("{root}/{folder}"),
        true,
    ))?;
    ctx.register_object_store(url.object_store().as_ref(), store);
    Ok(table(url, &[PartitionField::Date], Table::HsmAudit)? as Arc<dyn TableProvider>)
}

impl Tables {
    /// One file: nothing to prune, no partition columns.
    fn one_file(url: ListingTableUrl) -> Result<Tables> {
        let table = table(url, &[], Table::Events)?;
        Ok(Tables {
            whole: table.clone(),
            pruned: table,
            partitions: Vec::new(),
            audit: empty_audit()?,
        })
    }

    /// An output `convert` made that holds no event yet (every input filtered out): an empty
    /// table, so that reports give no rows and checks no findings rather than an error.
    fn empty(audit: Arc<dyn TableProvider>) -> Result<Tables> {
        let table: Arc<dyn TableProvider> =
            Arc::new(MemTable::try_new(schema::arrow_schema(), vec![vec![]])?);
        Ok(Tables {
            whole: table.clone(),
            pruned: table,
            partitions: Vec::new(),
            audit,
        })
    }
}

/// Where the whole data is registered: its own scheme, so that the store behind it is the
/// output's store unwrapped while the pruned one has the output's own URL.
const WHOLE_SCHEME: &str = "hsmtrail-whole";

/// Listing tables over the output at `location`, with the partition columns its folder names
/// show, read through the output's store: whole, and with listings pruned to `scope`.
fn listing_tables(
    ctx: &SessionContext,
    location: &OutputLocation,
    s3: &S3Options,
    scope: &EventFilter,
) -> Result<Tables> {
    if let OutputLocation::Folder(path) = location
        && !path.is_dir()
    {
        check_single_file(path)?;
        let absolute = path.canonicalize()?;
        let raw = absolute.to_str().with_context(|| {
            format!(
                "{}: a path that is not UTF-8 cannot be queried",
                path.display()
            )
        })?;
        let url = ListingTableUrl::parse(url_of("file://", raw, false))?;
        return Tables::one_file(url);
    }
    let remote = location.client(s3)?;
    if let OutputLocation::S3(url) = location
        && url.prefix.ends_with(".parquet")
    {
        // One object: read as it is, like one local file.
        let (folder, name) = url.prefix.rsplit_once('/').unwrap_or(("", &url.prefix));
        let parent = OutputLocation::S3(crate::remote::S3Url {
            bucket: url.bucket.clone(),
            prefix: folder.to_owned(),
        });
        let dest = Destination::for_reading(&parent, remote.as_ref())?;
        dest.check_footer(&dest.data_file_at(name)?)?;
        let (store, root) = dest.store();
        let url = ListingTableUrl::parse(url_of(
            &format!("s3://{}", url.bucket),
            &format!("{root}/{name}"),
            false,
        ))?;
        ctx.register_object_store(url.object_store().as_ref(), store);
        return Tables::one_file(url);
    }
    let dest = Destination::for_reading(location, remote.as_ref())?;
    let Some(first) = dest.first_data_file(scope)? else {
        if dest.holds_trail_files()? {
            return Err(trail_files(&dest.display()));
        }
        // Converted into, with nothing kept: its layout, or the record of an --incremental run.
        if dest.read_small(LAYOUT_RECORD)?.is_some()
            || !dest.list_folder(crate::state::FOLDER)?.is_empty()
        {
            let holds_entries = dest.holds_audit_entries()?;
            if !holds_entries {
                crate::say!(
                    "hsmtrail: {} holds no events yet: every event converted into it so far was filtered out",
                    dest.display()
                );
            }
            return Tables::empty(audit_table(ctx, &dest, holds_entries)?);
        }
        bail!("no Parquet files under {}: {HOW}", dest.display());
    };
    dest.check_footer(&first)?;
    let mut partitions = Vec::new();
    for level in dest
        .partition_of(&first)
        .split('/')
        .filter(|l| !l.is_empty())
    {
        partitions.extend(PartitionField::of_folder_name(level));
    }
    let (store, root) = dest.store();
    let pruned_url = ListingTableUrl::parse(dest.table_url())?;
    let whole_url = ListingTableUrl::parse(url_of(
        &format!("{WHOLE_SCHEME}://data"),
        root.as_ref(),
        true,
    ))?;
    let whole_store = PrunedStore::new(store.clone(), root.clone(), EventFilter::default());
    ctx.register_object_store(whole_url.object_store().as_ref(), Arc::new(whole_store));
    let pruned_store = PrunedStore::new(store, root, scope.clone());
    ctx.register_object_store(pruned_url.object_store().as_ref(), Arc::new(pruned_store));
    Ok(Tables {
        whole: table(whole_url, &partitions, Table::Events)?,
        pruned: table(pruned_url, &partitions, Table::Events)?,
        partitions,
        audit: audit_table(ctx, &dest, dest.holds_audit_entries()?)?,
    })
}

/// The listing table at `url`, partition columns typed.
fn table(
    url: ListingTableUrl,
    partitions: &[PartitionField],
    of: Table,
) -> Result<Arc<ListingTable>> {
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
        .with_schema(of.arrow_schema());
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// What `--data` wants, for the messages that say it was given something else.
const HOW: &str = "--data takes the folder (or s3://bucket/prefix/) `hsmtrail convert TRAIL... --output DIR` wrote";

fn trail_files(data: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "{data} holds trail files, not converted Parquet: use --input {data} to report on trail \
         files directly, or convert them with `hsmtrail convert {data} --output DIR` and give \
         --data DIR"
    )
}

/// Checks that `--data` naming something other than a folder names one hsmtrail Parquet
/// file; anything else is an error that says what `--data` wants.
fn check_single_file(path: &Path) -> Result<()> {
    if !path.exists() {
        bail!("no data at {}: {HOW}", path.display());
    }
    match first_bytes(path).map(|bytes| sniff(&bytes)) {
        Ok(Sniffed::Parquet) => check_hsmtrail_parquet(path),
        Ok(Sniffed::Trail) => Err(trail_files(&path.display().to_string())),
        Ok(Sniffed::Other) => bail!("{} is not Parquet: {HOW}", path.display()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
