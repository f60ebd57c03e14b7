//! The service checks: rate limits waited out, expired credentials renewed, a cheap health
//! check.

use super::ConformanceHarness;
use super::outcome::{Checked, Outcome, Promise, ensure};

/// Rate-limit refusals are waited out: the read succeeds and the refusals happened.
pub(super) async fn rate_limit_recovery(h: &dyn ConformanceHarness) -> Checked {
    h.prepare().await;
    let ids = h.seed(3).await;
    h.reset_calls().await;
    h.inject_rate_limits(2).await;
    let read = h
        .connector()
        .read(&ids, &[h.fields().text])
        .await
        .or_broken("a read succeeds after two rate-limit refusals")?;
    ensure!(
        read.iter().all(Option::is_some),
        "every record reads after the refusals"
    );
    let throttled = h.calls().await.throttled;
    ensure!(
        throttled >= 2,
        "the CRM refused two calls (it refused {throttled}): the harness did not inject the fault"
    );
    Ok(Outcome::Passed)
}

/// Once the credentials expired, reads and the health check still succeed.
pub(super) async fn credential_expiry(h: &dyn ConformanceHarness) -> Checked {
    h.prepare().await;
    let ids = h.seed(2).await;
    if !h.expire_credentials().await {
        return Ok(Outcome::NotApplicable(
            "the connector's credentials never expire".to_owned(),
        ));
    }
    let read = h
        .connector()
        .read(&ids, &[h.fields().text])
        .await
        .or_broken("a read succeeds after the credentials expired")?;
    ensure!(
        read.iter().all(Option::is_some),
        "every record reads after renewing the credentials"
    );
    h.expire_credentials().await;
    h.connector()
        .check()
        .await
        .or_broken("the health check renews expired credentials")?;
    Ok(Outcome::Passed)
}

/// The health check passes against the simulator and costs at most one call.
pub(super) async fn health_check(h: &dyn ConformanceHarness) -> Checked {
    h.prepare().await;
    h.connector()
        .check()
        .await
        .or_broken("the health check passes against the simulator")?;
    h.reset_calls().await;
    h.connector()
        .check()
        .await
        .or_broken("the health check passes again")?;
    let calls = h.calls().await;
    ensure!(
        calls.list + calls.batch_read + calls.search + calls.batch_write <= 1,
        "the health check costs at most one call, it made {calls:?}"
    );
    Ok(Outcome::Passed)
}
