//! Bad input: every damaged file is named with its reason, the run goes on, good records are
//! kept, bad records land in `_rejected/`, and the counts add up.

use crate::common::{Table, convert, fixture};
use serde_json::Value;

fn problem<'a>(summary: &'a Value, file: &str) -> &'a str {
    summary["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["file"].as_str().unwrap().ends_with(file))
        .unwrap_or_else(|| panic!("no problem reported for {file}: {summary:#}"))["reason"]
        .as_str()
        .unwrap()
}

#[test]
fn damaged_files_are_reported_and_good_records_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (code, s) = convert(
        &[
            &fixture("damaged"),
            "--max-file-bytes",
            "10000000",
            "--keep-duplicates",
        ],
        &out,
    );
    assert_eq!(code, 1);
    assert!(problem(&s, "truncated.json.gz").contains("corrupt or truncated gzip"));
    assert!(problem(&s, "corrupt.json.gz").contains("gzip"));
    assert!(problem(&s, "invalid-json.json").contains("invalid JSON at line 1 column"));
    assert!(problem(&s, "invalid-json.json").contains("after 1 items"));
    assert!(problem(&s, "invalid-utf8.json").contains("invalid UTF-8 at byte offset"));
    assert!(problem(&s, "wrong-shape.json").contains("wrong shape"));
    assert!(problem(&s, "bomb.json.gz").contains("exceeds the limit of 10000000 bytes"));
    assert!(problem(&s, "unrecognised.json").contains("unrecognised JSON"));
    assert_eq!(problem(&s, "not-json.bin"), "skipped: not JSON");
    assert_eq!(s["files"]["failed"], 7);
    assert_eq!(s["files"]["skipped"]["not-json"], 1);

    let r = &s["records"];
    let n = |k: &str| r[k].as_u64().unwrap();
    assert_eq!(
        n("read"),
        n("kept") + n("filtered") + n("duplicates") + n("rejected")
    );
    assert_eq!(n("rejected"), 4);
    assert_eq!(n("duplicates"), 0);

    // Records before each point of damage were kept, with their source file.
    let t = Table::read(&out);
    let kept_from = |file: &str| {
        (0..t.len())
            .filter(|&r| t.text(r, "source_file").unwrap().ends_with(file))
            .count()
    };
    assert_eq!(kept_from("truncated.json.gz"), 2);
    assert_eq!(kept_from("invalid-json.json"), 1);
    assert_eq!(kept_from("invalid-utf8.json"), 1);
    assert_eq!(kept_from("deep-nesting.json"), 1);
    assert_eq!(kept_from("rejected-records.json"), 1);
    assert_eq!(t.len() as u64, n("kept"));

    // Rejected records: file, index, reason and the raw text, one JSON object a line.
    let path = s["output"]["rejected_file"].as_str().unwrap();
    assert!(path.ends_with(&format!(
        "_rejected/{}.jsonl",
        s["run_id"].as_str().unwrap()
    )));
    let lines: Vec<Value> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let find = |reason: &str| {
        lines
            .iter()
            .find(|l| l["reason"].as_str().unwrap().contains(reason))
            .unwrap_or_else(|| panic!("no rejection for {reason}: {lines:#?}"))
    };
    let not_object = find("not a JSON object");
    assert_eq!(not_object["index"], 1);
    assert_eq!(not_object["raw"], "\"not an object\"");
    assert!(
        not_object["file"]
            .as_str()
            .unwrap()
            .ends_with("rejected-records.json")
    );
    assert_eq!(find("no eventTime")["index"], 2);
    assert_eq!(find("'yesterday' is not a time")["index"], 3);
    let deep = find("nested deeper than 128 levels");
    assert!(
        deep["file"]
            .as_str()
            .unwrap()
            .ends_with("deep-nesting.json")
    );
    assert!(deep["raw"].as_str().unwrap().contains("[[[["));
}

#[test]
fn a_bomb_within_the_default_limit_is_just_a_big_file() {
    let dir = tempfile::tempdir().unwrap();
    let (code, s) = convert(&[&fixture("damaged/bomb.json.gz")], &dir.path().join("out"));
    assert_eq!(code, 0, "{s:#}");
    assert_eq!(s["records"]["read"], 0);
}

#[test]
fn a_named_non_json_file_fails_but_a_walked_one_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (code, s) = convert(&[&fixture("damaged/not-json.bin")], &dir.path().join("out"));
    assert_eq!(code, 1);
    assert_eq!(problem(&s, "not-json.bin"), "not JSON");
    assert_eq!(s["files"]["failed"], 1);
}

#[test]
fn missing_inputs_are_reported_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (code, s) = convert(
        &[
            &fixture("formats/bare-record.json"),
            "/nonexistent/file.json.gz",
        ],
        &dir.path().join("out"),
    );
    assert_eq!(code, 1);
    assert!(problem(&s, "/nonexistent/file.json.gz").contains("no such file"));
    assert_eq!(s["records"]["kept"], 1);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["convert", "x", "--out", "o", "--since", "last tuesday"],
        vec!["convert", "x", "--out", "o", "--partition-by", "year"],
        vec![
            "convert",
            "x",
            "--out",
            "o",
            "--since",
            "2024-02-01",
            "--until",
            "2024-01-01",
        ],
        vec!["convert", "x"],
        vec!["convert", "x", "--out", "o", "--jobs", "0"],
        // Each shard would remove the files of the others.
        vec![
            "convert",
            "x",
            "--out",
            "o",
            "--shard",
            "1/2",
            "--overwrite",
        ],
        vec![
            "convert",
            "x",
            "--out",
            "o",
            "--all-sources",
            "--source",
            "kms.amazonaws.com",
        ],
    ] {
        let out = crate::common::hsmtrail().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn nothing_to_convert_or_a_file_as_output_is_a_usage_error_that_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o1");
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "mine").unwrap();
    let pattern = format!("{}/*.nothing", dir.path().display());
    for (args, words) in [
        (
            vec![
                "convert",
                "fixtures/nosuch",
                "--output",
                out.to_str().unwrap(),
            ],
            vec!["nothing to convert", "fixtures/nosuch", "no such file"],
        ),
        (
            vec!["convert", &pattern, "--output", out.to_str().unwrap()],
            vec!["nothing to convert", "matches no file"],
        ),
        (
            vec![
                "convert",
                &fixture("formats"),
                "--out",
                file.to_str().unwrap(),
            ],
            vec!["notes.txt is a file", "must be a folder"],
        ),
    ] {
        let run = crate::common::hsmtrail().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {err}");
        for w in words {
            assert!(err.contains(w), "'{w}' not in {err}");
        }
        assert!(
            !err.contains("problems"),
            "no summary for a run that never started: {err}"
        );
        assert!(!out.exists(), "{args:?} created the output");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
}
