//! ShipStation V1 times are America/Los_Angeles wall times without an offset.
//!
//! Rules (DST-exact via chrono-tz):
//! - UTC → Pacific is always unique.
//! - Pacific → UTC: a wall time in the fall-back hour (e.g. 2026-11-01 01:30, which happens twice)
//!   is read as its FIRST occurrence (PDT). A wall time in the spring-forward gap (e.g.
//!   2026-03-08 02:30, which never happens) is read as if the clock had not jumped: the PST offset,
//!   i.e. the instant that is 03:30 PDT. ShipStation cannot emit either case for its own events, so
//!   these only matter for typed-in values; both choices never lose an instant.
//! - A lower-bound filter (`modifyDateStart`, `shipDateStart`, …) must never skip changes, whatever
//!   ShipStation's own reading of an ambiguous wall time is: when the watermark's wall time is
//!   ambiguous we send the wall time one hour earlier, so either reading lies at or before it
//!   (re-reading an hour is harmless: every write is idempotent).
//! - Values that carry an offset or `Z` are taken as they are.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::America::Los_Angeles;

/// Wall time for a request body field: `yyyy-mm-dd hh:mm:ss`.
pub fn to_wall(t: DateTime<Utc>) -> String {
    t.with_timezone(&Los_Angeles)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Wall time for a lower-bound filter: never later than `t` under either reading (see module docs).
pub fn lower_bound_filter(t: DateTime<Utc>) -> String {
    let wall = t.with_timezone(&Los_Angeles).naive_local();
    match Los_Angeles.from_local_datetime(&wall) {
        LocalResult::Ambiguous(..) => to_wall(t - chrono::Duration::hours(1)),
        _ => to_wall(t),
    }
}

/// Wall time for an upper-bound filter: never earlier than `t` under either reading.
pub fn upper_bound_filter(t: DateTime<Utc>) -> String {
    let wall = t.with_timezone(&Los_Angeles).naive_local();
    match Los_Angeles.from_local_datetime(&wall) {
        LocalResult::Ambiguous(..) => to_wall(t + chrono::Duration::hours(1)),
        _ => to_wall(t),
    }
}

/// Parse a V1 datetime: Pacific wall time (`2015-06-29T08:46:27.0000000`, `2016-11-29 23:59:59`,
/// a bare date = midnight) or a value with an explicit offset.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    parse_any(s).map(without_leap_second)
}

/// chrono reads `:60` as a leap second, an instant no filter or wall time can name (ShipStation,
/// on .NET, never writes one): it is read as the end of its minute's last second.
fn without_leap_second(t: DateTime<Utc>) -> DateTime<Utc> {
    if t.nanosecond() >= 1_000_000_000 {
        t.with_nanosecond(999_999_999).unwrap_or(t)
    } else {
        t
    }
}

fn parse_any(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    Some(from_wall(naive))
}

/// Pacific wall time → UTC (first occurrence when ambiguous; PST offset inside the gap).
pub fn from_wall(naive: NaiveDateTime) -> DateTime<Utc> {
    match Los_Angeles.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        // In the gap: standard time (UTC-8) is what the wall clock would have meant.
        LocalResult::None => Utc.from_utc_datetime(&(naive + chrono::Duration::hours(8))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn spring_forward_2026_03_08() {
        // 01:59:59 PST is 09:59:59Z; one second later the wall clock reads 03:00:00 PDT.
        assert_eq!(to_wall(utc("2026-03-08T09:59:59Z")), "2026-03-08 01:59:59");
        assert_eq!(to_wall(utc("2026-03-08T10:00:00Z")), "2026-03-08 03:00:00");
        assert_eq!(
            parse("2026-03-08T01:59:59.0000000"),
            Some(utc("2026-03-08T09:59:59Z"))
        );
        assert_eq!(
            parse("2026-03-08 03:00:00"),
            Some(utc("2026-03-08T10:00:00Z"))
        );
        // 02:30 never happens: read with the PST offset = 03:30 PDT.
        assert_eq!(
            parse("2026-03-08 02:30:00"),
            Some(utc("2026-03-08T10:30:00Z"))
        );
        assert_eq!(
            to_wall(parse("2026-03-08 02:30:00").unwrap()),
            "2026-03-08 03:30:00"
        );
    }

    #[test]
    fn fall_back_2026_11_01() {
        // 01:30 happens twice: 08:30Z (PDT) and 09:30Z (PST).
        assert_eq!(to_wall(utc("2026-11-01T08:30:00Z")), "2026-11-01 01:30:00");
        assert_eq!(to_wall(utc("2026-11-01T09:30:00Z")), "2026-11-01 01:30:00");
        assert_eq!(
            parse("2026-11-01T01:30:00.0000000"),
            Some(utc("2026-11-01T08:30:00Z")),
            "first occurrence"
        );
        assert_eq!(
            parse("2026-11-01 02:00:00"),
            Some(utc("2026-11-01T10:00:00Z"))
        );
        assert_eq!(
            parse("2026-11-01 00:59:59"),
            Some(utc("2026-11-01T07:59:59Z"))
        );
    }

    #[test]
    fn filters_never_skip_an_instant_in_the_repeated_hour() {
        for t in ["2026-11-01T08:30:00Z", "2026-11-01T09:30:00Z"] {
            let t = utc(t);
            let lower = lower_bound_filter(t);
            let naive = NaiveDateTime::parse_from_str(&lower, "%Y-%m-%d %H:%M:%S").unwrap();
            let readings = Los_Angeles.from_local_datetime(&naive);
            assert!(
                readings.latest().unwrap().with_timezone(&Utc) <= t,
                "{lower} may be read after {t}"
            );
            let upper = upper_bound_filter(t);
            let naive = NaiveDateTime::parse_from_str(&upper, "%Y-%m-%d %H:%M:%S").unwrap();
            let readings = Los_Angeles.from_local_datetime(&naive);
            assert!(
                readings.earliest().unwrap().with_timezone(&Utc) >= t,
                "{upper} may be read before {t}"
            );
        }
        // Outside the ambiguous hour filters are the plain wall time.
        assert_eq!(
            lower_bound_filter(utc("2026-07-04T19:00:00Z")),
            "2026-07-04 12:00:00"
        );
    }

    #[test]
    fn explicit_offsets_and_dates() {
        assert_eq!(
            parse("2015-06-29T08:46:27.000Z"),
            Some(utc("2015-06-29T08:46:27Z"))
        );
        assert_eq!(
            parse("2015-07-02"),
            Some(utc("2015-07-02T07:00:00Z")),
            "midnight PDT"
        );
        assert_eq!(
            parse("2015-12-02"),
            Some(utc("2015-12-02T08:00:00Z")),
            "midnight PST"
        );
        assert_eq!(parse("not a date"), None);
    }

    /// Found by the `dates` fuzz target: `01:30:60` in the repeated hour gave an upper-bound
    /// filter that ShipStation could read as before the instant.
    #[test]
    fn a_leap_second_reads_as_the_end_of_its_minute() {
        for text in ["2026-11-01 01:30:60", "2026-11-01T08:30:60Z"] {
            let t = parse(text).unwrap();
            assert_eq!(t, utc("2026-11-01T08:30:59.999999999Z"), "{text}");
            let upper = upper_bound_filter(t);
            let naive = NaiveDateTime::parse_from_str(&upper, "%Y-%m-%d %H:%M:%S").unwrap();
            let earliest = Los_Angeles.from_local_datetime(&naive).earliest().unwrap();
            assert!(earliest.with_timezone(&Utc) >= t.with_nanosecond(0).unwrap());
        }
    }

    mod round_trip {
        use super::*;
        use proptest::prelude::*;

        /// Instants from 1900 to 2200, to the second.
        fn instant() -> impl Strategy<Value = DateTime<Utc>> {
            (-2_208_988_800i64..7_258_118_400).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

            /// UTC → Pacific wall time → UTC is the same instant, except in the repeated
            /// fall-back hour, where the wall time's first reading (one hour earlier) is taken.
            #[test]
            fn utc_to_pacific_and_back(t in instant()) {
                let wall = to_wall(t);
                let back = parse(&wall).unwrap();
                let naive = NaiveDateTime::parse_from_str(&wall, "%Y-%m-%d %H:%M:%S").unwrap();
                match Los_Angeles.from_local_datetime(&naive) {
                    LocalResult::Ambiguous(..) => {
                        prop_assert!(back == t || back == t - chrono::Duration::hours(1));
                    }
                    _ => prop_assert_eq!(back, t),
                }
                // Filters never skip the instant, whichever reading ShipStation takes.
                let lower = NaiveDateTime::parse_from_str(&lower_bound_filter(t), "%Y-%m-%d %H:%M:%S").unwrap();
                prop_assert!(Los_Angeles.from_local_datetime(&lower).latest().unwrap().with_timezone(&Utc) <= t);
                let upper = NaiveDateTime::parse_from_str(&upper_bound_filter(t), "%Y-%m-%d %H:%M:%S").unwrap();
                prop_assert!(Los_Angeles.from_local_datetime(&upper).earliest().unwrap().with_timezone(&Utc) >= t);
            }

            /// Pacific wall time → UTC → Pacific wall time is the same wall time, except in the
            /// spring-forward gap, which no clock shows: read as standard time, it is written one
            /// hour later.
            #[test]
            fn pacific_to_utc_and_back(t in instant()) {
                let naive = t.naive_utc();
                let wall = naive.format("%Y-%m-%d %H:%M:%S").to_string();
                let utc = parse(&wall).unwrap();
                prop_assert_eq!(utc, from_wall(naive));
                let again = to_wall(utc);
                match Los_Angeles.from_local_datetime(&naive) {
                    LocalResult::None => prop_assert_eq!(
                        again,
                        (naive + chrono::Duration::hours(1)).format("%Y-%m-%d %H:%M:%S").to_string()
                    ),
                    _ => prop_assert_eq!(again, wall),
                }
            }
        }
    }
}
