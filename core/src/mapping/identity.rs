//! Match keys: what tells that a never-linked customer and record are the same person.
//!
//! A key (`email`, `phone`, `name`) reads the same 10to8 attribute on the customer and, on
//! the CRM record, the field that maps that attribute plus any `identity.also_in_crm`
//! properties (a CRM's own list of more emails). Values are normalized before they are
//! compared: emails trimmed and lowercased; phone numbers parsed to E.164 (numbers without a
//! country code are read in `identity.phone_region`); names without accents, case or extra
//! whitespace. A rule is a set of keys that must all agree; rules are tried in order. For
//! pairing, [`KeyNumbers`] gives each distinct normalized value a number.
//!
//! Nothing here decides a pair: that is the engine's pairing, which never links a key that
//! fits more than one record on either side.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::{Mapping, SyncTime};
use crate::record::{CrmRecord, Customer, PropertyValue};

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

    /// The key's place in [`Key::ALL`].
    pub(crate) fn index(self) -> usize {
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

    fn push(&mut self, key: Key, raw: &str, region: Option<Region>) {
        let mut value = String::new();
        if write_normalized(key, raw, region, &mut value) {
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

/// Every distinct normalized value of one pairing, numbered once: equal values of either
/// side get equal numbers, so rules compare numbers, never strings. The values are kept in
/// one text (no allocation per value), and a phone number written the same way twice is
/// parsed once (parsing is most of the work, and after a first sync both sides hold the same
/// numbers).
#[derive(Debug, Default)]
pub struct KeyNumbers {
    /// The distinct values, one after another.
    text: String,
    /// Where each value ends in `text`, by number; it starts where the one before ends.
    ends: Vec<usize>,
    /// (hash of the value, its number), found by hash and then compared by text.
    table: HashTable<(u64, u32)>,
    hasher: RandomState,
    /// The number of each phone number as written (`None`: not a usable number).
    phones: HashMap<String, Option<u32>>,
    scratch: String,
}

impl KeyNumbers {
    /// How many distinct values are numbered.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no value is numbered yet.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The value numbered `number`.
    pub fn value(&self, number: u32) -> &str {
        value_in(&self.text, &self.ends, number)
    }

    /// The number of `raw` as a value of `key` once normalized; `None` when it normalizes to
    /// nothing.
    fn number(&mut self, key: Key, raw: &str, region: Option<Region>) -> Option<u32> {
        if key == Key::Phone
            && let Some(&known) = self.phones.get(raw)
        {
            return known;
        }
        let mut value = std::mem::take(&mut self.scratch);
        let number = write_normalized(key, raw, region, &mut value).then(|| self.intern(&value));
        self.scratch = value;
        if key == Key::Phone {
            self.phones.insert(raw.to_owned(), number);
        }
        number
    }

    /// What numbers each raw value given to it and passes the numbers to `each`.
    fn numbering(
        &mut self,
        region: Option<Region>,
        mut each: impl FnMut(Key, u32),
    ) -> impl FnMut(Key, &str) {
        move |key, raw| {
            if let Some(number) = self.number(key, raw, region) {
                each(key, number);
            }
        }
    }

    fn intern(&mut self, value: &str) -> u32 {
        let hash = self.hasher.hash_one(value);
        let Self {
            text, ends, table, ..
        } = self;
        if let Some(&(_, number)) = table.find(hash, |&(h, n)| {
            h == hash && value_in(text, ends, n) == value
        }) {
            return number;
        }
        let number = ends.len() as u32;
        text.push_str(value);
        ends.push(text.len());
        table.insert_unique(hash, (hash, number), |&(h, _)| h);
        number
    }
}

fn value_in<'a>(text: &'a str, ends: &[usize], number: u32) -> &'a str {
    let n = number as usize;
    let start = if n == 0 { 0 } else { ends[n - 1] };
    &text[start..ends[n]]
}

/// Writes `raw` normalized as a value of `key` into `out` (replacing what it held); false
/// when it normalizes to nothing.
fn write_normalized(key: Key, raw: &str, region: Option<Region>, out: &mut String) -> bool {
    out.clear();
    match key {
        Key::Email => write_email(raw, out),
        Key::Phone => write_phone(raw, region, out),
        Key::Name => write_name(raw, out),
    }
    !out.is_empty()
}

/// An email as compared: trimmed and lowercased; `None` when empty.
pub fn normalize_email(raw: &str) -> Option<String> {
    let mut value = String::new();
    write_email(raw, &mut value);
    (!value.is_empty()).then_some(value)
}

fn write_email(raw: &str, out: &mut String) {
    let trimmed = raw.trim();
    if trimmed.is_ascii() {
        out.push_str(trimmed);
        out.make_ascii_lowercase();
    } else {
        out.push_str(&trimmed.to_lowercase());
    }
}

/// A phone number as compared: E.164 (`+447700900202`), reading a number without a country
/// code in `region`. A number the library cannot parse is kept as its digits. `None` when it
/// has fewer than six digits.
pub fn normalize_phone(raw: &str, region: Option<phonenumber::country::Id>) -> Option<String> {
    let mut value = String::new();
    write_phone(raw, region, &mut value);
    (!value.is_empty()).then_some(value)
}

fn write_phone(raw: &str, region: Option<Region>, out: &mut String) {
    let digits = raw.chars().filter(char::is_ascii_digit).count();
    if digits < MIN_PHONE_DIGITS {
        return;
    }
    match phonenumber::parse(region, raw) {
        // E.164 is `+`, the country code and the national significant number (leading
        // zeros kept); written directly, it costs a quarter of the library's formatter.
        Ok(number) => {
            // Writing into a String cannot fail.
            let _ = write!(out, "+{}{}", number.code().value(), number.national());
        }
        Err(_) => {
            if raw.trim_start().starts_with('+') {
                out.push('+');
            }
            out.extend(raw.chars().filter(char::is_ascii_digit));
        }
    }
}

/// A name as compared: accents removed, lowercased, whitespace collapsed (`José  Núñez` →
/// `jose nunez`); `None` when empty.
pub fn normalize_name(raw: &str) -> Option<String> {
    let mut value = String::new();
    write_name(raw, &mut value);
    (!value.is_empty()).then_some(value)
}

fn write_name(raw: &str, out: &mut String) {
    let push_words = |folded: &str, out: &mut String| {
        for word in folded.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    };
    if raw.is_ascii() {
        // Most names: nothing to fold, so one pass and no allocation.
        push_words(raw, out);
        out.make_ascii_lowercase();
    } else {
        let folded: String = raw
            .nfd()
            .filter(|c| !is_combining_mark(*c))
            .collect::<String>()
            .to_lowercase();
        push_words(&folded, out);
    }
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
        let region = self.matching.region;
        let mut out = KeyValues::default();
        self.each_hub_key_value(customer, |key, raw| out.push(key, raw, region));
        out.finish();
        out
    }

    /// [`hub_keys`](Self::hub_keys) as numbers: calls `each` with the key and number of
    /// every value (a value may come more than once).
    pub fn number_hub_keys(
        &self,
        customer: &Customer,
        numbers: &mut KeyNumbers,
        each: impl FnMut(Key, u32),
    ) {
        self.each_hub_key_value(customer, numbers.numbering(self.matching.region, each));
    }

    /// Calls `each` with every raw value of a match key the customer holds that the CRM
    /// could hold too.
    fn each_hub_key_value(&self, customer: &Customer, mut each: impl FnMut(Key, &str)) {
        for &key in self.matching.used_keys() {
            let valid = self.matching.fields[key.index()]
                .and_then(|n| self.fields[n].check.as_ref())
                .map(|check| check.valid);
            let comparable = |value: &&String| valid.is_none_or(|valid| valid(value.trim()));
            let values = match key {
                Key::Email => customer.emails.as_slice(),
                Key::Phone => customer.numbers.as_slice(),
                Key::Name => std::slice::from_ref(&customer.name),
            };
            values
                .iter()
                .filter(comparable)
                .for_each(|value| each(key, value));
        }
    }

    /// The CRM property a customer is looked up by under the first match rule: the one its
    /// key is mapped to first (for example `email`, or `emails` for a list). `None` when the
    /// first rule joins several keys (no CRM searches by a pair of values) or no field maps
    /// its key.
    pub fn first_rule_property(&self) -> Option<&str> {
        let key = self.first_rule_key()?;
        let field = &self.fields[self.matching.fields[key.index()]?];
        field.crm.first().map(String::as_str)
    }

    /// The customer's values of the first match rule's key that the CRM could hold, trimmed,
    /// each once (none when the rule joins several keys).
    pub fn first_rule_values(&self, customer: &Customer) -> Vec<String> {
        let Some(key) = self.first_rule_key() else {
            return Vec::new();
        };
        let mut values: Vec<String> = Vec::new();
        self.each_hub_key_value(customer, |of, raw| {
            let value = raw.trim();
            if of == key && !value.is_empty() && !values.iter().any(|v| v == value) {
                values.push(value.to_owned());
            }
        });
        values
    }

    /// The first match rule's key, when the rule has one.
    fn first_rule_key(&self) -> Option<Key> {
        match self.matching.rules.first()?.keys() {
            [key] => Some(*key),
            _ => None,
        }
    }

    /// The normalized key values of a CRM record: its mapped fields read back as 10to8 would
    /// get them, and the `also_in_crm` properties.
    pub fn crm_keys(&self, record: &CrmRecord) -> KeyValues {
        let region = self.matching.region;
        let mut out = KeyValues::default();
        self.each_crm_key_value(record, |key, raw| out.push(key, raw, region));
        out.finish();
        out
    }

    /// [`crm_keys`](Self::crm_keys) as numbers: calls `each` with the key and number of
    /// every value (a value may come more than once).
    pub fn number_crm_keys(
        &self,
        record: &CrmRecord,
        numbers: &mut KeyNumbers,
        each: impl FnMut(Key, u32),
    ) {
        self.each_crm_key_value(record, numbers.numbering(self.matching.region, each));
    }

    /// Calls `each` with every raw value of a match key the record holds.
    fn each_crm_key_value(&self, record: &CrmRecord, mut each: impl FnMut(Key, &str)) {
        let now = SyncTime::placeholder();
        for &key in self.matching.used_keys() {
            if let Some(field) = self.matching.fields[key.index()].map(|n| &self.fields[n]) {
                let mut hub = super::HubOutput::default();
                field.write_hub(record, None, &now, &mut hub);
                match key {
                    Key::Email => hub.emails.iter().flatten().for_each(|e| each(key, e)),
                    Key::Phone => hub.numbers.iter().flatten().for_each(|n| each(key, n)),
                    Key::Name => {
                        if let Some(name) = &hub.name {
                            each(key, name);
                        }
                    }
                }
            }
            for extra in self.matching.extra.iter().filter(|e| e.key == key) {
                match record.value(&extra.property) {
                    Some(PropertyValue::Text(text)) => {
                        text.split(extra.separator.as_str())
                            .for_each(|item| each(key, item));
                    }
                    Some(list) => list.items().into_iter().for_each(|item| each(key, item)),
                    None => {}
                }
            }
        }
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
        values.push(Key::Name, "Ada Lovelace", None);
        values.push(Key::Phone, "+44 7700 900202", None);
        values.push(Key::Phone, "+44 7700 900203", None);
        values.finish();
        let rule = MatchRule::new(vec![Key::Phone, Key::Name]);
        assert_eq!(rule.to_string(), "name + phone");
        assert_eq!(values.tuples(&rule).len(), 2);
        assert!(values.tuples(&MatchRule::new(vec![Key::Email])).is_empty());
    }

    #[test]
    fn equal_values_get_one_number_and_each_written_phone_is_parsed_once() {
        let gb = parse_region("GB");
        let mut numbers = KeyNumbers::default();
        let phone = numbers.number(Key::Phone, "07700 900202", gb);
        assert!(phone.is_some());
        assert_eq!(numbers.number(Key::Phone, "+44 7700 900202", gb), phone);
        assert_eq!(numbers.value(phone.unwrap_or_default()), "+447700900202");
        let name = numbers.number(Key::Name, "José  Núñez", gb);
        assert_eq!(numbers.number(Key::Name, "jose nunez", gb), name);
        assert_ne!(name, phone);
        assert_eq!(numbers.number(Key::Phone, "12", gb), None);
        assert_eq!(numbers.number(Key::Email, "  ", gb), None);
        assert_eq!(numbers.len(), 2);
        assert_eq!(numbers.phones.len(), 3, "each way of writing a number once");
    }

    proptest::proptest! {
        #[test]
        fn numbers_agree_exactly_when_normalized_values_do(
            values in proptest::collection::vec((0..3usize, "[ a-cA-C0-9+@.\\t\u{b}áÁΣς]{0,10}"), 1..24)
        ) {
            let gb = parse_region("GB");
            let mut numbers = KeyNumbers::default();
            let numbered: Vec<(Option<u32>, Option<String>)> = values
                .iter()
                .map(|(key, raw)| {
                    let key = Key::ALL[*key];
                    let mut value = String::new();
                    let normalized = write_normalized(key, raw, gb, &mut value).then_some(value);
                    (numbers.number(key, raw, gb), normalized)
                })
                .collect();
            for (number, value) in &numbered {
                proptest::prop_assert_eq!(number.is_some(), value.is_some());
                if let (Some(n), Some(v)) = (number, value) {
                    proptest::prop_assert_eq!(numbers.value(*n), v.as_str());
                }
            }
            for (a, x) in &numbered {
                for (b, y) in &numbered {
                    if x.is_some() && y.is_some() {
                        proptest::prop_assert_eq!(a == b, x == y);
                    }
                }
            }
        }
    }
}
