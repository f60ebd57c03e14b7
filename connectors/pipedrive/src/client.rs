//! The HTTP client every Pipedrive call goes through: the credentials ([`Credentials`]: the
//! API token in `x-api-token`, or an OAuth access token refreshed once when refused), core's
//! shared retry loop ([`Sender`]) paced by the token's 2-second window ([`BurstWindow`]), and
//! answers read into the error kinds the engine acts on: 429 waits as long as
//! `x-ratelimit-reset` says (a spent daily budget until it resets), 5xx and timeouts back off,
//! other refusals stop. Every answer is counted under the service `pipedrive` for `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use http::StatusCode;
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tte_sync_core::Secret;
use tte_sync_core::connector::{ConnectorError, ErrorKind, Result, TokenStore};
use tte_sync_core::http::stats::{self, ServiceStats};
use tte_sync_core::http::waits::human_duration;
use tte_sync_core::http::{
    Attempt, Cause, RetryPolicy, Sender, Tries, classify_reqwest, classify_status, retry_after,
};
use url::Url;

use crate::auth::{Credentials, OAuthSession};
use crate::config::PipedriveConfig;
use crate::fields::Field;
use crate::pacing::{BurstWindow, LimitHeaders};
use crate::person::Person;

/// The API's name in waits and logs.
const API_NAME: &str = "Pipedrive";
/// The header the API token goes in.
pub const TOKEN_HEADER: &str = "x-api-token";
/// While the daily budget is spent, how often it is tried again at most.
const DAILY_LIMIT_PROBE: Duration = Duration::from_secs(3600);
/// Ids per `GET /api/v2/persons?ids=` (the API's maximum).
pub const IDS_PER_CALL: usize = 100;

/// A successful answer's body.
#[derive(Debug)]
pub struct Answer {
    /// The raw body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    ///
    /// # Errors
    /// `Transient` for a body that is not the expected JSON.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ConnectorError::transient(format!(
                "pipedrive sent an answer to {what} this connector cannot read ({e}); retry later"
            ))
        })
    }
}

/// `{"success": true, "data": …, "additional_data": …}`.
#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
    #[serde(default)]
    additional_data: Option<AdditionalData>,
}

#[derive(Deserialize, Default)]
struct AdditionalData {
    #[serde(default)]
    next_cursor: Option<String>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Deserialize, Default)]
struct Pagination {
    #[serde(default)]
    start: u64,
    #[serde(default)]
    more_items_in_collection: bool,
}

/// `{"success": false, "error": "…", "error_info": "…"}`.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_info: Option<String>,
}

/// One search hit.
#[derive(Deserialize)]
struct SearchHit {
    item: SearchItem,
}

#[derive(Deserialize)]
struct SearchItem {
    id: u64,
}

#[derive(Deserialize)]
struct SearchData {
    #[serde(default)]
    items: Vec<SearchHit>,
}

/// One entry of `GET /v1/recents`.
#[derive(Deserialize)]
struct Recent {
    #[serde(default)]
    item: String,
    id: u64,
    #[serde(default)]
    data: Option<RecentPerson>,
}

#[derive(Deserialize)]
struct RecentPerson {
    #[serde(default = "active")]
    active_flag: bool,
}

fn active() -> bool {
    true
}

/// A webhook as `GET /v1/webhooks` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Webhook {
    /// Its id.
    pub id: u64,
    /// Where it posts.
    pub subscription_url: String,
    /// `create`, `change`, `delete` or `*`.
    pub event_action: String,
    /// `person`, … or `*`.
    pub event_object: String,
    /// `1.0` or `2.0`.
    #[serde(default)]
    pub version: Option<String>,
    /// The basic-auth user it sends, when it has one.
    #[serde(default)]
    pub http_auth_user: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id: u64,
}

/// The Pipedrive API client of one token.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    credentials: Credentials,
    page_size: u32,
    sender: Sender,
    window: BurstWindow,
    calls: &'static ServiceStats,
}

impl Client {
    /// A client for the account `config` names; OAuth tokens are kept in `tokens`.
    ///
    /// # Errors
    /// Permanent when the HTTP client cannot be built or no credentials are configured.
    pub fn new(config: &PipedriveConfig, tokens: Arc<dyn TokenStore>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .build()
            .map_err(|e| ConnectorError::permanent(format!("building the HTTP client: {e}")))?;
        let credentials = match (&config.api_token, &config.oauth) {
            (Some(token), _) => Credentials::Token(token.clone()),
            (None, Some(oauth)) => Credentials::OAuth(Box::new(OAuthSession::new(
                oauth.clone(),
                http.clone(),
                tokens,
            ))),
            (None, None) => {
                return Err(ConnectorError::permanent(
                    "pipedrive needs credentials: set `crm.config.api_token` or `crm.config.oauth`",
                ));
            }
        };
        let policy = RetryPolicy {
            max_retries: config.max_retries,
            ..RetryPolicy::default()
        };
        Ok(Self {
            http,
            base: config.api_base_url.clone(),
            credentials,
            page_size: config.page_size,
            sender: Sender::new(API_NAME, policy, stats::service(crate::NAME)),
            window: BurstWindow::default(),
            calls: stats::service(crate::NAME),
        })
    }

    /// The credentials calls authenticate with.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    fn url(&self, base: &Url, path: &str, query: &[(&str, String)]) -> Result<Url> {
        let mut url = base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ConnectorError::permanent(format!("bad `api_base_url`: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    /// Sends one call through the shared retry loop.
    ///
    /// # Errors
    /// The classified refusal, or the last passing failure once the loop gave up.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        tries: Tries,
    ) -> Result<Answer> {
        let what = format!("{method} {path}");
        let refreshed = AtomicBool::new(false);
        self.sender
            .send(&self.window, tries, || {
                self.attempt(method.clone(), path, query, body, &what, &refreshed)
            })
            .await
    }

    async fn attempt(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        what: &str,
        refreshed: &AtomicBool,
    ) -> Attempt<Answer, ConnectorError> {
        let auth = match self.credentials.authorization().await {
            Ok(auth) => auth,
            Err(error) if error.kind().is_retryable() => {
                return Attempt::Passing {
                    cause: Cause::Unreachable,
                    wait: None,
                    error,
                };
            }
            Err(error) => return Attempt::Refused(error),
        };
        let url = match self.url(auth.base.as_ref().unwrap_or(&self.base), path, query) {
            Ok(url) => url,
            Err(error) => return Attempt::Refused(error),
        };
        let mut request = self
            .http
            .request(method, url)
            .header(auth.header, auth.value.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                self.calls.unanswered();
                self.window.observe(&LimitHeaders::default());
                return unreachable(&error, &self.base);
            }
        };
        let status = response.status();
        self.calls.answered(status);
        let limits = LimitHeaders::read(response.headers());
        self.window.observe(&limits);
        let asked = retry_after(response.headers()).or(limits.reset);
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) => return unreachable(&error, &self.base),
        };
        if status.is_success() {
            return Attempt::Answered(Answer {
                body: body.to_vec(),
            });
        }
        let error = read_error(status, asked, &body, what);
        if status == StatusCode::UNAUTHORIZED
            && let Some(bearer) = auth.bearer
            && !refreshed.swap(true, Ordering::Relaxed)
        {
            return match self.credentials.after_rejection(&bearer).await {
                Ok(true) => Attempt::Again,
                Ok(false) => Attempt::Refused(error),
                Err(refresh_error) => Attempt::Refused(refresh_error),
            };
        }
        match status.as_u16() {
            429 if limits.daily_left == Some(0) => daily_limit(&error, limits.reset, Utc::now()),
            code => Attempt::of_failure(error, Cause::Status(code), asked),
        }
    }

    async fn data<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(T, AdditionalData)> {
        let answer = self
            .call(method.clone(), path, query, body, Tries::Patient)
            .await?;
        let envelope: Envelope<T> = answer.json(&format!("{method} {path}"))?;
        Ok((envelope.data, envelope.additional_data.unwrap_or_default()))
    }

    /// One page of live persons from `cursor` (the first without one) and the next cursor.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn persons_page(
        &self,
        cursor: Option<&str>,
        custom_keys: &[&str],
    ) -> Result<(Vec<Person>, Option<String>)> {
        let mut query = vec![
            ("limit", self.page_size.to_string()),
            ("sort_by", "id".to_owned()),
        ];
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor.to_owned()));
        }
        push_custom_keys(&mut query, custom_keys);
        let (persons, more): (Option<Vec<Person>>, _) = self
            .data(Method::GET, "/api/v2/persons", &query, None)
            .await?;
        Ok((persons.unwrap_or_default(), more.next_cursor))
    }

    /// The live persons among `ids` (at most [`IDS_PER_CALL`]), in any order.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn persons_by_ids(&self, ids: &[u64], custom_keys: &[&str]) -> Result<Vec<Person>> {
        let list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let mut query = vec![("ids", list), ("limit", IDS_PER_CALL.to_string())];
        push_custom_keys(&mut query, custom_keys);
        let (persons, _): (Option<Vec<Person>>, _) = self
            .data(Method::GET, "/api/v2/persons", &query, None)
            .await?;
        Ok(persons.unwrap_or_default())
    }

    /// Person `id` (deleted ones too, marked so); `None` when there is none.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn person(&self, id: u64) -> Result<Option<Person>> {
        match self.data(Method::GET, &person_path(id), &[], None).await {
            Ok((person, _)) => Ok(Some(person)),
            Err(error) if *error.kind() == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Creates a person.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn create(&self, body: &Value) -> Result<Person> {
        let (person, _) = self
            .data(Method::POST, "/api/v2/persons", &[], Some(body))
            .await?;
        Ok(person)
    }

    /// Changes the fields in `body` of person `id`.
    ///
    /// # Errors
    /// As [`Client::call`]; `NotFound` for no such person.
    pub async fn update(&self, id: u64, body: &Value) -> Result<Person> {
        let (person, _) = self
            .data(Method::PATCH, &person_path(id), &[], Some(body))
            .await?;
        Ok(person)
    }

    /// Marks person `id` deleted.
    ///
    /// # Errors
    /// As [`Client::call`]; `NotFound` for no such person.
    pub async fn delete(&self, id: u64) -> Result<()> {
        let _: (Value, _) = self
            .data(Method::DELETE, &person_path(id), &[], None)
            .await?;
        Ok(())
    }

    /// The ids of the persons whose `field` (`custom_fields`, `email`, `phone` or `name`, as
    /// Pipedrive's search names them) holds exactly `term`, as Pipedrive's search compares:
    /// ignoring case.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn search(&self, field: &str, term: &str) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![
                ("term", term.to_owned()),
                ("fields", field.to_owned()),
                ("exact_match", "true".to_owned()),
                ("limit", "500".to_owned()),
            ];
            if let Some(cursor) = &cursor {
                query.push(("cursor", cursor.clone()));
            }
            let (found, more): (SearchData, _) = self
                .data(Method::GET, "/api/v2/persons/search", &query, None)
                .await?;
            ids.extend(found.items.into_iter().map(|hit| hit.item.id));
            match more.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(ids),
            }
        }
    }

    /// One page of the persons deleted since `since` (from the recent changes), from `start`,
    /// and where the next page starts.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn deleted_since(
        &self,
        since: DateTime<Utc>,
        start: u64,
    ) -> Result<(Vec<u64>, Option<u64>)> {
        let query = [
            (
                "since_timestamp",
                since.format("%Y-%m-%d %H:%M:%S").to_string(),
            ),
            ("items", "person".to_owned()),
            ("start", start.to_string()),
            ("limit", self.page_size.to_string()),
        ];
        let (recents, more): (Option<Vec<Recent>>, _) =
            self.data(Method::GET, "/v1/recents", &query, None).await?;
        let recents = recents.unwrap_or_default();
        let count = recents.len() as u64;
        let deleted = recents
            .into_iter()
            .filter(|r| r.item == "person" && r.data.as_ref().is_some_and(|p| !p.active_flag))
            .map(|r| r.id)
            .collect();
        let next = more
            .pagination
            .filter(|p| p.more_items_in_collection && count > 0)
            .map(|p| p.start + count);
        Ok((deleted, next))
    }

    /// Every person field.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn person_fields(&self) -> Result<Vec<Field>> {
        let mut fields = Vec::new();
        let mut start = 0_u64;
        loop {
            let query = [("start", start.to_string()), ("limit", "500".to_owned())];
            let (page, more): (Option<Vec<Field>>, _) = self
                .data(Method::GET, "/v1/personFields", &query, None)
                .await?;
            let page = page.unwrap_or_default();
            let count = page.len() as u64;
            fields.extend(page);
            match more.pagination {
                Some(p) if p.more_items_in_collection && count > 0 => start = p.start + count,
                _ => return Ok(fields),
            }
        }
    }

    /// Creates a custom person field; Pipedrive generates its key.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn add_person_field(&self, name: &str, field_type: &str) -> Result<Field> {
        let body = serde_json::json!({ "name": name, "field_type": field_type });
        let (field, _) = self
            .data(Method::POST, "/v1/personFields", &[], Some(&body))
            .await?;
        Ok(field)
    }

    /// The id of the user the token belongs to.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn own_user_id(&self) -> Result<u64> {
        let (user, _): (User, _) = self.data(Method::GET, "/v1/users/me", &[], None).await?;
        Ok(user.id)
    }

    /// Tries `GET /v1/users/me` once, the cheapest authenticated call; the token's user id.
    ///
    /// # Errors
    /// As that call failed.
    pub async fn check(&self) -> Result<u64> {
        let answer = self
            .call(Method::GET, "/v1/users/me", &[], None, Tries::AtMost(0))
            .await?;
        let envelope: Envelope<User> = answer.json("GET /v1/users/me")?;
        Ok(envelope.data.id)
    }

    /// The company's webhooks.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn webhooks(&self) -> Result<Vec<Webhook>> {
        let (hooks, _): (Option<Vec<Webhook>>, _) =
            self.data(Method::GET, "/v1/webhooks", &[], None).await?;
        Ok(hooks.unwrap_or_default())
    }

    /// Creates a v2 webhook of every person event posting to `url` with basic auth.
    ///
    /// # Errors
    /// As [`Client::call`].
    pub async fn add_webhook(&self, url: &str, user: &str, password: &Secret) -> Result<Webhook> {
        let body = serde_json::json!({
            "subscription_url": url,
            "event_action": "*",
            "event_object": "person",
            "version": "2.0",
            "http_auth_user": user,
            "http_auth_password": password.expose(),
        });
        let (hook, _) = self
            .data(Method::POST, "/v1/webhooks", &[], Some(&body))
            .await?;
        Ok(hook)
    }
}

fn push_custom_keys(query: &mut Vec<(&str, String)>, keys: &[&str]) {
    // The API returns at most 15 named custom fields; with more, it returns them all.
    if !keys.is_empty() && keys.len() <= 15 {
        query.push(("custom_fields", keys.join(",")));
    }
}

fn person_path(id: u64) -> String {
    format!("/api/v2/persons/{id}")
}

fn unreachable(error: &reqwest::Error, base: &Url) -> Attempt<Answer, ConnectorError> {
    let error = ConnectorError::new(
        classify_reqwest(error),
        format!("cannot reach pipedrive at {base}: {error}"),
    );
    Attempt::Passing {
        cause: Cause::Unreachable,
        wait: None,
        error,
    }
}

/// The error a refusal stands for, worded from the API's error body.
fn read_error(
    status: StatusCode,
    wait: Option<Duration>,
    body: &[u8],
    what: &str,
) -> ConnectorError {
    let detail = serde_json::from_slice::<ErrorBody>(body).ok();
    let said = detail
        .as_ref()
        .and_then(|d| d.error.clone())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("refused").to_owned());
    let hint = detail
        .and_then(|d| d.error_info)
        .map(|info| format!(" ({info})"))
        .unwrap_or_default();
    let kind = classify_status(status, wait);
    let message = match &kind {
        ErrorKind::Unauthorized => format!(
            "pipedrive refused the credentials for {what} ({status}: {said}); check \
             `crm.config.api_token` (Settings → Personal preferences → API), or install the \
             OAuth app again through /pipedrive/install/start"
        ),
        _ => format!("pipedrive refused {what} ({status}): {said}{hint}"),
    };
    ConnectorError::new(kind, message)
}

/// The daily budget is spent: wait for its reset (`x-ratelimit-reset`, else midnight UTC),
/// trying again at least hourly.
fn daily_limit(
    error: &ConnectorError,
    reset: Option<Duration>,
    now: DateTime<Utc>,
) -> Attempt<Answer, ConnectorError> {
    let midnight = (now.date_naive() + chrono::Days::new(1))
        .and_time(NaiveTime::MIN)
        .and_utc();
    let until_reset = reset.unwrap_or_else(|| (midnight - now).to_std().unwrap_or_default());
    let resets_at = now + chrono::Duration::from_std(until_reset).unwrap_or_default();
    let wait = until_reset.min(DAILY_LIMIT_PROBE);
    let error = ConnectorError::new(
        ErrorKind::RateLimited {
            retry_after: Some(wait),
            daily: true,
        },
        format!(
            "{}; the company's daily API budget is spent and resets at {} (in {}); the sync \
             resumes then, or buy more budget in Pipedrive's billing settings",
            error.message(),
            resets_at.format("%Y-%m-%d %H:%M UTC"),
            human_duration(until_reset)
        ),
    );
    Attempt::Passing {
        cause: Cause::DailyLimit { resets_at },
        wait: Some(wait),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_daily_budget_waits_for_its_reset_probing_hourly() {
        let error = ConnectorError::new(
            ErrorKind::RateLimited {
                retry_after: None,
                daily: false,
            },
            "pipedrive refused GET /api/v2/persons (429 Too Many Requests): Request over limit",
        );
        let now = "2026-12-03T23:20:00Z".parse().unwrap();
        let Attempt::Passing { cause, wait, error } = daily_limit(&error, None, now) else {
            panic!("a daily limit is waited out");
        };
        assert_eq!(
            cause,
            Cause::DailyLimit {
                resets_at: "2026-12-04T00:00:00Z".parse().unwrap()
            }
        );
        assert_eq!(wait, Some(Duration::from_secs(40 * 60)));
        assert!(matches!(
            error.kind(),
            ErrorKind::RateLimited { daily: true, .. }
        ));
        let Attempt::Passing { wait, .. } =
            daily_limit(&error, Some(Duration::from_secs(5 * 3600)), now)
        else {
            panic!("a daily limit is waited out");
        };
        assert_eq!(wait, Some(DAILY_LIMIT_PROBE));
    }

    #[test]
    fn refusals_say_what_pipedrive_said_and_how_to_fix_credentials() {
        let body = br#"{"success":false,"error":"unauthorized access","error_info":"Please check developers.pipedrive.com","data":null}"#;
        let error = read_error(StatusCode::UNAUTHORIZED, None, body, "GET /v1/users/me");
        assert_eq!(error.kind(), &ErrorKind::Unauthorized);
        assert!(error.message().contains("crm.config.api_token"), "{error}");
        let body = br#"{"success":false,"error":"Name must be given","error_info":"see the docs","data":null}"#;
        let error = read_error(StatusCode::BAD_REQUEST, None, body, "POST /api/v2/persons");
        assert_eq!(error.kind(), &ErrorKind::Invalid { field: None });
        assert!(
            error
                .message()
                .contains("Name must be given (see the docs)"),
            "{error}"
        );
    }
}
