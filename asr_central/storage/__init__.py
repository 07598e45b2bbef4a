"""The central service's storage functions, one module per subject, each taking a
connection from `asr_central.storage.db.Database` (SQL kept portable for PostgreSQL).

    agents     enrollment tokens, agents, their keys, revocation
    summaries  idempotent ingest: summaries, device status, cartridge events, latest supplies
"""
