//! `sync` shows a long pass moving wherever its stderr goes: text lines when stderr is not a
//! terminal (here, a pipe), NDJSON lines with `--progress=json` — each phase opens and closes
//! with a line — while `--json` still
//! prints only the summary on stdout.

mod support;

use support::{ServeOptions, run, scratch_dir, text, write_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_reports_progress_as_text_or_ndjson_on_stderr() {
    let (hubspot, tte) = support::start_simulators().await;
    tte.seed(5, 0, 60, false);
    hubspot.seed(5, 30, 60);
    let dir = scratch_dir("sync-progress");
    let options = ServeOptions {
        tte_requests_per_second: 200.0,
        ..ServeOptions::sqlite_in(&dir)
    };
    let config = write_config(&dir, &hubspot, &tte, &options);
    support::setup(&config).await;
    let config = config.display().to_string();

    let output = run(vec![
        "sync".into(),
        "--config".into(),
        config.clone(),
        "--json".into(),
        "--progress=json".into(),
    ])
    .await;
    // The exit code says whether records failed (some seeded emails HubSpot refuses, by
    // design); this test is about what is printed.
    let stderr = text(&output.stderr);
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not the JSON summary ({e}): {}",
            text(&output.stdout)
        )
    });
    assert!(summary.is_object(), "{summary}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 2, "no progress lines: {stderr}");
    let finished: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["finished"] == true).collect();
    assert!(!finished.is_empty(), "no phase was closed: {stderr}");
    let reading = finished
        .iter()
        .find(|l| l["phase"] == "reading")
        .unwrap_or_else(|| panic!("no closed reading phase: {stderr}"));
    assert!(reading["done"].as_u64().unwrap() >= 120, "{reading}");
    assert!(
        finished.iter().any(|l| l["phase"] == "writing"),
        "no closed writing phase: {stderr}"
    );

    // Not a terminal and no `--progress`: readable lines.
    let output = run(vec!["sync".into(), "--config".into(), config]).await;
    let stderr = text(&output.stderr);
    assert!(stderr.contains("progress: reading"), "{stderr}");
    assert!(stderr.contains("done, after"), "{stderr}");
}
