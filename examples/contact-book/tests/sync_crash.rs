//! The engine's crash test against Contact Book, a CRM without native upsert and with one
//! request per write: `contact-book-sync sync` killed at random points of a first full sync
//! and restarted each time converges with no duplicate on either side.

use std::time::Duration;

use contact_book_connector as _;
use tte_sync_core::testkit::crash::CrashTest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_ten_random_points_converges_without_duplicates() {
    let report = CrashTest {
        binary: env!("CARGO_BIN_EXE_contact-book-sync").into(),
        connector: contact_book_connector::NAME,
        seed: 11,
        customers: 600,
        records: (400, 500),
        kills: 10,
        max_kill_delay: Duration::from_millis(1_500),
    }
    .run()
    .await;
    eprintln!("{report:?}");
}
