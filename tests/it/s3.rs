//! S3 input and output against a real S3 API server on loopback (moto's server mode, installed
//! by .ci/run), driven through hsmtrail's own client; the test side uses boto3
//! (tests/s3_tool.py) so that the two clients check each other.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Table, fixture};
use serde_json::Value;

/// `hsmtrail ARGS` against the S3 endpoint, with these credentials in the environment and
/// nothing else of the machine's AWS set-up.
fn hsmtrail_at(endpoint: &str, args: &[&str], credentials: (&str, &str)) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("hsmtrail"));
    command
        .args(args)
        .args(["--endpoint-url", endpoint, "--path-style"])
        .env("AWS_ACCESS_KEY_ID", credentials.0)
        .env("AWS_SECRET_ACCESS_KEY", credentials.1)
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// A loopback port nobody listens on.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (at most 30 s) until a server listens on the loopback `port`.
fn wait_for(port: u16, failure: &str) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "{failure}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A moto server on a free loopback port, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start(extra_env: &[(&str, &str)]) -> Moto {
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .expect("python3 -m moto.server (pip install 'moto[server]', see .ci/run)");
        wait_for(
            port,
            "moto server did not start (is moto[server] installed? see .ci/run)",
        );
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A server with the fixture archive in bucket `trail` and an empty bucket `lake`.
    fn with_archive() -> Moto {
        let moto = Moto::start(&[]);
        moto.tool(&["mb", "trail"]);
        moto.tool(&["mb", "lake"]);
        moto.tool(&["put-dir", "trail", "", &fixture("archive")]);
        moto
    }

    /// Runs tests/s3_tool.py with the default test credentials.
    fn tool(&self, args: &[&str]) -> String {
        self.tool_as(("testing", "testing"), args)
    }

    fn tool_as(&self, (id, secret): (&str, &str), args: &[&str]) -> String {
        let out = Command::new("python3")
            .arg(crate::common::root().join("tests/s3_tool.py"))
            .arg(&self.endpoint)
            .args(args)
            .env("AWS_ACCESS_KEY_ID", id)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "s3_tool {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.tool(&["keys", bucket, prefix])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `hsmtrail ARGS --endpoint-url ... --path-style` with credentials in the environment.
    fn hsmtrail(&self, args: &[&str], credentials: (&str, &str)) -> std::process::Output {
        hsmtrail_at(&self.endpoint, args, credentials)
            .output()
            .unwrap()
    }

    /// `hsmtrail convert ARGS --summary-json F`: exit code and summary.
    fn convert(&self, args: &[&str], summary: &Path) -> (i32, Value) {
        let mut all = vec![
            "convert",
            "--quiet",
            "--summary-json",
            summary.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        let out = self.hsmtrail(&all, ("testing", "testing"));
        let text = std::fs::read_to_string(summary)
            .unwrap_or_else(|_| panic!("no summary: {}", String::from_utf8_lossy(&out.stderr)));
        (
            out.status.code().unwrap(),
            serde_json::from_str(&text).unwrap(),
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The output under `s3://bucket/prefix` as a table, fetched with boto3.
fn s3_table(moto: &Moto, bucket: &str, prefix: &str, local: &Path) -> Table {
    let _ = std::fs::remove_dir_all(local);
    moto.tool(&["get-dir", bucket, prefix, local.to_str().unwrap()]);
    Table::read(local)
}

fn local_table(args: &[&str], dir: &Path) -> Table {
    let (code, _) = crate::common::convert(args, dir);
    assert_eq!(code, 0);
    Table::read(dir)
}

#[test]
fn converts_an_org_and_account_archive_from_s3_into_s3_listing_only_wanted_days() {
    let moto = Moto::with_archive();
    let tmp = tempfile::tempdir().unwrap();
    // Objects that must never be listed: a day outside the range, a region not asked for
    // (when regions are filtered), another account. Reading any of them fails the run.
    let poison = tmp.path().join("poison.json.gz");
    std::fs::write(&poison, b"\x1f\x8bnot gzip at all").unwrap();
    let poison = poison.to_str().unwrap();
    for key in [
        "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/poison.json.gz",
        "AWSLogs/111122223333/CloudTrail/us-east-1/2023/03/01/poison.json.gz",
        "AWSLogs/111122223333/CloudTrail/ap-south-1/2024/03/01/poison.json.gz",
        "AWSLogs/o-a1b2c3d4e5/777788889999/CloudTrail/eu-west-1/2024/03/01/poison.json.gz",
    ] {
        moto.tool(&["put", "trail", key, poison]);
    }
    let window = ["--since", "2024-03-01", "--until", "2024-03-01"];
    let accounts = ["--account", "111122223333", "--account", "444455556666"];
    let regions = ["--region", "us-east-1", "--region", "eu-west-1"];
    let summary = tmp.path().join("s3.json");
    let mut args = vec![
        "s3://trail/",
        "--out",
        "s3://lake/cloudtrail/",
        "--all-sources",
    ];
    args.extend(window);
    args.extend(accounts);
    args.extend(regions);
    let (code, s) = moto.convert(&args, &summary);
    assert_eq!(code, 0, "{s:#}");
    // Listed: 2024/03/01 and (for late deliveries) 2024/03/02 of the two accounts' wanted
    // regions: 2 + 1 account files, 3 org files. Not the digest folder, not 03/09 or 2015.
    assert_eq!(s["files"]["total"], 6, "{s:#}");
    assert_eq!(s["files"]["failed"], 0, "{s:#}");
    assert!(
        s["output"]["directory"]
            .as_str()
            .unwrap()
            .starts_with("s3://lake/cloudtrail")
    );

    let mut local_args = vec![fixture("archive"), "--all-sources".into()];
    local_args.extend(
        window
            .iter()
            .chain(&accounts)
            .chain(&regions)
            .map(|s| s.to_string()),
    );
    let local_refs: Vec<&str> = local_args.iter().map(String::as_str).collect();
    let local = local_table(&local_refs, &tmp.path().join("local"));
    let remote = s3_table(&moto, "lake", "cloudtrail/", &tmp.path().join("fetched"));
    assert!(local.len() > 0);
    assert_eq!(remote.event_ids(), local.event_ids());

    let keys = moto.keys("lake", "cloudtrail/");
    assert!(
        keys.iter().all(|k| k == "cloudtrail/_hsmtrail/layout.json"
            || k.starts_with("cloudtrail/event_date=2024-03-01/") && k.ends_with(".parquet")),
        "{keys:?}"
    );
    assert_eq!(
        moto.tool(&["uploads", "lake"]).trim(),
        "",
        "no unfinished uploads"
    );
}

#[test]
fn incremental_runs_convert_only_new_objects_including_late_files_for_old_days() {
    let moto = Moto::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    moto.tool(&["mb", "trail"]);
    moto.tool(&["mb", "lake"]);
    let late_key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/111122223333_CloudTrail_us-east-1_20240301T0915Z_Aa1Bb2Cc3Dd4Ee5F.json.gz";
    let late_file = format!("{}/{late_key}", fixture("archive"));
    // Everything but one file of an old day.
    let partial = tmp.path().join("partial");
    for entry in walkdir::WalkDir::new(fixture("archive")) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(fixture("archive")).unwrap();
        if entry.file_type().is_file() && rel.to_str().unwrap() != late_key {
            let to = partial.join(rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
    moto.tool(&["put-dir", "trail", "", partial.to_str().unwrap()]);
    let run = |n: usize| {
        let summary = tmp.path().join(format!("run{n}.json"));
        let args = [
            "s3://trail/AWSLogs/",
            "--out",
            "s3://lake/ct/",
            "--incremental",
            "--write-ddl",
        ];
        let (code, s) = moto.convert(&args, &summary);
        assert_eq!(code, 0, "{s:#}");
        s
    };
    let first = run(1);
    let files = first["files"]["total"].as_u64().unwrap();
    assert_eq!(first["files"]["already_converted"], 0);
    assert!(files >= 7, "{first:#}");

    moto.tool(&["put", "trail", late_key, &late_file]);
    let second = run(2);
    assert_eq!(
        second["files"]["total"], 1,
        "only the late file: {second:#}"
    );
    assert_eq!(second["files"]["already_converted"], files);
    assert!(second["records"]["kept"].as_u64().unwrap() > 0);

    let third = run(3);
    assert_eq!(third["files"]["total"], 0, "{third:#}");

    // The account trail delivers events the organisation trail already delivered.
    let org_file = crate::common::largest_org_trail_fixture();
    moto.tool(&[
        "put",
        "trail",
        "AWSLogs/444455556666/CloudTrail/eu-west-1/2024/03/02/same-events.json.gz",
        org_file.to_str().unwrap(),
    ]);
    let fourth = run(4);
    assert_eq!(fourth["files"]["total"], 1, "{fourth:#}");
    assert_eq!(fourth["records"]["kept"], 0, "{fourth:#}");
    assert!(fourth["records"]["duplicates"].as_u64().unwrap() > 0);

    let local = local_table(&[&fixture("archive")], &tmp.path().join("local"));
    let remote = s3_table(&moto, "lake", "ct/", &tmp.path().join("fetched"));
    assert_eq!(
        remote.event_ids(),
        local.event_ids(),
        "every record exactly once"
    );
    let keys = moto.keys("lake", "ct/_hsmtrail/");
    assert_eq!(
        keys.iter()
            .filter(|k| k.starts_with("ct/_hsmtrail/inputs/"))
            .count(),
        4
    );
    assert!(
        keys.contains(&"ct/_hsmtrail/athena.sql".to_owned()),
        "{keys:?}"
    );
}

/// Keys under a prefix, by a plain unsigned HTTP request (moto does not check signatures by
/// default): fast enough to poll while a run uploads.
fn list_raw(endpoint: &str, bucket: &str, prefix: &str) -> Vec<String> {
    use std::io::{Read, Write};
    let address = endpoint.trim_start_matches("http://");
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return Vec::new();
    };
    let request = format!(
        "GET /{bucket}?list-type=2&prefix={prefix} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    );
    let mut response = String::new();
    if stream.write_all(request.as_bytes()).is_err()
        || stream.read_to_string(&mut response).is_err()
    {
        return Vec::new();
    }
    response
        .split("<Key>")
        .skip(1)
        .filter_map(|k| k.split_once("</Key>").map(|(key, _)| key.to_owned()))
        .collect()
}

#[test]
fn a_run_killed_while_uploading_and_rerun_leaves_every_record_exactly_once() {
    let moto = Moto::start(&[]);
    moto.tool(&["mb", "trail"]);
    moto.tool(&["mb", "lake"]);
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    crate::common::generate_archive(&archive, 24, 12);
    moto.tool(&["put-dir", "trail", "", archive.to_str().unwrap()]);
    let args = [
        "s3://trail/",
        "--out",
        "s3://lake/k/",
        "--all-sources",
        "--incremental",
    ];
    // The runs' own temporary folder, where an S3 output is staged.
    let temp = tmp.path().join("temp");
    std::fs::create_dir(&temp).unwrap();
    let staging_folders = || {
        std::fs::read_dir(&temp)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("hsmtrail-staging-")
            })
            .filter(|e| e.file_type().unwrap().is_dir())
            .count()
    };
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("hsmtrail"))
        .arg("convert")
        .args(args)
        .args(["--quiet", "--endpoint-url", &moto.endpoint, "--path-style"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("TMPDIR", &temp)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let visible = loop {
        let keys = list_raw(&moto.endpoint, "lake", "k/");
        if keys.iter().any(|k| k.ends_with(".parquet")) {
            child.kill().unwrap();
            break keys;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        assert!(started.elapsed() < Duration::from_secs(300));
    };
    child.wait().unwrap();
    assert!(
        !visible.iter().any(|k| k.contains("_hsmtrail/inputs/")),
        "state before data"
    );
    let after_kill = moto.keys("lake", "k/");
    assert!(
        after_kill
            .iter()
            .all(|k| k.ends_with(".parquet") || k == "k/_hsmtrail/layout.json"),
        "{after_kill:?}"
    );
    let partitions = after_kill.len();
    assert_eq!(staging_folders(), 1, "the killed run's staging folder");

    // The rerun removes the killed run's staging folder (and its spills) and its own.
    let rerun = hsmtrail_at(
        &moto.endpoint,
        &[&["convert", "--quiet"][..], &args].concat(),
        ("testing", "testing"),
    )
    .env("TMPDIR", &temp)
    .output()
    .unwrap();
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert_eq!(staging_folders(), 0, "a staging folder left behind");
    let clean = tmp.path().join("clean");
    let (code, _) = crate::common::convert(&[archive.to_str().unwrap(), "--all-sources"], &clean);
    assert_eq!(code, 0);
    let expected = Table::read(&clean).event_ids();
    assert!(
        partitions < crate::common::parquet_files(&clean).len(),
        "killed mid-run"
    );
    let remote = s3_table(&moto, "lake", "k/", &tmp.path().join("fetched")).event_ids();
    assert!(
        remote == expected,
        "{} rows, {} expected",
        remote.len(),
        expected.len()
    );
}

#[test]
fn credentials_come_from_the_environment_and_refusals_are_explained() {
    // Authentication on after the first three requests, which create the IAM user.
    let moto = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
    let keys = moto.tool(&["iam-keys"]);
    let (id, secret) = keys.trim().split_once(' ').unwrap();
    moto.tool_as((id, secret), &["mb", "trail"]);
    moto.tool_as((id, secret), &["put-dir", "trail", "", &fixture("archive")]);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let convert = |credentials| {
        moto.hsmtrail(
            &["convert", "s3://trail/", "--out", out.to_str().unwrap()],
            credentials,
        )
    };
    let ok = convert((id, secret));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(!crate::common::parquet_files(&out).is_empty());

    let refused = convert((id, "wrong-secret"));
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("s3://trail/"), "{stderr}");
    assert!(
        stderr.contains("credentials were refused") || stderr.contains("access denied"),
        "{stderr}"
    );
}

/// `hsmtrail ARGS` against the S3 endpoint with no credentials in the environment: only the
/// AWS configuration files under `home` and the profile named.
fn hsmtrail_with_profile(endpoint: &str, args: &[&str], home: &Path, profile: &str) -> Command {
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("hsmtrail"));
    command
        .args(args)
        .args(["--endpoint-url", endpoint, "--path-style"])
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join(".aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join(".aws/credentials"))
        .env("AWS_PROFILE", profile)
        // The role is assumed through the loopback server's STS.
        .env("AWS_ENDPOINT_URL_STS", endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        command.env_remove(name);
    }
    command
}

#[test]
fn credentials_come_from_role_assuming_and_credential_process_profiles() {
    // Authentication on after the eight requests that create the users and the role.
    let moto = Moto::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "8")]);
    let writer = moto.tool(&["iam-keys"]);
    let (writer_id, writer_secret) = writer.trim().split_once(' ').unwrap();
    let role = moto.tool(&["iam-role"]);
    let [assumer_id, assumer_secret, role_arn]: [&str; 3] = role
        .split_whitespace()
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    moto.tool_as((writer_id, writer_secret), &["mb", "trail"]);
    moto.tool_as(
        (writer_id, writer_secret),
        &["put-dir", "trail", "", &fixture("archive")],
    );

    let home = tempfile::tempdir().unwrap();
    let aws = home.path().join(".aws");
    std::fs::create_dir(&aws).unwrap();
    // The process prints the writer's keys, and leaves a mark to show it ran.
    let mark = home.path().join("process-ran");
    let process = home.path().join("credentials.py");
    std::fs::write(
        &process,
        format!(
            "import json, pathlib\npathlib.Path({mark:?}).touch()\nprint(json.dumps({{'Version': 1, 'AccessKeyId': '{writer_id}', 'SecretAccessKey': '{writer_secret}'}}))\n",
            mark = mark.to_str().unwrap()
        ),
    )
    .unwrap();
    std::fs::write(
        aws.join("config"),
        format!(
            "[profile via-role]\nrole_arn = {role_arn}\nsource_profile = assumer\nregion = us-east-1\n\n\
             [profile assumer]\nregion = us-east-1\n\n\
             [profile via-process]\ncredential_process = python3 {}\nregion = us-east-1\n",
            process.display()
        ),
    )
    .unwrap();
    std::fs::write(
        aws.join("credentials"),
        format!(
            "[assumer]\naws_access_key_id = {assumer_id}\naws_secret_access_key = {assumer_secret}\n"
        ),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let convert = |profile: &str| {
        let out = tmp.path().join(profile);
        let run = hsmtrail_with_profile(
            &moto.endpoint,
            &["convert", "s3://trail/", "--out", out.to_str().unwrap()],
            home.path(),
            profile,
        )
        .output()
        .unwrap();
        (run, out)
    };

    // The assumer alone may not read the bucket: the role's credentials did.
    let (alone, _) = convert("assumer");
    assert_eq!(alone.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&alone.stderr);
    assert!(stderr.contains("access denied"), "{stderr}");

    let expected = local_table(&[&fixture("archive")], &tmp.path().join("local"));
    for profile in ["via-role", "via-process"] {
        let (run, out) = convert(profile);
        assert!(
            run.status.success(),
            "{profile}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert_eq!(
            Table::read(&out).event_ids(),
            expected.event_ids(),
            "{profile}"
        );
    }
    assert!(mark.exists(), "the credential process was not run");

    // A process that hangs is given up on; expired credentials are refused; credentials that
    // expire soon are fetched once for a run, not once a request.
    let script = |name: &str, body: &str| {
        let path = home.path().join(name);
        std::fs::write(&path, body).unwrap();
        path
    };
    let calls = home.path().join("calls");
    let expiring = |minutes: i64| {
        format!(
            "import json, datetime\nopen({calls:?}, 'a').write('x')\nat = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes={minutes})\nprint(json.dumps({{'Version': 1, 'AccessKeyId': '{writer_id}', 'SecretAccessKey': '{writer_secret}', 'Expiration': at.isoformat()}}))\n",
            calls = calls.to_str().unwrap()
        )
    };
    let hang = script("hang.py", "import time\ntime.sleep(30)\n");
    let expired = script("expired.py", &expiring(-10));
    let soon = script("soon.py", &expiring(2));
    let mut config = std::fs::read_to_string(aws.join("config")).unwrap();
    for (profile, process) in [("hang", &hang), ("expired", &expired), ("soon", &soon)] {
        config.push_str(&format!(
            "\n[profile {profile}]\ncredential_process = python3 {}\nregion = us-east-1\n",
            process.display()
        ));
    }
    std::fs::write(aws.join("config"), config).unwrap();
    let started = std::time::Instant::now();
    let hung = hsmtrail_with_profile(
        &moto.endpoint,
        &[
            "query",
            "SELECT 1",
            "--data",
            "s3://trail/",
            "--s3-timeout",
            "2",
        ],
        home.path(),
        "hang",
    )
    .output()
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&hung.stderr);
    assert!(
        !hung.status.success() && stderr.contains("no answer within 2 s"),
        "{stderr}"
    );
    let (old, _) = convert("expired");
    let stderr = String::from_utf8_lossy(&old.stderr);
    assert!(
        !old.status.success() && stderr.contains("expired at"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(&calls);
    let (run, out) = convert("soon");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(Table::read(&out).event_ids(), expected.event_ids());
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "x",
        "the process ran again"
    );

    // No credentials anywhere: the message says what to do.
    let (none, _) = convert("no-such-profile");
    assert_ne!(none.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(
        stderr.contains("no AWS credentials") && stderr.contains("AWS_PROFILE"),
        "{stderr}"
    );
}

#[test]
fn a_missing_bucket_is_named_with_what_to_check() {
    let moto = Moto::start(&[]);
    moto.tool(&["mb", "trail"]);
    moto.tool(&["put-dir", "trail", "", &fixture("archive")]);
    let tmp = tempfile::tempdir().unwrap();
    let input = moto.hsmtrail(
        &[
            "convert",
            "s3://no-such-bucket/AWSLogs/",
            "--out",
            tmp.path().join("o").to_str().unwrap(),
        ],
        ("testing", "testing"),
    );
    assert_eq!(input.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&input.stderr);
    assert!(stderr.contains("s3://no-such-bucket/AWSLogs/"), "{stderr}");
    assert!(stderr.contains("bucket does not exist"), "{stderr}");

    let output = moto.hsmtrail(
        &[
            "convert",
            "s3://trail/",
            "--out",
            "s3://no-such-bucket/out/",
        ],
        ("testing", "testing"),
    );
    assert_ne!(output.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-bucket"), "{stderr}");
    assert!(stderr.contains("bucket does not exist"), "{stderr}");
}

#[test]
fn compaction_in_s3_leaves_one_sorted_deduplicated_file_per_partition() {
    let moto = Moto::with_archive();
    let tmp = tempfile::tempdir().unwrap();
    // Two runs of overlapping days: several files per partition.
    for (n, (since, until)) in [("2024-03-01", "2024-03-02"), ("2024-03-02", "2024-03-09")]
        .into_iter()
        .enumerate()
    {
        let summary = tmp.path().join(format!("{n}.json"));
        let (code, s) = moto.convert(
            &[
                "s3://trail/",
                "--out",
                "s3://lake/x/",
                "--all-sources",
                "--keep-duplicates",
                "--since",
                since,
                "--until",
                until,
            ],
            &summary,
        );
        assert_eq!(code, 0, "{s:#}");
    }
    let before = s3_table(&moto, "lake", "x/", &tmp.path().join("before"));
    let out = moto.hsmtrail(&["compact", "s3://lake/x/"], ("testing", "testing"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = s3_table(&moto, "lake", "x/", &tmp.path().join("after"));
    let mut unique = before.event_ids();
    unique.dedup();
    assert!(unique.len() < before.len(), "the runs overlapped");
    assert_eq!(after.event_ids(), unique);
    let keys = moto.keys("lake", "x/");
    let partitions: std::collections::BTreeSet<_> =
        keys.iter().map(|k| k.rsplit_once('/').unwrap().0).collect();
    assert_eq!(
        keys.len(),
        partitions.len(),
        "one file per partition: {keys:?}"
    );
}

#[test]
fn keys_with_odd_characters_are_read_written_deduplicated_and_compacted() {
    let moto = Moto::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    moto.tool(&["mb", "trail"]);
    moto.tool(&["mb", "lake"]);
    // Keys object_store would re-encode if it were handed them as plain strings, and a whole
    // logging bucket's other logs beside the trail.
    let record = |id: &str, account: &str| {
        format!(
            r#"{{"Records":[{{"eventTime":"2024-03-01T01:00:00Z","eventID":"{id}","eventSource":"cloudhsm.amazonaws.com","recipientAccountId":"{account}","awsRegion":"us-east-1"}}]}}"#
        )
    };
    let dir = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01";
    let odd = [
        "a%20b.json",
        "a b.json",
        "[x].json",
        "~t.json",
        "#h.json",
        "*s.json",
        "q?.json",
    ];
    for (i, name) in odd.iter().enumerate() {
        let local = tmp.path().join(format!("{i}.json"));
        // One account value with a slash: its partition is `account=a%2Fb`.
        let account = if i == 0 { "a/b" } else { "111122223333" };
        std::fs::write(&local, record(&format!("e{i}"), account)).unwrap();
        moto.tool(&[
            "put",
            "trail",
            &format!("{dir}/{name}"),
            local.to_str().unwrap(),
        ]);
    }
    let config = tmp.path().join("config.json");
    std::fs::write(&config, r#"{"configurationItems":[]}"#).unwrap();
    moto.tool(&[
        "put",
        "trail",
        "AWSLogs/111122223333/Config/us-east-1/2024/3/1/c.json",
        config.to_str().unwrap(),
    ]);
    let args = [
        "s3://trail/",
        "--out",
        "s3://lake/ct/",
        "--partition-by",
        "account,date",
    ];
    let (code, s) = moto.convert(&args, &tmp.path().join("1.json"));
    assert_eq!(code, 0, "{s:#}");
    assert_eq!(s["files"]["converted"], odd.len(), "{s:#}");
    assert_eq!(s["records"]["kept"], odd.len());
    assert_eq!(s["files"]["skipped"]["not-cloudtrail:Config"], 1);
    let keys = moto.keys("lake", "ct/");
    assert!(
        keys.iter()
            .any(|k| k.starts_with("ct/account=a%2Fb/event_date=2024-03-01/")),
        "{keys:?}"
    );
    // A rerun finds every event in the output, the escaped partition's too.
    let (code, again) = moto.convert(&args, &tmp.path().join("2.json"));
    assert_eq!(code, 0, "{again:#}");
    assert_eq!(again["records"]["kept"], 0, "{again:#}");
    assert_eq!(again["records"]["duplicates"], odd.len());
    // Two files in the escaped partition, then compaction merges them into one.
    let extra = tmp.path().join("extra.json");
    std::fs::write(&extra, record("e-late", "a/b")).unwrap();
    moto.tool(&[
        "put",
        "trail",
        &format!("{dir}/late%2F.json"),
        extra.to_str().unwrap(),
    ]);
    let (code, third) = moto.convert(&args, &tmp.path().join("3.json"));
    assert_eq!(code, 0, "{third:#}");
    assert_eq!(third["records"]["kept"], 1, "{third:#}");
    let escaped = |keys: &[String]| {
        keys.iter()
            .filter(|k| k.starts_with("ct/account=a%2Fb/") && k.ends_with(".parquet"))
            .count()
    };
    assert_eq!(escaped(&moto.keys("lake", "ct/")), 2);
    let out = moto.hsmtrail(
        &["compact", "s3://lake/ct/", "--quiet"],
        ("testing", "testing"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(escaped(&moto.keys("lake", "ct/")), 1);
    let table = s3_table(&moto, "lake", "ct/", &tmp.path().join("fetched"));
    let mut expected: Vec<String> = (0..odd.len()).map(|i| format!("e{i}")).collect();
    expected.push("e-late".into());
    expected.sort();
    assert_eq!(table.event_ids(), expected);
}

#[test]
fn concurrent_conversions_into_s3_leave_each_event_once_after_compaction() {
    let moto = Moto::with_archive();
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "convert",
        "s3://trail/",
        "--output",
        "s3://lake/ct/",
        "--all-sources",
        "--quiet",
    ];
    // Two runs at once over the same archive (a cron run overlapping a manual one).
    let spawn = || {
        hsmtrail_at(&moto.endpoint, &args, ("testing", "testing"))
            .spawn()
            .unwrap()
    };
    let runs = [spawn(), spawn()];
    for mut run in runs {
        assert!(run.wait().unwrap().success());
    }
    let out = moto.hsmtrail(
        &["compact", "s3://lake/ct/", "--quiet"],
        ("testing", "testing"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = local_table(
        &[&fixture("archive"), "--all-sources"],
        &tmp.path().join("local"),
    );
    let remote = s3_table(&moto, "lake", "ct/", &tmp.path().join("fetched"));
    assert_eq!(remote.event_ids(), expected.event_ids());
}

/// tests/faulty_proxy.py in front of a moto server, answering some requests with faults;
/// stopped when dropped.
struct Proxy {
    child: Child,
    endpoint: String,
    log: std::path::PathBuf,
}

impl Proxy {
    fn start(moto: &Moto, rules: &[&str], log: &Path) -> Proxy {
        let port = free_port();
        let child = Command::new("python3")
            .arg(crate::common::root().join("tests/faulty_proxy.py"))
            .arg(port.to_string())
            .arg(&moto.endpoint)
            .args(rules)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        wait_for(port, "proxy did not start");
        Proxy {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log: log.to_path_buf(),
        }
    }

    /// How many requests got `fault` so far.
    fn faults(&self, fault: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .filter(|l| l.ends_with(&format!("-> {fault}")))
            .count()
    }

    /// `hsmtrail ARGS` through the proxy; exit code and stderr.
    fn hsmtrail(&self, args: &[&str]) -> (i32, String) {
        let out = hsmtrail_at(&self.endpoint, args, ("testing", "testing"))
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn reports_and_queries_run_on_s3_output_and_a_one_day_report_lists_and_reads_one_day() {
    let moto = Moto::with_archive();
    let tmp = tempfile::tempdir().unwrap();
    let (code, _) = moto.convert(
        &["s3://trail/", "--out", "s3://lake/ct/"],
        &tmp.path().join("summary.json"),
    );
    assert_eq!(code, 0);
    // The same files, fetched with boto3: queried in place and locally, the answers agree.
    let local_dir = tmp.path().join("fetched");
    s3_table(&moto, "lake", "ct/", &local_dir);
    let local_path = |dir: &Path, relative: &str| dir.join(relative).display().to_string();
    let run = |data: &str, args: &[&str], endpoint: &str| {
        let mut all = args.to_vec();
        all.extend(["--data", data, "--format", "csv"]);
        let out = hsmtrail_at(endpoint, &all, ("testing", "testing"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?} on {data}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let local = local_dir.to_str().unwrap();
    let every_row = [
        "query",
        "SELECT * FROM events ORDER BY event_id, event_time",
    ];
    let in_s3 = run("s3://lake/ct/", &every_row, &moto.endpoint);
    assert_eq!(in_s3, run(local, &every_row, &moto.endpoint));
    assert!(in_s3.lines().count() > 10, "{in_s3}");
    for report in ["changes", "backup-deletions", "cluster-lifecycle"] {
        assert_eq!(
            run("s3://lake/ct/", &["report", report], &moto.endpoint),
            run(local, &["report", report], &moto.endpoint),
            "{report}"
        );
    }

    // A prefix whose name holds `%` and `#` is read as spelled, not as the prefix a URL
    // would make of it (`pAx/`, which holds other data).
    for (prefix, input) in [("pAx/", "formats"), ("p%41x#y/", "archive")] {
        let (code, _) = moto.convert(
            &[&fixture(input), "--out", &format!("s3://lake/{prefix}")],
            &tmp.path().join("odd.json"),
        );
        assert_eq!(code, 0);
    }
    assert_eq!(
        run("s3://lake/p%41x#y/", &every_row, &moto.endpoint)
            .lines()
            .count(),
        in_s3.lines().count()
    );

    // Trail files given as data: pointed to --input, as for a local folder.
    let trail = hsmtrail_at(
        &moto.endpoint,
        &["query", "SELECT 1", "--data", "s3://trail/"],
        ("testing", "testing"),
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&trail.stderr);
    assert!(
        !trail.status.success()
            && stderr.contains("holds trail files")
            && stderr.contains("--input s3://trail/"),
        "{stderr}"
    );

    // One object, as one local file.
    let key = moto
        .keys("lake", "ct/")
        .into_iter()
        .find(|k| k.ends_with(".parquet"))
        .unwrap();
    let count = ["query", "SELECT count(*) AS n FROM events"];
    assert_eq!(
        run(&format!("s3://lake/{key}"), &count, &moto.endpoint),
        run(
            local_path(&local_dir, key.trim_start_matches("ct/")).as_str(),
            &count,
            &moto.endpoint
        )
    );

    // One day, through a proxy that logs every request.
    let days: std::collections::BTreeSet<String> = moto
        .keys("lake", "ct/")
        .iter()
        .filter_map(|k| k.split('/').find(|p| p.starts_with("event_date=")))
        .map(str::to_owned)
        .collect();
    assert!(days.len() >= 3, "{days:?}");
    let day = days.iter().nth(1).unwrap();
    let date = day.trim_start_matches("event_date=");
    let log = tmp.path().join("requests.log");
    let proxy = Proxy::start(&moto, &[], &log);
    let window = [
        "query",
        "SELECT event_id FROM events ORDER BY event_id",
        "--since",
        date,
        "--until",
        date,
    ];
    let one_day = run("s3://lake/ct/", &window, &proxy.endpoint);
    assert_eq!(one_day, run(local, &window, &moto.endpoint));
    assert!(one_day.lines().count() > 1, "{one_day}");
    let requests: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            percent_encoding::percent_decode_str(l)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    for other in days.iter().filter(|d| *d != day) {
        let touched: Vec<&String> = requests
            .iter()
            .filter(|r| r.contains(other.as_str()))
            .collect();
        assert!(
            touched.is_empty(),
            "{other} was listed or read: {touched:?}"
        );
    }
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET") && r.contains(day.as_str()) && r.contains(".parquet")),
        "{day} was not read: {requests:?}"
    );
}

#[test]
fn failing_requests_are_retried_and_every_record_lands_once() {
    let moto = Moto::with_archive();
    let tmp = tempfile::tempdir().unwrap();
    let rules = [
        // Reading delivery files.
        "GET:/trail/AWSLogs/:500:2",
        "GET:/trail/AWSLogs/:503:2",
        "GET:/trail/AWSLogs/:reset:1",
        "GET:/trail/AWSLogs/:cut:2",
        "GET:/trail/AWSLogs/:stall:1",
        // Listing, writing parts, completing uploads, small objects.
        "GET:list-type:503:1",
        "PUT:partNumber:503:2",
        "PUT:partNumber:reset:1",
        "POST:uploadId:500:1",
        "PUT:_hsmtrail:500:1",
    ];
    let proxy = Proxy::start(&moto, &rules, &tmp.path().join("proxy.log"));
    let summary = tmp.path().join("s.json");
    let (code, err) = proxy.hsmtrail(&[
        "convert",
        "s3://trail/",
        "--output",
        "s3://lake/ct/",
        "--all-sources",
        "--incremental",
        "--quiet",
        "--s3-timeout",
        "3",
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    for fault in ["500", "503", "reset", "200 cut", "stall"] {
        assert!(proxy.faults(fault) > 0, "no request got {fault}");
    }
    let expected = local_table(
        &[&fixture("archive"), "--all-sources"],
        &tmp.path().join("local"),
    );
    let remote = s3_table(&moto, "lake", "ct/", &tmp.path().join("fetched"));
    assert_eq!(remote.event_ids(), expected.event_ids());
    assert_eq!(
        moto.tool(&["uploads", "lake"]).trim(),
        "",
        "no unfinished uploads"
    );
}

#[test]
fn storage_that_keeps_failing_fails_the_run_naming_the_object_and_leaves_nothing_half_done() {
    let moto = Moto::with_archive();
    let tmp = tempfile::tempdir().unwrap();
    let args = |summary: &Path| {
        vec![
            "convert".to_owned(),
            "s3://trail/".into(),
            "--output".into(),
            "s3://lake/ct/".into(),
            "--all-sources".into(),
            "--incremental".into(),
            "--quiet".into(),
            "--s3-retries".into(),
            "1".into(),
            "--summary-json".into(),
            summary.display().to_string(),
        ]
    };
    // Uploads of parts always fail: no object appears, no upload is left open, and the inputs
    // are not recorded as converted.
    {
        let proxy = Proxy::start(
            &moto,
            &["PUT:partNumber:500:all"],
            &tmp.path().join("p1.log"),
        );
        let summary = tmp.path().join("1.json");
        let a = args(&summary);
        let (code, err) = proxy.hsmtrail(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("s3://lake/ct/event_date=") && err.contains("S3 request failed"),
            "{err}"
        );
        let keys = moto.keys("lake", "ct/");
        assert!(
            !keys
                .iter()
                .any(|k| k.ends_with(".parquet") || k.contains("_hsmtrail/inputs/")),
            "{keys:?}"
        );
        assert_eq!(
            moto.tool(&["uploads", "lake"]).trim(),
            "",
            "an upload left open"
        );
    }
    // Delivery files that cannot be read: each is a named failure, and not recorded.
    {
        let proxy = Proxy::start(
            &moto,
            &["GET:/trail/AWSLogs/:503:all"],
            &tmp.path().join("p2.log"),
        );
        let summary = tmp.path().join("2.json");
        let a = args(&summary);
        let (code, _) = proxy.hsmtrail(&a.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code, 1);
        let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
        assert!(s["files"]["failed"].as_u64().unwrap() > 0, "{s:#}");
        let problem = s["problems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["severity"] == "error")
            .unwrap();
        assert!(
            problem["file"]
                .as_str()
                .unwrap()
                .starts_with("s3://trail/AWSLogs/")
                && problem["reason"]
                    .as_str()
                    .unwrap()
                    .contains("S3 request failed"),
            "{s:#}"
        );
    }
    // The storage recovers: the rerun converts everything, once.
    let (code, s) = moto.convert(
        &[
            "s3://trail/",
            "--output",
            "s3://lake/ct/",
            "--all-sources",
            "--incremental",
        ],
        &tmp.path().join("3.json"),
    );
    assert_eq!(code, 0, "{s:#}");
    let expected = local_table(
        &[&fixture("archive"), "--all-sources"],
        &tmp.path().join("local"),
    );
    let remote = s3_table(&moto, "lake", "ct/", &tmp.path().join("fetched"));
    assert_eq!(remote.event_ids(), expected.event_ids());
}

#[test]
fn an_object_listed_larger_than_the_limit_is_refused_without_being_fetched() {
    let moto = Moto::with_archive();
    let tmp = tempfile::tempdir().unwrap();
    let big = tmp.path().join("big.json");
    std::fs::write(&big, vec![b' '; 200_000]).unwrap();
    let key = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/big.json";
    moto.tool(&["put", "trail", key, big.to_str().unwrap()]);
    // The proxy forwards everything and logs each request.
    let proxy = Proxy::start(&moto, &[], &tmp.path().join("proxy.log"));
    let summary = tmp.path().join("s.json");
    let (code, err) = proxy.hsmtrail(&[
        "convert",
        "s3://trail/",
        "--output",
        "s3://lake/ct/",
        "--max-file-bytes",
        "100000",
        "--quiet",
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let problem = s["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["file"].as_str().unwrap().ends_with("/big.json"))
        .unwrap();
    assert!(
        problem["reason"]
            .as_str()
            .unwrap()
            .contains("listed size, 200000 bytes"),
        "{problem}"
    );
    let log = std::fs::read_to_string(tmp.path().join("proxy.log")).unwrap();
    assert!(
        !log.contains(&format!("GET /trail/{key}")),
        "fetched: {log}"
    );
    assert!(
        log.contains("GET /trail/AWSLogs/"),
        "the others are fetched: {log}"
    );
}

#[test]
fn a_key_the_client_cannot_name_is_a_problem_and_the_listing_goes_on() {
    let moto = Moto::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    moto.tool(&["mb", "trail"]);
    moto.tool(&["mb", "lake"]);
    let dir = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01";
    // Good keys on either side of the bad ones, all on one listing page, where one bad key
    // used to fail the page and with it the whole listing. object_store would also list
    // `z.json/` as `z.json` (it strips the slash), so that one object is read twice and the
    // other never; `/lead.json` likewise as `lead.json`.
    let keys = [
        "a.json",
        "b\u{1}control.json",
        "c.json",
        "/double-slash.json",
        "./dot.json",
        "sub/../dot-dot.json",
        "z.json",
        "z.json/",
    ];
    let put = |key: &str, i: usize| {
        let local = tmp.path().join(format!("{i}.json"));
        std::fs::write(
            &local,
            format!(
                r#"{{"Records":[{{"eventTime":"2024-03-01T01:00:00Z","eventID":"e{i}","eventSource":"cloudhsm.amazonaws.com","recipientAccountId":"111122223333","awsRegion":"us-east-1"}}]}}"#
            ),
        )
        .unwrap();
        moto.tool(&["put", "trail", key, local.to_str().unwrap()]);
    };
    for (i, name) in keys.iter().enumerate() {
        put(&format!("{dir}/{name}"), i);
    }
    put("/lead.json", keys.len());
    // Not another service's folder (`.` is no service): named, not skipped.
    put(
        "AWSLogs/111122223333/./CloudTrail/us-east-1/2024/03/01/x.json",
        keys.len() + 1,
    );
    // A hidden folder is left out of a listing, but not when it is the input given.
    put("copies/.hidden/h.json", keys.len() + 2);
    // A zero-byte folder marker, as the S3 console's "Create folder" makes: not a file.
    let empty = tmp.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    moto.tool(&["put", "trail", &format!("{dir}/"), empty.to_str().unwrap()]);
    // Listed whole (one recursive listing) and folder by folder (pruned by date), the bad keys
    // are named and every good one is converted once.
    for (run, filter) in [("whole", vec![]), ("pruned", vec!["--since", "2024-03-01"])] {
        let out = format!("s3://lake/{run}/");
        let mut args = vec!["s3://trail/", "--out", &out];
        args.extend(filter);
        let (code, s) = moto.convert(&args, &tmp.path().join(format!("{run}.json")));
        assert_eq!(code, 1, "{s:#}");
        assert_eq!(s["files"]["converted"], 3, "{s:#}");
        assert_eq!(s["records"]["kept"], 3, "{s:#}");
        assert_eq!(s["records"]["duplicates"], 0, "{s:#}");
        let problems: Vec<&str> = s["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["file"].as_str().unwrap())
            .collect();
        for named in [
            "b\u{1}control.json",
            "01//",
            "01/./",
            "sub/../",
            "z.json/",
            "trail//",
            "111122223333/./",
        ] {
            assert!(
                problems.iter().any(|f| f.contains(named)),
                "{run}: {named:?} not named: {s:#}"
            );
        }
        assert_eq!(problems.len(), 7, "{run}: {s:#}");
        let reason_of = |named: &str| {
            s["problems"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["file"].as_str().unwrap().ends_with(named))
                .map(|p| p["reason"].as_str().unwrap().to_owned())
                .unwrap()
        };
        assert!(reason_of("control.json").contains("copy the object to a plain key"));
        assert!(reason_of("z.json/").contains("copy the object to a plain key"));
    }
    // One object named with a trailing `/` is that object, never `z.json` beside it.
    let one = format!("s3://trail/{dir}/z.json/");
    let (code, s) = moto.convert(
        &[&one, "--out", "s3://lake/one/"],
        &tmp.path().join("one.json"),
    );
    assert_eq!(code, 1, "{s:#}");
    assert_eq!(s["records"]["kept"], 0, "{s:#}");
    assert!(
        s["problems"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("z.json/"),
        "{s:#}"
    );
    let (code, s) = moto.convert(
        &["s3://trail/copies/.hidden/", "--out", "s3://lake/hidden/"],
        &tmp.path().join("hidden.json"),
    );
    assert_eq!(code, 0, "{s:#}");
    assert_eq!(s["records"]["kept"], 1, "{s:#}");
}

#[test]
fn verify_reads_digest_signatures_from_s3_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let made = std::process::Command::new("python3")
        .arg(crate::common::root().join("tests/make_digests.py"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let moto = Moto::start(&[]);
    moto.tool(&["mb", "trail-bucket"]);
    let local = dir.path().join("trail-bucket");
    let signatures = dir.path().join("signatures.json");
    moto.tool(&[
        "put-signed",
        "trail-bucket",
        local.to_str().unwrap(),
        signatures.to_str().unwrap(),
    ]);
    let keys = dir.path().join("keys.json");
    let verify = |url: &str| {
        let out = moto.hsmtrail(
            &[
                "verify",
                url,
                "--public-keys",
                keys.to_str().unwrap(),
                "--format",
                "json",
            ],
            ("testing", "testing"),
        );
        let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (out.status.code().unwrap(), lines, out)
    };
    // Every digest's own signature is in its metadata: the newest of each chain is proven too.
    let (code, lines, out) = verify("s3://trail-bucket/");
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["kind"] == "digest" && l["status"] == "valid")
            .count(),
        13
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["kind"] == "log" && l["status"] == "valid")
            .count(),
        25
    );
    // A log replaced in the bucket, and a newest digest uploaded again without its metadata.
    let log = lines.iter().find(|l| l["kind"] == "log").unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let edited = dir.path().join("edited.json.gz");
    std::fs::write(
        &edited,
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\xae\x05\x00\x43\xbf\xa6\xa3\x02\x00\x00\x00",
    )
    .unwrap();
    moto.tool(&["put", "trail-bucket", &log, edited.to_str().unwrap()]);
    let newest = "AWSLogs/111122223333/CloudTrail-Digest/us-west-2/2024/03/01/111122223333_CloudTrail-Digest_us-west-2_main_us-east-1_20240301T040000Z.json.gz";
    moto.tool(&[
        "put",
        "trail-bucket",
        newest,
        local.join(newest).to_str().unwrap(),
    ]);
    let (code, lines, _) = verify("s3://trail-bucket/AWSLogs/");
    assert_eq!(code, 1);
    let status = |key: &str| {
        lines
            .iter()
            .find(|l| l["key"] == key)
            .map(|l| l["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status(&log).as_deref(), Some("modified"));
    assert_eq!(status(newest).as_deref(), Some("unproven"));
}

#[test]
fn audit_logs_convert_from_s3_into_s3_beside_cloudtrail_once_however_often_run() {
    let moto = Moto::with_archive();
    moto.tool(&["mb", "hsm-logs"]);
    moto.tool(&["put-dir", "hsm-logs", "audit/", &fixture("hsm-audit")]);
    let tmp = tempfile::tempdir().unwrap();
    let summary = tmp.path().join("summary.json");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::common::root().join("fixtures/hsm-audit.expected.json"))
            .unwrap(),
    )
    .unwrap();
    let args = [
        "s3://trail/",
        "s3://hsm-logs/audit/",
        "--out",
        "s3://lake/both/",
    ];
    let (code, first) = moto.convert(&args, &summary);
    assert_eq!(code, 0, "{first}");
    assert_eq!(first["records"]["audit_entries"], expected["entries"]);
    assert_eq!(first["files"]["skipped"]["export-write-test"], 1, "{first}");
    let (code, again) = moto.convert(&args, &summary);
    assert_eq!(code, 0);
    assert_eq!(again["records"]["kept"], 0, "{again}");
    let keys = moto.keys("lake", "both/hsm_audit/");
    assert_eq!(
        keys.len(),
        2,
        "one file a day, the rerun wrote none: {keys:?}"
    );
    let out = moto.hsmtrail(
        &[
            "query",
            "--data",
            "s3://lake/both/",
            "--format",
            "csv",
            "SELECT (SELECT count(*) FROM hsm_audit) AS audit, (SELECT count(DISTINCT entry_id) FROM hsm_audit) AS distinct_entries",
        ],
        ("testing", "testing"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = expected["entries"].as_u64().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("audit,distinct_entries\n{n},{n}\n")
    );
    // The same as converting the local copies.
    let local = tmp.path().join("local");
    let (code, _) = crate::common::convert(&[&fixture("archive"), &fixture("hsm-audit")], &local);
    assert_eq!(code, 0);
    assert_eq!(
        s3_table(&moto, "lake", "both/", &tmp.path().join("fetched")).event_ids(),
        Table::read(&local).event_ids()
    );
}
