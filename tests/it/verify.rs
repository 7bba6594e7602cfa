//! `hsmtrail verify` over a signed archive written by `tests/make_digests.py` (signed with
//! Python's `cryptography`, as CloudTrail signs): the untouched archive is proven, and each
//! kind of damage is found and named.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::{hsmtrail, root};

/// The generated archive (never changed: each case works on a copy).
fn generated() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("python3")
            .arg(root().join("tests/make_digests.py"))
            .arg(dir.path())
            .output()
            .expect("python3 runs (with `cryptography`, which .ci/run installs with moto)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

/// A copy of the generated archive to damage.
fn copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for entry in walkdir::WalkDir::new(generated()) {
        let entry = entry.unwrap();
        let to = dir
            .path()
            .join(entry.path().strip_prefix(generated()).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    let bucket = dir.path().join("trail-bucket");
    (dir, bucket)
}

fn verify(bucket: &Path, extra: &[&str]) -> (i32, Vec<Value>, Output) {
    let root = bucket.parent().unwrap();
    let out = hsmtrail()
        .arg("verify")
        .arg(bucket)
        .arg("--public-keys")
        .arg(root.join("keys.json"))
        .arg("--signatures")
        .arg(root.join("signatures.json"))
        .args(["--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out.status.code().unwrap(), lines, out)
}

/// `kind status` of every item whose key ends with `suffix`.
fn status_of(lines: &[Value], kind: &str, key_suffix: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l["kind"] == kind && l["key"].as_str().unwrap_or("").ends_with(key_suffix))
        .map(|l| l["status"].as_str().unwrap().to_owned())
        .collect()
}

fn problems(lines: &[Value]) -> Vec<(String, String, String)> {
    lines
        .iter()
        .filter(|l| !["valid", "restart", "ends-early"].contains(&l["status"].as_str().unwrap()))
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["status"].as_str().unwrap().to_owned(),
                l["key"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn files(bucket: &Path, part: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = walkdir::WalkDir::new(bucket)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().to_string_lossy().contains(part))
        .map(|e| e.into_path())
        .collect();
    found.sort();
    found
}

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text).unwrap();
    e.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

const WEST_LOGS: &str = "CloudTrail/us-west-2/";
const EAST_DIGESTS: &str = "CloudTrail-Digest/us-east-1/";

#[test]
fn an_untouched_archive_is_proven_with_its_chains_regions_org_trail_and_backfill() {
    let (_dir, bucket) = copy();
    let (code, lines, out) = verify(&bucket, &[]);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(problems(&lines).is_empty(), "{:?}", problems(&lines));
    // Three chains (two regions of an account trail, an org trail's member) and a backfill.
    assert_eq!(lines.iter().filter(|l| l["kind"] == "digest").count(), 13);
    assert_eq!(lines.iter().filter(|l| l["kind"] == "log").count(), 25);
    assert_eq!(status_of(&lines, "digest", "_backfill.json.gz"), ["valid"]);
    assert!(
        lines
            .iter()
            .any(|l| l["key"].as_str().unwrap_or("").contains("o-a1b2c3d4e5"))
    );
    // The us-east-1 chain restarts after an hour with logging off: reported, not a failure.
    let restarts: Vec<&Value> = lines.iter().filter(|l| l["status"] == "restart").collect();
    assert_eq!(restarts.len(), 1);
    assert!(
        restarts[0]["reason"]
            .as_str()
            .unwrap()
            .contains("us-east-1")
    );
}

#[test]
fn without_saved_signatures_the_newest_digest_of_each_chain_is_unproven() {
    let (_dir, bucket) = copy();
    let out = hsmtrail()
        .arg("verify")
        .arg(&bucket)
        .arg("--public-keys")
        .arg(bucket.parent().unwrap().join("keys.json"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let unproven: Vec<&Value> = lines
        .iter()
        .filter(|l| l["kind"] == "digest" && l["status"] == "unproven")
        .collect();
    // The newest of each of the four chains (us-east-1 before and after its restart, us-west-2,
    // the org trail) and the backfill digest; every other digest is proven by its successor.
    assert_eq!(unproven.len(), 5, "{unproven:?}");
    assert!(
        lines
            .iter()
            .filter(|l| l["kind"] == "digest" && l["status"] == "valid")
            .count()
            == 8
    );
    // Without keys nothing is proven, and the message says how to get them.
    let out = hsmtrail().arg("verify").arg(&bucket).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("list-public-keys"));
}

#[test]
fn edited_deleted_moved_extra_and_damaged_logs_are_named() {
    let (_dir, bucket) = copy();
    let logs = files(&bucket, WEST_LOGS);
    // Edited: one record changed, gzipped again.
    let edited = gunzip(&std::fs::read(&logs[0]).unwrap());
    let edited = String::from_utf8(edited)
        .unwrap()
        .replace("DescribeClusters", "DeleteCluster");
    std::fs::write(&logs[0], gzip(edited.as_bytes())).unwrap();
    // Deleted.
    std::fs::remove_file(&logs[1]).unwrap();
    // Moved to another key.
    let moved_to = logs[2].with_file_name(
        "111122223333_CloudTrail_us-west-2_20240301T0259Z_movedhereabcdefg.json.gz",
    );
    std::fs::rename(&logs[2], &moved_to).unwrap();
    // Truncated.
    let bytes = std::fs::read(&logs[3]).unwrap();
    std::fs::write(&logs[3], &bytes[..bytes.len() / 2]).unwrap();
    // Data appended after the gzip member.
    let mut appended = std::fs::read(&logs[4]).unwrap();
    appended.extend(gzip(br#"{"Records":[{"eventName":"Hidden"}]}"#));
    std::fs::write(&logs[4], appended).unwrap();
    // An extra log no digest lists.
    let extra = logs[5].with_file_name(
        "111122223333_CloudTrail_us-west-2_20240301T0145Z_extraextraextrae.json.gz",
    );
    std::fs::write(&extra, gzip(br#"{"Records":[]}"#)).unwrap();

    let (code, lines, _) = verify(&bucket, &[]);
    assert_eq!(code, 1);
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(status_of(&lines, "log", &name(&logs[0])), ["modified"]);
    assert_eq!(status_of(&lines, "log", &name(&logs[1])), ["missing"]);
    assert_eq!(status_of(&lines, "log", &name(&logs[2])), ["moved"]);
    assert_eq!(status_of(&lines, "log", &name(&logs[3])), ["unreadable"]);
    assert_eq!(status_of(&lines, "log", &name(&logs[4])), ["unreadable"]);
    let appended_reason = lines
        .iter()
        .find(|l| l["key"].as_str().unwrap_or("").ends_with(&name(&logs[4])))
        .unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        appended_reason.contains("unexpected data"),
        "{appended_reason}"
    );
    assert_eq!(status_of(&lines, "log", &name(&extra)), ["unlisted"]);
    // The moved log is reported once, as moved, not again as unlisted.
    assert!(status_of(&lines, "log", &name(&moved_to)).is_empty());
    // The digests themselves are untouched and proven.
    assert!(
        lines
            .iter()
            .filter(|l| l["kind"] == "digest")
            .all(|l| l["status"] == "valid")
    );
}

#[test]
fn deleted_edited_and_foreign_digests_are_named() {
    let (_dir, bucket) = copy();
    let digests: Vec<PathBuf> = files(&bucket, EAST_DIGESTS)
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("backfill"))
        .collect();
    // Deleted: the second digest of the first chain (the third names it).
    std::fs::remove_file(&digests[1]).unwrap();
    // Edited after signing: the last digest lists one log file fewer.
    let last = digests.last().unwrap();
    let mut json: Value = serde_json::from_slice(&gunzip(&std::fs::read(last).unwrap())).unwrap();
    json["logFiles"].as_array_mut().unwrap().pop();
    std::fs::write(last, gzip(json.to_string().as_bytes())).unwrap();
    // Not readable as a digest.
    std::fs::write(&digests[3], b"not gzip").unwrap();

    let (code, lines, _) = verify(&bucket, &[]);
    assert_eq!(code, 1);
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(status_of(&lines, "digest", &name(&digests[1])), ["missing"]);
    assert_eq!(status_of(&lines, "digest", &name(last)), ["invalid"]);
    assert_eq!(
        status_of(&lines, "digest", &name(&digests[3])),
        ["unreadable"]
    );
    // The log the edited digest no longer lists is named as unlisted.
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "log" && l["status"] == "unlisted"),
        "{:?}",
        problems(&lines)
    );

    // A key set that does not hold the signing key: every checked digest names its key.
    let (_dir, bucket) = copy();
    let root = bucket.parent().unwrap();
    let out = hsmtrail()
        .arg("verify")
        .arg(&bucket)
        .arg("--public-keys")
        .arg(root.join("other-keys.json"))
        .arg("--signatures")
        .arg(root.join("signatures.json"))
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("unknown-key") && text.contains("not among --public-keys"));

    // A digest moved to another key says where CloudTrail put it.
    let (_dir, bucket) = copy();
    let digests = files(&bucket, "CloudTrail-Digest/us-west-2/");
    let moved = digests[0].with_file_name(name(&digests[0]).replace("T010000Z", "T010500Z"));
    std::fs::rename(&digests[0], &moved).unwrap();
    let (code, lines, _) = verify(&bucket, &[]);
    assert_eq!(code, 1);
    assert_eq!(status_of(&lines, "digest", &name(&moved)), ["moved"]);
}

#[test]
fn the_window_accounts_and_regions_choose_the_digests() {
    let (_dir, bucket) = copy();
    let (code, lines, _) = verify(&bucket, &["--region", "us-west-2"]);
    assert_eq!(code, 0);
    assert_eq!(lines.iter().filter(|l| l["kind"] == "digest").count(), 4);
    let (_, lines, _) = verify(&bucket, &["--account", "444455556666"]);
    assert_eq!(lines.iter().filter(|l| l["kind"] == "digest").count(), 3);
    let (_, lines, _) = verify(&bucket, &["--since", "2025-01-01"]);
    assert!(lines.is_empty());
    let out = hsmtrail()
        .args(["verify", "/nonexistent/bucket"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/bucket"));
    // The digest at the window's end is proven by its successor outside the window, and no
    // log is called unlisted for being delivered in a digest after it.
    let (code, lines, _) = verify(&bucket, &["--until", "2024-03-01T02:00:00Z"]);
    assert_eq!(code, 0, "{:?}", problems(&lines));
}

#[test]
fn copies_given_twice_odd_folders_planted_files_and_deleted_newest_digests() {
    // The same bucket twice, and under a folder itself named AWSLogs: one verdict each.
    let (dir, bucket) = copy();
    let nested = dir.path().join("AWSLogs").join("trail-bucket");
    std::fs::create_dir_all(nested.parent().unwrap()).unwrap();
    std::fs::rename(&bucket, &nested).unwrap();
    let root = dir.path();
    let run = |inputs: &[&Path]| {
        let out = hsmtrail()
            .arg("verify")
            .args(inputs)
            .arg("--public-keys")
            .arg(root.join("keys.json"))
            .arg("--signatures")
            .arg(root.join("signatures.json"))
            .args(["--format", "json"])
            .output()
            .unwrap();
        let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (out.status.code().unwrap(), lines)
    };
    let (code, lines) = run(&[&nested, &nested]);
    assert_eq!(code, 0, "{:?}", problems(&lines));
    assert_eq!(lines.iter().filter(|l| l["kind"] == "digest").count(), 13);
    // A forged copy of a log under another folder of the copy: the copies differ.
    let logs = files(&nested, WEST_LOGS);
    let key = logs[0].to_string_lossy();
    let key = &key[key.rfind("AWSLogs/").unwrap()..];
    let shadow = nested.join("aaa").join(key);
    std::fs::create_dir_all(shadow.parent().unwrap()).unwrap();
    std::fs::write(
        &shadow,
        gzip(br#"{"Records":[{"eventName":"DeleteCluster"}]}"#),
    )
    .unwrap();
    // A planted file no digest lists, not even named like a log.
    let planted = logs[0].with_file_name("evil.json");
    std::fs::write(&planted, br#"{"Records":[]}"#).unwrap();
    // A dangling link: named, and the rest still checked.
    #[cfg(unix)]
    std::os::unix::fs::symlink("/nonexistent", nested.join("dangling")).unwrap();
    let (code, lines) = run(&[&nested]);
    assert_eq!(code, 1);
    let name = logs[0].file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(status_of(&lines, "log", &name), ["modified"]);
    assert_eq!(status_of(&lines, "log", "evil.json"), ["unlisted"]);
    #[cfg(unix)]
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "file" && l["key"].as_str().unwrap().ends_with("dangling"))
    );

    // The newest digest of a chain and its logs deleted: its saved signature names it.
    let (_dir, bucket) = copy();
    let west = files(&bucket, "CloudTrail-Digest/us-west-2/");
    let newest = west.last().unwrap();
    std::fs::remove_file(newest).unwrap();
    let (code, lines, _) = verify(&bucket, &[]);
    assert_eq!(code, 1);
    let name = newest.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(status_of(&lines, "digest", &name), ["missing"]);
}

#[test]
fn convert_verify_records_which_inputs_a_proven_digest_covers() {
    let (dir, bucket) = copy();
    let root = bucket.parent().unwrap();
    // One log edited after delivery: its events are converted, but not proven.
    let edited = files(&bucket, WEST_LOGS)[0].clone();
    let text = String::from_utf8(gunzip(&std::fs::read(&edited).unwrap()))
        .unwrap()
        .replace("DescribeClusters", "DescribeBackups");
    std::fs::write(&edited, gzip(text.as_bytes())).unwrap();
    let out = dir.path().join("out");
    let run = hsmtrail()
        .arg("convert")
        .arg(&bucket)
        .arg("--verify")
        .arg("--public-keys")
        .arg(root.join("keys.json"))
        .arg("--signatures")
        .arg(root.join("signatures.json"))
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("--verify: 24 of 25 log files"));
    let report = hsmtrail()
        .args(["report", "integrity", "--format", "json", "--data"])
        .arg(&out)
        .output()
        .unwrap();
    let rows: Vec<Value> = String::from_utf8_lossy(&report.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The edited input first, not proven; every other input proven.
    let name = edited.file_name().unwrap().to_string_lossy().into_owned();
    assert!(rows[0]["source_file"].as_str().unwrap().ends_with(&name));
    assert_eq!(rows[0]["integrity"], "NOT proven");
    assert!(rows[1..].iter().all(|r| r["integrity"] == "proven"));
    // Converted without --verify, the column is null and the report says so.
    let plain = dir.path().join("plain");
    hsmtrail()
        .arg("convert")
        .arg(&bucket)
        .args(["--quiet", "--output"])
        .arg(&plain)
        .assert()
        .success();
    let report = hsmtrail()
        .args(["report", "integrity", "--format", "csv", "--data"])
        .arg(&plain)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        text.lines().skip(1).all(|l| l.contains("not checked")),
        "{text}"
    );
}
