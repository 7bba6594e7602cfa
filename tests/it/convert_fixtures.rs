//! `hsmtrail convert` on the bundled fixtures: values of every column group, read back from the
//! Parquet it wrote.

use std::collections::BTreeSet;

use crate::common::{Table, convert, fixture, parquet_files};
use serde_json::{Value, json};

fn converted() -> (tempfile::TempDir, Table, Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (code, summary) = convert(&[&fixture("archive"), &fixture("formats")], &out);
    assert_eq!(code, 0, "{summary:#}");
    let table = Table::read(&out);
    (dir, table, summary)
}

#[test]
fn summary_accounts_for_every_file_and_record() {
    let (_dir, table, s) = converted();
    let r = &s["records"];
    let n = |v: &Value| v.as_u64().unwrap();
    assert_eq!(
        n(&r["read"]),
        n(&r["kept"]) + n(&r["filtered"]) + n(&r["duplicates"]) + n(&r["rejected"])
    );
    // 40 distinct CloudHSM events in the archive, 3 more in the other formats, and 10 events
    // of other services about CloudHSM (2024-03-03).
    assert_eq!(n(&r["kept"]), 53);
    assert_eq!(table.len(), 53);
    assert_eq!(n(&r["rejected"]), 0);
    // The organization trail delivered CreateCluster twice; the other formats repeat records.
    assert_eq!(n(&r["duplicates"]), 11);
    // Other services' events, three of them (an external key store, a RAM share of a subnet,
    // a Lambda log group) next to the related events kept.
    assert_eq!(n(&r["filtered"]), 17);
    assert_eq!(s["files"]["total"], 20);
    assert_eq!(s["files"]["converted"], 18);
    assert_eq!(s["files"]["failed"], 0);
    assert_eq!(s["files"]["skipped"], json!({"digest": 1, "not-json": 1}));
    assert_eq!(
        s["formats"],
        json!({"records": 10, "json-lines": 3, "array": 1, "record": 1, "lookup": 1,
               "eventbridge": 1, "cloudwatch-logs": 1})
    );
    assert_eq!(s["type_mismatches"], json!({"api_version": 1}));
}

#[test]
fn every_cloudhsm_operation_and_service_event_is_there() {
    let (_dir, t, _) = converted();
    let names: BTreeSet<String> = (0..t.len())
        .filter_map(|r| t.text(r, "event_name"))
        .collect();
    let ops = [
        "CopyBackupToRegion",
        "CreateCluster",
        "CreateHsm",
        "DeleteBackup",
        "DeleteCluster",
        "DeleteHsm",
        "DeleteResourcePolicy",
        "DescribeBackups",
        "DescribeClusters",
        "GetResourcePolicy",
        "InitializeCluster",
        "ListTags",
        "ModifyBackupAttributes",
        "ModifyCluster",
        "PutResourcePolicy",
        "RestoreBackup",
        "TagResource",
        "UntagResource",
    ];
    for op in ops {
        assert!(names.contains(op), "{op} missing");
    }
    let service: BTreeSet<String> = t
        .rows_where("event_type", "AwsServiceEvent")
        .into_iter()
        .map(|r| t.text(r, "event_name").unwrap())
        .collect();
    assert_eq!(
        service,
        [
            "BackupDeletedPermanently",
            "DeleteBackup",
            "MigrationEnd",
            "MigrationStart",
            "RollbackEnd",
            "RollbackStart"
        ]
        .map(String::from)
        .into()
    );
    // Every other event is kept for its relation to CloudHSM, and says which.
    let related: BTreeSet<(String, String)> = (0..t.len())
        .filter(|&r| t.text(r, "event_source").as_deref() != Some("cloudhsm.amazonaws.com"))
        .map(|r| {
            (
                t.text(r, "event_source").unwrap(),
                t.text(r, "cloudhsm_relation").expect("a reason to be kept"),
            )
        })
        .collect();
    assert_eq!(
        related,
        [
            ("cloudtrail.amazonaws.com", "trail-change"),
            ("kms.amazonaws.com", "kms-custom-key-store"),
            ("logs.amazonaws.com", "audit-log-group"),
            ("ram.amazonaws.com", "ram-backup-share"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .into()
    );
}

#[test]
fn event_columns() {
    let (_dir, t, _) = converted();
    let r = t.row("CreateHsm", "2024-03-01T09:10:00Z");
    assert_eq!(t.text(r, "event_version").as_deref(), Some("1.09"));
    assert_eq!(t.text(r, "event_type").as_deref(), Some("AwsApiCall"));
    assert_eq!(t.text(r, "event_category").as_deref(), Some("Management"));
    assert_eq!(t.text(r, "aws_region").as_deref(), Some("us-east-1"));
    assert_eq!(
        t.text(r, "source_ip_address").as_deref(),
        Some("198.51.100.7")
    );
    assert!(t.text(r, "user_agent").unwrap().contains("Terraform"));
    assert_eq!(
        t.text(r, "recipient_account_id").as_deref(),
        Some("111122223333")
    );
    assert_eq!(t.text(r, "event_id").unwrap().len(), 36);
    assert_eq!(t.text(r, "request_id").unwrap().len(), 36);
    assert_eq!(t.bool(r, "read_only"), Some(false));
    assert_eq!(t.bool(r, "management_event"), Some(true));
    assert_eq!(t.text(r, "tls_version").as_deref(), Some("TLSv1.3"));
    assert_eq!(
        t.text(r, "tls_cipher_suite").as_deref(),
        Some("TLS_AES_128_GCM_SHA256")
    );
    assert_eq!(
        t.text(r, "tls_client_provided_host_header").as_deref(),
        Some("cloudhsmv2.us-east-1.amazonaws.com")
    );
    assert_eq!(t.text(r, "error_code"), None);
    assert_eq!(t.bool(r, "session_credential_from_console"), None);
    assert!(
        t.text(r, "source_file")
            .unwrap()
            .ends_with("_20240301T0915Z_Aa1Bb2Cc3Dd4Ee5F.json.gz")
    );

    let r = t.row("CreateCluster", "2024-03-01T09:00:00Z");
    assert_eq!(t.bool(r, "session_credential_from_console"), Some(true));
    let r = t.row("DescribeClusters", "2024-03-01T09:05:00Z");
    assert_eq!(t.bool(r, "read_only"), Some(true));
    let r = t.row("DeleteCluster", "2024-03-01T15:00:00Z");
    assert_eq!(
        t.text(r, "error_code").as_deref(),
        Some("CloudHsmInvalidRequestException")
    );
    assert!(
        t.text(r, "error_message")
            .unwrap()
            .contains("cannot be deleted")
    );
    let r = t.row("DescribeClusters", "2024-03-01T15:10:00Z");
    assert_eq!(
        t.text(r, "vpc_endpoint_id").as_deref(),
        Some("vpce-0123456789abcdef0")
    );
    assert_eq!(
        t.text(r, "vpc_endpoint_account_id").as_deref(),
        Some("111122223333")
    );
    // Delivered late in a file of 2024-03-02: the event keeps its own time, to the millisecond.
    let r = t.row("DescribeClusters", "2024-02-28T23:59:59.500Z");
    assert!(t.text(r, "addendum").unwrap().contains("DELIVERY_DELAY"));
    // The oldest records have no eventID; they are kept.
    let r = t.row("ListHsms", "2015-06-01T12:00:00Z");
    assert_eq!(t.text(r, "event_id"), None);
    assert_eq!(t.text(r, "event_version").as_deref(), Some("1.01"));
}

#[test]
fn identity_columns_and_actor_for_every_identity_type() {
    let (_dir, t, _) = converted();
    let actor_of = |name: &str, time: &str| {
        let r = t.row(name, time);
        (t.text(r, "identity_type"), t.text(r, "actor"))
    };
    let cases = [
        (
            "CreateCluster",
            "2024-03-01T09:00:00Z",
            Some("AssumedRole"),
            "Admin/alice",
        ),
        (
            "TagResource",
            "2024-03-01T10:00:00Z",
            Some("IAMUser"),
            "bob",
        ),
        (
            "ListTags",
            "2024-03-01T10:05:00Z",
            Some("Role"),
            "PersistentAuditor",
        ),
        (
            "DescribeBackups",
            "2024-03-01T12:00:00Z",
            Some("FederatedUser"),
            "carol",
        ),
        (
            "GetResourcePolicy",
            "2024-03-01T13:05:00Z",
            Some("AWSAccount"),
            "999988887777",
        ),
        (
            "CreateHsm",
            "2024-03-01T15:05:00Z",
            Some("SAMLUser"),
            "frank@example.com",
        ),
        (
            "DescribeClusters",
            "2024-03-01T15:10:00Z",
            Some("AWSService"),
            "kms.amazonaws.com",
        ),
        (
            "DescribeBackups",
            "2024-03-01T15:15:00Z",
            Some("IdentityCenterUser"),
            "94482488-3041-7026-18f3-be45837cd0e4",
        ),
        (
            "DescribeClusters",
            "2024-03-01T15:20:00Z",
            Some("Directory"),
            "dave@example.com",
        ),
        ("ListTags", "2024-03-01T15:25:00Z", Some("Unknown"), "erin"),
        (
            "DescribeClusters",
            "2024-03-01T15:30:00Z",
            Some("WebIdentityUser"),
            "grace",
        ),
        ("DeleteHsm", "2024-03-02T08:00:00Z", Some("Root"), "root"),
        (
            "MigrationStart",
            "2024-03-02T10:01:00Z",
            None,
            "cloudhsm.amazonaws.com",
        ),
    ];
    for (name, time, identity_type, actor) in cases {
        assert_eq!(
            actor_of(name, time),
            (identity_type.map(String::from), Some(actor.to_owned())),
            "{name} {time}"
        );
    }

    let r = t.row("CreateCluster", "2024-03-01T09:00:00Z");
    assert_eq!(
        t.text(r, "identity_principal_id").as_deref(),
        Some("AROAEXAMPLEROLEID0001:alice")
    );
    assert_eq!(
        t.text(r, "identity_arn").as_deref(),
        Some("arn:aws:sts::111122223333:assumed-role/Admin/alice")
    );
    assert_eq!(
        t.text(r, "identity_account_id").as_deref(),
        Some("111122223333")
    );
    assert_eq!(
        t.text(r, "identity_access_key_id").as_deref(),
        Some("ASIAEXAMPLEKEY000001")
    );
    assert_eq!(
        t.text(r, "identity_session_issuer_type").as_deref(),
        Some("Role")
    );
    assert_eq!(
        t.text(r, "identity_session_issuer_principal_id").as_deref(),
        Some("AROAEXAMPLEROLEID0001")
    );
    assert_eq!(
        t.text(r, "identity_session_issuer_arn").as_deref(),
        Some("arn:aws:iam::111122223333:role/Admin")
    );
    assert_eq!(
        t.text(r, "identity_session_issuer_account_id").as_deref(),
        Some("111122223333")
    );
    assert_eq!(
        t.text(r, "identity_session_issuer_user_name").as_deref(),
        Some("Admin")
    );
    assert_eq!(t.bool(r, "identity_session_mfa_authenticated"), Some(true));
    assert_eq!(
        t.millis(r, "identity_session_created"),
        hsmtrail::time::parse_event_time("2024-03-01T08:55:00Z")
    );
    let r = t.row("CreateHsm", "2024-03-01T09:10:00Z");
    assert_eq!(t.bool(r, "identity_session_mfa_authenticated"), Some(false));
    let r = t.row("CreateHsm", "2024-03-01T15:05:00Z");
    assert_eq!(
        t.text(r, "identity_web_identity_provider").as_deref(),
        Some("SampleUkh1i4+ExamplexL/jEvs=")
    );
    let r = t.row("DescribeClusters", "2024-03-01T15:10:00Z");
    assert_eq!(
        t.text(r, "identity_invoked_by").as_deref(),
        Some("kms.amazonaws.com")
    );
    let r = t.row("DescribeBackups", "2024-03-01T15:15:00Z");
    assert_eq!(
        t.text(r, "identity_on_behalf_of_identity_store_arn")
            .as_deref(),
        Some("arn:aws:identitystore::111122223333:identitystore/d-9067example")
    );
    assert!(
        t.text(r, "identity_credential_id")
            .unwrap()
            .starts_with("EXAMPLE")
    );
    let r = t.row("ListTags", "2024-03-01T15:25:00Z");
    assert_eq!(t.text(r, "identity_user_name").as_deref(), Some("erin"));
}

#[test]
fn request_response_and_resource_columns() {
    let (_dir, t, _) = converted();
    let r = t.row("CreateCluster", "2024-03-01T09:00:00Z");
    assert_eq!(
        t.list(r, "request_subnet_ids").unwrap(),
        ["subnet-0aa11bb22cc33dd44", "subnet-0ee55ff66aa77bb88"]
    );
    assert_eq!(
        t.text(r, "request_hsm_type").as_deref(),
        Some("hsm1.medium")
    );
    assert_eq!(
        t.text(r, "request_backup_retention_type").as_deref(),
        Some("DAYS")
    );
    assert_eq!(
        t.text(r, "request_backup_retention_value").as_deref(),
        Some("90")
    );
    assert_eq!(t.text(r, "request_mode").as_deref(), Some("FIPS"));
    assert_eq!(t.text(r, "request_network_type").as_deref(), Some("IPV4"));
    assert_eq!(t.list(r, "request_tag_keys").unwrap(), ["env"]);
    assert_eq!(
        t.text(r, "response_cluster_id").as_deref(),
        Some("cluster-abc2def3ghi")
    );
    assert_eq!(
        t.text(r, "response_cluster_state").as_deref(),
        Some("CREATE_IN_PROGRESS")
    );
    assert_eq!(
        t.text(r, "cluster_id").as_deref(),
        Some("cluster-abc2def3ghi")
    );

    let r = t.row("CreateHsm", "2024-03-01T09:25:00Z");
    assert_eq!(
        t.text(r, "request_cluster_id").as_deref(),
        Some("cluster-abc2def3ghi")
    );
    assert_eq!(
        t.text(r, "request_availability_zone").as_deref(),
        Some("us-east-1b")
    );
    assert_eq!(
        t.text(r, "request_ip_address").as_deref(),
        Some("10.0.2.20")
    );
    assert_eq!(
        t.text(r, "response_hsm_id").as_deref(),
        Some("hsm-ddd4eee5fff")
    );
    assert_eq!(
        t.text(r, "response_hsm_state").as_deref(),
        Some("CREATE_IN_PROGRESS")
    );
    assert_eq!(
        t.text(r, "response_hsm_eni_id").as_deref(),
        Some("eni-0a1b2c3d4e5f60718")
    );
    assert_eq!(
        t.text(r, "response_hsm_eni_ip").as_deref(),
        Some("10.0.2.20")
    );
    assert_eq!(
        t.text(r, "response_hsm_subnet_id").as_deref(),
        Some("subnet-0ee55ff66aa77bb88")
    );
    assert_eq!(
        t.text(r, "response_hsm_availability_zone").as_deref(),
        Some("us-east-1b")
    );
    assert_eq!(
        t.text(r, "response_cluster_id").as_deref(),
        Some("cluster-abc2def3ghi")
    );
    assert_eq!(t.text(r, "hsm_id").as_deref(), Some("hsm-ddd4eee5fff"));

    let r = t.row("DeleteHsm", "2024-03-02T08:00:00Z");
    assert_eq!(
        t.text(r, "request_hsm_id").as_deref(),
        Some("hsm-ddd4eee5fff")
    );
    assert_eq!(
        t.text(r, "response_hsm_id").as_deref(),
        Some("hsm-ddd4eee5fff")
    );
    let r = t.row("DeleteHsm", "2024-03-02T16:00:00Z");
    assert_eq!(t.text(r, "request_eni_ip").as_deref(), Some("10.1.1.10"));
    assert_eq!(t.text(r, "hsm_id").as_deref(), Some("hsm-ggg6hhh7iii"));

    let r = t.row("InitializeCluster", "2024-03-01T09:20:00Z");
    assert_eq!(
        t.text(r, "response_state").as_deref(),
        Some("INITIALIZE_IN_PROGRESS")
    );
    assert!(
        t.text(r, "response_state_message")
            .unwrap()
            .starts_with("Cluster is initializing")
    );

    let r = t.row("TagResource", "2024-03-01T10:00:00Z");
    assert_eq!(
        t.text(r, "request_resource_id").as_deref(),
        Some("cluster-abc2def3ghi")
    );
    assert_eq!(
        t.list(r, "request_tag_keys").unwrap(),
        ["owner", "cost-center"]
    );
    assert_eq!(
        t.text(r, "cluster_id").as_deref(),
        Some("cluster-abc2def3ghi")
    );
    let r = t.row("UntagResource", "2024-03-01T10:10:00Z");
    assert_eq!(t.list(r, "request_tag_keys").unwrap(), ["cost-center"]);

    let r = t.row("ModifyBackupAttributes", "2024-03-01T11:30:00Z");
    assert_eq!(t.bool(r, "request_never_expires"), Some(true));
    assert_eq!(
        t.text(r, "request_backup_id").as_deref(),
        Some("backup-bkp2one3abc")
    );
    assert_eq!(t.text(r, "response_backup_state").as_deref(), Some("READY"));

    let r = t.row("CopyBackupToRegion", "2024-03-01T12:30:00Z");
    assert_eq!(
        t.text(r, "request_destination_region").as_deref(),
        Some("us-west-2")
    );
    assert_eq!(
        t.text(r, "backup_id").as_deref(),
        Some("backup-bkp2one3abc")
    );

    let r = t.row("PutResourcePolicy", "2024-03-01T13:00:00Z");
    let arn = "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-bkp2one3abc";
    assert_eq!(t.text(r, "request_resource_arn").as_deref(), Some(arn));
    assert_eq!(
        t.text(r, "backup_id").as_deref(),
        Some("backup-bkp2one3abc")
    );

    let r = t.row("DeleteBackup", "2024-03-01T14:00:00Z");
    assert_eq!(
        t.text(r, "response_backup_id").as_deref(),
        Some("backup-bkp2one3abc")
    );
    assert_eq!(
        t.text(r, "response_backup_state").as_deref(),
        Some("PENDING_DELETION")
    );
    assert_eq!(t.text(r, "response_backup_arn").as_deref(), Some(arn));
    assert_eq!(
        t.text(r, "cluster_id").as_deref(),
        Some("cluster-abc2def3ghi")
    );

    let r = t.row("CreateCluster", "2024-03-02T12:00:00Z");
    assert_eq!(
        t.text(r, "request_source_backup_id").as_deref(),
        Some("backup-bkp3cpy4jkl")
    );
    assert_eq!(
        t.text(r, "cluster_id").as_deref(),
        Some("cluster-xyz7uvw6rst")
    );
    assert_eq!(
        t.text(r, "backup_id").as_deref(),
        Some("backup-bkp3cpy4jkl")
    );

    // Service events: resources come from serviceEventDetails.
    let r = t.row("BackupDeletedPermanently", "2024-03-09T09:00:01Z");
    assert_eq!(
        t.text(r, "backup_id").as_deref(),
        Some("backup-bkp4two5def")
    );
    assert_eq!(
        t.text(r, "cluster_id").as_deref(),
        Some("cluster-abc2def3ghi")
    );
    let details: Value =
        serde_json::from_str(&t.text(r, "service_event_details").unwrap()).unwrap();
    assert_eq!(details["backupId"], "backup-bkp4two5def");
    let r = t.row("RollbackEnd", "2024-03-03T10:15:00Z");
    assert_eq!(
        t.text(r, "cluster_id").as_deref(),
        Some("cluster-abc2def3ghi")
    );
}

#[test]
fn raw_json_extra_and_type_mismatches() {
    let (_dir, t, _) = converted();
    let r = t.row("CreateHsm", "2024-03-01T09:10:00Z");
    let req: Value = serde_json::from_str(&t.text(r, "request_parameters").unwrap()).unwrap();
    assert_eq!(
        req,
        json!({"clusterId": "cluster-abc2def3ghi", "availabilityZone": "us-east-1a"})
    );
    let ui: Value = serde_json::from_str(&t.text(r, "user_identity").unwrap()).unwrap();
    assert_eq!(
        ui["sessionContext"]["sessionIssuer"]["userName"],
        "CloudHSMOperator"
    );
    assert!(t.text(r, "tls_details").unwrap().contains("TLSv1.3"));
    assert_eq!(t.text(r, "extra"), None);
    assert_eq!(t.list(r, "type_mismatches"), None);
    // Read-only calls log responseElements as null; the raw column says so.
    let r = t.row("DescribeClusters", "2024-03-01T09:05:00Z");
    assert_eq!(t.text(r, "response_elements").as_deref(), Some("null"));
    assert_eq!(t.text(r, "additional_event_data"), None);

    // Drift: an unknown key, readOnly as a string, a number where a string belongs.
    let r = t.row("DescribeClusters", "2024-03-02T10:30:00Z");
    let extra: Value = serde_json::from_str(&t.text(r, "extra").unwrap()).unwrap();
    assert_eq!(
        extra,
        json!({"futureField": {"introducedIn": "1.12"}, "readOnly": "true", "apiVersion": 20170428})
    );
    assert_eq!(t.bool(r, "read_only"), Some(true));
    assert_eq!(t.text(r, "api_version"), None);
    assert_eq!(t.list(r, "type_mismatches").unwrap(), ["api_version"]);
}

#[test]
fn date_partitions_follow_event_time_and_files_are_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (code, _) = convert(&[&fixture("archive"), &fixture("formats")], &out);
    assert_eq!(code, 0);
    let files = parquet_files(&out);
    let partitions: Vec<String> = files
        .iter()
        .map(|f| {
            f.parent()
                .unwrap()
                .strip_prefix(&out)
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(
        partitions,
        [
            "event_date=2015-06-01",
            "event_date=2024-02-28",
            "event_date=2024-03-01",
            "event_date=2024-03-02",
            "event_date=2024-03-03",
            "event_date=2024-03-04",
            "event_date=2024-03-09"
        ]
    );
    let names: BTreeSet<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "one file name per run: {names:?}");
    for file in &files {
        let batch = crate::common::read_parquet(file);
        let t = Table { batch };
        let times: Vec<i64> = (0..t.len())
            .map(|r| t.millis(r, "event_time").unwrap())
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{} not sorted",
            file.display()
        );
        let day = file
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()[11..]
            .to_owned();
        assert!(times.iter().all(|ms| hsmtrail::time::date_of(*ms) == day));
    }
    // Nothing hidden or temporary is left behind.
    let leftovers: Vec<_> = walkdir::WalkDir::new(&out)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn every_record_rebuilds_from_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (code, summary) = convert(
        &[
            &fixture("archive"),
            &fixture("formats"),
            "--all-sources",
            "--keep-duplicates",
        ],
        &out,
    );
    assert_eq!(code, 0, "{summary:#}");
    let t = Table::read(&out);
    let mut rebuilt: Vec<String> = (0..t.len())
        .map(|r| hsmtrail::rebuild::rebuild(&t.batch, r).unwrap().to_string())
        .collect();
    let mut inputs = Vec::new();
    for root in [fixture("archive"), fixture("formats")] {
        for entry in walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
        {
            let wanted = entry.file_type().is_file()
                && !entry.path().to_string_lossy().contains("CloudTrail-Digest");
            if let Some(records) = wanted
                .then(|| crate::common::independent_records(entry.path()))
                .flatten()
            {
                inputs.extend(records.into_iter().map(|r| r.to_string()));
            }
        }
    }
    rebuilt.sort();
    inputs.sort();
    assert_eq!(rebuilt.len(), 81);
    assert_eq!(rebuilt, inputs);
}
