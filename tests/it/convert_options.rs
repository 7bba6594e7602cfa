//! The options of `hsmtrail convert`: partition layouts, filters, appending vs overwriting,
//! standard input, globs, compression and worker counts.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{Table, convert, fixture, parquet_files};

fn partitions(out: &Path) -> Vec<String> {
    parquet_files(out)
        .iter()
        .map(|f| {
            f.parent()
                .unwrap()
                .strip_prefix(out)
                .unwrap()
                .display()
                .to_string()
        })
        .collect()
}

#[test]
fn account_region_month_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (code, _) = convert(
        &[
            &fixture("archive"),
            "--partition-by",
            "month,region",
            "--partition-by",
            "account",
        ],
        &out,
    );
    assert_eq!(code, 0);
    assert_eq!(
        partitions(&out),
        [
            "account=111122223333/region=us-east-1/event_month=2015-06",
            "account=111122223333/region=us-east-1/event_month=2024-02",
            "account=111122223333/region=us-east-1/event_month=2024-03",
            "account=444455556666/region=eu-west-1/event_month=2024-03",
        ]
    );
}

#[test]
fn no_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (code, s) = convert(&[&fixture("archive"), "--partition-by", "none"], &out);
    assert_eq!(code, 0);
    assert_eq!(partitions(&out), [""]);
    assert_eq!(
        Table::read(&out).len() as u64,
        s["records"]["kept"].as_u64().unwrap()
    );
}

#[test]
fn filters_by_time_account_region_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let count = |args: &[&str], name: &str| {
        let out = dir.path().join(name);
        let mut all = vec![fixture("archive")];
        all.extend(args.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let (code, s) = convert(&all, &out);
        assert_eq!(code, 0, "{s:#}");
        let r = &s["records"];
        assert_eq!(
            r["read"].as_u64(),
            Some(
                r["kept"].as_u64().unwrap()
                    + r["filtered"].as_u64().unwrap()
                    + r["duplicates"].as_u64().unwrap()
            )
        );
        Table::read(&out)
    };
    // A date as --until includes the whole day.
    let t = count(&["--since", "2024-03-01", "--until", "2024-03-01"], "day");
    assert_eq!(t.len(), 24);
    assert!(
        (0..t.len())
            .all(|r| hsmtrail::time::date_of(t.millis(r, "event_time").unwrap()) == "2024-03-01")
    );
    let t = count(
        &[
            "--since",
            "2024-03-01T15:00:00Z",
            "--until",
            "2024-03-01T15:10:00Z",
        ],
        "window",
    );
    assert_eq!(t.len(), 3);
    let t = count(&["--account", "444455556666"], "account");
    assert_eq!(t.len(), 4);
    let t = count(
        &["--region", "eu-west-1", "--region", "us-west-2"],
        "region",
    );
    assert_eq!(t.len(), 4);
    let t = count(
        &[
            "--source",
            "kms.amazonaws.com",
            "--source",
            "sts.amazonaws.com",
        ],
        "sources",
    );
    assert_eq!(
        t.count_by("event_source").into_iter().collect::<Vec<_>>(),
        [
            ("kms.amazonaws.com".to_owned(), 7),
            ("sts.amazonaws.com".to_owned(), 1)
        ]
    );
    let t = count(&["--all-sources"], "all");
    // 40 CloudHSM events, 10 of other services about CloudHSM, 10 others.
    assert_eq!(t.len(), 40 + 10 + 10);
    // CloudHSM-only columns stay empty for other services; cluster_id only for those about it.
    for r in t.rows_where("event_source", "kms.amazonaws.com") {
        assert_eq!(t.text(r, "request_cluster_id"), None);
        assert_eq!(
            t.text(r, "cluster_id").is_some(),
            t.text(r, "cloudhsm_relation").is_some(),
            "row {r}"
        );
    }
    // `--source` keeps CloudHSM's own events only, as the default did before it kept the
    // related ones.
    let t = count(&["--source", "cloudhsm.amazonaws.com"], "cloudhsm");
    assert_eq!(t.len(), 40);
}

#[test]
fn runs_add_files_and_overwrite_replaces_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let input = fixture("archive/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/09");
    assert_eq!(convert(&[&input], &out).0, 0);
    // The same events again: already in the output, so nothing is written...
    let (code, again) = convert(&[&input], &out);
    assert_eq!(code, 0);
    assert_eq!(
        (
            again["records"]["kept"].as_u64(),
            again["records"]["duplicates"].as_u64()
        ),
        (Some(0), Some(6))
    );
    assert_eq!(parquet_files(&out).len(), 3);
    // ...unless duplicates are asked for.
    assert_eq!(convert(&[&input, "--keep-duplicates"], &out).0, 0);
    // The service events of that delivery fall on three days: three partitions, each with
    // one file of each run that wrote.
    let files = parquet_files(&out);
    assert_eq!(
        files.len(),
        6,
        "a second run adds files next to the first's"
    );
    let names: BTreeSet<_> = files.iter().map(|f| f.file_name().unwrap()).collect();
    assert_eq!(names.len(), 2);
    std::fs::create_dir_all(out.join("_hsmtrail")).unwrap();
    std::fs::write(out.join("_hsmtrail/keep.parquet"), b"not ours to delete").unwrap();

    let (code, s) = convert(&[&input, "--overwrite"], &out);
    assert_eq!(code, 0);
    assert_eq!(s["output"]["replaced_files"], 6);
    let files = parquet_files(&out);
    assert_eq!(files.len(), 3);
    let run_id = s["run_id"].as_str().unwrap();
    assert!(
        files
            .iter()
            .all(|f| f.display().to_string().contains(run_id))
    );
    assert!(out.join("_hsmtrail/keep.parquet").exists());
    assert_eq!(Table::read(&out).len(), 6);
}

#[test]
fn overwrite_removes_partitions_no_longer_produced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_eq!(convert(&[&fixture("archive")], &out).0, 0);
    let (code, _) = convert(
        &[
            &fixture("archive/AWSLogs/111122223333/CloudTrail/us-east-1/2015"),
            "--overwrite",
        ],
        &out,
    );
    assert_eq!(code, 0);
    assert_eq!(partitions(&out), ["event_date=2015-06-01"]);
    let dirs: BTreeSet<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        dirs,
        ["_hsmtrail".to_owned(), "event_date=2015-06-01".to_owned()].into()
    );
}

#[test]
fn standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let gz = std::fs::read(fixture(
        "archive/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/09/111122223333_CloudTrail_us-east-1_20240309T0905Z_Ss6Tt7Uu8Vv9Ww0X.json.gz",
    ))
    .unwrap();
    crate::common::hsmtrail()
        .args(["convert", "-", "--quiet", "--out"])
        .arg(&out)
        .write_stdin(gz)
        .assert()
        .success()
        .stderr("");
    let t = Table::read(&out);
    assert_eq!(t.len(), 6);
    assert_eq!(t.rows_where("source_file", "-").len(), 6);
}

#[test]
fn glob_patterns_and_single_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let pattern = format!("{}/*.jsonl", fixture("formats"));
    let (code, s) = convert(&[&pattern, &fixture("formats/bare-record.json")], &out);
    assert_eq!(code, 0);
    assert_eq!(s["files"]["total"], 4);
    assert_eq!(s["formats"]["json-lines"], 3);
    assert_eq!(s["formats"]["record"], 1);
}

#[test]
fn same_rows_whatever_the_jobs_and_codec() {
    let dir = tempfile::tempdir().unwrap();
    let mut tables = Vec::new();
    for (i, args) in [
        vec!["--jobs", "1", "--compression", "none"],
        vec!["--jobs", "2", "--compression", "snappy"],
        vec!["--jobs", "3", "--compression", "gzip"],
        vec!["--compression", "zstd"],
    ]
    .into_iter()
    .enumerate()
    {
        let out = dir.path().join(format!("out{i}"));
        let mut all = vec![fixture("archive"), fixture("formats")];
        all.extend(args.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        assert_eq!(convert(&all, &out).0, 0);
        let t = Table::read(&out);
        let rows: Vec<String> = (0..t.len())
            .map(|r| hsmtrail::rebuild::rebuild(&t.batch, r).unwrap().to_string())
            .collect();
        tables.push(rows);
    }
    assert!(tables.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn spilling_to_disk_gives_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (name, budget) in [("memory", "256"), ("spilled", "0")] {
        let out = dir.path().join(name);
        let (code, s) = convert(
            &[
                &fixture("archive"),
                &fixture("formats"),
                "--all-sources",
                "--memory-budget",
                budget,
            ],
            &out,
        );
        assert_eq!(code, 0);
        let leftovers: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(
            leftovers.is_empty(),
            "spill folder left behind: {leftovers:?}"
        );
        let mut per_file = Vec::new();
        for file in parquet_files(&out) {
            let t = Table {
                batch: crate::common::read_parquet(&file),
            };
            let times: Vec<i64> = (0..t.len())
                .map(|r| t.millis(r, "event_time").unwrap())
                .collect();
            assert!(times.windows(2).all(|w| w[0] <= w[1]));
            let rows: Vec<String> = (0..t.len())
                .map(|r| hsmtrail::rebuild::rebuild(&t.batch, r).unwrap().to_string())
                .collect();
            per_file.push((
                file.parent()
                    .unwrap()
                    .strip_prefix(&out)
                    .unwrap()
                    .to_owned(),
                rows,
            ));
        }
        outputs.push((per_file, s["records"].clone()));
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0].1["duplicates"], 17);
}

#[test]
fn shards_split_the_inputs_into_disjoint_parts_of_one_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut total = 0;
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let (code, s) = convert(&[&fixture("archive"), "--shard", &shard], &out);
        assert_eq!(code, 0);
        assert_eq!(s["shard"], shard.as_str());
        total += s["files"]["total"].as_u64().unwrap();
    }
    assert_eq!(total, 10, "every file of the archive in exactly one shard");
    let all_dir = dir.path().join("all");
    assert_eq!(convert(&[&fixture("archive")], &all_dir).0, 0);
    let rows = |t: &Table| -> BTreeSet<String> {
        (0..t.len())
            .map(|r| hsmtrail::rebuild::rebuild(&t.batch, r).unwrap().to_string())
            .collect()
    };
    // The same records (the organization trail's repeated delivery may sit in another shard,
    // so the shards together can hold it twice).
    let sharded = Table::read(&out);
    assert!(sharded.len() >= 40);
    assert_eq!(rows(&sharded), rows(&Table::read(&all_dir)));
}

#[test]
fn an_output_inside_the_input_folder_hides_only_its_own_files() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("trail");
    crate::common::copy_tree(Path::new(&fixture("archive")), &input, |_| true);
    let clean = tmp.path().join("clean");
    let (code, expected) = convert(&[&fixture("archive")], &clean);
    assert_eq!(code, 0);
    // The output in the input folder, and then the input folder itself as the output.
    let summary = tmp.path().join("summary.json");
    let convert = |out: &Path| {
        let status = crate::common::hsmtrail()
            .args(["convert", input.to_str().unwrap(), "--quiet", "--out"])
            .arg(out)
            .arg("--summary-json")
            .arg(&summary)
            .output()
            .unwrap()
            .status;
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
        (status.code().unwrap(), s)
    };
    for out in [input.join("parquet"), input.clone()] {
        for run in 0..2 {
            let (code, s) = convert(&out);
            assert_eq!(code, 0, "{s:#}");
            assert_eq!(s["files"]["total"], expected["files"]["total"], "{s:#}");
            assert_eq!(
                s["files"]["failed"], 0,
                "its Parquet files are never read as input"
            );
            if run == 1 {
                assert_eq!(s["records"]["kept"], 0, "{s:#}");
            }
        }
        assert_eq!(
            Table::read(&out).event_ids(),
            Table::read(&clean).event_ids()
        );
        if out != input {
            // Seen from the next output, this one is just a folder in the input.
            std::fs::remove_dir_all(&out).unwrap();
        }
    }
}

#[test]
fn a_whole_logging_bucket_reads_cloudtrail_and_names_what_it_skips() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    crate::common::copy_tree(Path::new(&fixture("archive")), &bucket, |_| true);
    let account = bucket.join("AWSLogs/111122223333");
    let put = |rel: &str, bytes: &[u8]| {
        let path = account.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    put("Config/ConfigWritabilityCheckFile", b"");
    put(
        "Config/us-east-1/2024/3/1/ConfigHistory/111122223333_Config_us-east-1_ConfigHistory_AWS::KMS::Key_20240301T000000Z.json",
        br#"{"fileVersion":"1.0","configurationItems":[]}"#,
    );
    put(
        "elasticloadbalancing/us-east-1/2024/03/01/x_elasticloadbalancing_us-east-1_app.lb.log",
        b"h2 2024-03-01T00:00:00Z app/lb ...\n",
    );
    put(
        "CloudTrail-Insight/us-east-1/2024/03/01/111122223333_CloudTrail-Insight_us-east-1_20240301T0000Z_a.json",
        br#"{"Records":[{"eventVersion":"1.07","eventTime":"2024-03-01T10:00:00Z","eventSource":"cloudhsm.amazonaws.com","eventName":"CreateHsm","eventType":"AwsCloudTrailInsight","eventID":"insight-1","eventCategory":"Insight"}]}"#,
    );
    put("CloudTrail/us-east-1/2024/03/01/empty.json.gz", b"");
    let out = tmp.path().join("out");
    let (code, s) = convert(&[bucket.to_str().unwrap()], &out);
    assert_eq!(code, 0, "{s:#}");
    let skipped = &s["files"]["skipped"];
    assert_eq!(skipped["not-cloudtrail:Config"], 2, "{s:#}");
    assert_eq!(skipped["not-cloudtrail:elasticloadbalancing"], 1);
    assert_eq!(skipped["empty"], 1);
    assert_eq!(s["files"]["failed"], 0);
    let named = |suffix: &str| {
        s["problems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["file"].as_str().unwrap().ends_with(suffix))
            .map(|p| {
                (
                    p["severity"].as_str().unwrap().to_owned(),
                    p["reason"].as_str().unwrap().to_owned(),
                )
            })
            .unwrap_or_else(|| panic!("{suffix} not named: {s:#}"))
    };
    assert_eq!(named("ConfigWritabilityCheckFile").0, "skipped");
    assert!(named("app.lb.log").1.contains("elasticloadbalancing"));
    assert_eq!(
        named("empty.json.gz"),
        ("warning".into(), "skipped: the file is empty".into())
    );
    assert_eq!(
        named("_main-trail_us-east-1_20240301T090000Z.json.gz"),
        (
            "skipped".into(),
            "skipped: a CloudTrail digest file, not a log file".into()
        )
    );
    assert_eq!(
        Table::read(&out).rows_where("event_id", "insight-1").len(),
        1
    );
}

#[test]
fn files_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let bin = assert_cmd::cargo::cargo_bin("hsmtrail");
    let with_umask = |command: String| {
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("umask 027 && exec {command}")])
            .status()
            .unwrap();
        assert!(status.success());
    };
    for shard in ["1/2", "2/2"] {
        with_umask(format!(
            "{} convert {} --quiet --shard {shard} --out {}",
            bin.display(),
            fixture("archive"),
            out.display()
        ));
    }
    with_umask(format!(
        "{} compact {} --quiet",
        bin.display(),
        out.display()
    ));
    with_umask(format!(
        "{} report changes --data {} --output {}",
        bin.display(),
        out.display(),
        tmp.path().join("changes.txt").display()
    ));
    let mut files = parquet_files(&out);
    files.push(tmp.path().join("changes.txt"));
    for file in files {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "{}", file.display());
    }
}

#[test]
fn the_summary_says_what_happened_in_words() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let run = || {
        let o = crate::common::hsmtrail()
            .args([
                "convert",
                &fixture("archive"),
                &fixture("formats"),
                "--output",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stderr).unwrap()
    };
    let first = run();
    assert!(first.contains(" written, "), "{first}");
    assert!(first.contains("left out by the filter"), "{first}");
    assert!(!first.contains("already in the output"), "{first}");
    let again = run();
    assert!(again.contains(": 0 written, "), "{again}");
    assert!(again.contains("already in the output"), "{again}");
    assert!(again.contains("nothing new to write under"), "{again}");
    assert!(!again.contains("duplicates"), "{again}");
}

#[test]
fn globs_binary_files_and_links_to_the_output_are_handled_like_walks() {
    let tmp = tempfile::tempdir().unwrap();
    let bucket = tmp.path().join("bucket");
    crate::common::copy_tree(Path::new(&fixture("archive")), &bucket, |_| true);
    let config =
        bucket.join("AWSLogs/111122223333/Config/us-east-1/2024/3/1/ConfigHistory/c.json.gz");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::copy(
        bucket.join("AWSLogs/o-a1b2c3d4e5/444455556666/CloudTrail/eu-west-1/2024/03/02/444455556666_CloudTrail_eu-west-1_20240302T1700Z_Qq6Rr7Ss8Tt9Uu0V.json.gz"),
        &config,
    )
    .unwrap();
    std::fs::write(
        bucket.join("picture.png"),
        b"\x89PNG\r\n\x1a\n\x00\x00binary",
    )
    .unwrap();
    let out = tmp.path().join("out");
    std::os::unix::fs::symlink(&out, bucket.join("linked-out")).unwrap();
    let pattern = format!("{}/**/*.gz", bucket.display());
    // Day folders: here it also matches Config's deeper ConfigHistory folder.
    let days = format!("{}/AWSLogs/*/*/*/*/*/*/*", bucket.display());
    for inputs in [
        vec![pattern.as_str()],
        vec![days.as_str()],
        vec![bucket.to_str().unwrap()],
    ] {
        for _ in 0..2 {
            let (code, s) = convert(&inputs, &out);
            assert_eq!(code, 0, "{inputs:?}: {s:#}");
            assert_eq!(s["files"]["failed"], 0, "{s:#}");
            assert_eq!(s["files"]["skipped"]["not-cloudtrail:Config"], 1, "{s:#}");
        }
    }
    let (_, s) = convert(&[bucket.to_str().unwrap()], &out);
    assert_eq!(s["files"]["skipped"]["not-json"], 1, "the picture: {s:#}");
}
