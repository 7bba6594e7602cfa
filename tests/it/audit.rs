//! CloudHSM audit logs: every delivery form converts into the `hsm_audit` table with what
//! `fixtures/make_hsm_audit.py` computed from the files it wrote (`fixtures/hsm-audit.expected.json`),
//! each entry once however often it was delivered and however often the conversion runs; bad
//! entries are rejected with their reason and never take their neighbours down.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::common::{convert, fixture, hsmtrail, query_json, realdata, root};

fn expected() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/hsm-audit.expected.json")).unwrap(),
    )
    .unwrap()
}

/// Rows of `sql` over the output at `data`, as JSON objects.
fn query(data: &Path, sql: &str) -> Vec<Value> {
    String::from_utf8(query_json(data, sql))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `key -> count` from a query giving `k` and `n`.
fn counts(data: &Path, sql: &str) -> BTreeMap<String, u64> {
    query(data, sql)
        .into_iter()
        .map(|r| {
            let key = match &r["k"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (key, r["n"].as_u64().unwrap())
        })
        .collect()
}

fn as_counts(value: &Value) -> BTreeMap<String, u64> {
    value
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

#[test]
fn every_delivery_form_converts_into_the_expected_table_each_entry_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let want = expected();
    let (code, summary) = convert(&[&fixture("hsm-audit"), "--jobs", "2"], &out);
    assert_eq!(code, 0, "{summary}");
    let records = &summary["records"];
    assert_eq!(records["read"], want["copies_read"]);
    assert_eq!(records["kept"], want["entries"]);
    assert_eq!(records["audit_entries"], want["entries"]);
    assert_eq!(records["duplicates"], want["duplicates_dropped"]);
    assert_eq!(records["rejected"], 0);
    // The export's write test is an expected file, not a problem worth a warning.
    assert_eq!(summary["files"]["skipped"]["export-write-test"], 1);
    for form in [
        "cloudwatch-logs",
        "log-events",
        "log-export",
        "audit-text",
        "json-lines",
    ] {
        assert!(
            summary["formats"][form].as_u64() > Some(0),
            "{form}: {summary}"
        );
    }
    assert!(out.join("hsm_audit/event_date=2024-03-01").is_dir());
    assert!(
        crate::common::parquet_files(&out).is_empty(),
        "no CloudTrail files"
    );

    let per_hsm = counts(
        &out,
        "SELECT hsm_id AS k, count(*) AS n FROM hsm_audit WHERE hsm_id IS NOT NULL GROUP BY hsm_id",
    );
    assert_eq!(per_hsm, as_counts(&want["per_hsm_id"]));
    let per_date = counts(
        &out,
        "SELECT CAST(event_date AS VARCHAR) AS k, count(*) AS n FROM hsm_audit GROUP BY event_date",
    );
    assert_eq!(per_date, as_counts(&want["entries_per_event_date"]));
    let opcodes = counts(
        &out,
        "SELECT opcode AS k, count(*) AS n FROM hsm_audit WHERE entry_format = 'hsm' GROUP BY opcode",
    );
    assert_eq!(opcodes, as_counts(&want["opcodes"]));
    let certificates = counts(
        &out,
        "SELECT opcode || '/' || response_text AS k, count(*) AS n FROM hsm_audit \
         WHERE entry_format = 'certificate-storage' GROUP BY 1",
    );
    assert_eq!(
        certificates,
        as_counts(&want["certificate_storage_op_codes"])
    );
    let failed: Vec<(Option<String>, String, u64)> = query(
        &out,
        "SELECT hsm_id, user_name, count(*) AS n FROM hsm_audit \
         WHERE opcode = 'CN_LOGIN' AND NOT success GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2",
    )
    .into_iter()
    .map(|r| {
        (
            r["hsm_id"].as_str().map(str::to_owned),
            r["user_name"].as_str().unwrap().to_owned(),
            r["n"].as_u64().unwrap(),
        )
    })
    .collect();
    let mut want_failed: Vec<(Option<String>, String, u64)> = want["failed_logins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["hsm_id"].as_str().map(str::to_owned),
                f["user"].as_str().unwrap().to_owned(),
                f["count"].as_u64().unwrap(),
            )
        })
        .collect();
    want_failed.sort();
    assert_eq!(failed, want_failed);

    // Typed fields, from the reference's own example shapes.
    let rows = query(
        &out,
        "SELECT * FROM hsm_audit WHERE hsm_id = 'hsm-aaa2bbb3ccc' AND opcode = 'CN_GENERATE_KEY_PAIR' \
         AND success ORDER BY event_time LIMIT 1",
    );
    let key_pair = &rows[0];
    assert_eq!(key_pair["opcode_code"], 0x19);
    assert_eq!(key_pair["log_type"], "MGMT_KEY_DETAILS_LOG");
    assert_eq!(key_pair["log_type_code"], 1);
    assert_eq!(key_pair["command_type"], "CN_MGMT_CMD");
    assert!(key_pair["priv_secret_key_handle"].as_i64() > Some(0));
    assert!(key_pair["sequence_number"].is_i64() && key_pair["reboot_counter"].is_i64());
    assert!(key_pair["message"].as_str().unwrap().starts_with("Time: "));
    // A subscription names the log group, so the cluster and account; of two copies of an
    // entry the one that does is kept.
    let delivered = query(
        &out,
        "SELECT count(*) AS n, count(cluster_id) AS clusters, count(account_id) AS accounts \
         FROM hsm_audit WHERE log_group IS NOT NULL",
    );
    assert_eq!(delivered[0]["n"], delivered[0]["clusters"]);
    assert_eq!(delivered[0]["n"], delivered[0]["accounts"]);
    assert!(delivered[0]["n"].as_u64() >= want["copies_per_form"]["subscription"].as_u64());
    // A handle above 2^53 keeps every digit.
    let big = query(
        &out,
        "SELECT CAST(object_handle AS VARCHAR) AS h FROM hsm_audit \
         WHERE opcode = 'CreateObject' AND success",
    );
    assert_eq!(big[0]["h"], "2305843009213693953");
    // Unknown keys are kept in `fields`; every note is about something really there.
    let odd = query(
        &out,
        "SELECT fields FROM hsm_audit WHERE fields LIKE '%Frobnication Level%'",
    );
    assert_eq!(odd.len(), 1);
    let notes = query(
        &out,
        "SELECT count(*) AS n FROM hsm_audit WHERE array_length(parse_notes) > 0",
    );
    assert_eq!(notes[0]["n"], 0, "the fixtures hold no unreadable value");

    // Again, and again with one worker and the inputs in another order: nothing is added.
    for args in [
        vec![fixture("hsm-audit")],
        vec![
            fixture("hsm-audit/subscription"),
            fixture("hsm-audit/export"),
            fixture("hsm-audit/cli"),
            fixture("hsm-audit/bare"),
            "--jobs".into(),
            "1".into(),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, summary) = convert(&args, &out);
        assert_eq!(code, 0);
        assert_eq!(summary["records"]["kept"], 0, "{summary}");
        // Every copy read is one already written (or repeated within this run).
        assert_eq!(
            summary["records"]["duplicates"], want["copies_read"],
            "{summary}"
        );
    }
    let total = query(
        &out,
        "SELECT count(*) AS n, count(DISTINCT entry_id) AS d FROM hsm_audit",
    );
    assert_eq!(total[0]["n"], want["entries"]);
    assert_eq!(total[0]["d"], want["entries"]);
}

#[test]
fn which_copy_of_an_entry_is_kept_does_not_depend_on_the_workers() {
    let dir = tempfile::tempdir().unwrap();
    let sql = "SELECT entry_id, source_file FROM hsm_audit ORDER BY entry_id";
    let mut answers = Vec::new();
    for (n, jobs) in ["1", "2", "2"].iter().enumerate() {
        let out = dir.path().join(format!("out{n}"));
        let (code, _) = convert(&[&fixture("hsm-audit"), "--jobs", jobs], &out);
        assert_eq!(code, 0);
        answers.push(query(&out, sql));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0], answers[2]);
}

#[test]
fn bad_entries_are_rejected_with_their_reason_and_their_neighbours_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (code, summary) = convert(&[&fixture("hsm-audit-damaged")], &out);
    assert_eq!(code, 1, "the truncated gzip member is an error: {summary}");
    assert_eq!(summary["records"]["kept"], 7, "{summary}");
    assert_eq!(summary["records"]["rejected"], 2);
    let problems = summary["problems"].as_array().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["file"].as_str().unwrap().contains("subscription")
                && p["reason"].as_str().unwrap().contains("gzip")),
        "{problems:?}"
    );
    let rejected = std::fs::read_dir(out.join("_rejected"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    let lines: Vec<Value> = rejected
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let reasons: Vec<&str> = lines
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("does not start with a `Time:` line"))
    );
    assert!(reasons.iter().any(|r| r.contains("holds no readable time")));
    for line in &lines {
        assert!(line["file"].as_str().unwrap().contains("damaged"));
        assert!(!line["raw"].as_str().unwrap().is_empty());
    }
}

#[test]
fn the_aws_guides_examples_convert_as_entries_of_unknown_streams() {
    let examples = realdata().join(
        "cloudhsm-audit/awsdocs-aws-cloudhsm-user-guide/interpreting-audit-logs__examples.txt",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (code, summary) = convert(&[examples.to_str().unwrap()], &out);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["formats"]["audit-text"], 1);
    // 32 examples, two of them shown twice word for word: the same entry, kept once. Two
    // others share counter and sequence but not their text: both kept.
    assert_eq!(summary["records"]["kept"], 30, "{summary}");
    assert_eq!(summary["records"]["duplicates"], 2, "{summary}");
    let rows = query(
        &out,
        "SELECT count(*) AS n, count(hsm_id) AS hsms, sum(CASE WHEN success THEN 0 ELSE 1 END) AS failed, \
         count(DISTINCT opcode) AS opcodes FROM hsm_audit",
    );
    assert_eq!(rows[0]["n"], 30);
    assert_eq!(rows[0]["hsms"], 0);
    assert_eq!(rows[0]["failed"], 2);
    assert_eq!(rows[0]["opcodes"], 19);
}

#[test]
fn audit_logs_and_cloudtrail_convert_together_with_table_definitions_for_both() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (code, summary) = convert(
        &[
            &fixture("archive"),
            &fixture("hsm-audit"),
            "--write-ddl",
            "--partition-by",
            "account,date",
        ],
        &out,
    );
    assert_eq!(code, 0, "{summary}");
    let want = expected();
    assert_eq!(summary["records"]["audit_entries"], want["entries"]);
    let events = crate::common::Table::read(&out);
    assert!(events.len() > 10);
    // Converting into the output it reads, the audit table's folder is the output's own, not
    // input.
    let again = hsmtrail()
        .arg("convert")
        .arg(&out)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!stderr.contains("hsm_audit"), "{stderr}");

    let ddl = std::fs::read_to_string(out.join("_hsmtrail/duckdb.sql")).unwrap();
    let script = format!(
        "import duckdb\ncon = duckdb.connect()\ncon.execute({ddl:?})\n\
         print(con.execute('SELECT count(*) FROM events').fetchone()[0], \
         con.execute('SELECT count(*) FROM hsm_audit').fetchone()[0], \
         con.execute(\"SELECT count(*) FROM hsm_audit WHERE event_date = DATE '2024-03-02'\").fetchone()[0])\n"
    );
    let py = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert_eq!(
        String::from_utf8(py.stdout).unwrap().trim(),
        format!(
            "{} {} {}",
            events.len(),
            want["entries"],
            want["entries_per_event_date"]["2024-03-02"]
        )
    );
    for file in ["spark.sql", "athena.sql"] {
        let text = std::fs::read_to_string(out.join("_hsmtrail").join(file)).unwrap();
        assert!(
            text.contains("`hsm_audit`") && text.contains("`events`"),
            "{file}"
        );
    }

    // --overwrite replaces both tables' files.
    let (code, summary) = convert(
        &[
            &fixture("hsm-audit"),
            "--overwrite",
            "--partition-by",
            "account,date",
        ],
        &out,
    );
    assert_eq!(code, 0);
    assert!(
        summary["output"]["replaced_files"].as_u64() > Some(2),
        "{summary}"
    );
    assert_eq!(crate::common::Table::read(&out).len(), 0);
    let total = query(&out, "SELECT count(*) AS n FROM hsm_audit");
    assert_eq!(total[0]["n"], want["entries"]);
}

#[test]
fn schema_lists_the_audit_table_and_an_unpartitioned_output_refuses_its_entries() {
    let out = hsmtrail()
        .args(["schema", "--table", "hsm_audit"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for c in hsmtrail::audit::columns::COLUMNS {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(c.name) && l.contains(c.description)),
            "{} missing",
            c.name
        );
    }
    let athena = hsmtrail()
        .args([
            "schema",
            "--table",
            "hsm_audit",
            "--format",
            "athena",
            "--location",
            "s3://b/p/",
        ])
        .output()
        .unwrap();
    let athena = String::from_utf8(athena.stdout).unwrap();
    assert!(athena.contains("CREATE EXTERNAL TABLE IF NOT EXISTS `hsm_audit`"));
    assert!(athena.contains("LOCATION 's3://b/p/hsm_audit/'"));

    let dir = tempfile::tempdir().unwrap();
    let (code, summary) = convert(
        &[&fixture("hsm-audit/bare"), "--partition-by", "none"],
        &dir.path().join("out"),
    );
    assert_eq!(code, 1, "{summary}");
    assert_eq!(summary["records"]["kept"], 0);
    assert_eq!(summary["records"]["rejected"], 6);
}

#[test]
fn compaction_merges_the_audit_tables_files_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for part in ["hsm-audit/subscription", "hsm-audit/export", "hsm-audit"] {
        let (code, _) = convert(&[&fixture(part)], &out);
        assert_eq!(code, 0);
    }
    let files = |day: &str| {
        std::fs::read_dir(out.join("hsm_audit").join(format!("event_date={day}")))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".parquet")
            })
            .count()
    };
    assert!(files("2024-03-01") > 1);
    let before = query(
        &out,
        "SELECT entry_id, source_file FROM hsm_audit ORDER BY entry_id",
    );
    let status = hsmtrail()
        .arg("compact")
        .arg(&out)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(files("2024-03-01"), 1);
    assert_eq!(files("2024-03-02"), 1);
    assert_eq!(
        query(
            &out,
            "SELECT entry_id, source_file FROM hsm_audit ORDER BY entry_id"
        ),
        before
    );
}

/// One audit entry's text: `seq` on `counter`, a login of `user`, at `second` past 14:21.
fn entry(counter: u32, seq: u32, user: &str, second: u32) -> String {
    let usecs = 1_709_648_460_000_000u64 + u64::from(second) * 1_000_000;
    format!(
        "Time: 03/05/24 14:21:{second:02}.000000, usecs:{usecs}\nSequence No: {seq:#x}\nReboot counter: {counter:#x}\n\
         Command Type(hex): CN_MGMT_CMD (0x0)\nOpcode: CN_LOGIN (0xd)\nSession Handle: 0x3018006\n\
         Response: 0:HSM Return: SUCCESS\nLog type: MGMT_USER_DETAILS_LOG (2)\nUser Name: {user}\n\
         User Type: CN_CRYPTO_USER (1)"
    )
}

fn users(data: &Path) -> Vec<String> {
    query(data, "SELECT user_name FROM hsm_audit ORDER BY user_name")
        .into_iter()
        .map(|r| r["user_name"].as_str().unwrap().to_owned())
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn entries_of_unknown_streams_are_known_by_their_text_not_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // Two inputs from standard input with as many entries: both kept.
    for users in [["u1", "u2"], ["u3", "u4"]] {
        let text = users
            .iter()
            .enumerate()
            .map(|(n, u)| entry(0x107, 2, u, n as u32))
            .collect::<Vec<_>>()
            .join("\n\n");
        hsmtrail()
            .args(["convert", "-", "--quiet", "--output"])
            .arg(&out)
            .write_stdin(text)
            .assert()
            .success();
    }
    assert_eq!(users(&out), ["u1", "u2", "u3", "u4"]);
    // A file saved again with a new entry on top: the new one is added, none doubled.
    let saved = dir.path().join("messages.txt");
    std::fs::write(
        &saved,
        [entry(1, 7, "u5", 9), entry(1, 8, "u6", 10)].join("\n\n"),
    )
    .unwrap();
    convert(&[saved.to_str().unwrap()], &out);
    std::fs::write(
        &saved,
        [
            entry(1, 9, "u7", 11),
            entry(1, 7, "u5", 9),
            entry(1, 8, "u6", 10),
        ]
        .join("\n\n"),
    )
    .unwrap();
    // ... and by another spelling of its path.
    let (code, summary) = convert(&[&format!("{}/./messages.txt", dir.path().display())], &out);
    assert_eq!(code, 0);
    assert_eq!(summary["records"]["kept"], 1, "{summary}");
    assert_eq!(users(&out), ["u1", "u2", "u3", "u4", "u5", "u6", "u7"]);
    // Two HSMs' entries with the same counter and sequence, in a folder that only looks like
    // an HSM's: both kept.
    let folder = dir.path().join("hsm-backups");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(
        folder.join("a.txt"),
        [entry(0x107, 2, "alice", 1), entry(0x107, 2, "bob", 2)].join("\n\n"),
    )
    .unwrap();
    let other = dir.path().join("other");
    let (code, summary) = convert(&[folder.to_str().unwrap()], &other);
    assert_eq!(
        (code, &summary["records"]["kept"]),
        (0, &Value::from(2)),
        "{summary}"
    );
    let ids = query(&other, "SELECT count(hsm_id) AS n FROM hsm_audit");
    assert_eq!(ids[0]["n"], 0);
}

#[test]
fn damaged_and_foreign_text_is_told_apart_from_audit_entries() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    let export = |entries: &[(&str, String)]| {
        entries
            .iter()
            .map(|(time, message)| format!("{time} {message}\n"))
            .collect::<String>()
    };
    // A truncated export: its cut-off last entry is rejected, not written half; the whole copy
    // adds it later.
    // Enough entries, with names that do not compress away, for the deflate stream to have
    // several blocks: a cut file then gives some of its text back.
    const ENTRIES: u64 = 2000;
    let lines: Vec<(&str, String)> = (1..=ENTRIES as u32)
        .map(|n| {
            let name = format!(
                "user-{:x}",
                u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            );
            ("2024-03-05T14:21:01.000Z", entry(1, n, &name, n % 60))
        })
        .collect();
    let full = export(&lines);
    let cut = at("cut/hsm-q3vb7ydxm2kab/000000.gz");
    std::fs::create_dir_all(cut.parent().unwrap()).unwrap();
    let zipped = gzip(full.as_bytes());
    std::fs::write(&cut, &zipped[..zipped.len() / 2]).unwrap();
    let out = at("out");
    let (code, summary) = convert(&[cut.to_str().unwrap()], &out);
    assert_eq!(code, 1, "{summary}");
    assert_eq!(summary["records"]["rejected"], 1, "{summary}");
    let first = summary["records"]["kept"].as_u64().unwrap();
    assert!((1..ENTRIES).contains(&first), "{summary}");
    let complete = query(
        &out,
        "SELECT count(*) AS n FROM hsm_audit WHERE user_type = 'CN_CRYPTO_USER'",
    );
    assert_eq!(complete[0]["n"], first, "every entry written is whole");
    let whole = at("whole/hsm-q3vb7ydxm2kab/000000.gz");
    std::fs::create_dir_all(whole.parent().unwrap()).unwrap();
    std::fs::write(&whole, &zipped).unwrap();
    let (code, summary) = convert(&[whole.to_str().unwrap()], &out);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(
        summary["records"]["kept"].as_u64(),
        Some(ENTRIES - first),
        "{summary}"
    );
    assert_eq!(users(&out).len() as u64, ENTRIES);

    // An export of a trail's log group: its records are events. A line of a message that starts
    // with a time stays in its message.
    let record = r#"{"eventVersion":"1.08","eventTime":"2024-03-05T14:21:03Z","eventSource":"cloudhsm.amazonaws.com","eventName":"DescribeClusters","eventID":"e-1","awsRegion":"us-east-1"}"#;
    let noted = format!(
        "{}\n2024-03-05T14:21:02.310Z a note inside the message",
        entry(1, 3, "u3", 3)
    );
    std::fs::create_dir_all(at("mixed")).unwrap();
    std::fs::write(
        at("mixed/000000.gz"),
        gzip(
            export(&[
                ("2024-03-05T14:21:03.000Z", record.to_owned()),
                ("2024-03-05T14:21:03.500Z", noted),
            ])
            .as_bytes(),
        ),
    )
    .unwrap();
    // A Firehose stream shared with another log group, keys sorted, and a sorted control message.
    let payload = |group: &str, stream: &str, message: &str| {
        serde_json::json!({"logEvents": [{"id": "1", "message": message, "timestamp": 1709648463000i64}],
            "logGroup": group, "logStream": stream, "messageType": "DATA_MESSAGE", "owner": "111122223333",
            "subscriptionFilters": ["f"]})
        .to_string()
    };
    let control = r#"{"logEvents":[{"id":"","message":"CWL CONTROL MESSAGE: Checking health of destination Firehose.","timestamp":1}],"logGroup":"","logStream":"","messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","subscriptionFilters":[]}"#;
    std::fs::write(
        at("mixed/firehose"),
        gzip(
            [
                control.to_owned(),
                payload(
                    "/aws/cloudhsm/cluster-jd3b5xkz7pq",
                    "hsm-q3vb7ydxm2k",
                    &entry(1, 4, "u4", 4),
                ),
                payload(
                    "/aws/lambda/app",
                    "2024/03/05/[$LATEST]abc",
                    "START RequestId: 1 Version: $LATEST",
                ),
            ]
            .concat()
            .as_bytes(),
        ),
    )
    .unwrap();
    // Notes that merely start with "Time:", and a record with an `events` key.
    std::fs::write(
        at("mixed/NOTES.txt"),
        "Time: 2 hours spent on the migration\n",
    )
    .unwrap();
    std::fs::write(
        at("mixed/record.json"),
        r#"{"eventVersion":"1.08","eventTime":"2024-03-05T14:21:04Z","eventSource":"cloudhsm.amazonaws.com","eventName":"ListTags","eventID":"e-2","events":[1]}"#,
    )
    .unwrap();
    // Entries with wild clocks are rejected; the rest of the file is kept and queries work.
    std::fs::write(
        at("mixed/clocks.txt"),
        [
            entry(1, 5, "u5", 5),
            "Time: 01/01/70 00:00:00.000000, usecs:253402300800000000\nSequence No: 0x6\nReboot counter: 0x1".to_owned(),
        ]
        .join("\n\n"),
    )
    .unwrap();
    let mixed = at("mixed-out");
    let (code, summary) = convert(&[at("mixed").to_str().unwrap()], &mixed);
    let problems = summary["problems"].to_string();
    assert_eq!(code, 1, "only the wild clock fails: {summary}");
    assert_eq!(summary["records"]["rejected"], 1, "{summary}");
    assert!(
        problems.contains("NOTES.txt") && !problems.contains("firehose"),
        "{problems}"
    );
    assert_eq!(
        summary["records"]["filtered"], 1,
        "the other log group's line: {summary}"
    );
    assert_eq!(users(&mixed), ["u3", "u4", "u5"]);
    let noted = query(
        &mixed,
        "SELECT message, cluster_id, account_id FROM hsm_audit WHERE user_name = 'u3'",
    );
    assert!(
        noted[0]["message"]
            .as_str()
            .unwrap()
            .ends_with("a note inside the message")
    );
    let sorted = query(
        &mixed,
        "SELECT cluster_id, account_id FROM hsm_audit WHERE user_name = 'u4'",
    );
    assert_eq!(sorted[0]["cluster_id"], "cluster-jd3b5xkz7pq");
    assert_eq!(sorted[0]["account_id"], "111122223333");
    let events = query(&mixed, "SELECT event_id FROM events ORDER BY event_id");
    assert_eq!(
        events,
        [
            serde_json::json!({"event_id": "e-1"}),
            serde_json::json!({"event_id": "e-2"})
        ]
    );

    // Invalid UTF-8 in an audit text file found by a walk is damage, not "not JSON".
    std::fs::create_dir_all(at("utf")).unwrap();
    let mut bytes = [entry(1, 1, "u1", 1), entry(1, 2, "u2", 2)]
        .join("\n\n")
        .into_bytes();
    let at_byte = bytes.len() - 5;
    bytes[at_byte] = 0xff;
    std::fs::write(at("utf/a.txt"), bytes).unwrap();
    let (code, summary) = convert(&[at("utf").to_str().unwrap()], &at("utf-out"));
    assert_eq!(code, 1, "{summary}");
    assert!(
        summary["problems"].to_string().contains("invalid UTF-8"),
        "{summary}"
    );
    assert_eq!(summary["records"]["kept"], 1);
    assert_eq!(summary["records"]["rejected"], 1);
}

#[test]
fn scope_options_narrow_the_audit_table_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (code, _) = convert(&[&fixture("hsm-audit")], &out);
    assert_eq!(code, 0);
    let count = |args: &[&str]| {
        let out = hsmtrail()
            .args(["query", "--format", "csv", "--data"])
            .arg(&out)
            .args(args)
            .arg("SELECT count(*) AS n FROM hsm_audit")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let all = count(&[]);
    let none_of_ours = count(&["--account", "999999999999"]);
    let unknown = query(
        &out,
        "SELECT count(*) AS n FROM hsm_audit WHERE account_id IS NULL",
    );
    assert_eq!(none_of_ours, format!("n\n{}\n", unknown[0]["n"]));
    assert_ne!(all, none_of_ours);
    assert_eq!(count(&["--account", "111122223333"]), all);
    let want = expected();
    assert_eq!(
        count(&["--since", "2024-03-02"]),
        format!("n\n{}\n", want["entries_per_event_date"]["2024-03-02"])
    );
    // A report on a window with audit entries and no events is not "no data at all".
    let report = hsmtrail()
        .args([
            "report",
            "hsm-user-changes",
            "--since",
            "2024-03-02",
            "--data",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&report.stderr).contains("no data at all"));
}

/// A subscription payload of `group`/`stream` (keys in the order given by `stream_last`).
fn subscription(group: &str, stream: &str, messages: &[String], stream_last: bool) -> String {
    let events: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(n, m)| serde_json::json!({"id": n.to_string(), "timestamp": 1709648463000i64, "message": m}))
        .collect();
    let events = serde_json::to_string(&events).unwrap();
    match stream_last {
        false => format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"{group}","logStream":"{stream}","subscriptionFilters":["f"],"logEvents":{events}}}"#
        ),
        true => format!(
            r#"{{"messageType":"DATA_MESSAGE","owner":"111122223333","logGroup":"{group}","logEvents":{events},"logStream":"{stream}"}}"#
        ),
    }
}

#[test]
fn one_entry_however_delivered_and_the_copy_kept_whatever_the_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| dir.path().join(name);
    // The same entry from a subscription (stream named, after its events) and from a saved
    // get-log-events output that names no stream: one entry, with its HSM.
    let e = entry(4, 0x1e, "app_cu", 2);
    std::fs::create_dir_all(at("in")).unwrap();
    std::fs::write(
        at("in/payload"),
        subscription(
            "/aws/cloudhsm/cluster-jd3b5xkz7pq",
            "hsm-q3vb7ydxm2k",
            std::slice::from_ref(&e),
            true,
        ),
    )
    .unwrap();
    std::fs::write(
        at("in/events.json"),
        serde_json::json!({"events": [{"timestamp": 9223372036854775807i64, "message": e}]})
            .to_string(),
    )
    .unwrap();
    // A trail delivered to CloudWatch Logs whose record mentions "op_code" (a tag key).
    let record = r#"{"eventVersion":"1.08","eventTime":"2024-03-05T14:21:03Z","eventSource":"cloudhsm.amazonaws.com","eventName":"TagResource","eventID":"e-op","requestParameters":{"tagList":[{"key":"op_code","value":"x"}]}}"#;
    std::fs::write(
        at("in/trail"),
        subscription(
            "aws-cloudtrail-logs-1",
            "111122223333_CloudTrail_us-east-1",
            &[record.to_owned()],
            false,
        ),
    )
    .unwrap();
    let out = at("out");
    let (code, summary) = convert(&[at("in").to_str().unwrap()], &out);
    assert_eq!(code, 0, "{summary}");
    assert_eq!(summary["records"]["kept"], 2, "{summary}");
    let rows = query(
        &out,
        "SELECT hsm_id, log_stream, cloudwatch_time, parse_notes FROM hsm_audit",
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["hsm_id"], "hsm-q3vb7ydxm2k");
    let events = query(&out, "SELECT event_id FROM events");
    assert_eq!(events, [serde_json::json!({"event_id": "e-op"})]);
    // A CloudWatch time no engine reads is left out, with a note; the queries still work.
    let (_, alone) = convert(&[at("in/events.json").to_str().unwrap()], &at("alone"));
    assert_eq!(alone["records"]["kept"], 1, "{alone}");
    let wild = query(
        &at("alone"),
        "SELECT cloudwatch_time, parse_notes FROM hsm_audit WHERE cloudwatch_time IS NULL OR cloudwatch_time > event_time",
    );
    assert_eq!(wild.len(), 1);
    assert!(wild[0]["cloudwatch_time"].is_null());
    assert!(
        wild[0]["parse_notes"].to_string().contains("timestamp"),
        "{wild:?}"
    );

    // Two deliveries of the same entries with different groups: the copy kept is the same
    // with all rows in memory and when they are spilled in many runs.
    let entries: Vec<String> = (0..6000u32)
        .map(|n| entry(1, n, &format!("user-{n}"), n % 60))
        .collect();
    for (file, cluster) in [("a", "cluster-bbbbbbbbbbb"), ("z", "cluster-aaaaaaaaaaa")] {
        std::fs::create_dir_all(at("copies")).unwrap();
        std::fs::write(
            at(&format!("copies/{file}.json")),
            subscription(
                &format!("/aws/cloudhsm/{cluster}"),
                "hsm-q3vb7ydxm2k",
                &entries,
                false,
            ),
        )
        .unwrap();
    }
    let kept = |out: &str, extra: &[&str]| {
        let mut args = vec![
            at("copies").to_str().unwrap().to_owned(),
            "--jobs".into(),
            "1".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, summary) = convert(&args, &at(out));
        assert_eq!(code, 0, "{summary}");
        query(
            &at(out),
            "SELECT source_file, count(*) AS n FROM hsm_audit GROUP BY source_file ORDER BY source_file",
        )
    };
    let in_memory = kept("memory", &[]);
    assert_eq!(in_memory.len(), 1, "one file's copies kept: {in_memory:?}");
    assert_eq!(in_memory, kept("spilled", &["--memory-budget", "1"]));
}

#[test]
fn runs_at_once_and_a_run_killed_midway_leave_every_entry_once() {
    let dir = tempfile::tempdir().unwrap();
    // Enough entries that a run takes a while: an export of 60,000 entries on two days.
    let text: String = (0..60_000u32)
        .map(|n| {
            let day: u64 = if n % 2 == 0 { 5 } else { 6 };
            let e = entry(1, n, &format!("user-{n}"), n % 60)
                .replace("03/05/24", &format!("03/0{day}/24"));
            let usecs: u64 =
                1_709_596_800_000_000 + (day - 5) * 86_400_000_000 + u64::from(n) * 1000;
            let e = e.replacen(
                &e[e.find("usecs:").unwrap()..e.find('\n').unwrap()],
                &format!("usecs:{usecs}"),
                1,
            );
            format!("2024-03-0{day}T00:00:00.000Z {e}\n")
        })
        .collect();
    let input = dir.path().join("export/hsm-q3vb7ydxm2kab/000000.gz");
    std::fs::create_dir_all(input.parent().unwrap()).unwrap();
    std::fs::write(&input, gzip(text.as_bytes())).unwrap();
    let out = dir.path().join("out");
    let start = |extra: &[&str]| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("hsmtrail"))
            .args(["convert", "--quiet", "--output"])
            .arg(&out)
            .arg(dir.path().join("export"))
            .args(extra)
            .spawn()
            .unwrap()
    };
    // Killed midway, then two runs at once, one of them with the fixtures too.
    let mut killed = start(&["--jobs", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    killed.kill().unwrap();
    killed.wait().unwrap();
    let fixtures = fixture("hsm-audit");
    let (mut a, mut b) = (start(&[]), start(&[&fixtures]));
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let total = query(
        &out,
        "SELECT count(*) AS n, count(DISTINCT entry_id) AS d FROM hsm_audit",
    );
    let want = 60_000 + expected()["entries"].as_u64().unwrap();
    assert_eq!(total[0]["n"], want, "{total:?}");
    assert_eq!(total[0]["d"], want);
    // No temporary file or spill left where a reader looks.
    for file in walkdir::WalkDir::new(out.join("hsm_audit")) {
        let name = file.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "{name} left behind");
    }
}
