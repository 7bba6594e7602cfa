#!/usr/bin/env python3
"""Builds the seed corpus, fuzz/corpus/<target>/, from the bundled fixtures and, when it is
there, the real data ($HSMTRAIL_REALDATA, else ../shared/realdata: real CloudTrail files from
public projects, which are not copied into the repository: the corpus is built, not
committed).

    python3 fuzz/seed.py            # then: cargo +nightly fuzz run <target>
"""

import gzip
import hashlib
import json
import os
import pathlib
import sys

FUZZ = pathlib.Path(__file__).resolve().parent
# The real-data folder where the tests look for it (HSMTRAIL_REALDATA, else beside the checkout).
REALDATA = os.environ.get("HSMTRAIL_REALDATA") or FUZZ.parent.parent / "shared" / "realdata"
ROOTS = [FUZZ.parent / "fixtures", pathlib.Path(REALDATA)]
# libFuzzer mutates small inputs fastest; longer seeds are cut (a cut file is a useful seed
# too: it is what a truncated download looks like).
MAX_SEED = 16 << 10


def save(target, data):
    folder = FUZZ / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    data = data[:MAX_SEED]
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def text_of(raw):
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError):
        return raw


def records_in(text):
    """The records of a file in any wrapper, as far as plain json can find them."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return []
    if isinstance(doc, dict):
        doc = doc.get("Records", doc.get("Events", [doc]))
    return [r for r in doc if isinstance(r, dict)] if isinstance(doc, list) else []


def main():
    files = [p for root in ROOTS if root.is_dir() for p in sorted(root.rglob("*")) if p.is_file()]
    for path in files:
        if path.suffix in (".py", ".md") or path.name.startswith("SOURCES"):
            continue
        raw = path.read_bytes()
        text = text_of(raw)
        save("records", raw)
        save("structural", text)
        save("gzip", b"\x80\x80\x00" + text[:4096])
        for record in records_in(text):
            if isinstance(record.get("eventTime"), str):
                save("event_time", record["eventTime"].encode())
            values = [record.get("recipientAccountId"), record.get("awsRegion")]
            save("hive_escape", "\x1f".join(v for v in values if isinstance(v, str)).encode())
    for target in ("event_time", "hive_escape"):
        for seed in ("", ".", "..", "a/b", "__HIVE_DEFAULT_PARTITION__", "2024-02-29T23:59:59.999Z",
                     "2024-01-01T00:00:00+14:00", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
            save(target, seed.encode())
    for target in sorted(p.name for p in (FUZZ / "corpus").iterdir()):
        count = len(list((FUZZ / "corpus" / target).iterdir()))
        print(f"{target}: {count} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
