//! What an HTTP failure means for the caller: the [`ErrorKind`] behind a status or a transport
//! error.

use std::time::Duration;

use http::StatusCode;

use crate::connector::ErrorKind;

/// The kind of failure an HTTP error status stands for. `retry_after` is what the server said
/// about waiting (used for 429).
///
/// 401 and 403 are refused credentials, 404 and 410 a missing record, 409 a conflict, 400 and
/// 422 a refused value, 429 a rate limit; 408, 425 and every 5xx are passing failures; anything
/// else will fail the same way again.
pub fn classify_status(status: StatusCode, retry_after: Option<Duration>) -> ErrorKind {
    match status.as_u16() {
        401 | 403 => ErrorKind::Unauthorized,
        404 | 410 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict { existing_id: None },
        400 | 422 => ErrorKind::Invalid { field: None },
        429 => ErrorKind::RateLimited {
            retry_after,
            daily: false,
        },
        408 | 425 | 500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Permanent,
    }
}

/// The kind of failure behind a `reqwest` error: timeouts, refused connections and broken
/// bodies pass; a request that could not be built or a response that could not be decoded
/// will fail again.
pub fn classify_reqwest(error: &reqwest::Error) -> ErrorKind {
    if let Some(status) = error.status() {
        return classify_status(status, None);
    }
    if error.is_builder() || error.is_decode() || error.is_redirect() {
        return ErrorKind::Permanent;
    }
    ErrorKind::Transient
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_what_the_engine_does_about_them() {
        let kind = |code| classify_status(StatusCode::from_u16(code).unwrap(), None);
        assert_eq!(kind(401), ErrorKind::Unauthorized);
        assert_eq!(kind(403), ErrorKind::Unauthorized);
        assert_eq!(kind(404), ErrorKind::NotFound);
        assert_eq!(kind(409), ErrorKind::Conflict { existing_id: None });
        assert_eq!(kind(400), ErrorKind::Invalid { field: None });
        assert_eq!(kind(503), ErrorKind::Transient);
        assert_eq!(kind(408), ErrorKind::Transient);
        assert_eq!(kind(405), ErrorKind::Permanent);
        assert_eq!(
            classify_status(StatusCode::TOO_MANY_REQUESTS, Some(Duration::from_secs(3))),
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(3)),
                daily: false
            }
        );
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let error = reqwest::get(format!("http://{addr}/")).await.unwrap_err();
        assert_eq!(classify_reqwest(&error), ErrorKind::Transient);
    }
}
