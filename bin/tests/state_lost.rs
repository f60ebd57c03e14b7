//! The state file is lost after `setup`: the 10to8 notification path token went with it, so
//! 10to8's notifications would get 404. `status` says so (and exits 1); `serve` subscribes
//! again with a new token at start, says so in its log, and a change made in 10to8 then
//! travels live (the periodic reconcile is an hour away).

mod support;

use support::{ServeOptions, Server, eventually, run, scratch_dir, wait_ready, write_config};
use tte_sync_core::tte::CustomerPatch;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_state_file_is_reported_and_serve_subscribes_to_10to8_again() {
    let (hubspot, tte) = support::start_simulators().await;
    tte.seed(3, 0, 4, false);
    hubspot.seed(3, 2, 4);
    let dir = scratch_dir("state-lost");
    let options = ServeOptions::sqlite_in(&dir);
    let config = write_config(&dir, &hubspot, &tte, &options);
    let config_arg = config.display().to_string();
    support::setup(&config).await;
    let before = tte.subscriptions();
    assert_eq!(before.len(), 1, "{before:?}");

    for file in ["state.db", "state.db-wal", "state.db-shm"] {
        let _ = std::fs::remove_file(dir.join(file));
    }

    let status = run(vec![
        "status".into(),
        "--json".into(),
        "--config".into(),
        config_arg.clone(),
    ])
    .await;
    assert!(!status.status.success(), "status passes with a lost token");
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let check = &json["health"]["tte_notifications"];
    assert_eq!(check["ok"], false, "{json}");
    assert!(check["detail"].as_str().unwrap().contains("404"), "{check}");

    let log = dir.join("serve.log");
    let _server = Server::spawn(&config, &log, &[]);
    let base = options.base_url();
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;
    eventually("10to8 is subscribed with a new token", || async {
        let now = tte.subscriptions();
        now.len() == 1 && now != before
    })
    .await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("Subscribed to 10to8 notifications again"),
        "{logged}"
    );
    let status = support::api_status(&http, &base).await.unwrap();
    assert_eq!(
        status["health"]["tte_notifications"]["ok"], true,
        "{}",
        status["health"]
    );

    // Links are rebuilt from the ids on both sides; then a 10to8 edit arrives by notification.
    support::wait_linked(&tte).await;
    let (customer, contact) = support::linked_pairs(&tte)[0];
    tte.edit(
        customer,
        &CustomerPatch {
            name: Some("Notified Again".to_owned()),
            ..CustomerPatch::default()
        },
    )
    .unwrap();
    eventually("the 10to8 edit reaches HubSpot by notification", || async {
        hubspot
            .contact(contact)
            .is_some_and(|(p, _)| p.get("firstname").map(String::as_str) == Some("Notified"))
    })
    .await;
    let stats = tte.stats();
    assert!(stats.notifications.delivered > 0, "{stats:?}");
}
