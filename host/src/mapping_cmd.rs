//! `tte-sync mapping …`: check a mapping file, print the schema of mapping files, and preview
//! what a mapping does to one record.
//!
//! Exit codes: 0 success; 1 the mapping file has errors (diagnostics on stderr, stdout empty);
//! 2 the command line or the input record is wrong (message on stderr).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Subcommand, ValueEnum};
use serde_json::Value;
use tte_sync_core::connector::{Catalog, registry};
use tte_sync_core::mapping::catalog::{CatalogCheck, check_catalog};
use tte_sync_core::mapping::{Mapping, SyncTime};
use tte_sync_core::record::PropertyValue;
use tte_sync_core::{CrmId, CrmRecord, Customer};

use crate::app::App;
use crate::config::Config;

/// The property that carries a CRM record's id in `apply --to hub` input (besides the one the
/// connector names, if any).
const CRM_ID_PROPERTY: &str = "id";

/// Exit code for a mapping with errors.
const EXIT_BAD_MAPPING: u8 = 1;
/// Exit code for bad input (the record, `--current`, `--now`).
const EXIT_BAD_INPUT: u8 = 2;

/// Mapping file tools.
#[derive(Debug, Subcommand)]
pub enum MappingCommand {
    /// Check a mapping file: a short summary and exit 0, or the diagnostics and exit 1.
    /// Every CRM property it names is checked against the catalog the connector ships, or,
    /// with `--online`, against the CRM itself.
    Check {
        /// The mapping file, e.g. mappings/hubspot.yaml.
        file: PathBuf,
        /// Check every CRM property against the CRM's own list of properties (`describe`),
        /// with the credentials of `--config`.
        #[arg(long, requires = "config")]
        online: bool,
        /// The config file whose CRM credentials `--online` uses.
        #[arg(long, short, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print the JSON Schema of mapping files (for editor completion).
    Schema,
    /// Map one record read as JSON on stdin and print the result as JSON.
    Apply {
        /// The mapping file.
        file: PathBuf,
        /// `crm`: the input is a 10to8 customer, the output the CRM properties to write.
        /// `hub`: the input is a CRM record's flat properties (with `hs_object_id`), the output
        /// the 10to8 fields to write.
        #[arg(long, value_enum)]
        to: Target,
        /// With `--to hub`: a JSON file with the current 10to8 customer.
        #[arg(long)]
        current: Option<PathBuf>,
        /// The sync time for `{now}` (RFC 3339); default: now.
        #[arg(long)]
        now: Option<String>,
    },
}

/// Which way `apply` maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// From a 10to8 customer to CRM properties.
    Crm,
    /// From CRM properties to 10to8 fields.
    Hub,
}

pub fn run(command: MappingCommand) -> anyhow::Result<ExitCode> {
    match command {
        MappingCommand::Check {
            file,
            online,
            config,
        } => check(&file, config.as_deref().filter(|_| online)),
        MappingCommand::Schema => {
            let schema = serde_json::to_string_pretty(&Mapping::schema())?;
            writeln!(std::io::stdout().lock(), "{schema}")?;
            Ok(ExitCode::SUCCESS)
        }
        MappingCommand::Apply {
            file,
            to,
            current,
            now,
        } => apply(&file, to, current.as_deref(), now.as_deref()),
    }
}

/// Loads a mapping, printing its diagnostics when it does not compile.
fn load(file: &Path) -> Option<Mapping> {
    match Mapping::load(file) {
        Ok(mapping) => Some(mapping),
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            None
        }
    }
}

fn check(file: &Path, online: Option<&Path>) -> anyhow::Result<ExitCode> {
    let Some(mapping) = load(file) else {
        return Ok(ExitCode::from(EXIT_BAD_MAPPING));
    };
    let catalog = match online {
        Some(config) => Some((online_catalog(config)?, "the CRM's properties")),
        None => registry::find(mapping.connector())
            .ok()
            .and_then(|plugin| plugin.shipped_catalog())
            .map(|catalog| (catalog, "the catalog the connector ships")),
    };
    if let Some((catalog, source)) = &catalog
        && !report_catalog(&check_catalog(&mapping, catalog), source)?
    {
        return Ok(ExitCode::from(EXIT_BAD_MAPPING));
    }
    writeln!(
        std::io::stdout().lock(),
        "{}: ok: connector {}, object {}, {} fields, {} properties to ensure",
        file.display(),
        mapping.connector(),
        mapping.object(),
        mapping.fields().len(),
        mapping.property_specs().len()
    )?;
    let identity = mapping.identity();
    let rules: Vec<String> = identity
        .match_rules
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut matching = if rules.is_empty() {
        "never-linked records are not matched: every one is created on the other side".to_owned()
    } else {
        format!(
            "never-linked records match by {} (phones read in {})",
            rules.join(", then "),
            identity.phone_region
        )
    };
    if let Some(held) = &identity.possible_duplicate {
        matching.push_str(&format!(
            "; known by {held} only, they are held as possible duplicates"
        ));
    }
    writeln!(std::io::stdout().lock(), "  {matching}")?;
    if catalog.is_none() {
        writeln!(
            std::io::stdout().lock(),
            "  CRM properties: not checked: the connector ships no catalog; use --online"
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The CRM's catalog, read with the credentials of the config at `config`.
fn online_catalog(config: &Path) -> anyhow::Result<Catalog> {
    let config = Config::load(config)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let app = App::load(config).await?;
        let catalog = app.connector.describe().await;
        app.store.close().await;
        catalog.with_context(|| format!("reading the {} properties", app.connector.name()))
    })
}

/// Prints what checking the mapping against `source` found: problems on stderr (then
/// `false`), else one line on stdout.
///
/// # Errors
/// When stdout or stderr cannot be written.
pub fn report_catalog(check: &CatalogCheck, source: &str) -> anyhow::Result<bool> {
    if !check.problems.is_empty() {
        let mut err = std::io::stderr().lock();
        for problem in &check.problems {
            writeln!(err, "{problem}")?;
        }
        let count = check.problems.len();
        writeln!(
            err,
            "{count} CRM propert{} of the mapping do{} not fit {source}",
            if count == 1 { "y" } else { "ies" },
            if count == 1 { "es" } else { "" }
        )?;
        return Ok(false);
    }
    let mut out = std::io::stdout().lock();
    write!(out, "  CRM properties: all fit {source}")?;
    if !check.to_create.is_empty() {
        write!(
            out,
            "; not there yet (`tte-sync setup` creates them): {}",
            check.to_create.join(", ")
        )?;
    }
    writeln!(out)?;
    Ok(true)
}

fn bad_input(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::from(EXIT_BAD_INPUT)
}

fn apply(
    file: &Path,
    to: Target,
    current: Option<&Path>,
    now: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let Some(mapping) = load(file) else {
        return Ok(ExitCode::from(EXIT_BAD_MAPPING));
    };
    let inputs = (|| -> anyhow::Result<_> {
        let now = match now {
            Some(text) => DateTime::parse_from_rfc3339(text)
                .with_context(|| {
                    format!("`--now {text}` is not an RFC 3339 time such as 2026-01-02T03:04:05Z")
                })?
                .with_timezone(&Utc),
            None => Utc::now(),
        };
        let current: Option<Customer> = current
            .map(|path| -> anyhow::Result<Customer> {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read `--current {}`", path.display()))?;
                serde_json::from_str(&text).with_context(|| {
                    format!(
                        "`--current {}` is not a 10to8 customer as JSON",
                        path.display()
                    )
                })
            })
            .transpose()?;
        if current.is_some() && to == Target::Crm {
            anyhow::bail!("`--current` goes with `--to hub` only");
        }
        let mut stdin = String::new();
        std::io::stdin()
            .read_to_string(&mut stdin)
            .context("cannot read the record from stdin")?;
        Ok((SyncTime::new(now), current, stdin))
    })();
    let (now, current, stdin) = match inputs {
        Ok(inputs) => inputs,
        Err(error) => return Ok(bad_input(&error)),
    };
    let output = match to {
        Target::Crm => {
            let customer: Customer = match serde_json::from_str(&stdin)
                .context("stdin is not a 10to8 customer as JSON ({resource_uri, name, emails, numbers, custom_fields})")
            {
                Ok(customer) => customer,
                Err(error) => return Ok(bad_input(&error)),
            };
            serde_json::to_value(mapping.to_crm(&customer, &now).properties)?
        }
        Target::Hub => {
            let id_property = registry::find(mapping.connector())
                .ok()
                .and_then(|plugin| plugin.id_property);
            let record = match crm_record(&stdin, id_property) {
                Ok(record) => record,
                Err(error) => return Ok(bad_input(&error)),
            };
            let mut out = mapping.to_hub(&record, current.as_ref(), &now);
            out.errors.clear();
            serde_json::to_value(out)?
        }
    };
    writeln!(
        std::io::stdout().lock(),
        "{}",
        serde_json::to_string_pretty(&output)?
    )?;
    Ok(ExitCode::SUCCESS)
}

/// A CRM record from flat JSON properties; nulls are absent, numbers and booleans become text,
/// an array of strings is a list whose first item is the primary.
fn crm_record(text: &str, id_property: Option<&str>) -> anyhow::Result<CrmRecord> {
    let object: BTreeMap<String, Value> = serde_json::from_str(text).context(
        "stdin is not a JSON object of CRM properties (e.g. {\"id\": \"1\", \"email\": \"…\"})",
    )?;
    let mut properties = BTreeMap::new();
    for (name, value) in object {
        let value = match value {
            Value::Null => continue,
            Value::String(s) => PropertyValue::Text(s),
            Value::Bool(_) | Value::Number(_) => PropertyValue::Text(value.to_string()),
            Value::Array(items) => {
                let items: Option<Vec<String>> = (items.into_iter())
                    .map(|item| item.as_str().map(str::to_owned))
                    .collect();
                let Some(items) = items else {
                    anyhow::bail!(
                        "property `{name}` is a list of something other than strings; a list \
                         property is an array of strings, the primary first"
                    )
                };
                PropertyValue::list(items)
            }
            Value::Object(_) => {
                anyhow::bail!(
                    "property `{name}` is an object; CRM properties are strings or arrays of \
                     strings"
                )
            }
        };
        properties.insert(name, value);
    }
    let id = (id_property.into_iter().chain([CRM_ID_PROPERTY]))
        .find_map(|p| properties.get(p))
        .map(|id| id.as_text().to_owned())
        .unwrap_or_default();
    Ok(CrmRecord {
        id: CrmId(id),
        properties,
        archived: false,
        updated_at: None,
    })
}
