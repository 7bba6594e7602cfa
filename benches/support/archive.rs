//! The archive generator shared by `examples/generate.rs` (files on disk for the end-to-end
//! benchmark) and `benches/convert.rs` (delivery files in memory): deterministic, realistic
//! CloudTrail records, about 800 a delivery file, with a chosen share of CloudHSM events.

use std::fmt::Write as _;

use serde_json::{Value, json};

/// SplitMix64: small, fast and deterministic everywhere.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: f64) -> bool {
        (self.next() as f64 / u64::MAX as f64) * 100.0 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            write!(s, "{:016x}", self.next()).unwrap();
        }
        s.truncate(len);
        s
    }
    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-8{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }
}

const ACCOUNTS: &[&str] = &["111122223333", "444455556666", "777788889999"];
const REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-west-1"];
const AGENTS: &[&str] = &[
    "aws-cli/2.15.22 Python/3.11.6 Linux/6.1.0 exe/x86_64.debian.12 prompt/off",
    "Boto3/1.34.50 md/Botocore#1.34.50 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.6",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.0 md/GOOS#linux md/GOARCH#amd64",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36",
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.4 terraform-provider-aws/5.39.0 aws-sdk-go/1.50.30",
];

/// Other services: (eventSource, event names, read-only, weight).
const SERVICES: &[(&str, &[&str], bool, u64)] = &[
    (
        "kms.amazonaws.com",
        &["Decrypt", "GenerateDataKey", "Encrypt"],
        true,
        30,
    ),
    (
        "sts.amazonaws.com",
        &["AssumeRole", "GetCallerIdentity"],
        true,
        20,
    ),
    (
        "ec2.amazonaws.com",
        &[
            "DescribeInstances",
            "DescribeVolumes",
            "DescribeSecurityGroups",
        ],
        true,
        15,
    ),
    (
        "s3.amazonaws.com",
        &["GetBucketAcl", "ListBuckets", "GetBucketLocation"],
        true,
        10,
    ),
    (
        "logs.amazonaws.com",
        &["CreateLogStream", "DescribeLogGroups"],
        false,
        8,
    ),
    (
        "iam.amazonaws.com",
        &["ListRoles", "GetRole", "ListPolicies"],
        true,
        6,
    ),
    (
        "lambda.amazonaws.com",
        &["ListFunctions20150331", "GetFunction20150331v2"],
        true,
        5,
    ),
    (
        "ssm.amazonaws.com",
        &["GetParameter", "DescribeInstanceInformation"],
        true,
        4,
    ),
    (
        "secretsmanager.amazonaws.com",
        &["GetSecretValue", "DescribeSecret"],
        true,
        2,
    ),
];

/// CloudHSM operations: (event name, read-only).
const CLOUDHSM: &[(&str, bool)] = &[
    ("DescribeClusters", true),
    ("DescribeBackups", true),
    ("ListTags", true),
    ("CreateHsm", false),
    ("DeleteHsm", false),
    ("CreateCluster", false),
    ("ModifyCluster", false),
    ("DeleteBackup", false),
    ("TagResource", false),
    ("InitializeCluster", false),
];

fn identity(rng: &mut Rng, account: &str) -> Value {
    match rng.below(100) {
        0..=69 => {
            let role = rng.pick(&["Admin", "Deploy", "ReadOnly", "Lambda-exec", "ecs-task"]);
            let session = format!("session-{}", rng.hex(8));
            json!({
                "type": "AssumedRole",
                "principalId": format!("AROA{}:{}", rng.hex(16).to_uppercase(), session),
                "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
                "accountId": account,
                "accessKeyId": format!("ASIA{}", rng.hex(16).to_uppercase()),
                "sessionContext": {
                    "sessionIssuer": {"type": "Role", "principalId": format!("AROA{}", rng.hex(16).to_uppercase()),
                        "arn": format!("arn:aws:iam::{account}:role/{role}"), "accountId": account, "userName": role},
                    "webIdFederationData": {},
                    "attributes": {"creationDate": "2024-03-01T00:00:00Z", "mfaAuthenticated": if rng.chance(30.0) { "true" } else { "false" }}
                }
            })
        }
        70..=84 => {
            let user = rng.pick(&["alice", "bob", "ci-bot", "backup-job"]);
            json!({"type": "IAMUser", "principalId": format!("AIDA{}", rng.hex(16).to_uppercase()),
                   "arn": format!("arn:aws:iam::{account}:user/{user}"), "accountId": account,
                   "accessKeyId": format!("AKIA{}", rng.hex(16).to_uppercase()), "userName": user})
        }
        85..=98 => {
            json!({"type": "AWSService", "invokedBy": rng.pick(&["lambda.amazonaws.com", "ec2.amazonaws.com", "cloudformation.amazonaws.com"])})
        }
        _ => {
            json!({"type": "Root", "principalId": account, "arn": format!("arn:aws:iam::{account}:root"), "accountId": account})
        }
    }
}

pub fn record(rng: &mut Rng, cloudhsm_percent: f64, account: &str, region: &str, ms: i64) -> Value {
    let time = chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let cluster = format!("cluster-{}", &rng.hex(11));
    let (source, name, read_only, request, response) = if rng.chance(cloudhsm_percent) {
        let (name, read_only) = *rng.pick(CLOUDHSM);
        let request = match name {
            "CreateHsm" => json!({"clusterId": cluster, "availabilityZone": format!("{region}a")}),
            "DeleteHsm" => json!({"clusterId": cluster, "hsmId": format!("hsm-{}", rng.hex(11))}),
            "CreateCluster" => {
                json!({"hsmType": "hsm2m.medium", "subnetIds": [format!("subnet-{}", rng.hex(17))], "backupRetentionPolicy": {"type": "DAYS", "value": "90"}})
            }
            "DeleteBackup" => json!({"backupId": format!("backup-{}", rng.hex(11))}),
            "TagResource" => {
                json!({"resourceId": cluster, "tagList": [{"key": "env", "value": "prod"}]})
            }
            "ListTags" => json!({"resourceId": cluster}),
            _ => json!({"clusterId": cluster}),
        };
        let response = match name {
            "CreateHsm" => {
                json!({"hsm": {"hsmId": format!("hsm-{}", rng.hex(11)), "clusterId": cluster, "state": "CREATE_IN_PROGRESS", "availabilityZone": format!("{region}a"), "eniId": format!("eni-{}", rng.hex(17)), "eniIp": "10.0.1.10", "subnetId": format!("subnet-{}", rng.hex(17))}})
            }
            "CreateCluster" | "ModifyCluster" => {
                json!({"cluster": {"clusterId": cluster, "state": "CREATE_IN_PROGRESS", "hsmType": "hsm2m.medium", "backupPolicy": "DEFAULT"}})
            }
            "DeleteBackup" => {
                json!({"backup": {"backupId": format!("backup-{}", rng.hex(11)), "backupState": "PENDING_DELETION", "clusterId": cluster}})
            }
            _ => Value::Null,
        };
        ("cloudhsm.amazonaws.com", name, read_only, request, response)
    } else {
        let mut pick = rng.below(SERVICES.iter().map(|s| s.3).sum());
        let service = SERVICES
            .iter()
            .find(|s| {
                if pick < s.3 {
                    true
                } else {
                    pick -= s.3;
                    false
                }
            })
            .expect("weights cover the range");
        let name = *rng.pick(service.1);
        let request = json!({"keyId": format!("arn:aws:kms:{region}:{account}:key/{}", rng.uuid()),
                             "encryptionContext": {"aws:lambda:FunctionArn": format!("arn:aws:lambda:{region}:{account}:function:f-{}", rng.hex(6))}});
        (service.0, name, service.2, request, Value::Null)
    };
    let mut r = json!({
        "eventVersion": "1.09",
        "userIdentity": identity(rng, account),
        "eventTime": time,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": format!("{}.{}.{}.{}", rng.below(223) + 1, rng.below(256), rng.below(256), rng.below(256)),
        "userAgent": rng.pick(AGENTS),
        "requestParameters": request,
        "responseElements": response,
        "requestID": rng.uuid(),
        "eventID": rng.uuid(),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                       "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.split('.').next().unwrap())}
    });
    if rng.chance(20.0) {
        r["resources"] = json!([{"accountId": account, "type": "AWS::KMS::Key", "ARN": format!("arn:aws:kms:{region}:{account}:key/{}", rng.uuid())}]);
    }
    r
}

/// Records per delivery file, as CloudTrail writes them for a busy account.
pub const RECORDS_PER_FILE: usize = 800;

/// The start of generated archives: 2024-03-01T00:00:00Z.
pub const START_MS: i64 = 1_709_251_200_000;

/// One delivery file: its S3 key and its JSON body. `ms` is the running event clock.
pub fn delivery_file(rng: &mut Rng, percent: f64, index: u64, ms: &mut i64) -> (String, Vec<u8>) {
    let account = ACCOUNTS[(index % ACCOUNTS.len() as u64) as usize];
    let region = REGIONS[(index / 3 % REGIONS.len() as u64) as usize];
    let records: Vec<Value> = (0..RECORDS_PER_FILE)
        .map(|_| {
            *ms += rng.below(400) as i64;
            record(rng, percent, account, region, *ms)
        })
        .collect();
    let body = serde_json::to_vec(&json!({"Records": records})).expect("JSON serialises");
    let t = chrono::DateTime::from_timestamp_millis(*ms).expect("a valid time");
    let key = format!(
        "AWSLogs/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}_{}.json.gz",
        t.format("%Y/%m/%d"),
        t.format("%Y%m%dT%H%MZ"),
        rng.hex(16)
    );
    (key, body)
}
