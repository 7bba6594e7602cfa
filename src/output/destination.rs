//! Where the output lives: a folder, or an S3 prefix, both reached through one object_store
//! [`ObjectStore`] (the local file system or S3) and the output's prefix in it. Listing
//! partitions, reading event IDs, reading data files and deleting them take one code path for
//! both; only what truly differs is told apart here:
//!
//! - Files are written locally first, atomically under a hidden temporary name
//!   ([`Destination::work_dir`]). For a folder that is the output itself and a written file is
//!   already in place; for S3 it is a staging folder, and [`Destination::publish`] uploads
//!   each finished file (a multipart upload for data files, one PUT for small metadata files:
//!   S3 shows either only once complete) and removes it locally. So at most one finished file
//!   per worker waits on local disk, and readers of the bucket never see a partial object.
//! - A folder has what a bucket has not: a lock, leftovers of killed runs, and folder swaps
//!   (`renameat2`) for compaction, all reached through [`Destination::local_folder`].
//!
//! Data files are read with ranged reads, so reading a partition's event IDs fetches the
//! footer and the `event_id` column chunk, not the whole file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::{ListResult, ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::filter::EventFilter;
use crate::output::merge::{self, EventIds, dedup_key};
use crate::output::partition::folder_may_hold;
use crate::output::table::Table;
use crate::output::{conform, is_partition_folder, is_skipped_name, reader_options};
use crate::remote::{Remote, S3Url};

/// Where a command writes: a folder, or `s3://bucket/prefix/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputLocation {
    Folder(PathBuf),
    S3(S3Url),
}

impl OutputLocation {
    /// `s3://bucket/prefix` or a folder path.
    pub fn parse(text: &str) -> Result<OutputLocation> {
        match S3Url::parse(text) {
            Some(url) => Ok(OutputLocation::S3(url?)),
            None => Ok(OutputLocation::Folder(PathBuf::from(text))),
        }
    }

    pub fn is_s3(&self) -> bool {
        matches!(self, OutputLocation::S3(_))
    }

    /// The S3 client this location needs, reaching S3 as `s3` says; `None` for a folder.
    pub fn client(&self, s3: &crate::remote::S3Options) -> Result<Option<Arc<Remote>>> {
        self.is_s3()
            .then(|| Remote::new(s3.clone()).map(Arc::new))
            .transpose()
    }
}

impl From<PathBuf> for OutputLocation {
    fn from(path: PathBuf) -> Self {
        OutputLocation::Folder(path)
    }
}

/// The output of a run.
pub struct Destination {
    store: Arc<dyn ObjectStore>,
    /// The output's prefix in the store, as a raw path (no leading `/`; empty for a bucket's
    /// top).
    root: String,
    /// Where files are written before they are published: the output folder as given, or
    /// the staging folder of an S3 output.
    work: PathBuf,
    /// How the output is named to the user: the folder as given, or its `s3://` URL.
    display: String,
    place: Place,
}

/// What differs between a folder and a bucket.
enum Place {
    Folder,
    Bucket {
        url: S3Url,
        remote: Arc<Remote>,
        /// Removed with the destination (by the interrupt handler, or by the next run when
        /// this one is killed); `None` for an output opened only to be read.
        _staging: Option<crate::output::lock::Owned>,
    },
}

/// A location as a listing prefix: `None` for the store's top, which object_store lists
/// without one.
fn prefix(location: &StorePath) -> Option<&StorePath> {
    (!location.as_ref().is_empty()).then_some(location)
}

/// Names of the local staging folders of S3 outputs, in the system's temporary folder.
const STAGING_PREFIX: &str = "hsmtrail-staging-";

/// How a finished file goes to S3.
enum Upload {
    /// One PUT (a small file).
    Whole,
    /// A multipart upload (a data file, which may be large).
    Multipart,
}

/// Folders listed at once when every data file of an S3 output is listed.
const LISTINGS_IN_FLIGHT: usize = 8;

impl Destination {
    /// The output at `location`. An S3 output needs the client `remote`; its staging folder
    /// is created in the system's temporary folder.
    pub fn open(location: &OutputLocation, remote: Option<&Arc<Remote>>) -> Result<Destination> {
        match location {
            OutputLocation::Folder(dir) => Destination::folder(dir),
            OutputLocation::S3(url) => {
                let remote = remote.expect("an S3 output comes with its client");
                // Folders of killed runs (and their spills) would stay in the system's
                // temporary folder for ever: each run removes those no live run holds.
                let temp = std::env::temp_dir();
                crate::output::lock::Owned::remove_stale(&temp, STAGING_PREFIX)?;
                let staging = crate::output::lock::Owned::create(&temp, STAGING_PREFIX)
                    .context("creating a local staging folder for the S3 output")?;
                let mut dest = Destination::bucket(url, remote)?;
                dest.work = staging.path().to_path_buf();
                if let Place::Bucket { _staging, .. } = &mut dest.place {
                    *_staging = Some(staging);
                }
                Ok(dest)
            }
        }
    }

    /// The output at `location`, to be read only (no staging folder: nothing can be
    /// published).
    pub fn for_reading(
        location: &OutputLocation,
        remote: Option<&Arc<Remote>>,
    ) -> Result<Destination> {
        match location {
            OutputLocation::Folder(dir) => Destination::folder(dir),
            OutputLocation::S3(url) => {
                Destination::bucket(url, remote.expect("an S3 output comes with its client"))
            }
        }
    }

    fn bucket(url: &S3Url, remote: &Arc<Remote>) -> Result<Destination> {
        Ok(Destination {
            store: remote.store(&url.bucket)?,
            root: url.prefix.trim_end_matches('/').to_owned(),
            work: PathBuf::new(),
            display: url.to_string(),
            place: Place::Bucket {
                url: url.clone(),
                remote: remote.clone(),
                _staging: None,
            },
        })
    }

    /// The output folder `dir` (which need not exist yet).
    pub fn folder(dir: &Path) -> Result<Destination> {
        let absolute = resolved(dir)?;
        let root = StorePath::from_absolute_path(&absolute)
            .with_context(|| format!("{}: the output folder cannot be named", dir.display()))?;
        Ok(Destination {
            store: Arc::new(LocalFileSystem::new()),
            root: root.as_ref().to_owned(),
            work: dir.to_path_buf(),
            display: dir.display().to_string(),
            place: Place::Folder,
        })
    }

    /// How the output is named in messages and the summary.
    pub fn display(&self) -> String {
        self.display.clone()
    }

    /// Where table definitions should point: the folder's absolute path, or the S3 URL.
    pub fn table_location(&self) -> String {
        match &self.place {
            Place::Folder => format!("/{}", self.root),
            Place::Bucket { url, .. } => url.to_string(),
        }
    }

    /// The output's address for a query engine: `file:///abs/path/` or `s3://bucket/prefix/`,
    /// each segment percent-encoded, so that a `%`, `#`, `?` or glob character in a folder's
    /// name is read as that character (a bare path would be taken as a glob, a bare URL cut at
    /// `#` or `?` or decoded at `%`).
    pub fn table_url(&self) -> String {
        match &self.place {
            Place::Folder => url_of("file://", &self.root, true),
            Place::Bucket { url, .. } => url_of(&format!("s3://{}", url.bucket), &self.root, true),
        }
    }

    /// The store and the output's prefix in it.
    pub fn store(&self) -> (Arc<dyn ObjectStore>, StorePath) {
        let root = StorePath::parse(&self.root).expect("the root was parsed when opened");
        (self.store.clone(), root)
    }

    /// The S3 output, if that is what this is.
    pub fn s3_url(&self) -> Option<&S3Url> {
        match &self.place {
            Place::Folder => None,
            Place::Bucket { url, .. } => Some(url),
        }
    }

    /// The output folder, when the output is a local folder: for what only a folder has (the
    /// output lock, leftovers of killed runs, folder swaps).
    pub fn local_folder(&self) -> Option<&Path> {
        match self.place {
            Place::Folder => Some(&self.work),
            Place::Bucket { .. } => None,
        }
    }

    /// Where files are written before [`Destination::publish`]: the output folder itself, or
    /// the local staging folder of an S3 output.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// The final name of a file at `relative` (a `/`-separated path under the output).
    pub fn name_of(&self, relative: &str) -> String {
        match &self.place {
            Place::Folder => self.work.join(relative).display().to_string(),
            Place::Bucket { url, .. } => url.url_of(&url.key(relative)),
        }
    }

    /// The store's path of `relative`, exactly as spelled (object_store's `Path::from` would
    /// percent-encode the `%` of Hive's escapes, and so name another file).
    fn location(&self, relative: &str) -> Result<StorePath> {
        let raw = match (self.root.as_str(), relative.trim_matches('/')) {
            (root, "") => root.to_owned(),
            ("", relative) => relative.to_owned(),
            (root, relative) => format!("{root}/{relative}"),
        };
        StorePath::parse(&raw)
            .map_err(|e| anyhow!("{}: cannot be named ({e})", self.name_of(relative)))
    }

    /// `location`'s path under the output.
    fn relative(&self, location: &StorePath) -> String {
        let full = location.as_ref();
        full.strip_prefix(self.root.as_str())
            .unwrap_or(full)
            .trim_start_matches('/')
            .to_owned()
    }

    /// An object_store failure as a message naming what failed and, for S3, what to check.
    fn failed(&self, error: object_store::Error, relative: &str) -> anyhow::Error {
        let name = self.name_of(relative);
        match self.place {
            Place::Folder => anyhow!(error).context(name),
            Place::Bucket { .. } => crate::remote::explain(error, &name),
        }
    }

    /// Checks that the output can be listed (for S3: the bucket exists and the credentials
    /// are good), so that a run fails before its work rather than after.
    pub fn probe(&self) -> Result<()> {
        self.list_folder("").map(|_| ())
    }

    /// Moves a finished local file at `relative` to its place: already there for a folder;
    /// uploaded with a multipart upload (sent in parts, visible only once complete, aborted on
    /// failure) and then removed locally for S3.
    pub fn publish(&self, relative: &str) -> Result<()> {
        self.send(relative, Upload::Multipart)
    }

    /// Writes a small file (state, table definitions) in one step: written atomically into
    /// the work folder, then, for S3, stored with one PUT.
    pub fn write_small(&self, relative: &str, bytes: &[u8]) -> Result<()> {
        let path = self.work.join(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        crate::output::write_atomically(&path, |f| Ok(std::io::Write::write_all(f, bytes)?))?;
        self.send(relative, Upload::Whole)
    }

    fn send(&self, relative: &str, how: Upload) -> Result<()> {
        let Place::Bucket { url, remote, .. } = &self.place else {
            return Ok(());
        };
        let local = self.work.join(relative);
        match how {
            Upload::Whole => {
                let bytes = std::fs::read(&local)
                    .with_context(|| format!("reading {}", local.display()))?;
                let location = self.location(relative)?;
                crate::runtime::block_on(self.store.put(&location, PutPayload::from(bytes)))
                    .map_err(|e| self.failed(e, relative))?;
            }
            Upload::Multipart => remote.upload(&local, &url.bucket, &url.key(relative))?,
        }
        std::fs::remove_file(&local)
            .with_context(|| format!("removing the uploaded {}", local.display()))?;
        Ok(())
    }

    /// The content of the small file at `relative`, or `None` when there is none.
    pub fn read_small(&self, relative: &str) -> Result<Option<Vec<u8>>> {
        let location = self.location(relative)?;
        let read =
            crate::runtime::block_on(async { self.store.get(&location).await?.bytes().await });
        match read {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed(e, relative)),
        }
    }

    /// One level of the folder `relative`: its files and its sub-folders (nothing when there
    /// is no such folder).
    fn listed(&self, relative: &str) -> Result<ListResult> {
        let location = self.location(relative)?;
        match crate::runtime::block_on(self.store.list_with_delimiter(prefix(&location))) {
            Ok(listed) => Ok(listed),
            Err(object_store::Error::NotFound { .. }) => Ok(ListResult {
                common_prefixes: Vec::new(),
                objects: Vec::new(),
            }),
            Err(e) => Err(self.failed(e, relative)),
        }
    }

    /// The files directly in the folder `relative` (none when there is no such folder).
    pub fn list_folder(&self, relative: &str) -> Result<Vec<ObjectMeta>> {
        Ok(self.listed(relative)?.objects)
    }

    /// The contents of the files directly in the folder `relative` (but hidden and metadata
    /// ones), by name.
    pub fn read_folder(&self, relative: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut files = Vec::new();
        for meta in self.list_folder(relative)? {
            let file_name = meta.location.filename().unwrap_or_default();
            if is_skipped_name(std::ffi::OsStr::new(file_name)) {
                continue;
            }
            let relative = self.relative(&meta.location);
            let bytes = crate::runtime::block_on(async {
                self.store.get(&meta.location).await?.bytes().await
            })
            .map_err(|e| self.failed(e, &relative))?;
            files.push((self.name_of(&relative), bytes.to_vec()));
        }
        Ok(files)
    }

    /// Removes the files directly in the folder `relative` (none there is no error).
    pub fn remove_folder_files(&self, relative: &str) -> Result<()> {
        let locations = self
            .list_folder(relative)?
            .into_iter()
            .map(|meta| meta.location);
        self.delete(locations.collect())
    }

    /// Deletes objects (a missing one is not an error); S3 takes them in bulk requests.
    fn delete(&self, locations: Vec<StorePath>) -> Result<()> {
        let results: Vec<object_store::Result<StorePath>> = crate::runtime::block_on(
            self.store
                .delete_stream(futures::stream::iter(locations.into_iter().map(Ok)).boxed())
                .collect(),
        );
        for result in results {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.failed(e, "")),
            }
        }
        Ok(())
    }

    /// The data file at `relative` (a `HEAD` of the object, or the file's metadata).
    pub fn data_file_at(&self, relative: &str) -> Result<DataFile> {
        let location = self.location(relative)?;
        let meta = crate::runtime::block_on(self.store.head(&location))
            .map_err(|e| self.failed(e, relative))?;
        Ok(self.data_file(meta))
    }

    fn data_file(&self, meta: ObjectMeta) -> DataFile {
        DataFile {
            name: self.name_of(&self.relative(&meta.location)),
            location: meta.location,
            size: meta.size,
        }
    }

    /// The data files (Parquet, not hidden, not metadata) directly in a partition folder.
    pub fn data_files(&self, partition: &str) -> Result<Vec<DataFile>> {
        let mut files: Vec<DataFile> = self
            .list_folder(partition)?
            .into_iter()
            .filter(|m| is_data_name(m.location.filename().unwrap_or_default()))
            .map(|m| self.data_file(m))
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    /// Every data file of the output, under any partition of either table. Only partition
    /// folders are listed: a folder of the user's in the output (or the input the output was
    /// placed in) is none of ours.
    pub fn all_data_files(&self) -> Result<Vec<DataFile>> {
        let listed = self.listed("")?;
        let mut found = listed.objects;
        let audit = match listed
            .common_prefixes
            .iter()
            .any(|p| p.filename() == Some(crate::audit::TABLE_FOLDER))
        {
            true => self.listed(crate::audit::TABLE_FOLDER)?.common_prefixes,
            false => Vec::new(),
        };
        let partitions = listed
            .common_prefixes
            .into_iter()
            .chain(audit)
            .filter(|p| p.filename().is_some_and(is_partition_folder));
        let below: Vec<Vec<ObjectMeta>> = crate::runtime::block_on(
            futures::stream::iter(partitions)
                .map(|p| {
                    let store = self.store.clone();
                    async move { store.list(Some(&p)).try_collect::<Vec<_>>().await }
                })
                .buffer_unordered(LISTINGS_IN_FLIGHT)
                .try_collect(),
        )
        .map_err(|e| self.failed(e, ""))?;
        found.extend(below.into_iter().flatten());
        let mut files: Vec<DataFile> = found
            .into_iter()
            .filter(|m| {
                let relative = self.relative(&m.location);
                is_data_path(&relative.split('/').collect::<Vec<_>>())
            })
            .map(|m| self.data_file(m))
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    /// The first data file of the output in name order, found folder by folder without
    /// listing the rest: in a partition folder `filter` admits if there is one (so that a
    /// report on one day touches no other), else in any; `None` when there is none.
    pub fn first_data_file(&self, filter: &EventFilter) -> Result<Option<DataFile>> {
        match self.first_data_file_where(|name| folder_may_hold(name, filter))? {
            Some(file) => Ok(Some(file)),
            None => self.first_data_file_where(|_| true),
        }
    }

    fn first_data_file_where(&self, admits: impl Fn(&str) -> bool) -> Result<Option<DataFile>> {
        let mut pending = vec![String::new()];
        while let Some(folder) = pending.pop() {
            let listed = self.listed(&folder)?;
            let first = listed
                .objects
                .into_iter()
                .filter(|m| is_data_name(m.location.filename().unwrap_or_default()))
                .min_by(|a, b| a.location.cmp(&b.location));
            if let Some(first) = first {
                return Ok(Some(self.data_file(first)));
            }
            let mut children: Vec<String> = listed
                .common_prefixes
                .iter()
                .filter(|p| {
                    p.filename()
                        .is_some_and(|name| is_partition_folder(name) && admits(name))
                })
                .map(|p| self.relative(p))
                .collect();
            // Popped in name order.
            children.sort_by(|a, b| b.cmp(a));
            pending.extend(children);
        }
        Ok(None)
    }

    /// Whether the output holds trail files (what `--data` is given by mistake), outside
    /// hidden and metadata folders; the listing stops at the first one.
    pub fn holds_trail_files(&self) -> Result<bool> {
        let root = self.location("")?;
        let found = crate::runtime::block_on(async {
            let mut objects = self.store.list(prefix(&root));
            while let Some(meta) = objects.next().await {
                let relative = self.relative(&meta?.location);
                let name = relative.rsplit('/').next().unwrap_or_default();
                let hidden = relative
                    .split('/')
                    .any(|p| is_skipped_name(std::ffi::OsStr::new(p)));
                if !hidden
                    && [".json", ".json.gz", ".jsonl", ".jsonl.gz"]
                        .iter()
                        .any(|x| name.ends_with(x))
                {
                    return Ok(true);
                }
            }
            Ok(false)
        });
        found.map_err(|e| self.failed(e, ""))
    }

    /// Whether the output has partition folders of the `hsm_audit` table.
    pub fn holds_audit_entries(&self) -> Result<bool> {
        Ok(self
            .listed(crate::audit::TABLE_FOLDER)?
            .common_prefixes
            .iter()
            .any(|p| p.filename().is_some_and(is_partition_folder)))
    }

    /// The table a data file belongs to.
    pub fn table_of(&self, file: &DataFile) -> Table {
        Table::of_partition(&self.partition_of(file))
    }

    /// The partition folder (relative, `/`-separated) of a data file.
    pub fn partition_of(&self, file: &DataFile) -> String {
        let relative = self.relative(&file.location);
        relative
            .rsplit_once('/')
            .map(|(dir, _)| dir.to_owned())
            .unwrap_or_default()
    }

    /// The local path of a data file of a folder output.
    pub fn local_path(&self, file: &DataFile) -> Option<PathBuf> {
        self.local_folder()
            .map(|dir| dir.join(self.relative(&file.location)))
    }

    /// Whether the partition folder `partition` can be swapped whole for a new one
    /// ([`Destination::swap`]): the output is a local folder, the partition is not its top,
    /// and the folder holds the data files `files` and nothing else.
    pub fn can_swap(&self, partition: &str, files: &[DataFile]) -> Result<bool> {
        let Some(dir) = self.local_folder() else {
            return Ok(false);
        };
        if partition.is_empty() {
            return Ok(false);
        }
        let folder = dir.join(partition);
        let expected: std::collections::HashSet<PathBuf> =
            files.iter().filter_map(|f| self.local_path(f)).collect();
        for entry in
            std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))?
        {
            if !expected.contains(&entry?.path()) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Swaps the partition folder with `replacement` (a folder beside it) in one step, so
    /// readers see the old files or the new ones, never both or neither; `replacement` then
    /// holds the old files. Only for what [`Destination::can_swap`] allowed.
    pub fn swap(&self, replacement: &Path, partition: &str) -> Result<()> {
        let dir = self
            .local_folder()
            .expect("can_swap allows local folders only");
        let folder = dir.join(partition);
        exchange(replacement, &folder)?;
        crate::output::sync_folder(folder.parent().unwrap_or(dir))
    }

    /// The [`dedup_key`]s of the rows already written in a partition folder: from the
    /// `event_id` column alone, and from whole rows only in a file that holds rows without an
    /// ID (the oldest records).
    pub fn existing_ids(&self, partition: &str) -> Result<EventIds> {
        let table = Table::of_partition(partition);
        let mut ids = EventIds::default();
        for file in self.data_files(partition)? {
            let mut without_id = false;
            for batch in self.read_columns(&file, &[table.id_column()])? {
                let column = ids_of(&batch, table, &file)?;
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
                    let batch = conform(batch, table)
                        .with_context(|| format!("{} does not match the schema", file.name))?;
                    let column = ids_of(&batch, table, &file)?;
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

    /// Checks that every data file in a partition folder can be read for its event IDs (its
    /// footer, then its `event_id` and `event_time` columns read through), so that a run
    /// refuses a foreign or damaged file before it writes anything rather than after some
    /// partitions.
    pub fn check_data_files(&self, partition: &str) -> Result<()> {
        let table = Table::of_partition(partition);
        for file in self.data_files(partition)? {
            self.check_footer(&file)?;
            self.read_columns(&file, &[table.id_column(), table.time_column()])?;
        }
        Ok(())
    }

    /// Checks from its footer alone (one ranged read) that a data file is hsmtrail's (see
    /// [`check_key_columns`]).
    pub fn check_footer(&self, file: &DataFile) -> Result<()> {
        let mut reader = self.reader(file);
        // From the Parquet schema alone: the embedded Arrow schema is not decoded (a damaged
        // one panics in arrow-ipc).
        let metadata = crate::runtime::block_on(ArrowReaderMetadata::load_async(
            &mut reader,
            reader_options(),
        ))
        .with_context(|| format!("{}: not a readable Parquet file", file.name))?;
        check_key_columns(metadata.schema(), self.table_of(file), file)
    }

    fn reader(&self, file: &DataFile) -> RangedReader {
        RangedReader {
            store: self.store.clone(),
            location: file.location.clone(),
            size: file.size,
        }
    }

    /// Reads some columns (all when `columns` is empty) of a data file, fetching only their
    /// column chunks.
    pub fn read_columns(&self, file: &DataFile, columns: &[&str]) -> Result<Vec<RecordBatch>> {
        let read = async {
            let builder = ParquetRecordBatchStreamBuilder::new_with_options(
                self.reader(file),
                reader_options(),
            )
            .await?;
            let mask = if columns.is_empty() {
                ProjectionMask::all()
            } else {
                ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied())
            };
            builder
                .with_projection(mask)
                .build()?
                .try_collect::<Vec<_>>()
                .await
        };
        crate::runtime::block_on(read).with_context(|| format!("reading {}", file.name))
    }

    /// A data file as a sorted run of batches of the one schema, read a row group at a time.
    pub fn run_of(&self, file: &DataFile) -> Result<merge::Run> {
        let name = file.name.clone();
        let table = self.table_of(file);
        let stream = crate::runtime::block_on(ParquetRecordBatchStreamBuilder::new_with_options(
            self.reader(file),
            reader_options(),
        ))
        .and_then(|b| b.with_batch_size(merge::MERGE_BATCH_ROWS).build())
        .with_context(|| format!("reading {name}"))?;
        let mut stream = Some(stream);
        Ok(Box::new(std::iter::from_fn(move || {
            let next = crate::runtime::block_on(stream.as_mut()?.next());
            if next.is_none() {
                stream = None;
            }
            Some(
                next?
                    .with_context(|| format!("reading {name}"))
                    .and_then(|batch| {
                        // Files of older hsmtrail versions may lack newer columns.
                        conform(batch, table)
                            .with_context(|| format!("{name} does not match the schema"))
                    }),
            )
        })))
    }

    /// Removes data files; a missing one is not an error.
    pub fn remove(&self, files: &[DataFile]) -> Result<()> {
        self.delete(files.iter().map(|f| f.location.clone()).collect())
    }
}

/// A data file of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    location: StorePath,
    size: u64,
    /// Its final name: the local path, or the `s3://` URL.
    name: String,
}

impl DataFile {
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Swaps two folders in one step, so readers see one or the other.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("no NUL in paths");
    let (ca, cb) = (c(a), c(b));
    // SAFETY: both are valid NUL-terminated paths; renameat2 does not keep the pointers.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| {
            format!(
                "swapping {} with the compacted files (the file system must support renameat2)",
                b.display()
            )
        });
    }
    Ok(())
}

/// Without an atomic exchange: the old folder is moved aside, then the new one into place.
#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> Result<()> {
    let aside = a.with_extension("old");
    std::fs::rename(b, &aside)?;
    std::fs::rename(a, b)?;
    std::fs::rename(&aside, a)?;
    Ok(())
}

/// A data file read through the store by ranges: the footer (its size known from the
/// listing, so the first read is the footer itself), then the column chunks asked for.
struct RangedReader {
    store: Arc<dyn ObjectStore>,
    location: StorePath,
    size: u64,
}

impl AsyncFileReader for RangedReader {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, parquet::errors::Result<bytes::Bytes>> {
        async move {
            self.store
                .get_range(&self.location, range)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<bytes::Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.location, &ranges)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a parquet::arrow::arrow_reader::ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// `dir` as an absolute path without `.`, `..` or symbolic links, which the store's paths
/// cannot hold. The folder may not exist yet: its existing part is resolved by the file system
/// (a `..` after a symbolic link goes where the system goes), the rest as written.
fn resolved(dir: &Path) -> Result<PathBuf> {
    use std::path::Component;
    let absolute = std::path::absolute(dir)
        .with_context(|| format!("{}: cannot make the path absolute", dir.display()))?;
    let mut resolved = PathBuf::from("/");
    let mut exists = true;
    for part in absolute.components() {
        match part {
            Component::RootDir | Component::Prefix(_) | Component::CurDir => continue,
            _ if exists => match resolved.join(part).canonicalize() {
                Ok(real) => {
                    resolved = real;
                    continue;
                }
                Err(_) => exists = false,
            },
            _ => {}
        }
        match part {
            Component::ParentDir => {
                resolved.pop();
            }
            other => resolved.push(other),
        }
    }
    Ok(resolved)
}

/// `base` (`file://`, `s3://bucket`) and the raw store path `path` as a URL whose segments
/// decode back to exactly `path`; with a trailing `/` for a folder.
pub fn url_of(base: &str, path: &str, folder: bool) -> String {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    const SEGMENT: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}')
        .add(b'*')
        .add(b'[')
        .add(b']')
        .add(b'\\')
        .add(b'^')
        .add(b'|');
    let mut url = base.to_owned();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        url.push('/');
        url.extend(utf8_percent_encode(segment, SEGMENT));
    }
    if folder || url.ends_with("://") {
        url.push('/');
    }
    url
}

/// Checks the columns de-duplication and merging rely on: a string `event_id` and a
/// millisecond `event_time`. Anything else is not hsmtrail's output, and reading it as such
/// would go wrong.
pub fn check_key_columns(
    schema: &arrow::datatypes::Schema,
    table: Table,
    file: &DataFile,
) -> Result<()> {
    use arrow::datatypes::DataType;
    let advice = "hsmtrail reads every *.parquet file in a partition folder (to write no event \
                  twice, and to compact): move files of other tools out of the output";
    let time_unit = |t: &DataType| match t {
        DataType::Timestamp(unit, _) => Some(*unit),
        _ => None,
    };
    let time = table.time_type();
    for (column, fits, wanted) in [
        (
            table.id_column(),
            *schema
                .field_with_name(table.id_column())
                .map_or(&DataType::Null, |f| f.data_type())
                == DataType::Utf8,
            "a string column".to_owned(),
        ),
        (
            table.time_column(),
            schema
                .field_with_name(table.time_column())
                .is_ok_and(|f| time_unit(f.data_type()) == time_unit(&time)),
            format!("{time}"),
        ),
    ] {
        let field = schema
            .field_with_name(column)
            .map_err(|_| anyhow!("{}: has no {column} column; {advice}", file.name))?;
        if !fits {
            anyhow::bail!(
                "{}: its {column} column is {}, not {wanted}; {advice}",
                file.name,
                field.data_type()
            );
        }
    }
    Ok(())
}

/// The ID column of a batch (`event_id`, `entry_id`), checked.
fn ids_of<'b>(
    batch: &'b RecordBatch,
    table: Table,
    file: &DataFile,
) -> Result<&'b arrow::array::StringArray> {
    let name = table.id_column();
    match batch.column_by_name(name) {
        Some(c) if *c.data_type() == arrow::datatypes::DataType::Utf8 => Ok(c.as_string::<i32>()),
        _ => anyhow::bail!("{}: has no string {name} column", file.name),
    }
}

/// Whether a path under the output (its components) is a data file: a Parquet file at the top
/// or in partition folders.
fn is_data_path(parts: &[&str]) -> bool {
    let parts = match parts.split_first() {
        Some((&crate::audit::TABLE_FOLDER, below)) if !below.is_empty() => below,
        _ => parts,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_that_does_not_exist_yet_resolves_as_the_system_would_create_it() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        std::fs::create_dir(base.join("real")).unwrap();
        std::os::unix::fs::symlink(base.join("real"), base.join("link")).unwrap();
        for (given, expected) in [
            ("missing/deeper/../out", "missing/out"),
            ("./real/./out", "real/out"),
            ("link/out", "real/out"),
            ("link/../out", "out"),
            ("link/missing/../out", "real/out"),
        ] {
            assert_eq!(
                resolved(&base.join(given)).unwrap(),
                base.join(expected),
                "{given}"
            );
        }
    }
}
