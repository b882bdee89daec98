//! The relay binary under test: exactly `setlink` (same `cli::main`), built by this
//! package so its integration tests can find it via `CARGO_BIN_EXE_setlink-relay`.
fn main() -> std::process::ExitCode {
    setlink_server::cli::main()
}
