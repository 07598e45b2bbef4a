"""A level a person reads: the words for a supply whose level is not a number.

The Printer-MIB's -3 means "some remaining"; for a receptacle (a waste bottle) the level is
the space left, so the same -3 there means some room left, not some waste left.
"""

from __future__ import annotations

from asr_core.records import LevelState, SupplyClass

_RECEPTACLE = SupplyClass.RECEPTACLE.wire_name


def level_words(level_state: str | None, supply_class: str | None) -> str:
    """Words for a level without a number (`level_state` and `supply_class` by wire name)."""
    if level_state == LevelState.SOME_REMAINING.value:
        return "some room left" if supply_class == _RECEPTACLE else "some left"
    if level_state == LevelState.UNLIMITED.value:
        return "n/a"
    return "?"
