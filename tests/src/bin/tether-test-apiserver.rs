//! `tether-test-apiserver`: serves the Kubernetes API emulation until killed.

fn main() {
    eprintln!("tether-test-apiserver: not implemented yet");
    std::process::exit(2);
}
