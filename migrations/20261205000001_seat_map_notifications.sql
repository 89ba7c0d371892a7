-- The live seat map: every transaction that moves an event's seat map (the version is the sum of
-- its figure shards' seat_map_changes) tells every WarTawa process listening on `seat_maps`,
-- with the event's id. NOTIFY is delivered at commit, so a rolled-back change tells nobody, and
-- PostgreSQL sends a transaction's identical notifications once. The payload names the map; the
-- processes read the map itself.
CREATE FUNCTION notify_seat_map_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('seat_maps', NEW.event_id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER seat_map_moved AFTER UPDATE OF seat_map_changes ON event_figures
    FOR EACH ROW WHEN (NEW.seat_map_changes IS DISTINCT FROM OLD.seat_map_changes)
    EXECUTE FUNCTION notify_seat_map_moved();
