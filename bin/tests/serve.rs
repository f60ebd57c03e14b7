//! End to end through the real binary: `setup` against both simulators (idempotent), then
//! `serve` — its first reconcile links both sides; then edits travel live (the next reconcile
//! is an hour away): the simulators' signed HubSpot webhooks and 10to8 notifications are
//! accepted, queued and processed by the live worker, the dashboard and `/api/status`
//! show it (both services reachable), `/metrics` counts the writes by direction and action,
//! the API calls by service and status and each live item's lag in a well-formed exposition,
//! `status` prints it, and SIGTERM ends the server with exit code 0.

#[path = "support/prometheus.rs"]
mod prometheus;

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use tte_sync_core::tte::CustomerPatch;
use tte_sync_core::tte::simulator::{TteSimConfig, TteSimulator};
use tte_sync_hubspot::simulator::{HubSpotSimulator, RateLimits, SimulatorConfig};

const BIN: &str = env!("CARGO_BIN_EXE_tte-sync");
/// How long to wait for something that should happen within seconds, before failing.
const PATIENCE: Duration = Duration::from_secs(120);

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tte-sync-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(dir: &Path, hubspot: &HubSpotSimulator, tte: &TteSimulator, port: u16) -> PathBuf {
    let sim = hubspot.config();
    let text = format!(
        "database: sqlite://{db}\n\
         tte:\n  api_base_url: {tte_url}\n  api_key: {tte_key}\n\
         crm:\n  connector: hubspot\n  config:\n    api_base_url: {hub_url}\n    \
         private_app_token: {token}\n    developer_api_key: {dev}\n    app_id: {app}\n    \
         webhooks:\n      client_secret: {secret}\n      portal_ids: [{portal}]\n\
         server:\n  listen: 127.0.0.1:{port}\n  public_url: http://127.0.0.1:{port}\n\
         sync:\n  reconcile_interval_secs: 3600\n  poll_interval_millis: 50\n\
         log:\n  level: info,tte_sync_core=debug\n",
        db = dir.join("state.db").display(),
        tte_url = tte.base_url(),
        tte_key = tte.api_key(),
        hub_url = hubspot.base_url(),
        token = sim.private_app_tokens[0],
        dev = sim.developer_api_key,
        app = sim.app_id,
        secret = sim.client_secret,
        portal = sim.portal_id,
    );
    let path = dir.join("tte-sync.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The spawned server, killed if the test fails before stopping it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn setup_then_serve_syncs_both_ways_and_stops_cleanly_on_sigterm() {
    let hubspot = HubSpotSimulator::start(
        SimulatorConfig {
            rate_limits: RateLimits::off(),
            ..SimulatorConfig::default()
        },
        0,
    )
    .await
    .unwrap();
    let tte = TteSimulator::start(TteSimConfig::default(), 0)
        .await
        .unwrap();
    // People 0..6 in 10to8 and 4..10 in HubSpot: 4 and 5 are in both, with the same email.
    let customers = tte.seed(7, 0, 6, false);
    assert_eq!(customers.len(), 6);
    hubspot.seed(7, 4, 6);
    let dir = scratch_dir("serve");
    let port = free_port();
    let config = write_config(&dir, &hubspot, &tte, port);
    let config_arg = config.display().to_string();

    let first = run(vec!["setup".into(), "--config".into(), config_arg.clone()]).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    let first_out = text(&first.stdout);
    assert!(first_out.contains("created"), "{first_out}");
    assert!(
        first_out.contains("webhooks/tte/**redacted**"),
        "{first_out}"
    );
    let second = run(vec!["setup".into(), "--config".into(), config_arg.clone()]).await;
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stdout).contains("Nothing changed"),
        "{}",
        text(&second.stdout)
    );
    assert_eq!(tte.subscriptions().len(), 1);

    let mut server = Server(
        Command::new(BIN)
            .args(["serve", "--config", &config_arg])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually("the server answers /readyz", || async {
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;

    // The first reconcile links the shared people and creates the others on both sides.
    eventually("every 10to8 customer is linked to a contact", || async {
        tte.customers().iter().filter(|c| !c.deleted).all(|c| {
            c.custom_fields
                .get("External ID")
                .is_some_and(|v| !v.is_empty())
        })
    })
    .await;
    assert_eq!(
        hubspot.contact_count(),
        10,
        "people 0..10, 4 and 5 on both sides"
    );
    let linked = |uri: &tte_sync_core::CustomerUri| {
        let id = tte.customer_id(uri).unwrap();
        let contact: u64 = tte.customer(id).unwrap().custom_fields["External ID"]
            .parse()
            .unwrap();
        (id, contact)
    };

    // An edit in HubSpot's UI reaches 10to8 (and is pushed to us as a signed webhook).
    let (customer, contact) = linked(&customers[0]);
    hubspot
        .user_edit(contact, &[("firstname", "Zelda")], None)
        .unwrap();
    eventually("the HubSpot edit reaches 10to8", || async {
        tte.customer(customer)
            .is_some_and(|c| c.name.starts_with("Zelda "))
    })
    .await;

    // An edit in 10to8 reaches HubSpot.
    let (customer, contact) = linked(&customers[1]);
    tte.edit(
        customer,
        &CustomerPatch {
            name: Some("Yannick Reverse".to_owned()),
            ..CustomerPatch::default()
        },
    )
    .unwrap();
    eventually("the 10to8 edit reaches HubSpot", || async {
        hubspot
            .contact(contact)
            .is_some_and(|(p, _)| p.get("firstname").map(String::as_str) == Some("Yannick"))
    })
    .await;

    // Both pushes arrived verified: the simulators' deliveries were accepted and counted.
    eventually("both webhooks were received", || async {
        let Ok(response) = http.get(format!("{base}/metrics")).send().await else {
            return false;
        };
        let metrics = response.text().await.unwrap_or_default();
        !metrics.contains("tte_sync_events_received_total{source=\"crm\"} 0")
            && !metrics.contains("tte_sync_events_received_total{source=\"tte\"} 0")
    })
    .await;
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains("tte_sync_webhooks_rejected_total{source=\"crm\",reason=\"unauthorized\"} 0"),
        "{metrics}"
    );
    // A worker counts its batch once the batch is done, just after the write seen above.
    eventually("both live edits are counted with their lag", || async {
        let Ok(response) = http.get(format!("{base}/metrics")).send().await else {
            return false;
        };
        let text = response.text().await.unwrap_or_default();
        prometheus::parse(&text)
            .value("tte_sync_event_lag_seconds_count", &[])
            .is_some_and(|count| count >= 2.0)
    })
    .await;
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    check_sync_metrics(&metrics);

    let status: serde_json::Value = http
        .get(format!("{base}/api/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["health"]["tte"]["ok"], true, "{status}");
    assert_eq!(status["health"]["crm"]["ok"], true, "{status}");
    let crm_detail = status["health"]["crm"]["detail"].as_str().unwrap();
    assert!(crm_detail.starts_with("reachable"), "{status}");
    assert!(!status["runs"].as_array().unwrap().is_empty(), "{status}");
    let dashboard = http.get(&base).send().await.unwrap().text().await.unwrap();
    assert!(dashboard.contains("<h2>Inbox</h2>"), "{dashboard}");
    assert!(dashboard.contains("reconcile"), "{dashboard}");

    sigterm(&server.0);
    let exit = tokio::task::block_in_place(|| server.0.wait().unwrap());
    assert!(exit.success(), "serve exited with {exit}");

    let printed = run(vec!["status".into(), "--config".into(), config_arg]).await;
    let printed_out = text(&printed.stdout);
    assert!(
        printed_out.contains("inbox"),
        "{printed_out}{}",
        text(&printed.stderr)
    );
    assert!(printed_out.contains("last run"), "{printed_out}");
    hubspot.shutdown().await;
    tte.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// What the sync above must have left in `/metrics`: the first reconcile created records on
/// both sides and linked the shared people, the live edits updated one record each way (each
/// with a lag), and both APIs answered 200s.
fn check_sync_metrics(text: &str) {
    let metrics = prometheus::parse(text);
    let written = |direction: &str, action: &str| {
        metrics
            .value(
                "tte_sync_records_written_total",
                &[("direction", direction), ("action", action)],
            )
            .unwrap_or_else(|| panic!("no {direction}/{action} series:\n{text}"))
    };
    // People 0..4 only in 10to8 and 6..10 only in HubSpot; 4 and 5 on both sides.
    assert!(written("to_crm", "created") >= 4.0, "{text}");
    assert!(written("to_hub", "created") >= 4.0, "{text}");
    assert!(written("to_crm", "linked") >= 2.0, "{text}");
    assert!(written("to_crm", "updated") >= 1.0, "{text}");
    assert!(written("to_hub", "updated") >= 1.0, "{text}");
    assert_eq!(written("to_crm", "failed"), 0.0, "{text}");
    assert_eq!(written("to_hub", "failed"), 0.0, "{text}");
    for service in ["tte", "hubspot"] {
        let ok = metrics
            .value(
                "tte_sync_api_calls_total",
                &[("service", service), ("status", "200")],
            )
            .unwrap_or(0.0);
        assert!(ok > 0.0, "no 200 from {service}:\n{text}");
        assert!(
            metrics
                .value("tte_sync_rate_limit_waits_total", &[("service", service)])
                .is_some(),
            "no rate-limit series for {service}:\n{text}"
        );
    }
    let lags = metrics
        .value("tte_sync_event_lag_seconds_count", &[])
        .unwrap();
    assert!(lags >= 2.0, "both live edits have a lag:\n{text}");
    let within_a_minute = metrics
        .value("tte_sync_event_lag_seconds_bucket", &[("le", "60")])
        .unwrap();
    assert_eq!(
        within_a_minute, lags,
        "live edits take seconds, not minutes:\n{text}"
    );
    assert_eq!(
        metrics.types["tte_sync_event_lag_seconds"], "histogram",
        "{text}"
    );
}
