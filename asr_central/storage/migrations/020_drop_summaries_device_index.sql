-- Nothing looks summaries up by device and period: the API's lists and filters read
-- device_status, supply_latest and cartridge_events, and the summaries table is read by
-- agent (the (agent_id, sequence) index) or idempotency key. Ingest kept this index
-- up to date for every summary stored, for no reader.
DROP INDEX IF EXISTS summaries_device;
