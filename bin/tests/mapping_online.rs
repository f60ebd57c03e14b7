//! `tte-sync mapping check --online` and `setup --dry-run` check every CRM property a mapping
//! names against the CRM's own list (the real binary against the HubSpot simulator): a
//! mistyped one is reported at the mapping file's line with the closest real name; without
//! `--online` the command says the properties were not checked.

mod support;

use std::path::{Path, PathBuf};

use support::{ServeOptions, run, scratch_dir, setup, text, write_config};

const DEFAULT_MAPPING: &str = include_str!("../../mappings/hubspot.yaml");

/// The line of the default mapping that names `lastname`.
fn lastname_line() -> usize {
    DEFAULT_MAPPING
        .lines()
        .position(|line| line.contains("[firstname, lastname]"))
        .expect("the default mapping splits the name")
        + 1
}

/// The default mapping with `lastname` mistyped, written to `dir`.
fn mistyped_mapping(dir: &Path) -> PathBuf {
    let path = dir.join("mistyped.yaml");
    std::fs::write(
        &path,
        DEFAULT_MAPPING.replace("[firstname, lastname]", "[firstname, lastnme]"),
    )
    .unwrap();
    path
}

async fn mapping_check(file: &Path, online_config: Option<&Path>) -> std::process::Output {
    let mut args = vec!["mapping".into(), "check".into(), file.display().to_string()];
    if let Some(config) = online_config {
        args.extend([
            "--online".into(),
            "--config".into(),
            config.display().to_string(),
        ]);
    }
    run(args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_check_reports_a_mistyped_property_at_its_line_with_a_suggestion() {
    let (hubspot, tte) = support::start_simulators().await;
    let dir = scratch_dir("mapping-online");
    let config = write_config(&dir, &hubspot, &tte, &ServeOptions::sqlite_in(&dir));
    let mistyped = mistyped_mapping(&dir);

    let output = mapping_check(&mistyped, Some(&config)).await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let at = format!("{}:{}:", mistyped.display(), lastname_line());
    assert!(
        stderr.contains(&at) && stderr.contains("error[M016]: the CRM has no property `lastnme`"),
        "file:line and what is wrong: {stderr}"
    );
    assert!(
        stderr.contains("hint: did you mean `lastname`?"),
        "{stderr}"
    );

    // The shipped mapping fits; before setup it says what setup will create.
    let default = dir.join("default.yaml");
    std::fs::write(&default, DEFAULT_MAPPING).unwrap();
    let output = mapping_check(&default, Some(&config)).await;
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        stdout.contains("not there yet (`tte-sync setup` creates them): tte_customer_sync_status"),
        "{stdout}"
    );
    setup(&config).await;
    let output = mapping_check(&default, Some(&config)).await;
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        stdout.contains("CRM properties: all fit the CRM's properties\n"),
        "{stdout}"
    );

    // Offline, HubSpot ships no catalog (each portal has its own properties): said, not skipped.
    let output = mapping_check(&mistyped, None).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout)
            .contains("CRM properties: not checked: the connector ships no catalog; use --online"),
        "{}",
        text(&output.stdout)
    );

    // `--online` needs the credentials of a config.
    let output = run(vec![
        "mapping".into(),
        "check".into(),
        mistyped.display().to_string(),
        "--online".into(),
    ])
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("--config"),
        "{}",
        text(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_dry_run_checks_the_properties_setup_will_not_create() {
    let (hubspot, tte) = support::start_simulators().await;
    let dir = scratch_dir("setup-dry-run-catalog");
    let config = write_config(&dir, &hubspot, &tte, &ServeOptions::sqlite_in(&dir));
    let mistyped = mistyped_mapping(&dir);
    let mut text_of_config = std::fs::read_to_string(&config).unwrap();
    text_of_config.push_str(&format!("mapping: \"{}\"\n", mistyped.display()));
    std::fs::write(&config, text_of_config).unwrap();

    let output = run(vec![
        "setup".into(),
        "--config".into(),
        config.display().to_string(),
        "--dry-run".into(),
    ])
    .await;
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:{}:", mistyped.display(), lastname_line()))
            && stderr.contains("did you mean `lastname`?"),
        "{stderr}"
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("would create") && stdout.contains("tte_customer_uri"),
        "the properties setup creates are not the problem: {stdout}"
    );
    assert_eq!(
        hubspot.stats().with_status(201),
        0,
        "a dry run creates nothing"
    );
}
