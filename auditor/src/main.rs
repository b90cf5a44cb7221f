//! `evote-audit`: see `evote_audit::main`.

fn main() {
    std::process::exit(evote_audit::main());
}
