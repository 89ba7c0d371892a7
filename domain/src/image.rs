//! Event pictures: what an organiser may give as `image_url`, what an event shows, and the bytes of
//! an uploaded picture, which are kept apart from the event's descriptive fields.
//!
//! An organiser gives either an http(s) link, shown as it is, or a picture uploaded as a
//! `data:image/…;base64,…` URL. An upload must be a raster picture (PNG, JPEG, GIF or WebP) whose
//! bytes really are the format its media type names: a picture is served from WarTawa's own
//! address, so it must never be something a browser would run (SVG, HTML).

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use sha2::{Digest, Sha256};

/// The largest picture an organiser may upload, counted as the whole `data:` URL.
pub const MAX_IMAGE_DATA_URL_BYTES: usize = 2 * 1024 * 1024;
/// The longest link to a picture elsewhere.
pub const MAX_IMAGE_LINK_BYTES: usize = 2048;

/// Hex digits of the digest that name a version of a picture in its address.
const SHORT_DIGEST_CHARS: usize = 16;

/// Standard base64, as browsers write data URLs; lenient about padding and the unused bits of
/// the last character, which some encoders leave set.
const DATA_URL_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The raster formats an organiser may upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageMediaType {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl ImageMediaType {
    pub const ALL: [ImageMediaType; 4] = [
        ImageMediaType::Png,
        ImageMediaType::Jpeg,
        ImageMediaType::Gif,
        ImageMediaType::Webp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImageMediaType::Png => "image/png",
            ImageMediaType::Jpeg => "image/jpeg",
            ImageMediaType::Gif => "image/gif",
            ImageMediaType::Webp => "image/webp",
        }
    }

    /// One of the four media types, ignoring case.
    pub fn parse(value: &str) -> Option<ImageMediaType> {
        ImageMediaType::ALL
            .into_iter()
            .find(|media_type| media_type.as_str().eq_ignore_ascii_case(value))
    }

    /// The format's name, for people.
    pub fn name(self) -> &'static str {
        match self {
            ImageMediaType::Png => "PNG",
            ImageMediaType::Jpeg => "JPEG",
            ImageMediaType::Gif => "GIF",
            ImageMediaType::Webp => "WebP",
        }
    }

    /// Whether `bytes` begin as a file of this format does (its magic bytes).
    pub fn matches(self, bytes: &[u8]) -> bool {
        match self {
            ImageMediaType::Png => {
                bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A])
            }
            ImageMediaType::Jpeg => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
            ImageMediaType::Gif => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
            ImageMediaType::Webp => {
                bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP"
            }
        }
    }
}

impl fmt::Display for ImageMediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The SHA-256 of a picture's bytes in lowercase hex: names one version of a picture.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageDigest(String);

impl ImageDigest {
    pub fn of(bytes: &[u8]) -> ImageDigest {
        let digest = Sha256::digest(bytes);
        ImageDigest(digest.iter().map(|byte| format!("{byte:02x}")).collect())
    }

    /// A digest as stored: 64 lowercase hex digits.
    pub fn parse(value: &str) -> Result<ImageDigest, String> {
        if value.len() == 64
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(ImageDigest(value.to_string()))
        } else {
            Err(format!("\"{value}\" is not 64 lowercase hex digits"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first hex digits, enough to tell the versions of one event's picture apart.
    pub fn short(&self) -> &str {
        &self.0[..SHORT_DIGEST_CHARS]
    }
}

impl fmt::Display for ImageDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The picture an event shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventImage {
    /// A picture elsewhere, shown by the http(s) address the organiser gave.
    Link(String),
    /// A picture uploaded with the event, stored apart from it and served from its own address;
    /// the digest names the version shown.
    Uploaded {
        media_type: ImageMediaType,
        digest: ImageDigest,
    },
}

/// An uploaded picture's bytes, checked to be the raster format of its media type.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageUpload {
    media_type: ImageMediaType,
    digest: ImageDigest,
    bytes: Vec<u8>,
}

impl ImageUpload {
    /// Checks that `bytes` are a picture of `media_type`, and names them by their digest.
    pub fn new(media_type: ImageMediaType, bytes: Vec<u8>) -> Result<ImageUpload, ImageUrlError> {
        if bytes.is_empty() {
            return Err(ImageUrlError::Empty);
        }
        if !media_type.matches(&bytes) {
            return Err(ImageUrlError::NotTheFormat(media_type));
        }
        Ok(ImageUpload {
            media_type,
            digest: ImageDigest::of(&bytes),
            bytes,
        })
    }

    pub fn media_type(&self) -> ImageMediaType {
        self.media_type
    }

    pub fn digest(&self) -> &ImageDigest {
        &self.digest
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// What an event with this picture shows.
    pub fn shown(&self) -> EventImage {
        EventImage::Uploaded {
            media_type: self.media_type,
            digest: self.digest.clone(),
        }
    }
}

/// Megabytes of bytes are never printed.
impl fmt::Debug for ImageUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageUpload")
            .field("media_type", &self.media_type)
            .field("digest", &self.digest)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// A picture an organiser gives an event, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewImage {
    /// An http(s) link, kept as it was given.
    Link(String),
    Upload(ImageUpload),
}

impl NewImage {
    /// What an event with this picture shows.
    pub fn shown(&self) -> EventImage {
        match self {
            NewImage::Link(url) => EventImage::Link(url.clone()),
            NewImage::Upload(upload) => upload.shown(),
        }
    }
}

/// What a change does to an event's picture.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ImageChange {
    /// The picture stays as it is (its bytes are not read to plan a change).
    #[default]
    Keep,
    /// The event no longer has a picture; an uploaded one is deleted.
    Remove,
    /// A new picture replaces the old one; an uploaded old one is deleted.
    Set(NewImage),
}

impl ImageChange {
    /// What the event shows after the change, given what it showed before.
    pub fn shown_after(&self, before: Option<&EventImage>) -> Option<EventImage> {
        match self {
            ImageChange::Keep => before.cloned(),
            ImageChange::Remove => None,
            ImageChange::Set(image) => Some(image.shown()),
        }
    }
}

/// Why an `image_url` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageUrlError {
    /// Neither an http(s) link nor a `data:` URL.
    Scheme,
    /// A link with characters that could break out of where it is shown.
    UnsafeLink,
    /// A link without a host.
    MalformedLink,
    LinkTooLong,
    /// A `data:` URL of something else than a PNG, JPEG, GIF or WebP picture (SVG among them).
    NotRaster,
    /// A `data:` URL whose data is not base64.
    NotBase64,
    /// A `data:` URL with no picture in it.
    Empty,
    /// A `data:` URL whose bytes are not the format its media type names.
    NotTheFormat(ImageMediaType),
    /// A `data:` URL larger than [`MAX_IMAGE_DATA_URL_BYTES`]: 413, not 400.
    TooLarge,
}

impl fmt::Display for ImageUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageUrlError::Scheme => {
                f.write_str("must be an http(s) URL or a data:image/…;base64 URL")
            }
            ImageUrlError::UnsafeLink => f.write_str(
                "must not contain quotes, angle brackets, backslashes, spaces or control characters",
            ),
            ImageUrlError::MalformedLink => f.write_str("is not a well-formed http(s) URL"),
            ImageUrlError::LinkTooLong => {
                write!(f, "must be at most {MAX_IMAGE_LINK_BYTES} bytes long")
            }
            ImageUrlError::NotRaster => f.write_str(
                "must be a PNG, JPEG, GIF or WebP picture \
                 (data:image/png, image/jpeg, image/gif or image/webp;base64,…)",
            ),
            ImageUrlError::NotBase64 => f.write_str("is not valid base64 after \";base64,\""),
            ImageUrlError::Empty => f.write_str("holds no picture"),
            ImageUrlError::NotTheFormat(media_type) => write!(
                f,
                "is not a {} picture, as its media type {media_type} says",
                media_type.name()
            ),
            ImageUrlError::TooLarge => f.write_str("is larger than the 2 MB allowed for a picture"),
        }
    }
}

/// A picture as an organiser gives it: an http(s) link, or an uploaded raster picture as a
/// `data:image/png|jpeg|gif|webp;base64,…` URL whose bytes are that format.
pub fn parse_image_url(value: &str) -> Result<NewImage, ImageUrlError> {
    let url = value.trim();
    match url.get(..5) {
        Some(scheme) if scheme.eq_ignore_ascii_case("data:") => {
            parse_data_url(&url[5..], url.len())
        }
        _ => parse_link(url).map(NewImage::Link),
    }
}

/// `rest` is what follows `data:`; `length` the whole URL's.
fn parse_data_url(rest: &str, length: usize) -> Result<NewImage, ImageUrlError> {
    let (header, data) = rest.split_once(',').ok_or(ImageUrlError::NotRaster)?;
    let mut parameters = header.split(';');
    let media_type = parameters
        .next()
        .and_then(|media_type| ImageMediaType::parse(media_type.trim()))
        .ok_or(ImageUrlError::NotRaster)?;
    // Only `;base64` may follow the media type, last; a parameter such as `charset` has no place
    // in a picture.
    let is_base64 = matches!(
        (parameters.next(), parameters.next()),
        (Some(encoding), None) if encoding.eq_ignore_ascii_case("base64")
    );
    if !is_base64 {
        return Err(ImageUrlError::NotRaster);
    }
    if length > MAX_IMAGE_DATA_URL_BYTES {
        return Err(ImageUrlError::TooLarge);
    }
    let bytes = DATA_URL_BASE64
        .decode(data)
        .map_err(|_| ImageUrlError::NotBase64)?;
    ImageUpload::new(media_type, bytes).map(NewImage::Upload)
}

fn parse_link(url: &str) -> Result<String, ImageUrlError> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let scheme_length = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return Err(ImageUrlError::Scheme);
    };
    let unsafe_character = |c: char| {
        matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`') || c.is_whitespace() || c.is_control()
    };
    if url.chars().any(unsafe_character) {
        return Err(ImageUrlError::UnsafeLink);
    }
    if url.len() > MAX_IMAGE_LINK_BYTES {
        return Err(ImageUrlError::LinkTooLong);
    }
    let after_scheme = &url[scheme_length..];
    let host = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(ImageUrlError::MalformedLink);
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real 1×1 PNG.
    const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

    fn data_url(media_type: &str, bytes: &[u8]) -> String {
        format!("data:{media_type};base64,{}", DATA_URL_BASE64.encode(bytes))
    }

    #[test]
    fn links_stay_as_they_were_given() {
        for url in [
            "https://cdn.example.com/a.jpg",
            "http://example.com/posters/malam%20komedi.png?w=300#top",
            "HTTPS://Example.com/A.JPG",
            "https://example.com:8443/a.webp",
        ] {
            assert_eq!(
                parse_image_url(url),
                Ok(NewImage::Link(url.to_string())),
                "{url}"
            );
        }
        assert_eq!(
            parse_image_url("  https://example.com/a.png "),
            Ok(NewImage::Link("https://example.com/a.png".into())),
            "trimmed"
        );
    }

    #[test]
    fn links_that_could_break_out_of_markup_are_refused() {
        let cases = [
            (
                "https://example.com/a.png\"onerror=\"alert(1)",
                ImageUrlError::UnsafeLink,
            ),
            ("https://example.com/a.png'x", ImageUrlError::UnsafeLink),
            (
                "https://example.com/<script>.png",
                ImageUrlError::UnsafeLink,
            ),
            ("https://example.com/a>.png", ImageUrlError::UnsafeLink),
            (
                "https://example.com\\@evil.com/a.png",
                ImageUrlError::UnsafeLink,
            ),
            ("https://example.com/a b.png", ImageUrlError::UnsafeLink),
            ("https://example.com/a\tb.png", ImageUrlError::UnsafeLink),
            ("https://example.com/a\u{0}.png", ImageUrlError::UnsafeLink),
            ("https://example.com/a\u{7f}.png", ImageUrlError::UnsafeLink),
            ("https://example.com/a`.png", ImageUrlError::UnsafeLink),
            ("https:///a.png", ImageUrlError::MalformedLink),
            ("https://", ImageUrlError::MalformedLink),
            ("http://:80/a.png", ImageUrlError::MalformedLink),
            ("javascript:alert(1)", ImageUrlError::Scheme),
            ("JavaScript:alert(1)", ImageUrlError::Scheme),
            ("ftp://example.com/a.jpg", ImageUrlError::Scheme),
            ("//example.com/a.jpg", ImageUrlError::Scheme),
            ("/api/events/1/image", ImageUrlError::Scheme),
        ];
        for (url, expected) in cases {
            assert_eq!(parse_image_url(url), Err(expected), "{url:?}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_IMAGE_LINK_BYTES));
        assert_eq!(parse_image_url(&long), Err(ImageUrlError::LinkTooLong));
    }

    #[test]
    fn uploads_are_raster_pictures_of_the_format_they_claim() {
        let NewImage::Upload(png) =
            parse_image_url(&format!("data:image/png;base64,{PNG_1X1}")).unwrap()
        else {
            panic!("an upload");
        };
        assert_eq!(png.media_type(), ImageMediaType::Png);
        assert_eq!(png.bytes(), DATA_URL_BASE64.decode(PNG_1X1).unwrap());
        assert_eq!(png.digest(), &ImageDigest::of(png.bytes()));
        assert_eq!(
            png.shown(),
            EventImage::Uploaded {
                media_type: ImageMediaType::Png,
                digest: ImageDigest::of(png.bytes())
            }
        );

        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];
        let gif = b"GIF89a\x01\x00\x01\x00";
        let webp = b"RIFF\x24\x00\x00\x00WEBPVP8 ";
        for (media_type, bytes) in [
            ("image/jpeg", &jpeg[..]),
            ("IMAGE/JPEG", &jpeg[..]),
            ("image/gif", &b"GIF87a\x01\x00"[..]),
            ("image/gif", &gif[..]),
            ("image/webp", &webp[..]),
        ] {
            let parsed = parse_image_url(&data_url(media_type, bytes));
            assert!(
                matches!(&parsed, Ok(NewImage::Upload(upload)) if upload.bytes() == bytes),
                "{media_type}: {parsed:?}"
            );
        }
        assert!(
            matches!(
                parse_image_url(&format!("DATA:image/png;BASE64,{PNG_1X1}")),
                Ok(NewImage::Upload(_))
            ),
            "scheme and encoding ignore case"
        );
    }

    #[test]
    fn anything_else_in_a_data_url_is_refused() {
        let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>";
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10];
        let cases = [
            (data_url("image/svg+xml", svg), ImageUrlError::NotRaster),
            (
                data_url("text/html", b"<b>hi</b>"),
                ImageUrlError::NotRaster,
            ),
            (
                data_url("image/x-icon", b"\0\0\x01\0"),
                ImageUrlError::NotRaster,
            ),
            (
                format!("data:image/png;charset=utf-8;base64,{PNG_1X1}"),
                ImageUrlError::NotRaster,
            ),
            (
                format!("data:image/png,{PNG_1X1}"),
                ImageUrlError::NotRaster,
            ),
            (
                "data:image/png;base64".to_string(),
                ImageUrlError::NotRaster,
            ),
            (
                data_url("image/png", &jpeg),
                ImageUrlError::NotTheFormat(ImageMediaType::Png),
            ),
            (
                data_url("image/png", b"just some text, no picture"),
                ImageUrlError::NotTheFormat(ImageMediaType::Png),
            ),
            (
                data_url("image/jpeg", svg),
                ImageUrlError::NotTheFormat(ImageMediaType::Jpeg),
            ),
            (
                data_url("image/webp", b"RIFF\0\0\0\0WAVE"),
                ImageUrlError::NotTheFormat(ImageMediaType::Webp),
            ),
            (
                data_url("image/gif", b"GIF88a"),
                ImageUrlError::NotTheFormat(ImageMediaType::Gif),
            ),
            ("data:image/png;base64,".to_string(), ImageUrlError::Empty),
            (
                "data:image/png;base64,iVBO Rw0K".to_string(),
                ImageUrlError::NotBase64,
            ),
            (
                "data:image/png;base64,iVBORw0K\"><script>".to_string(),
                ImageUrlError::NotBase64,
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(parse_image_url(&url), Err(expected), "{url:?}");
        }
    }

    #[test]
    fn uploads_over_two_megabytes_are_too_large_whatever_they_hold() {
        let prefix = "data:image/png;base64,";
        let at_limit = format!(
            "{prefix}{}",
            "A".repeat(MAX_IMAGE_DATA_URL_BYTES - prefix.len())
        );
        assert_ne!(parse_image_url(&at_limit), Err(ImageUrlError::TooLarge));
        let over = format!(
            "{prefix}{}",
            "A".repeat(MAX_IMAGE_DATA_URL_BYTES + 1 - prefix.len())
        );
        assert_eq!(parse_image_url(&over), Err(ImageUrlError::TooLarge));
        let over_svg = format!(
            "data:image/svg+xml;base64,{}",
            "A".repeat(MAX_IMAGE_DATA_URL_BYTES)
        );
        assert_eq!(
            parse_image_url(&over_svg),
            Err(ImageUrlError::NotRaster),
            "what is refused anyway is refused as such"
        );
    }

    #[test]
    fn digests_name_the_bytes() {
        assert_eq!(
            ImageDigest::of(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(ImageDigest::of(b"abc").short(), "ba7816bf8f01cfea");
        assert_eq!(
            ImageDigest::parse("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            Ok(ImageDigest::of(b"abc"))
        );
        assert!(ImageDigest::parse(
            "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"
        )
        .is_err());
        assert!(ImageDigest::parse("ba78").is_err());
    }

    #[test]
    fn a_change_keeps_removes_or_replaces_what_is_shown() {
        let link = EventImage::Link("https://example.com/a.png".into());
        assert_eq!(
            ImageChange::Keep.shown_after(Some(&link)),
            Some(link.clone())
        );
        assert_eq!(ImageChange::Remove.shown_after(Some(&link)), None);
        let upload =
            ImageUpload::new(ImageMediaType::Gif, b"GIF89a\x01\x00\x01\x00".to_vec()).unwrap();
        assert_eq!(
            ImageChange::Set(NewImage::Upload(upload.clone())).shown_after(Some(&link)),
            Some(upload.shown())
        );
    }
}
