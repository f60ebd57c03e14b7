//! The 10to8 client's entries in the process-wide call stats (`tte_sync_core::http::stats`),
//! against the simulator: statuses as answered, a call with no answer, and waits for a 429
//! and for the client's own pacing. Alone in its test binary, so the process-wide counters
//! hold only what this test did and can be compared exactly.

use tte_sync_core::http::stats::{self, ServiceSnapshot};
use tte_sync_core::tte::client::STATS_SERVICE;
use tte_sync_core::tte::simulator::{Faults, TteSimConfig, TteSimulator};
use tte_sync_core::tte::{TteClient, TteConfig};

fn tte_stats() -> ServiceSnapshot {
    stats::snapshot()
        .into_iter()
        .find(|s| s.service == STATS_SERVICE)
        .expect("the 10to8 client registered its counters")
}

fn calls(snapshot: &ServiceSnapshot, status: &str) -> u64 {
    snapshot
        .calls
        .iter()
        .find(|(label, _)| label == status)
        .map_or(0, |(_, count)| *count)
}

#[tokio::test]
async fn tte_calls_and_rate_limit_waits_are_counted() {
    let sim = TteSimulator::start(TteSimConfig::default(), 0)
        .await
        .unwrap();
    let uri = sim.seed(1, 0, 1, false).remove(0);
    let mut config = TteConfig::new(sim.base_url(), sim.api_key().into());
    config.requests_per_second = 0.0;
    config.retry_min_delay_ms = 5;
    let client = TteClient::new(config.clone()).unwrap();
    assert_eq!(tte_stats().calls, [], "nothing counted before a call");

    assert!(client.get(&uri).await.unwrap().is_some());
    sim.set_faults(Faults {
        throttle_next: 2,
        throttle_retry_after_secs: 1,
        ..Faults::default()
    });
    assert!(client.get(&uri).await.unwrap().is_some());
    let after_storm = tte_stats();
    assert_eq!(calls(&after_storm, "200"), 2);
    assert_eq!(calls(&after_storm, "429"), 2);
    assert_eq!(after_storm.rate_limit_waits, 2, "each 429 was waited out");
    assert!(
        (2.0..4.0).contains(&after_storm.rate_limit_wait_seconds),
        "waited the Retry-After twice: {after_storm:?}"
    );

    // Paced at 2 calls a second: the second call waits its turn (about 0.5 s).
    let mut paced = config.clone();
    paced.requests_per_second = 2.0;
    let paced = TteClient::new(paced).unwrap();
    paced.get(&uri).await.unwrap();
    paced.get(&uri).await.unwrap();
    let after_pacing = tte_stats();
    assert_eq!(calls(&after_pacing, "200"), 4);
    assert_eq!(after_pacing.rate_limit_waits, 3);
    let paced_wait = after_pacing.rate_limit_wait_seconds - after_storm.rate_limit_wait_seconds;
    assert!((0.3..=0.5).contains(&paced_wait), "{paced_wait}");

    let mut gone = TteConfig::new("http://127.0.0.1:9", "key".into());
    gone.max_retries = 0;
    gone.timeout_secs = 2;
    let gone = TteClient::new(gone).unwrap();
    let uri = tte_sync_core::CustomerUri(format!(
        "http://127.0.0.1:9{}1/",
        tte_sync_core::tte::CUSTOMER_PATH
    ));
    assert!(gone.get(&uri).await.is_err());
    assert_eq!(calls(&tte_stats(), stats::NO_ANSWER_LABEL), 1);
    sim.shutdown().await;
}
