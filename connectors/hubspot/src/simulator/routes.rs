//! The simulator's route table. The CRM table is written once and mounted twice: under the
//! numbered prefixes (`/crm/v3/objects`, `/crm/v3/properties`) and under the date-based ones
//! (`/crm/objects/{version}`, `/crm/properties/{version}`), where [`super::versions::guard`]
//! answers 404 for a date the simulator does not serve.

use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde_json::json;

use super::errors::{ApiError, json_response};
use super::state::iso;
use super::{
    SimState, admin, auth, batch, contacts, journal_api, oauth, oauth_dated, properties, search,
    stats, versions, webhooks,
};

async fn fallback(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::no_route(method.as_str(), uri.path())
}

async fn empty_schemas() -> Response {
    json_response(StatusCode::OK, &json!({ "results": [] }))
}

async fn empty_associations(State(sim): State<SimState>) -> Response {
    let now = iso(sim.now_ms());
    json_response(
        StatusCode::OK,
        &json!({ "status": "COMPLETE", "results": [], "startedAt": now, "completedAt": now }),
    )
}

/// The objects and properties routes under one pair of prefixes (`objects` and `properties`
/// each end in `{object_type}`).
fn crm_table(objects: &str, properties: &str) -> Router<SimState> {
    Router::new()
        .route(objects, get(contacts::list).post(contacts::create))
        .route(&format!("{objects}/search"), post(search::search))
        .route(&format!("{objects}/merge"), post(contacts::merge))
        .route(
            &format!("{objects}/gdpr-delete"),
            post(contacts::gdpr_delete),
        )
        .route(&format!("{objects}/batch/read"), post(contacts::batch_read))
        .route(&format!("{objects}/batch/create"), post(batch::create))
        .route(&format!("{objects}/batch/update"), post(batch::update))
        .route(&format!("{objects}/batch/upsert"), post(batch::upsert))
        .route(&format!("{objects}/batch/archive"), post(batch::archive))
        .route(
            &format!("{objects}/{{id}}"),
            get(contacts::get)
                .patch(contacts::update)
                .delete(contacts::archive),
        )
        .route(properties, get(properties::list).post(properties::create))
        .route(
            &format!("{properties}/groups"),
            get(properties::list_groups),
        )
        .route(
            &format!("{properties}/groups/{{group_name}}"),
            get(properties::get_group),
        )
        .route(
            &format!("{properties}/{{name}}"),
            get(properties::get)
                .patch(properties::update)
                .delete(properties::archive),
        )
}

fn crm(sim: &SimState) -> Router<SimState> {
    crm_table(
        "/crm/v3/objects/{object_type}",
        "/crm/v3/properties/{object_type}",
    )
    .merge(crm_table(
        "/crm/objects/{version}/{object_type}",
        "/crm/properties/{version}/{object_type}",
    ))
    .route("/crm/v3/schemas", get(empty_schemas))
    .route(
        "/properties/v2/contact/properties",
        get(properties::list_v2),
    )
    .route(
        "/crm/v4/associations/{from}/{to}/batch/read",
        post(empty_associations),
    )
    .route_layer(from_fn_with_state(sim.clone(), auth::crm_guard))
}

/// The webhook management API of a legacy public app (developer API key), under one prefix
/// ending in `{app_id}`.
fn developer_table(app: &str) -> Router<SimState> {
    Router::new()
        .route(
            &format!("{app}/settings"),
            get(webhooks::get_settings)
                .put(webhooks::put_settings)
                .delete(webhooks::delete_settings),
        )
        .route(
            &format!("{app}/subscriptions"),
            get(webhooks::list_subscriptions).post(webhooks::create_subscription),
        )
        .route(
            &format!("{app}/subscriptions/batch/update"),
            post(webhooks::batch_update_subscriptions),
        )
        .route(
            &format!("{app}/subscriptions/{{id}}"),
            get(webhooks::get_subscription)
                .patch(webhooks::patch_subscription)
                .delete(webhooks::delete_subscription),
        )
}

/// The management API at v3, at 2026-03 (`/webhooks/2026-03/…`) and at 2026-09, where HubSpot
/// renamed it `/app-webhooks/2026-09/…`.
fn developer(sim: &SimState) -> Router<SimState> {
    developer_table("/webhooks/v3/{app_id}")
        .merge(developer_table("/webhooks/2026-03/{app_id}"))
        .merge(developer_table("/app-webhooks/2026-09/{app_id}"))
        .route_layer(from_fn_with_state(sim.clone(), auth::developer_guard))
}

fn oauth_routes() -> Router<SimState> {
    Router::new()
        .route("/oauth/authorize", get(oauth::authorize))
        .route("/oauth/{portal_id}/authorize", get(oauth::authorize))
        .route("/oauth/v1/token", post(oauth::token))
        .route("/oauth/v3/token", post(oauth::token))
        .route(
            "/oauth/v1/access-tokens/{token}",
            get(oauth::access_token_info),
        )
        .route(
            "/oauth/v1/refresh-tokens/{token}",
            get(oauth::refresh_token_info).delete(oauth::delete_refresh_token),
        )
        .route("/oauth/{version}/token", post(oauth_dated::token))
        .route(
            "/oauth/{version}/token/introspect",
            post(oauth_dated::introspect),
        )
        .route("/oauth/{version}/token/revoke", post(oauth_dated::revoke))
        .route(
            "/appinstalls/{version}/external-install",
            delete(oauth_dated::uninstall),
        )
}

fn journal(sim: &SimState) -> Router<SimState> {
    let subscriptions = "/webhooks-journal/subscriptions/{version}";
    let entries = "/webhooks-journal/journal/{version}";
    Router::new()
        .route(
            subscriptions,
            get(journal_api::list_subscriptions).post(journal_api::create_subscription),
        )
        .route(
            &format!("{subscriptions}/{{subscription_id}}"),
            get(journal_api::get_subscription).delete(journal_api::delete_subscription),
        )
        .route(
            &format!("{subscriptions}/portals/{{portal_id}}"),
            delete(journal_api::delete_portal_subscriptions),
        )
        .route(&format!("{entries}/earliest"), get(journal_api::earliest))
        .route(&format!("{entries}/latest"), get(journal_api::latest))
        .route(
            &format!("{entries}/offset/{{offset}}/next"),
            get(journal_api::next),
        )
        .route(
            &format!("{entries}/batch/earliest/{{count}}"),
            get(journal_api::batch_earliest),
        )
        .route(
            &format!("{entries}/batch/latest/{{count}}"),
            get(journal_api::batch_latest),
        )
        .route(
            &format!("{entries}/batch/{{offset}}/next/{{count}}"),
            get(journal_api::batch_next),
        )
        .route_layer(from_fn_with_state(sim.clone(), journal_api::guard))
        .route(journal_api::FILE_ROUTE, get(journal_api::file))
}

/// The simulator's router.
pub fn router(sim: SimState) -> Router {
    Router::new()
        .merge(crm(&sim))
        .merge(developer(&sim))
        .merge(oauth_routes())
        .merge(journal(&sim))
        .merge(admin::router())
        .fallback(fallback)
        .layer(from_fn(versions::guard))
        .layer(from_fn_with_state(sim.clone(), stats::count))
        .with_state(sim)
}
