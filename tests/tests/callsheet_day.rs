//! A coordinator's call sheet day in a real browser (tests/browser/callsheet_day.mjs) on
//! the real relay: an unsaved change published from the draft form through the review of
//! what changed, a crew phone reading that revision, the next days' drafts carrying from
//! the published day and fed by the production settings, refused forms keeping what was
//! typed, and the pages on a phone-sized screen.

use automerge::Automerge;
use setlink_core::model::callsheet;
use setlink_core::{DocKind, DocumentId};
use setlink_server::production_doc::read_index;
use setlink_server::today::next_day;
use setlink_tests::dashboard::{setup_browser, Script};
use setlink_tests::demo::connected;
use setlink_tests::http::redeem;
use setlink_tests::Relay;

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

fn published_doc(prod: &Automerge, day: &str) -> Option<DocumentId> {
    read_index(prod)
        .ok()?
        .into_iter()
        .find_map(|(id, k)| (k == DocKind::CallSheetPublished { day: day.into() }).then_some(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_sheet_day_in_a_real_browser() {
    setup_browser();
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let day = relay.day.clone();
    let day2 = next_day(&day).expect("the day after the demo day");
    let day3 = next_day(&day2).expect("two days after");

    // A crew member's phone, on the production document from the start.
    let crew = redeem(relay.addr, relay.code("crew"), "Cam", "cam-phone").await;
    let cam = connected(&relay, &crew.token, "cam-phone").await;
    let prod: DocumentId = crew.production_doc_id.parse().unwrap();
    cam.open(prod);

    // Screenshots go to docs/screenshots only when asked, so a plain run leaves the tree
    // clean.
    let out = tempfile::tempdir().unwrap();
    let shots = match std::env::var_os("SETLINK_UPDATE_SCREENSHOTS") {
        Some(_) => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots"),
        None => out.path().to_path_buf(),
    };
    let base = format!("http://{}", relay.addr);
    let mut script = Script::start(
        "callsheet_day.mjs",
        &[
            ("DASH_BASE", base.as_ref()),
            ("DASH_CODE", relay.code("coordinator").as_ref()),
            ("DASH_DAY", day.as_ref()),
            ("DASH_DAY2", day2.as_ref()),
            ("DASH_DAY3", day3.as_ref()),
            ("DASH_SCREENSHOTS", shots.as_os_str()),
        ],
    );
    script.step("signed_in").await;
    let reviewed = script.step("reviewed").await;
    let summary = reviewed["summary"].as_str().unwrap_or_default().to_owned();
    assert!(
        summary.contains("General crew call: 07:00 → 06:00"),
        "prefilled summary: {summary}"
    );

    // The revision published from the unsaved form holds the change, and the phone reads it.
    let rev = script.step("published").await["revision"]
        .as_i64()
        .expect("revision number");
    assert_eq!(rev, 2, "the demo publishes revision 1");
    let d = day.clone();
    cam.wait(10, "the published sheet in the index", move |docs, _| {
        docs.docs
            .get(&prod)
            .is_some_and(|p| published_doc(p, &d).is_some())
    })
    .await;
    let published = cam
        .read(prod, |p| published_doc(p, &day))
        .flatten()
        .unwrap();
    cam.open(published);
    cam.wait(10, "revision 2 on the phone", move |docs, _| {
        docs.docs
            .get(&published)
            .is_some_and(|p| callsheet::latest_revision(p).is_ok_and(|r| r.number == rev))
    })
    .await;
    let latest = cam
        .read(published, |p| callsheet::latest_revision(p).unwrap())
        .unwrap();
    assert_eq!(latest.sheet.times.general_call, Some(6 * 60));
    assert_eq!(latest.sheet.scenes.len(), 1);
    assert_eq!(latest.sheet.scenes[0].number, "12");
    assert_eq!(
        latest
            .sheet
            .nearest_hospital
            .as_ref()
            .map(|h| h.name.as_str()),
        Some("St. Mary's Hospital")
    );
    assert_eq!(
        latest.summary, summary,
        "published with the reviewed summary"
    );
    script.cmd(serde_json::json!({"cmd": "continue"})).await;

    for step in [
        "unchanged_refused",
        "summary_refused",
        "bad_form_kept",
        "next_day_carried",
        "settings_saved",
        "settings_fed",
        "phone_sized",
        "done",
    ] {
        script.step(step).await;
    }
    // Revision 3 (the one that first lacked a summary) reached the phone too.
    cam.wait(10, "revision 3 on the phone", move |docs, _| {
        docs.docs
            .get(&published)
            .is_some_and(|p| callsheet::latest_revision(p).is_ok_and(|r| r.number == 3))
    })
    .await;
    let status = script.child.wait().await.expect("script exit");
    assert!(status.success(), "browser script failed: {status}");
}
