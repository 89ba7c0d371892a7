//! `/api/webhooks`: organisers' endpoints, told of every booking change they ask for.

use std::sync::Arc;

use base64::Engine;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use rand::Rng;

use application::notifications::{Delivery, WebhookEndpoint, WebhookId};
use domain::notification::NoticeKind;

use super::error::{error_responses, BadRequest};
use super::events::example_time;
use super::fields::Text;
use super::notification_delivery::check_url;
use super::rules::{DeliveryStatusName, NotificationKind};
use super::time::VenueTime;
use super::{page_of, BearerToken, PageParam, PerPageParam, Services, Tag};

/// An endpoint to register.
#[derive(Object)]
#[oai(example)]
struct WebhookRequest {
    /// Where deliveries are `POST`ed: `http://` or `https://`; loopback and private addresses
    /// are refused unless the server runs with `WEBHOOK_ALLOW_PRIVATE=1`.
    url: String,
    /// The kinds wanted; every kind when left out or empty.
    #[oai(default)]
    event_types: Vec<Text<NotificationKind>>,
}

impl poem_openapi::types::Example for WebhookRequest {
    fn example() -> Self {
        WebhookRequest {
            url: "https://crm.example.com/hooks/wartawa".into(),
            event_types: vec!["booking.paid".into(), "booking.refunded".into()],
        }
    }
}

/// A registered endpoint.
#[derive(Object)]
#[oai(example)]
struct WebhookResponse {
    id: i64,
    url: String,
    event_types: Vec<Text<NotificationKind>>,
    created_at: VenueTime,
    /// Whether deliveries are still sent.
    active: bool,
    /// When and why the endpoint was disabled (`null` while active).
    #[oai(nullable)]
    disabled_at: Option<VenueTime>,
    #[oai(nullable)]
    disabled_reason: Option<String>,
    /// The key every delivery is signed with (HMAC-SHA256 over `"<t>.<body>"`, see
    /// `WarTawa-Signature`): given once, in the answer to the registration, `null` after.
    #[oai(nullable)]
    secret: Option<String>,
}

impl poem_openapi::types::Example for WebhookResponse {
    fn example() -> Self {
        WebhookResponse {
            id: 1,
            url: "https://crm.example.com/hooks/wartawa".into(),
            event_types: vec!["booking.paid".into(), "booking.refunded".into()],
            created_at: example_time("2026-12-01T10:00:00+07:00"),
            active: true,
            disabled_at: None,
            disabled_reason: None,
            secret: Some("whsec_3q2-7wTgYp1b0cM4vQyZ8e6fKkR9LxN2aHs5uJ0dW1o".into()),
        }
    }
}

impl WebhookResponse {
    fn new(endpoint: &WebhookEndpoint, services: &Services, secret: Option<String>) -> Self {
        let time = |at| VenueTime::new(at, services.venue_offset);
        WebhookResponse {
            id: endpoint.id.0,
            url: endpoint.url.clone(),
            event_types: endpoint
                .kinds
                .iter()
                .map(|kind| kind.as_str().into())
                .collect(),
            created_at: time(endpoint.created_at),
            active: endpoint.disabled_at.is_none(),
            disabled_at: endpoint.disabled_at.map(time),
            disabled_reason: endpoint.disabled_reason.clone(),
            secret,
        }
    }
}

/// One notification's delivery: to a webhook endpoint, or to a buyer's e-mail.
#[derive(Object)]
#[oai(example)]
pub(super) struct DeliveryResponse {
    id: i64,
    /// The `id` of the body sent: the same in every attempt.
    notification_id: i64,
    event_type: Text<NotificationKind>,
    /// The booking it told of; `null` for a show's own notification.
    #[oai(nullable)]
    booking_code: Option<String>,
    /// The show.
    event_id: i64,
    /// `pending` (tried again at `next_attempt_at`), `delivered`, or `parked` (failed for too
    /// long; tried no more).
    status: Text<DeliveryStatusName>,
    attempts: i64,
    #[oai(nullable)]
    next_attempt_at: Option<VenueTime>,
    #[oai(nullable)]
    last_attempt_at: Option<VenueTime>,
    /// What the last attempt got: `HTTP <status>`, or why the receiver was not reached.
    #[oai(nullable)]
    last_outcome: Option<String>,
    #[oai(nullable)]
    delivered_at: Option<VenueTime>,
    created_at: VenueTime,
}

impl poem_openapi::types::Example for DeliveryResponse {
    fn example() -> Self {
        DeliveryResponse {
            id: 12,
            notification_id: 40,
            event_type: "booking.paid".into(),
            booking_code: Some("BKG-7K2QX".into()),
            event_id: 3,
            status: "delivered".into(),
            attempts: 1,
            next_attempt_at: None,
            last_attempt_at: Some(example_time("2026-12-20T14:06:00+07:00")),
            last_outcome: Some("HTTP 200".into()),
            delivered_at: Some(example_time("2026-12-20T14:06:00+07:00")),
            created_at: example_time("2026-12-20T14:06:00+07:00"),
        }
    }
}

impl DeliveryResponse {
    pub(super) fn new(delivery: &Delivery, services: &Services) -> Self {
        let time = |at| VenueTime::new(at, services.venue_offset);
        DeliveryResponse {
            id: delivery.id.0,
            notification_id: delivery.notification_id,
            event_type: delivery.kind.as_str().into(),
            booking_code: delivery.booking_code.clone(),
            event_id: delivery.event_id.0,
            status: delivery.state.as_str().into(),
            attempts: i64::from(delivery.attempts),
            next_attempt_at: delivery.next_attempt_at.map(time),
            last_attempt_at: delivery.last_attempt_at.map(time),
            last_outcome: delivery.last_outcome.clone(),
            delivered_at: delivery.delivered_at.map(time),
            created_at: time(delivery.created_at),
        }
    }
}

#[derive(ApiResponse)]
enum RegisteredResponse {
    /// Registered; the answer carries the signing secret, never shown again.
    #[oai(status = 201)]
    Created(Json<WebhookResponse>),
}

#[derive(ApiResponse)]
enum ListResponse {
    #[oai(status = 200)]
    Ok(Json<Vec<WebhookResponse>>),
}

#[derive(ApiResponse)]
enum RemovedResponse {
    /// Removed, with its deliveries; nothing more is sent to it.
    #[oai(status = 204)]
    Removed,
}

#[derive(ApiResponse)]
enum DeliveriesResponse {
    /// One page of the endpoint's deliveries, newest first; the total is in `X-Total-Count`.
    #[oai(status = 200)]
    Ok(
        Json<Vec<DeliveryResponse>>,
        #[oai(header = "X-Total-Count")] u64,
    ),
}

error_responses!(RegisterWebhookErrors {
    /// A URL that is not `http(s)://`, points at a private address, or an unknown event type;
    /// or a body that is not JSON, or not of this shape.
    BadRequest = 400 [ValidationFailed, MalformedJson, MalformedRequest],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only an admin may manage webhooks.
    Forbidden = 403 [Forbidden],
});

error_responses!(ListWebhookErrors {
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only an admin may manage webhooks.
    Forbidden = 403 [Forbidden],
});

error_responses!(WebhookErrors {
    /// The id is not a number, or bad paging parameters.
    BadRequest = 400 [ValidationFailed],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only an admin may manage webhooks.
    Forbidden = 403 [Forbidden],
    /// No such endpoint.
    NotFound = 404 [NotFound],
});

/// A fresh signing secret: 32 random bytes, URL-safe base64, after `whsec_`.
fn fresh_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub struct WebhooksApi {
    services: Arc<Services>,
}

impl WebhooksApi {
    pub fn new(services: Arc<Services>) -> Self {
        WebhooksApi { services }
    }
}

#[OpenApi(prefix_path = "/api/webhooks", tag = "Tag::Webhooks")]
impl WebhooksApi {
    /// Register a webhook endpoint.
    ///
    /// Admins only. From now on every change of the kinds wanted is `POST`ed to `url` at least
    /// once: a JSON body `{"id", "type", "occurred_at", "booking"}` (the booking as
    /// `GET /api/bookings/{code}` shows it; `"show"` instead for `show.changed` and
    /// `show.cancelled`), signed in `WarTawa-Signature: t=<unix seconds>,
    /// v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>`. Any 2xx within 10 s counts as
    /// delivered; anything else is tried again, backing off from 10 s to an hour, for a day.
    /// Receivers deduplicate by `id`. The secret is in this answer only.
    #[oai(path = "/", method = "post", operation_id = "registerWebhook")]
    async fn register(
        &self,
        auth: BearerToken,
        body: Json<WebhookRequest>,
    ) -> Result<RegisteredResponse, RegisterWebhookErrors> {
        let actor = self.services.actor(&auth).await?;
        let url = check_url(body.url.trim(), self.services.webhook_receivers)
            .map_err(|problem| BadRequest::invalid_field("url", &problem))?;
        let kinds = body
            .event_types
            .iter()
            .map(|name| {
                NoticeKind::parse(name).ok_or_else(|| {
                    BadRequest::invalid_field(
                        "event_types",
                        &format!("has an unknown type {}", &**name),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let secret = fresh_secret();
        let endpoint = self
            .services
            .notifications
            .register(&actor, url.to_string(), kinds, secret.clone())
            .await?;
        Ok(RegisteredResponse::Created(Json(WebhookResponse::new(
            &endpoint,
            &self.services,
            Some(secret),
        ))))
    }

    /// List webhook endpoints.
    ///
    /// Admins only. Secrets are never shown again.
    #[oai(path = "/", method = "get", operation_id = "listWebhooks")]
    async fn list(&self, auth: BearerToken) -> Result<ListResponse, ListWebhookErrors> {
        let actor = self.services.actor(&auth).await?;
        let endpoints = self.services.notifications.list(&actor).await?;
        Ok(ListResponse::Ok(Json(
            endpoints
                .iter()
                .map(|endpoint| WebhookResponse::new(endpoint, &self.services, None))
                .collect(),
        )))
    }

    /// Remove a webhook endpoint.
    ///
    /// Admins only. Its pending deliveries are dropped with it.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteWebhook")]
    async fn delete(
        &self,
        auth: BearerToken,
        id: Path<i64>,
    ) -> Result<RemovedResponse, WebhookErrors> {
        let actor = self.services.actor(&auth).await?;
        self.services
            .notifications
            .delete(&actor, WebhookId(id.0))
            .await?;
        Ok(RemovedResponse::Removed)
    }

    /// An endpoint's deliveries.
    ///
    /// Admins only. Each notification sent to the endpoint: its attempts, what the last one
    /// got, and when the next is due; newest first.
    #[oai(
        path = "/:id/deliveries",
        method = "get",
        operation_id = "listWebhookDeliveries"
    )]
    async fn deliveries(
        &self,
        auth: BearerToken,
        id: Path<i64>,
        page: PageParam,
        per_page: PerPageParam,
    ) -> Result<DeliveriesResponse, WebhookErrors> {
        let actor = self.services.actor(&auth).await?;
        let page = page_of(page, per_page)?;
        let deliveries = self
            .services
            .notifications
            .deliveries(&actor, WebhookId(id.0), page)
            .await?;
        Ok(DeliveriesResponse::Ok(
            Json(
                deliveries
                    .items
                    .iter()
                    .map(|delivery| DeliveryResponse::new(delivery, &self.services))
                    .collect(),
            ),
            deliveries.total,
        ))
    }
}
