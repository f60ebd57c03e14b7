//! The real `serve` under abuse, with the file-descriptor limit of a small container (256):
//! 300 connections that never finish their headers do not stop `/healthz` and a signed
//! HubSpot webhook from being answered, because the server closes the longest-waiting idle
//! connection for each new one; and a connection that is silent, or stuck half way through
//! its headers, is closed after `server.header_read_timeout_secs`.

mod support;

use std::io::ErrorKind;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use support::{BIN, ServeOptions, Server, eventually, scratch_dir, wait_ready, write_config};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Connections the attacker holds open.
const SLOW_CONNECTIONS: usize = 300;
/// The open-file limit `serve` runs with here.
const FD_LIMIT: usize = 256;
/// The acceptance bound: an answer within a second while the attack lasts.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);
/// The start of a request whose headers never end.
const PARTIAL_HEADERS: &[u8] = b"POST /webhooks/hubspot HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

/// Spawns `serve` with its open-file limit lowered to `limit` by the shell.
fn spawn_with_fd_limit(config: &Path, log: &Path, limit: usize) -> Server {
    Server(
        Command::new("sh")
            .args([
                "-c",
                &format!("ulimit -n {limit} && exec \"$0\" serve --config \"$1\""),
                BIN,
                &config.display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// Whether the server has closed `stream` (end of file or reset), without waiting.
fn closed_by_server(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match stream.try_read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) if error.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

fn sign_v3(secret: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(b"POST");
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_header_connections_do_not_starve_healthz_or_signed_webhooks() {
    let (hubspot, tte) = support::start_simulators().await;
    let dir = scratch_dir("slow-headers");
    let options = ServeOptions::sqlite_in(&dir);
    let config = write_config(&dir, &hubspot, &tte, &options);
    let log = dir.join("serve.log");
    let _server = spawn_with_fd_limit(&config, &log, FD_LIMIT);
    let base = options.base_url();
    wait_ready(&reqwest::Client::new(), &base).await;

    // The attack: connections that send part of their headers and then nothing.
    let mut slow = Vec::with_capacity(SLOW_CONNECTIONS);
    for _ in 0..SLOW_CONNECTIONS {
        let mut stream = TcpStream::connect(("127.0.0.1", options.port))
            .await
            .unwrap();
        // A connection the server already dropped may refuse the write; that is its answer.
        let _ = stream.write_all(PARTIAL_HEADERS).await;
        slow.push(stream);
    }

    // A fresh client per check: no connection made before the attack is reused.
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(ANSWER_WITHIN)
            .build()
            .unwrap()
    };
    let health = fresh()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("/healthz did not answer within a second: {e}"));
    assert_eq!(health.status(), 200);

    let sim = hubspot.config();
    let body = serde_json::to_vec(&serde_json::json!([{
        "eventId": 1, "subscriptionId": 1, "portalId": sim.portal_id, "appId": sim.app_id,
        "occurredAt": chrono::Utc::now().timestamp_millis(),
        "subscriptionType": "contact.propertyChange", "attemptNumber": 0, "objectId": 4242,
        "propertyName": "firstname", "propertyValue": "Slowloris", "changeSource": "CRM_UI",
        "sourceId": "userId:1"
    }]))
    .unwrap();
    let timestamp = chrono::Utc::now().timestamp_millis().to_string();
    let uri = format!("{base}/webhooks/hubspot");
    let webhook = fresh()
        .post(&uri)
        .header("content-type", "application/json")
        .header("x-hubspot-request-timestamp", &timestamp)
        .header(
            "x-hubspot-signature-v3",
            sign_v3(&sim.client_secret, &uri, &body, &timestamp),
        )
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("the signed webhook was not answered within a second: {e}"));
    assert_eq!(webhook.status(), 200, "{}", webhook.text().await.unwrap());

    // The server made room by closing slow connections: with 256 descriptors it cannot hold
    // 300 of them (and the ones it keeps are bounded below that).
    let closed = slow.iter().filter(|s| closed_by_server(s)).count();
    assert!(
        closed >= SLOW_CONNECTIONS - FD_LIMIT,
        "only {closed} of {SLOW_CONNECTIONS} slow connections were closed"
    );
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("open-file limit"),
        "the lowered connection cap is not reported: {log_text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_half_sent_connections_are_closed_after_the_header_deadline() {
    let (hubspot, tte) = support::start_simulators().await;
    let dir = scratch_dir("header-deadline");
    let options = ServeOptions::sqlite_in(&dir);
    let config = write_config(&dir, &hubspot, &tte, &options);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("server:\n", "server:\n  header_read_timeout_secs: 1\n"),
    )
    .unwrap();
    let _server = Server::spawn(&config, &dir.join("serve.log"), &[]);
    let base = options.base_url();
    wait_ready(&reqwest::Client::new(), &base).await;

    let silent = TcpStream::connect(("127.0.0.1", options.port))
        .await
        .unwrap();
    let mut half = TcpStream::connect(("127.0.0.1", options.port))
        .await
        .unwrap();
    half.write_all(PARTIAL_HEADERS).await.unwrap();
    eventually("the server closes both connections", || async {
        closed_by_server(&silent) && closed_by_server(&half)
    })
    .await;
    // A client that sends its request in time is still served.
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}
