//! The transform registry: small named functions a mapping applies to values on their way
//! between 10to8 and the CRM.
//!
//! The language grows by adding a function here, never by adding syntax. Each transform works
//! both ways (to the CRM, and back to 10to8) and carries examples; a test runs every example
//! and `docs/mapping.md` lists them. There are two kinds: [`TransformKind::Scalar`] (one value
//! to one value; on a list it applies to each item) and [`TransformKind::Split`] (one 10to8
//! value to two CRM properties and back).

use schemars::{Schema, SchemaGenerator, json_schema};

use super::validate::VALIDATORS;

/// Which way a value travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Way {
    /// From 10to8 to the CRM.
    ToCrm,
    /// From the CRM to 10to8.
    ToHub,
}

/// What a transform does.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum TransformKind {
    /// One value to one value, with a function for each way.
    Scalar {
        /// On the way to the CRM.
        to_crm: fn(&str) -> String,
        /// On the way back to 10to8.
        to_hub: fn(&str) -> String,
    },
    /// One 10to8 value to two CRM properties (`crm: [a, b]`) and back.
    Split {
        /// Splits the 10to8 value.
        to_crm: fn(&str) -> [String; 2],
        /// Joins the CRM values.
        to_hub: fn(&str, &str) -> String,
    },
}

/// One example of a transform: these inputs give these outputs, going `way`.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// Which way.
    pub way: Way,
    /// The input values (one, or the two CRM values of a split going to 10to8).
    pub input: &'static [&'static str],
    /// The output values (one, or the two CRM values of a split going to the CRM).
    pub output: &'static [&'static str],
}

/// A registered transform.
#[derive(Debug, Clone, Copy)]
pub struct Transform {
    /// The name used in mapping files.
    pub name: &'static str,
    /// One line for the docs.
    pub summary: &'static str,
    /// The functions.
    pub kind: TransformKind,
    /// Examples a test runs and the docs show.
    pub examples: &'static [Example],
}

const fn to_crm(input: &'static [&'static str], output: &'static [&'static str]) -> Example {
    Example {
        way: Way::ToCrm,
        input,
        output,
    }
}

const fn to_hub(input: &'static [&'static str], output: &'static [&'static str]) -> Example {
    Example {
        way: Way::ToHub,
        input,
        output,
    }
}

/// Every registered transform.
pub const TRANSFORMS: &[Transform] = &[
    Transform {
        name: "split_name",
        summary: "to the CRM: the first word, then the rest joined with single spaces; back: the \
                  two joined with one space, without a stray space when one is empty",
        kind: TransformKind::Split {
            to_crm: split_first,
            to_hub: join_words,
        },
        examples: &[
            to_crm(&["Ada Lovelace"], &["Ada", "Lovelace"]),
            to_crm(&["  Ada   van der  Berg "], &["Ada", "van der Berg"]),
            to_crm(&["Cher"], &["Cher", ""]),
            to_crm(&[""], &["", ""]),
            to_hub(&["Ada", "van der Berg"], &["Ada van der Berg"]),
            to_hub(&["Ada", ""], &["Ada"]),
            to_hub(&["", "Lovelace"], &["Lovelace"]),
            to_hub(&[" Ada ", " Lovelace"], &["Ada Lovelace"]),
        ],
    },
    Transform {
        name: "split_name_last",
        summary: "to the CRM: every word but the last, then the last word; back: the two joined \
                  with one space, without a stray space when one is empty",
        kind: TransformKind::Split {
            to_crm: split_last,
            to_hub: join_words,
        },
        examples: &[
            to_crm(&["Mary Ann Smith"], &["Mary Ann", "Smith"]),
            to_crm(&["Cher"], &["", "Cher"]),
            to_hub(&["Mary Ann", "Smith"], &["Mary Ann Smith"]),
            to_hub(&["", "Cher"], &["Cher"]),
        ],
    },
    Transform {
        name: "trim",
        summary: "removes leading and trailing whitespace, both ways",
        kind: TransformKind::Scalar {
            to_crm: trim,
            to_hub: trim,
        },
        examples: &[
            to_crm(&["  ada@example.com "], &["ada@example.com"]),
            to_hub(&["\tAda\n"], &["Ada"]),
        ],
    },
    Transform {
        name: "lowercase",
        summary: "lowercases, both ways",
        kind: TransformKind::Scalar {
            to_crm: lowercase,
            to_hub: lowercase,
        },
        examples: &[
            to_crm(&["Ada@Example.COM"], &["ada@example.com"]),
            to_hub(&["ÉMILE"], &["émile"]),
        ],
    },
    Transform {
        name: "uppercase",
        summary: "uppercases, both ways",
        kind: TransformKind::Scalar {
            to_crm: uppercase,
            to_hub: uppercase,
        },
        examples: &[
            to_crm(&["gb"], &["GB"]),
            to_hub(&["sw1a 1aa"], &["SW1A 1AA"]),
        ],
    },
    Transform {
        name: "collapse_spaces",
        summary: "trims and turns every run of whitespace into one space, both ways",
        kind: TransformKind::Scalar {
            to_crm: collapse_spaces,
            to_hub: collapse_spaces,
        },
        examples: &[
            to_crm(&["  Ada   Lovelace "], &["Ada Lovelace"]),
            to_hub(&["Ada\n Lovelace"], &["Ada Lovelace"]),
        ],
    },
    Transform {
        name: "digits_only",
        summary: "keeps the digits and a leading `+`, both ways (for phone numbers compared by \
                  their digits)",
        kind: TransformKind::Scalar {
            to_crm: digits_only,
            to_hub: digits_only,
        },
        examples: &[
            to_crm(&["+44 7700 900123"], &["+447700900123"]),
            to_crm(&["(555) 010-0199"], &["5550100199"]),
            to_hub(&["07700-900 123"], &["07700900123"]),
        ],
    },
];

/// The transform registered under `name`.
pub fn transform(name: &str) -> Option<&'static Transform> {
    TRANSFORMS.iter().find(|t| t.name == name)
}

fn words(value: &str) -> std::str::SplitWhitespace<'_> {
    value.split_whitespace()
}

fn join_rest<'a>(mut parts: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    if let Some(first) = parts.next() {
        out.push_str(first);
        for part in parts {
            out.push(' ');
            out.push_str(part);
        }
    }
    out
}

fn split_first(name: &str) -> [String; 2] {
    let mut parts = words(name);
    let first = parts.next().unwrap_or("").to_owned();
    [first, join_rest(parts)]
}

fn split_last(name: &str) -> [String; 2] {
    let mut parts = words(name);
    let last = parts.next_back().unwrap_or("").to_owned();
    [join_rest(parts), last]
}

fn join_words(a: &str, b: &str) -> String {
    let (a, b) = (a.trim(), b.trim());
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (false, true) => a.to_owned(),
        (false, false) => {
            let mut out = String::with_capacity(a.len() + 1 + b.len());
            out.push_str(a);
            out.push(' ');
            out.push_str(b);
            out
        }
    }
}

fn trim(value: &str) -> String {
    value.trim().to_owned()
}

fn lowercase(value: &str) -> String {
    value.to_lowercase()
}

fn uppercase(value: &str) -> String {
    value.to_uppercase()
}

fn collapse_spaces(value: &str) -> String {
    join_rest(words(value))
}

fn digits_only(value: &str) -> String {
    let plus = value.trim_start().starts_with('+');
    let mut out = String::with_capacity(value.len());
    if plus {
        out.push('+');
    }
    out.extend(value.chars().filter(char::is_ascii_digit));
    out
}

/// The JSON Schema of `transform:`: one registered name or a list of them.
pub(crate) fn transform_list_schema(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = TRANSFORMS.iter().map(|t| t.name).collect();
    json_schema!({
        "description": "Named transforms applied in order on the way to the CRM (and undone in reverse on the way back), e.g. `split_name` or `[trim, lowercase]`.",
        "anyOf": [
            { "type": "string", "enum": names },
            { "type": "array", "items": { "type": "string", "enum": names } },
            { "type": "null" }
        ]
    })
}

/// The JSON Schema of `validate:`: a registered validator name.
pub(crate) fn validator_schema(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = VALIDATORS.iter().map(|v| v.name).collect();
    json_schema!({
        "description": "A check the CRM enforces on the (primary) value, e.g. `email`.",
        "anyOf": [{ "type": "string", "enum": names }, { "type": "null" }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transform_gives_its_examples() {
        for t in TRANSFORMS {
            assert!(!t.examples.is_empty(), "{} has examples", t.name);
            for example in t.examples {
                let got: Vec<String> = match (t.kind, example.way) {
                    (TransformKind::Scalar { to_crm, .. }, Way::ToCrm) => {
                        vec![to_crm(example.input[0])]
                    }
                    (TransformKind::Scalar { to_hub, .. }, Way::ToHub) => {
                        vec![to_hub(example.input[0])]
                    }
                    (TransformKind::Split { to_crm, .. }, Way::ToCrm) => {
                        to_crm(example.input[0]).to_vec()
                    }
                    (TransformKind::Split { to_hub, .. }, Way::ToHub) => {
                        vec![to_hub(example.input[0], example.input[1])]
                    }
                };
                assert_eq!(
                    got, example.output,
                    "{} {:?} {:?}",
                    t.name, example.way, example.input
                );
            }
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = TRANSFORMS.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TRANSFORMS.len());
    }
}
