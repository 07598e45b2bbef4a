-- What several central workers on one database share: the nonces of control messages
-- already used, the admin throttle's counts, when each leader job last ran; and the
-- constraints that keep two racing policy runs from ordering the same supply twice.
-- Portable SQL: the same file runs on SQLite and PostgreSQL.

-- A control message's nonce, once used through any worker (replays are refused).
CREATE TABLE control_nonces (
    agent_id  TEXT NOT NULL,
    nonce     TEXT NOT NULL,
    seen_at   TEXT NOT NULL,
    PRIMARY KEY (agent_id, nonce)
);
CREATE INDEX control_nonces_seen ON control_nonces (seen_at);

-- The admin throttle (the `limits` library's moving window): one row per counted hit,
-- in milliseconds since the epoch as `limits` counts time.
CREATE TABLE rate_limit_hits (
    limit_key  TEXT NOT NULL,
    hit_at_ms  BIGINT NOT NULL
);
CREATE INDEX rate_limit_hits_key ON rate_limit_hits (limit_key, hit_at_ms);

-- Its fixed-window counters (the rest of the `limits` storage interface).
CREATE TABLE rate_limit_counters (
    limit_key     TEXT PRIMARY KEY,
    hits          BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

-- When each job of the leader (policy run, retention) last started, who ran it, and when it
-- is due again; `mark` is the job's own cursor (the policy: the newest summary it planned).
CREATE TABLE job_runs (
    job          TEXT PRIMARY KEY,
    started_at   TEXT NOT NULL,
    next_due_at  TEXT NOT NULL,
    runner       TEXT NOT NULL,
    mark         BIGINT NOT NULL DEFAULT 0
);

-- At most one order open to amendment per (site, contact): the policy amends it rather
-- than placing a second one.
CREATE UNIQUE INDEX orders_one_created ON orders (site_id, contact_id) WHERE status = 'created';

-- Each line is the n-th ever ordered for its supply: a run that planned from the same stock
-- as another writes the same n, and only one of them is kept.
ALTER TABLE order_lines ADD COLUMN supply_seq INTEGER NOT NULL DEFAULT 0;
UPDATE order_lines SET supply_seq = (
    SELECT COUNT(*) FROM order_lines o
    WHERE o.device_serial = order_lines.device_serial
      AND o.supply_index = order_lines.supply_index
      AND o.line_id <= order_lines.line_id);
CREATE UNIQUE INDEX order_lines_supply_seq ON order_lines (device_serial, supply_index, supply_seq);
