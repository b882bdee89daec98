//! `test-certs DIR`: writes a test CA (`DIR/ca.pem`) and a relay certificate it issued
//! for `localhost` and `127.0.0.1` (`DIR/relay.pem`, `DIR/relay-key.pem`). For the Kotlin
//! TLS tests, which have no certificate generator of their own.

fn main() -> std::process::ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: test-certs DIR");
        return std::process::ExitCode::FAILURE;
    };
    let dir = std::path::PathBuf::from(dir);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return std::process::ExitCode::FAILURE;
    }
    let ca = setlink_tests::certs::TestCa::new("setlink test production CA");
    setlink_tests::certs::replace(&dir.join("ca.pem"), &ca.pem());
    ca.write_relay_files(&dir);
    std::process::ExitCode::SUCCESS
}
