//! `tte-sync demo --exit-after-sync` through the real binary, for each connector it links:
//! both simulators, setup and a full sync, then exit 0 only once a second pass plans no writes.

use std::process::Command;

/// Runs the demo against `crm`'s simulator and returns its standard output.
fn demo_converges(crm: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_tte-sync"))
        .args([
            "demo",
            "--crm",
            crm,
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
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{crm}: {stdout}\n{stderr}");
    assert!(stdout.contains("converged: yes"), "{crm}: {stdout}");
    stdout
}

#[test]
fn the_hubspot_demo_exits_zero_once_the_simulators_converged() {
    let stdout = demo_converges("hubspot");
    assert!(stdout.contains("30 people are in both"), "{stdout}");
}

#[test]
fn the_pipedrive_demo_exits_zero_once_the_simulators_converged() {
    let stdout = demo_converges("pipedrive");
    assert!(stdout.contains("30 people are in both"), "{stdout}");
}
