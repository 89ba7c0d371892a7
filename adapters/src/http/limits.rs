//! Abuse limits: how often one client may try to log in, one account may fail to, and one
//! customer may try to book; and which address a request comes from.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use application::ports::{CheckPriority, RateCounter, WindowCount};

use super::error::{ErrorReason, TooManyRequests};
use super::language::Localized;

/// At most `max` events per `per`; a `max` of 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub per: Duration,
}

impl RateLimit {
    pub const fn per_minute(max: u32) -> RateLimit {
        RateLimit {
            max,
            per: Duration::from_secs(60),
        }
    }
}

/// The limits an operator sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Logins and password changes from one client address.
    pub password_attempts_per_address: RateLimit,
    /// Failed logins of one account from one address: past it, that address may not try that
    /// account again until the window ends. The owner, elsewhere, still logs in.
    pub login_failures_per_account_and_address: RateLimit,
    /// Failed logins of one account from anywhere: past it, only addresses that have not failed
    /// on that account may still try it, which slows guessing from many addresses without
    /// locking the owner out.
    pub login_failures_per_account: RateLimit,
    /// Password changes and resets made by one account.
    pub password_changes_per_account: RateLimit,
    /// Sign-ups from one client address.
    pub registrations_per_address: RateLimit,
    /// Profile changes made by one customer (each may answer whether an email or NIK is taken).
    pub profile_changes_per_customer: RateLimit,
    /// Booking attempts of one customer.
    pub bookings_per_customer: RateLimit,
    /// Booking codes one caller looked up that do not exist or are not theirs.
    pub booking_lookup_failures_per_caller: RateLimit,
    /// Requests handled at once; more are refused at the door with 503.
    pub max_in_flight_requests: usize,
    /// Proxies whose `X-Forwarded-For` is believed; nobody else's is.
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for Limits {
    fn default() -> Self {
        let minutes = |count: u64| Duration::from_secs(count * 60);
        Limits {
            password_attempts_per_address: RateLimit::per_minute(120),
            login_failures_per_account_and_address: RateLimit {
                max: 10,
                per: minutes(15),
            },
            login_failures_per_account: RateLimit {
                max: 100,
                per: minutes(15),
            },
            password_changes_per_account: RateLimit {
                max: 10,
                per: minutes(60),
            },
            registrations_per_address: RateLimit {
                max: 20,
                per: minutes(60),
            },
            profile_changes_per_customer: RateLimit {
                max: 20,
                per: minutes(60),
            },
            bookings_per_customer: RateLimit::per_minute(30),
            booking_lookup_failures_per_caller: RateLimit::per_minute(30),
            max_in_flight_requests: 64,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Counts events per key in fixed windows, in the store's `RateCounter`: shared by every
/// process on PostgreSQL, this process's own on the memory store. When the counter cannot be
/// reached the event is let through (and a warning logged): a throttle is not worth refusing
/// requests the store cannot serve anyway.
pub struct Throttle {
    /// Sets this throttle's keys apart from the others' in the shared counter.
    scope: &'static str,
    limit: RateLimit,
    counter: Arc<dyn RateCounter>,
}

/// The limit is reached; the next window opens after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

/// Keys past this length are hashed: a key holds an address and an email, neither unbounded,
/// but the store's column is.
const MAX_KEY_BYTES: usize = 200;

impl Throttle {
    pub fn new(scope: &'static str, limit: RateLimit, counter: Arc<dyn RateCounter>) -> Throttle {
        Throttle {
            scope,
            limit,
            counter,
        }
    }

    fn key(&self, key: &str) -> String {
        if key.len() <= MAX_KEY_BYTES {
            return format!("{}:{key}", self.scope);
        }
        use sha2::Digest;
        let digest = sha2::Sha256::digest(key.as_bytes());
        format!("{}:sha256:{}", self.scope, crate::hex(&digest))
    }

    /// Counts one event for `key`; refused once the window holds more than the limit.
    pub async fn hit(&self, key: &str) -> Result<(), Throttled> {
        if self.limit.max == 0 {
            return Ok(());
        }
        match self.counter.hit(&self.key(key), self.limit.per).await {
            Ok(window) if window.count > self.limit.max => Err(Throttled {
                retry_after: window.ends_in,
            }),
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::warn!(%error, scope = self.scope, "cannot count for a throttle; let through");
                Ok(())
            }
        }
    }

    /// Whether `key` is still under the limit, without counting anything; if so, the events it
    /// has in its window (none when there is no limit: nothing is counted then).
    pub async fn check(&self, key: &str) -> Result<u32, Throttled> {
        if self.limit.max == 0 {
            return Ok(0);
        }
        let window = self.peek(key).await;
        if window.count >= self.limit.max {
            Err(Throttled {
                retry_after: window.ends_in,
            })
        } else {
            Ok(window.count)
        }
    }

    /// How many events `key` has in its current window.
    pub async fn count_of(&self, key: &str) -> u32 {
        self.peek(key).await.count
    }

    async fn peek(&self, key: &str) -> WindowCount {
        match self.counter.peek(&self.key(key), self.limit.per).await {
            Ok(window) => window,
            Err(error) => {
                tracing::warn!(%error, scope = self.scope, "cannot read a throttle; let through");
                WindowCount::NONE
            }
        }
    }
}

impl Throttled {
    /// The 429 of too many of `what` (in both languages).
    pub fn into_failure(self, what: Localized) -> TooManyRequests {
        let seconds = self.retry_after.as_secs().max(1);
        TooManyRequests::new(
            ErrorReason::RateLimited,
            Localized::new(
                format!(
                    "Too many {}; please try again in {seconds} seconds",
                    what.english
                ),
                format!(
                    "Terlalu banyak {}; silakan coba lagi dalam {seconds} detik",
                    what.indonesian
                ),
            ),
        )
        .retry_after(seconds)
    }
}

/// The throttles of one server process.
pub struct Throttles {
    pub limits: Limits,
    pub password_attempts_per_address: Throttle,
    pub login_failures_per_account_and_address: Throttle,
    pub login_failures_per_account: Throttle,
    pub password_changes_per_account: Throttle,
    pub registrations_per_address: Throttle,
    pub profile_changes_per_customer: Throttle,
    pub bookings_per_customer: Throttle,
    pub booking_lookup_failures_per_caller: Throttle,
    /// Failed password checks (logins, password changes) per address, counted, never refused:
    /// an address that failed lately has its password checks at low priority.
    password_failures_per_address: Throttle,
}

/// How long an address that failed a password check has its checks at low priority.
const LOW_PRIORITY_AFTER_A_FAILURE: Duration = Duration::from_secs(15 * 60);

impl Throttles {
    pub fn new(limits: Limits, counter: Arc<dyn RateCounter>) -> Throttles {
        let throttle = |scope, limit| Throttle::new(scope, limit, counter.clone());
        Throttles {
            password_attempts_per_address: throttle(
                "password-attempts",
                limits.password_attempts_per_address,
            ),
            login_failures_per_account_and_address: throttle(
                "login-failures-from",
                limits.login_failures_per_account_and_address,
            ),
            login_failures_per_account: throttle(
                "login-failures",
                limits.login_failures_per_account,
            ),
            password_changes_per_account: throttle(
                "password-changes",
                limits.password_changes_per_account,
            ),
            registrations_per_address: throttle("registrations", limits.registrations_per_address),
            profile_changes_per_customer: throttle(
                "profile-changes",
                limits.profile_changes_per_customer,
            ),
            bookings_per_customer: throttle("bookings", limits.bookings_per_customer),
            booking_lookup_failures_per_caller: throttle(
                "booking-lookup-failures",
                limits.booking_lookup_failures_per_caller,
            ),
            password_failures_per_address: throttle(
                "password-failures",
                RateLimit {
                    max: u32::MAX,
                    per: LOW_PRIORITY_AFTER_A_FAILURE,
                },
            ),
            limits,
        }
    }

    /// Whether a login of `account` from `address` may be tried: refused once that address has
    /// failed on that account too often, or once the account has failed too often from
    /// anywhere and this address is one of those that failed.
    pub async fn login_may_try(&self, account: &str, address: &str) -> Result<(), Throttled> {
        let pair = account_at(account, address);
        let failed_here = self
            .login_failures_per_account_and_address
            .check(&pair)
            .await?;
        if failed_here > 0 {
            self.login_failures_per_account.check(account).await?;
        }
        Ok(())
    }

    /// Counts a failed login of `account` from `address`.
    pub async fn login_failed(&self, account: &str, address: &str) {
        let _ = self
            .login_failures_per_account_and_address
            .hit(&account_at(account, address))
            .await;
        let _ = self.login_failures_per_account.hit(account).await;
        self.password_check_failed(address).await;
    }

    /// Counts a failed password check from `address` (a wrong password at login or as the
    /// old password of a change).
    pub async fn password_check_failed(&self, address: &str) {
        let _ = self.password_failures_per_address.hit(address).await;
    }

    /// The priority of a login's or a password change's check from `address`: low once the
    /// address has failed one lately, so that a flood of guesses cannot take every place.
    pub async fn check_priority(&self, address: &str) -> CheckPriority {
        if self.password_failures_per_address.count_of(address).await > 0 {
            CheckPriority::Low
        } else {
            CheckPriority::Normal
        }
    }

    /// The address a request comes from: its peer, or, when the peer is a trusted proxy, the
    /// nearest address in `X-Forwarded-For` that is not one. A client cannot choose its own
    /// address by sending the header unless the operator trusts the hop it came through.
    pub fn client_address(&self, request: &poem::Request) -> String {
        let peer = request.remote_addr().as_socket_addr().map(|addr| addr.ip());
        let forwarded = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok());
        client_address(peer, forwarded, &self.limits.trusted_proxies)
    }
}

/// The key of one account tried from one address.
fn account_at(account: &str, address: &str) -> String {
    format!("{account} from {address}")
}

pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted: &[IpAddr],
) -> String {
    let Some(peer) = peer else {
        return "unknown".to_string();
    };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    forwarded_for
        .into_iter()
        .flat_map(|header| header.rsplit(','))
        .map_while(|hop| hop.trim().parse::<IpAddr>().ok())
        .find(|hop| !trusted.contains(hop))
        .unwrap_or(peer)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::ApiFailure;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy = ip("10.0.0.1");
        assert_eq!(
            client_address(Some(ip("203.0.113.9")), Some("1.2.3.4"), &[proxy]),
            "203.0.113.9",
            "a client cannot pick its address"
        );
        assert_eq!(
            client_address(Some(proxy), Some("1.2.3.4, 203.0.113.9"), &[proxy]),
            "203.0.113.9",
            "the hop nearest the proxy"
        );
        assert_eq!(
            client_address(Some(proxy), Some("203.0.113.9, 10.0.0.1"), &[proxy]),
            "203.0.113.9",
            "trusted hops are skipped"
        );
        assert_eq!(
            client_address(Some(proxy), Some("garbage"), &[proxy]),
            "10.0.0.1"
        );
        assert_eq!(client_address(Some(proxy), None, &[proxy]), "10.0.0.1");
        assert_eq!(client_address(None, Some("1.2.3.4"), &[]), "unknown");
    }

    fn counting(max: u32, per: Duration) -> Throttle {
        let counter = Arc::new(crate::memory::InProcessRateCounter::new());
        Throttle::new("test", RateLimit { max, per }, counter)
    }

    #[tokio::test]
    async fn a_throttle_counts_per_key_and_tells_when_to_come_back() {
        let throttle = counting(2, Duration::from_secs(60));
        assert!(throttle.hit("a").await.is_ok());
        assert!(throttle.check("a").await.is_ok(), "checking counts nothing");
        assert!(throttle.hit("a").await.is_ok());
        let refused = throttle.hit("a").await.unwrap_err();
        assert!(
            refused.retry_after <= Duration::from_secs(60)
                && refused.retry_after > Duration::from_secs(50)
        );
        assert!(throttle.check("a").await.is_err());
        assert!(throttle.hit("b").await.is_ok(), "keys are counted apart");
        let failure = ApiFailure::from(
            refused.into_failure(Localized::new("login attempts", "percobaan masuk")),
        );
        assert_eq!(
            (failure.body.code, failure.retry_after.is_some()),
            (429, true)
        );
    }

    #[tokio::test]
    async fn a_window_ends_and_zero_means_no_limit() {
        let throttle = counting(1, Duration::from_millis(0));
        assert!(throttle.hit("a").await.is_ok());
        assert!(
            throttle.hit("a").await.is_ok(),
            "a window of no length is over at once"
        );
        let unlimited = counting(0, Duration::from_secs(60));
        for _ in 0..1000 {
            assert!(unlimited.hit("a").await.is_ok());
        }
    }

    #[tokio::test]
    async fn long_keys_are_hashed_and_still_counted_apart() {
        let throttle = counting(1, Duration::from_secs(60));
        let long = "a".repeat(5000);
        assert!(throttle.key(&long).len() < 100);
        assert!(throttle.hit(&long).await.is_ok());
        assert!(throttle.hit(&long).await.is_err());
        assert!(throttle.hit(&format!("{long}b")).await.is_ok());
    }
}
