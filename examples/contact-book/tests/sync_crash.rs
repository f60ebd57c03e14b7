//! The engine's crash test against Contact Book, a CRM without native upsert and with one
//! request per write: `contact-book-sync sync` killed at random points of a first full sync
//! and restarted each time converges with no duplicate on either side.

use contact_book_connector as _;
use tte_sync_core::testkit::crash::CrashTest;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_ten_random_points_converges_without_duplicates() {
    let test = CrashTest::new(
        env!("CARGO_BIN_EXE_contact-book-sync"),
        contact_book_connector::NAME,
    );
    let report = test.run().await;
    eprintln!("{report:?}");
}
