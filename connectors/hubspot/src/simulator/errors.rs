//! HubSpot's error bodies, byte for byte where the reference documents them.
//!
//! Every error the simulator answers goes through [`ApiError`], which renders the JSON body
//! HubSpot sends (`status`, `message`, `correlationId`, `category`, and `errors`/`context` where
//! documented) with HubSpot's `application/json;charset=utf-8` content type.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::new_correlation_id;

/// The content type HubSpot puts on JSON answers.
pub const JSON_UTF8: &str = "application/json;charset=utf-8";

/// Category of a validation failure.
pub const VALIDATION_ERROR: &str = "VALIDATION_ERROR";
/// Category of a missing object.
pub const OBJECT_NOT_FOUND: &str = "OBJECT_NOT_FOUND";
/// Category of a duplicate.
pub const CONFLICT: &str = "CONFLICT";
/// The `error` code HubSpot gives an email it refuses.
pub const INVALID_EMAIL: &str = "INVALID_EMAIL";
/// The `error` code HubSpot gives an unknown property.
pub const PROPERTY_DOESNT_EXIST: &str = "PROPERTY_DOESNT_EXIST";
/// The `error` code HubSpot gives a write to a read-only property.
pub const READ_ONLY_VALUE: &str = "READ_ONLY_VALUE";
/// The `error` code HubSpot gives an enumeration value that is not an option.
pub const INVALID_OPTION: &str = "INVALID_OPTION";

/// The message HubSpot answers when no usable credentials came with a request.
pub const NO_CREDENTIALS_MESSAGE: &str = "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview";

/// An error response with HubSpot's body.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Value,
}

impl ApiError {
    /// The general body: `{"status":"error","message","correlationId","category"}`.
    pub fn new(status: StatusCode, category: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({
                "status": "error",
                "message": message.into(),
                "correlationId": new_correlation_id(),
                "category": category,
            }),
        }
    }

    /// Adds a field to the body.
    #[must_use]
    pub fn with(mut self, key: &str, value: Value) -> Self {
        if let Some(map) = self.body.as_object_mut() {
            map.insert(key.to_owned(), value);
        }
        self
    }

    /// 400 `VALIDATION_ERROR` with `message`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, VALIDATION_ERROR, message)
    }

    /// 401 `INVALID_AUTHENTICATION`: missing or unknown credentials.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            NO_CREDENTIALS_MESSAGE,
        )
    }

    /// 401 `EXPIRED_AUTHENTICATION` for an OAuth token that expired `seconds_ago`.
    pub fn expired(seconds_ago: i64) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "EXPIRED_AUTHENTICATION",
            format!("The OAuth token used to make this call expired {seconds_ago} second(s) ago."),
        )
    }

    /// 404 for one object: HubSpot's real body (with its double space).
    pub fn object_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            OBJECT_NOT_FOUND,
            "Object not found.  objectId are usually numeric.",
        )
        .with("context", json!({ "id": [id] }))
    }

    /// 404 for a route the simulator does not know.
    pub fn no_route(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            format!("Unable to route {method} {path}; this simulator does not implement it"),
        )
    }

    /// 400 for an unknown object type in a CRM path.
    pub fn unknown_object_type(object_type: &str) -> Self {
        Self::validation(format!("Unable to infer object type from: {object_type}"))
    }

    /// 400 for malformed JSON.
    pub fn bad_json(detail: impl std::fmt::Display) -> Self {
        Self::validation(format!("Invalid input JSON on line 1: {detail}"))
    }

    /// 429 with a rate-limit body (`errorType: RATE_LIMIT`).
    pub fn rate_limited(message: &str, policy: &str, extra: Option<(&str, String)>) -> Self {
        let mut body = json!({
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": new_correlation_id(),
            "policyName": policy,
        });
        if let (Some((key, value)), Some(map)) = (extra, body.as_object_mut()) {
            map.insert(key.to_owned(), Value::String(value));
        }
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            body,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.body)
    }
}

/// A JSON answer with HubSpot's content type.
pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    response
}

/// One invalid property value, as HubSpot lists it inside a validation error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyIssue {
    /// The property name.
    pub name: String,
    /// HubSpot's code, e.g. [`INVALID_EMAIL`].
    pub code: &'static str,
    /// The human message.
    pub message: String,
}

impl PropertyIssue {
    /// An unknown property.
    pub fn doesnt_exist(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            code: PROPERTY_DOESNT_EXIST,
            message: format!("Property \"{name}\" does not exist"),
        }
    }

    /// An email HubSpot refuses.
    pub fn invalid_email(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            code: INVALID_EMAIL,
            message: format!("Email address {value} is invalid"),
        }
    }

    /// A read-only property.
    pub fn read_only(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            code: READ_ONLY_VALUE,
            message: format!("{name} is a read only property; its value cannot be set."),
        }
    }

    /// An enumeration value that is not one of the options.
    pub fn invalid_option(name: &str, value: &str, options: &[String]) -> Self {
        Self {
            name: name.to_owned(),
            code: INVALID_OPTION,
            message: format!(
                "{value} was not one of the allowed options: [{}]",
                options.join(", ")
            ),
        }
    }
}

/// The 400 body for invalid property values: the JSON-in-a-string `message` plus `errors[]`
/// with `code`, as HubSpot's official example shows both.
pub fn property_issues_body(issues: &[PropertyIssue], portal_id: u64) -> Value {
    let embedded: Vec<Value> = issues
        .iter()
        .map(|issue| {
            json!({
                "isValid": false,
                "message": issue.message,
                "error": issue.code,
                "name": issue.name,
                "localizedErrorMessage": issue.message,
                "portalId": portal_id,
            })
        })
        .collect();
    let errors: Vec<Value> = issues
        .iter()
        .map(|issue| {
            json!({
                "message": issue.message,
                "code": issue.code,
                "context": { "propertyName": [issue.name] },
            })
        })
        .collect();
    json!({
        "status": "error",
        "message": format!(
            "Property values were not valid: {}",
            Value::Array(embedded)
        ),
        "correlationId": new_correlation_id(),
        "category": VALIDATION_ERROR,
        "errors": errors,
    })
}
