//! Every error the binary prints says each thing once: each layer adds only what it knows,
//! and no cause is printed both inside a message and again as that message's source. Run
//! with a wrong 10to8 key (`sync`) and with an unreachable database (`sync`, `status`), which
//! is reported with what the network answered, not as a pool timeout.

mod support;

use std::path::Path;

use support::{ServeOptions, free_port, run, scratch_dir, text, write_config};

/// The clauses of an error line: split where layers join (`: `) and where hints start (`; `).
fn clauses(line: &str) -> Vec<String> {
    line.trim()
        .trim_start_matches("error: ")
        .split([':', ';'])
        .map(|part| part.trim().to_lowercase())
        .filter(|part| part.split_whitespace().count() >= 3)
        .collect()
}

/// Fails when any clause of length of three words or more appears twice in `stderr`.
fn assert_said_once(what: &str, stderr: &str) {
    assert!(!stderr.trim().is_empty(), "{what}: nothing on stderr");
    let mut seen = std::collections::BTreeSet::new();
    for line in stderr.lines().filter(|l| l.starts_with("error: ")) {
        for clause in clauses(line) {
            assert!(
                seen.insert(clause.clone()),
                "{what}: `{clause}` is said twice in:\n{stderr}"
            );
        }
    }
    assert!(!seen.is_empty(), "{what}: no error line in:\n{stderr}");
}

async fn tte_sync(args: &[&str], config: &Path) -> std::process::Output {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.push("--config".into());
    all.push(config.display().to_string());
    run(all).await
}

#[test]
fn the_clause_check_catches_a_repeat() {
    let repeated = "error: 10to8: 10to8 refused the API key (401); check tte.api_key: 10to8 \
                    refused the API key (401); check tte.api_key";
    let caught = std::panic::catch_unwind(|| assert_said_once("sample", repeated));
    assert!(caught.is_err());
    assert_said_once(
        "sample",
        "error: 10to8 refused the API key (401); check tte.api_key",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_10to8_key_and_an_unreachable_database_are_each_said_once() {
    let (hubspot, tte) = support::start_simulators().await;
    let dir = scratch_dir("errors-once");
    let options = ServeOptions::sqlite_in(&dir);
    let config = write_config(&dir, &hubspot, &tte, &options);
    let good = std::fs::read_to_string(&config).unwrap();
    // Past the check that the CRM has the mapping's properties, to reach 10to8.
    support::setup(&config).await;

    let wrong_key = good.replace(
        &format!("api_key: {}", tte.api_key()),
        "api_key: not-the-key",
    );
    assert_ne!(wrong_key, good);
    std::fs::write(&config, &wrong_key).unwrap();
    let output = tte_sync(&["sync"], &config).await;
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("refused the API key"), "{stderr}");
    assert_said_once("sync with a wrong 10to8 key", &stderr);

    // Nothing listens on this port: the database is unreachable.
    let unreachable = good.replace(
        &format!("database: \"{}\"", options.database),
        &format!(
            "database: \"postgres://tte@127.0.0.1:{}/tte?connect_timeout=2\"",
            free_port()
        ),
    );
    assert_ne!(unreachable, good);
    std::fs::write(&config, &unreachable).unwrap();
    for command in ["sync", "status"] {
        let output = tte_sync(&[command], &config).await;
        assert!(!output.status.success());
        let stderr = text(&output.stderr);
        assert!(stderr.contains("127.0.0.1"), "{command}: {stderr}");
        assert!(stderr.contains("Connection refused"), "{command}: {stderr}");
        assert_said_once(&format!("{command} with an unreachable database"), &stderr);
    }
}
