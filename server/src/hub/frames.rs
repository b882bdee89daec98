//! Every frame the hub sends outside a connection's own engine, built from core's wire
//! types and encoded by core's encoder (`setlink_core::sync::wire`): the one place that
//! knows what a fan-out `sync`, a `doc-unavailable`, a relayed `ephemeral` or an `error`
//! looks like. Answers inside a connection's handling (the handshake, a write-rules
//! notice) go through that connection's `engine::Connection` instead.

use setlink_core::sync::engine::Ephemeral;
use setlink_core::sync::wire::{self, Message};
use setlink_core::DocumentId;

pub(crate) fn sync(from: &str, to: &str, doc: DocumentId, data: &[u8]) -> Vec<u8> {
    wire::encode(&Message::Sync {
        sender_id: from.to_owned(),
        target_id: to.to_owned(),
        document_id: doc,
        data: data.to_vec(),
    })
}

pub(crate) fn doc_unavailable(from: &str, to: &str, doc: DocumentId) -> Vec<u8> {
    wire::encode(&Message::DocUnavailable {
        sender_id: from.to_owned(),
        target_id: to.to_owned(),
        document_id: doc,
    })
}

/// Passes on an ephemeral message: sender, session and count stay the creator's, so every
/// receiver deduplicates it the same way.
pub(crate) fn forward_ephemeral(to: &str, e: &Ephemeral) -> Vec<u8> {
    wire::encode(&Message::Ephemeral {
        sender_id: e.sender_id.clone(),
        target_id: to.to_owned(),
        count: e.count,
        session_id: e.session_id.clone(),
        document_id: e.document_id,
        data: e.data.clone(),
    })
}

/// The relay's own ephemeral message (a notice sent outside any connection's engine).
pub(crate) fn ephemeral(
    from: &str,
    to: &str,
    session: &str,
    count: u64,
    doc: DocumentId,
    data: Vec<u8>,
) -> Vec<u8> {
    wire::encode(&Message::Ephemeral {
        sender_id: from.to_owned(),
        target_id: to.to_owned(),
        count,
        session_id: session.to_owned(),
        document_id: doc,
        data,
    })
}

pub(crate) fn error(from: &str, to: Option<String>, message: String) -> Vec<u8> {
    wire::encode(&Message::Error {
        sender_id: Some(from.to_owned()),
        message,
        target_id: to,
    })
}
