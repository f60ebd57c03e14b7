//! URLs for messages: the password of the user info (`postgres://user:***@host/db`) and of a
//! `password` query parameter replaced. Works on text that does not parse as a URL too, since
//! the error about a malformed URL must not leak it either.

/// What a hidden part of a URL is shown as.
pub const HIDDEN: &str = "***";
/// Query parameters that carry a password (libpq and sqlx read both).
const PASSWORD_PARAMETERS: [&str; 2] = ["password", "sslpassword"];

/// `text` with every password in it replaced by [`HIDDEN`]; the rest as it was.
///
/// When it is unclear where the user info ends (an unescaped `@` or `/` in the password),
/// everything up to the last `@` before the query goes, host included: better too little
/// shown than a password.
pub fn redact_url(text: &str) -> String {
    redact_query(&redact_user_info(text))
}

fn redact_user_info(text: &str) -> String {
    let Some(scheme_end) = text.find("://").map(|at| at + 3) else {
        return text.to_owned();
    };
    let rest = &text[scheme_end..];
    let before_query = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let Some(at) = before_query.rfind('@') else {
        return text.to_owned();
    };
    let user_info = &before_query[..at];
    // A colon after the first `@` is the port's: that user has no password.
    let first_at = user_info.find('@').unwrap_or(at);
    match user_info.find(':').filter(|&colon| colon < first_at) {
        Some(colon) => format!(
            "{}{}:{HIDDEN}{}",
            &text[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => text.to_owned(),
    }
}

fn redact_query(text: &str) -> String {
    let Some((before, query)) = text.split_once('?') else {
        return text.to_owned();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _))
                if PASSWORD_PARAMETERS.contains(&name.to_ascii_lowercase().as_str()) =>
            {
                format!("{name}={HIDDEN}")
            }
            _ => pair.to_owned(),
        })
        .collect();
    let mut shown = format!("{before}?{}", pairs.join("&"));
    if let Some(fragment) = fragment {
        shown.push('#');
        shown.push_str(fragment);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_of_the_user_info_is_hidden() {
        assert_eq!(
            redact_url("postgres://tte:hunter2@db:5432/tte"),
            "postgres://tte:***@db:5432/tte"
        );
        assert_eq!(
            redact_url("postgresql://tte:hunter2@[bad/tte"),
            "postgresql://tte:***@[bad/tte"
        );
    }

    #[test]
    fn a_password_with_url_syntax_in_it_is_hidden_whole() {
        assert_eq!(
            redact_url("postgres://u:p@ss@h/db"),
            "postgres://u:***@h/db"
        );
        let shown = redact_url("postgres://u:pa/ss@h/db");
        assert!(!shown.contains("pa/ss"), "{shown}");
        assert_eq!(shown, "postgres://u:***@h/db");
    }

    #[test]
    fn password_parameters_are_hidden() {
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=require&password=hunter2#x"),
            "postgres://u@h/db?sslmode=require&password=***#x"
        );
        assert_eq!(
            redact_url("postgres://u:a@h/db?PassWord=b&sslpassword=c"),
            "postgres://u:***@h/db?PassWord=***&sslpassword=***"
        );
    }

    #[test]
    fn urls_without_a_password_stay_as_they_are() {
        for text in [
            "postgres://u@h/db",
            "postgres://h/db?options=-c%20search_path%3Dx",
            "sqlite:///var/lib/tte.db",
            "data/tte.db",
            "postgres://u@h/db@x",
            "postgres://u@h:5432/db@x",
        ] {
            assert_eq!(redact_url(text), text);
        }
    }
}
