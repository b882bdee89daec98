//! HTTP surface: the `/sync` WebSocket, the JSON API, `/healthz` and `/metrics`.
//!
//! Handlers are plain async functions over `State<AppState>`. [`router`] takes extra
//! routes so the dashboard can mount itself on the same state and auth.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use setlink_core::Role;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::admin::{self, AdminError};
use crate::auth::{self, AuthError, Principal};
use crate::hub::{close, truncate_reason, CloseReason, Flow, Hub, Outbound};
use crate::listen::ConnectionSlot;
use crate::metrics::Refusal;
use crate::storage::Storage;
use crate::today::Today;

/// How long one frame may take to reach the peer's socket before the peer counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings the HTTP layer and connections need at run time.
#[derive(Clone, Debug)]
pub struct Settings {
    pub token_ttl: Duration,
    pub invite_ttl: Duration,
    /// Sustained frames per second allowed per connection, and the burst above it.
    pub rate_per_sec: NonZeroU32,
    pub rate_burst: NonZeroU32,
    pub ping_interval: Duration,
    pub max_body_bytes: usize,
    /// The dashboard's day when a page names none (and the demo's day).
    pub today: Today,
    /// The bearer token `/metrics` requires; without one `/metrics` is off. Member tokens
    /// never open it: the counters describe every production on the relay.
    pub metrics_token: Option<String>,
    /// Rate limits on redeeming invite codes and dashboard sign-in (shared by clones).
    pub sign_in_limits: Arc<crate::limits::SignInLimits>,
    /// Where crew reach the relay (`serve --public-url`), for personal links.
    pub public_url: Option<String>,
    /// Whether the relay itself serves TLS: links made from a request's `Host` are then
    /// `https://`.
    pub tls: bool,
    /// Where call-sheet email goes out (`serve --smtp-host …`); `None`: no email.
    pub mail: Option<Arc<crate::mail::MailSettings>>,
    /// Limits on receipt and proof-of-delivery photos.
    pub attachments: crate::attachments::AttachmentSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            token_ttl: Duration::from_secs(90 * 24 * 3600),
            invite_ttl: Duration::from_secs(7 * 24 * 3600),
            rate_per_sec: NonZeroU32::new(500).unwrap_or(NonZeroU32::MIN),
            rate_burst: NonZeroU32::new(2000).unwrap_or(NonZeroU32::MIN),
            ping_interval: Duration::from_secs(15),
            max_body_bytes: 64 * 1024,
            today: Today::System,
            metrics_token: None,
            sign_in_limits: Arc::default(),
            public_url: None,
            tls: false,
            mail: None,
            attachments: Default::default(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub settings: Arc<Settings>,
}

impl AppState {
    pub fn storage(&self) -> &Arc<dyn Storage> {
        self.hub.storage()
    }
}

/// The relay's routes plus `extra` (the dashboard), sharing state, tracing and body limits.
pub fn router(state: AppState, extra: Router<AppState>) -> Router {
    let api = Router::new()
        .route("/api/redeem", post(redeem))
        .route("/api/me", get(me))
        .route("/api/invites", post(create_invite))
        .route("/api/members", get(list_members))
        .route("/api/members/{member_id}/revoke", post(revoke_member))
        .layer(RequestBodyLimitLayer::new(state.settings.max_body_bytes));
    Router::new()
        .route("/sync", get(sync_socket))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(api)
        .merge(crate::attachments::routes())
        .merge(extra)
        // The path only: the query may hold a bearer token (`/sync?token=...`), and a
        // token must not reach logs at any level.
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &axum::http::Request<axum::body::Body>| {
                tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
            },
        ))
        .with_state(state)
}

/// A JSON `{ "error": ... }` with a status code.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Numbers a client acts on beside the message (an upload's `received`).
    pub fields: Vec<(&'static str, u64)>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            fields: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: u64) -> Self {
        self.fields.push((name, value));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::Map::new();
        body.insert("error".into(), self.message.into());
        for (name, value) in self.fields {
            body.insert(name.into(), value.into());
        }
        (self.status, Json(serde_json::Value::Object(body))).into_response()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Storage(e) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
            other => ApiError::new(StatusCode::UNAUTHORIZED, other.to_string()),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let status = match &e {
            AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
            AdminError::Refused(_) => StatusCode::FORBIDDEN,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

/// The bearer token of a request: `Authorization: Bearer ...` or `?token=...`.
pub fn request_token(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(header::AUTHORIZATION) {
        if let Some(t) = v.to_str().ok().and_then(|s| s.strip_prefix("Bearer ")) {
            return Some(t.trim().to_owned());
        }
    }
    let q = parts.uri.query()?;
    form_urlencoded_token(q)
}

fn form_urlencoded_token(q: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Q {
        token: Option<String>,
    }
    let parsed: Query<Q> = Query::try_from_uri(&format!("/?{q}").parse().ok()?).ok()?;
    parsed.0.token
}

/// Extracts the authenticated member; rejects with 401 and a message saying why.
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = request_token(parts).unwrap_or_default();
        match auth::authenticate(state.storage().as_ref(), &token, auth::now_ms()).await {
            Ok(p) => Ok(Authenticated(p)),
            Err(e) => {
                state.hub.metrics.refuse(Refusal::Unauthenticated);
                Err(e.into())
            }
        }
    }
}

/// 200 `ok` when storage commits a small write now, no write has failed since the last
/// one that succeeded, and no damaged page was ever read; 503 with the reason otherwise.
async fn healthz(State(s): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(10), s.storage().health()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n").into_response(),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("storage: {e}\n")).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "storage: no answer within 10 s\n",
        )
            .into_response(),
    }
}

async fn metrics(State(s): State<AppState>, parts: Parts) -> Response {
    let Some(expected) = &s.settings.metrics_token else {
        return (
            StatusCode::NOT_FOUND,
            "metrics are off: start the relay with --metrics-token (or SETLINK_METRICS_TOKEN) and scrape with that bearer token\n",
        )
            .into_response();
    };
    let given = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !same_secret(given.trim(), expected) {
        s.hub.metrics.refuse(Refusal::Unauthenticated);
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "metrics need the relay's metrics token as a bearer token\n",
        )
            .into_response();
    }
    let body = s
        .hub
        .metrics
        .render(s.hub.loaded_documents(), s.storage().stats());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Compares two secrets in time that does not depend on where they differ (both are
/// hashed first, so neither length nor a common prefix shows in the timing).
fn same_secret(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[derive(Deserialize)]
pub struct RedeemRequest {
    pub code: String,
    pub name: String,
    pub device_id: String,
}

async fn redeem(
    State(s): State<AppState>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Json<RedeemRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let ip = connect.map(|axum::Extension(ConnectInfo(a))| a.ip());
    let limits = &s.settings.sign_in_limits;
    let checked = limits
        .check_everywhere(s.storage().as_ref(), ip, &req.code, auth::now_ms())
        .await;
    if let Err(retry) = checked {
        s.hub.metrics.refuse(Refusal::RateLimited);
        return Ok(crate::limits::too_many(retry, "invite code attempts"));
    }
    let out = admin::redeem(&s.hub, &s.settings, &req.code, &req.name, &req.device_id).await;
    if out.is_err() {
        s.hub.metrics.refuse(Refusal::Unauthenticated);
    }
    Ok(Json(out?).into_response())
}

async fn me(
    Authenticated(p): Authenticated,
    State(s): State<AppState>,
) -> Result<Response, ApiError> {
    let production = s
        .storage()
        .production(p.production_id.clone())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(serde_json::json!({
        "member_id": p.member_id,
        "name": p.name,
        "role": p.role,
        "production_id": p.production_id,
        "production_doc_id": production.map(|p| p.production_doc.to_string()),
        "device_id": p.device_id,
        "token_expires_at_ms": p.token_expires_at_ms,
    }))
    .into_response())
}

#[derive(Deserialize)]
pub struct InviteRequest {
    pub role: String,
    pub expires_in_hours: Option<u64>,
    pub max_uses: Option<i64>,
}

#[derive(Serialize)]
pub struct InviteResponse {
    pub code: String,
    pub role: Role,
    pub expires_at_ms: i64,
}

async fn create_invite(
    Authenticated(p): Authenticated,
    State(s): State<AppState>,
    body: Result<Json<InviteRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<InviteResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    if p.role != Role::Coordinator {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only a coordinator may create invite codes",
        ));
    }
    let role: Role = req
        .role
        .parse()
        .map_err(|e: String| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let ttl = req
        .expires_in_hours
        .map(|h| Duration::from_secs(h.saturating_mul(3600)))
        .unwrap_or(s.settings.invite_ttl);
    let inv = admin::create_invite(
        s.storage().as_ref(),
        &p.production_id,
        role,
        None,
        Some(&p.member_id),
        ttl,
        req.max_uses,
    )
    .await?;
    Ok(Json(InviteResponse {
        code: inv.code,
        role,
        expires_at_ms: inv.expires_at_ms,
    }))
}

async fn list_members(
    Authenticated(p): Authenticated,
    State(s): State<AppState>,
) -> Result<Response, ApiError> {
    if !matches!(p.role, Role::Coordinator | Role::Office) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only coordinators and the office may list members",
        ));
    }
    let members = s
        .storage()
        .members(p.production_id.clone())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let connected: std::collections::HashSet<String> =
        s.hub.connected_members().into_iter().collect();
    let list: Vec<_> = members
        .into_iter()
        .map(|m| {
            serde_json::json!({
                "member_id": m.id,
                "name": m.name,
                "role": m.role,
                "revoked": m.revoked_at_ms.is_some(),
                "connected": connected.contains(&m.id),
            })
        })
        .collect();
    Ok(Json(list).into_response())
}

async fn revoke_member(
    Authenticated(p): Authenticated,
    State(s): State<AppState>,
    Path(member_id): Path<String>,
) -> Result<Response, ApiError> {
    if p.role != Role::Coordinator {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only a coordinator may revoke members",
        ));
    }
    let closed = admin::revoke_member(&s.hub, Some(&p.production_id), &member_id).await?;
    Ok(
        Json(serde_json::json!({ "revoked": member_id, "connections_closed": closed }))
            .into_response(),
    )
}

// ---------------------------------------------------------------------------------
// The WebSocket

async fn sync_socket(
    State(s): State<AppState>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    parts: Parts,
) -> Response {
    let token = request_token(&parts).unwrap_or_default();
    let authenticated = auth::authenticate(s.storage().as_ref(), &token, auth::now_ms()).await;
    let ws = match (ws, authenticated) {
        (Ok(ws), Ok(principal)) => (ws, principal),
        (Ok(ws), Err(AuthError::Storage(e))) => {
            tracing::error!(error = %e, "cannot check a token");
            return ws.on_upgrade(move |socket| {
                refuse_socket(
                    socket,
                    close::INTERNAL,
                    format!("the relay cannot check tokens right now ({e}); try again later"),
                )
            });
        }
        (Ok(ws), Err(e)) => {
            // Refused after the upgrade, not with a 401 before it: the stock automerge-repo
            // Node adapter throws an upgrade failure as an uncaught exception (killing its
            // host process), and samod retries without showing why. Over the socket, every
            // client logs the `error` message, and ours stop at the close code.
            s.hub.metrics.refuse(Refusal::Unauthenticated);
            let reason = format!("{e}; sign in again");
            return ws.on_upgrade(move |socket| refuse_socket(socket, close::UNAUTHORIZED, reason));
        }
        (Err(e), Err(AuthError::Storage(_)) | Ok(_)) => return e.into_response(),
        (Err(_), Err(e)) => {
            s.hub.metrics.refuse(Refusal::Unauthenticated);
            return ApiError::from(e).into_response();
        }
    };
    let (ws, principal) = ws;
    let cap = s.hub.config().max_member_connections;
    if s.hub.member_connections(&principal.member_id) >= cap {
        s.hub.metrics.refuse(Refusal::TooManyConnections);
        let reason = format!(
            "too many connections for this member (limit {cap}); close the app on another device or wait for old sessions to end"
        );
        return ws.on_upgrade(move |socket| refuse_socket(socket, close::POLICY, reason));
    }
    // Frames a little over the limit still reach us, so the peer gets a readable
    // `error`; the transport limit only stops the truly absurd ones.
    let transport_limit = s.hub.config().max_frame_bytes.saturating_mul(2);
    // tungstenite zeroes its whole read buffer for every read; the 128 KiB default made
    // that memset the relay's top cost with many connections sending small frames.
    // The connection's place under the per-address and total caps: held for as long as
    // the WebSocket is open, not only while it was an HTTP request.
    let slot = parts.extensions.get::<ConnectionSlot>().cloned();
    ws.read_buffer_size(8 * 1024)
        .max_message_size(transport_limit)
        .max_frame_size(transport_limit)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            run_socket(s, principal, socket).await
        })
}

/// Tells a peer whose token was refused why, in an automerge-repo `error` message any
/// client logs, and closes with `code`. Waits briefly for the peer's close so the frames
/// are not lost to a TCP reset.
async fn refuse_socket(mut socket: WebSocket, code: u16, reason: String) {
    let error = setlink_core::sync::wire::encode(&setlink_core::sync::wire::Message::Error {
        sender_id: None,
        message: reason.clone(),
        target_id: None,
    });
    let close = WsMessage::Close(Some(CloseFrame {
        code,
        reason: truncate_reason(&reason).into(),
    }));
    let exchange = async {
        socket.send(WsMessage::Binary(error.into())).await?;
        socket.send(close).await?;
        while let Some(Ok(m)) = socket.next().await {
            if matches!(m, WsMessage::Close(_)) {
                break;
            }
        }
        Ok::<(), axum::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), exchange).await;
}

/// Writes `first` and whatever else is queued, flushing once (one syscall for a burst).
/// Returns whether a close frame went out (nothing follows it). A peer that stops
/// reading fails the write after `WRITE_TIMEOUT` rather than pinning the writer forever.
async fn write_queued(
    sink: &mut futures_util::stream::SplitSink<WebSocket, WsMessage>,
    queue: &mut crate::outbound::OutboundRx,
    first: Outbound,
) -> Result<bool, ()> {
    let write = async {
        let mut next = Some(first);
        let mut queued = 0;
        let mut closed = false;
        while let Some(out) = next.take() {
            let (msg, last) = match out {
                Outbound::Frame(f) => (WsMessage::Binary(f.into()), false),
                Outbound::Ping => (WsMessage::Ping(Vec::new().into()), false),
                Outbound::Close(r) => (
                    WsMessage::Close(Some(CloseFrame {
                        code: r.code,
                        reason: truncate_reason(&r.reason).into(),
                    })),
                    true,
                ),
            };
            sink.feed(msg).await?;
            queued += 1;
            closed = last;
            // Bounded, so a long queue still leaves in steady flushes.
            if !last && queued < 64 {
                next = queue.try_recv().ok();
            }
        }
        sink.flush().await.map(|()| closed)
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(closed)) => Ok(closed),
        _ => Err(()),
    }
}

async fn run_socket(s: AppState, principal: Principal, socket: WebSocket) {
    let hub = s.hub.clone();
    let expires_in =
        Duration::from_millis((principal.token_expires_at_ms - auth::now_ms()).max(0) as u64);
    let member = principal.member_id.clone();
    let (mut conn, mut out_rx, mut kill) = hub.connect(principal);
    let tx = conn.outbound();
    tracing::info!(conn = conn.id, member = %member, "connected");
    let (mut sink, mut stream) = socket.split();
    // Writing has its own task so reading never waits on it: two peers that both block
    // writing to each other without reading would otherwise deadlock on full buffers.
    let writer = tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            if write_queued(&mut sink, &mut out_rx, out).await != Ok(false) {
                break;
            }
        }
        let _ = tokio::time::timeout(WRITE_TIMEOUT, sink.close()).await;
    });
    let max = hub.config().max_frame_bytes;
    let rate = governor::RateLimiter::direct(
        governor::Quota::per_second(s.settings.rate_per_sec).allow_burst(s.settings.rate_burst),
    );
    let expiry = tokio::time::sleep(expires_in);
    tokio::pin!(expiry);
    let mut ping = tokio::time::interval(s.settings.ping_interval);
    ping.tick().await;
    let mut last_seen = Instant::now();
    let close_reason: Option<CloseReason> = loop {
        tokio::select! {
            next = stream.next() => {
                last_seen = Instant::now();
                match next {
                    None | Some(Ok(WsMessage::Close(_))) => break None,
                    Some(Err(e)) => {
                        let text = e.to_string();
                        if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                            hub.metrics.refuse(Refusal::Oversized);
                            break Some(CloseReason { code: close::TOO_BIG, reason: format!("frame too large (limit {max} bytes)") });
                        }
                        tracing::debug!(conn = conn.id, error = %e, "socket error");
                        break None;
                    }
                    Some(Ok(WsMessage::Binary(b))) => {
                        if b.len() > max {
                            hub.metrics.refuse(Refusal::Oversized);
                            let text = format!("frame of {} bytes exceeds the limit of {max} bytes; closing the connection", b.len());
                            conn.send_error(&hub, text.clone());
                            break Some(CloseReason { code: close::TOO_BIG, reason: text });
                        }
                        if rate.check().is_err() {
                            hub.metrics.refuse(Refusal::RateLimited);
                            let text = format!(
                                "rate limit exceeded: more than {} messages per second (burst {}); closing the connection, reconnect more slowly",
                                s.settings.rate_per_sec, s.settings.rate_burst
                            );
                            conn.send_error(&hub, text.clone());
                            break Some(CloseReason { code: close::POLICY, reason: text });
                        }
                        if let Flow::Close(r) = hub.handle_frame(&mut conn, &b).await {
                            break Some(r);
                        }
                    }
                    Some(Ok(WsMessage::Text(_))) => {
                        hub.metrics.refuse(Refusal::Malformed);
                        let text = "text frames are not part of the automerge-repo protocol; send binary CBOR frames".to_owned();
                        conn.send_error(&hub, text.clone());
                        break Some(CloseReason { code: close::PROTOCOL, reason: text });
                    }
                    Some(Ok(_)) => {}
                }
            }
            _ = kill.changed() => {
                let r = kill.borrow().clone();
                if let Some(r) = r {
                    if r.code == close::UNAUTHORIZED {
                        hub.metrics.refuse(Refusal::Revoked);
                    }
                    conn.send_error(&hub, r.reason.clone());
                    break Some(r);
                }
            }
            _ = &mut expiry => {
                let text = "token expired; sign in again".to_owned();
                conn.send_error(&hub, text.clone());
                break Some(CloseReason { code: close::UNAUTHORIZED, reason: text });
            }
            _ = ping.tick() => {
                if last_seen.elapsed() > s.settings.ping_interval * 3 {
                    tracing::info!(conn = conn.id, "no traffic or pong for 3 ping intervals; dropping");
                    break None;
                }
                let _ = tx.try_send(Outbound::Ping);
            }
        }
    };
    if let Some(r) = close_reason {
        tracing::info!(conn = conn.id, code = r.code, reason = %r.reason, "closing connection");
        let _ = tx.send(Outbound::Close(r)).await;
        // Finish the closing handshake: keep reading (and discarding) until the peer's
        // close, so unread frames do not turn our close into a TCP reset that would throw
        // away the error and close frame before the peer reads them.
        let drain = async {
            while let Some(Ok(m)) = stream.next().await {
                if matches!(m, WsMessage::Close(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    }
    drop(tx);
    hub.disconnect(conn).await;
    // Give the writer a moment to flush the error and close frames.
    let abort = writer.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), writer)
        .await
        .is_err()
    {
        abort.abort();
    }
    tracing::info!(member = %member, "disconnected");
}
