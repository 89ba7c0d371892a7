//! `/api/audit`: the audit trail, for admins.

use std::collections::BTreeMap;
use std::sync::Arc;

use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;

use application::views::AuditRecord;

use crate::audit_json::audit_value_json;

use super::error::error_responses;
use super::fields::Text;
use super::rules::AuditAction;
use super::time::VenueTime;
use super::{page_of, BearerToken, PageParam, PerPageParam, Services, Tag};

/// Who did it, as their account is now.
#[derive(Object)]
#[oai(example)]
struct AuditActorResponse {
    id: i64,
    name: String,
    email: String,
}

impl poem_openapi::types::Example for AuditActorResponse {
    fn example() -> Self {
        AuditActorResponse {
            id: 1,
            name: "Administrator".into(),
            email: "admin@example.com".into(),
        }
    }
}

/// One entry of the audit trail.
#[derive(Object)]
#[oai(example)]
struct AuditEntryResponse {
    /// Increases with every entry written.
    id: i64,
    occurred_at: VenueTime,
    actor: AuditActorResponse,
    action: Text<AuditAction>,
    /// `booking`, `user` or `event`.
    target_type: String,
    /// The booking's code, or the user's or event's id.
    target_id: String,
    /// What else is known of the action: `event_id` and `tickets` of a check-in; `from` and
    /// `to` of a role change; `bookings_cancelled` and `bookings_refunded` of a cancelled event;
    /// `name` of a deleted event; nothing for the rest.
    details: BTreeMap<String, Value>,
}

impl poem_openapi::types::Example for AuditEntryResponse {
    fn example() -> Self {
        AuditEntryResponse {
            id: 42,
            occurred_at: VenueTime::new(
                chrono::DateTime::parse_from_rfc3339("2026-12-01T12:30:00Z")
                    .map(|time| time.with_timezone(&chrono::Utc))
                    .unwrap_or_default(),
                chrono::FixedOffset::east_opt(7 * 3600)
                    .unwrap_or(chrono::FixedOffset::east_opt(0).expect("UTC")),
            ),
            actor: AuditActorResponse::example(),
            action: "booking_checked_in".into(),
            target_type: "booking".into(),
            target_id: "BKG-7XK2P".into(),
            details: BTreeMap::from([
                ("event_id".to_string(), Value::from(3)),
                ("tickets".to_string(), Value::from(2)),
            ]),
        }
    }
}

impl AuditEntryResponse {
    /// The entry, its time at the venue's offset.
    fn new(record: &AuditRecord, venue_offset: chrono::FixedOffset) -> Self {
        AuditEntryResponse {
            id: record.id,
            occurred_at: VenueTime::new(record.occurred_at, venue_offset),
            actor: AuditActorResponse {
                id: record.actor.id.0,
                name: record.actor.name.clone(),
                email: record.actor.email.clone(),
            },
            action: record.action.as_str().into(),
            target_type: record.target_type.as_str().to_string(),
            target_id: record.target_id.clone(),
            details: record
                .details
                .iter()
                .map(|(name, value)| (name.clone(), audit_value_json(value)))
                .collect(),
        }
    }
}

#[derive(ApiResponse)]
enum AuditListResponse {
    /// One page of the trail, newest first; the total is in `X-Total-Count`.
    #[oai(status = 200)]
    Ok(
        Json<Vec<AuditEntryResponse>>,
        #[oai(header = "X-Total-Count")] u64,
    ),
}

error_responses!(AuditErrors {
    /// Bad paging parameters, or an action the trail does not record; `details` says which.
    BadRequest = 400 [ValidationFailed],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only an admin may read the audit trail.
    Forbidden = 403 [Forbidden],
});

pub struct AuditApi {
    services: Arc<Services>,
}

impl AuditApi {
    pub fn new(services: Arc<Services>) -> Self {
        AuditApi { services }
    }
}

#[OpenApi(prefix_path = "/api/audit", tag = "Tag::Audit")]
impl AuditApi {
    /// The audit trail.
    ///
    /// Admins only. Who checked a guest in, changed a role, deactivated an account, reset a
    /// password, cancelled or deleted an event, and when; newest first, one page at a time.
    #[oai(path = "/", method = "get", operation_id = "listAuditEntries")]
    async fn list(
        &self,
        auth: BearerToken,
        /// Only entries of this action.
        action: Query<Option<Text<AuditAction>>>,
        page: PageParam,
        per_page: PerPageParam,
    ) -> Result<AuditListResponse, AuditErrors> {
        let actor = self.services.actor(&auth).await?;
        let page = page_of(page, per_page)?;
        let entries = self
            .services
            .audit
            .list(&actor, action.0.as_deref(), page)
            .await?;
        Ok(AuditListResponse::Ok(
            Json(
                entries
                    .items
                    .iter()
                    .map(|entry| AuditEntryResponse::new(entry, self.services.venue_offset))
                    .collect(),
            ),
            entries.total,
        ))
    }
}
