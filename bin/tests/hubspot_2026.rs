//! The HubSpot connector on HubSpot's 2026 platform, end to end through the real binary, for
//! each kind of credential with each way of capturing changes that applies to it: a project
//! app's static token with webhooks declared in the app, OAuth with webhooks, OAuth with the
//! Webhooks Journal, and a Service Key with polling. In each, edits made on both sides arrive,
//! nobody is duplicated, a second sync plans no write, and no request of the whole run used a
//! numbered (`/v1/` to `/v4/`) HubSpot path. In the OAuth runs access tokens expire mid-run:
//! with webhooks they last 20 s and are refreshed ahead, between two rounds of edits; with the journal (which, unlike
//! signed webhooks, does not mind a clock far ahead) the simulator's clock jumps past their
//! expiry before the first sync, which is refused once and refreshes once. The journal run
//! also stops `serve`, edits, and checks the restart catches up from the stored offset, then
//! lets the offset go stale.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{
    PATIENCE, ServeOptions, Server, eventually, linked_pairs, run, scratch_dir,
    start_simulators_with, text, wait_edits_arrived, wait_linked, wait_ready,
};
use tte_sync_core::tte::simulator::TteSimulator;
use tte_sync_hubspot::simulator::{HubSpotSimulator, SimulatorConfig};

/// Access-token lifetime in the OAuth run with webhooks, and how long before expiry the
/// connector refreshes.
const SHORT_TOKEN_LIFETIME: Duration = Duration::from_secs(20);
const REFRESH_AHEAD_SECS: u64 = 5;

/// The seed of the generated people.
const SEED: u64 = 11;
/// 10to8 has people 0..60, HubSpot 40..80: 20 on both sides.
const CUSTOMERS: u64 = 60;
const CONTACTS_FROM: u64 = 40;
const CONTACTS: u64 = 40;

/// How the connector is set up in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    StaticWithWebhooks,
    OAuthWithWebhooks,
    OAuthWithJournal,
    ServiceKeyPolling,
}

impl Kind {
    fn oauth(self) -> bool {
        matches!(self, Kind::OAuthWithWebhooks | Kind::OAuthWithJournal)
    }

    fn webhooks(self) -> bool {
        matches!(self, Kind::StaticWithWebhooks | Kind::OAuthWithWebhooks)
    }

    /// The `crm.config` section, indented for the config file.
    fn crm_config(self, hubspot: &HubSpotSimulator) -> String {
        let sim = hubspot.config();
        let credential = match self {
            Kind::StaticWithWebhooks => format!(
                "static_app_token: {}\n    app_id: {}\n    webhooks:\n      client_secret: {}\n      portal_ids: [{}]",
                sim.static_app_tokens[0], sim.app_id, sim.client_secret, sim.portal_id
            ),
            Kind::OAuthWithWebhooks | Kind::OAuthWithJournal => format!(
                "oauth:\n      client_id: {}\n      client_secret: {}\n      authorize_base_url: {}\n      refresh_ahead_secs: {REFRESH_AHEAD_SECS}\n    app_id: {}{}",
                sim.client_id,
                sim.client_secret,
                hubspot.base_url(),
                sim.app_id,
                if self == Kind::OAuthWithJournal {
                    "\n    changes: journal\n    journal:\n      poll_interval_millis: 200"
                } else {
                    ""
                }
            ),
            Kind::ServiceKeyPolling => format!(
                "service_key: {}\n    polling:\n      interval_millis: 200\n      overlap_secs: 5",
                sim.service_keys[0]
            ),
        };
        format!("api_base_url: {}\n    {credential}", hubspot.base_url())
    }
}

/// Both simulators seeded, a config for `kind`, and the scratch directory.
struct Setting {
    hubspot: HubSpotSimulator,
    tte: TteSimulator,
    dir: PathBuf,
    options: ServeOptions,
    config: PathBuf,
}

async fn setting(name: &str, kind: Kind) -> Setting {
    let mut hub_config = SimulatorConfig::default();
    if kind == Kind::OAuthWithWebhooks {
        hub_config.access_token_lifetime = SHORT_TOKEN_LIFETIME;
    }
    let (hubspot, tte) = start_simulators_with(hub_config).await;
    tte.seed(SEED, 0, CUSTOMERS, false);
    hubspot.seed(SEED, CONTACTS_FROM, CONTACTS);
    let dir = scratch_dir(name);
    let mut options = ServeOptions::sqlite_in(&dir);
    options.tte_requests_per_second = 200.0;
    let config = support::write_config_with(&dir, &tte, &options, &kind.crm_config(&hubspot));
    Setting {
        hubspot,
        tte,
        dir,
        options,
        config,
    }
}

async fn cli(args: &[&str], config: &Path) -> String {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.push("--config".into());
    all.push(config.display().to_string());
    let output = run(all).await;
    assert!(
        output.status.success(),
        "`{}` failed: {}{}",
        args.join(" "),
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Runs the OAuth install as a person would: `/hubspot/install/start`, approve at the
/// (simulated) HubSpot, back to the callback.
async fn install(base: &str) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let start = http
        .get(format!("{base}/hubspot/install/start"))
        .send()
        .await
        .unwrap();
    assert!(start.status().is_redirection(), "{}", start.status());
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    let approved = http.get(&authorize).send().await.unwrap();
    assert!(approved.status().is_redirection(), "{}", approved.status());
    let callback = approved.headers()["location"].to_str().unwrap().to_owned();
    let done = http.get(&callback).send().await.unwrap();
    assert!(
        done.status().is_success(),
        "install failed: {}",
        done.status()
    );
}

/// `setup`, and for a project app with webhooks the `hs project upload` of what it wrote.
async fn setup(setting: &Setting, kind: Kind) {
    let app_dir = setting.dir.join("app");
    let app_dir_arg = app_dir.display().to_string();
    let out = cli(
        &["setup", "--write-app-config", &app_dir_arg],
        &setting.config,
    )
    .await;
    if kind.webhooks() {
        let hsmeta = app_dir.join("src/app/webhooks/webhooks-hsmeta.json");
        let declared: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&hsmeta).unwrap()).unwrap();
        assert_eq!(
            declared["config"]["settings"]["targetUrl"],
            format!("{}/webhooks/hubspot", setting.options.base_url()),
            "{out}"
        );
        setting.hubspot.deploy_project_webhooks(&declared).unwrap();
    } else {
        assert!(!app_dir.exists(), "no app file is needed: {out}");
    }
    if kind == Kind::OAuthWithJournal {
        assert!(out.contains("journal subscription"), "{out}");
    }
}

/// Asserts that no request the simulator answered used a numbered HubSpot API path.
fn assert_no_numbered_path(hubspot: &HubSpotSimulator) {
    let numbered: Vec<String> = hubspot
        .stats()
        .requests
        .iter()
        .filter(|r| !r.route.contains("/_sim/"))
        .filter(|r| {
            ["/v1/", "/v2/", "/v3/", "/v4/"]
                .iter()
                .any(|v| r.route.contains(v))
        })
        .map(|r| format!("{} ×{}", r.route, r.count))
        .collect();
    assert!(numbered.is_empty(), "numbered paths used: {numbered:?}");
    assert!(
        hubspot
            .stats()
            .requests
            .iter()
            .any(|r| r.route.contains("/crm/objects/2026-09/")),
        "no dated contacts path used: {:?}",
        hubspot.stats().requests
    );
}

/// A second pass plans no write.
async fn assert_converged(config: &Path) {
    let out = cli(&["sync", "--dry-run", "--json"], config).await;
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    for direction in ["to_crm", "to_hub"] {
        for action in ["created", "updated", "deleted", "archived"] {
            let planned = summary[direction][action].as_u64().unwrap_or(0);
            assert_eq!(planned, 0, "{direction}.{action} still planned: {summary}");
        }
    }
}

/// Nobody twice: every customer is linked to its own contact, HubSpot holds exactly one
/// contact per customer, and there are as many pairs as after the first sync.
fn assert_no_duplicates(hubspot: &HubSpotSimulator, tte: &TteSimulator, first_sync: usize) {
    let pairs = linked_pairs(tte);
    let mut contacts: Vec<u64> = pairs.iter().map(|(_, c)| *c).collect();
    contacts.sort_unstable();
    contacts.dedup();
    assert_eq!(contacts.len(), pairs.len(), "two customers share a contact");
    assert_eq!(
        hubspot.contact_count() - support::held_contacts(hubspot),
        pairs.len(),
        "contacts without a customer"
    );
    assert_eq!(
        pairs.len(),
        first_sync,
        "people were added since the first sync"
    );
    // 20 people are on both sides: 60 + 40 - 20 pairs, fewer only for people held as
    // possible duplicates for a person to resolve.
    assert!(pairs.len() as u64 <= CUSTOMERS + CONTACTS - 20);
}

/// Edits five pairs on each side, from the `skip`-th linked pair on, and waits for all ten
/// edits to arrive.
async fn edit_and_wait(setting: &Setting, skip: usize) {
    let pairs = linked_pairs(&setting.tte);
    let hub_edited: Vec<(u64, u64)> = pairs.iter().skip(skip).take(5).copied().collect();
    let tte_edited: Vec<(u64, u64)> = pairs.iter().skip(skip + 5).take(5).copied().collect();
    support::edit_both_sides(&setting.hubspot, &setting.tte, &hub_edited, &tte_edited);
    wait_edits_arrived(
        &setting.hubspot,
        &setting.tte,
        &hub_edited,
        &tte_edited,
        PATIENCE,
    )
    .await;
}

fn token_requests(hubspot: &HubSpotSimulator) -> u64 {
    hubspot.stats().requests_on("POST /oauth/2026-09/token")
}

/// CRM calls HubSpot refused with 401 so far.
fn refused_crm_calls(hubspot: &HubSpotSimulator) -> u64 {
    hubspot
        .stats()
        .requests
        .iter()
        .filter(|r| r.status == 401 && r.route.contains("/crm/"))
        .map(|r| r.count)
        .sum()
}

async fn scenario(name: &str, kind: Kind) -> (Setting, Server, usize) {
    let setting = setting(name, kind).await;
    let http = reqwest::Client::new();
    let base = setting.options.base_url();
    let log = setting.dir.join("serve.log");
    // An OAuth app is installed through the running server before anything else can call
    // HubSpot; the other kinds are set up first, as an operator would.
    let mut server = None;
    if kind.oauth() {
        let running = Server::spawn(&setting.config, &log, &[]);
        wait_ready(&http, &base).await;
        install(&base).await;
        server = Some(running);
    }
    setup(&setting, kind).await;
    if kind == Kind::OAuthWithJournal {
        // The access token expires on HubSpot's clock before the first sync: the client is
        // refused once, refreshes once, and nothing fails.
        setting.hubspot.advance_clock(Duration::from_secs(31 * 60));
    }
    let refused_before = refused_crm_calls(&setting.hubspot);
    cli(&["sync"], &setting.config).await;
    if kind == Kind::OAuthWithJournal {
        assert_eq!(
            refused_crm_calls(&setting.hubspot) - refused_before,
            1,
            "the expired token was refused once, then refreshed"
        );
    }
    wait_linked(&setting.tte).await;
    let first_sync = linked_pairs(&setting.tte).len();
    // A `serve` started for the install is restarted, as an operator's would be after setup.
    if let Some(mut running) = server {
        running.sigterm();
        assert!(running.wait().success());
    }
    let server = Server::spawn(&setting.config, &log, &[]);
    wait_ready(&http, &base).await;
    edit_and_wait(&setting, 0).await;
    if kind == Kind::OAuthWithWebhooks {
        // The access token runs out between two rounds of edits: refreshed, nothing fails.
        tokio::time::sleep(SHORT_TOKEN_LIFETIME).await;
        let before = token_requests(&setting.hubspot);
        edit_and_wait(&setting, 10).await;
        assert!(
            token_requests(&setting.hubspot) > before,
            "the expired access token was refreshed"
        );
        assert_eq!(
            refused_crm_calls(&setting.hubspot),
            0,
            "refreshed ahead, never refused"
        );
    }
    assert_no_duplicates(&setting.hubspot, &setting.tte, first_sync);
    let status = support::api_status(&http, &base).await.unwrap();
    support::assert_nothing_failed(&status);
    let changes = status["health"]["crm_changes"].as_str().unwrap().to_owned();
    let expected = match kind {
        Kind::StaticWithWebhooks | Kind::OAuthWithWebhooks => "webhooks",
        Kind::OAuthWithJournal => "webhooks journal",
        Kind::ServiceKeyPolling => "polling",
    };
    assert_eq!(changes, expected);
    (setting, server, first_sync)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_app_with_static_auth_and_declared_webhooks() {
    let (setting, mut server, _) = scenario("2026-static", Kind::StaticWithWebhooks).await;
    assert!(setting.hubspot.stats().webhooks.events_delivered > 0);
    server.sigterm();
    assert!(server.wait().success());
    assert_converged(&setting.config).await;
    assert_no_numbered_path(&setting.hubspot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_app_with_webhooks() {
    let (setting, mut server, _) = scenario("2026-oauth", Kind::OAuthWithWebhooks).await;
    server.sigterm();
    assert!(server.wait().success());
    assert_converged(&setting.config).await;
    assert_no_numbered_path(&setting.hubspot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_oauth_install_says_reinstall_dead_letters_nothing_and_heals_on_reinstall() {
    let (setting, server, _) = scenario("2026-revoked", Kind::OAuthWithWebhooks).await;
    let http = reqwest::Client::new();
    let base = setting.options.base_url();
    // Someone uninstalls the app in HubSpot; then a customer changes in 10to8.
    assert!(setting.hubspot.uninstall_app());
    let (customer, _) = linked_pairs(&setting.tte)[0];
    setting
        .tte
        .edit(
            customer,
            &tte_sync_core::tte::CustomerPatch {
                name: Some("Revoked Meanwhile".to_owned()),
                ..Default::default()
            },
        )
        .unwrap();
    eventually("the dashboard says the install must be redone", || async {
        support::api_status(&http, &base)
            .await
            .is_some_and(|s| s["health"]["crm_reinstall_needed"].is_string())
    })
    .await;
    eventually("the change waits in the inbox", || async {
        support::api_status(&http, &base)
            .await
            .is_some_and(|s| s["inbox"]["depth"].as_u64() >= Some(1))
    })
    .await;
    let status = support::api_status(&http, &base).await.unwrap();
    assert!(
        status["health"]["crm_reinstall_needed"]
            .as_str()
            .unwrap()
            .starts_with("reinstall needed"),
        "{}",
        status["health"]
    );
    assert_eq!(
        status["dead_letters"],
        serde_json::json!([]),
        "{}",
        status["dead_letters"]
    );
    let mut all: Vec<String> = vec!["status".into(), "--config".into()];
    all.push(setting.config.display().to_string());
    let output = run(all).await;
    assert!(
        !output.status.success(),
        "status fails while the install is revoked"
    );
    assert!(
        text(&output.stdout).contains("REINSTALL NEEDED"),
        "{}",
        text(&output.stdout)
    );
    // Installed again: the running server takes the new install from the store.
    install(&base).await;
    eventually("the reinstall is taken up", || async {
        support::api_status(&http, &base).await.is_some_and(|s| {
            s["health"]["crm_reinstall_needed"].is_null() && s["health"]["crm"]["ok"] == true
        })
    })
    .await;
    let mut server = server;
    server.sigterm();
    assert!(server.wait().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_key_polling_for_changes() {
    let (setting, mut server, _) = scenario("2026-service-key", Kind::ServiceKeyPolling).await;
    assert_eq!(setting.hubspot.stats().webhooks.events_delivered, 0);
    server.sigterm();
    assert!(server.wait().success());
    assert_converged(&setting.config).await;
    assert_no_numbered_path(&setting.hubspot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_app_reading_the_journal_catches_up_after_downtime() {
    let (setting, mut server, first_sync) = scenario("2026-journal", Kind::OAuthWithJournal).await;
    assert_eq!(
        setting.hubspot.stats().webhooks.events_delivered,
        0,
        "the journal needs no webhooks"
    );
    let http = reqwest::Client::new();
    let base = setting.options.base_url();
    let log = setting.dir.join("serve.log");

    // Down for a while: edits made meanwhile are read from the stored offset on restart.
    server.sigterm();
    assert!(server.wait().success());
    let pairs = linked_pairs(&setting.tte);
    let offline: Vec<(u64, u64)> = pairs.iter().skip(20).take(5).copied().collect();
    support::edit_both_sides(&setting.hubspot, &setting.tte, &offline, &[]);
    let mut server = Server::spawn(&setting.config, &log, &[]);
    wait_ready(&http, &base).await;
    wait_edits_arrived(&setting.hubspot, &setting.tte, &offline, &[], PATIENCE).await;
    server.sigterm();
    assert!(server.wait().success());

    // Down for longer than HubSpot keeps the journal: the restart says so and a full
    // reconcile brings the edit over.
    setting
        .hubspot
        .advance_clock(Duration::from_secs(4 * 24 * 3600));
    let late: Vec<(u64, u64)> = pairs.iter().skip(30).take(1).copied().collect();
    support::edit_both_sides(&setting.hubspot, &setting.tte, &late, &[]);
    let stale_log = setting.dir.join("serve-stale.log");
    let mut server = Server::spawn(&setting.config, &stale_log, &[]);
    wait_ready(&http, &base).await;
    eventually("the stale offset is reported", || async {
        std::fs::read_to_string(&stale_log).is_ok_and(|l| l.contains("lost track"))
    })
    .await;
    wait_edits_arrived(&setting.hubspot, &setting.tte, &late, &[], PATIENCE).await;
    server.sigterm();
    assert!(server.wait().success());
    assert_no_duplicates(&setting.hubspot, &setting.tte, first_sync);
    assert_converged(&setting.config).await;
    assert_no_numbered_path(&setting.hubspot);
}
