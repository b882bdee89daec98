use super::*;

fn doc() -> DocumentId {
    DocumentId::random()
}

#[test]
fn the_api_lives_on_the_relays_host_and_port_over_http_for_ws() {
    for (sync, base) in [
        (
            "ws://localhost:7878/sync",
            "http://localhost:7878/api/attachments/",
        ),
        (
            "wss://relay.example.org/sync?token=x#f",
            "https://relay.example.org/api/attachments/",
        ),
        (
            "wss://relay.example.org:8443/prefix/sync",
            "https://relay.example.org:8443/api/attachments/",
        ),
        ("ws://[::1]:9/sync", "http://[::1]:9/api/attachments/"),
        (
            "wss://user:pw@relay.example.org/sync",
            "https://relay.example.org/api/attachments/",
        ),
    ] {
        assert_eq!(http_base(sync).unwrap().as_str(), base, "{sync}");
    }
    for bad in ["ftp://x/sync", "not a url", "file:///sync"] {
        assert!(
            matches!(http_base(bad), Err(ConnectError::InvalidUrl { .. })),
            "{bad}"
        );
    }
    let base = http_base("wss://relay.example.org/sync").unwrap();
    let d = doc();
    let h = "ab".repeat(32);
    assert_eq!(
        upload_url(&base, &h, &d).unwrap().as_str(),
        format!("https://relay.example.org/api/attachments/{h}/upload?doc={d}")
    );
    assert_eq!(
        download_url(&base, &h, &d).unwrap().as_str(),
        format!("https://relay.example.org/api/attachments/{h}?doc={d}")
    );
}

#[test]
fn relay_answers_are_classified() {
    assert_eq!(
        RelayReply::from_http(200, br#"{"received":5,"size":10,"complete":false}"#),
        RelayReply::State(UploadState {
            received: 5,
            size: Some(10),
            complete: false
        })
    );
    assert_eq!(
        RelayReply::from_http(200, br#"{"received":0,"size":null,"complete":false}"#),
        RelayReply::State(UploadState {
            received: 0,
            size: None,
            complete: false
        })
    );
    assert_eq!(
        RelayReply::from_http(409, br#"{"error":"offset 0 but holding 7","received":7}"#),
        RelayReply::Conflict { received: 7 }
    );
    assert_eq!(RelayReply::from_http(422, b"{}"), RelayReply::HashMismatch);
    assert_eq!(RelayReply::from_http(401, b""), RelayReply::SignInRequired);
    for later in [403, 404, 429, 500, 503] {
        assert!(
            matches!(
                RelayReply::from_http(later, br#"{"error":"no"}"#),
                RelayReply::TryLater { .. }
            ),
            "{later}"
        );
    }
    match RelayReply::from_http(415, br#"{"error":"not an image"}"#) {
        RelayReply::Refused { status, detail } => {
            assert_eq!(status, 415);
            assert_eq!(detail, "HTTP 415: not an image");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        RelayReply::from_http(200, b"<html>"),
        RelayReply::TryLater { .. }
    ));
}

fn state(received: u64, complete: bool) -> RelayReply {
    RelayReply::State(UploadState {
        received,
        size: Some(25),
        complete,
    })
}

#[test]
fn a_fresh_upload_asks_then_sends_every_chunk() {
    let mut p = UploadPlan::with_chunk(25, 10);
    assert_eq!(p.step(), &UploadStep::AskState);
    p.handle(RelayReply::State(UploadState {
        received: 0,
        size: None,
        complete: false,
    }));
    assert_eq!(p.step(), &UploadStep::Put { offset: 0, len: 10 });
    p.handle(state(10, false));
    assert_eq!(
        p.step(),
        &UploadStep::Put {
            offset: 10,
            len: 10
        }
    );
    p.handle(state(20, false));
    assert_eq!(p.step(), &UploadStep::Put { offset: 20, len: 5 });
    p.handle(state(25, true));
    assert_eq!(p.step(), &UploadStep::Done);
    assert_eq!(p.received(), 25);
    assert!(p.is_finished());
}

#[test]
fn a_cut_upload_resumes_from_what_the_relay_holds() {
    // The relay got 22 of 25 bytes before the connection dropped.
    let mut p = UploadPlan::with_chunk(25, 10);
    p.handle(state(22, false));
    assert_eq!(p.received(), 22);
    assert_eq!(p.step(), &UploadStep::Put { offset: 22, len: 3 });
    p.handle(state(25, true));
    assert_eq!(p.step(), &UploadStep::Done);

    // Already complete (another device, or an earlier try whose answer was lost).
    let mut p = UploadPlan::with_chunk(25, 10);
    p.handle(state(25, true));
    assert_eq!(p.step(), &UploadStep::Done);
}

#[test]
fn a_conflict_resumes_at_the_relays_count_and_endless_conflicts_wait() {
    let mut p = UploadPlan::with_chunk(25, 10);
    p.handle(state(0, false));
    p.handle(RelayReply::Conflict { received: 10 });
    assert_eq!(
        p.step(),
        &UploadStep::Put {
            offset: 10,
            len: 10
        }
    );
    for _ in 0..MAX_STALLS {
        p.handle(RelayReply::Conflict { received: 10 });
        assert_eq!(
            p.step(),
            &UploadStep::Put {
                offset: 10,
                len: 10
            }
        );
    }
    p.handle(RelayReply::Conflict { received: 10 });
    assert!(
        matches!(p.step(), UploadStep::TryLater(_)),
        "{:?}",
        p.step()
    );
}

#[test]
fn a_hash_mismatch_restarts_once_then_gives_up() {
    let mut p = UploadPlan::with_chunk(25, 10);
    p.handle(state(20, false));
    p.handle(RelayReply::HashMismatch);
    assert_eq!(p.step(), &UploadStep::Put { offset: 0, len: 10 });
    assert_eq!(p.received(), 0);
    p.handle(state(10, false));
    p.handle(state(20, false));
    p.handle(RelayReply::HashMismatch);
    assert!(matches!(p.step(), UploadStep::Refused(_)), "{:?}", p.step());
    // Finished plans ignore late answers.
    p.handle(state(25, true));
    assert!(matches!(p.step(), UploadStep::Refused(_)));
}

#[test]
fn not_yet_refused_and_signed_out_end_the_plan() {
    let mut p = UploadPlan::with_chunk(25, 10);
    p.handle(RelayReply::TryLater {
        detail: "HTTP 403: the document does not reference it".into(),
    });
    assert_eq!(
        p.step(),
        &UploadStep::TryLater("HTTP 403: the document does not reference it".into())
    );
    let mut p = UploadPlan::with_chunk(25, 10);
    p.handle(state(0, false));
    p.handle(RelayReply::Refused {
        status: 413,
        detail: "too large".into(),
    });
    assert_eq!(p.step(), &UploadStep::Refused("too large".into()));
    let mut p = UploadPlan::with_chunk(25, 10);
    p.handle(RelayReply::SignInRequired);
    assert_eq!(p.step(), &UploadStep::SignInRequired);
    // The relay holding another size under this hash, or all bytes but not complete.
    let mut p = UploadPlan::with_chunk(25, 10);
    p.handle(RelayReply::State(UploadState {
        received: 5,
        size: Some(99),
        complete: false,
    }));
    assert!(matches!(p.step(), UploadStep::TryLater(_)));
    let mut p = UploadPlan::with_chunk(25, 10);
    p.handle(state(25, false));
    assert!(matches!(p.step(), UploadStep::TryLater(_)));
}
