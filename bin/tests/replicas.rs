//! Two `serve` replicas sharing one PostgreSQL database (a schema of the test's own, dropped
//! afterwards) against the same simulators: a burst of edits on both sides all arrives, the
//! inbox drains, nothing is dead-lettered or duplicated, and no object is worked on by both
//! replicas at once — checked from their JSON logs, where every live batch is logged when it
//! starts and finishes with the objects it holds.
//!
//! The simulators push every webhook to the first replica's URL (as one public URL behind a
//! load balancer would reach one of them); both replicas' workers claim from the shared inbox.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use support::{
    PgSchema, ServeOptions, Server, api_status, eventually_within, free_port, scratch_dir,
    wait_ready, write_config,
};

/// Edits made on each side.
const EDITS_PER_SIDE: usize = 200;
/// How long the burst may take to arrive and drain on a loaded debug build.
const BURST_PATIENCE: Duration = Duration::from_secs(600);
/// The log filter both replicas run with: the engine's batch lines are at debug.
const LOG_FILTER: &str = "info,tte_sync_core=debug";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "PostgreSQL: set TTE_SYNC_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test to run"
)]
async fn two_replicas_share_the_work_without_overlap_or_loss() {
    let started = Instant::now();
    let schema = PgSchema::create("tte_sync_replicas").await;
    let (hubspot, tte) = support::start_simulators().await;
    // 10to8 has people 0..300 and HubSpot people 150..450, 150 of them on both sides.
    tte.seed(13, 0, 300, false);
    hubspot.seed(13, 150, 300);
    let dir = scratch_dir("replicas");
    let replicas: Vec<(ServeOptions, std::path::PathBuf)> = ["a", "b"]
        .iter()
        .map(|name| {
            let replica_dir = dir.join(name);
            std::fs::create_dir_all(&replica_dir).unwrap();
            let options = ServeOptions {
                database: schema.url(),
                port: free_port(),
                json_logs: true,
                tte_requests_per_second: 50.0,
            };
            let config = write_config(&replica_dir, &hubspot, &tte, &options);
            (options, config)
        })
        .collect();
    // Setup points the webhooks at replica a.
    support::setup(&replicas[0].1).await;

    let http = reqwest::Client::new();
    let logs: Vec<std::path::PathBuf> = ["a", "b"]
        .iter()
        .map(|name| dir.join(format!("serve-{name}.log")))
        .collect();
    let mut servers: Vec<Server> = replicas
        .iter()
        .zip(&logs)
        .map(|((_, config), log)| Server::spawn(config, log, &[("RUST_LOG", LOG_FILTER)]))
        .collect();
    for (options, _) in &replicas {
        wait_ready(&http, &options.base_url()).await;
    }
    let base = replicas[0].0.base_url();
    support::wait_linked(&tte).await;
    eventually_within(
        BURST_PATIENCE,
        "the first reconcile's echoes are processed",
        || async {
            api_status(&http, &base)
                .await
                .is_some_and(|s| s["inbox"]["depth"] == 0)
        },
    )
    .await;
    let linked_at = started.elapsed();
    let pairs = support::linked_pairs(&tte);
    assert!(pairs.len() >= 2 * EDITS_PER_SIDE, "{} pairs", pairs.len());

    let burst = Instant::now();
    let (hub_edited, rest) = pairs.split_at(EDITS_PER_SIDE);
    let tte_edited = &rest[..EDITS_PER_SIDE];
    support::edit_both_sides(&hubspot, &tte, hub_edited, tte_edited);
    support::wait_edits_arrived(&hubspot, &tte, hub_edited, tte_edited, BURST_PATIENCE).await;
    let arrived = burst.elapsed();
    eventually_within(BURST_PATIENCE, "the inbox drains", || async {
        api_status(&http, &base)
            .await
            .is_some_and(|s| s["inbox"]["depth"] == 0)
    })
    .await;
    let drained = burst.elapsed();
    let status = api_status(&http, &base).await.unwrap();
    support::assert_nothing_failed(&status);

    // No duplicates: the same people on both sides, linked as before the burst.
    support::assert_same_people(&hubspot, &tte, &pairs);

    for server in &mut servers {
        server.sigterm();
        let exit = server.wait();
        assert!(exit.success(), "a replica exited with {exit}");
    }

    let batches: Vec<Vec<Batch>> = logs.iter().map(|log| batches(log)).collect();
    let overlaps = overlaps(&batches);
    assert!(
        overlaps.is_empty(),
        "objects worked on by both replicas at once: {overlaps:#?}"
    );
    let items: Vec<u64> = batches
        .iter()
        .map(|b| b.iter().map(|batch| batch.objects.len() as u64).sum())
        .collect();
    eprintln!(
        "two replicas: linked {} people in {:.1} s; {} + {} edits arrived in {:.1} s, \
         inbox drained in {:.1} s; live batches a/b: {}/{}, items a/b: {}/{}; whole test {:.1} s",
        pairs.len(),
        linked_at.as_secs_f64(),
        EDITS_PER_SIDE,
        EDITS_PER_SIDE,
        arrived.as_secs_f64(),
        drained.as_secs_f64(),
        batches[0].len(),
        batches[1].len(),
        items[0],
        items[1],
        started.elapsed().as_secs_f64()
    );
    hubspot.shutdown().await;
    tte.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// One live batch as logged: which replica and worker, the objects, and when.
#[derive(Debug, Clone)]
struct Batch {
    replica: usize,
    worker: String,
    objects: Vec<String>,
    started: DateTime<Utc>,
    /// `None` when the log ends before the batch finished.
    finished: Option<DateTime<Utc>>,
}

/// The live batches in a replica's JSON log, paired start to finish per worker.
fn batches(log: &Path) -> Vec<Batch> {
    let replica = usize::from(log.display().to_string().ends_with("-b.log"));
    let text = std::fs::read_to_string(log).unwrap();
    let mut open: BTreeMap<String, Batch> = BTreeMap::new();
    let mut done = Vec::new();
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            panic!("not a JSON log line in {}: {line}", log.display());
        };
        let message = entry["message"].as_str().unwrap_or_default();
        if message != "Live batch started." && message != "Live batch finished." {
            continue;
        }
        let field = |name: &str| {
            entry[name]
                .as_str()
                .unwrap_or_else(|| panic!("no `{name}` in {line}"))
                .to_owned()
        };
        let worker = field("worker");
        let at: DateTime<Utc> = field("timestamp").parse().unwrap();
        if message == "Live batch started." {
            let objects = field("objects")
                .split(' ')
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect();
            let batch = Batch {
                replica,
                worker: worker.clone(),
                objects,
                started: at,
                finished: None,
            };
            if let Some(unfinished) = open.insert(worker, batch) {
                panic!("a batch started before the last one finished: {unfinished:?}");
            }
        } else {
            let mut batch = open
                .remove(&worker)
                .unwrap_or_else(|| panic!("a batch finished that never started: {line}"));
            batch.finished = Some(at);
            done.push(batch);
        }
    }
    done.extend(open.into_values());
    done
}

/// Pairs of batches of different replicas that held one object at overlapping times.
fn overlaps(replicas: &[Vec<Batch>]) -> Vec<(String, String, String)> {
    let mut by_object: BTreeMap<&str, Vec<&Batch>> = BTreeMap::new();
    for batch in replicas.iter().flatten() {
        for object in &batch.objects {
            by_object.entry(object).or_default().push(batch);
        }
    }
    let mut found = Vec::new();
    for (object, mut held) in by_object {
        held.sort_by_key(|b| b.started);
        for (n, first) in held.iter().enumerate() {
            for later in &held[n + 1..] {
                let first_end = first.finished.unwrap_or(DateTime::<Utc>::MAX_UTC);
                if later.started >= first_end {
                    break;
                }
                if later.worker != first.worker {
                    found.push((
                        object.to_owned(),
                        format!(
                            "replica {} {} {}..{:?}",
                            first.replica, first.worker, first.started, first.finished
                        ),
                        format!(
                            "replica {} {} {}..{:?}",
                            later.replica, later.worker, later.started, later.finished
                        ),
                    ));
                }
            }
        }
    }
    found
}
