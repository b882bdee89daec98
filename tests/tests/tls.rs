//! TLS end to end against the real relay binary: a CA made here, the relay serving TLS
//! with a certificate it issued (`serve --tls-cert --tls-key`), a device syncing over
//! `wss://` trusting that CA, the same device without it refused with an error that says
//! the certificate is not trusted (and not hammering the relay), `ws://` refused off this
//! machine, and a renewed certificate served without a restart.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use setlink_core::client::connect::{tls_config, ConnectError, ConnectOptions};
use setlink_core::client::{
    ClientConfig, ProductionScope, SyncClient, SyncState, SyncStatus, SyncStatusObserver,
};
use setlink_core::{Author, Device, DocKind, DocumentId, Role};
use setlink_tests::certs::{replace, TestCa};
use setlink_tests::http::{redeem_tls, Creds};
use setlink_tests::{within, Relay};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

fn tls_relay(dir: &Path, ca: &TestCa) -> Relay {
    let (cert, key) = ca.write_relay_files(dir);
    Relay::start(
        BIN,
        &dir.join("data"),
        &[
            "--tls-cert",
            cert.to_str().expect("utf-8 path"),
            "--tls-key",
            key.to_str().expect("utf-8 path"),
        ],
    )
}

fn device(dir: &Path, name: &str, c: &Creds) -> Arc<Mutex<Device>> {
    let mut d = Device::open(dir.join(format!("{name}.db"))).expect("open device store");
    d.set_identity(Author {
        member_id: c.member_id.clone(),
        device_id: name.into(),
        role: Role::Pa,
    })
    .expect("identity");
    Arc::new(Mutex::new(d))
}

fn config(url: String, token: &str, ca: Option<&TestCa>) -> ClientConfig {
    let mut cfg = ClientConfig::new(url, token);
    cfg.options.trusted_ca_pem = ca.map(TestCa::pem);
    cfg.backoff_initial = Duration::from_millis(20);
    // Long enough that a second attempt after a persistent failure never comes in a test.
    cfg.backoff_max = Duration::from_secs(3600);
    cfg
}

/// Counts connection attempts (each one starts with `Connecting`).
#[derive(Default)]
struct Attempts(Mutex<(u32, Option<SyncStatus>)>);

impl SyncStatusObserver for Attempts {
    fn status_changed(&self, s: &SyncStatus) {
        let mut a = self.0.lock().expect("attempts");
        let before = a.1.as_ref().map(|p| p.state);
        if s.state == SyncState::Connecting && before != Some(SyncState::Connecting) {
            a.0 += 1;
        }
        a.1 = Some(s.clone());
    }
}

impl Attempts {
    fn count(&self) -> u32 {
        self.0.lock().expect("attempts").0
    }
}

/// One TLS handshake with the relay trusting `ca` only (and the public roots).
async fn handshake(addr: SocketAddr, ca: &TestCa) -> Result<(), ConnectError> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect relay");
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    tokio_rustls::TlsConnector::from(tls_config(Some(&ca.pem()))?)
        .connect(name, tcp)
        .await
        .map(|_| ())
        .map_err(|e| {
            ConnectError::from_tls_chain("127.0.0.1", &e).unwrap_or(ConnectError::Unreachable {
                host: "127.0.0.1".into(),
                detail: e.to_string(),
            })
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_syncs_over_wss_trusting_the_production_ca_and_is_refused_without_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new("Night Shift Productions CA");
    let relay = tls_relay(dir.path(), &ca);
    assert!(relay.ws_url().starts_with("wss://"), "{}", relay.ws_url());
    let pa = redeem_tls(relay.addr, &ca.pem(), relay.code("pa"), "Pat", "pat-phone").await;
    let production: DocumentId = pa.production_doc_id.parse().expect("production id");

    // With the production's CA: in sync over wss://, the demo's board arrives.
    let devices = tempfile::tempdir().expect("temp dir");
    let pat = device(devices.path(), "pat", &pa);
    let scope = Arc::new(ProductionScope::new(production, [relay.day.clone()]));
    let client = SyncClient::start(
        pat.clone(),
        config(relay.ws_url(), &pa.token, Some(&ca)),
        scope.clone(),
    )
    .expect("start the sync client");
    assert!(
        client.wait_in_sync(Duration::from_secs(30)).await,
        "never in sync over wss://: {:?}",
        client.status()
    );
    // The index arrived; the board it lists follows, with its runs.
    within(20, "the demo board over wss://", async {
        loop {
            let board_has_content = {
                let mut d = pat.lock().expect("device");
                let board = d
                    .document_ids()
                    .into_iter()
                    .find(|id| matches!(d.kind_of(id), Some(DocKind::Board { .. })));
                board.is_some_and(|b| {
                    d.read(&b, |doc| !doc.get_heads().is_empty())
                        .unwrap_or(false)
                })
            };
            if board_has_content {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    })
    .await;
    assert_eq!(client.status().last_error, None);
    client.stop().await;

    // Without it: refused, with an error that says why, and only one attempt while a
    // client with the same backoff dialing a closed port tries again and again.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let stranger = device(devices.path(), "stranger", &pa);
    let untrusting = SyncClient::start(
        stranger.clone(),
        config(relay.ws_url(), &pa.token, None),
        scope.clone(),
    )
    .expect("start the sync client");
    let tls_attempts = Arc::new(Attempts::default());
    untrusting.add_status_observer(tls_attempts.clone());
    let offline = device(devices.path(), "offline", &pa);
    let unreachable = SyncClient::start(
        offline,
        config(format!("ws://{closed}/sync"), &pa.token, None),
        scope,
    )
    .expect("start the sync client");
    let net_attempts = Arc::new(Attempts::default());
    unreachable.add_status_observer(net_attempts.clone());

    let mut status = untrusting.watch_status();
    let refused = within(20, "the untrusted certificate to be reported", async {
        status
            .wait_for(|s| s.last_error.is_some())
            .await
            .expect("status")
            .clone()
    })
    .await;
    let err = refused.last_error.expect("an error");
    assert!(
        matches!(err, ConnectError::UntrustedCertificate { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("certificate is not trusted"), "{text}");
    assert!(text.contains("CA certificate"), "says what to do: {text}");
    assert_eq!(refused.state, SyncState::Offline);

    within(30, "the unreachable client to retry five times", async {
        while net_attempts.count() < 5 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(matches!(
        unreachable.status().last_error,
        Some(ConnectError::Unreachable { .. })
    ));
    // (The observer may have been added after the first attempt: at most one.)
    assert!(
        tls_attempts.count() <= 1,
        "an untrusted certificate waits the longest backoff before trying again: {} attempts",
        tls_attempts.count()
    );
    assert_eq!(
        untrusting.status().state,
        SyncState::Offline,
        "never connected"
    );
    untrusting.stop().await;
    unreachable.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let old_ca = TestCa::new("old CA");
    let new_ca = TestCa::new("new CA");
    let relay = tls_relay(dir.path(), &old_ca);
    handshake(relay.addr, &old_ca)
        .await
        .expect("the first certificate");
    let err = handshake(relay.addr, &new_ca)
        .await
        .expect_err("not yet renewed");
    assert!(err.to_string().contains("not trusted"), "{err}");

    // A renewal tool writes a key that does not go with the certificate yet: the relay
    // keeps serving the previous pair.
    let (_, stray_key) = new_ca.issue(&["localhost"]);
    replace(&dir.path().join("relay-key.pem"), &stray_key);
    handshake(relay.addr, &old_ca)
        .await
        .expect("still the first certificate while the pair is inconsistent");

    // Renewed: the next connection gets the new certificate, from the same process.
    let pid = relay.pid();
    new_ca.write_relay_files(dir.path());
    handshake(relay.addr, &new_ca)
        .await
        .expect("the renewed certificate");
    let err = handshake(relay.addr, &old_ca)
        .await
        .expect_err("the old certificate is gone");
    assert!(matches!(err, ConnectError::UntrustedCertificate { .. }));
    assert_eq!(relay.pid(), pid, "no restart");
    let log = relay.log();
    assert!(log.contains("TLS certificate reloaded"), "{log}");
    assert!(log.contains("does not go with the certificate"), "{log}");
}

#[tokio::test]
async fn plain_websocket_to_another_machine_is_refused_unless_allowed() {
    let devices = tempfile::tempdir().expect("temp dir");
    let creds = Creds {
        token: "t".into(),
        member_id: "m".into(),
        role: "pa".into(),
        production_doc_id: String::new(),
        member_doc_id: None,
    };
    let dev = device(devices.path(), "pat", &creds);
    let scope = Arc::new(setlink_core::client::AllDocuments);
    let cfg = ClientConfig::new("ws://relay.example.org/sync", "t");
    let err = SyncClient::start(dev.clone(), cfg.clone(), scope.clone())
        .err()
        .expect("refused");
    assert!(
        matches!(err, ConnectError::InsecureRemote { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("relay.example.org") && text.contains("use wss://"),
        "{text}"
    );

    let allowed = ClientConfig {
        options: ConnectOptions {
            allow_insecure_remote: true,
            ..ConnectOptions::default()
        },
        ..cfg
    };
    let client = SyncClient::start(dev.clone(), allowed, scope.clone()).expect("allowed");
    client.stop().await;

    let bad_ca = ClientConfig {
        options: ConnectOptions {
            trusted_ca_pem: Some("not a certificate".into()),
            ..ConnectOptions::default()
        },
        ..ClientConfig::new("wss://relay.example.org/sync", "t")
    };
    let err = SyncClient::start(dev, bad_ca, scope).err().expect("bad CA");
    assert!(matches!(err, ConnectError::InvalidCa { .. }), "{err:?}");
}

#[test]
fn the_relay_refuses_to_start_with_a_key_that_does_not_match() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new("CA");
    let (cert, _) = ca.write_relay_files(dir.path());
    let (_, other_key) = ca.issue(&["localhost"]);
    let key = dir.path().join("other-key.pem");
    replace(&key, &other_key);
    let missing = dir.path().join("missing.pem");
    for (cert, key, says) in [
        (&cert, &key, "does not go with the certificate"),
        (&missing, &key, "cannot read the TLS certificate"),
        (&cert, &cert, "cannot read the TLS private key"),
    ] {
        let out = std::process::Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .expect("run the relay");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "expected `{says}` in: {stderr}");
    }
}
