//! The memory store's outbox: notifications recorded under the lock of the change they tell,
//! webhook endpoints, and their deliveries.

use std::collections::{BTreeMap, VecDeque};

use async_trait::async_trait;

use application::ports::{Page, Paged, StoreError, WebhookRepository};
use application::webhooks::{
    AttemptRecord, Delivery, DeliveryId, DeliveryState, DueDelivery, NewWebhookEndpoint, NextStep,
    WebhookEndpoint, WebhookId,
};
use domain::booking::BookingCode;
use domain::notification::Notice;
use domain::Timestamp;

use super::MemoryStore;

#[derive(Default)]
pub(super) struct Webhooks {
    /// Recorded, not yet turned into deliveries.
    to_fan_out: VecDeque<RecordedNotice>,
    endpoints: BTreeMap<WebhookId, EndpointRecord>,
    deliveries: BTreeMap<i64, DeliveryRecord>,
    last_notification: i64,
    last_endpoint: i64,
    last_delivery: i64,
}

#[derive(Clone)]
struct RecordedNotice {
    id: i64,
    notice: Notice,
    booking_code: BookingCode,
    recorded_at: Timestamp,
}

struct EndpointRecord {
    endpoint: WebhookEndpoint,
    secret: String,
}

struct DeliveryRecord {
    notice: RecordedNotice,
    endpoint: WebhookId,
    state: DeliveryState,
    attempts: u32,
    next_attempt_at: Timestamp,
    last_attempt_at: Option<Timestamp>,
    last_outcome: Option<String>,
    delivered_at: Option<Timestamp>,
    body: Option<String>,
    created_at: Timestamp,
}

impl Webhooks {
    /// Records what a change told, with the change, while an endpoint listens.
    pub fn record(&mut self, notice: Notice, booking_code: BookingCode, now: Timestamp) {
        let listened = self
            .endpoints
            .values()
            .any(|record| record.endpoint.disabled_at.is_none());
        if !listened {
            return;
        }
        self.last_notification += 1;
        self.to_fan_out.push_back(RecordedNotice {
            id: self.last_notification,
            notice,
            booking_code,
            recorded_at: now,
        });
    }
}

impl DeliveryRecord {
    fn view(&self, id: i64) -> Delivery {
        Delivery {
            id: DeliveryId(id),
            notification_id: self.notice.id,
            kind: self.notice.notice.kind,
            booking_code: self.notice.booking_code.to_string(),
            state: self.state,
            attempts: self.attempts,
            next_attempt_at: (self.state == DeliveryState::Pending).then_some(self.next_attempt_at),
            last_attempt_at: self.last_attempt_at,
            last_outcome: self.last_outcome.clone(),
            delivered_at: self.delivered_at,
            created_at: self.created_at,
        }
    }
}

#[async_trait]
impl WebhookRepository for MemoryStore {
    async fn create_endpoint(
        &self,
        endpoint: NewWebhookEndpoint,
    ) -> Result<WebhookEndpoint, StoreError> {
        let mut state = self.locked()?;
        let webhooks = &mut state.webhooks;
        webhooks.last_endpoint += 1;
        let id = WebhookId(webhooks.last_endpoint);
        let view = WebhookEndpoint {
            id,
            url: endpoint.url,
            kinds: endpoint.kinds,
            created_at: endpoint.created_at,
            disabled_at: None,
            disabled_reason: None,
        };
        webhooks.endpoints.insert(
            id,
            EndpointRecord {
                endpoint: view.clone(),
                secret: endpoint.secret,
            },
        );
        Ok(view)
    }

    async fn endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let state = self.locked()?;
        Ok(state
            .webhooks
            .endpoints
            .values()
            .map(|record| record.endpoint.clone())
            .collect())
    }

    async fn delete_endpoint(&self, id: WebhookId) -> Result<bool, StoreError> {
        let mut state = self.locked()?;
        let webhooks = &mut state.webhooks;
        let found = webhooks.endpoints.remove(&id).is_some();
        webhooks
            .deliveries
            .retain(|_, delivery| delivery.endpoint != id);
        Ok(found)
    }

    async fn deliveries(
        &self,
        id: WebhookId,
        page: Page,
    ) -> Result<Option<Paged<Delivery>>, StoreError> {
        let state = self.locked()?;
        let webhooks = &state.webhooks;
        if !webhooks.endpoints.contains_key(&id) {
            return Ok(None);
        }
        let of_endpoint: Vec<(&i64, &DeliveryRecord)> = webhooks
            .deliveries
            .iter()
            .rev()
            .filter(|(_, delivery)| delivery.endpoint == id)
            .collect();
        Ok(Some(Paged {
            total: of_endpoint.len() as u64,
            items: of_endpoint
                .into_iter()
                .skip(page.offset())
                .take(page.per_page as usize)
                .map(|(id, delivery)| delivery.view(*id))
                .collect(),
        }))
    }

    async fn fan_out(&self, limit: usize, now: Timestamp) -> Result<usize, StoreError> {
        let mut state = self.locked()?;
        let webhooks = &mut state.webhooks;
        let taken = webhooks.to_fan_out.len().min(limit);
        let notices: Vec<RecordedNotice> = webhooks.to_fan_out.drain(..taken).collect();
        for notice in notices {
            let wanting: Vec<WebhookId> = webhooks
                .endpoints
                .values()
                .filter(|record| {
                    record.endpoint.disabled_at.is_none()
                        && record.endpoint.kinds.contains(&notice.notice.kind)
                })
                .map(|record| record.endpoint.id)
                .collect();
            for endpoint in wanting {
                webhooks.last_delivery += 1;
                webhooks.deliveries.insert(
                    webhooks.last_delivery,
                    DeliveryRecord {
                        notice: notice.clone(),
                        endpoint,
                        state: DeliveryState::Pending,
                        attempts: 0,
                        next_attempt_at: now,
                        last_attempt_at: None,
                        last_outcome: None,
                        delivered_at: None,
                        body: None,
                        created_at: now,
                    },
                );
            }
        }
        Ok(taken)
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let mut state = self.locked()?;
        let webhooks = &mut state.webhooks;
        let mut due = Vec::new();
        for (id, delivery) in webhooks.deliveries.iter_mut() {
            if due.len() == limit {
                break;
            }
            if delivery.state != DeliveryState::Pending || delivery.next_attempt_at > now {
                continue;
            }
            let Some(endpoint) = webhooks.endpoints.get(&delivery.endpoint) else {
                continue;
            };
            delivery.next_attempt_at = lease_until;
            if endpoint.endpoint.disabled_at.is_some() {
                continue;
            }
            due.push(DueDelivery {
                id: DeliveryId(*id),
                endpoint_id: delivery.endpoint,
                notification_id: delivery.notice.id,
                kind: delivery.notice.notice.kind,
                booking_code: delivery.notice.booking_code.to_string(),
                occurred_at: delivery.notice.notice.at,
                recorded_at: delivery.notice.recorded_at,
                url: endpoint.endpoint.url.clone(),
                secret: endpoint.secret.clone(),
                attempts: delivery.attempts,
                body: delivery.body.clone(),
            });
        }
        Ok(due)
    }

    async fn record_attempt(
        &self,
        id: DeliveryId,
        attempt: AttemptRecord,
    ) -> Result<(), StoreError> {
        let mut state = self.locked()?;
        let Some(delivery) = state.webhooks.deliveries.get_mut(&id.0) else {
            // Its endpoint was removed meanwhile.
            return Ok(());
        };
        if delivery.state == DeliveryState::Delivered {
            return Ok(());
        }
        // An attempt is counted even when its delivery was parked meanwhile (its endpoint
        // disabled by another attempt); it then moves the delivery only if it arrived.
        let pending = delivery.state == DeliveryState::Pending;
        delivery.attempts += 1;
        delivery.last_attempt_at = Some(attempt.at);
        delivery.last_outcome = Some(attempt.outcome);
        delivery.body.get_or_insert(attempt.body);
        match attempt.next {
            NextStep::Delivered => {
                delivery.state = DeliveryState::Delivered;
                delivery.delivered_at = Some(attempt.at);
            }
            NextStep::RetryAt(at) if pending => delivery.next_attempt_at = at,
            NextStep::Park if pending => delivery.state = DeliveryState::Parked,
            NextStep::RetryAt(_) | NextStep::Park => {}
        }
        Ok(())
    }

    async fn last_delivered_at(&self, id: WebhookId) -> Result<Option<Timestamp>, StoreError> {
        let state = self.locked()?;
        Ok(state
            .webhooks
            .deliveries
            .values()
            .filter(|delivery| delivery.endpoint == id)
            .filter_map(|delivery| delivery.delivered_at)
            .max())
    }

    async fn disable_endpoint(
        &self,
        id: WebhookId,
        at: Timestamp,
        reason: String,
    ) -> Result<(), StoreError> {
        let mut state = self.locked()?;
        let webhooks = &mut state.webhooks;
        let Some(record) = webhooks.endpoints.get_mut(&id) else {
            return Ok(());
        };
        if record.endpoint.disabled_at.is_some() {
            return Ok(());
        }
        record.endpoint.disabled_at = Some(at);
        record.endpoint.disabled_reason = Some(reason);
        for delivery in webhooks.deliveries.values_mut() {
            if delivery.endpoint == id && delivery.state == DeliveryState::Pending {
                delivery.state = DeliveryState::Parked;
            }
        }
        Ok(())
    }
}
