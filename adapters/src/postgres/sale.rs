//! The sale in PostgreSQL: bookings and payments of one show, decided by the domain and written
//! together.
//!
//! Every booking and payment of a show goes through the show's queue in this process. The first
//! request to find the queue empty starts its writer at once (a lone request waits for nobody);
//! requests that arrive while the writer is busy wait in the queue and are taken together, up to
//! [`MOST_COMMANDS_PER_BATCH`], as one batch: one transaction, one lock of the show's row (which
//! orders the batches of several processes), one read of the show, each request decided in turn
//! by the domain ([`ShowSale`], `Booking::pay`) against what the ones before it left, one write of
//! everything accepted, one commit. Each request gets its own answer: a refused one refuses only
//! itself.
//!
//! The writes state no rule: they insert what the domain decided and move the counters by what it
//! computed ([`FiguresChange`]), each compared-and-set on the facts the decisions read (a
//! booking's status and check-in, a phase's sold tickets); if a fact moved, the batch is read and
//! decided again. The schema stays the last line of defence (a seat in one open booking, a phase
//! within its quota).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres};
use tokio::sync::oneshot;

use application::ports::{
    BookingCommandError, CodeGenerator, PaymentReceipt, PlaceBookingError, StoreError,
};
use application::views::{BookingDetails, EventSummary};
use domain::booking::{
    latest_lapsed_expiry, Booking, BookingCode, BookingDecision, BookingId, BookingPolicy,
    BookingRequest, BookingStatus, PayRejection, SeatState,
};
use domain::event::{EventId, PhaseId, PhaseSales};
use domain::notification::Notice;
use domain::payment::{Payment, PaymentId, PaymentInput, PaymentStatus};
use domain::sale::{CustomerBooking, CustomerTickets, FiguresChange, ShowSale};
use domain::user::UserId;
use domain::Timestamp;

use super::rows::{
    booking_with_seats_select, count, event_columns, BookingWithSeatsRow, EventRow, PhaseRow,
    SeatRow,
};
use super::{corrupt, store_error, PostgresStore};

/// The most requests one batch decides and writes: bounds a batch's transaction and the time the
/// last of its requests waits for the first.
pub(super) const MOST_COMMANDS_PER_BATCH: usize = 64;

/// How many times a batch is read, decided and written before its requests are answered busy. A
/// batch is read again only when a fact it was decided on moved under it (a writer that did not
/// take the show's lock) or a fresh booking code was already taken.
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

/// The requests waiting for each show's writer (a show is listed while its writer runs), and the
/// bookings this process has placed or looked up.
#[derive(Default)]
pub(super) struct SaleQueues {
    waiting: Mutex<HashMap<EventId, Vec<SaleCommand>>>,
    /// What never changes of the bookings this process placed or looked up, by code: where a
    /// payment finds its show, and a command its customer, without asking the database first.
    /// Forgotten all at once when it holds [`MOST_REMEMBERED_BOOKINGS`].
    known: Mutex<HashMap<BookingCode, BookingKeys>>,
}

/// What never changes of a booking: its id, its show and its customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BookingKeys {
    pub id: BookingId,
    pub event: EventId,
    pub customer: UserId,
}

/// How many bookings a process remembers the keys of.
const MOST_REMEMBERED_BOOKINGS: usize = 100_000;

impl SaleQueues {
    /// The keys of a booking this process placed or looked up, if it still remembers them.
    pub(super) fn known(&self, code: &BookingCode) -> Option<BookingKeys> {
        self.known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(code)
            .copied()
    }

    pub(super) fn remember(&self, bookings: impl IntoIterator<Item = (BookingCode, BookingKeys)>) {
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if known.len() >= MOST_REMEMBERED_BOOKINGS {
            known.clear();
        }
        known.extend(bookings);
    }

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
        self.through_writer(request.event_id, |reply| SaleCommand::Place {
            request,
            policy,
            now,
            reply,
        })
        .await
    }

    /// Pays a booking of `event` through the show's writer.
    pub(super) async fn pay_in_batch(
        &self,
        event: EventId,
        booking: BookingId,
        payment: PaymentInput,
        now: Timestamp,
    ) -> Result<PaymentReceipt, BookingCommandError<PayRejection>> {
        self.through_writer(event, |reply| SaleCommand::Pay {
            booking,
            payment,
            now,
            reply,
        })
        .await
    }

    /// Queues the command made with the sender of its answer for the show's writer, and waits
    /// for the answer.
    async fn through_writer<T, E: From<StoreError>>(
        &self,
        event: EventId,
        command: impl FnOnce(oneshot::Sender<Result<T, E>>) -> SaleCommand,
    ) -> Result<T, E> {
        let (reply, answer) = oneshot::channel();
        self.submit(event, command(reply));
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
            tokio::spawn(async move { store.write_sale(event).await });
        }
    }

    /// The show's writer: takes the waiting requests in batches until none waits.
    async fn write_sale(self, event: EventId) {
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
        // The booking codes this batch tried: one found taken is not tried again.
        let mut tried = HashSet::new();
        for attempt in 1..=BATCH_ATTEMPTS {
            let attempted = match connection {
                Some(held) => {
                    self.try_batch(event, &batch, attempt, held, &mut tried)
                        .await
                }
                None => match self.pooled().await {
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

    /// One attempt at a batch: lock the show, give back its lapsed holds, read, decide each
    /// request in turn, write, commit.
    async fn try_batch(
        &self,
        event: EventId,
        batch: &[SaleCommand],
        attempt: usize,
        connection: &mut PgConnection,
        tried: &mut HashSet<BookingCode>,
    ) -> Result<Vec<Answer>, Retry> {
        let mut steps = Steps::start("sale batch", event, attempt, batch.len());
        let mut tx = self.begin_on(connection).await.map_err(Retry::Failed)?;
        steps.done("begin");
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM events WHERE id = $1 FOR NO KEY UPDATE")
                .bind(event.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
        if exists.is_none() {
            return Ok(batch
                .iter()
                .map(|command| match command {
                    SaleCommand::Place { .. } => {
                        Answer::Placed(Err(PlaceBookingError::EventNotFound))
                    }
                    SaleCommand::Pay { .. } => Answer::Paid(Err(BookingCommandError::NotFound)),
                })
                .collect());
        }
        let earliest = batch
            .iter()
            .map(SaleCommand::now)
            .min()
            .expect("a batch has a request");
        steps.done("lock");

        // Seats of lapsed holds go back before anyone books (a payment of a lapsed hold is
        // refused by the domain whether or not the hold was marked expired).
        let mut read = read_sale(&mut tx, event, batch, earliest).await?;
        if read.as_ref().is_some_and(|read| read.has_lapsed_holds) {
            expire_lapsed_holds(&mut tx, event, earliest).await?;
            read = read_sale(&mut tx, event, batch, earliest).await?;
        }
        let pays: Vec<BookingId> = batch
            .iter()
            .filter_map(|command| match command {
                SaleCommand::Pay { booking, .. } => Some(*booking),
                SaleCommand::Place { .. } => None,
            })
            .collect();
        let mut paying = read_bookings(&mut tx, event, &pays).await?;
        steps.done("snapshot");

        let decisions: Vec<Decided> = batch
            .iter()
            .map(|command| decide_in_turn(command, read.as_mut(), &mut paying))
            .collect();
        steps.done("decide");

        let mut writes = ShowWrites {
            notices_for_everyone: self.buyer_emails.load(std::sync::atomic::Ordering::Relaxed),
            ..ShowWrites::default()
        };
        for (command, decided) in batch.iter().zip(&decisions) {
            match (command, decided) {
                (SaleCommand::Place { request, now, .. }, Decided::Booked(decision)) => {
                    // Its id is the write's to give.
                    writes.new.push(decision.clone().into_booking(
                        BookingId(0),
                        fresh_code(self.codes.as_ref(), tried),
                        request,
                        *now,
                    ));
                }
                (
                    _,
                    Decided::Paid {
                        before,
                        after,
                        payment,
                    },
                ) => {
                    writes.changes.push(BookingChange {
                        before: before.clone(),
                        after: after.booking.clone(),
                    });
                    writes.payments.push(payment);
                }
                _ => {}
            }
        }
        let sold_as_read = read.as_ref().map(|read| &read.sold_as_read);
        let Some(written) = write_show(&mut tx, event, &writes, sold_as_read).await? else {
            return Err(Retry::FactsMoved);
        };
        tx.commit().await.map_err(store_error)?;
        steps.done("write and commit");
        steps.log(&format!(
            "{} booked, {} paid",
            writes.new.len(),
            writes.payments.len()
        ));

        self.sales.remember(writes.new.iter().filter_map(|booking| {
            let keys = BookingKeys {
                id: *written.bookings.get(booking.code.as_str())?,
                event,
                customer: booking.customer_id,
            };
            Some((booking.code.clone(), keys))
        }));
        let mut booked = writes.new.into_iter();
        fn id_of<T: Copy>(what: &str, id: Option<&T>) -> Result<T, Retry> {
            id.copied()
                .ok_or_else(|| Retry::Failed(corrupt(what, "no id given by its write")))
        }
        decisions
            .into_iter()
            .map(|decided| {
                Ok(match decided {
                    Decided::Answered(answer) => answer,
                    Decided::Booked(_) => {
                        let mut booking = booked.next().expect("one new booking per one booked");
                        booking.id =
                            id_of("new booking", written.bookings.get(booking.code.as_str()))?;
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
                        payment.id = id_of("new payment", written.payments.get(&after.booking.id))?;
                        after.payment = Some(payment.clone());
                        Answer::Paid(Ok(PaymentReceipt {
                            payment,
                            booking: after,
                        }))
                    }
                })
            })
            .collect()
    }
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

/// The show as a batch that books reads it under the lock.
struct SaleRead {
    sale: ShowSale,
    /// Each phase's sold tickets as read: the fact the decisions relied on, compared when the
    /// counters move.
    sold_as_read: PhaseSales,
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
}

/// Reads, in one statement, what the batch's bookings are decided on: the show and its phases,
/// the seats they ask for with the status of whatever holds them, and the askers' names and
/// bookings of the show. `None` when the batch books nothing.
async fn read_sale(
    conn: &mut PgConnection,
    event: EventId,
    batch: &[SaleCommand],
    now: Timestamp,
) -> Result<Option<SaleRead>, StoreError> {
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
        return Ok(None);
    };
    let row: SaleRow = sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        ", phase.*, seat.*, customer.*, booked.*, \
         (SELECT min(b.expires_at) FROM bookings b WHERE b.event_id = e.id AND b.status = 'pending') \
             AS earliest_hold_expiry \
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
             LEFT JOIN booking_seats bs ON bs.seat_id = s.id AND bs.event_id = s.event_id \
                                        AND NOT bs.released \
             LEFT JOIN bookings holder ON holder.id = bs.booking_id AND holder.event_id = bs.event_id \
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
    .fetch_one(conn)
    .await
    .map_err(store_error)?;
    row.into_read(&policy, now).map(Some)
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
        let view = self.event.into_view(phases)?;
        Ok(SaleRead {
            sold_as_read: view.sales.clone(),
            sale: ShowSale::new(view.event, view.sales, seats, customers),
            customer_names,
            has_lapsed_holds,
        })
    }
}

/// The bookings of the show being paid, with their seats, by id.
async fn read_bookings(
    conn: &mut PgConnection,
    event: EventId,
    ids: &[BookingId],
) -> Result<HashMap<BookingId, BookingDetails>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<BookingWithSeatsRow> = sqlx::query_as(concat!(
        booking_with_seats_select!(),
        "WHERE b.id = ANY($1) AND b.event_id = $2"
    ))
    .bind(ids.iter().map(|id| id.0).collect::<Vec<_>>())
    .bind(event.0)
    .fetch_all(conn)
    .await
    .map_err(store_error)?;
    rows.into_iter()
        .map(|row| {
            let details = row.into_details()?;
            Ok((details.booking.id, details))
        })
        .collect()
}

/// A change the domain made to a stored booking: as read, and as it is to be.
pub(super) struct BookingChange {
    pub before: Booking,
    pub after: Booking,
}

/// What one write of a show stores: new bookings (their ids are the write's to give), changes to
/// stored bookings, new payments (ids likewise).
#[derive(Default)]
pub(super) struct ShowWrites<'a> {
    pub new: Vec<Booking>,
    pub changes: Vec<BookingChange>,
    pub payments: Vec<&'a Payment>,
    /// Whether the changes' notifications are recorded even while no webhook endpoint listens
    /// (buyers are e-mailed, or the write is rare enough that the check is not worth making:
    /// what nobody wants is dropped when fanned out).
    pub notices_for_everyone: bool,
}

/// The ids a write gave: new bookings by code, new payments by booking.
struct Written {
    bookings: HashMap<String, BookingId>,
    payments: HashMap<BookingId, PaymentId>,
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

/// Writes what the domain decided for a show, in one statement, in the caller's transaction
/// (which holds the show's lock): the new bookings and their seats, each changed booking (only if
/// it still has the status and check-in it was read with; the seats of those that no longer hold
/// them given back), the new payments, what each change tells the world (`Notice`, into the
/// outbox), and the counters moved by what the domain computed (`FiguresChange`): each phase's
/// sold tickets (only if still what was read, when `sold_as_read` is given) and the figures in
/// each booking's shard. `None` if a fact moved or a new booking's
/// code was taken: the statement's writes must then be rolled back with the transaction.
async fn write_show(
    conn: &mut PgConnection,
    event: EventId,
    writes: &ShowWrites<'_>,
    sold_as_read: Option<&PhaseSales>,
) -> Result<Option<Written>, StoreError> {
    /// A new booking (its code and id), a new payment (its booking and id), or a count.
    #[derive(sqlx::FromRow)]
    struct WrittenRow {
        kind: String,
        code: Option<String>,
        booking_id: Option<i64>,
        id: Option<i64>,
    }
    let new = &writes.new;
    let changes = &writes.changes;
    let payments = &writes.payments;
    let seats: Vec<(&str, i64, &str)> = new
        .iter()
        .flat_map(|booking| {
            booking
                .seats
                .iter()
                .map(|seat| (booking.code.as_str(), seat.id.0, seat.label.as_str()))
        })
        .collect();
    let released: Vec<i64> = changes
        .iter()
        .filter(|c| c.before.status.holds_seats() && !c.after.status.holds_seats())
        .map(|c| c.after.id.0)
        .collect();
    // What each booking moves; a new one is known by its code until the insert gives its id.
    let moves: Vec<(Option<&str>, Option<i64>, i64, FiguresChange)> = new
        .iter()
        .map(|b| {
            (
                Some(b.code.as_str()),
                None,
                b.phase_id.0,
                FiguresChange::of(None, b),
            )
        })
        .chain(changes.iter().map(|c| {
            (
                None,
                Some(c.after.id.0),
                c.after.phase_id.0,
                FiguresChange::of(Some(&c.before), &c.after),
            )
        }))
        .filter(|(_, _, _, change)| !change.is_none())
        .collect();
    // What the changes tell the world, recorded with them (the outbox) while anyone listens.
    let notices: Vec<Notice> = changes
        .iter()
        .filter_map(|c| Notice::of_change(&c.before, &c.after))
        .collect();
    let mut phase_moves: BTreeMap<i64, i64> = BTreeMap::new();
    for (_, _, phase, change) in &moves {
        *phase_moves.entry(*phase).or_default() += change.seats_held;
    }
    phase_moves.retain(|_, seats| *seats != 0);
    let tickets = |value: i64| i32::try_from(value).unwrap_or(i32::MAX);
    let rows: Vec<WrittenRow> = sqlx::query_as(
        "WITH booked AS ( \
             INSERT INTO bookings (code, event_id, phase_id, ticket_type, customer_id, quantity, \
                                   unit_price, total_price, status, created_at, expires_at) \
             SELECT n.code, $1, n.phase_id, n.ticket_type, n.customer_id, n.quantity, \
                    n.unit_price, n.total_price, n.status, n.created_at, n.expires_at \
             FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::int[], $7::bigint[], \
                         $8::bigint[], $9::text[], $10::timestamptz[], $11::timestamptz[]) \
                  AS n (code, phase_id, ticket_type, customer_id, quantity, unit_price, total_price, \
                        status, created_at, expires_at) \
             ON CONFLICT (code) DO NOTHING \
             RETURNING id, code \
         ), seated AS ( \
             INSERT INTO booking_seats (booking_id, seat_id, event_id, label) \
             SELECT booked.id, s.seat_id, $1, s.label \
             FROM unnest($12::text[], $13::bigint[], $14::text[]) AS s (code, seat_id, label) \
             JOIN booked ON booked.code = s.code \
         ), released AS ( \
             UPDATE booking_seats SET released = TRUE \
             WHERE booking_id = ANY($15) AND event_id = $1 AND NOT released \
         ), changed AS ( \
             UPDATE bookings b SET status = c.status, paid_at = c.paid_at, cancelled_at = c.cancelled_at, \
                    checked_in_at = c.checked_in_at, checked_in_by = c.checked_in_by \
             FROM unnest($16::bigint[], $17::text[], $18::timestamptz[], $19::text[], $20::timestamptz[], \
                         $21::timestamptz[], $22::timestamptz[], $23::bigint[]) \
                  AS c (id, status_read, checked_in_read, status, paid_at, cancelled_at, checked_in_at, \
                        checked_in_by) \
             WHERE b.id = c.id AND b.event_id = $1 AND b.status = c.status_read \
               AND b.checked_in_at IS NOT DISTINCT FROM c.checked_in_read \
             RETURNING b.id \
         ), paid AS ( \
             INSERT INTO payments (booking_id, event_id, amount, method, change, status, created_at) \
             SELECT p.booking_id, $1, p.amount, p.method, p.change, p.status, p.created_at \
             FROM unnest($24::bigint[], $25::bigint[], $26::text[], $27::bigint[], $28::text[], \
                         $29::timestamptz[]) \
                  AS p (booking_id, amount, method, change, status, created_at) \
             JOIN changed ON changed.id = p.booking_id \
             RETURNING payments.booking_id, payments.id \
         ), moved AS ( \
             SELECT coalesce(m.booking_id, booked.id) AS booking_id, m.seats_held, m.pending_bookings, \
                    m.tickets_sold, m.revenue, m.tickets_checked_in, m.seat_map_moved \
             FROM unnest($30::text[], $31::bigint[], $32::int[], $33::int[], $34::int[], $35::bigint[], \
                         $36::int[], $37::int[]) \
                  AS m (code, booking_id, seats_held, pending_bookings, tickets_sold, revenue, \
                        tickets_checked_in, seat_map_moved) \
             LEFT JOIN booked ON booked.code = m.code \
         ), figures AS ( \
             UPDATE event_figures f SET \
                 seats_taken = f.seats_taken + d.seats_held, \
                 pending_bookings = f.pending_bookings + d.pending_bookings, \
                 tickets_sold = f.tickets_sold + d.tickets_sold, \
                 revenue = f.revenue + d.revenue, \
                 tickets_checked_in = f.tickets_checked_in + d.tickets_checked_in, \
                 seat_map_changes = f.seat_map_changes + d.seat_map_moved \
             FROM (SELECT figure_shard(booking_id) AS shard, sum(seats_held) AS seats_held, \
                          sum(pending_bookings) AS pending_bookings, sum(tickets_sold) AS tickets_sold, \
                          sum(revenue) AS revenue, sum(tickets_checked_in) AS tickets_checked_in, \
                          sum(seat_map_moved) AS seat_map_moved \
                   FROM moved WHERE booking_id IS NOT NULL GROUP BY 1) AS d \
             WHERE f.event_id = $1 AND f.shard = d.shard \
         ), noted AS ( \
             INSERT INTO notifications (kind, event_id, booking_id, occurred_at) \
             SELECT n.kind, $1, n.booking_id, n.occurred_at \
             FROM unnest($41::text[], $42::bigint[], $43::timestamptz[]) AS n (kind, booking_id, occurred_at) \
             JOIN changed ON changed.id = n.booking_id \
             WHERE $44 OR EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.disabled_at IS NULL) \
         ), phases_moved AS ( \
             UPDATE phases p SET sold = p.sold + d.seats \
             FROM unnest($38::bigint[], $39::int[], $40::int[]) AS d (id, seats, sold_read) \
             WHERE p.id = d.id AND p.event_id = $1 AND (d.sold_read IS NULL OR p.sold = d.sold_read) \
             RETURNING p.id \
         ) \
         SELECT 'booking' AS kind, code, id AS booking_id, NULL::bigint AS id FROM booked \
         UNION ALL SELECT 'payment', NULL, booking_id, id FROM paid \
         UNION ALL SELECT 'changed', NULL, NULL, count(*) FROM changed \
         UNION ALL SELECT 'phases moved', NULL, NULL, count(*) FROM phases_moved",
    )
    .bind(event.0)
    .bind(new.iter().map(|b| b.code.as_str()).collect::<Vec<_>>())
    .bind(new.iter().map(|b| b.phase_id.0).collect::<Vec<_>>())
    .bind(new.iter().map(|b| b.ticket_type.as_str()).collect::<Vec<_>>())
    .bind(new.iter().map(|b| b.customer_id.0).collect::<Vec<_>>())
    .bind(new.iter().map(|b| b.quantity() as i32).collect::<Vec<_>>())
    .bind(new.iter().map(|b| b.unit_price.amount()).collect::<Vec<_>>())
    .bind(new.iter().map(|b| b.total_price.amount()).collect::<Vec<_>>())
    .bind(new.iter().map(|b| b.status.as_str()).collect::<Vec<_>>())
    .bind(new.iter().map(|b| b.created_at).collect::<Vec<_>>())
    .bind(new.iter().map(|b| b.expires_at).collect::<Vec<_>>())
    .bind(seats.iter().map(|s| s.0).collect::<Vec<_>>())
    .bind(seats.iter().map(|s| s.1).collect::<Vec<_>>())
    .bind(seats.iter().map(|s| s.2).collect::<Vec<_>>())
    .bind(&released)
    .bind(changes.iter().map(|c| c.after.id.0).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.before.status.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.before.checked_in_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.after.status.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.after.paid_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.after.cancelled_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.after.checked_in_at).collect::<Vec<_>>())
    .bind(
        changes
            .iter()
            .map(|c| c.after.checked_in_by.map(|user| user.0))
            .collect::<Vec<_>>(),
    )
    .bind(payments.iter().map(|p| p.booking_id.0).collect::<Vec<_>>())
    .bind(payments.iter().map(|p| p.amount.amount()).collect::<Vec<_>>())
    .bind(payments.iter().map(|p| p.method.as_str()).collect::<Vec<_>>())
    .bind(payments.iter().map(|p| p.change.amount()).collect::<Vec<_>>())
    .bind(payments.iter().map(|p| p.status.as_str()).collect::<Vec<_>>())
    .bind(payments.iter().map(|p| p.created_at).collect::<Vec<_>>())
    .bind(moves.iter().map(|m| m.0).collect::<Vec<_>>())
    .bind(moves.iter().map(|m| m.1).collect::<Vec<_>>())
    .bind(moves.iter().map(|m| tickets(m.3.seats_held)).collect::<Vec<_>>())
    .bind(moves.iter().map(|m| tickets(m.3.pending_bookings)).collect::<Vec<_>>())
    .bind(moves.iter().map(|m| tickets(m.3.tickets_sold)).collect::<Vec<_>>())
    .bind(moves.iter().map(|m| m.3.revenue.amount()).collect::<Vec<_>>())
    .bind(moves.iter().map(|m| tickets(m.3.tickets_checked_in)).collect::<Vec<_>>())
    .bind(moves.iter().map(|m| i32::from(m.3.seat_map_moved)).collect::<Vec<_>>())
    .bind(phase_moves.keys().copied().collect::<Vec<_>>())
    .bind(phase_moves.values().map(|seats| tickets(*seats)).collect::<Vec<_>>())
    .bind(
        phase_moves
            .keys()
            .map(|phase| sold_as_read.map(|sales| tickets(i64::from(sales.sold(PhaseId(*phase))))))
            .collect::<Vec<_>>(),
    )
    .bind(notices.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>())
    .bind(
        notices
            .iter()
            .map(|n| n.booking.map(|booking| booking.0))
            .collect::<Vec<_>>(),
    )
    .bind(notices.iter().map(|n| n.at).collect::<Vec<_>>())
    .bind(writes.notices_for_everyone)
    .fetch_all(conn)
    .await
    .map_err(store_error)?;
    let mut written = Written {
        bookings: HashMap::new(),
        payments: HashMap::new(),
    };
    let (mut changed, mut phases_moved) = (0, 0);
    for row in rows {
        match (row.kind.as_str(), row.code, row.booking_id, row.id) {
            ("booking", Some(code), Some(id), None) => {
                written.bookings.insert(code, BookingId(id));
            }
            ("payment", None, Some(booking), Some(id)) => {
                written.payments.insert(BookingId(booking), PaymentId(id));
            }
            ("changed", None, None, Some(count)) => changed = count,
            ("phases moved", None, None, Some(count)) => phases_moved = count,
            (other, ..) => return Err(corrupt("outcome of a show's write", other)),
        }
    }
    let all_stood = written.bookings.len() == new.len()
        && changed == changes.len() as i64
        && written.payments.len() == payments.len()
        && phases_moved == phase_moves.len() as i64;
    Ok(all_stood.then_some(written))
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
    let expired = changes.len() as u64;
    write_changes_under_lock(conn, event, changes).await?;
    Ok(expired)
}

/// Marks the payments of `bookings`, of the show `event`, refunded at `now`.
pub(super) async fn refund_payments(
    conn: &mut PgConnection,
    event: EventId,
    bookings: &[BookingId],
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE payments SET status = $3, refunded_at = $2 \
         WHERE booking_id = ANY($1) AND event_id = $5 AND status = $4",
    )
    .bind(bookings.iter().map(|id| id.0).collect::<Vec<_>>())
    .bind(now)
    .bind(PaymentStatus::Refunded.as_str())
    .bind(PaymentStatus::Success.as_str())
    .bind(event.0)
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
    changes: Vec<BookingChange>,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let writes = ShowWrites {
        changes,
        notices_for_everyone: true,
        ..ShowWrites::default()
    };
    match write_show(conn, event, &writes, None).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::Busy(format!(
            "bookings of event {event} changed under its lock"
        ))),
    }
}

/// The steps of one attempt at a batch, timed: a debug line per attempt says where a slow one's
/// time went (`RUST_LOG=adapters::postgres=debug`). The show's writer runs outside any request's
/// span, so the line names the show and how many requests the batch held.
struct Steps {
    what: &'static str,
    event: EventId,
    attempt: usize,
    requests: usize,
    last: std::time::Instant,
    taken: Vec<(&'static str, std::time::Duration)>,
}

impl Steps {
    fn start(what: &'static str, event: EventId, attempt: usize, requests: usize) -> Steps {
        Steps {
            what,
            event,
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
            event_id = self.event.0,
            attempt = self.attempt,
            requests = self.requests,
            outcome,
            steps,
            "{} attempt",
            self.what
        );
    }
}
