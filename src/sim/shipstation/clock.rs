//! ShipStation V1 speaks Pacific wall time without an offset: `2015-06-29T08:46:27.0000000` in
//! responses, `2016-11-29 23:59:59` (or the response shape) in requests. V2 speaks UTC ISO 8601.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::America::Los_Angeles;

/// A V1 response datetime: Pacific wall time, 7 fraction digits, no offset.
pub fn v1_format(t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    let local = t.with_timezone(&Los_Angeles);
    // .NET "ticks": 7 fraction digits of 100 ns.
    format!(
        "{}.{:07}",
        local.format("%Y-%m-%dT%H:%M:%S"),
        local.nanosecond() % 1_000_000_000 / 100
    )
}

/// A V1 date-only field (e.g. `shipDate`), Pacific.
pub fn v1_date(t: DateTime<Utc>) -> String {
    t.with_timezone(&Los_Angeles).format("%Y-%m-%d").to_string()
}

/// A V1 request datetime (filters, order dates): Pacific wall time, or an explicit UTC `Z` value.
/// An ambiguous wall time (fall-back hour) is read as its first occurrence.
pub fn v1_parse(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d",
    ]
    .iter()
    .find_map(|f| {
        NaiveDateTime::parse_from_str(s, f).ok().or_else(|| {
            chrono::NaiveDate::parse_from_str(s, f)
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
    })?;
    match Los_Angeles.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => Los_Angeles
            .from_local_datetime(&(naive + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// A V2 timestamp: UTC ISO 8601 with milliseconds.
pub fn v2_format(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}
