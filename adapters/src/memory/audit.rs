//! The audit trail, written under the store's lock by the very commands it records, so that an
//! entry exists exactly when its command happened.

use std::collections::BTreeMap;

use async_trait::async_trait;

use application::ports::{AuditFilter, AuditLog, Page, Paged, StoreError};
use application::views::{AuditActor, AuditRecord};
use domain::audit::{AuditEntry, AuditStamp};
use domain::Timestamp;

use super::state::State;
use super::MemoryStore;

/// Every entry, keyed by time then id: the trail is read from the end.
#[derive(Default)]
pub(super) struct AuditTrail {
    entries: BTreeMap<(Timestamp, i64), AuditEntry>,
    last_id: i64,
}

impl AuditTrail {
    pub fn record(&mut self, entries: impl IntoIterator<Item = AuditEntry>) {
        for entry in entries {
            self.last_id += 1;
            self.entries.insert((entry.at, self.last_id), entry);
        }
    }
}

impl State {
    /// Refuses a command stamped with an account that does not exist, before it changes
    /// anything, as PostgreSQL's foreign key refuses its entry and rolls the command back.
    pub fn check_actor(&self, stamp: &AuditStamp) -> Result<(), StoreError> {
        if self.users.exists(stamp.actor) {
            Ok(())
        } else {
            Err(StoreError::Unexpected(format!(
                "the acting user {} does not exist",
                stamp.actor
            )))
        }
    }

    fn audit_record(&self, id: i64, entry: &AuditEntry) -> Result<AuditRecord, StoreError> {
        let actor = self.users.get(entry.actor).ok_or_else(|| {
            StoreError::Unexpected(format!(
                "audit entry {id} names user {}, who does not exist",
                entry.actor
            ))
        })?;
        Ok(AuditRecord {
            id,
            occurred_at: entry.at,
            actor: AuditActor {
                id: actor.id,
                name: actor.name.as_str().to_string(),
                email: actor.email.as_str().to_string(),
            },
            action: entry.action.kind(),
            target_type: entry.action.target_type(),
            target_id: entry.action.target_id(),
            details: entry.action.details(),
        })
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn list(
        &self,
        filter: AuditFilter,
        page: Page,
    ) -> Result<Paged<AuditRecord>, StoreError> {
        let state = self.locked()?;
        let matching = state.audit.entries.iter().rev().filter(|(_, entry)| {
            filter
                .action
                .is_none_or(|action| action == entry.action.kind())
        });
        let total = matching.clone().count() as u64;
        let items = matching
            .skip(page.offset())
            .take(page.per_page as usize)
            .map(|((_, id), entry)| state.audit_record(*id, entry))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Paged { items, total })
    }
}
