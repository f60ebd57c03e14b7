//! HubSpot error bodies and what they mean: the one place that reads HubSpot's error text.
//!
//! Every field of an error body is optional ("should all be treated as optional in any error
//! parsing"), some facts live only inside prose (`Existing ID: N`) or in JSON embedded in the
//! `message` string (`Property values were not valid: [...]`). [`classify`] turns a status and a
//! body into a [`ConnectorError`] with the [`ErrorKind`] the engine acts on, so nothing above
//! this module parses message text again. [`Disposition`] tells the client's retry loop what to
//! do about a failed call.

use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use tte_sync_core::CrmId;
use tte_sync_core::connector::{ConnectorError, ErrorKind};

/// The `category` of an expired OAuth access token.
pub const CATEGORY_EXPIRED_AUTHENTICATION: &str = "EXPIRED_AUTHENTICATION";
/// The `policyName` of the daily limit.
pub const POLICY_DAILY: &str = "DAILY";
/// The `policyName` of the rolling burst limit.
pub const POLICY_TEN_SECONDLY: &str = "TEN_SECONDLY_ROLLING";
/// The older `policyName` of the per-second limit (and the search limit's wording).
pub const POLICY_SECONDLY: &str = "SECONDLY";
/// The validation code of a refused email address.
pub const CODE_INVALID_EMAIL: &str = "INVALID_EMAIL";
/// The validation code of a property that does not exist.
pub const CODE_PROPERTY_DOESNT_EXIST: &str = "PROPERTY_DOESNT_EXIST";
/// HubSpot's "Migration in Progress" status, retried after `Retry-After`.
pub const STATUS_MIGRATION_IN_PROGRESS: u16 = 477;
/// The category of a refused value or of a portal validation rule (2026-09).
pub const CATEGORY_VALIDATION_ERROR: &str = "VALIDATION_ERROR";
/// A property the portal's Create Record form requires is missing (2026-09).
pub const CODE_MISSING_REQUIRED_PROPERTY: &str = "MISSING_REQUIRED_PROPERTY";
/// A property a conditional rule requires is missing (2026-09).
pub const CODE_MISSING_CONDITIONAL_REQUIRED_PROPERTY: &str =
    "MISSING_CONDITIONAL_REQUIRED_PROPERTY";
/// The codes of refusals by the portal's own rules: configuration to fix, never retried.
const PORTAL_RULE_CODES: [&str; 2] = [
    CODE_MISSING_REQUIRED_PROPERTY,
    CODE_MISSING_CONDITIONAL_REQUIRED_PROPERTY,
];

const EXISTING_ID_MARKER: &str = "Existing ID:";
const INVALID_VALUES_MARKER: &str = "Property values were not valid:";
const ALREADY_HAS_VALUE_MARKER: &str = "already has that value";

/// A HubSpot error body (`Error` / `StandardError`), every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorBody {
    /// `error` on errors.
    pub status: Option<String>,
    /// What went wrong, for a person; sometimes embeds JSON.
    pub message: Option<String>,
    /// Machine-readable class, e.g. `VALIDATION_ERROR`, `CONFLICT`, `OBJECT_NOT_FOUND`.
    pub category: Option<String>,
    /// A finer class.
    pub sub_category: Option<Value>,
    /// The request's id at HubSpot, for support tickets.
    pub correlation_id: Option<String>,
    /// Per-field details.
    pub errors: Vec<ErrorDetail>,
    /// Extra context, e.g. `{"objectWriteTraceId": ["3"]}` or `{"id": ["42"]}`.
    pub context: Option<Value>,
    /// Which rate limit was hit (429 only).
    pub policy_name: Option<String>,
    /// `RATE_LIMIT` on 429s.
    pub error_type: Option<String>,
}

/// One entry of an error body's `errors` array.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorDetail {
    /// What went wrong.
    pub message: Option<String>,
    /// E.g. `INVALID_EMAIL`, `PROPERTY_DOESNT_EXIST`, `INVALID_INTEGER`.
    pub code: Option<String>,
    /// E.g. `{"propertyName": ["email"]}`.
    pub context: Option<Value>,
}

/// One entry of the JSON array embedded in a validation message.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct EmbeddedValidation {
    error: Option<String>,
    name: Option<String>,
}

impl ErrorBody {
    /// Parses a body leniently: anything that is not a JSON object gives an empty body.
    pub fn parse(body: &[u8]) -> Self {
        serde_json::from_slice(body).unwrap_or_default()
    }

    /// The `context` values under `key`, e.g. the `objectWriteTraceId`s an error is about.
    pub fn context_values(&self, key: &str) -> Vec<String> {
        context_strings(self.context.as_ref(), key)
    }

    /// The category, or the empty string.
    pub fn category(&self) -> &str {
        self.category.as_deref().unwrap_or("")
    }

    /// The message, or the empty string.
    pub fn message(&self) -> &str {
        self.message.as_deref().unwrap_or("")
    }

    /// The id of the record that already holds a unique value: from `Existing ID: N` (409),
    /// or from `… on A. B already has that value.` (the secondary-email variant).
    pub fn existing_id(&self) -> Option<CrmId> {
        let message = self.message();
        if let Some(rest) = message.split(EXISTING_ID_MARKER).nth(1) {
            return leading_digits(rest.trim_start()).map(CrmId::from);
        }
        if let Some(before) = message.split(ALREADY_HAS_VALUE_MARKER).next()
            && message.contains(ALREADY_HAS_VALUE_MARKER)
        {
            let owner = before.trim_end().rsplit(' ').next().unwrap_or("");
            return leading_digits(owner).map(CrmId::from);
        }
        None
    }

    /// The validation codes and the properties they are about, from `errors[]` and from the
    /// JSON embedded in `message`.
    pub fn validation_failures(&self) -> Vec<(String, Option<String>)> {
        let mut failures: Vec<(String, Option<String>)> = self
            .errors
            .iter()
            .filter_map(|detail| {
                let code = detail.code.clone()?;
                let field = context_strings(detail.context.as_ref(), "propertyName")
                    .into_iter()
                    .next();
                Some((code, field))
            })
            .collect();
        if let Some(embedded) = self
            .message()
            .split_once(INVALID_VALUES_MARKER)
            .map(|(_, json)| json.trim())
            && let Ok(entries) = serde_json::from_str::<Vec<EmbeddedValidation>>(embedded)
        {
            for entry in entries {
                if let Some(code) = entry.error {
                    let known = failures
                        .iter_mut()
                        .find(|(c, f)| *c == code && (f.is_none() || *f == entry.name));
                    match known {
                        Some((_, field)) if field.is_none() => *field = entry.name,
                        Some(_) => {}
                        None => failures.push((code, entry.name)),
                    }
                }
            }
        }
        failures
    }

    /// A refusal by one of the portal's own validation rules (enforced on 2026-09 writes):
    /// the property it names and the message that says what to change in HubSpot.
    pub fn portal_rule(&self) -> Option<(Option<String>, String)> {
        if self.category() != CATEGORY_VALIDATION_ERROR {
            return None;
        }
        let failures = self.validation_failures();
        let (code, field) = failures
            .into_iter()
            .find(|(code, _)| PORTAL_RULE_CODES.contains(&code.as_str()))?;
        let property = field.as_deref().unwrap_or("a property");
        let rule = if code == CODE_MISSING_CONDITIONAL_REQUIRED_PROPERTY {
            "a conditional property rule (Settings → Properties → the property it depends on → Conditional logic)"
        } else {
            "the contact Create Record form's required fields (Settings → Objects → Contacts → Record customization)"
        };
        Some((
            field.clone(),
            format!(
                "HubSpot portal rule: `{property}` is required ({code}) by {rule}; map a value for `{property}` in the mapping, or change that rule in HubSpot, then `tte-sync retry --all`"
            ),
        ))
    }

    /// The property a validation error is about, when it names one.
    pub fn invalid_field(&self) -> Option<String> {
        let failures = self.validation_failures();
        if let Some((_, field)) = failures.iter().find(|(code, _)| code == CODE_INVALID_EMAIL) {
            return Some(field.clone().unwrap_or_else(|| "email".to_owned()));
        }
        failures.into_iter().find_map(|(_, field)| field)
    }
}

fn leading_digits(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    (end > 0).then(|| &text[..end])
}

fn context_strings(context: Option<&Value>, key: &str) -> Vec<String> {
    match context.and_then(|c| c.get(key)) {
        Some(Value::Array(values)) => values.iter().filter_map(value_string).collect(),
        Some(value) => value_string(value).into_iter().collect(),
        None => Vec::new(),
    }
}

fn value_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What the client's retry loop does about a failed call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Disposition {
    /// Refresh the OAuth access token and repeat the call once.
    RefreshToken(ConnectorError),
    /// A 429 of a rolling window: wait (as long as HubSpot said, when it did — REST 429s
    /// usually say nothing), then repeat the call.
    WaitForWindow(Option<Duration>, ConnectorError),
    /// A passing failure: back off (at least the given time, when the server said) and repeat.
    Retry(Option<Duration>, ConnectorError),
    /// Give up: repeating the call fails the same way.
    Fail(ConnectorError),
}

/// Rate-limit facts from the `X-HubSpot-RateLimit-*` and `Retry-After` headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitHeaders {
    /// `X-HubSpot-RateLimit-Max`: calls allowed per interval.
    pub max: Option<u32>,
    /// `X-HubSpot-RateLimit-Remaining`: calls left in the current interval.
    pub remaining: Option<u32>,
    /// `X-HubSpot-RateLimit-Interval-Milliseconds`.
    pub interval: Option<Duration>,
    /// `X-HubSpot-RateLimit-Daily-Remaining` (private apps only).
    pub daily_remaining: Option<u64>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<Duration>,
}

/// Header names HubSpot uses for its rate limits.
pub mod headers {
    /// Calls allowed per interval.
    pub const MAX: &str = "x-hubspot-ratelimit-max";
    /// Calls left in the interval.
    pub const REMAINING: &str = "x-hubspot-ratelimit-remaining";
    /// The interval's length in milliseconds.
    pub const INTERVAL_MS: &str = "x-hubspot-ratelimit-interval-milliseconds";
    /// Calls left today (private apps).
    pub const DAILY_REMAINING: &str = "x-hubspot-ratelimit-daily-remaining";
    /// Seconds to wait (423, 477, 503).
    pub const RETRY_AFTER: &str = "retry-after";
}

impl LimitHeaders {
    /// Reads the headers; missing or unparsable values are `None`.
    pub fn read(map: &http::HeaderMap) -> Self {
        fn number<T: std::str::FromStr>(map: &http::HeaderMap, name: &str) -> Option<T> {
            map.get(name)?.to_str().ok()?.trim().parse().ok()
        }
        Self {
            max: number(map, headers::MAX),
            remaining: number(map, headers::REMAINING),
            interval: number::<u64>(map, headers::INTERVAL_MS).map(Duration::from_millis),
            daily_remaining: number(map, headers::DAILY_REMAINING),
            retry_after: number::<u64>(map, headers::RETRY_AFTER).map(Duration::from_secs),
        }
    }
}

/// The error a failed HubSpot call stands for, with the kind the engine acts on.
pub fn classify(status: StatusCode, limits: &LimitHeaders, body: &[u8]) -> ConnectorError {
    disposition(status, limits, body).into_error()
}

impl Disposition {
    /// The error, whatever the loop would do about it.
    pub fn into_error(self) -> ConnectorError {
        match self {
            Disposition::RefreshToken(e)
            | Disposition::WaitForWindow(_, e)
            | Disposition::Retry(_, e)
            | Disposition::Fail(e) => e,
        }
    }
}

/// What to do about a failed call, with the error it stands for.
pub fn disposition(status: StatusCode, limits: &LimitHeaders, body: &[u8]) -> Disposition {
    let parsed = ErrorBody::parse(body);
    let disposition = disposition_of(status, limits, &parsed);
    match reference(&parsed) {
        Some(reference) => disposition.map_error(|e| e.with_reference(reference)),
        None => disposition,
    }
}

/// The correlation id of an error, as a reference for HubSpot's support.
fn reference(body: &ErrorBody) -> Option<String> {
    body.correlation_id
        .as_ref()
        .map(|id| format!("correlation id {id}"))
}

impl Disposition {
    fn map_error(self, f: impl FnOnce(ConnectorError) -> ConnectorError) -> Self {
        match self {
            Disposition::RefreshToken(e) => Disposition::RefreshToken(f(e)),
            Disposition::WaitForWindow(wait, e) => Disposition::WaitForWindow(wait, f(e)),
            Disposition::Retry(wait, e) => Disposition::Retry(wait, f(e)),
            Disposition::Fail(e) => Disposition::Fail(f(e)),
        }
    }
}

fn disposition_of(status: StatusCode, limits: &LimitHeaders, parsed: &ErrorBody) -> Disposition {
    let code = status.as_u16();
    let what = describe(status, parsed);
    match code {
        401 => {
            let error = ConnectorError::new(
                ErrorKind::Unauthorized,
                format!("{what}; check the private-app token or reinstall the app"),
            );
            Disposition::RefreshToken(error)
        }
        403 => Disposition::Fail(ConnectorError::new(
            ErrorKind::Unauthorized,
            format!("{what}; grant the app the missing scopes and reinstall it"),
        )),
        404 => Disposition::Fail(ConnectorError::new(ErrorKind::NotFound, what)),
        409 => Disposition::Fail(ConnectorError::new(
            ErrorKind::Conflict {
                existing_id: parsed.existing_id(),
            },
            what,
        )),
        429 => rate_limited(parsed, limits, what),
        423 | STATUS_MIGRATION_IN_PROGRESS | 500..=599 => {
            Disposition::Retry(limits.retry_after, ConnectorError::transient(what))
        }
        400 | 422 => {
            if let Some((field, rule)) = parsed.portal_rule() {
                return Disposition::Fail(ConnectorError::new(ErrorKind::Invalid { field }, rule));
            }
            if let Some(existing_id) = parsed.existing_id() {
                return Disposition::Fail(ConnectorError::new(
                    ErrorKind::Conflict {
                        existing_id: Some(existing_id),
                    },
                    what,
                ));
            }
            if let Some(missing) = missing_properties(&what, parsed) {
                return Disposition::Fail(missing);
            }
            Disposition::Fail(ConnectorError::new(
                ErrorKind::Invalid {
                    field: parsed.invalid_field(),
                },
                what,
            ))
        }
        _ => Disposition::Fail(ConnectorError::permanent(what)),
    }
}

/// A refusal naming properties the portal does not have: the configuration's fault, the same
/// for every record (see [`ErrorKind::Misconfigured`]).
fn missing_properties(what: &str, parsed: &ErrorBody) -> Option<ConnectorError> {
    let missing: Vec<String> = parsed
        .validation_failures()
        .into_iter()
        .filter(|(code, _)| code == CODE_PROPERTY_DOESNT_EXIST)
        .filter_map(|(_, field)| field)
        .collect();
    if missing.is_empty() {
        return None;
    }
    let message = format!(
        "{what}; the contact properties {} are missing: create them with `tte-sync setup --config <FILE>` (or correct their names in the mapping), then sync again",
        missing.join(", ")
    );
    Some(ConnectorError::new(
        ErrorKind::Misconfigured {
            properties: missing,
        },
        message,
    ))
}

fn rate_limited(parsed: &ErrorBody, limits: &LimitHeaders, what: String) -> Disposition {
    let policy = parsed.policy_name.as_deref().unwrap_or("");
    let message = parsed.message().to_ascii_lowercase();
    if policy == POLICY_DAILY || message.contains("daily limit") {
        return Disposition::Fail(ConnectorError::new(
            ErrorKind::RateLimited {
                retry_after: None,
                daily: true,
            },
            format!(
                "{what}; the daily API budget is spent, sync resumes after HubSpot resets it at midnight (portal time)"
            ),
        ));
    }
    let secondly = policy == POLICY_SECONDLY || message.contains("secondly limit");
    let wait = limits.retry_after;
    let setting = if secondly {
        "search_requests_per_sec"
    } else {
        "requests_per_10_secs"
    };
    Disposition::WaitForWindow(
        wait,
        ConnectorError::new(
            ErrorKind::RateLimited {
                retry_after: wait,
                daily: false,
            },
            format!("{what}; lower `{setting}` if this repeats"),
        ),
    )
}

fn describe(status: StatusCode, body: &ErrorBody) -> String {
    let mut text = format!("hubspot answered {status}");
    if !body.category().is_empty() {
        text.push_str(&format!(" {}", body.category()));
    }
    if !body.message().is_empty() {
        text.push_str(&format!(": {}", body.message()));
    }
    text
}

/// Whether a 401 body says the OAuth access token expired (rather than being wrong).
pub fn is_expired_token(body: &[u8]) -> bool {
    let parsed = ErrorBody::parse(body);
    parsed.category() == CATEGORY_EXPIRED_AUTHENTICATION || parsed.message().contains("expired")
}

/// The error of one record inside a 207 multi-status batch answer.
pub fn classify_record_error(error: &ErrorBody) -> ConnectorError {
    let status = error
        .status
        .as_deref()
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok());
    if let Some((field, rule)) = error.portal_rule() {
        let classified = ConnectorError::new(ErrorKind::Invalid { field }, rule);
        return match reference(error) {
            Some(reference) => classified.with_reference(reference),
            None => classified,
        };
    }
    let what = describe(status.unwrap_or(StatusCode::BAD_REQUEST), error);
    if let Some(missing) = missing_properties(&what, error) {
        return match reference(error) {
            Some(reference) => missing.with_reference(reference),
            None => missing,
        };
    }
    let kind = match error.category() {
        "CONFLICT" => ErrorKind::Conflict {
            existing_id: error.existing_id(),
        },
        "OBJECT_NOT_FOUND" => ErrorKind::NotFound,
        "RATE_LIMITS" | "RATE_LIMIT" => ErrorKind::RateLimited {
            retry_after: None,
            daily: false,
        },
        "LOCKED" | "INTERNAL_ERROR" | "TIMEOUT" => ErrorKind::Transient,
        _ if error.existing_id().is_some() => ErrorKind::Conflict {
            existing_id: error.existing_id(),
        },
        _ if status.is_some_and(|s| s == StatusCode::CONFLICT) => {
            ErrorKind::Conflict { existing_id: None }
        }
        _ if status.is_some_and(|s| s == StatusCode::NOT_FOUND) => ErrorKind::NotFound,
        _ => ErrorKind::Invalid {
            field: error.invalid_field(),
        },
    };
    let classified = ConnectorError::new(kind, what);
    match reference(error) {
        Some(reference) => classified.with_reference(reference),
        None => classified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, body: &str) -> ErrorKind {
        classify(
            StatusCode::from_u16(status).unwrap(),
            &LimitHeaders::default(),
            body.as_bytes(),
        )
        .kind()
        .clone()
    }

    #[test]
    fn portal_validation_rules_name_the_property_and_the_fix() {
        let body = r#"{"status":"error","message":"A value for company must be provided","correlationId":"aa5b2c77-0000-4000-8000-000000000001","category":"VALIDATION_ERROR","errors":[{"message":"A value for company must be provided","code":"MISSING_REQUIRED_PROPERTY","context":{"propertyName":["company"]}}]}"#;
        let error = classify(
            StatusCode::BAD_REQUEST,
            &LimitHeaders::default(),
            body.as_bytes(),
        );
        assert_eq!(
            error.kind(),
            &ErrorKind::Invalid {
                field: Some("company".to_owned())
            }
        );
        assert!(!error.kind().is_retryable());
        assert!(error.message().contains("`company` is required"), "{error}");
        assert!(error.message().contains("Record customization"), "{error}");
        let conditional = ErrorBody::parse(br#"{"status":"error","category":"VALIDATION_ERROR","message":"company is required because of a conditional property rule based on [lifecyclestage]","errors":[{"code":"MISSING_CONDITIONAL_REQUIRED_PROPERTY","context":{"propertyName":["company"]}}],"context":{"objectWriteTraceId":["4"]}}"#);
        let error = classify_record_error(&conditional);
        assert!(
            error.message().contains("conditional property rule"),
            "{error}"
        );
        assert_eq!(
            error.kind(),
            &ErrorKind::Invalid {
                field: Some("company".to_owned())
            }
        );
    }

    #[test]
    fn duplicate_email_409_carries_the_existing_id() {
        let body = r#"{"status":"error","message":"Contact already exists. Existing ID: 37765128953","correlationId":"2dea5219-07f2-40ce-82ec-9c2e302317a4","category":"CONFLICT"}"#;
        assert_eq!(
            kind(409, body),
            ErrorKind::Conflict {
                existing_id: Some(CrmId::from("37765128953"))
            }
        );
    }

    #[test]
    fn secondary_email_400_is_a_conflict_with_the_owner() {
        let body = r#"{"status":"error","message":"Cannot set PropertyValueCoordinates{portalId=1, objectTypeId=0-1, objectId=552148386511, propertyName=email, value=x@y.z} on 552148386511. 552239500007 already has that value.","correlationId":"x","category":"VALIDATION_ERROR"}"#;
        assert_eq!(
            kind(400, body),
            ErrorKind::Conflict {
                existing_id: Some(CrmId::from("552239500007"))
            }
        );
    }

    #[test]
    fn invalid_email_in_embedded_json_names_the_email_field() {
        let body = r#"{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"Email address example.lcom is invalid\",\"error\":\"INVALID_EMAIL\",\"name\":\"email\"}]","correlationId":"c8617a85","category":"VALIDATION_ERROR"}"#;
        assert_eq!(
            kind(400, body),
            ErrorKind::Invalid {
                field: Some("email".to_owned())
            }
        );
    }

    #[test]
    fn property_doesnt_exist_from_the_207_example_names_the_property() {
        let body = r#"{"status":"error","category":"VALIDATION_ERROR",
   "message":"Property values were not valid: [{\"isValid\":false,\"message\":\"Property \\\"missing\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"missing\",\"localizedErrorMessage\":\"Property \\\"missing\\\" does not exist\",\"portalId\":891936587}]",
   "context":{"objectWriteTraceId":["549b1c2a9351"]}}"#;
        let parsed = ErrorBody::parse(body.as_bytes());
        assert_eq!(
            parsed.context_values("objectWriteTraceId"),
            ["549b1c2a9351"]
        );
        assert_eq!(
            classify_record_error(&parsed).kind(),
            &ErrorKind::Misconfigured {
                properties: vec!["missing".to_owned()]
            }
        );
    }

    #[test]
    fn the_correlation_id_is_a_reference_not_part_of_the_message() {
        let body = r#"{"status":"error","message":"Contact already exists. Existing ID: 7","correlationId":"c-1","category":"CONFLICT"}"#;
        let error = classify(
            StatusCode::CONFLICT,
            &LimitHeaders::default(),
            body.as_bytes(),
        );
        assert!(!error.message().contains("c-1"), "{}", error.message());
        assert_eq!(error.reference(), Some("correlation id c-1"));
        assert!(
            error.to_string().ends_with("(correlation id c-1)"),
            "{error}"
        );
    }

    #[test]
    fn a_whole_batch_refused_for_missing_properties_says_to_run_setup() {
        let body = r#"{"status":"error","category":"VALIDATION_ERROR","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"Property \\\"tte_customer_uri\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"tte_customer_uri\"}]"}"#;
        let error = classify(
            StatusCode::BAD_REQUEST,
            &LimitHeaders::default(),
            body.as_bytes(),
        );
        let text = error.to_string();
        assert!(
            text.contains("properties tte_customer_uri are missing"),
            "{text}"
        );
        assert!(text.contains("tte-sync setup"), "{text}");
        assert!(error.kind().is_systemic(), "{:?}", error.kind());
    }

    #[test]
    fn errors_array_code_and_context_name_the_property() {
        let body = r#"{"status":"error","message":"bad","correlationId":"a","category":"VALIDATION_ERROR","errors":[{"message":"x","code":"INVALID_INTEGER","context":{"propertyName":["discount"]}}]}"#;
        assert_eq!(
            kind(400, body),
            ErrorKind::Invalid {
                field: Some("discount".to_owned())
            }
        );
    }

    #[test]
    fn daily_429_stops_and_burst_429_waits_for_the_window() {
        let daily = r#"{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","correlationId":"c033cdaa-2c40-4a64-ae48-b4cec88dad24","policyName":"DAILY","requestId":"3d3e35b7"}"#;
        assert_eq!(
            kind(429, daily),
            ErrorKind::RateLimited {
                retry_after: None,
                daily: true
            }
        );
        let burst = r#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","correlationId":"x","policyName":"TEN_SECONDLY_ROLLING","groupName":"publicapi:private_app-api-calls-ten-secondly:1:2"}"#;
        let limits = LimitHeaders {
            interval: Some(Duration::from_millis(10_000)),
            ..LimitHeaders::default()
        };
        let d = disposition(StatusCode::TOO_MANY_REQUESTS, &limits, burst.as_bytes());
        assert!(matches!(d, Disposition::WaitForWindow(None, _)), "{d:?}");
        let told = LimitHeaders {
            retry_after: Some(Duration::from_secs(2)),
            ..limits
        };
        let d = disposition(StatusCode::TOO_MANY_REQUESTS, &told, burst.as_bytes());
        assert!(matches!(d, Disposition::WaitForWindow(Some(w), _) if w == Duration::from_secs(2)));
        let search = r#"{"status":"error","message":"You have reached your secondly limit.","errorType":"RATE_LIMIT","policyName":"SECONDLY"}"#;
        let d = disposition(
            StatusCode::TOO_MANY_REQUESTS,
            &LimitHeaders::default(),
            search.as_bytes(),
        );
        assert!(
            matches!(&d, Disposition::WaitForWindow(None, e) if e.to_string().contains("search_requests_per_sec")),
            "{d:?}"
        );
    }

    #[test]
    fn locks_migrations_and_5xx_are_retried_with_retry_after() {
        let limits = LimitHeaders {
            retry_after: Some(Duration::from_secs(3)),
            ..LimitHeaders::default()
        };
        for status in [423, 477, 500, 502, 503, 504, 521] {
            let d = disposition(StatusCode::from_u16(status).unwrap(), &limits, b"<html>");
            assert!(
                matches!(d, Disposition::Retry(Some(w), _) if w == Duration::from_secs(3)),
                "{status}"
            );
        }
        assert_eq!(kind(414, ""), ErrorKind::Permanent);
        assert_eq!(
            kind(
                404,
                r#"{"message":"Object not found.  objectId are usually numeric.","category":"OBJECT_NOT_FOUND"}"#
            ),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn auth_failures_are_unauthorized_and_expiry_is_recognised() {
        let expired = r#"{"status":"error","message":"The OAuth token used to make this call expired 12 second(s) ago.","correlationId":"x","category":"EXPIRED_AUTHENTICATION"}"#;
        assert!(is_expired_token(expired.as_bytes()));
        assert!(!is_expired_token(
            br#"{"status":"error","message":"Authentication credentials not found.","category":"INVALID_AUTHENTICATION"}"#
        ));
        assert_eq!(kind(401, expired), ErrorKind::Unauthorized);
        assert_eq!(
            kind(403, r#"{"category":"MISSING_SCOPES"}"#),
            ErrorKind::Unauthorized
        );
    }

    #[test]
    fn headers_are_read_leniently() {
        let mut map = http::HeaderMap::new();
        map.insert(headers::MAX, "110".parse().unwrap());
        map.insert(headers::REMAINING, " 7".parse().unwrap());
        map.insert(headers::INTERVAL_MS, "10000".parse().unwrap());
        map.insert(headers::RETRY_AFTER, "soon".parse().unwrap());
        let limits = LimitHeaders::read(&map);
        assert_eq!(limits.max, Some(110));
        assert_eq!(limits.remaining, Some(7));
        assert_eq!(limits.interval, Some(Duration::from_secs(10)));
        assert_eq!(limits.retry_after, None);
    }

    #[test]
    fn non_json_bodies_never_panic() {
        for body in ["", "null", "[]", "{\"message\": 3}", "\u{0}\u{1}"] {
            let _ = classify(
                StatusCode::BAD_REQUEST,
                &LimitHeaders::default(),
                body.as_bytes(),
            );
        }
    }
}
