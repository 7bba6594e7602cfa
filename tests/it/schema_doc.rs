//! The one schema drives everything: `hsmtrail schema`, the README table and the files written.

use crate::common::{convert, fixture, parquet_files};
use hsmtrail::output::table::Table;
use hsmtrail::schema;

/// The README's text between a start marker's line and an end marker.
fn readme_between(start: &str, end: &str) -> String {
    let readme = std::fs::read_to_string(crate::common::root().join("README.md")).unwrap();
    let from = readme.find(start).expect("start marker");
    let from = from + readme[from..].find('\n').unwrap() + 1;
    let to = readme.find(end).expect("end marker");
    readme[from..to].to_owned()
}

#[test]
fn readme_schema_tables_are_generated_from_the_schemas() {
    assert_eq!(
        readme_between("<!-- schema:start", "<!-- schema:end -->"),
        schema::markdown_table(Table::Events),
        "README schema table is stale: paste `hsmtrail schema --format markdown` between the markers"
    );
    assert_eq!(
        readme_between("<!-- audit-schema:start", "<!-- audit-schema:end -->"),
        schema::markdown_table(Table::HsmAudit),
        "README audit schema table is stale: paste `hsmtrail schema --table hsm_audit --format markdown` between the markers"
    );
}

#[test]
fn schema_command_lists_every_column_with_its_description() {
    let out = crate::common::hsmtrail().arg("schema").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for c in schema::COLUMNS {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(c.name))
            .unwrap_or_else(|| panic!("{} missing", c.name));
        assert!(line.contains(c.description));
    }
    let out = crate::common::hsmtrail()
        .args(["schema", "--format", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json, schema::json_listing(Table::Events));
}

#[test]
fn written_files_carry_exactly_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_eq!(convert(&[&fixture("formats")], &out).0, 0);
    for file in parquet_files(&out) {
        let reader =
            parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&file).unwrap())
                .unwrap();
        let metadata = parquet::file::reader::FileReader::metadata(&reader);
        let arrow = parquet::arrow::parquet_to_arrow_schema(
            metadata.file_metadata().schema_descr(),
            metadata.file_metadata().key_value_metadata(),
        )
        .unwrap();
        assert_eq!(arrow.fields(), schema::arrow_schema().fields());
        // Standard three-level lists: `<name> (LIST) { repeated group list { element } }`.
        let descr = metadata.file_metadata().schema_descr();
        let subnet = descr
            .columns()
            .iter()
            .find(|c| c.path().string().starts_with("request_subnet_ids"))
            .unwrap();
        assert_eq!(subnet.path().string(), "request_subnet_ids.list.element");
        assert!(
            metadata
                .file_metadata()
                .created_by()
                .unwrap()
                .starts_with("hsmtrail ")
        );
    }
}

#[test]
fn schema_lists_the_partition_columns_as_such() {
    let out = crate::common::hsmtrail().arg("schema").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let partitions = text
        .split("# Partition columns")
        .nth(1)
        .expect("a partition section");
    for (column, kind) in [
        ("event_date", "date"),
        ("event_month", "string"),
        ("account", "string"),
        ("region", "string"),
    ] {
        let line = partitions
            .lines()
            .find(|l| l.split_whitespace().next() == Some(column))
            .unwrap_or_else(|| panic!("{column} missing"));
        assert!(
            line.contains(kind) && line.contains("--partition-by"),
            "{line}"
        );
    }
}
