//! The printable e-ticket: one A4 page with the show, where and when, the seats, the guest, the
//! booking code, the price phase, and the QR code of the signed ticket, drawn as vectors so that
//! it scans from paper and from a screen alike. DejaVu Sans (in `assets/fonts`, under its own
//! licence) is embedded, only the glyphs the page uses, so that the page looks the same in every
//! reader and printer and Indonesian names and accents render as written.
//!
//! This module only draws: every word on the page comes in a `TicketPage`, already in the
//! reader's language.

use std::sync::LazyLock;

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use krilla::Document;

use crate::tickets::{qr_code, QUIET_ZONE_MODULES};

/// What the page says, in the reader's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketPage {
    /// The document's title, e.g. `E-ticket BKG-7K2QX`.
    pub title: String,
    /// The heading over the ticket, e.g. `E-ticket`.
    pub heading: String,
    pub show: String,
    pub venue: String,
    /// Label and value, top to bottom: the date, doors, seats, guest, phase, price.
    pub facts: Vec<(String, String)>,
    /// The booking code, printed large under the QR code for a door that types it.
    pub code: String,
    /// The signed ticket the QR code carries.
    pub token: String,
    /// What to do with the page, under the ticket.
    pub note: String,
    /// The document's language tag, e.g. `id` or `en`.
    pub language: String,
}

/// Why a page could not be made; none of these depends on what a client sends.
#[derive(Debug, thiserror::Error)]
pub enum TicketPdfError {
    #[error("the ticket is too long for a QR code")]
    TokenTooLong,
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
}

/// A4, in points.
const PAGE_WIDTH: f32 = 595.28;
const PAGE_HEIGHT: f32 = 841.89;
const MARGIN: f32 = 48.0;
/// The QR code's side, its quiet zone included: 6.3 cm, readable from a phone screen at arm's
/// length and by any door scanner from paper.
const QR_SIDE: f32 = 180.0;
const GAP: f32 = 24.0;
/// Where the ticket's content starts, under the heading and its rule.
const CONTENT_TOP: f32 = MARGIN + 44.0;
/// The width of the text beside the QR code.
const TEXT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN - QR_SIDE - GAP;
const SHOW_SIZE: f32 = 22.0;
const SHOW_LINES: usize = 3;
const VENUE_SIZE: f32 = 12.0;
const LABEL_SIZE: f32 = 8.5;
const VALUE_SIZE: f32 = 12.5;
const VALUE_LINES: usize = 4;
const CODE_SIZE: f32 = 20.0;
const NOTE_SIZE: f32 = 9.5;

const INK: (u8, u8, u8) = (20, 20, 20);
const MUTED: (u8, u8, u8) = (100, 100, 100);
const ACCENT: (u8, u8, u8) = (178, 34, 52);

/// A face of the embedded font: krilla draws with it, rustybuzz (krilla's shaper) measures.
struct Face {
    font: Font,
    shaper: rustybuzz::Face<'static>,
}

impl Face {
    fn load(data: &'static [u8]) -> Face {
        Face {
            font: Font::new(data.into(), 0).expect("the embedded font parses"),
            shaper: rustybuzz::Face::from_slice(data, 0).expect("the embedded font parses"),
        }
    }

    /// The width of `text` at `size` points.
    fn width(&self, text: &str, size: f32) -> f32 {
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(text);
        let shaped = rustybuzz::shape(&self.shaper, &[], buffer);
        let units: i32 = shaped
            .glyph_positions()
            .iter()
            .map(|position| position.x_advance)
            .sum();
        units as f32 / f32::from(self.shaper.units_per_em() as u16) * size
    }

    /// `text` broken into lines no wider than `width` at `size`: at spaces where it can, inside
    /// a word only when the word alone is wider; at most `max_lines`, the last one ending in an
    /// ellipsis when the text goes on.
    fn wrap(&self, text: &str, size: f32, width: f32, max_lines: usize) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        for word in text.split_whitespace() {
            let joined = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if self.width(&joined, size) <= width {
                line = joined;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            for character in word.chars() {
                line.push(character);
                if self.width(&line, size) > width && line.chars().count() > 1 {
                    line.pop();
                    lines.push(std::mem::replace(&mut line, character.to_string()));
                }
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        if lines.len() > max_lines {
            lines.truncate(max_lines);
            let last = lines.last_mut().expect("at least one line");
            while !last.is_empty() && self.width(&format!("{last}…"), size) > width {
                last.pop();
            }
            last.push('…');
        }
        lines
    }
}

static REGULAR: LazyLock<Face> =
    LazyLock::new(|| Face::load(include_bytes!("../assets/fonts/DejaVuSans.ttf")));
static BOLD: LazyLock<Face> =
    LazyLock::new(|| Face::load(include_bytes!("../assets/fonts/DejaVuSans-Bold.ttf")));

/// The e-ticket as a one-page PDF.
pub fn ticket_pdf(page: &TicketPage) -> Result<Vec<u8>, TicketPdfError> {
    let qr = qr_code(&page.token).ok_or(TicketPdfError::TokenTooLong)?;
    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(page.title.clone())
            .language(page.language.clone())
            .creator("WarTawa".to_string()),
    );
    let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT).expect("A4 is a page size");
    let mut pdf_page = document.start_page_with(settings);
    let mut surface = pdf_page.surface();

    draw_heading(&mut surface, &page.heading);
    let qr_left = PAGE_WIDTH - MARGIN - QR_SIDE;
    draw_qr(&mut surface, &qr, qr_left, CONTENT_TOP);
    let code_width = BOLD.width(&page.code, CODE_SIZE);
    let code_left = qr_left + (QR_SIDE - code_width).max(0.0) / 2.0;
    text(
        &mut surface,
        &BOLD,
        CODE_SIZE,
        INK,
        code_left,
        CONTENT_TOP + QR_SIDE + 26.0,
        &page.code,
    );

    let mut y = CONTENT_TOP + SHOW_SIZE;
    for line in BOLD.wrap(&page.show, SHOW_SIZE, TEXT_WIDTH, SHOW_LINES) {
        text(&mut surface, &BOLD, SHOW_SIZE, INK, MARGIN, y, &line);
        y += SHOW_SIZE * 1.2;
    }
    y += 2.0;
    for line in REGULAR.wrap(&page.venue, VENUE_SIZE, TEXT_WIDTH, 2) {
        text(&mut surface, &REGULAR, VENUE_SIZE, MUTED, MARGIN, y, &line);
        y += VENUE_SIZE * 1.3;
    }
    y += 14.0;
    for (label, value) in &page.facts {
        text(
            &mut surface,
            &BOLD,
            LABEL_SIZE,
            MUTED,
            MARGIN,
            y,
            &label.to_uppercase(),
        );
        y += VALUE_SIZE * 1.35;
        for line in REGULAR.wrap(value, VALUE_SIZE, TEXT_WIDTH, VALUE_LINES) {
            text(&mut surface, &REGULAR, VALUE_SIZE, INK, MARGIN, y, &line);
            y += VALUE_SIZE * 1.3;
        }
        y += 10.0;
    }

    let bottom = y.max(CONTENT_TOP + QR_SIDE + 40.0) + 8.0;
    rule(&mut surface, bottom, 0.75);
    let mut y = bottom + 20.0;
    let full_width = PAGE_WIDTH - 2.0 * MARGIN;
    for line in REGULAR.wrap(&page.note, NOTE_SIZE, full_width, 6) {
        text(&mut surface, &REGULAR, NOTE_SIZE, MUTED, MARGIN, y, &line);
        y += NOTE_SIZE * 1.4;
    }

    surface.finish();
    pdf_page.finish();
    document
        .finish()
        .map_err(|error| TicketPdfError::Pdf(format!("{error:?}")))
}

/// "WarTawa" and the heading, over a rule.
fn draw_heading(surface: &mut Surface<'_>, heading: &str) {
    text(
        surface,
        &BOLD,
        15.0,
        ACCENT,
        MARGIN,
        MARGIN + 12.0,
        "WarTawa",
    );
    let width = BOLD.width(heading, 12.0);
    text(
        surface,
        &BOLD,
        12.0,
        MUTED,
        PAGE_WIDTH - MARGIN - width,
        MARGIN + 12.0,
        heading,
    );
    rule(surface, MARGIN + 24.0, 1.5);
}

/// One line of text whose baseline is at `y` (from the top of the page).
fn text(
    surface: &mut Surface<'_>,
    face: &Face,
    size: f32,
    (r, g, b): (u8, u8, u8),
    x: f32,
    y: f32,
    line: &str,
) {
    surface.set_fill(Some(Fill {
        paint: rgb::Color::new(r, g, b).into(),
        ..Fill::default()
    }));
    surface.draw_text(
        Point::from_xy(x, y),
        face.font.clone(),
        size,
        line,
        false,
        TextDirection::Auto,
    );
}

/// A horizontal rule across the page at `y`.
fn rule(surface: &mut Surface<'_>, y: f32, width: f32) {
    let mut path = PathBuilder::new();
    path.move_to(MARGIN, y);
    path.line_to(PAGE_WIDTH - MARGIN, y);
    let Some(path) = path.finish() else {
        return;
    };
    surface.set_fill(None);
    surface.set_stroke(Some(Stroke {
        paint: rgb::Color::new(MUTED.0, MUTED.1, MUTED.2).into(),
        width,
        ..Stroke::default()
    }));
    surface.draw_path(&path);
    surface.set_stroke(None);
}

/// The QR code as black squares (a run of dark modules in a row is one rectangle), inside a
/// `QR_SIDE` square whose margin is the quiet zone readers need.
fn draw_qr(surface: &mut Surface<'_>, code: &qrcode::QrCode, left: f32, top: f32) {
    let modules = code.width();
    let module = QR_SIDE / (modules + 2 * QUIET_ZONE_MODULES) as f32;
    let origin = |index: usize| (index + QUIET_ZONE_MODULES) as f32 * module;
    let colors = code.to_colors();
    let mut path = PathBuilder::new();
    for (y, row) in colors.chunks(modules).enumerate() {
        let mut x = 0;
        while x < modules {
            if row[x] != qrcode::Color::Dark {
                x += 1;
                continue;
            }
            let run = row[x..]
                .iter()
                .take_while(|color| **color == qrcode::Color::Dark)
                .count();
            if let Some(rect) = Rect::from_xywh(
                left + origin(x),
                top + origin(y),
                run as f32 * module,
                module,
            ) {
                path.push_rect(rect);
            }
            x += run;
        }
    }
    let Some(path) = path.finish() else {
        return;
    };
    surface.set_stroke(None);
    surface.set_fill(Some(Fill {
        paint: rgb::Color::new(0, 0, 0).into(),
        ..Fill::default()
    }));
    surface.draw_path(&path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_inside_its_column_and_ends_in_an_ellipsis() {
        let show = "Malam Komedi Tunggal Bersama Para Komika Terbaik dari Seluruh Nusantara \
                    yang Datang Jauh-jauh untuk Membuat Anda Tertawa Sampai Pagi";
        let lines = BOLD.wrap(show, SHOW_SIZE, TEXT_WIDTH, SHOW_LINES);
        assert_eq!(lines.len(), SHOW_LINES);
        assert!(lines
            .iter()
            .all(|line| BOLD.width(line, SHOW_SIZE) <= TEXT_WIDTH));
        assert!(lines[2].ends_with('…'));
        let unbroken = "A".repeat(200);
        let lines = REGULAR.wrap(&unbroken, VALUE_SIZE, TEXT_WIDTH, 10);
        assert!(lines.len() > 1);
        assert!(lines
            .iter()
            .all(|line| REGULAR.width(line, VALUE_SIZE) <= TEXT_WIDTH));
        assert_eq!(
            REGULAR.wrap("Sari Dewi", VALUE_SIZE, TEXT_WIDTH, 4),
            ["Sari Dewi"]
        );
    }

    #[test]
    fn a_page_is_a_pdf() {
        let page = TicketPage {
            title: "E-ticket BKG-7K2QX".into(),
            heading: "E-ticket".into(),
            show: "Stand-up Malam Minggu".into(),
            venue: "Gedung Kesenian Jakarta".into(),
            facts: vec![("Seats".into(), "C4, C5".into())],
            code: "BKG-7K2QX".into(),
            token: "x".repeat(170),
            note: "Show this page at the door.".into(),
            language: "en".into(),
        };
        let pdf = ticket_pdf(&page).expect("a PDF");
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(
            pdf.len() < 64 * 1024,
            "a subset of the font, not all of it: {} bytes",
            pdf.len()
        );
    }
}
