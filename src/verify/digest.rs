//! One CloudTrail digest file: where it is, what it says, and the exact string its signature
//! covers (`../shared/reference/cloudtrail-digest-validation.md` sections 1 to 4).

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::time;

/// What a digest's object key says: `…/AWSLogs/[o-ORG/]ACCOUNT/CloudTrail-Digest/REGION/Y/M/D/
/// ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_YYYYMMDDTHHMMSSZ[_backfill].json.gz`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DigestName {
    pub account: String,
    /// The region that delivered the digest (whose key signed it).
    pub region: String,
    pub trail: String,
    pub home_region: String,
    /// The digest's end time, ms since the epoch.
    pub end_ms: i64,
    pub backfill: bool,
}

impl DigestName {
    /// Parses the file name of a digest key; `None` for anything else.
    pub fn parse(key: &str) -> Option<DigestName> {
        let file = key.rsplit('/').next()?;
        let stem = file.strip_suffix(".json.gz")?;
        let (stem, backfill) = match stem.strip_suffix("_backfill") {
            Some(s) => (s, true),
            None => (stem, false),
        };
        let (head, stamp) = stem.rsplit_once('_')?;
        let (account, rest) = head.split_once("_CloudTrail-Digest_")?;
        let (region, rest) = rest.split_once('_')?;
        // The trail name may hold underscores; the home region, last, does not.
        let (trail, home_region) = rest.rsplit_once('_')?;
        let end_ms = time::parse_compact_utc(stamp)?;
        Some(DigestName {
            account: account.to_owned(),
            region: region.to_owned(),
            trail: trail.to_owned(),
            home_region: home_region.to_owned(),
            end_ms,
            backfill,
        })
    }

    /// The chain this digest belongs to: one per trail, account and delivering region.
    pub fn chain(&self) -> ChainId {
        ChainId {
            account: self.account.clone(),
            region: self.region.clone(),
            trail: self.trail.clone(),
            home_region: self.home_region.clone(),
        }
    }
}

/// One chain of digests.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainId {
    pub account: String,
    pub region: String,
    pub trail: String,
    pub home_region: String,
}

impl std::fmt::Display for ChainId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "trail {} (home {}), account {}, region {}",
            self.trail, self.home_region, self.account, self.region
        )
    }
}

/// The fields of a digest file hsmtrail checks, as written (times and keys verbatim, for the
/// signing string).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestFile {
    pub aws_account_id: Option<String>,
    pub digest_start_time: Option<String>,
    pub digest_end_time: Option<String>,
    pub digest_s3_bucket: Option<String>,
    pub digest_s3_object: Option<String>,
    pub digest_public_key_fingerprint: Option<String>,
    pub previous_digest_s3_bucket: Option<String>,
    pub previous_digest_s3_object: Option<String>,
    pub previous_digest_hash_value: Option<String>,
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<LogFileEntry>,
}

/// A log file a digest lists.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogFileEntry {
    pub s3_bucket: String,
    pub s3_object: String,
    pub hash_value: String,
}

/// A digest read and parsed: its file, its inflated bytes' SHA-256, and its fields.
#[derive(Debug, Clone)]
pub struct Digest {
    /// The object key (from `AWSLogs/` on for a local copy) it was found at.
    pub key: String,
    pub name: DigestName,
    /// Lowercase hex SHA-256 of the inflated bytes.
    pub sha256: String,
    pub file: DigestFile,
}

impl Digest {
    /// Inflates and parses a digest object; the error says what is wrong with it.
    pub fn read(key: &str, name: DigestName, gzipped: &[u8]) -> Result<Digest> {
        let inflated = super::gunzip_one_member(gzipped, super::MAX_DIGEST_BYTES)?;
        let file: DigestFile =
            serde_json::from_slice(&inflated).context("not a CloudTrail digest JSON object")?;
        for (field, present) in [
            ("digestEndTime", file.digest_end_time.is_some()),
            ("digestS3Bucket", file.digest_s3_bucket.is_some()),
            ("digestS3Object", file.digest_s3_object.is_some()),
            (
                "digestPublicKeyFingerprint",
                file.digest_public_key_fingerprint.is_some(),
            ),
        ] {
            if !present {
                bail!("the digest has no {field}");
            }
        }
        Ok(Digest {
            key: key.to_owned(),
            name,
            sha256: hex(&Sha256::digest(&inflated)),
            file,
        })
    }

    /// The string CloudTrail signs: end time, `bucket/object`, the digest's SHA-256 and the
    /// previous digest's signature (`null` for the first of a chain), one a line, no newline
    /// at the end.
    pub fn signing_string(&self) -> String {
        let f = &self.file;
        format!(
            "{}\n{}/{}\n{}\n{}",
            f.digest_end_time.as_deref().unwrap_or_default(),
            f.digest_s3_bucket.as_deref().unwrap_or_default(),
            f.digest_s3_object.as_deref().unwrap_or_default(),
            self.sha256,
            f.previous_digest_signature.as_deref().unwrap_or("null")
        )
    }

    /// Whether the digest starts a chain (validation or logging turned on).
    pub fn starts_chain(&self) -> bool {
        self.file.previous_digest_s3_object.is_none()
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_names() {
        let n = DigestName::parse("AWSLogs/o-abc/111122223333/CloudTrail-Digest/us-east-1/2015/08/17/111122223333_CloudTrail-Digest_us-east-1_my_trail_us-west-2_20150817T150131Z.json.gz").unwrap();
        assert_eq!(n.account, "111122223333");
        assert_eq!(n.region, "us-east-1");
        assert_eq!(n.trail, "my_trail");
        assert_eq!(n.home_region, "us-west-2");
        assert_eq!(time::render_millis(n.end_ms), "2015-08-17T15:01:31.000Z");
        assert!(!n.backfill);
        let b = DigestName::parse(
            "x/1_CloudTrail-Digest_eu-west-1_t_eu-west-1_20240101T000000Z_backfill.json.gz",
        )
        .unwrap();
        assert!(b.backfill);
        assert!(DigestName::parse("x/1_CloudTrail_us-east-1_20240101T0000Z_abc.json.gz").is_none());
    }

    #[test]
    fn the_signing_string_of_aws_clis_test_vector() {
        let d = Digest {
            key: "c".into(),
            name: DigestName::parse("1_CloudTrail-Digest_r_t_r_20240101T000000Z.json.gz").unwrap(),
            sha256: hex(&Sha256::digest(b"abc")),
            file: DigestFile {
                aws_account_id: None,
                digest_start_time: None,
                digest_end_time: Some("a".into()),
                digest_s3_bucket: Some("b".into()),
                digest_s3_object: Some("c".into()),
                digest_public_key_fingerprint: Some("f".into()),
                previous_digest_s3_bucket: None,
                previous_digest_s3_object: None,
                previous_digest_hash_value: None,
                previous_digest_signature: None,
                log_files: Vec::new(),
            },
        };
        assert_eq!(
            d.signing_string(),
            "a\nb/c\nba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\nnull"
        );
    }
}
