//! Raw clients writing what the write rules refuse: a client caught up with a document,
//! the event log it writes against, the refusal notice the relay answers with, and the
//! copy of a document a member may not read answered as unavailable.

use automerge::transaction::Transactable;
use automerge::{Automerge, ChangeHash, ObjId, ReadDoc, ROOT};
use setlink_core::model::status::LoggedEvent;
use setlink_core::rules::notice;
use setlink_core::DocumentId;

use crate::demo::{connected, synced};
use crate::{Peer, Relay};

/// A test device connected with `token` holding `doc` as it was at `settled`, so what it
/// writes next follows everything the relay had kept.
pub async fn caught_up(
    relay: &Relay,
    token: &str,
    name: &str,
    doc: DocumentId,
    settled: &[ChangeHash],
) -> Peer {
    let p = connected(relay, token, name).await;
    synced(&p, doc).await;
    p.wait_heads(doc, settled, 10).await;
    p
}

/// The event log object of the record `id` in the root map `container`, and the ids of
/// its `events` no other event follows: what a new event's `prev` names.
pub fn event_log<K>(
    doc: &Automerge,
    container: &str,
    id: &str,
    events: &[LoggedEvent<K>],
) -> (ObjId, Vec<String>) {
    let prevs: Vec<&String> = events.iter().flat_map(|e| &e.prev).collect();
    let heads = events
        .iter()
        .map(|e| e.id.clone())
        .filter(|id| !prevs.contains(&id))
        .collect();
    let records = doc.get(ROOT, container).unwrap().unwrap().1;
    let record = doc.get(&records, id).unwrap().unwrap().1;
    (doc.get(&record, "events").unwrap().unwrap().1, heads)
}

/// `p`'s change to `doc` refused with a notice naming `rule`, the connection kept up.
pub async fn refused(p: &Peer, doc: DocumentId, rule: &str) {
    p.wait(10, &format!("a `{rule}` refusal"), |_, s| {
        s.ephemeral
            .iter()
            .any(|(_, _, d)| notice::decode(d).is_some())
    })
    .await;
    let n = p.seen(|s| {
        s.ephemeral
            .iter()
            .find_map(|(_, _, d)| notice::decode(d))
            .unwrap()
    });
    assert_eq!(n.rule, rule, "{n:?}");
    assert_eq!(n.document_id, doc.to_string(), "{n:?}");
    assert!(p.is_connected(), "the connection stays up");
}

/// A client of `token`, which may not read `doc`, offering a copy of `from`'s `doc` with the
/// record `id` deleted from the root map `container`: the relay answers as if it had no
/// such document, so the client learns nothing of it and writes nothing into it.
pub async fn deletion_answered_unavailable(
    relay: &Relay,
    token: &str,
    from: &Peer,
    doc: DocumentId,
    container: &str,
    id: &str,
) {
    let p = connected(relay, token, "unreadable").await;
    let mut copy = from.read(doc, |d| d.fork()).unwrap();
    let records = copy.get(ROOT, container).unwrap().unwrap().1;
    let mut tx = copy.transaction();
    tx.delete(&records, id).unwrap();
    tx.commit();
    p.insert(doc, copy);
    p.wait(10, "the document answered as unavailable", |_, s| {
        s.unavailable.contains(&doc)
    })
    .await;
}
