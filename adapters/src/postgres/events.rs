//! Events, their phases and seats in PostgreSQL, and the per-event steps every transaction shares.

use async_trait::async_trait;
use sqlx::PgConnection;

use application::ports::{
    EventDeleteError, EventFilter, EventRepository, EventWriteError, Page, Paged, StoreError,
};
use application::views::{EventView, ImageFile, SeatMap, SeatView};
use domain::audit::{AuditAction, AuditStamp};
use domain::booking::{latest_lapsed_expiry, CancelOutcome};
use domain::event::{
    plan_event_update, EventId, EventPatch, EventSnapshot, EventUpdatePlan, NewEvent,
};
use domain::image::{ImageChange, ImageDigest, ImageMediaType, ImageUpload, NewImage};
use domain::notification::Notice;
use domain::seat::layout;
use domain::Timestamp;

use super::audit::record;
use super::replica::count_browsing_read;
use super::rows::{
    booking_with_seats_select, event_columns, phase_columns, phases_of, BookingWithSeatsRow,
    EventRow, PhaseRow, SeatRow,
};
use super::sale::{expire_lapsed_holds, refund_payments, write_changes_under_lock, BookingChange};
use super::{corrupt, store_error, PostgresStore};

/// Which events a list shows: `$1` text to find in name or venue, `$2` upcoming only, `$3` now,
/// `$4` the customer who must hold tickets for it.
macro_rules! event_filter {
    () => {
        "($1::text IS NULL OR strpos(lower(e.name), lower($1)) > 0 OR strpos(lower(e.venue), lower($1)) > 0) \
         AND (NOT $2 OR e.date > $3) \
         AND ($4::bigint IS NULL OR EXISTS (SELECT 1 FROM bookings b WHERE b.event_id = e.id \
              AND b.customer_id = $4 AND b.status IN ('pending', 'confirmed')))"
    };
}

/// The seat-map version of the event aliased `e`: the sum of its shards' counters of seat changes
/// (see the migration that made `event_figures`).
macro_rules! seat_map_version_of_e {
    () => {
        "(SELECT coalesce(sum(f.seat_map_changes), 0) FROM event_figures f WHERE f.event_id = e.id)::bigint"
    };
}

async fn current_seat_map_version(
    conn: &mut PgConnection,
    id: EventId,
) -> Result<Option<u64>, StoreError> {
    let version: Option<i64> = sqlx::query_scalar(concat!(
        "SELECT ",
        seat_map_version_of_e!(),
        " FROM events e WHERE e.id = $1"
    ))
    .bind(id.0)
    .fetch_optional(conn)
    .await
    .map_err(store_error)?;
    Ok(version.map(|version| version.max(0) as u64))
}

/// Takes the event's row lock, which every writer of the event's seats, phases and bookings
/// takes first: one lock, always first, so that no two transactions wait on each other in a circle.
pub(super) async fn lock_event(
    conn: &mut PgConnection,
    id: EventId,
) -> Result<Option<EventRow>, StoreError> {
    sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events e WHERE e.id = $1 FOR UPDATE"
    ))
    .bind(id.0)
    .fetch_optional(conn)
    .await
    .map_err(store_error)
}

/// What giving back an event's lapsed holds does when another transaction holds its lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IfLocked {
    /// Waits for it (up to `lock_timeout`): the caller is about to read the event.
    Wait,
    /// Leaves the event to the lock's holder.
    Skip,
}

/// The events among `events` holding seats for holds lapsed at `now` that were not given back yet.
pub(super) async fn with_lapsed_holds(
    conn: &mut PgConnection,
    events: &[EventId],
    now: Timestamp,
) -> Result<Vec<EventId>, StoreError> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT event_id FROM bookings \
         WHERE event_id = ANY($1) AND status = 'pending' AND expires_at <= $2",
    )
    .bind(events.iter().map(|event| event.0).collect::<Vec<_>>())
    .bind(latest_lapsed_expiry(now))
    .fetch_all(conn)
    .await
    .map_err(store_error)?;
    Ok(ids.into_iter().map(EventId).collect())
}

pub(super) async fn phases(
    conn: &mut PgConnection,
    event_ids: &[i64],
) -> Result<Vec<PhaseRow>, StoreError> {
    sqlx::query_as(concat!(
        "SELECT ",
        phase_columns!(),
        " FROM phases WHERE event_id = ANY($1) AND NOT removed ORDER BY event_id, position"
    ))
    .bind(event_ids)
    .fetch_all(conn)
    .await
    .map_err(store_error)
}

impl PostgresStore {
    /// Brings the planner's statistics of the seats up to date after an event added many at once.
    /// Until autovacuum gets there (up to a minute later: when the first buyers arrive), plans made
    /// from the old statistics took the new event's seats for a handful and read all of them to
    /// find a buyer's two (a booking on a new 50 000-seat event: 14 ms, 1.6 ms with this). The
    /// event is saved already: a failure here only leaves the refresh to autovacuum.
    async fn refresh_seat_statistics(&self) {
        let analysed = async {
            let mut session = self.connection().await?;
            sqlx::query("ANALYZE seats")
                .execute(&mut *session)
                .await
                .map_err(store_error)?;
            session.finish().await
        };
        if let Err(error) = analysed.await {
            tracing::warn!(%error, "could not refresh the planner's statistics of the seats");
        }
    }

    /// Gives back the lapsed holds of one event, in a short transaction under the event's lock.
    /// Safe with many processes doing it at once: the event lock serialises them, and a hold
    /// already expired is no longer pending, so none is released twice. A read about to show
    /// the event waits for its lock; the background sweep leaves a locked event to its holder
    /// (another sweep, or the event's sale, which gives back lapsed holds itself).
    pub(super) async fn expire_lapsed_event(
        &self,
        event: EventId,
        now: Timestamp,
        locked: IfLocked,
    ) -> Result<u64, StoreError> {
        let mut tx = self.transaction().await?;
        let lock = match locked {
            IfLocked::Wait => "SELECT id FROM events WHERE id = $1 FOR UPDATE",
            IfLocked::Skip => "SELECT id FROM events WHERE id = $1 FOR UPDATE SKIP LOCKED",
        };
        let held: Option<i64> = sqlx::query_scalar(lock)
            .bind(event.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        let expired = match held {
            Some(_) => expire_lapsed_holds(&mut tx, event, now).await?,
            None => 0,
        };
        tx.commit().await.map_err(store_error)?;
        Ok(expired)
    }

    /// Gives back the lapsed holds of each of these events, one event per transaction.
    pub(super) async fn expire_lapsed_of(
        &self,
        events: &[EventId],
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut expired = 0;
        for event in events {
            expired += self
                .expire_lapsed_event(*event, now, IfLocked::Wait)
                .await?;
        }
        Ok(expired)
    }

    /// Gives back the lapsed holds of `event` if it has any (one indexed probe when it has none).
    pub(super) async fn expire_if_lapsed(
        &self,
        event: EventId,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let lapsed = with_lapsed_holds(&mut *self.connection().await?, &[event], now).await?;
        self.expire_lapsed_of(&lapsed, now).await
    }

    pub(super) async fn event_view(
        &self,
        conn: &mut PgConnection,
        id: EventId,
    ) -> Result<Option<EventView>, StoreError> {
        let row: Option<EventRow> = sqlx::query_as(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events e WHERE e.id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(store_error)?;
        let Some(row) = row else { return Ok(None) };
        let phases = phases(conn, &[id.0]).await?;
        row.into_view(phases).map(Some)
    }
}

/// Cancels every open booking of an event being cancelled, refunding the paid ones, and takes
/// them out of the event's figures; returns how many it cancelled, and how many of those it
/// refunded. The caller holds the event's lock.
async fn cancel_open_bookings(
    conn: &mut PgConnection,
    event: EventId,
    now: Timestamp,
) -> Result<(u64, u64), StoreError> {
    let open: Vec<BookingWithSeatsRow> = sqlx::query_as(concat!(
        booking_with_seats_select!(),
        "WHERE b.event_id = $1 AND b.status IN ('pending', 'confirmed') ORDER BY b.id FOR UPDATE OF b"
    ))
    .bind(event.0)
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    let mut changes = Vec::with_capacity(open.len());
    let mut refunded = Vec::new();
    for row in open {
        let before = row.into_details()?.booking;
        let mut after = before.clone();
        match after.cancel_with_event(now) {
            Some(CancelOutcome::Refund) => refunded.push(after.id),
            Some(CancelOutcome::Released) => {}
            None => continue,
        }
        changes.push(BookingChange { before, after });
    }
    let cancelled = changes.len() as u64;
    write_changes_under_lock(conn, event, changes).await?;
    refund_payments(conn, event, &refunded, now).await?;
    Ok((cancelled, refunded.len() as u64))
}

/// Stores an uploaded picture as the event's, replacing the one it had.
async fn store_image(
    conn: &mut PgConnection,
    event: i64,
    upload: &ImageUpload,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO event_images (event_id, media_type, digest, bytes) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (event_id) DO UPDATE SET media_type = EXCLUDED.media_type, \
         digest = EXCLUDED.digest, bytes = EXCLUDED.bytes",
    )
    .bind(event)
    .bind(upload.media_type().as_str())
    .bind(upload.digest().as_str())
    .bind(upload.bytes())
    .execute(conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// What `events.image_url` holds for a picture: a link, never a picture itself.
fn link_of(image: Option<&NewImage>) -> Option<&str> {
    match image {
        Some(NewImage::Link(url)) => Some(url),
        Some(NewImage::Upload(_)) | None => None,
    }
}

/// Writes a picture change to `event_images`: an upload replaces the event's stored picture; a
/// link or no picture deletes it. The link itself is in the event's row.
async fn write_image_change(
    conn: &mut PgConnection,
    event: i64,
    change: &ImageChange,
) -> Result<(), StoreError> {
    match change {
        ImageChange::Keep => Ok(()),
        ImageChange::Set(NewImage::Upload(upload)) => store_image(conn, event, upload).await,
        ImageChange::Set(NewImage::Link(_)) | ImageChange::Remove => {
            sqlx::query("DELETE FROM event_images WHERE event_id = $1")
                .bind(event)
                .execute(conn)
                .await
                .map_err(store_error)?;
            Ok(())
        }
    }
}

/// Writes a validated change: the event's fields, its picture, its phases, its seats.
async fn write_plan(
    conn: &mut PgConnection,
    event: &EventRow,
    plan: &EventUpdatePlan,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE events SET name = $2, description = $3, date = $4, venue = $5, status = $6, \
         capacity = $7, image_url = CASE WHEN $8 THEN $9 ELSE image_url END WHERE id = $1",
    )
    .bind(event.id)
    .bind(&plan.name)
    .bind(&plan.description)
    .bind(plan.date)
    .bind(&plan.venue)
    .bind(plan.status.as_str())
    .bind(plan.capacity as i32)
    .bind(plan.image != ImageChange::Keep)
    .bind(match &plan.image {
        ImageChange::Set(image) => link_of(Some(image)),
        ImageChange::Keep | ImageChange::Remove => None,
    })
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    write_image_change(conn, event.id, &plan.image).await?;
    // The seats, their layout or the sale may have changed: the seat map moves (shard 0 stands
    // for the event itself).
    sqlx::query(
        "UPDATE event_figures SET seat_map_changes = seat_map_changes + 1 WHERE event_id = $1 AND shard = 0",
    )
    .bind(event.id)
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    sqlx::query("UPDATE phases SET removed = TRUE WHERE event_id = $1 AND id = ANY($2)")
        .bind(event.id)
        .bind(
            plan.removed_phases
                .iter()
                .map(|phase| phase.0)
                .collect::<Vec<_>>(),
        )
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    for (position, phase) in plan.phases.iter().enumerate() {
        let query = match phase.id {
            Some(id) => sqlx::query(
                "UPDATE phases SET position = $3, name = $4, price = $5, quota = $6, start_date = $7, end_date = $8 \
                 WHERE event_id = $1 AND id = $2",
            )
            .bind(event.id)
            .bind(id.0),
            None => sqlx::query(
                "INSERT INTO phases (event_id, position, name, price, quota, start_date, end_date) \
                 SELECT $1, $3, $4, $5, $6, $7, $8 WHERE $2::bigint IS NULL",
            )
            .bind(event.id)
            .bind(None::<i64>),
        };
        query
            .bind(position as i32)
            .bind(&phase.name)
            .bind(phase.price.amount())
            .bind(phase.quota as i32)
            .bind(phase.start_date)
            .bind(phase.end_date)
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
    }
    let old_capacity =
        u32::try_from(event.capacity).map_err(|_| corrupt("capacity", event.capacity))?;
    let seats_per_row = u32::try_from(event.seats_per_row)
        .map_err(|_| corrupt("seats per row", event.seats_per_row))?;
    if plan.capacity > old_capacity {
        insert_seats(
            conn,
            event.id,
            old_capacity,
            plan.capacity - old_capacity,
            seats_per_row,
        )
        .await?;
    } else if plan.capacity < old_capacity {
        // The plan checked that no held or sold seat is among them; bookings of the past keep theirs.
        sqlx::query("UPDATE seats SET removed = TRUE WHERE event_id = $1 AND NOT removed AND position >= $2")
            .bind(event.id)
            .bind(plan.capacity as i32)
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

/// Lays out `count` seats after the first `first` ones.
async fn insert_seats(
    conn: &mut PgConnection,
    event: i64,
    first: u32,
    count: u32,
    seats_per_row: u32,
) -> Result<(), StoreError> {
    let positions = layout(first, count, seats_per_row);
    let indexes: Vec<i32> = (first..first + count).map(|index| index as i32).collect();
    let rows: Vec<i32> = positions
        .iter()
        .map(|position| position.row_index as i32)
        .collect();
    let numbers: Vec<i32> = positions
        .iter()
        .map(|position| position.number as i32)
        .collect();
    sqlx::query(
        "INSERT INTO seats (event_id, position, row_index, number) \
         SELECT $1, position, row_index, number FROM unnest($2::int[], $3::int[], $4::int[]) AS t(position, row_index, number)",
    )
    .bind(event)
    .bind(&indexes)
    .bind(&rows)
    .bind(&numbers)
    .execute(conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

#[async_trait]
impl EventRepository for PostgresStore {
    async fn create(&self, event: NewEvent) -> Result<EventView, StoreError> {
        let mut tx = self.transaction().await?;
        let row: EventRow = sqlx::query_as(concat!(
            "INSERT INTO events AS e (name, description, date, venue, image_url, capacity, seats_per_row, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'published', $8) RETURNING ",
            event_columns!()
        ))
        .bind(&event.name)
        .bind(&event.description)
        .bind(event.date)
        .bind(&event.venue)
        .bind(link_of(event.image.as_ref()))
        .bind(event.capacity as i32)
        .bind(event.seats_per_row as i32)
        .bind(event.created_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        if let Some(NewImage::Upload(upload)) = &event.image {
            store_image(&mut tx, row.id, upload).await?;
        }
        sqlx::query(
            "INSERT INTO phases (event_id, position, name, price, quota, start_date, end_date) \
             SELECT $1, position, name, price, quota, start_date, end_date \
             FROM unnest($2::int[], $3::text[], $4::bigint[], $5::int[], $6::timestamptz[], $7::timestamptz[]) \
             AS t(position, name, price, quota, start_date, end_date)",
        )
        .bind(row.id)
        .bind((0..event.phases.len() as i32).collect::<Vec<_>>())
        .bind(event.phases.iter().map(|phase| phase.name.clone()).collect::<Vec<_>>())
        .bind(event.phases.iter().map(|phase| phase.price.amount()).collect::<Vec<_>>())
        .bind(event.phases.iter().map(|phase| phase.quota as i32).collect::<Vec<_>>())
        .bind(event.phases.iter().map(|phase| phase.start_date).collect::<Vec<_>>())
        .bind(event.phases.iter().map(|phase| phase.end_date).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        insert_seats(&mut tx, row.id, 0, event.capacity, event.seats_per_row).await?;
        let phases = phases(&mut tx, &[row.id]).await?;
        tx.commit().await.map_err(store_error)?;
        self.refresh_seat_statistics().await;
        let mut view = row.into_view(phases)?;
        // The row was returned before the picture was stored beside it.
        view.event.image = event.image.as_ref().map(NewImage::shown);
        Ok(view)
    }

    async fn find(&self, id: EventId, now: Timestamp) -> Result<Option<EventView>, StoreError> {
        // From a fresh replica, unless the show has lapsed holds to give back (the primary does,
        // then answers) or the replica does not know it yet (made a moment ago).
        if let Some(mut replica) = self.replica_connection().await {
            let read = async {
                if !with_lapsed_holds(&mut replica, &[id], now)
                    .await?
                    .is_empty()
                {
                    return Ok(None);
                }
                self.event_view(&mut replica, id).await
            };
            match read.await {
                Ok(Some(view)) => {
                    count_browsing_read(true);
                    return Ok(Some(view));
                }
                Ok(None) => {}
                Err(error) => self.replica_failed(&error),
            }
        }
        count_browsing_read(false);
        self.expire_if_lapsed(id, now).await?;
        let mut conn = self.connection().await?;
        self.event_view(&mut conn, id).await
    }

    async fn list(
        &self,
        filter: EventFilter,
        page: Page,
        now: Timestamp,
    ) -> Result<Paged<EventView>, StoreError> {
        // From a fresh replica, unless a listed show has lapsed holds to give back: then the
        // primary gives back theirs (those shows only) and answers.
        if let Some(mut replica) = self.replica_connection().await {
            match list_on(&mut replica, &filter, page, now).await {
                Ok((listed, lapsed)) if lapsed.is_empty() => {
                    count_browsing_read(true);
                    return Ok(listed);
                }
                Ok(_) => {}
                Err(error) => self.replica_failed(&error),
            }
        }
        count_browsing_read(false);
        let (listed, lapsed) = list_on(&mut *self.connection().await?, &filter, page, now).await?;
        if lapsed.is_empty() {
            return Ok(listed);
        }
        self.expire_lapsed_of(&lapsed, now).await?;
        Ok(list_on(&mut *self.connection().await?, &filter, page, now)
            .await?
            .0)
    }

    async fn update(
        &self,
        id: EventId,
        patch: EventPatch,
        now: Timestamp,
        audit: AuditStamp,
    ) -> Result<EventView, EventWriteError> {
        let mut tx = self.transaction().await?;
        lock_event(&mut tx, id)
            .await?
            .ok_or(EventWriteError::NotFound)?;
        expire_lapsed_holds(&mut tx, id, now).await?;
        // Read again: expiry has just changed the figures.
        let row = lock_event(&mut tx, id)
            .await?
            .ok_or(EventWriteError::NotFound)?;
        let phases = phases(&mut tx, &[id.0]).await?;
        let seats_in_use_up_to: i32 = sqlx::query_scalar(
            "SELECT coalesce(max(s.position) + 1, 0) FROM booking_seats bs \
             JOIN seats s ON s.id = bs.seat_id AND s.event_id = bs.event_id \
             WHERE bs.event_id = $1 AND NOT bs.released",
        )
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        let seats_in_use_up_to = u32::try_from(seats_in_use_up_to)
            .map_err(|_| corrupt("seat position", seats_in_use_up_to))?;
        let view = row.clone().into_view(phases)?;
        let snapshot = EventSnapshot {
            event: view.event,
            sales: view.sales,
            seats_in_use_up_to,
        };
        let plan = plan_event_update(&snapshot, &patch, now)?;
        if plan.cancels_event {
            let (bookings_cancelled, bookings_refunded) =
                cancel_open_bookings(&mut tx, id, now).await?;
            let cancelled = AuditAction::EventCancelled {
                event: id,
                bookings_cancelled,
                bookings_refunded,
            };
            record(&mut tx, &[audit.entry(cancelled)]).await?;
        }
        write_plan(&mut tx, &row, &plan).await?;
        let updated = self
            .event_view(&mut tx, id)
            .await?
            .ok_or(EventWriteError::NotFound)?;
        if let Some(notice) = Notice::of_show_update(&snapshot.event, &updated.event, now) {
            sqlx::query(
                "INSERT INTO notifications (kind, event_id, occurred_at) VALUES ($1, $2, $3)",
            )
            .bind(notice.kind.as_str())
            .bind(notice.event.0)
            .bind(notice.at)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        if i64::from(plan.capacity) > i64::from(row.capacity) {
            self.refresh_seat_statistics().await;
        }
        Ok(updated)
    }

    async fn delete(&self, id: EventId, audit: AuditStamp) -> Result<(), EventDeleteError> {
        let mut tx = self.transaction().await?;
        let event = lock_event(&mut tx, id)
            .await?
            .ok_or(EventDeleteError::NotFound)?;
        let has_bookings: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM bookings WHERE event_id = $1)")
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
        if has_bookings {
            return Err(EventDeleteError::HasBookings);
        }
        sqlx::query("DELETE FROM events WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let deleted = AuditAction::EventDeleted {
            event: id,
            name: event.name,
        };
        record(&mut tx, &[audit.entry(deleted)]).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn image(&self, id: EventId) -> Result<Option<ImageFile>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct ImageRow {
            media_type: String,
            digest: String,
            bytes: Vec<u8>,
        }
        let row: Option<ImageRow> = sqlx::query_as(
            "SELECT media_type, digest, bytes FROM event_images WHERE event_id = $1",
        )
        .bind(id.0)
        .fetch_optional(&mut *self.connection().await?)
        .await
        .map_err(store_error)?;
        row.map(|row| {
            Ok(ImageFile {
                media_type: ImageMediaType::parse(&row.media_type)
                    .ok_or_else(|| corrupt("picture media type", &row.media_type))?,
                digest: ImageDigest::parse(&row.digest)
                    .map_err(|e| corrupt("picture digest", e))?,
                bytes: row.bytes,
            })
        })
        .transpose()
    }

    async fn seats(&self, id: EventId, now: Timestamp) -> Result<Option<SeatMap>, StoreError> {
        // The version is read on the primary (lapsed holds given back first): a map from the
        // replica is served only when it is at least that version, so that it is never older
        // than the primary was when the request came, and a change signalled is never missed.
        let Some(version) = self.seat_map_version(id, now).await? else {
            return Ok(None);
        };
        if let Some(mut replica) = self.replica_connection().await {
            match seat_map_on(&mut replica, id).await {
                Ok(Some(map)) if map.version >= version => {
                    count_browsing_read(true);
                    return Ok(Some(map));
                }
                Ok(_) => {}
                Err(error) => self.replica_failed(&error),
            }
        }
        count_browsing_read(false);
        // The version read above, before the seats: a change in between only makes the copy
        // newer than its version says, and the next change replaces it.
        let seats = seats_on(&mut *self.connection().await?, id).await?;
        Ok(Some(SeatMap { version, seats }))
    }

    async fn seat_map_version(
        &self,
        id: EventId,
        now: Timestamp,
    ) -> Result<Option<u64>, StoreError> {
        // The hot path of every buyer's click: one statement, unless a hold has lapsed.
        let found: Option<(i64, bool)> = sqlx::query_as(concat!(
            "SELECT ",
            seat_map_version_of_e!(),
            ", EXISTS (SELECT 1 FROM bookings b WHERE b.event_id = e.id \
             AND b.status = 'pending' AND b.expires_at <= $2) FROM events e WHERE e.id = $1"
        ))
        .bind(id.0)
        .bind(latest_lapsed_expiry(now))
        .fetch_optional(&mut *self.connection().await?)
        .await
        .map_err(store_error)?;
        match found {
            None => Ok(None),
            Some((version, false)) => Ok(Some(version.max(0) as u64)),
            Some((_, true)) => {
                self.expire_lapsed_event(id, now, IfLocked::Wait).await?;
                let mut conn = self.connection().await?;
                current_seat_map_version(&mut conn, id).await
            }
        }
    }
}

/// A page of the events `filter` selects, read on `conn`, and those of them that have lapsed
/// holds not given back yet.
async fn list_on(
    conn: &mut PgConnection,
    filter: &EventFilter,
    page: Page,
    now: Timestamp,
) -> Result<(Paged<EventView>, Vec<EventId>), StoreError> {
    let rows: Vec<EventRow> = sqlx::query_as(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events e WHERE ",
        event_filter!(),
        " ORDER BY e.date, e.id LIMIT $5 OFFSET $6"
    ))
    .bind(&filter.query)
    .bind(filter.upcoming_only)
    .bind(now)
    .bind(filter.ticket_holder.map(|user| user.0))
    .bind(i64::from(page.per_page))
    .bind(page.offset() as i64)
    .fetch_all(&mut *conn)
    .await
    .map_err(store_error)?;
    let total: i64 = sqlx::query_scalar(concat!(
        "SELECT count(*) FROM events e WHERE ",
        event_filter!()
    ))
    .bind(&filter.query)
    .bind(filter.upcoming_only)
    .bind(now)
    .bind(filter.ticket_holder.map(|user| user.0))
    .fetch_one(&mut *conn)
    .await
    .map_err(store_error)?;
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let mut all_phases = phases(conn, &ids).await?;
    let lapsed = with_lapsed_holds(
        conn,
        &ids.iter().copied().map(EventId).collect::<Vec<_>>(),
        now,
    )
    .await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let mine = phases_of(row.id, &mut all_phases);
            row.into_view(mine)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        Paged {
            items,
            total: total.max(0) as u64,
        },
        lapsed,
    ))
}

/// The event's seat map, with its version, read on `conn`; `None` for an unknown event.
async fn seat_map_on(conn: &mut PgConnection, id: EventId) -> Result<Option<SeatMap>, StoreError> {
    // The version is read before the seats: a change in between then only makes the copy
    // newer than its version says, and the next change replaces it.
    let Some(version) = current_seat_map_version(conn, id).await? else {
        return Ok(None);
    };
    let seats = seats_on(conn, id).await?;
    Ok(Some(SeatMap { version, seats }))
}

/// The event's seats in row, number order, each with its status, read on `conn`.
async fn seats_on(conn: &mut PgConnection, id: EventId) -> Result<Vec<SeatView>, StoreError> {
    let rows: Vec<SeatRow> = sqlx::query_as(
        // One probe of the open-seat index per seat (and of its booking, for a taken seat):
        // the cost follows the seat count, whatever the number of bookings and whatever the
        // planner's statistics say.
        "SELECT s.id, s.row_index, s.number, \
                 (SELECT b.status FROM booking_seats bs \
                  JOIN bookings b ON b.id = bs.booking_id AND b.event_id = bs.event_id \
                  WHERE bs.seat_id = s.id AND bs.event_id = s.event_id AND NOT bs.released) AS held_by \
             FROM seats s WHERE s.event_id = $1 AND NOT s.removed ORDER BY s.position",
    )
    .bind(id.0)
    .fetch_all(conn)
    .await
    .map_err(store_error)?;
    rows.iter()
        .map(|row| {
            Ok(SeatView {
                seat: row.seat()?,
                status: row.status(),
            })
        })
        .collect()
}
