//! `tte-sync demo --exit-after-sync` through the real binary: both simulators, setup and a
//! full sync, then exit 0 only once a second pass plans no writes.

use std::process::Command;

#[test]
fn demo_exits_zero_once_the_simulators_converged() {
    let output = Command::new(env!("CARGO_BIN_EXE_tte-sync"))
        .args([
            "demo",
            "--customers",
            "60",
            "--contacts",
            "40",
            "--port",
            "0",
            "--exit-after-sync",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("converged: yes"), "{stdout}");
    assert!(stdout.contains("30 people are in both"), "{stdout}");
}
