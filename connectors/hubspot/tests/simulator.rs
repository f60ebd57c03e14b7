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
