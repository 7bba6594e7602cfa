//! `--incremental`: which inputs earlier runs converted, and with what filter.
//!
//! Each run that finishes records the inputs it read to the end (converted or skipped) in
//! `_hsmtrail/inputs/<run id>.jsonl` of the output: a first line with the run's filter (sources,
//! time window, accounts, regions), then each input: where it is, its size and its ETag or
//! modification time. A later run skips an input only if an earlier run read this version of
//! it with a filter that kept everything the later run keeps: a wider filter (another source,
//! an earlier `--since`, more accounts) converts the input again, and the event IDs already in
//! the output keep the records the first run wrote from being written twice.
//!
//! There is no "start after" watermark: a file that arrives late for an old date is new to
//! this set and is converted, and a file replaced with different content (another size or
//! ETag) is converted again.
//!
//! The record is written last, after the data it covers (see [`crate::convert::run`]), so a
//! run that dies leaves no record and its inputs are converted again.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::convert::SourceFilter;
use crate::filter::EventFilter;
use crate::input::{Identity, Input};
use crate::output::destination::Destination;
use crate::schema::CLOUDHSM_SOURCE;

/// Where run records go, under the output.
pub const FOLDER: &str = "_hsmtrail/inputs";

/// Stands, among the sources a run kept, for the other services' events about CloudHSM that
/// the default keeps (no event source is spelt like this). A record of an earlier version,
/// whose default kept CloudHSM's events only, does not cover today's default, so its inputs
/// are read again once and the related events they hold are added.
const RELATED_TO_CLOUDHSM: &str = "related:cloudhsm";

/// The records a run kept, as far as a later run needs to know whether it kept less.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// The event sources kept; `None` for every source.
    pub sources: Option<BTreeSet<String>>,
    /// First event time kept (ms since the epoch), if bounded.
    pub since_ms: Option<i64>,
    /// Last event time kept (ms since the epoch), if bounded.
    pub until_ms: Option<i64>,
    /// Accounts kept; empty for every account.
    pub accounts: BTreeSet<String>,
    /// Regions kept; empty for every region.
    pub regions: BTreeSet<String>,
}

impl From<&EventFilter> for Filter {
    /// The records a run with this filter keeps, as `--incremental` records them.
    fn from(f: &EventFilter) -> Self {
        Filter {
            sources: match &f.sources {
                SourceFilter::All => None,
                SourceFilter::CloudHsm => Some(
                    [CLOUDHSM_SOURCE, RELATED_TO_CLOUDHSM]
                        .map(str::to_owned)
                        .into(),
                ),
                SourceFilter::Only(names) => Some(names.iter().cloned().collect()),
            },
            since_ms: f.since_ms(),
            until_ms: f.until_ms(),
            accounts: f.accounts.iter().cloned().collect(),
            regions: f.regions.iter().cloned().collect(),
        }
    }
}

impl Filter {
    /// Whether every record `wanted` keeps was kept by this filter too.
    pub fn covers(&self, wanted: &Filter) -> bool {
        let set = |mine: &BTreeSet<String>, theirs: &BTreeSet<String>| {
            mine.is_empty() || !theirs.is_empty() && theirs.is_subset(mine)
        };
        let sources = match (&self.sources, &wanted.sources) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => theirs.is_subset(mine),
        };
        let since = match (self.since_ms, wanted.since_ms) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => mine <= theirs,
        };
        let until = match (self.until_ms, wanted.until_ms) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(mine), Some(theirs)) => mine >= theirs,
        };
        sources
            && since
            && until
            && set(&self.accounts, &wanted.accounts)
            && set(&self.regions, &wanted.regions)
    }
}

/// One line of a run record: the run's filter (the first line), or an input.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Header { filter: Filter },
    Input(Identity),
}

/// The inputs converted by earlier runs, each with the filters it was converted with.
#[derive(Debug, Default)]
pub struct Converted {
    inputs: HashMap<Identity, Vec<usize>>,
    /// Filters of the runs read; `None` for a record of an older version, which did not say
    /// (its inputs are converted again once).
    filters: Vec<Option<Filter>>,
}

impl Converted {
    /// Reads every run record of the output.
    pub fn load(dest: &Destination) -> Result<Converted> {
        let mut converted = Converted::default();
        for (name, bytes) in dest.read_folder(FOLDER)? {
            if !name.ends_with(".jsonl") {
                continue;
            }
            converted.filters.push(None);
            let run = converted.filters.len() - 1;
            for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let line: Line = serde_json::from_slice(line).with_context(|| {
                    format!(
                        "reading the incremental state {name} line {}: remove the file to convert its inputs again",
                        n + 1
                    )
                })?;
                match line {
                    Line::Header { filter } => converted.filters[run] = Some(filter),
                    Line::Input(identity) => {
                        converted.inputs.entry(identity).or_default().push(run)
                    }
                }
            }
        }
        Ok(converted)
    }

    /// Whether this version of the input was converted before with a filter that kept
    /// everything `wanted` keeps.
    pub fn contains(&self, input: &Input, wanted: &Filter) -> bool {
        if self.inputs.is_empty() {
            return false;
        }
        let Some(runs) = input.identity().and_then(|id| self.inputs.get(&id)) else {
            return false;
        };
        runs.iter().any(|&run| {
            self.filters[run]
                .as_ref()
                .is_some_and(|filter| filter.covers(wanted))
        })
    }
}

/// Records the inputs this run read to the end, with the filter it kept records by.
pub fn record(
    dest: &Destination,
    run_id: &str,
    filter: &Filter,
    inputs: &[Identity],
) -> Result<()> {
    let mut text = Vec::new();
    let header = Line::Header {
        filter: filter.clone(),
    };
    serde_json::to_writer(&mut text, &header).expect("writing to memory");
    text.push(b'\n');
    for input in inputs {
        serde_json::to_writer(&mut text, input).expect("writing to memory");
        text.push(b'\n');
    }
    dest.write_small(&format!("{FOLDER}/{run_id}.jsonl"), &text)
}

/// Forgets every input earlier runs converted (their data was replaced by `--overwrite`).
pub fn forget_all(dest: &Destination) -> Result<()> {
    dest.remove_folder_files(FOLDER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(sources: Option<&[&str]>, since: Option<i64>, accounts: &[&str]) -> Filter {
        Filter {
            sources: sources.map(|s| s.iter().map(|s| s.to_string()).collect()),
            since_ms: since,
            until_ms: None,
            accounts: accounts.iter().map(|s| s.to_string()).collect(),
            regions: BTreeSet::new(),
        }
    }

    #[test]
    fn only_a_filter_at_least_as_wide_covers() {
        let hsm = filter(Some(&["cloudhsm"]), None, &[]);
        let all = filter(None, None, &[]);
        let both = filter(Some(&["cloudhsm", "kms"]), None, &[]);
        assert!(hsm.covers(&hsm) && all.covers(&hsm) && both.covers(&hsm));
        assert!(!hsm.covers(&all) && !hsm.covers(&both));
        let march = filter(Some(&["cloudhsm"]), Some(100), &[]);
        assert!(hsm.covers(&march) && !march.covers(&hsm));
        assert!(march.covers(&filter(Some(&["cloudhsm"]), Some(200), &[])));
        assert!(!march.covers(&filter(Some(&["cloudhsm"]), Some(50), &[])));
        let one = filter(None, None, &["1"]);
        let two = filter(None, None, &["1", "2"]);
        assert!(two.covers(&one) && !one.covers(&two) && !one.covers(&all));
        assert!(all.covers(&two));
    }

    #[test]
    fn the_default_covers_cloudhsm_alone_but_an_older_default_does_not_cover_it() {
        let of = |sources: SourceFilter| {
            Filter::from(&EventFilter {
                sources,
                ..EventFilter::default()
            })
        };
        let default = of(SourceFilter::default());
        let cloudhsm_only = of(SourceFilter::Only(vec![CLOUDHSM_SOURCE.into()]));
        let kms = of(SourceFilter::Only(vec!["kms.amazonaws.com".into()]));
        assert!(default.covers(&cloudhsm_only) && !cloudhsm_only.covers(&default));
        assert!(!default.covers(&kms) && !kms.covers(&default));
        assert!(of(SourceFilter::All).covers(&default));
    }

    #[test]
    fn records_read_back_and_older_records_cover_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = Destination::folder(dir.path()).unwrap();
        let file = dir.path().join("a.json");
        std::fs::write(&file, "{}").unwrap();
        let input = Input::File {
            path: file,
            walked: false,
        };
        let hsm = filter(Some(&["cloudhsm"]), None, &[]);
        record(&dest, "r1", &hsm, &[input.identity().unwrap()]).unwrap();
        let converted = Converted::load(&dest).unwrap();
        assert!(converted.contains(&input, &hsm));
        assert!(!converted.contains(&input, &filter(None, None, &[])));
        // A record without a filter line (hsmtrail before 0.2) says nothing about its filter.
        std::fs::remove_file(dir.path().join(FOLDER).join("r1.jsonl")).unwrap();
        let line = serde_json::to_string(&input.identity().unwrap()).unwrap();
        dest.write_small(&format!("{FOLDER}/old.jsonl"), line.as_bytes())
            .unwrap();
        assert!(!Converted::load(&dest).unwrap().contains(&input, &hsm));
    }
}
