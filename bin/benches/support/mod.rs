//! What the host benchmarks share: both simulators in this process, a config file pointing
//! the real binary at them, `setup`, and a `serve` process that is stopped when dropped.
//! `pipedrive` has the same with the Pipedrive simulator as the CRM.

#![allow(dead_code, clippy::print_stdout, clippy::print_stderr)]

pub mod pipedrive;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tte_sync_core::tte::simulator::{TteSimConfig, TteSimulator};
use tte_sync_hubspot::simulator::{HubSpotSimulator, SimulatorConfig};

const BIN: &str = env!("CARGO_BIN_EXE_tte-sync");

/// Both simulators and a config file for the binary.
pub struct Bench {
    pub hubspot: HubSpotSimulator,
    pub tte: TteSimulator,
    pub dir: PathBuf,
    pub config: PathBuf,
    /// `http://127.0.0.1:<port>` of the `serve` process.
    pub base: String,
}

/// A running `serve`, sent SIGTERM (then waited for) when dropped.
pub struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

impl Bench {
    /// Starts both simulators and writes a config; `sync_yaml` is the body of the config's
    /// `sync:` section and `tte_requests_per_second` paces the 10to8 client.
    pub async fn start(
        name: &str,
        hubspot: SimulatorConfig,
        tte: TteSimConfig,
        tte_requests_per_second: f64,
        sync_yaml: &str,
    ) -> Self {
        let hubspot = HubSpotSimulator::start(hubspot, 0).await.unwrap();
        let tte = TteSimulator::start(tte, 0).await.unwrap();
        let dir = scratch_dir(name);
        let port = free_port();
        let sim = hubspot.config().clone();
        let config = dir.join("tte-sync.yaml");
        std::fs::write(
            &config,
            format!(
                "database: sqlite://{db}\n\
                 tte:\n  api_base_url: {tte_url}\n  api_key: {key}\n  \
                 requests_per_second: {tte_requests_per_second}\n\
                 crm:\n  connector: hubspot\n  config:\n    api_base_url: {hub}\n    \
                 private_app_token: {token}\n    developer_api_key: {dev}\n    app_id: {app}\n    \
                 webhooks:\n      client_secret: {secret}\n      portal_ids: [{portal}]\n\
                 server:\n  listen: 127.0.0.1:{port}\n  public_url: http://127.0.0.1:{port}\n\
                 sync:\n{sync_yaml}\nlog:\n  level: warn\n",
                db = dir.join("state.db").display(),
                tte_url = tte.base_url(),
                key = tte.api_key(),
                hub = hubspot.base_url(),
                token = sim.private_app_tokens[0],
                dev = sim.developer_api_key,
                app = sim.app_id,
                secret = sim.client_secret,
                portal = sim.portal_id,
            ),
        )
        .unwrap();
        Self {
            hubspot,
            tte,
            dir,
            config,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Runs `tte-sync <command> --config <file>` to the end; exits the bench if it fails.
    pub fn run(&self, command: &str) {
        run(&self.config, command);
    }

    /// Starts `serve` and waits until it answers `/readyz`.
    pub async fn serve(&self, http: &reqwest::Client) -> Server {
        let child = Command::new(BIN)
            .args(["serve", "--config", &self.config.display().to_string()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server(child);
        while http
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// The value of the first sample line starting with `name` on `/metrics`.
    pub async fn metric(&self, http: &reqwest::Client, name: &str) -> f64 {
        let text = http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// Stops the simulators and removes the scratch directory.
    pub async fn finish(self) {
        self.hubspot.shutdown().await;
        self.tte.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An empty scratch directory for the bench `name`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tte-sync-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `tte-sync <command> --config <config>` to the end; exits the bench if it fails.
pub fn run(config: &Path, command: &str) {
    let output = Command::new(BIN)
        .args([command, "--config", &config.display().to_string()])
        .output()
        .unwrap();
    if !output.status.success() {
        eprintln!(
            "`tte-sync {command}` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::process::exit(1);
    }
}

/// The `p` quantile of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}
