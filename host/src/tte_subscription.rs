//! The 10to8 notification subscription and its path token, the one webhook credential that
//! lives only in the state store: 10to8 notifies `<public_url>/webhooks/tte/<token>`.
//!
//! - [`ensure`]: `setup` (and `serve` at start, see [`reestablish`]) make the token once,
//!   subscribe with it, and remove subscriptions to this server made with another token.
//! - [`reestablish`]: when the store lost the token (a new, restored or replaced state file)
//!   while 10to8 still notifies the old one, every notification would get 404. `serve`
//!   subscribes again at start, as `setup` would, and says so; when it cannot, it logs at
//!   ERROR what to run.
//! - [`check`]: the dashboard's and `status`'s view of whether 10to8 notifies the token the
//!   store holds.

use anyhow::Context;
use tte_sync_core::connector::{SetupAction, SetupChange};
use tte_sync_core::store::Store;
use tte_sync_core::tte::{SCOPE_CUSTOMER, Subscription, TteClient, TteResult};
use url::Url;

use crate::app::App;
use crate::serve::webhooks::{TTE_TOKEN_SETTING, new_token};

const TARGET: &str = "10to8 customer subscription";
/// The lock that keeps replicas from subscribing at the same time.
const LOCK: &str = "tte.subscription";
const LOCK_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// What 10to8's subscriptions say about this server's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// 10to8 notifies the token the store holds.
    Matches,
    /// 10to8 notifies this server with a token the store does not hold (or holds none).
    StaleToken,
    /// The store holds a token, but 10to8 has no subscription to this server.
    Missing,
    /// Neither: `setup` has not been run.
    NeverSetUp,
}

/// Compares 10to8's subscriptions with the store's token.
fn compare(subscriptions: &[Subscription], public_url: &Url, token: Option<&str>) -> Found {
    let prefix = callback(public_url, "");
    let ours: Vec<&Subscription> = subscriptions
        .iter()
        .filter(|s| s.scope == SCOPE_CUSTOMER && s.callback_url.starts_with(&prefix))
        .collect();
    let wanted = token.map(|token| callback(public_url, token));
    if wanted
        .as_ref()
        .is_some_and(|wanted| ours.iter().any(|s| s.callback_url == *wanted))
    {
        Found::Matches
    } else if !ours.is_empty() {
        Found::StaleToken
    } else if token.is_some() {
        Found::Missing
    } else {
        Found::NeverSetUp
    }
}

/// Looks at 10to8's subscriptions.
///
/// # Errors
/// When the store or 10to8 cannot be read.
pub async fn inspect(store: &Store, tte: &TteClient, public_url: &Url) -> anyhow::Result<Found> {
    let subscriptions = list(tte).await?;
    Ok(found(store, &subscriptions, public_url).await?)
}

/// Compares `subscriptions` (as 10to8 listed them) with the store's token.
///
/// # Errors
/// When the store cannot be read.
pub async fn found(
    store: &Store,
    subscriptions: &[Subscription],
    public_url: &Url,
) -> tte_sync_core::store::Result<Found> {
    let token = store.setting(TTE_TOKEN_SETTING).await?;
    Ok(compare(subscriptions, public_url, token.as_deref()))
}

async fn list(tte: &TteClient) -> TteResult<Vec<Subscription>> {
    tte.subscriptions().await
}

/// Ensures the 10to8 path token and the one customer subscription that uses it; removes
/// subscriptions to this server made with another token. With `dry_run`, only says what
/// would change.
///
/// # Errors
/// When the store or 10to8 refuses a call.
pub async fn ensure(
    app: &App,
    public_url: &Url,
    dry_run: bool,
) -> anyhow::Result<Vec<SetupChange>> {
    let mut changes = Vec::new();
    let stored = app.store.setting(TTE_TOKEN_SETTING).await?;
    let token = match (stored, dry_run) {
        (Some(token), _) => token,
        (None, true) => {
            changes.push(change(
                SetupAction::Created,
                "10to8 notification token",
                "a new random token",
            ));
            "<new token>".to_owned()
        }
        (None, false) => {
            let token = app
                .store
                .setting_or_insert(TTE_TOKEN_SETTING, &new_token())
                .await?;
            changes.push(change(
                SetupAction::Created,
                "10to8 notification token",
                "kept in the state store",
            ));
            token
        }
    };
    let prefix = callback(public_url, "");
    let wanted = callback(public_url, &token);
    let existing = list(&app.tte)
        .await
        .context("listing the 10to8 subscriptions")?;
    let mut found = false;
    for subscription in existing.iter().filter(|s| s.scope == SCOPE_CUSTOMER) {
        if subscription.callback_url == wanted {
            found = true;
        } else if subscription.callback_url.starts_with(&prefix) {
            if !dry_run {
                app.tte
                    .delete_subscription(&subscription.resource_uri)
                    .await
                    .context("removing an outdated 10to8 subscription")?;
            }
            changes.push(change(
                SetupAction::Updated,
                TARGET,
                "removed a subscription with an old token",
            ));
        }
    }
    if found {
        changes.push(change(
            SetupAction::Unchanged,
            TARGET,
            &redacted(public_url),
        ));
    } else {
        if !dry_run {
            app.tte
                .create_subscription(&wanted)
                .await
                .context("subscribing to 10to8 customer notifications")?;
        }
        changes.push(change(SetupAction::Created, TARGET, &redacted(public_url)));
    }
    Ok(changes)
}

/// At `serve`'s start: when 10to8 notifies a token the store does not hold, or the store's
/// token has no subscription, subscribes again (as `setup` does) and logs it at WARN. Logs
/// at ERROR, naming the fix, when that fails. Quiet when all is in order; a warning when
/// `setup` was never run. Replicas take turns through a lock in the store.
pub async fn reestablish(app: &App) {
    let Some(public_url) = app.config.server.public_url.clone() else {
        return;
    };
    let holder = format!("serve-{}", &new_token()[..8]);
    match app.store.acquire_lock(LOCK, &holder, LOCK_TTL).await {
        Ok(true) => {}
        // Another replica is at it; its result shows on the dashboard.
        Ok(false) => return,
        Err(error) => {
            tracing::error!(%error, "Cannot check the 10to8 subscription; run `tte-sync setup` if 10to8 notifications get 404.");
            return;
        }
    }
    let found = inspect(&app.store, &app.tte, &public_url).await;
    match found {
        Ok(Found::Matches) => {}
        Ok(Found::NeverSetUp) => tracing::warn!(
            "10to8 has no subscription to this server, so its changes arrive only with the \
             periodic reconcile; run `tte-sync setup`."
        ),
        Ok(found) => {
            let why = if found == Found::StaleToken {
                "10to8 notifies a path token the state store does not hold (a new or replaced \
                 state file)"
            } else {
                "10to8 has no subscription for the path token in the state store (it was \
                 deleted in 10to8)"
            };
            match ensure(app, &public_url, false).await {
                Ok(_) => tracing::warn!(
                    reason = why,
                    "Subscribed to 10to8 notifications again with the state store's token."
                ),
                Err(error) => tracing::error!(
                    reason = why,
                    error = format!("{error:#}"),
                    "10to8 notifications get 404 until the subscription is made again; run \
                     `tte-sync setup`."
                ),
            }
        }
        Err(error) => tracing::error!(
            error = format!("{error:#}"),
            "Cannot check the 10to8 subscription; run `tte-sync setup` if 10to8 \
             notifications get 404."
        ),
    }
    let _ = app.store.release_lock(LOCK, &holder).await;
}

/// The health view: `Ok(())` when 10to8 notifies the store's token, else what is wrong and
/// how to fix it. Not checked without `server.public_url` (nothing to subscribe).
pub fn check(found: &Found) -> Result<&'static str, &'static str> {
    match found {
        Found::Matches => Ok("10to8 notifies this server with the state store's token"),
        Found::StaleToken => Err(
            "10to8 notifies a path token the state store does not hold, so its notifications \
             get 404; restart `serve` or run `tte-sync setup` to subscribe again",
        ),
        Found::Missing => Err(
            "10to8 has no subscription for this server's notification URL; restart `serve` \
             or run `tte-sync setup`",
        ),
        Found::NeverSetUp => Err(
            "10to8 has no subscription to this server; run `tte-sync setup` to receive its \
             notifications",
        ),
    }
}

/// `<public_url>/webhooks/tte/<token>`, keeping any path prefix of `public_url`.
fn callback(public_url: &Url, token: &str) -> String {
    format!("{}webhooks/tte/{token}", slash(public_url))
}

/// The callback as printed: the token stays out of terminals and logs.
fn redacted(public_url: &Url) -> String {
    callback(public_url, "**redacted**")
}

/// `url` ending in a slash.
pub fn slash(url: &Url) -> String {
    let text = url.as_str();
    if text.ends_with('/') {
        text.to_owned()
    } else {
        format!("{text}/")
    }
}

fn change(action: SetupAction, target: &str, detail: &str) -> SetupChange {
    SetupChange {
        action,
        target: target.to_owned(),
        detail: detail.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(callback_url: &str) -> Subscription {
        serde_json::from_value(serde_json::json!({
            "resource_uri": "https://tte.example.com/api/enterprise/v2/subscription/1/",
            "callback_url": callback_url,
            "scope": "customer",
        }))
        .unwrap()
    }

    #[test]
    fn subscriptions_are_compared_with_the_stored_token() {
        let public: Url = "https://sync.example.com/tte".parse().unwrap();
        let ours = subscription("https://sync.example.com/tte/webhooks/tte/abc");
        let other_server = subscription("https://elsewhere.example.com/webhooks/tte/abc");
        assert_eq!(
            compare(std::slice::from_ref(&ours), &public, Some("abc")),
            Found::Matches
        );
        assert_eq!(
            compare(std::slice::from_ref(&ours), &public, None),
            Found::StaleToken
        );
        assert_eq!(compare(&[ours], &public, Some("new")), Found::StaleToken);
        assert_eq!(
            compare(std::slice::from_ref(&other_server), &public, Some("abc")),
            Found::Missing
        );
        assert_eq!(compare(&[other_server], &public, None), Found::NeverSetUp);
    }
}
