//! The coordinator dashboard against the real relay binary, spoken to as a browser would
//! (cookies, forms, Origin): every bad input is refused with a clear page and leaves the
//! documents untouched. The same dashboard in a real browser is `dashboard_browser.rs`.

use std::time::Duration;

use setlink_core::model::run::{self, RunStatus};
use setlink_tests::board::{board_device, run_titled, status_of};
use setlink_tests::dashboard::{send, sign_in, Resp};
use setlink_tests::http::{self, redeem};
use setlink_tests::Relay;

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

/// Lets any change the relay might (wrongly) have made reach the device.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

fn assert_refused(r: &Resp, status: u16, needle: &str) {
    assert_eq!(
        r.status, status,
        "expected {status}, got {}: {}",
        r.status, r.body
    );
    assert!(
        r.body.contains(needle),
        "the refusal should say `{needle}`; it says:\n{}",
        r.body
    );
}

// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_refuses_bad_input_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let addr = relay.addr;
    let coord = redeem(addr, relay.code("coordinator"), "Casey", "casey-phone").await;
    let (dev, _prod, board) = board_device(&relay, &coord, "casey-phone").await;
    let day = relay.day.clone();
    let sides = run_titled(&dev, board, "Sides to set");

    // Nobody signed in.
    let r = send(addr, "GET", "/dashboard/board", None, None, &[]).await;
    assert_refused(&r, 401, "not signed in");
    let r = send(
        addr,
        "GET",
        "/dashboard/board",
        Some("forged-cookie"),
        None,
        &[],
    )
    .await;
    assert_refused(&r, 401, "not signed in");

    // PAs and crew are refused at the door with a clear message, and get no session.
    for role in ["pa", "crew"] {
        let r = sign_in(addr, relay.code(role))
            .await
            .err()
            .expect("refused");
        assert_refused(&r, 403, "uses the setlink app");
        assert!(r.set_cookie.is_none());
    }
    let r = sign_in(addr, "ZZZZ-ZZZZ-ZZZZ")
        .await
        .err()
        .expect("refused");
    assert_refused(&r, 401, "unknown invite code");
    // A device's bearer token is a credential for sign-in, never for the pages themselves.
    let pa_phone = redeem(addr, relay.code("pa"), "Pat", "pat-phone").await;
    let bearer = format!("Bearer {}", pa_phone.token);
    let r = send(
        addr,
        "GET",
        "/dashboard/board",
        None,
        None,
        &[("authorization", &bearer)],
    )
    .await;
    assert_refused(&r, 401, "not signed in");
    let r = sign_in(addr, &pa_phone.token).await.err().expect("refused");
    assert_refused(&r, 403, "a pa uses the setlink app");
    let r = sign_in(addr, "slk_0000").await.err().expect("refused");
    assert_refused(&r, 401, "unknown token");
    let by_token = sign_in(addr, &coord.token)
        .await
        .expect("a coordinator's token signs in");
    // A page that names no day opens on the relay's today (the day the demo seeded).
    let default_board = by_token.get("/dashboard/board").await;
    assert_eq!(default_board.status, 200);
    assert!(
        default_board.body.contains(&format!("board for {day}")),
        "the dashboard's default day is the relay's today, {day}"
    );

    let s = sign_in(addr, relay.code("coordinator"))
        .await
        .expect("coordinator signs in");
    let heads = dev.heads(board);

    // Invalid form values.
    let base = |extra: &[(&'static str, &'static str)]| {
        let mut f: Vec<(&str, &str)> = vec![
            ("title", "Walkies"),
            ("requested_by", "Sound"),
            ("kind", "pickup"),
        ];
        f.extend_from_slice(extra);
        f
    };
    let mut dayf = base(&[("kind", "spaceship")]);
    dayf.retain(|(k, v)| *k != "kind" || *v == "spaceship");
    dayf.push(("day", &day));
    let r = s.post("/dashboard/runs", &dayf).await;
    assert_refused(&r, 400, "is not a kind of run");
    let mut f = base(&[("needed_by", "7pm")]);
    f.push(("day", &day));
    assert_refused(&s.post("/dashboard/runs", &f).await, 400, "is not a time");
    let mut f = base(&[("priority", "whenever")]);
    f.push(("day", &day));
    assert_refused(
        &s.post("/dashboard/runs", &f).await,
        400,
        "is not a priority",
    );
    let f = [
        ("title", " "),
        ("requested_by", "Sound"),
        ("kind", "pickup"),
        ("day", day.as_str()),
    ];
    assert_refused(
        &s.post("/dashboard/runs", &f).await,
        400,
        "A title is required",
    );
    let mut f = base(&[]);
    f.push(("day", "2026-13-45"));
    assert_refused(&s.post("/dashboard/runs", &f).await, 400, "is not a day");
    let long = "x".repeat(300_000);
    let r = s.post("/dashboard/runs", &[("title", long.as_str())]).await;
    assert_eq!(r.status, 413, "oversized form: {}", r.body);
    let path = format!("/dashboard/runs/{sides}/status");
    assert_refused(
        &s.post(&path, &[("day", &day), ("action", "explode")]).await,
        400,
        "is not something the dashboard does to a run",
    );
    let crew_member = redeem(addr, relay.code("crew"), "Cam", "cam-phone").await;
    let assign = format!("/dashboard/runs/{sides}/assign");
    assert_refused(
        &s.post(
            &assign,
            &[("day", &day), ("assignee", &crew_member.member_id)],
        )
        .await,
        400,
        "is not an active PA, office or coordinator",
    );
    assert_refused(
        &s.post(&assign, &[("day", &day), ("assignee", "no-such-member")])
            .await,
        400,
        "is not an active PA",
    );
    assert_refused(
        &s.post(
            "/dashboard/runs/no-such-run/status",
            &[("day", &day), ("action", "cancel")],
        )
        .await,
        404,
        "no run `no-such-run`",
    );
    assert_refused(
        &s.post(
            "/dashboard/tasks",
            &[("day", &day), ("title", "x"), ("category", "juggling")],
        )
        .await,
        400,
        "is not a task category",
    );
    let r = s
        .post(
            &format!("/dashboard/callsheet?day={day}"),
            &[
                ("production_title", "X"),
                ("crew_calls", "Camera | DP | Ana | soonish"),
            ],
        )
        .await;
    assert_refused(&r, 400, "Crew calls, line 1");
    // A day nobody has written a call sheet for: publishing posts the whole sheet, so an
    // empty post is refused as a sheet without a title, the form back in its page.
    let empty_day = "2031-05-06";
    let r = s
        .post(
            &format!("/dashboard/callsheet/publish?day={empty_day}"),
            &[],
        )
        .await;
    assert_refused(&r, 400, "Production title is required");
    assert!(r.body.contains("id=\"sheet\""), "{}", r.body);
    let r = s
        .get(&format!("/dashboard/print.pdf?day={empty_day}"))
        .await;
    assert_refused(&r, 404, "no call sheet has been published");
    let r = s
        .get(&format!("/dashboard/print.pdf?day={day}&rev=999"))
        .await;
    assert_refused(&r, 404, "revision 999");
    let r = s
        .get(&format!("/dashboard/print?day={day}&rev=first"))
        .await;
    assert_refused(&r, 400, "is not a whole number");

    // CSRF: missing, wrong, and a right token from another origin.
    let cancel = [("day", day.as_str()), ("action", "cancel")];
    let r = send(addr, "POST", &path, Some(&s.cookie), Some(&cancel), &[]).await;
    assert_refused(&r, 403, "security token is missing or stale");
    let wrong = [
        ("_csrf", "0000"),
        ("day", day.as_str()),
        ("action", "cancel"),
    ];
    let r = send(addr, "POST", &path, Some(&s.cookie), Some(&wrong), &[]).await;
    assert_refused(&r, 403, "security token is missing or stale");
    let forged = [
        ("_csrf", s.csrf.as_str()),
        ("day", day.as_str()),
        ("action", "cancel"),
    ];
    let r = send(
        addr,
        "POST",
        &path,
        Some(&s.cookie),
        Some(&forged),
        &[("origin", "http://evil.example")],
    )
    .await;
    assert_refused(&r, 403, "cross-site request refused");
    let r = send(
        addr,
        "POST",
        &path,
        Some(&s.cookie),
        Some(&forged),
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_refused(&r, 403, "cross-site request refused");
    // A GET never writes: the status route only answers POST.
    let r = s
        .get(&format!("{path}?_csrf={}&day={day}&action=cancel", s.csrf))
        .await;
    assert_eq!(r.status, 405);

    settle().await;
    assert_eq!(
        dev.heads(board),
        heads,
        "a refused request changed the board"
    );
    assert_eq!(status_of(&dev, board, &sides), RunStatus::Requested);

    // Another production's coordinator cannot touch this production's runs.
    let code = relay.create_production("Other Show", "Bea");
    let other = sign_in(addr, &code).await.expect("Bea signs in");
    let theirs = other.get(&format!("/dashboard/board?day={day}")).await;
    assert_eq!(theirs.status, 200);
    assert!(
        !theirs.body.contains("Sides to set"),
        "another production's runs leaked"
    );
    assert_refused(&other.post(&path, &cancel).await, 404, "no board for");
    // Once that production has a board of its own, the id is simply not on it.
    let r = other
        .post(
            "/dashboard/runs",
            &[
                ("day", &day),
                ("title", "Their run"),
                ("requested_by", "Bea"),
                ("kind", "other"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_refused(
        &other.post(&path, &cancel).await,
        404,
        &format!("no run `{sides}`"),
    );
    assert_refused(
        &other
            .post(&assign, &[("day", &day), ("assignee", &coord.member_id)])
            .await,
        400,
        "is not an active PA, office or coordinator member of your production",
    );
    let acks = other.get(&format!("/dashboard/acks?day={day}")).await;
    assert!(
        !acks.body.contains("Casey"),
        "another production's members leaked"
    );
    settle().await;
    assert_eq!(
        dev.heads(board),
        heads,
        "another production changed this board"
    );

    // The office: the board yes, call sheet drafts and publishing no.
    let office = sign_in(addr, relay.code("office"))
        .await
        .expect("office signs in");
    assert_eq!(
        office
            .get(&format!("/dashboard/board?day={day}"))
            .await
            .status,
        200
    );
    // The office reads the draft (read-only: no save or publish controls).
    let draft = office.get(&format!("/dashboard/callsheet?day={day}")).await;
    assert_eq!(draft.status, 200, "{}", draft.body);
    assert!(
        draft.body.contains("Read-only")
            && draft.body.contains("fieldset class=\"plain\" disabled")
    );
    assert!(!draft.body.contains("Save draft") && !draft.body.contains("id=\"publish\""));
    assert_refused(
        &office
            .post(&format!("/dashboard/callsheet/publish?day={day}"), &[])
            .await,
        403,
        "an office member may not publish call sheets",
    );
    assert_refused(
        &office
            .post(&format!("/dashboard/callsheet/review?day={day}"), &[])
            .await,
        403,
        "an office member may not publish call sheets",
    );
    // The office reads the production settings; only a coordinator saves them.
    let settings = office.get("/dashboard/settings").await;
    assert_eq!(settings.status, 200, "{}", settings.body);
    assert!(settings.body.contains("Read-only") && !settings.body.contains("Save settings"));
    assert_refused(
        &office
            .post("/dashboard/settings", &[("walkie_channels", "1 | Hijack")])
            .await,
        403,
        "may not edit the production settings",
    );
    assert_refused(
        &office
            .post(
                &format!("/dashboard/callsheet?day={day}"),
                &[("production_title", "Hijack")],
            )
            .await,
        403,
        "may not edit call sheet drafts",
    );

    // Pages cannot be framed (clickjacking) and run only our own scripts.
    let page = s.get(&format!("/dashboard/board?day={day}")).await;
    let (csp, xfo) = &page.framing;
    assert!(csp
        .as_deref()
        .is_some_and(|c| c.contains("frame-ancestors 'none'") && c.contains("form-action 'self'")));
    assert_eq!(xfo.as_deref(), Some("DENY"));

    // Valid actions do go through (so the refusals above were not a broken route), and
    // reach a device through normal sync.
    let r = s.post(&path, &cancel).await;
    assert_eq!(r.status, 303, "{}", r.body);
    dev.wait(5, "the cancel to reach the device", |d, _| {
        d.docs.get(&board).is_some_and(|b| {
            run::read_run(b, &sides).is_ok_and(|r| r.status == RunStatus::Cancelled)
        })
    })
    .await;
    assert_refused(
        &s.post(&path, &cancel).await,
        409,
        "it is already cancelled",
    );
    let reopen = [("day", day.as_str()), ("action", "reopen")];
    assert_eq!(s.post(&path, &reopen).await.status, 303);
    let pa = redeem(addr, relay.code("pa"), "Pat", "pat-phone").await;
    let r = s
        .post(&assign, &[("day", &day), ("assignee", &pa.member_id)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (pa_id, sides2) = (pa.member_id.clone(), sides.clone());
    dev.wait(5, "the assignment on the device", move |d, _| {
        d.docs.get(&board).is_some_and(|b| {
            run::read_run(b, &sides2).is_ok_and(|r| {
                r.status == RunStatus::Assigned && r.assigned_pa.as_deref() == Some(pa_id.as_str())
            })
        })
    })
    .await;
    // Tasks: create, assign, start, block (a reason is required), done, sign off.
    let r = s
        .post(
            "/dashboard/tasks",
            &[
                ("day", &day),
                ("title", "Table read at 4"),
                ("category", "meeting"),
                ("due", "16:00"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let task_id = {
        let title = "Table read at 4";
        dev.wait(5, "the task on the device", move |d, _| {
            d.docs.get(&board).is_some_and(|b| {
                setlink_core::model::task::list_tasks(b)
                    .is_ok_and(|t| t.items.iter().any(|t| t.record.title == title))
            })
        })
        .await;
        dev.read(board, |b| {
            setlink_core::model::task::list_tasks(b)
                .unwrap()
                .items
                .into_iter()
                .find(|t| t.record.title == title)
                .map(|t| t.record.id)
        })
        .flatten()
        .unwrap()
    };
    let tpath = format!("/dashboard/tasks/{task_id}/status");
    let r = s
        .post(
            &format!("/dashboard/tasks/{task_id}/assign"),
            &[("day", &day), ("assignee", &pa.member_id)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_refused(
        &s.post(&tpath, &[("day", &day), ("action", "block")]).await,
        400,
        "A reason for blocking the task is required",
    );
    for action in ["start", "done", "sign_off"] {
        let r = s.post(&tpath, &[("day", &day), ("action", action)]).await;
        assert_eq!(r.status, 303, "{action}: {}", r.body);
    }
    let t = task_id.clone();
    dev.wait(5, "the signed-off task on the device", move |d, _| {
        d.docs.get(&board).is_some_and(|b| {
            setlink_core::model::task::read_task(b, &t).is_ok_and(|t| {
                t.status == setlink_core::model::task::TaskStatus::SignedOff
                    && t.record.assignee.is_some()
            })
        })
    })
    .await;
    let fragment = s.get(&format!("/dashboard/fragment/board?day={day}")).await;
    assert!(fragment.body.contains("Table read at 4") && fragment.body.contains("signed off"));
    // A task's page and its notes and checklist forms: the domain's rules, in English,
    // and a refusal of what was typed comes back as the task's page with it.
    let page = s
        .get(&format!("/dashboard/tasks/{task_id}?day={day}"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Table read at 4") && page.body.contains("signed off"));
    assert_refused(
        &s.get(&format!("/dashboard/tasks/no-such-task?day={day}"))
            .await,
        404,
        "there is no task `no-such-task`",
    );
    let r = s.post(&tpath, &[("day", &day), ("action", "start")]).await;
    assert_refused(&r, 409, "cannot start a task that is signed off");
    let list = format!("/dashboard/tasks/{task_id}/checklist");
    let r = s
        .post(&list, &[("day", &day), ("back", "task"), ("text", "   ")])
        .await;
    assert_refused(&r, 400, "The checklist item's text is required");
    assert!(r.body.contains("data-field=\"text\""), "{}", r.body);
    assert_refused(
        &s.post(
            &format!("{list}/no-such-entry"),
            &[("day", &day), ("action", "tick")],
        )
        .await,
        404,
        "has no checklist entry `no-such-entry`",
    );
    assert_refused(
        &s.post(
            &format!("{list}/no-such-entry"),
            &[("day", &day), ("action", "explode")],
        )
        .await,
        400,
        "is not something the dashboard does to a checklist item",
    );
    let long = "x".repeat(5_001);
    let r = s
        .post(
            &format!("/dashboard/tasks/{task_id}/notes"),
            &[("day", &day), ("back", "task"), ("notes", &long)],
        )
        .await;
    assert_refused(&r, 400, "task notes");
    assert!(
        r.body.contains(&long),
        "the refused notes keep what was typed"
    );
    let r = s
        .post(
            &list,
            &[("day", &day), ("back", "task"), ("text", "Print sides")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/dashboard/tasks/{task_id}?day={day}#checklist").as_str())
    );
    let t = task_id.clone();
    dev.wait(5, "the added checklist item on the device", move |d, _| {
        d.docs.get(&board).is_some_and(|b| {
            setlink_core::model::task::read_task(b, &t)
                .is_ok_and(|t| t.record.checklist.iter().any(|c| c.text == "Print sides"))
        })
    })
    .await;

    // Revoking a member ends their dashboard session at once.
    let (_, me) = http::request(addr, "GET", "/api/me", Some(&coord.token), None).await;
    let production = me["production_id"]
        .as_str()
        .expect("production id")
        .to_owned();
    let (ok, list, _) = relay.cli(&["member", "list", "--production", &production]);
    assert!(ok);
    let office_id = list
        .lines()
        .find(|l| l.contains(" office "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the office member")
        .to_owned();
    let (ok, _, err) = relay.cli(&["member", "revoke", &office_id]);
    assert!(ok, "{err}");
    let r = office.get(&format!("/dashboard/board?day={day}")).await;
    assert_refused(&r, 401, "revoked");

    // Signing out ends the session.
    let r = s.post("/dashboard/signout", &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location.as_deref(), Some("/dashboard/signin"));
    assert_eq!(s.get("/dashboard/board").await.status, 401);
}

// ---------------------------------------------------------------------------------------
