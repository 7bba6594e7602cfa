//! DuckDB, PyArrow and Spark read the output as it is, through the generated table definitions,
//! and return the same rows as hsmtrail; the Athena definition is pinned by a golden file and
//! parsed by Spark's HiveQL parser. The data comes from two conversion runs into one directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{hsmtrail, query_json, root};

/// Two runs into one directory: 2015 and 2024-03-01 deliveries first, the rest (and the HSM
/// audit logs, the second table) later.
fn two_runs(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let archive = "fixtures/archive/AWSLogs";
    for inputs in [
        vec![
            format!("{archive}/111122223333/CloudTrail/us-east-1/2015"),
            format!("{archive}/111122223333/CloudTrail/us-east-1/2024/03/01"),
        ],
        vec![
            format!("{archive}/111122223333/CloudTrail/us-east-1/2024/03/02"),
            format!("{archive}/111122223333/CloudTrail/us-east-1/2024/03/09"),
            format!("{archive}/o-a1b2c3d4e5"),
            "fixtures/formats".to_owned(),
            "fixtures/hsm-audit".to_owned(),
        ],
    ] {
        hsmtrail()
            .current_dir(root())
            .arg("convert")
            .args(&inputs)
            .args(["--quiet", "--write-ddl", "--out"])
            .arg(&data)
            .assert()
            .success();
    }
    data
}

/// Writes `<name>.sql` and hsmtrail's answer `<name>.jsonl` for each query into `dir`.
fn expected(data: &Path, dir: &Path, queries: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, sql) in queries {
        let rows = query_json(data, sql);
        assert!(!rows.is_empty(), "{name} has no rows");
        std::fs::write(dir.join(format!("{name}.sql")), sql).unwrap();
        std::fs::write(dir.join(format!("{name}.jsonl")), &rows).unwrap();
    }
}

const SPARK_QUERIES: &[(&str, &str)] = &[
    (
        "per_event_name",
        "SELECT event_name, count(*) AS n FROM events GROUP BY event_name",
    ),
    (
        "per_event_date",
        "SELECT event_date, count(*) AS n FROM events GROUP BY event_date",
    ),
    (
        "one_row_per_operation",
        "SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY event_name ORDER BY event_time, event_id) AS rn FROM events) t WHERE rn = 1",
    ),
    (
        "audit_per_opcode_and_day",
        "SELECT opcode, event_date, count(*) AS n, count(DISTINCT entry_id) AS entries FROM hsm_audit GROUP BY opcode, event_date",
    ),
    (
        "audit_one_row_per_opcode",
        "SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY opcode ORDER BY event_time, entry_id) AS rn FROM hsm_audit) t WHERE rn = 1",
    ),
];

fn interop(args: &[&dyn AsRef<std::ffi::OsStr>]) {
    let out = Command::new("python3")
        .arg(root().join("tests/interop.py"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("python3 runs (.ci/run installs the pinned duckdb, pyarrow and pyspark packages)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
}

fn schema_json(dir: &Path) -> PathBuf {
    let path = dir.join("schema.json");
    let out = hsmtrail()
        .args(["schema", "--format", "json"])
        .output()
        .unwrap();
    std::fs::write(&path, out.stdout).unwrap();
    path
}

#[test]
fn duckdb_reads_every_value_through_the_generated_view() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_runs(dir.path());
    let expected_dir = dir.path().join("expected");
    expected(
        &data,
        &expected_dir,
        &[
            ("everything", "SELECT * FROM events"),
            ("audit_everything", "SELECT * FROM hsm_audit"),
        ],
    );
    let ddl = data.join("_hsmtrail/duckdb.sql");
    interop(&[
        &"duckdb",
        &data,
        &ddl,
        &schema_json(dir.path()),
        &expected_dir,
    ]);
}

#[test]
fn pyarrow_reads_every_file_with_the_documented_schema() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_runs(dir.path());
    interop(&[&"pyarrow", &data, &schema_json(dir.path())]);
}

#[test]
fn spark_creates_the_table_from_the_generated_ddl() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_runs(dir.path());
    let expected_dir = dir.path().join("expected");
    expected(&data, &expected_dir, SPARK_QUERIES);
    interop(&[
        &"spark",
        &data,
        &data.join("_hsmtrail/spark.sql"),
        &data.join("_hsmtrail/athena.sql"),
        &expected_dir,
    ]);
}

#[test]
fn athena_ddl_is_pinned() {
    let out = hsmtrail()
        .args([
            "schema",
            "--format",
            "athena",
            "--location",
            "s3://example-bucket/cloudtrail-parquet/",
            "--partition-by",
            "account,region,date",
        ])
        .output()
        .unwrap();
    let golden = root().join("tests/expected/athena.sql");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        std::fs::read_to_string(&golden).unwrap(),
        "the Athena DDL changed: review it and update {}",
        golden.display()
    );
}

#[test]
fn ddl_usage_errors() {
    let out = hsmtrail()
        .args(["schema", "--format", "athena"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--location s3://"));
    let out = hsmtrail()
        .args(["schema", "--format", "athena", "--location", "/local/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
