//! `POST /crm/v3/objects/contacts/search` (and `/crm/objects/{version}/contacts/search`): filters (EQ, NEQ, IN, NOT_IN, GT/GTE/LT/LTE,
//! BETWEEN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN), one sort, `query`, paging with an
//! integer `after`, and HubSpot's limits (200 per page, 10,000 results, 5 groups × 6 filters,
//! 18 filters, 3,000 characters). Archived contacts never match.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::contacts::{ObjectPath, Page};
use super::errors::{ApiError, json_response};
use super::state::{
    CREATEDATE, Contact, EMAIL, LASTMODIFIEDDATE, OBJECT_ID, Store, parse_time, value_to_string,
};
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

/// A stored value, typed for comparison without allocating.
#[derive(Debug, Clone, Copy)]
enum Stored<'a> {
    Missing,
    Number(f64),
    Text(&'a str),
}

fn stored<'a>(contact: &'a Contact, property: &str) -> Stored<'a> {
    match property {
        CREATEDATE => Stored::Number(contact.created_at as f64),
        LASTMODIFIEDDATE => Stored::Number(contact.updated_at as f64),
        OBJECT_ID => Stored::Number(contact.id as f64),
        _ => contact
            .properties
            .get(property)
            .map_or(Stored::Missing, |v| Stored::Text(v)),
    }
}

/// A filter value prepared once per search: lowercase text, and its number (epoch ms for
/// dates) when it has one.
#[derive(Debug, Clone)]
struct Wanted {
    lower: String,
    number: Option<f64>,
}

impl Wanted {
    fn new(property: &str, value: &str) -> Self {
        let number = if property == CREATEDATE || property == LASTMODIFIEDDATE {
            parse_time(value).map(|ms| ms as f64)
        } else {
            value.parse::<f64>().ok()
        };
        Self {
            lower: value.to_lowercase(),
            number,
        }
    }
}

fn lower_cmp(text: &str, lower: &str) -> Ordering {
    text.chars().flat_map(char::to_lowercase).cmp(lower.chars())
}

/// Compares a stored value with a wanted one: numerically when both are numbers (or dates),
/// else case-insensitively.
fn compare(stored: Stored<'_>, wanted: &Wanted) -> Option<Ordering> {
    match stored {
        Stored::Missing => None,
        Stored::Number(n) => match wanted.number {
            Some(w) => n.partial_cmp(&w),
            None => Some(lower_cmp(&format_number(n), &wanted.lower)),
        },
        Stored::Text(text) => match (wanted.number, text.parse::<f64>()) {
            (Some(w), Ok(n)) => n.partial_cmp(&w),
            _ => Some(lower_cmp(text, &wanted.lower)),
        },
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn token_match(stored: Stored<'_>, pattern: &str) -> bool {
    let text = match stored {
        Stored::Missing => return false,
        Stored::Number(n) => format_number(n),
        Stored::Text(t) => t.to_lowercase(),
    };
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(suffix), _) => text.ends_with(suffix.trim_end_matches('*')),
        (None, Some(prefix)) => text.starts_with(prefix),
        (None, None) => {
            text == pattern
                || text
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|token| token == pattern)
        }
    }
}

/// A filter prepared for matching many contacts.
#[derive(Debug)]
struct Compiled<'a> {
    property: &'a str,
    operator: &'a str,
    wanted: Wanted,
    high: Wanted,
    values: Vec<Wanted>,
}

impl<'a> Compiled<'a> {
    fn new(filter: &'a Filter) -> Self {
        let property = filter.property_name.as_str();
        let text = |v: &Option<Value>| v.as_ref().map(value_to_string).unwrap_or_default();
        Self {
            property,
            operator: filter.operator.as_str(),
            wanted: Wanted::new(property, &text(&filter.value)),
            high: Wanted::new(property, &text(&filter.high_value)),
            values: filter
                .values
                .iter()
                .flatten()
                .map(|v| {
                    // IN/NOT_IN compare strings as given: only lowercase values can match.
                    let raw = value_to_string(v);
                    Wanted {
                        lower: raw.clone(),
                        ..Wanted::new(property, &raw)
                    }
                })
                .collect(),
        }
    }

    fn matches(&self, contact: &Contact) -> bool {
        let value = stored(contact, self.property);
        let present = !matches!(value, Stored::Missing);
        let cmp = compare(value, &self.wanted);
        match self.operator {
            "HAS_PROPERTY" => present,
            "NOT_HAS_PROPERTY" => !present,
            "EQ" => cmp == Some(Ordering::Equal),
            "NEQ" => cmp != Some(Ordering::Equal),
            "GT" => cmp == Some(Ordering::Greater),
            "GTE" => matches!(cmp, Some(Ordering::Greater | Ordering::Equal)),
            "LT" => cmp == Some(Ordering::Less),
            "LTE" => matches!(cmp, Some(Ordering::Less | Ordering::Equal)),
            "BETWEEN" => {
                matches!(cmp, Some(Ordering::Greater | Ordering::Equal))
                    && matches!(
                        compare(value, &self.high),
                        Some(Ordering::Less | Ordering::Equal)
                    )
            }
            // String values must be given in lowercase: they match the lowercased stored
            // value exactly.
            "IN" | "NOT_IN" => {
                let found = self
                    .values
                    .iter()
                    .any(|v| compare(value, v) == Some(Ordering::Equal));
                (self.operator == "IN") == found
            }
            "CONTAINS_TOKEN" => token_match(value, &self.wanted.lower),
            "NOT_CONTAINS_TOKEN" => !token_match(value, &self.wanted.lower),
            _ => false,
        }
    }

    /// The ids this filter can only match, when an index answers it (EQ/IN on `email` or
    /// `hs_object_id`).
    fn candidates(&self, store: &Store) -> Option<Vec<u64>> {
        let values: Vec<&Wanted> = match self.operator {
            "EQ" => vec![&self.wanted],
            "IN" => self.values.iter().collect(),
            _ => return None,
        };
        match self.property {
            EMAIL => Some(
                values
                    .iter()
                    .filter_map(|v| store.primary_email_owner(&v.lower))
                    .collect(),
            ),
            OBJECT_ID => Some(
                values
                    .iter()
                    .filter_map(|v| v.lower.parse::<u64>().ok())
                    .filter(|id| store.live.contains_key(id))
                    .collect(),
            ),
            _ => None,
        }
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
    Path(ObjectPath { object_type }): Path<ObjectPath>,
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
    let groups: Vec<Vec<Compiled<'_>>> = request
        .filter_groups
        .iter()
        .map(|g| g.filters.iter().map(Compiled::new).collect())
        .collect();
    let indexed_before = sim.now_ms() - sim.faults().search_lag_ms as i64;
    let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
    let keep = |c: &Contact| {
        c.created_at <= indexed_before
            && (groups.is_empty() || groups.iter().any(|g| g.iter().all(|f| f.matches(c))))
            && query.as_deref().is_none_or(|q| {
                TEXT_PROPERTIES.iter().any(|p| {
                    c.properties
                        .get(*p)
                        .is_some_and(|v| v.to_lowercase().contains(q))
                })
            })
    };
    // Every group answered by an index: look up candidates instead of scanning.
    let indexed: Option<BTreeSet<u64>> = if groups.is_empty() {
        None
    } else {
        groups
            .iter()
            .map(|g| g.iter().find_map(|f| f.candidates(&store)))
            .try_fold(BTreeSet::new(), |mut all, ids| {
                all.extend(ids?);
                Some(all)
            })
    };
    let mut hits: Vec<&Contact> = match indexed {
        Some(ids) => ids
            .iter()
            .filter_map(|id| store.live.get(id))
            .filter(|c| keep(c))
            .collect(),
        None => store.live.values().filter(|c| keep(c)).collect(),
    };
    if let Some((property, descending)) = request.sorts.first().map(sort_key) {
        hits.sort_by(|a, b| {
            let order = match (stored(a, &property), stored(b, &property)) {
                (Stored::Missing, Stored::Missing) => Ordering::Equal,
                (_, Stored::Missing) => Ordering::Less,
                (Stored::Missing, _) => Ordering::Greater,
                (Stored::Number(x), Stored::Number(y)) => x.total_cmp(&y),
                (Stored::Text(x), Stored::Text(y)) => match (x.parse::<f64>(), y.parse::<f64>()) {
                    (Ok(x), Ok(y)) => x.total_cmp(&y),
                    _ => x
                        .chars()
                        .flat_map(char::to_lowercase)
                        .cmp(y.chars().flat_map(char::to_lowercase)),
                },
                (Stored::Number(_), Stored::Text(_)) => Ordering::Less,
                (Stored::Text(_), Stored::Number(_)) => Ordering::Greater,
            };
            let order = order.then(a.id.cmp(&b.id));
            if descending { order.reverse() } else { order }
        });
    }
    let total = hits.len() as u64;
    let results = hits
        .iter()
        .skip(after as usize)
        .take(limit as usize)
        .map(|c| c.view(&request.properties, &store.properties))
        .collect();
    let next = after + limit;
    let body = Page {
        total: Some(total),
        results,
        paging: (next < total && limit > 0)
            .then(|| json!({ "next": { "after": next.to_string() } })),
    };
    Ok(json_response(StatusCode::OK, &body))
}
