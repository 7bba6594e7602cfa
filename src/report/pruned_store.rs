//! The store DataFusion reads the output through: the output's own store (the local file
//! system or S3), whose listings below the data's root take only the partition folders the
//! query's scope can need.
//!
//! DataFusion lists a table's files with one recursive listing of its root, pruning by
//! partition values only afterwards (or by a prefix, for an equality on the outermost
//! partition column). On S3 that lists every key of years of output to report on one day. Here
//! the listing goes folder by folder instead, into partition folders only (DataFusion drops
//! files elsewhere anyway), skipping those whose value the scope rules out
//! ([`folder_may_hold`]); DataFusion's own filters still apply to what is listed, so a row is
//! never lost to the pruning. The whole, unscoped table goes through this store too, with a
//! scope that rules nothing out, for the same listing.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

use crate::filter::EventFilter;
use crate::output::is_partition_folder;
use crate::output::partition::folder_may_hold;

/// Folders listed at once.
const LISTINGS_IN_FLIGHT: usize = 8;

pub struct PrunedStore {
    inner: Arc<dyn ObjectStore>,
    /// The data's root: listings at or below it are pruned, others passed through.
    root: Path,
    scope: Arc<EventFilter>,
}

impl PrunedStore {
    pub fn new(inner: Arc<dyn ObjectStore>, root: Path, scope: EventFilter) -> PrunedStore {
        PrunedStore {
            inner,
            root,
            scope: Arc::new(scope),
        }
    }

    fn below_root(&self, prefix: Option<&Path>) -> bool {
        let root = self.root.as_ref();
        let prefix = prefix.map(Path::as_ref).unwrap_or("");
        root.is_empty()
            || prefix == root
            || prefix
                .strip_prefix(root)
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

impl fmt::Debug for PrunedStore {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PrunedStore({}, {})", self.inner, self.root)
    }
}

impl fmt::Display for PrunedStore {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PrunedStore({})", self.inner)
    }
}

/// Every object below `dir`, listed level by level into the folders the scope can need.
async fn walk(
    store: Arc<dyn ObjectStore>,
    dir: Option<Path>,
    scope: Arc<EventFilter>,
) -> Result<Vec<ObjectMeta>> {
    let mut found = Vec::new();
    let mut level = vec![dir];
    while !level.is_empty() {
        let listed: Vec<ListResult> = stream::iter(level.drain(..))
            .map(|dir| {
                let store = store.clone();
                async move { store.list_with_delimiter(dir.as_ref()).await }
            })
            .buffer_unordered(LISTINGS_IN_FLIGHT)
            .try_collect()
            .await?;
        for result in listed {
            found.extend(result.objects);
            level.extend(
                result
                    .common_prefixes
                    .into_iter()
                    .filter(|folder| {
                        folder.filename().is_some_and(|name| {
                            is_partition_folder(name) && folder_may_hold(name, &scope)
                        })
                    })
                    .map(Some),
            );
        }
    }
    Ok(found)
}

#[async_trait]
impl ObjectStore for PrunedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        if !self.below_root(prefix) {
            return self.inner.list(prefix);
        }
        // From the root whatever the prefix: DataFusion narrows to a partition folder by an
        // equality on the outermost partition column, spelling the folder with object_store's
        // percent-encoding (`account=~` as `account=%7E`) where Hive's escaping leaves the
        // character, and so would list a folder that does not exist. It filters what is listed
        // by the partition values itself.
        let root = (!self.root.as_ref().is_empty()).then(|| self.root.clone());
        let listing = walk(self.inner.clone(), root, self.scope.clone());
        stream::once(listing)
            .map_ok(|objects| stream::iter(objects.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
