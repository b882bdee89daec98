use super::*;
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ScalarValue, ROOT};
use proptest::prelude::*;

const MIB: usize = 1024 * 1024;

fn limits(bytes: usize, ops: usize) -> CostLimits {
    CostLimits {
        max_decompressed_bytes: bytes,
        max_ops: ops,
    }
}

/// A change with `n` puts of distinct keys into the root map.
fn map_change(n: usize) -> automerge::Change {
    let mut doc = AutoCommit::new();
    for i in 0..n {
        doc.put(ROOT, format!("k{i}"), i as i64).unwrap();
    }
    doc.commit();
    doc.get_last_local_change().unwrap()
}

/// A doc whose single change makes a list and inserts `true` `n` times: RLE encodes
/// all of it in a few bytes per column (a boolean lives in the value metadata).
fn list_doc(n: usize) -> AutoCommit {
    let mut doc = AutoCommit::new();
    let list = doc.put_object(ROOT, "l", ObjType::List).unwrap();
    for i in 0..n {
        doc.insert(&list, i, true).unwrap();
    }
    doc.commit();
    doc
}

/// A doc holding one string value of `len` bytes.
fn big_string_doc(len: usize) -> AutoCommit {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "big", ScalarValue::Str("a".repeat(len).into()))
        .unwrap();
    doc.commit();
    doc
}

fn put_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn put_sleb(out: &mut Vec<u8>, mut v: i64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if (v == 0 && b & 0x40 == 0) || (v == -1 && b & 0x40 != 0) {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn header_len(chunk: &[u8]) -> usize {
    let mut s = Slice::new(chunk);
    s.skip(9).unwrap();
    uleb(&mut s).unwrap();
    s.pos
}

#[test]
fn normal_change_passes_with_its_op_count() {
    let change = map_change(10);
    let raw = change.raw_bytes();
    assert_eq!(raw[8], 1, "an uncompressed change chunk");
    let cost = check_chunks_cost(raw, &CostLimits::default()).unwrap();
    assert_eq!(cost.ops, 10);
    assert_eq!(cost.decompressed_bytes, raw.len());
}

#[test]
fn compressed_change_counts_its_inflated_size() {
    let mut change = map_change(200);
    let raw = change.raw_bytes().to_vec();
    let compressed = change.bytes().into_owned();
    assert_eq!(
        compressed[8], 2,
        "automerge compresses changes over 256 bytes"
    );
    assert!(compressed.len() < raw.len());
    let cost = check_chunks_cost(&compressed, &CostLimits::default()).unwrap();
    assert_eq!(cost.ops, 200);
    // Its own header, plus the change body it inflates to.
    assert_eq!(
        cost.decompressed_bytes,
        header_len(&compressed) + raw.len() - header_len(&raw)
    );
}

#[test]
fn compressed_change_inflating_past_the_limit_is_refused_early() {
    let mut doc = big_string_doc(4 * MIB);
    let mut change = doc.get_last_local_change().unwrap();
    let compressed = change.bytes().into_owned();
    assert_eq!(compressed[8], 2);
    assert!(compressed.len() < 64 * 1024, "{} bytes", compressed.len());
    match check_chunks_cost(&compressed, &limits(MIB, 100_000)) {
        Err(CostError::TooLarge { bytes, limit }) => {
            assert_eq!(limit, MIB);
            // Stopped within a buffer of the limit, not after inflating 4 MiB.
            assert!(bytes > MIB && bytes <= MIB + INFLATE_BUF + 64, "{bytes}");
        }
        other => panic!("{other:?}"),
    }
    // With room for it, it passes and counts all of it.
    let cost = check_chunks_cost(&compressed, &limits(8 * MIB, 100_000)).unwrap();
    assert!(cost.decompressed_bytes > 4 * MIB);
    assert_eq!(cost.ops, 1);
}

#[test]
fn change_with_too_many_ops_is_refused() {
    let mut doc = list_doc(5_000);
    let mut change = doc.get_last_local_change().unwrap();
    // RLE: 5,001 ops in a few hundred bytes, so bytes do not bound ops.
    assert!(
        change.raw_bytes().len() < 500,
        "{}",
        change.raw_bytes().len()
    );
    let cost = check_chunks_cost(change.raw_bytes(), &CostLimits::default()).unwrap();
    assert_eq!(cost.ops, 5_001);
    for bytes in [change.raw_bytes().to_vec(), change.bytes().into_owned()] {
        assert_eq!(
            check_chunks_cost(&bytes, &limits(8 * MIB, 1_000)),
            Err(CostError::TooManyOps {
                ops: 5_001,
                limit: 1_000
            })
        );
    }
}

/// A change chunk with one action column: a single RLE run of `count` copies of 1.
fn rle_bomb(count: u64) -> Vec<u8> {
    let mut column = Vec::new();
    put_sleb(&mut column, count as i64);
    column.push(1);
    let mut body = vec![
        0, // deps
        1, 0xab, // actor
        1,    // seq
        1,    // start op
        0,    // timestamp
        0,    // message
        0,    // other actors
        1,    // one column
        0x42, // action: id 4, integer
    ];
    put_uleb(&mut body, column.len() as u64);
    body.extend(column);
    let mut chunk = MAGIC.to_vec();
    chunk.extend([0, 0, 0, 0, 1]);
    put_uleb(&mut chunk, body.len() as u64);
    chunk.extend(body);
    chunk
}

#[test]
fn rle_bomb_is_refused_without_expanding_it() {
    let bomb = rle_bomb(1 << 60);
    assert!(bomb.len() < 40);
    assert_eq!(
        check_chunks_cost(&bomb, &CostLimits::default()),
        Err(CostError::TooManyOps {
            ops: 1 << 60,
            limit: 100_000
        })
    );
    let cost = check_chunks_cost(&rle_bomb(7), &CostLimits::default()).unwrap();
    assert_eq!(cost.ops, 7);
}

#[test]
fn saved_document_passes_with_its_op_count() {
    let mut doc = AutoCommit::new();
    for i in 0..20 {
        doc.put(ROOT, format!("k{i}"), i as i64).unwrap();
    }
    doc.put(ROOT, "text", "ab".repeat(2_000)).unwrap();
    doc.commit();
    let saved = doc.save();
    assert_eq!(saved[8], 0);
    let cost = check_chunks_cost(&saved, &CostLimits::default()).unwrap();
    assert_eq!(cost.ops, 21);
    // The value column is deflated in `save` and inflated here: about the size of the
    // same document saved without compression (the column table's lengths and the
    // header's body length differ by a few bytes).
    let plain = doc.save_nocompress();
    assert!(saved.len() + 3_000 < plain.len());
    assert!(cost.decompressed_bytes.abs_diff(plain.len()) <= 8);
    let plain_cost = check_chunks_cost(&plain, &CostLimits::default()).unwrap();
    assert_eq!(plain_cost.ops, 21);
    assert_eq!(plain_cost.decompressed_bytes, plain.len());
}

#[test]
fn document_over_the_byte_limit_is_refused_early() {
    let saved = big_string_doc(4 * MIB).save();
    assert!(saved.len() < 64 * 1024, "{} bytes", saved.len());
    match check_chunks_cost(&saved, &limits(MIB, 100_000)) {
        Err(CostError::TooLarge { bytes, limit }) => {
            assert_eq!(limit, MIB);
            assert!(bytes > MIB && bytes <= MIB + INFLATE_BUF, "{bytes}");
        }
        other => panic!("{other:?}"),
    }
    assert!(check_chunks_cost(&saved, &limits(8 * MIB, 100_000)).is_ok());
}

#[test]
fn document_with_too_many_ops_is_refused() {
    let saved = list_doc(5_000).save();
    assert!(saved.len() < 1_000, "{}", saved.len());
    assert_eq!(
        check_chunks_cost(&saved, &CostLimits::default()).map(|c| c.ops),
        Ok(5_001)
    );
    assert_eq!(
        check_chunks_cost(&saved, &limits(8 * MIB, 1_000)),
        Err(CostError::TooManyOps {
            ops: 5_001,
            limit: 1_000
        })
    );
}

#[test]
fn bundle_is_measured_like_a_document() {
    let mut doc = list_doc(300);
    let hashes = doc.get_heads();
    let bundle = doc.bundle(hashes).unwrap();
    let bytes = bundle.bytes();
    assert_eq!(bytes[8], 3);
    let cost = check_chunks_cost(bytes, &CostLimits::default()).unwrap();
    assert_eq!(cost.ops, 301);
    assert!(check_chunks_cost(bytes, &limits(8 * MIB, 300)).is_err());
}

#[test]
fn concatenated_chunks_are_summed() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "a", 1).unwrap();
    doc.commit();
    let saved = doc.save();
    for i in 0..100 {
        doc.put(ROOT, format!("b{i}"), i as i64).unwrap();
    }
    doc.commit();
    let mut change = doc.get_last_local_change().unwrap();
    let change_bytes = change.bytes().into_owned();
    assert_eq!(change_bytes[8], 2);

    let one = check_chunks_cost(&saved, &CostLimits::default()).unwrap();
    let two = check_chunks_cost(&change_bytes, &CostLimits::default()).unwrap();
    assert_eq!((one.ops, two.ops), (1, 100));
    let mut both = saved.clone();
    both.extend(&change_bytes);
    both.extend(&saved);
    let all = check_chunks_cost(&both, &CostLimits::default()).unwrap();
    assert_eq!(all.ops, 2 * one.ops + two.ops);
    assert_eq!(
        all.decompressed_bytes,
        2 * one.decompressed_bytes + two.decompressed_bytes
    );
    // The limits apply to the sum.
    assert_eq!(
        check_chunks_cost(&both, &limits(8 * MIB, all.ops - 1)),
        Err(CostError::TooManyOps {
            ops: all.ops,
            limit: all.ops - 1
        })
    );
    assert!(matches!(
        check_chunks_cost(&both, &limits(all.decompressed_bytes - 1, all.ops)),
        Err(CostError::TooLarge { .. })
    ));
    assert_eq!(
        check_chunks_cost(&both, &limits(all.decompressed_bytes, all.ops)),
        Ok(all)
    );
}

#[test]
fn empty_entry_costs_nothing() {
    assert_eq!(
        check_chunks_cost(&[], &CostLimits::default()),
        Ok(ChunkCost::default())
    );
}

fn fixtures() -> Vec<Vec<u8>> {
    let mut change = map_change(40);
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "t", "xy".repeat(300)).unwrap();
    let list = doc.put_object(ROOT, "l", ObjType::List).unwrap();
    for i in 0..50 {
        doc.insert(&list, i, i as i64).unwrap();
    }
    doc.commit();
    let heads = doc.get_heads();
    vec![
        change.raw_bytes().to_vec(),
        change.bytes().into_owned(),
        doc.save(),
        doc.save_nocompress(),
        doc.bundle(heads).unwrap().bytes().to_vec(),
    ]
}

#[test]
fn every_truncation_is_an_error() {
    for chunk in fixtures() {
        assert!(check_chunks_cost(&chunk, &CostLimits::default()).is_ok());
        for n in 1..chunk.len() {
            let got = check_chunks_cost(&chunk[..n], &CostLimits::default());
            assert!(
                matches!(
                    got,
                    Err(CostError::Truncated { .. } | CostError::Malformed { .. })
                ),
                "prefix {n} of type {}: {got:?}",
                chunk[8]
            );
        }
    }
}

#[test]
fn garbage_and_bit_flips_do_not_panic() {
    let small = limits(64 * 1024, 1_000);
    assert_eq!(
        check_chunks_cost(b"not a chunk at all", &small),
        Err(CostError::Malformed {
            offset: 0,
            why: "no Automerge magic bytes"
        })
    );
    let mut unknown = MAGIC.to_vec();
    unknown.extend([0, 0, 0, 0, 7, 0]);
    assert_eq!(
        check_chunks_cost(&unknown, &small),
        Err(CostError::UnknownChunkType(7))
    );
    // A good chunk followed by junk: the error is placed at the junk.
    let mut tail = fixtures().remove(0);
    let at = tail.len();
    tail.extend([0x85, 0x6f]);
    assert!(matches!(
        check_chunks_cost(&tail, &small),
        Err(CostError::Truncated { offset, .. }) if offset == at
    ));
    for chunk in fixtures() {
        for i in 0..chunk.len() {
            for bit in 0..8 {
                let mut c = chunk.clone();
                c[i] ^= 1 << bit;
                let _ = check_chunks_cost(&c, &small);
            }
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bodies_do_not_panic(
        chunk_type in 0u8..4,
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut chunk = MAGIC.to_vec();
        chunk.extend([0, 0, 0, 0, chunk_type]);
        put_uleb(&mut chunk, body.len() as u64);
        chunk.extend(&body);
        if let Ok(cost) = check_chunks_cost(&chunk, &limits(64 * 1024, 1_000)) {
            prop_assert!(cost.decompressed_bytes <= 64 * 1024);
            prop_assert!(cost.ops <= 1_000);
        }
    }
}
