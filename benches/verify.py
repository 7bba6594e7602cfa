#!/usr/bin/env python3
"""Benchmark of `hsmtrail verify`: a generated archive (examples/generate, the same realistic
delivery files as benches/e2e.py) given hourly digests signed like CloudTrail's, verified by
hsmtrail (release build), by aws-cli's algorithm in Python (benches/validate_logs.py) and
against the gunzip floors (examples/gunzip_floor: every .gz inflated in parallel, nothing else)
and the hashing floor (SHA-256 of every inflated log byte with OpenSSL's SHA-NI code through
hashlib, one thread a core): verifying must inflate *and* hash every byte, so the sum of the two
floors is what any validator can approach.

    python3 benches/verify.py [--mb 1000]

Prints a Markdown table (seconds, best of 3; MB/s of inflated log bytes); the figures in
benches/RESULTS.md come from it. Timing lives here, never in the tests.
"""
import argparse
import base64
import datetime
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "release")
BUCKET = "bench-bucket"
LOG_NAME = re.compile(r"(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4})Z_")


def sign_archive(bucket_dir):
    """Hourly digests for every (account, region) of the logs under `bucket_dir`, chained,
    signed with a new key; returns (keys file, signatures file, inflated log bytes)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    fingerprint = hashlib.md5(der).hexdigest()
    chains = {}
    inflated_bytes = 0
    for folder, _, files in os.walk(bucket_dir):
        for name in files:
            m = LOG_NAME.match(name)
            if not m:
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, bucket_dir).replace(os.sep, "/")
            text = gzip.decompress(open(path, "rb").read())
            inflated_bytes += len(text)
            when = datetime.datetime.strptime(m.group(3), "%Y%m%dT%H%M").replace(
                tzinfo=datetime.timezone.utc)
            hour = when.replace(minute=0)
            chains.setdefault((m.group(1), m.group(2), rel.split("/CloudTrail/")[0]), {}) \
                .setdefault(hour, []).append({
                    "s3Bucket": BUCKET, "s3Object": rel,
                    "hashValue": hashlib.sha256(text).hexdigest(), "hashAlgorithm": "SHA-256"})
    signatures = {}
    iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
    for (account, region, prefix), hours in chains.items():
        previous = None
        hour, last = min(hours), max(hours)
        while hour <= last:
            end = hour + datetime.timedelta(hours=1)
            digest_key = (f"{prefix}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/{account}_CloudTrail-Digest_"
                          f"{region}_bench_{region}_{end:%Y%m%dT%H%M%SZ}.json.gz")
            digest = {
                "awsAccountId": account, "digestStartTime": iso(hour), "digestEndTime": iso(end),
                "digestS3Bucket": BUCKET, "digestS3Object": digest_key,
                "digestPublicKeyFingerprint": fingerprint, "digestSignatureAlgorithm": "SHA256withRSA",
                "previousDigestS3Bucket": previous and BUCKET,
                "previousDigestS3Object": previous and previous[0],
                "previousDigestHashValue": previous and previous[1],
                "previousDigestHashAlgorithm": previous and "SHA-256",
                "previousDigestSignature": previous and previous[2],
                "logFiles": hours.get(hour, []),
            }
            inflated = json.dumps(digest).encode()
            sha = hashlib.sha256(inflated).hexdigest()
            signed = f"{iso(end)}\n{BUCKET}/{digest_key}\n{sha}\n{previous[2] if previous else 'null'}"
            signature = key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
            path = os.path.join(bucket_dir, digest_key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(gzip.compress(inflated, mtime=0))
            signatures[digest_key] = signature
            previous = (digest_key, sha, signature)
            hour = end
    keys_file = os.path.join(os.path.dirname(bucket_dir), "keys.json")
    with open(keys_file, "w") as f:
        json.dump({"PublicKeyList": [{"Value": base64.b64encode(der).decode(),
                                      "Fingerprint": fingerprint}]}, f)
    signatures_file = os.path.join(os.path.dirname(bucket_dir), "signatures.json")
    with open(signatures_file, "w") as f:
        json.dump(signatures, f)
    return keys_file, signatures_file, inflated_bytes


def sha256_floor(bucket_dir, repeat=3):
    """Seconds to SHA-256 every inflated log file (inflated beforehand, not timed), in as many
    threads as cores: hashlib releases the GIL while it hashes."""
    from concurrent.futures import ThreadPoolExecutor
    texts = []
    for folder, _, files in os.walk(bucket_dir):
        for name in files:
            if LOG_NAME.match(name):
                texts.append(gzip.decompress(open(os.path.join(folder, name), "rb").read()))
    best = None
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        for _ in range(repeat):
            started = time.perf_counter()
            list(pool.map(lambda t: hashlib.sha256(t).digest(), texts))
            seconds = time.perf_counter() - started
            best = seconds if best is None else min(best, seconds)
    return best


def best_of(cmd, repeat=3):
    best = None
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        best = seconds if best is None else min(best, seconds)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1000)
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--bin", "hsmtrail", "--example", "generate",
                    "--example", "gunzip_floor"], cwd=ROOT, check=True)
    work = os.path.join(ROOT, "target", "bench-data", f"verify-{args.mb}mb")
    bucket = os.path.join(work, BUCKET)
    meta = os.path.join(work, "meta.json")
    if not os.path.exists(meta):
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run([os.path.join(TARGET, "examples", "generate"), bucket, "--mb", str(args.mb),
                        "--cloudhsm-percent", "10", "--seed", "7"], check=True, capture_output=True)
        keys, signatures, inflated = sign_archive(bucket)
        with open(meta, "w") as f:
            json.dump({"keys": keys, "signatures": signatures, "inflated": inflated}, f)
    info = json.load(open(meta))
    files = sum(len(f) for _, _, f in os.walk(bucket))
    stored = sum(os.path.getsize(os.path.join(d, n)) for d, _, fs in os.walk(bucket) for n in fs)
    hsmtrail = os.path.join(TARGET, "hsmtrail")
    rows = {}
    rows["hsmtrail verify"] = best_of([hsmtrail, "verify", bucket, "--public-keys", info["keys"],
                                       "--signatures", info["signatures"], "-q"])
    rows["hsmtrail verify, 1 thread"] = best_of(
        ["env", "RAYON_NUM_THREADS=1", hsmtrail, "verify", bucket, "--public-keys", info["keys"],
         "--signatures", info["signatures"], "-q"])
    rows["aws-cli's algorithm in Python"] = best_of(
        [sys.executable, os.path.join(ROOT, "benches", "validate_logs.py"), bucket, info["keys"],
         info["signatures"]], repeat=1)
    rows["SHA-256 floor (OpenSSL, all cores)"] = sha256_floor(bucket)
    floors = subprocess.run([os.path.join(TARGET, "examples", "gunzip_floor"), bucket],
                            check=True, capture_output=True, text=True).stdout
    for line in floors.splitlines():
        method, _, _, seconds = line.split()
        rows[f"gunzip floor ({method})"] = float(seconds)
    mb = info["inflated"] / 1e6
    print(f"{files} files, {stored / 1e6:.0f} MB stored, {mb:.0f} MB of log JSON, "
          f"{os.cpu_count()} cores\n")
    print("| contender | seconds | MB/s of log JSON |\n|---|---|---|")
    for label, seconds in rows.items():
        print(f"| {label} | {seconds:.2f} | {mb / seconds:.0f} |")
    floor = rows.get("gunzip floor (libdeflate)")
    if floor:
        both = floor + rows["SHA-256 floor (OpenSSL, all cores)"]
        print(f"| inflate + hash floor (libdeflate + SHA-256) | {both:.2f} | {mb / both:.0f} |")
        print(f"\nhsmtrail verify / libdeflate floor: {floor / rows['hsmtrail verify']:.0%} "
              f"(aim >= 80%); / flate2 floor: "
              f"{rows['gunzip floor (flate2)'] / rows['hsmtrail verify']:.0%}; "
              f"/ inflate + hash floor: {both / rows['hsmtrail verify']:.0%}")


if __name__ == "__main__":
    main()
