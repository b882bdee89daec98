//! A published production report as a PDF: US Letter, one page for an ordinary day (two
//! when the AD's account runs long), on the call sheet's layout (`super::Layout`: the same
//! fonts, subsets, wrapping and tables), every time in the production's zone.
//!
//! Like the call sheet, the output depends only on the revision: its dates are the
//! revision's publish time and its file identifier the revision's, so one revision always
//! renders to the same bytes.

use printpdf::{PdfDocument, PdfSaveOptions};
use setlink_core::model::callsheet_text::format_eighths;
use setlink_core::model::report::{ReportContent, ReportRevision};

use super::{clamp_lines, pdf_date, stable_file_id, wrap, Layout, MARGIN, PARA_PT, WIDTH};
use crate::zone::Zone;

/// Renders one published revision of the day's report; `published_by` is the publisher's
/// name. Total: any revision gives a valid PDF.
pub fn render(rev: &ReportRevision, published_by: &str, zone: &Zone) -> Vec<u8> {
    let r = &rev.report;
    let title = format!(
        "{} production report {} revision {}",
        r.production_title, r.day, rev.number
    );
    let mut doc = PdfDocument::new(&title);
    let published = pdf_date(rev.published_at);
    let info = &mut doc.metadata.info;
    info.creation_date = published;
    info.modification_date = published;
    info.metadata_date = published;
    info.author = published_by.to_owned();
    info.subject = format!(
        "Daily production report for {} ({})",
        r.day, r.production_title
    );
    info.creator = "setlink dashboard".to_owned();
    info.producer = format!("setlink {}", env!("CARGO_PKG_VERSION"));
    let id = format!("{}-{}", rev.id, rev.number);
    info.identifier = id.clone();
    let pages = layout(rev, published_by, zone).finish(&mut doc);
    let mut warnings = Vec::new();
    let mut bytes = doc
        .with_pages(pages)
        .save(&PdfSaveOptions::default(), &mut warnings);
    stable_file_id(&mut bytes, &id);
    bytes
}

/// An instant as the report prints it: the clock time when it falls on the shoot day,
/// else with its date (a wrap after midnight), blank when not recorded.
fn when(zone: &Zone, day: &str, ms: Option<i64>) -> String {
    match ms {
        Some(ms) if zone.day(ms) == day => zone.clock(ms),
        Some(ms) => zone.date_time(ms),
        None => "—".into(),
    }
}

fn pages(eighths: i64) -> String {
    format_eighths(eighths)
}

fn layout(rev: &ReportRevision, published_by: &str, zone: &Zone) -> Layout {
    let r: &ReportContent = &rev.report;
    let mut l = Layout::new(format!(
        "{} · production report {} · revision {}",
        r.production_title, r.day, rev.number
    ));
    for line in clamp_lines(wrap(&r.production_title, WIDTH, 14.0, true), 2) {
        let y = l.y;
        l.text_at(MARGIN, y, 14.0, true, &line);
        l.y += 6.0;
    }
    let mut sub = format!("DAILY PRODUCTION REPORT · {}", r.day);
    if let Some(d) = r.day_number {
        sub.push_str(&format!(" · Day {d}"));
        if let Some(t) = r.total_days {
            sub.push_str(&format!(" of {t}"));
        }
    }
    sub.push_str(&format!(" · Revision {}", rev.number));
    l.para(MARGIN, WIDTH, 9.0, false, &sub);
    let mut published = format!(
        "Published {} by {published_by}",
        zone.date_time(rev.published_at)
    );
    if !rev.summary.is_empty() {
        published.push_str(&format!(" · Changes: {}", rev.summary));
    }
    l.para(MARGIN, WIDTH, 7.0, false, &published);

    let t = &r.times;
    l.heading("Times");
    let meals: Vec<String> = t
        .meals
        .iter()
        .map(|m| format!("{} {}", m.label, when(zone, &r.day, Some(m.at))))
        .collect();
    l.table(
        &[
            ("Crew call", 1.0),
            ("First shot", 1.0),
            ("Meals", 2.0),
            ("Camera wrap", 1.0),
            ("Last person out", 1.0),
        ],
        &[vec![
            when(zone, &r.day, t.crew_call),
            when(zone, &r.day, t.first_shot),
            if meals.is_empty() {
                "—".into()
            } else {
                meals.join(", ")
            },
            when(zone, &r.day, t.camera_wrap),
            when(zone, &r.day, t.last_out),
        ]],
        1,
    );

    l.heading("Scenes");
    let scenes: Vec<Vec<String>> = r
        .scenes
        .iter()
        .map(|s| {
            vec![
                s.number.clone(),
                s.set.clone(),
                pages(s.pages_eighths),
                s.status.label().to_owned(),
                pages(s.pages_shot_eighths),
            ]
        })
        .collect();
    l.table(
        &[
            ("Scene", 0.7),
            ("Set", 3.0),
            ("Pages", 0.8),
            ("Status", 1.0),
            ("Pages shot", 0.9),
        ],
        &scenes,
        1,
    );
    l.para(
        MARGIN,
        WIDTH,
        PARA_PT,
        true,
        &format!(
            "Scheduled {} pages · shot {} pages · {} of {} scenes shot in full",
            pages(r.scheduled_eighths()),
            pages(r.shot_eighths()),
            r.scenes
                .iter()
                .filter(|s| s.status == setlink_core::model::report::Shot::Shot)
                .count(),
            r.scenes.len()
        ),
    );

    l.heading("Background");
    if r.background.is_empty() {
        l.para(MARGIN, WIDTH, PARA_PT, false, "No background.");
    }
    let bg: Vec<Vec<String>> = r
        .background
        .iter()
        .map(|b| {
            vec![
                b.description.clone(),
                b.expected.to_string(),
                b.used.to_string(),
            ]
        })
        .collect();
    l.table(&[("Group", 4.0), ("Expected", 1.0), ("Used", 1.0)], &bg, 1);

    l.heading("Runs and gear");
    l.para(
        MARGIN,
        WIDTH,
        PARA_PT,
        false,
        &format!(
            "Runs completed: {} · not completed: {}",
            r.runs_completed, r.runs_not_completed
        ),
    );
    if r.gear_out.is_empty() {
        l.para(MARGIN, WIDTH, PARA_PT, false, "Gear still out: none.");
    } else {
        l.para(MARGIN, WIDTH, PARA_PT, false, "Gear still out:");
        let gear: Vec<Vec<String>> = r
            .gear_out
            .iter()
            .map(|g| vec![g.what.clone(), g.count.to_string()])
            .collect();
        l.table(&[("Item", 5.0), ("Count", 1.0)], &gear, 1);
    }

    for (heading, text) in [("Incidents", &r.incidents), ("Notes", &r.notes)] {
        l.heading(heading);
        let text = if text.trim().is_empty() {
            "None."
        } else {
            text.as_str()
        };
        for paragraph in text.lines() {
            l.para(MARGIN, WIDTH, PARA_PT, false, paragraph);
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use setlink_core::model::report::{
        BackgroundLine, GearOutLine, ReportMeal, ReportScene, ReportTimes, Shot,
    };
    use std::process::Command;

    /// A fixed publish instant, not the wall clock; the day is derived from it.
    const PUBLISHED_AT: i64 = 1_795_000_000_123;

    fn revision() -> ReportRevision {
        let zone = Zone::named("America/Los_Angeles").expect("a zone");
        let day = zone.day(PUBLISHED_AT);
        let at = |m: i64| zone.at(&day, m);
        ReportRevision {
            id: "rev-1".into(),
            number: 2,
            published_at: PUBLISHED_AT,
            published_by: "coord".into(),
            summary: "Wrap time corrected".into(),
            report: ReportContent {
                day: day.clone(),
                production_title: "Night Shift".into(),
                day_number: Some(3),
                total_days: Some(30),
                times: ReportTimes {
                    crew_call: at(420),
                    first_shot: at(482),
                    meals: vec![ReportMeal {
                        label: "Lunch".into(),
                        at: at(780).unwrap_or_default(),
                    }],
                    camera_wrap: at(1180),
                    last_out: at(1470),
                },
                scenes: vec![
                    ReportScene {
                        id: "s1".into(),
                        number: "42A".into(),
                        set: "INT. DINER".into(),
                        pages_eighths: 12,
                        status: Shot::Shot,
                        pages_shot_eighths: 12,
                    },
                    ReportScene {
                        id: "s2".into(),
                        number: "43".into(),
                        set: "EXT. PARKING LOT".into(),
                        pages_eighths: 5,
                        status: Shot::PartShot,
                        pages_shot_eighths: 3,
                    },
                ],
                background: vec![BackgroundLine {
                    description: "Diner patrons".into(),
                    expected: 20,
                    used: 18,
                }],
                runs_completed: 7,
                runs_not_completed: 2,
                gear_out: vec![GearOutLine {
                    what: "Walkie".into(),
                    count: 2,
                }],
                incidents: "Grip twisted an ankle at 14:10; back at work.".into(),
                notes: "Lost 40 minutes to rain.".into(),
            },
        }
    }

    fn pdftotext(pdf: &[u8]) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("report.pdf");
        std::fs::write(&path, pdf).expect("write the PDF");
        let out = Command::new("pdftotext")
            .args(["-layout"])
            .arg(&path)
            .arg("-")
            .output()
            .unwrap_or_else(|e| panic!("pdftotext (poppler-utils) did not run: {e}"));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn the_report_pdf_says_what_happened() {
        let rev = revision();
        let zone = Zone::named("America/Los_Angeles").expect("a zone");
        let bytes = render(&rev, "Casey Coordinator", &zone);
        let text = pdftotext(&bytes);
        let abbr = zone.abbreviation(PUBLISHED_AT);
        for want in [
            "Night Shift",
            "Day 3 of 30",
            "Revision 2",
            "Casey Coordinator",
            "Wrap time corrected",
            "42A",
            "INT. DINER",
            "Part shot",
            "EXT. PARKING LOT",
            "Scheduled 2 1/8 pages",
            "shot 1 7/8 pages",
            "Diner patrons",
            "Runs completed: 7",
            "not completed: 2",
            "Walkie",
            "Grip twisted an ankle at 14:10; back at work.",
            "Lost 40 minutes to rain.",
            &format!("07:00 {abbr}"),
            &format!("08:02 {abbr}"),
            &format!("Lunch 13:00 {abbr}"),
            &format!("19:40 {abbr}"),
        ] {
            assert!(text.contains(want), "the PDF lacks `{want}`:\n{text}");
        }
        // Last person out, after midnight, prints with its date.
        let next = zone.day(rev.report.times.last_out.unwrap_or_default());
        assert_ne!(next, rev.report.day);
        assert!(text.contains(&format!("{next} 00:30")), "{text}");
        // Background counts sit on their group's line.
        let line = text
            .lines()
            .find(|l| l.contains("Diner patrons"))
            .unwrap_or_default();
        let counts: Vec<&str> = line.split_whitespace().skip(2).collect();
        assert_eq!(counts, ["20", "18"], "{line}");
        assert_eq!(layout(&rev, "Casey", &zone).pages.len(), 1);
        assert_eq!(
            bytes,
            render(&rev, "Casey Coordinator", &zone),
            "deterministic"
        );
    }

    #[test]
    fn any_report_prints_a_valid_pdf() {
        let mut rev = revision();
        let r = &mut rev.report;
        r.incidents = "A very long account. ".repeat(900);
        r.scenes = (0..300)
            .map(|i| ReportScene {
                id: format!("s{i}"),
                number: format!("{i}"),
                set: "\u{0}\u{7} Ünïcødé 李小龙 ".repeat(20),
                pages_eighths: i64::MAX,
                status: Shot::PartShot,
                pages_shot_eighths: i64::MIN,
            })
            .collect();
        r.times.crew_call = Some(i64::MIN);
        r.times.last_out = Some(i64::MAX);
        rev.published_at = i64::MAX;
        let bytes = render(&rev, "", &Zone::utc());
        assert!(bytes.starts_with(b"%PDF-"));
        assert!(pdftotext(&bytes).contains("A very long account."));
    }
}
