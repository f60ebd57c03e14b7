//! Loading config files through the host with the HubSpot connector linked: the example
//! config, unknown and missing keys, `${ENV}` references, connector sections and overrides.

use std::path::Path;

use tte_sync_host::config::{Config, ConfigError, schema};
// Links the HubSpot connector so that it registers itself.
use tte_sync_hubspot as _;

const EXAMPLE: &str = include_str!("../../tte-sync.example.yaml");

fn parse_with(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let lookup = |name: &str| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    };
    let overrides: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::parse(text, Path::new("tte-sync.yaml"), &lookup, overrides)
}

const EXAMPLE_ENV: &[(&str, &str)] = &[
    ("TTE_API_KEY", "tte-key"),
    ("HUBSPOT_APP_TOKEN", "pat-na1-xyz"),
];

#[test]
fn the_example_config_loads_and_hides_its_secrets() {
    let config = parse_with(EXAMPLE, EXAMPLE_ENV).unwrap();
    assert_eq!(config.crm.connector, "hubspot");
    assert_eq!(config.tte.api_key.expose(), "tte-key");
    let printed = format!("{config:?}");
    assert!(!printed.contains("tte-key"), "{printed}");
}

#[test]
fn an_unknown_key_is_named_with_its_path() {
    let text = EXAMPLE.replace("server:", "servr:");
    let error = parse_with(&text, EXAMPLE_ENV).unwrap_err().to_string();
    assert!(error.contains("tte-sync.yaml"), "{error}");
    assert!(error.contains("unknown field `servr`"), "{error}");
}

#[test]
fn a_missing_required_key_is_named() {
    let error = parse_with("crm:\n  connector: hubspot\n", &[])
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing field `tte`"), "{error}");
}

#[test]
fn an_unset_variable_names_key_and_variable() {
    let error = parse_with(EXAMPLE, &[("TTE_API_KEY", "k")])
        .unwrap_err()
        .to_string();
    assert!(error.contains("HUBSPOT_APP_TOKEN"), "{error}");
    assert!(error.contains("crm.config.static_app_token"), "{error}");
}

#[test]
fn an_unknown_connector_lists_the_known_ones() {
    let text = EXAMPLE.replace("connector: hubspot", "connector: salesforce");
    let error = parse_with(&text, EXAMPLE_ENV).unwrap_err().to_string();
    assert!(error.contains("`crm.connector`"), "{error}");
    assert!(error.contains("hubspot"), "{error}");
}

#[test]
fn a_bad_connector_key_is_named_inside_the_connector_section() {
    let text = EXAMPLE.replace("static_app_token:", "static_app_tokn:");
    let error = parse_with(&text, EXAMPLE_ENV).unwrap_err().to_string();
    assert!(error.contains("`crm.config"), "{error}");
    assert!(error.contains("static_app_tokn"), "{error}");
}

#[test]
fn two_hubspot_credentials_are_refused_at_load_naming_both() {
    let text = EXAMPLE.replace(
        "static_app_token: ${HUBSPOT_APP_TOKEN}",
        "static_app_token: ${HUBSPOT_APP_TOKEN}\n    service_key: sk-1",
    );
    let error = parse_with(&text, EXAMPLE_ENV).unwrap_err().to_string();
    assert!(error.contains("`crm.config`"), "{error}");
    assert!(
        error.contains("`static_app_token`, `service_key`"),
        "{error}"
    );
}

#[test]
fn a_service_key_with_webhooks_says_to_poll() {
    let text = EXAMPLE
        .replace(
            "static_app_token: ${HUBSPOT_APP_TOKEN}",
            "service_key: sk-1",
        )
        .replace("# changes: webhooks", "changes: webhooks");
    let error = parse_with(&text, EXAMPLE_ENV).unwrap_err().to_string();
    assert!(error.contains("changes: polling"), "{error}");
}

#[test]
fn environment_overrides_win() {
    let mut vars = EXAMPLE_ENV.to_vec();
    vars.push(("TTE_SYNC__SERVER__LISTEN", "0.0.0.0:9999"));
    let config = parse_with(EXAMPLE, &vars).unwrap();
    assert_eq!(config.server.listen.port(), 9999);
}

#[test]
fn invalid_yaml_says_where() {
    let error = parse_with("tte: [\n", &[]).unwrap_err().to_string();
    assert!(error.contains("not valid YAML"), "{error}");
    assert!(error.contains("line"), "{error}");
}

#[test]
fn the_schema_describes_connector_settings() {
    let schema = serde_json::to_value(schema()).unwrap();
    let text = schema.to_string();
    assert!(text.contains("private_app_token"), "{text}");
    assert!(schema["$defs"]["CrmConfig"]["allOf"].is_array(), "{schema}");
}
