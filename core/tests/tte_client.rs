//! The 10to8 client against the real simulator over loopback: paging, 404 as deleted,
//! Location identity, blocked deletes, 429 recovery, retries, error kinds, subscriptions and
//! notification delivery.

mod tte_support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::TryStreamExt;
use tte_support::{Receiver, eventually};
use tte_sync_core::ErrorKind;
use tte_sync_core::record::{Customer, CustomerUri};
use tte_sync_core::tte::simulator::{Faults, RateLimit, TteSimConfig, TteSimulator};
use tte_sync_core::tte::{
    CustomerPatch, CustomerWrite, DELETE_BLOCKED, DeleteOutcome, Notification, TteClient, TteConfig,
};

const CUSTOMERS: &str = "/api/enterprise/v2/customer/";

/// These tests count retries: with no stall budget a call fails once its retries are spent,
/// instead of retrying on for the default 15 minutes (one setting for the process).
fn no_stall_budget() {
    tte_sync_core::http::set_max_stall(Duration::ZERO);
}

async fn start(config: TteSimConfig) -> (TteSimulator, TteClient) {
    let sim = TteSimulator::start(config, 0).await.unwrap();
    let client = client_for(&sim, |_| {});
    (sim, client)
}

fn client_for(sim: &TteSimulator, adjust: impl FnOnce(&mut TteConfig)) -> TteClient {
    no_stall_budget();
    let mut config = TteConfig::new(sim.base_url(), sim.api_key().into());
    config.requests_per_second = 0.0;
    config.retry_min_delay_ms = 5;
    adjust(&mut config);
    TteClient::new(config).unwrap()
}

async fn all(client: &TteClient, include_deleted: bool) -> Vec<Vec<Customer>> {
    client.list(include_deleted).try_collect().await.unwrap()
}

fn write(name: &str, email: &str) -> CustomerWrite {
    CustomerWrite {
        name: name.into(),
        emails: vec![email.into()],
        numbers: vec!["+44 7700 900123".into()],
        custom_fields: BTreeMap::from([("External ID".into(), "1".into())]),
    }
}

#[tokio::test]
async fn list_follows_next_over_more_than_a_thousand_customers_with_a_small_page() {
    let (sim, _) = start(TteSimConfig::default()).await;
    let client = client_for(&sim, |config| config.page_size = 7);
    let seeded = sim.seed(2, 0, 1_203, false);
    for id in [5, 600, 1_203] {
        sim.delete(id).unwrap();
    }

    let pages = all(&client, false).await;
    assert_eq!(pages.len(), 1_200_usize.div_ceil(7));
    assert!(pages.iter().all(|page| page.len() <= 7));
    let live: Vec<_> = pages
        .iter()
        .flatten()
        .map(|c| c.resource_uri.clone())
        .collect();
    let expected: Vec<_> = seeded
        .iter()
        .filter(|uri| ![5, 600, 1_203].contains(&sim.customer_id(uri).unwrap()))
        .map(|uri| uri.0.clone())
        .collect();
    assert_eq!(live, expected);
    assert!(pages.iter().flatten().all(|c| !c.deleted));

    let with_deleted: Vec<_> = all(&client, true).await.into_iter().flatten().collect();
    assert_eq!(with_deleted.len(), 1_203);
    let deleted: Vec<_> = with_deleted.iter().filter(|c| c.deleted).collect();
    assert_eq!(deleted.len(), 3);
    assert_eq!(deleted[0].resource_uri, seeded[4].0);

    let first = sim.customer(1).unwrap();
    assert_eq!(with_deleted[0].name, first.name);
    assert_eq!(with_deleted[0].emails, first.emails);
    assert_eq!(with_deleted[0].numbers, first.numbers);
    assert_eq!(
        sim.stats().count("GET", CUSTOMERS),
        (1_200_u64.div_ceil(7)) + (1_203_u64.div_ceil(7)),
        "one request per page, no extra"
    );
}

#[tokio::test]
async fn an_empty_account_lists_no_pages() {
    let (_sim, client) = start(TteSimConfig::default()).await;
    assert!(all(&client, true).await.is_empty());
}

#[tokio::test]
async fn get_returns_the_customer_and_none_once_deleted() {
    let (sim, client) = start(TteSimConfig::default()).await;
    let uri = sim.seed(1, 0, 1, false).remove(0);
    let customer = client.get(&uri).await.unwrap().unwrap();
    assert_eq!(customer.resource_uri, uri.0);
    assert!(!customer.deleted, "a missing `deleted` reads as false");
    sim.delete(1).unwrap();
    assert_eq!(client.get(&uri).await.unwrap(), None);
}

#[tokio::test]
async fn create_takes_the_uri_from_location_byte_for_byte() {
    let (sim, client) = start(TteSimConfig {
        notification_batch_window_ms: 10,
        ..TteSimConfig::default()
    })
    .await;
    let receiver = Receiver::start().await;
    client
        .create_subscription(&receiver.url(None))
        .await
        .unwrap();
    let created = client
        .create(&write("Grace Hopper", "grace@navy"))
        .await
        .unwrap();
    let uri = created.uri().unwrap();
    assert_eq!(uri, sim.customer_uri(1));
    assert_eq!(
        created.emails,
        ["grace@navy"],
        "10to8 accepts an email without a TLD"
    );
    let listed: Vec<_> = all(&client, false).await.into_iter().flatten().collect();
    assert_eq!(listed[0].resource_uri.as_bytes(), uri.as_str().as_bytes());
    eventually("the create is notified", || !receiver.items().is_empty()).await;
    let notification: Notification =
        serde_json::from_value(receiver.received()[0].body.clone()).unwrap();
    assert_eq!(notification.scope, "customer");
    assert_eq!(notification.items, std::slice::from_ref(&uri));
    assert_eq!(
        client
            .get(&notification.items[0])
            .await
            .unwrap()
            .unwrap()
            .name,
        "Grace Hopper"
    );
}

#[tokio::test]
async fn patch_sends_only_the_fields_set_and_custom_fields_merge() {
    let (_sim, client) = start(TteSimConfig::default()).await;
    let created = client.create(&write("A", "a@x.com")).await.unwrap();
    let uri = created.uri().unwrap();
    let patched = client
        .patch(
            &uri,
            &CustomerPatch {
                custom_fields: Some(BTreeMap::from([(
                    "Sync Status".into(),
                    "Last synced: now".into(),
                )])),
                ..CustomerPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.custom_fields["External ID"], "1");
    assert_eq!(patched.custom_fields["Sync Status"], "Last synced: now");
    assert_eq!(patched.emails, ["a@x.com"]);
    assert_eq!(patched.name, "A");
}

#[tokio::test]
async fn a_delete_without_force_is_blocked_by_future_bookings() {
    let (sim, client) = start(TteSimConfig::default()).await;
    let uri = sim.seed(1, 0, 1, false).remove(0);
    sim.set_future_bookings(1, 3).unwrap();
    let DeleteOutcome::Blocked { message, detail } = client.delete(&uri, false).await.unwrap()
    else {
        panic!("expected a blocked delete");
    };
    assert_eq!(message, DELETE_BLOCKED);
    assert_eq!(message, "delete blocked: future bookings");
    assert!(detail.unwrap().contains("future"));
    assert!(client.get(&uri).await.unwrap().is_some(), "still there");
    assert_eq!(
        client.delete(&uri, true).await.unwrap(),
        DeleteOutcome::Deleted
    );
    assert_eq!(
        client.delete(&uri, true).await.unwrap(),
        DeleteOutcome::AlreadyDeleted
    );
}

#[tokio::test]
async fn a_429_storm_is_waited_out_and_counted() {
    let (sim, client) = start(TteSimConfig::default()).await;
    let uri = sim.seed(1, 0, 1, false).remove(0);
    sim.set_faults(Faults {
        throttle_next: 3,
        throttle_retry_after_secs: 1,
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    let customer = client.get(&uri).await.unwrap();
    assert!(customer.is_some(), "the call succeeds after the storm");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "each 429's Retry-After was waited out"
    );
    assert_eq!(sim.stats().throttled, 3);
    assert_eq!(sim.stats().with_status(429), 3);
    assert_eq!(sim.stats().with_status(200), 1);
}

#[tokio::test]
async fn without_retry_after_the_wait_is_read_from_the_429_text() {
    let (sim, _) = start(TteSimConfig::default()).await;
    let uri = sim.seed(1, 0, 1, false).remove(0);
    sim.set_faults(Faults {
        throttle_next: 1,
        throttle_retry_after_secs: 1,
        throttle_without_retry_after: true,
        ..Faults::default()
    });
    let impatient = client_for(&sim, |config| config.max_retries = 0);
    let error = impatient.get(&uri).await.unwrap_err();
    assert_eq!(
        error.kind(),
        &ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(1)),
            daily: false
        },
        "the wait comes from \"Expected available in 1 seconds.\""
    );
    sim.set_faults(Faults {
        throttle_next: 2,
        throttle_retry_after_secs: 1,
        throttle_without_retry_after: true,
        ..Faults::default()
    });
    let client = client_for(&sim, |_| {});
    assert!(client.get(&uri).await.unwrap().is_some());
    assert_eq!(sim.stats().throttled, 3);
}

#[tokio::test]
async fn the_rate_limit_is_obeyed_and_every_call_completes() {
    let (sim, client) = start(TteSimConfig {
        rate_limit: Some(RateLimit {
            requests: 5,
            window_secs: 1,
        }),
        ..TteSimConfig::default()
    })
    .await;
    let uris = sim.seed(1, 0, 12, false);
    for uri in &uris {
        assert!(client.get(uri).await.unwrap().is_some());
    }
    let stats = sim.stats();
    assert!(stats.throttled > 0, "{stats:?}");
    assert_eq!(stats.with_status(200), 12);
}

#[tokio::test]
async fn throttling_past_the_retries_is_a_rate_limit_error() {
    let (sim, _) = start(TteSimConfig::default()).await;
    let client = client_for(&sim, |config| config.max_retries = 1);
    sim.set_faults(Faults {
        throttle_next: 10,
        throttle_retry_after_secs: 0,
        ..Faults::default()
    });
    let error = client.get(&sim.customer_uri(1)).await.unwrap_err();
    assert_eq!(
        error.kind(),
        &ErrorKind::RateLimited {
            retry_after: Some(Duration::ZERO),
            daily: false
        }
    );
    assert!(error.message().contains("sync.max_stall_secs"), "{error}");
    assert_eq!(sim.stats().throttled, 2);
}

#[tokio::test]
async fn server_errors_are_retried_for_reads_but_a_create_is_sent_once() {
    let (sim, client) = start(TteSimConfig {
        fault_seed: 7,
        ..TteSimConfig::default()
    })
    .await;
    let uris = sim.seed(1, 0, 20, false);
    sim.set_faults(Faults {
        error_rate_percent: 40,
        ..Faults::default()
    });
    for uri in &uris {
        assert!(client.get(uri).await.unwrap().is_some());
    }
    assert!(sim.stats().with_status(500) > 0);

    sim.set_faults(Faults {
        error_rate_percent: 100,
        ..Faults::default()
    });
    let error = client.create(&write("B", "b@x.com")).await.unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::Transient);
    assert_eq!(sim.stats().count("POST", CUSTOMERS), 1, "never repeated");
}

#[tokio::test]
async fn a_wrong_key_is_unauthorized_with_a_hint() {
    let (sim, _) = start(TteSimConfig::default()).await;
    let client = client_for(&sim, |config| config.api_key = "wrong".into());
    let error = client.get(&sim.customer_uri(1)).await.unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::Unauthorized);
    assert_eq!(
        error.to_string(),
        "10to8 refused the API key (401); check tte.api_key"
    );
    let error = client
        .list(false)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::Unauthorized);
}

#[tokio::test]
async fn a_refused_value_names_the_field() {
    let (sim, client) = start(TteSimConfig::default()).await;
    let error = client.create(&write("C", "no-at-sign")).await.unwrap_err();
    assert_eq!(
        error.kind(),
        &ErrorKind::Invalid {
            field: Some("emails".into())
        }
    );
    assert!(
        error.message().contains("Enter a valid email address."),
        "{error}"
    );
    let uri = sim.seed(1, 0, 1, false).remove(0);
    sim.delete(1).unwrap();
    let error = client
        .patch(&uri, &CustomerPatch::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::NotFound);
}

#[tokio::test]
async fn an_unreachable_host_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    no_stall_budget();
    let mut config = TteConfig::new(&base, "k".into());
    config.max_retries = 1;
    config.retry_min_delay_ms = 1;
    let client = TteClient::new(config).unwrap();
    let uri = CustomerUri(format!("{base}{CUSTOMERS}1/"));
    let error = client.get(&uri).await.unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::Transient);
    assert!(error.message().contains("tte.api_base_url"), "{error}");
}

#[tokio::test]
async fn subscriptions_are_managed_and_notifications_are_retried_to_the_receiver() {
    let (sim, client) = start(TteSimConfig {
        notification_batch_window_ms: 10,
        notification_retry_base_ms: 10,
        ..TteSimConfig::default()
    })
    .await;
    let receiver = Receiver::start().await;
    let callback = receiver.url(Some("tte:secret"));
    let subscription = client.create_subscription(&callback).await.unwrap();
    assert_eq!(subscription.scope, "customer");
    assert_eq!(subscription.callback_url, callback);
    assert_eq!(
        client.subscriptions().await.unwrap(),
        std::slice::from_ref(&subscription)
    );

    receiver.fail_next(2);
    let uri = sim.seed(1, 0, 1, true).remove(0);
    sim.edit(
        1,
        &CustomerPatch {
            name: Some("Renamed".into()),
            ..CustomerPatch::default()
        },
    )
    .unwrap();
    eventually("delivery despite two failures", || {
        receiver.items().contains(&uri.0)
    })
    .await;
    eventually("both failures counted", || {
        sim.stats().notifications.failed_attempts >= 2
    })
    .await;
    assert_eq!(
        receiver.received()[0].authorization.as_deref(),
        Some("Basic dHRlOnNlY3JldA==")
    );

    assert!(
        client
            .delete_subscription(&subscription.resource_uri)
            .await
            .unwrap()
    );
    assert!(
        !client
            .delete_subscription(&subscription.resource_uri)
            .await
            .unwrap()
    );
    assert!(client.subscriptions().await.unwrap().is_empty());
}
