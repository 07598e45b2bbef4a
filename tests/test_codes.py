"""One vocabulary of flag and alert codes: every code either program emits is a `Code`, the
agent's summary carries no alert list, and central still accepts one from an older agent."""

from __future__ import annotations

from datetime import datetime, timedelta

from support_central import CentralServer, central  # noqa: F401  (fixture)

from asr_agent.domain.catalog import CatalogEntry, SupplyCatalog, load_catalog
from asr_agent.domain.consumption import analyze
from asr_agent.domain.forecast import Forecast
from asr_agent.domain.summary import build_summary
from asr_central.domain.alerts import (
    DeviceFacts, ReplacementFacts, SupplyFacts, evaluate, held_line_alerts, replacement_alerts,
)
from asr_central.domain.policy import HeldLine, HoldReason, PolicySettings
from asr_core.codes import LEGACY_WIRE_CODES, Code
from asr_core.records import LevelState, Sample, SupplyClass, SupplyType, SupplyUnit
from asr_core.wire import Alert
from tests.supply_series import START, simulate
from tests.test_central_api import REGISTRY, Agent, get, import_yaml, supply, wait_for
from tests.test_wire import _reading

CATALOG = load_catalog()
TONER = dict(supply_type=SupplyType.TONER, supply_class=SupplyClass.CONSUMED)


def _pct(at: datetime, pct: float | None, pages: int | None = None,
         part: str = "006R01509") -> Sample:
    state = LevelState.OK if pct is not None else LevelState.SOME_REMAINING
    return Sample(at, None if pct is None else int(pct), None if pct is None else 100,
                  None if pct is None else SupplyUnit.PERCENT, state, pct, None, part, pages)


def _every_agent_flag():
    """Analyses that between them raise each flag the agent's analysis knows."""
    premature, _ = simulate(lambda d: 60.0, days=9,
                            premature_at=[START + timedelta(days=7, hours=12)])
    level_up = [_pct(START + timedelta(hours=h), p) for h, p in enumerate([50, 45, 52, 50])]
    reset = [_pct(START + timedelta(hours=h), None, pages=p, part="P1")
             for h, p in enumerate([1000, 1100, 50, 150])]
    cat = SupplyCatalog({"P1": CatalogEntry("P1", yield_pages=1000, nominal_grams=100)})
    return [analyze(premature, **TONER, catalog=CATALOG), analyze(level_up, **TONER, catalog=CATALOG),
            analyze(reset, **TONER, catalog=cat)]


def test_every_flag_the_agent_raises_is_a_code() -> None:
    flags = [f for a in _every_agent_flag() for f in a.flags]
    assert {type(f.kind) for f in flags} == {Code}
    assert {f.kind for f in flags} == {Code.PREMATURE_REPLACEMENT,
                                       Code.LEVEL_UP_WITHOUT_REPLACEMENT, Code.COUNTER_RESET}


def test_the_summary_states_facts_and_carries_no_alert_list() -> None:
    """Every flag raised in the period and a spike: the supply says `spike`, the event says
    `premature`, and the alert list that central never read stays empty."""
    [premature, *_] = _every_agent_flag()
    reading = _reading()
    spike = Forecast(status="ok", reason=None, daily_percent=6.0, daily_grams=15.0,
                     days_to_empty=5.0, days_to_empty_low=4.0, days_to_empty_high=6.0,
                     spike=True, spike_ratio=3.0)
    s = build_summary(agent_id="agt_1", site_id="s", contact=None, reading=reading,
                      period_start=START, period_end=START + timedelta(days=10), sequence=1,
                      analyses={1: premature}, forecasts={1: spike})
    assert premature.flags and [e.premature for e in s.cartridge_events] == [True]
    assert s.supplies[0].spike is True
    assert s.alerts == ()


def test_every_alert_central_raises_is_a_code() -> None:
    today = datetime(2027, 3, 1, tzinfo=START.tzinfo)
    devices = [DeviceFacts("A", None, None, datetime(2027, 1, 1, tzinfo=START.tzinfo),
                           registered=False)]
    supplies = [SupplyFacts("A", "toner:black", spike=True, spike_ratio=3.0)]
    held = [HeldLine("A", "toner:black", HoldReason.DEVICE_SILENT, 1, 5.0, 60.0)]
    at = datetime(2027, 2, 1, tzinfo=START.tzinfo)
    events = [ReplacementFacts("A", "toner:black", at, "C1", True, 80.0, 30.0, "B", False),
              ReplacementFacts("A", "toner:cyan", at, None, False, None, None, None, False)]
    alerts = (evaluate(devices, supplies, PolicySettings(), today)
              + held_line_alerts(held, today) + replacement_alerts(events))
    assert {type(a.kind) for a in alerts} == {Code}
    assert {a.kind for a in alerts} == {
        Code.DEVICE_SILENT, Code.REGISTRY_MISSING, Code.USAGE_SPIKE, Code.ORDER_HELD,
        Code.PREMATURE_REPLACEMENT, Code.CARTRIDGE_MISROUTED, Code.REPLACEMENT_WITHOUT_DELIVERY}
    assert all(a.key.startswith(f"{a.kind.value}|") for a in alerts)


def test_each_code_has_one_spelling_and_old_spellings_map_onto_codes() -> None:
    values = [c.value for c in Code]
    assert len(values) == len(set(values))
    assert all(v == v.lower() and " " not in v for v in values)
    assert not set(LEGACY_WIRE_CODES) & set(values)
    assert LEGACY_WIRE_CODES["spike"] is Code.USAGE_SPIKE


def test_an_older_agents_alert_list_is_accepted_and_not_read(central: CentralServer) -> None:  # noqa: F811
    """A deployed agent still sends `spike` and `counter_reset` in its alert list: central
    accepts the summary and raises only what the supplies say, under the one code."""
    assert import_yaml(central, REGISTRY).status_code == 200
    agent = Agent(central)
    end = datetime.now(START.tzinfo).replace(microsecond=0) - timedelta(hours=1)
    old = (Alert(code="spike", message="usage spike on supply 1", supply_index=1),
           Alert(code="counter_reset", message="page counter went back", supply_index=1,
                 severity="info"))
    agent.send("XRX-2", [supply(1, dte=15, low=13, daily_percent=10, spike=True)], end=end,
               alerts=old)
    alerts = wait_for(lambda: [a for a in get(central, "/v1/alerts")
                               if a["device_serial"] == "XRX-2"])
    assert {a["kind"] for a in alerts} == {Code.USAGE_SPIKE.value}
    assert {a["kind"] for a in get(central, "/v1/alerts")} <= {c.value for c in Code}
