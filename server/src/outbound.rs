//! The path from the hub to one connection's socket.
//!
//! A frame is written straight to the socket from the task that produced it (a fan-out's
//! frames from the task running the fan-out) when nothing is queued ahead of it and the
//! socket takes it at once: a fan-out to 1,000 subscribers then wakes no writer tasks.
//! Otherwise it joins a queue that the connection's writer task drains, bounded in frames
//! and in bytes. A peer that stops reading fills the queue; the hub then drops the peer (it
//! resyncs from sync states when it reconnects) instead of buffering without bound:
//! counting frames alone let one stalled reader hold hundreds of megabytes of
//! whole-document messages.
//!
//! Order: every queued item is counted in `behind` from before it is queued until the
//! writer has written it, under the sink's lock; a frame goes straight to the socket only
//! while `behind` is 0 under that lock, so it can never pass one queued before it.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage};
use futures_util::{Sink, SinkExt};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::{TryRecvError, TrySendError};

use crate::hub::{truncate_reason, CloseReason};

/// How long one write may wait on a peer that does not read before the connection is
/// given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most queued items written before one flush, so a long queue still leaves in
/// steady flushes.
const WRITE_BATCH: usize = 64;

/// The socket's sending half (boxed, so tests can stand in for a WebSocket).
pub type SocketSink = Pin<Box<dyn Sink<WsMessage, Error = axum::Error> + Send>>;

/// What the socket task sends.
#[derive(Debug)]
pub enum Outbound {
    Frame(Vec<u8>),
    Ping,
    /// Sent last: the writer sends a close frame and stops.
    Close(CloseReason),
    /// A frame written straight to the socket could not be flushed at once: the writer
    /// finishes the flush, waiting for the peer to read.
    Flush,
}

impl Outbound {
    fn bytes(&self) -> usize {
        match self {
            Outbound::Frame(f) => f.len(),
            Outbound::Ping | Outbound::Close(_) | Outbound::Flush => 0,
        }
    }
}

/// What became of a frame handed to [`OutboundTx::send_frame`].
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// Written to the socket or queued for it.
    Yes,
    /// The queue's frames or bytes are used up: the peer is not reading.
    Full,
    /// The connection is gone.
    Closed,
}

struct Shared {
    /// `None` until the writer task starts, and again once it has stopped.
    sink: tokio::sync::Mutex<Option<SocketSink>>,
    /// Items queued or in the writer's hands (see the module's note on order).
    behind: AtomicUsize,
    /// Bytes of queued frames not yet taken by the writer.
    queued_bytes: AtomicUsize,
}

/// The hub's end.
#[derive(Clone)]
pub struct OutboundTx {
    tx: mpsc::Sender<Outbound>,
    shared: Arc<Shared>,
    max_bytes: usize,
}

impl std::fmt::Debug for OutboundTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundTx")
            .field("behind", &self.shared.behind.load(Ordering::Relaxed))
            .field("queued_bytes", &self.queued_bytes())
            .finish()
    }
}

/// The socket writer's end.
pub struct OutboundRx {
    rx: mpsc::Receiver<Outbound>,
    shared: Arc<Shared>,
}

/// A queue of at most `frames` frames and `max_bytes` bytes (one frame larger than that
/// still goes through an empty queue: a whole document may be that big).
pub fn channel(frames: usize, max_bytes: usize) -> (OutboundTx, OutboundRx) {
    let (tx, rx) = mpsc::channel(frames.max(1));
    let shared = Arc::new(Shared {
        sink: tokio::sync::Mutex::new(None),
        behind: AtomicUsize::new(0),
        queued_bytes: AtomicUsize::new(0),
    });
    (
        OutboundTx {
            tx,
            shared: shared.clone(),
            max_bytes,
        },
        OutboundRx { rx, shared },
    )
}

/// What one attempt to write straight to the socket did.
enum Direct {
    /// Nothing taken: the socket's sending half is busy; the frame is queued instead.
    NotTaken,
    Written,
    /// Taken, and the flush must wait for the peer to read.
    Unflushed,
    /// The socket failed; its reader sees the same and the hub drops the connection.
    Broken,
}

impl OutboundTx {
    /// Sends a sync frame: straight to the socket when that costs no waiting, queued
    /// otherwise. Never waits.
    pub fn send_frame(&self, frame: Vec<u8>) -> Sent {
        let frame = match self.write_now(frame) {
            Ok(sent) => return sent,
            Err(frame) => frame,
        };
        match self.try_send(Outbound::Frame(frame)) {
            Ok(()) => Sent::Yes,
            Err(TrySendError::Full(_)) => Sent::Full,
            Err(TrySendError::Closed(_)) => Sent::Closed,
        }
    }

    /// Writes `frame` from the calling task when nothing is queued ahead of it; hands it
    /// back when the writer task must take it.
    fn write_now(&self, frame: Vec<u8>) -> Result<Sent, Vec<u8>> {
        let s = &*self.shared;
        if s.behind.load(Ordering::Acquire) != 0 {
            return Err(frame);
        }
        let Ok(mut guard) = s.sink.try_lock() else {
            return Err(frame);
        };
        let Some(sink) = guard.as_mut() else {
            return Err(frame);
        };
        // Checked again under the lock: the writer counts down only while holding it.
        if s.behind.load(Ordering::Acquire) != 0 {
            return Err(frame);
        }
        let mut frame = Some(frame);
        let done = poll_once(|cx| {
            match sink.as_mut().poll_ready(cx) {
                Poll::Pending => return Direct::NotTaken,
                Poll::Ready(Err(_)) => return Direct::Broken,
                Poll::Ready(Ok(())) => {}
            }
            let Some(f) = frame.take() else {
                return Direct::NotTaken;
            };
            if sink
                .as_mut()
                .start_send(WsMessage::Binary(f.into()))
                .is_err()
            {
                return Direct::Broken;
            }
            match sink.as_mut().poll_flush(cx) {
                Poll::Ready(Ok(())) => Direct::Written,
                Poll::Ready(Err(_)) => Direct::Broken,
                Poll::Pending => Direct::Unflushed,
            }
        });
        match done {
            Some(Direct::Written) => Ok(Sent::Yes),
            Some(Direct::Broken) => Ok(Sent::Closed),
            Some(Direct::Unflushed) => {
                // Queued while the lock is held, so the writer flushes before anything
                // queued after this frame is written.
                let _ = self.try_send(Outbound::Flush);
                Ok(Sent::Yes)
            }
            Some(Direct::NotTaken) | None => match frame {
                Some(f) => Err(f),
                None => Ok(Sent::Yes),
            },
        }
    }

    /// Queues without waiting; `Full` when the frames or the bytes are used up.
    pub fn try_send(&self, out: Outbound) -> Result<(), TrySendError<Outbound>> {
        let s = &*self.shared;
        let n = out.bytes();
        let before = s.queued_bytes.fetch_add(n, Ordering::AcqRel);
        if before > 0 && before + n > self.max_bytes {
            s.queued_bytes.fetch_sub(n, Ordering::AcqRel);
            return Err(TrySendError::Full(out));
        }
        s.behind.fetch_add(1, Ordering::AcqRel);
        self.tx.try_send(out).inspect_err(|_| {
            s.behind.fetch_sub(1, Ordering::AcqRel);
            s.queued_bytes.fetch_sub(n, Ordering::AcqRel);
        })
    }

    /// Queues a frame that must go out (the close), waiting for room.
    pub async fn send(&self, out: Outbound) -> Result<(), mpsc::error::SendError<Outbound>> {
        let s = &*self.shared;
        let n = out.bytes();
        s.queued_bytes.fetch_add(n, Ordering::AcqRel);
        s.behind.fetch_add(1, Ordering::AcqRel);
        self.tx.send(out).await.inspect_err(|_| {
            s.behind.fetch_sub(1, Ordering::AcqRel);
            s.queued_bytes.fetch_sub(n, Ordering::AcqRel);
        })
    }

    /// Bytes queued and not yet taken by the writer.
    pub fn queued_bytes(&self) -> usize {
        self.shared.queued_bytes.load(Ordering::Acquire)
    }
}

/// Polls `f` once with a waker that does nothing, outside tokio's cooperative budget: a
/// fan-out writes to hundreds of sockets in one poll of its task, and past the budget
/// every write would report "not ready" without trying. `None` cannot happen (`f` is
/// always ready) but is handled as "not taken" rather than trusted.
fn poll_once<T>(f: impl FnOnce(&mut Context<'_>) -> T) -> Option<T> {
    let mut f = Some(f);
    let fut = tokio::task::coop::unconstrained(std::future::poll_fn(move |cx| match f.take() {
        Some(f) => Poll::Ready(Some(f(cx))),
        None => Poll::Ready(None),
    }));
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(t) => t,
        Poll::Pending => None,
    }
}

impl OutboundRx {
    pub async fn recv(&mut self) -> Option<Outbound> {
        let out = self.rx.recv().await?;
        self.shared
            .queued_bytes
            .fetch_sub(out.bytes(), Ordering::AcqRel);
        Some(out)
    }

    pub fn try_recv(&mut self) -> Result<Outbound, TryRecvError> {
        let out = self.rx.try_recv()?;
        self.shared
            .queued_bytes
            .fetch_sub(out.bytes(), Ordering::AcqRel);
        Ok(out)
    }

    /// The connection's writer task: drains the queue into `sink` until every sender is
    /// gone, a close frame has gone out, or the peer stops reading for `WRITE_TIMEOUT`;
    /// then closes the sink. From its start, frames may also go to `sink` directly.
    pub async fn write_to(mut self, sink: SocketSink) {
        let shared = self.shared.clone();
        *shared.sink.lock().await = Some(sink);
        while let Some(first) = self.recv().await {
            let mut guard = shared.sink.lock().await;
            let Some(sink) = guard.as_mut() else { break };
            let mut taken = 0;
            let done = self.write_queued(sink, first, &mut taken).await;
            shared.behind.fetch_sub(taken, Ordering::AcqRel);
            if done != Ok(false) {
                break;
            }
        }
        let sink = shared.sink.lock().await.take();
        if let Some(mut sink) = sink {
            let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
        }
    }

    /// Writes `first` and whatever else is queued, flushing once (one syscall for a
    /// burst); counts in `taken` the items it took. Returns whether a close frame went out
    /// (nothing follows it). A peer that stops reading fails the write after
    /// `WRITE_TIMEOUT` rather than pinning the writer forever.
    async fn write_queued(
        &mut self,
        sink: &mut SocketSink,
        first: Outbound,
        taken: &mut usize,
    ) -> Result<bool, ()> {
        let write = async {
            let mut next = Some(first);
            let mut closed = false;
            while let Some(out) = next.take() {
                *taken += 1;
                let msg = match out {
                    Outbound::Frame(f) => Some(WsMessage::Binary(f.into())),
                    Outbound::Ping => Some(WsMessage::Ping(Vec::new().into())),
                    Outbound::Close(r) => {
                        closed = true;
                        Some(WsMessage::Close(Some(CloseFrame {
                            code: r.code,
                            reason: truncate_reason(&r.reason).into(),
                        })))
                    }
                    Outbound::Flush => None,
                };
                if let Some(msg) = msg {
                    sink.feed(msg).await.map_err(|_| ())?;
                }
                if !closed && *taken < WRITE_BATCH {
                    next = self.try_recv().ok();
                }
            }
            sink.flush().await.map(|()| closed).map_err(|_| ())
        };
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(r) => r,
            Err(_) => Err(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A socket stand-in: frames it takes sit in `unflushed` until a flush, which waits
    /// while `stalled` (a peer that does not read).
    #[derive(Clone, Default)]
    struct Socket {
        inner: Arc<Mutex<SocketState>>,
    }

    #[derive(Default)]
    struct SocketState {
        unflushed: Vec<Vec<u8>>,
        delivered: Vec<Vec<u8>>,
        stalled: bool,
        waker: Option<Waker>,
    }

    impl Socket {
        fn delivered(&self) -> Vec<Vec<u8>> {
            self.inner.lock().unwrap().delivered.clone()
        }

        fn stall(&self, stalled: bool) {
            let mut s = self.inner.lock().unwrap();
            s.stalled = stalled;
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    }

    impl Sink<WsMessage> for Socket {
        type Error = axum::Error;

        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn start_send(self: Pin<&mut Self>, item: WsMessage) -> Result<(), Self::Error> {
            if let WsMessage::Binary(b) = item {
                self.inner.lock().unwrap().unflushed.push(b.to_vec());
            }
            Ok(())
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            let mut s = self.inner.lock().unwrap();
            if s.stalled {
                s.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let frames = std::mem::take(&mut s.unflushed);
            s.delivered.extend(frames);
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.poll_flush(cx)
        }
    }

    /// A queue with its writer task running on `socket`, once the writer holds it.
    async fn connected(socket: &Socket, frames: usize) -> OutboundTx {
        let (tx, rx) = channel(frames, 1 << 20);
        tokio::spawn(rx.write_to(Box::pin(socket.clone())));
        while tx.shared.sink.lock().await.is_none() {
            tokio::task::yield_now().await;
        }
        tx
    }

    #[tokio::test]
    async fn a_frame_with_nothing_ahead_of_it_is_on_the_socket_before_the_sender_yields() {
        let socket = Socket::default();
        let tx = connected(&socket, 8).await;
        for i in 0..300u16 {
            assert_eq!(tx.send_frame(i.to_be_bytes().to_vec()), Sent::Yes);
        }
        // No await since: the writer task has had no turn.
        let delivered = socket.delivered();
        assert_eq!(delivered.len(), 300);
        assert_eq!(delivered[299], 299u16.to_be_bytes());
        assert_eq!(tx.shared.behind.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn frames_behind_an_unfinished_flush_keep_their_order() {
        let socket = Socket::default();
        let tx = connected(&socket, 8).await;
        socket.stall(true);
        for i in 0..5u8 {
            assert_eq!(tx.send_frame(vec![i]), Sent::Yes);
        }
        tx.try_send(Outbound::Ping).unwrap();
        assert!(socket.delivered().is_empty(), "the peer reads nothing");
        socket.stall(false);
        for _ in 0..100 {
            if socket.delivered().len() == 5 && tx.shared.behind.load(Ordering::Acquire) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            socket.delivered(),
            (0..5u8).map(|i| vec![i]).collect::<Vec<_>>()
        );
        assert_eq!(tx.send_frame(vec![9]), Sent::Yes);
        assert_eq!(
            socket.delivered().last(),
            Some(&vec![9]),
            "straight through again"
        );
    }

    #[tokio::test]
    async fn a_peer_that_never_reads_fills_the_queue() {
        let socket = Socket::default();
        let tx = connected(&socket, 4).await;
        socket.stall(true);
        let sent: Vec<Sent> = (0..10u8).map(|i| tx.send_frame(vec![i])).collect();
        // One frame went to the socket, its flush and four frames fill the queue of four.
        assert_eq!(sent.iter().filter(|s| **s == Sent::Yes).count(), 4);
        assert_eq!(sent.last(), Some(&Sent::Full));
    }

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
