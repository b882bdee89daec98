//! The demo production as the relay tests meet it: a connected test device, a document
//! synced onto it, the demo board or another document found through the production's
//! index, and a run by title. One copy for every test file that starts from `serve --demo`.

use automerge::Automerge;
use setlink_core::model::run;
use setlink_core::{DocKind, DocumentId};
use setlink_server::production_doc::read_index;

use crate::{Peer, PeerDocs, Relay};

/// A test device connected to `relay` with `token`, past the handshake.
pub async fn connected(relay: &Relay, token: &str, name: &str) -> Peer {
    let p = Peer::connect(&relay.ws_url(), token, PeerDocs::new(name))
        .await
        .unwrap_or_else(|e| panic!("connect {name}: {e:?}"));
    p.wait(10, "handshake", |_, s| s.connected).await;
    p
}

/// Opens `doc` on `p` and waits until it holds something of it.
pub async fn synced(p: &Peer, doc: DocumentId) {
    p.open(doc);
    p.wait(10, "document", |d, _| {
        d.docs.get(&doc).is_some_and(|x| !x.get_heads().is_empty())
    })
    .await;
}

/// The demo day's board, found through the production document's index on `p` (which
/// must be allowed to read the production document).
pub async fn demo_board(p: &Peer, production: DocumentId) -> DocumentId {
    p.open(production);
    p.wait(10, "the production's index", |d, _| {
        d.docs
            .get(&production)
            .is_some_and(|x| read_index(x).is_ok_and(|i| i.len() >= 5))
    })
    .await;
    p.read(production, |d| {
        read_index(d)
            .unwrap()
            .into_iter()
            .find_map(|(id, k)| matches!(k, DocKind::Board { .. }).then_some(id))
    })
    .flatten()
    .expect("the demo production indexes a board")
}

/// The production's document of `kind`, once `p` (which must be allowed to read the
/// production document) sees it in the index.
pub async fn indexed(p: &Peer, production: DocumentId, kind: DocKind) -> DocumentId {
    p.open(production);
    p.wait(
        10,
        &format!("{kind:?} in the production's index"),
        |d, _| {
            d.docs
                .get(&production)
                .is_some_and(|x| read_index(x).is_ok_and(|i| i.iter().any(|(_, k)| *k == kind)))
        },
    )
    .await;
    p.read(production, |d| crate::board::find_doc(d, &kind))
        .flatten()
        .unwrap_or_else(|| panic!("{kind:?} indexed"))
}

/// The id of the run titled `title` on a board.
pub fn run_id(doc: &Automerge, title: &str) -> String {
    run::list_runs(doc)
        .unwrap()
        .items
        .into_iter()
        .find(|r| r.record.title == title)
        .unwrap_or_else(|| panic!("no run {title}"))
        .record
        .id
}

/// PRODUCT.md's underground scenario, as every replica must end it: the coffee run
/// delivered with its one receipt, the batteries picked up, the tape run with `tape_pa`,
/// and no conflicts on the PA's runs.
pub fn assert_underground_outcome(
    p: &Peer,
    board: DocumentId,
    [coffee, batteries, tape]: [&str; 3],
    tape_pa: &str,
) {
    let (coffee_run, batteries_run, tape_run) = p
        .read(board, |d| {
            (
                run::read_run(d, coffee).unwrap(),
                run::read_run(d, batteries).unwrap(),
                run::read_run(d, tape).unwrap(),
            )
        })
        .unwrap();
    assert_eq!(coffee_run.status, run::RunStatus::Delivered);
    assert_eq!(coffee_run.record.receipts.len(), 1);
    assert_eq!(coffee_run.record.receipts[0].total_cents, 4250);
    assert_eq!(batteries_run.status, run::RunStatus::PickedUp);
    assert_eq!(tape_run.assigned_pa.as_deref(), Some(tape_pa));
    assert!(coffee_run.conflicts.is_empty() && batteries_run.conflicts.is_empty());
}
