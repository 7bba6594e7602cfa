//! The one schema of hsmtrail's output.
//!
//! Every column is declared once, in [`COLUMNS`], with its type, where its value comes from and a
//! one-line description. The flattener, the Parquet writer, `hsmtrail schema`, the README's schema
//! table and the lossless [`crate::rebuild`] all derive from this table, so they cannot drift apart.
//!
//! The types are chosen for what Athena, DuckDB and Spark all read without edits: UTF-8 strings,
//! real booleans, `Timestamp(ms, UTC)`, lists of strings with the standard Parquet element name,
//! no unsigned integers and no null-typed columns.

use crate::output::partition::PartitionField;
use crate::output::table::Table;
use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The event source hsmtrail keeps by default.
pub const CLOUDHSM_SOURCE: &str = "cloudhsm.amazonaws.com";

/// The logical type of a column; each maps to exactly one Arrow type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Text,
    /// A boolean; CloudTrail writes some as JSON booleans and some as the strings "true"/"false".
    Bool,
    /// Milliseconds since the epoch, UTC.
    Timestamp,
    /// A list of strings.
    TextList,
    /// Raw JSON text, exactly as it appeared in the record.
    Json,
}

impl Kind {
    /// The Arrow type written for this kind.
    pub fn data_type(self) -> DataType {
        match self {
            Kind::Text | Kind::Json => DataType::Utf8,
            Kind::Bool => DataType::Boolean,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            Kind::TextList => DataType::List(Arc::new(list_item_field())),
        }
    }

    /// Athena, Spark and Hive type.
    pub fn hive_type(self) -> &'static str {
        match self {
            Kind::Text | Kind::Json => "string",
            Kind::Bool => "boolean",
            Kind::Timestamp => "timestamp",
            Kind::TextList => "array<string>",
        }
    }

    /// A short type name for documentation (`hsmtrail schema`, README).
    pub fn doc_name(self) -> &'static str {
        match self {
            Kind::Text => "string",
            Kind::Bool => "boolean",
            Kind::Timestamp => "timestamp(ms, UTC)",
            Kind::TextList => "list<string>",
            Kind::Json => "string (JSON)",
        }
    }
}

/// The list element field; named `element` as the Parquet LIST specification asks, so that every
/// engine reads the three-level list the same way.
pub fn list_item_field() -> Field {
    Field::new("element", DataType::Utf8, true)
}

/// How a top-level boolean is canonically written in CloudTrail, so that a rebuilt record uses the
/// same JSON type as the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolForm {
    /// A JSON `true`/`false`.
    Native,
    /// The string `"true"`/`"false"`.
    String,
}

/// Where a column's value comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// A top-level record key, typed. The rebuild writes it back from the column.
    Top(&'static str, BoolForm),
    /// The first value found along these paths (each starting at a top-level key). Paths are
    /// evaluated only for events of `source` when one is given, because services reuse key
    /// names such as `clusterId` or `name` with other meanings.
    Path {
        paths: &'static [&'static [&'static str]],
        source: Option<&'static str>,
    },
    /// The raw JSON text of a top-level key. The rebuild writes it back from the column.
    Raw(&'static str),
    /// Computed by [`crate::flatten`]; see [`Derived`].
    Derived(Derived),
}

/// Columns computed from several fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    /// The most readable name of who acted.
    Actor,
    /// The CloudHSM resource ID of this kind (`cluster`, `hsm`, `backup`) that the event touched.
    ResourceId(ResourceKind),
    /// Tag keys of TagResource/UntagResource.
    TagKeys,
    /// Every top-level key the typed and raw columns cannot reproduce exactly.
    Extra,
    /// The input path or object key the record came from.
    SourceFile,
    /// Names of typed columns left null because the value had an unexpected JSON type.
    TypeMismatches,
    /// The account in the ARN of the backup a new cluster is restored from.
    SourceBackupAccount,
    /// A part of the PEM certificate in this request parameter (InitializeCluster).
    Certificate(&'static str, crate::cert::Part),
    /// Who a backup is shared with (RAM principals, CloudHSM resource policy principals).
    SharedWith,
    /// Why an event of another service concerns CloudHSM ([`crate::related::Relation`]).
    Relation,
    /// Whether a proven digest lists the record's input (`convert --verify`).
    SourceVerified,
}

/// The kinds of CloudHSM resource that get a derived ID column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    Cluster,
    Hsm,
    Backup,
}

impl ResourceKind {
    /// The ID prefix and ARN resource type (`cluster-…`, `…:cluster/…`).
    pub fn prefix(self) -> &'static str {
        match self {
            ResourceKind::Cluster => "cluster",
            ResourceKind::Hsm => "hsm",
            ResourceKind::Backup => "backup",
        }
    }
}

/// Column groups, in schema order; used to organise documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Event,
    Identity,
    Request,
    Response,
    Resource,
    Raw,
    Provenance,
}

impl Group {
    pub fn title(self) -> &'static str {
        match self {
            Group::Event => "Event",
            Group::Identity => "Identity (userIdentity)",
            Group::Request => "Request (requestParameters)",
            Group::Response => "Response (CloudHSM responseElements)",
            Group::Resource => "CloudHSM resources touched",
            Group::Raw => "Raw JSON (lossless)",
            Group::Provenance => "Provenance and quality",
        }
    }
}

/// One output column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub group: Group,
    pub source: Source,
    pub description: &'static str,
}

impl Column {
    /// Whether values repeat across events, so that Parquet's dictionary encoding pays. Raw
    /// JSON and per-event IDs are unique: a dictionary there only costs time and memory
    /// before the writer gives up on it.
    pub fn values_repeat(&self) -> bool {
        const UNIQUE: [&str; 3] = ["event_id", "request_id", "shared_event_id"];
        self.kind != Kind::Json && !UNIQUE.contains(&self.name)
    }
}

const fn col(
    name: &'static str,
    kind: Kind,
    group: Group,
    source: Source,
    description: &'static str,
) -> Column {
    Column {
        name,
        kind,
        group,
        source,
        description,
    }
}

const fn top(key: &'static str) -> Source {
    Source::Top(key, BoolForm::Native)
}

const fn path(paths: &'static [&'static [&'static str]]) -> Source {
    Source::Path {
        paths,
        source: None,
    }
}

/// A path evaluated for CloudHSM's events only.
const fn hsm(paths: &'static [&'static [&'static str]]) -> Source {
    of_source(CLOUDHSM_SOURCE, paths)
}

/// A path evaluated for the events of `source` only.
const fn of_source(source: &'static str, paths: &'static [&'static [&'static str]]) -> Source {
    Source::Path {
        paths,
        source: Some(source),
    }
}

use Group::*;
use Kind::*;

/// Every column, in file order. (A table of declarations: neighbouring entries share their
/// shape by design, which `duplicates` reports as pairs.)
pub static COLUMNS: &[Column] = &[
    // Event
    col(
        "event_id",
        Text,
        Event,
        top("eventID"),
        "Unique event GUID (eventID); absent in the oldest records",
    ),
    col(
        "event_time",
        Timestamp,
        Event,
        top("eventTime"),
        "When the request was made (eventTime), UTC",
    ),
    col(
        "event_version",
        Text,
        Event,
        top("eventVersion"),
        "Record format version (eventVersion), e.g. 1.08",
    ),
    col(
        "event_source",
        Text,
        Event,
        top("eventSource"),
        "Service that received the request, e.g. cloudhsm.amazonaws.com",
    ),
    col(
        "event_name",
        Text,
        Event,
        top("eventName"),
        "API operation or service event name, e.g. CreateHsm",
    ),
    col(
        "event_type",
        Text,
        Event,
        top("eventType"),
        "AwsApiCall, AwsServiceEvent, AwsConsoleAction, AwsConsoleSignIn, ...",
    ),
    col(
        "event_category",
        Text,
        Event,
        top("eventCategory"),
        "Management, Data, NetworkActivity or Insight",
    ),
    col(
        "aws_region",
        Text,
        Event,
        top("awsRegion"),
        "Region the request was made to",
    ),
    col(
        "source_ip_address",
        Text,
        Event,
        top("sourceIPAddress"),
        "Caller IP address, or the calling service's name",
    ),
    col(
        "user_agent",
        Text,
        Event,
        top("userAgent"),
        "Caller's user agent (console, CLI, SDK, ...)",
    ),
    col(
        "request_id",
        Text,
        Event,
        top("requestID"),
        "Service request ID (requestID)",
    ),
    col(
        "shared_event_id",
        Text,
        Event,
        top("sharedEventID"),
        "GUID shared by copies of one event delivered to several accounts",
    ),
    col(
        "api_version",
        Text,
        Event,
        top("apiVersion"),
        "API version of the call, where logged",
    ),
    col(
        "read_only",
        Bool,
        Event,
        top("readOnly"),
        "Whether the operation only reads",
    ),
    col(
        "management_event",
        Bool,
        Event,
        top("managementEvent"),
        "Whether this is a management (control plane) event",
    ),
    col(
        "recipient_account_id",
        Text,
        Event,
        top("recipientAccountId"),
        "Account that received the event",
    ),
    col(
        "error_code",
        Text,
        Event,
        top("errorCode"),
        "Error code when the call failed, e.g. AccessDenied",
    ),
    col(
        "error_message",
        Text,
        Event,
        top("errorMessage"),
        "Error message when the call failed",
    ),
    col(
        "vpc_endpoint_id",
        Text,
        Event,
        top("vpcEndpointId"),
        "VPC endpoint the request came through",
    ),
    col(
        "vpc_endpoint_account_id",
        Text,
        Event,
        top("vpcEndpointAccountId"),
        "Account that owns that VPC endpoint",
    ),
    col(
        "session_credential_from_console",
        Bool,
        Event,
        Source::Top("sessionCredentialFromConsole", BoolForm::String),
        "Whether the credentials came from a console session",
    ),
    col(
        "tls_version",
        Text,
        Event,
        path(&[&["tlsDetails", "tlsVersion"]]),
        "TLS version of the request",
    ),
    col(
        "tls_cipher_suite",
        Text,
        Event,
        path(&[&["tlsDetails", "cipherSuite"]]),
        "TLS cipher suite of the request",
    ),
    col(
        "tls_client_provided_host_header",
        Text,
        Event,
        path(&[&["tlsDetails", "clientProvidedHostHeader"]]),
        "Host name the client asked for",
    ),
    // Identity
    col(
        "identity_type",
        Text,
        Identity,
        path(&[&["userIdentity", "type"]]),
        "Root, IAMUser, AssumedRole, AWSService, FederatedUser, ...",
    ),
    col(
        "identity_principal_id",
        Text,
        Identity,
        path(&[&["userIdentity", "principalId"]]),
        "Principal ID of the caller",
    ),
    col(
        "identity_arn",
        Text,
        Identity,
        path(&[&["userIdentity", "arn"]]),
        "ARN of the caller",
    ),
    col(
        "identity_account_id",
        Text,
        Identity,
        path(&[&["userIdentity", "accountId"]]),
        "Account that owns the caller's credentials",
    ),
    col(
        "identity_access_key_id",
        Text,
        Identity,
        path(&[&["userIdentity", "accessKeyId"]]),
        "Access key used to sign the request",
    ),
    col(
        "identity_user_name",
        Text,
        Identity,
        path(&[&["userIdentity", "userName"]]),
        "Friendly name of the caller",
    ),
    col(
        "identity_invoked_by",
        Text,
        Identity,
        path(&[&["userIdentity", "invokedBy"]]),
        "Service that made the request on the caller's behalf",
    ),
    col(
        "identity_credential_id",
        Text,
        Identity,
        path(&[&["userIdentity", "credentialId"]]),
        "Bearer token credential ID",
    ),
    col(
        "identity_session_issuer_type",
        Text,
        Identity,
        path(&[&["userIdentity", "sessionContext", "sessionIssuer", "type"]]),
        "Type of the session issuer: Root, IAMUser or Role",
    ),
    col(
        "identity_session_issuer_principal_id",
        Text,
        Identity,
        path(&[&[
            "userIdentity",
            "sessionContext",
            "sessionIssuer",
            "principalId",
        ]]),
        "Principal ID of the session issuer",
    ),
    col(
        "identity_session_issuer_arn",
        Text,
        Identity,
        path(&[&["userIdentity", "sessionContext", "sessionIssuer", "arn"]]),
        "ARN of the role or user that issued the session",
    ),
    col(
        "identity_session_issuer_account_id",
        Text,
        Identity,
        path(&[&[
            "userIdentity",
            "sessionContext",
            "sessionIssuer",
            "accountId",
        ]]),
        "Account of the session issuer",
    ),
    col(
        "identity_session_issuer_user_name",
        Text,
        Identity,
        path(&[&[
            "userIdentity",
            "sessionContext",
            "sessionIssuer",
            "userName",
        ]]),
        "Name of the role or user that issued the session",
    ),
    col(
        "identity_session_mfa_authenticated",
        Bool,
        Identity,
        path(&[&[
            "userIdentity",
            "sessionContext",
            "attributes",
            "mfaAuthenticated",
        ]]),
        "Whether the session was authenticated with MFA",
    ),
    col(
        "identity_session_created",
        Timestamp,
        Identity,
        path(&[&[
            "userIdentity",
            "sessionContext",
            "attributes",
            "creationDate",
        ]]),
        "When the session's credentials were issued, UTC",
    ),
    col(
        "identity_source_identity",
        Text,
        Identity,
        path(&[&["userIdentity", "sessionContext", "sourceIdentity"]]),
        "Source identity set on the role session",
    ),
    col(
        "identity_web_identity_provider",
        Text,
        Identity,
        path(&[
            &[
                "userIdentity",
                "sessionContext",
                "webIdFederationData",
                "federatedProvider",
            ],
            &["userIdentity", "identityProvider"],
        ]),
        "Web identity or SAML provider of a federated session",
    ),
    col(
        "identity_on_behalf_of_user_id",
        Text,
        Identity,
        path(&[&["userIdentity", "onBehalfOf", "userId"]]),
        "IAM Identity Center user the call was made for",
    ),
    col(
        "identity_on_behalf_of_identity_store_arn",
        Text,
        Identity,
        path(&[&["userIdentity", "onBehalfOf", "identityStoreArn"]]),
        "Identity store of that Identity Center user",
    ),
    col(
        "actor",
        Text,
        Identity,
        Source::Derived(Derived::Actor),
        "Who acted, most readable form: role/session, user name, service, or root",
    ),
    // Request (CloudHSM only)
    col(
        "request_cluster_id",
        Text,
        Request,
        hsm(&[&["requestParameters", "clusterId"]]),
        "Cluster named in the request",
    ),
    col(
        "request_hsm_id",
        Text,
        Request,
        hsm(&[&["requestParameters", "hsmId"]]),
        "HSM named in the request (DeleteHsm)",
    ),
    col(
        "request_eni_id",
        Text,
        Request,
        hsm(&[&["requestParameters", "eniId"]]),
        "HSM network interface named in the request (DeleteHsm)",
    ),
    col(
        "request_eni_ip",
        Text,
        Request,
        hsm(&[&["requestParameters", "eniIp"]]),
        "HSM IP address named in the request (DeleteHsm)",
    ),
    col(
        "request_backup_id",
        Text,
        Request,
        hsm(&[&["requestParameters", "backupId"]]),
        "Backup named in the request",
    ),
    col(
        "request_availability_zone",
        Text,
        Request,
        hsm(&[&["requestParameters", "availabilityZone"]]),
        "Availability Zone of a new HSM (CreateHsm)",
    ),
    col(
        "request_ip_address",
        Text,
        Request,
        hsm(&[&["requestParameters", "ipAddress"]]),
        "IP address asked for a new HSM (CreateHsm)",
    ),
    col(
        "request_hsm_type",
        Text,
        Request,
        hsm(&[&["requestParameters", "hsmType"]]),
        "HSM type asked for (CreateCluster, ModifyCluster), e.g. hsm2m.medium",
    ),
    col(
        "request_source_backup_id",
        Text,
        Request,
        hsm(&[&["requestParameters", "sourceBackupId"]]),
        "Backup a new cluster is restored from (CreateCluster)",
    ),
    col(
        "request_source_backup_account",
        Text,
        Request,
        Source::Derived(Derived::SourceBackupAccount),
        "Account owning the backup a new cluster is restored from, when sourceBackupId is an ARN (CreateCluster; another account than the caller's is a cross-account restore)",
    ),
    col(
        "request_signed_cert_sha256",
        Text,
        Request,
        Source::Derived(Derived::Certificate(
            "signedCert",
            crate::cert::Part::Sha256,
        )),
        "SHA-256 fingerprint (hex, of the DER) of the cluster certificate signed by the customer's issuing CA (InitializeCluster)",
    ),
    col(
        "request_signed_cert_subject",
        Text,
        Request,
        Source::Derived(Derived::Certificate(
            "signedCert",
            crate::cert::Part::Subject,
        )),
        "Subject (RFC 4514 form) of the cluster certificate signed by the customer's issuing CA",
    ),
    col(
        "request_signed_cert_issuer",
        Text,
        Request,
        Source::Derived(Derived::Certificate(
            "signedCert",
            crate::cert::Part::Issuer,
        )),
        "Issuer (RFC 4514 form) of the cluster certificate signed by the customer's issuing CA",
    ),
    col(
        "request_signed_cert_not_before",
        Timestamp,
        Request,
        Source::Derived(Derived::Certificate(
            "signedCert",
            crate::cert::Part::NotBefore,
        )),
        "Start of validity of the cluster certificate signed by the customer's issuing CA, UTC",
    ),
    col(
        "request_signed_cert_not_after",
        Timestamp,
        Request,
        Source::Derived(Derived::Certificate(
            "signedCert",
            crate::cert::Part::NotAfter,
        )),
        "End of validity of the cluster certificate signed by the customer's issuing CA, UTC",
    ),
    col(
        "request_trust_anchor_sha256",
        Text,
        Request,
        Source::Derived(Derived::Certificate(
            "trustAnchor",
            crate::cert::Part::Sha256,
        )),
        "SHA-256 fingerprint (hex, of the DER) of the customer's trust anchor (root CA) certificate (InitializeCluster)",
    ),
    col(
        "request_trust_anchor_subject",
        Text,
        Request,
        Source::Derived(Derived::Certificate(
            "trustAnchor",
            crate::cert::Part::Subject,
        )),
        "Subject (RFC 4514 form) of the customer's trust anchor (root CA) certificate",
    ),
    col(
        "request_trust_anchor_issuer",
        Text,
        Request,
        Source::Derived(Derived::Certificate(
            "trustAnchor",
            crate::cert::Part::Issuer,
        )),
        "Issuer (RFC 4514 form) of the customer's trust anchor (root CA) certificate",
    ),
    col(
        "request_trust_anchor_not_before",
        Timestamp,
        Request,
        Source::Derived(Derived::Certificate(
            "trustAnchor",
            crate::cert::Part::NotBefore,
        )),
        "Start of validity of the customer's trust anchor (root CA) certificate, UTC",
    ),
    col(
        "request_trust_anchor_not_after",
        Timestamp,
        Request,
        Source::Derived(Derived::Certificate(
            "trustAnchor",
            crate::cert::Part::NotAfter,
        )),
        "End of validity of the customer's trust anchor (root CA) certificate, UTC",
    ),
    col(
        "request_destination_region",
        Text,
        Request,
        hsm(&[&["requestParameters", "destinationRegion"]]),
        "Region a backup is copied to (CopyBackupToRegion)",
    ),
    col(
        "request_subnet_ids",
        TextList,
        Request,
        hsm(&[&["requestParameters", "subnetIds"]]),
        "Subnets of a new cluster (CreateCluster)",
    ),
    col(
        "request_resource_id",
        Text,
        Request,
        hsm(&[&["requestParameters", "resourceId"]]),
        "Resource being tagged or listed (TagResource, UntagResource, ListTags)",
    ),
    col(
        "request_resource_arn",
        Text,
        Request,
        hsm(&[&["requestParameters", "resourceArn"]]),
        "Resource whose policy is read or changed (Put/Get/DeleteResourcePolicy)",
    ),
    col(
        "request_never_expires",
        Bool,
        Request,
        hsm(&[&["requestParameters", "neverExpires"]]),
        "Backup retention override (ModifyBackupAttributes)",
    ),
    col(
        "request_backup_retention_type",
        Text,
        Request,
        hsm(&[&["requestParameters", "backupRetentionPolicy", "type"]]),
        "Backup retention policy type, DAYS (CreateCluster, ModifyCluster)",
    ),
    col(
        "request_backup_retention_value",
        Text,
        Request,
        hsm(&[&["requestParameters", "backupRetentionPolicy", "value"]]),
        "Backup retention period in days, as the API's string",
    ),
    col(
        "request_mode",
        Text,
        Request,
        hsm(&[&["requestParameters", "mode"]]),
        "Cluster mode asked for: FIPS or NON_FIPS (CreateCluster)",
    ),
    col(
        "request_network_type",
        Text,
        Request,
        hsm(&[&["requestParameters", "networkType"]]),
        "Network type asked for: IPV4 or DUALSTACK (CreateCluster)",
    ),
    col(
        "request_tag_keys",
        TextList,
        Request,
        Source::Derived(Derived::TagKeys),
        "Tag keys added (TagResource tagList) or removed (UntagResource tagKeyList)",
    ),
    col(
        "request_shared_with",
        TextList,
        Request,
        Source::Derived(Derived::SharedWith),
        "Who a backup is shared with: the principals of a CloudHSM PutResourcePolicy policy's Allow statements, or of an AWS RAM share of a backup; IAM principal ARNs reduced to their account, organisation and OU ARNs and * as they are",
    ),
    col(
        "request_custom_key_store_id",
        Text,
        Request,
        of_source(
            crate::related::KMS_SOURCE,
            &[
                &["requestParameters", "customKeyStoreId"],
                &["responseElements", "customKeyStoreId"],
            ],
        ),
        "AWS KMS custom key store (its *CustomKeyStore calls; CreateCustomKeyStore names its cluster, see cluster_id)",
    ),
    col(
        "request_log_group_name",
        Text,
        Request,
        of_source(
            crate::related::LOGS_SOURCE,
            &[
                &["requestParameters", "logGroupName"],
                &["requestParameters", "logGroupIdentifier"],
                &["requestParameters", "resourceIdentifier"],
            ],
        ),
        "CloudWatch Logs log group changed (a name, or the ARN logGroupIdentifier or resourceIdentifier gives); /aws/cloudhsm/CLUSTER holds an HSM audit log",
    ),
    col(
        "request_trail_name",
        Text,
        Request,
        of_source(
            crate::related::CLOUDTRAIL_SOURCE,
            &[
                &["requestParameters", "name"],
                &["requestParameters", "trailName"],
            ],
        ),
        "CloudTrail trail changed, as named in the call (a name or an ARN): StopLogging, StartLogging, DeleteTrail, UpdateTrail, PutEventSelectors, PutInsightSelectors",
    ),
    // Response (CloudHSM only)
    col(
        "response_cluster_id",
        Text,
        Response,
        hsm(&[
            &["responseElements", "cluster", "clusterId"],
            &["responseElements", "hsm", "clusterId"],
            &["responseElements", "backup", "clusterId"],
        ]),
        "Cluster in the response (cluster, hsm or backup element)",
    ),
    col(
        "response_cluster_state",
        Text,
        Response,
        hsm(&[&["responseElements", "cluster", "state"]]),
        "Cluster state in the response, e.g. CREATE_IN_PROGRESS",
    ),
    col(
        "response_hsm_id",
        Text,
        Response,
        hsm(&[
            &["responseElements", "hsm", "hsmId"],
            &["responseElements", "hsmId"],
        ]),
        "HSM in the response (CreateHsm, DeleteHsm)",
    ),
    col(
        "response_hsm_state",
        Text,
        Response,
        hsm(&[&["responseElements", "hsm", "state"]]),
        "HSM state in the response",
    ),
    col(
        "response_hsm_eni_id",
        Text,
        Response,
        hsm(&[&["responseElements", "hsm", "eniId"]]),
        "Network interface of the HSM",
    ),
    col(
        "response_hsm_eni_ip",
        Text,
        Response,
        hsm(&[&["responseElements", "hsm", "eniIp"]]),
        "IP address of the HSM",
    ),
    col(
        "response_hsm_subnet_id",
        Text,
        Response,
        hsm(&[&["responseElements", "hsm", "subnetId"]]),
        "Subnet of the HSM",
    ),
    col(
        "response_hsm_availability_zone",
        Text,
        Response,
        hsm(&[&["responseElements", "hsm", "availabilityZone"]]),
        "Availability Zone of the HSM",
    ),
    col(
        "response_backup_id",
        Text,
        Response,
        hsm(&[&["responseElements", "backup", "backupId"]]),
        "Backup in the response",
    ),
    col(
        "response_backup_state",
        Text,
        Response,
        hsm(&[&["responseElements", "backup", "backupState"]]),
        "Backup state in the response, e.g. PENDING_DELETION",
    ),
    col(
        "response_backup_arn",
        Text,
        Response,
        hsm(&[&["responseElements", "backup", "backupArn"]]),
        "ARN of the backup in the response",
    ),
    col(
        "response_cluster_hsm_type",
        Text,
        Response,
        hsm(&[&["responseElements", "cluster", "hsmType"]]),
        "HSM type of the cluster in the response, e.g. hsm2m.medium (during a migration, the type migrated to)",
    ),
    col(
        "response_cluster_hsm_type_rollback_expiration",
        Timestamp,
        Response,
        hsm(&[&["responseElements", "cluster", "hsmTypeRollbackExpiration"]]),
        "Deadline for rolling back an HSM type migration of the cluster, UTC (form UNCONFIRMED: RFC 3339, epoch seconds and the Java form are all read)",
    ),
    col(
        "response_cluster_mode",
        Text,
        Response,
        hsm(&[&["responseElements", "cluster", "mode"]]),
        "Cluster mode in the response: FIPS or NON_FIPS",
    ),
    col(
        "response_cluster_network_type",
        Text,
        Response,
        hsm(&[&["responseElements", "cluster", "networkType"]]),
        "Network type of the cluster: IPV4 or DUALSTACK",
    ),
    col(
        "response_cluster_backup_retention_type",
        Text,
        Response,
        hsm(&[&[
            "responseElements",
            "cluster",
            "backupRetentionPolicy",
            "type",
        ]]),
        "Backup retention policy type of the cluster, e.g. DAYS",
    ),
    col(
        "response_cluster_backup_retention_value",
        Text,
        Response,
        hsm(&[&[
            "responseElements",
            "cluster",
            "backupRetentionPolicy",
            "value",
        ]]),
        "Backup retention policy value of the cluster, e.g. 90",
    ),
    col(
        "response_cluster_vpc_id",
        Text,
        Response,
        hsm(&[&["responseElements", "cluster", "vpcId"]]),
        "VPC of the cluster",
    ),
    col(
        "response_cluster_security_group",
        Text,
        Response,
        hsm(&[&["responseElements", "cluster", "securityGroup"]]),
        "Security group of the cluster",
    ),
    col(
        "response_cluster_state_message",
        Text,
        Response,
        hsm(&[&["responseElements", "cluster", "stateMessage"]]),
        "Cluster state message in the response",
    ),
    col(
        "response_cluster_source_backup_id",
        Text,
        Response,
        hsm(&[&["responseElements", "cluster", "sourceBackupId"]]),
        "Backup the cluster was restored from, as the response names it",
    ),
    col(
        "response_hsm_type",
        Text,
        Response,
        hsm(&[&["responseElements", "hsm", "hsmType"]]),
        "HSM type of the HSM in the response",
    ),
    col(
        "response_hsm_eni_ipv6",
        Text,
        Response,
        hsm(&[&["responseElements", "hsm", "eniIpV6"]]),
        "IPv6 address of the HSM (DUALSTACK clusters)",
    ),
    col(
        "response_backup_hsm_type",
        Text,
        Response,
        hsm(&[&["responseElements", "backup", "hsmType"]]),
        "HSM type of the backup",
    ),
    col(
        "response_backup_mode",
        Text,
        Response,
        hsm(&[&["responseElements", "backup", "mode"]]),
        "Mode of the cluster the backup was taken of: FIPS or NON_FIPS",
    ),
    col(
        "response_backup_never_expires",
        Bool,
        Response,
        hsm(&[&["responseElements", "backup", "neverExpires"]]),
        "Whether the backup is kept whatever the retention policy",
    ),
    col(
        "response_backup_source_region",
        Text,
        Response,
        hsm(&[
            &["responseElements", "backup", "sourceRegion"],
            &["responseElements", "destinationBackup", "sourceRegion"],
        ]),
        "Region a copied backup came from (backup, or CopyBackupToRegion's destinationBackup)",
    ),
    col(
        "response_backup_source_backup",
        Text,
        Response,
        hsm(&[
            &["responseElements", "backup", "sourceBackup"],
            &["responseElements", "destinationBackup", "sourceBackup"],
        ]),
        "Backup a copied backup was copied from",
    ),
    col(
        "response_backup_source_cluster",
        Text,
        Response,
        hsm(&[
            &["responseElements", "backup", "sourceCluster"],
            &["responseElements", "destinationBackup", "sourceCluster"],
        ]),
        "Cluster a copied backup's source was taken of",
    ),
    col(
        "response_backup_copy_timestamp",
        Timestamp,
        Response,
        hsm(&[&["responseElements", "backup", "copyTimestamp"]]),
        "When a copied backup was copied, UTC (form UNCONFIRMED, read leniently)",
    ),
    col(
        "response_backup_delete_timestamp",
        Timestamp,
        Response,
        hsm(&[&["responseElements", "backup", "deleteTimestamp"]]),
        "When the backup was (or will be) deleted, UTC (form UNCONFIRMED, read leniently)",
    ),
    col(
        "response_state",
        Text,
        Response,
        hsm(&[&["responseElements", "state"]]),
        "Cluster state returned by InitializeCluster",
    ),
    col(
        "response_state_message",
        Text,
        Response,
        hsm(&[&["responseElements", "stateMessage"]]),
        "State message returned by InitializeCluster",
    ),
    // Resources touched
    col(
        "cluster_id",
        Text,
        Resource,
        Source::Derived(Derived::ResourceId(ResourceKind::Cluster)),
        "Cluster the event touched, from request, response, service event details or resources; for a KMS custom key store the cluster behind it, for an audit log group the cluster it is named after",
    ),
    col(
        "hsm_id",
        Text,
        Resource,
        Source::Derived(Derived::ResourceId(ResourceKind::Hsm)),
        "HSM the event touched, from request, response, service event details or resources",
    ),
    col(
        "backup_id",
        Text,
        Resource,
        Source::Derived(Derived::ResourceId(ResourceKind::Backup)),
        "Backup the event touched, from request, response, service event details or resources; for a RAM share the first backup ARN shared",
    ),
    col(
        "cloudhsm_relation",
        Text,
        Resource,
        Source::Derived(Derived::Relation),
        "Why an event of another service concerns CloudHSM, and is kept by default: kms-custom-key-store, ram-backup-share, audit-log-group or trail-change; null for CloudHSM's own events and any other",
    ),
    // Raw JSON
    col(
        "user_identity",
        Json,
        Raw,
        Source::Raw("userIdentity"),
        "userIdentity as raw JSON",
    ),
    col(
        "request_parameters",
        Json,
        Raw,
        Source::Raw("requestParameters"),
        "requestParameters as raw JSON ('null' when logged as null)",
    ),
    col(
        "response_elements",
        Json,
        Raw,
        Source::Raw("responseElements"),
        "responseElements as raw JSON ('null' when logged as null)",
    ),
    col(
        "additional_event_data",
        Json,
        Raw,
        Source::Raw("additionalEventData"),
        "additionalEventData as raw JSON",
    ),
    col(
        "service_event_details",
        Json,
        Raw,
        Source::Raw("serviceEventDetails"),
        "serviceEventDetails (service events) as raw JSON",
    ),
    col(
        "resources",
        Json,
        Raw,
        Source::Raw("resources"),
        "resources as raw JSON",
    ),
    col(
        "tls_details",
        Json,
        Raw,
        Source::Raw("tlsDetails"),
        "tlsDetails as raw JSON",
    ),
    col(
        "addendum",
        Json,
        Raw,
        Source::Raw("addendum"),
        "addendum (late or updated delivery) as raw JSON",
    ),
    col(
        "insight_details",
        Json,
        Raw,
        Source::Raw("insightDetails"),
        "insightDetails (Insights events) as raw JSON",
    ),
    col(
        "edge_device_details",
        Json,
        Raw,
        Source::Raw("edgeDeviceDetails"),
        "edgeDeviceDetails (S3 on Outposts) as raw JSON",
    ),
    col(
        "extra",
        Json,
        Raw,
        Source::Derived(Derived::Extra),
        "JSON object of top-level keys no other column reproduces exactly (unknown keys, odd types)",
    ),
    // Provenance
    col(
        "source_file",
        Text,
        Provenance,
        Source::Derived(Derived::SourceFile),
        "Input path or object key the record was read from",
    ),
    col(
        "source_verified",
        Bool,
        Provenance,
        Source::Derived(Derived::SourceVerified),
        "Whether a CloudTrail digest proven by its signature lists the input file with its exact SHA-256 (convert --verify); false when none does, null when converted without --verify",
    ),
    col(
        "type_mismatches",
        TextList,
        Provenance,
        Source::Derived(Derived::TypeMismatches),
        "Typed columns left null because the value had an unexpected JSON type",
    ),
];

/// Index of a column by name; panics on an unknown name, which is a programming error.
pub fn index_of(name: &str) -> usize {
    COLUMNS
        .iter()
        .position(|c| c.name == name)
        .unwrap_or_else(|| panic!("no column named {name}"))
}

static ARROW_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| schema_of(Table::Events));

/// The Arrow schema of a table's files, from its columns.
pub fn schema_of(table: Table) -> SchemaRef {
    Arc::new(Schema::new(
        column_docs(table)
            .into_iter()
            .map(|c| Field::new(c.name, c.data_type, true))
            .collect::<Vec<_>>(),
    ))
}

/// The Arrow schema of every file hsmtrail writes.
pub fn arrow_schema() -> SchemaRef {
    ARROW_SCHEMA.clone()
}

/// What listings and table definitions need of a column, whichever table it is in.
#[derive(Debug, Clone)]
pub struct ColumnDoc {
    pub name: &'static str,
    pub doc_type: &'static str,
    pub data_type: DataType,
    /// Athena, Spark and Hive type.
    pub hive_type: &'static str,
    pub group: &'static str,
    pub description: &'static str,
}

/// The columns of `table`, in file order.
pub fn column_docs(table: Table) -> Vec<ColumnDoc> {
    match table {
        Table::Events => COLUMNS
            .iter()
            .map(|c| ColumnDoc {
                name: c.name,
                doc_type: c.kind.doc_name(),
                data_type: c.kind.data_type(),
                hive_type: c.kind.hive_type(),
                group: c.group.title(),
                description: c.description,
            })
            .collect(),
        Table::HsmAudit => crate::audit::columns::COLUMNS
            .iter()
            .map(|c| ColumnDoc {
                name: c.name,
                doc_type: c.kind.doc_name(),
                data_type: c.kind.data_type(),
                hive_type: c.kind.hive_type(),
                group: c.group,
                description: c.description,
            })
            .collect(),
    }
}

/// The partition columns `table` can have: any of the layout's for events, the date for
/// audit entries.
pub fn partition_fields(table: Table) -> &'static [PartitionField] {
    match table {
        Table::Events => &PartitionField::ALL,
        Table::HsmAudit => &[PartitionField::Date],
    }
}

/// A table's schema as a Markdown table: used by `hsmtrail schema --format markdown` and kept
/// in the README by a test.
pub fn markdown_table(table: Table) -> String {
    let mut out = String::from("| column | type | description |\n|---|---|---|\n");
    for c in column_docs(table) {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.name, c.doc_type, c.description
        ));
    }
    for p in partition_fields(table) {
        out.push_str(&format!(
            "| `{}` | {} (partition) | {} |\n",
            p.column(),
            p.doc_type(),
            p.description()
        ));
    }
    out
}

/// A table's schema as plain text, one line a column with its description.
pub fn text_listing(table: Table) -> String {
    let docs = column_docs(table);
    let width = docs.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let type_width = docs.iter().map(|c| c.doc_type.len()).max().unwrap_or(0);
    let mut out = String::new();
    let mut group = None;
    for c in &docs {
        if group != Some(c.group) {
            if group.is_some() {
                out.push('\n');
            }
            out.push_str(&format!("# {}\n", c.group));
            group = Some(c.group);
        }
        out.push_str(&format!(
            "{:width$}  {:type_width$}  {}\n",
            c.name, c.doc_type, c.description
        ));
    }
    out.push_str("\n# Partition columns (folder names, not in the files; queries can use them)\n");
    for p in partition_fields(table) {
        out.push_str(&format!(
            "{:width$}  {:type_width$}  {}\n",
            p.column(),
            p.doc_type(),
            p.description()
        ));
    }
    out
}

/// A table's schema as JSON: `[{"name", "type", "arrow_type", "group", "description"}]`.
pub fn json_listing(table: Table) -> serde_json::Value {
    serde_json::Value::Array(
        column_docs(table)
            .into_iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.name,
                    "type": c.doc_type,
                    "arrow_type": c.data_type.to_string(),
                    "group": c.group,
                    "description": c.description,
                    "partition": false,
                })
            })
            .chain(partition_fields(table).iter().map(|p| {
                serde_json::json!({
                    "name": p.column(),
                    "type": p.doc_type(),
                    "group": "Partition columns",
                    "description": p.description(),
                    "partition": true,
                })
            }))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_snake_case() {
        let mut seen = HashSet::new();
        for c in COLUMNS {
            assert!(seen.insert(c.name), "duplicate column {}", c.name);
            assert!(
                c.name
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                "{} is not snake_case",
                c.name
            );
            assert!(!c.description.is_empty());
        }
    }

    #[test]
    fn no_types_engines_reject() {
        for f in arrow_schema().fields() {
            assert!(!matches!(
                f.data_type(),
                DataType::Null
                    | DataType::UInt8
                    | DataType::UInt16
                    | DataType::UInt32
                    | DataType::UInt64
            ));
        }
    }

    #[test]
    fn top_level_keys_are_claimed_once() {
        let mut keys = HashSet::new();
        for c in COLUMNS {
            if let Source::Top(k, _) | Source::Raw(k) = c.source {
                assert!(keys.insert(k), "{k} claimed twice");
            }
        }
    }
}
