//! Link settings for the `tether-agent` binary.
//!
//! The binary carries some 80,000 relative relocations (vtables and static tables of its
//! dependencies). Linked position-independent, the loader applies them at every start and
//! each of the ~350 pages they touch is copied on write: three quarters of the page faults
//! of a short command such as `tether-agent render`, and most of its start-up time. On
//! GNU/Linux the binary is therefore linked at a fixed address (`-no-pie`): the linker
//! applies the relocations once, the loader none, and the pages stay shared with the file.
//! The code is still compiled position-independent and the libraries, heap and stacks are
//! still placed at random; only the program image itself is not (as for Go's default
//! builds, `kubectl` among them).

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
