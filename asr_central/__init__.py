"""ASR central service: verifies agent summaries, forecasts supplies, places
consolidated replenishment orders and raises alerts.

    service/   the HTTP app, its routes (api/), replenishment, retention, notification
    storage/   the database, one module per subject, and migrations/: all SQL lives here
    domain/    pure rules: ordering policy, alerts, trust
    simulate/  a fleet simulator for tuning the policy
    commands/  one module per `asr-central` command

It reads the agent's side only through `asr_core` (the simulator also uses the agent's
domain).
"""

__version__ = "0.1.0"
