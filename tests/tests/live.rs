//! Live processing against 10to8's simulator and a CRM's, each test run against both CRMs
//! (`hubspot::…` and `pipedrive::…`): inbox items queued as the webhook routes queue them,
//! edits made in either app propagate, concurrent edits of different fields both survive, the
//! same field follows the policy, echoes of our own writes write nothing, new records and
//! deletes follow the policy, `retry` requeues dead letters, real 10to8 notifications, two
//! workers and a full pass at once, a person new on both sides at once, a write the CRM
//! refuses, and a backlog of 10to8 notifications read by listing.

mod support;

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use tte_sync_core::Secret;
use tte_sync_core::connector::ChangeKind;
use tte_sync_core::engine::{Engine, ReconcileOptions};
use tte_sync_core::simulate::serve_on_loopback;
use tte_sync_core::store::{Change, ObjectRef};
use tte_sync_core::tte::CustomerPatch;
use tte_sync_core::tte::{Notification, TteClient, TteConfig};

use support::{CrmSide, EXTERNAL_ID, Field, HUB_STATUS, Origin, SEED, World, crm_tests};

crm_tests!(hubspot: HubSpot, pipedrive: Pipedrive =>
    edits_in_either_app_propagate_and_their_echoes_write_nothing,
    new_records_and_deletes_are_handled_live,
    retry_requeues_dead_letters_and_processes_them,
    real_10to8_notifications_propagate_edits_and_their_echoes_write_nothing,
    two_live_workers_and_a_full_pass_at_once_converge_without_duplicates,
    a_person_new_on_both_sides_at_once_is_linked_not_duplicated,
    a_write_the_crm_refuses_is_reported_once_not_rewritten_by_its_own_echo,
    a_backlog_of_10to8_notifications_is_read_by_listing_not_one_get_each,
);

/// How long to wait for the simulator's notifications before giving up (a hang guard, not
/// a timing assertion).
const NOTIFICATION_GUARD: Duration = Duration::from_secs(60);

/// What the host's 10to8 webhook route does: queue the notified customers, answer OK.
async fn tte_webhook(State(engine): State<Engine>, Json(body): Json<Notification>) -> &'static str {
    engine
        .enqueue_hub_changes(&body.items)
        .await
        .expect("queued");
    "OK"
}

/// Waits until 10to8 has delivered at least `items` notified customers in total.
async fn delivered<C: CrmSide>(world: &World<C>, items: u64) {
    let deadline = tokio::time::Instant::now() + NOTIFICATION_GUARD;
    while world.tte.stats().notifications.items_delivered < items {
        assert!(
            tokio::time::Instant::now() < deadline,
            "10to8 never notified"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A synced world of `n` customers; returns it with (customer id, CRM record id) pairs.
async fn synced<C: CrmSide>(n: u64) -> (World<C>, Vec<(u64, String)>) {
    let world = World::<C>::start().await;
    world.tte.seed(SEED, 0, n, false);
    world.sync().await;
    let pairs = world
        .customers()
        .iter()
        .map(|c| (c.id, c.custom_fields[EXTERNAL_ID].clone()))
        .collect();
    (world, pairs)
}

async fn edits_in_either_app_propagate_and_their_echoes_write_nothing<C: CrmSide>() {
    let (world, pairs) = synced::<C>(4).await;
    let (customer, contact) = pairs[0].clone();
    let (other_customer, other_contact) = pairs[1].clone();
    let uri = world.tte.customer_uri(customer);
    let other_uri = world.tte.customer_uri(other_customer);

    // Different fields on the two sides of one pair, and the same field on another pair.
    world
        .tte
        .edit(
            customer,
            &CustomerPatch {
                name: Some("Grace Hopper".into()),
                ..CustomerPatch::default()
            },
        )
        .expect("edit");
    world.crm.user_edit(&contact, Field::Phone, "+1 555 0100");
    world
        .tte
        .edit(
            other_customer,
            &CustomerPatch {
                numbers: Some(vec!["+44 1111".into()]),
                ..CustomerPatch::default()
            },
        )
        .expect("edit");
    world
        .crm
        .user_edit(&other_contact, Field::Phone, "+44 2222");

    world
        .engine
        .enqueue_hub_changes(&[uri.clone(), other_uri.clone()])
        .await
        .expect("queue");
    let events = [
        (world.crm).event(&contact, ChangeKind::PropertyChanged, Origin::User),
        (world.crm).event(&other_contact, ChangeKind::PropertyChanged, Origin::User),
    ];
    let (queued, dropped) = world
        .engine
        .enqueue_crm_events(&events)
        .await
        .expect("queue");
    assert_eq!((queued.inserted, dropped), (2, 0));

    world.reset_stats();
    let done = world.engine.drain_inbox().await.expect("drain");
    assert_eq!(done.processed, 4);
    assert_eq!(done.failed, 0);
    assert_eq!(done.sync.to_crm.conflicts, 1, "{}", done.sync);
    assert_eq!(world.person(&contact).name, "Grace Hopper");
    assert_eq!(
        world
            .tte
            .customer(customer)
            .expect("customer")
            .numbers
            .first()
            .map(String::as_str),
        Some("+1 555 0100")
    );
    assert_eq!(
        world.person(&other_contact).phones,
        ["+44 1111"],
        "10to8 wins"
    );
    let writes = world.writes();
    assert!(
        writes.0 > 0 && writes.1 > 0,
        "both sides were written: {writes:?}"
    );

    // The echoes: the CRM names our connector as the source (dropped before the inbox);
    // 10to8's notifications of our patches are processed and find nothing to do.
    let echoes = [
        (world.crm).event(&contact, ChangeKind::PropertyChanged, Origin::OurWrite),
        (world.crm).event(
            &other_contact,
            ChangeKind::PropertyChanged,
            Origin::OurWrite,
        ),
    ];
    let (queued, dropped) = world
        .engine
        .enqueue_crm_events(&echoes)
        .await
        .expect("queue");
    assert_eq!((queued.inserted, dropped), (0, 2));
    world
        .engine
        .enqueue_hub_changes(&[uri, other_uri])
        .await
        .expect("queue");
    // An echo the CRM could not attribute to us is caught by the snapshots.
    let unattributed =
        (world.crm).event(&contact, ChangeKind::PropertyChanged, Origin::Unattributed);
    world
        .engine
        .enqueue_crm_events(&[unattributed])
        .await
        .expect("queue");
    world.reset_stats();
    let echo = world.engine.drain_inbox().await.expect("drain");
    assert_eq!(echo.processed, 3);
    assert_eq!(echo.sync.writes(), 0, "{}", echo.sync);
    assert_eq!(world.writes(), (0, 0), "echoes lead to zero writes");
}

async fn new_records_and_deletes_are_handled_live<C: CrmSide>() {
    let (world, pairs) = synced::<C>(3).await;

    // A customer new in 10to8 gets a CRM record; a record new in the CRM gets a customer.
    let fresh = world.tte.seed(SEED, 100, 1, false);
    let contact = (world.crm).user_create("Ada Lovelace", Some("ada@example.com"));
    world
        .engine
        .enqueue_hub_changes(&fresh)
        .await
        .expect("queue");
    world
        .engine
        .enqueue_crm_events(&[(world.crm).event(&contact, ChangeKind::Created, Origin::User)])
        .await
        .expect("queue");
    let done = world.engine.drain_inbox().await.expect("drain");
    assert_eq!(done.sync.to_crm.created, 1, "{}", done.sync);
    assert_eq!(done.sync.to_hub.created, 1, "{}", done.sync);
    assert_eq!(world.customers().len(), 5);
    assert_eq!(world.contacts().await.len(), 5);

    // Deleted in 10to8: archived. Deleted in the CRM with future bookings: blocked.
    let (gone, gone_contact) = pairs[0].clone();
    let (booked, booked_contact) = pairs[1].clone();
    world.tte.delete(gone).expect("delete");
    world.tte.set_future_bookings(booked, 2).expect("bookings");
    assert!(world.crm.user_delete(&booked_contact));
    world
        .engine
        .enqueue_hub_changes(&[world.tte.customer_uri(gone)])
        .await
        .expect("queue");
    world
        .engine
        .enqueue_crm_events(&[(world.crm).event(
            &booked_contact,
            ChangeKind::Deleted,
            Origin::User,
        )])
        .await
        .expect("queue");
    let done = world.engine.drain_inbox().await.expect("drain");
    assert_eq!(done.sync.to_crm.deleted, 1, "{}", done.sync);
    assert_eq!(done.sync.delete_blocked, 1, "{}", done.sync);
    assert!(world.person(&gone_contact).gone, "archived");
    let kept = world.tte.customer(booked).expect("customer");
    assert!(!kept.deleted);
    assert_eq!(
        kept.custom_fields[HUB_STATUS],
        "Error: delete blocked: future bookings"
    );
}

async fn retry_requeues_dead_letters_and_processes_them<C: CrmSide>() {
    let (world, pairs) = synced::<C>(2).await;
    let (customer, _) = pairs[0].clone();
    let uri = world.tte.customer_uri(customer);
    let object = ObjectRef::hub(C::NAME, uri.as_str());
    world
        .store
        .record_dead_letter(&object, Change::new("reconcile"), "10to8 was down", 1)
        .await
        .expect("dead letter");
    world
        .tte
        .edit(
            customer,
            &CustomerPatch {
                name: Some("Ada King".into()),
                ..CustomerPatch::default()
            },
        )
        .expect("edit");
    assert!(
        world
            .store
            .requeue_dead_letter_for(&object)
            .await
            .expect("requeue")
    );
    let done = world.engine.drain_inbox().await.expect("drain");
    assert_eq!(done.processed, 1);
    assert_eq!(done.sync.to_crm.updated, 1, "{}", done.sync);
    assert_eq!(world.store.count_dead_letters().await.expect("count"), 0);
    assert_eq!(world.person(&pairs[0].1).name, "Ada King");
}

async fn real_10to8_notifications_propagate_edits_and_their_echoes_write_nothing<C: CrmSide>() {
    let world = World::<C>::start().await;
    let receiver = serve_on_loopback(
        Router::new()
            .route("/tte", post(tte_webhook))
            .with_state(world.engine.clone()),
        0,
    )
    .await
    .expect("receiver");
    let mut config = TteConfig::new(world.tte.base_url(), Secret::new(world.tte.api_key()));
    config.requests_per_second = 1_000.0;
    TteClient::new(config)
        .expect("client")
        .create_subscription(&format!("{}/tte", receiver.base_url()))
        .await
        .expect("subscribed");

    // The first sync writes External ID and status into 3 customers: 3 notifications come
    // back, and processing them writes nothing.
    world.tte.seed(SEED, 0, 3, false);
    world.sync().await;
    delivered(&world, 3).await;
    world.reset_stats();
    let echo = world.engine.drain_inbox().await.expect("drain");
    assert!(echo.processed >= 3);
    assert_eq!(
        world.writes(),
        (0, 0),
        "the sync's own notifications write nothing"
    );

    // An edit in 10to8 is notified and reaches the CRM.
    let customer = world.customers()[0].clone();
    world
        .tte
        .edit(
            customer.id,
            &CustomerPatch {
                name: Some("Mary Jackson".into()),
                ..CustomerPatch::default()
            },
        )
        .expect("edit");
    delivered(&world, 1).await;
    let done = world.engine.drain_inbox().await.expect("drain");
    assert_eq!(done.sync.to_crm.updated, 1, "{}", done.sync);
    let contact = customer.custom_fields[EXTERNAL_ID].clone();
    assert_eq!(world.person(&contact).name, "Mary Jackson");

    // An edit in the CRM reaches 10to8; the notification of our own patch writes nothing.
    world.crm.user_edit(&contact, Field::Phone, "+1 555 0199");
    world
        .engine
        .enqueue_crm_events(&[(world.crm).event(
            &contact,
            ChangeKind::PropertyChanged,
            Origin::User,
        )])
        .await
        .expect("queue");
    world.reset_stats();
    let done = world.engine.drain_inbox().await.expect("drain");
    assert_eq!(done.sync.to_hub.updated, 1, "{}", done.sync);
    delivered(&world, 1).await;
    world.reset_stats();
    let echo = world.engine.drain_inbox().await.expect("drain");
    assert_eq!(echo.processed, 1);
    assert_eq!(
        world.writes(),
        (0, 0),
        "the echo of our patch writes nothing"
    );
    receiver.shutdown().await;
}

/// Runs `process_inbox` as `worker` until nothing is due.
async fn work_inbox(engine: Engine, worker: &'static str) -> u64 {
    let mut failed = 0;
    loop {
        let batch = engine.process_inbox(worker).await.expect("batch");
        if batch.processed == 0 {
            return failed;
        }
        failed += batch.failed;
    }
}

async fn two_live_workers_and_a_full_pass_at_once_converge_without_duplicates<C: CrmSide>() {
    const LINKED: u64 = 60;
    const NEW_EACH_SIDE: u64 = 40;
    let (world, pairs) = synced::<C>(LINKED).await;

    // Edits on both sides of linked pairs, new people on both sides (some of them the same
    // person), all queued as the webhook routes would queue them.
    let mut uris = Vec::new();
    let mut events = Vec::new();
    for (n, (customer, contact)) in pairs.iter().enumerate() {
        let name = format!("Person{n} Edited");
        world
            .tte
            .edit(
                *customer,
                &CustomerPatch {
                    name: Some(name),
                    ..CustomerPatch::default()
                },
            )
            .expect("edit");
        let phone = format!("+44 7000 {n:04}");
        world.crm.user_edit(contact, Field::Phone, &phone);
        uris.push(world.tte.customer_uri(*customer));
        events.push((world.crm).event(contact, ChangeKind::PropertyChanged, Origin::User));
    }
    // People LINKED.. are new in 10to8; LINKED+NEW_EACH_SIDE/2.. are new in the CRM, so half
    // of each side's newcomers are the same person on both sides.
    uris.extend(world.tte.seed(SEED, LINKED, NEW_EACH_SIDE, false));
    for id in (world.crm).seed(SEED, LINKED + NEW_EACH_SIDE / 2, NEW_EACH_SIDE) {
        events.push((world.crm).event(&id, ChangeKind::Created, Origin::User));
    }
    world
        .engine
        .enqueue_hub_changes(&uris)
        .await
        .expect("queue");
    world
        .engine
        .enqueue_crm_events(&events)
        .await
        .expect("queue");

    // One task, three futures: they interleave at every await, as workers and a pass would.
    let options = ReconcileOptions::default();
    let (first, second, pass) = tokio::join!(
        work_inbox(world.engine.clone(), "worker-a"),
        work_inbox(world.engine.clone(), "worker-b"),
        world.engine.reconcile(&options),
    );
    let pass = pass.expect("pass");
    let failed = first + second;
    assert_eq!(failed, 0, "no live batch failed");
    assert!(!pass.has_failures(), "{pass}");
    // Whatever the interleaving left, one more pass finishes, and the one after that has
    // nothing to do.
    world.sync().await;
    world.reset_stats();
    let last = world.sync().await;
    assert_eq!(last.writes(), 0);
    assert_eq!(world.writes(), (0, 0));

    assert_eq!(world.store.count_dead_letters().await.expect("count"), 0);
    // Newcomers held as possible duplicates (known by name only) wait for a person; every
    // other record has exactly one counterpart.
    let held: std::collections::BTreeSet<String> = world
        .store
        .objects_with_reason(C::NAME, tte_sync_core::store::Reason::PossibleDuplicate)
        .await
        .expect("held")
        .into_iter()
        .map(|o| o.object_id)
        .collect();
    assert_eq!(held.is_empty(), last.ambiguous.is_empty(), "{last}");
    let customers: Vec<_> = world
        .customers()
        .into_iter()
        .filter(|c| !held.contains(world.tte.customer_uri(c.id).as_str()))
        .collect();
    let mut contacts = world.contacts().await;
    contacts.retain(|id, _| !held.contains(id));
    assert_eq!(
        customers.len(),
        contacts.len(),
        "one CRM record per customer"
    );
    let mut named = std::collections::BTreeSet::new();
    for customer in &customers {
        let id = &customer.custom_fields[EXTERNAL_ID];
        assert!(named.insert(id.clone()), "{id} names one customer only");
        let contact = &contacts[id];
        assert_eq!(
            contact.property("tte_customer_uri"),
            world.tte.customer_uri(customer.id).as_str()
        );
    }
    for (n, (customer, contact)) in pairs.iter().enumerate() {
        let customer = world.tte.customer(*customer).expect("customer");
        assert_eq!(customer.name, format!("Person{n} Edited"));
        assert_eq!(
            customer.numbers.first().map(String::as_str),
            Some(format!("+44 7000 {n:04}").as_str())
        );
        assert_eq!(world.person(contact).name, format!("Person{n} Edited"));
    }
}

async fn a_person_new_on_both_sides_at_once_is_linked_not_duplicated<C: CrmSide>() {
    let (world, _) = synced::<C>(2).await;
    let engine = world
        .engine
        .clone()
        .with_new_record_settle(Duration::from_secs(1));
    // The same person, new in 10to8 and in the CRM; the CRM's webhook comes first.
    let uris = world.tte.seed(SEED, 100, 5, false);
    let customer = uris
        .iter()
        .filter_map(|uri| world.tte.customer(world.tte.customer_id(uri)?))
        .find(|c| c.emails.first().is_some_and(|e| C::takes_email(e)))
        .expect("a seeded person with an email the CRM takes");
    let email = customer.emails[0].clone();
    let contact = world.crm.user_create("Same", Some(&email));
    engine
        .enqueue_crm_events(&[(world.crm).event(&contact, ChangeKind::Created, Origin::User)])
        .await
        .expect("queue");
    let first = engine.drain_inbox().await.expect("drain");
    assert_eq!(first.held, 1, "the new CRM record waits");
    assert_eq!(first.sync.to_hub.created, 0, "{}", first.sync);

    // 10to8's notification arrives meanwhile: the customer's create finds the CRM record.
    engine
        .enqueue_hub_changes(&[world.tte.customer_uri(customer.id)])
        .await
        .expect("queue");
    let second = engine.drain_inbox().await.expect("drain");
    assert_eq!(second.sync.to_crm.linked, 1, "{}", second.sync);
    // The record's turn comes again once its wait is over: nothing left to create.
    let deadline = tokio::time::Instant::now() + NOTIFICATION_GUARD;
    while world.store.inbox_stats().await.expect("stats").depth > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the CRM record never came back"
        );
        let later = engine.drain_inbox().await.expect("drain");
        assert_eq!(later.sync.to_hub.created, 0, "{}", later.sync);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let linked = world.tte.customer(customer.id).expect("customer");
    assert_eq!(linked.custom_fields[EXTERNAL_ID], contact);
    let holders = world
        .customers()
        .iter()
        .filter(|c| c.emails.first() == Some(&email))
        .count();
    assert_eq!(holders, 1, "no second customer for {email}");
    assert_eq!(world.store.count_dead_letters().await.expect("count"), 0);
}

async fn a_write_the_crm_refuses_is_reported_once_not_rewritten_by_its_own_echo<C: CrmSide>() {
    let (world, pairs) = synced::<C>(2).await;
    let (customer, _) = pairs[0].clone();
    let (_, other_record) = pairs[1].clone();
    let refused = world.crm.refused_edit(&other_record);
    world.tte.edit(customer, &refused).expect("edit");
    let uri = world.tte.customer_uri(customer);
    world
        .engine
        .enqueue_hub_changes(std::slice::from_ref(&uri))
        .await
        .expect("queue");
    let done = world.engine.drain_inbox().await.expect("drain");
    assert_eq!(done.sync.to_crm.failed, 1, "{}", done.sync);
    let status = world
        .tte
        .customer(customer)
        .expect("customer")
        .custom_fields[HUB_STATUS]
        .clone();
    assert!(status.starts_with("Error: "), "{status}");

    // 10to8 notifies us of that status write; the CRM refuses again, and the status already
    // says so: nothing is written to 10to8, so no further notification follows.
    for _ in 0..3 {
        world.reset_stats();
        world
            .engine
            .enqueue_hub_changes(std::slice::from_ref(&uri))
            .await
            .expect("queue");
        let again = world.engine.drain_inbox().await.expect("drain");
        assert_eq!(again.sync.to_crm.failed, 1, "{}", again.sync);
        assert_eq!(world.writes().0, 0, "no 10to8 write on the echo");
        assert_eq!(
            world
                .tte
                .customer(customer)
                .expect("customer")
                .custom_fields[HUB_STATUS],
            status
        );
    }
}

async fn a_backlog_of_10to8_notifications_is_read_by_listing_not_one_get_each<C: CrmSide>() {
    const CUSTOMERS: u64 = 250;
    const LIST_ROUTE: &str = "/api/enterprise/v2/customer/";
    const CUSTOMER_ROUTE: &str = "/api/enterprise/v2/customer/{id}/";
    let (world, pairs) = synced::<C>(CUSTOMERS).await;
    // An edit in 10to8 among the echoes of the pass's writes.
    let (edited, contact) = pairs[137].clone();
    world
        .tte
        .edit(
            edited,
            &CustomerPatch {
                name: Some("Listed Lovelace".into()),
                ..CustomerPatch::default()
            },
        )
        .expect("edit");
    let uris: Vec<_> = pairs
        .iter()
        .map(|(id, _)| world.tte.customer_uri(*id))
        .collect();
    world.reset_stats();
    world
        .engine
        .enqueue_hub_changes(&uris)
        .await
        .expect("queue");
    let done = world.engine.drain_inbox().await.expect("drain");
    assert_eq!(done.processed, CUSTOMERS);
    assert_eq!(done.failed, 0);
    let stats = world.tte.stats();
    // 250 customers are three pages; 250 notifications would have been 250 GETs.
    assert_eq!(stats.count("GET", LIST_ROUTE), 3, "{stats:?}");
    assert_eq!(stats.count("GET", CUSTOMER_ROUTE), 0, "{stats:?}");
    assert_eq!(done.sync.to_crm.updated, 1, "only the edit is written");
    assert_eq!(world.person(&contact).name, "Listed Lovelace");
    // The echoes of the edit's own write (and one more) are too few to list: GETs.
    world.reset_stats();
    world
        .engine
        .enqueue_hub_changes(&uris[..2])
        .await
        .expect("queue");
    let done = world.engine.drain_inbox().await.expect("drain");
    assert_eq!(done.processed, 2);
    let stats = world.tte.stats();
    assert_eq!(stats.count("GET", LIST_ROUTE), 0, "{stats:?}");
    assert_eq!(stats.count("GET", CUSTOMER_ROUTE), 2, "{stats:?}");
}
