//! The crew page: every member's personal link to the production's published call
//! sheets, for crew and cast without the app.
//!
//! The link is `/crew/#k=KEY`. The key travels in the fragment, so it never reaches a
//! request line (or the relay's request logs); the page's script sends it as a bearer
//! token to `/crew/api/*`. A key is a credential of the member it belongs to, read from
//! `crew_links` (never from `tokens`, so it cannot open `/sync` or the dashboard), and it
//! reaches exactly two things: the published revisions of the production's call sheets,
//! and that member's own acknowledgements, written through the same domain operation
//! and role table (`DocKind::may_write`) as the app's. Revoking the member deletes it.
//!
//! The page works offline after its first visit: `sw.js` keeps the page's files, the
//! script keeps the last sheet it read and a confirm tapped without signal, and sends
//! that confirm when the phone is back online.

pub(crate) mod api;
mod page;

use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::http::AppState;

pub use api::link_url;

/// The crew page's routes; merged into the dashboard's router (they share its state).
pub fn routes() -> Router<AppState> {
    Router::new()
        // The fragment (`#k=…`) survives the redirect: browsers keep it.
        .route("/crew", get(|| async { Redirect::permanent("/crew/") }))
        .route("/crew/", get(|| async { file("text/html", PAGE) }))
        .route(
            "/crew/crew.js",
            get(|| async { file("text/javascript", SCRIPT) }),
        )
        .route("/crew/crew.css", get(|| async { file("text/css", STYLE) }))
        .route(
            "/crew/sw.js",
            get(|| async { file("text/javascript", WORKER) }),
        )
        .route(
            "/crew/manifest.webmanifest",
            get(|| async { file("application/manifest+json", MANIFEST) }),
        )
        .route(
            "/crew/icon.svg",
            get(|| async { file("image/svg+xml", ICON) }),
        )
        .route("/crew/icon-192.png", get(|| async { png(ICON_192) }))
        .route("/crew/icon-512.png", get(|| async { png(ICON_512) }))
        .route("/crew/api/sheet", get(api::sheet))
        .route("/crew/api/ack", post(api::ack))
}

const PAGE: &str = include_str!("static/index.html");
const SCRIPT: &str = include_str!("static/crew.js");
const STYLE: &str = include_str!("static/crew.css");
const WORKER: &str = include_str!("static/sw.js");
const MANIFEST: &str = include_str!("static/manifest.webmanifest");
const ICON: &str = include_str!("static/icon.svg");
// PNG icons as well: what browsers check before offering "Install" / "Add to Home Screen".
const ICON_192: &[u8] = include_bytes!("static/icon-192.png");
const ICON_512: &[u8] = include_bytes!("static/icon-512.png");

/// Where the coordinator's browser reached the relay, for links made without
/// `--public-url` (a page showing a link, or email queued from a dashboard request).
pub fn origin(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if state.settings.tls { "https" } else { "http" };
    format!("{scheme}://{host}")
}

fn png(body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// The page's files are small and change with the relay: always revalidated, so a phone
/// online gets the new ones and the service worker keeps the last for offline.
fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
