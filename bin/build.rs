//! Turns on the tests that need something outside Rust, so that without it they are listed as
//! ignored (saying how to run them) instead of passing empty:
//! - `postgres_tests` when `TTE_SYNC_TEST_DATABASE_URL` names a PostgreSQL database;
//! - `chromium_tests` when `TTE_SYNC_TEST_CHROMIUM` is set (to `1`, or to a chromedriver's
//!   path), or when `chromedriver` and `chromium` are found on `PATH`.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rerun-if-env-changed=TTE_SYNC_TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=TTE_SYNC_TEST_CHROMIUM");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rustc-check-cfg=cfg(chromium_tests)");
    if std::env::var_os("TTE_SYNC_TEST_DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
    let forced = std::env::var_os("TTE_SYNC_TEST_CHROMIUM").is_some_and(|v| !v.is_empty());
    let found = [on_path("chromedriver"), on_path("chromium")];
    for path in found.iter().flatten() {
        // Rerun when either is removed or upgraded.
        println!("cargo::rerun-if-changed={}", path.display());
    }
    if forced || found.iter().all(Option::is_some) {
        println!("cargo::rustc-cfg=chromium_tests");
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_file(candidate))
}

fn is_file(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file())
}
