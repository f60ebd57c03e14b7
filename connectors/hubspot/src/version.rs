//! HubSpot's API versions and the paths each one uses.
//!
//! Since 2026-03 HubSpot versions its APIs by date, in the path (`/crm/objects/2026-09/…`);
//! the numbered `v1`–`v4` APIs become unsupported in September 2027 (OAuth `v1` stops on
//! 2027-02-16). Every call of this connector takes its path from one [`ApiVersion`], so a
//! version bump is one setting, and the default mode sends no numbered path at all.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// When HubSpot stops supporting the numbered APIs (no day was announced).
pub const NUMBERED_APIS_UNSUPPORTED: &str = "September 2027";

/// The HubSpot API version every call uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub enum ApiVersion {
    /// `2026-09`, generally available since 2026-09-08 and supported until about March 2028.
    /// Enforces a portal's validation rules on every write.
    #[default]
    #[serde(rename = "2026-09")]
    V2026_09,
    /// `2026-03`, the first date-based version.
    #[serde(rename = "2026-03")]
    V2026_03,
    /// The numbered `v3` APIs (and `v1` OAuth): a legacy mode, unsupported from September
    /// 2027. Only for a portal that cannot use a dated version yet.
    #[serde(rename = "v3")]
    LegacyV3,
}

impl ApiVersion {
    /// The path segment: `2026-09`, `2026-03` or `v3`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2026_09 => "2026-09",
            ApiVersion::V2026_03 => "2026-03",
            ApiVersion::LegacyV3 => "v3",
        }
    }

    /// Whether this is the numbered legacy mode.
    pub fn is_legacy(self) -> bool {
        self == ApiVersion::LegacyV3
    }

    /// Whether writes are checked against the portal's validation rules (2026-09 on).
    pub fn enforces_validation_rules(self) -> bool {
        self == ApiVersion::V2026_09
    }

    /// The contacts object API: `/crm/objects/2026-09/contacts` (legacy
    /// `/crm/v3/objects/contacts`).
    pub fn contacts(self) -> String {
        match self {
            ApiVersion::LegacyV3 => "/crm/v3/objects/contacts".to_owned(),
            dated => format!("/crm/objects/{}/contacts", dated.as_str()),
        }
    }

    /// The contact properties API: `/crm/properties/2026-09/contacts`.
    pub fn properties(self) -> String {
        match self {
            ApiVersion::LegacyV3 => "/crm/v3/properties/contacts".to_owned(),
            dated => format!("/crm/properties/{}/contacts", dated.as_str()),
        }
    }

    /// The OAuth token endpoint (code exchange, refresh, client credentials).
    pub fn oauth_token(self) -> String {
        format!("/oauth/{}/token", self.as_str())
    }

    /// The OAuth token introspection endpoint (dated versions only).
    pub fn oauth_introspect(self) -> Option<String> {
        (!self.is_legacy()).then(|| format!("/oauth/{}/token/introspect", self.as_str()))
    }

    /// The OAuth token revocation endpoint (dated versions only).
    pub fn oauth_revoke(self) -> Option<String> {
        (!self.is_legacy()).then(|| format!("/oauth/{}/token/revoke", self.as_str()))
    }

    /// The uninstall API (dated versions only).
    pub fn uninstall(self) -> Option<String> {
        (!self.is_legacy()).then(|| format!("/appinstalls/{}/external-install", self.as_str()))
    }

    /// The webhook management API of a legacy public app (developer API key).
    pub fn app_webhooks(self, app_id: u64) -> String {
        match self {
            ApiVersion::V2026_09 => format!("/app-webhooks/2026-09/{app_id}"),
            other => format!("/webhooks/{}/{app_id}", other.as_str()),
        }
    }

    /// The Webhooks Journal's entries: `/webhooks-journal/journal/2026-09`.
    pub fn journal(self) -> String {
        format!("/webhooks-journal/journal/{}", self.journal_version())
    }

    /// The Webhooks Journal's subscriptions: `/webhooks-journal/subscriptions/2026-09`.
    pub fn journal_subscriptions(self) -> String {
        format!("/webhooks-journal/subscriptions/{}", self.journal_version())
    }

    /// The journal has no numbered version this connector may use; legacy mode reads the
    /// 2026-03 journal.
    fn journal_version(self) -> &'static str {
        match self {
            ApiVersion::LegacyV3 => ApiVersion::V2026_03.as_str(),
            dated => dated.as_str(),
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NUMBERED: [&str; 4] = ["/v1/", "/v2/", "/v3/", "/v4/"];

    fn every_path(version: ApiVersion) -> Vec<String> {
        let mut paths = vec![
            version.contacts(),
            version.properties(),
            version.oauth_token(),
            version.app_webhooks(1),
            version.journal(),
            version.journal_subscriptions(),
        ];
        paths.extend(version.oauth_introspect());
        paths.extend(version.oauth_revoke());
        paths.extend(version.uninstall());
        paths
    }

    #[test]
    fn dated_versions_use_no_numbered_path() {
        for version in [ApiVersion::V2026_09, ApiVersion::V2026_03] {
            for path in every_path(version) {
                assert!(
                    !NUMBERED.iter().any(|n| format!("{path}/").contains(n)),
                    "{version}: {path}"
                );
                assert!(path.contains(version.as_str()), "{version}: {path}");
            }
        }
    }

    #[test]
    fn paths_follow_the_reference() {
        let v = ApiVersion::V2026_09;
        assert_eq!(v.contacts(), "/crm/objects/2026-09/contacts");
        assert_eq!(v.properties(), "/crm/properties/2026-09/contacts");
        assert_eq!(v.oauth_token(), "/oauth/2026-09/token");
        assert_eq!(
            v.oauth_introspect().as_deref(),
            Some("/oauth/2026-09/token/introspect")
        );
        assert_eq!(v.app_webhooks(7), "/app-webhooks/2026-09/7");
        assert_eq!(v.journal(), "/webhooks-journal/journal/2026-09");
        let legacy = ApiVersion::LegacyV3;
        assert_eq!(legacy.contacts(), "/crm/v3/objects/contacts");
        assert_eq!(legacy.oauth_token(), "/oauth/v3/token");
        assert_eq!(legacy.app_webhooks(7), "/webhooks/v3/7");
    }

    #[test]
    fn the_config_spellings_parse() {
        for (text, version) in [
            ("\"2026-09\"", ApiVersion::V2026_09),
            ("\"2026-03\"", ApiVersion::V2026_03),
            ("\"v3\"", ApiVersion::LegacyV3),
        ] {
            assert_eq!(serde_json::from_str::<ApiVersion>(text).unwrap(), version);
        }
        assert!(serde_json::from_str::<ApiVersion>("\"2025-01\"").is_err());
    }
}
