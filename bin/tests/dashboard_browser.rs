//! The dashboard in a real headless browser: `tte-sync demo` seeds and syncs both simulators
//! and serves the dashboard; Chromium, driven through chromedriver's W3C WebDriver API, checks
//! that the page shows the demo's state (connections, inbox, the first reconcile). Then a
//! 10to8 customer is given the email of another person's HubSpot contact: HubSpot refuses the
//! write and the record shows up among the failing records with a retry button. Once the
//! other contact's email is changed, clicking Retry in the browser requeues the change and it
//! goes through.
//!
//! Needs Debian's `chromium` and `chromium-driver`; bin/build.rs turns the test on when both
//! are on `PATH` (or `TTE_SYNC_TEST_CHROMIUM` is set).

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{BIN, EXTERNAL_ID, PATIENCE, Server, eventually, free_port, scratch_dir};

/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a failure must stay unchanged before the test counts it as settled.
const SETTLED: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(chromium_tests),
    ignore = "needs a headless browser: apt-get install chromium chromium-driver, then \
              TTE_SYNC_TEST_CHROMIUM=1 cargo test -p tte-sync --test dashboard_browser"
)]
async fn dashboard_renders_the_demo_and_its_retry_button_requeues_a_failed_change() {
    let started = Instant::now();
    let dir = scratch_dir("dashboard-browser");
    let mut demo = Demo::start(&dir);
    let http = reqwest::Client::new();
    // The first sync's own echoes are processed before the page is looked at.
    eventually("the demo's inbox is empty", || async {
        support::api_status(&http, &demo.dashboard)
            .await
            .is_some_and(|s| s["inbox"]["depth"] == 0)
    })
    .await;

    let browser = Browser::start(&dir).await;
    browser.goto(&demo.dashboard).await;
    let title = browser.title().await;
    assert!(title.contains("tte-sync"), "title: {title}");
    let health = browser.text_of("#health").await;
    assert!(
        health.contains("10to8") && health.contains("OK") && health.contains("reachable"),
        "connections: {health}"
    );
    assert!(health.contains("hubspot"), "connections: {health}");
    let inbox = browser.text_of("#inbox").await;
    assert!(inbox.contains("Waiting"), "inbox: {inbox}");
    assert!(
        inbox
            .lines()
            .any(|l| l.starts_with("Waiting") && l.ends_with(" 0")),
        "inbox: {inbox}"
    );
    let runs = browser.text_of("#runs").await;
    assert!(
        runs.contains("reconcile") && runs.contains("Succeeded"),
        "runs: {runs}"
    );
    // The same counts the demo printed after its full sync.
    assert!(
        runs.contains(&format!("\"created\":{}", demo.created_in_hubspot)),
        "runs: {runs}\ndemo printed: {} created in HubSpot",
        demo.created_in_hubspot
    );
    let body = browser.text_of("body").await;
    assert!(body.contains("Failing records (0)"), "{body}");
    assert!(body.contains("Recent activity"), "{body}");

    // Customer A takes B's email in 10to8; HubSpot refuses it on A's contact (unique emails).
    let customers: Vec<Value> = get_json(&http, &format!("{}/_sim/customers", demo.tte)).await;
    let linked: Vec<&Value> = customers
        .iter()
        .filter(|c| c["deleted"] == false && c["custom_fields"][EXTERNAL_ID].is_string())
        .filter(|c| c["emails"].as_array().is_some_and(|e| !e.is_empty()))
        .collect();
    let (a, b) = (linked[0], linked[1]);
    let contact_a = a["custom_fields"][EXTERNAL_ID].as_str().unwrap().to_owned();
    let contact_b = b["custom_fields"][EXTERNAL_ID].as_str().unwrap().to_owned();
    let taken_email = b["emails"][0].as_str().unwrap().to_owned();
    patch(
        &http,
        &format!("{}/_sim/customers/{}", demo.tte, a["id"]),
        json!({ "emails": [taken_email] }),
    )
    .await;
    eventually(
        "the refused write is listed with a retry button",
        || async {
            browser.goto(&demo.dashboard).await;
            browser
                .try_text_of("#dead-letters")
                .await
                .is_some_and(|t| t.contains(&contact_a) && t.contains("Retry"))
        },
    )
    .await;
    let failing = browser.text_of("#dead-letters").await;
    assert!(
        failing.contains("CONFLICT") || failing.contains("already exists"),
        "the reason is shown: {failing}"
    );

    // Free the email in HubSpot, wait until the failure stops changing, then retry.
    patch(
        &http,
        &format!("{}/_sim/contacts/{contact_b}", demo.hubspot),
        json!({ "properties": { "email": format!("moved.{contact_b}@example.org") } }),
    )
    .await;
    wait_settled(&http, &demo.dashboard, &contact_a).await;
    browser.goto(&demo.dashboard).await;
    let buttons = browser.find_all("#dead-letters button").await;
    assert_eq!(buttons.len(), 1, "{}", browser.text_of("body").await);
    browser.click(&buttons[0]).await;
    // The form posts, the server requeues and redirects back to the dashboard.
    let home = format!("{}/", demo.dashboard);
    let mut at = String::new();
    for _ in 0..100 {
        at = browser.current_url().await;
        if at == home && browser.try_text_of("#inbox").await.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(at, home, "after Retry: {}", browser.text_of("body").await);
    let after = browser.text_of("body").await;
    assert!(
        !browser
            .try_text_of("#dead-letters")
            .await
            .is_some_and(|t| t.contains(&contact_a)),
        "the retried record is no longer listed as failed: {after}"
    );

    // The requeued change goes through: A's contact gets the email, and nothing fails.
    eventually("the retried change reaches HubSpot", || async {
        let contact: Value = get_json(
            &http,
            &format!("{}/_sim/contacts/{contact_a}", demo.hubspot),
        )
        .await;
        contact["properties"]["email"] == taken_email.as_str()
    })
    .await;
    eventually("the dashboard lists no failing records", || async {
        browser.goto(&demo.dashboard).await;
        browser
            .text_of("body")
            .await
            .contains("Failing records (0)")
    })
    .await;
    let customer: Value =
        get_json(&http, &format!("{}/_sim/customers/{}", demo.tte, a["id"])).await;
    let status = customer["custom_fields"]["Sync Status"]
        .as_str()
        .unwrap_or_default();
    assert!(status.starts_with("Last synced"), "10to8 status: {status}");

    browser.quit().await;
    demo.stop();
    eprintln!(
        "dashboard browser test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Waits until the dead letter of CRM record `id` has not changed for [`SETTLED`] (a record
/// whose write keeps failing is written again and again until its cause is gone).
async fn wait_settled(http: &reqwest::Client, dashboard: &str, id: &str) {
    let mut last: Option<(Value, Instant)> = None;
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(
            Instant::now() < deadline,
            "the failure of {id} never settled"
        );
        let status = support::api_status(http, dashboard).await.unwrap();
        let current = status["dead_letters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["object_id"] == id)
            .cloned()
            .unwrap_or(Value::Null);
        match &last {
            Some((seen, since)) if *seen == current => {
                if since.elapsed() >= SETTLED {
                    assert!(!current.is_null(), "the dead letter of {id} vanished");
                    return;
                }
            }
            _ => last = Some((current, Instant::now())),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> T {
    let response = http.get(url).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

async fn patch(http: &reqwest::Client, url: &str, body: Value) {
    let response = http.patch(url).json(&body).send().await.unwrap();
    let status = response.status();
    assert!(
        status.is_success(),
        "PATCH {url}: {status} {}",
        response.text().await.unwrap_or_default()
    );
}

/// `tte-sync demo` running, with what it printed.
struct Demo {
    process: Server,
    /// The dashboard's base URL (no `/` at the end).
    dashboard: String,
    /// The 10to8 simulator's base URL.
    tte: String,
    /// The HubSpot simulator's base URL.
    hubspot: String,
    /// How many contacts the first sync created in HubSpot, as printed.
    created_in_hubspot: u64,
}

impl Demo {
    /// Starts a small demo and reads its output until it prints the dashboard's URL.
    fn start(dir: &Path) -> Self {
        let mut child = Command::new(BIN)
            .args([
                "demo",
                "--customers",
                "30",
                "--contacts",
                "20",
                "--port",
                "0",
            ])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("demo.log")).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let process = Server(child);
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            // Reads to the end even when nobody listens any more: a closed pipe would make
            // the demo's next print fail.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut printed = String::new();
        let deadline = Instant::now() + PATIENCE;
        let dashboard = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = received
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the demo printed no dashboard URL:\n{printed}"));
            printed.push_str(&line);
            printed.push('\n');
            if let Some(url) = line.strip_prefix("Dashboard: ") {
                break url.trim().trim_end_matches('/').to_owned();
            }
        };
        let sims = printed
            .lines()
            .find_map(|l| l.strip_prefix("Simulators: 10to8 at "))
            .unwrap_or_else(|| panic!("no simulator URLs in:\n{printed}"));
        let tte = sims.split_whitespace().next().unwrap().to_owned();
        let hubspot = sims
            .split("HubSpot at ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap()
            .to_owned();
        let created_in_hubspot = printed
            .lines()
            .find_map(|l| l.trim().strip_prefix("to HubSpot: "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no sync summary in:\n{printed}"));
        Self {
            process,
            dashboard,
            tte,
            hubspot,
            created_in_hubspot,
        }
    }

    /// Stops the demo as Ctrl-C would and asserts it exits 0.
    fn stop(&mut self) {
        support::signal(&self.process.0, "-INT");
        let exit = self.process.wait();
        assert!(exit.success(), "the demo exited with {exit}");
    }
}

/// A headless Chromium session through chromedriver's W3C WebDriver HTTP API.
struct Browser {
    http: reqwest::Client,
    session_url: String,
    _driver: Server,
}

impl Browser {
    async fn start(dir: &Path) -> Self {
        let port = free_port();
        let driver = Server(
            Command::new(chromedriver())
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.join("chromedriver.log")).unwrap())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start chromedriver ({e}); apt-get install chromium-driver")
                }),
        );
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        eventually("chromedriver is ready", || async {
            match http.get(format!("{base}/status")).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .is_ok_and(|s| s["value"]["ready"] == true),
                Err(_) => false,
            }
        })
        .await;
        let profile = dir.join("chromium-profile");
        let mut options = json!({
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
            ]
        });
        if let Some(chromium) = on_path("chromium") {
            options["binary"] = json!(chromium);
        }
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": options,
            }}
        });
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver did not start a session: {created}"));
        Self {
            session_url: format!("{base}/session/{session}"),
            http,
            _driver: driver,
        }
    }

    /// One WebDriver command; `Err` carries WebDriver's error code (e.g. `no such element`).
    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.session_url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        match answer["value"]["error"].as_str() {
            Some(error) => Err(format!("{error}: {}", answer["value"]["message"])),
            None => Ok(answer["value"].clone()),
        }
    }

    async fn expect(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.command(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
    }

    async fn goto(&self, url: &str) {
        self.expect(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn title(&self) -> String {
        let title = self.expect(reqwest::Method::GET, "/title", None).await;
        title.as_str().unwrap().to_owned()
    }

    async fn current_url(&self) -> String {
        let url = self.expect(reqwest::Method::GET, "/url", None).await;
        url.as_str().unwrap().to_owned()
    }

    /// The elements matching a CSS selector (their WebDriver ids).
    async fn find_all(&self, css: &str) -> Vec<String> {
        let found = self
            .expect(
                reqwest::Method::POST,
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e[ELEMENT_KEY].as_str().unwrap().to_owned())
            .collect()
    }

    /// The rendered text of the first element matching `css`, if there is one.
    async fn try_text_of(&self, css: &str) -> Option<String> {
        let element = self.find_all(css).await.into_iter().next()?;
        let text = self
            .command(
                reqwest::Method::GET,
                &format!("/element/{element}/text"),
                None,
            )
            .await
            .ok()?;
        Some(text.as_str().unwrap_or_default().to_owned())
    }

    async fn text_of(&self, css: &str) -> String {
        self.try_text_of(css)
            .await
            .unwrap_or_else(|| panic!("the page has no {css}"))
    }

    async fn click(&self, element: &str) {
        self.expect(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn quit(&self) {
        let _ = self.command(reqwest::Method::DELETE, "", None).await;
    }
}

/// The chromedriver to run: `TTE_SYNC_TEST_CHROMIUM` when it names a file, else the one on
/// `PATH`.
fn chromedriver() -> PathBuf {
    std::env::var_os("TTE_SYNC_TEST_CHROMIUM")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| on_path("chromedriver"))
        .unwrap_or_else(|| {
            panic!("chromedriver is not on PATH: apt-get install chromium chromium-driver")
        })
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}
