//! What changed between two versions of a call sheet, section by section, in the words a
//! coordinator reads: "Scene 14 added", "General crew call: 07:00 → 06:30", "Camera DP
//! Ana Lens: call 06:30 (-30) → 06:00 (-30)". Pure: no IO, no clock.
//!
//! Rows of the list sections are matched by what identifies them on a sheet (a scene or
//! cast member by number, a location by name, a crew call by department, position and
//! name, a meal by label, a walkie channel by number, an advance day by date), so an edited
//! row reads as changed (naming the cells that changed) rather than removed and added. A
//! crew call shows its resolved time as well as its offset, so moving general call lists
//! every offset row it moves.

use automerge::Automerge;

use super::callsheet::{
    format_minutes, latest_revision, publish_sheet, CallSheet, CallSpec, Revision,
};
use super::callsheet_text::{day_night, format_eighths, int_ext};
use super::DomainError;
use crate::access::Author;

/// One changed line of a section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A row or a value that was not there (`text` is all of it).
    Added { what: String, text: String },
    /// A row or a value that is gone (`text` is what it was).
    Removed { what: String, text: String },
    /// A row or value still there with different content: each changed cell.
    Changed {
        what: String,
        cells: Vec<CellChange>,
    },
}

/// One cell of a changed row; `label` is empty for a single value (a time, a name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellChange {
    pub label: &'static str,
    pub from: String,
    pub to: String,
}

/// The changes in one section of the sheet, in the order of the newer sheet (removed rows
/// last).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionDiff {
    pub section: &'static str,
    pub changes: Vec<Change>,
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "—"
    } else {
        s
    }
}

impl Change {
    /// The whole line: "Scene 14 added: EXT, Loading dock, ...", "Scene 12: description
    /// “a” → “b”; pages 1 3/8 → 2".
    pub fn describe(&self) -> String {
        match self {
            Change::Added { what, text } => format!("{what} added: {text}"),
            Change::Removed { what, text } => format!("{what} removed (was: {text})"),
            Change::Changed { what, cells } => {
                let parts: Vec<String> = cells
                    .iter()
                    .map(|c| {
                        let arrow = format!("{} → {}", or_dash(&c.from), or_dash(&c.to));
                        if c.label.is_empty() {
                            arrow
                        } else {
                            format!("{} {arrow}", c.label)
                        }
                    })
                    .collect();
                format!("{what}: {}", parts.join("; "))
            }
        }
    }

    /// The short form a summary of changes uses: "Scene 14 added", "General crew call:
    /// 07:00 → 06:30", "Scene 12 changed (description, pages)".
    pub fn short(&self) -> String {
        match self {
            Change::Added { what, .. } => format!("{what} added"),
            Change::Removed { what, .. } => format!("{what} removed"),
            Change::Changed { what, cells } => match cells.as_slice() {
                [c] => {
                    let label = if c.label.is_empty() {
                        String::new()
                    } else {
                        format!("{} ", c.label)
                    };
                    format!("{what}: {label}{} → {}", or_dash(&c.from), or_dash(&c.to))
                }
                cells => {
                    let labels: Vec<&str> = cells.iter().map(|c| c.label).collect();
                    format!("{what} changed ({})", labels.join(", "))
                }
            },
        }
    }
}

fn time(m: Option<i64>) -> String {
    m.map(format_minutes).unwrap_or_default()
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn int(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A value of a labelled field (header, times, weather, hospital).
fn value(out: &mut Vec<Change>, what: &str, from: String, to: String) {
    if from == to {
        return;
    }
    let what = what.to_owned();
    out.push(match (from.is_empty(), to.is_empty()) {
        (true, _) => Change::Added { what, text: to },
        (_, true) => Change::Removed { what, text: from },
        _ => Change::Changed {
            what,
            cells: vec![CellChange {
                label: "",
                from,
                to,
            }],
        },
    });
}

type Cells = Vec<(&'static str, String)>;

fn row_text(cells: &Cells) -> String {
    cells
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(l, v)| {
            if l.is_empty() {
                v.clone()
            } else {
                format!("{l} {v}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows matched by `key` (each old row at most once, in order); `what` names a row,
/// `cells` are its contents.
fn rows<T>(
    out: &mut Vec<Change>,
    old: &[T],
    new: &[T],
    key: impl Fn(&T) -> String,
    what: impl Fn(&T) -> String,
    cells: impl Fn(&T) -> Cells,
) {
    let mut used = vec![false; old.len()];
    for n in new {
        let k = key(n);
        let found = old
            .iter()
            .enumerate()
            .find(|(i, o)| !used[*i] && key(o) == k);
        match found {
            Some((i, o)) => {
                used[i] = true;
                let (before, after) = (cells(o), cells(n));
                let changed: Vec<CellChange> = before
                    .iter()
                    .zip(&after)
                    .filter(|(b, a)| b.1 != a.1)
                    .map(|(b, a)| CellChange {
                        label: a.0,
                        from: b.1.clone(),
                        to: a.1.clone(),
                    })
                    .collect();
                if !changed.is_empty() {
                    out.push(Change::Changed {
                        what: what(n),
                        cells: changed,
                    });
                }
            }
            None => out.push(Change::Added {
                what: what(n),
                text: row_text(&cells(n)),
            }),
        }
    }
    for (o, _) in old.iter().zip(&used).filter(|(_, u)| !**u) {
        out.push(Change::Removed {
            what: what(o),
            text: row_text(&cells(o)),
        });
    }
}

fn crew_call(sheet: &CallSheet, c: &CallSpec) -> String {
    let at = sheet.resolve(c).map(format_minutes);
    match (*c, at) {
        (CallSpec::At(m), _) => format_minutes(m),
        (CallSpec::Offset(o), Some(t)) => format!("{t} ({o:+})"),
        (CallSpec::Offset(o), None) => format!("{o:+} from general call"),
    }
}

fn non_empty(section: &'static str, changes: Vec<Change>) -> Option<SectionDiff> {
    (!changes.is_empty()).then_some(SectionDiff { section, changes })
}

/// What changed from `old` to `new`, one entry per section that changed, in the order of
/// a printed sheet. Empty when nothing a reader sees changed (row ids and member links
/// are not content).
pub fn diff(old: &CallSheet, new: &CallSheet) -> Vec<SectionDiff> {
    let mut out = Vec::new();

    let (a, b) = (&old.header, &new.header);
    let mut c = Vec::new();
    value(
        &mut c,
        "Production",
        a.production_title.clone(),
        b.production_title.clone(),
    );
    value(&mut c, "Date", a.date.clone(), b.date.clone());
    value(&mut c, "Day", int(a.day_number), int(b.day_number));
    value(&mut c, "Total days", int(a.total_days), int(b.total_days));
    value(
        &mut c,
        "Call sheet #",
        int(a.call_sheet_number),
        int(b.call_sheet_number),
    );
    value(&mut c, "Director", opt(&a.director), opt(&b.director));
    value(
        &mut c,
        "Producers",
        a.producers.join(", "),
        b.producers.join(", "),
    );
    value(&mut c, "UPM", opt(&a.upm), opt(&b.upm));
    value(&mut c, "ADs", a.ads.join(", "), b.ads.join(", "));
    value(
        &mut c,
        "Production office phone",
        opt(&a.production_office_phone),
        opt(&b.production_office_phone),
    );
    out.extend(non_empty("Header", c));

    let (a, b) = (&old.times, &new.times);
    let mut c = Vec::new();
    value(
        &mut c,
        "General crew call",
        time(a.general_call),
        time(b.general_call),
    );
    value(
        &mut c,
        "Shooting call",
        time(a.shooting_call),
        time(b.shooting_call),
    );
    rows(
        &mut c,
        &a.meals,
        &b.meals,
        |m| m.label.to_lowercase(),
        |m| m.label.clone(),
        |m| vec![("", format_minutes(m.at))],
    );
    value(
        &mut c,
        "Estimated wrap",
        time(a.estimated_wrap),
        time(b.estimated_wrap),
    );
    out.extend(non_empty("Times", c));

    let (a, b) = (&old.weather, &new.weather);
    let temp = |v: Option<i64>, w: &super::callsheet::Weather| {
        let unit = match w.unit {
            super::callsheet::TempUnit::Fahrenheit => "°F",
            super::callsheet::TempUnit::Celsius => "°C",
        };
        v.map(|v| format!("{v}{unit}")).unwrap_or_default()
    };
    let mut c = Vec::new();
    value(&mut c, "High", temp(a.high, a), temp(b.high, b));
    value(&mut c, "Low", temp(a.low, a), temp(b.low, b));
    value(&mut c, "Conditions", opt(&a.conditions), opt(&b.conditions));
    value(
        &mut c,
        "Chance of rain",
        a.rain_chance_percent
            .map(|r| format!("{r}%"))
            .unwrap_or_default(),
        b.rain_chance_percent
            .map(|r| format!("{r}%"))
            .unwrap_or_default(),
    );
    value(&mut c, "Sunrise", time(a.sunrise), time(b.sunrise));
    value(&mut c, "Sunset", time(a.sunset), time(b.sunset));
    value(
        &mut c,
        "Weather-cover set",
        opt(&a.weather_cover_set),
        opt(&b.weather_cover_set),
    );
    out.extend(non_empty("Weather", c));

    let mut c = Vec::new();
    rows(
        &mut c,
        &old.locations,
        &new.locations,
        |l| l.name.to_lowercase(),
        |l| l.name.clone(),
        |l| {
            vec![
                ("address", l.address.clone()),
                ("parking", opt(&l.parking)),
                ("basecamp", opt(&l.basecamp)),
                ("notes", opt(&l.notes)),
            ]
        },
    );
    let hospital = |s: &CallSheet| {
        s.nearest_hospital
            .as_ref()
            .map(|h| format!("{}, {}, {}", h.name, h.address, h.phone))
            .unwrap_or_default()
    };
    value(&mut c, "Nearest hospital", hospital(old), hospital(new));
    out.extend(non_empty("Locations", c));

    let mut c = Vec::new();
    rows(
        &mut c,
        &old.scenes,
        &new.scenes,
        |s| s.number.to_lowercase(),
        |s| format!("Scene {}", s.number),
        |s| {
            vec![
                ("", int_ext(s.int_ext).to_owned()),
                ("set", s.set.clone()),
                ("", day_night(s.day_night).to_owned()),
                ("description", s.description.clone()),
                ("cast", s.cast_numbers.join(", ")),
                ("pages", format_eighths(s.pages_eighths)),
                ("location", opt(&s.location)),
            ]
        },
    );
    out.extend(non_empty("Scenes", c));

    let mut c = Vec::new();
    rows(
        &mut c,
        &old.cast,
        &new.cast,
        |x| x.number.to_lowercase(),
        |x| format!("Cast {} {}", x.number, x.character),
        |x| {
            vec![
                ("actor", x.actor.clone()),
                ("status", opt(&x.status)),
                ("pickup", time(x.pickup)),
                ("hair/makeup", time(x.hair_makeup)),
                ("on set", time(x.on_set)),
                ("notes", opt(&x.notes)),
            ]
        },
    );
    out.extend(non_empty("Cast", c));

    let mut c = Vec::new();
    rows(
        &mut c,
        &old.background,
        &new.background,
        |x| x.description.to_lowercase(),
        |x| format!("Background “{}”", x.description),
        |x| {
            vec![
                ("count", x.count.to_string()),
                ("report", time(x.report_time)),
                ("at", opt(&x.report_place)),
                ("notes", opt(&x.notes)),
            ]
        },
    );
    out.extend(non_empty("Background", c));

    let mut c = Vec::new();
    let crew_key = |x: &super::callsheet::CrewCall| {
        format!(
            "{}|{}|{}",
            x.department.to_lowercase(),
            opt(&x.position).to_lowercase(),
            opt(&x.name).to_lowercase()
        )
    };
    let crew_what = |x: &super::callsheet::CrewCall| {
        [x.department.clone(), opt(&x.position), opt(&x.name)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Each side resolves offsets against its own general call.
    let mut used = vec![false; old.crew_calls.len()];
    for n in &new.crew_calls {
        let found = old
            .crew_calls
            .iter()
            .enumerate()
            .find(|(i, o)| !used[*i] && crew_key(o) == crew_key(n));
        let to = crew_call(new, &n.call);
        match found {
            Some((i, o)) => {
                used[i] = true;
                let from = crew_call(old, &o.call);
                if from != to {
                    c.push(Change::Changed {
                        what: crew_what(n),
                        cells: vec![CellChange {
                            label: "call",
                            from,
                            to,
                        }],
                    });
                }
            }
            None => c.push(Change::Added {
                what: crew_what(n),
                text: format!("call {to}"),
            }),
        }
    }
    for (o, _) in old.crew_calls.iter().zip(&used).filter(|(_, u)| !**u) {
        c.push(Change::Removed {
            what: crew_what(o),
            text: format!("call {}", crew_call(old, &o.call)),
        });
    }
    out.extend(non_empty("Crew calls", c));

    let mut c = Vec::new();
    rows(
        &mut c,
        &old.department_notes,
        &new.department_notes,
        |d| d.department.to_lowercase(),
        |d| format!("{} note", d.department),
        |d| vec![("", d.note.clone())],
    );
    out.extend(non_empty("Department notes", c));

    let mut c = Vec::new();
    rows(
        &mut c,
        &old.advance_schedule,
        &new.advance_schedule,
        |d| d.date.clone(),
        |d| d.date.clone(),
        |d| vec![("", d.summary.clone()), ("scenes", d.scenes.join(", "))],
    );
    out.extend(non_empty("Advance schedule", c));

    let mut c = Vec::new();
    rows(
        &mut c,
        &old.walkie_channels,
        &new.walkie_channels,
        |w| w.channel.to_string(),
        |w| format!("Channel {}", w.channel),
        |w| vec![("", w.name.clone())],
    );
    out.extend(non_empty("Walkie channels", c));

    let mut c = Vec::new();
    rows(
        &mut c,
        &old.safety_notes,
        &new.safety_notes,
        |s| s.clone(),
        |_| "Safety note".to_owned(),
        |s| vec![("", s.clone())],
    );
    out.extend(non_empty("Safety notes", c));

    out
}

/// Longest summary [`summary`] writes, in characters.
const SUMMARY_MAX: usize = 600;

/// A summary of changes for the revision, one sentence a section: up to three changes by
/// name ("Times: General crew call: 07:00 → 06:30."), more as counts ("Crew calls: 4
/// changed, 1 added."). Empty when nothing changed.
pub fn summary(diff: &[SectionDiff]) -> String {
    let mut parts = Vec::new();
    for s in diff {
        let text = if s.changes.len() <= 3 {
            s.changes
                .iter()
                .map(Change::short)
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            let count = |f: fn(&Change) -> bool| s.changes.iter().filter(|c| f(c)).count();
            let counts = [
                (count(|c| matches!(c, Change::Changed { .. })), "changed"),
                (count(|c| matches!(c, Change::Added { .. })), "added"),
                (count(|c| matches!(c, Change::Removed { .. })), "removed"),
            ];
            counts
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, w)| format!("{n} {w}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        parts.push(format!("{}: {text}.", s.section));
    }
    let all = parts.join(" ");
    if all.chars().count() > SUMMARY_MAX {
        let mut cut: String = all.chars().take(SUMMARY_MAX - 1).collect();
        cut.push('…');
        cut
    } else {
        all
    }
}

/// [`publish_sheet`], refused when `sheet` reads the same as the latest published revision
/// ([`diff`] is empty): a revision that changes nothing would still cost every member a
/// new colour, a new acknowledgement and a "what changed?" call. Resending the current
/// revision is distribution, not publishing. Roles: coordinator.
pub fn publish_changed(
    published: &mut Automerge,
    by: &Author,
    at_ms: i64,
    sheet: CallSheet,
    summary: &str,
) -> Result<Revision, DomainError> {
    match latest_revision(published) {
        Ok(latest) if diff(&latest.sheet, &sheet).is_empty() => {
            Err(DomainError::InvalidTransition {
                what: "call sheet",
                from: format!("unchanged since revision {}", latest.number),
                event: "publish".into(),
                hint: "change the sheet first; the crew already has this revision",
            })
        }
        _ => publish_sheet(published, by, at_ms, sheet, summary),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;
    use crate::model::callsheet::{
        init_published, CrewCall, DayNight, Hospital, IntExt, Scene, SheetLocation,
    };

    const T: i64 = 1_900_000_000_000;

    #[test]
    fn publishing_an_unchanged_sheet_is_refused() {
        let by = Author {
            member_id: "coord".into(),
            device_id: "d".into(),
            role: Role::Coordinator,
        };
        let mut doc = Automerge::new();
        init_published(&mut doc, &by, T, "2026-12-01").unwrap();
        let first = publish_changed(&mut doc, &by, T + 1, sheet(), "").unwrap();
        assert_eq!(first.number, 1);
        let e = publish_changed(&mut doc, &by, T + 2, sheet(), "again").unwrap_err();
        assert!(e.to_string().contains("unchanged since revision 1"), "{e}");
        let mut moved = sheet();
        moved.times.general_call = Some(390);
        let summary = summary(&diff(&sheet(), &moved));
        let second = publish_changed(&mut doc, &by, T + 3, moved, &summary).unwrap();
        assert_eq!(
            (second.number, second.summary.as_str()),
            (2, summary.as_str())
        );
    }

    fn sheet() -> CallSheet {
        let mut s = CallSheet::for_day("2026-12-01", "Night Shift");
        s.header.director = Some("Dana Director".into());
        s.times.general_call = Some(7 * 60);
        s.scenes.push(Scene {
            id: "s1".into(),
            number: "12".into(),
            set: "Loft".into(),
            description: "Kai finds the tape".into(),
            cast_numbers: vec!["1".into()],
            pages_eighths: 11,
            ..Default::default()
        });
        s.locations.push(SheetLocation {
            id: "l1".into(),
            name: "Harbor Warehouse".into(),
            address: "12 Dock St".into(),
            parking: Some("Lot B".into()),
            ..Default::default()
        });
        s.crew_calls.push(CrewCall {
            id: "c1".into(),
            department: "Camera".into(),
            position: Some("DP".into()),
            name: Some("Ana Lens".into()),
            member_id: None,
            call: CallSpec::Offset(-30),
        });
        s.crew_calls.push(CrewCall {
            id: "c2".into(),
            department: "Grip".into(),
            position: None,
            name: Some("Lu".into()),
            member_id: None,
            call: CallSpec::At(6 * 60 + 15),
        });
        s
    }

    fn lines(d: &[SectionDiff]) -> Vec<String> {
        d.iter()
            .flat_map(|s| {
                s.changes
                    .iter()
                    .map(move |c| format!("{}: {}", s.section, c.describe()))
            })
            .collect()
    }

    #[test]
    fn the_same_sheet_has_no_changes_whatever_its_row_ids() {
        let a = sheet();
        let mut b = a.clone();
        b.scenes[0].id = "another id".into();
        b.crew_calls[0].member_id = Some("m1".into());
        assert!(diff(&a, &b).is_empty());
        assert_eq!(summary(&diff(&a, &b)), "");
    }

    #[test]
    fn moving_general_call_lists_it_and_every_offset_call_it_moves() {
        let a = sheet();
        let mut b = a.clone();
        b.times.general_call = Some(6 * 60 + 30);
        let d = diff(&a, &b);
        assert_eq!(
            lines(&d),
            vec![
                "Times: General crew call: 07:00 → 06:30",
                "Crew calls: Camera DP Ana Lens: call 06:30 (-30) → 06:00 (-30)",
            ]
        );
        assert_eq!(
            summary(&d),
            "Times: General crew call: 07:00 → 06:30. Crew calls: Camera DP Ana Lens: call 06:30 (-30) → 06:00 (-30)."
        );
    }

    #[test]
    fn rows_are_added_removed_and_changed_cell_by_cell() {
        let a = sheet();
        let mut b = a.clone();
        b.scenes[0].description = "Kai finds the missing tape".into();
        b.scenes[0].pages_eighths = 16;
        b.scenes.push(Scene {
            id: "s2".into(),
            number: "14".into(),
            int_ext: IntExt::Ext,
            set: "Loading dock".into(),
            day_night: DayNight::Night,
            description: "Chase".into(),
            pages_eighths: 20,
            ..Default::default()
        });
        b.crew_calls.remove(1);
        b.locations[0].basecamp = Some("Pier 3".into());
        b.nearest_hospital = Some(Hospital {
            name: "St. Mary's".into(),
            address: "450 Stanyan St".into(),
            phone: "555-0199".into(),
        });
        b.header.director = None;
        let d = diff(&a, &b);
        assert_eq!(
            lines(&d),
            vec![
                "Header: Director removed (was: Dana Director)",
                "Locations: Harbor Warehouse: basecamp — → Pier 3",
                "Locations: Nearest hospital added: St. Mary's, 450 Stanyan St, 555-0199",
                "Scenes: Scene 12: description Kai finds the tape → Kai finds the missing tape; pages 1 3/8 → 2",
                "Scenes: Scene 14 added: EXT, set Loading dock, N, description Chase, pages 2 4/8",
                "Crew calls: Grip Lu removed (was: call 06:15)",
            ]
        );
        let s = summary(&d);
        assert!(s.starts_with("Header: Director removed. Locations: Harbor Warehouse: basecamp — → Pier 3; Nearest hospital added."), "{s}");
        assert!(
            s.contains("Scenes: Scene 12 changed (description, pages); Scene 14 added."),
            "{s}"
        );
    }

    #[test]
    fn many_changes_in_a_section_are_counted() {
        let a = sheet();
        let mut b = a.clone();
        b.safety_notes = (1..=5).map(|i| format!("note {i}")).collect();
        let d = diff(&a, &b);
        assert_eq!(summary(&d), "Safety notes: 5 added.");
    }
}
