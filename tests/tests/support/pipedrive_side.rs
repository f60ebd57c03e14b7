//! Pipedrive as the CRM side of a world: its simulator (without rate limits by default) and
//! the Pipedrive connector with an API token and webhook credentials (so that it recognises its
//! own echoes), persons read back as the v2 API shows them.

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};
use tte_sync_core::CrmId;
use tte_sync_core::connector::{
    ChangeEvent, ChangeKind, ConnectorContext, ConnectorFactory, CrmConnector,
};
use tte_sync_core::store::Store;
use tte_sync_core::tte::CustomerPatch;
use tte_sync_pipedrive::simulator::{APP_USER, PipedriveSimulator, SimulatorConfig};
use tte_sync_pipedrive::{PipedriveConfig, PipedriveConnector};

use super::crm_side::{CrmPerson, CrmSide, Field, Origin, numeric};
use super::{CRM_STATUS, URI_PROPERTY};

/// Pipedrive's simulator and the connector pointed at it.
pub struct Pipedrive {
    pub sim: PipedriveSimulator,
    pub connector: Arc<PipedriveConnector>,
}

/// The values of a person's `emails` or `phones`, the primary first.
fn values(items: &Value) -> Vec<String> {
    let items = items.as_array().cloned().unwrap_or_default();
    let (primary, rest): (Vec<&Value>, Vec<&Value>) =
        items.iter().partition(|item| item["primary"] == true);
    primary
        .into_iter()
        .chain(rest)
        .filter_map(|item| item["value"].as_str().map(str::to_owned))
        .collect()
}

impl CrmSide for Pipedrive {
    const NAME: &'static str = tte_sync_pipedrive::NAME;
    const MAPPING: &'static str = PipedriveConnector::DEFAULT_MAPPING;
    type Config = SimulatorConfig;

    /// Without rate limits: the suites' larger worlds would otherwise wait on the burst window.
    fn default_config() -> SimulatorConfig {
        SimulatorConfig::default().unlimited()
    }

    async fn start(config: SimulatorConfig, store: &Store) -> Self {
        let sim = PipedriveSimulator::start(config, 0)
            .await
            .expect("Pipedrive simulator starts");
        let config: PipedriveConfig = serde_json::from_value(json!({
            "api_base_url": sim.base_url(),
            "api_token": sim.config().api_token,
            "webhook_user": "tte-sync",
            "webhook_password": "engine-suite-password",
        }))
        .expect("config");
        let connector = PipedriveConnector::build(
            config,
            ConnectorContext {
                tokens: Arc::new(store.clone()),
            },
        )
        .expect("connector builds");
        Self {
            sim,
            connector: Arc::new(connector),
        }
    }

    fn connector(&self) -> Arc<dyn CrmConnector> {
        self.connector.clone()
    }

    fn seed(&self, seed: u64, start: u64, count: u64) -> Vec<String> {
        let ids = self.sim.seed(seed, start, count);
        ids.into_iter().map(|id| id.to_string()).collect()
    }

    fn user_create(&self, name: &str, email: Option<&str>) -> String {
        let mut person = json!({ "name": name });
        if let Some(email) = email {
            person["emails"] = json!([email]);
        }
        let created = self.sim.app_create(&person).expect("create");
        created["id"].to_string()
    }

    fn user_edit(&self, id: &str, field: Field, value: &str) {
        let edit = match field {
            Field::Name => json!({ "name": value }),
            Field::Phone => json!({ "phones": [value] }),
            Field::Email => json!({ "emails": [value] }),
        };
        self.sim.app_edit(numeric(id), &edit).expect("edit");
    }

    fn user_delete(&self, id: &str) -> bool {
        self.sim.app_delete(numeric(id)).is_ok()
    }

    fn user_merge(&self, survivor: &str, merged: &str) {
        self.sim
            .merge(numeric(merged), numeric(survivor))
            .expect("merge");
    }

    fn record(&self, id: &str) -> Option<CrmPerson> {
        let person = self.sim.person(numeric(id))?;
        let custom = |name: &str| {
            let key = self.sim.field_key(name).unwrap_or_default();
            person["custom_fields"][key]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        Some(CrmPerson {
            name: person["name"].as_str().unwrap_or_default().to_owned(),
            emails: values(&person["emails"]),
            phones: values(&person["phones"]),
            customer_uri: custom(URI_PROPERTY),
            status: custom(CRM_STATUS),
            gone: person["is_deleted"] == true,
        })
    }

    fn writes(&self) -> u64 {
        let stats = self.sim.stats();
        stats
            .requests
            .iter()
            .filter(|(route, _)| route.contains("/persons") && !route.starts_with("GET "))
            .map(|(_, count)| count)
            .sum()
    }

    fn reset_stats(&self) {
        self.sim.reset_stats();
    }

    fn event(&self, id: &str, kind: ChangeKind, origin: Origin) -> ChangeEvent {
        let (change_source, source_id) = match origin {
            Origin::User => ("app", Some(APP_USER.to_string())),
            Origin::OurWrite => ("api", Some(self.sim.config().user_id.to_string())),
            Origin::Unattributed => ("api", None),
        };
        ChangeEvent {
            object_id: CrmId::from(id),
            kind,
            property: Some("phones".into()),
            value: None,
            occurred_at: Utc::now(),
            change_source: Some(change_source.into()),
            source_id,
            account: None,
            event_id: None,
        }
    }

    /// Pipedrive takes any text as an email.
    fn takes_email(_email: &str) -> bool {
        true
    }

    /// No name: every Pipedrive person needs one (Pipedrive takes any email, on any number of
    /// persons).
    fn refused_edit(&self, _other: &str) -> CustomerPatch {
        CustomerPatch {
            name: Some(String::new()),
            ..CustomerPatch::default()
        }
    }
}
