-- What the console shows beyond what ingest needed so far: each agent's version and clock
-- skew as of its latest batch (one UPDATE per batch, not per summary). Times are ISO 8601
-- UTC text (storage/times.py).
ALTER TABLE agents ADD COLUMN agent_version TEXT;   -- from its User-Agent, asr-agent/VERSION
ALTER TABLE agents ADD COLUMN clock_skew_s INTEGER; -- its Date header minus central's clock
ALTER TABLE agents ADD COLUMN last_batch_at TEXT;   -- central's clock when that batch came

-- One point per supply per day for the printer page's chart: the newest reading of that
-- day (an upsert beside supply_latest's, batched the same way). Kept 400 days (retention).
CREATE TABLE supply_history (
    device_serial      TEXT NOT NULL,
    supply_index       INTEGER NOT NULL,
    day                TEXT NOT NULL,          -- YYYY-MM-DD (UTC) of the reading's period end
    level              INTEGER,
    remaining_percent  REAL,
    as_of              TEXT NOT NULL,          -- the reading's period end
    PRIMARY KEY (device_serial, supply_index, day)
);
CREATE INDEX supply_history_day ON supply_history (day);
