//! Checks a CRM enforces on values, so the mapping can stop a value the CRM would reject.
//!
//! Each validator is a rule about values, named for what it checks, not for a CRM: a mapping
//! names the one its CRM enforces (`validate: email`), and a connector whose CRM enforces a
//! rule says which in its own docs (its simulator may call the same function to reject what
//! the real API rejects).

/// The validators a mapping can name in `validate:`.
#[derive(Debug, Clone, Copy)]
pub struct Validator {
    /// The name used in mapping files.
    pub name: &'static str,
    /// One line for the docs.
    pub summary: &'static str,
    /// The check.
    pub check: fn(&str) -> bool,
    /// Values it accepts.
    pub accepts: &'static [&'static str],
    /// Values it rejects.
    pub rejects: &'static [&'static str],
}

/// Every registered validator.
pub const VALIDATORS: &[Validator] = &[Validator {
    name: "email",
    summary: "a strictly formed email address: one `@`, a dotted domain with a top-level \
              domain of two or more letters, no spaces, no leading, trailing or doubled dots",
    check: valid_email,
    accepts: &[
        "ada@example.com",
        "Ada.Lovelace+crm@mail.example.co.uk",
        "o'neill@clinic.example",
    ],
    rejects: &[
        "ada@example",
        "ada@@example.com",
        "ada @example.com",
        "ada@example.com.",
        "ada.@example.com",
        "@example.com",
        "ada@-example.com",
        "ada@example.c",
        "",
    ],
}];

/// The validator registered under `name`.
pub fn validator(name: &str) -> Option<&'static Validator> {
    VALIDATORS.iter().find(|v| v.name == name)
}

/// The longest email address accepted (RFC 5321 path limit).
const MAX_EMAIL_LEN: usize = 254;
/// The longest local part accepted.
const MAX_LOCAL_LEN: usize = 64;
/// The longest domain label accepted.
const MAX_LABEL_LEN: usize = 63;
/// Characters allowed in a local part besides ASCII letters, digits and dots.
const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";

/// Whether `email` is a strictly formed email address.
///
/// Stricter than 10to8: exactly one `@`; a local part of ASCII letters, digits, dots and
/// ``!#$%&'*+/=?^_`{|}~-`` without leading, trailing or doubled dots; a domain of at least two
/// labels (letters, digits, inner hyphens) whose last label (the top-level domain) has two or
/// more letters; no spaces anywhere and no trailing dot.
pub fn valid_email(email: &str) -> bool {
    // Every accepted character is ASCII, so the checks run on bytes.
    let bytes = email.as_bytes();
    if bytes.len() > MAX_EMAIL_LEN {
        return false;
    }
    let Some(at) = bytes.iter().position(|&b| b == b'@') else {
        return false;
    };
    valid_local_part(&bytes[..at]) && valid_domain(&bytes[at + 1..])
}

fn valid_local_part(local: &[u8]) -> bool {
    !local.is_empty()
        && local.len() <= MAX_LOCAL_LEN
        && local.first() != Some(&b'.')
        && local.last() != Some(&b'.')
        && !local.windows(2).any(|pair| pair == b"..")
        && local.iter().all(|&b| {
            b.is_ascii_alphanumeric() || b == b'.' || LOCAL_SPECIALS.as_bytes().contains(&b)
        })
}

fn valid_domain(domain: &[u8]) -> bool {
    let mut labels = domain.split(|&b| b == b'.');
    let Some(tld) = labels.next_back() else {
        return false;
    };
    let mut count = 0;
    for label in labels {
        count += 1;
        if !valid_label(label) {
            return false;
        }
    }
    count > 0
        && tld.len() >= 2
        && tld.len() <= MAX_LABEL_LEN
        && tld.iter().all(u8::is_ascii_alphabetic)
}

fn valid_label(label: &[u8]) -> bool {
    !label.is_empty()
        && label.len() <= MAX_LABEL_LEN
        && label.first() != Some(&b'-')
        && label.last() != Some(&b'-')
        && label
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_validator_accepts_and_rejects_its_examples() {
        for v in VALIDATORS {
            for ok in v.accepts {
                assert!((v.check)(ok), "{} should accept {ok:?}", v.name);
            }
            for bad in v.rejects {
                assert!(!(v.check)(bad), "{} should reject {bad:?}", v.name);
            }
        }
    }

    #[test]
    fn rejects_the_shapes_10to8_accepts_and_strict_crms_do_not() {
        for bad in [
            "olivia.smith1@example",
            "olivia.smith1@@example.com",
            "olivia.smith1 @example.com",
            "olivia.smith1@example.com.",
            "a@b@c.com",
            "ada@exa mple.com",
            "ada@example..com",
            "ada@ex_ample.com",
            "ada@example.123",
            "ada",
        ] {
            assert!(!valid_email(bad), "{bad:?}");
        }
        assert!(valid_email("OLIVIA.SMITH1@MAIL.EXAMPLE.NET"));
        assert!(valid_email("x@clinic.example"));
    }
}
