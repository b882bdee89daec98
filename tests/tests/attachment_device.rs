//! A receipt photo taken on a PA's phone with no signal, on the real device stack (core's
//! `Device` on its SQLite store and `client::SyncClient`) against the real relay: the
//! photo is kept on the phone, uploaded when the phone is back online after the receipt
//! that references it, shown as a thumbnail in the coordinator's browser (chromium,
//! tests/browser/photos.mjs), and fetched on demand by the coordinator's laptop.

use std::sync::Arc;
use std::time::Duration;

use setlink_core::client::{ProductionScope, SyncClient};
use setlink_core::model::run::{self, ReceiptInput};
use setlink_core::{DocKind, DocumentId, Role};
use setlink_tests::dashboard::{setup_browser, Script};
use setlink_tests::http::redeem;
use setlink_tests::phone::{client_config, open_device};
use setlink_tests::photos::jpeg;
use setlink_tests::{within, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

/// The day's board once the phone holds it with its runs.
async fn todays_board(dev: &Arc<std::sync::Mutex<setlink_core::Device>>, day: &str) -> DocumentId {
    let today = DocKind::Board {
        day: day.to_owned(),
    };
    within(20, "the day's board and its runs on the phone", async {
        loop {
            let found = {
                let mut d = dev.lock().unwrap();
                let id = d
                    .document_ids()
                    .into_iter()
                    .find(|id| d.kind_of(id) == Some(&today));
                id.filter(|id| {
                    d.read(id, |doc| {
                        run::list_runs(doc).is_ok_and(|r| !r.items.is_empty())
                    })
                    .unwrap_or(false)
                })
            };
            if let Some(id) = found {
                break id;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_photographed_offline_reaches_the_coordinators_browser_as_a_thumbnail() {
    setup_browser();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "pat-phone").await;
    let coord = redeem(
        relay.addr,
        relay.code("coordinator"),
        "Casey",
        "casey-laptop",
    )
    .await;
    let prod: DocumentId = pa.production_doc_id.parse().unwrap();
    let day = relay.day.clone();
    let scope = || Arc::new(ProductionScope::new(prod, [day.clone()]));
    let phone_db = dir.path().join("pat-phone.db");

    // The PA syncs the day's board, then loses signal.
    let pat = open_device(&phone_db, &pa, "pat-phone", Role::Pa);
    let client = SyncClient::start(pat.clone(), client_config(&relay, &pa), scope()).unwrap();
    assert!(
        client.wait_in_sync(Duration::from_secs(20)).await,
        "{:?}",
        client.status()
    );
    let board = todays_board(&pat, &day).await;
    client.stop().await;

    // Offline: the photo is taken, the receipt logged against it, and the app killed.
    let bytes = jpeg(1400, 900, 7);
    let (photo_ref, run_id) = {
        let mut d = pat.lock().unwrap();
        let r = d.add_attachment(&bytes).expect("the phone keeps the photo");
        assert_eq!(
            d.add_attachment(&bytes).unwrap(),
            r,
            "the same photo twice is one photo"
        );
        let run_id = d
            .read(&board, |doc| {
                run::list_runs(doc).unwrap().items[0].record.id.clone()
            })
            .unwrap();
        let reference = r.to_reference();
        d.apply(&board, |doc, by, at| {
            let input = ReceiptInput {
                vendor: "Craft Depot".into(),
                total_cents: 4_250,
                tax_cents: 350,
                account_code: Some("2150".into()),
                photo_ref: Some(reference),
            };
            run::add_receipt(doc, by, at, &run_id, input)
        })
        .expect("the receipt, offline");
        (r, run_id)
    };
    drop(pat);
    let pat = open_device(&phone_db, &pa, "pat-phone", Role::Pa);
    assert_eq!(
        pat.lock().unwrap().bytes_pending_upload().unwrap(),
        bytes.len() as u64,
        "the photo survived the app being killed, waiting to upload"
    );

    // The coordinator has the run open while the phone is still offline.
    let base = format!("http://{}", relay.addr);
    let env = [
        ("DASH_BASE", base.as_ref()),
        ("DASH_CODE", relay.code("coordinator").as_ref()),
        ("DASH_DAY", day.as_ref()),
        ("DASH_RUN_ID", run_id.as_ref()),
        ("DASH_PHOTO", photo_ref.hash.as_ref()),
    ];
    let mut script = Script::start("photos.mjs", &env);
    let before = script.step("run_page").await;
    assert_eq!(
        before["pending"], 0,
        "the relay knows nothing of the receipt yet"
    );

    // Back in signal: the receipt syncs, then the photo uploads by itself.
    let client = SyncClient::start(pat.clone(), client_config(&relay, &pa), scope()).unwrap();
    within(30, "the photo uploaded", async {
        loop {
            let s = client.status();
            if s.attachment_bytes_pending == 0
                && pat.lock().unwrap().bytes_pending_upload().unwrap() == 0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    script.cmd(serde_json::json!({"cmd": "uploaded"})).await;
    let shown = script.step("thumbnail").await;
    assert_eq!(shown["width"], 320, "{shown}");
    let cash = script.step("petty_cash").await;
    assert_eq!(cash["thumbnails"], 1, "{cash}");
    script.step("done").await;

    // The coordinator's laptop fetches it on demand, byte for byte, then from its cache.
    let laptop = open_device(
        &dir.path().join("casey.db"),
        &coord,
        "casey-laptop",
        Role::Coordinator,
    );
    let c2 = SyncClient::start(laptop.clone(), client_config(&relay, &coord), scope()).unwrap();
    assert!(c2.wait_in_sync(Duration::from_secs(20)).await);
    let got = c2
        .attachments()
        .fetch(&photo_ref.hash, board)
        .await
        .expect("fetch");
    assert!(got == bytes, "the coordinator's copy is the PA's photo");
    assert_eq!(
        laptop
            .lock()
            .unwrap()
            .attachment_bytes(&photo_ref.hash)
            .unwrap(),
        Some(bytes)
    );
    client.stop().await;
    c2.stop().await;
}

/// Collects the refusals a sync client reports.
struct Refusals(std::sync::Mutex<Vec<setlink_core::client::RefusalEvent>>);

impl setlink_core::client::RefusalObserver for Refusals {
    fn refused(&self, event: &setlink_core::client::RefusalEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_the_relay_will_not_take_is_reported_to_the_app_and_kept_on_the_phone() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &["--max-attachment-bytes", "200000"]);
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "pat-phone").await;
    let prod: DocumentId = pa.production_doc_id.parse().unwrap();
    let day = relay.day.clone();
    let pat = open_device(&dir.path().join("pat.db"), &pa, "pat-phone", Role::Pa);
    let scope = Arc::new(ProductionScope::new(prod, [day.clone()]));
    let client = SyncClient::start(pat.clone(), client_config(&relay, &pa), scope).unwrap();
    let refusals = Arc::new(Refusals(std::sync::Mutex::new(Vec::new())));
    client.add_refusal_observer(refusals.clone());
    assert!(client.wait_in_sync(Duration::from_secs(20)).await);
    let board = todays_board(&pat, &day).await;

    // A photo over this relay's limit (the phone's own limit is higher).
    let bytes = jpeg(700, 500, 8);
    assert!(bytes.len() > 200_000);
    {
        let mut d = pat.lock().unwrap();
        let r = d.add_attachment(&bytes).unwrap();
        let run_id = d
            .read(&board, |doc| {
                run::list_runs(doc).unwrap().items[0].record.id.clone()
            })
            .unwrap();
        d.apply(&board, |doc, by, at| {
            let input = ReceiptInput {
                vendor: "Big Print Shop".into(),
                total_cents: 9_900,
                tax_cents: 0,
                account_code: None,
                photo_ref: Some(r.to_reference()),
            };
            run::add_receipt(doc, by, at, &run_id, input)
        })
        .unwrap();
    }
    let ev = within(30, "the refusal", async {
        loop {
            if let Some(ev) = refusals.0.lock().unwrap().first().cloned() {
                break ev;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(
        (ev.rule.as_str(), ev.ours, ev.document_id),
        ("attachment", true, board)
    );
    assert!(ev.message.contains("at most 200000"), "{}", ev.message);
    assert_eq!(
        pat.lock().unwrap().bytes_pending_upload().unwrap(),
        bytes.len() as u64,
        "the photo stays on the phone"
    );
    client.stop().await;
}
