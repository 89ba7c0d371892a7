//! Liveness and readiness.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use application::health::NotReady;

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
    /// The store does not answer (`store_unavailable`), or the process is shutting down
    /// (`shutting_down`).
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

    /// Readiness: the store answers and the process is not shutting down.
    ///
    /// Anyone may call it; 503 while the store does not answer (`store_unavailable`), and from
    /// the moment the process is told to stop (`shutting_down`) while its last requests finish,
    /// so that a load balancer sends new ones elsewhere.
    #[oai(path = "/ready", method = "get", operation_id = "ready")]
    async fn ready(&self) -> ReadyResponse {
        let refusal = match self.services.readiness.check().await {
            Ok(()) => {
                return ReadyResponse::Ready(Json(HealthResponse {
                    status: "ok".into(),
                }))
            }
            Err(NotReady::Draining) => Unavailable::of(ErrorReason::ShuttingDown),
            Err(NotReady::Store(error)) => {
                tracing::warn!(error = %error, "store not ready");
                Unavailable::new(
                    ErrorReason::StoreUnavailable,
                    super::language::Localized::new(
                        "The store is not reachable",
                        "Penyimpanan data tidak dapat dijangkau",
                    ),
                )
            }
        };
        ReadyResponse::NotReady(Json(refusal.body().clone()), 1)
    }
}
