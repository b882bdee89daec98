fn main() -> std::process::ExitCode {
    setlink_server::cli::main()
}
