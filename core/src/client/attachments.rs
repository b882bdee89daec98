//! Moving attachments between the device and the relay over HTTP(S), beside document sync.
//!
//! - **Uploads** run in their own task, so a photo never holds up document sync. An
//!   attachment goes up only once a board that references it is in sync with the relay
//!   (the relay accepts an attachment only for a document that references it: 403/404
//!   until then, which here means "try later"). It goes in chunks of [`CHUNK_BYTES`],
//!   resuming from what the relay says it holds, so a connection dropped at 90% continues
//!   from there. The protocol's decisions are in [`UploadPlan`] (no IO); this module only
//!   carries its requests. Uploads are tried when an attachment is added, when the client
//!   reaches in-sync (so after every reconnect), and on a backoff after a failure.
//! - **Downloads** are on demand ([`AttachmentClient::fetch`]): from the device if it has
//!   the bytes, else from the relay, checked (sha256 and type) and kept in the cache.
//!
//! The relay's API is `/api/attachments/{hash}/upload?doc=` (GET state, PUT chunks at
//! `offset`) and `/api/attachments/{hash}?doc=` (GET bytes), on the relay's host and port,
//! `http(s)` for `ws(s)`, with the device token as a bearer token. Requests use the same
//! rustls configuration as sync ([`super::connect::tls_config`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use url::Url;

use super::connect::{tls_config, ConnectError};
use super::ws::ClientConfig;
use super::{RefusalEvent, SyncState, SyncStatus};
use crate::attachment::{is_hash, AttachmentError, AttachmentRef, MAX_ATTACHMENT_BYTES};
use crate::device::{AttachmentObserver, Device, DeviceError};
use crate::ids::DocumentId;

/// The largest chunk sent in one PUT (the relay refuses larger ones).
pub const CHUNK_BYTES: u64 = 1024 * 1024;

/// Replies in a row without progress after which an upload waits for a later try.
const MAX_STALLS: u32 = 3;

/// The first wait after a failed upload; it doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(120);

/// The relay's attachments API for a sync URL: `ws://h:p/...` → `http://h:p/api/attachments/`,
/// `wss://` → `https://` (an `http(s)://` URL is taken as is). Query, fragment and
/// credentials are dropped.
pub fn http_base(sync_url: &str) -> Result<Url, ConnectError> {
    let bad = |reason: &str| ConnectError::InvalidUrl {
        url: sync_url.to_owned(),
        reason: reason.to_owned(),
    };
    let mut url = Url::parse(sync_url.trim()).map_err(|e| bad(&e.to_string()))?;
    let scheme = match url.scheme() {
        "ws" | "http" => "http",
        "wss" | "https" => "https",
        _ => return Err(bad("the scheme must be wss or ws")),
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    // Between special schemes (ws, wss, http, https) changing the scheme always works.
    url.set_scheme(scheme)
        .map_err(|()| bad("cannot be turned into an http(s) URL"))?;
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_path("/api/attachments/");
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// `{base}{hash}/upload?doc={doc}`: where an upload's state is asked and its chunks go.
pub fn upload_url(base: &Url, hash: &str, doc: &DocumentId) -> Option<Url> {
    let mut url = base.join(&format!("{hash}/upload")).ok()?;
    url.query_pairs_mut().append_pair("doc", &doc.to_string());
    Some(url)
}

/// `{base}{hash}?doc={doc}`: where an attachment is downloaded.
pub fn download_url(base: &Url, hash: &str, doc: &DocumentId) -> Option<Url> {
    let mut url = base.join(hash).ok()?;
    url.query_pairs_mut().append_pair("doc", &doc.to_string());
    Some(url)
}

/// What the relay holds of an upload (its JSON answer to GET and PUT).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct UploadState {
    pub received: u64,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub complete: bool,
}

/// The relay's answer to an upload request, as far as the protocol cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayReply {
    /// 200: what it holds now.
    State(UploadState),
    /// 409: the offset was not what it holds; it holds `received`.
    Conflict { received: u64 },
    /// 422: the finished bytes did not hash to the attachment's name; the relay dropped them.
    HashMismatch,
    /// Not now: the document is not on the relay or does not reference the attachment
    /// yet (403, 404), the relay is busy or down, or the network failed.
    TryLater { detail: String },
    /// 401: the token is no longer valid.
    SignInRequired,
    /// Refused for good (413 too large, 415 not an accepted type, 400, ...).
    Refused { status: u16, detail: String },
}

impl RelayReply {
    /// Classifies an HTTP answer to an upload request.
    pub fn from_http(status: u16, body: &[u8]) -> RelayReply {
        let detail = || error_text(status, body);
        match status {
            200 => serde_json::from_slice(body)
                .map(RelayReply::State)
                .unwrap_or_else(|e| RelayReply::TryLater {
                    detail: format!("unexpected answer from the relay: {e}"),
                }),
            409 => match serde_json::from_slice::<UploadState>(body) {
                Ok(s) => RelayReply::Conflict {
                    received: s.received,
                },
                Err(_) => RelayReply::TryLater { detail: detail() },
            },
            422 => RelayReply::HashMismatch,
            401 => RelayReply::SignInRequired,
            403 | 404 | 408 | 425 | 429 | 500..=599 => RelayReply::TryLater { detail: detail() },
            _ => RelayReply::Refused {
                status,
                detail: detail(),
            },
        }
    }
}

/// The relay's `{"error": "..."}` text, or the body itself, with the status.
fn error_text(status: u16, body: &[u8]) -> String {
    let text = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect());
    format!("HTTP {status}: {text}")
}

/// What an upload does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadStep {
    /// GET the upload's state.
    AskState,
    /// PUT bytes `[offset, offset + len)`.
    Put { offset: u64, len: u64 },
    /// The relay has it all.
    Done,
    /// Stop for now; try again later.
    TryLater(String),
    /// The relay will not take it; trying again as is cannot help.
    Refused(String),
    /// The token is no longer valid.
    SignInRequired,
}

/// One attachment's upload, as decisions only: ask what the relay holds, send chunks
/// from there, resume at the relay's count after a 409, start over once after a 422.
#[derive(Clone, Debug)]
pub struct UploadPlan {
    size: u64,
    chunk: u64,
    received: u64,
    restarted: bool,
    stalls: u32,
    next: UploadStep,
}

impl UploadPlan {
    pub fn new(size: u64) -> UploadPlan {
        Self::with_chunk(size, CHUNK_BYTES)
    }

    /// With another chunk size (tests).
    pub fn with_chunk(size: u64, chunk: u64) -> UploadPlan {
        UploadPlan {
            size,
            chunk: chunk.max(1),
            received: 0,
            restarted: false,
            stalls: 0,
            next: UploadStep::AskState,
        }
    }

    pub fn step(&self) -> &UploadStep {
        &self.next
    }

    /// How many bytes the relay holds, as last heard.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Whether the plan has ended (done, or stopped for now or for good).
    pub fn is_finished(&self) -> bool {
        !matches!(self.next, UploadStep::AskState | UploadStep::Put { .. })
    }

    fn put_from(&mut self, offset: u64) -> UploadStep {
        let progressed = offset > self.received;
        self.received = offset;
        if progressed {
            self.stalls = 0;
        } else {
            self.stalls += 1;
            if self.stalls > MAX_STALLS {
                return UploadStep::TryLater(format!(
                    "the relay's upload stays at {offset} of {} bytes",
                    self.size
                ));
            }
        }
        if offset >= self.size {
            // All sent but not complete: the relay answered inconsistently.
            return UploadStep::TryLater(format!(
                "the relay holds {offset} of {} bytes but does not call it complete",
                self.size
            ));
        }
        UploadStep::Put {
            offset,
            len: self.chunk.min(self.size - offset),
        }
    }

    /// Takes the relay's answer to the last step.
    pub fn handle(&mut self, reply: RelayReply) {
        if self.is_finished() {
            return;
        }
        let asked = self.next == UploadStep::AskState;
        self.next = match reply {
            RelayReply::State(s) if s.complete => {
                self.received = self.size;
                UploadStep::Done
            }
            RelayReply::State(s) if s.size.is_some_and(|z| z != self.size) && s.received > 0 => {
                UploadStep::TryLater(format!(
                    "the relay holds a partial upload of {} bytes for this hash, not {}",
                    s.size.unwrap_or_default(),
                    self.size
                ))
            }
            RelayReply::State(s) if asked => {
                // The first answer sets where to start; it is not progress or a stall.
                self.received = s.received.min(self.size);
                self.put_from_start_point()
            }
            RelayReply::State(s) => self.put_from(s.received),
            RelayReply::Conflict { received } => self.put_from(received),
            RelayReply::HashMismatch if !self.restarted => {
                self.restarted = true;
                self.received = 0;
                self.stalls = 0;
                UploadStep::Put {
                    offset: 0,
                    len: self.chunk.min(self.size),
                }
            }
            RelayReply::HashMismatch => UploadStep::Refused(
                "the relay found a different sha256 for these bytes twice; the stored \
                 attachment may be damaged"
                    .to_owned(),
            ),
            RelayReply::TryLater { detail } => UploadStep::TryLater(detail),
            RelayReply::SignInRequired => UploadStep::SignInRequired,
            RelayReply::Refused { detail, .. } => UploadStep::Refused(detail),
        };
    }

    fn put_from_start_point(&mut self) -> UploadStep {
        let offset = self.received;
        if offset >= self.size {
            return UploadStep::TryLater(format!(
                "the relay holds {offset} of {} bytes but does not call it complete",
                self.size
            ));
        }
        UploadStep::Put {
            offset,
            len: self.chunk.min(self.size - offset),
        }
    }
}

/// Why moving an attachment failed.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// Offline, the relay down, or its certificate not trusted.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("the relay refused this device's token (HTTP 401); sign in again")]
    SignInRequired,
    #[error("the relay will not give attachment {hash} through document {doc}: {detail}")]
    Forbidden {
        hash: String,
        doc: DocumentId,
        detail: String,
    },
    #[error("the relay does not have attachment {hash} (not uploaded yet, or document {doc} unknown there): {detail}")]
    NotOnRelay {
        hash: String,
        doc: DocumentId,
        detail: String,
    },
    #[error("the relay answered {detail}")]
    Relay { status: u16, detail: String },
    #[error(transparent)]
    Device(#[from] DeviceError),
}

impl From<AttachmentError> for TransferError {
    fn from(e: AttachmentError) -> Self {
        TransferError::Device(e.into())
    }
}

fn lock(device: &Mutex<Device>) -> MutexGuard<'_, Device> {
    // As in the sync client: a panic elsewhere must not stop transfers; the device is
    // consistent between calls.
    device.lock().unwrap_or_else(|e| e.into_inner())
}

/// Uploads and downloads attachments for one device and relay. Cheap to clone.
#[derive(Clone)]
pub struct AttachmentClient {
    inner: Arc<Inner>,
}

struct Inner {
    device: Arc<Mutex<Device>>,
    http: reqwest::Client,
    base: Url,
    host: String,
    token: String,
}

impl std::fmt::Debug for AttachmentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentClient")
            .field("base", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

impl AttachmentClient {
    /// For the relay and token of a sync configuration (same TLS trust and URL policy).
    pub fn new(
        device: Arc<Mutex<Device>>,
        cfg: &ClientConfig,
    ) -> Result<AttachmentClient, ConnectError> {
        // The sync URL's own policy check (ws:// only to this machine unless allowed).
        super::connect::check_url(&cfg.url, "ws", "wss", cfg.options.allow_insecure_remote)?;
        let base = http_base(&cfg.url)?;
        let tls = tls_config(cfg.options.trusted_ca_pem.as_deref())?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .connect_timeout(cfg.connect_timeout)
            // No overall timeout: a 20 MiB download on a slow link takes minutes. A link
            // that goes silent is dropped instead.
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ConnectError::Tls {
                host: base.host_str().unwrap_or_default().to_owned(),
                detail: e.to_string(),
            })?;
        Ok(AttachmentClient {
            inner: Arc::new(Inner {
                device,
                host: base.host_str().unwrap_or_default().to_owned(),
                http,
                base,
                token: cfg.token.clone(),
            }),
        })
    }

    /// The relay's attachments API (`http(s)://host:port/api/attachments/`).
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    fn unreachable(&self, e: &reqwest::Error) -> ConnectError {
        ConnectError::from_tls_chain(&self.inner.host, e).unwrap_or_else(|| {
            if e.is_timeout() {
                ConnectError::TimedOut
            } else {
                ConnectError::Unreachable {
                    host: self.inner.host.clone(),
                    detail: error_chain(e),
                }
            }
        })
    }

    /// An attachment's bytes: from the device when it has them, else downloaded from the
    /// relay through `doc` (a document that references it, which the member may read),
    /// checked (sha256, type, size) and kept in the device's cache.
    pub async fn fetch(&self, hash: &str, doc: DocumentId) -> Result<Vec<u8>, TransferError> {
        if !is_hash(hash) {
            return Err(AttachmentError::InvalidReference {
                value: hash.to_owned(),
            }
            .into());
        }
        if let Some(bytes) = lock(&self.inner.device).attachment_bytes(hash)? {
            return Ok(bytes);
        }
        let url = download_url(&self.inner.base, hash, &doc).ok_or_else(|| {
            TransferError::from(AttachmentError::InvalidReference {
                value: hash.to_owned(),
            })
        })?;
        let mut resp = self
            .inner
            .http
            .get(url)
            .bearer_auth(&self.inner.token)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = resp.bytes().await.unwrap_or_default();
            let detail = error_text(status, &body);
            return Err(match status {
                401 => TransferError::SignInRequired,
                403 => TransferError::Forbidden {
                    hash: hash.to_owned(),
                    doc,
                    detail,
                },
                404 => TransferError::NotOnRelay {
                    hash: hash.to_owned(),
                    doc,
                    detail,
                },
                _ => TransferError::Relay { status, detail },
            });
        }
        let too_large = |size: u64| AttachmentError::TooLarge {
            size,
            max: MAX_ATTACHMENT_BYTES,
        };
        if let Some(len) = resp.content_length().filter(|l| *l > MAX_ATTACHMENT_BYTES) {
            return Err(too_large(len).into());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.unreachable(&e))? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > MAX_ATTACHMENT_BYTES {
                return Err(too_large(bytes.len() as u64).into());
            }
        }
        lock(&self.inner.device).store_downloaded(hash, &bytes)?;
        Ok(bytes)
    }

    /// One request of an upload; network failures are "try later".
    async fn send(
        &self,
        step: &UploadStep,
        a: &AttachmentRef,
        doc: &DocumentId,
        bytes: &[u8],
    ) -> RelayReply {
        let Some(mut url) = upload_url(&self.inner.base, &a.hash, doc) else {
            return RelayReply::Refused {
                status: 0,
                detail: format!("no upload URL for {}", a.hash),
            };
        };
        let request = match *step {
            UploadStep::AskState => self.inner.http.get(url),
            UploadStep::Put { offset, len } => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                let end = usize::try_from(offset.saturating_add(len)).unwrap_or(usize::MAX);
                let Some(chunk) = bytes.get(start..end) else {
                    return RelayReply::Refused {
                        status: 0,
                        detail: format!("bytes {start}..{end} are not in the stored attachment"),
                    };
                };
                url.query_pairs_mut()
                    .append_pair("offset", &offset.to_string())
                    .append_pair("size", &a.size.to_string())
                    .append_pair("type", a.kind.mime());
                self.inner
                    .http
                    .put(url)
                    .header("content-type", "application/octet-stream")
                    .body(chunk.to_vec())
            }
            _ => {
                return RelayReply::TryLater {
                    detail: "nothing to send".into(),
                }
            }
        };
        let sent = request.bearer_auth(&self.inner.token).send().await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                return RelayReply::TryLater {
                    detail: self.unreachable(&e).to_string(),
                }
            }
        };
        let status = resp.status().as_u16();
        match resp.bytes().await {
            Ok(body) => RelayReply::from_http(status, &body),
            Err(e) => RelayReply::TryLater {
                detail: self.unreachable(&e).to_string(),
            },
        }
    }

    /// Uploads one attachment through `doc`, resuming from what the relay holds;
    /// `progress` hears the relay's count after each answer. Returns the plan's last
    /// step ([`UploadStep::Done`] when the relay has it all).
    pub async fn upload(
        &self,
        a: &AttachmentRef,
        doc: DocumentId,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<UploadStep, DeviceError> {
        // The device's copy is read once; own photos are never evicted while pending.
        let bytes = lock(&self.inner.device)
            .attachment_bytes(&a.hash)?
            .ok_or_else(|| AttachmentError::NotOnDevice {
                hash: a.hash.clone(),
            })?;
        if bytes.len() as u64 != a.size {
            return Ok(UploadStep::Refused(format!(
                "the stored attachment {} is {} bytes, not {}",
                a.hash,
                bytes.len(),
                a.size
            )));
        }
        let mut plan = UploadPlan::new(a.size);
        while !plan.is_finished() {
            let reply = self.send(plan.step(), a, &doc, &bytes).await;
            plan.handle(reply);
            progress(plan.received());
        }
        Ok(plan.step().clone())
    }
}

/// An error and its causes, `: `-separated (reqwest's own text is only the outermost).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cur = c.source();
    }
    text
}

/// Tells the upload task that the bytes pending upload changed (a photo was taken).
pub(crate) struct PendingForwarder(pub(crate) mpsc::UnboundedSender<u64>);

impl AttachmentObserver for PendingForwarder {
    fn pending_changed(&self, bytes_pending_upload: u64) {
        let _ = self.0.send(bytes_pending_upload);
    }
}

/// What the upload task needs from the sync client.
pub(crate) struct UploaderContext {
    pub(crate) client: AttachmentClient,
    pub(crate) status: watch::Receiver<SyncStatus>,
    /// Device metadata key of the relay's storage id (to tell when a document is in sync).
    pub(crate) peer_meta_key: String,
    /// Sets `SyncStatus::attachment_bytes_pending`.
    pub(crate) report: Arc<dyn Fn(u64) + Send + Sync>,
    /// Tells the app's refusal observers of a photo the relay will not take, so the app
    /// can say so instead of showing it pending for ever.
    pub(crate) refused: Arc<dyn Fn(RefusalEvent) + Send + Sync>,
    pub(crate) wake: mpsc::UnboundedReceiver<u64>,
}

/// How one pass over the pending uploads ended.
#[derive(Debug, Default, PartialEq, Eq)]
struct Pass {
    /// Something failed and should be tried again after a while.
    retry: bool,
    /// Something waits for a document that references it to be in sync with the relay.
    waiting: bool,
}

/// The upload task: runs passes over the pending uploads when an attachment is added,
/// when the client reaches in-sync, and on a backoff after a failure. Ends when the sync
/// client is gone.
pub(crate) async fn run_uploads(mut ctx: UploaderContext) {
    let mut refused: HashSet<String> = HashSet::new();
    let mut retry: Option<Duration> = None;
    let mut was_in_sync = false;
    // Set while an attachment waits for its document: then every in-sync status is worth
    // a look, since reaching in-sync may have been missed while a pass was running.
    let mut waiting = false;
    loop {
        let sleep = tokio::time::sleep(retry.unwrap_or(RETRY_MAX));
        let trigger = tokio::select! {
            changed = ctx.status.changed() => {
                if changed.is_err() {
                    return;
                }
                let in_sync = ctx.status.borrow_and_update().state == SyncState::InSync;
                let reached = in_sync && (!was_in_sync || waiting);
                was_in_sync = in_sync;
                reached
            }
            pending = ctx.wake.recv() => match pending {
                Some(n) => {
                    (ctx.report)(n);
                    true
                }
                None => return,
            },
            _ = sleep, if retry.is_some() => true,
        };
        let connected = matches!(
            ctx.status.borrow().state,
            SyncState::InSync | SyncState::Syncing
        );
        if !trigger || !connected {
            continue;
        }
        let pass = upload_pass(&ctx, &mut refused).await;
        waiting = pass.waiting;
        retry = pass
            .retry
            .then(|| retry.map_or(RETRY_MIN, |d| (d * 2).min(RETRY_MAX)));
    }
}

/// Uploads every pending attachment whose document is in sync, oldest first.
async fn upload_pass(ctx: &UploaderContext, refused: &mut HashSet<String>) -> Pass {
    let device = &ctx.client.inner.device;
    let (pending, peer) = {
        let d = lock(device);
        let pending = d.pending_uploads();
        let peer = d.metadata(&ctx.peer_meta_key).ok().flatten();
        (pending, peer)
    };
    let pending = match pending {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the attachments pending upload");
            return Pass {
                retry: true,
                waiting: false,
            };
        }
    };
    let Some(peer) = peer else {
        // Never connected to this relay: no document can be in sync with it yet.
        return Pass {
            retry: false,
            waiting: !pending.is_empty(),
        };
    };
    let mut outcome = Pass::default();
    for a in &pending {
        if refused.contains(&a.hash) {
            continue;
        }
        // The first board referencing it that the relay has entirely; none yet means it
        // waits for the next in-sync.
        let doc = {
            let mut d = lock(device);
            d.documents_referencing(&a.hash)
                .into_iter()
                .find(|doc| d.unconfirmed_changes(doc, &peer).is_ok_and(|n| n == 0))
        };
        let Some(doc) = doc else {
            outcome.waiting = true;
            continue;
        };
        let before = lock(device).bytes_pending_upload().unwrap_or(0);
        let report = ctx.report.clone();
        let progress = move |received: u64| report(before.saturating_sub(received));
        let step = match ctx.client.upload(a, doc, &progress).await {
            Ok(step) => step,
            Err(e) => {
                tracing::warn!(hash = %a.hash, error = %e, "cannot read an attachment to upload");
                refused.insert(a.hash.clone());
                continue;
            }
        };
        match step {
            UploadStep::Done => {
                let mut d = lock(device);
                if let Err(e) = d.mark_uploaded(&a.hash) {
                    tracing::warn!(hash = %a.hash, error = %e, "uploaded attachment not recorded");
                    outcome.retry = true;
                }
                (ctx.report)(d.bytes_pending_upload().unwrap_or(before));
                tracing::debug!(hash = %a.hash, %doc, size = a.size, "attachment uploaded");
            }
            UploadStep::Refused(why) => {
                // Trying again as is cannot help; the next client (restart) tries once more.
                tracing::warn!(hash = %a.hash, %doc, reason = %why, "the relay refused an attachment");
                refused.insert(a.hash.clone());
                (ctx.report)(before);
                (ctx.refused)(RefusalEvent {
                    document_id: doc,
                    ours: true,
                    rule: "attachment".into(),
                    path: format!("attachments/{}", a.hash),
                    message: why,
                });
            }
            UploadStep::TryLater(why) => {
                tracing::debug!(hash = %a.hash, %doc, reason = %why, "attachment upload postponed");
                (ctx.report)(before);
                outcome.retry = true;
            }
            UploadStep::SignInRequired => {
                (ctx.report)(before);
                outcome.retry = true;
                return outcome;
            }
            UploadStep::AskState | UploadStep::Put { .. } => {}
        }
    }
    outcome
}

#[cfg(test)]
mod tests;
