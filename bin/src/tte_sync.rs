//! `tte-sync`: the host with this repository's connectors linked in.

// Links the HubSpot connector so that it registers itself.
use tte_sync_hubspot as _;

fn main() -> std::process::ExitCode {
    tte_sync_host::main()
}
