//! The state store on both backends: every test in [`on_both_backends!`] runs once on SQLite (a
//! fresh temporary file) and once on PostgreSQL (a fresh schema of its own) when
//! `TTE_SYNC_TEST_DATABASE_URL` is set at build time; otherwise the PostgreSQL runs are listed
//! as ignored with the variable to set. Schemas and files are removed afterwards, also when a
//! test fails.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use sqlx::{Connection, Executor};
use tte_sync_core::connector::{StoredToken, TokenStore};
use tte_sync_core::store::{
    Action, Activity, Backend, Change, Clock, Completion, Direction, Enqueue, FailOutcome,
    InboxItem, Link, ObjectRef, Reason, RecordStatus, RunKind, RunOutcome, Side, Store, StoreError,
    StoreOptions, SyncStatus,
};
use tte_sync_core::{CrmId, CustomerUri, Secret};

const DATABASE_URL_ENV: &str = "TTE_SYNC_TEST_DATABASE_URL";
const HUBSPOT: &str = "hubspot";
const LEASE: Duration = Duration::from_secs(60);

/// Registers each test function once per backend: `<test>::sqlite` and `<test>::postgres`.
macro_rules! on_both_backends {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::run_on_sqlite(super::$test).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[cfg_attr(
                not(postgres_tests),
                ignore = "PostgreSQL: set TTE_SYNC_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test to run"
            )]
            async fn postgres() {
                super::run_on_postgres(super::$test).await;
            }
        }
    )+};
}

on_both_backends!(
    concurrent_opens_migrate_once,
    newer_schema_is_refused,
    upgrades_apply_only_missing_migrations,
    links_round_trip,
    link_conflicts_save_nothing,
    links_repoint_after_merges,
    links_stream_in_pages,
    pending_creates_last_until_resolved,
    inbox_coalesces_per_object,
    inbox_claims_due_items_under_leases,
    inbox_keeps_changes_that_arrive_while_claimed,
    inbox_failures_retry_then_dead_letter,
    dead_letters_requeue,
    release_and_renew_leases,
    postponed_items_come_back_later_without_an_attempt,
    concurrent_claimers_never_overlap_and_lose_nothing,
    tokens_round_trip_through_the_token_store,
    runs_are_recorded_and_pruned,
    record_status_and_activity,
    pairs_kept_apart_round_trip,
    settings_expire_and_take_once,
    privacy_deletion_forgets_everything,
    locks_let_one_holder_work_at_a_time,
);

// ---------------------------------------------------------------------------------------------
// Harness

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh database for one test; [`TestDb::open`] opens a store on it (several stores on one
/// database stand in for replicas).
#[derive(Debug, Clone)]
struct TestDb {
    location: String,
    schema: Option<String>,
    file: Option<PathBuf>,
}

impl TestDb {
    fn unique_name() -> String {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        format!(
            "tte_store_{}_{}_{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn sqlite() -> Self {
        let file = std::env::temp_dir()
            .join("tte-sync-store-tests")
            .join(format!("{}.db", Self::unique_name()));
        Self {
            location: format!("sqlite://{}", file.display()),
            schema: None,
            file: Some(file),
        }
    }

    fn postgres(url: String) -> Self {
        Self {
            location: url,
            schema: Some(Self::unique_name()),
            file: None,
        }
    }

    fn backend(&self) -> Backend {
        if self.schema.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    async fn open(&self) -> Store {
        self.open_with(StoreOptions::default()).await
    }

    async fn try_open_with(&self, options: StoreOptions) -> Result<Store, StoreError> {
        let options = match &self.schema {
            Some(schema) => options.schema(schema.clone()),
            None => options,
        };
        Store::open_with(&self.location, options).await
    }

    async fn open_with(&self, options: StoreOptions) -> Store {
        self.try_open_with(options)
            .await
            .unwrap_or_else(|e| panic!("cannot open the test store: {e}"))
    }

    /// Runs SQL outside the store (to tamper with the database the way an operator might).
    async fn execute_raw(&self, sql: &str) {
        sqlx::any::install_default_drivers();
        let url = match &self.file {
            Some(file) => format!("sqlite://{}", file.display()),
            None => self.location.clone(),
        };
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        if let Some(schema) = &self.schema {
            conn.execute(format!("SET search_path TO \"{schema}\"").as_str())
                .await
                .unwrap();
        }
        conn.execute(sqlx::raw_sql(sql)).await.unwrap();
        conn.close().await.unwrap();
    }
}

/// Removes the test's file or schema when dropped, also after a failed assertion.
struct Cleanup(TestDb);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(file) = &self.0.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
        if let Some(schema) = self.0.schema.clone() {
            let url = self.0.location.clone();
            // Drop cannot await: drop the schema on a thread with a runtime of its own.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime
                    .block_on(async {
                        sqlx::any::install_default_drivers();
                        let mut conn = sqlx::AnyConnection::connect(&url).await?;
                        conn.execute(
                            format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE").as_str(),
                        )
                        .await?;
                        conn.close().await
                    })
                    .map_err(std::io::Error::other)
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                let _ = writeln!(std::io::stderr(), "could not drop test schema: {dropped:?}");
            }
        }
    }
}

async fn run_on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDb::sqlite();
    let _cleanup = Cleanup(db.clone());
    test(db).await;
}

async fn run_on_postgres<F, Fut>(test: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    // Built with the variable set (see core/build.rs), these tests are not ignored; run
    // without it (e.g. `--ignored`), they fail rather than pass without a database.
    let url = std::env::var(DATABASE_URL_ENV)
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            panic!("set {DATABASE_URL_ENV}=postgres://postgres@127.0.0.1:5432/test to run the PostgreSQL store tests")
        });
    let db = TestDb::postgres(url);
    let _cleanup = Cleanup(db.clone());
    test(db).await;
}

/// A clock the test moves by hand.
#[derive(Clone)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn new() -> Self {
        Self(Arc::new(AtomicI64::new(Utc::now().timestamp_millis())))
    }

    fn clock(&self) -> Clock {
        let millis = self.0.clone();
        Clock::from_fn(move || {
            DateTime::from_timestamp_millis(millis.load(Ordering::SeqCst)).unwrap()
        })
    }

    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0.load(Ordering::SeqCst)).unwrap()
    }

    fn advance(&self, by: Duration) {
        self.0
            .fetch_add(i64::try_from(by.as_millis()).unwrap(), Ordering::SeqCst);
    }
}

fn uri(n: usize) -> CustomerUri {
    CustomerUri(format!(
        "https://10to8.test/api/enterprise/v2/customer/{n:05}/"
    ))
}

fn crm(n: usize) -> CrmId {
    CrmId(format!("{}", 1000 + n))
}

fn snapshot(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn enqueue(object: &ObjectRef, change: Change, due_at: DateTime<Utc>) -> Enqueue {
    Enqueue {
        object: object.clone(),
        change,
        due_at,
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ---------------------------------------------------------------------------------------------
// Opening and migrations

async fn concurrent_opens_migrate_once(db: TestDb) {
    // Four replicas start at once against a database that has no tables yet.
    let opens = (0..4).map(|_| db.open());
    let stores = futures_util::future::join_all(opens).await;
    for store in &stores {
        store.ping().await.unwrap();
        assert_eq!(store.backend(), db.backend());
        assert!(store.schema_version() >= 2);
    }
    // Data written through one is seen by the others, and reopening keeps it.
    stores[0].set_setting("k", "v", None).await.unwrap();
    assert_eq!(stores[3].setting("k").await.unwrap().as_deref(), Some("v"));
    for store in &stores {
        store.close().await;
    }
    let reopened = db.open().await;
    assert_eq!(reopened.setting("k").await.unwrap().as_deref(), Some("v"));
}

async fn newer_schema_is_refused(db: TestDb) {
    let store = db.open().await;
    let known_here = store.schema_version();
    store.close().await;
    db.execute_raw(
        "INSERT INTO tte_sync_schema (version, description, applied_at) VALUES (99, 'future', 0)",
    )
    .await;
    let error = db.try_open_with(StoreOptions::default()).await.unwrap_err();
    let StoreError::SchemaTooNew { found, known, .. } = &error else {
        panic!("expected a schema-too-new error, got {error}");
    };
    assert_eq!((*found, *known), (99, known_here));
    assert!(error.to_string().contains("upgrade tte-sync"), "{error}");
}

async fn upgrades_apply_only_missing_migrations(db: TestDb) {
    // A database as the release before named locks left it.
    let store = db.open().await;
    store.set_setting("kept", "yes", None).await.unwrap();
    store.close().await;
    db.execute_raw("DROP TABLE locks; DELETE FROM tte_sync_schema WHERE version = 2;")
        .await;

    let upgraded = db.open().await;
    assert_eq!(
        upgraded.setting("kept").await.unwrap().as_deref(),
        Some("yes")
    );
    assert!(
        upgraded
            .acquire_lock("reconcile", "me", LEASE)
            .await
            .unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// Links

async fn links_round_trip(db: TestDb) {
    let store = db.open().await;
    let link = Link::new(HUBSPOT, uri(1), crm(1)).with_snapshots(
        snapshot(&[("name", "Ada Lovelace"), ("email", "ada@example.com")]),
        snapshot(&[("firstname", "Ada"), ("email", "ada@example.com")]),
    );
    store.upsert_link(&link).await.unwrap();
    let stored = store.link_by_hub(HUBSPOT, &uri(1)).await.unwrap().unwrap();
    assert_eq!(stored.crm_id, crm(1));
    assert_eq!(stored.hub_snapshot, link.hub_snapshot);
    assert_eq!(stored.crm_snapshot, link.crm_snapshot);
    assert_eq!(
        stored.updated_at.timestamp_millis(),
        link.updated_at.timestamp_millis()
    );
    assert_eq!(
        store
            .link_by_crm(HUBSPOT, &crm(1))
            .await
            .unwrap()
            .unwrap()
            .hub_uri,
        uri(1)
    );
    assert!(store.link_by_crm("other", &crm(1)).await.unwrap().is_none());

    // Upsert replaces the snapshots; the customer may move to another record.
    let moved = Link::new(HUBSPOT, uri(1), crm(2))
        .with_snapshots(snapshot(&[("name", "Ada King")]), snapshot(&[]));
    store.upsert_link(&moved).await.unwrap();
    let stored = store.link_by_hub(HUBSPOT, &uri(1)).await.unwrap().unwrap();
    assert_eq!(stored.crm_id, crm(2));
    assert_eq!(stored.hub_snapshot["name"], "Ada King");
    assert!(store.link_by_crm(HUBSPOT, &crm(1)).await.unwrap().is_none());

    // Batch lookups find the linked ones and skip the others.
    let batch: Vec<Link> = (10..20)
        .map(|n| Link::new(HUBSPOT, uri(n), crm(n)))
        .collect();
    store.upsert_links(&batch).await.unwrap();
    let wanted: Vec<CustomerUri> = (5..15).map(uri).collect();
    let mut found: Vec<CustomerUri> = store
        .links_by_hub(HUBSPOT, &wanted)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.hub_uri)
        .collect();
    found.sort();
    assert_eq!(found, (10..15).map(uri).collect::<Vec<_>>());
    let ids: Vec<CrmId> = (0..1200).map(crm).collect();
    assert_eq!(store.links_by_crm(HUBSPOT, &ids).await.unwrap().len(), 11);

    assert!(store.delete_link_by_hub(HUBSPOT, &uri(10)).await.unwrap());
    assert!(!store.delete_link_by_hub(HUBSPOT, &uri(10)).await.unwrap());
    assert!(store.delete_link_by_crm(HUBSPOT, &crm(11)).await.unwrap());
    assert_eq!(store.count_links(HUBSPOT).await.unwrap(), 9);
}

async fn link_conflicts_save_nothing(db: TestDb) {
    let store = db.open().await;
    store
        .upsert_link(&Link::new(HUBSPOT, uri(1), crm(1)))
        .await
        .unwrap();
    // The second link of the batch takes a record already linked to another customer.
    let batch = [
        Link::new(HUBSPOT, uri(2), crm(2)),
        Link::new(HUBSPOT, uri(3), crm(1)),
    ];
    let error = store.upsert_links(&batch).await.unwrap_err();
    match &error {
        StoreError::LinkConflict {
            crm_id, hub_uri, ..
        } => {
            assert_eq!(crm_id, crm(1).as_str());
            assert_eq!(hub_uri, uri(1).as_str());
        }
        other => panic!("expected a link conflict, got {other}"),
    }
    assert!(error.to_string().contains("already linked"), "{error}");
    assert!(store.link_by_hub(HUBSPOT, &uri(2)).await.unwrap().is_none());
    assert_eq!(store.count_links(HUBSPOT).await.unwrap(), 1);
    // The same record id under another connector is no conflict.
    store
        .upsert_link(&Link::new("other", uri(3), crm(1)))
        .await
        .unwrap();
}

async fn links_repoint_after_merges(db: TestDb) {
    let store = db.open().await;
    let links: Vec<Link> = (1..=4)
        .map(|n| Link::new(HUBSPOT, uri(n), crm(n)))
        .collect();
    store.upsert_links(&links).await.unwrap();

    // Records 1 and 2 merged into a new record 9: the first merged record's customer keeps
    // its link, now to 9; record 2's customer loses its link.
    let result = store
        .repoint_crm(HUBSPOT, &[crm(1), crm(2)], &crm(9))
        .await
        .unwrap();
    let kept = result.kept.unwrap();
    assert_eq!(
        (kept.hub_uri.clone(), kept.crm_id.clone()),
        (uri(1), crm(9))
    );
    assert_eq!(
        result
            .unlinked
            .iter()
            .map(|l| l.hub_uri.clone())
            .collect::<Vec<_>>(),
        vec![uri(2)]
    );
    assert_eq!(
        store
            .link_by_crm(HUBSPOT, &crm(9))
            .await
            .unwrap()
            .unwrap()
            .hub_uri,
        uri(1)
    );
    assert!(store.link_by_hub(HUBSPOT, &uri(2)).await.unwrap().is_none());

    // Record 4 merged into record 3, which is linked: 3's link stays, 4's goes.
    let result = store
        .repoint_crm(HUBSPOT, &[crm(4)], &crm(3))
        .await
        .unwrap();
    assert_eq!(result.kept.unwrap().hub_uri, uri(3));
    assert_eq!(result.unlinked.len(), 1);
    assert!(store.link_by_hub(HUBSPOT, &uri(4)).await.unwrap().is_none());

    // Nothing linked: nothing to do.
    let result = store
        .repoint_crm(HUBSPOT, &[crm(50)], &crm(51))
        .await
        .unwrap();
    assert!(result.kept.is_none() && result.unlinked.is_empty());

    // 10to8 customers 1 and 3 merged into 1.
    let result = store
        .repoint_hub(HUBSPOT, &[uri(3)], &uri(1))
        .await
        .unwrap();
    assert_eq!(result.kept.unwrap().crm_id, crm(9));
    assert_eq!(result.unlinked[0].crm_id, crm(3));
    assert_eq!(store.count_links(HUBSPOT).await.unwrap(), 1);
}

async fn links_stream_in_pages(db: TestDb) {
    let store = db.open().await;
    let links: Vec<Link> = (0..1050)
        .map(|n| Link::new(HUBSPOT, uri(n), crm(n)))
        .collect();
    store.upsert_links(&links).await.unwrap();
    store
        .upsert_link(&Link::new("other", uri(5000), crm(5000)))
        .await
        .unwrap();

    let pages: Vec<Vec<Link>> = store.links(HUBSPOT, 100).try_collect().await.unwrap();
    assert_eq!(pages.len(), 11);
    assert!(pages.iter().all(|p| p.len() <= 100));
    let uris: Vec<CustomerUri> = pages.into_iter().flatten().map(|l| l.hub_uri).collect();
    assert_eq!(uris, (0..1050).map(uri).collect::<Vec<_>>());

    // Exact multiples of the page size end without an empty page.
    let pages: Vec<Vec<Link>> = store.links("other", 1).try_collect().await.unwrap();
    assert_eq!(pages.len(), 1);
    let page = store
        .links_page(HUBSPOT, Some(&uri(1047)), 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(store.count_links(HUBSPOT).await.unwrap(), 1050);
}

// ---------------------------------------------------------------------------------------------
// Pending creates

async fn pending_creates_last_until_resolved(db: TestDb) {
    let clock = TestClock::new();
    let store = db
        .open_with(StoreOptions::default().clock(clock.clock()))
        .await;
    let first = clock.now();
    store
        .record_pending_creates(HUBSPOT, &[crm(1), crm(2)])
        .await
        .unwrap();
    clock.advance(secs(30));
    // Recording again (a retry after a crash) keeps the original time.
    store
        .record_pending_creates(HUBSPOT, &[crm(2), crm(3)])
        .await
        .unwrap();
    let pending = store.pending_creates(HUBSPOT).await.unwrap();
    let ids: Vec<CrmId> = pending.iter().map(|p| p.crm_id.clone()).collect();
    assert_eq!(ids, vec![crm(1), crm(2), crm(3)]);
    assert_eq!(pending[1].created_at, first);
    assert!(store.pending_creates("other").await.unwrap().is_empty());

    assert_eq!(
        store
            .resolve_pending_creates(HUBSPOT, &[crm(1), crm(2), crm(7)])
            .await
            .unwrap(),
        2
    );
    let left = store.pending_creates(HUBSPOT).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].crm_id, crm(3));
}

// ---------------------------------------------------------------------------------------------
// Inbox

async fn inbox_coalesces_per_object(db: TestDb) {
    let clock = TestClock::new();
    let store = db
        .open_with(StoreOptions::default().clock(clock.clock()))
        .await;
    let now = clock.now();
    let contact = ObjectRef::crm(HUBSPOT, "1001");
    let customer = ObjectRef::hub(HUBSPOT, uri(1).0);

    // HubSpot sends one event per changed property; one batch, one item.
    let done = store
        .enqueue(vec![
            enqueue(
                &contact,
                Change::new("property_changed").with_property("email"),
                now + secs(5),
            ),
            enqueue(
                &contact,
                Change::new("property_changed").with_property("phone"),
                now + secs(2),
            ),
            enqueue(&customer, Change::new("notification"), now + secs(5)),
        ])
        .await
        .unwrap();
    assert_eq!((done.inserted, done.merged), (2, 0));
    // A later batch merges into the queued item: kinds and properties add up, the earliest
    // due time wins.
    let done = store
        .enqueue(vec![enqueue(
            &contact,
            Change::new("deleted").with_property("email"),
            now + secs(9),
        )])
        .await
        .unwrap();
    assert_eq!((done.inserted, done.merged), (0, 1));

    let stats = store.inbox_stats().await.unwrap();
    assert_eq!((stats.depth, stats.ready, stats.claimed), (2, 0, 0));
    assert_eq!(stats.oldest_due_at, Some(now + secs(2)));
    assert_eq!(stats.oldest_enqueued_at, Some(now));

    let items = store.inbox_items(10).await.unwrap();
    let item = items.iter().find(|i| i.object == contact).unwrap();
    assert_eq!(item.due_at, now + secs(2));
    assert_eq!(item.version, 2);
    assert_eq!(
        item.change.kinds,
        BTreeSet::from(["deleted".to_owned(), "property_changed".to_owned()])
    );
    assert_eq!(
        item.change.properties,
        BTreeSet::from(["email".to_owned(), "phone".to_owned()])
    );
    // The same id on the other side is another object.
    let same_id_hub = ObjectRef::hub(HUBSPOT, "1001");
    store
        .enqueue(vec![enqueue(&same_id_hub, Change::new("x"), now)])
        .await
        .unwrap();
    assert_eq!(store.inbox_stats().await.unwrap().depth, 3);
}

async fn inbox_claims_due_items_under_leases(db: TestDb) {
    let clock = TestClock::new();
    let store = db
        .open_with(StoreOptions::default().clock(clock.clock()))
        .await;
    let now = clock.now();
    let due = ObjectRef::crm(HUBSPOT, "1");
    let later = ObjectRef::crm(HUBSPOT, "2");
    store
        .enqueue(vec![
            enqueue(&due, Change::new("created"), now),
            enqueue(&later, Change::new("created"), now + secs(10)),
        ])
        .await
        .unwrap();

    let claimed = store.claim("worker-a", 10, LEASE).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].object, due);
    assert_eq!(claimed[0].claimed_by.as_deref(), Some("worker-a"));
    assert_eq!(claimed[0].lease_until, Some(now + LEASE));
    // Held: nobody else gets it, and the other item is not due yet.
    assert!(store.claim("worker-b", 10, LEASE).await.unwrap().is_empty());
    let stats = store.inbox_stats().await.unwrap();
    assert_eq!((stats.depth, stats.ready, stats.claimed), (2, 0, 1));

    // Worker a dies; once its lease runs out, worker b gets the item (and the other one, due
    // by then).
    clock.advance(LEASE + secs(1));
    let reclaimed = store.claim("worker-b", 10, LEASE).await.unwrap();
    let objects: Vec<&ObjectRef> = reclaimed.iter().map(|i| &i.object).collect();
    assert_eq!(objects, vec![&due, &later]);
    // Worker a comes back too late: its completion changes nothing.
    assert_eq!(
        store.complete(&claimed[0]).await.unwrap(),
        Completion::LeaseLost
    );
    assert_eq!(
        store.fail(&claimed[0], "late", None).await.unwrap(),
        FailOutcome::LeaseLost
    );
    assert_eq!(
        store.complete_all(&reclaimed).await.unwrap(),
        vec![Completion::Done, Completion::Done]
    );
    assert_eq!(store.inbox_stats().await.unwrap().depth, 0);
}

async fn inbox_keeps_changes_that_arrive_while_claimed(db: TestDb) {
    let clock = TestClock::new();
    let store = db
        .open_with(StoreOptions::default().clock(clock.clock()))
        .await;
    let now = clock.now();
    let contact = ObjectRef::crm(HUBSPOT, "7");
    store
        .enqueue(vec![enqueue(
            &contact,
            Change::new("property_changed").with_property("email"),
            now,
        )])
        .await
        .unwrap();
    let first = store.claim("w", 10, LEASE).await.unwrap().remove(0);

    // Two changes arrive while the worker processes the first.
    clock.advance(secs(1));
    for property in ["phone", "lastname"] {
        store
            .enqueue(vec![enqueue(
                &contact,
                Change::new("property_changed").with_property(property),
                clock.now() + secs(3),
            )])
            .await
            .unwrap();
    }
    // Nobody else can take it meanwhile.
    clock.advance(secs(5));
    assert!(store.claim("other", 10, LEASE).await.unwrap().is_empty());

    assert_eq!(store.complete(&first).await.unwrap(), Completion::Requeued);
    let second = store.claim("other", 10, LEASE).await.unwrap().remove(0);
    assert_eq!(second.object, contact);
    // Everything, so a failed first attempt loses nothing; due when the new change was due.
    assert_eq!(
        second.change.properties,
        BTreeSet::from([
            "email".to_owned(),
            "lastname".to_owned(),
            "phone".to_owned()
        ])
    );
    assert_eq!(second.due_at, now + secs(4));
    assert_eq!(second.enqueued_at, now + secs(1));
    assert_eq!(store.complete(&second).await.unwrap(), Completion::Done);
    assert_eq!(store.inbox_stats().await.unwrap().depth, 0);

    // In a batch, only the item that changed stays queued.
    let objects: Vec<ObjectRef> = (0..3)
        .map(|n| ObjectRef::crm(HUBSPOT, n.to_string()))
        .collect();
    let batch = objects
        .iter()
        .map(|o| enqueue(o, Change::new("created"), clock.now()))
        .collect();
    store.enqueue(batch).await.unwrap();
    let claimed = store.claim("w", 10, LEASE).await.unwrap();
    store
        .enqueue(vec![enqueue(
            &objects[1],
            Change::new("deleted"),
            clock.now(),
        )])
        .await
        .unwrap();
    let outcomes = store.complete_all(&claimed).await.unwrap();
    let by_object: BTreeMap<&ObjectRef, Completion> =
        claimed.iter().map(|i| &i.object).zip(outcomes).collect();
    assert_eq!(by_object[&objects[0]], Completion::Done);
    assert_eq!(by_object[&objects[1]], Completion::Requeued);
    assert_eq!(by_object[&objects[2]], Completion::Done);
    let left = store.inbox_items(10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].object, objects[1]);
    assert!(left[0].change.kinds.contains("deleted"));

    // A merge being processed survives its attempt failing after another change arrived.
    store
        .enqueue(vec![enqueue(
            &contact,
            Change::new("merged").with_merged(["8"]),
            clock.now(),
        )])
        .await
        .unwrap();
    let attempt = store.claim("w", 10, LEASE).await.unwrap();
    let attempt = attempt.iter().find(|i| i.object == contact).unwrap();
    store
        .enqueue(vec![enqueue(
            &contact,
            Change::new("property_changed"),
            clock.now(),
        )])
        .await
        .unwrap();
    let outcome = store
        .fail(attempt, "timeout", Some(clock.now()))
        .await
        .unwrap();
    assert!(matches!(outcome, FailOutcome::Retrying { attempts: 1, .. }));
    let retry = store.claim("w", 10, LEASE).await.unwrap();
    let retry = retry.iter().find(|i| i.object == contact).unwrap();
    assert_eq!(retry.change.merged_ids, BTreeSet::from(["8".to_owned()]));
    assert!(
        retry.change.kinds.contains("merged") && retry.change.kinds.contains("property_changed")
    );
}

async fn inbox_failures_retry_then_dead_letter(db: TestDb) {
    let clock = TestClock::new();
    let store = db
        .open_with(StoreOptions::default().clock(clock.clock()).max_attempts(3))
        .await;
    let contact = ObjectRef::crm(HUBSPOT, "42");
    store
        .enqueue(vec![enqueue(&contact, Change::new("created"), clock.now())])
        .await
        .unwrap();

    for attempt in 1..=2u32 {
        let item = store.claim("w", 1, LEASE).await.unwrap().remove(0);
        assert_eq!(item.attempts, attempt - 1);
        let retry_at = clock.now() + secs(30);
        let outcome = store
            .fail(&item, "hubspot answered 502", Some(retry_at))
            .await
            .unwrap();
        assert_eq!(
            outcome,
            FailOutcome::Retrying {
                attempts: attempt,
                retry_at
            }
        );
        // Not before the retry time.
        assert!(store.claim("w", 1, LEASE).await.unwrap().is_empty());
        let listed = store.inbox_items(1).await.unwrap().remove(0);
        assert_eq!(listed.last_error.as_deref(), Some("hubspot answered 502"));
        assert!(listed.claimed_by.is_none());
        clock.advance(secs(31));
    }
    let item = store.claim("w", 1, LEASE).await.unwrap().remove(0);
    let outcome = store
        .fail(&item, "hubspot answered 502", Some(clock.now() + secs(30)))
        .await
        .unwrap();
    assert_eq!(outcome, FailOutcome::DeadLettered { attempts: 3 });
    assert_eq!(store.inbox_stats().await.unwrap().depth, 0);
    let letters = store.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].object, contact);
    assert_eq!(letters[0].attempts, 3);
    assert_eq!(letters[0].error, "hubspot answered 502");
    assert_eq!(letters[0].failed_at, clock.now());
    assert!(letters[0].change.kinds.contains("created"));

    // A permanent error goes straight to the dead letters.
    let other = ObjectRef::hub(HUBSPOT, uri(3).0);
    store
        .enqueue(vec![enqueue(
            &other,
            Change::new("notification"),
            clock.now(),
        )])
        .await
        .unwrap();
    let item = store.claim("w", 1, LEASE).await.unwrap().remove(0);
    assert_eq!(
        store.fail(&item, "invalid email", None).await.unwrap(),
        FailOutcome::DeadLettered { attempts: 1 }
    );
    assert_eq!(store.count_dead_letters().await.unwrap(), 2);
}

async fn dead_letters_requeue(db: TestDb) {
    let store = db.open().await;
    let objects: Vec<ObjectRef> = (0..5)
        .map(|n| ObjectRef::crm(HUBSPOT, n.to_string()))
        .collect();
    for object in &objects {
        store
            .record_dead_letter(object, Change::new("created"), "refused", 8)
            .await
            .unwrap();
    }
    // A second failure of the same object updates its letter instead of adding one.
    store
        .record_dead_letter(&objects[0], Change::new("deleted"), "refused again", 2)
        .await
        .unwrap();
    assert_eq!(store.count_dead_letters().await.unwrap(), 5);
    let letter = store.dead_letter_for(&objects[0]).await.unwrap().unwrap();
    assert_eq!(letter.error, "refused again");
    assert_eq!(letter.change.kinds.len(), 2);

    assert!(store.requeue_dead_letter(letter.id).await.unwrap());
    assert!(!store.requeue_dead_letter(letter.id).await.unwrap());
    assert!(store.requeue_dead_letter_for(&objects[1]).await.unwrap());
    assert!(!store.requeue_dead_letter_for(&objects[1]).await.unwrap());
    assert_eq!(store.count_dead_letters().await.unwrap(), 3);
    assert_eq!(store.requeue_all_dead_letters().await.unwrap(), 3);
    assert_eq!(store.count_dead_letters().await.unwrap(), 0);

    let items = store.claim("w", 10, LEASE).await.unwrap();
    assert_eq!(items.len(), 5);
    assert!(
        items
            .iter()
            .all(|i| i.change.kinds.contains("retry") && i.attempts == 0)
    );
    let requeued = items.iter().find(|i| i.object == objects[0]).unwrap();
    assert!(requeued.change.kinds.contains("deleted"));
}

async fn release_and_renew_leases(db: TestDb) {
    let clock = TestClock::new();
    let store = db
        .open_with(StoreOptions::default().clock(clock.clock()))
        .await;
    let batch = (0..6)
        .map(|n| {
            enqueue(
                &ObjectRef::crm(HUBSPOT, n.to_string()),
                Change::new("created"),
                clock.now(),
            )
        })
        .collect();
    store.enqueue(batch).await.unwrap();
    assert_eq!(store.claim("a", 4, LEASE).await.unwrap().len(), 4);
    assert_eq!(store.claim("b", 4, LEASE).await.unwrap().len(), 2);

    // a renews; after the first lease would have run out, its items are still its own.
    clock.advance(LEASE / 2);
    assert_eq!(store.renew_leases("a", LEASE).await.unwrap(), 4);
    clock.advance(LEASE / 2 + secs(1));
    let reclaimed = store.claim("c", 10, LEASE).await.unwrap();
    assert_eq!(reclaimed.len(), 2, "only b's expired items are claimable");

    // a shuts down gracefully: its items are due again at once.
    assert_eq!(store.release("a").await.unwrap(), 4);
    assert_eq!(store.release("a").await.unwrap(), 0);
    assert_eq!(store.claim("c", 10, LEASE).await.unwrap().len(), 4);
}

async fn postponed_items_come_back_later_without_an_attempt(db: TestDb) {
    let clock = TestClock::new();
    let store = db
        .open_with(StoreOptions::default().clock(clock.clock()))
        .await;
    let object = ObjectRef::crm(HUBSPOT, "7");
    store
        .enqueue(vec![enqueue(&object, Change::new("created"), clock.now())])
        .await
        .unwrap();
    let item = store.claim("a", 10, LEASE).await.unwrap().remove(0);
    assert!(
        store
            .postpone(&item, clock.now() + chrono::Duration::seconds(5))
            .await
            .unwrap()
    );
    assert!(
        !store.postpone(&item, clock.now()).await.unwrap(),
        "the claim is gone"
    );
    assert!(
        store.claim("b", 10, LEASE).await.unwrap().is_empty(),
        "not due yet"
    );
    clock.advance(secs(5));
    let again = store.claim("b", 10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 0);
    assert!(again[0].change.kinds.contains("created"));
}

/// Several replicas (stores with pools of their own), each with several workers, claim while
/// producers keep enqueueing. Every claim is checked against the objects in flight, and every
/// enqueued change (a unique kind) must reach a worker.
async fn concurrent_claimers_never_overlap_and_lose_nothing(db: TestDb) {
    const REPLICAS: usize = 3;
    const WORKERS_PER_REPLICA: usize = 3;
    const PRODUCERS: usize = 3;
    const EVENTS_PER_PRODUCER: usize = 200;
    const OBJECTS: usize = 40;

    let mut replicas = Vec::new();
    for _ in 0..REPLICAS {
        replicas.push(
            db.open_with(StoreOptions::default().max_connections(4))
                .await,
        );
    }
    let in_flight: Arc<Mutex<HashMap<ObjectRef, String>>> = Arc::default();
    let overlaps: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let producing = Arc::new(AtomicBool::new(true));
    let claims = Arc::new(AtomicU64::new(0));

    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let store = replicas[p % REPLICAS].clone();
        producers.push(tokio::spawn(async move {
            let mut sent = BTreeSet::new();
            for e in 0..EVENTS_PER_PRODUCER {
                let token = format!("p{p}e{e}");
                let object = ObjectRef::crm(HUBSPOT, ((p * 7 + e * 13) % OBJECTS).to_string());
                let second = ObjectRef::hub(HUBSPOT, ((e * 3) % OBJECTS).to_string());
                store
                    .enqueue(vec![
                        enqueue(&object, Change::new(token.clone()), Utc::now()),
                        enqueue(&second, Change::new(format!("{token}h")), Utc::now()),
                    ])
                    .await
                    .unwrap();
                sent.insert(token.clone());
                sent.insert(format!("{token}h"));
                if e % 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            sent
        }));
    }

    let mut workers = Vec::new();
    for (r, store) in replicas.iter().enumerate() {
        for w in 0..WORKERS_PER_REPLICA {
            let store = store.clone();
            let name = format!("replica{r}-worker{w}");
            let (in_flight, overlaps, seen, producing, claims) = (
                in_flight.clone(),
                overlaps.clone(),
                seen.clone(),
                producing.clone(),
                claims.clone(),
            );
            workers.push(tokio::spawn(async move {
                loop {
                    let items: Vec<InboxItem> = store.claim(&name, 5, LEASE).await.unwrap();
                    if items.is_empty() {
                        if !producing.load(Ordering::SeqCst)
                            && store.inbox_stats().await.unwrap().depth == 0
                        {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        continue;
                    }
                    claims.fetch_add(items.len() as u64, Ordering::Relaxed);
                    {
                        let mut flying = in_flight.lock().unwrap();
                        for item in &items {
                            if let Some(holder) = flying.insert(item.object.clone(), name.clone()) {
                                overlaps
                                    .lock()
                                    .unwrap()
                                    .push(format!("{} held by {holder} and {name}", item.object));
                            }
                        }
                    }
                    seen.lock()
                        .unwrap()
                        .extend(items.iter().flat_map(|i| i.change.kinds.iter().cloned()));
                    tokio::task::yield_now().await;
                    {
                        let mut flying = in_flight.lock().unwrap();
                        for item in &items {
                            flying.remove(&item.object);
                        }
                    }
                    // Half the batches complete item by item, half at once.
                    let outcomes = if items[0].id % 2 == 0 {
                        store.complete_all(&items).await.unwrap()
                    } else {
                        let mut outcomes = Vec::new();
                        for item in &items {
                            outcomes.push(store.complete(item).await.unwrap());
                        }
                        outcomes
                    };
                    assert!(
                        !outcomes.contains(&Completion::LeaseLost),
                        "leases are long here"
                    );
                }
            }));
        }
    }

    let mut sent = BTreeSet::new();
    for producer in producers {
        sent.extend(producer.await.unwrap());
    }
    producing.store(false, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }

    assert_eq!(replicas[0].inbox_stats().await.unwrap().depth, 0);
    let overlaps = overlaps.lock().unwrap().clone();
    assert!(
        overlaps.is_empty(),
        "objects claimed twice at once: {overlaps:?}"
    );
    let seen = seen.lock().unwrap().clone();
    let lost: Vec<&String> = sent.difference(&seen).collect();
    assert!(
        lost.is_empty(),
        "{} changes never reached a worker: {lost:?}",
        lost.len()
    );
    assert_eq!(sent.len(), PRODUCERS * EVENTS_PER_PRODUCER * 2);
    assert!(claims.load(Ordering::Relaxed) >= 2 * OBJECTS as u64);
}

// ---------------------------------------------------------------------------------------------
// Tokens, runs, status, activity, settings

async fn tokens_round_trip_through_the_token_store(db: TestDb) {
    let clock = TestClock::new();
    let store = db
        .open_with(StoreOptions::default().clock(clock.clock()))
        .await;
    let tokens: &dyn TokenStore = &store;
    let token = |account: &str, access: &str| StoredToken {
        account: account.to_owned(),
        access_token: Secret::new(access),
        refresh_token: Secret::new(format!("refresh-{access}")),
        expires_at: DateTime::from_timestamp_millis(1_800_000_000_000).unwrap(),
    };
    assert!(tokens.load_token(HUBSPOT, None).await.unwrap().is_none());
    tokens
        .save_token(HUBSPOT, &token("111", "a1"))
        .await
        .unwrap();
    clock.advance(secs(1));
    tokens
        .save_token(HUBSPOT, &token("222", "b1"))
        .await
        .unwrap();
    clock.advance(secs(1));
    // Replacing account 111's token makes it the most recent.
    tokens
        .save_token(HUBSPOT, &token("111", "a2"))
        .await
        .unwrap();

    let latest = tokens.load_token(HUBSPOT, None).await.unwrap().unwrap();
    assert_eq!(latest, token("111", "a2"));
    let other = tokens
        .load_token(HUBSPOT, Some("222"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.access_token.expose(), "b1");
    assert_eq!(other.refresh_token.expose(), "refresh-b1");
    assert!(tokens.load_token("other", None).await.unwrap().is_none());
    assert!(!format!("{latest:?}").contains("a2"));
    assert_eq!(tokens.accounts(HUBSPOT).await.unwrap(), ["111", "222"]);
    assert!(tokens.accounts("other").await.unwrap().is_empty());
}

async fn runs_are_recorded_and_pruned(db: TestDb) {
    let store = db.open_with(StoreOptions::default().run_cap(3)).await;
    let first = store.start_run(RunKind::Reconcile).await.unwrap();
    store
        .finish_run(
            first,
            RunOutcome::Succeeded,
            &serde_json::json!({"created": 3}),
        )
        .await
        .unwrap();
    let mut ids = vec![first];
    for kind in [
        RunKind::Setup,
        RunKind::Live,
        RunKind::Reconcile,
        RunKind::Live,
    ] {
        ids.push(store.start_run(kind).await.unwrap());
    }
    store
        .finish_run(
            ids[3],
            RunOutcome::PartlyFailed,
            &serde_json::json!({"failed": 1}),
        )
        .await
        .unwrap();

    let runs = store.recent_runs(10).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3], ids[2]],
        "newest first, pruned to the cap"
    );
    assert!(runs[0].finished_at.is_none() && runs[0].outcome.is_none());
    let last = store
        .last_finished_run(RunKind::Reconcile)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.id, ids[3]);
    assert_eq!(last.outcome, Some(RunOutcome::PartlyFailed));
    assert_eq!(last.summary, Some(serde_json::json!({"failed": 1})));
    assert!(
        store
            .last_finished_run(RunKind::Setup)
            .await
            .unwrap()
            .is_none()
    );
}

async fn pairs_kept_apart_round_trip(db: TestDb) {
    let store = db.open().await;
    assert!(store.kept_apart(HUBSPOT).await.unwrap().is_empty());
    store.keep_apart(HUBSPOT, &uri(1), &crm(1)).await.unwrap();
    store.keep_apart(HUBSPOT, &uri(1), &crm(1)).await.unwrap();
    store.keep_apart(HUBSPOT, &uri(1), &crm(2)).await.unwrap();
    store.keep_apart("other", &uri(3), &crm(3)).await.unwrap();
    assert_eq!(
        store.kept_apart(HUBSPOT).await.unwrap(),
        [(uri(1), crm(1)), (uri(1), crm(2))]
    );
    assert!(store.forget_apart(HUBSPOT, &uri(1), &crm(1)).await.unwrap());
    assert!(!store.forget_apart(HUBSPOT, &uri(1), &crm(1)).await.unwrap());
    assert_eq!(store.kept_apart(HUBSPOT).await.unwrap(), [(uri(1), crm(2))]);
}

async fn record_status_and_activity(db: TestDb) {
    let clock = TestClock::new();
    let store = db
        .open_with(StoreOptions::default().clock(clock.clock()).activity_cap(3))
        .await;
    let status = |n: usize, status: SyncStatus, message: &str, minutes: u64| RecordStatus {
        object: ObjectRef::hub(HUBSPOT, uri(n).0),
        status,
        reason: match status {
            SyncStatus::Ok => Reason::None,
            SyncStatus::Error => Reason::WriteFailed,
            _ => Reason::DeleteBlocked,
        },
        message: message.to_owned(),
        display_name: format!("Person {n}"),
        updated_at: clock.now() + secs(60 * minutes),
    };
    store
        .set_record_statuses(&[
            status(1, SyncStatus::Ok, "synced", 0),
            status(2, SyncStatus::Error, "email refused", 1),
            status(3, SyncStatus::Error, "timed out", 2),
            status(
                4,
                SyncStatus::Attention,
                "delete blocked: future bookings",
                2,
            ),
        ])
        .await
        .unwrap();
    let failing = store.failing_records(10).await.unwrap();
    assert_eq!(
        failing
            .iter()
            .map(|s| s.display_name.as_str())
            .collect::<Vec<_>>(),
        vec!["Person 3", "Person 2"]
    );
    assert_eq!(failing[0].message, "timed out");
    assert_eq!(store.count_failing_records().await.unwrap(), 2);
    // Designed outcomes are listed apart, never as failing.
    let attention = store.attention_records(10).await.unwrap();
    assert_eq!(attention.len(), 1);
    assert_eq!(attention[0].reason, Reason::DeleteBlocked);
    assert_eq!(store.count_attention_records().await.unwrap(), 1);
    let reasons: Vec<(SyncStatus, Reason, u64)> = store
        .record_reasons()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.status, r.reason, r.count))
        .collect();
    assert_eq!(
        reasons,
        [
            (SyncStatus::Error, Reason::WriteFailed, 2),
            (SyncStatus::Attention, Reason::DeleteBlocked, 1)
        ]
    );
    // A full pass clears the rows of a reason that no longer apply.
    store
        .clear_reason_except(HUBSPOT, Reason::DeleteBlocked, &[])
        .await
        .unwrap();
    assert_eq!(store.count_attention_records().await.unwrap(), 0);
    assert_eq!(
        store.count_failing_records().await.unwrap(),
        2,
        "other reasons stay"
    );
    // Fixed on a later sync.
    store
        .set_record_statuses(&[status(2, SyncStatus::Ok, "synced", 3)])
        .await
        .unwrap();
    assert_eq!(store.count_failing_records().await.unwrap(), 1);
    let fixed = store
        .record_status(&ObjectRef::hub(HUBSPOT, uri(2).0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (fixed.status, fixed.message.as_str()),
        (SyncStatus::Ok, "synced")
    );

    let entry = |n: usize, action: Action| Activity {
        at: clock.now() + secs(n as u64),
        connector: HUBSPOT.to_owned(),
        direction: if n % 2 == 0 {
            Direction::HubToCrm
        } else {
            Direction::CrmToHub
        },
        action,
        hub_uri: Some(uri(n)),
        crm_id: (n != 2).then(|| crm(n)),
        display_name: format!("Person {n}"),
        detail: format!("detail {n}"),
    };
    store
        .log_activity(&[entry(1, Action::Created), entry(2, Action::Conflict)])
        .await
        .unwrap();
    store
        .log_activity(&[
            entry(3, Action::Updated),
            entry(4, Action::Conflict),
            entry(5, Action::Linked),
        ])
        .await
        .unwrap();
    let recent = store.recent_activity(10, None).await.unwrap();
    assert_eq!(
        recent,
        vec![
            entry(5, Action::Linked),
            entry(4, Action::Conflict),
            entry(3, Action::Updated)
        ]
    );
    let conflicts = store
        .recent_activity(10, Some(Action::Conflict))
        .await
        .unwrap();
    assert_eq!(conflicts, vec![entry(4, Action::Conflict)]);
}

async fn settings_expire_and_take_once(db: TestDb) {
    let clock = TestClock::new();
    let store = db
        .open_with(StoreOptions::default().clock(clock.clock()))
        .await;
    assert!(store.setting("tte_webhook_token").await.unwrap().is_none());

    // Replicas racing to generate the webhook token all end up with the first one's.
    let racers = (0..4).map(|n| {
        let store = store.clone();
        async move {
            store
                .setting_or_insert("tte_webhook_token", &format!("token-{n}"))
                .await
                .unwrap()
        }
    });
    let values: BTreeSet<String> = futures_util::future::join_all(racers)
        .await
        .into_iter()
        .collect();
    assert_eq!(values.len(), 1);
    let stored = store.setting("tte_webhook_token").await.unwrap().unwrap();
    assert!(values.contains(&stored));

    // An OAuth state: valid for ten minutes, usable once.
    store
        .set_setting("oauth_state:abc", "hubspot", Some(clock.now() + secs(600)))
        .await
        .unwrap();
    store
        .set_setting("oauth_state:old", "hubspot", Some(clock.now() + secs(60)))
        .await
        .unwrap();
    clock.advance(secs(120));
    assert!(store.setting("oauth_state:old").await.unwrap().is_none());
    assert!(
        store
            .take_setting("oauth_state:old")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .take_setting("oauth_state:abc")
            .await
            .unwrap()
            .as_deref(),
        Some("hubspot")
    );
    assert!(
        store
            .take_setting("oauth_state:abc")
            .await
            .unwrap()
            .is_none()
    );

    store.set_setting("k", "1", None).await.unwrap();
    store.set_setting("k", "2", None).await.unwrap();
    assert_eq!(store.setting("k").await.unwrap().as_deref(), Some("2"));
    assert!(store.delete_setting("k").await.unwrap());
    assert!(!store.delete_setting("k").await.unwrap());
}

async fn privacy_deletion_forgets_everything(db: TestDb) {
    let store = db.open().await;
    let contact = ObjectRef::crm(HUBSPOT, crm(1).0);
    let neighbour = ObjectRef::crm(HUBSPOT, crm(2).0);
    store
        .upsert_links(&[
            Link::new(HUBSPOT, uri(1), crm(1))
                .with_snapshots(snapshot(&[("name", "Ada")]), snapshot(&[])),
            Link::new(HUBSPOT, uri(2), crm(2)),
        ])
        .await
        .unwrap();
    for object in [&contact, &neighbour] {
        store
            .enqueue(vec![enqueue(
                object,
                Change::new("privacy_deleted"),
                Utc::now(),
            )])
            .await
            .unwrap();
        store
            .record_dead_letter(object, Change::new("created"), "refused", 1)
            .await
            .unwrap();
        store
            .set_record_statuses(&[RecordStatus {
                object: object.clone(),
                status: SyncStatus::Error,
                reason: Reason::WriteFailed,
                message: "refused".to_owned(),
                display_name: "Ada".to_owned(),
                updated_at: Utc::now(),
            }])
            .await
            .unwrap();
        store
            .log_activity(&[Activity {
                at: Utc::now(),
                connector: HUBSPOT.to_owned(),
                direction: Direction::HubToCrm,
                action: Action::Updated,
                hub_uri: None,
                crm_id: Some(CrmId(object.object_id.clone())),
                display_name: "Ada".to_owned(),
                detail: String::new(),
            }])
            .await
            .unwrap();
    }
    store
        .record_pending_creates(HUBSPOT, &[crm(1)])
        .await
        .unwrap();

    let link = store.forget_object(&contact).await.unwrap().unwrap();
    assert_eq!(link.hub_uri, uri(1));
    assert_eq!(link.hub_snapshot["name"], "Ada");
    assert!(store.link_by_crm(HUBSPOT, &crm(1)).await.unwrap().is_none());
    assert!(store.dead_letter_for(&contact).await.unwrap().is_none());
    assert!(store.record_status(&contact).await.unwrap().is_none());
    assert!(store.pending_creates(HUBSPOT).await.unwrap().is_empty());
    let queued: Vec<ObjectRef> = store
        .inbox_items(10)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.object)
        .collect();
    assert_eq!(queued, vec![neighbour.clone()]);
    let activity = store.recent_activity(10, None).await.unwrap();
    assert_eq!(activity.len(), 1);
    assert_eq!(activity[0].crm_id, Some(crm(2)));
    // The neighbour is untouched; forgetting twice finds nothing.
    assert!(store.dead_letter_for(&neighbour).await.unwrap().is_some());
    assert_eq!(store.count_links(HUBSPOT).await.unwrap(), 1);
    assert!(store.forget_object(&contact).await.unwrap().is_none());
}

async fn locks_let_one_holder_work_at_a_time(db: TestDb) {
    const RECONCILE: &str = "reconcile";
    let clock = TestClock::new();
    let store = db
        .open_with(StoreOptions::default().clock(clock.clock()))
        .await;

    // Eight replicas start their schedule at once: exactly one gets the lock.
    let racers = (0..8).map(|n| {
        let store = store.clone();
        async move {
            let holder = format!("replica-{n}");
            store
                .acquire_lock(RECONCILE, &holder, LEASE)
                .await
                .unwrap()
                .then_some(holder)
        }
    });
    let winners: Vec<String> = futures_util::future::join_all(racers)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(winners.len(), 1, "{winners:?}");
    let winner = &winners[0];
    let (holder, until) = store.lock_holder(RECONCILE).await.unwrap().unwrap();
    assert_eq!((&holder, until), (winner, clock.now() + LEASE));

    // The holder renews; others keep failing until it expires.
    clock.advance(LEASE / 2);
    assert!(store.acquire_lock(RECONCILE, winner, LEASE).await.unwrap());
    clock.advance(LEASE / 2 + secs(1));
    assert!(!store.acquire_lock(RECONCILE, "late", LEASE).await.unwrap());
    clock.advance(LEASE);
    assert!(store.lock_holder(RECONCILE).await.unwrap().is_none());
    assert!(store.acquire_lock(RECONCILE, "late", LEASE).await.unwrap());
    // The old holder cannot release what it lost; the new one can.
    assert!(!store.release_lock(RECONCILE, winner).await.unwrap());
    assert!(store.release_lock(RECONCILE, "late").await.unwrap());
    assert!(store.acquire_lock(RECONCILE, winner, LEASE).await.unwrap());
    // Other names are other locks.
    assert!(store.acquire_lock("setup", "late", LEASE).await.unwrap());
}

// ---------------------------------------------------------------------------------------------
// SQLite only: locations and durability

#[tokio::test]
async fn sqlite_memory_store_works() {
    let store = Store::open(tte_sync_core::store::SQLITE_MEMORY)
        .await
        .unwrap();
    store
        .upsert_link(&Link::new(HUBSPOT, uri(1), crm(1)))
        .await
        .unwrap();
    assert_eq!(store.count_links(HUBSPOT).await.unwrap(), 1);
    assert_eq!(store.backend(), Backend::Sqlite);
}

#[tokio::test]
async fn sqlite_file_is_created_with_its_directory_and_keeps_data() {
    let db = TestDb::sqlite();
    let _cleanup = Cleanup(db.clone());
    let file = db.file.clone().unwrap();
    let nested = file.with_extension("").join("deeper").join("state.db");
    // A plain path is a SQLite file.
    let store = Store::open(nested.to_str().unwrap()).await.unwrap();
    store.set_setting("k", "kept", None).await.unwrap();
    store.close().await;
    assert!(nested.exists());
    let reopened = Store::open(&format!("sqlite://{}", nested.display()))
        .await
        .unwrap();
    assert_eq!(
        reopened.setting("k").await.unwrap().as_deref(),
        Some("kept")
    );
    reopened.close().await;
    std::fs::remove_dir_all(file.with_extension("")).unwrap();
}

#[tokio::test]
async fn bad_locations_say_how_to_fix_them_without_passwords() {
    let error = Store::open("mysql://root@localhost/tte").await.unwrap_err();
    assert!(matches!(error, StoreError::InvalidLocation { .. }));
    assert!(
        error.to_string().contains("set `database` in the config"),
        "{error}"
    );

    // Nothing listens on port 1.
    let error = Store::open_with(
        "postgres://tte:hunter2@127.0.0.1:1/tte",
        StoreOptions::default().connect_timeout(secs(2)),
    )
    .await
    .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StoreError::Open { .. }), "{message}");
    assert!(
        message.contains("cannot open the database at postgres://tte:***@127.0.0.1:1/tte"),
        "{message}"
    );
    assert!(
        message.contains("check `database` in the config"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn corrupt_rows_are_reported_not_guessed() {
    let db = TestDb::sqlite();
    let _cleanup = Cleanup(db.clone());
    let store = db.open().await;
    db.execute_raw(
        "INSERT INTO inbox (connector, side, object_id, change, due_at, ready_at, enqueued_at, version) \
         VALUES ('hubspot', 'sideways', '1', '{}', 0, 0, 0, 1)",
    )
    .await;
    let error = store.inbox_items(10).await.unwrap_err();
    assert!(
        matches!(error, StoreError::Corrupt { what: "side", .. }),
        "{error}"
    );
    assert_eq!(Side::Hub.to_string(), "hub");
}
