//! A bounded, seeded run of the fuzz harness (core/fuzz/harness.rs) on stable: random
//! frames and mutations of real ones (captured from the JS implementation, and from a
//! real sync session) through the wire decoder and through both ends of the engine.
//! The open-ended run is `cargo +nightly fuzz run wire_decode` / `engine_frames` in core/fuzz.

#[path = "../fuzz/harness.rs"]
#[allow(dead_code)]
mod harness;

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{Automerge, ROOT};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use setlink_core::sync::wire::{self, Message};
use setlink_core::DocumentId;

fn seeds() -> Vec<Vec<u8>> {
    let text = include_str!("fixtures/wire/captured.json");
    let v: serde_json::Value = serde_json::from_str(text).expect("fixture");
    let mut out: Vec<Vec<u8>> = v["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| hex::decode(f["hex"].as_str().expect("hex")).expect("hex"))
        .collect();
    // Sync frames carrying real changes, so mutations reach automerge's decoder.
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    tx.put(ROOT, "run", "coffee for camera").expect("put");
    tx.commit();
    let data = doc
        .generate_sync_message(&mut sync::State::new())
        .expect("msg")
        .encode();
    let doc_id = DocumentId::random();
    for request in [false, true] {
        let m = if request {
            Message::Request {
                sender_id: "fuzz-peer".into(),
                target_id: "relay".into(),
                document_id: doc_id,
                data: data.clone(),
            }
        } else {
            Message::Sync {
                sender_id: "fuzz-peer".into(),
                target_id: "relay".into(),
                document_id: doc_id,
                data: data.clone(),
            }
        };
        out.push(wire::encode(&m));
    }
    out
}

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut f = seed.to_vec();
    for _ in 0..rng.random_range(1..4) {
        if f.is_empty() {
            f.push(rng.random());
            continue;
        }
        let i = rng.random_range(0..f.len());
        match rng.random_range(0..5) {
            0 => f[i] ^= 1 << rng.random_range(0..8),
            1 => f[i] = rng.random(),
            2 => f.truncate(i),
            3 => {
                let b: u8 = rng.random();
                f.insert(i, b);
            }
            _ => {
                // Interesting CBOR heads: huge lengths, breaks, tags, undefined.
                let heads = [0xbb, 0x9b, 0x5b, 0x7b, 0xff, 0xd8, 0xf7, 0xf6, 0xfb, 0x1b];
                f[i] = heads[rng.random_range(0..heads.len())];
            }
        }
    }
    f
}

/// One fuzz input for the engine: a mode byte, then length-prefixed frames.
fn engine_input(rng: &mut StdRng, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut input = vec![rng.random::<u8>() | 1];
    for f in frames {
        let len = u16::try_from(f.len()).unwrap_or(u16::MAX);
        input.extend_from_slice(&len.to_le_bytes());
        input.extend_from_slice(&f[..usize::from(len)]);
    }
    input
}

#[test]
fn twenty_thousand_random_and_mutated_frames_never_panic() {
    let seeds = seeds();
    let mut rng = StdRng::seed_from_u64(0x5e7_1124);
    let mut decoded = 0;
    for i in 0..20_000 {
        let frame = if i % 4 == 0 {
            let n = rng.random_range(0..64);
            (0..n).map(|_| rng.random()).collect()
        } else {
            let s = rng.random_range(0..seeds.len());
            mutate(&mut rng, &seeds[s])
        };
        harness::decode_frame(&frame);
        if wire::decode(&frame).is_ok() {
            decoded += 1;
        }
    }
    // Mutations must keep some frames valid, or the run only tests the first byte.
    assert!(decoded > 1_000, "only {decoded} mutated frames decoded");

    for _ in 0..2_000 {
        let n = rng.random_range(1..6);
        let frames: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                let s = &seeds[rng.random_range(0..seeds.len())];
                if rng.random_bool(0.5) {
                    s.clone()
                } else {
                    mutate(&mut rng, s)
                }
            })
            .collect();
        let input = engine_input(&mut rng, &frames);
        harness::drive_acceptor(&input);
        harness::drive_initiator(&input[1..]);
    }
}

#[test]
fn the_frame_splitter_reads_length_prefixed_frames() {
    assert_eq!(
        harness::frames(&[2, 0, 7, 8, 1, 0, 9]),
        vec![&[7u8, 8][..], &[9u8][..]]
    );
    assert_eq!(harness::frames(&[5, 0, 1]), vec![&[1u8][..]]);
    assert!(harness::frames(&[1]).is_empty());
}
