//! End to end through the real binary: `setup` against both simulators (idempotent), then
//! `serve` — its first reconcile links both sides; then edits travel live (the next reconcile
//! is an hour away): the simulators' signed HubSpot webhooks and 10to8 notifications are
//! accepted, queued and processed by the live worker, the dashboard and `/api/status`
//! show it (both services reachable), `/metrics` counts the writes by direction and action,
//! the API calls by service and status and each live item's lag in a well-formed exposition,
//! `status` prints it, and SIGTERM ends the server with exit code 0.

mod support;

use support::{ServeOptions, Server, eventually, run, scratch_dir, text, wait_ready, write_config};
use tte_sync_core::tte::CustomerPatch;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn setup_then_serve_syncs_both_ways_and_stops_cleanly_on_sigterm() {
    let (hubspot, tte) = support::start_simulators().await;
    // People 0..6 in 10to8 and 4..10 in HubSpot: 4 and 5 are in both, with the same email.
    let customers = tte.seed(7, 0, 6, false);
    assert_eq!(customers.len(), 6);
    hubspot.seed(7, 4, 6);
    let dir = scratch_dir("serve");
    let options = ServeOptions::sqlite_in(&dir);
    let config = write_config(&dir, &hubspot, &tte, &options);
    let config_arg = config.display().to_string();

    let first = run(vec!["setup".into(), "--config".into(), config_arg.clone()]).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    let first_out = text(&first.stdout);
    assert!(first_out.contains("created"), "{first_out}");
    assert!(
        first_out.contains("webhooks/tte/**redacted**"),
        "{first_out}"
    );
    let second = run(vec!["setup".into(), "--config".into(), config_arg.clone()]).await;
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stdout).contains("Nothing changed"),
        "{}",
        text(&second.stdout)
    );
    assert_eq!(tte.subscriptions().len(), 1);

    let mut server = Server::spawn(&config, &dir.join("serve.log"), &[]);
    let base = options.base_url();
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;

    // The first reconcile links the shared people and creates the others on both sides.
    support::wait_linked(&tte).await;
    assert_eq!(
        hubspot.contact_count(),
        10,
        "people 0..10, 4 and 5 on both sides"
    );
    let linked = |uri: &tte_sync_core::CustomerUri| {
        let id = tte.customer_id(uri).unwrap();
        let contact: u64 = tte.customer(id).unwrap().custom_fields["External ID"]
            .parse()
            .unwrap();
        (id, contact)
    };

    // An edit in HubSpot's UI reaches 10to8 (and is pushed to us as a signed webhook).
    let (customer, contact) = linked(&customers[0]);
    hubspot
        .user_edit(contact, &[("firstname", "Zelda")], None)
        .unwrap();
    eventually("the HubSpot edit reaches 10to8", || async {
        tte.customer(customer)
            .is_some_and(|c| c.name.starts_with("Zelda "))
    })
    .await;

    // An edit in 10to8 reaches HubSpot.
    let (customer, contact) = linked(&customers[1]);
    tte.edit(
        customer,
        &CustomerPatch {
            name: Some("Yannick Reverse".to_owned()),
            ..CustomerPatch::default()
        },
    )
    .unwrap();
    eventually("the 10to8 edit reaches HubSpot", || async {
        hubspot
            .contact(contact)
            .is_some_and(|(p, _)| p.get("firstname").map(String::as_str) == Some("Yannick"))
    })
    .await;

    // Both pushes arrived verified: the simulators' deliveries were accepted and counted.
    eventually("both webhooks were received", || async {
        let Some(metrics) = support::metrics_text(&http, &base).await else {
            return false;
        };
        !metrics.contains("tte_sync_events_received_total{source=\"crm\"} 0")
            && !metrics.contains("tte_sync_events_received_total{source=\"tte\"} 0")
    })
    .await;
    let metrics = support::metrics_text(&http, &base).await.unwrap();
    assert!(
        metrics
            .contains("tte_sync_webhooks_rejected_total{source=\"crm\",reason=\"unauthorized\"} 0"),
        "{metrics}"
    );
    // A worker counts its batch once the batch is done, just after the write seen above.
    eventually("both live edits are counted with their lag", || async {
        let Some(text) = support::metrics_text(&http, &base).await else {
            return false;
        };
        support::prometheus::parse(&text)
            .value("tte_sync_event_lag_seconds_count", &[])
            .is_some_and(|count| count >= 2.0)
    })
    .await;
    let metrics = support::metrics_text(&http, &base).await.unwrap();
    check_sync_metrics(&metrics);

    let status = support::api_status(&http, &base).await.unwrap();
    assert_eq!(status["health"]["tte"]["ok"], true, "{status}");
    assert_eq!(status["health"]["crm"]["ok"], true, "{status}");
    let crm_detail = status["health"]["crm"]["detail"].as_str().unwrap();
    assert!(crm_detail.starts_with("reachable"), "{status}");
    assert!(!status["runs"].as_array().unwrap().is_empty(), "{status}");
    let dashboard = http.get(&base).send().await.unwrap().text().await.unwrap();
    assert!(dashboard.contains("<h2>Inbox</h2>"), "{dashboard}");
    assert!(dashboard.contains("reconcile"), "{dashboard}");

    server.sigterm();
    let exit = server.wait();
    assert!(exit.success(), "serve exited with {exit}");

    let printed = run(vec!["status".into(), "--config".into(), config_arg]).await;
    let printed_out = text(&printed.stdout);
    assert!(
        printed_out.contains("inbox"),
        "{printed_out}{}",
        text(&printed.stderr)
    );
    assert!(printed_out.contains("last run"), "{printed_out}");
    hubspot.shutdown().await;
    tte.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// What the sync above must have left in `/metrics`: the first reconcile created records on
/// both sides and linked the shared people, the live edits updated one record each way (each
/// with a lag), and both APIs answered 200s.
fn check_sync_metrics(text: &str) {
    let metrics = support::prometheus::parse(text);
    let written = |direction: &str, action: &str| {
        metrics
            .value(
                "tte_sync_records_written_total",
                &[("direction", direction), ("action", action)],
            )
            .unwrap_or_else(|| panic!("no {direction}/{action} series:\n{text}"))
    };
    // People 0..4 only in 10to8 and 6..10 only in HubSpot; 4 and 5 on both sides.
    assert!(written("to_crm", "created") >= 4.0, "{text}");
    assert!(written("to_hub", "created") >= 4.0, "{text}");
    assert!(written("to_crm", "linked") >= 2.0, "{text}");
    assert!(written("to_crm", "updated") >= 1.0, "{text}");
    assert!(written("to_hub", "updated") >= 1.0, "{text}");
    assert_eq!(written("to_crm", "failed"), 0.0, "{text}");
    assert_eq!(written("to_hub", "failed"), 0.0, "{text}");
    for service in ["tte", "hubspot"] {
        let ok = metrics
            .value(
                "tte_sync_api_calls_total",
                &[("service", service), ("status", "200")],
            )
            .unwrap_or(0.0);
        assert!(ok > 0.0, "no 200 from {service}:\n{text}");
        assert!(
            metrics
                .value("tte_sync_rate_limit_waits_total", &[("service", service)])
                .is_some(),
            "no rate-limit series for {service}:\n{text}"
        );
    }
    let lags = metrics
        .value("tte_sync_event_lag_seconds_count", &[])
        .unwrap();
    assert!(lags >= 2.0, "both live edits have a lag:\n{text}");
    let within_a_minute = metrics
        .value("tte_sync_event_lag_seconds_bucket", &[("le", "60")])
        .unwrap();
    assert_eq!(
        within_a_minute, lags,
        "live edits take seconds, not minutes:\n{text}"
    );
    assert_eq!(
        metrics.types["tte_sync_event_lag_seconds"], "histogram",
        "{text}"
    );
}
