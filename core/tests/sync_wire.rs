//! The wire codec against frames captured from the real automerge-repo 2.5.6 JS
//! implementation (tests/js/capture_wire.mjs), plus malformed input.

use minicbor::Encoder;
use proptest::prelude::*;
use setlink_core::sync::wire::{
    decode, decode_with_limit, encode, Message, PeerMetadata, RemoteHeads, WireError,
};
use setlink_core::DocumentId;

struct Frame {
    source: String,
    ty: String,
    bytes: Vec<u8>,
}

fn captured() -> (DocumentId, Vec<Frame>) {
    let text = include_str!("fixtures/wire/captured.json");
    let v: serde_json::Value = serde_json::from_str(text).expect("fixture is JSON");
    let doc: DocumentId = v["documentId"]
        .as_str()
        .expect("documentId")
        .parse()
        .expect("doc id");
    let frames = v["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .map(|f| Frame {
            source: f["source"].as_str().expect("source").to_owned(),
            ty: f["type"].as_str().expect("type").to_owned(),
            bytes: hex::decode(f["hex"].as_str().expect("hex")).expect("hex bytes"),
        })
        .collect();
    (doc, frames)
}

fn frame<'a>(frames: &'a [Frame], source: &str) -> &'a [u8] {
    &frames
        .iter()
        .find(|f| f.source == source)
        .expect(source)
        .bytes
}

#[test]
fn every_frame_a_real_js_repo_sent_decodes_and_reencodes_byte_for_byte() {
    let (_, frames) = captured();
    let real: Vec<&Frame> = frames
        .iter()
        .filter(|f| !f.source.starts_with("synthetic:"))
        .collect();
    let mut types: Vec<&str> = real.iter().map(|f| f.ty.as_str()).collect();
    types.sort();
    types.dedup();
    // The capture must have covered the whole 2.x conversation, or this test proves little.
    for ty in [
        "join",
        "peer",
        "request",
        "sync",
        "doc-unavailable",
        "ephemeral",
        "remote-subscription-change",
        "remote-heads-changed",
    ] {
        assert!(
            types.contains(&ty),
            "capture lacks a `{ty}` frame: {types:?}"
        );
    }
    for f in real {
        let m = decode(&f.bytes).unwrap_or_else(|e| panic!("{} {}: {e}", f.source, f.ty));
        assert_eq!(m.type_name(), f.ty);
        assert_eq!(
            encode(&m),
            f.bytes,
            "re-encoding the {} {} frame",
            f.source,
            f.ty
        );
    }
}

#[test]
fn js_join_and_peer_carry_storage_ids_and_version_1() {
    let (_, frames) = captured();
    let join = frames
        .iter()
        .find(|f| f.ty == "join" && f.source == "js-client")
        .expect("join");
    match decode(&join.bytes) {
        Ok(Message::Join {
            sender_id,
            peer_metadata: Some(md),
            supported_protocol_versions: Some(v),
        }) => {
            assert_eq!(sender_id, "client-peer");
            assert!(md.storage_id.is_some());
            assert_eq!(md.is_ephemeral, Some(false));
            assert_eq!(v, vec!["1".to_owned()]);
        }
        other => panic!("unexpected {other:?}"),
    }
    let peer = frames.iter().find(|f| f.ty == "peer").expect("peer");
    match decode(&peer.bytes) {
        Ok(Message::Peer {
            sender_id,
            target_id,
            selected_protocol_version,
            peer_metadata: Some(md),
        }) => {
            assert_eq!(
                (sender_id.as_str(), target_id.as_str()),
                ("server-peer", "client-peer")
            );
            assert_eq!(selected_protocol_version, "1");
            assert!(md.storage_id.is_some());
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn js_sync_data_is_an_automerge_sync_message() {
    let (doc, frames) = captured();
    let mut n = 0;
    for f in frames
        .iter()
        .filter(|f| f.ty == "sync" || f.ty == "request")
    {
        match decode(&f.bytes) {
            Ok(Message::Sync {
                data, document_id, ..
            })
            | Ok(Message::Request {
                data, document_id, ..
            }) => {
                automerge::sync::Message::decode(&data).expect("automerge sync message");
                if f.ty == "sync" && document_id == doc {
                    n += 1;
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(n >= 2);
}

#[test]
fn synthetic_js_frames_decode_to_the_values_the_script_encoded() {
    let (doc, frames) = captured();
    let check = |source: &str, want: Message| {
        let got = decode(frame(&frames, source)).unwrap_or_else(|e| panic!("{source}: {e}"));
        assert_eq!(got, want, "{source}");
        assert_eq!(
            decode(&encode(&got)).as_ref(),
            Ok(&want),
            "{source} round trip"
        );
    };
    check(
        "synthetic:error",
        Message::Error {
            sender_id: Some("server-peer".into()),
            message: "unsupported protocol version".into(),
            target_id: Some("client-peer".into()),
        },
    );
    check(
        "synthetic:leave",
        Message::Leave {
            sender_id: "client-peer".into(),
        },
    );
    check(
        "synthetic:join_no_storage",
        Message::Join {
            sender_id: "phone-1".into(),
            peer_metadata: Some(PeerMetadata {
                storage_id: None,
                is_ephemeral: Some(true),
                pushes_changes: None,
                implied_acks: None,
            }),
            supported_protocol_versions: Some(vec!["1".into()]),
        },
    );
    check(
        "synthetic:peer_min",
        Message::Peer {
            sender_id: "relay".into(),
            peer_metadata: Some(PeerMetadata::default()),
            selected_protocol_version: "1".into(),
            target_id: "phone-1".into(),
        },
    );
    check(
        "synthetic:doc_unavailable",
        Message::DocUnavailable {
            sender_id: "relay".into(),
            target_id: "phone-1".into(),
            document_id: doc,
        },
    );
    check(
        "synthetic:remote_subscription_change",
        Message::RemoteSubscriptionChange {
            sender_id: "phone-1".into(),
            target_id: "relay".into(),
            add: Some(vec!["storage-a".into(), "storage-b".into()]),
            remove: Some(vec!["storage-c".into()]),
        },
    );
    check(
        "synthetic:remote_heads_changed",
        Message::RemoteHeadsChanged {
            sender_id: "relay".into(),
            target_id: "phone-1".into(),
            document_id: doc,
            new_heads: vec![(
                "storage-a".into(),
                RemoteHeads {
                    heads: vec!["2kQ5vFcn5ARtvM7PVw3wqZmz4jJYLqGxCvt4bnq8J2Jt".into()],
                    timestamp: 1_764_000_000_123,
                },
            )],
        },
    );
    check(
        "synthetic:ephemeral_big_count",
        Message::Ephemeral {
            sender_id: "phone-1".into(),
            target_id: "relay".into(),
            count: 5_000_000_000,
            session_id: "k3j4h5".into(),
            document_id: doc,
            data: vec![1, 2, 3],
        },
    );
    // The JS encodes the broadcast value itself as CBOR inside `data`.
    match decode(frame(&frames, "synthetic:ephemeral_small_count")) {
        Ok(Message::Ephemeral { count: 7, data, .. }) => {
            let mut d = minicbor::Decoder::new(&data);
            assert_eq!(d.map().expect("map"), Some(1));
            assert_eq!(d.str().expect("key"), "eta");
            assert_eq!(d.str().expect("value"), "10:45");
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// Builds a CBOR map frame with minicbor from (key, writer) pairs.
type Writer<'a> = &'a dyn Fn(&mut Encoder<Vec<u8>>);

fn map_frame(entries: &[(&str, Writer<'_>)]) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    e.map(entries.len() as u64).expect("map");
    for (k, w) in entries {
        e.str(k).expect("key");
        w(&mut e);
    }
    e.into_writer()
}

fn doc_str() -> String {
    DocumentId::from_bytes([9; 16]).to_string()
}

#[test]
fn tolerates_extra_keys_any_order_tagged_bytes_and_indefinite_maps() {
    let d = doc_str();
    let frame = map_frame(&[
        ("senderId", &|e| {
            e.str("p1").expect("w");
        }),
        ("futureField", &|e| {
            e.array(2).expect("w").u8(1).expect("w").map(0).expect("w");
        }),
        ("data", &|e| {
            e.tag(minicbor::data::Tag::new(64))
                .expect("w")
                .bytes(&[1, 2])
                .expect("w");
        }),
        ("documentId", &|e| {
            e.str(&d).expect("w");
        }),
        ("targetId", &|e| {
            e.str("p2").expect("w");
        }),
        ("type", &|e| {
            e.str("sync").expect("w");
        }),
    ]);
    assert_eq!(
        decode(&frame),
        Ok(Message::Sync {
            sender_id: "p1".into(),
            target_id: "p2".into(),
            document_id: DocumentId::from_bytes([9; 16]),
            data: vec![1, 2],
        })
    );

    let mut e = Encoder::new(Vec::new());
    e.begin_map().expect("w");
    e.str("type").expect("w").str("leave").expect("w");
    e.str("senderId").expect("w").str("p1").expect("w");
    e.end().expect("w");
    assert_eq!(
        decode(&e.into_writer()),
        Ok(Message::Leave {
            sender_id: "p1".into()
        })
    );
}

#[test]
fn wrong_types_and_missing_fields_are_named() {
    let d = doc_str();
    let bad_data = map_frame(&[
        ("type", &|e| {
            e.str("sync").expect("w");
        }),
        ("senderId", &|e| {
            e.str("p1").expect("w");
        }),
        ("targetId", &|e| {
            e.str("p2").expect("w");
        }),
        ("documentId", &|e| {
            e.str(&d).expect("w");
        }),
        ("data", &|e| {
            e.str("not bytes").expect("w");
        }),
    ]);
    assert!(matches!(
        decode(&bad_data),
        Err(WireError::WrongType { field: "data", .. })
    ));

    let no_doc = map_frame(&[
        ("type", &|e| {
            e.str("request").expect("w");
        }),
        ("senderId", &|e| {
            e.str("p1").expect("w");
        }),
        ("targetId", &|e| {
            e.str("p2").expect("w");
        }),
        ("data", &|e| {
            e.bytes(&[1]).expect("w");
        }),
    ]);
    assert_eq!(
        decode(&no_doc),
        Err(WireError::MissingField {
            ty: "request",
            field: "documentId"
        })
    );

    let bad_doc = map_frame(&[
        ("type", &|e| {
            e.str("doc-unavailable").expect("w");
        }),
        ("senderId", &|e| {
            e.str("p1").expect("w");
        }),
        ("targetId", &|e| {
            e.str("p2").expect("w");
        }),
        ("documentId", &|e| {
            e.str("not-a-doc").expect("w");
        }),
    ]);
    assert!(matches!(
        decode(&bad_doc),
        Err(WireError::BadDocumentId { .. })
    ));

    let neg_count = map_frame(&[
        ("type", &|e| {
            e.str("ephemeral").expect("w");
        }),
        ("senderId", &|e| {
            e.str("p1").expect("w");
        }),
        ("targetId", &|e| {
            e.str("p2").expect("w");
        }),
        ("count", &|e| {
            e.i64(-3).expect("w");
        }),
        ("sessionId", &|e| {
            e.str("s").expect("w");
        }),
        ("documentId", &|e| {
            e.str(&d).expect("w");
        }),
        ("data", &|e| {
            e.bytes(&[1]).expect("w");
        }),
    ]);
    assert!(matches!(
        decode(&neg_count),
        Err(WireError::WrongType { field: "count", .. })
    ));

    let unknown = map_frame(&[("type", &|e| {
        e.str("hello").expect("w");
    })]);
    let err = decode(&unknown).expect_err("unknown type");
    assert!(err.is_unknown_type());
    assert_eq!(err.to_string(), "unknown message type `hello`");

    let untyped = map_frame(&[("senderId", &|e| {
        e.str("p1").expect("w");
    })]);
    assert_eq!(decode(&untyped), Err(WireError::MissingType));
}

#[test]
fn garbage_is_refused_with_an_error_not_a_panic() {
    assert_eq!(decode(&[]), Err(WireError::Empty));
    assert!(matches!(decode(b"hello"), Err(WireError::NotAMap(_))));
    assert!(matches!(decode(&[0xb9, 0x00]), Err(WireError::Cbor(_))));
    // A map claiming 2^64-1 entries must fail on the missing data, not allocate.
    assert!(matches!(
        decode(&[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x64]),
        Err(WireError::Cbor(_))
    ));
    // Deep nesting in an unknown key is skipped without recursion.
    let mut deep = vec![
        0xa2, 0x64, b't', b'y', b'p', b'e', 0x65, b'l', b'e', b'a', b'v', b'e', 0x61, b'x',
    ];
    deep.extend(std::iter::repeat_n(0x81, 100_000));
    deep.push(0x00);
    assert!(matches!(
        decode(&deep),
        Err(WireError::MissingField {
            ty: "leave",
            field: "senderId"
        })
    ));
    let big = vec![0xa0; 64];
    assert!(matches!(
        decode_with_limit(&big, 63),
        Err(WireError::TooLarge { .. })
    ));
}

fn arb_string() -> impl Strategy<Value = String> + Clone {
    "[a-zA-Z0-9 -]{0,40}"
}

fn arb_message() -> impl Strategy<Value = Message> {
    let doc = any::<[u8; 16]>().prop_map(DocumentId::from_bytes);
    let bytes = proptest::collection::vec(any::<u8>(), 0..300);
    let strs = proptest::collection::vec(arb_string(), 0..4);
    let md = (
        proptest::option::of(arb_string()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(storage_id, is_ephemeral, pushes_changes, implied_acks)| PeerMetadata {
                storage_id,
                is_ephemeral,
                pushes_changes,
                implied_acks,
            },
        );
    // JS numbers are exact up to 2^53.
    let js_uint = 0u64..(1u64 << 53);
    prop_oneof![
        (
            arb_string(),
            proptest::option::of(md.clone()),
            proptest::option::of(strs.clone())
        )
            .prop_map(|(sender_id, peer_metadata, supported_protocol_versions)| {
                Message::Join {
                    sender_id,
                    peer_metadata,
                    supported_protocol_versions,
                }
            }),
        (
            arb_string(),
            proptest::option::of(md),
            arb_string(),
            arb_string()
        )
            .prop_map(
                |(sender_id, peer_metadata, selected_protocol_version, target_id)| Message::Peer {
                    sender_id,
                    peer_metadata,
                    selected_protocol_version,
                    target_id
                }
            ),
        arb_string().prop_map(|sender_id| Message::Leave { sender_id }),
        (
            proptest::option::of(arb_string()),
            arb_string(),
            proptest::option::of(arb_string())
        )
            .prop_map(|(sender_id, message, target_id)| Message::Error {
                sender_id,
                message,
                target_id
            }),
        (arb_string(), arb_string(), doc.clone(), bytes.clone()).prop_map(
            |(sender_id, target_id, document_id, data)| {
                Message::Request {
                    sender_id,
                    target_id,
                    document_id,
                    data,
                }
            }
        ),
        (arb_string(), arb_string(), doc.clone(), bytes.clone()).prop_map(
            |(sender_id, target_id, document_id, data)| {
                Message::Sync {
                    sender_id,
                    target_id,
                    document_id,
                    data,
                }
            }
        ),
        (arb_string(), arb_string(), doc.clone()).prop_map(
            |(sender_id, target_id, document_id)| {
                Message::DocUnavailable {
                    sender_id,
                    target_id,
                    document_id,
                }
            }
        ),
        (
            arb_string(),
            arb_string(),
            js_uint.clone(),
            arb_string(),
            doc.clone(),
            bytes
        )
            .prop_map(
                |(sender_id, target_id, count, session_id, document_id, data)| Message::Ephemeral {
                    sender_id,
                    target_id,
                    count,
                    session_id,
                    document_id,
                    data
                }
            ),
        (
            arb_string(),
            arb_string(),
            proptest::option::of(strs.clone()),
            proptest::option::of(strs.clone())
        )
            .prop_map(|(sender_id, target_id, add, remove)| {
                Message::RemoteSubscriptionChange {
                    sender_id,
                    target_id,
                    add,
                    remove,
                }
            }),
        (
            arb_string(),
            arb_string(),
            doc,
            proptest::collection::vec((arb_string(), strs, js_uint), 0..3)
        )
            .prop_map(|(sender_id, target_id, document_id, heads)| {
                Message::RemoteHeadsChanged {
                    sender_id,
                    target_id,
                    document_id,
                    new_heads: heads
                        .into_iter()
                        .map(|(s, heads, timestamp)| (s, RemoteHeads { heads, timestamp }))
                        .collect(),
                }
            }),
    ]
}

proptest! {
    #[test]
    fn any_message_round_trips(m in arb_message()) {
        // newHeads is a JS object: a repeated storage id would collapse, so only
        // distinct keys are representable.
        if let Message::RemoteHeadsChanged { new_heads, .. } = &m {
            let mut keys: Vec<&String> = new_heads.iter().map(|(k, _)| k).collect();
            keys.sort();
            keys.dedup();
            prop_assume!(keys.len() == new_heads.len());
        }
        let bytes = encode(&m);
        prop_assert_eq!(decode(&bytes), Ok(m));
    }

    #[test]
    fn truncations_and_bit_flips_never_panic(m in arb_message(), cut in any::<usize>(), flip in any::<(usize, u8)>()) {
        let bytes = encode(&m);
        let cut = cut % (bytes.len() + 1);
        let _ = decode(&bytes[..cut]);
        let mut flipped = bytes.clone();
        let i = flip.0 % flipped.len();
        flipped[i] ^= flip.1;
        let _ = decode(&flipped);
    }
}
