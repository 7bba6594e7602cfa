//! `hsmtrail schema`: the output schema, from its one definition, and the table definitions
//! derived from it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use super::scope::DEFAULT_DATA;
use crate::ddl::{self, Dialect, Target};
use crate::output::partition::Layout;
use crate::output::table::Table;
use crate::schema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SchemaFormat {
    /// One line a column: name, type, description.
    Text,
    /// A Markdown table (the README's schema table).
    Markdown,
    /// A JSON array of {name, type, arrow_type, group, description}.
    Json,
    /// The Arrow schema as Arrow prints it.
    Arrow,
    /// Athena CREATE EXTERNAL TABLE with partition projection (needs --location s3://...).
    Athena,
    /// A DuckDB view over read_parquet with the partition types pinned.
    Duckdb,
    /// A Spark SQL CREATE TABLE ... USING parquet, and the partition discovery statement.
    Spark,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: SchemaFormat,

    /// Where the data is (athena, duckdb, spark): s3://bucket/prefix/ for Athena, a directory
    /// or URI otherwise.
    #[arg(long, value_name = "URI")]
    location: Option<String>,

    /// The partition layout the data was converted with (athena, duckdb, spark).
    #[arg(long, value_name = "LEVELS", default_value = "date")]
    partition_by: Vec<String>,

    /// Which table of the output: the CloudTrail events or the HSM audit log entries.
    #[arg(long, value_enum, default_value = "events")]
    table: Table,

    /// The created table's (or view's) name (athena, duckdb, spark); default: the table's own.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let dialect = match args.format {
        SchemaFormat::Text => return print(schema::text_listing(args.table)),
        SchemaFormat::Markdown => return print(schema::markdown_table(args.table)),
        SchemaFormat::Json => {
            return print(format!(
                "{}\n",
                serde_json::to_string_pretty(&schema::json_listing(args.table))?
            ));
        }
        SchemaFormat::Arrow => return print(format!("{:#?}\n", args.table.arrow_schema())),
        SchemaFormat::Athena => Dialect::Athena,
        SchemaFormat::Duckdb => Dialect::Duckdb,
        SchemaFormat::Spark => Dialect::Spark,
    };
    let layout = Layout::parse(&args.partition_by).map_err(super::usage)?;
    let location = match (args.location, dialect) {
        (Some(l), Dialect::Athena) if !l.starts_with("s3://") => {
            return Err(super::usage(format!(
                "Athena reads from S3: --location s3://bucket/prefix/, not '{l}'"
            )));
        }
        (Some(l), _) => l,
        (None, Dialect::Athena) => {
            return Err(super::usage(
                "Athena needs --location s3://bucket/prefix/ (where the Parquet is uploaded)",
            ));
        }
        (None, _) => DEFAULT_DATA.to_owned(),
    };
    let name = args.name.unwrap_or_else(|| args.table.name().to_owned());
    // --location is the output's: the audit table is in its `hsm_audit/` folder.
    let target = Target::in_output(args.table, &name, &location, &layout);
    print(ddl::generate(dialect, &target))
}

fn print(text: String) -> Result<ExitCode> {
    let mut out = super::stdout();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
