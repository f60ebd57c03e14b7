//! The webhook checks: a genuine webhook verifies and parses, a changed one is refused, and —
//! where the CRM's signature scheme promises it — a signature is bound to its URL and to a
//! replay window. Requests are signed with the connector crate's own helper through the
//! harness.

use std::time::Duration;

use chrono::Utc;

use super::outcome::{Broken, Checked, Outcome, Promise, ensure};
use super::{CapturedWebhook, ConformanceHarness, SignatureScheme};
use crate::connector::{WebhookError, WebhookReceiver};
use crate::record::CrmId;

/// The receiver and scheme, or why the webhook checks do not apply.
fn receiver(
    h: &dyn ConformanceHarness,
) -> Result<Result<(&dyn WebhookReceiver, SignatureScheme), Outcome>, Broken> {
    let Some(scheme) = h.signature_scheme() else {
        return Ok(Err(Outcome::NotApplicable(
            "the CRM pushes no webhooks".to_owned(),
        )));
    };
    let Some(receiver) = h.connector().webhooks() else {
        return Err(Broken(
            "the CRM pushes webhooks, so the connector takes them".to_owned(),
        ));
    };
    Ok(Ok((receiver, scheme)))
}

/// The captured request with its signature headers replaced by fresh ones for `uri`, signed
/// at `at`.
fn resigned(
    h: &dyn ConformanceHarness,
    captured: &CapturedWebhook,
    uri: &str,
    at: chrono::DateTime<Utc>,
) -> CapturedWebhook {
    let mut headers = captured.headers.clone();
    for (name, value) in &h.sign_webhook(&captured.method, uri, &captured.body, at) {
        headers.insert(name.clone(), value.clone());
    }
    CapturedWebhook {
        uri: uri.to_owned(),
        headers,
        sent_at: at,
        ..captured.clone()
    }
}

/// A webhook the CRM sent about a change to a seeded record, checked to verify as it came.
async fn genuine(
    h: &dyn ConformanceHarness,
    receiver: &dyn WebhookReceiver,
) -> Result<(CrmId, CapturedWebhook), Broken> {
    h.prepare().await;
    let id = h.seed(1).await.remove(0);
    let captured = h.capture_webhook(&id).await;
    receiver
        .verify(&captured.request(), captured.sent_at)
        .or_broken("a genuine webhook verifies")?;
    Ok((id, captured))
}

/// A genuine webhook verifies and parses into an event naming the record; one the harness
/// signs the same way verifies too; changed signature headers, a changed body (where the
/// signature covers the body), a missing signature and a malformed body are refused.
pub(super) async fn signature(h: &dyn ConformanceHarness) -> Checked {
    let (receiver, scheme) = match receiver(h)? {
        Ok(found) => found,
        Err(not_applicable) => return Ok(not_applicable),
    };
    let (id, captured) = genuine(h, receiver).await?;
    let events = receiver
        .parse(&captured.body)
        .or_broken("a genuine webhook parses")?;
    ensure!(
        events.iter().any(|e| e.object_id == id),
        "an event names the changed record {id}: {events:?}"
    );

    let now = Utc::now();
    let signed = resigned(h, &captured, &captured.uri, now);
    receiver
        .verify(&signed.request(), now)
        .or_broken("a webhook signed with the connector's own helper verifies")?;

    let forged = forged(h, &captured);
    let verdict = receiver.verify(&forged.request(), captured.sent_at);
    ensure!(
        verdict == Err(WebhookError::BadSignature),
        "a request whose signature headers were changed is refused as a bad signature, got \
         {verdict:?}"
    );
    if !scheme.covers_body {
        return unsigned_and_malformed(receiver, &captured);
    }
    let mut body = captured.body.clone();
    match body.iter().rposition(u8::is_ascii_digit) {
        Some(last) => {
            body[last] = if body[last] == b'9' {
                b'8'
            } else {
                body[last] + 1
            }
        }
        None => body.push(b' '),
    }
    let tampered = CapturedWebhook {
        body,
        ..captured.clone()
    };
    let verdict = receiver.verify(&tampered.request(), captured.sent_at);
    ensure!(
        verdict == Err(WebhookError::BadSignature),
        "a changed body is refused as a bad signature, got {verdict:?}"
    );
    unsigned_and_malformed(receiver, &captured)
}

/// The captured request with one character of each signature header changed (each value's
/// last letter or digit, within its alphabet), as a forger guessing the secret would send it.
fn forged(h: &dyn ConformanceHarness, captured: &CapturedWebhook) -> CapturedWebhook {
    let mut headers = captured.headers.clone();
    let signed = h.sign_webhook(
        &captured.method,
        &captured.uri,
        &captured.body,
        captured.sent_at,
    );
    for (name, value) in &signed {
        let mut bytes = value.as_bytes().to_vec();
        if let Some(last) = bytes.iter().rposition(u8::is_ascii_alphanumeric) {
            bytes[last] = match bytes[last] {
                b'9' => b'8',
                b'z' => b'y',
                b'Z' => b'Y',
                other => other + 1,
            };
        }
        if let Ok(value) = http::HeaderValue::from_bytes(&bytes) {
            headers.insert(name.clone(), value);
        }
    }
    CapturedWebhook {
        headers,
        ..captured.clone()
    }
}

/// An unsigned request is refused as unsigned and a malformed body fails to parse.
fn unsigned_and_malformed(receiver: &dyn WebhookReceiver, captured: &CapturedWebhook) -> Checked {
    let unsigned = CapturedWebhook {
        headers: http::HeaderMap::new(),
        ..captured.clone()
    };
    let verdict = receiver.verify(&unsigned.request(), captured.sent_at);
    ensure!(
        matches!(verdict, Err(WebhookError::Unsigned(_))),
        "an unsigned request is refused as unsigned, got {verdict:?}"
    );
    let parsed = receiver.parse(b"{not json");
    ensure!(
        matches!(parsed, Err(WebhookError::Malformed(_))),
        "a malformed body is an error, got {parsed:?}"
    );
    Ok(Outcome::Passed)
}

/// Where the scheme covers the URL: a signature made for one URL is refused at another.
pub(super) async fn url_bound(h: &dyn ConformanceHarness) -> Checked {
    let (receiver, scheme) = match receiver(h)? {
        Ok(found) => found,
        Err(not_applicable) => return Ok(not_applicable),
    };
    if !scheme.covers_url {
        return Ok(Outcome::NotApplicable(
            "the CRM's signature does not cover the URL".to_owned(),
        ));
    }
    let (_, captured) = genuine(h, receiver).await?;
    let now = Utc::now();
    let mut moved = resigned(h, &captured, &captured.uri, now);
    moved
        .uri
        .push_str(if moved.uri.contains('?') { "&x=1" } else { "x" });
    let verdict = receiver.verify(&moved.request(), now);
    ensure!(
        verdict == Err(WebhookError::BadSignature),
        "a signature for {} is refused at {}, got {verdict:?}",
        captured.uri,
        moved.uri
    );
    Ok(Outcome::Passed)
}

/// Where signatures carry a time: one older than the window is refused as stale, one within
/// it is accepted.
pub(super) async fn replay_window(h: &dyn ConformanceHarness) -> Checked {
    let (receiver, scheme) = match receiver(h)? {
        Ok(found) => found,
        Err(not_applicable) => return Ok(not_applicable),
    };
    let Some(window) = scheme.replay_window else {
        return Ok(Outcome::NotApplicable(
            "the CRM's signature carries no time".to_owned(),
        ));
    };
    h.prepare().await;
    let id = h.seed(1).await.remove(0);
    let captured = h.capture_webhook(&id).await;
    let now = Utc::now();
    let age = |by: Duration| now - chrono::Duration::from_std(by).unwrap_or_default();
    let recent = resigned(h, &captured, &captured.uri, age(window / 2));
    receiver
        .verify(&recent.request(), now)
        .or_broken("a signature within the replay window verifies")?;
    let old = resigned(
        h,
        &captured,
        &captured.uri,
        age(window + Duration::from_secs(60)),
    );
    let verdict = receiver.verify(&old.request(), now);
    ensure!(
        matches!(verdict, Err(WebhookError::Stale(_))),
        "a signature older than {window:?} is refused as stale, got {verdict:?}"
    );
    Ok(Outcome::Passed)
}
