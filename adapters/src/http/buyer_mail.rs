//! E-mail to buyers over SMTP: the confirmation of a payment (with the printable e-ticket
//! attached), and the word that a booking was cancelled or refunded. Plain text and HTML, in the
//! server's default language, times at the venue's offset; each message's `Message-ID` is made of
//! its notification, so that a redelivery is recognisable as the same message.

use std::sync::Arc;
use std::time::Duration;

use chrono::FixedOffset;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use application::ports::TicketSigner;
use application::views::BookingDetails;
use domain::notification::NoticeKind;
use domain::ticket::TicketClaims;
use domain::user::User;

use super::language::{Language, Localized};
use super::ticket_page::{rupiah, ticket_page};

/// How long the SMTP server has for one message.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// Where and as whom buyers are written to.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    language: Language,
    venue_offset: FixedOffset,
    doors_open_before: chrono::Duration,
    tickets: Arc<dyn TicketSigner>,
}

/// Why `SMTP_URL` or `MAIL_FROM` cannot be used.
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map(|_| ())
        .map_err(|error| {
            format!("is not an SMTP URL (smtp://host:port, smtps://user:password@host): {error}")
        })
}

pub fn check_mail_from(from: &str) -> Result<Mailbox, String> {
    from.parse::<Mailbox>().map_err(|error| {
        format!("is not an address such as \"WarTawa <tickets@example.com>\": {error}")
    })
}

impl Mailer {
    pub fn new(
        smtp_url: &str,
        from: &str,
        language: Language,
        venue_offset: FixedOffset,
        doors_open_before: chrono::Duration,
        tickets: Arc<dyn TicketSigner>,
    ) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|error| format!("SMTP_URL {}", error))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Mailer {
            transport,
            from: check_mail_from(from)?,
            language,
            venue_offset,
            doors_open_before,
            tickets,
        })
    }

    /// The message telling `buyer` of `kind` about their booking, known to receivers as
    /// `notification_id`; `show_cancelled` when the organiser cancelled the show.
    pub fn message(
        &self,
        notification_id: i64,
        kind: NoticeKind,
        details: &BookingDetails,
        buyer: &User,
        show_cancelled: bool,
    ) -> Result<Message, String> {
        let booking = &details.booking;
        let say = |english: String, indonesian: String| {
            Localized::new(english, indonesian)
                .in_language(self.language)
                .to_string()
        };
        let show = &details.event.name;
        let code = &booking.code;
        let (subject, lead) = match kind {
            NoticeKind::BookingPaid => (
                say(
                    format!("Your tickets for {show}: {code}"),
                    format!("Tiket Anda untuk {show}: {code}"),
                ),
                say(
                    "Thank you: your payment is in and your seats are yours. Your e-ticket is \
                     attached; show it at the door."
                        .into(),
                    "Terima kasih: pembayaran Anda sudah kami terima dan kursi Anda terjamin. \
                     E-tiket Anda terlampir; tunjukkan di pintu masuk."
                        .into(),
                ),
            ),
            NoticeKind::BookingRefunded => (
                say(
                    format!("Booking {code} for {show} cancelled and refunded"),
                    format!("Pemesanan {code} untuk {show} dibatalkan dan dikembalikan"),
                ),
                say(
                    format!(
                        "{}Your booking was cancelled and its payment of {} refunded.",
                        if show_cancelled {
                            "The organiser has cancelled the show. "
                        } else {
                            ""
                        },
                        rupiah(booking.total_price)
                    ),
                    format!(
                        "{}Pemesanan Anda dibatalkan dan pembayarannya sebesar {} dikembalikan.",
                        if show_cancelled {
                            "Penyelenggara telah membatalkan acara ini. "
                        } else {
                            ""
                        },
                        rupiah(booking.total_price)
                    ),
                ),
            ),
            NoticeKind::BookingCancelled => (
                say(
                    format!("Booking {code} for {show} cancelled"),
                    format!("Pemesanan {code} untuk {show} dibatalkan"),
                ),
                say(
                    format!(
                        "{}Your unpaid booking was cancelled and its seats released.",
                        if show_cancelled {
                            "The organiser has cancelled the show. "
                        } else {
                            ""
                        }
                    ),
                    format!(
                        "{}Pemesanan Anda yang belum dibayar dibatalkan dan kursinya dilepas.",
                        if show_cancelled {
                            "Penyelenggara telah membatalkan acara ini. "
                        } else {
                            ""
                        }
                    ),
                ),
            ),
            other => return Err(format!("{} is not e-mailed", other.as_str())),
        };
        let token = TicketClaims::of(booking)
            .filter(|_| kind == NoticeKind::BookingPaid)
            .map(|claims| self.tickets.sign(&claims));
        let page = ticket_page(
            details,
            token.clone().unwrap_or_default(),
            self.venue_offset,
            self.doors_open_before,
            self.language,
        );
        let greeting = say(
            format!("Hello {},", buyer.name.as_str()),
            format!("Halo {},", buyer.name.as_str()),
        );
        let code_label = say("Booking code".into(), "Kode pemesanan".into());
        let mut text = format!("{greeting}\n\n{lead}\n\n{show}\n{}\n", page.venue);
        let mut rows = String::new();
        for (label, value) in &page.facts {
            text.push_str(&format!("{label}: {value}\n"));
            rows.push_str(&format!(
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
                escape(label),
                escape(value)
            ));
        }
        text.push_str(&format!("{code_label}: {code}\n"));
        let html = format!(
            "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body><p>{greeting}</p><p>{lead}</p><h1>{show}</h1><p>{venue}</p><table>{rows}\
             <tr><th align=\"left\">{code_label}</th><td><strong>{code}</strong></td></tr></table></body></html>",
            lang = self.language.tag(),
            title = escape(&subject),
            greeting = escape(&greeting),
            lead = escape(&lead),
            show = escape(show),
            venue = escape(&page.venue),
            code_label = escape(&code_label),
        );
        let to = Mailbox::new(
            Some(buyer.name.as_str().to_string()),
            buyer
                .email
                .as_str()
                .parse()
                .map_err(|error| format!("the buyer's address: {error}"))?,
        );
        let domain = self.from.email.domain().to_string();
        let body = MultiPart::alternative_plain_html(text, html);
        let body = match token {
            Some(_) => {
                let pdf =
                    crate::ticket_pdf::ticket_pdf(&page).map_err(|error| error.to_string())?;
                MultiPart::mixed().multipart(body).singlepart(
                    Attachment::new(format!("{code}.pdf")).body(
                        pdf,
                        ContentType::parse("application/pdf").expect("a media type"),
                    ),
                )
            }
            None => body,
        };
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!(
                "<notification-{notification_id}.{code}@{domain}>"
            )))
            .multipart(body)
            .map_err(|error| error.to_string())
    }

    /// Hands `message` to the SMTP server: `Ok` with its answer, `Err` with why it failed.
    pub async fn send(&self, message: Message) -> Result<String, String> {
        self.transport
            .send(message)
            .await
            .map(|answer| format!("SMTP {}", answer.code()))
            .map_err(|error| format!("SMTP: {error}"))
    }
}

/// Text made safe to put in HTML.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}
