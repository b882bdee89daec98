//! The README's commands as written, against the relay binary: `setlink member list`
//! without `--production`, and redeeming a code that belongs to an existing member (the
//! demo's) with an empty name, while a code that creates a member still needs one.

use serde_json::json;
use setlink_tests::http::request;
use setlink_tests::Relay;

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_list_and_redeeming_work_as_the_readme_shows() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);

    // `setlink member list`: every production's members, under a line naming each.
    let (ok, out, err) = relay.cli(&["member", "list"]);
    assert!(ok, "member list: {err}");
    let production = out
        .lines()
        .find_map(|l| l.strip_prefix("production "))
        .and_then(|l| l.split_whitespace().next())
        .expect("a production line")
        .to_owned();
    assert!(
        out.contains("Casey Coordinator") && out.contains("Pat PA"),
        "{out}"
    );
    let (ok, one, _) = relay.cli(&["member", "list", "--production", &production]);
    assert!(
        ok && one.contains("Pat PA") && !one.contains("production "),
        "{one}"
    );
    let (ok, _, err) = relay.cli(&["member", "list", "--production", "nope"]);
    assert!(!ok && err.contains("no production `nope`"), "{err}");

    // A demo code belongs to an existing member: no name needed.
    let (status, v) = request(
        relay.addr,
        "POST",
        "/api/redeem",
        None,
        Some(&json!({"code": relay.code("pa"), "name": "", "device_id": "pat-phone"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(one.contains(v["member_id"].as_str().unwrap()), "{v}");

    // A code that creates a member needs a name, and says so; with one it works.
    let (ok, out, err) = relay.cli(&[
        "invite",
        "create",
        "--production",
        &production,
        "--role",
        "pa",
        "--uses",
        "2",
    ]);
    assert!(ok, "invite create: {err}");
    let code = out.trim().to_owned();
    assert!(!code.is_empty(), "no code printed");
    let redeem = |name: &'static str| {
        let body = json!({"code": code, "name": name, "device_id": "new-phone"});
        async move { request(relay.addr, "POST", "/api/redeem", None, Some(&body)).await }
    };
    let (status, v) = redeem("  ").await;
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("`name` must not be empty"), "{v}");
    let (status, v) = redeem("Nia").await;
    assert_eq!(status, 200, "{v}");
    // An unknown code is unknown, name or not.
    let (status, v) = request(
        relay.addr,
        "POST",
        "/api/redeem",
        None,
        Some(&json!({"code": "AAAA-BBBB-CCCC", "name": "", "device_id": "x"})),
    )
    .await;
    assert!(
        status == 401 || status == 403 || status == 404,
        "{status} {v}"
    );
    assert!(v.to_string().contains("unknown invite code"), "{v}");
}
