//! `evote-audit`: see `evote_audit::cli`.

fn main() {
    std::process::exit(evote_audit::cli::main());
}
