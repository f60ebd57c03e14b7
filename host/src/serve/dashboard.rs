//! `GET /`: the dashboard, server-rendered HTML with no scripts — health, inbox, runs,
//! failing records with a retry button (`POST /dead-letters/{id}/retry`), records that need
//! attention grouped by reason, with a form to link or keep apart possible duplicates
//! (`POST /identity/link`, `POST /identity/unlink`), conflicts and activity.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, Redirect};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tte_sync_core::engine::EngineError;
use tte_sync_core::store::{RecordStatus, SyncStatus};
use tte_sync_core::{CrmId, CustomerUri};

use super::html::{escape, page};
use super::status::{Check, Status};
use super::{ApiError, AppState};

/// `GET /`.
///
/// # Errors
/// 503 when the store cannot be read.
pub async fn index(State(state): State<Arc<AppState>>) -> Result<Html<String>, ApiError> {
    let status = state.status().await?;
    Ok(Html(page("tte-sync", &render(&status))))
}

/// `POST /dead-letters/{id}/retry`: queue the dead letter's change again, back to `/`.
///
/// # Errors
/// 404 when there is no such dead letter; 503 when the store fails.
pub async fn retry(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
) -> Result<Redirect, ApiError> {
    if state.store.requeue_dead_letter(id).await? {
        tracing::info!(
            dead_letter = id,
            "Requeued a dead letter from the dashboard."
        );
        Ok(Redirect::to("/"))
    } else {
        Err(ApiError::NotFound)
    }
}

/// The link and unlink form.
#[derive(Debug, Deserialize)]
pub struct Pick {
    /// The 10to8 customer's URI.
    customer: String,
    /// The CRM record's id.
    record: String,
}

/// `POST /identity/link`: the customer and the record are the same person, back to `/`.
///
/// # Errors
/// 400 with what to do when they cannot be linked; 503 when a side or the store fails.
pub async fn link(
    State(state): State<Arc<AppState>>,
    Form(pick): Form<Pick>,
) -> Result<Redirect, ApiError> {
    let (uri, id) = picked(&pick)?;
    state.engine.link(&uri, &id).await.map_err(refused)?;
    tracing::info!(customer = %uri, record = %id, "Linked from the dashboard.");
    Ok(Redirect::to("/"))
}

/// `POST /identity/unlink`: the customer and the record are different people, back to `/`.
///
/// # Errors
/// 400 for an incomplete form; 503 when a side or the store fails.
pub async fn unlink(
    State(state): State<Arc<AppState>>,
    Form(pick): Form<Pick>,
) -> Result<Redirect, ApiError> {
    let (uri, id) = picked(&pick)?;
    state.engine.unlink(&uri, &id).await.map_err(refused)?;
    tracing::info!(customer = %uri, record = %id, "Kept apart from the dashboard.");
    Ok(Redirect::to("/"))
}

fn picked(pick: &Pick) -> Result<(CustomerUri, CrmId), ApiError> {
    let (customer, record) = (pick.customer.trim(), pick.record.trim());
    if customer.is_empty() || record.is_empty() {
        return Err(ApiError::Page {
            status: StatusCode::BAD_REQUEST,
            title: "Both records are needed".to_owned(),
            message: "Fill in the 10to8 customer's URI and the CRM record's id, as the \
                      possible duplicate's status names them."
                .to_owned(),
        });
    }
    Ok((CustomerUri::from(customer), CrmId::from(record)))
}

fn refused(error: EngineError) -> ApiError {
    match error {
        EngineError::Refused(message) => ApiError::Page {
            status: StatusCode::BAD_REQUEST,
            title: "Not done".to_owned(),
            message,
        },
        other => ApiError::Engine(other),
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn check(name: &str, check: &Check) -> String {
    let class = if check.ok { "ok" } else { "bad" };
    let word = if check.ok { "OK" } else { "FAILING" };
    format!(
        "<tr><th>{}</th><td class=\"{class}\">{word}</td><td>{}</td></tr>",
        escape(name),
        escape(&check.detail)
    )
}

/// The dashboard body.
pub fn render(status: &Status) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<p class=\"muted\">Connector <strong>{}</strong> · state store <code>{}</code> · \
         as of {} · <a href=\"/api/status\">JSON</a> · <a href=\"/metrics\">metrics</a></p>",
        escape(&status.connector),
        escape(&status.store),
        time(status.at)
    );
    out.push_str("<h2>Connections</h2><table id=\"health\">");
    out.push_str(&check("10to8", &status.health.tte));
    out.push_str(&check(
        "10to8 notifications",
        &status.health.tte_notifications,
    ));
    out.push_str(&check(&status.connector, &status.health.crm));
    if let Some(reason) = &status.health.crm_reinstall_needed {
        let _ = write!(
            out,
            "<tr id=\"reinstall\"><th>Reinstall needed</th><td class=\"bad\">✗</td><td>{}</td></tr>",
            escape(reason)
        );
    }
    let _ = write!(
        out,
        "<tr><th>Changes arrive by</th><td></td><td id=\"changes\">{}</td></tr>",
        escape(&status.health.crm_changes)
    );
    if let Some(expires) = status.health.crm_token_expires_at {
        let _ = write!(
            out,
            "<tr><th>Access token expires</th><td></td><td>{}</td></tr>",
            time(expires)
        );
    }
    out.push_str("</table>");

    let inbox = &status.inbox;
    let _ = write!(
        out,
        "<h2>Inbox</h2><table id=\"inbox\"><tr><th>Waiting</th><td>{}</td></tr>\
         <tr><th>Due now</th><td>{}</td></tr><tr><th>Being processed</th><td>{}</td></tr>\
         <tr><th>Oldest</th><td>{}</td></tr></table>",
        inbox.depth,
        inbox.ready,
        inbox.claimed,
        inbox
            .oldest_enqueued_at
            .map_or_else(|| "—".to_owned(), time)
    );

    out.push_str("<h2>Last runs</h2>");
    if status.runs.is_empty() {
        out.push_str("<p class=\"muted\">No runs yet.</p>");
    } else {
        out.push_str("<table id=\"runs\"><tr><th>Kind</th><th>Started</th><th>Finished</th><th>Outcome</th><th>Summary</th></tr>");
        for run in &status.runs {
            let summary = run
                .summary
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(&format!("{:?}", run.kind).to_lowercase()),
                time(run.started_at),
                run.finished_at.map_or_else(|| "running".to_owned(), time),
                escape(&run.outcome.map(|o| format!("{o:?}")).unwrap_or_default()),
                escape(&summary)
            );
        }
        out.push_str("</table>");
    }

    let _ = write!(
        out,
        "<h2>Failing records ({})</h2>",
        status.failing_count + status.dead_letters.len() as u64
    );
    if status.dead_letters.is_empty() && status.failing.is_empty() {
        out.push_str("<p class=\"ok\">None.</p>");
    }
    if !status.dead_letters.is_empty() {
        out.push_str("<table id=\"dead-letters\"><tr><th>Side</th><th>Record</th><th>Reason</th><th>Attempts</th><th>Failed</th><th></th></tr>");
        for dead in &status.dead_letters {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"bad\">{}</td><td>{}</td><td>{}</td>\
                 <td><form method=\"post\" action=\"/dead-letters/{}/retry\">\
                 <button type=\"submit\">Retry</button></form></td></tr>",
                escape(&dead.side),
                escape(&dead.object_id),
                escape(&dead.error),
                dead.attempts,
                time(dead.failed_at),
                dead.id
            );
        }
        out.push_str("</table>");
    }
    reasons(&mut out, status, SyncStatus::Error, "failing-reasons");
    records_table(&mut out, "failing", "bad", &status.failing);

    let _ = write!(
        out,
        "<h2>Needs attention ({})</h2><p class=\"muted\">Designed outcomes, nothing failed: \
         a value the CRM refuses kept in 10to8, a possible duplicate waiting for a person, a \
         delete blocked by future bookings.</p>",
        status.attention_count
    );
    if status.attention.is_empty() {
        out.push_str("<p class=\"ok\">None.</p>");
    }
    reasons(&mut out, status, SyncStatus::Attention, "attention-reasons");
    records_table(&mut out, "attention", "", &status.attention);
    out.push_str(
        "<form id=\"resolve\" method=\"post\" action=\"/identity/link\"><p>Possible duplicate: \
         <input name=\"customer\" placeholder=\"10to8 customer URI\" size=\"50\"> \
         <input name=\"record\" placeholder=\"CRM record id\" size=\"12\"> \
         <button type=\"submit\">Link (same person)</button> \
         <button type=\"submit\" formaction=\"/identity/unlink\">Keep apart (different people)</button>\
         </p></form>",
    );

    out.push_str("<h2>Conflicts</h2>");
    activity_table(&mut out, "conflicts", &status.conflicts, "No conflicts.");
    out.push_str("<h2>Recent activity</h2>");
    activity_table(
        &mut out,
        "activity",
        &status.activity,
        "Nothing synced yet.",
    );
    out
}

/// The counts by reason of one state.
fn reasons(out: &mut String, status: &Status, state: SyncStatus, id: &str) {
    let rows: Vec<_> = status
        .reasons
        .iter()
        .filter(|r| r.status == state)
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<table id=\"{id}\"><tr><th>Reason</th><th>Records</th></tr>"
    );
    for reason in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(reason.label),
            reason.count
        );
    }
    out.push_str("</table>");
}

fn records_table(out: &mut String, id: &str, class: &str, records: &[RecordStatus]) {
    if records.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<table id=\"{id}\"><tr><th>Name</th><th>Side</th><th>Record</th><th>Reason</th><th>When</th></tr>"
    );
    for record in records {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td>{}</td></tr>",
            escape(&record.display_name),
            record.object.side,
            escape(&record.object.object_id),
            escape(&record.message),
            time(record.updated_at)
        );
    }
    out.push_str("</table>");
}

fn activity_table(
    out: &mut String,
    id: &str,
    entries: &[tte_sync_core::store::Activity],
    empty: &str,
) {
    if entries.is_empty() {
        let _ = write!(out, "<p class=\"muted\">{}</p>", escape(empty));
        return;
    }
    let _ = write!(
        out,
        "<table id=\"{id}\"><tr><th>When</th><th>Direction</th><th>Action</th><th>Name</th><th>Detail</th></tr>"
    );
    for entry in entries {
        let direction = match entry.direction {
            tte_sync_core::store::Direction::HubToCrm => "10to8 → CRM",
            tte_sync_core::store::Direction::CrmToHub => "CRM → 10to8",
            _ => "—",
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{direction}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            time(entry.at),
            escape(&format!("{:?}", entry.action).to_lowercase()),
            escape(&entry.display_name),
            escape(&entry.detail)
        );
    }
    out.push_str("</table>");
}
