//! The compiler: mapping text in, a [`Mapping`] or every problem found out.
//!
//! Two passes. serde (with `deny_unknown_fields`) checks the shape and reports syntax and type
//! errors with their position; then the semantic checks below run on the typed spec and find
//! where each offending node is through the [`Locator`]. All semantic problems are collected,
//! not just the first.

use std::collections::{BTreeMap, HashSet};

use super::apply::{Check, HubList, HubScalar, ScalarFns, Shape};
use super::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean, list};
use super::identity::{ExtraSource, Key, MatchRule, Matching, parse_region};
use super::locate::{Locator, Position, child_index, child_key};
use super::spec::{
    CrmSide, FieldSpec, HUB_ATTRIBUTES, HubSide, IdentitySpec, MATCH_KEYS, MappingSpec,
    MatchRuleSpec, OnInvalidSpec, TransformList,
};
use super::template::{Placeholder, Template, TemplateError};
use super::transforms::{TRANSFORMS, TransformKind, transform};
use super::validate::{VALIDATORS, validator};
use super::{DeletePolicy, Field, Identity, Mapping, PropertyUse, Status};

/// The only version of the mapping language so far.
const VERSION: u32 = 1;
/// Where the docs of the language are, for hints.
const DOCS: &str = "docs/mapping.md";

pub(crate) fn compile(text: &str, file: &str, connectors: &[&str]) -> Result<Mapping, Diagnostics> {
    if text.trim().is_empty() || matches!(serde_yaml::from_str(text), Ok(serde_yaml::Value::Null)) {
        return Err(empty(file));
    }
    let locator = Locator::new(text);
    let spec: MappingSpec = match serde_yaml::from_str(text) {
        Ok(spec) => spec,
        Err(error) => return Err(Diagnostics::new(vec![from_serde(&error, file, &locator)])),
    };
    let mut checker = Checker {
        file,
        locator: &locator,
        found: Vec::new(),
    };
    let mapping = checker.mapping(spec, connectors);
    if checker.found.is_empty() {
        Ok(mapping)
    } else {
        Err(Diagnostics::new(checker.found))
    }
}

fn empty(file: &str) -> Diagnostics {
    Diagnostics::new(vec![
        Diagnostic::new(
            Code::InvalidYaml,
            file,
            Position { line: 1, column: 1 },
            "",
            "the mapping file is empty",
        )
        .hint(format!(
            "start from the connector's default mapping (in mappings/); see {DOCS}"
        )),
    ])
}

/// Turns a serde_yaml error into a diagnostic, classifying it by serde's (stable) wording.
fn from_serde(error: &serde_yaml::Error, file: &str, locator: &Locator) -> Diagnostic {
    let at = error
        .location()
        .map_or(Position { line: 1, column: 1 }, |l| Position {
            line: l.line(),
            column: l.column(),
        });
    let full = strip_positions(&error.to_string());
    let message = SERDE_MESSAGES
        .iter()
        .find_map(|start| full.find(start).map(|i| full[i..].to_owned()))
        .unwrap_or(full);
    let prefer_key = !message.starts_with("missing field");
    let path = locator.path_at(at, prefer_key).unwrap_or("").to_owned();
    let new = |code, message: String| Diagnostic::new(code, file, at, path.clone(), message);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, expected) = split_expected(rest);
        return new(Code::UnknownKey, format!("unknown key `{name}`")).hint(
            did_you_mean(name, expected.iter().copied()).unwrap_or_else(|| {
                if expected.is_empty() {
                    "no keys are allowed here".to_owned()
                } else {
                    format!(
                        "the keys allowed here are {}",
                        list(expected.iter().copied())
                    )
                }
            }),
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (name, expected) = split_expected(rest);
        return new(Code::WrongType, format!("unknown value `{name}`")).hint(
            did_you_mean(name, expected.iter().copied())
                .unwrap_or_else(|| format!("use one of {}", list(expected.iter().copied()))),
        );
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return new(Code::MissingPart, format!("missing required key `{name}`"))
            .hint(format!("add `{name}:` here; see {DOCS} for what it takes"));
    }
    if message.starts_with("invalid type")
        || message.starts_with("invalid value")
        || message.starts_with("invalid length")
    {
        let message = message
            .replace("expected u32", "expected a whole number")
            .replace("expected a borrowed string", "expected a string");
        return new(Code::WrongType, message).hint(format!(
            "see {DOCS} or `tte-sync mapping schema` for what `{}` takes",
            if path.is_empty() { "the file" } else { &path }
        ));
    }
    new(Code::InvalidYaml, format!("invalid YAML: {message}")).hint(
        "check the indentation, that every `key:` is followed by a space, and that quotes and \
         brackets are closed",
    )
}

/// The beginnings of serde's messages, to cut serde_yaml's path prefix off.
const SERDE_MESSAGES: &[&str] = &[
    "unknown field `",
    "unknown variant `",
    "missing field `",
    "invalid type",
    "invalid value",
    "invalid length",
];

/// Removes every ` at line N column M` from a message (the diagnostic carries the position).
fn strip_positions(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + " at line ".len()..];
        let skip = after
            .find(|c: char| !(c.is_ascii_digit() || c == ' ' || "column".contains(c)))
            .unwrap_or(after.len());
        rest = &after[skip..];
    }
    out.push_str(rest);
    out.trim_end().to_owned()
}

/// From "x`, expected one of `a`, `b`" the name and the expected names.
fn split_expected(rest: &str) -> (&str, Vec<&str>) {
    let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
    let expected = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| !s.is_empty())
        .collect();
    (name, expected)
}

/// A field's key: its `key:`, or its 10to8 side.
fn default_key(field: &FieldSpec) -> String {
    match (&field.key, &field.hub) {
        (Some(key), _) => key.clone(),
        (None, HubSide::Attribute(name)) => name.clone(),
        (None, HubSide::CustomField(custom)) => custom.custom_field.clone(),
    }
}

struct Checker<'a> {
    file: &'a str,
    locator: &'a Locator,
    found: Vec<Diagnostic>,
}

/// A CRM property a field touches, with the path of the node that names it.
struct Touch {
    property: String,
    path: String,
}

impl Checker<'_> {
    fn report(&mut self, code: Code, path: &str, message: impl Into<String>, hint: Option<String>) {
        let at = self.locator.value(path);
        self.found
            .push(Diagnostic::new(code, self.file, at, path, message).maybe_hint(hint));
    }

    fn report_key(
        &mut self,
        code: Code,
        path: &str,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let at = self.locator.key(path);
        self.found
            .push(Diagnostic::new(code, self.file, at, path, message).maybe_hint(hint));
    }

    fn template(&mut self, text: &str, path: &str, allowed: &[Placeholder]) -> Template {
        match Template::compile(text, allowed) {
            Ok(template) => template,
            Err(error) => {
                let names = allowed.iter().map(|p| p.name());
                let known = list(allowed.iter().map(|p| p.name()));
                let (message, hint) = match error {
                    TemplateError::Unknown(name) => (
                        format!("unknown placeholder `{{{name}}}` in template"),
                        did_you_mean(&name, names)
                            .map(|d| format!("{d} placeholders here: {known}"))
                            .unwrap_or_else(|| format!("the placeholders allowed here are {known}; write `{{{{` and `}}}}` for literal braces")),
                    ),
                    TemplateError::Unbalanced => (
                        "unbalanced brace in template".to_owned(),
                        format!("close every `{{` with `}}` or double it (`{{{{`) for a literal brace; placeholders here: {known}"),
                    ),
                };
                self.report(Code::BadTemplate, path, message, Some(hint));
                Template::compile("", &[])
                    .unwrap_or_else(|_| unreachable!("empty template compiles"))
            }
        }
    }

    fn mapping(&mut self, spec: MappingSpec, connectors: &[&str]) -> Mapping {
        if spec.version != VERSION {
            self.report(
                Code::UnsupportedVersion,
                "version",
                format!("unsupported mapping version {}", spec.version),
                Some(format!("set `version: {VERSION}`")),
            );
        }
        if !connectors.contains(&spec.connector.as_str()) {
            let hint =
                did_you_mean(&spec.connector, connectors.iter().copied()).unwrap_or_else(|| {
                    if connectors.is_empty() {
                        "no connector is linked into this binary".to_owned()
                    } else {
                        format!(
                            "the known connectors are {}",
                            list(connectors.iter().copied())
                        )
                    }
                });
            self.report(
                Code::UnknownConnector,
                "connector",
                format!("unknown connector `{}`", spec.connector),
                Some(hint),
            );
        }

        let identity = Identity {
            crm_id_custom_field: spec.identity.crm_id_in_hub.custom_field.clone(),
            hub_id_property: spec.identity.hub_id_in_crm.property.clone(),
            hub_id_unique: spec.identity.hub_id_in_crm.unique,
            match_rules: Vec::new(),
            possible_duplicate: None,
            phone_region: spec.identity.phone_region.clone(),
        };
        let status = spec.status.as_ref().map(|s| Status {
            hub_custom_field: s.hub.custom_field.clone(),
            crm_property: s.crm.property.clone(),
            ok: self.template(&s.ok, "status.ok", &[Placeholder::Now]),
        });
        if let Some(status) = &status
            && status.crm_property == identity.hub_id_property
        {
            self.report(
                Code::WrittenTwice,
                "status.crm.property",
                format!(
                    "`{}` is both the status and the identity property",
                    status.crm_property
                ),
                Some("give the status its own property".to_owned()),
            );
        }

        let mut uses: Vec<PropertyUse> = status
            .iter()
            .map(|s| self.property_use(&s.crm_property, true, "status.crm.property"))
            .collect();
        uses.push(self.property_use(
            &identity.hub_id_property,
            true,
            "identity.hub_id_in_crm.property",
        ));
        let mut fields = Vec::new();
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        let mut crm_writers: BTreeMap<String, String> = BTreeMap::new();
        let mut hub_writers: BTreeMap<String, String> = BTreeMap::new();
        for (n, field_spec) in spec.fields.iter().enumerate() {
            let path = child_index("fields", n);
            let Some((field, touches, hub_target)) = self.field(field_spec, &path) else {
                continue;
            };
            let key_path = if field_spec.key.is_some() {
                child_key(&path, "key")
            } else {
                child_key(&path, "hub")
            };
            if let Some(first) = keys.get(&field.key) {
                self.report(
                    Code::DuplicateKey,
                    &key_path,
                    format!(
                        "two fields have the key `{}` (the other is {first})",
                        field.key
                    ),
                    Some("give one of them a distinct `key:`".to_owned()),
                );
            } else {
                keys.insert(field.key.clone(), path.clone());
            }
            self.reserved(&touches, &path, field_spec, &identity, status.as_ref());
            for touch in &touches {
                let written = field.direction.to_crm();
                uses.push(self.property_use(&touch.property, written, &touch.path));
            }
            if field.direction.to_crm() {
                for touch in &touches {
                    if let Some(first) = crm_writers.get(&touch.property) {
                        self.report(
                            Code::WrittenTwice,
                            &touch.path,
                            format!("the CRM property `{}` is written by two fields (the other is {first})", touch.property),
                            Some("map each CRM property once, or make one of the fields `direction: to_hub`".to_owned()),
                        );
                    } else {
                        crm_writers.insert(touch.property.clone(), path.clone());
                    }
                }
            }
            if field.direction.to_hub() {
                if let Some(first) = hub_writers.get(&hub_target) {
                    self.report(
                        Code::WrittenTwice,
                        &child_key(&path, "hub"),
                        format!("the 10to8 {hub_target} is written by two fields (the other is {first})"),
                        Some("map each 10to8 attribute once, or make one of the fields `direction: to_crm`".to_owned()),
                    );
                } else {
                    hub_writers.insert(hub_target.clone(), path.clone());
                }
            }
            fields.push(field);
        }

        // References are checked against what the file names, even in fields that did not
        // compile (their own diagnostics say what is wrong with them).
        let named_keys: Vec<String> = spec.fields.iter().map(default_key).collect();
        for key in spec.conflicts.fields.keys() {
            if !named_keys.contains(key) {
                let path = child_key("conflicts.fields", key);
                self.report_key(
                    Code::UnknownReference,
                    &path,
                    format!("no field has the key `{key}`"),
                    Some(
                        did_you_mean(key, named_keys.iter().map(String::as_str)).unwrap_or_else(
                            || {
                                format!(
                                    "the field keys are {}",
                                    list(named_keys.iter().map(String::as_str))
                                )
                            },
                        ),
                    ),
                );
            }
        }
        for field in &mut fields {
            if let Some(policy) = spec.conflicts.fields.get(&field.key) {
                field.conflict = *policy;
            } else {
                field.conflict = spec.conflicts.default;
            }
        }
        let mut identity = identity;
        let matching = self.matching(&spec.identity, &spec.fields, &fields);
        identity.match_rules = matching.rules.clone();
        identity.possible_duplicate = matching.possible_duplicate.clone();
        let mut declared = HashSet::new();
        for (n, property) in spec.properties.iter().enumerate() {
            if !declared.insert(property.name.as_str()) {
                self.report(
                    Code::DuplicateKey,
                    &child_key(&child_index("properties", n), "name"),
                    format!("the property `{}` is declared twice", property.name),
                    Some("declare each property once".to_owned()),
                );
            }
        }

        for (n, also) in spec.identity.also_in_crm.iter().enumerate() {
            let path = child_key(&child_index("identity.also_in_crm", n), "property");
            uses.push(self.property_use(&also.property, false, &path));
        }
        let mut crm_properties: Vec<String> = Vec::new();
        let extra = status
            .iter()
            .map(|s| &s.crm_property)
            .chain(std::iter::once(&identity.hub_id_property));
        let also = matching.extra.iter().map(|e| &e.property);
        for property in fields
            .iter()
            .flat_map(|f| f.crm.iter())
            .chain(extra)
            .chain(also)
        {
            if !crm_properties.contains(property) {
                crm_properties.push(property.clone());
            }
        }
        Mapping {
            connector: spec.connector,
            object: spec.object,
            identity,
            status,
            fields,
            properties: spec.properties,
            deletes: DeletePolicy {
                from_hub: spec.deletes.from_hub,
                from_crm: spec.deletes.from_crm,
            },
            crm_properties,
            property_uses: uses,
            matching,
        }
    }

    fn property_use(&self, name: &str, written: bool, path: &str) -> PropertyUse {
        PropertyUse {
            name: name.to_owned(),
            written,
            file: self.file.to_owned(),
            at: self.locator.value(path),
            path: path.to_owned(),
        }
    }

    /// A match key by name, or a diagnostic at `path`.
    fn match_key(&mut self, name: &str, path: &str) -> Option<Key> {
        let key = Key::parse(name);
        if key.is_none() {
            let hint = did_you_mean(name, MATCH_KEYS.iter().copied()).unwrap_or_else(|| {
                format!("the match keys are {}", list(MATCH_KEYS.iter().copied()))
            });
            self.report(
                Code::UnknownMatchKey,
                path,
                format!("unknown match key `{name}`"),
                Some(hint),
            );
        }
        key
    }

    /// The match rules, the possible-duplicate keys and where each key's values are. An
    /// explicit rule whose key nothing holds is an error; the default rules leave such keys
    /// out.
    fn matching(
        &mut self,
        spec: &IdentitySpec,
        field_specs: &[FieldSpec],
        fields: &[Field],
    ) -> Matching {
        let mut matching = Matching::default();
        match parse_region(&spec.phone_region) {
            Some(region) => matching.region = Some(region),
            None => self.report(
                Code::UnknownMatchKey,
                "identity.phone_region",
                format!("unknown phone region `{}`", spec.phone_region),
                Some("use a two-letter ISO 3166 region code such as `GB`, `US` or `DE`".to_owned()),
            ),
        }
        // Per key, the compiled field that maps its 10to8 attribute.
        let mut field_of = [None; 3];
        for (n, field) in fields.iter().enumerate() {
            for &key in Key::ALL {
                let mapped = field_specs.iter().any(|f| {
                    default_key(f) == field.key
                        && matches!(&f.hub, HubSide::Attribute(a) if a == key.hub_attribute())
                });
                if mapped && field_of[key as usize].is_none() {
                    field_of[key as usize] = Some(n);
                }
            }
        }
        matching.fields = field_of;
        for (n, also) in spec.also_in_crm.iter().enumerate() {
            let path = child_index("identity.also_in_crm", n);
            let Some(key) = self.match_key(&also.key, &child_key(&path, "key")) else {
                continue;
            };
            if also.separator.is_empty() {
                self.report(
                    Code::WrongType,
                    &child_key(&path, "separator"),
                    "the separator is empty",
                    Some("use the separator the CRM puts between values, e.g. \";\"".to_owned()),
                );
                continue;
            }
            matching.extra.push(ExtraSource {
                key,
                property: also.property.clone(),
                separator: also.separator.clone(),
            });
        }
        // Checked against what the file names, even fields that did not compile (their own
        // diagnostics say what is wrong with them).
        let held = |key: Key, m: &Matching| {
            field_specs
                .iter()
                .any(|f| matches!(&f.hub, HubSide::Attribute(a) if a == key.hub_attribute()))
                || m.extra.iter().any(|e| e.key == key)
        };
        let explicit = spec.match_on.is_some();
        let rules: Vec<MatchRuleSpec> = spec.match_on.clone().unwrap_or_else(|| {
            vec![
                MatchRuleSpec::One("email".to_owned()),
                MatchRuleSpec::All(vec!["name".to_owned(), "phone".to_owned()]),
            ]
        });
        for (n, rule) in rules.iter().enumerate() {
            let path = child_index("identity.match", n);
            let mut keys = Vec::new();
            let mut ok = true;
            if rule.names().is_empty() {
                self.report(
                    Code::MissingPart,
                    &path,
                    "a match rule needs at least one key",
                    Some("write a key, e.g. `email`, or keys that must all agree, e.g. `[name, phone]`".to_owned()),
                );
                continue;
            }
            for (m, name) in rule.names().iter().enumerate() {
                let key_path = match rule {
                    MatchRuleSpec::One(_) => path.clone(),
                    MatchRuleSpec::All(_) => child_index(&path, m),
                };
                let Some(key) = self.match_key(name, &key_path) else {
                    ok = false;
                    continue;
                };
                if !held(key, &matching) {
                    ok = false;
                    if explicit {
                        self.report(
                            Code::UnknownReference,
                            &key_path,
                            format!(
                                "no field maps the 10to8 `{}`, so the CRM side of `{key}` cannot be read",
                                key.hub_attribute()
                            ),
                            Some(format!(
                                "add a field with `hub: {}`, list a CRM property under `identity.also_in_crm`, or drop `{key}` from the rule",
                                key.hub_attribute()
                            )),
                        );
                    }
                }
                keys.push(key);
            }
            if ok {
                matching.rules.push(MatchRule::new(keys));
            }
        }
        let mut keys = Vec::new();
        for (n, name) in spec.possible_duplicate.iter().enumerate() {
            let path = child_index("identity.possible_duplicate", n);
            if let Some(key) = self.match_key(name, &path) {
                if held(key, &matching) {
                    keys.push(key);
                } else {
                    self.report(
                        Code::UnknownReference,
                        &path,
                        format!(
                            "no field maps the 10to8 `{}`, so the CRM side of `{key}` cannot be read",
                            key.hub_attribute()
                        ),
                        Some(format!("add a field with `hub: {}` or drop `{key}`", key.hub_attribute())),
                    );
                }
            }
        }
        if !keys.is_empty() {
            matching.possible_duplicate = Some(MatchRule::new(keys));
        }
        let mut used: Vec<Key> = matching
            .rules
            .iter()
            .chain(&matching.possible_duplicate)
            .flat_map(|r| r.keys().iter().copied())
            .collect();
        used.sort();
        used.dedup();
        matching.used = used;
        matching
    }

    /// Reports a field that writes a status or identity property or custom field.
    fn reserved(
        &mut self,
        touches: &[Touch],
        path: &str,
        field: &FieldSpec,
        identity: &Identity,
        status: Option<&Status>,
    ) {
        let hint = || {
            Some("the sync writes status and identity itself; remove this field or map another property".to_owned())
        };
        for touch in touches {
            let role = if status.is_some_and(|s| s.crm_property == touch.property) {
                "status"
            } else if identity.hub_id_property == touch.property {
                "identity"
            } else {
                continue;
            };
            self.report(
                Code::ReservedTarget,
                &touch.path,
                format!(
                    "`{}` is the {role} property and cannot also be mapped as a field",
                    touch.property
                ),
                hint(),
            );
        }
        if let HubSide::CustomField(custom) = &field.hub {
            let role = if status.is_some_and(|s| s.hub_custom_field == custom.custom_field) {
                "status"
            } else if identity.crm_id_custom_field == custom.custom_field {
                "identity"
            } else {
                return;
            };
            self.report(
                Code::ReservedTarget,
                &child_key(&child_key(path, "hub"), "custom_field"),
                format!("the custom field `{}` is the {role} field and cannot also be mapped as a field", custom.custom_field),
                hint(),
            );
        }
    }

    /// Compiles one field: the field, the CRM properties it touches and the 10to8 attribute it
    /// writes (for "written twice"). `None` when it is too broken to check further.
    fn field(&mut self, spec: &FieldSpec, path: &str) -> Option<(Field, Vec<Touch>, String)> {
        let hub_path = child_key(path, "hub");
        let crm_path = child_key(path, "crm");
        enum Hub {
            Scalar(HubScalar),
            List(HubList),
        }
        let (hub, default_key, hub_target) = match &spec.hub {
            HubSide::Attribute(name) => match name.as_str() {
                "name" => (
                    Hub::Scalar(HubScalar::Name),
                    "name".to_owned(),
                    "`name`".to_owned(),
                ),
                "emails" => (
                    Hub::List(HubList::Emails),
                    "emails".to_owned(),
                    "`emails`".to_owned(),
                ),
                "numbers" => (
                    Hub::List(HubList::Numbers),
                    "numbers".to_owned(),
                    "`numbers`".to_owned(),
                ),
                other => {
                    let hint = did_you_mean(other, HUB_ATTRIBUTES.iter().copied())
                        .map(|d| format!("{d} (a custom field is written `{{ custom_field: \"{other}\" }}`)"))
                        .unwrap_or_else(|| format!(
                            "the 10to8 attributes are {}; a custom field is written `{{ custom_field: \"{other}\" }}`",
                            list(HUB_ATTRIBUTES.iter().copied())
                        ));
                    self.report(
                        Code::UnknownAttribute,
                        &hub_path,
                        format!("unknown 10to8 attribute `{other}`"),
                        Some(hint),
                    );
                    return None;
                }
            },
            HubSide::CustomField(custom) => (
                Hub::Scalar(HubScalar::CustomField(custom.custom_field.clone())),
                custom.custom_field.clone(),
                format!("custom field `{}`", custom.custom_field),
            ),
        };

        // Transforms: scalars in order, at most one split, last.
        let mut scalars = Vec::new();
        let mut split = None;
        let names = spec.transform.names();
        let mut ok = true;
        for (n, name) in names.iter().enumerate() {
            let t_path = match &spec.transform {
                TransformList::Many(_) => child_index(&child_key(path, "transform"), n),
                _ => child_key(path, "transform"),
            };
            match transform(name) {
                None => {
                    ok = false;
                    let hint = did_you_mean(name, TRANSFORMS.iter().map(|t| t.name))
                        .unwrap_or_else(|| {
                            format!(
                                "the transforms are {}",
                                list(TRANSFORMS.iter().map(|t| t.name))
                            )
                        });
                    self.report(
                        Code::UnknownTransform,
                        &t_path,
                        format!("unknown transform `{name}`"),
                        Some(hint),
                    );
                }
                Some(t) => match t.kind {
                    TransformKind::Scalar { to_crm, to_hub } => {
                        if split.is_some() {
                            ok = false;
                            self.report(
                                Code::ShapeMismatch,
                                &t_path,
                                format!("`{name}` comes after a split transform"),
                                Some("put the split transform last".to_owned()),
                            );
                        }
                        scalars.push(ScalarFns { to_crm, to_hub });
                    }
                    TransformKind::Split { to_crm, to_hub } => {
                        if split.is_some() {
                            ok = false;
                            self.report(
                                Code::ShapeMismatch,
                                &t_path,
                                "a field can have one split transform only",
                                None,
                            );
                        }
                        split = Some((name.clone(), t_path, to_crm, to_hub));
                    }
                },
            }
        }

        if !ok {
            // An unknown transform leaves the shape unknowable; the rest would be noise.
            return None;
        }

        // Validation.
        let check = self.check(spec, path);
        if spec.validate.is_some() && check.is_none() {
            ok = false;
        }

        if let (Hub::List(_), Some((name, t_path, ..))) = (&hub, &split) {
            self.report(
                Code::ShapeMismatch,
                t_path,
                format!("`{name}` splits one value but {hub_target} is a list"),
                Some("use scalar transforms on lists (they apply to each item)".to_owned()),
            );
            return None;
        }
        let shape = match (hub, &spec.crm) {
            (Hub::Scalar(hub), CrmSide::Property(property)) => {
                if let Some((name, t_path, ..)) = &split {
                    self.report(
                        Code::ShapeMismatch,
                        t_path,
                        format!("`{name}` splits a value in two but `crm` names one property"),
                        Some(format!("list two properties, e.g. `crm: [firstname, lastname]`, or drop `{name}`")),
                    );
                    return None;
                }
                Shape::Scalar {
                    hub,
                    crm: property.clone(),
                }
            }
            (Hub::Scalar(hub), CrmSide::Properties(properties)) => {
                let Some((_, _, to_crm, to_hub)) = split else {
                    self.report(
                        Code::MissingPart,
                        &crm_path,
                        format!("`crm` lists {} properties but the field has no split transform", properties.len()),
                        Some("add `transform: split_name` (first word | rest) or another split transform, or name one property".to_owned()),
                    );
                    return None;
                };
                let [a, b] = properties.as_slice() else {
                    self.report(
                        Code::ShapeMismatch,
                        &crm_path,
                        format!(
                            "a split transform fills exactly two properties, not {}",
                            properties.len()
                        ),
                        Some("list two properties, e.g. `crm: [firstname, lastname]`".to_owned()),
                    );
                    return None;
                };
                if spec.validate.is_some() {
                    self.report(
                        Code::ShapeMismatch,
                        &child_key(path, "validate"),
                        "`validate` does not apply to a split field",
                        Some("validate single values or lists".to_owned()),
                    );
                    return None;
                }
                Shape::Split {
                    hub,
                    crm: [a.clone(), b.clone()],
                    to_crm,
                    to_hub,
                }
            }
            (Hub::Scalar(_), CrmSide::List(_) | CrmSide::Items(_)) => {
                self.report(
                    Code::ShapeMismatch,
                    &crm_path,
                    format!("`{{ primary, rest }}` and `{{ items }}` are for lists but the 10to8 side is the single value {hub_target}"),
                    Some("name one property, e.g. `crm: company`, or map a list (`emails`, `numbers`)".to_owned()),
                );
                return None;
            }
            (Hub::List(hub), CrmSide::Items(items)) => {
                if spec.validate.is_some() {
                    self.report(
                        Code::ShapeMismatch,
                        &child_key(path, "validate"),
                        "`validate` does not apply to a whole-list property",
                        Some("validate the primary with `crm: { primary: …, rest: … }`, or drop `validate`".to_owned()),
                    );
                    return None;
                }
                Shape::Items {
                    hub,
                    crm: items.items.clone(),
                }
            }
            (Hub::List(hub), crm) => {
                let (primary, rest, separator) = match crm {
                    CrmSide::Property(p) => (p.clone(), None, String::new()),
                    CrmSide::List(l) => (l.primary.clone(), l.rest.clone(), l.separator.clone()),
                    CrmSide::Properties(_) | CrmSide::Items(_) => {
                        self.report(
                            Code::ShapeMismatch,
                            &crm_path,
                            format!("{hub_target} is a list; a list maps to one property or to `{{ primary, rest, separator }}`"),
                            Some("write e.g. `crm: { primary: email, rest: tte_customer_secondary_emails }`".to_owned()),
                        );
                        return None;
                    }
                };
                if rest.is_some() && separator.is_empty() {
                    self.report(
                        Code::WrongType,
                        &child_key(&crm_path, "separator"),
                        "the separator is empty",
                        Some("use a separator such as \",\\n\" (the default)".to_owned()),
                    );
                    return None;
                }
                let trimmed = separator.trim();
                let split_on = if trimmed.is_empty() {
                    separator.clone()
                } else {
                    trimmed.to_owned()
                };
                Shape::List {
                    hub,
                    primary,
                    rest,
                    separator,
                    split_on,
                }
            }
        };
        if !ok {
            return None;
        }
        let touches = match &spec.crm {
            CrmSide::Property(p) => vec![Touch {
                property: p.clone(),
                path: crm_path,
            }],
            CrmSide::Properties(ps) => ps
                .iter()
                .enumerate()
                .map(|(n, p)| Touch {
                    property: p.clone(),
                    path: child_index(&crm_path, n),
                })
                .collect(),
            CrmSide::Items(i) => vec![Touch {
                property: i.items.clone(),
                path: child_key(&crm_path, "items"),
            }],
            CrmSide::List(l) => std::iter::once(Touch {
                property: l.primary.clone(),
                path: child_key(&crm_path, "primary"),
            })
            .chain(l.rest.iter().map(|r| Touch {
                property: r.clone(),
                path: child_key(&crm_path, "rest"),
            }))
            .collect(),
        };
        let crm = touches.iter().map(|t| t.property.clone()).collect();
        Some((
            Field {
                key: spec.key.clone().unwrap_or(default_key),
                direction: spec.direction,
                conflict: Default::default(),
                shape,
                scalars,
                check,
                crm,
            },
            touches,
            hub_target,
        ))
    }

    /// `validate` and `on_invalid`, which come together.
    fn check(&mut self, spec: &FieldSpec, path: &str) -> Option<Check> {
        match (&spec.validate, &spec.on_invalid) {
            (None, None) => None,
            (None, Some(_)) => {
                self.report(
                    Code::MissingPart,
                    &child_key(path, "on_invalid"),
                    "`on_invalid` without `validate`",
                    Some(
                        "add `validate: email` (or another validator), or remove `on_invalid`"
                            .to_owned(),
                    ),
                );
                None
            }
            (Some(name), on_invalid) => {
                let v_path = child_key(path, "validate");
                let Some(validator) = validator(name) else {
                    let hint = did_you_mean(name, VALIDATORS.iter().map(|v| v.name))
                        .unwrap_or_else(|| {
                            format!(
                                "the validators are {}",
                                list(VALIDATORS.iter().map(|v| v.name))
                            )
                        });
                    self.report(
                        Code::UnknownTransform,
                        &v_path,
                        format!("unknown validator `{name}`"),
                        Some(hint),
                    );
                    return None;
                };
                let Some(OnInvalidSpec {
                    crm_value,
                    status,
                    keep_hub_value,
                }) = on_invalid
                else {
                    self.report(
                        Code::MissingPart,
                        &v_path,
                        "`validate` needs `on_invalid` to say what to write instead",
                        Some("add `on_invalid: { crm_value: \"\", status: \"Error: Invalid email {value}\", keep_hub_value: true }`".to_owned()),
                    );
                    return None;
                };
                let status = self.template(
                    status,
                    &child_key(&child_key(path, "on_invalid"), "status"),
                    &[Placeholder::Now, Placeholder::Value],
                );
                Some(Check {
                    valid: validator.check,
                    crm_value: crm_value.clone(),
                    status,
                    keep_hub_value: *keep_hub_value,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_positions_from_messages() {
        assert_eq!(
            strip_positions(
                "did not find expected key at line 3 column 1, while parsing a block mapping at line 1 column 1"
            ),
            "did not find expected key, while parsing a block mapping"
        );
    }

    #[test]
    fn reads_the_expected_names_of_a_serde_message() {
        assert_eq!(
            split_expected("trasform`, expected one of `key`, `hub`, `transform`"),
            ("trasform", vec!["key", "hub", "transform"])
        );
    }
}
