//! Every file of `../shared/realdata` (real CloudTrail files from public projects): no crash, the
//! three public CloudHSM events found, damaged and unknown files named, and with
//! `--all-sources` the per-source counts and every record's content equal to an independent
//! reading of the same files.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{Table, convert, has_event_time, independent_records, realdata};
use serde_json::Value;

fn problems(summary: &Value) -> BTreeMap<String, String> {
    summary["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["file"].as_str().unwrap().to_owned(),
                p["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn reason_for<'a>(problems: &'a BTreeMap<String, String>, suffix: &str) -> &'a str {
    problems
        .iter()
        .find(|(f, _)| f.ends_with(suffix))
        .map(|(_, r)| r.as_str())
        .unwrap_or_else(|| panic!("{suffix} not reported"))
}

#[test]
fn cloudhsm_events_found_and_bad_files_named() {
    let data = realdata();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (code, s) = convert(&[data.to_str().unwrap()], &out);
    assert_eq!(code, 1, "damaged files make the run exit 1");
    let t = Table::read(&out);
    let found = |cloudhsm: bool| -> BTreeSet<(String, String)> {
        (0..t.len())
            .filter(|&r| t.text(r, "cloudhsm_relation").is_none() == cloudhsm)
            .map(|r| {
                (
                    t.text(r, "event_name").unwrap(),
                    t.text(r, "aws_region").unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        found(true),
        [
            ("CreateCluster", "us-east-1"),
            ("CreateHsm", "us-west-2"),
            ("ListLunaClients", "us-east-1")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .into()
    );
    // Real trails' tampering with trails and a KMS key store connection, kept by default for
    // what they do to CloudHSM's record and keys (some real files scramble region names).
    let related = found(false);
    for expected in [
        ("ConnectCustomKeyStore", "us-east-1"),
        ("StopLogging", "us-west-2"),
        ("DeleteTrail", "us-east-1"),
        ("UpdateTrail", "us-east-1"),
        ("StartLogging", "us-east-1"),
    ] {
        assert!(
            related.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} not in {related:?}"
        );
    }
    assert!(related.iter().all(|(name, _)| {
        name.contains("CustomKeyStore")
            || [
                "StopLogging",
                "StartLogging",
                "DeleteTrail",
                "UpdateTrail",
                "PutEventSelectors",
            ]
            .contains(&name.as_str())
    }));
    let r = t.rows_where("event_name", "ListLunaClients")[0];
    assert_eq!(
        t.text(r, "error_code").as_deref(),
        Some("CloudHsmServiceException")
    );
    let r = t.rows_where("event_name", "CreateCluster")[0];
    assert_eq!(
        t.text(r, "cluster_id").as_deref(),
        Some("cluster-dqf7m6ithhc")
    );
    assert_eq!(
        t.list(r, "request_subnet_ids").unwrap(),
        ["subnet-07c118e47bb84cee7"]
    );
    assert_eq!(t.bool(r, "session_credential_from_console"), Some(true));

    let p = problems(&s);
    for damaged in [
        "zmallen-cloudtrail2sightings/aws.execution.ec2-user-data.json",
        "cloudgrep/bad_cloudtrail.json",
        "aws-cloudtrail-processing-library/SerializerTestFileBadJsonFormat.json",
        "cloudtrail-log-file-examples__07.nonstrict.json",
    ] {
        assert!(
            reason_for(&p, damaged).starts_with("invalid JSON at line"),
            "{damaged}"
        );
    }
    for unknown in [
        "criblpacks-cribl-aws-cloudtrail-logs/zyNWSr.json",
        "airbnb-streamalert/rules/community/cloudtrail/cloudtrail_aws_config.json",
        "aws-cloudtrail-processing-library/SQSMessageBody",
    ] {
        assert!(
            reason_for(&p, unknown).starts_with("unrecognised JSON"),
            "{unknown}"
        );
    }
    assert!(reason_for(&p, "stats.py").contains("not JSON"));
    assert_eq!(s["files"]["skipped"]["digest"], 1);
}

#[test]
fn all_sources_match_an_independent_reading() {
    let data = realdata();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (_, s) = convert(
        &[data.to_str().unwrap(), "--all-sources", "--keep-duplicates"],
        &out,
    );
    let failed: BTreeSet<String> = s["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["file"].as_str().unwrap().to_owned())
        .collect();

    // The independent reading, over the files hsmtrail read completely.
    let mut expected_sources: BTreeMap<String, usize> = BTreeMap::new();
    let mut expected_records = Vec::new();
    let mut files_read = 0;
    for entry in walkdir::WalkDir::new(&data).sort_by_file_name() {
        let entry = entry.unwrap();
        let name = entry.path().display().to_string();
        if !entry.file_type().is_file() || failed.contains(&name) {
            continue;
        }
        let Some(records) = independent_records(entry.path()) else {
            continue;
        };
        files_read += 1;
        for record in records.into_iter().filter(has_event_time) {
            let source = record
                .get("eventSource")
                .and_then(Value::as_str)
                .unwrap_or("<null>")
                .to_owned();
            *expected_sources.entry(source).or_default() += 1;
            expected_records.push(record.to_string());
        }
    }
    assert!(files_read > 1000, "only {files_read} files read");

    let t = Table::read(&out);
    let rows: Vec<usize> = (0..t.len())
        .filter(|&r| !failed.contains(&t.text(r, "source_file").unwrap()))
        .collect();
    let mut actual_sources: BTreeMap<String, usize> = BTreeMap::new();
    for &r in &rows {
        *actual_sources
            .entry(t.text(r, "event_source").unwrap_or_else(|| "<null>".into()))
            .or_default() += 1;
    }
    assert_eq!(actual_sources, expected_sources);
    assert!(actual_sources.len() > 100);

    // Lossless: each record rebuilt from its row equals the input record.
    let mut rebuilt: Vec<String> = rows
        .iter()
        .map(|&r| hsmtrail::rebuild::rebuild(&t.batch, r).unwrap().to_string())
        .collect();
    rebuilt.sort();
    expected_records.sort();
    assert_eq!(rebuilt.len(), expected_records.len());
    for (a, b) in rebuilt.iter().zip(&expected_records) {
        assert_eq!(a, b);
    }
}
