//! Match keys: what tells that a never-linked customer and record are the same person.
//!
//! A key (`email`, `phone`, `name`) reads the same 10to8 attribute on the customer and, on
//! the CRM record, the field that maps that attribute plus any `identity.also_in_crm`
//! properties (a CRM's own list of more emails). Values are normalized before they are
//! compared: emails trimmed and lowercased; phone numbers parsed to E.164 (numbers without a
//! country code are read in `identity.phone_region`); names without accents, case or extra
//! whitespace. A rule is a set of keys that must all agree; rules are tried in order.
//!
//! Nothing here decides a pair: that is the engine's pairing, which never links a key that
//! fits more than one record on either side.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::{Mapping, SyncTime};
use crate::record::{CrmRecord, Customer};

/// What joins the values of a rule's keys into one comparable tuple (no person types it).
const TUPLE_SEPARATOR: char = '\u{1f}';
/// The fewest digits a phone number needs to identify anyone.
const MIN_PHONE_DIGITS: usize = 6;

/// A match key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Key {
    /// Every email address a side holds, trimmed and lowercased.
    Email,
    /// The full name, without accents, case or extra whitespace.
    Name,
    /// Every phone number, in E.164.
    Phone,
}

impl Key {
    /// Every key, in the order of [`KeyValues`].
    pub const ALL: &'static [Key] = &[Key::Email, Key::Name, Key::Phone];

    /// The key as written in a mapping.
    pub fn name(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Name => "name",
        }
    }

    /// The key of this name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The 10to8 attribute the key reads (and whose field it reads in the CRM).
    pub fn hub_attribute(self) -> &'static str {
        match self {
            Self::Email => "emails",
            Self::Phone => "numbers",
            Self::Name => "name",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A match rule: keys that must all agree.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MatchRule {
    keys: Vec<Key>,
}

impl MatchRule {
    /// A rule over `keys` (sorted, each once).
    pub fn new(mut keys: Vec<Key>) -> Self {
        keys.sort();
        keys.dedup();
        Self { keys }
    }

    /// The keys, sorted.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }
}

impl fmt::Display for MatchRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.keys.iter().map(|k| k.name()).collect();
        f.write_str(&names.join(" + "))
    }
}

/// A CRM property holding more values of a key, split on a separator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExtraSource {
    pub(crate) key: Key,
    pub(crate) property: String,
    pub(crate) separator: String,
}

/// The normalized values of every key of one customer or record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyValues {
    values: [Vec<String>; 3],
}

impl KeyValues {
    /// The values of `key`, sorted, each once.
    pub fn of(&self, key: Key) -> &[String] {
        &self.values[key.index()]
    }

    /// Whether `key` has a value.
    pub fn has(&self, key: Key) -> bool {
        !self.values[key.index()].is_empty()
    }

    /// Every combination of the rule's keys' values, as comparable strings; none when a key
    /// has no value.
    pub fn tuples(&self, rule: &MatchRule) -> Vec<Cow<'_, str>> {
        if let [key] = rule.keys.as_slice() {
            return self
                .of(*key)
                .iter()
                .map(|v| Cow::Borrowed(v.as_str()))
                .collect();
        }
        let mut out = vec![String::new()];
        for (n, key) in rule.keys.iter().enumerate() {
            let values = self.of(*key);
            let mut next = Vec::with_capacity(out.len() * values.len());
            for prefix in &out {
                for value in values {
                    let mut tuple = String::with_capacity(prefix.len() + value.len() + 1);
                    tuple.push_str(prefix);
                    if n > 0 {
                        tuple.push(TUPLE_SEPARATOR);
                    }
                    tuple.push_str(value);
                    next.push(tuple);
                }
            }
            out = next;
        }
        out.into_iter().map(Cow::Owned).collect()
    }

    fn push(&mut self, key: Key, raw: &str, region: Option<Region>, cache: &mut KeyCache) {
        let value = match key {
            Key::Email => normalize_email(raw),
            Key::Phone => match cache.phones.get(raw) {
                Some(known) => known.clone(),
                None => {
                    let value = normalize_phone(raw, region);
                    cache.phones.insert(raw.to_owned(), value.clone());
                    value
                }
            },
            Key::Name => normalize_name(raw),
        };
        if let Some(value) = value {
            self.values[key.index()].push(value);
        }
    }

    fn finish(&mut self) {
        for values in &mut self.values {
            values.sort();
            values.dedup();
        }
    }
}

/// A phone region (ISO 3166), e.g. `GB`.
pub type Region = phonenumber::country::Id;

/// Normalized values already computed, shared by the records of one pairing: parsing a phone
/// number is most of the work, and after a first sync both sides hold the same numbers.
#[derive(Debug, Default)]
pub struct KeyCache {
    phones: HashMap<String, Option<String>>,
}

/// An email as compared: trimmed and lowercased; `None` when empty.
pub fn normalize_email(raw: &str) -> Option<String> {
    let value = raw.trim().to_lowercase();
    (!value.is_empty()).then_some(value)
}

/// A phone number as compared: E.164 (`+447700900202`), reading a number without a country
/// code in `region`. A number the library cannot parse is kept as its digits. `None` when it
/// has fewer than six digits.
pub fn normalize_phone(raw: &str, region: Option<phonenumber::country::Id>) -> Option<String> {
    let digits = raw.chars().filter(char::is_ascii_digit).count();
    if digits < MIN_PHONE_DIGITS {
        return None;
    }
    match phonenumber::parse(region, raw) {
        // E.164 is `+`, the country code and the national significant number (leading
        // zeros kept); written directly, it costs a quarter of the library's formatter.
        Ok(number) => Some(format!("+{}{}", number.code().value(), number.national())),
        Err(_) => {
            let plus = raw.trim_start().starts_with('+');
            let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
            Some(if plus { format!("+{digits}") } else { digits })
        }
    }
}

/// A name as compared: accents removed, lowercased, whitespace collapsed (`José  Núñez` →
/// `jose nunez`); `None` when empty.
pub fn normalize_name(raw: &str) -> Option<String> {
    if raw.is_ascii() {
        // Most names: nothing to fold, so one pass and one allocation.
        let mut value = String::with_capacity(raw.len());
        for word in raw.split_whitespace() {
            if !value.is_empty() {
                value.push(' ');
            }
            value.extend(word.chars().map(|c| c.to_ascii_lowercase()));
        }
        return (!value.is_empty()).then_some(value);
    }
    let folded: String = raw
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase();
    let value = folded.split_whitespace().collect::<Vec<_>>().join(" ");
    (!value.is_empty()).then_some(value)
}

/// Parses a region code such as `GB`.
pub(crate) fn parse_region(code: &str) -> Option<phonenumber::country::Id> {
    code.trim().to_ascii_uppercase().parse().ok()
}

impl Mapping {
    /// The normalized key values of a 10to8 customer. A value the key's field would refuse
    /// to write to the CRM (an invalid email) is left out: the CRM can never hold it, so it
    /// tells nothing about who the customer is there.
    pub fn hub_keys(&self, customer: &Customer) -> KeyValues {
        self.hub_keys_cached(customer, &mut KeyCache::default())
    }

    /// [`hub_keys`](Self::hub_keys), reusing the values in `cache`.
    pub fn hub_keys_cached(&self, customer: &Customer, cache: &mut KeyCache) -> KeyValues {
        let region = self.matching.region;
        let mut out = KeyValues::default();
        for &key in self.matching.used_keys() {
            let valid = self.matching.fields[key.index()]
                .and_then(|n| self.fields[n].check.as_ref())
                .map(|check| check.valid);
            let comparable = |value: &&String| valid.is_none_or(|valid| valid(value.trim()));
            match key {
                Key::Email => customer
                    .emails
                    .iter()
                    .filter(comparable)
                    .for_each(|e| out.push(key, e, region, cache)),
                Key::Phone => customer
                    .numbers
                    .iter()
                    .filter(comparable)
                    .for_each(|n| out.push(key, n, region, cache)),
                Key::Name => {
                    if comparable(&&customer.name) {
                        out.push(key, &customer.name, region, cache);
                    }
                }
            }
        }
        out.finish();
        out
    }

    /// The normalized key values of a CRM record: its mapped fields read back as 10to8 would
    /// get them, and the `also_in_crm` properties.
    pub fn crm_keys(&self, record: &CrmRecord) -> KeyValues {
        self.crm_keys_cached(record, &mut KeyCache::default())
    }

    /// [`crm_keys`](Self::crm_keys), reusing the values in `cache`.
    pub fn crm_keys_cached(&self, record: &CrmRecord, cache: &mut KeyCache) -> KeyValues {
        let region = self.matching.region;
        let now = SyncTime::placeholder();
        let mut out = KeyValues::default();
        for &key in self.matching.used_keys() {
            if let Some(field) = self.matching.fields[key.index()].map(|n| &self.fields[n]) {
                let mut hub = super::HubOutput::default();
                field.write_hub(record, None, &now, &mut hub);
                match key {
                    Key::Email => hub
                        .emails
                        .iter()
                        .flatten()
                        .for_each(|e| out.push(key, e, region, cache)),
                    Key::Phone => hub
                        .numbers
                        .iter()
                        .flatten()
                        .for_each(|n| out.push(key, n, region, cache)),
                    Key::Name => {
                        if let Some(name) = &hub.name {
                            out.push(key, name, region, cache);
                        }
                    }
                }
            }
            for extra in self.matching.extra.iter().filter(|e| e.key == key) {
                for item in record
                    .property(&extra.property)
                    .split(extra.separator.as_str())
                {
                    out.push(key, item, region, cache);
                }
            }
        }
        out.finish();
        out
    }
}

/// The compiled match rules and where each key's values are.
#[derive(Debug, Clone, Default)]
pub(crate) struct Matching {
    pub(crate) rules: Vec<MatchRule>,
    pub(crate) possible_duplicate: Option<MatchRule>,
    pub(crate) region: Option<Region>,
    /// Per key (by index), the field that maps its 10to8 attribute.
    pub(crate) fields: [Option<usize>; 3],
    pub(crate) extra: Vec<ExtraSource>,
    /// The keys any rule names, sorted.
    pub(crate) used: Vec<Key>,
}

impl Matching {
    fn used_keys(&self) -> &[Key] {
        &self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_in_any_format_agree_in_e164() {
        let gb = parse_region("GB");
        let a = normalize_phone("07700 900202", gb);
        assert_eq!(a.as_deref(), Some("+447700900202"));
        assert_eq!(normalize_phone("+44 7700 900202", gb), a);
        assert_eq!(normalize_phone("+44 (0)7700-900-202", gb), a);
        assert_ne!(normalize_phone("07700 900203", gb), a);
        assert_eq!(
            normalize_phone("12", gb),
            None,
            "too short to tell anyone apart"
        );
        assert_eq!(
            normalize_phone("(555) 123-4567", parse_region("US")).as_deref(),
            Some("+15551234567")
        );
    }

    #[test]
    fn names_compare_without_accents_case_or_extra_spaces() {
        assert_eq!(
            normalize_name("José  Núñez"),
            normalize_name(" jose nunez ")
        );
        assert_eq!(normalize_name("José  Núñez").as_deref(), Some("jose nunez"));
        assert_ne!(normalize_name("Jose Nunez"), normalize_name("Josef Nunez"));
        assert_eq!(normalize_name("   "), None);
        // Plain ASCII takes a shorter path to the same value.
        assert_eq!(
            normalize_name("\t MARY  Ann\u{b}O'Neil \n").as_deref(),
            Some("mary ann o'neil")
        );
        assert_eq!(normalize_name("Mary  Ann"), normalize_name("Máry Ann"));
    }

    #[test]
    fn emails_compare_trimmed_and_lowercased() {
        assert_eq!(
            normalize_email(" Ada@Example.COM ").as_deref(),
            Some("ada@example.com")
        );
        assert_eq!(normalize_email(""), None);
    }

    #[test]
    fn tuples_combine_every_value_of_every_key() {
        let mut values = KeyValues::default();
        let cache = &mut KeyCache::default();
        values.push(Key::Name, "Ada Lovelace", None, cache);
        values.push(Key::Phone, "+44 7700 900202", None, cache);
        values.push(Key::Phone, "+44 7700 900203", None, cache);
        values.finish();
        let rule = MatchRule::new(vec![Key::Phone, Key::Name]);
        assert_eq!(rule.to_string(), "name + phone");
        assert_eq!(values.tuples(&rule).len(), 2);
        assert!(values.tuples(&MatchRule::new(vec![Key::Email])).is_empty());
    }
}
