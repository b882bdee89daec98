//! The queue from the hub to one connection's socket writer, bounded in frames and in
//! bytes. A peer that stops reading fills it; the hub then drops the peer (it resyncs from
//! sync states when it reconnects) instead of buffering without bound: counting frames
//! alone let one stalled reader hold hundreds of megabytes of whole-document messages.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::{TryRecvError, TrySendError};

use crate::hub::CloseReason;

/// What the socket task sends.
#[derive(Debug)]
pub enum Outbound {
    Frame(Vec<u8>),
    Ping,
    /// Sent last: the writer sends a close frame and stops.
    Close(CloseReason),
}

impl Outbound {
    fn bytes(&self) -> usize {
        match self {
            Outbound::Frame(f) => f.len(),
            Outbound::Ping | Outbound::Close(_) => 0,
        }
    }
}

/// The hub's end.
#[derive(Clone, Debug)]
pub struct OutboundTx {
    tx: mpsc::Sender<Outbound>,
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// The socket writer's end.
pub struct OutboundRx {
    rx: mpsc::Receiver<Outbound>,
    queued: Arc<AtomicUsize>,
}

/// A queue of at most `frames` frames and `max_bytes` bytes (one frame larger than that
/// still goes through an empty queue: a whole document may be that big).
pub fn channel(frames: usize, max_bytes: usize) -> (OutboundTx, OutboundRx) {
    let (tx, rx) = mpsc::channel(frames.max(1));
    let queued = Arc::new(AtomicUsize::new(0));
    (
        OutboundTx {
            tx,
            queued: queued.clone(),
            max_bytes,
        },
        OutboundRx { rx, queued },
    )
}

impl OutboundTx {
    /// Queues without waiting; `Full` when the frames or the bytes are used up.
    pub fn try_send(&self, out: Outbound) -> Result<(), TrySendError<Outbound>> {
        let n = out.bytes();
        let before = self.queued.fetch_add(n, Ordering::AcqRel);
        if before > 0 && before + n > self.max_bytes {
            self.queued.fetch_sub(n, Ordering::AcqRel);
            return Err(TrySendError::Full(out));
        }
        self.tx.try_send(out).inspect_err(|_| {
            self.queued.fetch_sub(n, Ordering::AcqRel);
        })
    }

    /// Queues a frame that must go out (the close), waiting for room.
    pub async fn send(&self, out: Outbound) -> Result<(), mpsc::error::SendError<Outbound>> {
        let n = out.bytes();
        self.queued.fetch_add(n, Ordering::AcqRel);
        self.tx.send(out).await.inspect_err(|_| {
            self.queued.fetch_sub(n, Ordering::AcqRel);
        })
    }

    /// Bytes queued and not yet taken by the writer.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

impl OutboundRx {
    pub async fn recv(&mut self) -> Option<Outbound> {
        let out = self.rx.recv().await?;
        self.queued.fetch_sub(out.bytes(), Ordering::AcqRel);
        Some(out)
    }

    pub fn try_recv(&mut self) -> Result<Outbound, TryRecvError> {
        let out = self.rx.try_recv()?;
        self.queued.fetch_sub(out.bytes(), Ordering::AcqRel);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_bound_the_queue_and_the_writer_frees_them() {
        let (tx, mut rx) = channel(100, 1000);
        // One frame over the budget still goes through an empty queue.
        tx.try_send(Outbound::Frame(vec![0; 1500])).unwrap();
        assert!(matches!(
            tx.try_send(Outbound::Frame(vec![0; 10])),
            Err(TrySendError::Full(_))
        ));
        assert_eq!(tx.queued_bytes(), 1500);
        rx.recv().await.unwrap();
        assert_eq!(tx.queued_bytes(), 0);
        for _ in 0..10 {
            tx.try_send(Outbound::Frame(vec![0; 100])).unwrap();
        }
        assert!(tx.try_send(Outbound::Frame(vec![0; 1])).is_err());
        // Pings and the close cost no bytes.
        tx.try_send(Outbound::Ping).unwrap();
        rx.try_recv().unwrap();
        assert_eq!(tx.queued_bytes(), 900);
    }

    #[tokio::test]
    async fn the_frame_count_bounds_it_too() {
        let (tx, _rx) = channel(2, 1 << 20);
        tx.try_send(Outbound::Ping).unwrap();
        tx.try_send(Outbound::Ping).unwrap();
        assert!(tx.try_send(Outbound::Ping).is_err());
    }
}
