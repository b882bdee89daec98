//! The daily production report against the real relay process, its day pinned by
//! `--today` (never the wall clock): a coordinator drafts it from the day's data on the
//! dashboard, types an incident, marks a scene shot and publishes; the PDF of that revision
//! says so; the office reads but cannot publish; a raw automerge-repo client that rewrites
//! the published revision is refused and nothing of it is stored.

use std::process::Command;

use automerge::transaction::Transactable;
use automerge::{Automerge, ReadDoc, ROOT};
use setlink_core::model::callsheet::{self, Scene};
use setlink_core::model::callsheet_text::format_eighths;
use setlink_core::model::report::{self, ReportContent, Shot};
use setlink_core::rules::notice;
use setlink_core::{Author, DocKind, DocumentId, Role};
use setlink_server::production_doc::read_index;
use setlink_tests::dashboard::sign_in;
use setlink_tests::demo::{connected, synced};
use setlink_tests::http::redeem;
use setlink_tests::Relay;

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

fn report_doc(prod: &Automerge, day: &str) -> Option<DocumentId> {
    read_index(prod)
        .ok()?
        .into_iter()
        .find_map(|(id, k)| (k == DocKind::ProductionReport { day: day.into() }).then_some(id))
}

fn pdftotext(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The form a browser posts for `r` (times left as drafted are not retyped here: the
/// dashboard's unit tests hold the zone's round trip).
fn form_of(r: &ReportContent) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = vec![
        ("production_title".into(), r.production_title.clone()),
        ("runs_completed".into(), r.runs_completed.to_string()),
        (
            "runs_not_completed".into(),
            r.runs_not_completed.to_string(),
        ),
        ("incidents".into(), r.incidents.clone()),
        ("notes".into(), r.notes.clone()),
        (
            "background".into(),
            r.background
                .iter()
                .map(|b| format!("{} | {} | {}", b.description, b.expected, b.used))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        (
            "gear_out".into(),
            r.gear_out
                .iter()
                .map(|g| format!("{} | {}", g.what, g.count))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ];
    if let Some(n) = r.day_number {
        f.push(("day_number".into(), n.to_string()));
    }
    if let Some(n) = r.total_days {
        f.push(("total_days".into(), n.to_string()));
    }
    for (i, s) in r.scenes.iter().enumerate() {
        f.push((format!("scene_id_{i}"), s.id.clone()));
        f.push((format!("scene_number_{i}"), s.number.clone()));
        f.push((format!("scene_set_{i}"), s.set.clone()));
        f.push((format!("scene_pages_{i}"), format_eighths(s.pages_eighths)));
        f.push((format!("scene_status_{i}"), s.status.as_str().into()));
        f.push((
            format!("scene_shot_{i}"),
            format_eighths(s.pages_shot_eighths),
        ));
    }
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_drafts_and_publishes_the_days_report_and_it_stays_frozen() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let day = relay.day.clone();
    let s = sign_in(relay.addr, relay.code("coordinator"))
        .await
        .expect("the coordinator signs in");

    // A coordinator's phone adds two scenes to the demo day's call sheet and publishes it.
    let coord = redeem(
        relay.addr,
        relay.code("coordinator"),
        "Casey",
        "casey-phone",
    )
    .await;
    let prod: DocumentId = coord.production_doc_id.parse().unwrap();
    let phone = connected(&relay, &coord.token, "casey-phone").await;
    synced(&phone, prod).await;
    let d = day.clone();
    let sheet_kind = DocKind::CallSheetPublished { day: day.clone() };
    let kind = sheet_kind.clone();
    phone
        .wait(10, "the published sheet in the index", move |docs, _| {
            docs.docs
                .get(&prod)
                .is_some_and(|p| read_index(p).is_ok_and(|i| i.iter().any(|(_, k)| *k == kind)))
        })
        .await;
    let sheet_doc = phone
        .read(prod, |p| {
            read_index(p)
                .unwrap()
                .into_iter()
                .find_map(|(id, k)| (k == sheet_kind).then_some(id))
        })
        .flatten()
        .unwrap();
    synced(&phone, sheet_doc).await;
    phone
        .wait(10, "revision 1 of the sheet", move |docs, _| {
            docs.docs
                .get(&sheet_doc)
                .is_some_and(|d| callsheet::latest_revision(d).is_ok())
        })
        .await;
    let by = Author {
        member_id: coord.member_id.clone(),
        device_id: "casey-phone".into(),
        role: Role::Coordinator,
    };
    phone.change(sheet_doc, |d| {
        let latest = callsheet::latest_revision(d).unwrap();
        let mut sheet = latest.sheet.clone();
        for (id, number, eighths) in [("sc-1", "12", 12), ("sc-2", "13A", 5)] {
            sheet.scenes.push(Scene {
                id: id.into(),
                number: number.into(),
                set: format!("INT. DINER {number}"),
                pages_eighths: eighths,
                ..Default::default()
            });
        }
        let at = latest.published_at + 60_000;
        callsheet::publish_sheet(d, &by, at, sheet, "scenes added").unwrap();
    });

    // Drafted on the dashboard from the published sheet, board, background and gear, until
    // the relay has the new revision.
    let mut drafted = None;
    for _ in 0..50 {
        let r = s
            .post(&format!("/dashboard/report/draft?day={day}"), &[])
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        let page = s.get(r.location.as_deref().unwrap_or_default()).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Drafted from today"), "{}", page.body);
        if page.body.contains("13A") {
            drafted = Some(());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        drafted.is_some(),
        "the report never drafted the new revision's scenes"
    );

    // The document, as the coordinator's phone syncs it.
    phone
        .wait(10, "the report in the index", move |docs, _| {
            docs.docs
                .get(&prod)
                .is_some_and(|p| report_doc(p, &d).is_some())
        })
        .await;
    let doc_id = phone.read(prod, |p| report_doc(p, &day)).flatten().unwrap();
    synced(&phone, doc_id).await;
    phone
        .wait(10, "the drafted report", move |docs, _| {
            docs.docs
                .get(&doc_id)
                .is_some_and(|d| report::read_draft(d).is_ok_and(|r| r.value.scenes.len() == 2))
        })
        .await;
    let drafted = phone
        .read(doc_id, |d| report::read_draft(d).unwrap().value)
        .unwrap();
    assert!(
        drafted.runs_completed + drafted.runs_not_completed > 0,
        "{drafted:?}"
    );
    assert_eq!(drafted.scheduled_eighths(), 17);

    // The AD marks the first scene shot and types an incident, then publishes.
    let mut typed = drafted.clone();
    typed.scenes[0].status = Shot::Shot;
    typed.scenes[0].pages_shot_eighths = typed.scenes[0].pages_eighths;
    typed.incidents = "Grip twisted an ankle at the loading dock; first aid, back at work.".into();
    let fields = form_of(&typed);
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = s
        .post(&format!("/dashboard/report/publish?day={day}"), &pairs)
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/dashboard/report?day={day}&published=1").as_str())
    );
    // Publishing the same again is refused, with the form back as typed.
    let again = s
        .post(&format!("/dashboard/report/publish?day={day}"), &pairs)
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(
        again.body.contains("unchanged since revision 1"),
        "{}",
        again.body
    );
    assert!(again.body.contains("loading dock"), "{}", again.body);

    // The PDF of revision 1 holds what was published.
    let pdf = s
        .get(&format!("/dashboard/report.pdf?day={day}&revision=1"))
        .await;
    assert_eq!(pdf.status, 200, "{}", pdf.body);
    let text = pdftotext(&pdf.bytes);
    let first = &typed.scenes[0];
    for want in [
        "Grip twisted an ankle at the loading dock",
        first.number.as_str(),
        "Shot",
        &format!("shot {} pages", format_eighths(typed.shot_eighths())),
        &format!("Runs completed: {}", typed.runs_completed),
    ] {
        assert!(text.contains(want), "the PDF lacks `{want}`:\n{text}");
    }
    let missing = s
        .get(&format!("/dashboard/report.pdf?day={day}&revision=2"))
        .await;
    assert_eq!(missing.status, 404, "{}", missing.body);

    // The office reads the report and its PDF but cannot save or publish.
    let office = sign_in(relay.addr, relay.code("office"))
        .await
        .expect("office signs in");
    assert_eq!(
        office
            .get(&format!("/dashboard/report?day={day}"))
            .await
            .status,
        200
    );
    let opdf = office
        .get(&format!("/dashboard/report.pdf?day={day}"))
        .await;
    assert_eq!(opdf.status, 200);
    let r = office
        .post(&format!("/dashboard/report/publish?day={day}"), &pairs)
        .await;
    assert_eq!(r.status, 403, "{}", r.body);

    // A raw client rewriting the published revision is refused; the relay keeps revision 1.
    phone
        .wait(10, "revision 1 on the phone", move |docs, _| {
            docs.docs
                .get(&doc_id)
                .is_some_and(|d| report::latest_revision(d).is_ok_and(|r| r.is_some()))
        })
        .await;
    let before = phone.seen(|s| s.ephemeral.len());
    phone.change(doc_id, |d| {
        let list = d.get(ROOT, "revisions").unwrap().unwrap().1;
        let rev = d.get(&list, 0).unwrap().unwrap().1;
        let content = d.get(&rev, "report").unwrap().unwrap().1;
        let mut tx = d.transaction();
        tx.put(&content, "incidents", "Nothing happened.").unwrap();
        tx.commit();
    });
    phone
        .wait(10, "a refusal notice", move |_, s| {
            s.ephemeral.len() > before
        })
        .await;
    let n = phone
        .seen(|s| {
            s.ephemeral
                .iter()
                .rev()
                .find_map(|(_, _, data)| notice::decode(data))
        })
        .expect("a refusal notice");
    assert_eq!(n.rule, "published-revision", "{n:?}");
    assert_eq!(n.document_id, doc_id.to_string());
    let fresh = connected(&relay, &coord.token, "fresh-reader").await;
    synced(&fresh, doc_id).await;
    fresh
        .wait(10, "the published revision", move |docs, _| {
            docs.docs
                .get(&doc_id)
                .is_some_and(|d| report::latest_revision(d).is_ok_and(|r| r.is_some()))
        })
        .await;
    let kept = fresh
        .read(doc_id, |d| report::latest_revision(d).unwrap().unwrap())
        .unwrap();
    assert_eq!(kept.number, 1);
    assert_eq!(kept.report.incidents, typed.incidents);
    let pdf = s
        .get(&format!("/dashboard/report.pdf?day={day}&revision=1"))
        .await;
    assert!(pdftotext(&pdf.bytes).contains("loading dock"));
}
