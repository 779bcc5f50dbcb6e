//! IANA time zones for cron schedules: jiff's embedded copy of the tz database, looked up when a
//! schedule names a zone, behind chrono's `TimeZone` (the cron crate plans with chrono). It
//! replaced chrono-tz, whose tables were about 29,000 relocations that every process start
//! applied (about 0.9 ms and 260 page faults), whether or not a schedule had a zone.

use chrono::{Datelike, FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike};
use jiff::tz::AmbiguousOffset;

/// A time zone from the tz database (or UTC).
#[derive(Clone, Debug, PartialEq)]
pub struct Zone(jiff::tz::TimeZone);

impl Zone {
    pub fn utc() -> Self {
        Zone(jiff::tz::TimeZone::UTC)
    }

    /// The zone with this IANA name (`Europe/Berlin`), if the database has it.
    pub fn named(name: &str) -> Option<Self> {
        jiff::tz::TimeZone::get(name).ok().map(Zone)
    }

    fn with(&self, offset: jiff::tz::Offset) -> ZoneOffset {
        let fixed = FixedOffset::east_opt(offset.seconds()).unwrap_or(FixedOffset::east_opt(0).expect("UTC"));
        ZoneOffset { zone: self.clone(), fixed }
    }
}

/// A zone's offset at one moment; it keeps the zone, as chrono needs it back.
#[derive(Clone, Debug)]
pub struct ZoneOffset {
    zone: Zone,
    fixed: FixedOffset,
}

impl Offset for ZoneOffset {
    fn fix(&self) -> FixedOffset {
        self.fixed
    }
}

impl TimeZone for Zone {
    type Offset = ZoneOffset;

    fn from_offset(offset: &ZoneOffset) -> Self {
        offset.zone.clone()
    }

    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<ZoneOffset> {
        self.offset_from_local_datetime(&local.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<ZoneOffset> {
        let Some(civil) = civil(local) else { return MappedLocalTime::None };
        match self.0.to_ambiguous_zoned(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => MappedLocalTime::Single(self.with(offset)),
            // Skipped by a change to summer time: no such local time.
            AmbiguousOffset::Gap { .. } => MappedLocalTime::None,
            // Repeated by a change back: the earlier moment first, as chrono orders them.
            AmbiguousOffset::Fold { before, after } => MappedLocalTime::Ambiguous(self.with(before), self.with(after)),
        }
    }

    fn offset_from_utc_date(&self, utc: &NaiveDate) -> ZoneOffset {
        self.offset_from_utc_datetime(&utc.and_time(chrono::NaiveTime::MIN))
    }

    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> ZoneOffset {
        // Past the database's range of years (±9999) the zone's offset is not known: UTC.
        match jiff::Timestamp::from_second(utc.and_utc().timestamp()) {
            Ok(ts) => self.with(self.0.to_offset(ts)),
            Err(_) => self.with(jiff::tz::Offset::UTC),
        }
    }
}

/// chrono's local time as jiff's, to the nanosecond; `None` outside jiff's years.
fn civil(t: &NaiveDateTime) -> Option<jiff::civil::DateTime> {
    let year = i16::try_from(t.year()).ok()?;
    let nanos = i32::try_from(t.nanosecond().min(999_999_999)).ok()?;
    jiff::civil::DateTime::new(
        year,
        t.month() as i8,
        t.day() as i8,
        t.hour() as i8,
        t.minute() as i8,
        t.second() as i8,
        nanos,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn offsets_follow_summer_time_with_its_gap_and_fold() {
        let berlin = Zone::named("Europe/Berlin").expect("in the database");
        let at = |s: &str| berlin.from_local_datetime(&local(s));
        assert_eq!(at("2026-01-15 12:00:00").single().unwrap().to_rfc3339(), "2026-01-15T12:00:00+01:00");
        assert_eq!(at("2026-07-15 12:00:00").single().unwrap().to_rfc3339(), "2026-07-15T12:00:00+02:00");
        // 29 March 2026, 02:30 does not exist in Berlin; 25 October, 02:30 happens twice.
        assert!(matches!(at("2026-03-29 02:30:00"), MappedLocalTime::None));
        let MappedLocalTime::Ambiguous(first, second) = at("2026-10-25 02:30:00") else { panic!("a fold") };
        assert_eq!(
            (first.to_rfc3339(), second.to_rfc3339()),
            ("2026-10-25T02:30:00+02:00".to_string(), "2026-10-25T02:30:00+01:00".to_string())
        );
        let utc = chrono::Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).unwrap();
        assert_eq!(utc.with_timezone(&berlin).to_rfc3339(), "2026-07-01T02:00:00+02:00");
        assert_eq!(utc.with_timezone(&Zone::utc()).to_rfc3339(), "2026-07-01T00:00:00+00:00");
    }

    #[test]
    fn names_come_from_the_tz_database() {
        assert!(Zone::named("America/New_York").is_some());
        assert!(Zone::named("UTC").is_some());
        assert!(Zone::named("Mars/Olympus").is_none());
        assert!(Zone::named("").is_none());
    }
}
