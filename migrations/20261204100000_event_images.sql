-- Uploaded pictures move out of the event's row into a table of their own.
--
-- An organiser uploads a poster as a `data:image/…;base64,…` URL of up to 2 MB. It used to be
-- kept in `events.image_url` and sent back in every list and detail answer: five posters made one
-- anonymous event list 10 MB. A picture is now stored once, as bytes, keyed by its event, and
-- served from its own address; the event's row keeps only a link to a picture elsewhere. Reading
-- an event reads the picture's media type and digest (for its address), never its bytes.

CREATE TABLE event_images (
    event_id   BIGINT PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    media_type TEXT   NOT NULL,
    -- SHA-256 of the bytes, in lowercase hex: names this version of the picture (its ETag and the
    -- version in its address).
    digest     TEXT   NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    bytes      BYTEA  NOT NULL CHECK (octet_length(bytes) > 0)
);
-- Pictures are compressed already: kept out of line, uncompressed, so that reading one costs no
-- decompression and nothing tries to compress them again.
ALTER TABLE event_images ALTER COLUMN bytes SET STORAGE EXTERNAL;

-- The base64 of a data URL as bytes (padded, as `decode` wants it), or NULL when it does not
-- decode: a picture that was stored malformed is dropped rather than stopping the migration (and
-- with it the server's start-up).
CREATE FUNCTION event_images_decode_legacy(url TEXT) RETURNS BYTEA
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    data TEXT := substr(url, strpos(url, ',') + 1);
BEGIN
    RETURN decode(rpad(data, (length(data) + 3) / 4 * 4, '='), 'base64');
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END;
$$;

-- Existing uploads move over. Only the raster formats that may be uploaded from now on are kept;
-- anything else (an SVG, which a browser would run when opened from WarTawa's own address) is
-- dropped with the rest.
WITH legacy AS (
    SELECT id,
           lower(btrim(split_part(substr(image_url, 6), ';', 1))) AS media_type,
           event_images_decode_legacy(image_url) AS bytes
    FROM events
    WHERE image_url LIKE 'data:%'
)
INSERT INTO event_images (event_id, media_type, digest, bytes)
SELECT id, media_type, encode(sha256(bytes), 'hex'), bytes
FROM legacy
WHERE media_type IN ('image/png', 'image/jpeg', 'image/gif', 'image/webp')
  AND octet_length(bytes) > 0;

UPDATE events SET image_url = NULL WHERE lower(image_url) LIKE 'data:%';

DROP FUNCTION event_images_decode_legacy(TEXT);

-- The last line of defence: a picture never goes back into the event's row.
ALTER TABLE events ADD CONSTRAINT events_image_url_is_a_link
    CHECK (lower(image_url) NOT LIKE 'data:%');
