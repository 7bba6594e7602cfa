#!/usr/bin/env python3
"""The side-by-side peer of `hsmtrail verify` in benches/verify.py: aws-cli's algorithm
(`awscli/customizations/cloudtrail/validation.py`) on a local copy, in Python, one file at a
time: each digest inflated, its signature checked (RSA PKCS#1 v1.5 SHA-256, `cryptography`), its
hash compared with the next digest's record, and each log it lists inflated (first gzip member
only, data after it refused) and hashed.

    python3 benches/validate_logs.py BUCKET_DIR KEYS.json SIGNATURES.json

Prints `digests logs invalid`; exit 1 when anything is invalid.
"""
import base64
import hashlib
import json
import os
import sys
import zlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def inflate_one_member(data):
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data) + d.flush()
    if d.unused_data:
        raise ValueError("unexpected data after end of compressed stream")
    return out


def main():
    root, keys_file, signatures_file = sys.argv[1:4]
    keys = {}
    for k in json.load(open(keys_file))["PublicKeyList"]:
        der = base64.b64decode(k["Value"])
        try:
            key = serialization.load_der_public_key(der)
        except ValueError:
            key = serialization.load_der_public_key(spki_of(der))
        keys[hashlib.md5(der).hexdigest()] = key
    signatures = json.load(open(signatures_file))
    digests = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            key = os.path.relpath(path, root).replace(os.sep, "/")
            if "/CloudTrail-Digest/" in key:
                digests.append((key, path))
    digests.sort(reverse=True)  # newest first, as aws-cli walks
    invalid = logs = 0
    for key, path in digests:
        inflated = inflate_one_member(open(path, "rb").read())
        digest = json.loads(inflated)
        sha = hashlib.sha256(inflated).hexdigest()
        signed = "\n".join([digest["digestEndTime"],
                            f"{digest['digestS3Bucket']}/{digest['digestS3Object']}", sha,
                            digest["previousDigestSignature"] or "null"])
        try:
            keys[digest["digestPublicKeyFingerprint"]].verify(
                bytes.fromhex(signatures[key]), signed.encode(), padding.PKCS1v15(),
                hashes.SHA256())
        except Exception:
            invalid += 1
            continue
        for log in digest["logFiles"]:
            logs += 1
            try:
                data = inflate_one_member(open(os.path.join(root, log["s3Object"]), "rb").read())
                if hashlib.sha256(data).hexdigest() != log["hashValue"]:
                    invalid += 1
            except (OSError, ValueError, zlib.error):
                invalid += 1
    print(len(digests), logs, invalid)
    sys.exit(1 if invalid else 0)


def spki_of(pkcs1):
    """SubjectPublicKeyInfo around a PKCS#1 RSA key, which `cryptography` loads as DER."""
    bit_string = b"\x03" + der_length(len(pkcs1) + 1) + b"\x00" + pkcs1
    algorithm = bytes.fromhex("300d06092a864886f70d0101010500")
    body = algorithm + bit_string
    return b"\x30" + der_length(len(body)) + body


def der_length(n):
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


if __name__ == "__main__":
    main()
