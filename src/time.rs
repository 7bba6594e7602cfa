//! Event times: parsing CloudTrail's timestamps, rendering them back exactly, and reading the
//! `--since`/`--until` bounds users type.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

/// Milliseconds since the epoch from an RFC 3339 timestamp (`2024-01-02T03:04:05Z`, with or
/// without fractions or an offset); a timestamp without an offset is taken as UTC.
pub fn parse_event_time(text: &str) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

/// Milliseconds since the epoch from a time in an API response as CloudTrail records it. The
/// form is not documented for every service (UNCONFIRMED for CloudHSM's timestamps, see the
/// README), so every form seen in CloudTrail is taken: RFC 3339, a JSON number of seconds
/// since the epoch (with fractions, as the JSON protocol sends it), and the Java form
/// `Mar 1, 2024, 1:02:03 PM` (with or without the comma after the year).
pub fn parse_api_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        let ms = (seconds * 1000.0).round();
        return (ms.is_finite() && ms.abs() < 1e17).then_some(ms as i64);
    }
    parse_event_time(text).or_else(|| {
        ["%b %d, %Y, %I:%M:%S %p", "%b %d, %Y %I:%M:%S %p"]
            .iter()
            .find_map(|form| NaiveDateTime::parse_from_str(text, form).ok())
            .map(|t| t.and_utc().timestamp_millis())
    })
}

/// A compact UTC time as CloudTrail puts in object keys, `20150817T150131Z`.
pub fn parse_compact_utc(text: &str) -> Option<i64> {
    NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

/// CloudTrail's own form of a time: `2024-01-02T03:04:05Z`, or with `.678` when it has
/// milliseconds. A record whose eventTime renders back to the same text needs nothing else to
/// be rebuilt exactly.
pub fn render(ms: i64) -> String {
    let mut buf = [0u8; RENDERED_MAX];
    if let Some(text) = render_into(ms, &mut buf) {
        return text.to_owned();
    }
    let Some(t) = DateTime::<Utc>::from_timestamp_millis(ms) else {
        return ms.to_string();
    };
    let format = if ms.rem_euclid(1000) == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Millis
    };
    t.to_rfc3339_opts(format, true)
}

/// Whether [`render`] gives back `text`: asked of every kept record, so answered without
/// allocating for the years CloudTrail has.
pub fn renders_as(ms: i64, text: &str) -> bool {
    let mut buf = [0u8; RENDERED_MAX];
    match render_into(ms, &mut buf) {
        Some(rendered) => rendered == text,
        None => render(ms) == text,
    }
}

/// Longest text [`render_into`] writes: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
const RENDERED_MAX: usize = 24;

/// [`render`] into `buf` for the years 0 to 9999 (four digits, the common case); `None` for
/// other years, which chrono renders with a sign.
fn render_into(ms: i64, buf: &mut [u8; RENDERED_MAX]) -> Option<&str> {
    use chrono::{Datelike, Timelike};
    let t = DateTime::<Utc>::from_timestamp_millis(ms)?;
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let millis = ms.rem_euclid(1000) as u32;
    let fields = [
        (year, 4, b'-'),
        (t.month(), 2, b'-'),
        (t.day(), 2, b'T'),
        (t.hour(), 2, b':'),
        (t.minute(), 2, b':'),
        (t.second(), 2, if millis == 0 { b'Z' } else { b'.' }),
    ];
    let mut at = 0;
    for (value, width, after) in fields {
        at = put_digits(buf, at, value, width);
        buf[at] = after;
        at += 1;
    }
    if millis != 0 {
        at = put_digits(buf, at, millis, 3);
        buf[at] = b'Z';
        at += 1;
    }
    std::str::from_utf8(&buf[..at]).ok()
}

/// Writes `value` as `width` decimal digits at `at`; returns where they end.
fn put_digits(buf: &mut [u8], at: usize, mut value: u32, width: usize) -> usize {
    for slot in buf[at..at + width].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
    at + width
}

/// Always with milliseconds (`2024-01-02T03:04:05.000Z`): a time literal both DataFusion and
/// DuckDB compare with a UTC timestamp column.
pub fn render_millis(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Whether a time's date has the years 0000 to 9999 that engines read (DataFusion and DuckDB
/// cast a date to `Date32` from that form only).
pub fn in_engine_years(ms: i64) -> bool {
    let date = date_of(ms);
    date.len() == 10 && date.starts_with(|c: char| c.is_ascii_digit())
}

/// The `YYYY-MM-DD` UTC date of a time, for `event_date` partitions.
pub fn date_of(ms: i64) -> String {
    let mut buf = [0u8; RENDERED_MAX];
    if let Some(text) = render_into(ms, &mut buf) {
        return text[..10].to_owned();
    }
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A `--since`/`--until` bound as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The first millisecond of the bound.
    pub start: i64,
    /// Whether the user gave a date only, which as an upper bound includes the whole day.
    pub whole_day: bool,
}

impl Bound {
    /// Parses `2024-01-31` or an RFC 3339 timestamp.
    pub fn parse(text: &str) -> Result<Bound, String> {
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            let start = day
                .and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc()
                .timestamp_millis();
            return Ok(Bound {
                start,
                whole_day: true,
            });
        }
        parse_event_time(text)
            .map(|start| Bound {
                start,
                whole_day: false,
            })
            .ok_or_else(|| {
                format!(
                    "'{text}' is not a date (2024-01-31) or an RFC 3339 time (2024-01-31T12:00:00Z)"
                )
            })
    }

    /// The last millisecond this bound admits when used as `--until` (inclusive).
    pub fn last_ms(self) -> i64 {
        if self.whole_day {
            self.start + 86_400_000 - 1
        } else {
            self.start
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_times_in_every_form_cloudtrail_writes() {
        let noon = parse_event_time("2025-03-01T12:00:00Z").unwrap();
        for form in [
            "2025-03-01T12:00:00Z",
            "2025-03-01T12:00:00.000Z",
            "1740830400",
            "1740830400.0",
            "1.7408304E9",
            "Mar 1, 2025, 12:00:00 PM",
            "Mar 1, 2025 12:00:00 PM",
        ] {
            assert_eq!(parse_api_time(form), Some(noon), "{form}");
        }
        assert_eq!(parse_api_time("1740830400.25"), Some(noon + 250));
        for bad in [
            "",
            "soon",
            "NaN",
            "inf",
            "1e300",
            "Feb 30, 2025, 1:00:00 AM",
        ] {
            assert_eq!(parse_api_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trips_cloudtrail_times() {
        for t in [
            "2017-07-11T03:50:45Z",
            "2024-02-29T23:59:59.123Z",
            "1970-01-01T00:00:00Z",
        ] {
            assert_eq!(render(parse_event_time(t).unwrap()), t);
        }
        assert_eq!(
            parse_event_time("2017-07-11T05:50:45+02:00"),
            parse_event_time("2017-07-11T03:50:45Z")
        );
        assert_eq!(
            parse_event_time("2017-07-11T03:50:45"),
            parse_event_time("2017-07-11T03:50:45Z")
        );
        assert_eq!(parse_event_time("yesterday"), None);
        assert_eq!(
            date_of(parse_event_time("2017-07-11T23:59:59Z").unwrap()),
            "2017-07-11"
        );
    }

    proptest::proptest! {
        #[test]
        fn fast_rendering_matches_chrono(ms in -70_000_000_000_000i64..300_000_000_000_000) {
            let chrono = DateTime::<Utc>::from_timestamp_millis(ms).map(|t| {
                let format = if ms.rem_euclid(1000) == 0 {
                    SecondsFormat::Secs
                } else {
                    SecondsFormat::Millis
                };
                (t.to_rfc3339_opts(format, true), t.format("%Y-%m-%d").to_string())
            });
            let (rendered, date) = chrono.unwrap();
            proptest::prop_assert_eq!(&render(ms), &rendered);
            proptest::prop_assert!(renders_as(ms, &rendered));
            proptest::prop_assert!(!renders_as(ms + 1, &rendered));
            proptest::prop_assert_eq!(date_of(ms), date);
        }
    }

    #[test]
    fn bounds() {
        let d = Bound::parse("2024-01-31").unwrap();
        assert!(d.whole_day);
        assert_eq!(d.last_ms() - d.start, 86_399_999);
        let t = Bound::parse("2024-01-31T12:00:00Z").unwrap();
        assert_eq!(t.last_ms(), t.start);
        assert!(Bound::parse("31/01/2024").is_err());
    }
}
