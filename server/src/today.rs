//! What the relay calls "today": the day the dashboard opens on when a page names none,
//! and the day `serve --demo` seeds a board and call sheet for.
//!
//! Days are UTC dates, `YYYY-MM-DD` (the dashboard shows UTC), so the relay's `TZ` never
//! matters. Nothing else in the relay turns the wall clock into a day: code that needs
//! "today" is handed a [`Today`] (from [`crate::http::Settings`]) or the day itself, and
//! `setlink serve --today YYYY-MM-DD` pins it, so tests and demos do not depend on the
//! date (or on running across midnight).

use std::fmt;
use std::str::FromStr;

use time::macros::format_description;
use time::{Date, OffsetDateTime};

/// Where "today" comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Today {
    /// The UTC date of the system clock, read at each use.
    #[default]
    System,
    /// Always this day (checked `YYYY-MM-DD`).
    Fixed(String),
}

impl Today {
    /// Today as `YYYY-MM-DD`.
    pub fn day(&self) -> String {
        match self {
            Today::System => utc_day(crate::auth::now_ms()),
            Today::Fixed(day) => day.clone(),
        }
    }
}

impl FromStr for Today {
    type Err = String;

    /// A `YYYY-MM-DD` calendar date (`setlink serve --today`).
    fn from_str(raw: &str) -> Result<Self, String> {
        parse(raw)
            .map(|d| Today::Fixed(format_day(d)))
            .ok_or_else(|| format!("`{raw}` is not a day; use YYYY-MM-DD, e.g. 2026-11-24"))
    }
}

impl fmt::Display for Today {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Today::System => f.write_str("the UTC date of the system clock"),
            Today::Fixed(day) => f.write_str(day),
        }
    }
}

/// The UTC date of a Unix time in milliseconds, `YYYY-MM-DD`.
pub fn utc_day(unix_ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format_day(at.date())
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
    fn utc_day_is_the_utc_date_on_both_sides_of_midnight() {
        // 2026-12-01T00:00:00Z
        let midnight = 1_796_083_200_000;
        assert_eq!(utc_day(midnight - 1), "2026-11-30");
        assert_eq!(utc_day(midnight), "2026-12-01");
        assert_eq!(utc_day(midnight + 86_399_999), "2026-12-01");
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(-1), "1969-12-31");
    }

    #[test]
    fn a_fixed_today_is_checked_and_never_moves() {
        let t: Today = "2028-02-29".parse().unwrap();
        assert_eq!(t, Today::Fixed("2028-02-29".into()));
        assert_eq!(t.day(), "2028-02-29");
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
        let d = Today::System.day();
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
