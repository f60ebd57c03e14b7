//! The declarative mapping between 10to8 customers and CRM records.
//!
//! A mapping file (YAML, see `docs/mapping.md`) is compiled once at load by
//! [`Mapping::compile`] or [`Mapping::load`]: every problem is reported up front as
//! [`Diagnostics`] with file, line, column, YAML path and a hint, and once a [`Mapping`] exists,
//! applying it cannot fail.
//!
//! # How the sync engine uses it
//!
//! - Whole records: [`Mapping::to_crm`] gives the CRM properties to write for a customer
//!   (fields, identity and status); [`Mapping::to_hub`] gives the 10to8 fields to write for a
//!   CRM record, given the current customer if there is one.
//! - Per field, for a three-way merge against a stored snapshot: each [`Field`] has a stable
//!   [`key`](Field::key), a [`direction`](Field::direction) and a
//!   [`conflict_policy`](Field::conflict_policy). [`Field::hub_value`] and [`Field::crm_value`]
//!   are canonical strings *in the CRM's terms* (what the field writes to the CRM), so
//!   `hub_value(customer) == crm_value(record)` means the field agrees on both sides, and
//!   comparing each with the snapshot tells which side changed. The engine then copies only the
//!   changed fields with [`Field::write_crm`] or [`Field::write_hub`], and finishes the output
//!   with [`Mapping::finish_crm`] or [`Mapping::finish_hub`] (identity and a status computed
//!   over the whole record).
//! - Status and identity are never fields: they are rewritten on every write and take no part
//!   in change detection. [`Mapping::crm_properties`] lists every property to read,
//!   [`Mapping::identity`], [`Mapping::status`], [`Mapping::deletes`] and
//!   [`Mapping::property_specs`] give the rest of the file.
//!
//! Format the sync time once per batch with [`SyncTime::new`]; templates are compiled to
//! segments and nothing is parsed per record.

mod apply;
pub mod catalog;
mod compile;
pub mod diagnostics;
pub mod identity;
pub mod locate;
pub mod spec;
pub mod template;
pub mod transforms;
pub mod validate;

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};

pub use apply::{CrmOutput, HubOutput};
pub use diagnostics::{Code, Diagnostic, Diagnostics};
pub use identity::{Key, KeyValues, MatchRule};
pub use spec::{ConflictPolicy, Direction, FromCrmDelete, FromHubDelete, MappingSpec};
pub use validate::valid_email;

use crate::connector::PropertySpec;
use template::Template;

/// A compiled mapping, ready to apply.
#[derive(Debug, Clone)]
pub struct Mapping {
    connector: String,
    object: String,
    identity: Identity,
    status: Option<Status>,
    fields: Vec<Field>,
    properties: Vec<PropertySpec>,
    deletes: DeletePolicy,
    crm_properties: Vec<String>,
    property_uses: Vec<PropertyUse>,
    matching: identity::Matching,
}

/// One place a mapping file names a CRM property, for checking it against the CRM's
/// [`Catalog`](crate::connector::Catalog) (see [`catalog`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyUse {
    /// The property's name as written.
    pub name: String,
    /// Whether the sync writes it (else it only reads it).
    pub written: bool,
    /// The mapping file.
    pub file: String,
    /// Where in it.
    pub at: locate::Position,
    /// The YAML path of the node, e.g. `fields[1].crm[0]`.
    pub path: String,
}

/// How a 10to8 customer and a CRM record know each other.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// The 10to8 custom field holding the CRM record's id (e.g. `External ID`).
    pub crm_id_custom_field: String,
    /// The CRM property holding the 10to8 customer's URI (e.g. `tte_customer_uri`).
    pub hub_id_property: String,
    /// Whether that property is unique in the CRM (so writes can upsert by it).
    pub hub_id_unique: bool,
    /// The match rules linking never-linked records, tried in order (see [`identity`]).
    pub match_rules: Vec<MatchRule>,
    /// Keys on which agreeing records with nothing else to tell them apart are held as
    /// possible duplicates, never linked.
    pub possible_duplicate: Option<MatchRule>,
    /// The region of phone numbers without a country code (ISO 3166, e.g. `GB`).
    pub phone_region: String,
}

/// What separates the ids a 10to8 customer's id field holds after 10to8 merged customers.
const MERGED_SEPARATOR: char = ',';

impl Identity {
    /// The CRM ids `customer`'s id field names, in order: one, or several after a 10to8 merge
    /// (`"a, b"`); none when the field is empty or absent.
    pub fn named_crm_ids<'c>(
        &self,
        customer: &'c crate::record::Customer,
    ) -> impl Iterator<Item = &'c str> + use<'c> {
        (customer.custom_fields.get(&self.crm_id_custom_field))
            .map_or("", String::as_str)
            .split(MERGED_SEPARATOR)
            .map(str::trim)
            .filter(|id| !id.is_empty())
    }
}

/// Where the sync status goes and what it says after a clean sync.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The 10to8 custom field (e.g. `Sync Status`).
    pub hub_custom_field: String,
    /// The CRM property (e.g. `tte_customer_sync_status`).
    pub crm_property: String,
    ok: Template,
}

impl Status {
    /// The status after a clean sync at `now`.
    pub fn ok(&self, now: &SyncTime) -> String {
        self.ok.render(now.as_str(), "")
    }

    /// The status for these errors (joined with `; `), or the ok status when there are none.
    pub fn text(&self, errors: &[String], now: &SyncTime) -> String {
        if errors.is_empty() {
            self.ok(now)
        } else {
            errors.join(STATUS_ERROR_SEPARATOR)
        }
    }
}

/// What joins several errors in one status.
const STATUS_ERROR_SEPARATOR: &str = "; ";

/// What deletes do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DeletePolicy {
    /// A customer deleted in 10to8.
    pub from_hub: FromHubDelete,
    /// A record deleted in the CRM.
    pub from_crm: FromCrmDelete,
}

/// The time of a sync, formatted once for `{now}` (RFC 3339, UTC, whole seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncTime {
    at: DateTime<Utc>,
    text: String,
}

impl SyncTime {
    /// The sync time `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            at,
            text: at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }

    /// The time.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// As `{now}` renders it, e.g. `2026-01-02T03:04:05Z`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// A compiled field. See the [module docs](self) for how the engine uses it.
#[derive(Debug, Clone)]
pub struct Field {
    key: String,
    direction: Direction,
    conflict: ConflictPolicy,
    shape: apply::Shape,
    /// Scalar transforms in to-CRM order.
    scalars: Vec<apply::ScalarFns>,
    check: Option<apply::Check>,
    crm: Vec<String>,
}

impl Field {
    /// The field's stable key (its `key:` or its 10to8 side, e.g. `name`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Which way values flow.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Who wins when both sides changed since the last sync.
    pub fn conflict_policy(&self) -> ConflictPolicy {
        self.conflict
    }

    /// The CRM properties this field reads and writes.
    pub fn crm_properties(&self) -> &[String] {
        &self.crm
    }
}

impl Mapping {
    /// Reads and compiles the mapping file at `path`.
    ///
    /// # Errors
    /// [`Diagnostics`] when the file cannot be read (code M001) or does not compile.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Diagnostics> {
        let path = path.as_ref();
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::compile(&text, &file),
            Err(error) => Err(Diagnostics::new(vec![
                Diagnostic::new(
                    Code::InvalidYaml,
                    &file,
                    locate::Position { line: 1, column: 1 },
                    "",
                    format!("cannot read the mapping file: {error}"),
                )
                .hint("check the path and that the file is readable"),
            ])),
        }
    }

    /// Compiles mapping text; `file_name` is used in diagnostics. The connector must be one
    /// linked into this binary (see [`registry`](crate::connector::registry)).
    ///
    /// # Errors
    /// [`Diagnostics`] listing every problem found.
    pub fn compile(text: &str, file_name: &str) -> Result<Self, Diagnostics> {
        let known: Vec<&str> = crate::connector::registry::plugins()
            .iter()
            .map(|p| p.name)
            .collect();
        Self::compile_for(text, file_name, &known)
    }

    /// Like [`compile`](Self::compile), with the known connector names given instead of taken
    /// from the registry (for tools and tests that link no connector).
    ///
    /// # Errors
    /// [`Diagnostics`] listing every problem found.
    pub fn compile_for(
        text: &str,
        file_name: &str,
        connectors: &[&str],
    ) -> Result<Self, Diagnostics> {
        let mapping = compile::compile(text, file_name, connectors)?;
        tracing::debug!(
            file = file_name,
            connector = %mapping.connector,
            fields = mapping.fields.len(),
            "Mapping compiled."
        );
        Ok(mapping)
    }

    /// The JSON Schema of mapping files.
    pub fn schema() -> schemars::Schema {
        schemars::schema_for!(MappingSpec)
    }

    /// The connector this mapping is for.
    pub fn connector(&self) -> &str {
        &self.connector
    }

    /// The CRM object type.
    pub fn object(&self) -> &str {
        &self.object
    }

    /// The fields, in file order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The field with this key.
    pub fn field(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// Every CRM property to read for a sync: the fields', the status and the identity
    /// property, each once, in file order.
    pub fn crm_properties(&self) -> &[String] {
        &self.crm_properties
    }

    /// How records are linked.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Where the status goes, if the mapping has one.
    pub fn status(&self) -> Option<&Status> {
        self.status.as_ref()
    }

    /// What deletes do.
    pub fn deletes(&self) -> DeletePolicy {
        self.deletes
    }

    /// The CRM properties `setup` must ensure.
    pub fn property_specs(&self) -> &[PropertySpec] {
        &self.properties
    }

    /// Every place the file names a CRM property (status, identity, fields, match sources),
    /// in that order; a property named twice appears twice.
    pub fn property_uses(&self) -> &[PropertyUse] {
        &self.property_uses
    }
}
