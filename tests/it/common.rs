//! Helpers shared by the integration tests: running the binary, reading the Parquet back, and an
//! independent reader of CloudTrail files (serde_json values, none of hsmtrail's parsing code)
//! to compare against.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::compute::concat_batches;
use arrow::datatypes::TimestampMillisecondType;
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

#[path = "../../benches/support/archive.rs"]
mod archive;

/// Writes `files` generated delivery files (plain JSON, dense in CloudHSM) spread over
/// `days` days under `dir`, in the S3 layout.
pub fn generate_archive(dir: &Path, files: u64, days: i64) {
    let mut rng = archive::Rng(7);
    for index in 0..files {
        let mut ms = archive::START_MS + (index as i64 % days) * 86_400_000 + index as i64 * 1000;
        let (key, body) = archive::delivery_file(&mut rng, 10.0, index, &mut ms);
        let path = dir.join(key.trim_end_matches(".gz"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
}

/// The organisation-trail delivery file of the fixture archive with the most records: the
/// events an overlapping account trail would deliver again.
pub fn largest_org_trail_fixture() -> PathBuf {
    walkdir::WalkDir::new(fixture("archive"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().to_string_lossy().contains("o-a1b2c3d4e5") && e.file_type().is_file())
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap()
        .into_path()
}

/// Copies the files under `from` whose path relative to it `keep` accepts to the same place
/// under `to`.
pub fn copy_tree(from: &Path, to: &Path, keep: impl Fn(&Path) -> bool) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(from).unwrap();
        if entry.file_type().is_file() && keep(rel) {
            let target = to.join(rel);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> String {
    root().join("fixtures").join(rel).display().to_string()
}

/// The shared real-data folder beside the repository (CI lays `shared/` next to the clone).
pub fn realdata() -> PathBuf {
    let dir = std::env::var_os("HSMTRAIL_REALDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/realdata"));
    assert!(
        dir.join("SOURCES.md").is_file(),
        "real CloudTrail files not found at {} (set HSMTRAIL_REALDATA)",
        dir.display()
    );
    dir
}

pub fn hsmtrail() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("hsmtrail").expect("binary built")
}

/// hsmtrail's answer to `sql` over the output at `data`, as JSON Lines; the query must succeed.
pub fn query_json(data: &Path, sql: &str) -> Vec<u8> {
    let out = hsmtrail()
        .args(["query", "--format", "json", "--data"])
        .arg(data)
        .arg(sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `hsmtrail convert ARGS --out OUT --quiet --summary-json OUT/../summary.json` and returns
/// the exit code and the parsed summary.
pub fn convert(args: &[&str], out: &Path) -> (i32, Value) {
    let summary = out.with_extension("summary.json");
    let output = hsmtrail()
        .arg("convert")
        .args(args)
        .arg("--out")
        .arg(out)
        .arg("--summary-json")
        .arg(&summary)
        .output()
        .expect("runs");
    let code = output.status.code().expect("exited");
    let text = std::fs::read_to_string(&summary).unwrap_or_else(|_| {
        panic!(
            "no summary; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (code, serde_json::from_str(&text).expect("summary is JSON"))
}

/// Every visible Parquet file of the CloudTrail table under `dir` (not the audit table's
/// `hsm_audit/`), sorted.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_entry(|e| {
            let audit = e.depth() == 1 && e.file_name() == hsmtrail::audit::TABLE_FOLDER;
            e.depth() == 0 || !(hsmtrail::output::is_skipped_name(e.file_name()) || audit)
        })
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

pub fn read_parquet(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    concat_batches(&hsmtrail::schema::arrow_schema(), &batches).unwrap()
}

/// All rows of an output directory as one table.
pub struct Table {
    pub batch: RecordBatch,
}

impl Table {
    pub fn read(dir: &Path) -> Table {
        let batches: Vec<RecordBatch> =
            parquet_files(dir).iter().map(|p| read_parquet(p)).collect();
        Table {
            batch: concat_batches(&hsmtrail::schema::arrow_schema(), &batches).unwrap(),
        }
    }

    pub fn len(&self) -> usize {
        self.batch.num_rows()
    }

    /// Every row's event ID, sorted, repeats kept (so a duplicate shows).
    pub fn event_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = (0..self.len())
            .map(|r| self.text(r, "event_id").unwrap_or_default())
            .collect();
        ids.sort();
        ids
    }

    fn col(&self, name: &str) -> &dyn Array {
        self.batch.column(hsmtrail::schema::index_of(name)).as_ref()
    }

    pub fn text(&self, row: usize, name: &str) -> Option<String> {
        let c = self.col(name).as_string::<i32>();
        c.is_valid(row).then(|| c.value(row).to_owned())
    }

    pub fn bool(&self, row: usize, name: &str) -> Option<bool> {
        let c = self.col(name).as_boolean();
        c.is_valid(row).then(|| c.value(row))
    }

    pub fn millis(&self, row: usize, name: &str) -> Option<i64> {
        let c = self.col(name).as_primitive::<TimestampMillisecondType>();
        c.is_valid(row).then(|| c.value(row))
    }

    pub fn list(&self, row: usize, name: &str) -> Option<Vec<String>> {
        let c = self.col(name).as_list::<i32>();
        c.is_valid(row).then(|| {
            let v = c.value(row);
            let s = v.as_string::<i32>();
            (0..s.len()).map(|i| s.value(i).to_owned()).collect()
        })
    }

    /// Rows whose text column equals `value`.
    pub fn rows_where(&self, name: &str, value: &str) -> Vec<usize> {
        (0..self.len())
            .filter(|&r| self.text(r, name).as_deref() == Some(value))
            .collect()
    }

    /// The one row with this event name and time (`2024-03-01T09:10:00Z`).
    pub fn row(&self, event_name: &str, time: &str) -> usize {
        let ms = hsmtrail::time::parse_event_time(time).unwrap();
        let rows: Vec<usize> = self
            .rows_where("event_name", event_name)
            .into_iter()
            .filter(|&r| self.millis(r, "event_time") == Some(ms))
            .collect();
        assert_eq!(rows.len(), 1, "{event_name} at {time}: rows {rows:?}");
        rows[0]
    }

    pub fn count_by(&self, name: &str) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for r in 0..self.len() {
            *out.entry(self.text(r, name).unwrap_or_else(|| "<null>".into()))
                .or_default() += 1;
        }
        out
    }
}

/// The CloudTrail records in one file, found with plain serde_json values. `None` when the file
/// is not (entirely) readable JSON of a supported shape.
pub fn independent_records(path: &Path) -> Option<Vec<Value>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .read_to_end(&mut bytes)
        .ok()?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .ok()?;
        bytes = out;
    }
    let text = String::from_utf8(bytes).ok()?;
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Some(Vec::new());
    }
    let values: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(v) => vec![v],
        Err(_) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .ok()?,
    };
    let mut records = Vec::new();
    for v in values {
        unwrap_value(v, &mut records)?;
    }
    Some(records)
}

fn unwrap_value(v: Value, out: &mut Vec<Value>) -> Option<()> {
    match v {
        Value::Array(items) => {
            for item in items {
                unwrap_value(item, out)?;
            }
        }
        Value::Object(mut o) => {
            if let Some(Value::Array(items)) = o.remove("Records") {
                out.extend(items);
            } else if let Some(Value::Array(items)) = o.remove("Events") {
                for item in items {
                    out.push(serde_json::from_str(item.get("CloudTrailEvent")?.as_str()?).ok()?);
                }
            } else if let Some(Value::Array(items)) = o.remove("logEvents") {
                for item in items {
                    out.push(serde_json::from_str(item.get("message")?.as_str()?).ok()?);
                }
            } else if o.contains_key("detail-type") {
                out.push(o.remove("detail")?);
            } else if let Some(Value::String(inner)) = o.get("CloudTrailEvent") {
                out.push(serde_json::from_str(inner).ok()?);
            } else if o.contains_key("digestStartTime") {
            } else if [
                "eventTime",
                "eventVersion",
                "eventSource",
                "eventName",
                "eventID",
                "userIdentity",
            ]
            .iter()
            .any(|k| o.contains_key(*k))
            {
                out.push(Value::Object(o));
            } else {
                return None;
            }
        }
        _ => return None,
    }
    Some(())
}

/// Whether an independent check would keep this record: an object with a parseable eventTime.
pub fn has_event_time(record: &Value) -> bool {
    record
        .get("eventTime")
        .and_then(Value::as_str)
        .is_some_and(|t| {
            chrono::DateTime::parse_from_rfc3339(t).is_ok()
                || chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        })
}
