//! A live batch whose API stays down for longer than the stall budget goes back to the inbox,
//! uncounted: nothing is dead-lettered or written into a record's status for a passing cause,
//! and once the API answers again the change goes through. (Its own test binary: the stall
//! budget is one setting for the whole process.)

mod support;

use std::time::Duration;

use tte_sync_core::tte::CustomerPatch;
use tte_sync_core::tte::simulator::{Faults, TteSimConfig};
use tte_sync_core::{CustomerUri, http};
use tte_sync_hubspot::simulator::SimulatorConfig;

use support::{EXTERNAL_ID, HubSpot, MAPPING, SEED, World};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_batch_out_of_patience_goes_back_to_the_inbox() {
    http::set_max_stall(Duration::from_secs(1));
    let world = World::<HubSpot>::start_with_client(
        TteSimConfig::default(),
        SimulatorConfig::default(),
        MAPPING,
        |config| {
            config.requests_per_second = 2_000.0;
            config.retry_min_delay_ms = 10;
        },
    )
    .await;
    world.tte.seed(SEED, 0, 2, false);
    world.sync().await;
    let customer = world.customers()[0].clone();
    let contact = customer.custom_fields[EXTERNAL_ID].clone();
    let uri = world.tte.customer_uri(customer.id);
    world
        .tte
        .edit(
            customer.id,
            &CustomerPatch {
                name: Some("Ada King".into()),
                ..CustomerPatch::default()
            },
        )
        .expect("edit");
    world
        .engine
        .enqueue_hub_changes(&[CustomerUri(uri.as_str().to_owned())])
        .await
        .expect("queued");

    world.tte.set_faults(Faults {
        error_rate_percent: 100,
        ..Faults::default()
    });
    let stalled = world.engine.drain_inbox().await.expect("drain");
    assert_eq!(stalled.failed, 0, "not counted as a failure: {stalled:?}");
    assert_eq!(stalled.held, 1, "held back: {stalled:?}");
    assert_eq!(world.store.count_dead_letters().await.expect("count"), 0);
    assert_eq!(world.store.count_failing_records().await.expect("count"), 0);
    let inbox = world.store.inbox_stats().await.expect("inbox");
    assert_eq!(inbox.depth, 1, "the change is back in the inbox");
    assert_ne!(
        world.contacts().await[&contact].property("lastname"),
        "King",
        "nothing went through while 10to8 was down"
    );

    world.tte.set_faults(Faults::default());
    let due = inbox.oldest_due_at.expect("due");
    let wait = (due - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(100)).await;
    let done = world.engine.drain_inbox().await.expect("drain");
    assert_eq!(done.processed, 1, "{done:?}");
    assert_eq!(done.failed, 0, "{done:?}");
    assert_eq!(
        world.contacts().await[&contact].property("lastname"),
        "King"
    );
    assert_eq!(world.store.count_dead_letters().await.expect("count"), 0);
}
