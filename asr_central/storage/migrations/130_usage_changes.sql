-- Each usage spike central raised, when it began, and how many times the supply's usual use
-- it ran at (NULL when the usual use could not be measured): what the service order point
-- learns how often, and by how much, use changes level from (domain/level_change.py).
-- An alert row keeps only its latest episode; this keeps every one.
CREATE TABLE usage_changes (
    device_serial TEXT NOT NULL,
    supply_key    TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    ratio         REAL,
    PRIMARY KEY (device_serial, supply_key, started_at)
);
CREATE INDEX usage_changes_started ON usage_changes (started_at);
