//! The attachment client's HTTP side against a small fake of the relay's attachments API:
//! an upload cut mid-way resumes from what the relay holds (no byte sent twice), and a
//! download is checked before it is cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use setlink_core::attachment::{hash, AttachmentError};
use setlink_core::client::attachments::{AttachmentClient, UploadStep, CHUNK_BYTES};
use setlink_core::client::{ClientConfig, TransferError};
use setlink_core::{Device, DeviceError, DocumentId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake relay holds and saw.
#[derive(Default)]
struct Fake {
    held: HashMap<String, Vec<u8>>,
    sizes: HashMap<String, u64>,
    /// (method, path and query, authorization header) of every request.
    requests: Vec<(String, String, String)>,
    /// Store the PUT at this offset, then drop the connection without answering.
    cut_at_offset: Option<u64>,
    /// Serve these bytes for downloads instead of what is held.
    serve_instead: Option<Vec<u8>>,
    forbid_downloads: bool,
    /// Answer "nothing held" to the state request, as a relay that lost track would.
    forget_on_ask: bool,
}

type Shared = Arc<Mutex<Fake>>;

fn query(path: &str, key: &str) -> Option<String> {
    let q = path.split_once('?')?.1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

async fn respond(sock: &mut TcpStream, status: u16, body: &[u8], content_type: &str) {
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(body).await;
}

/// The relay's JSON about an upload.
fn state(h: &str, held: &[u8], size: Option<u64>) -> Vec<u8> {
    let complete = size == Some(held.len() as u64) && hash(held) == h;
    serde_json::json!({"received": held.len(), "size": size, "complete": complete})
        .to_string()
        .into_bytes()
}

async fn serve_one(mut sock: TcpStream, fake: Shared) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 64 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_owned();
    let path = first.next().unwrap_or_default().to_owned();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let len: usize = header("content-length").parse().unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&tmp[..n]),
        }
    }
    let auth = header("authorization");
    let route = path.split('?').next().unwrap_or_default().to_owned();
    let parts: Vec<&str> = route
        .trim_start_matches("/api/attachments/")
        .split('/')
        .collect();
    let h = parts.first().copied().unwrap_or_default().to_owned();
    let (status, reply, ctype, cut) = {
        let mut f = fake.lock().unwrap();
        f.requests.push((method.clone(), path.clone(), auth));
        let held = f.held.get(&h).cloned().unwrap_or_default();
        let size = f.sizes.get(&h).copied();
        match (method.as_str(), parts.get(1).copied()) {
            ("GET", Some("upload")) => {
                let shown = if f.forget_on_ask { &[][..] } else { &held[..] };
                (200, state(&h, shown, size), "application/json", false)
            }
            ("PUT", Some("upload")) => {
                let offset: u64 = query(&path, "offset")
                    .and_then(|o| o.parse().ok())
                    .unwrap_or(0);
                let declared: u64 = query(&path, "size")
                    .and_then(|o| o.parse().ok())
                    .unwrap_or(0);
                assert_eq!(query(&path, "type").as_deref(), Some("image%2Fjpeg"));
                if offset != held.len() as u64 {
                    let body = serde_json::json!({"error": "wrong offset", "received": held.len()});
                    (
                        409,
                        body.to_string().into_bytes(),
                        "application/json",
                        false,
                    )
                } else {
                    let entry = f.held.entry(h.clone()).or_default();
                    entry.extend_from_slice(&body);
                    let reply = state(&h, entry, Some(declared));
                    f.sizes.insert(h.clone(), declared);
                    let cut = f.cut_at_offset.take_if(|c| *c == offset).is_some();
                    (200, reply, "application/json", cut)
                }
            }
            ("GET", None) if f.forbid_downloads => (
                403,
                br#"{"error":"a crew member may not read this board"}"#.to_vec(),
                "application/json",
                false,
            ),
            ("GET", None) => match f.serve_instead.clone() {
                Some(bytes) => (200, bytes, "image/jpeg", false),
                None if size == Some(held.len() as u64) => (200, held, "image/jpeg", false),
                None => (
                    404,
                    br#"{"error":"not stored"}"#.to_vec(),
                    "application/json",
                    false,
                ),
            },
            _ => (400, b"{}".to_vec(), "application/json", false),
        }
    };
    if cut {
        // Stored, never acknowledged: the phone walked out of signal.
        return;
    }
    respond(&mut sock, status, &reply, ctype).await;
}

async fn fake_relay() -> (String, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fake: Shared = Default::default();
    let f = fake.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve_one(sock, f.clone()));
        }
    });
    (format!("ws://{addr}/sync"), fake)
}

fn jpeg(len: usize) -> Vec<u8> {
    let mut b = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    b.extend((0..len).map(|i| (i % 251) as u8));
    b
}

fn device(dir: &tempfile::TempDir, name: &str) -> Arc<Mutex<Device>> {
    Arc::new(Mutex::new(Device::open(dir.path().join(name)).unwrap()))
}

#[tokio::test]
async fn an_upload_cut_mid_way_resumes_without_sending_a_byte_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (url, fake) = fake_relay().await;
    let pa = device(&dir, "pa.db");
    let photo = jpeg(2 * CHUNK_BYTES as usize + 500_000);
    let a = pa.lock().unwrap().add_attachment(&photo).unwrap();
    let client = AttachmentClient::new(pa.clone(), &ClientConfig::new(&url, "tok-pa")).unwrap();
    let doc = DocumentId::random();
    fake.lock().unwrap().cut_at_offset = Some(CHUNK_BYTES);

    let seen = Mutex::new(Vec::new());
    let progress = |n: u64| seen.lock().unwrap().push(n);
    let first = client.upload(&a, doc, &progress).await.unwrap();
    assert!(matches!(first, UploadStep::TryLater(_)), "{first:?}");
    assert_eq!(
        fake.lock().unwrap().held[&a.hash].len() as u64,
        2 * CHUNK_BYTES
    );

    let second = client.upload(&a, doc, &progress).await.unwrap();
    assert_eq!(second, UploadStep::Done);
    {
        let f = fake.lock().unwrap();
        assert_eq!(f.held[&a.hash], photo);
        let puts: Vec<u64> = f
            .requests
            .iter()
            .filter(|(m, _, _)| m == "PUT")
            .map(|(_, p, _)| query(p, "offset").unwrap().parse().unwrap())
            .collect();
        assert_eq!(
            puts,
            vec![0, CHUNK_BYTES, 2 * CHUNK_BYTES],
            "each byte sent once"
        );
        assert!(f.requests.iter().all(|(_, p, auth)| auth == "Bearer tok-pa"
            && p.starts_with(&format!("/api/attachments/{}/upload?doc={doc}", a.hash))));
        assert_eq!(
            seen.lock().unwrap().last().copied(),
            Some(photo.len() as u64)
        );
    }

    // A relay that answers 409 to the offset it said is met at the count it gives.
    let other = jpeg(100);
    let b = pa.lock().unwrap().add_attachment(&other).unwrap();
    {
        let mut f = fake.lock().unwrap();
        f.held.insert(b.hash.clone(), other[..10].to_vec());
        f.forget_on_ask = true;
        f.requests.clear();
    }
    assert_eq!(
        client.upload(&b, doc, &|_| {}).await.unwrap(),
        UploadStep::Done
    );
    let f = fake.lock().unwrap();
    assert_eq!(f.held[&b.hash], other);
    let puts: Vec<String> = f
        .requests
        .iter()
        .filter(|(m, _, _)| m == "PUT")
        .map(|(_, p, _)| query(p, "offset").unwrap())
        .collect();
    assert_eq!(puts, vec!["0", "10"]);
}

#[tokio::test]
async fn downloads_are_checked_then_cached_and_refusals_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (url, fake) = fake_relay().await;
    let photo = jpeg(300_000);
    let h = hash(&photo);
    {
        let mut f = fake.lock().unwrap();
        f.held.insert(h.clone(), photo.clone());
        f.sizes.insert(h.clone(), photo.len() as u64);
    }
    let coord = device(&dir, "coord.db");
    let client = AttachmentClient::new(coord.clone(), &ClientConfig::new(&url, "tok-c")).unwrap();
    let doc = DocumentId::random();

    // Damaged bytes are refused and nothing is cached.
    let mut damaged = photo.clone();
    damaged[1000] ^= 0xFF;
    fake.lock().unwrap().serve_instead = Some(damaged);
    let err = client.fetch(&h, doc).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::Device(DeviceError::Attachment(
                AttachmentError::HashMismatch { .. }
            ))
        ),
        "{err:?}"
    );
    assert!(coord.lock().unwrap().attachment_info(&h).unwrap().is_none());

    fake.lock().unwrap().serve_instead = None;
    assert_eq!(client.fetch(&h, doc).await.unwrap(), photo);
    let gets = |f: &Fake| f.requests.iter().filter(|(m, _, _)| m == "GET").count();
    let before = gets(&fake.lock().unwrap());
    // The second time comes from the cache.
    assert_eq!(client.fetch(&h, doc).await.unwrap(), photo);
    assert_eq!(gets(&fake.lock().unwrap()), before);

    // Not on the relay; not readable.
    let missing = hash(b"missing");
    let err = client.fetch(&missing, doc).await.unwrap_err();
    assert!(matches!(err, TransferError::NotOnRelay { .. }), "{err:?}");
    fake.lock().unwrap().forbid_downloads = true;
    let err = client.fetch(&missing, doc).await.unwrap_err();
    assert!(matches!(err, TransferError::Forbidden { .. }), "{err:?}");
    assert!(
        err.to_string().contains("crew member may not read"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_relay_is_an_offline_error() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let coord = device(&dir, "c.db");
    let cfg = ClientConfig::new(format!("ws://127.0.0.1:{port}/sync"), "t");
    let client = AttachmentClient::new(coord, &cfg).unwrap();
    let err = client
        .fetch(&hash(b"x"), DocumentId::random())
        .await
        .unwrap_err();
    assert!(matches!(err, TransferError::Connect(_)), "{err:?}");
    // ws:// to another machine is refused before anything is sent.
    let remote = ClientConfig::new("ws://relay.example.org/sync", "t");
    assert!(AttachmentClient::new(device(&dir, "d.db"), &remote).is_err());
}
