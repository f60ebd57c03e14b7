//! Turns on the PostgreSQL store tests when `TTE_SYNC_TEST_DATABASE_URL` is set, so that
//! without it they are listed as ignored (with the variable to set) instead of passing empty.

fn main() {
    println!("cargo::rerun-if-env-changed=TTE_SYNC_TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    if std::env::var_os("TTE_SYNC_TEST_DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
