//! Secrets stay secret: no bearer token reaches the relay's log at any level, and
//! `/metrics` answers only to the relay's metrics token.

use setlink_tests::demo::{connected, synced};
use setlink_tests::http::{metrics, redeem, request, request_raw};
use setlink_tests::relay::METRICS_TOKEN;
use setlink_tests::Relay;

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_never_reach_the_log_even_at_trace() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start_logging(BIN, dir.path(), &[], "trace");
    let pa = redeem(relay.addr, relay.code("pa"), "Pat", "p1").await;
    // The token in the query string (what automerge-repo clients do) ...
    let p = connected(&relay, &pa.token, "pa").await;
    synced(&p, pa.production_doc_id.parse().unwrap()).await;
    // ... in a header, and a wrong one.
    let (st, _) = request(relay.addr, "GET", "/api/me", Some(&pa.token), None).await;
    assert_eq!(st, 200);
    let wrong = format!("{}x", pa.token);
    let url = format!("{}?token={wrong}", relay.ws_url());
    setlink_tests::peer::refused_token(&url).await;
    let (st, _) = request(relay.addr, "GET", "/api/me", Some(&wrong), None).await;
    assert_eq!(st, 401);

    let log = relay.log();
    assert!(log.contains("/sync"), "the requests were logged: {log}");
    assert!(!log.contains(&pa.token), "a token is in the log");
    // The secret part alone, however it might be quoted or encoded.
    let secret = pa.token.trim_start_matches("slk_");
    assert!(!log.contains(secret), "a token's secret is in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_metrics_token_and_are_off_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let coord = redeem(relay.addr, relay.code("coordinator"), "Casey", "c1").await;
    for (who, token) in [
        ("no token", None),
        ("a coordinator's token", Some(coord.token.as_str())),
        ("a wrong token", Some("test-metrics-tokeN")),
    ] {
        let (st, body) = request_raw(relay.addr, "GET", "/metrics", token, None).await;
        assert_eq!(st, 401, "{who}: {}", String::from_utf8_lossy(&body));
        assert!(
            !String::from_utf8_lossy(&body).contains("setlink_"),
            "{who}"
        );
    }
    let text = metrics(relay.addr).await;
    assert!(text.contains("setlink_refusals_total"), "{text}");
    let (st, _) = request_raw(relay.addr, "GET", "/metrics", Some(METRICS_TOKEN), None).await;
    assert_eq!(st, 200);

    let off_dir = tempfile::tempdir().unwrap();
    let off = Relay::start(BIN, off_dir.path(), &["--metrics-token="]);
    let (st, body) = request_raw(off.addr, "GET", "/metrics", Some(METRICS_TOKEN), None).await;
    assert_eq!(st, 404);
    assert!(String::from_utf8_lossy(&body).contains("--metrics-token"));
}
