// Shared by the cargo-fuzz targets (core/fuzz/fuzz_targets/*.rs) and the bounded stable
// run in the test suite (core/tests/sync_fuzz_smoke.rs), so both exercise the same code.
// Each function panics only when an invariant breaks; bad input must come back as errors.

use automerge::sync;
use automerge::Automerge;
use setlink_core::sync::engine::{Connection, ConnectionConfig, Event, Side};
use setlink_core::sync::wire::{self, Message, PeerMetadata};
use setlink_core::DocumentId;
use std::collections::HashMap;

/// Decoding never panics, and whatever decodes re-encodes to something that decodes to
/// the same message.
pub fn decode_frame(data: &[u8]) {
    if let Ok(m) = wire::decode(data) {
        let again = wire::encode(&m);
        assert_eq!(
            wire::decode(&again).as_ref(),
            Ok(&m),
            "re-encoded frame differs"
        );
    }
}

/// Splits fuzz input into frames: each frame is a little-endian u16 length and that many
/// bytes (the last one takes what is left).
pub fn frames(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 {
        let n = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        let take = n.min(rest.len());
        out.push(&rest[..take]);
        rest = &rest[take..];
    }
    out
}

/// An acceptor (the relay's side) with an in-memory document store that applies every
/// sync message it is handed, fed `frames` after an optional valid `join`.
pub fn drive_acceptor(data: &[u8]) {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let mut c = Connection::new(ConnectionConfig::new(
        "relay",
        Side::Acceptor,
        PeerMetadata {
            storage_id: Some("relay-store".into()),
            is_ephemeral: Some(false),
            pushes_changes: None,
            implied_acks: None,
        },
        "relay-session",
    ));
    if mode & 1 == 1 {
        let join = wire::encode(&Message::Join {
            sender_id: "fuzz-peer".into(),
            peer_metadata: None,
            supported_protocol_versions: Some(vec!["1".into()]),
        });
        c.handle_frame(&join).expect("a valid join is accepted");
    }
    let mut docs: HashMap<DocumentId, (Automerge, sync::State)> = HashMap::new();
    for f in frames(input) {
        let was_closed = c.is_closed();
        let r = c.handle_frame(f);
        if was_closed {
            assert!(r.is_err(), "a closed connection accepted a frame");
        }
        if r.is_err() {
            assert!(c.is_closed(), "an error left the connection open");
        }
        while let Some(ev) = c.poll_event() {
            match ev {
                Event::Sync {
                    document_id,
                    message,
                    request,
                } => {
                    if request && mode & 2 == 2 {
                        let _ = c.send_doc_unavailable(document_id);
                        continue;
                    }
                    let (doc, st) = docs.entry(document_id).or_default();
                    let _ = c.receive_with(document_id, doc, st, message);
                }
                Event::Ephemeral(e) => {
                    let _ = c.send_ephemeral(e.document_id, e.data);
                }
                _ => {}
            }
        }
        while let Some(out) = c.poll_transmit() {
            assert!(
                wire::decode(&out).is_ok(),
                "the engine sent an undecodable frame"
            );
        }
    }
}

/// An initiator (the device's side) fed the same kind of input.
pub fn drive_initiator(data: &[u8]) {
    let mut c = Connection::new(ConnectionConfig::new(
        "phone",
        Side::Initiator,
        PeerMetadata::default(),
        "phone-session",
    ));
    let mut doc = Automerge::new();
    let mut st = sync::State::new();
    for f in frames(data) {
        let r = c.handle_frame(f);
        if r.is_err() {
            assert!(c.is_closed());
        }
        while let Some(ev) = c.poll_event() {
            if let Event::Sync {
                document_id,
                message,
                ..
            } = ev
            {
                let _ = c.receive_with(document_id, &mut doc, &mut st, message);
            }
        }
        while c.poll_transmit().is_some() {}
    }
}
