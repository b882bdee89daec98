//! Wire round trips and refusals (the captured JS frames are in `core/tests`).

use super::*;

fn doc() -> DocumentId {
    DocumentId::from_bytes([7; 16])
}

#[test]
fn sync_round_trips() {
    let m = Message::Sync {
        sender_id: "a".into(),
        target_id: "b".into(),
        document_id: doc(),
        data: vec![0x42, 1, 2],
    };
    assert_eq!(decode(&encode(&m)), Ok(m));
}

#[test]
fn one_sync_for_many_gives_each_peer_its_own_message() {
    let data = vec![0x42; 300];
    let shared = SyncForMany::new("relay", &doc(), &data);
    for target in ["b", "a-much-longer-peer-id-of-some-browser-tab-0123456789"] {
        let m = Message::Sync {
            sender_id: "relay".into(),
            target_id: target.into(),
            document_id: doc(),
            data: data.clone(),
        };
        assert_eq!(decode(&shared.to(target)), Ok(m));
    }
}

#[test]
fn rejects_non_map_and_trailing_bytes() {
    assert!(matches!(decode(&[0x01]), Err(WireError::NotAMap(_))));
    let mut frame = encode(&Message::Leave {
        sender_id: "x".into(),
    });
    frame.push(0);
    assert_eq!(decode(&frame), Err(WireError::TrailingBytes(1)));
}

#[test]
fn oversized_frame_is_refused_before_parsing() {
    let frame = vec![0xff; 100];
    assert_eq!(
        decode_with_limit(&frame, 99),
        Err(WireError::TooLarge { len: 100, max: 99 })
    );
}
