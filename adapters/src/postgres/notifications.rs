//! The outbox in PostgreSQL: notifications are inserted by the sale's write (`sale::write_show`)
//! in the transaction of the change they tell; here they are turned into deliveries (to webhook
//! endpoints, and e-mails to buyers) and claimed with `FOR UPDATE SKIP LOCKED`, so that processes
//! sharing the database never take the same delivery at once.

use async_trait::async_trait;

use application::notifications::{
    AttemptRecord, Delivery, DeliveryId, DeliveryState, DeliveryTarget, DueDelivery,
    NewWebhookEndpoint, NextStep, WebhookEndpoint, WebhookId,
};
use application::ports::{NotificationRepository, Page, Paged, StoreError};
use domain::event::EventId;
use domain::notification::NoticeKind;
use domain::Timestamp;

use super::{corrupt, store_error, PostgresStore};

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: i64,
    url: String,
    kinds: Vec<String>,
    created_at: Timestamp,
    disabled_at: Option<Timestamp>,
    disabled_reason: Option<String>,
}

fn kind(name: &str) -> Result<NoticeKind, StoreError> {
    NoticeKind::parse(name).ok_or_else(|| corrupt("notification kind", name))
}

impl EndpointRow {
    fn into_endpoint(self) -> Result<WebhookEndpoint, StoreError> {
        Ok(WebhookEndpoint {
            id: WebhookId(self.id),
            url: self.url,
            kinds: self
                .kinds
                .iter()
                .map(|name| kind(name))
                .collect::<Result<_, _>>()?,
            created_at: self.created_at,
            disabled_at: self.disabled_at,
            disabled_reason: self.disabled_reason,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    notification_id: i64,
    kind: String,
    booking_code: Option<String>,
    event_id: i64,
    state: String,
    attempts: i32,
    next_attempt_at: Timestamp,
    last_attempt_at: Option<Timestamp>,
    last_outcome: Option<String>,
    delivered_at: Option<Timestamp>,
    created_at: Timestamp,
}

impl DeliveryRow {
    fn into_delivery(self) -> Result<Delivery, StoreError> {
        let state = DeliveryState::parse(&self.state)
            .ok_or_else(|| corrupt("delivery state", &self.state))?;
        Ok(Delivery {
            id: DeliveryId(self.id),
            notification_id: self.notification_id,
            kind: kind(&self.kind)?,
            booking_code: self.booking_code,
            event_id: EventId(self.event_id),
            state,
            attempts: self.attempts.max(0) as u32,
            next_attempt_at: (state == DeliveryState::Pending).then_some(self.next_attempt_at),
            last_attempt_at: self.last_attempt_at,
            last_outcome: self.last_outcome,
            delivered_at: self.delivered_at,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DueRow {
    id: i64,
    endpoint_id: Option<i64>,
    url: Option<String>,
    secret: Option<String>,
    notification_id: i64,
    kind: String,
    booking_code: Option<String>,
    event_id: i64,
    occurred_at: Timestamp,
    recorded_at: Timestamp,
    attempts: i32,
    body: Option<String>,
}

/// A delivery as admins see it, with its notification and booking (`DeliveryRow`), before the
/// `WHERE` that picks them.
macro_rules! delivery_select {
    () => {
        "SELECT d.id, d.notification_id, n.kind, b.code AS booking_code, n.event_id, d.state, \
                d.attempts, d.next_attempt_at, d.last_attempt_at, d.last_outcome, d.delivered_at, \
                d.created_at \
         FROM deliveries d \
         JOIN notifications n ON n.id = d.notification_id \
         LEFT JOIN bookings b ON b.id = n.booking_id "
    };
}

/// An endpoint's columns as `EndpointRow` reads them (never its secret).
macro_rules! endpoint_columns {
    () => {
        "id, url, kinds, created_at, disabled_at, disabled_reason"
    };
}

#[async_trait]
impl NotificationRepository for PostgresStore {
    async fn create_endpoint(
        &self,
        endpoint: NewWebhookEndpoint,
    ) -> Result<WebhookEndpoint, StoreError> {
        let mut session = self.connection().await?;
        let row: EndpointRow = sqlx::query_as(concat!(
            "INSERT INTO webhook_endpoints (url, kinds, secret, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5) RETURNING ",
            endpoint_columns!()
        ))
        .bind(&endpoint.url)
        .bind(
            endpoint
                .kinds
                .iter()
                .map(|kind| kind.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(&endpoint.secret)
        .bind(endpoint.created_at)
        .bind(endpoint.created_by.0)
        .fetch_one(&mut *session)
        .await
        .map_err(store_error)?;
        session.finish().await?;
        row.into_endpoint()
    }

    async fn endpoints(&self) -> Result<Vec<WebhookEndpoint>, StoreError> {
        let rows: Vec<EndpointRow> = sqlx::query_as(concat!(
            "SELECT ",
            endpoint_columns!(),
            " FROM webhook_endpoints ORDER BY id"
        ))
        .fetch_all(&mut *self.connection().await?)
        .await
        .map_err(store_error)?;
        rows.into_iter().map(EndpointRow::into_endpoint).collect()
    }

    async fn delete_endpoint(&self, id: WebhookId) -> Result<bool, StoreError> {
        let mut session = self.connection().await?;
        let deleted = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
            .bind(id.0)
            .execute(&mut *session)
            .await
            .map_err(store_error)?
            .rows_affected();
        session.finish().await?;
        Ok(deleted > 0)
    }

    async fn deliveries(
        &self,
        id: WebhookId,
        page: Page,
    ) -> Result<Option<Paged<Delivery>>, StoreError> {
        let mut conn = self.connection().await?;
        let total: Option<i64> = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM deliveries d WHERE d.endpoint_id = w.id) \
             FROM webhook_endpoints w WHERE w.id = $1",
        )
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(store_error)?;
        let Some(total) = total else {
            return Ok(None);
        };
        let rows: Vec<DeliveryRow> = sqlx::query_as(concat!(
            delivery_select!(),
            "WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(id.0)
        .bind(i64::from(page.per_page))
        .bind(page.offset() as i64)
        .fetch_all(&mut *conn)
        .await
        .map_err(store_error)?;
        Ok(Some(Paged {
            total: total.max(0) as u64,
            items: rows
                .into_iter()
                .map(DeliveryRow::into_delivery)
                .collect::<Result<_, _>>()?,
        }))
    }

    async fn forget_delivered(&self, before: Timestamp) -> Result<u64, StoreError> {
        // A notification goes with its last delivery (one still being tried or parked keeps it).
        let mut session = self.connection().await?;
        let forgotten: i64 = sqlx::query_scalar(
            "WITH gone AS ( \
                 DELETE FROM deliveries WHERE state = 'delivered' AND delivered_at < $1 \
                 RETURNING notification_id \
             ), orphans AS ( \
                 DELETE FROM notifications n WHERE n.id IN (SELECT notification_id FROM gone) \
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id \
                                   AND NOT (d.state = 'delivered' AND d.delivered_at < $1)) \
             ) \
             SELECT count(*) FROM gone",
        )
        .bind(before)
        .fetch_one(&mut *session)
        .await
        .map_err(store_error)?;
        session.finish().await?;
        Ok(forgotten.max(0) as u64)
    }

    async fn email_deliveries(
        &self,
        state: Option<DeliveryState>,
        page: Page,
    ) -> Result<Paged<Delivery>, StoreError> {
        let state = state.map(DeliveryState::as_str);
        let mut conn = self.connection().await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM deliveries \
             WHERE channel = 'email' AND ($1::text IS NULL OR state = $1)",
        )
        .bind(state)
        .fetch_one(&mut *conn)
        .await
        .map_err(store_error)?;
        let rows: Vec<DeliveryRow> = sqlx::query_as(concat!(
            delivery_select!(),
            "WHERE d.channel = 'email' AND ($1::text IS NULL OR d.state = $1) \
                 ORDER BY d.id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(state)
        .bind(i64::from(page.per_page))
        .bind(page.offset() as i64)
        .fetch_all(&mut *conn)
        .await
        .map_err(store_error)?;
        Ok(Paged {
            total: total.max(0) as u64,
            items: rows
                .into_iter()
                .map(DeliveryRow::into_delivery)
                .collect::<Result<_, _>>()?,
        })
    }

    async fn fan_out(
        &self,
        limit: usize,
        now: Timestamp,
        emailed: Vec<NoticeKind>,
    ) -> Result<usize, StoreError> {
        // A notification nobody wants is dropped; the others are marked and each gets one
        // delivery per endpoint that wants it, and one e-mail when its kind is e-mailed. Rows
        // another process is fanning out are skipped.
        let mut session = self.connection().await?;
        let taken: i64 = sqlx::query_scalar(
            "WITH batch AS ( \
                 SELECT n.id, n.kind, n.kind = ANY ($3) AS emailed, EXISTS ( \
                     SELECT 1 FROM webhook_endpoints w \
                     WHERE w.disabled_at IS NULL AND n.kind = ANY (w.kinds)) AS hooked \
                 FROM notifications n WHERE NOT n.fanned_out ORDER BY n.id LIMIT $1 \
                 FOR UPDATE OF n SKIP LOCKED \
             ), dropped AS ( \
                 DELETE FROM notifications \
                 WHERE id IN (SELECT id FROM batch WHERE NOT emailed AND NOT hooked) \
             ), kept AS ( \
                 UPDATE notifications SET fanned_out = TRUE \
                 WHERE id IN (SELECT id FROM batch WHERE emailed OR hooked) RETURNING id, kind \
             ), hooks AS ( \
                 INSERT INTO deliveries (notification_id, channel, endpoint_id, state, \
                                         next_attempt_at, created_at) \
                 SELECT kept.id, 'webhook', w.id, 'pending', $2, $2 FROM kept \
                 JOIN webhook_endpoints w ON w.disabled_at IS NULL AND kept.kind = ANY (w.kinds) \
             ), emails AS ( \
                 INSERT INTO deliveries (notification_id, channel, state, next_attempt_at, \
                                         created_at) \
                 SELECT kept.id, 'email', 'pending', $2, $2 FROM kept WHERE kept.kind = ANY ($3) \
             ) \
             SELECT count(*) FROM batch",
        )
        .bind(limit as i64)
        .bind(now)
        .bind(emailed.iter().map(|kind| kind.as_str()).collect::<Vec<_>>())
        .fetch_one(&mut *session)
        .await
        .map_err(store_error)?;
        session.finish().await?;
        Ok(taken.max(0) as usize)
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let mut session = self.connection().await?;
        let rows: Vec<DueRow> = sqlx::query_as(
            "UPDATE deliveries d SET next_attempt_at = $2 \
             FROM notifications n LEFT JOIN bookings b ON b.id = n.booking_id \
             WHERE d.id IN ( \
                     SELECT due.id FROM deliveries due \
                     LEFT JOIN webhook_endpoints active ON active.id = due.endpoint_id \
                     WHERE due.state = 'pending' AND due.next_attempt_at <= $1 \
                       AND (due.channel = 'email' OR active.disabled_at IS NULL) \
                     ORDER BY due.next_attempt_at LIMIT $3 FOR UPDATE OF due SKIP LOCKED) \
               AND n.id = d.notification_id \
             RETURNING d.id, d.endpoint_id, \
                       (SELECT w.url FROM webhook_endpoints w WHERE w.id = d.endpoint_id) AS url, \
                       (SELECT w.secret FROM webhook_endpoints w WHERE w.id = d.endpoint_id) AS secret, \
                       n.id AS notification_id, n.kind, b.code AS booking_code, n.event_id, \
                       n.occurred_at, \
                       n.recorded_at, d.attempts, d.body",
        )
        .bind(now)
        .bind(lease_until)
        .bind(limit as i64)
        .fetch_all(&mut *session)
        .await
        .map_err(store_error)?;
        session.finish().await?;
        rows.into_iter()
            .map(|row| {
                let target = match (row.endpoint_id, row.url, row.secret) {
                    (Some(id), Some(url), Some(secret)) => DeliveryTarget::Webhook {
                        endpoint_id: WebhookId(id),
                        url,
                        secret,
                    },
                    (None, ..) => DeliveryTarget::BuyerEmail,
                    (Some(id), ..) => return Err(corrupt("delivery's endpoint", id)),
                };
                Ok(DueDelivery {
                    id: DeliveryId(row.id),
                    target,
                    notification_id: row.notification_id,
                    kind: kind(&row.kind)?,
                    booking_code: row.booking_code,
                    event_id: EventId(row.event_id),
                    occurred_at: row.occurred_at,
                    recorded_at: row.recorded_at,
                    attempts: row.attempts.max(0) as u32,
                    body: row.body,
                })
            })
            .collect()
    }

    async fn record_attempt(
        &self,
        id: DeliveryId,
        attempt: AttemptRecord,
    ) -> Result<(), StoreError> {
        let (state, delivered_at, next_attempt_at) = match attempt.next {
            NextStep::Delivered => (DeliveryState::Delivered, Some(attempt.at), None),
            NextStep::RetryAt(at) => (DeliveryState::Pending, None, Some(at)),
            NextStep::Park => (DeliveryState::Parked, None, None),
        };
        // An attempt is counted even when its delivery was parked meanwhile (its endpoint
        // disabled by another attempt); it then moves the delivery only if it arrived.
        let mut session = self.connection().await?;
        sqlx::query(
            "UPDATE deliveries SET attempts = attempts + 1, last_attempt_at = $2, \
                    last_outcome = $3, body = coalesce(body, $4), \
                    state = CASE WHEN state = 'pending' OR $5 = 'delivered' THEN $5 ELSE state END, \
                    delivered_at = CASE WHEN state = 'pending' OR $5 = 'delivered' THEN $6 END, \
                    next_attempt_at = coalesce($7, next_attempt_at) \
             WHERE id = $1 AND state <> 'delivered'",
        )
        .bind(id.0)
        .bind(attempt.at)
        .bind(&attempt.outcome)
        .bind(&attempt.body)
        .bind(state.as_str())
        .bind(delivered_at)
        .bind(next_attempt_at)
        .execute(&mut *session)
        .await
        .map_err(store_error)?;
        session.finish().await?;
        Ok(())
    }

    fn email_buyers(&self) {
        self.buyer_emails
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    async fn last_delivered_at(&self, id: WebhookId) -> Result<Option<Timestamp>, StoreError> {
        sqlx::query_scalar("SELECT max(delivered_at) FROM deliveries WHERE endpoint_id = $1")
            .bind(id.0)
            .fetch_one(&mut *self.connection().await?)
            .await
            .map_err(store_error)
    }

    async fn disable_endpoint(
        &self,
        id: WebhookId,
        at: Timestamp,
        reason: String,
    ) -> Result<(), StoreError> {
        let mut session = self.connection().await?;
        sqlx::query(
            "WITH disabled AS ( \
                 UPDATE webhook_endpoints SET disabled_at = $2, disabled_reason = $3 \
                 WHERE id = $1 AND disabled_at IS NULL RETURNING id \
             ) \
             UPDATE deliveries SET state = 'parked' \
             WHERE endpoint_id IN (SELECT id FROM disabled) AND state = 'pending'",
        )
        .bind(id.0)
        .bind(at)
        .bind(&reason)
        .execute(&mut *session)
        .await
        .map_err(store_error)?;
        session.finish().await?;
        Ok(())
    }
}
