//! The text of a member's call-sheet email: no IO, one function per kind of email.

use std::fmt::Write;

use setlink_core::model::callsheet::{format_minutes, CallTime, Revision};
use setlink_core::model::{callsheet_diff, callsheet_text};

use crate::zone::Zone;

/// What one member's email says.
pub struct Personal<'a> {
    pub name: &'a str,
    pub day: &'a str,
    pub rev: &'a Revision,
    /// The revision before it, to say what changed.
    pub previous: Option<&'a Revision>,
    pub call: &'a CallTime,
    pub department: Option<&'a str>,
    /// Their personal link (`crew::link_url`).
    pub link: &'a str,
    pub zone: &'a Zone,
}

fn title(p: &Personal) -> String {
    let t = &p.rev.sheet.header.production_title;
    if t.is_empty() {
        "Call sheet".to_owned()
    } else {
        t.clone()
    }
}

/// The email sent when a revision is published: (subject, body).
pub fn published(p: &Personal) -> (String, String) {
    let subject = format!(
        "{} — call sheet {} (revision {}): your call {}",
        title(p),
        p.day,
        p.rev.number,
        format_minutes(p.call.minutes)
    );
    (subject, body(p, None))
}

/// The reminder to confirm: (subject, body).
pub fn reminder(p: &Personal) -> (String, String) {
    let subject = format!(
        "Please confirm your call — {} {}: {}",
        title(p),
        p.day,
        format_minutes(p.call.minutes)
    );
    let ask =
        "You have not confirmed this call sheet yet. Open your link and tap \"Confirm my call\".";
    (subject, body(p, Some(ask)))
}

fn body(p: &Personal, lead: Option<&str>) -> String {
    let s = &p.rev.sheet;
    let mut b = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(b, "Hi {},", p.name);
    let _ = writeln!(b);
    if let Some(lead) = lead {
        let _ = writeln!(b, "{lead}");
        let _ = writeln!(b);
    }
    let _ = writeln!(
        b,
        "{} — {}, revision {} (published {}).",
        title(p),
        p.day,
        p.rev.number,
        p.zone.clock(p.rev.published_at)
    );
    let whose = callsheet_text::call_source(p.call.source, p.department);
    let _ = writeln!(b, "Your call: {} ({whose})", format_minutes(p.call.minutes));
    for l in &s.locations {
        let _ = writeln!(b, "Location: {}, {}", l.name, l.address);
        if let Some(parking) = &l.parking {
            let _ = writeln!(b, "  Parking: {parking}");
        }
    }
    if let Some(h) = &s.nearest_hospital {
        let _ = writeln!(
            b,
            "Nearest hospital: {}, {}, {}",
            h.name, h.address, h.phone
        );
    }
    let _ = writeln!(b);
    match p.previous {
        Some(prev) => {
            let diff = callsheet_diff::diff(&prev.sheet, s);
            let _ = writeln!(b, "What changed since revision {}:", prev.number);
            if diff.is_empty() {
                let _ = writeln!(b, "- nothing on the sheet itself");
            }
            for section in &diff {
                for c in &section.changes {
                    let _ = writeln!(b, "- {}: {}", section.section, c.describe());
                }
            }
        }
        None => {
            let _ = writeln!(b, "This is the first call sheet for the day.");
        }
    }
    if !p.rev.summary.is_empty() {
        let _ = writeln!(b, "Notes from the office: {}", p.rev.summary);
    }
    let _ = writeln!(b);
    let _ = writeln!(
        b,
        "Your call sheet, and the button to confirm your call (it also opens without signal once you have opened it):"
    );
    let _ = writeln!(b, "{}", p.link);
    let _ = writeln!(b);
    let _ = writeln!(
        b,
        "This link is yours alone: it confirms as you. If it stops working, ask the production office."
    );
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use setlink_core::model::callsheet::{CallSheet, CallSource, Colour, Hospital, SheetLocation};

    fn rev(number: i64, general_call: i64, location: &str) -> Revision {
        let mut sheet = CallSheet::default();
        sheet.header.production_title = "Night Shift".into();
        sheet.times.general_call = Some(general_call);
        sheet.locations.push(SheetLocation {
            id: "l1".into(),
            name: location.into(),
            address: "1 Main St".into(),
            parking: None,
            basecamp: None,
            notes: None,
        });
        sheet.nearest_hospital = Some(Hospital {
            name: "St Mary".into(),
            address: "9 Hill Rd".into(),
            phone: "555-0100".into(),
        });
        Revision {
            id: format!("r{number}"),
            number,
            colour: Colour::for_revision(number),
            published_at: 0,
            published_by: "m1".into(),
            summary: "Moved to the diner".into(),
            sheet,
        }
    }

    #[test]
    fn the_email_says_the_call_the_place_what_changed_and_the_link() {
        let (old, new) = (rev(1, 420, "Warehouse"), rev(2, 450, "Diner"));
        let call = CallTime {
            minutes: 450,
            source: CallSource::General,
            revision: 2,
            colour: new.colour,
        };
        let zone = Zone::utc();
        let p = Personal {
            name: "Cam",
            day: "2030-06-14",
            rev: &new,
            previous: Some(&old),
            call: &call,
            department: None,
            link: "https://relay.example.com/crew/#k=abc",
            zone: &zone,
        };
        let (subject, body) = published(&p);
        assert_eq!(
            subject,
            "Night Shift — call sheet 2030-06-14 (revision 2): your call 07:30"
        );
        for want in [
            "Hi Cam,",
            "Your call: 07:30 (general crew call)",
            "Location: Diner, 1 Main St",
            "Nearest hospital: St Mary, 9 Hill Rd, 555-0100",
            "What changed since revision 1:",
            "Warehouse",
            "Notes from the office: Moved to the diner",
            "https://relay.example.com/crew/#k=abc",
        ] {
            assert!(body.contains(want), "{want:?} missing from:\n{body}");
        }
        let (subject, body) = reminder(&Personal {
            previous: None,
            ..p
        });
        assert!(subject.starts_with("Please confirm your call"), "{subject}");
        assert!(body.contains("You have not confirmed"), "{body}");
        assert!(body.contains("This is the first call sheet"), "{body}");
    }
}
