//! The memory store's outbox: notifications recorded under the lock of the change they tell,
//! webhook endpoints, and the deliveries to them and to buyers' e-mail addresses.

use std::collections::{BTreeMap, VecDeque};

use async_trait::async_trait;

use application::notifications::{
    AttemptRecord, Delivery, DeliveryId, DeliveryState, DeliveryTarget, DueDelivery,
    NewWebhookEndpoint, NextStep, WebhookEndpoint, WebhookId,
};
use application::ports::{NotificationRepository, Page, Paged, StoreError};
use domain::booking::BookingCode;
use domain::notification::{Notice, NoticeKind};
use domain::Timestamp;

use super::MemoryStore;

#[derive(Default)]
pub(super) struct Outbox {
    /// Whether buyers are e-mailed: notifications are then recorded whoever else listens.
    pub buyer_emails: bool,
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
    /// The booking it tells of; `None` for a show's own notification.
    booking_code: Option<BookingCode>,
    recorded_at: Timestamp,
}

struct EndpointRecord {
    endpoint: WebhookEndpoint,
    secret: String,
}

struct DeliveryRecord {
    notice: RecordedNotice,
    /// The endpoint, or `None` for the buyer's e-mail.
    endpoint: Option<WebhookId>,
    state: DeliveryState,
    attempts: u32,
    next_attempt_at: Timestamp,
    last_attempt_at: Option<Timestamp>,
    last_outcome: Option<String>,
    delivered_at: Option<Timestamp>,
    body: Option<String>,
    created_at: Timestamp,
}

impl Outbox {
    /// Records what a change told, with the change, while buyers are e-mailed or an endpoint
    /// listens.
    pub fn record(&mut self, notice: Notice, booking_code: Option<BookingCode>, now: Timestamp) {
        let listened = self.buyer_emails
            || self
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

impl Outbox {
    /// One page of the deliveries `wanted` picks, newest first.
    fn page_of_deliveries(
        &self,
        page: Page,
        wanted: impl Fn(&DeliveryRecord) -> bool,
    ) -> Paged<Delivery> {
        let picked: Vec<(&i64, &DeliveryRecord)> = self
            .deliveries
            .iter()
            .rev()
            .filter(|(_, delivery)| wanted(delivery))
            .collect();
        Paged {
            total: picked.len() as u64,
            items: picked
                .into_iter()
                .skip(page.offset())
                .take(page.per_page as usize)
                .map(|(id, delivery)| delivery.view(*id))
                .collect(),
        }
    }
}

impl DeliveryRecord {
    fn view(&self, id: i64) -> Delivery {
        Delivery {
            id: DeliveryId(id),
            notification_id: self.notice.id,
            kind: self.notice.notice.kind,
            booking_code: self.notice.booking_code.as_ref().map(ToString::to_string),
            event_id: self.notice.notice.event,
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
impl NotificationRepository for MemoryStore {
    async fn create_endpoint(
        &self,
        endpoint: NewWebhookEndpoint,
    ) -> Result<WebhookEndpoint, StoreError> {
        let mut state = self.locked()?;
        let outbox = &mut state.outbox;
        outbox.last_endpoint += 1;
        let id = WebhookId(outbox.last_endpoint);
        let view = WebhookEndpoint {
            id,
            url: endpoint.url,
            kinds: endpoint.kinds,
            created_at: endpoint.created_at,
            disabled_at: None,
            disabled_reason: None,
        };
        outbox.endpoints.insert(
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
            .outbox
            .endpoints
            .values()
            .map(|record| record.endpoint.clone())
            .collect())
    }

    async fn delete_endpoint(&self, id: WebhookId) -> Result<bool, StoreError> {
        let mut state = self.locked()?;
        let outbox = &mut state.outbox;
        let found = outbox.endpoints.remove(&id).is_some();
        outbox
            .deliveries
            .retain(|_, delivery| delivery.endpoint != Some(id));
        Ok(found)
    }

    async fn deliveries(
        &self,
        id: WebhookId,
        page: Page,
    ) -> Result<Option<Paged<Delivery>>, StoreError> {
        let state = self.locked()?;
        let outbox = &state.outbox;
        if !outbox.endpoints.contains_key(&id) {
            return Ok(None);
        }
        Ok(Some(outbox.page_of_deliveries(page, |delivery| {
            delivery.endpoint == Some(id)
        })))
    }

    async fn forget_delivered(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut locked = self.locked()?;
        let deliveries = &mut locked.outbox.deliveries;
        let held = deliveries.len();
        deliveries.retain(|_, delivery| delivery.delivered_at.is_none_or(|at| at >= before));
        Ok((held - deliveries.len()) as u64)
    }

    async fn email_deliveries(
        &self,
        state: Option<DeliveryState>,
        page: Page,
    ) -> Result<Paged<Delivery>, StoreError> {
        let locked = self.locked()?;
        Ok(locked.outbox.page_of_deliveries(page, |delivery| {
            delivery.endpoint.is_none() && state.is_none_or(|state| delivery.state == state)
        }))
    }

    async fn fan_out(
        &self,
        limit: usize,
        now: Timestamp,
        emailed: Vec<NoticeKind>,
    ) -> Result<usize, StoreError> {
        let mut state = self.locked()?;
        let outbox = &mut state.outbox;
        let taken = outbox.to_fan_out.len().min(limit);
        let notices: Vec<RecordedNotice> = outbox.to_fan_out.drain(..taken).collect();
        for notice in notices {
            let mut receivers: Vec<Option<WebhookId>> = outbox
                .endpoints
                .values()
                .filter(|record| {
                    record.endpoint.disabled_at.is_none()
                        && record.endpoint.kinds.contains(&notice.notice.kind)
                })
                .map(|record| Some(record.endpoint.id))
                .collect();
            if emailed.contains(&notice.notice.kind) {
                receivers.push(None);
            }
            for endpoint in receivers {
                outbox.last_delivery += 1;
                outbox.deliveries.insert(
                    outbox.last_delivery,
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
        let outbox = &mut state.outbox;
        let mut due = Vec::new();
        for (id, delivery) in outbox.deliveries.iter_mut() {
            if due.len() == limit {
                break;
            }
            if delivery.state != DeliveryState::Pending || delivery.next_attempt_at > now {
                continue;
            }
            let target = match delivery.endpoint {
                None => DeliveryTarget::BuyerEmail,
                Some(endpoint_id) => match outbox.endpoints.get(&endpoint_id) {
                    Some(endpoint) if endpoint.endpoint.disabled_at.is_none() => {
                        DeliveryTarget::Webhook {
                            endpoint_id,
                            url: endpoint.endpoint.url.clone(),
                            secret: endpoint.secret.clone(),
                        }
                    }
                    _ => continue,
                },
            };
            delivery.next_attempt_at = lease_until;
            due.push(DueDelivery {
                id: DeliveryId(*id),
                target,
                notification_id: delivery.notice.id,
                kind: delivery.notice.notice.kind,
                booking_code: delivery
                    .notice
                    .booking_code
                    .as_ref()
                    .map(ToString::to_string),
                event_id: delivery.notice.notice.event,
                occurred_at: delivery.notice.notice.at,
                recorded_at: delivery.notice.recorded_at,
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
        let Some(delivery) = state.outbox.deliveries.get_mut(&id.0) else {
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
        if delivery.body.is_none() {
            delivery.body = attempt.body;
        }
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

    fn email_buyers(&self) {
        if let Ok(mut state) = self.locked() {
            state.outbox.buyer_emails = true;
        }
    }

    async fn last_delivered_at(&self, id: WebhookId) -> Result<Option<Timestamp>, StoreError> {
        let state = self.locked()?;
        Ok(state
            .outbox
            .deliveries
            .values()
            .filter(|delivery| delivery.endpoint == Some(id))
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
        let outbox = &mut state.outbox;
        let Some(record) = outbox.endpoints.get_mut(&id) else {
            return Ok(());
        };
        if record.endpoint.disabled_at.is_some() {
            return Ok(());
        }
        record.endpoint.disabled_at = Some(at);
        record.endpoint.disabled_reason = Some(reason);
        for delivery in outbox.deliveries.values_mut() {
            if delivery.endpoint == Some(id) && delivery.state == DeliveryState::Pending {
                delivery.state = DeliveryState::Parked;
            }
        }
        Ok(())
    }
}
