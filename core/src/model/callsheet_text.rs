//! How a call sheet writes its coded values: page counts in eighths, INT/EXT, D/N, where a
//! person's call comes from. One spelling for the dashboard's form, its printout and PDF,
//! the diff between sheets, the crew page and the crew's email.

use super::callsheet::{CallSource, DayNight, IntExt};

/// Page counts as written on a sheet: `1 3/8`, `3/8`, `2`.
pub fn format_eighths(e: i64) -> String {
    match (e.div_euclid(8), e.rem_euclid(8)) {
        (0, f) => format!("{f}/8"),
        (w, 0) => w.to_string(),
        (w, f) => format!("{w} {f}/8"),
    }
}

pub fn int_ext(v: IntExt) -> &'static str {
    match v {
        IntExt::Int => "INT",
        IntExt::Ext => "EXT",
        IntExt::IntExt => "INT/EXT",
    }
}

pub fn day_night(v: DayNight) -> &'static str {
    match v {
        DayNight::Day => "D",
        DayNight::Night => "N",
        DayNight::Dawn => "DAWN",
        DayNight::Dusk => "DUSK",
    }
}

/// Whose call a person's call time is: `your call`, `Grip call` (their department's
/// row), `general crew call`.
pub fn call_source(source: CallSource, department: Option<&str>) -> String {
    match source {
        CallSource::Personal => "your call".to_owned(),
        CallSource::Department => format!("{} call", department.unwrap_or("department")),
        CallSource::General => "general crew call".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eighths_read_as_on_a_sheet() {
        assert_eq!(format_eighths(3), "3/8");
        assert_eq!(format_eighths(16), "2");
        assert_eq!(format_eighths(11), "1 3/8");
        assert_eq!(int_ext(IntExt::IntExt), "INT/EXT");
        assert_eq!(day_night(DayNight::Dusk), "DUSK");
    }
}
