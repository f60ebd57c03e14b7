//! The 10to8 simulator over real loopback HTTP: one test per status code, limit and body that
//! docs/simulator-tte.md documents, notification delivery, faults and the admin API.

mod tte_support;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tte_support::{Receiver, eventually};
use tte_sync_core::tte::CustomerPatch;
use tte_sync_core::tte::simulator::{Faults, RateLimit, TteSimConfig, TteSimulator};

const CUSTOMERS: &str = "/api/enterprise/v2/customer/";
const SUBSCRIPTIONS: &str = "/api/enterprise/v2/subscription/";
const CUSTOMER_ROUTE: &str = "/api/enterprise/v2/customer/{id}/";

struct Api {
    sim: TteSimulator,
    http: Client,
}

impl Api {
    async fn start(config: TteSimConfig) -> Self {
        Self {
            sim: TteSimulator::start(config, 0).await.unwrap(),
            http: Client::new(),
        }
    }

    async fn default() -> Self {
        Self::start(TteSimConfig::default()).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// A call with the simulator's key; the path may be absolute (a URI) or relative.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let response = self.raw(method, path, body, Some("token")).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        scheme: Option<&str>,
    ) -> reqwest::Response {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.url(path)
        };
        let mut request = self.http.request(method, url);
        if let Some(scheme) = scheme {
            request = request.header("Authorization", format!("{scheme} {}", self.sim.api_key()));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["resource_uri"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn token_auth_accepts_either_scheme_case_and_answers_401_otherwise() {
    let api = Api::default().await;
    for scheme in ["token", "Token"] {
        let response = api.raw(Method::GET, CUSTOMERS, None, Some(scheme)).await;
        assert_eq!(response.status(), StatusCode::OK, "{scheme}");
    }
    let response = api.raw(Method::GET, CUSTOMERS, None, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Token");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"detail": "Authentication credentials were not provided."})
    );
    let response = api
        .http
        .get(api.url(CUSTOMERS))
        .header("Authorization", "token wrong-key")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid token."})
    );
    let response = api
        .http
        .get(api.url(CUSTOMERS))
        .header("Authorization", format!("Bearer {}", api.sim.api_key()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn list_pages_with_default_and_maximum_limits_and_absolute_next_links() {
    let api = Api::default().await;
    api.sim.seed(1, 0, 250, false);
    let (status, page) = api.get(CUSTOMERS).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["count"], 250);
    assert_eq!(
        page["results"].as_array().unwrap().len(),
        20,
        "default limit"
    );
    assert_eq!(page["previous"], Value::Null);
    assert_eq!(
        page["next"],
        api.url(&format!("{CUSTOMERS}?limit=20&offset=20"))
    );
    let first = &page["results"][0];
    assert_eq!(first["resource_uri"], api.url(&format!("{CUSTOMERS}1/")));
    for field in ["name", "emails", "numbers", "custom_fields"] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }

    let (_, page) = api.get(&format!("{CUSTOMERS}?limit=500")).await;
    assert_eq!(page["results"].as_array().unwrap().len(), 100, "max limit");
    let (_, page) = api.get(&format!("{CUSTOMERS}?limit=abc")).await;
    assert_eq!(page["results"].as_array().unwrap().len(), 20);

    // `next` keeps every parameter and is followed verbatim to the end, in id order.
    let mut next = api.url(&format!("{CUSTOMERS}?include_deleted=True&limit=30&x=y"));
    let mut seen = Vec::new();
    loop {
        let (status, page) = api.get(&next).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(ids(&page));
        match page["next"].as_str() {
            Some(link) => {
                assert!(link.starts_with(&api.url(CUSTOMERS)), "{link}");
                assert!(link.contains("include_deleted=True") && link.contains("x=y"));
                next = link.to_owned();
            }
            None => break,
        }
    }
    let expected: Vec<_> = (1..=250)
        .map(|id| api.url(&format!("{CUSTOMERS}{id}/")))
        .collect();
    assert_eq!(seen, expected);

    let (_, page) = api.get(&format!("{CUSTOMERS}?limit=10&offset=15")).await;
    assert_eq!(ids(&page)[0], api.url(&format!("{CUSTOMERS}16/")));
    assert_eq!(
        page["previous"],
        api.url(&format!("{CUSTOMERS}?limit=10&offset=5"))
    );
    let (_, page) = api.get(&format!("{CUSTOMERS}?limit=10&offset=5")).await;
    assert_eq!(page["previous"], api.url(&format!("{CUSTOMERS}?limit=10")));
}

#[tokio::test]
async fn deleted_customers_are_listed_only_with_include_deleted_in_any_boolean_spelling() {
    let api = Api::default().await;
    api.sim.seed(1, 0, 5, false);
    api.sim.delete(2).unwrap();
    for spelling in ["true", "True", "1"] {
        let (status, page) = api
            .get(&format!("{CUSTOMERS}?include_deleted={spelling}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["count"], 5, "{spelling}");
        assert_eq!(page["results"][1]["deleted"], true);
        assert_eq!(page["results"][0]["deleted"], false);
    }
    for spelling in ["false", "False", "0"] {
        let (_, page) = api
            .get(&format!("{CUSTOMERS}?include_deleted={spelling}"))
            .await;
        assert_eq!(page["count"], 4, "{spelling}");
        assert!(!ids(&page).contains(&api.url(&format!("{CUSTOMERS}2/"))));
    }
    let (status, body) = api.get(&format!("{CUSTOMERS}?include_deleted=maybe")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"include_deleted": ["Must be a valid boolean."]})
    );
}

#[tokio::test]
async fn get_answers_the_customer_or_404_not_found() {
    let api = Api::default().await;
    let uri = api.sim.seed(1, 0, 2, false)[0].clone();
    let (status, body) = api.get(uri.as_str()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["resource_uri"], uri.as_str());
    assert_eq!(body["name"], api.sim.customer(1).unwrap().name);
    api.sim.delete(1).unwrap();
    for path in [
        uri.as_str().to_owned(),
        format!("{CUSTOMERS}999/"),
        format!("{CUSTOMERS}abc/"),
    ] {
        let (status, body) = api.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, json!({"detail": "Not found."}));
    }
}

#[tokio::test]
async fn create_answers_201_with_location_and_the_full_customer() {
    let api = Api::default().await;
    let response = api
        .raw(
            Method::POST,
            CUSTOMERS,
            Some(json!({
                "name": "Ada Lovelace",
                "emails": ["ada@analytical", "ada@example.com"],
                "numbers": ["+44 7700 900123"],
                "custom_fields": {"External ID": "17"},
                "resource_uri": "ignored",
                "unknown": 1
            })),
            Some("token"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(location, api.url(&format!("{CUSTOMERS}1/")));
    assert_eq!(body["resource_uri"], location);
    assert_eq!(body["emails"], json!(["ada@analytical", "ada@example.com"]));
    assert_eq!(body["custom_fields"], json!({"External ID": "17"}));
    let (_, page) = api.get(CUSTOMERS).await;
    assert_eq!(ids(&page), [location]);

    let (status, body) = api
        .call(
            Method::POST,
            CUSTOMERS,
            Some(json!({"name": "", "emails": [], "numbers": [], "custom_fields": {}})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "empty values are valid: {body}"
    );
}

#[tokio::test]
async fn invalid_bodies_are_answered_400_per_field() {
    let api = Api::default().await;
    let cases = [
        (json!({}), json!({"name": ["This field is required."]})),
        (
            json!({"name": "x", "emails": ["not-an-email"]}),
            json!({"emails": ["Enter a valid email address."]}),
        ),
        (
            json!({"name": "x", "emails": "a@b.c"}),
            json!({"emails": ["Expected a list of items but got type \"str\"."]}),
        ),
        (
            json!({"name": "x", "numbers": ["call me"]}),
            json!({"numbers": ["Enter a valid phone number."]}),
        ),
        (
            json!({"name": "x", "custom_fields": {"Age": 3}}),
            json!({"custom_fields": ["Value of \"Age\" must be a string."]}),
        ),
        (
            json!(["x"]),
            json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = api.call(Method::POST, CUSTOMERS, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer, expected, "{body}");
    }
    let response = api
        .http
        .post(api.url(CUSTOMERS))
        .header("Authorization", format!("token {}", api.sim.api_key()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error")
    );
    assert_eq!(api.sim.customers().len(), 0, "nothing was created");
}

#[tokio::test]
async fn patch_merges_custom_fields_per_key_and_replaces_lists() {
    let api = Api::default().await;
    let (_, created) = api
        .call(
            Method::POST,
            CUSTOMERS,
            Some(
                json!({"name": "A", "emails": ["a@x.com", "b@x.com"], "numbers": ["1"],
                        "custom_fields": {"External ID": "5", "Sync Status": "old"}}),
            ),
        )
        .await;
    let uri = created["resource_uri"].as_str().unwrap();
    let (status, body) = api
        .call(
            Method::PATCH,
            uri,
            Some(json!({"custom_fields": {"Sync Status": "Last synced: now"}, "emails": ["c@x.com"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["custom_fields"],
        json!({"External ID": "5", "Sync Status": "Last synced: now"})
    );
    assert_eq!(body["emails"], json!(["c@x.com"]));
    assert_eq!(body["numbers"], json!(["1"]), "unsent fields are kept");
    assert_eq!(body["name"], "A");

    let (status, body) = api
        .call(Method::PATCH, uri, Some(json!({"emails": ["nope"]})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"emails": ["Enter a valid email address."]}));

    api.call(Method::DELETE, uri, None).await;
    let (status, body) = api
        .call(Method::PATCH, uri, Some(json!({"name": "B"})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"detail": "Not found."}));
}

#[tokio::test]
async fn delete_without_force_is_refused_409_while_future_bookings_exist() {
    let api = Api::default().await;
    let uris = api.sim.seed(1, 0, 2, false);
    api.sim.set_future_bookings(1, 2).unwrap();
    for query in ["", "?force=False", "?force=0"] {
        let (status, body) = api
            .call(Method::DELETE, &format!("{}{query}", uris[0]), None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{query}");
        assert!(
            body["detail"].as_str().unwrap().contains("future"),
            "{body}"
        );
    }
    let response = api
        .raw(
            Method::DELETE,
            &format!("{}?force=True", uris[0]),
            None,
            Some("token"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.text().await.unwrap().is_empty());
    assert_eq!(api.get(uris[0].as_str()).await.0, StatusCode::NOT_FOUND);
    let (status, _) = api.call(Method::DELETE, uris[0].as_str(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "already deleted");
    let (status, _) = api.call(Method::DELETE, uris[1].as_str(), None).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "no bookings, no force needed"
    );
    assert!(api.sim.customer(2).unwrap().deleted);
}

#[tokio::test]
async fn subscriptions_are_created_listed_and_deleted_with_scope_customer_only() {
    let api = Api::default().await;
    let response = api
        .raw(
            Method::POST,
            SUBSCRIPTIONS,
            Some(json!({"callback_url": "https://hooks.example/tte", "scope": "customer"})),
            Some("token"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["resource_uri"], location);
    assert_eq!(created["callback_url"], "https://hooks.example/tte");
    assert_eq!(created["scope"], "customer");

    let (status, body) = api
        .call(
            Method::POST,
            SUBSCRIPTIONS,
            Some(json!({"callback_url": "https://hooks.example/tte", "scope": "booking"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"scope": ["\"booking\" is not a valid choice."]})
    );
    let (status, body) = api
        .call(
            Method::POST,
            SUBSCRIPTIONS,
            Some(json!({"callback_url": "not a url"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"callback_url": ["Enter a valid URL."], "scope": ["This field is required."]})
    );

    let (status, list) = api.get(SUBSCRIPTIONS).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["count"], 1);
    assert_eq!(list["results"][0], created);
    let (status, one) = api.get(&location).await;
    assert_eq!((status, one), (StatusCode::OK, created));
    assert_eq!(
        api.call(Method::DELETE, &location, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call(Method::DELETE, &location, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.get(SUBSCRIPTIONS).await.1["count"], 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_404_and_405() {
    let api = Api::default().await;
    let (status, body) = api.get("/api/enterprise/v2/event/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"detail": "Not found."}));
    let (status, body) = api.call(Method::PUT, CUSTOMERS, Some(json!({}))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body, json!({"detail": "Method \"PUT\" not allowed."}));
}

#[tokio::test]
async fn requests_above_the_rate_limit_get_429_with_retry_after_per_key() {
    let config = TteSimConfig {
        api_keys: vec!["key-a".into(), "key-b".into()],
        rate_limit: Some(RateLimit {
            requests: 3,
            window_secs: 3600,
        }),
        ..TteSimConfig::default()
    };
    let api = Api::start(config).await;
    let get = |key: &'static str| {
        api.http
            .get(api.url(CUSTOMERS))
            .header("Authorization", format!("token {key}"))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(get("key-a").await.unwrap().status(), StatusCode::OK);
    }
    let response = get("key-a").await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"detail": format!("Request was throttled. Expected available in {wait} seconds.")})
    );
    assert_eq!(
        get("key-b").await.unwrap().status(),
        StatusCode::OK,
        "per key"
    );
    let stats = api.sim.stats();
    assert_eq!(stats.throttled, 1);
    assert_eq!(stats.with_status(429), 1);
    assert_eq!(stats.count("GET", CUSTOMERS), 5);
}

#[tokio::test]
async fn injected_storms_errors_and_latency_apply_to_api_requests() {
    let api = Api::default().await;
    let faults = json!({"throttle_next": 2, "throttle_retry_after_secs": 7, "latency_ms": 1});
    let response = api
        .http
        .put(api.url("/_sim/faults"))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    for _ in 0..2 {
        let response = api.raw(Method::GET, CUSTOMERS, None, Some("token")).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "7");
    }
    assert_eq!(
        api.get(CUSTOMERS).await.0,
        StatusCode::OK,
        "the storm passed"
    );
    assert_eq!(api.sim.faults().throttle_next, 0);

    api.sim.set_faults(Faults {
        error_rate_percent: 100,
        ..Faults::default()
    });
    let response = api.raw(Method::GET, CUSTOMERS, None, Some("token")).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.text().await.unwrap().contains("Server Error"));
    let cleared = api
        .http
        .delete(api.url("/_sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    assert_eq!(api.get(CUSTOMERS).await.0, StatusCode::OK);
    assert_eq!(api.sim.stats().throttled, 2);
}

#[tokio::test]
async fn every_change_is_notified_in_batches_with_basic_auth_from_the_callback_url() {
    let config = TteSimConfig {
        notification_batch_window_ms: 500,
        ..TteSimConfig::default()
    };
    let api = Api::start(config).await;
    let receiver = Receiver::start().await;
    let (status, _) = api
        .call(
            Method::POST,
            SUBSCRIPTIONS,
            Some(json!({"callback_url": receiver.url(Some("hook:p%40ss%20word")), "scope": "customer"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // Five changes queued at once arrive as one batch.
    let seeded = api.sim.seed(3, 0, 5, true);
    eventually("the seeded batch", || receiver.received().len() == 1).await;
    let first = &receiver.received()[0];
    assert_eq!(first.body["scope"], "customer");
    let items: Vec<_> = seeded.iter().map(|u| json!(u.as_str())).collect();
    assert_eq!(first.body["items"], Value::Array(items));
    assert_eq!(
        first.authorization.as_deref(),
        Some("Basic aG9vazpwQHNzIHdvcmQ=")
    );

    // API create, update and delete, and an edit in the app, are all notified.
    let (_, created) = api
        .call(Method::POST, CUSTOMERS, Some(json!({"name": "New"})))
        .await;
    let uri = created["resource_uri"].as_str().unwrap().to_owned();
    api.call(Method::PATCH, &uri, Some(json!({"name": "Newer"})))
        .await;
    api.call(Method::DELETE, seeded[0].as_str(), None).await;
    api.sim
        .edit(
            2,
            &CustomerPatch {
                name: Some("Edited".into()),
                ..CustomerPatch::default()
            },
        )
        .unwrap();
    let count = |items: &[String], uri: &str| items.iter().filter(|i| *i == uri).count();
    eventually("every change", || {
        let items = receiver.items();
        items.contains(&uri) && count(&items, &seeded[0].0) == 2 && count(&items, &seeded[1].0) == 2
    })
    .await;
    // The receiver records a POST before answering it; the simulator counts it after.
    eventually("every delivery counted", || {
        api.sim.stats().notifications.delivered as usize == receiver.received().len()
    })
    .await;
    assert_eq!(api.sim.stats().notifications.failed_attempts, 0);
}

#[tokio::test]
async fn failed_and_stalled_notifications_are_retried_with_backoff() {
    let config = TteSimConfig {
        notification_batch_window_ms: 10,
        notification_retry_base_ms: 10,
        notification_timeout_ms: 300,
        notification_retries: 4,
        ..TteSimConfig::default()
    };
    let api = Api::start(config).await;
    let receiver = Receiver::start().await;
    api.call(
        Method::POST,
        SUBSCRIPTIONS,
        Some(json!({"callback_url": receiver.url(None), "scope": "customer"})),
    )
    .await;
    receiver.stall_next(1);
    receiver.fail_next(2);
    let uri = api.sim.seed(1, 0, 1, true).remove(0);
    eventually("delivery after retries", || {
        receiver.items() == [uri.as_str().to_owned()]
    })
    .await;
    eventually("the delivery counted", || {
        api.sim.stats().notifications.delivered == 1
    })
    .await;
    let stats = api.sim.stats().notifications;
    assert!(stats.failed_attempts >= 3, "{stats:?}");
    assert_eq!(stats.abandoned, 0);

    // A callback that never accepts is abandoned after the configured retries.
    receiver.fail_next(100);
    api.sim.seed(1, 1, 1, true);
    eventually("abandoned", || api.sim.stats().notifications.abandoned == 1).await;
    assert_eq!(
        api.sim.stats().notifications.failed_attempts,
        stats.failed_attempts + 5
    );
}

#[tokio::test]
async fn dropped_and_duplicated_notifications_can_be_injected() {
    let config = TteSimConfig {
        notification_batch_window_ms: 10,
        ..TteSimConfig::default()
    };
    let api = Api::start(config).await;
    let receiver = Receiver::start().await;
    api.call(
        Method::POST,
        SUBSCRIPTIONS,
        Some(json!({"callback_url": receiver.url(None), "scope": "customer"})),
    )
    .await;
    api.sim.set_faults(Faults {
        drop_notifications_percent: 100,
        ..Faults::default()
    });
    api.sim.seed(1, 0, 1, true);
    eventually("dropped", || api.sim.stats().notifications.dropped == 1).await;
    assert!(receiver.received().is_empty());
    api.sim.set_faults(Faults {
        duplicate_notifications_percent: 100,
        ..Faults::default()
    });
    let uri = api.sim.seed(1, 1, 1, true).remove(0);
    eventually("duplicated", || receiver.received().len() == 2).await;
    assert_eq!(receiver.items(), [uri.0.clone(), uri.0]);
    assert_eq!(api.sim.stats().notifications.duplicated, 1);
}

#[tokio::test]
async fn the_admin_api_seeds_edits_merges_deletes_and_reports() {
    let api = Api::default().await;
    let admin = |method: Method, path: &str| api.http.request(method, api.url(path));
    let response = admin(Method::POST, "/_sim/seed")
        .json(&json!({"seed": 4, "count": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["created"].clone(), body["last_id"].clone()),
        (json!(3), json!(3))
    );
    let expected = tte_sync_core::simulate::people(4, 0, 1).next().unwrap();
    let (_, first) = api.get(&format!("{CUSTOMERS}1/")).await;
    assert_eq!(first["name"], expected.full_name());
    assert_eq!(first["emails"], json!(expected.emails));

    let edited: Value = admin(Method::PATCH, "/_sim/customers/1")
        .json(&json!({"custom_fields": {"External ID": "101"}, "emails": ["one@x.com"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(edited["custom_fields"]["External ID"], "101");
    api.sim
        .edit(
            2,
            &CustomerPatch {
                emails: Some(vec!["two@x.com".into(), "ONE@x.com".into()]),
                custom_fields: Some([("External ID".to_owned(), "202".to_owned())].into()),
                ..CustomerPatch::default()
            },
        )
        .unwrap();
    api.sim.set_future_bookings(3, 1).unwrap();
    let merged: Value = admin(Method::POST, "/_sim/merge")
        .json(&json!({"survivor": 1, "others": [2, 3]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(merged["custom_fields"]["External ID"], "101, 202");
    let emails = merged["emails"].as_array().unwrap();
    assert_eq!(emails[0], "one@x.com");
    assert_eq!(emails[1], "two@x.com");
    assert_eq!(
        merged["future_bookings"], 1,
        "bookings move to the survivor"
    );
    assert_eq!(
        api.get(&format!("{CUSTOMERS}2/")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get(&format!("{CUSTOMERS}3/")).await.0,
        StatusCode::NOT_FOUND
    );

    let bookings = admin(Method::PUT, "/_sim/customers/1/future-bookings")
        .json(&json!({"count": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(bookings.status(), StatusCode::NO_CONTENT);
    let deleted = admin(Method::DELETE, "/_sim/customers/1")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let one: Value = admin(Method::GET, "/_sim/customers/1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["deleted"], true);

    let state: Value = admin(Method::GET, "/_sim/state")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (state["customers"].clone(), state["live"].clone()),
        (json!(3), json!(0))
    );
    let all: Value = admin(Method::GET, "/_sim/customers?include_deleted=true")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3);

    let stats: Value = admin(Method::GET, "/_sim/stats")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let requests = stats["requests"].as_array().unwrap();
    assert!(
        requests.contains(
            &json!({"method": "GET", "route": CUSTOMER_ROUTE, "status": 200, "count": 1})
        ),
        "{stats}"
    );
    assert!(
        requests.contains(
            &json!({"method": "GET", "route": CUSTOMER_ROUTE, "status": 404, "count": 2})
        ),
        "{stats}"
    );
    assert!(
        requests
            .iter()
            .all(|r| !r["route"].as_str().unwrap().starts_with("/_sim"))
    );
    let reset = admin(Method::DELETE, "/_sim/stats").send().await.unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(api.sim.stats().total(), 0);

    let limit = admin(Method::PUT, "/_sim/rate-limit")
        .json(&json!({"requests": 1, "window_secs": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(limit.status(), StatusCode::OK);
    assert_eq!(api.get(CUSTOMERS).await.0, StatusCode::OK);
    assert_eq!(api.get(CUSTOMERS).await.0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_hundred_thousand_customers_fit_and_page() {
    let api = Api::default().await;
    api.sim.seed(9, 0, 100_000, false);
    let (status, page) = api
        .get(&format!("{CUSTOMERS}?limit=100&offset=99900"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["count"], 100_000);
    assert_eq!(page["results"].as_array().unwrap().len(), 100);
    assert_eq!(page["next"], Value::Null);
    assert_eq!(
        page["results"][99]["resource_uri"],
        api.url(&format!("{CUSTOMERS}100000/"))
    );
}
