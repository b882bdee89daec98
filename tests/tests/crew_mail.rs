//! Call sheets by email, with a real SMTP server process (aiosmtpd, tests/mail/) and a
//! real browser publishing: the mail server down at publish, the relay SIGKILLed while the
//! email waits, then the server up: every member with an address gets exactly one email
//! with their call, what changed and their link; a refused address shows as bounced; a
//! reminder goes only to who has not confirmed, and one who confirms before it goes is
//! skipped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use setlink_tests::certs::TestCa;
use setlink_tests::dashboard::{setup_browser, sign_in, Script, Session};
use setlink_tests::http::{redeem, request};
use setlink_tests::{within, Relay};
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `python tests/mail/smtp_server.py PORT DIR [OPTIONS]`, from the venv
/// scripts/install-deps.sh makes.
async fn smtp_server(port: u16, out: &Path, options: &[&str]) -> tokio::process::Child {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("mail/.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-deps.sh (it installs aiosmtpd)",
        python.display()
    );
    let mut child = tokio::process::Command::new(python)
        .arg(root.join("mail/smtp_server.py"))
        .arg(port.to_string())
        .arg(out)
        .args(options)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the SMTP server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = within(20, "the SMTP server", lines.next_line()).await;
    assert_eq!(ready.unwrap().as_deref(), Some("SMTP_READY"));
    child
}

/// The messages the SMTP server accepted, as text, oldest first.
fn messages(dir: &Path) -> Vec<String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// The key in a member's link page.
async fn link_key(office: &Session, member: &str) -> String {
    let page = office
        .get(&format!("/dashboard/crew-link?member={member}"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let start = page.body.find("/crew/#k=").expect("a link") + "/crew/#k=".len();
    page.body[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect()
}

/// The acknowledgements page's email cell for `member`, `kind` (`published`/`reminder`).
fn mail_state(acks: &str, member: &str, kind: &str) -> Option<String> {
    let row = acks.find(&format!("data-member=\"{member}\""))?;
    let row_end = acks[row..].find("</tr>").map(|e| row + e)?;
    let cell = &acks[row..row_end];
    let at = cell.find(&format!("data-kind=\"{kind}\" data-mail=\""))?
        + format!("data-kind=\"{kind}\" data-mail=\"").len();
    Some(cell[at..].split('"').next()?.to_owned())
}

/// Polls the acknowledgements page until the email is in state `want`. Up to 150 s: an
/// email claimed at the instant the relay was killed waits out its lease (120 s).
async fn wait_state(office: &Session, day: &str, member: &str, kind: &str, want: &str) -> String {
    for _ in 0..750 {
        let acks = office.get(&format!("/dashboard/acks?day={day}")).await;
        if mail_state(&acks.body, member, kind).as_deref() == Some(want) {
            return acks.body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let acks = office.get(&format!("/dashboard/acks?day={day}")).await;
    panic!(
        "{member}'s {kind} email is {:?}, not {want}",
        mail_state(&acks.body, member, kind)
    );
}

/// Sets the member's email on their link page; the status the dashboard answered.
async fn set_email(office: &Session, member: &str, email: &str) -> u16 {
    let r = office
        .post(
            "/dashboard/crew-link/email",
            &[("member", member), ("email", email)],
        )
        .await;
    assert!(r.status == 303 || r.status == 400, "{}", r.body);
    r.status
}

/// Schedules a reminder at a time already past (due at once); where the page went.
async fn remind_now(office: &Session, day: &str) -> String {
    let r = office
        .post(
            &format!("/dashboard/acks/remind?day={day}"),
            &[("remind_at", "2020-01-01T08:00")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    r.location.unwrap_or_default()
}

async fn confirm(relay: &Relay, key: &str, day: &str, revision: i64) {
    let body = json!({ "day": day, "revision": revision, "level": "confirmed" });
    let (st, v) = request(relay.addr, "POST", "/crew/api/ack", Some(key), Some(&body)).await;
    assert_eq!(st, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_sheets_by_email_survive_a_mail_server_outage_and_a_relay_kill() {
    setup_browser();
    let dir = tempfile::tempdir().unwrap();
    let inbox = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let mut relay = Relay::start(
        BIN,
        dir.path(),
        &[
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--smtp-security",
            "none",
            "--mail-from",
            "Production Office <office@example.com>",
            "--mail-retry-secs",
            "1",
            "--public-url",
            "https://set.example.com",
        ],
    );
    let day = relay.day.clone();
    let cam = redeem(relay.addr, relay.code("crew"), "Cam", "cam-phone").await;
    let pat = redeem(relay.addr, relay.code("pa"), "Pat", "pat-phone").await;
    let office = sign_in(relay.addr, relay.code("coordinator"))
        .await
        .unwrap();
    let coord_member = {
        let c = redeem(
            relay.addr,
            relay.code("coordinator"),
            "Casey",
            "casey-phone",
        )
        .await;
        c.member_id
    };
    for (member, email) in [
        (&cam.member_id, "cam@example.com"),
        (&pat.member_id, "bounce@example.com"),
        (&coord_member, "casey@example.com"),
    ] {
        assert_eq!(set_email(&office, member, email).await, 303);
    }
    assert_eq!(
        set_email(&office, &cam.member_id, "not an address").await,
        400
    );

    // Published in the browser while the mail server is down.
    let base = format!("http://{}", relay.addr);
    let mut script = Script::start(
        "mail.mjs",
        &[
            ("DASH_BASE", base.as_ref()),
            ("DASH_CODE", relay.code("coordinator").as_ref()),
            ("DASH_DAY", day.as_ref()),
        ],
    );
    let published = script.step("published").await;
    let notice = published["notice"].as_str().unwrap();
    assert!(notice.contains("Email queued for 3 members"), "{notice}");
    script.step("done").await;
    wait_state(&office, &day, &cam.member_id, "published", "retrying").await;

    // Cam confirms; a reminder for whoever has not (a time already past: due at once).
    let cam_key = link_key(&office, &cam.member_id).await;
    confirm(&relay, &cam_key, &day, 2).await;
    let went = remind_now(&office, &day).await;
    assert!(went.contains("reminders=2"), "Casey and Pat: {went}");
    // Casey confirms before the reminder can go.
    let casey_key = link_key(&office, &coord_member).await;
    confirm(&relay, &casey_key, &day, 2).await;

    // The relay dies with everything still queued; then the mail server comes up.
    relay.restart();
    let _smtp = smtp_server(port.parse().unwrap(), inbox.path(), &[]).await;
    wait_state(&office, &day, &cam.member_id, "published", "sent").await;
    wait_state(&office, &day, &coord_member, "published", "sent").await;
    let acks = wait_state(&office, &day, &pat.member_id, "published", "bounced").await;
    assert!(acks.contains("550"), "the server's reason is shown");
    wait_state(&office, &day, &coord_member, "reminder", "skipped").await;
    wait_state(&office, &day, &pat.member_id, "reminder", "bounced").await;
    assert_eq!(mail_state(&acks, &cam.member_id, "reminder"), None);

    // Exactly one email each, nothing again after a while.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = messages(inbox.path());
    assert_eq!(got.len(), 2, "{got:#?}");
    let to_cam: Vec<&String> = got
        .iter()
        .filter(|m| m.starts_with("X-Envelope-To: cam@example.com"))
        .collect();
    assert_eq!(to_cam.len(), 1, "{got:#?}");
    let m = to_cam[0];
    for want in [
        "From: Production Office <office@example.com>",
        "your call 05:45",
        "Your call: 05:45",
        "What changed since revision 1:",
        &format!("https://set.example.com/crew/#k={cam_key}"),
    ] {
        assert!(m.contains(want), "{want:?} missing from:\n{m}");
    }
    assert!(got
        .iter()
        .any(|m| m.starts_with("X-Envelope-To: casey@example.com")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_over_starttls_with_a_password_to_a_server_with_its_own_ca() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::new("setlink test mail CA");
    let (chain, key) = ca.issue(&["localhost"]);
    let (cert_path, key_path, ca_path) = (
        certs.path().join("smtp.pem"),
        certs.path().join("smtp-key.pem"),
        certs.path().join("ca.pem"),
    );
    std::fs::write(&cert_path, chain).unwrap();
    std::fs::write(&key_path, key).unwrap();
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let port = free_port();
    let _smtp = smtp_server(
        port,
        inbox.path(),
        &[
            "--starttls",
            cert_path.to_str().unwrap(),
            key_path.to_str().unwrap(),
            "--auth",
            "office:s3cret pass",
        ],
    )
    .await;

    // A CA file that cannot be read stops the relay before it serves anything.
    let refused = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("unused"))
        .args([
            "--smtp-host",
            "localhost",
            "--mail-from",
            "Office <office@example.com>",
        ])
        .args(["--smtp-ca", "/nonexistent/ca.pem"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("cannot read --smtp-ca /nonexistent/ca.pem"),
        "{stderr}"
    );

    let port = port.to_string();
    let ca_arg = ca_path.to_str().unwrap();
    let relay = Relay::start(
        BIN,
        dir.path(),
        &[
            "--smtp-host",
            "localhost",
            "--smtp-port",
            &port,
            "--smtp-security",
            "starttls",
            "--smtp-ca",
            ca_arg,
            "--smtp-user",
            "office",
            "--smtp-password",
            "s3cret pass",
            "--mail-from",
            "Production Office <office@example.com>",
        ],
    );
    let day = relay.day.clone();
    let cam = redeem(relay.addr, relay.code("crew"), "Cam", "cam-phone").await;
    let office = sign_in(relay.addr, relay.code("coordinator"))
        .await
        .unwrap();
    assert_eq!(
        set_email(&office, &cam.member_id, "cam@example.com").await,
        303
    );
    // A reminder due at once (the demo's revision 1 is published and unconfirmed).
    remind_now(&office, &day).await;
    wait_state(&office, &day, &cam.member_id, "reminder", "sent").await;
    let got = messages(inbox.path());
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].starts_with("X-Envelope-To: cam@example.com"),
        "{}",
        got[0]
    );
    assert!(
        got[0].contains("Subject: Please confirm your call"),
        "{}",
        got[0]
    );
    assert!(got[0].contains("You have not confirmed"), "{}", got[0]);
}
