//! The engine against Pipedrive where Pipedrive differs from HubSpot: without upsert, a create
//! that reached Pipedrive before a crash (its intent recorded, its link never saved) is found
//! again by the customer's URI in its custom field — by a search in a live batch, by the
//! listing in a full pass — and linked instead of being sent again; and a merge, which only
//! Pipedrive's webhook tells from a delete, leaves one linked customer. The engine's other
//! behaviours run against Pipedrive in the shared suites (`tests/tests/reconcile.rs` and
//! `live.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use tte_sync_core::Secret;
use tte_sync_core::connector::{
    ChangeEvent, ChangeKind, ConnectorContext, ConnectorFactory, CrmConnector, CrmWrite,
    WriteOutcome,
};
use tte_sync_core::engine::{Engine, ReconcileOptions};
use tte_sync_core::mapping::Mapping;
use tte_sync_core::store::{SQLITE_MEMORY, Store};
use tte_sync_core::testkit::MemoryTokenStore;
use tte_sync_core::tte::simulator::SimCustomer;
use tte_sync_core::tte::simulator::{TteSimConfig, TteSimulator};
use tte_sync_core::tte::{TteClient, TteConfig};
use tte_sync_core::{CrmId, CustomerUri};
use tte_sync_pipedrive::simulator::{APP_USER, PipedriveSimulator, SimulatorConfig};
use tte_sync_pipedrive::{NAME, PipedriveConfig, PipedriveConnector};

const CREATES: &str = "POST /api/v2/persons";
const SEARCHES: &str = "GET /api/v2/persons/search";
const KEY: &str = "tte_customer_uri";
const EXTERNAL_ID: &str = "External ID";

struct World {
    tte: TteSimulator,
    pipedrive: PipedriveSimulator,
    crm: Arc<dyn CrmConnector>,
    store: Store,
    engine: Engine,
}

async fn world() -> World {
    let tte = TteSimulator::start(TteSimConfig::default(), 0)
        .await
        .expect("10to8 simulator");
    let pipedrive = PipedriveSimulator::start(SimulatorConfig::default().unlimited(), 0)
        .await
        .expect("Pipedrive simulator");
    let config: PipedriveConfig = serde_json::from_value(serde_json::json!({
        "api_base_url": pipedrive.base_url(),
        "api_token": pipedrive.config().api_token,
    }))
    .expect("config");
    let context = ConnectorContext {
        tokens: Arc::new(MemoryTokenStore::default()),
    };
    let crm: Arc<dyn CrmConnector> =
        Arc::new(PipedriveConnector::build(config, context).expect("connector"));
    let mapping = Mapping::compile(
        PipedriveConnector::DEFAULT_MAPPING,
        "mappings/pipedrive.yaml",
    )
    .expect("default mapping");
    crm.setup()
        .expect("setup")
        .ensure_properties(mapping.property_specs(), false)
        .await
        .expect("the custom fields");
    let store = Store::open(SQLITE_MEMORY).await.expect("store");
    let mut tte_config = TteConfig::new(tte.base_url(), Secret::new(tte.api_key()));
    tte_config.requests_per_second = 1_000.0;
    let client = TteClient::new(tte_config).expect("10to8 client");
    let engine = Engine::new(store.clone(), client, crm.clone(), Arc::new(mapping));
    World {
        tte,
        pipedrive,
        crm,
        store,
        engine,
    }
}

/// What a run that crashed after its create and before its link left behind: the intent and
/// the person, which names the customer.
async fn crashed_create(world: &World, uri: &CustomerUri) -> CrmId {
    (world.store)
        .record_pending_crm_creates(NAME, std::slice::from_ref(uri))
        .await
        .expect("intent");
    let outcomes = (world.crm)
        .write(vec![CrmWrite::Create {
            id_property: KEY.into(),
            key: uri.to_string(),
            properties: BTreeMap::from([("name".into(), "Half Made".into())]),
        }])
        .await
        .expect("create");
    match outcomes.as_slice() {
        [WriteOutcome::Written { id, created: true }] => id.clone(),
        other => panic!("the crashed run's create: {other:?}"),
    }
}

fn count(world: &World, route: &str) -> u64 {
    let stats = world.pipedrive.stats();
    stats.requests.get(route).copied().unwrap_or(0)
}

async fn assert_linked_once(world: &World, uri: &CustomerUri, person: &CrmId) {
    let link = (world.store)
        .links_by_crm(NAME, std::slice::from_ref(person))
        .await
        .expect("links");
    assert_eq!(link.len(), 1, "the person is linked");
    assert_eq!(&link[0].hub_uri, uri);
    let pending = (world.store)
        .pending_crm_creates_of(NAME, std::slice::from_ref(uri))
        .await
        .expect("pending");
    assert!(pending.is_empty(), "the intent is resolved: {pending:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_batch_finds_a_create_of_a_crashed_run_by_a_search() {
    let world = world().await;
    let uri = world.tte.seed(11, 0, 1, false).remove(0);
    let person = crashed_create(&world, &uri).await;
    let creates = count(&world, CREATES);

    world
        .engine
        .enqueue_hub_changes(std::slice::from_ref(&uri))
        .await
        .expect("queued");
    let summary = world.engine.drain_inbox().await.expect("live batch");
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert_eq!(count(&world, CREATES), creates, "nothing created again");
    assert!(count(&world, SEARCHES) >= 1, "found by a search of the URI");
    assert_eq!(world.pipedrive.person_count(), 1, "no second person");
    assert_linked_once(&world, &uri, &person).await;
    let customer = &world.tte.customers()[0];
    assert_eq!(customer.custom_fields["External ID"], person.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pass_pairs_a_create_of_a_crashed_run_and_resolves_its_intent() {
    let world = world().await;
    let uris = world.tte.seed(11, 0, 3, false);
    let person = crashed_create(&world, &uris[0]).await;
    let creates = count(&world, CREATES);

    let summary = (world.engine)
        .reconcile(&ReconcileOptions::default())
        .await
        .expect("pass");
    assert_eq!(summary.to_crm.created, 2, "{summary}");
    assert_eq!(
        count(&world, CREATES),
        creates + 2,
        "only the two new customers"
    );
    assert_eq!(world.pipedrive.person_count(), 3);
    assert_linked_once(&world, &uris[0], &person).await;
}

/// Live customers of 10to8, with the person each names.
fn live_customers(world: &World) -> Vec<SimCustomer> {
    world
        .tte
        .customers()
        .into_iter()
        .filter(|c| !c.deleted)
        .collect()
}

/// The person customer `customer` names in its External ID.
fn person_of(world: &World, customer: u64) -> u64 {
    world
        .tte
        .customer(customer)
        .expect("customer")
        .custom_fields[EXTERNAL_ID]
        .parse()
        .expect("a person id")
}

/// A webhook-style event of a person changed by a user in the web app.
fn app_event(person: u64, kind: ChangeKind) -> ChangeEvent {
    ChangeEvent {
        object_id: CrmId(person.to_string()),
        kind,
        property: None,
        value: None,
        occurred_at: Utc::now(),
        change_source: Some("app".into()),
        source_id: Some(APP_USER.to_string()),
        account: None,
        event_id: None,
    }
}

/// A world of `n` customers reconciled into an empty Pipedrive.
async fn synced(n: u64) -> World {
    let world = world().await;
    world.tte.seed(11, 0, n, false);
    let summary = (world.engine)
        .reconcile(&ReconcileOptions::default())
        .await
        .expect("pass");
    assert_eq!(summary.to_crm.created, n, "{summary}");
    world
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_in_pipedrive_leaves_one_linked_customer_and_deletes_none() {
    let world = synced(2).await;
    let customers = live_customers(&world);
    let merged = person_of(&world, customers[0].id);
    let survivor = person_of(&world, customers[1].id);
    world.pipedrive.merge(merged, survivor).expect("merge");

    let (queued, _) = world
        .engine
        .enqueue_crm_events(&[app_event(
            survivor,
            ChangeKind::Merged {
                merged_ids: vec![CrmId(merged.to_string())],
            },
        )])
        .await
        .expect("queued");
    assert_eq!(queued.inserted, 1);
    let done = world.engine.drain_inbox().await.expect("live batch");
    assert_eq!(done.failed, 0, "{done:?}");
    assert_eq!(done.sync.to_hub.deleted, 0, "{}", done.sync);

    let survivor_id = CrmId(survivor.to_string());
    let links = (world.store)
        .links_by_crm(NAME, std::slice::from_ref(&survivor_id))
        .await
        .expect("links");
    assert_eq!(links.len(), 1, "the survivor is linked once: {links:?}");
    let merged_links = (world.store)
        .links_by_crm(NAME, &[CrmId(merged.to_string())])
        .await
        .expect("links");
    assert!(merged_links.is_empty(), "{merged_links:?}");
    assert_eq!(world.store.count_links(NAME).await.expect("links"), 1);
    assert_eq!(live_customers(&world).len(), 2, "a merge is not a delete");
    assert_eq!(world.pipedrive.person_count(), 1, "no person made again");
    let linked: Vec<_> = live_customers(&world)
        .into_iter()
        .filter(|c| c.custom_fields.get(EXTERNAL_ID) == Some(&survivor.to_string()))
        .collect();
    assert_eq!(linked.len(), 1, "one customer names the survivor");
}
