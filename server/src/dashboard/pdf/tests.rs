use super::*;
use setlink_core::model::callsheet::{
    AdvanceDay, Background, CallSheet, CastCall, CrewCall, DepartmentNote, Hospital, Scene,
    SheetLocation,
};
use setlink_core::model::production::WalkieChannel;
use std::process::Command;

/// The publish time the sheets below carry: a fixed instant, not the wall clock; every
/// expected date is derived from it.
const PUBLISHED_AT: i64 = 1_795_000_000_123;

fn day() -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(PUBLISHED_AT / 1000)
        .expect("a valid instant")
        .date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Names in Latin with diacritics, Latin Extended, Greek, Cyrillic and Chinese.
const NAMES: &[&str] = &[
    "Zoë Łukasiewicz",
    "Αλέξανδρος Παπαδόπουλος",
    "Анна Каренина",
    "李小龙",
    "Đặng Thị Ngọc Hân",
];

const DEPARTMENTS: &[&str] = &[
    "Production",
    "Camera",
    "Grip",
    "Electric",
    "Sound",
    "Art",
    "Set Dressing",
    "Props",
    "Wardrobe",
    "Hair",
    "Makeup",
    "Locations",
    "Transportation",
    "Craft Service",
    "Stunts",
    "Special Effects",
];

/// A full shoot day: `crew` crew calls over 16 departments, `scenes` scenes, twelve
/// cast, background, notes, advance schedule, walkies and safety notes.
fn full_day(crew: usize, scenes: usize) -> Revision {
    let mut sheet = CallSheet::for_day(&day(), "Night Shift");
    let h = &mut sheet.header;
    h.day_number = Some(12);
    h.total_days = Some(40);
    h.call_sheet_number = Some(12);
    h.director = Some("Zoë Łukasiewicz".into());
    h.producers = vec!["Анна Каренина".into(), "Sam Okafor".into()];
    h.upm = Some("Αλέξανδρος Παπαδόπουλος".into());
    h.ads = vec!["Rory Finch".into(), "李小龙".into()];
    h.production_office_phone = Some("+1 323 555 0100".into());
    sheet.times.general_call = Some(420);
    sheet.times.shooting_call = Some(480);
    sheet.times.estimated_wrap = Some(1140);
    sheet.weather.high = Some(71);
    sheet.weather.low = Some(55);
    sheet.weather.conditions = Some("Partly cloudy, light wind from the west".into());
    sheet.weather.rain_chance_percent = Some(10);
    sheet.weather.sunrise = Some(402);
    sheet.weather.sunset = Some(1012);
    for (i, name) in ["Stage 4", "Pier 39 warehouse"].iter().enumerate() {
        sheet.locations.push(SheetLocation {
            id: format!("l{i}"),
            name: (*name).into(),
            address: "4024 Radford Ave, Studio City, CA 91604".into(),
            parking: Some("Lot B off Colfax, shuttle every 10 minutes".into()),
            basecamp: Some("North lot".into()),
            notes: Some("Badge at the gate".into()),
        });
    }
    sheet.nearest_hospital = Some(Hospital {
        name: "St. Mary's Hospital".into(),
        address: "1050 Linden Ave, Long Beach".into(),
        phone: "+1 562 555 0199".into(),
    });
    for i in 0..scenes {
        sheet.scenes.push(Scene {
            id: format!("s{i}"),
            number: format!("{}{}", 10 + i, if i % 5 == 0 { "A" } else { "" }),
            set: "Warehouse office, back stairs".into(),
            description: "Kai finds the missing tape and runs for the pier before the \
                          tide turns"
                .into(),
            cast_numbers: vec!["1".into(), "2".into(), "7".into()],
            pages_eighths: 3 + (i as i64 % 9),
            location: Some("Stage 4".into()),
            ..Default::default()
        });
    }
    for i in 0..12 {
        sheet.cast.push(CastCall {
            id: format!("c{i}"),
            number: (i + 1).to_string(),
            character: format!("Character number {}", i + 1),
            actor: NAMES[i % NAMES.len()].into(),
            status: Some("W".into()),
            pickup: Some(360 + i as i64 * 5),
            hair_makeup: Some(390 + i as i64 * 5),
            on_set: Some(480),
            notes: Some("Fitting after lunch".into()),
        });
    }
    for i in 0..4 {
        sheet.background.push(Background {
            id: format!("b{i}"),
            count: 12,
            description: "Dock workers, night look".into(),
            report_time: Some(420),
            report_place: Some("Holding tent".into()),
            notes: Some("Bring own boots".into()),
        });
    }
    for i in 0..crew {
        let name = if i < NAMES.len() {
            NAMES[i].to_owned()
        } else {
            format!("Crew Member Number {i}")
        };
        sheet.crew_calls.push(CrewCall {
            id: format!("k{i}"),
            department: DEPARTMENTS[i * DEPARTMENTS.len() / crew.max(1)].into(),
            position: Some(["Key", "Best Boy", "2nd Assistant", "Operator"][i % 4].into()),
            name: Some(name),
            member_id: None,
            call: if i % 3 == 0 {
                CallSpec::At(390)
            } else {
                CallSpec::Offset(-30)
            },
        });
    }
    for d in ["Camera", "Art", "Transportation"] {
        sheet.department_notes.push(DepartmentNote {
            department: d.into(),
            note: "Extra hands from 14:00 for the pier move; confirm with the office".into(),
        });
    }
    for i in 0..3 {
        sheet.advance_schedule.push(AdvanceDay {
            date: format!("Day {}", 13 + i),
            summary: "Pier exteriors, night".into(),
            scenes: vec!["40".into(), "41".into()],
        });
    }
    for (i, n) in ["Production", "Camera", "Grip/Electric", "Locations"]
        .iter()
        .enumerate()
    {
        sheet.walkie_channels.push(WalkieChannel {
            channel: i as i64 + 1,
            name: (*n).into(),
        });
    }
    sheet.safety_notes = vec!["Haze in use on stage. Working near water after dark.".into()];
    Revision {
        id: "r".into(),
        number: 2,
        colour: Colour::Blue,
        published_at: PUBLISHED_AT,
        published_by: "m".into(),
        summary: "General call moved".into(),
        sheet,
    }
}

/// Runs a poppler tool (Debian's poppler-utils, from scripts/install-deps.sh) on `pdf`.
fn poppler(tool: &str, args: &[&str], pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sheet.pdf");
    std::fs::write(&path, pdf).expect("write the PDF");
    let out = Command::new(tool)
        .args(args)
        .arg(&path)
        .args(if tool == "pdftotext" {
            &["-"][..]
        } else {
            &[][..]
        })
        .output()
        .unwrap_or_else(|e| panic!("{tool} (poppler-utils) did not run: {e}"));
    assert!(
        out.status.success(),
        "{tool} refused the PDF: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn info_field(info: &str, field: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("pdfinfo has no {field}:\n{info}"))
}

/// Every piece of text ends inside the right margin (columns never overlap either:
/// each cell is wrapped to its column's width, checked by the wrapping test).
fn assert_within_margins(l: &Layout) {
    let f = fonts::fonts();
    for (p, page) in l.pages.iter().enumerate() {
        for item in page {
            if let Item::Text { x, size, runs, .. } = item {
                let w: f32 = runs
                    .iter()
                    .flat_map(|(face, text)| text.chars().map(move |c| (*face, c)))
                    .map(|(face, c)| f.face(face).advance_em(c) * size * PT_MM)
                    .sum();
                let text: String = runs.iter().map(|r| r.1.as_str()).collect();
                assert!(
                    x + w <= PAGE_W - MARGIN + 0.5,
                    "page {p}: `{}` ends at {} mm",
                    text.chars().take(60).collect::<String>(),
                    x + w
                );
            }
        }
    }
}

#[test]
fn names_in_every_script_come_back_out_of_the_pdf() {
    assert!(
        fonts::fonts().fallback.is_some(),
        "no CJK fallback font: install Debian's fonts-droid-fallback (scripts/install-deps.sh)"
    );
    let rev = full_day(20, 4);
    let bytes = render(&rev, "Зоя Publisher", &[], &Zone::utc());
    let text = poppler("pdftotext", &[], &bytes);
    for name in NAMES.iter().chain(&["Зоя Publisher"]) {
        assert!(text.contains(name), "the PDF lacks `{name}`:\n{text}");
    }
    assert!(!text.contains('\u{FFFD}'), "a replacement glyph:\n{text}");
    // Every font is embedded, and as a subset: the 4 MB CJK font adds a few KB.
    let fonts = poppler("pdffonts", &[], &bytes);
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert_eq!(rows.len(), 3, "regular, bold and CJK faces:\n{fonts}");
    for row in rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert!(
            cols.len() > 4 && cols[cols.len() - 5] == "yes",
            "not embedded: {row}"
        );
    }
    assert!(bytes.len() < 120_000, "{} bytes", bytes.len());
}

#[test]
fn a_94_crew_25_scene_day_prints_on_two_pages() {
    let rev = full_day(94, 25);
    let l = layout(&rev, "Casey", &[], &Zone::utc());
    assert!(l.pages.len() <= 2, "{} pages", l.pages.len());
    assert_within_margins(&l);
    let bytes = render(&rev, "Casey", &[], &Zone::utc());
    let pages: usize = info_field(&poppler("pdfinfo", &[], &bytes), "Pages")
        .parse()
        .expect("a page count");
    assert!((1..=2).contains(&pages), "{pages} pages");
    // Everything is there: the last crew call, the last scene, the last section.
    let text = poppler("pdftotext", &[], &bytes);
    for needle in [
        "Crew Member Number 93",
        &rev.sheet.scenes[24].number,
        "Working near water after dark",
        "CREW CALL 07:00",
        "06:30 (-30)",
    ] {
        assert!(text.contains(needle), "the PDF lacks `{needle}`");
    }
    // A short day stays on one page.
    assert_eq!(
        layout(&full_day(10, 8), "Casey", &[], &Zone::utc())
            .pages
            .len(),
        1
    );
}

#[test]
fn metadata_carries_the_revision_and_its_publish_time() {
    let rev = full_day(10, 3);
    let info = poppler(
        "pdfinfo",
        &["-isodates"],
        &render(&rev, "Casey", &[], &Zone::utc()),
    );
    let at = time::OffsetDateTime::from_unix_timestamp(PUBLISHED_AT / 1000).expect("instant");
    let expected = format!(
        "{}T{:02}:{:02}:{:02}",
        day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    for field in ["CreationDate", "ModDate"] {
        let v = info_field(&info, field);
        assert!(v.starts_with(&expected), "{field} {v}, expected {expected}");
    }
    let title = info_field(&info, "Title");
    assert!(
        title.contains("Night Shift") && title.contains(&day()) && title.contains("Revision 2"),
        "{title}"
    );
    assert_eq!(info_field(&info, "Author"), "Casey");
    assert!(info_field(&info, "Producer").starts_with("setlink "));
}

#[test]
fn the_same_revision_renders_the_same_bytes() {
    let rev = full_day(30, 8);
    assert!(render(&rev, "Casey", &[], &Zone::utc()) == render(&rev, "Casey", &[], &Zone::utc()));
}

#[test]
fn any_sheet_prints_a_valid_pdf() {
    let empty = Revision {
        sheet: CallSheet::for_day(&day(), ""),
        ..full_day(0, 0)
    };
    let mut hostile = full_day(3000, 400);
    let long = "W".repeat(20_000);
    hostile.sheet.header.production_title = long.clone();
    hostile.sheet.header.director = Some(format!("{long} {long}"));
    hostile.sheet.crew_calls[0].name = Some(long.clone());
    hostile.sheet.scenes[0].description = "word ".repeat(40_000);
    hostile.sheet.cast[0].actor = "tab\there\u{0}nul\u{1b}esc 🎬🎥 \u{10FFFF}".into();
    hostile.sheet.safety_notes = vec!["\n\n\n".into(), String::new()];
    for (rev, min_pages) in [(empty, 1), (hostile, 20)] {
        let mut l = layout(&rev, "", &[], &Zone::utc());
        l.missing += 1; // so the footer's note is laid out too
        l.add_footers();
        assert_within_margins(&l);
        let bytes = render(
            &rev,
            "",
            &["1 scene could not be read".into()],
            &Zone::utc(),
        );
        let info = poppler("pdfinfo", &[], &bytes);
        let pages: usize = info_field(&info, "Pages").parse().expect("pages");
        assert!(pages >= min_pages, "{pages} pages");
        poppler("pdftotext", &[], &bytes);
    }
}

#[test]
fn characters_no_font_has_are_counted_and_noted() {
    // Only Latin, Greek and the emoji: the count must not depend on a system font.
    let mut rev = full_day(2, 1);
    rev.sheet.header.ads.clear();
    rev.sheet.cast.truncate(1);
    rev.sheet.cast[0].actor = "🎬🎬".into();
    let l = layout(&rev, "Casey", &[], &Zone::utc());
    assert_eq!(l.missing, 2);
    let text = poppler("pdftotext", &[], &render(&rev, "Casey", &[], &Zone::utc()));
    assert!(
        text.contains("2 character(s) could not be printed"),
        "{text}"
    );
}

/// Figures for BENCHMARKS.md: `cargo test -p setlink-server --lib pdf_figures -- --nocapture`.
#[test]
fn pdf_figures() {
    let rev = full_day(94, 25);
    // The first render in a process loads the fonts (when this test runs alone).
    let t0 = std::time::Instant::now();
    let _ = render(&rev, "Casey", &[], &Zone::utc());
    let first = t0.elapsed();
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let t0 = std::time::Instant::now();
        size = render(&rev, "Casey", &[], &Zone::utc()).len();
        times.push(t0.elapsed());
    }
    times.sort();
    eprintln!(
        "call sheet PDF, 94 crew / 25 scenes, Latin+Greek+Cyrillic+CJK names: {size} bytes, \
         render median {:?} (min {:?}, max {:?}); first render {first:?}",
        times[2], times[0], times[4]
    );
    if let Some(out) = std::env::var_os("SETLINK_PDF_OUT") {
        std::fs::write(out, render(&rev, "Casey", &[], &Zone::utc())).expect("write the PDF");
    }
    assert!(size < 150_000, "{size} bytes");
}

#[test]
fn wrapping_respects_the_width() {
    let lines = wrap(
        "the quick brown fox jumps over the lazy dog",
        30.0,
        8.0,
        false,
    );
    assert!(lines.len() > 1);
    for l in &lines {
        assert!(width_mm(l, 8.0, false) <= 30.0, "{l}");
    }
    assert_eq!(
        lines.join(" "),
        "the quick brown fox jumps over the lazy dog"
    );
    let long = wrap("Supercalifragilisticexpialidocious", 10.0, 8.0, false);
    assert!(long.len() > 1 && long.concat() == "Supercalifragilisticexpialidocious");
    for l in &long {
        assert!(width_mm(l, 8.0, false) <= 10.0, "{l}");
    }
    let cjk = wrap("李小龙李小龙李小龙李小龙", 8.0, 8.0, false);
    assert!(cjk.len() > 1 && cjk.concat() == "李小龙李小龙李小龙李小龙");
}
