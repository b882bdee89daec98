//! The call sheet form to a [`CallSheet`] and back: header and times as fields, each list
//! section one row a line with cells separated by `|`. Every error names the section, the
//! line and the form field, so a refused form comes back with the message by its field.

use setlink_core::ids::new_record_id;
use setlink_core::model::callsheet::{
    AdvanceDay, Background, CallSheet, CastCall, CrewCall, DayNight, DepartmentNote, Hospital,
    IntExt, Meal, Scene, SheetLocation, TempUnit,
};
use setlink_core::model::callsheet_text::{day_night, int_ext};
use setlink_core::model::production::WalkieChannel;

use super::forms::{
    bad, call_spec, cell, clip, eighths, fmt_call_spec, fmt_eighths, fmt_minutes, int, list,
    minutes, none_if_empty, opt_int, opt_minutes, reuse_id, rows, Fields,
};
use super::{DashError, DashResult};

/// Which form field a domain refusal of the sheet (`CallSheet::validate`) is about.
pub const DOMAIN_FIELDS: &[(&str, &str)] = &[
    ("production title", "production_title"),
    ("day number", "day_number"),
    ("call sheet number", "call_sheet_number"),
    ("director", "director"),
    ("producer", "producers"),
    ("UPM", "upm"),
    ("AD", "ads"),
    ("production office phone", "production_office_phone"),
    ("general call", "general_call"),
    ("shooting call", "shooting_call"),
    ("estimated wrap", "estimated_wrap"),
    ("meal", "meals"),
    ("high temperature", "weather_high"),
    ("low temperature", "weather_low"),
    ("rain chance", "rain_chance"),
    ("sunrise", "sunrise"),
    ("sunset", "sunset"),
    ("weather conditions", "weather_conditions"),
    ("weather cover set", "weather_cover_set"),
    ("location", "locations"),
    ("parking", "locations"),
    ("basecamp", "locations"),
    ("hospital", "hospital_name"),
    ("cast numbers", "scenes"),
    ("scene", "scenes"),
    ("cast", "cast"),
    ("actor", "cast"),
    ("character", "cast"),
    ("hair/makeup call", "cast"),
    ("on set call", "cast"),
    ("background", "background"),
    ("crew call", "crew_calls"),
    ("department note", "department_notes"),
    ("department", "department_notes"),
    ("advance schedule", "advance_schedule"),
    ("walkie", "walkie_channels"),
    ("safety note", "safety_notes"),
];

/// The call sheet form to a sheet. `old` keeps row ids (and crew calls' member links)
/// stable, so an edit touches only the rows that changed.
pub fn call_sheet(f: &Fields, day: &str, old: &CallSheet) -> DashResult<CallSheet> {
    let g = |n: &str| f.opt(n);
    // Untrimmed, so the line numbers in errors match what the coordinator sees.
    let text = |n: &str| -> DashResult<String> {
        f.opt(n)?;
        Ok(f.raw(n).unwrap_or_default().to_owned())
    };
    let on = |field: &'static str| move |e: DashError| e.on(field);
    let mut s = CallSheet::default();
    let h = &mut s.header;
    h.production_title = f.required("production_title", "Production title")?;
    h.date = day.to_owned();
    h.day_number =
        opt_int("Day number", g("day_number")?.as_deref(), 1, 1000).map_err(on("day_number"))?;
    h.total_days =
        opt_int("Total days", g("total_days")?.as_deref(), 1, 1000).map_err(on("total_days"))?;
    h.call_sheet_number = opt_int(
        "Call sheet number",
        g("call_sheet_number")?.as_deref(),
        1,
        100_000,
    )
    .map_err(on("call_sheet_number"))?;
    h.director = g("director")?;
    h.producers = list(&text("producers")?);
    h.upm = g("upm")?;
    h.ads = list(&text("ads")?);
    h.production_office_phone = g("production_office_phone")?;

    let t = &mut s.times;
    t.general_call = opt_minutes("General crew call", g("general_call")?.as_deref())
        .map_err(on("general_call"))?;
    t.shooting_call = opt_minutes("Shooting call", g("shooting_call")?.as_deref())
        .map_err(on("shooting_call"))?;
    t.estimated_wrap = opt_minutes("Estimated wrap", g("estimated_wrap")?.as_deref())
        .map_err(on("estimated_wrap"))?;
    for r in rows(&text("meals")?, "Meals", "meals", 2, 2) {
        let (line, c) = r?;
        t.meals.push(Meal {
            label: cell(&c, 0).to_owned(),
            at: minutes(&format!("Meals, line {line}"), cell(&c, 1)).map_err(on("meals"))?,
        });
    }

    let w = &mut s.weather;
    w.high =
        opt_int("High", g("weather_high")?.as_deref(), -100, 200).map_err(on("weather_high"))?;
    w.low = opt_int("Low", g("weather_low")?.as_deref(), -100, 200).map_err(on("weather_low"))?;
    w.unit = match g("weather_unit")?.as_deref() {
        None | Some("F") => TempUnit::Fahrenheit,
        Some("C") => TempUnit::Celsius,
        Some(o) => {
            return Err(
                bad(format!("`{}` is not a temperature unit (F or C)", clip(o))).on("weather_unit"),
            )
        }
    };
    w.conditions = g("weather_conditions")?;
    w.rain_chance_percent = opt_int("Chance of rain", g("rain_chance")?.as_deref(), 0, 100)
        .map_err(on("rain_chance"))?;
    w.sunrise = opt_minutes("Sunrise", g("sunrise")?.as_deref()).map_err(on("sunrise"))?;
    w.sunset = opt_minutes("Sunset", g("sunset")?.as_deref()).map_err(on("sunset"))?;
    w.weather_cover_set = g("weather_cover_set")?;

    for r in rows(&text("locations")?, "Locations", "locations", 2, 5) {
        let (_, c) = r?;
        let name = cell(&c, 0).to_owned();
        s.locations.push(SheetLocation {
            id: reuse_id(&old.locations, |o| o.name == name, |o| o.id.clone()),
            address: cell(&c, 1).to_owned(),
            parking: none_if_empty(cell(&c, 2)),
            basecamp: none_if_empty(cell(&c, 3)),
            notes: none_if_empty(cell(&c, 4)),
            name,
        });
    }
    let hospital = [
        g("hospital_name")?,
        g("hospital_address")?,
        g("hospital_phone")?,
    ];
    s.nearest_hospital = match hospital {
        [None, None, None] => None,
        [Some(name), Some(address), Some(phone)] => Some(Hospital {
            name,
            address,
            phone,
        }),
        _ => {
            return Err(bad(
                "Nearest hospital: give its name, address and phone (or leave all three empty)"
                    .into(),
            )
            .on("hospital_name"))
        }
    };

    for r in rows(&text("scenes")?, "Scenes", "scenes", 7, 8) {
        let (line, c) = r?;
        let number = cell(&c, 0).to_owned();
        let int_ext = match cell(&c, 1).to_ascii_uppercase().as_str() {
            "INT" => IntExt::Int,
            "EXT" => IntExt::Ext,
            "INT/EXT" | "I/E" => IntExt::IntExt,
            o => {
                return Err(bad(format!(
                    "Scenes, line {line}: `{}` is not INT, EXT or INT/EXT",
                    clip(o)
                ))
                .on("scenes"))
            }
        };
        let day_night = match cell(&c, 3).to_ascii_uppercase().as_str() {
            "D" | "DAY" => DayNight::Day,
            "N" | "NIGHT" => DayNight::Night,
            "DAWN" => DayNight::Dawn,
            "DUSK" => DayNight::Dusk,
            o => {
                return Err(bad(format!(
                    "Scenes, line {line}: `{}` is not D, N, DAWN or DUSK",
                    clip(o)
                ))
                .on("scenes"))
            }
        };
        s.scenes.push(Scene {
            id: reuse_id(&old.scenes, |o| o.number == number, |o| o.id.clone()),
            int_ext,
            set: cell(&c, 2).to_owned(),
            day_night,
            description: cell(&c, 4).to_owned(),
            cast_numbers: list(cell(&c, 5)),
            pages_eighths: eighths(&format!("Scenes, line {line}"), cell(&c, 6))
                .map_err(on("scenes"))?,
            location: none_if_empty(cell(&c, 7)),
            number,
        });
    }

    for r in rows(&text("cast")?, "Cast", "cast", 3, 8) {
        let (line, c) = r?;
        let at = |i: usize, what: &str| {
            opt_minutes(&format!("Cast, line {line}, {what}"), Some(cell(&c, i)))
                .map_err(on("cast"))
        };
        let number = cell(&c, 0).to_owned();
        s.cast.push(CastCall {
            id: reuse_id(&old.cast, |o| o.number == number, |o| o.id.clone()),
            character: cell(&c, 1).to_owned(),
            actor: cell(&c, 2).to_owned(),
            status: none_if_empty(cell(&c, 3)),
            pickup: at(4, "pickup")?,
            hair_makeup: at(5, "hair/makeup")?,
            on_set: at(6, "on set")?,
            notes: none_if_empty(cell(&c, 7)),
            number,
        });
    }

    for r in rows(&text("background")?, "Background", "background", 2, 5) {
        let (line, c) = r?;
        let description = cell(&c, 1).to_owned();
        s.background.push(Background {
            id: reuse_id(
                &old.background,
                |o| o.description == description,
                |o| o.id.clone(),
            ),
            count: int(
                &format!("Background, line {line}, count"),
                cell(&c, 0),
                1,
                10_000,
            )
            .map_err(on("background"))?,
            report_time: opt_minutes(
                &format!("Background, line {line}, report time"),
                Some(cell(&c, 2)),
            )
            .map_err(on("background"))?,
            report_place: none_if_empty(cell(&c, 3)),
            notes: none_if_empty(cell(&c, 4)),
            description,
        });
    }

    for r in rows(&text("crew_calls")?, "Crew calls", "crew_calls", 4, 4) {
        let (line, c) = r?;
        let department = cell(&c, 0).to_owned();
        let position = none_if_empty(cell(&c, 1));
        let name = none_if_empty(cell(&c, 2));
        let prev = old
            .crew_calls
            .iter()
            .find(|o| o.department == department && o.position == position && o.name == name);
        s.crew_calls.push(CrewCall {
            id: prev.map(|p| p.id.clone()).unwrap_or_else(new_record_id),
            member_id: prev.and_then(|p| p.member_id.clone()),
            call: call_spec(&format!("Crew calls, line {line}"), cell(&c, 3))
                .map_err(on("crew_calls"))?,
            department,
            position,
            name,
        });
    }

    for r in rows(
        &text("department_notes")?,
        "Department notes",
        "department_notes",
        2,
        2,
    ) {
        let (_, c) = r?;
        s.department_notes.push(DepartmentNote {
            department: cell(&c, 0).to_owned(),
            note: cell(&c, 1).to_owned(),
        });
    }
    for r in rows(
        &text("advance_schedule")?,
        "Advance schedule",
        "advance_schedule",
        2,
        3,
    ) {
        let (line, c) = r?;
        let date = super::data::check_day(cell(&c, 0)).map_err(|e| {
            bad(format!("Advance schedule, line {line}: {}", e.message)).on("advance_schedule")
        })?;
        s.advance_schedule.push(AdvanceDay {
            date,
            summary: cell(&c, 1).to_owned(),
            scenes: list(cell(&c, 2)),
        });
    }
    for r in rows(
        &text("walkie_channels")?,
        "Walkie channels",
        "walkie_channels",
        2,
        2,
    ) {
        let (line, c) = r?;
        s.walkie_channels.push(WalkieChannel {
            channel: int(
                &format!("Walkie channels, line {line}"),
                cell(&c, 0),
                1,
                999,
            )
            .map_err(on("walkie_channels"))?,
            name: cell(&c, 1).to_owned(),
        });
    }
    s.safety_notes = text("safety_notes")?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(s)
}

/// Gives a crew call row whose name is an active member's (case and spacing aside) that
/// member's id, so their phone shows it as their own call; other rows lose a stale link.
pub fn link_members(sheet: &mut CallSheet, members: &[crate::storage::Member]) {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    for row in &mut sheet.crew_calls {
        let Some(name) = row.name.as_deref().map(norm) else {
            row.member_id = None;
            continue;
        };
        let mut matching = members
            .iter()
            .filter(|m| m.revoked_at_ms.is_none() && norm(&m.name) == name);
        row.member_id = match (matching.next(), matching.next()) {
            // Two members with one name: a name alone cannot say whose call it is.
            (Some(m), None) => Some(m.id.clone()),
            _ => None,
        };
    }
}

/// The one-row-per-line text of each list section, for the form.
pub struct SheetText {
    pub meals: String,
    pub locations: String,
    pub scenes: String,
    pub cast: String,
    pub background: String,
    pub crew_calls: String,
    pub department_notes: String,
    pub advance_schedule: String,
    pub walkie_channels: String,
    pub safety_notes: String,
}

pub fn sheet_text(s: &CallSheet) -> SheetText {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let join = |rows: Vec<String>| rows.join("\n");
    SheetText {
        meals: join(
            s.times
                .meals
                .iter()
                .map(|m| format!("{} | {}", m.label, fmt_minutes(Some(m.at))))
                .collect(),
        ),
        locations: join(
            s.locations
                .iter()
                .map(|l| {
                    format!(
                        "{} | {} | {} | {} | {}",
                        l.name,
                        l.address,
                        o(&l.parking),
                        o(&l.basecamp),
                        o(&l.notes)
                    )
                })
                .collect(),
        ),
        scenes: join(
            s.scenes
                .iter()
                .map(|x| {
                    format!(
                        "{} | {} | {} | {} | {} | {} | {} | {}",
                        x.number,
                        int_ext(x.int_ext),
                        x.set,
                        day_night(x.day_night),
                        x.description,
                        x.cast_numbers.join(", "),
                        fmt_eighths(x.pages_eighths),
                        o(&x.location)
                    )
                })
                .collect(),
        ),
        cast: join(
            s.cast
                .iter()
                .map(|c| {
                    format!(
                        "{} | {} | {} | {} | {} | {} | {} | {}",
                        c.number,
                        c.character,
                        c.actor,
                        o(&c.status),
                        fmt_minutes(c.pickup),
                        fmt_minutes(c.hair_makeup),
                        fmt_minutes(c.on_set),
                        o(&c.notes)
                    )
                })
                .collect(),
        ),
        background: join(
            s.background
                .iter()
                .map(|b| {
                    format!(
                        "{} | {} | {} | {} | {}",
                        b.count,
                        b.description,
                        fmt_minutes(b.report_time),
                        o(&b.report_place),
                        o(&b.notes)
                    )
                })
                .collect(),
        ),
        crew_calls: join(
            s.crew_calls
                .iter()
                .map(|c| {
                    format!(
                        "{} | {} | {} | {}",
                        c.department,
                        o(&c.position),
                        o(&c.name),
                        fmt_call_spec(&c.call)
                    )
                })
                .collect(),
        ),
        department_notes: join(
            s.department_notes
                .iter()
                .map(|d| format!("{} | {}", d.department, d.note))
                .collect(),
        ),
        advance_schedule: join(
            s.advance_schedule
                .iter()
                .map(|a| format!("{} | {} | {}", a.date, a.summary, a.scenes.join(", ")))
                .collect(),
        ),
        walkie_channels: join(
            s.walkie_channels
                .iter()
                .map(|w| format!("{} | {}", w.channel, w.name))
                .collect(),
        ),
        safety_notes: s.safety_notes.join("\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use setlink_core::model::callsheet::CallSpec;

    #[test]
    fn a_call_sheet_form_round_trips_through_its_text() {
        let f = Fields::of(&[
            ("production_title", "Night Shift"),
            ("day_number", "3"),
            ("total_days", "20"),
            ("producers", "Ann, Bo"),
            ("general_call", "07:00"),
            ("estimated_wrap", "19:00"),
            ("meals", "Lunch | 13:00"),
            ("weather_high", "71"),
            ("weather_unit", "F"),
            (
                "locations",
                "Warehouse | 1 Dock St | Lot B | Basecamp A | Gate code 1234",
            ),
            ("hospital_name", "General"),
            ("hospital_address", "2 Main St"),
            ("hospital_phone", "555-0100"),
            (
                "scenes",
                "12 | INT | Loft | N | Kai finds the tape | 1, 2 | 1 3/8 | Warehouse",
            ),
            ("cast", "1 | Kai | Sam Lee | SW | 05:30 | 06:00 | 07:00 | "),
            ("background", "12 | Party guests | 08:00 | Holding | "),
            (
                "crew_calls",
                "Camera | DP | Ana | -30\nGrip | Key grip | Lu | 06:15",
            ),
            ("department_notes", "Props | Tape recorder, working"),
            ("advance_schedule", "2026-11-25 | Day 4: exteriors | 14, 15"),
            ("walkie_channels", "1 | Production"),
            ("safety_notes", "Haze on set\nLow light stairs"),
        ]);
        let sheet = call_sheet(&f, "2026-11-24", &CallSheet::default()).expect("parses");
        assert_eq!(sheet.header.producers, vec!["Ann", "Bo"]);
        assert_eq!(sheet.crew_calls[0].call, CallSpec::Offset(-30));
        assert_eq!(sheet.resolve(&sheet.crew_calls[0].call), Some(390));
        assert_eq!(sheet.scenes[0].pages_eighths, 11);
        sheet.validate().expect("the domain accepts it");
        let t = sheet_text(&sheet);
        assert_eq!(
            t.crew_calls,
            "Camera | DP | Ana | -30\nGrip | Key grip | Lu | 06:15"
        );
        // Re-parsing with the old sheet keeps row ids stable.
        let again = call_sheet(&f, "2026-11-24", &sheet).expect("parses");
        assert_eq!(again.scenes[0].id, sheet.scenes[0].id);
        assert_eq!(again.crew_calls[1].id, sheet.crew_calls[1].id);
    }

    #[test]
    fn a_sheet_the_domain_refuses_names_the_field() {
        let f = Fields::of(&[
            ("production_title", "X"),
            ("general_call", "07:00"),
            ("estimated_wrap", "06:00"),
        ]);
        let sheet = call_sheet(&f, "2026-11-24", &CallSheet::default()).expect("parses");
        let e = super::super::forms::domain_refusal(sheet.validate().unwrap_err(), DOMAIN_FIELDS);
        assert_eq!(e.field.as_deref(), Some("estimated_wrap"), "{}", e.message);
        let f = Fields::of(&[
            ("production_title", "X"),
            ("day_number", "5"),
            ("total_days", "3"),
        ]);
        let sheet = call_sheet(&f, "2026-11-24", &CallSheet::default()).expect("parses");
        let e = super::super::forms::domain_refusal(sheet.validate().unwrap_err(), DOMAIN_FIELDS);
        assert_eq!(e.field.as_deref(), Some("day_number"), "{}", e.message);
    }

    #[test]
    fn crew_call_names_link_to_members() {
        let member = |id: &str, name: &str, revoked: bool| crate::storage::Member {
            id: id.into(),
            production_id: "p".into(),
            name: name.into(),
            role: setlink_core::Role::Crew,
            created_at_ms: 0,
            revoked_at_ms: revoked.then_some(1),
        };
        let f = Fields::of(&[
            ("production_title", "X"),
            ("crew_calls", "Camera | 2nd AC | cam  CREW | -15\nGrip | Key | Lu | 06:00\nArt | PA | Old Timer | 06:00\nSound | Boom | Sam Twin | 06:00"),
        ]);
        let mut sheet = call_sheet(&f, "2026-11-24", &CallSheet::default()).expect("parses");
        let members = [
            member("m1", "Cam Crew", false),
            member("m2", "Old Timer", true),
            member("m3", "Sam Twin", false),
            member("m4", "Sam Twin", false),
        ];
        link_members(&mut sheet, &members);
        let ids: Vec<Option<&str>> = sheet
            .crew_calls
            .iter()
            .map(|c| c.member_id.as_deref())
            .collect();
        assert_eq!(ids, vec![Some("m1"), None, None, None]);
    }

    #[test]
    fn bad_rows_name_the_section_and_line() {
        let f = Fields::of(&[
            ("production_title", "X"),
            ("scenes", "\n12 | SPACE | Loft | N | x | 1 | 1 | "),
        ]);
        let e = call_sheet(&f, "2026-11-24", &CallSheet::default()).unwrap_err();
        assert!(e.message.contains("Scenes, line 2"), "{}", e.message);
        assert_eq!(e.field.as_deref(), Some("scenes"));
        let f = Fields::of(&[("production_title", "X"), ("hospital_name", "Only a name")]);
        let e = call_sheet(&f, "2026-11-24", &CallSheet::default()).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("hospital_name"));
        for (name, value) in [
            ("general_call", "7am"),
            ("meals", "Lunch"),
            ("cast", "1 | Kai | Sam | SW | 5:3"),
            ("background", "many | Guests"),
            ("walkie_channels", "one | Production"),
            ("advance_schedule", "tomorrow | pier"),
        ] {
            let f = Fields::of(&[("production_title", "X"), (name, value)]);
            let e = call_sheet(&f, "2026-11-24", &CallSheet::default()).unwrap_err();
            assert_eq!(e.field.as_deref(), Some(name), "{name}: {}", e.message);
        }
        let f = Fields::of(&[
            ("production_title", "X"),
            ("crew_calls", "Camera | DP | Ana"),
        ]);
        let e = call_sheet(&f, "2026-11-24", &CallSheet::default()).unwrap_err();
        assert!(e.message.contains("Crew calls, line 1"), "{}", e.message);
        assert_eq!(e.field.as_deref(), Some("crew_calls"));
    }
}
