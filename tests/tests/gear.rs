//! Gear and walkies against the real relay: the demo's gear list (made with its
//! production: walkies out with the PA and the crew member, a C-stand due back the day
//! before the relay's pinned `--today`), the dashboard adding an item, signing it out and
//! back, the wrap check saying what is still out, and a return run made on the day's board
//! from what is overdue; the office correcting an item (a refused edit changes nothing);
//! then raw clients that delete a gear event, forge who signed
//! something out, or write the gear document as crew are refused and nothing is kept.

use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::Automerge;
use setlink_core::model::gear;
use setlink_core::{DocKind, DocumentId};
use setlink_server::today::next_day;
use setlink_tests::dashboard::{sign_in, Session};
use setlink_tests::demo::{connected, indexed, synced};
use setlink_tests::http::redeem;
use setlink_tests::refusals::{caught_up, deletion_answered_unavailable, event_log, refused};
use setlink_tests::Relay;

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

/// The id in the `data-item-id` of the inventory row whose name cell is `name`.
fn item_id(html: &str, name: &str) -> String {
    let cell = format!("<td class=\"name\">{name}");
    let at = html
        .find(&cell)
        .unwrap_or_else(|| panic!("no {name} in the inventory: {html}"));
    let marker = "data-item-id=\"";
    let start = html[..at].rfind(marker).expect("the row's item id") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// The member id of the sign-out option labelled `label` ("Pat PA (pa)").
fn member_option(html: &str, label: &str) -> String {
    let at = html
        .find(&format!("\">{label}</option>"))
        .unwrap_or_else(|| panic!("no option {label}"));
    let marker = "option value=\"";
    let start = html[..at].rfind(marker).unwrap() + marker.len();
    html[start..at].to_owned()
}

/// The wrap check line of a gear page or panel.
fn wrap_check(html: &str) -> String {
    let marker = "id=\"wrap-check\"";
    let at = html.find(marker).expect("a wrap check") + marker.len();
    let strong = html[at..].find("<strong>").unwrap() + at + "<strong>".len();
    html[strong..].split("</strong>").next().unwrap().to_owned()
}

async fn event(s: &Session, day: &str, fields: &[(&str, &str)]) -> setlink_tests::dashboard::Resp {
    let mut all = vec![("day", day)];
    all.extend_from_slice(fields);
    s.post("/dashboard/gear/event", &all).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_signs_gear_out_checks_the_wrap_and_makes_a_return_run() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let day = relay.day.clone();
    let s = sign_in(relay.addr, relay.code("coordinator"))
        .await
        .expect("sign in");

    // The demo's gear: two walkies out, the rented C-stand overdue on the relay's day.
    let page = s.get(&format!("/dashboard/gear?day={day}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(wrap_check(&page.body), "Still out: 2 walkies");
    let overdue = page.body.split("id=\"gear-overdue\"").nth(1).unwrap();
    let overdue = overdue.split("</section>").next().unwrap();
    assert!(
        overdue.contains("C-stand") && overdue.contains("Grip House"),
        "{overdue}"
    );
    assert!(
        page.body.contains("data-holder=\"Pat PA\""),
        "who has what names the holder"
    );

    // The office adds an apple box, rented until the day after, and a bad one.
    let tomorrow = next_day(&day).unwrap();
    let r = s
        .post(
            "/dashboard/gear/items",
            &[
                ("day", day.as_str()),
                ("name", "Apple box"),
                ("category", "grip"),
                ("owner", "Grip House"),
                ("due_back", tomorrow.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = s
        .post(
            "/dashboard/gear/items",
            &[
                ("day", day.as_str()),
                ("name", "Walkie 9"),
                ("category", "walkie"),
                ("channel", "two"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("data-field=\"channel\""), "{}", r.body);
    assert!(
        r.body.contains("value=\"Walkie 9\""),
        "what was typed stays"
    );

    // Signed out to the PA: the wrap check counts it by name.
    let page = s.get(&format!("/dashboard/gear?day={day}")).await;
    let apple = item_id(&page.body, "Apple box");
    let pat = member_option(&page.body, "Pat PA (pa)");
    let r = event(
        &s,
        &day,
        &[("item", &apple), ("action", "sign_out"), ("to", &pat)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let panel = s.get(&format!("/dashboard/fragment/gear?day={day}")).await;
    assert_eq!(wrap_check(&panel.body), "Still out: 2 walkies, 1 Apple box");
    // Signing it out again is refused, said above the panel, by the field.
    let r = event(
        &s,
        &day,
        &[("item", &apple), ("action", "sign_out"), ("to", &pat)],
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("id=\"gear-refused\""), "{}", r.body);
    assert!(r.body.contains("record its return first"), "{}", r.body);
    let r = event(
        &s,
        &day,
        &[("item", &apple), ("action", "sign_out"), ("to", "nobody")],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("data-field=\"to\""), "{}", r.body);
    let r = event(&s, &day, &[("item", &apple), ("action", "teleport")]).await;
    assert_eq!(r.status, 400, "{}", r.body);

    // Back in: only the walkies are out.
    let r = event(&s, &day, &[("item", &apple), ("action", "return")]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let panel = s.get(&format!("/dashboard/fragment/gear?day={day}")).await;
    assert_eq!(wrap_check(&panel.body), "Still out: 2 walkies");

    // The walkies come back too: everything is back.
    for n in 1..=2 {
        let w = item_id(&panel.body, &format!("Walkie {n}"));
        let r = event(&s, &day, &[("item", &w), ("action", "return")]).await;
        assert_eq!(r.status, 303, "{}", r.body);
    }
    let panel = s.get(&format!("/dashboard/fragment/gear?day={day}")).await;
    assert_eq!(wrap_check(&panel.body), "Everything is back");

    // A return run from the day's overdue gear, on the day's board: the C-stand only
    // (the apple box is due back tomorrow).
    let r = s
        .post("/dashboard/gear/return-run", &[("day", day.as_str())])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let run_page = r.location.expect("to the run's page");
    assert!(run_page.starts_with("/dashboard/runs/"), "{run_page}");
    let run = s.get(&run_page).await;
    assert_eq!(run.status, 200, "{}", run.body);
    assert!(
        run.body.contains("Return borrowed gear to Grip House"),
        "{}",
        run.body
    );
    assert!(run.body.contains("C-stand") && !run.body.contains("Apple box"));
    let board = s.get(&format!("/dashboard/board?day={day}")).await;
    assert!(board.body.contains("Return borrowed gear to Grip House"));

    // The day after tomorrow both are overdue; before the C-stand's day, nothing is, and
    // no run is made.
    let later = next_day(&tomorrow).unwrap();
    let panel = s
        .get(&format!("/dashboard/fragment/gear?day={later}"))
        .await;
    let overdue = panel.body.split("id=\"gear-overdue\"").nth(1).unwrap();
    assert!(overdue.contains("Apple box") && overdue.contains("C-stand"));
    let c_stand = item_id(&panel.body, "C-stand");
    let r = event(
        &s,
        &day,
        &[("item", &c_stand), ("action", "returned_to_owner")],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = s
        .post("/dashboard/gear/return-run", &[("day", day.as_str())])
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
}

/// The section of the page after `id="<id>"`, up to its end.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let rest = html
        .split(&format!("id=\"{id}\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    rest.split("</section>").next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_office_corrects_an_item_on_the_dashboard_and_a_bad_edit_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let day = relay.day.clone();
    let tomorrow = next_day(&day).unwrap();
    let s = sign_in(relay.addr, relay.code("office"))
        .await
        .expect("sign in");
    let page = s.get(&format!("/dashboard/gear?day={day}")).await;
    assert!(section(&page.body, "gear-overdue").contains("C-stand"));
    let stand = item_id(&page.body, "C-stand");
    assert!(
        page.body.contains("aria-label=\"Edit C-stand"),
        "each row has its edit form"
    );
    let edit = |due: &'static str, channel: &'static str, label: &'static str| {
        let (stand, day, tomorrow) = (stand.clone(), day.clone(), tomorrow.clone());
        let s = &s;
        async move {
            let due = if due == "tomorrow" {
                tomorrow
            } else {
                due.to_owned()
            };
            s.post(
                "/dashboard/gear/edit",
                &[
                    ("day", day.as_str()),
                    ("item", stand.as_str()),
                    ("name", "C-stand"),
                    ("category", "grip"),
                    ("label", label),
                    ("owner", "Grip House"),
                    ("due_back", due.as_str()),
                    ("condition", "knuckle stiff"),
                    ("channel", channel),
                    ("battery", ""),
                ],
            )
            .await
        }
    };

    // A typo in the channel: refused by its field, what was typed kept, nothing changed.
    let r = edit("tomorrow", "two", "CS-14").await;
    assert_eq!(r.status, 400, "{}", r.body);
    let refused = section(&r.body, "gear-refused");
    assert!(refused.contains("data-field=\"channel\""), "{refused}");
    assert!(refused.contains("value=\"CS-14\""), "{refused}");
    let panel = s.get(&format!("/dashboard/fragment/gear?day={day}")).await;
    assert!(!panel.body.contains("CS-14"), "nothing of the refused edit");
    assert!(section(&panel.body, "gear-overdue").contains("C-stand"));

    // The rental was extended: due back tomorrow, with its serial and a condition note.
    let r = edit("tomorrow", "", "CS-14").await;
    assert_eq!(r.status, 303, "{}", r.body);
    let panel = s.get(&format!("/dashboard/fragment/gear?day={day}")).await;
    assert_eq!(
        item_id(&panel.body, "C-stand"),
        stand,
        "the same item, edited"
    );
    assert!(panel.body.contains("CS-14") && panel.body.contains("knuckle stiff"));
    assert!(
        !section(&panel.body, "gear-overdue").contains("C-stand"),
        "no longer overdue today"
    );
    // Tomorrow it is due: the day after, overdue again.
    let after = next_day(&tomorrow).unwrap();
    let later = s
        .get(&format!("/dashboard/fragment/gear?day={after}"))
        .await;
    assert!(section(&later.body, "gear-overdue").contains("C-stand"));
}

/// An item's event log object and its current heads.
fn log_of(doc: &Automerge, item: &str) -> (automerge::ObjId, Vec<String>) {
    let events = gear::read_item(doc, item).unwrap().events;
    event_log(doc, "items", item, &events)
}

fn named(doc: &Automerge, name: &str) -> String {
    gear::list_items(doc)
        .unwrap()
        .items
        .into_iter()
        .find(|i| i.record.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .record
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_clients_cannot_delete_a_gear_event_forge_a_signer_or_write_as_crew() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "casey").await;
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "pat").await;
    let crew = redeem(relay.addr, relay.code("crew"), "Cam", "cam").await;
    let prod: DocumentId = pa.production_doc_id.parse().unwrap();

    let reader = connected(&relay, &coord.token, "reader").await;
    let doc = indexed(&reader, prod, DocKind::Gear).await;
    synced(&reader, doc).await;
    reader
        .wait(10, "the demo's gear", |d, _| {
            d.docs
                .get(&doc)
                .is_some_and(|x| gear::list_items(x).is_ok_and(|l| l.items.len() == 5))
        })
        .await;
    let settled = reader.heads(doc);
    let walkie = reader.read(doc, |d| named(d, "Walkie 1")).unwrap();
    let spare = reader.read(doc, |d| named(d, "Walkie 3")).unwrap();

    // A PA's raw client deletes the walkie's sign-out.
    let p1 = caught_up(&relay, &pa.token, "pa-delete", doc, &settled).await;
    p1.change(doc, |d| {
        let (events, heads) = log_of(d, &walkie);
        let mut tx = d.transaction();
        for h in heads {
            tx.delete(&events, h.as_str()).unwrap();
        }
        tx.commit();
    });
    refused(&p1, doc, "append-only").await;

    // Another signs the spare walkie out in the coordinator's name.
    let p2 = caught_up(&relay, &pa.token, "pa-forge", doc, &settled).await;
    let coord_id = coord.member_id.clone();
    p2.change(doc, |d| {
        let (events, heads) = log_of(d, &spare);
        let forged = serde_json::json!({"kind": "signed_out", "prev": heads, "assignee": "x",
            "at": 1_900_000_000_000_i64, "member": coord_id, "device": "x", "role": "coordinator"});
        let mut tx = d.transaction();
        tx.put(&events, "forged-sign-out", forged.to_string())
            .unwrap();
        tx.commit();
    });
    refused(&p2, doc, "authorship").await;

    // Crew may not even read the gear list: its copy is answered as unknown.
    deletion_answered_unavailable(&relay, &crew.token, &reader, doc, "items", &walkie).await;

    // Nothing of any of it was kept.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh = caught_up(&relay, &coord.token, "fresh", doc, &settled).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fresh.heads(doc), settled);
    let items = fresh
        .read(doc, |d| gear::list_items(d).unwrap().items)
        .unwrap();
    assert_eq!(items.len(), 5);
    let w = items.iter().find(|i| i.record.id == walkie).unwrap();
    assert!(w.is_out(), "the sign-out is still there");
    let spare = items.iter().find(|i| i.record.id == spare).unwrap();
    assert!(spare.holder.is_none(), "the forged sign-out was not kept");
}
