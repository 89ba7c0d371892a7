//! Ticket tokens signed with Ed25519, checked with the public key alone.
//!
//! A token is `<claims>.<signature>`, both base64url without padding: the claims are the JSON
//! `{"v":1,"c":"BKG-7K2QX","e":4,"s":["C4","C5"],"t":1798890000}` (version, booking code, event
//! id, seat labels, the Unix second the ticket was issued), and the signature is Ed25519 over the
//! first part's ASCII bytes as they appear in the token. A two-seat ticket is about 170
//! characters: a QR code a phone reads from a screen.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::DateTime;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use application::ports::{TicketSigner, TicketTokenError};
use domain::booking::BookingCode;
use domain::event::EventId;
use domain::ticket::TicketClaims;

/// The version of the claims' layout.
const VERSION: u8 = 1;

/// The bytes of a signing key's seed.
pub const SIGNING_KEY_BYTES: usize = 32;

#[derive(Serialize, Deserialize)]
struct Claims {
    v: u8,
    c: String,
    e: i64,
    s: Vec<String>,
    t: i64,
}

/// Signs and checks tickets with one Ed25519 key.
pub struct Ed25519Tickets {
    key: SigningKey,
}

impl Ed25519Tickets {
    /// The signer of the key whose seed is `seed` (`TICKET_SIGNING_KEY`).
    pub fn new(seed: &[u8; SIGNING_KEY_BYTES]) -> Self {
        Ed25519Tickets {
            key: SigningKey::from_bytes(seed),
        }
    }

    /// A signer with a key of its own, good until the process ends.
    pub fn random() -> Self {
        let seed: [u8; SIGNING_KEY_BYTES] = rand::random();
        Ed25519Tickets::new(&seed)
    }
}

impl TicketSigner for Ed25519Tickets {
    fn sign(&self, claims: &TicketClaims) -> String {
        let json = serde_json::to_vec(&Claims {
            v: VERSION,
            c: claims.code.to_string(),
            e: claims.event.0,
            s: claims.seats.clone(),
            t: claims.issued_at.timestamp(),
        })
        .unwrap_or_default();
        let signed = URL_SAFE_NO_PAD.encode(json);
        let signature = self.key.sign(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    fn verify(&self, token: &str) -> Result<TicketClaims, TicketTokenError> {
        verify_with(&self.key.verifying_key(), token)
    }

    fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }
}

/// The claims of `token` if `key` signed it, unaltered: what a scanner does with the public key.
pub fn verify_with(key: &VerifyingKey, token: &str) -> Result<TicketClaims, TicketTokenError> {
    let (signed, signature) = token
        .trim()
        .split_once('.')
        .ok_or(TicketTokenError::Malformed)?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(TicketTokenError::Malformed)?;
    key.verify(signed.as_bytes(), &Signature::from_bytes(&signature))
        .map_err(|_| TicketTokenError::BadSignature)?;
    let claims: Claims = URL_SAFE_NO_PAD
        .decode(signed)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(TicketTokenError::Malformed)?;
    if claims.v != VERSION {
        return Err(TicketTokenError::Malformed);
    }
    Ok(TicketClaims {
        code: BookingCode::parse(&claims.c).map_err(|_| TicketTokenError::Malformed)?,
        event: EventId(claims.e),
        seats: claims.s,
        issued_at: DateTime::from_timestamp(claims.t, 0).ok_or(TicketTokenError::Malformed)?,
    })
}

/// Pixels a module of a PNG QR code takes on each side.
const PNG_MODULE_PIXELS: usize = 8;
/// The light margin around a QR code, in modules, that readers need.
pub(crate) const QUIET_ZONE_MODULES: usize = 4;

/// The QR code of a ticket token. Error correction level Q: a reader recovers it with about a
/// quarter of the code unreadable (a cracked screen, a smudge).
pub(crate) fn qr_code(token: &str) -> Option<qrcode::QrCode> {
    qrcode::QrCode::with_error_correction_level(token.as_bytes(), qrcode::EcLevel::Q).ok()
}

/// The ticket's QR code as SVG text; `None` only for a token too long for any QR code.
pub fn qr_svg(token: &str) -> Option<Vec<u8>> {
    let code = qr_code(token)?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(320, 320)
        .quiet_zone(true)
        .build();
    Some(svg.into_bytes())
}

/// The ticket's QR code as a greyscale PNG, 8 pixels a module with the quiet zone around it.
pub fn qr_png(token: &str) -> Option<Vec<u8>> {
    let code = qr_code(token)?;
    let modules = code.width();
    let side_modules = modules + 2 * QUIET_ZONE_MODULES;
    let side = side_modules * PNG_MODULE_PIXELS;
    let colors = code.to_colors();
    let mut pixels = vec![255u8; side * side];
    for (index, color) in colors.iter().enumerate() {
        if *color != qrcode::Color::Dark {
            continue;
        }
        let (x, y) = (index % modules, index / modules);
        for dy in 0..PNG_MODULE_PIXELS {
            let row = (y + QUIET_ZONE_MODULES) * PNG_MODULE_PIXELS + dy;
            let start = row * side + (x + QUIET_ZONE_MODULES) * PNG_MODULE_PIXELS;
            pixels[start..start + PNG_MODULE_PIXELS].fill(0);
        }
    }
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().ok()?;
    writer.write_image_data(&pixels).ok()?;
    writer.finish().ok()?;
    Some(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> TicketClaims {
        TicketClaims {
            code: BookingCode::parse("BKG-7K2QX").unwrap(),
            event: EventId(4),
            seats: vec!["C4".into(), "C5".into()],
            issued_at: DateTime::from_timestamp(1_798_890_000, 0).unwrap(),
        }
    }

    #[test]
    fn a_token_is_short_stable_and_verifies_with_the_public_key_alone() {
        let tickets = Ed25519Tickets::new(&[7; 32]);
        let token = tickets.sign(&claims());
        assert_eq!(token, tickets.sign(&claims()), "the same ticket each time");
        assert!(token.len() < 200, "{} characters: {token}", token.len());
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        let public = VerifyingKey::from_bytes(&tickets.public_key()).unwrap();
        assert_eq!(verify_with(&public, &token), Ok(claims()));
        assert_eq!(tickets.verify(&token), Ok(claims()));
    }

    #[test]
    fn an_altered_token_or_another_key_is_refused() {
        let tickets = Ed25519Tickets::new(&[7; 32]);
        let token = tickets.sign(&claims());
        let mut flipped = token.clone().into_bytes();
        flipped[10] ^= 0x01;
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(tickets.verify(&flipped).is_err());
        let other = Ed25519Tickets::new(&[8; 32]);
        assert_eq!(other.verify(&token), Err(TicketTokenError::BadSignature));
        assert_eq!(tickets.verify("nonsense"), Err(TicketTokenError::Malformed));
        assert_eq!(tickets.verify(""), Err(TicketTokenError::Malformed));
    }
}
