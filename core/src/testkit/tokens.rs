//! An in-memory [`TokenStore`] for tests and the demo.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::connector::{Result, StoredToken, TokenStore};

/// Tokens kept in memory, per connector and account; counts saves so tests can tell that a
/// refresh happened.
#[derive(Debug, Default)]
pub struct MemoryTokenStore {
    tokens: Mutex<HashMap<String, Vec<StoredToken>>>,
    saves: Mutex<u64>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that already holds `token` for `connector`.
    pub fn with_token(connector: &str, token: StoredToken) -> Self {
        let store = Self::default();
        store
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(connector.to_owned(), vec![token]);
        store
    }

    /// How many times a token was saved.
    pub fn saves(&self) -> u64 {
        *self.saves.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The token saved most recently for `connector`, if any.
    pub fn latest(&self, connector: &str) -> Option<StoredToken> {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(connector)
            .and_then(|tokens| tokens.last().cloned())
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load_token(
        &self,
        connector: &str,
        account: Option<&str>,
    ) -> Result<Option<StoredToken>> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tokens) = tokens.get(connector) else {
            return Ok(None);
        };
        Ok(match account {
            Some(account) => tokens.iter().rev().find(|t| t.account == account).cloned(),
            None => tokens.last().cloned(),
        })
    }

    async fn save_token(&self, connector: &str, token: &StoredToken) -> Result<()> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let list = tokens.entry(connector.to_owned()).or_default();
        list.retain(|t| t.account != token.account);
        list.push(token.clone());
        *self.saves.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Ok(())
    }

    async fn forget_token(&self, connector: &str, account: &str) -> Result<()> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = tokens.get_mut(connector) {
            list.retain(|t| t.account != account);
        }
        Ok(())
    }

    async fn accounts(&self, connector: &str) -> Result<Vec<String>> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let mut accounts: Vec<String> = tokens
            .get(connector)
            .map(|tokens| tokens.iter().map(|t| t.account.clone()).collect())
            .unwrap_or_default();
        accounts.sort();
        Ok(accounts)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::Secret;

    fn token(account: &str, access: &str) -> StoredToken {
        StoredToken {
            account: account.to_owned(),
            access_token: Secret::new(access),
            refresh_token: Secret::new("r"),
            expires_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn saves_replace_per_account_and_load_finds_the_latest() {
        let store = MemoryTokenStore::new();
        store.save_token("crm", &token("1", "a")).await.unwrap();
        store.save_token("crm", &token("2", "b")).await.unwrap();
        store.save_token("crm", &token("1", "c")).await.unwrap();
        let latest = store.load_token("crm", None).await.unwrap().unwrap();
        assert_eq!(latest.access_token.expose(), "c");
        let two = store.load_token("crm", Some("2")).await.unwrap().unwrap();
        assert_eq!(two.access_token.expose(), "b");
        assert!(store.load_token("other", None).await.unwrap().is_none());
        assert_eq!(store.saves(), 3);
    }
}
