//! Bookings, payments, check-in and the dashboard in PostgreSQL.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::PgConnection;

use application::ports::{
    BookingCommandError, BookingRepository, Page, Paged, PaymentReceipt, PlaceBookingError,
    StoreError,
};
use application::views::{
    BookingDetails, Dashboard, EventFigures, EventSummary, RecentTransaction,
};
use domain::audit::{entry_for_check_in, AuditStamp};
use domain::booking::{
    decide, BookingCode, BookingId, BookingPolicy, BookingRequest, CancelOutcome,
};
use domain::event::EventId;
use domain::money::Money;
use domain::payment::{Payment, PaymentId, PaymentInput};
use domain::Timestamp;

use super::audit::record;
use super::events::{expire_lapsed_holds, lock_event};
use super::rows::{
    booking_select, booking_with_seats_select, event_columns, payment_columns, seats_by_booking,
    BookedSeatRow, BookingRow, BookingWithSeatsRow, PaymentRow, PlaceSnapshotRow,
};
use super::{corrupt, store_error, PostgresStore};

/// How many times a booking or a payment is decided and applied before the store reports itself
/// busy. An attempt is lost only when the event moved between the read and the write (or, rarely,
/// a fresh booking code was taken); the next read sees the move, so the next decision stands or
/// refuses.
const APPLY_ATTEMPTS: usize = 8;

/// Loads bookings with their seats and payments, in the order of `ids`.
async fn details(conn: &mut PgConnection, ids: &[i64]) -> Result<Vec<BookingDetails>, StoreError> {
    let rows: Vec<BookingRow> = sqlx::query_as(concat!(booking_select!(), "WHERE b.id = ANY($1)"))
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(store_error)?;
    let seats: Vec<BookedSeatRow> = sqlx::query_as(
        "SELECT bs.booking_id, bs.seat_id, bs.label FROM booking_seats bs JOIN seats s ON s.id = bs.seat_id \
         WHERE bs.booking_id = ANY($1) ORDER BY bs.booking_id, s.position",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    let payments: Vec<PaymentRow> = sqlx::query_as(concat!(
        "SELECT ",
        payment_columns!(),
        " FROM payments WHERE booking_id = ANY($1)"
    ))
    .bind(ids)
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

async fn one(conn: &mut PgConnection, id: i64) -> Result<BookingDetails, StoreError> {
    details(conn, &[id])
        .await?
        .pop()
        .ok_or_else(|| corrupt("booking", format!("booking {id} vanished")))
}

/// The booking's id and event, without locking anything.
async fn locate(
    conn: &mut PgConnection,
    code: &BookingCode,
) -> Result<Option<(i64, EventId)>, StoreError> {
    let found: Option<(i64, i64)> =
        sqlx::query_as("SELECT id, event_id FROM bookings WHERE code = $1")
            .bind(code.as_str())
            .fetch_optional(conn)
            .await
            .map_err(store_error)?;
    Ok(found.map(|(id, event)| (id, EventId(event))))
}

/// Opens the transaction of a command on one booking: the event locked, its lapsed holds expired,
/// the booking locked and loaded.
async fn begin_command<R>(
    store: &PostgresStore,
    code: &BookingCode,
    now: Timestamp,
) -> Result<(sqlx::Transaction<'static, sqlx::Postgres>, BookingDetails), BookingCommandError<R>> {
    let mut tx = store.transaction().await?;
    let (id, event) = locate(&mut tx, code)
        .await?
        .ok_or(BookingCommandError::NotFound)?;
    lock_event(&mut tx, event).await?;
    expire_lapsed_holds(&mut tx, event, now).await?;
    sqlx::query("SELECT 1 FROM bookings WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    let booking = one(&mut tx, id).await?;
    Ok((tx, booking))
}

/// Everything a booking decision reads, in one statement: the event, its phases (in order, as
/// parallel arrays), the requested seats of the event with the status of whatever holds them,
/// the customer's tickets for the event and their unpaid bookings of it since `unpaid_since`,
/// and whether any hold has lapsed. The phases and the seats
/// are each read once and gathered into their arrays.
async fn read_place_snapshot(
    conn: &mut PgConnection,
    request: &BookingRequest,
    now: Timestamp,
    unpaid_since: Timestamp,
) -> Result<Option<PlaceSnapshotRow>, StoreError> {
    sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        ", phase.*, seat.*, \
         (SELECT coalesce(sum(b.quantity), 0) FROM bookings b WHERE b.event_id = e.id AND b.customer_id = $2 \
              AND b.status IN ('pending', 'confirmed'))::bigint AS held_by_customer, \
         EXISTS (SELECT 1 FROM bookings b WHERE b.event_id = e.id AND b.status = 'pending' AND b.expires_at <= $4) \
              AS has_lapsed_holds, \
         unpaid.* \
         FROM events e \
         CROSS JOIN LATERAL ( \
             SELECT coalesce(array_agg(p.id ORDER BY p.position), '{}') AS phase_ids, \
                    coalesce(array_agg(p.name ORDER BY p.position), '{}') AS phase_names, \
                    coalesce(array_agg(p.price ORDER BY p.position), '{}') AS phase_prices, \
                    coalesce(array_agg(p.quota ORDER BY p.position), '{}') AS phase_quotas, \
                    coalesce(array_agg(p.sold ORDER BY p.position), '{}') AS phase_sold, \
                    coalesce(array_agg(p.start_date ORDER BY p.position), '{}') AS phase_starts, \
                    coalesce(array_agg(p.end_date ORDER BY p.position), '{}') AS phase_ends \
             FROM phases p WHERE p.event_id = e.id AND NOT p.removed) AS phase \
         CROSS JOIN LATERAL ( \
             SELECT coalesce(array_agg(s.id ORDER BY s.id), '{}') AS seat_ids, \
                    coalesce(array_agg(s.row_index ORDER BY s.id), '{}') AS seat_rows, \
                    coalesce(array_agg(s.number ORDER BY s.id), '{}') AS seat_numbers, \
                    coalesce(array_agg(coalesce(bs.status, '') ORDER BY s.id), '{}') AS seat_holders \
             FROM (SELECT DISTINCT unnest($3::bigint[]) AS id) AS wanted JOIN seats s ON s.id = wanted.id \
             LEFT JOIN booking_seats bs ON bs.seat_id = s.id AND bs.status IN ('pending', 'confirmed') \
             WHERE s.event_id = e.id AND NOT s.removed) AS seat \
         CROSS JOIN LATERAL ( \
             SELECT coalesce(array_agg(b.status ORDER BY b.id), '{}') AS unpaid_statuses, \
                    coalesce(array_agg(b.expires_at ORDER BY b.id), '{}') AS unpaid_expiries, \
                    coalesce(array_agg(b.cancelled_at ORDER BY b.id), '{}') AS unpaid_cancellations \
             FROM bookings b \
             WHERE b.customer_id = $2 AND b.event_id = e.id AND b.created_at >= $5 AND b.paid_at IS NULL) AS unpaid \
         WHERE e.id = $1"
    ))
    .bind(request.event_id.0)
    .bind(request.customer_id.0)
    .bind(request.seat_ids.iter().map(|seat| seat.0).collect::<Vec<_>>())
    .bind(now)
    .bind(unpaid_since)
    .fetch_optional(conn)
    .await
    .map_err(store_error)
}

/// What `apply_booking` and `apply_payment` (see their migration) answer.
#[derive(sqlx::FromRow)]
struct Applied {
    outcome: String,
    id: Option<i64>,
    customer_name: Option<String>,
}

/// The steps of one attempt at a booking or a payment, timed: a debug line per attempt says
/// where a slow one's time went (`RUST_LOG=adapters::postgres=debug`), under the request's span.
struct Steps {
    what: &'static str,
    attempt: usize,
    last: std::time::Instant,
    taken: Vec<(&'static str, std::time::Duration)>,
}

impl Steps {
    fn start(what: &'static str, attempt: usize) -> Steps {
        Steps {
            what,
            attempt,
            last: std::time::Instant::now(),
            taken: Vec::new(),
        }
    }

    /// `step` ended now.
    fn done(&mut self, step: &'static str) {
        let now = std::time::Instant::now();
        self.taken.push((step, now - self.last));
        self.last = now;
    }

    fn log(&self, outcome: &str) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let steps = self
            .taken
            .iter()
            .map(|(step, took)| format!("{step} {:.2} ms", took.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
            .join(", ");
        tracing::debug!(
            attempt = self.attempt,
            outcome,
            steps,
            "{} attempt",
            self.what
        );
    }
}

#[async_trait]
impl BookingRepository for PostgresStore {
    async fn place(
        &self,
        request: BookingRequest,
        policy: BookingPolicy,
        now: Timestamp,
    ) -> Result<BookingDetails, PlaceBookingError> {
        // Read without locks, decide, then apply the decision in one statement that takes the
        // event's lock only for its writes and commit, after checking that the snapshot still
        // holds; when it no longer does, read again.
        for attempt in 1..=APPLY_ATTEMPTS {
            let mut steps = Steps::start("booking", attempt);
            let mut conn = self.connection().await?;
            steps.done("acquire");
            let unpaid_since = policy.unpaid_bookings_read_since(now);
            let read = read_place_snapshot(&mut conn, &request, now, unpaid_since)
                .await?
                .ok_or(PlaceBookingError::EventNotFound)?;
            steps.done("snapshot");
            if read.has_lapsed_holds {
                drop(conn);
                self.expire_lapsed_events(Some(request.event_id), now)
                    .await?;
                steps.done("expire lapsed holds");
                steps.log("retried: lapsed holds freed first");
                continue;
            }
            let snapshot = read.into_snapshot()?;
            let decision = decide(&snapshot, &request, &policy, now);
            steps.done("decide");
            let decision = decision?;
            let code = self.codes.generate();
            let applied: Applied = sqlx::query_as(
                "SELECT outcome, booking_id AS id, customer_name \
                 FROM apply_booking($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(code.as_str())
            .bind(request.event_id.0)
            .bind(snapshot.event.date)
            .bind(decision.phase_id.0)
            .bind(&decision.ticket_type)
            .bind(decision.unit_price.amount())
            .bind(request.customer_id.0)
            .bind(i64::from(snapshot.tickets_held_by_customer))
            .bind(
                decision
                    .seats
                    .iter()
                    .map(|seat| seat.id.0)
                    .collect::<Vec<_>>(),
            )
            .bind(
                decision
                    .seats
                    .iter()
                    .map(|seat| seat.label.clone())
                    .collect::<Vec<_>>(),
            )
            .bind(now)
            .bind(decision.expires_at)
            .fetch_one(&mut *conn)
            .await
            .map_err(store_error)?;
            steps.done("write");
            steps.log(&applied.outcome);
            let (id, customer_name) =
                match (applied.outcome.as_str(), applied.id, applied.customer_name) {
                    ("placed", Some(id), Some(customer_name)) => (id, customer_name),
                    // Nothing was written: the event moved since the read, or the code was taken.
                    ("stale" | "code_taken", _, _) => continue,
                    (other, _, _) => return Err(corrupt("outcome of apply_booking", other).into()),
                };
            return Ok(BookingDetails {
                booking: decision.into_booking(BookingId(id), code, &request, now),
                event: EventSummary::from(&snapshot.event),
                customer_name,
                payment: None,
            });
        }
        Err(StoreError::Busy(format!(
            "event {} changed under each of {APPLY_ATTEMPTS} booking attempts",
            request.event_id
        ))
        .into())
    }

    async fn find_by_code(
        &self,
        code: &BookingCode,
        now: Timestamp,
    ) -> Result<Option<BookingDetails>, StoreError> {
        let mut conn = self.connection().await?;
        let Some((id, event)) = locate(&mut conn, code).await? else {
            return Ok(None);
        };
        let found = one(&mut conn, id).await?;
        if found.booking.hold_has_lapsed(now) {
            drop(conn);
            self.expire_lapsed_events(Some(event), now).await?;
            let mut conn = self.connection().await?;
            return one(&mut conn, id).await.map(Some);
        }
        Ok(Some(found))
    }

    async fn pay(
        &self,
        code: &BookingCode,
        payment: PaymentInput,
        now: Timestamp,
    ) -> Result<PaymentReceipt, BookingCommandError<domain::booking::PayRejection>> {
        // Read without locks, let the domain take the payment, then apply it in one statement
        // that confirms the booking only if it is still a pending hold. A lapsed hold is refused
        // by the domain as expired; the sweep or the next read records it.
        for attempt in 1..=APPLY_ATTEMPTS {
            let mut steps = Steps::start("payment", attempt);
            let mut conn = self.connection().await?;
            steps.done("acquire");
            let row: BookingWithSeatsRow =
                sqlx::query_as(concat!(booking_with_seats_select!(), "WHERE b.code = $1"))
                    .bind(code.as_str())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(store_error)?
                    .ok_or(BookingCommandError::NotFound)?;
            steps.done("snapshot");
            let mut details = row.into_details()?;
            let booking = &mut details.booking;
            let change = booking.pay(&payment, now);
            steps.done("decide");
            let change = change.map_err(BookingCommandError::Rejected)?;
            let applied: Applied = sqlx::query_as(
                "SELECT outcome, payment_id AS id, NULL::text AS customer_name \
                 FROM apply_payment($1, $2, $3, $4, $5, $6)",
            )
            .bind(booking.id.0)
            .bind(booking.event_id.0)
            .bind(now)
            .bind(payment.amount.amount())
            .bind(&payment.method)
            .bind(change.amount())
            .fetch_one(&mut *conn)
            .await
            .map_err(store_error)?;
            steps.done("write");
            steps.log(&applied.outcome);
            let id = match (applied.outcome.as_str(), applied.id) {
                ("paid", Some(id)) => id,
                // Nothing was written: paid, cancelled or expired since the read, which the
                // next read shows.
                ("stale", _) => continue,
                (other, _) => return Err(corrupt("outcome of apply_payment", other).into()),
            };
            let recorded = Payment::accepted(PaymentId(id), booking.id, &payment, change, now);
            details.payment = Some(recorded.clone());
            return Ok(PaymentReceipt {
                payment: recorded,
                booking: details,
            });
        }
        Err(StoreError::Busy(format!(
            "booking {code} changed under each of {APPLY_ATTEMPTS} payment attempts"
        ))
        .into())
    }

    async fn cancel(
        &self,
        code: &BookingCode,
        now: Timestamp,
    ) -> Result<BookingDetails, BookingCommandError<domain::booking::CancelRejection>> {
        let (mut tx, mut details) = begin_command(self, code, now).await?;
        let booking = &mut details.booking;
        let outcome = booking
            .cancel(details.event.date, now)
            .map_err(BookingCommandError::Rejected)?;
        let quantity = booking.quantity() as i32;
        sqlx::query(
            "WITH released AS (UPDATE phases SET sold = sold - $3 WHERE id = $4) \
             UPDATE bookings SET status = 'cancelled', cancelled_at = $2 WHERE id = $1",
        )
        .bind(booking.id.0)
        .bind(now)
        .bind(quantity)
        .bind(booking.phase_id.0)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        match outcome {
            CancelOutcome::Released => {
                sqlx::query(
                    "UPDATE event_figures SET seats_taken = seats_taken - $2, pending_bookings = pending_bookings - 1, \
                     seat_map_changes = seat_map_changes + 1 WHERE event_id = $1 AND shard = figure_shard($3)",
                )
                    .bind(booking.event_id.0)
                    .bind(quantity)
                    .bind(booking.id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
            }
            CancelOutcome::Refund => {
                sqlx::query(
                    "WITH refunded AS (UPDATE payments SET status = 'refunded', refunded_at = $4 WHERE booking_id = $5) \
                     UPDATE event_figures SET seats_taken = seats_taken - $2, tickets_sold = tickets_sold - $2, \
                     revenue = revenue - $3, seat_map_changes = seat_map_changes + 1 \
                     WHERE event_id = $1 AND shard = figure_shard($5)",
                )
                .bind(booking.event_id.0)
                .bind(quantity)
                .bind(booking.total_price.amount())
                .bind(now)
                .bind(booking.id.0)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            }
        }
        let cancelled = one(&mut tx, booking.id.0).await?;
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
        let booking = &mut details.booking;
        booking
            .check_in(now, audit.actor)
            .map_err(BookingCommandError::Rejected)?;
        sqlx::query(
            "WITH counted AS (UPDATE event_figures SET tickets_checked_in = tickets_checked_in + $3 \
                              WHERE event_id = $4 AND shard = figure_shard($1)) \
             UPDATE bookings SET checked_in_at = $2, checked_in_by = $5 WHERE id = $1",
        )
        .bind(booking.id.0)
        .bind(now)
        .bind(booking.quantity() as i32)
        .bind(booking.event_id.0)
        .bind(audit.actor.0)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        record(&mut tx, &[entry_for_check_in(audit, booking)]).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(details)
    }

    async fn expire_lapsed(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.expire_lapsed_events(None, now).await
    }

    async fn list_for_customer(
        &self,
        customer: domain::user::UserId,
        page: Page,
        now: Timestamp,
    ) -> Result<Paged<BookingDetails>, StoreError> {
        self.expire_lapsed_events(None, now).await?;
        let mut conn = self.connection().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM bookings WHERE customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
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
        Ok(Paged {
            items: details(&mut conn, &ids).await?,
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
        self.expire_lapsed_events(Some(event), now).await?;
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
            items: details(&mut conn, &ids).await?,
            total: total.max(0) as u64,
        }))
    }

    async fn dashboard(&self, now: Timestamp) -> Result<Dashboard, StoreError> {
        self.expire_lapsed_events(None, now).await?;
        let mut conn = self.connection().await?;
        let (revenue, tickets_sold, active_events, total_events, pending_bookings, checked_in): (i64, i64, i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT coalesce(sum(revenue), 0)::bigint, coalesce(sum(tickets_sold), 0)::bigint, \
                 (SELECT count(*) FROM events WHERE status = 'published' AND date > $1), \
                 (SELECT count(*) FROM events), \
                 coalesce(sum(pending_bookings), 0)::bigint, coalesce(sum(tickets_checked_in), 0)::bigint \
                 FROM event_figures",
            )
            .bind(now)
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
                .map(|row| RecentTransaction {
                    booking_code: row.code,
                    customer_name: row.customer_name,
                    event_name: row.event_name,
                    amount: Money::rupiah(row.total_price),
                    status: row.status,
                    date: row.created_at,
                })
                .collect(),
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
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
