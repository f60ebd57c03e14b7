//! The request log: one span per request with its method and route template
//! (`/webhooks/tte/{token}`), never the path or query it came with — those carry credentials:
//! the 10to8 path token, the `code` and `state` of an OAuth install.

use axum::extract::MatchedPath;
use axum::http::Request;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, TraceLayer};
use tracing::Span;

/// The route of a request that matched none.
const NO_ROUTE: &str = "(no route)";

/// The tracing layer of the HTTP app, with [`RouteSpan`]s. Put it on the router with
/// `Router::layer`, which runs it after routing, so the matched route is known.
pub fn layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RouteSpan> {
    TraceLayer::new_for_http().make_span_with(RouteSpan)
}

/// Makes each request's span from its route template.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteSpan;

impl<B> MakeSpan<B> for RouteSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or(NO_ROUTE, MatchedPath::as_str);
        tracing::debug_span!(
            "request",
            method = %request.method(),
            route = %route,
            version = ?request.version(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Body;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    use super::*;

    /// Log output kept in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn requests_are_logged_by_route_without_path_secrets_or_query_values() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let router = Router::new()
            .route("/webhooks/tte/{token}", post(|| async { "OK" }))
            .route("/crm/install/callback", get(|| async { "OK" }))
            .layer(layer());
        for request in [
            Request::post("/webhooks/tte/path-token-1234").body(Body::empty()),
            Request::get("/crm/install/callback?code=code-5678&state=state-9012")
                .body(Body::empty()),
            Request::get("/unknown/path-secret-3456").body(Body::empty()),
        ] {
            router.clone().oneshot(request.unwrap()).await.unwrap();
        }
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        for secret in [
            "path-token-1234",
            "code-5678",
            "state-9012",
            "path-secret-3456",
        ] {
            assert!(!log.contains(secret), "{secret} logged:\n{log}");
        }
        for route in ["/webhooks/tte/{token}", "/crm/install/callback", NO_ROUTE] {
            assert!(
                log.contains(&format!("route={route}")),
                "{route} not logged:\n{log}"
            );
        }
    }
}
