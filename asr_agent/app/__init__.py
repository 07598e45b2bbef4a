"""The agent program: what ties the domain to the adapters.

    daemon      the scheduler and its jobs          poller, discovery  polling and finding printers
    config      the agent's configuration           insight   per-device forecasts from the store
    status/     the local status page               metrics   Prometheus metrics
    commands/   one module per `asr-agent` command  service/  systemd and Windows service
"""
