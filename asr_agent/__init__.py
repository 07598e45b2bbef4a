"""ASR agent: discovers printers over SNMP, turns supply levels into grams consumed,
and pushes signed summaries to the central replenishment service."""

__version__ = "0.1.0"
