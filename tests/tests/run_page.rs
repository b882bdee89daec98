//! The run page and petty cash in a real browser (tests/browser/run_page.mjs) against the
//! relay binary, with the PA's phone a Rust device: the coordinator opens a run from the
//! board and edits it, the PA's receipt and proof of delivery reach the run page, petty
//! cash and its CSV, and taking the run off the PA reaches the PA's phone.

use setlink_core::model::run::{self, ProofInput, ReceiptInput, RunStatus};
use setlink_core::{Author, DocKind, DocumentId, Role};
use setlink_tests::board::find_doc;
use setlink_tests::dashboard::{readme_screenshots, setup_browser, sign_in, Script, Session};
use setlink_tests::http::redeem;
use setlink_tests::{Peer, PeerDocs, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");
const TITLE: &str = "Pick up walkie batteries";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_run_on_the_dashboard_in_a_real_browser() {
    setup_browser();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let day = relay.day.clone();

    // The PA's phone, holding the day's board the demo seeded.
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "pat-phone").await;
    let pat = Peer::connect(&relay.ws_url(), &pa.token, PeerDocs::new("pat"))
        .await
        .expect("the PA's phone connects");
    let prod: DocumentId = pa.production_doc_id.parse().unwrap();
    pat.open(prod);
    let kind = DocKind::Board { day: day.clone() };
    let k = kind.clone();
    pat.wait(10, "the day's board in the index", move |d, _| {
        d.docs.get(&prod).is_some_and(|p| find_doc(p, &k).is_some())
    })
    .await;
    let board = pat.read(prod, |p| find_doc(p, &kind)).flatten().unwrap();
    pat.open(board);
    pat.wait(10, "the board's runs", move |d, _| {
        d.docs
            .get(&board)
            .is_some_and(|b| run::list_runs(b).is_ok_and(|r| r.items.len() >= 4))
    })
    .await;
    let pat_author = Author {
        member_id: pa.member_id.clone(),
        device_id: "pat-phone".into(),
        role: Role::Pa,
    };

    let base = format!("http://{}", relay.addr);
    let shots = readme_screenshots();
    let mut env = vec![
        ("DASH_BASE", base.as_ref()),
        ("DASH_CODE", relay.code("coordinator").as_ref()),
        ("DASH_DAY", day.as_ref()),
        ("DASH_RUN_TITLE", TITLE.as_ref()),
    ];
    if let Some(dir) = &shots {
        env.push(("RUN_PAGE_SHOTS", dir.as_os_str()));
    }
    let mut script = Script::start("run_page.mjs", &env);
    let opened = script.step("opened").await;
    let run_id = opened["run"].as_str().expect("run id").to_owned();
    let r = pat
        .read(board, |b| run::read_run(b, &run_id))
        .unwrap()
        .unwrap();
    assert_eq!(r.record.title, TITLE);
    assert_eq!(r.assigned_pa.as_deref(), Some(pa.member_id.as_str()));

    // The browser's edits reach the PA's phone; then the PA logs a receipt and who took
    // the delivery, from the phone.
    script.step("edited").await;
    let id = run_id.clone();
    pat.wait(
        10,
        "the dashboard's edits on the PA's phone",
        move |d, _| {
            d.docs.get(&board).is_some_and(|b| {
                run::read_run(b, &id).is_ok_and(|r| {
                    r.record.money.envelope.as_deref() == Some("ENV-12")
                        && r.record.mileage_tenths == Some(124)
                        && r.record.items.iter().any(|i| i.checked && i.quantity == 24)
                        && r.record
                            .stops
                            .iter()
                            .any(|s| s.contact_phone.as_deref() == Some("+1 555 0142"))
                        && r.record
                            .food_orders
                            .iter()
                            .any(|f| f.dietary_notes.as_deref() == Some("oat milk, no dairy"))
                        && r.record.title == format!("{TITLE} (x24)")
                })
            })
        },
    )
    .await;
    pat.change(board, |d| {
        let now = setlink_server::auth::now_ms();
        run::add_receipt(
            d,
            &pat_author,
            now,
            &run_id,
            ReceiptInput {
                vendor: "Gas & Go".into(),
                total_cents: 4250,
                tax_cents: 350,
                account_code: Some("2150".into()),
                photo_ref: None,
            },
        )
        .expect("the PA's receipt");
        run::set_proof_of_delivery(
            d,
            &pat_author,
            now,
            &run_id,
            ProofInput {
                received_by: "Rita Ortiz".into(),
                note: None,
                photo_ref: None,
            },
        )
        .expect("the PA's proof of delivery");
    });
    script
        .cmd(serde_json::json!({"cmd": "receipt_written"}))
        .await;

    let cash = script.step("petty_cash").await;
    let text = cash["csv"].as_str().expect("the CSV text");
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        rows.headers().unwrap().get(6),
        Some("total"),
        "a header row: {text}"
    );
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "one row per receipt: {text}");
    let row = &rows[0];
    assert_eq!(
        (&row[0], &row[2], &row[4], &row[5], &row[6], &row[7]),
        (
            day.as_str(),
            "ENV-12",
            run_id.as_str(),
            "Gas & Go",
            "42.50",
            "3.50"
        )
    );

    // Taken off the PA on the dashboard: the PA's phone sees it requested, not theirs.
    script.step("unassigned").await;
    let id = run_id.clone();
    pat.wait(10, "the run unassigned on the PA's phone", move |d, _| {
        d.docs.get(&board).is_some_and(|b| {
            run::read_run(b, &id)
                .is_ok_and(|r| r.status == RunStatus::Requested && r.assigned_pa.is_none())
        })
    })
    .await;
    let mine = pat
        .read(board, |b| run::runs_for(b, &pa.member_id))
        .unwrap()
        .unwrap();
    assert!(
        mine.items.iter().all(|r| r.id() != run_id),
        "the run left the PA's list"
    );

    script.step("phone_sized").await;
    script.step("done").await;

    // Over plain HTTP too: a PA's session cannot reach the run page (the dashboard is the
    // office's), and an unknown run is a 404 naming it.
    let coord: Session = sign_in(relay.addr, relay.code("coordinator"))
        .await
        .expect("coordinator signs in");
    let missing = coord
        .get(&format!("/dashboard/runs/no-such-run?day={day}"))
        .await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert!(missing.body.contains("no-such-run"), "{}", missing.body);
    assert!(sign_in(relay.addr, relay.code("pa")).await.is_err());
}

/// The id of the board card titled `title`, from the board's HTML.
fn card_id(board_html: &str, title: &str) -> String {
    board_html
        .split("data-run-id=\"")
        .skip(1)
        .find(|card| {
            let end = card.find("</article>").unwrap_or(card.len());
            card[..end].contains(&format!("<h3>{title}</h3>"))
        })
        .and_then(|card| card.split('"').next())
        .unwrap_or_else(|| panic!("no card `{title}` on the board"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_page_forms_refuse_over_http_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let day = relay.day.clone();
    let s = sign_in(relay.addr, relay.code("office"))
        .await
        .expect("the office signs in");
    let board = s.get(&format!("/dashboard/board?day={day}")).await;
    let sides = card_id(&board.body, "Sides to set");
    let coffee = card_id(&board.body, "Coffee for camera dept");
    let page = |id: &str| format!("/dashboard/runs/{id}?day={day}");
    let post = |id: &str, what: &str| format!("/dashboard/runs/{id}/{what}");

    // Not a number: the form comes back as typed, the error by the field.
    let r = s
        .post(
            &post(&sides, "receipts"),
            &[("day", &day), ("vendor", "Deli"), ("total", "abc")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains(r#"data-field="total""#), "{}", r.body);
    assert!(r.body.contains(r#"value="abc""#) && r.body.contains(r#"value="Deli""#));
    // Nobody to take it off: the domain refuses (409), the form says so.
    let r = s
        .post(
            &post(&sides, "assignment"),
            &[("day", &day), ("assignee", "")],
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("not assigned to anyone"), "{}", r.body);
    // A forged form without the session's token, and an item that is not there.
    let forged = setlink_tests::dashboard::send(
        relay.addr,
        "POST",
        &post(&sides, "money"),
        Some(&s.cookie),
        Some(&[("day", day.as_str()), ("advanced", "500")]),
        &[("origin", &format!("http://{}", relay.addr))],
    )
    .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    let r = s
        .post(
            &post(&sides, "items/no-such-item/check"),
            &[("day", &day), ("checked", "true")],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    let shown = s.get(&page(&sides)).await;
    assert_eq!(shown.status, 200);
    assert!(
        shown.body.contains("No receipts yet."),
        "nothing was written"
    );
    assert!(shown.body.contains(r#"<dd id="advanced">0.00</dd>"#));

    // The board's assign form takes a run off its PA too.
    let r = s
        .post(
            &format!("/dashboard/runs/{coffee}/assign"),
            &[("day", &day), ("assignee", "")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = s.get(&page(&coffee)).await;
    assert!(
        shown.body.contains(r#"data-status="requested""#),
        "{}",
        shown.body
    );
    assert!(shown.body.contains(r#"data-kind="unassigned""#));
    // Cancelled and reopened from the run page, it stays off the PA.
    for action in ["cancel", "reopen"] {
        let r = s
            .post(
                &post(&coffee, "event"),
                &[("day", &day), ("action", action), ("note", "wrong café")],
            )
            .await;
        assert_eq!(r.status, 303, "{action}: {}", r.body);
    }
    let shown = s.get(&page(&coffee)).await;
    assert!(shown.body.contains(r#"data-status="requested""#));
    assert!(shown.body.contains("— unassigned —</p>"), "{}", shown.body);
    assert!(shown.body.contains("“wrong café”"));

    // An item added, then corrected in place.
    let r = s
        .post(
            &post(&coffee, "items"),
            &[("day", &day), ("description", "Lattes"), ("quantity", "4")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = s.get(&page(&coffee)).await;
    let item = shown
        .body
        .split("data-item-id=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("the new item")
        .to_owned();
    let r = s
        .post(
            &post(&coffee, &format!("items/{item}")),
            &[
                ("day", &day),
                ("description", "Lattes, oat"),
                ("quantity", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains(r#"data-field="quantity""#));
    assert!(r.body.contains(r#"value="Lattes, oat""#), "kept as typed");
    let r = s
        .post(
            &post(&coffee, &format!("items/{item}")),
            &[
                ("day", &day),
                ("description", "Lattes, oat"),
                ("quantity", "5"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = s.get(&page(&coffee)).await;
    assert!(shown.body.contains("5 × Lattes, oat"), "{}", shown.body);
}
