//! Background at holding against the real relay: the coordinator publishes a call sheet
//! with background rows (which creates the day's background document), a PA's phone (core's
//! `Device` on its SQLite store, syncing over a real WebSocket) checks people in, and the
//! dashboard's background page open in chromium (tests/browser/background.mjs) counts them
//! live; then raw clients that delete a check-in, forge who checked someone in, or write
//! the document as crew are refused and nothing of it is kept.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::Automerge;
use setlink_core::client::{ProductionScope, SyncClient};
use setlink_core::model::background::{self, BackgroundStatus, NewBackgroundPerson};
use setlink_core::model::callsheet;
use setlink_core::{DocKind, DocumentId, Role};
use setlink_server::today::next_day;
use setlink_tests::dashboard::{setup_browser, sign_in, Resp, Script, Session};
use setlink_tests::demo::{connected, indexed, synced};
use setlink_tests::http::redeem;
use setlink_tests::phone::{client_config, open_device};
use setlink_tests::refusals::{caught_up, deletion_answered_unavailable, event_log, refused};
use setlink_tests::{within, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

/// Publishes a first revision for `day` with two background rows, from the dashboard.
async fn publish_with_background(s: &Session, day: &str) {
    let r = s
        .post(
            &format!("/dashboard/callsheet/publish?day={day}"),
            &[
                ("production_title", "Night Shift"),
                (
                    "background",
                    "20 | Pedestrians | 07:00 | Holding | \n6 | Diners | 09:30 | Holding | ",
                ),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
}

/// Takes `person` one `action` along from the dashboard's background page.
async fn step(s: &Session, day: &str, person: &str, action: &str) -> Resp {
    s.post(
        "/dashboard/background/step",
        &[("day", day), ("person", person), ("action", action)],
    )
    .await
}

type Phone = Arc<Mutex<setlink_core::Device>>;

/// The phone's copy of the day's background document (initialised) and the background
/// rows of the day's latest published revision, once both have synced.
async fn on_phone(phone: &Phone, day: &str) -> (DocumentId, Vec<callsheet::Background>) {
    let bg_kind = DocKind::Background { day: day.into() };
    let sheet_kind = DocKind::CallSheetPublished { day: day.into() };
    within(
        20,
        "the background document and the sheet on the phone",
        async {
            loop {
                let found = {
                    let mut d = phone.lock().unwrap();
                    let ids = d.document_ids();
                    let of =
                        |kind: &DocKind| ids.iter().find(|id| d.kind_of(id) == Some(kind)).copied();
                    let (bg, sheet) = (of(&bg_kind), of(&sheet_kind));
                    let bg = bg.filter(|id| {
                        d.read(id, |doc| background::list_people(doc).is_ok())
                            .unwrap_or(false)
                    });
                    let rows = sheet.and_then(|id| {
                        d.read(&id, |doc| callsheet::latest_revision(doc).ok())
                            .ok()
                            .flatten()
                            .map(|r| r.sheet.background)
                    });
                    bg.zip(rows)
                };
                if let Some(found) = found {
                    break found;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        },
    )
    .await
}

fn person_id(doc: &Automerge, name: &str) -> String {
    background::list_people(doc)
        .unwrap()
        .items
        .into_iter()
        .find(|p| p.record.name == name)
        .unwrap_or_else(|| panic!("no {name} on the roster"))
        .record
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_checks_people_in_and_the_dashboard_counts_them_live() {
    setup_browser();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let day = next_day(&relay.day).expect("the day after the demo day");
    let s = sign_in(relay.addr, relay.code("coordinator"))
        .await
        .expect("sign in");
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "casey").await;

    // Before any sheet: the panel says there are no numbers, and creates nothing.
    let r = s
        .get(&format!("/dashboard/fragment/background?day={day}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("No call sheet has been published"),
        "{}",
        r.body
    );
    publish_with_background(&s, &day).await;

    // The PA's phone gets the day's background document and the sheet it counts against.
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "pat-phone").await;
    let prod: DocumentId = pa.production_doc_id.parse().unwrap();
    let pat = open_device(&dir.path().join("pat.db"), &pa, "pat-phone", Role::Pa);
    let scope = Arc::new(ProductionScope::new(prod, [day.clone()]));
    let client = SyncClient::start(pat.clone(), client_config(&relay, &pa), scope).unwrap();
    let (bg, rows) = on_phone(&pat, &day).await;
    let peds = rows
        .iter()
        .find(|r| r.description == "Pedestrians")
        .expect("the pedestrians' row")
        .clone();
    assert_eq!(peds.count, 20);

    let base = format!("http://{}", relay.addr);
    let env = [
        ("DASH_BASE", base.as_ref()),
        ("DASH_CODE", relay.code("coordinator").as_ref()),
        ("DASH_DAY", day.as_ref()),
        ("DASH_GROUP", peds.id.as_ref()),
    ];
    let mut script = Script::start("background.mjs", &env);
    let opened = script.step("opened").await;
    assert_eq!(opened["in"], 0, "{opened}");
    assert_eq!(opened["text"], "Pedestrians 0 of 20 in, 0 released");
    let added = script.step("added").await;
    assert_eq!(added["rows"], 1, "{added}");

    // At holding: two people arrive and the PA checks them in on the phone.
    {
        let mut d = pat.lock().unwrap();
        for name in ["Bo Chen", "Cy Diaz"] {
            let new = NewBackgroundPerson::for_row(name, &peds);
            let id = d
                .apply(&bg, |doc, by, at| background::add_person(doc, by, at, new))
                .expect("added on the phone");
            d.apply(&bg, |doc, by, at| background::check_in(doc, by, at, &id))
                .expect("checked in on the phone");
        }
    }
    assert!(
        client.wait_in_sync(Duration::from_secs(20)).await,
        "{:?}",
        client.status()
    );
    script
        .cmd(serde_json::json!({"cmd": "phone_checked_in"}))
        .await;
    let live = script.step("live").await;
    assert_eq!(live["text"], "Pedestrians 2 of 20 in, 0 released", "{live}");
    let checked = script.step("checked_in").await;
    assert_eq!(checked["in"], 3, "{checked}");
    assert_eq!(checked["status"], "checked in", "{checked}");
    assert!(
        checked["checkedIn"]
            .as_str()
            .is_some_and(|t| t.contains("by Casey Coordinator")),
        "{checked}"
    );
    assert_eq!(checked["wardrobe"], "own coat, no logos");
    script.step("done").await;
    let status = script.child.wait().await.expect("script exit");
    assert!(status.success(), "browser script failed: {status}");

    // The phone hears of the check-in made on the dashboard, in the coordinator's name.
    let coord_id = coord.member_id.clone();
    within(20, "Ana's check-in on the phone", async {
        loop {
            let by = pat
                .lock()
                .unwrap()
                .read(&bg, |doc| {
                    background::list_people(doc)
                        .ok()
                        .and_then(|l| l.items.into_iter().find(|p| p.record.name == "Ana Ruiz"))
                        .and_then(|p| p.checked_in_by)
                })
                .ok()
                .flatten();
            if by.as_deref() == Some(coord_id.as_str()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    // Checking Ana in again is refused and said by the page, above the live panel.
    let ana = pat
        .lock()
        .unwrap()
        .read(&bg, |doc| person_id(doc, "Ana Ruiz"))
        .unwrap();
    let r = step(&s, &day, &ana, "check_in").await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("id=\"bg-refused\""), "{}", r.body);
    assert!(r.body.contains("already checked in"), "{}", r.body);
    let r = step(&s, &day, &ana, "teleport").await;
    assert_eq!(r.status, 400, "{}", r.body);

    // Bo goes home: voucher, then release, on the phone; the counts say so.
    {
        let mut d = pat.lock().unwrap();
        let bo = d.read(&bg, |doc| person_id(doc, "Bo Chen")).unwrap();
        d.apply(&bg, |doc, by, at| {
            background::sign_voucher(doc, by, at, &bo)
        })
        .unwrap();
        d.apply(&bg, |doc, by, at| background::release(doc, by, at, &bo))
            .unwrap();
        let people = d
            .read(&bg, |doc| background::list_people(doc).unwrap().items)
            .unwrap();
        assert!(people
            .iter()
            .any(|p| p.record.name == "Bo Chen" && p.status == BackgroundStatus::Released));
    }
    assert!(client.wait_in_sync(Duration::from_secs(20)).await);
    let r = s
        .get(&format!("/dashboard/fragment/background?day={day}"))
        .await;
    assert!(
        r.body.contains("Pedestrians 3 of 20 in, 1 released"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("Diners 0 of 6 in, 0 released"),
        "{}",
        r.body
    );
    client.stop().await;
}

/// The person's event log object and its current heads.
fn log_of(doc: &Automerge, person: &str) -> (automerge::ObjId, Vec<String>) {
    let events = background::read_person(doc, person).unwrap().events;
    event_log(doc, "people", person, &events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_clients_cannot_delete_a_check_in_forge_who_checked_in_or_write_as_crew() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let day = next_day(&relay.day).expect("the day after the demo day");
    let s = sign_in(relay.addr, relay.code("coordinator"))
        .await
        .expect("sign in");
    publish_with_background(&s, &day).await;
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "casey").await;
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "pat").await;
    let crew = redeem(relay.addr, relay.code("crew"), "Cam", "cam").await;
    let prod: DocumentId = pa.production_doc_id.parse().unwrap();

    // The office adds Ana and checks her in from the dashboard.
    let page = s.get(&format!("/dashboard/background?day={day}")).await;
    let group = page
        .body
        .split("option value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a group to add to")
        .to_owned();
    let r = s
        .post(
            "/dashboard/background/people",
            &[
                ("day", day.as_str()),
                ("name", "Ana Ruiz"),
                ("group", &group),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let reader = connected(&relay, &coord.token, "reader").await;
    let bg = indexed(&reader, prod, DocKind::Background { day: day.clone() }).await;
    synced(&reader, bg).await;
    reader
        .wait(10, "Ana on the roster", |d, _| {
            d.docs
                .get(&bg)
                .is_some_and(|x| background::list_people(x).is_ok_and(|l| l.items.len() == 1))
        })
        .await;
    let ana = reader.read(bg, |d| person_id(d, "Ana Ruiz")).unwrap();
    let r = step(&s, &day, &ana, "check_in").await;
    assert_eq!(r.status, 303, "{}", r.body);
    reader
        .wait(10, "Ana checked in", |d, _| {
            d.docs.get(&bg).is_some_and(|x| {
                background::read_person(x, &ana)
                    .is_ok_and(|p| p.status == BackgroundStatus::CheckedIn)
            })
        })
        .await;
    let settled = reader.heads(bg);

    // A PA's raw client deletes the check-in.
    let p1 = caught_up(&relay, &pa.token, "pa-delete", bg, &settled).await;
    p1.change(bg, |d| {
        let (events, heads) = log_of(d, &ana);
        let mut tx = d.transaction();
        for h in heads {
            tx.delete(&events, h.as_str()).unwrap();
        }
        tx.commit();
    });
    refused(&p1, bg, "append-only").await;

    // Another checks Bo in, naming the coordinator as who checked him in.
    let p2 = caught_up(&relay, &pa.token, "pa-forge", bg, &settled).await;
    let coord_id = coord.member_id.clone();
    p2.change(bg, |d| {
        let by = setlink_core::Author {
            member_id: pa.member_id.clone(),
            device_id: "pa-forge".into(),
            role: Role::Pa,
        };
        let rows = [callsheet::Background {
            id: group.clone(),
            count: 20,
            description: "Pedestrians".into(),
            ..Default::default()
        }];
        let bo = background::add_person(
            d,
            &by,
            1_900_000_000_000,
            NewBackgroundPerson::for_row("Bo Chen", &rows[0]),
        )
        .unwrap();
        let (events, heads) = log_of(d, &bo);
        let forged = serde_json::json!({"kind": "checked_in", "prev": heads,
            "at": 1_900_000_000_000_i64, "member": coord_id, "device": "x", "role": "coordinator"});
        let mut tx = d.transaction();
        tx.put(&events, "forged-check-in", forged.to_string())
            .unwrap();
        tx.commit();
    });
    refused(&p2, bg, "authorship").await;

    // Crew may not even read the day's background: its copy is answered as unknown.
    deletion_answered_unavailable(&relay, &crew.token, &reader, bg, "people", &ana).await;

    // Nothing of any of it was kept: a fresh reader gets Ana checked in, and no Bo.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh = caught_up(&relay, &coord.token, "fresh", bg, &settled).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let people = fresh
        .read(bg, |d| background::list_people(d).unwrap().items)
        .unwrap();
    assert_eq!(people.len(), 1, "{people:?}");
    assert_eq!(people[0].status, BackgroundStatus::CheckedIn);
    assert_eq!(fresh.heads(bg), settled);
}
