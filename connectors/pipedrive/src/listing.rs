//! Listing persons: the live ones page by page by cursor, with the wanted custom fields named
//! by their keys; and the archived ones — the persons deleted in the last 30 days (Pipedrive
//! erases them after that), taken from the recent changes — each once.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use futures_util::stream::{self, BoxStream, StreamExt as _};
use tte_sync_core::connector::Result;
use tte_sync_core::record::{CrmId, CrmRecord};

use crate::client::Client;
use crate::fields::{FieldMap, Fields, is_built_in};

/// How far back the archived listing looks.
const DELETED_KEPT_DAYS: i64 = 30;

/// The keys of the custom fields among `wanted`.
pub fn custom_keys<'a>(map: &'a FieldMap, wanted: &[String]) -> Vec<&'a str> {
    wanted
        .iter()
        .filter(|name| !is_built_in(name))
        .filter_map(|name| map.get(name).map(|field| field.key.as_str()))
        .collect()
}

/// Every live person with the `wanted` properties, a page at a time.
pub fn live_pages<'a>(
    client: &'a Client,
    fields: &'a Fields,
    wanted: Vec<String>,
) -> BoxStream<'a, Result<Vec<CrmRecord>>> {
    enum Next {
        First,
        Cursor(String),
        Done,
    }
    stream::try_unfold((Next::First, None::<Arc<FieldMap>>), move |(next, map)| {
        let wanted = wanted.clone();
        async move {
            let cursor = match next {
                Next::Done => return Ok(None),
                Next::First => None,
                Next::Cursor(cursor) => Some(cursor),
            };
            let map = match map {
                Some(map) => map,
                None => {
                    let names: Vec<&str> = wanted.iter().map(String::as_str).collect();
                    fields.covering(client, &names).await?
                }
            };
            let keys = custom_keys(&map, &wanted);
            let (persons, next_cursor) = client.persons_page(cursor.as_deref(), &keys).await?;
            let records = persons
                .into_iter()
                .filter(|p| !p.is_deleted)
                .map(|p| p.into_record(&map, &wanted))
                .collect();
            let next = next_cursor.map_or(Next::Done, Next::Cursor);
            Ok(Some((records, (next, Some(map)))))
        }
    })
    .boxed()
}

/// The persons deleted in the last 30 days, each once, a page of recent changes at a time.
pub fn archived_pages<'a>(
    client: &'a Client,
    fields: &'a Fields,
    wanted: Vec<String>,
) -> BoxStream<'a, Result<Vec<CrmRecord>>> {
    let since = Utc::now() - chrono::Duration::days(DELETED_KEPT_DAYS);
    stream::try_unfold(
        (Some(0_u64), HashSet::<u64>::new()),
        move |(start, mut seen)| {
            let wanted = wanted.clone();
            async move {
                let Some(start) = start else {
                    return Ok(None);
                };
                let (ids, next) = client.deleted_since(since, start).await?;
                let fresh: Vec<u64> = ids.into_iter().filter(|id| seen.insert(*id)).collect();
                let records = archived_records(client, fields, &fresh, &wanted).await?;
                Ok(Some((records, (next, seen))))
            }
        },
    )
    .boxed()
}

/// Records of deleted persons; with properties wanted, each read by id (still deleted).
async fn archived_records(
    client: &Client,
    fields: &Fields,
    ids: &[u64],
    wanted: &[String],
) -> Result<Vec<CrmRecord>> {
    if wanted.is_empty() {
        return Ok(ids
            .iter()
            .map(|id| CrmRecord {
                id: CrmId(id.to_string()),
                archived: true,
                ..CrmRecord::default()
            })
            .collect());
    }
    let map = fields.get(client).await?;
    let mut records = Vec::new();
    for id in ids {
        if let Some(person) = client.person(*id).await?
            && person.is_deleted
        {
            records.push(person.into_record(&map, wanted));
        }
    }
    Ok(records)
}
