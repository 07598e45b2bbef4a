"""The SQLite adapter of `asr_central.storage.base`, one module per subject, each function
taking a connection from `db.Database` (SQL kept portable for PostgreSQL).

    db             the file, connections, transactions, group commit, migrations
    agents         enrollment tokens, agents, their keys, revocation
    summaries      idempotent ingest: summaries, device status, cartridge events, latest
                   supplies; old payloads emptied
    homes          which site's agent a device reports from, and moves
    registry       contacts, sites, devices, catalog
    orders         orders, lines, stock, installations
    alerts         alert conditions and their acknowledgement
    policy_inputs  what a policy run reads: new cartridge events, device status, latest supplies
"""
