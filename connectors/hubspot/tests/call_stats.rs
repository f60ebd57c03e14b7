//! The HubSpot client's entries in the process-wide call stats (`tte_sync_core::http::stats`,
//! service `hubspot`), against the simulator: statuses as answered (200, a refused token's
//! 401), a call with no answer, and a wait for the client's own search window. Alone in its
//! test binary, so the process-wide counters hold only what this test did.

use std::sync::Arc;

use serde_json::json;
use tte_sync_core::connector::{ConnectorContext, ConnectorFactory, CrmConnector};
use tte_sync_core::http::stats::{self, NO_ANSWER_LABEL, ServiceSnapshot};
use tte_sync_core::testkit::MemoryTokenStore;
use tte_sync_hubspot::simulator::{
    DEFAULT_PRIVATE_APP_TOKEN, HubSpotSimulator, RateLimits, SimulatorConfig,
};
use tte_sync_hubspot::{HubSpotConnector, NAME};

fn hubspot_stats() -> ServiceSnapshot {
    stats::snapshot()
        .into_iter()
        .find(|s| s.service == NAME)
        .expect("the HubSpot client registered its counters")
}

fn calls(snapshot: &ServiceSnapshot, status: &str) -> u64 {
    snapshot
        .calls
        .iter()
        .find(|(label, _)| label == status)
        .map_or(0, |(_, count)| *count)
}

fn connector(base_url: &str, token: &str) -> HubSpotConnector {
    let config = serde_json::from_value(json!({
        "api_base_url": base_url,
        "private_app_token": token,
        "changes": "polling",
        "search_requests_per_sec": 1,
        "rate_limit_margin_millis": 0,
        "max_retries": 0,
    }))
    .unwrap();
    HubSpotConnector::build(
        config,
        ConnectorContext {
            tokens: Arc::new(MemoryTokenStore::new()),
        },
    )
    .unwrap()
}

#[tokio::test]
async fn hubspot_calls_and_rate_limit_waits_are_counted() {
    let sim = HubSpotSimulator::start(
        SimulatorConfig {
            rate_limits: RateLimits::off(),
            ..SimulatorConfig::default()
        },
        0,
    )
    .await
    .unwrap();
    let good = connector(&sim.base_url(), DEFAULT_PRIVATE_APP_TOKEN);
    assert_eq!(hubspot_stats().calls, [], "nothing counted before a call");
    good.check().await.unwrap();
    // One search a second: the second poll's search waits for the window (about a second).
    let feed = good.change_feed().expect("changes are polled");
    let start = feed.pull(None).await.unwrap().cursor;
    feed.pull(start.as_deref()).await.unwrap();
    feed.pull(start.as_deref()).await.unwrap();
    let after_searches = hubspot_stats();
    assert_eq!(calls(&after_searches, "200"), 3, "{after_searches:?}");
    assert_eq!(after_searches.rate_limit_waits, 1, "{after_searches:?}");
    assert!(
        (0.5..=1.0).contains(&after_searches.rate_limit_wait_seconds),
        "{after_searches:?}"
    );

    let refused = connector(&sim.base_url(), "pat-not-a-real-token");
    assert!(refused.check().await.is_err());
    assert_eq!(calls(&hubspot_stats(), "401"), 1);

    let gone = connector("http://127.0.0.1:9", DEFAULT_PRIVATE_APP_TOKEN);
    assert!(gone.check().await.is_err());
    let last = hubspot_stats();
    assert_eq!(calls(&last, NO_ANSWER_LABEL), 1, "{last:?}");
    assert_eq!(calls(&last, "200"), 3, "{last:?}");
    sim.shutdown().await;
}
