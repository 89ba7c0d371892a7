//! `/api/emails`: what buyers were written to, for admins: sent, still being tried, or parked.

use std::sync::Arc;

use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use application::notifications::DeliveryState;

use super::error::{error_responses, BadRequest};
use super::fields::Text;
use super::rules::DeliveryStatusName;
use super::webhooks::DeliveryResponse;
use super::{page_of, BearerToken, PageParam, PerPageParam, Services, Tag};

#[derive(ApiResponse)]
enum EmailsResponse {
    /// One page of e-mails, newest first; the total is in `X-Total-Count`.
    #[oai(status = 200)]
    Ok(
        Json<Vec<DeliveryResponse>>,
        #[oai(header = "X-Total-Count")] u64,
    ),
}

error_responses!(EmailsErrors {
    /// Bad paging parameters, or a status that is not one of the three.
    BadRequest = 400 [ValidationFailed],
    /// Missing, invalid or expired token.
    Unauthorized = 401 [Unauthenticated],
    /// Only an admin may read them.
    Forbidden = 403 [Forbidden],
});

pub struct EmailsApi {
    services: Arc<Services>,
}

impl EmailsApi {
    pub fn new(services: Arc<Services>) -> Self {
        EmailsApi { services }
    }
}

#[OpenApi(prefix_path = "/api/emails", tag = "Tag::Webhooks")]
impl EmailsApi {
    /// E-mails to buyers.
    ///
    /// Admins only. Each payment's confirmation and each cancellation's notice sent to a buyer
    /// (`SMTP_URL`): its attempts, what the SMTP server last answered, and when it is tried
    /// next; `?status=parked` lists those given up on after a day of failures. Newest first.
    #[oai(path = "/", method = "get", operation_id = "listEmails")]
    async fn list(
        &self,
        auth: BearerToken,
        /// Only e-mails in this state.
        status: Query<Option<Text<DeliveryStatusName>>>,
        page: PageParam,
        per_page: PerPageParam,
    ) -> Result<EmailsResponse, EmailsErrors> {
        let actor = self.services.actor(&auth).await?;
        let page = page_of(page, per_page)?;
        let state = status
            .0
            .as_deref()
            .map(|name| {
                DeliveryState::parse(name).ok_or_else(|| {
                    BadRequest::invalid_field("status", "must be pending, delivered or parked")
                })
            })
            .transpose()?;
        let emails = self
            .services
            .notifications
            .emails(&actor, state, page)
            .await?;
        Ok(EmailsResponse::Ok(
            Json(
                emails
                    .items
                    .iter()
                    .map(|email| DeliveryResponse::new(email, &self.services))
                    .collect(),
            ),
            emails.total,
        ))
    }
}
