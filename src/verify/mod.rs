//! `hsmtrail verify`: proves from CloudTrail's signed digests that an archive is complete and
//! untampered (`../shared/reference/cloudtrail-digest-validation.md`).
//!
//! Every digest of the accounts and regions asked for is read once (those just outside the
//! window prove and list what is in it) and every log file the digests in the window list is
//! read once, in parallel; only the window is reported.
//! A digest is proven when its signature checks with CloudTrail's public key of its
//! fingerprint. The signature is the object's `x-amz-meta-signature` in S3; a local copy has
//! no metadata, but each digest carries its predecessor's signature, so every digest but the
//! newest of each chain is proven from the files alone. Beyond what aws-cli checks, each
//! digest's hash is compared with what its successor recorded, chains are walked for gaps and
//! restarts, and log files no digest lists are named.

pub mod digest;
pub mod keys;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use self::digest::{ChainId, Digest, DigestName, hex};
use self::keys::{PublicKeys, Signature};
use crate::error::UsageError;
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
    /// Listed, but its content differs (from a proven digest's record, or between copies).
    Modified(String),
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
    /// A digest follows one that is not the previous digest it names: a digest is out of
    /// place.
    Broken {
        chain: ChainId,
        at: String,
        expected: String,
    },
    /// Digests are missing: no digest of the chain between the two times.
    Hole {
        chain: ChainId,
        from: String,
        to: String,
    },
    /// The chain's newest digest ends well before the newest of the other chains (and the
    /// window): its newest digests may have been deleted, or its trail was stopped or deleted.
    /// Reported, not a failure: the files alone cannot tell the two apart.
    EndsEarly {
        chain: ChainId,
        at: String,
        others_until: String,
    },
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct Outcome {
    pub digests: Vec<(String, DigestStatus)>,
    pub logs: Vec<(String, LogStatus)>,
    pub gaps: Vec<Gap>,
    /// Files or folders of the inputs that could not be read at all (a dangling link, no
    /// permission), with why.
    pub unreadable: Vec<(String, String)>,
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
            && self
                .gaps
                .iter()
                .all(|g| matches!(g, Gap::Restart { .. } | Gap::EndsEarly { .. }))
            && self.unreadable.is_empty()
    }
}

/// Reads a `--signatures` file: a JSON object of digest keys (S3 object keys or paths; matched
/// from `AWSLogs/` on) and their hex signatures.
pub fn read_signatures(path: &Path) -> Result<HashMap<String, String>> {
    let text = std::fs::read(path)
        .map_err(|e| UsageError(format!("reading --signatures {}: {e}", path.display())))?;
    let map: HashMap<String, String> = serde_json::from_slice(&text).map_err(|e| {
        UsageError(format!(
            "--signatures {}: not a JSON object of digest keys and their signatures ({e})",
            path.display()
        ))
    })?;
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| Some((archive_key(&k)?.to_owned(), v)))
        .collect())
}

/// Largest inflated digest: real ones are a few KB to a few MB; more is a gzip bomb.
const MAX_DIGEST_BYTES: u64 = 256 << 20;
/// Largest inflated log file, as `convert`'s default `--max-file-bytes`.
const MAX_LOG_BYTES: u64 = crate::convert::DEFAULT_MAX_FILE_BYTES;

/// Inflates exactly one gzip member of at most `limit` bytes; data after it is an error
/// (CloudTrail writes one member; a second one appended would be read by multi-member readers
/// but covered by no hash). libdeflate, as `convert` inflates.
pub fn gunzip_one_member(gzipped: &[u8], limit: u64) -> Result<Vec<u8>> {
    crate::input::decode::gunzip_single_member(gzipped, limit).map_err(anyhow::Error::msg)
}

/// Where a file of the archive is.
#[derive(Debug, Clone)]
enum Where {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

impl Where {
    fn describe(&self) -> String {
        match self {
            Where::Local(p) => p.display().to_string(),
            Where::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        }
    }
}

/// A file of the archive: its key from `AWSLogs/` on, where it is, and its size.
struct Found {
    at: Where,
    size: u64,
}

/// The key a path or an S3 object key has from `AWSLogs/` on, which is how digests are
/// matched with the files of a copy made anywhere: from the `AWSLogs/` that precedes the
/// `CloudTrail/` or `CloudTrail-Digest/` folder (a copy may sit below a folder that is
/// itself called `AWSLogs`).
pub fn archive_key(text: &str) -> Option<&str> {
    let trail = ["/CloudTrail/", "/CloudTrail-Digest/"]
        .iter()
        .filter_map(|m| text.rfind(m))
        .max()?;
    let at = text[..trail].rfind("AWSLogs/")?;
    Some(&text[at..])
}

/// The digests and log files of the inputs, each key with every copy found (the same bucket
/// given twice, or a forged copy beside the real one).
#[derive(Default)]
struct Archive {
    digests: BTreeMap<String, (DigestName, Vec<Found>)>,
    logs: BTreeMap<String, Vec<Found>>,
    unreadable: Vec<(String, String)>,
}

impl Archive {
    /// Files the walk or listing found, sorted into digests and log files by their keys.
    fn add(&mut self, text: &str, at: Where, size: u64) {
        let Some(key) = archive_key(text) else {
            return;
        };
        let found = Found { at, size };
        if key.contains("/CloudTrail-Digest/") {
            match DigestName::parse(key) {
                Some(name) => self
                    .digests
                    .entry(key.to_owned())
                    .or_insert_with(|| (name, Vec::new()))
                    .1
                    .push(found),
                None => self.unreadable.push((
                    found.at.describe(),
                    "in a CloudTrail-Digest folder, but not named like a digest".to_owned(),
                )),
            }
        } else {
            // Anything in a CloudTrail folder is read by `convert`: a planted file is named.
            self.logs.entry(key.to_owned()).or_default().push(found);
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

/// Walks the local inputs and lists the S3 ones for digests and log files. A file or folder
/// the walk cannot enter is named and the walk goes on.
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
            return Err(UsageError(format!("{} does not exist", input.display())).into());
        }
        for entry in walkdir::WalkDir::new(input).follow_links(true) {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    let path = e
                        .path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default();
                    archive.unreadable.push((path, e.to_string()));
                    continue;
                }
            };
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

/// One digest as read: parsed (or why not), its signature from S3 metadata, whether its
/// copies disagree, and where it came from.
struct ReadDigest {
    key: String,
    name: DigestName,
    parsed: Result<Digest>,
    metadata_signature: Option<String>,
    from_s3: Option<String>,
}

/// Reads every copy of a digest: copies that differ make it unreadable as evidence.
fn read_digest(key: &str, name: &DigestName, copies: &[Found], reader: &Reader) -> ReadDigest {
    let mut parsed: Option<Result<Digest>> = None;
    let mut metadata_signature = None;
    for found in copies {
        let this = reader.read(&found.at).and_then(|(bytes, signature)| {
            metadata_signature = metadata_signature.take().or(signature);
            Digest::read(key, name.clone(), &bytes)
        });
        parsed = Some(match (parsed, this) {
            (None, this) => this,
            (Some(Ok(first)), Ok(other)) if first.sha256 != other.sha256 => Err(anyhow::anyhow!(
                "its copies differ ({}): which one is CloudTrail's cannot be told",
                copies
                    .iter()
                    .map(|f| f.at.describe())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            (Some(first), _) => first,
        });
    }
    ReadDigest {
        key: key.to_owned(),
        name: name.clone(),
        parsed: parsed.unwrap_or_else(|| Err(anyhow::anyhow!("no copy"))),
        metadata_signature,
        from_s3: copies.iter().find_map(|f| match &f.at {
            Where::S3 { bucket, .. } => Some(bucket.clone()),
            Where::Local(_) => None,
        }),
    }
}

/// Runs the verification, reporting the bytes read to `progress`.
///
/// Every digest of the accounts and regions asked for is read (digests are small), so that a
/// digest at the window's end is proven by its successor and a log delivered late, in a digest
/// just after the window, is not called unlisted; only what lies in the window is reported.
pub fn run(opts: &Options, progress: &dyn Progress) -> Result<Outcome> {
    let (archive, reader) = find(opts)?;
    let filter = &opts.filter;
    let of_scope = |n: &DigestName| {
        filter.admits_account(Some(&n.account)) && filter.admits_region(Some(&n.region))
    };
    let in_window = |n: &DigestName| of_scope(n) && filter.admits_time(n.end_ms);
    let candidates: Vec<(&String, &(DigestName, Vec<Found>))> = archive
        .digests
        .iter()
        .filter(|(_, (n, _))| of_scope(n))
        .collect();
    let total: u64 = candidates
        .iter()
        .flat_map(|(_, (_, copies))| copies.iter().map(|f| f.size))
        .sum::<u64>()
        + archive.logs.values().flatten().map(|f| f.size).sum::<u64>();
    progress.start(total);
    let read: Vec<ReadDigest> = candidates
        .par_iter()
        .map(|(key, (name, copies))| {
            let digest = read_digest(key, name, copies, &reader);
            progress.advance(copies.iter().map(|f| f.size).sum(), "digests");
            digest
        })
        .collect();
    let mut outcome = Outcome {
        unreadable: archive.unreadable.clone(),
        ..Outcome::default()
    };
    let mut digests: Vec<&Digest> = Vec::new();
    let mut statuses: BTreeMap<String, DigestStatus> = BTreeMap::new();
    for r in &read {
        match &r.parsed {
            Ok(d) => digests.push(d),
            Err(e) => {
                statuses.insert(r.key.clone(), DigestStatus::Unreadable(format!("{e:#}")));
            }
        }
    }
    let by_key: HashMap<&str, &Digest> = digests.iter().map(|d| (d.key.as_str(), *d)).collect();
    // What the next digest of each chain says about the one before it.
    let mut successors: HashMap<&str, &Digest> = HashMap::new();
    for d in &digests {
        if let Some(previous) = d
            .file
            .previous_digest_s3_object
            .as_deref()
            .and_then(archive_key)
        {
            successors.insert(previous, d);
        }
    }
    let mut proven: HashSet<&str> = HashSet::new();
    for r in &read {
        let Ok(d) = &r.parsed else { continue };
        let saved = r
            .metadata_signature
            .as_ref()
            .or_else(|| opts.signatures.get(&d.key))
            .map(String::as_str);
        let status = match &r.from_s3 {
            Some(bucket) if d.file.digest_s3_bucket.as_deref() != Some(bucket.as_str()) => {
                DigestStatus::Moved(format!(
                    "CloudTrail put it in bucket {}, not {bucket}",
                    d.file.digest_s3_bucket.as_deref().unwrap_or_default()
                ))
            }
            _ => judge(
                d,
                successors.get(d.key.as_str()).copied(),
                saved,
                r.from_s3.is_some(),
                &opts.keys,
            ),
        };
        if status == DigestStatus::Valid {
            proven.insert(&d.key);
        }
        statuses.insert(d.key.clone(), status);
    }
    // A digest whose saved signature proves it existed, gone from the archive.
    for key in opts.signatures.keys() {
        if !archive.digests.contains_key(key)
            && DigestName::parse(key).is_some_and(|n| in_window(&n))
        {
            statuses.insert(key.clone(), DigestStatus::Missing);
        }
    }
    let gaps = gaps(&digests, &by_key, &mut statuses, filter);
    // Only what lies in the window is reported.
    outcome.digests = statuses
        .into_iter()
        .filter(|(key, _)| DigestName::parse(key).is_none_or(|n| in_window(&n)))
        .collect();
    outcome.gaps = gaps;
    let reported: HashSet<&str> = read
        .iter()
        .filter(|r| in_window(&r.name))
        .map(|r| r.key.as_str())
        .collect();
    outcome.logs = logs(
        &digests,
        &reported,
        &proven,
        &archive.logs,
        filter,
        &reader,
        progress,
    );
    progress.finish();
    Ok(outcome)
}

/// The verdict on one digest, given the next digest of its chain if there is one and its
/// signature if it was saved.
fn judge(
    d: &Digest,
    next: Option<&Digest>,
    saved: Option<&str>,
    in_s3: bool,
    keys: &PublicKeys,
) -> DigestStatus {
    let recorded = d.file.digest_s3_object.as_deref().unwrap_or_default();
    if archive_key(recorded) != Some(d.key.as_str()) {
        return DigestStatus::Moved(format!("CloudTrail put it at {recorded}"));
    }
    if let Some(next) = next
        && !next
            .file
            .previous_digest_hash_value
            .as_deref()
            .is_some_and(|h| h.eq_ignore_ascii_case(&d.sha256))
    {
        return DigestStatus::Invalid(format!(
            "its SHA-256 is not the one the next digest ({}) recorded: one of the two was changed",
            next.key
        ));
    }
    let chained = next.and_then(|n| n.file.previous_digest_signature.as_deref());
    if let (Some(saved), Some(chained)) = (saved, chained)
        && !saved.eq_ignore_ascii_case(chained)
    {
        return DigestStatus::Invalid(format!(
            "its own signature is not the one the next digest ({}) recorded: one of the two was changed",
            next.map(|n| n.key.as_str()).unwrap_or_default()
        ));
    }
    let Some(signature) = saved.or(chained) else {
        let why = if d.name.backfill {
            "a backfill digest, which no later digest names"
        } else {
            "the newest digest of its chain, which no later digest names"
        };
        let how = if in_s3 {
            "and its S3 object has no signature metadata"
        } else {
            "and a local copy keeps no signature metadata (save signatures with --signatures)"
        };
        return DigestStatus::Unproven(format!("{why}, {how}"));
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

/// Walks each chain in time order for restarts, holes and broken links, and chains that end
/// early; a digest the next one names but the archive lacks is missing.
fn gaps(
    digests: &[&Digest],
    by_key: &HashMap<&str, &Digest>,
    statuses: &mut BTreeMap<String, DigestStatus>,
    filter: &EventFilter,
) -> Vec<Gap> {
    let mut chains: BTreeMap<ChainId, Vec<&Digest>> = BTreeMap::new();
    for d in digests.iter().filter(|d| !d.name.backfill) {
        chains.entry(d.name.chain()).or_default().push(d);
    }
    let in_window = |ms: i64| filter.admits_time(ms);
    let newest = chains
        .values()
        .filter_map(|m| m.iter().map(|d| d.name.end_ms).max())
        .max();
    let mut gaps = Vec::new();
    for (chain, mut members) in chains {
        members.sort_by_key(|d| d.name.end_ms);
        let end = |d: &Digest| d.file.digest_end_time.clone().unwrap_or_default();
        let start = |d: &Digest| d.file.digest_start_time.clone().unwrap_or_default();
        for (i, d) in members.iter().enumerate() {
            let before = i.checked_sub(1).map(|j| members[j]);
            let previous = d
                .file
                .previous_digest_s3_object
                .as_deref()
                .and_then(archive_key);
            let reported = in_window(d.name.end_ms);
            match (previous, before) {
                (None, Some(before)) if reported => gaps.push(Gap::Restart {
                    chain: chain.clone(),
                    from: end(before),
                    to: start(d),
                }),
                (Some(previous), before) if !by_key.contains_key(previous) => {
                    if !statuses.contains_key(previous) {
                        statuses.insert(previous.to_owned(), DigestStatus::Missing);
                    }
                    if reported {
                        gaps.push(Gap::Hole {
                            chain: chain.clone(),
                            from: before.map_or_else(|| "the start of the archive".to_owned(), end),
                            to: start(d),
                        });
                    }
                }
                (Some(previous), Some(before)) if before.key != previous && reported => {
                    gaps.push(Gap::Broken {
                        chain: chain.clone(),
                        at: d.key.clone(),
                        expected: previous.to_owned(),
                    })
                }
                _ => {}
            }
        }
        // CloudTrail delivers a digest every hour, even an empty one, while a trail logs.
        if let (Some(last), Some(newest)) = (members.last(), newest) {
            let until = filter.until_ms().map_or(newest, |u| u.min(newest));
            if last.name.end_ms + 2 * 3_600_000 < until && filter.admits_time(last.name.end_ms) {
                gaps.push(Gap::EndsEarly {
                    chain: chain.clone(),
                    at: end(last),
                    others_until: crate::time::render_millis(until),
                });
            }
        }
    }
    gaps
}

/// What one digest records about a log file.
struct Expected<'d> {
    hash: &'d str,
    /// The digest is proven.
    trusted: bool,
}

/// Hashes every log file the digests in the window list (every copy of it), and names the
/// files present that no digest lists.
#[allow(clippy::too_many_arguments)]
fn logs(
    digests: &[&Digest],
    reported: &HashSet<&str>,
    proven: &HashSet<&str>,
    paths: &BTreeMap<String, Vec<Found>>,
    filter: &EventFilter,
    reader: &Reader,
    progress: &dyn Progress,
) -> Vec<(String, LogStatus)> {
    let hash_log = |found: &Found| {
        let hash = reader.read(&found.at).and_then(|(bytes, _)| {
            Ok(hex(&Sha256::digest(gunzip_one_member(
                &bytes,
                MAX_LOG_BYTES,
            )?)))
        });
        progress.advance(found.size, "log files");
        hash
    };
    // Every digest read counts for "listed"; those in the window say what is checked.
    let mut listed: BTreeMap<String, Vec<Expected<'_>>> = BTreeMap::new();
    let mut checked: HashSet<String> = HashSet::new();
    for d in digests {
        for log in &d.file.log_files {
            let key = archive_key(&log.s3_object)
                .unwrap_or(&log.s3_object)
                .to_owned();
            if reported.contains(d.key.as_str()) {
                checked.insert(key.clone());
            }
            listed.entry(key).or_default().push(Expected {
                hash: &log.hash_value,
                trusted: proven.contains(d.key.as_str()),
            });
        }
    }
    let hashed: Vec<(String, LogStatus)> = listed
        .par_iter()
        .filter(|(key, _)| checked.contains(*key))
        .map(|(key, expected)| {
            let status = match paths.get(key) {
                None => LogStatus::Missing,
                Some(copies) => {
                    let hashes: Result<Vec<String>> = copies.iter().map(&hash_log).collect();
                    match hashes {
                        Err(e) => LogStatus::Unreadable(format!("{e:#}")),
                        Ok(hashes) => verdict(&hashes, expected, copies),
                    }
                }
            };
            (key.clone(), status)
        })
        .collect();
    // Files present that no digest lists, within the window (by the time in their name;
    // a file named otherwise is always reported).
    let unlisted: Vec<(String, String)> = paths
        .par_iter()
        .filter(|(key, _)| !listed.contains_key(*key) && log_in_window(key, filter))
        .map(|(key, copies)| {
            let hash = copies
                .first()
                .and_then(|f| hash_log(f).ok())
                .unwrap_or_default();
            (key.clone(), hash)
        })
        .collect();
    let mut out = hashed;
    let moved_to: HashMap<&str, &str> = unlisted
        .iter()
        .filter(|(_, hash)| !hash.is_empty())
        .map(|(key, hash)| (hash.as_str(), key.as_str()))
        .collect();
    for (key, status) in out.iter_mut() {
        if *status == LogStatus::Missing
            && let Some(to) = listed.get(key).and_then(|e| {
                e.iter()
                    .find_map(|e| moved_to.get(e.hash.to_ascii_lowercase().as_str()))
            })
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

/// A log file's verdict from the hashes of its copies and what the digests record: valid only
/// when every copy matches every proven digest's record.
fn verdict(hashes: &[String], expected: &[Expected<'_>], copies: &[Found]) -> LogStatus {
    let first = &hashes[0];
    if let Some(other) = hashes.iter().position(|h| h != first) {
        return LogStatus::Modified(format!(
            "its copies differ: {} and {}",
            copies[0].at.describe(),
            copies[other].at.describe()
        ));
    }
    let matches = |e: &Expected<'_>| e.hash.eq_ignore_ascii_case(first);
    if expected.iter().any(|e| e.trusted && !matches(e)) {
        return LogStatus::Modified("its SHA-256 differs from a proven digest's record".to_owned());
    }
    if expected.iter().any(|e| e.trusted) {
        return LogStatus::Valid;
    }
    if expected.iter().any(|e| !matches(e)) {
        return LogStatus::Modified("its SHA-256 differs from its digest's record".to_owned());
    }
    LogStatus::Unproven
}

/// Whether a log file's time (in its name) is in the window; a name without one always is.
fn log_in_window(key: &str, filter: &EventFilter) -> bool {
    let file = key.rsplit('/').next().unwrap_or_default();
    let stamp = file.split('_').nth(3).unwrap_or_default();
    let ms = crate::time::parse_compact_utc(&format!("{}00Z", stamp.trim_end_matches('Z')));
    let account_region: Vec<&str> = file.split('_').collect();
    match (ms, account_region.as_slice()) {
        (Some(ms), [account, _, region, ..]) => {
            filter.admits_time(ms)
                && filter.admits_account(Some(account))
                && filter.admits_region(Some(region))
        }
        _ => true,
    }
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
                hex(&Sha256::digest(
                    gunzip_one_member(&gzip(text), 1 << 20).unwrap()
                )),
                hash
            );
        }
        let mut two = gzip(b"{\"foo\":\"bar\"}");
        two.extend(gzip(b"{\"baz\":\"qux\"}"));
        assert!(
            format!("{:#}", gunzip_one_member(&two, 1 << 20).unwrap_err())
                .contains("unexpected data")
        );
        let whole = gzip(b"{}");
        assert!(gunzip_one_member(&whole[..whole.len() - 4], 1 << 20).is_err());
        assert!(gunzip_one_member(&gzip(&[b' '; 4096]), 1024).is_err());
    }
}
