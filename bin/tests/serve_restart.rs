//! SIGTERM in the middle of processing loses nothing: `serve` is given a burst of edits on
//! both sides (more than one live batch, with 10to8 slowed down so a batch takes seconds), is
//! stopped with SIGTERM while a batch is in hand and more items wait, exits 0, and a second
//! `serve` on the same store finishes the work: every edit arrives on the other side, the
//! inbox drains and nothing is dead-lettered. The periodic reconcile is an hour away, so only
//! the inbox carries the work across the restart.

mod support;

use std::time::Instant;

use support::{
    ServeOptions, Server, api_status, eventually, scratch_dir, wait_ready, write_config,
};
use tte_sync_core::tte::simulator::Faults as TteFaults;

/// Edits made on each side.
const EDITS_PER_SIDE: usize = 80;
/// Added to every 10to8 API call while the first server runs, so a live batch takes seconds.
const TTE_LATENCY_MS: u64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_mid_batch_then_restart_loses_no_edit() {
    let started = Instant::now();
    let (hubspot, tte) = support::start_simulators().await;
    // 10to8 people 0..110, HubSpot people 55..165: 165 people, 55 of them on both sides.
    tte.seed(11, 0, 110, false);
    hubspot.seed(11, 55, 110);
    let dir = scratch_dir("serve-restart");
    let options = ServeOptions {
        tte_requests_per_second: 20.0,
        ..ServeOptions::sqlite_in(&dir)
    };
    let config = write_config(&dir, &hubspot, &tte, &options);
    support::setup(&config).await;
    let base = options.base_url();
    let http = reqwest::Client::new();

    let mut first = Server::spawn(&config, &dir.join("serve-1.log"), &[]);
    wait_ready(&http, &base).await;
    support::wait_linked(&tte).await;
    eventually("the first reconcile's echoes are processed", || async {
        api_status(&http, &base)
            .await
            .is_some_and(|s| s["inbox"]["depth"] == 0)
    })
    .await;
    let pairs = support::linked_pairs(&tte);
    assert!(pairs.len() >= 2 * EDITS_PER_SIDE, "{} pairs", pairs.len());

    tte.set_faults(TteFaults {
        latency_ms: TTE_LATENCY_MS,
        ..TteFaults::default()
    });
    let (hub_edited, tte_edited) = pairs.split_at(EDITS_PER_SIDE);
    let tte_edited = &tte_edited[..EDITS_PER_SIDE];
    support::edit_both_sides(&hubspot, &tte, hub_edited, tte_edited);
    // Every edit is in the inbox (or done) before the stop: what follows is about the inbox,
    // not about the simulators sending their webhooks again.
    eventually("every edit's webhook was received", || async {
        let Some(metrics) = support::metrics_text(&http, &base).await else {
            return false;
        };
        received(&metrics, "crm") >= EDITS_PER_SIDE as u64
            && received(&metrics, "tte") >= EDITS_PER_SIDE as u64
    })
    .await;
    let at_stop = loop_until_batch_in_hand(&http, &base).await;

    let stopping = Instant::now();
    first.sigterm();
    let exit = first.wait();
    let stop_took = stopping.elapsed();
    assert!(exit.success(), "serve exited with {exit} after SIGTERM");
    let arrived_at_stop =
        2 * EDITS_PER_SIDE - support::edits_missing(&hubspot, &tte, hub_edited, tte_edited).len();
    let log = std::fs::read_to_string(dir.join("serve-1.log")).unwrap();
    assert!(log.contains("Stopped."), "{log}");
    let printed = support::run(vec![
        "status".into(),
        "--config".into(),
        config.display().to_string(),
    ])
    .await;
    let printed = support::text(&printed.stdout);
    // Finished or handed back: nothing stays claimed by the stopped process.
    assert!(
        printed.contains(", 0 in progress"),
        "claims outlived the process:\n{printed}"
    );
    assert!(
        arrived_at_stop < 2 * EDITS_PER_SIDE,
        "every edit arrived before the stop; nothing was left for the restart"
    );

    tte.set_faults(TteFaults::default());
    let restarted = Instant::now();
    let mut second = Server::spawn(&config, &dir.join("serve-2.log"), &[]);
    wait_ready(&http, &base).await;
    let deadline = Instant::now() + support::PATIENCE;
    loop {
        let missing = support::edits_missing(&hubspot, &tte, hub_edited, tte_edited);
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} edits never arrived after the restart: {missing:?}\n{}",
            missing.len(),
            api_status(&http, &base).await.unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    eventually("the inbox drains", || async {
        api_status(&http, &base)
            .await
            .is_some_and(|s| s["inbox"]["depth"] == 0)
    })
    .await;
    let drained = restarted.elapsed();
    let status = api_status(&http, &base).await.unwrap();
    support::assert_nothing_failed(&status);
    // The restart did not reconcile: the inbox alone carried the work.
    let reconciles = status["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "reconcile")
        .count();
    assert_eq!(reconciles, 1, "{status}");
    support::assert_same_people(&hubspot, &tte, &pairs);

    second.sigterm();
    assert!(second.wait().success());
    eprintln!(
        "inbox at SIGTERM: {at_stop}; serve stopped in {:.1} s with {arrived_at_stop} of {} \
         edits through; status after the stop: {}; the restart finished the rest and drained \
         in {:.1} s; whole test {:.1} s",
        stop_took.as_secs_f64(),
        2 * EDITS_PER_SIDE,
        printed
            .lines()
            .find(|l| l.starts_with("inbox"))
            .unwrap_or("?"),
        drained.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    hubspot.shutdown().await;
    tte.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// Waits until a live batch is in hand while more items wait; returns the inbox as seen.
async fn loop_until_batch_in_hand(http: &reqwest::Client, base: &str) -> serde_json::Value {
    let deadline = Instant::now() + support::PATIENCE;
    loop {
        if let Some(status) = api_status(http, base).await {
            let inbox = &status["inbox"];
            let claimed = inbox["claimed"].as_u64().unwrap_or(0);
            if claimed > 0 && inbox["depth"].as_u64().unwrap_or(0) > claimed {
                return inbox.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no live batch was seen in hand with more items waiting"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The events received from `source` according to `/metrics`.
fn received(metrics: &str, source: &str) -> u64 {
    let prefix = format!("tte_sync_events_received_total{{source=\"{source}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}
