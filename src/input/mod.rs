//! Finding the input files and decoding them into records.
//!
//! [`discover`] expands the command line's inputs (files, directories walked recursively, glob
//! patterns, `s3://` prefixes listed along the CloudTrail layout, `-` for standard input) into
//! a sorted, de-duplicated list; [`decode`] turns a file's bytes into text; [`container`] finds
//! the records in that text.

pub mod container;
pub mod decode;
pub mod structural;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::remote::{Prune, Remote, S3Url};

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Input {
    /// A file; `walked` is true when it was found by walking a directory or matching a glob,
    /// which makes a non-JSON file a warning rather than a failure.
    File { path: PathBuf, walked: bool },
    /// An object found by listing an `s3://` prefix.
    Object {
        bucket: String,
        key: String,
        size: u64,
        /// The ETag, which changes when the object is replaced.
        etag: String,
    },
    /// Standard input.
    Stdin,
}

impl Input {
    /// How the input is named in messages and in the `source_file` column.
    pub fn name(&self) -> String {
        match self {
            Input::File { path, .. } => path.display().to_string(),
            Input::Object { bucket, key, .. } => format!("s3://{bucket}/{key}"),
            Input::Stdin => "-".to_owned(),
        }
    }

    /// Whether a non-JSON file here is only worth a warning.
    pub fn walked(&self) -> bool {
        matches!(
            self,
            Input::File { walked: true, .. } | Input::Object { .. }
        )
    }

    /// What identifies this version of the input for `--incremental`: where it is, its size
    /// and its ETag (objects) or modification time (files). `None` for standard input, which
    /// is never remembered.
    pub fn identity(&self) -> Option<Identity> {
        match self {
            Input::File { path, .. } => {
                let meta = std::fs::metadata(path).ok()?;
                let modified = meta
                    .modified()
                    .ok()?
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_nanos();
                let absolute = path.canonicalize().unwrap_or_else(|_| path.clone());
                Some(Identity {
                    input: absolute.display().to_string(),
                    size: meta.len(),
                    version: format!("mtime:{modified}"),
                })
            }
            Input::Object { size, etag, .. } => Some(Identity {
                input: self.name(),
                size: *size,
                version: etag.clone(),
            }),
            Input::Stdin => None,
        }
    }

    /// Size in bytes as stored (compressed), for progress; 0 when unknown.
    pub fn stored_size(&self) -> u64 {
        match self {
            Input::File { path, .. } => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            Input::Object { size, .. } => *size,
            Input::Stdin => 0,
        }
    }

    /// Opens the input for reading. An object is fetched whole into memory (its compressed
    /// size, bounded like any file by `--max-file-bytes`), never staged on disk.
    pub fn open(&self, remote: Option<&Remote>) -> io::Result<Box<dyn Read>> {
        match self {
            Input::File { path, .. } => Ok(Box::new(File::open(path)?)),
            Input::Object { bucket, key, .. } => {
                let remote = remote.ok_or_else(|| io::Error::other("no S3 client"))?;
                let bytes = remote
                    .get(bucket, key)
                    .map_err(|e| io::Error::other(format!("{e:#}")))?;
                Ok(Box::new(io::Cursor::new(bytes)))
            }
            Input::Stdin => Ok(Box::new(io::stdin().lock())),
        }
    }

    /// The key that decides an input's shard: from the `AWSLogs` folder on when the path has
    /// one (the S3 key of the delivery file, the same wherever the archive is mounted or
    /// mirrored), else the path as given.
    pub fn shard_key(&self) -> String {
        match self {
            Input::File { path, .. } => {
                let parts: Vec<_> = path
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect();
                match parts.iter().position(|p| p == "AWSLogs") {
                    Some(i) => parts[i..].join("/"),
                    None => path.display().to_string(),
                }
            }
            Input::Object { key, .. } => match key.find("AWSLogs/") {
                Some(i) if i == 0 || key[..i].ends_with('/') => key[i..].to_owned(),
                _ => self.name(),
            },
            Input::Stdin => "-".to_owned(),
        }
    }

    /// Whether the path says this is a CloudTrail digest file (`.../CloudTrail-Digest/...`),
    /// which is skipped without being read.
    pub fn is_digest_path(&self) -> bool {
        match self {
            Input::File { path, .. } => path
                .components()
                .any(|c| c.as_os_str() == "CloudTrail-Digest"),
            Input::Object { key, .. } => key.split('/').any(|c| c == "CloudTrail-Digest"),
            Input::Stdin => false,
        }
    }
}

/// One version of an input, as `--incremental` records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// The absolute path, or the `s3://` URL.
    pub input: String,
    pub size: u64,
    /// `mtime:<ns>` for a file, the ETag for an object.
    pub version: String,
}

/// Why a file is left out without being converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// A CloudTrail digest file.
    Digest,
    /// A file with nothing in it (a zero-byte `.json.gz` too).
    Empty,
    /// Not JSON, found by walking a folder.
    NotJson,
    /// The object CloudWatch Logs writes to check it may write an export (`aws-logs-write-test`).
    ExportWriteTest,
    /// Another service's logs beside CloudTrail's in a logging bucket
    /// (`AWSLogs/<account>/<service>/`): the service folder's name.
    OtherLogs(String),
}

impl Skip {
    /// The key it is counted under in the summary's `skipped`.
    pub fn key(&self) -> String {
        match self {
            Skip::Digest => "digest".into(),
            Skip::Empty => "empty".into(),
            Skip::NotJson => "not-json".into(),
            Skip::ExportWriteTest => "export-write-test".into(),
            Skip::OtherLogs(service) => format!("not-cloudtrail:{service}"),
        }
    }

    /// In words, for the problems list.
    pub fn describe(&self) -> String {
        match self {
            Skip::Digest => "a CloudTrail digest file, not a log file".into(),
            Skip::Empty => "the file is empty".into(),
            Skip::NotJson => "not JSON".into(),
            Skip::ExportWriteTest => {
                "CloudWatch Logs' write test of an export to S3, not a log".into()
            }
            Skip::OtherLogs(service) => {
                format!("under AWSLogs/.../{service}/, another service's logs, not CloudTrail's")
            }
        }
    }
}

/// The result of expanding the command line's inputs.
#[derive(Debug, Default)]
pub struct Discovery {
    pub inputs: Vec<Input>,
    /// Inputs that named nothing readable: (what was given, why).
    pub problems: Vec<(String, String)>,
    /// Files found and left out unread (other services' logs in a logging bucket).
    pub skipped: Vec<(String, Skip)>,
}

/// The service folder a path lies in when it is below `AWSLogs/[o-org/]<account>/` but not in
/// a CloudTrail tree: a whole logging bucket also holds AWS Config, load balancer, VPC flow
/// and other logs there. Only `CloudTrail/` and `CloudTrail-Insight/` hold records, and
/// `CloudTrail-Digest/` digests (skipped on their own).
pub fn other_service<'a>(parts: &[&'a str]) -> Option<&'a str> {
    let below = crate::remote::below_awslogs(parts)?;
    // `AWSLogs//...`, `<account>/./...` or a control character is no service's folder: such
    // a key is judged by itself.
    let odd = |p: &str| p.is_empty() || p == "." || p == ".." || p.chars().any(char::is_control);
    if below.iter().take(2).any(|p| odd(p)) {
        return None;
    }
    let service = *below.get(1)?;
    (!matches!(
        service,
        "CloudTrail" | "CloudTrail-Insight" | "CloudTrail-Digest"
    ))
    .then_some(service)
}

/// Where to look beyond the local file system, and what to leave out.
#[derive(Default)]
pub struct Search<'a> {
    /// The output directory, never read as input.
    pub exclude: Option<&'a Path>,
    /// The output location in S3, never read as input.
    pub exclude_s3: Option<&'a S3Url>,
    /// The S3 client, when an input or the output is in S3.
    pub remote: Option<&'a Remote>,
    /// What the CloudTrail layout lets an S3 listing skip.
    pub prune: Prune,
}

/// Expands files, directories, glob patterns, `s3://` prefixes and `-` into the inputs to read,
/// sorted by path so that runs are deterministic. Directories are walked recursively; hidden
/// entries (names starting with `.`) and everything under the output location are left out.
pub fn discover(given: &[String], scope: &Search) -> Discovery {
    let exclude = scope.exclude.and_then(|p| p.canonicalize().ok());
    let mut found = Found::default();
    let mut problems = Vec::new();
    let mut skipped = Vec::new();
    for arg in given {
        if arg == "-" {
            found.stdin = true;
            continue;
        }
        if let Some(url) = S3Url::parse(arg) {
            match url.and_then(|url| list_objects(&url, scope)) {
                Ok(listed) => {
                    found.objects.extend(listed.inputs);
                    skipped.extend(listed.skipped);
                    problems.extend(listed.problems);
                }
                Err(e) => {
                    let reason = format!("{e:#}");
                    let reason = reason.strip_prefix(&format!("{arg}: ")).unwrap_or(&reason);
                    problems.push((arg.clone(), reason.to_owned()));
                }
            }
            continue;
        }
        let path = Path::new(arg);
        let mut walker = Walker {
            output: exclude.as_deref(),
            found: &mut found,
            problems: &mut problems,
            skipped: &mut skipped,
        };
        if path.is_dir() {
            walker.walk(path);
        } else if path.is_file() {
            walker.found.add(path.to_path_buf(), false);
        } else if is_glob(arg) {
            walker.expand_glob(arg);
        } else {
            problems.push((arg.clone(), "no such file or directory".into()));
        }
    }
    skipped.sort_by(|a, b| a.0.cmp(&b.0));
    skipped.dedup_by(|a, b| a.0 == b.0);
    // Overlapping inputs (`s3://b/` and `s3://b/AWSLogs/`) list a bad key twice.
    problems.sort();
    problems.dedup();
    Discovery {
        inputs: found.into_inputs(),
        problems,
        skipped,
    }
}

/// Why a listed key is not converted when object_store cannot name it.
const UNREADABLE_KEY: &str = "the S3 client cannot fetch a key with an empty, '.' or '..' \
    segment, a control character, or a leading or trailing '/': copy the object to a plain \
    key (aws s3 cp) to convert it";

/// Why a listed folder is not walked when object_store cannot name it.
const UNREADABLE_FOLDER: &str = "a folder the S3 client cannot name (an empty, '.' or '..' \
    segment, a control character, or a leading '/'), so no key below it can be fetched: copy \
    them to plain keys (aws s3 cp --recursive) to convert them";

/// The objects under an `s3://` prefix, without hidden keys and without the output's own
/// objects; and those of other services' logs, left out.
fn list_objects(url: &S3Url, scope: &Search) -> anyhow::Result<Discovery> {
    let remote = scope
        .remote
        .ok_or_else(|| anyhow::anyhow!("no S3 client configured"))?;
    let output = scope
        .exclude_s3
        .filter(|out| out.bucket == url.bucket)
        .map(|out| out.prefix.trim_end_matches('/').to_owned());
    let mut inputs = Vec::new();
    let mut skipped = Vec::new();
    // Hidden keys below the given prefix, the output's own objects and other services' logs
    // are left out, whether or not they can be read.
    let mut left_out = |key: &str| {
        let parts: Vec<&str> = key.split('/').collect();
        let below_given = key.strip_prefix(url.prefix.as_str()).unwrap_or(key);
        // (`.` and `..` are not hidden names but segments no client can fetch: named.)
        if below_given
            .split('/')
            .any(|c| c.starts_with('.') && !matches!(c, "." | ".."))
        {
            return true;
        }
        if let Some(output) = &output {
            let relative = if output.is_empty() {
                Some(key)
            } else {
                key.strip_prefix(output.as_str())
                    .and_then(|r| r.strip_prefix('/'))
            };
            if relative.is_some_and(|r| {
                crate::output::is_output_entry(r.split('/').collect::<Vec<_>>().as_slice())
            }) {
                return true;
            }
        }
        if let Some(service) = other_service(&parts) {
            skipped.push((url.url_of(key), Skip::OtherLogs(service.to_owned())));
            return true;
        }
        false
    };
    let listing = remote.list_trail(url, &scope.prune)?;
    let keys = listing.unreadable.iter().map(|k| (k, UNREADABLE_KEY));
    let folders = (listing.unreadable_folders.iter()).map(|f| (f, UNREADABLE_FOLDER));
    let problems = keys
        .chain(folders)
        .filter(|(key, _)| !left_out(key))
        .map(|(key, reason)| (url.url_of(key), reason.to_owned()))
        .collect();
    for meta in listing.objects {
        let key = meta.location.to_string();
        if left_out(&key) {
            continue;
        }
        inputs.push(Input::Object {
            bucket: url.bucket.clone(),
            key: key.clone(),
            size: meta.size,
            etag: meta
                .e_tag
                .unwrap_or_else(|| meta.last_modified.to_rfc3339()),
        });
    }
    Ok(Discovery {
        inputs,
        problems,
        skipped,
    })
}

/// Files found so far, each once: a file both named and found by a walk counts as named.
#[derive(Default)]
struct Found {
    files: BTreeMap<PathBuf, bool>,
    objects: std::collections::BTreeSet<Input>,
    stdin: bool,
}

impl Found {
    fn add(&mut self, path: PathBuf, walked: bool) {
        let entry = self.files.entry(path).or_insert(walked);
        *entry &= walked;
    }

    fn into_inputs(self) -> Vec<Input> {
        let mut inputs: Vec<Input> = self
            .files
            .into_iter()
            .map(|(path, walked)| Input::File { path, walked })
            .collect();
        inputs.extend(self.objects);
        if self.stdin {
            inputs.push(Input::Stdin);
        }
        inputs
    }
}

/// One of N disjoint parts of the input set, for N machines converting one archive together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `K/N` with 1 <= K <= N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let parsed = text.split_once('/').and_then(|(k, n)| {
            Some((k.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?))
        });
        match parsed {
            Some((index, count)) if index >= 1 && index <= count => Ok(Shard { index, count }),
            _ => Err(format!(
                "'{text}' is not K/N with 1 <= K <= N (for example 2/8)"
            )),
        }
    }

    /// Whether this shard converts `input`: decided by a stable hash (FNV-1a) of its shard key,
    /// so every machine of a job array agrees without talking to the others.
    pub fn contains(&self, input: &Input) -> bool {
        let hash = crate::output::partition::stable_hash(input.shard_key().as_bytes());
        hash % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

fn is_glob(arg: &str) -> bool {
    arg.contains(['*', '?', '['])
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|n| n.starts_with('.') && n != "." && n != "..")
}

/// Walks folders and glob matches into [`Found`].
struct Walker<'a> {
    /// The output folder (canonical): its own files and folders are never read, the rest of
    /// it is (an output placed in the input folder must not hide the input).
    output: Option<&'a Path>,
    found: &'a mut Found,
    problems: &'a mut Vec<(String, String)>,
    skipped: &'a mut Vec<(String, Skip)>,
}

impl Walker<'_> {
    fn walk(&mut self, dir: &Path) {
        // A folder inside another service's logs, named or matched itself: nothing to read.
        let parts: Vec<_> = dir
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect();
        let parts: Vec<&str> = parts.iter().map(|p| p.as_ref()).collect();
        if let Some(service) = other_service(&parts) {
            self.skip_all(dir, service);
            return;
        }
        // Only a walk that meets the output checks entries against it (one canonicalize a
        // folder and file then, none otherwise).
        let output = self.output.filter(|out| {
            dir.canonicalize()
                .is_ok_and(|d| d.starts_with(out) || out.starts_with(&d))
        });
        let mut other_services = Vec::new();
        let walker = walkdir::WalkDir::new(dir)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                if e.depth() == 0 {
                    return true;
                }
                if is_hidden(e.file_name()) || output.is_some_and(|out| in_output(e.path(), out)) {
                    return false;
                }
                // A link into the output is the output, wherever the link is.
                if e.path_is_symlink()
                    && let Some(out) = self.output
                    && e.path().canonicalize().is_ok_and(|p| p.starts_with(out))
                {
                    return false;
                }
                if e.file_type().is_dir() {
                    let parts: Vec<_> = e
                        .path()
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect();
                    let parts: Vec<&str> = parts.iter().map(|p| p.as_ref()).collect();
                    if let Some(service) = other_service(&parts) {
                        other_services.push((e.path().to_path_buf(), service.to_owned()));
                        return false;
                    }
                }
                true
            });
        for entry in walker {
            match entry {
                Ok(e) if e.file_type().is_file() => self.found.add(e.into_path(), true),
                Ok(_) => {}
                Err(e) => self.problems.push((
                    e.path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| dir.display().to_string()),
                    e.to_string(),
                )),
            }
        }
        for (folder, service) in other_services {
            self.skip_all(&folder, &service);
        }
    }

    /// Names every file below `folder` as another service's logs, never reading one.
    fn skip_all(&mut self, folder: &Path, service: &str) {
        for entry in walkdir::WalkDir::new(folder)
            .follow_links(true)
            .into_iter()
            .flatten()
        {
            if entry.file_type().is_file() {
                let name = entry.path().display().to_string();
                self.skipped
                    .push((name, Skip::OtherLogs(service.to_owned())));
            }
        }
    }

    fn expand_glob(&mut self, pattern: &str) {
        let paths = match glob::glob(pattern) {
            Ok(paths) => paths,
            Err(e) => {
                self.problems
                    .push((pattern.to_owned(), format!("invalid glob pattern: {e}")));
                return;
            }
        };
        let mut matched = false;
        for entry in paths {
            match entry {
                Ok(path) if self.output.is_some_and(|out| in_output(&path, out)) => {}
                Ok(path) if path.is_dir() => {
                    matched = true;
                    self.walk(&path);
                }
                Ok(path) if path.is_file() => {
                    matched = true;
                    let parts: Vec<_> = path
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect();
                    let parts: Vec<&str> = parts.iter().map(|p| p.as_ref()).collect();
                    match other_service(&parts) {
                        Some(service) => self.skipped.push((
                            path.display().to_string(),
                            Skip::OtherLogs(service.to_owned()),
                        )),
                        None => self.found.add(path, true),
                    }
                }
                Ok(_) => {}
                Err(e) => self
                    .problems
                    .push((e.path().display().to_string(), e.error().to_string())),
            }
        }
        if !matched {
            self.problems
                .push((pattern.to_owned(), "the pattern matches no file".into()));
        }
    }
}

/// Whether `path` is one of the output's own files or folders (see
/// [`crate::output::is_output_entry`]).
fn in_output(path: &Path, output: &Path) -> bool {
    let Ok(path) = path.canonicalize() else {
        return false;
    };
    let Ok(relative) = path.strip_prefix(output) else {
        return false;
    };
    let parts: Vec<_> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    let parts: Vec<&str> = parts.iter().map(|p| p.as_ref()).collect();
    !parts.is_empty() && crate::output::is_output_entry(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_services_are_told_by_their_folder_never_by_an_empty_segment() {
        let parts = |key: &'static str| key.split('/').collect::<Vec<_>>();
        assert_eq!(
            other_service(&parts("AWSLogs/1/Config/x.json")),
            Some("Config")
        );
        assert_eq!(
            other_service(&parts("b/AWSLogs/o-a/1/elasticloadbalancing/x")),
            Some("elasticloadbalancing")
        );
        assert_eq!(other_service(&parts("AWSLogs/1/CloudTrail/x.json")), None);
        // Keys no client can fetch are named as problems, not skipped as another service's.
        assert_eq!(other_service(&parts("AWSLogs//1/CloudTrail/x.json")), None);
        assert_eq!(other_service(&parts("AWSLogs/1//CloudTrail/x.json")), None);
        assert_eq!(other_service(&parts("AWSLogs/1/./CloudTrail/x.json")), None);
        assert_eq!(other_service(&parts("AWSLogs/./1/CloudTrail/x.json")), None);
        assert_eq!(
            other_service(&parts("AWSLogs/1/Cloud\u{1}Trail/x.json")),
            None
        );
    }

    #[test]
    fn walks_globs_and_reports_missing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join("out/event_date=2024-01-01")).unwrap();
        std::fs::create_dir_all(root.join("out/_hsmtrail")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        for f in [
            "a/1.json",
            "a/b/2.json.gz",
            "out/event_date=2024-01-01/3.parquet",
            "out/_hsmtrail/layout.json",
            "out/4.parquet",
            // Not the output's own: an input the output folder was placed beside.
            "out/trail.json",
            ".hidden/4.json",
            "a/.5.tmp",
        ] {
            std::fs::write(root.join(f), "{}").unwrap();
        }
        let args = vec![
            root.join("a").display().to_string(),
            root.join("*.nothing").display().to_string(),
            root.join("missing.json").display().to_string(),
            root.display().to_string(),
        ];
        let out = root.join("out");
        let scope = Search {
            exclude: Some(&out),
            ..Search::default()
        };
        let d = discover(&args, &scope);
        let names: Vec<_> = d
            .inputs
            .iter()
            .map(|i| i.name().replace(&root.display().to_string(), ""))
            .collect();
        assert_eq!(names, ["/a/1.json", "/a/b/2.json.gz", "/out/trail.json"]);
        assert!(d.inputs.iter().all(Input::walked));
        let named = root.join("a/1.json").display().to_string();
        let both = discover(
            &[root.join("a").display().to_string(), named.clone(), named],
            &Search::default(),
        );
        assert_eq!(both.inputs.len(), 2);
        assert!(
            !both.inputs[0].walked(),
            "a file named explicitly is not 'walked'"
        );
        assert_eq!(d.problems.len(), 2);
        assert!(d.problems[0].1.contains("matches no file"));
        assert!(d.problems[1].1.contains("no such file"));
    }

    #[test]
    fn shards_are_disjoint_complete_and_independent_of_the_mount_point() {
        let inputs: Vec<Input> = (0..1000)
            .map(|i| Input::File {
                path: format!(
                    "/mnt/a/AWSLogs/1/CloudTrail/us-east-1/2024/01/{:02}/f{i}.json.gz",
                    i % 28 + 1
                )
                .into(),
                walked: true,
            })
            .collect();
        let shards: Vec<Shard> = (1..=4)
            .map(|k| Shard::parse(&format!("{k}/4")).unwrap())
            .collect();
        let mut sizes = Vec::new();
        for input in &inputs {
            assert_eq!(shards.iter().filter(|s| s.contains(input)).count(), 1);
        }
        for s in &shards {
            sizes.push(inputs.iter().filter(|i| s.contains(i)).count());
        }
        assert!(sizes.iter().all(|n| (200..300).contains(n)), "{sizes:?}");
        let elsewhere = Input::File {
            path: "/data/mirror/AWSLogs/1/CloudTrail/us-east-1/2024/01/01/f0.json.gz".into(),
            walked: true,
        };
        assert_eq!(elsewhere.shard_key(), inputs[0].shard_key());
        assert!(
            Shard::parse("0/4").is_err()
                && Shard::parse("5/4").is_err()
                && Shard::parse("x").is_err()
        );
    }

    #[test]
    fn digest_paths() {
        let i = Input::File {
            path: "AWSLogs/1/CloudTrail-Digest/us-east-1/2024/01/01/x.json.gz".into(),
            walked: true,
        };
        assert!(i.is_digest_path());
        assert!(!Input::Stdin.is_digest_path());
    }
}
