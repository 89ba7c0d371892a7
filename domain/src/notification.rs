//! What WarTawa tells the world when a booking or a show changes, and how long it keeps trying.
//!
//! A change of a booking (paid, cancelled, refunded, expired, checked in) or of a show (its name,
//! date or venue changed; cancelled) gives at most one [`Notice`], decided here from the thing
//! before and after the change; the stores record it with the change itself, and deliver it
//! afterwards, retrying on the [`RetryPolicy`] until it arrives or is parked.

use chrono::Duration;

use crate::booking::{Booking, BookingId, BookingStatus};
use crate::event::{Event, EventId, EventStatus};
use crate::Timestamp;

/// What happened, as receivers name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoticeKind {
    /// A hold was paid: the booking is confirmed.
    BookingPaid,
    /// An unpaid hold was cancelled (by its customer, or with its show).
    BookingCancelled,
    /// A paid booking was cancelled (by its customer, or with its show) and its payment refunded.
    BookingRefunded,
    /// An unpaid hold ran out.
    BookingExpired,
    /// The guest was let in.
    BookingCheckedIn,
    /// A show's name, date or venue changed: what its audience relies on.
    ShowChanged,
    /// A show was cancelled (its bookings are cancelled and refunded, each told on its own).
    ShowCancelled,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 7] = [
        NoticeKind::BookingPaid,
        NoticeKind::BookingCancelled,
        NoticeKind::BookingRefunded,
        NoticeKind::BookingExpired,
        NoticeKind::BookingCheckedIn,
        NoticeKind::ShowChanged,
        NoticeKind::ShowCancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::BookingPaid => "booking.paid",
            NoticeKind::BookingCancelled => "booking.cancelled",
            NoticeKind::BookingRefunded => "booking.refunded",
            NoticeKind::BookingExpired => "booking.expired",
            NoticeKind::BookingCheckedIn => "booking.checked_in",
            NoticeKind::ShowChanged => "show.changed",
            NoticeKind::ShowCancelled => "show.cancelled",
        }
    }

    /// Whether the buyer is e-mailed about it: their payment, and their booking cancelled or
    /// refunded (by them or with the show). An expiry or a check-in is nothing to tell them.
    pub fn emails_the_buyer(self) -> bool {
        matches!(
            self,
            NoticeKind::BookingPaid | NoticeKind::BookingCancelled | NoticeKind::BookingRefunded
        )
    }

    pub fn parse(name: &str) -> Option<NoticeKind> {
        NoticeKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// One thing that happened to a booking or a show, to be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub kind: NoticeKind,
    /// The booking it happened to; `None` for what happened to the show itself.
    pub booking: Option<BookingId>,
    pub event: EventId,
    /// When it happened.
    pub at: Timestamp,
}

impl Notice {
    /// What the change of a booking from `before` to `after` tells, if anything. A new hold
    /// tells nothing: only what a buyer or an organiser acts on is told.
    pub fn of_change(before: &Booking, after: &Booking) -> Option<Notice> {
        use BookingStatus::*;
        let (kind, at) = match (before.status, after.status) {
            (Pending, Confirmed) => (NoticeKind::BookingPaid, after.paid_at?),
            (Pending, Cancelled) => (NoticeKind::BookingCancelled, after.cancelled_at?),
            (Confirmed, Cancelled) => (NoticeKind::BookingRefunded, after.cancelled_at?),
            (Pending, Expired) => (NoticeKind::BookingExpired, after.expires_at),
            (Confirmed, Confirmed) if before.checked_in_at.is_none() => {
                (NoticeKind::BookingCheckedIn, after.checked_in_at?)
            }
            _ => return None,
        };
        Some(Notice {
            kind,
            booking: Some(after.id),
            event: after.event_id,
            at,
        })
    }

    /// What a show's update from `before` to `after`, made at `now`, tells, if anything: its
    /// cancellation, or a change of its name, date or venue. Its description, picture, seats and
    /// price phases are the organiser's business until they sell something, and tell nothing.
    pub fn of_show_update(before: &Event, after: &Event, now: Timestamp) -> Option<Notice> {
        let kind =
            if before.status != EventStatus::Cancelled && after.status == EventStatus::Cancelled {
                NoticeKind::ShowCancelled
            } else if before.name != after.name
                || before.date != after.date
                || before.venue != after.venue
            {
                NoticeKind::ShowChanged
            } else {
                return None;
            };
        Some(Notice {
            kind,
            booking: None,
            event: after.id,
            at: now,
        })
    }
}

/// How a delivery that failed is tried again: after `first_delay`, doubling each time up to
/// `longest_delay`, each delay shortened by up to a fifth at random so that receivers that came
/// back are not hit by every sender at once; parked once `give_up_after` has passed since the
/// notice was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub longest_delay: Duration,
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            first_delay: Duration::seconds(10),
            longest_delay: Duration::hours(1),
            give_up_after: Duration::hours(24),
        }
    }
}

/// What follows a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    RetryAt(Timestamp),
    /// Tried for longer than the policy allows: kept, shown to admins, tried no more.
    Park,
}

impl RetryPolicy {
    /// What follows the failure of attempt number `attempts` (1 for the first) of a delivery of a
    /// notice recorded at `recorded_at`, failed at `now`; `jitter` in `[0, 1)` picks the delay's
    /// share taken off.
    pub fn after_failure(
        &self,
        attempts: u32,
        recorded_at: Timestamp,
        now: Timestamp,
        jitter: f64,
    ) -> AfterFailure {
        if now - recorded_at >= self.give_up_after {
            return AfterFailure::Park;
        }
        let doublings = attempts.saturating_sub(1).min(30);
        let full = self
            .first_delay
            .checked_mul(1 << doublings)
            .map_or(self.longest_delay, |delay| delay.min(self.longest_delay));
        let jitter = jitter.clamp(0.0, 1.0);
        let taken_off = (full.num_milliseconds() as f64 * 0.2 * jitter) as i64;
        AfterFailure::RetryAt(now + full - Duration::milliseconds(taken_off))
    }

    /// Whether an endpoint, one of whose deliveries was just parked, is disabled: it is when
    /// nothing has reached it for as long as a delivery is tried (`last_delivered` is its latest
    /// delivery, if any), not when it merely missed one notification among others it received.
    pub fn disables_endpoint(&self, last_delivered: Option<Timestamp>, now: Timestamp) -> bool {
        last_delivered.is_none_or(|at| now - at >= self.give_up_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::{BookedSeat, BookingCode};
    use crate::event::PhaseId;
    use crate::money::Money;
    use crate::seat::SeatId;
    use crate::user::UserId;
    use chrono::{TimeZone, Utc};

    fn at(minute: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 12, 5, 10, minute, 0).unwrap()
    }

    fn hold() -> Booking {
        Booking {
            id: BookingId(7),
            code: BookingCode::parse("BKG-ABCDE").unwrap(),
            event_id: EventId(3),
            phase_id: PhaseId(1),
            ticket_type: "Presale".into(),
            customer_id: UserId(2),
            seats: vec![BookedSeat {
                id: SeatId(1),
                label: "A1".into(),
            }],
            unit_price: Money::rupiah(100_000),
            total_price: Money::rupiah(100_000),
            status: BookingStatus::Pending,
            created_at: at(0),
            expires_at: at(15),
            paid_at: None,
            cancelled_at: None,
            checked_in_at: None,
            checked_in_by: None,
        }
    }

    fn kind_of(
        before: &Booking,
        change: impl FnOnce(&mut Booking),
    ) -> Option<(NoticeKind, Timestamp)> {
        let mut after = before.clone();
        change(&mut after);
        Notice::of_change(before, &after).map(|notice| (notice.kind, notice.at))
    }

    #[test]
    fn each_change_a_buyer_or_organiser_acts_on_tells_one_thing() {
        let hold = hold();
        let paid = |b: &mut Booking| {
            b.status = BookingStatus::Confirmed;
            b.paid_at = Some(at(5));
        };
        assert_eq!(kind_of(&hold, paid), Some((NoticeKind::BookingPaid, at(5))));
        let cancelled = |b: &mut Booking| {
            b.status = BookingStatus::Cancelled;
            b.cancelled_at = Some(at(6));
        };
        assert_eq!(
            kind_of(&hold, cancelled),
            Some((NoticeKind::BookingCancelled, at(6)))
        );
        assert_eq!(
            kind_of(&hold, |b| b.status = BookingStatus::Expired),
            Some((NoticeKind::BookingExpired, at(15)))
        );
        let mut confirmed = hold.clone();
        paid(&mut confirmed);
        assert_eq!(
            kind_of(&confirmed, cancelled),
            Some((NoticeKind::BookingRefunded, at(6)))
        );
        assert_eq!(
            kind_of(&confirmed, |b| {
                b.checked_in_at = Some(at(9));
                b.checked_in_by = Some(UserId(1));
            }),
            Some((NoticeKind::BookingCheckedIn, at(9)))
        );
        assert_eq!(kind_of(&confirmed, |_| {}), None, "no change tells nothing");
        assert_eq!(kind_of(&hold, |_| {}), None);
    }

    #[test]
    fn a_show_tells_its_cancellation_and_the_changes_its_audience_relies_on() {
        let before = Event {
            id: EventId(3),
            name: "Malam Tawa".into(),
            description: None,
            date: at(30),
            venue: "Teater Kecil".into(),
            image: None,
            capacity: 20,
            seats_per_row: 10,
            status: EventStatus::Published,
            phases: vec![],
            created_at: at(0),
        };
        let told = |change: fn(&mut Event)| {
            let mut after = before.clone();
            change(&mut after);
            Notice::of_show_update(&before, &after, at(5)).map(|notice| notice.kind)
        };
        assert_eq!(
            told(|e| e.status = EventStatus::Cancelled),
            Some(NoticeKind::ShowCancelled)
        );
        assert_eq!(told(|e| e.date = at(45)), Some(NoticeKind::ShowChanged));
        assert_eq!(
            told(|e| e.venue = "Gedung Kesenian".into()),
            Some(NoticeKind::ShowChanged)
        );
        assert_eq!(
            told(|e| e.name = "Malam Tawa 2".into()),
            Some(NoticeKind::ShowChanged)
        );
        assert_eq!(told(|e| e.description = Some("Lebih lucu".into())), None);
        assert_eq!(told(|e| e.capacity = 40), None);
        let notice = Notice::of_show_update(
            &before,
            &Event {
                status: EventStatus::Cancelled,
                ..before.clone()
            },
            at(5),
        );
        assert_eq!(
            notice.map(|n| (n.booking, n.event, n.at)),
            Some((None, EventId(3), at(5)))
        );
    }

    #[test]
    fn kinds_read_back_from_their_names() {
        for kind in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(NoticeKind::parse("booking.placed"), None);
    }

    #[test]
    fn an_endpoint_is_disabled_only_when_nothing_reached_it_for_the_whole_window() {
        let policy = RetryPolicy::default();
        let now = at(0) + Duration::days(3);
        assert!(policy.disables_endpoint(None, now));
        assert!(policy.disables_endpoint(Some(now - Duration::hours(24)), now));
        assert!(!policy.disables_endpoint(Some(now - Duration::hours(23)), now));
    }

    #[test]
    fn failed_deliveries_back_off_doubling_with_jitter_then_park() {
        let policy = RetryPolicy::default();
        let recorded = at(0);
        let retry = |attempts, jitter| policy.after_failure(attempts, recorded, at(1), jitter);
        assert_eq!(
            retry(1, 0.0),
            AfterFailure::RetryAt(at(1) + Duration::seconds(10))
        );
        assert_eq!(
            retry(3, 0.0),
            AfterFailure::RetryAt(at(1) + Duration::seconds(40))
        );
        assert_eq!(
            retry(3, 0.5),
            AfterFailure::RetryAt(at(1) + Duration::seconds(36))
        );
        assert_eq!(
            retry(40, 0.0),
            AfterFailure::RetryAt(at(1) + Duration::hours(1)),
            "never longer than the longest delay"
        );
        assert_eq!(
            policy.after_failure(2, recorded, recorded + Duration::hours(24), 0.0),
            AfterFailure::Park
        );
        assert!(matches!(
            policy.after_failure(2, recorded, recorded + Duration::hours(23), 0.0),
            AfterFailure::RetryAt(_)
        ));
    }
}
