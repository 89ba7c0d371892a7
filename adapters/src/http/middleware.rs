//! Middleware: a bound on request bodies, the `Allow` header of a 405, and a log line with a
//! request id for every request.

use std::sync::Arc;
use std::time::Instant;

use poem::http::StatusCode;
use poem::{Endpoint, Error, IntoResponse, Middleware, Request, Response, Result};
use tracing::Instrument;

/// Refuses bodies larger than the limit with 413, whether or not `Content-Length` is sent.
pub struct BodyLimit {
    max_bytes: usize,
}

impl BodyLimit {
    pub fn new(max_bytes: usize) -> Self {
        BodyLimit { max_bytes }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max_bytes: usize,
}

fn too_large() -> Error {
    Error::from_status(StatusCode::PAYLOAD_TOO_LARGE)
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let declared = req
            .headers()
            .get(poem::http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max_bytes as u64) {
            return Err(too_large());
        }
        // Without a trustworthy length, read at most the limit before the handler sees the body.
        if declared.is_none() {
            let body = req
                .take_body()
                .into_bytes_limit(self.max_bytes)
                .await
                .map_err(|_| too_large())?;
            req.set_body(body);
        }
        self.inner.call(req).await
    }
}

/// Names, on a 405, the methods the path does take (`Allow`, as HTTP asks), as the OpenAPI
/// document lists them.
pub struct AllowHeader {
    paths: Arc<Vec<PathMethods>>,
}

/// One path of the document: its segments (`None` for a parameter) and the methods it takes.
struct PathMethods {
    segments: Vec<Option<String>>,
    allow: poem::http::HeaderValue,
}

impl PathMethods {
    /// How well this path matches a request's segments: `None` when it does not; otherwise one
    /// flag per segment, true where a fixed segment matched, so that `/api/users/login` is
    /// preferred to `/api/users/{id}`, as the router prefers it.
    fn fit(&self, request: &[&str]) -> Option<Vec<bool>> {
        if self.segments.len() != request.len() {
            return None;
        }
        self.segments
            .iter()
            .zip(request)
            .map(|(segment, given)| match segment {
                Some(fixed) => (fixed == given).then_some(true),
                None => Some(false),
            })
            .collect()
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|segment| !segment.is_empty())
}

impl AllowHeader {
    /// Reads the paths and their methods from an OpenAPI document (JSON).
    pub fn from_document(document: &str) -> Self {
        const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];
        let document: serde_json::Value = serde_json::from_str(document).unwrap_or_default();
        let paths = document["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(path, operations)| {
                let methods: Vec<String> = METHODS
                    .iter()
                    .filter(|method| operations.get(**method).is_some())
                    .map(|method| method.to_uppercase())
                    .collect();
                let allow = poem::http::HeaderValue::from_str(&methods.join(", ")).ok()?;
                let segments = segments(path)
                    .map(|segment| {
                        let parameter = segment.starts_with('{') && segment.ends_with('}');
                        (!parameter).then(|| segment.to_string())
                    })
                    .collect();
                Some(PathMethods { segments, allow })
            })
            .collect();
        AllowHeader {
            paths: Arc::new(paths),
        }
    }
}

impl<E: Endpoint> Middleware<E> for AllowHeader {
    type Output = AllowHeaderEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        AllowHeaderEndpoint {
            inner,
            paths: self.paths.clone(),
        }
    }
}

pub struct AllowHeaderEndpoint<E> {
    inner: E,
    paths: Arc<Vec<PathMethods>>,
}

impl<E: Endpoint> Endpoint for AllowHeaderEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let requested: Vec<String> = segments(req.uri().path()).map(str::to_string).collect();
        let mut response = self.inner.call(req).await?.into_response();
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            let requested: Vec<&str> = requested.iter().map(String::as_str).collect();
            let best = self
                .paths
                .iter()
                .filter_map(|path| Some((path.fit(&requested)?, path)))
                .max_by(|(one, _), (other, _)| one.cmp(other));
            if let Some((_, path)) = best {
                response
                    .headers_mut()
                    .insert(poem::http::header::ALLOW, path.allow.clone());
            }
        }
        Ok(response)
    }
}

/// Gives every request an id (`X-Request-Id`), runs it inside a tracing span carrying that id,
/// and logs its outcome and duration.
pub struct RequestLog;

impl<E: Endpoint> Middleware<E> for RequestLog {
    type Output = RequestLogEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestLogEndpoint { inner }
    }
}

pub struct RequestLogEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for RequestLogEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        let span = tracing::info_span!("request", id = %request_id, method = %req.method(), path = %req.uri().path());
        async move {
            let started = Instant::now();
            let mut response = match self.inner.call(req).await {
                Ok(output) => output.into_response(),
                Err(error) => error.into_response(),
            };
            let status = response.status().as_u16();
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            if status >= 500 {
                tracing::warn!(status, elapsed_ms, "request finished");
            } else {
                tracing::info!(status, elapsed_ms, "request finished");
            }
            if let Ok(value) = request_id.parse() {
                response.headers_mut().insert("x-request-id", value);
            }
            Ok(response)
        }
        .instrument(span)
        .await
    }
}

/// Bounds the requests handled at once. Past the bound a request is refused at once with 503
/// and `Retry-After`, before its body is read, so that an on-sale rush many times what the
/// machine serves leaves the admitted requests fast and memory bounded. Probes always pass.
pub struct LoadShedder {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

impl LoadShedder {
    pub fn new(max_in_flight: usize) -> Self {
        LoadShedder {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1))),
        }
    }
}

impl<E: Endpoint> Middleware<E> for LoadShedder {
    type Output = LoadShedderEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        LoadShedderEndpoint {
            inner,
            permits: self.permits.clone(),
        }
    }
}

pub struct LoadShedderEndpoint<E> {
    inner: E,
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

impl<E: Endpoint> Endpoint for LoadShedderEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        if matches!(req.uri().path(), "/health" | "/ready") {
            return self.inner.call(req).await.map(IntoResponse::into_response);
        }
        let Ok(_permit) = self.permits.clone().try_acquire_owned() else {
            return Ok(super::error::ApiFailure::unavailable(
                "WarTawa is handling more requests than it can right now; please retry in a moment",
                1,
            )
            .into_response());
        };
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}
