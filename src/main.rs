//! The `xnai` binary: everything happens in the library.

fn main() {
    std::process::exit(xnai::cli::main());
}
