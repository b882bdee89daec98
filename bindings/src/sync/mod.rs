//! Relay sync: redeeming an invite, starting and stopping the core `SyncClient` on the
//! bindings' tokio runtime, its status, and the production index that decides which
//! documents this member syncs.
//!
//! Both the redeem request (`https://`, reqwest) and sync (`wss://`) use core's one TLS
//! configuration (`setlink_core::client::connect`): Mozilla's roots plus the production's
//! CA from [`RelayOptions`], and `http://`/`ws://` only to this machine unless allowed.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use setlink_core::client::{
    ClientConfig, ConnectError, ConnectOptions, SyncClient, SyncScope, SyncState,
    SyncStatus as CoreStatus, SyncStatusObserver as CoreStatusObserver,
};
use setlink_core::device::{ChangeOrigin, Device, DocumentObserver as CoreObserver, ObserverId};
use setlink_core::model::production;
use setlink_core::{Author, DocKind, DocumentId};
use tokio::sync::{mpsc, oneshot};

use crate::error::SetlinkError;
use crate::observers::Event;
use crate::store::{handle, lock, DeviceHandle, SetlinkStore};
use crate::types::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConnectionState {
    /// Not connected (no signal, relay down, or syncing stopped); retrying unless stopped.
    Offline,
    Connecting,
    /// Connected and exchanging changes.
    Syncing,
    /// Connected; the relay has everything this device has and vice versa.
    InSync,
    /// The relay refused this device's token (expired, revoked, or unknown): syncing has
    /// stopped and will not retry. Ask the member to sign in again (redeem a new invite
    /// code), then `start_sync` with the new token; local changes stay pending meanwhile.
    SignInRequired,
}

/// How to reach a relay. The default trusts the public certificate authorities only and
/// refuses `http://`/`ws://` to anything but this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct RelayOptions {
    /// The production's own CA certificate (PEM), trusted besides the public authorities:
    /// for a self-hosted relay whose certificate the production issued.
    #[uniffi(default = None)]
    pub trusted_ca_pem: Option<String>,
    /// Allow `http://`/`ws://` to another machine. The token then travels unencrypted:
    /// only on a network you trust end to end.
    #[uniffi(default = false)]
    pub allow_insecure_remote: bool,
}

impl From<RelayOptions> for ConnectOptions {
    fn from(o: RelayOptions) -> Self {
        ConnectOptions {
            trusted_ca_pem: o.trusted_ca_pem.filter(|p| !p.trim().is_empty()),
            allow_insecure_remote: o.allow_insecure_remote,
        }
    }
}

/// What kind of trouble connecting to the relay is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SyncProblemKind {
    /// No network, relay down or too slow: offline; retried with backoff.
    Unreachable,
    /// The relay's certificate is not trusted (missing production CA, wrong relay, a
    /// captive portal or an attacker). Retried only at the longest backoff.
    UntrustedCertificate,
    /// TLS failed for another reason.
    Tls,
    /// The relay answered with an HTTP error instead of syncing (e.g. a refused token).
    Rejected,
}

/// Why the last attempt to connect failed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncProblem {
    pub kind: SyncProblemKind,
    /// A sentence for people, e.g. "the relay's certificate is not trusted (...): ...".
    pub message: String,
}

impl From<&ConnectError> for SyncProblem {
    fn from(e: &ConnectError) -> Self {
        let kind = match e {
            ConnectError::UntrustedCertificate { .. } => SyncProblemKind::UntrustedCertificate,
            ConnectError::Tls { .. } | ConnectError::InvalidCa { .. } => SyncProblemKind::Tls,
            ConnectError::Rejected { .. } => SyncProblemKind::Rejected,
            ConnectError::Unreachable { .. }
            | ConnectError::TimedOut
            | ConnectError::InvalidUrl { .. }
            | ConnectError::InsecureRemote { .. } => SyncProblemKind::Unreachable,
        };
        SyncProblem {
            kind,
            message: e.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncStatus {
    pub state: ConnectionState,
    /// Whether syncing is started (it may still be offline).
    pub running: bool,
    /// Local changes the relay has not yet confirmed.
    pub pending_local_changes: u64,
    /// When the device was last fully in sync with the relay (ms since the epoch).
    pub last_synced_at_ms: Option<i64>,
    /// The latest change the write rules refused while syncing since the store was
    /// opened; cleared when `drop_unconfirmed_changes` drops a refused change of ours.
    pub last_refusal: Option<Refusal>,
    /// Why the last attempt to connect failed; `None` once connected.
    pub last_error: Option<SyncProblem>,
    /// Bytes of photos taken on this device that the relay does not have yet. They go
    /// up after the documents that reference them are in sync; 0 when all are up.
    pub attachment_bytes_pending: u64,
}

impl SyncStatus {
    pub(crate) fn stopped() -> Self {
        SyncStatus {
            state: ConnectionState::Offline,
            running: false,
            pending_local_changes: 0,
            last_synced_at_ms: None,
            last_refusal: None,
            last_error: None,
            attachment_bytes_pending: 0,
        }
    }

    fn from_core(s: &CoreStatus, running: bool, last_refusal: Option<Refusal>) -> Self {
        SyncStatus {
            state: match s.state {
                SyncState::Offline => ConnectionState::Offline,
                SyncState::Connecting => ConnectionState::Connecting,
                SyncState::Syncing => ConnectionState::Syncing,
                SyncState::InSync => ConnectionState::InSync,
                SyncState::SignInRequired => ConnectionState::SignInRequired,
            },
            running,
            pending_local_changes: s.pending_local_changes,
            last_synced_at_ms: s.last_synced_at_ms,
            last_refusal,
            last_error: s.last_error.as_ref().map(SyncProblem::from),
            attachment_bytes_pending: s.attachment_bytes_pending,
        }
    }
}

/// Live data about a document from another peer (e.g. `{"run": id, "eta": "10 min"}`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Presence {
    pub doc_id: String,
    pub sender_id: String,
    /// The string fields sent; empty when the data was not a map of strings.
    pub fields: std::collections::HashMap<String, String>,
    /// The raw CBOR as sent.
    pub data: Vec<u8>,
}

struct PresenceForwarder(Option<crate::observers::EventSender>);

impl setlink_core::client::PresenceObserver for PresenceForwarder {
    fn presence(&self, ev: &setlink_core::client::PresenceEvent) {
        let fields = setlink_core::client::decode_presence(&ev.data)
            .unwrap_or_default()
            .into_iter()
            .collect();
        if let Some(tx) = &self.0 {
            let _ = tx.send(Event::Presence(Presence {
                doc_id: ev.document_id.to_string(),
                sender_id: ev.sender_id.clone(),
                fields,
                data: ev.data.clone(),
            }));
        }
    }
}

/// A change the write rules refused while syncing with the relay.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Refusal {
    pub doc_id: String,
    /// True when the relay refused a change this device made: show it, and call
    /// `drop_unconfirmed_changes(doc_id)` to return the document to the relay's state.
    /// False when this device refused changes the relay sent (nothing of them was stored).
    pub ours: bool,
    /// The rule's stable name: `shape`, `containers`, `append-only`, `never-deleted`,
    /// `published-revision`, `authorship`, `transition`, `index`.
    pub rule: String,
    /// Where in the document, e.g. `runs/<id>/events/<id>`.
    pub path: String,
    /// A sentence for people.
    pub message: String,
}

/// Hears the client's refusals: keeps the latest in the status and tells the foreign
/// observers (the refusal, then the status carrying it). Called from the client's task:
/// it only queues.
struct RefusalForwarder {
    latest: Arc<Mutex<SyncStatus>>,
    events: Option<crate::observers::EventSender>,
}

impl setlink_core::client::RefusalObserver for RefusalForwarder {
    fn refused(&self, ev: &setlink_core::client::RefusalEvent) {
        let refusal = Refusal {
            doc_id: ev.document_id.to_string(),
            ours: ev.ours,
            rule: ev.rule.clone(),
            path: ev.path.clone(),
            message: ev.message.clone(),
        };
        let status = self.latest.lock().ok().map(|mut l| {
            l.last_refusal = Some(refusal.clone());
            l.clone()
        });
        if let Some(tx) = &self.events {
            let _ = tx.send(Event::Refusal(refusal));
            if let Some(s) = status {
                let _ = tx.send(Event::Status(s));
            }
        }
    }
}

/// What redeeming an invite code gave this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Invitation {
    pub member_id: String,
    pub role: Role,
    pub production_id: String,
    pub production_doc_id: String,
    pub member_doc_id: Option<String>,
    /// Bearer token for `start_sync`.
    pub token: String,
    pub expires_at_ms: i64,
}

/// The runtime every sync task of the process runs on. Two workers: sync is IO-bound,
/// and phones have few cores to spare.
pub(crate) fn runtime() -> Result<&'static tokio::runtime::Runtime, SetlinkError> {
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("setlink-sync")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| SetlinkError::Sync {
        detail: format!("cannot start the sync runtime: {e}"),
    })
}

/// Documents a member may read, from every production index on the device, recorded on
/// the device so they sync. Returns the ones that were new.
pub(crate) fn import_index(device: &mut Device) -> Vec<DocumentId> {
    let Some(me) = device.identity().cloned() else {
        return Vec::new();
    };
    let productions: Vec<DocumentId> = device
        .document_ids()
        .into_iter()
        .filter(|id| device.kind_of(id) == Some(&DocKind::Production))
        .collect();
    let mut new = Vec::new();
    for p in productions {
        // An index not synced yet (or damaged) is simply not there yet.
        let Ok(Ok(index)) = device.read(&p, production::read_index) else {
            continue;
        };
        for (id, kind) in index {
            if !kind.may_read(me.role, &me.member_id) {
                continue;
            }
            match device.import_document(id, kind) {
                Ok(true) => new.push(id),
                Ok(false) => {}
                Err(e) => tracing::warn!(doc = %id, error = %e, "index entry not imported"),
            }
        }
    }
    new
}

/// The documents this member syncs: every readable document on the device, after
/// importing what the production index lists.
pub(crate) fn readable_documents(device: &mut Device) -> Vec<DocumentId> {
    import_index(device);
    let Some(me) = device.identity().cloned() else {
        return Vec::new();
    };
    let mut docs: Vec<DocumentId> = device
        .document_ids()
        .into_iter()
        .filter(|id| {
            device
                .kind_of(id)
                .is_some_and(|k| k.may_read(me.role, &me.member_id))
        })
        .collect();
    docs.sort();
    docs
}

/// Every document this member may read, the production index included.
#[derive(Default)]
struct IndexScope {
    productions: Mutex<Vec<DocumentId>>,
}

impl SyncScope for IndexScope {
    fn documents(&self, device: &mut Device) -> Vec<DocumentId> {
        let docs = readable_documents(device);
        if let Ok(mut p) = self.productions.lock() {
            *p = docs
                .iter()
                .filter(|id| device.kind_of(id) == Some(&DocKind::Production))
                .copied()
                .collect();
        }
        docs
    }

    fn is_index(&self, doc: &DocumentId) -> bool {
        self.productions.lock().is_ok_and(|p| p.contains(doc))
    }
}

/// Hears core status changes: keeps the latest and tells the foreign observers.
struct StatusForwarder {
    latest: Arc<Mutex<SyncStatus>>,
    events: Option<crate::observers::EventSender>,
}

impl CoreStatusObserver for StatusForwarder {
    fn status_changed(&self, status: &CoreStatus) {
        let Ok(mut l) = self.latest.lock() else {
            return;
        };
        let s = SyncStatus::from_core(status, true, l.last_refusal.take());
        *l = s.clone();
        drop(l);
        if let Some(tx) = &self.events {
            let _ = tx.send(Event::Status(s));
        }
    }
}

/// Tells the sync task when a production document changed, so newly indexed documents
/// join the sync. Called under the device lock: it only queues.
struct IndexWatcher(mpsc::UnboundedSender<Cmd>);

impl CoreObserver for IndexWatcher {
    fn changed(&self, doc_id: &DocumentId, _origin: ChangeOrigin) {
        let _ = self.0.send(Cmd::Changed(*doc_id));
    }
}

enum Cmd {
    Changed(DocumentId),
    /// Imports the index and opens new documents; answers whether every document this
    /// member reads is on the device with content (nothing new was found, none empty).
    Rescope(oneshot::Sender<bool>),
    Presence(DocumentId, Vec<u8>),
    Stop(oneshot::Sender<()>),
}

struct Running {
    commands: mpsc::UnboundedSender<Cmd>,
    /// Photo downloads through the running sync's relay and token (`photos.rs`).
    attachments: setlink_core::client::AttachmentClient,
    status_rx: tokio::sync::watch::Receiver<CoreStatus>,
    watcher: ObserverId,
    device: DeviceHandle,
}

pub(crate) struct SyncSlot {
    running: Mutex<Option<Running>>,
    status: Arc<Mutex<SyncStatus>>,
}

impl Default for SyncSlot {
    fn default() -> Self {
        SyncSlot {
            running: Mutex::new(None),
            status: Arc::new(Mutex::new(SyncStatus::stopped())),
        }
    }
}

impl SyncSlot {
    pub(crate) fn status(&self) -> SyncStatus {
        let running = self.running.lock().map(|r| r.is_some()).unwrap_or(false);
        if !running {
            let (last_synced_at_ms, last_refusal) = self
                .status
                .lock()
                .map(|s| (s.last_synced_at_ms, s.last_refusal.clone()))
                .unwrap_or_default();
            return SyncStatus {
                last_synced_at_ms,
                last_refusal,
                ..SyncStatus::stopped()
            };
        }
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|_| SyncStatus::stopped())
    }

    /// The running sync's photo transfers, `None` when syncing is stopped.
    pub(crate) fn attachments(&self) -> Option<setlink_core::client::AttachmentClient> {
        self.running
            .lock()
            .ok()
            .and_then(|r| r.as_ref().map(|r| r.attachments.clone()))
    }

    fn take(&self) -> Option<Running> {
        self.running.lock().ok().and_then(|mut r| r.take())
    }

    /// Stops the client and waits for it (used by `close_store`, which is not async).
    pub(crate) fn stop_blocking(&self) {
        if let Some(r) = self.take() {
            let (tx, rx) = oneshot::channel();
            // Waiting needs a thread outside any tokio runtime (blocking inside one would
            // panic); from inside one, the stop is sent and completes on its own.
            if r.commands.send(Cmd::Stop(tx)).is_ok()
                && tokio::runtime::Handle::try_current().is_err()
            {
                let _ = rx.blocking_recv();
            }
            if let Ok(mut d) = r.device.lock() {
                d.remove_observer(r.watcher);
            }
        }
    }
}

async fn task(
    client: SyncClient,
    device: DeviceHandle,
    mut commands: mpsc::UnboundedReceiver<Cmd>,
) {
    // Returns whether everything readable is present: no new index entries and no
    // document still empty (listed but not received yet).
    let rescope = |client: &SyncClient| -> bool {
        let Ok(mut d) = device.lock() else {
            return false;
        };
        let new = import_index(&mut d);
        let docs = readable_documents(&mut d);
        let all_there = new.is_empty()
            && docs.iter().all(|id| {
                d.read(id, |doc| !doc.get_heads().is_empty())
                    .unwrap_or(false)
            });
        drop(d);
        for id in &new {
            client.open_document(*id);
        }
        all_there
    };
    while let Some(cmd) = commands.recv().await {
        match cmd {
            Cmd::Changed(doc) => {
                let is_production = device
                    .lock()
                    .map(|d| d.kind_of(&doc) == Some(&DocKind::Production))
                    .unwrap_or(false);
                if is_production {
                    rescope(&client);
                }
            }
            Cmd::Rescope(reply) => {
                let _ = reply.send(rescope(&client));
            }
            Cmd::Presence(doc, data) => client.send_presence(doc, data),
            Cmd::Stop(done) => {
                client.stop().await;
                let _ = done.send(());
                return;
            }
        }
    }
    client.stop().await;
}

/// The relay's address from what a user may type (`https://host`, `wss://host:port/sync`,
/// `http://localhost:7878`, ...), checked against the policy: (`wss://host:port/<path or
/// sync>`, `https://host:port`) — or `ws://`/`http://` where allowed.
pub(crate) fn relay_urls(
    relay_url: &str,
    allow_insecure_remote: bool,
) -> Result<(String, url::Url), SetlinkError> {
    let bad = |why: &str| SetlinkError::invalid("relay_url", format!("`{relay_url}`: {why}"));
    let mut url = url::Url::parse(relay_url.trim())
        .map_err(|e| bad(&format!("{e} (expected https://host or wss://host/sync)")))?;
    let secure = match url.scheme() {
        "https" | "wss" => true,
        "http" | "ws" => false,
        _ => return Err(bad("the scheme must be https, wss, http or ws")),
    };
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    let path = url.path().trim_matches('/').to_owned();
    let path = if path.is_empty() { "sync".into() } else { path };
    url.set_query(None);
    url.set_fragment(None);
    let (ws, http) = if secure {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    let mut api = url.clone();
    api.set_path("/");
    // Only between special schemes (http, https, ws, wss) does set_scheme always succeed.
    api.set_scheme(http)
        .map_err(|()| bad("cannot be turned into an http(s) URL"))?;
    url.set_path(&format!("/{path}"));
    url.set_scheme(ws)
        .map_err(|()| bad("cannot be turned into a ws(s) URL"))?;
    let sync =
        setlink_core::client::connect::check_url(url.as_str(), "ws", "wss", allow_insecure_remote)?;
    Ok((sync.to_string(), api))
}

/// `wss://host:port/sync` (or `ws://` where allowed) for `relay_url`.
pub(crate) fn sync_url(
    relay_url: &str,
    allow_insecure_remote: bool,
) -> Result<String, SetlinkError> {
    relay_urls(relay_url, allow_insecure_remote).map(|(sync, _)| sync)
}

#[derive(serde::Deserialize)]
struct RedeemResponse {
    token: String,
    member_id: String,
    role: String,
    production_id: String,
    production_doc_id: String,
    member_doc_id: Option<String>,
    expires_at_ms: i64,
}

/// POSTs JSON to the relay's API over core's TLS configuration; (status, body).
async fn post_json(
    url: url::Url,
    options: &ConnectOptions,
    body: serde_json::Value,
) -> Result<(u16, Vec<u8>), SetlinkError> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let tls = setlink_core::client::connect::tls_config(options.trusted_ca_pem.as_deref())?;
    let client = reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(SetlinkError::internal)?;
    let failed = |e: reqwest::Error| -> SetlinkError {
        match ConnectError::from_tls_chain(&host, &e) {
            Some(tls) => tls.into(),
            None => SetlinkError::Unreachable {
                host: host.clone(),
                detail: setlink_core::client::attachments::error_chain(&e),
            },
        }
    };
    let resp = client
        .post(url.clone())
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(failed)?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(failed)?;
    Ok((status, bytes.to_vec()))
}

fn error_text(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}

/// Device metadata keys of the relay this device syncs with.
const META_RELAY_URL: &str = "ffi.relay_url";
const META_TOKEN: &str = "ffi.token";
const META_TRUSTED_CA: &str = "ffi.trusted_ca_pem";
const META_ALLOW_INSECURE: &str = "ffi.allow_insecure_remote";

/// Remembers how to reach the relay, for `resume_sync`.
fn remember_options(d: &mut Device, o: &ConnectOptions) -> Result<(), SetlinkError> {
    match &o.trusted_ca_pem {
        Some(pem) => d.set_metadata(META_TRUSTED_CA, pem)?,
        None => d.delete_metadata(META_TRUSTED_CA)?,
    }
    if o.allow_insecure_remote {
        d.set_metadata(META_ALLOW_INSECURE, "true")?;
    } else {
        d.delete_metadata(META_ALLOW_INSECURE)?;
    }
    Ok(())
}

fn remembered_options(d: &Device) -> Result<RelayOptions, SetlinkError> {
    Ok(RelayOptions {
        trusted_ca_pem: d.metadata(META_TRUSTED_CA)?,
        allow_insecure_remote: d.metadata(META_ALLOW_INSECURE)?.as_deref() == Some("true"),
    })
}

/// The device metadata key under which core's `SyncClient` remembers the storage id of
/// the relay at `url` (the key it keeps sync states with that relay under). Core's own
/// `peer_meta_key` in `client/ws.rs` is private; this must spell it the same way.
fn relay_peer_meta_key(url: &str) -> String {
    format!("sync.peer_key:{url}")
}

/// The storage id of the relay this device last synced with, if it ever connected.
fn relay_peer_key(device: &Device) -> Result<Option<String>, SetlinkError> {
    let Some(url) = device.metadata(META_RELAY_URL)? else {
        return Ok(None);
    };
    Ok(device.metadata(&relay_peer_meta_key(&url))?)
}

#[uniffi::export(async_runtime = "tokio")]
impl SetlinkStore {
    /// Redeems an invite code at the relay: this device becomes that member (identity
    /// set), the production and member documents are recorded for syncing, and the
    /// token is returned (and remembered, with `options`, for `resume_sync`).
    ///
    /// `relay_url` is `https://host` (or `wss://host/sync`; `http://` only to this machine
    /// unless `options.allow_insecure_remote`). Errors: `Unreachable` (offline),
    /// `UntrustedCertificate` (give the production's CA in `options.trusted_ca_pem`),
    /// `Relay` (the relay refused the code), `InvalidInput` (`relay_url`, `trusted_ca_pem`).
    #[uniffi::method(default(options = None))]
    pub async fn redeem_invite(
        &self,
        relay_url: String,
        code: String,
        name: String,
        options: Option<RelayOptions>,
    ) -> Result<Invitation, SetlinkError> {
        let options: ConnectOptions = options.unwrap_or_default().into();
        let (sync, api) = relay_urls(&relay_url, options.allow_insecure_remote)?;
        let redeem = api
            .join("api/redeem")
            .map_err(|e| SetlinkError::invalid("relay_url", e))?;
        let device_id = self.with(|d| {
            Ok(d.metadata(crate::store::META_DEVICE_ID)?
                .unwrap_or_default())
        })?;
        let body = serde_json::json!({ "code": code, "name": name, "device_id": device_id });
        let rt = runtime()?;
        let opts = options.clone();
        let (status, bytes) = rt
            .spawn(async move { post_json(redeem, &opts, body).await })
            .await
            .map_err(SetlinkError::internal)??;
        if status != 200 {
            return Err(SetlinkError::Relay {
                status,
                detail: error_text(&bytes),
            });
        }
        let r: RedeemResponse =
            serde_json::from_slice(&bytes).map_err(|e| SetlinkError::Relay {
                status,
                detail: format!("unexpected answer: {e}"),
            })?;
        let role: setlink_core::Role = r
            .role
            .parse()
            .map_err(|e: String| SetlinkError::Relay { status, detail: e })?;
        let production_doc = crate::store::parse_doc_id(&r.production_doc_id)?;
        let member_doc = r
            .member_doc_id
            .as_deref()
            .map(crate::store::parse_doc_id)
            .transpose()?;
        self.with(|d| {
            d.set_identity(Author {
                member_id: r.member_id.clone(),
                device_id,
                role,
            })?;
            d.import_document(production_doc, DocKind::Production)?;
            if let Some(m) = member_doc {
                d.import_document(
                    m,
                    DocKind::Member {
                        member_id: r.member_id.clone(),
                    },
                )?;
            }
            d.set_metadata(META_RELAY_URL, &sync)?;
            d.set_metadata(META_TOKEN, &r.token)?;
            remember_options(d, &options)?;
            Ok(())
        })?;
        Ok(Invitation {
            member_id: r.member_id,
            role: role.into(),
            production_id: r.production_id,
            production_doc_id: r.production_doc_id,
            member_doc_id: r.member_doc_id,
            token: r.token,
            expires_at_ms: r.expires_at_ms,
        })
    }

    /// Starts syncing with the relay (replacing a running sync). Returns at once: the
    /// client connects whenever it can, with backoff; watch `sync_status` (its
    /// `last_error` says why it is not connected: offline, or a certificate not trusted).
    /// `relay_url` as for `redeem_invite`; `options` are remembered for `resume_sync`.
    #[uniffi::method(default(options = None))]
    pub async fn start_sync(
        &self,
        relay_url: String,
        token: String,
        options: Option<RelayOptions>,
    ) -> Result<(), SetlinkError> {
        let options: ConnectOptions = options.unwrap_or_default().into();
        let url = sync_url(&relay_url, options.allow_insecure_remote)?;
        if token.trim().is_empty() {
            return Err(SetlinkError::invalid("token", "is empty"));
        }
        self.stop_sync().await;
        let device = handle(&self.slot)?;
        {
            let mut d = lock(&device)?;
            d.identity().ok_or(SetlinkError::NoIdentity)?;
            d.set_metadata(META_RELAY_URL, &url)?;
            d.set_metadata(META_TOKEN, &token)?;
            remember_options(&mut d, &options)?;
        }
        let rt = runtime()?;
        let (commands, rx) = mpsc::unbounded_channel();
        let watcher = lock(&device)?.add_observer(Arc::new(IndexWatcher(commands.clone())));
        let client = {
            let _enter = rt.enter();
            let mut config = ClientConfig::new(url, token);
            config.options = options;
            SyncClient::start(device.clone(), config, Arc::new(IndexScope::default()))?
        };
        let status_rx = client.watch_status();
        let attachments = client.attachments();
        let forwarder = StatusForwarder {
            latest: self.sync.status.clone(),
            events: self.notifier.sender(),
        };
        client.add_status_observer(Arc::new(forwarder));
        client.add_presence_observer(Arc::new(PresenceForwarder(self.notifier.sender())));
        client.add_refusal_observer(Arc::new(RefusalForwarder {
            latest: self.sync.status.clone(),
            events: self.notifier.sender(),
        }));
        rt.spawn(task(client, device.clone(), rx));
        if let Ok(mut r) = self.sync.running.lock() {
            *r = Some(Running {
                commands,
                attachments,
                status_rx,
                watcher,
                device,
            });
        }
        Ok(())
    }

    /// Starts syncing with the relay, token and options this device last used (after a
    /// restart).
    pub async fn resume_sync(&self) -> Result<bool, SetlinkError> {
        let (url, token, options) = self.with(|d| {
            Ok((
                d.metadata(META_RELAY_URL)?,
                d.metadata(META_TOKEN)?,
                remembered_options(d)?,
            ))
        })?;
        match (url, token) {
            (Some(u), Some(t)) => self.start_sync(u, t, Some(options)).await.map(|_| true),
            _ => Ok(false),
        }
    }

    /// Stops syncing (going offline on purpose). Everything stays on the device.
    pub async fn stop_sync(&self) {
        let Some(r) = self.sync.take() else {
            return;
        };
        let (tx, rx) = oneshot::channel();
        if r.commands.send(Cmd::Stop(tx)).is_ok() {
            let _ = rx.await;
        }
        if let Ok(mut d) = r.device.lock() {
            d.remove_observer(r.watcher);
        }
        let stopped = self.sync.status();
        self.notifier.send(Event::Status(stopped));
    }

    /// Sends live presence about a document (a PA's ETA on their board) to everyone
    /// connected to it; dropped when offline (presence is never stored or queued).
    /// Returns whether it was handed to a running sync.
    pub fn send_presence(
        &self,
        doc_id: String,
        fields: std::collections::HashMap<String, String>,
    ) -> Result<bool, SetlinkError> {
        let id = crate::store::parse_doc_id(&doc_id)?;
        let mut pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.sort();
        let data = setlink_core::client::encode_presence(&pairs);
        let sent = self
            .sync
            .running
            .lock()
            .ok()
            .and_then(|r| {
                r.as_ref()
                    .map(|r| r.commands.send(Cmd::Presence(id, data)).is_ok())
            })
            .unwrap_or(false);
        Ok(sent)
    }

    pub fn add_presence_observer(
        &self,
        observer: Arc<dyn crate::observers::PresenceObserver>,
    ) -> u64 {
        self.notifier.add_presence(observer)
    }

    /// Hears every change the write rules refused while syncing with the relay, ours or
    /// the relay's; returns its id for `remove_observer`.
    pub fn add_refusal_observer(
        &self,
        observer: Arc<dyn crate::observers::RefusalObserver>,
    ) -> u64 {
        self.notifier.add_refusal(observer)
    }

    /// Drops every change of a document the relay has not confirmed having — after a
    /// refusal (`Refusal.ours`), the refused change and whatever was made on top of it —
    /// and returns the document to the state this device and the relay last shared.
    /// Returns the dropped changes' hashes (hex). Changes not sent yet are unconfirmed
    /// too and go as well. Durable before it returns; document observers hear `LOCAL`.
    /// `NotPossible` when this device never connected to a relay.
    pub fn drop_unconfirmed_changes(&self, doc_id: String) -> Result<Vec<String>, SetlinkError> {
        let id = crate::store::parse_doc_id(&doc_id)?;
        let dropped = self.with(|d| {
            let relay = relay_peer_key(d)?.ok_or_else(|| SetlinkError::NotPossible {
                reason: "this device has never synced with a relay, so there is no confirmed \
                         state to return to"
                    .into(),
            })?;
            Ok(d.drop_unconfirmed_changes(&id, &relay)?)
        })?;
        // The refusal this answers is settled: take it out of the status.
        let settled = self.sync.status.lock().is_ok_and(|mut l| {
            let ours = l
                .last_refusal
                .as_ref()
                .is_some_and(|r| r.ours && r.doc_id == id.to_string());
            if ours {
                l.last_refusal = None;
            }
            ours
        });
        if settled {
            self.notifier.send(Event::Status(self.sync.status()));
        }
        Ok(dropped.iter().map(|h| h.to_string()).collect())
    }

    pub fn sync_status(&self) -> SyncStatus {
        let mut status = self.sync.status();
        if !status.running {
            // Nobody is uploading: what is pending is what the store holds.
            status.attachment_bytes_pending =
                self.with(|d| Ok(d.bytes_pending_upload()?)).unwrap_or(0);
        }
        status
    }

    /// Waits until the device is in sync with the relay — every document the member may
    /// read present, including ones the production index gained meanwhile — or
    /// `timeout_ms` passes. Returns whether it got there.
    pub async fn wait_until_synced(&self, timeout_ms: u64) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
        let (mut status_rx, commands) = match self.sync.running.lock() {
            Ok(r) => match r.as_ref() {
                Some(r) => (r.status_rx.clone(), r.commands.clone()),
                None => return false,
            },
            Err(_) => return false,
        };
        let Ok(rt) = runtime() else {
            return false;
        };
        let waited = rt
            .spawn(async move {
                loop {
                    let synced = tokio::time::timeout_at(
                        deadline,
                        status_rx.wait_for(|s| {
                            s.state == SyncState::InSync && s.pending_local_changes == 0
                        }),
                    )
                    .await
                    .is_ok_and(|r| r.is_ok());
                    if !synced {
                        return false;
                    }
                    let (tx, rx) = oneshot::channel();
                    if commands.send(Cmd::Rescope(tx)).is_err() {
                        return false;
                    }
                    match rx.await {
                        Ok(true) => return true,
                        Ok(false) => {
                            // Documents are still arriving (the status can lag behind a
                            // document that just joined); look again shortly.
                            if tokio::time::Instant::now() >= deadline {
                                return false;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(_) => return false,
                    }
                }
            })
            .await;
        waited.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests;
