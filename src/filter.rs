//! Which events a command keeps: the event sources, the time window, the accounts and the
//! regions. Declared once: `convert` applies it record by record and to the S3 listing,
//! `report` and `query` apply it to the converted output (its window, accounts and regions,
//! pruning partitions), and `--incremental` records it.

use crate::convert::SourceFilter;
use crate::remote::{self, Prune};
use crate::time::{self, Bound};

/// The events asked for. The default keeps CloudHSM events of any time, account and region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub sources: SourceFilter,
    /// From this time on.
    pub since: Option<Bound>,
    /// Up to this time; a date includes that whole day.
    pub until: Option<Bound>,
    /// Only these accounts (none: every account).
    pub accounts: Vec<String>,
    /// Only these regions (none: every region).
    pub regions: Vec<String>,
}

impl EventFilter {
    /// Every event of every source (`--all-sources` with no other filter).
    pub fn every_source() -> Self {
        EventFilter {
            sources: SourceFilter::All,
            ..EventFilter::default()
        }
    }

    /// The first millisecond admitted.
    pub fn since_ms(&self) -> Option<i64> {
        self.since.map(|b| b.start)
    }

    /// The last millisecond admitted (`--until` is inclusive).
    pub fn until_ms(&self) -> Option<i64> {
        self.until.map(Bound::last_ms)
    }

    /// Why no event can pass, when `--since` is after `--until`.
    pub fn empty_window(&self) -> Option<String> {
        let (since, until) = (self.since_ms()?, self.until_ms()?);
        (since > until).then(|| {
            format!(
                "--since {} is after --until {}: no event can be in that window",
                time::render_millis(since),
                time::render_millis(until)
            )
        })
    }

    pub fn admits_time(&self, ms: i64) -> bool {
        self.since_ms().is_none_or(|s| ms >= s) && self.until_ms().is_none_or(|u| ms <= u)
    }

    pub fn admits_account(&self, account: Option<&str>) -> bool {
        admits(&self.accounts, account)
    }

    pub fn admits_region(&self, region: Option<&str>) -> bool {
        admits(&self.regions, region)
    }

    /// What an S3 listing of the CloudTrail layout may leave unlisted.
    pub fn prune(&self) -> Prune {
        remote::prune_for(
            &self.accounts,
            &self.regions,
            self.since_ms(),
            self.until_ms(),
        )
    }
}

/// An empty list admits everything; otherwise the value must be in it.
fn admits(list: &[String], value: Option<&str>) -> bool {
    list.is_empty() || value.is_some_and(|v| list.iter().any(|x| x == v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_accounts_and_regions() {
        let f = EventFilter {
            since: Some(Bound::parse("2024-01-02").unwrap()),
            until: Some(Bound::parse("2024-01-02").unwrap()),
            accounts: vec!["1".into()],
            ..EventFilter::default()
        };
        let day = time::parse_event_time("2024-01-02T23:59:59.999Z").unwrap();
        assert!(f.admits_time(day) && !f.admits_time(day + 1));
        assert!(!f.admits_time(day - 86_400_000));
        assert!(f.admits_account(Some("1")) && !f.admits_account(Some("2")));
        assert!(!f.admits_account(None) && f.admits_region(None));
        assert_eq!(f.empty_window(), None);
        let inverted = EventFilter {
            since: Some(Bound::parse("2024-01-03").unwrap()),
            ..f
        };
        assert!(
            inverted
                .empty_window()
                .unwrap()
                .contains("is after --until")
        );
    }
}
