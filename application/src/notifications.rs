//! Telling the world what happened: organisers' webhook endpoints, and e-mail to buyers.
//!
//! What happened is recorded by the stores with the change itself (the outbox,
//! `domain::notification`); here it is turned into deliveries (one per endpoint that wants it,
//! one e-mail to the buyer when e-mail is on and the kind is e-mailed), claimed by one process at
//! a time, and their attempts recorded on the domain's `RetryPolicy`.

use std::sync::Arc;

use domain::event::EventId;
use domain::notification::{AfterFailure, NoticeKind, RetryPolicy};
use domain::user::UserId;
use domain::Timestamp;

use crate::auth::{require_admin, Actor, Denied};
use crate::ports::{Clock, NotificationRepository, Page, Paged, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookId(pub i64);

impl std::fmt::Display for WebhookId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryId(pub i64);

/// An endpoint as admins see it (never its secret, which is shown once, at registration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookId,
    pub url: String,
    pub kinds: Vec<NoticeKind>,
    pub created_at: Timestamp,
    pub disabled_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
}

/// An endpoint to register: its URL already checked by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhookEndpoint {
    pub url: String,
    pub kinds: Vec<NoticeKind>,
    pub secret: String,
    pub created_at: Timestamp,
    pub created_by: UserId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not yet arrived: tried again at `next_attempt_at`.
    Pending,
    Delivered,
    /// Failed for longer than the retry policy allows: tried no more.
    Parked,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 3] = [
        DeliveryState::Pending,
        DeliveryState::Delivered,
        DeliveryState::Parked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Parked => "parked",
        }
    }

    pub fn parse(name: &str) -> Option<DeliveryState> {
        DeliveryState::ALL
            .into_iter()
            .find(|state| state.as_str() == name)
    }
}

/// One notification's delivery to one endpoint, as admins see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: DeliveryId,
    /// The notification's id: the same in every attempt, and in the body, for receivers to
    /// recognise a redelivery.
    pub notification_id: i64,
    pub kind: NoticeKind,
    /// The booking it tells of; `None` for a show's own notification.
    pub booking_code: Option<String>,
    pub event_id: EventId,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_attempt_at: Option<Timestamp>,
    /// What the last attempt got: the receiver's status, or why nothing was received.
    pub last_outcome: Option<String>,
    pub delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// Where a delivery goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryTarget {
    /// An organiser's endpoint, and the secret its deliveries are signed with.
    Webhook {
        endpoint_id: WebhookId,
        url: String,
        secret: String,
    },
    /// The buyer's e-mail address, as their account has it when sent.
    BuyerEmail,
}

/// A delivery claimed by this process: what to send, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub id: DeliveryId,
    pub target: DeliveryTarget,
    pub notification_id: i64,
    pub kind: NoticeKind,
    /// The booking it tells of; `None` for a show's own notification.
    pub booking_code: Option<String>,
    pub event_id: EventId,
    pub occurred_at: Timestamp,
    pub recorded_at: Timestamp,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The body sent by an earlier attempt, sent again as it was.
    pub body: Option<String>,
}

/// What one attempt of a delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub at: Timestamp,
    /// The exact body sent to a webhook (kept for the attempts after it).
    pub body: Option<String>,
    /// The receiver's status, or why nothing was received.
    pub outcome: String,
    pub next: NextStep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    RetryAt(Timestamp),
    Park,
}

/// Registering or listing endpoints: only an admin may.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManageWebhooksError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A command on one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("no webhook endpoint {0}")]
    NotFound(WebhookId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a delivery that arrived stays listed for admins before it is forgotten.
pub const DELIVERED_KEPT_FOR: chrono::Duration = chrono::Duration::days(30);

pub struct NotificationService {
    store: Arc<dyn NotificationRepository>,
    clock: Arc<dyn Clock>,
    retries: RetryPolicy,
    /// Whether buyers are e-mailed (an SMTP server is configured).
    buyer_emails: bool,
}

impl NotificationService {
    pub fn new(
        store: Arc<dyn NotificationRepository>,
        clock: Arc<dyn Clock>,
        retries: RetryPolicy,
        buyer_emails: bool,
    ) -> Self {
        NotificationService {
            store,
            clock,
            retries,
            buyer_emails,
        }
    }

    /// Registers an endpoint at `url` (checked by the caller) for `kinds` (every kind when
    /// empty), signed with `secret`.
    pub async fn register(
        &self,
        actor: &Actor,
        url: String,
        kinds: Vec<NoticeKind>,
        secret: String,
    ) -> Result<WebhookEndpoint, ManageWebhooksError> {
        require_admin(actor)?;
        let mut kinds = if kinds.is_empty() {
            NoticeKind::ALL.to_vec()
        } else {
            kinds
        };
        kinds.sort();
        kinds.dedup();
        Ok(self
            .store
            .create_endpoint(NewWebhookEndpoint {
                url,
                kinds,
                secret,
                created_at: self.clock.now(),
                created_by: actor.id,
            })
            .await?)
    }

    pub async fn list(&self, actor: &Actor) -> Result<Vec<WebhookEndpoint>, ManageWebhooksError> {
        require_admin(actor)?;
        Ok(self.store.endpoints().await?)
    }

    pub async fn delete(&self, actor: &Actor, id: WebhookId) -> Result<(), WebhookError> {
        require_admin(actor)?;
        if self.store.delete_endpoint(id).await? {
            Ok(())
        } else {
            Err(WebhookError::NotFound(id))
        }
    }

    pub async fn deliveries(
        &self,
        actor: &Actor,
        id: WebhookId,
        page: Page,
    ) -> Result<Paged<Delivery>, WebhookError> {
        require_admin(actor)?;
        self.store
            .deliveries(id, page)
            .await?
            .ok_or(WebhookError::NotFound(id))
    }

    /// The e-mails to buyers, newest first (only those in `state` when given): what was sent,
    /// what is still being tried, and what was parked.
    pub async fn emails(
        &self,
        actor: &Actor,
        state: Option<DeliveryState>,
        page: Page,
    ) -> Result<Paged<Delivery>, ManageWebhooksError> {
        require_admin(actor)?;
        Ok(self.store.email_deliveries(state, page).await?)
    }

    /// Forgets what arrived more than [`DELIVERED_KEPT_FOR`] ago (what is parked or still being
    /// tried is kept); returns how many deliveries it forgot.
    pub async fn forget_delivered(&self) -> Result<u64, StoreError> {
        self.store
            .forget_delivered(self.clock.now() - DELIVERED_KEPT_FOR)
            .await
    }

    /// Fans recorded notifications out and claims the deliveries due now, each for `lease`.
    pub async fn claim_due(
        &self,
        lease: chrono::Duration,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let now = self.clock.now();
        let emailed: Vec<NoticeKind> = NoticeKind::ALL
            .into_iter()
            .filter(|kind| self.buyer_emails && kind.emails_the_buyer())
            .collect();
        while self.store.fan_out(limit, now, emailed.clone()).await? == limit {}
        self.store.claim_due(now, now + lease, limit).await
    }

    /// Records an attempt of `delivery` that sent `body` (a webhook's) and got `outcome`;
    /// `jitter` in `[0, 1)` spreads the next attempt of a failure.
    pub async fn record_attempt(
        &self,
        delivery: &DueDelivery,
        body: Option<String>,
        outcome: Result<String, String>,
        jitter: f64,
    ) -> Result<NextStep, StoreError> {
        let now = self.clock.now();
        let (next, outcome) = match outcome {
            Ok(outcome) => (NextStep::Delivered, outcome),
            Err(outcome) => {
                let next = match self.retries.after_failure(
                    delivery.attempts + 1,
                    delivery.recorded_at,
                    now,
                    jitter,
                ) {
                    AfterFailure::RetryAt(at) => NextStep::RetryAt(at),
                    AfterFailure::Park => NextStep::Park,
                };
                (next, outcome)
            }
        };
        let reason = format!(
            "deliveries failed for {} hours; the last got: {outcome}",
            self.retries.give_up_after.num_hours()
        );
        self.store
            .record_attempt(
                delivery.id,
                AttemptRecord {
                    at: now,
                    body,
                    outcome,
                    next,
                },
            )
            .await?;
        if let (NextStep::Park, DeliveryTarget::Webhook { endpoint_id, .. }) =
            (next, &delivery.target)
        {
            let last_delivered = self.store.last_delivered_at(*endpoint_id).await?;
            if self.retries.disables_endpoint(last_delivered, now) {
                self.store
                    .disable_endpoint(*endpoint_id, now, reason)
                    .await?;
            }
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockNotificationRepository};
    use chrono::{Duration, TimeZone, Utc};
    use domain::user::Role;
    use futures_executor::block_on;

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap()
    }

    fn service(store: MockNotificationRepository) -> NotificationService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        NotificationService::new(
            Arc::new(store),
            Arc::new(clock),
            RetryPolicy::default(),
            false,
        )
    }

    fn actor(role: Role) -> Actor {
        Actor {
            id: UserId(1),
            role,
        }
    }

    fn due(recorded_at: Timestamp, attempts: u32) -> DueDelivery {
        DueDelivery {
            id: DeliveryId(9),
            target: DeliveryTarget::Webhook {
                endpoint_id: WebhookId(2),
                url: "https://hooks.example.com".into(),
                secret: "s".into(),
            },
            notification_id: 4,
            kind: NoticeKind::BookingPaid,
            booking_code: Some("BKG-ABCDE".into()),
            event_id: EventId(3),
            occurred_at: recorded_at,
            recorded_at,
            attempts,
            body: None,
        }
    }

    #[test]
    fn only_admins_manage_endpoints() {
        let mut store = MockNotificationRepository::new();
        store.expect_create_endpoint().never();
        store.expect_endpoints().never();
        store.expect_delete_endpoint().never();
        let svc = service(store);
        for role in [Role::Customer, Role::Checker] {
            let someone = actor(role);
            let register = svc.register(&someone, "https://x.example".into(), vec![], "s".into());
            assert!(matches!(
                block_on(register),
                Err(ManageWebhooksError::Denied(_))
            ));
            assert!(matches!(
                block_on(svc.list(&someone)),
                Err(ManageWebhooksError::Denied(_))
            ));
            assert!(matches!(
                block_on(svc.delete(&someone, WebhookId(1))),
                Err(WebhookError::Denied(_))
            ));
        }
    }

    #[test]
    fn an_endpoint_naming_no_kind_wants_every_kind_once_each() {
        let mut store = MockNotificationRepository::new();
        store
            .expect_create_endpoint()
            .withf(|endpoint| endpoint.kinds == NoticeKind::ALL.to_vec())
            .returning(|endpoint| {
                Ok(WebhookEndpoint {
                    id: WebhookId(1),
                    url: endpoint.url,
                    kinds: endpoint.kinds,
                    created_at: endpoint.created_at,
                    disabled_at: None,
                    disabled_reason: None,
                })
            })
            .times(2);
        let svc = service(store);
        let admin = actor(Role::Admin);
        block_on(svc.register(&admin, "https://x.example".into(), vec![], "s".into())).unwrap();
        let mut named = NoticeKind::ALL.to_vec();
        named.reverse();
        named.push(NoticeKind::BookingPaid);
        block_on(svc.register(&admin, "https://x.example".into(), named, "s".into())).unwrap();
    }

    #[test]
    fn a_failure_is_retried_on_the_policy_then_parked() {
        let mut store = MockNotificationRepository::new();
        store
            .expect_record_attempt()
            .returning(|_, _| Ok(()))
            .times(3);
        store
            .expect_last_delivered_at()
            .returning(|_| Ok(Some(now() - Duration::hours(30))));
        store
            .expect_disable_endpoint()
            .withf(|id, at, reason| {
                *id == WebhookId(2) && *at == now() && reason.contains("HTTP 500")
            })
            .returning(|_, _, _| Ok(()))
            .times(1);
        let svc = service(store);
        let fresh = due(now() - Duration::minutes(1), 0);
        assert_eq!(
            block_on(svc.record_attempt(&fresh, Some("{}".into()), Err("HTTP 500".into()), 0.0)),
            Ok(NextStep::RetryAt(now() + Duration::seconds(10)))
        );
        let stale = due(now() - Duration::hours(25), 7);
        assert_eq!(
            block_on(svc.record_attempt(&stale, Some("{}".into()), Err("HTTP 500".into()), 0.0)),
            Ok(NextStep::Park)
        );
        assert_eq!(
            block_on(svc.record_attempt(&stale, Some("{}".into()), Ok("HTTP 204".into()), 0.0)),
            Ok(NextStep::Delivered)
        );
    }
}
