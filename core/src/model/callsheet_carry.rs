//! A new day's call sheet draft: what it starts with before a coordinator types anything.
//! Pure: no IO, no clock (only fresh row ids).
//!
//! A new draft is fed by two sources: the **production settings** (the production
//! document's [`ProductionInfo`]: title, shoot days, key contacts, departments, walkie
//! channels, location directory, nearest hospital) and a **previous sheet** (by default the
//! latest published revision of the latest day before this one that has one; a coordinator
//! may choose another day).
//!
//! What carries from the previous sheet, and what does not:
//!
//! | section | new draft |
//! | --- | --- |
//! | production title, date | from the settings; the new day |
//! | day number | the day's place in the shoot days; else the previous day's + 1 |
//! | total days | the number of shoot days when the day is one; else the previous sheet's (dropped if the new day number passes it) |
//! | call sheet number | the previous one + 1 |
//! | director, producers, UPM, ADs, office phone | carried; where the previous sheet has none, from the key contacts whose title says so (Director, Producer…, UPM / Unit production manager, …AD / Assistant director, Production office) |
//! | general call, shooting call, meals, wrap | carried (offset crew calls need a general call; a coordinator moves it) |
//! | weather | not carried: it is one day's forecast |
//! | locations | the previous sheet's, each refreshed (address, parking, basecamp, notes) from the directory entry of the same name; with no previous sheet, the whole directory |
//! | nearest hospital | the settings' when set, else carried |
//! | scenes, cast, background | not carried: they are what this day shoots |
//! | crew calls | carried (calls and offsets); with no previous sheet, one row per department at general call (+0) |
//! | department notes | not carried: they are about one day's work |
//! | advance schedule | only the days still ahead of the new day |
//! | walkie channels | the settings' when there are any, else carried |
//! | safety notes | carried |
//!
//! Revision history and acknowledgements belong to the published document and the
//! members' documents, never to a draft, so nothing of them carries.

use super::callsheet::{CallSheet, CallSpec, CrewCall, SheetLocation};
use super::production::{KeyContact, ProductionInfo};
use crate::ids::new_record_id;

fn title_is(c: &KeyContact, f: impl Fn(&str) -> bool) -> bool {
    f(&c.title.trim().to_lowercase())
}

fn is_ad(t: &str) -> bool {
    t == "ad" || t.ends_with(" ad") || t.contains("assistant director")
}

/// The header people the key contacts name, where `sheet` has none.
fn header_from_contacts(sheet: &mut CallSheet, contacts: &[KeyContact]) {
    let h = &mut sheet.header;
    let names = |f: &dyn Fn(&str) -> bool| -> Vec<String> {
        contacts
            .iter()
            .filter(|c| title_is(c, f))
            .map(|c| c.name.clone())
            .collect()
    };
    if h.director.is_none() {
        h.director = names(&|t| t == "director").into_iter().next();
    }
    if h.producers.is_empty() {
        h.producers = names(&|t| t.contains("producer"));
    }
    if h.upm.is_none() {
        h.upm = names(&|t| t == "upm" || t == "unit production manager")
            .into_iter()
            .next();
    }
    if h.ads.is_empty() {
        h.ads = names(&is_ad);
    }
    if h.production_office_phone.is_none() {
        h.production_office_phone = contacts
            .iter()
            .find(|c| title_is(c, |t| t == "production office"))
            .and_then(|c| c.phone.clone());
    }
}

/// A location of the directory as a sheet row.
fn sheet_location(l: &super::production::LocationEntry) -> SheetLocation {
    SheetLocation {
        id: new_record_id(),
        name: l.name.clone(),
        address: l.address.clone(),
        parking: l.parking.clone(),
        basecamp: l.basecamp.clone(),
        notes: l.notes.clone(),
    }
}

/// The draft a new `day` starts with: the production settings, and what carries from
/// `previous` (see the module's table). `previous` is any sheet, usually the latest
/// published revision of an earlier day.
pub fn new_draft(day: &str, info: &ProductionInfo, previous: Option<&CallSheet>) -> CallSheet {
    let mut s = CallSheet::for_day(day, &info.title);
    if let Some(p) = previous {
        let h = &mut s.header;
        h.director = p.header.director.clone();
        h.producers = p.header.producers.clone();
        h.upm = p.header.upm.clone();
        h.ads = p.header.ads.clone();
        h.production_office_phone = p.header.production_office_phone.clone();
        h.call_sheet_number = p.header.call_sheet_number.and_then(|n| n.checked_add(1));
        h.total_days = p.header.total_days;
        if p.header.date.as_str() < day {
            h.day_number = p.header.day_number.and_then(|n| n.checked_add(1));
        }
        s.times = p.times.clone();
        s.locations = p
            .locations
            .iter()
            .map(|l| {
                let mut row = l.clone();
                let entry = info
                    .locations
                    .iter()
                    .find(|e| e.name.trim().eq_ignore_ascii_case(l.name.trim()));
                if let Some(e) = entry {
                    row.address = e.address.clone();
                    row.parking = e.parking.clone().or(row.parking);
                    row.basecamp = e.basecamp.clone().or(row.basecamp);
                    row.notes = e.notes.clone().or(row.notes);
                }
                row
            })
            .collect();
        s.nearest_hospital = p.nearest_hospital.clone();
        s.crew_calls = p.crew_calls.clone();
        s.advance_schedule = p
            .advance_schedule
            .iter()
            .filter(|a| a.date.as_str() > day)
            .cloned()
            .collect();
        s.walkie_channels = p.walkie_channels.clone();
        s.safety_notes = p.safety_notes.clone();
    } else {
        s.locations = info.locations.iter().map(sheet_location).collect();
        s.crew_calls = info
            .departments
            .iter()
            .map(|d| CrewCall {
                id: new_record_id(),
                department: d.clone(),
                position: None,
                name: None,
                member_id: None,
                call: CallSpec::Offset(0),
            })
            .collect();
    }
    header_from_contacts(&mut s, &info.key_contacts);
    if let Some((x, y)) = info.day_of(day) {
        s.header.day_number = i64::try_from(x).ok();
        s.header.total_days = i64::try_from(y).ok();
    }
    if let (Some(x), Some(y)) = (s.header.day_number, s.header.total_days) {
        if x > y {
            s.header.total_days = None;
        }
    }
    if info.nearest_hospital.is_some() {
        s.nearest_hospital = info.nearest_hospital.clone();
    }
    if !info.walkie_channels.is_empty() {
        s.walkie_channels = info.walkie_channels.clone();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::callsheet::{AdvanceDay, CastCall, Hospital, Scene, Weather};
    use crate::model::production::{LocationEntry, WalkieChannel};

    fn info() -> ProductionInfo {
        ProductionInfo {
            title: "Night Shift".into(),
            company: "Co".into(),
            timezone: "UTC".into(),
            shoot_days: vec![
                "2026-12-01".into(),
                "2026-12-02".into(),
                "2026-12-04".into(),
            ],
            departments: vec!["Camera".into(), "Grip".into()],
            key_contacts: vec![
                KeyContact {
                    name: "Dee Rector".into(),
                    title: "Director".into(),
                    ..Default::default()
                },
                KeyContact {
                    name: "Al First".into(),
                    title: "1st AD".into(),
                    ..Default::default()
                },
                KeyContact {
                    name: "Office".into(),
                    title: "Production office".into(),
                    phone: Some("555-0100".into()),
                    ..Default::default()
                },
            ],
            walkie_channels: vec![WalkieChannel {
                channel: 7,
                name: "Locations".into(),
            }],
            locations: vec![LocationEntry {
                id: "d1".into(),
                name: "Harbor Warehouse".into(),
                address: "12 Dock St".into(),
                parking: Some("Lot C".into()),
                notes: None,
                basecamp: Some("Pier 4".into()),
            }],
            nearest_hospital: None,
        }
    }

    fn published() -> CallSheet {
        let mut s = CallSheet::for_day("2026-12-01", "Night Shift");
        s.header.day_number = Some(1);
        s.header.total_days = Some(3);
        s.header.call_sheet_number = Some(1);
        s.header.director = Some("Dana Director".into());
        s.times.general_call = Some(420);
        s.weather = Weather {
            high: Some(60),
            ..Default::default()
        };
        s.locations.push(SheetLocation {
            id: "l1".into(),
            name: "harbor warehouse".into(),
            address: "old address".into(),
            parking: Some("Lot B".into()),
            basecamp: None,
            notes: Some("Gate 4411".into()),
        });
        s.nearest_hospital = Some(Hospital {
            name: "St. Mary's".into(),
            address: "450 Stanyan St".into(),
            phone: "555-0199".into(),
        });
        s.scenes.push(Scene {
            id: "s".into(),
            number: "12".into(),
            pages_eighths: 8,
            ..Default::default()
        });
        s.cast.push(CastCall {
            id: "c".into(),
            number: "1".into(),
            ..Default::default()
        });
        s.crew_calls.push(CrewCall {
            id: "k".into(),
            department: "Camera".into(),
            position: Some("DP".into()),
            name: Some("Ana".into()),
            member_id: Some("m1".into()),
            call: CallSpec::Offset(-30),
        });
        s.advance_schedule = vec![
            AdvanceDay {
                date: "2026-12-02".into(),
                summary: "tomorrow".into(),
                scenes: vec![],
            },
            AdvanceDay {
                date: "2026-12-04".into(),
                summary: "later".into(),
                scenes: vec![],
            },
        ];
        s.safety_notes = vec!["Haze".into()];
        s
    }

    #[test]
    fn the_next_day_carries_people_calls_and_places_but_not_what_it_shoots() {
        let s = new_draft("2026-12-02", &info(), Some(&published()));
        assert_eq!(s.header.date, "2026-12-02");
        assert_eq!(s.header.day_number, Some(2));
        assert_eq!(s.header.total_days, Some(3));
        assert_eq!(s.header.call_sheet_number, Some(2));
        assert_eq!(s.header.director.as_deref(), Some("Dana Director"));
        assert_eq!(s.header.ads, vec!["Al First"], "filled from the contacts");
        assert_eq!(
            s.header.production_office_phone.as_deref(),
            Some("555-0100")
        );
        assert_eq!(s.times.general_call, Some(420));
        assert_eq!(s.weather, Weather::default());
        assert!(s.scenes.is_empty() && s.cast.is_empty() && s.background.is_empty());
        assert_eq!(s.crew_calls, published().crew_calls);
        assert_eq!(s.nearest_hospital, published().nearest_hospital);
        let l = &s.locations[0];
        assert_eq!(
            (
                l.address.as_str(),
                l.parking.as_deref(),
                l.basecamp.as_deref(),
                l.notes.as_deref()
            ),
            (
                "12 Dock St",
                Some("Lot C"),
                Some("Pier 4"),
                Some("Gate 4411")
            ),
            "refreshed from the directory"
        );
        let ahead: Vec<&str> = s.advance_schedule.iter().map(|a| a.date.as_str()).collect();
        assert_eq!(ahead, vec!["2026-12-04"]);
        assert_eq!(s.walkie_channels, info().walkie_channels);
        assert_eq!(s.safety_notes, vec!["Haze"]);
        s.validate().expect("a carried draft is a valid sheet");
    }

    #[test]
    fn the_settings_win_for_hospital_and_walkies_and_feed_a_first_sheet() {
        let mut i = info();
        i.nearest_hospital = Some(Hospital {
            name: "General".into(),
            address: "1 Main".into(),
            phone: "555-0111".into(),
        });
        let s = new_draft("2026-12-03", &i, Some(&published()));
        assert_eq!(s.nearest_hospital, i.nearest_hospital);
        assert_eq!(
            s.header.day_number,
            Some(2),
            "not a shoot day: the previous day number + 1"
        );

        let first = new_draft("2026-12-01", &i, None);
        assert_eq!(first.header.day_number, Some(1));
        assert_eq!(first.header.director.as_deref(), Some("Dee Rector"));
        assert_eq!(first.locations.len(), 1);
        assert_eq!(first.locations[0].basecamp.as_deref(), Some("Pier 4"));
        let depts: Vec<&str> = first
            .crew_calls
            .iter()
            .map(|c| c.department.as_str())
            .collect();
        assert_eq!(depts, vec!["Camera", "Grip"]);
        assert!(first
            .crew_calls
            .iter()
            .all(|c| c.call == CallSpec::Offset(0)));
        first.validate().expect("valid");
    }

    #[test]
    fn a_day_number_past_the_total_drops_the_total() {
        let mut p = published();
        p.header.day_number = Some(3);
        let s = new_draft("2026-12-09", &info(), Some(&p));
        assert_eq!((s.header.day_number, s.header.total_days), (Some(4), None));
        s.validate().expect("valid");
    }
}
