//! Reading both sides whole for a full pass: every live customer, every live and archived
//! record, every stored link, streamed page by page.

use std::collections::{HashMap, HashSet};

use futures_util::TryStreamExt;
use tracing::debug;

use super::{ReconcileOptions, Sides};
use crate::connector::ListQuery;
use crate::engine::{Engine, EngineError};

impl Engine {
    pub(super) async fn read_sides(
        &self,
        options: &ReconcileOptions,
    ) -> Result<Sides, EngineError> {
        if let Some(progress) = &options.progress {
            progress.phase("reading", 0);
        }
        let mut customers = Vec::new();
        let mut deleted = 0_usize;
        let mut pages = self.tte.list(true);
        while let Some(page) = pages.try_next().await? {
            if let Some(progress) = &options.progress {
                progress.advance(page.len() as u64);
            }
            for customer in page {
                if customer.deleted {
                    deleted += 1;
                } else if !customer.resource_uri.is_empty() {
                    customers.push(customer);
                }
            }
        }
        let mut records = HashMap::new();
        let query = ListQuery {
            properties: self.mapping.crm_properties().to_vec(),
            archived: false,
        };
        let mut pages = self.crm.list(query);
        while let Some(page) = pages.try_next().await? {
            if let Some(progress) = &options.progress {
                progress.advance(page.len() as u64);
            }
            for record in page {
                records.insert(record.id.clone(), record);
            }
        }
        drop(pages);
        let mut archived = HashSet::new();
        let query = ListQuery {
            properties: Vec::new(),
            archived: true,
        };
        let mut pages = self.crm.list(query);
        while let Some(page) = pages.try_next().await? {
            archived.extend(page.into_iter().map(|r| r.id));
        }
        drop(pages);
        let mut links = HashMap::new();
        let mut pages = self.store.links(self.connector(), 1_000);
        while let Some(page) = pages.try_next().await? {
            for link in page {
                links.insert(link.hub_uri.as_str().to_owned(), link);
            }
        }
        debug!(
            customers = customers.len(),
            deleted,
            records = records.len(),
            links = links.len(),
            "Read both sides."
        );
        Ok(Sides {
            customers,
            records,
            links,
            hub_times: HashMap::new(),
            archived: Some(archived),
            hold_creates: HashMap::new(),
            apart: self.kept_apart().await?,
            held_back: HashSet::new(),
        })
    }
}
