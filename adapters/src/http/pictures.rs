//! Event pictures over HTTP: the absolute address every answer gives an uploaded picture, and the
//! answer of `GET /api/events/{id}/image` with its caching headers.
//!
//! An uploaded picture is served from `/api/events/{id}/image?v=<short digest>`. The web app runs
//! on another origin than the API, so the address is absolute: built on `PUBLIC_BASE_URL` when it
//! is set, otherwise on the request's own scheme and `Host`, and relative when the `Host` is
//! missing or not a plain host and port. The version in the address changes with the picture, so
//! an answer to the current version may be kept for a year; any other address briefly.

use poem::http::{header, StatusCode};
use poem::{IntoResponse, Request, Response};
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;

use application::views::ImageFile;
use domain::event::EventId;
use domain::image::{EventImage, ImageDigest, ImageMediaType};

/// For an address with the picture's current version: it never changes.
const CACHE_CURRENT_VERSION: &str = "public, max-age=31536000, immutable";
/// For any other address: the picture may change at any time.
const CACHE_OTHER_ADDRESS: &str = "public, max-age=300";
/// The longest `Host` taken for links: a DNS name and a port.
const MAX_HOST_BYTES: usize = 255;

/// Where pictures' addresses start: the configured public base URL, or each request's own.
#[derive(Debug, Clone, Default)]
pub struct PictureLinks {
    /// `PUBLIC_BASE_URL`, checked by the configuration: `http(s)://host[:port][/path]`.
    public_base_url: Option<String>,
}

impl PictureLinks {
    pub fn new(public_base_url: Option<&str>) -> PictureLinks {
        PictureLinks {
            public_base_url: public_base_url.map(|url| url.trim_end_matches('/').to_string()),
        }
    }

    /// The base of the addresses in what is sent outside any request (webhooks): the configured
    /// public address, or none (the addresses then start at the path).
    pub fn base_without_request(&self) -> LinkBase {
        LinkBase(self.public_base_url.clone().unwrap_or_default())
    }

    /// The base of the addresses in the answer to `request`.
    pub fn base_for(&self, request: &Request) -> LinkBase {
        if let Some(base) = &self.public_base_url {
            return LinkBase(base.clone());
        }
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
            // HTTP/2 names the host in the request line (`:authority`), not in a header.
            .or_else(|| request.uri().authority().map(|a| a.as_str().to_string()));
        let scheme = match request.scheme().as_str() {
            "https" => "https",
            _ => "http",
        };
        match host.as_deref().and_then(plain_host_and_port) {
            Some(host) => LinkBase(format!("{scheme}://{host}")),
            None => LinkBase(String::new()),
        }
    }
}

/// The start of absolute addresses (`https://api.wartawa.id`), or nothing for relative ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkBase(String);

impl LinkBase {
    /// What `image_url` says for a picture: a link as it was given; an uploaded picture's own
    /// address, with its version. Never the picture itself.
    pub fn image_url(&self, event: EventId, image: &EventImage) -> String {
        match image {
            EventImage::Link(url) => url.clone(),
            EventImage::Uploaded { digest, .. } => {
                format!("{}{}?v={}", self.0, image_path(event), digest.short())
            }
        }
    }
}

fn image_path(event: EventId) -> String {
    format!("/api/events/{event}/image")
}

/// `host[:port]` in lowercase when `value` is exactly that: a DNS name or IPv4 address, or an
/// IPv6 address in brackets, and a port of 1 to 65535. Anything else (a path, credentials,
/// quotes, spaces) is refused, so that it can never end up in a link.
fn plain_host_and_port(value: &str) -> Option<String> {
    if value.is_empty() || value.len() > MAX_HOST_BYTES {
        return None;
    }
    let (host, port) = if value.starts_with('[') {
        let end = value.find(']')?;
        let inside = &value[1..end];
        let ipv6 = !inside.is_empty()
            && inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        if !ipv6 {
            return None;
        }
        (&value[..=end], &value[end + 1..])
    } else {
        let split = value.find(':').unwrap_or(value.len());
        let host = &value[..split];
        // A fully qualified name may end with a dot.
        let name = host
            .strip_suffix('.')
            .unwrap_or(host)
            .split('.')
            .all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !name {
            return None;
        }
        (host, &value[split..])
    };
    if !port.is_empty() {
        let digits = port.strip_prefix(':')?;
        let valid = !digits.is_empty()
            && digits.len() <= 5
            && digits.bytes().all(|b| b.is_ascii_digit())
            && digits.parse::<u16>().is_ok_and(|port| port > 0);
        if !valid {
            return None;
        }
    }
    Some(format!("{}{port}", host.to_ascii_lowercase()))
}

/// Whether `url` is the address of `event`'s own uploaded picture, as answers give it (absolute
/// or relative, any version): an organiser's form sends back the `image_url` it read, and that
/// keeps the picture rather than turning it into a link to itself.
pub fn names_own_picture(url: &str, event: EventId) -> bool {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let path = if url.starts_with('/') && !url.starts_with("//") {
        url
    } else if let Some(scheme_length) = ["https://", "http://"]
        .iter()
        .find(|scheme| lower.starts_with(*scheme))
        .map(|scheme| scheme.len())
    {
        let rest = &url[scheme_length..];
        match rest.find('/') {
            Some(index) => &rest[index..],
            None => return false,
        }
    } else {
        return false;
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.ends_with(&image_path(event))
}

/// The ETag of a version of a picture.
fn etag(digest: &ImageDigest) -> String {
    format!("\"{digest}\"")
}

/// Whether an `If-None-Match` names this ETag (weakly compared, as GET wants) or is `*`.
fn none_match_names(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// The answer of `GET /api/events/{id}/image`.
pub enum PictureResponse {
    /// The picture, as it was uploaded.
    Picture {
        media_type: ImageMediaType,
        bytes: Vec<u8>,
        etag: String,
        cache_control: &'static str,
    },
    /// The copy the client named in `If-None-Match` is the current one.
    NotModified {
        etag: String,
        cache_control: &'static str,
    },
}

impl PictureResponse {
    /// The answer for a request of `file` at `version` (`?v=`) with `if_none_match`.
    pub fn of(file: ImageFile, version: Option<&str>, if_none_match: Option<&str>) -> Self {
        let etag = etag(&file.digest);
        let cache_control = if version == Some(file.digest.short()) {
            CACHE_CURRENT_VERSION
        } else {
            CACHE_OTHER_ADDRESS
        };
        if if_none_match.is_some_and(|tags| none_match_names(tags, &etag)) {
            PictureResponse::NotModified {
                etag,
                cache_control,
            }
        } else {
            PictureResponse::Picture {
                media_type: file.media_type,
                bytes: file.bytes,
                etag,
                cache_control,
            }
        }
    }
}

impl IntoResponse for PictureResponse {
    fn into_response(self) -> Response {
        match self {
            PictureResponse::Picture {
                media_type,
                bytes,
                etag,
                cache_control,
            } => Response::builder()
                .status(StatusCode::OK)
                .content_type(media_type.as_str())
                .header(header::ETAG, etag)
                .header(header::CACHE_CONTROL, cache_control)
                .body(bytes),
            PictureResponse::NotModified {
                etag,
                cache_control,
            } => Response::builder()
                .status(StatusCode::NOT_MODIFIED)
                .header(header::ETAG, etag)
                .header(header::CACHE_CONTROL, cache_control)
                .finish(),
        }
    }
}

/// Documented by hand: the picture's media type is the one it was uploaded with, one of four.
impl ApiResponse for PictureResponse {
    fn meta() -> MetaResponses {
        let headers = || {
            vec![
                MetaHeader {
                    name: "ETag".into(),
                    description: Some(
                        "The picture's version: its SHA-256 in hex, quoted; send it back in \
                         `If-None-Match`."
                            .into(),
                    ),
                    required: true,
                    deprecated: false,
                    schema: String::schema_ref(),
                },
                MetaHeader {
                    name: "Cache-Control".into(),
                    description: Some(format!(
                        "`{CACHE_CURRENT_VERSION}` when `v` is the picture's current version, \
                         `{CACHE_OTHER_ADDRESS}` otherwise."
                    )),
                    required: true,
                    deprecated: false,
                    schema: String::schema_ref(),
                },
            ]
        };
        let binary = || {
            MetaSchemaRef::Inline(Box::new(MetaSchema {
                format: Some("binary"),
                ..MetaSchema::new("string")
            }))
        };
        MetaResponses {
            responses: vec![
                MetaResponse {
                    description:
                        "The picture, as uploaded, in the media type it was uploaded with.",
                    status: Some(200),
                    status_range: None,
                    content: ImageMediaType::ALL
                        .iter()
                        .map(|media_type| MetaMediaType {
                            content_type: media_type.as_str(),
                            schema: binary(),
                        })
                        .collect(),
                    headers: headers(),
                },
                MetaResponse {
                    description: "The copy named in `If-None-Match` is the current picture.",
                    status: Some(304),
                    status_range: None,
                    content: vec![],
                    headers: headers(),
                },
            ],
        }
    }

    fn register(_registry: &mut Registry) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> ImageDigest {
        ImageDigest::of(b"GIF89a")
    }

    fn request(host: Option<&str>) -> Request {
        let mut builder = Request::builder().uri_str("/api/events");
        if let Some(host) = host {
            builder = builder.header(header::HOST, host);
        }
        builder.finish()
    }

    #[test]
    fn uploaded_pictures_are_linked_absolutely_with_their_version() {
        let uploaded = EventImage::Uploaded {
            media_type: ImageMediaType::Gif,
            digest: digest(),
        };
        let configured = PictureLinks::new(Some("https://api.wartawa.id/"));
        assert_eq!(
            configured
                .base_for(&request(Some("evil.example")))
                .image_url(EventId(7), &uploaded),
            format!(
                "https://api.wartawa.id/api/events/7/image?v={}",
                digest().short()
            ),
            "the configured base wins over the Host"
        );
        let own = PictureLinks::default();
        assert_eq!(
            own.base_for(&request(Some("API.wartawa.test:8080")))
                .image_url(EventId(7), &uploaded),
            format!(
                "http://api.wartawa.test:8080/api/events/7/image?v={}",
                digest().short()
            )
        );
        assert_eq!(
            own.base_for(&request(None))
                .image_url(EventId(7), &uploaded),
            format!("/api/events/7/image?v={}", digest().short()),
            "relative without a Host"
        );
        let link = EventImage::Link("https://cdn.example.com/a.png".into());
        assert_eq!(
            configured
                .base_for(&request(None))
                .image_url(EventId(7), &link),
            "https://cdn.example.com/a.png",
            "a link stays as it was given"
        );
    }

    #[test]
    fn only_a_plain_host_and_port_make_links() {
        for (host, expected) in [
            ("api.wartawa.id", Some("api.wartawa.id")),
            ("localhost:6543", Some("localhost:6543")),
            ("127.0.0.1:80", Some("127.0.0.1:80")),
            ("[::1]:6543", Some("[::1]:6543")),
            ("[2001:db8::1]", Some("[2001:db8::1]")),
            ("example.com.", Some("example.com.")),
            ("", None),
            ("evil.com/x", None),
            ("evil.com\"><script>", None),
            ("user@evil.com", None),
            ("evil.com:0", None),
            ("evil.com:65536", None),
            ("evil.com:", None),
            ("evil.com:80:80", None),
            ("a b.com", None),
            ("-evil.com", None),
            ("evil..com", None),
            (".", None),
            ("[::1", None),
            ("[]", None),
            ("[::1]x", None),
            ("a..", None),
            ("[javascript:alert(1)]", None),
        ] {
            assert_eq!(plain_host_and_port(host).as_deref(), expected, "{host:?}");
        }
        assert_eq!(plain_host_and_port(&"a".repeat(300)), None);
    }

    #[test]
    fn own_picture_addresses_are_recognised_whatever_their_base_and_version() {
        let event = EventId(12);
        for url in [
            "https://api.wartawa.id/api/events/12/image?v=0123456789abcdef",
            "http://localhost:6543/api/events/12/image",
            "https://wartawa.id/backend/api/events/12/image?v=x#top",
            "/api/events/12/image?v=abc",
            "HTTPS://API.WARTAWA.ID/api/events/12/image",
        ] {
            assert!(names_own_picture(url, event), "{url}");
        }
        for url in [
            "https://cdn.example.com/poster.png",
            "https://api.wartawa.id/api/events/112/image",
            "https://api.wartawa.id/api/events/12/image/x",
            "https://api.wartawa.id/api/events/1/image",
            "//evil.com/api/events/12/image",
            "data:image/png;base64,AAAA",
            "https://api.wartawa.id",
        ] {
            assert!(!names_own_picture(url, event), "{url}");
        }
    }

    fn file() -> ImageFile {
        ImageFile {
            media_type: ImageMediaType::Gif,
            digest: digest(),
            bytes: b"GIF89a".to_vec(),
        }
    }

    #[test]
    fn the_current_version_is_cached_for_a_year_and_revalidated_by_etag() {
        let current = digest().short().to_string();
        let PictureResponse::Picture {
            cache_control,
            etag,
            ..
        } = PictureResponse::of(file(), Some(&current), None)
        else {
            panic!("the picture");
        };
        assert_eq!(cache_control, CACHE_CURRENT_VERSION);
        assert_eq!(etag, format!("\"{}\"", digest()));
        for other in [None, Some("0000000000000000"), Some("")] {
            let PictureResponse::Picture { cache_control, .. } =
                PictureResponse::of(file(), other, None)
            else {
                panic!("the picture");
            };
            assert_eq!(cache_control, CACHE_OTHER_ADDRESS, "{other:?}");
        }
        for matching in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
            "*".to_string(),
        ] {
            assert!(
                matches!(
                    PictureResponse::of(file(), None, Some(&matching)),
                    PictureResponse::NotModified { .. }
                ),
                "{matching}"
            );
        }
        assert!(matches!(
            PictureResponse::of(file(), None, Some("\"other\"")),
            PictureResponse::Picture { .. }
        ));
    }
}
