//! What the office asks of the gear list at wrap: who has what, what is overdue, what is
//! still out (the wrap check line), and the run that takes overdue gear back.
//!
//! Pure functions over items already read ([`super::list_items`]): no document, no clock;
//! "today" is the production's day the caller passes in.

use std::collections::BTreeMap;

use super::{GearCategory, GearItem};
use crate::model::run::{ItemInput, NewRun, RunKind, StopInput};
use crate::model::util::{MAX_LONG, MAX_SHORT};

/// The items signed out to `member` and not lost.
pub fn held_by<'a>(items: &'a [GearItem], member: &str) -> Vec<&'a GearItem> {
    items
        .iter()
        .filter(|i| i.is_out() && i.holder.as_deref() == Some(member))
        .collect()
}

/// Borrowed or rented items due back before `today` (`YYYY-MM-DD`, the production's day)
/// that are not back with their owner, lost ones included (they are still owed). Items the
/// production owns are never overdue.
pub fn overdue<'a>(items: &'a [GearItem], today: &str) -> Vec<&'a GearItem> {
    items
        .iter()
        .filter(|i| {
            i.record.owner.is_some()
                && !i.with_owner
                && i.record.due_back.as_deref().is_some_and(|d| d < today)
        })
        .collect()
}

/// The items signed out to someone, not returned and not lost.
pub fn still_out(items: &[GearItem]) -> Vec<&GearItem> {
    items.iter().filter(|i| i.is_out()).collect()
}

/// What is still out, counted: walkies as one kind (`"walkie"`), every other item by its
/// name. Walkies first, then names in alphabetical order.
pub fn still_out_summary(items: &[GearItem]) -> Vec<(String, usize)> {
    let mut walkies = 0;
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for i in still_out(items) {
        if i.record.category == GearCategory::Walkie {
            walkies += 1;
        } else {
            *by_name.entry(i.record.name.trim()).or_default() += 1;
        }
    }
    let mut out = Vec::with_capacity(by_name.len() + 1);
    if walkies > 0 {
        out.push(("walkie".to_owned(), walkies));
    }
    out.extend(by_name.into_iter().map(|(n, c)| (n.to_owned(), c)));
    out
}

/// The summary as a line: "3 walkies, 1 C-stand, 2 × Apple box". Walkies are the one
/// kind we pluralise; other names are whatever the office typed, so more than one is
/// written "2 × name" rather than guessing an English plural. Nothing out is "nothing".
pub fn format_still_out(summary: &[(String, usize)]) -> String {
    let parts: Vec<String> = summary
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| match (name.as_str(), *n) {
            ("walkie", 1) => "1 walkie".to_owned(),
            ("walkie", n) => format!("{n} walkies"),
            (name, 1) => format!("1 {name}"),
            (name, n) => format!("{n} × {name}"),
        })
        .collect();
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Most items one run holds (the run model's bound).
const MAX_RUN_ITEMS: usize = 500;

/// A "return borrowed gear" run for the items [`overdue`] on `today` that can go back
/// (not lost): one stop per owner, whose notes list what goes there, and one run item per
/// piece of gear. `None` when nothing can go back. `name_of` turns a holder (a member id)
/// into the name the PA will ask for. Create the run on a day's board with
/// [`crate::model::run::create_run`]; recording `returned_to_owner` stays a separate step,
/// done when the gear is actually handed over.
pub fn return_run_input(
    items: &[GearItem],
    today: &str,
    requested_by: &str,
    name_of: impl Fn(&str) -> String,
) -> Option<NewRun> {
    let mut by_owner: BTreeMap<&str, Vec<&GearItem>> = BTreeMap::new();
    for i in overdue(items, today).into_iter().filter(|i| !i.lost) {
        if let Some(owner) = i.record.owner.as_deref() {
            by_owner.entry(owner).or_default().push(i);
        }
    }
    if by_owner.is_empty() {
        return None;
    }
    let title = match by_owner.keys().next() {
        Some(owner) if by_owner.len() == 1 => format!("Return borrowed gear to {owner}"),
        _ => format!("Return borrowed gear to {} owners", by_owner.len()),
    };
    let mut run = NewRun::new(RunKind::Return, clip(&title, MAX_SHORT), requested_by);
    for (owner, gear) in &by_owner {
        let listed: Vec<String> = gear.iter().map(|i| describe(i, &name_of)).collect();
        run.stops.push(StopInput {
            label: clip(owner, MAX_SHORT),
            notes: Some(clip(&format!("Return: {}", listed.join("; ")), MAX_LONG)),
            ..StopInput::default()
        });
        for i in gear {
            if run.items.len() < MAX_RUN_ITEMS {
                run.items.push(ItemInput {
                    description: clip(&format!("{} → {owner}", describe(i, &name_of)), MAX_SHORT),
                    quantity: 1,
                });
            }
        }
    }
    Some(run)
}

/// "Walkie 4 (SN 1234), due back 2026-11-20, with Pat": what a PA needs to find it.
fn describe(i: &GearItem, name_of: &impl Fn(&str) -> String) -> String {
    let mut s = i.record.name.trim().to_owned();
    if let Some(l) = &i.record.label {
        s.push_str(&format!(" ({})", l.trim()));
    }
    if let Some(d) = &i.record.due_back {
        s.push_str(&format!(", due back {d}"));
    }
    if let Some(h) = &i.holder {
        s.push_str(&format!(", with {}", name_of(h)));
    }
    s
}

/// `s` cut to `max` characters (with "…" when cut), so a long name never makes the run
/// invalid.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
