//! The mapping guide (`docs/mapping.md`) keeps up with the code: every transform with each of
//! its examples, every validator and every diagnostic code is in it.

use tte_sync_core::mapping::Code;
use tte_sync_core::mapping::transforms::TRANSFORMS;
use tte_sync_core::mapping::validate::VALIDATORS;

const GUIDE: &str = include_str!("../../docs/mapping.md");

/// How the guide writes a value in a table: in backticks, as a JSON string.
fn shown(value: &str) -> String {
    format!("`{}`", serde_json::to_string(value).unwrap())
}

#[test]
fn the_guide_shows_every_transform_and_its_examples() {
    for transform in TRANSFORMS {
        let heading = format!("### `{}`", transform.name);
        let section = GUIDE
            .split(&heading)
            .nth(1)
            .unwrap_or_else(|| panic!("docs/mapping.md has no section {heading}"));
        let section = section.split("\n### ").next().unwrap();
        for example in transform.examples {
            for value in example.input.iter().chain(example.output) {
                assert!(
                    section.contains(&shown(value)),
                    "docs/mapping.md, {heading}: example value {} is missing",
                    shown(value)
                );
            }
        }
    }
}

#[test]
fn the_guide_lists_every_validator_and_diagnostic_code() {
    for validator in VALIDATORS {
        assert!(
            GUIDE.contains(&format!("### `{}`", validator.name)),
            "{}",
            validator.name
        );
    }
    for code in Code::ALL {
        assert!(
            GUIDE.contains(&format!("| {code} |")),
            "docs/mapping.md lacks {code}"
        );
    }
}
