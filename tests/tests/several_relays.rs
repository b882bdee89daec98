//! Several relays, one production: three relay processes on one real PostgreSQL server,
//! behind a real haproxy. Devices spread over the relays converge live; a PA and the
//! coordinator on different relays play PRODUCT.md's scenario; one relay SIGKILLed under
//! load loses nothing it answered for while its devices move to the others through the
//! load balancer; PostgreSQL restarted under load costs clear errors meanwhile and nothing
//! after; a revocation made on one relay closes the member's connections on all of them;
//! guesses of one code spread over the relays meet one limit; a dashboard session holds
//! on every relay; presence crosses relays.

use std::time::{Duration, Instant};

use automerge::{Automerge, ChangeHash, ReadDoc};
use setlink_core::model::run::{self, ReceiptInput, RunEvent, RunStatus};
use setlink_core::model::EventContext;
use setlink_core::{Author, DocKind, DocumentId};
use setlink_server::production_doc::read_index;
use setlink_tests::cluster::Cluster;
use setlink_tests::demo::assert_underground_outcome;
use setlink_tests::http::{self, redeem, Creds};
use setlink_tests::peer::{same_heads, Device};
use setlink_tests::{within, Peer, PeerDocs};

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

fn now_ms() -> i64 {
    setlink_server::auth::now_ms()
}

fn author(c: &Creds, device: &str) -> Author {
    Author {
        member_id: c.member_id.clone(),
        device_id: device.into(),
        role: c.role.parse().unwrap(),
    }
}

fn doc_of(index_doc: &Automerge, want: fn(&DocKind) -> bool) -> DocumentId {
    read_index(index_doc)
        .expect("index")
        .into_iter()
        .find_map(|(id, k)| want(&k).then_some(id))
        .expect("demo production lists the document")
}

/// Connects `c` to `url`, opens the production and its board, waits for both.
async fn board_peer(url: &str, c: &Creds, name: &str) -> (Peer, DocumentId) {
    let prod: DocumentId = c.production_doc_id.parse().unwrap();
    let p = Peer::connect(url, &c.token, PeerDocs::new(name))
        .await
        .unwrap_or_else(|e| panic!("{name} cannot connect to {url}: {e:?}"));
    p.open(prod);
    p.wait(10, "production doc", |d, _| {
        d.docs
            .get(&prod)
            .is_some_and(|x| read_index(x).is_ok_and(|i| i.len() >= 5))
    })
    .await;
    let board = p
        .read(prod, |d| doc_of(d, |k| matches!(k, DocKind::Board { .. })))
        .unwrap();
    p.open(board);
    p.wait(10, "board", move |d, _| {
        d.docs
            .get(&board)
            .is_some_and(|x| run::list_runs(x).is_ok_and(|r| !r.items.is_empty()))
    })
    .await;
    (p, board)
}

fn first_run(p: &Peer, board: DocumentId) -> String {
    p.read(board, |d| {
        run::list_runs(d).unwrap().items[0].id().to_owned()
    })
    .unwrap()
}

fn comments(d: &Automerge, run_id: &str) -> Vec<String> {
    run::read_run(d, run_id)
        .map(|r| r.record.comments.iter().map(|c| c.text.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_relay_reaches_subscribers_on_the_others_live() {
    let cluster = Cluster::start(BIN, 3, &[]);
    let [a, b, c] = [0, 1, 2].map(|i| &cluster.relays[i]);
    let casey = redeem(a.addr, cluster.code("coordinator"), "Casey", "casey").await;
    let pat = redeem(b.addr, cluster.code("pa"), "Pat", "pat").await;
    let olive = redeem(c.addr, cluster.code("office"), "Olive", "olive").await;
    let (on_a, board) = board_peer(&a.ws_url(), &casey, "casey").await;
    let (on_b, _) = board_peer(&b.ws_url(), &pat, "pat").await;
    let (on_c, _) = board_peer(&c.ws_url(), &olive, "olive").await;
    // And one more device through the load balancer, wherever it lands.
    let (via_lb, _) = board_peer(&cluster.lb.ws_url(), &casey, "casey-phone").await;
    let run_id = first_run(&on_a, board);

    // Each writes on its own relay; every other device hears it without reconnecting.
    for (i, (who, creds, device)) in [
        (&on_a, &casey, "casey"),
        (&on_b, &pat, "pat"),
        (&on_c, &olive, "olive"),
        (&via_lb, &casey, "casey-phone"),
    ]
    .into_iter()
    .enumerate()
    {
        let text = format!("note {i} from {device}");
        who.change(board, |d| {
            run::add_comment(d, &author(creds, device), now_ms(), &run_id, &text).unwrap()
        });
        let heads = who.heads(board);
        for other in [&on_a, &on_b, &on_c, &via_lb] {
            other.wait_heads(board, &heads, 10).await;
        }
        for other in [&on_a, &on_b, &on_c, &via_lb] {
            let seen = other.read(board, |d| comments(d, &run_id)).unwrap();
            assert!(seen.contains(&text), "{text:?} missing from {seen:?}");
        }
    }
    // Presence too: the PA's ETA, sent on relay B, reaches the coordinator on relay A and
    // the office on relay C (never stored, carried by PostgreSQL NOTIFY).
    on_b.broadcast(board, b"eta 12 min".to_vec());
    for (who, name) in [(&on_a, "relay A"), (&on_c, "relay C")] {
        who.wait(10, "the PA's presence on another relay", move |_, s| {
            s.ephemeral
                .iter()
                .any(|(d, _, data)| *d == board && data == b"eta 12 min")
        })
        .await;
        let copies = who.seen(|s| s.ephemeral.len());
        assert_eq!(copies, 1, "{name} heard the presence {copies} times");
    }
    // Every relay stored the same document: a fresh device on each gets the same heads.
    let want = on_a.heads(board);
    for r in &cluster.relays {
        let (fresh, _) = board_peer(&r.ws_url(), &casey, "fresh").await;
        fresh.wait_heads(board, &want, 10).await;
    }
    for peer in [&on_a, &on_b, &on_c, &via_lb] {
        assert_eq!(peer.seen(|s| s.errors.clone()), Vec::<String>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pa_offline_on_one_relay_while_the_coordinator_edits_on_another_then_both_converge() {
    let cluster = Cluster::start(BIN, 3, &[]);
    let office_relay = &cluster.relays[0];
    let casey = redeem(
        office_relay.addr,
        cluster.code("coordinator"),
        "Casey",
        "casey",
    )
    .await;
    let pat = redeem(cluster.relays[1].addr, cluster.code("pa"), "Pat", "pat").await;
    // A second PA, invited by the coordinator on the third relay.
    let (status, inv) = http::request(
        cluster.relays[2].addr,
        "POST",
        "/api/invites",
        Some(&casey.token),
        Some(&serde_json::json!({"role": "pa"})),
    )
    .await;
    assert_eq!(status, 200, "{inv}");
    let code = inv["code"].as_str().unwrap();
    let riley = redeem(cluster.relays[0].addr, code, "Riley", "riley").await;
    let (c, board) = board_peer(&office_relay.ws_url(), &casey, "casey").await;
    let (p, _) = board_peer(&cluster.relays[1].ws_url(), &pat, "pat").await;
    let ids: Vec<(String, String)> = p
        .read(board, |d| {
            run::list_runs(d)
                .unwrap()
                .items
                .iter()
                .map(|r| (r.record.title.clone(), r.id().to_owned()))
                .collect()
        })
        .unwrap();
    let id_of = |title: &str| {
        ids.iter()
            .find(|(t, _)| t == title)
            .map(|(_, id)| id.clone())
            .unwrap_or_else(|| panic!("no run {title:?} in {ids:?}"))
    };
    let coffee = id_of("Coffee for camera dept");
    let batteries = id_of("Pick up walkie batteries");
    let tape = id_of("Gaffer tape and sharpies");
    let casey_a = author(&casey, "casey");
    let pat_a = author(&pat, "pat");
    // Before going underground the PA holds the tape run too (the demo may have given it
    // to them already).
    let holder = c.read(board, |d| run::run_state(d, &tape).unwrap().assignee);
    if holder != Some(Some(pat.member_id.clone())) {
        c.change(board, |d| {
            run::assign(
                d,
                &casey_a,
                now_ms(),
                &tape,
                &pat.member_id,
                EventContext::none(),
            )
            .unwrap()
        });
    }
    p.wait_heads(board, &c.heads(board), 10).await;

    // The PA goes underground: two pickups, a receipt and a delivery, all offline.
    let mut offline = p.disconnect().await;
    {
        let d = offline.docs.get_mut(&board).unwrap();
        for r in [&coffee, &batteries] {
            run::record_status(
                d,
                &pat_a,
                now_ms(),
                r,
                RunEvent::PickUp,
                EventContext::none(),
            )
            .unwrap();
        }
        let receipt = ReceiptInput {
            vendor: "Blue Bottle".into(),
            total_cents: 4250,
            tax_cents: 350,
            account_code: Some("2100".into()),
            photo_ref: None,
        };
        run::add_receipt(d, &pat_a, now_ms(), &coffee, receipt).unwrap();
        run::record_status(
            d,
            &pat_a,
            now_ms(),
            &coffee,
            RunEvent::Deliver,
            EventContext::note("left with the 2nd AC"),
        )
        .unwrap();
    }
    // Meanwhile the coordinator, on another relay, hands the tape run to Riley.
    c.change(board, |d| {
        run::assign(
            d,
            &casey_a,
            now_ms(),
            &tape,
            &riley.member_id,
            EventContext::note("Pat is underground"),
        )
        .unwrap()
    });
    // Signal returns: the phone comes back through the load balancer, on any relay.
    let p = Peer::connect(&cluster.lb.ws_url(), &pat.token, offline)
        .await
        .unwrap();
    let converged = async {
        while !(same_heads(&c.heads(board), &p.heads(board))
            && c.read(board, |d| run::run_state(d, &coffee).ok().map(|s| s.status))
                == Some(Some(RunStatus::Delivered)))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    within(15, "the PA and the coordinator to converge", converged).await;
    for peer in [&c, &p] {
        let runs = [coffee.as_str(), batteries.as_str(), tape.as_str()];
        assert_underground_outcome(peer, board, runs, &riley.member_id);
    }
}

/// Devices that write a comment each every few milliseconds through the load balancer,
/// reconnecting (through it) whenever their connection drops.
struct Writers {
    devices: Vec<(Device, Author)>,
    run_id: String,
    board: DocumentId,
    written: Vec<String>,
    round: u64,
}

impl Writers {
    async fn start(cluster: &Cluster, n: usize) -> Writers {
        let relay = &cluster.relays[0];
        let coord = redeem(relay.addr, cluster.code("coordinator"), "Casey", "c").await;
        let (seed, board) = board_peer(&relay.ws_url(), &coord, "seed").await;
        let run_id = first_run(&seed, board);
        let seeded = seed.disconnect().await;
        let mut devices = Vec::new();
        for i in 0..n {
            let role = ["coordinator", "office", "pa"][i % 3];
            let c = redeem(relay.addr, cluster.code(role), "w", &format!("w{i}")).await;
            let mut docs = PeerDocs::new(&format!("w{i}"));
            // Each device its own copy of the board under its own actor: copies sharing
            // an actor would write different changes with the same sequence numbers.
            docs.docs = seeded.docs.clone();
            for d in docs.docs.values_mut() {
                d.set_actor(automerge::ActorId::random());
            }
            let mut d = Device::new(&cluster.lb.ws_url(), &c.token, docs);
            assert!(
                d.tick().await,
                "w{i} cannot connect through the load balancer"
            );
            d.peer().unwrap().open(board);
            devices.push((d, author(&c, &format!("w{i}"))));
        }
        Writers {
            devices,
            run_id,
            board,
            written: Vec::new(),
            round: 0,
        }
    }

    /// One comment per device, each device reconnecting first if it must.
    async fn write_round(&mut self) {
        self.round += 1;
        for (i, (d, who)) in self.devices.iter_mut().enumerate() {
            // A reconnected device syncs every document it holds, the board among them.
            d.tick().await;
            let text = format!("w{i}-{}", self.round);
            let run_id = self.run_id.clone();
            d.change(self.board, |doc| {
                run::add_comment(doc, who, now_ms(), &run_id, &text).unwrap()
            });
            self.written.push(text);
        }
    }

    async fn write_for(&mut self, how_long: Duration) {
        let started = Instant::now();
        while started.elapsed() < how_long {
            self.write_round().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// What each connected device's relay has acknowledged so far.
    fn acknowledged(&self) -> Vec<ChangeHash> {
        self.devices
            .iter()
            .filter_map(|(d, _)| d.peer())
            .flat_map(|p| p.acknowledged(self.board))
            .collect()
    }

    /// Every device reconnects as needed until all hold the same heads and every comment
    /// ever written, none twice.
    async fn converge(&mut self, reader: &Peer, secs: u64) {
        let board = self.board;
        let run_id = self.run_id.clone();
        let want = self.written.len();
        let converge = async {
            let mut last_log = Instant::now();
            loop {
                for (d, _) in self.devices.iter_mut() {
                    d.tick().await;
                }
                let r = reader.heads(board);
                let seen = reader
                    .read(board, |d| comments(d, &run_id))
                    .unwrap_or_default();
                let writers_mine = seen.iter().filter(|t| t.starts_with('w')).count();
                if self
                    .devices
                    .iter()
                    .all(|(d, _)| same_heads(&d.heads(board), &r))
                    && writers_mine == want
                {
                    for t in &self.written {
                        assert_eq!(
                            seen.iter().filter(|s| *s == t).count(),
                            1,
                            "comment {t:?} lost or duplicated"
                        );
                    }
                    break;
                }
                if last_log.elapsed() > Duration::from_secs(3) {
                    last_log = Instant::now();
                    eprintln!("still converging: reader has {writers_mine} of {want} comments");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        within(secs, "every device to converge", converge).await;
    }
}

/// A device reading the board through relay `i`, directly.
async fn reader_on(cluster: &Cluster, i: usize, name: &str) -> Peer {
    let r = &cluster.relays[i];
    let c = redeem(r.addr, cluster.code("office"), "Reader", name).await;
    board_peer(&r.ws_url(), &c, name).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_one_relay_under_load_its_devices_move_to_the_others_and_nothing_is_lost() {
    let mut cluster = Cluster::start(BIN, 3, &[]);
    let mut writers = Writers::start(&cluster, 6).await;
    writers.write_for(Duration::from_millis(1500)).await;
    // Kill the relay serving the most devices. Round robin meant to spread the six over
    // the three, but a relay slow to answer one health check on a busy machine leaves the
    // rotation for a moment, so which relay serves whom is asked, not assumed.
    let mut open = Vec::new();
    for r in &cluster.relays {
        open.push(http::metric(
            &http::metrics(r.addr).await,
            "setlink_connections_open",
        ));
    }
    let victim = (0..open.len()).max_by_key(|&i| open[i]).unwrap();
    assert!(open[victim] > 0, "no relay serves a device: {open:?}");
    eprintln!("connections open per relay: {open:?}; killing relay {victim}");
    cluster.relays[victim].kill();
    let acked = writers.acknowledged();
    assert!(!acked.is_empty(), "no relay acknowledged anything");
    // Keep writing: devices of the dead relay reconnect through haproxy to the others.
    let reconnects = |w: &Writers| w.devices.iter().map(|(d, _)| d.reconnects).sum::<u64>();
    let deadline = Instant::now() + Duration::from_secs(20);
    while reconnects(&writers) <= 6 && Instant::now() < deadline {
        writers.write_for(Duration::from_millis(250)).await;
    }
    assert!(
        reconnects(&writers) > 6,
        "no device of the killed relay reconnected within 20 s: {:?}\n---- haproxy log ----\n{}",
        writers
            .devices
            .iter()
            .map(|(d, _)| d.describe())
            .collect::<Vec<_>>(),
        cluster.lb.log()
    );
    writers.write_for(Duration::from_millis(500)).await;
    // Every change any relay acknowledged before the kill is on the surviving relays.
    let survivors: Vec<usize> = (0..cluster.relays.len()).filter(|&i| i != victim).collect();
    for &i in &survivors {
        let reader = reader_on(&cluster, i, &format!("reader{i}")).await;
        let want = acked.clone();
        let board = writers.board;
        reader
            .wait(15, "every acknowledged change", move |d, _| {
                d.docs
                    .get(&board)
                    .is_some_and(|x| want.iter().all(|h| x.get_change_by_hash(h).is_some()))
            })
            .await;
    }
    let reader = reader_on(&cluster, survivors[1], "reader").await;
    writers.converge(&reader, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_relays_report_it_recover_and_lose_nothing() {
    let cluster = Cluster::start(BIN, 3, &[]);
    let mut writers = Writers::start(&cluster, 6).await;
    let watcher = reader_on(&cluster, 1, "watcher").await;
    writers.write_for(Duration::from_millis(800)).await;

    cluster.postgres.stop().unwrap();
    // Meanwhile: the relays say what is wrong instead of answering for changes they cannot
    // store, and devices keep editing offline-first.
    let relay = cluster.relays[0].addr;
    let down = async {
        loop {
            let (status, body) = http::request(relay, "GET", "/healthz", None, None).await;
            if status == 503 {
                break body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let body = within(15, "/healthz to report the database down", down).await;
    let text = body.to_string().to_lowercase();
    assert!(
        text.contains("postgres") || text.contains("database"),
        "/healthz does not say what failed: {body}"
    );
    writers.write_for(Duration::from_millis(800)).await;

    cluster.postgres.start_again().unwrap();
    for r in &cluster.relays {
        let up = async {
            while http::request(r.addr, "GET", "/healthz", None, None).await.0 != 200 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        within(30, "/healthz to recover after PostgreSQL is back", up).await;
    }
    writers.write_for(Duration::from_millis(800)).await;
    // Everything anyone wrote, before, during and after, reaches a device on another relay,
    // without any device having to reconnect: the relays ask for what they refused.
    writers.converge(&watcher, 60).await;
    let reconnects: u64 = writers.devices.iter().map(|(d, _)| d.reconnects).sum();
    assert_eq!(
        reconnects, 6,
        "devices had to reconnect to get their changes in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_member_on_one_relay_closes_their_connections_on_every_relay() {
    let cluster = Cluster::start(BIN, 3, &[]);
    let casey = redeem(
        cluster.relays[0].addr,
        cluster.code("coordinator"),
        "Casey",
        "c",
    )
    .await;
    let pat = redeem(cluster.relays[1].addr, cluster.code("pa"), "Pat", "p").await;
    let mut on_each = Vec::new();
    for (i, r) in cluster.relays.iter().enumerate() {
        on_each.push(board_peer(&r.ws_url(), &pat, &format!("pat{i}")).await.0);
    }
    let (status, body) = http::request(
        cluster.relays[0].addr,
        "POST",
        &format!("/api/members/{}/revoke", pat.member_id),
        Some(&casey.token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for (i, p) in on_each.iter().enumerate() {
        p.wait(5, "the revoked member's connection to close", |_, s| {
            s.closed.is_some()
        })
        .await;
        assert!(
            p.seen(|s| s.closed.is_some()),
            "relay {i} kept the connection"
        );
    }
    // And no relay lets them back in, directly or through the load balancer.
    for url in [cluster.relays[2].ws_url(), cluster.lb.ws_url()] {
        let full = format!("{url}?token={}", pat.token);
        let (_, code, _) = setlink_tests::peer::refused_connection(&full).await;
        assert_eq!(code, 4401, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_a_code_across_relays_meets_one_limit_and_the_cli_reaches_every_relay() {
    let cluster = Cluster::start(BIN, 3, &["--sign-in-per-code-per-min", "3"]);
    // Guesses of one code spread over the three relays count together: the fourth is
    // refused, whichever relay it reaches.
    let guess = serde_json::json!({"code": "AAAA-BBBB-CCCC", "name": "x", "device_id": "d"});
    let mut statuses = Vec::new();
    for i in 0..4 {
        let relay = cluster.relays[i % 3].addr;
        let (status, _) = http::request(relay, "POST", "/api/redeem", None, Some(&guess)).await;
        statuses.push(status);
    }
    assert_eq!(statuses, vec![403, 403, 403, 429], "{statuses:?}");

    // The admin commands work on the shared database: a member revoked with the CLI loses
    // the connection they hold on another relay.
    let pat = redeem(cluster.relays[1].addr, cluster.code("pa"), "Pat", "p").await;
    let (on_c, _) = board_peer(&cluster.relays[2].ws_url(), &pat, "pat").await;
    let (ok, out, err) = cluster.cli(BIN, &["member", "list"]);
    assert!(
        ok && out.contains(&pat.member_id),
        "member list: {out}{err}"
    );
    let (ok, _, err) = cluster.cli(BIN, &["member", "revoke", &pat.member_id]);
    assert!(ok, "member revoke: {err}");
    // The README's way: the database in SETLINK_DATABASE, a production made from the CLI.
    let out = std::process::Command::new(BIN)
        .args(["production", "create", "--title", "My Show"])
        .args([
            "--coordinator-name",
            "Casey",
            "--timezone",
            "America/Los_Angeles",
        ])
        .env("SETLINK_DATABASE", &cluster.database_url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, listed, _) = cluster.cli(BIN, &["member", "list"]);
    assert!(ok && listed.contains("My Show"), "{listed}");
    on_c.wait(5, "the revoked member's connection to close", |_, s| {
        s.closed.is_some()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_session_holds_on_every_relay_until_it_signs_out_on_one() {
    use setlink_tests::dashboard::{sign_in, Session};
    let cluster = Cluster::start(BIN, 3, &[]);
    let on_a = sign_in(cluster.relays[0].addr, cluster.code("coordinator"))
        .await
        .unwrap_or_else(|r| panic!("sign-in refused: {} {}", r.status, r.body));
    // The same cookie on the other relays (the load balancer may send the next request
    // anywhere): the board, with the demo's runs, and a run created through relay B is on
    // the board relay C serves.
    let on = |i: usize| Session {
        addr: cluster.relays[i].addr,
        cookie: on_a.cookie.clone(),
        csrf: on_a.csrf.clone(),
    };
    for i in 1..3 {
        let board = on(i).get("/dashboard/board").await;
        assert_eq!(board.status, 200, "relay {i}: {}", board.body);
        assert!(board.body.contains("Coffee for camera dept"), "relay {i}");
    }
    let made = on(1)
        .post(
            "/dashboard/runs",
            &[
                ("title", "Ice for the cooler"),
                ("kind", "supply_purchase"),
                ("requested_by", "Craft services"),
            ],
        )
        .await;
    assert!(made.status < 400, "{} {}", made.status, made.body);
    let board = on(2).get("/dashboard/board").await;
    assert!(board.body.contains("Ice for the cooler"), "{}", board.body);
    // Signing out on one relay ends the session on all of them.
    let out = on(2).post("/dashboard/signout", &[]).await;
    assert!(out.status < 400, "{} {}", out.status, out.body);
    for i in 0..3 {
        let r = on(i).get("/dashboard/board").await;
        assert_ne!(r.status, 200, "relay {i} still serves a signed-out session");
    }
}
