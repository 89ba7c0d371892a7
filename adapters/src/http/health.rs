//! Liveness and readiness.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use application::health::NotReady;
use application::ports::{ReadReplicaState, ReplicaHealth};

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

/// Readiness, and the read replica's freshness when reads go to one.
#[derive(Object)]
#[oai(example)]
pub struct ReadyBody {
    /// `"ok"`.
    status: String,
    /// Present when `DATABASE_READ_URL` is set. The process is ready whatever it says: the
    /// primary serves what the replica cannot.
    #[oai(skip_serializing_if_is_none)]
    read_replica: Option<ReadReplicaReport>,
}

/// How fresh the read replica is.
#[derive(Object)]
#[oai(example)]
pub struct ReadReplicaReport {
    /// `fresh` (event lists, details and seat maps are read from it), `lagging` (its data may be
    /// older than `max_lag_ms`: bypassed until it catches up) or `unusable` (it does not answer, or it is not a standby of this database: bypassed; `problem` says which).
    status: String,
    /// How old its data may be at most, in milliseconds; absent until a check has shown it
    /// caught up.
    #[oai(skip_serializing_if_is_none)]
    lag_ms: Option<u64>,
    /// `READ_REPLICA_MAX_LAG_MS`.
    max_lag_ms: u64,
    /// Why it is unusable.
    #[oai(skip_serializing_if_is_none)]
    problem: Option<String>,
}

impl poem_openapi::types::Example for ReadyBody {
    fn example() -> Self {
        ReadyBody {
            status: "ok".into(),
            read_replica: Some(poem_openapi::types::Example::example()),
        }
    }
}

impl poem_openapi::types::Example for ReadReplicaReport {
    fn example() -> Self {
        ReadReplicaReport {
            status: "fresh".into(),
            lag_ms: Some(3),
            max_lag_ms: 1000,
            problem: None,
        }
    }
}

impl From<ReadReplicaState> for ReadReplicaReport {
    fn from(state: ReadReplicaState) -> Self {
        let millis =
            |duration: std::time::Duration| duration.as_millis().min(u128::from(u64::MAX)) as u64;
        let (status, problem) = match state.health {
            ReplicaHealth::Fresh => ("fresh", None),
            ReplicaHealth::Lagging => ("lagging", None),
            ReplicaHealth::Unusable(problem) => ("unusable", Some(problem)),
        };
        ReadReplicaReport {
            status: status.into(),
            lag_ms: state.lag.map(millis),
            max_lag_ms: millis(state.max_lag),
            problem,
        }
    }
}

#[derive(ApiResponse)]
enum ReadyResponse {
    /// The store answers.
    #[oai(status = 200)]
    Ready(Json<ReadyBody>),
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
                return ReadyResponse::Ready(Json(ReadyBody {
                    status: "ok".into(),
                    read_replica: self.services.readiness.replica().map(Into::into),
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
