//! Dashboard sign-in and invite redemption against the real relay binary: PA and crew
//! codes refused before anything is redeemed, a coordinator's own reusable sign-in key,
//! sessions that survive a restart and end with their member, and rate limits on
//! guessing per address and per code while other clients are still served.

use std::net::{IpAddr, SocketAddr};

use setlink_tests::http::{request_from, Raw};
use setlink_tests::Relay;

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn form_encode(fields: &[(&str, &str)]) -> Vec<u8> {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// A form post to the dashboard as a browser on this origin sends it.
async fn post(
    from: IpAddr,
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
) -> Raw {
    let origin = format!("http://{addr}");
    let cookie = cookie.map(|c| format!("setlink_session={c}"));
    let mut headers = vec![
        ("content-type", "application/x-www-form-urlencoded"),
        ("origin", origin.as_str()),
    ];
    if let Some(c) = &cookie {
        headers.push(("cookie", c.as_str()));
    }
    request_from(from, addr, "POST", path, &headers, form_encode(fields)).await
}

async fn get(addr: SocketAddr, path: &str, cookie: &str) -> Raw {
    let cookie = format!("setlink_session={cookie}");
    request_from(
        ip("127.0.0.1"),
        addr,
        "GET",
        path,
        &[("cookie", &cookie)],
        Vec::new(),
    )
    .await
}

async fn sign_in_from(from: IpAddr, addr: SocketAddr, code: &str) -> Raw {
    post(
        from,
        addr,
        "/dashboard/signin",
        None,
        &[("code", code), ("name", "Tester")],
    )
    .await
}

/// Signs in; the session cookie's value, or the refusal.
async fn sign_in(addr: SocketAddr, code: &str) -> Result<String, Raw> {
    let r = sign_in_from(ip("127.0.0.1"), addr, code).await;
    if r.status != 303 {
        return Err(r);
    }
    Ok(r.header("set-cookie")
        .and_then(|c| c.split(';').next())
        .and_then(|kv| kv.strip_prefix("setlink_session="))
        .expect("a session cookie")
        .to_owned())
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

async fn redeem_from(from: IpAddr, addr: SocketAddr, code: &str, name: &str) -> Raw {
    let body = serde_json::json!({ "code": code, "name": name, "device_id": name });
    request_from(
        from,
        addr,
        "POST",
        "/api/redeem",
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await
}

fn demo_production(relay: &Relay) -> String {
    let (ok, out, err) = relay.cli(&["production", "list"]);
    assert!(ok, "{err}");
    out.split_whitespace()
        .next()
        .expect("a production")
        .to_owned()
}

fn invite(relay: &Relay, production: &str, role: &str) -> String {
    let (ok, out, err) = relay.cli(&[
        "invite",
        "create",
        "--production",
        production,
        "--role",
        role,
        "--uses",
        "1",
    ]);
    assert!(ok, "{err}");
    out.trim().to_owned()
}

fn members(relay: &Relay, production: &str) -> String {
    let (ok, out, err) = relay.cli(&["member", "list", "--production", production]);
    assert!(ok, "{err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pa_and_crew_codes_are_refused_before_anything_is_redeemed() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let production = demo_production(&relay);
    let before = members(&relay, &production);
    for role in ["pa", "crew"] {
        let code = invite(&relay, &production, role);
        let r = sign_in(relay.addr, &code).await.expect_err("refused");
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(
            r.body.contains("uses the setlink app") && r.body.contains("the code was not used"),
            "{}",
            r.body
        );
        assert!(r.header("set-cookie").is_none());
        // The one-use code still works where it belongs.
        let ok = redeem_from(ip("127.0.0.1"), relay.addr, &code, "Pat").await;
        assert_eq!(
            ok.status, 200,
            "{} code used up by the dashboard: {}",
            role, ok.body
        );
    }
    // No phantom member from the dashboard: only the two who redeemed in the app.
    let after = members(&relay, &production);
    assert!(
        !after.contains("Tester") && !after.contains("Dashboard"),
        "{after}"
    );
    assert_eq!(after.lines().count(), before.lines().count() + 2, "{after}");
    // The office still signs in.
    sign_in(relay.addr, relay.code("office"))
        .await
        .expect("the office signs in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_signs_in_again_with_a_key_and_sessions_survive_a_restart_until_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = Relay::start(BIN, dir.path(), &[]);
    let (ok, out, err) = relay.cli(&[
        "production",
        "create",
        "--title",
        "Night Shift",
        "--coordinator-name",
        "Casey",
    ]);
    assert!(ok, "{err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    let code = field("coordinator code:");
    let coordinator = field("coordinator:");
    let member_id = coordinator
        .rsplit_once('(')
        .and_then(|(_, id)| id.strip_suffix(')'))
        .unwrap()
        .to_owned();

    // The production's one-use code signs in once, and asks for a sign-in key.
    let first = sign_in(relay.addr, &code).await.expect("signs in");
    let board = get(relay.addr, "/dashboard/board", &first).await;
    assert_eq!(board.status, 200, "{}", board.body);
    assert!(board.body.contains("signin-key-banner"), "{}", board.body);
    let again = sign_in(relay.addr, &code).await.expect_err("used up");
    assert!(again.body.contains("used up"), "{}", again.body);

    let page = get(relay.addr, "/dashboard/signin-key", &first).await;
    let csrf = csrf_of(&page.body);
    let made = post(
        ip("127.0.0.1"),
        relay.addr,
        "/dashboard/signin-key",
        Some(&first),
        &[("_csrf", &csrf)],
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let key = made
        .body
        .split("id=\"signin-key\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .expect("the key is shown")
        .to_owned();
    assert!(made.body.contains(&format!("/dashboard/signin#key={key}")));
    let board = get(relay.addr, "/dashboard/board", &first).await;
    assert!(!board.body.contains("signin-key-banner"));

    // Signing out ends that session; the key signs in again, as often as needed, typed
    // any way.
    let out = post(
        ip("127.0.0.1"),
        relay.addr,
        "/dashboard/signout",
        Some(&first),
        &[("_csrf", &csrf)],
    )
    .await;
    assert_eq!(out.status, 303);
    assert_eq!(
        get(relay.addr, "/dashboard/board", &first).await.status,
        401
    );
    let second = sign_in(relay.addr, &key).await.expect("the key signs in");
    let typed = key.to_lowercase().replace('-', " ");
    sign_in(relay.addr, &typed)
        .await
        .expect("the key signs in again");

    // Sessions are stored: a restart signs nobody out.
    relay.restart();
    let board = get(relay.addr, "/dashboard/board", &second).await;
    assert_eq!(board.status, 200, "after a restart: {}", board.body);

    // A new key replaces the old one.
    let page = get(relay.addr, "/dashboard/signin-key", &second).await;
    let csrf = csrf_of(&page.body);
    let made = post(
        ip("127.0.0.1"),
        relay.addr,
        "/dashboard/signin-key",
        Some(&second),
        &[("_csrf", &csrf)],
    )
    .await;
    let new_key = made
        .body
        .split("id=\"signin-key\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_owned();
    let old = sign_in(relay.addr, &key).await.expect_err("the old key");
    assert!(old.body.contains("unknown sign-in key"), "{}", old.body);
    sign_in(relay.addr, &new_key).await.expect("the new key");

    // Revoking the member ends their sessions and their key.
    let (ok, _, err) = relay.cli(&["member", "revoke", &member_id]);
    assert!(ok, "{err}");
    assert_eq!(
        get(relay.addr, "/dashboard/board", &second).await.status,
        401
    );
    let r = sign_in(relay.addr, &new_key).await.expect_err("revoked");
    assert_eq!(r.status, 401, "{}", r.body);
    // Everyone else is still served.
    sign_in(relay.addr, relay.code("coordinator"))
        .await
        .expect("the demo coordinator signs in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_are_rate_limited_per_address_and_per_code_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(
        BIN,
        dir.path(),
        &[
            "--sign-in-per-ip-per-min",
            "5",
            "--sign-in-per-code-per-min",
            "3",
        ],
    );
    let addr = relay.addr;
    let guesser = ip("127.0.0.2");
    for i in 0..5 {
        let r = redeem_from(guesser, addr, &format!("ZZZZ-ZZZZ-ZZ{i:02}"), "x").await;
        assert_eq!(r.status, 403, "guess {i} is answered: {}", r.body);
    }
    let r = redeem_from(guesser, addr, "ZZZZ-ZZZZ-ZZ99", "x").await;
    assert_eq!(r.status, 429, "{}", r.body);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry), "Retry-After {retry}");
    assert!(r.body.contains("too many"), "{}", r.body);
    // The same address is held back at the dashboard's sign-in too.
    let r = sign_in_from(guesser, addr, "ZZZZ-ZZZZ-ZZ98").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());

    // One code tried from many addresses is held back too.
    for (i, from) in ["127.0.0.3", "127.0.0.4", "127.0.0.5"].iter().enumerate() {
        let r = redeem_from(ip(from), addr, "YYYY-YYYY-YYYY", "x").await;
        assert_eq!(r.status, 403, "attempt {i}: {}", r.body);
    }
    let r = redeem_from(ip("127.0.0.6"), addr, "YYYY-YYYY-YYYY", "x").await;
    assert_eq!(r.status, 429, "{}", r.body);

    // Everyone else is served: a real code from another address, and health.
    let ok = redeem_from(ip("127.0.0.1"), addr, relay.code("pa"), "Pat").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    sign_in(addr, relay.code("coordinator"))
        .await
        .expect("the coordinator signs in");
    let health = request_from(ip("127.0.0.1"), addr, "GET", "/healthz", &[], Vec::new()).await;
    assert_eq!(health.status, 200);
}

/// With the default limits, how many of a burst of guesses from one address are looked
/// at: the burst (60) and then one a second, against ~5,400 a second before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_guesses_from_one_address_gets_the_default_burst_through() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let started = std::time::Instant::now();
    let mut answered = 0u64;
    let tries = 300;
    for i in 0..tries {
        let r = redeem_from(
            ip("127.0.0.9"),
            relay.addr,
            &format!("QQQQ-QQQQ-{i:04}"),
            "x",
        )
        .await;
        match r.status {
            429 => {}
            403 => answered += 1,
            s => panic!("guess {i}: {s} {}", r.body),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{tries} guesses from one address in {secs:.2} s: {answered} looked at, {} refused with 429",
        tries - answered
    );
    // 60 at once, then one a second for as long as the guessing took.
    assert!(
        answered >= 60 && answered as f64 <= 61.0 + secs,
        "{answered} answered in {secs:.2} s"
    );
    let ok = redeem_from(ip("127.0.0.1"), relay.addr, relay.code("pa"), "Pat").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
}
