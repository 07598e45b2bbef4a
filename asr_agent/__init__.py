"""ASR agent: discovers printers over SNMP, turns supply levels into grams consumed,
and pushes signed summaries to the central replenishment service.

Three layers, each importing only those below it (contracts in pyproject.toml):

    app/       the program: scheduler, jobs, status page, metrics, commands, service
    adapters/  I/O: SNMP, store, uplink, keys, update channel, paths, logs
    domain/    pure rules: Printer-MIB, vendors, consumption, forecast, summary

What it shares with central (records, wire format, errors, verification) is `asr_core`.
"""

__version__ = "0.1.0"
