//! Golden mapping cases: files in `tests/golden/`, one directory per case.
//!
//! - `to_crm/<case>/`: `input.json` (a 10to8 customer), optional `mapping.yaml` (default:
//!   `mappings/hubspot.yaml`), `expected.json` (the CRM properties written).
//! - `to_hub/<case>/`: `input.json` (`{"id": …, "properties": {…}}`, nulls meaning absent),
//!   optional `current.json` (the current 10to8 customer) and `mapping.yaml`, `expected.json`
//!   (the 10to8 fields written).
//! - `diagnostics/<case>/`: `mapping.yaml` and `expected.txt` (the rendered diagnostics).
//!
//! Every case runs, then every failure is listed with what came out instead.

use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tte_sync_core::mapping::{Code, Mapping, SyncTime};
use tte_sync_core::record::Properties;
use tte_sync_core::{CrmId, CrmRecord, Customer};

/// The connectors the golden mappings may name (core links none).
const CONNECTORS: &[&str] = &["hubspot"];
/// The sync time of every case.
const NOW: &str = "2026-01-02T03:04:05Z";
/// The least number of apply cases the suite must hold.
const MIN_APPLY_CASES: usize = 40;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn cases(kind: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root().join(kind))
        .unwrap_or_else(|e| panic!("read tests/golden/{kind}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn mapping_of(case: &Path) -> Mapping {
    let own = case.join("mapping.yaml");
    let (path, name) = if own.exists() {
        (own, "mapping.yaml".to_owned())
    } else {
        (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../mappings/hubspot.yaml"),
            "mappings/hubspot.yaml".to_owned(),
        )
    };
    Mapping::compile_for(&read(&path), &name, CONNECTORS)
        .unwrap_or_else(|d| panic!("{}: the mapping does not compile:\n{d}", case.display()))
}

fn now() -> SyncTime {
    SyncTime::new(NOW.parse::<DateTime<Utc>>().unwrap())
}

fn crm_record(input: Value) -> CrmRecord {
    let id = input["id"].as_str().unwrap_or_default().to_owned();
    // A value is a string or a list `{"items": [...], "primary": n}`; null means absent.
    let properties: Properties = input["properties"]
        .as_object()
        .map(|props| {
            props
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let value = serde_json::from_value(v.clone()).expect("a property value");
                    (k.clone(), value)
                })
                .collect()
        })
        .unwrap_or_default();
    CrmRecord {
        id: CrmId(id),
        properties,
        ..CrmRecord::default()
    }
}

fn run_to_crm(case: &Path) -> Result<(), String> {
    let mapping = mapping_of(case);
    let customer: Customer = serde_json::from_value(json(&case.join("input.json")))
        .map_err(|e| format!("input.json: {e}"))?;
    let got = serde_json::to_value(mapping.to_crm(&customer, &now()).properties).unwrap();
    compare(&got, &json(&case.join("expected.json")))
}

fn run_to_hub(case: &Path) -> Result<(), String> {
    let mapping = mapping_of(case);
    let record = crm_record(json(&case.join("input.json")));
    let current_path = case.join("current.json");
    let current: Option<Customer> = current_path
        .exists()
        .then(|| serde_json::from_value(json(&current_path)).unwrap());
    let mut out = mapping.to_hub(&record, current.as_ref(), &now());
    out.errors.clear();
    let got = serde_json::to_value(out).unwrap();
    compare(&got, &json(&case.join("expected.json")))
}

fn compare(got: &Value, expected: &Value) -> Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!(
            "expected:\n{}\ngot:\n{}",
            serde_json::to_string_pretty(expected).unwrap(),
            serde_json::to_string_pretty(got).unwrap()
        ))
    }
}

fn run_diagnostic(case: &Path) -> Result<Vec<Code>, String> {
    let text = read(&case.join("mapping.yaml"));
    let expected = read(&case.join("expected.txt"));
    match Mapping::compile_for(&text, "mapping.yaml", CONNECTORS) {
        Ok(_) => Err("the mapping compiled; expected diagnostics".to_owned()),
        Err(diagnostics) => {
            let got = diagnostics.to_string();
            if got.trim_end() == expected.trim_end() {
                Ok(diagnostics.iter().map(|d| d.code).collect())
            } else {
                Err(format!("expected:\n{expected}\ngot:\n{got}"))
            }
        }
    }
}

fn report(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} golden case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn apply_cases_give_their_expected_output() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (kind, run) in [
        ("to_crm", run_to_crm as fn(&Path) -> Result<(), String>),
        ("to_hub", run_to_hub),
    ] {
        for case in cases(kind) {
            count += 1;
            if let Err(why) = run(&case) {
                failures.push(format!(
                    "{kind}/{}:\n{why}",
                    case.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    report(&failures);
    assert!(count >= MIN_APPLY_CASES, "only {count} apply cases");
}

#[test]
fn bad_mappings_give_their_expected_diagnostics() {
    let mut failures = Vec::new();
    let mut codes = Vec::new();
    for case in cases("diagnostics") {
        match run_diagnostic(&case) {
            Ok(found) => codes.extend(found),
            Err(why) => failures.push(format!(
                "diagnostics/{}:\n{why}",
                case.file_name().unwrap().to_string_lossy()
            )),
        }
    }
    report(&failures);
    for code in [
        Code::InvalidYaml,
        Code::UnknownKey,
        Code::WrongType,
        Code::MissingPart,
        Code::UnknownTransform,
        Code::WrittenTwice,
        Code::ReservedTarget,
        Code::UnknownConnector,
        Code::BadTemplate,
    ] {
        assert!(
            codes.contains(&code),
            "no golden diagnostic case covers {code}"
        );
    }
}
