//! Photo benchmarks against the real relay binary (`setlink-relay`, built next to this
//! one). Run in release: `cargo build --release -p setlink-tests --bins`, then
//! `./target/release/attachment-bench` (5 rounds, 200 phones) or with
//! `--rounds 3 --phones 50`.
//!
//! - `photo`: a ~3 MB JPEG from a phone (core's `Device` and `AttachmentClient`, the code
//!   the app runs) to the coordinator's dashboard: from the upload's start until the
//!   dashboard serves its thumbnail, median of `--rounds` photos; and the bytes on the wire
//!   both ways through a counting TCP proxy, per byte of the photo.
//! - `phones`: `--phones` phones each uploading their own ~3 MB photo at once (raw HTTP
//!   clients speaking the same part protocol); the relay's resident memory before and at
//!   its peak, and the time until every photo is stored.
//!
//! Prints one line per figure, `name value unit`, for BENCHMARKS.md.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use setlink_core::attachment::AttachmentRef;
use setlink_core::client::attachments::AttachmentClient;
use setlink_core::client::ClientConfig;
use setlink_core::model::run::{self, ReceiptInput};
use setlink_core::{Author, Device, DocumentId, Role};
use setlink_tests::bench::{acked, figure, quantile, relay_bin, rss, UNTHROTTLED};
use setlink_tests::dashboard::sign_in;
use setlink_tests::demo::{connected, demo_board, synced};
use setlink_tests::http::{redeem, request_raw};
use setlink_tests::photos::jpeg;
use setlink_tests::{Peer, Relay};
use tokio::net::{TcpListener, TcpStream};

/// ~3.0 MB at quality 90.
const PHOTO_W: u32 = 1560;
const PHOTO_H: u32 = 1040;
const PART: usize = 1024 * 1024;

struct Args {
    rounds: usize,
    phones: usize,
}

fn args() -> Args {
    let mut a = Args {
        rounds: 5,
        phones: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = || {
            it.next()
                .and_then(|v| v.parse().ok())
                .expect("a number after the flag")
        };
        match flag.as_str() {
            "--rounds" => a.rounds = num(),
            "--phones" => a.phones = num(),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// A TCP proxy counting the bytes each way (client → relay, relay → client).
struct Counting {
    addr: SocketAddr,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
}

impl Counting {
    async fn start(upstream: SocketAddr) -> Counting {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, down) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (u, d) = (up.clone(), down.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (u, d) = (u.clone(), d.clone());
                tokio::spawn(async move {
                    let Ok(relay) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (client_r, client_w) = client.into_split();
                    let (relay_r, relay_w) = relay.into_split();
                    // Counted as the bytes pass: pooled connections stay open between requests.
                    tokio::join!(pump(client_r, relay_w, u), pump(relay_r, client_w, d));
                });
            }
        });
        Counting { addr, up, down }
    }

    fn take(&self) -> (u64, u64) {
        (
            self.up.swap(0, Ordering::Relaxed),
            self.down.swap(0, Ordering::Relaxed),
        )
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}

/// Adds one receipt per photo on the board's first run (the references the relay checks
/// uploads against), acknowledged by the relay.
async fn receipts(dev: &Peer, board: DocumentId, by: &Author, refs: &[AttachmentRef]) {
    let refs: Vec<String> = refs.iter().map(AttachmentRef::to_reference).collect();
    let by = by.clone();
    let heads = dev.change(board, move |d| {
        let id = run::list_runs(d).unwrap().items[0].record.id.clone();
        for (i, r) in refs.into_iter().enumerate() {
            let input = ReceiptInput {
                vendor: format!("Vendor {i}"),
                total_cents: 1000 + i as i64,
                tax_cents: 0,
                account_code: None,
                photo_ref: Some(r),
            };
            run::add_receipt(d, &by, setlink_server::auth::now_ms(), &id, input).unwrap();
        }
        d.get_heads()
    });
    acked(dev, board, heads).await;
}

#[tokio::main]
async fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    // Every simulated phone comes from 127.0.0.1: the per-address caps are lifted.
    let relay = Relay::start(&relay_bin(), dir.path(), &UNTHROTTLED);
    let day = relay.day.clone();
    let addr = relay.addr;
    let pa = redeem(addr, relay.code("pa"), "Pat", "pat-phone").await;
    let dev = connected(&relay, &pa.token, "pat").await;
    let board = demo_board(&dev, pa.production_doc_id.parse().unwrap()).await;
    synced(&dev, board).await;
    dev.wait(10, "the demo runs", move |d, _| {
        d.docs
            .get(&board)
            .is_some_and(|b| run::list_runs(b).is_ok_and(|r| !r.items.is_empty()))
    })
    .await;
    let by = Author {
        member_id: pa.member_id.clone(),
        device_id: "pat-phone".into(),
        role: Role::Pa,
    };
    let office = sign_in(addr, relay.code("coordinator")).await.unwrap();

    // --- photo: phone to dashboard -------------------------------------------------------
    let proxy = Counting::start(addr).await;
    let photos: Vec<Vec<u8>> = (0..a.rounds as u32)
        .map(|i| jpeg(PHOTO_W, PHOTO_H, 100 + i))
        .collect();
    let refs: Vec<AttachmentRef> = photos
        .iter()
        .map(|p| AttachmentRef::for_bytes(p).unwrap())
        .collect();
    receipts(&dev, board, &by, &refs).await;
    let phones = tempfile::tempdir().unwrap();
    let (mut times, mut up_ratio, mut both_ratio) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (p, r)) in photos.iter().zip(&refs).enumerate() {
        let mut d = Device::open(phones.path().join(format!("phone-{i}.db"))).unwrap();
        d.set_identity(by.clone()).unwrap();
        d.add_attachment(p).unwrap();
        let device = Arc::new(Mutex::new(d));
        let cfg = ClientConfig::new(format!("ws://{}/sync", proxy.addr), pa.token.clone());
        let client = AttachmentClient::new(device, &cfg).unwrap();
        proxy.take();
        let t0 = Instant::now();
        client.upload(r, board, &|_| {}).await.expect("upload");
        let thumb = office
            .get(&format!("/dashboard/photos/{}/thumb?day={day}", r.hash))
            .await;
        assert_eq!(thumb.status, 200, "the dashboard shows the thumbnail");
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        let (up, down) = proxy.take();
        up_ratio.push(up as f64 / p.len() as f64);
        both_ratio.push((up + down) as f64 / p.len() as f64);
    }
    for v in [&mut times, &mut up_ratio, &mut both_ratio] {
        v.sort_by(f64::total_cmp);
    }
    figure("photo_bytes", photos[0].len() as f64, "bytes");
    figure("photo_to_dashboard_p50", quantile(&times, 0.5), "ms");
    // Four decimals: the bar is 1.05x, and the overhead is a fraction of a percent.
    println!(
        "photo_wire_up_per_byte_p50 {:.4} x",
        quantile(&up_ratio, 0.5)
    );
    println!(
        "photo_wire_both_ways_per_byte_p50 {:.4} x",
        quantile(&both_ratio, 0.5)
    );

    // --- phones: many uploads at once ------------------------------------------------------
    let photos: Vec<Arc<Vec<u8>>> = (0..a.phones as u32)
        .map(|i| Arc::new(jpeg(PHOTO_W, PHOTO_H, 1000 + i)))
        .collect();
    let refs: Vec<AttachmentRef> = photos
        .iter()
        .map(|p| AttachmentRef::for_bytes(p).unwrap())
        .collect();
    receipts(&dev, board, &by, &refs).await;
    let before = rss(relay.pid());
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for (p, r) in photos.iter().cloned().zip(refs) {
        let token = pa.token.clone();
        tasks.push(tokio::spawn(async move {
            let mut at = 0usize;
            loop {
                let end = (at + PART).min(p.len());
                let path = format!(
                    "/api/attachments/{}/upload?doc={board}&offset={at}&size={}&type=image/jpeg",
                    r.hash, r.size
                );
                let (status, body) =
                    request_raw(addr, "PUT", &path, Some(&token), Some(p[at..end].to_vec())).await;
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                if v["complete"] == true {
                    return;
                }
                at = v["received"].as_u64().unwrap() as usize;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let took = t0.elapsed();
    figure("phones_uploading_at_once", a.phones as f64, "phones");
    figure("phones_all_stored", took.as_secs_f64(), "s");
    figure("phones_relay_rss_before", before as f64 / 1048576.0, "MiB");
    figure(
        "phones_relay_rss_peak",
        relay.peak_rss_kib() as f64 / 1024.0,
        "MiB",
    );
    figure(
        "phones_bytes_uploaded",
        (a.phones * photos[0].len()) as f64 / 1048576.0,
        "MiB",
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}
