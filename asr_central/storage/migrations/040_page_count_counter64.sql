-- A page counter is a Counter64 (up to 2^64-1), SQLite's INTEGER a signed 64-bit value: a
-- counter past 2^63-1 is kept as its decimal text here, page_count NULL (an INTEGER column
-- would turn the text into an inexact REAL). Read both with store.summaries.page_count.
ALTER TABLE device_status ADD COLUMN page_count_big TEXT;
