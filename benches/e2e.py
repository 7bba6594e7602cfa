#!/usr/bin/env python3
"""End-to-end benchmark: hsmtrail against DuckDB and the gunzip floors, side by side on the
same generated archives. Writes benches/RESULTS.md.

    python3 benches/e2e.py [--mb 500] [--scale-check] [--skip-duckdb]

Builds the release binary and the generator, generates (once, cached under target/bench-data)
a dense archive (10% CloudHSM) and a sparse one (0.1%, like a real account's trail), then times
each contender with /usr/bin/time: wall seconds and peak RSS. Throughput is MB/s of
uncompressed JSON. --scale-check also converts an archive 10x larger (generated on the fly,
removed after) to show that peak memory does not grow with the archive.
Needs the pinned duckdb Python package (pip install duckdb==2.0.1).
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "release")
DUCKDB_SCRIPT = r"""
import sys, duckdb
src, out, cloudhsm_only = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
where = "WHERE r.eventSource = 'cloudhsm.amazonaws.com'" if cloudhsm_only else ""
con.execute(f'''
COPY (
  WITH recs AS (
    SELECT unnest(Records) AS r
    FROM read_json('{src}/**/*.json.gz', maximum_object_size = 1073741824)
  )
  SELECT unnest(r), CAST(CAST(r.eventTime AS TIMESTAMPTZ) AS DATE) AS event_date
  FROM recs {where}
) TO '{out}' (FORMAT parquet, PARTITION_BY (event_date), OVERWRITE_OR_IGNORE)
''')
"""


def run(cmd, **kw):
    subprocess.run(cmd, check=True, **kw)


def measure(cmd):
    """(seconds, peak RSS in MiB) of a command."""
    with tempfile.NamedTemporaryFile("r") as t:
        run(["/usr/bin/time", "-f", "%e %M", "-o", t.name] + cmd,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds, kib = t.read().split()[-2:]
    return float(seconds), int(kib) / 1024


def generate(name, mb, percent, seed):
    path = os.path.join(ROOT, "target", "bench-data", f"{name}-{mb}mb")
    meta = path + ".json"
    if not os.path.exists(meta):
        shutil.rmtree(path, ignore_errors=True)
        out = subprocess.run([os.path.join(TARGET, "examples", "generate"), path, "--mb", str(mb),
                              "--cloudhsm-percent", str(percent), "--seed", str(seed)],
                             check=True, capture_output=True, text=True).stderr
        files, json_bytes = out.split()[0], out.split()[2]
        with open(meta, "w") as f:
            json.dump({"files": int(files), "json_bytes": int(json_bytes)}, f)
    with open(meta) as f:
        return path, json.load(f)


def contenders(archive, skip_duckdb):
    tmp = tempfile.mkdtemp(prefix="hsmtrail-bench-")
    hsmtrail = os.path.join(TARGET, "hsmtrail")
    out = os.path.join(tmp, "out")
    results = {}

    def convert(label, *extra):
        shutil.rmtree(out, ignore_errors=True)
        results[label] = measure([hsmtrail, "convert", archive, "--out", out, "--quiet", *extra])

    convert("hsmtrail cloudhsm")
    convert("hsmtrail cloudhsm --jobs 1", "--jobs", "1")
    convert("hsmtrail --all-sources", "--all-sources")
    if not skip_duckdb:
        for label, flag in [("duckdb cloudhsm", "1"), ("duckdb --all-sources", "0")]:
            shutil.rmtree(out, ignore_errors=True)
            results[label] = measure([sys.executable, "-c", DUCKDB_SCRIPT, archive, out, flag])
    floors = subprocess.run([os.path.join(TARGET, "examples", "gunzip_floor"), archive],
                            check=True, capture_output=True, text=True).stdout
    for line in floors.splitlines():
        method, _, _, seconds = line.split()
        results[f"gunzip floor ({method})"] = (float(seconds), None)
    shutil.rmtree(tmp, ignore_errors=True)
    return results


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mb", type=int, default=500)
    p.add_argument("--scale-check", action="store_true")
    p.add_argument("--skip-duckdb", action="store_true")
    args = p.parse_args()
    run(["cargo", "build", "--release", "--bin", "hsmtrail", "--example", "generate",
         "--example", "gunzip_floor"], cwd=ROOT)
    lines = [f"# Benchmark results\n", f"Machine: {machine()}.\n",
             f"Command: `python3 benches/e2e.py --mb {args.mb}`. Throughput is MB/s of uncompressed JSON; "
             f"RSS is peak resident memory.\n"]
    for name, percent, seed in [("dense", 10, 1), ("sparse", 0.1, 2)]:
        archive, meta = generate(name, args.mb, percent, seed)
        mb = meta["json_bytes"] / 1e6
        results = contenders(archive, args.skip_duckdb)
        lines.append(f"\n## {name} archive: {meta['files']} files, {mb:.0f} MB of JSON, {percent}% CloudHSM\n")
        lines.append("| contender | seconds | MB/s | peak RSS MiB |\n|---|---|---|---|")
        for label, (seconds, rss) in results.items():
            rss_text = f"{rss:.0f}" if rss is not None else ""
            lines.append(f"| {label} | {seconds:.2f} | {mb / max(seconds, 1e-9):.0f} | {rss_text} |")
        ratio = lambda a, b: results[b][0] / results[a][0] if a in results and b in results else None
        lines.append("")
        for a, b, what in [
            ("hsmtrail cloudhsm", "duckdb cloudhsm", "hsmtrail / DuckDB, CloudHSM only (target >= 8)"),
            ("hsmtrail --all-sources", "duckdb --all-sources", "hsmtrail / DuckDB, all sources (target >= 4)"),
            ("hsmtrail cloudhsm", "hsmtrail cloudhsm --jobs 1", "--jobs 2 / --jobs 1 (target >= 1.8)"),
        ]:
            r = ratio(a, b)
            if r is not None:
                lines.append(f"- {what}: {r:.2f}x")
        floor = results.get("gunzip floor (libdeflate)")
        if floor:
            share = floor[0] / results["hsmtrail cloudhsm"][0]
            lines.append(f"- hsmtrail CloudHSM only / libdeflate floor: {share:.0%} (target >= 60% on sparse)")
    if args.scale_check:
        archive, meta = generate("scale", args.mb * 10, 0.1, 3)
        seconds, rss = measure([os.path.join(TARGET, "hsmtrail"), "convert", archive, "--out",
                                tempfile.mkdtemp(prefix="hsmtrail-scale-"), "--quiet", "--all-sources"])
        lines.append(f"\n## 10x archive ({meta['json_bytes'] / 1e6:.0f} MB), --all-sources: "
                     f"{seconds:.1f} s, peak RSS {rss:.0f} MiB\n")
        shutil.rmtree(archive, ignore_errors=True)
        os.remove(archive + ".json")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(ROOT, "benches", "RESULTS.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
