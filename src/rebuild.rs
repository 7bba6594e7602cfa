//! Row to record: rebuilds a CloudTrail record's JSON from its row, to prove the output lossless.
//!
//! Top-level typed columns are written back in CloudTrail's own form, raw JSON columns are
//! parsed back, and `extra` (which holds every key no column reproduces exactly) goes on top.
//! The result equals the input record as JSON, ignoring key order.

use anyhow::{Context, Result, bail};
use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMillisecondType;
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use crate::schema::{BoolForm, COLUMNS, Derived, Kind, Source};
use crate::time;

/// The record of row `row` of `batch` (a batch of the one schema).
pub fn rebuild(batch: &RecordBatch, row: usize) -> Result<Value> {
    let mut out = Map::new();
    let mut extra = None;
    for (i, column) in COLUMNS.iter().enumerate() {
        let array = batch.column(i);
        if array.is_null(row) {
            continue;
        }
        match column.source {
            Source::Top(key, form) => {
                let value = match column.kind {
                    Kind::Text => Value::String(array.as_string::<i32>().value(row).to_owned()),
                    Kind::Bool => {
                        let b = array.as_boolean().value(row);
                        match form {
                            BoolForm::Native => Value::Bool(b),
                            BoolForm::String => Value::String(b.to_string()),
                        }
                    }
                    Kind::Timestamp => Value::String(time::render(
                        array.as_primitive::<TimestampMillisecondType>().value(row),
                    )),
                    other => bail!("top-level column {} has kind {other:?}", column.name),
                };
                out.insert(key.to_owned(), value);
            }
            Source::Raw(key) => {
                let text = array.as_string::<i32>().value(row);
                let value = serde_json::from_str(text)
                    .with_context(|| format!("column {} holds invalid JSON", column.name))?;
                out.insert(key.to_owned(), value);
            }
            Source::Derived(Derived::Extra) => {
                extra = Some(array.as_string::<i32>().value(row));
            }
            _ => {}
        }
    }
    if let Some(text) = extra {
        let Value::Object(fields) = serde_json::from_str(text).context("extra is invalid JSON")?
        else {
            bail!("extra is not a JSON object");
        };
        out.extend(fields);
    }
    Ok(Value::Object(out))
}
