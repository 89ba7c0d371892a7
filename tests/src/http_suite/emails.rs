//! E-mail to buyers through a real SMTP conversation with a server on loopback: the payment's
//! confirmation with the e-ticket attached, the refund, each once, each recognisable by its
//! `Message-ID`; nothing queued when no SMTP server is configured.

use chrono::Duration;
use serde_json::json;

use crate::http_harness::{code, id, AppFactory};
use crate::smtp_receiver::SmtpReceiver;

const MAIL_FROM: &str = "WarTawa Tiket <tiket@wartawa.example>";

/// A header value with its RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) decoded.
fn decoded(value: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("=?") {
        out.push_str(&rest[..start]);
        let word = &rest[start + 2..];
        let parts: Vec<&str> = word.splitn(3, '?').collect();
        let Some(end) = parts.get(2).and_then(|text| text.find("?=")) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let text = &parts[2][..end];
        let bytes = if parts[1].eq_ignore_ascii_case("b") {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap_or_default()
        } else {
            let mut bytes = Vec::new();
            let mut chars = text.bytes();
            while let Some(byte) = chars.next() {
                match byte {
                    b'_' => bytes.push(b' '),
                    b'=' => {
                        let hex: Vec<u8> = chars.by_ref().take(2).collect();
                        let hex = String::from_utf8_lossy(&hex).into_owned();
                        bytes.push(u8::from_str_radix(&hex, 16).unwrap_or(b'?'));
                    }
                    other => bytes.push(other),
                }
            }
            bytes
        };
        out.push_str(&String::from_utf8_lossy(&bytes));
        rest = &parts[2][end + 2..];
        // Whitespace between two encoded words is not part of the text.
        if rest.trim_start().starts_with("=?") {
            rest = rest.trim_start();
        }
    }
    out.push_str(rest);
    out
}

/// Paying a booking e-mails its buyer (the SMTP server refusing the first try, the message
/// arrives on the next), with plain text, HTML and the PDF ticket; cancelling it tells of the
/// refund; holds, refused payments and check-ins send nothing.
pub async fn paying_emails_the_buyer_once_with_the_ticket(factory: AppFactory) {
    let smtp = SmtpReceiver::start(1).await;
    let url = smtp.url();
    let app = factory
        .app_with(&[("SMTP_URL", url.as_str()), ("MAIL_FROM", MAIL_FROM)])
        .await;
    let event = app
        .event_on_sale("Malam Minggu Ketawa — Édisi Spesial", 150_000, 20)
        .await;
    let (buyer_id, buyer) = app.customer("José Ramos Suástika").await;
    let email = app
        .get(&format!("/api/users/{buyer_id}"), Some(&buyer))
        .await
        .expect(200)["email"]
        .as_str()
        .expect("an email")
        .to_string();
    let booking = app.book(&buyer, id(&event), &["A1", "A2"]).await;
    app.post(
        &format!("/api/bookings/{}/pay", code(&booking)),
        Some(&buyer),
        &json!({"amount": 1000, "method": "Cash"}),
    )
    .await
    .expect_error(400);
    assert_eq!(
        app.deliver_notifications().await,
        0,
        "a hold or a refusal sends nothing"
    );

    app.pay(&buyer, &booking).await;
    assert_eq!(app.deliver_notifications().await, 1);
    assert_eq!(smtp.refused(), 1, "the server's first answer was 451");
    assert!(smtp.accepted().is_empty());
    assert_eq!(
        app.deliver_notifications().await,
        0,
        "not before its backoff"
    );
    app.advance(Duration::seconds(11));
    assert_eq!(app.deliver_notifications().await, 1);
    let mails = smtp.accepted();
    assert_eq!(mails.len(), 1);
    let paid = &mails[0];
    assert!(
        paid.to.iter().any(|to| to.contains(&email)),
        "{:?}",
        paid.to
    );
    assert!(paid.from.contains("tiket@wartawa.example"), "{}", paid.from);
    let subject = decoded(&paid.header("Subject").expect("a subject"));
    assert!(subject.contains(&code(&booking)), "{subject}");
    assert!(
        subject.contains("Malam Minggu Ketawa — Édisi Spesial"),
        "{subject}"
    );
    let to = decoded(&paid.header("To").expect("a To header"));
    assert!(
        to.contains("José Ramos Suástika"),
        "the buyer's name as given: {to}"
    );
    let message_id = paid.header("Message-ID").expect("a Message-ID");
    assert!(
        message_id.starts_with("<notification-")
            && message_id.ends_with(&format!(".{}@wartawa.example>", code(&booking))),
        "{message_id}"
    );
    for part in [
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/pdf",
    ] {
        assert!(paid.data.contains(part), "no {part} in:\n{}", paid.data);
    }
    assert!(
        paid.data.contains(&format!("{}.pdf", code(&booking))),
        "the ticket is attached by its code"
    );

    // Checking in tells the buyer nothing; cancelling tells of the refund.
    let admin = app.admin_token().await;
    app.check_in(&admin, &booking).await.expect(200);
    assert_eq!(app.deliver_notifications().await, 0);
    let other = app.book(&buyer, id(&event), &["A3"]).await;
    app.cancel(&buyer, &other).await.expect(200);
    assert_eq!(app.deliver_notifications().await, 1);
    let mails = smtp.accepted();
    assert_eq!(mails.len(), 2);
    let cancelled = &mails[1];
    assert!(decoded(&cancelled.header("Subject").unwrap_or_default()).contains(&code(&other)));
    assert_ne!(cancelled.header("Message-ID"), Some(message_id));
    assert!(
        !cancelled.data.contains("application/pdf"),
        "no ticket for a cancellation"
    );
    assert_eq!(app.deliver_notifications().await, 0, "each once");

    // The organiser cancels a show: its paid buyer is told the show is off and the money back.
    let doomed = app.event_on_sale("Batal Tayang", 100_000, 10).await;
    let refunded = app.paid_booking(&buyer, id(&doomed), &["A1"]).await;
    assert_eq!(app.deliver_notifications().await, 1, "its confirmation");
    app.put(
        &format!("/api/events/{}", id(&doomed)),
        Some(&admin),
        &json!({"status": "cancelled"}),
    )
    .await
    .expect(200);
    assert_eq!(
        app.deliver_notifications().await,
        1,
        "the refund; a show is not e-mailed itself"
    );
    let mails = smtp.accepted();
    let refund = mails.last().expect("the refund's e-mail");
    let subject = decoded(&refund.header("Subject").unwrap_or_default());
    assert!(
        subject.contains(&code(&refunded)) && subject.contains("refunded"),
        "{subject}"
    );
    assert!(
        refund
            .data
            .replace("=\r\n", "")
            .contains("cancelled the show"),
        "the message says the show is off:\n{}",
        refund.data
    );

    // Admins see what was sent.
    let sent = app.get("/api/emails", Some(&admin)).await;
    assert_eq!(sent.total_count(), 4);
    let sent = sent.expect(200);
    assert_eq!(sent[0]["event_type"], "booking.refunded");
    assert_eq!(sent[0]["status"], "delivered");
    assert_eq!(sent[3]["event_type"], "booking.paid");
    assert_eq!(sent[3]["attempts"], 2, "refused once, then accepted");
    assert_eq!(sent[3]["last_outcome"], "SMTP 250");
    let parked = app.get("/api/emails?status=parked", Some(&admin)).await;
    assert_eq!(parked.total_count(), 0);
    app.get("/api/emails?status=lost", Some(&admin))
        .await
        .expect_error(400);
    app.get("/api/emails", Some(&buyer)).await.expect_error(403);
}

/// An e-mail the SMTP server refuses for a whole day is parked, and listed for admins as such.
pub async fn an_email_refused_for_a_day_is_parked_for_admins_to_see(factory: AppFactory) {
    let smtp = SmtpReceiver::start(usize::MAX).await;
    let url = smtp.url();
    let app = factory
        .app_with(&[("SMTP_URL", url.as_str()), ("MAIL_FROM", MAIL_FROM)])
        .await;
    let event = app.event_on_sale("Surel Ditolak", 100_000, 10).await;
    let (_, buyer) = app.customer("Budi Santoso").await;
    let paid = app.paid_booking(&buyer, id(&event), &["A1"]).await;
    assert_eq!(app.deliver_notifications().await, 1);
    app.advance(Duration::hours(25));
    assert_eq!(app.deliver_notifications().await, 1, "the last attempt");
    app.advance(Duration::hours(2));
    assert_eq!(app.deliver_notifications().await, 0, "parked");
    assert!(smtp.accepted().is_empty());
    let admin = app.admin_token().await;
    let parked = app.get("/api/emails?status=parked", Some(&admin)).await;
    assert_eq!(parked.total_count(), 1);
    let parked = parked.expect(200);
    assert_eq!(parked[0]["booking_code"], code(&paid));
    assert_eq!(parked[0]["attempts"], 2);
    assert!(parked[0]["next_attempt_at"].is_null());
    assert!(
        parked[0]["last_outcome"]
            .as_str()
            .is_some_and(|outcome| outcome.contains("451")),
        "{parked}"
    );
}

/// Without `SMTP_URL` nothing is queued for buyers, and nothing is sent.
pub async fn without_an_smtp_server_nothing_is_queued_for_buyers(factory: AppFactory) {
    let app = factory.app().await;
    let event = app.event_on_sale("Tanpa Surel", 100_000, 10).await;
    let (_, buyer) = app.customer("Budi Santoso").await;
    app.paid_booking(&buyer, id(&event), &["A1"]).await;
    assert_eq!(app.deliver_notifications().await, 0);
}
