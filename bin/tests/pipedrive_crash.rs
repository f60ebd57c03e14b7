//! The engine's crash test against Pipedrive, a CRM without upsert that writes one person per
//! request: `tte-sync sync` killed at random points of a first full sync and restarted each
//! time converges with no duplicate on either side (the creates a killed run made are found
//! again by the 10to8 URI in their custom field), and a last run writes nothing.

use tte_sync_core::testkit::crash::CrashTest;

const BIN: &str = env!("CARGO_BIN_EXE_tte-sync");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipedrive_sync_killed_at_ten_random_points_converges_without_duplicates() {
    let report = CrashTest::new(BIN, tte_sync_pipedrive::NAME).run().await;
    eprintln!("{report:?}");
}
