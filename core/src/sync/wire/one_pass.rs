//! The one-pass decode of the commonest frame. Every automerge-repo client writes `type`
//! as a message's first key, and a relay decodes one frame per subscriber per change (each
//! acknowledging the fan-out): a profile of `relay-bench --only fanout` put the two-pass
//! decode at ~8% of the relay's CPU, so the common frame is read once (BENCHMARKS.md).

use minicbor::decode::Decoder;

use super::{cbor_err, for_each_entry, Fields, Kind, Message, WireError};

/// Decodes a frame whose first key is `type`. `None` when the frame is anything else or
/// anything in it is amiss: [`super::decode_two_passes`] then gives the answer, so every
/// frame decodes, or fails, exactly as the two passes say.
pub(super) fn decode_type_first(frame: &[u8]) -> Option<Message> {
    let mut d = Decoder::new(frame);
    let (mut kind, mut fields) = (None, Fields::default());
    // The errors below only end the pass; nobody sees them.
    for_each_entry(&mut d, |key, dec| match (key, kind) {
        (Some("type"), None) => {
            let name = dec.str().map_err(cbor_err)?;
            kind = Some(Kind::from_name(name).ok_or(WireError::MissingType)?);
            Ok(())
        }
        // Not `type` first, or a second `type` (the two passes take the last).
        (_, None) | (Some("type"), Some(_)) => Err(WireError::MissingType),
        (Some(k), Some(kind)) if kind.reads(k) => fields.read(k, dec),
        _ => dec.skip().map_err(cbor_err),
    })
    .ok()?;
    if d.position() != frame.len() {
        return None;
    }
    fields.into_message(kind?).ok()
}

#[cfg(test)]
mod tests {
    use super::super::{decode, decode_two_passes, encode, PeerMetadata};
    use super::*;
    use crate::ids::DocumentId;
    use minicbor::encode::Encoder;

    fn frames() -> Vec<Vec<u8>> {
        let doc = DocumentId::from_bytes([3; 16]);
        let messages = [
            Message::Sync {
                sender_id: "a".into(),
                target_id: "b".into(),
                document_id: doc,
                data: vec![0x42; 40],
            },
            Message::Join {
                sender_id: "a".into(),
                peer_metadata: Some(PeerMetadata {
                    storage_id: Some("s".into()),
                    is_ephemeral: Some(false),
                    pushes_changes: Some(true),
                    implied_acks: Some(true),
                }),
                supported_protocol_versions: Some(vec!["1".into()]),
            },
            Message::Leave {
                sender_id: "a".into(),
            },
            Message::Error {
                sender_id: None,
                message: "no".into(),
                target_id: None,
            },
        ];
        messages.iter().map(encode).collect()
    }

    #[test]
    fn it_agrees_with_the_two_passes_on_every_cut_and_flipped_byte() {
        let mut checked = 0;
        for frame in frames() {
            assert_eq!(decode_type_first(&frame), decode_two_passes(&frame).ok());
            for i in 0..frame.len() {
                assert_eq!(
                    decode_type_first(&frame[..i]),
                    decode_two_passes(&frame[..i]).ok()
                );
                for bit in 0..8u8 {
                    let mut flipped = frame.clone();
                    flipped[i] ^= 1 << bit;
                    if let Some(m) = decode_type_first(&flipped) {
                        assert_eq!(Ok(m), decode_two_passes(&flipped), "{flipped:02x?}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 50, "only {checked} flipped frames decoded");
    }

    fn map(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        e.map(entries.len() as u64).unwrap();
        for (k, v) in entries {
            e.str(k).unwrap().str(v).unwrap();
        }
        e.into_writer()
    }

    #[test]
    fn type_elsewhere_or_twice_is_left_to_the_two_passes() {
        let later = map(&[("senderId", "x"), ("type", "leave")]);
        assert_eq!(decode_type_first(&later), None);
        let leave = Message::Leave {
            sender_id: "x".into(),
        };
        assert_eq!(decode(&later), Ok(leave.clone()));
        // Two `type`s: the last one names the message, as it always has.
        let twice = map(&[("type", "error"), ("senderId", "x"), ("type", "leave")]);
        assert_eq!(decode_type_first(&twice), None);
        assert_eq!(decode(&twice), Ok(leave));
    }
}
