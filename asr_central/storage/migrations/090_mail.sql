-- Mail to each site's contact: the contact's language and opt-out, a printer's location
-- (printed beside its serial on packing slips and in mail), the events waiting to be told
-- and the durable outbox of messages. Times are ISO 8601 UTC text (storage/times.py).
-- a contact's language: fr | en
ALTER TABLE contacts ADD COLUMN language TEXT NOT NULL DEFAULT 'fr';
ALTER TABLE contacts ADD COLUMN mail_opt_out INTEGER NOT NULL DEFAULT 0;
ALTER TABLE registry_devices ADD COLUMN location TEXT;

-- One row per thing to tell a contact, keyed so that collecting it twice is a no-op.
-- facts: JSON of what the message says (rendered at send time in the contact's language).
CREATE TABLE mail_events (
    event_key    TEXT PRIMARY KEY,
    contact_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    facts        TEXT NOT NULL,
    order_id     INTEGER,                  -- the order an order_placed/order_shipped is about
    line_mark    INTEGER,                  -- order_placed: the order's last line told (amendments)
    alert_key    TEXT,                     -- the alert (and occurrence) an alert event is about
    day          TEXT NOT NULL,            -- the UTC day it was collected: its digest's day
    message_id   TEXT,                     -- the outbox message that carries it, once composed
    created_at   TEXT NOT NULL
);
CREATE INDEX mail_events_pending ON mail_events (message_id, contact_id, day);
CREATE INDEX mail_events_order ON mail_events (order_id, kind);
CREATE INDEX mail_events_alert ON mail_events (alert_key);

-- The outbox: one row per message, its message_id derived from what it carries, so a
-- message sent again after a crash keeps its Message-ID and a second compose is a no-op.
CREATE TABLE mail_outbox (
    message_id   TEXT PRIMARY KEY,
    contact_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,            -- an event kind (immediate) or 'digest'
    day          TEXT NOT NULL,
    state        TEXT NOT NULL,            -- queued | sent | failed | dropped
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_try_at  TEXT NOT NULL,
    last_error   TEXT,
    created_at   TEXT NOT NULL,
    sent_at      TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (state, next_try_at);
