//! Payments of bookings and their refunds.

use std::fmt;

use crate::booking::BookingId;
use crate::money::Money;
use crate::validation::{text_of_length, TextLength, ValidationErrors};
use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PaymentId(pub i64);

impl fmt::Display for PaymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The most a single payment may hand over, so that arithmetic on it never overflows.
pub const MAX_PAYMENT: i64 = 1_000_000_000_000;
/// How a payment was made ("BCA Virtual Account"): 1 to 100 characters.
pub const METHOD_LENGTH: TextLength = TextLength::new(1, 100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Success,
    /// Paid back when a confirmed booking or its event was cancelled.
    Refunded,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 2] = [PaymentStatus::Success, PaymentStatus::Refunded];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Success => "success",
            PaymentStatus::Refunded => "refunded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: PaymentId,
    pub booking_id: BookingId,
    pub amount: Money,
    pub method: String,
    pub change: Money,
    pub status: PaymentStatus,
    pub created_at: Timestamp,
    pub refunded_at: Option<Timestamp>,
}

impl Payment {
    /// The record of `input` accepted for a booking at `at`, with the change handed back.
    pub fn accepted(
        id: PaymentId,
        booking_id: BookingId,
        input: &PaymentInput,
        change: Money,
        at: Timestamp,
    ) -> Payment {
        Payment {
            id,
            booking_id,
            amount: input.amount,
            method: input.method.clone(),
            change,
            status: PaymentStatus::Success,
            created_at: at,
            refunded_at: None,
        }
    }
}

/// What a customer hands over: an amount and how it was paid ("BCA Virtual Account").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentInput {
    pub amount: Money,
    pub method: String,
}

impl PaymentInput {
    pub fn parse(amount: i64, method: &str) -> Result<PaymentInput, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        // A free show is paid with 0; whether an amount covers the price is the booking's rule.
        if amount < 0 {
            errors.add("amount", "must not be negative");
        } else if amount > MAX_PAYMENT {
            errors.add("amount", format!("must be at most {MAX_PAYMENT}"));
        }
        let method = errors.check("method", text_of_length(method, METHOD_LENGTH));
        errors.into_result(|| PaymentInput {
            amount: Money::rupiah(amount),
            method: method.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_input_is_checked() {
        assert!(PaymentInput::parse(150_000, "BCA Virtual Account").is_ok());
        assert_eq!(PaymentInput::parse(-1, "").unwrap_err().errors().len(), 2);
        assert!(
            PaymentInput::parse(0, "Gratis").is_ok(),
            "a free show is paid with nothing"
        );
        assert!(PaymentInput::parse(MAX_PAYMENT + 1, "Cash").is_err());
    }
}
