//! Form fields to domain inputs and back: the values every form shares (times, page
//! counts, calls, kinds, one-row-per-line sections). Every parse error names the field
//! (and the line, for one-row-per-line sections) so the coordinator can fix it; nothing is
//! written until the whole form parses and the domain accepts it. The call sheet's form is
//! `sheet_form.rs`, the production settings' `settings_form.rs`.

use crate::zone::Zone;
use setlink_core::ids::new_record_id;
use setlink_core::model::callsheet::CallSpec;
use setlink_core::model::run::RunKind;
use setlink_core::model::task::TaskCategory;
use setlink_core::model::Priority;

use super::{DashError, DashResult};

/// A submitted form: name/value pairs in order.
pub struct Fields(pub Vec<(String, String)>);

/// Longest single field we accept, in characters; the domain has its own tighter limits.
const MAX_FIELD: usize = 20_000;

impl Fields {
    /// A form from name/value pairs, as a browser would post it (for tests).
    #[cfg(test)]
    pub fn of(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The trimmed value, `None` when absent or blank.
    pub fn opt(&self, name: &str) -> DashResult<Option<String>> {
        match self.raw(name).map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) if v.chars().count() > MAX_FIELD => Err(DashError::bad_request(format!(
                "`{name}` is longer than {MAX_FIELD} characters; nothing was changed"
            ))
            .on(name)),
            Some(v) => Ok(Some(v.to_owned())),
            None => Ok(None),
        }
    }

    pub fn required(&self, name: &str, label: &str) -> DashResult<String> {
        self.opt(name)?.ok_or_else(|| {
            DashError::bad_request(format!("{label} is required; nothing was changed")).on(name)
        })
    }

    pub fn csrf(&self) -> &str {
        self.raw("_csrf").unwrap_or("")
    }
}

/// A domain refusal of a form's content, about the form field `table` gives for the field
/// the domain names (`(domain field or its first words, form field)`, first match wins),
/// so the refused form shows the message by that field.
pub(super) fn domain_refusal(e: setlink_core::DomainError, table: &[(&str, &str)]) -> DashError {
    use setlink_core::DomainError as D;
    let field = match &e {
        D::InvalidValue { field, .. } | D::OutOfRange { field, .. } => table
            .iter()
            .find(|(k, _)| {
                *field == *k
                    || field
                        .strip_prefix(k)
                        .is_some_and(|rest| rest.starts_with(' '))
            })
            .map(|(_, f)| *f),
        _ => None,
    };
    let err = DashError::from(e);
    match field {
        Some(f) => err.on(f),
        None => err,
    }
}

pub(super) fn bad(msg: String) -> DashError {
    DashError::bad_request(format!("{msg}; nothing was changed"))
}

pub fn run_kind(s: &str) -> DashResult<RunKind> {
    Ok(match s {
        "pickup" => RunKind::Pickup,
        "drop_off" => RunKind::DropOff,
        "supply_purchase" => RunKind::SupplyPurchase,
        "food_order" => RunKind::FoodOrder,
        "paperwork_delivery" => RunKind::PaperworkDelivery,
        "return" => RunKind::Return,
        "other" => RunKind::Other,
        other => {
            return Err(bad(format!(
                "`{}` is not a kind of run (pickup, drop_off, supply_purchase, food_order, paperwork_delivery, return, other)",
                clip(other)
            )))
        }
    })
}

pub fn run_kind_name(k: RunKind) -> (&'static str, &'static str) {
    match k {
        RunKind::Pickup => ("pickup", "Pickup"),
        RunKind::DropOff => ("drop_off", "Drop-off"),
        RunKind::SupplyPurchase => ("supply_purchase", "Supply purchase"),
        RunKind::FoodOrder => ("food_order", "Food order"),
        RunKind::PaperworkDelivery => ("paperwork_delivery", "Paperwork delivery"),
        RunKind::Return => ("return", "Return"),
        RunKind::Other => ("other", "Other"),
    }
}

pub const TASK_CATEGORIES: [(TaskCategory, &str, &str); 10] = [
    (
        TaskCategory::FoodOrder,
        "food_order",
        "Coffee / lunch order",
    ),
    (
        TaskCategory::CraftyRestock,
        "crafty_restock",
        "Crafty restock",
    ),
    (TaskCategory::Phones, "phones", "Phones"),
    (TaskCategory::Meeting, "meeting", "Meeting / table read"),
    (TaskCategory::Paperwork, "paperwork", "Paperwork / sides"),
    (TaskCategory::Signage, "signage", "Signage"),
    (TaskCategory::SupplyRun, "supply_run", "Supply run"),
    (TaskCategory::Filing, "filing", "Filing"),
    (TaskCategory::Travel, "travel", "Travel & accommodation"),
    (TaskCategory::Other, "other", "Other"),
];

pub fn task_category(s: &str) -> DashResult<TaskCategory> {
    TASK_CATEGORIES
        .iter()
        .find(|(_, key, _)| *key == s)
        .map(|(c, _, _)| *c)
        .ok_or_else(|| bad(format!("`{}` is not a task category", clip(s))))
}

pub fn task_category_label(c: TaskCategory) -> &'static str {
    TASK_CATEGORIES
        .iter()
        .find(|(k, _, _)| *k == c)
        .map(|(_, _, l)| *l)
        .unwrap_or("Other")
}

pub fn priority(s: Option<&str>) -> DashResult<Priority> {
    match s.unwrap_or("normal") {
        "normal" | "" => Ok(Priority::Normal),
        "urgent" => Ok(Priority::Urgent),
        other => Err(bad(format!(
            "`{}` is not a priority (normal or urgent)",
            clip(other)
        ))),
    }
}

pub(super) fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// `HH:MM` (00:00 to 48:00, past midnight as 24:00 and later) to minutes after midnight.
pub fn minutes(field: &str, s: &str) -> DashResult<i64> {
    let s = s.trim();
    let parsed = s.split_once(':').and_then(|(h, m)| {
        let ok = !h.is_empty()
            && h.len() <= 2
            && m.len() == 2
            && h.chars().all(|c| c.is_ascii_digit())
            && m.chars().all(|c| c.is_ascii_digit());
        if !ok {
            return None;
        }
        let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
        (m < 60 && h * 60 + m <= 48 * 60).then_some(h * 60 + m)
    });
    parsed.ok_or_else(|| {
        bad(format!(
            "{field}: `{}` is not a time; write HH:MM between 00:00 and 48:00",
            clip(s)
        ))
    })
}

pub fn opt_minutes(field: &str, s: Option<&str>) -> DashResult<Option<i64>> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => minutes(field, s).map(Some),
        None => Ok(None),
    }
}

pub fn fmt_minutes(m: Option<i64>) -> String {
    m.map(setlink_core::model::callsheet::format_minutes)
        .unwrap_or_default()
}

/// A time of day (`HH:MM`, up to 48:00) on a shoot day, in the production's zone, as ms
/// since 1970.
pub fn time_on_day(field: &str, day: &str, s: &str, zone: &Zone) -> DashResult<i64> {
    let m = minutes(field, s)?;
    zone.at(day, m)
        .ok_or_else(|| bad(format!("{field}: `{}` is not a day", clip(day))))
}

pub fn int(field: &str, s: &str, min: i64, max: i64) -> DashResult<i64> {
    match s.trim().parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(bad(format!(
            "{field}: `{}` is not a whole number between {min} and {max}",
            clip(s.trim())
        ))),
    }
}

pub(super) fn opt_int(field: &str, s: Option<&str>, min: i64, max: i64) -> DashResult<Option<i64>> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => int(field, s, min, max).map(Some),
        None => Ok(None),
    }
}

/// Page counts as scripted: `1 3/8`, `3/8`, `2`.
pub fn eighths(field: &str, s: &str) -> DashResult<i64> {
    let s = s.trim();
    let err = || {
        bad(format!(
            "{field}: `{}` is not a page count like 1 3/8",
            clip(s)
        ))
    };
    let (whole, frac) = match s.split_once(' ') {
        Some((w, f)) => (w.trim(), Some(f.trim())),
        None if s.contains('/') => ("0", Some(s)),
        None => (s, None),
    };
    let whole: i64 = whole.parse().map_err(|_| err())?;
    let frac = match frac {
        Some(f) => {
            let (n, d) = f.split_once('/').ok_or_else(err)?;
            if d.trim() != "8" {
                return Err(err());
            }
            n.trim().parse::<i64>().map_err(|_| err())?
        }
        None => 0,
    };
    if !(0..=200).contains(&whole) || !(0..8).contains(&frac) {
        return Err(err());
    }
    Ok(whole * 8 + frac)
}

pub use setlink_core::model::callsheet_text::format_eighths as fmt_eighths;

/// Crew call: `HH:MM`, or an offset from general call: `+30`, `-45`, `+1:15`.
pub fn call_spec(field: &str, s: &str) -> DashResult<CallSpec> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('+').or_else(|| s.strip_prefix('-')) {
        let sign = if s.starts_with('-') { -1 } else { 1 };
        let mins = if rest.contains(':') {
            minutes(field, rest)?
        } else {
            int(field, rest, 0, 12 * 60)?
        };
        return Ok(CallSpec::Offset(sign * mins));
    }
    minutes(field, s).map(CallSpec::At)
}

pub fn fmt_call_spec(c: &CallSpec) -> String {
    match *c {
        CallSpec::At(m) => setlink_core::model::callsheet::format_minutes(m),
        CallSpec::Offset(o) if o < 0 => format!("-{}", -o),
        CallSpec::Offset(o) => format!("+{o}"),
    }
}

pub(super) fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(super) fn none_if_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// Rows of a `|`-separated section: (line number, cells), blank lines skipped; an error
/// names the section and line, and is about form field `field`.
pub(super) fn rows<'a>(
    text: &'a str,
    section: &'a str,
    field: &'a str,
    min: usize,
    max: usize,
) -> impl Iterator<Item = DashResult<(usize, Vec<&'a str>)>> + 'a {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(move |(i, l)| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            if cells.len() < min || cells.len() > max {
                Err(bad(format!(
                    "{section}, line {}: expected {}{} fields separated by |, found {}",
                    i + 1,
                    min,
                    if max > min {
                        format!(" to {max}")
                    } else {
                        String::new()
                    },
                    cells.len()
                ))
                .on(field))
            } else {
                Ok((i + 1, cells))
            }
        })
}

pub(super) fn cell<'a>(cells: &[&'a str], i: usize) -> &'a str {
    cells.get(i).copied().unwrap_or("")
}

pub(super) fn reuse_id<T>(
    old: &[T],
    matches: impl Fn(&T) -> bool,
    id: impl Fn(&T) -> String,
) -> String {
    old.iter()
        .find(|o| matches(o))
        .map(id)
        .unwrap_or_else(new_record_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_pages_and_offsets() {
        assert_eq!(minutes("t", "06:30").ok(), Some(390));
        assert_eq!(minutes("t", "25:15").ok(), Some(1515));
        for bad in ["6", "06:60", "49:00", "ab:cd", "-1:00", "6:3"] {
            assert!(minutes("t", bad).is_err(), "{bad}");
        }
        assert_eq!(eighths("p", "1 3/8").ok(), Some(11));
        assert_eq!(eighths("p", "3/8").ok(), Some(3));
        assert_eq!(eighths("p", "2").ok(), Some(16));
        assert!(eighths("p", "1 9/8").is_err());
        assert_eq!(fmt_eighths(11), "1 3/8");
        assert_eq!(call_spec("c", "-30").ok(), Some(CallSpec::Offset(-30)));
        assert_eq!(call_spec("c", "+1:15").ok(), Some(CallSpec::Offset(75)));
        assert_eq!(call_spec("c", "07:00").ok(), Some(CallSpec::At(420)));
        assert_eq!(fmt_call_spec(&CallSpec::Offset(-30)), "-30");
    }
}
