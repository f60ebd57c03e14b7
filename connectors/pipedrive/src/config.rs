//! The `crm.config` section for `connector: pipedrive`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tte_sync_core::Secret;
use url::Url;

/// How tte-sync reaches Pipedrive.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipedriveConfig {
    /// Base URL of the Pipedrive API. Change it only to point at a simulator.
    #[serde(default = "default_api_base_url")]
    pub api_base_url: Url,
    /// The API token (Settings → Personal preferences → API), e.g. `${PIPEDRIVE_API_TOKEN}`.
    /// Changes made with it are made as its user. Set this or `oauth`.
    #[serde(default)]
    pub api_token: Option<Secret>,
    /// An OAuth app (Marketplace Manager) to install instead of an API token.
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// The HTTP basic-auth user Pipedrive sends with webhooks (`setup` registers it). Without
    /// it and `webhook_password`, webhooks are refused and changes made in Pipedrive arrive
    /// with the periodic reconcile only.
    #[serde(default)]
    pub webhook_user: Option<String>,
    /// The HTTP basic-auth password Pipedrive sends with webhooks, e.g.
    /// `${PIPEDRIVE_WEBHOOK_PASSWORD}`.
    #[serde(default)]
    pub webhook_password: Option<Secret>,
    /// Persons per listed page (1..=500).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Requests in flight at once. Pipedrive allows 20 to 120 requests per 2 seconds per
    /// token, by plan; the connector also slows down by the limit headers it is sent.
    #[serde(default = "default_in_flight")]
    pub in_flight: usize,
    /// Retries of a rate-limited or failed request before waiting only within the stall budget.
    #[serde(default = "default_max_retries")]
    pub max_retries: usize,
    /// How long one request may take.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// A Pipedrive OAuth app.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret, e.g. `${PIPEDRIVE_CLIENT_SECRET}`.
    pub client_secret: Secret,
    /// The OAuth server. Change it only to point at a simulator.
    #[serde(default = "default_oauth_base_url")]
    pub oauth_base_url: Url,
    /// How long before it expires an access token is refreshed.
    #[serde(default = "default_refresh_ahead_secs")]
    pub refresh_ahead_secs: u64,
}

fn default_oauth_base_url() -> Url {
    Url::parse("https://oauth.pipedrive.com").expect("a valid URL")
}

fn default_refresh_ahead_secs() -> u64 {
    60
}

/// Pipedrive's API host.
pub fn default_api_base_url() -> Url {
    Url::parse("https://api.pipedrive.com").expect("a valid URL")
}

fn default_page_size() -> u32 {
    500
}

fn default_in_flight() -> usize {
    4
}

fn default_max_retries() -> usize {
    5
}

fn default_timeout_secs() -> u64 {
    30
}
