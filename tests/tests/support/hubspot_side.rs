//! HubSpot as the CRM side of a world: its simulator and the HubSpot connector as a project
//! app with a static token, contacts read back through the default mapping's properties.

use std::sync::Arc;

use chrono::Utc;
use tte_sync_core::connector::{
    ChangeEvent, ChangeKind, ConnectorContext, ConnectorFactory, CrmConnector,
};
use tte_sync_core::mapping::valid_email;
use tte_sync_core::store::Store;
use tte_sync_core::tte::CustomerPatch;
use tte_sync_core::{CrmId, Secret};
use tte_sync_hubspot::simulator::{
    DEFAULT_APP_ID, DEFAULT_STATIC_APP_TOKEN, HubSpotSimulator, SimulatorConfig,
};
use tte_sync_hubspot::{HubSpotConfig, HubSpotConnector};
use url::Url;

use super::crm_side::{CrmPerson, CrmSide, Field, Origin, numeric};
use super::{CRM_STATUS, URI_PROPERTY};

/// The HubSpot user the tests' UI edits are made by.
const UI_USER: &str = "userId:882761034";

/// HubSpot's simulator and the connector pointed at it.
pub struct HubSpot {
    pub sim: HubSpotSimulator,
    pub connector: Arc<HubSpotConnector>,
}

/// A list the default mapping keeps as a primary property and a multi-line rest property, the
/// primary first; an empty primary (a placeholder) stays in place when others follow it.
fn list(primary: Option<&String>, rest: Option<&String>) -> Vec<String> {
    let rest: Vec<String> = rest
        .map(|text| {
            text.split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let primary = primary.cloned().unwrap_or_default();
    if primary.is_empty() && rest.is_empty() {
        return rest;
    }
    std::iter::once(primary).chain(rest).collect()
}

impl CrmSide for HubSpot {
    const NAME: &'static str = tte_sync_hubspot::NAME;
    const MAPPING: &'static str = HubSpotConnector::DEFAULT_MAPPING;
    type Config = SimulatorConfig;

    fn default_config() -> SimulatorConfig {
        SimulatorConfig::default()
    }

    async fn start(config: SimulatorConfig, store: &Store) -> Self {
        let sim = HubSpotSimulator::start(config, 0)
            .await
            .expect("HubSpot simulator starts");
        let mut config = HubSpotConfig::with_static_app_token(
            Url::parse(&sim.base_url()).expect("url"),
            Secret::new(DEFAULT_STATIC_APP_TOKEN),
        );
        config.app_id = Some(DEFAULT_APP_ID);
        let connector = HubSpotConnector::build(
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
        let (first, last) = name.split_once(' ').unwrap_or((name, ""));
        let mut properties = vec![("firstname", first), ("lastname", last)];
        properties.extend(email.map(|email| ("email", email)));
        properties.retain(|(_, value)| !value.is_empty());
        let id = self.sim.user_create(&properties, None).expect("create");
        id.to_string()
    }

    fn user_edit(&self, id: &str, field: Field, value: &str) {
        let properties = match field {
            Field::Name => {
                let (first, last) = value.split_once(' ').unwrap_or((value, ""));
                vec![("firstname", first), ("lastname", last)]
            }
            Field::Phone => vec![("phone", value)],
            Field::Email => vec![("email", value)],
        };
        self.sim
            .user_edit(numeric(id), &properties, None)
            .expect("edit");
    }

    fn user_delete(&self, id: &str) -> bool {
        self.sim.user_archive(numeric(id), None)
    }

    fn user_merge(&self, survivor: &str, merged: &str) {
        self.sim
            .user_merge(numeric(survivor), numeric(merged), None)
            .expect("merge");
    }

    fn record(&self, id: &str) -> Option<CrmPerson> {
        let (properties, archived) = self.sim.contact(numeric(id))?;
        let text = |name: &str| properties.get(name).cloned().unwrap_or_default();
        let name = [text("firstname"), text("lastname")]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Some(CrmPerson {
            name,
            emails: list(
                properties.get("email"),
                properties.get("tte_customer_secondary_emails"),
            ),
            phones: list(
                properties.get("phone"),
                properties.get("tte_customer_secondary_phone"),
            ),
            customer_uri: text(URI_PROPERTY),
            status: text(CRM_STATUS),
            gone: archived,
        })
    }

    fn writes(&self) -> u64 {
        let stats = self.sim.stats();
        stats
            .requests
            .iter()
            .filter(|r| {
                r.route.contains("/crm/objects/")
                    && !r.route.starts_with("GET ")
                    && !r.route.ends_with("/batch/read")
                    && !r.route.ends_with("/search")
            })
            .map(|r| r.count)
            .sum()
    }

    fn reset_stats(&self) {
        self.sim.reset_stats();
    }

    fn event(&self, id: &str, kind: ChangeKind, origin: Origin) -> ChangeEvent {
        let source_id = match origin {
            Origin::User => Some(UI_USER.to_owned()),
            Origin::OurWrite => Some(format!("app:{DEFAULT_APP_ID}")),
            Origin::Unattributed => None,
        };
        ChangeEvent {
            object_id: CrmId::from(id),
            kind,
            property: Some("phone".into()),
            value: None,
            occurred_at: Utc::now(),
            change_source: Some("CRM_UI".into()),
            source_id,
            account: None,
            event_id: None,
        }
    }

    fn takes_email(email: &str) -> bool {
        valid_email(email)
    }

    /// The other contact's email: HubSpot keeps emails unique.
    fn refused_edit(&self, other: &str) -> CustomerPatch {
        let emails = self.record(other).expect("the other contact").emails;
        let taken = emails.first().filter(|email| !email.is_empty());
        let taken = taken.unwrap_or_else(|| panic!("contact {other} has an email"));
        CustomerPatch {
            emails: Some(vec![taken.clone()]),
            ..CustomerPatch::default()
        }
    }
}
