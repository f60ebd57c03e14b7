//! The simulator as the host's `demo --crm contact-book` and `simulate --crm contact-book`
//! see it, registered with the connector through `ConnectorPlugin::with_simulator`.

use async_trait::async_trait;
use tte_sync_core::connector::SetupFile;
use tte_sync_core::connector::registry::{ConnectorSimulator, RunningSimulator, SimulatorOptions};

use super::{ContactBookSimulator, SimulatorConfig};

/// The registry's handle on [`ContactBookSimulator`].
pub struct ContactBookSimulatorPlugin;

impl ConnectorSimulator for ContactBookSimulatorPlugin {
    const LABEL: &'static str = "Contact Book";

    async fn start(options: SimulatorOptions) -> std::io::Result<Box<dyn RunningSimulator>> {
        let defaults = SimulatorConfig::default();
        let config = SimulatorConfig {
            rate_limit_per_ten_seconds: match options.rate_limit_per_ten_seconds {
                None => defaults.rate_limit_per_ten_seconds,
                Some(0) => None,
                Some(limit) => Some(limit),
            },
            latency: options.latency,
            ..defaults
        };
        Ok(Box::new(
            ContactBookSimulator::start(config, options.port).await?,
        ))
    }
}

#[async_trait]
impl RunningSimulator for ContactBookSimulator {
    fn base_url(&self) -> String {
        ContactBookSimulator::base_url(self)
    }

    fn seed(&self, seed: u64, start: u64, count: u64) -> u64 {
        ContactBookSimulator::seed(self, seed, start, count).len() as u64
    }

    fn connector_config(&self) -> serde_json::Value {
        serde_json::json!({
            "api_base_url": self.base_url(),
            "api_key": self.config().api_key,
            "webhook_secret": self.config().webhook_secret,
        })
    }

    fn details(&self) -> Vec<(String, String)> {
        let limit = self
            .config()
            .rate_limit_per_ten_seconds
            .map_or_else(|| "off".to_owned(), |n| format!("{n} requests per 10 s"));
        [
            ("API key", self.config().api_key.clone()),
            ("webhook secret", self.config().webhook_secret.clone()),
            ("rate limit", limit),
            ("contacts", self.contact_count().to_string()),
            ("admin API", format!("{}/_sim/", self.base_url())),
        ]
        .into_iter()
        .map(|(label, value)| (label.to_owned(), value))
        .collect()
    }

    fn deploy(&self, _file: &SetupFile) -> Result<Option<String>, String> {
        // Contact Book's setup is all API calls; it never writes files to deploy.
        Ok(None)
    }

    fn try_it(&self, crm_id: &str) -> [String; 2] {
        let base = self.base_url();
        [
            format!(
                "curl -X PATCH {base}/_sim/contacts/{crm_id} -H 'content-type: application/json' \\\n    \
                 -d '{{\"first_name\": \"Ada\"}}'"
            ),
            format!("curl {base}/_sim/contacts/{crm_id}"),
        ]
    }

    async fn shutdown(self: Box<Self>) {
        ContactBookSimulator::shutdown(*self).await;
    }
}
