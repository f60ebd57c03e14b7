//! Applying a compiled mapping: whole records and field by field, both ways. Nothing here can
//! fail; everything checkable was checked by the compiler.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::template::Template;
use super::{Field, Mapping, SyncTime};
use crate::record::{CrmRecord, Customer, Properties, PropertyValue};

/// What joins the CRM values of a multi-property field in [`Field::hub_value`] and
/// [`Field::crm_value`] (the ASCII unit separator, which no person types).
const VALUE_SEPARATOR: char = '\u{1f}';
/// What joins the items of a list-valued property there (the ASCII record separator).
const ITEM_SEPARATOR: char = '\u{1e}';

/// The CRM properties to write for a customer, and the errors found while mapping it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmOutput {
    /// Property values by name; `""` clears a property.
    pub properties: Properties,
    /// Errors for the status (e.g. `Error: Invalid email ada@example`), in field order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// The 10to8 fields to write for a CRM record; `None` leaves an attribute alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubOutput {
    /// The customer's URI when known (from the CRM's identity property or the current customer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_uri: Option<String>,
    /// The full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email addresses, primary first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<String>>,
    /// Phone numbers, primary first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numbers: Option<Vec<String>>,
    /// Custom fields to set, by label.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, String>,
    /// Errors for the status, in field order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl HubOutput {
    /// Writes these values onto `customer` (custom fields are merged, not replaced).
    pub fn apply_to(&self, customer: &mut Customer) {
        if let Some(uri) = &self.resource_uri {
            customer.resource_uri.clone_from(uri);
        }
        if let Some(name) = &self.name {
            customer.name.clone_from(name);
        }
        if let Some(emails) = &self.emails {
            customer.emails.clone_from(emails);
        }
        if let Some(numbers) = &self.numbers {
            customer.numbers.clone_from(numbers);
        }
        for (label, value) in &self.custom_fields {
            customer.custom_fields.insert(label.clone(), value.clone());
        }
    }
}

/// Adds a value to a canonical string: a text as it is, a list's items (the primary first)
/// joined with U+001E, so a list and a text never compare equal by accident.
fn push_canonical(out: &mut String, value: &PropertyValue) {
    match value {
        PropertyValue::Text(text) => out.push_str(text),
        PropertyValue::List { .. } => {
            out.push(ITEM_SEPARATOR);
            for (n, item) in value.items().into_iter().enumerate() {
                if n > 0 {
                    out.push(ITEM_SEPARATOR);
                }
                out.push_str(item);
            }
        }
    }
}

/// Whether a value is empty or only whitespace (stops at the first other character).
fn is_blank(value: &str) -> bool {
    match value.as_bytes().first() {
        None => true,
        Some(b) if b.is_ascii() && !b.is_ascii_whitespace() => false,
        Some(_) => value.chars().all(char::is_whitespace),
    }
}

/// A single-valued 10to8 side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HubScalar {
    Name,
    CustomField(String),
}

/// A list-valued 10to8 side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HubList {
    Emails,
    Numbers,
}

/// How a field's values are laid out on both sides.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    /// One value to one property.
    Scalar { hub: HubScalar, crm: String },
    /// One value to two properties through a split transform.
    Split {
        hub: HubScalar,
        crm: [String; 2],
        to_crm: fn(&str) -> [String; 2],
        to_hub: fn(&str, &str) -> String,
    },
    /// A list to a primary property and (optionally) the rest joined in another.
    List {
        hub: HubList,
        primary: String,
        rest: Option<String>,
        separator: String,
        /// What the rest is split on when read back: the separator without surrounding
        /// whitespace (or the whole separator when it is only whitespace).
        split_on: String,
    },
    /// A list to one list-valued property, whole (the 10to8 list's first item its primary).
    Items { hub: HubList, crm: String },
}

/// A scalar transform's two functions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScalarFns {
    pub(crate) to_crm: fn(&str) -> String,
    pub(crate) to_hub: fn(&str) -> String,
}

/// A validator and what to do with a value that fails it.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub(crate) valid: fn(&str) -> bool,
    pub(crate) crm_value: String,
    pub(crate) status: Template,
    pub(crate) keep_hub_value: bool,
}

impl HubScalar {
    fn read<'c>(&self, customer: &'c Customer) -> &'c str {
        match self {
            Self::Name => &customer.name,
            Self::CustomField(label) => {
                customer.custom_fields.get(label).map_or("", String::as_str)
            }
        }
    }

    fn write(&self, value: String, out: &mut HubOutput) {
        match self {
            Self::Name => out.name = Some(value),
            Self::CustomField(label) => {
                out.custom_fields.insert(label.clone(), value);
            }
        }
    }
}

impl HubList {
    fn read(self, customer: &Customer) -> &[String] {
        match self {
            Self::Emails => &customer.emails,
            Self::Numbers => &customer.numbers,
        }
    }

    fn write(self, value: Vec<String>, out: &mut HubOutput) {
        match self {
            Self::Emails => out.emails = Some(value),
            Self::Numbers => out.numbers = Some(value),
        }
    }
}

impl Field {
    /// The scalar transforms on the way to the CRM (borrowing when there are none).
    fn scalar_to_crm<'v>(&self, value: &'v str) -> Cow<'v, str> {
        let mut value = Cow::Borrowed(value);
        for fns in &self.scalars {
            value = Cow::Owned((fns.to_crm)(&value));
        }
        value
    }

    /// The scalar transforms undone, in reverse, on the way back to 10to8.
    fn scalar_to_hub<'v>(&self, value: &'v str) -> Cow<'v, str> {
        let mut value = Cow::Borrowed(value);
        for fns in self.scalars.iter().rev() {
            value = Cow::Owned((fns.to_hub)(&value));
        }
        value
    }

    /// Checks a value on its way to the CRM: the value to write, and the error if it is one
    /// the CRM would reject. Empty values are never checked.
    fn checked(
        &self,
        value: Cow<'_, str>,
        now: &SyncTime,
        errors: Option<&mut Vec<String>>,
    ) -> String {
        match &self.check {
            Some(check) if !value.is_empty() && !(check.valid)(&value) => {
                if let Some(errors) = errors {
                    errors.push(check.status.render(now.as_str(), &value));
                }
                check.crm_value.clone()
            }
            _ => value.into_owned(),
        }
    }

    /// Computes what this field writes to the CRM for `customer`, calling `emit` with each
    /// property and value in order.
    fn project(
        &self,
        customer: &Customer,
        now: &SyncTime,
        errors: Option<&mut Vec<String>>,
        mut emit: impl FnMut(&str, PropertyValue),
    ) {
        match &self.shape {
            Shape::Scalar { hub, crm } => {
                let value = self.scalar_to_crm(hub.read(customer));
                emit(crm, self.checked(value, now, errors).into());
            }
            Shape::Split {
                hub, crm, to_crm, ..
            } => {
                let [a, b] = to_crm(&self.scalar_to_crm(hub.read(customer)));
                emit(&crm[0], a.into());
                emit(&crm[1], b.into());
            }
            Shape::Items { hub, crm } => {
                let items = (hub.read(customer).iter())
                    .filter(|item| !is_blank(item))
                    .map(|item| self.scalar_to_crm(item).into_owned())
                    .collect();
                emit(crm, PropertyValue::list(items));
            }
            Shape::List {
                hub,
                primary,
                rest,
                separator,
                ..
            } => {
                let mut items = hub
                    .read(customer)
                    .iter()
                    .filter(|item| !is_blank(item))
                    .map(|item| self.scalar_to_crm(item));
                let first = items.next().unwrap_or_default();
                emit(primary, self.checked(first, now, errors).into());
                if let Some(rest) = rest {
                    let mut joined = String::new();
                    for (n, item) in items.enumerate() {
                        if n > 0 {
                            joined.push_str(separator);
                        }
                        joined.push_str(&item);
                    }
                    emit(rest, joined.into());
                }
            }
        }
    }

    /// This field's value on the 10to8 side, in the CRM's terms: what
    /// [`write_crm`](Self::write_crm) would write, its properties joined with U+001F. Equal to
    /// [`crm_value`](Self::crm_value) when the two sides agree.
    pub fn hub_value(&self, customer: &Customer) -> String {
        let now = SyncTime::placeholder();
        let mut out = String::new();
        let mut first = true;
        self.project(customer, &now, None, |_, value| {
            if !first {
                out.push(VALUE_SEPARATOR);
            }
            first = false;
            push_canonical(&mut out, &value);
        });
        out
    }

    /// This field's value on the CRM side: its properties as the record holds them (missing
    /// ones as empty), joined with U+001F.
    pub fn crm_value(&self, record: &CrmRecord) -> String {
        let mut out = String::new();
        if let Shape::Items { crm, .. } = &self.shape {
            let items = record
                .value(crm)
                .map(PropertyValue::items)
                .unwrap_or_default();
            push_canonical(
                &mut out,
                &PropertyValue::list(items.into_iter().map(str::to_owned).collect()),
            );
            return out;
        }
        for (n, property) in self.crm.iter().enumerate() {
            if n > 0 {
                out.push(VALUE_SEPARATOR);
            }
            out.push_str(record.property(property));
        }
        out
    }

    /// Writes this field's CRM properties for `customer` into `out`, adding any error to
    /// `out.errors`.
    pub fn write_crm(&self, customer: &Customer, now: &SyncTime, out: &mut CrmOutput) {
        let CrmOutput { properties, errors } = out;
        self.project(customer, now, Some(errors), |property, value| {
            properties.insert(property.to_owned(), value);
        });
    }

    /// The error this field reports for `customer` on the way to the CRM, if any.
    fn crm_error(&self, customer: &Customer, now: &SyncTime, errors: &mut Vec<String>) {
        let Some(check) = &self.check else { return };
        let value = match &self.shape {
            Shape::Scalar { hub, .. } => self.scalar_to_crm(hub.read(customer)),
            Shape::List { hub, .. } => match hub.read(customer).iter().find(|i| !is_blank(i)) {
                Some(first) => self.scalar_to_crm(first),
                None => return,
            },
            Shape::Split { .. } | Shape::Items { .. } => return,
        };
        if !value.is_empty() && !(check.valid)(&value) {
            errors.push(check.status.render(now.as_str(), &value));
        }
    }

    /// When the CRM holds the placeholder for an invalid value and `current` holds that
    /// invalid value, the value to keep and its error.
    fn kept<'c>(
        &self,
        crm_value: &str,
        current: Option<&'c str>,
        now: &SyncTime,
    ) -> Option<(&'c str, String)> {
        let check = self.check.as_ref().filter(|c| c.keep_hub_value)?;
        let current = current?;
        if crm_value != check.crm_value || is_blank(current) {
            return None;
        }
        let outgoing = self.scalar_to_crm(current);
        (!(check.valid)(&outgoing)).then(|| (current, check.status.render(now.as_str(), &outgoing)))
    }

    /// Writes this field's 10to8 value for `record` into `out`. `current` is the customer as
    /// 10to8 has it now, if linked: a placeholder in the CRM never overwrites the invalid value
    /// it stands for (the error goes to `out.errors`), and a list without a `rest` property
    /// keeps the customer's other items.
    pub fn write_hub(
        &self,
        record: &CrmRecord,
        current: Option<&Customer>,
        now: &SyncTime,
        out: &mut HubOutput,
    ) {
        match &self.shape {
            Shape::Scalar { hub, crm } => {
                let raw = record.property(crm);
                let value = match self.kept(raw, current.map(|c| hub.read(c)), now) {
                    Some((kept, error)) => {
                        out.errors.push(error);
                        kept.to_owned()
                    }
                    None => self.scalar_to_hub(raw).into_owned(),
                };
                hub.write(value, out);
            }
            Shape::Split {
                hub, crm, to_hub, ..
            } => {
                let joined = to_hub(record.property(&crm[0]), record.property(&crm[1]));
                hub.write(self.scalar_to_hub(&joined).into_owned(), out);
            }
            Shape::List {
                hub,
                primary,
                rest,
                split_on,
                ..
            } => {
                let current_items = current.map(|c| hub.read(c));
                let current_first = current_items
                    .and_then(|items| items.iter().find(|i| !is_blank(i)))
                    .map(String::as_str);
                let raw = record.property(primary);
                let mut items = Vec::new();
                match self.kept(raw, current_first, now) {
                    Some((kept, error)) => {
                        out.errors.push(error);
                        items.push(kept.to_owned());
                    }
                    None if !is_blank(raw) => {
                        items.push(self.scalar_to_hub(raw.trim()).into_owned())
                    }
                    None => {}
                }
                match rest {
                    Some(rest) => items.extend(
                        record
                            .property(rest)
                            .split(split_on.as_str())
                            .map(str::trim)
                            .filter(|item| !item.is_empty())
                            .map(|item| self.scalar_to_hub(item).into_owned()),
                    ),
                    None => items.extend(
                        current_items
                            .unwrap_or_default()
                            .iter()
                            .filter(|i| !is_blank(i))
                            .skip(1)
                            .cloned(),
                    ),
                }
                hub.write(items, out);
            }
            Shape::Items { hub, crm } => {
                let items = (record.value(crm).map(PropertyValue::items))
                    .unwrap_or_default()
                    .into_iter()
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| self.scalar_to_hub(item).into_owned())
                    .collect();
                hub.write(items, out);
            }
        }
    }

    /// The error this field reports for `record` on the way to 10to8, if any.
    fn hub_error(
        &self,
        record: &CrmRecord,
        current: Option<&Customer>,
        now: &SyncTime,
        errors: &mut Vec<String>,
    ) {
        let (raw, current) = match &self.shape {
            Shape::Scalar { hub, crm } => (record.property(crm), current.map(|c| hub.read(c))),
            Shape::List { hub, primary, .. } => (
                record.property(primary),
                current.and_then(|c| {
                    hub.read(c)
                        .iter()
                        .find(|i| !is_blank(i))
                        .map(String::as_str)
                }),
            ),
            Shape::Split { .. } | Shape::Items { .. } => return,
        };
        if let Some((_, error)) = self.kept(raw, current, now) {
            errors.push(error);
        }
    }
}

impl SyncTime {
    /// A time for computing values that never render `{now}`.
    pub(crate) fn placeholder() -> Self {
        Self {
            at: chrono::DateTime::UNIX_EPOCH,
            text: String::new(),
        }
    }
}

impl Mapping {
    /// Every CRM property to write for `customer`: each field that flows to the CRM, the
    /// customer's URI in the identity property, and the status.
    pub fn to_crm(&self, customer: &Customer, now: &SyncTime) -> CrmOutput {
        let mut out = CrmOutput::default();
        for field in self.fields.iter().filter(|f| f.direction.to_crm()) {
            field.write_crm(customer, now, &mut out);
        }
        // Every field was written, so `out.errors` already holds the whole customer's errors.
        self.finish_crm_with(customer, now, &mut out, false);
        out
    }

    /// Adds identity and status to an output built field by field: the customer's URI (when it
    /// has one) and a status computed over every field of the whole customer, not only the
    /// fields written. `out.errors` becomes the whole customer's errors.
    pub fn finish_crm(&self, customer: &Customer, now: &SyncTime, out: &mut CrmOutput) {
        self.finish_crm_with(customer, now, out, true);
    }

    fn finish_crm_with(
        &self,
        customer: &Customer,
        now: &SyncTime,
        out: &mut CrmOutput,
        recheck: bool,
    ) {
        if !customer.resource_uri.is_empty() {
            out.properties.insert(
                self.identity.hub_id_property.clone(),
                customer.resource_uri.clone().into(),
            );
        }
        let mut errors = Vec::new();
        if recheck {
            for field in self.fields.iter().filter(|f| f.direction.to_crm()) {
                field.crm_error(customer, now, &mut errors);
            }
        } else {
            errors = std::mem::take(&mut out.errors);
        }
        if let Some(status) = &self.status {
            out.properties.insert(
                status.crm_property.clone(),
                status.text(&errors, now).into(),
            );
        }
        out.errors = errors;
    }

    /// The 10to8 fields to write for `record`: each field that flows to 10to8, the record's id
    /// in the identity custom field, the customer's URI when known, and the status. `current`
    /// is the linked customer as 10to8 has it now, if any.
    pub fn to_hub(
        &self,
        record: &CrmRecord,
        current: Option<&Customer>,
        now: &SyncTime,
    ) -> HubOutput {
        let mut out = HubOutput::default();
        for field in self.fields.iter().filter(|f| f.direction.to_hub()) {
            field.write_hub(record, current, now, &mut out);
        }
        self.finish_hub(record, current, now, &mut out);
        out
    }

    /// Adds identity and status to an output built field by field (see
    /// [`finish_crm`](Self::finish_crm)).
    pub fn finish_hub(
        &self,
        record: &CrmRecord,
        current: Option<&Customer>,
        now: &SyncTime,
        out: &mut HubOutput,
    ) {
        if !record.id.as_str().is_empty() {
            out.custom_fields.insert(
                self.identity.crm_id_custom_field.clone(),
                record.id.as_str().to_owned(),
            );
        }
        let uri = record.property(&self.identity.hub_id_property);
        if !uri.is_empty() {
            out.resource_uri = Some(uri.to_owned());
        } else if let Some(current) = current.filter(|c| !c.resource_uri.is_empty()) {
            out.resource_uri = Some(current.resource_uri.clone());
        }
        let mut errors = Vec::new();
        for field in self.fields.iter().filter(|f| f.direction.to_hub()) {
            field.hub_error(record, current, now, &mut errors);
        }
        if let Some(status) = &self.status {
            out.custom_fields
                .insert(status.hub_custom_field.clone(), status.text(&errors, now));
        }
        out.errors = errors;
    }
}
