//! Test devices: in-memory Automerge documents synced with the relay by core's sans-IO
//! engine over a real WebSocket. Light enough to run a thousand in one process (benches)
//! and to go offline and come back with their documents and sync states (scenarios).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use automerge::sync;
use automerge::{Automerge, ChangeHash};
use futures_util::{SinkExt, StreamExt};
use setlink_core::sync::engine::{Connection, ConnectionConfig, Event, Side};
use setlink_core::sync::wire::PeerMetadata;
use setlink_core::DocumentId;
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A device's documents and its sync state with the relay: what survives going offline.
pub struct PeerDocs {
    pub peer_id: String,
    pub storage_id: String,
    pub docs: HashMap<DocumentId, Automerge>,
    pub states: HashMap<DocumentId, sync::State>,
    /// Push on connect (setlink extension): advertise it, and on connect skip documents
    /// unchanged since their last sync, relying on the relay to push what changed there.
    pub quiet: bool,
}

impl PeerDocs {
    pub fn new(name: &str) -> PeerDocs {
        PeerDocs {
            peer_id: format!("{name}-{}", rand::random::<u32>()),
            storage_id: format!("storage-{name}-{}", rand::random::<u64>()),
            docs: HashMap::new(),
            states: HashMap::new(),
            quiet: false,
        }
    }
}

#[derive(Default)]
pub struct Observed {
    /// Messages of `error` frames and the reason the engine closed.
    pub errors: Vec<String>,
    pub unavailable: HashSet<DocumentId>,
    pub ephemeral: Vec<(DocumentId, String, Vec<u8>)>,
    pub closed: Option<String>,
    pub connected: bool,
    /// WebSocket close frame from the relay: (code, reason).
    pub close_frame: Option<(u16, String)>,
    /// Sync messages received, and how many carried changes.
    pub syncs_received: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
}

struct Inner {
    engine: Connection,
    docs: PeerDocs,
    seen: Observed,
}

pub struct Peer {
    inner: Arc<Mutex<Inner>>,
    notify: Arc<Notify>,
    /// Set by [`Peer::stall`]: the socket is no longer read.
    stalled: Arc<(std::sync::atomic::AtomicBool, Notify)>,
    out: mpsc::UnboundedSender<WsMessage>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        // A dropped device is gone: its socket must not linger and keep subscriptions.
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

#[derive(Debug)]
pub enum ConnectError {
    /// The relay refused the upgrade (status, body).
    Http(u16, String),
    Io(String),
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    /// Runs engine events against the documents; returns frames to send.
    fn pump(&mut self) -> Vec<Vec<u8>> {
        while let Some(ev) = self.engine.poll_event() {
            match ev {
                Event::Connected { metadata, .. } => {
                    self.seen.connected = true;
                    let quiet = self.docs.quiet && metadata.pushes_changes == Some(true);
                    let ids: Vec<DocumentId> = self.docs.docs.keys().copied().collect();
                    for id in ids {
                        let unchanged = self.docs.states.get(&id).is_some_and(|st| {
                            let mut shared = st.shared_heads.clone();
                            shared.sort();
                            let mut heads = self
                                .docs
                                .docs
                                .get(&id)
                                .map(|d| d.get_heads())
                                .unwrap_or_default();
                            heads.sort();
                            !shared.is_empty() && shared == heads
                        });
                        if !(quiet && unchanged) {
                            self.sync_doc(id);
                        }
                    }
                }
                Event::Sync {
                    document_id,
                    message,
                    ..
                } => {
                    self.seen.syncs_received += 1;
                    let doc = self.docs.docs.entry(document_id).or_default();
                    let state = self.docs.states.entry(document_id).or_default();
                    if let Err(e) = self.engine.receive_with(document_id, doc, state, message) {
                        self.seen.errors.push(format!("apply: {e}"));
                    }
                }
                Event::DocUnavailable { document_id } => {
                    self.seen.unavailable.insert(document_id);
                }
                Event::Ephemeral(e) => {
                    self.seen
                        .ephemeral
                        .push((e.document_id, e.sender_id.clone(), e.data.clone()));
                }
                Event::Closed { reason } => {
                    self.seen.errors.push(reason.clone());
                    self.seen.closed = Some(reason);
                }
                _ => {}
            }
        }
        let mut frames = Vec::new();
        while let Some(f) = self.engine.poll_transmit() {
            frames.push(f);
        }
        frames
    }

    fn sync_doc(&mut self, id: DocumentId) {
        // Remember the document even when offline: `Connected` syncs everything we hold.
        let doc = self.docs.docs.entry(id).or_default();
        if !self.engine.is_connected() {
            return;
        }
        let state = self.docs.states.entry(id).or_default();
        let _ = self.engine.sync_with(id, doc, state);
    }
}

impl Peer {
    /// Connects to `url` (ws://.../sync) with `token` in the query string.
    pub async fn connect(url: &str, token: &str, docs: PeerDocs) -> Result<Peer, ConnectError> {
        let full = format!("{url}?token={token}");
        Self::connect_url(&full, docs).await
    }

    pub async fn connect_url(full: &str, docs: PeerDocs) -> Result<Peer, ConnectError> {
        Self::try_connect(full, docs).await.map_err(|(e, _)| e)
    }

    /// Like [`Peer::connect_url`], but hands the documents back when connecting fails.
    pub async fn try_connect(
        full: &str,
        mut docs: PeerDocs,
    ) -> Result<Peer, (ConnectError, PeerDocs)> {
        let (ws, _) = match tokio_tungstenite::connect_async_with_config(
            full,
            Some(setlink_core::client::ws::websocket_config()),
            true,
        )
        .await
        {
            Ok(x) => x,
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let status = resp.status().as_u16();
                let body = resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                return Err((ConnectError::Http(status, body), docs));
            }
            Err(e) => return Err((ConnectError::Io(e.to_string()), docs)),
        };
        // A reconnect starts from what both sides last agreed on, not in-flight guesses.
        for st in docs.states.values_mut() {
            if let Ok(fresh) = sync::State::decode(&st.encode()) {
                *st = fresh;
            }
        }
        let cfg = ConnectionConfig::new(
            docs.peer_id.clone(),
            Side::Initiator,
            PeerMetadata {
                storage_id: Some(docs.storage_id.clone()),
                is_ephemeral: Some(false),
                pushes_changes: docs.quiet.then_some(true),
                implied_acks: None,
            },
            format!("session-{}", rand::random::<u64>()),
        );
        let engine = Connection::new(cfg);
        let inner = Arc::new(Mutex::new(Inner {
            engine,
            docs,
            seen: Observed::default(),
        }));
        let notify = Arc::new(Notify::new());
        let (out_tx, mut out_rx) = mpsc::unbounded_channel::<WsMessage>();
        let (mut sink, mut stream) = ws.split();
        let first = lock(&inner).pump();
        for f in first {
            let _ = out_tx.send(WsMessage::Binary(f.into()));
        }
        let inner2 = inner.clone();
        let notify2 = notify.clone();
        let out2 = out_tx.clone();
        let stalled: Arc<(std::sync::atomic::AtomicBool, Notify)> = Arc::default();
        let stalled2 = stalled.clone();
        let task = tokio::spawn(async move {
            loop {
                let reading = !stalled2.0.load(std::sync::atomic::Ordering::SeqCst);
                tokio::select! {
                    _ = stalled2.1.notified() => {}
                    m = stream.next(), if reading => {
                        match m {
                            Some(Ok(WsMessage::Binary(b))) => {
                                let frames = {
                                    let mut g = lock(&inner2);
                                    g.seen.bytes_received += b.len() as u64;
                                    if let Err(e) = g.engine.handle_frame(&b) {
                                        g.seen.errors.push(format!("engine: {e}"));
                                    }
                                    g.pump()
                                };
                                for f in frames {
                                    let _ = out2.send(WsMessage::Binary(f.into()));
                                }
                                notify2.notify_waiters();
                            }
                            Some(Ok(WsMessage::Close(frame))) => {
                                let mut g = lock(&inner2);
                                g.seen.close_frame = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                                g.seen.connected = false;
                                if g.seen.closed.is_none() {
                                    g.seen.closed = Some("relay closed the connection".into());
                                }
                                drop(g);
                                notify2.notify_waiters();
                                break;
                            }
                            Some(Ok(_)) => {}
                            None | Some(Err(_)) => {
                                let why = match &m {
                                    Some(Err(e)) => format!("connection lost: {e}"),
                                    _ => "connection lost".to_owned(),
                                };
                                let mut g = lock(&inner2);
                                g.seen.connected = false;
                                if g.seen.closed.is_none() {
                                    g.seen.closed = Some(why);
                                }
                                drop(g);
                                notify2.notify_waiters();
                                break;
                            }
                        }
                    }
                    out = out_rx.recv() => {
                        match out {
                            Some(m) => {
                                if let WsMessage::Binary(b) = &m {
                                    lock(&inner2).seen.bytes_sent += b.len() as u64;
                                }
                                // A write that cannot finish means the link is dead.
                                let sent = tokio::time::timeout(Duration::from_secs(5), sink.send(m)).await;
                                if !matches!(sent, Ok(Ok(()))) {
                                    // The relay may have closed on us: read what it said last.
                                    let drain = async {
                                        while let Some(Ok(m)) = stream.next().await {
                                            if let WsMessage::Close(frame) = m {
                                                lock(&inner2).seen.close_frame =
                                                    frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                                                break;
                                            }
                                        }
                                    };
                                    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
                                    break;
                                }
                            }
                            None => break,
                        }
                    }
                }
            }
            {
                let mut g = lock(&inner2);
                g.seen.connected = false;
                if g.seen.closed.is_none() {
                    g.seen.closed = Some("connection ended".into());
                }
            }
            notify2.notify_waiters();
            let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        });
        Ok(Peer {
            inner,
            notify,
            out: out_tx,
            task: Some(task),
            stalled,
        })
    }

    /// Stops reading the socket for good, as a client that hangs or never reads would:
    /// whatever the relay sends piles up in the kernel's buffers, then in the relay.
    pub fn stall(&self) {
        self.stalled
            .0
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.stalled.1.notify_one();
    }

    fn flush(&self, frames: Vec<Vec<u8>>) {
        for f in frames {
            let _ = self.out.send(WsMessage::Binary(f.into()));
        }
    }

    /// Sends an arbitrary frame (bad-input tests).
    pub fn send_raw(&self, m: WsMessage) {
        let _ = self.out.send(m);
    }

    /// Starts syncing `doc` (asks the relay for it if we have nothing).
    pub fn open(&self, doc: DocumentId) {
        let frames = {
            let mut g = lock(&self.inner);
            g.sync_doc(doc);
            g.pump()
        };
        self.flush(frames);
    }

    /// Adds a document this device created, then syncs it.
    pub fn insert(&self, id: DocumentId, doc: Automerge) {
        let frames = {
            let mut g = lock(&self.inner);
            g.docs.docs.insert(id, doc);
            g.sync_doc(id);
            g.pump()
        };
        self.flush(frames);
    }

    /// Replaces a document and forgets its sync state on this connection, the way an app
    /// drops changes the relay refused and carries on from what the relay confirmed.
    pub fn replace(&self, id: DocumentId, doc: Automerge) {
        let frames = {
            let mut g = lock(&self.inner);
            g.docs.docs.insert(id, doc);
            g.docs.states.remove(&id);
            g.sync_doc(id);
            g.pump()
        };
        self.flush(frames);
    }

    /// Sends an ephemeral message about `doc` (presence) to the relay.
    pub fn broadcast(&self, doc: DocumentId, data: Vec<u8>) {
        let frames = {
            let mut g = lock(&self.inner);
            if let Err(e) = g.engine.send_ephemeral(doc, data) {
                g.seen.errors.push(format!("broadcast: {e}"));
            }
            g.pump()
        };
        self.flush(frames);
    }

    /// Changes a document locally and syncs the change.
    pub fn change<T>(&self, doc: DocumentId, f: impl FnOnce(&mut Automerge) -> T) -> T {
        let (out, frames) = {
            let mut g = lock(&self.inner);
            let d = g.docs.docs.entry(doc).or_default();
            let out = f(d);
            g.sync_doc(doc);
            (out, g.pump())
        };
        self.flush(frames);
        out
    }

    pub fn read<T>(&self, doc: DocumentId, f: impl FnOnce(&Automerge) -> T) -> Option<T> {
        let g = lock(&self.inner);
        g.docs.docs.get(&doc).map(f)
    }

    pub fn heads(&self, doc: DocumentId) -> Vec<ChangeHash> {
        self.read(doc, |d| d.get_heads()).unwrap_or_default()
    }

    /// The heads the relay last reported for `doc`: the relay reports only what it has
    /// durably stored, so these are what it has answered for.
    pub fn acknowledged(&self, doc: DocumentId) -> Vec<ChangeHash> {
        let g = lock(&self.inner);
        g.docs
            .states
            .get(&doc)
            .and_then(|s| s.their_heads.clone())
            .unwrap_or_default()
    }

    pub fn seen<T>(&self, f: impl FnOnce(&Observed) -> T) -> T {
        f(&lock(&self.inner).seen)
    }

    /// Waits until `pred` holds over (documents, observations).
    pub async fn wait(&self, secs: u64, what: &str, pred: impl Fn(&PeerDocs, &Observed) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let notified = self.notify.notified();
            {
                let g = lock(&self.inner);
                if pred(&g.docs, &g.seen) {
                    return;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let g = lock(&self.inner);
                if pred(&g.docs, &g.seen) {
                    return;
                }
                panic!(
                    "timed out after {secs}s waiting for {what}; errors: {:?}, closed: {:?}, close frame: {:?}",
                    g.seen.errors, g.seen.closed, g.seen.close_frame
                );
            }
        }
    }

    /// Waits until this device has exactly `heads` of `doc`.
    pub async fn wait_heads(&self, doc: DocumentId, heads: &[ChangeHash], secs: u64) {
        let mut want = heads.to_vec();
        want.sort();
        self.wait(secs, "document heads", move |d, _| {
            d.docs.get(&doc).is_some_and(|x| {
                let mut h = x.get_heads();
                h.sort();
                h == want
            })
        })
        .await;
    }

    /// Goes offline: drops the socket and keeps the documents and sync states.
    pub async fn disconnect(mut self) -> PeerDocs {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        let inner = self.inner.clone();
        drop(self);
        let inner = Arc::try_unwrap(inner)
            .map_err(|_| ())
            .expect("peer state still shared");
        inner.into_inner().unwrap_or_else(|p| p.into_inner()).docs
    }

    pub fn is_connected(&self) -> bool {
        lock(&self.inner).seen.connected
    }
}

/// Two heads lists equal as sets.
pub fn same_heads(a: &[ChangeHash], b: &[ChangeHash]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// A device that keeps reconnecting: edits work the same online and offline, and a lost
/// connection is replaced by a new one carrying the same documents and sync states.
pub struct Device {
    url: String,
    token: String,
    online: Option<Peer>,
    offline: Option<PeerDocs>,
    pub reconnects: u64,
}

impl Device {
    pub fn new(url: &str, token: &str, docs: PeerDocs) -> Device {
        Device {
            url: url.to_owned(),
            token: token.to_owned(),
            online: None,
            offline: Some(docs),
            reconnects: 0,
        }
    }

    /// Reconnects if the connection dropped; returns whether it is connected now.
    pub async fn tick(&mut self) -> bool {
        if let Some(p) = &self.online {
            if p.seen(|s| s.closed.is_none()) {
                return true;
            }
        }
        if let Some(p) = self.online.take() {
            self.offline = Some(p.disconnect().await);
        }
        let Some(docs) = self.offline.take() else {
            return false;
        };
        let full = format!("{}?token={}", self.url, self.token);
        match Peer::try_connect(&full, docs).await {
            Ok(p) => {
                self.reconnects += 1;
                self.online = Some(p);
                true
            }
            Err((_, docs)) => {
                self.offline = Some(docs);
                false
            }
        }
    }

    /// Online or offline, and why the last connection ended: for failure messages.
    pub fn describe(&self) -> String {
        match &self.online {
            Some(p) => p.seen(|s| match &s.closed {
                None => "online".to_owned(),
                Some(why) => format!("online, closed: {why}"),
            }),
            None => "offline".to_owned(),
        }
    }

    pub fn change<T>(&mut self, doc: DocumentId, f: impl FnOnce(&mut Automerge) -> T) -> T {
        match (&self.online, &mut self.offline) {
            (Some(p), _) => p.change(doc, f),
            (None, Some(d)) => f(d.docs.entry(doc).or_default()),
            (None, None) => unreachable!("a device is always online or offline"),
        }
    }

    pub fn read<T>(&self, doc: DocumentId, f: impl FnOnce(&Automerge) -> T) -> Option<T> {
        match (&self.online, &self.offline) {
            (Some(p), _) => p.read(doc, f),
            (None, Some(d)) => d.docs.get(&doc).map(f),
            (None, None) => None,
        }
    }

    pub fn heads(&self, doc: DocumentId) -> Vec<ChangeHash> {
        self.read(doc, |d| d.get_heads()).unwrap_or_default()
    }

    pub fn peer(&self) -> Option<&Peer> {
        self.online.as_ref()
    }
}

/// What the relay answers a connection it refuses (a bad token, over a cap): the `error` text
/// and the close frame (code, reason). Panics if it lets the connection sync instead.
pub async fn refused_connection(full_url: &str) -> (String, u16, String) {
    let (mut ws, _) = tokio_tungstenite::connect_async(full_url)
        .await
        .expect("the relay accepts the upgrade and refuses over the socket");
    let mut error = String::new();
    let read = async {
        while let Some(Ok(m)) = ws.next().await {
            match m {
                WsMessage::Binary(b) => match setlink_core::sync::wire::decode(&b) {
                    Ok(setlink_core::sync::wire::Message::Error { message, .. }) => error = message,
                    other => panic!("expected only an error message, got {other:?}"),
                },
                WsMessage::Close(f) => {
                    return f.map(|f| (u16::from(f.code), f.reason.to_string()));
                }
                _ => {}
            }
        }
        None
    };
    let close = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the relay closes a refused connection")
        .expect("with a close frame");
    (error, close.0, close.1)
}
