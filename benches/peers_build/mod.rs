//! Building the peer servers of `benches/peers/` (a crate of its own, so
//! that a plain `cargo test` never builds tokio): shared by the benchmarks
//! that compare against them.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// The fastwebsockets echo server of `benches/peers/`, built if needed.
pub fn fastwebsockets_binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(root.join("benches/peers/Cargo.toml"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "benches/peers does not build");
    let target = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("benches/peers/target"));
    target.join("release/fastwebsockets-echo")
}
