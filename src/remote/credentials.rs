//! Credentials and region as the AWS CLI resolves them, by the AWS SDK's own resolver
//! (`aws-config`), handed to object_store through its [`CredentialProvider`].
//!
//! The SDK's default chain reads, in order: `AWS_ACCESS_KEY_ID` and its friends; the profile
//! `AWS_PROFILE` names (or `default`) in `~/.aws/config` and `~/.aws/credentials`, with
//! everything a profile can say (static keys, IAM Identity Center through `sso_session` or the
//! legacy `sso_*` keys, `role_arn` with `source_profile` or `credential_source`,
//! `credential_process`, `web_identity_token_file`); web identity from the environment
//! (EKS); the ECS container endpoint; and the EC2 instance metadata service. Credentials that
//! expire (SSO, assumed roles, instance roles) are fetched again shortly before they do, and
//! once a run however short-lived they are; credentials that have expired already are refused
//! with the time they expired; a fetch that does not finish within `--s3-timeout` (a
//! `credential_process` that hangs) fails with a message.
//!
//! The region is `AWS_REGION`/`AWS_DEFAULT_REGION`, else the profile's `region`, else
//! `us-east-1`: never asked of the instance metadata service, which would cost every run off
//! EC2 a timeout.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls;
use object_store::CredentialProvider;
use object_store::aws::AwsCredential;

/// Where S3 is asked for when nothing says: the CLI's own default.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Credentials are fetched again this long before they expire, so that no request is signed
/// with credentials that run out in flight.
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// What the SDK resolved: the region and the credentials chain.
pub struct Resolved {
    pub region: String,
    pub credentials: Arc<SdkCredentials>,
}

/// Resolves the region and sets up the credentials chain (credentials themselves are fetched
/// at the first request). Must run on a tokio runtime.
/// `timeout` bounds each fetch of credentials (a `credential_process` that hangs, an
/// unreachable STS).
pub async fn resolve(timeout: Duration) -> Resolved {
    let region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(ProfileFileRegionProvider::new())
        .or_else(aws_config::Region::from_static(DEFAULT_REGION));
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .http_client(http)
        .load()
        .await;
    let region = config
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    Resolved {
        region,
        credentials: Arc::new(SdkCredentials {
            provider: config.credentials_provider(),
            cached: futures::lock::Mutex::new(None),
            timeout,
        }),
    }
}

/// The SDK's credentials chain as object_store's provider, caching each set until shortly
/// before it expires.
#[derive(Debug)]
pub struct SdkCredentials {
    provider: Option<SharedCredentialsProvider>,
    cached: futures::lock::Mutex<Option<Cached>>,
    timeout: Duration,
}

#[derive(Debug)]
struct Cached {
    credential: Arc<AwsCredential>,
    /// When to fetch again: [`REFRESH_BEFORE`] before they expire, or halfway to that for
    /// credentials that come with less time than that; `None` for credentials that do not
    /// expire.
    refresh_at: Option<SystemTime>,
}

/// No credentials could be found: what was tried, and what to do.
#[derive(Debug, thiserror::Error)]
#[error(
    "no AWS credentials ({reason}): sign in as for the AWS CLI (`aws sso login` for IAM Identity \
     Center profiles), set AWS_PROFILE to a profile of ~/.aws/config, or set AWS_ACCESS_KEY_ID \
     and AWS_SECRET_ACCESS_KEY"
)]
pub struct NoCredentials {
    reason: String,
}

#[async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let mut cached = self.cached.lock().await;
        if let Some(found) = cached.as_ref()
            && found.refresh_at.is_none_or(|at| SystemTime::now() < at)
        {
            return Ok(found.credential.clone());
        }
        let refused = |reason: String| object_store::Error::Generic {
            store: "S3",
            source: Box::new(NoCredentials { reason }),
        };
        let provider = self
            .provider
            .as_ref()
            .ok_or_else(|| refused("no credentials provider is configured".to_owned()))?;
        let fresh = tokio::time::timeout(self.timeout, provider.provide_credentials())
            .await
            .map_err(|_| {
                refused(format!(
                    "no answer within {} s (a credential_process that does not finish, or STS or \
                     SSO out of reach; --s3-timeout sets the wait)",
                    self.timeout.as_secs()
                ))
            })?
            .map_err(|e| refused(with_causes(&e)))?;
        let now = SystemTime::now();
        if let Some(expiry) = fresh.expiry()
            && expiry <= now
        {
            let at = chrono::DateTime::<chrono::Utc>::from(expiry);
            return Err(refused(format!(
                "the credentials provided expired at {} (a credential_process or cache handing out \
                 old credentials?)",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )));
        }
        let credential = Arc::new(AwsCredential {
            key_id: fresh.access_key_id().to_owned(),
            secret_key: fresh.secret_access_key().to_owned(),
            token: fresh.session_token().map(str::to_owned),
        });
        let refresh_at = fresh.expiry().map(|expiry| {
            let left = expiry.duration_since(now).unwrap_or_default();
            expiry - REFRESH_BEFORE.min(left / 2)
        });
        *cached = Some(Cached {
            credential: credential.clone(),
            refresh_at,
        });
        Ok(credential)
    }
}

/// An error with the chain of its causes, which is where the SDK says what each provider
/// found wrong.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Whether an object_store failure is [`NoCredentials`].
pub fn is_no_credentials(error: &object_store::Error) -> bool {
    matches!(error, object_store::Error::Generic { source, .. } if source.downcast_ref::<NoCredentials>().is_some())
}
