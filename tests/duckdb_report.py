#!/usr/bin/env python3
"""Differential check: run a report's SQL with DuckDB over hsmtrail's Parquet and compare the
rows with hsmtrail's own JSON Lines output of the same report.

    python3 tests/duckdb_report.py DATA_DIR REPORT.sql HSMTRAIL_OUTPUT.jsonl

Both sides are normalised the same way (times to epoch milliseconds, numbers to floats, dates
to ISO text) and compared as multisets of rows with the same column names. Exit status 0 when
equal; 1 with a readable difference otherwise.
"""
import json
import os
import sys

import duckdb

from normalise import norm


def main():
    data, sql_file, ours_file = sys.argv[1:4]
    sql = open(sql_file).read()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # The two tables as the generated definitions read them: the events' partition folders
    # (layout `date`), and the audit table's own folder (empty when the data has none).
    quote = lambda path: path.replace("'", "''")
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{quote(data)}/event_date=*/*.parquet', hive_partitioning = true)")
    audit = os.path.join(data, "hsm_audit")
    if os.path.isdir(audit):
        con.execute(f"CREATE VIEW hsm_audit AS SELECT * FROM read_parquet('{quote(audit)}/event_date=*/*.parquet', hive_partitioning = true)")
    # The --baseline tables, empty as hsmtrail has them without --baseline.
    con.execute(
        "CREATE TABLE baseline_clusters (cluster_id VARCHAR, hsms BIGINT, state VARCHAR, "
        "hsm_type VARCHAR, mode VARCHAR, backup_retention_days VARCHAR, taken_at TIMESTAMPTZ)"
    )
    con.execute(
        "CREATE TABLE baseline_backups (backup_id VARCHAR, cluster_id VARCHAR, state VARCHAR, "
        "never_expires BOOLEAN, created TIMESTAMPTZ, taken_at TIMESTAMPTZ)"
    )
    result = con.execute(sql)
    columns = [d[0] for d in result.description]
    theirs = [tuple(norm(v) for v in row) for row in result.fetchall()]
    ours_rows = [json.loads(line) for line in open(ours_file) if line.strip()]
    ours_columns = list(ours_rows[0].keys()) if ours_rows else columns
    ours = [tuple(norm(r[c]) for c in ours_columns) for r in ours_rows]
    problems = []
    if ours_rows and ours_columns != columns:
        problems.append(f"columns differ:\n  hsmtrail {ours_columns}\n  duckdb   {columns}")
    key = repr
    if sorted(ours, key=key) != sorted(theirs, key=key):
        only_ours = [r for r in ours if r not in theirs]
        only_theirs = [r for r in theirs if r not in ours]
        problems.append(
            f"rows differ ({len(ours)} from hsmtrail, {len(theirs)} from duckdb)\n"
            f"  only in hsmtrail: {only_ours[:5]}\n  only in duckdb:   {only_theirs[:5]}"
        )
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"{len(ours)} rows agree")


if __name__ == "__main__":
    main()
