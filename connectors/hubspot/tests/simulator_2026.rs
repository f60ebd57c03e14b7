//! Tests of what the HubSpot simulator speaks of the 2026 platform, over real loopback HTTP:
//! the date-based paths, the project-app static token, Service Keys, OAuth 2026-09 (client
//! credentials, introspect, revoke, uninstall), the portal's validation rules with 207 and
//! trace ids, date warnings, and the Webhooks Journal.

use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tte_sync_hubspot::simulator::{
    ConditionalRule, DEFAULT_PRIVATE_APP_TOKEN, DEFAULT_SERVICE_KEY, DEFAULT_STATIC_APP_TOKEN,
    HubSpotSimulator, RateLimits, RuleCondition, SimulatorConfig, ValidationRules,
    service_key_source_id,
};

const V26: &str = "/crm/objects/2026-09/contacts";
const V2603: &str = "/crm/objects/2026-03/contacts";
const V3: &str = "/crm/v3/objects/contacts";
const JOURNAL: &str = "/webhooks-journal/journal/2026-09";
const SUBSCRIPTIONS: &str = "/webhooks-journal/subscriptions/2026-09";

struct Harness {
    sim: HubSpotSimulator,
    http: Client,
}

impl Harness {
    async fn start() -> Self {
        Self::with(SimulatorConfig {
            rate_limits: RateLimits::off(),
            ..SimulatorConfig::default()
        })
        .await
    }

    async fn with(config: SimulatorConfig) -> Self {
        Self {
            sim: HubSpotSimulator::start(config, 0).await.expect("binds"),
            http: Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("simulator answers");
        let status = response.status();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(DEFAULT_STATIC_APP_TOKEN, method, path, body)
            .await
    }

    async fn form(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        self.send(self.http.post(self.url(path)).form(form)).await
    }

    async fn client_credentials(&self, scope: &str) -> String {
        let config = self.sim.config();
        let (status, body) = self
            .form(
                "/oauth/2026-09/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &config.client_id),
                    ("client_secret", &config.client_secret),
                    ("scope", scope),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().expect("token").to_owned()
    }

    async fn journal_token(&self) -> String {
        self.client_credentials(
            "developer.webhooks_journal.read developer.webhooks_journal.subscriptions.write",
        )
        .await
    }

    async fn subscribe(&self, token: &str, actions: &[&str], properties: &[&str]) -> Value {
        let (status, body) = self
            .call_as(
                token,
                Method::POST,
                SUBSCRIPTIONS,
                Some(json!({
                    "subscriptionType": "OBJECT",
                    "portalId": self.sim.config().portal_id,
                    "objectTypeId": "0-1",
                    "actions": actions,
                    "properties": properties,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Reads every journal entry from the earliest and returns the events of their files.
    async fn journal_events(&self, token: &str) -> Vec<Value> {
        let (status, body) = self
            .call_as(
                token,
                Method::GET,
                &format!("{JOURNAL}/batch/earliest/100"),
                None,
            )
            .await;
        if status == StatusCode::NO_CONTENT {
            return Vec::new();
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut events = Vec::new();
        for result in body["results"].as_array().expect("results") {
            let file = self.file(result["url"].as_str().expect("url")).await;
            assert_eq!(file["offset"], result["currentOffset"]);
            events.extend(
                file["journalEvents"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        events
    }

    async fn file(&self, url: &str) -> Value {
        let (status, body) = self.send(self.http.get(url)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn create(&self, path: &str, properties: Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            path,
            Some(json!({ "properties": properties })),
        )
        .await
    }
}

fn assert_validation_error(body: &Value, code: &str, property: &str) {
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["category"], "VALIDATION_ERROR", "{body}");
    assert_eq!(body["errors"][0]["code"], code, "{body}");
    assert_eq!(
        body["errors"][0]["context"]["propertyName"][0], property,
        "{body}"
    );
}

#[tokio::test]
async fn dated_paths_answer_like_v3_and_stats_name_the_version() {
    let h = Harness::start().await;
    let (status, created) = h
        .create(
            V26,
            json!({ "email": "dated@example.com", "firstname": "Dee" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    for base in [V26, V2603, V3] {
        let (status, one) = h.call(Method::GET, &format!("{base}/{id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{base}: {one}");
        assert_eq!(one["properties"]["email"], "dated@example.com");
    }
    let (status, page) = h.call(Method::GET, &format!("{V26}?limit=1"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["results"].as_array().unwrap().len(), 1);
    let search = json!({ "filterGroups": [{ "filters": [
        { "propertyName": "email", "operator": "EQ", "value": "dated@example.com" }] }] });
    let (status, found) = h
        .call(Method::POST, &format!("{V26}/search"), Some(search))
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["total"], 1);
    let (status, read) = h
        .call(
            Method::POST,
            &format!("{V26}/batch/read"),
            Some(
                json!({ "inputs": [{ "id": "dated@example.com" }], "idProperty": "email",
                         "properties": ["email"], "propertiesWithHistory": [] }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["results"][0]["id"], id);
    let (status, properties) = h
        .call(Method::GET, "/crm/properties/2026-09/contacts", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(properties["results"].as_array().unwrap().len() > 5);
    let (status, email) = h
        .call(Method::GET, "/crm/properties/2026-09/0-1/email", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(email["name"], "email");
    let (status, groups) = h
        .call(Method::GET, "/crm/properties/2026-09/contacts/groups", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(groups["results"][0]["name"], "contactinformation");
    let (status, _) = h
        .call(
            Method::GET,
            "/crm/properties/2026-03/contacts/groups/contactinformation",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, missing) = h
        .call(Method::GET, "/crm/objects/2025-09/contacts", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert_eq!(missing["category"], "OBJECT_NOT_FOUND");

    let stats = h.sim.stats();
    assert!(
        stats.requests_on("POST /crm/objects/2026-09/{object_type}/search") == 1,
        "{:?}",
        stats.requests
    );
    assert_eq!(
        stats.requests_on("GET /crm/objects/2026-03/{object_type}/{id}"),
        1
    );
    assert_eq!(
        stats.requests_on("GET /crm/objects/2025-09/{object_type}"),
        1
    );
    assert!(
        stats
            .requests
            .iter()
            .all(|r| !r.route.contains("{version}"))
    );
}

#[tokio::test]
async fn object_types_match_in_any_letter_case_on_every_version() {
    let h = Harness::start().await;
    for path in [
        "/crm/v3/objects/Contacts",
        "/crm/v3/objects/CONTACT",
        "/crm/objects/2026-09/Contacts",
        "/crm/objects/2026-03/0-1",
        "/crm/v3/properties/Contacts",
        "/crm/properties/2026-09/CONTACTS",
    ] {
        let (status, body) = h.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (status, body) = h
        .call(Method::GET, "/crm/objects/2026-09/companies", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn validation_rules_apply_only_on_2026_09() {
    let h = Harness::start().await;
    h.sim.set_validation_rules(ValidationRules {
        required_on_create: vec!["company".into()],
        conditional: vec![ConditionalRule {
            property: "jobtitle".into(),
            when: RuleCondition {
                property: "lifecyclestage".into(),
                equals: "customer".into(),
            },
        }],
    });
    for base in [V3, V2603] {
        let (status, body) = h
            .create(
                base,
                json!({ "email": format!("old{}@example.com", base.len()) }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{base}: {body}");
    }
    let (status, body) = h.create(V26, json!({ "email": "new@example.com" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_validation_error(&body, "MISSING_REQUIRED_PROPERTY", "company");
    assert_eq!(body["message"], "A value for company must be provided");
    assert_eq!(body["correlationId"].as_str().unwrap().len(), 36);

    let (status, created) = h
        .create(
            V26,
            json!({ "email": "new@example.com", "company": "Acme" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, body) = h
        .call(
            Method::PATCH,
            &format!("{V26}/{id}"),
            Some(json!({ "properties": { "lifecyclestage": "customer" } })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_validation_error(&body, "MISSING_CONDITIONAL_REQUIRED_PROPERTY", "jobtitle");
    assert_eq!(
        body["message"],
        "jobtitle is required because of a conditional property rule based on [lifecyclestage]"
    );
    let (status, _) = h
        .call(
            Method::PATCH,
            &format!("{V2603}/{id}"),
            Some(json!({ "properties": { "lifecyclestage": "customer" } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "2026-03 ignores the rules");

    let rules = json!({ "required_on_create": ["nosuchproperty"] });
    let response = h
        .http
        .put(h.url("/_sim/validation-rules"))
        .json(&rules)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = h
        .http
        .put(h.url("/_sim/validation-rules"))
        .json(&json!({ "required_on_create": ["firstname"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(h.sim.validation_rules().required_on_create, ["firstname"]);
}

#[tokio::test]
async fn batch_rule_violations_are_207_with_trace_ids_and_400_without() {
    let h = Harness::start().await;
    h.sim.set_validation_rules(ValidationRules {
        required_on_create: vec!["company".into()],
        ..ValidationRules::default()
    });
    let inputs = |traced: bool| {
        let input = |n: usize, company: Option<&str>| {
            let mut properties = json!({ "email": format!("b{n}-{traced}@example.com") });
            if let Some(company) = company {
                properties["company"] = json!(company);
            }
            let mut input = json!({ "properties": properties });
            if traced {
                input["objectWriteTraceId"] = json!(format!("trace-{n}"));
            }
            input
        };
        json!({ "inputs": [input(0, Some("Acme")), input(1, None), input(2, Some("Beta"))] })
    };
    let before = h.sim.contact_count();
    let (status, body) = h
        .call(
            Method::POST,
            &format!("{V26}/batch/create"),
            Some(inputs(false)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_validation_error(&body, "MISSING_REQUIRED_PROPERTY", "company");
    assert_eq!(h.sim.contact_count(), before, "nothing written");

    let (status, body) = h
        .call(
            Method::POST,
            &format!("{V26}/batch/create"),
            Some(inputs(true)),
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(body["numErrors"], 1);
    let error = &body["errors"][0];
    assert_eq!(error["category"], "VALIDATION_ERROR");
    assert_eq!(error["context"]["objectWriteTraceId"][0], "trace-1");
    assert_eq!(error["errors"][0]["code"], "MISSING_REQUIRED_PROPERTY");
    let traces: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["objectWriteTraceId"].as_str().unwrap())
        .collect();
    assert_eq!(traces, ["trace-0", "trace-2"]);
    assert_eq!(h.sim.contact_count(), before + 2);

    let (status, body) = h
        .call(
            Method::POST,
            "/crm/v3/objects/contacts/batch/create",
            Some(inputs(false)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "v3 ignores the rules: {body}");

    // Updates: a conditional rule, traced per input.
    h.sim.set_validation_rules(ValidationRules {
        conditional: vec![ConditionalRule {
            property: "jobtitle".into(),
            when: RuleCondition {
                property: "lifecyclestage".into(),
                equals: "customer".into(),
            },
        }],
        ..ValidationRules::default()
    });
    let ids: Vec<String> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let update = json!({ "inputs": [
        { "id": ids[0], "properties": { "lifecyclestage": "customer", "jobtitle": "CEO" }, "objectWriteTraceId": "u0" },
        { "id": ids[1], "properties": { "lifecyclestage": "customer" }, "objectWriteTraceId": "u1" },
    ] });
    let (status, body) = h
        .call(Method::POST, &format!("{V26}/batch/update"), Some(update))
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(body["errors"][0]["context"]["objectWriteTraceId"][0], "u1");
    assert_eq!(
        body["errors"][0]["errors"][0]["code"],
        "MISSING_CONDITIONAL_REQUIRED_PROPERTY"
    );
    assert_eq!(body["results"][0]["objectWriteTraceId"], "u0");

    // Upserts that create meet required_on_create; keyed by email they never go partial.
    h.sim.set_validation_rules(ValidationRules {
        required_on_create: vec!["company".into()],
        ..ValidationRules::default()
    });
    let upsert = json!({ "inputs": [
        { "id": "up-new@example.com", "idProperty": "email", "properties": { "firstname": "N" }, "objectWriteTraceId": "x0" },
    ] });
    let (status, body) = h
        .call(
            Method::POST,
            &format!("{V26}/batch/upsert"),
            Some(upsert.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_validation_error(&body, "MISSING_REQUIRED_PROPERTY", "company");
    let (status, body) = h
        .call(Method::POST, &format!("{V2603}/batch/upsert"), Some(upsert))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["new"], true);
}

#[tokio::test]
async fn loose_dates_are_normalised_with_a_warning_on_2026_09_only() {
    let h = Harness::start().await;
    let (status, body) = h
        .call(
            Method::POST,
            "/crm/properties/2026-09/contacts",
            Some(
                json!({ "name": "renewal_date", "label": "Renewal", "type": "date",
                         "fieldType": "date", "groupName": "contactinformation" }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = h
        .create(
            V26,
            json!({ "email": "d@example.com", "renewal_date": "2026-10-01T13:45:00Z" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["properties"]["renewal_date"], "2026-10-01");
    let warning = &body["warnings"][0];
    assert_eq!(warning["category"], "PROPERTY_VALUE_NORMALIZED", "{body}");
    assert_eq!(warning["context"]["propertyName"], "renewal_date");
    assert_eq!(warning["context"]["rawValue"], "2026-10-01T13:45:00Z");
    assert_eq!(warning["context"]["normalizedValue"], "2026-10-01");

    let (status, body) = h
        .create(
            V3,
            json!({ "email": "e@example.com", "renewal_date": "2026-10-01T13:45:00Z" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.get("warnings").is_none(), "{body}");
}

#[tokio::test]
async fn static_tokens_and_service_keys_write_as_integrations() {
    let h = Harness::start().await;
    let token = h.journal_token().await;
    h.subscribe(&token, &["CREATE", "UPDATE"], &["firstname"])
        .await;
    let (status, _) = h
        .create(V26, json!({ "email": "s@example.com", "firstname": "S" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = h
        .call_as(
            DEFAULT_SERVICE_KEY,
            Method::POST,
            V26,
            Some(json!({ "properties": { "email": "k@example.com", "firstname": "K" } })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let events = h.journal_events(&token).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["changeSource"], "INTEGRATION");
    assert_eq!(events[0]["sourceId"], h.sim.config().app_id.to_string());
    assert_eq!(events[1]["changeSource"], "INTEGRATION");
    assert_eq!(
        events[1]["sourceId"],
        service_key_source_id(DEFAULT_SERVICE_KEY)
    );
    assert_eq!(
        service_key_source_id(DEFAULT_SERVICE_KEY),
        "serviceKey:00000006"
    );
}

#[tokio::test]
async fn the_journal_and_webhook_management_refuse_what_hubspot_refuses() {
    let h = Harness::start().await;
    let app = h.sim.config().app_id;
    let key = h.sim.config().developer_api_key.clone();
    for token in [
        DEFAULT_SERVICE_KEY,
        DEFAULT_STATIC_APP_TOKEN,
        DEFAULT_PRIVATE_APP_TOKEN,
    ] {
        for path in [format!("{JOURNAL}/earliest"), SUBSCRIPTIONS.to_owned()] {
            let (status, body) = h.call_as(token, Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{token} {path}: {body}");
            assert_eq!(body["status"], "error");
            assert!(body["correlationId"].is_string());
        }
    }
    let (status, body) = h
        .call_as(
            DEFAULT_SERVICE_KEY,
            Method::GET,
            &format!("/webhooks/v3/{app}/subscriptions"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = h
        .send(h.http.get(h.url(&format!(
            "/webhooks/v3/{app}/subscriptions?hapikey={DEFAULT_SERVICE_KEY}"
        ))))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h
        .send(
            h.http
                .get(h.url(&format!("/webhooks/v3/{app}/subscriptions?hapikey={key}"))),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.call_as(DEFAULT_SERVICE_KEY, Method::GET, V26, None).await;
    assert_eq!(status, StatusCode::OK, "service keys do REST");

    let cc = h.journal_token().await;
    let (status, body) = h.call_as(&cc, Method::GET, V26, None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an app token is not an account's: {body}"
    );
    let read_only = h
        .client_credentials("developer.webhooks_journal.read")
        .await;
    let (status, body) = h
        .call_as(&read_only, Method::POST, SUBSCRIPTIONS, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["category"], "MISSING_SCOPES");
    let (status, _) = h
        .call_as(
            "cc-unknown",
            Method::GET,
            &format!("{JOURNAL}/earliest"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn client_credentials_tokens_expire_on_the_simulated_clock_and_introspect() {
    let h = Harness::start().await;
    let config = h.sim.config().clone();
    let (status, body) = h
        .form(
            "/oauth/2026-09/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &config.client_id),
                ("client_secret", &config.client_secret),
                ("scope", "developer.webhooks_journal.read"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_use"], "client_credentials");
    assert_eq!(body["expires_in"], 1800);
    assert_eq!(body["token_type"], "bearer");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();

    let introspect = |token: String| {
        let config = config.clone();
        let h = &h;
        async move {
            h.form(
                "/oauth/2026-09/token/introspect",
                &[
                    ("client_id", &config.client_id),
                    ("client_secret", &config.client_secret),
                    ("token", &token),
                    ("token_type_hint", "access_token"),
                ],
            )
            .await
        }
    };
    let (status, info) = introspect(token.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["token_use"], "client_credentials");
    assert_eq!(info["app_id"], config.app_id);
    let (_, info) = introspect("nonsense".into()).await;
    assert_eq!(info, json!({ "active": false }));

    let (status, _) = h
        .call_as(&token, Method::GET, &format!("{JOURNAL}/earliest"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    h.sim.advance_clock(Duration::from_secs(1801));
    let (status, body) = h
        .call_as(&token, Method::GET, &format!("{JOURNAL}/earliest"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["category"], "EXPIRED_AUTHENTICATION");
    let (_, info) = introspect(token).await;
    assert_eq!(info, json!({ "active": false }));

    let (status, body) = h
        .form(
            "/oauth/2026-09/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "someone-else"),
                ("client_secret", &config.client_secret),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["status"], "BAD_CLIENT_ID");
    assert!(body["error_description"].is_string() && body["message"].is_string());
    let response = h
        .http
        .post(h.url("/oauth/2026-09/token?grant_type=client_credentials"))
        .form(&[("client_id", config.client_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "no query parameters"
    );
    let (status, _) = h.form("/oauth/2025-01/token", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(h.sim.stats().requests_on("POST /oauth/2026-09/token"), 3);
}

async fn install(h: &Harness) -> Value {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(h.url("/oauth/authorize"))
        .query(&[
            ("client_id", h.sim.config().client_id.as_str()),
            ("redirect_uri", "http://localhost:9999/callback"),
            ("scope", "oauth crm.objects.contacts.read"),
        ])
        .send()
        .await
        .unwrap();
    let location = reqwest::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    let config = h.sim.config();
    let (status, body) = h
        .form(
            "/oauth/2026-09/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://localhost:9999/callback"),
                ("client_id", &config.client_id),
                ("client_secret", &config.client_secret),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn refresh(h: &Harness, refresh_token: &str) -> (StatusCode, Value) {
    let config = h.sim.config();
    h.form(
        "/oauth/2026-09/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &config.client_id),
            ("client_secret", &config.client_secret),
        ],
    )
    .await
}

#[tokio::test]
async fn revoke_keeps_access_tokens_and_uninstall_ends_the_grant() {
    let h = Harness::start().await;
    let tokens = install(&h).await;
    for field in ["access_token", "refresh_token", "token_type", "scopes"] {
        assert!(tokens.get(field).is_some(), "{field}: {tokens}");
    }
    assert_eq!(tokens["token_use"], "access_token");
    assert_eq!(tokens["expires_in"], 1800);
    assert_eq!(tokens["hub_id"], h.sim.config().portal_id);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let (status, refreshed) = refresh(&h, refresh_token).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");

    let config = h.sim.config().clone();
    let (status, _) = h
        .form(
            "/oauth/2026-09/token/revoke",
            &[
                ("client_id", &config.client_id),
                ("client_secret", &config.client_secret),
                ("token", refresh_token),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = refresh(&h, refresh_token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["status"], "BAD_REFRESH_TOKEN");
    let (status, _) = h.call_as(access, Method::GET, V26, None).await;
    assert_eq!(status, StatusCode::OK, "access tokens outlive the revoke");

    let second = install(&h).await;
    let access = second["access_token"].as_str().unwrap();
    let (status, _) = h
        .call_as(
            DEFAULT_STATIC_APP_TOKEN,
            Method::DELETE,
            "/appinstalls/2026-09/external-install",
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only the install's own token"
    );
    let (status, _) = h
        .call_as(
            access,
            Method::DELETE,
            "/appinstalls/2026-09/external-install",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = refresh(&h, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    assert_eq!(body["status"], "BAD_REFRESH_TOKEN");
    let (status, _) = h.call_as(access, Method::GET, V26, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let third = install(&h).await;
    let response = h
        .http
        .post(h.url("/_sim/oauth/uninstall"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = refresh(&h, third["refresh_token"].as_str().unwrap()).await;
    assert_eq!(body["error"], "invalid_grant");
    install(&h).await;
    assert!(h.sim.uninstall_app());
    assert!(!h.sim.uninstall_app());
}

#[tokio::test]
async fn the_journal_orders_entries_pages_and_reports_caught_up() {
    let h = Harness::start().await;
    let token = h.journal_token().await;
    let subscription = h
        .subscribe(
            &token,
            &[
                "CREATE",
                "UPDATE",
                "DELETE",
                "MERGE",
                "RESTORE",
                "GDPR_DELETE",
            ],
            &["email", "firstname"],
        )
        .await;
    assert_eq!(subscription["subscriptionType"], "OBJECT");
    assert_eq!(subscription["objectTypeId"], "0-1");
    let id = subscription["id"].as_u64().expect("integer id");
    let (status, list) = h.call_as(&token, Method::GET, SUBSCRIPTIONS, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["results"][0]["id"], id);
    let (status, _) = h
        .call_as(&token, Method::GET, &format!("{SUBSCRIPTIONS}/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = h
        .call_as(&token, Method::GET, &format!("{JOURNAL}/latest"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "empty journal");

    let (_, a) = h
        .create(V26, json!({ "email": "j1@example.com", "firstname": "A" }))
        .await;
    let a = a["id"].as_str().unwrap().to_owned();
    let (_, b) = h.create(V26, json!({ "email": "j2@example.com" })).await;
    let b = b["id"].as_str().unwrap().to_owned();
    // Not a subscribed property: no entry.
    h.call(
        Method::PATCH,
        &format!("{V26}/{a}"),
        Some(json!({ "properties": { "lastname": "Z" } })),
    )
    .await;
    h.call(
        Method::PATCH,
        &format!("{V26}/{a}"),
        Some(json!({ "properties": { "firstname": "B" } })),
    )
    .await;
    let ua: u64 = a.parse().unwrap();
    let ub: u64 = b.parse().unwrap();
    h.sim.user_merge(ua, ub, Some(7)).unwrap();
    assert!(h.sim.user_archive(ua, None));
    h.sim.user_restore(ua, None).unwrap();
    h.call(
        Method::POST,
        &format!("{V26}/gdpr-delete"),
        Some(json!({ "objectId": a })),
    )
    .await;
    // One entry per request: the lastname edit selects nothing.
    assert_eq!(h.sim.journal_len(), 7);

    let events = h.journal_events(&token).await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "CREATE",
            "CREATE",
            "UPDATE",
            "MERGE",
            "DELETE",
            "RESTORE",
            "GDPR_DELETE",
            "DELETE"
        ]
    );
    assert_eq!(events[0]["objectTypeId"], "0-1");
    assert_eq!(events[0]["portalId"], h.sim.config().portal_id);
    assert_eq!(events[0]["objectId"], ua);
    assert!(events[0]["occurredAt"].is_i64());
    assert_eq!(
        events[0]["propertyChanges"],
        json!([
            { "propertyName": "email", "newValue": "j1@example.com" },
            { "propertyName": "firstname", "newValue": "A" },
        ])
    );
    assert_eq!(
        events[2]["propertyChanges"],
        json!([{ "propertyName": "firstname", "newValue": "B" }])
    );
    assert_eq!(events[3]["changeSource"], "CRM_UI");
    assert_eq!(events[3]["sourceId"], "userId:7");
    assert_eq!(events[3]["mergedObjectIds"], json!([ub]));

    // Paging: earliest, then next until caught up.
    let (status, first) = h
        .call_as(&token, Method::GET, &format!("{JOURNAL}/earliest"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let first_offset = first["currentOffset"].as_str().unwrap().to_owned();
    assert_eq!(first_offset.len(), 36);
    assert!(first["expiresAt"].is_string());
    let mut offset = first_offset.clone();
    let mut seen = 1;
    loop {
        let (status, next) = h
            .call_as(
                &token,
                Method::GET,
                &format!("{JOURNAL}/offset/{offset}/next"),
                None,
            )
            .await;
        if status == StatusCode::NO_CONTENT {
            break;
        }
        assert_eq!(status, StatusCode::OK, "{next}");
        let next_offset = next["currentOffset"].as_str().unwrap().to_owned();
        assert!(next_offset > offset, "offsets order as entries do");
        offset = next_offset;
        seen += 1;
    }
    assert_eq!(seen, 7);
    let (status, _) = h
        .call_as(
            &token,
            Method::GET,
            &format!("{JOURNAL}/batch/{offset}/next/10"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "caught up");
    let (status, page) = h
        .call_as(
            &token,
            Method::GET,
            &format!("{JOURNAL}/batch/{first_offset}/next/3"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["status"], "COMPLETE");
    assert_eq!(page["results"].as_array().unwrap().len(), 3);
    let (_, latest) = h
        .call_as(
            &token,
            Method::GET,
            &format!("{JOURNAL}/batch/latest/2"),
            None,
        )
        .await;
    assert_eq!(latest["results"][1]["currentOffset"], json!(offset));
    let (_, latest_one) = h
        .call_as(
            &token,
            Method::GET,
            "/webhooks-journal/journal/2026-03/latest",
            None,
        )
        .await;
    assert_eq!(latest_one["currentOffset"], json!(offset));
    for count in ["0", "101", "x"] {
        let (status, _) = h
            .call_as(
                &token,
                Method::GET,
                &format!("{JOURNAL}/batch/earliest/{count}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "count {count}");
    }
    let (status, _) = h
        .call_as(
            &token,
            Method::GET,
            &format!("{JOURNAL}/offset/00000000-0000-4000-a000-000000000001/next"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "unknown offset");

    // The pre-signed file: no Authorization, and it expires.
    let url = first["url"].as_str().unwrap();
    let response = h.http.get(url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let tampered = url.replace("signature=", "signature=0");
    assert_eq!(
        h.http.get(tampered).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    h.sim.advance_clock(Duration::from_secs(16 * 60));
    assert_eq!(
        h.http.get(url).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    let (status, _) = h
        .call_as(
            &token,
            Method::DELETE,
            &format!("{SUBSCRIPTIONS}/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h
        .call_as(&token, Method::GET, &format!("{SUBSCRIPTIONS}/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let portal = h.sim.config().portal_id;
    let (status, _) = h
        .call_as(
            &token,
            Method::DELETE,
            &format!("{SUBSCRIPTIONS}/portals/{portal}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn journal_entries_past_retention_are_gone_and_their_offsets_404() {
    let h = Harness::with(SimulatorConfig {
        rate_limits: RateLimits::off(),
        journal_retention: Duration::from_secs(3600),
        access_token_lifetime: Duration::from_secs(86_400),
        ..SimulatorConfig::default()
    })
    .await;
    let token = h.journal_token().await;
    h.subscribe(&token, &["CREATE"], &[]).await;
    h.create(V26, json!({ "email": "old@example.com" })).await;
    let (_, old) = h
        .call_as(&token, Method::GET, &format!("{JOURNAL}/latest"), None)
        .await;
    let old_offset = old["currentOffset"].as_str().unwrap().to_owned();
    h.sim.advance_clock(Duration::from_secs(1800));
    h.create(V26, json!({ "email": "mid@example.com" })).await;
    let (status, next) = h
        .call_as(
            &token,
            Method::GET,
            &format!("{JOURNAL}/offset/{old_offset}/next"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "within retention: {next}");
    h.sim.advance_clock(Duration::from_secs(1900));
    assert_eq!(h.sim.journal_len(), 1);
    let (status, body) = h
        .call_as(
            &token,
            Method::GET,
            &format!("{JOURNAL}/offset/{old_offset}/next"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "stale offset: {body}");
    let (status, body) = h
        .call_as(
            &token,
            Method::GET,
            &format!("{JOURNAL}/batch/{old_offset}/next/5"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, earliest) = h
        .call_as(&token, Method::GET, &format!("{JOURNAL}/earliest"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(earliest["currentOffset"], next["currentOffset"]);
    h.sim.advance_clock(Duration::from_secs(3600));
    let (status, _) = h
        .call_as(
            &token,
            Method::GET,
            &format!("{JOURNAL}/batch/earliest/10"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}
