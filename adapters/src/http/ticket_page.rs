//! What the printable e-ticket says, in the reader's language and the venue's time.

use chrono::{DateTime, Datelike, Duration, FixedOffset};

use application::views::BookingDetails;
use domain::money::Money;

use super::language::{Language, Localized};
use crate::ticket_pdf::TicketPage;

/// The words of the e-ticket of a paid booking whose signed ticket is `token`. Doors open
/// `doors_open_before` the show starts (not shown when zero).
pub fn ticket_page(
    details: &BookingDetails,
    token: String,
    venue_offset: FixedOffset,
    doors_open_before: Duration,
    language: Language,
) -> TicketPage {
    let booking = &details.booking;
    let starts = details.event.date.with_timezone(&venue_offset);
    let say = |english: String, indonesian: String| {
        Localized::new(english, indonesian)
            .in_language(language)
            .to_string()
    };
    let zone = format!("UTC{}", venue_offset);
    let time = if doors_open_before > Duration::zero() {
        let doors = (details.event.date - doors_open_before).with_timezone(&venue_offset);
        say(
            format!(
                "Doors open {}, show starts {} ({zone})",
                clock(doors),
                clock(starts)
            ),
            format!(
                "Pintu dibuka {}, acara mulai {} ({zone})",
                clock(doors),
                clock(starts)
            ),
        )
    } else {
        say(
            format!("Show starts {} ({zone})", clock(starts)),
            format!("Acara mulai {} ({zone})", clock(starts)),
        )
    };
    let tickets = booking.quantity();
    let price = format!(
        "{} · {tickets} × {} = {}",
        booking.ticket_type,
        rupiah(booking.unit_price),
        rupiah(booking.total_price)
    );
    let label = |english: &str, indonesian: &str| say(english.into(), indonesian.into());
    TicketPage {
        title: say(
            format!("E-ticket {} · {}", booking.code, details.event.name),
            format!("E-tiket {} · {}", booking.code, details.event.name),
        ),
        heading: label("E-TICKET", "E-TIKET"),
        show: details.event.name.clone(),
        venue: details.event.venue.clone(),
        facts: vec![
            (label("Date", "Tanggal"), date(starts, language)),
            (label("Time", "Waktu"), time),
            (label("Seats", "Kursi"), booking.seat_labels().join(", ")),
            (label("Guest", "Tamu"), details.customer_name.clone()),
            (label("Ticket", "Tiket"), price),
        ],
        code: booking.code.to_string(),
        token,
        note: say(
            format!(
                "Show this page at the door, printed or on your phone. Its QR code lets the {tickets} \
                 guest(s) of booking {} in once, so keep it to yourself. If the code will not scan, \
                 the door staff can check you in by the booking code.",
                booking.code
            ),
            format!(
                "Tunjukkan halaman ini di pintu masuk, dicetak atau di ponsel Anda. Kode QR-nya \
                 memasukkan {tickets} tamu dari pemesanan {} satu kali, jadi jangan dibagikan. Jika \
                 kodenya tidak terbaca, petugas dapat melakukan check-in dengan kode pemesanan.",
                booking.code
            ),
        ),
        language: language.tag().to_string(),
    }
}

/// `19:30`.
fn clock(at: DateTime<FixedOffset>) -> String {
    at.format("%H:%M").to_string()
}

/// `Sunday, 3 January 2027` or `Minggu, 3 Januari 2027`.
fn date(at: DateTime<FixedOffset>, language: Language) -> String {
    const HARI: [&str; 7] = [
        "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu",
    ];
    const BULAN: [&str; 12] = [
        "Januari",
        "Februari",
        "Maret",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Agustus",
        "September",
        "Oktober",
        "November",
        "Desember",
    ];
    match language {
        Language::English => at.format("%A, %-d %B %Y").to_string(),
        Language::Indonesian => format!(
            "{}, {} {} {}",
            HARI[at.weekday().num_days_from_monday() as usize],
            at.day(),
            BULAN[at.month0() as usize],
            at.year()
        ),
    }
}

/// `Rp 150.000`: rupiah are written with dots between thousands.
pub(super) fn rupiah(amount: Money) -> String {
    let digits = amount.amount().unsigned_abs().to_string();
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(digit);
    }
    let sign = if amount.is_negative() { "-" } else { "" };
    format!("Rp {sign}{grouped}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rupiah_are_grouped_by_thousands() {
        assert_eq!(rupiah(Money::rupiah(0)), "Rp 0");
        assert_eq!(rupiah(Money::rupiah(150_000)), "Rp 150.000");
        assert_eq!(rupiah(Money::rupiah(1_250_000)), "Rp 1.250.000");
    }

    #[test]
    fn dates_are_written_in_the_readers_language() {
        let wib = FixedOffset::east_opt(7 * 3600).unwrap();
        let sunday = wib.with_ymd_and_hms(2027, 1, 3, 19, 30, 0).unwrap();
        assert_eq!(date(sunday, Language::English), "Sunday, 3 January 2027");
        assert_eq!(date(sunday, Language::Indonesian), "Minggu, 3 Januari 2027");
    }
}
