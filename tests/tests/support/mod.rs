//! A world for engine tests, generic over the CRM: 10to8's simulator and a CRM's ([`CrmSide`]:
//! HubSpot or Pipedrive) on loopback, the real 10to8 client and the CRM's connector pointed at
//! them, the connector's default mapping and a store (in-memory SQLite, or the PostgreSQL at
//! `TTE_SYNC_TEST_DATABASE_URL` in a fresh schema); and [`crm_tests!`], which instantiates a
//! generic test body once per CRM.

#![allow(dead_code)]

mod crm_side;
mod hubspot_side;
mod pipedrive_side;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::TryStreamExt;
use tte_sync_core::CrmRecord;
use tte_sync_core::Secret;
use tte_sync_core::connector::ListQuery;
use tte_sync_core::engine::{Engine, EngineError, ReconcileOptions, Summary, SystemicStop};
use tte_sync_core::mapping::Mapping;
use tte_sync_core::store::{SQLITE_MEMORY, Store, StoreOptions};
use tte_sync_core::tte::simulator::{SimCustomer, TteSimConfig, TteSimulator};
use tte_sync_core::tte::{TteClient, TteConfig};

// Each suite uses a part of the support.
#[allow(unused_imports)]
pub use {
    crm_side::{CrmPerson, CrmSide, Field, Origin},
    hubspot_side::HubSpot,
    pipedrive_side::Pipedrive,
};

/// Instantiates generic test bodies `async fn name<C: CrmSide>()` of the crate root for each
/// CRM named, as tests `module::name`:
/// `crm_tests!(hubspot: HubSpot, pipedrive: Pipedrive => a_test, another_test);`.
#[allow(unused_macros)]
macro_rules! crm_tests {
    ($module:ident: $crm:ident $(, $more:ident: $more_crm:ident)* => $($test:ident),+ $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test::<crate::support::$crm>().await;
                }
            )+
        }
        crate::support::crm_tests!($($more: $more_crm),* => $($test),+);
    };
    (=> $($test:ident),+ $(,)?) => {};
}
#[allow(unused_imports)]
pub(crate) use crm_tests;

/// HubSpot's default mapping, as shipped (for the suites about HubSpot alone).
pub const MAPPING: &str = HubSpot::MAPPING;
/// The seed both simulators generate people from.
pub const SEED: u64 = 5;
/// The CRM property naming the customer.
pub const URI_PROPERTY: &str = "tte_customer_uri";
/// The CRM status property.
pub const CRM_STATUS: &str = "tte_customer_sync_status";
/// The 10to8 custom field naming the record.
pub const EXTERNAL_ID: &str = "External ID";
/// The 10to8 status custom field.
pub const HUB_STATUS: &str = "Sync Status";
/// What every ok status starts with.
pub const OK_PREFIX: &str = "Last synced: ";
/// The env var naming a PostgreSQL database for the store.
pub const DATABASE_ENV: &str = "TTE_SYNC_TEST_DATABASE_URL";
/// Set to `sqlite` to run on SQLite even when [`DATABASE_ENV`] is set (CI runs the engine
/// suite once on each backend this way, without rebuilding).
pub const BACKEND_ENV: &str = "TTE_SYNC_TEST_BACKEND";

static SCHEMAS: AtomicU64 = AtomicU64::new(0);

/// Both simulators, the engine over them and the store.
pub struct World<C: CrmSide = HubSpot> {
    pub tte: TteSimulator,
    /// The CRM's simulator and connector.
    pub crm: C,
    pub store: Store,
    pub engine: Engine,
    /// Drops the test's PostgreSQL schema when the world goes.
    _schema: Option<DropSchema>,
}

/// Drops a PostgreSQL schema when dropped, also after a failed assertion.
pub struct DropSchema {
    url: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Drop cannot await: drop the schema on a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime
                .block_on(async {
                    use sqlx::{Connection, Executor};
                    sqlx::any::install_default_drivers();
                    let mut conn = sqlx::AnyConnection::connect(&url).await?;
                    conn.execute(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE").as_str())
                        .await?;
                    conn.close().await
                })
                .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}: {dropped:?}", self.schema);
        }
    }
}

/// Opens the store for a test: PostgreSQL in a schema of its own when configured (and not
/// overridden by `TTE_SYNC_TEST_BACKEND=sqlite`), otherwise SQLite in memory. Keep the
/// [`DropSchema`] as long as the store is used.
pub async fn test_store() -> (Store, Option<DropSchema>) {
    let sqlite_forced = std::env::var(BACKEND_ENV).is_ok_and(|backend| backend == "sqlite");
    match std::env::var(DATABASE_ENV) {
        Ok(url) if !url.is_empty() && !sqlite_forced => {
            let schema = format!(
                "engine_{}_{}",
                std::process::id(),
                SCHEMAS.fetch_add(1, Ordering::Relaxed)
            );
            let store = Store::open_with(&url, StoreOptions::default().schema(schema.clone()))
                .await
                .expect("postgres store opens");
            (store, Some(DropSchema { url, schema }))
        }
        _ => (
            Store::open(SQLITE_MEMORY)
                .await
                .expect("sqlite store opens"),
            None,
        ),
    }
}

/// What a next full pass of `engine` would do (a dry run).
pub async fn dry_run(engine: &Engine) -> Summary {
    engine
        .reconcile(&ReconcileOptions {
            dry_run: true,
            ..ReconcileOptions::default()
        })
        .await
        .expect("dry run")
}

/// A full pass of `engine` that must stop for a cause every record shares: the stop, and
/// the message a person sees.
pub async fn systemic_stop(engine: &Engine) -> (SystemicStop, String) {
    match engine.reconcile(&ReconcileOptions::default()).await {
        Err(EngineError::Systemic(stop)) => {
            let message = stop.to_string();
            (stop, message)
        }
        other => panic!("a systemic stop, not {other:?}"),
    }
}

impl<C: CrmSide> World<C> {
    /// Empty simulators, properties set up in the CRM.
    pub async fn start() -> Self {
        Self::start_with(TteSimConfig::default(), C::default_config(), 2_000.0).await
    }

    /// As [`World::start`], with these simulator configs and the 10to8 client paced at
    /// `tte_requests_per_second`.
    pub async fn start_with(
        tte_config: TteSimConfig,
        crm_config: C::Config,
        tte_requests_per_second: f64,
    ) -> Self {
        Self::start_with_mapping(tte_config, crm_config, tte_requests_per_second, C::MAPPING).await
    }

    /// As [`World::start_with`], syncing through the `mapping` text.
    pub async fn start_with_mapping(
        tte_config: TteSimConfig,
        crm_config: C::Config,
        tte_requests_per_second: f64,
        mapping: &str,
    ) -> Self {
        Self::start_with_client(tte_config, crm_config, mapping, |config| {
            config.requests_per_second = tte_requests_per_second;
        })
        .await
    }

    /// As [`World::start_with_mapping`], the 10to8 client configured by `tweak_client`.
    pub async fn start_with_client(
        tte_config: TteSimConfig,
        crm_config: C::Config,
        mapping: &str,
        tweak_client: impl FnOnce(&mut TteConfig),
    ) -> Self {
        let tte = TteSimulator::start(tte_config, 0)
            .await
            .expect("10to8 simulator starts");
        let (store, schema) = test_store().await;
        let crm = C::start(crm_config, &store).await;
        let mapping =
            Arc::new(Mapping::compile(mapping, &format!("{}.yaml", C::NAME)).expect("mapping"));
        crm.connector()
            .setup()
            .expect("setup capability")
            .ensure_properties(mapping.property_specs(), false)
            .await
            .expect("properties set up");
        let mut client_config = TteConfig::new(tte.base_url(), Secret::new(tte.api_key()));
        tweak_client(&mut client_config);
        let client = TteClient::new(client_config).expect("10to8 client");
        // Creates at once; the test of the wait sets its own.
        let engine = Engine::new(store.clone(), client, crm.connector(), mapping)
            .with_new_record_settle(std::time::Duration::ZERO);
        Self {
            tte,
            crm,
            store,
            engine,
            _schema: schema,
        }
    }

    /// One full two-way pass.
    pub async fn sync(&self) -> Summary {
        self.engine
            .reconcile(&ReconcileOptions::default())
            .await
            .expect("sync runs")
    }

    /// Every live CRM record with the mapped properties, by id, as the connector lists them.
    pub async fn contacts(&self) -> BTreeMap<String, CrmRecord> {
        let query = ListQuery {
            properties: self.engine.mapping().crm_properties().to_vec(),
            archived: false,
        };
        let connector = self.crm.connector();
        let pages: Vec<Vec<CrmRecord>> = connector.list(query).try_collect().await.expect("list");
        pages
            .into_iter()
            .flatten()
            .map(|r| (r.id.as_str().to_owned(), r))
            .collect()
    }

    /// Every live CRM record as the CRM's simulator holds it, by id.
    pub async fn people(&self) -> BTreeMap<String, CrmPerson> {
        self.contacts()
            .await
            .into_keys()
            .map(|id| {
                let person = self.person(&id);
                (id, person)
            })
            .collect()
    }

    /// CRM record `id` as the CRM's simulator holds it (live or gone).
    pub fn person(&self, id: &str) -> CrmPerson {
        self.crm
            .record(id)
            .unwrap_or_else(|| panic!("the CRM holds record {id}"))
    }

    /// Every live customer.
    pub fn customers(&self) -> Vec<SimCustomer> {
        self.tte
            .customers()
            .into_iter()
            .filter(|c| !c.deleted)
            .collect()
    }

    /// Writes (10to8, CRM) the simulators have answered since their stats were last reset.
    pub fn writes(&self) -> (u64, u64) {
        let tte = self.tte.stats();
        let tte_writes = tte
            .requests
            .iter()
            .filter(|r| r.method != "GET" && r.route.contains("/customer/"))
            .map(|r| r.count)
            .sum();
        (tte_writes, self.crm.writes())
    }

    /// Zeroes both simulators' counters.
    pub fn reset_stats(&self) {
        self.tte.reset_stats();
        self.crm.reset_stats();
    }
}
