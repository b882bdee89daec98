//! Receipt and proof-of-delivery photos through the real relay, as an outsider would send
//! them over raw HTTP (`server/src/attachments`): an upload in 1 MiB parts that survives a
//! connection cut mid-part and a SIGKILL, downloads and byte ranges for whoever may read
//! the board, refusals for everyone else, bad files refused with nothing stored, and the
//! thumbnail on the coordinator's run page, petty cash and CSV.

use std::net::SocketAddr;
use std::time::Duration;

use automerge::ChangeHash;
use serde_json::Value;
use setlink_core::attachment::{self, AttachmentRef};
use setlink_core::model::run::{self, ProofInput, ReceiptInput};
use setlink_core::{Author, DocumentId, Role};
use setlink_tests::dashboard::sign_in;
use setlink_tests::demo::{connected, demo_board, run_id, synced};
use setlink_tests::http::{redeem, request_from, request_raw, Creds};
use setlink_tests::photos::jpeg;
use setlink_tests::{Peer, Relay};
use tokio::io::AsyncWriteExt;

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");
const PART: usize = 1024 * 1024;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// One `PUT …/upload` part; (status, JSON answer).
async fn put(
    addr: SocketAddr,
    token: &str,
    r: &AttachmentRef,
    doc: DocumentId,
    offset: usize,
    bytes: &[u8],
) -> (u16, Value) {
    let path = format!(
        "/api/attachments/{}/upload?doc={doc}&offset={offset}&size={}&type={}",
        r.hash,
        r.size,
        r.kind.mime()
    );
    let (status, body) = request_raw(addr, "PUT", &path, Some(token), Some(bytes.to_vec())).await;
    (status, json(&body))
}

/// `GET …/upload`: how many bytes the relay holds.
async fn received(addr: SocketAddr, token: &str, hash: &str, doc: DocumentId) -> (u16, Value) {
    let path = format!("/api/attachments/{hash}/upload?doc={doc}");
    let (status, body) = request_raw(addr, "GET", &path, Some(token), None).await;
    (status, json(&body))
}

/// Uploads `bytes` from `from` to the end, one part at a time; the last answer.
async fn upload_from(
    addr: SocketAddr,
    token: &str,
    r: &AttachmentRef,
    doc: DocumentId,
    bytes: &[u8],
    from: usize,
) -> (u16, Value) {
    let mut at = from;
    loop {
        let end = (at + PART).min(bytes.len());
        let (status, v) = put(addr, token, r, doc, at, &bytes[at..end]).await;
        if status != 200 || v["complete"] == true {
            return (status, v);
        }
        at = v["received"].as_u64().unwrap() as usize;
    }
}

/// A part whose connection is cut halfway through its body.
async fn cut_part(
    addr: SocketAddr,
    token: &str,
    r: &AttachmentRef,
    doc: DocumentId,
    offset: usize,
    bytes: &[u8],
) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT /api/attachments/{}/upload?doc={doc}&offset={offset}&size={}&type={} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\ncontent-length: {}\r\n\r\n",
        r.hash,
        r.size,
        r.kind.mime(),
        bytes.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&bytes[..bytes.len() / 2]).await.unwrap();
    s.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(s);
}

async fn get(addr: SocketAddr, token: &str, path: &str) -> (u16, Vec<u8>) {
    request_raw(addr, "GET", path, Some(token), None).await
}

/// The PA's device on the demo board, and the PA as an author.
async fn pa_on_board(relay: &Relay, pa: &Creds) -> (Peer, DocumentId, Author) {
    let dev = connected(relay, &pa.token, "pat").await;
    let prod: DocumentId = pa.production_doc_id.parse().unwrap();
    let board = demo_board(&dev, prod).await;
    synced(&dev, board).await;
    dev.wait(10, "the demo runs", move |d, _| {
        d.docs
            .get(&board)
            .is_some_and(|b| run::list_runs(b).is_ok_and(|r| r.items.len() >= 4))
    })
    .await;
    let by = Author {
        member_id: pa.member_id.clone(),
        device_id: "pat-phone".into(),
        role: Role::Pa,
    };
    (dev, board, by)
}

/// Waits until the relay has acknowledged `heads` of `doc` from `dev`.
async fn relay_acked(dev: &Peer, doc: DocumentId, heads: Vec<ChangeHash>) {
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while !heads.iter().all(|h| dev.acknowledged(doc).contains(h)) {
        assert!(
            tokio::time::Instant::now() < until,
            "the relay never acknowledged the change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Adds a receipt on the first run of the board referencing `r`, synced to the relay;
/// returns the run's title.
async fn receipt_with(
    dev: &Peer,
    board: DocumentId,
    by: &Author,
    r: &AttachmentRef,
    vendor: &str,
) -> String {
    let title = dev
        .read(board, |d| {
            run::list_runs(d).unwrap().items[0].record.title.clone()
        })
        .unwrap();
    let id = dev.read(board, |d| run_id(d, &title)).unwrap();
    let heads = dev.change(board, |d| {
        let input = ReceiptInput {
            vendor: vendor.into(),
            total_cents: 1250,
            tax_cents: 100,
            account_code: None,
            photo_ref: Some(r.to_reference()),
        };
        run::add_receipt(d, by, setlink_server::auth::now_ms(), &id, input).unwrap();
        d.get_heads()
    });
    relay_acked(dev, board, heads).await;
    title
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_uploads_in_parts_resumes_after_a_cut_and_only_readers_of_its_board_fetch_it() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let addr = relay.addr;
    let pa = redeem(addr, relay.code("pa"), "Pat", "pat-phone").await;
    let casey = redeem(addr, relay.code("coordinator"), "Casey", "casey-phone").await;
    let cam = redeem(addr, relay.code("crew"), "Cam", "cam-phone").await;
    let (dev, board, by) = pa_on_board(&relay, &pa).await;

    let bytes = jpeg(1600, 1000, 1);
    assert!(
        bytes.len() > 2 * PART,
        "a photo of several parts: {}",
        bytes.len()
    );
    let r = AttachmentRef::for_bytes(&bytes).unwrap();

    // Before the board references it, the relay takes none of it.
    let (status, v) = received(addr, &pa.token, &r.hash, board).await;
    assert_eq!(status, 403, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("does not reference"),
        "{v}"
    );
    let title = receipt_with(&dev, board, &by, &r, "Craft Depot").await;

    // The first part; then a part cut off mid-body stores nothing of itself.
    let (status, v) = put(addr, &pa.token, &r, board, 0, &bytes[..PART]).await;
    assert_eq!(
        (status, v["received"].as_u64(), v["complete"].as_bool()),
        (200, Some(PART as u64), Some(false)),
        "{v}"
    );
    cut_part(addr, &pa.token, &r, board, PART, &bytes[PART..2 * PART]).await;
    let (status, v) = received(addr, &pa.token, &r.hash, board).await;
    assert_eq!(
        (status, v["received"].as_u64()),
        (200, Some(PART as u64)),
        "{v}"
    );
    // A part sent from the wrong place says where to resume.
    let (status, v) = put(addr, &pa.token, &r, board, 0, &bytes[..PART]).await;
    assert_eq!(
        (status, v["received"].as_u64()),
        (409, Some(PART as u64)),
        "{v}"
    );
    let (status, v) = upload_from(addr, &pa.token, &r, board, &bytes, PART).await;
    assert_eq!((status, v["complete"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(v["received"].as_u64(), Some(bytes.len() as u64));

    // The coordinator reads it whole and in ranges.
    let path = format!("/api/attachments/{}?doc={board}", r.hash);
    let (status, got) = get(addr, &casey.token, &path).await;
    assert_eq!(status, 200);
    assert!(got == bytes, "the photo comes back byte for byte");
    let bearer = format!("Bearer {}", casey.token);
    let local = "127.0.0.1".parse().unwrap();
    let ranged = |range: String| {
        let (path, bearer) = (path.clone(), bearer.clone());
        async move {
            let headers = [
                ("authorization", bearer.as_str()),
                ("range", range.as_str()),
            ];
            request_from(local, addr, "GET", &path, &headers, Vec::new()).await
        }
    };
    let raw = ranged("bytes=100-199".into()).await;
    assert_eq!(raw.status, 206);
    assert_eq!(raw.bytes, bytes[100..200].to_vec());
    assert_eq!(
        raw.header("content-range"),
        Some(format!("bytes 100-199/{}", bytes.len()).as_str())
    );
    let raw = ranged(format!("bytes={}-", bytes.len() + 10)).await;
    assert_eq!(raw.status, 416);

    // A crew member may not read boards, so not their photos; another production does not
    // even learn the board exists; no token is no access.
    let (status, body) = get(addr, &cam.token, &path).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let code = relay.create_production("Other Show", "Bea");
    let bea = redeem(addr, &code, "Bea", "bea-phone").await;
    let (status, _) = get(addr, &bea.token, &path).await;
    assert_eq!(status, 404);
    let (status, _) = request_raw(addr, "GET", &path, None, None).await;
    assert_eq!(status, 401);
    // A hash the board does not reference opens nothing, even one the relay holds elsewhere.
    let other = "0".repeat(64);
    let (status, _) = get(
        addr,
        &casey.token,
        &format!("/api/attachments/{other}?doc={board}"),
    )
    .await;
    assert_eq!(status, 403);

    // The coordinator's run page shows the thumbnail; it opens the photo.
    let office = sign_in(addr, relay.code("coordinator")).await.unwrap();
    let day = relay.day.clone();
    let id = dev.read(board, |d| run_id(d, &title)).unwrap();
    let page = office.get(&format!("/dashboard/runs/{id}?day={day}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let thumb_path = format!("/dashboard/photos/{}/thumb?day={day}", r.hash);
    assert!(
        page.body.contains(&thumb_path.replace('&', "&amp;")) || page.body.contains(&thumb_path),
        "the run page shows the thumbnail: {}",
        page.body
    );
    let thumb = office.get(&thumb_path).await;
    assert_eq!(thumb.status, 200);
    let img = image::load_from_memory(&thumb.bytes).expect("the thumbnail is an image");
    assert_eq!((img.width(), img.height()), (320, 200));
    let full = office
        .get(&format!("/dashboard/photos/{}?day={day}", r.hash))
        .await;
    assert!(
        full.status == 200 && full.bytes == bytes,
        "the full photo on click"
    );
    let cash = office
        .get(&format!("/dashboard/petty-cash?day={day}"))
        .await;
    assert!(
        cash.body.contains(&thumb_path.replace('&', "&amp;")),
        "petty cash links the receipt's photo"
    );
    let csv = office
        .get(&format!("/dashboard/petty-cash.csv?day={day}"))
        .await;
    assert!(
        csv.body.contains(&format!("{}.jpg", r.hash)),
        "the CSV names the photo: {}",
        csv.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_with_clear_errors_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &["--max-attachment-bytes", "3000000"]);
    let addr = relay.addr;
    let pa = redeem(addr, relay.code("pa"), "Pat", "pat-phone").await;
    let (dev, board, by) = pa_on_board(&relay, &pa).await;

    let nothing_stored = |hash: String| {
        let token = pa.token.clone();
        async move {
            let (status, v) = received(addr, &token, &hash, board).await;
            assert_eq!(
                (status, v["received"].as_u64(), v["complete"].as_bool()),
                (200, Some(0), Some(false)),
                "{v}"
            );
        }
    };

    // Over the relay's limit: refused before any byte is read.
    let big = jpeg(2600, 2000, 2);
    let r = AttachmentRef::for_bytes(&big).unwrap();
    receipt_with(&dev, board, &by, &r, "Big").await;
    let (status, v) = put(addr, &pa.token, &r, board, 0, &big[..PART]).await;
    assert_eq!(status, 413, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("at most 3000000"),
        "{v}"
    );
    nothing_stored(r.hash.clone()).await;

    // Text named a JPEG: the bytes decide.
    let text = b"this is not a photo of a receipt".repeat(10);
    let fake = AttachmentRef {
        hash: attachment::hash(&text),
        kind: attachment::AttachmentType::Jpeg,
        size: text.len() as u64,
    };
    receipt_with(&dev, board, &by, &fake, "Fake").await;
    let (status, v) = put(addr, &pa.token, &fake, board, 0, &text).await;
    assert_eq!(status, 415, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("not a image/jpeg"),
        "{v}"
    );
    nothing_stored(fake.hash.clone()).await;

    // A JPEG's first bytes and then garbage: caught when the whole is decoded.
    let mut broken = jpeg(64, 64, 3)[..200].to_vec();
    broken.extend(std::iter::repeat_n(0x55u8, 5000));
    let br = AttachmentRef::for_bytes(&broken).unwrap();
    receipt_with(&dev, board, &by, &br, "Broken").await;
    let (status, v) = put(addr, &pa.token, &br, board, 0, &broken).await;
    assert_eq!(status, 415, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("not a readable image/jpeg"),
        "{v}"
    );
    nothing_stored(br.hash.clone()).await;

    // Bytes that are not what the hash names: discarded whole.
    let real = jpeg(200, 100, 4);
    let rr = AttachmentRef::for_bytes(&real).unwrap();
    receipt_with(&dev, board, &by, &rr, "Swapped").await;
    let other = jpeg(200, 100, 5);
    let (status, v) = put(
        addr,
        &pa.token,
        &AttachmentRef {
            size: other.len() as u64,
            ..rr.clone()
        },
        board,
        0,
        &other,
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert!(v["error"].as_str().unwrap().contains("hash to"), "{v}");
    nothing_stored(rr.hash.clone()).await;
    let (status, _) = get(
        addr,
        &pa.token,
        &format!("/api/attachments/{}?doc={board}", rr.hash),
    )
    .await;
    assert_eq!(status, 404);

    // A type the relay does not take, a part over 1 MiB, a bad hash, no token.
    let gif = format!(
        "/api/attachments/{}/upload?doc={board}&offset=0&size=10&type=image/gif",
        rr.hash
    );
    let (status, _) = request_raw(
        addr,
        "PUT",
        &gif,
        Some(&pa.token),
        Some(b"GIF89a....".to_vec()),
    )
    .await;
    assert_eq!(status, 415);
    let mid = jpeg(1400, 1000, 6);
    let mr = AttachmentRef::for_bytes(&mid).unwrap();
    receipt_with(&dev, board, &by, &mr, "Mid").await;
    let (status, v) = put(addr, &pa.token, &mr, board, 0, &mid[..PART + 1]).await;
    assert_eq!(status, 413, "{v}");
    nothing_stored(mr.hash.clone()).await;
    let (status, _) = request_raw(
        addr,
        "GET",
        &format!("/api/attachments/xyz/upload?doc={board}"),
        Some(&pa.token),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = request_raw(
        addr,
        "PUT",
        &format!(
            "/api/attachments/{}/upload?doc={board}&offset=0&size=10&type=image/jpeg",
            mr.hash
        ),
        None,
        Some(vec![1; 10]),
    )
    .await;
    assert_eq!(status, 401);

    // After all that, the good photo still goes up whole.
    let (status, v) = upload_from(addr, &pa.token, &rr, board, &real, 0).await;
    assert_eq!((status, v["complete"].as_bool()), (200, Some(true)), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_during_uploads_keeps_every_part_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(BIN, dir.path(), &[]);
    let addr = relay.addr;
    let pa = redeem(addr, relay.code("pa"), "Pat", "pat-phone").await;
    let casey = redeem(addr, relay.code("coordinator"), "Casey", "casey-phone").await;
    let (dev, board, by) = pa_on_board(&relay, &pa).await;
    let photos: Vec<Vec<u8>> = (0..4).map(|i| jpeg(1500, 1000, 10 + i)).collect();
    let refs: Vec<AttachmentRef> = photos
        .iter()
        .map(|p| AttachmentRef::for_bytes(p).unwrap())
        .collect();
    for (i, r) in refs.iter().enumerate() {
        receipt_with(&dev, board, &by, r, &format!("Vendor {i}")).await;
    }
    drop(dev);

    // Four uploads at once; the relay is killed while they are under way.
    let parts_acked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (p, r) in photos.iter().cloned().zip(refs.clone()) {
        let token = pa.token.clone();
        let parts_acked = parts_acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = 0usize;
            loop {
                let end = (acked + PART).min(p.len());
                let path = format!(
                    "/api/attachments/{}/upload?doc={board}&offset={acked}&size={}&type=image/jpeg",
                    r.hash, r.size
                );
                // request_raw panics when the relay is gone: each part in its own task.
                let (token, part) = (token.clone(), p[acked..end].to_vec());
                let req = tokio::spawn(async move {
                    request_raw(addr, "PUT", &path, Some(&token), Some(part)).await
                });
                let sent = tokio::time::timeout(Duration::from_secs(5), req)
                    .await
                    .ok()
                    .and_then(Result::ok);
                match sent {
                    Some((200, body)) => {
                        let v = json(&body);
                        acked = v["received"].as_u64().unwrap() as usize;
                        parts_acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if v["complete"] == true {
                            return acked;
                        }
                    }
                    _ => return acked,
                }
            }
        }));
    }
    // Killed once two parts are acknowledged: most of the four uploads are mid-way.
    while parts_acked.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    relay.kill();
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.unwrap());
    }
    assert!(
        photos.iter().zip(&acked).any(|(p, a)| *a < p.len()),
        "an upload was under way when the relay died: {acked:?}"
    );
    relay.restart();
    let addr = relay.addr;
    for ((p, r), acked) in photos.iter().zip(&refs).zip(&acked) {
        let (status, v) = received(addr, &pa.token, &r.hash, board).await;
        assert_eq!(status, 200, "{v}");
        let held = v["received"].as_u64().unwrap() as usize;
        assert!(
            held >= *acked,
            "the relay acknowledged {acked} bytes and holds {held}"
        );
        let (status, v) = upload_from(addr, &pa.token, r, board, p, held).await;
        assert_eq!((status, v["complete"].as_bool()), (200, Some(true)), "{v}");
        let (status, got) = get(
            addr,
            &casey.token,
            &format!("/api/attachments/{}?doc={board}", r.hash),
        )
        .await;
        assert!(
            status == 200 && got == *p,
            "photo {} whole after the restart",
            r.hash
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_nothing_references_any_more_and_an_abandoned_upload_are_collected() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &["--attachment-grace-secs", "5"]);
    let addr = relay.addr;
    let pa = redeem(addr, relay.code("pa"), "Pat", "pat-phone").await;
    let (dev, board, by) = pa_on_board(&relay, &pa).await;
    let id = dev
        .read(board, |d| {
            run::list_runs(d).unwrap().items[0].record.id.clone()
        })
        .unwrap();
    let prove = |r: &AttachmentRef| {
        let (id, by, photo_ref) = (id.clone(), by.clone(), r.to_reference());
        dev.change(board, move |d| {
            let proof = ProofInput {
                received_by: "2nd AC".into(),
                note: None,
                photo_ref: Some(photo_ref),
            };
            run::set_proof_of_delivery(d, &by, setlink_server::auth::now_ms(), &id, proof).unwrap();
            d.get_heads()
        })
    };

    // A proof of delivery with one photo, then re-recorded with another.
    let (first, second) = (jpeg(300, 200, 20), jpeg(300, 200, 21));
    let (r1, r2) = (
        AttachmentRef::for_bytes(&first).unwrap(),
        AttachmentRef::for_bytes(&second).unwrap(),
    );
    relay_acked(&dev, board, prove(&r1)).await;
    assert_eq!(
        upload_from(addr, &pa.token, &r1, board, &first, 0).await.0,
        200
    );
    relay_acked(&dev, board, prove(&r2)).await;
    assert_eq!(
        upload_from(addr, &pa.token, &r2, board, &second, 0).await.0,
        200
    );
    // And an upload of a third photo abandoned after its first part.
    let third = jpeg(1400, 1000, 22);
    let r3 = AttachmentRef::for_bytes(&third).unwrap();
    receipt_with(&dev, board, &by, &r3, "Abandoned").await;
    assert_eq!(
        put(addr, &pa.token, &r3, board, 0, &third[..PART]).await.0,
        200
    );

    // What the relay's database holds, read beside it (WAL: readers do not block it).
    let db = dir.path().join("setlink.db");
    let stored = move || {
        let c =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let hashes: Vec<String> = c
            .prepare("SELECT hash FROM attachments ORDER BY hash")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let parts: i64 = c
            .query_row("SELECT COUNT(*) FROM attachment_parts", [], |r| r.get(0))
            .unwrap();
        (hashes, parts)
    };
    let mut both = vec![r1.hash.clone(), r2.hash.clone()];
    both.sort();
    assert_eq!(
        stored(),
        (both, 1),
        "both photos and the abandoned part, before the grace period"
    );
    // Past the grace period the first photo and the abandoned part go; the photo the proof
    // references now stays.
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = stored();
        if now == (vec![r2.hash.clone()], 0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "not collected: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        get(
            addr,
            &pa.token,
            &format!("/api/attachments/{}?doc={board}", r2.hash)
        )
        .await
        .0,
        200,
        "the referenced photo is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_moves_between_relays_on_postgresql_and_each_part_lands_once() {
    let cluster = setlink_tests::cluster::Cluster::start(BIN, 2, &[]);
    let (a, b) = (&cluster.relays[0], &cluster.relays[1]);
    let pa = redeem(a.addr, cluster.code("pa"), "Pat", "pat-phone").await;
    let casey = redeem(b.addr, cluster.code("coordinator"), "Casey", "casey").await;
    let (dev, board, by) = pa_on_board(a, &pa).await;
    let bytes = jpeg(1500, 1000, 30);
    let r = AttachmentRef::for_bytes(&bytes).unwrap();
    receipt_with(&dev, board, &by, &r, "Across").await;

    // The first part through relay A, which then goes away from the phone's view...
    let (status, v) = put(a.addr, &pa.token, &r, board, 0, &bytes[..PART]).await;
    assert_eq!(
        (status, v["received"].as_u64()),
        (200, Some(PART as u64)),
        "{v}"
    );
    // ...and relay B, on the same database, knows where to resume.
    let (status, v) = received(b.addr, &pa.token, &r.hash, board).await;
    assert_eq!(
        (status, v["received"].as_u64()),
        (200, Some(PART as u64)),
        "{v}"
    );
    // The same next part sent to both relays at once is stored once.
    let next = &bytes[PART..2 * PART];
    let (x, y) = tokio::join!(
        put(a.addr, &pa.token, &r, board, PART, next),
        put(b.addr, &pa.token, &r, board, PART, next)
    );
    let mut statuses = [x.0, y.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{x:?} {y:?}");
    let (status, v) = upload_from(b.addr, &pa.token, &r, board, &bytes, 2 * PART).await;
    assert_eq!((status, v["complete"].as_bool()), (200, Some(true)), "{v}");

    for relay in [a, b] {
        let path = format!("/api/attachments/{}?doc={board}", r.hash);
        let (status, got) = get(relay.addr, &casey.token, &path).await;
        assert!(
            status == 200 && got == bytes,
            "whole from relay {}",
            relay.addr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_last_part_landed_just_before_a_crash_is_finished_when_asked_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(BIN, dir.path(), &[]);
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "pat-phone").await;
    let casey = redeem(relay.addr, relay.code("coordinator"), "Casey", "casey").await;
    let (dev, board, by) = pa_on_board(&relay, &pa).await;
    let photos = [jpeg(1000, 800, 40), jpeg(1000, 800, 41)];
    let refs = photos
        .each_ref()
        .map(|p| AttachmentRef::for_bytes(p).unwrap());
    for (i, r) in refs.iter().enumerate() {
        receipt_with(&dev, board, &by, r, &format!("Crash {i}")).await;
        let (status, _) = put(relay.addr, &pa.token, r, board, 0, &photos[i][..PART]).await;
        assert_eq!(status, 200);
    }
    drop(dev);
    // The relay dies after committing each upload's last part and before storing it whole:
    // the committed part is written beside the stopped relay, as it would have been.
    relay.kill();
    {
        let c = rusqlite::Connection::open(dir.path().join("setlink.db")).unwrap();
        for (p, r) in photos.iter().zip(&refs) {
            c.execute(
                "INSERT INTO attachment_parts (production_id, hash, part_offset, size, mime, bytes, written_at_ms)
                 SELECT production_id, hash, ?2, size, mime, ?3, written_at_ms FROM attachment_parts
                 WHERE hash = ?1 AND part_offset = 0",
                rusqlite::params![r.hash, PART as i64, &p[PART..]],
            )
            .unwrap();
        }
    }
    relay.restart();
    let addr = relay.addr;
    // The phone asks where the upload stands: the relay finishes it.
    let (status, v) = received(addr, &pa.token, &refs[0].hash, board).await;
    assert_eq!((status, v["complete"].as_bool()), (200, Some(true)), "{v}");
    // The phone re-sends its last part: the relay finishes it.
    let (status, v) = put(addr, &pa.token, &refs[1], board, PART, &photos[1][PART..]).await;
    assert_eq!((status, v["complete"].as_bool()), (200, Some(true)), "{v}");
    for (p, r) in photos.iter().zip(&refs) {
        let path = format!("/api/attachments/{}?doc={board}", r.hash);
        let (status, got) = get(addr, &casey.token, &path).await;
        assert!(status == 200 && got == *p, "photo {} whole", r.hash);
    }
}
