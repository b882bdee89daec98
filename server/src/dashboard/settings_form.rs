//! The production settings form (key contacts, departments, walkie channels, the location
//! directory, the nearest hospital) to [`ProductionInfo`] and back. Like the call sheet
//! form: one row a line, cells separated by `|`, every error naming the section, the line
//! and the form field. Title, company, time zone and shoot days are kept as stored.

use setlink_core::model::callsheet::Hospital;
use setlink_core::model::production::{KeyContact, LocationEntry, ProductionInfo, WalkieChannel};

use super::forms::{cell, int, none_if_empty, reuse_id, rows, Fields};
use super::{DashError, DashResult};

/// The one-row-per-line text of each list, for the form.
pub struct SettingsText {
    pub key_contacts: String,
    pub departments: String,
    pub walkie_channels: String,
    pub locations: String,
}

pub fn settings_text(info: &ProductionInfo) -> SettingsText {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    SettingsText {
        key_contacts: info
            .key_contacts
            .iter()
            .map(|c| {
                format!(
                    "{} | {} | {} | {}",
                    c.name,
                    c.title,
                    o(&c.phone),
                    o(&c.email)
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        departments: info.departments.join("\n"),
        walkie_channels: info
            .walkie_channels
            .iter()
            .map(|w| format!("{} | {}", w.channel, w.name))
            .collect::<Vec<_>>()
            .join("\n"),
        locations: info
            .locations
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
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// Which form field a domain refusal of the settings (`ProductionInfo::validate`) is about.
pub const DOMAIN_FIELDS: &[(&str, &str)] = &[
    ("contact", "key_contacts"),
    ("departments", "departments"),
    ("department", "departments"),
    ("walkie", "walkie_channels"),
    ("location", "locations"),
    ("parking", "locations"),
    ("basecamp", "locations"),
    ("hospital", "hospital_name"),
];

/// The settings form over `old`: the lists and the hospital replaced by what was typed,
/// everything else kept; a location keeps its id while its name does.
pub fn settings(f: &Fields, old: &ProductionInfo) -> DashResult<ProductionInfo> {
    let text = |n: &str| -> DashResult<String> {
        f.opt(n)?;
        Ok(f.raw(n).unwrap_or_default().to_owned())
    };
    let mut info = old.clone();

    info.key_contacts.clear();
    for r in rows(&text("key_contacts")?, "Key contacts", "key_contacts", 2, 4) {
        let (_, c) = r?;
        info.key_contacts.push(KeyContact {
            name: cell(&c, 0).to_owned(),
            title: cell(&c, 1).to_owned(),
            phone: none_if_empty(cell(&c, 2)),
            email: none_if_empty(cell(&c, 3)),
        });
    }

    info.departments = text("departments")?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();

    info.walkie_channels.clear();
    for r in rows(
        &text("walkie_channels")?,
        "Walkie channels",
        "walkie_channels",
        2,
        2,
    ) {
        let (line, c) = r?;
        info.walkie_channels.push(WalkieChannel {
            channel: int(&format!("Walkie channels, line {line}"), cell(&c, 0), 1, 99)
                .map_err(|e| e.on("walkie_channels"))?,
            name: cell(&c, 1).to_owned(),
        });
    }

    info.locations.clear();
    for r in rows(&text("locations")?, "Locations", "locations", 2, 5) {
        let (_, c) = r?;
        let name = cell(&c, 0).to_owned();
        info.locations.push(LocationEntry {
            id: reuse_id(&old.locations, |o| o.name == name, |o| o.id.clone()),
            address: cell(&c, 1).to_owned(),
            parking: none_if_empty(cell(&c, 2)),
            basecamp: none_if_empty(cell(&c, 3)),
            notes: none_if_empty(cell(&c, 4)),
            name,
        });
    }

    let hospital = [
        f.opt("hospital_name")?,
        f.opt("hospital_address")?,
        f.opt("hospital_phone")?,
    ];
    info.nearest_hospital = match hospital {
        [None, None, None] => None,
        [Some(name), Some(address), Some(phone)] => Some(Hospital {
            name,
            address,
            phone,
        }),
        [name, address, _] => {
            let missing = if name.is_none() {
                "hospital_name"
            } else if address.is_none() {
                "hospital_address"
            } else {
                "hospital_phone"
            };
            return Err(DashError::bad_request(
                "Nearest hospital: give its name, address and phone (or leave all three empty); nothing was changed",
            )
            .on(missing));
        }
    };
    info.validate()
        .map_err(|e| super::forms::domain_refusal(e, DOMAIN_FIELDS))?;
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> ProductionInfo {
        ProductionInfo {
            title: "Night Shift".into(),
            company: "Owl".into(),
            timezone: "America/Los_Angeles".into(),
            shoot_days: vec!["2026-12-01".into()],
            locations: vec![LocationEntry {
                id: "loc-1".into(),
                name: "Harbor Warehouse".into(),
                address: "12 Dock St".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_settings_form_round_trips_through_its_text_and_keeps_the_rest() {
        let f = Fields::of(&[
            (
                "key_contacts",
                "Dana Director | Director | 555-0101 | \nAl First | 1st AD",
            ),
            ("departments", "Camera\n\nGrip\n"),
            ("walkie_channels", "1 | Production\n7 | Locations"),
            (
                "locations",
                "Harbor Warehouse | 12 Dock St | Lot C | Pier 4 | \nMill | 3 Mill Rd",
            ),
            ("hospital_name", "St. Mary's"),
            ("hospital_address", "450 Stanyan St"),
            ("hospital_phone", "555-0199"),
        ]);
        let info = settings(&f, &stored()).expect("parses");
        info.validate().expect("the domain accepts it");
        assert_eq!(info.title, "Night Shift");
        assert_eq!(info.shoot_days, stored().shoot_days);
        assert_eq!(info.departments, vec!["Camera", "Grip"]);
        assert_eq!(info.locations[0].id, "loc-1", "kept while the name is");
        assert_eq!(info.locations[0].basecamp.as_deref(), Some("Pier 4"));
        assert_eq!(info.locations[1].parking, None);
        assert_eq!(info.key_contacts[1].phone, None);
        assert_eq!(
            info.nearest_hospital.as_ref().map(|h| h.phone.as_str()),
            Some("555-0199")
        );
        let t = settings_text(&info);
        assert_eq!(t.walkie_channels, "1 | Production\n7 | Locations");
        let again = Fields::of(&[
            ("key_contacts", t.key_contacts.as_str()),
            ("departments", t.departments.as_str()),
            ("walkie_channels", t.walkie_channels.as_str()),
            ("locations", t.locations.as_str()),
            ("hospital_name", "St. Mary's"),
            ("hospital_address", "450 Stanyan St"),
            ("hospital_phone", "555-0199"),
        ]);
        assert_eq!(settings(&again, &info).expect("parses"), info);
    }

    #[test]
    fn bad_lines_name_the_section_the_line_and_the_field() {
        let cases = [
            (
                "walkie_channels",
                "1 | Production\nten | Camera",
                "Walkie channels, line 2",
            ),
            ("locations", "Only a name", "Locations, line 1"),
            ("key_contacts", "A | B | C | D | E", "Key contacts, line 1"),
        ];
        for (name, value, says) in cases {
            let e = settings(&Fields::of(&[(name, value)]), &stored()).unwrap_err();
            assert!(e.message.contains(says), "{name}: {}", e.message);
            assert_eq!(e.field.as_deref(), Some(name));
        }
        // Refused by the domain: the same channel twice.
        let e = settings(
            &Fields::of(&[("walkie_channels", "1 | Production\n1 | Camera")]),
            &stored(),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("walkie_channels"), "{}", e.message);
        let e = settings(
            &Fields::of(&[("hospital_name", "General"), ("hospital_phone", "555")]),
            &stored(),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("hospital_address"));
    }
}
