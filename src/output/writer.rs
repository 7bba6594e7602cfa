//! A Parquet writer that encodes the columns of each batch in parallel.
//!
//! A day's partition of one account is often the whole run's output, so writing it with one
//! thread (as `ArrowWriter` does) left every other core idle for a third of a conversion.
//! Columns are independent until a row group is closed, so each is encoded by its own rayon
//! task; the chunks are then appended to the row group in schema order, which gives the same
//! file layout `ArrowWriter` would write.

use std::io::Write;

use anyhow::Result;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

/// Writes record batches as row groups of at most `max_rows` rows (or about `max_bytes` of
/// encoded data), with each batch's columns encoded in parallel.
pub struct ParallelWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// The current row group's column writers, made when its first rows come: each holds a
    /// compressor, and a file's last row group has no successor to make them for.
    columns: Option<Vec<ArrowColumnWriter>>,
    rows_in_group: usize,
    row_groups: usize,
    max_rows: usize,
    max_bytes: usize,
}

impl<W: Write + Send> ParallelWriter<W> {
    /// A writer of `schema` to `sink`. `ArrowWriter` sets the file up, so the file carries the
    /// same Arrow schema metadata and properties as one it writes.
    pub fn try_new(sink: W, schema: SchemaRef, props: WriterProperties) -> Result<Self> {
        let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX);
        let max_bytes = props.max_row_group_bytes().unwrap_or(usize::MAX);
        let (file, factory) =
            ArrowWriter::try_new(sink, schema.clone(), Some(props))?.into_serialized_writer()?;
        Ok(ParallelWriter {
            file,
            factory,
            schema,
            columns: None,
            rows_in_group: 0,
            row_groups: 0,
            max_rows,
            max_bytes,
        })
    }

    /// Appends a batch, closing row groups as they fill.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut start = 0;
        while start < batch.num_rows() {
            let take = (self.max_rows - self.rows_in_group).min(batch.num_rows() - start);
            self.encode(&batch.slice(start, take))?;
            start += take;
            if self.rows_in_group >= self.max_rows || self.encoded_bytes() >= self.max_bytes {
                self.close_row_group()?;
            }
        }
        Ok(())
    }

    fn encode(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut leaves = Vec::new();
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            leaves.extend(compute_leaves(field, column)?);
        }
        let columns = match &mut self.columns {
            Some(columns) => columns,
            None => self
                .columns
                .insert(self.factory.create_column_writers(self.row_groups)?),
        };
        columns
            .par_iter_mut()
            .zip(leaves.par_iter())
            .try_for_each(|(writer, leaf)| writer.write(leaf))?;
        self.rows_in_group += batch.num_rows();
        Ok(())
    }

    fn encoded_bytes(&self) -> usize {
        self.columns
            .iter()
            .flatten()
            .map(ArrowColumnWriter::get_estimated_total_bytes)
            .sum()
    }

    fn close_row_group(&mut self) -> Result<()> {
        let Some(columns) = self.columns.take() else {
            return Ok(());
        };
        self.row_groups += 1;
        let chunks: Vec<ArrowColumnChunk> = columns
            .into_par_iter()
            .map(ArrowColumnWriter::close)
            .collect::<Result<_, _>>()?;
        let mut group = self.file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut group)?;
        }
        group.close()?;
        self.rows_in_group = 0;
        Ok(())
    }

    /// Bytes of the file so far: row groups written plus the current one's encoded data.
    pub fn bytes_written(&self) -> u64 {
        (self.file.bytes_written() + self.encoded_bytes()) as u64
    }

    /// Closes the last row group, writes the footer and returns the sink.
    pub fn close(mut self) -> Result<W> {
        self.close_row_group()?;
        Ok(self.file.into_inner()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, ListBuilder, StringArray, StringBuilder};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::sync::Arc;

    #[test]
    fn writes_what_arrow_writer_would_in_row_groups() {
        let list = Field::new_list("tags", Field::new("element", DataType::Utf8, true), true);
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
            list,
        ]));
        let batch = |from: i64, rows: i64| {
            let mut tags = ListBuilder::new(StringBuilder::new()).with_field(Field::new(
                "element",
                DataType::Utf8,
                true,
            ));
            for i in from..from + rows {
                tags.values().append_value(format!("t{i}"));
                tags.append(i % 3 != 0);
            }
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(from..from + rows)),
                Arc::new(StringArray::from_iter(
                    (from..from + rows).map(|i| (i % 2 == 0).then(|| i.to_string())),
                )),
                Arc::new(tags.finish()),
            ];
            RecordBatch::try_new(schema.clone(), columns).unwrap()
        };
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(1000))
            .build();
        let mut out = tempfile::tempfile().unwrap();
        let mut writer = ParallelWriter::try_new(&mut out, schema.clone(), props).unwrap();
        let input = [batch(0, 700), batch(700, 700), batch(1400, 5)];
        for b in &input {
            writer.write(b).unwrap();
        }
        writer.close().unwrap();

        let reader = ParquetRecordBatchReaderBuilder::try_new(out).unwrap();
        let groups: Vec<i64> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(groups, [1000, 405]);
        assert_eq!(reader.schema(), &schema, "the Arrow schema is kept");
        let read: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
        let all = arrow::compute::concat_batches(&schema, &read).unwrap();
        let expected = arrow::compute::concat_batches(&schema, &input).unwrap();
        assert_eq!(all, expected);
    }
}
