//! Dates and times from outside: ShipStation's Pacific wall times (and the filters we derive from
//! them), and Sage's YYYYMMDD dates with hours-since-midnight times in the site's zone. Properties:
//! a parsed Pacific time written as a wall time and read again is the same instant (to the
//! second, except in the repeated fall-back hour, where the first reading is taken), and the
//! lower/upper filters never lie after/before the instant.
#![no_main]

use chrono::{DateTime, NaiveDateTime, SubsecRound, TimeZone, Utc};
use chrono_tz::America::Los_Angeles;
use libfuzzer_sys::fuzz_target;
use ml_connector::domain::{Keyed, SiteZone};
use ml_connector::sage100::convert;
use ml_connector::shipstation::pacific;
use mlc_agent_api as api;

fuzz_target!(|data: &[u8]| {
    // Pacific text, Sage date created, time created, date updated, time updated, order date, zone
    let f = mlc_fuzz::fields(data, 7);
    if let Some(t) = pacific::parse(&f[0]) {
        pacific_properties(t);
    }
    let row = api::SalesOrderHeader {
        sales_order_no: "0000001".into(),
        date_created: f[1].clone(),
        time_created: f[2].clone(),
        date_updated: f[3].clone(),
        time_updated: f[4].clone(),
        order_date: f[5].clone(),
        ..Default::default()
    };
    let _ = row.stamp();
    if let Ok(order) = convert::sales_order(&row) {
        let zone = SiteZone::parse(&f[6]).unwrap_or_default();
        if let Some(d) = order.order_date {
            let t = zone.start_of(d);
            let _ = zone.date_of(t);
        }
        if let Some(created) = order.created {
            let _ = zone.to_utc(created);
        }
    }
});

fn pacific_properties(t: DateTime<Utc>) {
    let wall = pacific::to_wall(t);
    let back = pacific::parse(&wall).expect("a wall time we wrote parses");
    let whole = t.trunc_subsecs(0);
    let naive = NaiveDateTime::parse_from_str(&wall, "%Y-%m-%d %H:%M:%S").expect("wall format");
    if Los_Angeles.from_local_datetime(&naive).single().is_some() {
        assert_eq!(back, whole, "{t} → {wall:?} → {back}");
    }
    let lower = pacific::lower_bound_filter(t);
    let lower = NaiveDateTime::parse_from_str(&lower, "%Y-%m-%d %H:%M:%S").expect("filter format");
    if let Some(latest) = Los_Angeles.from_local_datetime(&lower).latest() {
        assert!(
            latest.with_timezone(&Utc) <= t,
            "lower bound {lower} after {t}"
        );
    }
    let upper = pacific::upper_bound_filter(t);
    let upper = NaiveDateTime::parse_from_str(&upper, "%Y-%m-%d %H:%M:%S").expect("filter format");
    if let Some(earliest) = Los_Angeles.from_local_datetime(&upper).earliest() {
        assert!(
            earliest.with_timezone(&Utc) >= whole,
            "upper bound {upper} before {t}"
        );
    }
}
