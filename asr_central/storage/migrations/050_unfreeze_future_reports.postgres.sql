-- 050_unfreeze_future_reports.sql for PostgreSQL, which has no strftime: "a day from now"
-- in the one text form of a moment (asr_central/storage/times.py), compared as text.
UPDATE device_status SET last_seen = '2000-01-01T00:00:00Z'
 WHERE last_seen > to_char((now() AT TIME ZONE 'UTC') + interval '1 day', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
UPDATE supply_latest SET as_of = '2000-01-01T00:00:00Z'
 WHERE as_of > to_char((now() AT TIME ZONE 'UTC') + interval '1 day', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
