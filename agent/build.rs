//! Link settings for the `tether-agent` binary.
//!
//! The binary carries some 80,000 relative relocations (vtables and static tables of its
//! dependencies), which the loader applies at every start. On GNU/Linux they are packed as
//! RELR (`-z pack-relative-relocs`, glibc 2.36+, as in the image's Debian 12 base): the
//! relocation table shrinks from about 2 MiB to 24 KiB, and a short command such as
//! `tether-agent render` starts faster. The binary stays position-independent: linking it at
//! a fixed address (`-no-pie`) would save most of the remaining start-up page faults (about
//! 1.7 ms per process, bench/RESULTS.md), but the daemon parses untrusted input (Git packs, YAML, HTTP) with
//! statically linked C code among it, and a program image at a known address would hand an
//! attacker its gadgets. Address randomisation is kept. The command that runs once per
//! directory in CI has its own binary instead, `tether-render`, whose link leaves out the
//! daemon's tables: a fifth of the relocated pages (bench/RESULTS.md, Kustomize section).

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
