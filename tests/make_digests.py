#!/usr/bin/env python3
"""Writes a signed CloudTrail archive for `hsmtrail verify`'s tests, signing as CloudTrail does
(an independent implementation: Python's `cryptography`, not hsmtrail's code).

    python3 tests/make_digests.py OUT

OUT/bucket/AWSLogs/...    log files and hourly digests: an account trail with two regions
                          (us-east-1 with a restarted chain, us-west-2), an organisation trail's
                          member account, and a backfill digest
OUT/keys.json             the key as `aws cloudtrail list-public-keys` prints it
OUT/signatures.json       each digest's signature by key (its x-amz-meta-signature)
OUT/other-keys.json       a key that signed nothing here

Each digest's signature covers: digestEndTime LF bucket/object LF sha256(inflated) LF
previousDigestSignature (or the text null), RSASSA-PKCS1-v1_5 with SHA-256.
"""
import base64
import datetime
import gzip
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

BUCKET = "trail-bucket"
START = datetime.datetime(2024, 3, 1, 0, 0, tzinfo=datetime.timezone.utc)


def stamp(t, seconds=True):
    return t.strftime("%Y%m%dT%H%M%SZ" if seconds else "%Y%m%dT%H%MZ")


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def key_pair(seed):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return key, der, hashlib.md5(der).hexdigest()


def main():
    out = sys.argv[1]
    key, der, fingerprint = key_pair(1)
    _, other_der, _ = key_pair(2)
    signatures = {}

    def write(rel, data):
        path = os.path.join(out, BUCKET, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)

    def chain(prefix, account, region, hours, restart_at=None, skip=()):
        """Hourly logs and digests; `skip` hours have neither (logging off); the digest of
        `restart_at` starts a new chain."""
        previous = None
        for h in range(hours):
            if h in skip:
                previous = None
                continue
            t0 = START + datetime.timedelta(hours=h)
            t1 = t0 + datetime.timedelta(hours=1)
            logs = []
            for n in range(2):
                when = t0 + datetime.timedelta(minutes=10 + 20 * n)
                records = {"Records": [{"eventVersion": "1.09", "eventTime": iso(when),
                                        "eventSource": "cloudhsm.amazonaws.com",
                                        "eventName": "DescribeClusters", "awsRegion": region,
                                        "eventID": f"{account}-{region}-{h}-{n}",
                                        "recipientAccountId": account}]}
                text = json.dumps(records).encode()
                log_key = (f"{prefix}{account}/CloudTrail/{region}/{when:%Y/%m/%d}/"
                           f"{account}_CloudTrail_{region}_{stamp(when, False)}_{h:02d}{n}abcdefghijklmn.json.gz")
                write(log_key, gzip.compress(text, mtime=0))
                logs.append({"s3Bucket": BUCKET, "s3Object": log_key,
                             "hashValue": hashlib.sha256(text).hexdigest(), "hashAlgorithm": "SHA-256",
                             "newestEventTime": iso(when), "oldestEventTime": iso(when)})
            digest_key = (f"{prefix}{account}/CloudTrail-Digest/{region}/{t1:%Y/%m/%d}/"
                          f"{account}_CloudTrail-Digest_{region}_main_us-east-1_{stamp(t1)}.json.gz")
            if h == restart_at:
                previous = None
            digest = {
                "awsAccountId": account,
                "digestStartTime": iso(t0), "digestEndTime": iso(t1),
                "digestS3Bucket": BUCKET, "digestS3Object": digest_key,
                "digestPublicKeyFingerprint": fingerprint, "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": logs[-1]["newestEventTime"], "oldestEventTime": logs[0]["oldestEventTime"],
                "previousDigestS3Bucket": previous and BUCKET,
                "previousDigestS3Object": previous and previous[0],
                "previousDigestHashValue": previous and previous[1],
                "previousDigestHashAlgorithm": previous and "SHA-256",
                "previousDigestSignature": previous and previous[2],
                "logFiles": logs,
            }
            inflated = json.dumps(digest).encode()
            sha = hashlib.sha256(inflated).hexdigest()
            signed = f"{iso(t1)}\n{BUCKET}/{digest_key}\n{sha}\n{previous[2] if previous else 'null'}"
            signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
            write(digest_key, gzip.compress(inflated, mtime=0))
            signatures[digest_key] = signature
            previous = (digest_key, sha, signature)

    chain("AWSLogs/", "111122223333", "us-east-1", 6, skip=(3,))
    chain("AWSLogs/", "111122223333", "us-west-2", 4)
    chain("AWSLogs/o-a1b2c3d4e5/", "444455556666", "eu-west-1", 3)

    def backfill(prefix, account, region):
        """A backfill digest: a log the hourly digest missed, in a digest of its own."""
        when = START + datetime.timedelta(hours=1, minutes=55)
        text = json.dumps({"Records": []}).encode()
        log_key = (f"{prefix}{account}/CloudTrail/{region}/{when:%Y/%m/%d}/"
                   f"{account}_CloudTrail_{region}_{stamp(when, False)}_late0abcdefghijk.json.gz")
        write(log_key, gzip.compress(text, mtime=0))
        t1 = START + datetime.timedelta(hours=2)
        digest_key = (f"{prefix}{account}/CloudTrail-Digest/{region}/{t1:%Y/%m/%d}/"
                      f"{account}_CloudTrail-Digest_{region}_main_us-east-1_{stamp(t1)}_backfill.json.gz")
        digest = {"awsAccountId": account, "digestStartTime": iso(t1 - datetime.timedelta(hours=1)),
                  "digestEndTime": iso(t1), "digestS3Bucket": BUCKET, "digestS3Object": digest_key,
                  "digestPublicKeyFingerprint": fingerprint, "digestSignatureAlgorithm": "SHA256withRSA",
                  "previousDigestS3Bucket": None, "previousDigestS3Object": None,
                  "previousDigestHashValue": None, "previousDigestHashAlgorithm": None,
                  "previousDigestSignature": None,
                  "logFiles": [{"s3Bucket": BUCKET, "s3Object": log_key,
                                "hashValue": hashlib.sha256(text).hexdigest(), "hashAlgorithm": "SHA-256"}]}
        inflated = json.dumps(digest).encode()
        sha = hashlib.sha256(inflated).hexdigest()
        signed = f"{iso(t1)}\n{BUCKET}/{digest_key}\n{sha}\nnull"
        signatures[digest_key] = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
        write(digest_key, gzip.compress(inflated, mtime=0))

    backfill("AWSLogs/", "111122223333", "us-east-1")

    def listing(der_key, fp):
        return {"PublicKeyList": [{"Value": base64.b64encode(der_key).decode(),
                                   "ValidityStartTime": "2024-02-15T00:00:00Z",
                                   "ValidityEndTime": "2024-03-16T00:00:00Z", "Fingerprint": fp}]}

    with open(os.path.join(out, "keys.json"), "w") as f:
        json.dump(listing(der, fingerprint), f)
    with open(os.path.join(out, "other-keys.json"), "w") as f:
        json.dump(listing(other_der, hashlib.md5(other_der).hexdigest()), f)
    with open(os.path.join(out, "signatures.json"), "w") as f:
        json.dump(signatures, f, indent=1)
    # The private key, for tests that sign a digest with another key or re-sign one.
    with open(os.path.join(out, "private.pem"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


if __name__ == "__main__":
    main()
