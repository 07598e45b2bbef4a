-- Progress of dropping old signed payloads (asr_central/retention.py): the highest summary
-- id whose payload and signature were emptied, so each run starts where the last one ended.
CREATE TABLE summary_retention (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
