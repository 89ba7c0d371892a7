//! The audit trail, as admins read it: who did what to whom, and when, newest first.
//!
//! The entries themselves are written by the stores, in the same transaction (or under the same
//! lock) as the commands they record; see `ports::UserRepository::update` and its siblings.

use std::sync::Arc;

use domain::audit::AuditActionKind;
use domain::validation::ValidationErrors;

use crate::auth::{require_admin, Actor, Denied};
use crate::ports::{AuditFilter, AuditLog, Page, Paged, StoreError};
use crate::views::AuditRecord;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListAuditError {
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The action to filter on is not one the trail records.
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct AuditService {
    log: Arc<dyn AuditLog>,
}

impl AuditService {
    pub fn new(log: Arc<dyn AuditLog>) -> Self {
        AuditService { log }
    }

    /// One page of the trail, newest first; only entries of `action` when it is given.
    pub async fn list(
        &self,
        actor: &Actor,
        action: Option<&str>,
        page: Page,
    ) -> Result<Paged<AuditRecord>, ListAuditError> {
        require_admin(actor)?;
        let action = action
            .map(|name| AuditActionKind::parse(name.trim()))
            .transpose()
            .map_err(|problem| {
                ListAuditError::Invalid(ValidationErrors::single("action", problem))
            })?;
        Ok(self.log.list(AuditFilter { action }, page).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MockAuditLog;
    use domain::user::{Role, UserId};
    use futures_executor::block_on;

    fn actor(role: Role) -> Actor {
        Actor {
            id: UserId(5),
            role,
        }
    }

    #[test]
    fn only_admins_read_the_trail() {
        let mut log = MockAuditLog::new();
        log.expect_list().never();
        let service = AuditService::new(Arc::new(log));
        assert_eq!(
            block_on(service.list(&actor(Role::Customer), None, Page::default())).unwrap_err(),
            ListAuditError::Denied(Denied::AdminOnly)
        );
        // A customer learns nothing from the filter either: refused before it is read.
        assert_eq!(
            block_on(service.list(&actor(Role::Customer), Some("nonsense"), Page::default()))
                .unwrap_err(),
            ListAuditError::Denied(Denied::AdminOnly)
        );
    }

    #[test]
    fn an_unknown_action_is_invalid_and_never_reaches_the_store() {
        let mut log = MockAuditLog::new();
        log.expect_list().never();
        let service = AuditService::new(Arc::new(log));
        let Err(ListAuditError::Invalid(errors)) =
            block_on(service.list(&actor(Role::Admin), Some("event_renamed"), Page::default()))
        else {
            panic!("expected the action to be refused");
        };
        assert_eq!(errors.errors()[0].field, "action");
    }

    #[test]
    fn an_admin_gets_the_page_and_action_asked_for() {
        let mut log = MockAuditLog::new();
        log.expect_list()
            .withf(|filter, page| {
                filter.action == Some(AuditActionKind::UserRoleChanged) && *page == Page::new(3, 5)
            })
            .times(1)
            .returning(|_, _| {
                Ok(Paged {
                    items: Vec::new(),
                    total: 11,
                })
            });
        let service = AuditService::new(Arc::new(log));
        let listed = block_on(service.list(
            &actor(Role::Admin),
            Some("user_role_changed"),
            Page::new(3, 5),
        ))
        .expect("an admin reads the trail");
        assert_eq!(listed.total, 11);
    }
}
