fn main() -> std::process::ExitCode {
    evote_appliance::cli::main()
}
