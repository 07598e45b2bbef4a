"""The service report's arithmetic (asr_central.domain.service_report): the share of cycles
kept supplied, when a site is below its target, the learned shipping time beside it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asr_central.domain.policy import OrderPoint, PolicySettings
from asr_central.domain.service_report import poisson_tail, site_service

SERVICE = PolicySettings(order_point=OrderPoint.SERVICE)


def test_the_poisson_tail_is_worked_by_hand() -> None:
    assert poisson_tail(0, 3.0) == 1.0
    assert poisson_tail(1, 0.2) == pytest.approx(1 - math.exp(-0.2))
    assert poisson_tail(2, 0.2) == pytest.approx(1 - math.exp(-0.2) * 1.2)
    assert poisson_tail(3, 0.0) == 0.0
    # a fleet-sized mean, where e^-mean underflows: the median of a Poisson is near its mean
    assert 0.45 < poisson_tail(1000, 1000.0) < 0.55


@given(k=st.integers(min_value=0, max_value=3000), mean=st.floats(min_value=0.0, max_value=2000.0))
def test_the_poisson_tail_is_a_probability_that_falls_with_k(k: int, mean: float) -> None:
    p = poisson_tail(k, mean)
    assert 0.0 <= p <= 1.0
    assert poisson_tail(k + 1, mean) <= p + 1e-12


def test_a_site_is_below_target_only_when_its_stockouts_would_be_rare_at_the_target() -> None:
    rows = site_service({"a": (1424, 8), "b": (1424, 14), "c": (40, 1), "d": (40, 2)},
                        {}, SERVICE)
    verdict = {r.site_id: (round(r.kept, 4), r.below_target) for r in rows}
    # 7.1 stockouts expected on 1,424 cycles: 8 is ordinary, 14 happens to 2 % of sites
    assert verdict == {"a": (0.9944, False), "b": (0.9902, True), "c": (0.975, False),
                       "d": (0.95, True)}


def test_the_fixed_order_point_promises_no_level_and_flags_nothing() -> None:
    [row] = site_service({"a": (10, 10)}, {"a": [8.0] * 5}, PolicySettings())
    assert (row.target, row.below_target, row.kept) == (None, False, 0.0)
    assert (row.shipping.days, row.deliveries) == (8.0, 5)


def test_a_site_with_deliveries_and_no_cycle_still_shows_its_shipping_time() -> None:
    [row] = site_service({}, {"b": [4.0]}, SERVICE)
    assert (row.lines, row.kept, row.shipping.days) == (0, None, 3.875)
