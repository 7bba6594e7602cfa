//! Archives and output in S3 (or an S3-compatible store) through the object_store crate.
//!
//! Credentials and region are resolved as the AWS CLI resolves them, by the AWS SDK
//! (`credentials.rs`). `--endpoint-url` and `--path-style` reach S3-compatible stores.
//!
//! Listing follows the CloudTrail layout
//! `AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/`: folders of other accounts,
//! regions and dates than asked for, and digest folders, are never listed, so converting one
//! day of an organisation trail lists a few folders per account and region, not years of keys.
//! Trail inputs are listed key by key by `raw_list.rs`, so that a key object_store cannot name
//! is named rather than failing its listing page or standing in for another key.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use chrono::NaiveDate;
use object_store::ClientConfigKey;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as StorePath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};

mod credentials;
mod raw_list;
use raw_list::RawLister;

/// `s3://bucket/prefix`, split.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct S3Url {
    pub bucket: String,
    /// Key prefix without a leading `/`; empty for the whole bucket.
    pub prefix: String,
}

impl S3Url {
    /// `None` when `text` is not an `s3://` URL; an error when it is one without a bucket.
    pub fn parse(text: &str) -> Option<Result<S3Url>> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Some(Err(anyhow!(
                "'{text}' names no bucket (expected s3://bucket/prefix)"
            )));
        }
        Some(Ok(S3Url {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_start_matches('/').to_owned(),
        }))
    }

    /// The key of `relative` under this prefix.
    pub fn key(&self, relative: &str) -> String {
        let base = self.prefix.trim_end_matches('/');
        if base.is_empty() {
            relative.to_owned()
        } else {
            format!("{base}/{relative}")
        }
    }

    /// The URL of a key in this bucket.
    pub fn url_of(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// How to reach the store, beyond what the environment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Options {
    /// An S3-compatible endpoint such as `http://127.0.0.1:9000`.
    pub endpoint_url: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`), which most S3-compatible stores need.
    pub path_style: bool,
    /// Times a failed request (5xx, throttling, a reset or cut connection, a timeout) is tried
    /// again, with exponential backoff (100 ms doubling up to 15 s), within 3 minutes.
    pub retries: usize,
    /// How long one request may take, its whole answer included.
    pub timeout: std::time::Duration,
}

impl S3Options {
    /// object_store's own default, kept: enough for throttling to pass.
    pub const DEFAULT_RETRIES: usize = 10;
    /// Long enough for a delivery file or a partition's Parquet at a few MB/s.
    pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            endpoint_url: None,
            path_style: false,
            retries: Self::DEFAULT_RETRIES,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

/// What the CloudTrail layout lets a listing skip.
#[derive(Debug, Clone, Default)]
pub struct Prune {
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub first_day: Option<NaiveDate>,
    /// The last day whose folder can hold wanted events: the last day asked for plus one,
    /// because a file delivered after midnight holds events of the day before.
    pub last_day: Option<NaiveDate>,
}

impl Prune {
    fn is_empty(&self) -> bool {
        self.accounts.is_empty()
            && self.regions.is_empty()
            && self.first_day.is_none()
            && self.last_day.is_none()
    }

    /// Whether the folder with these path components cannot hold a wanted file.
    fn skips(&self, parts: &[&str]) -> bool {
        let Some(rest) = below_awslogs(parts) else {
            return false;
        };
        let wanted =
            |list: &[String], value: &str| list.is_empty() || list.iter().any(|v| v == value);
        match rest {
            [account] => !wanted(&self.accounts, account),
            [_, trail] => {
                *trail == "CloudTrail-Digest" || crate::input::other_service(parts).is_some()
            }
            [_, _, region] => !wanted(&self.regions, region),
            [_, _, _, date @ ..] => self.outside_dates(date),
            [] => false,
        }
    }

    /// Whether a `YYYY[/MM[/DD]]` folder lies wholly outside the wanted days.
    fn outside_dates(&self, date: &[&str]) -> bool {
        let number = |i: usize| date.get(i).and_then(|p| p.parse::<u32>().ok());
        let Some(year) = number(0) else {
            return false;
        };
        let (first, last) = match (number(1), number(2)) {
            (Some(m), Some(d)) => {
                let day = NaiveDate::from_ymd_opt(year as i32, m, d);
                (day, day)
            }
            (Some(m), None) => {
                let first = NaiveDate::from_ymd_opt(year as i32, m, 1);
                let last = first
                    .and_then(|f| f.checked_add_months(chrono::Months::new(1)))
                    .and_then(|n| n.pred_opt());
                (first, last)
            }
            _ => (
                NaiveDate::from_ymd_opt(year as i32, 1, 1),
                NaiveDate::from_ymd_opt(year as i32, 12, 31),
            ),
        };
        let (Some(first), Some(last)) = (first, last) else {
            return false;
        };
        self.last_day.is_some_and(|l| first > l) || self.first_day.is_some_and(|f| last < f)
    }

    /// Whether everything below a folder is wanted as far as the layout can tell, so it can be
    /// listed in one recursive listing.
    fn takes_all_below(&self, parts: &[&str]) -> bool {
        if self.is_empty() {
            return true;
        }
        let Some(rest) = below_awslogs(parts) else {
            return false;
        };
        let dated = self.first_day.is_some() || self.last_day.is_some();
        // A region folder without date bounds, or a day folder.
        rest.len() >= 3 && (!dated || rest.len() >= 6)
    }
}

/// The path components after `AWSLogs/` and the organisation folder, if any: `account`,
/// `CloudTrail`, `region`, `YYYY`, `MM`, `DD`. `None` outside the layout.
pub(crate) fn below_awslogs<'a, 'p>(parts: &'a [&'p str]) -> Option<&'a [&'p str]> {
    let at = parts.iter().rposition(|p| *p == "AWSLogs")?;
    let rest = &parts[at + 1..];
    Some(match rest.first() {
        Some(org) if org.starts_with("o-") => &rest[1..],
        _ => rest,
    })
}

/// Builds a [`Prune`] from the conversion's filters.
pub fn prune_for(
    accounts: &[String],
    regions: &[String],
    first_ms: Option<i64>,
    last_ms: Option<i64>,
) -> Prune {
    let day = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).map(|t| t.date_naive());
    Prune {
        accounts: accounts.to_vec(),
        regions: regions.to_vec(),
        first_day: first_ms.and_then(day),
        last_day: last_ms.and_then(day).and_then(|d| d.succ_opt()),
    }
}

/// How long connecting may take: a reachable endpoint answers at once.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A connection to S3: the async runtime object_store needs, and one client per bucket.
pub struct Remote {
    options: S3Options,
    /// The region and credentials the AWS SDK resolved.
    sdk: credentials::Resolved,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// One bucket's clients: object_store's, and the lister for folders it cannot list.
#[derive(Clone)]
struct Bucket {
    name: String,
    store: Arc<dyn ObjectStore>,
    lister: Arc<RawLister>,
}

/// What a listing found: the objects, and the keys no object_store path can name (an empty,
/// `.` or `..` segment, a control character), which can be neither fetched nor skipped
/// silently.
#[derive(Debug, Default)]
pub struct Listing {
    pub objects: Vec<ObjectMeta>,
    pub unreadable: Vec<String>,
    /// Folders no path can name, listed level by level: every key below them is unreadable.
    pub unreadable_folders: Vec<String>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("options", &self.options)
            .finish()
    }
}

impl Remote {
    pub fn new(options: S3Options) -> Result<Self> {
        let sdk = crate::runtime::block_on(credentials::resolve(options.timeout));
        Ok(Remote {
            options,
            sdk,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// The client for a bucket.
    pub fn store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        Ok(self.bucket(bucket)?.store)
    }

    fn bucket(&self, bucket: &str) -> Result<Bucket> {
        let mut buckets = self.buckets.lock().expect("no panics while locked");
        if let Some(found) = buckets.get(bucket) {
            return Ok(found.clone());
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_credentials(self.sdk.credentials.clone());
        if builder
            .get_config_value(&AmazonS3ConfigKey::Region)
            .is_none()
        {
            builder = builder.with_region(&self.sdk.region);
        }
        let http = self
            .options
            .endpoint_url
            .as_ref()
            .is_some_and(|e| e.starts_with("http://"));
        if let Some(endpoint) = &self.options.endpoint_url {
            builder = builder.with_endpoint(endpoint).with_allow_http(http);
        }
        if self.options.path_style {
            builder = builder.with_virtual_hosted_style_request(false);
        }
        let connect_timeout = CONNECT_TIMEOUT.min(self.options.timeout);
        builder = builder
            .with_retry(object_store::RetryConfig {
                max_retries: self.options.retries,
                ..Default::default()
            })
            // Set key by key: `with_client_options` would replace what the environment and
            // the endpoint (plain HTTP allowed) set.
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                format!("{}ms", self.options.timeout.as_millis()),
            )
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                format!("{}ms", connect_timeout.as_millis()),
            );
        let region = builder
            .get_config_value(&AmazonS3ConfigKey::Region)
            .unwrap_or_else(|| self.sdk.region.clone());
        let configuring = || format!("configuring the S3 client for bucket {bucket}");
        let s3 = Arc::new(builder.build().with_context(configuring)?);
        let client = object_store::ClientOptions::new()
            .with_timeout(self.options.timeout)
            .with_connect_timeout(connect_timeout)
            .with_allow_http(http);
        let lister = RawLister::new(s3.clone(), region, &client, self.options.retries)
            .with_context(configuring)?;
        let found = Bucket {
            name: bucket.to_owned(),
            store: s3,
            lister: Arc::new(lister),
        };
        buckets.insert(bucket.to_owned(), found.clone());
        Ok(found)
    }

    /// Every object under `url` that the layout does not rule out.
    pub fn list_trail(&self, url: &S3Url, prune: &Prune) -> Result<Listing> {
        let bucket = self.bucket(&url.bucket)?;
        let mut found = Listing::default();
        // One `/` ends a folder's name; another before it is part of the name (`AWSLogs//`).
        let prefix = url.prefix.strip_suffix('/').unwrap_or(&url.prefix);
        // (`a.json/` names a folder, or an object object_store cannot fetch: listed.)
        if looks_like_a_file(&url.prefix) {
            let meta = crate::runtime::block_on(bucket.store.head(&location(prefix)?))
                .map_err(|e| explain(e, &url.to_string()))?;
            found.objects.push(meta);
            return Ok(found);
        }
        crate::runtime::block_on(walk(&bucket, prefix.to_owned(), prune, &mut found))?;
        found.objects.sort_by(|a, b| a.location.cmp(&b.location));
        found.unreadable.sort();
        found.unreadable_folders.sort();
        Ok(found)
    }

    /// The whole content of an object.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Bytes> {
        let store = self.store(bucket)?;
        let location = location(key)?;
        crate::runtime::block_on(async { store.get(&location).await?.bytes().await })
            .map_err(|e| explain(e, &format!("s3://{bucket}/{key}")))
    }

    /// Uploads a local file as a multipart upload, which S3 makes visible only when the
    /// upload completes. Parts are retried by the client; an upload that fails all the same is
    /// aborted, so that no parts are left behind (and billed) in the bucket.
    pub fn upload(&self, local: &Path, bucket: &str, key: &str) -> Result<()> {
        /// Bytes a part; at most [`PARTS_IN_FLIGHT`] parts are sent at once.
        const PART: usize = 8 << 20;
        const PARTS_IN_FLIGHT: usize = 4;
        let store = self.store(bucket)?;
        let location = location(key)?;
        let url = format!("s3://{bucket}/{key}");
        let mut file = std::fs::File::open(local)
            .with_context(|| format!("opening {} to upload", local.display()))?;
        crate::runtime::block_on(async {
            let mut upload = store.put_multipart(&location).await?;
            let sent = async {
                let mut in_flight = Vec::new();
                let mut first = true;
                loop {
                    let mut part = Vec::with_capacity(PART);
                    std::io::Read::read_to_end(
                        &mut std::io::Read::take(&mut file, PART as u64),
                        &mut part,
                    )
                    .map_err(|e| object_store::Error::Generic {
                        store: "local",
                        source: Box::new(e),
                    })?;
                    if part.is_empty() && !first {
                        break;
                    }
                    first = false;
                    let last = part.len() < PART;
                    in_flight.push(upload.put_part(PutPayload::from(part)));
                    if in_flight.len() == PARTS_IN_FLIGHT || last {
                        futures::future::try_join_all(in_flight.drain(..)).await?;
                    }
                    if last {
                        break;
                    }
                }
                upload.complete().await
            }
            .await;
            match sent {
                Ok(_) => Ok(()),
                Err(e) => {
                    // The failure is what the user needs to hear about, not the abort's.
                    let _ = upload.abort().await;
                    Err(e)
                }
            }
        })
        .map_err(|e| explain(e, &url))
    }
}

/// Lists a folder level by level where the layout can prune, in one recursive listing where it
/// cannot, key by key (`raw_list.rs`) so that a key object_store cannot name costs only itself.
async fn walk(bucket: &Bucket, dir: String, prune: &Prune, found: &mut Listing) -> Result<()> {
    let mut pending = vec![dir];
    while let Some(dir) = pending.pop() {
        let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        let all_below = prune.takes_all_below(&parts);
        let listed = bucket
            .lister
            .list(&dir, !all_below)
            .await
            .map_err(|e| explain(e, &format!("s3://{}/{dir}", bucket.name)))?;
        found.objects.extend(listed.objects);
        found.unreadable.extend(listed.unreadable);
        found.unreadable_folders.extend(listed.unreadable_folders);
        for child in listed.prefixes {
            let child_parts: Vec<&str> = child.split('/').collect();
            if !prune.skips(&child_parts) {
                pending.push(child);
            }
        }
    }
    Ok(())
}

/// The store's path for an S3 key, exactly as the key is spelled: object_store's `Path::from`
/// would percent-encode `%`, spaces, brackets and the like, and so name another object. A key
/// the store cannot represent (an empty, `.` or `..` segment, a control character) is an error
/// naming it.
fn location(key: &str) -> Result<StorePath> {
    StorePath::parse(key.trim_end_matches('/')).map_err(|e| {
        anyhow!(
            "the S3 key '{key}' cannot be represented by the S3 client ({e}): copy the object to a plain key (aws s3 cp) to convert it"
        )
    })
}

/// Whether a prefix names one object rather than a folder.
fn looks_like_a_file(prefix: &str) -> bool {
    [".json", ".json.gz", ".jsonl", ".jsonl.gz", ".gz"]
        .iter()
        .any(|ext| prefix.ends_with(ext))
}

/// An object_store error as a message that says what to check, classified by the error's kind
/// (object_store maps HTTP 404, 403 and 401 of object requests to their own variants) and by
/// the S3 error code of the answer (`<Code>AccessDenied</Code>`: listings report their failures
/// as generic errors); never by numbers in the text, which keys and account IDs are full of.
pub fn explain(error: object_store::Error, what: &str) -> anyhow::Error {
    use object_store::Error;
    let text = error.to_string();
    let code = |c: &str| text.contains(&format!("<Code>{c}</Code>"));
    let denied = matches!(
        error,
        Error::PermissionDenied { .. } | Error::Unauthenticated { .. }
    );
    if credentials::is_no_credentials(&error) {
        return anyhow!("{what}: {text}");
    }
    let hint = if code("NoSuchBucket") {
        "the bucket does not exist (check the name, the region and --endpoint-url)"
    } else if code("InvalidAccessKeyId") || code("SignatureDoesNotMatch") || code("ExpiredToken") {
        "the credentials were refused (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_PROFILE)"
    } else if denied || code("AccessDenied") {
        "access denied (check the credentials and that the policy allows s3:ListBucket, s3:GetObject and, for output, s3:PutObject and s3:DeleteObject)"
    } else if matches!(error, Error::NotFound { .. }) || code("NoSuchKey") {
        "no such object"
    } else {
        "S3 request failed (after the retries of --s3-retries)"
    };
    anyhow!("{what}: {hint}: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn day_folder(day: NaiveDate) -> String {
        format!("{:04}/{:02}/{:02}", day.year(), day.month(), day.day())
    }

    fn parts(path: &str) -> Vec<&str> {
        path.split('/').collect()
    }

    #[test]
    fn urls() {
        let u = S3Url::parse("s3://b/AWSLogs/1/").unwrap().unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("b", "AWSLogs/1/"));
        assert_eq!(u.key("x/y.parquet"), "AWSLogs/1/x/y.parquet");
        assert_eq!(S3Url::parse("s3://b").unwrap().unwrap().key("k"), "k");
        assert!(S3Url::parse("s3:///x").unwrap().is_err());
        assert!(S3Url::parse("/local/dir").is_none());
    }

    #[test]
    fn pruning_follows_the_layout() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let p = Prune {
            accounts: vec!["111111111111".into()],
            regions: vec!["eu-west-1".into()],
            first_day: Some(day("2024-03-01")),
            last_day: Some(day("2024-03-02")),
        };
        assert!(!p.skips(&parts("x/AWSLogs/o-abc")));
        assert!(!p.skips(&parts("AWSLogs/o-abc/111111111111")));
        assert!(p.skips(&parts("AWSLogs/o-abc/222222222222")));
        assert!(p.skips(&parts("AWSLogs/111111111111/CloudTrail-Digest")));
        assert!(!p.skips(&parts("AWSLogs/111111111111/CloudTrail")));
        assert!(p.skips(&parts("AWSLogs/111111111111/CloudTrail/us-east-1")));
        assert!(!p.skips(&parts("AWSLogs/111111111111/CloudTrail/eu-west-1")));
        let region = "AWSLogs/o-abc/111111111111/CloudTrail/eu-west-1";
        assert!(!p.skips(&parts(&format!("{region}/2024"))));
        assert!(p.skips(&parts(&format!("{region}/2023"))));
        assert!(p.skips(&parts(&format!("{region}/2024/02"))));
        assert!(!p.skips(&parts(&format!("{region}/2024/03"))));
        assert!(p.skips(&parts(&format!("{region}/2024/03/03"))));
        assert!(!p.skips(&parts(&format!("{region}/2024/03/02"))));
        assert!(p.skips(&parts(&format!("{region}/2024/02/29"))));
        assert!(p.takes_all_below(&parts(&format!("{region}/2024/03/02"))));
        assert!(!p.takes_all_below(&parts(region)));
        let undated = Prune {
            regions: vec!["eu-west-1".into()],
            ..Prune::default()
        };
        assert!(undated.takes_all_below(&parts(region)));
        assert!(Prune::default().takes_all_below(&parts("anything")));
    }

    #[test]
    fn the_day_after_the_last_is_listed_for_late_deliveries() {
        let p = prune_for(&[], &[], Some(1_709_251_200_000), Some(1_709_337_599_999));
        assert_eq!(p.first_day.map(day_folder).as_deref(), Some("2024/03/01"));
        assert_eq!(p.last_day.map(day_folder).as_deref(), Some("2024/03/02"));
    }

    #[test]
    fn errors_are_told_apart_by_kind_and_code_not_by_numbers_in_keys() {
        let missing = object_store::Error::NotFound {
            path: "AWSLogs/403403403403/x.json.gz".into(),
            source: "HTTP 404 for AWSLogs/403403403403/x.json.gz".into(),
        };
        let message = explain(missing, "s3://b/AWSLogs/403403403403/x.json.gz").to_string();
        assert!(message.contains("no such object"), "{message}");
        let generic = |body: &str| object_store::Error::Generic {
            store: "S3",
            source: format!("list request failed: 403 Forbidden: <Error>{body}</Error>").into(),
        };
        let denied = explain(generic("<Code>AccessDenied</Code>"), "s3://b/").to_string();
        assert!(denied.contains("access denied"), "{denied}");
        let refused = explain(generic("<Code>InvalidAccessKeyId</Code>"), "s3://b/").to_string();
        assert!(refused.contains("credentials were refused"), "{refused}");
        let other = explain(generic("<Code>InternalError</Code>"), "s3://b/403/").to_string();
        assert!(other.contains("S3 request failed"), "{other}");
    }
}
