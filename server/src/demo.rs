//! `setlink serve --demo`: a demo production with a coordinator, office, PA and crew,
//! today's board with a few runs, and invite codes printed so anyone can connect.
//! Seeding is idempotent: a data dir that already holds the demo gets fresh codes only,
//! and so does each further relay started on a PostgreSQL database the first one seeded
//! (relays started at the same instant on an empty database may each seed one).
//! "Today" is whatever day the caller passes (`serve` passes its [`crate::today::Today`],
//! which `--today` pins); nothing here reads the wall clock to pick a day.

use std::fmt::Write;
use std::net::SocketAddr;
use std::time::Duration;

use automerge::Automerge;
use setlink_core::ids::new_record_id;
use setlink_core::model::background;
use setlink_core::model::callsheet::{self, CallSheet};
use setlink_core::model::run::{self, NewRun, RunKind, StopInput};
use setlink_core::model::{EventContext, Priority};
use setlink_core::{Author, DocKind, DocumentId, Role};

use crate::admin::{self, AdminError};
use crate::auth::now_ms;
use crate::http::Settings;
use crate::hub::Hub;
use crate::production_doc;
use crate::storage::{DocInfo, Member};

pub const DEMO_TITLE: &str = "Demo: Night Shift (setlink)";

#[derive(Clone, Debug)]
pub struct DemoInfo {
    pub production_id: String,
    pub production_doc: DocumentId,
    pub board_doc: Option<DocumentId>,
    pub call_sheet_draft: Option<DocumentId>,
    pub call_sheet_published: Option<DocumentId>,
    pub day: String,
    /// (role, member name, invite code)
    pub codes: Vec<(Role, String, String)>,
}

impl DemoInfo {
    pub fn describe(&self, addr: SocketAddr) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\nDemo production \"{DEMO_TITLE}\" ({})",
            self.production_id
        );
        let _ = writeln!(s, "  production doc: {}", self.production_doc.url());
        let _ = writeln!(s, "SETLINK_DEMO_DAY={}", self.day);
        if let Some(b) = self.board_doc {
            let _ = writeln!(s, "  board for {}: {}", self.day, b.url());
        }
        if let Some(b) = self.call_sheet_published {
            let _ = writeln!(s, "  published call sheet: {}", b.url());
        }
        let _ = writeln!(s, "  redeem a code:  curl -s -X POST http://{addr}/api/redeem -H 'content-type: application/json' \\");
        let _ = writeln!(s, "                    -d '{{\"code\":\"<CODE>\",\"name\":\"<your name>\",\"device_id\":\"<device>\"}}'");
        let _ = writeln!(s, "  then sync at:   ws://{addr}/sync?token=<token>");
        let _ = writeln!(s, "  dashboard:      http://{addr}/dashboard  (sign in with the coordinator or office code)");
        let _ = writeln!(s, "  invite codes (valid 30 days, reusable):");
        for (role, name, code) in &self.codes {
            let _ = writeln!(s, "    {:<12} {:<18} {code}", role.as_str(), name);
            let _ = writeln!(
                s,
                "SETLINK_DEMO_CODE_{}={code}",
                role.as_str().to_uppercase()
            );
        }
        s
    }
}

/// The demo production's time zone.
pub const DEMO_ZONE: &str = "America/Los_Angeles";

/// [`DEMO_ZONE`], for "today" there.
pub fn zone() -> crate::zone::Zone {
    crate::zone::Zone::named(DEMO_ZONE).unwrap_or_else(|_| crate::zone::Zone::utc())
}

fn demo_error(e: impl std::fmt::Display) -> AdminError {
    AdminError::Internal(e.to_string())
}

/// Seeds the demo production (once) with a board and call sheet for `today`
/// (`YYYY-MM-DD`), and makes fresh invite codes; on a data dir seeded earlier for another
/// day, `board_doc` and the call sheets are `None`.
pub async fn seed(hub: &Hub, settings: &Settings, today: &str) -> Result<DemoInfo, AdminError> {
    let storage = hub.storage().clone();
    let existing = storage
        .productions()
        .await?
        .into_iter()
        .find(|p| p.title == DEMO_TITLE);
    let (production, fresh) = match existing {
        Some(p) => (p, false),
        None => {
            let created = admin::create_production(
                storage.as_ref(),
                admin::ProductionDetails {
                    title: DEMO_TITLE,
                    company: Some("Setlink Pictures"),
                    timezone: Some(DEMO_ZONE),
                },
                "Casey Coordinator",
                settings,
            )
            .await?;
            let p = storage
                .production(created.production_id)
                .await?
                .ok_or_else(|| demo_error("demo production vanished"))?;
            (p, true)
        }
    };
    let members = storage.members(production.id.clone()).await?;
    let coordinator = members
        .iter()
        .find(|m| m.role == Role::Coordinator)
        .cloned()
        .ok_or_else(|| demo_error("demo production has no coordinator"))?;
    let day = today.to_owned();
    let mut board_doc = None;
    let mut call_sheet_draft = None;
    let mut call_sheet_published = None;
    let mut everyone = vec![coordinator.clone()];
    if fresh {
        for (role, name) in [
            (Role::Office, "Olive Office"),
            (Role::Pa, "Pat PA"),
            (Role::Crew, "Cam Crew"),
        ] {
            let m = Member {
                id: setlink_core::ids::new_record_id(),
                production_id: production.id.clone(),
                name: name.to_owned(),
                role,
                created_at_ms: now_ms(),
                revoked_at_ms: None,
            };
            storage.create_member(m.clone()).await?;
            let member_doc = DocumentId::random();
            let doc = production_doc::new_member_doc(&m, now_ms()).map_err(demo_error)?;
            hub.create_document(
                member_doc,
                DocInfo {
                    production_id: production.id.clone(),
                    kind: DocKind::Member {
                        member_id: m.id.clone(),
                    },
                },
                &doc,
            )
            .await
            .map_err(demo_error)?;
            let mm = m.clone();
            hub.change(production.production_doc, move |doc| {
                production_doc::add_member(doc, &mm, member_doc, now_ms())
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(demo_error)?;
            production_doc::create_timesheets(
                hub,
                &production.id,
                production.production_doc,
                &m,
                now_ms(),
            )
            .await
            .map_err(demo_error)?;
            everyone.push(m);
        }
        let pa = everyone
            .iter()
            .find(|m| m.role == Role::Pa)
            .cloned()
            .ok_or_else(|| demo_error("no PA"))?;
        let by = Author {
            member_id: coordinator.id.clone(),
            device_id: "setlink-demo".into(),
            role: Role::Coordinator,
        };
        let board = demo_board(&by, &pa.id).map_err(demo_error)?;
        let id = DocumentId::random();
        let kind = DocKind::Board { day: day.clone() };
        hub.create_document(
            id,
            DocInfo {
                production_id: production.id.clone(),
                kind: kind.clone(),
            },
            &board,
        )
        .await
        .map_err(demo_error)?;
        hub.change(production.production_doc, move |doc| {
            production_doc::index_document(doc, id, &kind, now_ms()).map_err(|e| e.to_string())
        })
        .await
        .map_err(demo_error)?;
        board_doc = Some(id);
        seed_gear(hub, production.production_doc, &by, &everyone, &day).await?;
        let (draft_id, published_id) =
            seed_call_sheet(hub, &production.id, production.production_doc, &by, &day).await?;
        call_sheet_draft = Some(draft_id);
        call_sheet_published = Some(published_id);
    } else {
        everyone = members;
        let index = hub
            .read(production.production_doc, production_doc::read_index)
            .await
            .map_err(demo_error)?
            .map_err(demo_error)?;
        for (id, k) in index {
            match k {
                DocKind::Board { day: d } if d == day => board_doc = Some(id),
                DocKind::CallSheetDraft { day: d } if d == day => call_sheet_draft = Some(id),
                DocKind::CallSheetPublished { day: d } if d == day => {
                    call_sheet_published = Some(id)
                }
                _ => {}
            }
        }
    }
    let mut codes = Vec::new();
    for role in Role::ALL {
        if let Some(m) = everyone
            .iter()
            .find(|m| m.role == role && m.revoked_at_ms.is_none())
        {
            let inv = admin::create_invite(
                storage.as_ref(),
                &production.id,
                role,
                Some(&m.id),
                Some(&coordinator.id),
                Duration::from_secs(30 * 24 * 3600),
                Some(1000),
            )
            .await?;
            codes.push((role, m.name.clone(), inv.code));
        }
    }
    Ok(DemoInfo {
        production_id: production.id,
        production_doc: production.production_doc,
        board_doc,
        call_sheet_draft,
        call_sheet_published,
        day,
        codes,
    })
}

/// Today's call sheet (a draft, and revision 1 (White) published from it) and the day's
/// background list for its background rows.
async fn seed_call_sheet(
    hub: &Hub,
    production_id: &str,
    production_doc: DocumentId,
    by: &Author,
    day: &str,
) -> Result<(DocumentId, DocumentId), AdminError> {
    let mut sheet = CallSheet::for_day(day, DEMO_TITLE);
    sheet.header.day_number = Some(1);
    sheet.header.total_days = Some(20);
    sheet.header.call_sheet_number = Some(1);
    sheet.header.director = Some("Dana Director".into());
    sheet.times.general_call = Some(7 * 60);
    sheet.times.shooting_call = Some(8 * 60);
    sheet.times.estimated_wrap = Some(19 * 60);
    sheet.safety_notes = vec!["Night exteriors: hi-vis on the street".into()];
    sheet.background = [(20, "Pedestrians"), (6, "Café patrons")]
        .into_iter()
        .map(|(count, description)| callsheet::Background {
            id: new_record_id(),
            count,
            description: description.into(),
            report_time: Some(6 * 60 + 30),
            report_place: Some("Holding: the church hall".into()),
            notes: None,
        })
        .collect();
    let mut draft = Automerge::new();
    callsheet::init_draft(&mut draft, by, now_ms(), day, sheet).map_err(demo_error)?;
    let mut published = Automerge::new();
    callsheet::init_published(&mut published, by, now_ms(), day).map_err(demo_error)?;
    callsheet::publish(&draft, &mut published, by, now_ms(), "").map_err(demo_error)?;
    let mut background = Automerge::new();
    background::init_background(&mut background, by, now_ms()).map_err(demo_error)?;
    let draft_id = DocumentId::random();
    let published_id = DocumentId::random();
    for (id, kind, doc) in [
        (
            DocumentId::random(),
            DocKind::Background {
                day: day.to_owned(),
            },
            &background,
        ),
        (
            draft_id,
            DocKind::CallSheetDraft {
                day: day.to_owned(),
            },
            &draft,
        ),
        (
            published_id,
            DocKind::CallSheetPublished {
                day: day.to_owned(),
            },
            &published,
        ),
    ] {
        hub.create_document(
            id,
            DocInfo {
                production_id: production_id.to_owned(),
                kind: kind.clone(),
            },
            doc,
        )
        .await
        .map_err(demo_error)?;
        hub.change(production_doc, move |doc| {
            production_doc::index_document(doc, id, &kind, now_ms()).map_err(|e| e.to_string())
        })
        .await
        .map_err(demo_error)?;
    }
    Ok((draft_id, published_id))
}

/// The gear list (made with the production): four walkies, two out with the PA and the
/// crew member, and a C-stand rented from Grip House that was due back the day before
/// `day`, so the wrap check, the overdue list and the return run have something to show.
async fn seed_gear(
    hub: &Hub,
    production_doc: DocumentId,
    by: &Author,
    everyone: &[Member],
    day: &str,
) -> Result<(), AdminError> {
    let index = hub
        .read(production_doc, production_doc::read_index)
        .await
        .map_err(demo_error)?
        .map_err(demo_error)?;
    let gear_doc = index
        .into_iter()
        .find(|(_, k)| *k == DocKind::Gear)
        .map(|(id, _)| id)
        .ok_or_else(|| demo_error("the demo production has no gear list"))?;
    let due = day
        .parse::<jiff::civil::Date>()
        .and_then(|d| d.yesterday())
        .map_err(demo_error)?
        .to_string();
    let holders: Vec<String> = [Role::Pa, Role::Crew]
        .into_iter()
        .filter_map(|r| everyone.iter().find(|m| m.role == r).map(|m| m.id.clone()))
        .collect();
    let by = by.clone();
    hub.change(gear_doc, move |doc| {
        demo_gear(doc, &by, &holders, &due).map_err(|e| e.to_string())
    })
    .await
    .map_err(demo_error)
}

fn demo_gear(
    doc: &mut Automerge,
    by: &Author,
    holders: &[String],
    due: &str,
) -> Result<(), setlink_core::DomainError> {
    use setlink_core::model::gear::{self, Battery, GearCategory, NewGearItem};
    let at = now_ms();
    for n in 1..=4 {
        let mut w = NewGearItem::new(format!("Walkie {n}"), GearCategory::Walkie);
        w.label = Some(format!("MOTO-{n:02}"));
        w.channel = Some(1);
        w.battery = Some(Battery::Full);
        let id = gear::add_item(doc, by, at, w)?;
        if let Some(h) = holders.get(n - 1) {
            gear::sign_out(doc, by, at, &id, h, None)?;
        }
    }
    let mut stand = NewGearItem::new("C-stand", GearCategory::Grip);
    stand.owner = Some("Grip House".into());
    stand.due_back = Some(due.to_owned());
    gear::add_item(doc, by, at, stand)?;
    Ok(())
}

/// Today's board: four runs, two of them already with the PA.
fn demo_board(by: &Author, pa: &str) -> Result<Automerge, setlink_core::DomainError> {
    let mut doc = Automerge::new();
    let mut at = now_ms();
    let mut tick = || {
        at += 1000;
        at
    };
    run::init_board(&mut doc, by, tick())?;
    let runs = [
        (
            RunKind::FoodOrder,
            "Coffee for camera dept",
            "Camera",
            "Blue Bottle, 5th & Main",
        ),
        (
            RunKind::Pickup,
            "Pick up walkie batteries",
            "Sound",
            "Gear rental, 12 Dock St",
        ),
        (RunKind::PaperworkDelivery, "Sides to set", "AD", "Stage 4"),
        (
            RunKind::SupplyPurchase,
            "Gaffer tape and sharpies",
            "Grip",
            "Hardware store, Elm Ave",
        ),
    ];
    for (i, (kind, title, dept, stop)) in runs.into_iter().enumerate() {
        let mut new = NewRun::new(kind, title, dept);
        new.department = Some(dept.to_owned());
        new.priority = if i == 2 {
            Priority::Urgent
        } else {
            Priority::Normal
        };
        new.stops = vec![StopInput {
            label: stop.to_owned(),
            ..StopInput::default()
        }];
        let id = run::create_run(&mut doc, by, tick(), new)?;
        if i < 2 {
            run::assign(&mut doc, by, tick(), &id, pa, EventContext::none())?;
        }
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::HubConfig;

    #[tokio::test]
    async fn the_demo_is_seeded_for_the_day_it_is_handed() {
        let dir = tempfile::tempdir().unwrap();
        let hub = crate::serve::open_hub(dir.path(), HubConfig::default())
            .await
            .unwrap();
        let settings = Settings::default();
        let info = seed(&hub, &settings, "2030-06-14").await.unwrap();
        assert_eq!(info.day, "2030-06-14");
        let index = hub
            .read(info.production_doc, production_doc::read_index)
            .await
            .unwrap()
            .unwrap();
        let day = |kind: &DocKind| match kind {
            DocKind::Board { day }
            | DocKind::CallSheetDraft { day }
            | DocKind::CallSheetPublished { day }
            | DocKind::Background { day } => Some(day.clone()),
            _ => None,
        };
        let days: Vec<_> = index.iter().filter_map(|(_, k)| day(k)).collect();
        assert_eq!(days.len(), 4, "{index:?}");
        assert!(days.iter().all(|d| d == "2030-06-14"), "{days:?}");
        let addr: SocketAddr = "127.0.0.1:7878".parse().unwrap();
        assert!(info
            .describe(addr)
            .contains("\nSETLINK_DEMO_DAY=2030-06-14\n"));

        // Seeding again finds that day's documents; another day has none (nothing is
        // re-seeded for it), and nobody reads the wall clock either way.
        let again = seed(&hub, &settings, "2030-06-14").await.unwrap();
        assert_eq!(again.board_doc, info.board_doc);
        assert_eq!(again.call_sheet_published, info.call_sheet_published);
        let later = seed(&hub, &settings, "2030-06-15").await.unwrap();
        assert_eq!(later.day, "2030-06-15");
        assert_eq!(later.board_doc, None);
        assert_eq!(later.call_sheet_published, None);
    }
}
