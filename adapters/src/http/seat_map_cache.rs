//! Seat maps serialised once and served until their version moves.
//!
//! A seat map of a thousand seats is read by every buyer between every click during an on-sale
//! rush, and changes far less often than it is read. The store keeps a version per event that
//! moves with every seat change (in the database, so every server process sees it); a copy of
//! the serialised map is served for as long as the version it was made at is current.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Mutex;

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;

use application::views::SeatView;
use domain::event::EventId;
use domain::seat::{SeatId, SeatStatus};

const JSON: &str = "application/json; charset=utf-8";

/// How many events' maps are kept; past it, an arbitrary one makes room.
const MAX_EVENTS: usize = 512;

struct CachedMap {
    version: u64,
    body: Bytes,
}

/// The parts of an event's seat map that only change with its seats, not with their status:
/// each seat's JSON up to its status, in seat order.
struct SeatMapLayout {
    seat_ids: Vec<SeatId>,
    /// `{"id":7,"label":"A7","row":"A","number":7,"status":"` for each seat.
    heads: Vec<String>,
}

impl SeatMapLayout {
    fn of(seats: &[SeatView]) -> SeatMapLayout {
        SeatMapLayout {
            seat_ids: seats.iter().map(|view| view.seat.id).collect(),
            heads: seats
                .iter()
                .map(|view| {
                    let seat = &view.seat;
                    // Labels and rows are letters and digits: nothing to escape.
                    format!(
                        "{{\"id\":{},\"label\":\"{}\",\"row\":\"{}\",\"number\":{},\"status\":\"",
                        seat.id.0,
                        seat.label(),
                        seat.position.row(),
                        seat.position.number
                    )
                })
                .collect(),
        }
    }

    fn fits(&self, seats: &[SeatView]) -> bool {
        self.seat_ids.len() == seats.len()
            && self
                .seat_ids
                .iter()
                .zip(seats)
                .all(|(id, view)| *id == view.seat.id)
    }

    /// The whole map as JSON: each seat's head, then its status and whether it is booked.
    fn render(&self, seats: &[SeatView]) -> Bytes {
        let mut body =
            Vec::with_capacity(self.heads.iter().map(|head| head.len() + 40).sum::<usize>() + 2);
        body.push(b'[');
        for (index, (head, view)) in self.heads.iter().zip(seats).enumerate() {
            if index > 0 {
                body.push(b',');
            }
            body.extend_from_slice(head.as_bytes());
            body.extend_from_slice(view.status.as_str().as_bytes());
            let booked = view.status != SeatStatus::Available;
            body.extend_from_slice(if booked {
                b"\",\"is_booked\":true}"
            } else {
                b"\",\"is_booked\":false}"
            });
        }
        body.push(b']');
        Bytes::from(body)
    }
}

#[derive(Default)]
pub struct SeatMapCache {
    maps: Mutex<HashMap<EventId, CachedMap>>,
    layouts: Mutex<HashMap<EventId, std::sync::Arc<SeatMapLayout>>>,
}

impl SeatMapCache {
    /// The map of `event` serialised at `version`, if that is the copy kept.
    pub fn get(&self, event: EventId, version: u64) -> Option<Bytes> {
        let maps = self.maps.lock().ok()?;
        maps.get(&event)
            .filter(|map| map.version == version)
            .map(|map| map.body.clone())
    }

    /// Serialises a seat map, reusing what its seats alone decide from the last time.
    pub fn render(&self, event: EventId, seats: &[SeatView]) -> Bytes {
        let kept = self
            .layouts
            .lock()
            .ok()
            .and_then(|layouts| layouts.get(&event).cloned());
        let layout = match kept {
            Some(layout) if layout.fits(seats) => layout,
            _ => {
                let layout = std::sync::Arc::new(SeatMapLayout::of(seats));
                if let Ok(mut layouts) = self.layouts.lock() {
                    if layouts.len() >= MAX_EVENTS && !layouts.contains_key(&event) {
                        layouts.clear();
                    }
                    layouts.insert(event, layout.clone());
                }
                layout
            }
        };
        layout.render(seats)
    }

    /// Keeps the map of `event` serialised at `version`, unless a newer one is kept already.
    pub fn put(&self, event: EventId, version: u64, body: Bytes) {
        let Ok(mut maps) = self.maps.lock() else {
            return;
        };
        if maps.get(&event).is_some_and(|kept| kept.version > version) {
            return;
        }
        if maps.len() >= MAX_EVENTS && !maps.contains_key(&event) {
            if let Some(evicted) = maps.keys().next().copied() {
                maps.remove(&evicted);
            }
        }
        maps.insert(event, CachedMap { version, body });
    }
}

/// A JSON body already serialised, documented in the OpenAPI document as a `T`.
pub struct SerializedJson<T> {
    body: Bytes,
    shape: PhantomData<fn() -> T>,
}

impl<T> SerializedJson<T> {
    pub fn new(body: Bytes) -> Self {
        SerializedJson {
            body,
            shape: PhantomData,
        }
    }
}

impl<T: Type> Payload for SerializedJson<T> {
    const CONTENT_TYPE: &'static str = JSON;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for SerializedJson<T> {
    fn into_response(self) -> Response {
        Response::builder().content_type(JSON).body(self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_served_only_at_its_version() {
        let cache = SeatMapCache::default();
        cache.put(EventId(1), 3, Bytes::from_static(b"[3]"));
        assert_eq!(cache.get(EventId(1), 3), Some(Bytes::from_static(b"[3]")));
        assert_eq!(cache.get(EventId(1), 4), None);
        assert_eq!(cache.get(EventId(2), 3), None);
        cache.put(EventId(1), 2, Bytes::from_static(b"[2]"));
        assert_eq!(
            cache.get(EventId(1), 3),
            Some(Bytes::from_static(b"[3]")),
            "an older copy never replaces a newer one"
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = SeatMapCache::default();
        for event in 0..(MAX_EVENTS as i64 + 10) {
            cache.put(EventId(event), 0, Bytes::new());
        }
        assert!(cache.maps.lock().unwrap().len() <= MAX_EVENTS);
    }
}
