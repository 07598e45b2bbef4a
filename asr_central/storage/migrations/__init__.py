"""Numbered SQL migrations (`NNN_name.sql`), applied in order by `asr_central.storage.sqlite.db`."""
