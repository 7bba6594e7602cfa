//! `hsmtrail schema`: the output schema, from its one definition.

use std::process::ExitCode;

use anyhow::Result;

use crate::schema;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    /// One line a column: name, type, description.
    Text,
    /// A Markdown table (the README's schema table).
    Markdown,
    /// A JSON array of {name, type, arrow_type, group, description}.
    Json,
    /// The Arrow schema as Arrow prints it.
    Arrow,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let text = match args.format {
        Format::Text => schema::text_listing(),
        Format::Markdown => schema::markdown_table(),
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&schema::json_listing())?
        ),
        Format::Arrow => format!("{:#?}\n", schema::arrow_schema()),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
