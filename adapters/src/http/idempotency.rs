//! `Idempotency-Key` on the operations that must not happen twice (booking, paying): the header,
//! the request's fingerprint, and running an operation so that a retry with the same key gets
//! the first answer again, byte for byte.

use std::future::Future;
use std::sync::Arc;

use poem::http::StatusCode;
use poem::{Body, IntoResponse, Request, RequestBody, Response};
use poem_openapi::registry::{
    MetaHeader, MetaParamIn, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use application::auth::Actor;
use application::idempotency::{Claimed, IdempotencyError, MAX_KEY_LENGTH};
use application::ports::StoredResponse;

use super::error::{Answers, BadRequest, Internal, IntoAnswer, OperationErrors};
use super::Services;

/// Sent with an answer that is a replay of the first answer to the same key.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// What a replayed body is; every answer of these operations is JSON.
const JSON: &str = "application/json; charset=utf-8";

/// The optional `Idempotency-Key` header, as sent: read here rather than by `Header<…>`, which
/// would take a key with bytes outside visible ASCII for no key at all instead of a bad one.
pub struct IdempotencyKeyHeader(Option<SentKey>);

enum SentKey {
    One(String),
    Several,
}

impl<'a> ApiExtractor<'a> for IdempotencyKeyHeader {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    const PARAM_IS_REQUIRED: bool = false;
    type ParamType = String;
    type ParamRawType = String;

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(MetaSchemaRef::Inline(Box::new(MetaSchema {
            min_length: Some(1),
            max_length: Some(MAX_KEY_LENGTH),
            pattern: Some("^[ -~]+$".into()),
            example: Some("0f8fad5b-d9cb-469f-a165-70867728950e".into()),
            ..MetaSchema::new("string")
        })))
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        options: ExtractParamOptions<String>,
    ) -> poem::Result<Self> {
        let mut values = request.headers().get_all(options.name).iter();
        let sent = match (values.next(), values.next()) {
            (None, _) => None,
            (Some(value), None) => Some(SentKey::One(
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )),
            (Some(_), Some(_)) => Some(SentKey::Several),
        };
        Ok(IdempotencyKeyHeader(sent))
    }
}

impl IdempotencyKeyHeader {
    /// The key with the fingerprint of the request it came with (worked out only when a key
    /// was sent).
    pub fn for_request(self, method: &str, path: &str, body: &impl ToJSON) -> KeyedRequest {
        KeyedRequest(self.0.map(|sent| match sent {
            SentKey::One(key) => Some((key, fingerprint(method, path, body))),
            SentKey::Several => None,
        }))
    }
}

/// A request's key and fingerprint; `Some(None)` when several keys were sent.
pub struct KeyedRequest(Option<Option<(String, String)>>);

/// What identifies a request for its key: SHA-256, in hex, of its method, path and body. The
/// body is the parsed request written out again (keys sorted, no spaces), so that a retry that
/// spells the same JSON differently is still the same request.
pub fn fingerprint(method: &str, path: &str, body: &impl ToJSON) -> String {
    let body = canonical(&body.to_json().unwrap_or_default());
    let digest = Sha256::new()
        .chain_update(method.as_bytes())
        .chain_update(b"\n")
        .chain_update(path.as_bytes())
        .chain_update(b"\n")
        .chain_update(body.as_bytes())
        .finalize();
    crate::hex(&digest)
}

/// A JSON value written with every object's keys sorted and no spaces.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|key| format!("{}:{}", Value::String(key.clone()), canonical(&object[key])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// An operation's answer: made now, or recorded (made now and kept for retries, or replayed).
pub enum Idempotent<T> {
    Fresh(T),
    Recorded(Response),
}

impl<T: ApiResponse> ApiResponse for Idempotent<T> {
    fn meta() -> MetaResponses {
        let mut meta = T::meta();
        for response in &mut meta.responses {
            response.headers.push(MetaHeader {
                name: REPLAYED_HEADER.into(),
                description: Some(
                    "`true` when this answer is the one first given to a request with the same \
                     `Idempotency-Key`, sent again."
                        .into(),
                ),
                required: false,
                deprecated: false,
                schema: bool::schema_ref(),
            });
        }
        meta
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: IntoResponse> IntoResponse for Idempotent<T> {
    fn into_response(self) -> Response {
        match self {
            Idempotent::Fresh(answer) => answer.into_response(),
            Idempotent::Recorded(response) => response,
        }
    }
}

/// Runs `operation` for `actor`, honouring the key when one was sent: the first request with a
/// key runs and its final answer is kept; a retry gets that answer again (or a 409 while the
/// first still runs, or a 422 when the key was used for a different request). Without a key the
/// operation just runs.
///
/// A keyed operation runs in a task of its own, so that it finishes and its answer is kept even
/// when the client gives up waiting, which is exactly when it retries.
pub async fn run<T, E, F>(
    services: &Arc<Services>,
    actor: &Actor,
    request: KeyedRequest,
    operation: F,
) -> Result<Idempotent<T>, E>
where
    T: IntoResponse + Send + 'static,
    E: IntoResponse + Answers<400> + OperationErrors + Send + 'static,
    IdempotencyError: IntoAnswer<E>,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    let (key, fingerprint) = match request.0 {
        None => return operation.await.map(Idempotent::Fresh),
        Some(None) => {
            return Err(E::answer(BadRequest::invalid_field(
                application::idempotency::KEY_HEADER,
                "must be sent once",
            )))
        }
        Some(Some(sent)) => sent,
    };
    let claim = match services
        .idempotency
        .begin(actor, &key, &fingerprint)
        .await
        .map_err(IdempotencyError::into_answer)?
    {
        Claimed::Replay(answer) => return Ok(Idempotent::Recorded(replay(answer))),
        Claimed::Run(claim) => claim,
    };
    let task_services = services.clone();
    let task_claim = claim.clone();
    let task = tokio::spawn(
        async move {
            let response = match operation.await {
                Ok(answer) => answer.into_response(),
                Err(refusal) => refusal.into_response(),
            };
            let (parts, body) = response.into_parts();
            let bytes = match body.into_bytes().await {
                Ok(bytes) => bytes,
                Err(error) => {
                    release(&task_services, task_claim).await;
                    return Internal::cause(&error).into_response();
                }
            };
            let answer = StoredResponse {
                status: parts.status.as_u16(),
                body: bytes.to_vec(),
            };
            if let Err(error) = task_services.idempotency.finish(task_claim, answer).await {
                // The operation happened and this is its answer; only its replay is lost. A retry
                // meets the key in progress until it is taken over, then finds the work done.
                tracing::warn!(error = %error, "an idempotent answer could not be kept");
            }
            Response::from_parts(parts, Body::from_bytes(bytes))
        }
        // Its log lines keep the request's id.
        .instrument(tracing::Span::current()),
    );
    match task.await {
        Ok(response) => Ok(Idempotent::Recorded(response)),
        Err(error) => {
            release(services, claim).await;
            Err(E::answer(Internal::cause(&error)))
        }
    }
}

/// Lets a retry run again after a failure that left no answer.
async fn release(services: &Services, claim: application::idempotency::Claim) {
    if let Err(error) = services.idempotency.abandon(claim).await {
        tracing::warn!(error = %error, "an idempotency key could not be released");
    }
}

/// The recorded answer, as it was first sent.
fn replay(answer: StoredResponse) -> Response {
    metrics::counter!(crate::metrics::IDEMPOTENT_REPLAYS).increment(1);
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Response::builder()
        .status(status)
        .content_type(JSON)
        .header(REPLAYED_HEADER, "true")
        .body(answer.body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_same_request_has_the_same_fingerprint_however_its_json_is_spelled() {
        let one = fingerprint(
            "POST",
            "/api/bookings",
            &json!({"event_id": 1, "seat_ids": [1, 2]}),
        );
        let reordered: serde_json::Value =
            serde_json::from_str(r#"{ "seat_ids" : [1,2],  "event_id":1 }"#).unwrap();
        assert_eq!(one, fingerprint("POST", "/api/bookings", &reordered));
        assert_eq!(one.len(), 64);
        assert!(one.bytes().all(|byte| byte.is_ascii_hexdigit()));
    }

    #[test]
    fn another_body_method_or_path_is_another_request() {
        let body = json!({"amount": 100_000, "method": "BCA Virtual Account"});
        let one = fingerprint("POST", "/api/bookings/BKG-ABCDE/pay", &body);
        assert_ne!(
            one,
            fingerprint("POST", "/api/bookings/BKG-ABCDF/pay", &body)
        );
        assert_ne!(
            one,
            fingerprint("PUT", "/api/bookings/BKG-ABCDE/pay", &body)
        );
        assert_ne!(
            one,
            fingerprint(
                "POST",
                "/api/bookings/BKG-ABCDE/pay",
                &json!({"amount": 100_001, "method": "BCA Virtual Account"})
            )
        );
    }

    #[test]
    fn a_replay_is_the_recorded_answer_marked_as_such() {
        let body = br#"{"booking_code":"BKG-ABCDE"}"#.to_vec();
        let response = replay(StoredResponse {
            status: 201,
            body: body.clone(),
        });
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()[REPLAYED_HEADER], "true");
        assert_eq!(response.headers()["content-type"], JSON);
        let sent = body_of(response);
        assert_eq!(sent, body);
    }

    fn body_of(response: Response) -> Vec<u8> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(response.into_body().into_vec())
            .unwrap()
    }
}
