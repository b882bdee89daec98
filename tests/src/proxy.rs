//! A TCP proxy that cuts every connection through it at random intervals, to test that
//! devices converge over links that keep dropping.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct LossyProxy {
    pub addr: SocketAddr,
    /// How many times the proxy cut its connections.
    pub cuts: Arc<AtomicU64>,
    cutting: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl LossyProxy {
    /// Forwards to `upstream`, cutting all connections every `min_ms..max_ms`.
    pub async fn start(upstream: SocketAddr, min_ms: u64, max_ms: u64) -> LossyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (cut_tx, cut_rx) = watch::channel(0u64);
        let cuts = Arc::new(AtomicU64::new(0));
        let cutting = Arc::new(AtomicBool::new(true));
        let accept = tokio::spawn(async move {
            loop {
                let Ok((down, _)) = listener.accept().await else {
                    break;
                };
                let mut cut = cut_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut up) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let mut down = down;
                    cut.mark_unchanged();
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                        _ = cut.changed() => {}
                    }
                    // Dropping both ends resets the TCP connections mid-stream.
                });
            }
        });
        let c = cuts.clone();
        let on = cutting.clone();
        let cutter = tokio::spawn(async move {
            loop {
                let ms = rand::rng().random_range(min_ms..=max_ms.max(min_ms));
                tokio::time::sleep(Duration::from_millis(ms)).await;
                if on.load(Ordering::Relaxed) {
                    let n = c.fetch_add(1, Ordering::Relaxed) + 1;
                    let _ = cut_tx.send(n);
                }
            }
        });
        LossyProxy {
            addr,
            cuts,
            cutting,
            tasks: vec![accept, cutter],
        }
    }

    /// Stops cutting (connections made from now on stay up).
    pub fn heal(&self) {
        self.cutting.store(false, Ordering::Relaxed);
    }

    pub fn cut_count(&self) -> u64 {
        self.cuts.load(Ordering::Relaxed)
    }
}

impl Drop for LossyProxy {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
