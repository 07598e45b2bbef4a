-- What the console shows beyond what ingest needed so far: each agent's version and clock
-- skew as of its latest batch (one UPDATE per batch, not per summary). Times are ISO 8601
-- UTC text (storage/times.py).
ALTER TABLE agents ADD COLUMN agent_version TEXT;   -- from its User-Agent, asr-agent/VERSION
ALTER TABLE agents ADD COLUMN clock_skew_s INTEGER; -- its Date header minus central's clock
ALTER TABLE agents ADD COLUMN last_batch_at TEXT;   -- central's clock when that batch came
