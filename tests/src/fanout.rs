//! Subscribers for the relay's fan-out benchmark.
//!
//! Each [`Subscriber`] is a full protocol peer towards the relay: its own WebSocket, its
//! own sans-IO engine and its own sync state, so it receives, decodes, applies and
//! acknowledges every change exactly like a device. What a group of subscribers may share
//! is the document replica they apply changes to: on real phones each device applies a
//! change on its own CPU, in parallel with the others, while here 1,000 devices share two
//! cores with the relay, and 1,000 identical automerge applies of the same change would
//! measure the simulation rather than the relay. With a group size of 1 every subscriber
//! has its own replica.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use automerge::sync;
use automerge::{Automerge, ChangeHash};
use futures_util::{SinkExt, StreamExt};
use setlink_core::client::link::ACK_HOLD_MS;
use setlink_core::sync::engine::{Connection, ConnectionConfig, Event, Side};
use setlink_core::sync::wire::PeerMetadata;
use setlink_core::DocumentId;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// When each subscriber received each change (after applying it), keyed by change hash.
#[derive(Default)]
pub struct Arrivals {
    seen: Mutex<HashMap<ChangeHash, Vec<Instant>>>,
    /// What `wait_for` waits for, so arrivals wake it once, not once each.
    awaited: Mutex<Option<(ChangeHash, usize)>>,
    /// Subscribers that have synced the document once.
    ready: AtomicUsize,
    notify: Notify,
}

impl Arrivals {
    pub fn ready(&self) -> usize {
        self.ready.load(Ordering::Acquire)
    }

    /// Waits until `n` subscribers received `hash`, or `deadline`; returns the arrival
    /// times seen so far.
    pub async fn wait_for(
        &self,
        hash: ChangeHash,
        n: usize,
        deadline: tokio::time::Instant,
    ) -> Vec<Instant> {
        *self.awaited.lock().unwrap_or_else(|p| p.into_inner()) = Some((hash, n));
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let got = self.times(hash);
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Waits until `n` subscribers synced the document once.
    pub async fn wait_ready(&self, n: usize, deadline: tokio::time::Instant) -> usize {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let ready = self.ready();
            if ready >= n || tokio::time::Instant::now() >= deadline {
                return ready;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    fn times(&self, hash: ChangeHash) -> Vec<Instant> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&hash).cloned().unwrap_or_default()
    }

    fn record(&self, hashes: &[ChangeHash], at: Instant) {
        let awaited = *self.awaited.lock().unwrap_or_else(|p| p.into_inner());
        let mut done = false;
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            for h in hashes {
                let times = seen.entry(*h).or_default();
                times.push(at);
                done |= awaited.is_some_and(|(want, n)| want == *h && times.len() >= n);
            }
        }
        if done {
            self.notify.notify_waiters();
        }
    }
}

/// One subscriber of the benchmark; see the module docs.
pub struct Subscriber {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subscriber {
    /// Connects to `url` (ws://.../sync?token=...) and syncs `doc` into `replica`,
    /// recording in `arrivals` when each change reaches it.
    pub async fn connect(
        url: &str,
        name: &str,
        doc: DocumentId,
        replica: Arc<Mutex<Automerge>>,
        arrivals: Arc<Arrivals>,
    ) -> Result<Subscriber, String> {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(
            url,
            Some(setlink_core::client::ws::websocket_config()),
            true,
        )
        .await
        .map_err(|e| format!("{name}: {e}"))?;
        let mut engine = Connection::new(ConnectionConfig::new(
            name.to_owned(),
            Side::Initiator,
            PeerMetadata {
                storage_id: Some(format!("{name}-storage")),
                is_ephemeral: Some(false),
                pushes_changes: None,
                // As a phone does: the relay takes silence as acknowledgement, and held
                // acknowledgements are confirmed after a quiet `ACK_HOLD_MS`.
                implied_acks: Some(true),
            },
            format!("{name}-session"),
        ));
        let (mut sink, mut stream) = ws.split();
        let task = tokio::spawn(async move {
            let mut state = sync::State::new();
            let mut synced = false;
            // The engine's `join` goes first.
            let mut out: Vec<Vec<u8>> = std::iter::from_fn(|| engine.poll_transmit()).collect();
            for f in out.drain(..) {
                if sink.send(WsMessage::Binary(f.into())).await.is_err() {
                    return;
                }
            }
            let hold = std::time::Duration::from_millis(ACK_HOLD_MS as u64);
            let mut held_since: Option<tokio::time::Instant> = None;
            loop {
                let confirm_at = held_since.map(|t| t + hold);
                let m = tokio::select! {
                    m = stream.next() => m,
                    _ = tokio::time::sleep_until(confirm_at.unwrap_or_else(tokio::time::Instant::now)), if confirm_at.is_some() => {
                        held_since = None;
                        engine.release_acks();
                        while let Some(f) = engine.poll_transmit() {
                            if sink.send(WsMessage::Binary(f.into())).await.is_err() {
                                return;
                            }
                        }
                        continue;
                    }
                };
                let Some(Ok(m)) = m else { return };
                let WsMessage::Binary(frame) = m else {
                    continue;
                };
                if engine.handle_frame(&frame).is_err() {
                    return;
                }
                while let Some(ev) = engine.poll_event() {
                    let lock = || replica.lock().unwrap_or_else(|p| p.into_inner());
                    match ev {
                        Event::Connected { .. } => {
                            let _ = engine.sync_with(doc, &lock(), &mut state);
                        }
                        Event::Sync {
                            document_id,
                            message,
                            ..
                        } if document_id == doc => {
                            let carries = !message.changes.is_empty();
                            let mut replica = lock();
                            if engine
                                .receive_with(doc, &mut replica, &mut state, message)
                                .is_err()
                            {
                                return;
                            }
                            let at = Instant::now();
                            // The relay sends a small document whole rather than the new
                            // change, so arrival is "a message with changes, after which
                            // the replica holds these heads" (a groupmate may have applied
                            // the same bytes first).
                            let hashes = if carries {
                                replica.get_heads()
                            } else {
                                Vec::new()
                            };
                            drop(replica);
                            if !synced {
                                synced = true;
                                arrivals.ready.fetch_add(1, Ordering::AcqRel);
                                arrivals.notify.notify_waiters();
                            }
                            arrivals.record(&hashes, at);
                        }
                        _ => {}
                    }
                }
                while let Some(f) = engine.poll_transmit() {
                    out.push(f);
                }
                if engine.holds_acks() {
                    held_since.get_or_insert_with(tokio::time::Instant::now);
                }
                for f in out.drain(..) {
                    if sink.send(WsMessage::Binary(f.into())).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Subscriber { task })
    }
}
