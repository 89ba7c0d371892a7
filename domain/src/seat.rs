//! Seats and how they are laid out: rows lettered A…Z, AA, AB, …, seats numbered from 1.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeatId(pub i64);

impl fmt::Display for SeatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a seat is in the hall. Ordering is row by row, then by number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeatPosition {
    /// 0 for row A, 25 for Z, 26 for AA.
    pub row_index: u32,
    pub number: u32,
}

impl SeatPosition {
    pub fn row(&self) -> String {
        row_label(self.row_index)
    }

    pub fn label(&self) -> String {
        format!("{}{}", self.row(), self.number)
    }
}

/// A seat of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub id: SeatId,
    pub position: SeatPosition,
}

impl Seat {
    pub fn label(&self) -> String {
        self.position.label()
    }
}

/// What a seat map shows for one seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatStatus {
    Available,
    /// In a pending booking that is not yet paid.
    Held,
    /// In a confirmed booking.
    Sold,
}

impl SeatStatus {
    pub const ALL: [SeatStatus; 3] = [SeatStatus::Available, SeatStatus::Held, SeatStatus::Sold];

    pub fn as_str(self) -> &'static str {
        match self {
            SeatStatus::Available => "available",
            SeatStatus::Held => "held",
            SeatStatus::Sold => "sold",
        }
    }
}

/// The letters of a row: bijective base 26, so 0 → A, 25 → Z, 26 → AA, 701 → ZZ, 702 → AAA.
pub fn row_label(row_index: u32) -> String {
    let mut letters = Vec::new();
    let mut remaining = u64::from(row_index) + 1;
    while remaining > 0 {
        let digit = ((remaining - 1) % 26) as u8;
        letters.push(char::from(b'A' + digit));
        remaining = (remaining - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// The positions of seats `first..first + count` (0-based, in seat order) in a hall of
/// `seats_per_row` seats to a row. Growing an event appends seats after the existing ones.
pub fn layout(first: u32, count: u32, seats_per_row: u32) -> Vec<SeatPosition> {
    let per_row = seats_per_row.max(1);
    (first..first.saturating_add(count))
        .map(|index| SeatPosition {
            row_index: index / per_row,
            number: index % per_row + 1,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_lettered_past_z() {
        let cases = [
            (0, "A"),
            (1, "B"),
            (25, "Z"),
            (26, "AA"),
            (27, "AB"),
            (51, "AZ"),
            (52, "BA"),
            (701, "ZZ"),
            (702, "AAA"),
        ];
        for (index, expected) in cases {
            assert_eq!(row_label(index), expected, "row index {index}");
        }
    }

    #[test]
    fn layout_fills_rows_in_order() {
        let labels: Vec<String> = layout(0, 12, 5).iter().map(SeatPosition::label).collect();
        assert_eq!(
            labels,
            ["A1", "A2", "A3", "A4", "A5", "B1", "B2", "B3", "B4", "B5", "C1", "C2"]
        );
    }

    #[test]
    fn layout_appends_after_existing_seats() {
        let labels: Vec<String> = layout(12, 4, 5).iter().map(SeatPosition::label).collect();
        assert_eq!(labels, ["C3", "C4", "C5", "D1"]);
    }

    #[test]
    fn a_large_hall_gets_double_letter_rows() {
        let seats = layout(0, 100_000, 100);
        assert_eq!(seats.len(), 100_000);
        assert_eq!(seats[2_600].label(), "AA1");
        assert_eq!(seats.last().unwrap().label(), "ALL100");
        assert!(seats
            .iter()
            .all(|seat| seat.row().chars().all(|c| c.is_ascii_uppercase())));
    }
}
