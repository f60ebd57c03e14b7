//! Diagnostics: what is wrong with a mapping file, where, and how to fix it.
//!
//! Every problem carries a stable [`Code`] (documented in `docs/mapping.md`), the file, line
//! and column, the YAML path, a lowercase message and, when there is one, a hint (often a
//! "did you mean" found with [`did_you_mean`]). [`Diagnostics`] renders them for a terminal:
//!
//! ```text
//! mappings/mycrm.yaml:12:16: error[M005]: unknown transform `splt_name`
//!   at fields[0].transform
//!   hint: did you mean `split_name`?
//! ```

use std::fmt;

use serde::Serialize;

use super::locate::Position;

/// A stable diagnostic code. The codes never change meaning; new ones are added at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum Code {
    /// M001: the file is not valid YAML (or cannot be read).
    InvalidYaml,
    /// M002: a key the mapping language does not know.
    UnknownKey,
    /// M003: a value of the wrong type or not one of the allowed values.
    WrongType,
    /// M004: a required part is missing.
    MissingPart,
    /// M005: a transform or validator name that is not registered.
    UnknownTransform,
    /// M006: two fields write the same CRM property or the same 10to8 attribute.
    WrittenTwice,
    /// M007: a status or identity property (or custom field) is also mapped as a field.
    ReservedTarget,
    /// M008: a connector that is not linked into this binary.
    UnknownConnector,
    /// M009: a template with an unknown placeholder or an unbalanced brace.
    BadTemplate,
    /// M010: an unsupported `version`.
    UnsupportedVersion,
    /// M011: parts of a field that do not fit together (e.g. a split transform on one property).
    ShapeMismatch,
    /// M012: a 10to8 attribute that does not exist.
    UnknownAttribute,
    /// M013: a reference to a field key or property that is not defined.
    UnknownReference,
    /// M014: two fields with the same key.
    DuplicateKey,
    /// M015: a match key that does not exist, or a phone region that is not a region code.
    UnknownMatchKey,
    /// M016: a CRM property the CRM's catalog does not have (checked with the catalog only).
    UnknownProperty,
    /// M017: a CRM property the sync writes that the CRM computes itself (read-only).
    ReadOnlyProperty,
}

impl Code {
    /// Every code, in order.
    pub const ALL: &'static [Code] = &[
        Self::InvalidYaml,
        Self::UnknownKey,
        Self::WrongType,
        Self::MissingPart,
        Self::UnknownTransform,
        Self::WrittenTwice,
        Self::ReservedTarget,
        Self::UnknownConnector,
        Self::BadTemplate,
        Self::UnsupportedVersion,
        Self::ShapeMismatch,
        Self::UnknownAttribute,
        Self::UnknownReference,
        Self::DuplicateKey,
        Self::UnknownMatchKey,
        Self::UnknownProperty,
        Self::ReadOnlyProperty,
    ];

    /// The code as printed, e.g. `M005`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidYaml => "M001",
            Self::UnknownKey => "M002",
            Self::WrongType => "M003",
            Self::MissingPart => "M004",
            Self::UnknownTransform => "M005",
            Self::WrittenTwice => "M006",
            Self::ReservedTarget => "M007",
            Self::UnknownConnector => "M008",
            Self::BadTemplate => "M009",
            Self::UnsupportedVersion => "M010",
            Self::ShapeMismatch => "M011",
            Self::UnknownAttribute => "M012",
            Self::UnknownReference => "M013",
            Self::DuplicateKey => "M014",
            Self::UnknownMatchKey => "M015",
            Self::UnknownProperty => "M016",
            Self::ReadOnlyProperty => "M017",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in a mapping file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The stable code.
    pub code: Code,
    /// The file name as given to the compiler.
    pub file: String,
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
    /// The YAML path of the offending node, e.g. `fields[1].transform`; empty for the whole
    /// document.
    pub path: String,
    /// What is wrong, lowercase.
    pub message: String,
    /// How to fix it, when there is more to say than the message.
    pub hint: Option<String>,
}

impl Diagnostic {
    pub(crate) fn new(
        code: Code,
        file: &str,
        at: Position,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code,
            file: file.to_owned(),
            line: at.line,
            column: at.column,
            path: path.into(),
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn maybe_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: error[{}]: {}",
            self.file, self.line, self.column, self.code, self.message
        )?;
        if !self.path.is_empty() {
            write!(f, "\n  at {}", self.path)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in a mapping file, in file order. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(transparent)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub(crate) fn new(mut list: Vec<Diagnostic>) -> Self {
        debug_assert!(!list.is_empty(), "diagnostics are never empty");
        list.sort_by_key(|d| (d.line, d.column));
        Self(list)
    }

    /// The diagnostics, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a compile that finds nothing wrong returns a mapping instead.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, diagnostic) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{diagnostic}")?;
        }
        let count = self.0.len();
        write!(
            f,
            "\n{count} error{} in the mapping",
            if count == 1 { "" } else { "s" }
        )
    }
}

/// The known name closest to `name`, as a hint ("did you mean `split_name`?"), when one is
/// close enough to be a likely typo.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    known
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| format!("did you mean `{candidate}`?"))
}

/// `a`, `b`, `c` for a hint listing the allowed names.
pub(crate) fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_known_name_only_when_close() {
        let known = ["split_name", "trim", "lowercase"];
        assert_eq!(
            did_you_mean("splt_name", known).as_deref(),
            Some("did you mean `split_name`?")
        );
        assert_eq!(
            did_you_mean("lowercse", known).as_deref(),
            Some("did you mean `lowercase`?")
        );
        assert_eq!(did_you_mean("zzz", known), None);
    }

    #[test]
    fn renders_file_line_column_path_and_hint() {
        let diagnostics = Diagnostics::new(vec![
            Diagnostic::new(
                Code::UnknownTransform,
                "m.yaml",
                Position {
                    line: 3,
                    column: 16,
                },
                "fields[0].transform",
                "unknown transform `splt_name`",
            )
            .hint("did you mean `split_name`?"),
        ]);
        assert_eq!(
            diagnostics.to_string(),
            "m.yaml:3:16: error[M005]: unknown transform `splt_name`\n  at fields[0].transform\n  hint: did you mean `split_name`?\n1 error in the mapping"
        );
    }
}
