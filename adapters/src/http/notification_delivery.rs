//! Delivers the outbox's notifications: claims what is due (no other process takes it
//! meanwhile), sends each (a webhook as a signed JSON body, an e-mail to the buyer through
//! `buyer_mail`), and records what the receiver answered; a failure is tried again on the
//! domain's retry policy, and parked when it has failed too long.
//!
//! Each webhook delivery is a `POST` of `{"id", "type", "occurred_at", "booking"}` (the booking
//! as `GET /api/bookings/{code}` shows it when first sent, or `"show"` for a show's own
//! notification; a retry sends the very same body), with
//! `WarTawa-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the
//! endpoint's secret>`. A 2xx answer within the timeout is delivered; anything else is a failure.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use poem_openapi::types::ToJSON;
use rand::Rng;
use sha2::Sha256;

use application::notifications::{DeliveryTarget, DueDelivery, NextStep, NotificationService};
use application::ports::{
    BookingRepository, Clock, EventRepository, StoreError, TicketSigner, UserRepository,
};
use application::views::BookingDetails;
use domain::booking::BookingCode;
use domain::event::EventStatus;

use super::bookings::BookingResponse;
use super::buyer_mail::Mailer;
use super::events::EventResponse;
use super::pictures::PictureLinks;
use super::Presentation;

/// How long a receiver has to answer.
const RECEIVER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claimed delivery is this process's alone: past it, another process may send it
/// again (this one having died, say). Longer than the receiver's timeout.
const LEASE: chrono::Duration = chrono::Duration::seconds(60);
/// Deliveries claimed, and sent at once, per round.
const DELIVERIES_PER_ROUND: usize = 32;
/// How often a process looks for deliveries due.
pub const ROUND_EVERY: Duration = Duration::from_millis(500);

/// The longest endpoint URL taken.
pub const MAX_URL_BYTES: usize = 2048;

/// The header carrying a delivery's signature.
pub const SIGNATURE_HEADER: &str = "WarTawa-Signature";

/// Where webhooks may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receivers {
    /// Public addresses only: not loopback, private, link-local or otherwise internal.
    PublicOnly,
    /// Any address (`WEBHOOK_ALLOW_PRIVATE=1`: tests, or receivers inside the operator's network).
    AnyAddress,
}

/// Why an endpoint's URL is refused.
pub fn check_url(url: &str, receivers: Receivers) -> Result<reqwest::Url, String> {
    if url.len() > MAX_URL_BYTES {
        return Err(format!("must be at most {MAX_URL_BYTES} bytes long"));
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|error| format!("is not an absolute URL ({error})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must start with http:// or https://".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry a user name or password".into());
    }
    let host = parsed.host_str().ok_or("must name a host")?;
    if receivers == Receivers::PublicOnly {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let internal = match bare.parse::<IpAddr>() {
            Ok(ip) => !is_public(ip),
            Err(_) => {
                let name = bare.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
        };
        if internal {
            return Err(
                "points at a loopback or private address (allowed only with WEBHOOK_ALLOW_PRIVATE=1)"
                    .into(),
            );
        }
    }
    Ok(parsed)
}

/// Whether an address is reachable on the public internet (not this machine, not a private or
/// link-local network, not a documentation or reserved range).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            !(ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_documentation()
                || ip.is_multicast()
                || a == 0
                // Shared address space (carrier-grade NAT) and reserved ranges.
                || (a == 100 && (64..128).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(ip) => {
            if let Some(v4) = ip.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = ip.segments()[0];
            !(ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                // Unique local (fc00::/7) and link-local (fe80::/10).
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// Resolves receivers' host names to public addresses only, so that a name pointing inside the
/// operator's network (or re-pointed there after registration) is never reached.
struct PublicAddressesOnly;

impl reqwest::dns::Resolve for PublicAddressesOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|address| is_public(address.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{} has no public address", name.as_str()).into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256("<t>.<body>")>` under `secret`.
pub fn signature(secret: &str, unix_seconds: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(format!("{unix_seconds}.{body}").as_bytes());
    format!(
        "t={unix_seconds},v1={}",
        crate::hex(&mac.finalize().into_bytes())
    )
}

/// What a process needs to write to buyers: the mailer (`SMTP_URL`, `MAIL_FROM`) and where
/// their addresses are.
pub struct BuyerMail {
    pub mailer: Mailer,
    pub users: Arc<dyn UserRepository>,
}

/// This process's sender of notifications: webhooks, and e-mail to buyers when configured.
pub struct NotificationDelivery {
    notifications: Arc<NotificationService>,
    bookings: Arc<dyn BookingRepository>,
    events: Arc<dyn EventRepository>,
    clock: Arc<dyn Clock>,
    tickets: Arc<dyn TicketSigner>,
    venue_offset: chrono::FixedOffset,
    links: PictureLinks,
    receivers: Receivers,
    client: reqwest::Client,
    mail: Option<BuyerMail>,
}

impl NotificationDelivery {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        notifications: Arc<NotificationService>,
        bookings: Arc<dyn BookingRepository>,
        events: Arc<dyn EventRepository>,
        clock: Arc<dyn Clock>,
        tickets: Arc<dyn TicketSigner>,
        venue_offset: chrono::FixedOffset,
        public_base_url: Option<&str>,
        receivers: Receivers,
        mail: Option<BuyerMail>,
    ) -> NotificationDelivery {
        let mut client = reqwest::Client::builder()
            .timeout(RECEIVER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("WarTawa-Webhooks/", env!("CARGO_PKG_VERSION")));
        if receivers == Receivers::PublicOnly {
            client = client.dns_resolver(Arc::new(PublicAddressesOnly));
        }
        NotificationDelivery {
            notifications,
            bookings,
            events,
            clock,
            tickets,
            venue_offset,
            links: PictureLinks::new(public_base_url),
            receivers,
            client: client
                .build()
                .expect("the webhook client's settings are valid"),
            mail,
        }
    }

    /// Runs rounds until the process ends.
    pub async fn run(self: Arc<Self>) {
        let mut rounds = tokio::time::interval(ROUND_EVERY);
        rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            rounds.tick().await;
            if let Err(error) = self.deliver_due().await {
                tracing::warn!(%error, "delivering notifications failed; trying again");
            }
        }
    }

    /// One round: claims the deliveries due now and sends them, each at once; returns how many
    /// it sent.
    pub async fn deliver_due(&self) -> Result<usize, StoreError> {
        let due = self
            .notifications
            .claim_due(LEASE, DELIVERIES_PER_ROUND)
            .await?;
        let sent = due.len();
        let attempts = due.into_iter().map(|delivery| self.attempt(delivery));
        for outcome in futures_util::future::join_all(attempts).await {
            outcome?;
        }
        Ok(sent)
    }

    async fn attempt(&self, delivery: DueDelivery) -> Result<(), StoreError> {
        let (body, outcome) = match &delivery.target {
            DeliveryTarget::Webhook { url, secret, .. } => {
                let body = match &delivery.body {
                    Some(body) => body.clone(),
                    None => self.body_of(&delivery).await?,
                };
                let outcome = self.post(&delivery, url, secret, &body).await;
                (Some(body), outcome)
            }
            DeliveryTarget::BuyerEmail => (None, self.email(&delivery).await?),
        };
        let jitter = rand::rng().random::<f64>();
        let next = self
            .notifications
            .record_attempt(&delivery, body, outcome.clone(), jitter)
            .await?;
        let (delivered, failed) = match delivery.target {
            DeliveryTarget::Webhook { .. } => (
                crate::metrics::WEBHOOKS_DELIVERED,
                crate::metrics::WEBHOOK_ATTEMPTS_FAILED,
            ),
            DeliveryTarget::BuyerEmail => (
                crate::metrics::EMAILS_SENT,
                crate::metrics::EMAIL_ATTEMPTS_FAILED,
            ),
        };
        match (next, outcome) {
            (NextStep::Delivered, _) => metrics::counter!(delivered).increment(1),
            (_, Err(outcome)) => {
                metrics::counter!(failed).increment(1);
                tracing::warn!(
                    delivery = delivery.id.0,
                    target = target_name(&delivery.target),
                    %outcome,
                    parked = matches!(next, NextStep::Park),
                    "a notification's delivery failed"
                );
            }
            (_, Ok(_)) => {}
        }
        Ok(())
    }

    /// The booking a delivery tells of, as it is now (`None` for a show's own notification).
    async fn booking_of(
        &self,
        delivery: &DueDelivery,
    ) -> Result<Option<BookingDetails>, StoreError> {
        let Some(code) = &delivery.booking_code else {
            return Ok(None);
        };
        let code = BookingCode::parse(code)
            .map_err(|_| StoreError::Unexpected(format!("bad booking code {code}")))?;
        self.bookings.find_by_code(&code, self.clock.now()).await
    }

    /// The body of a webhook delivery's first attempt: the booking it tells of, or the show.
    async fn body_of(&self, delivery: &DueDelivery) -> Result<String, StoreError> {
        let now = self.clock.now();
        let shown = Presentation {
            now,
            venue_offset: self.venue_offset,
            links: self.links.base_without_request(),
            tickets: self.tickets.clone(),
        };
        let mut body = serde_json::json!({
            "id": delivery.notification_id,
            "type": delivery.kind.as_str(),
            "occurred_at": shown.time(delivery.occurred_at).to_json(),
        });
        if delivery.booking_code.is_some() {
            let booking = self.booking_of(delivery).await?;
            body["booking"] = booking
                .map(|details| BookingResponse::new(&details, &shown).to_json())
                .unwrap_or_default()
                .unwrap_or_default();
        } else {
            let show = self.events.find(delivery.event_id, now).await?;
            body["show"] = show
                .map(|view| EventResponse::new(&view, &shown).to_json())
                .unwrap_or_default()
                .unwrap_or_default();
        }
        Ok(body.to_string())
    }

    /// Sends one attempt of a webhook: `Ok` with the receiver's 2xx status, `Err` with why it
    /// failed.
    async fn post(
        &self,
        delivery: &DueDelivery,
        url: &str,
        secret: &str,
        body: &str,
    ) -> Result<String, String> {
        let url = check_url(url, self.receivers)?;
        let signed = signature(secret, self.clock.now().timestamp(), body);
        let answer = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signed)
            .header("WarTawa-Notification", delivery.notification_id.to_string())
            .header("WarTawa-Event", delivery.kind.as_str())
            .body(body.to_string())
            .send()
            .await
            .map_err(|error| {
                if error.is_timeout() {
                    format!("no answer within {} s", RECEIVER_TIMEOUT.as_secs())
                } else {
                    format!("not reached: {error}")
                }
            })?;
        let status = answer.status();
        if status.is_success() {
            Ok(format!("HTTP {}", status.as_u16()))
        } else {
            Err(format!("HTTP {}", status.as_u16()))
        }
    }

    /// Writes to the buyer: `Ok` with the SMTP server's acceptance, `Err` with why it failed
    /// (e-mail switched off since the delivery was made counts as a failure, retried).
    async fn email(&self, delivery: &DueDelivery) -> Result<Result<String, String>, StoreError> {
        let Some(mail) = &self.mail else {
            return Ok(Err("e-mail is off in this process (no SMTP_URL)".into()));
        };
        let Some(details) = self.booking_of(delivery).await? else {
            return Ok(Err(format!(
                "no booking {} to write about",
                delivery.booking_code.as_deref().unwrap_or("(none)")
            )));
        };
        let Some(buyer) = mail.users.find(details.booking.customer_id).await? else {
            return Ok(Err("the buyer's account is gone".into()));
        };
        let show_cancelled = self
            .events
            .find(delivery.event_id, self.clock.now())
            .await?
            .is_some_and(|show| show.event.status == EventStatus::Cancelled);
        let message = match mail.mailer.message(
            delivery.notification_id,
            delivery.kind,
            &details,
            &buyer,
            show_cancelled,
        ) {
            Ok(message) => message,
            Err(problem) => return Ok(Err(problem)),
        };
        Ok(mail.mailer.send(message).await)
    }
}

/// Where a delivery goes, for a log line.
fn target_name(target: &DeliveryTarget) -> &str {
    match target {
        DeliveryTarget::Webhook { url, .. } => url,
        DeliveryTarget::BuyerEmail => "the buyer's e-mail",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://api.localhost/hook",
            "http://10.1.2.3/hook",
            "http://192.168.0.5/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "http://[fd00::1]/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://0.0.0.0/hook",
            "http://100.64.0.1/hook",
        ] {
            assert!(check_url(url, Receivers::PublicOnly).is_err(), "{url}");
            assert!(check_url(url, Receivers::AnyAddress).is_ok(), "{url}");
        }
        for url in [
            "https://hooks.example.com/wartawa",
            "http://93.184.216.34/x",
        ] {
            assert!(check_url(url, Receivers::PublicOnly).is_ok(), "{url}");
        }
        for url in [
            "ftp://example.com/x",
            "not a url",
            "https://user:pw@example.com/x",
        ] {
            assert!(check_url(url, Receivers::AnyAddress).is_err(), "{url}");
        }
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_the_time_and_body() {
        // HMAC-SHA256("secret", "1700000000.{}"), computed independently.
        let signed = signature("secret", 1_700_000_000, "{}");
        assert!(signed.starts_with("t=1700000000,v1="), "{signed}");
        assert_eq!(signed.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(signed, signature("secret", 1_700_000_000, "{ }"));
        assert_ne!(signed, signature("other", 1_700_000_000, "{}"));
    }
}
