//! The error shape for answers that the HTTP/1.1 parser gives on its own.
//!
//! A request whose request line or headers cannot be parsed (a space or a raw non-ASCII byte in
//! the path, a header name with a space, headers too large) never reaches the app: hyper answers
//! it itself, with an empty body, and closes the connection. [`ProtocolErrorBodies`] wraps a
//! connection's socket and gives those answers the body every other error has. They are told
//! apart by what every answer of the app carries and theirs do not: an `X-Request-Id`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use poem::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::{ApiFailure, ErrorReason};
use super::language::Localized;
use super::middleware::SECURITY_HEADERS;

/// A socket whose parser-made error answers get the error shape.
pub struct ProtocolErrorBodies<T> {
    inner: T,
    /// A rewritten answer being written: its bytes, how many are written, and the length of
    /// the answer it replaces (reported as written once all of it is).
    rewriting: Option<(Vec<u8>, usize, usize)>,
}

impl<T> ProtocolErrorBodies<T> {
    pub fn new(inner: T) -> Self {
        ProtocolErrorBodies {
            inner,
            rewriting: None,
        }
    }
}

/// The answer to send instead of `written`, when `written` is a whole parser-made error answer.
fn rewrite(written: &[u8]) -> Option<Vec<u8>> {
    let head_end = written
        .windows(4)
        .position(|window| window == b"\r\n\r\n")?;
    if head_end + 4 != written.len() {
        return None;
    }
    let head = std::str::from_utf8(&written[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    let status = StatusCode::from_u16(status).ok()?;
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let headers: Vec<&str> = lines.collect();
    let has = |name: &str| {
        headers.iter().any(|line| {
            line.split_once(':')
                .is_some_and(|(key, _)| key.trim().eq_ignore_ascii_case(name))
        })
    };
    let empty = headers.iter().any(|line| {
        line.split_once(':').is_some_and(|(key, value)| {
            key.trim().eq_ignore_ascii_case("content-length") && value.trim() == "0"
        })
    });
    if has("x-request-id") || !empty {
        return None;
    }
    let message = match status {
        StatusCode::BAD_REQUEST => {
            "The request is not valid HTTP: its request line or a header is malformed"
        }
        StatusCode::URI_TOO_LONG => "The request's URL is too long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "The request's headers are too large",
        StatusCode::HTTP_VERSION_NOT_SUPPORTED => "Only HTTP/1.1 is spoken here",
        _ => "The request could not be read",
    };
    let reason = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ErrorReason::PayloadTooLarge,
        status if status.is_server_error() => ErrorReason::InternalError,
        _ => ErrorReason::MalformedRequest,
    };
    // Nothing of the request was read, so it is told in English.
    let failure = ApiFailure::new(status, reason, Localized::new(message, message));
    let body = serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(&failure.body)).ok()?;
    let mut answer = Vec::with_capacity(written.len() + body.len() + 256);
    answer.extend_from_slice(status_line.as_bytes());
    answer.extend_from_slice(b"\r\n");
    for line in headers.iter().filter(|line| {
        !line
            .split_once(':')
            .is_some_and(|(key, _)| key.trim().eq_ignore_ascii_case("content-length"))
    }) {
        answer.extend_from_slice(line.as_bytes());
        answer.extend_from_slice(b"\r\n");
    }
    for (name, value) in SECURITY_HEADERS {
        answer.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    answer.extend_from_slice(
        format!(
            "content-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    answer.extend_from_slice(&body);
    Some(answer)
}

impl<T: AsyncRead + Unpin> AsyncRead for ProtocolErrorBodies<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProtocolErrorBodies<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.rewriting.is_none() && buf.starts_with(b"HTTP/1.1 ") {
            if let Some(answer) = rewrite(buf) {
                this.rewriting = Some((answer, 0, buf.len()));
            }
        }
        let Some((answer, written, replaced)) = &mut this.rewriting else {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        };
        while *written < answer.len() {
            match Pin::new(&mut this.inner).poll_write(cx, &answer[*written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(count)) => *written += count,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            }
        }
        let replaced = *replaced;
        this.rewriting = None;
        Poll::Ready(Ok(replaced))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    /// Vectored, so that bodies are written from their own buffers rather than copied into the
    /// parser's (a stream's frames are shared by every stream that sends them). An answer's head
    /// comes whole in the first buffer, and a parser-made answer is its head alone: such a write
    /// goes through `poll_write`, where it is rewritten.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut written = bufs.iter().filter(|buf| !buf.is_empty());
        let (first, more) = (written.next(), written.next().is_some());
        let head_alone = first.filter(|first| !more && first.starts_with(b"HTTP/1.1 "));
        match (head_alone, self.rewriting.is_some()) {
            (Some(head), _) => self.poll_write(cx, head),
            (None, true) => self.poll_write(cx, first.map_or(&[][..], |first| &first[..])),
            (None, false) => Pin::new(&mut self.inner).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parser_made_error_gets_the_error_shape() {
        let written =
            b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Fri, 04 Dec 2026 20:35:08 GMT\r\n\r\n";
        let answer = String::from_utf8(rewrite(written).unwrap()).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(head.contains("connection: close"));
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["code"], 400);
        assert_eq!(body["status"], "error");
    }

    #[test]
    fn the_apps_own_answers_pass_unchanged() {
        let app_answer =
            b"HTTP/1.1 404 Not Found\r\nx-request-id: abc\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(rewrite(app_answer), None);
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(rewrite(with_body), None);
        let success = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(rewrite(success), None);
    }
}
