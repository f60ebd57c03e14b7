//! `contact-book-sync`: the tte-sync host with the Contact Book connector linked in.

use contact_book_connector as _;

fn main() -> std::process::ExitCode {
    tte_sync_host::main()
}
