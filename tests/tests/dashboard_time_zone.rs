//! The coordinator dashboard in Chromium, in the production's time zone: the relay's clock
//! is stopped (`serve --today INSTANT`) at an instant where the demo production's date
//! (America/Los_Angeles) and the UTC date differ, and the browser itself runs in Tokyo,
//! so a page that used UTC or the browser's zone shows the wrong day, clock or late flag.

use setlink_server::demo::DEMO_ZONE;
use setlink_server::today::Today;
use setlink_server::zone::Zone;
use setlink_tests::dashboard::{setup_browser, Script};
use setlink_tests::Relay;

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

/// Evening in Los Angeles, already the next morning in UTC (PST or PDT alike).
const INSTANT: &str = "2030-06-15T05:30:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_browser_keeps_the_productions_time() {
    setup_browser();
    let Ok(Today::At(at)) = INSTANT.parse::<Today>() else {
        panic!("{INSTANT} is not an instant");
    };
    let zone = Zone::named(DEMO_ZONE).expect("the demo's zone");
    let (local_day, utc_day) = (zone.day(at), Zone::utc().day(at));
    assert_ne!(local_day, utc_day, "the instant must fall on two dates");

    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &["--today", INSTANT]);
    assert_eq!(relay.day, local_day, "the demo is seeded for the local day");

    let base = format!("http://{}", relay.addr);
    let clock = zone.clock(at);
    let late = zone.hhmm(at - 30 * 60_000);
    let later = zone.hhmm(at + 60 * 60_000);
    let mut script = Script::start(
        "time_zone.mjs",
        &[
            ("DASH_BASE", base.as_ref()),
            ("DASH_CODE", relay.code("coordinator").as_ref()),
            ("DASH_DAY", local_day.as_ref()),
            ("DASH_UTC_DAY", utc_day.as_ref()),
            ("DASH_ZONE", DEMO_ZONE.as_ref()),
            ("DASH_CLOCK", clock.as_ref()),
            ("DASH_LATE_NEEDED", late.as_ref()),
            ("DASH_LATER_NEEDED", later.as_ref()),
        ],
    );
    script.step("board").await;
    script.step("runs").await;
    script.step("done").await;
    let status = script.child.wait().await.expect("node exits");
    assert!(status.success(), "the browser script failed: {status}");
}
