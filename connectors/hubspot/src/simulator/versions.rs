//! HubSpot's API versions: the numbered ones (`/crm/v3/…`, `/oauth/v1/…`) and the date-based
//! ones (`/crm/objects/2026-09/…`). Dated routes capture the segment as `{version}`; the
//! middleware here answers HubSpot's 404 for a date the simulator does not serve, and tells
//! handlers which version a request used (2026-09 enforces validation rules on writes).

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;

/// The date-based versions served, oldest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["2026-03", "2026-09"];
/// The route capture that holds a date-based version.
pub const VERSION_CAPTURE: &str = "{version}";

/// The version a request used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiVersion {
    /// A numbered path (`v1`–`v4`) or one without a version.
    #[default]
    Numbered,
    /// `2026-03`.
    V2026_03,
    /// `2026-09`.
    V2026_09,
}

impl ApiVersion {
    /// The version of a `YYYY-MM` segment, if the simulator serves it.
    pub fn parse(segment: &str) -> Option<Self> {
        match segment {
            "2026-03" => Some(Self::V2026_03),
            "2026-09" => Some(Self::V2026_09),
            _ => None,
        }
    }

    /// The path segment (`v3` for numbered paths of the CRM).
    pub fn segment(self) -> &'static str {
        match self {
            Self::Numbered => "v3",
            Self::V2026_03 => "2026-03",
            Self::V2026_09 => "2026-09",
        }
    }

    /// Whether writes enforce the portal's validation rules and normalise loose values with
    /// warnings (2026-09 only; v3 and 2026-03 keep the old behaviour).
    pub fn enforces_write_validation(self) -> bool {
        self == Self::V2026_09
    }

    /// The base of the objects API for this version, e.g. `/crm/objects/2026-09`.
    pub fn objects_base(self) -> String {
        match self {
            Self::Numbered => "/crm/v3/objects".to_owned(),
            dated => format!("/crm/objects/{}", dated.segment()),
        }
    }

    /// The base of the properties API for this version, e.g. `/crm/properties/2026-09`.
    pub fn properties_base(self) -> String {
        match self {
            Self::Numbered => "/crm/v3/properties".to_owned(),
            dated => format!("/crm/properties/{}", dated.segment()),
        }
    }
}

/// The concrete value of the `{version}` capture of `matched` in `path`, if it has one.
pub fn version_segment<'a>(matched: &str, path: &'a str) -> Option<&'a str> {
    let index = matched.split('/').position(|s| s == VERSION_CAPTURE)?;
    path.split('/').nth(index)
}

/// `matched` with its `{version}` capture replaced by the value in `path`, so request
/// counts show the version used (`POST /crm/objects/2026-09/{object_type}/batch/upsert`).
pub fn concrete_route(matched: &str, path: &str) -> String {
    match version_segment(matched, path) {
        Some(version) => matched.replacen(VERSION_CAPTURE, version, 1),
        None => matched.to_owned(),
    }
}

/// Middleware: HubSpot's 404 for an unserved date; otherwise the [`ApiVersion`] goes into the
/// request's extensions.
pub async fn guard(mut request: Request, next: Next) -> Response {
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let path = request.uri().path().to_owned();
    let version = match matched.as_deref().and_then(|m| version_segment(m, &path)) {
        None => ApiVersion::Numbered,
        Some(segment) => match ApiVersion::parse(segment) {
            Some(version) => version,
            None => {
                return ApiError::no_route(request.method().as_str(), &path).into_response();
            }
        },
    };
    request.extensions_mut().insert(version);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_capture_is_replaced_by_the_concrete_segment() {
        let matched = "/crm/objects/{version}/{object_type}/batch/upsert";
        let path = "/crm/objects/2026-09/contacts/batch/upsert";
        assert_eq!(version_segment(matched, path), Some("2026-09"));
        assert_eq!(
            concrete_route(matched, path),
            "/crm/objects/2026-09/{object_type}/batch/upsert"
        );
        assert_eq!(
            concrete_route("/crm/v3/objects/{object_type}", "/crm/v3/objects/contacts"),
            "/crm/v3/objects/{object_type}"
        );
        assert_eq!(ApiVersion::parse("2025-09"), None);
        assert!(ApiVersion::parse("2026-09").is_some_and(ApiVersion::enforces_write_validation));
        assert!(!ApiVersion::V2026_03.enforces_write_validation());
    }
}
