//! The `crm.config` section for `connector: contact-book`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tte_sync_core::Secret;

/// Settings of the Contact Book connector.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBookConfig {
    /// The account's API URL, e.g. `https://api.contactbook.example`.
    pub api_base_url: url::Url,
    /// The API key (Settings → API), e.g. `${CONTACT_BOOK_API_KEY}`.
    pub api_key: Secret,
    /// The webhook secret (Settings → Webhooks); without it webhooks are refused and changes
    /// made in Contact Book arrive with the periodic reconcile only.
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
    /// Contacts per page when listing (1..=100).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Retries of a rate-limited or failed request before giving up.
    #[serde(default = "default_max_retries")]
    pub max_retries: usize,
    /// How long one request may take.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_page_size() -> u32 {
    100
}

fn default_max_retries() -> usize {
    5
}

fn default_timeout_secs() -> u64 {
    30
}
