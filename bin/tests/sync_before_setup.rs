//! A sync run before `setup`, when HubSpot lacks the properties the mapping writes, stops
//! before its first write with one message naming the missing properties and the fix: no
//! HubSpot write is tried (none refused), no 10to8 customer's status is written, nothing is
//! dead-lettered. After `setup`, the same sync goes through and converges.

mod support;

use support::{ServeOptions, run, scratch_dir, setup, text, write_config};

/// Calls that wrote (or tried to write) something.
fn hub_writes(stats: &tte_sync_hubspot::simulator::Stats) -> u64 {
    (stats.requests.iter())
        .filter(|r| !r.route.starts_with("GET ") && !r.route.contains("/search"))
        .map(|r| r.count)
        .sum()
}

/// Calls HubSpot refused (4xx).
fn hub_refusals(stats: &tte_sync_hubspot::simulator::Stats) -> u64 {
    (stats.requests.iter())
        .filter(|r| (400..500).contains(&r.status))
        .map(|r| r.count)
        .sum()
}

fn tte_writes(tte: &tte_sync_core::tte::simulator::TteSimulator) -> u64 {
    (tte.stats().requests.iter())
        .filter(|r| r.method != "GET")
        .map(|r| r.count)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_before_setup_stops_before_writing_and_names_the_fix() {
    let (hubspot, tte) = support::start_simulators().await;
    tte.seed(31, 0, 10_000, false);
    hubspot.seed(31, 9_900, 200);
    let dir = scratch_dir("sync-before-setup");
    let options = ServeOptions {
        tte_requests_per_second: 1_000.0,
        ..ServeOptions::sqlite_in(&dir)
    };
    let config = write_config(&dir, &hubspot, &tte, &options);
    let config_arg = config.display().to_string();
    let sync = || {
        run(vec![
            "sync".into(),
            "--config".into(),
            config_arg.clone(),
            "--progress=off".into(),
        ])
    };

    let output = sync().await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("tte_customer_uri") && stderr.contains("run `tte-sync setup`"),
        "the message names what is missing and the fix: {stderr}"
    );
    assert_eq!(stderr.matches("error:").count(), 1, "said once: {stderr}");
    assert_eq!(
        hub_writes(&hubspot.stats()),
        0,
        "no HubSpot write was tried"
    );
    assert!(
        hub_refusals(&hubspot.stats()) <= 1,
        "at most one refused call: {:?}",
        hubspot.stats().requests
    );
    assert_eq!(tte_writes(&tte), 0, "no 10to8 customer was written");
    let status = run(vec![
        "status".into(),
        "--config".into(),
        config_arg.clone(),
        "--json".into(),
    ])
    .await;
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["dead_letters"], serde_json::json!([]), "{status}");
    assert_eq!(status["failing_count"], 0, "{status}");

    // Fixed: after setup the properties are there, the sync goes through, and a second one
    // has nothing left to do.
    setup(&config).await;
    let output = sync().await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = run(vec![
        "sync".into(),
        "--config".into(),
        config_arg,
        "--dry-run".into(),
        "--json".into(),
        "--progress=off".into(),
    ])
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for side in ["to_crm", "to_hub"] {
        for count in ["created", "updated", "deleted", "failed"] {
            assert_eq!(plan[side][count], 0, "converged: {plan}");
        }
    }
}
