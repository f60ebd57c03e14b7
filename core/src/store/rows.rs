//! Reading columns out of result rows, and building the SQL of batched lookups.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::clock::from_millis;
use super::error::{Result, StoreError};

/// The most values one `IN (…)` lookup binds; longer lists are split.
pub(crate) const IN_CHUNK: usize = 500;

/// Typed column access that turns a bad value into [`StoreError::Corrupt`].
pub(crate) trait RowExt {
    fn text(&self, column: &str) -> Result<String>;
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
    fn int(&self, column: &str) -> Result<i64>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;

    fn time(&self, column: &str) -> Result<DateTime<Utc>> {
        from_millis(self.int(column)?)
    }

    fn opt_time(&self, column: &str) -> Result<Option<DateTime<Utc>>> {
        self.opt_int(column)?.map(from_millis).transpose()
    }

    fn count(&self, column: &str) -> Result<u64> {
        let value = self.int(column)?;
        u64::try_from(value).map_err(|_| StoreError::corrupt("count", value))
    }

    fn json<T: DeserializeOwned>(&self, column: &str, what: &'static str) -> Result<T> {
        serde_json::from_str(&self.text(column)?).map_err(|e| StoreError::corrupt(what, e))
    }
}

impl RowExt for AnyRow {
    fn text(&self, column: &str) -> Result<String> {
        self.try_get(column)
            .map_err(|e| StoreError::corrupt("column", e))
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        self.try_get(column)
            .map_err(|e| StoreError::corrupt("column", e))
    }

    fn int(&self, column: &str) -> Result<i64> {
        self.try_get(column)
            .map_err(|e| StoreError::corrupt("column", e))
    }

    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        self.try_get(column)
            .map_err(|e| StoreError::corrupt("column", e))
    }
}

/// `$first, $first+1, …` for `count` values.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A count as stored (counts never come near `i64::MAX`).
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// JSON text of a value made of strings, sets, maps, numbers and times, which always
/// serializes.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("string maps, sets and times always serialize")
}

/// Stored names for a fieldless enum: `as_str`, `parse` (unknown names are corrupt data) and
/// `Display`.
macro_rules! string_enum {
    ($type:ty, $what:literal, { $($variant:path => $name:literal),+ $(,)? }) => {
        impl $type {
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self { $($variant => $name),+ }
            }

            pub(crate) fn parse(value: &str) -> $crate::store::Result<Self> {
                match value {
                    $($name => Ok($variant),)+
                    other => Err($crate::store::StoreError::corrupt($what, format!("unknown value `{other}`"))),
                }
            }
        }

        impl ::std::fmt::Display for $type {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_from_first() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
        assert_eq!(placeholders(1, 0), "");
    }
}
