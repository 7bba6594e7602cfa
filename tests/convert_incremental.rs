//! Incremental runs, crash safety, de-duplication across runs and compaction, on local
//! directories (tests/s3.rs does the same against a loopback S3 server).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Table, convert, fixture, parquet_files};

fn copy_tree(from: &Path, to: &Path, keep: impl Fn(&Path) -> bool) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        if entry.file_type().is_file() && keep(rel) {
            let target = to.join(rel);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

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
    let org_file = common::largest_org_trail_fixture();
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
    common::generate_archive(&archive, 48, days);
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
            common::read_parquet(&file);
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
    common::generate_archive(&archive, 24, 2);
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
    let compact = common::hsmtrail()
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
                batch: common::read_parquet(&file),
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
    let rerun = common::hsmtrail()
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
