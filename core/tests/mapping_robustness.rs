//! The compiler never panics, whatever the file holds: mangled copies of the default mapping
//! either compile or give located diagnostics.

use proptest::prelude::*;
use tte_sync_core::mapping::Mapping;

const DEFAULT_MAPPING: &str = include_str!("../../mappings/hubspot.yaml");

/// Characters that matter to YAML.
const YAML_CHARS: &[char] = &[
    ':', '-', '[', ']', '{', '}', '"', '\'', ' ', '\t', '\n', '#', '&', '*', '!', '|', '>', '%',
    '@', '`', ',', '?', '\\', '0', 'x',
];

fn check(text: &str) -> Result<(), TestCaseError> {
    let lines = text.lines().count().max(1);
    match Mapping::compile_for(text, "m.yaml", &["hubspot"]) {
        Ok(_) => Ok(()),
        Err(diagnostics) => {
            prop_assert!(!diagnostics.is_empty());
            for d in &diagnostics {
                prop_assert!(d.line >= 1 && d.line <= lines + 1, "{d}");
                prop_assert!(d.column >= 1, "{d}");
                prop_assert!(!d.message.is_empty(), "{d}");
                prop_assert!(d.code.as_str().starts_with('M'), "{d}");
            }
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn dropping_a_line_never_panics(line in 0usize..80) {
        let text: Vec<&str> = DEFAULT_MAPPING.lines().collect();
        let line = line % text.len();
        let mangled: Vec<&str> = text
            .iter()
            .enumerate()
            .filter(|(n, _)| *n != line)
            .map(|(_, l)| *l)
            .collect();
        check(&mangled.join("\n"))?;
    }

    #[test]
    fn inserting_yaml_characters_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop::sample::select(YAML_CHARS)), 1..4),
    ) {
        let mut text = DEFAULT_MAPPING.to_owned();
        for (at, c) in edits {
            let mut at = at.index(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.insert(at, c);
        }
        check(&text)?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text)?;
    }
}
