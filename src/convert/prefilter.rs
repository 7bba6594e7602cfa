//! The event-source filter, and the pre-filter that rejects most records of other sources by a
//! byte search before they are parsed.

use crate::record::RawRecord;
use crate::related::{self, Relation};
use crate::schema::CLOUDHSM_SOURCE;

/// Which event sources to keep.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SourceFilter {
    /// Every source.
    All,
    /// CloudHSM's own events and those of other services that act on CloudHSM resources
    /// ([`crate::related`]): the default.
    #[default]
    CloudHsm,
    /// Only these `eventSource` values.
    Only(Vec<String>),
}

impl SourceFilter {
    pub(super) fn admits(&self, record: &RawRecord<'_>, source: Option<&str>) -> bool {
        match self {
            SourceFilter::All => true,
            SourceFilter::CloudHsm => {
                source == Some(CLOUDHSM_SOURCE) || Relation::of(record, source).is_some()
            }
            SourceFilter::Only(names) => source.is_some_and(|s| names.iter().any(|n| n == s)),
        }
    }

    /// The byte-level pre-filter for these sources, built once per file.
    pub(super) fn prefilter(&self) -> Prefilter {
        let needles: Vec<&str> = match self {
            SourceFilter::All => return Prefilter(None),
            SourceFilter::CloudHsm => related::NEEDLES.to_vec(),
            SourceFilter::Only(names) => names.iter().map(String::as_str).collect(),
        };
        Prefilter(Some(
            needles
                .iter()
                .map(|n| {
                    memchr::memmem::FinderBuilder::new()
                        .build_forward_with_ranker(TrailByteRank, n.as_bytes())
                        .into_owned()
                })
                .collect(),
        ))
    }
}

/// How common each byte is in CloudTrail JSON, for the substring search to pick the two rarest
/// bytes of a name as its candidates. Its built-in ranking is for text in general, where `c`,
/// `l` and `o` are rarer than in trails, whose every record spells `amazonaws.com` a few times:
/// with this one the CloudHSM name is found a third faster.
pub(super) struct TrailByteRank;

impl TrailByteRank {
    /// Bytes of the real trails in `../shared/realdata`, most frequent first (measured over
    /// 10 MB of them); any other byte is rarer than all of these.
    const BY_FREQUENCY: &[u8] =
        b" \"eas:ntrco,1idu-2049m35lI8A.\n76pvbfwygDS{}TNCERPz/ZMkVhqK_BLUxOWHGQJFX\\Yj[]#+;*";
}

impl memchr::arch::all::packedpair::HeuristicFrequencyRank for TrailByteRank {
    fn rank(&self, byte: u8) -> u8 {
        match Self::BY_FREQUENCY.iter().position(|&b| b == byte) {
            Some(i) => u8::MAX - i as u8,
            None => 0,
        }
    }
}

/// Decides from bytes alone whether a record's text might be from an admitted source, so that
/// the records of other services are skipped without being parsed. Says no only when none of
/// the names occurs literally and the text holds no `\u` escape (the only way JSON can spell
/// these names' characters otherwise), so it never drops a record the exact filter would keep.
pub(super) struct Prefilter(Option<Vec<memchr::memmem::Finder<'static>>>);

impl Prefilter {
    pub(super) fn may_admit(&self, text: &str) -> bool {
        match &self.0 {
            None => true,
            Some(finders) => {
                finders.iter().any(|f| f.find(text.as_bytes()).is_some())
                    || unicode_escapes(text.as_bytes()).next().is_some()
            }
        }
    }

    /// Searches a whole file for the names at once: one pass a name instead of one call a
    /// record, whose set-up cost outweighed the search on short records.
    pub(super) fn over<'f>(&'f self, file: &'f str) -> FilePrefilter<'f> {
        let mut hits: Vec<(usize, usize)> = match &self.0 {
            None => Vec::new(),
            Some(finders) => finders
                .iter()
                .flat_map(|f| {
                    let len = f.needle().len();
                    f.find_iter(file.as_bytes()).map(move |at| (at, at + len))
                })
                .collect(),
        };
        hits.sort_unstable();
        FilePrefilter {
            prefilter: self,
            file,
            hits,
        }
    }
}

/// Where `\u` occurs in `bytes`. Found from the backslashes, which are rare in trails (about
/// one in 2 KB of real ones), so one single-byte search does it, at about half the cost of
/// searching for the pair. Delivery files need it only for the records their scan saw a `\u`
/// in.
pub(super) fn unicode_escapes(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    memchr::memchr_iter(b'\\', bytes).filter(|&at| bytes.get(at + 1) == Some(&b'u'))
}

/// The [`Prefilter`] with where its names occur in one file.
pub(super) struct FilePrefilter<'f> {
    prefilter: &'f Prefilter,
    file: &'f str,
    /// Byte ranges of the names' occurrences, by start.
    hits: Vec<(usize, usize)>,
}

impl FilePrefilter<'_> {
    /// [`Prefilter::may_admit`], answered from the file's occurrences when `text` lies in the
    /// file (records taken out of JSON strings do not, and are searched themselves).
    /// `unicode_escape` false says the reader saw no `\u` in `text`, so none is looked for.
    pub(super) fn may_admit(&self, text: &str, unicode_escape: bool) -> bool {
        if self.prefilter.0.is_none() {
            return true;
        }
        let file = self.file.as_bytes().as_ptr_range();
        let record = text.as_bytes().as_ptr_range();
        if record.start < file.start || record.end > file.end {
            return self.prefilter.may_admit(text);
        }
        let from = record.start as usize - file.start as usize;
        let to = from + text.len();
        let first = self.hits.partition_point(|(start, _)| *start < from);
        self.hits[first..]
            .iter()
            .take_while(|(start, _)| *start < to)
            .any(|(_, end)| *end <= to)
            || unicode_escape && unicode_escapes(text.as_bytes()).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefilter_never_drops_an_admitted_record() {
        let f = SourceFilter::default();
        let p = f.prefilter();
        assert!(p.may_admit(r#"{"eventSource":"cloudhsm.amazonaws.com"}"#));
        assert!(p.may_admit(r#"{"eventSource":"cloudhsm\u002eamazonaws.com"}"#));
        assert!(!p.may_admit(r#"{"eventSource":"kms.amazonaws.com"}"#));
        assert!(p.may_admit(r#"{"eventName":"DeleteCustomKeyStore"}"#));
        assert!(SourceFilter::All.prefilter().may_admit("{}"));
    }

    proptest::proptest! {
        #[test]
        fn unicode_escapes_are_where_the_pair_is(text in "[\\\\ua\"]{0,40}") {
            let pair: Vec<usize> = memchr::memmem::find_iter(text.as_bytes(), b"\\u").collect();
            let found: Vec<usize> = unicode_escapes(text.as_bytes()).collect();
            proptest::prop_assert_eq!(found, pair);
        }
    }

    #[test]
    fn file_prefilter_answers_like_the_record_one() {
        let p = SourceFilter::Only(vec![CLOUDHSM_SOURCE.into()]).prefilter();
        let file = r#"[{"eventSource":"kms.amazonaws.com"},{"e":"cloudhsm.amazonaws.com"},{"a":"cloudhsm.amazon"},{"b":"aws.com","c":"\u0041"}]"#;
        let f = p.over(file);
        let mut starts = file.match_indices('{').map(|(i, _)| i).peekable();
        while let Some(start) = starts.next() {
            let end = starts.peek().map_or(file.len() - 1, |next| next - 1);
            let record = &file[start..end];
            assert_eq!(f.may_admit(record, true), p.may_admit(record), "{record}");
        }
        // Spanning two records is not a hit in either.
        let spanning = &file[file.find(r#"{"a""#).unwrap()..file.find(r#""b""#).unwrap()];
        assert!(!f.may_admit(spanning, true));
        // Text from elsewhere is searched itself.
        let elsewhere = String::from(r#"{"eventSource":"cloudhsm.amazonaws.com"}"#);
        assert!(f.may_admit(&elsewhere, false));
        assert!(
            SourceFilter::All
                .prefilter()
                .over(file)
                .may_admit("{}", false)
        );
        // A record the reader saw no `\u` in is not searched for one.
        let escaped = &file[file.find(r#"{"b""#).unwrap()..file.len() - 1];
        assert!(f.may_admit(escaped, true));
        assert!(!f.may_admit(escaped, false));
        let named = &file[file.find(r#"{"e""#).unwrap()..file.find(r#",{"a""#).unwrap()];
        assert!(f.may_admit(named, false));
    }

    #[test]
    fn trail_byte_ranks_are_distinct() {
        use memchr::arch::all::packedpair::HeuristicFrequencyRank;
        let ranks: Vec<u8> = TrailByteRank::BY_FREQUENCY
            .iter()
            .map(|&b| TrailByteRank.rank(b))
            .collect();
        assert!(ranks.windows(2).all(|w| w[0] > w[1]), "a byte listed twice");
        assert!(TrailByteRank.rank(b'h') < TrailByteRank.rank(b'a'));
        assert_eq!(TrailByteRank.rank(0xff), 0);
    }
}
