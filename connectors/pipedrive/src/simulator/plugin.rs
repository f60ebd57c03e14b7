//! The simulator as the host's `demo --crm pipedrive` and `simulate --crm pipedrive` see it,
//! registered with the connector through `ConnectorPlugin::with_simulator`.

use async_trait::async_trait;
use tte_sync_core::connector::SetupFile;
use tte_sync_core::connector::registry::{ConnectorSimulator, RunningSimulator, SimulatorOptions};

use super::{PipedriveSimulator, SimulatorConfig};

/// The basic-auth user the simulated webhooks are created with.
pub const WEBHOOK_USER: &str = "tte-sync";
/// The basic-auth password the simulated webhooks are created with.
pub const WEBHOOK_PASSWORD: &str = "pd-webhook-password-demo";

/// The registry's handle on [`PipedriveSimulator`].
pub struct PipedriveSimulatorPlugin;

impl ConnectorSimulator for PipedriveSimulatorPlugin {
    const LABEL: &'static str = "Pipedrive";

    async fn start(options: SimulatorOptions) -> std::io::Result<Box<dyn RunningSimulator>> {
        let defaults = SimulatorConfig::default();
        let config = match options.rate_limit_per_ten_seconds {
            None => defaults,
            Some(0) => defaults.unlimited(),
            // The host speaks of 10 seconds; Pipedrive's window is 2.
            Some(limit) => SimulatorConfig {
                requests_per_two_seconds: Some((limit / 5).max(1)),
                ..defaults
            },
        };
        let config = SimulatorConfig {
            latency: options.latency,
            ..config
        };
        Ok(Box::new(
            PipedriveSimulator::start(config, options.port).await?,
        ))
    }
}

#[async_trait]
impl RunningSimulator for PipedriveSimulator {
    fn base_url(&self) -> String {
        PipedriveSimulator::base_url(self)
    }

    fn seed(&self, seed: u64, start: u64, count: u64) -> u64 {
        PipedriveSimulator::seed(self, seed, start, count).len() as u64
    }

    fn connector_config(&self) -> serde_json::Value {
        serde_json::json!({
            "api_base_url": self.base_url(),
            "api_token": self.config().api_token,
            "webhook_user": WEBHOOK_USER,
            "webhook_password": WEBHOOK_PASSWORD,
        })
    }

    fn details(&self) -> Vec<(String, String)> {
        let config = self.config();
        let budget = config
            .daily_token_budget
            .map_or_else(|| "off".to_owned(), |n| format!("{n} tokens a day"));
        let burst = config
            .requests_per_two_seconds
            .map_or_else(|| "off".to_owned(), |n| format!("{n} requests per 2 s"));
        [
            ("API token", config.api_token.clone()),
            (
                "webhook basic auth",
                format!("{WEBHOOK_USER}:{WEBHOOK_PASSWORD}"),
            ),
            ("daily budget", budget),
            ("burst limit", burst),
            ("persons", self.person_count().to_string()),
            ("admin API", format!("{}/_sim/", self.base_url())),
        ]
        .into_iter()
        .map(|(label, value)| (label.to_owned(), value))
        .collect()
    }

    fn deploy(&self, _file: &SetupFile) -> Result<Option<String>, String> {
        // Pipedrive's setup is all API calls; it never writes files to deploy.
        Ok(None)
    }

    fn try_it(&self, crm_id: &str) -> [String; 2] {
        let base = self.base_url();
        [
            format!(
                "curl -X PATCH {base}/_sim/persons/{crm_id} -H 'content-type: application/json' \\\n    \
                 -d '{{\"name\": \"Ada Lovelace\"}}'"
            ),
            format!("curl {base}/_sim/persons/{crm_id}"),
        ]
    }

    async fn shutdown(self: Box<Self>) {
        PipedriveSimulator::shutdown(*self).await;
    }
}
