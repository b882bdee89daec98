//! The dashboard degrades instead of failing (PRODUCT.md promise 6) and reads only its own
//! production's documents, whatever that production's index says.
//!
//! The relay runs in-process on an ephemeral port; documents are shaped through the hub
//! directly (a damaged run, a JavaScript client's Text title, an index entry naming another
//! production's board), then the pages are fetched over HTTP with a signed-in session.

use std::net::SocketAddr;
use std::sync::Arc;

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ReadDoc, ROOT};
use setlink_core::model::callsheet::{self, CallSheet};
use setlink_core::model::run::{self, NewRun, RunKind};
use setlink_core::{Author, DocKind, DocumentId, Role};
use setlink_server::admin::{self, ProductionDetails};
use setlink_server::http::{self, AppState, Settings};
use setlink_server::hub::{Hub, HubConfig};
use setlink_server::storage::DocInfo;
use setlink_server::{dashboard, production_doc, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DAY: &str = "2026-11-24";
const T0: i64 = 1_795_507_200_000;

struct Relay {
    addr: SocketAddr,
    hub: Arc<Hub>,
    settings: Settings,
    _dir: tempfile::TempDir,
}

async fn relay() -> Relay {
    let dir = tempfile::tempdir().unwrap();
    let hub = serve::open_hub(dir.path(), HubConfig::default())
        .await
        .unwrap();
    let settings = Settings::default();
    let state = AppState {
        hub: hub.clone(),
        settings: Arc::new(settings.clone()),
    };
    let app = http::router(state, dashboard::router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Relay {
        addr,
        hub,
        settings,
        _dir: dir,
    }
}

struct Resp {
    status: u16,
    head: String,
    body: String,
}

/// One HTTP/1.1 request on its own connection.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: setlink_session={c}\r\n"));
    }
    let body = form.unwrap_or("");
    if form.is_some() {
        req.push_str(&format!(
            "Origin: http://{addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Resp {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

struct Production {
    id: String,
    doc: DocumentId,
    coordinator: String,
    cookie: String,
}

/// A production with its coordinator signed in to the dashboard.
async fn production(r: &Relay, title: &str) -> Production {
    let p = admin::create_production(
        r.hub.storage().as_ref(),
        ProductionDetails {
            title,
            company: None,
            timezone: None,
        },
        "Casey",
        &r.settings,
    )
    .await
    .unwrap();
    let code: String = p
        .coordinator_invite
        .chars()
        .map(|c| if c == ' ' { '+' } else { c })
        .collect();
    let resp = send(
        r.addr,
        "POST",
        "/dashboard/signin",
        None,
        Some(&format!("code={code}&name=Casey")),
    )
    .await;
    assert_eq!(resp.status, 303, "{}\n{}", resp.head, resp.body);
    let cookie = resp
        .head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie:")
                .then(|| l.split_once("setlink_session=").map(|(_, v)| v))
                .flatten()
        })
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    Production {
        id: p.production_id,
        doc: p.production_doc_id.parse().unwrap(),
        coordinator: p.coordinator_member_id,
        cookie,
    }
}

fn coordinator(p: &Production) -> Author {
    Author {
        member_id: p.coordinator.clone(),
        device_id: "test".into(),
        role: Role::Coordinator,
    }
}

/// Creates a document of `p` through the hub, as the dashboard does, and indexes it.
async fn create_doc(r: &Relay, p: &Production, kind: DocKind, doc: Automerge) -> DocumentId {
    let id = DocumentId::random();
    r.hub
        .create_document(
            id,
            DocInfo {
                production_id: p.id.clone(),
                kind: kind.clone(),
            },
            &doc,
        )
        .await
        .unwrap();
    index(r, p, id, kind).await;
    id
}

/// Lists `id` in `p`'s production document index (as any coordinator of `p` can).
async fn index(r: &Relay, p: &Production, id: DocumentId, kind: DocKind) {
    r.hub
        .change(p.doc, move |doc| {
            production_doc::index_document(doc, id, &kind, T0).map_err(|e| e.to_string())
        })
        .await
        .unwrap();
}

async fn board_with(r: &Relay, p: &Production, titles: &[&str]) -> (DocumentId, Vec<String>) {
    let by = coordinator(p);
    let mut doc = Automerge::new();
    run::init_board(&mut doc, &by, T0).unwrap();
    let mut ids = Vec::new();
    for t in titles {
        ids.push(
            run::create_run(&mut doc, &by, T0, NewRun::new(RunKind::Pickup, *t, "AD")).unwrap(),
        );
    }
    let id = create_doc(
        r,
        p,
        DocKind::Board {
            day: DAY.to_owned(),
        },
        doc,
    )
    .await;
    (id, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_with_an_unreadable_run_answers_200_with_a_note() {
    let r = relay().await;
    let p = production(&r, "Night Shift").await;
    let (board, ids) = board_with(&r, &p, &["Good run", "Damaged run", "JS run"]).await;
    let (bad, js) = (ids[1].clone(), ids[2].clone());
    r.hub
        .change(board, move |doc| {
            let runs = doc.get(ROOT, "runs").unwrap().unwrap().1;
            let mut tx = doc.transaction();
            let b = tx.get(&runs, bad.as_str()).unwrap().unwrap().1;
            tx.put(&b, "priority", 42).unwrap();
            let j = tx.get(&runs, js.as_str()).unwrap().unwrap().1;
            let t = tx.put_object(&j, "title", ObjType::Text).unwrap();
            tx.splice_text(&t, 0, 0, "Text-titled run").unwrap();
            tx.commit();
            Ok(())
        })
        .await
        .unwrap();

    for path in [
        format!("/dashboard/board?day={DAY}"),
        format!("/dashboard/fragment/board?day={DAY}"),
    ] {
        let resp = send(r.addr, "GET", &path, Some(&p.cookie), None).await;
        assert_eq!(resp.status, 200, "{path}: {}", resp.body);
        assert!(resp.body.contains("Good run"), "{path}");
        assert!(resp.body.contains("Text-titled run"), "{path}");
        assert!(!resp.body.contains("Damaged run"), "{path}");
        assert!(
            resp.body.contains("1 run could not be read"),
            "{path}: {}",
            resp.body
        );
        assert!(resp.body.contains(&ids[1]), "{path}");
        assert!(resp.body.contains("priority"), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_sheet_with_an_unreadable_row_renders_and_prints_with_a_note() {
    let r = relay().await;
    let p = production(&r, "Night Shift").await;
    let by = coordinator(&p);
    let mut sheet = CallSheet::for_day(DAY, "Night Shift");
    sheet.times.general_call = Some(7 * 60);
    for (id, set) in [("s1", "Diner"), ("s2", "Warehouse")] {
        sheet.scenes.push(callsheet::Scene {
            id: id.into(),
            number: id.into(),
            set: set.into(),
            ..Default::default()
        });
    }
    let mut draft = Automerge::new();
    callsheet::init_draft(&mut draft, &by, T0, DAY, sheet).unwrap();
    let mut published = Automerge::new();
    callsheet::init_published(&mut published, &by, T0, DAY).unwrap();
    callsheet::publish(&draft, &mut published, &by, T0, "").unwrap();
    // Scene s2 gets a page count no version of setlink writes, in the draft and revision 1.
    for doc in [&mut draft, &mut published] {
        let sheet = match doc.get(ROOT, "sheet").unwrap() {
            Some((_, s)) => s,
            None => {
                let revs = doc.get(ROOT, "revisions").unwrap().unwrap().1;
                let rev = doc.get(&revs, 0).unwrap().unwrap().1;
                doc.get(&rev, "sheet").unwrap().unwrap().1
            }
        };
        let scenes = doc.get(&sheet, "scenes").unwrap().unwrap().1;
        let s2 = doc.get(&scenes, 1).unwrap().unwrap().1;
        let mut tx = doc.transaction();
        tx.put(&s2, "pages_eighths", "lots").unwrap();
        tx.commit();
    }
    create_doc(
        &r,
        &p,
        DocKind::CallSheetDraft {
            day: DAY.to_owned(),
        },
        draft,
    )
    .await;
    create_doc(
        &r,
        &p,
        DocKind::CallSheetPublished {
            day: DAY.to_owned(),
        },
        published,
    )
    .await;

    let resp = send(
        r.addr,
        "GET",
        &format!("/dashboard/callsheet?day={DAY}"),
        Some(&p.cookie),
        None,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(resp.body.contains("Diner"));
    assert!(
        resp.body.contains("2 scenes could not be read"),
        "{}",
        resp.body
    );
    assert!(resp.body.contains("pages_eighths"));

    let resp = send(
        r.addr,
        "GET",
        &format!("/dashboard/print?day={DAY}"),
        Some(&p.cookie),
        None,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(resp.body.contains("Diner") && !resp.body.contains("Warehouse"));
    assert!(
        resp.body.contains("1 scene could not be read"),
        "{}",
        resp.body
    );

    let resp = send(
        r.addr,
        "GET",
        &format!("/dashboard/print.pdf?day={DAY}"),
        Some(&p.cookie),
        None,
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(resp.body.starts_with("%PDF-"));

    let resp = send(
        r.addr,
        "GET",
        &format!("/dashboard/acks?day={DAY}"),
        Some(&p.cookie),
        None,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(
        resp.body.contains("1 scene could not be read"),
        "{}",
        resp.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_productions_documents_in_the_index_are_not_shown() {
    let r = relay().await;
    let a = production(&r, "Production A").await;
    let b = production(&r, "Production B").await;
    let (a_board, _) = board_with(&r, &a, &["A's secret run"]).await;
    let by = coordinator(&a);
    let mut sheet = CallSheet::for_day(DAY, "Production A");
    sheet.header.director = Some("A's secret director".into());
    let mut draft = Automerge::new();
    callsheet::init_draft(&mut draft, &by, T0, DAY, sheet).unwrap();
    let a_draft = create_doc(
        &r,
        &a,
        DocKind::CallSheetDraft {
            day: DAY.to_owned(),
        },
        draft,
    )
    .await;
    // B's coordinator lists A's documents in B's index.
    index(
        &r,
        &b,
        a_board,
        DocKind::Board {
            day: DAY.to_owned(),
        },
    )
    .await;
    index(
        &r,
        &b,
        a_draft,
        DocKind::CallSheetDraft {
            day: DAY.to_owned(),
        },
    )
    .await;
    let resp = send(
        r.addr,
        "GET",
        &format!("/dashboard/board?day={DAY}"),
        Some(&b.cookie),
        None,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(!resp.body.contains("A's secret run"), "{}", resp.body);
    assert!(resp.body.contains(&a_board.to_string()));
    assert!(resp.body.contains("another production"), "{}", resp.body);

    let resp = send(
        r.addr,
        "GET",
        &format!("/dashboard/callsheet?day={DAY}"),
        Some(&b.cookie),
        None,
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(!resp.body.contains("A's secret director"));
    assert!(resp.body.contains(&a_draft.to_string()));

    // Publishing in B never copies A's draft that B's index names.
    let csrf = resp
        .body
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a CSRF token")
        .to_owned();
    let resp = send(
        r.addr,
        "POST",
        &format!("/dashboard/callsheet/publish?day={DAY}"),
        Some(&b.cookie),
        Some(&format!(
            "_csrf={csrf}&production_title=B%27s+own+sheet&summary=First+revision"
        )),
    )
    .await;
    // B's index names A's document as B's draft: writing it is refused, nothing of A's
    // is read or copied, and the coordinator is told what to fix.
    assert_eq!(resp.status, 409, "{}", resp.body);
    assert!(
        resp.body.contains("another production") && resp.body.contains("Nothing was changed"),
        "{}",
        resp.body
    );
    assert!(!resp.body.contains("A's secret director"), "{}", resp.body);
    // A's own dashboard still shows A's board.
    let resp = send(
        r.addr,
        "GET",
        &format!("/dashboard/board?day={DAY}"),
        Some(&a.cookie),
        None,
    )
    .await;
    assert_eq!(resp.status, 200);
    assert!(resp.body.contains("A's secret run"));
    assert!(!resp.body.contains("could not be read"));
}
