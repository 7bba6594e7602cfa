//! The bundled reports: SQL files in `queries/`, compiled into the binary.
//!
//! Each file starts with a header of `-- key: value` lines:
//!
//! ```sql
//! -- name: backup-deletions
//! -- title: Backup deletions and restores
//! -- description: What the report answers, in one line.
//! -- param: restore_days integer 7 Days after a deletion in which RestoreBackup still saves it
//! SELECT ... {{restore_days}} ...
//! ```
//!
//! A parameter line gives its name, type (`integer`, `text` or `timestamp`), default (`-` when
//! the parameter is required) and description. `{{name}}` in the SQL is replaced by the value as
//! an SQL literal, so a value can never change the statement's shape.
//!
//! `-- with: stream_clusters, logged_in_user` names common table expressions kept once in
//! `queries/shared/` and used by several reports; they are put at the start of the query's
//! `WITH` list (after the comments that open it), so that the SQL `--sql` prints still runs
//! alone in DuckDB or Athena.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use anyhow::{Context, Result, bail};

use crate::error::UsageError;
use crate::time;

/// The SQL files, by file name. A test checks that every file in `queries/` is listed.
const BUNDLED: &[(&str, &str)] = &[
    ("changes.sql", include_str!("../../queries/changes.sql")),
    (
        "cluster-lifecycle.sql",
        include_str!("../../queries/cluster-lifecycle.sql"),
    ),
    (
        "hsm-capacity.sql",
        include_str!("../../queries/hsm-capacity.sql"),
    ),
    (
        "backup-deletions.sql",
        include_str!("../../queries/backup-deletions.sql"),
    ),
    (
        "backup-sharing.sql",
        include_str!("../../queries/backup-sharing.sql"),
    ),
    (
        "migrations.sql",
        include_str!("../../queries/migrations.sql"),
    ),
    (
        "compliance.sql",
        include_str!("../../queries/compliance.sql"),
    ),
    (
        "failed-calls.sql",
        include_str!("../../queries/failed-calls.sql"),
    ),
    (
        "access-denied.sql",
        include_str!("../../queries/access-denied.sql"),
    ),
    (
        "root-activity.sql",
        include_str!("../../queries/root-activity.sql"),
    ),
    (
        "no-mfa-changes.sql",
        include_str!("../../queries/no-mfa-changes.sql"),
    ),
    (
        "principals.sql",
        include_str!("../../queries/principals.sql"),
    ),
    (
        "new-principals.sql",
        include_str!("../../queries/new-principals.sql"),
    ),
    (
        "source-ips.sql",
        include_str!("../../queries/source-ips.sql"),
    ),
    ("clients.sql", include_str!("../../queries/clients.sql")),
    ("activity.sql", include_str!("../../queries/activity.sql")),
    (
        "tag-changes.sql",
        include_str!("../../queries/tag-changes.sql"),
    ),
    (
        "data-quality.sql",
        include_str!("../../queries/data-quality.sql"),
    ),
    ("integrity.sql", include_str!("../../queries/integrity.sql")),
    (
        "hsm-failed-logins.sql",
        include_str!("../../queries/hsm-failed-logins.sql"),
    ),
    (
        "hsm-user-changes.sql",
        include_str!("../../queries/hsm-user-changes.sql"),
    ),
    (
        "hsm-key-lifecycle.sql",
        include_str!("../../queries/hsm-key-lifecycle.sql"),
    ),
    (
        "hsm-zeroization-reboots.sql",
        include_str!("../../queries/hsm-zeroization-reboots.sql"),
    ),
    (
        "hsm-sequence-gaps.sql",
        include_str!("../../queries/hsm-sequence-gaps.sql"),
    ),
    (
        "hsm-cloudtrail-crosscheck.sql",
        include_str!("../../queries/hsm-cloudtrail-crosscheck.sql"),
    ),
];

/// Common table expressions several queries use, by name: `queries/shared/NAME.sql`.
const SHARED: &[(&str, &str)] = &[
    (
        "stream_clusters",
        include_str!("../../queries/shared/stream_clusters.sql"),
    ),
    (
        "logged_in_user",
        include_str!("../../queries/shared/logged_in_user.sql"),
    ),
];

/// The file names of the bundled reports and of the shared expressions (`shared/NAME.sql`),
/// for the test that keeps `queries/` and the binary in step.
pub fn bundled_files() -> impl Iterator<Item = String> {
    BUNDLED
        .iter()
        .map(|(f, _)| f.to_string())
        .chain(SHARED.iter().map(|(name, _)| format!("shared/{name}.sql")))
}

/// `body` with the shared expressions `names` (comma-separated) put first in its `WITH` list,
/// after the comments that open the list.
fn with_shared(body: &[&str], names: &str) -> Result<String> {
    let open = body
        .iter()
        .position(|line| line.trim() == "WITH")
        .context("'-- with:' needs the query to start its own 'WITH' list on a line of its own")?;
    let first = (open + 1..body.len())
        .find(|&i| !body[i].trim_start().starts_with("--"))
        .unwrap_or(body.len());
    let mut shared = Vec::new();
    for name in names.split(',').map(str::trim) {
        let Some((_, text)) = SHARED.iter().find(|(n, _)| *n == name) else {
            bail!("'-- with: {name}': there is no queries/shared/{name}.sql");
        };
        shared.push(format!("{},", text.trim_end()));
    }
    let lines: Vec<&str> = shared.iter().map(String::as_str).collect();
    Ok([&body[..first], &lines, &body[first..]].concat().join("\n"))
}

/// The type of a report parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Integer,
    Text,
    /// A date or RFC 3339 time, rendered as `'2024-03-01T00:00:00.000Z'`, which DataFusion and
    /// DuckDB both compare with `event_time`.
    Timestamp,
    /// Comma-separated names (accounts, regions), rendered as one text literal with a comma
    /// around each (`',1,2,'`; `','` when empty), so that SQL in both engines tests membership
    /// with `strpos(list, ',' || x || ',') > 0`. Its default is `[]`, the empty list.
    List,
}

/// A parameter a report takes.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub kind: ParamKind,
    pub default: Option<String>,
    pub description: String,
}

/// One bundled report.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    pub title: String,
    pub description: String,
    pub template: Template,
}

/// SQL with `{{param}}` placeholders and the parameters it declares.
#[derive(Debug, Clone)]
pub struct Template {
    /// What the SQL belongs to, for messages: `report 'changes'`, `check 'cluster-deleted'`.
    pub owner: String,
    pub params: Vec<Param>,
    pub sql: String,
}

/// A query file split into its header's `-- key: value` fields and its template.
pub struct QueryFile<'t> {
    fields: BTreeMap<&'t str, &'t str>,
    pub template: Template,
}

impl<'t> QueryFile<'t> {
    /// Parses a file: its header, then the SQL; `kind` names what it is (`report`, `check`).
    pub fn parse(kind: &str, text: &'t str) -> Result<QueryFile<'t>> {
        let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
        let mut params = Vec::new();
        let mut body = Vec::new();
        let mut in_header = true;
        for line in text.lines() {
            let header = in_header
                .then(|| line.strip_prefix("-- "))
                .flatten()
                .and_then(|rest| rest.split_once(": "));
            match header {
                Some(("param", spec)) => params.push(Param::parse(spec)?),
                Some((key, value)) => {
                    fields.insert(key, value.trim());
                }
                None => {
                    in_header = false;
                    body.push(line);
                }
            }
        }
        let name = fields
            .get("name")
            .context("the header has no '-- name:' line")?;
        let body = match fields.get("with") {
            Some(names) => with_shared(&body, names)?,
            None => body.join("\n"),
        };
        let template = Template {
            owner: format!("{kind} '{name}'"),
            params,
            sql: body.trim().to_owned(),
        };
        for placeholder in placeholders(&template.sql) {
            if !template.params.iter().any(|p| p.name == placeholder) {
                bail!("{{{{{placeholder}}}}} is used but not declared as a param");
            }
        }
        Ok(QueryFile { fields, template })
    }

    /// A header field that must be there.
    pub fn field(&self, key: &str) -> Result<String> {
        self.fields
            .get(key)
            .map(|v| v.to_string())
            .with_context(|| format!("the header has no '-- {key}:' line"))
    }
}

static REPORTS: LazyLock<Vec<Report>> = LazyLock::new(|| {
    BUNDLED
        .iter()
        .map(|(file, text)| Report::parse(text).unwrap_or_else(|e| panic!("queries/{file}: {e:#}")))
        .collect()
});

/// Every bundled report, in catalogue order.
pub fn reports() -> &'static [Report] {
    &REPORTS
}

/// The report of this name; the error lists the available ones.
pub fn find(name: &str) -> Result<&'static Report> {
    if let Some(report) = reports().iter().find(|r| r.name == name) {
        return Ok(report);
    }
    let near = super::nearest(name, reports().iter().map(|r| r.name.as_str()));
    let hint = match super::did_you_mean(&near) {
        Some(hint) => format!("{hint} (`hsmtrail reports` lists them all)"),
        None => "`hsmtrail reports` lists them".to_owned(),
    };
    Err(crate::error::UsageError(format!("there is no report named '{name}': {hint}")).into())
}

impl Report {
    /// Parses a report file: its header, then the SQL.
    pub fn parse(text: &str) -> Result<Report> {
        let file = QueryFile::parse("report", text)?;
        Ok(Report {
            name: file.field("name")?,
            title: file.field("title")?,
            description: file.field("description")?,
            template: file.template,
        })
    }
}

impl Template {
    /// Whether the SQL takes this parameter.
    pub fn takes(&self, name: &str) -> bool {
        self.params.iter().any(|p| p.name == name)
    }

    /// The SQL with every placeholder replaced by its value (given, else the default).
    pub fn render(&self, given: &BTreeMap<String, String>) -> Result<String> {
        for name in given.keys() {
            if !self.takes(name) {
                let known: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(UsageError(format!(
                    "{} has no parameter '{name}' (it takes: {})",
                    self.owner,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ))
                .into());
            }
        }
        let mut sql = self.sql.clone();
        for p in &self.params {
            let value = given.get(&p.name).or(p.default.as_ref()).ok_or_else(|| {
                UsageError(format!(
                    "{} needs --param {}=... ({})",
                    self.owner, p.name, p.description
                ))
            })?;
            // A value the parameter's type refuses is the user's to fix: a usage error.
            let literal = p.literal(value).map_err(|e| UsageError(format!("{e:#}")))?;
            sql = sql.replace(&format!("{{{{{}}}}}", p.name), &literal);
        }
        Ok(sql)
    }
}

impl Param {
    fn parse(spec: &str) -> Result<Param> {
        let mut words = spec.splitn(4, ' ');
        let (Some(name), Some(kind), Some(default), Some(description)) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            bail!("a param line is '-- param: NAME TYPE DEFAULT DESCRIPTION', not '{spec}'");
        };
        let kind = match kind {
            "integer" => ParamKind::Integer,
            "text" => ParamKind::Text,
            "timestamp" => ParamKind::Timestamp,
            "list" => ParamKind::List,
            other => bail!("unknown param type '{other}' (integer, text, timestamp or list)"),
        };
        if (kind == ParamKind::List) != (default == "[]") {
            bail!("a list param, and only a list param, has the default [] (the empty list)");
        }
        let param = Param {
            name: name.to_owned(),
            kind,
            default: (default != "-").then(|| default.to_owned()),
            description: description.to_owned(),
        };
        if let Some(d) = &param.default {
            param.literal(d)?;
        }
        Ok(param)
    }

    /// The value as an SQL literal of the parameter's type.
    pub fn literal(&self, value: &str) -> Result<String> {
        match self.kind {
            ParamKind::Integer => value
                .parse::<i64>()
                .map(|n| n.to_string())
                .with_context(|| {
                    format!(
                        "parameter {} must be a whole number, not '{value}'",
                        self.name
                    )
                }),
            ParamKind::Text => Ok(format!("'{}'", value.replace('\'', "''"))),
            ParamKind::Timestamp => {
                let bound = time::Bound::parse(value)
                    .map_err(|e| anyhow::anyhow!("parameter {}: {e}", self.name))?;
                Ok(format!("'{}'", time::render_millis(bound.start)))
            }
            ParamKind::List => {
                let items: Vec<&str> = match value {
                    "[]" => Vec::new(),
                    _ => value.split(',').map(str::trim).collect(),
                };
                if let Some(bad) = items.iter().find(|i| {
                    i.is_empty()
                        || !i
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.:/*".contains(c))
                }) {
                    bail!(
                        "parameter {} takes names separated by commas (letters, digits, - _ . : / *), not '{bad}'",
                        self.name
                    );
                }
                let mut literal = String::from("',");
                for item in items {
                    literal.push_str(item);
                    literal.push(',');
                }
                literal.push('\'');
                Ok(literal)
            }
        }
    }
}

fn placeholders(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = sql;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        out.push(&rest[start + 2..start + end]);
        rest = &rest[start + end + 2..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_expressions_open_the_with_list_after_its_comments() {
        let text = "-- name: t\n-- title: T\n-- description: D\n-- with: stream_clusters\nWITH\n-- why\nmine AS (SELECT 1)\nSELECT * FROM mine";
        let sql = Report::parse(text).unwrap().template.sql;
        let shared = SHARED[0].1.trim_end();
        assert_eq!(
            sql,
            format!("WITH\n-- why\n{shared},\nmine AS (SELECT 1)\nSELECT * FROM mine")
        );
        let unknown = text.replace("stream_clusters", "nothing_like_it");
        let e = Report::parse(&unknown).unwrap_err().to_string();
        assert!(e.contains("no queries/shared/nothing_like_it.sql"), "{e}");
        let without_with = text.replace("WITH\n", "");
        let e = Report::parse(&without_with).unwrap_err().to_string();
        assert!(e.contains("its own 'WITH' list"), "{e}");
    }

    #[test]
    fn every_bundled_report_parses_and_renders_with_defaults() {
        let mut names = std::collections::HashSet::new();
        for (file, report) in BUNDLED.iter().zip(reports()) {
            assert_eq!(format!("{}.sql", report.name), file.0);
            assert!(names.insert(report.name.clone()));
            let template = &report.template;
            if template.params.iter().all(|p| p.default.is_some()) {
                assert!(!template.render(&BTreeMap::new()).unwrap().contains("{{"));
            }
        }
    }

    #[test]
    fn parameters_become_literals() {
        let r = Report::parse(
            "-- name: x\n-- title: X\n-- description: d\n-- param: n integer 7 days\n-- param: who text - someone\n-- param: t timestamp 2024-03-01 start\nSELECT {{n}}, {{who}}, {{t}}",
        )
        .unwrap();
        let mut given = BTreeMap::new();
        given.insert("who".to_owned(), "o'brien".to_owned());
        assert_eq!(
            r.template.render(&given).unwrap(),
            "SELECT 7, 'o''brien', '2024-03-01T00:00:00.000Z'"
        );
        given.insert("n".to_owned(), "7; DROP TABLE x".to_owned());
        assert!(r.template.render(&given).is_err());
        given.remove("n");
        given.insert("nope".to_owned(), "1".to_owned());
        assert!(
            r.template
                .render(&given)
                .unwrap_err()
                .to_string()
                .contains("report 'x' has no parameter 'nope'")
        );
        assert!(
            r.template
                .render(&BTreeMap::new())
                .unwrap_err()
                .to_string()
                .contains("needs --param who")
        );
    }

    #[test]
    fn lists_become_one_text_literal_with_commas_around_each_item() {
        let r = Report::parse(
            "-- name: x\n-- title: X\n-- description: d\n-- param: ok list [] trusted\nSELECT {{ok}}",
        )
        .unwrap();
        let render = |value: Option<&str>| {
            let mut given = BTreeMap::new();
            if let Some(v) = value {
                given.insert("ok".to_owned(), v.to_owned());
            }
            r.template.render(&given)
        };
        assert_eq!(render(None).unwrap(), "SELECT ','");
        assert_eq!(render(Some("1, 2")).unwrap(), "SELECT ',1,2,'");
        assert!(render(Some("1,'x")).is_err());
        assert!(render(Some("1,,2")).is_err());
        assert!(
            Report::parse(
                "-- name: x\n-- title: X\n-- description: d\n-- param: ok list - t\nSELECT 1"
            )
            .is_err()
        );
    }

    #[test]
    fn undeclared_placeholders_and_bad_headers_are_refused() {
        assert!(Report::parse("-- name: x\n-- title: X\n-- description: d\nSELECT {{n}}").is_err());
        assert!(Report::parse("-- name: x\nSELECT 1").is_err());
        assert!(
            find("nope")
                .unwrap_err()
                .to_string()
                .contains("no report named 'nope'")
        );
    }
}
