//! `hsmtrail compact`: each partition's files merged into files of a target size, sorted by
//! event time and de-duplicated by event ID, swapped in so that readers see the old set or the
//! new one.
//!
//! Daily incremental runs leave one small file per partition per run; engines pay per file.
//! Every file hsmtrail writes is sorted, so a partition is merged as a stream (one batch per
//! file in memory) with the same k-way merge conversion uses.
//!
//! Compaction touches nothing but the Parquet files it merges, in the partition it merges.
//!
//! The swap: locally, when a partition folder holds nothing but the files merged, the new files
//! are written into a hidden folder beside it, which is then exchanged with the partition
//! folder in one `renameat2(RENAME_EXCHANGE)` call (atomic on Linux), and the old folder, now
//! hidden, is removed: readers see the old set or the new one. A folder that holds anything
//! else (the output's top folder with `--partition-by none`, which also holds `_hsmtrail/`,
//! or files of the user's) keeps it: the new files are renamed in beside the old ones, which
//! are then removed, so a reader in that moment can see both. S3 has no atomic operation on
//! several objects: the new objects are uploaded complete, then the old ones deleted in one
//! bulk request, likewise. A rerun merges both sets again, dropping the duplicates.
//!
//! A local compaction holds the output lock ([`OutputLock`]), so it waits for a conversion
//! writing into the output and the other way round.

use crate::progress::Progress;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde::Serialize;

use crate::output::destination::{DataFile, Destination, OutputLocation};
use crate::output::lock::OutputLock;
use crate::output::merge::{self, Run};
use crate::output::table::Table;
use crate::output::{self, Compression, writer::ParallelWriter};
use crate::remote::S3Options;

/// What compaction should do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Roughly the size of each file written, in bytes.
    pub target_bytes: u64,
    pub compression: Compression,
}

/// What compaction did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub partitions: u64,
    /// Partitions left alone: already one file.
    pub compact_already: u64,
    pub files_before: u64,
    pub files_after: u64,
    pub rows: u64,
    pub duplicates: u64,
}

impl Summary {
    pub fn to_text(&self) -> String {
        use crate::convert::plural;
        let rewritten = self.partitions - self.compact_already;
        let mut text = format!(
            "hsmtrail compact: {} ({} already compact): {} -> {}",
            plural(self.partitions, "partition", "partitions"),
            self.compact_already,
            plural(self.files_before, "file", "files"),
            plural(self.files_after, "file", "files"),
        );
        if rewritten > 0 {
            text.push_str(&format!(
                "; {} rewritten with {}, {} dropped",
                plural(rewritten, "partition", "partitions"),
                plural(self.rows, "row", "rows"),
                plural(self.duplicates, "duplicate", "duplicates"),
            ));
        }
        text.push('\n');
        text
    }
}

const STAGING_PREFIX: &str = ".hsmtrail-compact-";

/// Suffix of compacted files until they are complete and moved into place.
const UNFINISHED: &str = ".tmp";

/// Compacts the output at `location`: a directory, or `s3://bucket/prefix/`.
pub fn run_at(
    location: &str,
    s3: &S3Options,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Summary> {
    let location = OutputLocation::parse(location)?;
    if let OutputLocation::Folder(dir) = &location
        && !dir.is_dir()
    {
        bail!("{} is not a directory", dir.display());
    }
    let remote = location.client(s3)?;
    run(
        &Destination::open(&location, remote.as_ref())?,
        opts,
        progress,
    )
}

/// Compacts every partition of the output.
pub fn run(dest: &Destination, opts: &Options, progress: &dyn Progress) -> Result<Summary> {
    let _lock = match dest.local_folder() {
        None => None,
        Some(dir) => {
            let lock = OutputLock::acquire(dir, || progress.waiting(dir))?;
            // Under the lock nobody else is writing: what is left over was killed.
            remove_leftovers(dir)?;
            crate::output::lock::Owned::remove_stale(dir, crate::convert::SPILL_PREFIX)?;
            Some(lock)
        }
    };
    let mut partitions: BTreeMap<String, Vec<DataFile>> = BTreeMap::new();
    for file in dest.all_data_files()? {
        partitions
            .entry(dest.partition_of(&file))
            .or_default()
            .push(file);
    }
    if partitions.is_empty() {
        bail!(
            "{} holds no Parquet data files (is it the --output of a conversion?)",
            dest.display()
        );
    }
    // A file that is not hsmtrail's stops the compaction before anything is rewritten.
    partitions
        .keys()
        .collect::<Vec<_>>()
        .par_iter()
        .try_for_each(|partition| dest.check_data_files(partition))?;
    let run_id = crate::convert::new_run_id();
    let results: Vec<Summary> = partitions
        .into_par_iter()
        .map(|(partition, files)| compact_partition(dest, opts, &partition, files, &run_id))
        .collect::<Result<_>>()?;
    let mut total = Summary::default();
    for r in results {
        total.partitions += 1;
        total.compact_already += r.compact_already;
        total.files_before += r.files_before;
        total.files_after += r.files_after;
        total.rows += r.rows;
        total.duplicates += r.duplicates;
    }
    Ok(total)
}

fn compact_partition(
    dest: &Destination,
    opts: &Options,
    partition: &str,
    files: Vec<DataFile>,
    run_id: &str,
) -> Result<Summary> {
    let mut summary = Summary {
        files_before: files.len() as u64,
        ..Summary::default()
    };
    // Compact already when at most one file is under the target: compaction rolls over to a
    // new file once a file reaches the target, so only its last file is smaller. (A partition
    // of big files with one late small file is left as it is rather than rewritten whole.)
    let small = files
        .iter()
        .filter(|f| f.size() < opts.target_bytes)
        .count();
    if files.len() <= 1 || small <= 1 {
        summary.compact_already = 1;
        summary.files_after = files.len() as u64;
        return Ok(summary);
    }
    let folder = dest.work_dir().join(partition);
    // Exchanged whole only when the folder holds nothing but the files merged.
    let exchange_folder = dest.can_swap(partition, &files)?;
    let staging_parent = match folder.parent() {
        Some(parent) if exchange_folder => parent.to_path_buf(),
        _ => folder.clone(),
    };
    std::fs::create_dir_all(&staging_parent)?;
    let leaf = partition.rsplit('/').next().unwrap_or(partition);
    let staging = tempfile::Builder::new()
        .prefix(&format!("{STAGING_PREFIX}{leaf}-"))
        .tempdir_in(&staging_parent)
        .with_context(|| format!("creating a staging folder in {}", staging_parent.display()))?;
    crate::output::lock::register(staging.path());
    let runs = files
        .iter()
        .map(|file| dest.run_of(file))
        .collect::<Result<Vec<Run>>>()?;
    let table = Table::of_partition(partition);
    let written = write_sized(staging.path(), run_id, table, runs, opts)?;
    summary.rows = written.rows;
    summary.duplicates = written.duplicates as u64;
    summary.files_after = written.files.len() as u64;
    if exchange_folder {
        for name in &written.files {
            let from = staging.path().join(format!("{name}{UNFINISHED}"));
            std::fs::rename(&from, staging.path().join(name))?;
        }
        dest.swap(staging.path(), partition)?;
        // The staging folder's name now holds the old files.
        std::fs::remove_dir_all(staging.path())
            .with_context(|| format!("removing the replaced files of {partition}"))?;
        std::mem::forget(staging);
        return Ok(summary);
    }
    let new_names: HashSet<String> = written
        .files
        .iter()
        .map(|name| dest.name_of(&join(partition, name)))
        .collect();
    for name in &written.files {
        let from = staging.path().join(format!("{name}{UNFINISHED}"));
        let relative = join(partition, name);
        let local = dest.work_dir().join(&relative);
        std::fs::create_dir_all(local.parent().expect("a partition folder"))?;
        std::fs::rename(&from, &local)?;
        output::sync_folder(local.parent().expect("a partition folder"))?;
        dest.publish(&relative)?;
    }
    let old: Vec<DataFile> = files
        .into_iter()
        .filter(|f| !new_names.contains(f.name()))
        .collect();
    dest.remove(&old)?;
    Ok(summary)
}

/// `name` in the partition folder `partition` (`""` for the top of the output).
fn join(partition: &str, name: &str) -> String {
    if partition.is_empty() {
        name.to_owned()
    } else {
        format!("{partition}/{name}")
    }
}

struct Written {
    files: Vec<String>,
    rows: u64,
    duplicates: usize,
}

/// Merges runs into `dir/part-<run>-<n>.parquet` files of about `target_bytes` each.
fn write_sized(
    dir: &Path,
    run_id: &str,
    table: Table,
    runs: Vec<Run>,
    opts: &Options,
) -> Result<Written> {
    let props = output::writer_properties(table, opts.compression);
    let mut files = Vec::new();
    let mut rows = 0u64;
    let mut current: Option<(PathBuf, ParallelWriter<std::fs::File>)> = None;
    let dropped = merge::merge(runs, table, false, merge::EventIds::default(), |batch| {
        if current.is_none() {
            let name = format!("part-{run_id}-{:04}.parquet", files.len());
            // Named `.tmp` while written: readers that glob `**/*.parquet` (DuckDB) look
            // into hidden folders too.
            let path = dir.join(format!("{name}{UNFINISHED}"));
            let file = std::fs::File::create(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            current = Some((
                path,
                ParallelWriter::try_new(file, table.arrow_schema(), props.clone())?,
            ));
            files.push(name);
        }
        let (_, writer) = current.as_mut().expect("just opened");
        writer.write(&batch)?;
        rows += batch.num_rows() as u64;
        if writer.bytes_written() >= opts.target_bytes {
            let (path, writer) = current.take().expect("open");
            finish(path, writer)?;
        }
        Ok(())
    })?;
    if let Some((path, writer)) = current.take() {
        finish(path, writer)?;
    }
    Ok(Written {
        files,
        rows,
        duplicates: dropped.total(),
    })
}

fn finish(path: PathBuf, writer: ParallelWriter<std::fs::File>) -> Result<()> {
    let file = writer.close()?;
    file.sync_all()
        .with_context(|| format!("flushing {}", path.display()))?;
    Ok(())
}

/// Removes what killed runs left: in partition folders, staging folders of a compaction and
/// hidden temporary files of a conversion (under the output lock, no live run has any); in
/// `_rejected/`, temporary files nobody holds locked.
pub fn remove_leftovers(root: &Path) -> Result<()> {
    let walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            // Only into partition folders: not _hsmtrail/, _rejected/ or the user's.
            !e.file_type().is_dir()
                || name.starts_with(STAGING_PREFIX)
                || crate::output::is_partition_folder(&name)
        });
    for entry in walk {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy();
        if entry.file_type().is_dir() && name.starts_with(STAGING_PREFIX) {
            std::fs::remove_dir_all(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        } else if entry.file_type().is_file()
            && entry.depth() > 1
            && name.starts_with(".hsmtrail-")
            && name.ends_with(".tmp")
        {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    // Rejected records are gathered outside the output lock: a temporary file there is a
    // killed run's only if nobody holds it locked.
    let Ok(rejected) = std::fs::read_dir(root.join("_rejected")) else {
        return Ok(());
    };
    for entry in rejected.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(".hsmtrail-") && name.ends_with(".tmp")) {
            continue;
        }
        if let Ok(file) = std::fs::File::open(entry.path())
            && file.try_lock().is_ok()
        {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}
