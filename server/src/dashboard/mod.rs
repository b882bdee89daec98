//! The coordinators' dashboard, served by the relay under `/dashboard`.
//!
//! - Sign-in takes a coordinator's or office member's own sign-in key, an invite code
//!   (PA and crew codes are refused before anything is redeemed) or one of their bearer
//!   tokens, and opens a session: a random cookie (HttpOnly, SameSite=Strict, Secure off
//!   loopback) whose sha256 alone is stored, with an expiry, so it survives a restart;
//!   every request re-checks the member (and the token) in storage, so revoking a member
//!   ends their sessions at once; it also deletes their sign-in key. Sign-in attempts are rate limited per address
//!   and per secret (`crate::limits`).
//! - Every write is a POST carrying the session's CSRF token, and cross-site requests
//!   (`Origin` / `Sec-Fetch-Site`) are refused before anything is parsed.
//! - Reads and writes go through the hub like a device's would: writes run the core
//!   domain ops on the relay's copy of the document (`Hub::change`), which persists them
//!   and fans them out to every subscribed device.
//! - Live views: `/dashboard/events` is a Server-Sent Events stream fed by the hub's
//!   change and ephemeral notifications (never by polling storage); the page refetches
//!   the affected fragment when told.
//!
//! Access follows PRODUCT.md's role table: coordinators reach everything; the office
//! works the board (runs and tasks), reads call sheet drafts (read-only) and sees the
//! acknowledgements, but cannot edit or publish a sheet; PAs and crew are refused at
//! sign-in with a clear message (their place is the app).

pub(crate) mod data;
mod forms;
mod live;
pub(crate) mod pages;
mod pdf;
mod refill;
mod run_forms;
pub(crate) mod session;
mod settings_form;
mod sheet_form;
mod sheet_start;

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use tower_http::limit::RequestBodyLimitLayer;

use crate::http::AppState;

pub use live::Presence;
pub use session::Sessions;

/// Request bodies larger than this are refused: the biggest form is the call sheet.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// State the dashboard keeps beside the relay's: live presence, and a lock
/// that serialises creating a day's documents.
pub struct Dashboard {
    pub presence: live::PresenceBoard,
    /// Fires with a production id when presence in it was recorded.
    pub presence_tx: tokio::sync::broadcast::Sender<String>,
    pub create_lock: tokio::sync::Mutex<()>,
    watcher_started: std::sync::atomic::AtomicBool,
}

impl Dashboard {
    pub fn new() -> Arc<Self> {
        Arc::new(Dashboard {
            presence: live::PresenceBoard::default(),
            presence_tx: tokio::sync::broadcast::channel(256).0,
            create_lock: tokio::sync::Mutex::new(()),
            watcher_started: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Starts listening to the hub the first time the dashboard is used (the router is
    /// built before the hub is handed to it).
    pub fn start_watcher(self: &Arc<Self>, hub: &Arc<crate::hub::Hub>) {
        use std::sync::atomic::Ordering;
        if !self.watcher_started.swap(true, Ordering::SeqCst) {
            live::spawn_watcher(hub.clone(), self.clone());
        }
    }
}

/// The dashboard's routes, to be merged into the relay's router.
pub fn router() -> Router<AppState> {
    let dash = Dashboard::new();
    Router::new()
        .route("/dashboard", get(pages::home))
        .route("/dashboard/", get(pages::home))
        .route(
            "/dashboard/signin",
            get(pages::signin_form).post(pages::signin),
        )
        .route("/dashboard/signout", post(pages::signout))
        .route(
            "/dashboard/signin-key",
            get(pages::signin_key_page).post(pages::new_signin_key),
        )
        .route("/dashboard/board", get(pages::board))
        .route("/dashboard/fragment/board", get(pages::board_fragment))
        .route("/dashboard/fragment/acks", get(pages::acks_fragment))
        .route("/dashboard/background", get(pages::background))
        .route(
            "/dashboard/fragment/background",
            get(pages::background_fragment),
        )
        .route("/dashboard/background/people", post(pages::add_background))
        .route("/dashboard/background/step", post(pages::background_step))
        .route(
            "/dashboard/background/wardrobe",
            post(pages::background_wardrobe),
        )
        .route("/dashboard/events", get(live::events))
        .route("/dashboard/runs", post(pages::create_run))
        .route("/dashboard/runs/{run_id}/assign", post(pages::assign_run))
        .route("/dashboard/runs/{run_id}/status", post(pages::run_status))
        .route("/dashboard/runs/{run_id}", get(pages::run_view))
        .merge(run_page_routes())
        .route("/dashboard/petty-cash", get(pages::petty_cash))
        .route("/dashboard/petty-cash.csv", get(pages::petty_cash_csv))
        .route("/dashboard/gear", get(pages::gear_page))
        .route("/dashboard/fragment/gear", get(pages::gear_fragment))
        .route("/dashboard/gear/items", post(pages::add_gear))
        .route("/dashboard/gear/event", post(pages::gear_event))
        .route("/dashboard/gear/edit", post(pages::edit_gear))
        .route("/dashboard/gear/return-run", post(pages::gear_return_run))
        .route("/dashboard/timesheets", get(pages::timesheets))
        .route(
            "/dashboard/fragment/timesheets",
            get(pages::timesheets_fragment),
        )
        .route("/dashboard/timesheets.csv", get(pages::timesheets_csv))
        .route(
            "/dashboard/timesheets/review",
            post(pages::review_timesheet),
        )
        .route("/dashboard/photos/{hash}", get(pages::photos::photo))
        .route("/dashboard/photos/{hash}/thumb", get(pages::photos::thumb))
        .route("/dashboard/tasks", post(pages::create_task))
        .route("/dashboard/tasks/{task_id}", get(pages::task_view))
        .route("/dashboard/tasks/{task_id}/notes", post(pages::task_notes))
        .route(
            "/dashboard/tasks/{task_id}/checklist",
            post(pages::add_checklist_item),
        )
        .route(
            "/dashboard/tasks/{task_id}/checklist/{entry_id}",
            post(pages::checklist_item),
        )
        .route(
            "/dashboard/tasks/{task_id}/assign",
            post(pages::assign_task),
        )
        .route(
            "/dashboard/tasks/{task_id}/status",
            post(pages::task_status),
        )
        .route(
            "/dashboard/callsheet",
            get(pages::callsheet_form).post(pages::save_callsheet),
        )
        .route("/dashboard/callsheet/review", post(pages::review))
        .route("/dashboard/callsheet/publish", post(pages::publish))
        .route(
            "/dashboard/settings",
            get(pages::settings).post(pages::save_settings),
        )
        .route("/dashboard/acks", get(pages::acks))
        .route("/dashboard/acks/remind", post(pages::remind))
        .route(
            "/dashboard/crew-link",
            get(pages::crew_link_page).post(pages::new_crew_link),
        )
        .route("/dashboard/crew-link/email", post(pages::set_member_email))
        .route(
            "/dashboard/report",
            get(pages::report_view).post(pages::save_report),
        )
        .route("/dashboard/report/draft", post(pages::draft_report))
        .route("/dashboard/report/publish", post(pages::publish_report))
        .route("/dashboard/report.pdf", get(pages::report_pdf))
        .route("/dashboard/print", get(pages::print_html))
        .route("/dashboard/print.pdf", get(pages::print_pdf))
        .route("/dashboard/static/app.css", get(static_css))
        .route("/dashboard/static/app.js", get(static_js))
        .merge(crate::crew::routes())
        .layer(RequestBodyLimitLayer::new(MAX_FORM_BYTES))
        .layer(Extension(dash))
}

/// The run page's forms, one handler each (`pages::run_edit`).
fn run_page_routes() -> Router<AppState> {
    use pages::run_edit as h;
    Router::new()
        .route("/dashboard/runs/{run_id}/edit", post(h::edit_run))
        .route("/dashboard/runs/{run_id}/assignment", post(h::assign))
        .route("/dashboard/runs/{run_id}/event", post(h::record_event))
        .route("/dashboard/runs/{run_id}/stops", post(h::add_stop))
        .route(
            "/dashboard/runs/{run_id}/stops/{stop_id}",
            post(h::edit_stop),
        )
        .route(
            "/dashboard/runs/{run_id}/stops/{stop_id}/remove",
            post(h::remove_stop),
        )
        .route("/dashboard/runs/{run_id}/items", post(h::add_item))
        .route(
            "/dashboard/runs/{run_id}/items/{item_id}",
            post(h::edit_item),
        )
        .route(
            "/dashboard/runs/{run_id}/items/{item_id}/check",
            post(h::check_item),
        )
        .route(
            "/dashboard/runs/{run_id}/items/{item_id}/remove",
            post(h::remove_item),
        )
        .route("/dashboard/runs/{run_id}/food", post(h::add_food))
        .route(
            "/dashboard/runs/{run_id}/food/{order_id}",
            post(h::edit_food),
        )
        .route(
            "/dashboard/runs/{run_id}/food/{order_id}/remove",
            post(h::remove_food),
        )
        .route("/dashboard/runs/{run_id}/money", post(h::set_money))
        .route("/dashboard/runs/{run_id}/receipts", post(h::add_receipt))
        .route("/dashboard/runs/{run_id}/mileage", post(h::set_mileage))
        .route("/dashboard/runs/{run_id}/comments", post(h::add_comment))
}

async fn static_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("static/app.css"),
    )
        .into_response()
}

async fn static_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        include_str!("static/app.js"),
    )
        .into_response()
}

/// Why a dashboard request failed. Rendered as an HTML page with the status code, so a
/// person sees what to do and a test sees the code.
#[derive(Debug)]
pub struct DashError {
    pub status: StatusCode,
    pub message: String,
    /// The form field the error is about, when there is one: a refused form is shown
    /// again with the message next to that field (see `refill`).
    pub field: Option<String>,
}

impl DashError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        DashError {
            status,
            message: message.into(),
            field: None,
        }
    }
    /// Names the form field this error is about, unless a more precise one is named.
    pub fn on(mut self, field: &str) -> Self {
        self.field.get_or_insert_with(|| field.to_owned());
        self
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!(error = %message, "dashboard error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the relay could not do that ({message}); nothing was changed"),
        )
    }
}

impl From<setlink_core::DomainError> for DashError {
    fn from(e: setlink_core::DomainError) -> Self {
        use setlink_core::DomainError as D;
        let status = match &e {
            D::UnknownRun(_)
            | D::UnknownTask(_)
            | D::UnknownStop { .. }
            | D::UnknownItem { .. }
            | D::UnknownReceipt { .. }
            | D::UnknownChecklistEntry { .. }
            | D::UnknownCallSheetEntry { .. }
            | D::UnknownBackgroundPerson(_)
            | D::UnknownGearItem(_)
            | D::NotPublished => StatusCode::NOT_FOUND,
            D::UnknownMember(_) | D::OutOfRange { .. } | D::InvalidValue { .. } => {
                StatusCode::BAD_REQUEST
            }
            D::Forbidden { .. } => StatusCode::FORBIDDEN,
            // A document another client wrote in a shape this version cannot read is a
            // conflict with the document's state, never a server error.
            D::InvalidTransition { .. }
            | D::AlreadyExists(_)
            | D::NotInitialised(_)
            | D::Corrupt(_) => StatusCode::CONFLICT,
        };
        DashError::new(status, format!("{e}; nothing was changed"))
    }
}

impl IntoResponse for DashError {
    fn into_response(self) -> Response {
        pages::error_page(self.status, &self.message)
    }
}

pub type DashResult<T> = Result<T, DashError>;
