//! The device's WebSocket sync client: a tokio task that keeps a [`DeviceLink`] connected
//! to the relay whenever the network allows, and reports [`SyncStatus`].
//!
//! - Connects to `<url>?token=<token>` (`wss://` with TLS, `ws://` only to this machine
//!   unless allowed: see [`super::connect`]); on failure or loss waits
//!   `min(max, initial·2^attempt)` scaled by a random factor in [0.5, 1) (jitter, so a
//!   relay restart is not met by every phone at the same instant), then tries again. A
//!   failure retrying cannot fix (a certificate this device does not trust) waits the
//!   longest backoff at once. The last failure is in [`SyncStatus::last_error`].
//! - Syncs every document of its [`SyncScope`] (`ProductionScope` for a member's phone,
//!   `AllDocuments` for everything on the device) plus those opened with [`SyncClient::open_document`]. A local change reaches the
//!   relay at once: the client listens to the device's document observer.
//! - Pings every `ping_interval`; a link silent for `idle_timeout` is dropped and redialed
//!   (a phone walking out of signal rarely gets a clean close).
//! - Presence (ephemeral data) goes out with [`SyncClient::send_presence`] and comes in
//!   through [`PresenceObserver`]s. It is live only: nothing is queued while offline.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::attachments::{run_uploads, AttachmentClient, PendingForwarder, UploaderContext};
use super::connect::{ConnectError, ConnectOptions, Endpoint};
use super::link::{pending_local_changes, DeviceLink, LinkEvent};
use super::scope::SyncScope;
use super::{
    PresenceEvent, PresenceObserver, RefusalEvent, RefusalObserver, SyncState, SyncStatus,
    SyncStatusObserver,
};
use crate::device::{ChangeOrigin, Device, DocumentObserver, ObserverId};
use crate::ids::DocumentId;
use crate::sync::engine::Side;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `wss://host/sync`, or `ws://` to this machine (or anywhere, when
    /// `options.allow_insecure_remote`).
    pub url: String,
    /// Bearer token, sent as `?token=`.
    pub token: String,
    /// Which certificates to trust, and whether `ws://` may leave this machine.
    pub options: ConnectOptions,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub connect_timeout: Duration,
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
}

impl ClientConfig {
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Self {
        ClientConfig {
            url: url.into(),
            token: token.into(),
            options: ConnectOptions::default(),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
        }
    }

    /// The URL dialed: `url` with the token as a query parameter. `None` when `url` is
    /// not a URL.
    pub fn dial_url(&self) -> Option<String> {
        let mut url = url::Url::parse(self.url.trim()).ok()?;
        url.query_pairs_mut().append_pair("token", &self.token);
        Some(url.into())
    }
}

/// The delay before reconnect attempt `attempt` (1-based), with jitter from `unit` in
/// [0, 1): `min(max, initial·2^(attempt-1))·(0.5 + unit/2)`.
pub fn backoff_delay(cfg: &ClientConfig, attempt: u32, unit: f64) -> Duration {
    let exp = cfg
        .backoff_initial
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let capped = exp.min(cfg.backoff_max);
    capped.mul_f64(0.5 + unit.clamp(0.0, 1.0) / 2.0)
}

enum Command {
    Open(DocumentId),
    Presence(DocumentId, Vec<u8>),
    Stop,
}

struct Shared {
    device: Arc<Mutex<Device>>,
    cfg: ClientConfig,
    endpoint: Endpoint,
    dial_url: String,
    scope: Arc<dyn SyncScope>,
    status: watch::Sender<SyncStatus>,
    status_observers: Mutex<Vec<Arc<dyn SyncStatusObserver>>>,
    presence_observers: Mutex<Vec<Arc<dyn PresenceObserver>>>,
    refusal_observers: Mutex<Vec<Arc<dyn RefusalObserver>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock must not take sync down with it; the
    // device's own state is consistent between calls.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Sets the status, but for the attachment bytes pending, which the upload task owns
    /// ([`Self::set_attachment_bytes_pending`]).
    fn set_status(&self, mut status: SyncStatus) {
        let mut sent = None;
        self.status.send_if_modified(|s| {
            status.attachment_bytes_pending = s.attachment_bytes_pending;
            if *s == status {
                false
            } else {
                *s = status.clone();
                sent = Some(status.clone());
                true
            }
        });
        self.tell_status(sent);
    }

    fn set_attachment_bytes_pending(&self, bytes: u64) {
        let mut sent = None;
        self.status.send_if_modified(|s| {
            if s.attachment_bytes_pending == bytes {
                false
            } else {
                s.attachment_bytes_pending = bytes;
                sent = Some(s.clone());
                true
            }
        });
        self.tell_status(sent);
    }

    fn tell_status(&self, sent: Option<SyncStatus>) {
        if let Some(status) = sent {
            let observers = lock(&self.status_observers).clone();
            for o in observers {
                o.status_changed(&status);
            }
        }
    }

    fn presence(&self, ev: PresenceEvent) {
        let observers = lock(&self.presence_observers).clone();
        for o in observers {
            o.presence(&ev);
        }
    }

    fn refused(&self, ev: RefusalEvent) {
        tracing::warn!(doc = %ev.document_id, ours = ev.ours, rule = %ev.rule, message = %ev.message, "write rules refused a change");
        let observers = lock(&self.refusal_observers).clone();
        for o in observers {
            o.refused(&ev);
        }
    }
}

/// Forwards the device's change notifications to the client task.
struct ChangeForwarder(mpsc::UnboundedSender<DocumentId>);

impl DocumentObserver for ChangeForwarder {
    fn changed(&self, doc_id: &DocumentId, _origin: ChangeOrigin) {
        // Remote changes too: something a phone-to-phone link brought in must reach the
        // relay as well. The link skips what the relay already has.
        let _ = self.0.send(*doc_id);
    }
}

/// A running sync client. Dropping it stops the task (at its next wake-up); [`Self::stop`]
/// waits for that.
pub struct SyncClient {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    task: Option<JoinHandle<()>>,
    observer: ObserverId,
    attachments: AttachmentClient,
    /// The upload task (`super::attachments`), aborted when the client stops: an
    /// upload cut anywhere resumes from what the relay holds.
    uploads: JoinHandle<()>,
    attachment_observer: ObserverId,
}

impl SyncClient {
    /// Starts the client on the current tokio runtime. Fails at once, before dialing,
    /// when the URL is not one the policy allows or the production CA is not a
    /// certificate; everything else (no signal, an untrusted certificate) is retried and
    /// reported in [`SyncStatus::last_error`].
    pub fn start(
        device: Arc<Mutex<Device>>,
        cfg: ClientConfig,
        scope: Arc<dyn SyncScope>,
    ) -> Result<SyncClient, ConnectError> {
        let endpoint = Endpoint::new(&cfg.url, &cfg.options)?;
        let dial_url = cfg.dial_url().ok_or_else(|| ConnectError::InvalidUrl {
            url: cfg.url.clone(),
            reason: "not a URL".into(),
        })?;
        let attachments = AttachmentClient::new(device.clone(), &cfg)?;
        let (changes_tx, changes_rx) = mpsc::unbounded_channel();
        let (pending_tx, pending_rx) = mpsc::unbounded_channel();
        let (observer, attachment_observer, pending) = {
            let mut d = lock(&device);
            let observer = d.add_observer(Arc::new(ChangeForwarder(changes_tx)));
            let attachment_observer =
                d.add_attachment_observer(Arc::new(PendingForwarder(pending_tx)));
            (
                observer,
                attachment_observer,
                d.bytes_pending_upload().unwrap_or(0),
            )
        };
        let (status, _) = watch::channel(SyncStatus {
            attachment_bytes_pending: pending,
            ..SyncStatus::default()
        });
        let shared = Arc::new(Shared {
            device,
            cfg,
            endpoint,
            dial_url,
            scope,
            status,
            status_observers: Mutex::new(Vec::new()),
            presence_observers: Mutex::new(Vec::new()),
            refusal_observers: Mutex::new(Vec::new()),
        });
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(shared.clone(), commands_rx, changes_rx));
        let report = {
            let shared = shared.clone();
            Arc::new(move |bytes: u64| shared.set_attachment_bytes_pending(bytes))
        };
        let refused = {
            let shared = shared.clone();
            Arc::new(move |ev: RefusalEvent| shared.refused(ev))
        };
        let uploads = tokio::spawn(run_uploads(UploaderContext {
            client: attachments.clone(),
            status: shared.status.subscribe(),
            peer_meta_key: peer_meta_key(&shared.cfg.url),
            report,
            refused,
            wake: pending_rx,
        }));
        Ok(SyncClient {
            shared,
            commands,
            task: Some(task),
            observer,
            attachments,
            uploads,
            attachment_observer,
        })
    }

    pub fn status(&self) -> SyncStatus {
        self.shared.status.borrow().clone()
    }

    /// A receiver that sees every status change (for async waiting).
    pub fn watch_status(&self) -> watch::Receiver<SyncStatus> {
        self.shared.status.subscribe()
    }

    /// Waits until the status is `InSync` with nothing pending, or `limit` passes.
    pub async fn wait_in_sync(&self, limit: Duration) -> bool {
        let mut rx = self.watch_status();
        timeout(
            limit,
            rx.wait_for(|s| s.state == SyncState::InSync && s.pending_local_changes == 0),
        )
        .await
        .is_ok_and(|r| r.is_ok())
    }

    pub fn add_status_observer(&self, o: Arc<dyn SyncStatusObserver>) {
        o.status_changed(&self.status());
        lock(&self.shared.status_observers).push(o);
    }

    pub fn add_presence_observer(&self, o: Arc<dyn PresenceObserver>) {
        lock(&self.shared.presence_observers).push(o);
    }

    /// Hears every change the write rules refused, ours (by the relay) or the relay's (by
    /// this device).
    pub fn add_refusal_observer(&self, o: Arc<dyn RefusalObserver>) {
        lock(&self.shared.refusal_observers).push(o);
    }

    /// Syncs a document beyond the scope (an older day opened on demand). It must be on
    /// the device (`Device::import_document`).
    pub fn open_document(&self, doc: DocumentId) {
        let _ = self.commands.send(Command::Open(doc));
    }

    /// Sends live data about a document (e.g. `super::encode_presence`), if connected.
    pub fn send_presence(&self, doc: DocumentId, data: Vec<u8>) {
        let _ = self.commands.send(Command::Presence(doc, data));
    }

    /// Downloads attachments from this client's relay with its token (and uploads them,
    /// which the client does by itself); usable after the client stops.
    pub fn attachments(&self) -> AttachmentClient {
        self.attachments.clone()
    }

    /// Stops the client and waits for its task; the device keeps everything it synced.
    pub async fn stop(mut self) {
        self.uploads.abort();
        let _ = self.commands.send(Command::Stop);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for SyncClient {
    fn drop(&mut self) {
        self.uploads.abort();
        let _ = self.commands.send(Command::Stop);
        let mut device = lock(&self.shared.device);
        device.remove_observer(self.observer);
        device.remove_observer(self.attachment_observer);
    }
}

/// Device metadata key remembering the relay's storage id for `url`, so pending changes
/// can be counted while offline after a restart.
fn peer_meta_key(url: &str) -> String {
    format!("sync.peer_key:{url}")
}

/// An attempt number at which [`backoff_delay`] is `backoff_max` for any sane settings.
const BACKOFF_AT_MAX: u32 = 32;

enum Outcome {
    Reconnect,
    Stop,
    /// The relay refused the token (unknown, expired or revoked): retrying cannot help
    /// until the member signs in again.
    SignInRequired(String),
}

/// The relay's close code for a refused token (`setlink serve` answers a bad token by
/// accepting the upgrade, sending an `error`, and closing with it).
pub const CLOSE_UNAUTHORIZED: u16 = 4401;

/// Why a close frame ends syncing for good, if it does.
fn sign_in_required(
    frame: &Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>,
) -> Option<String> {
    frame
        .as_ref()
        .filter(|f| u16::from(f.code) == CLOSE_UNAUTHORIZED)
        .map(|f| f.reason.to_string())
}

struct Task {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedReceiver<Command>,
    changes: mpsc::UnboundedReceiver<DocumentId>,
    opened: BTreeSet<DocumentId>,
    last_peer_key: Option<String>,
    last_synced_at_ms: Option<i64>,
    last_error: Option<ConnectError>,
}

async fn run(
    shared: Arc<Shared>,
    commands: mpsc::UnboundedReceiver<Command>,
    changes: mpsc::UnboundedReceiver<DocumentId>,
) {
    let last_peer_key = lock(&shared.device)
        .metadata(&peer_meta_key(&shared.cfg.url))
        .ok()
        .flatten();
    let mut t = Task {
        shared,
        commands,
        changes,
        opened: BTreeSet::new(),
        last_peer_key,
        last_synced_at_ms: None,
        last_error: None,
    };
    let mut attempt = 0u32;
    loop {
        t.offline_status(SyncState::Connecting);
        let dial = timeout(
            t.shared.cfg.connect_timeout,
            t.shared
                .endpoint
                .connect(&t.shared.dial_url, websocket_config()),
        )
        .await
        .unwrap_or(Err(ConnectError::TimedOut));
        let refused = match dial {
            Ok(ws) => {
                attempt = 0;
                t.last_error = None;
                tracing::debug!(url = %t.shared.cfg.url, "sync connected");
                match t.session(ws).await {
                    Outcome::Stop => break,
                    Outcome::SignInRequired(why) => Some(why),
                    Outcome::Reconnect => None,
                }
            }
            // A relay behind a proxy that checks tokens, or an older relay, refuses the
            // upgrade itself.
            Err(ConnectError::Rejected { status: 401, .. }) => {
                Some("the relay refused the token (HTTP 401)".to_owned())
            }
            Err(e) => {
                if e.is_persistent() {
                    // Retrying soon gives the same answer: wait the longest backoff.
                    tracing::warn!(url = %t.shared.cfg.url, error = %e, "sync connect failed");
                    attempt = attempt.max(BACKOFF_AT_MAX);
                } else {
                    tracing::debug!(url = %t.shared.cfg.url, error = %e, "sync connect failed");
                }
                t.last_error = Some(e);
                None
            }
        };
        if let Some(why) = refused {
            tracing::warn!(reason = %why, "the relay refused this device's token; stopped syncing until it signs in again");
            t.offline_status(SyncState::SignInRequired);
            t.wait_for_stop(SyncState::SignInRequired).await;
            return;
        }
        attempt = attempt.saturating_add(1);
        t.offline_status(SyncState::Offline);
        let delay = backoff_delay(&t.shared.cfg, attempt, rand::rng().random::<f64>());
        if let Outcome::Stop = t.wait_offline(delay).await {
            break;
        }
    }
    t.offline_status(SyncState::Offline);
}

impl Task {
    fn scope_docs(&self, device: &mut Device) -> Vec<DocumentId> {
        let mut docs = self.shared.scope.documents(device);
        docs.extend(self.opened.iter().copied());
        docs
    }

    fn offline_status(&self, state: SyncState) {
        let mut device = lock(&self.shared.device);
        let docs = self.scope_docs(&mut device);
        let pending =
            pending_local_changes(&mut device, docs.iter(), self.last_peer_key.as_deref())
                .unwrap_or(self.shared.status.borrow().pending_local_changes);
        drop(device);
        self.shared.set_status(SyncStatus {
            state,
            pending_local_changes: pending,
            last_synced_at_ms: self.last_synced_at_ms,
            last_error: self.last_error.clone(),
            // Kept as it is by set_status: the upload task owns it.
            attachment_bytes_pending: 0,
        });
    }

    /// Waits out a backoff delay, still taking commands and counting local changes.
    async fn wait_offline(&mut self, delay: Duration) -> Outcome {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => return Outcome::Reconnect,
                cmd = self.commands.recv() => match cmd {
                    None | Some(Command::Stop) => return Outcome::Stop,
                    Some(Command::Open(doc)) => { self.opened.insert(doc); }
                    // Presence is live only; there is no one to tell.
                    Some(Command::Presence(..)) => {}
                },
                Some(_) = self.changes.recv() => self.offline_status(SyncState::Offline),
            }
        }
    }

    /// Syncing is over for this token: keep counting local changes (the status shows
    /// them pending) until the app stops the client and starts one with a new token.
    async fn wait_for_stop(&mut self, state: SyncState) {
        loop {
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    None | Some(Command::Stop) => return,
                    Some(Command::Open(doc)) => { self.opened.insert(doc); }
                    Some(Command::Presence(..)) => {}
                },
                Some(_) = self.changes.recv() => self.offline_status(state),
            }
        }
    }

    async fn session<S>(&mut self, ws: tokio_tungstenite::WebSocketStream<S>) -> Outcome
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let (mut sink, mut stream) = ws.split();
        let session_id = crate::ids::new_record_id();
        let mut link = {
            let mut device = lock(&self.shared.device);
            let docs = self.scope_docs(&mut device);
            let link =
                DeviceLink::new(&mut device, Side::Initiator, session_id).and_then(|mut l| {
                    l.sync_documents(&mut device, docs)?;
                    Ok(l)
                });
            match link {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start a sync link");
                    return Outcome::Reconnect;
                }
            }
        };
        let mut ping = tokio::time::interval(self.shared.cfg.ping_interval);
        ping.tick().await;
        let mut last_heard = Instant::now();
        let mut refused: Option<String> = None;
        let outcome = loop {
            // Send what the link queued, then report where things stand.
            let mut send_failed = false;
            while let Some(frame) = link.poll_transmit() {
                if sink.feed(WsMessage::binary(frame)).await.is_err() {
                    send_failed = true;
                    break;
                }
            }
            if send_failed || sink.flush().await.is_err() {
                break Outcome::Reconnect;
            }
            self.dispatch_events(&mut link);
            if link.is_closed() {
                break Outcome::Reconnect;
            }
            // Ask again for documents the relay did not have yet; what this queues goes
            // out on the next turn, woken by the retry timer below.
            let retry_in = {
                let mut device = lock(&self.shared.device);
                let now = device.now_ms();
                if let Err(e) = link.tick(&mut device, now) {
                    tracing::warn!(error = %e, "cannot ask again for an unavailable document");
                }
                link.next_retry_at().map(|at| {
                    Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
                })
            };
            if link.has_transmit() {
                continue;
            }
            self.online_status(&link);
            let retry_sleep = tokio::time::sleep(retry_in.unwrap_or(Duration::from_secs(3600)));

            tokio::select! {
                msg = stream.next() => match msg {
                    Some(Ok(WsMessage::Binary(frame))) => {
                        last_heard = Instant::now();
                        let mut device = lock(&self.shared.device);
                        if let Err(e) = link.handle_frame(&mut device, &frame) {
                            tracing::warn!(error = %e, "sync link failed");
                        }
                        // Take every frame already here before replying and recomputing
                        // the status: a reconnect brings hundreds at once.
                        let mut ended = false;
                        while let Some(next) = stream.next().now_or_never() {
                            match next {
                                Some(Ok(WsMessage::Binary(frame))) => {
                                    if let Err(e) = link.handle_frame(&mut device, &frame) {
                                        tracing::warn!(error = %e, "sync link failed");
                                    }
                                }
                                Some(Ok(WsMessage::Close(frame))) => {
                                    ended = true;
                                    refused = sign_in_required(&frame);
                                    break;
                                }
                                None | Some(Err(_)) => {
                                    ended = true;
                                    break;
                                }
                                Some(Ok(_)) => {}
                            }
                        }
                        if ended {
                            drop(device);
                            break match refused.take() {
                                Some(why) => Outcome::SignInRequired(why),
                                None => Outcome::Reconnect,
                            };
                        }
                    }
                    Some(Ok(WsMessage::Close(frame))) => break match sign_in_required(&frame) {
                        Some(why) => Outcome::SignInRequired(why),
                        None => Outcome::Reconnect,
                    },
                    None | Some(Err(_)) => break Outcome::Reconnect,
                    // Pings are answered by tungstenite; text frames are not part of the protocol.
                    Some(Ok(_)) => last_heard = Instant::now(),
                },
                _ = retry_sleep, if retry_in.is_some() => {}
                _ = ping.tick() => {
                    if last_heard.elapsed() > self.shared.cfg.idle_timeout {
                        tracing::debug!("sync link idle, redialing");
                        break Outcome::Reconnect;
                    }
                    if sink.send(WsMessage::Ping(Vec::new().into())).await.is_err() {
                        break Outcome::Reconnect;
                    }
                },
                Some(doc) = self.changes.recv() => {
                    let mut device = lock(&self.shared.device);
                    let result = if link.scope().any(|d| *d == doc) && !self.shared.scope.is_index(&doc) {
                        link.local_change(&mut device, doc)
                    } else {
                        // A document new to the device, or a change to the index: sync what
                        // the scope now holds (and the change itself). A new index entry may
                        // be a document the relay did not have when we asked.
                        link.retry_unavailable();
                        let docs = self.scope_docs(&mut device);
                        link.sync_documents(&mut device, docs)
                            .and_then(|()| link.local_change(&mut device, doc))
                    };
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "sync of a local change failed");
                    }
                },
                cmd = self.commands.recv() => match cmd {
                    None | Some(Command::Stop) => break Outcome::Stop,
                    Some(Command::Open(doc)) => {
                        self.opened.insert(doc);
                        let mut device = lock(&self.shared.device);
                        if let Err(e) = link.sync_documents(&mut device, [doc]) {
                            tracing::warn!(error = %e, "cannot sync opened document");
                        }
                    }
                    Some(Command::Presence(doc, data)) => {
                        if let Err(e) = link.send_presence(doc, data) {
                            tracing::debug!(error = %e, "presence not sent");
                        }
                    }
                },
            }
        };
        let _ = sink.close().await;
        let mut device = lock(&self.shared.device);
        link.close(&mut device);
        drop(device);
        self.dispatch_events(&mut link);
        outcome
    }

    fn dispatch_events(&mut self, link: &mut DeviceLink) {
        while let Some(ev) = link.poll_event() {
            match ev {
                LinkEvent::Presence {
                    document_id,
                    sender_id,
                    data,
                } => self.shared.presence(PresenceEvent {
                    document_id,
                    sender_id,
                    data,
                }),
                LinkEvent::Connected { .. } => {
                    if let Some(key) = link.peer_key() {
                        if self.last_peer_key.as_deref() != Some(&key) {
                            let mut device = lock(&self.shared.device);
                            let _ = device.set_metadata(&peer_meta_key(&self.shared.cfg.url), &key);
                            self.last_peer_key = Some(key);
                        }
                    }
                }
                LinkEvent::Closed { reason } => tracing::debug!(%reason, "sync link closed"),
                LinkEvent::Refused {
                    document_id,
                    ours,
                    rule,
                    path,
                    message,
                } => self.shared.refused(RefusalEvent {
                    document_id,
                    ours,
                    rule,
                    path,
                    message,
                }),
                LinkEvent::DocumentChanged(_) | LinkEvent::DocumentUnavailable(_) => {}
            }
        }
    }

    fn online_status(&mut self, link: &DeviceLink) {
        let mut device = lock(&self.shared.device);
        let progress = link.progress(&mut device, self.last_peer_key.as_deref());
        let now = device.now_ms();
        drop(device);
        let Ok(p) = progress else {
            return;
        };
        let state = if !link.is_connected() {
            SyncState::Connecting
        } else if p.in_sync && p.pending_local_changes == 0 {
            self.last_synced_at_ms = Some(now);
            SyncState::InSync
        } else {
            SyncState::Syncing
        };
        // While in sync, the time moves on with every exchange; report it only on state or
        // count changes so observers are not woken for every frame.
        let current = self.shared.status.borrow().clone();
        let last_synced_at_ms = if current.state == SyncState::InSync && state == SyncState::InSync
        {
            current.last_synced_at_ms
        } else {
            self.last_synced_at_ms
        };
        self.shared.set_status(SyncStatus {
            state,
            pending_local_changes: p.pending_local_changes,
            last_synced_at_ms,
            last_error: None,
            attachment_bytes_pending: 0,
        });
    }
}

/// The WebSocket settings for sync connections. tungstenite zeroes its whole read buffer
/// on every read, and sync frames are small: the 128 KiB default made that memset a
/// device's largest cost when many messages arrive.
pub fn websocket_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(8 * 1024)
}
