#!/usr/bin/env python3
"""End-to-end benchmark: hsmtrail against DuckDB and the gunzip floors, side by side on the
same generated archives. Writes benches/RESULTS.md.

    python3 benches/e2e.py [--mb 500] [--repeat 5] [--scale-check] [--skip-duckdb]

Builds the release binary and the generator, generates (once, cached under target/bench-data)
a dense archive (10% CloudHSM) and a sparse one (0.1%, like a real account's trail), then times
each contender with /usr/bin/time: wall seconds and peak RSS, the median of --repeat paired
rounds, each round running every contender once in turn (this machine is a VM whose timings
vary by 20-50% from minute to minute, so contenders are compared within a round: a ratio is
the median of the rounds' ratios). Throughput is MB/s of
uncompressed JSON. --scale-check also converts the sparse archive at a tenth of the size and
at 10x (generated on the fly, removed after), for throughput at three sizes, a 1 TB
projection, and to show that peak memory does not grow with the archive.
Only the part of benches/RESULTS.md between the e2e markers is rewritten.
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


REPEAT = 5


def time_once(cmd, before=None):
    """(seconds, peak RSS in MiB) of one run of a command; `before` runs ahead of it (clearing
    the output directory)."""
    if before:
        before()
    with tempfile.NamedTemporaryFile("r") as t:
        done = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", t.name] + cmd,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(cmd[:4])} ... failed:\n{done.stderr}")
        seconds, kib = t.read().split()[-2:]
    return float(seconds), int(kib) / 1024


def median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def paired(commands, before=None, also=None):
    """Runs every (label, command) once per round, REPEAT rounds, and gives per label the
    list of (seconds, peak RSS MiB), one per round. `also`, if given, runs once a round too and
    gives more {label: (seconds, RSS or None)}."""
    rounds = {label: [] for label, _ in commands}
    for _ in range(REPEAT):
        for label, cmd in commands:
            rounds[label].append(time_once(cmd, before))
        for label, result in (also() if also else {}).items():
            rounds.setdefault(label, []).append(result)
    return rounds


def summary(rounds):
    """Per label, (median seconds, median peak RSS or None) of its rounds."""
    return {label: (median([s for s, _ in runs]),
                    median([m for _, m in runs]) if runs[0][1] is not None else None)
            for label, runs in rounds.items()}


def paired_ratio(rounds, slow, fast):
    """Median over rounds of `slow` seconds / `fast` seconds, or None if either is missing."""
    if slow not in rounds or fast not in rounds:
        return None
    return median([a[0] / b[0] for a, b in zip(rounds[slow], rounds[fast])])


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
    """Every contender on `archive`, in paired rounds; the floors once a round as well."""
    tmp = tempfile.mkdtemp(prefix="hsmtrail-bench-")
    hsmtrail = os.path.join(TARGET, "hsmtrail")
    out = os.path.join(tmp, "out")
    clear = lambda: shutil.rmtree(out, ignore_errors=True)
    convert = [hsmtrail, "convert", archive, "--output", out, "--quiet"]
    commands = [
        ("hsmtrail cloudhsm", convert),
        ("hsmtrail cloudhsm --jobs 1", convert + ["--jobs", "1"]),
        ("hsmtrail --all-sources", convert + ["--all-sources"]),
    ]
    if not skip_duckdb:
        commands += [("duckdb cloudhsm", [sys.executable, "-c", DUCKDB_SCRIPT, archive, out, "1"]),
                     ("duckdb --all-sources", [sys.executable, "-c", DUCKDB_SCRIPT, archive, out, "0"])]

    def floors():
        printed = subprocess.run([os.path.join(TARGET, "examples", "gunzip_floor"), archive],
                                 check=True, capture_output=True, text=True).stdout
        return {f"gunzip floor ({line.split()[0]})": (float(line.split()[3]), None)
                for line in printed.splitlines()}

    rounds = paired(commands, clear, floors)
    shutil.rmtree(tmp, ignore_errors=True)
    return rounds


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


def scaling(mb):
    """Sparse archives at a tenth, once and ten times `mb`: throughput and peak RSS of both
    hsmtrail modes, and the time 1 TB of JSON would take at the largest size's rate."""
    hsmtrail = os.path.join(TARGET, "hsmtrail")
    out = tempfile.mkdtemp(prefix="hsmtrail-scale-")
    clear = lambda: shutil.rmtree(out, ignore_errors=True)
    lines = ["\n## Scaling: sparse archives at three sizes\n",
             "| archive | files | MB of JSON | CloudHSM only MB/s | peak RSS MiB | --all-sources MB/s | peak RSS MiB |",
             "|---|---|---|---|---|---|---|"]
    rates = None
    for size, seed in [(mb // 10, 4), (mb, 2), (mb * 10, 3)]:
        archive, meta = generate("sparse", size, 0.1, seed)
        json_mb = meta["json_bytes"] / 1e6
        convert = [hsmtrail, "convert", archive, "--output", out, "--quiet"]
        medians = summary(paired([("only", convert), ("every", convert + ["--all-sources"])], clear))
        only, every = medians["only"], medians["every"]
        lines.append(f"| {size} MB | {meta['files']} | {json_mb:.0f} | {json_mb / only[0]:.0f} | {only[1]:.0f} "
                     f"| {json_mb / every[0]:.0f} | {every[1]:.0f} |")
        rates = (json_mb / only[0], json_mb / every[0])
        if size != mb:
            shutil.rmtree(archive, ignore_errors=True)
            os.remove(archive + ".json")
    clear()
    hours = lambda rate: 1e6 / rate / 3600
    lines.append(f"\nProjected for 1 TB of JSON (about 100 GB of .json.gz) on this machine, at the largest "
                 f"archive's rate: {hours(rates[0]):.1f} h CloudHSM only, {hours(rates[1]):.1f} h "
                 f"with --all-sources; `--shard K/N` divides it across N machines.")
    return lines


MARK_START, MARK_END = "<!-- e2e:start -->", "<!-- e2e:end -->"


def main():
    global REPEAT
    p = argparse.ArgumentParser()
    p.add_argument("--mb", type=int, default=500)
    p.add_argument("--repeat", type=int, default=REPEAT)
    p.add_argument("--scale-check", action="store_true")
    p.add_argument("--skip-duckdb", action="store_true")
    args = p.parse_args()
    REPEAT = args.repeat
    run(["cargo", "build", "--release", "--bin", "hsmtrail", "--example", "generate",
         "--example", "gunzip_floor"], cwd=ROOT)
    lines = [f"Machine: {machine()}.\n",
             f"Command: `python3 benches/e2e.py --mb {args.mb}{' --scale-check' if args.scale_check else ''}`. "
             f"Throughput is MB/s of uncompressed JSON; RSS is peak resident memory; each figure is the "
             f"median of {REPEAT} paired rounds (every contender once a round, in turn), and each "
             f"ratio the median of the rounds' ratios.\n"]
    for name, percent, seed in [("dense", 10, 1), ("sparse", 0.1, 2)]:
        archive, meta = generate(name, args.mb, percent, seed)
        mb = meta["json_bytes"] / 1e6
        rounds = contenders(archive, args.skip_duckdb)
        results = summary(rounds)
        lines.append(f"\n## {name} archive: {meta['files']} files, {mb:.0f} MB of JSON, {percent}% CloudHSM\n")
        lines.append("| contender | seconds | MB/s | peak RSS MiB |\n|---|---|---|---|")
        for label, (seconds, rss) in results.items():
            rss_text = f"{rss:.0f}" if rss is not None else ""
            lines.append(f"| {label} | {seconds:.2f} | {mb / max(seconds, 1e-9):.0f} | {rss_text} |")
        lines.append("")
        for a, b, what in [
            ("hsmtrail cloudhsm", "duckdb cloudhsm", "hsmtrail / DuckDB, CloudHSM only (target >= 8)"),
            ("hsmtrail --all-sources", "duckdb --all-sources", "hsmtrail / DuckDB, all sources (target >= 4)"),
            ("hsmtrail cloudhsm", "hsmtrail cloudhsm --jobs 1", "--jobs 2 / --jobs 1 (target >= 1.8)"),
        ]:
            r = paired_ratio(rounds, b, a)
            if r is not None:
                lines.append(f"- {what}: {r:.2f}x")
        floor = results.get("gunzip floor (libdeflate)")
        if floor:
            share = 1 / paired_ratio(rounds, "hsmtrail cloudhsm", "gunzip floor (libdeflate)")
            lines.append(f"- hsmtrail CloudHSM only / libdeflate floor: {share:.0%} (target >= 60% on sparse)")
    if args.scale_check:
        lines.extend(scaling(args.mb))
    generated = "\n".join(lines) + "\n"
    print(generated)
    path = os.path.join(ROOT, "benches", "RESULTS.md")
    text = open(path).read() if os.path.exists(path) else f"# Benchmark results\n\n{MARK_START}\n{MARK_END}\n"
    if MARK_START not in text:
        text += f"\n{MARK_START}\n{MARK_END}\n"
    head, rest = text.split(MARK_START, 1)
    tail = rest.split(MARK_END, 1)[1] if MARK_END in rest else ""
    with open(path, "w") as f:
        f.write(f"{head}{MARK_START}\n{generated}{MARK_END}{tail}")


if __name__ == "__main__":
    main()
