//! Signing in and out, and the sign-in key that lets a member sign in again without an invite.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup};
use setlink_core::Role;

use crate::auth::now_ms;
use crate::dashboard::session::{self, Ctx, Session, Sessions};
use crate::dashboard::{DashError, DashResult, Dashboard};
use crate::http::AppState;
use crate::zone::Zone;

use super::{form, html_response, page, see_other, F};

pub async fn home(
    State(state): State<AppState>,
    Extension(dash): Extension<std::sync::Arc<Dashboard>>,
    headers: HeaderMap,
) -> Response {
    dash.start_watcher(&state.hub);
    let signed_in = match session::cookie_secret(&headers) {
        Some(s) => Sessions::get(state.storage().as_ref(), &s).await.is_ok(),
        None => false,
    };
    if signed_in {
        see_other("/dashboard/board".into())
    } else {
        see_other("/dashboard/signin".into())
    }
}

fn signin_page(status: StatusCode, error: Option<&str>) -> Response {
    let body = html! {
        section.signin {
            h1 { "Sign in to the dashboard" }
            p { "Use your sign-in key, or the coordinator or office invite code you were given (the demo prints one per role), or an access token from one of your devices." }
            @if let Some(e) = error { p #error role="alert" { (e) } }
            form method="post" action="/dashboard/signin" {
                label { "Sign-in key, invite code or access token" input #signin-code type="password" name="code" autocomplete="current-password" required autofocus; }
                label { "Your name " small { "(only for a first sign-in with a new code)" } input name="name" autocomplete="name"; }
                button type="submit" { "Sign in" }
            }
        }
    };
    html_response(status, page("Sign in", None, None, body))
}

pub async fn signin_form(
    State(state): State<AppState>,
    Extension(dash): Extension<std::sync::Arc<Dashboard>>,
) -> Response {
    dash.start_watcher(&state.hub);
    signin_page(StatusCode::OK, None)
}

pub async fn signin(
    State(state): State<AppState>,
    Extension(dash): Extension<std::sync::Arc<Dashboard>>,
    connect: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    f: F,
) -> Response {
    dash.start_watcher(&state.hub);
    let ip = connect.map(|Extension(axum::extract::ConnectInfo(a))| a.ip());
    match signin_inner(&state, ip, &headers, f).await {
        Ok(r) => r,
        Err(e) if e.status == StatusCode::UNAUTHORIZED || e.status == StatusCode::BAD_REQUEST => {
            signin_page(e.status, Some(&e.message))
        }
        Err(e) => e.into_response(),
    }
}

fn refuse_app_role(role: Role, what: &str) -> DashError {
    DashError::forbidden(format!(
        "the dashboard is for coordinators and the production office; a {role} uses the setlink app{what}"
    ))
}

async fn signin_inner(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    f: F,
) -> DashResult<Response> {
    session::check_same_origin(headers)?;
    let f = form(f)?;
    let code = f.required("code", "The sign-in key, invite code or access token")?;
    // Every guess counts against the caller's address and against the secret guessed.
    let storage = state.storage().as_ref();
    let limits = &state.settings.sign_in_limits;
    let now = crate::auth::now_ms();
    if let Err(retry) = limits.check_everywhere(storage, ip, &code, now).await {
        return Ok(crate::limits::too_many(retry, "sign-in attempts"));
    }
    let unauthorized =
        |why: String| DashError::new(StatusCode::UNAUTHORIZED, format!("cannot sign in: {why}"));
    let device_id = format!("dashboard-{}", &session::random_secret()[..12]);
    let (member_id, token_hash) = if code.starts_with("slk_") {
        let p = crate::auth::authenticate(storage, &code, now_ms())
            .await
            .map_err(|e| match e {
                crate::auth::AuthError::Storage(e) => DashError::internal(e),
                other => unauthorized(other.to_string()),
            })?;
        (p.member_id, Some(p.token_hash))
    } else if crate::auth::is_signin_key(&code) {
        let member = storage
            .signin_key_member(crate::auth::hash_signin_key(&code))
            .await
            .map_err(DashError::internal)?
            .ok_or_else(|| {
                unauthorized(
                    "unknown sign-in key (a newer key replaces the old one); sign in with an invite code or ask a coordinator for one".into(),
                )
            })?;
        (member, None)
    } else {
        // An invite code. PA and crew codes are refused before anything is redeemed: the
        // code keeps its uses and no member is created.
        if let Some(invite) = storage
            .invite(crate::auth::hash_invite_code(&code))
            .await
            .map_err(DashError::internal)?
        {
            if matches!(invite.role, Role::Pa | Role::Crew) {
                return Err(refuse_app_role(
                    invite.role,
                    "; the code was not used, so it still works in the app",
                ));
            }
        }
        let name = f.opt("name")?.unwrap_or_else(|| "Dashboard".to_owned());
        // The dashboard's device token lives as long as its session, not a phone's 90 days.
        let mut settings = (*state.settings).clone();
        settings.token_ttl = session::SESSION_TTL;
        let red = crate::admin::redeem(&state.hub, &settings, &code, &name, &device_id)
            .await
            .map_err(|e| match e {
                crate::admin::AdminError::Internal(m) => DashError::internal(m),
                crate::admin::AdminError::Invalid(m) => DashError::bad_request(m),
                other => unauthorized(other.to_string()),
            })?;
        (red.member_id, Some(crate::auth::hash_secret(&red.token)))
    };
    let member = storage
        .member(member_id)
        .await
        .map_err(DashError::internal)?
        .filter(|m| m.revoked_at_ms.is_none())
        .ok_or_else(|| unauthorized("this member has been revoked".into()))?;
    if matches!(member.role, Role::Pa | Role::Crew) {
        return Err(refuse_app_role(member.role, ""));
    }
    let secret = Sessions::open(storage, &member, device_id, token_hash)
        .await
        .map_err(DashError::internal)?;
    let mut resp = see_other("/dashboard/board".into());
    if let Ok(v) = session::set_cookie(headers, &secret).parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

pub async fn signout(ctx: Ctx, headers: HeaderMap, f: F) -> DashResult<Response> {
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    if let Some(secret) = session::cookie_secret(&headers) {
        Sessions::close(ctx.state.storage().as_ref(), &secret)
            .await
            .map_err(DashError::internal)?;
    }
    let mut resp = see_other("/dashboard/signin".into());
    if let Ok(v) = session::clear_cookie().parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// When the member's sign-in key was made, if they have one.
pub(super) async fn signin_key_created(ctx: &Ctx) -> DashResult<Option<i64>> {
    ctx.state
        .storage()
        .signin_key_created(ctx.session.member_id.clone())
        .await
        .map_err(DashError::internal)
}

/// The reminder on the board for a member who has no sign-in key yet.
pub(super) fn signin_key_banner() -> Markup {
    html! {
        p #signin-key-banner.notice {
            "You signed in with an invite code. "
            a href="/dashboard/signin-key" { "Make your sign-in key" }
            " to sign in again without a new code."
        }
    }
}

fn signin_key_markup(
    session: &Session,
    zone: &Zone,
    created: Option<i64>,
    new_key: Option<&str>,
) -> Markup {
    html! {
        h1 { "Your sign-in key" }
        p { "Your sign-in key is yours alone and signs you in to this dashboard again and again, on any browser, without a new invite code. Keep it in your password manager. Revoking you as a member ends it, with every session." }
        @if let Some(key) = new_key {
            section #new-key {
                p { strong { "Your new sign-in key (shown once):" } }
                p { code #signin-key { (key) } }
                p { "Or bookmark this sign-in link; the key stays in the part of the link the browser never sends:" }
                p { a #signin-link href={ "/dashboard/signin#key=" (key) } { "/dashboard/signin#key=" (key) } }
            }
        } @else if let Some(at) = created {
            p #key-state { "You have a sign-in key (made " (zone.date_time(at)) "). Making a new one replaces it." }
        } @else {
            p #key-state { "You have no sign-in key yet." }
        }
        form method="post" action="/dashboard/signin-key" {
            input type="hidden" name="_csrf" value=(session.csrf);
            button type="submit" { @if created.is_some() || new_key.is_some() { "Make a new sign-in key" } @else { "Make my sign-in key" } }
        }
    }
}

pub async fn signin_key_page(ctx: Ctx) -> DashResult<Response> {
    let created = signin_key_created(&ctx).await?;
    Ok(html_response(
        StatusCode::OK,
        page(
            "Sign-in key",
            Some(&ctx.session),
            None,
            signin_key_markup(&ctx.session, &ctx.zone, created, None),
        ),
    ))
}

/// Makes (or replaces) the member's sign-in key and shows it once.
pub async fn new_signin_key(ctx: Ctx, f: F) -> DashResult<Response> {
    let f = form(f)?;
    ctx.check_csrf(f.csrf())?;
    let key = crate::auth::new_signin_key();
    let now = now_ms();
    ctx.state
        .storage()
        .set_signin_key(
            ctx.session.member_id.clone(),
            crate::auth::hash_signin_key(&key),
            now,
        )
        .await
        .map_err(DashError::internal)?;
    Ok(html_response(
        StatusCode::OK,
        page(
            "Sign-in key",
            Some(&ctx.session),
            None,
            signin_key_markup(&ctx.session, &ctx.zone, Some(now), Some(&key)),
        ),
    ))
}
