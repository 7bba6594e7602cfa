//! `hsmtrail check`: every check fires on its fixture and stays quiet on its near misses, DuckDB
//! finds the same rows with the same SQL, ASFF output passes AWS's own API model, and the exit
//! code, severity and window options do what cron and CI rely on.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{hsmtrail, root};

fn check_names() -> Vec<String> {
    hsmtrail::report::checks::checks()
        .iter()
        .map(|c| c.name.clone())
        .collect()
}

fn fixture(name: &str, file: &str) -> PathBuf {
    root().join("fixtures/checks").join(name).join(file)
}

/// The extra arguments a check's fixtures are run with (`fixtures/checks/NAME/args`, one a line).
fn fixture_args(name: &str) -> Vec<String> {
    std::fs::read_to_string(fixture(name, "args"))
        .map(|text| text.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn run(args: &[&str]) -> Output {
    hsmtrail().args(args).output().unwrap()
}

/// The findings of one run as JSON objects, with the exit code.
fn findings(args: &[&str]) -> (Vec<Value>, i32) {
    let out = run(args);
    let code = out.status.code().unwrap();
    assert!(
        code == 0 || code == 3,
        "{args:?} exited {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (rows, code)
}

#[test]
fn every_check_fires_on_its_fixture_and_not_on_its_near_misses() {
    let mut fired = Vec::new();
    for name in check_names() {
        let check = hsmtrail::report::checks::find(&name).unwrap();
        let extra = fixture_args(&name);
        for (file, should_fire) in [("fires.json", true), ("quiet.json", false)] {
            let path = fixture(&name, file);
            let path = path.to_str().unwrap();
            let mut args = vec![
                "check", "--only", &name, "--format", "json", "--input", path,
            ];
            args.extend(extra.iter().map(String::as_str));
            let (rows, code) = findings(&args);
            if should_fire {
                assert!(!rows.is_empty(), "{name} did not fire on {file}");
                assert!(rows.iter().all(|r| r["check"] == name.as_str()));
                assert!(rows.iter().all(|r| r["severity"] == check.severity.name()));
                assert!(
                    rows.iter()
                        .all(|r| !r["event_ids"].as_str().unwrap().is_empty()),
                    "{name}: a finding names no event"
                );
                let high = check.severity >= hsmtrail::report::checks::Severity::High;
                assert_eq!(code, if high { 3 } else { 0 }, "{name}: exit code");
                fired.push(name.clone());
            } else {
                assert!(rows.is_empty(), "{name} fired on its near misses: {rows:?}");
                assert_eq!(code, 0);
            }
        }
    }
    assert!(fired.len() >= 15, "{fired:?}");
}

/// Every check's fixtures (that fire) converted together with the main archive.
fn fired_data() -> &'static Path {
    static DATA: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DATA
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("data");
            let mut cmd = hsmtrail();
            cmd.current_dir(root())
                .args(["convert", "fixtures/archive"]);
            for name in check_names() {
                cmd.arg(fixture(&name, "fires.json"));
            }
            cmd.args(["--quiet", "--out"]).arg(&out).assert().success();
            (dir, out)
        })
        .1
}

/// The options every check's fixtures need at once.
const SHARED_ARGS: [&str; 8] = [
    "--trusted-account",
    "111122223333",
    "--trusted-account",
    "444455556666",
    "--allowed-region",
    "us-east-1",
    "--allowed-region",
    "us-west-2",
];

#[test]
fn duckdb_returns_the_same_rows_for_every_check() {
    let data = fired_data().to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for name in check_names() {
        let mut sql_args = vec!["check", "--only", &name, "--sql"];
        sql_args.extend(SHARED_ARGS);
        let sql = run(&sql_args);
        assert!(sql.status.success());
        let sql_file = dir.path().join(format!("{name}.sql"));
        std::fs::write(&sql_file, &sql.stdout).unwrap();
        let ours = run(&[
            "query",
            "--data",
            data,
            "--file",
            sql_file.to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert!(
            ours.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&ours.stderr)
        );
        assert!(!ours.stdout.is_empty(), "{name} found nothing to compare");
        let ours_file = dir.path().join(format!("{name}.jsonl"));
        std::fs::write(&ours_file, &ours.stdout).unwrap();
        let check = std::process::Command::new("python3")
            .arg(root().join("tests/duckdb_report.py"))
            .args([Path::new(data), &sql_file, &ours_file])
            .output()
            .expect("python3 runs (CI installs the pinned duckdb package: see .ci/run)");
        assert!(
            check.status.success(),
            "check {name}: DuckDB disagrees:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

#[test]
fn asff_output_passes_the_securityhub_api_model() {
    let data = fired_data().to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("findings.json");
    let mut args = vec!["check", "--data", data, "--format", "asff", "--output"];
    args.push(file.to_str().unwrap());
    args.extend(SHARED_ARGS);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(3));
    let findings: Vec<Value> = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(findings.len() >= 15);
    let check = std::process::Command::new("python3")
        .arg(root().join("tests/asff_validate.py"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "ASFF invalid:\n{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // Importing the same findings again updates them: their Ids do not change between runs.
    let again = dir.path().join("again.json");
    args[6] = again.to_str().unwrap();
    run(&args);
    let ids = |v: &[Value]| -> Vec<String> {
        v.iter()
            .map(|f| f["Id"].as_str().unwrap().to_owned())
            .collect()
    };
    let repeated: Vec<Value> = serde_json::from_slice(&std::fs::read(&again).unwrap()).unwrap();
    assert_eq!(ids(&findings), ids(&repeated));
}

#[test]
fn severities_windows_and_exit_codes() {
    let data = fired_data().to_str().unwrap();
    // Only the critical checks, failing on critical: the stopped trail.
    let (rows, code) = findings(&[
        "check",
        "--data",
        data,
        "--min-severity",
        "critical",
        "--format",
        "json",
    ]);
    assert!(!rows.is_empty() && rows.iter().all(|r| r["severity"] == "critical"));
    assert_eq!(code, 3);
    // Findings of medium checks only do not fail the default --fail-on high.
    let (rows, code) = findings(&[
        "check",
        "--data",
        data,
        "--only",
        "trail-changed",
        "--format",
        "json",
    ]);
    assert!(!rows.is_empty());
    assert_eq!(code, 0);
    let (_, code) = findings(&[
        "check",
        "--data",
        data,
        "--only",
        "trail-changed",
        "--fail-on",
        "medium",
        "--format",
        "json",
    ]);
    assert_eq!(code, 3);
    // The window picks findings; the checks still see what came before it.
    let (all, _) = findings(&["check", "--data", data, "--format", "json"]);
    let (late, _) = findings(&[
        "check",
        "--data",
        data,
        "--format",
        "json",
        "--since",
        "2024-04-01",
    ]);
    assert!(!late.is_empty() && late.len() < all.len());
    assert!(
        late.iter()
            .all(|r| r["event_time"].as_str().unwrap() >= "2024-04-01")
    );
    // Usage errors exit 2 and say what to do.
    for (args, says) in [
        (vec!["check", "--only", "cluster-deleteed"], "did you mean"),
        (
            vec!["check", "--data", data, "--param", "nope=1"],
            "no check takes the parameter 'nope'",
        ),
        (
            vec!["check", "--data", data, "--trusted-account", "1'1"],
            "trusted_accounts",
        ),
    ] {
        let out = run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert_ne!(out.status.code(), Some(0), "{args:?}");
    }
    for args in [
        vec!["check", "--only", "cluster-deleteed"],
        vec!["check", "--data", data, "--trusted-account", "1'1"],
        vec!["check", "--data", data, "--param", "burst=1;DROP"],
        vec!["check", "--data", data, "--param", "burst"],
        vec![
            "check",
            "--data",
            data,
            "--only",
            "migration-unfinished",
            "--min-severity",
            "high",
        ],
    ] {
        assert_eq!(run(&args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn empty_outputs_old_records_and_closed_pipes() {
    let dir = tempfile::tempdir().unwrap();
    // Converted into with nothing kept: no findings, exit 0 (a nightly run on a quiet day).
    let quiet = dir.path().join("quiet.json");
    std::fs::write(
        &quiet,
        r#"{"Records":[{"eventVersion":"1.09","eventTime":"2024-04-04T10:00:00Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt","awsRegion":"us-east-1","eventID":"e1","recipientAccountId":"111122223333"}]}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    hsmtrail()
        .arg("convert")
        .arg(&quiet)
        .args(["--incremental", "--quiet", "--output"])
        .arg(&out)
        .assert()
        .success();
    let (rows, code) = findings(&["check", "--data", out.to_str().unwrap(), "--format", "json"]);
    assert!(rows.is_empty());
    assert_eq!(code, 0);
    // A record without recipientAccountId: the finding takes the caller's account, and ASFF
    // files it.
    let old = dir.path().join("old.json");
    std::fs::write(
        &old,
        r#"{"Records":[{"eventVersion":"1.09","eventTime":"2024-04-04T10:00:00Z","eventSource":"cloudhsm.amazonaws.com","eventName":"DeleteCluster","awsRegion":"us-east-1","eventID":"e2","userIdentity":{"type":"IAMUser","accountId":"111122223333","userName":"bob"},"requestParameters":{"clusterId":"cluster-a"}}]}"#,
    )
    .unwrap();
    let old = old.to_str().unwrap();
    let (rows, _) = findings(&[
        "check",
        "--input",
        old,
        "--only",
        "cluster-deleted",
        "--format",
        "json",
    ]);
    assert_eq!(rows[0]["account_id"], "111122223333");
    let asff = run(&[
        "check",
        "--input",
        old,
        "--only",
        "cluster-deleted",
        "--format",
        "asff",
    ]);
    let filed: Vec<Value> = serde_json::from_slice(&asff.stdout).unwrap();
    assert_eq!(filed[0]["AwsAccountId"], "111122223333");
    // A reader that stops early does not turn findings into success.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("hsmtrail"))
        .args(["check", "--data"])
        .arg(fired_data())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    assert_eq!(child.wait().unwrap().code(), Some(3));
}

#[test]
fn the_list_names_every_check_with_its_severity() {
    let out = run(&["check", "--list"]);
    let text = String::from_utf8(out.stdout).unwrap();
    for name in check_names() {
        assert!(text.contains(&name), "{name} not listed");
    }
    assert!(text.contains("critical") && text.contains("T1562.008"));
}

#[test]
fn every_check_file_is_bundled_and_every_check_has_fixtures() {
    let mut on_disk: Vec<String> = std::fs::read_dir(root().join("queries/checks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut bundled: Vec<String> = hsmtrail::report::checks::bundled_files()
        .map(str::to_owned)
        .collect();
    bundled.sort();
    assert_eq!(on_disk, bundled);
    for name in check_names() {
        assert!(fixture(&name, "fires.json").exists(), "{name}");
        assert!(fixture(&name, "quiet.json").exists(), "{name}");
    }
}

#[test]
fn readme_lists_every_check() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for c in hsmtrail::report::checks::checks() {
        let params: Vec<String> = c
            .template
            .params
            .iter()
            .map(|p| format!("`{}`", p.name))
            .collect();
        let row = format!(
            "| `{}` | {} | {} | {} | {} |",
            c.name,
            c.severity.name(),
            c.title,
            if c.mitre.is_empty() {
                "-".to_owned()
            } else {
                c.mitre.join(", ")
            },
            params.join(", ")
        );
        assert!(
            readme.contains(&row),
            "README checks table lacks or misstates {}: {row}",
            c.name
        );
    }
}
