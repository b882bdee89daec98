//! What the relay calls "today": the day the dashboard opens on when a page names none,
//! and the day `serve --demo` seeds a board and call sheet for.
//!
//! "Today" is today in the production's time zone ([`crate::zone::Zone`]), so the relay's
//! `TZ` never matters. Nothing else in the relay turns the wall clock into a day or into
//! "now" for late flags: code that needs them is handed a [`Today`] (from
//! [`crate::http::Settings`]), and `setlink serve --today` pins it — to a day
//! (`YYYY-MM-DD`, that day in every zone) or to an instant (`2026-12-01T10:30:00Z`, a
//! stopped clock: today is its date in each production's zone and late flags compare
//! against it) — so tests and demos depend neither on the date nor on running across
//! midnight.

use std::fmt;
use std::str::FromStr;

use time::macros::format_description;
use time::Date;

use crate::zone::Zone;

/// Where "today" comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Today {
    /// The system clock, read at each use.
    #[default]
    System,
    /// Always this day (checked `YYYY-MM-DD`), whatever the zone.
    Fixed(String),
    /// A clock stopped at this instant (ms since 1970).
    At(i64),
}

impl Today {
    /// Today in `zone` as `YYYY-MM-DD`.
    pub fn day_in(&self, zone: &Zone) -> String {
        match self {
            Today::System => zone.day(crate::auth::now_ms()),
            Today::Fixed(day) => day.clone(),
            Today::At(ms) => zone.day(*ms),
        }
    }

    /// Now, for late flags and "updated" clocks: the pinned instant, or the system clock.
    pub fn now_ms(&self) -> i64 {
        match self {
            Today::System | Today::Fixed(_) => crate::auth::now_ms(),
            Today::At(ms) => *ms,
        }
    }
}

impl FromStr for Today {
    type Err = String;

    /// A `YYYY-MM-DD` calendar date, or an RFC 3339 instant with its offset
    /// (`setlink serve --today`).
    fn from_str(raw: &str) -> Result<Self, String> {
        if let Some(d) = parse(raw) {
            return Ok(Today::Fixed(format_day(d)));
        }
        match raw.parse::<jiff::Timestamp>() {
            Ok(ts) if raw.len() <= 40 => Ok(Today::At(ts.as_millisecond())),
            _ => Err(format!(
                "`{}` is neither a day nor an instant; use YYYY-MM-DD (e.g. 2026-11-24) or \
                 an instant with its offset (e.g. 2026-11-24T22:30:00Z)",
                raw.chars().take(40).collect::<String>()
            )),
        }
    }
}

impl fmt::Display for Today {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Today::System => f.write_str("the system clock's date in the production's zone"),
            Today::Fixed(day) => f.write_str(day),
            Today::At(ms) => write!(f, "{}", Zone::utc().date_time(*ms)),
        }
    }
}

/// The day after `day` (`YYYY-MM-DD`), or `None` if `day` is not one.
pub fn next_day(day: &str) -> Option<String> {
    parse(day)?.next_day().map(format_day)
}

fn parse(raw: &str) -> Option<Date> {
    // Exactly `YYYY-MM-DD`: `time` alone would also take a sign or a wider year.
    let shaped = raw.len() == 10
        && raw.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    shaped
        .then(|| Date::parse(raw, format_description!("[year]-[month]-[day]")).ok())
        .flatten()
}

fn format_day(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_instant_is_today_in_each_zone() {
        // 10:30 UTC on 1 December: the 2nd in Kiritimati, still 30 November in Pago Pago.
        let t: Today = "2026-12-01T10:30:00Z".parse().unwrap();
        assert_eq!(t, Today::At(1_796_121_000_000));
        assert_eq!(t.now_ms(), 1_796_121_000_000);
        let kiri = Zone::named("Pacific/Kiritimati").unwrap();
        let pago = Zone::named("Pacific/Pago_Pago").unwrap();
        assert_eq!(t.day_in(&kiri), "2026-12-02");
        assert_eq!(t.day_in(&pago), "2026-11-30");
        assert_eq!(t.day_in(&Zone::utc()), "2026-12-01");
        // The same instant written with an offset.
        let same: Today = "2026-12-02T00:30:00+14:00".parse().unwrap();
        assert_eq!(same, t);
        // Without an offset it is not an instant.
        assert!("2026-12-01T10:30:00".parse::<Today>().is_err());
    }

    #[test]
    fn a_fixed_today_is_checked_and_never_moves() {
        let t: Today = "2028-02-29".parse().unwrap();
        assert_eq!(t, Today::Fixed("2028-02-29".into()));
        let kiri = Zone::named("Pacific/Kiritimati").unwrap();
        assert_eq!(t.day_in(&kiri), "2028-02-29");
        assert_eq!(t.day_in(&Zone::utc()), "2028-02-29");
        assert_eq!(t.to_string(), "2028-02-29");
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "+2026-11-24",
            "2026-1-05",
            "today",
            "",
        ] {
            assert!(bad.parse::<Today>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_system_today_is_a_day() {
        let d = Today::System.day_in(&Zone::named("Pacific/Kiritimati").unwrap());
        assert!(parse(&d).is_some(), "{d}");
    }

    #[test]
    fn day_arithmetic_crosses_months_years_and_leap_days() {
        assert_eq!(next_day("2026-12-31").as_deref(), Some("2027-01-01"));
        assert_eq!(next_day("2028-02-28").as_deref(), Some("2028-02-29"));
        assert_eq!(next_day("2026-11-30").as_deref(), Some("2026-12-01"));
        assert_eq!(next_day("2026-02-30"), None);
    }
}
