//! The sale in PostgreSQL: bookings and payments of one show, decided by the domain and written
//! together.
//!
//! Every booking and payment of a show goes through the show's queue in this process. The first
//! request to find the queue empty starts its writer at once (a lone request waits for nobody);
//! requests that arrive while the writer is busy wait in the queue and are taken together, up to
//! [`MOST_COMMANDS_PER_BATCH`], as one batch: one read of the show, each request decided in turn
//! by the domain ([`ShowSale`], `Booking::pay`) against what the ones before it left, and one call
//! of `write_sale` (see its migration) that takes the show's lock (which orders the writes of
//! several processes), checks the facts the decisions read and writes everything accepted, in one
//! round trip and one commit. Each request gets its own answer: a refused one refuses only itself.
//!
//! The write states no rule: it inserts what the domain decided and moves the counters by what it
//! computed ([`FiguresChange`]). The fact it compares is the show's seat-map version as read
//! (every booking, payment, release and edit of the show moves it; each changed booking's status
//! and check-in are compared too). When the show moved since the read (another process sold in
//! between), nothing is written and the batch is read again, this time under the show's lock in a
//! transaction, so that it cannot move again. The schema stays the last line of defence (a seat in
//! one open booking, a phase within its quota).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, Postgres};
use tokio::sync::oneshot;

use application::ports::{
    BookingCommandError, CodeGenerator, PaymentReceipt, PlaceBookingError, StoreError,
};
use application::views::{BookingDetails, EventSummary};
use domain::booking::{
    latest_lapsed_expiry, Booking, BookingCode, BookingDecision, BookingId, BookingPolicy,
    BookingRequest, BookingStatus, PayRejection, SeatState,
};
use domain::event::EventId;
use domain::payment::{Payment, PaymentId, PaymentInput, PaymentStatus};
use domain::sale::{CustomerBooking, CustomerTickets, FiguresChange, ShowSale};
use domain::user::UserId;
use domain::Timestamp;

use super::rows::{
    booking_with_seats_select, count, event_columns, BookingWithSeatsRow, EventRow, PhaseRow,
    SeatRow,
};
use super::{corrupt, store_error, violated_unique, PostgresStore};

/// The most requests one batch decides and writes: bounds a batch's transaction and the time the
/// last of its requests waits for the first.
pub(super) const MOST_COMMANDS_PER_BATCH: usize = 64;

/// How many times a batch is read, decided and written before its requests are answered busy. A
/// batch is read again only when a fact it was decided on moved under it: a writer that did not
/// take the show's lock.
const BATCH_ATTEMPTS: usize = 8;

/// A request waiting for the show's writer.
pub(super) enum SaleCommand {
    Place {
        request: BookingRequest,
        policy: BookingPolicy,
        now: Timestamp,
        reply: oneshot::Sender<Result<BookingDetails, PlaceBookingError>>,
    },
    Pay {
        booking: BookingId,
        payment: PaymentInput,
        now: Timestamp,
        reply: oneshot::Sender<Result<PaymentReceipt, BookingCommandError<PayRejection>>>,
    },
}

impl SaleCommand {
    fn now(&self) -> Timestamp {
        match self {
            SaleCommand::Place { now, .. } | SaleCommand::Pay { now, .. } => *now,
        }
    }
}

/// What a batch answers one request.
enum Answer {
    Placed(Result<BookingDetails, PlaceBookingError>),
    Paid(Result<PaymentReceipt, BookingCommandError<PayRejection>>),
}

/// The requests waiting for each show's writer; a show is listed while its writer runs.
#[derive(Default)]
pub(super) struct SaleQueues {
    waiting: Mutex<HashMap<EventId, Vec<SaleCommand>>>,
}

impl SaleQueues {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<EventId, Vec<SaleCommand>>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Ends a show's writer however its task ends: on a panic the requests still waiting are
/// dropped (each then answers that the writer stopped) and the next request starts a new writer.
struct Writing {
    queues: Arc<SaleQueues>,
    event: EventId,
    /// Set when the writer took its show off the list itself, having found nothing waiting.
    finished: bool,
}

impl Drop for Writing {
    fn drop(&mut self) {
        if !self.finished {
            self.queues.lock().remove(&self.event);
        }
    }
}

fn writer_stopped() -> StoreError {
    StoreError::Unexpected("the show's sale writer stopped".into())
}

impl PostgresStore {
    /// Places a booking through its show's writer.
    pub(super) async fn place_in_batch(
        &self,
        request: BookingRequest,
        policy: BookingPolicy,
        now: Timestamp,
    ) -> Result<BookingDetails, PlaceBookingError> {
        let (reply, answer) = oneshot::channel();
        let event = request.event_id;
        self.submit(
            event,
            SaleCommand::Place {
                request,
                policy,
                now,
                reply,
            },
        );
        answer
            .await
            .unwrap_or_else(|_| Err(writer_stopped().into()))
    }

    /// Pays a booking of `event` through the show's writer.
    pub(super) async fn pay_in_batch(
        &self,
        event: EventId,
        booking: BookingId,
        payment: PaymentInput,
        now: Timestamp,
    ) -> Result<PaymentReceipt, BookingCommandError<PayRejection>> {
        let (reply, answer) = oneshot::channel();
        self.submit(
            event,
            SaleCommand::Pay {
                booking,
                payment,
                now,
                reply,
            },
        );
        answer
            .await
            .unwrap_or_else(|_| Err(writer_stopped().into()))
    }

    /// Queues `command` for its show's writer, starting the writer if none runs.
    fn submit(&self, event: EventId, command: SaleCommand) {
        let start_writer = {
            let mut waiting = self.sales.lock();
            match waiting.entry(event) {
                std::collections::hash_map::Entry::Occupied(mut queue) => {
                    queue.get_mut().push(command);
                    false
                }
                std::collections::hash_map::Entry::Vacant(queue) => {
                    queue.insert(vec![command]);
                    true
                }
            }
        };
        if start_writer {
            let store = self.clone();
            tokio::spawn(async move { store.run_writer(event).await });
        }
    }

    /// The show's writer: takes the waiting requests in batches until none waits.
    async fn run_writer(self, event: EventId) {
        let mut writing = Writing {
            queues: Arc::clone(&self.sales),
            event,
            finished: false,
        };
        // One connection for the batches that follow one another, not one wait for the pool
        // each (the pool is shared with every reader of seat maps); given back when nothing waits.
        let mut connection = None;
        loop {
            let batch: Vec<SaleCommand> = {
                let mut waiting = self.sales.lock();
                match waiting.get_mut(&event) {
                    Some(queue) if !queue.is_empty() => {}
                    _ => {
                        waiting.remove(&event);
                        writing.finished = true;
                        return;
                    }
                }
                let queue = waiting.get_mut(&event).expect("listed above");
                let taken = queue.len().min(MOST_COMMANDS_PER_BATCH);
                queue.drain(..taken).collect()
            };
            metrics::histogram!(crate::metrics::SALE_BATCH_SIZE).record(batch.len() as f64);
            self.apply_batch(event, batch, &mut connection).await;
        }
    }

    /// Decides and writes one batch, again while the facts it was decided on move, and answers
    /// each of its requests.
    async fn apply_batch(
        &self,
        event: EventId,
        batch: Vec<SaleCommand>,
        connection: &mut Option<PoolConnection<Postgres>>,
    ) {
        let mut answers = None;
        let mut tried = HashSet::new();
        for attempt in 1..=BATCH_ATTEMPTS {
            let attempted = match connection {
                Some(held) => {
                    self.try_batch(event, &batch, attempt, held, &mut tried)
                        .await
                }
                None => match self.connection().await {
                    Ok(fresh) => {
                        let held = connection.insert(fresh);
                        self.try_batch(event, &batch, attempt, held, &mut tried)
                            .await
                    }
                    Err(error) => Err(Retry::Failed(error)),
                },
            };
            if matches!(attempted, Err(Retry::Failed(_))) {
                // A connection that failed a batch is trusted with nothing more: closed, not
                // given back to the pool, whatever state the failure left it in.
                if let Some(mut failed) = connection.take() {
                    failed.close_on_drop();
                }
            }
            match attempted {
                Ok(decided) => {
                    answers = Some(Ok(decided));
                    break;
                }
                Err(Retry::FactsMoved) => continue,
                Err(Retry::Failed(error)) => {
                    answers = Some(Err(error));
                    break;
                }
            }
        }
        let answers = answers.unwrap_or_else(|| {
            Err(StoreError::Busy(format!(
                "event {event} changed under each of {BATCH_ATTEMPTS} attempts at its sale"
            )))
        });
        match answers {
            Ok(answers) => {
                for (command, answer) in batch.into_iter().zip(answers) {
                    // A request whose caller has gone is not waited for.
                    match (command, answer) {
                        (SaleCommand::Place { reply, .. }, Answer::Placed(answer)) => {
                            let _ = reply.send(answer);
                        }
                        (SaleCommand::Pay { reply, .. }, Answer::Paid(answer)) => {
                            let _ = reply.send(answer);
                        }
                        _ => unreachable!("answers follow their requests"),
                    }
                }
            }
            Err(error) => {
                for command in batch {
                    match command {
                        SaleCommand::Place { reply, .. } => {
                            let _ = reply.send(Err(error.clone().into()));
                        }
                        SaleCommand::Pay { reply, .. } => {
                            let _ = reply.send(Err(error.clone().into()));
                        }
                    }
                }
            }
        }
    }

    /// One attempt at a batch. The first reads without the show's lock and writes in one call
    /// that takes the lock and checks that the show has not moved since the read; an attempt
    /// after a move (or one that must first expire lapsed holds) reads under the lock, in a
    /// transaction, so that nothing can move under it.
    async fn try_batch(
        &self,
        event: EventId,
        batch: &[SaleCommand],
        attempt: usize,
        connection: &mut PgConnection,
        tried: &mut HashSet<BookingCode>,
    ) -> Result<Vec<Answer>, Retry> {
        let mut steps = Steps::start("sale batch", attempt, batch.len());
        if attempt == 1 {
            return self
                .decide_and_write(event, batch, connection, false, tried, &mut steps)
                .await;
        }
        let mut tx = connection.begin().await.map_err(store_error)?;
        sqlx::query("SELECT 1 FROM events WHERE id = $1 FOR NO KEY UPDATE")
            .bind(event.0)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        steps.done("lock");
        let answers = self
            .decide_and_write(event, batch, &mut tx, true, tried, &mut steps)
            .await?;
        tx.commit().await.map_err(store_error)?;
        Ok(answers)
    }

    /// Reads what the batch is decided on, decides each request in turn, writes what was
    /// decided; `locked`: the caller holds the show's lock in a transaction.
    async fn decide_and_write(
        &self,
        event: EventId,
        batch: &[SaleCommand],
        conn: &mut PgConnection,
        locked: bool,
        tried: &mut HashSet<BookingCode>,
        steps: &mut Steps,
    ) -> Result<Vec<Answer>, Retry> {
        let earliest = batch
            .iter()
            .map(SaleCommand::now)
            .min()
            .expect("a batch has a request");
        let mut read = match read_sale(conn, event, batch, earliest).await? {
            ShowRead::Missing => return Ok(answers_for_a_missing_show(batch)),
            ShowRead::Found(read) => Some(*read),
            ShowRead::NothingBooked => None,
        };
        // Seats of lapsed holds go back before anyone books, under the lock (a payment of a
        // lapsed hold is refused by the domain whether or not the hold was marked expired).
        if read.as_ref().is_some_and(|read| read.has_lapsed_holds) {
            if !locked {
                return Err(Retry::FactsMoved);
            }
            expire_lapsed_holds(conn, event, earliest).await?;
            if let ShowRead::Found(again) = read_sale(conn, event, batch, earliest).await? {
                read = Some(*again);
            }
        }
        let pays: Vec<BookingId> = batch
            .iter()
            .filter_map(|command| match command {
                SaleCommand::Pay { booking, .. } => Some(*booking),
                SaleCommand::Place { .. } => None,
            })
            .collect();
        let (paying_version, mut paying) = read_bookings(conn, event, &pays).await?;
        steps.done("read");

        let decisions: Vec<Decided> = batch
            .iter()
            .map(|command| decide_in_turn(command, read.as_mut(), &mut paying))
            .collect();
        steps.done("decide");

        let mut writes = SaleWrites::default();
        let mut booked = Vec::new();
        for (command, decided) in batch.iter().zip(&decisions) {
            match (command, decided) {
                (SaleCommand::Place { request, now, .. }, Decided::Booked(decision)) => {
                    let code = fresh_code(self.codes.as_ref(), tried);
                    // Its id is the write's to give.
                    let booking = decision
                        .clone()
                        .into_booking(BookingId(0), code, request, *now);
                    writes.book(&booking);
                    booked.push(booking);
                }
                (
                    _,
                    Decided::Paid {
                        before,
                        after,
                        payment,
                    },
                ) => {
                    writes.change(&BookingChange {
                        before: before.clone(),
                        after: after.booking.clone(),
                    });
                    writes.pay(payment);
                }
                _ => {}
            }
        }
        let written = if writes.is_empty() {
            Written {
                bookings: HashMap::new(),
                payments: HashMap::new(),
            }
        } else {
            let version_read = match (
                locked,
                read.as_ref().map(|read| read.version).or(paying_version),
            ) {
                (true, _) => None,
                (false, Some(version)) => Some(version),
                (false, None) => return Err(Retry::FactsMoved),
            };
            write_sale(conn, event, version_read, &writes).await?
        };
        steps.done("write");
        steps.log(&format!(
            "{} booked, {} paid",
            booked.len(),
            written.payments.len()
        ));

        let mut booked = booked.into_iter();
        decisions
            .into_iter()
            .map(|decided| {
                Ok(match decided {
                    Decided::Answered(answer) => answer,
                    Decided::Booked(_) => {
                        let mut booking = booked.next().expect("one new booking per one booked");
                        booking.id = *written
                            .bookings
                            .get(booking.code.as_str())
                            .ok_or_else(|| corrupt("new booking", "no id written"))?;
                        let read = read.as_ref().expect("read for every batch that books");
                        Answer::Placed(Ok(BookingDetails {
                            customer_name: read
                                .customer_names
                                .get(&booking.customer_id)
                                .cloned()
                                .unwrap_or_default(),
                            event: EventSummary::from(read.sale.event()),
                            booking,
                            payment: None,
                        }))
                    }
                    Decided::Paid {
                        mut after,
                        mut payment,
                        ..
                    } => {
                        payment.id = *written
                            .payments
                            .get(&after.booking.id)
                            .ok_or_else(|| corrupt("new payment", "no id written"))?;
                        after.payment = Some(payment.clone());
                        Answer::Paid(Ok(PaymentReceipt {
                            payment,
                            booking: after,
                        }))
                    }
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()
            .map_err(Retry::Failed)
    }
}

/// Every request of a batch for a show that does not exist is answered so.
fn answers_for_a_missing_show(batch: &[SaleCommand]) -> Vec<Answer> {
    batch
        .iter()
        .map(|command| match command {
            SaleCommand::Place { .. } => Answer::Placed(Err(PlaceBookingError::EventNotFound)),
            SaleCommand::Pay { .. } => Answer::Paid(Err(BookingCommandError::NotFound)),
        })
        .collect()
}

/// What `read_sale` found.
enum ShowRead {
    Found(Box<SaleRead>),
    Missing,
    /// The batch books nothing: only its payments' bookings are read.
    NothingBooked,
}

/// Why an attempt at a batch did not stand.
enum Retry {
    /// A fact a decision was taken on moved: read again.
    FactsMoved,
    Failed(StoreError),
}

impl From<StoreError> for Retry {
    fn from(error: StoreError) -> Self {
        Retry::Failed(error)
    }
}

/// What the domain decided for one request of a batch.
enum Decided {
    /// A booking to write.
    Booked(BookingDecision),
    /// A payment to write: the booking as read, as paid, and the payment (its id given by the
    /// write).
    Paid {
        before: Booking,
        after: BookingDetails,
        payment: Payment,
    },
    /// Refused, or nothing to write: the answer is known.
    Answered(Answer),
}

/// Decides one request of a batch against what the requests before it left in `read` (the show)
/// and `paying` (the bookings being paid).
fn decide_in_turn(
    command: &SaleCommand,
    read: Option<&mut SaleRead>,
    paying: &mut HashMap<BookingId, BookingDetails>,
) -> Decided {
    match command {
        SaleCommand::Place {
            request,
            policy,
            now,
            ..
        } => {
            let read = read.expect("the show is read for every batch that books");
            match read.sale.place(request, policy, *now) {
                Ok(decision) => Decided::Booked(decision),
                Err(rejection) => Decided::Answered(Answer::Placed(Err(rejection.into()))),
            }
        }
        SaleCommand::Pay {
            booking,
            payment,
            now,
            ..
        } => {
            let Some(details) = paying.get_mut(booking) else {
                return Decided::Answered(Answer::Paid(Err(BookingCommandError::NotFound)));
            };
            let before = details.booking.clone();
            match details.booking.pay(payment, *now) {
                Ok(change) => Decided::Paid {
                    payment: Payment::accepted(PaymentId(0), *booking, payment, change, *now),
                    before,
                    after: details.clone(),
                },
                Err(rejection) => {
                    Decided::Answered(Answer::Paid(Err(BookingCommandError::Rejected(rejection))))
                }
            }
        }
    }
}

/// The show as a batch that books reads it.
struct SaleRead {
    sale: ShowSale,
    /// The show's seat-map version when read: every booking, payment, release and edit of the
    /// show moves it, so the decisions stand while it has not moved.
    version: i64,
    customer_names: HashMap<UserId, String>,
    /// Whether a pending hold of the show has run out by the batch's earliest instant.
    has_lapsed_holds: bool,
}

/// What `read_sale` reads, in one row.
#[derive(sqlx::FromRow)]
struct SaleRow {
    #[sqlx(flatten)]
    event: EventRow,
    phase_ids: Vec<i64>,
    phase_names: Vec<String>,
    phase_prices: Vec<i64>,
    phase_quotas: Vec<i32>,
    phase_sold: Vec<i32>,
    phase_starts: Vec<Timestamp>,
    phase_ends: Vec<Timestamp>,
    seat_ids: Vec<i64>,
    seat_rows: Vec<i32>,
    seat_numbers: Vec<i32>,
    /// The status of the open booking holding each seat, or empty.
    seat_holders: Vec<String>,
    customer_ids: Vec<i64>,
    customer_names: Vec<String>,
    /// The askers' bookings of the show, as parallel arrays.
    booked_by: Vec<i64>,
    booking_statuses: Vec<String>,
    booking_tickets: Vec<i32>,
    booking_created: Vec<Timestamp>,
    booking_expiries: Vec<Timestamp>,
    booking_paid: Vec<Option<Timestamp>>,
    booking_cancelled: Vec<Option<Timestamp>>,
    /// When the show's first pending hold runs out.
    earliest_hold_expiry: Option<Timestamp>,
    sale_version: i64,
}

/// Reads, in one statement, what the batch's bookings are decided on: the show and its phases,
/// the seats they ask for with the status of whatever holds them, and the askers' names and
/// bookings of the show, and the show's version.
async fn read_sale(
    conn: &mut PgConnection,
    event: EventId,
    batch: &[SaleCommand],
    now: Timestamp,
) -> Result<ShowRead, StoreError> {
    let mut seats = Vec::new();
    let mut customers = Vec::new();
    let mut policy = None;
    for command in batch {
        if let SaleCommand::Place {
            request,
            policy: asked_under,
            ..
        } = command
        {
            seats.extend(request.seat_ids.iter().map(|seat| seat.0));
            customers.push(request.customer_id.0);
            policy = Some(*asked_under);
        }
    }
    let Some(policy) = policy else {
        return Ok(ShowRead::NothingBooked);
    };
    let row: Option<SaleRow> = sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        ", phase.*, seat.*, customer.*, booked.*, \
         (SELECT min(b.expires_at) FROM bookings b WHERE b.event_id = e.id AND b.status = 'pending') \
             AS earliest_hold_expiry, \
         (SELECT coalesce(sum(f.seat_map_changes), 0) FROM event_figures f WHERE f.event_id = e.id)::bigint \
             AS sale_version \
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
                    coalesce(array_agg(coalesce(holder.status, '') ORDER BY s.id), '{}') AS seat_holders \
             FROM (SELECT DISTINCT unnest($2::bigint[]) AS id) AS wanted JOIN seats s ON s.id = wanted.id \
             LEFT JOIN booking_seats bs ON bs.seat_id = s.id AND NOT bs.released \
             LEFT JOIN bookings holder ON holder.id = bs.booking_id \
             WHERE s.event_id = e.id AND NOT s.removed) AS seat \
         CROSS JOIN LATERAL ( \
             SELECT coalesce(array_agg(u.id), '{}') AS customer_ids, \
                    coalesce(array_agg(u.name), '{}') AS customer_names \
             FROM users u WHERE u.id = ANY($3)) AS customer \
         CROSS JOIN LATERAL ( \
             SELECT coalesce(array_agg(b.customer_id), '{}') AS booked_by, \
                    coalesce(array_agg(b.status), '{}') AS booking_statuses, \
                    coalesce(array_agg(b.quantity), '{}') AS booking_tickets, \
                    coalesce(array_agg(b.created_at), '{}') AS booking_created, \
                    coalesce(array_agg(b.expires_at), '{}') AS booking_expiries, \
                    coalesce(array_agg(b.paid_at), '{}') AS booking_paid, \
                    coalesce(array_agg(b.cancelled_at), '{}') AS booking_cancelled \
             FROM bookings b WHERE b.event_id = e.id AND b.customer_id = ANY($3)) AS booked \
         WHERE e.id = $1"
    ))
    .bind(event.0)
    .bind(&seats)
    .bind(&customers)
    .fetch_optional(conn)
    .await
    .map_err(store_error)?;
    match row {
        Some(row) => Ok(ShowRead::Found(Box::new(row.into_read(&policy, now)?))),
        None => Ok(ShowRead::Missing),
    }
}

impl SaleRow {
    fn into_read(self, policy: &BookingPolicy, now: Timestamp) -> Result<SaleRead, StoreError> {
        let event_id = self.event.id;
        let uneven = |what: &str| corrupt(what, "columns of different lengths");
        let phases = (0..self.phase_ids.len())
            .map(|index| {
                Some(PhaseRow {
                    id: self.phase_ids[index],
                    event_id,
                    name: self.phase_names.get(index)?.clone(),
                    price: *self.phase_prices.get(index)?,
                    quota: *self.phase_quotas.get(index)?,
                    sold: *self.phase_sold.get(index)?,
                    start_date: *self.phase_starts.get(index)?,
                    end_date: *self.phase_ends.get(index)?,
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| uneven("phases"))?;
        let seats = (0..self.seat_ids.len())
            .map(|index| {
                let row = SeatRow {
                    id: self.seat_ids[index],
                    row_index: *self.seat_rows.get(index).ok_or_else(|| uneven("seats"))?,
                    number: *self
                        .seat_numbers
                        .get(index)
                        .ok_or_else(|| uneven("seats"))?,
                    held_by: self
                        .seat_holders
                        .get(index)
                        .filter(|status| !status.is_empty())
                        .cloned(),
                };
                Ok(SeatState {
                    seat: row.seat()?,
                    status: row.status(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut bookings: BTreeMap<UserId, Vec<CustomerBooking>> = BTreeMap::new();
        for index in 0..self.booked_by.len() {
            let status = self
                .booking_statuses
                .get(index)
                .ok_or_else(|| uneven("bookings"))?;
            let booking = CustomerBooking {
                status: BookingStatus::parse(status)
                    .ok_or_else(|| corrupt("booking status", status))?,
                tickets: count(
                    *self
                        .booking_tickets
                        .get(index)
                        .ok_or_else(|| uneven("bookings"))?,
                    "booking quantity",
                )?,
                created_at: *self
                    .booking_created
                    .get(index)
                    .ok_or_else(|| uneven("bookings"))?,
                expires_at: *self
                    .booking_expiries
                    .get(index)
                    .ok_or_else(|| uneven("bookings"))?,
                paid_at: *self
                    .booking_paid
                    .get(index)
                    .ok_or_else(|| uneven("bookings"))?,
                cancelled_at: *self
                    .booking_cancelled
                    .get(index)
                    .ok_or_else(|| uneven("bookings"))?,
            };
            bookings
                .entry(UserId(self.booked_by[index]))
                .or_default()
                .push(booking);
        }
        let customers = bookings
            .into_iter()
            .map(|(customer, bookings)| (customer, CustomerTickets::of(bookings, policy, now)))
            .collect();
        let customer_names = self
            .customer_ids
            .into_iter()
            .map(UserId)
            .zip(self.customer_names)
            .collect();
        let has_lapsed_holds = self
            .earliest_hold_expiry
            .is_some_and(|expiry| expiry <= latest_lapsed_expiry(now));
        let version = self.sale_version;
        let view = self.event.into_view(phases)?;
        Ok(SaleRead {
            version,
            sale: ShowSale::new(view.event, view.sales, seats, customers),
            customer_names,
            has_lapsed_holds,
        })
    }
}

/// A booking being paid, and the show's version when it was read.
#[derive(sqlx::FromRow)]
struct PayingRow {
    #[sqlx(flatten)]
    booking: BookingWithSeatsRow,
    sale_version: i64,
}

/// The bookings of the show being paid, with their seats, by id; and the show's version when
/// they were read (`None` when none was found).
async fn read_bookings(
    conn: &mut PgConnection,
    event: EventId,
    ids: &[BookingId],
) -> Result<(Option<i64>, HashMap<BookingId, BookingDetails>), StoreError> {
    if ids.is_empty() {
        return Ok((None, HashMap::new()));
    }
    let rows: Vec<PayingRow> = sqlx::query_as(concat!(
        "SELECT paying.*, (SELECT coalesce(sum(f.seat_map_changes), 0) FROM event_figures f \
            WHERE f.event_id = paying.event_id)::bigint AS sale_version FROM (",
        booking_with_seats_select!(),
        "WHERE b.id = ANY($1) AND b.event_id = $2) AS paying"
    ))
    .bind(ids.iter().map(|id| id.0).collect::<Vec<_>>())
    .bind(event.0)
    .fetch_all(conn)
    .await
    .map_err(store_error)?;
    let version = rows.first().map(|row| row.sale_version);
    let bookings = rows
        .into_iter()
        .map(|row| {
            let details = row.booking.into_details()?;
            Ok((details.booking.id, details))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok((version, bookings))
}

/// A change the domain made to a stored booking: as read, and as it is to be.
pub(super) struct BookingChange {
    pub before: Booking,
    pub after: Booking,
}

/// What one call of `write_sale` (see its migration) writes: records the function reads with
/// `jsonb_to_recordset`, each built from what the domain decided and computed.
#[derive(Default)]
pub(super) struct SaleWrites {
    bookings: Vec<serde_json::Value>,
    seats: Vec<serde_json::Value>,
    changes: Vec<serde_json::Value>,
    payments: Vec<serde_json::Value>,
    moves: Vec<serde_json::Value>,
}

fn instant(at: Timestamp) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl SaleWrites {
    pub fn is_empty(&self) -> bool {
        self.bookings.is_empty() && self.changes.is_empty() && self.payments.is_empty()
    }

    /// A new booking (its id is the write's to give), its seats, and what it moves.
    pub fn book(&mut self, booking: &Booking) {
        let code = booking.code.as_str();
        self.bookings.push(serde_json::json!({
            "code": code,
            "phase_id": booking.phase_id.0,
            "ticket_type": booking.ticket_type,
            "customer_id": booking.customer_id.0,
            "quantity": booking.quantity(),
            "unit_price": booking.unit_price.amount(),
            "total_price": booking.total_price.amount(),
            "status": booking.status.as_str(),
            "created_at": instant(booking.created_at),
            "expires_at": instant(booking.expires_at),
        }));
        for seat in &booking.seats {
            self.seats.push(serde_json::json!({
                "code": code, "seat_id": seat.id.0, "label": seat.label,
            }));
        }
        self.moves(
            serde_json::json!({ "code": code }),
            booking,
            FiguresChange::of(None, booking),
        );
    }

    /// A stored booking's change, and what it moves.
    pub fn change(&mut self, change: &BookingChange) {
        let (before, after) = (&change.before, &change.after);
        self.changes.push(serde_json::json!({
            "id": after.id.0,
            "status_read": before.status.as_str(),
            "checked_in_read": before.checked_in_at.map(instant),
            "status": after.status.as_str(),
            "paid_at": after.paid_at.map(instant),
            "cancelled_at": after.cancelled_at.map(instant),
            "checked_in_at": after.checked_in_at.map(instant),
            "checked_in_by": after.checked_in_by.map(|user| user.0),
            "releases_seats": before.status.holds_seats() && !after.status.holds_seats(),
        }));
        self.moves(
            serde_json::json!({ "booking_id": after.id.0 }),
            after,
            FiguresChange::of(Some(before), after),
        );
    }

    /// An accepted payment (its id is the write's to give).
    pub fn pay(&mut self, payment: &Payment) {
        self.payments.push(serde_json::json!({
            "booking_id": payment.booking_id.0,
            "amount": payment.amount.amount(),
            "method": payment.method,
            "change": payment.change.amount(),
            "status": payment.status.as_str(),
            "created_at": instant(payment.created_at),
        }));
    }

    fn moves(&mut self, mut key: serde_json::Value, booking: &Booking, change: FiguresChange) {
        if change.is_none() {
            return;
        }
        let tickets = |value: i64| i32::try_from(value).unwrap_or(i32::MAX);
        if let serde_json::Value::Object(fields) = &mut key {
            fields.extend([
                ("phase_id".to_string(), booking.phase_id.0.into()),
                ("seats_held".to_string(), tickets(change.seats_held).into()),
                (
                    "pending_bookings".to_string(),
                    tickets(change.pending_bookings).into(),
                ),
                (
                    "tickets_sold".to_string(),
                    tickets(change.tickets_sold).into(),
                ),
                ("revenue".to_string(), change.revenue.amount().into()),
                (
                    "tickets_checked_in".to_string(),
                    tickets(change.tickets_checked_in).into(),
                ),
                (
                    "seat_map_moved".to_string(),
                    i32::from(change.seat_map_moved).into(),
                ),
            ]);
        }
        self.moves.push(key);
    }

    fn to_json(&self) -> String {
        serde_json::json!({
            "bookings": self.bookings,
            "seats": self.seats,
            "changes": self.changes,
            "payments": self.payments,
            "moves": self.moves,
        })
        .to_string()
    }
}

/// What `write_sale` gave ids to: new bookings by code, new payments by booking.
struct Written {
    bookings: HashMap<String, BookingId>,
    payments: HashMap<BookingId, PaymentId>,
}

/// Writes `writes` in one call: under the show's lock, if the show is still at `version_read`
/// (`None`: the caller read under the lock) and every changed booking still has what was read.
async fn write_sale(
    conn: &mut PgConnection,
    event: EventId,
    version_read: Option<i64>,
    writes: &SaleWrites,
) -> Result<Written, Retry> {
    /// A new booking (its code and id) or a new payment (its booking and id).
    #[derive(sqlx::FromRow)]
    struct WrittenRow {
        code: Option<String>,
        booking_id: i64,
        payment_id: Option<i64>,
    }
    let rows: Result<Vec<WrittenRow>, sqlx::Error> =
        sqlx::query_as("SELECT code, booking_id, payment_id FROM write_sale($1, $2, $3::jsonb)")
            .bind(event.0)
            .bind(version_read)
            .bind(writes.to_json())
            .fetch_all(conn)
            .await;
    let rows = match rows {
        Ok(rows) => rows,
        // The show moved, a booking changed, or a fresh code was taken: nothing was written.
        Err(error) if moved_or_taken(&error) => return Err(Retry::FactsMoved),
        Err(error) => return Err(Retry::Failed(store_error(error))),
    };
    let mut written = Written {
        bookings: HashMap::new(),
        payments: HashMap::new(),
    };
    for WrittenRow {
        code,
        booking_id: booking,
        payment_id: payment,
    } in rows
    {
        match (code, payment) {
            (Some(code), None) => {
                written.bookings.insert(code, BookingId(booking));
            }
            (None, Some(payment)) => {
                written
                    .payments
                    .insert(BookingId(booking), PaymentId(payment));
            }
            _ => return Err(corrupt("outcome of write_sale", "a row of neither kind").into()),
        }
    }
    Ok(written)
}

/// Whether a write failed because a fact it checked moved (`write_sale` raises
/// serialization_failure) or a fresh booking code was already taken.
fn moved_or_taken(error: &sqlx::Error) -> bool {
    if violated_unique(error) == Some("bookings_code_key") {
        return true;
    }
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("40001"))
}

/// A booking code not tried before by this batch: every code of a batch differs, and a code that
/// turned out taken is not tried again.
fn fresh_code(codes: &dyn CodeGenerator, tried: &mut HashSet<BookingCode>) -> BookingCode {
    let mut code = codes.generate();
    for _ in 0..16 {
        if tried.insert(code.clone()) {
            break;
        }
        code = codes.generate();
    }
    code
}

/// Expires the show's lapsed holds and gives their seats and quota back, in the caller's
/// transaction, which must hold the show's lock: the pending holds expiring by
/// `latest_lapsed_expiry(now)` are read and `Booking::expire` decides each. Returns how many
/// it expired.
pub(super) async fn expire_lapsed_holds(
    conn: &mut PgConnection,
    event: EventId,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let rows: Vec<BookingWithSeatsRow> = sqlx::query_as(concat!(
        booking_with_seats_select!(),
        // The status is written out, not bound, so that the index of pending holds serves.
        "WHERE b.event_id = $1 AND b.status = 'pending' AND b.expires_at <= $2 ORDER BY b.id FOR UPDATE OF b"
    ))
    .bind(event.0)
    .bind(latest_lapsed_expiry(now))
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        let before = row.into_details()?.booking;
        let mut after = before.clone();
        if after.expire(now) {
            changes.push(BookingChange { before, after });
        }
    }
    write_changes_under_lock(conn, event, &changes).await?;
    Ok(changes.len() as u64)
}

/// Marks the payments of `bookings` refunded at `now`.
pub(super) async fn refund_payments(
    conn: &mut PgConnection,
    bookings: &[BookingId],
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE payments SET status = $3, refunded_at = $2 WHERE booking_id = ANY($1) AND status = $4",
    )
    .bind(bookings.iter().map(|id| id.0).collect::<Vec<_>>())
    .bind(now)
    .bind(PaymentStatus::Refunded.as_str())
    .bind(PaymentStatus::Success.as_str())
    .execute(conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// Writes changes decided under the show's lock, with the bookings locked: the facts cannot
/// have moved, and if they did, something wrote without the lock.
pub(super) async fn write_changes_under_lock(
    conn: &mut PgConnection,
    event: EventId,
    changes: &[BookingChange],
) -> Result<(), StoreError> {
    let mut writes = SaleWrites::default();
    for change in changes {
        writes.change(change);
    }
    if writes.is_empty() {
        return Ok(());
    }
    match write_sale(conn, event, None, &writes).await {
        Ok(_) => Ok(()),
        Err(Retry::Failed(error)) => Err(error),
        Err(Retry::FactsMoved) => Err(StoreError::Busy(format!(
            "bookings of event {event} changed under its lock"
        ))),
    }
}

/// The steps of one attempt at a batch, timed: a debug line per attempt says where a slow one's
/// time went (`RUST_LOG=adapters::postgres=debug`), under the span of the request that started
/// the show's writer.
struct Steps {
    what: &'static str,
    attempt: usize,
    requests: usize,
    last: std::time::Instant,
    taken: Vec<(&'static str, std::time::Duration)>,
}

impl Steps {
    fn start(what: &'static str, attempt: usize, requests: usize) -> Steps {
        Steps {
            what,
            attempt,
            requests,
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
            requests = self.requests,
            outcome,
            steps,
            "{} attempt",
            self.what
        );
    }
}
