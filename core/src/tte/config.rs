//! Where the 10to8 Enterprise API is, the key to call it with, and how fast to call it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// How tte-sync reaches 10to8.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TteConfig {
    /// The 10to8 host, without a path: `https://app.10to8.com` (the default), or a simulator's
    /// base URL.
    #[serde(default = "default_api_base_url")]
    pub api_base_url: String,
    /// An Enterprise API key from 10to8's Enterprise API Key Manager (Enterprise plan).
    pub api_key: Secret,
    /// Requests per second at most. 10to8 publishes no limit; the client halves its rate each
    /// time 10to8 throttles (429) and recovers gradually. 0 means no pacing until throttled.
    #[serde(default = "default_requests_per_second")]
    pub requests_per_second: f64,
    /// Customers per list page (10to8 may cap it; the client follows `next` either way).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Retries of a call that failed for a passing reason (timeout, 5xx, 429); beyond them
    /// the call is retried on for as long as `sync.max_stall_secs` allows. `0` turns retrying
    /// off.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// The delay before the first retry of a failed call; later ones double it (with jitter).
    #[serde(default = "default_retry_min_delay_ms")]
    pub retry_min_delay_ms: u64,
    /// How long one request may take before it counts as failed.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

impl TteConfig {
    /// A configuration with every default, for `api_base_url` and `api_key`.
    pub fn new(api_base_url: impl Into<String>, api_key: Secret) -> Self {
        Self {
            api_base_url: api_base_url.into(),
            api_key,
            requests_per_second: default_requests_per_second(),
            page_size: default_page_size(),
            max_retries: default_max_retries(),
            retry_min_delay_ms: default_retry_min_delay_ms(),
            timeout_secs: default_timeout_secs(),
        }
    }
}

fn default_api_base_url() -> String {
    "https://app.10to8.com".to_owned()
}

fn default_requests_per_second() -> f64 {
    5.0
}

fn default_page_size() -> u32 {
    100
}

fn default_max_retries() -> u32 {
    6
}

fn default_retry_min_delay_ms() -> u64 {
    500
}

fn default_timeout_secs() -> u64 {
    30
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_unknown_fields_are_refused() {
        let config: TteConfig = serde_yaml::from_str("api_key: k").unwrap();
        assert_eq!(config, TteConfig::new("https://app.10to8.com", "k".into()));
        let error = serde_yaml::from_str::<TteConfig>("api_key: k\napi_keyy: k").unwrap_err();
        assert!(error.to_string().contains("unknown field"), "{error}");
    }
}
