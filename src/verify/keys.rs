//! CloudTrail's public keys, from the JSON `aws cloudtrail list-public-keys` prints, found by
//! the fingerprint each digest names: the lowercase hex MD5 of the key's DER bytes. Signatures
//! are RSASSA-PKCS1-v1_5 with SHA-256, checked by `ring`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use md5::{Digest as _, Md5};
use serde::Deserialize;
use x509_cert::der::Decode;
use x509_cert::spki::SubjectPublicKeyInfoRef;

use super::digest::hex;

/// The keys known, by fingerprint.
#[derive(Debug, Default)]
pub struct PublicKeys {
    /// PKCS#1 RSAPublicKey DER, by fingerprint.
    by_fingerprint: HashMap<String, Vec<u8>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPublicKeys {
    public_key_list: Vec<ListedKey>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedKey {
    /// Base64 of the DER key (PKCS#1, or SubjectPublicKeyInfo in one of AWS's samples).
    value: String,
    fingerprint: Option<String>,
}

impl PublicKeys {
    /// Reads `list-public-keys` outputs (one a region, or many).
    pub fn read(files: &[impl AsRef<Path>]) -> Result<PublicKeys> {
        let mut keys = PublicKeys::default();
        for file in files {
            let file = file.as_ref();
            let text = std::fs::read(file)
                .with_context(|| format!("reading the public keys in {}", file.display()))?;
            keys.add_listing(&text)
                .with_context(|| format!("reading the public keys in {}", file.display()))?;
        }
        Ok(keys)
    }

    fn add_listing(&mut self, json: &[u8]) -> Result<()> {
        let listing: ListPublicKeys = serde_json::from_slice(json)
            .context("not the JSON output of `aws cloudtrail list-public-keys`")?;
        for (n, key) in listing.public_key_list.iter().enumerate() {
            let der = base64::engine::general_purpose::STANDARD
                .decode(key.value.trim())
                .with_context(|| format!("key {} is not base64", n + 1))?;
            let fingerprint = self.add_der(&der)?;
            if let Some(listed) = &key.fingerprint
                && !listed.eq_ignore_ascii_case(&fingerprint)
            {
                bail!(
                    "key {} has the fingerprint {fingerprint}, not {listed} as listed",
                    n + 1
                );
            }
        }
        Ok(())
    }

    /// Adds one DER key; returns its fingerprint.
    pub fn add_der(&mut self, der: &[u8]) -> Result<String> {
        let fingerprint = hex(&Md5::digest(der));
        let pkcs1 = match SubjectPublicKeyInfoRef::from_der(der) {
            Ok(spki) => spki.subject_public_key.raw_bytes().to_vec(),
            Err(_) => der.to_vec(),
        };
        self.by_fingerprint.insert(fingerprint.clone(), pkcs1);
        Ok(fingerprint)
    }

    pub fn is_empty(&self) -> bool {
        self.by_fingerprint.is_empty()
    }

    /// Checks `signature` (hex) over `message` with the key of `fingerprint`.
    pub fn check(&self, fingerprint: &str, message: &[u8], signature_hex: &str) -> Signature {
        let Some(key) = self.by_fingerprint.get(&fingerprint.to_ascii_lowercase()) else {
            return Signature::UnknownKey;
        };
        let Some(signature) = unhex(signature_hex) else {
            return Signature::Invalid;
        };
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            key,
        );
        match key.verify(message, &signature) {
            Ok(()) => Signature::Valid,
            Err(_) => Signature::Invalid,
        }
    }
}

/// What checking one signature found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    Valid,
    Invalid,
    /// No key with the digest's fingerprint was given.
    UnknownKey,
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// aws-cli's test key pair (`tests/unit/customizations/cloudtrail/test_resource/`), and a
    /// signature made with its private key over the signing string of aws-cli's test vector.
    const AWS_CLI_PUBLIC_KEY: &str = "MIIBCgKCAQEAsVYkrQG55kbh2HTOhdAYK8S/y3SPWiC0c3wqBxcOFXxP7lAca7i6JhMbEa/PepPew+b6tDGQeOHapuaz47Ic2cDHclxjS+lO1zlfGTzr97K9YggbqLOsPiqrBBioFKs9vOOXaoL5hcmtdScvgjXxm1DDid4w4KC9w7NLYBocAN03Ve5EAyfahDqI+l4HdoGdjIuDqeI2T2DRiM8/IBPgirkgH6oOsMgIqEZOYYUny4o8c/09KoqAIYfbWFLoaj/ISLnegveN75tIjg06DX4/NfUFnqQs4TeGr7YQPa4Y363YGCqGinO8Y05SexctpstsAnjaiGXPYee2qqr+SxyyoQIDAQAB";
    const SIGNATURE: &str = "7a18d248c3f83c372db2847946a70dee9de237406ef15f9a2f8b8797c3ab540de69001119802976ea60b907fc738e248a195c9db8be6fd5ed876162eedd7daeb6709df3ec035c714d24633d591432e4482391fb8c12a8697ecac1a860172e69eca2f993788e63eb4c5febce641c8ff7d2771f568cbb21b36648e37b7641b938205a8984f2857b447362b17bfcccb446f1d36925d02b58281d68260742bb0a8d792034e0a87fa802842137fe6aff29255de1ca379b07fbd5a61bc3e06aa070615122461e1a08daa8dc1de20a0b83bd7aa9b373fac2e337223453a5d2a2dd532ae981eeb6671c77f412f53ce715e30cce70bc4bc4d7c8792f217ac98b54e4f35f9";
    const MESSAGE: &str =
        "a\nb/c\nba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\nnull";

    #[test]
    fn aws_clis_test_key_verifies_its_signature() {
        let listing = format!(
            r#"{{"PublicKeyList":[{{"Value":"{AWS_CLI_PUBLIC_KEY}","Fingerprint":"3a35183f878722f06327a2c6f5948836"}}]}}"#
        );
        let mut keys = PublicKeys::default();
        keys.add_listing(listing.as_bytes()).unwrap();
        let f = "3a35183f878722f06327a2c6f5948836";
        assert_eq!(
            keys.check(f, MESSAGE.as_bytes(), SIGNATURE),
            Signature::Valid
        );
        assert_eq!(
            keys.check(f, b"a\nb/c\nX\nnull", SIGNATURE),
            Signature::Invalid
        );
        assert_eq!(keys.check(f, MESSAGE.as_bytes(), "zz"), Signature::Invalid);
        assert_eq!(
            keys.check("00", MESSAGE.as_bytes(), SIGNATURE),
            Signature::UnknownKey
        );
        let wrong = listing.replace("3a35183f", "00000000");
        assert!(PublicKeys::default().add_listing(wrong.as_bytes()).is_err());
    }

    #[test]
    fn subject_public_key_info_keys_are_read_too() {
        // aws-cli's test key wrapped as SubjectPublicKeyInfo, the form one of AWS's documented
        // list-public-keys samples has.
        let spki = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsVYkrQG55kbh2HTOhdAYK8S/y3SPWiC0c3wqBxcOFXxP7lAca7i6JhMbEa/PepPew+b6tDGQeOHapuaz47Ic2cDHclxjS+lO1zlfGTzr97K9YggbqLOsPiqrBBioFKs9vOOXaoL5hcmtdScvgjXxm1DDid4w4KC9w7NLYBocAN03Ve5EAyfahDqI+l4HdoGdjIuDqeI2T2DRiM8/IBPgirkgH6oOsMgIqEZOYYUny4o8c/09KoqAIYfbWFLoaj/ISLnegveN75tIjg06DX4/NfUFnqQs4TeGr7YQPa4Y363YGCqGinO8Y05SexctpstsAnjaiGXPYee2qqr+SxyyoQIDAQAB";
        let der = base64::engine::general_purpose::STANDARD
            .decode(spki)
            .unwrap();
        let mut keys = PublicKeys::default();
        let f = keys.add_der(&der).unwrap();
        // The SPKI wrapping of aws-cli's test key verifies like the bare PKCS#1 key.
        assert_eq!(
            keys.check(&f, MESSAGE.as_bytes(), SIGNATURE),
            Signature::Valid
        );
    }
}
