-- One timestamp format in every table: UTC with a 'Z' (as asr_core.wire.format_time writes),
-- which compares in time order as text. Older versions wrote '+00:00' in the registry,
-- orders, alerts and this ledger; every moment column is listed here, and in
-- tests/test_central_app.py, which checks that each holds the one format.
-- Only the UTC offset is ever written ('+00:00'); days (orders.created_on, an alert's
-- first_seen for a day-long condition) are not moments and stay as they are.
UPDATE agent_keys SET created_at = substr(created_at, 1, length(created_at) - 6) || 'Z' WHERE created_at LIKE '%+00:00';
UPDATE agent_keys SET retired_at = substr(retired_at, 1, length(retired_at) - 6) || 'Z' WHERE retired_at LIKE '%+00:00';
UPDATE agent_keys SET revoked_at = substr(revoked_at, 1, length(revoked_at) - 6) || 'Z' WHERE revoked_at LIKE '%+00:00';
UPDATE agents SET created_at = substr(created_at, 1, length(created_at) - 6) || 'Z' WHERE created_at LIKE '%+00:00';
UPDATE agents SET revoked_at = substr(revoked_at, 1, length(revoked_at) - 6) || 'Z' WHERE revoked_at LIKE '%+00:00';
UPDATE cartridge_events SET replaced_at = substr(replaced_at, 1, length(replaced_at) - 6) || 'Z' WHERE replaced_at LIKE '%+00:00';
UPDATE central_alerts SET first_seen = substr(first_seen, 1, length(first_seen) - 6) || 'Z' WHERE first_seen LIKE '%+00:00';
UPDATE central_alerts SET last_seen = substr(last_seen, 1, length(last_seen) - 6) || 'Z' WHERE last_seen LIKE '%+00:00';
UPDATE central_alerts SET resolved_at = substr(resolved_at, 1, length(resolved_at) - 6) || 'Z' WHERE resolved_at LIKE '%+00:00';
UPDATE central_alerts SET acknowledged_at = substr(acknowledged_at, 1, length(acknowledged_at) - 6) || 'Z' WHERE acknowledged_at LIKE '%+00:00';
UPDATE central_alerts SET notified_at = substr(notified_at, 1, length(notified_at) - 6) || 'Z' WHERE notified_at LIKE '%+00:00';
UPDATE contacts SET updated_at = substr(updated_at, 1, length(updated_at) - 6) || 'Z' WHERE updated_at LIKE '%+00:00';
UPDATE sites SET updated_at = substr(updated_at, 1, length(updated_at) - 6) || 'Z' WHERE updated_at LIKE '%+00:00';
UPDATE registry_devices SET updated_at = substr(updated_at, 1, length(updated_at) - 6) || 'Z' WHERE updated_at LIKE '%+00:00';
UPDATE supply_catalog SET updated_at = substr(updated_at, 1, length(updated_at) - 6) || 'Z' WHERE updated_at LIKE '%+00:00';
UPDATE device_status SET last_seen = substr(last_seen, 1, length(last_seen) - 6) || 'Z' WHERE last_seen LIKE '%+00:00';
UPDATE enrollment_tokens SET created_at = substr(created_at, 1, length(created_at) - 6) || 'Z' WHERE created_at LIKE '%+00:00';
UPDATE enrollment_tokens SET expires_at = substr(expires_at, 1, length(expires_at) - 6) || 'Z' WHERE expires_at LIKE '%+00:00';
UPDATE enrollment_tokens SET used_at = substr(used_at, 1, length(used_at) - 6) || 'Z' WHERE used_at LIKE '%+00:00';
UPDATE order_lines SET closed_at = substr(closed_at, 1, length(closed_at) - 6) || 'Z' WHERE closed_at LIKE '%+00:00';
UPDATE orders SET created_at = substr(created_at, 1, length(created_at) - 6) || 'Z' WHERE created_at LIKE '%+00:00';
UPDATE orders SET shipped_at = substr(shipped_at, 1, length(shipped_at) - 6) || 'Z' WHERE shipped_at LIKE '%+00:00';
UPDATE orders SET delivered_at = substr(delivered_at, 1, length(delivered_at) - 6) || 'Z' WHERE delivered_at LIKE '%+00:00';
UPDATE orders SET closed_at = substr(closed_at, 1, length(closed_at) - 6) || 'Z' WHERE closed_at LIKE '%+00:00';
UPDATE schema_migrations SET applied_at = substr(applied_at, 1, length(applied_at) - 6) || 'Z' WHERE applied_at LIKE '%+00:00';
UPDATE shipped_cartridges SET installed_at = substr(installed_at, 1, length(installed_at) - 6) || 'Z' WHERE installed_at LIKE '%+00:00';
UPDATE summaries SET period_start = substr(period_start, 1, length(period_start) - 6) || 'Z' WHERE period_start LIKE '%+00:00';
UPDATE summaries SET period_end = substr(period_end, 1, length(period_end) - 6) || 'Z' WHERE period_end LIKE '%+00:00';
UPDATE summaries SET received_at = substr(received_at, 1, length(received_at) - 6) || 'Z' WHERE received_at LIKE '%+00:00';
UPDATE supply_latest SET as_of = substr(as_of, 1, length(as_of) - 6) || 'Z' WHERE as_of LIKE '%+00:00';
