//! Timesheets against the real relay binary: a PA's phone (core's `Device` and
//! `SyncClient`) submits the day's timesheet while offline and syncs it over a real
//! WebSocket when back; the coordinator approves it on the dashboard and the payroll CSV
//! lists it with its hours; a returned timesheet's note reaches the phone. With the
//! timesheets page open in chromium (tests/browser/timesheets.mjs), an online phone's
//! submission appears without a reload and is approved from its row. A raw
//! automerge-repo client is refused for approving its own timesheet as a PA and for
//! rewriting a submission. Days and the relay's clock are injected (`--today`), never
//! the wall clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc, ROOT};
use setlink_core::client::{ProductionScope, SyncClient};
use setlink_core::model::timesheet::{self, Decision, Review, TimesheetEntry, TimesheetStatus};
use setlink_core::rules::notice;
use setlink_core::{Author, Device, DocKind, DocumentId, Role};
use setlink_server::production_doc::read_index;
use setlink_server::today::next_day;
use setlink_server::zone::Zone;
use setlink_tests::dashboard::{setup_browser, sign_in, Script, Session};
use setlink_tests::demo::{connected, synced};
use setlink_tests::http::{redeem, Creds};
use setlink_tests::phone::{client_config, open_device};
use setlink_tests::relay::DEMO_DAY;
use setlink_tests::{within, Peer, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

/// The member's timesheets document on the device, once synced and claimed for them.
async fn timesheets_on(dev: &Arc<Mutex<Device>>, member_id: &str) -> DocumentId {
    let found = async {
        loop {
            let id = {
                let mut d = dev.lock().unwrap();
                let mine = d.document_ids().into_iter().find(|id| {
                    d.kind_of(id).is_some_and(
                        |k| matches!(k, DocKind::Timesheets { member_id: m } if m == member_id),
                    )
                });
                // Listed in the index first; claimed once the document itself has synced.
                mine.filter(|id| {
                    d.read(id, timesheet::owner).ok().flatten().as_deref() == Some(member_id)
                })
            };
            if let Some(id) = id {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    within(20, "the member's timesheets on their phone", found).await
}

/// `day`'s status on the device, once `want` holds.
async fn status_on(
    dev: &Arc<Mutex<Device>>,
    doc: DocumentId,
    day: &str,
    what: &str,
    want: impl Fn(&TimesheetStatus) -> bool,
) -> TimesheetStatus {
    let wait = async {
        loop {
            let s = dev
                .lock()
                .unwrap()
                .read(&doc, |d| timesheet::read_day(d, day).ok().flatten())
                .ok()
                .flatten()
                .map(|d| d.status);
            if let Some(s) = s.filter(|s| want(s)) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    within(20, what, wait).await
}

/// The day's timesheets page, once it shows `member`'s row with `status`.
async fn page_with(coord: &Session, day: &str, member: &str, status: &str) -> String {
    let marker = format!("data-member=\"{member}\" data-status=\"{status}\"");
    let wait = async {
        loop {
            let r = coord.get(&format!("/dashboard/timesheets?day={day}")).await;
            assert_eq!(r.status, 200, "{}", r.body);
            if r.body.contains(&marker) {
                return r.body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    within(20, &format!("{member} {status} on the dashboard"), wait).await
}

/// The value of the first hidden `submission` field after `member`'s row starts.
fn submission_in(html: &str, member: &str) -> String {
    let row = html
        .split(&format!("data-member=\"{member}\""))
        .nth(1)
        .expect("the member's row");
    let marker = "name=\"submission\" value=\"";
    let start = row.find(marker).expect("a review form") + marker.len();
    row[start..].split('"').next().unwrap().to_owned()
}

/// Pat's day: call 07:00, meal 13:00-13:30, wrap 01:15 the next morning, in the
/// production's zone: 17.75 hours.
fn long_day(zone: &Zone, day: &str) -> TimesheetEntry {
    TimesheetEntry {
        call: zone.at(day, 7 * 60).unwrap(),
        meal_start: zone.at(day, 13 * 60),
        meal_end: zone.at(day, 13 * 60 + 30),
        wrap: zone.at(day, 25 * 60 + 15).unwrap(),
        notes: Some("company move at 14:00".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_timesheet_is_approved_on_the_dashboard_exported_and_a_return_reaches_the_phone() {
    let dir = tempfile::tempdir().unwrap();
    // The relay's clock is stopped the morning after the shoot day: reviews made on the
    // dashboard are dated then.
    let relay = Relay::start(BIN, dir.path(), &["--today", "2030-06-15T18:00:00Z"]);
    let day = DEMO_DAY.to_owned();
    let next = next_day(&day).unwrap();
    let zone = Zone::named(setlink_server::demo::DEMO_ZONE).unwrap();
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "pat-phone").await;
    let prod: DocumentId = pa.production_doc_id.parse().unwrap();

    // The PA's phone syncs once, so it holds its timesheets (made when Pat joined).
    let devices = tempfile::tempdir().unwrap();
    let pat = open_device(&devices.path().join("pat.db"), &pa, "pat", Role::Pa);
    let scope = || Arc::new(ProductionScope::new(prod, [day.clone()]));
    let client = SyncClient::start(pat.clone(), client_config(&relay, &pa), scope()).unwrap();
    assert!(client.wait_in_sync(Duration::from_secs(20)).await);
    let sheets = timesheets_on(&pat, &pa.member_id).await;
    client.stop().await;

    // No signal at wrap: two days submitted on the phone alone.
    let entry = long_day(&zone, &day);
    let mut short = long_day(&zone, &next);
    short.wrap = zone.at(&next, 17 * 60).unwrap();
    for (d, e) in [(&day, entry.clone()), (&next, short)] {
        let (d, e) = (d.clone(), e.clone());
        pat.lock()
            .unwrap()
            .apply(&sheets, move |doc, by, at| {
                timesheet::submit(doc, by, at, &d, e)
            })
            .expect("submitted offline");
    }

    // Back in range: the same phone syncs over a real WebSocket.
    let client = SyncClient::start(pat.clone(), client_config(&relay, &pa), scope()).unwrap();
    assert!(client.wait_in_sync(Duration::from_secs(20)).await);

    // The coordinator approves the first day and returns the second on the dashboard.
    let coord = sign_in(relay.addr, relay.code("coordinator"))
        .await
        .expect("the coordinator signs in");
    let html = page_with(&coord, &day, &pa.member_id, "submitted").await;
    assert!(html.contains("07:00") && html.contains("17.75"), "{html}");
    assert!(
        html.contains(&format!("{next} 01:15")),
        "the wrap after midnight shows its date: {html}"
    );
    let sub = submission_in(&html, &pa.member_id);
    let approve = [
        ("day", day.as_str()),
        ("member", pa.member_id.as_str()),
        ("submission", sub.as_str()),
        ("decision", "approve"),
    ];
    let r = coord.post("/dashboard/timesheets/review", &approve).await;
    assert_eq!(r.status, 303, "{}", r.body);
    page_with(&coord, &day, &pa.member_id, "approved").await;
    // Approving twice is a conflict that says why, and changes nothing.
    let again = coord.post("/dashboard/timesheets/review", &approve).await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("approved"), "{}", again.body);

    let html = page_with(&coord, &next, &pa.member_id, "submitted").await;
    let sub_next = submission_in(&html, &pa.member_id);
    let mut ret = vec![
        ("day", next.as_str()),
        ("member", pa.member_id.as_str()),
        ("submission", sub_next.as_str()),
        ("decision", "return"),
    ];
    let no_note = coord.post("/dashboard/timesheets/review", &ret).await;
    assert_eq!(no_note.status, 400, "{}", no_note.body);
    assert!(no_note.body.contains("review note"), "{}", no_note.body);
    ret.push(("note", "Wrap was 16:30 per the call sheet"));
    let r = coord.post("/dashboard/timesheets/review", &ret).await;
    assert_eq!(r.status, 303, "{}", r.body);

    // The payroll export: the approved day only, with its hours.
    let csv_resp = coord
        .get(&format!("/dashboard/timesheets.csv?from={day}&to={next}"))
        .await;
    assert_eq!(csv_resp.status, 200, "{}", csv_resp.body);
    let mut reader = csv::Reader::from_reader(csv_resp.body.as_bytes());
    assert_eq!(reader.headers().unwrap().get(8), Some("hours"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "only the approved day: {}", csv_resp.body);
    let row: Vec<&str> = rows[0].iter().collect();
    assert_eq!(
        (row[1], row[3], row[4], row[5], row[6], row[7], row[8]),
        (
            "pa",
            day.as_str(),
            "07:00",
            "13:00",
            "13:30",
            format!("{next} 01:15").as_str(),
            "17.75"
        ),
        "{}",
        csv_resp.body
    );
    assert_eq!(
        (row[0], row[9], row[10]),
        ("Pat PA", "Casey Coordinator", "2030-06-15 11:00 PDT"),
        "{row:?}"
    );
    let bad = coord
        .get(&format!("/dashboard/timesheets.csv?from={next}&to={day}"))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);

    // The phone hears both decisions: approved, and returned with the note.
    status_on(&pat, sheets, &day, "the approval on the phone", |s| {
        *s == TimesheetStatus::Approved
    })
    .await;
    let returned = status_on(&pat, sheets, &next, "the return on the phone", |s| {
        matches!(s, TimesheetStatus::Returned { .. })
    })
    .await;
    assert_eq!(
        returned,
        TimesheetStatus::Returned {
            note: "Wrap was 16:30 per the call sheet".into()
        }
    );
    client.stop().await;

    // The office sees the page and the export but has no review forms.
    let office = sign_in(relay.addr, relay.code("office"))
        .await
        .expect("the office signs in");
    let page = office
        .get(&format!("/dashboard/timesheets?day={day}"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        !page.body.contains("/dashboard/timesheets/review"),
        "{}",
        page.body
    );
    let r = office.post("/dashboard/timesheets/review", &approve).await;
    assert_eq!(r.status, 403, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_submission_appears_live_on_the_open_timesheets_page_and_is_approved_there() {
    setup_browser();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &["--today", "2030-06-15T18:00:00Z"]);
    let day = DEMO_DAY.to_owned();
    let zone = Zone::named(setlink_server::demo::DEMO_ZONE).unwrap();
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "pat-phone").await;
    let prod: DocumentId = pa.production_doc_id.parse().unwrap();
    let devices = tempfile::tempdir().unwrap();
    let pat = open_device(&devices.path().join("pat.db"), &pa, "pat", Role::Pa);
    let scope = Arc::new(ProductionScope::new(prod, [day.clone()]));
    let client = SyncClient::start(pat.clone(), client_config(&relay, &pa), scope).unwrap();
    assert!(client.wait_in_sync(Duration::from_secs(20)).await);
    let sheets = timesheets_on(&pat, &pa.member_id).await;

    let base = format!("http://{}", relay.addr);
    let env = [
        ("DASH_BASE", base.as_ref()),
        ("DASH_CODE", relay.code("coordinator").as_ref()),
        ("DASH_DAY", day.as_ref()),
        ("DASH_MEMBER", pa.member_id.as_ref()),
    ];
    let mut script = Script::start("timesheets.mjs", &env);
    let opened = script.step("opened").await;
    assert!(opened["row"].is_null(), "{opened}");
    assert_eq!(opened["missing"], true, "Pat is listed as not submitted");

    // At wrap, Pat submits on the phone, which is online and syncs it.
    let entry = long_day(&zone, &day);
    let d = day.clone();
    pat.lock()
        .unwrap()
        .apply(&sheets, move |doc, by, at| {
            timesheet::submit(doc, by, at, &d, entry)
        })
        .expect("submitted on the phone");
    assert!(client.wait_in_sync(Duration::from_secs(20)).await);
    script
        .cmd(serde_json::json!({"cmd": "phone_submitted"}))
        .await;
    let live = script.step("live").await;
    assert_eq!(live["row"]["status"], "submitted", "{live}");
    assert_eq!(live["row"]["hours"], "17.75", "{live}");
    assert_eq!(live["missing"], false, "{live}");
    let approved = script.step("approved").await;
    assert_eq!(approved["row"]["status"], "approved", "{approved}");
    let status = script.child.wait().await.expect("script exit");
    assert!(status.success(), "browser script failed: {status}");

    // The approval reaches the phone.
    status_on(&pat, sheets, &day, "the approval on the phone", |s| {
        *s == TimesheetStatus::Approved
    })
    .await;
    client.stop().await;
}

/// A raw client's timesheets document as the relay has it, on a fresh connection.
async fn attacker(relay: &Relay, c: &Creds, name: &str, doc: DocumentId) -> Peer {
    let p = connected(relay, &c.token, name).await;
    synced(&p, doc).await;
    p
}

async fn refused(p: &Peer, doc: DocumentId, rule: &str) {
    p.wait(10, &format!("a `{rule}` refusal"), |_, s| {
        s.ephemeral
            .iter()
            .any(|(_, _, d)| notice::decode(d).is_some())
    })
    .await;
    let notices: Vec<notice::Notice> = p.seen(|s| {
        s.ephemeral
            .iter()
            .filter_map(|(_, _, d)| notice::decode(d))
            .collect()
    });
    let n = notices.first().expect("a refusal notice");
    assert_eq!(
        (n.rule.as_str(), n.document_id.as_str()),
        (rule, doc.to_string().as_str()),
        "{n:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_client_cannot_approve_its_own_timesheet_or_rewrite_a_submission() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let day = relay.day.clone();
    let zone = Zone::named(setlink_server::demo::DEMO_ZONE).unwrap();
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "p1").await;
    let prod: DocumentId = pa.production_doc_id.parse().unwrap();

    // Pat's timesheets, through the index, and a real submission on them.
    let p = connected(&relay, &pa.token, "pat").await;
    synced(&p, prod).await;
    let member = pa.member_id.clone();
    p.wait(10, "Pat's timesheets in the index", |d, _| {
        d.docs.get(&prod).is_some_and(|x| {
            read_index(x).is_ok_and(|i| {
                i.iter().any(
                    |(_, k)| matches!(k, DocKind::Timesheets { member_id } if *member_id == member),
                )
            })
        })
    })
    .await;
    let sheets = p
        .read(prod, |d| {
            read_index(d).unwrap().into_iter().find_map(|(id, k)| {
                matches!(k, DocKind::Timesheets { member_id } if member_id == pa.member_id)
                    .then_some(id)
            })
        })
        .flatten()
        .unwrap();
    synced(&p, sheets).await;
    p.wait(10, "the claimed timesheets", |d, _| {
        d.docs
            .get(&sheets)
            .is_some_and(|x| timesheet::owner(x).is_some())
    })
    .await;
    let pat = Author {
        member_id: pa.member_id.clone(),
        device_id: "p1".into(),
        role: Role::Pa,
    };
    let sub = p.change(sheets, |d| {
        timesheet::submit(
            d,
            &pat,
            zone.at(&day, 20 * 60).unwrap(),
            &day,
            long_day(&zone, &day),
        )
        .unwrap()
    });
    let heads = p.heads(sheets);
    let reader = connected(&relay, &pa.token, "reader").await;
    synced(&reader, sheets).await;
    reader.wait_heads(sheets, &heads, 10).await;

    // A PA approving their own timesheet, as a raw client writes it.
    let a = attacker(&relay, &pa, "attacker-approve", sheets).await;
    a.wait_heads(sheets, &heads, 10).await;
    let own = Review {
        id: "forged-review".into(),
        submission_id: sub.clone(),
        decision: Decision::Approved,
        note: None,
        at: zone.at(&day, 21 * 60).unwrap(),
        by: pa.member_id.clone(),
    };
    a.change(sheets, |d| append_review(d, &day, &own));
    refused(&a, sheets, "transition").await;

    // Rewriting the submitted wrap to claim more hours.
    let b = attacker(&relay, &pa, "attacker-rewrite", sheets).await;
    b.wait_heads(sheets, &heads, 10).await;
    let later = zone.at(&day, 30 * 60).unwrap();
    b.change(sheets, |d| {
        let subs = d.get(ROOT, "submissions").unwrap().unwrap().1;
        let (stored, _) = d.get(&subs, sub.as_str()).unwrap().unwrap();
        let mut json: serde_json::Value =
            serde_json::from_str(stored.as_str().expect("a JSON string")).unwrap();
        json["wrap"] = later.into();
        let mut tx = d.transaction();
        tx.put(&subs, sub.as_str(), json.to_string()).unwrap();
        tx.commit();
    });
    refused(&b, sheets, "append-only").await;

    // Neither reached the relay: a fresh copy has the submission as sent, unreviewed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fresh = attacker(&relay, &pa, "fresh", sheets).await;
    fresh.wait_heads(sheets, &heads, 10).await;
    let d = fresh
        .read(sheets, |d| timesheet::read_day(d, &day).unwrap().unwrap())
        .unwrap();
    assert_eq!(d.status, TimesheetStatus::Submitted);
    assert!(d.reviews.is_empty());
    assert_eq!(d.current.unwrap().entry(), long_day(&zone, &day));
}

/// Adds `r` to the reviews as a raw client would: the JSON the model stores, written by
/// hand, with no model and no checks.
fn append_review(d: &mut Automerge, day: &str, r: &Review) {
    let reviews = d.get(ROOT, "reviews").unwrap().unwrap().1;
    let json = serde_json::json!({
        "day": day,
        "submission_id": r.submission_id,
        "decision": r.decision.as_str(),
        "at": r.at,
        "by": r.by,
    });
    let mut tx = d.transaction();
    tx.put(&reviews, r.id.as_str(), json.to_string()).unwrap();
    tx.commit();
}
