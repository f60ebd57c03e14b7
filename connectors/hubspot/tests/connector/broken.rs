//! Deliberately broken connectors for judging the conformance kit: the real HubSpot connector
//! against its simulator, wrapped so that exactly one behaviour is wrong. Each must fail the
//! one kit check that judges that behaviour and no other.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::stream::BoxStream;
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use tte_sync_core::CrmId;
use tte_sync_core::connector::{
    Catalog, ChangeEvent, ChangeFeed, ConnectorError, ConnectorSetup, CrmConnector, CrmWrite,
    ErrorKind, ListQuery, OAuthInstall, Result, WebhookError, WebhookReceiver, WebhookRequest,
    WriteAbilities, WriteOutcome,
};
use tte_sync_core::record::CrmRecord;
use tte_sync_hubspot::HubSpotConnector;
use tte_sync_hubspot::webhook::HEADER_TIMESTAMP;

/// The one thing a [`Broken`] connector gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Reads answer from a cache of earlier reads, so later writes go unseen.
    StaleReads,
    /// A listing of more than one page stops before its last page.
    DropsLastPage,
    /// Reads send one id per call instead of batching.
    ReadsOneAtATime,
    /// Writes send one record per call instead of batching.
    WritesOneAtATime,
    /// The outcomes of a write of several batches come back batch by batch, last batch first.
    JoinsBatchesBackwards,
    /// An update of a missing record is reported as a permanent failure, not as not found.
    MissingAsPermanent,
    /// A refused value is reported without the field it was refused for.
    ForgetsInvalidField,
    /// A conflict is reported without the record that holds the value.
    ForgetsConflictHolder,
    /// The health check also reads a page of records.
    CostlyHealthCheck,
    /// A signature once verified is accepted again for any body at the same URL.
    ReusesSeenSignatures,
    /// Signatures are checked against the first URL ever seen, not the request's own.
    PinsFirstUrl,
    /// Freshness is judged by the sender's clock (the signed timestamp), so nothing is stale.
    TrustsSenderClock,
}

/// The HubSpot connector with one [`Fault`].
pub struct Broken {
    inner: Arc<HubSpotConnector>,
    fault: Fault,
    receiver: BrokenReceiver,
    read_cache: Mutex<HashMap<CrmId, Option<CrmRecord>>>,
}

impl Broken {
    pub fn new(inner: Arc<HubSpotConnector>, fault: Fault) -> Self {
        Self {
            receiver: BrokenReceiver {
                inner: inner.clone(),
                fault,
                seen: Mutex::new(BTreeSet::new()),
                first_url: OnceLock::new(),
            },
            inner,
            fault,
            read_cache: Mutex::new(HashMap::new()),
        }
    }

    fn rewrite(&self, outcome: WriteOutcome) -> WriteOutcome {
        let WriteOutcome::Failed(error) = &outcome else {
            return outcome;
        };
        let kind = match (self.fault, error.kind()) {
            (Fault::MissingAsPermanent, ErrorKind::NotFound) => ErrorKind::Permanent,
            (Fault::ForgetsInvalidField, ErrorKind::Invalid { .. }) => {
                ErrorKind::Invalid { field: None }
            }
            (Fault::ForgetsConflictHolder, ErrorKind::Conflict { .. }) => {
                ErrorKind::Conflict { existing_id: None }
            }
            _ => return outcome,
        };
        WriteOutcome::Failed(ConnectorError::new(kind, error.message()))
    }
}

#[async_trait]
impl CrmConnector for Broken {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn describe(&self) -> Result<Catalog> {
        self.inner.describe().await
    }

    fn list(&self, query: ListQuery) -> BoxStream<'_, Result<Vec<CrmRecord>>> {
        if self.fault != Fault::DropsLastPage {
            return self.inner.list(query);
        }
        let pages = self.inner.list(query);
        stream::once(async move {
            let mut pages: Vec<Vec<CrmRecord>> = pages.try_collect().await?;
            if pages.len() > 1 {
                pages.pop();
            }
            Ok::<_, ConnectorError>(stream::iter(pages.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    async fn read(&self, ids: &[CrmId], properties: &[String]) -> Result<Vec<Option<CrmRecord>>> {
        match self.fault {
            Fault::ReadsOneAtATime => {
                let mut records = Vec::with_capacity(ids.len());
                for id in ids {
                    records.extend(
                        self.inner
                            .read(std::slice::from_ref(id), properties)
                            .await?,
                    );
                }
                Ok(records)
            }
            Fault::StaleReads => {
                let mut fresh = self.inner.read(ids, properties).await?;
                let mut cache = self.read_cache.lock().expect("not poisoned");
                for (id, record) in ids.iter().zip(&mut fresh) {
                    match cache.get(id) {
                        Some(cached) => *record = cached.clone(),
                        None => {
                            cache.insert(id.clone(), record.clone());
                        }
                    }
                }
                Ok(fresh)
            }
            _ => self.inner.read(ids, properties).await,
        }
    }

    async fn find(
        &self,
        property: &str,
        values: &[String],
        properties: &[String],
    ) -> Result<Vec<CrmRecord>> {
        self.inner.find(property, values, properties).await
    }

    fn write_abilities(&self) -> WriteAbilities {
        self.inner.write_abilities()
    }

    async fn write(&self, writes: Vec<CrmWrite>) -> Result<Vec<WriteOutcome>> {
        let outcomes = match self.fault {
            Fault::WritesOneAtATime => {
                let mut outcomes = Vec::with_capacity(writes.len());
                for write in writes {
                    outcomes.extend(self.inner.write(vec![write]).await?);
                }
                outcomes
            }
            Fault::JoinsBatchesBackwards => {
                let mut batches = Vec::new();
                for batch in writes.chunks(tte_sync_hubspot::contacts::BATCH_LIMIT) {
                    batches.push(self.inner.write(batch.to_vec()).await?);
                }
                batches.into_iter().rev().flatten().collect()
            }
            _ => self.inner.write(writes).await?,
        };
        Ok(outcomes.into_iter().map(|o| self.rewrite(o)).collect())
    }

    async fn check(&self) -> Result<()> {
        self.inner.check().await?;
        if self.fault == Fault::CostlyHealthCheck {
            self.inner
                .list(ListQuery::default())
                .next()
                .await
                .transpose()?;
        }
        Ok(())
    }

    fn setup(&self) -> Option<&dyn ConnectorSetup> {
        self.inner.setup()
    }

    fn webhooks(&self) -> Option<&dyn WebhookReceiver> {
        self.inner
            .webhooks()
            .map(|_| &self.receiver as &dyn WebhookReceiver)
    }

    fn change_feed(&self) -> Option<&dyn ChangeFeed> {
        self.inner.change_feed()
    }

    fn oauth(&self) -> Option<&dyn OAuthInstall> {
        self.inner.oauth()
    }
}

/// The HubSpot webhook receiver with one of the signature faults.
struct BrokenReceiver {
    inner: Arc<HubSpotConnector>,
    fault: Fault,
    /// (URL, signature headers) pairs verified before, for [`Fault::ReusesSeenSignatures`].
    seen: Mutex<BTreeSet<(String, String)>>,
    first_url: OnceLock<String>,
}

impl BrokenReceiver {
    fn real(&self) -> &dyn WebhookReceiver {
        self.inner.webhooks().expect("HubSpot takes webhooks")
    }
}

fn signature_headers(request: &WebhookRequest<'_>) -> String {
    format!("{:?}", request.headers)
}

impl WebhookReceiver for BrokenReceiver {
    fn verify(
        &self,
        request: &WebhookRequest<'_>,
        now: DateTime<Utc>,
    ) -> std::result::Result<(), WebhookError> {
        match self.fault {
            Fault::ReusesSeenSignatures => {
                let seen = (request.uri.to_owned(), signature_headers(request));
                if self.seen.lock().expect("not poisoned").contains(&seen) {
                    return Ok(());
                }
                self.real().verify(request, now)?;
                self.seen.lock().expect("not poisoned").insert(seen);
                Ok(())
            }
            Fault::PinsFirstUrl => {
                let pinned = self.first_url.get_or_init(|| request.uri.to_owned());
                self.real().verify(
                    &WebhookRequest {
                        uri: pinned,
                        ..*request
                    },
                    now,
                )
            }
            Fault::TrustsSenderClock => {
                let sent = request
                    .headers
                    .get(HEADER_TIMESTAMP)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .and_then(DateTime::<Utc>::from_timestamp_millis)
                    .unwrap_or(now);
                self.real().verify(request, sent)
            }
            _ => self.real().verify(request, now),
        }
    }

    fn parse(&self, body: &[u8]) -> std::result::Result<Vec<ChangeEvent>, WebhookError> {
        self.real().parse(body)
    }

    fn is_own_echo(&self, event: &ChangeEvent) -> bool {
        self.real().is_own_echo(event)
    }
}
