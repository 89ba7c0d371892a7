//! The organiser's dashboard.

use std::sync::Arc;

use crate::auth::{require_admin, Actor, Denied};
use crate::ports::{BookingRepository, Clock, StoreError};
use crate::views::Dashboard;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DashboardError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct DashboardService {
    bookings: Arc<dyn BookingRepository>,
    clock: Arc<dyn Clock>,
}

impl DashboardService {
    pub fn new(bookings: Arc<dyn BookingRepository>, clock: Arc<dyn Clock>) -> Self {
        DashboardService { bookings, clock }
    }

    pub async fn get(&self, actor: &Actor) -> Result<Dashboard, DashboardError> {
        require_admin(actor)?;
        Ok(self.bookings.dashboard(self.clock.now()).await?)
    }

    /// Unpaid holds now, across shows: for the operator's metrics.
    pub async fn pending_holds(&self) -> Result<u64, StoreError> {
        Ok(self
            .bookings
            .dashboard(self.clock.now())
            .await?
            .pending_bookings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockBookingRepository, MockClock};
    use domain::user::{Role, UserId};
    use futures_executor::block_on;

    #[test]
    fn only_admins_see_the_dashboard() {
        let mut bookings = MockBookingRepository::new();
        bookings.expect_dashboard().never();
        let service = DashboardService::new(Arc::new(bookings), Arc::new(MockClock::new()));
        let customer = Actor {
            id: UserId(2),
            role: Role::Customer,
        };
        assert_eq!(
            block_on(service.get(&customer)).unwrap_err(),
            DashboardError::Denied(Denied::AdminOnly)
        );
    }
}
