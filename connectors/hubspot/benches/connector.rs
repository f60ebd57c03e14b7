//! Throughput of the HubSpot connector against the simulator: contacts per second for a full
//! listing and for batch upserts, at HubSpot's default rate limit and with limits off, printed
//! beside the rate-limit bound (allowed calls per second × 100 contacts per call).
//!
//! At the default limit each measured phase starts with the 10-second window already full (a
//! warm-up pass runs first), so the figure is the steady state, not the first burst.
//!
//! Run: `cargo bench -p tte-sync-hubspot --features simulator --bench connector`
//! (`CONTACTS=n` changes the number of contacts per phase, default 10,000).

#![allow(clippy::print_stdout, reason = "a bench binary prints its figures")]

use std::sync::Arc;
use std::time::Instant;

use futures_util::TryStreamExt;
use serde_json::json;
use tte_sync_core::connector::{
    ConnectorContext, ConnectorFactory, CrmConnector, CrmWrite, ListQuery, PropertySpec,
    WriteOutcome,
};
use tte_sync_core::testkit::MemoryTokenStore;
use tte_sync_hubspot::simulator::{
    DEFAULT_PRIVATE_APP_TOKEN, HubSpotSimulator, RateLimits, SimulatorConfig,
};
use tte_sync_hubspot::{HubSpotConfig, HubSpotConnector};

const KEY: &str = "tte_customer_uri";
const CONTACTS_PER_CALL: f64 = 100.0;
const DEFAULT_CALLS_PER_10_SECS: u32 = 110;

struct Figures {
    listed_per_sec: f64,
    upserted_per_sec: f64,
    list_calls: u64,
    throttled: u64,
}

async fn run(limited: bool, contacts: u64) -> Figures {
    let sim_config = SimulatorConfig {
        rate_limits: if limited {
            RateLimits::default()
        } else {
            RateLimits::off()
        },
        ..SimulatorConfig::default()
    };
    let sim = HubSpotSimulator::start(sim_config, 0)
        .await
        .expect("simulator binds");
    let mut config: HubSpotConfig = serde_json::from_value(json!({
        "api_base_url": sim.base_url(),
        "private_app_token": DEFAULT_PRIVATE_APP_TOKEN,
    }))
    .expect("config");
    if !limited {
        config.requests_per_10_secs = Some(0);
        config.search_requests_per_sec = 0;
    }
    let connector = HubSpotConnector::build(
        config,
        ConnectorContext {
            tokens: Arc::new(MemoryTokenStore::new()),
        },
    )
    .expect("connector builds");
    let key: PropertySpec = serde_json::from_value(json!({
        "name": KEY, "label": "10to8 Customer URI", "unique": true
    }))
    .expect("spec");
    connector
        .setup()
        .expect("setup")
        .ensure_properties(&[key], false)
        .await
        .expect("key property");
    sim.seed(7, 0, contacts);

    let query = ListQuery {
        properties: vec![
            "email".to_owned(),
            "firstname".to_owned(),
            "lastname".to_owned(),
        ],
        archived: false,
    };
    let list = || async {
        let pages: Vec<_> = connector
            .list(query.clone())
            .try_collect()
            .await
            .expect("listing");
        pages.iter().map(Vec::len).sum::<usize>()
    };
    if limited {
        list().await; // fills the window: what follows runs at the steady rate
    }
    sim.reset_stats();
    let started = Instant::now();
    let listed = list().await;
    let listed_per_sec = listed as f64 / started.elapsed().as_secs_f64();
    let list_calls = sim.stats().requests_on("GET /crm/v3/objects/{object_type}");

    let writes: Vec<CrmWrite> = (0..contacts)
        .map(|i| CrmWrite::Upsert {
            id_property: KEY.to_owned(),
            key: format!("https://10to8.example/api/enterprise/v2/customer/{i}/"),
            properties: [
                ("email".to_owned(), format!("bench.{i}@example.org").into()),
                ("firstname".to_owned(), "Bench".into()),
            ]
            .into(),
        })
        .collect();
    let started = Instant::now();
    let outcomes = connector.write(writes).await.expect("writes");
    let upserted_per_sec = outcomes.len() as f64 / started.elapsed().as_secs_f64();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, WriteOutcome::Written { .. }))
    );
    Figures {
        listed_per_sec,
        upserted_per_sec,
        list_calls,
        throttled: sim.stats().throttled,
    }
}

fn main() {
    let contacts: u64 = std::env::var("CONTACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bound = f64::from(DEFAULT_CALLS_PER_10_SECS) / 10.0 * CONTACTS_PER_CALL;
    println!("hubspot connector vs simulator, {contacts} contacts per phase");
    println!(
        "{:<22} {:>14} {:>16} {:>11} {:>10} {:>16}",
        "limits", "list c/s", "upsert c/s", "list calls", "throttled", "bound c/s"
    );
    for limited in [true, false] {
        let figures = runtime.block_on(run(limited, contacts));
        println!(
            "{:<22} {:>14.0} {:>16.0} {:>11} {:>10} {:>16}",
            if limited {
                "default (110 / 10 s)"
            } else {
                "off"
            },
            figures.listed_per_sec,
            figures.upserted_per_sec,
            figures.list_calls,
            figures.throttled,
            if limited {
                format!("{bound:.0}")
            } else {
                "none".to_owned()
            }
        );
    }
}
