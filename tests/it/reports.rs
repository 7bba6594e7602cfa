//! `hsmtrail reports`, `report` and `query` over the converted fixtures: every bundled report's
//! rows (checked by hand, in `tests/expected/`), the same rows from DuckDB, ad-hoc SQL with JSON
//! functions and partition pruning, scoping, formats and errors.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use crate::common::{hsmtrail, root};

/// The fixtures converted once for all tests here (from the repository root, so `source_file`
/// holds the same relative paths on every machine).
fn data() -> &'static Path {
    static DATA: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DATA
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("data");
            convert_from_root(
                &["fixtures/archive", "fixtures/formats", "fixtures/hsm-audit"],
                &out,
            );
            (dir, out)
        })
        .1
}

/// Converts with the repository root as working directory (relative `source_file` paths).
fn convert_from_root(args: &[&str], out: &Path) {
    hsmtrail()
        .current_dir(root())
        .arg("convert")
        .args(args)
        .args(["--quiet", "--out"])
        .arg(out)
        .assert()
        .success();
}

fn run(args: &[&str]) -> Output {
    hsmtrail().args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn report_names() -> Vec<String> {
    hsmtrail::report::catalogue::reports()
        .iter()
        .map(|r| r.name.clone())
        .collect()
}

/// The window the `new-principals` report is checked with.
fn window_args(name: &str) -> Vec<&'static str> {
    if name == "new-principals" {
        vec!["--since", "2024-03-02"]
    } else {
        vec![]
    }
}

#[test]
fn every_report_gives_the_rows_checked_by_hand() {
    let data = data().to_str().unwrap();
    for name in report_names() {
        let mut args = vec!["report", &name, "--data", data, "--format", "csv"];
        args.extend(window_args(&name));
        let actual = stdout(&run(&args));
        let expected_file = root().join(format!("tests/expected/{name}.csv"));
        let expected = std::fs::read_to_string(&expected_file)
            .unwrap_or_else(|_| panic!("{} missing", expected_file.display()));
        assert_eq!(actual, expected, "report {name}");
        assert!(
            expected.lines().count() > 1,
            "report {name} has no rows on the fixtures"
        );
    }
}

#[test]
fn duckdb_returns_the_same_rows_for_every_report() {
    let data = data().to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for name in report_names() {
        let mut args = vec!["report", &name, "--data", data];
        args.extend(window_args(&name));
        let sql = dir.path().join(format!("{name}.sql"));
        let ours = dir.path().join(format!("{name}.jsonl"));
        let mut sql_args = args.clone();
        sql_args.push("--sql");
        std::fs::write(&sql, stdout(&run(&sql_args))).unwrap();
        let mut json_args = args.clone();
        json_args.extend(["--format", "json"]);
        std::fs::write(&ours, stdout(&run(&json_args))).unwrap();
        let check = std::process::Command::new("python3")
            .arg(root().join("tests/duckdb_report.py"))
            .args([Path::new(data), &sql, &ours])
            .output()
            .expect("python3 runs (CI installs the pinned duckdb package: see .ci/run)");
        assert!(
            check.status.success(),
            "report {name}: DuckDB disagrees:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

#[test]
fn reports_lists_every_report_with_its_parameters() {
    let text = stdout(&run(&["reports"]));
    for name in report_names() {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name}"
        );
    }
    assert!(text.contains("--param restore_days=..."));
    assert!(text.contains("(default 7)"));
}

#[test]
fn every_query_file_is_bundled() {
    let sql_files = |folder: &str, prefix: &str| -> Vec<String> {
        std::fs::read_dir(root().join(folder))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .map(|n| format!("{prefix}{n}"))
            .collect()
    };
    let mut files = sql_files("queries", "");
    files.extend(sql_files("queries/shared", "shared/"));
    files.sort();
    let mut bundled: Vec<String> = hsmtrail::report::catalogue::bundled_files().collect();
    bundled.sort();
    assert_eq!(files, bundled);
}

#[test]
fn parameters_change_the_answer() {
    let data = data().to_str().unwrap();
    let capacity = |args: &[&str]| {
        let mut all = vec!["report", "hsm-capacity", "--data", data, "--format", "csv"];
        all.extend(args);
        stdout(&run(&all))
    };
    let strict = capacity(&["--param", "min_hsms=3"]);
    assert_eq!(
        strict.matches(",true,").count() + strict.matches(",true\n").count(),
        5 + 2
    );
    let lax = capacity(&["--param", "min_hsms=1"]);
    assert_eq!(
        lax.lines()
            .filter(|l| l.contains(",0,cluster created in the data,true,"))
            .count(),
        1
    );
    let bad = run(&[
        "report",
        "hsm-capacity",
        "--data",
        data,
        "--param",
        "min_hsms=two",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must be a whole number"));
    let missing = run(&["report", "new-principals", "--data", data]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("needs --param since="));
}

#[test]
fn scope_options_filter_before_the_report() {
    let data = data().to_str().unwrap();
    let count = |args: &[&str]| {
        let mut all = vec![
            "query",
            "SELECT count(*) AS n FROM events",
            "--data",
            data,
            "--format",
            "csv",
        ];
        all.extend(args);
        stdout(&run(&all)).lines().nth(1).unwrap().to_owned()
    };
    assert_eq!(count(&[]), "53");
    assert_eq!(
        count(&["--since", "2024-03-01", "--until", "2024-03-01"]),
        "24"
    );
    assert_eq!(count(&["--since", "2024-03-02T16:00:00Z"]), "19");
    assert_eq!(count(&["--account", "444455556666"]), "4");
    assert_eq!(
        count(&["--region", "us-west-2", "--region", "eu-west-1"]),
        "7"
    );
    let changes = stdout(&run(&[
        "report",
        "changes",
        "--data",
        data,
        "--format",
        "csv",
        "--region",
        "eu-west-1",
    ]));
    assert_eq!(changes.lines().count(), 1 + 4);
}

#[test]
fn a_time_filter_prunes_date_partitions() {
    let data = data().to_str().unwrap();
    let plan = stdout(&run(&[
        "query",
        "EXPLAIN SELECT event_name FROM events",
        "--data",
        data,
        "--since",
        "2024-03-03",
        "--format",
        "csv",
    ]));
    let scanned: Vec<&str> = plan.matches("event_date=").collect();
    assert_eq!(
        scanned.len(),
        3,
        "only 2024-03-03, 03-04 and 03-09 are read:\n{plan}"
    );
    assert!(!plan.contains("event_date=2024-03-01"));
    // An ad-hoc filter on the partition column prunes the same way.
    let plan = stdout(&run(&[
        "query",
        "EXPLAIN SELECT event_name FROM events WHERE event_date = DATE '2024-03-04'",
        "--data",
        data,
        "--format",
        "csv",
    ]));
    assert_eq!(plan.matches("event_date=").count(), 1, "{plan}");
}

#[test]
fn ad_hoc_sql_reaches_raw_json() {
    let data = data().to_str().unwrap();
    let out = stdout(&run(&[
        "query",
        "SELECT json_get_str(request_parameters, 'availabilityZone') AS az, \
         request_parameters->>'clusterId' AS cluster, \
         json_get_str(user_identity, 'sessionContext', 'sessionIssuer', 'userName') AS role \
         FROM events WHERE event_name = 'CreateHsm' AND error_code IS NULL ORDER BY event_time",
        "--data",
        data,
        "--format",
        "csv",
    ]));
    assert_eq!(
        out,
        "az,cluster,role\n\
         us-east-1a,cluster-abc2def3ghi,CloudHSMOperator\n\
         us-east-1b,cluster-abc2def3ghi,CloudHSMOperator\n\
         eu-west-1a,cluster-xyz7uvw6rst,OrgAdmin\n"
    );
    let sql_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        sql_file.path(),
        "SELECT event_date, count(*) AS n FROM events GROUP BY event_date ORDER BY event_date",
    )
    .unwrap();
    let out = stdout(&run(&[
        "query",
        "--file",
        sql_file.path().to_str().unwrap(),
        "--data",
        data,
        "--format",
        "json",
    ]));
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(
        first,
        serde_json::json!({"event_date": "2015-06-01", "n": 1})
    );
}

#[test]
fn output_formats_and_files() {
    let data = data().to_str().unwrap();
    let table = stdout(&run(&["report", "migrations", "--data", data]));
    assert!(
        table.contains("| cluster_id          | kind      |"),
        "{table}"
    );
    assert!(table.trim_end().ends_with("(2 rows)"));
    let md = stdout(&run(&[
        "report",
        "migrations",
        "--data",
        data,
        "--format",
        "markdown",
    ]));
    assert!(md.starts_with("| cluster_id | kind | requested_at | requested_by | from_type | to_type | started | ended | duration_seconds | status | rollback_deadline |\n|---|---|---|---|---|---|---|---|---|---|---|\n"));
    let json = stdout(&run(&[
        "report",
        "root-activity",
        "--data",
        data,
        "--format",
        "json",
    ]));
    let row: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(
        row["backup_id"],
        serde_json::Value::Null,
        "nulls are written"
    );
    assert_eq!(row["event_name"], "DeleteHsm");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("changes.csv");
    let out = run(&[
        "report",
        "changes",
        "--data",
        data,
        "--format",
        "csv",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success() && out.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        std::fs::read_to_string(root().join("tests/expected/changes.csv")).unwrap()
    );
}

#[test]
fn reports_run_straight_on_trail_files() {
    let report_on_inputs = |name: &str| {
        hsmtrail()
            .current_dir(root())
            .args(["report", name, "--format", "csv", "--input"])
            .args(["fixtures/archive", "fixtures/formats", "fixtures/hsm-audit"])
            .output()
            .unwrap()
    };
    let expected = |name: &str| {
        std::fs::read_to_string(root().join(format!("tests/expected/{name}.csv"))).unwrap()
    };
    let out = report_on_inputs("changes");
    assert_eq!(stdout(&out), expected("changes"));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("53 events and 109 HSM audit entries kept"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The audit table in memory too.
    let audit = report_on_inputs("hsm-cloudtrail-crosscheck");
    assert_eq!(stdout(&audit), expected("hsm-cloudtrail-crosscheck"));
}

#[test]
fn errors_say_what_to_do() {
    let data = data().to_str().unwrap();
    // Exit code, then the essential words of the message (and what must not be there).
    let check = |args: &[&str], code: i32, words: &[&str], never: &[&str]| {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        for w in words {
            assert!(err.contains(w), "{args:?}: '{w}' not in: {err}");
        }
        for w in never {
            assert!(!err.contains(w), "{args:?}: '{w}' in: {err}");
        }
    };
    check(
        &["report", "changez", "--data", data],
        2,
        &[
            "no report named 'changez'",
            "did you mean 'changes'?",
            "Usage: hsmtrail report",
        ],
        &[],
    );
    check(
        &["report", "zzzz", "--data", data],
        2,
        &["no report named 'zzzz'", "`hsmtrail reports` lists them"],
        &["did you mean"],
    );
    check(
        &["query", "SELEC 1", "--data", data],
        1,
        &["SQL syntax error", "SELEC", "Line: 1"],
        &["ParserError("],
    );
    check(
        &["query", "SELECT count(*) FROM event", "--data", data],
        1,
        &["there is no table 'event'", "`events`"],
        &["datafusion.public"],
    );
    check(
        &["query", "SELECT event_nme FROM events", "--data", data],
        1,
        &[
            "there is no column 'event_nme'",
            "did you mean 'event_name'",
        ],
        &["Valid fields", "user_agent"],
    );
    check(
        &["query", "SELECT nope FROM events", "--data", data],
        1,
        &["there is no column 'nope'", "hsmtrail schema"],
        &["Valid fields"],
    );
    check(
        &["query", "SELECT 1", "--data", "/nonexistent/hsmtrail-out"],
        1,
        &["no data at /nonexistent/hsmtrail-out", "hsmtrail convert"],
        &[],
    );
    let empty = tempfile::tempdir().unwrap();
    check(
        &[
            "query",
            "SELECT 1",
            "--data",
            empty.path().to_str().unwrap(),
        ],
        1,
        &["no Parquet files under"],
        &[],
    );
    // Data that is not hsmtrail's Parquet is an error, never an empty answer.
    let readme = root().join("README.md");
    check(
        &[
            "query",
            "SELECT count(*) FROM events",
            "--data",
            readme.to_str().unwrap(),
        ],
        1,
        &["is not Parquet", "--data takes the folder"],
        &[],
    );
    for trail in [
        root().join("fixtures/formats/array.json"),
        root().join("fixtures/archive"),
    ] {
        check(
            &[
                "query",
                "SELECT count(*) FROM events",
                "--data",
                trail.to_str().unwrap(),
            ],
            1,
            &["trail files", &format!("--input {}", trail.display())],
            &[],
        );
    }
    // Windows: an inverted one is a usage error; one without events says so.
    check(
        &[
            "report",
            "changes",
            "--data",
            data,
            "--since",
            "2024-03-05",
            "--until",
            "2024-03-01",
        ],
        2,
        &["--since 2024-03-05", "is after --until 2024-03-01"],
        &[],
    );
    check(
        &["report", "changes", "--data", data, "--since", "2030-01-01"],
        0,
        &["no events between 2030-01-01", "the data spans 2015-06-01"],
        &[],
    );
    check(
        &["schema", "--format", "athena"],
        2,
        &["Athena needs --location", "Usage: hsmtrail schema"],
        &[],
    );
    let nowhere = empty.path().join("nodir/x.csv");
    check(
        &[
            "report",
            "changes",
            "--data",
            data,
            "--output",
            nowhere.to_str().unwrap(),
        ],
        1,
        &["nodir/x.csv", "does not exist"],
        &[".hsmtrail-"],
    );
    check(
        &[
            "report",
            "changes",
            "--data",
            data,
            "--output",
            empty.path().to_str().unwrap(),
        ],
        1,
        &["is a folder, not a file"],
        &[".hsmtrail-", "os error"],
    );
}

#[test]
fn readme_lists_every_report() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for r in hsmtrail::report::catalogue::reports() {
        let row = format!("| `{}` | {} | {} |", r.name, r.title, r.description);
        assert!(
            readme.contains(&row),
            "README reports table lacks or misstates {}",
            r.name
        );
    }
}

#[test]
fn data_quality_finds_duplicates_kept_by_the_converter() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dups");
    convert_from_root(&["fixtures/archive", "--keep-duplicates"], &out);
    let csv = stdout(&run(&[
        "report",
        "data-quality",
        "--data",
        out.to_str().unwrap(),
        "--format",
        "csv",
    ]));
    let dups: Vec<&str> = csv
        .lines()
        .filter(|l| l.starts_with("duplicate_event_id,"))
        .collect();
    // The organization trail delivered CreateCluster of 2024-03-02T12:00:00Z twice.
    assert_eq!(dups.len(), 1, "{csv}");
    assert!(dups[0].ends_with(",2"));
    let id = dups[0].split(',').nth(1).unwrap();
    let name = stdout(&run(&[
        "query",
        &format!("SELECT DISTINCT event_name FROM events WHERE event_id = '{id}'"),
        "--data",
        out.to_str().unwrap(),
        "--format",
        "csv",
    ]));
    assert_eq!(name, "event_name\nCreateCluster\n");
}

#[test]
fn a_reader_that_stops_early_ends_the_run_quietly() {
    let data = data().to_str().unwrap();
    for args in [
        &["report", "changes", "--data", data][..],
        &["report", "changes", "--data", data, "--format", "csv"],
        &[
            "query",
            "SELECT * FROM events",
            "--data",
            data,
            "--format",
            "json",
        ],
        &["reports"],
        &["schema"],
        &["report", "changes", "--sql"],
    ] {
        // The reading end is closed before the command writes anything, as `| head -0` would.
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("hsmtrail"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn output_goes_through_links_and_into_special_files() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("real.csv");
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink("real.csv", &link).unwrap();
    let data = data().to_str().unwrap();
    let args = [
        "report", "changes", "--data", data, "--format", "csv", "--output",
    ];
    let out = run(&[&args[..], &[link.to_str().unwrap()]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let written = std::fs::read_to_string(&target).unwrap();
    assert!(written.starts_with("event_time,"), "{written}");
    // A file replaced keeps its permissions.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(
        run(&[&args[..], &[target.to_str().unwrap()]].concat())
            .status
            .success()
    );
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A special file is written into, never replaced.
    let out = run(&[&args[..], &["/dev/stdout"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), written);
}

#[test]
fn results_and_summaries_into_standard_streams_and_links_never_replace_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = data().to_str().unwrap();
    // Standard output redirected to a file (`>> f`): appended to, never replaced.
    let file = dir.path().join("f.csv");
    std::fs::write(&file, "before\n").unwrap();
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("hsmtrail"))
        .args([
            "report",
            "changes",
            "--data",
            data,
            "--format",
            "csv",
            "--output",
            "/dev/stdout",
        ])
        .stdout(
            std::fs::OpenOptions::new()
                .append(true)
                .open(&file)
                .unwrap(),
        )
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("before\nevent_time,"), "{text}");
    // The summary through a link: the link stays.
    let link = dir.path().join("summary-link.json");
    std::os::unix::fs::symlink("summary.json", &link).unwrap();
    let out = dir.path().join("out");
    let run = hsmtrail()
        .args([
            "convert",
            &root().join("fixtures/formats").display().to_string(),
            "--quiet",
        ])
        .arg("--output")
        .arg(&out)
        .arg("--summary-json")
        .arg(&link)
        .output()
        .unwrap();
    assert!(run.status.success());
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(dir.path().join("summary.json"))
            .unwrap()
            .contains("run_id")
    );
    // A closed stderr is no reason to die (`2>&1 | head -1`).
    for args in [
        vec![
            "convert".to_owned(),
            root().join("fixtures/damaged").display().to_string(),
            "--output".into(),
            dir.path().join("o2").display().to_string(),
        ],
        vec!["compact".into(), out.display().to_string()],
    ] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("hsmtrail"))
            .args(&args)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stderr.take());
        let code = child.wait().unwrap().code();
        assert_ne!(code, Some(101), "{args:?} panicked");
    }
}

#[test]
fn a_value_too_long_for_a_folder_name_is_still_found_by_the_scope() {
    let dir = tempfile::tempdir().unwrap();
    let account = "9".repeat(300);
    let input = dir.path().join("long.json");
    std::fs::write(
        &input,
        format!(
            r#"{{"eventTime":"2024-03-01T01:00:00Z","eventID":"e1","eventSource":"cloudhsm.amazonaws.com","recipientAccountId":"{account}","awsRegion":"us-east-1"}}"#
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    convert_from_root(
        &[
            input.to_str().unwrap(),
            "--partition-by",
            "account,region,date",
        ],
        &out,
    );
    let q = run(&[
        "query",
        "SELECT count(*) AS n FROM events",
        "--data",
        out.to_str().unwrap(),
        "--account",
        &account,
        "--format",
        "csv",
    ]);
    assert_eq!(stdout(&q), "n\n1\n");
    // So is a value the folder name escapes.
    let escaped = dir.path().join("escaped.json");
    std::fs::write(
        &escaped,
        r#"{"eventTime":"2024-03-01T01:00:00Z","eventID":"e2","eventSource":"cloudhsm.amazonaws.com","recipientAccountId":"a/b","awsRegion":"us-east-1"}"#,
    )
    .unwrap();
    let out2 = dir.path().join("out2");
    convert_from_root(
        &[escaped.to_str().unwrap(), "--partition-by", "account,date"],
        &out2,
    );
    let q = run(&[
        "query",
        "SELECT count(*) AS n FROM events",
        "--data",
        out2.to_str().unwrap(),
        "--account",
        "a/b",
        "--format",
        "csv",
    ]);
    assert_eq!(stdout(&q), "n\n1\n");
}

#[test]
fn odd_folder_names_and_partition_values_are_read_as_spelled() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let accounts = ["~", "~", "a~b", "}", "111122223333"];
    let lines: Vec<String> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!(
                r#"{{"eventTime":"2024-03-01T00:00:0{i}Z","eventID":"e{i}","eventSource":"kms.amazonaws.com","eventName":"X","recipientAccountId":"{a}","awsRegion":"us-east-1"}}"#
            )
        })
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    // Glob characters in the folder's path: taken as themselves, not as a pattern.
    let out = dir.path().join("br[1]x?*/out");
    hsmtrail()
        .args([
            "convert",
            "--quiet",
            "--all-sources",
            "--partition-by",
            "account,date",
        ])
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let data = out.to_str().unwrap();
    let count = |extra: &[&str], sql: &str| {
        let mut args = vec!["query", sql, "--data", data, "--format", "csv"];
        args.extend_from_slice(extra);
        stdout(&run(&args)).lines().nth(1).unwrap().to_owned()
    };
    assert_eq!(count(&[], "SELECT count(*) FROM events"), "5");
    // `~` and `}` stay as they are in Hive's folder names; an equality on the outermost
    // partition column must still find them.
    assert_eq!(
        count(&["--account", "~"], "SELECT count(*) FROM events"),
        "2"
    );
    assert_eq!(
        count(&[], "SELECT count(*) FROM events WHERE account = '~'"),
        "2"
    );
    assert_eq!(
        count(&[], "SELECT count(*) FROM events WHERE account = '}'"),
        "1"
    );
    assert_eq!(
        count(&["--account", "a~b"], "SELECT count(*) FROM events"),
        "1"
    );
}

#[test]
fn a_baseline_makes_hsm_counts_absolute_and_none_is_ever_negative() {
    // Day two alone: root deletes an HSM of a cluster created the day before.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    convert_from_root(
        &["fixtures/archive/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/02"],
        &out,
    );
    let data = out.to_str().unwrap();
    let capacity = |extra: &[&str]| -> Vec<serde_json::Value> {
        let mut args = vec!["report", "hsm-capacity", "--data", data, "--format", "json"];
        args.extend(extra);
        stdout(&run(&args))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let relative = capacity(&[]);
    assert_eq!(relative.len(), 1);
    assert_eq!(relative[0]["hsms_after"], 0);
    assert_eq!(
        relative[0]["counted_from"],
        "at least (counted from the first event seen)"
    );
    // describe-clusters on 2024-03-04: one HSM left, so two before the deletion.
    let baseline = dir.path().join("clusters.json");
    std::fs::write(
        &baseline,
        r#"{"Clusters":[{"ClusterId":"cluster-abc2def3ghi","State":"ACTIVE","HsmType":"hsm2m.medium","Mode":"FIPS","Hsms":[{"HsmId":"hsm-aaa2bbb3ccc"}]}]}"#,
    )
    .unwrap();
    let absolute = capacity(&[
        "--baseline",
        baseline.to_str().unwrap(),
        "--baseline-at",
        "2024-03-04",
    ]);
    assert_eq!(absolute[0]["hsms_after"], 1);
    assert_eq!(absolute[0]["counted_from"], "baseline");
    assert_eq!(absolute[0]["below_minimum"], true);
    // The baseline is a table the SQL can read.
    let rows = stdout(&run(&[
        "query",
        "--data",
        data,
        "--baseline",
        baseline.to_str().unwrap(),
        "--format",
        "csv",
        "SELECT cluster_id, hsms, CAST(taken_at AS VARCHAR) AS taken_at FROM baseline_clusters",
    ]));
    assert!(rows.contains("cluster-abc2def3ghi,1,"), "{rows}");
    // A file that is not describe output is an error naming it.
    let wrong = dir.path().join("wrong.json");
    std::fs::write(&wrong, "[]").unwrap();
    let out = run(&[
        "report",
        "hsm-capacity",
        "--data",
        data,
        "--baseline",
        wrong.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong.json"));
}
