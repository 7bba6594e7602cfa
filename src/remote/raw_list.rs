//! ListObjectsV2 read key by key: the listing of trail inputs. object_store's listing cannot be
//! used for them. It converts a page of up to 1,000 keys at once and fails the whole page for
//! one key its paths cannot represent (an empty, `.` or `..` segment, a control character), and
//! it strips a leading or trailing `/` from a key, so that `a.json/` is listed as `a.json`: the
//! one object is then never read and the other read twice. Here every key is read as S3 spells
//! it (`encoding-type=url`, so that even control characters arrive intact): a key that a store
//! path names exactly is listed, a zero-byte folder marker (`folder/`, what the S3 console's
//! "Create folder" makes) is left out, and every other key is returned by name, so that the run
//! can say it was not converted.
//!
//! Only the request and the XML are ours: requests are signed by object_store's own SigV4
//! signer with the store's own credentials, sent by its HTTP client with the same timeouts and
//! tried again like object_store's own requests, and the bucket's URL is the one object_store
//! works out (endpoint, path or virtual-hosted style).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::aws::{AmazonS3, AwsAuthorizer};
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequestBody, ReqwestConnector,
};
use object_store::path::Path as StorePath;
use object_store::signer::Signer;
use object_store::{ClientOptions, ObjectMeta};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// A bucket's listings, made by hand.
#[derive(Debug)]
pub struct RawLister {
    s3: Arc<AmazonS3>,
    http: HttpClient,
    region: String,
    retries: usize,
}

/// One folder's listing.
#[derive(Debug, Default, PartialEq)]
pub struct RawListing {
    pub objects: Vec<ObjectMeta>,
    /// Sub-folders (listed with a delimiter), without their trailing `/`.
    pub prefixes: Vec<String>,
    /// Keys that no store path can name, as S3 spells them.
    pub unreadable: Vec<String>,
    /// Sub-folders (with their `/`) that no store path can name: nothing below them can be.
    pub unreadable_folders: Vec<String>,
}

/// What S3 answers a ListObjectsV2 request with.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListBucketResult {
    #[serde(default)]
    contents: Vec<Contents>,
    #[serde(default)]
    common_prefixes: Vec<CommonPrefix>,
    #[serde(default)]
    is_truncated: bool,
    next_continuation_token: Option<String>,
    /// `url` when the keys are URL-encoded, as asked; a store that ignores the request sends
    /// them as they are.
    encoding_type: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Contents {
    key: String,
    size: u64,
    last_modified: String,
    #[serde(rename = "ETag")]
    e_tag: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CommonPrefix {
    prefix: String,
}

/// The bytes SigV4 leaves unencoded in a query value; everything else is `%XX`.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Longest wait between two tries, as object_store's own backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(15);

/// No try after this long from the first, as object_store's own retry policy.
const RETRY_TIMEOUT: Duration = Duration::from_secs(180);

impl RawLister {
    pub fn new(
        s3: Arc<AmazonS3>,
        region: String,
        client: &ClientOptions,
        retries: usize,
    ) -> object_store::Result<Self> {
        Ok(RawLister {
            s3,
            http: ReqwestConnector::default().connect(client)?,
            region,
            retries,
        })
    }

    /// Every key below `prefix` (a folder, without its trailing `/`; empty for the bucket),
    /// or with `delimiter` the keys and sub-folders of that folder alone. Sub-folders are
    /// listed only when a store path names them exactly, and never empty, so that a walk
    /// through them always ends.
    pub async fn list(&self, prefix: &str, delimiter: bool) -> object_store::Result<RawListing> {
        let bucket_url = self.bucket_url().await?;
        let folder = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        let mut listing = RawListing::default();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("encoding-type", "url".to_owned()),
                ("list-type", "2".to_owned()),
                ("prefix", folder.clone()),
            ];
            if delimiter {
                query.push(("delimiter", "/".to_owned()));
            }
            if let Some(token) = token.take() {
                query.push(("continuation-token", token));
            }
            let query: Vec<String> = query
                .iter()
                .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
                .collect();
            let url = format!("{bucket_url}/?{}", query.join("&"));
            let page = self.page_with_retries(&url).await?;
            let encoded = page.encoding_type.as_deref() == Some("url");
            for object in page.contents {
                let key = decode(&object.key, encoded)?;
                if key.ends_with('/') && object.size == 0 {
                    continue;
                }
                match exact_path(&key) {
                    Some(location) => listing.objects.push(ObjectMeta {
                        location,
                        last_modified: DateTime::parse_from_rfc3339(&object.last_modified)
                            .map_err(|e| generic(format!("LastModified of {key}: {e}")))?
                            .with_timezone(&Utc),
                        size: object.size,
                        e_tag: object.e_tag,
                        version: None,
                    }),
                    None => listing.unreadable.push(key),
                }
            }
            for sub in page.common_prefixes {
                let sub = decode(&sub.prefix, encoded)?;
                let folder = sub.strip_suffix('/').unwrap_or(&sub);
                match exact_path(folder) {
                    Some(_) => listing.prefixes.push(folder.to_owned()),
                    None => listing.unreadable_folders.push(sub),
                }
            }
            match (page.is_truncated, page.next_continuation_token) {
                (true, Some(next)) => token = Some(next),
                (false, _) => return Ok(listing),
                // Going on without the token would end the listing early, unnoticed.
                (true, None) => {
                    return Err(generic(format!(
                        "listing {bucket_url}/{folder}: the store said the listing goes on but sent no continuation token"
                    )));
                }
            }
        }
    }

    /// The bucket's URL as object_store addresses it: the URL it would sign for a key, less
    /// the key and the signature.
    async fn bucket_url(&self) -> object_store::Result<String> {
        let mut url = self
            .s3
            .signed_url(
                http::Method::GET,
                &StorePath::from("key"),
                Duration::from_secs(60),
            )
            .await?;
        url.set_query(None);
        let text = url.as_str();
        Ok(text.strip_suffix("/key").unwrap_or(text).to_owned())
    }

    /// One page, tried again after a throttle, a server error or a failed connection, with
    /// exponential backoff from 100 ms, as object_store's own requests are.
    async fn page_with_retries(&self, url: &str) -> object_store::Result<ListBucketResult> {
        let mut wait = Duration::from_millis(100);
        let mut tries = 0;
        let started = std::time::Instant::now();
        loop {
            match self.page(url).await {
                Err(Failure::Transient(_))
                    if tries < self.retries && started.elapsed() < RETRY_TIMEOUT =>
                {
                    tries += 1;
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_BACKOFF);
                }
                Err(Failure::Transient(e) | Failure::Final(e)) => return Err(e),
                Ok(page) => return Ok(page),
            }
        }
    }

    async fn page(&self, url: &str) -> Result<ListBucketResult, Failure> {
        let credential = self
            .s3
            .credentials()
            .get_credential()
            .await
            .map_err(Failure::Final)?;
        let mut request = http::Request::builder()
            .method(http::Method::GET)
            .uri(url)
            .body(HttpRequestBody::from(Bytes::new()))
            .map_err(|e| Failure::Final(generic(format!("{url}: {e}"))))?;
        AwsAuthorizer::new(&credential, "s3", &self.region).authorize(&mut request, None);
        let response = self.http.execute(request).await.map_err(transient)?;
        let status = response.status();
        let body = response.into_body().bytes().await.map_err(transient)?;
        let text = String::from_utf8_lossy(&body);
        if !status.is_success() {
            // The body carries S3's `<Code>`, which `explain` tells the user about.
            let error = generic(format!("list request failed: {status}: {text}"));
            let again = status.is_server_error() || status.as_u16() == 429;
            return Err(if again {
                Failure::Transient(error)
            } else {
                Failure::Final(error)
            });
        }
        quick_xml::de::from_str(&text)
            .map_err(|e| Failure::Final(generic(format!("a listing S3 sent: {e}"))))
    }
}

enum Failure {
    Transient(object_store::Error),
    Final(object_store::Error),
}

/// A connection that failed or was cut is worth another try, as object_store judges.
fn transient(error: HttpError) -> Failure {
    Failure::Transient(generic(error.to_string()))
}

fn generic(message: String) -> object_store::Error {
    object_store::Error::Generic {
        store: "S3",
        source: message.into(),
    }
}

/// The store path that names exactly `key`: `None` when no path does (object_store refuses
/// the key, or would strip a leading or trailing `/` and so name another object).
fn exact_path(key: &str) -> Option<StorePath> {
    StorePath::parse(key)
        .ok()
        .filter(|path| !key.is_empty() && path.as_ref() == key)
}

/// A key as S3 spells it, from its `encoding-type=url` form (`+` for a space, `%XX`), or as
/// sent when the store did not encode it.
fn decode(listed: &str, encoded: bool) -> object_store::Result<String> {
    if !encoded {
        return Ok(listed.to_owned());
    }
    percent_decode_str(&listed.replace('+', " "))
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|e| generic(format!("a key S3 listed as {listed}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_back_as_s3_spells_them() {
        assert_eq!(decode("a%2F%2Fb+c%2Bd%01", true).unwrap(), "a//b c+d\u{1}");
        assert_eq!(
            decode("plain/key.json.gz", true).unwrap(),
            "plain/key.json.gz"
        );
        assert_eq!(decode("a+b%2B.json", false).unwrap(), "a+b%2B.json");
    }

    #[test]
    fn only_keys_a_path_names_exactly_are_listed() {
        for key in [
            "a/b.json",
            "a b/[x]%2F.json",
            "AWSLogs/1/CloudTrail/x.json.gz",
        ] {
            assert_eq!(exact_path(key).unwrap().as_ref(), key);
        }
        for key in [
            "", "/a.json", "a.json/", "a//b", "a/./b", "a/../b", "a\u{1}b", "/",
        ] {
            assert!(exact_path(key).is_none(), "{key:?}");
        }
    }

    #[test]
    fn pages_parse() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>
<Prefix>AWSLogs%2F</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>
<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
<Contents><Key>AWSLogs%2Fa%2F%2Fb.json</Key><LastModified>2024-03-01T00:00:00.000Z</LastModified>
<ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>
<CommonPrefixes><Prefix>AWSLogs%2F111%2F</Prefix></CommonPrefixes>
<NextContinuationToken>t1</NextContinuationToken></ListBucketResult>"#;
        let page: ListBucketResult = quick_xml::de::from_str(xml).unwrap();
        assert!(page.is_truncated);
        assert_eq!(page.next_continuation_token.as_deref(), Some("t1"));
        assert_eq!(page.contents[0].key, "AWSLogs%2Fa%2F%2Fb.json");
        assert_eq!(page.contents[0].e_tag.as_deref(), Some("\"abc\""));
        assert_eq!(page.contents[0].size, 12);
        assert_eq!(page.common_prefixes[0].prefix, "AWSLogs%2F111%2F");
    }
}
