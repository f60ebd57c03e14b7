//! The customer routes: list (`limit`/`offset`/`include_deleted`, absolute `next`), get, create
//! (201 + `Location`), PATCH (custom fields merged per key) and DELETE (`force`, 409 on future
//! bookings) — plus the JSON, query and paging helpers the subscription routes share.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use super::error::ApiError;
use super::state::{SimState, Window, validate};
use crate::tte::CUSTOMER_PATH;

const JSON: &str = "application/json";
const INCLUDE_DELETED: &str = "include_deleted";
const FORCE: &str = "force";
const LIMIT: &str = "limit";
const OFFSET: &str = "offset";
const INVALID_BOOL: &str = "Must be a valid boolean.";

pub(crate) fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route(CUSTOMER_PATH, get(list).post(create))
        .route(
            &format!("{CUSTOMER_PATH}{{id}}/"),
            get(read).patch(update).delete(remove),
        )
}

async fn list(
    State(state): State<Arc<SimState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(query.as_deref());
    let include_deleted = bool_param(&pairs, INCLUDE_DELETED)?.unwrap_or(false);
    let url = format!("{}{CUSTOMER_PATH}", state.base());
    let window = window(&state, &url, &pairs);
    let body = state
        .list_json(include_deleted, &window)
        .map_err(|_| ApiError::Internal)?;
    Ok(json(StatusCode::OK, body))
}

async fn read(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, state.get_json(parse_id(&id)?)?))
}

async fn create(State(state): State<Arc<SimState>>, body: Bytes) -> Result<Response, ApiError> {
    let changes = validate(&json_body(&body)?, false)?;
    let (id, body) = state.create(changes);
    let mut response = json(StatusCode::CREATED, body);
    let location =
        HeaderValue::from_str(&state.customer_uri(id)).map_err(|_| ApiError::Internal)?;
    response.headers_mut().insert(LOCATION, location);
    Ok(response)
}

async fn update(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let changes = validate(&json_body(&body)?, true)?;
    Ok(json(StatusCode::OK, state.patch(id, changes)?))
}

async fn remove(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let force = bool_param(&query_pairs(query.as_deref()), FORCE)?.unwrap_or(false);
    state.delete(id, force)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A JSON response from already encoded bytes.
pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(CONTENT_TYPE, JSON)], body).into_response()
}

/// A request body as JSON; an empty body reads as `{}` (as DRF's `request.data` does).
pub(crate) fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_slice(body)
        .map_err(|error| ApiError::Malformed(format!("JSON parse error - {error}")))
}

pub(crate) fn parse_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// `true`/`True`/`1`/`false`/`False`/`0` (and the other spellings DRF accepts).
fn bool_param(pairs: &[(String, String)], name: &str) -> Result<Option<bool>, ApiError> {
    let Some(value) = param(pairs, name) else {
        return Ok(None);
    };
    match value {
        "true" | "True" | "TRUE" | "1" | "yes" | "on" => Ok(Some(true)),
        "false" | "False" | "FALSE" | "0" | "no" | "off" | "" => Ok(Some(false)),
        _ => Err(ApiError::field(name, INVALID_BOOL)),
    }
}

/// The page `limit`/`offset` ask for (DRF LimitOffsetPagination: a bad or missing limit is
/// the default, a large one the maximum, a bad offset 0) and the links to its neighbours,
/// which keep every other query parameter.
pub(crate) fn window(state: &SimState, url: &str, pairs: &[(String, String)]) -> Window {
    let config = &state.config;
    let limit = param(pairs, LIMIT)
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .map_or(config.default_limit, |n| n.min(config.max_limit))
        .max(1);
    let offset = param(pairs, OFFSET)
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    Window {
        offset,
        limit,
        next: Some(link(url, pairs, limit, Some(offset + limit))),
        previous: (offset > 0).then(|| {
            let back = offset.saturating_sub(limit);
            link(url, pairs, limit, (back > 0).then_some(back))
        }),
    }
}

fn link(url: &str, pairs: &[(String, String)], limit: usize, offset: Option<usize>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    let (mut put_limit, mut put_offset) = (false, false);
    for (key, value) in pairs {
        match key.as_str() {
            LIMIT if !put_limit => {
                put_limit = true;
                query.append_pair(LIMIT, &limit.to_string());
            }
            OFFSET if !put_offset => {
                put_offset = true;
                if let Some(offset) = offset {
                    query.append_pair(OFFSET, &offset.to_string());
                }
            }
            LIMIT | OFFSET => {}
            _ => {
                query.append_pair(key, value);
            }
        }
    }
    if !put_limit {
        query.append_pair(LIMIT, &limit.to_string());
    }
    if let (false, Some(offset)) = (put_offset, offset) {
        query.append_pair(OFFSET, &offset.to_string());
    }
    format!("{url}?{}", query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        query_pairs(Some(query))
    }

    #[test]
    fn links_keep_every_parameter_and_move_the_offset() {
        let url = "http://h/api/enterprise/v2/customer/";
        assert_eq!(
            link(url, &pairs("include_deleted=True&limit=10"), 10, Some(10)),
            format!("{url}?include_deleted=True&limit=10&offset=10")
        );
        assert_eq!(
            link(url, &pairs("offset=20&x=a+b&limit=10"), 10, None),
            format!("{url}?x=a+b&limit=10")
        );
    }

    #[test]
    fn python_and_json_booleans_are_accepted() {
        for (text, expected) in [("True", true), ("1", true), ("False", false), ("0", false)] {
            let parsed = bool_param(&pairs(&format!("force={text}")), FORCE).unwrap();
            assert_eq!(parsed, Some(expected));
        }
        assert!(bool_param(&pairs("force=maybe"), FORCE).is_err());
    }
}
