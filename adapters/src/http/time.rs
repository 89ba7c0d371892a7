//! Time on the wire: RFC 3339 at the venue's offset out; RFC 3339 or a naive venue time in.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

use domain::Timestamp;

/// A moment in a response: RFC 3339 at the venue's offset (`2026-12-01T19:30:00+07:00`), so that
/// a client that prints it as it is shows the venue's wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VenueTime(DateTime<FixedOffset>);

impl VenueTime {
    pub fn new(at: Timestamp, venue_offset: FixedOffset) -> Self {
        VenueTime(at.with_timezone(&venue_offset))
    }

    /// `2026-12-01T19:30:00+07:00`.
    pub fn to_rfc3339(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    /// The wall time a person at the door reads at a glance: `19:42, Sat 3 Jan 2026`.
    pub fn to_wall_clock(&self) -> String {
        self.0.format("%H:%M, %a %-d %b %Y").to_string()
    }
}

impl Type for VenueTime {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_date-time".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date-time")))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ToJSON for VenueTime {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.to_rfc3339()))
    }
}

impl ParseFromJSON for VenueTime {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => DateTime::parse_from_rfc3339(&text)
                .map(VenueTime)
                .map_err(|_| ParseError::custom("expected an RFC 3339 time")),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

/// Reads a time a client sent: RFC 3339 with its own offset, or a naive
/// `YYYY-MM-DD HH:MM[:SS]` / `YYYY-MM-DDTHH:MM[:SS]` read at the venue's offset.
pub fn parse_time(text: &str, venue_offset: FixedOffset) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    const NAIVE_FORMATS: [&str; 4] = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ];
    NAIVE_FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .and_then(|naive| venue_offset.from_local_datetime(&naive).single())
        .map(|time| time.with_timezone(&Utc))
        .ok_or_else(|| {
            "must be a time like \"2026-12-01 19:30:00\" or \"2026-12-01T12:30:00Z\"".to_string()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wib() -> FixedOffset {
        FixedOffset::east_opt(7 * 3600).unwrap()
    }

    #[test]
    fn naive_times_are_read_at_the_venue() {
        let expected = Utc.with_ymd_and_hms(2026, 12, 1, 12, 30, 0).unwrap();
        for text in [
            "2026-12-01 19:30:00",
            "2026-12-01T19:30:00",
            "2026-12-01 19:30",
            "2026-12-01T19:30",
            "2026-12-01T12:30:00Z",
            "2026-12-01T13:30:00+01:00",
        ] {
            assert_eq!(parse_time(text, wib()), Ok(expected), "{text}");
        }
        for bad in [
            "",
            "tomorrow",
            "2026-13-01 19:30",
            "2026-12-01",
            "2026-12-01 25:00",
        ] {
            assert!(parse_time(bad, wib()).is_err(), "{bad}");
        }
    }

    #[test]
    fn responses_give_the_venues_wall_time_with_its_offset() {
        let time = Utc.with_ymd_and_hms(2026, 12, 1, 12, 30, 0).unwrap();
        let shown = VenueTime::new(time, wib());
        assert_eq!(
            shown.to_json(),
            Some(Value::String("2026-12-01T19:30:00+07:00".into()))
        );
        assert_eq!(shown.to_wall_clock(), "19:30, Tue 1 Dec 2026");
        let utc = FixedOffset::east_opt(0).unwrap();
        assert_eq!(
            VenueTime::new(time, utc).to_rfc3339(),
            "2026-12-01T12:30:00Z"
        );
    }
}
