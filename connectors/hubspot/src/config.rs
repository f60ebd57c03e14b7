//! The `hubspot` section of the config file: where HubSpot is, how to authenticate, which
//! webhooks to accept and how fast to call.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tte_sync_core::Secret;
use url::Url;

use crate::ratelimit::WindowLimit;
use crate::version::ApiVersion;

/// How tte-sync reaches HubSpot.
///
/// Credentials: exactly one of `static_app_token` (a project app with static auth: one
/// account, webhooks declared in the app), `oauth` (a project app with OAuth: any number of
/// accounts), `service_key` (REST only: changes are polled or read from the Webhooks Journal)
/// or `private_app_token` (a legacy private app, unsupported from September 2027).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HubSpotConfig {
    /// Base URL of the HubSpot API. Change it only to point at a simulator.
    #[serde(default = "default_api_base_url")]
    pub api_base_url: Url,
    /// The HubSpot API version of every call: `2026-09` (default) or `2026-03`; `v3` is a
    /// legacy mode, unsupported by HubSpot from September 2027, that logs a warning.
    #[serde(default)]
    pub api_version: ApiVersion,
    /// A project app's static access token (the app's Auth tab; `auth.type: static`).
    #[serde(default)]
    pub static_app_token: Option<Secret>,
    /// An account Service Key (Development → Keys → Service keys). REST only: HubSpot sends
    /// no webhooks for it, so changes are polled (`changes: polling`) or read from the
    /// journal with an app's credentials (`changes: journal`, `journal.client_id`).
    #[serde(default)]
    pub service_key: Option<Secret>,
    /// A legacy private app's token (`pat-…`). Still accepted, with a warning: HubSpot no
    /// longer lets accounts create these and stops supporting them in September 2027;
    /// move to `static_app_token` or `service_key`.
    #[serde(default)]
    pub private_app_token: Option<Secret>,
    /// A project app with OAuth (`auth.type: oauth`), installed into each account through
    /// `/hubspot/install/start`.
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// A legacy public app's developer API key, for managing its webhook subscriptions. Project
    /// apps declare their webhooks in the app instead (`setup --write-app-config`).
    #[serde(default)]
    pub developer_api_key: Option<Secret>,
    /// The app's id (the app's Overview page): our own writes are recognised by it in webhook
    /// and journal events and dropped as echoes.
    #[serde(default)]
    pub app_id: Option<u64>,
    /// How changes made in HubSpot reach tte-sync: `webhooks` (pushed to
    /// `<public_url>/webhooks/hubspot`), `journal` (pulled from the Webhooks Journal: no public
    /// URL needed) or `polling` (searched by modification time). Default: `polling` for a
    /// Service Key, `webhooks` otherwise.
    #[serde(default)]
    pub changes: Option<ChangeCapture>,
    /// The Webhooks Journal consumer (`changes: journal`).
    #[serde(default)]
    pub journal: JournalConfig,
    /// Polling by modification time (`changes: polling`).
    #[serde(default)]
    pub polling: PollingConfig,
    /// Requests allowed per rolling 10 seconds. Default by credential, per HubSpot's usage
    /// guidelines: 110 per account for OAuth apps; 100 per app for privately distributed
    /// apps and Service Keys (Free/Starter; set 190 for Professional/Enterprise, 250 with the
    /// API limit increase). `0` turns the client's own limiter off.
    #[serde(default)]
    pub requests_per_10_secs: Option<u32>,
    /// Search requests allowed per second (HubSpot: 5). `0` turns the search limiter off.
    #[serde(default = "default_search_requests_per_sec")]
    pub search_requests_per_sec: u32,
    /// Added to each rate-limit window on our side, so that clock skew and travel time never
    /// push a call into a window HubSpot already counts as full.
    #[serde(default = "default_rate_limit_margin_millis")]
    pub rate_limit_margin_millis: u64,
    /// How many times a passing failure (timeout, 5xx, 423, 477, 429) is retried in any case;
    /// beyond that the call is retried on for as long as `sync.max_stall_secs` allows. `0`
    /// turns retrying off.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// How long one HTTP request may take before it counts as timed out (and is retried).
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Which signed webhooks to accept.
    #[serde(default)]
    pub webhooks: WebhookConfig,
}

/// The kind of HubSpot credential configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthKind {
    /// A project app with static auth.
    StaticApp,
    /// A project app (or legacy public app) with OAuth.
    OAuth,
    /// A Service Key.
    ServiceKey,
    /// A legacy private app token.
    LegacyPrivateApp,
}

impl AuthKind {
    /// How the dashboard and `status` name it.
    pub fn label(self) -> &'static str {
        match self {
            AuthKind::StaticApp => "project app (static auth)",
            AuthKind::OAuth => "OAuth app",
            AuthKind::ServiceKey => "service key",
            AuthKind::LegacyPrivateApp => "legacy private app",
        }
    }
}

/// How changes made in HubSpot reach tte-sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangeCapture {
    /// HubSpot pushes signed webhooks to `<public_url>/webhooks/hubspot`.
    Webhooks,
    /// tte-sync pulls the Webhooks Journal from a durable offset.
    Journal,
    /// tte-sync searches for contacts modified since the last poll.
    Polling,
}

impl ChangeCapture {
    /// The mode's config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeCapture::Webhooks => "webhooks",
            ChangeCapture::Journal => "journal",
            ChangeCapture::Polling => "polling",
        }
    }
}

/// The Webhooks Journal consumer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// The app whose client-credentials token reads the journal. Defaults to
    /// `oauth.client_id`; set it (with `client_secret`) to read the journal of a project app
    /// while calling the CRM with a Service Key or a static token.
    #[serde(default)]
    pub client_id: Option<String>,
    /// That app's client secret. Defaults to `oauth.client_secret`.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// The account (portal) ids to subscribe, besides the accounts installed through OAuth.
    #[serde(default)]
    pub portal_ids: Vec<u64>,
    /// How long to wait between reads once the journal is caught up.
    #[serde(default = "default_feed_interval_millis")]
    pub poll_interval_millis: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            portal_ids: Vec::new(),
            poll_interval_millis: default_feed_interval_millis(),
        }
    }
}

/// Polling for contacts modified since the last poll.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PollingConfig {
    /// How long to wait between polls.
    #[serde(default = "default_feed_interval_millis")]
    pub interval_millis: u64,
    /// How far each poll reaches back before the last one, for contacts the search index had
    /// not caught up with yet (HubSpot: "a few moments").
    #[serde(default = "default_polling_overlap_secs")]
    pub overlap_secs: u64,
}

impl Default for PollingConfig {
    fn default() -> Self {
        Self {
            interval_millis: default_feed_interval_millis(),
            overlap_secs: default_polling_overlap_secs(),
        }
    }
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
    /// Which credential is configured.
    ///
    /// # Errors
    /// A message saying what to set when none or more than one is.
    pub fn auth_kind(&self) -> Result<AuthKind, String> {
        let configured: Vec<(AuthKind, &str)> = [
            (
                self.static_app_token.is_some(),
                AuthKind::StaticApp,
                "static_app_token",
            ),
            (self.oauth.is_some(), AuthKind::OAuth, "oauth"),
            (
                self.service_key.is_some(),
                AuthKind::ServiceKey,
                "service_key",
            ),
            (
                self.private_app_token.is_some(),
                AuthKind::LegacyPrivateApp,
                "private_app_token",
            ),
        ]
        .into_iter()
        .filter(|(set, _, _)| *set)
        .map(|(_, kind, key)| (kind, key))
        .collect();
        match configured.as_slice() {
            [(kind, _)] => Ok(*kind),
            [] => Err(
                "hubspot needs credentials; set one of `static_app_token` (project app, \
                       static auth), `oauth` (project app, OAuth) or `service_key`"
                    .to_owned(),
            ),
            several => Err(format!(
                "set one HubSpot credential, not {}: {}",
                several.len(),
                several
                    .iter()
                    .map(|(_, key)| format!("`{key}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The change-capture mode: as configured, else `polling` for a Service Key and
    /// `webhooks` for the others.
    pub fn change_capture(&self, kind: AuthKind) -> ChangeCapture {
        self.changes.unwrap_or(match kind {
            AuthKind::ServiceKey => ChangeCapture::Polling,
            _ => ChangeCapture::Webhooks,
        })
    }

    /// Checks that the credential, the change-capture mode and the journal settings fit
    /// together, and returns the credential kind and the mode.
    ///
    /// # Errors
    /// A message saying what to change.
    pub fn checked(&self) -> Result<(AuthKind, ChangeCapture), String> {
        let kind = self.auth_kind()?;
        let changes = self.change_capture(kind);
        match changes {
            ChangeCapture::Webhooks if kind == AuthKind::ServiceKey => {
                return Err(
                    "HubSpot sends no webhooks for a Service Key; set `changes: polling`, \
                     or `changes: journal` with a project app's `journal.client_id` and \
                     `journal.client_secret`"
                        .to_owned(),
                );
            }
            ChangeCapture::Journal if self.journal_credentials().is_none() => {
                return Err("`changes: journal` reads the journal with an app's client \
                     credentials; set `oauth`, or `journal.client_id` and \
                     `journal.client_secret`"
                    .to_owned());
            }
            _ => {}
        }
        Ok((kind, changes))
    }

    /// The app credentials the journal is read with: `journal.client_id`/`client_secret`,
    /// else the OAuth app's.
    pub fn journal_credentials(&self) -> Option<(String, Secret)> {
        match (
            &self.journal.client_id,
            &self.journal.client_secret,
            &self.oauth,
        ) {
            (Some(id), Some(secret), _) => Some((id.clone(), secret.clone())),
            (None, None, Some(oauth)) => {
                Some((oauth.client_id.clone(), oauth.client_secret.clone()))
            }
            _ => None,
        }
    }

    /// The general rate limit: `requests_per_10_secs` per rolling 10 s, by default the limit
    /// of the credential's kind.
    pub fn general_limit(&self) -> WindowLimit {
        let default = match self.auth_kind() {
            Ok(AuthKind::OAuth) => OAUTH_REQUESTS_PER_10_SECS,
            _ => PRIVATE_REQUESTS_PER_10_SECS,
        };
        WindowLimit {
            limit: self.requests_per_10_secs.unwrap_or(default),
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

    /// A config for a HubSpot (or simulator) at `api_base_url` with a project app's static
    /// token and every other value at its default.
    pub fn with_static_app_token(api_base_url: Url, token: Secret) -> Self {
        Self {
            static_app_token: Some(token),
            ..Self::without_credentials(api_base_url)
        }
    }

    /// A config for a HubSpot (or simulator) at `api_base_url` with a legacy private-app token
    /// and every other value at its default.
    pub fn with_private_app_token(api_base_url: Url, token: Secret) -> Self {
        Self {
            private_app_token: Some(token),
            ..Self::without_credentials(api_base_url)
        }
    }

    fn without_credentials(api_base_url: Url) -> Self {
        Self {
            api_base_url,
            api_version: ApiVersion::default(),
            static_app_token: None,
            service_key: None,
            private_app_token: None,
            oauth: None,
            developer_api_key: None,
            app_id: None,
            changes: None,
            journal: JournalConfig::default(),
            polling: PollingConfig::default(),
            requests_per_10_secs: None,
            search_requests_per_sec: default_search_requests_per_sec(),
            rate_limit_margin_millis: default_rate_limit_margin_millis(),
            max_retries: default_max_retries(),
            request_timeout_secs: default_request_timeout_secs(),
            webhooks: WebhookConfig::default(),
        }
    }
}

/// HubSpot's burst limit for OAuth (marketplace) apps, per installing account.
pub const OAUTH_REQUESTS_PER_10_SECS: u32 = 110;
/// HubSpot's burst limit for privately distributed apps and Service Keys on Free/Starter
/// (the lowest tier, so safe on every plan).
pub const PRIVATE_REQUESTS_PER_10_SECS: u32 = 100;

fn default_api_base_url() -> Url {
    Url::parse("https://api.hubapi.com").expect("constant URL parses")
}

fn default_authorize_base_url() -> Url {
    Url::parse("https://app.hubspot.com").expect("constant URL parses")
}

fn default_scopes() -> String {
    "crm.objects.contacts.read crm.objects.contacts.write crm.schemas.contacts.read crm.schemas.contacts.write oauth".to_owned()
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

fn default_feed_interval_millis() -> u64 {
    1_000
}

fn default_polling_overlap_secs() -> u64 {
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
