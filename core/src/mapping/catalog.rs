//! A compiled mapping checked against what the CRM actually has: every CRM property the file
//! names exists in the connector's [`Catalog`], and the ones the sync writes are writable.
//!
//! The compiler cannot know a CRM's properties; this check runs where a catalog is at hand:
//! `mapping check --online` and `setup --dry-run` (from the connector's `describe()`), plain
//! `mapping check` (from a catalog the connector ships), and the pre-flight of every pass.
//! A property the file declares under `properties:` may be missing: `setup` creates it.

use std::collections::BTreeSet;

use super::diagnostics::{Code, Diagnostic, did_you_mean};
use super::{Mapping, PropertyUse};
use crate::connector::Catalog;

/// What checking a mapping against a catalog found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogCheck {
    /// Properties the file names that the CRM does not have and `setup` would not create
    /// (M016), or that the sync writes but the CRM computes (M017), in file order.
    pub problems: Vec<Diagnostic>,
    /// Properties declared under `properties:` that the CRM does not have yet: `setup`
    /// creates them, and no sync can write before it has.
    pub to_create: Vec<String>,
}

impl CatalogCheck {
    /// Whether the mapping fits the CRM as it is now.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty() && self.to_create.is_empty()
    }
}

/// Checks every CRM property `mapping` names against `catalog`.
pub fn check_catalog(mapping: &Mapping, catalog: &Catalog) -> CatalogCheck {
    let declared: BTreeSet<&str> = mapping
        .property_specs()
        .iter()
        .map(|spec| spec.name.as_str())
        .collect();
    let mut check = CatalogCheck::default();
    let mut reported = BTreeSet::new();
    for site in mapping.property_uses() {
        match catalog.properties.get(&site.name) {
            None if declared.contains(site.name.as_str()) => {
                if !check.to_create.contains(&site.name) {
                    check.to_create.push(site.name.clone());
                }
            }
            None => {
                if reported.insert(site.name.as_str()) {
                    check.problems.push(unknown(site, catalog));
                }
            }
            Some(info) if site.written && info.read_only => {
                if reported.insert(site.name.as_str()) {
                    check.problems.push(read_only(site));
                }
            }
            Some(_) => {}
        }
    }
    check
}

fn unknown(site: &PropertyUse, catalog: &Catalog) -> Diagnostic {
    let known = catalog.properties.keys().map(String::as_str);
    let hint = did_you_mean(&site.name, known).unwrap_or_else(|| {
        "correct the name, or declare it under `properties:` so `tte-sync setup` creates it"
            .to_owned()
    });
    Diagnostic::new(
        Code::UnknownProperty,
        &site.file,
        site.at,
        site.path.clone(),
        format!("the CRM has no property `{}`", site.name),
    )
    .hint(hint)
}

fn read_only(site: &PropertyUse) -> Diagnostic {
    Diagnostic::new(
        Code::ReadOnlyProperty,
        &site.file,
        site.at,
        site.path.clone(),
        format!(
            "the CRM computes `{}` itself and refuses writes to it",
            site.name
        ),
    )
    .hint("map it `direction: to_hub`, or map another property")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::PropertyInfo;

    const MAPPING: &str = "version: 1
connector: test
object: contacts
identity:
  crm_id_in_hub: { custom_field: External ID }
  hub_id_in_crm: { property: tte_customer_uri, unique: true }
  match: []
status:
  hub: { custom_field: Sync Status }
  crm: { property: tte_customer_sync_status }
  ok: ok
fields:
  - hub: name
    crm: [firstname, lastnme]
    transform: split_name
  - hub: emails
    crm: { primary: email, rest: created_by }
properties:
  - { name: tte_customer_uri, label: URI, unique: true }
  - { name: tte_customer_sync_status, label: Status }
";

    fn catalog(names: &[(&str, bool)]) -> Catalog {
        Catalog {
            properties: names
                .iter()
                .map(|&(name, read_only)| {
                    (
                        name.to_owned(),
                        PropertyInfo {
                            name: name.to_owned(),
                            label: name.to_owned(),
                            data_type: "string".to_owned(),
                            unique: false,
                            read_only,
                        },
                    )
                })
                .collect(),
        }
    }

    fn mapping() -> Mapping {
        Mapping::compile_for(MAPPING, "m.yaml", &["test"]).expect("compiles")
    }

    #[test]
    fn a_mistyped_property_is_reported_where_it_is_written_with_a_suggestion() {
        let check = check_catalog(
            &mapping(),
            &catalog(&[
                ("firstname", false),
                ("lastname", false),
                ("email", false),
                ("created_by", false),
            ]),
        );
        assert_eq!(check.problems.len(), 1, "{:?}", check.problems);
        let problem = &check.problems[0];
        assert_eq!(problem.code, Code::UnknownProperty);
        assert_eq!((problem.file.as_str(), problem.line), ("m.yaml", 14));
        assert_eq!(problem.path, "fields[0].crm[1]");
        assert_eq!(problem.hint.as_deref(), Some("did you mean `lastname`?"));
        assert_eq!(
            check.to_create,
            ["tte_customer_sync_status", "tte_customer_uri"]
        );
        assert!(!check.is_clean());
    }

    #[test]
    fn a_written_read_only_property_is_reported_and_a_fitting_catalog_is_clean() {
        let mut names = vec![
            ("firstname", false),
            ("lastname", false),
            ("lastnme", false),
            ("email", false),
            ("tte_customer_uri", false),
            ("tte_customer_sync_status", false),
        ];
        let check = check_catalog(
            &mapping(),
            &catalog(&[&names[..], &[("created_by", true)]].concat()),
        );
        assert_eq!(check.problems.len(), 1, "{:?}", check.problems);
        assert_eq!(check.problems[0].code, Code::ReadOnlyProperty);
        assert_eq!(check.problems[0].path, "fields[1].crm.rest");
        names.push(("created_by", false));
        assert!(check_catalog(&mapping(), &catalog(&names)).is_clean());
    }
}
