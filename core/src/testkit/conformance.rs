//! The connector conformance suite: what every CRM connector must do, checked against the
//! connector's own simulator over real HTTP.
//!
//! A connector crate implements [`ConformanceHarness`] (start its simulator, build the
//! connector against it, seed and edit records as a CRM user would, inject faults, capture a
//! webhook) and calls each `check_*` function from one test apiece, on a fresh harness. The
//! checks panic with a message naming the broken promise.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;

use crate::connector::{
    ChangeEvent, CrmConnector, CrmWrite, ErrorKind, ListQuery, WebhookError, WebhookRequest,
    WriteOutcome,
};
use crate::record::{CrmId, CrmRecord};

/// Calls the CRM (simulator) received, by kind, since the last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// List (page) calls.
    pub list: u64,
    /// Batch read calls.
    pub batch_read: u64,
    /// Batch write calls (upsert, update, create, archive).
    pub batch_write: u64,
    /// Search calls.
    pub search: u64,
    /// Calls refused with a rate-limit answer.
    pub throttled: u64,
}

/// A webhook request as the CRM sent it, owned.
#[derive(Debug, Clone)]
pub struct CapturedWebhook {
    /// The HTTP method.
    pub method: String,
    /// The full URL the CRM posted to, as it signed it.
    pub uri: String,
    /// The headers received.
    pub headers: http::HeaderMap,
    /// The raw body.
    pub body: Vec<u8>,
    /// The CRM's clock when it sent the request.
    pub sent_at: DateTime<Utc>,
}

impl CapturedWebhook {
    /// The borrowed form the receiver takes.
    pub fn request(&self) -> WebhookRequest<'_> {
        WebhookRequest {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// What a connector crate provides so that the suite can check its connector.
#[async_trait]
pub trait ConformanceHarness: Send + Sync {
    /// The connector under test, built against the running simulator.
    fn connector(&self) -> &dyn CrmConnector;

    /// The unique-value property upserts are keyed by; `prepare` makes sure it exists.
    fn key_property(&self) -> &str;

    /// A property `find` matches on (HubSpot: `email`), compared case-insensitively.
    fn match_property(&self) -> &str;

    /// A value of [`Self::match_property`] the CRM refuses as invalid.
    fn invalid_match_value(&self) -> String;

    /// Inputs the CRM accepts per batch call.
    fn batch_limit(&self) -> usize;

    /// How far a signed webhook may be replayed, when signatures carry a time.
    fn replay_window(&self) -> Option<Duration>;

    /// Makes the CRM ready for the checks (e.g. creates the key property). Idempotent.
    async fn prepare(&self);

    /// Creates `count` records directly in the CRM (an import, not through the connector);
    /// each has a distinct, valid [`Self::match_property`] value. Returns their ids.
    async fn seed(&self, count: usize) -> Vec<CrmId>;

    /// Edits a record directly in the CRM, as a user would in its UI.
    async fn edit(&self, id: &CrmId, properties: &[(&str, &str)]);

    /// The calls received since the last [`Self::reset_calls`].
    async fn calls(&self) -> CallCounts;

    /// Zeroes the call counts.
    async fn reset_calls(&self);

    /// Makes the CRM refuse its next `count` calls with rate-limit answers.
    async fn inject_rate_limits(&self, count: u32);

    /// Makes the connector's current credentials expire; `false` when its credentials never
    /// expire (the check is then skipped).
    async fn expire_credentials(&self) -> bool;

    /// Makes a change to `id` as a user and returns the signed webhook the CRM sent about it.
    async fn capture_webhook(&self, id: &CrmId) -> CapturedWebhook;
}

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn list_all<H: ConformanceHarness + ?Sized>(
    h: &H,
    properties: &[&str],
    archived: bool,
) -> Vec<Vec<CrmRecord>> {
    h.connector()
        .list(ListQuery {
            properties: properties.iter().map(|p| (*p).to_owned()).collect(),
            archived,
        })
        .try_collect()
        .await
        .expect("listing succeeds")
}

fn written(outcome: &WriteOutcome) -> (CrmId, bool) {
    match outcome {
        WriteOutcome::Written { id, created } => (id.clone(), *created),
        other => panic!("expected the write to succeed, got {other:?}"),
    }
}

fn failed_kind(outcome: &WriteOutcome) -> ErrorKind {
    match outcome {
        WriteOutcome::Failed(error) => error.kind().clone(),
        other => panic!("expected the write to fail, got {other:?}"),
    }
}

/// Upsert creates, a repeated upsert updates the same record, read/list/find see it with
/// exactly the requested properties, update changes it, archive hides it from reads and
/// search and shows it in the archived listing.
pub async fn check_round_trip<H: ConformanceHarness + ?Sized>(h: &H) {
    h.prepare().await;
    let key = h.key_property().to_owned();
    let email = h.match_property().to_owned();
    let c = h.connector();
    let upsert = |k: &str, mail: &str, first: &str| CrmWrite::Upsert {
        id_property: key.clone(),
        key: k.to_owned(),
        properties: props(&[(&email, mail), ("firstname", first)]),
    };
    let outcomes = c
        .write(vec![
            upsert("rt-1", "rt.one@example.com", "One"),
            upsert("rt-2", "rt.two@example.com", "Two"),
        ])
        .await
        .expect("write succeeds");
    assert_eq!(outcomes.len(), 2, "one outcome per write");
    let (one, created) = written(&outcomes[0]);
    assert!(created, "a new key creates a record");
    let (two, _) = written(&outcomes[1]);
    assert_ne!(one, two);

    // Retry-safe: the same upsert again updates the same record.
    let again = c
        .write(vec![upsert("rt-1", "rt.one@example.com", "Uno")])
        .await
        .expect("write succeeds");
    assert_eq!(
        written(&again[0]),
        (one.clone(), false),
        "a repeated upsert hits the same record"
    );

    let wanted = vec![email.clone(), "firstname".to_owned(), key.clone()];
    let read = c
        .read(
            &[one.clone(), CrmId::from("999999999"), two.clone()],
            &wanted,
        )
        .await
        .expect("read succeeds");
    assert_eq!(read.len(), 3, "one answer per id, in order");
    let first = read[0].as_ref().expect("the record exists");
    assert_eq!(first.id, one);
    assert_eq!(first.property("firstname"), "Uno");
    assert_eq!(first.property(&key), "rt-1");
    assert!(read[1].is_none(), "an unknown id reads as None");
    assert_eq!(read[2].as_ref().map(|r| r.id.clone()), Some(two.clone()));
    for record in read.iter().flatten() {
        for name in record.properties.keys() {
            assert!(
                wanted.contains(name),
                "unrequested property {name} returned"
            );
        }
    }

    let pages = list_all(h, &[&email], false).await;
    let listed: Vec<&CrmRecord> = pages.iter().flatten().filter(|r| r.id == one).collect();
    assert_eq!(listed.len(), 1, "the listing has the record once");
    assert_eq!(
        listed[0].properties.keys().collect::<Vec<_>>(),
        vec![&email],
        "the listing carries exactly the requested properties"
    );

    let updated = c
        .write(vec![CrmWrite::Update {
            id: two.clone(),
            properties: props(&[("firstname", "Deux")]),
        }])
        .await
        .expect("write succeeds");
    assert_eq!(written(&updated[0]).0, two);
    let read = c
        .read(std::slice::from_ref(&two), &wanted)
        .await
        .expect("read");
    assert_eq!(
        read[0].as_ref().expect("exists").property("firstname"),
        "Deux"
    );

    let archived = c
        .write(vec![CrmWrite::Archive { id: two.clone() }])
        .await
        .expect("archive succeeds");
    assert!(
        matches!(&archived[0], WriteOutcome::Archived { id } if *id == two),
        "{archived:?}"
    );
    let read = c
        .read(std::slice::from_ref(&two), &wanted)
        .await
        .expect("read");
    assert!(read[0].is_none(), "an archived record reads as None");
    let bin = list_all(h, &[&email], true).await;
    let in_bin: Vec<&CrmRecord> = bin.iter().flatten().filter(|r| r.id == two).collect();
    assert_eq!(in_bin.len(), 1, "the archived listing has it");
    assert!(in_bin[0].archived);
}

/// A full listing of more than 1,000 records pages through all of them, once each, in pages
/// no larger than the batch limit and with no more calls than pages.
pub async fn check_paging<H: ConformanceHarness + ?Sized>(h: &H, count: usize) {
    h.prepare().await;
    let before: usize = list_all(h, &[], false).await.iter().map(Vec::len).sum();
    let seeded = h.seed(count).await;
    assert_eq!(seeded.len(), count, "the harness seeds what it is asked");
    h.reset_calls().await;
    let pages = list_all(h, &[h.match_property()], false).await;
    let total: usize = pages.iter().map(Vec::len).sum();
    assert_eq!(total, before + count, "every record listed");
    let ids: HashSet<&CrmId> = pages.iter().flatten().map(|r| &r.id).collect();
    assert_eq!(ids.len(), total, "no record listed twice");
    assert!(
        seeded.iter().all(|id| ids.contains(id)),
        "every seeded record listed"
    );
    assert!(
        pages.iter().all(|p| p.len() <= h.batch_limit()),
        "pages stay within the limit"
    );
    let limit = h.batch_limit() as u64;
    let calls = h.calls().await;
    assert!(
        calls.list <= (total as u64).div_ceil(limit) + 1,
        "{} list calls for {total} records",
        calls.list
    );
    assert_eq!(calls.search, 0, "a full pass never uses search");
}

/// Writes and reads larger than one batch are split into as few batches as the limit allows.
pub async fn check_batch_limits<H: ConformanceHarness + ?Sized>(h: &H) {
    h.prepare().await;
    let limit = h.batch_limit();
    let count = limit * 2 + limit / 2;
    let key = h.key_property().to_owned();
    let email = h.match_property().to_owned();
    h.reset_calls().await;
    let writes = (0..count)
        .map(|i| CrmWrite::Upsert {
            id_property: key.clone(),
            key: format!("bl-{i}"),
            properties: props(&[(&email, &format!("batch.{i}@example.com"))]),
        })
        .collect();
    let outcomes = h.connector().write(writes).await.expect("write succeeds");
    let ids: Vec<CrmId> = outcomes.iter().map(|o| written(o).0).collect();
    let calls = h.calls().await;
    assert_eq!(
        calls.batch_write,
        count.div_ceil(limit) as u64,
        "{count} writes in the fewest batches"
    );
    h.reset_calls().await;
    let read = h
        .connector()
        .read(&ids, std::slice::from_ref(&email))
        .await
        .expect("read succeeds");
    assert!(read.iter().all(Option::is_some));
    assert_eq!(h.calls().await.batch_read, count.div_ceil(limit) as u64);
    for (i, record) in read.iter().flatten().enumerate() {
        assert_eq!(record.property(&email), format!("batch.{i}@example.com"));
    }
}

/// In one batch, a write colliding with an existing record fails as a conflict naming it, an
/// invalid value fails naming the field, and the others succeed.
pub async fn check_conflict_and_invalid<H: ConformanceHarness + ?Sized>(h: &H) {
    h.prepare().await;
    let key = h.key_property().to_owned();
    let email = h.match_property().to_owned();
    let existing = h.seed(1).await.remove(0);
    h.edit(&existing, &[(&email, "taken@example.com")]).await;
    let upsert = |k: &str, mail: String| CrmWrite::Upsert {
        id_property: key.clone(),
        key: k.to_owned(),
        properties: props(&[(&email, &mail)]),
    };
    let outcomes = h
        .connector()
        .write(vec![
            upsert("ci-1", "fine.one@example.com".to_owned()),
            upsert("ci-2", "TAKEN@example.com".to_owned()),
            upsert("ci-3", h.invalid_match_value()),
            upsert("ci-4", "fine.four@example.com".to_owned()),
        ])
        .await
        .expect("a batch with bad records still succeeds as a whole");
    assert_eq!(outcomes.len(), 4);
    assert!(written(&outcomes[0]).1);
    assert_eq!(
        failed_kind(&outcomes[1]),
        ErrorKind::Conflict {
            existing_id: Some(existing)
        }
    );
    assert_eq!(
        failed_kind(&outcomes[2]),
        ErrorKind::Invalid {
            field: Some(email.clone())
        }
    );
    assert!(
        written(&outcomes[3]).1,
        "one bad record never fails the others"
    );
    let missing = h
        .connector()
        .write(vec![
            CrmWrite::Update {
                id: CrmId::from("987654321"),
                properties: props(&[("firstname", "X")]),
            },
            CrmWrite::Update {
                id: written(&outcomes[0]).0,
                properties: props(&[("firstname", "Y")]),
            },
        ])
        .await
        .expect("write succeeds");
    assert_eq!(failed_kind(&missing[0]), ErrorKind::NotFound);
    assert!(!written(&missing[1]).1);
}

/// Rate-limit refusals are waited out: the calls succeed and the refusals are visible.
pub async fn check_rate_limit_recovery<H: ConformanceHarness + ?Sized>(h: &H) {
    h.prepare().await;
    let ids = h.seed(3).await;
    h.reset_calls().await;
    h.inject_rate_limits(2).await;
    let read = h
        .connector()
        .read(&ids, &[h.match_property().to_owned()])
        .await
        .expect("the read succeeds after the refusals");
    assert!(read.iter().all(Option::is_some));
    assert!(h.calls().await.throttled >= 2, "the refusals happened");
}

/// The health check passes against the simulator, also once the credentials expired (it
/// renews them as any call does), and costs a single call.
pub async fn check_health_check<H: ConformanceHarness + ?Sized>(h: &H) {
    h.prepare().await;
    h.connector()
        .check()
        .await
        .expect("the health check passes against the simulator");
    if h.expire_credentials().await {
        h.connector()
            .check()
            .await
            .expect("the health check renews expired credentials");
    }
    h.reset_calls().await;
    h.connector()
        .check()
        .await
        .expect("the health check passes");
    let calls = h.calls().await;
    assert!(
        calls.list + calls.batch_read + calls.search + calls.batch_write <= 1,
        "the health check is cheap: {calls:?}"
    );
}

/// Expired credentials are renewed without the caller noticing.
pub async fn check_credential_expiry<H: ConformanceHarness + ?Sized>(h: &H) {
    h.prepare().await;
    let ids = h.seed(2).await;
    if !h.expire_credentials().await {
        return;
    }
    let read = h
        .connector()
        .read(&ids, &[h.match_property().to_owned()])
        .await
        .expect("the read succeeds after renewing the credentials");
    assert!(read.iter().all(Option::is_some));
}

/// A webhook the CRM signed is accepted and parsed; tampered, unsigned and replayed ones are
/// refused.
pub async fn check_webhook_signatures<H: ConformanceHarness + ?Sized>(h: &H) {
    h.prepare().await;
    let receiver = h
        .connector()
        .webhooks()
        .expect("the connector receives webhooks");
    let id = h.seed(1).await.remove(0);
    let captured = h.capture_webhook(&id).await;
    receiver
        .verify(&captured.request(), captured.sent_at)
        .expect("a genuine webhook verifies");
    let events: Vec<ChangeEvent> = receiver.parse(&captured.body).expect("it parses");
    assert!(
        events
            .iter()
            .any(|e| e.object_id == id && e.account.is_some()),
        "an event names the changed record and its account: {events:?}"
    );

    let mut body = captured.body.clone();
    if let Some(last) = body.iter().rposition(|b| b.is_ascii_digit()) {
        body[last] = if body[last] == b'9' {
            b'8'
        } else {
            body[last] + 1
        };
    }
    let tampered = CapturedWebhook {
        body,
        ..captured.clone()
    };
    assert_eq!(
        receiver.verify(&tampered.request(), captured.sent_at),
        Err(WebhookError::BadSignature),
        "a changed body is refused"
    );
    let other_url = CapturedWebhook {
        uri: format!("{}x", captured.uri),
        ..captured.clone()
    };
    assert_eq!(
        receiver.verify(&other_url.request(), captured.sent_at),
        Err(WebhookError::BadSignature),
        "another URL is refused"
    );
    let unsigned = CapturedWebhook {
        headers: http::HeaderMap::new(),
        ..captured.clone()
    };
    assert!(
        matches!(
            receiver.verify(&unsigned.request(), captured.sent_at),
            Err(WebhookError::Unsigned(_))
        ),
        "an unsigned request is refused"
    );
    if let Some(window) = h.replay_window() {
        let late = captured.sent_at
            + chrono::Duration::from_std(window + Duration::from_secs(60)).unwrap_or_default();
        assert!(
            matches!(
                receiver.verify(&captured.request(), late),
                Err(WebhookError::Stale(_))
            ),
            "a replay after the window is refused"
        );
    }
    assert!(
        matches!(
            receiver.parse(b"{not json"),
            Err(WebhookError::Malformed(_))
        ),
        "a malformed body is an error"
    );
}
