//! What the real-binary tests share: both simulators on loopback, a config file pointing
//! `tte-sync` at them, spawning `serve` (killed if a test fails), waiting for conditions,
//! reading `/api/status`, and a PostgreSQL schema of the test's own.

#![allow(dead_code)]

pub mod prometheus;

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use tte_sync_core::tte::CustomerPatch;
use tte_sync_core::tte::simulator::{SimCustomer, TteSimConfig, TteSimulator};
use tte_sync_hubspot::simulator::{HubSpotSimulator, RateLimits, SimulatorConfig};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tte-sync");
/// How long to wait for something that should happen within seconds, before failing.
pub const PATIENCE: Duration = Duration::from_secs(120);
/// The env var naming a PostgreSQL database for the store tests.
pub const DATABASE_ENV: &str = "TTE_SYNC_TEST_DATABASE_URL";
/// The 10to8 custom field naming the linked HubSpot contact.
pub const EXTERNAL_ID: &str = "External ID";
/// The 10to8 custom field holding the sync status.
pub const SYNC_STATUS: &str = "Sync Status";
/// How the status of a customer held as a possible duplicate starts.
pub const POSSIBLE_DUPLICATE: &str = "Possible duplicate of";

/// A fresh directory under the system temp dir, for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tte-sync-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Both simulators on free loopback ports, HubSpot's rate limits off.
pub async fn start_simulators() -> (HubSpotSimulator, TteSimulator) {
    start_simulators_with(SimulatorConfig::default()).await
}

/// As [`start_simulators`], HubSpot's otherwise configured as `hubspot` says.
pub async fn start_simulators_with(hubspot: SimulatorConfig) -> (HubSpotSimulator, TteSimulator) {
    let hubspot = HubSpotSimulator::start(
        SimulatorConfig {
            rate_limits: RateLimits::off(),
            ..hubspot
        },
        0,
    )
    .await
    .unwrap();
    let tte = TteSimulator::start(TteSimConfig::default(), 0)
        .await
        .unwrap();
    (hubspot, tte)
}

/// How a test's `serve` is configured beyond the simulators.
pub struct ServeOptions {
    /// The `database` setting.
    pub database: String,
    /// The port `serve` listens on (and its public URL's).
    pub port: u16,
    /// JSON log lines instead of readable ones.
    pub json_logs: bool,
    /// The 10to8 client's pace (`tte.requests_per_second`). The simulator has no limit; tests
    /// moving hundreds of records raise it from the default of 5 to keep their time down.
    pub tte_requests_per_second: f64,
}

impl ServeOptions {
    /// A SQLite store in `dir`, readable logs, a free port.
    pub fn sqlite_in(dir: &Path) -> Self {
        Self {
            database: format!("sqlite://{}", dir.join("state.db").display()),
            port: free_port(),
            json_logs: false,
            tte_requests_per_second: 5.0,
        }
    }

    /// Where `serve` answers.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Writes `dir/tte-sync.yaml` for both simulators, HubSpot through a legacy public app's
/// private token and developer key (setup subscribes through the webhook management API);
/// the periodic reconcile is an hour away, so after the first one every change travels live.
pub fn write_config(
    dir: &Path,
    hubspot: &HubSpotSimulator,
    tte: &TteSimulator,
    options: &ServeOptions,
) -> PathBuf {
    let sim = hubspot.config();
    let crm = format!(
        "api_base_url: {hub_url}\n    \
         private_app_token: {token}\n    developer_api_key: {dev}\n    app_id: {app}\n    \
         webhooks:\n      client_secret: {secret}\n      portal_ids: [{portal}]",
        hub_url = hubspot.base_url(),
        token = sim.private_app_tokens[0],
        dev = sim.developer_api_key,
        app = sim.app_id,
        secret = sim.client_secret,
        portal = sim.portal_id,
    );
    write_config_with(dir, tte, options, &crm)
}

/// As [`write_config`], with `crm` (indented by four spaces after its first line) as the
/// `crm.config` section.
pub fn write_config_with(
    dir: &Path,
    tte: &TteSimulator,
    options: &ServeOptions,
    crm: &str,
) -> PathBuf {
    let text = format!(
        "database: \"{db}\"\n\
         tte:\n  api_base_url: {tte_url}\n  api_key: {tte_key}\n  \
         requests_per_second: {tte_rps}\n\
         crm:\n  connector: hubspot\n  config:\n    {crm}\n\
         server:\n  listen: 127.0.0.1:{port}\n  public_url: http://127.0.0.1:{port}\n\
         sync:\n  reconcile_interval_secs: 3600\n  poll_interval_millis: 50\n\
         log:\n  level: info,tte_sync_core=debug\n  format: {format}\n",
        db = options.database,
        tte_url = tte.base_url(),
        tte_key = tte.api_key(),
        port = options.port,
        format = if options.json_logs { "json" } else { "human" },
        tte_rps = options.tte_requests_per_second,
    );
    let path = dir.join("tte-sync.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the binary to completion without blocking the runtime.
pub async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || Command::new(BIN).args(&args).output().unwrap())
        .await
        .unwrap()
}

/// Runs `setup` and asserts it succeeded.
pub async fn setup(config: &Path) {
    let output = run(vec![
        "setup".into(),
        "--config".into(),
        config.display().to_string(),
    ])
    .await;
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// Bytes as text, for messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Polls `check` every 100 ms until it holds; fails the test after [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_within(PATIENCE, what, check).await;
}

/// Polls `check` every 100 ms until it holds; fails the test after `patience`.
pub async fn eventually_within<F, Fut>(patience: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + patience;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting after {} s: {what}",
            patience.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A spawned process, killed if the test fails before stopping it.
pub struct Server(pub Child);

impl Server {
    /// Spawns `serve --config <config>` with its stderr (the log) going to `log` and `env`
    /// added to its environment.
    pub fn spawn(config: &Path, log: &Path, env: &[(&str, &str)]) -> Self {
        Self(
            Command::new(BIN)
                .args(["serve", "--config", &config.display().to_string()])
                .envs(env.iter().copied())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(log).unwrap())
                .spawn()
                .unwrap(),
        )
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        signal(&self.0, "-TERM");
    }

    /// Waits for the process to exit, without blocking the runtime's other tasks.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        tokio::task::block_in_place(|| self.0.wait().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends a signal (`-TERM`, `-INT`) to a child with `kill`.
pub fn signal(child: &Child, which: &str) {
    let status = Command::new("kill")
        .args([which, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits until `serve` at `base` answers `/readyz`.
pub async fn wait_ready(http: &reqwest::Client, base: &str) {
    eventually("the server answers /readyz", || async {
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
}

/// `GET /metrics` as text, or `None` while the server does not answer.
pub async fn metrics_text(http: &reqwest::Client, base: &str) -> Option<String> {
    let response = http.get(format!("{base}/metrics")).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.text().await.ok()
}

/// `GET /api/status`, or `None` while the server does not answer.
pub async fn api_status(http: &reqwest::Client, base: &str) -> Option<serde_json::Value> {
    let response = http.get(format!("{base}/api/status")).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// Waits until every live 10to8 customer carries the id of its HubSpot contact, or is held
/// as a possible duplicate for a person to resolve (the first reconcile is over).
pub async fn wait_linked(tte: &TteSimulator) {
    eventually("every 10to8 customer is linked to a contact", || async {
        tte.customers()
            .iter()
            .filter(|c| !c.deleted)
            .all(|c| linked_contact(c).is_some() || held(c))
    })
    .await;
}

/// The HubSpot contact a customer is linked to, by the id written on it.
fn linked_contact(customer: &SimCustomer) -> Option<u64> {
    customer
        .custom_fields
        .get(EXTERNAL_ID)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().unwrap())
}

/// Whether a customer is held as a possible duplicate (never linked nor copied by design).
fn held(customer: &SimCustomer) -> bool {
    customer
        .custom_fields
        .get(SYNC_STATUS)
        .is_some_and(|s| s.starts_with(POSSIBLE_DUPLICATE))
}

/// How many live contacts are held as possible duplicates (their status says so).
pub fn held_contacts(hubspot: &HubSpotSimulator) -> usize {
    hubspot
        .contact_ids()
        .into_iter()
        .filter(|id| {
            hubspot.contact(*id).is_some_and(|(properties, _)| {
                properties
                    .get("tte_customer_sync_status")
                    .is_some_and(|s| s.starts_with(POSSIBLE_DUPLICATE))
            })
        })
        .count()
}

/// Every live linked customer's id and the HubSpot contact it is linked to, by customer id
/// (customers held as possible duplicates are not linked).
pub fn linked_pairs(tte: &TteSimulator) -> Vec<(u64, u64)> {
    tte.customers()
        .into_iter()
        .filter(|c| !c.deleted)
        .filter_map(|c| linked_contact(&c).map(|contact| (c.id, contact)))
        .collect()
}

/// Edits as people in the apps would: in HubSpot, `hub_edited[n]`'s contact gets the first
/// name `Hubedit<n>`; in 10to8, `tte_edited[n]`'s customer gets the name `Tteedit<n> Burst`.
/// Pairs are `(customer id, contact id)` as [`linked_pairs`] returns them.
pub fn edit_both_sides(
    hubspot: &HubSpotSimulator,
    tte: &TteSimulator,
    hub_edited: &[(u64, u64)],
    tte_edited: &[(u64, u64)],
) {
    for (n, &(_, contact)) in hub_edited.iter().enumerate() {
        hubspot
            .user_edit(contact, &[("firstname", &format!("Hubedit{n}"))], None)
            .unwrap();
    }
    for (n, &(customer, _)) in tte_edited.iter().enumerate() {
        let patch = CustomerPatch {
            name: Some(format!("Tteedit{n} Burst")),
            ..CustomerPatch::default()
        };
        tte.edit(customer, &patch).unwrap();
    }
}

/// The edits of [`edit_both_sides`] that have not reached the other side yet, described.
pub fn edits_missing(
    hubspot: &HubSpotSimulator,
    tte: &TteSimulator,
    hub_edited: &[(u64, u64)],
    tte_edited: &[(u64, u64)],
) -> Vec<String> {
    let mut missing = Vec::new();
    for (n, (customer, contact)) in hub_edited.iter().enumerate() {
        let name = tte.customer(*customer).map(|c| c.name).unwrap_or_default();
        let first = format!("Hubedit{n}");
        // The last name stays as it was, and some people have none.
        if name != first && !name.starts_with(&format!("{first} ")) {
            missing.push(format!(
                "HubSpot {contact} -> 10to8 {customer} (name {name:?})"
            ));
        }
    }
    for (n, (customer, contact)) in tte_edited.iter().enumerate() {
        let first = hubspot
            .contact(*contact)
            .and_then(|(p, _)| p.get("firstname").cloned())
            .unwrap_or_default();
        if first != format!("Tteedit{n}") {
            missing.push(format!(
                "10to8 {customer} -> HubSpot {contact} (firstname {first:?})"
            ));
        }
    }
    missing
}

/// Waits until every edit of [`edit_both_sides`] arrived; on failure lists the missing ones.
pub async fn wait_edits_arrived(
    hubspot: &HubSpotSimulator,
    tte: &TteSimulator,
    hub_edited: &[(u64, u64)],
    tte_edited: &[(u64, u64)],
    patience: Duration,
) {
    let deadline = std::time::Instant::now() + patience;
    loop {
        let missing = edits_missing(hubspot, tte, hub_edited, tte_edited);
        if missing.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} edits never arrived: {missing:?}",
            missing.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asserts from `/api/status` that nothing was dead-lettered and that the only failing
/// records are the seeded people whose email HubSpot refuses (the mapping marks them
/// `Error: Invalid email …` on both sides, by design).
pub fn assert_nothing_failed(status: &serde_json::Value) {
    assert_eq!(
        status["dead_letters"],
        serde_json::json!([]),
        "dead letters: {}",
        status["dead_letters"]
    );
    let failing = status["failing"].as_array().unwrap();
    let unexpected: Vec<&serde_json::Value> = failing
        .iter()
        .filter(|r| {
            !r["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Error: Invalid email"))
        })
        .collect();
    assert!(unexpected.is_empty(), "failing records: {unexpected:#?}");
    assert_eq!(
        status["failing_count"].as_u64(),
        Some(failing.len() as u64),
        "more failing records than listed: {}",
        status["failing_count"]
    );
}

/// Asserts that both sides still hold exactly the people of `pairs` (taken once the first
/// reconcile was over), linked the same way: no record was duplicated, lost or re-linked.
pub fn assert_same_people(hubspot: &HubSpotSimulator, tte: &TteSimulator, pairs: &[(u64, u64)]) {
    let mut now = linked_pairs(tte);
    now.sort_unstable();
    let mut before = pairs.to_vec();
    before.sort_unstable();
    assert_eq!(
        now.len(),
        before.len(),
        "10to8 customers were added or lost"
    );
    assert_eq!(now, before, "customers were re-linked");
    assert_eq!(
        hubspot.contact_count() - held_contacts(hubspot),
        pairs.len(),
        "HubSpot contacts were added or lost"
    );
    for &(customer, contact) in pairs {
        let (properties, archived) = hubspot.contact(contact).unwrap();
        assert!(!archived, "contact {contact} is archived");
        let uri = tte.customer_uri(customer);
        assert_eq!(
            properties.get("tte_customer_uri").map(String::as_str),
            Some(uri.as_str()),
            "contact {contact} names another customer than {customer}"
        );
    }
}

/// A PostgreSQL schema of the test's own in the database at [`DATABASE_ENV`], dropped when
/// this goes out of scope (also after a failed assertion).
pub struct PgSchema {
    admin_url: String,
    /// The schema's name.
    pub name: String,
}

impl PgSchema {
    /// Creates `<prefix>_<pid>` afresh.
    pub async fn create(prefix: &str) -> Self {
        use sqlx::{Connection, Executor};
        let admin_url = std::env::var(DATABASE_ENV).unwrap_or_else(|_| {
            panic!("set {DATABASE_ENV}, e.g. postgres://postgres@127.0.0.1:5432/test")
        });
        let name = format!("{prefix}_{}", std::process::id());
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {DATABASE_ENV}: {e}"));
        conn.execute(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE").as_str())
            .await
            .unwrap();
        conn.execute(format!("CREATE SCHEMA \"{name}\"").as_str())
            .await
            .unwrap();
        conn.close().await.unwrap();
        Self { admin_url, name }
    }

    /// The database URL whose connections keep their tables in this schema.
    pub fn url(&self) -> String {
        let mut url = url::Url::parse(&self.admin_url).unwrap();
        url.query_pairs_mut()
            .append_pair("options", &format!("-c search_path={}", self.name));
        url.to_string()
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop cannot await: drop the schema on a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            use sqlx::{Connection, Executor};
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut conn = sqlx::AnyConnection::connect(&url).await?;
                conn.execute(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE").as_str())
                    .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test schema {}", self.name);
        }
    }
}
