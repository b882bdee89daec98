//! Decoding a subscriber's acknowledgement, the frame a relay reads once per subscriber per
//! fan-out: as every automerge-repo client writes it (`type` first, read in one pass)
//! against the same fields with `type` last (found by a first pass, read by a second).
//!
//! Run: `cargo bench -p setlink-core --bench wire`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use minicbor::encode::Encoder;
use setlink_core::sync::wire::{self, Message};
use setlink_core::DocumentId;

/// An acknowledgement's size: one head, no need, one `have` with an empty bloom.
const ACK_DATA_BYTES: usize = 80;

fn ack(doc: DocumentId) -> Message {
    Message::Sync {
        sender_id: "device-7f3a9c21".into(),
        target_id: "relay-01".into(),
        document_id: doc,
        data: vec![0x42; ACK_DATA_BYTES],
    }
}

/// The same acknowledgement with `type` as its last key, which the protocol allows.
fn type_last(doc: DocumentId) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    e.map(5).unwrap();
    e.str("senderId").unwrap().str("device-7f3a9c21").unwrap();
    e.str("targetId").unwrap().str("relay-01").unwrap();
    e.str("documentId").unwrap().str(&doc.to_string()).unwrap();
    e.str("data")
        .unwrap()
        .bytes(&[0x42; ACK_DATA_BYTES])
        .unwrap();
    e.str("type").unwrap().str("sync").unwrap();
    e.into_writer()
}

fn decode_ack(c: &mut Criterion) {
    let doc = DocumentId::from_bytes([7; 16]);
    let first = wire::encode(&ack(doc));
    let last = type_last(doc);
    // Both must be the same message, or the comparison means nothing.
    assert_eq!(wire::decode(&first), Ok(ack(doc)));
    assert_eq!(wire::decode(&last), Ok(ack(doc)));
    let mut group = c.benchmark_group("decode_ack");
    group.bench_function("type_first_one_pass", |b| {
        b.iter(|| wire::decode(black_box(&first)))
    });
    group.bench_function("type_last_two_passes", |b| {
        b.iter(|| wire::decode(black_box(&last)))
    });
    group.finish();
}

criterion_group!(benches, decode_ack);
criterion_main!(benches);
