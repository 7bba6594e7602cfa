#!/usr/bin/env python3
"""Peak memory of `hsmtrail convert` on the inputs that used to break the memory bound
(issue #14): one file decompressing to nearly 2 GiB, two of 1 GiB each, and one file of 2
million tiny records, at several --jobs (more threads than the machine's cores too); then the
benchmark's default archives (the dense and sparse 500 MB ones benches/e2e.py converts, made
by the same generator and cached in the same place) with the default --memory-budget. Prints
Markdown tables for benches/RESULTS.md beside the bound the README states.

    cargo build --release --bin hsmtrail --example generate
    python3 benches/memory.py [--bin target/release/hsmtrail] [--work DIR]

Peak RSS comes from GNU time (`/usr/bin/time -v`); each case runs once into a fresh output.
"""
import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402  (its archive generator and cache)

PAD = "x" * 700


def write_big(path, mb, file_index):
    """JSON Lines of CloudTrail-shaped records, one CloudHSM event in 1,000, about `mb` MiB
    decompressed (highly compressible: the padding), like a gzip bomb within the limit."""
    with gzip.open(path, "wt", compresslevel=1) as out:
        written, i = 0, 0
        while written < mb << 20:
            source = "cloudhsm.amazonaws.com" if i % 1000 == 0 else "kms.amazonaws.com"
            line = ('{"eventVersion":"1.08","eventTime":"2024-03-0%dT10:00:00Z","eventID":"%d-%d",'
                    '"eventSource":"%s","eventName":"Describe","awsRegion":"us-east-1",'
                    '"recipientAccountId":"111122223333","requestParameters":{"pad":"%s"}}\n'
                    % (1 + i % 3, file_index, i, source, PAD))
            out.write(line)
            written += len(line)
            i += 1


def write_tiny(path, records):
    with gzip.open(path, "wt", compresslevel=1) as out:
        for i in range(records):
            out.write('{"eventTime":"2024-01-0%dT00:00:00Z","eventID":"%d","eventSource":"x"}\n'
                      % (1 + i % 3, i))


def peak_mib(cmd):
    run = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", run.stderr)
    if run.returncode not in (0, 1) or not peak:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{run.stderr[-2000:]}")
    return int(peak.group(1)) / 1024, wall.group(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/release/hsmtrail")
    parser.add_argument("--work", default=None)
    parser.add_argument("--only", choices=["files", "archives"], default=None,
                        help="only the single-file cases, or only the default archives")
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="hsmtrail-memory-")
    os.makedirs(work, exist_ok=True)
    if args.only != "archives":
        inputs = {
            "one file, 1.9 GiB decompressed": ["big.json.gz"],
            "two files, 1 GiB decompressed each": ["two-0.json.gz", "two-1.json.gz"],
            "2 million tiny records (--all-sources)": ["tiny.json.gz"],
        }
        if not os.path.exists(os.path.join(work, "big.json.gz")):
            write_big(os.path.join(work, "big.json.gz"), 1900, 0)
            write_big(os.path.join(work, "two-0.json.gz"), 1000, 1)
            write_big(os.path.join(work, "two-1.json.gz"), 1000, 2)
            write_tiny(os.path.join(work, "tiny.json.gz"), 2_000_000)
        print("| input | --jobs | --memory-budget | peak RSS MiB | wall |")
        print("|---|---|---|---|---|")
        for label, files in inputs.items():
            extra = ["--all-sources"] if "tiny" in label else []
            for jobs in (1, 2, 16):
                out = os.path.join(work, "out")
                shutil.rmtree(out, ignore_errors=True)
                cmd = [args.bin, "convert", *[os.path.join(work, f) for f in files], "--quiet",
                       "--jobs", str(jobs), "--memory-budget", "16", "--output", out, *extra]
                peak, wall = peak_mib(cmd)
                print(f"| {label} | {jobs} | 16 | {peak:.0f} | {wall} |", flush=True)
    if args.only != "files":
        print("\n| default archive | --jobs | mode | peak RSS MiB | wall |")
        print("|---|---|---|---|---|")
        for name, percent, seed in [("dense", 10, 1), ("sparse", 0.1, 2)]:
            archive, meta = e2e.generate(name, 500, percent, seed)
            label = f"{name}: {meta['files']} files, {meta['json_bytes'] / 1e6:.0f} MB of JSON"
            for mode, extra in [("CloudHSM only", []), ("--all-sources", ["--all-sources"])]:
                for jobs in (1, 2, 16):
                    out = os.path.join(work, "out")
                    shutil.rmtree(out, ignore_errors=True)
                    cmd = [args.bin, "convert", archive, "--quiet", "--jobs", str(jobs),
                           "--output", out, *extra]
                    peak, wall = peak_mib(cmd)
                    print(f"| {label} | {jobs} | {mode} | {peak:.0f} | {wall} |", flush=True)


if __name__ == "__main__":
    main()
