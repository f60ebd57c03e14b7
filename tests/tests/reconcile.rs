//! The full two-way pass against 10to8's simulator and a CRM's over loopback, each test run
//! against both CRMs (`hubspot::…` and `pipedrive::…`): the acceptance run (1,000 customers,
//! 800 CRM records, 300 people on both sides), dry runs, one-way passes, edits and the conflict
//! policy, deletes in both directions with the future-bookings block, a create in 10to8 found
//! again after a crash, merges, and the pace learned against 10to8's rate limit.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tte_sync_core::Secret;
use tte_sync_core::engine::{ReconcileOptions, SyncDirection};
use tte_sync_core::mapping::valid_email;
use tte_sync_core::simulate::people;
use tte_sync_core::store::{Action, Direction, Reason, Side};
use tte_sync_core::tte::{CustomerPatch, CustomerWrite, TteClient, TteConfig};

use support::{
    CRM_STATUS, CrmSide, EXTERNAL_ID, Field, HUB_STATUS, OK_PREFIX, SEED, URI_PROPERTY, World,
    crm_tests,
};

crm_tests!(hubspot: HubSpot, pipedrive: Pipedrive =>
    a_full_sync_links_shared_people_creates_the_rest_and_a_second_sync_writes_nothing,
    a_dry_run_plans_without_writing_and_one_way_passes_write_one_side,
    edits_on_either_side_propagate_and_conflicts_follow_the_policy,
    deletes_follow_the_policy_and_future_bookings_block_them,
    a_customer_created_before_a_crash_is_found_again_not_duplicated,
    a_record_merged_away_in_the_crm_never_deletes_its_customer,
    the_pace_learned_against_a_rate_limit_is_kept_and_the_next_run_starts_from_it,
);

const CUSTOMERS: u64 = 1_000;
const CONTACTS_FROM: u64 = 700;
const CONTACTS: u64 = 800;

async fn a_full_sync_links_shared_people_creates_the_rest_and_a_second_sync_writes_nothing<
    C: CrmSide,
>() {
    let world = World::<C>::start().await;
    world.tte.seed(SEED, 0, CUSTOMERS, false);
    let seeded = world.crm.seed(SEED, CONTACTS_FROM, CONTACTS);
    assert_eq!(
        seeded.len() as u64,
        CONTACTS,
        "every generated person is a valid CRM record"
    );

    let first = world.sync().await;
    assert!(!first.has_failures(), "{first}");

    // People on both sides are linked, not duplicated: by email (any the record holds), else
    // by name and phone; those known by name only on both sides wait for a person.
    let everyone_shared: Vec<_> = people(SEED, CONTACTS_FROM, CUSTOMERS - CONTACTS_FROM).collect();
    let shared: Vec<String> = everyone_shared
        .iter()
        .filter_map(|p| p.emails.first().cloned())
        .filter(|e| C::takes_email(e))
        .collect();
    assert!(
        shared.len() > 200,
        "most of the 300 shared people have an email the CRM takes"
    );
    let linkable = everyone_shared
        .iter()
        .filter(|p| !p.numbers.is_empty() || p.emails.iter().any(|e| C::takes_email(e)))
        .count() as u64;
    assert!(
        linkable > shared.len() as u64,
        "some are linked without an email"
    );
    let held_customers: u64 = first
        .ambiguous
        .iter()
        .map(|a| a.customers.len() as u64)
        .sum();
    let held_records: u64 = first.ambiguous.iter().map(|a| a.records.len() as u64).sum();
    assert_eq!(first.to_crm.linked, linkable, "{first}");
    assert_eq!(
        first.to_crm.created,
        CUSTOMERS - linkable - held_customers,
        "{first}"
    );
    assert_eq!(
        first.to_hub.created,
        CONTACTS - linkable - held_records,
        "{first}"
    );

    let customers = world.customers();
    let contacts = world.contacts().await;
    let people = world.people().await;
    assert_eq!(
        customers.len() as u64,
        CUSTOMERS + CONTACTS - linkable - held_records
    );
    assert_eq!(
        contacts.len() as u64,
        CUSTOMERS + CONTACTS - linkable - held_customers
    );
    let expected = customers.len() - held_customers as usize;
    let held = |status: &str| status.starts_with("Possible duplicate of ");

    // Exactly one contact per customer and one customer per contact, ids on both sides.
    let mut by_uri = HashMap::new();
    for contact in contacts.values() {
        let uri = contact.property(URI_PROPERTY);
        if held(contact.property(CRM_STATUS)) {
            continue;
        }
        assert!(!uri.is_empty(), "contact {} names its customer", contact.id);
        assert!(
            by_uri.insert(uri.to_owned(), contact).is_none(),
            "one contact per customer"
        );
    }
    let mut named = BTreeSet::new();
    for customer in customers
        .iter()
        .filter(|c| !held(&c.custom_fields[HUB_STATUS]))
    {
        let uri = world.tte.customer_uri(customer.id);
        let contact = by_uri
            .get(uri.as_str())
            .expect("every customer has a contact");
        let external = &customer.custom_fields[EXTERNAL_ID];
        assert_eq!(
            external,
            contact.id.as_str(),
            "External ID names the contact"
        );
        assert!(named.insert(external.clone()), "one customer per contact");

        // Statuses set; an email the CRM refuses (HubSpot validates them) handled as in the
        // original demo.
        let hub_status = &customer.custom_fields[HUB_STATUS];
        let crm_status = contact.property(CRM_STATUS);
        match customer.emails.first() {
            Some(primary) if !C::takes_email(primary) => {
                let error = format!("Error: Invalid email {primary}");
                assert_eq!(hub_status, &error);
                assert_eq!(crm_status, error);
                let held = &people[contact.id.as_str()].emails;
                assert_eq!(
                    held.first().map_or("", String::as_str),
                    "",
                    "a placeholder in the CRM: {held:?}"
                );
                assert_eq!(
                    customer.emails[0], *primary,
                    "10to8 keeps the invalid email"
                );
            }
            _ => {
                assert!(hub_status.starts_with(OK_PREFIX), "{hub_status}");
                assert!(crm_status.starts_with(OK_PREFIX), "{crm_status}");
            }
        }
    }
    for email in &shared {
        let holders = people
            .values()
            .filter(|p| {
                p.emails
                    .first()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .count();
        assert_eq!(holders, 1, "{email} is on one CRM record");
        let owners = customers
            .iter()
            .filter(|c| {
                c.emails
                    .first()
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
            .count();
        assert_eq!(owners, 1, "{email} is on one customer");
    }
    assert_eq!(
        world.store.count_links(C::NAME).await.expect("links") as usize,
        expected
    );

    // The dashboard's record: one entry per create and link; the emails the CRM refuses need
    // attention, and nothing is failing.
    let activity = world
        .store
        .recent_activity(10_000, None)
        .await
        .expect("log");
    let count = |direction: Direction, action: Action| {
        activity
            .iter()
            .filter(|a| a.direction == direction && a.action == action)
            .count() as u64
    };
    assert_eq!(
        count(Direction::HubToCrm, Action::Created),
        first.to_crm.created
    );
    assert_eq!(
        count(Direction::CrmToHub, Action::Created),
        first.to_hub.created
    );
    assert_eq!(
        count(Direction::HubToCrm, Action::Linked),
        first.to_crm.linked
    );
    let invalid: BTreeSet<String> = customers
        .iter()
        .filter(|c| c.emails.first().is_some_and(|e| !C::takes_email(e)))
        .map(|c| world.tte.customer_uri(c.id).as_str().to_owned())
        .collect();
    let invalid_seeded = customers
        .iter()
        .any(|c| c.emails.first().is_some_and(|e| !valid_email(e)));
    assert!(invalid_seeded, "the seed has invalid emails");
    assert_eq!(world.store.count_failing_records().await.expect("count"), 0);
    let attention = world
        .store
        .attention_records(10_000)
        .await
        .expect("attention");
    let invalid_customers: BTreeSet<String> = attention
        .iter()
        .filter(|r| r.object.side == Side::Hub && r.reason == Reason::InvalidValue)
        .inspect(|r| assert!(r.message.contains("Invalid email"), "{r:?}"))
        .map(|r| r.object.object_id.clone())
        .collect();
    let invalid_linked: BTreeSet<String> = invalid
        .iter()
        .filter(|uri| {
            !attention
                .iter()
                .any(|r| &r.object.object_id == *uri && r.reason == Reason::PossibleDuplicate)
        })
        .cloned()
        .collect();
    assert_eq!(
        invalid_customers, invalid_linked,
        "exactly the invalid emails need attention"
    );

    // A second sync reads and writes nothing.
    world.reset_stats();
    let second = world.sync().await;
    assert_eq!(
        world
            .store
            .recent_activity(10_000, None)
            .await
            .expect("log")
            .len(),
        activity.len(),
        "nothing new in the activity log"
    );
    assert_eq!(second.writes(), 0, "{second}");
    assert_eq!(world.writes(), (0, 0), "no write reached either simulator");
    assert_eq!(second.to_crm.unchanged as usize, expected);
    assert_eq!(second.to_hub.unchanged as usize, expected);
}

async fn a_dry_run_plans_without_writing_and_one_way_passes_write_one_side<C: CrmSide>() {
    let world = World::<C>::start().await;
    world.tte.seed(SEED, 0, 30, false);
    world.crm.seed(SEED, 20, 30);

    world.reset_stats();
    let dry = world
        .engine
        .reconcile(&ReconcileOptions {
            dry_run: true,
            ..ReconcileOptions::default()
        })
        .await
        .expect("dry run");
    assert!(dry.dry_run);
    assert!(!dry.plan.is_empty());
    assert!(dry.to_crm.created > 0 && dry.to_hub.created > 0, "{dry}");
    assert_eq!(world.writes(), (0, 0), "a dry run writes nothing");
    assert!(world.store.recent_runs(5).await.expect("runs").is_empty());

    let to_crm = world
        .engine
        .reconcile(&ReconcileOptions {
            direction: SyncDirection::ToCrm,
            ..ReconcileOptions::default()
        })
        .await
        .expect("to-crm pass");
    assert_eq!(to_crm.to_crm.created, dry.to_crm.created);
    assert_eq!(to_crm.to_hub.writes(), 0);
    assert_eq!(world.customers().len(), 30, "10to8 got no customer");
    assert!(
        world
            .customers()
            .iter()
            .all(|c| !c.custom_fields.contains_key(EXTERNAL_ID)),
        "10to8 was not written"
    );

    let both = world.sync().await;
    assert_eq!(both.to_hub.created, dry.to_hub.created, "{both}");
    assert_eq!(world.customers().len(), world.contacts().await.len());
    world.reset_stats();
    assert_eq!(world.sync().await.writes(), 0);
    assert_eq!(world.writes(), (0, 0));
    let runs = world.store.recent_runs(5).await.expect("runs");
    assert_eq!(runs.len(), 3, "every pass that writes is recorded");
}

async fn edits_on_either_side_propagate_and_conflicts_follow_the_policy<C: CrmSide>() {
    let world = World::<C>::start().await;
    world.tte.seed(SEED, 0, 5, false);
    world.sync().await;
    let customer = world.customers()[0].clone();
    let record = customer.custom_fields[EXTERNAL_ID].clone();

    // Different fields on each side: both survive.
    world
        .tte
        .edit(
            customer.id,
            &CustomerPatch {
                name: Some("Grace Hopper".into()),
                ..CustomerPatch::default()
            },
        )
        .expect("edit");
    world.crm.user_edit(&record, Field::Phone, "+1 555 0100");
    // The same field on both sides: 10to8 wins (hub_wins).
    world
        .tte
        .edit(
            world.customers()[1].id,
            &CustomerPatch {
                numbers: Some(vec!["+44 1111".into()]),
                ..CustomerPatch::default()
            },
        )
        .expect("edit");
    let other = world.customers()[1].custom_fields[EXTERNAL_ID].clone();
    world.crm.user_edit(&other, Field::Phone, "+44 2222");

    let summary = world.sync().await;
    assert_eq!(summary.to_crm.conflicts, 1, "{summary}");
    assert_eq!(world.person(&record).name, "Grace Hopper");
    let after = world.tte.customer(customer.id).expect("customer");
    assert_eq!(
        after.numbers.first().map(String::as_str),
        Some("+1 555 0100")
    );
    assert_eq!(world.person(&other).phones, ["+44 1111"]);
    let conflicts = world
        .store
        .recent_activity(10, Some(Action::Conflict))
        .await
        .expect("log");
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert!(conflicts[0].detail.contains("numbers"), "{conflicts:?}");
    assert_eq!(
        conflicts[0].crm_id.as_ref().map(|id| id.as_str()),
        Some(other.as_str())
    );
    world.reset_stats();
    assert_eq!(world.sync().await.writes(), 0);
    assert_eq!(world.writes(), (0, 0));
}

async fn deletes_follow_the_policy_and_future_bookings_block_them<C: CrmSide>() {
    let world = World::<C>::start().await;
    world.tte.seed(SEED, 0, 3, false);
    world.sync().await;
    let customers = world.customers();
    let id_of = |n: usize| customers[n].custom_fields[EXTERNAL_ID].clone();

    // Deleted in 10to8: the CRM record is archived.
    world.tte.delete(customers[0].id).expect("delete");
    // Deleted in the CRM: the customer is deleted, unless they have future bookings.
    assert!(world.crm.user_delete(&id_of(1)));
    world
        .tte
        .set_future_bookings(customers[2].id, 1)
        .expect("bookings");
    assert!(world.crm.user_delete(&id_of(2)));

    let summary = world.sync().await;
    assert_eq!(summary.to_crm.deleted, 1, "{summary}");
    assert_eq!(summary.to_hub.deleted, 1, "{summary}");
    assert_eq!(summary.delete_blocked, 1, "{summary}");
    assert!(world.person(&id_of(0)).gone, "archived");
    assert!(
        world
            .tte
            .customer(customers[1].id)
            .expect("customer")
            .deleted
    );
    let blocked = world.tte.customer(customers[2].id).expect("customer");
    assert!(!blocked.deleted);
    assert_eq!(
        blocked.custom_fields[HUB_STATUS],
        "Error: delete blocked: future bookings"
    );
    assert!(world.contacts().await.is_empty(), "no CRM record came back");
    for action in [Action::Archived, Action::Deleted] {
        let entries = world
            .store
            .recent_activity(10, Some(action))
            .await
            .expect("log");
        assert_eq!(entries.len(), 1, "{action:?}: {entries:?}");
    }
    let attention = world.store.attention_records(10).await.expect("attention");
    assert!(
        attention.iter().any(|r| r.reason == Reason::DeleteBlocked
            && r.message.contains("delete blocked: future bookings")),
        "{attention:?}"
    );
    assert_eq!(world.store.count_failing_records().await.expect("count"), 0);

    // Still blocked: retried, nothing new written; once the bookings are gone it goes.
    world.reset_stats();
    let again = world.sync().await;
    assert_eq!(again.delete_blocked, 1);
    assert_eq!(world.writes().1, 0);
    world
        .tte
        .set_future_bookings(customers[2].id, 0)
        .expect("bookings");
    let last = world.sync().await;
    assert_eq!(last.to_hub.deleted, 1, "{last}");
    assert!(world.customers().is_empty());
    assert_eq!(world.store.count_links(C::NAME).await.expect("links"), 0);
}

async fn a_customer_created_before_a_crash_is_found_again_not_duplicated<C: CrmSide>() {
    let world = World::<C>::start().await;
    world.crm.seed(SEED, 0, 4);
    let contacts = world.contacts().await;
    let crashed = contacts.keys().next().expect("a contact").clone();

    // The create of a previous pass reached 10to8, then the process died before linking.
    world
        .store
        .record_pending_creates(C::NAME, &[tte_sync_core::CrmId(crashed.clone())])
        .await
        .expect("intent");
    let mut config = TteConfig::new(world.tte.base_url(), Secret::new(world.tte.api_key()));
    config.requests_per_second = 1_000.0;
    let client = TteClient::new(config).expect("client");
    client
        .create(&CustomerWrite {
            name: "Half Done".into(),
            custom_fields: BTreeMap::from([(EXTERNAL_ID.to_owned(), crashed.clone())]),
            ..CustomerWrite::default()
        })
        .await
        .expect("create");

    let summary = world.sync().await;
    assert_eq!(summary.to_hub.created, 3, "{summary}");
    assert_eq!(
        world.customers().len(),
        4,
        "no duplicate of the crashed create"
    );
    assert!(
        world
            .store
            .pending_creates(C::NAME)
            .await
            .expect("pending")
            .is_empty()
    );
    let contacts = world.contacts().await;
    let named = world
        .customers()
        .iter()
        .filter(|c| c.custom_fields.get(EXTERNAL_ID) == Some(&crashed))
        .count();
    assert_eq!(named, 1);
    assert_ne!(contacts[&crashed].property(URI_PROPERTY), "");
}

async fn a_record_merged_away_in_the_crm_never_deletes_its_customer<C: CrmSide>() {
    let world = World::<C>::start().await;
    world.tte.seed(SEED, 0, 2, false);
    world.sync().await;
    let customers = world.customers();
    let id_of = |n: usize| customers[n].custom_fields[EXTERNAL_ID].clone();
    assert!(
        customers.iter().all(|c| !c.emails.is_empty()),
        "seed {SEED} gives both people an email"
    );
    world.crm.user_merge(&id_of(0), &id_of(1));

    let summary = world.sync().await;
    assert_eq!(summary.to_hub.deleted, 0, "{summary}");
    assert_eq!(summary.delete_blocked, 0, "{summary}");
    assert_eq!(world.customers().len(), 2, "a merge is not a delete");

    // The unlinked customer's email now sits on the merged record, which is linked to the
    // other customer: a new record would be a duplicate, so the customer is held as a
    // possible duplicate and its status says of what; nothing is guessed or duplicated.
    let again = world.sync().await;
    assert_eq!(again.to_crm.failed, 0, "{again}");
    assert_eq!(again.ambiguous.len(), 1, "{again}");
    assert_eq!(world.contacts().await.len(), 1, "{again}");
    let unlinked = world.tte.customer(customers[1].id).expect("customer");
    assert!(!unlinked.deleted);
    let held = format!("Possible duplicate of {} record ", C::NAME);
    assert!(
        unlinked.custom_fields[HUB_STATUS].starts_with(&held),
        "{:?}",
        unlinked.custom_fields
    );
}

async fn the_pace_learned_against_a_rate_limit_is_kept_and_the_next_run_starts_from_it<
    C: CrmSide,
>() {
    use std::sync::Arc;

    use tte_sync_core::engine::Engine;
    use tte_sync_core::engine::pace::learned_pace;
    use tte_sync_core::mapping::Mapping;
    use tte_sync_core::tte::simulator::RateLimit;

    const LIMIT: u32 = 20;
    let world = World::<C>::start().await;
    world.tte.set_rate_limit(Some(RateLimit {
        requests: LIMIT,
        window_secs: 1,
    }));
    world.crm.seed(SEED, 0, 80);
    // A client that starts well above 10to8's (unknown to it) limit, with no ceiling.
    let client = |start: f64| {
        let mut config = TteConfig::new(world.tte.base_url(), Secret::new(world.tte.api_key()));
        config.requests_per_second = 0.0;
        config.start_requests_per_second = Some(start);
        TteClient::new(config).expect("client")
    };
    let engine = |client: &TteClient| {
        let mapping = Mapping::compile(C::MAPPING, &format!("{}.yaml", C::NAME)).expect("mapping");
        Engine::new(
            world.store.clone(),
            client.clone(),
            world.crm.connector(),
            Arc::new(mapping),
        )
    };
    let first = client(60.0);
    let summary = engine(&first)
        .reconcile(&ReconcileOptions::default())
        .await
        .expect("sync runs");
    assert_eq!(summary.to_hub.created, 80, "{summary}");
    assert!(world.tte.stats().throttled > 0, "10to8 throttled the start");
    let learned = learned_pace(&world.store)
        .await
        .expect("store")
        .expect("the pace was saved");
    let ended = first.limiter().learned();
    let refused = learned.throttled_at.expect("the refused rate is kept");
    let rate = learned.requests_per_second.expect("paced");
    assert!((rate - ended.requests_per_second.unwrap()).abs() < 1e-6);
    assert!((refused - ended.throttled_at.unwrap()).abs() < 1e-6);
    assert!(rate < refused && rate < 60.0, "{learned:?}");
    assert!(
        refused >= f64::from(LIMIT),
        "refused above the limit: {learned:?}"
    );

    // The next run starts at the learned pace, not at its configured start.
    let second = client(60.0);
    assert_eq!(second.limiter().rate(), Some(60.0));
    engine(&second)
        .reconcile(&ReconcileOptions::default())
        .await
        .expect("sync runs");
    // (Its two list calls may raise the rate a step, no more.)
    let restored = second.limiter().rate().expect("paced");
    assert!(
        (restored - rate).abs() < 5.0,
        "started from {restored}, not {rate}"
    );
}
