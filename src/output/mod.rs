//! Writing the output: one Parquet file per partition per run, sorted by event time, free of
//! duplicate event IDs, written under a hidden temporary name and renamed only when complete.

pub mod destination;
pub mod lock;
pub mod merge;
pub mod partition;
pub mod table;
pub mod writer;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{Array, ArrayRef};
use arrow::compute::{
    SortColumn, SortOptions, concat, interleave_record_batch, lexsort_to_indices,
};
use arrow::record_batch::RecordBatch;
use parquet::basic::{Compression as ParquetCompression, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use table::Table;

/// Parquet compression codecs offered on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Compression {
    #[default]
    Zstd,
    Snappy,
    Gzip,
    None,
}

impl Compression {
    fn codec(self) -> ParquetCompression {
        match self {
            Compression::Zstd => ParquetCompression::ZSTD(ZstdLevel::default()),
            Compression::Snappy => ParquetCompression::SNAPPY,
            Compression::Gzip => ParquetCompression::GZIP(Default::default()),
            Compression::None => ParquetCompression::UNCOMPRESSED,
        }
    }
}

/// Rows per row group: large enough for efficient scans and statistics, small enough that the
/// writer's buffered row group stays a few hundred MB at most for wide raw-JSON rows.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Bytes of values a column gathers before it writes a page, and the most its dictionary holds
/// before it falls back to plain values. Each of the 92 columns of the row group being written
/// holds up to this twice over: at parquet-rs's default of 1 MiB the writer added about 100 MiB
/// to a dense conversion's peak; at 128 KiB it peaks 40 MiB lower, as fast, with files as
/// small (smaller pages also let readers skip more by the page index).
pub const PAGE_BYTES: usize = 128 << 10;

/// Upper bound of a row group's size, so that rows with very large raw JSON still make row
/// groups of a size engines split and scan well.
pub const ROW_GROUP_BYTES: usize = 256 << 20;

/// The writer settings of every file hsmtrail writes into `table`.
pub fn writer_properties(table: Table, compression: Compression) -> WriterProperties {
    let schema = table.arrow_schema();
    let event_time = schema
        .index_of(table.time_column())
        .expect("every table has a time column") as i32;
    table
        .unique_columns()
        .into_iter()
        .fold(WriterProperties::builder(), |props, c| {
            props.set_column_dictionary_enabled(ColumnPath::from(c), false)
        })
        .set_compression(compression.codec())
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
        .set_data_page_size_limit(PAGE_BYTES)
        .set_dictionary_page_size_limit(PAGE_BYTES)
        .set_created_by(format!("hsmtrail {}", env!("CARGO_PKG_VERSION")))
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: event_time,
            descending: false,
            nulls_first: false,
        }]))
        .build()
}

/// What writing one partition produced.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    /// `None` when every row was a duplicate and no file was written.
    pub path: Option<PathBuf>,
    pub rows: usize,
    /// Rows not written because their event was there already.
    pub dropped: merge::Dropped,
    pub bytes: u64,
}

/// Writes a partition to `dir/file_name` atomically: its sorted runs merged in event-time
/// order, repeated events (and those in `existing`, already in the output) dropped unless
/// `keep_duplicates`. No file is written when nothing is left to write.
pub fn write_partition(
    dir: &Path,
    file_name: &str,
    table: Table,
    runs: Vec<merge::Run>,
    keep_duplicates: bool,
    existing: merge::EventIds,
    props: &WriterProperties,
) -> Result<WrittenFile> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(file_name);
    let mut rows = 0;
    let mut dropped = merge::Dropped::default();
    let bytes = write_atomically(&path, |file| {
        let mut writer =
            writer::ParallelWriter::try_new(file, table.arrow_schema(), props.clone())?;
        dropped = merge::merge(runs, table, keep_duplicates, existing, |batch| {
            rows += batch.num_rows();
            writer.write(&batch)
        })?;
        if rows == 0 {
            anyhow::bail!(NothingToWrite);
        }
        writer.close()?;
        Ok(())
    });
    match bytes {
        Ok(bytes) => Ok(WrittenFile {
            path: Some(path),
            rows,
            dropped,
            bytes,
        }),
        Err(e) if e.downcast_ref::<NothingToWrite>().is_some() => Ok(WrittenFile {
            path: None,
            rows,
            dropped,
            bytes: 0,
        }),
        Err(e) => Err(e),
    }
}

/// A partition whose rows were all duplicates: no file is written.
#[derive(Debug, thiserror::Error)]
#[error("no rows to write")]
struct NothingToWrite;

/// One partition's rows as a sorted run, in the order they are written: by event time, then
/// event ID, missing IDs last, then the table's context column (set first) and the source
/// file (for a deterministic order, and so the copy kept of an event in two files). Repeated IDs are dropped later, by
/// [`merge::merge`]. Only the two key columns are gathered to sort; the rows themselves are
/// copied once, a chunk at a time as the run is read, so sorting never holds a second copy
/// of the partition.
pub fn sorted_run(batches: Vec<RecordBatch>) -> Result<merge::Run> {
    let Some(first) = batches.first() else {
        return Ok(Box::new(std::iter::empty()));
    };
    let table = Table::of_schema(&first.schema());
    let schema = table.arrow_schema();
    let key = |name: &str| -> Result<ArrayRef> {
        let column = schema.index_of(name)?;
        let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(column).as_ref()).collect();
        Ok(concat(&arrays)?)
    };
    let options = Some(SortOptions {
        descending: false,
        nulls_first: false,
    });
    // The context columns by whether they are set, not by value: as the k-way merge
    // compares them (`merge::SortKey`), so that the copy kept does not depend on how the rows
    // were split into runs.
    let mut keys = vec![key(table.time_column())?, key(table.id_column())?];
    for name in table.context_columns() {
        keys.push(Arc::new(arrow::compute::is_null(&key(name)?)?));
    }
    keys.push(key(Table::TIE_COLUMN)?);
    let keys: Vec<SortColumn> = keys
        .into_iter()
        .map(|values| SortColumn { values, options })
        .collect();
    let order = lexsort_to_indices(&keys, None)?;
    // Position in the concatenated keys -> (batch, row).
    let mut locate = Vec::with_capacity(order.len());
    for (b, batch) in batches.iter().enumerate() {
        locate.extend((0..batch.num_rows()).map(|row| (b, row)));
    }
    let picks: Vec<(usize, usize)> = order.values().iter().map(|&i| locate[i as usize]).collect();
    let chunks = picks
        .chunks(merge::MERGE_BATCH_ROWS)
        .map(<[_]>::to_vec)
        .collect::<Vec<_>>();
    Ok(Box::new(chunks.into_iter().map(move |chunk| {
        let sources: Vec<&RecordBatch> = batches.iter().collect();
        Ok(interleave_record_batch(&sources, &chunk)?)
    })))
}

/// How hsmtrail reads its data files: from the Parquet schema, without decoding the Arrow
/// schema embedded in the footer, which in a damaged file can panic arrow-ipc; [`conform`]
/// then gives the columns their exact types.
pub fn reader_options() -> parquet::arrow::arrow_reader::ArrowReaderOptions {
    parquet::arrow::arrow_reader::ArrowReaderOptions::new().with_skip_arrow_metadata(true)
}

/// A batch read from a data file, as a batch of its table's schema: files of older hsmtrail
/// versions may lack newer columns, which come back null.
pub fn conform(batch: RecordBatch, table: Table) -> Result<RecordBatch> {
    let schema = table.arrow_schema();
    if batch.schema() == schema {
        return Ok(batch);
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) if column.data_type() == field.data_type() => Ok(column.clone()),
            // Read without the embedded Arrow schema, a timestamp's zone or a list's item name
            // is spelled differently; the values are the same.
            Some(column) => arrow::compute::cast(column, field.data_type()).with_context(|| {
                format!(
                    "column {} is {}, not {}",
                    field.name(),
                    column.data_type(),
                    field.data_type()
                )
            }),
            None => Ok(arrow::array::new_null_array(
                field.data_type(),
                batch.num_rows(),
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Writes a file under a hidden temporary name in the same directory, flushes it to disk and
/// renames it into place, so readers see either no file or the complete one. On any error (or
/// an interruption, see [`lock::cleanup`]) the temporary file is removed. Returns the file's
/// size.
pub fn write_atomically(path: &Path, fill: impl FnOnce(&mut File) -> Result<()>) -> Result<u64> {
    write_atomically_with_mode(path, None, fill)
}

/// [`write_atomically`], the file getting `mode` rather than what the umask gives.
fn write_atomically_with_mode(
    path: &Path,
    mode: Option<u32>,
    fill: impl FnOnce(&mut File) -> Result<()>,
) -> Result<u64> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = temporary_in(dir)?;
    fill(temp.as_file_mut()).with_context(|| format!("writing {}", path.display()))?;
    temp.as_file_mut().flush()?;
    let bytes = temp.as_file().metadata()?.len();
    persist_with_mode(temp, path, mode.unwrap_or(0o666 & !umask()))?;
    Ok(bytes)
}

/// Writes a file the user named (`report --output`): through a symbolic link to its target,
/// which stays a link; straight into a special file (`/dev/stdout`, a named pipe), which
/// cannot be replaced; and atomically (see [`write_atomically`]) into a regular file.
pub fn write_user_file(path: &Path, fill: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        anyhow::bail!(
            "{}: the folder {} does not exist",
            path.display(),
            folder.display()
        );
    }
    // Where the link chain leads, one link at a time (so that a dangling link still names
    // where to write, and `/dev/stdout` is seen to be standard output).
    let mut target = path.to_path_buf();
    for _ in 0..40 {
        if let Some(stream) = standard_stream(&target) {
            // The stream itself, sharing its offset and append mode: a file that standard
            // output was redirected to is written at its end, never replaced.
            let mut file = File::from(stream?);
            return fill(&mut ReaderAware(&mut file));
        }
        match fs::symlink_metadata(&target) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&target)?;
                target = match target.parent() {
                    Some(dir) => dir.join(link),
                    None => link,
                };
            }
            _ => break,
        }
    }
    match fs::metadata(&target) {
        Ok(meta) if meta.is_dir() => anyhow::bail!("{} is a folder, not a file", path.display()),
        Ok(meta) if !meta.is_file() => {
            let mut file = fs::OpenOptions::new().write(true).open(&target)?;
            fill(&mut file)
        }
        // A file replaced keeps its permissions; a new one gets the umask's.
        Ok(meta) => {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o7777;
            write_atomically_with_mode(&target, Some(mode), |file| fill(file)).map(|_| ())
        }
        Err(_) => write_atomically(&target, |file| fill(file)).map(|_| ()),
    }
}

/// A duplicate of standard output or error when `path` names it (`/dev/stdout`,
/// `/proc/self/fd/1`, `/dev/fd/2`, ...).
fn standard_stream(path: &Path) -> Option<std::io::Result<std::os::fd::OwnedFd>> {
    use std::os::fd::AsFd;
    let text = path.to_str()?;
    let fd = match text {
        "/dev/stdout" => 1,
        "/dev/stderr" => 2,
        _ => text
            .strip_prefix("/proc/self/fd/")
            .or_else(|| text.strip_prefix("/dev/fd/"))?
            .parse::<u8>()
            .ok()?,
    };
    match fd {
        1 => Some(std::io::stdout().as_fd().try_clone_to_owned()),
        2 => Some(std::io::stderr().as_fd().try_clone_to_owned()),
        _ => None,
    }
}

/// Set once a write found its reader gone (a closed pipe).
static READER_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a write found its reader gone: `hsmtrail report changes | head -3` then ends
/// quietly with exit code 0, as ripgrep does.
pub fn reader_gone() -> bool {
    READER_GONE.load(std::sync::atomic::Ordering::Relaxed)
}

/// A writer that notes a closed pipe ([`reader_gone`]) before passing the error on, which
/// libraries may turn into text.
pub struct ReaderAware<W>(pub W);

impl<W> ReaderAware<W> {
    fn noted<T>(result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            READER_GONE.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }
}

impl<W: Write> Write for ReaderAware<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Self::noted(self.0.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Self::noted(self.0.flush())
    }
}

/// A hidden temporary file in `dir` (`.hsmtrail-*.tmp`, which readers skip), removed if the
/// run is interrupted; finish it with [`persist`].
pub fn temporary_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
    let temp = tempfile::Builder::new()
        .prefix(".hsmtrail-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    lock::register(temp.path());
    Ok(temp)
}

/// Puts a finished temporary file in place: on disk (fsync), with the permissions the user's
/// umask gives new files (temporary files are made private), renamed over `path`, and the
/// rename itself made durable by syncing the folder, so a power cut cannot lose it.
pub fn persist(temp: tempfile::NamedTempFile, path: &Path) -> Result<File> {
    persist_with_mode(temp, path, 0o666 & !umask())
}

fn persist_with_mode(temp: tempfile::NamedTempFile, path: &Path, mode: u32) -> Result<File> {
    use std::os::unix::fs::PermissionsExt;
    let temp_path = temp.path().to_path_buf();
    temp.as_file().sync_all()?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the permissions of {}", path.display()))?;
    let file = temp
        .persist(path)
        .with_context(|| format!("renaming the finished file to {}", path.display()))?;
    lock::unregister(&temp_path);
    sync_folder(path.parent().unwrap_or(Path::new(".")))?;
    Ok(file)
}

/// Makes the entries of a folder (a rename into it) durable.
pub fn sync_folder(dir: &Path) -> Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing the folder {}", dir.display()))
}

/// The process's umask, read once from `/proc/self/status` (setting it to read it back would
/// race with threads creating files); 022 where that is not available.
fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            .unwrap_or(0o022)
    })
}

/// Whether a file or folder name is one readers skip: hidden (`.`: temporary and spill files)
/// or metadata (`_`: `_hsmtrail/`, `_rejected/`), as Athena, Spark and Hive do.
pub fn is_skipped_name(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.starts_with('.') || n.starts_with('_'))
}

/// Whether a path under an output folder (its components, outermost first) is the output's
/// own: hidden or metadata (`.hsmtrail-*`, `_hsmtrail/`, `_rejected/`), a partition folder
/// (`event_date=...`, `account=...`, ...), the audit table's `hsm_audit/` partition folders, or
/// a Parquet file at its top (`--partition-by none`).
/// Anything else in it (trail files the output was placed beside) is input like any other.
pub fn is_output_entry(parts: &[&str]) -> bool {
    let Some(first) = parts.first() else {
        return false;
    };
    first.starts_with('.')
        || first.starts_with('_')
        || is_partition_folder(first)
        || *first == crate::audit::TABLE_FOLDER
            && parts.get(1).is_some_and(|p| is_partition_folder(p))
        || parts.len() == 1 && first.ends_with(".parquet")
}

/// Whether a folder name is a partition folder's (`event_date=...`, `account=...`).
pub fn is_partition_folder(name: &str) -> bool {
    partition::PartitionField::of_folder_name(name).is_some()
}

/// Removes the partition directories under `root` left empty (after `--overwrite` removed
/// older files); directories whose names start with `_` or `.` (our metadata, rejected
/// records, temporary files) are left alone.
pub fn remove_empty_partitions(root: &Path) -> Result<()> {
    // Partition folders only: a folder of the user's is never touched, empty or not.
    let ours = |e: &walkdir::DirEntry| {
        let name = e.file_name().to_str();
        e.depth() == 0
            || e.file_type().is_dir()
                && (name.is_some_and(is_partition_folder)
                    || e.depth() == 1 && name == Some(crate::audit::TABLE_FOLDER))
    };
    let mut dirs = Vec::new();
    for entry in walkdir::WalkDir::new(root).into_iter().filter_entry(ours) {
        let entry = entry?;
        if entry.file_type().is_dir() && entry.depth() > 0 {
            dirs.push((entry.depth(), entry.into_path()));
        }
    }
    // Deepest first, so emptied parents go too; only empty directories can be removed.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    for (_, dir) in dirs {
        let _ = fs::remove_dir(dir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_leaves_no_temporary_on_error() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.parquet");
        let err = write_atomically(&target, |f| {
            f.write_all(b"partial")?;
            anyhow::bail!("disk on fire")
        });
        assert!(err.is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomically(&target, |f| Ok(f.write_all(b"done")?)).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"done");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
