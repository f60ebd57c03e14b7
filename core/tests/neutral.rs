//! Core never names a concrete CRM: no HubSpot word (`hs_` property names, `hubspot`, the
//! `contactinformation` group) in any file under core/src, except on a doc-comment line
//! that marks itself as an example ("for example").

use std::path::{Path, PathBuf};

/// The words no file of core/src may hold, compared case-insensitively.
const CRM_WORDS: &[&str] = &["hs_", "hubspot", "contactinformation"];

/// What marks a doc-comment line as an example, where a CRM's words may appear.
const EXAMPLE_MARK: &str = "for example";

/// The 1-based numbers of the lines of `text` holding a CRM word outside a marked example.
fn hits(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let lower = line.to_lowercase();
        let trimmed = lower.trim_start();
        let is_doc = trimmed.starts_with("///") || trimmed.starts_with("//!");
        if is_doc && lower.contains(EXAMPLE_MARK) {
            continue;
        }
        if CRM_WORDS.iter().any(|word| holds_word(&lower, word)) {
            found.push((n + 1, line.trim().to_owned()));
        }
    }
    found
}

/// Whether `word` starts somewhere in `line` not right after a letter or digit (so `hs_`
/// finds `hs_object_id` but not `paths_`).
fn holds_word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(at, _)| {
        !line[..at]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric)
    })
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn no_file_of_core_names_a_concrete_crm() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    files_under(&src, &mut files);
    files.sort();
    assert!(files.len() > 50, "core/src has only {} files", files.len());
    let mut report = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (line, content) in hits(&text) {
            let shown = file
                .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap_or(file);
            report.push(format!("core/{}:{line}: {content}", shown.display()));
        }
    }
    assert!(
        report.is_empty(),
        "core names a concrete CRM; move the name or rule to the connector crate (or mark a \
         doc comment `for example`):\n{}",
        report.join("\n")
    );
}

#[test]
fn the_scan_finds_every_word_and_spares_only_marked_doc_examples() {
    let text = "let p = \"HS_object_id\";\n\
                // HubSpot does this\n\
                group: ContactInformation\n\
                /// The id, for example `hs_object_id`.\n\
                /// The id (`hs_object_id`).\n\
                let paths_ = widths_;\n";
    let lines: Vec<usize> = hits(text).into_iter().map(|(n, _)| n).collect();
    assert_eq!(lines, [1, 2, 3, 5]);
}
