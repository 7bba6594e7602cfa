//! What an auditor asks of a certificate in a record (InitializeCluster's `signedCert` and
//! `trustAnchor`): its SHA-256 fingerprint, subject, issuer and validity, read with the
//! RustCrypto `x509-cert` crate. The PEM text itself stays in the raw JSON.

use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::der::{Decode, pem};

/// One part of a certificate, as a column holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// SHA-256 of the DER encoding, lowercase hex (what `openssl x509 -fingerprint -sha256`
    /// prints, without the colons).
    Sha256,
    /// The subject's distinguished name in RFC 4514 form (`CN=...,O=...,C=US`, as `openssl x509
    /// -nameopt RFC2253` prints it).
    Subject,
    /// The issuer's, likewise.
    Issuer,
    NotBefore,
    NotAfter,
}

/// A part's value: text, or milliseconds since the epoch for the validity bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Millis(i64),
}

/// `part` of the PEM certificate `text`; `None` when it is not one (redacted, damaged, or
/// another kind of PEM).
pub fn part(text: &str, part: Part) -> Option<Value> {
    let (label, der) = pem::decode_vec(text.trim().as_bytes()).ok()?;
    if label != "CERTIFICATE" {
        return None;
    }
    let cert = Certificate::from_der(&der).ok()?;
    let tbs = cert.tbs_certificate();
    let millis = |t: &x509_cert::time::Time| {
        i64::try_from(t.to_unix_duration().as_millis())
            .ok()
            .map(Value::Millis)
    };
    match part {
        Part::Sha256 => Some(Value::Text(
            Sha256::digest(&der)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        )),
        Part::Subject => Some(Value::Text(tbs.subject().to_string())),
        Part::Issuer => Some(Value::Text(tbs.issuer().to_string())),
        Part::NotBefore => millis(&tbs.validity().not_before),
        Part::NotAfter => millis(&tbs.validity().not_after),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made with `openssl req -x509 -newkey rsa:2048 -subj "/C=US/O=Example Corp/CN=Example
    /// Root CA" -days 3650`; the expected values are what `openssl x509 -noout -fingerprint
    /// -sha256 -subject -nameopt RFC2253 -startdate -enddate` printed for it.
    const PEM: &str = include_str!("../fixtures/certs/example-root-ca.pem");

    #[test]
    fn parts_agree_with_openssl() {
        let text = |p| match part(PEM, p) {
            Some(Value::Text(t)) => t,
            other => panic!("{p:?}: {other:?}"),
        };
        assert_eq!(
            text(Part::Sha256),
            "48c57edc9eff8a1bd966052de221215303ff8e68ef377e77de4426981da3df58"
        );
        assert_eq!(
            text(Part::Subject),
            "CN=Example Root CA,O=Example Corp,C=US"
        );
        assert_eq!(text(Part::Issuer), text(Part::Subject));
        let at = |p| match part(PEM, p) {
            Some(Value::Millis(ms)) => crate::time::render(ms),
            other => panic!("{p:?}: {other:?}"),
        };
        assert_eq!(at(Part::NotBefore), "2026-12-02T08:06:24Z");
        assert_eq!(at(Part::NotAfter), "2036-11-29T08:06:24Z");
    }

    #[test]
    fn anything_but_a_certificate_gives_nothing() {
        let key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let damaged = PEM.replace("MII", "MIX");
        for text in [
            "",
            "HIDDEN_DUE_TO_SECURITY_REASONS",
            key,
            &damaged,
            &PEM[..PEM.len() / 2],
        ] {
            assert_eq!(part(text, Part::Sha256), None, "{text}");
        }
    }
}
