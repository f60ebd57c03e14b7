//! The engine's crash test for any registered connector with a simulator (features `testkit`
//! and `simulator`): a host binary's `sync` is run against the 10to8 simulator and the
//! connector's own, killed (SIGKILL, as in a crash) at random points of a first full sync and
//! restarted each time; then one run to the end must leave one CRM record per customer, no
//! two records or customers naming the same partner, no email on two customers, and a last
//! run must write nothing.
//!
//! Everything CRM-specific comes from the registry: the simulator through its hook, the
//! connector config that points at it, the connector built from that config and its default
//! mapping (which names the id and status properties the checks read).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;

use super::MemoryTokenStore;
use crate::connector::registry::{self, SimulatorOptions};
use crate::connector::{ConnectorContext, CrmConnector, ListQuery};
use crate::mapping::Mapping;
use crate::simulate::SplitMix64;
use crate::tte::simulator::{TteSimConfig, TteSimulator};

/// How a status of a record held as a possible duplicate starts.
const POSSIBLE_DUPLICATE: &str = "Possible duplicate of";

/// What to crash and how often.
#[derive(Debug, Clone)]
pub struct CrashTest {
    /// The host binary (`env!("CARGO_BIN_EXE_…")`) with the connector linked in.
    pub binary: PathBuf,
    /// The registered connector, which must have a simulator.
    pub connector: &'static str,
    /// The seed of the generated people and of the kill times.
    pub seed: u64,
    /// People `0..customers` of the seed become 10to8 customers.
    pub customers: u64,
    /// People `records.0..records.0 + records.1` become CRM records (an overlap with the
    /// customers is people on both sides, to be linked, never duplicated).
    pub records: (u64, u64),
    /// How many runs are killed.
    pub kills: usize,
    /// The longest a killed run lives; each is killed 50 ms plus a random part of this in.
    pub max_kill_delay: Duration,
}

/// What a crash test saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashReport {
    /// Runs killed before they finished (the rest had finished when the kill came).
    pub killed_mid_run: usize,
    /// Live customers and records after convergence (those held as possible duplicates left
    /// out).
    pub customers: usize,
    /// Live CRM records after convergence.
    pub records: usize,
}

impl CrashTest {
    /// The crash test every connector runs: 600 customers and 500 records of seed 11 with 200
    /// people on both sides, ten runs killed within 50 ms to 1.55 s.
    pub fn new(binary: impl Into<PathBuf>, connector: &'static str) -> Self {
        Self {
            binary: binary.into(),
            connector,
            seed: 11,
            customers: 600,
            records: (400, 500),
            kills: 10,
            max_kill_delay: Duration::from_millis(1_500),
        }
    }

    /// Runs the test.
    ///
    /// # Panics
    /// On every failed check, with a message saying which; also when the connector is not
    /// registered, has no simulator, or a simulator or the binary cannot be started.
    pub async fn run(&self) -> CrashReport {
        let plugin = registry::find(self.connector).expect("connector registered");
        let hook = plugin
            .simulator()
            .expect("the connector registers a simulator");
        let tte = TteSimulator::start(TteSimConfig::default(), 0)
            .await
            .expect("10to8 simulator");
        let options = SimulatorOptions {
            rate_limit_per_ten_seconds: Some(0),
            ..SimulatorOptions::on_port(0)
        };
        let crm_sim = hook.start(options).await.expect("CRM simulator");
        let mapping =
            Mapping::compile(plugin.default_mapping, "default mapping").expect("default mapping");
        let context = ConnectorContext {
            tokens: Arc::new(MemoryTokenStore::default()),
        };
        let crm = plugin
            .build(crm_sim.connector_config(), context)
            .expect("connector built against its simulator");
        if let Some(setup) = crm.setup() {
            setup
                .ensure_properties(mapping.property_specs(), false)
                .await
                .expect("properties");
        }
        tte.seed(self.seed, 0, self.customers, false);
        crm_sim.seed(self.seed, self.records.0, self.records.1);

        let dir = std::env::temp_dir().join(format!(
            "tte-sync-crash-{}-{}",
            self.connector,
            std::process::id()
        ));
        let config = write_config(&dir, &tte, self.connector, &crm_sim.connector_config());
        let killed_mid_run = self.kill_repeatedly(&config).await;
        assert!(
            killed_mid_run >= self.kills / 2,
            "only {killed_mid_run} of {} runs died mid-sync; most must for the test to mean \
             anything (seed more people)",
            self.kills
        );

        let (ok, first) = run_sync(&self.binary, &config, &[]).await;
        assert!(ok, "the run after the crashes succeeds: {first}");
        let (customers, records) = check_converged(&tte, crm.as_ref(), &mapping).await;

        let (_, plan) = run_sync(&self.binary, &config, &["--dry-run"]).await;
        let (ok, last) = run_sync(&self.binary, &config, &[]).await;
        assert!(ok, "the last run succeeds: {last}");
        assert_eq!(
            writes(&last),
            0,
            "converged, so the last run writes nothing; it wrote {last}, as planned: {}",
            plan["plan"]
        );
        let _ = std::fs::remove_dir_all(&dir);
        crm_sim.shutdown().await;
        CrashReport {
            killed_mid_run,
            customers,
            records,
        }
    }

    /// Starts and kills `sync` `kills` times; returns how many were still running.
    async fn kill_repeatedly(&self, config: &Path) -> usize {
        let mut rng = SplitMix64::new(self.seed);
        let max_ms = u64::try_from(self.max_kill_delay.as_millis()).unwrap_or(u64::MAX);
        let mut killed_mid_run = 0;
        for _ in 0..self.kills {
            let delay = Duration::from_millis(50 + rng.below(max_ms.max(1)));
            let binary = self.binary.clone();
            let config = config.to_owned();
            let killed = tokio::task::spawn_blocking(move || {
                let mut child = Command::new(binary)
                    .args(["sync", "--config"])
                    .arg(&config)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("the host binary starts");
                std::thread::sleep(delay);
                let running = child.try_wait().expect("child state").is_none();
                // SIGKILL: no shutdown code runs, as in a crash.
                let _ = child.kill();
                child.wait().expect("reaped");
                running
            })
            .await
            .expect("join");
            killed_mid_run += usize::from(killed);
        }
        killed_mid_run
    }
}

fn write_config(
    dir: &Path,
    tte: &TteSimulator,
    connector: &str,
    crm: &serde_json::Value,
) -> PathBuf {
    std::fs::create_dir_all(dir).expect("temp dir");
    let path = dir.join("tte-sync.yaml");
    // JSON is YAML: the connector's section goes in as its simulator gave it.
    let text = format!(
        "database: sqlite://{db}\n\
         tte:\n  api_base_url: {tte}\n  api_key: {key}\n  requests_per_second: 200\n\
         crm:\n  connector: {connector}\n  config: {crm}\n",
        db = dir.join("state.db").display(),
        tte = tte.base_url(),
        key = tte.api_key(),
    );
    std::fs::write(&path, text).expect("config written");
    path
}

/// Runs `sync --json` of `binary` with `config` and `extra` arguments to its end: whether it
/// succeeded, and the summary it printed.
///
/// # Panics
/// When the binary cannot be started or prints no JSON summary.
pub async fn run_sync(binary: &Path, config: &Path, extra: &[&str]) -> (bool, serde_json::Value) {
    let binary = binary.to_owned();
    let config = config.to_owned();
    let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(binary)
            .args(["sync", "--json", "--config"])
            .arg(&config)
            .args(&extra)
            .output()
            .expect("the host binary runs");
        let summary = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
            panic!(
                "sync printed no JSON summary; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.success(), summary)
    })
    .await
    .expect("join")
}

fn writes(summary: &serde_json::Value) -> u64 {
    ["to_crm", "to_hub"]
        .iter()
        .flat_map(|side| ["created", "updated", "deleted"].map(|k| (side, k)))
        .map(|(side, k)| summary[side][k].as_u64().unwrap_or(0))
        .sum()
}

/// Checks one record per customer and no duplicates; returns how many of each it saw.
async fn check_converged(
    tte: &TteSimulator,
    crm: &dyn CrmConnector,
    mapping: &Mapping,
) -> (usize, usize) {
    let identity = mapping.identity();
    let status = mapping.status();
    // People the match rules cannot tell apart from someone else on the other side are held
    // for a person to resolve (their status says so), never linked or copied: leave them out.
    let held = |status: &str| status.starts_with(POSSIBLE_DUPLICATE);
    let customers: Vec<_> = (tte.customers().into_iter())
        .filter(|c| {
            let note = status.and_then(|s| c.custom_fields.get(&s.hub_custom_field));
            !c.deleted && !note.is_some_and(|n| held(n))
        })
        .collect();
    let query = ListQuery {
        properties: mapping.crm_properties().to_vec(),
        archived: false,
    };
    let pages: Vec<Vec<_>> = crm.list(query).try_collect().await.expect("list");
    let records: Vec<_> = (pages.into_iter().flatten())
        .filter(|r| !status.is_some_and(|s| held(r.property(&s.crm_property))))
        .collect();
    assert_eq!(
        customers.len(),
        records.len(),
        "one CRM record per customer"
    );

    let uris: BTreeSet<&str> = records
        .iter()
        .map(|r| r.property(&identity.hub_id_property))
        .collect();
    assert_eq!(
        uris.len(),
        records.len(),
        "no two records name one customer"
    );
    let ids: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let mut named = HashSet::new();
    let mut primaries = HashSet::new();
    for customer in &customers {
        let uri = tte.customer_uri(customer.id);
        assert!(uris.contains(uri.as_str()), "customer {uri} has a record");
        let external = customer
            .custom_fields
            .get(&identity.crm_id_custom_field)
            .map_or("", String::as_str);
        assert!(ids.contains(external), "{external} is a live record");
        assert!(
            named.insert(external),
            "no two customers name record {external}"
        );
        // People on both sides were linked, never duplicated.
        if let Some(email) = customer.emails.first() {
            assert!(
                primaries.insert(email.to_lowercase()),
                "{email} is on one customer"
            );
        }
    }
    (customers.len(), records.len())
}
