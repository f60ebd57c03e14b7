//! Properties for contacts (`/crm/v3/properties/{objectType}` and
//! `/crm/properties/{version}/{objectType}`, with a minimal property-groups API answering the
//! standard `contactinformation` group) and the legacy v2 listing clients ask for first.
//!
//! Owns the property definition type, HubSpot's built-in contact properties, the create
//! rules (required fields, valid `type`/`fieldType` pairs, options for enumerations, 409 for an
//! existing name, at most ten unique properties) and value checks for enumerations and bools.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::contacts::ObjectPath;
use super::errors::{ApiError, PropertyIssue, json_response};
use super::query::Query;
use super::state::iso;
use super::versions::ApiVersion;
use super::{SimState, check_object_type};

/// HubSpot allows this many unique-value properties per object.
pub const MAX_UNIQUE_PROPERTIES: usize = 10;
const CONTACT_INFORMATION: &str = "contactinformation";

/// The captures of a route ending in `{object_type}/{name}`.
#[derive(Debug, Deserialize)]
pub struct PropertyPath {
    /// `contacts` or `0-1`, in any case.
    pub object_type: String,
    /// The property name.
    pub name: String,
}

/// The captures of a route ending in `{object_type}/groups/{group_name}`.
#[derive(Debug, Deserialize)]
pub struct GroupPath {
    /// `contacts` or `0-1`, in any case.
    pub object_type: String,
    /// The group name.
    pub group_name: String,
}

/// The property groups: every group a property names, `contactinformation` first.
fn groups(properties: &BTreeMap<String, Property>) -> Vec<Value> {
    let mut names: Vec<&str> = vec![CONTACT_INFORMATION];
    for p in properties.values().filter(|p| !p.archived) {
        if !names.contains(&p.group_name.as_str()) {
            names.push(&p.group_name);
        }
    }
    names
        .into_iter()
        .enumerate()
        .map(|(n, name)| {
            let label = if name == CONTACT_INFORMATION {
                "Contact information".to_owned()
            } else {
                name.to_owned()
            };
            json!({ "name": name, "label": label, "displayOrder": n as i64 - 1, "archived": false })
        })
        .collect()
}

/// `GET …/properties/{objectType}/groups`.
pub async fn list_groups(
    State(sim): State<SimState>,
    Path(ObjectPath { object_type }): Path<ObjectPath>,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
    Ok(json_response(
        StatusCode::OK,
        &json!({ "results": groups(&store.properties) }),
    ))
}

/// `GET …/properties/{objectType}/groups/{groupName}`.
pub async fn get_group(
    State(sim): State<SimState>,
    Path(GroupPath {
        object_type,
        group_name,
    }): Path<GroupPath>,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
    groups(&store.properties)
        .into_iter()
        .find(|g| g["name"] == group_name.as_str())
        .map(|g| json_response(StatusCode::OK, &g))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "OBJECT_NOT_FOUND",
                format!("Unable to find property group {group_name} for object type 0-1"),
            )
        })
}

/// Who may change a property and its values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModificationMetadata {
    /// Whether it can be archived.
    pub archivable: bool,
    /// Whether its definition is fixed.
    pub read_only_definition: bool,
    /// Whether values can be written.
    pub read_only_value: bool,
}

/// One option of an enumeration property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyOption {
    /// Shown to people.
    pub label: String,
    /// Stored.
    pub value: String,
    /// Optional description.
    #[serde(default)]
    pub description: String,
    /// Display position.
    #[serde(default)]
    pub display_order: i64,
    /// Hidden in forms.
    #[serde(default)]
    pub hidden: bool,
}

/// A property definition as the v3 API renders it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Property {
    /// Internal name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Data type (`string`, `number`, `enumeration`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Field type (`text`, `select`, …).
    pub field_type: String,
    /// Description.
    pub description: String,
    /// Group.
    pub group_name: String,
    /// Options (enumerations).
    pub options: Vec<PropertyOption>,
    /// Display position.
    pub display_order: i64,
    /// Calculated.
    pub calculated: bool,
    /// External options.
    pub external_options: bool,
    /// Unique across contacts (usable as `idProperty`).
    pub has_unique_value: bool,
    /// Hidden.
    pub hidden: bool,
    /// Defined by HubSpot.
    pub hubspot_defined: bool,
    /// Shown in forms.
    pub form_field: bool,
    /// Sensitivity.
    pub data_sensitivity: String,
    /// What may change.
    pub modification_metadata: ModificationMetadata,
    /// Creation time (ISO).
    pub created_at: String,
    /// Update time (ISO).
    pub updated_at: String,
    /// In the recycle bin.
    pub archived: bool,
    /// When archived (ISO).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<String>,
}

impl Property {
    fn builtin(name: &str, label: &str, kind: &str, field_type: &str, read_only: bool) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            kind: kind.into(),
            field_type: field_type.into(),
            description: String::new(),
            group_name: CONTACT_INFORMATION.into(),
            options: Vec::new(),
            display_order: -1,
            calculated: false,
            external_options: false,
            has_unique_value: false,
            hidden: false,
            hubspot_defined: true,
            form_field: !read_only,
            data_sensitivity: "non_sensitive".into(),
            modification_metadata: ModificationMetadata {
                archivable: false,
                read_only_definition: true,
                read_only_value: read_only,
            },
            created_at: iso(0),
            updated_at: iso(0),
            archived: false,
            archived_at: None,
        }
    }

    /// Checks a non-empty value against the type: bools and enumeration options.
    pub fn check_value(&self, value: &str) -> Option<PropertyIssue> {
        match self.kind.as_str() {
            "bool" if !matches!(value, "true" | "false") => Some(PropertyIssue::invalid_option(
                &self.name,
                value,
                &["true".into(), "false".into()],
            )),
            "enumeration" if !self.options.is_empty() => {
                let allowed: Vec<String> = self.options.iter().map(|o| o.value.clone()).collect();
                let fits = |v: &str| allowed.iter().any(|a| a == v);
                let ok = if self.field_type == "checkbox" {
                    value.split(';').all(fits)
                } else {
                    fits(value)
                };
                (!ok).then(|| PropertyIssue::invalid_option(&self.name, value, &allowed))
            }
            _ => None,
        }
    }

    /// The v2 rendering (`/properties/v2/contact/properties`).
    fn to_v2(&self) -> Value {
        json!({
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "groupName": self.group_name,
            "type": self.kind,
            "fieldType": self.field_type,
            "options": self.options,
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": self.external_options,
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "formField": self.form_field,
            "readOnlyValue": self.modification_metadata.read_only_value,
            "readOnlyDefinition": self.modification_metadata.read_only_definition,
            "mutableDefinitionNotDeletable": !self.modification_metadata.archivable,
            "deleted": self.archived,
        })
    }
}

/// HubSpot's built-in contact properties that a sync meets.
pub fn builtin_properties() -> BTreeMap<String, Property> {
    let list = [
        Property::builtin("email", "Email", "string", "text", false),
        Property::builtin("firstname", "First Name", "string", "text", false),
        Property::builtin("lastname", "Last Name", "string", "text", false),
        Property::builtin("phone", "Phone Number", "string", "phonenumber", false),
        Property::builtin(
            "mobilephone",
            "Mobile Phone Number",
            "string",
            "phonenumber",
            false,
        ),
        Property::builtin("fax", "Fax Number", "string", "phonenumber", false),
        Property::builtin("company", "Company Name", "string", "text", false),
        Property::builtin("website", "Website URL", "string", "text", false),
        Property::builtin("address", "Street Address", "string", "text", false),
        Property::builtin("city", "City", "string", "text", false),
        Property::builtin("zip", "Postal Code", "string", "text", false),
        Property::builtin("country", "Country/Region", "string", "text", false),
        Property::builtin("jobtitle", "Job Title", "string", "text", false),
        Property::builtin(
            "hs_additional_emails",
            "Additional email addresses",
            "enumeration",
            "checkbox",
            false,
        ),
        Property::builtin(
            "lifecyclestage",
            "Lifecycle Stage",
            "enumeration",
            "radio",
            false,
        ),
        Property::builtin("createdate", "Create Date", "datetime", "date", true),
        Property::builtin(
            "lastmodifieddate",
            "Last Modified Date",
            "datetime",
            "date",
            true,
        ),
        Property::builtin("hs_object_id", "Record ID", "number", "number", true),
    ];
    list.into_iter().map(|p| (p.name.clone(), p)).collect()
}

/// The body of `POST /crm/v3/properties/{objectType}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyCreate {
    name: Option<String>,
    label: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    field_type: Option<String>,
    group_name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    options: Vec<PropertyOption>,
    #[serde(default)]
    display_order: Option<i64>,
    #[serde(default)]
    has_unique_value: bool,
    #[serde(default)]
    hidden: bool,
    #[serde(default)]
    form_field: Option<bool>,
    #[serde(default)]
    data_sensitivity: Option<String>,
}

/// The body of `PATCH /crm/v3/properties/{objectType}/{name}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyUpdate {
    label: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    field_type: Option<String>,
    group_name: Option<String>,
    description: Option<String>,
    options: Option<Vec<PropertyOption>>,
    display_order: Option<i64>,
    hidden: Option<bool>,
    form_field: Option<bool>,
}

fn valid_field_type(kind: &str, field_type: &str) -> bool {
    match kind {
        "bool" => matches!(field_type, "booleancheckbox" | "calculation_equation"),
        "enumeration" => matches!(
            field_type,
            "booleancheckbox" | "checkbox" | "radio" | "select" | "calculation_equation"
        ),
        "date" | "datetime" => field_type == "date",
        "string" => matches!(
            field_type,
            "file" | "text" | "textarea" | "calculation_equation" | "html" | "phonenumber"
        ),
        "number" => matches!(field_type, "number" | "calculation_equation"),
        "phone_number" => field_type == "phonenumber",
        _ => false,
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "OBJECT_NOT_FOUND",
        format!("Unable to find property {name} for object type 0-1"),
    )
}

/// `GET /crm/v3/properties/{objectType}`.
pub async fn list(
    State(sim): State<SimState>,
    Path(ObjectPath { object_type }): Path<ObjectPath>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let query = Query::parse(raw.as_deref());
    let archived = query.flag("archived")?;
    let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
    let results: Vec<&Property> = store
        .properties
        .values()
        .filter(|p| p.archived == archived)
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "results": results }),
    ))
}

/// `GET /crm/v3/properties/{objectType}/{name}`.
pub async fn get(
    State(sim): State<SimState>,
    Path(PropertyPath { object_type, name }): Path<PropertyPath>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let archived = Query::parse(raw.as_deref()).flag("archived")?;
    let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
    match store.properties.get(&name) {
        Some(p) if p.archived == archived => Ok(json_response(StatusCode::OK, &json!(p))),
        _ => Err(not_found(&name)),
    }
}

/// `POST /crm/v3/properties/{objectType}`: 201 with `Location`.
pub async fn create(
    State(sim): State<SimState>,
    axum::Extension(version): axum::Extension<ApiVersion>,
    Path(ObjectPath { object_type }): Path<ObjectPath>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let input: PropertyCreate = serde_json::from_slice(&body).map_err(ApiError::bad_json)?;
    let mut missing = Vec::new();
    for (field, value) in [
        ("name", &input.name),
        ("label", &input.label),
        ("type", &input.kind),
        ("fieldType", &input.field_type),
        ("groupName", &input.group_name),
    ] {
        if value.as_deref().is_none_or(str::is_empty) {
            missing.push(field);
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::validation(format!(
            "Missing required fields: {}",
            missing.join(", ")
        )));
    }
    let name = input.name.unwrap_or_default();
    let kind = input.kind.unwrap_or_default();
    let field_type = input.field_type.unwrap_or_default();
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        || name.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(ApiError::validation(format!(
            "Property name {name} is invalid: use lowercase letters, digits and underscores, starting with a letter"
        )));
    }
    if !valid_field_type(&kind, &field_type) {
        return Err(ApiError::validation(format!(
            "Invalid combination of type {kind} and fieldType {field_type}"
        )));
    }
    if kind == "enumeration" && input.options.is_empty() {
        return Err(ApiError::validation(
            "Enumeration properties must have at least one option",
        ));
    }
    let now = sim.now_ms();
    let mut store = sim.store.write().unwrap_or_else(|e| e.into_inner());
    if store.properties.get(&name).is_some_and(|p| !p.archived) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "OBJECT_ALREADY_EXISTS",
            format!("A property named '{name}' already exists."),
        ));
    }
    if input.has_unique_value {
        if store.unique_property_names().len() >= MAX_UNIQUE_PROPERTIES {
            return Err(ApiError::validation(format!(
                "Can't create more than {MAX_UNIQUE_PROPERTIES} unique value properties per object type."
            )));
        }
        store
            .add_unique_index(&name)
            .map_err(ApiError::validation)?;
    } else {
        store.drop_unique_index(&name);
    }
    let property = Property {
        name: name.clone(),
        label: input.label.unwrap_or_default(),
        kind,
        field_type,
        description: input.description,
        group_name: input.group_name.unwrap_or_default(),
        options: input.options,
        display_order: input.display_order.unwrap_or(-1),
        calculated: false,
        external_options: false,
        has_unique_value: input.has_unique_value,
        hidden: input.hidden,
        hubspot_defined: false,
        form_field: input.form_field.unwrap_or(false),
        data_sensitivity: input
            .data_sensitivity
            .unwrap_or_else(|| "non_sensitive".into()),
        modification_metadata: ModificationMetadata {
            archivable: true,
            read_only_definition: false,
            read_only_value: false,
        },
        created_at: iso(now),
        updated_at: iso(now),
        archived: false,
        archived_at: None,
    };
    let body = json!(property);
    store.properties.insert(name.clone(), property);
    drop(store);
    let mut response = json_response(StatusCode::CREATED, &body);
    if let Ok(location) = HeaderValue::from_str(&format!(
        "{}{}/0-1/{name}",
        sim.base_url(),
        version.properties_base()
    )) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `PATCH /crm/v3/properties/{objectType}/{name}`.
pub async fn update(
    State(sim): State<SimState>,
    Path(PropertyPath { object_type, name }): Path<PropertyPath>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let raw: Value = serde_json::from_slice(&body).map_err(ApiError::bad_json)?;
    for fixed in ["name", "hasUniqueValue"] {
        if raw.get(fixed).is_some() {
            return Err(ApiError::validation(format!(
                "{fixed} cannot be changed once a property exists"
            )));
        }
    }
    let input: PropertyUpdate = serde_json::from_value(raw).map_err(ApiError::bad_json)?;
    let now = sim.now_ms();
    let mut store = sim.store.write().unwrap_or_else(|e| e.into_inner());
    let property = store
        .properties
        .get_mut(&name)
        .filter(|p| !p.archived)
        .ok_or_else(|| not_found(&name))?;
    if property.modification_metadata.read_only_definition {
        return Err(ApiError::validation(format!(
            "{name} is a HubSpot-defined property whose definition cannot be changed"
        )));
    }
    let kind = input.kind.unwrap_or_else(|| property.kind.clone());
    let field_type = input
        .field_type
        .unwrap_or_else(|| property.field_type.clone());
    if !valid_field_type(&kind, &field_type) {
        return Err(ApiError::validation(format!(
            "Invalid combination of type {kind} and fieldType {field_type}"
        )));
    }
    property.kind = kind;
    property.field_type = field_type;
    if let Some(label) = input.label {
        property.label = label;
    }
    if let Some(group) = input.group_name {
        property.group_name = group;
    }
    if let Some(description) = input.description {
        property.description = description;
    }
    if let Some(options) = input.options {
        property.options = options;
    }
    if let Some(order) = input.display_order {
        property.display_order = order;
    }
    if let Some(hidden) = input.hidden {
        property.hidden = hidden;
    }
    if let Some(form_field) = input.form_field {
        property.form_field = form_field;
    }
    property.updated_at = iso(now);
    Ok(json_response(StatusCode::OK, &json!(property)))
}

/// `DELETE /crm/v3/properties/{objectType}/{name}`: to the recycle bin, 204.
pub async fn archive(
    State(sim): State<SimState>,
    Path(PropertyPath { object_type, name }): Path<PropertyPath>,
) -> Result<Response, ApiError> {
    check_object_type(&object_type)?;
    let now = sim.now_ms();
    let mut store = sim.store.write().unwrap_or_else(|e| e.into_inner());
    let property = store
        .properties
        .get_mut(&name)
        .filter(|p| !p.archived)
        .ok_or_else(|| not_found(&name))?;
    if !property.modification_metadata.archivable {
        return Err(ApiError::validation(format!(
            "{name} is a HubSpot-defined property and cannot be archived"
        )));
    }
    property.archived = true;
    property.archived_at = Some(iso(now));
    store.drop_unique_index(&name);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /properties/v2/contact/properties`: the legacy listing (a bare array).
pub async fn list_v2(State(sim): State<SimState>) -> Response {
    let store = sim.store.read().unwrap_or_else(|e| e.into_inner());
    let list: Vec<Value> = store
        .properties
        .values()
        .filter(|p| !p.archived)
        .map(Property::to_v2)
        .collect();
    json_response(StatusCode::OK, &Value::Array(list))
}
