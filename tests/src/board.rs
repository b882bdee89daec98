//! A test device holding the production document and today's board, and readers of
//! what it holds: the dashboard, run-page and fault tests start from one.

use automerge::Automerge;
use setlink_core::model::run::{self, RunStatus};
use setlink_core::{Author, DocKind, DocumentId, Role};
use setlink_server::production_doc::read_index;

use crate::http::Creds;
use crate::{Peer, PeerDocs, Relay};

/// Who a device's own writes are by, as the model's operations take it.
pub fn author(c: &Creds, role: Role, device: &str) -> Author {
    Author {
        member_id: c.member_id.clone(),
        device_id: device.into(),
        role,
    }
}

/// The production's document of `kind`, if its index lists one.
pub fn find_doc(prod: &Automerge, kind: &DocKind) -> Option<DocumentId> {
    read_index(prod)
        .ok()?
        .into_iter()
        .find_map(|(id, k)| (&k == kind).then_some(id))
}

/// A device connected as `creds`, holding the production doc and today's board (with the
/// demo's four runs, unless it is crew, who may not read the board).
pub async fn board_device(
    relay: &Relay,
    creds: &Creds,
    name: &str,
) -> (Peer, DocumentId, DocumentId) {
    let peer = Peer::connect(&relay.ws_url(), &creds.token, PeerDocs::new(name))
        .await
        .expect("connect device");
    let prod: DocumentId = creds.production_doc_id.parse().expect("production doc id");
    peer.open(prod);
    let board_kind = DocKind::Board {
        day: relay.day.clone(),
    };
    let bk = board_kind.clone();
    peer.wait(10, "the production index", move |d, _| {
        d.docs
            .get(&prod)
            .is_some_and(|p| find_doc(p, &bk).is_some())
    })
    .await;
    let board = peer
        .read(prod, |p| find_doc(p, &board_kind))
        .flatten()
        .expect("today's board");
    if creds.role != "crew" {
        peer.open(board);
        peer.wait(10, "the board's four runs", move |d, _| {
            d.docs
                .get(&board)
                .is_some_and(|b| run::list_runs(b).is_ok_and(|r| r.items.len() >= 4))
        })
        .await;
    }
    (peer, prod, board)
}

/// The status of run `run_id` on the device's copy of the board.
pub fn status_of(peer: &Peer, board: DocumentId, run_id: &str) -> RunStatus {
    peer.read(board, |d| run::read_run(d, run_id).map(|r| r.status))
        .expect("board held")
        .expect("run exists")
}

/// The id of the run titled `title` on the device's copy of the board.
pub fn run_titled(peer: &Peer, board: DocumentId, title: &str) -> String {
    peer.read(board, |d| crate::demo::run_id(d, title))
        .expect("board held")
}
