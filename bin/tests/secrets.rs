//! No secret reaches an operator's screen or a log. The commands and `serve` run at `trace`
//! level with known secrets in the config — the HubSpot private-app token, client secret and
//! developer key, the 10to8 API key, a database password — plus the secrets made on the way:
//! the 10to8 path token `setup` keeps in the store, the OAuth `state` and `code` of an install
//! driven through the simulator and the access and refresh tokens it saves. Everything shown —
//! stdout, stderr, the log, `/`, `/api/status`, `/metrics`, the install pages — is searched
//! for each of them, with human and JSON logs, on the good path and on the error paths: an
//! unreachable database, refused credentials, secrets given to the wrong config keys.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use futures_util::future::join_all;
use support::{BIN, DATABASE_ENV, PgSchema, Server, free_port, scratch_dir, text, wait_ready};
use tte_sync_core::store::Store;
use tte_sync_core::tte::simulator::{TteSimConfig, TteSimulator};
use tte_sync_hubspot::simulator::{HubSpotSimulator, RateLimits, SimulatorConfig};

const PRIVATE_APP_TOKEN: &str = "pat-na1-5ec7e7a1-0b5e-4c1e-9a11-privateapp01";
const CLIENT_SECRET: &str = "cs-5ec7e7a1-9c1f-4c55-b0a7-clientsecret01";
const DEVELOPER_API_KEY: &str = "dk-5ec7e7a1-2d3e-4f50-8a61-developerkey01";
const TTE_API_KEY: &str = "tte-5ec7e7a1-6b1d-4c9f-8e4a-apikey000001";
/// The password of the unreachable database.
const DB_PASSWORD: &str = "s3cret-db-pass";
/// The password in the URL of the PostgreSQL test database (trust auth: never asked for).
const PG_PASSWORD: &str = "pg-5ec7e7a1-password";
/// Credentials the simulators refuse.
const WRONG_HUBSPOT_TOKEN: &str = "pat-na1-5ec7e7a1-dead-4bad-8bad-wrongtoken01";
const WRONG_TTE_API_KEY: &str = "tte-5ec7e7a1-dead-4bad-8bad-wrongkey0001";
/// Every command runs at this level, whatever the config says.
const TRACE: (&str, &str) = ("RUST_LOG", "trace");

/// The secrets every config of these tests holds.
fn configured_secrets() -> Vec<(&'static str, String)> {
    vec![
        (
            "the HubSpot private-app token",
            PRIVATE_APP_TOKEN.to_owned(),
        ),
        ("the HubSpot client secret", CLIENT_SECRET.to_owned()),
        (
            "the HubSpot developer API key",
            DEVELOPER_API_KEY.to_owned(),
        ),
        ("the 10to8 API key", TTE_API_KEY.to_owned()),
        ("the database password", DB_PASSWORD.to_owned()),
        ("the PostgreSQL password", PG_PASSWORD.to_owned()),
        ("a refused HubSpot token", WRONG_HUBSPOT_TOKEN.to_owned()),
        ("a refused 10to8 key", WRONG_TTE_API_KEY.to_owned()),
    ]
}

/// Both simulators on loopback, accepting the secrets above.
async fn start_simulators() -> (HubSpotSimulator, TteSimulator) {
    let hubspot = HubSpotSimulator::start(
        SimulatorConfig {
            client_secret: CLIENT_SECRET.to_owned(),
            developer_api_key: DEVELOPER_API_KEY.to_owned(),
            private_app_tokens: vec![PRIVATE_APP_TOKEN.to_owned()],
            rate_limits: RateLimits::off(),
            ..SimulatorConfig::default()
        },
        0,
    )
    .await
    .unwrap();
    let tte = TteSimulator::start(
        TteSimConfig {
            api_keys: vec![TTE_API_KEY.to_owned()],
            ..TteSimConfig::default()
        },
        0,
    )
    .await
    .unwrap();
    (hubspot, tte)
}

/// How HubSpot is reached.
#[derive(Clone, Copy)]
enum Credentials {
    /// A private-app token (the given one), webhooks signed with the client secret.
    PrivateApp(&'static str),
    /// The public app's OAuth install.
    OAuth,
}

/// One config file's settings.
struct Settings {
    database: String,
    port: u16,
    json_logs: bool,
    credentials: Credentials,
    tte_api_key: &'static str,
}

impl Settings {
    fn new(database: String, json_logs: bool) -> Self {
        Self {
            database,
            port: free_port(),
            json_logs,
            credentials: Credentials::PrivateApp(PRIVATE_APP_TOKEN),
            tte_api_key: TTE_API_KEY,
        }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Writes the config as `dir/name` and returns its path.
    fn write(
        &self,
        dir: &Path,
        name: &str,
        hubspot: &HubSpotSimulator,
        tte: &TteSimulator,
    ) -> PathBuf {
        let sim = hubspot.config();
        let credentials = match self.credentials {
            Credentials::PrivateApp(token) => format!(
                "    private_app_token: {token}\n    webhooks:\n      client_secret: {CLIENT_SECRET}\n      \
                 portal_ids: [{}]\n",
                sim.portal_id
            ),
            Credentials::OAuth => format!(
                "    oauth:\n      client_id: {}\n      client_secret: {CLIENT_SECRET}\n      \
                 authorize_base_url: {}\n",
                sim.client_id,
                hubspot.base_url()
            ),
        };
        let text = format!(
            "database: \"{database}\"\n\
             tte:\n  api_base_url: {tte_url}\n  api_key: {tte_key}\n  requests_per_second: 50\n\
             crm:\n  connector: hubspot\n  config:\n    api_base_url: {hub_url}\n{credentials}    \
             developer_api_key: {DEVELOPER_API_KEY}\n    app_id: {app}\n\
             server:\n  listen: 127.0.0.1:{port}\n  public_url: http://127.0.0.1:{port}\n\
             sync:\n  reconcile_interval_secs: 3600\n  poll_interval_millis: 50\n  \
             new_record_settle_secs: 0\n\
             log:\n  level: trace\n  format: {format}\n",
            database = self.database,
            tte_url = tte.base_url(),
            tte_key = self.tte_api_key,
            hub_url = hubspot.base_url(),
            app = sim.app_id,
            port = self.port,
            format = if self.json_logs { "json" } else { "human" },
        );
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// Runs `tte-sync ARGS --config CONFIG` at trace level with `env` added, to completion.
async fn tte_sync(args: &[&str], config: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .arg("--config")
        .arg(config)
        .env(TRACE.0, TRACE.1)
        .envs(env.iter().copied());
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// One command to run: its arguments, config file and added environment.
struct Invocation<'a> {
    label: String,
    args: &'a [&'a str],
    config: PathBuf,
    env: Vec<(&'a str, &'a str)>,
}

/// Everything the runs of one test showed, labelled by where it was shown.
#[derive(Default)]
struct Shown(Vec<(String, String)>);

impl Shown {
    fn add(&mut self, label: impl Into<String>, shown: impl Into<String>) {
        self.0.push((label.into(), shown.into()));
    }

    /// The stdout and stderr of a command.
    fn output(&mut self, label: &str, output: &Output) {
        self.add(format!("{label}: stdout"), text(&output.stdout));
        self.add(format!("{label}: stderr"), text(&output.stderr));
    }

    /// Runs a command and keeps what it showed.
    async fn run(
        &mut self,
        label: &str,
        args: &[&str],
        config: &Path,
        env: &[(&str, &str)],
    ) -> Output {
        let output = tte_sync(args, config, env).await;
        self.output(label, &output);
        output
    }

    /// `GET base+path` through `http`: the body, kept, and the redirect target if any.
    async fn get(
        &mut self,
        http: &reqwest::Client,
        base: &str,
        path: &str,
    ) -> (String, Option<String>) {
        let response = http.get(format!("{base}{path}")).send().await.unwrap();
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        self.add(format!("GET {path}"), body.clone());
        (body, location)
    }

    /// Whether anything shown contains `needle`.
    fn contains(&self, needle: &str) -> bool {
        self.0.iter().any(|(_, shown)| shown.contains(needle))
    }

    /// Fails naming each secret found, where, with the line it is on.
    fn assert_free_of(&self, secrets: &[(&str, String)]) {
        let mut leaks = Vec::new();
        for (what, secret) in secrets {
            for (label, shown) in &self.0 {
                if let Some(line) = shown.lines().find(|line| line.contains(secret.as_str())) {
                    let line: String = line.chars().take(400).collect();
                    leaks.push(format!("{what} in {label}: {line}"));
                }
            }
        }
        assert!(
            leaks.is_empty(),
            "{} secret(s) shown:\n{}",
            leaks.len(),
            leaks.join("\n")
        );
        assert!(self.0.len() > 1, "nothing was searched");
    }
}

/// The 10to8 path token `setup` subscribed with.
fn path_token(tte: &TteSimulator) -> String {
    let subscriptions = tte.subscriptions();
    let callback = subscriptions
        .iter()
        .find(|url| url.contains("/webhooks/tte/"))
        .unwrap_or_else(|| panic!("no 10to8 subscription: {subscriptions:?}"));
    let token = callback.rsplit('/').next().unwrap().to_owned();
    assert!(token.len() >= 32, "{callback}");
    token
}

/// The value of query parameter `name` in `url`.
fn query_value(url: &str, name: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("no `{name}` in {url}"))
}

/// An edit on each side, waited for on the other: the HubSpot one arrives as a signed
/// webhook, the 10to8 one as a notification to the path token.
async fn edit_both_ways(hubspot: &HubSpotSimulator, tte: &TteSimulator) {
    let pairs = support::linked_pairs(tte);
    assert!(pairs.len() >= 2, "{pairs:?}");
    let (hub_edited, tte_edited) = (&pairs[..1], &pairs[1..2]);
    support::edit_both_sides(hubspot, tte, hub_edited, tte_edited);
    support::wait_edits_arrived(hubspot, tte, hub_edited, tte_edited, support::PATIENCE).await;
}

/// The log of `serve` names the routes it served by their templates.
fn assert_routes_logged(log: &str) {
    for route in ["/webhooks/tte/{token}", "/webhooks/hubspot", "/api/status"] {
        assert!(log.contains(route), "the request log lacks {route}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_private_app_install_shows_no_secret_at_trace_level() {
    let (hubspot, tte) = start_simulators().await;
    tte.seed(21, 0, 3, false);
    hubspot.seed(21, 2, 3);
    let dir = scratch_dir("secrets-private-app");
    // On PostgreSQL (when there is one), with a password in the URL.
    let schema = match std::env::var(DATABASE_ENV) {
        Ok(_) => Some(PgSchema::create("tte_sync_secrets").await),
        Err(_) => None,
    };
    let database = match &schema {
        Some(schema) => {
            let mut url = url::Url::parse(&schema.url()).unwrap();
            url.set_password(Some(PG_PASSWORD)).unwrap();
            url.to_string()
        }
        None => format!("sqlite://{}", dir.join("state.db").display()),
    };
    let settings = Settings::new(database, false);
    let config = settings.write(&dir, "tte-sync.yaml", &hubspot, &tte);
    let mut shown = Shown::default();

    shown
        .run("config check", &["config", "check"], &config, &[])
        .await;
    shown
        .run("setup --dry-run", &["setup", "--dry-run"], &config, &[])
        .await;
    let setup = shown.run("setup", &["setup"], &config, &[]).await;
    assert!(setup.status.success(), "{}", text(&setup.stderr));
    shown
        .run("sync --dry-run", &["sync", "--dry-run"], &config, &[])
        .await;
    shown.run("sync", &["sync"], &config, &[]).await;
    shown
        .run("sync --json", &["sync", "--json"], &config, &[])
        .await;
    shown
        .run("retry --all", &["retry", "--all"], &config, &[])
        .await;
    let mut secrets = configured_secrets();
    secrets.push(("the 10to8 path token", path_token(&tte)));

    let log = dir.join("serve.log");
    let mut server = Server::spawn(&config, &log, &[TRACE]);
    let base = settings.base_url();
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;
    edit_both_ways(&hubspot, &tte).await;
    // No install is set up, but such a request is logged all the same.
    let (page, _) = shown
        .get(
            &http,
            &base,
            "/hubspot/install/callback?code=code-5ec7e7a1-planted&state=state-5ec7e7a1-planted",
        )
        .await;
    assert!(page.contains("No app install"), "{page}");
    secrets.push(("an OAuth code", "code-5ec7e7a1-planted".to_owned()));
    secrets.push(("an OAuth state", "state-5ec7e7a1-planted".to_owned()));
    let (status, _) = shown.get(&http, &base, "/api/status").await;
    let (dashboard, _) = shown.get(&http, &base, "/").await;
    shown.get(&http, &base, "/metrics").await;
    server.sigterm();
    assert!(server.wait().success());
    shown.run("status", &["status"], &config, &[]).await;
    shown
        .run("status --json", &["status", "--json"], &config, &[])
        .await;
    let log = std::fs::read_to_string(&log).unwrap();
    shown.add("the serve log", log.clone());

    shown.assert_free_of(&secrets);
    assert_routes_logged(&log);
    if schema.is_some() {
        let redacted = "postgres:***@";
        assert!(status.contains(redacted), "{status}");
        assert!(dashboard.contains(redacted), "{dashboard}");
    }
    drop(schema);
    hubspot.shutdown().await;
    tte.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oauth_install_shows_no_secret_in_json_logs() {
    let (hubspot, tte) = start_simulators().await;
    tte.seed(22, 0, 3, false);
    hubspot.seed(22, 2, 3);
    let dir = scratch_dir("secrets-oauth");
    let store_url = format!("sqlite://{}", dir.join("state.db").display());
    let mut settings = Settings::new(store_url.clone(), true);
    settings.credentials = Credentials::OAuth;
    let config = settings.write(&dir, "tte-sync.yaml", &hubspot, &tte);
    let mut shown = Shown::default();
    let mut secrets = configured_secrets();

    let log = dir.join("serve.log");
    let mut server = Server::spawn(&config, &log, &[TRACE]);
    let base = settings.base_url();
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;
    // The installer's browser: our start page, HubSpot's approval, our callback.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (_, authorize) = shown.get(&browser, &base, "/hubspot/install/start").await;
    let authorize = authorize.expect("the install start redirects to HubSpot");
    secrets.push(("the OAuth state", query_value(&authorize, "state")));
    let approved = browser.get(&authorize).send().await.unwrap();
    let callback = approved.headers()["location"].to_str().unwrap().to_owned();
    secrets.push(("the OAuth code", query_value(&callback, "code")));
    let callback_path = callback.strip_prefix(&base).unwrap();
    let (page, _) = shown.get(&browser, &base, callback_path).await;
    assert!(page.contains("is installed in"), "{page}");
    let store = Store::open(&store_url).await.unwrap();
    let token = store.token("hubspot", None).await.unwrap().unwrap();
    store.close().await;
    secrets.push((
        "the OAuth access token",
        token.access_token.expose().to_owned(),
    ));
    secrets.push((
        "the OAuth refresh token",
        token.refresh_token.expose().to_owned(),
    ));

    let setup = shown.run("setup", &["setup"], &config, &[]).await;
    assert!(setup.status.success(), "{}", text(&setup.stderr));
    secrets.push(("the 10to8 path token", path_token(&tte)));
    shown.run("sync", &["sync"], &config, &[]).await;
    shown
        .run("config check", &["config", "check"], &config, &[])
        .await;
    shown.run("status", &["status"], &config, &[]).await;
    shown
        .run("status --json", &["status", "--json"], &config, &[])
        .await;
    edit_both_ways(&hubspot, &tte).await;
    shown.get(&http, &base, "/api/status").await;
    shown.get(&http, &base, "/").await;
    shown.get(&http, &base, "/metrics").await;
    server.sigterm();
    assert!(server.wait().success());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.lines().all(|line| line.starts_with('{')),
        "not JSON lines"
    );
    shown.add("the serve log", log.clone());

    shown.assert_free_of(&secrets);
    assert_routes_logged(&log);
    assert!(
        log.contains("/hubspot/install/callback"),
        "callback not logged"
    );
    hubspot.shutdown().await;
    tte.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_database_and_refused_credentials_show_no_secret() {
    let (hubspot, tte) = start_simulators().await;
    let dir = scratch_dir("secrets-errors");
    let mut shown = Shown::default();
    for json_logs in [false, true] {
        let format = if json_logs { "json" } else { "human" };
        let unreachable = format!("postgres://postgres:{DB_PASSWORD}@127.0.0.1:1/nodb");
        let settings = Settings::new(unreachable, json_logs);
        let config = settings.write(&dir, &format!("nodb-{format}.yaml"), &hubspot, &tte);
        // Each waits for the connect timeout: all at once.
        let commands: Vec<&[&str]> = vec![
            &["status"],
            &["status", "--json"],
            &["sync"],
            &["setup"],
            &["retry", "--all"],
            &["serve"],
        ];
        let outputs = join_all(commands.iter().map(|args| tte_sync(args, &config, &[]))).await;
        for (args, output) in commands.iter().zip(outputs) {
            let label = format!("{} ({format} logs, no database)", args.join(" "));
            assert!(!output.status.success(), "{label} succeeded");
            shown.output(&label, &output);
        }
        shown
            .run(
                "config check (no database)",
                &["config", "check"],
                &config,
                &[],
            )
            .await;

        let mut settings = Settings::new(
            format!("sqlite://{}", dir.join(format!("{format}.db")).display()),
            json_logs,
        );
        settings.credentials = Credentials::PrivateApp(WRONG_HUBSPOT_TOKEN);
        settings.tte_api_key = WRONG_TTE_API_KEY;
        let config = settings.write(&dir, &format!("refused-{format}.yaml"), &hubspot, &tte);
        for args in [
            &["status"][..],
            &["status", "--json"],
            &["sync"],
            &["setup"],
        ] {
            let label = format!("{} ({format} logs, refused credentials)", args.join(" "));
            let output = shown.run(&label, args, &config, &[]).await;
            assert!(!output.status.success(), "{label} succeeded");
        }
        let log = dir.join(format!("refused-{format}.log"));
        let mut server = Server::spawn(&config, &log, &[TRACE]);
        let base = settings.base_url();
        let http = reqwest::Client::new();
        wait_ready(&http, &base).await;
        let (status, _) = shown.get(&http, &base, "/api/status").await;
        assert!(status.contains("refused our credentials"), "{status}");
        shown.get(&http, &base, "/").await;
        shown.get(&http, &base, "/metrics").await;
        server.sigterm();
        assert!(server.wait().success());
        shown.add(
            format!("the serve log ({format}, refused credentials)"),
            std::fs::read_to_string(&log).unwrap(),
        );
    }
    shown.assert_free_of(&configured_secrets());
    assert!(
        shown.contains("postgres://postgres:***@127.0.0.1:1/nodb"),
        "the unreachable database is not named"
    );
    hubspot.shutdown().await;
    tte.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_given_to_the_wrong_keys_are_not_echoed() {
    let (hubspot, tte) = start_simulators().await;
    let dir = scratch_dir("secrets-bad-config");
    let settings = Settings::new(
        format!("sqlite://{}", dir.join("state.db").display()),
        false,
    );
    let config = settings.write(&dir, "tte-sync.yaml", &hubspot, &tte);
    let mut secrets = configured_secrets();
    secrets.push(("a number at a secret key", "987654321".to_owned()));
    secrets.push((
        "a secret with a broken reference",
        "5ec7e7a1-broken-ref".to_owned(),
    ));
    // Each override puts a value where it does not belong, as a slip would.
    let portal_ids = format!("[\"{PRIVATE_APP_TOKEN}\"]");
    let wrong_places: Vec<(&str, &str)> = vec![
        ("TTE_SYNC__CRM__CONFIG__WEBHOOKS__PORTAL_IDS", &portal_ids),
        ("TTE_SYNC__CRM__CONFIG__APP_ID", DEVELOPER_API_KEY),
        ("TTE_SYNC__TTE__REQUESTS_PER_SECOND", TTE_API_KEY),
        ("TTE_SYNC__SERVER__LISTEN", CLIENT_SECRET),
        ("TTE_SYNC__LOG__FORMAT", PRIVATE_APP_TOKEN),
        ("TTE_SYNC__TTE__API_KEY", "987654321"),
    ];
    let mut runs = Vec::new();
    for (variable, value) in wrong_places {
        for args in [&["config", "check"][..], &["status"]] {
            runs.push(Invocation {
                label: format!("{} with {variable}", args.join(" ")),
                args,
                config: config.clone(),
                env: vec![(variable, value)],
            });
        }
    }
    // `${` without its `}` in a secret, written in the file.
    let broken = dir.join("broken-reference.yaml");
    let broken_text = std::fs::read_to_string(&config).unwrap().replace(
        &format!("api_key: {TTE_API_KEY}"),
        "api_key: \"tte-${5ec7e7a1-broken-ref\"",
    );
    std::fs::write(&broken, broken_text).unwrap();
    for args in [&["config", "check"][..], &["status"]] {
        runs.push(Invocation {
            label: format!("{} with a broken reference", args.join(" ")),
            args,
            config: broken.clone(),
            env: Vec::new(),
        });
    }
    // A database URL that does not parse; only opening the store reads it.
    let bad_url = format!("postgres://postgres:{DB_PASSWORD}@[::1/nodb");
    runs.push(Invocation {
        label: "status with a malformed database URL".to_owned(),
        args: &["status"],
        config: config.clone(),
        env: vec![("TTE_SYNC__DATABASE", bad_url.as_str())],
    });
    let outputs = join_all(
        runs.iter()
            .map(|run| tte_sync(run.args, &run.config, &run.env)),
    )
    .await;
    let mut shown = Shown::default();
    for (run, output) in runs.iter().zip(outputs) {
        assert!(!output.status.success(), "{} succeeded", run.label);
        assert!(text(&output.stderr).contains("error"), "{}", run.label);
        shown.output(&run.label, &output);
    }
    // A short value of a key that holds no secret is still shown, to help fix it.
    let output = shown
        .run(
            "config check with a short value",
            &["config", "check"],
            &config,
            &[("TTE_SYNC__SYNC__WORKERS", "many")],
        )
        .await;
    let stderr = text(&output.stderr);
    assert!(stderr.contains("\"many\""), "{stderr}");

    shown.assert_free_of(&secrets);
    hubspot.shutdown().await;
    tte.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
