//! The Sage site's time zone: Sage stamps dates and times in local wall time.

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SiteZone(chrono_tz::Tz);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?} (use an IANA name such as America/Chicago)")]
pub struct ZoneError(pub String);

impl SiteZone {
    pub fn parse(name: &str) -> Result<Self, ZoneError> {
        name.trim()
            .parse()
            .map(Self)
            .map_err(|_| ZoneError(name.to_string()))
    }

    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }

    /// A local wall time as UTC (the earlier instant when the clock fell back; the later side of
    /// a spring-forward gap).
    pub fn to_utc(self, local: NaiveDateTime) -> chrono::DateTime<Utc> {
        match self.0.from_local_datetime(&local).earliest() {
            Some(t) => t.with_timezone(&Utc),
            None => self
                .0
                .from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| local.and_utc()),
        }
    }

    /// Midnight of a local date, as UTC.
    pub fn start_of(self, date: NaiveDate) -> chrono::DateTime<Utc> {
        self.to_utc(date.and_hms_opt(0, 0, 0).expect("midnight exists"))
    }

    /// The local date of an instant.
    pub fn date_of(self, t: chrono::DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.0).date_naive()
    }
}

impl Default for SiteZone {
    fn default() -> Self {
        Self(chrono_tz::America::Chicago)
    }
}

impl TryFrom<String> for SiteZone {
    type Error = ZoneError;
    fn try_from(s: String) -> Result<Self, ZoneError> {
        Self::parse(&s)
    }
}

impl From<SiteZone> for String {
    fn from(z: SiteZone) -> String {
        z.0.name().to_string()
    }
}

impl fmt::Display for SiteZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_once_and_never_guessed() {
        assert!(SiteZone::parse("America/Chicago").is_ok());
        assert!(SiteZone::parse("Mars/Olympus").is_err());
        assert!(serde_json::from_str::<SiteZone>("\"Central\"").is_err());
        let z = SiteZone::parse("America/Chicago").unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        assert_eq!(z.start_of(d).to_rfc3339(), "2026-11-26T06:00:00+00:00");
    }
}
