//! The event filter's flags, declared once for `convert`, `report` and `query`
//! (`#[command(flatten)]`); the filter itself is the library's [`EventFilter`].

use anyhow::Result;

use crate::convert::SourceFilter;
use crate::filter::EventFilter;
use crate::time::Bound;

#[derive(Debug, clap::Args)]
pub struct FilterArgs {
    /// Only events at or after this time (2024-01-31 or 2024-01-31T12:00:00Z).
    #[arg(long, value_parser = Bound::parse, value_name = "TIME")]
    since: Option<Bound>,

    /// Only events at or before this time; a date includes that whole day.
    #[arg(long, value_parser = Bound::parse, value_name = "TIME")]
    until: Option<Bound>,

    /// Only events of this account (recipientAccountId; repeatable).
    #[arg(long = "account", value_name = "ID")]
    accounts: Vec<String>,

    /// Only events of this region (awsRegion; repeatable).
    #[arg(long = "region", value_name = "REGION")]
    regions: Vec<String>,
}

impl FilterArgs {
    /// The filter for these sources. A window no event can be in (`--since` after `--until`)
    /// is a usage error, not an empty answer.
    pub fn filter(&self, sources: SourceFilter) -> Result<EventFilter> {
        let filter = EventFilter {
            sources,
            since: self.since,
            until: self.until,
            accounts: self.accounts.clone(),
            regions: self.regions.clone(),
        };
        match filter.empty_window() {
            Some(why) => Err(super::usage(why)),
            None => Ok(filter),
        }
    }
}
