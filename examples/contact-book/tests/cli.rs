//! The `contact-book-sync` binary — the host with only this connector linked — against the
//! 10to8 simulator and the Contact Book simulator: `connectors`, `config check`, `mapping
//! check`, `setup`, `sync` (then a dry run plans nothing), `serve` (an edit made in Contact
//! Book arrives by webhook and reaches 10to8; SIGTERM exits 0) and `demo --crm contact-book`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use contact_book_connector::simulator::{ContactBookSimulator, SimulatorConfig};
use tte_sync_core::tte::simulator::{TteSimConfig, TteSimulator};

const BIN: &str = env!("CARGO_BIN_EXE_contact-book-sync");
const MAPPING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/mapping.yaml");

fn run(args: &[&str]) -> Output {
    run_with(args, &[])
}

fn run_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    ok_with(args, &[])
}

/// Runs the binary with `env` added and insists it succeeded; returns its stdout.
fn ok_with(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = run_with(args, env);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("contact-book-{name}-{}", std::process::id()));
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

fn write_config(dir: &Path, tte: &TteSimulator, book: &ContactBookSimulator, port: u16) -> String {
    let text = format!(
        "database: \"sqlite://{db}\"\n\
         mapping: {MAPPING}\n\
         tte:\n  api_base_url: {tte_url}\n  api_key: {tte_key}\n\
         crm:\n  connector: contact-book\n  config:\n    api_base_url: {book_url}\n    \
         api_key: ${{CONTACT_BOOK_API_KEY}}\n    webhook_secret: {secret}\n\
         server:\n  listen: 127.0.0.1:{port}\n  public_url: http://127.0.0.1:{port}\n\
         sync:\n  reconcile_interval_secs: 3600\n  poll_interval_millis: 50\n",
        db = dir.join("state.db").display(),
        tte_url = tte.base_url(),
        tte_key = tte.api_key(),
        book_url = book.base_url(),
        secret = book.config().webhook_secret,
    );
    let path = dir.join("contact-book-sync.yaml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Planned writes in a `sync --json` summary.
fn writes(summary: &str) -> u64 {
    let summary: serde_json::Value = serde_json::from_str(summary).unwrap();
    ["to_crm", "to_hub"]
        .iter()
        .flat_map(|side| ["created", "updated", "deleted"].map(|n| &summary[side][n]))
        .map(|n| {
            n.as_u64()
                .unwrap_or_else(|| panic!("no counts in {summary}"))
        })
        .sum()
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Kills the server if the test fails before it stopped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn connectors_lists_contact_book_only() {
    let listed = ok(&["connectors"]);
    assert!(listed.contains("contact-book"), "{listed}");
    assert!(!listed.contains("hubspot"), "{listed}");
}

#[test]
fn mapping_check_accepts_the_shipped_mapping() {
    ok(&["mapping", "check", MAPPING]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_sync_and_serve_against_both_simulators() {
    let dir = scratch("cli");
    let tte = TteSimulator::start(TteSimConfig::default(), 0)
        .await
        .unwrap();
    let book = ContactBookSimulator::start(SimulatorConfig::default(), 0)
        .await
        .unwrap();
    // 10to8 has people 0..40, Contact Book 20..50: twenty are on both sides.
    tte.seed(1, 0, 40, false);
    book.seed(1, 20, 30);
    let port = free_port();
    let config = write_config(&dir, &tte, &book, port);
    let key = book.config().api_key.clone();
    let env = [("CONTACT_BOOK_API_KEY", key.as_str())];
    let ok_with_key = |args: &[&str]| ok_with(args, &env);

    let unset = run(&["config", "check", "--config", &config]);
    assert!(!unset.status.success());
    let said = String::from_utf8_lossy(&unset.stderr);
    assert!(said.contains("CONTACT_BOOK_API_KEY"), "{said}");
    ok_with_key(&["config", "check", "--config", &config]);

    let setup = ok_with_key(&["setup", "--config", &config]);
    assert!(setup.contains("webhook"), "{setup}");
    let webhooks = book.stats().requests.get("PUT /v1/webhook").copied();
    assert_eq!(webhooks, Some(1), "{setup}");
    let again = ok_with_key(&["setup", "--config", &config]);
    assert_eq!(
        book.stats().requests.get("PUT /v1/webhook").copied(),
        Some(1),
        "{again}"
    );

    let first = ok_with_key(&["sync", "--json", "--config", &config]);
    assert!(writes(&first) > 0, "{first}");
    assert_eq!(book.contact_count(), 50, "{first}");
    assert_eq!(tte.customers().len(), 50, "{first}");
    let plan = ok_with_key(&["sync", "--dry-run", "--json", "--config", &config]);
    assert_eq!(
        writes(&plan),
        0,
        "a converged pair still plans writes:\n{plan}"
    );

    let server = Command::new(BIN)
        .args(["serve", "--config", &config])
        .env("CONTACT_BOOK_API_KEY", &key)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let mut server = Server(server);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "serve never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A person renames a linked contact in Contact Book; the signed webhook brings it to 10to8.
    let (customer, contact) = tte
        .customers()
        .into_iter()
        .find_map(|c| Some((c.id, c.custom_fields.get("External ID")?.clone())))
        .expect("a linked customer");
    // Deliveries failed while nothing listened (the syncs above); none may fail from here on.
    let failed_before = book.stats().webhooks_failed;
    let delivered_before = book.stats().webhooks_delivered;
    let edited = http
        .patch(format!("{}/_sim/contacts/{contact}", book.base_url()))
        .json(&serde_json::json!({ "first_name": "Augusta", "last_name": "King" }))
        .send()
        .await
        .unwrap();
    assert!(edited.status().is_success());
    eventually("the webhook is delivered and accepted", || {
        book.stats().webhooks_delivered > delivered_before
    })
    .await;
    eventually("the new name reaches 10to8", || {
        tte.customer(customer)
            .is_some_and(|c| c.name == "Augusta King")
    })
    .await;

    let term = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = tokio::task::block_in_place(|| server.0.wait().unwrap());
    let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
    assert!(
        status.success(),
        "serve exited {status} after SIGTERM:\n{log}"
    );
    assert_eq!(book.stats().webhooks_failed, failed_before, "{log}");

    book.shutdown().await;
    tte.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_converges_against_the_contact_book_simulator() {
    let stdout = ok(&[
        "demo",
        "--crm",
        "contact-book",
        "--customers",
        "40",
        "--contacts",
        "30",
        "--port",
        "0",
        "--exit-after-sync",
    ]);
    assert!(stdout.contains("Contact Book at"), "{stdout}");
    assert!(stdout.contains("converged: yes"), "{stdout}");
    assert!(stdout.contains("20 people are in both"), "{stdout}");
}

#[test]
fn demo_of_a_connector_without_simulator_names_those_with_one() {
    let output = run(&["demo", "--crm", "salesforce", "--exit-after-sync"]);
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("unknown connector `salesforce`"), "{said}");
    assert!(said.contains("contact-book"), "{said}");
}
