//! Middleware: request bodies read whole (bounded in size and time) before a request is let in,
//! the bound on requests in flight, the `Allow` header of a 405, and a log line with a request id
//! for every request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use poem::http::{HeaderValue, Method, StatusCode};
use poem::web::{CompressionAlgo, CompressionLevel};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tracing::Instrument;

use super::error::{ApiFailure, ErrorReason};
use super::language::Localized;
use super::request_shape::{segments, DocumentIndex};

/// How request bodies are read: whole, before the request takes one of the in-flight places, so
/// that a client trickling its body in holds a connection of its own and nothing else; bounded
/// in size; and within a deadline that grows with what arrives, so that a body must keep coming
/// at a minimum rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyReading {
    /// The largest body of a request that creates or changes an event, whose uploaded picture
    /// arrives inside it as a `data:` URL.
    pub max_event_bytes: usize,
    /// The largest body of any other request.
    pub max_bytes: usize,
    /// The time any body may take.
    pub timeout: Duration,
    /// Each this many bytes received earn the body one more second; 0 gives no more time.
    pub min_bytes_per_second: u32,
}

impl Default for BodyReading {
    fn default() -> Self {
        BodyReading {
            max_event_bytes: 3 * 1024 * 1024,
            max_bytes: 64 * 1024,
            timeout: Duration::from_secs(10),
            min_bytes_per_second: 1024,
        }
    }
}

impl BodyReading {
    /// The largest body `method path` may carry: event creation and updates carry pictures.
    fn limit_for(&self, method: &Method, path: &str) -> usize {
        let segments: Vec<&str> = segments(path).collect();
        let changes_an_event = match segments.as_slice() {
            ["api", "events"] => method == Method::POST,
            ["api", "events", _] => method == Method::PUT,
            _ => false,
        };
        if changes_an_event {
            self.max_event_bytes
        } else {
            self.max_bytes
        }
    }

    /// When the body must be complete, having received `received` bytes of it.
    fn deadline(&self, started: Instant, received: usize) -> Instant {
        let earned = match self.min_bytes_per_second {
            0 => Duration::ZERO,
            rate => Duration::from_secs_f64(received as f64 / f64::from(rate)),
        };
        started + self.timeout + earned
    }

    /// Reads a whole body within the limit and the deadline.
    async fn read(&self, body: Body, limit: usize) -> Result<Vec<u8>, ApiFailure> {
        let started = Instant::now();
        let mut chunks = std::pin::pin!(body.into_bytes_stream());
        let mut bytes = Vec::new();
        loop {
            let deadline = self.deadline(started, bytes.len());
            let next = tokio::time::timeout_at(deadline.into(), chunks.next()).await;
            match next {
                Ok(None) => return Ok(bytes),
                Ok(Some(Ok(chunk))) => {
                    if bytes.len() + chunk.len() > limit {
                        return Err(too_large(limit));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(Some(Err(_))) => {
                    return Err(ApiFailure::new(
                        StatusCode::BAD_REQUEST,
                        ErrorReason::MalformedRequest,
                        Localized::new(
                            "The request body could not be read to its end",
                            "Isi permintaan tidak dapat dibaca sampai habis",
                        ),
                    ))
                }
                Err(_) => {
                    return Err(ApiFailure::new(
                        StatusCode::REQUEST_TIMEOUT,
                        ErrorReason::RequestTimeout,
                        Localized::new(
                            format!(
                                "The request body arrived too slowly: it must arrive within {} seconds, \
                                 plus one second for each {} bytes",
                                self.timeout.as_secs(),
                                self.min_bytes_per_second
                            ),
                            format!(
                                "Isi permintaan datang terlalu lambat: harus tiba dalam {} detik, \
                                 ditambah satu detik untuk setiap {} byte",
                                self.timeout.as_secs(),
                                self.min_bytes_per_second
                            ),
                        ),
                    ))
                }
            }
        }
    }
}

fn too_large(limit: usize) -> ApiFailure {
    ApiFailure::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorReason::PayloadTooLarge,
        Localized::new(
            format!("The request body is too large: at most {limit} bytes are accepted here"),
            format!("Isi permintaan terlalu besar: paling banyak {limit} byte diterima di sini"),
        ),
    )
}

/// Reads every request's body as [`BodyReading`] says before the inner endpoint sees it; a body
/// too large is 413, one too slow 408, one cut off 400.
pub struct BodyReader {
    reading: Arc<BodyReading>,
}

impl BodyReader {
    pub fn new(reading: BodyReading) -> Self {
        BodyReader {
            reading: Arc::new(reading),
        }
    }
}

impl<E: Endpoint> Middleware<E> for BodyReader {
    type Output = BodyReaderEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyReaderEndpoint {
            inner,
            reading: self.reading.clone(),
        }
    }
}

pub struct BodyReaderEndpoint<E> {
    inner: E,
    reading: Arc<BodyReading>,
}

impl<E: Endpoint> Endpoint for BodyReaderEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Response> {
        let limit = self.reading.limit_for(req.method(), req.uri().path());
        let declared = req
            .headers()
            .get(poem::http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Ok(too_large(limit).into_response());
        }
        match self.reading.read(req.take_body(), limit).await {
            Ok(body) => {
                req.set_body(body);
                self.inner.call(req).await.map(IntoResponse::into_response)
            }
            Err(failure) => {
                let mut response = failure.into_response();
                // The rest of the body is never read, so the connection cannot carry another request.
                response.headers_mut().insert(
                    poem::http::header::CONNECTION,
                    HeaderValue::from_static("close"),
                );
                Ok(response)
            }
        }
    }
}

/// Names, on a 405, the methods the path does take (`Allow`, as HTTP asks), as the OpenAPI
/// document lists them.
pub struct AllowHeader {
    index: Arc<DocumentIndex>,
}

impl AllowHeader {
    pub fn new(index: Arc<DocumentIndex>) -> Self {
        AllowHeader { index }
    }
}

impl<E: Endpoint> Middleware<E> for AllowHeader {
    type Output = AllowHeaderEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        AllowHeaderEndpoint {
            inner,
            index: self.index.clone(),
        }
    }
}

pub struct AllowHeaderEndpoint<E> {
    inner: E,
    index: Arc<DocumentIndex>,
}

impl<E: Endpoint> Endpoint for AllowHeaderEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let path = req.uri().path().to_string();
        let mut response = self.inner.call(req).await?.into_response();
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            if let Some(methods) = self.index.methods_of(&path) {
                const ORDER: [Method; 7] = [
                    Method::GET,
                    Method::PUT,
                    Method::POST,
                    Method::DELETE,
                    Method::OPTIONS,
                    Method::HEAD,
                    Method::PATCH,
                ];
                let allow: Vec<&str> = ORDER
                    .iter()
                    .filter(|method| methods.contains(method))
                    .map(Method::as_str)
                    .collect();
                if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                    response
                        .headers_mut()
                        .insert(poem::http::header::ALLOW, value);
                }
            }
        }
        Ok(response)
    }
}

/// Sent with every answer: no content sniffing, no referrer to other sites, and no framing of
/// any page (the Swagger UI at `/docs` included), against clickjacking.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("content-security-policy", "frame-ancestors 'none'"),
];

/// Adds [`SECURITY_HEADERS`] to every answer.
pub fn security_headers() -> poem::middleware::SetHeader {
    SECURITY_HEADERS
        .iter()
        .fold(poem::middleware::SetHeader::new(), |set, (name, value)| {
            set.overriding(*name, *value)
        })
}

/// Gives every request an id (`X-Request-Id`: the caller's own when it sends a sane one, else a
/// new one), runs it inside a tracing span carrying that id, its method, its route (the
/// document's path template) and, once known, the caller's user id, and logs its outcome and
/// duration in one line.
pub struct RequestLog {
    document: Arc<DocumentIndex>,
}

impl RequestLog {
    pub fn new(document: Arc<DocumentIndex>) -> Self {
        RequestLog { document }
    }
}

impl<E: Endpoint> Middleware<E> for RequestLog {
    type Output = RequestLogEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestLogEndpoint {
            inner,
            document: self.document.clone(),
        }
    }
}

pub struct RequestLogEndpoint<E> {
    inner: E,
    document: Arc<DocumentIndex>,
}

/// An `X-Request-Id` worth keeping: 1 to 128 characters of letters, digits, `-`, `_`, `.` and
/// `:` (UUIDs, trace ids), so that it cannot forge a log line or a header.
fn sane_request_id(request: &Request) -> Option<String> {
    let value = request.headers().get("x-request-id")?.to_str().ok()?;
    let sane = (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':'));
    sane.then(|| value.to_string())
}

impl<E: Endpoint> Endpoint for RequestLogEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let request_id =
            sane_request_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let route = self.document.template_of(req.uri().path()).unwrap_or("-");
        let method = req.method().clone();
        let span = tracing::info_span!(
            "request",
            id = %request_id,
            method = %req.method(),
            route,
            user_id = tracing::field::Empty,
        );
        async move {
            let started = Instant::now();
            let mut response = match self.inner.call(req).await {
                Ok(output) => output.into_response(),
                Err(error) => error.into_response(),
            };
            let status = response.status().as_u16();
            let elapsed = started.elapsed();
            crate::metrics::record_request(method.as_str(), route, status, elapsed);
            let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
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

/// Compresses answers a client accepts compressed (`Accept-Encoding: gzip` or `br`) when they
/// are text (JSON, HTML, CSS, JavaScript, SVG, CSV) of at least `MIN_COMPRESSED_BYTES`: a
/// 10 000-seat map is megabytes of JSON. Event streams, pictures and PDFs are sent as they are;
/// a client that asks for neither pays nothing.
pub struct CompressLarge;

/// Below this, compressing saves less than it costs.
const MIN_COMPRESSED_BYTES: usize = 1024;

impl<E: Endpoint> Middleware<E> for CompressLarge {
    type Output = CompressLargeEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CompressLargeEndpoint { inner }
    }
}

pub struct CompressLargeEndpoint<E> {
    inner: E,
}

/// The coding to answer in: gzip if the client takes it (every browser does), else Brotli;
/// `None` when it takes neither (or refuses them with `q=0`). Gzip first: at their fastest
/// levels Brotli makes a 10 000-seat map 17 % smaller but takes about four times the CPU,
/// which an on-sale night cannot spare (BENCHMARKS.md, "Compression").
fn accepted_coding(request: &Request) -> Option<CompressionAlgo> {
    let codings: Vec<String> = request
        .headers()
        .get_all(poem::http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next()?.trim().to_ascii_lowercase();
            let refused = parts.any(|parameter| {
                parameter
                    .trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (!refused).then_some(name)
        })
        .collect();
    if codings.iter().any(|coding| coding == "gzip") {
        Some(CompressionAlgo::GZIP)
    } else if codings.iter().any(|coding| coding == "br") {
        Some(CompressionAlgo::BR)
    } else {
        None
    }
}

/// Text worth compressing: not a stream, a picture or a PDF.
fn is_compressible(response: &Response) -> bool {
    let Some(content_type) = response.content_type() else {
        return false;
    };
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    media_type.starts_with("application/json")
        || media_type == "image/svg+xml"
        || media_type == "application/javascript"
        || (media_type.starts_with("text/") && media_type != "text/event-stream")
}

impl<E: Endpoint> Endpoint for CompressLargeEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let coding = accepted_coding(&req);
        let mut response = self.inner.call(req).await?.into_response();
        if !is_compressible(&response)
            || response
                .headers()
                .contains_key(poem::http::header::CONTENT_ENCODING)
        {
            return Ok(response);
        }
        response.headers_mut().append(
            poem::http::header::VARY,
            HeaderValue::from_static("accept-encoding"),
        );
        let Some(coding) = coding else {
            return Ok(response);
        };
        let body = response.take_body().into_bytes().await?;
        let large = body.len() >= MIN_COMPRESSED_BYTES;
        response.set_body(body);
        if !large {
            return Ok(response);
        }
        Ok(poem::web::Compress::new(response, coding)
            .with_quality(CompressionLevel::Fastest)
            .into_response())
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
            return Ok(
                super::error::ApiFailure::unavailable(ErrorReason::Overloaded, 1).into_response(),
            );
        };
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}
