-- Registry (sites, contacts, devices, supply catalog), replenishment orders and their
-- lines, shipped cartridge serials, and central alerts. Times are ISO 8601 UTC text.

CREATE TABLE contacts (
    contact_id        TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    email             TEXT NOT NULL,
    shipping_address  TEXT NOT NULL DEFAULT '',
    phone             TEXT,
    updated_at        TEXT NOT NULL
);
CREATE INDEX contacts_email ON contacts (email);

CREATE TABLE sites (
    site_id             TEXT PRIMARY KEY,
    name                TEXT NOT NULL DEFAULT '',
    default_contact_id  TEXT REFERENCES contacts (contact_id),  -- for devices naming none
    updated_at          TEXT NOT NULL
);

-- Which site and contact a printer belongs to; device_status holds what it reports.
CREATE TABLE registry_devices (
    serial      TEXT PRIMARY KEY,
    site_id     TEXT REFERENCES sites (site_id),
    contact_id  TEXT REFERENCES contacts (contact_id),
    model       TEXT,
    note        TEXT,
    updated_at  TEXT NOT NULL
);
CREATE INDEX registry_devices_site ON registry_devices (site_id);

CREATE TABLE supply_catalog (
    part_number   TEXT PRIMARY KEY,
    description   TEXT NOT NULL DEFAULT '',
    supply_kind   TEXT NOT NULL,              -- consumable | waste
    color         TEXT,
    capacity_g    REAL,
    yield_pages   INTEGER,
    updated_at    TEXT NOT NULL
);

CREATE TABLE orders (
    order_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id       TEXT NOT NULL,
    contact_id    TEXT NOT NULL,
    status        TEXT NOT NULL,              -- created | shipped | delivered | closed | cancelled
    created_on    TEXT NOT NULL,              -- the policy day that placed it
    created_at    TEXT NOT NULL,
    shipped_at    TEXT,
    delivered_at  TEXT,
    closed_at     TEXT,
    tracking      TEXT
);
CREATE INDEX orders_status ON orders (status, site_id, contact_id);

CREATE TABLE order_lines (
    line_id         INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id        INTEGER NOT NULL REFERENCES orders (order_id),
    device_serial   TEXT NOT NULL,
    supply_index    INTEGER NOT NULL,
    supply_kind     TEXT NOT NULL,            -- consumable | waste
    supply_type     TEXT,
    color           TEXT,
    part_number     TEXT,
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    installed       INTEGER NOT NULL DEFAULT 0,  -- units the agent has reported installed
    reason          TEXT NOT NULL,            -- due | pull_forward
    cover_days      REAL NOT NULL,
    daily_units     REAL,
    closed_at       TEXT                      -- every unit installed
);
CREATE INDEX order_lines_supply ON order_lines (device_serial, supply_index, closed_at);
CREATE INDEX order_lines_order ON order_lines (order_id);

CREATE TABLE shipped_cartridges (
    cartridge_serial  TEXT PRIMARY KEY,
    line_id           INTEGER NOT NULL REFERENCES order_lines (line_id),
    installed_at      TEXT,
    installed_in      TEXT                   -- the device that reported it installed
);
CREATE INDEX shipped_cartridges_line ON shipped_cartridges (line_id);

CREATE TABLE central_alerts (
    alert_key        TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    severity         TEXT NOT NULL,
    device_serial    TEXT NOT NULL,
    supply_key       TEXT,
    message          TEXT NOT NULL,
    first_seen       TEXT NOT NULL,
    last_seen        TEXT NOT NULL,
    resolved_at      TEXT,
    acknowledged_at  TEXT,
    notified_at      TEXT
);
CREATE INDEX central_alerts_open ON central_alerts (resolved_at, acknowledged_at);

-- Progress markers of the replenishment run (e.g. the last cartridge event processed).
CREATE TABLE replenish_state (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
