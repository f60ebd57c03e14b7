//! The `hubspot` section of the config file: where HubSpot is, how to authenticate, which
//! webhooks to accept and how fast to call.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tte_sync_core::Secret;
use url::Url;

use crate::ratelimit::WindowLimit;

/// How tte-sync reaches HubSpot.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HubSpotConfig {
    /// Base URL of the HubSpot API. Change it only to point at a simulator.
    #[serde(default = "default_api_base_url")]
    pub api_base_url: Url,
    /// A private-app (static) access token. Use this or `oauth`, not both.
    #[serde(default)]
    pub private_app_token: Option<Secret>,
    /// The public app's OAuth credentials, for installing into a portal.
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// The developer API key, for managing the app's webhook subscriptions.
    #[serde(default)]
    pub developer_api_key: Option<Secret>,
    /// The public app's id (webhook management and echo suppression).
    #[serde(default)]
    pub app_id: Option<u64>,
    /// Requests allowed per rolling 10 seconds (HubSpot's burst limit for your plan: 110 for
    /// public apps, 100/190/250 for private apps). `0` turns the client's own limiter off.
    #[serde(default = "default_requests_per_10_secs")]
    pub requests_per_10_secs: u32,
    /// Search requests allowed per second (HubSpot: 5). `0` turns the search limiter off.
    #[serde(default = "default_search_requests_per_sec")]
    pub search_requests_per_sec: u32,
    /// Added to each rate-limit window on our side, so that clock skew and travel time never
    /// push a call into a window HubSpot already counts as full.
    #[serde(default = "default_rate_limit_margin_millis")]
    pub rate_limit_margin_millis: u64,
    /// How many times a passing failure (timeout, 5xx, 423, 477, 429) is retried before the
    /// call fails.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// How long one HTTP request may take before it counts as timed out (and is retried).
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Which signed webhooks to accept.
    #[serde(default)]
    pub webhooks: WebhookConfig,
}

/// A public app's OAuth settings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret; also the key of webhook signatures.
    pub client_secret: Secret,
    /// Scopes to request, space-separated: contacts read/write for sync, contact schemas
    /// read/write for `setup` (properties).
    #[serde(default = "default_scopes")]
    pub scopes: String,
    /// Base URL of the page that asks the installer to approve (HubSpot's app domain).
    #[serde(default = "default_authorize_base_url")]
    pub authorize_base_url: Url,
    /// Refresh the access token this long before it expires.
    #[serde(default = "default_refresh_ahead_secs")]
    pub refresh_ahead_secs: u64,
}

/// Which webhook requests are accepted.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The key HubSpot signs with: the app's client secret. Defaults to `oauth.client_secret`.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Portal (account) ids whose events are accepted, besides the portals installed through
    /// OAuth. Events of any other portal are refused.
    #[serde(default)]
    pub portal_ids: Vec<u64>,
    /// Signature versions accepted. `v3` (HMAC, timestamped) is the only safe one; add `v1` or
    /// `v2` only for an app that HubSpot does not sign with v3.
    #[serde(default = "default_signature_versions")]
    pub signature_versions: Vec<SignatureVersion>,
    /// How far the signed timestamp may be from our clock, either way (HubSpot: 5 minutes).
    #[serde(default = "default_timestamp_tolerance_secs")]
    pub timestamp_tolerance_secs: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            client_secret: None,
            portal_ids: Vec::new(),
            signature_versions: default_signature_versions(),
            timestamp_tolerance_secs: default_timestamp_tolerance_secs(),
        }
    }
}

/// A HubSpot request-signature version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SignatureVersion {
    /// `hex(SHA-256(secret + body))`: no URL, no timestamp, replayable.
    V1,
    /// `hex(SHA-256(secret + method + uri + body))`: no timestamp, replayable.
    V2,
    /// `base64(HMAC-SHA256(secret, method + uri + body + timestamp))`, timestamped.
    V3,
}

impl SignatureVersion {
    /// The version as HubSpot names it: `v1`, `v2` or `v3`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureVersion::V1 => "v1",
            SignatureVersion::V2 => "v2",
            SignatureVersion::V3 => "v3",
        }
    }
}

impl HubSpotConfig {
    /// The general rate limit: `requests_per_10_secs` per rolling 10 s.
    pub fn general_limit(&self) -> WindowLimit {
        WindowLimit {
            limit: self.requests_per_10_secs,
            window: Duration::from_secs(10),
            margin: Duration::from_millis(self.rate_limit_margin_millis),
        }
    }

    /// The search rate limit: `search_requests_per_sec` per rolling second.
    pub fn search_limit(&self) -> WindowLimit {
        WindowLimit {
            limit: self.search_requests_per_sec,
            window: Duration::from_secs(1),
            margin: Duration::from_millis(self.rate_limit_margin_millis),
        }
    }

    /// The per-request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// The key webhook signatures are checked with, if any is configured.
    pub fn webhook_secret(&self) -> Option<&Secret> {
        self.webhooks
            .client_secret
            .as_ref()
            .or(self.oauth.as_ref().map(|o| &o.client_secret))
    }

    /// A config for a HubSpot (or simulator) at `api_base_url` with a private-app token and
    /// every other value at its default.
    pub fn with_private_app_token(api_base_url: Url, token: Secret) -> Self {
        Self {
            api_base_url,
            private_app_token: Some(token),
            oauth: None,
            developer_api_key: None,
            app_id: None,
            requests_per_10_secs: default_requests_per_10_secs(),
            search_requests_per_sec: default_search_requests_per_sec(),
            rate_limit_margin_millis: default_rate_limit_margin_millis(),
            max_retries: default_max_retries(),
            request_timeout_secs: default_request_timeout_secs(),
            webhooks: WebhookConfig::default(),
        }
    }
}

fn default_api_base_url() -> Url {
    Url::parse("https://api.hubapi.com").expect("constant URL parses")
}

fn default_authorize_base_url() -> Url {
    Url::parse("https://app.hubspot.com").expect("constant URL parses")
}

fn default_scopes() -> String {
    "crm.objects.contacts.read crm.objects.contacts.write crm.schemas.contacts.read crm.schemas.contacts.write oauth".to_owned()
}

fn default_requests_per_10_secs() -> u32 {
    110
}

fn default_search_requests_per_sec() -> u32 {
    5
}

fn default_rate_limit_margin_millis() -> u64 {
    250
}

fn default_max_retries() -> u32 {
    6
}

fn default_request_timeout_secs() -> u64 {
    30
}

fn default_refresh_ahead_secs() -> u64 {
    300
}

fn default_signature_versions() -> Vec<SignatureVersion> {
    vec![SignatureVersion::V3]
}

fn default_timestamp_tolerance_secs() -> u64 {
    300
}
