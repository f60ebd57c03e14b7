//! `tte-sync setup`: makes both systems ready for sync, idempotently. The CRM gets the
//! mapping's custom properties and a webhook subscription to `<public_url>/webhooks/<crm>`;
//! 10to8 gets a customer subscription to `<public_url>/webhooks/tte/<token>`, with the token
//! made once and kept in the store ([`tte_subscription`](crate::tte_subscription)). Prints each thing looked at; a second run changes nothing.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tte_sync_core::connector::{SetupAction, SetupReport};
use tte_sync_core::mapping::catalog::check_catalog;
use url::Url;

use crate::app::App;
use crate::config::Config;

/// Options of `tte-sync setup`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The config file.
    #[arg(long, short, env = "TTE_SYNC_CONFIG")]
    config: PathBuf,
    /// Show what would change without changing anything.
    #[arg(long)]
    dry_run: bool,
    /// Write the files the CRM's app needs (those no API applies, which the CRM's own tools
    /// deploy) into this app project folder, instead of printing them.
    #[arg(long, value_name = "APP_DIR")]
    write_app_config: Option<PathBuf>,
}

/// Runs setup and prints what changed.
///
/// # Errors
/// When loading fails, `server.public_url` is unset, or either system refuses a call.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    crate::logging::init(&config.log)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let app = App::load(config).await?;
        let report = setup(&app, args.dry_run).await?;
        print_report(&report, args.dry_run)?;
        deliver_files(&report, args.write_app_config.as_deref(), args.dry_run)?;
        // What setup does not create has to be in the CRM already: the same check as
        // `mapping check --online`.
        let fits = if args.dry_run {
            let catalog = app
                .connector
                .describe()
                .await
                .with_context(|| format!("reading the {} properties", app.connector.name()))?;
            let check = check_catalog(&app.mapping, &catalog);
            crate::mapping_cmd::report_catalog(&check, "the CRM's properties")?
        } else {
            true
        };
        app.store.close().await;
        Ok(if fits {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

/// Sets up the CRM and 10to8 for `app`; with `dry_run`, only reports what would change.
///
/// # Errors
/// When `server.public_url` is unset, or a system or the store refuses a call.
pub async fn setup(app: &App, dry_run: bool) -> anyhow::Result<SetupReport> {
    let public_url = app.required_public_url()?;
    let mut report = SetupReport::default();
    let connector = app.connector.name();
    match app.connector.setup() {
        Some(setup) => {
            let properties = setup
                .ensure_properties(app.mapping.property_specs(), dry_run)
                .await
                .with_context(|| format!("creating the {connector} properties"))?;
            report.changes.extend(properties.changes);
            let callback = join(&public_url, &format!("webhooks/{connector}"))?;
            let subscriptions = setup
                .ensure_subscriptions(&callback, app.mapping.crm_properties(), dry_run)
                .await
                .with_context(|| format!("subscribing to {connector} webhooks"))?;
            report.changes.extend(subscriptions.changes);
            report.files.extend(subscriptions.files);
        }
        None => tracing::info!(
            connector,
            "The connector has no setup; skipping the CRM side."
        ),
    }
    report
        .changes
        .extend(crate::tte_subscription::ensure(app, &public_url, dry_run).await?);
    Ok(report)
}

/// `public_url` + a relative path, keeping any path prefix of `public_url`.
fn join(public_url: &Url, path: &str) -> anyhow::Result<Url> {
    Url::parse(&format!(
        "{}{path}",
        crate::tte_subscription::slash(public_url)
    ))
    .with_context(|| format!("`server.public_url` + `{path}` is not a valid URL"))
}

fn action_word(action: SetupAction, dry_run: bool) -> &'static str {
    match (action, dry_run) {
        (SetupAction::Created, false) => "created",
        (SetupAction::Created, true) => "would create",
        (SetupAction::Updated, false) => "updated",
        (SetupAction::Updated, true) => "would update",
        (SetupAction::Unchanged, _) => "unchanged",
        (SetupAction::Mismatch, _) => "MISMATCH",
        (SetupAction::Manual, _) => "TO DO",
    }
}

/// Prints one line per thing looked at, then a summary line.
fn print_report(report: &SetupReport, dry_run: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for item in &report.changes {
        writeln!(
            out,
            "{:<13} {}{}",
            action_word(item.action, dry_run),
            item.target,
            if item.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", item.detail)
            }
        )?;
    }
    let summary = match (report.changed_anything(), dry_run) {
        (false, _) => "Nothing changed: everything was already set up.",
        (true, true) => "Dry run: nothing was changed.",
        (true, false) => "Setup done.",
    };
    writeln!(out, "{summary}")?;
    if report
        .changes
        .iter()
        .any(|c| c.action == SetupAction::Mismatch)
    {
        writeln!(
            out,
            "Some things differ in ways setup does not fix on its own; see MISMATCH lines."
        )?;
    }
    if report
        .changes
        .iter()
        .any(|c| c.action == SetupAction::Manual)
    {
        writeln!(
            out,
            "Some steps have no API and are yours to do; see TO DO lines."
        )?;
    }
    Ok(())
}

/// Writes the files setup made into `app_dir`, or prints them when no folder is given (or on
/// a dry run, which writes nothing).
fn deliver_files(
    report: &SetupReport,
    app_dir: Option<&std::path::Path>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for file in &report.files {
        match app_dir.filter(|_| !dry_run) {
            Some(dir) => {
                let path = dir.join(&file.path);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).with_context(|| {
                        format!("creating {}; check `--write-app-config`", parent.display())
                    })?;
                }
                let unchanged = std::fs::read_to_string(&path).is_ok_and(|c| c == file.contents);
                if !unchanged {
                    std::fs::write(&path, &file.contents)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
                writeln!(
                    out,
                    "{:<13} {} ({})",
                    if unchanged { "unchanged" } else { "wrote" },
                    path.display(),
                    file.instructions
                )?;
            }
            None => {
                writeln!(out, "\n{} — {}:", file.path, file.instructions)?;
                writeln!(out, "{}", file.contents)?;
                writeln!(
                    out,
                    "(`--write-app-config <APP_DIR>` writes it into the app's project folder.)"
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_a_path_prefix() {
        let base: Url = "https://sync.example.com/tte".parse().unwrap();
        assert_eq!(
            join(&base, "webhooks/crm").unwrap().as_str(),
            "https://sync.example.com/tte/webhooks/crm"
        );
        let bare: Url = "https://sync.example.com".parse().unwrap();
        assert_eq!(
            join(&bare, "webhooks/tte/x").unwrap().as_str(),
            "https://sync.example.com/webhooks/tte/x"
        );
    }
}
