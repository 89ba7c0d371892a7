//! WarTawa's adapters: what plugs in behind the application's ports.

mod audit_json;
pub mod auth;
pub mod http;
pub mod memory;
pub mod metrics;
pub mod postgres;
pub mod seat_signals;
pub mod system;
pub mod ticket_pdf;
pub mod tickets;

/// Bytes (a digest, a signature) as lower-case hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
