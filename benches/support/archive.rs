//! The archive generator shared by `examples/generate.rs` (files on disk for the end-to-end
//! benchmark), `benches/convert.rs` (delivery files in memory) and the integration tests:
//! deterministic CloudTrail delivery files of 800 records, with a chosen share of CloudHSM
//! events.
//!
//! Calibrated against the real trails in `../shared/realdata` (benches/RESULTS.md has the
//! figures side by side). A busy account's trail is mostly automation: Lambda functions and
//! instances calling KMS, Secrets Manager and SSM with the same few keys, AWS services assuming
//! roles (with new session tokens in the response), AWS Config and Terraform describing
//! everything, a few people in the console. So each account has a fixed cast (functions,
//! instances, people, keys, buckets...) whose IDs, addresses and user agents repeat from call
//! to call, sessions that are renewed every so often, and calls that come in runs (one actor
//! makes several in a row). Request and event IDs are unique per event, as in real trails.
//! Records are written with CloudTrail's own key order.

use std::fmt::Write as _;

/// SplitMix64: small, fast and deterministic everywhere.
pub struct Rng(pub u64);

const UPPER_HEX: &[u8] = b"0123456789ABCDEF";
/// The characters of AWS's unique IDs (`AROA...`, `AKIA...`).
const UPPER32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// The characters of CloudHSM IDs (`cluster-fw7mh6mayb5`).
const LOWER32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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
    /// One of `items`, each as likely as its weight.
    fn pick_weighted<'a, T>(&mut self, items: &'a [T], weight: impl Fn(&T) -> u64) -> &'a T {
        let mut left = self.below(items.iter().map(&weight).sum());
        for item in items {
            let w = weight(item);
            if left < w {
                return item;
            }
            left -= w;
        }
        unreachable!("the weights cover the range")
    }
    /// An index below `n`, the first ones more likely (weights 1, 1/2, 1/3...): a few
    /// functions, keys or buckets take most of the calls, as in real accounts.
    fn skewed(&mut self, n: usize) -> usize {
        let weights: Vec<u64> = (1..=n as u64).map(|i| 2520 / i).collect();
        let mut left = self.below(weights.iter().sum());
        for (i, w) in weights.iter().enumerate() {
            if left < *w {
                return i;
            }
            left -= w;
        }
        n - 1
    }
    fn chars(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| alphabet[self.below(alphabet.len() as u64) as usize] as char)
            .collect()
    }
    fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len + 16);
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
    fn ip(&mut self, first: &[u8]) -> String {
        format!(
            "{}.{}.{}.{}",
            self.pick(first),
            self.below(256),
            self.below(256),
            1 + self.below(254)
        )
    }
}

/// A generator fixed by `parts` alone (an account, a kind of thing, an index, a session
/// number), so that a function, an instance or a key keeps its IDs in every file and run.
fn stable(parts: &[u64]) -> Rng {
    let mut r = Rng(0x5DEE_CE66_D1CE_4E5B);
    for &p in parts {
        r.0 ^= p;
        r.0 = r.next();
    }
    r
}

/// FNV-1a, to turn names into seeds.
fn seed_of(text: &str) -> u64 {
    text.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01B3)
    })
}

/// The UTC time of `ms` since the epoch.
fn utc(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).expect("a time within chrono's range")
}

/// `2024-03-01T00:15:48Z`, as eventTime and creationDate are written.
fn iso(ms: i64) -> String {
    utc(ms).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `Mar 1, 2024, 8:33:21 PM`, as STS writes credential expirations.
fn spoken(ms: i64) -> String {
    utc(ms).format("%b %-d, %Y, %-I:%M:%S %p").to_string()
}

const ACCOUNTS: &[&str] = &["111122223333", "444455556666", "777788889999"];
const REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-west-1"];
/// Other accounts using this account's shared KMS key.
const PARTNERS: &[&str] = &["210987654321", "098765432109"];

const FUNCTIONS: &[&str] = &[
    "orders-api",
    "payments-worker",
    "invoice-renderer",
    "auth-authorizer",
    "image-thumbnailer",
    "webhook-relay",
];
/// Instance tiers; instance `i` is of tier `i % 3` and uses its instance role.
const TIERS: &[&str] = &["web", "worker", "bastion"];
const PEOPLE: &[&str] = &["alice", "bob", "carol"];
const USERS: &[&str] = &["ci-bot", "backup-job", "legacy-etl"];
const BUCKETS: &[&str] = &[
    "app-artifacts",
    "data-lake-raw",
    "static-site",
    "access-logs",
    "backups",
    "cloudtrail-logs",
];
const TABLES: &[&str] = &["orders", "sessions", "customers", "idempotency-keys"];
const SECRETS: &[&str] = &[
    "prod/orders/db",
    "prod/payments/stripe",
    "prod/auth/jwt-signing",
    "prod/shared/datadog",
];
const PARAMETERS: &[&str] = &[
    "/orders/prod/db-host",
    "/orders/prod/feature-flags",
    "/payments/prod/endpoint",
    "/shared/prod/log-level",
    "/auth/prod/issuer",
];
const ROLES: &[&str] = &[
    "orders-api-role",
    "payments-worker-role",
    "ec2-web-role",
    "ec2-worker-role",
    "github-actions-deploy",
    "ecs-task-orders",
    "AWSServiceRoleForConfig",
    "cloudhsm-operator",
];
const POLICIES: &[&str] = &[
    "orders-data-access",
    "payments-kms-use",
    "ci-deploy",
    "read-only-audit",
];
/// KMS key aliases; key `i` of an account has alias `i`. The last is asymmetric (signing).
const KEY_ALIASES: &[&str] = &[
    "orders",
    "payments",
    "secrets",
    "s3-default",
    "ebs-default",
    "partner-shared",
    "jwt-signing",
];
const LOAD_BALANCERS: &[&str] = &["orders-public", "internal-api"];
const DATABASES: &[&str] = &["orders-db", "payments-db"];
const STACKS: &[&str] = &[
    "network",
    "orders-service",
    "payments-service",
    "observability",
];
const ALARMS: &[&str] = &["orders-api-5xx", "payments-dlq-depth", "db-cpu-high"];
const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36 Edg/121.0.2277.128",
];

/// Who makes a call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A Lambda function's execution role.
    App,
    /// An EC2 instance's role, mostly the SSM agent.
    Agent,
    /// An AWS service on the account's behalf (`AWSService`).
    Service,
    /// Terraform in CI, through GitHub's OIDC provider.
    Pipeline,
    /// A person in the console, through IAM Identity Center.
    Console,
    /// An IAM user with a long-term access key.
    User,
    /// AWS Config recording the account's resources.
    Recorder,
    /// Another account using a shared KMS key (`AWSAccount`).
    Partner,
    /// A web identity getting credentials (GitHub Actions, EKS pods).
    Federated,
    /// The root user.
    Root,
}

/// Each kind's weight, how many of it an account has, and how many calls one of them makes
/// in a row on average. People, pipelines, batch jobs and AWS Config are only active part of
/// the time (see [`active`]), so a delivery file holds some of them, not all.
const KINDS: &[(Kind, u64, usize, u64)] = &[
    (Kind::App, 34, 4, 3),
    (Kind::Agent, 15, 3, 4),
    (Kind::Service, 20, 1, 1),
    (Kind::Pipeline, 24, 2, 24),
    (Kind::Console, 8, 3, 6),
    (Kind::User, 12, 3, 4),
    (Kind::Recorder, 24, 1, 16),
    (Kind::Partner, 5, 1, 3),
    (Kind::Federated, 2, 2, 1),
    (Kind::Root, 8, 1, 2),
];

/// Whether an actor works at time `ms`: functions, instances, services and partners always;
/// a pipeline run a quarter of the time, people and batch jobs in their own stretches, AWS
/// Config a third of the time, the root user five minutes in every eight hours.
fn active(seed: u64, ms: i64, actor: Actor) -> bool {
    let slot = |minutes: i64| (ms / (minutes * 60_000)) as u64 + seed % 97 + actor.who as u64;
    match actor.kind {
        Kind::Pipeline => slot(15) % 4 == 0,
        Kind::Console => slot(20) % 3 == 0,
        Kind::User => slot(30) % 4 == 0,
        Kind::Recorder => slot(10) % 3 == 0,
        Kind::Root => slot(5) % 96 == 0,
        Kind::Federated if actor.who == 0 => slot(15) % 4 == 0,
        _ => true,
    }
}

/// Calls of each kind: (service, event name, weight).
const APP_CALLS: &[(&str, &str, u64)] = &[
    ("kms", "Decrypt", 34),
    ("kms", "GenerateDataKey", 10),
    ("kms", "Encrypt", 3),
    ("kms", "Sign", 6),
    ("secretsmanager", "GetSecretValue", 12),
    ("ssm", "GetParameter", 9),
    ("ssm", "GetParametersByPath", 2),
    ("sts", "GetCallerIdentity", 5),
    ("dynamodb", "DescribeTable", 4),
    ("sqs", "GetQueueUrl", 3),
    ("logs", "CreateLogStream", 2),
];
const AGENT_CALLS: &[(&str, &str, u64)] = &[
    ("ssm", "UpdateInstanceInformation", 8),
    ("ssm", "ListInstanceAssociations", 18),
    ("ssm", "GetParameter", 4),
    ("ec2", "DescribeTags", 3),
    ("ecr", "GetAuthorizationToken", 8),
    ("kms", "Decrypt", 4),
    ("logs", "DescribeLogStreams", 2),
    ("logs", "CreateLogStream", 2),
    ("sts", "GetCallerIdentity", 3),
];
/// AWS services' calls: (the service acting, service called, event name, weight).
const SERVICE_CALLS: &[(&str, &str, &str, u64)] = &[
    ("lambda.amazonaws.com", "sts", "AssumeRole", 6),
    ("ecs-tasks.amazonaws.com", "sts", "AssumeRole", 3),
    ("ec2.amazonaws.com", "sts", "AssumeRole", 2),
    ("config.amazonaws.com", "sts", "AssumeRole", 1),
    ("secretsmanager.amazonaws.com", "kms", "Decrypt", 10),
    ("s3.amazonaws.com", "kms", "GenerateDataKey", 3),
    ("s3.amazonaws.com", "kms", "Decrypt", 2),
    ("ssm.amazonaws.com", "kms", "Decrypt", 4),
    ("eks.amazonaws.com", "kms", "Encrypt", 2),
    ("eks.amazonaws.com", "kms", "Decrypt", 4),
    ("delivery.logs.amazonaws.com", "logs", "CreateLogStream", 6),
    ("cloudtrail.amazonaws.com", "s3", "GetBucketAcl", 3),
];
const PIPELINE_CALLS: &[(&str, &str, u64)] = &[
    ("ec2", "DescribeVpcs", 4),
    ("ec2", "DescribeVpcAttribute", 3),
    ("ec2", "DescribeSubnets", 5),
    ("ec2", "DescribeSecurityGroups", 6),
    ("ec2", "DescribeRouteTables", 2),
    ("ec2", "DescribeInstances", 3),
    ("ec2", "CreateTags", 1),
    ("iam", "GetRole", 5),
    ("iam", "ListRolePolicies", 3),
    ("iam", "ListAttachedRolePolicies", 3),
    ("iam", "GetPolicy", 2),
    ("s3", "GetBucketAcl", 2),
    ("s3", "GetBucketPolicy", 2),
    ("s3", "GetBucketVersioning", 2),
    ("kms", "DescribeKey", 3),
    ("kms", "GetKeyPolicy", 2),
    ("lambda", "GetFunction20150331v2", 3),
    ("logs", "DescribeLogGroups", 3),
    ("elasticloadbalancing", "DescribeLoadBalancers", 2),
    ("elasticloadbalancing", "DescribeTargetGroups", 2),
    ("dynamodb", "DescribeTable", 2),
    ("sts", "GetCallerIdentity", 2),
];
/// How often an actor makes its last call again (%).
const REPEAT_PERCENT: f64 = 50.0;
/// Pipeline runs launch an instance now and then (the biggest responses in a trail).
const RUN_INSTANCES_PER_MILLE: u64 = 4;
const CONSOLE_CALLS: &[(&str, &str, u64)] = &[
    ("ec2", "DescribeInstances", 6),
    ("ec2", "DescribeSecurityGroups", 3),
    ("s3", "ListBuckets", 4),
    ("s3", "GetBucketLocation", 2),
    ("s3", "GetBucketPolicy", 1),
    ("cloudtrail", "LookupEvents", 2),
    ("cloudtrail", "DescribeTrails", 1),
    ("monitoring", "DescribeAlarms", 4),
    ("monitoring", "GetMetricData", 3),
    ("iam", "ListRoles", 2),
    ("cloudformation", "DescribeStacks", 3),
    ("rds", "DescribeDBInstances", 2),
    ("lambda", "ListFunctions20150331", 2),
    ("logs", "DescribeLogGroups", 2),
    ("health", "DescribeEventAggregates", 1),
    ("signin", "ConsoleLogin", 1),
    ("kms", "ListAliases", 1),
    ("secretsmanager", "ListSecrets", 1),
];
const USER_CALLS: &[(&str, &str, u64)] = &[
    ("ec2", "DescribeSnapshots", 4),
    ("ec2", "CreateSnapshot", 2),
    ("ec2", "CreateTags", 2),
    ("ec2", "DescribeVolumes", 3),
    ("rds", "DescribeDBSnapshots", 3),
    ("s3", "ListBuckets", 3),
    ("s3", "GetBucketLocation", 2),
    ("sts", "GetCallerIdentity", 3),
    ("ecr", "GetAuthorizationToken", 4),
    ("dynamodb", "DescribeTable", 2),
    ("cloudformation", "DescribeStacks", 2),
];
const RECORDER_CALLS: &[(&str, &str, u64)] = &[
    ("ec2", "DescribeSecurityGroups", 4),
    ("ec2", "DescribeVpcs", 2),
    ("ec2", "DescribeSubnets", 3),
    ("ec2", "DescribeInstances", 4),
    ("ec2", "DescribeVolumes", 2),
    ("ec2", "DescribeNetworkInterfaces", 2),
    ("iam", "GetRole", 3),
    ("iam", "ListAttachedRolePolicies", 2),
    ("s3", "GetBucketAcl", 2),
    ("s3", "GetBucketPolicy", 2),
    ("s3", "GetBucketVersioning", 2),
    ("s3", "GetBucketEncryption", 1),
    ("s3", "GetBucketTagging", 2),
    ("s3", "GetBucketPublicAccessBlock", 1),
    ("kms", "DescribeKey", 2),
    ("kms", "GetKeyRotationStatus", 1),
    ("lambda", "GetFunction20150331v2", 2),
    ("rds", "DescribeDBInstances", 2),
    ("elasticloadbalancing", "DescribeTags", 1),
    ("config", "PutEvaluations", 3),
];
const PARTNER_CALLS: &[(&str, &str, u64)] = &[
    ("kms", "Decrypt", 6),
    ("kms", "GenerateDataKey", 3),
    ("kms", "Sign", 3),
    ("kms", "DescribeKey", 1),
];
const FEDERATED_CALLS: &[(&str, &str, u64)] = &[("sts", "AssumeRoleWithWebIdentity", 1)];
const ROOT_CALLS: &[(&str, &str, u64)] = &[
    ("signin", "ConsoleLogin", 1),
    ("iam", "GetAccountSummary", 2),
    ("s3", "ListBuckets", 1),
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

fn calls(kind: Kind) -> &'static [(&'static str, &'static str, u64)] {
    match kind {
        Kind::App => APP_CALLS,
        Kind::Agent => AGENT_CALLS,
        Kind::Pipeline => PIPELINE_CALLS,
        Kind::Console => CONSOLE_CALLS,
        Kind::User => USER_CALLS,
        Kind::Recorder => RECORDER_CALLS,
        Kind::Partner => PARTNER_CALLS,
        Kind::Federated => FEDERATED_CALLS,
        Kind::Root => ROOT_CALLS,
        Kind::Service => &[],
    }
}

#[derive(Clone, Copy)]
struct Actor {
    kind: Kind,
    who: usize,
}

/// The actor of the current run of calls, how many calls it has left, and its last call
/// (service, event name), which it often makes again: a function decrypts with each
/// invocation, an agent polls.
struct Run {
    actor: Actor,
    left: u64,
    last: Option<(&'static str, &'static str)>,
}

impl Run {
    fn next(&mut self, rng: &mut Rng, c: &Ctx) -> Actor {
        while self.left == 0 {
            let (kind, _, pool, length) = *rng.pick_weighted(KINDS, |k| 1 + k.1 * 1000 / k.3);
            let actor = Actor {
                kind,
                who: rng.skewed(pool),
            };
            if active(c.seed, c.ms, actor) {
                self.actor = actor;
                self.left = 1 + rng.below(2 * length - 1);
                self.last = None;
            }
        }
        self.left -= 1;
        self.actor
    }
}

/// One account and region at one time: everything a record is made from.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    account: &'a str,
    region: &'a str,
    seed: u64,
    ms: i64,
}

/// What kind of thing a stable ID names (keeps the IDs of different things apart).
mod what {
    pub const ROLE: u64 = 1;
    pub const KEY: u64 = 2;
    pub const INSTANCE: u64 = 3;
    pub const VPC: u64 = 4;
    pub const SUBNET: u64 = 5;
    pub const GROUP: u64 = 6;
    pub const VOLUME: u64 = 7;
    pub const SECRET: u64 = 8;
    pub const SESSION: u64 = 9;
    pub const ADDRESS: u64 = 10;
    pub const USER: u64 = 11;
    pub const ENDPOINT: u64 = 12;
    pub const CLUSTER: u64 = 13;
    pub const HSM: u64 = 14;
    pub const BACKUP: u64 = 15;
    pub const BALANCER: u64 = 16;
    pub const PROVIDER: u64 = 17;
}

impl Ctx<'_> {
    fn id(&self, what: u64, index: usize) -> Rng {
        stable(&[self.seed, what, index as u64])
    }
    /// The session an actor is in now: renewed every `period` ms (at a time of its own), as
    /// temporary credentials are. Returns its generator and start.
    fn session(&self, actor: Actor, period: i64) -> (Rng, i64) {
        let tag = actor.kind as u64 * 64 + actor.who as u64;
        let offset = (self.id(what::SESSION, tag as usize).next() % period as u64) as i64;
        let n = (self.ms + offset).div_euclid(period);
        (
            stable(&[self.seed, what::SESSION, tag, n as u64]),
            n * period - offset,
        )
    }
    fn key_arn(&self, index: usize) -> String {
        format!(
            "arn:aws:kms:{}:{}:key/{}",
            self.region,
            self.account,
            self.id(what::KEY, index).uuid()
        )
    }
    fn instance(&self, index: usize) -> String {
        format!("i-{}", self.id(what::INSTANCE, index).hex(17))
    }
    fn vpc(&self, index: usize) -> String {
        format!("vpc-{}", self.id(what::VPC, index % 2).hex(17))
    }
    fn subnet(&self, index: usize) -> String {
        format!("subnet-{}", self.id(what::SUBNET, index % 6).hex(17))
    }
    fn group(&self, index: usize) -> String {
        format!("sg-{}", self.id(what::GROUP, index % 8).hex(17))
    }
    fn volume(&self, index: usize) -> String {
        format!("vol-{}", self.id(what::VOLUME, index % 8).hex(17))
    }
    fn bucket(&self, index: usize) -> String {
        format!("acme-{}-{}", BUCKETS[index % BUCKETS.len()], self.account)
    }
    fn function_arn(&self, index: usize) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.region,
            self.account,
            FUNCTIONS[index % FUNCTIONS.len()]
        )
    }
    fn secret_arn(&self, index: usize) -> String {
        format!(
            "arn:aws:secretsmanager:{}:{}:secret:{}-{}",
            self.region,
            self.account,
            SECRETS[index % SECRETS.len()],
            self.id(what::SECRET, index).chars(ALNUM, 6)
        )
    }
    fn role_arn(&self, role: &str) -> String {
        format!("arn:aws:iam::{}:role/{role}", self.account)
    }
    fn role_id(&self, role: &str) -> String {
        format!(
            "AROA{}",
            stable(&[self.seed, what::ROLE, seed_of(role)]).chars(UPPER32, 17)
        )
    }
    fn balancer_arn(&self, index: usize) -> String {
        format!(
            "arn:aws:elasticloadbalancing:{}:{}:loadbalancer/app/{}/{}",
            self.region,
            self.account,
            LOAD_BALANCERS[index % LOAD_BALANCERS.len()],
            self.id(what::BALANCER, index % LOAD_BALANCERS.len())
                .hex(16)
        )
    }
    fn cluster(&self, index: usize) -> String {
        format!(
            "cluster-{}",
            self.id(what::CLUSTER, index % 3).chars(LOWER32, 11)
        )
    }
    fn nat_ip(&self, index: u64) -> String {
        stable(&[self.seed, seed_of(self.region), what::ADDRESS, index]).ip(&[3, 18, 34, 52, 54])
    }
    fn endpoint(&self, service: &str) -> String {
        format!(
            "vpce-{}",
            stable(&[
                self.seed,
                seed_of(self.region),
                what::ENDPOINT,
                seed_of(service)
            ])
            .hex(17)
        )
    }
    fn kms_resources(&self, key: &str) -> String {
        format!(
            r#"[{{"accountId":"{}","type":"AWS::KMS::Key","ARN":"{key}"}}]"#,
            self.account
        )
    }
}

/// An assumed-role session as `userIdentity` writes it.
struct Session {
    role: String,
    path: &'static str,
    name: String,
    key: String,
    created: i64,
    federation: String,
    extra: &'static str,
    invoked_by: Option<&'static str>,
}

fn assumed_role(c: &Ctx, s: &Session) -> (String, String) {
    let account = c.account;
    let role_id = c.role_id(&s.role);
    let arn = format!("arn:aws:sts::{account}:assumed-role/{}/{}", s.role, s.name);
    let invoked = s
        .invoked_by
        .map(|by| format!(r#","invokedBy":"{by}""#))
        .unwrap_or_default();
    let json = format!(
        r#"{{"type":"AssumedRole","principalId":"{role_id}:{name}","arn":"{arn}","accountId":"{account}","accessKeyId":"{key}","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"{role_id}","arn":"arn:aws:iam::{account}:role/{path}{role}","accountId":"{account}","userName":"{role}"}},"webIdFederationData":{{{federation}}},"attributes":{{"creationDate":"{created}","mfaAuthenticated":"false"}}{extra}}}{invoked}}}"#,
        name = s.name,
        key = s.key,
        path = s.path,
        role = s.role,
        federation = s.federation,
        created = iso(s.created),
        extra = s.extra,
    );
    (json, arn)
}

/// `userIdentity` of an actor (for a service, `invoked_by` is the service), and the ARN its
/// error messages name.
fn identity(c: &Ctx, actor: Actor, invoked_by: Option<&'static str>) -> (String, String) {
    let account = c.account;
    let temporary = |r: &mut Rng| format!("ASIA{}", r.chars(UPPER32, 16));
    match actor.kind {
        Kind::App => {
            let function = FUNCTIONS[actor.who % FUNCTIONS.len()];
            let (mut r, created) = c.session(actor, 2 * 3_600_000);
            assumed_role(
                c,
                &Session {
                    role: format!("{function}-role"),
                    path: "service-role/",
                    name: function.to_owned(),
                    key: temporary(&mut r),
                    created,
                    federation: String::new(),
                    extra: "",
                    invoked_by: None,
                },
            )
        }
        Kind::Agent => {
            let (mut r, created) = c.session(actor, 6 * 3_600_000);
            assumed_role(
                c,
                &Session {
                    role: format!("ec2-{}-role", TIERS[actor.who % TIERS.len()]),
                    path: "",
                    name: c.instance(actor.who),
                    key: temporary(&mut r),
                    created,
                    federation: String::new(),
                    extra: r#","ec2RoleDelivery":"2.0""#,
                    invoked_by: None,
                },
            )
        }
        Kind::Pipeline | Kind::Recorder => {
            let pipeline = actor.kind == Kind::Pipeline;
            let (mut r, created) = c.session(actor, 3_600_000);
            let federation = if pipeline {
                format!(
                    r#""federatedProvider":"arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com","attributes":{{}}"#
                )
            } else {
                String::new()
            };
            assumed_role(
                c,
                &Session {
                    role: if pipeline {
                        ["github-actions-deploy", "github-actions-plan"][actor.who % 2].to_owned()
                    } else {
                        "AWSServiceRoleForConfig".to_owned()
                    },
                    path: if pipeline {
                        ""
                    } else {
                        "aws-service-role/config.amazonaws.com/"
                    },
                    name: if pipeline {
                        "GitHubActions".to_owned()
                    } else {
                        "AWSConfig-Describe".to_owned()
                    },
                    key: temporary(&mut r),
                    created,
                    federation,
                    extra: "",
                    invoked_by: (!pipeline).then_some("config.amazonaws.com"),
                },
            )
        }
        Kind::Console => {
            let person = PEOPLE[actor.who % PEOPLE.len()];
            let (mut r, created) = c.session(actor, 8 * 3_600_000);
            let set = ["AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess"][actor.who % 3];
            let suffix = stable(&[c.seed, seed_of(set)]).hex(16);
            assumed_role(
                c,
                &Session {
                    role: format!("AWSReservedSSO_{set}_{suffix}"),
                    path: "aws-reserved/sso.amazonaws.com/",
                    name: format!("{person}@example.com"),
                    key: temporary(&mut r),
                    created,
                    federation: String::new(),
                    extra: "",
                    invoked_by: None,
                },
            )
        }
        Kind::User => {
            let user = USERS[actor.who % USERS.len()];
            let mut r = c.id(what::USER, actor.who);
            let arn = format!("arn:aws:iam::{account}:user/{user}");
            let json = format!(
                r#"{{"type":"IAMUser","principalId":"AIDA{}","arn":"{arn}","accountId":"{account}","accessKeyId":"AKIA{}","userName":"{user}"}}"#,
                r.chars(UPPER32, 17),
                r.chars(UPPER32, 16)
            );
            (json, arn)
        }
        Kind::Partner => {
            let partner = PARTNERS[actor.who % PARTNERS.len()];
            let id = stable(&[seed_of(partner), what::ROLE]).chars(UPPER32, 17);
            let json = format!(
                r#"{{"type":"AWSAccount","principalId":"AROA{id}:tenant-sync","accountId":"{partner}"}}"#
            );
            (json, format!("arn:aws:iam::{partner}:root"))
        }
        Kind::Federated => {
            let (provider, subject) = federation(c, actor.who);
            let json = format!(
                r#"{{"type":"WebIdentityUser","principalId":"{provider}:sts.amazonaws.com:{subject}","userName":"{subject}","identityProvider":"{provider}"}}"#
            );
            (json, provider)
        }
        Kind::Root => {
            let (mut r, _) = c.session(actor, 3_600_000);
            let arn = format!("arn:aws:iam::{account}:root");
            let json = format!(
                r#"{{"type":"Root","principalId":"{account}","arn":"{arn}","accountId":"{account}","accessKeyId":"{}"}}"#,
                temporary(&mut r)
            );
            (json, arn)
        }
        Kind::Service => {
            let by = invoked_by.unwrap_or("lambda.amazonaws.com");
            (
                format!(r#"{{"type":"AWSService","invokedBy":"{by}"}}"#),
                by.to_owned(),
            )
        }
    }
}

/// The web identity provider and subject of federated actor `who`: GitHub Actions, or a
/// service account of an EKS cluster.
fn federation(c: &Ctx, who: usize) -> (String, String) {
    if who == 0 {
        (
            format!(
                "arn:aws:iam::{}:oidc-provider/token.actions.githubusercontent.com",
                c.account
            ),
            "repo:acme/infrastructure:ref:refs/heads/main".to_owned(),
        )
    } else {
        let cluster = stable(&[c.seed, seed_of(c.region), what::PROVIDER]).chars(UPPER_HEX, 32);
        (
            format!(
                "arn:aws:iam::{}:oidc-provider/oidc.eks.{}.amazonaws.com/id/{cluster}",
                c.account, c.region
            ),
            format!(
                "system:serviceaccount:{}",
                ["orders:orders-api", "payments:payments-worker"][who % 2]
            ),
        )
    }
}

/// Where a call comes from: (sourceIPAddress, vpcEndpointId when through an endpoint).
fn source(c: &Ctx, rng: &mut Rng, actor: Actor, service: &str) -> (String, Option<String>) {
    let private = |r: &mut Rng| format!("10.0.{}.{}", r.below(64), 4 + r.below(250));
    let through_endpoint = matches!(service, "kms" | "secretsmanager" | "ssm" | "sts");
    match actor.kind {
        Kind::App if actor.who < 3 => {
            if through_endpoint && rng.chance(30.0) {
                let (mut r, _) = c.session(actor, 1_800_000);
                (private(&mut r), Some(c.endpoint(service)))
            } else {
                (c.nat_ip(rng.below(2)), None)
            }
        }
        Kind::App => {
            // Outside a VPC a function calls from Lambda's own addresses, a new one with
            // each execution environment.
            let (mut r, _) = c.session(actor, 900_000);
            (r.ip(&[3, 18, 34, 44, 52, 54]), None)
        }
        Kind::Agent => {
            if actor.who % 3 == 1 {
                if through_endpoint && rng.chance(30.0) {
                    let mut r = c.id(what::INSTANCE, actor.who);
                    (private(&mut r), Some(c.endpoint(service)))
                } else {
                    (c.nat_ip(rng.below(2)), None)
                }
            } else {
                (
                    c.id(what::INSTANCE, actor.who).ip(&[3, 18, 35, 52, 54]),
                    None,
                )
            }
        }
        Kind::Pipeline => {
            let (mut r, _) = c.session(actor, 1_800_000);
            (r.ip(&[4, 13, 20, 40, 52, 104]), None)
        }
        Kind::Federated if actor.who == 0 => {
            let (mut r, _) = c.session(actor, 1_800_000);
            (r.ip(&[4, 13, 20, 40, 52, 104]), None)
        }
        Kind::Federated => (c.nat_ip(rng.below(2)), None),
        Kind::Console | Kind::Root => {
            let mut r = stable(&[c.seed, actor.who as u64, (c.ms / 86_400_000) as u64]);
            (r.ip(&[24, 67, 73, 81, 86, 98, 174]), None)
        }
        Kind::User => (
            c.id(what::USER, actor.who).ip(&[38, 64, 96, 198, 203]),
            None,
        ),
        Kind::Partner => {
            let mut r = stable(&[seed_of(PARTNERS[actor.who % 2]), rng.below(2)]);
            (r.ip(&[3, 18, 35, 52]), None)
        }
        Kind::Recorder => ("config.amazonaws.com".to_owned(), None),
        Kind::Service => (String::new(), None),
    }
}

/// `DescribeInstances` -> `describe-instances`, as the CLI names its commands.
fn kebab(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(ch.to_ascii_lowercase());
        } else if ch.is_ascii_alphabetic() {
            out.push(ch);
        }
    }
    out
}

fn user_agent(actor: Actor, service: &str, name: &str) -> String {
    let command = kebab(name);
    let cli = |os: &str, env: &str| {
        format!(
            "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/{os} md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython{env} cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#{service}.{command}"
        )
    };
    let ua = match actor.kind {
        Kind::App if name == "CreateLogStream" => {
            "awslambda-worker/1.0 rusoto/0.48.0 rust/1.75.0 linux".to_owned()
        }
        Kind::App => match actor.who % 4 {
            0 => format!(
                "aws-sdk-js/3.540.0 ua/2.0 os/linux#5.10.214-225.848.amzn2.x86_64 lang/js md/nodejs#20.12.0 api/{service}#3.540.0 exec-env/AWS_Lambda_nodejs20.x"
            ),
            1 => "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#5.10.214-225.848.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.51".to_owned(),
            2 => "aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#arm64 exec-env/AWS_Lambda_provided.al2023".to_owned(),
            _ => "aws-sdk-java/2.25.11 Linux/5.10.214-225.848.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/21.0.2+13-LTS Java/21.0.2 vendor/Amazon.com_Inc. exec-env/AWS_Lambda_java21 io/sync http/UrlConnection cfg/retry-mode/legacy".to_owned(),
        },
        Kind::Agent => match service {
            "ssm" => "aws-sdk-go/1.50.25 (go1.21.8; linux; amd64) amazon-ssm-agent/3.3.131.0".to_owned(),
            "ecr" => "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.21.8 md/GOOS#linux md/GOARCH#amd64 api/ecr#1.27.1 ecr-login".to_owned(),
            "logs" => "aws-sdk-go/1.48.6 (go1.21.6; linux; amd64) CWAgent/1.300034.0b640 (go1.21.6; linux; amd64)".to_owned(),
            _ => "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.82-99.168.amzn2023.x86_64 exec-env/EC2 exe/x86_64.amzn.2023 prompt/off".to_owned(),
        },
        Kind::Pipeline => "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.50.33 (go1.21.8; linux; amd64)".to_owned(),
        Kind::Console | Kind::Root if service == "s3" => {
            "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.660 Linux/5.10.210-178.855.amzn2int.x86_64 OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 vendor/Oracle_Corporation cfg/retry-mode/standard]".to_owned()
        }
        Kind::Console | Kind::Root => BROWSERS[actor.who % BROWSERS.len()].to_owned(),
        Kind::User => match actor.who % 3 {
            0 => cli("linux#6.1.0-18-amd64", ""),
            1 => cli("linux#5.15.0-1057-aws", ""),
            _ => cli("macos#23.3.0", ""),
        },
        Kind::Partner => "aws-sdk-java/1.12.661 Linux/5.10.210-201.852.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+8-LTS java/17.0.10 vendor/Amazon.com_Inc. cfg/retry-mode/standard".to_owned(),
        Kind::Federated if actor.who == 0 => {
            "aws-sdk-nodejs/2.1583.0 linux/v20.11.1 configure-aws-credentials-for-github-actions promise".to_owned()
        }
        Kind::Federated => "Boto3/1.34.51 md/Botocore#1.34.51 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.51".to_owned(),
        Kind::Recorder => "config.amazonaws.com".to_owned(),
        Kind::Service => String::new(),
    };
    if service == "s3" && !ua.starts_with('[') {
        format!("[{ua}]")
    } else {
        ua
    }
}

fn read_only(name: &str) -> bool {
    const READS: &[&str] = &[
        "Describe",
        "Get",
        "List",
        "Lookup",
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "Sign",
        "AssumeRole",
    ];
    READS.iter().any(|p| name.starts_with(p))
}

/// What a call sent and got back, beside the identity.
#[derive(Default)]
struct Call {
    request: Option<String>,
    response: Option<String>,
    additional: Option<String>,
    resources: Option<String>,
}

fn call_with(request: String) -> Call {
    Call {
        request: Some(request),
        ..Call::default()
    }
}

/// New temporary credentials as STS returns them, session token and all (about 850
/// characters of base64 that no compressor shrinks much).
fn credentials(rng: &mut Rng, ms: i64) -> String {
    let len = 700 + rng.below(300) as usize;
    format!(
        r#""credentials":{{"accessKeyId":"ASIA{}","sessionToken":"IQoJb3JpZ2luX2Vj{}","expiration":"{}"}}"#,
        rng.chars(UPPER32, 16),
        rng.chars(BASE64, len),
        spoken(ms + 3_600_000)
    )
}

/// The encryption context an actor's KMS calls carry.
fn encryption_context(c: &Ctx, rng: &mut Rng, actor: Actor, invoked_by: Option<&str>) -> String {
    match (actor.kind, invoked_by) {
        (_, Some("secretsmanager.amazonaws.com")) => {
            let secret = rng.skewed(SECRETS.len());
            format!(
                r#"{{"SecretARN":"{}","SecretVersionId":"{}"}}"#,
                c.secret_arn(secret),
                stable(&[
                    c.seed,
                    what::SECRET,
                    secret as u64,
                    (c.ms / 86_400_000) as u64
                ])
                .uuid()
            )
        }
        (_, Some("s3.amazonaws.com")) => format!(
            r#"{{"aws:s3:arn":"arn:aws:s3:::{}/uploads/{}/{}.json"}}"#,
            c.bucket(rng.skewed(3)),
            &iso(c.ms)[..10],
            rng.uuid()
        ),
        (_, Some("ssm.amazonaws.com")) => format!(
            r#"{{"PARAMETER_ARN":"arn:aws:ssm:{}:{}:parameter{}"}}"#,
            c.region,
            c.account,
            PARAMETERS[rng.skewed(PARAMETERS.len())]
        ),
        (_, Some(_)) => format!(
            r#"{{"aws:eks:context":"{}"}}"#,
            stable(&[c.seed, seed_of(c.region), what::PROVIDER]).uuid()
        ),
        (Kind::Partner, None) => format!(r#"{{"tenant":"{}"}}"#, PARTNERS[actor.who % 2]),
        (_, None) if rng.chance(60.0) => format!(
            r#"{{"aws:lambda:FunctionArn":"{}"}}"#,
            c.function_arn(actor.who)
        ),
        (_, None) => format!(
            r#"{{"aws:dynamodb:tableName":"{}","aws:dynamodb:subscriberId":"{}"}}"#,
            TABLES[actor.who % TABLES.len()],
            c.account
        ),
    }
}

/// The `items` set EC2 writes for a filter on one value.
fn filter(name: &str, value: &str) -> String {
    format!(r#"{{"items":[{{"name":"{name}","valueSet":{{"items":[{{"value":"{value}"}}]}}}}]}}"#)
}

/// The request and response of a call, by event.
fn call(
    c: &Ctx,
    rng: &mut Rng,
    actor: Actor,
    invoked_by: Option<&str>,
    service: &str,
    name: &str,
) -> Call {
    let (account, region) = (c.account, c.region);
    if service == "elasticloadbalancing" && name == "DescribeTags" {
        return call_with(format!(
            r#"{{"resourceArns":["{}"]}}"#,
            c.balancer_arn(rng.skewed(2))
        ));
    }
    let key_index = match (actor.kind, invoked_by) {
        (Kind::Partner, _) => 5,
        (_, Some("secretsmanager.amazonaws.com")) => 2,
        (_, Some("s3.amazonaws.com")) => 3,
        (Kind::App, _) => actor.who % 3,
        _ => rng.skewed(6),
    };
    let instance = match actor.kind {
        Kind::Agent => c.instance(actor.who),
        _ => c.instance(rng.skewed(6)),
    };
    let role = ROLES[rng.skewed(ROLES.len())];
    let bucket = c.bucket(rng.skewed(BUCKETS.len()));
    let vpc = c.vpc(rng.skewed(2));
    match name {
        "Decrypt" => {
            let key = c.key_arn(key_index);
            Call {
                request: Some(format!(
                    r#"{{"encryptionAlgorithm":"SYMMETRIC_DEFAULT","encryptionContext":{}}}"#,
                    encryption_context(c, rng, actor, invoked_by)
                )),
                resources: Some(c.kms_resources(&key)),
                ..Call::default()
            }
        }
        "GenerateDataKey" | "Encrypt" => {
            let key = c.key_arn(key_index);
            let spec = if name == "Encrypt" {
                r#""encryptionAlgorithm":"SYMMETRIC_DEFAULT""#
            } else {
                r#""keySpec":"AES_256""#
            };
            Call {
                request: Some(format!(
                    r#"{{"keyId":"{key}","encryptionContext":{},{spec}}}"#,
                    encryption_context(c, rng, actor, invoked_by)
                )),
                resources: Some(c.kms_resources(&key)),
                ..Call::default()
            }
        }
        "Sign" => {
            let key = c.key_arn(6);
            Call {
                request: Some(format!(
                    r#"{{"keyId":"{key}","messageType":"DIGEST","signingAlgorithm":"ECDSA_SHA_256"}}"#
                )),
                resources: Some(c.kms_resources(&key)),
                ..Call::default()
            }
        }
        "DescribeKey" | "GetKeyPolicy" | "GetKeyRotationStatus" | "ListResourceTags" => {
            let key = c.key_arn(key_index);
            let request = match name {
                "DescribeKey" if rng.chance(50.0) => {
                    format!(r#"{{"keyId":"alias/{}"}}"#, KEY_ALIASES[key_index])
                }
                "GetKeyPolicy" => format!(r#"{{"keyId":"{key}","policyName":"default"}}"#),
                _ => format!(r#"{{"keyId":"{key}"}}"#),
            };
            Call {
                request: Some(request),
                resources: Some(c.kms_resources(&key)),
                ..Call::default()
            }
        }
        "ListAliases" | "ListFunctions20150331" | "ListClusters" | "GetCallerIdentity"
        | "GetAccountSummary" => Call::default(),
        "AssumeRole" => {
            let (role, session) = match invoked_by {
                Some("lambda.amazonaws.com") => {
                    let f = FUNCTIONS[rng.skewed(4)];
                    (format!("{f}-role"), f.to_owned())
                }
                Some("ecs-tasks.amazonaws.com") => {
                    // A task keeps its ID (the session name) while it runs: a few an hour.
                    let mut task = stable(&[c.seed, (c.ms / 3_600_000) as u64, rng.below(4)]);
                    ("ecs-task-orders".to_owned(), task.hex(32))
                }
                Some("ec2.amazonaws.com") => {
                    let i = rng.skewed(6);
                    (format!("ec2-{}-role", TIERS[i % 3]), c.instance(i))
                }
                _ => (
                    "AWSServiceRoleForConfig".to_owned(),
                    "AWSConfig-Describe".to_owned(),
                ),
            };
            let arn = c.role_arn(&role);
            Call {
                request: Some(format!(
                    r#"{{"roleArn":"{arn}","roleSessionName":"{session}"}}"#
                )),
                response: Some(format!(
                    r#"{{{},"assumedRoleUser":{{"assumedRoleId":"{}:{session}","arn":"arn:aws:sts::{account}:assumed-role/{role}/{session}"}}}}"#,
                    credentials(rng, c.ms),
                    c.role_id(&role)
                )),
                resources: Some(format!(
                    r#"[{{"accountId":"{account}","type":"AWS::IAM::Role","ARN":"{arn}"}}]"#
                )),
                ..Call::default()
            }
        }
        "AssumeRoleWithWebIdentity" => {
            let (provider, subject) = federation(c, actor.who);
            let (role, session) = if actor.who == 0 {
                ("github-actions-deploy".to_owned(), "GitHubActions".to_owned())
            } else {
                (
                    format!("eks-{}", subject.rsplit(':').next().unwrap_or("pod")),
                    format!("botocore-session-{}", c.ms / 1000),
                )
            };
            let arn = c.role_arn(&role);
            Call {
                request: Some(format!(
                    r#"{{"roleArn":"{arn}","roleSessionName":"{session}","durationSeconds":3600}}"#
                )),
                response: Some(format!(
                    r#"{{{},"subjectFromWebIdentityToken":"{subject}","assumedRoleUser":{{"assumedRoleId":"{}:{session}","arn":"arn:aws:sts::{account}:assumed-role/{role}/{session}"}},"provider":"{provider}","audience":"sts.amazonaws.com"}}"#,
                    credentials(rng, c.ms),
                    c.role_id(&role)
                )),
                resources: Some(format!(
                    r#"[{{"accountId":"{account}","type":"AWS::IAM::Role","ARN":"{arn}"}}]"#
                )),
                ..Call::default()
            }
        }
        "GetSecretValue" | "DescribeSecret" => {
            let secret = match actor.kind {
                Kind::App => actor.who % SECRETS.len(),
                _ => rng.skewed(SECRETS.len()),
            };
            if actor.who.is_multiple_of(2) {
                call_with(format!(r#"{{"secretId":"{}"}}"#, c.secret_arn(secret)))
            } else {
                call_with(format!(r#"{{"secretId":"{}"}}"#, SECRETS[secret]))
            }
        }
        "ListSecrets" => call_with(r#"{"maxResults":100}"#.to_owned()),
        "GetParameter" => call_with(format!(
            r#"{{"name":"{}","withDecryption":true}}"#,
            PARAMETERS[rng.skewed(PARAMETERS.len())]
        )),
        "GetParametersByPath" => call_with(format!(
            r#"{{"path":"/{}/prod/","recursive":true,"withDecryption":true}}"#,
            ["orders", "payments", "shared"][actor.who % 3]
        )),
        "UpdateInstanceInformation" => {
            let mut r = c.id(what::INSTANCE, actor.who);
            let (third, fourth) = (r.below(64), 4 + r.below(250));
            call_with(format!(
                r#"{{"instanceId":"{instance}","agentVersion":"3.3.131.0","agentStatus":"Active","platformType":"Linux","platformName":"Amazon Linux","platformVersion":"2023","iPAddress":"10.0.{third}.{fourth}","computerName":"ip-10-0-{third}-{fourth}.{region}.compute.internal","agentName":"amazon-ssm-agent","availabilityZone":"{region}{}","sSMConnectionChannel":"ssmmessages"}}"#,
                ["a", "b", "c"][actor.who % 3]
            ))
        }
        "ListInstanceAssociations" => Call {
            request: Some(format!(
                r#"{{"instanceId":"{instance}","maxResults":20}}"#
            )),
            resources: Some(format!(
                r#"[{{"accountId":"{account}","ARN":"arn:aws:ec2:{region}:{account}:instance/{instance}"}}]"#
            )),
            ..Call::default()
        },
        "DescribeInstances" => call_with(if rng.chance(50.0) {
            format!(r#"{{"instancesSet":{{"items":[{{"instanceId":"{instance}"}}]}},"filterSet":{{}}}}"#)
        } else {
            r#"{"maxResults":1000,"instancesSet":{},"filterSet":{}}"#.to_owned()
        }),
        "DescribeTags" => call_with(format!(
            r#"{{"filterSet":{}}}"#,
            filter("resource-id", &instance)
        )),
        "DescribeVolumes" => call_with(format!(
            r#"{{"volumeSet":{{}},"filterSet":{}}}"#,
            filter("attachment.instance-id", &instance)
        )),
        "DescribeSecurityGroups" => call_with(format!(
            r#"{{"securityGroupSet":{{}},"securityGroupIdSet":{{"items":[{{"groupId":"{}"}}]}},"filterSet":{{}}}}"#,
            c.group(rng.skewed(8))
        )),
        "DescribeSubnets" => call_with(format!(
            r#"{{"subnetSet":{{"items":[{{"subnetId":"{}"}}]}},"filterSet":{{}}}}"#,
            c.subnet(rng.skewed(6))
        )),
        "DescribeVpcs" => call_with(format!(
            r#"{{"vpcSet":{{"items":[{{"vpcId":"{vpc}"}}]}},"filterSet":{{}}}}"#
        )),
        "DescribeVpcAttribute" => call_with(format!(
            r#"{{"vpcId":"{vpc}","attribute":"{}"}}"#,
            rng.pick(&["enableDnsSupport", "enableDnsHostnames"])
        )),
        "DescribeRouteTables" => call_with(format!(
            r#"{{"routeTableIdSet":{{}},"filterSet":{}}}"#,
            filter("vpc-id", &vpc)
        )),
        "DescribeNetworkInterfaces" => call_with(format!(
            r#"{{"networkInterfaceIdSet":{{}},"filterSet":{}}}"#,
            filter("vpc-id", &vpc)
        )),
        "DescribeSnapshots" => call_with(format!(
            r#"{{"snapshotSet":{{}},"ownersSet":{{"items":[{{"owner":"self"}}]}},"sharedUsersSet":{{}},"filterSet":{}}}"#,
            filter("volume-id", &c.volume(rng.skewed(8)))
        )),
        "CreateTags" => Call {
            request: Some(format!(
                r#"{{"resourcesSet":{{"items":[{{"resourceId":"{instance}"}}]}},"tagSet":{{"items":[{{"key":"{}","value":"{}"}}]}}}}"#,
                rng.pick(&["Backup", "Owner", "CostCenter"]),
                rng.pick(&["daily", "platform", "cc-1042"])
            )),
            response: Some(format!(r#"{{"requestId":"{}","_return":true}}"#, rng.uuid())),
            ..Call::default()
        },
        "CreateSnapshot" => {
            let volume = c.volume(rng.skewed(8));
            Call {
                request: Some(format!(
                    r#"{{"volumeId":"{volume}","description":"nightly backup {}"}}"#,
                    &iso(c.ms)[..10]
                )),
                response: Some(format!(
                    r#"{{"requestId":"{}","snapshotId":"snap-{}","volumeId":"{volume}","status":"pending","startTime":{},"progress":"","ownerId":"{account}","volumeSize":100,"encrypted":true,"kmsKeyId":"{}"}}"#,
                    rng.uuid(),
                    rng.hex(17),
                    c.ms,
                    c.key_arn(4)
                )),
                ..Call::default()
            }
        }
        "RunInstances" => run_instances(c, rng),
        "ListBuckets" => Call {
            request: Some(format!(r#"{{"Host":"s3.{region}.amazonaws.com"}}"#)),
            additional: Some(s3_additional(rng)),
            ..Call::default()
        },
        "GetBucketAcl"
        | "GetBucketLocation"
        | "GetBucketPolicy"
        | "GetBucketVersioning"
        | "GetBucketEncryption"
        | "GetBucketTagging"
        | "GetBucketPublicAccessBlock" => {
            let bucket = if invoked_by == Some("cloudtrail.amazonaws.com") {
                c.bucket(5)
            } else {
                bucket
            };
            let sub = match name {
                "GetBucketAcl" => "acl",
                "GetBucketLocation" => "location",
                "GetBucketPolicy" => "policy",
                "GetBucketVersioning" => "versioning",
                "GetBucketEncryption" => "encryption",
                "GetBucketTagging" => "tagging",
                _ => "publicAccessBlock",
            };
            Call {
                request: Some(format!(
                    r#"{{"bucketName":"{bucket}","Host":"{bucket}.s3.{region}.amazonaws.com","{sub}":""}}"#
                )),
                additional: Some(s3_additional(rng)),
                resources: Some(format!(
                    r#"[{{"accountId":"{account}","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::{bucket}"}}]"#
                )),
                ..Call::default()
            }
        }
        "CreateLogStream" => {
            if invoked_by.is_some() {
                call_with(format!(
                    r#"{{"forAccount":"{account}","logGroupName":"/aws/vpc/flow-logs/{vpc}","logStreamName":"eni-{}-all"}}"#,
                    rng.hex(17)
                ))
            } else {
                let group = match actor.kind {
                    Kind::App => format!("/aws/lambda/{}", FUNCTIONS[actor.who % 6]),
                    _ => "/ec2/var/log/messages".to_owned(),
                };
                call_with(format!(
                    r#"{{"logGroupName":"{group}","logStreamName":"{}/[$LATEST]{}"}}"#,
                    iso(c.ms)[..10].replace('-', "/"),
                    rng.hex(32)
                ))
            }
        }
        "DescribeLogStreams" => call_with(format!(
            r#"{{"logGroupName":"/ec2/{}/application","orderBy":"LastEventTime","descending":true,"limit":1}}"#,
            TIERS[actor.who % 3]
        )),
        "DescribeLogGroups" => match actor.kind {
            Kind::Console => Call::default(),
            _ => call_with(format!(
                r#"{{"logGroupNamePrefix":"/aws/lambda/{}"}}"#,
                FUNCTIONS[rng.skewed(6)]
            )),
        },
        "ListTagsLogGroup" => call_with(format!(
            r#"{{"logGroupName":"/aws/lambda/{}"}}"#,
            FUNCTIONS[rng.skewed(6)]
        )),
        "GetRole" | "ListRolePolicies" | "ListAttachedRolePolicies" => {
            call_with(format!(r#"{{"roleName":"{role}"}}"#))
        }
        "GetPolicy" | "GetPolicyVersion" => {
            let policy = POLICIES[rng.skewed(POLICIES.len())];
            if name == "GetPolicy" {
                call_with(format!(
                    r#"{{"policyArn":"arn:aws:iam::{account}:policy/{policy}"}}"#
                ))
            } else {
                call_with(format!(
                    r#"{{"policyArn":"arn:aws:iam::{account}:policy/{policy}","versionId":"v{}"}}"#,
                    1 + seed_of(policy) % 7
                ))
            }
        }
        "ListRoles" => call_with(r#"{"maxItems":1000}"#.to_owned()),
        "GetFunction20150331v2" => call_with(format!(
            r#"{{"functionName":"{}"}}"#,
            FUNCTIONS[rng.skewed(6)]
        )),
        "ListVersionsByFunction20150331" => call_with(format!(
            r#"{{"functionName":"{}","maxItems":50}}"#,
            c.function_arn(rng.skewed(6))
        )),
        "DescribeTable" | "DescribeContinuousBackups" | "DescribeTimeToLive" => {
            let table = TABLES[rng.skewed(TABLES.len())];
            Call {
                request: Some(format!(r#"{{"tableName":"{table}"}}"#)),
                resources: Some(format!(
                    r#"[{{"accountId":"{account}","type":"AWS::DynamoDB::Table","ARN":"arn:aws:dynamodb:{region}:{account}:table/{table}"}}]"#
                )),
                ..Call::default()
            }
        }
        "GetQueueUrl" => call_with(format!(
            r#"{{"queueName":"{}"}}"#,
            ["orders-events", "payments-dlq", "webhooks"][actor.who % 3]
        )),
        "GetAuthorizationToken" => call_with(format!(r#"{{"registryIds":["{account}"]}}"#)),
        "DescribeLoadBalancers" => call_with(if rng.chance(50.0) {
            format!(
                r#"{{"names":["{}"]}}"#,
                LOAD_BALANCERS[rng.skewed(LOAD_BALANCERS.len())]
            )
        } else {
            format!(
                r#"{{"loadBalancerArns":["{}"]}}"#,
                c.balancer_arn(rng.skewed(2))
            )
        }),
        "DescribeTargetGroups" | "DescribeListeners" => call_with(format!(
            r#"{{"loadBalancerArn":"{}"}}"#,
            c.balancer_arn(rng.skewed(2))
        )),
        "DescribeAlarms" => call_with(if rng.chance(50.0) {
            format!(r#"{{"alarmNames":["{}"]}}"#, rng.pick(ALARMS))
        } else {
            r#"{"maxRecords":100}"#.to_owned()
        }),
        "GetMetricData" => call_with(format!(
            r#"{{"metricDataQueries":[{{"id":"m0","metricStat":{{"metric":{{"namespace":"AWS/EC2","metricName":"CPUUtilization","dimensions":[{{"name":"InstanceId","value":"{instance}"}}]}},"period":300,"stat":"Average"}},"returnData":true}}],"startTime":"{}","endTime":"{}"}}"#,
            spoken(c.ms - 3 * 3_600_000),
            spoken(c.ms)
        )),
        "DescribeDBInstances" => match actor.kind {
            Kind::Console => Call::default(),
            _ => call_with(format!(
                r#"{{"dBInstanceIdentifier":"{}"}}"#,
                rng.pick(DATABASES)
            )),
        },
        "DescribeDBClusters" => call_with(r#"{"includeShared":false}"#.to_owned()),
        "DescribeDBSnapshots" => call_with(format!(
            r#"{{"dBInstanceIdentifier":"{}","snapshotType":"automated","includeShared":false,"includePublic":false}}"#,
            rng.pick(DATABASES)
        )),
        "DescribeStacks" => call_with(format!(r#"{{"stackName":"{}"}}"#, rng.pick(STACKS))),
        "ListStacks" => call_with(
            r#"{"stackStatusFilter":["CREATE_COMPLETE","UPDATE_COMPLETE","UPDATE_ROLLBACK_COMPLETE"]}"#
                .to_owned(),
        ),
        "LookupEvents" => call_with(format!(
            r#"{{"maxResults":50,"lookupAttributes":[{{"attributeKey":"ReadOnly","attributeValue":"false"}}],"startTime":"{}","endTime":"{}"}}"#,
            spoken(c.ms - 86_400_000),
            spoken(c.ms)
        )),
        "DescribeTrails" => {
            call_with(r#"{"trailNameList":[],"includeShadowTrails":true}"#.to_owned())
        }
        "DescribeEventAggregates" => call_with(format!(
            r#"{{"aggregateField":"eventTypeCategory","filter":{{"eventStatusCodes":["open","upcoming"],"startTimes":[{{"from":"{}"}}]}}}}"#,
            spoken(c.ms - 7 * 86_400_000)
        )),
        "GetResources" => call_with(format!(
            r#"{{"paginationToken":"","resourcesPerPage":100,"resourceTypeFilters":["{}"]}}"#,
            rng.pick(&["ec2:instance", "elasticloadbalancing", "lambda:function"])
        )),
        "PutEvaluations" => call_with(format!(
            r#"{{"evaluations":[{{"complianceResourceType":"AWS::EC2::SecurityGroup","complianceResourceId":"{}","complianceType":"{}","orderingTimestamp":"{}"}}],"resultToken":"{}","testMode":false}}"#,
            c.group(rng.skewed(8)),
            if rng.chance(80.0) { "COMPLIANT" } else { "NON_COMPLIANT" },
            spoken(c.ms - 60_000),
            rng.chars(BASE64, 360)
        )),
        "ConsoleLogin" => Call {
            response: Some(r#"{"ConsoleLogin":"Success"}"#.to_owned()),
            additional: Some(format!(
                r#"{{"LoginTo":"https://console.aws.amazon.com/console/home?region={region}&state=hashArgs%23&isauthcode=true","MobileVersion":"No","MFAUsed":"{}"}}"#,
                if actor.kind == Kind::Root { "Yes" } else { "No" }
            )),
            ..Call::default()
        },
        _ => Call::default(),
    }
}

/// The extra data S3 writes for every call.
fn s3_additional(rng: &mut Rng) -> String {
    format!(
        r#"{{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"{}=","bytesTransferredOut":{}}}"#,
        rng.chars(BASE64, 75),
        100 + rng.below(900)
    )
}

/// RunInstances by the pipeline: the largest and most nested response in a common trail.
fn run_instances(c: &Ctx, rng: &mut Rng) -> Call {
    let (account, region) = (c.account, c.region);
    let instance = format!("i-{}", rng.hex(17));
    let image = format!("ami-{}", stable(&[c.seed, 99]).hex(17));
    let subnet = c.subnet(rng.skewed(6));
    let vpc = c.vpc(0);
    let group = c.group(rng.skewed(8));
    let eni = format!("eni-{}", rng.hex(17));
    let (third, fourth) = (rng.below(64), 4 + rng.below(250));
    let ip = format!("10.0.{third}.{fourth}");
    let dns = format!("ip-10-0-{third}-{fourth}.{region}.compute.internal");
    let token = format!("terraform-{}", rng.chars(b"0123456789", 26));
    let tags = r#"{"items":[{"key":"Name","value":"orders-worker"},{"key":"ManagedBy","value":"terraform"}]}"#;
    let az = format!("{region}{}", rng.pick(&["a", "b", "c"]));
    Call {
        request: Some(format!(
            r#"{{"instancesSet":{{"items":[{{"imageId":"{image}","minCount":1,"maxCount":1}}]}},"instanceType":"m7i.large","blockDeviceMapping":{{}},"monitoring":{{"enabled":false}},"disableApiTermination":false,"disableApiStop":false,"clientToken":"{token}","tagSpecificationSet":{{"items":[{{"resourceType":"instance","tags":[{{"key":"Name","value":"orders-worker"}},{{"key":"ManagedBy","value":"terraform"}}]}}]}},"launchTemplate":{{"launchTemplateId":"lt-{}","version":"$Latest"}}}}"#,
            stable(&[c.seed, 98]).hex(17)
        )),
        response: Some(format!(
            r#"{{"requestId":"{}","reservationId":"r-{}","ownerId":"{account}","groupSet":{{}},"instancesSet":{{"items":[{{"instanceId":"{instance}","imageId":"{image}","instanceState":{{"code":0,"name":"pending"}},"privateDnsName":"{dns}","amiLaunchIndex":0,"productCodes":{{}},"instanceType":"m7i.large","launchTime":{},"placement":{{"availabilityZone":"{az}","tenancy":"default"}},"monitoring":{{"state":"disabled"}},"subnetId":"{subnet}","vpcId":"{vpc}","privateIpAddress":"{ip}","stateReason":{{"code":"pending","message":"pending"}},"architecture":"x86_64","rootDeviceType":"ebs","rootDeviceName":"/dev/xvda","blockDeviceMapping":{{}},"virtualizationType":"hvm","clientToken":"{token}","tagSet":{tags},"groupSet":{{"items":[{{"groupId":"{group}","groupName":"orders-worker"}}]}},"sourceDestCheck":true,"hypervisor":"xen","networkInterfaceSet":{{"items":[{{"networkInterfaceId":"{eni}","subnetId":"{subnet}","vpcId":"{vpc}","ownerId":"{account}","status":"in-use","macAddress":"0a:{}:{}:{}:{}:{}","privateIpAddress":"{ip}","privateDnsName":"{dns}","sourceDestCheck":true,"interfaceType":"interface","groupSet":{{"items":[{{"groupId":"{group}","groupName":"orders-worker"}}]}},"attachment":{{"attachmentId":"eni-attach-{}","deviceIndex":0,"networkCardIndex":0,"status":"attaching","attachTime":{},"deleteOnTermination":true}},"privateIpAddressesSet":{{"item":[{{"privateIpAddress":"{ip}","privateDnsName":"{dns}","primary":true}}]}},"ipv6AddressesSet":{{}},"tagSet":{{}}}}]}},"ebsOptimized":true,"enaSupport":true,"cpuOptions":{{"coreCount":1,"threadsPerCore":2}},"capacityReservationSpecification":{{"capacityReservationPreference":"open"}},"enclaveOptions":{{"enabled":false}},"metadataOptions":{{"state":"pending","httpTokens":"required","httpPutResponseHopLimit":2,"httpEndpoint":"enabled","httpProtocolIpv4":"enabled","httpProtocolIpv6":"disabled","instanceMetadataTags":"disabled"}},"maintenanceOptions":{{"autoRecovery":"default"}},"privateDnsNameOptions":{{"hostnameType":"ip-name","enableResourceNameDnsARecord":false,"enableResourceNameDnsAAAARecord":false}}}}]}}}}"#,
            rng.uuid(),
            rng.hex(17),
            c.ms,
            rng.hex(2),
            rng.hex(2),
            rng.hex(2),
            rng.hex(2),
            rng.hex(2),
            rng.hex(17),
            c.ms
        )),
        ..Call::default()
    }
}

/// A CloudHSM call on one of the account's clusters: (name, read-only, call).
fn cloudhsm(c: &Ctx, rng: &mut Rng) -> (&'static str, bool, Call) {
    let region = c.region;
    let index = rng.skewed(3);
    let cluster = c.cluster(index);
    let hsm = |r: &mut Rng| {
        format!(
            "hsm-{}",
            stable(&[c.seed, what::HSM, index as u64, r.below(3)]).chars(LOWER32, 11)
        )
    };
    let backup = |r: &mut Rng| {
        format!(
            "backup-{}",
            stable(&[c.seed, what::BACKUP, index as u64, r.below(20)]).chars(LOWER32, 11)
        )
    };
    let (name, read_only) = *rng.pick(CLOUDHSM);
    let subnet = c.subnet(index);
    let request = match name {
        "CreateHsm" => format!(r#"{{"clusterId":"{cluster}","availabilityZone":"{region}a"}}"#),
        "DeleteHsm" => format!(r#"{{"clusterId":"{cluster}","hsmId":"{}"}}"#, hsm(rng)),
        "CreateCluster" => format!(
            r#"{{"hsmType":"hsm2m.medium","subnetIds":["{subnet}"],"backupRetentionPolicy":{{"type":"DAYS","value":"90"}}}}"#
        ),
        "DeleteBackup" => format!(r#"{{"backupId":"{}"}}"#, backup(rng)),
        "TagResource" => {
            format!(r#"{{"resourceId":"{cluster}","tagList":[{{"key":"env","value":"prod"}}]}}"#)
        }
        "ListTags" => format!(r#"{{"resourceId":"{cluster}"}}"#),
        _ => format!(r#"{{"clusterId":"{cluster}"}}"#),
    };
    let response = match name {
        "CreateHsm" => Some(format!(
            r#"{{"hsm":{{"hsmId":"{}","clusterId":"{cluster}","state":"CREATE_IN_PROGRESS","availabilityZone":"{region}a","eniId":"eni-{}","eniIp":"10.0.1.{}","subnetId":"{subnet}"}}}}"#,
            hsm(rng),
            rng.hex(17),
            4 + rng.below(250)
        )),
        "CreateCluster" | "ModifyCluster" => Some(format!(
            r#"{{"cluster":{{"clusterId":"{cluster}","state":"{}","hsmType":"hsm2m.medium","backupPolicy":"DEFAULT","backupRetentionPolicy":{{"type":"DAYS","value":"90"}},"subnetMapping":{{"{region}a":"{subnet}"}},"vpcId":"{}","createTimestamp":"{}"}}}}"#,
            if name == "CreateCluster" {
                "CREATE_IN_PROGRESS"
            } else {
                "ACTIVE"
            },
            c.vpc(0),
            spoken(c.ms)
        )),
        "DeleteBackup" => Some(format!(
            r#"{{"backup":{{"backupId":"{}","backupState":"PENDING_DELETION","clusterId":"{cluster}","deleteTimestamp":"{}"}}}}"#,
            backup(rng),
            spoken(c.ms)
        )),
        _ => None,
    };
    (
        name,
        read_only,
        Call {
            request: Some(request),
            response,
            ..Call::default()
        },
    )
}

/// An error for some calls, as often as in real trails (about 2%): (code, message).
fn error(
    rng: &mut Rng,
    actor: Actor,
    service: &str,
    name: &str,
    arn: &str,
) -> Option<(String, String)> {
    if name == "GetBucketPolicy" && rng.chance(40.0) {
        return Some((
            "NoSuchBucketPolicy".to_owned(),
            "The bucket policy does not exist".to_owned(),
        ));
    }
    if name == "GetBucketTagging" && rng.chance(40.0) {
        return Some((
            "NoSuchTagSet".to_owned(),
            "The TagSet does not exist".to_owned(),
        ));
    }
    let percent = match actor.kind {
        Kind::Pipeline | Kind::Console => 2.5,
        Kind::User | Kind::Partner => 1.5,
        Kind::App | Kind::Agent => 0.6,
        _ => 0.2,
    };
    if !rng.chance(percent) {
        return None;
    }
    Some(if rng.chance(25.0) {
        ("ThrottlingException".to_owned(), "Rate exceeded".to_owned())
    } else if service == "ec2" {
        (
            "Client.UnauthorizedOperation".to_owned(),
            format!(
                "You are not authorized to perform this operation. User: {arn} is not authorized to perform: ec2:{name} because no identity-based policy allows the ec2:{name} action"
            ),
        )
    } else {
        (
            "AccessDenied".to_owned(),
            format!(
                "User: {arn} is not authorized to perform: {service}:{name} because no identity-based policy allows the {service}:{name} action"
            ),
        )
    })
}

fn event_version(service: &str) -> &'static str {
    match service {
        "ec2" | "s3" => "1.10",
        "logs" | "ssm" => "1.09",
        _ => "1.08",
    }
}

fn host(service: &str, region: &str, request: Option<&str>) -> String {
    match service {
        "iam" => "iam.amazonaws.com".to_owned(),
        "signin" => "signin.aws.amazon.com".to_owned(),
        "cloudhsm" => format!("cloudhsmv2.{region}.amazonaws.com"),
        "s3" => {
            let bucket = request
                .and_then(|r| r.strip_prefix(r#"{"bucketName":""#))
                .and_then(|r| r.split('"').next());
            match bucket {
                Some(b) => format!("{b}.s3.{region}.amazonaws.com"),
                None => format!("s3.{region}.amazonaws.com"),
            }
        }
        _ => format!("{service}.{region}.amazonaws.com"),
    }
}

/// One record as CloudTrail writes it, in its key order, at `c.ms`, by the actor of the run
/// of calls in progress (or, for a CloudHSM call, by a person or the pipeline).
fn record(rng: &mut Rng, percent: f64, c: &Ctx, state: &mut Run) -> String {
    let run = state.next(rng, c);
    let account = c.account;
    let region = c.region;
    let (actor, invoked_by, service, name, read_only, mut call) = if rng.chance(percent) {
        // CloudHSM is managed by people and the pipeline, not by the run in progress.
        let actor = Actor {
            kind: *rng.pick(&[Kind::Console, Kind::Console, Kind::Pipeline, Kind::User]),
            who: 0,
        };
        let (name, read_only, made) = cloudhsm(c, rng);
        (actor, None, "cloudhsm", name, read_only, made)
    } else if run.kind == Kind::Service {
        let (by, service, name, _) = *rng.pick_weighted(SERVICE_CALLS, |s| s.3);
        let made = call(c, rng, run, Some(by), service, name);
        (run, Some(by), service, name, read_only(name), made)
    } else {
        let (mut service, mut name) = match state.last {
            Some(last) if read_only(last.1) && rng.chance(REPEAT_PERCENT) => last,
            _ => {
                let (service, name, _) = *rng.pick_weighted(calls(run.kind), |e| e.2);
                (service, name)
            }
        };
        state.last = Some((service, name));
        if run.kind == Kind::Pipeline && rng.below(1000) < RUN_INSTANCES_PER_MILLE {
            (service, name) = ("ec2", "RunInstances");
        }
        if matches!(service, "iam" | "health") && region != "us-east-1" {
            // Global services are logged in us-east-1 only.
            (service, name) = ("sts", "GetCallerIdentity");
        }
        let made = call(c, rng, run, None, service, name);
        (run, None, service, name, read_only(name), made)
    };
    let (identity, arn) = identity(c, actor, invoked_by);
    let (ip, endpoint) = match invoked_by {
        Some(by) => (by.to_owned(), None),
        None => source(c, rng, actor, service),
    };
    let agent = match invoked_by {
        Some(by) => by.to_owned(),
        None => user_agent(actor, service, name),
    };
    let error = if service == "cloudhsm" || name == "ConsoleLogin" {
        None
    } else {
        error(rng, actor, service, name, &arn)
    };
    if error.is_some() {
        call.response = None;
    }

    let mut r = String::with_capacity(1600);
    let _ = write!(
        r,
        r#"{{"eventVersion":"{}","userIdentity":{identity},"eventTime":"{}","eventSource":"{service}.amazonaws.com","eventName":"{name}","awsRegion":"{region}","sourceIPAddress":"{ip}","userAgent":"{agent}","#,
        event_version(service),
        iso(c.ms)
    );
    if let Some((code, message)) = &error {
        let _ = write!(r, r#""errorCode":"{code}","errorMessage":"{message}","#);
    }
    let null = || "null".to_owned();
    let _ = write!(
        r,
        r#""requestParameters":{},"responseElements":{},"#,
        call.request.clone().unwrap_or_else(null),
        call.response.unwrap_or_else(null)
    );
    if let Some(additional) = &call.additional {
        let _ = write!(r, r#""additionalEventData":{additional},"#);
    }
    if name != "ConsoleLogin" {
        let request_id = if service == "s3" {
            rng.chars(UPPER_HEX, 16)
        } else {
            rng.uuid()
        };
        let _ = write!(r, r#""requestID":"{request_id}","#);
    }
    let _ = write!(r, r#""eventID":"{}","readOnly":{read_only},"#, rng.uuid());
    if let Some(resources) = &call.resources {
        let _ = write!(r, r#""resources":{resources},"#);
    }
    let event_type = if name == "ConsoleLogin" {
        "AwsConsoleSignIn"
    } else {
        "AwsApiCall"
    };
    let _ = write!(r, r#""eventType":"{event_type}","#);
    match (service, invoked_by) {
        ("elasticloadbalancing", _) => r.push_str(r#""apiVersion":"2015-12-01","#),
        ("logs", Some(_)) => r.push_str(r#""apiVersion":"20140328","#),
        _ => {}
    }
    let _ = write!(
        r,
        r#""managementEvent":true,"recipientAccountId":"{account}","#
    );
    if invoked_by.is_some() || actor.kind == Kind::Partner {
        let _ = write!(r, r#""sharedEventID":"{}","#, rng.uuid());
    }
    if let Some(endpoint) = &endpoint {
        let _ = write!(
            r,
            r#""vpcEndpointId":"{endpoint}","vpcEndpointAccountId":"{account}","#
        );
    }
    r.push_str(r#""eventCategory":"Management""#);
    if invoked_by.is_none() && actor.kind != Kind::Recorder {
        let (version, cipher) = match actor.kind {
            Kind::Agent => ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
            Kind::Partner => ("TLSv1.3", "TLS_AES_256_GCM_SHA384"),
            _ => ("TLSv1.3", "TLS_AES_128_GCM_SHA256"),
        };
        let _ = write!(
            r,
            r#","tlsDetails":{{"tlsVersion":"{version}","cipherSuite":"{cipher}","clientProvidedHostHeader":"{}"}}"#,
            host(service, region, call.request.as_deref())
        );
    }
    if matches!(actor.kind, Kind::Console | Kind::Root) && name != "ConsoleLogin" {
        r.push_str(r#","sessionCredentialFromConsole":"true""#);
    }
    r.push('}');
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
    let first = *ms;
    let mut run = Run {
        actor: Actor {
            kind: Kind::App,
            who: 0,
        },
        left: 0,
        last: None,
    };
    let mut body = Vec::with_capacity(RECORDS_PER_FILE * 1400);
    body.extend_from_slice(br#"{"Records":["#);
    for i in 0..RECORDS_PER_FILE {
        *ms += rng.below(400) as i64;
        // Records are a little out of order within a file, as CloudTrail delivers them.
        let t = (*ms - rng.below(3000) as i64).max(first);
        let ctx = Ctx {
            account,
            region,
            seed: seed_of(account),
            ms: t,
        };
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(record(rng, percent, &ctx, &mut run).as_bytes());
    }
    body.extend_from_slice(b"]}");
    let key = format!(
        "AWSLogs/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}_{}.json.gz",
        utc(*ms).format("%Y/%m/%d"),
        utc(*ms).format("%Y%m%dT%H%MZ"),
        rng.hex(16)
    );
    (key, body)
}
