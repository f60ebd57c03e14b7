//! Identity and monitoring through the real binary, on the demo's data (200 customers, 150
//! contacts, 100 people on both sides): after `sync`, no shared person is twice on either
//! side and `status` exits 0 (invalid emails and possible duplicates need attention, they
//! are not failures). A possible duplicate is then resolved by a person with `link`, and
//! taken back with `unlink`.

mod support;

use std::collections::BTreeMap;

use tte_sync_core::simulate::people;
use tte_sync_hubspot::simulator::HubSpotSimulator;

use support::{EXTERNAL_ID, ServeOptions, run, scratch_dir, setup, start_simulators, text};

/// The demo's seed and layout: 10to8 people `0..200`, HubSpot `100..250`.
const SEED: u64 = 1;
const CUSTOMERS: u64 = 200;
const CONTACTS_FROM: u64 = 100;
const CONTACTS: u64 = 150;
const URI_PROPERTY: &str = "tte_customer_uri";

/// Every live contact, by id (ids are handed out in order from the first seeded one).
fn contacts(hubspot: &HubSpotSimulator, first: u64) -> BTreeMap<u64, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut id = first;
    let mut misses = 0;
    while misses < 100 {
        match hubspot.contact(id) {
            Some((properties, false)) => {
                out.insert(id, properties);
                misses = 0;
            }
            _ => misses += 1,
        }
        id += 1;
    }
    out
}

async fn cli(args: &[&str]) -> std::process::Output {
    run(args.iter().map(|a| (*a).to_owned()).collect()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_sync_nobody_is_twice_status_exits_zero_and_a_person_resolves_a_duplicate() {
    let (hubspot, tte) = start_simulators().await;
    tte.seed(SEED, 0, CUSTOMERS, false);
    let seeded = hubspot.seed(SEED, CONTACTS_FROM, CONTACTS);
    let dir = scratch_dir("identity");
    let mut options = ServeOptions::sqlite_in(&dir);
    options.tte_requests_per_second = 1_000.0;
    let config = support::write_config(&dir, &hubspot, &tte, &options);
    let config = config.display().to_string();
    setup(config.as_ref()).await;

    let sync = cli(&["sync", "--config", &config]).await;
    assert!(sync.status.success(), "{}", text(&sync.stderr));
    let status = cli(&["status", "--config", &config]).await;
    let printed = text(&status.stdout);
    assert!(
        status.status.success(),
        "{printed}\n{}",
        text(&status.stderr)
    );
    assert!(printed.contains("failing records  0"), "{printed}");
    assert!(
        printed.contains("possible duplicate, waiting for a person"),
        "{printed}"
    );

    // No shared person twice on either side.
    let all = contacts(&hubspot, seeded[0]);
    for person in people(SEED, CONTACTS_FROM, CUSTOMERS - CONTACTS_FROM) {
        let customer = person.index + 1;
        let contact = seeded[(person.index - CONTACTS_FROM) as usize];
        let copies_in_tte = tte
            .customers()
            .iter()
            .filter(|c| !c.deleted && c.id != customer)
            .filter(|c| c.custom_fields.get(EXTERNAL_ID) == Some(&contact.to_string()))
            .count();
        assert_eq!(copies_in_tte, 0, "{} is twice in 10to8", person.full_name());
        let uri = tte.customer_uri(customer).to_string();
        let copies_in_crm = all
            .iter()
            .filter(|(id, p)| **id != contact && p.get(URI_PROPERTY) == Some(&uri))
            .count();
        assert_eq!(
            copies_in_crm,
            0,
            "{} is twice in HubSpot",
            person.full_name()
        );
    }

    // The person known by name only on both sides waits; a person links them.
    let held = people(SEED, CONTACTS_FROM, CUSTOMERS - CONTACTS_FROM)
        .find(|p| p.emails.is_empty() && p.numbers.is_empty())
        .expect("the demo's data has a person known by name only");
    let customer = held.index + 1;
    let contact = seeded[(held.index - CONTACTS_FROM) as usize];
    let uri = tte.customer_uri(customer).to_string();
    let status_field = &tte.customer(customer).unwrap().custom_fields["Sync Status"];
    assert!(
        status_field.starts_with("Possible duplicate of hubspot record"),
        "{status_field}"
    );

    let missing = cli(&["link", "--config", &config, &uri, "999999"]).await;
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("there is no live CRM record 999999"),
        "{}",
        text(&missing.stderr)
    );
    let linked = cli(&["link", "--config", &config, &uri, &contact.to_string()]).await;
    assert!(linked.status.success(), "{}", text(&linked.stderr));
    let sync = cli(&["sync", "--config", &config]).await;
    assert!(sync.status.success(), "{}", text(&sync.stderr));
    let after = tte.customer(customer).unwrap();
    assert_eq!(after.custom_fields[EXTERNAL_ID], contact.to_string());
    assert!(after.custom_fields["Sync Status"].starts_with("Last synced: "));
    let (properties, _) = hubspot.contact(contact).unwrap();
    assert_eq!(properties.get(URI_PROPERTY), Some(&uri));

    // Taken back: different people after all; each is copied to the other side.
    let apart = cli(&["unlink", "--config", &config, &uri, &contact.to_string()]).await;
    assert!(apart.status.success(), "{}", text(&apart.stderr));
    let sync = cli(&["sync", "--config", &config]).await;
    assert!(sync.status.success(), "{}", text(&sync.stderr));
    let after = tte.customer(customer).unwrap();
    assert_ne!(after.custom_fields[EXTERNAL_ID], contact.to_string());
    let (properties, _) = hubspot.contact(contact).unwrap();
    assert_ne!(properties.get(URI_PROPERTY), Some(&uri));
    let status = cli(&["status", "--config", &config]).await;
    assert!(status.status.success(), "{}", text(&status.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}
