"""The flag and alert codes both programs use: each once, with one spelling.

The agent's analysis raises flags (a premature replacement, a level that rose without a
replacement, a page counter reset, a usage spike) and shows them on its status page and
`asr-agent status`; central raises alerts from the summaries and its registry. Where both
speak of one thing (a usage spike, a premature replacement) they use one code, so a person
reading the agent's page and central's alert e-mail sees the same word.

A code's value is stored by central (its alert rows and keys) and sent in its notification
webhooks: a value never changes once released.

Agents of 0.1.0 send an `alerts` list in each summary with these codes, `spike` being
their spelling of `usage_spike` (see `LEGACY_WIRE_CODES`); newer agents send it empty. Central accepts such a list
(its fields are still range-checked) and reads nothing from it: everything in it is also in
the summary's supplies (`spike`, a wire field name that stays) and cartridge events
(`premature`), from which central derives its own alerts; the rest are notes on the
agent's own measurement, shown where it runs.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Code", "LEGACY_WIRE_CODES"]


class Code(StrEnum):
    # The agent's analysis flags (per supply); central raises the first two as alerts too.
    USAGE_SPIKE = "usage_spike"
    PREMATURE_REPLACEMENT = "premature_replacement"
    LEVEL_UP_WITHOUT_REPLACEMENT = "level_up_without_replacement"
    COUNTER_RESET = "counter_reset"
    # Central's alerts only: they need its registry, orders or other sites' summaries.
    DEVICE_SILENT = "device_silent"
    REGISTRY_MISSING = "registry_missing"
    ORDER_HELD = "order_held"
    CARTRIDGE_MISROUTED = "cartridge_misrouted"
    REPLACEMENT_WITHOUT_DELIVERY = "replacement_without_delivery"
    DEVICE_MOVED = "device_moved"


# Wire spellings deployed agents sent before the codes were settled, and what they mean.
LEGACY_WIRE_CODES: dict[str, Code] = {"spike": Code.USAGE_SPIKE}
