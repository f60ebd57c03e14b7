//! Templates such as `Error: Invalid email {value}`, compiled once into segments.
//!
//! A template is text with placeholders in braces; `{{` and `}}` stand for literal braces.
//! Which placeholders a template may use depends on where it appears, so compiling takes the
//! allowed set and fails with the offending placeholder (for a did-you-mean).

use std::fmt::Write as _;

/// A placeholder a template can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Placeholder {
    /// `{now}`: the sync time, RFC 3339 in UTC with seconds, e.g. `2026-01-02T03:04:05Z`.
    Now,
    /// `{value}`: the value the template is about (e.g. the rejected email).
    Value,
}

impl Placeholder {
    /// The name between the braces.
    pub fn name(self) -> &'static str {
        match self {
            Self::Now => "now",
            Self::Value => "value",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Slot(Placeholder),
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
    capacity: usize,
}

/// Why a template does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateError {
    /// `{name}` is not one of the allowed placeholders.
    Unknown(String),
    /// A `{` without its `}` or a lone `}`.
    Unbalanced,
}

impl Template {
    /// Compiles `text`, allowing only the placeholders in `allowed`.
    ///
    /// # Errors
    /// [`TemplateError`] for an unknown placeholder or an unbalanced brace.
    pub fn compile(text: &str, allowed: &[Placeholder]) -> Result<Self, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &text[at + 1..];
                    let end = rest.find('}').ok_or(TemplateError::Unbalanced)?;
                    let name = &rest[..end];
                    let placeholder = allowed
                        .iter()
                        .copied()
                        .find(|p| p.name() == name)
                        .ok_or_else(|| TemplateError::Unknown(name.to_owned()))?;
                    if !literal.is_empty() {
                        segments.push(Segment::Text(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Slot(placeholder));
                    for _ in 0..=name.chars().count() {
                        chars.next();
                    }
                }
                '}' => return Err(TemplateError::Unbalanced),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Text(literal));
        }
        let capacity = segments
            .iter()
            .map(|s| match s {
                Segment::Text(t) => t.len(),
                Segment::Slot(_) => 24,
            })
            .sum();
        Ok(Self { segments, capacity })
    }

    /// Fills the placeholders.
    pub fn render(&self, now: &str, value: &str) -> String {
        let mut out = String::with_capacity(self.capacity);
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Slot(Placeholder::Now) => out.push_str(now),
                Segment::Slot(Placeholder::Value) => out.push_str(value),
            }
        }
        out
    }

    /// The template as it would be written (for docs and debugging).
    pub fn source(&self) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(&text.replace('{', "{{").replace('}', "}}")),
                Segment::Slot(p) => {
                    let _ = write!(out, "{{{}}}", p.name());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: &[Placeholder] = &[Placeholder::Now, Placeholder::Value];

    #[test]
    fn renders_placeholders_and_escaped_braces() {
        let template = Template::compile("Error: {{{value}}} at {now}", BOTH).unwrap();
        assert_eq!(template.render("T", "x@y"), "Error: {x@y} at T");
        assert_eq!(template.source(), "Error: {{{value}}} at {now}");
    }

    #[test]
    fn rejects_unknown_placeholders_and_unbalanced_braces() {
        assert_eq!(
            Template::compile("Last synced: {nwo}", BOTH),
            Err(TemplateError::Unknown("nwo".into()))
        );
        assert_eq!(
            Template::compile("{value}", &[Placeholder::Now]),
            Err(TemplateError::Unknown("value".into()))
        );
        assert_eq!(
            Template::compile("a {now", BOTH),
            Err(TemplateError::Unbalanced)
        );
        assert_eq!(
            Template::compile("a } b", BOTH),
            Err(TemplateError::Unbalanced)
        );
    }
}
