//! The simulator as the host's `demo --crm hubspot` and `simulate --crm hubspot` see it,
//! registered with the connector through [`ConnectorPlugin::with_simulator`]
//! (`tte_sync_core::connector::ConnectorPlugin`).

use async_trait::async_trait;
use tte_sync_core::connector::SetupFile;
use tte_sync_core::connector::registry::{ConnectorSimulator, RunningSimulator, SimulatorOptions};

use super::{HubSpotSimulator, RateLimits, SUPPORTED_VERSIONS, SimulatorConfig};

/// The registry's handle on [`HubSpotSimulator`].
pub struct HubSpotSimulatorPlugin;

impl ConnectorSimulator for HubSpotSimulatorPlugin {
    const LABEL: &'static str = "HubSpot";

    async fn start(options: SimulatorOptions) -> std::io::Result<Box<dyn RunningSimulator>> {
        let rate_limits = match options.rate_limit_per_ten_seconds {
            None => RateLimits::default(),
            Some(0) => RateLimits::off(),
            Some(limit) => RateLimits {
                per_ten_seconds: Some(limit),
                ..RateLimits::default()
            },
        };
        let config = SimulatorConfig {
            rate_limits,
            latency: options.latency,
            ..SimulatorConfig::default()
        };
        Ok(Box::new(
            HubSpotSimulator::start(config, options.port).await?,
        ))
    }
}

#[async_trait]
impl RunningSimulator for HubSpotSimulator {
    fn base_url(&self) -> String {
        HubSpotSimulator::base_url(self)
    }

    fn seed(&self, seed: u64, start: u64, count: u64) -> u64 {
        HubSpotSimulator::seed(self, seed, start, count).len() as u64
    }

    fn connector_config(&self) -> serde_json::Value {
        let sim = self.config();
        serde_json::json!({
            "api_base_url": self.base_url(),
            "static_app_token": sim.static_app_tokens[0],
            "app_id": sim.app_id,
            "webhooks": { "client_secret": sim.client_secret, "portal_ids": [sim.portal_id] },
        })
    }

    fn details(&self) -> Vec<(String, String)> {
        let config = self.config();
        let base = self.base_url();
        let newest = SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.len() - 1];
        [
            ("private-app token", config.private_app_tokens.join(", ")),
            ("static app token", config.static_app_tokens.join(", ")),
            ("service key", config.service_keys.join(", ")),
            ("developer API key", config.developer_api_key.clone()),
            ("app id", config.app_id.to_string()),
            ("portal id", config.portal_id.to_string()),
            ("OAuth client id", config.client_id.clone()),
            ("OAuth client secret", config.client_secret.clone()),
            ("authorize URL", format!("{base}/oauth/authorize")),
            (
                "API versions",
                format!(
                    "v3 and {} (e.g. /crm/objects/{newest}/contacts)",
                    SUPPORTED_VERSIONS.join(", ")
                ),
            ),
            (
                "token URL",
                format!(
                    "/oauth/{{{}}}/token (client_credentials for the Webhooks Journal)",
                    SUPPORTED_VERSIONS.join("|")
                ),
            ),
            ("contacts", self.contact_count().to_string()),
            ("admin API", format!("{base}/_sim/")),
        ]
        .into_iter()
        .map(|(label, value)| (label.to_owned(), value))
        .collect()
    }

    /// The simulated app is a project app: its webhooks file is deployed as
    /// `hs project upload` would.
    fn deploy(&self, file: &SetupFile) -> Result<Option<String>, String> {
        let declared: serde_json::Value = serde_json::from_str(&file.contents)
            .map_err(|error| format!("{} is not JSON: {error}", file.path))?;
        let subscriptions = self.deploy_project_webhooks(&declared)?;
        Ok(Some(format!(
            "deployed {} to the simulated app ({subscriptions} subscriptions), as `hs project upload` would",
            file.path
        )))
    }

    fn try_it(&self, crm_id: &str) -> [String; 2] {
        let base = self.base_url();
        [
            format!(
                "curl -X PATCH {base}/_sim/contacts/{crm_id} -H 'content-type: application/json' \\\n    \
                 -d '{{\"properties\": {{\"firstname\": \"Ada\"}}}}'"
            ),
            format!("curl {base}/_sim/contacts/{crm_id}"),
        ]
    }

    async fn shutdown(self: Box<Self>) {
        HubSpotSimulator::shutdown(*self).await;
    }
}
