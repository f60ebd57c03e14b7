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

// ---------------------------------------------------------------------------------------
// Batches

fn inputs(emails: &[&str], traced: bool) -> Value {
    let inputs: Vec<Value> = emails
        .iter()
        .enumerate()
        .map(|(n, e)| {
            let mut input = json!({"properties": {"email": e, "firstname": format!("N{n}")}});
            if traced {
                input["objectWriteTraceId"] = json!(format!("trace-{n}"));
            }
            input
        })
        .collect();
    json!({ "inputs": inputs })
}

#[tokio::test]
async fn batch_create_is_201_and_a_duplicate_fails_the_whole_batch_with_409() {
    let h = Harness::start().await;
    let (status, body) = h
        .call(
            Method::POST,
            &format!("{CONTACTS}/batch/create"),
            Some(inputs(&["a@example.com", "b@example.com"], false)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "COMPLETE");
    assert_eq!(body["results"].as_array().unwrap().len(), 2);
    assert!(body["startedAt"].is_string() && body["completedAt"].is_string());
    let existing = body["results"][0]["id"].as_str().unwrap().to_owned();
    let before = h.sim.contact_count();
    let (status, body) = h
        .call(
            Method::POST,
            &format!("{CONTACTS}/batch/create"),
            Some(inputs(&["c@example.com", "A@example.com"], false)),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error_shape(&body, "CONFLICT");
    assert_eq!(
        body["message"],
        format!("Contact already exists. Existing ID: {existing}")
    );
    assert_eq!(
        h.sim.contact_count(),
        before,
        "nothing of the failed batch was written"
    );
}

#[tokio::test]
async fn batch_create_with_trace_ids_is_207_multi_status() {
    let h = Harness::start().await;
    h.create(json!({"email": "taken@example.com"})).await;
    let (status, body) = h
        .call(
            Method::POST,
            &format!("{CONTACTS}/batch/create"),
            Some(inputs(
                &["new@example.com", "taken@example.com", "bad@example"],
                true,
            )),
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 1);
    assert_eq!(body["numErrors"], 2);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors[0]["category"], "CONFLICT");
    assert_eq!(
        errors[0]["context"]["objectWriteTraceId"],
        json!(["trace-1"])
    );
    assert_eq!(errors[1]["category"], "VALIDATION_ERROR");
    assert_eq!(
        errors[1]["context"]["objectWriteTraceId"],
        json!(["trace-2"])
    );
    assert!(
        errors[1]["message"]
            .as_str()
            .unwrap()
            .contains("INVALID_EMAIL")
    );
}

#[tokio::test]
async fn batches_over_100_inputs_are_400() {
    let h = Harness::start().await;
    let emails: Vec<String> = (0..101).map(|n| format!("u{n}@example.com")).collect();
    let refs: Vec<&str> = emails.iter().map(String::as_str).collect();
    for op in ["create", "read", "update", "upsert", "archive"] {
        let body = if op == "create" {
            inputs(&refs, false)
        } else {
            json!({"inputs": refs.iter().map(|e| json!({"id": e, "idProperty": "email", "properties": {}})).collect::<Vec<_>>()})
        };
        let (status, body) = h
            .call(Method::POST, &format!("{CONTACTS}/batch/{op}"), Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{op}: {body}");
        assert_error_shape(&body, "VALIDATION_ERROR");
    }
    let (status, _) = h
        .call(
            Method::POST,
            &format!("{CONTACTS}/batch/create"),
            Some(inputs(&refs[..100], false)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "100 is allowed");
}

#[tokio::test]
async fn batch_read_is_200_or_207_naming_missing_ids_and_reads_by_email() {
    let h = Harness::start().await;
    let id = h
        .create(json!({"email": "r@example.com", "firstname": "R"}))
        .await;
    let (status, body) = h
        .call(
            Method::POST,
            &format!("{CONTACTS}/batch/read"),
            Some(json!({"inputs": [{"id": id}], "properties": ["firstname", "phone"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["results"][0]["properties"]["firstname"], "R");
    assert_eq!(body["results"][0]["properties"]["phone"], Value::Null);
    let (status, body) = h
        .call(
            Method::POST,
            &format!("{CONTACTS}/batch/read"),
            Some(json!({"inputs": [{"id": "R@EXAMPLE.com"}, {"id": "nobody@example.com"}], "idProperty": "email", "properties": []})),
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(body["results"][0]["id"], id.as_str());
    assert_eq!(body["numErrors"], 1);
    assert_eq!(body["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(
        body["errors"][0]["context"]["ids"],
        json!(["nobody@example.com"])
    );
}

#[tokio::test]
async fn batch_update_writes_all_or_fails_on_a_missing_id() {
    let h = Harness::start().await;
    let a = h.create(json!({"email": "u1@example.com"})).await;
    let b = h.create(json!({"email": "u2@example.com"})).await;
    let (status, body) = h
        .call(
            Method::POST,
            &format!("{CONTACTS}/batch/update"),
            Some(json!({"inputs": [{"id": a, "properties": {"firstname": "A"}}, {"id": b, "properties": {"firstname": "B"}}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][1]["properties"]["firstname"], "B");
    let (status, body) = h
        .call(
            Method::POST,
            &format!("{CONTACTS}/batch/update"),
            Some(json!({"inputs": [{"id": a, "properties": {"firstname": "A2"}}, {"id": "424242", "properties": {"firstname": "X"}}]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_error_shape(&body, "OBJECT_NOT_FOUND");
    assert_eq!(
        h.sim.contact(a.parse().unwrap()).unwrap().0["firstname"],
        "A"
    );
}

#[tokio::test]
async fn batch_upsert_by_email_marks_new_and_existing_records() {
    let h = Harness::start().await;
    let id = h.create(json!({"email": "old@example.com"})).await;
    let (status, body) = h
        .call(
            Method::POST,
            &format!("{CONTACTS}/batch/upsert"),
            Some(json!({"inputs": [
                {"id": "OLD@example.com", "idProperty": "email", "properties": {"firstname": "Old"}},
                {"id": "fresh@example.com", "idProperty": "email", "properties": {"firstname": "Fresh"}}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["results"][0]["id"], id.as_str());
    assert_eq!(body["results"][0]["new"], false);
    assert_eq!(body["results"][1]["new"], true);
    assert_eq!(
        body["results"][1]["properties"]["email"],
        "fresh@example.com"
    );
    // Partial upserts are not supported with email: trace ids do not give a 207.
    let (status, body) = h
        .call(
            Method::POST,
            &format!("{CONTACTS}/batch/upsert"),
            Some(json!({"inputs": [
                {"id": "ok@example.com", "idProperty": "email", "properties": {}, "objectWriteTraceId": "1"},
                {"id": "bad@example", "idProperty": "email", "properties": {}, "objectWriteTraceId": "2"}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["code"], "INVALID_EMAIL");
}

async fn create_unique_property(h: &Harness, name: &str) {
    let (status, body) = h
        .call(
            Method::POST,
            "/crm/v3/properties/contacts",
            Some(json!({"name": name, "label": "Ext", "type": "string", "fieldType": "text", "groupName": "contactinformation", "hasUniqueValue": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn unique_property_conflicts_are_400_and_partial_upserts_work_with_it() {
    let h = Harness::start().await;
    create_unique_property(&h, "ext_id").await;
    let first = h
        .create(json!({"email": "x1@example.com", "ext_id": "X-1"}))
        .await;
    let (status, body) = h
        .call(
            Method::POST,
            CONTACTS,
            Some(json!({"properties": {"email": "x2@example.com", "ext_id": "X-1"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error_shape(&body, "VALIDATION_ERROR");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("propertyName=ext_id, value=X-1"),
        "{message}"
    );
    assert!(
        message.ends_with(&format!("{first} already has that value.")),
        "{message}"
    );
    let (status, got) = h
        .call(
            Method::GET,
            &format!("{CONTACTS}/X-1?idProperty=ext_id"),
            None,
        )
        .await;
    assert_eq!(
        (status, got["id"].as_str()),
        (StatusCode::OK, Some(first.as_str()))
    );
    let (status, body) = h
        .call(
            Method::POST,
            &format!("{CONTACTS}/batch/upsert"),
            Some(json!({"inputs": [
                {"id": "X-1", "idProperty": "ext_id", "properties": {"firstname": "One"}, "objectWriteTraceId": "a"},
                {"id": "X-2", "idProperty": "ext_id", "properties": {"email": "x1@example.com"}, "objectWriteTraceId": "b"},
                {"id": "X-3", "idProperty": "ext_id", "properties": {"email": "x3@example.com"}, "objectWriteTraceId": "c"}
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 2);
    assert_eq!(
        body["errors"][0]["context"]["objectWriteTraceId"],
        json!(["b"])
    );
    assert_eq!(body["errors"][0]["category"], "CONFLICT");
}

#[tokio::test]
async fn secondary_email_conflict_is_400_cannot_set() {
    let h = Harness::start().await;
    let owner = h
        .create(json!({"email": "main@example.com", "hs_additional_emails": "alt@example.com"}))
        .await;
    let (status, body) = h
        .call(
            Method::POST,
            CONTACTS,
            Some(json!({"properties": {"email": "ALT@example.com"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("Cannot set PropertyValueCoordinates{"),
        "{message}"
    );
    assert!(message.ends_with(&format!("{owner} already has that value.")));
    let (status, by_secondary) = h
        .call(
            Method::GET,
            &format!("{CONTACTS}/alt@example.com?idProperty=email"),
            None,
        )
        .await;
    assert_eq!(
        (status, by_secondary["id"].as_str()),
        (StatusCode::OK, Some(owner.as_str()))
    );
}

#[tokio::test]
async fn batch_archive_is_204_whatever_the_ids() {
    let h = Harness::start().await;
    let id = h.create(json!({"email": "gone@example.com"})).await;
    let (status, _) = h
        .call(
            Method::POST,
            &format!("{CONTACTS}/batch/archive"),
            Some(json!({"inputs": [{"id": id}, {"id": "31337"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(h.sim.contact(id.parse().unwrap()).unwrap().1, "archived");
}

// ---------------------------------------------------------------------------------------
// Search

async fn search(h: &Harness, body: Value) -> (StatusCode, Value) {
    h.call(Method::POST, &format!("{CONTACTS}/search"), Some(body))
        .await
}

#[tokio::test]
async fn search_filters_sorts_and_pages() {
    let h = Harness::start().await;
    let a = h
        .create(json!({"email": "Sam@Example.com", "firstname": "Sam"}))
        .await;
    let b = h
        .create(json!({"email": "kim@example.com", "firstname": "Kim", "phone": "1"}))
        .await;
    let c = h.create(json!({"firstname": "Lee"})).await;
    let gone = h.create(json!({"email": "gone@example.com"})).await;
    h.call(Method::DELETE, &format!("{CONTACTS}/{gone}"), None)
        .await;

    let ids = |body: &Value| -> Vec<String> {
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, body) = search(&h, json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "sam@example.com"}]}]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (ids(&body), body["total"].as_u64()),
        (vec![a.clone()], Some(1))
    );
    let (_, body) = search(&h, json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "IN", "values": ["sam@example.com", "kim@example.com", "gone@example.com"]}]}]})).await;
    assert_eq!(
        ids(&body),
        vec![a.clone(), b.clone()],
        "archived never appear"
    );
    let (_, body) = search(&h, json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "IN", "values": ["SAM@EXAMPLE.COM"]}]}]})).await;
    assert_eq!(body["total"], 0, "IN values must be lowercase");
    let (_, body) = search(&h, json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "NOT_HAS_PROPERTY"}]}]})).await;
    assert_eq!(ids(&body), vec![c.clone()]);
    let (_, body) = search(&h, json!({"filterGroups": [{"filters": [{"propertyName": "phone", "operator": "HAS_PROPERTY"}]}, {"filters": [{"propertyName": "firstname", "operator": "EQ", "value": "lee"}]}]})).await;
    assert_eq!(ids(&body), vec![b.clone(), c.clone()], "groups are ORed");
    let (_, body) = search(&h, json!({"filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": a}]}], "sorts": [{"propertyName": "hs_object_id", "direction": "DESCENDING"}], "limit": 1})).await;
    assert_eq!(ids(&body), vec![c.clone()]);
    assert_eq!(body["total"], 2);
    assert_eq!(body["paging"]["next"]["after"], "1");
    let (_, body) = search(&h, json!({"filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": a}]}], "sorts": [{"propertyName": "hs_object_id", "direction": "DESCENDING"}], "limit": 1, "after": "1"})).await;
    assert_eq!(ids(&body), vec![b.clone()]);
    assert!(body.get("paging").is_none());
    let (_, all) = search(&h, json!({})).await;
    let modified = all["results"][0]["properties"]["lastmodifieddate"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = search(&h, json!({"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": modified}]}]})).await;
    assert!(ids(&body).contains(&a));
    let (_, body) = search(&h, json!({"filterGroups": [{"filters": [{"propertyName": "NEQ_CHECK", "operator": "NEQ", "value": "x"}]}], "query": "kim"})).await;
    assert_eq!(ids(&body), vec![b]);
}

#[tokio::test]
async fn search_limits_are_400() {
    let h = Harness::start().await;
    let filter = json!({"propertyName": "email", "operator": "HAS_PROPERTY"});
    let cases = [
        json!({"limit": 201}),
        json!({"limit": 100, "after": "9901"}),
        json!({"after": "abc"}),
        json!({"filterGroups": vec![json!({"filters": [filter]}); 6]}),
        json!({"filterGroups": [{"filters": vec![filter.clone(); 7]}]}),
        json!({"filterGroups": vec![json!({"filters": vec![filter.clone(); 4]}); 5]}),
        json!({"sorts": [{"propertyName": "email"}, {"propertyName": "firstname"}]}),
        json!({"query": "x".repeat(3001)}),
    ];
    for case in cases {
        let (status, body) = search(&h, case.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {body}");
        assert_error_shape(&body, "VALIDATION_ERROR");
    }
    let (status, body) = search(&h, json!({"limit": 200, "after": "9800"})).await;
    assert_eq!(status, StatusCode::OK, "the last allowed page: {body}");
}

// ---------------------------------------------------------------------------------------
// Properties and discovery

#[tokio::test]
async fn properties_list_get_create_conflict_patch_archive() {
    let h = Harness::start().await;
    let (status, body) = h
        .call(Method::GET, "/crm/v3/properties/contacts", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for builtin in [
        "email",
        "firstname",
        "lastname",
        "phone",
        "hs_additional_emails",
        "createdate",
        "lastmodifieddate",
        "hs_object_id",
    ] {
        assert!(names.contains(&builtin), "{builtin}");
    }
    let create = json!({"name": "tte_customer_uri", "label": "10to8 URI", "type": "string", "fieldType": "text", "groupName": "contactinformation", "hasUniqueValue": true});
    let response = h
        .http
        .post(h.url("/crm/v3/properties/0-1"))
        .bearer_auth(&h.token)
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("/crm/v3/properties/0-1/tte_customer_uri")
    );
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["hasUniqueValue"], true);
    let (status, body) = h
        .call(
            Method::POST,
            "/crm/v3/properties/contacts",
            Some(create.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["status"], "error");
    for missing in ["name", "label", "type", "fieldType", "groupName"] {
        let mut partial = create.clone();
        partial["name"] = json!("other_prop");
        partial.as_object_mut().unwrap().remove(missing);
        let (status, body) = h
            .call(Method::POST, "/crm/v3/properties/contacts", Some(partial))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{missing}: {body}");
        assert!(body["message"].as_str().unwrap().contains(missing));
    }
    let (status, body) = h
        .call(
            Method::PATCH,
            "/crm/v3/properties/contacts/tte_customer_uri",
            Some(json!({"label": "Customer URI"})),
        )
        .await;
    assert_eq!(
        (status, body["label"].as_str()),
        (StatusCode::OK, Some("Customer URI"))
    );
    let (status, _) = h
        .call(
            Method::DELETE,
            "/crm/v3/properties/contacts/tte_customer_uri",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h
        .call(
            Method::GET,
            "/crm/v3/properties/contacts/tte_customer_uri",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = h
        .call(
            Method::GET,
            "/crm/v3/properties/contacts/tte_customer_uri?archived=true",
            None,
        )
        .await;
    assert_eq!(
        (status, body["archived"].as_bool()),
        (StatusCode::OK, Some(true))
    );
}

#[tokio::test]
async fn discovery_calls_of_popular_clients_answer() {
    let h = Harness::start().await;
    let (status, body) = h.call(Method::GET, "/crm/v3/schemas", None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"results": []})));
    let (status, body) = h
        .call(Method::GET, "/properties/v2/contact/properties", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "email")
    );
    let (status, body) = h
        .call(
            Method::POST,
            "/crm/v4/associations/contacts/companies/batch/read",
            Some(json!({"inputs": [{"id": "1"}]})),
        )
        .await;
    assert_eq!((status, &body["results"]), (StatusCode::OK, &json!([])));
}

// ---------------------------------------------------------------------------------------
// Authentication and OAuth

fn no_redirects() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn missing_or_unknown_token_is_401_invalid_authentication() {
    let h = Harness::start().await;
    let response = h.http.get(h.url(CONTACTS)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_error_shape(&body, "INVALID_AUTHENTICATION");
    let (status, _, body) = h
        .call_full(Method::GET, CONTACTS, None, "pat-na1-wrong")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&body, "INVALID_AUTHENTICATION");
}

async fn authorize(h: &Harness, client_id: &str, state: &str) -> reqwest::Url {
    let response = no_redirects()
        .get(h.url("/oauth/authorize"))
        .query(&[
            ("client_id", client_id),
            (
                "redirect_uri",
                "http://localhost:9999/hubspot/install/callback",
            ),
            ("scope", "oauth crm.objects.contacts.read"),
            ("state", state),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    reqwest::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
}

fn param(url: &reqwest::Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn token_request(h: &Harness, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = h
        .http
        .post(h.url("/oauth/v1/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn oauth_code_flow_tokens_expire_with_hubspots_401_and_refresh() {
    let h = Harness::start().await;
    let config = h.sim.config().clone();
    let back = authorize(&h, &config.client_id, "xyz-state").await;
    assert!(
        back.as_str()
            .starts_with("http://localhost:9999/hubspot/install/callback?")
    );
    assert_eq!(param(&back, "state").as_deref(), Some("xyz-state"));
    let code = param(&back, "code").expect("code");
    let redirect = "http://localhost:9999/hubspot/install/callback";
    let (status, tokens) = token_request(
        &h,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", &config.client_id),
            ("client_secret", &config.client_secret),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 1800);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let (status, headers, _) = h.call_full(Method::GET, CONTACTS, None, &access).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers.get("x-hubspot-ratelimit-daily").is_none(),
        "no daily headers for OAuth"
    );

    let (status, info) = h
        .call(
            Method::GET,
            &format!("/oauth/v1/access-tokens/{access}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for key in [
        "app_id",
        "expires_in",
        "hub_id",
        "scopes",
        "token",
        "token_type",
        "user_id",
    ] {
        assert!(info.get(key).is_some(), "{key}: {info}");
    }
    assert_eq!(info["hub_id"], config.portal_id);

    let (status, again) = token_request(
        &h,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("client_id", &config.client_id),
            ("client_secret", &config.client_secret),
        ],
    )
    .await;
    assert_eq!(
        (status, again["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "codes are single-use"
    );

    h.sim.advance_clock(Duration::from_secs(1800 + 12));
    let (status, _, body) = h.call_full(Method::GET, CONTACTS, None, &access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&body, "EXPIRED_AUTHENTICATION");
    assert_eq!(
        body["message"],
        "The OAuth token used to make this call expired 12 second(s) ago."
    );

    let (status, renewed) = token_request(
        &h,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &config.client_id),
            ("client_secret", &config.client_secret),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = h
        .call_full(
            Method::GET,
            CONTACTS,
            None,
            renewed["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn oauth_errors_redirect_or_answer_rfc6749_bodies() {
    let h = Harness::start().await;
    let config = h.sim.config().clone();
    let back = authorize(&h, "not-the-client", "s1").await;
    assert_eq!(param(&back, "error").as_deref(), Some("invalid_client"));
    assert!(param(&back, "error_description").is_some());
    assert_eq!(param(&back, "state").as_deref(), Some("s1"));
    assert!(param(&back, "code").is_none());
    let response = no_redirects()
        .get(h.url("/oauth/authorize"))
        .query(&[
            ("client_id", config.client_id.as_str()),
            ("redirect_uri", "not a url"),
            ("scope", "oauth"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "no redirect to a bad redirect_uri"
    );

    let (status, body) = token_request(
        &h,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "nope"),
            ("client_id", &config.client_id),
            ("client_secret", &config.client_secret),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "refresh token is invalid, expired or revoked"
    );
    assert_eq!(body["status"], "BAD_REFRESH_TOKEN");
    let (status, body) = token_request(
        &h,
        &[
            ("grant_type", "password"),
            ("client_id", &config.client_id),
            ("client_secret", &config.client_secret),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_grant_type"))
    );
    let (status, body) = token_request(
        &h,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &config.client_id),
            ("client_secret", "wrong"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_client"))
    );
    let (status, _) = h
        .call(Method::GET, "/oauth/v1/access-tokens/unknown", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------
// Rate limits and faults

#[tokio::test]
async fn ten_secondly_window_sends_headers_then_429() {
    let h = Harness::with(SimulatorConfig {
        rate_limits: RateLimits {
            per_ten_seconds: Some(3),
            daily: Some(1000),
            search_per_second: None,
        },
        ..SimulatorConfig::default()
    })
    .await;
    for remaining in ["2", "1", "0"] {
        let (status, headers, _) = h.call_full(Method::GET, CONTACTS, None, &h.token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["x-hubspot-ratelimit-max"], "3");
        assert_eq!(headers["x-hubspot-ratelimit-remaining"], remaining);
        assert_eq!(
            headers["x-hubspot-ratelimit-interval-milliseconds"],
            "10000"
        );
        assert_eq!(headers["x-hubspot-ratelimit-daily"], "1000");
    }
    let (status, _, body) = h.call_full(Method::GET, CONTACTS, None, &h.token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["status"], "error");
    assert_eq!(body["errorType"], "RATE_LIMIT");
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(
        body["message"],
        "You have reached your ten_secondly_rolling limit."
    );
    assert!(
        body["groupName"]
            .as_str()
            .unwrap()
            .starts_with("publicapi:private_app-api-calls-ten-secondly:")
    );
    assert_eq!(h.sim.stats().throttled, 1);
    h.sim.advance_clock(Duration::from_secs(11));
    let (status, _, _) = h.call_full(Method::GET, CONTACTS, None, &h.token).await;
    assert_eq!(status, StatusCode::OK, "the window rolled on");
}

#[tokio::test]
async fn daily_limit_is_429_daily() {
    let h = Harness::with(SimulatorConfig {
        rate_limits: RateLimits {
            per_ten_seconds: None,
            daily: Some(2),
            search_per_second: None,
        },
        ..SimulatorConfig::default()
    })
    .await;
    for remaining in ["1", "0"] {
        let (_, headers, _) = h.call_full(Method::GET, CONTACTS, None, &h.token).await;
        assert_eq!(headers["x-hubspot-ratelimit-daily-remaining"], remaining);
    }
    let (status, _, body) = h.call_full(Method::GET, CONTACTS, None, &h.token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["message"], "You have reached your daily limit.");
    assert_eq!(body["policyName"], "DAILY");
    assert_eq!(body["errorType"], "RATE_LIMIT");
    assert!(body["requestId"].is_string() && body["correlationId"].is_string());
}

#[tokio::test]
async fn search_has_its_own_secondly_limit_without_headers() {
    let h = Harness::with(SimulatorConfig {
        rate_limits: RateLimits {
            per_ten_seconds: Some(1),
            daily: None,
            search_per_second: Some(2),
        },
        ..SimulatorConfig::default()
    })
    .await;
    let mut refused = None;
    for _ in 0..50 {
        let (status, headers, body) = h
            .call_full(
                Method::POST,
                &format!("{CONTACTS}/search"),
                Some(json!({})),
                &h.token,
            )
            .await;
        assert!(
            headers
                .keys()
                .all(|k| !k.as_str().starts_with("x-hubspot-ratelimit")),
            "no headers on search"
        );
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(body);
            break;
        }
        assert_eq!(
            status,
            StatusCode::OK,
            "search is outside the ten-secondly limit of 1"
        );
    }
    let body = refused.expect("the search limit refuses");
    assert_eq!(body["message"], "You have reached your secondly limit.");
    assert_eq!(body["errorType"], "RATE_LIMIT");
}

#[tokio::test]
async fn a_storm_429_is_the_one_hubspot_documents_with_or_without_its_headers() {
    let h = Harness::with(SimulatorConfig::default()).await;
    h.sim.set_faults(tte_sync_hubspot::simulator::Faults {
        rate_limit_storm: 1,
        ..Default::default()
    });
    let (status, headers, body) = h.call_full(Method::GET, CONTACTS, None, &h.token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["status"], "error");
    assert_eq!(body["errorType"], "RATE_LIMIT");
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(
        body["message"],
        "You have reached your ten_secondly_rolling limit."
    );
    assert!(body["correlationId"].is_string(), "{body}");
    assert_eq!(
        headers["x-hubspot-ratelimit-interval-milliseconds"],
        "10000"
    );
    assert_eq!(headers["x-hubspot-ratelimit-max"], "110");
    assert_eq!(headers["x-hubspot-ratelimit-remaining"], "0");
    assert!(
        headers.get("retry-after").is_none(),
        "HubSpot documents Retry-After only for 477"
    );
    h.sim.set_faults(tte_sync_hubspot::simulator::Faults {
        rate_limit_storm: 1,
        rate_limit_storm_bare: true,
        ..Default::default()
    });
    let (status, headers, body) = h.call_full(Method::GET, CONTACTS, None, &h.token).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    assert!(
        headers.get("x-hubspot-ratelimit-remaining").is_none(),
        "a bare storm strips the headers: {headers:?}"
    );
}

#[tokio::test]
async fn faults_storm_errors_and_stats() {
    let h = Harness::start().await;
    h.sim.set_faults(tte_sync_hubspot::simulator::Faults {
        rate_limit_storm: 2,
        ..Default::default()
    });
    for _ in 0..2 {
        let (status, body) = h.call(Method::GET, CONTACTS, None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["policyName"], "TEN_SECONDLY_ROLLING");
    }
    let (status, _) = h.call(Method::GET, CONTACTS, None).await;
    assert_eq!(status, StatusCode::OK);
    h.sim.set_faults(tte_sync_hubspot::simulator::Faults {
        error_rate_percent: 100,
        ..Default::default()
    });
    let (status, _) = h.call(Method::GET, CONTACTS, None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let stats = h.sim.stats();
    let route = "GET /crm/v3/objects/{object_type}";
    assert_eq!(stats.requests_on(route), 4);
    assert_eq!(stats.with_status(429), 2);
    assert_eq!(stats.throttled, 2);
    // The admin API reports the same.
    let admin: Value = h
        .http
        .get(h.url("/_sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(admin["throttled"], 2);
    h.http
        .post(h.url("/_sim/stats/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(h.sim.stats().throttled, 0);
}

// ---------------------------------------------------------------------------------------
// Webhooks: an independent implementation of HubSpot's documented signatures, and a real
// receiver on loopback.

mod verify {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};

    /// v1: hex(SHA-256(client secret + body)).
    pub fn v1(secret: &str, body: &[u8], signature: &str) -> bool {
        let mut bytes = secret.as_bytes().to_vec();
        bytes.extend_from_slice(body);
        let expected = hex::encode(Sha256::digest(&bytes));
        constant_time_eq(expected.as_bytes(), signature.as_bytes())
    }

    /// The documented table of escapes v3 decodes; nothing else is decoded.
    fn decode_documented(uri: &str) -> String {
        let table = [
            ("3A", ':'),
            ("2F", '/'),
            ("3F", '?'),
            ("40", '@'),
            ("21", '!'),
            ("24", '$'),
            ("27", '\''),
            ("28", '('),
            ("29", ')'),
            ("2A", '*'),
            ("2C", ','),
            ("3B", ';'),
        ];
        let bytes: Vec<char> = uri.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == '%' && i + 2 < bytes.len() {
                let code: String = bytes[i + 1..=i + 2]
                    .iter()
                    .collect::<String>()
                    .to_uppercase();
                if let Some((_, c)) = table.iter().find(|(hex, _)| *hex == code) {
                    out.push(*c);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        out
    }

    /// v3: base64(HMAC-SHA256(secret, method + decoded URI + body + timestamp)), rejected
    /// when the timestamp is more than 5 minutes old.
    pub fn v3(
        secret: &str,
        method: &str,
        uri: &str,
        body: &[u8],
        timestamp: &str,
        signature: &str,
        now_ms: i64,
    ) -> bool {
        let Ok(ts) = timestamp.parse::<i64>() else {
            return false;
        };
        if now_ms - ts > 5 * 60 * 1000 {
            return false;
        }
        let mut message = Vec::new();
        message.extend_from_slice(method.as_bytes());
        message.extend_from_slice(decode_documented(uri).as_bytes());
        message.extend_from_slice(body);
        message.extend_from_slice(timestamp.as_bytes());
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(&message);
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        constant_time_eq(expected.as_bytes(), signature.as_bytes())
    }

    fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    #[test]
    fn the_decoding_table_leaves_other_escapes_alone() {
        assert_eq!(decode_documented("/a%40b%2cc%20d%3D"), "/a@b,c%20d%3D");
    }
}

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
struct Delivery {
    uri: String,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Delivery {
    fn events(&self) -> Vec<Value> {
        serde_json::from_slice::<Vec<Value>>(&self.body).expect("a JSON array")
    }

    fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }
}

/// What the receiver answers: the status of attempt `n` (0-based over all deliveries), an
/// optional stall of the first request, and a gate holding requests until opened.
#[derive(Clone, Default)]
struct Behaviour {
    failures_before_success: usize,
    always_status: Option<u16>,
    stall_first: Option<Duration>,
    gate: Option<std::sync::Arc<tokio::sync::Semaphore>>,
}

#[derive(Clone)]
struct Receiver {
    base: String,
    deliveries: std::sync::Arc<std::sync::Mutex<Vec<Delivery>>>,
    in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    max_in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Receiver {
    async fn start(behaviour: Behaviour) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let receiver = Receiver {
            base: base.clone(),
            deliveries: Default::default(),
            in_flight: Default::default(),
            max_in_flight: Default::default(),
        };
        let state = receiver.clone();
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                let behaviour = behaviour.clone();
                async move {
                    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
                    let n = {
                        let mut list = state.deliveries.lock().unwrap();
                        list.push(Delivery {
                            uri: format!("{}{}", state.base, uri),
                            headers,
                            body: body.to_vec(),
                        });
                        list.len() - 1
                    };
                    if let (0, Some(stall)) = (n, behaviour.stall_first) {
                        tokio::time::sleep(stall).await;
                    }
                    if let Some(gate) = &behaviour.gate {
                        let _permit = gate.acquire().await.unwrap();
                    }
                    state.in_flight.fetch_sub(1, Ordering::SeqCst);
                    let status = match behaviour.always_status {
                        Some(status) => status,
                        None if n < behaviour.failures_before_success => 500,
                        None => 200,
                    };
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            },
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    fn events(&self) -> Vec<Value> {
        self.deliveries()
            .iter()
            .flat_map(Delivery::events)
            .collect()
    }
}

/// Waits (bounded) until `done` holds; the bound only keeps a broken build from hanging.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

fn fast_webhooks() -> SimulatorConfig {
    SimulatorConfig {
        rate_limits: RateLimits::off(),
        webhooks: tte_sync_hubspot::simulator::WebhookTiming {
            timeout: Duration::from_millis(300),
            retry_base: Duration::from_millis(5),
            max_attempts: 10,
        },
        ..SimulatorConfig::default()
    }
}

impl Harness {
    async fn developer(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let app = self.sim.config().app_id;
        let key = self.sim.config().developer_api_key.clone();
        let url = format!(
            "{}/webhooks/v3/{app}{path}?hapikey={key}",
            self.sim.base_url()
        );
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap()
            },
        )
    }

    async fn subscribe(&self, event_type: &str, property: Option<&str>, active: bool) -> Value {
        let mut body = json!({"eventType": event_type, "active": active});
        if let Some(p) = property {
            body["propertyName"] = json!(p);
        }
        let (status, created) = self
            .developer(Method::POST, "/subscriptions", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }

    async fn target(&self, url: &str, concurrency: u32) {
        let (status, body) = self
            .developer(
                Method::PUT,
                "/settings",
                Some(json!({"targetUrl": url, "throttling": {"maxConcurrentRequests": concurrency, "period": "SECONDLY"}})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn deliveries_verify_under_independent_v1_and_v3_and_carry_the_documented_fields() {
    let h = Harness::with(fast_webhooks()).await;
    let receiver = Receiver::start(Behaviour::default()).await;
    // Escapes in the target URL exercise v3's decoding table (%40 and %2C decoded, %20 kept).
    let target = format!("{}/hooks/hub%40spot?tag=a%2Cb%20c", receiver.base);
    h.target(&target, 10).await;
    let creation = h.subscribe("contact.creation", None, true).await;
    let email = h
        .subscribe("contact.propertyChange", Some("email"), true)
        .await;
    let inactive = h
        .subscribe("contact.propertyChange", Some("lastname"), false)
        .await;
    assert_eq!(inactive["active"], false);
    let default_inactive = h
        .developer(
            Method::POST,
            "/subscriptions",
            Some(json!({"eventType": "contact.deletion"})),
        )
        .await
        .1;
    assert_eq!(
        default_inactive["active"], false,
        "active defaults to false"
    );

    let id = h
        .create(json!({"email": "hook@example.com", "lastname": "Quiet"}))
        .await;
    eventually("two events", || receiver.events().len() >= 2).await;
    let config = h.sim.config().clone();
    for delivery in receiver.deliveries() {
        assert_eq!(delivery.uri, target);
        assert_eq!(delivery.header("content-type"), "application/json");
        assert_eq!(delivery.header("x-hubspot-signature-version"), "v1");
        assert!(verify::v1(
            &config.client_secret,
            &delivery.body,
            delivery.header("x-hubspot-signature")
        ));
        let ts = delivery.header("x-hubspot-request-timestamp");
        let sig = delivery.header("x-hubspot-signature-v3");
        assert_eq!(sig.len(), 44, "padded base64 of 32 bytes");
        assert!(verify::v3(
            &config.client_secret,
            "POST",
            &delivery.uri,
            &delivery.body,
            ts,
            sig,
            now_ms()
        ));
        assert!(!verify::v3(
            "wrong-secret",
            "POST",
            &delivery.uri,
            &delivery.body,
            ts,
            sig,
            now_ms()
        ));
        let mut tampered = delivery.body.clone();
        tampered.push(b' ');
        assert!(!verify::v3(
            &config.client_secret,
            "POST",
            &delivery.uri,
            &tampered,
            ts,
            sig,
            now_ms()
        ));
        assert!(!verify::v1(
            &config.client_secret,
            &tampered,
            delivery.header("x-hubspot-signature")
        ));
        let signed_at: i64 = ts.parse().unwrap();
        assert!(verify::v3(
            &config.client_secret,
            "POST",
            &delivery.uri,
            &delivery.body,
            ts,
            sig,
            signed_at + 299_000
        ));
        assert!(
            !verify::v3(
                &config.client_secret,
                "POST",
                &delivery.uri,
                &delivery.body,
                ts,
                sig,
                signed_at + 301_000
            ),
            "5-minute window"
        );
        // Signing the raw URI instead of the decoded one would not verify.
        let raw_uri_sig = {
            use base64::Engine;
            use hmac::Mac;
            let mut mac =
                hmac::Hmac::<sha2::Sha256>::new_from_slice(config.client_secret.as_bytes())
                    .unwrap();
            mac.update(format!("POST{}", delivery.uri).as_bytes());
            mac.update(&delivery.body);
            mac.update(ts.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        };
        assert_ne!(raw_uri_sig, sig, "the signed URI is the decoded one");
    }
    let events = receiver.events();
    assert_eq!(
        events.len(),
        2,
        "nothing for the inactive lastname subscription: {events:?}"
    );
    let created = events
        .iter()
        .find(|e| e["subscriptionType"] == "contact.creation")
        .unwrap();
    let changed = events
        .iter()
        .find(|e| e["subscriptionType"] == "contact.propertyChange")
        .unwrap();
    for event in [created, changed] {
        assert_eq!(event["objectId"].as_u64().unwrap().to_string(), id);
        assert_eq!(event["portalId"], config.portal_id);
        assert_eq!(event["appId"], config.app_id);
        assert_eq!(event["attemptNumber"], 0);
        assert!(event["eventId"].is_u64() && event["occurredAt"].is_i64());
        assert_eq!(event["changeSource"], "INTEGRATION");
        assert_eq!(event["sourceId"], config.app_id.to_string());
    }
    assert_eq!(
        created["subscriptionId"].to_string(),
        creation["id"].as_str().unwrap()
    );
    assert_eq!(
        changed["subscriptionId"].to_string(),
        email["id"].as_str().unwrap()
    );
    assert_eq!(changed["propertyName"], "email");
    assert_eq!(changed["propertyValue"], "hook@example.com");

    // A person editing in HubSpot's UI: CRM_UI and the user id.
    h.sim
        .user_edit(
            id.parse().unwrap(),
            &[("email", "ui@example.com"), ("lastname", "Loud")],
            Some(7),
        )
        .unwrap();
    eventually("the UI edit", || receiver.events().len() >= 3).await;
    let ui = receiver.events().into_iter().nth(2).unwrap();
    assert_eq!(
        (ui["changeSource"].as_str(), ui["sourceId"].as_str()),
        (Some("CRM_UI"), Some("userId:7"))
    );
    assert_eq!(ui["propertyValue"], "ui@example.com");
    assert_eq!(h.sim.stats().webhooks.events_delivered, 3);
}

#[tokio::test]
async fn other_apps_writes_carry_their_own_app_id() {
    let mut config = fast_webhooks();
    config.other_app_tokens = vec![("pat-other".into(), 999)];
    let h = Harness::with(config).await;
    let receiver = Receiver::start(Behaviour::default()).await;
    h.target(&format!("{}/hook", receiver.base), 10).await;
    h.subscribe("contact.creation", None, true).await;
    let (status, _, _) = h
        .call_full(
            Method::POST,
            CONTACTS,
            Some(json!({"properties": {"firstname": "O"}})),
            "pat-other",
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    eventually("one event", || !receiver.events().is_empty()).await;
    assert_eq!(receiver.events()[0]["sourceId"], "999");
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_counting_attempts_and_fresh_timestamps() {
    let h = Harness::with(fast_webhooks()).await;
    let receiver = Receiver::start(Behaviour {
        failures_before_success: 2,
        ..Default::default()
    })
    .await;
    h.target(&format!("{}/hook", receiver.base), 10).await;
    h.subscribe("contact.creation", None, true).await;
    h.create(json!({"firstname": "Retry"})).await;
    eventually("three attempts", || receiver.deliveries().len() >= 3).await;
    let deliveries = receiver.deliveries();
    let attempts: Vec<u64> = deliveries
        .iter()
        .map(|d| d.events()[0]["attemptNumber"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [0, 1, 2]);
    let event_ids: Vec<u64> = deliveries
        .iter()
        .map(|d| d.events()[0]["eventId"].as_u64().unwrap())
        .collect();
    assert!(
        event_ids.windows(2).all(|w| w[0] == w[1]),
        "the same event is retried"
    );
    let stamps: Vec<i64> = deliveries
        .iter()
        .map(|d| d.header("x-hubspot-request-timestamp").parse().unwrap())
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "a timestamp per attempt"
    );
    let secret = h.sim.config().client_secret.clone();
    for d in &deliveries {
        assert!(verify::v3(
            &secret,
            "POST",
            &d.uri,
            &d.body,
            d.header("x-hubspot-request-timestamp"),
            d.header("x-hubspot-signature-v3"),
            now_ms()
        ));
    }
    eventually("stats", || h.sim.stats().webhooks.batches_delivered == 1).await;
    assert_eq!(h.sim.stats().webhooks.attempts_failed, 2);
}

#[tokio::test]
async fn a_4xx_is_retried_until_the_last_attempt_then_abandoned() {
    let mut config = fast_webhooks();
    config.webhooks.max_attempts = 4;
    let h = Harness::with(config).await;
    let receiver = Receiver::start(Behaviour {
        always_status: Some(404),
        ..Default::default()
    })
    .await;
    h.target(&format!("{}/hook", receiver.base), 10).await;
    h.subscribe("contact.creation", None, true).await;
    h.create(json!({"firstname": "Never"})).await;
    eventually("abandoned", || {
        h.sim.stats().webhooks.batches_abandoned == 1
    })
    .await;
    assert_eq!(receiver.deliveries().len(), 4);
    assert_eq!(h.sim.stats().webhooks.attempts_failed, 4);
    assert_eq!(h.sim.stats().webhooks.batches_delivered, 0);
}

#[tokio::test]
async fn a_delivery_slower_than_the_timeout_is_retried() {
    let h = Harness::with(fast_webhooks()).await;
    let receiver = Receiver::start(Behaviour {
        stall_first: Some(Duration::from_secs(2)),
        ..Default::default()
    })
    .await;
    h.target(&format!("{}/hook", receiver.base), 10).await;
    h.subscribe("contact.creation", None, true).await;
    h.create(json!({"firstname": "Slow"})).await;
    eventually("delivered on retry", || {
        h.sim.stats().webhooks.batches_delivered == 1
    })
    .await;
    let attempts: Vec<u64> = receiver
        .deliveries()
        .iter()
        .map(|d| d.events()[0]["attemptNumber"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts[..2], [0, 1]);
}

#[tokio::test]
async fn at_most_max_concurrent_requests_in_flight_and_at_most_100_events_each() {
    use std::sync::atomic::Ordering;
    let mut config = fast_webhooks();
    config.webhooks.timeout = Duration::from_secs(60);
    let h = Harness::with(config).await;
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let receiver = Receiver::start(Behaviour {
        gate: Some(gate.clone()),
        ..Default::default()
    })
    .await;
    h.target(&format!("{}/hook", receiver.base), 6).await;
    h.subscribe("contact.creation", None, true).await;
    for round in 0..8 {
        let emails: Vec<String> = (0..100)
            .map(|n| format!("c{round}-{n}@example.com"))
            .collect();
        let refs: Vec<&str> = emails.iter().map(String::as_str).collect();
        let (status, _) = h
            .call(
                Method::POST,
                &format!("{CONTACTS}/batch/create"),
                Some(inputs(&refs, false)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    eventually("six held", || {
        receiver.in_flight.load(Ordering::SeqCst) == 6
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.deliveries().len(),
        6,
        "a seventh waits for a free slot"
    );
    gate.add_permits(10_000);
    eventually("all 800 events", || receiver.events().len() == 800).await;
    assert!(receiver.max_in_flight.load(Ordering::SeqCst) <= 6);
    assert!(
        receiver
            .deliveries()
            .iter()
            .all(|d| d.events().len() <= 100)
    );
    let (status, body) = h
        .developer(
            Method::PUT,
            "/settings",
            Some(json!({"targetUrl": receiver.base, "throttling": {"maxConcurrentRequests": 5}})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "must be greater than five: {body}"
    );
}

#[tokio::test]
async fn merge_restore_deletion_and_privacy_deletion_events() {
    let h = Harness::with(fast_webhooks()).await;
    let receiver = Receiver::start(Behaviour::default()).await;
    h.target(&format!("{}/hook", receiver.base), 10).await;
    for kind in [
        "contact.merge",
        "contact.restore",
        "contact.deletion",
        "contact.privacyDeletion",
    ] {
        h.subscribe(kind, None, true).await;
    }
    let a: u64 = h
        .create(json!({"email": "keep@example.com"}))
        .await
        .parse()
        .unwrap();
    let b: u64 = h
        .create(json!({"email": "fold@example.com", "phone": "5"}))
        .await
        .parse()
        .unwrap();
    h.sim.user_merge(a, b, None).unwrap();
    eventually("merge", || receiver.events().len() == 1).await;
    let merge = &receiver.events()[0];
    assert_eq!(merge["subscriptionType"], "contact.merge");
    assert_eq!(
        (
            merge["primaryObjectId"].as_u64(),
            merge["newObjectId"].as_u64()
        ),
        (Some(a), Some(a))
    );
    assert_eq!(merge["mergedObjectIds"], json!([b]));
    assert_eq!(merge["changeSource"], "CRM_UI");
    assert_eq!(
        h.sim.contact(a).unwrap().0["hs_additional_emails"],
        "fold@example.com"
    );
    assert!(h.sim.user_archive(a, None));
    h.sim.user_restore(a, None).unwrap();
    eventually("deletion and restore", || receiver.events().len() == 3).await;
    let (status, _) = h
        .call(
            Method::POST,
            &format!("{CONTACTS}/gdpr-delete"),
            Some(json!({"objectId": a.to_string()})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    eventually("privacy deletion and deletion", || {
        receiver.events().len() == 5
    })
    .await;
    let kinds: Vec<String> = receiver
        .events()
        .iter()
        .map(|e| e["subscriptionType"].as_str().unwrap().to_owned())
        .collect();
    for kind in [
        "contact.deletion",
        "contact.restore",
        "contact.privacyDeletion",
    ] {
        assert!(kinds.contains(&kind.to_owned()), "{kind}: {kinds:?}");
    }
    assert!(h.sim.contact(a).is_none(), "GDPR delete is permanent");
}

#[tokio::test]
async fn dropped_and_duplicated_webhooks_faults() {
    let h = Harness::with(fast_webhooks()).await;
    let receiver = Receiver::start(Behaviour::default()).await;
    h.target(&format!("{}/hook", receiver.base), 10).await;
    h.subscribe("contact.creation", None, true).await;
    h.sim.set_faults(tte_sync_hubspot::simulator::Faults {
        webhook_drop_percent: 100,
        ..Default::default()
    });
    h.create(json!({"firstname": "Dropped"})).await;
    eventually("dropped", || h.sim.stats().webhooks.batches_dropped == 1).await;
    h.sim.set_faults(tte_sync_hubspot::simulator::Faults {
        webhook_duplicate_percent: 100,
        ..Default::default()
    });
    h.create(json!({"firstname": "Twice"})).await;
    eventually("two copies", || receiver.deliveries().len() == 2).await;
    let events = receiver.events();
    assert_eq!(events[0]["eventId"], events[1]["eventId"]);
    assert_eq!(h.sim.stats().webhooks.batches_duplicated, 1);
}

#[tokio::test]
async fn subscription_management_limits_and_auth() {
    let h = Harness::with(fast_webhooks()).await;
    let app = h.sim.config().app_id;
    let response = h
        .http
        .get(h.url(&format!("/webhooks/v3/{app}/subscriptions?hapikey=wrong")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = h
        .http
        .get(h.url(&format!("/webhooks/v3/{app}/subscriptions")))
        .bearer_auth(&h.sim.config().developer_api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a bearer developer key works too"
    );
    let (status, body) = h
        .developer(
            Method::POST,
            "/subscriptions",
            Some(json!({"eventType": "contact.propertyChange"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "propertyName required: {body}"
    );
    let first = h
        .subscribe("contact.propertyChange", Some("firstname"), false)
        .await;
    let id = first["id"].as_str().unwrap();
    let (status, body) = h
        .developer(
            Method::PATCH,
            &format!("/subscriptions/{id}"),
            Some(json!({"active": true})),
        )
        .await;
    assert_eq!(
        (status, body["active"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (status, body) = h
        .developer(Method::POST, "/subscriptions/batch/update", Some(json!({"inputs": [{"id": id.parse::<u64>().unwrap(), "active": false}, {"id": 9999, "active": true}]})))
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(body["errors"][0]["category"], "SUBSCRIPTION_ID_NOT_FOUND");
    for _ in 1..1000 {
        h.subscribe("contact.creation", None, false).await;
    }
    let (status, body) = h
        .developer(
            Method::POST,
            "/subscriptions",
            Some(json!({"eventType": "contact.creation"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["message"],
        "Couldn't create another subscription. You've reached the maximum number allowed per application (1000)."
    );
    let (status, _) = h
        .developer(Method::DELETE, &format!("/subscriptions/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h
        .developer(Method::GET, &format!("/subscriptions/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_oauth_token_without_the_write_scope_is_403_missing_scopes() {
    let h = Harness::start().await;
    let config = h.sim.config().clone();
    // authorize() asks for the read scope only.
    let back = authorize(&h, &config.client_id, "s").await;
    let code = param(&back, "code").unwrap();
    let (_, tokens) = token_request(
        &h,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            (
                "redirect_uri",
                "http://localhost:9999/hubspot/install/callback",
            ),
            ("client_id", &config.client_id),
            ("client_secret", &config.client_secret),
        ],
    )
    .await;
    let access = tokens["access_token"].as_str().unwrap();
    let (status, _, _) = h.call_full(Method::GET, CONTACTS, None, access).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = h
        .call_full(
            Method::POST,
            CONTACTS,
            Some(json!({"properties": {"firstname": "No"}})),
            access,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error_shape(&body, "MISSING_SCOPES");
    assert_eq!(
        body["errors"][0]["context"]["requiredGranularScopes"],
        json!(["crm.objects.contacts.write"])
    );
}

#[tokio::test]
async fn search_by_email_uses_primary_emails_only_and_mixes_indexed_and_scanned_groups() {
    let h = Harness::start().await;
    let owner = h
        .create(json!({"email": "first@example.com", "hs_additional_emails": "second@example.com"}))
        .await;
    let other = h.create(json!({"firstname": "Zed"})).await;
    let (status, body) = search(&h, json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "second@example.com"}]}]})).await;
    assert_eq!(
        (status, body["total"].as_u64()),
        (StatusCode::OK, Some(0)),
        "{body}"
    );
    let (_, body) = search(
        &h,
        json!({"filterGroups": [
            {"filters": [{"propertyName": "email", "operator": "EQ", "value": "FIRST@example.com"}]},
            {"filters": [{"propertyName": "firstname", "operator": "CONTAINS_TOKEN", "value": "zed"}]}
        ], "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}]}),
    )
    .await;
    let ids: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [owner.as_str(), other.as_str()]);
}

// ---------------------------------------------------------------------------------------
// The admin API over HTTP

impl Harness {
    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap()
            },
        )
    }
}

#[tokio::test]
async fn admin_api_seeds_edits_as_a_user_injects_faults_and_resets() {
    let h = Harness::with(fast_webhooks()).await;
    let receiver = Receiver::start(Behaviour::default()).await;
    h.target(&format!("{}/hook", receiver.base), 10).await;
    h.subscribe("contact.propertyChange", Some("firstname"), true)
        .await;
    h.subscribe("contact.deletion", None, true).await;

    let (status, seeded) = h
        .admin(
            Method::POST,
            "/_sim/seed",
            Some(json!({"seed": 9, "start": 0, "count": 50})),
        )
        .await;
    assert_eq!(
        (status, seeded["created"].as_u64()),
        (StatusCode::OK, Some(50))
    );
    let first = seeded["firstId"].as_u64().unwrap();
    let person = tte_sync_core::simulate::people(9, 0, 1).next().unwrap();
    let (status, contact) = h
        .admin(Method::GET, &format!("/_sim/contacts/{first}"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        contact["properties"]["firstname"],
        person.first_name.as_str()
    );

    let (status, _) = h
        .admin(
            Method::PATCH,
            &format!("/_sim/contacts/{first}"),
            Some(json!({"properties": {"firstname": "Edited"}, "userId": 42})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h
        .admin(Method::DELETE, &format!("/_sim/contacts/{first}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    eventually("edit and deletion events", || receiver.events().len() == 2).await;
    let events = receiver.events();
    assert_eq!(events[0]["sourceId"], "userId:42");
    assert_eq!(events[0]["propertyValue"], "Edited");
    assert_eq!(events[1]["subscriptionType"], "contact.deletion");
    assert_eq!(events[1]["changeSource"], "CRM_UI");

    let (status, body) = h
        .admin(
            Method::PATCH,
            &format!("/_sim/contacts/{first}"),
            Some(json!({"properties": {"firstname": "X"}})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "archived contacts cannot be edited: {body}"
    );
    let (status, _) = h
        .admin(
            Method::POST,
            &format!("/_sim/contacts/{first}/restore"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, _) = h
        .admin(
            Method::PUT,
            "/_sim/faults",
            Some(json!({"rate_limit_storm": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.call(Method::GET, CONTACTS, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, body) = h
        .admin(
            Method::PUT,
            "/_sim/faults",
            Some(json!({"no_such_fault": 1})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown faults are refused: {body}"
    );

    let (_, state) = h.admin(Method::GET, "/_sim/state", None).await;
    assert_eq!(state["contacts"], 50);
    let before = state["nowMs"].as_i64().unwrap();
    let (_, clock) = h
        .admin(
            Method::POST,
            "/_sim/clock/advance",
            Some(json!({"seconds": 3600})),
        )
        .await;
    assert!(clock["nowMs"].as_i64().unwrap() >= before + 3_600_000);
    let (status, _) = h.admin(Method::POST, "/_sim/reset", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(h.sim.contact_count(), 0);
}

#[tokio::test]
async fn search_lag_hides_new_contacts_from_search_until_indexed() {
    let h = Harness::start().await;
    h.sim.set_faults(tte_sync_hubspot::simulator::Faults {
        search_lag_ms: 60_000,
        ..Default::default()
    });
    let id = h.create(json!({"email": "lag@example.com"})).await;
    let by_email = json!({"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": "lag@example.com"}]}]});
    let (_, body) = search(&h, by_email.clone()).await;
    assert_eq!(body["total"], 0, "not indexed yet");
    let (status, body) = h
        .call(
            Method::POST,
            CONTACTS,
            Some(json!({"properties": {"email": "lag@example.com"}})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the create after a search miss: {body}"
    );
    h.sim.advance_clock(Duration::from_secs(61));
    let (_, body) = search(&h, by_email).await;
    assert_eq!(body["results"][0]["id"], id.as_str());
}
