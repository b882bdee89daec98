//! `scripts/mobile-demo.sh` (the PA phone demo on the generated Kotlin bindings, on the
//! JVM) run twice against one relay: the second run finds the first one's runs picked up
//! and delivered and Pat's crew call already on the sheet, and must still play the day.
//! Builds the bindings and needs the Kotlin toolchain the script installs
//! (`scripts/kotlin-env.sh`), so it takes minutes the first time.

use std::path::PathBuf;
use std::process::Command;

use setlink_tests::Relay;

const BIN: &str = env!("CARGO_BIN_EXE_setlink-relay");

#[test]
fn the_mobile_demo_runs_twice_against_one_relay() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(BIN, dir.path(), &[]);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let url = format!("http://{}", relay.addr);
    for run in 1..=2 {
        let out = Command::new("bash")
            .arg(root.join("scripts/mobile-demo.sh"))
            .args([&url, relay.code("pa"), relay.code("coordinator")])
            .current_dir(&root)
            .output()
            .expect("run scripts/mobile-demo.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("DEMO OK"),
            "run {run} of the mobile demo failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
