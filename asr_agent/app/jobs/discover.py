"""The discover job: the configured ranges swept (at start, then daily) and the printers
found made targets; a printer found on a new address replaces its old target (DHCP moved
it)."""

from __future__ import annotations

import logging

from asr_agent.adapters.logs import event
from asr_agent.adapters.snmp import SnmpClient
from asr_agent.app.config import AgentConfig
from asr_agent.app.discovery import discover_configured
from asr_agent.app.jobs.poll import Target

__all__ = ["discover"]

log = logging.getLogger("asr.daemon")


async def discover(cfg: AgentConfig, targets: dict[tuple[str, int], Target], snmp: SnmpClient,
                   *, loopback_only: bool) -> None:
    """Sweep the configured ranges and fold the printers found into `targets`."""
    if not cfg.targets.ranges:
        return
    result = await discover_configured(cfg, loopback_only=loopback_only, client=snmp)
    for refusal in result.refused:
        log.warning("discovery refused a target: %s", refusal)
    for printer in result.printers:
        key = (printer.host, printer.port)
        target = targets.get(key) or Target(printer.host, printer.port, (printer.credential,))
        target.serial = printer.serial or printer.identity
        target.working_credential = printer.credential
        # The same printer on a new address replaces its old target (DHCP moved it).
        for other_key, other in list(targets.items()):
            if other_key != key and other.serial == target.serial:
                del targets[other_key]
        targets[key] = target
    event(log, logging.INFO, "discovery done", printers=len(result.printers),
          non_printers=result.non_printers, silent=result.silent, swept=result.swept)
