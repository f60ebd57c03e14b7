//! The mapping file as written: serde + schemars types whose `///` docs are the user docs.
//!
//! These types only describe the shape of a file. Everything that needs more than the shape
//! (transform names, placeholders, properties written twice) is checked by
//! [`Mapping::compile`](super::Mapping::compile), which turns a [`MappingSpec`] into a
//! [`Mapping`](super::Mapping).

use std::collections::BTreeMap;

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::connector::PropertySpec;

/// The built-in 10to8 attributes a field can name in `hub:`.
pub const HUB_ATTRIBUTES: &[&str] = &["name", "emails", "numbers"];

/// The default separator between the items of a list kept in one CRM property.
pub const DEFAULT_SEPARATOR: &str = ",\n";

/// A mapping between 10to8 customers and the records of one CRM object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tte-sync mapping")]
pub struct MappingSpec {
    /// The version of the mapping language; always `1`.
    pub version: u32,
    /// The connector this mapping is for, e.g. `mycrm` (see `tte-sync connectors`).
    pub connector: String,
    /// The CRM object type records are synced with, e.g. `contacts`.
    pub object: String,
    /// How a 10to8 customer and a CRM record know each other.
    pub identity: IdentitySpec,
    /// Where the sync writes its status ("Last synced: …" or an error) on both sides.
    #[serde(default)]
    pub status: Option<StatusSpec>,
    /// The synced fields, in order. Status and identity are not listed here.
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
    /// CRM properties that `setup` makes sure exist (custom properties the fields, status and
    /// identity write).
    #[serde(default)]
    pub properties: Vec<PropertySpec>,
    /// Who wins when both sides changed the same field since the last sync.
    #[serde(default)]
    pub conflicts: ConflictsSpec,
    /// What a delete on one side does to the other.
    #[serde(default)]
    pub deletes: DeletesSpec,
}

/// How records are linked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    /// The 10to8 custom field that holds the CRM record's id, e.g. `{ custom_field: "External ID" }`.
    pub crm_id_in_hub: CustomFieldRef,
    /// The CRM property that holds the 10to8 customer's URI, e.g.
    /// `{ property: tte_customer_uri, unique: true }`.
    pub hub_id_in_crm: PropertyRef,
    /// How records that were never linked are recognised as the same person: rules tried in
    /// order, each a match key or a list of keys that must all agree, e.g.
    /// `[email, [name, phone]]` (the default). Keys: `email` (every email either side holds,
    /// case-insensitively), `phone` (every number, compared in E.164) and `name` (without
    /// accents, case or extra spaces). A key value that fits more than one record on either
    /// side links nothing: those records wait for a person (`tte-sync link` / `unlink`).
    #[serde(default, rename = "match")]
    pub match_on: Option<Vec<MatchRuleSpec>>,
    /// Keys that, when a customer and a record agree on all of them and neither holds a value
    /// of any other match key, mark both as a possible duplicate: never linked or created
    /// until a person decides. E.g. `[name]` for people known by name only.
    #[serde(default)]
    pub possible_duplicate: Vec<String>,
    /// The region of phone numbers written without a country code, as an ISO 3166 code:
    /// `GB` (the default) reads `07700 900202` as `+44 7700 900202`.
    #[serde(default = "default_phone_region")]
    pub phone_region: String,
    /// CRM properties that hold more values of a match key beside the mapped fields, e.g.
    /// `[{ key: email, property: other_emails, separator: ";" }]`. They are read for
    /// matching only, never written.
    #[serde(default)]
    pub also_in_crm: Vec<AlsoInCrmSpec>,
}

fn default_phone_region() -> String {
    "GB".to_owned()
}

/// One match rule: a key, or keys that must all agree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum MatchRuleSpec {
    /// One key, e.g. `email`.
    One(#[schemars(schema_with = "match_key_schema")] String),
    /// Keys that must all agree, e.g. `[name, phone]`.
    All(#[schemars(schema_with = "match_keys_schema")] Vec<String>),
}

impl MatchRuleSpec {
    /// The key names.
    pub fn names(&self) -> &[String] {
        match self {
            Self::One(name) => std::slice::from_ref(name),
            Self::All(names) => names,
        }
    }
}

/// A CRM property holding more values of a match key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlsoInCrmSpec {
    /// The match key, e.g. `email`.
    #[schemars(schema_with = "match_key_schema")]
    pub key: String,
    /// The CRM property, e.g. `other_emails`.
    pub property: String,
    /// What separates several values in it, e.g. `";"`; default `",\n"`.
    #[serde(default = "default_separator")]
    pub separator: String,
}

fn match_key_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": MATCH_KEYS })
}

fn match_keys_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "array", "items": { "type": "string", "enum": MATCH_KEYS }, "minItems": 1 })
}

/// The match keys a rule can name.
pub const MATCH_KEYS: &[&str] = &["email", "name", "phone"];

/// A 10to8 custom field, by its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldRef {
    /// The custom field's label as 10to8 shows it, e.g. `Sync Status`.
    pub custom_field: String,
}

/// A CRM property, by its internal name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyRef {
    /// The property's internal name, e.g. `tte_customer_sync_status`.
    pub property: String,
    /// Whether each value is held by one record only (needed to upsert by it).
    #[serde(default)]
    pub unique: bool,
}

/// Where the sync status goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusSpec {
    /// The 10to8 custom field for the status, e.g. `{ custom_field: "Sync Status" }`.
    pub hub: CustomFieldRef,
    /// The CRM property for the status, e.g. `{ property: tte_customer_sync_status }`.
    pub crm: PropertyRef,
    /// The status after a clean sync; placeholder `{now}` (the sync time, RFC 3339).
    #[serde(default = "default_ok_status")]
    pub ok: String,
}

fn default_ok_status() -> String {
    "Last synced: {now}".to_owned()
}

/// One synced field: a 10to8 side, a CRM side and how values cross between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// A stable name for the field (used by `conflicts.fields` and in the sync state).
    /// Defaults to the 10to8 side: `name`, `emails`, `numbers` or the custom field's label.
    #[serde(default)]
    pub key: Option<String>,
    /// The 10to8 side: `name`, `emails`, `numbers`, or `{ custom_field: "Label" }`.
    pub hub: HubSide,
    /// The CRM side: one property (`email`), several properties filled by a split transform
    /// (`[firstname, lastname]`), or a list kept as a primary property plus the rest joined in
    /// another (`{ primary: email, rest: tte_customer_secondary_emails, separator: ",\n" }`).
    pub crm: CrmSide,
    /// Named transforms applied in order on the way to the CRM (and undone in reverse on the
    /// way back), e.g. `split_name` or `[trim, lowercase]`. See `docs/mapping.md`.
    #[serde(default)]
    #[schemars(schema_with = "super::transforms::transform_list_schema")]
    pub transform: TransformList,
    /// A check the CRM enforces on the (primary) value, e.g. `email`; needs `on_invalid`.
    #[serde(default)]
    #[schemars(schema_with = "super::transforms::validator_schema")]
    pub validate: Option<String>,
    /// What to write instead of a value that fails `validate` (required with `validate`).
    #[serde(default)]
    pub on_invalid: Option<OnInvalidSpec>,
    /// Which way values flow: `both` (default), `to_crm` or `to_hub`.
    #[serde(default)]
    pub direction: Direction,
}

/// The 10to8 side of a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
#[non_exhaustive]
pub enum HubSide {
    /// A built-in attribute: `name`, `emails` or `numbers`.
    Attribute(#[schemars(schema_with = "hub_attribute_schema")] String),
    /// A custom field by label.
    CustomField(CustomFieldRef),
}

/// The CRM side of a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
#[non_exhaustive]
pub enum CrmSide {
    /// One property.
    Property(String),
    /// Several properties, filled by a split transform.
    Properties(Vec<String>),
    /// A list: the first item in `primary`, the others joined with `separator` in `rest`.
    List(ListSpec),
    /// A list kept whole in one list-valued CRM property (a CRM's own list of emails or
    /// phone numbers): `{ items: phones }`.
    Items(ItemsSpec),
}

/// A list kept whole in one CRM property whose value is a list with a primary item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemsSpec {
    /// The list-valued property, e.g. `phones`. The 10to8 list's first item is its primary.
    pub items: String,
}

/// Any of the map forms of a CRM side, read before telling them apart.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapForm {
    #[serde(default)]
    primary: Option<String>,
    #[serde(default)]
    rest: Option<String>,
    #[serde(default)]
    separator: Option<String>,
    #[serde(default)]
    items: Option<String>,
}

/// A list kept in a CRM as a primary property and the rest joined in another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSpec {
    /// The property for the first item, e.g. `email`.
    pub primary: String,
    /// The property for the other items, joined with `separator`; without it the other items
    /// stay in 10to8 only.
    #[serde(default)]
    pub rest: Option<String>,
    /// What joins the other items in `rest`; default `",\n"`. On the way back the rest is split
    /// on it, ignoring whitespace around it.
    #[serde(default = "default_separator")]
    pub separator: String,
}

fn default_separator() -> String {
    DEFAULT_SEPARATOR.to_owned()
}

/// One transform name or a list of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TransformList {
    /// No transform.
    #[default]
    None,
    /// One transform.
    One(String),
    /// Several transforms, applied in order on the way to the CRM.
    Many(Vec<String>),
}

impl TransformList {
    /// The transform names in order.
    pub fn names(&self) -> &[String] {
        match self {
            Self::None => &[],
            Self::One(name) => std::slice::from_ref(name),
            Self::Many(names) => names,
        }
    }
}

/// What to write instead of a value the CRM would reject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnInvalidSpec {
    /// The placeholder written to the CRM instead, usually `""`.
    #[serde(default)]
    pub crm_value: String,
    /// The status to report; placeholders `{value}` (the rejected value) and `{now}`.
    pub status: String,
    /// When the CRM holds the placeholder and the current 10to8 value is the invalid one, keep
    /// the 10to8 value instead of overwriting it with the placeholder.
    #[serde(default)]
    pub keep_hub_value: bool,
}

/// Which way a field's values flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Direction {
    /// Both ways.
    #[default]
    Both,
    /// From 10to8 to the CRM only.
    ToCrm,
    /// From the CRM to 10to8 only.
    ToHub,
}

impl Direction {
    /// Whether values flow from 10to8 to the CRM.
    pub fn to_crm(self) -> bool {
        matches!(self, Self::Both | Self::ToCrm)
    }

    /// Whether values flow from the CRM to 10to8.
    pub fn to_hub(self) -> bool {
        matches!(self, Self::Both | Self::ToHub)
    }
}

/// Who wins a conflict: both sides changed a field since the last sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConflictPolicy {
    /// 10to8's value wins.
    #[default]
    HubWins,
    /// The CRM's value wins.
    CrmWins,
    /// The most recent change wins (10to8 on a tie or when a time is unknown).
    Newest,
}

/// Conflict policies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConflictsSpec {
    /// The policy for every field not listed in `fields`.
    #[serde(default)]
    pub default: ConflictPolicy,
    /// Per-field policies by field key, e.g. `{ numbers: crm_wins }`.
    #[serde(default)]
    pub fields: BTreeMap<String, ConflictPolicy>,
}

/// What a delete in 10to8 does in the CRM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FromHubDelete {
    /// Archive the linked CRM record (recoverable).
    #[default]
    Archive,
    /// Leave the CRM record alone.
    Ignore,
}

/// What a delete in the CRM does in 10to8.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FromCrmDelete {
    /// Delete the customer unless they have future bookings (then report it in the status).
    #[default]
    DeleteUnlessFutureBookings,
    /// Delete the customer even with future bookings.
    Delete,
    /// Leave the customer alone.
    Ignore,
}

/// Delete policies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletesSpec {
    /// A customer deleted in 10to8: `archive` (default) or `ignore`.
    #[serde(default)]
    pub from_hub: FromHubDelete,
    /// A record deleted in the CRM: `delete_unless_future_bookings` (default), `delete` or
    /// `ignore`.
    #[serde(default)]
    pub from_crm: FromCrmDelete,
}

fn hub_attribute_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "enum": HUB_ATTRIBUTES })
}

// The one-of-several-shapes types deserialize by looking at the YAML node's kind, so that an
// error inside a shape (an unknown key in `crm: { … }`) is reported as itself, with its
// position, instead of serde's "did not match any variant".

impl<'de> Deserialize<'de> for HubSide {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HubVisitor;
        impl<'de> Visitor<'de> for HubVisitor {
            type Value = HubSide;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`name`, `emails`, `numbers` or `{ custom_field: \"Label\" }`")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<HubSide, E> {
                Ok(HubSide::Attribute(value.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<HubSide, A::Error> {
                CustomFieldRef::deserialize(MapAccessDeserializer::new(map))
                    .map(HubSide::CustomField)
            }
        }
        deserializer.deserialize_any(HubVisitor)
    }
}

impl<'de> Deserialize<'de> for CrmSide {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CrmVisitor;
        impl<'de> Visitor<'de> for CrmVisitor {
            type Value = CrmSide;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a property name, a list of property names, `{ primary: …, rest: …, separator: … }` or `{ items: … }`",
                )
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<CrmSide, E> {
                Ok(CrmSide::Property(value.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<CrmSide, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(CrmSide::Properties)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CrmSide, A::Error> {
                let form = MapForm::deserialize(MapAccessDeserializer::new(map))?;
                match form {
                    MapForm {
                        items: Some(items),
                        primary: None,
                        rest: None,
                        separator: None,
                    } => Ok(CrmSide::Items(ItemsSpec { items })),
                    MapForm {
                        items: None,
                        primary: Some(primary),
                        rest,
                        separator,
                    } => Ok(CrmSide::List(ListSpec {
                        primary,
                        rest,
                        separator: separator.unwrap_or_else(default_separator),
                    })),
                    MapForm { items: Some(_), .. } => Err(de::Error::invalid_value(
                        de::Unexpected::Map,
                        &"`{ items: … }` alone (the whole list in one property), or \
                          `{ primary: …, rest: …, separator: … }` without `items`",
                    )),
                    MapForm { .. } => Err(de::Error::missing_field("primary")),
                }
            }
        }
        deserializer.deserialize_any(CrmVisitor)
    }
}

impl<'de> Deserialize<'de> for TransformList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TransformVisitor;
        impl<'de> Visitor<'de> for TransformVisitor {
            type Value = TransformList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a transform name or a list of transform names")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<TransformList, E> {
                Ok(TransformList::One(value.to_owned()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<TransformList, E> {
                Ok(TransformList::None)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<TransformList, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(TransformList::Many)
            }
        }
        deserializer.deserialize_any(TransformVisitor)
    }
}

impl<'de> Deserialize<'de> for MatchRuleSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RuleVisitor;
        impl<'de> Visitor<'de> for RuleVisitor {
            type Value = MatchRuleSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a match key (`email`, `name`, `phone`) or a list of keys that must all agree",
                )
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<MatchRuleSpec, E> {
                Ok(MatchRuleSpec::One(value.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<MatchRuleSpec, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(MatchRuleSpec::All)
            }
        }
        deserializer.deserialize_any(RuleVisitor)
    }
}
