//! Writing query results: an aligned table for people; CSV, JSON Lines and Markdown for
//! machines and documents. CSV, JSON and Markdown stream batch by batch.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use anyhow::Result;
use arrow::csv;
use arrow::json::{LineDelimitedWriter, WriterBuilder};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use arrow::util::pretty::pretty_format_batches;
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;

use super::session::query_error;

/// Result formats offered on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ResultFormat {
    /// An aligned table, with a row count.
    #[default]
    Table,
    /// CSV with a header line.
    Csv,
    /// JSON Lines: one object a row, nulls included.
    Json,
    /// A Markdown table.
    Markdown,
}

/// Consumes the stream into `out` in `format`; returns the number of rows.
pub async fn write(
    mut stream: SendableRecordBatchStream,
    format: ResultFormat,
    out: &mut dyn Write,
) -> Result<u64> {
    let schema = stream.schema();
    let mut rows = 0u64;
    match format {
        ResultFormat::Table => {
            let mut batches = Vec::new();
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(query_error)?;
                rows += batch.num_rows() as u64;
                batches.push(batch);
            }
            if batches.is_empty() {
                batches.push(RecordBatch::new_empty(schema));
            }
            writeln!(out, "{}", pretty_format_batches(&batches)?)?;
            writeln!(out, "({rows} row{})", if rows == 1 { "" } else { "s" })?;
        }
        ResultFormat::Csv => {
            let mut writer = csv::WriterBuilder::new().with_header(true).build(&mut *out);
            let mut wrote_any = false;
            while let Some(batch) = stream.next().await {
                let batch = nested_as_text(&batch.map_err(query_error)?)?;
                rows += batch.num_rows() as u64;
                writer.write(&batch)?;
                wrote_any = true;
            }
            if !wrote_any {
                writer.write(&nested_as_text(&RecordBatch::new_empty(schema))?)?;
            }
        }
        ResultFormat::Json => {
            let mut writer: LineDelimitedWriter<_> = WriterBuilder::new()
                .with_explicit_nulls(true)
                .build(&mut *out);
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(query_error)?;
                rows += batch.num_rows() as u64;
                writer.write(&batch)?;
            }
            writer.finish()?;
        }
        ResultFormat::Markdown => {
            let names: Vec<String> = schema.fields().iter().map(|f| cell(f.name())).collect();
            writeln!(out, "| {} |", names.join(" | "))?;
            writeln!(out, "|{}", "---|".repeat(names.len()))?;
            let options = FormatOptions::default().with_null("");
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(query_error)?;
                let formatters = batch
                    .columns()
                    .iter()
                    .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                    .collect::<Result<Vec<_>, _>>()?;
                for row in 0..batch.num_rows() {
                    let cells: Vec<String> = formatters
                        .iter()
                        .map(|f| cell(&f.value(row).to_string()))
                        .collect();
                    writeln!(out, "| {} |", cells.join(" | "))?;
                }
                rows += batch.num_rows() as u64;
            }
        }
    }
    out.flush()?;
    Ok(rows)
}

/// CSV has no lists or structs: such columns are written as their display text (`[a, b]`).
fn nested_as_text(batch: &RecordBatch) -> Result<RecordBatch> {
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| f.data_type().is_nested())
    {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default().with_null("");
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type().is_nested() {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let text: StringArray = (0..column.len())
                .map(|i| column.is_valid(i).then(|| formatter.value(i).to_string()))
                .collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(text) as ArrayRef);
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// A Markdown cell: pipes escaped, line breaks folded.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
