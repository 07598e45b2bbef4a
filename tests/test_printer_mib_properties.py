"""Property tests: whatever columns, orders and values a device sends, the parser neither
crashes nor reports a percentage outside 0-100."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from asr_agent.domain.printer_mib import parse_reading
from asr_core.records import LevelState

S = "1.3.6.1.2.1.43.11.1.1"
T0 = datetime(2025, 3, 1, tzinfo=UTC)

integers = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([-3, -2, -1, 0, 1, 100, 13, 19]))
octets = st.one_of(st.binary(max_size=40), st.text(max_size=40).map(str.encode),
                   st.sampled_from([b"Black Toner, PN 006R01509;SN48178080E0000481", b"Fuser S/N:CRUM-",
                                    b"Magenta Cartridg\n65 20 38 32\n00 ", b"426C61636B20546F6E6572"]))
values = st.one_of(integers, octets, st.none(), st.text(max_size=10))
cells = st.tuples(st.integers(2, 9), st.integers(0, 3), st.integers(0, 40), values)


@settings(max_examples=300, deadline=None)
@given(st.lists(cells, max_size=60), st.dictionaries(st.integers(0, 6), values, max_size=6),
       st.lists(st.tuples(st.integers(0, 3), st.integers(0, 8), values), max_size=6))
def test_arbitrary_tables_never_crash_and_stay_in_range(table, scalars, colorants) -> None:
    raw: dict[str, object] = {f"{S}.{col}.{dev}.{idx}": value for col, dev, idx, value in table}
    scalar_oids = ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.43.5.1.1.17.1",
                   "1.3.6.1.2.1.25.3.2.1.5.1", "1.3.6.1.2.1.25.3.5.1.1.1", "1.3.6.1.2.1.25.3.5.1.2.1",
                   "1.3.6.1.2.1.43.10.2.1.4.1.1"]
    for position, value in scalars.items():
        raw[scalar_oids[position]] = value
    for dev, idx, value in colorants:
        raw[f"1.3.6.1.2.1.43.12.1.1.4.{dev}.{idx}"] = value
    reading = parse_reading(raw, host="h", port=1, taken_at=T0)
    for supply in reading.supplies:
        if supply.remaining_percent is not None:
            assert 0.0 <= supply.remaining_percent <= 100.0
            assert supply.level_state is LevelState.OK
        if supply.level is not None:
            assert supply.level >= 0
            assert supply.max_capacity is None or supply.level <= supply.max_capacity
        assert supply.max_capacity is None or supply.max_capacity > 0
    assert reading.page_count is None or reading.page_count >= 0


@settings(max_examples=200, deadline=None)
@given(st.permutations(list(range(2, 10))), st.integers(1, 5000), st.integers(-3, 8000))
def test_column_order_does_not_change_the_result(order, capacity, level) -> None:
    columns = {2: 1, 3: 0, 4: 3, 5: 3, 6: b"Black Toner", 7: 13, 8: capacity, 9: level}
    forward = {f"{S}.{c}.1.1": columns[c] for c in range(2, 10)}
    shuffled = {f"{S}.{c}.1.1": columns[c] for c in order}
    a = parse_reading(forward, host="h", port=1, taken_at=T0)
    b = parse_reading(shuffled, host="h", port=1, taken_at=T0)
    assert a == b
    (s,) = a.supplies
    if level >= 0:
        assert s.remaining_percent == round(100.0 * min(level, capacity) / capacity, 2)
    else:
        assert s.remaining_percent is None and s.level is None
