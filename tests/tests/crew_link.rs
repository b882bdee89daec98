//! Personal call-sheet links (`server/src/crew`): what a link reaches and what it does not,
//! over raw HTTP and WebSockets as an outsider would try it; and the crew page on two
//! phones in chromium (tests/browser/crew.mjs) with the coordinator's acknowledgements
//! page open: opened and confirmed arrive live, a confirm tapped offline arrives once the
//! phone is online, a revoked member's link is refused.

use serde_json::json;
use setlink_core::model::callsheet;
use setlink_core::{Author, DocKind, DocumentId, Role};
use setlink_tests::board::find_doc;
use setlink_tests::dashboard::{setup_browser, sign_in, Script};
use setlink_tests::demo::{connected, synced};
use setlink_tests::http::{redeem, request};
use setlink_tests::Relay;

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

/// The key in a link page's `…/crew/#k=KEY`.
fn key_in(html: &str) -> String {
    let start = html.find("/crew/#k=").expect("a crew link on the page") + "/crew/#k=".len();
    html[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_link_reaches_published_sheets_and_its_own_acknowledgements_only() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let addr = relay.addr;
    let day = relay.day.clone();
    let cam = redeem(addr, relay.code("crew"), "Cam", "cam-phone").await;
    let pat = redeem(addr, relay.code("pa"), "Pat", "pat-phone").await;
    let casey = redeem(addr, relay.code("coordinator"), "Casey", "casey-phone").await;
    let office = sign_in(addr, relay.code("coordinator")).await.unwrap();

    let link_page = |m: &str| format!("/dashboard/crew-link?member={m}");
    let page = office.get(&link_page(&cam.member_id)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<svg"), "a QR code of the link");
    let key = key_in(&page.body);
    assert_eq!(key.len(), 64, "a 256-bit key: {key}");
    assert!(page.body.contains(&format!("http://{addr}/crew/#k={key}")));
    // The same link on every visit, until the office makes a new one.
    assert_eq!(
        key_in(&office.get(&link_page(&cam.member_id)).await.body),
        key
    );

    // The coordinator's draft says something the crew must not see until it is published.
    let coord = connected(&relay, &casey.token, "casey").await;
    let prod: DocumentId = casey.production_doc_id.parse().unwrap();
    synced(&coord, prod).await;
    let draft_kind = DocKind::CallSheetDraft { day: day.clone() };
    let draft = coord
        .read(prod, |p| find_doc(p, &draft_kind))
        .flatten()
        .expect("the demo day's draft");
    synced(&coord, draft).await;
    let by = Author {
        member_id: casey.member_id.clone(),
        device_id: "casey-phone".into(),
        role: Role::Coordinator,
    };
    coord.change(draft, |d| {
        let mut sheet = callsheet::read_draft_strict(d).expect("the draft");
        sheet.header.director = Some("Unannounced Director".into());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        callsheet::replace_draft(d, &by, now, sheet).expect("edit the draft")
    });
    let mut seen = false;
    for _ in 0..50 {
        let p = office.get(&format!("/dashboard/callsheet?day={day}")).await;
        if p.body.contains("Unannounced Director") {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen, "the relay has the draft edit");

    // The sheet: the latest published revision, as Cam's page, nothing of the draft.
    let (st, v) = request(addr, "GET", "/crew/api/sheet", Some(&key), None).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["day"], json!(day));
    assert_eq!(v["revision"], 1);
    // The demo's crew code signs in as its "Cam Crew".
    assert!(
        v["member"].as_str().is_some_and(|m| m.starts_with("Cam")),
        "{v}"
    );
    assert_eq!(v["opened"], false);
    let html = v["html"].as_str().unwrap();
    assert!(html.contains("id=\"call-time\""), "{html}");
    assert!(
        !html.contains("Unannounced Director"),
        "a draft leaked: {html}"
    );

    // Acknowledgements: confirming records opened too; again, the first time stays.
    let ack = |level: &str, rev: i64| json!({ "day": day, "revision": rev, "level": level });
    let confirmed = ack("confirmed", 1);
    let confirm = || request(addr, "POST", "/crew/api/ack", Some(&key), Some(&confirmed));
    let (st, first) = confirm().await;
    assert_eq!(st, 200, "{first}");
    assert_eq!(first["opened"], true);
    assert!(first["confirmed_at"].is_string(), "{first}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (st, again) = confirm().await;
    assert_eq!(st, 200, "{again}");
    assert_eq!(again["confirmed_at"], first["confirmed_at"]);
    let acks = office.get(&format!("/dashboard/acks?day={day}")).await;
    let rows = acks
        .body
        .matches(&format!("data-member=\"{}\"", cam.member_id))
        .count();
    assert_eq!(rows, 1, "one row for Cam");
    assert!(
        acks.body.contains(&format!(
            "data-member=\"{}\" data-state=\"confirmed\"",
            cam.member_id
        )),
        "{}",
        acks.body
    );

    // Bad requests change nothing and say why.
    for (body, want) in [
        (ack("received", 1), 400),
        (ack("confirmed", 99), 404),
        (
            json!({ "day": "tomorrow", "revision": 1, "level": "opened" }),
            400,
        ),
    ] {
        let (st, v) = request(addr, "POST", "/crew/api/ack", Some(&key), Some(&body)).await;
        assert_eq!(st, want, "{body} → {v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    let (st, _) = request(
        addr,
        "GET",
        "/crew/api/sheet?day=1999-01-01",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(st, 404, "a day with nothing published");
    for bad in [None, Some("0".repeat(64)), Some(pat.token.clone())] {
        let (st, v) = request(addr, "GET", "/crew/api/sheet", bad.as_deref(), None).await;
        assert_eq!(st, 401, "{bad:?}: {v}");
    }

    // The link is no token: not for the JSON API, the dashboard or /sync.
    let (st, _) = request(addr, "GET", "/api/members", Some(&key), None).await;
    assert_eq!(st, 401);
    for path in [
        "/dashboard/board",
        "/dashboard/acks",
        "/dashboard/callsheet",
    ] {
        let (st, _) = request(addr, "GET", &format!("{path}?day={day}"), Some(&key), None).await;
        assert_eq!(st, 401, "{path}");
    }
    let (_, code, _) =
        setlink_tests::peer::refused_connection(&format!("{}?token={key}", relay.ws_url())).await;
    assert_eq!(code, 4401, "/sync refuses a link key");

    // A new link replaces the old one.
    let r = office
        .post("/dashboard/crew-link", &[("member", &cam.member_id)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (st, _) = request(addr, "GET", "/crew/api/sheet", Some(&key), None).await;
    assert_eq!(st, 401, "the old link stopped working");
    let key2 = key_in(&office.get(&link_page(&cam.member_id)).await.body);
    assert_ne!(key2, key);
    let (st, _) = request(addr, "GET", "/crew/api/sheet", Some(&key2), None).await;
    assert_eq!(st, 200);

    // Revoking a member ends their link.
    let pat_key = key_in(&office.get(&link_page(&pat.member_id)).await.body);
    let (st, v) = request(addr, "GET", "/crew/api/sheet", Some(&pat_key), None).await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = request(
        addr,
        "POST",
        &format!("/api/members/{}/revoke", pat.member_id),
        Some(&casey.token),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = request(addr, "GET", "/crew/api/sheet", Some(&pat_key), None).await;
    assert_eq!(st, 401, "{v}");
    assert_eq!(office.get(&link_page(&pat.member_id)).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crew_page_on_phones_reaches_the_acknowledgements_live_and_confirms_offline() {
    setup_browser();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let cam = redeem(relay.addr, relay.code("crew"), "Cam", "cam-phone").await;
    let pat = redeem(relay.addr, relay.code("pa"), "Pat", "pat-phone").await;
    let casey = redeem(
        relay.addr,
        relay.code("coordinator"),
        "Casey",
        "casey-phone",
    )
    .await;
    let base = format!("http://{}", relay.addr);
    let mut script = Script::start(
        "crew.mjs",
        &[
            ("DASH_BASE", base.as_ref()),
            ("DASH_CODE", relay.code("coordinator").as_ref()),
            ("DASH_DAY", relay.day.as_ref()),
        ],
    );
    script
        .cmd(json!({ "cmd": "members", "a": cam.member_id, "b": pat.member_id }))
        .await;
    script.step("links").await;
    script.step("a_opened").await;
    script.step("a_confirmed").await;
    script.step("a_confirmed_again").await;
    script.step("b_confirmed_offline").await;
    script.step("b_confirmed").await;
    let (st, v) = request(
        relay.addr,
        "POST",
        &format!("/api/members/{}/revoke", pat.member_id),
        Some(&casey.token),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    script.cmd(json!({ "cmd": "revoked" })).await;
    script.step("b_refused").await;
    script.step("done").await;
}
