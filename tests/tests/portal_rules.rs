//! HubSpot's 2026-09 enforcement of a portal's own validation rules, through a full pass: a
//! record a rule refuses fails on its own with a status naming the property and what to
//! change in HubSpot, the other records of the same batch are written, and nothing is retried
//! or split. A rule that refuses every record of a batch is the portal's setup, not the
//! records: the pass stops with one error and resumes once the rule is lifted.

mod support;

use std::collections::BTreeMap;

use tte_sync_core::engine::StopSide;
use tte_sync_core::engine::systemic::SYSTEMIC_RUN;
use tte_sync_core::tte::CustomerPatch;
use tte_sync_core::tte::simulator::TteSimConfig;
use tte_sync_hubspot::simulator::{SimulatorConfig, ValidationRules};

use support::{HUB_STATUS, MAPPING, OK_PREFIX, SEED, World, dry_run, systemic_stop};

const BATCH_UPSERT: &str = "POST /crm/objects/2026-09/{object_type}/batch/upsert";
/// The 10to8 custom field the test maps to HubSpot's `company`.
const COMPANY_FIELD: &str = "Company";

/// The default mapping plus the customer's company.
fn mapping_with_company() -> String {
    MAPPING.replacen(
        "\n  - hub: numbers\n",
        &format!("\n  - hub: {{ custom_field: \"{COMPANY_FIELD}\" }}\n    crm: company\n  - hub: numbers\n"),
        1,
    )
}

/// Both simulators, the mapping with the company.
async fn world_with_company() -> World {
    World::start_with_mapping(
        TteSimConfig::default(),
        SimulatorConfig::default(),
        2_000.0,
        &mapping_with_company(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_rule_fails_only_the_records_it_refuses_and_is_not_retried() {
    let world = world_with_company().await;
    let uris = world.tte.seed(SEED, 0, 10, false);
    let customers: Vec<u64> = world.customers().iter().map(|c| c.id).collect();
    assert_eq!(customers.len(), uris.len());
    // Six of the ten have a company; the portal's Create Record form requires one.
    let with_company: Vec<u64> = customers.iter().copied().take(6).collect();
    for id in &with_company {
        let patch = CustomerPatch {
            custom_fields: Some(BTreeMap::from([(
                COMPANY_FIELD.to_owned(),
                format!("Company {id}"),
            )])),
            ..CustomerPatch::default()
        };
        world.tte.edit(*id, &patch).expect("company set");
    }
    world.crm.sim.set_validation_rules(ValidationRules {
        required_on_create: vec!["company".to_owned()],
        ..ValidationRules::default()
    });
    world.reset_stats();

    let summary = world.sync().await;

    assert_eq!(summary.to_crm.created, 6, "{summary:?}");
    assert_eq!(summary.to_crm.failed, 4, "{summary:?}");
    for customer in world.customers() {
        let status = customer
            .custom_fields
            .get(HUB_STATUS)
            .cloned()
            .unwrap_or_default();
        if with_company.contains(&customer.id) {
            assert!(status.starts_with(OK_PREFIX), "{}: {status}", customer.id);
        } else {
            assert!(
                status.contains("`company` is required") && status.contains("Record customization"),
                "{} says what to change: {status}",
                customer.id
            );
        }
    }
    // The ten creates went in one batch: the refusals were answered per record, not split
    // into smaller batches or retried.
    assert_eq!(world.crm.sim.stats().requests_on(BATCH_UPSERT), 1);
    assert_eq!(world.crm.sim.contact_count(), 6);
    let dead = world.store.dead_letters(100).await.expect("dead letters");
    assert!(
        dead.iter()
            .all(|d| d.error.contains("`company` is required")),
        "{dead:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_rule_refusing_every_record_stops_the_pass_once_and_it_resumes_when_lifted() {
    let world = world_with_company().await;
    // Nobody has a company, and the portal's Create Record form requires one.
    let uris = world.tte.seed(SEED, 0, 30, false);
    world.crm.sim.set_validation_rules(ValidationRules {
        required_on_create: vec!["company".to_owned()],
        ..ValidationRules::default()
    });
    world.reset_stats();

    let (stop, message) = systemic_stop(&world.engine).await;
    assert_eq!(stop.side, StopSide::Crm);
    assert!(stop.refused >= SYSTEMIC_RUN, "{stop:?}");
    assert!(
        message.contains("`company` is required"),
        "the message says what to change: {message}"
    );
    assert_eq!(
        world.crm.sim.stats().requests_on(BATCH_UPSERT),
        1,
        "one refused batch"
    );
    assert_eq!(
        world.writes().0,
        0,
        "no 10to8 customer's status was written"
    );
    let dead = world.store.dead_letters(100).await.expect("dead letters");
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:?}");
    assert!(
        world
            .customers()
            .iter()
            .all(|c| !c.custom_fields.contains_key(HUB_STATUS)),
        "no status written"
    );

    // The rule is lifted in HubSpot: the next pass does it all.
    world
        .crm
        .sim
        .set_validation_rules(ValidationRules::default());
    let summary = world.sync().await;
    assert!(!summary.has_failures(), "{summary}");
    assert_eq!(summary.to_crm.created, uris.len() as u64, "{summary:?}");
    let again = dry_run(&world.engine).await;
    assert_eq!(again.writes(), 0, "converged: {again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_batch_refused_alike_waits_in_the_inbox_without_failing_its_records() {
    let world = world_with_company().await;
    let uris = world.tte.seed(SEED, 0, 20, false);
    world.crm.sim.set_validation_rules(ValidationRules {
        required_on_create: vec!["company".to_owned()],
        ..ValidationRules::default()
    });
    world
        .engine
        .enqueue_hub_changes(&uris)
        .await
        .expect("queued");
    world.reset_stats();

    let live = world.engine.drain_inbox().await.expect("the store answers");
    assert_eq!(live.failed, 0, "{live:?}");
    assert_eq!(live.held, uris.len() as u64, "every change waits: {live:?}");
    assert_eq!(
        world.crm.sim.stats().requests_on(BATCH_UPSERT),
        1,
        "one refused batch"
    );
    assert_eq!(
        world.writes().0,
        0,
        "no 10to8 customer's status was written"
    );
    let dead = world.store.dead_letters(100).await.expect("dead letters");
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:?}");
    let waiting = world.store.inbox_items(100).await.expect("inbox");
    assert_eq!(waiting.len(), uris.len(), "the changes are still queued");
}
