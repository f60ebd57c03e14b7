//! Query strings as HubSpot's clients send them: repeated and comma-joined list parameters
//! (`properties=a&properties=b,c`) and Python-style booleans (`archived=False`).

use url::form_urlencoded;

use super::errors::ApiError;

/// A parsed query string, keeping every pair in order.
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string (without `?`).
    pub fn parse(raw: Option<&str>) -> Self {
        Self {
            pairs: raw
                .map(|raw| {
                    form_urlencoded::parse(raw.as_bytes())
                        .into_owned()
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, comma-joined values split, empty ones dropped.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// A boolean flag: `true`/`false` in any case (Python clients send `True`); absent is false.
    ///
    /// # Errors
    /// 400 when the value is not a boolean.
    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") || v.is_empty() => Ok(false),
            Some(v) => Err(ApiError::validation(format!(
                "Invalid value {v} for query parameter {key}: expected true or false"
            ))),
        }
    }

    /// A non-negative integer parameter, `default` when absent.
    ///
    /// # Errors
    /// 400 when the value is not a non-negative integer.
    pub fn number(&self, key: &str, default: u64) -> Result<u64, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                ApiError::validation(format!(
                    "Invalid value {v} for query parameter {key}: expected a non-negative integer"
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_repeats_and_commas_and_flags_accept_python_booleans() {
        let q = Query::parse(Some("properties=a&properties=b,c&archived=False&x=True"));
        assert_eq!(q.list("properties"), ["a", "b", "c"]);
        assert!(!q.flag("archived").unwrap());
        assert!(q.flag("x").unwrap());
        assert!(q.flag("properties").is_err());
    }
}
