//! The real device stack (core's `Device` on its SQLite store + `client::SyncClient` with a
//! `ProductionScope`) against the real relay binary: a PA's phone and a coordinator's
//! laptop sync the demo production, and a PA's tap reaches the coordinator live.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use setlink_core::client::{ProductionScope, SyncClient, SyncState};
use setlink_core::model::callsheet;
use setlink_core::model::run::{self, RunEvent, RunStatus};
use setlink_core::model::EventContext;
use setlink_core::{Device, DocKind, DocumentId, Role};
use setlink_tests::http::redeem;
use setlink_tests::phone::{client_config, open_device};
use setlink_tests::{within, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

fn find(dev: &Arc<Mutex<Device>>, want: fn(&DocKind) -> bool) -> Option<DocumentId> {
    let d = dev.lock().unwrap();
    d.document_ids()
        .into_iter()
        .find(|id| d.kind_of(id).is_some_and(want))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_clients_sync_the_demo_production_and_a_pa_tap_reaches_the_coordinator_live() {
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
    let crew = redeem(relay.addr, relay.code("crew"), "Cam", "cam-phone").await;
    let prod: DocumentId = pa.production_doc_id.parse().unwrap();
    let today = relay.day.clone();

    let devices_dir = tempfile::tempdir().unwrap();
    let pat = open_device(&devices_dir.path().join("pat.db"), &pa, "pat", Role::Pa);
    let casey = open_device(
        &devices_dir.path().join("casey.db"),
        &coord,
        "casey",
        Role::Coordinator,
    );
    let cam = open_device(&devices_dir.path().join("cam.db"), &crew, "cam", Role::Crew);
    let scope = || Arc::new(ProductionScope::new(prod, [today.clone()]));
    let c_pat = SyncClient::start(pat.clone(), client_config(&relay, &pa), scope())
        .expect("start the sync client");
    let c_casey = SyncClient::start(casey.clone(), client_config(&relay, &coord), scope())
        .expect("start the sync client");
    let c_cam = SyncClient::start(cam.clone(), client_config(&relay, &crew), scope())
        .expect("start the sync client");
    for (c, who) in [(&c_pat, "PA"), (&c_casey, "coordinator"), (&c_cam, "crew")] {
        assert!(
            c.wait_in_sync(Duration::from_secs(20)).await,
            "{who} never in sync: {:?}",
            c.status()
        );
    }
    // Each device holds what its role may read.
    let wait_for = |dev: Arc<Mutex<Device>>, want: fn(&DocKind) -> bool| async move {
        loop {
            if let Some(id) = find(&dev, want) {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    let board = within(
        20,
        "the board on the PA's phone",
        wait_for(pat.clone(), |k| matches!(k, DocKind::Board { .. })),
    )
    .await;
    within(
        20,
        "the board on the coordinator's laptop",
        wait_for(casey.clone(), |k| matches!(k, DocKind::Board { .. })),
    )
    .await;
    let sheet = within(
        20,
        "the published call sheet on the crew phone",
        wait_for(cam.clone(), |k| {
            matches!(k, DocKind::CallSheetPublished { .. })
        }),
    )
    .await;
    within(
        20,
        "the draft on the coordinator's laptop",
        wait_for(casey.clone(), |k| {
            matches!(k, DocKind::CallSheetDraft { .. })
        }),
    )
    .await;
    assert!(
        find(&cam, |k| matches!(k, DocKind::Board { .. })).is_none(),
        "crew got a board"
    );
    assert!(
        find(&pat, |k| matches!(k, DocKind::CallSheetDraft { .. })).is_none(),
        "a PA got a draft"
    );
    let revisions = async {
        loop {
            let n = cam
                .lock()
                .unwrap()
                .read(&sheet, |d| {
                    callsheet::read_revisions(d).map(|r| r.items.len()).ok()
                })
                .ok()
                .flatten();
            if let Some(n) = n {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    let rev = within(20, "revision 1 on the crew phone", revisions).await;
    assert_eq!(rev, 1);

    // The PA picks up one of their runs; the coordinator sees it live.
    let runs_ready = async {
        loop {
            let mine = pat
                .lock()
                .unwrap()
                .read(&board, |d| run::list_runs(d).ok())
                .ok()
                .flatten()
                .map(|runs| {
                    runs.items
                        .into_iter()
                        .filter(|r| r.assigned_pa.as_deref() == Some(pa.member_id.as_str()))
                        .map(|r| r.id().to_owned())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            if !mine.is_empty() {
                return mine;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    let mine = within(20, "the PA's runs", runs_ready).await;
    let run_id = mine[0].clone();
    let tapped = Instant::now();
    pat.lock()
        .unwrap()
        .apply(&board, |d, by, at| {
            run::record_status(d, by, at, &run_id, RunEvent::PickUp, EventContext::none())
        })
        .expect("picked up");
    let live = async {
        loop {
            let status = casey
                .lock()
                .unwrap()
                .read(&board, |d| {
                    run::run_state(d, &run_id).ok().map(|s| s.status)
                })
                .ok()
                .flatten();
            if status == Some(RunStatus::PickedUp) {
                return tapped.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let took = within(10, "the coordinator to see the pick-up", live).await;
    eprintln!("PA tap -> coordinator: {took:?}");
    assert!(
        took < Duration::from_secs(2),
        "status took {took:?} to reach the coordinator"
    );

    // Crew's device cannot write the call sheet: the device refuses before sending.
    let refused = cam.lock().unwrap().apply(&sheet, |d, by, at| {
        callsheet::init_published(d, by, at, &today)
    });
    assert!(refused.is_err());

    c_pat.stop().await;
    c_casey.stop().await;
    c_cam.stop().await;
}

/// A revoked member's phone is told once, stops dialing, and says "sign in again"; its
/// local changes stay pending. Counted on the relay: no further refused connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_stops_retrying_and_asks_to_sign_in_again() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "pat-phone").await;
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "c1").await;
    let prod: DocumentId = pa.production_doc_id.parse().unwrap();
    let devices_dir = tempfile::tempdir().unwrap();
    let pat = open_device(&devices_dir.path().join("pat.db"), &pa, "pat", Role::Pa);
    let scope = Arc::new(ProductionScope::new(prod, [relay.day.clone()]));
    let client = SyncClient::start(pat.clone(), client_config(&relay, &pa), scope)
        .expect("start the sync client");
    assert!(client.wait_in_sync(Duration::from_secs(20)).await);
    // The day's board with its runs on the phone before the member is cut off.
    let board_ready = async {
        loop {
            if let Some(board) = find(&pat, |k| matches!(k, DocKind::Board { .. })) {
                let runs = pat.lock().unwrap().read(&board, |d| {
                    run::list_runs(d).map(|l| l.items.len()).unwrap_or(0)
                });
                if runs.unwrap_or(0) > 0 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    within(20, "the board on the phone", board_ready).await;

    let (st, v) = setlink_tests::http::request(
        relay.addr,
        "POST",
        &format!("/api/members/{}/revoke", pa.member_id),
        Some(&coord.token),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let signed_out = async {
        while client.status().state != SyncState::SignInRequired {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    within(10, "the phone to ask to sign in again", signed_out).await;

    // A tap after revocation stays on the phone, pending, and nothing dials the relay:
    // the backoff here is 50–500 ms, so a retrying client would be refused many times.
    let refused = |m: &str| {
        setlink_tests::http::metric(m, "setlink_refusals_total{reason=\"unauthenticated\"}")
    };
    let before = refused(&setlink_tests::http::metrics(relay.addr).await);
    let board = find(&pat, |k| matches!(k, DocKind::Board { .. })).expect("board");
    // What was still pending when the relay let go (the phone's own "received" for the
    // call sheet may be, if it was recorded just before), so the tap is counted exactly.
    let pending = client.status().pending_local_changes;
    pat.lock()
        .unwrap()
        .apply(&board, |doc, by, at| {
            let id = run::list_runs(doc)?.items[0].id().to_owned();
            run::add_comment(doc, by, at, &id, "still out here")
        })
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = client.status();
    assert_eq!(status.state, SyncState::SignInRequired);
    assert_eq!(status.pending_local_changes, pending + 1);
    assert_eq!(
        refused(&setlink_tests::http::metrics(relay.addr).await),
        before,
        "a signed-out client must not dial again"
    );
}

/// `received` is recorded by the device itself when it syncs a published call sheet
/// (PRODUCT.md: "their device synced it"): the crew phone writes it to its own member
/// document, the relay's write rules accept it and the coordinator's laptop sees it. A
/// second device of the same member syncs the same revision and records nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncing_a_published_call_sheet_records_received_once_per_revision() {
    use setlink_core::model::member::{self, AckLevel};
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let coord = redeem(
        relay.addr,
        relay.code("coordinator"),
        "Casey",
        "casey-laptop",
    )
    .await;
    let crew = redeem(relay.addr, relay.code("crew"), "Cam", "cam-phone").await;
    let prod: DocumentId = crew.production_doc_id.parse().unwrap();
    let today = relay.day.clone();
    let devices_dir = tempfile::tempdir().unwrap();
    let scope = || Arc::new(ProductionScope::new(prod, [today.clone()]));
    let cam_id = crew.member_id.clone();
    let is_cams =
        move |k: &DocKind| matches!(k, DocKind::Member { member_id } if *member_id == cam_id);
    // (received time, changes in the member document) once `dev` holds Cam's receipt of
    // revision 1.
    let received = |dev: Arc<Mutex<Device>>, who: &'static str| {
        let is_cams = is_cams.clone();
        let day = today.clone();
        within(20, who, async move {
            loop {
                let found = {
                    let mut d = dev.lock().unwrap();
                    let id = d
                        .document_ids()
                        .into_iter()
                        .find(|id| d.kind_of(id).is_some_and(&is_cams));
                    id.and_then(|id| {
                        d.read(&id, |doc| {
                            member::ack_for(doc, &day, 1)
                                .filter(|a| a.has(AckLevel::Received))
                                .and_then(|a| a.received_at)
                                .map(|t| (t, doc.get_changes(&[]).len()))
                        })
                        .ok()
                        .flatten()
                    })
                };
                if let Some(f) = found {
                    return f;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };

    let cam = open_device(&devices_dir.path().join("cam.db"), &crew, "cam", Role::Crew);
    let c_cam = SyncClient::start(cam.clone(), client_config(&relay, &crew), scope()).unwrap();
    let (at, changes) = received(cam.clone(), "received recorded on the crew phone").await;
    assert!(
        c_cam.wait_in_sync(Duration::from_secs(20)).await,
        "the crew phone never in sync (the relay refused its receipt?): {:?}",
        c_cam.status()
    );

    // The relay took it: the coordinator's laptop sees the same receipt.
    let casey = open_device(
        &devices_dir.path().join("casey.db"),
        &coord,
        "casey",
        Role::Coordinator,
    );
    let c_casey = SyncClient::start(casey.clone(), client_config(&relay, &coord), scope()).unwrap();
    let (seen_at, _) = received(casey.clone(), "Cam's receipt on the coordinator's laptop").await;
    assert_eq!(seen_at, at);

    // Cam's second device syncs the same revision: it finds the receipt and adds none.
    c_cam.stop().await;
    let tablet = open_device(
        &devices_dir.path().join("cam-tablet.db"),
        &crew,
        "cam-tablet",
        Role::Crew,
    );
    let c_tablet =
        SyncClient::start(tablet.clone(), client_config(&relay, &crew), scope()).unwrap();
    assert!(c_tablet.wait_in_sync(Duration::from_secs(20)).await);
    let (tablet_at, tablet_changes) = received(tablet.clone(), "the receipt on the tablet").await;
    assert_eq!((tablet_at, tablet_changes), (at, changes));
    c_tablet.stop().await;
    c_casey.stop().await;
}
