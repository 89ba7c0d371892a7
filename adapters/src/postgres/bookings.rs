//! Bookings, payments, check-in and the dashboard in PostgreSQL.

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;
use sqlx::PgConnection;

use application::ports::{
    BookingCommandError, BookingRepository, Page, Paged, PaymentReceipt, PlaceBookingError,
    StoreError,
};
use application::views::{BookingDetails, Dashboard, EventFigures, RecentTransaction};
use domain::audit::{entry_for_check_in, AuditStamp};
use domain::booking::{
    latest_lapsed_expiry, BookingCode, BookingId, BookingPolicy, BookingRequest, CancelOutcome,
};
use domain::event::EventId;
use domain::money::Money;
use domain::payment::PaymentInput;
use domain::user::UserId;
use domain::Timestamp;

use super::audit::record;
use super::events::{lock_event, IfLocked};
use super::rows::{
    booking_select, payment_columns, seats_by_booking, BookedSeatRow, BookingRow, PaymentRow,
};
use super::sale::{
    expire_lapsed_holds, refund_payments, write_changes_under_lock, BookingChange, BookingKeys,
};
use super::{corrupt, store_error, PostgresStore};

/// Loads bookings with their seats and payments, in the order of `ids`; `events` are the shows
/// they belong to (one, but for a customer's history), so that every table is reached within
/// its show.
async fn details(
    conn: &mut PgConnection,
    events: &[i64],
    ids: &[i64],
) -> Result<Vec<BookingDetails>, StoreError> {
    let rows: Vec<BookingRow> = sqlx::query_as(concat!(
        booking_select!(),
        "WHERE b.id = ANY($1) AND b.event_id = ANY($2)"
    ))
    .bind(ids)
    .bind(events)
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    let seats: Vec<BookedSeatRow> = sqlx::query_as(
        "SELECT bs.booking_id, bs.seat_id, bs.label FROM booking_seats bs \
         JOIN seats s ON s.id = bs.seat_id AND s.event_id = bs.event_id \
         WHERE bs.booking_id = ANY($1) AND bs.event_id = ANY($2) ORDER BY bs.booking_id, s.position",
    )
    .bind(ids)
    .bind(events)
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    let payments: Vec<PaymentRow> = sqlx::query_as(concat!(
        "SELECT ",
        payment_columns!(),
        " FROM payments WHERE booking_id = ANY($1) AND event_id = ANY($2)"
    ))
    .bind(ids)
    .bind(events)
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    // Grouped by booking once, so that a long list (a door list) costs no more per booking.
    let mut payments: HashMap<i64, PaymentRow> = payments
        .into_iter()
        .map(|payment| (payment.booking_id, payment))
        .collect();
    let mut seats_by_booking = seats_by_booking(seats);
    let mut by_id = HashMap::with_capacity(rows.len());
    for row in rows {
        let id = row.id;
        let payment = payments
            .remove(&id)
            .map(PaymentRow::into_payment)
            .transpose()?;
        let seats = seats_by_booking.remove(&id).unwrap_or_default();
        by_id.insert(id, row.into_details(seats, payment)?);
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// The booking `id` of the show `event`, with its seats and payment.
async fn one(
    conn: &mut PgConnection,
    event: EventId,
    id: i64,
) -> Result<BookingDetails, StoreError> {
    details(conn, &[event.0], &[id])
        .await?
        .pop()
        .ok_or_else(|| corrupt("booking", format!("booking {id} vanished")))
}

/// What never changes of the booking of `code`, without locking anything.
async fn locate(
    conn: &mut PgConnection,
    code: &BookingCode,
) -> Result<Option<BookingKeys>, StoreError> {
    let found: Option<(i64, i64, i64)> =
        sqlx::query_as("SELECT id, event_id, customer_id FROM bookings WHERE code = $1")
            .bind(code.as_str())
            .fetch_optional(conn)
            .await
            .map_err(store_error)?;
    Ok(found.map(|(id, event, customer)| BookingKeys {
        id: BookingId(id),
        event: EventId(event),
        customer: UserId(customer),
    }))
}

impl PostgresStore {
    /// The keys of the booking of `code`: remembered by this process, or read on `conn` and
    /// remembered.
    async fn keys_on(
        &self,
        conn: &mut PgConnection,
        code: &BookingCode,
    ) -> Result<Option<BookingKeys>, StoreError> {
        if let Some(keys) = self.sales.known(code) {
            return Ok(Some(keys));
        }
        let keys = locate(conn, code).await?;
        if let Some(keys) = keys {
            self.sales.remember([(code.clone(), keys)]);
        }
        Ok(keys)
    }

    /// The keys of the booking of `code`, taking a connection only when this process does not
    /// remember them.
    async fn keys_of(&self, code: &BookingCode) -> Result<Option<BookingKeys>, StoreError> {
        if let Some(keys) = self.sales.known(code) {
            return Ok(Some(keys));
        }
        let mut conn = self.connection().await?;
        self.keys_on(&mut conn, code).await
    }
}

/// Opens the transaction of a command on one booking: the event locked, its lapsed holds expired,
/// the booking locked and loaded.
async fn begin_command<R>(
    store: &PostgresStore,
    code: &BookingCode,
    now: Timestamp,
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, BookingDetails), BookingCommandError<R>> {
    let mut tx = store.transaction().await?;
    let BookingKeys { id, event, .. } = store
        .keys_on(&mut tx, code)
        .await?
        .ok_or(BookingCommandError::NotFound)?;
    lock_event(&mut tx, event).await?;
    expire_lapsed_holds(&mut tx, event, now).await?;
    sqlx::query("SELECT 1 FROM bookings WHERE id = $1 AND event_id = $2 FOR UPDATE")
        .bind(id.0)
        .bind(event.0)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    let booking = one(&mut tx, event, id.0).await?;
    Ok((tx, booking))
}

#[async_trait]
impl BookingRepository for PostgresStore {
    async fn place(
        &self,
        request: BookingRequest,
        policy: BookingPolicy,
        now: Timestamp,
    ) -> Result<BookingDetails, PlaceBookingError> {
        self.place_in_batch(request, policy, now).await
    }

    async fn find_by_code(
        &self,
        code: &BookingCode,
        now: Timestamp,
    ) -> Result<Option<BookingDetails>, StoreError> {
        let mut conn = self.connection().await?;
        let Some(BookingKeys { id, event, .. }) = self.keys_on(&mut conn, code).await? else {
            return Ok(None);
        };
        let found = one(&mut conn, event, id.0).await?;
        if found.booking.hold_has_lapsed(now) {
            drop(conn);
            self.expire_lapsed_event(event, now, IfLocked::Wait).await?;
            let mut conn = self.connection().await?;
            return one(&mut conn, event, id.0).await.map(Some);
        }
        Ok(Some(found))
    }

    async fn customer_of(&self, code: &BookingCode) -> Result<Option<UserId>, StoreError> {
        Ok(self.keys_of(code).await?.map(|keys| keys.customer))
    }

    async fn pay(
        &self,
        code: &BookingCode,
        payment: PaymentInput,
        now: Timestamp,
    ) -> Result<PaymentReceipt, BookingCommandError<domain::booking::PayRejection>> {
        let BookingKeys { id, event, .. } = self
            .keys_of(code)
            .await?
            .ok_or(BookingCommandError::NotFound)?;
        self.pay_in_batch(event, id, payment, now).await
    }

    async fn cancel(
        &self,
        code: &BookingCode,
        now: Timestamp,
    ) -> Result<BookingDetails, BookingCommandError<domain::booking::CancelRejection>> {
        let (mut tx, mut details) = begin_command(self, code, now).await?;
        let before = details.booking.clone();
        let outcome = details
            .booking
            .cancel(details.event.date, now)
            .map_err(BookingCommandError::Rejected)?;
        let after = details.booking.clone();
        let event = after.event_id;
        write_changes_under_lock(&mut tx, event, vec![BookingChange { before, after }]).await?;
        if outcome == CancelOutcome::Refund {
            refund_payments(&mut tx, event, &[details.booking.id], now).await?;
        }
        let cancelled = one(&mut tx, event, details.booking.id.0).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(cancelled)
    }

    async fn check_in(
        &self,
        code: &BookingCode,
        now: Timestamp,
        audit: AuditStamp,
    ) -> Result<BookingDetails, BookingCommandError<domain::booking::CheckInRejection>> {
        let (mut tx, mut details) = begin_command(self, code, now).await?;
        let before = details.booking.clone();
        details
            .booking
            .check_in(now, audit.actor)
            .map_err(BookingCommandError::Rejected)?;
        let after = details.booking.clone();
        write_changes_under_lock(
            &mut tx,
            after.event_id,
            vec![BookingChange { before, after }],
        )
        .await?;
        record(&mut tx, &[entry_for_check_in(audit, &details.booking)]).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(details)
    }

    async fn expire_lapsed(&self, now: Timestamp) -> Result<u64, StoreError> {
        // Each show on its own, in its own transaction; a show another process (or its sale's
        // writer, which gives back lapsed holds itself) has locked is left to it.
        let events: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT event_id FROM bookings WHERE status = 'pending' AND expires_at <= $1",
        )
        .bind(latest_lapsed_expiry(now))
        .fetch_all(&mut *self.connection().await?)
        .await
        .map_err(store_error)?;
        let mut expired = 0;
        for event in events.into_iter().map(EventId) {
            expired += self.expire_lapsed_event(event, now, IfLocked::Skip).await?;
        }
        Ok(expired)
    }

    async fn list_for_customer(
        &self,
        customer: domain::user::UserId,
        page: Page,
        now: Timestamp,
    ) -> Result<Paged<BookingDetails>, StoreError> {
        // The shows where this customer's own holds lapsed give them back first; no other show.
        let lapsed: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT event_id FROM bookings \
             WHERE customer_id = $1 AND status = 'pending' AND expires_at <= $2",
        )
        .bind(customer.0)
        .bind(latest_lapsed_expiry(now))
        .fetch_all(&mut *self.connection().await?)
        .await
        .map_err(store_error)?;
        self.expire_lapsed_of(&lapsed.into_iter().map(EventId).collect::<Vec<_>>(), now)
            .await?;
        let mut conn = self.connection().await?;
        let listed: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, event_id FROM bookings WHERE customer_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        )
        .bind(customer.0)
        .bind(i64::from(page.per_page))
        .bind(page.offset() as i64)
        .fetch_all(&mut *conn)
        .await
        .map_err(store_error)?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings WHERE customer_id = $1")
            .bind(customer.0)
            .fetch_one(&mut *conn)
            .await
            .map_err(store_error)?;
        let ids: Vec<i64> = listed.iter().map(|(id, _)| *id).collect();
        // The page's shows, each once: a customer's history spans shows.
        let events: Vec<i64> = listed
            .iter()
            .map(|(_, event)| *event)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok(Paged {
            items: details(&mut conn, &events, &ids).await?,
            total: total.max(0) as u64,
        })
    }

    async fn door_list(
        &self,
        event: EventId,
        since: Option<Timestamp>,
        page: Page,
        now: Timestamp,
    ) -> Result<Option<Paged<BookingDetails>>, StoreError> {
        self.expire_if_lapsed(event, now).await?;
        let mut conn = self.connection().await?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE id = $1)")
            .bind(event.0)
            .fetch_one(&mut *conn)
            .await
            .map_err(store_error)?;
        if !exists {
            return Ok(None);
        }
        // Without `since`: the paid bookings, oldest first. With it: every booking ever paid
        // whose door change (`Booking::door_change`; GREATEST skips NULLs) is after it.
        macro_rules! listed {
            () => {
                "FROM bookings WHERE event_id = $1 AND CASE WHEN $2::timestamptz IS NULL \
                 THEN status = 'confirmed' \
                 ELSE paid_at IS NOT NULL AND GREATEST(paid_at, checked_in_at, cancelled_at) > $2 END"
            };
        }
        let ids: Vec<i64> = sqlx::query_scalar(concat!(
            "SELECT id ",
            listed!(),
            " ORDER BY CASE WHEN $2::timestamptz IS NULL THEN created_at \
             ELSE GREATEST(paid_at, checked_in_at, cancelled_at) END, id LIMIT $3 OFFSET $4"
        ))
        .bind(event.0)
        .bind(since)
        .bind(i64::from(page.per_page))
        .bind(page.offset() as i64)
        .fetch_all(&mut *conn)
        .await
        .map_err(store_error)?;
        let total: i64 = sqlx::query_scalar(concat!("SELECT count(*) ", listed!()))
            .bind(event.0)
            .bind(since)
            .fetch_one(&mut *conn)
            .await
            .map_err(store_error)?;
        Ok(Some(Paged {
            items: details(&mut conn, &[event.0], &ids).await?,
            total: total.max(0) as u64,
        }))
    }

    async fn dashboard(&self, now: Timestamp) -> Result<Dashboard, StoreError> {
        // Across every show, so read only: holds that lapsed and were not given back yet (the
        // background sweep does, show by show) are read as expired, not given back here.
        let mut conn = self.connection().await?;
        let (revenue, tickets_sold, active_events, total_events, pending_bookings, checked_in): (i64, i64, i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT coalesce(sum(revenue), 0)::bigint, coalesce(sum(tickets_sold), 0)::bigint, \
                 (SELECT count(*) FROM events WHERE status = 'published' AND date > $1), \
                 (SELECT count(*) FROM events), \
                 coalesce(sum(pending_bookings), 0)::bigint \
                   - (SELECT count(*) FROM bookings WHERE status = 'pending' AND expires_at <= $2), \
                 coalesce(sum(tickets_checked_in), 0)::bigint \
                 FROM event_figures",
            )
            .bind(now)
            .bind(latest_lapsed_expiry(now))
            .fetch_one(&mut *conn)
            .await
            .map_err(store_error)?;
        let recent: Vec<BookingRow> = sqlx::query_as(concat!(
            booking_select!(),
            "ORDER BY b.created_at DESC, b.id DESC LIMIT 10"
        ))
        .fetch_all(&mut *conn)
        .await
        .map_err(store_error)?;
        #[derive(sqlx::FromRow)]
        struct FiguresRow {
            id: i64,
            name: String,
            date: Timestamp,
            capacity: i32,
            tickets_sold: i32,
            revenue: i64,
            tickets_checked_in: i32,
        }
        let figures: Vec<FiguresRow> = sqlx::query_as(
            "SELECT e.id, e.name, e.date, e.capacity, f.tickets_sold, f.revenue, f.tickets_checked_in FROM events e \
             JOIN (SELECT event_id, sum(tickets_sold)::int AS tickets_sold, sum(revenue)::bigint AS revenue, \
                          sum(tickets_checked_in)::int AS tickets_checked_in \
                   FROM event_figures GROUP BY event_id) f ON f.event_id = e.id \
             ORDER BY e.date, e.id",
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(store_error)?;
        let count = |value: i64| value.max(0) as u64;
        Ok(Dashboard {
            total_revenue: Money::rupiah(revenue),
            tickets_sold: count(tickets_sold),
            active_events: count(active_events),
            total_events: count(total_events),
            pending_bookings: count(pending_bookings),
            checked_in: count(checked_in),
            recent_transactions: recent
                .into_iter()
                .map(|row| {
                    let details = row.into_details(Vec::new(), None)?;
                    Ok(RecentTransaction {
                        booking_code: details.booking.code.to_string(),
                        customer_name: details.customer_name,
                        event_name: details.event.name,
                        amount: details.booking.total_price,
                        status: details.booking.status_at(now).as_str().to_string(),
                        date: details.booking.created_at,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?,
            events: figures
                .into_iter()
                .map(|row| EventFigures {
                    id: EventId(row.id),
                    name: row.name,
                    date: row.date,
                    capacity: row.capacity.max(0) as u32,
                    tickets_sold: count(i64::from(row.tickets_sold)),
                    revenue: Money::rupiah(row.revenue),
                    checked_in: count(i64::from(row.tickets_checked_in)),
                })
                .collect(),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.connection().await?)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
