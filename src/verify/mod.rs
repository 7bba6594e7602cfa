//! `hsmtrail verify`: proves from CloudTrail's signed digests that an archive is complete and
//! untampered (`../shared/reference/cloudtrail-digest-validation.md`).
//!
//! Every digest in range is read once and every log file it lists is read once, in parallel.
//! A digest is proven when its signature checks with CloudTrail's public key of its
//! fingerprint. The signature is the object's `x-amz-meta-signature` in S3; a local copy has
//! no metadata, but each digest carries its predecessor's signature, so every digest but the
//! newest of each chain is proven from the files alone. Beyond what aws-cli checks, each
//! digest's hash is compared with what its successor recorded, chains are walked for gaps and
//! restarts, and log files no digest lists are named.

pub mod digest;
pub mod keys;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use self::digest::{ChainId, Digest, DigestName, hex};
use self::keys::{PublicKeys, Signature};
use crate::filter::EventFilter;
use crate::progress::Progress;
use crate::remote::{Remote, S3Options, S3Url};
use object_store::ObjectStoreExt;

/// What `verify` is asked.
pub struct Options {
    /// Local folders (copies of the bucket) or `s3://bucket/prefix/`.
    pub inputs: Vec<String>,
    pub s3: S3Options,
    /// Digests whose end time is in this window, of these accounts and regions.
    pub filter: EventFilter,
    pub keys: PublicKeys,
    /// Digests' signatures saved beside a copy (their `x-amz-meta-signature`), by key.
    pub signatures: HashMap<String, String>,
}

/// The verdict on one digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestStatus {
    /// Its signature checks with CloudTrail's key.
    Valid,
    /// Nothing is wrong with it that could be seen, but its signature could not be checked.
    Unproven(String),
    /// Edited after signing, or its signature or its link to the next digest is wrong.
    Invalid(String),
    /// Signed by a key not among `--public-keys`.
    UnknownKey(String),
    /// Not where CloudTrail put it.
    Moved(String),
    /// Not readable as a digest.
    Unreadable(String),
    /// Named by the next digest of its chain but not in the archive.
    Missing,
}

/// The verdict on one log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogStatus {
    /// Its SHA-256 is the one a proven digest lists.
    Valid,
    /// Its SHA-256 is the one an unproven digest lists.
    Unproven,
    /// Listed, but its content differs.
    Modified,
    /// Listed, but not in the archive.
    Missing,
    /// Listed here, but found (same content) at another key.
    Moved(String),
    /// Not a single gzip member (damaged, or data appended after it).
    Unreadable(String),
    /// In the archive, but no digest in range lists it.
    Unlisted,
}

/// A break in a chain of digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gap {
    /// A digest starts a new chain: validation or logging was off between the two times.
    Restart {
        chain: ChainId,
        from: String,
        to: String,
    },
    /// A digest follows one that is not the previous digest it names: a digest is missing or
    /// out of place.
    Broken {
        chain: ChainId,
        at: String,
        expected: String,
    },
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct Outcome {
    pub digests: Vec<(String, DigestStatus)>,
    pub logs: Vec<(String, LogStatus)>,
    pub gaps: Vec<Gap>,
}

impl Outcome {
    /// The log files proven: listed with their exact hash by a digest whose signature checks.
    pub fn proven_logs(&self) -> std::collections::HashSet<String> {
        self.logs
            .iter()
            .filter(|(_, s)| *s == LogStatus::Valid)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Whether everything in range was proven valid. A chain that restarts is reported but is
    /// not a failure: CloudTrail delivered nothing to prove while logging was off.
    pub fn all_proven(&self) -> bool {
        !self.digests.is_empty()
            && self.digests.iter().all(|(_, s)| *s == DigestStatus::Valid)
            && self.logs.iter().all(|(_, s)| *s == LogStatus::Valid)
            && self.gaps.iter().all(|g| matches!(g, Gap::Restart { .. }))
    }
}

/// Reads a `--signatures` file: a JSON object of digest keys (S3 object keys or paths; matched
/// from `AWSLogs/` on) and their hex signatures.
pub fn read_signatures(path: &Path) -> Result<HashMap<String, String>> {
    let text = std::fs::read(path)?;
    let map: HashMap<String, String> = serde_json::from_slice(&text).with_context(|| {
        format!(
            "{}: not a JSON object of digest keys and their signatures",
            path.display()
        )
    })?;
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| Some((archive_key(&k)?.to_owned(), v)))
        .collect())
}

/// Inflates exactly one gzip member; data after it is an error (CloudTrail writes one member;
/// a second one appended would be read by multi-member readers but covered by no hash).
pub fn gunzip_one_member(gzipped: &[u8]) -> Result<Vec<u8>> {
    let mut decoder = flate2::bufread::GzDecoder::new(gzipped);
    let mut out = Vec::new();
    decoder
        .read_to_end(&mut out)
        .context("not a complete gzip file")?;
    let rest = decoder.into_inner();
    if !rest.is_empty() {
        bail!(
            "{} bytes of unexpected data after the end of the gzip member",
            rest.len()
        );
    }
    Ok(out)
}

/// Where a file of the archive is.
#[derive(Debug, Clone)]
enum Where {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

/// A file of the archive: its key from `AWSLogs/` on, where it is, and its size.
struct Found {
    key: String,
    at: Where,
    size: u64,
}

/// The key a path or an S3 object key has from `AWSLogs/` on, which is how digests are
/// matched with the files of a copy made anywhere.
pub fn archive_key(text: &str) -> Option<&str> {
    let at = text.find("AWSLogs/")?;
    Some(&text[at..])
}

/// The digests and log files of the inputs.
#[derive(Default)]
struct Archive {
    digests: Vec<(Found, DigestName)>,
    /// Log files by key.
    logs: HashMap<String, Found>,
}

impl Archive {
    /// Files the walk or listing found, sorted into digests and log files by their keys.
    fn add(&mut self, text: &str, at: Where, size: u64) {
        let Some(key) = archive_key(text) else {
            return;
        };
        let found = Found {
            key: key.to_owned(),
            at,
            size,
        };
        if key.contains("/CloudTrail-Digest/") {
            if let Some(name) = DigestName::parse(key) {
                self.digests.push((found, name));
            }
        } else if key.contains("/CloudTrail/") && key.ends_with(".json.gz") {
            self.logs.insert(found.key.clone(), found);
        }
    }
}

/// How files are read: from disk, or from S3 with the digests' signature metadata.
struct Reader {
    remote: Option<Remote>,
}

impl Reader {
    /// The file's bytes, and for an S3 object its `x-amz-meta-signature`.
    fn read(&self, at: &Where) -> Result<(Vec<u8>, Option<String>)> {
        match at {
            Where::Local(path) => Ok((
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                None,
            )),
            Where::S3 { bucket, key } => {
                let remote = self.remote.as_ref().expect("S3 inputs open a client");
                let store = remote.store(bucket)?;
                let location = object_store::path::Path::parse(key)?;
                let url = format!("s3://{bucket}/{key}");
                crate::runtime::block_on(async {
                    let got = store.get(&location).await?;
                    let signature = got
                        .attributes
                        .get(&object_store::Attribute::Metadata("signature".into()))
                        .map(|v| v.to_string());
                    Ok((got.bytes().await?.to_vec(), signature))
                })
                .map_err(|e| crate::remote::explain(e, &url))
            }
        }
    }
}

/// Walks the local inputs and lists the S3 ones for digests and log files.
fn find(opts: &Options) -> Result<(Archive, Reader)> {
    let mut archive = Archive::default();
    let mut remote = None;
    for input in &opts.inputs {
        if let Some(url) = S3Url::parse(input) {
            let url = url?;
            let client = match &remote {
                Some(r) => r,
                None => remote.insert(Remote::new(opts.s3.clone())?),
            };
            let store = client.store(&url.bucket)?;
            let prefix = object_store::path::Path::parse(url.prefix.trim_end_matches('/'))?;
            let listed: Vec<object_store::ObjectMeta> = crate::runtime::block_on(async {
                use futures::TryStreamExt;
                store.list(Some(&prefix)).try_collect().await
            })
            .map_err(|e| crate::remote::explain(e, input))?;
            for meta in listed {
                let key = meta.location.to_string();
                let at = Where::S3 {
                    bucket: url.bucket.clone(),
                    key: key.clone(),
                };
                archive.add(&key, at, meta.size);
            }
            continue;
        }
        let input = Path::new(input);
        if !input.exists() {
            bail!("{} does not exist", input.display());
        }
        for entry in walkdir::WalkDir::new(input).follow_links(true) {
            let entry = entry.with_context(|| format!("walking {}", input.display()))?;
            if !entry.file_type().is_file() {
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            let path = entry.path();
            archive.add(&path.to_string_lossy(), Where::Local(path.to_owned()), size);
        }
    }
    Ok((archive, Reader { remote }))
}

/// Runs the verification, reporting the bytes read to `progress`.
pub fn run(opts: &Options, progress: &dyn Progress) -> Result<Outcome> {
    let (
        Archive {
            digests: found,
            logs: log_paths,
        },
        reader,
    ) = find(opts)?;
    let filter = &opts.filter;
    let in_range: Vec<(Found, DigestName)> = found
        .into_iter()
        .filter(|(_, n)| {
            filter.admits_time(n.end_ms)
                && filter.admits_account(Some(&n.account))
                && filter.admits_region(Some(&n.region))
        })
        .collect();
    // The work ahead, in stored bytes: the digests, then at most every log file.
    let total: u64 = in_range.iter().map(|(f, _)| f.size).sum::<u64>()
        + log_paths.values().map(|f| f.size).sum::<u64>();
    progress.start(total);
    let read: Vec<(String, Result<Digest>, Option<String>)> = in_range
        .par_iter()
        .map(|(f, name)| {
            let fetched = reader.read(&f.at);
            progress.advance(f.size, "digests");
            match fetched {
                Ok((bytes, signature)) => (
                    f.key.clone(),
                    Digest::read(&f.key, name.clone(), &bytes),
                    signature,
                ),
                Err(e) => (f.key.clone(), Err(e), None),
            }
        })
        .collect();
    let buckets: HashMap<&str, &str> = in_range
        .iter()
        .filter_map(|(f, _)| match &f.at {
            Where::S3 { bucket, .. } => Some((f.key.as_str(), bucket.as_str())),
            Where::Local(_) => None,
        })
        .collect();
    let mut outcome = Outcome::default();
    let mut digests: Vec<Digest> = Vec::new();
    let mut metadata: HashMap<String, String> = HashMap::new();
    for (key, result, signature) in read {
        if let Some(signature) = signature {
            metadata.insert(key.clone(), signature);
        }
        match result {
            Ok(d) => digests.push(d),
            Err(e) => outcome
                .digests
                .push((key, DigestStatus::Unreadable(format!("{e:#}")))),
        }
    }
    let by_key: HashMap<&str, &Digest> = digests.iter().map(|d| (d.key.as_str(), d)).collect();
    // What the next digest of each chain says about the one before it.
    let mut successors: HashMap<String, &Digest> = HashMap::new();
    for d in &digests {
        if let Some(previous) = d.file.previous_digest_s3_object.as_deref()
            && let Some(key) = archive_key(previous)
        {
            successors.insert(key.to_owned(), d);
        }
    }
    let mut proven: HashSet<&str> = HashSet::new();
    for d in &digests {
        let saved = metadata
            .get(&d.key)
            .or_else(|| opts.signatures.get(&d.key))
            .map(String::as_str);
        let status = match buckets.get(d.key.as_str()) {
            Some(bucket) if d.file.digest_s3_bucket.as_deref() != Some(bucket) => {
                DigestStatus::Moved(format!(
                    "CloudTrail put it in bucket {}, not {bucket}",
                    d.file.digest_s3_bucket.as_deref().unwrap_or_default()
                ))
            }
            _ => judge(d, successors.get(&d.key).copied(), saved, &opts.keys),
        };
        if status == DigestStatus::Valid {
            proven.insert(&d.key);
        }
        outcome.digests.push((d.key.clone(), status));
    }
    let unreadable: HashSet<String> = outcome.digests.iter().map(|(k, _)| k.clone()).collect();
    outcome.gaps = gaps(&digests, &by_key, &unreadable, &mut outcome.digests, filter);
    outcome.logs = logs(&digests, &proven, &log_paths, filter, &reader, progress);
    progress.finish();
    outcome.digests.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(outcome)
}

/// The verdict on one digest, given the next digest of its chain if there is one and its
/// signature if it was saved.
fn judge(
    d: &Digest,
    next: Option<&Digest>,
    saved: Option<&str>,
    keys: &PublicKeys,
) -> DigestStatus {
    let recorded = d.file.digest_s3_object.as_deref().unwrap_or_default();
    if archive_key(recorded) != Some(d.key.as_str()) {
        return DigestStatus::Moved(format!("CloudTrail put it at {recorded}"));
    }
    if let Some(next) = next
        && next.file.previous_digest_hash_value.as_deref() != Some(d.sha256.as_str())
    {
        return DigestStatus::Invalid(format!(
            "its SHA-256 is not the one the next digest ({}) recorded: it was changed",
            next.key
        ));
    }
    let chained = next.and_then(|n| n.file.previous_digest_signature.as_deref());
    if let (Some(saved), Some(chained)) = (saved, chained)
        && !saved.eq_ignore_ascii_case(chained)
    {
        return DigestStatus::Invalid(
            "its saved signature is not the one the next digest recorded".to_owned(),
        );
    }
    let Some(signature) = saved.or(chained) else {
        return DigestStatus::Unproven(
            "the newest digest of its chain, and a local copy keeps no signature metadata: \
             nothing later vouches for it (save signatures with --signatures)"
                .to_owned(),
        );
    };
    if keys.is_empty() {
        return DigestStatus::Unproven(
            "no --public-keys given to check its signature with".to_owned(),
        );
    }
    let fingerprint = d
        .file
        .digest_public_key_fingerprint
        .as_deref()
        .unwrap_or_default();
    match keys.check(fingerprint, d.signing_string().as_bytes(), signature) {
        Signature::Valid => DigestStatus::Valid,
        Signature::Invalid => DigestStatus::Invalid(
            "its signature does not match its content: it was changed after signing".to_owned(),
        ),
        Signature::UnknownKey => DigestStatus::UnknownKey(format!(
            "signed by key {fingerprint}, which is not among --public-keys"
        )),
    }
}

/// Walks each chain in time order for restarts, broken links and missing digests.
fn gaps(
    digests: &[Digest],
    by_key: &HashMap<&str, &Digest>,
    unreadable: &HashSet<String>,
    statuses: &mut Vec<(String, DigestStatus)>,
    filter: &EventFilter,
) -> Vec<Gap> {
    let mut chains: BTreeMap<ChainId, Vec<&Digest>> = BTreeMap::new();
    for d in digests.iter().filter(|d| !d.name.backfill) {
        chains.entry(d.name.chain()).or_default().push(d);
    }
    let mut gaps = Vec::new();
    for (chain, mut members) in chains {
        members.sort_by_key(|d| d.name.end_ms);
        for (i, d) in members.iter().enumerate() {
            let previous = d
                .file
                .previous_digest_s3_object
                .as_deref()
                .and_then(archive_key);
            match (previous, i.checked_sub(1).map(|j| members[j])) {
                (None, Some(before)) => gaps.push(Gap::Restart {
                    chain: chain.clone(),
                    from: before.file.digest_end_time.clone().unwrap_or_default(),
                    to: d.file.digest_start_time.clone().unwrap_or_default(),
                }),
                (Some(previous), before) => {
                    if by_key.contains_key(previous) {
                        if before.is_some_and(|b| b.key != previous) {
                            gaps.push(Gap::Broken {
                                chain: chain.clone(),
                                at: d.key.clone(),
                                expected: previous.to_owned(),
                            });
                        }
                    } else if unreadable.contains(previous) {
                        // Named already, as unreadable.
                    } else if DigestName::parse(previous)
                        .is_some_and(|n| filter.admits_time(n.end_ms))
                        || before.is_some()
                    {
                        statuses.push((previous.to_owned(), DigestStatus::Missing));
                    }
                }
                (None, None) => {}
            }
        }
    }
    gaps
}

/// Hashes every log file the digests list, and names the ones present that none lists.
fn logs(
    digests: &[Digest],
    proven: &HashSet<&str>,
    paths: &HashMap<String, Found>,
    filter: &EventFilter,
    reader: &Reader,
    progress: &dyn Progress,
) -> Vec<(String, LogStatus)> {
    let hash_log = |found: &Found| {
        let hash = reader
            .read(&found.at)
            .and_then(|(bytes, _)| Ok(hex(&Sha256::digest(gunzip_one_member(&bytes)?))));
        progress.advance(found.size, "log files");
        hash
    };
    let mut listed: BTreeMap<String, (String, bool)> = BTreeMap::new();
    for d in digests {
        for log in &d.file.log_files {
            let key = archive_key(&log.s3_object)
                .unwrap_or(&log.s3_object)
                .to_owned();
            let trusted = proven.contains(d.key.as_str());
            listed
                .entry(key)
                .and_modify(|(_, t)| *t |= trusted)
                .or_insert((log.hash_value.to_ascii_lowercase(), trusted));
        }
    }
    let hashed: Vec<(String, LogStatus)> = listed
        .par_iter()
        .map(|(key, (expected, trusted))| {
            let status = match paths.get(key) {
                None => LogStatus::Missing,
                Some(found) => match hash_log(found) {
                    Err(e) => LogStatus::Unreadable(format!("{e:#}")),
                    Ok(hash) if hash != *expected => LogStatus::Modified,
                    Ok(_) if *trusted => LogStatus::Valid,
                    Ok(_) => LogStatus::Unproven,
                },
            };
            (key.clone(), status)
        })
        .collect();
    // Logs present but listed by no digest: in the chains' accounts and regions and within
    // the window, so that a copy of more than the range is not all "unlisted".
    let covered: HashSet<(String, String)> = digests
        .iter()
        .map(|d| (d.name.account.clone(), d.name.region.clone()))
        .collect();
    let unlisted: Vec<(String, String)> = paths
        .par_iter()
        .filter(|(key, _)| !listed.contains_key(*key) && log_in_scope(key, &covered, filter))
        .map(|(key, found)| (key.clone(), hash_log(found).unwrap_or_default()))
        .collect();
    let mut out = hashed;
    let moved_to: HashMap<&str, &str> = unlisted
        .iter()
        .filter(|(_, hash)| !hash.is_empty())
        .map(|(key, hash)| (hash.as_str(), key.as_str()))
        .collect();
    for (key, status) in out.iter_mut() {
        if *status == LogStatus::Missing
            && let Some((hash, _)) = listed.get(key)
            && let Some(to) = moved_to.get(hash.as_str())
        {
            *status = LogStatus::Moved((*to).to_owned());
        }
    }
    let moved: HashSet<String> = out
        .iter()
        .filter_map(|(_, s)| match s {
            LogStatus::Moved(to) => Some(to.clone()),
            _ => None,
        })
        .collect();
    out.extend(
        unlisted
            .into_iter()
            .filter(|(key, _)| !moved.contains(key))
            .map(|(key, _)| (key, LogStatus::Unlisted)),
    );
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Whether a log file's key is of an account and region the digests cover, and its time (in
/// the file name) within the window.
fn log_in_scope(key: &str, covered: &HashSet<(String, String)>, filter: &EventFilter) -> bool {
    let file = key.rsplit('/').next().unwrap_or_default();
    let mut parts = file.split('_');
    let (Some(account), Some(_), Some(region), Some(stamp)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let ms = crate::time::parse_compact_utc(&format!("{}00Z", stamp.trim_end_matches('Z')));
    covered.contains(&(account.to_owned(), region.to_owned()))
        && ms.is_some_and(|ms| filter.admits_time(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn log_hashes_of_aws_clis_test_vectors() {
        for (text, hash) in [
            (
                &b"{}"[..],
                "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            ),
            (
                b"{\"foo\":\"bar\"}",
                "7a38bf81f383f69433ad6e900d35b3e2385593f76a7b7ab5d4355b8ba41ee24b",
            ),
        ] {
            assert_eq!(
                hex(&Sha256::digest(gunzip_one_member(&gzip(text)).unwrap())),
                hash
            );
        }
        let mut two = gzip(b"{\"foo\":\"bar\"}");
        two.extend(gzip(b"{\"baz\":\"qux\"}"));
        assert!(format!("{:#}", gunzip_one_member(&two).unwrap_err()).contains("unexpected data"));
        let whole = gzip(b"{}");
        assert!(gunzip_one_member(&whole[..whole.len() - 4]).is_err());
    }
}
