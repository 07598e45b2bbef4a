"""The agent's I/O: everything that talks to the world outside the process.

    snmp/        SNMP client, v1/v2c community transport, address sweeps
    store        the local SQLite store (migrations/ beside it)
    uplink       enrollment and delivery to central over HTTPS
    keys         the agent's Ed25519 key files and signing
    updater, self_update   the signed update channel and installing from it
    paths        where config, data and logs live per platform
    logs         logging setup and the secret filter
"""
