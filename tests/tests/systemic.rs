//! Credentials that cannot do what the pass needs stop it with one error and the fix, with
//! nothing recorded against any record, and the pass resumes once they are fixed: here a
//! HubSpot app installed without the contacts write scope, which the pre-flight (reads only)
//! cannot see, so the first write shows it.

mod support;

use std::sync::Arc;

use serde_json::json;
use tte_sync_core::Secret;
use tte_sync_core::connector::{ConnectorContext, ConnectorFactory, CrmConnector};
use tte_sync_core::engine::{Engine, ReconcileOptions, StopSide};
use tte_sync_core::mapping::Mapping;
use tte_sync_core::tte::simulator::{TteSimConfig, TteSimulator};
use tte_sync_core::tte::{TteClient, TteConfig};
use tte_sync_hubspot::HubSpotConnector;
use tte_sync_hubspot::simulator::{
    DEFAULT_APP_ID, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, HubSpotSimulator, SimulatorConfig,
};
use url::Url;

use support::{MAPPING, SEED, dry_run, systemic_stop, test_store};

/// Every scope sync and setup need, but the contacts write scope.
const WITHOUT_WRITE: &str =
    "crm.objects.contacts.read crm.schemas.contacts.read crm.schemas.contacts.write";
const ALL_SCOPES: &str = "crm.objects.contacts.read crm.objects.contacts.write crm.schemas.contacts.read crm.schemas.contacts.write";

/// The HubSpot connector of an OAuth app requesting `scopes`, installed on the simulator's
/// portal as a person would (authorize, then the code exchange), tokens kept in `store`.
async fn installed(
    hub: &HubSpotSimulator,
    store: &tte_sync_core::store::Store,
    scopes: &str,
) -> Arc<HubSpotConnector> {
    let config = serde_json::from_value(json!({
        "api_base_url": hub.base_url(),
        "app_id": DEFAULT_APP_ID,
        "oauth": {
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "authorize_base_url": hub.base_url(),
            "scopes": scopes,
        },
    }))
    .expect("config parses");
    let connector = HubSpotConnector::build(
        config,
        ConnectorContext {
            tokens: Arc::new(store.clone()),
        },
    )
    .expect("connector builds");
    let oauth = connector.oauth().expect("oauth configured");
    let redirect = Url::parse("http://127.0.0.1:9/hubspot/install/callback").unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let approved = http
        .get(oauth.authorize_url(&redirect, "state"))
        .send()
        .await
        .expect("authorize answers");
    let location = Url::parse(approved.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(key, _)| key == "code")
        .map(|(_, code)| code.into_owned())
        .unwrap_or_else(|| panic!("approved with a code: {location}"));
    oauth
        .exchange_code(&code, &redirect)
        .await
        .expect("code exchange");
    Arc::new(connector)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_write_scope_stops_the_pass_at_the_first_write_and_it_resumes_once_granted() {
    let tte = TteSimulator::start(TteSimConfig::default(), 0)
        .await
        .unwrap();
    let hub = HubSpotSimulator::start(SimulatorConfig::default(), 0)
        .await
        .unwrap();
    let (store, _schema) = test_store().await;
    let mapping = Arc::new(Mapping::compile(MAPPING, "hubspot.yaml").expect("mapping"));
    // 150 customers, 100 contacts, 50 people on both sides.
    tte.seed(SEED, 0, 150, false);
    hub.seed(SEED, 100, 100);
    let mut tte_config = TteConfig::new(tte.base_url(), Secret::new(tte.api_key()));
    tte_config.requests_per_second = 2_000.0;
    let engine_with = |crm: Arc<HubSpotConnector>| {
        Engine::new(
            store.clone(),
            TteClient::new(tte_config.clone()).expect("10to8 client"),
            crm,
            mapping.clone(),
        )
    };

    let crm = installed(&hub, &store, WITHOUT_WRITE).await;
    crm.setup()
        .expect("setup")
        .ensure_properties(mapping.property_specs(), false)
        .await
        .expect("the schema scope sets the properties up");
    tte.reset_stats();
    hub.reset_stats();
    let (stop, message) = systemic_stop(&engine_with(crm)).await;
    assert_eq!(stop.side, StopSide::Crm);
    assert!(
        message.contains("grant the app the missing scopes"),
        "the message says how to fix it: {message}"
    );
    assert_eq!(hub.stats().with_status(403), 1, "one refused batch");
    let tte_writes: u64 = (tte.stats().requests.iter())
        .filter(|r| r.method != "GET")
        .map(|r| r.count)
        .sum();
    assert_eq!(tte_writes, 0, "no 10to8 customer's status was written");
    let dead = store.dead_letters(100).await.expect("dead letters");
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:?}");

    // Reinstalled with the scope: the next pass syncs everyone, and then has nothing to do.
    let engine = engine_with(installed(&hub, &store, ALL_SCOPES).await);
    let summary = engine
        .reconcile(&ReconcileOptions::default())
        .await
        .expect("the pass runs");
    assert!(!summary.has_failures(), "{summary}");
    assert!(
        summary.to_crm.created > 0 && summary.to_hub.created > 0,
        "{summary:?}"
    );
    let again = dry_run(&engine).await;
    assert_eq!(again.writes(), 0, "converged: {again}");
}
