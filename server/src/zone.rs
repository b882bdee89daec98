//! The production's time zone: every time the relay shows, takes in or calls "today" is
//! in it. Zones come from the IANA tz database bundled into the build (jiff's bundled
//! copy, through [`setlink_core::model::production::time_zone`]), so neither the relay's
//! `TZ` nor the machine's zoneinfo changes an answer.
//!
//! Every formatter here is total over `i64` milliseconds: document times come from any
//! peer with write access, so an instant outside jiff's range is clamped, never a panic.
//! pdf.rs and the dashboard pages format through these helpers, so a page, its live
//! updates and the printed sheet agree.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// A production's time zone, with the name it was given.
#[derive(Clone, Debug)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// The zone named `name` (an IANA name such as `America/Los_Angeles`), or an error
    /// saying what a zone name looks like.
    pub fn named(name: &str) -> Result<Zone, String> {
        setlink_core::model::production::time_zone(name)
            .map(|tz| Zone {
                name: name.to_owned(),
                tz,
            })
            .map_err(|e| e.to_string())
    }

    /// UTC: where a production's stored zone cannot be read (the pages say so).
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".into(),
            tz: TimeZone::UTC,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn zoned(&self, ms: i64) -> Zoned {
        let min = Timestamp::MIN.as_millisecond();
        let max = Timestamp::MAX.as_millisecond();
        // Clamped into range, and a day inside it so the zone's offset cannot push the
        // civil time out of range either.
        let ms = ms.clamp(min + 86_400_000, max - 86_400_000);
        let ts = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
        ts.to_zoned(self.tz.clone())
    }

    /// The date of `ms` here, `YYYY-MM-DD`.
    pub fn day(&self, ms: i64) -> String {
        self.zoned(ms).date().to_string()
    }

    /// The time of day of `ms` here, `HH:MM`.
    pub fn hhmm(&self, ms: i64) -> String {
        let t = self.zoned(ms).time();
        format!("{:02}:{:02}", t.hour(), t.minute())
    }

    /// The zone's abbreviation at `ms` (`PST`, `PDT`, or an offset such as `+14` where
    /// the database has no letters).
    pub fn abbreviation(&self, ms: i64) -> String {
        self.zoned(ms).strftime("%Z").to_string()
    }

    /// `HH:MM` and the abbreviation, e.g. `18:59 PST`: the one format for a clock time
    /// on every page, the live indicator and the PDF.
    pub fn clock(&self, ms: i64) -> String {
        format!("{} {}", self.hhmm(ms), self.abbreviation(ms))
    }

    /// `YYYY-MM-DD HH:MM` and the abbreviation.
    pub fn date_time(&self, ms: i64) -> String {
        format!("{} {}", self.day(ms), self.clock(ms))
    }

    /// The instant (ms since 1970) that is `minutes` after the start of `day`
    /// (`YYYY-MM-DD`) on the wall clocks here; `minutes` may pass midnight (up to 48 h,
    /// as call times do). In a daylight-saving gap the clock time is read forwards and
    /// in an overlap the earlier one is taken (jiff's "compatible" rule). `None` when
    /// `day` is not a date or `minutes` is outside 0..=2880.
    pub fn at(&self, day: &str, minutes: i64) -> Option<i64> {
        if !(0..=48 * 60).contains(&minutes) || day.len() != 10 {
            return None;
        }
        let date: Date = day.parse().ok()?;
        let date = date
            .checked_add(jiff::Span::new().days(minutes / 1440))
            .ok()?;
        let rem = minutes % 1440;
        let time = Time::new(
            i8::try_from(rem / 60).ok()?,
            i8::try_from(rem % 60).ok()?,
            0,
            0,
        )
        .ok()?;
        let zoned = date.to_datetime(time).to_zoned(self.tz.clone()).ok()?;
        Some(zoned.timestamp().as_millisecond())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01 10:30 UTC: already 2026-12-02 00:30 in Kiritimati (UTC+14) and still
    /// 2026-11-30 23:30 in Pago Pago (UTC−11).
    const AT: i64 = 1_796_121_000_000;

    #[test]
    fn days_and_clocks_are_the_zones() {
        let kiri = Zone::named("Pacific/Kiritimati").unwrap();
        let pago = Zone::named("Pacific/Pago_Pago").unwrap();
        let utc = Zone::utc();
        assert_eq!(utc.date_time(AT), "2026-12-01 10:30 UTC");
        assert_eq!(kiri.day(AT), "2026-12-02");
        assert_eq!(kiri.clock(AT), "00:30 +14");
        assert_eq!(pago.day(AT), "2026-11-30");
        assert_eq!(pago.clock(AT), "23:30 SST");
        let la = Zone::named("America/Los_Angeles").unwrap();
        assert_eq!(la.clock(AT), "02:30 PST");
    }

    #[test]
    fn clock_times_on_a_day_are_read_in_the_zone() {
        let kiri = Zone::named("Pacific/Kiritimati").unwrap();
        // 00:30 on 2 December in Kiritimati is AT.
        assert_eq!(kiri.at("2026-12-02", 30), Some(AT));
        // Past midnight: 24:30 on the 1st is 00:30 on the 2nd.
        assert_eq!(kiri.at("2026-12-01", 24 * 60 + 30), Some(AT));
        let la = Zone::named("America/Los_Angeles").unwrap();
        let two_pm = la.at("2026-12-01", 14 * 60).unwrap();
        assert_eq!(Zone::utc().date_time(two_pm), "2026-12-01 22:00 UTC");
        // 02:30 on the spring-forward day does not exist in Los Angeles; it is read
        // forwards, never refused or panicked on.
        let gap = la.at("2026-03-08", 2 * 60 + 30).unwrap();
        assert_eq!(la.clock(gap), "03:30 PDT");
        for (day, m) in [
            ("2026-02-30", 0),
            ("2026-12-01", -1),
            ("2026-12-01", 2881),
            ("x", 0),
        ] {
            assert_eq!(la.at(day, m), None, "{day} {m}");
        }
    }

    #[test]
    fn unknown_zones_are_refused_and_formatting_is_total() {
        let e = Zone::named("Mars/Olympus").unwrap_err();
        assert!(e.contains("not a known IANA time zone"), "{e}");
        let z = Zone::named("Pacific/Kiritimati").unwrap();
        for ms in [i64::MIN, -1, 0, i64::MAX] {
            assert_eq!(z.hhmm(ms).len(), 5);
            assert!(!z.day(ms).is_empty());
            let _ = z.date_time(ms);
        }
    }
}
