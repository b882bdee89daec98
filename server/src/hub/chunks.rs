//! Automerge's binary chunk format, as far as the relay must read it before applying
//! anything: every chunk of an incoming sync message is validated ([`check_chunks`]) and
//! costed ([`message_cost`]) first. Pure functions, no state.

use automerge::sync;
use automerge::Automerge;
use setlink_core::rules::cost::{check_chunks_cost, CostError, CostLimits};

/// Validates every chunk of a sync message before any of it is applied: automerge skips
/// unparseable chunks with only a log line, and a peer must hear that its data was bad.
/// An entry of `changes` may hold several chunks back to back.
pub(crate) fn check_chunks(msg: &sync::Message) -> Result<(), String> {
    // automerge 0.12 panics on some crafted chunks (found by fuzzing the cost guard); a
    // peer's bytes must get an error, never take down the task that reads them.
    std::panic::catch_unwind(|| check_chunks_unguarded(msg))
        .unwrap_or_else(|_| Err("automerge could not parse a chunk".into()))
}

fn check_chunks_unguarded(msg: &sync::Message) -> Result<(), String> {
    for (i, entry) in msg.changes.iter().enumerate() {
        let mut rest = entry;
        if rest.is_empty() {
            return Err(format!("entry {i} is empty"));
        }
        while !rest.is_empty() {
            let len =
                chunk_len(rest).ok_or_else(|| format!("entry {i}: truncated chunk header"))?;
            let (chunk, tail) = rest.split_at_checked(len).ok_or_else(|| {
                format!(
                    "entry {i}: chunk claims {len} bytes, only {} left",
                    rest.len()
                )
            })?;
            match chunk.get(8) {
                Some(1) | Some(2) => {
                    automerge::Change::try_from(chunk)
                        .map_err(|e| format!("entry {i}: change does not parse: {e}"))?;
                }
                Some(0) | Some(3) => {
                    Automerge::load(chunk)
                        .map_err(|e| format!("entry {i}: document chunk does not load: {e}"))?;
                }
                Some(t) => return Err(format!("entry {i}: unknown chunk type {t}")),
                None => return Err(format!("entry {i}: truncated chunk")),
            }
            rest = tail;
        }
    }
    Ok(())
}

/// Checks the cost of every entry of a sync message, and of all of them together: the
/// limits bound what one message may make the relay inflate and apply.
pub(crate) fn message_cost(msg: &sync::Message, limits: &CostLimits) -> Result<(), CostError> {
    let mut left = *limits;
    for entry in msg.changes.iter() {
        let cost = check_chunks_cost(entry, &left)?;
        left.max_decompressed_bytes -= cost.decompressed_bytes.min(left.max_decompressed_bytes);
        left.max_ops -= cost.ops.min(left.max_ops);
    }
    Ok(())
}

/// Total length of the chunk at the start of `b`: magic (4), checksum (4), type (1), a
/// LEB128 body length, then the body.
pub(crate) fn chunk_len(b: &[u8]) -> Option<usize> {
    if b.get(..4)? != [0x85, 0x6f, 0x4a, 0x83] {
        return None;
    }
    let mut len: u64 = 0;
    let mut shift = 0;
    let mut pos = 9;
    loop {
        let byte = *b.get(pos)?;
        pos += 1;
        len |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    usize::try_from(len).ok()?.checked_add(pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    fn message_with(changes: Vec<Vec<u8>>) -> sync::Message {
        sync::Message {
            heads: vec![],
            need: vec![],
            have: vec![],
            changes: sync::ChunkList::from(changes),
            flags: None,
            version: sync::MessageVersion::V1,
        }
    }

    fn two_changes() -> (Vec<u8>, Vec<u8>, Automerge) {
        let mut doc = Automerge::new();
        let mut out = Vec::new();
        for i in 0..2 {
            let mut tx = doc.transaction();
            tx.put(automerge::ROOT, "k", i).unwrap();
            tx.commit();
            out.push(doc.get_last_local_change().unwrap().raw_bytes().to_vec());
        }
        (out[0].clone(), out[1].clone(), doc)
    }

    #[test]
    fn chunk_validation_accepts_changes_documents_and_concatenations() {
        let (a, b, doc) = two_changes();
        assert!(check_chunks(&message_with(vec![a.clone(), b.clone()])).is_ok());
        let mut both = a.clone();
        both.extend_from_slice(&b);
        assert!(check_chunks(&message_with(vec![both])).is_ok());
        assert!(check_chunks(&message_with(vec![doc.save()])).is_ok());
        assert!(check_chunks(&message_with(vec![])).is_ok());
    }

    #[test]
    fn chunk_validation_rejects_garbage_truncation_and_bit_flips() {
        let (a, _, _) = two_changes();
        for bad in [
            vec![],
            b"not automerge at all".to_vec(),
            a[..a.len() - 3].to_vec(),
            {
                let mut x = a.clone();
                let n = x.len();
                x[n - 1] ^= 0xff;
                x
            },
            {
                let mut x = a.clone();
                x.extend_from_slice(&[0x85, 0x6f]);
                x
            },
        ] {
            assert!(
                check_chunks(&message_with(vec![bad.clone()])).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn chunk_len_reads_the_header_and_refuses_nonsense() {
        let (a, _, _) = two_changes();
        assert_eq!(chunk_len(&a), Some(a.len()));
        assert_eq!(chunk_len(&a[..5]), None);
        assert_eq!(chunk_len(b"xxxxxxxxxxxx"), None);
        let mut huge = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1];
        huge.extend_from_slice(&[0xff; 12]);
        assert_eq!(chunk_len(&huge), None);
    }
}
