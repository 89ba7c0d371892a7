//! Organisers' webhook endpoints, and the delivery of what happened to them.
//!
//! What happened is recorded by the stores with the change itself (the outbox,
//! `domain::notification`); here it is turned into one delivery per endpoint that wants it,
//! claimed by one process at a time, and its attempts recorded on the domain's `RetryPolicy`.

use std::sync::Arc;

use domain::notification::{AfterFailure, NoticeKind, RetryPolicy};
use domain::user::UserId;
use domain::Timestamp;

use crate::auth::{require_admin, Actor, Denied};
use crate::ports::{Clock, Page, Paged, StoreError, WebhookRepository};

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
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Parked => "parked",
        }
    }

    pub fn parse(name: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Parked,
        ]
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
    pub booking_code: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_attempt_at: Option<Timestamp>,
    /// What the last attempt got: the receiver's status, or why nothing was received.
    pub last_outcome: Option<String>,
    pub delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// A delivery claimed by this process: what to send, where, signed with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub id: DeliveryId,
    pub endpoint_id: WebhookId,
    pub notification_id: i64,
    pub kind: NoticeKind,
    pub booking_code: String,
    pub occurred_at: Timestamp,
    pub recorded_at: Timestamp,
    pub url: String,
    pub secret: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The body sent by an earlier attempt, sent again as it was.
    pub body: Option<String>,
}

/// What one attempt of a delivery came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub at: Timestamp,
    /// The exact body sent (kept for the attempts after it).
    pub body: String,
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

pub struct WebhookService {
    webhooks: Arc<dyn WebhookRepository>,
    clock: Arc<dyn Clock>,
    retries: RetryPolicy,
}

impl WebhookService {
    pub fn new(
        webhooks: Arc<dyn WebhookRepository>,
        clock: Arc<dyn Clock>,
        retries: RetryPolicy,
    ) -> Self {
        WebhookService {
            webhooks,
            clock,
            retries,
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
            .webhooks
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
        Ok(self.webhooks.endpoints().await?)
    }

    pub async fn delete(&self, actor: &Actor, id: WebhookId) -> Result<(), WebhookError> {
        require_admin(actor)?;
        if self.webhooks.delete_endpoint(id).await? {
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
        self.webhooks
            .deliveries(id, page)
            .await?
            .ok_or(WebhookError::NotFound(id))
    }

    /// Fans recorded notifications out and claims the deliveries due now, each for `lease`.
    pub async fn claim_due(
        &self,
        lease: chrono::Duration,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let now = self.clock.now();
        while self.webhooks.fan_out(limit, now).await? == limit {}
        self.webhooks.claim_due(now, now + lease, limit).await
    }

    /// Records an attempt of `delivery` that sent `body` and got `outcome`; `jitter` in `[0, 1)`
    /// spreads the next attempt of a failure.
    pub async fn record_attempt(
        &self,
        delivery: &DueDelivery,
        body: String,
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
        self.webhooks
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
        if next == NextStep::Park {
            let last_delivered = self
                .webhooks
                .last_delivered_at(delivery.endpoint_id)
                .await?;
            if self.retries.disables_endpoint(last_delivered, now) {
                self.webhooks
                    .disable_endpoint(delivery.endpoint_id, now, reason)
                    .await?;
            }
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockWebhookRepository};
    use chrono::{Duration, TimeZone, Utc};
    use domain::user::Role;
    use futures_executor::block_on;

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap()
    }

    fn service(webhooks: MockWebhookRepository) -> WebhookService {
        let mut clock = MockClock::new();
        clock.expect_now().return_const(now());
        WebhookService::new(Arc::new(webhooks), Arc::new(clock), RetryPolicy::default())
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
            endpoint_id: WebhookId(2),
            notification_id: 4,
            kind: NoticeKind::BookingPaid,
            booking_code: "BKG-ABCDE".into(),
            occurred_at: recorded_at,
            recorded_at,
            url: "https://hooks.example.com".into(),
            secret: "s".into(),
            attempts,
            body: None,
        }
    }

    #[test]
    fn only_admins_manage_endpoints() {
        let mut webhooks = MockWebhookRepository::new();
        webhooks.expect_create_endpoint().never();
        webhooks.expect_endpoints().never();
        webhooks.expect_delete_endpoint().never();
        let svc = service(webhooks);
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
        let mut webhooks = MockWebhookRepository::new();
        webhooks
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
        let svc = service(webhooks);
        let admin = actor(Role::Admin);
        block_on(svc.register(&admin, "https://x.example".into(), vec![], "s".into())).unwrap();
        let mut named = NoticeKind::ALL.to_vec();
        named.reverse();
        named.push(NoticeKind::BookingPaid);
        block_on(svc.register(&admin, "https://x.example".into(), named, "s".into())).unwrap();
    }

    #[test]
    fn a_failure_is_retried_on_the_policy_then_parked() {
        let mut webhooks = MockWebhookRepository::new();
        webhooks
            .expect_record_attempt()
            .returning(|_, _| Ok(()))
            .times(3);
        webhooks
            .expect_last_delivered_at()
            .returning(|_| Ok(Some(now() - Duration::hours(30))));
        webhooks
            .expect_disable_endpoint()
            .withf(|id, at, reason| {
                *id == WebhookId(2) && *at == now() && reason.contains("HTTP 500")
            })
            .returning(|_, _, _| Ok(()))
            .times(1);
        let svc = service(webhooks);
        let fresh = due(now() - Duration::minutes(1), 0);
        assert_eq!(
            block_on(svc.record_attempt(&fresh, "{}".into(), Err("HTTP 500".into()), 0.0)),
            Ok(NextStep::RetryAt(now() + Duration::seconds(10)))
        );
        let stale = due(now() - Duration::hours(25), 7);
        assert_eq!(
            block_on(svc.record_attempt(&stale, "{}".into(), Err("HTTP 500".into()), 0.0)),
            Ok(NextStep::Park)
        );
        assert_eq!(
            block_on(svc.record_attempt(&stale, "{}".into(), Ok("HTTP 204".into()), 0.0)),
            Ok(NextStep::Delivered)
        );
    }
}
