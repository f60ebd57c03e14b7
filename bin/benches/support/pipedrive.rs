//! The bench setting with Pipedrive as the CRM: the 10to8 and Pipedrive simulators in this
//! process and a config file pointing the real binary at them (`connector: pipedrive`, API
//! token, webhook credentials for `setup` to register; no `serve` receives them).

use std::path::PathBuf;

use tte_sync_core::tte::simulator::{TteSimConfig, TteSimulator};
use tte_sync_pipedrive::simulator::{PipedriveSimulator, SimulatorConfig};

use super::{free_port, run, scratch_dir};

/// Both simulators and a config file for the binary.
pub struct PipedriveBench {
    pub pipedrive: PipedriveSimulator,
    pub tte: TteSimulator,
    pub dir: PathBuf,
    pub config: PathBuf,
}

impl PipedriveBench {
    /// Starts both simulators and writes a config; `sync_yaml` is the body of the config's
    /// `sync:` section. The 10to8 client is unpaced, so Pipedrive is the only limit.
    pub async fn start(
        name: &str,
        pipedrive: SimulatorConfig,
        tte: TteSimConfig,
        sync_yaml: &str,
    ) -> Self {
        let pipedrive = PipedriveSimulator::start(pipedrive, 0).await.unwrap();
        let tte = TteSimulator::start(tte, 0).await.unwrap();
        let dir = scratch_dir(name);
        let port = free_port();
        let config = dir.join("tte-sync.yaml");
        std::fs::write(
            &config,
            format!(
                "database: sqlite://{db}\n\
                 tte:\n  api_base_url: {tte_url}\n  api_key: {key}\n  \
                 requests_per_second: 0\n\
                 crm:\n  connector: pipedrive\n  config:\n    api_base_url: {pd}\n    \
                 api_token: {token}\n    webhook_user: bench\n    \
                 webhook_password: bench-webhook-secret\n\
                 server:\n  listen: 127.0.0.1:{port}\n  public_url: http://127.0.0.1:{port}\n\
                 sync:\n{sync_yaml}\nlog:\n  level: warn\n",
                db = dir.join("state.db").display(),
                tte_url = tte.base_url(),
                key = tte.api_key(),
                pd = pipedrive.base_url(),
                token = pipedrive.config().api_token,
            ),
        )
        .unwrap();
        Self {
            pipedrive,
            tte,
            dir,
            config,
        }
    }

    /// Runs `tte-sync <command> --config <file>` to the end; exits the bench if it fails.
    pub fn run(&self, command: &str) {
        run(&self.config, command);
    }

    /// Stops the simulators and removes the scratch directory.
    pub async fn finish(self) {
        self.pipedrive.shutdown().await;
        self.tte.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
