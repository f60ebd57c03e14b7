//! The engine against Contact Book, a CRM without native upsert: a create that reached Contact
//! Book before a crash (its intent recorded, its link never saved) is found again by the
//! customer's URI in `external_ref` and linked, by a live batch and by a full pass, instead of
//! being sent again.

use std::collections::BTreeMap;
use std::sync::Arc;

use contact_book_connector::simulator::{ContactBookSimulator, SimulatorConfig};
use contact_book_connector::{ContactBookConfig, ContactBookConnector};
use tte_sync_core::Secret;
use tte_sync_core::connector::{
    ConnectorContext, ConnectorFactory, CrmConnector, CrmWrite, WriteOutcome,
};
use tte_sync_core::engine::{Engine, ReconcileOptions};
use tte_sync_core::mapping::Mapping;
use tte_sync_core::store::{SQLITE_MEMORY, Store};
use tte_sync_core::testkit::MemoryTokenStore;
use tte_sync_core::tte::simulator::{TteSimConfig, TteSimulator};
use tte_sync_core::tte::{TteClient, TteConfig};
use tte_sync_core::{CrmId, CustomerUri};

const CREATES: &str = "POST /v1/contacts";

struct World {
    tte: TteSimulator,
    book: ContactBookSimulator,
    crm: Arc<dyn CrmConnector>,
    store: Store,
    engine: Engine,
}

async fn world() -> World {
    let tte = TteSimulator::start(TteSimConfig::default(), 0)
        .await
        .expect("10to8 simulator");
    let book = ContactBookSimulator::start(
        SimulatorConfig {
            rate_limit_per_ten_seconds: None,
            ..SimulatorConfig::default()
        },
        0,
    )
    .await
    .expect("Contact Book simulator");
    let config: ContactBookConfig = serde_json::from_value(serde_json::json!({
        "api_base_url": book.base_url(),
        "api_key": book.config().api_key,
    }))
    .expect("config");
    let context = ConnectorContext {
        tokens: Arc::new(MemoryTokenStore::default()),
    };
    let crm: Arc<dyn CrmConnector> =
        Arc::new(ContactBookConnector::build(config, context).expect("connector"));
    let mapping = Mapping::compile(ContactBookConnector::DEFAULT_MAPPING, "mapping.yaml")
        .expect("default mapping");
    let store = Store::open(SQLITE_MEMORY).await.expect("store");
    let mut tte_config = TteConfig::new(tte.base_url(), Secret::new(tte.api_key()));
    tte_config.requests_per_second = 1_000.0;
    let client = TteClient::new(tte_config).expect("10to8 client");
    let engine = Engine::new(store.clone(), client, crm.clone(), Arc::new(mapping));
    World {
        tte,
        book,
        crm,
        store,
        engine,
    }
}

/// What a run that crashed after its create and before its link left behind: the intent and
/// the contact, which names the customer.
async fn crashed_create(world: &World, uri: &CustomerUri) -> CrmId {
    (world.store)
        .record_pending_crm_creates(contact_book_connector::NAME, std::slice::from_ref(uri))
        .await
        .expect("intent");
    let outcomes = (world.crm)
        .write(vec![CrmWrite::Create {
            id_property: "external_ref".into(),
            key: uri.to_string(),
            properties: BTreeMap::from([("first_name".into(), "Half".into())]),
        }])
        .await
        .expect("create");
    match outcomes.as_slice() {
        [WriteOutcome::Written { id, created: true }] => id.clone(),
        other => panic!("the crashed run's create: {other:?}"),
    }
}

fn creates(world: &World) -> u64 {
    world
        .book
        .stats()
        .requests
        .get(CREATES)
        .copied()
        .unwrap_or(0)
}

async fn assert_linked_once(world: &World, uri: &CustomerUri, contact: &CrmId) {
    assert_eq!(world.book.contact_count(), 1, "no second contact");
    let link = (world.store)
        .links_by_crm(contact_book_connector::NAME, std::slice::from_ref(contact))
        .await
        .expect("links");
    assert_eq!(link.len(), 1, "the contact is linked");
    assert_eq!(&link[0].hub_uri, uri);
    let pending = (world.store)
        .pending_crm_creates_of(contact_book_connector::NAME, std::slice::from_ref(uri))
        .await
        .expect("pending");
    assert!(pending.is_empty(), "the intent is resolved: {pending:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_batch_finds_a_create_of_a_crashed_run_by_its_intent() {
    let world = world().await;
    let uri = world.tte.seed(11, 0, 1, false).remove(0);
    let contact = crashed_create(&world, &uri).await;
    let before = creates(&world);

    world
        .engine
        .enqueue_hub_changes(std::slice::from_ref(&uri))
        .await
        .expect("queued");
    let summary = world.engine.drain_inbox().await.expect("live batch");
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert_eq!(
        creates(&world),
        before,
        "nothing created again: {:?}",
        world.book.stats()
    );
    assert_linked_once(&world, &uri, &contact).await;
    let customer = &world.tte.customers()[0];
    assert_eq!(customer.custom_fields["External ID"], contact.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_pass_pairs_a_create_of_a_crashed_run_and_resolves_its_intent() {
    let world = world().await;
    let uris = world.tte.seed(11, 0, 3, false);
    let contact = crashed_create(&world, &uris[0]).await;
    let before = creates(&world);

    let summary = (world.engine)
        .reconcile(&ReconcileOptions::default())
        .await
        .expect("pass");
    assert_eq!(summary.to_crm.created, 2, "{summary}");
    assert_eq!(
        creates(&world),
        before + 2,
        "only the two new customers are created"
    );
    assert_eq!(world.book.contact_count(), 3);
    let pending = (world.store)
        .pending_crm_creates_of(contact_book_connector::NAME, &uris)
        .await
        .expect("pending");
    assert!(pending.is_empty(), "every intent is resolved: {pending:?}");
    let link = (world.store)
        .links_by_crm(contact_book_connector::NAME, std::slice::from_ref(&contact))
        .await
        .expect("links");
    assert_eq!(
        link.len(),
        1,
        "the crashed create is linked, not duplicated"
    );
}
