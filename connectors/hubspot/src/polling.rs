//! Polling by modification time (`changes: polling`), for a Service Key, which HubSpot sends
//! no webhooks for: a search for contacts whose `lastmodifieddate` is at or after a
//! watermark, oldest first, on the search budget.
//!
//! HubSpot's search stops at 10,000 results per query and indexes changes "a few moments"
//! late. So a sweep pages from `watermark − overlap`, and when it nears the cap it starts a
//! new query from the newest modification time it has seen; once a sweep reaches the end,
//! that newest time becomes the watermark. The overlap re-reads recent contacts, and a
//! contact already reported with the same modification time is not reported again (in
//! memory: after a restart at most one overlap's worth comes twice, which the snapshot rule
//! absorbs). Searches never show archived contacts: deletions are found by the reconcile's
//! archived list.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tte_sync_core::CrmId;
use tte_sync_core::connector::{
    ChangeEvent, ChangeFeed, ChangeKind, ConnectorError, FeedPage, Result,
};

use crate::client::{Call, HubSpotClient};
use crate::config::HubSpotConfig;

/// The property searched on.
pub const LAST_MODIFIED: &str = "lastmodifieddate";
/// Results per search page (HubSpot's maximum).
const PAGE_SIZE: u64 = 200;
/// HubSpot answers 400 past this many results of one query.
const SEARCH_CAP: u64 = 10_000;
/// How many reported (contact, modification time) pairs are remembered against repeats.
const REMEMBERED: usize = 20_000;

/// Where polling stands, kept by the host as the feed's cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// Where the current query starts (epoch ms).
    since: i64,
    /// How many results of the current query were read.
    offset: u64,
    /// The newest modification time seen so far (epoch ms).
    newest: i64,
}

/// Polling as a [`ChangeFeed`].
pub struct PollingFeed {
    client: Arc<HubSpotClient>,
    interval: Duration,
    overlap_ms: i64,
    reported: Mutex<Reported>,
}

/// The (contact, modification time) pairs reported lately, oldest first.
#[derive(Default)]
struct Reported {
    order: VecDeque<(String, i64)>,
    latest: HashMap<String, i64>,
}

impl Reported {
    /// Whether this pair is new; remembers it.
    fn first_time(&mut self, id: &str, modified: i64) -> bool {
        if self.latest.get(id).is_some_and(|&seen| seen >= modified) {
            return false;
        }
        self.latest.insert(id.to_owned(), modified);
        self.order.push_back((id.to_owned(), modified));
        while self.order.len() > REMEMBERED {
            if let Some((old, at)) = self.order.pop_front()
                && self.latest.get(&old) == Some(&at)
            {
                self.latest.remove(&old);
            }
        }
        true
    }
}

impl PollingFeed {
    /// A poller with the intervals of `config.polling`.
    pub fn new(config: &HubSpotConfig, client: Arc<HubSpotClient>) -> Self {
        Self {
            client,
            interval: Duration::from_millis(config.polling.interval_millis),
            overlap_ms: i64::try_from(config.polling.overlap_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            reported: Mutex::new(Reported::default()),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Page {
    #[serde(default)]
    results: Vec<Found>,
    #[serde(default)]
    paging: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Found {
    id: String,
    #[serde(default)]
    properties: HashMap<String, Option<String>>,
}

/// A `lastmodifieddate` as epoch ms: HubSpot sends ISO 8601, older portals epoch ms.
fn modified_ms(value: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.timestamp_millis())
        .ok()
        .or_else(|| value.parse().ok())
}

#[async_trait]
impl ChangeFeed for PollingFeed {
    fn mode(&self) -> &'static str {
        "polling"
    }

    fn idle_interval(&self) -> Duration {
        self.interval
    }

    async fn pull(&self, cursor: Option<&str>) -> Result<FeedPage> {
        let Some(cursor) = cursor else {
            let now = Utc::now().timestamp_millis();
            let start = Cursor {
                since: now - self.overlap_ms,
                offset: 0,
                newest: now,
            };
            return Ok(FeedPage {
                events: Vec::new(),
                cursor: Some(encode(&start)),
                more: false,
            });
        };
        let mut at: Cursor = serde_json::from_str(cursor).map_err(|e| {
            ConnectorError::permanent(format!("the stored polling cursor is unreadable ({e})"))
        })?;
        let body = json!({
            "filterGroups": [{ "filters": [{
                "propertyName": LAST_MODIFIED, "operator": "GTE", "value": at.since.to_string(),
            }] }],
            "sorts": [{ "propertyName": LAST_MODIFIED, "direction": "ASCENDING" }],
            "properties": [LAST_MODIFIED],
            "limit": PAGE_SIZE,
            "after": at.offset.to_string(),
        });
        let call = Call::new(
            Method::POST,
            format!("{}/search", self.client.version().contacts()),
        )
        .search()
        .json(body);
        let page: Page = self.client.json(&call).await?;
        let mut events = Vec::new();
        {
            let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
            for found in &page.results {
                let Some(modified) = found
                    .properties
                    .get(LAST_MODIFIED)
                    .and_then(|v| v.as_deref())
                    .and_then(modified_ms)
                else {
                    continue;
                };
                at.newest = at.newest.max(modified);
                if reported.first_time(&found.id, modified) {
                    events.push(ChangeEvent {
                        object_id: CrmId(found.id.clone()),
                        kind: ChangeKind::PropertyChanged,
                        property: None,
                        value: None,
                        occurred_at: DateTime::from_timestamp_millis(modified)
                            .unwrap_or_else(Utc::now),
                        change_source: None,
                        source_id: None,
                        account: None,
                        event_id: None,
                    });
                }
            }
        }
        let has_next = page
            .paging
            .as_ref()
            .and_then(|p| p.get("next"))
            .is_some_and(|n| !n.is_null());
        at.offset += page.results.len() as u64;
        let more = if !has_next || page.results.is_empty() {
            // The sweep reached the end: everything up to the newest time was seen.
            at.since = at.newest - self.overlap_ms;
            at.offset = 0;
            false
        } else if at.offset + PAGE_SIZE > SEARCH_CAP {
            // The query nears HubSpot's cap: go on with a new one from the newest time seen.
            at.since = at.newest;
            at.offset = 0;
            true
        } else {
            true
        };
        Ok(FeedPage {
            events,
            cursor: Some(encode(&at)),
            more,
        })
    }
}

fn encode(cursor: &Cursor) -> String {
    serde_json::to_string(cursor).expect("a cursor serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contact_is_reported_again_only_when_modified_again() {
        let mut reported = Reported::default();
        assert!(reported.first_time("1", 100));
        assert!(!reported.first_time("1", 100));
        assert!(!reported.first_time("1", 90));
        assert!(reported.first_time("1", 101));
        assert!(reported.first_time("2", 100));
    }

    #[test]
    fn modification_times_parse_in_both_forms() {
        assert_eq!(
            modified_ms("2026-12-03T06:00:00.000Z"),
            Some(1_796_277_600_000)
        );
        assert_eq!(modified_ms("1796277600000"), Some(1_796_277_600_000));
        assert_eq!(modified_ms("soon"), None);
    }
}
