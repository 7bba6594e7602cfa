#!/usr/bin/env python3
"""Checks that DuckDB, PyArrow and Spark read hsmtrail's output as it is, with the generated
table definitions, and return the same rows as hsmtrail's own reader.

    python3 tests/interop.py duckdb  DATA DUCKDB_DDL SCHEMA_JSON EXPECTED_DIR
    python3 tests/interop.py pyarrow DATA SCHEMA_JSON
    python3 tests/interop.py spark   DATA SPARK_DDL ATHENA_DDL EXPECTED_DIR

EXPECTED_DIR holds `<name>.sql` and `<name>.jsonl`: a query and hsmtrail's own answer to it
(JSON Lines). Each engine runs the same SQL over its table `events` and must return the same
rows (compared as multisets after normalising times, dates and numbers).
"""
import glob
import json
import os
import sys

from normalise import norm

DUCKDB_TYPES = {
    "string": "VARCHAR",
    "string (JSON)": "VARCHAR",
    "boolean": "BOOLEAN",
    "timestamp(ms, UTC)": "TIMESTAMP WITH TIME ZONE",
    "list<string>": "VARCHAR[]",
}


def fail(message):
    print(message)
    sys.exit(1)


def compare(engine, name, columns, rows, expected_file):
    expected = [json.loads(line) for line in open(expected_file) if line.strip()]
    want = sorted((tuple(norm(r[c]) for c in columns) for r in expected), key=repr)
    got = sorted((tuple(norm(v) for v in row) for row in rows), key=repr)
    if expected and list(expected[0].keys()) != columns:
        fail(f"{engine} {name}: columns {columns} != hsmtrail's {list(expected[0].keys())}")
    if want != got:
        missing = [r for r in want if r not in got][:3]
        extra = [r for r in got if r not in want][:3]
        fail(f"{engine} {name}: {len(got)} rows vs hsmtrail's {len(want)}\n"
             f"  only hsmtrail: {missing}\n  only {engine}: {extra}")
    return len(got)


def statements(ddl_text):
    code = "\n".join(l for l in ddl_text.splitlines() if not l.strip().startswith("--"))
    for stmt in code.split(";"):
        if stmt.strip():
            yield stmt.strip()


def queries(expected_dir):
    for sql_file in sorted(glob.glob(os.path.join(expected_dir, "*.sql"))):
        name = os.path.basename(sql_file)[:-4]
        yield name, open(sql_file).read(), sql_file[:-4] + ".jsonl"


def file_columns(schema_file):
    """The columns `hsmtrail schema --format json` documents as in the files (the partition
    columns are in the folder names)."""
    return [c for c in json.load(open(schema_file)) if not c.get("partition")]


def check_duckdb(data, ddl_file, schema_file, expected_dir):
    import duckdb
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    os.chdir(os.path.dirname(os.path.abspath(data)))
    for stmt in statements(open(ddl_file).read()):
        con.execute(stmt)
    types = {r[0]: r[1] for r in con.execute("DESCRIBE events").fetchall()}
    for col in file_columns(schema_file):
        want = DUCKDB_TYPES[col["type"]]
        if types.get(col["name"]) != want:
            fail(f"duckdb: {col['name']} is {types.get(col['name'])}, documented {want}")
    if types.get("event_date") != "DATE":
        fail(f"duckdb: event_date is {types.get('event_date')}")
    total = 0
    for name, sql, expected in queries(expected_dir):
        result = con.execute(sql)
        total += compare("duckdb", name, [d[0] for d in result.description], result.fetchall(), expected)
    print(f"duckdb: types as documented, {total} rows agree")


def check_pyarrow(data, schema_file):
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    documented = file_columns(schema_file)
    # The events' files: the audit table's own folder (hsm_audit/) has its own schema.
    audit = os.path.join(data, "hsm_audit") + os.sep
    files = sorted(f for f in glob.glob(os.path.join(data, "**", "*.parquet"), recursive=True)
                   if not f.startswith(audit))
    if len(files) < 2:
        fail(f"pyarrow: only {len(files)} files under {data}")
    physical = None
    for f in files:
        pf = pq.ParquetFile(f)
        schema = pf.schema_arrow
        names = [c["name"] for c in documented]
        if schema.names != names:
            fail(f"pyarrow: {f} columns differ from `hsmtrail schema --format json`")
        for col in documented:
            t = schema.field(col["name"]).type
            ok = {
                "string": pa.types.is_string(t),
                "string (JSON)": pa.types.is_string(t),
                "boolean": pa.types.is_boolean(t),
                "timestamp(ms, UTC)": pa.types.is_timestamp(t) and t.unit == "ms" and t.tz == "UTC",
                "list<string>": pa.types.is_list(t) and pa.types.is_string(t.value_type)
                and t.value_field.name == "element",
            }[col["type"]]
            if not ok:
                fail(f"pyarrow: {f}: {col['name']} is {t}, documented {col['type']}")
        pf.read()
        if physical is None:
            physical = pf.schema
        elif not pf.schema.equals(physical):
            fail(f"pyarrow: {f} has other physical types than {files[0]}")
    dataset = ds.dataset(data, format="parquet",
                         partitioning=ds.partitioning(pa.schema([("event_date", pa.date32())]), flavor="hive"),
                         exclude_invalid_files=False, ignore_prefixes=[".", "_", "hsm_audit"])
    table = dataset.to_table()
    for day, t in zip(table.column("event_date").to_pylist(), table.column("event_time").to_pylist()):
        if day != t.date():
            fail(f"pyarrow: row of {t} in partition {day}")
    inferred = ds.dataset(data, format="parquet", partitioning="hive",
                          ignore_prefixes=[".", "_", "hsm_audit"]).schema.field("event_date")
    print(f"pyarrow: {len(files)} files, {table.num_rows} rows, one physical schema; "
          f"event_date inferred as {inferred.type}, read as date32 on request")


def check_spark(data, spark_ddl, athena_ddl, expected_dir):
    from pyspark.sql import SparkSession
    warehouse = os.path.join(os.path.dirname(os.path.abspath(data)), "spark-warehouse")
    spark = (SparkSession.builder.master("local[1]").appName("hsmtrail-interop")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.warehouse.dir", warehouse)
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    for stmt in statements(open(spark_ddl).read()):
        spark.sql(stmt)
    total = 0
    for name, sql, expected in queries(expected_dir):
        df = spark.sql(sql)
        rows = [tuple(r) for r in df.collect()]
        total += compare("spark", name, df.columns, rows, expected)
    athena = next(statements(open(athena_ddl).read()))
    plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(athena)
    if plan.nodeName() != "CreateTable":
        fail(f"spark: the Athena DDL parsed as {plan.nodeName()}")
    print(f"spark: table created from the generated DDL, partitions discovered, {total} rows agree; "
          f"the Athena DDL parses as HiveQL")
    spark.stop()


def main():
    kind, args = sys.argv[1], sys.argv[2:]
    {"duckdb": check_duckdb, "pyarrow": check_pyarrow, "spark": check_spark}[kind](*args)


if __name__ == "__main__":
    main()
