//! Liveness and readiness.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::error::{ErrorReason, Unavailable};
use super::Services;

#[derive(Object)]
#[oai(example)]
pub struct HealthResponse {
    /// `"ok"`.
    status: String,
}

impl poem_openapi::types::Example for HealthResponse {
    fn example() -> Self {
        HealthResponse {
            status: "ok".into(),
        }
    }
}

#[derive(ApiResponse)]
enum ReadyResponse {
    /// The store answers.
    #[oai(status = 200)]
    Ready(Json<HealthResponse>),
    /// The store does not answer.
    #[oai(status = 503)]
    NotReady(
        Json<super::error::ErrorBody>,
        /// Seconds after which to ask again.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

pub struct HealthApi {
    services: Arc<Services>,
}

impl HealthApi {
    pub fn new(services: Arc<Services>) -> Self {
        HealthApi { services }
    }
}

#[OpenApi(tag = "super::Tag::Health")]
impl HealthApi {
    /// Liveness: the process answers.
    ///
    /// Anyone may call it; it touches no store.
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Json<HealthResponse> {
        Json(HealthResponse {
            status: "ok".into(),
        })
    }

    /// Readiness: the store answers.
    ///
    /// Anyone may call it; 503 while the store does not answer.
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self) -> ReadyResponse {
        match self.services.readiness.check().await {
            Ok(()) => ReadyResponse::Ready(Json(HealthResponse {
                status: "ok".into(),
            })),
            Err(error) => {
                tracing::warn!(error = %error, "store not ready");
                ReadyResponse::NotReady(
                    Json(
                        Unavailable::new(
                            ErrorReason::StoreUnavailable,
                            super::language::Localized::new(
                                "The store is not reachable",
                                "Penyimpanan data tidak dapat dijangkau",
                            ),
                        )
                        .body()
                        .clone(),
                    ),
                    1,
                )
            }
        }
    }
}
