//! `POST /crm/v3/objects/contacts/search`: filters (EQ, NEQ, IN, NOT_IN, GT/GTE/LT/LTE,
//! BETWEEN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN), one sort, `query`, paging with an
//! integer `after`, and HubSpot's limits (200 per page, 10,000 results, 5 groups × 6 filters,
//! 18 filters, 3,000 characters). Archived contacts never match.

use std::cmp::Ordering;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::errors::{ApiError, json_response};
use super::state::{CREATEDATE, Contact, LASTMODIFIEDDATE, parse_time, value_to_string};
use super::{SimState, check_object_type};

/// Most results one search page returns.
pub const MAX_SEARCH_LIMIT: u64 = 200;
/// Search never pages past this many results.
pub const MAX_SEARCH_RESULTS: u64 = 10_000;
/// Most filter groups.
pub const MAX_FILTER_GROUPS: usize = 5;
/// Most filters in one group.
pub const MAX_FILTERS_PER_GROUP: usize = 6;
/// Most filters in all groups.
pub const MAX_FILTERS: usize = 18;
/// Longest request body.
pub const MAX_BODY_CHARS: usize = 3_000;
const TEXT_PROPERTIES: &[&str] = &[
    "firstname",
    "lastname",
    "email",
    "phone",
    "hs_additional_emails",
    "fax",
    "mobilephone",
    "company",
    "hs_marketable_until_renewal",
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    property_name: String,
    operator: String,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    high_value: Option<Value>,
    #[serde(default)]
    values: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
struct FilterGroup {
    #[serde(default)]
    filters: Vec<Filter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sort {
    property_name: String,
    #[serde(default)]
    direction: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SortSpec {
    Object(Sort),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchRequest {
    #[serde(default)]
    filter_groups: Vec<FilterGroup>,
    #[serde(default)]
    sorts: Vec<SortSpec>,
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    properties: Vec<String>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    after: Option<Value>,
}

/// Compares a stored value with a filter value: times and numbers numerically, the rest
/// case-insensitively.
fn compare(property: &str, stored: &str, wanted: &str) -> Option<Ordering> {
    if property == CREATEDATE || property == LASTMODIFIEDDATE {
        return Some(parse_time(stored)?.cmp(&parse_time(wanted)?));
    }
    if let (Ok(a), Ok(b)) = (stored.parse::<f64>(), wanted.parse::<f64>()) {
        return a.partial_cmp(&b);
    }
    Some(stored.to_lowercase().cmp(&wanted.to_lowercase()))
}

fn token_match(stored: &str, pattern: &str) -> bool {
    let stored = stored.to_lowercase();
    let pattern = pattern.to_lowercase();
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(suffix), _) => stored.ends_with(suffix.trim_end_matches('*')),
        (None, Some(prefix)) => stored.starts_with(prefix),
        (None, None) => {
            stored
                .split(|c: char| !c.is_alphanumeric())
                .any(|token| token == pattern)
                || stored == pattern
        }
    }
}

fn matches(contact: &Contact, filter: &Filter) -> bool {
    let stored = contact.value(&filter.property_name);
    let wanted = filter
        .value
        .as_ref()
        .map(value_to_string)
        .unwrap_or_default();
    let cmp = |s: &str| compare(&filter.property_name, s, &wanted);
    match filter.operator.as_str() {
        "HAS_PROPERTY" => stored.is_some(),
        "NOT_HAS_PROPERTY" => stored.is_none(),
        "EQ" => stored.is_some_and(|s| cmp(&s) == Some(Ordering::Equal)),
        "NEQ" => stored.is_none_or(|s| cmp(&s) != Some(Ordering::Equal)),
        "GT" => stored.is_some_and(|s| cmp(&s) == Some(Ordering::Greater)),
        "GTE" => {
            stored.is_some_and(|s| matches!(cmp(&s), Some(Ordering::Greater | Ordering::Equal)))
        }
        "LT" => stored.is_some_and(|s| cmp(&s) == Some(Ordering::Less)),
        "LTE" => stored.is_some_and(|s| matches!(cmp(&s), Some(Ordering::Less | Ordering::Equal))),
        "BETWEEN" => {
            let high = filter
                .high_value
                .as_ref()
                .map(value_to_string)
                .unwrap_or_default();
            stored.is_some_and(|s| {
                matches!(cmp(&s), Some(Ordering::Greater | Ordering::Equal))
                    && matches!(
                        compare(&filter.property_name, &s, &high),
                        Some(Ordering::Less | Ordering::Equal)
                    )
            })
        }
        "IN" | "NOT_IN" => {
            // String values must be given in lowercase: HubSpot matches them exactly against
            // the lowercased stored value.
            let values: Vec<String> = filter
                .values
                .iter()
                .flatten()
                .map(value_to_string)
                .collect();
            let found = stored.is_some_and(|s| {
                let lower = s.to_lowercase();
                values.iter().any(|v| {
                    *v == lower
                        || (v.parse::<f64>().is_ok()
                            && compare(&filter.property_name, &s, v) == Some(Ordering::Equal))
                })
            });
            (filter.operator == "IN") == found
        }
        "CONTAINS_TOKEN" => stored.is_some_and(|s| token_match(&s, &wanted)),
        "NOT_CONTAINS_TOKEN" => stored.is_none_or(|s| !token_match(&s, &wanted)),
        _ => false,
    }
}

const OPERATORS: &[&str] = &[
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
];

fn validate(request: &SearchRequest) -> Result<(), ApiError> {
    let total: usize = request.filter_groups.iter().map(|g| g.filters.len()).sum();
    if request.filter_groups.len() > MAX_FILTER_GROUPS
        || request
            .filter_groups
            .iter()
            .any(|g| g.filters.len() > MAX_FILTERS_PER_GROUP)
        || total > MAX_FILTERS
    {
        return Err(ApiError::validation(format!(
            "Too many filters: at most {MAX_FILTER_GROUPS} filterGroups with at most {MAX_FILTERS_PER_GROUP} filters each and {MAX_FILTERS} filters in total are allowed"
        )));
    }
    if let Some(bad) = request
        .filter_groups
        .iter()
        .flat_map(|g| &g.filters)
        .find(|f| !OPERATORS.contains(&f.operator.as_str()))
    {
        return Err(ApiError::validation(format!(
            "Unknown filter operator {}; use one of {}",
            bad.operator,
            OPERATORS.join(", ")
        )));
    }
    if request.sorts.len() > 1 {
        return Err(ApiError::validation(
            "Only one sort is allowed per search request",
        ));
    }
    Ok(())
}

fn sort_key(spec: &SortSpec) -> (String, bool) {
    match spec {
        SortSpec::Object(sort) => (
            sort.property_name.clone(),
            sort.direction
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case("DESCENDING")),
        ),
        SortSpec::Text(text) => match text.strip_prefix('-') {
            Some(name) => (name.to_owned(), true),
            None => (text.clone(), false),
        },
    }
}

/// `POST /crm/v3/objects/contacts/search`.
pub async fn search(
    State(sim): State<SimState>,
    Path(object_type): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    if body.len() > MAX_BODY_CHARS {
        return Err(ApiError::validation(format!(
            "Search request is too long: {} characters, at most {MAX_BODY_CHARS} are allowed",
            body.len()
        )));
    }
    let request: SearchRequest = serde_json::from_slice(&body).map_err(ApiError::bad_json)?;
    validate(&request)?;
    let limit = request.limit.unwrap_or(10);
    if limit > MAX_SEARCH_LIMIT {
        return Err(ApiError::validation(format!(
            "limit must be at most {MAX_SEARCH_LIMIT}, got {limit}"
        )));
    }
    let after = match &request.after {
        None | Some(Value::Null) => 0,
        Some(value) => value_to_string(value).parse::<u64>().map_err(|_| {
            ApiError::validation(format!(
                "after must be an integer-formatted string, got {value}"
            ))
        })?,
    };
    if after + limit > MAX_SEARCH_RESULTS {
        return Err(ApiError::validation(format!(
            "Search results are limited to {MAX_SEARCH_RESULTS}: after ({after}) plus limit ({limit}) goes past the cap; narrow the filters instead of paging further"
        )));
    }
    let query = request.query.as_deref().map(str::to_lowercase);
    let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
    let mut hits: Vec<&Contact> = store
        .live
        .values()
        .filter(|c| {
            request.filter_groups.is_empty()
                || request
                    .filter_groups
                    .iter()
                    .any(|g| g.filters.iter().all(|f| matches(c, f)))
        })
        .filter(|c| {
            query.as_deref().is_none_or(|q| {
                TEXT_PROPERTIES.iter().any(|p| {
                    c.properties
                        .get(*p)
                        .is_some_and(|v| v.to_lowercase().contains(q))
                })
            })
        })
        .collect();
    if let Some((property, descending)) = request.sorts.first().map(sort_key) {
        hits.sort_by(|a, b| {
            let order = match (a.value(&property), b.value(&property)) {
                (Some(x), Some(y)) => compare(&property, &x, &y).unwrap_or(Ordering::Equal),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            let order = order.then(a.id.cmp(&b.id));
            if descending { order.reverse() } else { order }
        });
    }
    let total = hits.len() as u64;
    let results: Vec<Value> = hits
        .iter()
        .skip(after as usize)
        .take(limit as usize)
        .map(|c| c.to_json(&request.properties, &store.properties))
        .collect();
    let mut body = json!({ "total": total, "results": results });
    let next = after + limit;
    if next < total && limit > 0 {
        body["paging"] = json!({ "next": { "after": next.to_string() } });
    }
    Ok(json_response(StatusCode::OK, &body))
}
