-- Agents, their keys and enrollment tokens; verified summaries and what ingest derives
-- from them. Times are ISO 8601 UTC text; booleans are 0/1.

CREATE TABLE enrollment_tokens (
    token_hash   TEXT PRIMARY KEY,          -- sha256 of the token: the token itself is never stored
    site_id      TEXT NOT NULL,
    note         TEXT,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    used_by      TEXT                       -- agent_id that consumed it
);

CREATE TABLE agents (
    agent_id     TEXT PRIMARY KEY,
    site_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    revoked_reason TEXT
);
CREATE INDEX agents_site ON agents (site_id);

CREATE TABLE agent_keys (
    key_id       TEXT PRIMARY KEY,
    agent_id     TEXT NOT NULL REFERENCES agents (agent_id),
    public_key   BLOB NOT NULL,             -- raw 32-byte Ed25519 public key
    created_at   TEXT NOT NULL,
    retired_at   TEXT,                      -- the agent said nothing signed with it is queued
    revoked_at   TEXT                       -- an admin said it must not be trusted
);
CREATE INDEX agent_keys_agent ON agent_keys (agent_id);

CREATE TABLE summaries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order
    agent_id         TEXT NOT NULL REFERENCES agents (agent_id),
    sequence         INTEGER NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    key_id           TEXT NOT NULL,
    site_id          TEXT NOT NULL,
    device_serial    TEXT NOT NULL,
    period_start     TEXT NOT NULL,
    period_end       TEXT NOT NULL,
    received_at      TEXT NOT NULL,
    payload          BLOB NOT NULL,          -- the canonical bytes as signed
    signature        BLOB NOT NULL,
    UNIQUE (agent_id, sequence)
);
CREATE INDEX summaries_device ON summaries (device_serial, period_end);

-- Last known state of each device as reported (the registry's devices table is separate).
CREATE TABLE device_status (
    serial          TEXT PRIMARY KEY,
    site_id         TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    contact         TEXT,
    vendor          TEXT,
    model           TEXT,
    asr_compatible  INTEGER NOT NULL,
    address         TEXT,
    state           TEXT NOT NULL,          -- ok | asleep | unreachable
    page_count      INTEGER,
    last_seen       TEXT NOT NULL,          -- period_end of the newest summary
    last_summary_id INTEGER NOT NULL REFERENCES summaries (id)
);
CREATE INDEX device_status_site ON device_status (site_id);

CREATE TABLE cartridge_events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    summary_id       INTEGER NOT NULL REFERENCES summaries (id),
    device_serial    TEXT NOT NULL,
    supply_index     INTEGER NOT NULL,
    replaced_at      TEXT NOT NULL,
    premature        INTEGER NOT NULL,
    grams_wasted     REAL,
    removed_percent  REAL,
    cartridge_serial TEXT,
    previous_serial  TEXT,
    part_number      TEXT,
    UNIQUE (device_serial, supply_index, replaced_at)
);
CREATE INDEX cartridge_events_serial ON cartridge_events (cartridge_serial);

-- Newest forecast per supply, from the summary with the latest period_end.
CREATE TABLE supply_latest (
    device_serial      TEXT NOT NULL,
    supply_index       INTEGER NOT NULL,
    type               TEXT NOT NULL,
    supply_class       TEXT NOT NULL,
    color              TEXT,
    level              INTEGER,
    level_state        TEXT NOT NULL,
    remaining_percent  REAL,
    daily_grams        REAL,
    daily_percent      REAL,
    days_to_empty      REAL,
    days_to_empty_low  REAL,
    days_to_empty_high REAL,
    forecast_status    TEXT NOT NULL,
    spike              INTEGER NOT NULL,
    part_number        TEXT,
    cartridge_serial   TEXT,
    as_of              TEXT NOT NULL,
    summary_id         INTEGER NOT NULL REFERENCES summaries (id),
    PRIMARY KEY (device_serial, supply_index)
);
