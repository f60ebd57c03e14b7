//! `tte-sync mapping …` driven as a user drives it: the built binary, its exit code, stdout and
//! stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_tte-sync");
const NOW: &str = "2026-01-02T03:04:05Z";
const OK: &str = "Last synced: 2026-01-02T03:04:05Z";
const URI: &str = "https://10to8.com/api/enterprise/v2/customer/501/";

fn default_mapping() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../mappings/hubspot.yaml")
}

fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tte-sync");
    // A command that fails before reading stdin closes it; that is not the test's concern.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A scratch file under the target directory, unique per test.
fn scratch(name: &str, contents: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mapping_cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn check_accepts_the_default_mapping_with_a_summary() {
    let mapping = default_mapping();
    let out = run(&["mapping", "check", mapping.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(
        stdout
            .contains("CRM properties: not checked: the connector ships no catalog; use --online"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains(": ok: connector hubspot, object contacts, 3 fields, 4 properties to ensure"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "never-linked records match by email, then name + phone (phones read in GB); \
             known by name only, they are held as possible duplicates"
        ),
        "{stdout}"
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn check_names_an_unknown_match_key_and_the_closest_one() {
    let default = std::fs::read_to_string(default_mapping()).unwrap();
    let bad = default.replace(
        "match: [email, [name, phone]]",
        "match: [email, [name, phnoe]]",
    );
    assert_ne!(bad, default, "the default mapping has the default rules");
    let path = scratch("bad_match_key.yaml", &bad);
    let out = run(&["mapping", "check", path.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error[M015]: unknown match key `phnoe`"),
        "{stderr}"
    );
    assert!(stderr.contains("at identity.match[1][1]"), "{stderr}");
    assert!(stderr.contains("did you mean `phone`?"), "{stderr}");
}

#[test]
fn check_reports_diagnostics_on_stderr_and_exits_1() {
    let default = std::fs::read_to_string(default_mapping()).unwrap();
    let bad = scratch(
        "bad.yaml",
        &default.replace("transform: split_name", "transform: splt_name"),
    );
    let out = run(&["mapping", "check", bad.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    let line = default
        .lines()
        .position(|l| l.contains("transform: split_name"))
        .unwrap()
        + 1;
    assert!(
        stderr.contains(&format!(
            "bad.yaml:{line}:16: error[M005]: unknown transform `splt_name`\n  at fields[0].transform\n  hint: did you mean `split_name`?"
        )),
        "{stderr}"
    );
}

#[test]
fn check_of_a_missing_file_says_so() {
    let out = run(&["mapping", "check", "/nonexistent/mapping.yaml"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("error[M001]: cannot read the mapping file"));
}

#[test]
fn apply_to_crm_prints_the_properties_to_write() {
    let mapping = default_mapping();
    let customer = json!({
        "resource_uri": URI,
        "name": "  Ada   van der Berg ",
        "emails": ["ada@example", "ada@work.example.com", "a3@example.org"],
        "numbers": ["+44 7700 900123"],
        "custom_fields": {"External ID": "101"},
        "deleted": false
    });
    let out = run(
        &[
            "mapping",
            "apply",
            mapping.to_str().unwrap(),
            "--to",
            "crm",
            "--now",
            NOW,
        ],
        &customer.to_string(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got,
        json!({
            "firstname": "Ada",
            "lastname": "van der Berg",
            "email": "",
            "tte_customer_secondary_emails": "ada@work.example.com,\na3@example.org",
            "phone": "+44 7700 900123",
            "tte_customer_secondary_phone": "",
            "tte_customer_sync_status": "Error: Invalid email ada@example",
            "tte_customer_uri": URI
        })
    );
}

#[test]
fn apply_to_hub_keeps_an_invalid_current_email_behind_the_placeholder() {
    let mapping = default_mapping();
    let current = scratch(
        "current.json",
        &json!({"resource_uri": URI, "name": "Ada", "emails": ["ada@example", "b@example.com"]})
            .to_string(),
    );
    let record = json!({
        "hs_object_id": "101",
        "firstname": "Ada",
        "lastname": null,
        "email": "",
        "tte_customer_secondary_emails": "b@example.com,\nc@example.com",
        "phone": "+44 1",
        "tte_customer_uri": URI
    });
    let out = run(
        &[
            "mapping",
            "apply",
            mapping.to_str().unwrap(),
            "--to",
            "hub",
            "--current",
            current.to_str().unwrap(),
            "--now",
            NOW,
        ],
        &record.to_string(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got,
        json!({
            "resource_uri": URI,
            "name": "Ada",
            "emails": ["ada@example", "b@example.com", "c@example.com"],
            "numbers": ["+44 1"],
            "custom_fields": {
                "External ID": "101",
                "Sync Status": "Error: Invalid email ada@example"
            }
        })
    );
}

#[test]
fn apply_to_hub_without_current_writes_the_ok_status() {
    let mapping = default_mapping();
    let out = run(
        &[
            "mapping",
            "apply",
            mapping.to_str().unwrap(),
            "--to",
            "hub",
            "--now",
            NOW,
        ],
        r#"{"hs_object_id": 202, "firstname": "New", "email": "new@example.com"}"#,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got["custom_fields"],
        json!({"External ID": "202", "Sync Status": OK})
    );
    assert_eq!(got["name"], "New");
    assert!(got.get("resource_uri").is_none(), "{got}");
}

#[test]
fn apply_rejects_bad_input_with_exit_2() {
    let mapping = default_mapping();
    let mapping = mapping.to_str().unwrap();
    for (args, stdin, says) in [
        (
            vec!["--to", "crm"],
            "not json",
            "stdin is not a 10to8 customer",
        ),
        (
            vec!["--to", "hub"],
            r#"{"email": {"a": 1}}"#,
            "property `email` is an object",
        ),
        (
            vec!["--to", "hub"],
            r#"{"email": [1]}"#,
            "property `email` is a list of something other than strings",
        ),
        (
            vec!["--to", "crm", "--now", "yesterday"],
            "{}",
            "is not an RFC 3339 time",
        ),
        (
            vec!["--to", "hub", "--current", "/nonexistent.json"],
            "{}",
            "cannot read `--current",
        ),
    ] {
        let mut full = vec!["mapping", "apply", mapping];
        full.extend(args);
        let out = run(&full, stdin);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{full:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty());
        assert!(
            text(&out.stderr).contains(says),
            "{full:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn apply_with_a_bad_mapping_exits_1_before_reading_input() {
    let bad = scratch("unknown_connector.yaml", "version: 1\nconnector: hubspt\n");
    let out = run(
        &["mapping", "apply", bad.to_str().unwrap(), "--to", "crm"],
        "{}",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("error[M"),
        "{}",
        text(&out.stderr)
    );
}

fn schema_validator() -> (boon::Schemas, boon::SchemaIndex) {
    let out = run(&["mapping", "schema"], "");
    assert_eq!(out.status.code(), Some(0));
    let schema: Value = serde_json::from_slice(&out.stdout).expect("the schema is JSON");
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("urn:tte-sync:mapping", schema)
        .unwrap();
    let index = compiler
        .compile("urn:tte-sync:mapping", &mut schemas)
        .expect("the schema is a valid JSON Schema");
    (schemas, index)
}

fn yaml_as_json(text: &str) -> Value {
    let yaml: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
    serde_json::to_value(yaml).unwrap()
}

#[test]
fn the_default_mapping_validates_against_the_printed_schema() {
    let (schemas, index) = schema_validator();
    let default = std::fs::read_to_string(default_mapping()).unwrap();
    if let Err(error) = schemas.validate(&yaml_as_json(&default), index) {
        panic!("mappings/hubspot.yaml does not match the schema: {error:#}");
    }
}

#[test]
fn the_printed_schema_rejects_what_the_compiler_rejects() {
    let (schemas, index) = schema_validator();
    let default = std::fs::read_to_string(default_mapping()).unwrap();
    for (from, to) in [
        ("transform: split_name", "transform: splt_name"),
        ("    transform: split_name", "    trasform: split_name"),
        ("version: 1", "version: one"),
        ("  - hub: name", "  - hub: nmae"),
        (
            "conflicts: { default: hub_wins }",
            "conflicts: { default: newest_wins }",
        ),
    ] {
        let bad = yaml_as_json(&default.replace(from, to));
        assert!(
            schemas.validate(&bad, index).is_err(),
            "the schema accepts `{to}`"
        );
    }
}
