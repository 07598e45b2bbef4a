-- Devices by serial, their address history, supply samples, cartridge lives and the
-- outbox of summaries waiting for central. Times are UTC ISO-8601 text (sortable).

CREATE TABLE devices (
    serial            TEXT PRIMARY KEY,
    vendor            TEXT,
    model             TEXT,
    sys_object_id     TEXT NOT NULL,
    sys_descr         TEXT,
    asr_compatible    INTEGER NOT NULL DEFAULT 0,
    state             TEXT NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'asleep', 'unreachable')),
    first_seen        TEXT NOT NULL,
    last_seen         TEXT NOT NULL,
    consecutive_misses INTEGER NOT NULL DEFAULT 0,
    host              TEXT,
    port              INTEGER
);

CREATE TABLE device_addresses (
    serial      TEXT NOT NULL REFERENCES devices(serial) ON DELETE CASCADE,
    host        TEXT NOT NULL,
    port        INTEGER NOT NULL,
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    PRIMARY KEY (serial, host, port)
);

CREATE TABLE supplies (
    serial        TEXT NOT NULL REFERENCES devices(serial) ON DELETE CASCADE,
    supply_index  INTEGER NOT NULL,
    description   TEXT NOT NULL,
    type          INTEGER NOT NULL,
    supply_class  INTEGER NOT NULL,
    color         TEXT,
    unit          INTEGER,
    part_number   TEXT,
    last_seen     TEXT NOT NULL,
    PRIMARY KEY (serial, supply_index)
);

CREATE TABLE samples (
    id                INTEGER PRIMARY KEY,
    serial            TEXT NOT NULL,
    supply_index      INTEGER NOT NULL,
    taken_at          TEXT NOT NULL,
    raw_level         INTEGER,
    raw_capacity      INTEGER,
    level             INTEGER,
    max_capacity      INTEGER,
    unit              INTEGER,
    supply_class      INTEGER NOT NULL,
    type              INTEGER NOT NULL,
    level_state       TEXT NOT NULL,
    remaining_percent REAL,
    part_number       TEXT,
    cartridge_serial  TEXT,
    page_count        INTEGER,
    FOREIGN KEY (serial, supply_index) REFERENCES supplies(serial, supply_index) ON DELETE CASCADE
);
CREATE UNIQUE INDEX samples_by_supply_time ON samples (serial, supply_index, taken_at);
CREATE INDEX samples_by_time ON samples (taken_at);

CREATE TABLE cartridges (
    id                INTEGER PRIMARY KEY,
    serial            TEXT NOT NULL,
    supply_index      INTEGER NOT NULL,
    part_number       TEXT,
    cartridge_serial  TEXT,
    installed_at      TEXT NOT NULL,
    last_seen_at      TEXT NOT NULL,
    removed_at        TEXT,
    replaced_because  TEXT,
    level_at_removal  REAL,
    premature         INTEGER NOT NULL DEFAULT 0,
    grams_wasted      REAL,
    FOREIGN KEY (serial, supply_index) REFERENCES supplies(serial, supply_index) ON DELETE CASCADE
);
CREATE INDEX cartridges_by_supply ON cartridges (serial, supply_index, installed_at);
CREATE INDEX cartridges_by_serial ON cartridges (cartridge_serial);

CREATE TABLE sequences (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
INSERT INTO sequences (name, value) VALUES ('outbox', 0);

CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    seq              INTEGER NOT NULL UNIQUE,
    idempotency_key  TEXT NOT NULL UNIQUE,
    created_at       TEXT NOT NULL,
    kind             TEXT NOT NULL,
    payload          BLOB NOT NULL,
    sent_at          TEXT,
    acked_at         TEXT,
    failed_at        TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE acked_at IS NULL AND failed_at IS NULL;
