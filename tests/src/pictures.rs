//! Pictures for the tests: a real tiny PNG, posters of any size, and `data:` URLs of them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// A real 1×1 PNG, as an organiser's browser would upload it.
pub const TINY_PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

/// The bytes of [`TINY_PNG_BASE64`].
pub fn tiny_png() -> Vec<u8> {
    STANDARD.decode(TINY_PNG_BASE64).expect("valid base64")
}

/// `bytes` as a `data:` URL of `media_type`.
pub fn data_url(media_type: &str, bytes: &[u8]) -> String {
    format!("data:{media_type};base64,{}", STANDARD.encode(bytes))
}

/// A PNG's signature followed by `mark`s: a different picture for each mark.
pub fn png(mark: u8) -> Vec<u8> {
    poster(48, mark)
}

/// A PNG of `size` bytes (its signature, then `mark`s).
pub fn poster(size: usize, mark: u8) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.resize(size.max(bytes.len()), mark);
    bytes
}

/// A real JPEG's first bytes.
pub fn jpeg() -> Vec<u8> {
    vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01,
    ]
}
