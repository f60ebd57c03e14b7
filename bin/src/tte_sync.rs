//! `tte-sync`: the host with this repository's connectors linked in.

// Links the in-repo connectors so that they register themselves.
use tte_sync_hubspot as _;
use tte_sync_pipedrive as _;

fn main() -> std::process::ExitCode {
    tte_sync_host::main()
}
