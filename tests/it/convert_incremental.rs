//! Incremental runs, crash safety, de-duplication across runs and compaction, on local
//! directories (tests/s3.rs does the same against a loopback S3 server).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{Table, convert, copy_tree, fixture, parquet_files};

#[test]
fn incremental_runs_convert_new_files_and_late_files_for_old_days_once() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let late = "111122223333_CloudTrail_us-east-1_20240301T1535Z";
    copy_tree(Path::new(&fixture("archive")), &archive, |rel| {
        !rel.to_string_lossy().contains(late)
    });
    let out = tmp.path().join("out");
    let run = || {
        let (code, s) = convert(&[archive.to_str().unwrap(), "--incremental"], &out);
        assert_eq!(code, 0, "{s:#}");
        s
    };
    let first = run();
    let converted = first["files"]["total"].as_u64().unwrap();
    assert_eq!(run()["files"]["total"], 0, "nothing new");
    // A file arrives late in a folder of an old day.
    copy_tree(Path::new(&fixture("archive")), &archive, |rel| {
        rel.to_string_lossy().contains(late)
    });
    let third = run();
    assert_eq!(third["files"]["total"], 1, "{third:#}");
    assert_eq!(third["files"]["already_converted"], converted);
    // A file replaced with other content is converted again.
    let replaced = walkdir::WalkDir::new(&archive)
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.path().to_string_lossy().contains("20240309T0905Z"))
        .unwrap()
        .into_path();
    // Delivered again, uncompressed this time: other bytes, same records.
    let mut text = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&replaced).unwrap()),
        &mut text,
    )
    .unwrap();
    std::fs::write(&replaced, text).unwrap();
    let fourth = run();
    assert_eq!(fourth["files"]["total"], 1, "{fourth:#}");
    assert_eq!(
        fourth["records"]["kept"], 0,
        "its records are already in the output"
    );

    let clean = tmp.path().join("clean");
    assert_eq!(convert(&[&fixture("archive")], &clean).0, 0);
    let (ids, expected) = (
        Table::read(&out).event_ids(),
        Table::read(&clean).event_ids(),
    );
    assert!(
        ids == expected,
        "{} rows, {} expected",
        ids.len(),
        expected.len()
    );
    let records = std::fs::read_dir(out.join("_hsmtrail/inputs"))
        .unwrap()
        .count();
    assert_eq!(records, 4, "one record per run");
}

#[test]
fn events_already_in_the_output_are_not_written_again() {
    // An organisation trail and an account trail deliver the same events under two paths.
    let tmp = tempfile::tempdir().unwrap();
    let org_file = crate::common::largest_org_trail_fixture();
    let account_copy = tmp
        .path()
        .join("AWSLogs/444455556666/CloudTrail/eu-west-1/2024/03/02/copy.json.gz");
    std::fs::create_dir_all(account_copy.parent().unwrap()).unwrap();
    std::fs::copy(&org_file, &account_copy).unwrap();
    let out = tmp.path().join("out");
    let (code, first) = convert(&[org_file.to_str().unwrap(), "--all-sources"], &out);
    assert_eq!(code, 0);
    let kept = first["records"]["kept"].as_u64().unwrap();
    assert!(kept > 0);
    let (code, second) = convert(&[account_copy.to_str().unwrap(), "--all-sources"], &out);
    assert_eq!(code, 0);
    assert_eq!(second["records"]["kept"], 0, "{second:#}");
    assert_eq!(second["records"]["duplicates"], kept);
    assert_eq!(parquet_files(&out).len(), 1, "no file for nothing new");
    let ids = Table::read(&out).event_ids();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique);
}

/// Polls until some but not all partitions of a run are in place, then SIGKILLs it. Returns
/// whether the kill landed there (the run may be too quick on a fast machine).
fn kill_mid_run(args: &[&str], out: &Path, partitions: usize) -> bool {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("hsmtrail"))
        .arg("convert")
        .args(args)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let landed = loop {
        let written = parquet_files(out).len();
        if written > 0 {
            child.kill().unwrap();
            break written < partitions;
        }
        if child.try_wait().unwrap().is_some() || started.elapsed() > Duration::from_secs(120) {
            break false;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let _ = child.wait();
    landed
}

#[test]
fn a_run_killed_mid_write_and_rerun_leaves_every_record_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    let days = 12;
    crate::common::generate_archive(&archive, 48, days);
    let args = [
        archive.to_str().unwrap(),
        "--all-sources",
        "--incremental",
        "--jobs",
        "1",
    ];
    let clean = tmp.path().join("clean");
    let (code, _) = convert(&[archive.to_str().unwrap(), "--all-sources"], &clean);
    assert_eq!(code, 0);
    let expected = Table::read(&clean).event_ids();
    let partitions = parquet_files(&clean).len();
    assert!(partitions >= days as usize);

    let mut landed = 0;
    for attempt in 0..4 {
        let out = tmp.path().join(format!("out{attempt}"));
        if !kill_mid_run(&args, &out, partitions) {
            continue;
        }
        landed += 1;
        // What a reader sees right after the kill: only complete files, and no run record.
        for file in parquet_files(&out) {
            crate::common::read_parquet(&file);
        }
        assert!(
            !out.join("_hsmtrail/inputs").exists(),
            "state written before its data"
        );
        let (code, s) = convert(&args, &out);
        assert_eq!(code, 0, "{s:#}");
        assert!(s["records"]["duplicates"].as_u64().unwrap() > 0, "{s:#}");
        let ids = Table::read(&out).event_ids();
        assert!(
            ids == expected,
            "{} rows, {} expected",
            ids.len(),
            expected.len()
        );
        let (_, again) = convert(&args, &out);
        assert_eq!(again["files"]["total"], 0);
    }
    assert!(landed > 0, "no kill landed mid-run in 4 attempts");
}

fn partition_dirs(out: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = parquet_files(out)
        .iter()
        .map(|f| f.parent().unwrap().to_path_buf())
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

#[test]
fn compaction_merges_sorts_dedups_and_swaps_partitions_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    crate::common::generate_archive(&archive, 24, 2);
    let out = tmp.path().join("out");
    // Overlapping runs: several files per partition, some events twice.
    for shard in ["1/3", "2/3", "3/3", "2/3"] {
        let (code, _) = convert(
            &[
                archive.to_str().unwrap(),
                "--all-sources",
                "--keep-duplicates",
                "--shard",
                shard,
            ],
            &out,
        );
        assert_eq!(code, 0);
    }
    let before = Table::read(&out);
    let mut unique = before.event_ids();
    unique.dedup();
    assert!(unique.len() < before.len());
    let dirs = partition_dirs(&out);
    assert!(parquet_files(&out).len() > dirs.len());
    // Leftover of a killed compaction: removed, never read.
    std::fs::create_dir_all(dirs[0].parent().unwrap().join(".hsmtrail-compact-x-123")).unwrap();

    // A reader counting rows while the swap happens sees the old set or the new, never both.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, dir) = (stop.clone(), dirs[0].clone());
        std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let files: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
                    .unwrap_or_default();
                let names: Vec<String> = files
                    .iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
                    .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                    .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                    .collect();
                // Compacted files are part-<time>-<4 digits>.parquet.
                let compacted = names
                    .iter()
                    .filter(|n| {
                        let stem = n.trim_end_matches(".parquet");
                        let last = stem.rsplit('-').next().unwrap_or("");
                        last.len() == 4 && last.bytes().all(|b| b.is_ascii_digit())
                    })
                    .count();
                seen.insert((compacted > 0, names.len() - compacted > 0));
            }
            seen
        })
    };
    let compact = crate::common::hsmtrail()
        .args(["compact", out.to_str().unwrap()])
        .output()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        compact.status.success(),
        "{}",
        String::from_utf8_lossy(&compact.stderr)
    );
    let seen = reader.join().unwrap();
    assert!(
        !seen.contains(&(true, true)),
        "a reader saw old and new files together: {seen:?}"
    );

    let after = Table::read(&out).event_ids();
    assert!(
        after == unique,
        "{} rows after, {} unique before",
        after.len(),
        unique.len()
    );
    assert_eq!(
        parquet_files(&out).len(),
        dirs.len(),
        "one file per partition"
    );
    for dir in partition_dirs(&out) {
        let mut last = i64::MIN;
        for file in parquet_files(&dir) {
            let t = Table {
                batch: crate::common::read_parquet(&file),
            };
            for row in 0..t.len() {
                let time = t.millis(row, "event_time").unwrap();
                assert!(
                    time >= last,
                    "sorted by event_time across the partition's files"
                );
                last = time;
            }
        }
    }
    assert!(
        !walkdir::WalkDir::new(&out)
            .into_iter()
            .filter_map(Result::ok)
            .any(|e| e
                .file_name()
                .to_string_lossy()
                .starts_with(".hsmtrail-compact-"))
    );
    let files = parquet_files(&out);
    let rerun = crate::common::hsmtrail()
        .args(["compact", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(rerun.status.success());
    assert!(
        String::from_utf8_lossy(&rerun.stderr)
            .contains(&format!("({} already compact)", dirs.len()))
    );
    let mut again = parquet_files(&out);
    again.sort();
    assert_eq!(again, files, "rerunning changes nothing");
}

/// `hsmtrail ARGS`: exit code and standard error.
fn run(args: &[&str]) -> (i32, String) {
    let out = crate::common::hsmtrail().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The event IDs of a clean conversion of `args` into a fresh folder.
fn clean_ids(args: &[&str], dir: &Path) -> Vec<String> {
    let (code, s) = convert(args, dir);
    assert_eq!(code, 0, "{s:#}");
    let mut ids = Table::read(dir).event_ids();
    ids.dedup();
    ids
}

#[test]
fn compacting_an_unpartitioned_output_touches_only_the_files_it_merges() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    crate::common::generate_archive(&archive, 12, 2);
    let a = archive.to_str().unwrap();
    let out = tmp.path().join("out");
    for shard in ["1/2", "2/2"] {
        let args = [
            a,
            "--all-sources",
            "--partition-by",
            "none",
            "--incremental",
        ];
        let (code, s) = convert(
            &[&args[..], &["--shard", shard, "--write-ddl"]].concat(),
            &out,
        );
        assert_eq!(code, 0, "{s:#}");
    }
    assert_eq!(parquet_files(&out).len(), 2);
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    std::fs::create_dir_all(out.join("_rejected")).unwrap();
    std::fs::write(out.join("_rejected/earlier.jsonl"), "{}\n").unwrap();
    let kept: Vec<PathBuf> = walkdir::WalkDir::new(&out)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_none_or(|x| x != "parquet"))
        .collect();
    assert!(kept.len() >= 6, "{kept:?}");

    let (code, err) = run(&["compact", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for file in &kept {
        assert!(file.is_file(), "compaction removed {}", file.display());
    }
    assert_eq!(parquet_files(&out).len(), 1);
    let expected = clean_ids(&[a, "--all-sources"], &tmp.path().join("clean"));
    assert_eq!(Table::read(&out).event_ids(), expected);
}

#[test]
fn an_output_has_one_layout_and_compaction_keeps_both_of_an_old_mixed_one() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    crate::common::generate_archive(&archive, 12, 2);
    let a = archive.to_str().unwrap();
    let out = tmp.path().join("out");
    let none = [a, "--all-sources", "--partition-by", "none"];
    for shard in ["1/2", "2/2"] {
        assert_eq!(
            convert(&[&none[..], &["--shard", shard]].concat(), &out).0,
            0
        );
    }
    // Another layout into the same output is refused before anything is written.
    let (code, err) = run(&[
        "convert",
        a,
        "--all-sources",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--partition-by none") && err.contains("--partition-by date"),
        "{err}"
    );
    assert_eq!(parquet_files(&out).len(), 2);
    assert!(!std::fs::read_dir(&out).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("event_date=")
    }));

    // An output written by an older version can hold two layouts: compacting it merges each
    // partition on its own and removes nothing else.
    let dated = tmp.path().join("dated");
    assert_eq!(convert(&[a, "--all-sources"], &dated).0, 0);
    let dated_rows = Table::read(&dated).len();
    copy_tree(&dated, &out, |rel| {
        rel.to_string_lossy().starts_with("event_date=")
    });
    std::fs::remove_file(out.join("_hsmtrail/layout.json")).unwrap();
    let (code, err) = run(&[
        "convert",
        a,
        "--all-sources",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("several layouts"), "{err}");
    let rows = Table::read(&out).len();
    let (code, err) = run(&["compact", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // Every row of both layouts is still there (each layout holds every event once).
    assert_eq!(rows, 2 * dated_rows);
    assert_eq!(Table::read(&out).len(), rows);
    assert_eq!(partition_dirs(&out).len(), partition_dirs(&dated).len() + 1);
    let top: Vec<_> = parquet_files(&out)
        .into_iter()
        .filter(|p| p.parent() == Some(out.as_path()))
        .collect();
    assert_eq!(top.len(), 1, "the two top-level files merged into one");
}

#[test]
fn a_wider_filter_converts_what_earlier_incremental_runs_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    crate::common::generate_archive(&archive, 12, 3);
    let a = archive.to_str().unwrap();
    let out = tmp.path().join("out");
    let (code, hsm) = convert(&[a, "--incremental"], &out);
    assert_eq!(code, 0);
    let hsm_kept = hsm["records"]["kept"].as_u64().unwrap();
    assert!(hsm_kept > 0);
    let files = hsm["files"]["total"].as_u64().unwrap();
    assert_eq!(convert(&[a, "--incremental"], &out).1["files"]["total"], 0);
    // Other sources, a later start, more days: each converts every file again.
    let (code, all) = convert(&[a, "--incremental", "--all-sources"], &out);
    assert_eq!(code, 0);
    assert_eq!(all["files"]["total"], files, "{all:#}");
    assert_eq!(all["records"]["duplicates"], hsm_kept);
    // Now everything is in: narrower filters have nothing to do.
    for narrower in [
        &["--source", "cloudhsm.amazonaws.com"][..],
        &["--since", "2024-03-02"],
        &["--account", "111122223333", "--region", "us-east-1"],
    ] {
        let (code, s) = convert(&[&[a, "--incremental"][..], narrower].concat(), &out);
        assert_eq!(code, 0);
        assert_eq!(s["files"]["total"], 0, "{narrower:?}: {s:#}");
    }
    let expected = clean_ids(&[a, "--all-sources"], &tmp.path().join("clean"));
    assert_eq!(Table::read(&out).event_ids(), expected);
}

#[test]
fn two_conversions_at_once_write_each_event_once() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    crate::common::generate_archive(&archive, 40, 4);
    let a = archive.to_str().unwrap();
    let out = tmp.path().join("out");
    let spawn = |shard: &str| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("hsmtrail"))
            .args(["convert", a, "--all-sources", "--quiet", "--jobs", "1"])
            .args(["--shard", shard, "--out"])
            .arg(&out)
            .spawn()
            .unwrap()
    };
    // A cron run and a manual one over the same archive, and a third over part of it.
    let runs = [spawn("1/1"), spawn("1/1"), spawn("1/2")];
    for mut run in runs {
        assert!(run.wait().unwrap().success());
    }
    let expected = clean_ids(&[a, "--all-sources"], &tmp.path().join("clean"));
    assert_eq!(Table::read(&out).event_ids(), expected);
}

#[test]
fn records_without_an_event_id_are_written_once_however_often_converted() {
    let tmp = tempfile::tempdir().unwrap();
    let record = |time: &str, id: Option<&str>, name: &str| {
        let id = id
            .map(|i| format!(r#","eventID":"{i}""#))
            .unwrap_or_default();
        format!(
            r#"{{"eventTime":"2024-03-01T{time}Z","eventSource":"cloudhsm.amazonaws.com","eventName":"{name}"{id}}}"#
        )
    };
    let lines = [
        record("01:00:00", None, "DescribeClusters"),
        record("01:00:00", None, "DescribeBackups"),
        record("02:00:00", None, "DescribeClusters"),
        // The same event again (delivered twice): one row.
        record("02:00:00", None, "DescribeClusters"),
        // An empty ID is no ID: these are two events, not repeats of one.
        record("03:00:00", Some(""), "CreateHsm"),
        record("03:00:00", Some(""), "DeleteHsm"),
    ];
    let input = tmp.path().join("old.jsonl");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let out = tmp.path().join("out");
    let (code, first) = convert(&[input.to_str().unwrap()], &out);
    assert_eq!(code, 0);
    assert_eq!(first["records"]["kept"], 5, "{first:#}");
    assert_eq!(first["records"]["duplicates"], 1);
    for _ in 0..2 {
        let (code, again) = convert(&[input.to_str().unwrap()], &out);
        assert_eq!(code, 0);
        assert_eq!(again["records"]["kept"], 0, "{again:#}");
        assert_eq!(again["records"]["duplicates"], 6);
    }
    let t = Table::read(&out);
    assert_eq!(t.len(), 5);
    assert_eq!(t.rows_where("event_id", "").len(), 2);
}

#[test]
fn a_parquet_file_that_is_not_ours_stops_the_run_before_it_writes() {
    use std::sync::Arc;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    assert_eq!(convert(&[&fixture("archive")], &out).0, 0);
    let dirs = partition_dirs(&out);
    let before = parquet_files(&out);
    // In the last partition, so a run writing partitions in order would have written others.
    let foreign = dirs.last().unwrap().join("other-tool.parquet");
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("event_id", arrow::datatypes::DataType::Int64, true),
    ]));
    let batch = arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(arrow::array::Int64Array::from(vec![1, 2]))],
    )
    .unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&foreign).unwrap(),
        schema,
        None,
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let corrupt = dirs[0].join("broken.parquet");
    for (bad, what) in [
        (&foreign, "event_id column is Int64"),
        (&corrupt, "not a readable Parquet file"),
    ] {
        if bad == &corrupt {
            std::fs::remove_file(&foreign).unwrap();
            std::fs::write(&corrupt, b"PAR1 not really").unwrap();
        }
        let (code, err) = run(&[
            "convert",
            &fixture("archive"),
            "--all-sources",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains(bad.to_str().unwrap()) && err.contains(what),
            "{err}"
        );
        let mut now = parquet_files(&out);
        now.retain(|p| p != bad);
        assert_eq!(now, before, "nothing written");
    }
}

#[test]
fn an_account_too_long_for_a_folder_name_keeps_its_record() {
    let tmp = tempfile::tempdir().unwrap();
    let account = "a/b".repeat(100);
    let input = tmp.path().join("long.json");
    std::fs::write(
        &input,
        format!(
            r#"{{"eventTime":"2024-03-01T01:00:00Z","eventID":"e1","eventSource":"cloudhsm.amazonaws.com","recipientAccountId":"{account}"}}"#
        ),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let args = [
        input.to_str().unwrap(),
        "--partition-by",
        "account,region,date",
    ];
    for (kept, duplicates) in [(1, 0), (0, 1)] {
        let (code, s) = convert(&args, &out);
        assert_eq!(code, 0, "{s:#}");
        assert_eq!(s["records"]["kept"], kept);
        assert_eq!(s["records"]["duplicates"], duplicates);
    }
    let t = Table::read(&out);
    assert_eq!(
        t.text(0, "recipient_account_id").as_deref(),
        Some(account.as_str())
    );
    let file = &parquet_files(&out)[0];
    let folder = file
        .strip_prefix(&out)
        .unwrap()
        .components()
        .next()
        .unwrap();
    let folder = folder.as_os_str().to_str().unwrap();
    assert!(
        folder.starts_with("account=a%2Fba%2Fb") && folder.len() <= 140,
        "{folder}"
    );
}

#[test]
fn spill_folders_go_on_sigterm_and_stale_ones_with_the_next_run() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    crate::common::generate_archive(&archive, 48, 2);
    let out = tmp.path().join("out");
    let leftovers = |out: &Path| -> Vec<PathBuf> {
        walkdir::WalkDir::new(out)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".hsmtrail-"))
            .map(|e| e.into_path())
            .collect()
    };
    let mut interrupted = false;
    for _ in 0..3 {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("hsmtrail"))
            .args([
                "convert",
                archive.to_str().unwrap(),
                "--all-sources",
                "--quiet",
            ])
            .args(["--memory-budget", "1", "--jobs", "1", "--out"])
            .arg(&out)
            .spawn()
            .unwrap();
        let started = Instant::now();
        let spilling = loop {
            let spill = std::fs::read_dir(&out).ok().is_some_and(|d| {
                d.filter_map(Result::ok).any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(".hsmtrail-spill-")
                })
            });
            if spill
                || child.try_wait().unwrap().is_some()
                || started.elapsed() > Duration::from_secs(120)
            {
                break spill;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        if !spilling {
            let _ = child.wait();
            continue;
        }
        let pid = child.id().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = child.wait().unwrap();
        if status.success() {
            continue; // finished before the signal arrived
        }
        interrupted = true;
        assert_eq!(
            status.code(),
            Some(143),
            "exits as a command killed by SIGTERM"
        );
        assert_eq!(leftovers(&out), Vec::<PathBuf>::new());
        break;
    }
    assert!(interrupted, "no run was interrupted while spilling");

    // A run killed outright leaves its folder and its rejected records' temporary file; the
    // next run removes them, but not the temporary file of a run still writing one.
    std::fs::create_dir_all(out.join("_rejected")).unwrap();
    std::fs::write(out.join("_rejected/.hsmtrail-killed.tmp"), "{}\n").unwrap();
    let live = std::fs::File::create(out.join("_rejected/.hsmtrail-live.tmp")).unwrap();
    live.lock().unwrap();
    let stale = out.join(".hsmtrail-spill-killed");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("0.arrow"), vec![0u8; 1024]).unwrap();
    std::fs::write(out.join(".hsmtrail-spill-killed.lock"), "").unwrap();
    let (code, _) = convert(&[&fixture("archive")], &out);
    assert_eq!(code, 0);
    assert_eq!(
        leftovers(&out),
        vec![out.join("_rejected/.hsmtrail-live.tmp")]
    );
    drop(live);
}

#[test]
fn a_full_disk_fails_the_run_cleanly_and_the_rerun_completes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    crate::common::generate_archive(&archive, 24, 2);
    let out = tmp.path().join("out");
    let command = format!(
        "ulimit -f 64 && exec {} convert {} --all-sources --incremental --quiet --output {}",
        assert_cmd::cargo::cargo_bin("hsmtrail").display(),
        archive.display(),
        out.display()
    );
    let full = std::process::Command::new("sh")
        .args(["-c", &command])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&full.stderr);
    assert_eq!(full.status.code(), Some(1), "{err}");
    assert!(
        err.contains("File too large") && err.contains(".parquet"),
        "{err}"
    );
    for file in parquet_files(&out) {
        crate::common::read_parquet(&file);
    }
    assert!(
        !out.join("_hsmtrail/inputs").exists(),
        "inputs recorded as converted"
    );
    let leftovers: Vec<_> = walkdir::WalkDir::new(&out)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".hsmtrail-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let (code, s) = convert(
        &[archive.to_str().unwrap(), "--all-sources", "--incremental"],
        &out,
    );
    assert_eq!(code, 0, "{s:#}");
    let expected = clean_ids(
        &[archive.to_str().unwrap(), "--all-sources"],
        &tmp.path().join("clean"),
    );
    assert_eq!(Table::read(&out).event_ids(), expected);
}

/// A copy of an hsmtrail file whose embedded Arrow schema (the footer's `ARROW:schema`
/// entry) is damaged so that decoding it panics in arrow-ipc, as a bit flip can: found by
/// trying one changed character at a time.
fn with_panicking_arrow_schema(file: &Path, to: &Path) {
    let bytes = std::fs::read(file).unwrap();
    let key = memchr_last(&bytes, b"ARROW:schema").expect("an embedded Arrow schema");
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut found = None;
    for at in key + 16..bytes.len().min(key + 20_000) {
        if !bytes[at].is_ascii_alphanumeric() {
            continue;
        }
        let mut damaged = bytes.clone();
        damaged[at] = if bytes[at] == b'x' { b'y' } else { b'x' };
        let panicked = std::panic::catch_unwind(|| {
            let _ = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                bytes::Bytes::from(damaged.clone()),
            );
        })
        .is_err();
        if panicked {
            found = Some(damaged);
            break;
        }
    }
    std::panic::set_hook(hook);
    std::fs::write(
        to,
        found.expect("a change that panics the Arrow schema decoder"),
    )
    .unwrap();
}

fn memchr_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[test]
fn foreign_and_damaged_files_never_panic_a_run_and_compaction_touches_only_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    assert_eq!(convert(&[&fixture("archive")], &out).0, 0);
    let dirs = partition_dirs(&out);
    let before = parquet_files(&out);
    // A folder of the user's with Parquet of its own, which compaction must not touch.
    let notes = out.join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    for name in ["a.parquet", "b.parquet"] {
        std::fs::copy(&before[0], notes.join(name)).unwrap();
    }
    let mine = std::fs::read(notes.join("a.parquet")).unwrap();
    // A damaged embedded Arrow schema (a hint beside the Parquet schema, which hsmtrail reads
    // without): no panic, and the rows, intact, are read as ever.
    let damaged = dirs[0].join("zz-damaged.parquet");
    with_panicking_arrow_schema(&before[0], &damaged);
    let (code, err) = run(&[
        "convert",
        &fixture("archive"),
        "--all-sources",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    // Queries plan through DataFusion, which decodes that schema: an error saying what to do,
    // not a crash.
    let (code, err) = run(&[
        "query",
        "SELECT count(*) FROM events",
        "--data",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("hsmtrail compact"), "{err}");
    // Compaction rewrites the file from its Parquet schema.
    let (code, err) = run(&["compact", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, err) = run(&[
        "query",
        "SELECT count(*) FROM events",
        "--data",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    // A Parquet file of another tool in a partition: compaction refuses it by name and changes
    // nothing, and so does --overwrite, which would otherwise remove it.
    let foreign = dirs[0].join("other-tool.parquet");
    std::fs::write(&foreign, b"PAR1 not really PAR1").unwrap();
    let files = parquet_files(&out);
    let (code, err) = run(&["compact", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("other-tool.parquet"), "{err}");
    assert_eq!(parquet_files(&out), files);
    let (code, err) = run(&[
        "convert",
        &fixture("archive"),
        "--overwrite",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("other-tool.parquet"), "{err}");
    assert_eq!(parquet_files(&out), files);
    std::fs::remove_file(&foreign).unwrap();
    assert!(notes.join("a.parquet").is_file() && notes.join("b.parquet").is_file());
    assert_eq!(
        std::fs::read(notes.join("a.parquet")).unwrap(),
        mine,
        "the user's files are untouched"
    );
}

#[test]
fn overwrite_replaces_only_the_outputs_own_files_and_forgets_their_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    copy_tree(Path::new(&fixture("archive")), &archive, |_| true);
    let out = tmp.path().join("out");
    let keep = out.join("other/exports");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::copy(
        crate::common::root().join("fixtures/formats/array.json"),
        keep.join("r.json"),
    )
    .unwrap();
    std::fs::create_dir_all(out.join("empty-of-mine")).unwrap();
    let a = archive.to_str().unwrap();
    assert_eq!(convert(&[a, "--incremental", "--all-sources"], &out).0, 0);
    let all = Table::read(&out).len();
    assert_eq!(convert(&[a, "--overwrite"], &out).0, 0);
    assert!(keep.join("r.json").is_file() && out.join("empty-of-mine").is_dir());
    let hsm_only = Table::read(&out).len();
    assert!(hsm_only < all);
    // The inputs are converted again: their other events come back.
    let (code, s) = convert(&[a, "--incremental", "--all-sources"], &out);
    assert_eq!(code, 0);
    assert_eq!(s["files"]["already_converted"], 0, "{s:#}");
    assert_eq!(Table::read(&out).len(), all);
}
