-- Summaries dated in the future were accepted before central refused them (asr_central/
-- trust.py): such a date froze its device's state and its supplies' latest values, since only
-- a newer period replaces them. Set back to a date before any real one, they are replaced by
-- the device's next real report (until then the device looks silent, as it then was).
UPDATE device_status SET last_seen = '2000-01-01T00:00:00Z'
 WHERE last_seen > strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+1 day');
UPDATE supply_latest SET as_of = '2000-01-01T00:00:00Z'
 WHERE as_of > strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+1 day');
