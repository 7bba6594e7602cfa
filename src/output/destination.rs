//! Where finished files end up: the output directory itself, or an S3 prefix.
//!
//! Files are always written locally first (atomically, under a hidden temporary name); for an
//! S3 output the local directory is a staging folder and each finished file is uploaded with a
//! multipart upload, which S3 makes visible only once complete, then removed locally. So at most
//! one finished file per worker waits on local disk, and readers of the bucket never see a
//! partial object.
//!
//! Event IDs already in an S3 partition are read from whole downloaded files (a partition file
//! is bounded by `hsmtrail compact`'s target size); ranged reads of the one column would cost
//! less transfer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};

use crate::output::merge::{EventIds, dedup_key};
use crate::output::{
    conform, is_partition_folder, is_skipped_name, reader_options, write_atomically,
};
use crate::remote::{Remote, S3Url};
use crate::schema;

/// The output of a run.
#[derive(Clone, Copy)]
pub struct Destination<'a> {
    /// Where files are written: the output directory, or the staging folder of an S3 output.
    pub local: &'a Path,
    /// The S3 output and its client.
    pub s3: Option<(&'a S3Url, &'a Remote)>,
}

impl Destination<'_> {
    /// How the output is named in messages and the summary.
    pub fn display(&self) -> String {
        match self.s3 {
            Some((url, _)) => url.to_string(),
            None => self.local.display().to_string(),
        }
    }

    /// The final name of a file at `relative` (a `/`-separated path under the output).
    pub fn name_of(&self, relative: &str) -> String {
        match self.s3 {
            Some((url, _)) => url.url_of(&url.key(relative)),
            None => self.local.join(relative).display().to_string(),
        }
    }

    /// Moves a finished local file at `relative` to its place: already there for a local
    /// output; uploaded and then removed locally for S3.
    pub fn publish(&self, relative: &str) -> Result<()> {
        let Some((url, remote)) = self.s3 else {
            return Ok(());
        };
        let local = self.local.join(relative);
        remote.upload(&local, &url.bucket, &url.key(relative))?;
        std::fs::remove_file(&local)
            .with_context(|| format!("removing the uploaded {}", local.display()))?;
        Ok(())
    }

    /// Writes a small file (state, table definitions) in one step: renamed into place
    /// locally, one PUT for S3.
    pub fn write_small(&self, relative: &str, bytes: &[u8]) -> Result<()> {
        match self.s3 {
            Some((url, remote)) => remote.put(&url.bucket, &url.key(relative), bytes.to_vec()),
            None => {
                let path = self.local.join(relative);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                write_atomically(&path, |f| Ok(std::io::Write::write_all(f, bytes)?))?;
                Ok(())
            }
        }
    }

    /// The content of the small file at `relative`, or `None` when there is none.
    pub fn read_small(&self, relative: &str) -> Result<Option<Vec<u8>>> {
        match self.s3 {
            Some((url, remote)) => Ok(remote
                .get_if_exists(&url.bucket, &url.key(relative))?
                .map(|b| b.to_vec())),
            None => {
                let path = self.local.join(relative);
                match std::fs::read(&path) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
                }
            }
        }
    }

    /// The contents of the files directly in the folder `relative`, by name.
    pub fn read_folder(&self, relative: &str) -> Result<Vec<(String, Vec<u8>)>> {
        match self.s3 {
            Some((url, remote)) => {
                let prefix = format!("{}/", url.key(relative));
                let mut files = Vec::new();
                for meta in remote.list_all(&url.bucket, &prefix)? {
                    let key = meta.location.to_string();
                    let bytes = remote.get(&url.bucket, &key)?;
                    files.push((key, bytes.to_vec()));
                }
                Ok(files)
            }
            None => {
                let mut files = Vec::new();
                for path in files_in(&self.local.join(relative))? {
                    if !path.file_name().is_some_and(is_skipped_name) {
                        let bytes = std::fs::read(&path)
                            .with_context(|| format!("reading {}", path.display()))?;
                        files.push((path.display().to_string(), bytes));
                    }
                }
                Ok(files)
            }
        }
    }

    /// Removes the files directly in the folder `relative` (none there is no error).
    pub fn remove_folder_files(&self, relative: &str) -> Result<()> {
        match self.s3 {
            Some((url, remote)) => {
                let prefix = format!("{}/", url.key(relative));
                let keys: Vec<String> = remote
                    .list_all(&url.bucket, &prefix)?
                    .into_iter()
                    .map(|m| m.location.to_string())
                    .collect();
                remote.delete(&url.bucket, &keys)
            }
            None => {
                for path in files_in(&self.local.join(relative))? {
                    std::fs::remove_file(&path)
                        .with_context(|| format!("removing {}", path.display()))?;
                }
                Ok(())
            }
        }
    }

    /// The data files (Parquet, not hidden, not metadata) directly in a partition folder, as
    /// (final name, size).
    pub fn data_files(&self, partition: &str) -> Result<Vec<DataFile>> {
        let mut files: Vec<DataFile> = match self.s3 {
            Some((url, remote)) => {
                let prefix = format!("{}/", url.key(partition));
                remote
                    .list_all(&url.bucket, &prefix)?
                    .into_iter()
                    .map(|m| (m.location.to_string(), m.size))
                    .filter(|(key, _)| key[prefix.len()..].split('/').count() == 1)
                    .filter(|(key, _)| is_data_name(key.rsplit('/').next().unwrap_or("")))
                    .map(|(key, size)| DataFile::Object {
                        key,
                        size,
                        bucket: url.bucket.clone(),
                    })
                    .collect()
            }
            None => files_in(&self.local.join(partition))?
                .into_iter()
                .filter(|p| is_data_name(p.file_name().and_then(|n| n.to_str()).unwrap_or("")))
                .map(DataFile::Local)
                .collect(),
        };
        files.sort_by_key(DataFile::name);
        Ok(files)
    }

    /// The [`dedup_key`]s of the rows already written in a partition folder: from the
    /// `event_id` column alone, and from whole rows only in a file that holds rows without an
    /// ID (the oldest records).
    pub fn existing_ids(&self, partition: &str) -> Result<EventIds> {
        let mut ids = EventIds::default();
        for file in self.data_files(partition)? {
            let mut without_id = false;
            for batch in self.read_columns(&file, &["event_id"])? {
                let column = event_ids_of(&batch, &file)?;
                for i in 0..column.len() {
                    if column.is_valid(i) && !column.value(i).is_empty() {
                        ids.insert(column.value(i).to_owned());
                    } else {
                        without_id = true;
                    }
                }
            }
            if without_id {
                for batch in self.read_columns(&file, &[])? {
                    let batch = conform(batch)
                        .with_context(|| format!("{} does not match the schema", file.name()))?;
                    let column = batch
                        .column(schema::index_of("event_id"))
                        .as_string::<i32>();
                    for i in 0..batch.num_rows() {
                        if column.is_null(i) || column.value(i).is_empty() {
                            ids.extend(dedup_key(&batch, column, i));
                        }
                    }
                }
            }
        }
        Ok(ids)
    }

    /// Checks, from their footers alone, that every data file in a partition folder can be
    /// read for its event IDs, so that a run refuses a foreign or damaged file before it writes
    /// anything rather than after some partitions.
    ///
    /// A local file's `event_id` and `event_time` columns are also read through, so that a file
    /// damaged past its footer is refused before anything is written too. (Objects are not:
    /// that would fetch each twice.)
    pub fn check_data_files(&self, partition: &str) -> Result<()> {
        for file in self.data_files(partition)? {
            self.check_footer(&file)?;
            if let DataFile::Local(_) = file {
                self.read_columns(&file, &["event_id", "event_time"])?;
            }
        }
        Ok(())
    }

    /// Checks from its footer alone that a data file is hsmtrail's (see [`check_key_columns`]).
    pub fn check_footer(&self, file: &DataFile) -> Result<()> {
        let schema = self
            .footer_schema(file)
            .with_context(|| format!("{}: not a readable Parquet file", file.name()))?;
        check_key_columns(&schema, file)
    }

    /// The Arrow schema of a data file, from its footer (a ranged read for an object).
    fn footer_schema(&self, file: &DataFile) -> Result<arrow::datatypes::SchemaRef> {
        let metadata = match file {
            DataFile::Local(path) => ParquetMetaDataReader::new().parse_and_finish(
                &std::fs::File::open(path)
                    .with_context(|| format!("opening {}", path.display()))?,
            )?,
            DataFile::Object { bucket, key, size } => {
                let (_, remote) = self.s3.expect("objects come from an S3 output");
                let tail_at = size.checked_sub(8).context("too short for Parquet")?;
                let tail = remote.get_range(bucket, key, tail_at..*size)?;
                let length = FooterTail::try_from(tail.as_ref())?.metadata_length() as u64;
                let start = tail_at
                    .checked_sub(length)
                    .context("footer longer than the file")?;
                ParquetMetaDataReader::decode_metadata(&remote.get_range(
                    bucket,
                    key,
                    start..tail_at,
                )?)?
            }
        };
        // From the Parquet schema alone: the embedded Arrow schema is not decoded (a damaged
        // one panics in arrow-ipc).
        let file_metadata = metadata.file_metadata();
        Ok(Arc::new(parquet::arrow::parquet_to_arrow_schema(
            file_metadata.schema_descr(),
            None,
        )?))
    }

    /// Reads some columns (all when `columns` is empty) of a data file.
    pub fn read_columns(
        &self,
        file: &DataFile,
        columns: &[&str],
    ) -> Result<Vec<arrow::record_batch::RecordBatch>> {
        let projection = |schema: &parquet::schema::types::SchemaDescriptor| {
            if columns.is_empty() {
                ProjectionMask::all()
            } else {
                ProjectionMask::columns(schema, columns.iter().copied())
            }
        };
        let read = || -> Result<Vec<_>> {
            match file {
                DataFile::Local(path) => {
                    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(
                        std::fs::File::open(path)?,
                        reader_options(),
                    )?;
                    let mask = projection(builder.parquet_schema());
                    Ok(builder
                        .with_projection(mask)
                        .build()?
                        .collect::<Result<_, _>>()?)
                }
                DataFile::Object { bucket, key, .. } => {
                    // Fetched whole: partition files are bounded by compaction's target size.
                    let (_, remote) = self.s3.expect("objects come from an S3 output");
                    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(
                        remote.get(bucket, key)?,
                        reader_options(),
                    )?;
                    let mask = projection(builder.parquet_schema());
                    Ok(builder
                        .with_projection(mask)
                        .build()?
                        .collect::<Result<_, _>>()?)
                }
            }
        };
        read().with_context(|| format!("reading {}", file.name()))
    }

    /// Removes data files; a missing one is not an error. Objects go in bulk deletes.
    pub fn remove(&self, files: &[DataFile]) -> Result<()> {
        let mut objects: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for file in files {
            match file {
                DataFile::Local(path) => match std::fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("removing {}", path.display()));
                    }
                },
                DataFile::Object { bucket, key, .. } => {
                    objects.entry(bucket).or_default().push(key.clone());
                }
            }
        }
        for (bucket, keys) in objects {
            let (_, remote) = self.s3.expect("objects come from an S3 output");
            remote.delete(bucket, &keys)?;
        }
        Ok(())
    }

    /// Every data file of the output, under any partition.
    pub fn all_data_files(&self) -> Result<Vec<DataFile>> {
        let mut files = Vec::new();
        match self.s3 {
            Some((url, remote)) => {
                let prefix = url.prefix.trim_end_matches('/');
                for meta in remote.list_all(&url.bucket, prefix)? {
                    let key = meta.location.to_string();
                    let relative = key[prefix.len()..].trim_start_matches('/');
                    let parts: Vec<&str> = relative.split('/').collect();
                    if is_data_path(&parts) {
                        files.push(DataFile::Object {
                            bucket: url.bucket.clone(),
                            key,
                            size: meta.size,
                        });
                    }
                }
            }
            None => {
                if !self.local.exists() {
                    return Ok(files);
                }
                // Only partition folders are walked: a folder of the user's in the output (or
                // the input the output was placed in) is none of ours.
                let ours = |e: &walkdir::DirEntry| {
                    e.depth() == 0
                        || !e.file_type().is_dir()
                        || e.file_name().to_str().is_some_and(is_partition_folder)
                };
                for entry in walkdir::WalkDir::new(self.local)
                    .into_iter()
                    .filter_entry(ours)
                {
                    let entry = entry?;
                    let name = entry.file_name().to_str().unwrap_or("");
                    if entry.file_type().is_file() && is_data_name(name) {
                        files.push(DataFile::Local(entry.into_path()));
                    }
                }
            }
        }
        files.sort_by_key(DataFile::name);
        Ok(files)
    }

    /// The partition folder (relative, `/`-separated) of a data file.
    pub fn partition_of(&self, file: &DataFile) -> String {
        let name = match (file, self.s3) {
            (DataFile::Object { key, .. }, Some((url, _))) => key
                [url.prefix.trim_end_matches('/').len()..]
                .trim_start_matches('/')
                .to_owned(),
            (DataFile::Local(path), _) => path
                .strip_prefix(self.local)
                .unwrap_or(path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/"),
            (DataFile::Object { key, .. }, None) => key.clone(),
        };
        name.rsplit_once('/')
            .map(|(dir, _)| dir.to_owned())
            .unwrap_or_default()
    }
}

/// A data file of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataFile {
    Local(PathBuf),
    Object {
        bucket: String,
        key: String,
        size: u64,
    },
}

impl DataFile {
    /// Size in bytes (0 when a local file cannot be read).
    pub fn size(&self) -> u64 {
        match self {
            DataFile::Local(path) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            DataFile::Object { size, .. } => *size,
        }
    }

    pub fn name(&self) -> String {
        match self {
            DataFile::Local(path) => path.display().to_string(),
            DataFile::Object { bucket, key, .. } => format!("s3://{bucket}/{key}"),
        }
    }
}

/// The regular files directly in a folder; none when the folder does not exist.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    Ok(files)
}

/// The `event_id` field of a data file's schema, which must be a string column: anything else
/// is not hsmtrail's output, and reading it would go wrong.
/// Checks the columns de-duplication and merging rely on: a string `event_id` and a
/// millisecond `event_time`. Anything else is not hsmtrail's output, and reading it as such
/// would go wrong.
pub fn check_key_columns(schema: &arrow::datatypes::Schema, file: &DataFile) -> Result<()> {
    use arrow::datatypes::{DataType, TimeUnit};
    let advice = "hsmtrail reads every *.parquet file in a partition folder (to write no event \
                  twice, and to compact): move files of other tools out of the output";
    for (column, fits, wanted) in [
        (
            "event_id",
            (|t: &DataType| *t == DataType::Utf8) as fn(&DataType) -> bool,
            "a string column",
        ),
        (
            "event_time",
            |t: &DataType| matches!(t, DataType::Timestamp(TimeUnit::Millisecond, _)),
            "a timestamp column",
        ),
    ] {
        let field = schema
            .field_with_name(column)
            .map_err(|_| anyhow::anyhow!("{}: has no {column} column; {advice}", file.name()))?;
        if !fits(field.data_type()) {
            anyhow::bail!(
                "{}: its {column} column is {}, not {wanted}; {advice}",
                file.name(),
                field.data_type()
            );
        }
    }
    Ok(())
}

/// The `event_id` column of a batch read with that one column, checked.
fn event_ids_of<'b>(
    batch: &'b arrow::record_batch::RecordBatch,
    file: &DataFile,
) -> Result<&'b arrow::array::StringArray> {
    let column = batch.column_by_name("event_id");
    match column.map(|c| c.data_type()) {
        Some(arrow::datatypes::DataType::Utf8) => Ok(batch.column(0).as_string::<i32>()),
        _ => anyhow::bail!("{}: has no string event_id column", file.name()),
    }
}

/// Whether a path under the output (its components) is a data file: a Parquet file at the top
/// or in partition folders.
fn is_data_path(parts: &[&str]) -> bool {
    match parts.split_last() {
        Some((file, folders)) => {
            is_data_name(file) && folders.iter().all(|f| is_partition_folder(f))
        }
        None => false,
    }
}

fn is_data_name(name: &str) -> bool {
    name.ends_with(".parquet") && !name.starts_with('.') && !name.starts_with('_')
}
