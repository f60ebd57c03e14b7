//! The HTTP client of the Contact Book API: one request per call, sent through core's shared
//! retry loop (rate limits and passing failures waited out within the stall budget), and
//! errors read into the kinds the engine acts on.

use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt as _};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tte_sync_core::connector::{
    ConnectorError, ErrorKind, Result, SetupAction, SetupChange, SetupReport,
};
use tte_sync_core::http::stats::{self, ServiceStats};
use tte_sync_core::http::{
    Attempt, Cause, RetryPolicy, Sender, Tries, Unpaced, classify_reqwest, classify_status,
    retry_after,
};
use tte_sync_core::record::{CrmId, CrmRecord};
use url::Url;

use crate::config::ContactBookConfig;
use crate::contact::Contact;

/// A Contact Book API client for one account.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api_key: tte_sync_core::Secret,
    page_size: u32,
    sender: Sender,
    stats: &'static ServiceStats,
}

/// One page of `GET /v1/contacts`.
#[derive(Deserialize)]
struct Page {
    contacts: Vec<Contact>,
    total: u64,
}

/// The API's error body.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    existing_id: Option<String>,
}

#[derive(Deserialize)]
struct Webhook {
    url: Option<String>,
}

impl Client {
    /// A client for the account `config` names.
    ///
    /// # Errors
    /// Permanent when the HTTP client cannot be built.
    pub fn new(config: &ContactBookConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .build()
            .map_err(|e| ConnectorError::permanent(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: config.api_base_url.clone(),
            api_key: config.api_key.clone(),
            page_size: config.page_size,
            sender: Sender::new(
                crate::NAME,
                RetryPolicy {
                    max_retries: config.max_retries,
                    ..RetryPolicy::default()
                },
                stats::service(crate::NAME),
            ),
            stats: stats::service(crate::NAME),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// Sends one request, retrying rate limits and passing failures; `None` for a 404.
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Option<T>> {
        // The API paces itself with 429s and `Retry-After`; the loop waits those out.
        (self.sender)
            .send(&Unpaced, Tries::Patient, || {
                self.send_once(method.clone(), path, query, body)
            })
            .await
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Attempt<Option<T>, ConnectorError> {
        let mut request = self
            .http
            .request(method.clone(), self.url(path))
            .bearer_auth(self.api_key.expose())
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                self.stats.unanswered();
                let error = ConnectorError::new(
                    classify_reqwest(&e),
                    format!("cannot reach contact book at {}: {e}", self.base),
                );
                return Attempt::of_failure(error, Cause::Unreachable, None);
            }
        };
        let status = response.status();
        self.stats.answered(status);
        if status == StatusCode::NOT_FOUND {
            return Attempt::Answered(None);
        }
        if status == StatusCode::NO_CONTENT {
            return match serde_json::from_value(serde_json::Value::Null) {
                Ok(value) => Attempt::Answered(Some(value)),
                Err(e) => Attempt::Refused(ConnectorError::permanent(e.to_string())),
            };
        }
        if status.is_success() {
            return match response.json::<T>().await {
                Ok(value) => Attempt::Answered(Some(value)),
                Err(e) => {
                    let error = ConnectorError::new(
                        classify_reqwest(&e),
                        format!("contact book sent an unreadable answer to {method} {path}: {e}"),
                    );
                    Attempt::of_failure(error, Cause::Unreachable, None)
                }
            };
        }
        let waited = retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        let error = read_error(status, waited, &text, &method, path);
        Attempt::of_failure(error, Cause::Status(status.as_u16()), waited)
    }

    /// Every live (or, with `archived`, every archived) contact, a page at a time.
    pub fn pages(&self, archived: bool) -> BoxStream<'_, Result<Vec<CrmRecord>>> {
        let limit = self.page_size;
        stream::try_unfold(Some(0_u64), move |offset| async move {
            let Some(offset) = offset else {
                return Ok(None);
            };
            let mut query = vec![("offset", offset.to_string()), ("limit", limit.to_string())];
            if archived {
                query.push(("archived", "true".to_owned()));
            }
            let page: Page = self
                .send(Method::GET, "/v1/contacts", &query, None)
                .await?
                .ok_or_else(|| ConnectorError::permanent("contact book has no /v1/contacts"))?;
            let next = offset + page.contacts.len() as u64;
            let more = !page.contacts.is_empty() && next < page.total;
            let records = page
                .contacts
                .into_iter()
                .map(Contact::into_record)
                .collect();
            Ok(Some((records, more.then_some(next))))
        })
        .boxed()
    }

    /// The contact with this id (archived ones too), `None` when there is none.
    pub async fn get(&self, id: &CrmId) -> Result<Option<Contact>> {
        self.send(Method::GET, &contact_path(id), &[], None).await
    }

    /// The live contacts whose `filter` field equals `value`.
    pub async fn find(&self, filter: &str, value: &str) -> Result<Vec<Contact>> {
        let query = [(filter, value.to_owned()), ("limit", "100".to_owned())];
        let page: Option<Page> = self.send(Method::GET, "/v1/contacts", &query, None).await?;
        Ok(page.map(|page| page.contacts).unwrap_or_default())
    }

    /// Creates a contact.
    pub async fn create(&self, body: &serde_json::Value) -> Result<Contact> {
        self.send(Method::POST, "/v1/contacts", &[], Some(body))
            .await?
            .ok_or_else(|| ConnectorError::permanent("contact book has no /v1/contacts"))
    }

    /// Updates the fields in `body` of contact `id`.
    pub async fn update(&self, id: &CrmId, body: &serde_json::Value) -> Result<Contact> {
        self.send(Method::PATCH, &contact_path(id), &[], Some(body))
            .await?
            .ok_or_else(|| {
                ConnectorError::new(ErrorKind::NotFound, format!("no live contact {id}"))
            })
    }

    /// Archives contact `id`; `false` when there is no such contact.
    pub async fn archive(&self, id: &CrmId) -> Result<bool> {
        let done: Option<()> = self
            .send(Method::DELETE, &contact_path(id), &[], None)
            .await?;
        Ok(done.is_some())
    }

    /// Points the account's one webhook at `callback` unless it already does.
    pub async fn ensure_webhook(&self, callback: &Url, dry_run: bool) -> Result<SetupReport> {
        let current: Webhook = self
            .send(Method::GET, "/v1/webhook", &[], None)
            .await?
            .ok_or_else(|| ConnectorError::permanent("contact book has no /v1/webhook"))?;
        let target = "webhook".to_owned();
        let change = if current.url.as_deref() == Some(callback.as_str()) {
            SetupChange {
                action: SetupAction::Unchanged,
                target,
                detail: format!("already posts to {callback}"),
            }
        } else {
            if !dry_run {
                let body = serde_json::json!({ "url": callback.as_str() });
                let _: Option<Webhook> = self
                    .send(Method::PUT, "/v1/webhook", &[], Some(&body))
                    .await?;
            }
            let (action, detail) = match current.url {
                Some(old) => (
                    SetupAction::Updated,
                    format!("posts to {callback} instead of {old}"),
                ),
                None => (SetupAction::Created, format!("posts to {callback}")),
            };
            SetupChange {
                action,
                target,
                detail,
            }
        };
        Ok(SetupReport {
            changes: vec![change],
            files: Vec::new(),
        })
    }
}

fn contact_path(id: &CrmId) -> String {
    format!("/v1/contacts/{}", id.as_str())
}

/// The error a refused request stands for, from the API's error body.
fn read_error(
    status: StatusCode,
    waited: Option<Duration>,
    text: &str,
    method: &Method,
    path: &str,
) -> ConnectorError {
    let detail = serde_json::from_str::<ErrorBody>(text)
        .ok()
        .map(|b| b.error);
    let kind = match (&detail, classify_status(status, waited)) {
        (Some(detail), ErrorKind::Conflict { .. }) => ErrorKind::Conflict {
            existing_id: detail.existing_id.clone().map(CrmId),
        },
        (Some(detail), ErrorKind::Invalid { .. }) => ErrorKind::Invalid {
            field: detail.field.clone(),
        },
        (_, kind) => kind,
    };
    let message = match (&detail, &kind) {
        (_, ErrorKind::Unauthorized) => {
            "contact book refused the API key; check `crm.config.api_key`".to_owned()
        }
        (Some(detail), _) => format!(
            "contact book refused {method} {path} ({status}, {}): {}",
            detail.code, detail.message
        ),
        (None, _) => format!("contact book refused {method} {path} ({status})"),
    };
    ConnectorError::new(kind, message)
}
