//! Money as a whole number of rupiah.

use std::fmt;
use std::ops::{Add, Mul, Sub};

/// An amount of rupiah. Rupiah have no fractions in practice, so an integer is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn rupiah(amount: i64) -> Self {
        Money(amount)
    }

    pub const fn amount(self) -> i64 {
        self.0
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The price of `quantity` tickets at this unit price; `None` if it would overflow.
    pub fn times(self, quantity: u32) -> Option<Money> {
        self.0.checked_mul(i64::from(quantity)).map(Money)
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }
}

impl Mul<u32> for Money {
    type Output = Money;
    fn mul(self, quantity: u32) -> Money {
        Money(self.0.saturating_mul(i64::from(quantity)))
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, |total, amount| total + amount)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Rp {}", self.0)
    }
}
