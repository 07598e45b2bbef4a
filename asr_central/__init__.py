"""ASR central service: verifies agent summaries, forecasts supplies, places
consolidated replenishment orders and raises alerts."""

__version__ = "0.1.0"
